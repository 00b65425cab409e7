//! Golden files are recomputed and compared; `cargo xtask fixtures` rewrites them.

use crate::support::{workspace_root, xmllint_validates};

#[test]
fn goldens_are_fresh() {
    let root = workspace_root();
    let mut stale = Vec::new();
    for golden in alma_sis::fixtures::goldens(&root).expect("goldens compute") {
        let on_disk = std::fs::read(root.join(&golden.path)).unwrap_or_default();
        if on_disk != golden.contents {
            stale.push(golden.path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale golden files: {}; run `cargo xtask fixtures` and commit",
        stale.join(", ")
    );
}

#[test]
fn the_demo_golden_is_schema_valid() {
    let path = workspace_root().join("examples/demo/expected/users.xml");
    xmllint_validates(&path).unwrap();
}
