//! The delivery contract every destination keeps, as checks over a local view of its folder.

use std::path::Path;

use sftp_deliver::{DeliverError, Destination, StaleFile};

use super::{mode, names, sha256, write_payload};

/// What a stale-file policy should have done.
#[derive(Debug, Clone, Copy)]
pub enum StaleExpect {
    Refused,
    Left,
    Archived,
}

/// An unprocessed zip and a processed one sit in `target`; delivering a new zip must behave
/// as the policy says, and never delete or change either.
pub fn check_stale(dest: &mut dyn Destination, target: &Path, expect: StaleExpect) {
    std::fs::create_dir_all(target).expect("target folder");
    std::fs::write(target.join("DEMO_old.zip"), b"old").expect("stale zip");
    std::fs::write(target.join("DEMO_older.zip.handled"), b"older").expect("handled zip");
    let local = tempfile::tempdir().expect("temp dir");
    let file = local.path().join("new.zip");
    write_payload(&file, 1000);
    let result = dest.deliver(&file, "DEMO_new.zip", &mut |_| {});
    match expect {
        StaleExpect::Refused => {
            match result {
                Err(DeliverError::StaleFiles { names, .. }) => assert_eq!(names, ["DEMO_old.zip"]),
                other => panic!("expected StaleFiles, got {other:?}"),
            }
            assert_eq!(names(target), ["DEMO_old.zip", "DEMO_older.zip.handled"]);
        }
        StaleExpect::Left => {
            let delivered = result.expect("delivered");
            assert_eq!(
                delivered.stale,
                [StaleFile {
                    name: "DEMO_old.zip".into(),
                    archived_to: None
                }]
            );
            assert_eq!(
                names(target),
                ["DEMO_new.zip", "DEMO_old.zip", "DEMO_older.zip.handled"]
            );
        }
        StaleExpect::Archived => {
            let delivered = result.expect("delivered");
            assert_eq!(delivered.stale.len(), 1, "{:?}", delivered.stale);
            assert_eq!(delivered.stale[0].name, "DEMO_old.zip");
            let to = delivered.stale[0].archived_to.as_deref().unwrap_or("");
            assert!(to.ends_with("archive/DEMO_old.zip"), "archived to {to:?}");
            assert_eq!(
                names(target),
                ["DEMO_new.zip", "DEMO_older.zip.handled", "archive"]
            );
            assert_eq!(
                std::fs::read(target.join("archive/DEMO_old.zip")).expect("archived"),
                b"old"
            );
        }
    }
    assert_eq!(
        std::fs::read(target.join("DEMO_older.zip.handled")).expect("untouched"),
        b"older"
    );
}

/// While bytes flow, only a hidden temporary name not ending in .zip exists; afterwards the
/// final name holds exactly the bytes sent, mode 0600, and no temporary file remains.
pub fn check_temp_then_rename(dest: &mut dyn Destination, target: &Path, len: usize) {
    let local = tempfile::tempdir().expect("temp dir");
    let file = local.path().join("payload.zip");
    let bytes = write_payload(&file, len);
    let mut seen_during = Vec::new();
    let delivered = dest
        .deliver(&file, "DEMO_patrons_20261123040000.zip", &mut |done| {
            if done < len as u64 {
                seen_during = names(target);
            }
        })
        .expect("delivered");
    assert_eq!(seen_during.len(), 1, "during the upload: {seen_during:?}");
    let temp = &seen_during[0];
    assert!(
        temp.starts_with('.') && !temp.ends_with(".zip"),
        "temporary name {temp:?}"
    );
    let final_path = target.join("DEMO_patrons_20261123040000.zip");
    assert_eq!(names(target), ["DEMO_patrons_20261123040000.zip"]);
    let landed = std::fs::read(&final_path).expect("final file");
    assert_eq!(
        sha256(&landed),
        sha256(&bytes),
        "bytes on the server differ"
    );
    assert_eq!(delivered.sha256, sha256(&bytes));
    assert_eq!(delivered.size, len as u64);
    assert_eq!(mode(&final_path), 0o600);
}

/// A final name that exists is refused, and the existing file is left as it was.
pub fn check_no_overwrite(dest: &mut dyn Destination, target: &Path) {
    std::fs::create_dir_all(target).expect("target folder");
    std::fs::write(target.join("DEMO_taken.zip"), b"first").expect("existing");
    let local = tempfile::tempdir().expect("temp dir");
    let file = local.path().join("second.zip");
    write_payload(&file, 100);
    match dest.deliver(&file, "DEMO_taken.zip", &mut |_| {}) {
        Err(DeliverError::AlreadyExists { location }) => {
            assert!(location.ends_with("DEMO_taken.zip"), "{location}")
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(names(target), ["DEMO_taken.zip"]);
    assert_eq!(
        std::fs::read(target.join("DEMO_taken.zip")).expect("kept"),
        b"first"
    );
}

/// Pulling `courses_*.csv` fetches exactly the matching files, byte for byte, mode 0600.
pub fn check_pull(dest: &mut dyn Destination, remote: &Path, from: &str) {
    std::fs::create_dir_all(remote).expect("remote folder");
    let a = write_payload(&remote.join("courses_a.csv"), 5000);
    let b = write_payload(&remote.join("courses_b.csv"), 70_000);
    write_payload(&remote.join("other.txt"), 10);
    write_payload(&remote.join(".courses_c.csv.1.part"), 10);
    let into = tempfile::tempdir().expect("temp dir");
    let pulled = dest
        .pull(from, "courses_*.csv", into.path())
        .expect("pulled");
    let got: Vec<(&str, u64, &str)> = pulled
        .iter()
        .map(|p| (p.name.as_str(), p.size, p.sha256.as_str()))
        .collect();
    let (sa, sb) = (sha256(&a), sha256(&b));
    assert_eq!(
        got,
        [
            ("courses_a.csv", 5000, sa.as_str()),
            ("courses_b.csv", 70_000, sb.as_str())
        ]
    );
    assert_eq!(names(into.path()), ["courses_a.csv", "courses_b.csv"]);
    assert_eq!(
        sha256(&std::fs::read(into.path().join("courses_b.csv")).expect("pulled")),
        sb
    );
    assert_eq!(mode(&into.path().join("courses_a.csv")), 0o600);
    // Pulling again refuses to overwrite what is there.
    assert!(matches!(
        dest.pull(from, "courses_*.csv", into.path()),
        Err(DeliverError::AlreadyExists { .. })
    ));
}

/// A temporary file an interrupted earlier run left behind is neither reused nor deleted:
/// the delivery takes the next temporary name.
pub fn check_leftover_temp(dest: &mut dyn Destination, target: &Path) {
    std::fs::create_dir_all(target).expect("target folder");
    let leftover = ".DEMO_again.zip.1.part";
    std::fs::write(target.join(leftover), b"half").expect("leftover");
    let local = tempfile::tempdir().expect("temp dir");
    let file = local.path().join("again.zip");
    let bytes = write_payload(&file, 2000);
    dest.deliver(&file, "DEMO_again.zip", &mut |_| {})
        .expect("delivered");
    assert_eq!(names(target), [leftover, "DEMO_again.zip"]);
    assert_eq!(std::fs::read(target.join(leftover)).expect("kept"), b"half");
    assert_eq!(
        sha256(&std::fs::read(target.join("DEMO_again.zip")).expect("final")),
        sha256(&bytes)
    );
}
