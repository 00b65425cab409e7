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
            ("ENGL205-2271", ""),
            ("HIST101-2271", ""),
            ("LAW500-2271", ""),
            ("MUS210-2271", ""),
        ]
    );

    // ENGL205 asks to copy from a course alma-sis never sent: reported, not sent.
    let report = std::fs::read_to_string(
        tmp.path()
            .join("out/courses/courses_20261123040000.rollover.csv"),
    )
    .unwrap();
    assert_eq!(
        report.matches("not sent: old course never sent").count(),
        1,
        "{report}"
    );
    assert!(
        tmp.path()
            .join("out/courses/courses_20261123040000.rollover.html")
            .exists()
    );
    for code in ["W-PROC-DEPT-DEFAULT", "W-ROLLOVER-OLD-UNSENT"] {
        assert!(stderr(&out).contains(code), "{}", stderr(&out));
    }
    let run_report = std::fs::read_to_string(
        tmp.path()
            .join("out/courses/courses_20261123040000.report.txt"),
    )
    .unwrap();
    assert!(
        run_report.contains(alma_sis::courses::run::ALMA_UPDATES),
        "{run_report}"
    );
    assert!(run_report.contains("W-ROLLOVER-OLD-UNSENT"), "{run_report}");

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
    assert_eq!(report.matches("not sent").count(), 1, "{report}");
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
fn three_nights_send_new_changed_and_cancelled_courses() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_copy(tmp.path(), &|c| c);
    expect_code(&courses(tmp.path(), &config, DAY1, &["run"]), 0);
    let night1 = delivered(tmp.path(), "20261123040000.txt");
    assert_eq!(night1.len(), 6);

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

    // Night 3: Music Theory is cancelled: one DELETE.
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
    // A truncated extract: one course of the term left.
    let text = std::fs::read_to_string(tmp.path().join("registrar.csv")).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("TERM,") || l.contains(",DEV,"))
        .collect();
    std::fs::write(tmp.path().join("registrar.csv"), kept.join("\n") + "\n").unwrap();
    let out = courses(tmp.path(), &config, DAY2, &["run"]);
    expect_code(&out, 4);
    assert!(
        stderr(&out).contains("brake: 5 courses would be deleted"),
        "{}",
        stderr(&out)
    );
    // The library says what to do; the CLI names its flag.
    assert!(
        stderr(&out)
            .contains("or force the run. If this extract is right, run again with --force."),
        "{}",
        stderr(&out)
    );
    assert!(
        !tmp.path()
            .join("out/courses/drop/20261124040000.txt")
            .exists()
    );
    let report = std::fs::read_to_string(
        tmp.path()
            .join("out/courses/courses_20261124040000.report.txt"),
    )
    .unwrap();
    assert!(report.contains("refused, nothing delivered"), "{report}");
    expect_code(&courses(tmp.path(), &config, DAY3, &["run", "--force"]), 0);
    let night3 = delivered(tmp.path(), "20261125040000.txt");
    assert_eq!(night3.len(), 5);
    assert!(night3.iter().all(|l| l.contains(" DELETE ")), "{night3:?}");
}

