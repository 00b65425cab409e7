//! Deltas over simulated days: only changes are sent, cancelled courses become DELETE, a
//! rollover is sent once and never again, and mass deletes trip the brake.

use leganto_courses::{
    ChangeKind, CourseError, CourseRow, CourseState, DeltaOptions, FileNamePattern, MemoryState,
    Rules, Snapshot, map_extract, plan_delta, read_course_file, write_course_file,
};

use crate::support::{course_config, good_row};

const CONFIG: &str = r#"
[source]
path = "registrar.csv"
[fields]
code = "{CODE}"
title = "{TITLE}"
section = "{SECTION}"
start_date = "{START}"
end_date = "{END}"
[terms]
from = "{TERM}"
map = { "S27" = ["SPRING"] }
[processing_department]
default = "MAIN"
[instructors]
columns = ["INSTRUCTORS"]
separator = ";"
[status]
column = "STATUS"
delete = ["CANCELLED"]
[rollover]
emit = true
copy_from_code = "{COPY_FROM}"
"#;

const HEAD: &str = "CODE,TITLE,SECTION,START,END,TERM,INSTRUCTORS,STATUS,COPY_FROM\n";

fn options() -> DeltaOptions {
    DeltaOptions {
        full: false,
        emit_rollovers: true,
        max_deletes: 20,
        max_delete_percent: 10,
        delete_vanished: true,
        force: false,
    }
}

/// One simulated nightly run at `stamp`: map, plan, write, check, record. Returns the file
/// name and the data lines, `(code, section, operation, instructors)`.
fn night(state: &mut MemoryState, stamp: &str, body: &str) -> (String, Vec<String>) {
    let config = course_config(CONFIG);
    let mapped = map_extract(&config, &format!("{HEAD}{body}"), "registrar.csv").unwrap();
    assert!(mapped.findings.is_empty(), "{:#?}", mapped.findings);
    let last = state.last_snapshot().unwrap();
    let sent = state.rollovers_sent().unwrap();
    let delta = plan_delta(&mapped, &last, &sent, &options()).unwrap();
    let bytes = write_course_file(&delta.rows(), &config.file.date_format).unwrap();
    let file = read_course_file(&bytes, "day.txt", &Rules::default());
    assert!(file.findings.is_empty(), "{:#?}", file.findings);
    let at = chrono::DateTime::parse_from_rfc3339(stamp).unwrap();
    state
        .record(&delta.next, &delta.sent_rollovers(stamp))
        .unwrap();
    let lines = file
        .rows
        .iter()
        .map(|r| {
            let old = match &r.row.operation {
                leganto_courses::Operation::Rollover {
                    old_code,
                    old_section,
                } => format!(" <- {old_code}/{old_section}"),
                _ => String::new(),
            };
            format!(
                "{} {}{old} [{}]",
                r.row.key(),
                r.row.operation.as_str(),
                r.row.instructors.join(" ")
            )
        })
        .collect();
    (FileNamePattern::default().file_name(at.naive_utc()), lines)
}

#[test]
fn three_nights_send_only_what_changed() {
    let mut state = MemoryState::default();
    let hist = "HIST101,World History,1,2027-01-18,2027-05-14,S27";
    let engl = "ENGL205,Shakespeare,1,2027-01-18,2027-05-14,S27";
    let chem = "CHEM110,Chemistry,1,2027-01-18,2027-05-14,S27";

    // Night 1: two new courses; ENGL205 asks to copy from last year's course.
    let (name, lines) = night(
        &mut state,
        "2026-11-23T04:00:00Z",
        &format!("{hist},jdoe,ACTIVE,\n{engl},rpatel,ACTIVE,ENGL205-2026\n"),
    );
    assert_eq!(name, "20261123040000.txt");
    assert_eq!(
        lines,
        [
            "HIST101/1  [jdoe]",
            "ENGL205/1 ROLLOVER <- ENGL205-2026/1 [rpatel]"
        ]
    );

    // Night 2: HIST101's instructors change and CHEM110 is new; the rollover request is
    // still in the extract but was sent, so it is not sent again.
    let (name, lines) = night(
        &mut state,
        "2026-11-24T04:00:00Z",
        &format!(
            "{hist},jdoe;blee,ACTIVE,\n{engl},rpatel,ACTIVE,ENGL205-2026\n{chem},kchen,ACTIVE,\n"
        ),
    );
    assert_eq!(name, "20261124040000.txt");
    assert_eq!(lines, ["CHEM110/1  [kchen]", "HIST101/1  [jdoe blee]"]);

    // Night 3: CHEM110 is cancelled and ENGL205 gets a second instructor: the course is
    // updated, never rolled over again.
    let (_, lines) = night(
        &mut state,
        "2026-11-25T04:00:00Z",
        &format!(
            "{hist},jdoe;blee,ACTIVE,\n{engl},rpatel;owright,ACTIVE,ENGL205-2026\n{chem},kchen,CANCELLED,\n"
        ),
    );
    assert_eq!(
        lines,
        ["ENGL205/1  [rpatel owright]", "CHEM110/1 DELETE [kchen]"]
    );

    // Night 4: nothing changed, nothing to send; the deleted course stays gone.
    let (_, lines) = night(
        &mut state,
        "2026-11-26T04:00:00Z",
        &format!(
            "{hist},jdoe;blee,ACTIVE,\n{engl},rpatel;owright,ACTIVE,ENGL205-2026\n{chem},kchen,CANCELLED,\n"
        ),
    );
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(state.rollovers.len(), 1);
    assert_eq!(state.rollovers[0].sent_at, "2026-11-23T04:00:00Z");
    let keys: Vec<String> = state
        .snapshot
        .courses
        .iter()
        .map(|r| r.key().to_string())
        .collect();
    assert_eq!(keys, ["ENGL205/1", "HIST101/1"]);
}

