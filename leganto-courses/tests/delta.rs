//! Deltas over simulated nights: only changes are sent; a course keeps its key; cancelled
//! courses become DELETE, vanished ones only while their term is extracted; a rollover is
//! sent once, for the right old course, or reported; re-keys and mass deletes are refused.

use leganto_courses::{
    ChangeKind, CourseError, CourseKey, CourseRow, CourseState, Delta, DeltaOptions,
    FileNamePattern, MemoryState, Operation, RolloverStatus, Rules, SentCourse, Snapshot,
    plan_delta, read_course_file, write_course_file,
};

use crate::support::{course_config, good_row, map_text};

const CONFIG: &str = r#"
[source]
path = "registrar.csv"
[fields]
code = "{CODE}-{TERM}"
title = "{TITLE}"
section = "{SECTION}"
start_date = "{START}"
end_date = "{END}"
[merge]
cross_list = "{XLIST}"
[terms]
from = "{TERM}"
map = { "S27" = ["SPRING"], "F27" = ["AUTUMN"] }
[processing_department]
default = "MAIN"
[instructors]
columns = ["INSTRUCTORS"]
separator = ";"
[status]
column = "STATUS"
delete = ["CANCELLED"]
skip = ["REQUESTED"]
[rollover]
emit = true
copy_from_code = "{COPY_FROM}"
copy_from_section = "{COPY_SECTION}"
same_course = "{CODE}"
"#;

const HEAD: &str =
    "CODE,TITLE,SECTION,START,END,TERM,INSTRUCTORS,STATUS,COPY_FROM,COPY_SECTION,XLIST\n";

/// An extract row.
fn row(code: &str, section: &str, term: &str, instructors: &str, status: &str) -> String {
    format!("{code},T,{section},2027-01-18,2027-05-14,{term},{instructors},{status},,,\n")
}

fn options() -> DeltaOptions {
    DeltaOptions::from_config(&course_config(CONFIG), false, false)
}

/// Plans one night against `state`, without recording it.
fn plan(state: &MemoryState, body: &str, options: &DeltaOptions) -> Result<Delta, CourseError> {
    let mapped = map_text(&course_config(CONFIG), &format!("{HEAD}{body}"));
    plan_delta(&mapped, &state.snapshot, &state.rollovers, options)
}

/// One simulated nightly run at `stamp`: map, plan, write, check, record. Returns the
/// file's data lines as `CODE/SECTION OP <- OLD [instructors]`.
fn night(state: &mut MemoryState, stamp: &str, body: &str) -> Vec<String> {
    night_with(state, stamp, body, &options())
}

fn night_with(
    state: &mut MemoryState,
    stamp: &str,
    body: &str,
    options: &DeltaOptions,
) -> Vec<String> {
    let config = course_config(CONFIG);
    let delta = plan(state, body, options).unwrap();
    let bytes = write_course_file(&delta.rows(), &config.file.date_format).unwrap();
    let file = read_course_file(&bytes, "night.txt", &Rules::default());
    assert!(!file.has_errors(), "{:#?}", file.findings);
    state
        .record(&delta.next, &delta.sent_rollovers(stamp))
        .unwrap();
    lines(&file.rows.iter().map(|r| r.row.clone()).collect::<Vec<_>>())
}

fn lines(rows: &[CourseRow]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            let old = match &r.operation {
                Operation::Rollover {
                    old_code,
                    old_section,
                } => format!(" <- {old_code}/{old_section}"),
                _ => String::new(),
            };
            format!(
                "{} {}{old} [{}]",
                r.key(),
                r.operation.as_str(),
                r.instructors.join(" ")
            )
        })
        .collect()
}

fn key(code: &str, section: &str) -> CourseKey {
    CourseKey {
        code: code.into(),
        section: section.into(),
    }
}