#[test]
fn an_empty_extract_deletes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_copy(tmp.path(), &|c| c);
    expect_code(&courses(tmp.path(), &config, DAY1, &["run"]), 0);
    let header = std::fs::read_to_string(tmp.path().join("registrar.csv")).unwrap();
    let header = header.lines().next().unwrap().to_owned();
    std::fs::write(tmp.path().join("registrar.csv"), format!("{header}\n")).unwrap();
    let out = courses(tmp.path(), &config, DAY2, &["run"]);
    expect_code(&out, 0);
    assert!(stdout(&out).contains("nothing to send"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("term ended, kept                  6"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_extract_cut_mid_row_or_a_mistyped_term_deletes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_copy(tmp.path(), &|c| c);
    expect_code(&courses(tmp.path(), &config, DAY1, &["run"]), 0);
    let text = std::fs::read_to_string(tmp.path().join("registrar.csv")).unwrap();

    // Cut in the middle of the fourth row: the rest of the term is gone, and the cut row
    // is no course (its title would be the last value read).
    let cut = text.find("2271,LAW,500,").unwrap() + "2271,LAW,500,10501,Contr".len();
    std::fs::write(tmp.path().join("registrar.csv"), &text[..cut]).unwrap();
    let out = courses(tmp.path(), &config, DAY2, &["run"]);
    expect_code(&out, 1);
    assert!(
        stderr(&out).contains("error[E-READ-FIELDS]") && stderr(&out).contains("registrar.csv:5"),
        "{}",
        stderr(&out)
    );
    assert!(
        std::fs::read_dir(tmp.path().join("out/courses/drop"))
            .unwrap()
            .all(|e| e.unwrap().file_name() != "20261124040000.txt"),
        "nothing to send: no file"
    );

    // The whole extract again, with one row's term mistyped: its course is kept.
    let typo = text.replacen("2271,HIST,101,10234,", "2272,HIST,101,10234,", 1);
    assert_ne!(typo, text);
    std::fs::write(tmp.path().join("registrar.csv"), typo).unwrap();
    let out = courses(tmp.path(), &config, DAY3, &["run"]);
    assert!(stderr(&out).contains("W-TERM-UNMAPPED"), "{}", stderr(&out));
    let sent = tmp.path().join("out/courses/drop/20261125040000.txt");
    if sent.exists() {
        let lines = delivered(tmp.path(), "20261125040000.txt");
        assert!(lines.iter().all(|l| !l.contains("DELETE")), "{lines:?}");
    }
}

#[test]
fn a_failed_delivery_writes_its_run_report_and_the_next_run_sends_the_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_copy(tmp.path(), &|c| c);
    expect_code(&courses(tmp.path(), &config, DAY1, &["run"]), 0);
    edit_extract(tmp.path(), ",24,kchen,", ",24,kchen;lfox,");
    let drop = tmp.path().join("out/courses/drop");
    std::fs::rename(&drop, tmp.path().join("moved")).unwrap();
    std::fs::write(&drop, b"not a folder").unwrap();
    expect_code(&courses(tmp.path(), &config, DAY2, &["run"]), 3);
    let report = std::fs::read_to_string(
        tmp.path()
            .join("out/courses/courses_20261124040000.report.txt"),
    )
    .unwrap();
    assert!(
        report.contains("delivery failed, nothing marked as sent"),
        "{report}"
    );
    std::fs::remove_file(&drop).unwrap();
    std::fs::rename(tmp.path().join("moved"), &drop).unwrap();
    expect_code(&courses(tmp.path(), &config, DAY3, &["run"]), 0);
    assert_eq!(
        delivered(tmp.path(), "20261125040000.txt"),
        ["MUS210-2271  [kchen@northfield.edu lfox@northfield.edu]"]
    );
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
        ":7:5: error[E-PROC-DEPT]",
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

/// A registrar's course config over five terms, written beside its extract.
const TERMS_CONFIG: &str = r#"
[source]
path = "registrar.csv"
[fields]
code = "{COURSE}-{TERM}"
title = "Course {COURSE}"
section = "{CLASS_NBR}"
start_date = "{START}"
end_date = "{END}"
participants = "{ENROLLED}"
campus = "{CAMPUS}"
[merge]
cross_list = "{XLIST}"
[terms]
from = "{TERM}"
map = { "2271" = ["SPRING"], "2274" = ["SUMMER"], "2277" = ["AUTUMN"], "2281" = ["SPRING"], "2284" = ["SUMMER"] }
[processing_department]
default = "MAIN"
[instructors]
columns = ["INSTRUCTOR"]
[status]
column = "STATUS"
delete = ["CANCELLED"]
[rollover]
emit = true
same_course = "{COURSE}"
[output]
dir = "out"
[delivery]
drop_folder = "out/drop"
"#;

/// Writes the night's extract: `TERM COURSE CLASS [CANCELLED] [XLIST=group]` per row.
fn term_extract(dir: &Path, rows: &[&str]) {
    let mut text =
        "TERM,COURSE,CLASS_NBR,STATUS,XLIST,START,END,ENROLLED,CAMPUS,INSTRUCTOR\n".to_owned();
    for row in rows {
        let words: Vec<&str> = row.split_whitespace().collect();
        let status = if words.contains(&"CANCELLED") {
            "CANCELLED"
        } else {
            "ACTIVE"
        };
        let xlist = words
            .iter()
            .find_map(|w| w.strip_prefix("XLIST="))
            .unwrap_or("");
        text.push_str(&format!(
            "{},{},{},{status},{xlist},2027-01-18,2027-05-14,10,MAIN,{}\n",
            words[0],
            words[1],
            words[2],
            words[1].to_lowercase()
        ));
    }
    std::fs::write(dir.join("registrar.csv"), text).unwrap();
}

/// A delivered file's rows as `CODE/SECTION OP <- OLD`.
fn sent_rows(dir: &Path, now: &str) -> Vec<String> {
    let name = format!("{}.txt", now.replace(['-', ':', 'T', 'Z'], ""));
    let Ok(text) = std::fs::read_to_string(dir.join("out/drop").join(&name)) else {
        return Vec::new();
    };
    text.split_terminator("\r\n")
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let old = if f[28] == "ROLLOVER" {
                format!(" <- {}/{}", f[29], f[30])
            } else {
                String::new()
            };
            format!("{}/{} {}{old}", f[0], f[2], f[28])
                .trim_end()
                .to_owned()
        })
        .collect()
}

