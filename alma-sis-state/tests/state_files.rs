//! The state's files: no link followed at the state file, its companions or a lock file;
//! the owner recorded and another institution's file refused; waits that are told and
//! bounded.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alma_sis_state::{
    BrakeLimits, Claim, FeedLock, Held, LoadMode, NewRun, Owner, PlanOptions, StateError,
    StateStore, VanishedPolicy, WaitPolicy, Waiting,
};
use chrono::{DateTime, NaiveDate};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn owner(institution: &str, feed: &str) -> Owner {
    Owner {
        institution: institution.into(),
        feed: feed.into(),
    }
}

fn new_run(feed: &str, config_hash: &str) -> NewRun {
    NewRun {
        feed: feed.into(),
        started: DateTime::parse_from_rfc3339("2026-11-23T04:00:00Z").unwrap(),
        config_hash: config_hash.into(),
        mode: "full".into(),
        partial: false,
    }
}

/// A file some other program owns, and what it looked like.
struct Victim {
    path: PathBuf,
}

impl Victim {
    fn new(dir: &Path) -> Victim {
        let path = dir.join("victim.txt");
        std::fs::write(&path, "not alma-sis's\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Victim { path }
    }

    fn assert_untouched(&self) {
        let meta = std::fs::metadata(&self.path).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o644,
            "no chmod of the victim"
        );
        assert_eq!(
            std::fs::read_to_string(&self.path).unwrap(),
            "not alma-sis's\n"
        );
    }
}

fn link_error(result: Result<impl std::fmt::Debug, StateError>, at: &Path) {
    match result {
        Err(StateError::Link { path }) => assert_eq!(path, at),
        other => panic!("expected a link error at {}, got {other:?}", at.display()),
    }
}

#[test]
fn a_link_at_the_state_file_is_refused_and_neither_its_target_nor_a_victim_changes() {
    let dir = tempfile::tempdir().unwrap();
    let victim = Victim::new(dir.path());
    let state = dir.path().join("state.sqlite");
    std::os::unix::fs::symlink(&victim.path, &state).unwrap();
    link_error(StateStore::open(&state), &state);
    victim.assert_untouched();

    // A dangling link: nothing appears at its target.
    let dangling = dir.path().join("dangling.sqlite");
    let target = dir.path().join("appears-here.sqlite");
    std::os::unix::fs::symlink(&target, &dangling).unwrap();
    link_error(StateStore::open(&dangling), &dangling);
    assert!(!target.exists());

    // Links at the companions SQLite opens beside it.
    for companion in ["-wal", "-shm"] {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.sqlite");
        drop(StateStore::open(&state).unwrap());
        let name = PathBuf::from(format!("{}{companion}", state.display()));
        let _ = std::fs::remove_file(&name);
        let victim = Victim::new(dir.path());
        std::os::unix::fs::symlink(&victim.path, &name).unwrap();
        link_error(StateStore::open(&state), &name);
        victim.assert_untouched();
    }
}

#[test]
fn a_link_at_a_lock_file_is_refused_waiting_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let victim = Victim::new(dir.path());
    let state = dir.path().join("state.sqlite");
    let lock = dir.path().join("state.sqlite.patrons.lock");
    std::os::unix::fs::symlink(&victim.path, &lock).unwrap();
    link_error(FeedLock::acquire(&state, "patrons"), &lock);
    link_error(
        FeedLock::acquire_waiting(&state, "patrons", &WaitPolicy::silent(Duration::ZERO)),
        &lock,
    );
    victim.assert_untouched();
    assert!(!state.exists(), "no state file either");
}

#[test]
fn something_other_than_a_file_at_the_state_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    std::fs::create_dir(&state).unwrap();
    assert!(matches!(
        StateStore::open(&state),
        Err(StateError::NotAFile { .. })
    ));
}

#[test]
fn a_state_file_opened_with_a_wider_mode_is_narrowed_through_its_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    drop(StateStore::open(&state).unwrap());
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(StateStore::open(&state).unwrap());
    let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn the_state_file_is_claimed_once_and_refused_to_another_institution() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let mut store = StateStore::open(&state).unwrap();
    let ours = owner("DEMO", "patrons");
    assert_eq!(store.claim(&ours, "c1", today()).unwrap(), Claim::Created);
    assert_eq!(store.claim(&ours, "c2", today()).unwrap(), Claim::Known);
    // Another feed of the same institution shares the file.
    let courses = owner("DEMO", "courses");
    assert_eq!(
        store.claim(&courses, "c3", today()).unwrap(),
        Claim::AddedFeed
    );
    let before = store.owners().unwrap();

    let theirs = owner("OTHER", "patrons");
    let refused = store.claim(&theirs, "c1", today());
    match &refused {
        Err(StateError::Foreign {
            found,
            feeds,
            wanted,
            ..
        }) => {
            assert_eq!((found.as_str(), wanted.as_str()), ("DEMO", "OTHER"));
            assert_eq!(feeds, &["courses", "patrons"]);
        }
        other => panic!("{other:?}"),
    }
    insta::assert_snapshot!(
        "foreign_state",
        refused
            .unwrap_err()
            .to_string()
            .replace(&dir.path().display().to_string(), "[TMP]")
    );
    assert!(matches!(
        store.adopt(&theirs, today()),
        Err(StateError::Foreign { .. })
    ));
    assert!(matches!(
        store.check_institution("OTHER"),
        Err(StateError::Foreign { .. })
    ));
    store.check_institution("DEMO").unwrap();
    assert_eq!(store.owners().unwrap(), before, "nothing was recorded");
}

