//! `alma-sis check` (exit codes, text and JSON output) and the quarantine in `run`.

use std::path::{Path, PathBuf};

use crate::support::{self, alma_sis, expect_code, workspace_root};

const NOW: &str = "2026-11-23T04:00:00Z";

fn corpus(name: &str) -> String {
    workspace_root()
        .join("alma-sis-package/tests/corpus")
        .join(name)
        .to_str()
        .expect("a UTF-8 path")
        .to_owned()
}

/// `alma-sis check <path>` in an empty directory (no config file: the defaults).
fn check(args: &[&str], code: i32) -> String {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut all = vec!["check"];
    all.extend(args);
    let out = alma_sis(dir.path(), &all);
    expect_code(&out, code);
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn exit_codes() {
    check(&[&corpus("valid.zip")], 0);
    check(&[&corpus("control-character.xml")], 1);
    // A BOM is a warning (Java skips it): exit 0, unless --strict.
    check(&[&corpus("bom.xml")], 0);
    check(&[&corpus("bom.xml"), "--strict"], 1);
    check(&[&corpus("truncated.zip")], 1);
    check(&["/nonexistent/users.zip"], 2);
    check(&[&corpus("valid.zip"), "--profile", "carli"], 2);
    check(
        &[&corpus("valid.zip"), "--code-tables", "/nonexistent.tsv"],
        2,
    );
}

#[test]
fn text_names_file_line_column_user_and_fix() {
    let out = check(&[&corpus("duplicate-ids.xml")], 1);
    let line = out
        .lines()
        .find(|l| l.contains("E-DUP-MATCH-ID"))
        .unwrap_or_else(|| panic!("no E-DUP-MATCH-ID in:\n{out}"));
    assert!(
        line.contains("duplicate-ids.xml:23:3: error E-DUP-MATCH-ID [user U1001]"),
        "{line}"
    );
    assert!(line.contains("already used by user u1001"), "{line}");
    assert!(out.contains("error(s) in 2 user(s)"), "{out}");
}

#[test]
fn json_output() {
    let out = check(&["--format", "json", &corpus("cp1252.xml")], 1);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(doc["schema"], "alma-sis.check/1");
    let findings = doc["findings"].as_array().expect("an array");
    let utf8 = findings
        .iter()
        .find(|f| f["code"] == "E-UTF8")
        .expect("an E-UTF8 finding");
    assert_eq!(utf8["severity"], "error");
    assert_eq!(utf8["primary_id"], "u1001");
    assert_eq!(utf8["position"]["line"], 5);
    assert!(
        utf8["file"]
            .as_str()
            .expect("a file")
            .ends_with("cp1252.xml")
    );
    assert_eq!(doc["summary"]["errors"], 1);
    assert_eq!(doc["summary"]["users"], 1);
    let clean = check(&["--format", "json", &corpus("valid.zip")], 0);
    let clean: serde_json::Value = serde_json::from_str(&clean).expect("one JSON document");
    assert_eq!(clean["findings"].as_array().map(Vec::len), Some(0));
    assert_eq!(clean["summary"]["users"], 2);
}

/// A path that cannot be read, before or after one that can: the readable one is checked,
/// the output still ends with its summary (a whole JSON document naming the path), exit 2.
#[test]
fn an_unreadable_path_still_leaves_a_whole_report() {
    let missing = "/nonexistent/users.zip";
    for paths in [
        [missing, &corpus("valid.zip")],
        [&corpus("valid.zip"), missing],
    ] {
        let mut args = vec!["--format", "json"];
        args.extend(paths);
        let out = check(&args, 2);
        let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
        assert_eq!(doc["summary"]["users"], 2, "{out}");
        let unreadable = doc["unreadable"].as_array().expect("the paths not read");
        assert_eq!(unreadable.len(), 1, "{out}");
        assert_eq!(unreadable[0]["path"], missing);
        assert!(
            unreadable[0]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("cannot read /nonexistent/users.zip")),
            "{out}"
        );
        let text = check(&paths, 2);
        assert!(
            text.contains("checked 1 file(s), 1 XML document(s), 2 user(s)")
                && text
                    .contains("not checked: 1 path(s) could not be read: /nonexistent/users.zip"),
            "{text}"
        );
    }
    // Every path readable: no `unreadable`, as before.
    let out = check(&["--format", "json", &corpus("valid.zip")], 0);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert!(doc.get("unreadable").is_none(), "{out}");
}

