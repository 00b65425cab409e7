//! The run state: scenarios over simulated days (today injected), the brake, failed
//! deliveries, interrupted recording, the lock, and the file's privacy.

use std::path::{Path, PathBuf};

use alma_sis_state::{
    BrakeLimits, ContentHash, FeedLock, HashKind, ItemWrite, LoadMode, Located, NewRun,
    PlanOptions, PlannedRun, Planner, PurgePolicy, RunCounts, RunEnd, RunId, RunOutcome,
    StateError, StateStore, VanishedAction, VanishedPolicy, Verdict,
};
use alma_user_model::{MatchId, User, UserStatus, render_user};
use chrono::{DateTime, Days, NaiveDate};

const FEED: &str = "patrons";

fn day(n: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1)
        .unwrap()
        .checked_add_days(Days::new(n))
        .unwrap()
}

/// A person as the extract maps them on `today`: expiry rolls with the day.
fn person(id: &str, last_name: &str, today: NaiveDate) -> User {
    let mut u = User::new(id);
    u.first_name = Some("Sam".into());
    u.last_name = Some(last_name.into());
    u.expiry_date = today.checked_add_days(Days::new(365));
    u.purge_date = today.checked_add_days(Days::new(730));
    u
}

fn options(mode: LoadMode) -> PlanOptions {
    PlanOptions {
        match_id: MatchId::PrimaryId,
        mode,
        vanished: VanishedPolicy::Expire { grace_days: 0 },
        vanished_runs: 2,
        refresh_days: 30,
        brake: BrakeLimits::default(),
        partial: false,
    }
}

struct Feed {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// How a simulated run went.
#[derive(Clone, Copy, PartialEq)]
enum Delivery {
    Ok,
    Fails,
}

impl Feed {
    fn new() -> Feed {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/alma-sis-state.sqlite");
        Feed { _dir: dir, path }
    }

    fn store(&self) -> StateStore {
        StateStore::open(&self.path).unwrap()
    }

