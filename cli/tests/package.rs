//! `[package]` through `alma-sis run`: split zips are all delivered and readable, a run that
//! needs more zips than allowed fails with exit 2 and delivers nothing, bad settings are refused.

use std::path::{Path, PathBuf};

use crate::support::{alma_sis, expect_code, workspace_root};

const NOW: &str = "2026-11-23T04:00:00Z";

/// Copies the demo into `dir` with `package` appended to its config; returns the config path.
fn demo_with(dir: &Path, package: &str) -> PathBuf {
    let demo = workspace_root().join("examples/demo");
    for entry in std::fs::read_dir(&demo).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let config = dir.join("alma-sis.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[package]\n");
    text.push_str(package);
    std::fs::write(&config, text).unwrap();
    config
}

fn run(dir: &Path, config: &Path) -> std::process::Output {
    alma_sis(
        dir,
        &["run", "--config", config.to_str().unwrap(), "--now", NOW],
    )
}

fn files_with(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == extension));
    files.sort();
    files
}

#[test]
fn a_split_run_delivers_every_zip_and_the_manifest_adds_up() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_with(tmp.path(), "users_per_file = 40\nfiles_per_zip = 2\n");
    let out = run(tmp.path(), &config);
    expect_code(&out, 0);
    let zips = files_with(&tmp.path().join("out/drop"), "zip");
    let manifests = files_with(&tmp.path().join("out"), "json")
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with("_manifest.json"))
        .collect::<Vec<_>>();
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    let manifest: alma_sis_package::Manifest =
        serde_json::from_slice(&std::fs::read(&manifests[0]).unwrap()).unwrap();
    let names: Vec<String> = zips
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let listed: Vec<String> = manifest.files.iter().map(|f| f.name.clone()).collect();
    assert_eq!(names, listed);
    assert!(zips.len() >= 2, "{names:?}");
    let per_zip: u64 = manifest.files.iter().map(|f| f.users).sum();
    assert_eq!(manifest.users, per_zip);
    assert_eq!(zips.len() as u64, manifest.users.div_ceil(40).div_ceil(2));
    for zip in &zips {
        let unzip = std::process::Command::new("unzip")
            .arg("-t")
            .arg(zip)
            .output()
            .unwrap();
        assert!(
            unzip.status.success(),
            "{}",
            String::from_utf8_lossy(&unzip.stdout)
        );
    }
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(
        summary.contains(&format!("{:>7}", manifest.users)),
        "the summary's users written is the manifest's:\n{summary}"
    );
    assert_eq!(
        alma_sis_package::verify(&tmp.path().join("out/drop"), &manifest).ok(),
        Some(())
    );
}

#[test]
fn a_run_that_needs_more_zips_than_allowed_fails_and_delivers_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_with(
        tmp.path(),
        "users_per_file = 1\nfiles_per_zip = 1\nmax_zips = 3\n",
    );
    let out = run(tmp.path(), &config);
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("package.max_zips is 3"), "{stderr}");
    assert_eq!(
        files_with(&tmp.path().join("out/drop"), "zip"),
        Vec::<PathBuf>::new()
    );
    assert_eq!(
        files_with(&tmp.path().join("out"), "zip"),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn package_settings_beyond_alma_limits_are_config_errors() {
    for (setting, says) in [
        ("files_per_zip = 51\n", "package.files_per_zip"),
        ("max_zips = 21\n", "package.max_zips"),
        ("zip_name = \"{feed}.zip\"\n", "package.zip_name"),
        ("users_per_zip = 3\n", "users_per_zip"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let config = demo_with(tmp.path(), setting);
        let out = run(tmp.path(), &config);
        expect_code(&out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{setting}: {stderr}");
    }
}