#[test]
fn five_terms_keep_keys_delete_only_what_is_not_offered_and_roll_over_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = dir.join("courses.toml");
    std::fs::write(&config, TERMS_CONFIG).unwrap();
    let night = |now: &str, rows: &[&str], args: &[&str], code: i32| {
        term_extract(dir, rows);
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        let out = courses(dir, &config, now, &all);
        expect_code(&out, code);
        (sent_rows(dir, now), out)
    };
    let t2271 = [
        "2271 HIST101 1234",
        "2271 HIST101 1233",
        "2271 MUS210 1400",
        "2271 CHEM110 1600 CANCELLED",
        "2271 ENGL205 1700",
    ];
    let t2274 = [
        "2274 HIST101 2100",
        "2274 MUS210 2401",
        "2274 ENGL205 2700 XLIST=X1",
        "2274 ANTH205 2710 XLIST=X1",
        "2274 CHEM110 2600",
    ];

    // Spring 2027: every course created under its lowest section.
    let (rows, _) = night(
        "2026-11-01T04:00:00Z",
        &[
            "2271 HIST101 1234",
            "2271 HIST101 1235",
            "2271 MUS210 1400",
            "2271 CHEM110 1600",
            "2271 ENGL205 1700",
        ],
        &[],
        0,
    );
    assert_eq!(
        rows,
        [
            "CHEM110-2271/1600",
            "ENGL205-2271/1700",
            "HIST101-2271/1234",
            "MUS210-2271/1400"
        ]
    );
    // A lower section is added to HIST101 and one removed: same key. CHEM110 is cancelled.
    let (rows, _) = night("2026-11-02T04:00:00Z", &t2271, &[], 0);
    assert_eq!(rows, ["HIST101-2271/1234", "CHEM110-2271/1600 DELETE"]);

    // Summer 2027 (the extract still has spring): rollovers from spring's courses, the
    // cross-listed ENGL205/ANTH205 from ENGL205; CHEM110 was deleted, so nothing for it.
    let both: Vec<&str> = t2271.iter().chain(&t2274).copied().collect();
    let (rows, out) = night("2026-11-03T04:00:00Z", &both, &[], 0);
    assert_eq!(
        rows,
        [
            "CHEM110-2274/2600",
            "ANTH205-2274/2710 ROLLOVER <- ENGL205-2271/1700",
            "HIST101-2274/2100 ROLLOVER <- HIST101-2271/1234",
            "MUS210-2274/2401 ROLLOVER <- MUS210-2271/1400",
        ],
        "{}",
        stderr(&out)
    );
    // Spring has left the extract: its courses ended, none is deleted. A section is added
    // to MUS210, below its key: an update.
    let mut t2274b = t2274.to_vec();
    t2274b.push("2274 MUS210 2400");
    let (rows, out) = night("2026-11-04T04:00:00Z", &t2274b, &[], 0);
    assert_eq!(rows, ["MUS210-2274/2401"]);
    assert!(
        stdout(&out).contains("term ended, kept                  3"),
        "{}",
        stdout(&out)
    );

    // Autumn 2027: ENGL205 rolls over from the cross-listed course it was part of.
    let t2277 = ["2277 HIST101 3100", "2277 MUS210 3400", "2277 ENGL205 3700"];
    let both: Vec<&str> = t2274b.iter().chain(&t2277).copied().collect();
    let (rows, _) = night("2026-11-05T04:00:00Z", &both, &[], 0);
    assert_eq!(
        rows,
        [
            "ENGL205-2277/3700 ROLLOVER <- ANTH205-2274/2710",
            "HIST101-2277/3100 ROLLOVER <- HIST101-2274/2100",
            "MUS210-2277/3400 ROLLOVER <- MUS210-2274/2401",
        ]
    );
    // HIST101 is cancelled: it received rolled-over lists, so the brake stops the run.
    let t2277b = [
        "2277 HIST101 3100 CANCELLED",
        "2277 MUS210 3400",
        "2277 ENGL205 3700",
    ];
    let (rows, out) = night("2026-11-06T04:00:00Z", &t2277b, &[], 4);
    assert!(rows.is_empty());
    assert!(
        stderr(&out)
            .contains("received rolled-over reading lists would be deleted (HIST101-2277/3100)"),
        "{}",
        stderr(&out)
    );
    let (rows, _) = night("2026-11-07T04:00:00Z", &t2277b, &["--force"], 0);
    assert_eq!(rows, ["HIST101-2277/3100 DELETE"]);

    // Spring 2028: HIST101 rolls over from summer 2027, the last term it was not deleted in.
    let t2281 = [
        "2281 HIST101 4100",
        "2281 MUS210 4400",
        "2281 LAW500 4500",
        "2281 ENGL205 4700",
    ];
    let both: Vec<&str> = t2277b.iter().chain(&t2281).copied().collect();
    let (rows, _) = night("2026-11-08T04:00:00Z", &both, &[], 0);
    assert_eq!(
        rows,
        [
            "LAW500-2281/4500",
            "ENGL205-2281/4700 ROLLOVER <- ENGL205-2277/3700",
            "HIST101-2281/4100 ROLLOVER <- HIST101-2274/2100",
            "MUS210-2281/4400 ROLLOVER <- MUS210-2277/3400",
        ]
    );
    // MUS210 and LAW500 become cross-listed mid-term: one would lose its key. Refused.
    let t2281b = [
        "2281 HIST101 4100",
        "2281 MUS210 4400 XLIST=X9",
        "2281 LAW500 4500 XLIST=X9",
        "2281 ENGL205 4700",
    ];
    let (rows, out) = night("2026-11-09T04:00:00Z", &t2281b, &[], 1);
    assert!(rows.is_empty());
    assert!(stderr(&out).contains("error[E-REKEY]"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("hint: `--force` makes the run go on as the E-REKEY finding says"),
        "{}",
        stderr(&out)
    );
    let report =
        std::fs::read_to_string(dir.join("out/courses_20261109040000.report.txt")).unwrap();
    assert!(report.contains("E-REKEY"), "{report}");
    assert!(
        report.contains("held: would re-key a course       1"),
        "{report}"
    );
    // Forced: the merged course keeps the lower key, the other is deleted. LAW500 had
    // received no lists; now MUS210's section is in it, it gets MUS210's from autumn 2027.
    let (rows, _) = night("2026-11-10T04:00:00Z", &t2281b, &["--force"], 0);
    assert_eq!(
        rows,
        [
            "LAW500-2281/4500 ROLLOVER <- MUS210-2277/3400",
            "MUS210-2281/4400 DELETE"
        ]
    );

    // Summer 2028: MUS210 and LAW500 both roll over from the merged course.
    let t2284 = ["2284 HIST101 5100", "2284 MUS210 5400", "2284 LAW500 5500"];
    let both: Vec<&str> = t2281b.iter().chain(&t2284).copied().collect();
    let (rows, _) = night("2026-11-11T04:00:00Z", &both, &[], 0);
    assert_eq!(
        rows,
        [
            "HIST101-2284/5100 ROLLOVER <- HIST101-2281/4100",
            "LAW500-2284/5500 ROLLOVER <- LAW500-2281/4500",
            "MUS210-2284/5400 ROLLOVER <- LAW500-2281/4500",
        ]
    );
    // The same extract again: nothing to send, no rollover twice.
    let (rows, out) = night("2026-11-12T04:00:00Z", &both, &[], 0);
    assert!(rows.is_empty(), "{rows:?}");
    assert!(stdout(&out).contains("nothing to send"), "{}", stdout(&out));
}

