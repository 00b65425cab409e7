//! SIGINT (drop folder) and SIGTERM (real sshd) at three points of a big run: while the
//! extract is read, once the zips are packaged, and while zip 2 of 3 is uploaded. Each time
//! no partial file is left anywhere, the report is written with status `interrupted`, one
//! line says what was and was not delivered, the lock is free, the run state holds exactly
//! what arrived, and the next run is clean and sends the rest.
//!
//! The run is 300,000 rows with the release binary `cargo xtask ci` builds (it passes its path
//! in `ALMA_SIS_BIN`); a plain `cargo test` runs the debug binary on 20,000 rows (the same
//! code paths, a tenth of the time). `ALMA_SIS_BIG_ROWS` overrides the row count.

use std::path::PathBuf;
use std::sync::OnceLock;

use alma_sis_state::FeedLock;

use crate::site::{Kind, NOW, Site, expect, file_name, ids_in, kill, stderr, strings};

#[allow(dead_code)]
#[path = "../../xtask/src/synthetic.rs"]
pub(crate) mod synthetic;

/// The binary and the number of rows.
fn setup() -> (PathBuf, u64) {
    let release = std::env::var_os("ALMA_SIS_BIN").map(PathBuf::from);
    let rows = std::env::var("ALMA_SIS_BIG_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if release.is_some() { 300_000 } else { 20_000 });
    let bin = release.unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_alma-sis")));
    (bin, rows)
}

/// The synthetic extract, generated once per test process (deterministic: seed 15).
fn extract(rows: u64) -> &'static PathBuf {
    static EXTRACT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &EXTRACT
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("people.csv");
            let args: Vec<String> = [
                "--rows".to_owned(),
                rows.to_string(),
                "--seed".into(),
                "15".into(),
                "--out".into(),
                path.display().to_string(),
            ]
            .into();
            synthetic::gen_extract(&synthetic::GenOptions::parse(&args).unwrap()).unwrap();
            (dir, path)
        })
        .1
}

/// A site that runs the big extract in three zips.
fn big_site(kind: Kind) -> Option<Site> {
    let (bin, rows) = setup();
    // About 79% of the generated rows become users: three zips.
    let mut site = Site::new(kind, rows * 3 / 10, "")?;
    site.bin = bin;
    let config = std::fs::read_to_string(site.config()).unwrap();
    let config = config.replacen(
        "path = \"people.csv\"",
        &format!("path = \"{}\"", extract(rows).display()),
        1,
    );
    std::fs::write(site.config(), config).unwrap();
    Some(site)
}

/// Where the run is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    /// While the extract is read, after 1000 users.
    Reading,
    /// Once every zip is written and verified, before they get their final names.
    Packaged,
    /// While zip 2 of 3 is uploaded (zip 1 arrived).
    Uploading,
}

impl Point {
    fn pause(self) -> &'static str {
        match self {
            Point::Reading => "pass:1000",
            Point::Packaged => "packaged",
            Point::Uploading => "uploading:2",
        }
    }
}

fn check_interrupted(kind: Kind, signal: &str, code: i32, point: Point) {
    let Some(site) = big_site(kind) else { return };
    let what = format!("SIG{signal} {point:?} ({kind:?})");
    let out = site.run_paused(&["--now", NOW], point.pause(), |pid| kill(signal, pid));
    expect(&out, code);

    // One line says what was and was not delivered.
    let err = stderr(&out);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("error: interrupted by"))
        .collect();
    assert_eq!(lines.len(), 1, "{what}: {err}");
    let line = lines[0];
    assert!(line.contains(&format!("SIG{signal}")), "{what}: {line}");

    // The report, with its status.
    let report = site.report(1);
    assert_eq!(report["outcome"]["status"], "interrupted", "{what}");
    assert_eq!(report["outcome"]["exit_code"], code, "{what}");
    assert_eq!(site.outcome(1), "interrupted", "{what}");

    // No partial file anywhere; the lock is free.
    let partial = |names: Vec<String>| -> Vec<String> {
        names
            .into_iter()
            .filter(|n| n.ends_with(".partial") || n.ends_with(".part"))
            .collect()
    };
    assert!(
        partial(site.work_names()).is_empty(),
        "{what}: {:?}",
        site.work_names()
    );
    assert!(
        partial(site.target_names()).is_empty(),
        "{what}: {:?}",
        site.target_names()
    );
    let state = site.root().join("out/alma-sis-state.sqlite");
    drop(FeedLock::acquire(&state, "patrons").expect("the lock is free"));

    let zips = site.zips_of(1);
    match point {
        Point::Reading | Point::Packaged => {
            assert!(line.contains("nothing was delivered"), "{what}: {line}");
            assert!(zips.is_empty(), "{what}: nothing is published: {zips:?}");
            assert!(site.target_names().is_empty(), "{what}");
            assert!(site.recorded().is_empty(), "{what}");
        }
        Point::Uploading => {
            assert_eq!(zips.len(), 3, "{what}");
            let (first, rest) = (
                file_name(&zips[0]),
                [file_name(&zips[1]), file_name(&zips[2])],
            );
            assert!(
                line.contains("1 of 3 zip(s) reached")
                    && line.contains(&format!("not delivered: {}, {}", rest[0], rest[1])),
                "{what}: {line}"
            );
            assert_eq!(strings(&report["delivery"]["delivered"]), [first.as_str()]);
            assert_eq!(strings(&report["delivery"]["not_delivered"]), rest);
            assert_eq!(site.target_names(), [first], "{what}");
            assert_eq!(site.recorded(), ids_in(&zips[..1]), "{what}");
        }
    }

    // The next run is clean and sends the rest.
    let next = site.run(&["--now", "2026-11-24T04:00:00Z", "--mode", "delta"]);
    expect(&next, 0);
    let report = site.report(2);
    assert!(
        strings(&report["removed_partials"]).is_empty(),
        "{what}: {report}"
    );
    assert!(
        strings(&report["delivery"]["removed_leftovers"]).is_empty(),
        "{what}"
    );
    let sent = ids_in(&site.zips_of(2));
    match point {
        Point::Reading | Point::Packaged => {
            assert_eq!(
                report["counts"]["users_written"].as_u64().unwrap() as usize,
                sent.len()
            );
            assert_eq!(site.recorded(), sent, "{what}: everyone, once");
        }
        Point::Uploading => {
            assert_eq!(
                sent,
                ids_in(&zips[1..]),
                "{what}: the two zips that did not arrive"
            );
        }
    }
    assert!(partial(site.work_names()).is_empty(), "{what}");
}

#[test]
fn sigint_while_reading_a_big_run() {
    check_interrupted(Kind::Drop, "INT", 130, Point::Reading);
}

#[test]
fn sigint_once_a_big_run_is_packaged() {
    check_interrupted(Kind::Drop, "INT", 130, Point::Packaged);
}

#[test]
fn sigint_while_a_big_run_uploads_zip_2_of_3() {
    check_interrupted(Kind::Drop, "INT", 130, Point::Uploading);
}

#[test]
fn sigterm_while_reading_a_big_run() {
    check_interrupted(Kind::Sftp, "TERM", 143, Point::Reading);
}

#[test]
fn sigterm_once_a_big_run_is_packaged() {
    check_interrupted(Kind::Sftp, "TERM", 143, Point::Packaged);
}

#[test]
fn sigterm_while_a_big_run_uploads_zip_2_of_3() {
    check_interrupted(Kind::Sftp, "TERM", 143, Point::Uploading);
}
