//! The demo's golden user XML is schema-valid. (`cargo xtask fixtures` rewrites the goldens;
//! xtask's own test recomputes them and fails when one is stale.)

use crate::support::{workspace_root, xmllint_validates};

#[test]
fn the_demo_golden_is_schema_valid() {
    let path = workspace_root().join("examples/demo/expected/users.xml");
    xmllint_validates(&path).unwrap();
}
