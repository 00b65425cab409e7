//! The binary's allocator and the options compiled into it (docs/performance.md, "The
//! allocator"). Not on MSVC, where the binary keeps the system allocator.

use std::process::Command;

/// What `.cargo/config.toml` compiles in (`JEMALLOC_SYS_WITH_MALLOC_CONF`).
const OPTIONS: &str = "narenas:2,dirty_decay_ms:1000,oversize_threshold:1048576";

/// jemalloc, with the options `.cargo/config.toml` compiles in: built without them, a
/// run's peak RSS is 4-10 MB above what the system allocator gives.
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
        said.contains(&format!(
            "(string specified via --with-malloc-conf): \"{OPTIONS}\""
        )),
        "{said}"
    );
    for option in OPTIONS.split(',') {
        assert!(
            said.contains(&format!("Set conf value: {option}")),
            "{said}"
        );
    }
}
