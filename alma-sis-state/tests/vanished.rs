//! The dates vanished people are re-sent with, over random sequences of runs, against an
//! oracle: a plain model of who is present, vanished (since when, re-sent how often) or
//! retired, kept apart from the store, and the rule written out again. Whatever the sequence
//! (people leaving, coming back, leaving again; runs days or months apart; failed
//! deliveries; expiry dates already past, close or far), nobody is ever sent with a purge
//! date within the minimum of the run date or of their expiry date, nor with an expiry date
//! later than the one last sent.

use std::collections::BTreeMap;
use std::sync::Arc;

use alma_sis_state::{
    BrakeLimits, ContentHash, LoadMode, NewRun, PlanOptions, PurgePolicy, RunEnd, RunOutcome,
    StateStore, VanishedPolicy,
};
use alma_user_model::{CodeValue, User, UserStatus};
use chrono::{DateTime, Days, Months, NaiveDate};
use proptest::prelude::*;

const FEED: &str = "patrons";
const GROUPS: [&str; 3] = ["UGRD", "FAC", "GUEST"];

/// The `[purge]` rules of a generated config: `(months, days)` per group; `None`: no purge
/// date for that group.
#[derive(Debug, Clone)]
struct Rules([Option<(u32, u64)>; 3]);

impl Rules {
    /// The oracle's reading of a rule: the group's duration after the expiry date.
    fn purge(&self, group: &str, expiry: NaiveDate) -> Option<NaiveDate> {
        let i = GROUPS.iter().position(|g| *g == group)?;
        let (months, days) = self.0[i]?;
        expiry
            .checked_add_months(Months::new(months))?
            .checked_add_days(Days::new(days))
    }
}

/// Where the oracle has someone.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Model {
    /// Sent; present in the last delivered run. The expiry date sent.
    Present(NaiveDate),
    /// Missing since, re-sent `sends` times, last on `last`.
    Vanished {
        since: NaiveDate,
        sends: u32,
        last: NaiveDate,
        expiry_sent: NaiveDate,
    },
    Retired,
}

/// Person `i` as mapped on `today`: expiring `offset` days from today (a negative offset:
/// already expired).
fn person(i: usize, group: &str, today: NaiveDate, offset: i64) -> User {
    let mut u = User::new(format!("p{i}"));
    u.last_name = Some("Doe".into());
    u.user_group = Some(CodeValue::new(group));
    u.expiry_date = Some(expiry_of(today, offset));
    u
}

fn expiry_of(today: NaiveDate, offset: i64) -> NaiveDate {
    today + chrono::Duration::days(offset)
}

#[derive(Debug, Clone)]
struct Run {
    /// Days after the previous run (0: the same day).
    gap: u64,
    /// Who is in the extract.
    present: Vec<bool>,
    /// Whether the delivery fails (nothing recorded).
    fails: bool,
}

fn runs(people: usize) -> impl Strategy<Value = Vec<Run>> {
    proptest::collection::vec(
        (
            prop_oneof![Just(0u64), 1u64..10, 10u64..200],
            proptest::collection::vec(prop::bool::weighted(0.6), people),
            prop::bool::weighted(0.15),
        )
            .prop_map(|(gap, present, fails)| Run {
                gap,
                present,
                fails,
            }),
        2..9,
    )
}

