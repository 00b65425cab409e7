//! Many nights of mixed runs (full and delta, complete and `--only`, people rejected, gone,
//! back, changed, skipped by their raw-row hash, zips that do not arrive and arrive late)
//! against an oracle that knows only what reached Alma: the state's `last_sent` and content
//! hash of everyone are what the zips that arrived last carried, and every run sends
//! everyone whose record in Alma differs from today's (a full run: everyone).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;

use alma_sis_state::{
    BrakeLimits, ContentHash, LoadMode, PlanOptions, RawHash, StateStore, VanishedPolicy,
};
use alma_user_model::{MatchId, User};
use chrono::NaiveDate;

use super::delivery::{FEED, Lcg, begin, commit_in_files, day, hash_of};

const PEOPLE: usize = 16;

/// Person `i` in the `version` of their record, expiring `term` days into 2028.
fn person(i: usize, version: u32, term: i32) -> User {
    let mut u = User::new(format!("p{i:02}"));
    u.first_name = Some("Sam".into());
    u.last_name = Some(format!("Version{version}"));
    u.expiry_date = NaiveDate::from_ymd_opt(2028, 1, 1)
        .unwrap()
        .checked_add_signed(chrono::Duration::days(i64::from(term)));
    u
}

/// What reached Alma last for one person: the content, its expiry (re-sent expired, the
/// one the state keeps is the last sent with the record) and the night.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InAlma {
    hash: ContentHash,
    expires: Option<NaiveDate>,
    night: NaiveDate,
}

/// What a person was sent with: their content and expiry (`None`: re-sent expired, the
/// content Alma has).
type Record = Option<(ContentHash, Option<NaiveDate>)>;

/// The state's view of everyone, as the oracle keeps it.
fn recorded(store: &StateStore) -> BTreeMap<String, InAlma> {
    store
        .snapshot(FEED)
        .unwrap()
        .iter()
        .filter_map(|(k, item)| {
            item.last_sent.map(|night| {
                (
                    k.to_owned(),
                    InAlma {
                        hash: item.hash,
                        expires: item.expires,
                        night,
                    },
                )
            })
        })
        .collect()
}

