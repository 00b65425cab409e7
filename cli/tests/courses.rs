//! `alma-sis courses ...` end to end: the demo against its golden file, nights that send
//! only changes, the brake, `check` and `pull`.

use std::path::{Path, PathBuf};

use crate::support::{alma_sis, expect_code, workspace_root};

const DAY1: &str = "2026-11-23T04:00:00Z";
const DAY2: &str = "2026-11-24T04:00:00Z";
const DAY3: &str = "2026-11-25T04:00:00Z";

fn demo_config() -> PathBuf {
    workspace_root().join("examples/courses/courses.toml")
}

fn courses(cwd: &Path, config: &Path, now: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["courses"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--config", config.to_str().unwrap(), "--now", now]);
    alma_sis(cwd, &all)
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_demo_run_delivers_the_golden_course_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = courses(tmp.path(), &demo_config(), DAY1, &["run"]);
    expect_code(&out, 0);
    let delivered = std::fs::read(tmp.path().join("out/courses/drop/20261123040000.txt")).unwrap();
    let golden = std::fs::read(workspace_root().join(alma_sis::courses::DEMO_COURSE_FILE)).unwrap();
    assert!(
        delivered == golden,
        "the delivered file differs from the golden one"
    );

    // The golden file itself: UTF-8 without BOM, CRLF, 33 tabs on every line.
    let text = String::from_utf8(golden).unwrap();
    assert!(!text.starts_with('\u{feff}'));
    assert!(text.ends_with("\r\n"));
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 1 + 6, "{text}");
    for line in &lines {
        assert_eq!(line.matches('\t').count(), 33, "{line:?}");
        assert!(!line.contains('\n') && !line.contains('\r'));
    }
    assert_eq!(lines[0], leganto_courses::COLUMNS.join("\t"));
    let ops: Vec<(&str, &str)> = lines[1..]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0], f[28])
        })
        .collect();
    assert_eq!(
        ops,
        [
            ("DEV001-2271", ""),
            ("EDUC300-2271", ""),
            ("LAW500-2271", ""),
            ("MUS210-2271", ""),
            ("ENGL205-2271", "ROLLOVER"),
            ("HIST101-2271", "ROLLOVER"),
        ]
    );

    let report = std::fs::read_to_string(
        tmp.path()
            .join("out/courses/courses_20261123040000.rollover.csv"),
    )
    .unwrap();
    assert_eq!(report.matches("sent in this file").count(), 2, "{report}");
    assert!(
        tmp.path()
            .join("out/courses/courses_20261123040000.rollover.html")
            .exists()
    );
    assert!(
        stderr(&out).contains("W-PROC-DEPT-DEFAULT"),
        "{}",
        stderr(&out)
    );

    // The same extract the next night: nothing to send, no rollover again.
    let again = courses(tmp.path(), &demo_config(), DAY2, &["run"]);
    expect_code(&again, 0);
    assert!(
        stdout(&again).contains("nothing to send"),
        "{}",
        stdout(&again)
    );
    assert!(
        !tmp.path()
            .join("out/courses/drop/20261124040000.txt")
            .exists()
    );
    let report = std::fs::read_to_string(
        tmp.path()
            .join("out/courses/courses_20261124040000.rollover.csv"),
    )
    .unwrap();
    assert_eq!(report.matches("sent before").count(), 2, "{report}");
}

/// A copy of the demo config and extract in `dir`, with `edit` applied to the config.
fn demo_copy(dir: &Path, edit: &dyn Fn(String) -> String) -> PathBuf {
    let src = workspace_root().join("examples/courses");
    std::fs::copy(src.join("registrar.csv"), dir.join("registrar.csv")).unwrap();
    let config = dir.join("courses.toml");
    std::fs::write(
        &config,
        edit(std::fs::read_to_string(src.join("courses.toml")).unwrap()),
    )
    .unwrap();
    config
}