/// The demo config and extract copied into `dir`, with a `[check]` section appended.
fn demo_with_check(dir: &Path, check: &str) -> PathBuf {
    let demo = workspace_root().join("examples/demo");
    for entry in std::fs::read_dir(&demo).expect("the demo exists") {
        let path = entry.expect("readable").path();
        if path.is_file() && path.file_name().is_some_and(|n| n != "alma-sis.toml") {
            std::fs::copy(&path, dir.join(path.file_name().expect("a name"))).expect("copyable");
        }
    }
    let mut config = std::fs::read_to_string(demo.join("alma-sis.toml")).expect("readable");
    config.push_str("\n[check]\n");
    config.push_str(check);
    let path = dir.join("alma-sis.toml");
    std::fs::write(&path, config).expect("writable");
    path
}

fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn run_quarantines_users_with_errors_and_sends_the_rest() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = demo_with_check(dir.path(), "mandatory = [\"email\"]\n");
    let config = config.to_str().expect("UTF-8");
    let out = alma_sis(
        dir.path(),
        &["run", "--config", config, "--now", NOW, "--dry-run"],
    );
    expect_code(&out, 0);
    let rejects = files_ending(&dir.path().join("out"), ".rejects.csv");
    assert_eq!(rejects.len(), 1, "one reject file");
    let text = std::fs::read_to_string(&rejects[0]).expect("readable");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("primary_id,codes,messages"));
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.contains(",E-MANDATORY,")), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&rejects[0])
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // No names from the extract reach the reject file.
    let people = std::fs::read_to_string(dir.path().join("people.csv")).expect("readable");
    for row in people.lines().skip(1) {
        let cols: Vec<&str> = row.split(',').collect();
        for name in [cols[2], cols[4]] {
            if name.chars().count() >= 3 {
                assert!(!text.contains(name), "{name} in the reject file");
            }
        }
    }
    assert!(
        !files_ending(&dir.path().join("out"), ".zip").is_empty(),
        "the rest is packaged"
    );
}

#[test]
fn run_strict_stops_before_packaging() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = demo_with_check(dir.path(), "mandatory = [\"email\"]\n");
    let config = config.to_str().expect("UTF-8");
    let out = alma_sis(
        dir.path(),
        &[
            "run",
            "--config",
            config,
            "--now",
            NOW,
            "--dry-run",
            "--strict",
        ],
    );
    expect_code(&out, 1);
    assert!(
        files_ending(&dir.path().join("out"), ".zip").is_empty(),
        "nothing packaged"
    );
    assert_eq!(
        files_ending(&dir.path().join("out"), ".rejects.csv").len(),
        1
    );
}

#[test]
fn what_run_packages_checks_clean() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = demo_with_check(dir.path(), "profile = \"alma\"\n");
    let config = config.to_str().expect("UTF-8");
    let out = alma_sis(
        dir.path(),
        &["run", "--config", config, "--now", NOW, "--dry-run"],
    );
    expect_code(&out, 0);
    let out_dir = dir.path().join("out");
    assert!(files_ending(&out_dir, ".rejects.csv").is_empty());
    let zips = files_ending(&out_dir, ".zip");
    assert!(!zips.is_empty());
    let out = alma_sis(
        dir.path(),
        &[
            "check",
            "--config",
            config,
            out_dir.to_str().expect("UTF-8"),
        ],
    );
    expect_code(&out, 0);
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(text.contains("0 error(s)"), "{text}");
}