#[test]
fn three_nights_send_only_what_changed() {
    let mut state = MemoryState::default();
    let hist = "HIST101,World History,1,2027-01-18,2027-05-14,S27";
    let engl = "ENGL205,Shakespeare,1,2027-01-18,2027-05-14,S27";
    let chem = "CHEM110,Chemistry,1,2027-01-18,2027-05-14,S27";
    let old = "ENGL205,Shakespeare,9,2026-01-18,2026-05-14,F27,rpatel,ACTIVE,,,\n";

    // Night 0: the old course is sent (as a course alma-sis loaded).
    night(&mut state, "2026-11-22T04:00:00Z", old);
    // Night 1: two new courses; ENGL205 asks to copy from the old course.
    assert_eq!(
        night(
            &mut state,
            "2026-11-23T04:00:00Z",
            &format!("{old}{hist},jdoe,ACTIVE,,,\n{engl},rpatel,ACTIVE,ENGL205-F27,9,\n"),
        ),
        [
            "HIST101-S27/1  [jdoe]",
            "ENGL205-S27/1 ROLLOVER <- ENGL205-F27/9 [rpatel]"
        ]
    );
    // Night 2: HIST101's instructors change and CHEM110 is new; the rollover request is
    // still in the extract but was sent, so it is not sent again.
    assert_eq!(
        night(
            &mut state,
            "2026-11-24T04:00:00Z",
            &format!(
                "{old}{hist},jdoe;blee,ACTIVE,,,\n{engl},rpatel,ACTIVE,ENGL205-F27,9,\n{chem},kchen,ACTIVE,,,\n"
            ),
        ),
        ["CHEM110-S27/1  [kchen]", "HIST101-S27/1  [jdoe blee]"]
    );
    // Night 3: CHEM110 is cancelled and ENGL205 gets a second instructor: updated, never
    // rolled over again.
    let night3 = format!(
        "{old}{hist},jdoe;blee,ACTIVE,,,\n{engl},rpatel;owright,ACTIVE,ENGL205-F27,9,\n{chem},kchen,CANCELLED,,,\n"
    );
    assert_eq!(
        night(&mut state, "2026-11-25T04:00:00Z", &night3),
        [
            "ENGL205-S27/1  [rpatel owright]",
            "CHEM110-S27/1 DELETE [kchen]"
        ]
    );
    // Night 4: nothing changed, nothing to send; the deleted course stays gone.
    assert!(night(&mut state, "2026-11-26T04:00:00Z", &night3).is_empty());
    assert_eq!(state.rollovers.len(), 1);
    assert_eq!(state.rollovers[0].sent_at, "2026-11-23T04:00:00Z");
    let keys: Vec<String> = state
        .snapshot
        .courses
        .iter()
        .map(|c| c.key().to_string())
        .collect();
    assert_eq!(keys, ["ENGL205-F27/9", "ENGL205-S27/1", "HIST101-S27/1"]);
}

#[test]
fn a_course_keeps_its_key_whatever_sections_are_added_or_removed() {
    let mut state = MemoryState::default();
    let s = |section: &str| row("HIST101", section, "S27", "jdoe", "ACTIVE");
    assert_eq!(
        night(
            &mut state,
            "2026-11-23T04:00:00Z",
            &format!("{}{}", s("10234"), s("10235"))
        ),
        ["HIST101-S27/10234  [jdoe]"]
    );
    // A lower section is added: the course is updated under its key, never deleted.
    assert_eq!(
        night(
            &mut state,
            "2026-11-24T04:00:00Z",
            &format!("{}{}{}", s("10233"), s("10234"), s("10235"))
        ),
        ["HIST101-S27/10234  [jdoe]"]
    );
    // The key's own section goes (and one comes back cancelled): still the same course.
    let delta = plan(
        &state,
        &format!(
            "{}{}{}",
            s("10233"),
            s("10235"),
            row("HIST101", "10234", "S27", "jdoe", "CANCELLED")
        ),
        &options(),
    )
    .unwrap();
    assert!(delta.changes.is_empty(), "{:?}", lines(&delta.rows()));
    assert_eq!(delta.unchanged, 1);
    assert_eq!(
        delta.next.courses[0].row.multi_search_ids,
        ["10233", "10235"]
    );
    // Every section cancelled: now the course is deleted, under its key.
    let delta = plan(
        &state,
        &["10233", "10234", "10235"]
            .map(|x| row("HIST101", x, "S27", "jdoe", "CANCELLED"))
            .concat(),
        &options(),
    )
    .unwrap();
    assert_eq!(lines(&delta.rows()), ["HIST101-S27/10234 DELETE [jdoe]"]);
}