fn edit_extract(dir: &Path, from: &str, to: &str) {
    let path = dir.join("registrar.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

/// The data lines of a delivered file as `code op instructors`.
fn delivered(dir: &Path, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("out/courses/drop").join(name)).unwrap();
    text.split_terminator("\r\n")
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let instructors: Vec<&str> = f[17..27]
                .iter()
                .copied()
                .filter(|s| !s.is_empty())
                .collect();
            format!("{} {} [{}]", f[0], f[28], instructors.join(" "))
        })
        .collect()
}

#[test]
fn three_nights_send_new_changed_and_cancelled_courses_and_each_rollover_once() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_copy(tmp.path(), &|c| c);
    expect_code(&courses(tmp.path(), &config, DAY1, &["run"]), 0);
    let night1 = delivered(tmp.path(), "20261123040000.txt");
    assert_eq!(night1.len(), 6);
    assert_eq!(night1.iter().filter(|l| l.contains("ROLLOVER")).count(), 2);

    // Night 2: a new course, and new instructors for Music Theory.
    edit_extract(tmp.path(), ",24,kchen,", ",24,kchen;lfox,");
    edit_extract(
        tmp.path(),
        "2271,PHIL,150,10900,Ethics Today,MAIN,AS,REQUESTED,",
        "2271,PHIL,150,10900,Ethics Today,MAIN,AS,ACTIVE,",
    );
    expect_code(&courses(tmp.path(), &config, DAY2, &["run"]), 0);
    assert_eq!(
        delivered(tmp.path(), "20261124040000.txt"),
        [
            "PHIL150-2271  [owright@northfield.edu]",
            "MUS210-2271  [kchen@northfield.edu lfox@northfield.edu]",
        ]
    );

    // Night 3: Music Theory is cancelled: one DELETE, and the rollovers are never resent.
    edit_extract(tmp.path(), "FA,ACTIVE,", "FA,CANCELLED,");
    expect_code(&courses(tmp.path(), &config, DAY3, &["run"]), 0);
    assert_eq!(
        delivered(tmp.path(), "20261125040000.txt"),
        ["MUS210-2271 DELETE [kchen@northfield.edu lfox@northfield.edu]"]
    );
}

#[test]
fn the_brake_stops_mass_deletes_and_force_overrides_it() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_copy(tmp.path(), &|c| {
        c.replace("max_deletes = 20", "max_deletes = 1")
    });
    expect_code(&courses(tmp.path(), &config, DAY1, &["run"]), 0);
    let header = std::fs::read_to_string(tmp.path().join("registrar.csv")).unwrap();
    let header = header.lines().next().unwrap().to_owned();
    std::fs::write(tmp.path().join("registrar.csv"), format!("{header}\n")).unwrap();
    let out = courses(tmp.path(), &config, DAY2, &["run"]);
    expect_code(&out, 4);
    assert!(
        stderr(&out).contains("brake: 6 courses would be deleted"),
        "{}",
        stderr(&out)
    );
    assert!(
        !tmp.path()
            .join("out/courses/drop/20261124040000.txt")
            .exists()
    );
    expect_code(&courses(tmp.path(), &config, DAY3, &["run", "--force"]), 0);
    let night3 = delivered(tmp.path(), "20261125040000.txt");
    assert_eq!(night3.len(), 6);
    assert!(night3.iter().all(|l| l.contains(" DELETE ")), "{night3:?}");
}

#[test]
fn a_dry_run_delivers_and_records_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = courses(tmp.path(), &demo_config(), DAY1, &["run", "--dry-run"]);
    expect_code(&out, 0);
    assert!(tmp.path().join("out/courses/20261123040000.txt").exists());
    assert!(!tmp.path().join("out/courses/drop").exists());
    expect_code(&courses(tmp.path(), &demo_config(), DAY2, &["run"]), 0);
    assert_eq!(delivered(tmp.path(), "20261124040000.txt").len(), 6);
}

fn check_file(content: &str, code: i32, expected: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("20261123040000.txt");
    std::fs::write(&file, content).unwrap();
    let out = courses(
        tmp.path(),
        &demo_config(),
        DAY1,
        &["check", file.to_str().unwrap()],
    );
    expect_code(&out, code);
    let all =
        format!("{}{}", stdout(&out), stderr(&out)).replace(tmp.path().to_str().unwrap(), "<tmp>");
    assert!(all.contains(expected), "{all}");
}

