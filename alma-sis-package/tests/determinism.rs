//! The same users, config and timestamp give byte-identical zips and manifests, whichever
//! worker compressed which part.

use std::collections::BTreeMap;

use alma_sis_package::{PackageConfig, RunInfo, package};

use crate::support::{config, external_readers_accept, listing, run_info, users};

/// Every file in `dir` by name, with its bytes.
fn contents(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    listing(dir)
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            (name, bytes)
        })
        .collect()
}

/// Packages `n` users twice into fresh directories, checks the files are identical and that
/// the external readers accept them; returns the files.
fn run_twice(n: usize, config: &PackageConfig, run: &RunInfo) -> BTreeMap<String, Vec<u8>> {
    let all = users(n);
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let written = package(first.path(), config, run, &all).unwrap();
    // The second run streams owned clones: how users arrive does not change the bytes.
    package(second.path(), config, run, all.clone()).unwrap();
    let (a, b) = (contents(first.path()), contents(second.path()));
    assert_eq!(a, b, "two runs differ");
    external_readers_accept(&written);
    a
}

#[test]
fn same_input_config_and_timestamp_give_identical_files() {
    for (n, per_file) in [(0, 5), (1, 5), (17, 5), (230, 7)] {
        let files = run_twice(n, &config(per_file), &run_info());
        assert_eq!(files.len(), usize::from(n > 0) + 1, "{files:?}");
    }
}

#[test]
fn many_parts_compressed_in_parallel_are_identical_run_after_run() {
    let config = PackageConfig {
        users_per_file: 3,
        files_per_zip: 7,
        ..PackageConfig::default()
    };
    let reference = run_twice(200, &config, &run_info());
    for _ in 0..3 {
        assert_eq!(run_twice(200, &config, &run_info()), reference);
    }
}

#[test]
fn another_timestamp_gives_other_names_and_entry_times() {
    let mut later = run_info();
    later.timestamp = "2026-11-24T04:00:00".parse().unwrap();
    let a = run_twice(3, &config(5), &run_info());
    let b = run_twice(3, &config(5), &later);
    assert!(
        a.keys().all(|k| k.contains("20261123040000")),
        "{:?}",
        a.keys()
    );
    assert!(
        b.keys().all(|k| k.contains("20261124040000")),
        "{:?}",
        b.keys()
    );
}

#[test]
fn the_manifest_of_a_small_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = PackageConfig {
        users_per_file: 2,
        files_per_zip: 2,
        ..PackageConfig::default()
    };
    let written = package(dir.path(), &config, &run_info(), users(5)).unwrap();
    let json = std::fs::read_to_string(&written.manifest_path).unwrap();
    let parsed: alma_sis_package::Manifest = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed, written.manifest);
    insta::assert_snapshot!(json);
}