#[test]
fn cross_listed_courses_are_one_course_and_keep_their_key() {
    let mut state = MemoryState::default();
    let x = |code: &str, section: &str, xlist: &str| {
        format!("{code},T,{section},2027-01-18,2027-05-14,S27,i{section},ACTIVE,,,{xlist}\n")
    };
    assert_eq!(
        night(
            &mut state,
            "2026-11-23T04:00:00Z",
            &format!("{}{}", x("HIST101", "7", "X1"), x("ANTH101", "8", "X1"))
        ),
        ["ANTH101-S27/8  [i8 i7]"]
    );
    // The registrar renumbers the group and adds a section with a lower code: same course.
    assert_eq!(
        night(
            &mut state,
            "2026-11-24T04:00:00Z",
            &format!(
                "{}{}{}",
                x("HIST101", "7", "X5"),
                x("ANTH101", "8", "X5"),
                x("AAAS101", "6", "X5")
            )
        ),
        ["ANTH101-S27/8  [i8 i6 i7]"]
    );
}

#[test]
fn a_change_that_would_re_key_a_course_is_held_unless_forced() {
    let mut state = MemoryState::default();
    let x = |code: &str, section: &str, xlist: &str| {
        format!("{code},T,{section},2027-01-18,2027-05-14,S27,i{section},ACTIVE,,,{xlist}\n")
    };
    night(
        &mut state,
        "2026-11-23T04:00:00Z",
        &format!(
            "{}{}{}",
            x("HIST101", "7", ""),
            x("ANTH101", "8", ""),
            x("CHEM1", "1", "")
        ),
    );
    // Mid-term, two sent courses become cross-listed: one of them would lose its key.
    let merged = format!(
        "{}{}{}",
        x("HIST101", "7", "X1"),
        x("ANTH101", "8", "X1"),
        x("CHEM1", "1", "")
    );
    let held = plan(&state, &merged, &options()).unwrap();
    assert!(held.changes.is_empty(), "{:?}", lines(&held.rows()));
    assert_eq!(held.held, 1);
    let messages: Vec<String> = held.findings.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "error[E-REKEY]: the courses sent as ANTH101-S27/8, HIST101-S27/7 are today 1 course(s) (extract lines 2, 3): keeping every key is not possible; nothing is sent for them and none is deleted. Check the registrar's cross-listing and sections; forced, the run would go on: sent as ANTH101-S27/8; HIST101-S27/7 no longer sent (deleted if the extract has its term)"
        ]
    );
    let forced = DeltaOptions {
        force: true,
        ..options()
    };
    assert_eq!(
        night_with(&mut state, "2026-11-24T04:00:00Z", &merged, &forced),
        ["ANTH101-S27/8  [i8 i7]", "HIST101-S27/7 DELETE [i7]"]
    );
    // Afterwards the merged course is a course like any other.
    assert!(night(&mut state, "2026-11-25T04:00:00Z", &merged).is_empty());
}

#[test]
fn a_split_that_needs_a_taken_key_is_held() {
    let mut state = MemoryState::default();
    let x = |code: &str, section: &str, xlist: &str| {
        format!("{code},T,{section},2027-01-18,2027-05-14,S27,i{section},ACTIVE,,,{xlist}\n")
    };
    night(
        &mut state,
        "2026-11-23T04:00:00Z",
        &format!("{}{}", x("HIST101", "7", "X1"), x("ANTH101", "8", "X1")),
    );
    // ANTH101 leaves the cross-listing: its only section is the key the group keeps.
    let split = format!("{}{}", x("HIST101", "7", "X1"), x("ANTH101", "8", ""));
    let held = plan(&state, &split, &options()).unwrap();
    assert!(held.changes.is_empty());
    assert_eq!(held.findings[0].code, "E-REKEY");
    let forced = DeltaOptions {
        force: true,
        ..options()
    };
    assert_eq!(
        night_with(&mut state, "2026-11-24T04:00:00Z", &split, &forced),
        ["HIST101-S27/7  [i7]", "ANTH101-S27/8  [i8]"]
    );
}

