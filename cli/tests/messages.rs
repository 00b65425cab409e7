//! Each error a new user meets says what failed, where (file:line:column, config key), the OS
//! reason and the next step; a mistake in the config stops the run before any summary. One
//! snapshot per message, taken on the `init` sample. (A busy lock: `state_safety`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{alma_sis, expect_code};

const NOW: &str = "2026-11-23T04:00:00Z";

/// A fresh `alma-sis init` sample in a temp dir.
struct Sample {
    dir: tempfile::TempDir,
}

impl Sample {
    fn new() -> Sample {
        let dir = tempfile::tempdir().unwrap();
        expect_code(&alma_sis(dir.path(), &["init"]), 0);
        Sample { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn edit_config(&self, from: &str, to: &str) {
        let path = self.path().join("alma-sis.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "the sample config has {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["--now", NOW];
        all.extend(args);
        alma_sis(self.path(), &all)
    }
}

/// Exit 2, nothing on stdout (no summary), and stderr with the temp dir hidden.
fn refused(sample: &Sample, out: &Output) -> String {
    expect_code(out, 2);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "no summary before a config or input error"
    );
    String::from_utf8_lossy(&out.stderr).replace(&sample.path().display().to_string(), "[TMP]")
}

#[test]
fn missing_config_names_the_path_once_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = alma_sis(dir.path(), &["--now", NOW, "run"]);
    expect_code(&out, 2);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(said.matches("alma-sis.toml").count(), 1, "{said}");
    insta::assert_snapshot!("missing_config", said);
}

#[test]
fn missing_course_config_says_how_to_name_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = alma_sis(dir.path(), &["--now", NOW, "courses", "run"]);
    expect_code(&out, 2);
    insta::assert_snapshot!(
        "missing_course_config",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn missing_input_gives_the_os_reason_and_the_config_line() {
    let sample = Sample::new();
    std::fs::remove_file(sample.path().join("people.csv")).unwrap();
    let out = sample.run(&["run", "--dry-run"]);
    insta::assert_snapshot!("missing_input", refused(&sample, &out));
}

#[test]
fn misspelled_key_gets_did_you_mean() {
    let sample = Sample::new();
    sample.edit_config("key = \"person_id\"", "kee = \"person_id\"");
    let out = sample.run(&["run", "--dry-run"]);
    insta::assert_snapshot!("misspelled_key", refused(&sample, &out));
}

#[test]
fn misspelled_section_gets_did_you_mean() {
    let sample = Sample::new();
    // `[output]` is the CLI's own section, not in the mapping's list of names.
    sample.edit_config("[output]", "[outptu]");
    let out = sample.run(&["run", "--dry-run"]);
    insta::assert_snapshot!("misspelled_section", refused(&sample, &out));
}

#[test]
fn misspelled_column_is_reported_before_any_summary() {
    let sample = Sample::new();
    sample.edit_config(
        "{ column = \"affiliation\", any_of = [\"AFFILIATE\"] }",
        "{ column = \"afiliation\", any_of = [\"AFFILIATE\"] }",
    );
    let out = sample.run(&["run", "--dry-run"]);
    insta::assert_snapshot!("misspelled_column", refused(&sample, &out));
}

#[test]
fn misspelled_subcommand_gets_did_you_mean() {
    let sample = Sample::new();
    let out = sample.run(&["chek", "out"]);
    expect_code(&out, 2);
    insta::assert_snapshot!(
        "misspelled_subcommand",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unknown_only_id_is_an_error() {
    let sample = Sample::new();
    let out = sample.run(&["run", "--dry-run", "--only", "1001", "9999"]);
    insta::assert_snapshot!("unknown_only_id", refused(&sample, &out));
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn read_only_work_directory_gives_the_root_cause_once() {
    use std::os::unix::fs::PermissionsExt as _;
    let sample = Sample::new();
    let mode = |path: &Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let out_dir = sample.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    mode(&out_dir, 0o555);
    let out = if is_root() {
        // Root writes anywhere: the run is made as `nobody`, from a copy of the binary it
        // can reach, with a config it owns.
        let bin: PathBuf = sample.path().join("alma-sis");
        std::fs::copy(env!("CARGO_BIN_EXE_alma-sis"), &bin).unwrap();
        mode(sample.path(), 0o755);
        let config = sample.path().join("alma-sis.toml");
        std::os::unix::fs::chown(&config, Some(65534), Some(65534)).unwrap();
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .args(["--now", NOW, "run", "--dry-run"])
            .current_dir(sample.path())
            .env_remove("ALMA_SIS_CONFIG")
            .env_remove("ALMA_SIS_LOG")
            .output()
            .expect("setpriv (util-linux) runs")
    } else {
        sample.run(&["run", "--dry-run"])
    };
    mode(&out_dir, 0o755);
    let said = refused(&sample, &out);
    assert_eq!(said.lines().count(), 1, "one line, the root cause:\n{said}");
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0);
    insta::assert_snapshot!("read_only_work_directory", said);
}
