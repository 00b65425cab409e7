//! The run state end to end: the binary over several simulated days (`--now`) on copies of
//! the demo with rows removed and changed; the brake, a failed delivery, a killed run, the
//! `history` and `state` (the lock and the state file's safety: `state_safety`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{alma_sis, alma_sis_env, expect_code, workspace_root};

/// A copy of the demo in a temp dir; runs happen there (`out/`, `out/drop/`).
pub(crate) struct Demo {
    dir: tempfile::TempDir,
}

impl Demo {
    pub(crate) fn new() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            &workspace_root().join("examples/demo"),
            &dir.path().join("demo"),
        );
        Demo { dir }
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn config(&self) -> PathBuf {
        self.root().join("demo/alma-sis.toml")
    }

    pub(crate) fn people(&self) -> PathBuf {
        self.root().join("demo/people.csv")
    }

    pub(crate) fn run(&self, now: &str, extra: &[&str]) -> Output {
        self.run_env(now, extra, &[])
    }

    pub(crate) fn run_env(&self, now: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let config = self.config();
        let mut args = vec!["run", "--config", config.to_str().unwrap(), "--now", now];
        args.extend_from_slice(extra);
        alma_sis_env(self.root(), &args, env)
    }

    pub(crate) fn cmd(&self, args: &[&str]) -> Output {
        let config = self.config();
        let mut all = args.to_vec();
        all.extend_from_slice(&["--config", config.to_str().unwrap()]);
        alma_sis(self.root(), &all)
    }

    /// The people the state knows (`state export`): match id -> status.
    pub(crate) fn known(&self) -> Vec<(String, String)> {
        let out = self.cmd(&["state", "export"]);
        expect_code(&out, 0);
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["key"].as_str().unwrap().to_owned(),
                    v["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    pub(crate) fn export(&self) -> String {
        let out = self.cmd(&["state", "export"]);
        expect_code(&out, 0);
        String::from_utf8(out.stdout).unwrap()
    }

    pub(crate) fn drop_zips(&self) -> Vec<PathBuf> {
        let mut zips: Vec<PathBuf> = std::fs::read_dir(self.root().join("out/drop"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        zips.retain(|p| p.extension().is_some_and(|e| e == "zip"));
        zips.sort();
        zips
    }

    /// Removes the rows of `ids` and changes the email of `changed` in the extract.
    pub(crate) fn edit_extract(&self, removed: &[&str], changed: &[&str]) {
        let text = std::fs::read_to_string(self.people()).unwrap();
        let mut out = String::new();
        let mut edited = BTreeSet::new();
        for line in text.lines() {
            let id = line.split(',').next().unwrap_or("");
            if removed.contains(&id) {
                continue;
            }
            let mut line = line.to_owned();
            if changed.contains(&id) {
                let from = format!("u{id}@demo.example.edu");
                if line.contains(&from) {
                    line = line.replace(&from, &format!("u{id}.changed@demo.example.edu"));
                    edited.insert(id.to_owned());
                }
            }
            out.push_str(&line);
            out.push('\n');
        }
        assert_eq!(
            edited.len(),
            changed.len(),
            "every changed person has a school email"
        );
        std::fs::write(self.people(), out).unwrap();
    }
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// `primary_id -> expiry_date` of every user in a zip.
fn users_in(zip: &Path) -> Vec<(String, String)> {
    let xml = crate::support::unzip_text(zip);
    let between = |s: &str, tag: &str| {
        let open = format!("<{tag}>");
        s.find(&open).map(|i| {
            let rest = &s[i + open.len()..];
            rest[..rest.find('<').unwrap()].to_owned()
        })
    };
    xml.split("<user>")
        .skip(1)
        .map(|u| {
            (
                between(u, "primary_id").unwrap(),
                between(u, "expiry_date").unwrap_or_default(),
            )
        })
        .collect()
}

fn ids(users: &[(String, String)]) -> BTreeSet<String> {
    users.iter().map(|(id, _)| id.clone()).collect()
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// People eligible in the demo, known after a first run: `n` of them, from the end of the
/// sorted list (stable for a given demo).
pub(crate) fn pick(known: &[(String, String)], skip: usize, n: usize) -> Vec<String> {
    known
        .iter()
        .map(|(k, _)| k.clone())
        .rev()
        .skip(skip)
        .take(n)
        .collect()
}

impl Demo {
    /// Like [`pick`], among people with a school email (which `edit_extract` changes).
    fn pick_with_email(&self, known: &[(String, String)], skip: usize, n: usize) -> Vec<String> {
        let people = std::fs::read_to_string(self.people()).unwrap();
        let with_email: Vec<(String, String)> = known
            .iter()
            .filter(|(k, _)| people.contains(&format!(",u{k}@demo.example.edu,")))
            .cloned()
            .collect();
        pick(&with_email, skip, n)
    }
}

#[test]
fn delta_runs_over_several_days_send_new_changed_and_vanished_people_only() {
    let demo = Demo::new();
    expect_code(&demo.run("2026-11-23T04:00:00Z", &[]), 0);
    let known = demo.known();
    assert!(known.len() > 100, "{known:?}");
    assert_eq!(demo.drop_zips().len(), 1);

    // Day 2, same input, twice: nothing new to send, no zip.
    expect_code(&demo.run("2026-11-24T04:00:00Z", &["--mode", "delta"]), 0);
    expect_code(&demo.run("2026-11-24T05:00:00Z", &["--mode", "delta"]), 0);
    assert_eq!(demo.drop_zips().len(), 1);

    // Day 3: three people leave, two change.
    let gone = pick(&known, 0, 3);
    let rest: Vec<(String, String)> = known
        .iter()
        .filter(|(k, _)| !gone.contains(k))
        .cloned()
        .collect();
    let changed = demo.pick_with_email(&rest, 0, 2);
    demo.edit_extract(&as_strs(&gone), &as_strs(&changed));
    expect_code(&demo.run("2026-11-25T04:00:00Z", &["--mode", "delta"]), 0);
    let zips = demo.drop_zips();
    assert_eq!(zips.len(), 2);
    let sent = users_in(&zips[1]);
    let expected: BTreeSet<String> = gone.iter().chain(&changed).cloned().collect();
    assert_eq!(ids(&sent), expected);
    let first = users_in(&zips[0]);
    for (id, expiry) in &sent {
        if gone.contains(id) {
            // Or on the expiry date sent before, when earlier (a dropped registration).
            let before = &first.iter().find(|(i, _)| i == id).unwrap().1;
            assert_eq!(
                expiry,
                before.min(&"2026-11-25Z".to_owned()),
                "{id} vanished on day 3 and expires then"
            );
        }
    }

    // Full mode sends everyone eligible again (harmless), never the retired.
    expect_code(&demo.run("2026-11-25T05:00:00Z", &["--mode", "full"]), 0);
    let zips = demo.drop_zips();
    let full = ids(&users_in(&zips[2]));
    assert_eq!(full.len(), known.len() - gone.len());
    assert!(gone.iter().all(|g| !full.contains(g)));

    let history = demo.cmd(&["history"]);
    expect_code(&history, 0);
    let text = String::from_utf8(history.stdout).unwrap();
    assert_eq!(text.lines().count(), 1 + 5, "{text}");
    assert!(text.lines().nth(1).unwrap().contains(" full "), "{text}");
    assert!(text.contains("delivered"), "{text}");
}

#[test]
fn the_brake_refuses_a_broken_extract_with_exit_4_until_forced() {
    let demo = Demo::new();
    expect_code(&demo.run("2026-11-23T04:00:00Z", &[]), 0);
    let known = demo.known();
    let half = pick(&known, 0, known.len() / 2);
    let half: Vec<&str> = half.iter().map(String::as_str).collect();
    demo.edit_extract(&half, &[]);

    let refused = demo.run("2026-11-24T04:00:00Z", &["--mode", "delta"]);
    expect_code(&refused, 4);
    let err = stderr(&refused);
    assert!(err.contains("the brake tripped"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert!(
        err.contains(&format!("went from {} ", known.len())),
        "{err}"
    );
    assert_eq!(demo.drop_zips().len(), 1, "nothing reaches the drop folder");

    let forced = demo.run("2026-11-24T05:00:00Z", &["--mode", "delta", "--force"]);
    expect_code(&forced, 0);
    let zips = demo.drop_zips();
    assert_eq!(zips.len(), 2);
    assert_eq!(users_in(&zips[1]).len(), half.len());

    let history = String::from_utf8(demo.cmd(&["history"]).stdout).unwrap();
    assert!(history.contains("refused"), "{history}");
}

#[test]
fn a_failed_delivery_is_sent_again_by_the_next_run() {
    let demo = Demo::new();
    expect_code(&demo.run("2026-11-23T04:00:00Z", &[]), 0);
    let known = demo.known();
    let changed = demo.pick_with_email(&known, 0, 2);
    let changed: Vec<&str> = changed.iter().map(String::as_str).collect();
    demo.edit_extract(&[], &changed);

    // The drop folder cannot be created: a file is in the way.
    let config = std::fs::read_to_string(demo.config()).unwrap();
    let blocked = config.replace(
        "drop_folder = \"out/drop\"",
        "drop_folder = \"blocked/drop\"",
    );
    assert_ne!(config, blocked, "the demo config names out/drop");
    std::fs::write(demo.config(), &blocked).unwrap();
    std::fs::write(demo.root().join("blocked"), "not a folder").unwrap();
    expect_code(&demo.run("2026-11-24T04:00:00Z", &["--mode", "delta"]), 3);

    std::fs::write(demo.config(), &config).unwrap();
    expect_code(&demo.run("2026-11-24T05:00:00Z", &["--mode", "delta"]), 0);
    let zips = demo.drop_zips();
    assert_eq!(zips.len(), 2);
    let expected: BTreeSet<String> = changed.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(ids(&users_in(&zips[1])), expected);
    let history = String::from_utf8(demo.cmd(&["history"]).stdout).unwrap();
    assert!(history.contains("failed"), "{history}");
}

#[cfg(feature = "fault-injection")]
fn check_killed(fault: &str) {
    let demo = Demo::new();
    expect_code(&demo.run("2026-11-23T04:00:00Z", &[]), 0);
    let before = demo.export();
    let known = demo.known();
    let changed = demo.pick_with_email(&known, 0, 3);
    let changed: Vec<&str> = changed.iter().map(String::as_str).collect();
    demo.edit_extract(&[], &changed);

    let killed = demo.run_env(
        "2026-11-24T04:00:00Z",
        &["--mode", "delta"],
        &[("ALMA_SIS_TEST_FAULT", fault)],
    );
    assert_eq!(killed.status.code(), None, "{fault}: killed by a signal");
    assert_eq!(demo.export(), before, "{fault}: the state is as before");
    let history = String::from_utf8(demo.cmd(&["history"]).stdout).unwrap();
    assert!(history.contains("running/killed"), "{fault}: {history}");

    // The lock died with the process; the next run sends the same again.
    expect_code(&demo.run("2026-11-24T05:00:00Z", &["--mode", "delta"]), 0);
    let zips = demo.drop_zips();
    let last = zips.last().unwrap();
    let expected: BTreeSet<String> = changed.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(ids(&users_in(last)), expected, "{fault}");
    assert_ne!(demo.export(), before, "{fault}: recorded this time");
}

#[cfg(feature = "fault-injection")]
#[test]
fn a_run_killed_between_packaging_and_recording_leaves_the_state_consistent() {
    check_killed("after-package");
    check_killed("during-record");
}

#[test]
fn state_forget_makes_a_person_new_and_the_state_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let demo = Demo::new();
    expect_code(&demo.run("2026-11-23T04:00:00Z", &[]), 0);
    let state = demo.root().join("out/alma-sis-state.sqlite");
    let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let known = demo.known();
    let who = &known[0].0;

    let forget = demo.cmd(&["state", "forget", &who.to_uppercase()]);
    expect_code(&forget, 0);
    expect_code(&demo.cmd(&["state", "forget", "no-such-person"]), 2);
    assert_eq!(demo.known().len(), known.len() - 1);

    expect_code(&demo.run("2026-11-24T04:00:00Z", &["--mode", "delta"]), 0);
    let zips = demo.drop_zips();
    assert_eq!(ids(&users_in(&zips[1])), BTreeSet::from([who.clone()]));
    // Export has ids, hashes and dates, never names or emails.
    assert!(!demo.export().contains("@demo.example.edu"));
}

#[test]
fn the_history_table_is_a_snapshot() {
    use alma_sis_state::{RunCounts, RunId, RunOutcome, RunRecord};
    let record = |id, outcome, partial, sent, files: &[&str]| RunRecord {
        id: RunId(id),
        feed: "patrons".into(),
        started: format!("2026-11-{:02}T04:00:00+00:00", 20 + id),
        config_hash: "c0ffee".into(),
        mode: "delta".into(),
        partial,
        outcome,
        counts: RunCounts {
            eligible: 12000,
            sent,
            new: 3,
            changed: sent.saturating_sub(3),
            unchanged: 12000 - sent,
            vanished: 2,
            ..RunCounts::default()
        },
        files: files.iter().map(|f| (*f).to_owned()).collect(),
        destination: Some("drop folder out/drop".into()),
        message: None,
    };
    let runs = [
        record(4, RunOutcome::Running, false, 40, &[]),
        record(3, RunOutcome::Refused, false, 0, &[]),
        record(
            2,
            RunOutcome::Failed,
            true,
            1,
            &["DEMO_patrons_20261122040000_01.zip"],
        ),
        record(
            1,
            RunOutcome::Delivered,
            false,
            12000,
            &["a_01.zip", "a_02.zip"],
        ),
    ];
    insta::assert_snapshot!("history_table", alma_sis::history::render(&runs));
}

#[test]
fn a_dry_run_records_the_run_but_marks_nobody_as_sent() {
    let demo = Demo::new();
    expect_code(&demo.run("2026-11-23T04:00:00Z", &["--dry-run"]), 0);
    assert!(demo.known().is_empty());
    assert!(demo.drop_zips().is_empty());
    let history = demo.cmd(&["history", "--json"]);
    expect_code(&history, 0);
    let text = String::from_utf8(history.stdout).unwrap();
    let run: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(run["outcome"], "dry-run", "{text}");
    assert_eq!(run["started"], "2026-11-23T04:00:00+00:00", "{text}");

    // So the next delta run sends everyone.
    expect_code(&demo.run("2026-11-23T05:00:00Z", &["--mode", "delta"]), 0);
    let zips = demo.drop_zips();
    assert_eq!(zips.len(), 1);
    assert_eq!(users_in(&zips[0]).len(), demo.known().len());
}

/// The demo with primary ids from a `netid` column (`n` and the person id), a `UNIV_ID`
/// identifier from the person id, and the integration profile matching on `UNIV_ID`.
fn demo_matching_on_univ_id() -> Demo {
    let demo = Demo::new();
    let config = std::fs::read_to_string(demo.config()).unwrap();
    let primary = "primary_id = \"{person_id}\"";
    assert!(
        config.contains(primary),
        "the demo's primary id is the person id"
    );
    let config = config.replace(primary, "primary_id = \"{netid}\"")
        + "\n[[identifier]]\ntype = \"UNIV_ID\"\nvalue = \"{person_id}\"\n\
           \n[check]\nmatch_id = \"UNIV_ID\"\n";
    std::fs::write(demo.config(), config).unwrap();
    let people = std::fs::read_to_string(demo.people()).unwrap();
    let mut lines = people.lines();
    let mut out = format!("{},netid\n", lines.next().unwrap());
    for line in lines {
        let id = line.split(',').next().unwrap();
        out.push_str(&format!("{line},n{id}\n"));
    }
    std::fs::write(demo.people(), out).unwrap();
    demo
}

#[test]
fn under_a_match_on_univ_id_a_new_primary_id_is_one_update_not_a_new_user_and_a_vanished_one() {
    let demo = demo_matching_on_univ_id();
    expect_code(&demo.run("2026-11-23T04:00:00Z", &[]), 0);
    let known = demo.known();
    assert!(known.len() > 100, "{known:?}");
    // Known by their UNIV_ID (the person id), not by their primary id.
    assert!(known.iter().all(|(k, _)| !k.starts_with('n')), "{known:?}");
    let first = demo.drop_zips();
    assert_eq!(first.len(), 1);
    let someone = &pick(&known, 0, 1)[0];
    assert!(ids(&users_in(&first[0])).contains(&format!("n{someone}")));

    // The campus gives them a new primary id; nothing else changes.
    let people = std::fs::read_to_string(demo.people()).unwrap();
    let renamed = people.replace(&format!(",n{someone}\n"), ",renamed-user\n");
    assert_ne!(people, renamed);
    std::fs::write(demo.people(), renamed).unwrap();
    let out = demo.run("2026-11-24T04:00:00Z", &["--mode", "delta"]);
    expect_code(&out, 0);

    let zips = demo.drop_zips();
    assert_eq!(zips.len(), 2, "{}", stderr(&out));
    let sent = users_in(&zips[1]);
    assert_eq!(
        ids(&sent),
        BTreeSet::from(["renamed-user".to_owned()]),
        "one update under the new primary id; nobody re-sent expired"
    );
    let after = demo.known();
    assert_eq!(after.len(), known.len());
    assert!(
        after.iter().all(|(_, status)| status == "present"),
        "nobody vanished: {after:?}"
    );
}

#[test]
fn a_clock_set_back_is_refused_until_forced() {
    let demo = Demo::new();
    expect_code(&demo.run("2026-11-23T04:00:00Z", &[]), 0);
    expect_code(&demo.run("2026-11-26T04:00:00Z", &[]), 0);
    let before = demo.export();
    let out = demo.run("2026-11-20T04:00:00Z", &[]);
    expect_code(&out, 4);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("this run's day is before 2026-11-26") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(demo.export(), before, "nothing recorded");
    let forced = demo.run("2026-11-20T04:00:00Z", &["--force"]);
    assert!(forced.status.code().is_some_and(|c| c <= 1), "{forced:?}");
}