#[test]
fn a_rollover_old_course_comes_from_the_state_never_from_the_new_section() {
    let mut state = MemoryState::default();
    night(
        &mut state,
        "2026-11-20T04:00:00Z",
        &row("HIST101", "9100", "F27", "jdoe", "ACTIVE"),
    );
    // Same course, earlier term sent: its key, whatever the new section is.
    let body = format!(
        "{}{}",
        row("HIST101", "9100", "F27", "jdoe", "ACTIVE"),
        row("HIST101", "10234", "S27", "jdoe", "ACTIVE")
    );
    // ("F27" < "S27" as text: F27 is the earlier term here.)
    assert_eq!(
        night(&mut state, "2026-11-23T04:00:00Z", &body),
        ["HIST101-S27/10234 ROLLOVER <- HIST101-F27/9100 [jdoe]"]
    );
    assert!(night(&mut state, "2026-11-24T04:00:00Z", &body).is_empty());
}

#[test]
fn a_rollover_from_a_course_never_sent_is_a_finding_not_a_send() {
    let state = MemoryState::default();
    let copy = "ENGL205,T,1,2027-01-18,2027-05-14,S27,rpatel,ACTIVE,ENGL205-F26,77,\n";
    let delta = plan(&state, copy, &options()).unwrap();
    assert_eq!(lines(&delta.rows()), ["ENGL205-S27/1  [rpatel]"]);
    assert_eq!(delta.findings[0].code, "W-ROLLOVER-OLD-UNSENT");
    assert_eq!(
        delta.rollovers[0].status,
        RolloverStatus::Held("old course never sent".into())
    );
    assert!(delta.sent_rollovers("now").is_empty());
    // Without a section, the old course must be the one sent with that code.
    let code_only = "ENGL205,T,1,2027-01-18,2027-05-14,S27,rpatel,ACTIVE,ENGL205-F26,,\n";
    let delta = plan(&state, code_only, &options()).unwrap();
    assert_eq!(delta.findings[0].code, "W-ROLLOVER-OLD-UNKNOWN");
    assert!(delta.sent_rollovers("now").is_empty());
    // `unknown_old = "send"` sends a fully named old course, with the warning.
    let send = DeltaOptions {
        unknown_old: leganto_courses::UnknownOld::Send,
        ..options()
    };
    let delta = plan(&state, copy, &send).unwrap();
    assert_eq!(
        lines(&delta.rows()),
        ["ENGL205-S27/1 ROLLOVER <- ENGL205-F26/77 [rpatel]"]
    );
    assert_eq!(delta.findings[0].code, "W-ROLLOVER-OLD-UNSENT");
    let delta = plan(&state, code_only, &send).unwrap();
    assert!(delta.sent_rollovers("now").is_empty());
}

#[test]
fn a_course_gets_one_rollover() {
    let mut state = MemoryState::default();
    let olds = format!(
        "{}{}",
        row("ENGL205", "9", "F27", "a", "ACTIVE"),
        row("ENGL206", "8", "F27", "a", "ACTIVE")
    );
    night(&mut state, "2026-11-20T04:00:00Z", &olds);
    let asks = |from: &str, section: &str| {
        format!("{olds}ENGL205,T,1,2027-01-18,2027-05-14,S27,a,ACTIVE,{from},{section},\n")
    };
    assert_eq!(
        night(
            &mut state,
            "2026-11-21T04:00:00Z",
            &asks("ENGL205-F27", "9")
        ),
        ["ENGL205-S27/1 ROLLOVER <- ENGL205-F27/9 [a]"]
    );
    // The instructor changes the request: the lists were copied already.
    let delta = plan(&state, &asks("ENGL206-F27", "8"), &options()).unwrap();
    assert!(delta.changes.is_empty());
    assert_eq!(delta.findings[0].code, "W-ROLLOVER-AGAIN");
}