/// `last_sent` of every item as `export` writes it, by key.
fn exported(store: &StateStore) -> BTreeMap<String, Option<String>> {
    let mut out = Vec::new();
    store.export(Some(FEED), &mut out).unwrap();
    out.flush().unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                v["key"].as_str().unwrap().to_owned(),
                v["last_sent"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[test]
fn over_many_mixed_nights_the_state_records_what_reached_alma_and_when() {
    for seed in 1..=12 {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(&dir.path().join("s.sqlite")).unwrap();
        let mut rng = Lcg(seed);
        let mut versions = [1_u32; PEOPLE];
        let mut terms = [0_i32; PEOPLE];
        let mut alma: BTreeMap<String, InAlma> = BTreeMap::new();
        for n in 1..=12 {
            let today = day(n);
            let at = format!("seed {seed} night {n}");
            for v in versions.iter_mut() {
                if rng.one_in(4) {
                    *v += 1;
                }
            }
            // Expiry dates move too, mostly later (a new term), now and then earlier.
            for t in terms.iter_mut() {
                match rng.below(12) {
                    0 | 1 => *t += 30,
                    2 => *t -= 10,
                    _ => {}
                }
            }
            let mode = if rng.one_in(2) {
                LoadMode::Full
            } else {
                LoadMode::Delta
            };
            let partial = rng.one_in(6);
            // In today's extract (else gone tonight), and rejected by the check.
            let present: Vec<bool> = (0..PEOPLE).map(|_| !rng.one_in(6)).collect();
            let rejected: Vec<bool> = (0..PEOPLE).map(|_| rng.one_in(10)).collect();
            let options = PlanOptions {
                match_id: MatchId::PrimaryId,
                mode,
                // Every third seed leaves the vanished as they are in Alma (not re-sent).
                vanished: if seed % 3 == 0 {
                    VanishedPolicy::Nothing
                } else {
                    VanishedPolicy::Expire { grace_days: 0 }
                },
                vanished_runs: 2,
                refresh_days: 30,
                brake: BrakeLimits {
                    eligible_drop_percent: 100.0,
                    changed_or_vanished_percent: 100.0,
                },
                partial,
            };
            let run = begin(
                &mut store,
                today,
                &format!("{mode:?}").to_lowercase(),
                partial,
            );
            let mut planner = store.planner(FEED, &options, today).unwrap();
            planner.set_raw_basis(b"basis").unwrap();
            let mut sent: Vec<(String, Record)> = Vec::new();
            let mut must_send = BTreeSet::new();
            for i in 0..PEOPLE {
                let user = person(i, versions[i], terms[i]);
                let id = user.primary_id.clone();
                if !present[i] {
                    continue;
                }
                if rejected[i] {
                    planner.hold(&id);
                    continue;
                }
                let hash = hash_of(&user);
                let changed = alma.get(&id).is_none_or(|a| {
                    a.hash != hash || user.expiry_date.is_some_and(|e| a.expires > Some(e))
                });
                if mode == LoadMode::Full || changed {
                    must_send.insert(id.clone());
                }
                // The same rows, the same hash: a version and a term are a person's rows.
                let raw = RawHash(
                    u64::from(versions[i]) << 40
                        | u64::from(terms[i].cast_unsigned()) << 8
                        | i as u64,
                );
                if planner.skip_unchanged(&id, raw) {
                    continue;
                }
                let mut xml = Vec::new();
                let hash = ContentHash::render_user(&user, &mut xml).unwrap();
                if planner
                    .observe_raw(&user, hash, &xml, Some((&id, raw)))
                    .unwrap()
                    .send
                {
                    sent.push((id, Some((hash, user.expiry_date))));
                }
            }
            let planned = planner.finish().unwrap();
            for user in planned.resend() {
                // Re-sent expired: the content Alma has, with new dates.
                sent.push((user.unwrap().primary_id, None));
            }
            let sent_ids: BTreeSet<String> = sent.iter().map(|(id, _)| id.clone()).collect();
            assert!(
                must_send.is_subset(&sent_ids),
                "{at}: {mode:?} must send {must_send:?}, sent {sent_ids:?}"
            );
            let per_file = 1 + rng.below(5) as usize;
            let arrive = rng.below(sent.len().div_ceil(per_file) as u64 + 1) as usize;
            let ids: Vec<String> = sent.iter().map(|(id, _)| id.clone()).collect();
            let files = commit_in_files(planned, run, today, &ids, per_file, arrive);
            let records: BTreeMap<String, Record> = sent.into_iter().collect();
            let mut arrived = |ids: &[String]| {
                for id in ids {
                    let (hash, expires) = records[id]
                        .or_else(|| alma.get(id).map(|a| (a.hash, a.expires)))
                        .unwrap();
                    alma.insert(
                        id.clone(),
                        InAlma {
                            hash,
                            expires,
                            night: today,
                        },
                    );
                }
            };
            for (_, ids) in files.iter().take(arrive) {
                arrived(ids);
            }
            // Now and then the first zip that did not arrive is delivered by hand the same day.
            if let Some((name, ids)) = files.get(arrive)
                && rng.one_in(3)
            {
                let file = store.run_file(&format!("sha-{name}")).unwrap().unwrap();
                assert_eq!(store.superseded_by(&file).unwrap(), None, "{at}");
                store.record_late_delivery(&file, today).unwrap();
                arrived(ids);
            }
            assert_eq!(recorded(&store), alma, "{at} ({mode:?}, partial {partial})");
            let by_export: BTreeMap<String, Option<String>> = exported(&store);
            let by_snapshot: BTreeMap<String, Option<String>> = store
                .snapshot(FEED)
                .unwrap()
                .iter()
                .map(|(k, item)| (k.to_owned(), item.last_sent.map(|d| d.to_string())))
                .collect();
            assert_eq!(by_export, by_snapshot, "{at}");
        }
    }
}
