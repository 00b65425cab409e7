//! Progress is for a person at a terminal: in a pseudo-terminal (`script`, util-linux) each
//! stage leaves a line saying what it did; through a pipe, nothing is drawn at all.

use std::process::Command;

use crate::support::{alma_sis, expect_code};

const NOW: &str = "2026-11-23T04:00:00Z";

fn sample() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    expect_code(&alma_sis(dir.path(), &["init"]), 0);
    dir
}

#[test]
fn a_terminal_sees_each_stage_named_with_what_it_did() {
    let dir = sample();
    let command = format!("{} --now {NOW} run", env!("CARGO_BIN_EXE_alma-sis"));
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .env_remove("CI")
        .env_remove("ALMA_SIS_CONFIG")
        .env_remove("ALMA_SIS_LOG")
        .output()
        .expect("script (util-linux) runs");
    expect_code(&out, 0);
    let screen = String::from_utf8_lossy(&out.stdout);
    for line in [
        "reading the extract: 7 rows in ",
        "mapping and checking: 7 rows, 4 users to send in ",
        "compressing and verifying: 4 users into 1 zip(s), ",
        "delivering MYINST_patrons_20261123040000_r1_01.zip: ",
    ] {
        assert!(
            screen.contains(line),
            "{line:?} is not on the terminal:\n{screen}"
        );
    }
}

#[test]
fn a_pipe_gets_no_progress() {
    let dir = sample();
    let out = alma_sis(dir.path(), &["--now", NOW, "run"]);
    expect_code(&out, 0);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "stderr is a pipe");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(!summary.contains("mapping and checking"), "{summary}");
}
