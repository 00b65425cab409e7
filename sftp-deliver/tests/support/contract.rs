//! The delivery contract every destination keeps, as checks over a local view of its folder.

use std::path::Path;

use std::ops::ControlFlow;

use sftp_deliver::{DeliverError, Destination, Outgoing, StaleFile, Step};

use super::{mode, names, sha256, write_payload};

/// What a stale-file policy should have done.
#[derive(Debug, Clone, Copy)]
pub enum StaleExpect {
    Refused,
    Left,
    Archived,
}

/// Three local zips of one run, named as a run names them.
pub fn run_of_three(dir: &Path) -> Vec<Outgoing> {
    (1..=3)
        .map(|n| {
            let name = format!("DEMO_patrons_20261123040000_r7_{n:02}.zip");
            let local = dir.join(&name);
            write_payload(&local, 1000 * n);
            Outgoing::new(local, name)
        })
        .collect()
}

/// Never stops.
pub fn go_on(_: Step<'_>) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// An unprocessed zip of an earlier run, a processed one, a leftover `users.xml` and a
/// temporary file of ours sit in `target`; delivering a run of three zips must treat the
/// run's own zips as its own under every policy, behave as the policy says with the earlier
/// zip, remove our leftover and report all of it, and never delete or change anything else.
pub fn check_stale(dest: &mut dyn Destination, target: &Path, expect: StaleExpect) {
    std::fs::create_dir_all(target).expect("target folder");
    std::fs::write(target.join("DEMO_old.zip"), b"old").expect("stale zip");
    std::fs::write(target.join("DEMO_older.zip.handled"), b"older").expect("handled zip");
    std::fs::write(target.join("users.xml"), b"<users/>").expect("leftover xml");
    let ours = ".alma-sis.DEMO_patrons_20261123030000_r6_02.zip.1.part";
    std::fs::write(target.join(ours), b"half").expect("leftover temp");
    let local = tempfile::tempdir().expect("temp dir");
    let files = run_of_three(local.path());
    let outcome = dest.deliver_all(&files, "DEMO_patrons_*.zip", &mut go_on);
    let own: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(outcome.folder.removed_temps, [ours]);
    assert_eq!(outcome.folder.other_files, ["users.xml"]);
    let mut expected: Vec<&str> = vec!["DEMO_older.zip.handled", "users.xml"];
    match expect {
        StaleExpect::Refused => {
            match &outcome.failed {
                Some((0, DeliverError::StaleFiles { names, .. })) => {
                    assert_eq!(names, &["DEMO_old.zip"])
                }
                other => panic!("expected StaleFiles, got {other:?}"),
            }
            assert!(outcome.delivered.is_empty());
            expected.push("DEMO_old.zip");
        }
        StaleExpect::Left => {
            assert!(outcome.complete(), "{:?}", outcome.failed);
            assert_eq!(
                outcome.folder.stale,
                [StaleFile {
                    name: "DEMO_old.zip".into(),
                    archived_to: None
                }]
            );
            expected.push("DEMO_old.zip");
            expected.extend(&own);
        }
        StaleExpect::Archived => {
            assert!(outcome.complete(), "{:?}", outcome.failed);
            assert_eq!(outcome.folder.stale.len(), 1, "{:?}", outcome.folder.stale);
            assert_eq!(outcome.folder.stale[0].name, "DEMO_old.zip");
            let to = outcome.folder.stale[0].archived_to.as_deref().unwrap_or("");
            assert!(to.ends_with("archive/DEMO_old.zip"), "archived to {to:?}");
            assert_eq!(
                std::fs::read(target.join("archive/DEMO_old.zip")).expect("archived"),
                b"old"
            );
            expected.push("archive");
            expected.extend(&own);
        }
    }
    let delivered: Vec<&str> = outcome.delivered.iter().map(|d| d.name.as_str()).collect();
    if outcome.complete() {
        assert_eq!(delivered, own, "every zip of the run arrives, in order");
        for (file, d) in files.iter().zip(&outcome.delivered) {
            let landed = std::fs::read(target.join(&file.name)).expect("landed");
            assert_eq!(sha256(&landed), d.sha256);
            assert_eq!(
                sha256(&std::fs::read(&file.local).expect("local")),
                d.sha256
            );
        }
    }
    expected.sort_unstable();
    assert_eq!(names(target), expected);
    assert_eq!(
        std::fs::read(target.join("DEMO_older.zip.handled")).expect("untouched"),
        b"older"
    );
}

/// A batch stops at its first failure and says exactly which files arrived: the second
/// file's name is taken, so the first arrives, the second fails, the third is not tried.
pub fn check_batch_stops_at_first_failure(dest: &mut dyn Destination, target: &Path) {
    std::fs::create_dir_all(target).expect("target folder");
    let local = tempfile::tempdir().expect("temp dir");
    let files = run_of_three(local.path());
    std::fs::write(target.join(&files[1].name), b"taken").expect("existing");
    let outcome = dest.deliver_all(&files, "DEMO_patrons_*.zip", &mut go_on);
    let delivered: Vec<&str> = outcome.delivered.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(delivered, [files[0].name.as_str()]);
    assert!(
        matches!(
            outcome.failed,
            Some((1, DeliverError::AlreadyExists { .. }))
        ),
        "{:?}",
        outcome.failed
    );
    let mut expected = vec![files[0].name.clone(), files[1].name.clone()];
    expected.sort();
    assert_eq!(names(target), expected, "the third was never tried");
}

/// Stopping a batch while the second file's bytes flow: the first arrived, the second's
/// temporary file is gone, the third was not tried.
pub fn check_stop_mid_upload(dest: &mut dyn Destination, target: &Path) {
    std::fs::create_dir_all(target).expect("target folder");
    let local = tempfile::tempdir().expect("temp dir");
    let files = run_of_three(local.path());
    write_payload(&files[1].local, 3 * 1024 * 1024);
    let mut saw_temp = false;
    let outcome = dest.deliver_all(&files, "DEMO_patrons_*.zip", &mut |step| match step {
        Step::Bytes { index: 1, done } if done > 0 => {
            saw_temp = names(target).iter().any(|n| n.ends_with(".part"));
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    assert!(saw_temp, "the temporary file was never seen");
    assert!(
        matches!(&outcome.failed, Some((1, DeliverError::Stopped { name })) if name == &files[1].name),
        "{:?}",
        outcome.failed
    );
    assert_eq!(outcome.delivered.len(), 1);
    assert_eq!(names(target), [files[0].name.as_str()]);
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

/// Temporary files of ours that interrupted earlier attempts left (in this version's and
/// earlier versions' form) are removed before the upload and reported; anyone else's, and
/// ours for names outside the family, are left.
pub fn check_leftover_temps(dest: &mut dyn Destination, target: &Path) {
    std::fs::create_dir_all(target).expect("target folder");
    let ours = [
        ".alma-sis.DEMO_again.zip.1.part",
        ".alma-sis.DEMO_earlier.zip.3.part",
        ".DEMO_earlier.zip.1.part",
    ];
    let theirs = [
        ".alma-sis.OTHER_feed.zip.1.part",
        ".DEMO_again.zip.part",
        ".upload.tmp",
    ];
    for name in ours.iter().chain(&theirs) {
        std::fs::write(target.join(name), b"half").expect("leftover");
    }
    let local = tempfile::tempdir().expect("temp dir");
    let file = local.path().join("again.zip");
    let bytes = write_payload(&file, 2000);
    let outcome = dest.deliver_all(
        &[Outgoing::new(&file, "DEMO_again.zip")],
        "DEMO_*.zip",
        &mut go_on,
    );
    assert!(outcome.complete(), "{:?}", outcome.failed);
    let mut removed = ours.to_vec();
    removed.sort_unstable();
    assert_eq!(outcome.folder.removed_temps, removed);
    let mut left: Vec<&str> = theirs.to_vec();
    left.push("DEMO_again.zip");
    left.sort_unstable();
    assert_eq!(names(target), left);
    assert_eq!(
        sha256(&std::fs::read(target.join("DEMO_again.zip")).expect("final")),
        sha256(&bytes)
    );
}
