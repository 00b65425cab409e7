//! The demo config maps the demo extract: every rule kind in use, every row decided.

use std::collections::BTreeMap;
use std::path::Path;

use sis_extract::{Decision, Extractor, MappingConfig};

use crate::support::today;

#[test]
fn the_demo_uses_every_rule_kind_and_decides_every_row() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo");
    let path = dir.join("alma-sis.toml");
    let text = std::fs::read_to_string(&path).expect("the demo config");
    let config = MappingConfig::from_toml(&text, &path, &["output", "delivery", "package"])
        .expect("the demo config parses");
    let extractor = Extractor::new(&config, &dir, today()).expect("the demo maps");
    let mut decisions: BTreeMap<&str, usize> = BTreeMap::new();
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    let mut merged = 0;
    let mut rows = 0;
    for person in extractor.people() {
        rows += person.rows.len();
        for r in &person.rows {
            let kind = match r.decision {
                Decision::Written { .. } => "written",
                Decision::Filtered { .. } => "filtered",
                Decision::Rejected { .. } => "rejected",
            };
            *decisions.entry(kind).or_default() += 1;
        }
        if let Some(u) = &person.user {
            merged += usize::from(u.rows.len() > 1);
            let g = u
                .user
                .user_group
                .as_ref()
                .map(|g| g.code.clone())
                .unwrap_or_default();
            *groups.entry(g).or_default() += 1;
        }
    }
    assert_eq!(rows, extractor.rows_read());
    assert!(
        decisions["filtered"] > 0 && decisions["written"] > 0,
        "{decisions:?}"
    );
    assert!(merged > 0);
    for combined in ["GRADEMP", "FACX", "FAC", "STAFF", "GRAD", "UGRD"] {
        assert!(groups.contains_key(combined), "no {combined} in {groups:?}");
    }
}
