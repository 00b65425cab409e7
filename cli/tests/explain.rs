//! `alma-sis explain <id>`: one person's path through the rules, and `alma-sis init`.

use std::path::Path;

use crate::support::{alma_sis, expect_code, workspace_root};

const NOW: &str = "2026-11-23T04:00:00Z";

fn explain(cwd: &Path, config: &Path, id: &str) -> std::process::Output {
    alma_sis(
        cwd,
        &[
            "--config",
            config.to_str().unwrap(),
            "--now",
            NOW,
            "explain",
            id,
        ],
    )
}

/// `explain <id>` on the demo exits 0 and prints text containing every one of `expected`;
/// the whole text is the snapshot `name`.
fn check(name: &str, id: &str, expected: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let config = workspace_root().join("examples/demo/alma-sis.toml");
    let out = explain(tmp.path(), &config, id);
    expect_code(&out, 0);
    let text = String::from_utf8(out.stdout).unwrap();
    for part in expected {
        assert!(text.contains(part), "{part:?} not in:\n{text}");
    }
    insta::assert_snapshot!(name, text);
}

#[test]
fn a_filtered_person_shows_the_rule_that_dropped_them() {
    check(
        "explain_filtered",
        "900100109",
        &[
            "not loaded, dropped by rule \"emeritus faculty are managed by hand\"",
            "people.csv:3",
        ],
    );
}

#[test]
fn a_merged_person_shows_the_rows_merged_and_the_group_chosen_and_why() {
    check(
        "explain_merged",
        "900100149",
        &[
            "loaded as user 900100149 from 2 row(s)",
            "2 rows merged",
            "user group GRADEMP: combined group for people matching STAFF and GRAD",
        ],
    );
}

#[test]
fn a_dropped_registration_shows_the_status_rule() {
    check(
        "explain_dropped",
        "900100125",
        &["rule \"dropped registration expires today\" applies: 2026-11-23 (today)"],
    );
}

#[test]
fn an_unknown_id_exits_2_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let config = workspace_root().join("examples/demo/alma-sis.toml");
    let out = explain(tmp.path(), &config, "123");
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "\"123\" is neither a key nor a primary id nor a FILE:LINE of a row in the extract"
        ),
        "{err}"
    );
}

#[test]
fn init_writes_a_config_that_explains_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new");
    let out = alma_sis(tmp.path(), &["init", dir.to_str().unwrap()]);
    expect_code(&out, 0);
    for name in ["alma-sis.toml", "people.csv", "terms.csv"] {
        let meta = std::fs::metadata(dir.join(name)).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o600
        );
    }
    let out = explain(tmp.path(), &dir.join("alma-sis.toml"), "1003");
    expect_code(&out, 0);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("user group STUDEMP"), "{text}");

    let again = alma_sis(tmp.path(), &["init", dir.to_str().unwrap()]);
    expect_code(&again, 2);
    assert!(String::from_utf8_lossy(&again.stderr).contains("not overwriting"));
}