fn rules() -> impl Strategy<Value = Rules> {
    let one = prop_oneof![
        Just(None),
        (0u32..14, 0u64..120).prop_map(Some),
        (0u64..200).prop_map(|d| Some((0, d))),
    ];
    [one.clone(), one.clone(), one].prop_map(Rules)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn vanished_dates_follow_the_rules_and_never_come_within_the_minimum(
        groups in proptest::collection::vec(0usize..3, 6),
        offsets in proptest::collection::vec(
            prop_oneof![Just(365i64), Just(0i64), -60i64..0, 1i64..45],
            6,
        ),
        sequence in runs(6),
        rules in rules(),
        minimum in prop_oneof![Just(0u32), Just(90u32), 1u32..400],
        grace in prop_oneof![Just(0u32), 1u32..40],
        vanished_runs in 0u32..4,
        inactive in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let policy = if inactive {
            VanishedPolicy::Inactive
        } else {
            VanishedPolicy::Expire { grace_days: grace }
        };
        let options = PlanOptions {
            match_id: alma_user_model::MatchId::PrimaryId,
            mode: LoadMode::Full,
            vanished: policy,
            vanished_runs,
            refresh_days: 30,
            brake: BrakeLimits { eligible_drop_percent: 100.0, changed_or_vanished_percent: 100.0 },
            partial: false,
        };
        let rule = rules.clone();
        let purge = PurgePolicy {
            rule: Arc::new(move |group: Option<&str>, expiry: NaiveDate| {
                rule.purge(group?, expiry)
            }),
            minimum_days: minimum,
        };
        let mut model: BTreeMap<usize, Model> = BTreeMap::new();
        let mut today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        for (n, run) in sequence.iter().enumerate() {
            today = today.checked_add_days(Days::new(run.gap)).unwrap();
            let mut store = StateStore::open(&path).unwrap();
            let started = DateTime::parse_from_rfc3339(&format!("{today}T04:00:00Z")).unwrap();
            let id = store.begin_run(&NewRun {
                feed: FEED.into(),
                started,
                config_hash: "c".into(),
                mode: "full".into(),
                partial: false,
            }).unwrap();
            let mut planner = store.planner(FEED, &options, today).unwrap();
            planner.set_purge_policy(purge.clone());
            for (i, here) in run.present.iter().enumerate() {
                if *here {
                    let user = person(i, GROUPS[groups[i]], today, offsets[i]);
                    let mut xml = Vec::new();
                    let hash = ContentHash::render_user(&user, &mut xml).unwrap();
                    planner.observe(&user, hash, &xml).unwrap();
                }
            }
            let planned = planner.finish().unwrap();
            let sent: BTreeMap<String, User> = planned
                .resend()
                .map(|u| u.unwrap())
                .map(|u| (u.primary_id.clone(), u))
                .collect();

            // The oracle: who is re-sent today, with which dates.
            let mut expected = BTreeMap::new();
            let mut next = model.clone();
            for (&i, &state) in &model {
                if run.present[i] {
                    continue;
                }
                let (since, sends, expiry_sent) = match state {
                    Model::Present(e) => (today, 0, e),
                    Model::Vanished { last, .. } if last == today => continue,
                    Model::Vanished { since, sends, expiry_sent, .. } => (since, sends, expiry_sent),
                    Model::Retired => continue,
                };
                if sends >= vanished_runs {
                    next.insert(i, Model::Retired);
                    continue;
                }
                let expiry = match policy {
                    VanishedPolicy::Expire { grace_days } => since
                        .checked_add_days(Days::new(u64::from(grace_days)))
                        .unwrap()
                        .min(expiry_sent),
                    _ => expiry_sent,
                };
                let floor = expiry.max(today).checked_add_days(Days::new(u64::from(minimum))).unwrap();
                let purge = rules.purge(GROUPS[groups[i]], expiry).map(|p| p.max(floor));
                expected.insert(format!("p{i}"), (expiry, purge));
                next.insert(i, if sends + 1 >= vanished_runs {
                    Model::Retired
                } else {
                    Model::Vanished { since, sends: sends + 1, last: today, expiry_sent }
                });
            }
            for (i, here) in run.present.iter().enumerate() {
                if *here {
                    next.insert(i, Model::Present(expiry_of(today, offsets[i])));
                }
            }

            let got: BTreeMap<String, (NaiveDate, Option<NaiveDate>)> = sent
                .iter()
                .map(|(id, u)| (id.clone(), (u.expiry_date.unwrap(), u.purge_date)))
                .collect();
            prop_assert_eq!(&got, &expected, "run {} on {}", n, today);
            for (id, u) in &sent {
                let expiry = u.expiry_date.unwrap();
                if let Some(p) = u.purge_date {
                    let gap = |from: NaiveDate| (p - from).num_days();
                    prop_assert!(gap(today) >= i64::from(minimum), "{id}: purge {p} within {minimum} days of the run {today}");
                    prop_assert!(gap(expiry) >= i64::from(minimum), "{id}: purge {p} within {minimum} days of expiry {expiry}");
                }
                let status = if inactive { UserStatus::Inactive } else { UserStatus::Active };
                prop_assert_eq!(u.status.unwrap_or(UserStatus::Active), status);
            }
            for v in &planned.vanished {
                if let Some(d) = &v.dates {
                    prop_assert_eq!(Some(&(d.expiry.unwrap(), d.purge)), expected.get(&v.primary_id));
                }
            }

            let end = RunEnd {
                outcome: if run.fails { RunOutcome::Failed } else { RunOutcome::Delivered },
                counts: planned.counts,
                files: vec![],
                destination: None,
                message: None,
            };
            if run.fails {
                planned.abandon(id, &end).unwrap();
            } else {
                planned.commit(id, &end).unwrap();
                model = next;
            }
        }
    }
}