fn snapshot(n: usize) -> Snapshot {
    Snapshot {
        courses: (0..n)
            .map(|i| CourseRow {
                code: format!("C{i:03}"),
                ..good_row()
            })
            .collect(),
    }
}

fn check_brake(
    sent: usize,
    deletes: usize,
    max_deletes: usize,
    percent: u32,
    force: bool,
    trips: bool,
) {
    let mapped = leganto_courses::MappedCourses {
        rows: snapshot(sent).courses.split_off(deletes),
        ..Default::default()
    };
    let options = DeltaOptions {
        max_deletes,
        max_delete_percent: percent,
        force,
        ..options()
    };
    match plan_delta(&mapped, &snapshot(sent), &[], &options) {
        Ok(delta) => {
            assert!(!trips, "{sent} {deletes}: expected the brake");
            assert_eq!(delta.count(ChangeKind::Delete), deletes);
        }
        Err(CourseError::Brake { deletes: d, .. }) => {
            assert!(trips, "{sent} {deletes}: unexpected brake");
            assert_eq!(d, deletes);
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_brake_stops_mass_deletes() {
    check_brake(30, 20, 20, 10, false, false);
    check_brake(30, 21, 20, 10, false, true);
    check_brake(30, 21, 20, 10, true, false);
    check_brake(1000, 100, 20, 10, false, false);
    check_brake(1000, 101, 20, 10, false, true);
    check_brake(5, 5, 0, 0, false, true);
}

fn check_missing(body: &str, delete_vanished: bool, expected: &[&str]) {
    let config = course_config(CONFIG);
    let mut state = MemoryState::default();
    let both =
        "A1,T,1,2027-01-18,2027-05-14,S27,x,ACTIVE,\nB1,T,1,2027-01-18,2027-05-14,S27,y,ACTIVE,\n";
    let day1 = map_extract(&config, &format!("{HEAD}{both}"), "r.csv").unwrap();
    let delta = plan_delta(&day1, &Snapshot::default(), &[], &options()).unwrap();
    state.record(&delta.next, &[]).unwrap();
    let day2 = map_extract(&config, &format!("{HEAD}{body}"), "r.csv").unwrap();
    let options = DeltaOptions {
        delete_vanished,
        ..options()
    };
    let delta = plan_delta(&day2, &state.snapshot, &[], &options).unwrap();
    let got: Vec<String> = delta
        .changes
        .iter()
        .map(|c| format!("{:?} {}", c.kind, c.row.key()))
        .collect();
    assert_eq!(got, expected, "{body}");
    assert_eq!(delta.kept_missing + got.len(), 1);
}

#[test]
fn missing_courses_are_deleted_unless_held() {
    let a = "A1,T,1,2027-01-18,2027-05-14,S27,x,ACTIVE,\n";
    check_missing(a, true, &["Delete B1/1"]);
    check_missing(a, false, &[]);
    // B1's row is rejected today (a bad date): it is held, not deleted.
    check_missing(
        &format!("{a}B1,T,1,soon,2027-05-14,S27,y,ACTIVE,\n"),
        true,
        &[],
    );
    // B1's term is not mapped today: held too.
    check_missing(
        &format!("{a}B1,T,1,2027-01-18,2027-05-14,F27,y,ACTIVE,\n"),
        true,
        &[],
    );
}

#[test]
fn emit_off_sends_no_rollover() {
    let config = course_config(CONFIG);
    let mapped = map_extract(
        &config,
        &format!("{HEAD}ENGL205,S,1,2027-01-18,2027-05-14,S27,rpatel,ACTIVE,ENGL205-2026\n"),
        "r.csv",
    )
    .unwrap();
    let delta = plan_delta(
        &mapped,
        &Snapshot::default(),
        &[],
        &DeltaOptions {
            emit_rollovers: false,
            ..options()
        },
    )
    .unwrap();
    assert_eq!(delta.count(ChangeKind::Create), 1);
    assert_eq!(delta.count(ChangeKind::Rollover), 0);
    assert!(delta.rollovers.is_empty());
}