#[test]
fn check_reports_file_line_column() {
    let golden =
        std::fs::read_to_string(workspace_root().join(alma_sis::courses::DEMO_COURSE_FILE))
            .unwrap();
    check_file(
        &golden,
        0,
        "6 course rows, 34 columns, 0 errors, 0 warnings",
    );
    check_file(
        &golden.replacen("\t2027\t", "\t2026-27\t", 1),
        1,
        "<tmp>/20261123040000.txt:2:14: error[E-INTEGER]: YEAR \"2026-27\" is not a whole number",
    );
    check_file(
        &golden.replacen("\tMUSIC\t", "\tHAYDEN\t", 1),
        1,
        ":5:5: error[E-PROC-DEPT]",
    );
}

#[test]
fn pull_installs_the_newest_matching_extract() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = tmp.path().join("registrar-server");
    std::fs::create_dir_all(remote.join("outgoing")).unwrap();
    std::fs::write(remote.join("outgoing/export_20261122.csv"), "old").unwrap();
    std::fs::write(
        remote.join("outgoing/export_20261123.csv"),
        "TERM,SUBJECT\n",
    )
    .unwrap();
    std::fs::write(remote.join("outgoing/other.txt"), "no").unwrap();
    let config = demo_copy(tmp.path(), &|c| {
        format!(
            "{c}\n[pull]\nkind = \"drop\"\ndrop_folder = {:?}\nfrom = \"outgoing\"\npattern = \"export_*.csv\"\n",
            remote.to_str().unwrap()
        )
    });
    let out = courses(tmp.path(), &config, DAY1, &["pull"]);
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains("installed export_20261123.csv"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("registrar.csv")).unwrap(),
        "TERM,SUBJECT\n"
    );
}

// The sshd harness is shared with sftp-deliver's tests; this test needs only part of it,
// and `deliver` loads it too.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../sftp-deliver/tests/support/sshd.rs"]
mod sshd;

#[test]
fn run_delivers_and_pull_fetches_over_sftp() {
    let Some(sshd) = sshd::Sshd::start() else {
        return;
    };
    let inbox = sshd.srv().join("leganto/courses");
    let outgoing = sshd.srv().join("registrar/outgoing");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::create_dir_all(&outgoing).unwrap();
    let extract = workspace_root().join("examples/courses/registrar.csv");
    std::fs::copy(&extract, outgoing.join("leganto_export_20261123.csv")).unwrap();
    let known = sshd.write_known_hosts("known_hosts", &[sshd.known_hosts_line("ed25519")]);
    let server = |sub_dir: &str| {
        format!(
            "kind = \"sftp\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\nkey_file = \"{}\"\n\
             known_hosts = \"{}\"\nbase_dir = \"{}\"\nsub_dir = \"{sub_dir}\"\nretries = 0\n",
            sshd.port(),
            sshd::current_user(),
            sshd.key("client_ed25519").display(),
            known.display(),
            sshd.srv().display(),
        )
    };
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_copy(tmp.path(), &|c| {
        let (before, _) = c.split_once("[delivery]").unwrap();
        format!(
            "{before}[delivery]\n{}\n[pull]\n{}from = \"registrar/outgoing\"\npattern = \"leganto_export_*.csv\"\n",
            server("leganto/courses"),
            server(""),
        )
    });
    std::fs::remove_file(tmp.path().join("registrar.csv")).unwrap();

    let out = courses(tmp.path(), &config, DAY1, &["pull"]);
    expect_code(&out, 0);
    assert_eq!(
        std::fs::read(tmp.path().join("registrar.csv")).unwrap(),
        std::fs::read(&extract).unwrap()
    );

    let out = courses(tmp.path(), &config, DAY1, &["run"]);
    expect_code(&out, 0);
    let golden = std::fs::read(workspace_root().join(alma_sis::courses::DEMO_COURSE_FILE)).unwrap();
    assert!(std::fs::read(inbox.join("20261123040000.txt")).unwrap() == golden);
    assert_eq!(
        std::fs::read_dir(&inbox).unwrap().count(),
        1,
        "a temporary file remains"
    );
}
