//! Verification reads every zip back: one changed byte, a lying manifest or a broken entry is
//! a clear error.

use std::path::Path;

use alma_sis_package::{Manifest, Package, VerifyError, package, sha256_file, verify};

use crate::support::{config, run_info, users};

fn written(dir: &Path) -> Package {
    package(dir, &config(2), &run_info(), users(5)).unwrap()
}

/// Flips one byte of the zip at `offset(len)` and expects a sha256 mismatch naming the zip.
fn check_flipped(offset: fn(u64) -> u64) {
    let dir = tempfile::tempdir().unwrap();
    let package = written(dir.path());
    verify(dir.path(), &package.manifest).unwrap();
    let zip = &package.files[0].path;
    let mut bytes = std::fs::read(zip).unwrap();
    let at = offset(bytes.len() as u64) as usize;
    bytes[at] ^= 0x01;
    std::fs::write(zip, &bytes).unwrap();
    let err = verify(dir.path(), &package.manifest).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Sha256 { path, .. } if path == zip),
        "byte {at}: {err:?}"
    );
    assert!(
        err.to_string().contains("changed after it was written"),
        "{err}"
    );
}

#[test]
fn changing_one_byte_anywhere_fails_verification() {
    check_flipped(|_| 0);
    check_flipped(|_| 45);
    check_flipped(|len| len / 2);
    check_flipped(|len| len - 22);
    check_flipped(|len| len - 1);
}

/// Changes the manifest with `tamper` and expects verification to fail with `says`.
fn check_tampered(tamper: fn(&mut Manifest), says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = written(dir.path()).manifest;
    tamper(&mut manifest);
    let err = verify(dir.path(), &manifest).unwrap_err().to_string();
    assert!(err.contains(says), "{err:?} should contain {says:?}");
}

#[test]
fn a_manifest_that_does_not_match_the_zip_fails_verification() {
    check_tampered(|m| m.files[0].size += 1, "the manifest says");
    check_tampered(
        |m| m.files[0].entries.pop().map(drop).unwrap_or(()),
        "holds 3 entries, the manifest says 2",
    );
    check_tampered(
        |m| m.files[0].entries[1].name = "other.xml".into(),
        "has name TEST_patrons_20261123040000_002.xml, the manifest says other.xml",
    );
    check_tampered(|m| m.files[0].entries[0].crc32 ^= 1, "has crc32");
    check_tampered(|m| m.files[0].entries[0].size += 1, "has size");
    check_tampered(
        |m| m.files[0].entries[2].users = 2,
        "holds 1 users, the manifest says 2",
    );
    check_tampered(
        |m| m.users = 6,
        "the manifest's user count is 6, its files add up to 5",
    );
    check_tampered(
        |m| m.files[0].name = "../escape.zip".into(),
        "the manifest names \"../escape.zip\"",
    );
}

/// Corrupts the compressed data, then makes the manifest's size and sha256 agree, so only
/// reading the entries back can find it.
#[test]
fn a_corrupt_entry_is_found_by_reading_it_back_not_only_by_the_hash() {
    let dir = tempfile::tempdir().unwrap();
    let mut package = written(dir.path());
    let zip = package.files[0].path.clone();
    let mut bytes = std::fs::read(&zip).unwrap();
    let name_len = package.manifest.files[0].entries[0].name.len();
    let data = 30 + name_len + 8;
    for b in &mut bytes[data..data + 8] {
        *b ^= 0x55;
    }
    std::fs::write(&zip, &bytes).unwrap();
    let (size, sha256) = sha256_file(&zip).unwrap();
    package.manifest.files[0].size = size;
    package.manifest.files[0].sha256 = sha256;
    let err = verify(dir.path(), &package.manifest).unwrap_err();
    assert!(
        matches!(
            &err,
            VerifyError::Data { entry, .. } if entry == "TEST_patrons_20261123040000_001.xml"
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("TEST_patrons_20261123040000_r1_01.zip"),
        "{err}"
    );
}

/// Changes a local header's CRC (so it disagrees with the central directory and the
/// manifest), then makes the manifest's size and sha256 agree: the structure check finds it.
#[test]
fn a_local_header_that_disagrees_with_the_directory_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let mut package = written(dir.path());
    let zip = package.files[0].path.clone();
    let mut bytes = std::fs::read(&zip).unwrap();
    bytes[14] ^= 0x01;
    std::fs::write(&zip, &bytes).unwrap();
    let (size, sha256) = sha256_file(&zip).unwrap();
    package.manifest.files[0].size = size;
    package.manifest.files[0].sha256 = sha256;
    let err = verify(dir.path(), &package.manifest).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Entry { field, .. } if *field == "local header crc32"),
        "{err:?}"
    );
}
