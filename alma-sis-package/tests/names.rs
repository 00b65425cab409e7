//! File names from patterns, config validation, no overwrite, mode 0600, the XML comment.

use alma_sis_package::{PackageConfig, PackageError, package};

use crate::support::{config, external_readers_accept, listing, run_info, users};

#[test]
fn default_names_carry_institution_feed_timestamp_run_and_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let config = PackageConfig {
        users_per_file: 1,
        files_per_zip: 2,
        ..PackageConfig::default()
    };
    let written = package(dir.path(), &config, &run_info(), users(3)).unwrap();
    assert_eq!(
        listing(dir.path()),
        [
            "TEST_patrons_20261123040000_r1_01.zip",
            "TEST_patrons_20261123040000_r1_02.zip",
            "TEST_patrons_20261123040000_r1_manifest.json",
        ]
    );
    let entries: Vec<&str> = written
        .manifest
        .files
        .iter()
        .flat_map(|f| f.entries.iter().map(|e| e.name.as_str()))
        .collect();
    assert_eq!(
        entries,
        [
            "TEST_patrons_20261123040000_001.xml",
            "TEST_patrons_20261123040000_002.xml",
            "TEST_patrons_20261123040000_003.xml",
        ]
    );
    external_readers_accept(&written);
}

#[test]
fn custom_patterns_are_rendered() {
    let dir = tempfile::tempdir().unwrap();
    let config = PackageConfig {
        zip_name: "sis-{feed}-{zip}-{institution}-{run}.zip".into(),
        xml_name: "{timestamp}.{part}.xml".into(),
        manifest_name: "{feed}.{run}.json".into(),
        ..config(10)
    };
    let mut run = run_info();
    run.run_id = 42;
    let written = package(dir.path(), &config, &run, users(1)).unwrap();
    assert_eq!(
        listing(dir.path()),
        ["patrons.42.json", "sis-patrons-01-TEST-42.zip"]
    );
    assert_eq!(
        written.manifest.files[0].entries[0].name,
        "20261123040000.001.xml"
    );
    external_readers_accept(&written);
}

