//! README command 1: the whole pipeline on the demo, into a local drop folder.

use std::path::Path;

use crate::support::{alma_sis, expect_code, workspace_root, xmllint_validates};

const NOW: &str = "2026-11-23T04:00:00Z";

fn run_demo(cwd: &Path) -> String {
    let config = workspace_root().join("examples/demo/alma-sis.toml");
    let out = alma_sis(
        cwd,
        &["run", "--config", config.to_str().unwrap(), "--now", NOW],
    );
    expect_code(&out, 0);
    String::from_utf8(out.stdout).unwrap()
}

fn only_zip(dir: &Path) -> std::path::PathBuf {
    let zips: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    assert_eq!(
        zips.len(),
        1,
        "expected one zip in {}: {zips:?}",
        dir.display()
    );
    zips.into_iter().next().unwrap()
}

fn count(summary: &str, label: &str) -> usize {
    summary
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.trim_start()[label.len()..].split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in summary:\n{summary}"))
}

#[test]
fn the_demo_run_delivers_one_valid_zip_and_the_counts_add_up() {
    let tmp = tempfile::tempdir().unwrap();
    let summary = run_demo(tmp.path());
    let zip = only_zip(&tmp.path().join("out/drop"));

    let unzip = std::process::Command::new("unzip")
        .arg("-t")
        .arg(&zip)
        .output()
        .expect("unzip runs");
    assert!(
        unzip.status.success(),
        "{}",
        String::from_utf8_lossy(&unzip.stdout)
    );

    let extract = tmp.path().join("x");
    std::fs::create_dir(&extract).unwrap();
    let status = std::process::Command::new("unzip")
        .args(["-q", "-d"])
        .arg(&extract)
        .arg(&zip)
        .status()
        .unwrap();
    assert!(status.success());
    let xmls: Vec<_> = std::fs::read_dir(&extract)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(xmls.len(), 1);
    xmllint_validates(&xmls[0]).unwrap();

    let read = count(&summary, "rows read");
    let written = summary
        .lines()
        .find(|l| l.contains("users written"))
        .and_then(|l| l.split("(from ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
        .expect("rows behind written users");
    let filtered = count(&summary, "rows filtered");
    let rejected = count(&summary, "rows rejected");
    assert!(read > 0);
    assert_eq!(read, written + filtered + rejected, "{summary}");
    let xml = std::fs::read_to_string(&xmls[0]).unwrap();
    assert_eq!(
        xml.matches("<user>").count(),
        count(&summary, "users written")
    );
}

#[test]
fn the_same_input_config_and_now_give_identical_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    run_demo(a.path());
    run_demo(b.path());
    let za = std::fs::read(only_zip(&a.path().join("out/drop"))).unwrap();
    let zb = std::fs::read(only_zip(&b.path().join("out/drop"))).unwrap();
    assert!(za == zb, "two runs with the same --now differ");
}

#[test]
fn delivered_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    run_demo(tmp.path());
    let zip = only_zip(&tmp.path().join("out/drop"));
    let mode = std::fs::metadata(&zip).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_bad_now_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let config = workspace_root().join("examples/demo/alma-sis.toml");
    let out = alma_sis(
        tmp.path(),
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--now",
            "yesterday",
        ],
    );
    expect_code(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
}

/// A copy of the demo whose config ends with `extra`.
fn demo_copy_with(dir: &Path, extra: &str) -> std::path::PathBuf {
    let demo = workspace_root().join("examples/demo");
    let copy = dir.join("demo");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&demo).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
    }
    let config = copy.join("alma-sis.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(extra);
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn rejects_above_the_threshold_exit_1_and_the_rest_is_still_delivered() {
    for (percent, code) in [("0.0", 1), ("50.0", 0)] {
        let tmp = tempfile::tempdir().unwrap();
        let config = demo_copy_with(
            tmp.path(),
            &format!("\n[check]\nmax_rejected_percent = {percent}\n"),
        );
        let out = alma_sis(
            tmp.path(),
            &["run", "--config", config.to_str().unwrap(), "--now", NOW],
        );
        expect_code(&out, code);
        let summary = String::from_utf8_lossy(&out.stdout);
        assert!(count(&summary, "rows rejected") > 0, "{summary}");
        only_zip(&tmp.path().join("out/drop"));
    }
}

#[test]
fn a_reject_threshold_outside_0_to_100_is_a_config_error() {
    for percent in ["-1.0", "101.0", "nan"] {
        let tmp = tempfile::tempdir().unwrap();
        let config = demo_copy_with(
            tmp.path(),
            &format!("\n[check]\nmax_rejected_percent = {percent}\n"),
        );
        let out = alma_sis(
            tmp.path(),
            &["run", "--config", config.to_str().unwrap(), "--now", NOW],
        );
        expect_code(&out, 2);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("max_rejected_percent"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!tmp.path().join("out/drop").exists());
    }
}