#[test]
fn first_version_course_state_keeps_working() {
    use alma_sis_state::{
        ContentHash, ItemStatus, ItemWrite, NewRun, RunCounts, RunEnd, RunOutcome, StateStore,
    };
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_copy(tmp.path(), &|c| c);
    // The state as the first version left it: the course row as JSON, keyed code<TAB>section.
    let state = tmp.path().join("out/courses/alma-sis-state.sqlite");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    let mut store = StateStore::open(&state).unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-20T04:00:00Z").unwrap();
    let run = store
        .begin_run(&NewRun {
            feed: "courses".into(),
            started: now,
            config_hash: "first".into(),
            mode: "delta".into(),
            partial: false,
        })
        .unwrap();
    let today = now.date_naive();
    let row = r#"{"code":"HIST101-2271","title":"World History to 1500","section":"10235","academic_department":"AS","processing_department":"MAIN","terms":["SPRING"],"start_date":"2027-01-18","end_date":"2027-05-14","participants":35,"weekly_hours":null,"year":2027,"search_id1":"HIST101","search_id2":"","multi_search_ids":[],"instructors":["blee@northfield.edu"],"multi_instructors":[],"operation":"Normal","submit_lists_by":null,"campus_participants":[{"campus":"MAIN","participants":null}],"reading_list_name":""}"#;
    let gone = row
        .replace("HIST101-2271", "PHYS100-2271")
        .replace("10235", "10990");
    let writes: Vec<_> = [
        ("HIST101-2271\t10235", row.to_owned()),
        ("PHYS100-2271\t10990", gone),
    ]
    .into_iter()
    .map(|(key, payload)| {
        Ok::<_, alma_sis_state::StateError>(ItemWrite {
            key: key.to_owned(),
            hash: ContentHash::of(payload.as_bytes()),
            expires: None,
            first_seen: today,
            last_seen: today,
            last_sent: Some(today),
            status: ItemStatus::Present,
            payload: Some(payload),
        })
    })
    .collect();
    let end = RunEnd {
        outcome: RunOutcome::Delivered,
        counts: RunCounts::default(),
        files: vec!["20261120040000.txt".into()],
        destination: None,
        message: None,
    };
    store.finish_run(run, &end, Some(today), writes).unwrap();
    drop(store);

    // HIST101 now has a lower section (10234): it keeps the key it was sent under, and
    // PHYS100, missing with an unknown term, is not deleted.
    let out = courses(tmp.path(), &config, DAY1, &["run"]);
    expect_code(&out, 0);
    let rows = delivered(tmp.path(), "20261123040000.txt");
    assert!(
        rows.iter().any(|r| r.starts_with("HIST101-2271  [")),
        "{rows:?}"
    );
    let text =
        std::fs::read_to_string(tmp.path().join("out/courses/drop/20261123040000.txt")).unwrap();
    assert!(
        text.contains("HIST101-2271\tWorld History to 1500\t10235\t"),
        "{text}"
    );
    assert!(!text.contains("PHYS100"), "{text}");
    assert!(
        stdout(&out).contains("term ended, kept                  1"),
        "{}",
        stdout(&out)
    );
    // The next run reads the state it wrote in the new format.
    let again = courses(tmp.path(), &config, DAY2, &["run"]);
    expect_code(&again, 0);
    assert!(
        stdout(&again).contains("nothing to send"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn instructors_the_patron_feed_did_not_load_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    // The demo's patron feed, run first, into its own state file.
    let patrons = workspace_root().join("examples/demo");
    for f in [
        "alma-sis.toml",
        "people.csv",
        "terms.csv",
        "replacement-cards.psv",
    ] {
        std::fs::copy(patrons.join(f), tmp.path().join(f)).unwrap();
    }
    let out = alma_sis(
        tmp.path(),
        &[
            "run",
            "--config",
            "alma-sis.toml",
            "--now",
            "2026-11-22T04:00:00Z",
        ],
    );
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        stderr(&out)
    );
    let patron_state = tmp.path().join("out/alma-sis-state.sqlite");
    assert!(patron_state.exists());
    let config = demo_copy(tmp.path(), &|c| {
        c.replace(
            "case = \"lower\"",
            "case = \"lower\"\npatron_feed = \"patrons\"\npatron_state = \"out/alma-sis-state.sqlite\"",
        )
    });
    let out = courses(tmp.path(), &config, DAY1, &["run"]);
    expect_code(&out, 0);
    let report = std::fs::read_to_string(
        tmp.path()
            .join("out/courses/courses_20261123040000.report.txt"),
    )
    .unwrap();
    let warnings: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("W-INSTRUCTOR-NOT-LOADED"))
        .collect();
    assert!(!warnings.is_empty(), "{report}");
    // Course, row and id only.
    assert!(
        warnings.iter().any(|w| w.contains("registrar.csv:2: warning[W-INSTRUCTOR-NOT-LOADED]: instructor jdoe@northfield.edu is not a user the patron feed \"patrons\" has loaded; Alma needs instructors as users (course HIST101-2271/10234)")),
        "{warnings:#?}"
    );
    // Without the patron feed's state, the report says the instructors were not checked.
    let config = demo_copy(tmp.path(), &|c| {
        c.replace(
            "case = \"lower\"",
            "case = \"lower\"\npatron_feed = \"patrons\"\npatron_state = \"nowhere.sqlite\"",
        )
    });
    let out = courses(tmp.path(), &config, DAY2, &["run"]);
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains(
            "instructors not checked against the patron feed \"patrons\": no run state at"
        ),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_column_the_extract_lacks_is_a_config_error_with_its_place() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_copy(tmp.path(), &|c| {
        c.replace("title = \"{TITLE}\"", "title = \"{COURSE_TITLE}\"")
    });
    let out = courses(tmp.path(), &config, DAY1, &["run"]);
    expect_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(
            "courses.toml:30:9: column \"COURSE_TITLE\" is not in the extract (registrar.csv has 15 column(s); the column names of a file are not shown"
        ),
        "{err}"
    );
}
