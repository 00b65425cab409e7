//! Splitting at the boundaries: users per XML file, XML files per zip, bytes per zip, zips per
//! run. Every zip written here is also opened by `unzip -t`, Python and the JDK.

use alma_sis_package::{PackageConfig, PackageError, package};

use crate::support::{config, external_readers_accept, listing, primary_ids, run_info, users};

/// Packages `n` users and expects this layout: per zip, the users of each XML file.
fn check(n: usize, config: PackageConfig, expected: &[&[u64]]) {
    let dir = tempfile::tempdir().unwrap();
    let all = users(n);
    let package = package(dir.path(), &config, &run_info(), &all).unwrap();
    let layout: Vec<Vec<u64>> = package
        .manifest
        .files
        .iter()
        .map(|f| f.entries.iter().map(|e| e.users).collect())
        .collect();
    let expected: Vec<Vec<u64>> = expected.iter().map(|z| z.to_vec()).collect();
    assert_eq!(layout, expected, "{n} users");
    assert_eq!(package.manifest.users, n as u64);
    let ids: Vec<String> = all.iter().map(|u| u.primary_id.clone()).collect();
    assert_eq!(primary_ids(&package), ids, "every user once, in order");
    assert_eq!(
        listing(dir.path()).len(),
        package.files.len() + 1,
        "the zips and the manifest, nothing else: {:?}",
        listing(dir.path())
    );
    external_readers_accept(&package);
}

#[test]
fn zero_users_write_no_zip_only_the_manifest() {
    check(0, config(3), &[]);
}

#[test]
fn one_user_is_one_file() {
    check(1, config(3), &[&[1]]);
}

#[test]
fn exactly_users_per_file_is_one_file() {
    check(3, config(3), &[&[3]]);
}

#[test]
fn one_more_than_users_per_file_starts_a_second_file() {
    check(4, config(3), &[&[3, 1]]);
}

#[test]
fn the_fifty_file_limit_reached_starts_a_second_zip() {
    let fifty_ones = [1u64; 50];
    check(50, config(1), &[&fifty_ones]);
    check(51, config(1), &[&fifty_ones, &[1]]);
    let fifty_twos = [2u64; 50];
    check(101, config(2), &[&fifty_twos, &[1]]);
}

#[test]
fn files_per_zip_is_configurable() {
    let config = PackageConfig {
        users_per_file: 2,
        files_per_zip: 2,
        ..PackageConfig::default()
    };
    check(7, config, &[&[2, 2], &[2, 1]]);
}

#[test]
fn bytes_per_zip_splits_zips_and_every_zip_stays_under_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = PackageConfig {
        users_per_file: 10,
        max_zip_bytes: 2_000,
        ..PackageConfig::default()
    };
    let all = users(95);
    let package = package(dir.path(), &config, &run_info(), &all).unwrap();
    assert!(package.files.len() > 1, "{:?}", package.manifest);
    for file in &package.files {
        assert!(file.size <= 2_000, "{} is {} bytes", file.name, file.size);
        assert_eq!(std::fs::metadata(&file.path).unwrap().len(), file.size);
    }
    let ids: Vec<String> = all.iter().map(|u| u.primary_id.clone()).collect();
    assert_eq!(primary_ids(&package), ids);
    external_readers_accept(&package);
}

/// Expects `TooManyZips { needed, max }` and an empty directory afterwards.
fn check_refused(
    result: Result<alma_sis_package::Package, PackageError>,
    dir: &std::path::Path,
    needed: u64,
    max: u32,
) {
    match result {
        Err(PackageError::TooManyZips { needed: n, max: m }) => {
            assert_eq!((n, m), (needed, max));
        }
        other => panic!("expected TooManyZips, got {other:?}"),
    }
    assert_eq!(listing(dir), Vec::<String>::new(), "nothing is left behind");
}

#[test]
fn more_than_twenty_zips_are_refused_and_nothing_is_left() {
    let one_per_zip = PackageConfig {
        users_per_file: 1,
        files_per_zip: 1,
        ..PackageConfig::default()
    };
    let all = users(21);

    // Known up front from the iterator's size.
    let dir = tempfile::tempdir().unwrap();
    check_refused(
        package(dir.path(), &one_per_zip, &run_info(), &all),
        dir.path(),
        21,
        20,
    );

    // Found while streaming: the iterator does not know its length.
    let dir = tempfile::tempdir().unwrap();
    let stream = all.iter().filter(|_| true);
    check_refused(
        package(dir.path(), &one_per_zip, &run_info(), stream),
        dir.path(),
        21,
        20,
    );

    // 1,001 users, one per file, 50 files per zip: 21 zips.
    let dir = tempfile::tempdir().unwrap();
    let many = users(1001);
    check_refused(
        package(
            dir.path(),
            &config(1),
            &run_info(),
            many.iter().filter(|_| true),
        ),
        dir.path(),
        21,
        20,
    );

    // Exactly twenty is fine.
    let dir = tempfile::tempdir().unwrap();
    let written = package(dir.path(), &one_per_zip, &run_info(), &all[..20]).unwrap();
    assert_eq!(written.files.len(), 20);
}

#[test]
fn a_byte_split_that_needs_more_zips_than_allowed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = PackageConfig {
        users_per_file: 10,
        max_zip_bytes: 2_000,
        max_zips: 2,
        ..PackageConfig::default()
    };
    let all = users(95);
    check_refused(
        package(dir.path(), &config, &run_info(), &all),
        dir.path(),
        3,
        2,
    );
}

#[test]
fn one_xml_file_larger_than_a_zip_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = PackageConfig {
        users_per_file: 1_000,
        max_zip_bytes: 1_024,
        ..PackageConfig::default()
    };
    match package(dir.path(), &config, &run_info(), users(1_000)) {
        Err(PackageError::PartTooLarge { entry, max, .. }) => {
            assert_eq!(entry, "TEST_patrons_20261123040000_001.xml");
            assert_eq!(max, 1_024);
        }
        other => panic!("expected PartTooLarge, got {other:?}"),
    }
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[test]
fn owned_users_stream_in() {
    let dir = tempfile::tempdir().unwrap();
    let stream = (0..25).map(|i| alma_user_model::User::new(format!("s{i}")));
    let written = package(dir.path(), &config(10), &run_info(), stream).unwrap();
    assert_eq!(written.manifest.users, 25);
    let ids: Vec<String> = (0..25).map(|i| format!("s{i}")).collect();
    assert_eq!(primary_ids(&written), ids);
}
