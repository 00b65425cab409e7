//! The delta that skips unchanged people: a person whose input rows, config and lookups are
//! as when they were last mapped (and whose expiry needs no refresh) is not mapped at all.
//! Checked by what the run says it mapped (`--timings`), and against an oracle: the same
//! nights run with `--map-everyone` must send the same bytes and count the same rows.

use std::path::{Path, PathBuf};

use crate::signals::synthetic;
use crate::state::Demo;
use crate::support::{expect_code, unzip_text};

/// Writes a generated demo-shaped extract (`--changed` per thousand people changed).
fn generate(out: &Path, rows: u64, messy: bool, changed: u64) {
    let mut args: Vec<String> = vec![
        "--rows".into(),
        rows.to_string(),
        "--seed".into(),
        "25".into(),
        "--changed".into(),
        changed.to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    if messy {
        args.push("--messy".into());
    }
    synthetic::gen_extract(&synthetic::GenOptions::parse(&args).unwrap()).unwrap();
}

/// What one night did: people mapped and skipped, the report's row counts, and the text of
/// every zip it delivered (by file name).
#[derive(Debug, PartialEq)]
struct Night {
    mapped: u64,
    skipped: u64,
    rows: [u64; 4],
    sent: u64,
    zips: Vec<(String, String)>,
}

fn night(demo: &Demo, now: &str, extra: &[&str]) -> Night {
    let timings = demo.root().join("timings.json");
    let before: Vec<PathBuf> = demo.drop_zips();
    let mut args = vec!["--timings", timings.to_str().unwrap()];
    if !extra.contains(&"--mode") {
        args.extend(["--mode", "delta"]);
    }
    args.extend_from_slice(extra);
    let out = demo.run(now, &args);
    // 1: delivered, with findings (a messy extract has rows to reject).
    if out.status.code() != Some(1) {
        expect_code(&out, 0);
    }
    let t: serde_json::Value = serde_json::from_slice(&std::fs::read(&timings).unwrap()).unwrap();
    let report = newest_report(demo);
    let count = |k: &str| {
        report[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {report}"))
    };
    let zips = demo
        .drop_zips()
        .into_iter()
        .filter(|z| !before.contains(z))
        .map(|z| {
            let name = z.file_name().unwrap().to_string_lossy().into_owned();
            (name, unzip_text(&z))
        })
        .collect();
    Night {
        mapped: t["people_mapped"].as_u64().unwrap(),
        skipped: t["people_skipped"].as_u64().unwrap(),
        rows: [
            count("rows_read"),
            count("rows_written"),
            count("rows_filtered"),
            count("rows_rejected"),
        ],
        sent: t["users_written"].as_u64().unwrap(),
        zips,
    }
}

/// The JSON report of the newest run.
fn newest_report(demo: &Demo) -> serde_json::Value {
    let mut reports: Vec<PathBuf> = std::fs::read_dir(demo.root().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".report.json"))
        .collect();
    reports.sort_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap());
    let text = std::fs::read(reports.last().expect("a report")).unwrap();
    let report: serde_json::Value = serde_json::from_slice(&text).unwrap();
    // The row counts live where the report keeps them.
    find_rows(&report).unwrap_or(report)
}

fn find_rows(v: &serde_json::Value) -> Option<serde_json::Value> {
    if v.get("rows_read").is_some() {
        return Some(v.clone());
    }
    match v {
        serde_json::Value::Object(map) => map.values().find_map(find_rows),
        _ => None,
    }
}

/// A demo whose extract is the generated one.
fn site(rows: u64, messy: bool) -> Demo {
    let demo = Demo::new();
    generate(&demo.people(), rows, messy, 0);
    demo
}

const NIGHT: [&str; 4] = [
    "2026-11-23T04:00:00Z",
    "2026-11-24T04:00:00Z",
    "2026-11-25T04:00:00Z",
    "2026-11-26T04:00:00Z",
];

