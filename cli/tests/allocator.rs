//! The binary's allocator and the options compiled into it (docs/performance.md, "The
//! allocator").

use std::process::Command;

/// jemalloc, with the options `.cargo/config.toml` compiles in: built without them, a
/// run's peak RSS is 4-10 MB above what the system allocator gives.
#[cfg(not(target_env = "msvc"))]
#[test]
fn the_binary_allocates_with_jemalloc_and_its_compiled_in_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_alma-sis"))
        .arg("--version")
        // jemalloc's own report of where each option came from (its prefixed MALLOC_CONF).
        .env("_RJEM_MALLOC_CONF", "confirm_conf:true")
        .output()
        .unwrap();
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("(string specified via --with-malloc-conf): \"narenas:2,dirty_decay_ms:1000,oversize_threshold:1048576\""),
        "{said}"
    );
    for option in [
        "narenas:2",
        "dirty_decay_ms:1000",
        "oversize_threshold:1048576",
    ] {
        assert!(
            said.contains(&format!("Set conf value: {option}")),
            "{said}"
        );
    }
}