/// A file as an alma-sis before owners were recorded left it: runs and no owner table.
fn legacy(state: &Path, config_hash: &str) {
    let mut store = StateStore::open(state).unwrap();
    store.begin_run(&new_run("patrons", config_hash)).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(state).unwrap();
    conn.execute_batch("DROP TABLE IF EXISTS owner").unwrap();
}

#[test]
fn an_old_state_file_is_adopted_by_its_own_config_or_on_request_only() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let ours = owner("DEMO", "patrons");

    legacy(&state, "same-config");
    let mut store = StateStore::open(&state).unwrap();
    assert!(store.owners().unwrap().is_empty());
    assert_eq!(
        store.claim(&ours, "same-config", today()).unwrap(),
        Claim::Adopted { by_config: true }
    );
    assert_eq!(store.owners().unwrap(), std::slice::from_ref(&ours));
    drop(store);

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    legacy(&state, "an-older-config");
    let mut store = StateStore::open(&state).unwrap();
    assert!(matches!(
        store.claim(&ours, "the-config-now", today()),
        Err(StateError::Unclaimed { .. })
    ));
    assert!(store.owners().unwrap().is_empty(), "nothing was recorded");
    assert_eq!(
        store.adopt(&ours, today()).unwrap(),
        Claim::Adopted { by_config: false }
    );
    assert_eq!(
        store.claim(&ours, "the-config-now", today()).unwrap(),
        Claim::Known
    );
}

/// A wait policy that records what it was told.
fn recording(limit: Duration) -> (WaitPolicy, Arc<Mutex<Vec<Waiting>>>) {
    let told = Arc::new(Mutex::new(Vec::new()));
    let sink = told.clone();
    let policy = WaitPolicy {
        limit,
        notice: Arc::new(move |w: &Waiting| sink.lock().unwrap().push(w.clone())),
    };
    (policy, told)
}

#[test]
fn a_busy_feed_lock_is_waited_for_visibly_and_a_wait_that_runs_out_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let held = FeedLock::acquire(&state, "patrons").unwrap();
    let (policy, told) = recording(Duration::from_millis(300));
    let err = FeedLock::acquire_waiting(&state, "patrons", &policy).unwrap_err();
    let pid = std::process::id();
    match &err {
        StateError::Busy { held, limit, .. } => {
            assert_eq!(
                held,
                &Held::FeedLock {
                    feed: "patrons".into(),
                    holder: Some(pid)
                }
            );
            assert_eq!(*limit, Duration::from_millis(300));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_busy());
    let told = told.lock().unwrap().clone();
    assert_eq!(told.len(), 1, "told once: {told:?}");
    let text = told[0]
        .to_string()
        .replace(&dir.path().display().to_string(), "[TMP]")
        .replace(&format!("process {pid}"), "process [PID]");
    insta::assert_snapshot!("waiting_for_the_feed_lock", text);

    // Released: taken without waiting (nothing told).
    drop(held);
    let (policy, told) = recording(Duration::from_secs(60));
    FeedLock::acquire_waiting(&state, "patrons", &policy).unwrap();
    assert!(told.lock().unwrap().is_empty());
}

#[test]
fn a_busy_state_file_is_waited_for_visibly_and_a_wait_that_runs_out_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let mut other = StateStore::open(&state).unwrap();
    let options = PlanOptions {
        match_id: alma_user_model::MatchId::PrimaryId,
        mode: LoadMode::Full,
        vanished: VanishedPolicy::Expire { grace_days: 0 },
        vanished_runs: 3,
        refresh_days: 30,
        brake: BrakeLimits::default(),
        partial: false,
    };
    // Another feed's run, planning: it holds the write lock until it commits.
    let planning = other.planner("courses", &options, today()).unwrap();

    let mut store = StateStore::open(&state).unwrap();
    let (policy, told) = recording(Duration::from_millis(300));
    store.set_wait(&policy).unwrap();
    let err = store.begin_run(&new_run("patrons", "c")).unwrap_err();
    assert!(
        matches!(
            &err,
            StateError::Busy {
                held: Held::WriteLock,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_busy());
    let told = told.lock().unwrap().clone();
    assert_eq!(told.len(), 1, "told once: {told:?}");
    insta::assert_snapshot!(
        "waiting_for_the_write_lock",
        format!("{}\n{err}", told[0]).replace(&dir.path().display().to_string(), "[TMP]")
    );

    drop(planning);
    store.begin_run(&new_run("patrons", "c")).unwrap();
}