#[test]
fn a_delta_with_nothing_changed_maps_nobody_and_one_with_one_percent_changed_maps_about_them() {
    let demo = site(3000, false);
    let first = night(&demo, NIGHT[0], &[]);
    assert_eq!(first.skipped, 0, "a first load skips nobody");
    assert!(first.sent > 2000, "{first:?}");
    // Nothing changed: everyone recorded is skipped. Still mapped: people with a row that
    // was filtered or rejected, or who warned (their rows and warnings are reported each
    // night), a sixth of the demo's people.
    let same = night(&demo, NIGHT[1], &[]);
    assert_eq!(same.sent, 0);
    assert_eq!(same.rows, first.rows, "the same rows, counted the same way");
    assert_eq!(same.mapped + same.skipped, first.mapped);
    assert!(
        same.skipped * 10 >= first.mapped * 8,
        "{same:?} after {first:?}"
    );
    assert!(same.mapped <= first.mapped - first.sent + first.rows[2] + first.rows[3]);
    let again = night(&demo, NIGHT[2], &[]);
    assert_eq!((again.mapped, again.skipped), (same.mapped, same.skipped));
    // One percent changed (a generator of its own picks them): those are mapped, and sent.
    let before = std::fs::read_to_string(demo.people()).unwrap();
    generate(&demo.people(), 3000, false, 10);
    let after = std::fs::read_to_string(demo.people()).unwrap();
    let differing = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .count() as u64;
    assert!((10..=60).contains(&differing), "{differing} rows changed");
    let changed = night(&demo, NIGHT[3], &[]);
    let newly_mapped = changed.mapped - same.mapped;
    assert!(
        newly_mapped <= differing && newly_mapped * 10 >= differing * 8,
        "{newly_mapped} more mapped for {differing} changed rows"
    );
    assert!(changed.sent > 0 && changed.sent <= differing, "{changed:?}");
    assert_eq!(changed.rows, first.rows);
}

#[test]
fn a_config_or_lookup_change_or_a_new_hash_basis_maps_everyone_once_without_sending_them() {
    let demo = site(1500, false);
    let first = night(&demo, NIGHT[0], &[]);
    let people = first.mapped;
    let unchanged = night(&demo, NIGHT[1], &[]);
    assert!(unchanged.skipped * 10 >= people * 8, "{unchanged:?}");
    let check = |n: &Night, what: &str| {
        assert_eq!(
            (n.mapped, n.skipped, n.sent),
            (people, 0, 0),
            "{what}: everyone mapped again, nobody sent"
        );
    };
    // The config changes (a comment is enough: its hash is part of the basis).
    let config = std::fs::read_to_string(demo.config()).unwrap();
    std::fs::write(demo.config(), format!("{config}\n# edited\n")).unwrap();
    check(&night(&demo, NIGHT[2], &[]), "config");
    // The term calendar (a lookup file) changes.
    let terms = demo.config().with_file_name("terms.csv");
    let text = std::fs::read_to_string(&terms).unwrap();
    std::fs::write(&terms, format!("{text}\n")).unwrap();
    check(&night(&demo, NIGHT[3], &[]), "terms.csv");
    // A new version of the raw-row hash gives a new basis; so does this.
    let conn = rusqlite::Connection::open(demo.root().join("out/alma-sis-state.sqlite")).unwrap();
    conn.execute("UPDATE feeds SET raw_basis = x'00'", [])
        .unwrap();
    drop(conn);
    check(&night(&demo, "2026-11-27T04:00:00Z", &[]), "hash basis");
    // And the next night skips again.
    let next = night(&demo, "2026-11-28T04:00:00Z", &[]);
    assert_eq!(
        (next.mapped, next.skipped),
        (unchanged.mapped, unchanged.skipped)
    );
}