/// `check` run inside the corpus folder, so paths in the output are stable.
fn check_in_corpus(args: &[&str], code: i32) -> String {
    let dir = workspace_root().join("alma-sis-package/tests/corpus");
    let mut all = vec!["check"];
    all.extend(args);
    let out = alma_sis(&dir, &all);
    expect_code(&out, code);
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn text_report_snapshot() {
    insta::assert_snapshot!(check_in_corpus(&["duplicate-ids.xml", "truncated.zip"], 1));
}

#[test]
fn json_report_snapshot() {
    insta::assert_snapshot!(check_in_corpus(&["--format", "json", "cp1252.xml"], 1));
}

/// The real-world samples, zipped as Alma fetches them.
fn sample_zip(dir: &Path, name: &str) -> String {
    let xml = std::fs::read(support::shared_dir().join("alma/samples").join(name))
        .expect("the sample exists");
    let path = dir.join(name.replace(".xml", ".zip"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("writable"));
    zip.start_file(name, zip::write::SimpleFileOptions::DEFAULT)
        .expect("in a temp dir");
    std::io::Write::write_all(&mut zip, &xml).expect("in a temp dir");
    zip.finish().expect("in a temp dir");
    path.display().to_string()
}

#[test]
fn the_samples_alma_loads_give_warnings_and_exit_0() {
    let dir = tempfile::tempdir().expect("a temp dir");
    for name in [
        "mit_staff_patrons.xml",
        "mit_student_patrons.xml",
        "berkeley_ucpath_expected_xml_1.xml",
    ] {
        let zip = sample_zip(dir.path(), name);
        let out = check(&[&zip], 0);
        assert!(out.contains(": 0 error(s) in 0 user(s)"), "{name}:\n{out}");
        assert!(!out.contains(" error "), "{name}:\n{out}");
        // Sites that want schema-clean files promote the warnings.
        check(&[&zip, "--strict"], 1);
    }
    // Berkeley's SIS sample: only the barcode equal to the primary id stays an error.
    let zip = sample_zip(dir.path(), "berkeley_sis_expected_xml.xml");
    let out = check(&[&zip], 1);
    let errors: Vec<&str> = out.lines().filter(|l| l.contains(": error ")).collect();
    assert_eq!(errors.len(), 1, "{out}");
    assert!(
        errors[0].contains("error E-ID-TAKEN-IN-FEED [user 12345]"),
        "{out}"
    );
}

/// `run`'s quarantine grades as `check` does: a warning (Alma tolerates it) never holds a
/// user back, an error (Alma rejects the user) always does.
#[test]
fn the_quarantine_holds_back_errors_only() {
    use alma_sis::pipeline::quarantine::Quarantine;
    use alma_sis_package::check::CheckOptions;
    use alma_user_model::{AccountType, Email, User};

    let options = CheckOptions::default();
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut quarantine = Quarantine::new(&options, dir.path().join("run.rejects.csv"));
    // INTERNAL and no expiry date: warnings.
    let mut tolerated = User::new("q1").with_email(Email::new("q1@example.edu", "school"));
    tolerated.account_type = Some(AccountType::Internal);
    assert_eq!(quarantine.check(&tolerated), Vec::new());
    assert!(quarantine.warnings >= 2);
    // An email without a type: Alma rejects the user.
    let mut rejected = User::new("q2");
    rejected
        .contact_info
        .emails
        .push(Email::new("q2@example.edu", "school"));
    rejected.contact_info.emails[0].email_types.clear();
    let errors = quarantine.check(&rejected);
    assert_eq!(
        errors.iter().map(|f| f.code.as_str()).collect::<Vec<_>>(),
        ["E-MANDATORY"]
    );
}

#[test]
fn a_work_directory_is_checked_for_its_zips_only() {
    let dir = tempfile::tempdir().unwrap();
    expect_code(&alma_sis(dir.path(), &["init"]), 0);
    let now = ["--now", "2026-11-23T04:00:00Z"];
    expect_code(
        &alma_sis(dir.path(), &[&now[..], &["run", "--dry-run"]].concat()),
        0,
    );
    let out = alma_sis(dir.path(), &["check", "out/"]);
    expect_code(&out, 0);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with(
            "checked 1 file(s), 1 XML document(s), 4 user(s): 0 error(s) in 0 user(s), 0 warning(s)"
        ),
        "the run's reports, manifest, state and lock are not findings:\n{said}"
    );
    // A folder that is not a work directory still hears about every file Alma would ignore.
    let folder = dir.path().join("sis");
    std::fs::create_dir(&folder).unwrap();
    for zip in files_ending(&dir.path().join("out"), ".zip") {
        std::fs::copy(&zip, folder.join(zip.file_name().unwrap())).unwrap();
    }
    std::fs::write(folder.join("notes.txt"), "x").unwrap();
    let out = alma_sis(dir.path(), &["check", "sis"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("notes.txt: warning W-IGNORED-FILE"), "{said}");
}