    /// One run: begin, plan, brake, "deliver", record. Returns a one-line summary.
    fn run(
        &self,
        today: NaiveDate,
        users: Vec<User>,
        options: &PlanOptions,
        force: bool,
        delivery: Delivery,
    ) -> String {
        let _lock = acquire(&self.path);
        let mut store = self.store();
        let run = begin(&mut store, today, options);
        let mut planner = store.planner(FEED, options, today).unwrap();
        let mut sent = observe_all(&mut planner, &users);
        let planned = planner.finish().unwrap();
        sent.extend(resent(&planned));
        let (outcome, line) = match planned.check_brake(force) {
            Err(e) => (RunOutcome::Refused, format!("refused: {e}")),
            Ok(()) if delivery == Delivery::Fails => {
                (RunOutcome::Failed, summary(sent, &planned.counts))
            }
            Ok(()) => (RunOutcome::Delivered, summary(sent, &planned.counts)),
        };
        let end = drop_folder_end(outcome, planned.counts, today);
        if outcome == RunOutcome::Delivered {
            planned.commit(run, &end).unwrap();
        } else {
            planned.abandon(run, &end).unwrap();
        }
        line
    }
}

/// Records that a run starts.
fn begin(store: &mut StateStore, today: NaiveDate, options: &PlanOptions) -> RunId {
    store
        .begin_run(&NewRun {
            feed: FEED.into(),
            started: started(today),
            config_hash: "c0ffee".into(),
            mode: format!("{:?}", options.mode).to_lowercase(),
            partial: options.partial,
        })
        .unwrap()
}

/// A user as the pipeline hands it to the planner: rendered once, hashed without its dates.
fn rendered(user: &User) -> (ContentHash, Vec<u8>) {
    let mut xml = Vec::new();
    let hash = ContentHash::render_user(user, &mut xml).unwrap();
    (hash, xml)
}

fn observe(planner: &mut Planner<'_>, user: &User) -> Verdict {
    let (hash, xml) = rendered(user);
    planner.observe(user, hash, &xml).unwrap()
}

/// Observes every user; returns the primary ids sent.
fn observe_all(planner: &mut Planner<'_>, users: &[User]) -> Vec<String> {
    users
        .iter()
        .filter(|u| observe(planner, u).send)
        .map(|u| u.primary_id.clone())
        .collect()
}

/// The primary ids of the vanished re-sent.
fn resent(planned: &PlannedRun<'_>) -> Vec<String> {
    planned.resend().map(|u| u.unwrap().primary_id).collect()
}

fn started(today: NaiveDate) -> DateTime<chrono::FixedOffset> {
    DateTime::parse_from_rfc3339(&format!("{today}T04:00:00Z")).unwrap()
}

/// How a run delivered to a drop folder (or not) ends: its one zip named after `day`.
fn drop_folder_end(outcome: RunOutcome, counts: RunCounts, day: NaiveDate) -> RunEnd {
    RunEnd {
        outcome,
        counts,
        files: vec![format!("{day}.zip")],
        destination: Some("drop folder".into()),
        message: None,
    }
}

fn summary(mut sent: Vec<String>, c: &RunCounts) -> String {
    sent.sort_unstable();
    format!(
        "sent [{}] new {} changed {} unchanged {} returning {} refreshed {} vanished {} retired {}",
        sent.join(" "),
        c.new,
        c.changed,
        c.unchanged,
        c.returning,
        c.refreshed,
        c.vanished,
        c.retired
    )
}

/// Ten people `p01`..`p10`, minus `absent`, with `renamed` given a new last name.
fn extract(today: NaiveDate, absent: &[&str], renamed: &[&str]) -> Vec<User> {
    (1..=10)
        .map(|i| format!("p{i:02}"))
        .filter(|id| !absent.contains(&id.as_str()))
        .map(|id| {
            let name = if renamed.contains(&id.as_str()) {
                "Renamed"
            } else {
                "Original"
            };
            person(&id, name, today)
        })
        .collect()
}

/// One simulated day: its date, extract, mode, --force, delivery, and the expected summary.
struct Day {
    date: NaiveDate,
    users: Vec<User>,
    mode: LoadMode,
    force: bool,
    delivery: Delivery,
    expected: &'static str,
}

fn check(days: Vec<Day>) {
    let feed = Feed::new();
    for (i, d) in days.into_iter().enumerate() {
        let got = feed.run(d.date, d.users, &options(d.mode), d.force, d.delivery);
        assert_eq!(got, d.expected, "day {i} ({})", d.date);
    }
}

fn ok(date: NaiveDate, users: Vec<User>, mode: LoadMode, expected: &'static str) -> Day {
    Day {
        date,
        users,
        mode,
        force: false,
        delivery: Delivery::Ok,
        expected,
    }
}

#[test]
fn new_changed_unchanged_vanished_and_returning_people_over_several_days() {
    use LoadMode::{Delta, Full};
    let mut p11 = extract(day(3), &[], &[]);
    p11.push(person("p11", "Newcomer", day(3)));
    check(vec![
        ok(
            day(1),
            extract(day(1), &[], &[]),
            Delta,
            "sent [p01 p02 p03 p04 p05 p06 p07 p08 p09 p10] new 10 changed 0 unchanged 0 returning 0 refreshed 0 vanished 0 retired 0",
        ),
        // The expiry rolls every day; that alone is no change.
        ok(
            day(2),
            extract(day(2), &[], &[]),
            Delta,
            "sent [] new 0 changed 0 unchanged 10 returning 0 refreshed 0 vanished 0 retired 0",
        ),
        // Re-running the same day with the same input sends nothing new.
        ok(
            day(2),
            extract(day(2), &[], &[]),
            Delta,
            "sent [] new 0 changed 0 unchanged 10 returning 0 refreshed 0 vanished 0 retired 0",
        ),
        ok(
            day(3),
            p11,
            Delta,
            "sent [p11] new 1 changed 0 unchanged 10 returning 0 refreshed 0 vanished 0 retired 0",
        ),
        // p02 changes, p11 vanishes: re-sent expired (1 of 2).
        ok(
            day(4),
            extract(day(4), &[], &["p02"]),
            Delta,
            "sent [p02 p11] new 0 changed 1 unchanged 9 returning 0 refreshed 0 vanished 1 retired 0",
        ),
        // Same day again: the vanished person is not re-sent twice in a day.
        ok(
            day(4),
            extract(day(4), &[], &["p02"]),
            Delta,
            "sent [] new 0 changed 0 unchanged 10 returning 0 refreshed 0 vanished 0 retired 0",
        ),
        // Second and last re-send, then retired.
        ok(
            day(5),
            extract(day(5), &[], &["p02"]),
            Delta,
            "sent [p11] new 0 changed 0 unchanged 10 returning 0 refreshed 0 vanished 1 retired 1",
        ),
        ok(
            day(6),
            extract(day(6), &[], &["p02"]),
            Delta,
            "sent [] new 0 changed 0 unchanged 10 returning 0 refreshed 0 vanished 0 retired 0",
        ),
        // Full mode sends everyone eligible; a rerun is harmless (the same again).
        ok(
            day(7),
            extract(day(7), &[], &["p02"]),
            Full,
            "sent [p01 p02 p03 p04 p05 p06 p07 p08 p09 p10] new 0 changed 0 unchanged 10 returning 0 refreshed 0 vanished 0 retired 0",
        ),
        ok(
            day(7),
            extract(day(7), &[], &["p02"]),
            Full,
            "sent [p01 p02 p03 p04 p05 p06 p07 p08 p09 p10] new 0 changed 0 unchanged 10 returning 0 refreshed 0 vanished 0 retired 0",
        ),
        // p11 comes back.
        ok(
            day(8),
            {
                let mut u = extract(day(8), &[], &["p02"]);
                u.push(person("p11", "Newcomer", day(8)));
                u
            },
            Delta,
            "sent [p11] new 0 changed 0 unchanged 10 returning 1 refreshed 0 vanished 0 retired 0",
        ),
    ]);
}

#[test]
fn the_brake_trips_on_a_broken_extract_and_lets_a_forced_run_through() {
    use LoadMode::Delta;
    let half = &["p01", "p02", "p03", "p04", "p05"][..];
    check(vec![
        ok(
            day(1),
            extract(day(1), &[], &[]),
            Delta,
            "sent [p01 p02 p03 p04 p05 p06 p07 p08 p09 p10] new 10 changed 0 unchanged 0 returning 0 refreshed 0 vanished 0 retired 0",
        ),
        ok(
            day(2),
            extract(day(2), half, &[]),
            Delta,
            "refused: the brake tripped: eligible users went from 10 (run 1) to 5, a drop of 50.0% (over the 10% limit); 0 changed and 5 vanished of 10 known, 50.0% (over the 25% limit)",
        ),
        // Refused runs record nothing as sent: the same extract trips again.
        ok(
            day(3),
            extract(day(3), half, &[]),
            Delta,
            "refused: the brake tripped: eligible users went from 10 (run 1) to 5, a drop of 50.0% (over the 10% limit); 0 changed and 5 vanished of 10 known, 50.0% (over the 25% limit)",
        ),
        // Three of ten changed: within the drop limit, over the change limit.
        ok(
            day(4),
            extract(day(4), &[], &["p01", "p02", "p03"]),
            Delta,
            "refused: the brake tripped: eligible users went from 10 (run 1) to 10, a drop of 0.0% (within the 10% limit); 3 changed and 0 vanished of 10 known, 30.0% (over the 25% limit)",
        ),
        Day {
            date: day(5),
            users: extract(day(5), half, &[]),
            mode: Delta,
            force: true,
            delivery: Delivery::Ok,
            expected: "sent [p01 p02 p03 p04 p05] new 0 changed 0 unchanged 5 returning 0 refreshed 0 vanished 5 retired 0",
        },
        // The forced run is the new baseline.
        ok(
            day(6),
            extract(day(6), half, &[]),
            Delta,
            "sent [p01 p02 p03 p04 p05] new 0 changed 0 unchanged 5 returning 0 refreshed 0 vanished 5 retired 5",
        ),
    ]);
}

#[test]
fn a_failed_delivery_is_not_recorded_as_sent_so_the_next_run_sends_again() {
    use LoadMode::Delta;
    check(vec![
        ok(
            day(1),
            extract(day(1), &[], &[]),
            Delta,
            "sent [p01 p02 p03 p04 p05 p06 p07 p08 p09 p10] new 10 changed 0 unchanged 0 returning 0 refreshed 0 vanished 0 retired 0",
        ),
        Day {
            date: day(2),
            users: extract(day(2), &["p10"], &["p01"]),
            mode: Delta,
            force: false,
            delivery: Delivery::Fails,
            expected: "sent [p01 p10] new 0 changed 1 unchanged 8 returning 0 refreshed 0 vanished 1 retired 0",
        },
        ok(
            day(3),
            extract(day(3), &["p10"], &["p01"]),
            Delta,
            "sent [p01 p10] new 0 changed 1 unchanged 8 returning 0 refreshed 0 vanished 1 retired 0",
        ),
        ok(
            day(4),
            extract(day(4), &["p10"], &["p01"]),
            Delta,
            "sent [p10] new 0 changed 0 unchanged 9 returning 0 refreshed 0 vanished 1 retired 1",
        ),
    ]);
}

#[test]
fn the_brake_never_trips_on_the_first_run_or_a_partial_one() {
    let feed = Feed::new();
    let full = options(LoadMode::Delta);
    feed.run(
        day(1),
        extract(day(1), &[], &[]),
        &full,
        false,
        Delivery::Ok,
    );
    let only_one = PlanOptions {
        partial: true,
        ..full.clone()
    };
    let got = feed.run(
        day(2),
        extract(
            day(2),
            &[
                "p01", "p02", "p03", "p04", "p05", "p06", "p07", "p08", "p09",
            ],
            &["p10"],
        ),
        &only_one,
        false,
        Delivery::Ok,
    );
    assert_eq!(
        got,
        "sent [p10] new 0 changed 1 unchanged 0 returning 0 refreshed 0 vanished 0 retired 0"
    );
    // The partial run is no baseline and nobody vanished: the full set is unchanged but p10.
    let got = feed.run(
        day(3),
        extract(day(3), &[], &["p10"]),
        &full,
        false,
        Delivery::Ok,
    );
    assert_eq!(
        got,
        "sent [] new 0 changed 0 unchanged 10 returning 0 refreshed 0 vanished 0 retired 0"
    );
}

/// Purge = expiry + `days` for everyone; no purge date sooner than `minimum` days after the
/// later of expiry and today.
fn purge_after(days: u64, minimum: u32) -> PurgePolicy {
    PurgePolicy {
        rule: std::sync::Arc::new(move |_: Option<&str>, expiry: NaiveDate| {
            expiry.checked_add_days(Days::new(days))
        }),
        minimum_days: minimum,
    }
}

/// What one vanished person is re-sent as under `policy`, after vanishing on day 2.
fn check_vanished(
    policy: VanishedPolicy,
    purge: PurgePolicy,
    expected_action: VanishedAction,
    expected_sent: Option<(UserStatus, Option<NaiveDate>, Option<NaiveDate>)>,
) {
    let feed = Feed::new();
    let opts = PlanOptions {
        vanished: policy,
        ..options(LoadMode::Delta)
    };
    feed.run(
        day(1),
        extract(day(1), &[], &[]),
        &opts,
        false,
        Delivery::Ok,
    );
    let mut store = feed.store();
    let mut planner = store.planner(FEED, &opts, day(2)).unwrap();
    planner.set_purge_policy(purge);
    observe_all(&mut planner, &extract(day(2), &["p03"], &[]));
    let planned = planner.finish().unwrap();
    assert_eq!(planned.vanished.len(), 1, "{:?}", planned.vanished);
    let v = &planned.vanished[0];
    assert_eq!((v.primary_id.as_str(), v.since), ("p03", day(2)));
    assert_eq!(v.action, expected_action);
    let sent: Vec<_> = planned
        .resend()
        .map(|u| u.unwrap())
        .map(|u| (u.status.unwrap(), u.expiry_date, u.purge_date))
        .collect();
    assert_eq!(sent, Vec::from_iter(expected_sent));
}

#[test]
fn vanished_people_are_expired_inactivated_or_left_by_policy() {
    // Purge = expiry + the rule (a year), no sooner than 90 days after expiry or today.
    let year = || purge_after(365, 90);
    check_vanished(
        VanishedPolicy::Expire { grace_days: 0 },
        year(),
        VanishedAction::Expired { on: day(2) },
        Some((UserStatus::Active, Some(day(2)), Some(day(367)))),
    );
    check_vanished(
        VanishedPolicy::Expire { grace_days: 14 },
        year(),
        VanishedAction::Expired { on: day(16) },
        Some((UserStatus::Active, Some(day(16)), Some(day(381)))),
    );
    check_vanished(
        VanishedPolicy::Inactive,
        year(),
        VanishedAction::Inactivated,
        Some((UserStatus::Inactive, Some(day(366)), Some(day(731)))),
    );
    check_vanished(VanishedPolicy::Nothing, year(), VanishedAction::Left, None);
    // A rule shorter than the minimum is raised to it; no rule, no purge date.
    check_vanished(
        VanishedPolicy::Expire { grace_days: 0 },
        purge_after(30, 90),
        VanishedAction::Expired { on: day(2) },
        Some((UserStatus::Active, Some(day(2)), Some(day(92)))),
    );
    check_vanished(
        VanishedPolicy::Expire { grace_days: 0 },
        PurgePolicy::none(),
        VanishedAction::Expired { on: day(2) },
        Some((UserStatus::Active, Some(day(2)), None)),
    );
}

/// With a grace, someone whose expiry date last sent comes before the day they vanished +
/// the grace keeps it: vanishing gives back no days. Their purge date follows from the
/// expiry date sent, with its minimum; a re-send carries the same dates.
#[test]
fn a_vanished_person_never_expires_later_than_the_expiry_date_last_sent() {
    let feed = Feed::new();
    let opts = PlanOptions {
        vanished: VanishedPolicy::Expire { grace_days: 14 },
        vanished_runs: 2,
        brake: BrakeLimits {
            eligible_drop_percent: 100.0,
            changed_or_vanished_percent: 100.0,
        },
        ..options(LoadMode::Delta)
    };
    // Sent expiry dates: already past when they vanish on day 10 (a dropped registration),
    // before day 10 + 14 (a contract ending), after it (a term ending).
    let sent_expiry = [("p01", 5), ("p02", 20), ("p03", 400)];
    let users: Vec<User> = sent_expiry
        .iter()
        .map(|&(id, e)| {
            let mut u = person(id, "Original", day(1));
            u.expiry_date = Some(day(e));
            u
        })
        .chain([person("p04", "Original", day(1))])
        .collect();
    feed.run(day(1), users, &opts, false, Delivery::Ok);
    // Purge: a year after expiry, no sooner than 90 days after the expiry or the run.
    let vanish = |today: NaiveDate| {
        let _lock = acquire(&feed.path);
        let mut store = feed.store();
        let run = begin(&mut store, today, &opts);
        let mut planner = store.planner(FEED, &opts, today).unwrap();
        planner.set_purge_policy(purge_after(365, 90));
        observe_all(&mut planner, &[person("p04", "Original", today)]);
        let planned = planner.finish().unwrap();
        let sent: Vec<_> = planned
            .resend()
            .map(|u| u.unwrap())
            .map(|u| (u.primary_id, u.expiry_date.unwrap(), u.purge_date.unwrap()))
            .collect();
        let said: Vec<_> = planned
            .vanished
            .iter()
            .map(|v| {
                let d = v.dates.as_ref().unwrap();
                (v.action, d.expiry, d.grace_end)
            })
            .collect();
        let end = drop_folder_end(RunOutcome::Delivered, planned.counts, today);
        planned.commit(run, &end).unwrap();
        (sent, said)
    };
    let expected = vec![
        ("p01".to_owned(), day(5), day(370)),
        ("p02".to_owned(), day(20), day(385)),
        ("p03".to_owned(), day(24), day(389)),
    ];
    let (sent, said) = vanish(day(10));
    assert_eq!(sent, expected);
    assert_eq!(
        said,
        [
            (
                VanishedAction::Expired { on: day(5) },
                Some(day(5)),
                Some(day(24))
            ),
            (
                VanishedAction::Expired { on: day(20) },
                Some(day(20)),
                Some(day(24))
            ),
            (
                VanishedAction::Expired { on: day(24) },
                Some(day(24)),
                Some(day(24))
            ),
        ]
    );
    // The re-send (2 of 2), a day later: the same dates.
    let (sent, _) = vanish(day(11));
    assert_eq!(sent, expected);
    let (sent, _) = vanish(day(12));
    assert!(sent.is_empty(), "retired: {sent:?}");
}

#[test]
fn people_rejected_today_are_held_not_vanished() {
    let feed = Feed::new();
    let opts = options(LoadMode::Delta);
    feed.run(
        day(1),
        extract(day(1), &[], &[]),
        &opts,
        false,
        Delivery::Ok,
    );
    let mut store = feed.store();
    let mut planner = store.planner(FEED, &opts, day(2)).unwrap();
    let sent = observe_all(&mut planner, &extract(day(2), &["p04"], &[]));
    // A rejected row's key, in any case; someone unknown held is no matter.
    planner.hold("P04");
    planner.hold("nobody");
    let planned = planner.finish().unwrap();
    assert!(planned.vanished.is_empty(), "{:?}", planned.vanished);
    assert!(sent.is_empty() && planned.resend().next().is_none());
}

/// `(sent expiry offset, today's expiry offset, days later, changed or refreshed)`.
fn check_expiry(sent_days: u64, now_days: u64, later: u64, expected: &str) {
    let feed = Feed::new();
    let opts = options(LoadMode::Delta);
    let mut first = person("x1", "Same", day(1));
    first.expiry_date = day(1).checked_add_days(Days::new(sent_days));
    feed.run(day(1), vec![first], &opts, false, Delivery::Ok);
    let today = day(1 + later);
    let mut now = person("x1", "Same", today);
    now.expiry_date = day(1).checked_add_days(Days::new(now_days));
    let mut store = feed.store();
    let mut planner = store.planner(FEED, &opts, today).unwrap();
    observe(&mut planner, &now);
    let c = planner.finish().unwrap().counts;
    let got = format!(
        "changed {} refreshed {} unchanged {} sent {}",
        c.changed, c.refreshed, c.unchanged, c.sent
    );
    assert_eq!(
        got, expected,
        "sent {sent_days}, now {now_days}, after {later} days"
    );
}

#[test]
fn a_rolling_expiry_is_refreshed_before_it_lapses_and_an_earlier_one_is_a_change() {
    // Later expiry, far from the sent one lapsing: nothing to do.
    check_expiry(365, 366, 1, "changed 0 refreshed 0 unchanged 1 sent 0");
    // Within 30 days of the sent expiry: re-send with the new one.
    check_expiry(365, 700, 340, "changed 0 refreshed 1 unchanged 0 sent 1");
    // Expiry moved earlier (e.g. dropped registration): a change.
    check_expiry(365, 2, 1, "changed 1 refreshed 0 unchanged 0 sent 1");
    // Expiry "today" every day (dropped registration): lapsed already, nothing to refresh.
    check_expiry(0, 1, 1, "changed 0 refreshed 0 unchanged 1 sent 0");
}

#[test]
fn primary_ids_match_case_insensitively() {
    let feed = Feed::new();
    let opts = options(LoadMode::Delta);
    feed.run(
        day(1),
        vec![person("AB12", "X", day(1))],
        &opts,
        false,
        Delivery::Ok,
    );
    // Forced: one person of one changed is over any brake limit.
    let got = feed.run(
        day(2),
        vec![person("ab12", "X", day(2))],
        &opts,
        true,
        Delivery::Ok,
    );
    // A new spelling is a change of content, never a vanished plus a new person.
    assert_eq!(
        got,
        "sent [ab12] new 0 changed 1 unchanged 0 returning 0 refreshed 0 vanished 0 retired 0"
    );
}

/// Everyone of `extract` with a `UNIV_ID` of their own: `U` and the number.
fn with_univ_ids(users: Vec<User>) -> Vec<User> {
    users
        .into_iter()
        .map(|u| {
            let univ = u.primary_id.replacen('p', "U", 1);
            u.with_identifier("UNIV_ID", &univ)
        })
        .collect()
}

#[test]
fn under_a_match_on_univ_id_a_new_primary_id_is_one_update() {
    let feed = Feed::new();
    let opts = PlanOptions {
        match_id: MatchId::parse("UNIV_ID"),
        ..options(LoadMode::Delta)
    };
    let first = feed.run(
        day(1),
        with_univ_ids(extract(day(1), &[], &[])),
        &opts,
        false,
        Delivery::Ok,
    );
    assert!(first.contains("new 10 "), "{first}");
    let mut users = with_univ_ids(extract(day(2), &[], &[]));
    users[2].primary_id = "jdoe-new".into();
    let got = feed.run(day(2), users, &opts, false, Delivery::Ok);
    assert_eq!(
        got,
        "sent [jdoe-new] new 0 changed 1 unchanged 9 returning 0 refreshed 0 vanished 0 retired 0"
    );
    // The control: matched on primary_id, the same extract is someone new and someone gone.
    let feed = Feed::new();
    let opts = options(LoadMode::Delta);
    feed.run(
        day(1),
        with_univ_ids(extract(day(1), &[], &[])),
        &opts,
        false,
        Delivery::Ok,
    );
    let mut users = with_univ_ids(extract(day(2), &[], &[]));
    users[2].primary_id = "jdoe-new".into();
    let got = feed.run(day(2), users, &opts, true, Delivery::Ok);
    assert_eq!(
        got,
        "sent [jdoe-new p03] new 1 changed 0 unchanged 9 returning 0 refreshed 0 vanished 1 retired 0"
    );
}

#[test]
fn a_feed_whose_match_id_changes_is_rekeyed_from_what_was_sent_and_nobody_vanishes() {
    let feed = Feed::new();
    let by_primary = options(LoadMode::Delta);
    let mut users = with_univ_ids(extract(day(1), &[], &[]));
    // Sent before the feed carried a UNIV_ID: nothing to re-key them by.
    users[9].user_identifiers.clear();
    feed.run(day(1), users, &by_primary, false, Delivery::Ok);
    let by_univ = PlanOptions {
        match_id: MatchId::parse("UNIV_ID"),
        ..options(LoadMode::Delta)
    };
    let mut users = with_univ_ids(extract(day(2), &[], &[]));
    users[0].primary_id = "renamed".into();
    let today = day(2);
    let _lock = acquire(&feed.path);
    let mut store = feed.store();
    let run = begin(&mut store, today, &by_univ);
    let mut planner = store.planner(FEED, &by_univ, today).unwrap();
    assert_eq!(planner.rekeyed(), 9);
    let sent = observe_all(&mut planner, &users);
    let planned = planner.finish().unwrap();
    let line = summary(sent, &planned.counts);
    // p10 was sent without a UNIV_ID and is sent with one now: Alma cannot have matched
    // the old record by it either.
    assert_eq!(
        line,
        "sent [p10 renamed] new 1 changed 1 unchanged 8 returning 0 refreshed 0 vanished 1 retired 0"
    );
    let end = RunEnd {
        outcome: RunOutcome::Delivered,
        counts: planned.counts,
        files: vec![],
        destination: None,
        message: None,
    };
    planned.commit(run, &end).unwrap();
    drop((store, _lock));
    let keys = items(&feed.store());
    assert!(keys.contains("\"key\":\"u01\""), "{keys}");
    assert!(!keys.contains("\"key\":\"p01\""), "{keys}");
    // Once re-keyed, the next run moves nothing: p01's old primary id back is one update.
    let got = feed.run(
        day(3),
        with_univ_ids(extract(day(3), &[], &[])),
        &by_univ,
        true,
        Delivery::Ok,
    );
    // (The old p10 record, vanished yesterday, is re-sent a second time and retired.)
    assert_eq!(
        got,
        "sent [p01 p10] new 0 changed 1 unchanged 9 returning 0 refreshed 0 vanished 1 retired 1"
    );
}

fn items(store: &StateStore) -> String {
    let mut out = Vec::new();
    store.export(Some(FEED), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn an_interrupted_recording_leaves_the_state_as_the_last_finished_run_left_it() {
    let feed = Feed::new();
    let opts = options(LoadMode::Delta);
    feed.run(
        day(1),
        extract(day(1), &[], &[]),
        &opts,
        false,
        Delivery::Ok,
    );
    let mut store = feed.store();
    let before = items(&store);
    let runs_before = store.runs(Some(FEED), 10).unwrap();
    let run = begin(&mut store, day(2), &opts);
    let today = extract(day(2), &["p09"], &["p01"]);

    // The run "dies" after the first user's write went into the transaction.
    let mut planner = store.planner(FEED, &opts, day(2)).unwrap();
    assert!(observe(&mut planner, &today[0]).send);
    drop(planner);
    assert_eq!(items(&store), before);

    // ... or after planning, with the vanished written too.
    let mut planner = store.planner(FEED, &opts, day(2)).unwrap();
    assert_eq!(observe_all(&mut planner, &today), ["p01"]);
    let planned = planner.finish().unwrap();
    assert_eq!(resent(&planned), ["p09"]);
    drop(planned);
    drop(store);

    let store = feed.store();
    assert!(store.integrity_ok().unwrap());
    assert_eq!(items(&store), before);
    let runs = store.runs(Some(FEED), 10).unwrap();
    assert_eq!(runs.len(), runs_before.len() + 1);
    assert_eq!(runs[0].id, run);
    assert_eq!(runs[0].outcome, RunOutcome::Running);
    assert_eq!(
        store.last_successful_run(FEED).unwrap().map(|r| r.id),
        runs_before.first().map(|r| r.id)
    );
    // The next run sends the same again.
    let got = feed.run(
        day(2),
        extract(day(2), &["p09"], &["p01"]),
        &opts,
        false,
        Delivery::Ok,
    );
    assert_eq!(
        got,
        "sent [p01 p09] new 0 changed 1 unchanged 8 returning 0 refreshed 0 vanished 1 retired 0"
    );
}

#[test]
fn a_second_run_of_the_same_feed_is_locked_out_until_the_first_ends() {
    let feed = Feed::new();
    let first = FeedLock::acquire(&feed.path, FEED).unwrap();
    match FeedLock::acquire(&feed.path, FEED) {
        Err(StateError::Locked { feed: f, lock_path }) => {
            assert_eq!(f, FEED);
            assert_eq!(lock_path, first.path());
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    // Another feed is independent.
    FeedLock::acquire(&feed.path, "courses").unwrap();
    drop(first);
    acquire(&feed.path);
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn the_state_and_lock_files_are_private() {
    let feed = Feed::new();
    let lock = FeedLock::acquire(&feed.path, FEED).unwrap();
    let mut store = feed.store();
    assert_eq!(mode(&feed.path), 0o600);
    assert_eq!(mode(lock.path()), 0o600);
    // While a run writes: the write-ahead log and its index.
    let mut planner = store
        .planner(FEED, &options(LoadMode::Delta), day(1))
        .unwrap();
    observe_all(&mut planner, &extract(day(1), &[], &[]));
    for suffix in ["-wal", "-shm"] {
        let mut companion = feed.path.clone().into_os_string();
        companion.push(suffix);
        assert_eq!(mode(Path::new(&companion)), 0o600, "{suffix}");
    }
}

#[test]
fn history_reads_from_another_connection_while_a_run_is_planned() {
    let feed = Feed::new();
    let opts = options(LoadMode::Delta);
    feed.run(
        day(1),
        extract(day(1), &[], &[]),
        &opts,
        false,
        Delivery::Ok,
    );
    let mut store = feed.store();
    let run = begin(&mut store, day(2), &opts);
    let mut planner = store.planner(FEED, &opts, day(2)).unwrap();
    assert_eq!(
        observe_all(&mut planner, &extract(day(2), &[], &["p01"])),
        ["p01"]
    );
    // `alma-sis history` in another process, while the run holds its write transaction.
    let reader = feed.store();
    let runs = reader.runs(Some(FEED), 10).unwrap();
    assert_eq!(
        runs.iter().map(|r| (r.id, r.outcome)).collect::<Vec<_>>(),
        [
            (run, RunOutcome::Running),
            (RunId(1), RunOutcome::Delivered)
        ]
    );
    let planned = planner.finish().unwrap();
    let counts = planned.counts;
    planned
        .commit(
            run,
            &RunEnd {
                outcome: RunOutcome::Delivered,
                counts,
                files: vec![],
                destination: None,
                message: None,
            },
        )
        .unwrap();
    assert_eq!(reader.runs(Some(FEED), 1).unwrap()[0].counts.changed, 1);
}

#[test]
fn the_content_hash_of_a_rendered_user_leaves_out_its_own_expiry_and_purge_dates() {
    use alma_user_model::UserBlock;
    let mut users = vec![
        person("a1", "Plain", day(1)),
        bench::user(7, day(1)),
        User::new("no-dates"),
    ];
    let mut blocked = bench::user(8, day(1));
    blocked.purge_date = None;
    let mut block = UserBlock::new("Lost book");
    block.expiry_date = chrono::DateTime::from_timestamp(1_800_000_000, 0);
    blocked.user_blocks.push(block);
    // Text can span lines, but never holds a `<` that could pass for an element.
    blocked.job_description = Some("one\n    <expiry_date>\n      <x>".into());
    users.push(blocked);
    for user in users {
        let (hash, _) = rendered(&user);
        let mut bare = user.clone();
        bare.expiry_date = None;
        bare.purge_date = None;
        let mut bare_xml = Vec::new();
        render_user(&bare, &mut bare_xml).unwrap();
        // The XXH3-128 of the user rendered without the dates; and what versions before
        // XXH3 stored: the SHA-256 of the same bytes (taken alone, or carried along).
        assert_eq!(hash, ContentHash::xxh3_of(&bare_xml), "{}", user.primary_id);
        assert_eq!(hash.kind(), HashKind::Xxh3);
        assert!(!hash.has_sha256());
        let sha = ContentHash::render_user_sha256(&user, &mut Vec::new()).unwrap();
        assert_eq!(sha, ContentHash::of(&bare_xml), "{}", user.primary_id);
        assert_eq!(sha.stored(), &sha256(&bare_xml)[..ContentHash::STORED]);
        let mut xml = Vec::new();
        let both = ContentHash::render_user_with_sha256(&user, &mut xml).unwrap();
        assert_eq!((both, &xml), (hash, &rendered(&user).1));
        assert!(both.has_sha256());
        let mut later = user.clone();
        later.expiry_date = day(900).into();
        assert_eq!(rendered(&later).0, hash);
    }
    assert_eq!(
        ContentHash::of_parts([&b"ab"[..], b"", b"c"]),
        ContentHash::of(b"abc")
    );
    // Kinds tell apart by the length kept; equal bytes of two kinds are not equal hashes.
    let x = ContentHash::xxh3_of(b"abc");
    assert_eq!(x.stored().len(), ContentHash::STORED_XXH3);
    assert_eq!(ContentHash::from_stored(x.stored()), Some(x));
    let s = ContentHash::of(b"abc");
    assert_eq!(ContentHash::from_stored(s.stored()), Some(s));
    assert_eq!(ContentHash::from_stored(&sha256(b"abc")), Some(s));
    assert_ne!(ContentHash::from_stored(&x.stored()[..12]), Some(x));
    assert_eq!(ContentHash::from_stored(&[0; 13]), None);
}

/// The SHA-256 of `bytes`, taken here (an oracle for [`ContentHash::of`]).
fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

#[test]
fn people_recorded_with_a_json_payload_are_still_re_sent_when_they_vanish() {
    let feed = Feed::new();
    let opts = options(LoadMode::Delta);
    let mut store = feed.store();
    let run = begin(&mut store, day(1), &opts);
    // As an earlier version recorded someone: JSON payload, same content hash.
    let sent = person("j1", "Legacy", day(1));
    let write = ItemWrite {
        key: "j1".into(),
        hash: rendered(&sent).0,
        expires: sent.expiry_date,
        first_seen: day(1),
        last_seen: day(1),
        last_sent: Some(day(1)),
        status: alma_sis_state::ItemStatus::Present,
        payload: Some(serde_json::to_string(&sent).unwrap()),
    };
    let end = RunEnd {
        outcome: RunOutcome::Delivered,
        counts: RunCounts::default(),
        files: vec![],
        destination: None,
        message: None,
    };
    store
        .finish_run(run, &end, Some(day(1)), [Ok(write)])
        .unwrap();
    drop(store);
    let got = feed.run(
        day(2),
        vec![person("j1", "Legacy", day(2))],
        &opts,
        false,
        Delivery::Ok,
    );
    assert!(
        got.starts_with("sent [] new 0 changed 0 unchanged 1 "),
        "{got}"
    );
    let mut store = feed.store();
    let planned = store
        .planner(FEED, &opts, day(3))
        .unwrap()
        .finish()
        .unwrap();
    let users: Vec<User> = planned.resend().map(Result::unwrap).collect();
    assert_eq!(users.len(), 1);
    assert_eq!(
        (
            users[0].last_name.as_deref(),
            users[0].expiry_date,
            users[0].purge_date
        ),
        (Some("Legacy"), Some(day(3)), None),
        "no [purge] rules: no purge date"
    );
}

#[test]
fn a_full_run_keeps_first_seen_and_moves_last_sent() {
    let feed = Feed::new();
    let two = |today| vec![person("a1", "Stays", today), person("b2", "Stays", today)];
    feed.run(
        day(1),
        two(day(1)),
        &options(LoadMode::Delta),
        false,
        Delivery::Ok,
    );
    let got = feed.run(
        day(2),
        two(day(2)),
        &options(LoadMode::Full),
        false,
        Delivery::Ok,
    );
    assert!(
        got.starts_with("sent [a1 b2] new 0 changed 0 unchanged 2 "),
        "{got}"
    );
    assert_eq!(
        dates(&feed),
        [
            "a1 2026-11-02 2026-11-03 Some(2026-11-03) Present",
            "b2 2026-11-02 2026-11-03 Some(2026-11-03) Present",
        ]
    );
}

/// Set in the child process of [`a_run_killed_mid_transaction_leaves_the_last_finished_state`]:
/// the state file, and where to die.
const CHILD_ENV: &str = "ALMA_SIS_STATE_TEST_CHILD";

/// The child: plans day 2 with thousands of new people (more than SQLite's page cache holds,
/// so uncommitted pages spill to the WAL), then aborts at `stage`.
fn die_mid_run(path: &Path, stage: &str) -> ! {
    let mut store = StateStore::open(path).unwrap();
    let opts = options(LoadMode::Delta);
    let run = begin(&mut store, day(2), &opts);
    let mut planner = store.planner(FEED, &opts, day(2)).unwrap();
    observe_all(&mut planner, &extract(day(2), &["p09"], &["p01"]));
    // 3,000 new people with 20 kB payloads each (their content does not matter here, but
    // it must not compress away: the state compresses payloads).
    let mut seed = 0x2545_f491_u32;
    let payload: Vec<u8> = (0..20_000)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            b'!' + (seed >> 16) as u8 % 90
        })
        .collect();
    for i in 0..3_000 {
        let u = User::new(format!("new{i}"));
        let hash = ContentHash::of(u.primary_id.as_bytes());
        assert!(planner.observe(&u, hash, &payload).unwrap().send);
    }
    if stage == "observe" {
        std::process::abort();
    }
    let planned = planner.finish().unwrap();
    assert_eq!(planned.vanished.len(), 1);
    if stage == "finish" {
        std::process::abort();
    }
    let _ = run;
    unreachable!("stage {stage}");
}

#[test]
fn a_run_killed_mid_transaction_leaves_the_last_finished_state() {
    if let Ok(child) = std::env::var(CHILD_ENV) {
        let (stage, path) = child.split_once(':').unwrap();
        die_mid_run(Path::new(path), stage);
    }
    let feed = Feed::new();
    let opts = options(LoadMode::Delta);
    feed.run(
        day(1),
        extract(day(1), &[], &[]),
        &opts,
        false,
        Delivery::Ok,
    );
    let before = items(&feed.store());
    for stage in ["observe", "finish"] {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "state::a_run_killed_mid_transaction_leaves_the_last_finished_state",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(CHILD_ENV, format!("{stage}:{}", feed.path.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "the child was to die at {stage}");
        let mut wal = feed.path.clone().into_os_string();
        wal.push("-wal");
        let spilled = std::fs::metadata(&wal).map_or(0, |m| m.len());
        assert!(spilled > 1 << 20, "{stage}: WAL of {spilled} bytes");
        let store = feed.store();
        assert!(store.integrity_ok().unwrap(), "{stage}");
        assert_eq!(items(&store), before, "{stage}");
        assert!(store.snapshot(FEED).unwrap().get("new1").is_none());
    }
    let got = feed.run(
        day(2),
        extract(day(2), &["p09"], &["p01"]),
        &opts,
        false,
        Delivery::Ok,
    );
    assert_eq!(
        got,
        "sent [p01 p09] new 0 changed 1 unchanged 8 returning 0 refreshed 0 vanished 1 retired 0"
    );
}

#[test]
fn forget_makes_a_person_new_and_export_carries_no_personal_data() {
    let feed = Feed::new();
    let opts = options(LoadMode::Delta);
    feed.run(
        day(1),
        extract(day(1), &[], &[]),
        &opts,
        false,
        Delivery::Ok,
    );
    let mut store = feed.store();
    let export = items(&store);
    assert_eq!(export.lines().count(), 10);
    assert!(
        export.starts_with(r#"{"feed":"patrons","key":"p01","hash":""#),
        "{export}"
    );
    assert!(
        !export.contains("Original") && !export.contains("Sam"),
        "{export}"
    );
    assert_eq!(store.forget(Some(FEED), "P03").unwrap(), 1);
    assert_eq!(store.forget(Some(FEED), "nobody").unwrap(), 0);
    drop(store);
    let got = feed.run(
        day(2),
        extract(day(2), &[], &[]),
        &opts,
        false,
        Delivery::Ok,
    );
    assert_eq!(
        got,
        "sent [p03] new 1 changed 0 unchanged 9 returning 0 refreshed 0 vanished 0 retired 0"
    );
}

#[test]
fn history_lists_runs_newest_first_with_their_outcome_and_counts() {
    let feed = Feed::new();
    let opts = options(LoadMode::Delta);
    feed.run(
        day(1),
        extract(day(1), &[], &[]),
        &opts,
        false,
        Delivery::Ok,
    );
    feed.run(
        day(2),
        extract(day(2), &[], &["p01"]),
        &opts,
        false,
        Delivery::Fails,
    );
    feed.run(
        day(3),
        extract(day(3), &["p01", "p02", "p03"], &[]),
        &opts,
        false,
        Delivery::Ok,
    );
    let runs = feed.store().runs(None, 10).unwrap();
    let got: Vec<String> = runs
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} eligible {} sent {} {:?}",
                r.id,
                r.started,
                r.mode,
                r.outcome.code(),
                r.counts.eligible,
                r.counts.sent,
                r.files
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            r#"3 2026-11-04T04:00:00+00:00 delta refused eligible 7 sent 3 ["2026-11-04.zip"]"#,
            r#"2 2026-11-03T04:00:00+00:00 delta failed eligible 10 sent 1 ["2026-11-03.zip"]"#,
            r#"1 2026-11-02T04:00:00+00:00 delta delivered eligible 10 sent 10 ["2026-11-02.zip"]"#,
        ]
    );
}

#[test]
fn generic_items_record_what_another_feed_sent() {
    use alma_sis_state::{ContentHash, ItemStatus};
    let feed = Feed::new();
    let mut store = feed.store();
    let run = store
        .begin_run(&NewRun {
            feed: "courses-rollover".into(),
            started: started(day(1)),
            config_hash: "c0ffee".into(),
            mode: "full".into(),
            partial: false,
        })
        .unwrap();
    let write = ItemWrite {
        key: "2026FA->2027SP".into(),
        hash: ContentHash::of(b"rollover definition"),
        expires: None,
        first_seen: day(1),
        last_seen: day(1),
        last_sent: Some(day(1)),
        status: ItemStatus::Present,
        payload: Some(r#"{"from":"2026FA"}"#.into()),
    };
    let end = RunEnd {
        outcome: RunOutcome::Delivered,
        counts: Default::default(),
        files: vec![],
        destination: None,
        message: None,
    };
    store
        .finish_run(run, &end, Some(day(1)), [Ok(write.clone())])
        .unwrap();
    let known = store.snapshot("courses-rollover").unwrap();
    let item = known.get("2026FA->2027SP").unwrap();
    assert_eq!((item.hash, item.last_sent), (write.hash, Some(day(1))));
    assert!(store.snapshot(FEED).unwrap().is_empty());
    assert_eq!(
        store
            .payload("courses-rollover", "2026FA->2027SP")
            .unwrap()
            .as_deref(),
        Some(r#"{"from":"2026FA"}"#)
    );
}

mod laws {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

        /// Whatever the extracts over three days, re-running a delivered delta run on the same
        /// day with the same input sends nothing, and full mode sends everyone eligible.
        #[test]
        fn a_same_day_delta_rerun_sends_nothing(
            days in proptest::collection::vec(
                (proptest::collection::vec(any::<bool>(), 10), proptest::collection::vec(any::<bool>(), 10), any::<bool>()),
                1..3,
            )
        ) {
            let feed = Feed::new();
            let lenient = PlanOptions {
                brake: BrakeLimits { eligible_drop_percent: 100.0, changed_or_vanished_percent: 100.0 },
                ..options(LoadMode::Delta)
            };
            for (n, (present, renamed, full)) in days.iter().enumerate() {
                let today = day(n as u64 + 1);
                let users = || -> Vec<User> {
                    (0..10)
                        .filter(|&i| present[i])
                        .map(|i| person(&format!("p{i}"), if renamed[i] { "B" } else { "A" }, today))
                        .collect()
                };
                let mode = if *full { LoadMode::Full } else { LoadMode::Delta };
                let opts = PlanOptions { mode, ..lenient.clone() };
                let first = feed.run(today, users(), &opts, false, Delivery::Ok);
                if *full {
                    let eligible = present.iter().filter(|p| **p).count();
                    prop_assert!(first.matches('p').count() >= eligible, "{}", first);
                }
                let again = feed.run(today, users(), &PlanOptions { mode: LoadMode::Delta, ..lenient.clone() }, false, Delivery::Ok);
                prop_assert!(again.starts_with("sent [] "), "{}", again);
            }
        }

        /// The content hash taken at the writer's marks equals the one found by the
        /// writer's indentation (as earlier versions found the dates) and the XXH3-128 of
        /// the user rendered without its dates; its SHA-256 (what versions before XXH3
        /// stored) is that of the same bytes. Stored states keep matching.
        #[test]
        fn the_content_hash_is_the_one_earlier_versions_stored(
            i in 0u64..10_000,
            expiry in proptest::option::of(0u64..4000),
            purge in proptest::option::of(0u64..4000),
            text in proptest::option::of("[a-z <>&\n]{0,40}"),
            blocked in any::<bool>(),
            prefix in proptest::collection::vec(any::<u8>(), 0..8),
        ) {
            let mut user = bench::user(i, day(1));
            user.expiry_date = expiry.map(|d| day(1) + Days::new(d));
            user.purge_date = purge.map(|d| day(1) + Days::new(d));
            user.job_description = text;
            if blocked {
                let mut block = alma_user_model::UserBlock::new("Lost book");
                block.expiry_date = DateTime::from_timestamp(1_800_000_000, 0);
                user.user_blocks.push(block);
                user.user_notes.push(alma_user_model::UserNote::new("OTHER", "    <purge_date>x"));
            }
            let mut out = prefix.clone();
            let hash = ContentHash::render_user(&user, &mut out).unwrap();
            let rendered = &out[prefix.len()..];
            prop_assert_eq!(hash, ContentHash::xxh3_of(&without_moving_dates(rendered)));
            let mut again = prefix.clone();
            let sha = ContentHash::render_user_sha256(&user, &mut again).unwrap();
            prop_assert_eq!(&again, &out);
            prop_assert_eq!(sha, ContentHash::of(&without_moving_dates(rendered)));
            let mut bare = user.clone();
            bare.expiry_date = None;
            bare.purge_date = None;
            let mut bare_xml = Vec::new();
            render_user(&bare, &mut bare_xml).unwrap();
            prop_assert_eq!(hash, ContentHash::xxh3_of(&bare_xml));
            prop_assert_eq!(sha, ContentHash::of(&bare_xml));
        }
    }
}

/// How earlier versions found the moving dates: by the writer's indentation, among the
/// lines before the first nested element. The bytes hashed.
fn without_moving_dates(rendered: &[u8]) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut nested = false;
    for line in rendered.split_inclusive(|&b| b == b'\n') {
        nested |= line.starts_with(b"      <");
        let moving =
            line.starts_with(b"    <expiry_date>") || line.starts_with(b"    <purge_date>");
        if nested || !moving {
            kept.extend_from_slice(line);
        }
    }
    kept
}

/// `(key, first_seen, last_seen, last_sent, status)` of every item.
fn dates(feed: &Feed) -> Vec<String> {
    let store = feed.store();
    let snapshot = store.snapshot(FEED).unwrap();
    let mut rows: Vec<String> = snapshot
        .iter()
        .map(|(k, i)| {
            format!(
                "{k} {} {} {:?} {:?}",
                i.first_seen, i.last_seen, i.last_sent, i.status
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn first_seen_last_seen_and_last_sent_follow_the_runs() {
    let feed = Feed::new();
    let opts = options(LoadMode::Delta);
    let two = |today| vec![person("a1", "Stays", today), person("b2", "Leaves", today)];
    feed.run(day(1), two(day(1)), &opts, false, Delivery::Ok);
    feed.run(day(2), two(day(2)), &opts, false, Delivery::Ok);
    // A failed run sees nobody.
    feed.run(day(3), two(day(3)), &opts, false, Delivery::Fails);
    assert_eq!(
        dates(&feed),
        [
            "a1 2026-11-02 2026-11-03 Some(2026-11-02) Present",
            "b2 2026-11-02 2026-11-03 Some(2026-11-02) Present",
        ]
    );
    let forced = feed.run(
        day(4),
        vec![person("a1", "Stays", day(4))],
        &opts,
        true,
        Delivery::Ok,
    );
    assert!(forced.starts_with("sent [b2]"), "{forced}");
    assert_eq!(
        dates(&feed),
        [
            "a1 2026-11-02 2026-11-05 Some(2026-11-02) Present",
            "b2 2026-11-02 2026-11-03 Some(2026-11-05) Vanished { since: 2026-11-05, sends: 1 }",
        ]
    );
}

/// Takes the feed lock. Other tests in this process spawn programs (java, unzip): a child
/// forked between our open and its exec briefly shares the lock's open file description,
/// so a lock just released can still look held for a moment.
fn acquire(path: &Path) -> FeedLock {
    for _ in 0..100 {
        match FeedLock::acquire(path, FEED) {
            Ok(lock) => return lock,
            Err(StateError::Locked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("cannot lock the feed: {e}"),
        }
    }
    panic!("the feed lock stayed held for 2 s")
}

/// Measurements at patron-feed scale (run by hand, in release):
/// `STATE_BENCH_DIR=/tmp/x STATE_BENCH_N=790000 cargo test --release -p alma-sis-package --test tests -- --ignored --exact --nocapture state::bench::<phase>`
/// with phase `seed` (day 1: everyone new), then `delta` or `full` (day 2: everyone
/// unchanged), or `baseline` (making, rendering and hashing alone). `STATE_BENCH_SHUFFLE=1`
/// observes the users in a scrambled order instead of key order.
mod bench {
    use alma_user_model::{Address, CodeValue, Email, Phone, RecordType, UserStatistic};

    use super::*;

    const FIRST: [&str; 8] = [
        "José", "Łukasz", "Sam", "Ana", "Wei", "Fatima", "Olu", "Grace",
    ];
    const LAST: [&str; 8] = [
        "张", "Rossi", "García", "Smith", "Nguyen", "Okafor", "Müller", "Kim",
    ];

    /// A user shaped like the demo extract's (about 2 kB of XML).
    pub fn user(i: u64, today: NaiveDate) -> User {
        let id = 900_000_000 + i;
        let k = i as usize;
        let mut u = User::new(id.to_string());
        u.record_type = Some(RecordType::Public);
        u.first_name = Some(FIRST[k % 8].into());
        u.last_name = Some(LAST[(k / 8) % 8].into());
        u.job_description = Some("Library".into());
        u.user_group = Some(CodeValue::with_desc("FAC", "Faculty"));
        u.campus_code = Some(CodeValue::new("MAIN"));
        u.preferred_language = Some(CodeValue::new("en"));
        u.birth_date = NaiveDate::from_ymd_opt(1950 + (k % 50) as i32, 1 + (k % 12) as u32, 1);
        u.expiry_date = today.checked_add_days(Days::new(365));
        u.purge_date = today.checked_add_days(Days::new(730));
        u.external_id = Some("SIS".into());
        u.add_address(
            Address::home(format!("{} University Blvd", k % 1000), "Chicago", "60607")
                .state_province("IL")
                .country("USA")
                .as_preferred(),
        );
        u.add_email(Email::new(format!("u{id}@demo.example.edu"), "school").as_preferred());
        u.add_phone(Phone::new(format!("+1 217 555 {:04}", k % 10_000), "mobile").as_preferred());
        u.user_identifiers
            .push(alma_user_model::UserIdentifier::new(
                "BARCODE",
                format!("2123400{:07}", i),
            ));
        u.user_statistics.push(UserStatistic::new("LIB"));
        u
    }

    fn proc_field(file: &str, name: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/self/{file}")).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// CPU seconds (user + system) of this process so far.
    pub fn cpu() -> f64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        ticks as f64 / 100.0
    }

    /// Resident MB now.
    pub fn rss() -> u64 {
        proc_field("status", "VmRSS:") / 1024
    }

    /// Starts measuring a phase: resets the peak resident size.
    pub fn start() -> (f64, u64) {
        std::fs::write("/proc/self/clear_refs", "5").unwrap();
        (cpu(), rss())
    }

    /// `phase: cpu s, rss before -> peak MB`.
    #[allow(clippy::print_stderr)]
    pub fn report(phase: &str, (cpu0, rss0): (f64, u64)) {
        let peak = proc_field("status", "VmHWM:") / 1024;
        let line = format!(
            "BENCH {phase}: cpu {:.2} s, rss {rss0} MB -> peak {peak} MB (+{} MB)\n",
            cpu() - cpu0,
            peak.saturating_sub(rss0)
        );
        eprint!("{line}");
    }

    pub fn setup() -> (PathBuf, u64) {
        let dir = PathBuf::from(std::env::var("STATE_BENCH_DIR").expect("STATE_BENCH_DIR"));
        let n = std::env::var("STATE_BENCH_N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(790_000);
        std::fs::create_dir_all(&dir).unwrap();
        (dir.join("state.sqlite"), n)
    }

    fn end(counts: RunCounts) -> RunEnd {
        RunEnd {
            outcome: RunOutcome::Delivered,
            counts,
            files: vec![],
            destination: None,
            message: None,
        }
    }

    /// One run over users `0..n` rendered on `today`, each made, rendered and hashed as the
    /// pipeline does, then observed; committed. Reports each phase.
    fn bench_run(mode: LoadMode, today: NaiveDate, fresh: bool) -> RunCounts {
        let (path, n) = setup();
        if fresh {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
        let opts = PlanOptions {
            mode,
            ..options(LoadMode::Delta)
        };
        let mut store = StateStore::open(&path).unwrap();
        let run = begin(&mut store, today, &opts);
        let t = start();
        let mut planner = store.planner(FEED, &opts, today).unwrap();
        report("planner (load the index)", t);
        let t = start();
        let mut xml = Vec::with_capacity(4096);
        let shuffle = std::env::var("STATE_BENCH_SHUFFLE").is_ok();
        for i in 0..n {
            let i = if shuffle { (i * 7_919_993) % n } else { i };
            let u = user(i, today);
            xml.clear();
            let hash = ContentHash::render_user(&u, &mut xml).unwrap();
            planner.observe(&u, hash, &xml).unwrap();
        }
        report("make + render + hash + observe", t);
        let t = start();
        let planned = planner.finish().unwrap();
        report("finish", t);
        let counts = planned.counts;
        let t = start();
        planned.commit(run, &end(counts)).unwrap();
        report("commit", t);
        let t = start();
        drop(store);
        report("close (checkpoint)", t);
        counts
    }

    /// Making, rendering and hashing the users alone: what the phases above include that is
    /// not the state's.
    #[test]
    #[ignore]
    fn baseline() {
        let (_, n) = setup();
        let today = day(2);
        let t = start();
        let mut xml = Vec::with_capacity(4096);
        let mut bytes = 0;
        for i in 0..n {
            let u = user(i, today);
            xml.clear();
            std::hint::black_box(ContentHash::render_user(&u, &mut xml).unwrap());
            bytes += xml.len();
        }
        report("make + render + hash", t);
        let t = start();
        for i in 0..n {
            let u = user(i, today);
            xml.clear();
            render_user(&u, &mut xml).unwrap();
            std::hint::black_box(ContentHash::of(&xml));
        }
        report("make + render + plain sha256", t);
        let t = start();
        for i in 0..n {
            let u = user(i, today);
            xml.clear();
            render_user(&u, &mut xml).unwrap();
            std::hint::black_box(&xml);
        }
        report("make + render", t);
        let t = start();
        for i in 0..n {
            std::hint::black_box(user(i, today));
        }
        report("make", t);
        assert!(bytes > 0);
    }

    /// Day 1: every user new, observed and committed.
    #[test]
    #[ignore]
    fn seed() {
        let c = bench_run(LoadMode::Delta, day(1), true);
        assert_eq!(c.new, setup().1);
    }

    /// Day 2: the same users, unchanged, in delta mode.
    #[test]
    #[ignore]
    fn delta() {
        let c = bench_run(LoadMode::Delta, day(2), false);
        assert_eq!((c.unchanged, c.sent), (setup().1, 0));
    }

    /// Day 2: the same users, unchanged, in full mode (every item rewritten as sent).
    #[test]
    #[ignore]
    fn full() {
        let c = bench_run(LoadMode::Full, day(2), false);
        assert_eq!((c.unchanged, c.sent), (setup().1, setup().1));
    }
}

/// A patron shaped like a campus extract's: names, a group, dates, an address, two emails,
/// a phone and two identifiers, the values varied by `i` (a generator independent of the
/// state's dictionary).
fn campus_person(i: u64, today: NaiveDate) -> User {
    use alma_user_model::{Address, Email, Phone};
    const FIRST: [&str; 8] = [
        "Ana", "José", "Mei", "Noah", "Priya", "Søren", "Zoë", "Fatima",
    ];
    const LAST: [&str; 8] = [
        "Smith", "Kim", "Cohen", "Haddad", "O'Brien", "张", "Nakamura", "Ivanova",
    ];
    const CITY: [&str; 4] = ["Chicago", "Urbana", "Springfield", "Peoria"];
    const GROUP: [&str; 4] = ["UG", "GRAD", "FAC", "STAFF"];
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut pick = |n: u64| {
        x ^= x >> 29;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        (x >> 32) % n
    };
    let id = format!("{}", 900_000_000 + i);
    let mut u = User::new(&id).with_name(FIRST[pick(8) as usize], LAST[pick(8) as usize]);
    u = u
        .with_user_group(GROUP[pick(4) as usize])
        .with_address(
            Address::home(
                format!("{} University Blvd", 100 + pick(900)),
                CITY[pick(4) as usize],
                format!("6{:04}", pick(10_000)),
            )
            .state_province("IL")
            .country("USA")
            .as_preferred(),
        )
        .with_email(Email::new(format!("u{id}@campus.example.edu"), "school"))
        .with_email(Email::new(format!("u{id}.home@example.org"), "personal"))
        .with_phone(Phone::new(
            format!("+1 217 555 {:04}", pick(10_000)),
            "mobile",
        ))
        .with_identifier("BARCODE", format!("2123400{:07}", i))
        .with_identifier("UNIV_ID", format!("U{i:08}"));
    u.expiry_date = today.checked_add_days(Days::new(365 + pick(700)));
    u.purge_date = u
        .expiry_date
        .and_then(|d| d.checked_add_days(Days::new(365)));
    u
}

/// The state file's size on disk with its WAL folded in (the store closed).
fn state_bytes(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(path).unwrap().len() + std::fs::metadata(&wal).map_or(0, |m| m.len())
}

#[test]
fn a_first_load_stores_at_most_300_bytes_a_user() {
    const USERS: u64 = 20_000;
    let feed = Feed::new();
    let users: Vec<User> = (0..USERS).map(|i| campus_person(i, day(1))).collect();
    let xml_bytes: usize = users.iter().map(|u| rendered(u).1.len()).sum();
    let line = feed.run(
        day(1),
        users,
        &options(LoadMode::Delta),
        false,
        Delivery::Ok,
    );
    assert!(line.contains(&format!("new {USERS} ")), "{line}");
    let per_user = state_bytes(&feed.path) / USERS;
    assert!(
        per_user <= 300,
        "{per_user} bytes a user (the users' XML is {} bytes each)",
        xml_bytes / USERS as usize
    );
    // What was stored reads back: everyone vanishes the next night and is re-sent as sent.
    let opts = options(LoadMode::Delta);
    let mut store = feed.store();
    let planned = store
        .planner(FEED, &opts, day(2))
        .unwrap()
        .finish()
        .unwrap();
    let mut resent = 0;
    for (i, user) in planned.resend().enumerate().step_by(997) {
        let mut expected = campus_person(i as u64, day(1));
        let user = user.unwrap();
        expected.expiry_date = user.expiry_date;
        expected.purge_date = user.purge_date;
        assert_eq!(user, expected);
        resent += 1;
    }
    assert!(resent > 10);
}

/// The layout of schema version 1, as earlier versions created it.
const SCHEMA_1: &str = "
CREATE TABLE items (feed TEXT NOT NULL, key TEXT NOT NULL, hash BLOB NOT NULL, expires TEXT,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, last_sent TEXT, status TEXT NOT NULL,
    status_since TEXT, sends INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (feed, key));
CREATE TABLE payloads (feed TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (feed, key));
CREATE TABLE feeds (feed TEXT PRIMARY KEY, last_seen TEXT NOT NULL);
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, feed TEXT NOT NULL,
    started TEXT NOT NULL, config_hash TEXT NOT NULL, mode TEXT NOT NULL,
    partial INTEGER NOT NULL, outcome TEXT NOT NULL, eligible INTEGER NOT NULL DEFAULT 0,
    sent INTEGER NOT NULL DEFAULT 0, new INTEGER NOT NULL DEFAULT 0,
    changed INTEGER NOT NULL DEFAULT 0, unchanged INTEGER NOT NULL DEFAULT 0,
    returned INTEGER NOT NULL DEFAULT 0, refreshed INTEGER NOT NULL DEFAULT 0,
    vanished INTEGER NOT NULL DEFAULT 0, retired INTEGER NOT NULL DEFAULT 0,
    files TEXT NOT NULL DEFAULT '[]', destination TEXT, message TEXT);
PRAGMA user_version = 1;
";

#[test]
fn a_schema_1_state_file_is_upgraded_and_keeps_what_was_sent() {
    let feed = Feed::new();
    std::fs::create_dir_all(feed.path.parent().unwrap()).unwrap();
    {
        let conn = rusqlite::Connection::open(&feed.path).unwrap();
        conn.execute_batch(SCHEMA_1).unwrap();
        for user in extract(day(1), &[], &[]) {
            let (_, xml) = rendered(&user);
            // Schema 1 kept the whole SHA-256 of the user rendered without its dates.
            let mut bare = user.clone();
            bare.expiry_date = None;
            bare.purge_date = None;
            let mut bare_xml = Vec::new();
            render_user(&bare, &mut bare_xml).unwrap();
            let date = |d: Option<NaiveDate>| d.map(|d| d.to_string());
            conn.execute(
                "INSERT INTO items VALUES ('patrons', ?1, ?2, ?3, ?4, ?4, ?4, 'present', NULL, 0)",
                rusqlite::params![
                    user.primary_id,
                    &sha256(&bare_xml)[..],
                    date(user.expiry_date),
                    day(1).to_string()
                ],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO payloads VALUES ('patrons', ?1, ?2)",
                rusqlite::params![user.primary_id, String::from_utf8(xml).unwrap()],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO feeds VALUES ('patrons', '2026-11-02');
             INSERT INTO runs (feed, started, config_hash, mode, partial, outcome, eligible, sent, new)
             VALUES ('patrons', '2026-11-02T04:00:00+00:00', 'c0ffee', 'delta', 0, 'delivered', 10, 10, 10);",
        )
        .unwrap();
    }
    let before = items(&feed.store());
    assert!(before.contains(r#""key":"p01","hash":""#), "{before}");
    assert!(before.contains(r#""first_seen":"2026-11-02""#), "{before}");
    // The next night: p03 left (re-sent from the stored, now compressed, record), p01 changed.
    let (conn, version) = the_night_after_an_older_file(&feed);
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(version, 5);
    assert!(!tables.iter().any(|t| t.ends_with("_v1")), "{tables:?}");
    let compressed: i64 = conn
        .query_row(
            "SELECT count(*) FROM payloads WHERE typeof(payload) = 'blob'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(compressed, 10);
}

/// The night after a file of an older schema was written by hand: p03 left (re-sent from
/// what the file stored), p01 changed; the file opened afterwards and its schema version.
fn the_night_after_an_older_file(feed: &Feed) -> (rusqlite::Connection, i64) {
    let got = feed.run(
        day(2),
        extract(day(2), &["p03"], &["p01"]),
        &options(LoadMode::Delta),
        false,
        Delivery::Ok,
    );
    assert_eq!(
        got,
        "sent [p01 p03] new 0 changed 1 unchanged 8 returning 0 refreshed 0 vanished 1 retired 0"
    );
    let conn = rusqlite::Connection::open(&feed.path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    (conn, version)
}

/// A payload as schema version 2 stored it: tag 1, the dictionary's id and the payload's
/// length (varints), raw deflate with the dictionary as its preset.
fn plain_payload(dictionary_id: u8, dictionary: &[u8], payload: &[u8]) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut out = vec![1, dictionary_id];
    let mut n = payload.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    let mut compress = Compress::new(Compression::new(6), false);
    compress.set_dictionary(dictionary).unwrap();
    out.reserve(payload.len() + 64);
    compress
        .compress_vec(payload, &mut out, FlushCompress::Finish)
        .unwrap();
    out
}

#[test]
fn a_schema_2_state_file_is_renumbered_and_its_plain_payloads_read() {
    let feed = Feed::new();
    feed.run(
        day(1),
        extract(day(1), &[], &[]),
        &options(LoadMode::Delta),
        false,
        Delivery::Ok,
    );
    {
        // Made over as schema version 2 made it: a plain dictionary (users' lines), payloads
        // deflated with it.
        let conn = rusqlite::Connection::open(&feed.path).unwrap();
        let users = extract(day(1), &[], &[]);
        let dictionary: Vec<u8> = users.iter().take(3).flat_map(|u| rendered(u).1).collect();
        let id: i64 = conn
            .query_row("SELECT id FROM dictionaries", [], |r| r.get(0))
            .unwrap();
        conn.execute(
            "UPDATE dictionaries SET bytes = ?1 WHERE id = ?2",
            rusqlite::params![dictionary, id],
        )
        .unwrap();
        for user in &users {
            let stored = plain_payload(u8::try_from(id).unwrap(), &dictionary, &rendered(user).1);
            let changed = conn
                .execute(
                    "UPDATE payloads SET payload = ?1 WHERE id = \
                     (SELECT pid FROM items WHERE key = ?2)",
                    rusqlite::params![stored, user.primary_id],
                )
                .unwrap();
            assert_eq!(changed, 1);
        }
        as_version(&conn, 2);
    }
    // The next night: p03 left (re-sent from its plain payload), p01 changed (stored with
    // the file's plain dictionary, still its newest).
    let (conn, version) = the_night_after_an_older_file(&feed);
    assert_eq!(version, 5);
    let tags: Vec<u8> = conn
        .prepare("SELECT substr(payload, 1, 1) FROM payloads ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|t| t.unwrap()[0])
        .collect();
    assert!(tags.iter().all(|&t| t == 1), "{tags:?}");
    // And the changed p01 reads back: it vanishes the night after and is re-sent.
    let got = feed.run(
        day(3),
        extract(day(3), &["p01", "p03"], &[]),
        &options(LoadMode::Delta),
        true,
        Delivery::Ok,
    );
    assert!(got.starts_with("sent [p01"), "{got}");
}

/// Makes the file over as version 3 left it: every user's content hash the first 12 bytes
/// of the SHA-256 of `users` (as rendered on the night they were recorded), schema version
/// 3. What is kept stays as it is otherwise.
fn as_version_3_left_it(feed: &Feed, users: &[User]) {
    let conn = rusqlite::Connection::open(&feed.path).unwrap();
    for user in users {
        let sha = ContentHash::render_user_sha256(user, &mut Vec::new()).unwrap();
        let changed = conn
            .execute(
                "UPDATE items SET hash = ?1 WHERE key = ?2",
                rusqlite::params![sha.stored(), user.primary_id],
            )
            .unwrap();
        assert_eq!(changed, 1, "{}", user.primary_id);
    }
    as_version(&conn, 3);
}

/// Makes the file over as schema `version` (2 to 4) wrote it: every `last_sent` a date,
/// no `feeds.full_sent`.
fn as_version(conn: &rusqlite::Connection, version: i64) {
    conn.execute_batch(&format!(
        "UPDATE items SET last_sent = (SELECT full_sent FROM feeds f WHERE f.feed = items.feed) \
         WHERE last_sent = -1; ALTER TABLE feeds DROP COLUMN full_sent; \
         PRAGMA user_version = {version};"
    ))
    .unwrap();
}

/// `key length` of every item's hash, in key order.
fn hash_lengths(feed: &Feed) -> Vec<String> {
    let conn = rusqlite::Connection::open(&feed.path).unwrap();
    conn.prepare("SELECT key, length(hash) FROM items ORDER BY key")
        .unwrap()
        .query_map([], |r| {
            Ok(format!(
                "{} {}",
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A user rendered with its SHA-256 carried along, as a run does while items recorded with
/// one are known.
fn rendered_with_sha256(user: &User) -> (ContentHash, Vec<u8>) {
    let mut xml = Vec::new();
    let hash = ContentHash::render_user_with_sha256(user, &mut xml).unwrap();
    (hash, xml)
}

/// Users hashed as [`rendered`] does, or with their SHA-256 carried along.
type Hashing = fn(&User) -> (ContentHash, Vec<u8>);

impl Feed {
    /// [`Feed::run`] with the users hashed by `hashing`.
    fn run_hashed(
        &self,
        today: NaiveDate,
        users: Vec<User>,
        options: &PlanOptions,
        hashing: Hashing,
    ) -> String {
        let _lock = acquire(&self.path);
        let mut store = self.store();
        let run = begin(&mut store, today, options);
        let mut planner = store.planner(FEED, options, today).unwrap();
        let mut sent = Vec::new();
        for user in &users {
            let (hash, xml) = hashing(user);
            if planner.observe(user, hash, &xml).unwrap().send {
                sent.push(user.primary_id.clone());
            }
        }
        let planned = planner.finish().unwrap();
        sent.extend(resent(&planned));
        planned.check_brake(false).unwrap();
        let line = summary(sent, &planned.counts);
        let end = drop_folder_end(RunOutcome::Delivered, planned.counts, today);
        planned.commit(run, &end).unwrap();
        line
    }
}

#[test]
fn items_recorded_with_sha256_are_compared_under_it_and_then_recorded_with_xxh3() {
    // Each way a run hands over its users: hashed alone (the planner takes the SHA-256 it
    // needs by rendering again), or with the SHA-256 carried along. Against a file that never
    // held a SHA-256, the same users give the same verdicts every night.
    for hashing in [rendered as Hashing, rendered_with_sha256] {
        for mode in [LoadMode::Delta, LoadMode::Full] {
            let upgraded = Feed::new();
            let control = Feed::new();
            let first = extract(day(1), &[], &[]);
            for feed in [&upgraded, &control] {
                feed.run_hashed(day(1), first.clone(), &options(mode), hashing);
            }
            as_version_3_left_it(&upgraded, &first);
            assert!(hash_lengths(&upgraded).iter().all(|l| l.ends_with(" 12")));
            // p03 leaves, p01 is renamed; then p03 returns and p02 is renamed; then a quiet
            // night; then p04 renamed.
            let nights = [
                (day(2), extract(day(2), &["p03"], &["p01"])),
                (day(3), extract(day(3), &[], &["p01", "p02"])),
                (day(4), extract(day(4), &[], &["p01", "p02"])),
                (day(5), extract(day(5), &[], &["p01", "p02", "p04"])),
            ];
            for (n, (date, users)) in nights.into_iter().enumerate() {
                let got = upgraded.run_hashed(date, users.clone(), &options(mode), hashing);
                let want = control.run_hashed(date, users, &options(mode), hashing);
                assert_eq!(got, want, "night {n}, {mode:?}");
                let lengths = hash_lengths(&upgraded);
                if n == 0 {
                    // Everyone compared now carries an XXH3; p03, vanished, keeps its SHA-256
                    // until it returns. The file is version 5: a version-3 program refuses it.
                    let want: Vec<String> = (1..=10)
                        .map(|i| format!("p{i:02} {}", if i == 3 { 12 } else { 16 }))
                        .collect();
                    assert_eq!(lengths, want, "{mode:?}");
                    let conn = rusqlite::Connection::open(&upgraded.path).unwrap();
                    let version: i64 = conn
                        .query_row("PRAGMA user_version", [], |r| r.get(0))
                        .unwrap();
                    assert_eq!(version, 5);
                } else {
                    assert!(lengths.iter().all(|l| l.ends_with(" 16")), "{lengths:?}");
                }
            }
        }
    }
}

#[test]
fn users_located_ahead_by_the_probe_are_planned_as_users_looked_up_by_the_planner() {
    // The same nights, observed with the item looked up by the planner, by its probe one
    // user at a time, and by its probe a batch at a time (as a run's rendering thread does):
    // the same verdicts, and the same file after.
    let feeds = [Feed::new(), Feed::new(), Feed::new()];
    let nights = [
        (day(1), extract(day(1), &[], &[])),
        (day(2), extract(day(2), &["p03"], &["p01"])),
        (day(3), extract(day(3), &[], &["p01", "p02"])),
        (day(4), {
            // A user seen twice in one extract: the second is new.
            let mut users = extract(day(4), &["p05"], &["p01", "p02"]);
            users.push(person("p04", "Twice", day(4)));
            users
        }),
    ];
    for (date, users) in nights {
        let mut lines = Vec::new();
        for (ahead, feed) in feeds.iter().enumerate() {
            let _lock = acquire(&feed.path);
            let mut store = feed.store();
            let opts = options(LoadMode::Delta);
            let run = begin(&mut store, date, &opts);
            let mut planner = store.planner(FEED, &opts, date).unwrap();
            let probe = planner.skip_probe();
            // Batches of three, someone not to look up before each.
            let batched: Vec<Option<Located>> = users
                .chunks(3)
                .flat_map(|batch| {
                    let located =
                        probe.locate_all(std::iter::once(None).chain(batch.iter().map(Some)));
                    assert_eq!(located.len(), batch.len() + 1);
                    assert!(located[0].is_none());
                    located.into_iter().skip(1)
                })
                .collect();
            let mut sent = Vec::new();
            for (n, user) in users.iter().enumerate() {
                let (hash, xml) = rendered(user);
                let verdict = if ahead > 0 {
                    let located = if ahead == 1 {
                        probe.locate(user)
                    } else {
                        batched[n]
                    };
                    assert!(located.is_some());
                    planner.observe_located(user, hash, &xml, None, None, located)
                } else {
                    planner.observe(user, hash, &xml)
                };
                if verdict.unwrap().send {
                    sent.push(user.primary_id.clone());
                }
            }
            let planned = planner.finish().unwrap();
            sent.extend(resent(&planned));
            lines.push(summary(sent, &planned.counts));
            let end = drop_folder_end(RunOutcome::Delivered, planned.counts, date);
            planned.commit(run, &end).unwrap();
        }
        assert_eq!(lines[0], lines[1], "{date}");
        assert_eq!(lines[0], lines[2], "{date}");
    }
    assert_eq!(items(&feeds[0].store()), items(&feeds[1].store()));
    assert_eq!(items(&feeds[0].store()), items(&feeds[2].store()));
}

/// One delivered run with the `[purge]` rules `basis`: who was sent, whether the planner saw
/// the rules changed, and the brake's message when it trips (then nothing is recorded).
fn run_with_purge_basis(
    feed: &Feed,
    today: NaiveDate,
    options: &PlanOptions,
    basis: &str,
) -> (Vec<String>, bool, Option<String>) {
    let _lock = acquire(&feed.path);
    let mut store = feed.store();
    let run = begin(&mut store, today, options);
    let mut planner = store.planner(FEED, options, today).unwrap();
    planner.set_purge_basis(basis).unwrap();
    let changed = planner.purge_rules_changed();
    let mut sent = observe_all(&mut planner, &extract(today, &[], &[]));
    sent.sort_unstable();
    let planned = planner.finish().unwrap();
    assert_eq!(planned.brake.purge_rules_changed, changed);
    let end = drop_folder_end(RunOutcome::Delivered, planned.counts, today);
    let brake = planned.check_brake(false).err().map(|e| e.to_string());
    if brake.is_some() {
        planned.abandon(run, &end).unwrap();
    } else {
        planned.commit(run, &end).unwrap();
    }
    (sent, changed, brake)
}

#[test]
fn new_purge_rules_send_everyone_again_once_and_a_partial_run_does_not_settle_them() {
    let feed = Feed::new();
    let delta = options(LoadMode::Delta);
    let partial = PlanOptions {
        partial: true,
        ..delta.clone()
    };
    let everyone: Vec<String> = (1..=10).map(|i| format!("p{i:02}")).collect();
    // The first run records its rules; nobody is changed by them.
    let (sent, changed, _) = run_with_purge_basis(&feed, day(1), &delta, "6m");
    assert_eq!((sent, changed), (everyone.clone(), false));
    let (sent, changed, _) = run_with_purge_basis(&feed, day(2), &delta, "6m");
    assert_eq!((sent.len(), changed), (0, false));
    // New rules: everyone is changed, and the brake says why it tripped.
    let (sent, changed, brake) = run_with_purge_basis(&feed, day(3), &delta, "2y");
    assert_eq!((sent, changed), (everyone.clone(), true));
    let brake = brake.expect("everyone changed trips the brake");
    assert!(brake.contains("the [purge] rules changed"), "{brake}");
    // A partial run (`--only`) sends everyone it maps, but records nothing for the rest.
    let (sent, changed, _) = run_with_purge_basis(
        &feed,
        day(3),
        &PlanOptions {
            brake: BrakeLimits {
                changed_or_vanished_percent: 100.0,
                ..delta.brake
            },
            ..partial
        },
        "2y",
    );
    assert_eq!((sent, changed), (everyone.clone(), true));
    let forced = PlanOptions {
        brake: BrakeLimits {
            changed_or_vanished_percent: 100.0,
            ..delta.brake
        },
        ..delta.clone()
    };
    let (sent, changed, brake) = run_with_purge_basis(&feed, day(4), &forced, "2y");
    assert_eq!((sent, changed, brake), (everyone, true, None));
    // Settled: the next run changes nobody.
    let (sent, changed, _) = run_with_purge_basis(&feed, day(5), &delta, "2y");
    assert_eq!((sent.len(), changed), (0, false));
}

#[test]
fn a_run_on_a_day_before_the_last_delivered_one_trips_the_brake() {
    let feed = Feed::new();
    let opts = options(LoadMode::Delta);
    let night = |n: u64, force: bool| {
        feed.run(
            day(n),
            extract(day(n), &[], &[]),
            &opts,
            force,
            Delivery::Ok,
        )
    };
    night(1, false);
    night(5, false);
    // A clock set back: refused, whatever changed; forced, it runs.
    let refused = night(3, false);
    assert!(
        refused.starts_with("refused: the brake tripped: this run's day is before 2026-11-06"),
        "{refused}"
    );
    let forced = night(3, true);
    assert!(forced.starts_with("sent"), "{forced}");
    // The same day as the last delivered run, or later, is not behind.
    let same = night(5, false);
    assert!(same.starts_with("sent"), "{same}");
}