/// The extract of night `n` (from 0) of a messy site of `rows` rows: night 2 (`n` = 1) one
/// percent changed; night 3 changed back, and one row in 40 gone.
fn messy_night(n: usize, p: &Path, rows: u64) {
    generate(p, rows, true, if n == 1 { 10 } else { 0 });
    if n == 2 {
        let bytes = std::fs::read(p).unwrap();
        let kept: Vec<&[u8]> = bytes
            .split_inclusive(|&b| b == b'\n')
            .enumerate()
            .filter(|(i, _)| *i == 0 || i % 40 != 7)
            .map(|(_, l)| l)
            .collect();
        std::fs::write(p, kept.concat()).unwrap();
    }
}

#[test]
fn over_three_messy_nights_a_skipping_delta_sends_what_a_mapping_delta_sends() {
    let skipping = site(2500, true);
    let mapping = site(2500, true);
    // Night 2: one percent changed; night 3: changed back, and some people gone.
    let make = |n: usize, p: &Path| messy_night(n, p, 2500);
    let mut skipped = 0;
    for (n, now) in NIGHT.iter().take(3).enumerate() {
        make(n, &skipping.people());
        make(n, &mapping.people());
        let a = night(&skipping, now, &[]);
        let b = night(&mapping, now, &["--map-everyone"]);
        assert_eq!(b.skipped, 0);
        assert_eq!(a.zips, b.zips, "night {}: the same files and bytes", n + 1);
        assert_eq!(a.rows, b.rows, "night {}: the same row counts", n + 1);
        assert_eq!(a.sent, b.sent, "night {}", n + 1);
        skipped += a.skipped;
    }
    assert!(skipped > 2000, "the skipping site skipped {skipped}");
    assert_eq!(skipping.export(), mapping.export());
}

/// Every zip in the drop folder, by name, with its text.
#[cfg(feature = "fault-injection")]
fn delivered(demo: &Demo) -> Vec<(String, String)> {
    demo.drop_zips()
        .into_iter()
        .map(|z| {
            let name = z.file_name().unwrap().to_string_lossy().into_owned();
            (name, unzip_text(&z))
        })
        .collect()
}

/// A delta run killed at the fault `point` (see `cli/src/pipeline/fault.rs`).
#[cfg(feature = "fault-injection")]
fn killed(demo: &Demo, now: &str, extra: &[&str], point: &str) {
    let mut args = vec!["--mode", "delta"];
    args.extend_from_slice(extra);
    let out = demo.run_env(now, &args, &[("ALMA_SIS_TEST_FAULT", point)]);
    assert_eq!(out.status.code(), None, "killed at {point}: {out:?}");
}

#[cfg(feature = "fault-injection")]
#[test]
fn nights_killed_midway_leave_a_skipping_delta_sending_what_a_mapping_delta_sends() {
    let skipping = site(2000, true);
    let mapping = site(2000, true);
    let both = |f: &dyn Fn(&Demo, &[&str])| {
        f(&skipping, &[]);
        f(&mapping, &["--map-everyone"]);
    };
    both(&|d, extra| {
        night(d, NIGHT[0], extra);
    });
    // Night 2, one percent changed: killed in the pass with the run's writes open (the
    // skips already settled), then run again.
    both(&|d, _| generate(&d.people(), 2000, true, 10));
    both(&|d, extra| killed(d, NIGHT[1], extra, "during-record"));
    both(&|d, extra| {
        night(d, NIGHT[1], extra);
    });
    // Night 3, changed back: killed after delivering, before recording; then night 4.
    both(&|d, _| generate(&d.people(), 2000, true, 0));
    both(&|d, extra| killed(d, NIGHT[2], extra, "after-package"));
    let a = night(&skipping, NIGHT[3], &[]);
    let b = night(&mapping, NIGHT[3], &["--map-everyone"]);
    assert_eq!((a.rows, a.sent), (b.rows, b.sent));
    assert!(a.skipped > 0, "the skipping site skipped nobody: {a:?}");
    assert_eq!(
        delivered(&skipping),
        delivered(&mapping),
        "the same files and bytes"
    );
    assert_eq!(skipping.export(), mapping.export());
}

