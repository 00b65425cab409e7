//! The run state's files under attack and under load, end to end: links planted at the state
//! file, its lock and the work directory; a config others can read; a state file from
//! another site; a state file or feed lock another process holds. Each case checks the exit
//! code, the message (a snapshot), and that the state and the destination are unchanged.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use alma_sis_state::{FeedLock, LoadMode, PlanOptions, StateStore};
use sha2::Digest as _;

use crate::state::{Demo, stderr};
use crate::support::expect_code;

const DAY1: &str = "2026-11-23T04:00:00Z";
const DAY2: &str = "2026-11-24T04:00:00Z";

/// The demo with a private config (so no mode warning) waiting at most one second.
fn demo() -> Demo {
    let demo = Demo::new();
    append(&demo, "\n[state]\nlock_wait_secs = 1\n");
    demo
}

fn append(demo: &Demo, text: &str) {
    let config = demo.config();
    let mut toml = std::fs::read_to_string(&config).unwrap();
    toml.push_str(text);
    std::fs::write(&config, toml).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn state(demo: &Demo) -> PathBuf {
    demo.root().join("out/alma-sis-state.sqlite")
}

/// The sha256 of a file, or `None` when it is not there.
fn digest(path: &Path) -> Option<String> {
    std::fs::read(path)
        .ok()
        .map(|b| hex::encode(sha2::Sha256::digest(&b)))
}

/// Stderr with the temp dir and process ids made stable.
fn message(demo: &Demo, out: &Output) -> String {
    let root = demo.root().display().to_string();
    let text = stderr(out).replace(&root, "[TMP]");
    let pid = regex_free_pid(&text);
    match pid {
        Some(pid) => text.replace(&pid, "[PID]"),
        None => text,
    }
}

/// The number after "process " in `text`.
fn regex_free_pid(text: &str) -> Option<String> {
    let at = text.find("process ")? + "process ".len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then_some(digits)
}

/// A file some other program owns.
struct Victim(PathBuf);

impl Victim {
    fn new(demo: &Demo) -> Victim {
        let path = demo.root().join("victim.txt");
        std::fs::write(&path, "someone else's\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Victim(path)
    }

    fn assert_untouched(&self) {
        let meta = std::fs::metadata(&self.0).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o644,
            "no chmod of the victim"
        );
        assert_eq!(
            std::fs::read_to_string(&self.0).unwrap(),
            "someone else's\n"
        );
    }
}

#[test]
fn a_link_at_the_state_file_is_refused_and_nothing_is_sent_or_changed() {
    let demo = demo();
    let victim = Victim::new(&demo);
    std::fs::create_dir_all(demo.root().join("out")).unwrap();
    std::os::unix::fs::symlink(&victim.0, state(&demo)).unwrap();
    let out = demo.run(DAY1, &["--force"]);
    expect_code(&out, 2);
    insta::assert_snapshot!("link_at_the_state_file", message(&demo, &out));
    victim.assert_untouched();
    assert!(demo.drop_zips().is_empty());

    // A dangling link: no state file appears at its target.
    let demo = self::demo();
    let target = demo.root().join("elsewhere.sqlite");
    std::fs::create_dir_all(demo.root().join("out")).unwrap();
    std::os::unix::fs::symlink(&target, state(&demo)).unwrap();
    expect_code(&demo.run(DAY1, &[]), 2);
    assert!(!target.exists());
    assert!(demo.drop_zips().is_empty());
}

#[test]
fn a_link_at_the_lock_or_a_companion_is_refused_and_the_state_stays_as_it_was() {
    let demo = demo();
    expect_code(&demo.run(DAY1, &[]), 0);
    let before = digest(&state(&demo));
    for name in [
        "alma-sis-state.sqlite.patrons.lock",
        "alma-sis-state.sqlite-wal",
    ] {
        let victim = Victim::new(&demo);
        let at = demo.root().join("out").join(name);
        let _ = std::fs::remove_file(&at);
        std::os::unix::fs::symlink(&victim.0, &at).unwrap();
        let out = demo.run(DAY2, &["--mode", "full"]);
        expect_code(&out, 2);
        let text = message(&demo, &out);
        assert!(
            text.contains(&format!("out/{name} is a symbolic link")),
            "{text}"
        );
        victim.assert_untouched();
        std::fs::remove_file(&at).unwrap();
        assert_eq!(
            digest(&state(&demo)),
            before,
            "{name}: the state is unchanged"
        );
        assert_eq!(
            demo.drop_zips().len(),
            1,
            "{name}: nothing more was delivered"
        );
    }
}

#[test]
fn a_link_at_the_work_directory_is_refused_and_nothing_appears_at_its_target() {
    let demo = demo();
    let elsewhere = demo.root().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, demo.root().join("out")).unwrap();
    let out = demo.run(DAY1, &[]);
    expect_code(&out, 2);
    insta::assert_snapshot!("link_at_the_work_directory", message(&demo, &out));
    let written: Vec<_> = std::fs::read_dir(&elsewhere).unwrap().collect();
    assert!(
        written.is_empty(),
        "nothing written through the link: {written:?}"
    );
}