/// Expects `config` to be refused with an error naming `key` and containing `says`.
fn check_invalid(config: PackageConfig, key: &str, says: &str) {
    let err = config.validate().unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, PackageError::Config { key: k, .. } if k == key),
        "{message}"
    );
    assert!(
        message.contains(says),
        "{message:?} should contain {says:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    assert!(package(dir.path(), &config, &run_info(), users(1)).is_err());
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[test]
fn settings_outside_alma_limits_or_bad_patterns_are_refused() {
    let d = PackageConfig::default;
    check_invalid(
        PackageConfig {
            users_per_file: 0,
            ..d()
        },
        "package.users_per_file",
        "at least 1",
    );
    check_invalid(
        PackageConfig {
            files_per_zip: 51,
            ..d()
        },
        "package.files_per_zip",
        "1 to 50",
    );
    check_invalid(
        PackageConfig {
            files_per_zip: 0,
            ..d()
        },
        "package.files_per_zip",
        "1 to 50",
    );
    check_invalid(
        PackageConfig {
            max_zips: 21,
            ..d()
        },
        "package.max_zips",
        "1 to 20",
    );
    check_invalid(
        PackageConfig {
            max_zip_bytes: 4_000_000_000,
            ..d()
        },
        "package.max_zip_bytes",
        "4 GB",
    );
    check_invalid(
        PackageConfig {
            zip_name: "{feed}_{run}.zip".into(),
            ..d()
        },
        "package.zip_name",
        "must contain {zip}",
    );
    check_invalid(
        PackageConfig {
            zip_name: "{feed}_{timestamp}_{zip}.zip".into(),
            ..d()
        },
        "package.zip_name",
        "must contain {run} so no two runs share a name",
    );
    check_invalid(
        PackageConfig {
            manifest_name: "{feed}_{timestamp}.json".into(),
            ..d()
        },
        "package.manifest_name",
        "must contain {run}",
    );
    check_invalid(
        PackageConfig {
            zip_name: "{feed}_{run}_{zip}.tar".into(),
            ..d()
        },
        "package.zip_name",
        "must end in .zip",
    );
    check_invalid(
        PackageConfig {
            zip_name: "{feed}_{run}_{zip}_{part}.zip".into(),
            ..d()
        },
        "package.zip_name",
        "cannot use {part}",
    );
    check_invalid(
        PackageConfig {
            xml_name: "{feed}.xml".into(),
            ..d()
        },
        "package.xml_name",
        "must contain {part}",
    );
    check_invalid(
        PackageConfig {
            xml_name: "{feed}_{zip}_{part}.xml".into(),
            ..d()
        },
        "package.xml_name",
        "cannot use {zip}",
    );
    check_invalid(
        PackageConfig {
            xml_name: "{date}_{part}.xml".into(),
            ..d()
        },
        "package.xml_name",
        "uses {date}",
    );
    check_invalid(
        PackageConfig {
            manifest_name: "{feed.json".into(),
            ..d()
        },
        "package.manifest_name",
        "without a closing",
    );
    check_invalid(
        PackageConfig {
            manifest_name: "{feed}{run}.txt".into(),
            ..d()
        },
        "package.manifest_name",
        "must end in .json",
    );
}

#[test]
fn names_that_are_not_plain_file_names_are_refused() {
    for institution in ["../etc", "a/b", ".hidden", "UNI VERSITY", "Ünï"] {
        let dir = tempfile::tempdir().unwrap();
        let mut run = run_info();
        run.institution = institution.into();
        let config = PackageConfig {
            zip_name: "{institution}{run}{zip}.zip".into(),
            manifest_name: "{institution}{feed}{run}.json".into(),
            xml_name: "{institution}{part}.xml".into(),
            ..config(5)
        };
        match package(dir.path(), &config, &run, users(1)) {
            Err(PackageError::Name { name, .. }) => assert!(name.contains(institution), "{name}"),
            other => panic!("{institution:?}: expected a Name error, got {other:?}"),
        }
        assert_eq!(listing(dir.path()), Vec::<String>::new());
    }
}

#[test]
fn an_existing_file_is_never_overwritten() {
    for existing in [
        "TEST_patrons_20261123040000_r1_01.zip",
        "TEST_patrons_20261123040000_r1_manifest.json",
        "TEST_patrons_20261123040000_r1_01.zip.partial",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(existing);
        std::fs::write(&path, b"keep me").unwrap();
        match package(dir.path(), &config(5), &run_info(), users(3)) {
            Err(PackageError::Exists { path: p }) => assert_eq!(p, path),
            other => panic!("{existing}: expected Exists, got {other:?}"),
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
        assert_eq!(listing(dir.path()), [existing], "nothing else is left");
    }
}

#[test]
fn a_second_run_with_the_same_timestamp_gets_names_of_its_own_and_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let first = package(dir.path(), &config(5), &run_info(), users(3)).unwrap();
    let before = listing(dir.path());
    // The same run id again (a caller's bug) is refused, never overwrites.
    let again = package(dir.path(), &config(5), &run_info(), users(3));
    assert!(
        matches!(again, Err(PackageError::Exists { .. })),
        "{again:?}"
    );
    assert_eq!(listing(dir.path()), before);
    let mut next = run_info();
    next.run_id += 1;
    let second = package(dir.path(), &config(5), &next, users(3)).unwrap();
    assert_eq!(listing(dir.path()).len(), 2 * before.len());
    for (a, b) in first.files.iter().zip(&second.files) {
        assert_ne!(a.name, b.name);
        assert_eq!(
            a.sha256, b.sha256,
            "same users, config and timestamp: same bytes"
        );
    }
}

#[cfg(unix)]
#[test]
fn files_are_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    package(dir.path(), &config(2), &run_info(), users(5)).unwrap();
    for name in listing(dir.path()) {
        let mode = std::fs::metadata(dir.path().join(&name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
}

#[test]
fn every_xml_file_starts_with_the_tool_version_and_config_hash() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let written = package(dir.path(), &config(2), &run_info(), users(3)).unwrap();
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(&written.files[0].path).unwrap()).unwrap();
    for i in 0..archive.len() {
        let mut xml = String::new();
        archive
            .by_index(i)
            .unwrap()
            .read_to_string(&mut xml)
            .unwrap();
        let head: Vec<&str> = xml.lines().take(3).collect();
        assert_eq!(
            head,
            [
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                &format!(
                    "<!-- alma-sis 0.0.0-test config-sha256 {} -->",
                    run_info().config_sha256
                ),
                "<users>",
            ]
        );
    }
}

#[test]
fn a_user_the_xml_writer_refuses_fails_the_run_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = users(7);
    all[5].first_name = Some("bell\u{7}".into());
    match package(dir.path(), &config(2), &run_info(), &all) {
        Err(PackageError::Xml { entry, source }) => {
            assert_eq!(entry, "TEST_patrons_20261123040000_003.xml");
            assert!(source.to_string().contains("u00005"), "{source}");
        }
        other => panic!("expected an Xml error, got {other:?}"),
    }
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[test]
fn entries_carry_the_run_timestamp_and_one_outside_the_zip_range_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let written = package(dir.path(), &config(2), &run_info(), users(3)).unwrap();
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(&written.files[0].path).unwrap()).unwrap();
    for i in 0..archive.len() {
        let time = archive.by_index(i).unwrap().last_modified().unwrap();
        let parts = (
            time.year(),
            time.month(),
            time.day(),
            time.hour(),
            time.minute(),
            time.second(),
        );
        assert_eq!(parts, (2026, 11, 23, 4, 0, 0));
    }

    let dir = tempfile::tempdir().unwrap();
    let mut run = run_info();
    run.timestamp = "1979-12-31T23:59:58".parse().unwrap();
    let refused = package(dir.path(), &config(2), &run, users(3));
    assert!(
        matches!(refused, Err(PackageError::Timestamp { .. })),
        "{refused:?}"
    );
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[test]
fn the_family_of_a_feeds_zip_names_matches_every_run_and_earlier_versions() {
    let family = |zip_name: &str| {
        PackageConfig {
            zip_name: zip_name.into(),
            ..PackageConfig::default()
        }
        .zip_family("DEMO", "patrons")
    };
    assert_eq!(
        PackageConfig::default().zip_family("DEMO", "patrons"),
        "DEMO_patrons_*.zip"
    );
    assert_eq!(
        family("sis-{feed}-{zip}-{institution}-{run}.zip"),
        "sis-patrons-*.zip"
    );
    assert_eq!(family("{run}_{zip}.zip"), "*.zip");
    // Every name the pattern gives falls in the family, and so do earlier versions' names.
    let dir = tempfile::tempdir().unwrap();
    let written = package(dir.path(), &config(2), &run_info(), users(5)).unwrap();
    let fam = config(2).zip_family("TEST", "patrons");
    for file in &written.files {
        assert!(sftp_like_match(&fam, &file.name), "{} in {fam}", file.name);
    }
    assert!(sftp_like_match(&fam, "TEST_patrons_20261123040000_01.zip"));
    assert!(!sftp_like_match(
        &fam,
        "OTHER_patrons_20261123040000_r1_01.zip"
    ));
}

/// `*` matches any run of characters (what the destinations use).
fn sftp_like_match(pattern: &str, name: &str) -> bool {
    let (prefix, suffix) = pattern.split_once('*').unwrap();
    name.len() >= prefix.len() + suffix.len() && name.starts_with(prefix) && name.ends_with(suffix)
}