/// Makes a site's state file over as version 3 left it: each user's content hash the first
/// 12 bytes of a SHA-256 (taken from the users of the zips delivered so far, read back and
/// rendered again, which must give the bytes delivered), schema version 3.
fn as_version_3_left_it(demo: &Demo) -> usize {
    use alma_sis_state::ContentHash;
    let conn = rusqlite::Connection::open(demo.root().join("out/alma-sis-state.sqlite")).unwrap();
    let mut converted = 0;
    for zip in demo.drop_zips() {
        let xml = unzip_text(&zip);
        for read in alma_user_model::UserReader::new(xml.as_bytes()) {
            let user = read.unwrap().user;
            let mut again = Vec::new();
            let xxh3 = ContentHash::render_user(&user, &mut again).unwrap();
            let again = String::from_utf8(again).unwrap();
            assert!(
                xml.contains(&again),
                "{} renders as delivered",
                user.primary_id
            );
            let sha = ContentHash::render_user_sha256(&user, &mut Vec::new()).unwrap();
            // Found by its hash: the item whose hash is this user's as delivered last.
            converted += conn
                .execute(
                    "UPDATE items SET hash = ?1 WHERE hash = ?2",
                    rusqlite::params![sha.stored(), xxh3.stored()],
                )
                .unwrap();
        }
    }
    // As version 3 wrote it: every `last_sent` a date, no `feeds.full_sent`.
    conn.execute_batch(
        "UPDATE items SET last_sent = (SELECT full_sent FROM feeds f WHERE f.feed = items.feed) \
         WHERE last_sent = -1; ALTER TABLE feeds DROP COLUMN full_sent; \
         PRAGMA user_version = 3;",
    )
    .unwrap();
    converted
}

/// How many items have a hash of each length, by length.
fn hash_lengths(demo: &Demo) -> Vec<(i64, i64)> {
    let conn = rusqlite::Connection::open(demo.root().join("out/alma-sis-state.sqlite")).unwrap();
    conn.prepare("SELECT length(hash), count(*) FROM items GROUP BY 1 ORDER BY 1")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_state_file_whose_hashes_an_earlier_version_took_with_sha256_sends_what_one_never_so_sends() {
    let upgraded = site(2000, true);
    let control = site(2000, true);
    let first = night(&upgraded, NIGHT[0], &[]);
    assert_eq!(first, night(&control, NIGHT[0], &[]));
    let converted = as_version_3_left_it(&upgraded);
    assert_eq!(converted as u64, first.sent);
    assert_eq!(hash_lengths(&upgraded), [(12, converted as i64)]);
    // Night 2, one percent changed: a delta skips the unchanged (their SHA-256s stay) and
    // compares the changed; night 3, changed back and some people gone, a full run compares
    // everyone; night 4, a delta.
    let make = |n: usize, p: &Path| messy_night(n, p, 2000);
    for (n, now) in NIGHT.iter().enumerate().skip(1) {
        make(n, &upgraded.people());
        make(n, &control.people());
        let extra: &[&str] = if n == 2 { &["--mode", "full"] } else { &[] };
        let a = night(&upgraded, now, extra);
        let b = night(&control, now, extra);
        assert_eq!(
            a,
            b,
            "night {}: the same people mapped, sent, files and bytes",
            n + 1
        );
        let lengths = hash_lengths(&upgraded);
        match n {
            1 => assert!(lengths.iter().any(|&(l, _)| l == 12), "{lengths:?}"),
            // After the full run only the vanished keep a SHA-256.
            _ => {
                let shas = lengths
                    .iter()
                    .find(|&&(l, _)| l == 12)
                    .map_or(0, |&(_, c)| c);
                assert!(shas <= 2000 / 40 + 1, "{lengths:?}");
            }
        }
    }
    // What the two files record is the same, but for the hashes of the vanished.
    let strip = regex::Regex::new(r#""hash":"[0-9a-f]*""#).unwrap();
    assert_eq!(
        strip.replace_all(&upgraded.export(), ""),
        strip.replace_all(&control.export(), "")
    );
}