#[test]
fn a_config_others_can_read_or_write_is_a_warning_in_the_log_and_the_report() {
    for (mode, warned) in [(0o644, true), (0o666, true), (0o640, false), (0o600, false)] {
        let demo = demo();
        std::fs::set_permissions(demo.config(), std::fs::Permissions::from_mode(mode)).unwrap();
        let out = demo.run(DAY1, &[]);
        expect_code(&out, 0);
        let err = message(&demo, &out);
        assert_eq!(err.contains("chmod 600"), warned, "{mode:o}: {err}");
        let report = std::fs::read_dir(demo.root().join("out"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".report.json"))
            .unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
        let warnings = json["warnings"].as_array().cloned().unwrap_or_default();
        assert_eq!(warnings.len(), usize::from(warned), "{mode:o}: {json}");
        if mode == 0o666 {
            insta::assert_snapshot!("config_mode_warning", err);
        }
    }
}

#[test]
fn a_state_file_from_another_site_is_refused_even_with_force() {
    // Site A runs; its state file is copied into site B, whose institution differs.
    let a = demo();
    expect_code(&a.run(DAY1, &[]), 0);
    let b = demo();
    let config = std::fs::read_to_string(b.config()).unwrap();
    std::fs::write(
        b.config(),
        config.replace("institution = \"DEMO\"", "institution = \"OTHER\""),
    )
    .unwrap();
    std::fs::create_dir_all(b.root().join("out")).unwrap();
    std::fs::copy(state(&a), state(&b)).unwrap();
    let before = digest(&state(&b));
    let out = b.run(DAY2, &["--force"]);
    expect_code(&out, 2);
    insta::assert_snapshot!("foreign_state_file", message(&b, &out));
    assert_eq!(digest(&state(&b)), before, "the state file is unchanged");
    assert!(b.drop_zips().is_empty(), "nothing was sent");
    // The support commands refuse it too.
    expect_code(&b.cmd(&["state", "forget", "900100215"]), 2);
    expect_code(&b.cmd(&["state", "adopt"]), 2);
    assert_eq!(digest(&state(&b)), before);
}

/// Removes the owner record, as a state file written before owners were recorded has none.
fn forget_owner(demo: &Demo) {
    let conn = rusqlite::Connection::open(state(demo)).unwrap();
    conn.execute_batch("DROP TABLE owner").unwrap();
}

#[test]
fn an_old_state_file_is_adopted_by_its_own_config_else_only_by_state_adopt() {
    let demo = demo();
    expect_code(&demo.run(DAY1, &[]), 0);

    // Written by an earlier alma-sis, run with this very config: adopted, and reported.
    forget_owner(&demo);
    let out = demo.run(DAY2, &["--mode", "delta"]);
    expect_code(&out, 0);
    assert!(stderr(&out).contains("is now recorded as institution \"DEMO\"'s"));

    // The config changed since: refused until adopted by hand.
    forget_owner(&demo);
    append(&demo, "\n# edited after the upgrade\n");
    let before = demo.export();
    let zips = demo.drop_zips().len();
    let out = demo.run("2026-11-25T04:00:00Z", &["--mode", "delta", "--force"]);
    expect_code(&out, 2);
    insta::assert_snapshot!("unclaimed_state_file", message(&demo, &out));
    assert_eq!(demo.export(), before);
    assert_eq!(demo.drop_zips().len(), zips);

    let adopt = demo.cmd(&["state", "adopt"]);
    expect_code(&adopt, 0);
    let text =
        String::from_utf8_lossy(&adopt.stdout).replace(&demo.root().display().to_string(), "[TMP]");
    assert_eq!(
        text,
        "state file out/alma-sis-state.sqlite now belongs to institution \"DEMO\", feed \"patrons\"\n"
    );
    expect_code(&demo.run("2026-11-25T05:00:00Z", &["--mode", "delta"]), 0);
}

#[test]
fn a_second_run_of_the_same_feed_says_it_waits_and_gives_up_with_exit_5() {
    let demo = demo();
    expect_code(&demo.run(DAY1, &[]), 0);
    let before = demo.export();
    let held = FeedLock::acquire(&state(&demo), "patrons").unwrap();
    let out = demo.run(DAY2, &["--mode", "full", "--force"]);
    expect_code(&out, 5);
    insta::assert_snapshot!("busy_feed_lock", message(&demo, &out));
    drop(held);
    assert_eq!(demo.export(), before, "the state is unchanged");
    assert_eq!(demo.drop_zips().len(), 1, "nothing more was delivered");
    let report = std::fs::read_dir(demo.root().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".report.json"))
        .max()
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    assert_eq!(json["outcome"]["status"], "state-busy");
    assert_eq!(json["outcome"]["exit_code"], 5);
}

#[test]
fn a_state_file_another_process_writes_is_waited_for_then_exit_5() {
    let demo = demo();
    expect_code(&demo.run(DAY1, &[]), 0);
    let before = digest(&state(&demo));
    // Another feed of the same file is planning its run: it holds SQLite's write lock.
    let mut other = StateStore::open(&state(&demo)).unwrap();
    let options = PlanOptions {
        mode: LoadMode::Full,
        ..crate_options()
    };
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let planning = other.planner("courses", &options, today).unwrap();
    let out = demo.run(DAY2, &["--mode", "full"]);
    expect_code(&out, 5);
    insta::assert_snapshot!("busy_state_file", message(&demo, &out));
    drop(planning);
    drop(other);
    assert_eq!(digest(&state(&demo)), before, "the state is unchanged");
    assert_eq!(demo.drop_zips().len(), 1, "nothing more was delivered");
}

/// Plan options of a complete run.
fn crate_options() -> PlanOptions {
    alma_sis::config::StateConfig::default().explain_options("primary_id")
}