fn snapshot(n: usize) -> Snapshot {
    Snapshot {
        courses: (0..n)
            .map(|i| SentCourse {
                row: CourseRow {
                    code: format!("C{i:03}-S27"),
                    section: "1".into(),
                    ..good_row()
                },
                group: format!("C{i:03}-S27"),
                members: vec![key(&format!("C{i:03}-S27"), "1")],
                term: Some("S27".into()),
                same_course: Vec::new(),
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
    let body: String = (deletes..sent)
        .map(|i| row(&format!("C{i:03}"), "1", "S27", "", "ACTIVE"))
        .collect();
    // One row of the term stays, so the term is still extracted.
    let body = if body.is_empty() {
        row("OTHER", "1", "S27", "", "ACTIVE")
    } else {
        body
    };
    let mapped = map_text(&course_config(CONFIG), &format!("{HEAD}{body}"));
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

#[test]
fn deleting_a_course_that_received_lists_trips_its_own_brake() {
    let mut state = MemoryState::default();
    let old = row("HIST101", "9", "F27", "a", "ACTIVE");
    night(&mut state, "2026-11-20T04:00:00Z", &old);
    let new = row("HIST101", "1", "S27", "a", "ACTIVE");
    let other = row("CHEM1", "1", "S27", "a", "ACTIVE");
    night(
        &mut state,
        "2026-11-21T04:00:00Z",
        &format!("{old}{new}{other}"),
    );
    assert_eq!(state.rollovers.len(), 1);
    // The rolled-over course vanishes while its term is extracted: one delete is enough.
    let err = plan(&state, &format!("{old}{other}"), &options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "brake: 1 course(s) that received rolled-over reading lists would be deleted (HIST101-S27/1), more than the 0 allowed: deleting a course deletes its reading lists. Check the extract, or raise [delta] max_rollover_target_deletes, or force the run"
    );
    let allowed = DeltaOptions {
        max_rollover_target_deletes: 1,
        ..options()
    };
    let delta = plan(&state, &format!("{old}{other}"), &allowed).unwrap();
    assert_eq!(delta.rollover_target_deletes, [key("HIST101-S27", "1")]);
}

fn check_missing(body: &str, delete_vanished: bool, expected: &[&str], kept: usize, ended: usize) {
    let mut state = MemoryState::default();
    let both = format!(
        "{}{}{}",
        row("A1", "1", "S27", "x", "ACTIVE"),
        row("B1", "1", "S27", "y", "ACTIVE"),
        row("F1", "1", "F27", "z", "ACTIVE")
    );
    night(&mut state, "2026-11-20T04:00:00Z", &both);
    let options = DeltaOptions {
        delete_vanished,
        ..options()
    };
    let delta = plan(&state, body, &options).unwrap();
    let got: Vec<String> = delta
        .changes
        .iter()
        .map(|c| format!("{:?} {}", c.kind, c.row.key()))
        .collect();
    assert_eq!(got, expected, "{body}");
    assert_eq!((delta.kept_missing, delta.ended), (kept, ended), "{body}");
}

#[test]
fn missing_courses_are_deleted_only_while_their_term_is_extracted_and_not_held() {
    let a = row("A1", "1", "S27", "x", "ACTIVE");
    let f = row("F1", "1", "F27", "z", "ACTIVE");
    check_missing(&format!("{a}{f}"), true, &["Delete B1-S27/1"], 0, 0);
    check_missing(&format!("{a}{f}"), false, &[], 1, 0);
    // F27 is no longer extracted: F1 has ended, it is not cancelled.
    check_missing(&a, true, &["Delete B1-S27/1"], 0, 1);
    // An empty extract deletes nothing.
    check_missing("", true, &[], 0, 3);
    // B1's row is rejected today (a bad date): it is held, not deleted.
    check_missing(
        &format!("{a}{f}B1,T,1,soon,2027-05-14,S27,y,ACTIVE,,,\n"),
        true,
        &[],
        1,
        0,
    );
    // B1's row is skipped today (its status): held too.
    check_missing(
        &format!("{a}{f}{}", row("B1", "1", "S27", "y", "REQUESTED")),
        true,
        &[],
        1,
        0,
    );
}

#[test]
fn emit_off_sends_no_rollover() {
    let mut state = MemoryState::default();
    let old = row("ENGL205", "9", "F27", "a", "ACTIVE");
    night(&mut state, "2026-11-20T04:00:00Z", &old);
    let delta = plan(
        &state,
        &format!("{old}{}", row("ENGL205", "1", "S27", "a", "ACTIVE")),
        &DeltaOptions {
            emit_rollovers: false,
            ..options()
        },
    )
    .unwrap();
    assert_eq!(delta.count(ChangeKind::Create), 1);
    assert_eq!(delta.count(ChangeKind::Rollover), 0);
    assert_eq!(delta.rollovers[0].status, RolloverStatus::ReportOnly);
    assert!(delta.sent_rollovers("now").is_empty());
}

#[test]
fn updates_alma_ignores_by_default_are_reported() {
    let mut state = MemoryState::default();
    night(
        &mut state,
        "2026-11-20T04:00:00Z",
        &row("A1", "1", "S27", "x", "ACTIVE"),
    );
    let retitled = "A1,New title,1,2027-01-18,2027-05-20,S27,x;y,ACTIVE,,,\n";
    let delta = plan(&state, retitled, &options()).unwrap();
    assert_eq!(delta.count(ChangeKind::Update), 1);
    assert_eq!(delta.not_applied, 1);
    assert_eq!(
        delta.findings[0].to_string(),
        "warning[W-UPDATE-NOT-APPLIED]: COURSE_TITLE, END_DATE changed; with default Course Loader settings Alma updates only NUM_OF_PARTICIPANTS and the instructors of a course it has: change the rest in Alma, or set the profile's update options and list the columns in [file] loader_updates (course A1-S27/1)"
    );
    let told = DeltaOptions {
        loader_updates: vec!["COURSE_TITLE".into(), "END_DATE".into()],
        ..options()
    };
    assert_eq!(plan(&state, retitled, &told).unwrap().not_applied, 0);
    // Only instructors: nothing to report.
    let delta = plan(&state, &row("A1", "1", "S27", "x;y", "ACTIVE"), &options()).unwrap();
    assert_eq!((delta.count(ChangeKind::Update), delta.not_applied), (1, 0));
}

#[test]
fn first_version_state_is_migrated() {
    // A course as the first version recorded it: a bare row, merged by code.
    let row = CourseRow {
        code: "HIST101-S27".into(),
        section: "10234".into(),
        multi_search_ids: vec!["10235".into()],
        ..good_row()
    };
    let payload = serde_json::to_string(&row).unwrap();
    let course = SentCourse::from_payload(&payload).unwrap();
    assert_eq!(course.group, "HIST101-S27");
    assert_eq!(
        course.members,
        [key("HIST101-S27", "10234"), key("HIST101-S27", "10235")]
    );
    assert_eq!(course.term, None);
    assert_eq!(
        SentCourse::from_payload(&course.to_payload().unwrap()).unwrap(),
        course
    );
    let newer = r#"{"version":3,"course":{}}"#;
    assert!(
        SentCourse::from_payload(newer)
            .unwrap_err()
            .to_string()
            .contains("course state format 3 is newer than this alma-sis reads (2)")
    );
    // The migrated course keeps its key when a lower section appears, and a first-version
    // course missing from the extract is kept (its term is unknown).
    let state = MemoryState {
        snapshot: Snapshot {
            courses: vec![course],
        },
        rollovers: Vec::new(),
    };
    let body = format!(
        "{}{}{}",
        self::row("HIST101", "10233", "S27", "jdoe@northfield.edu", "ACTIVE"),
        self::row("HIST101", "10234", "S27", "jdoe@northfield.edu", "ACTIVE"),
        self::row("HIST101", "10235", "S27", "jdoe@northfield.edu", "ACTIVE")
    );
    let delta = plan(&state, &body, &options()).unwrap();
    assert_eq!(
        lines(&delta.rows()),
        ["HIST101-S27/10234  [jdoe@northfield.edu]"]
    );
    let delta = plan(
        &state,
        &self::row("OTHER", "1", "S27", "", "ACTIVE"),
        &options(),
    )
    .unwrap();
    assert_eq!((delta.count(ChangeKind::Delete), delta.ended), (0, 1));
}

#[test]
fn file_names_come_from_the_run_time() {
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-23T04:00:00Z").unwrap();
    assert_eq!(
        FileNamePattern::default().file_name(at.naive_utc()),
        "20261123040000.txt"
    );
}

/// Five courses of term S27, one section each.
fn five_courses() -> String {
    ["C1", "C2", "C3", "C4", "C5"]
        .iter()
        .enumerate()
        .map(|(i, c)| row(c, &(i + 1).to_string(), "S27", "a", ""))
        .collect()
}

#[test]
fn a_row_whose_term_is_mistyped_or_empty_deletes_no_course_of_it() {
    let mut state = MemoryState::default();
    assert_eq!(night(&mut state, "n1", &five_courses()).len(), 5);
    // C1's term mistyped, C2's left empty, C5 gone: only C5 is deleted.
    let body = [
        row("C1", "1", "S72", "a", ""),
        row("C2", "2", "", "a", ""),
        row("C3", "3", "S27", "a", ""),
        row("C4", "4", "S27", "a", ""),
    ]
    .concat();
    let delta = plan(&state, &body, &options()).unwrap();
    assert_eq!(lines(&delta.rows()), ["C5-S27/5 DELETE [a]"]);
    assert_eq!(delta.kept_missing, 2);
    // Under the other term the config maps, C1 and C2 are held as well (a second course
    // with the same code and section is never deleted for a mistyped term either).
    let mapped = map_text(&course_config(CONFIG), &format!("{HEAD}{body}"));
    for k in ["C1-S27/1", "C1-F27/1", "C2-S27/2", "C2-F27/2"] {
        assert!(
            mapped.held_rows.iter().any(|h| h.to_string() == k),
            "{k}: {:?}",
            mapped.held_rows
        );
    }
}

#[test]
fn rows_that_do_not_read_cleanly_are_rejected_hold_their_course_and_delete_nothing() {
    let mut state = MemoryState::default();
    assert_eq!(night(&mut state, "n1", &five_courses()).len(), 5);
    // C1 cut short (a truncated extract), C2 with a field too many, C3 with a quote left
    // open; C4 gone, C5 with a new instructor.
    let body = [
        "C1,T,1,2027-01-18\n".to_owned(),
        "C2,T,2,2027-01-18,2027-05-14,S27,a,,,,,extra\n".to_owned(),
        "C3,\"T,3,2027-01-18,2027-05-14,S27,a,,,\n".to_owned(),
        row("C5", "5", "S27", "a;b", ""),
    ]
    .concat();
    let mapped = map_text(&course_config(CONFIG), &format!("{HEAD}{body}"));
    let found: Vec<String> = mapped
        .findings
        .iter()
        .map(|f| format!("{}:{}", f.code, f.line.unwrap_or_default()))
        .collect();
    assert_eq!(
        found,
        ["E-READ-FIELDS:2", "E-READ-FIELDS:3", "E-READ-QUOTE:4"],
        "{:#?}",
        mapped.findings
    );
    assert!(mapped.findings.iter().all(|f| f.is_error()));
    // What is wrong, without the code, file and line the finding carries itself.
    assert!(
        mapped.findings[0]
            .message
            .starts_with("the row has 4 field(s), the header has 11; the row is not read"),
        "{}",
        mapped.findings[0].message
    );
    assert_eq!((mapped.rows_unclean, mapped.rows_rejected), (3, 3));
    assert!(!mapped.complete());
    assert_eq!(mapped.held_groups, ["C1-", "C2-S27", "C3-"]);
    let delta = plan(&state, &body, &options()).unwrap();
    // Nothing deleted, C1-C3 not updated from rows that may be another column's values.
    assert_eq!(lines(&delta.rows()), ["C5-S27/5  [a b]"]);
    assert_eq!(delta.kept_missing, 4, "C1-C3 held, C4 kept");
    let sum = mapped.courses.len() as u64
        + mapped.rows_merged
        + mapped.rows_skipped
        + mapped.rows_rejected
        + mapped.rows_unreadable
        + mapped.rows_held;
    assert_eq!(sum, mapped.rows_read, "every row is counted once");
}
