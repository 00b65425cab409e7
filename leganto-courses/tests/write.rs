//! The writer: header, 34 columns, CRLF, UTF-8 without BOM, cleaned values, names.

use chrono::NaiveDate;
use leganto_courses::{
    COLUMNS, CourseError, CourseRow, DateFormat, FileNamePattern, Operation, Rules,
    read_course_file, write_course_file,
};
use proptest::prelude::*;

use crate::support::{good_row, rules};

fn text(rows: &[CourseRow], format: &str) -> String {
    let bytes = write_course_file(rows, &DateFormat::new(format).unwrap()).unwrap();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn every_line_has_34_columns_and_ends_in_crlf() {
    let mut rollover = good_row();
    rollover.operation = Operation::Rollover {
        old_code: "HIST101-2261".into(),
        old_section: "9000".into(),
    };
    let out = text(&[good_row(), rollover], "%Y-%m-%d");
    assert!(!out.starts_with('\u{feff}'));
    assert!(out.ends_with("\r\n"));
    let lines: Vec<&str> = out.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 3);
    for line in &lines {
        assert_eq!(line.matches('\t').count(), 33, "{line:?}");
        assert!(!line.contains('\n') && !line.contains('\r'));
    }
    assert_eq!(lines[0], COLUMNS.join("\t"));
}

fn check_values(row: CourseRow, format: &str, expected: &[(&str, &str)]) {
    let out = text(&[row], format);
    let line = out.split("\r\n").nth(1).unwrap();
    let fields: Vec<&str> = line.split('\t').collect();
    for (column, value) in expected {
        let i = COLUMNS.iter().position(|c| c == column).unwrap();
        assert_eq!(fields[i], *value, "{column}");
    }
}

#[test]
fn values_land_in_their_columns() {
    let mut row = good_row();
    row.title = "Tabs\tand\r\nbreaks".into();
    check_values(
        row.clone(),
        "%Y-%m-%d",
        &[("COURSE_TITLE", "Tabs and  breaks")],
    );
    check_values(
        row.clone(),
        "%d-%m-%Y",
        &[("START_DATE", "18-01-2027"), ("END_DATE", "14-05-2027")],
    );
    row.instructors = (1..=10).map(|i| format!("i{i}")).collect();
    row.multi_instructors = vec!["m1".into(), "m2".into()];
    check_values(
        row.clone(),
        "%Y-%m-%d",
        &[
            ("INSTR1", "i1"),
            ("INSTR10", "i10"),
            ("MULTI_INST", "m1,m2"),
        ],
    );
    row.operation = Operation::Delete;
    check_values(
        row.clone(),
        "%Y-%m-%d",
        &[("OPERATION", "DELETE"), ("OLD_COURSE_CODE", "")],
    );
    row.operation = Operation::Rollover {
        old_code: "OLD".into(),
        old_section: "1".into(),
    };
    check_values(
        row,
        "%Y-%m-%d",
        &[
            ("OPERATION", "ROLLOVER"),
            ("OLD_COURSE_CODE", "OLD"),
            ("OLD_COURSE_SECTION", "1"),
        ],
    );
}

#[test]
fn rows_with_too_many_values_are_refused() {
    let mut row = good_row();
    row.instructors = (0..11).map(|i| format!("i{i}")).collect();
    let err = write_course_file(&[row], &DateFormat::default()).unwrap_err();
    assert!(
        matches!(
            err,
            CourseError::TooMany {
                max: 10,
                count: 11,
                ..
            }
        ),
        "{err}"
    );
    let mut row = good_row();
    row.terms = vec!["A".into(); 5];
    let err = write_course_file(&[row], &DateFormat::default()).unwrap_err();
    assert!(
        matches!(
            err,
            CourseError::TooMany {
                max: 4,
                count: 5,
                ..
            }
        ),
        "{err}"
    );
}

fn check_date_format(format: &str, ok: bool) {
    assert_eq!(DateFormat::new(format).is_ok(), ok, "{format}");
}

#[test]
fn date_formats_must_write_a_whole_date() {
    check_date_format("%Y-%m-%d", true);
    check_date_format("%d-%m-%Y", true);
    check_date_format("%d.%m.%Y", true);
    check_date_format("%Y-%m", false);
    check_date_format("%Q", false);
    check_date_format("%d,%m,%Y", false);
}

fn check_name(pattern: &str, expected: Result<&str, ()>) {
    let stamp = NaiveDate::from_ymd_opt(2026, 11, 23)
        .unwrap()
        .and_hms_opt(4, 5, 6)
        .unwrap();
    let got = FileNamePattern::new(pattern)
        .map(|p| p.file_name(stamp))
        .map_err(|_| ());
    assert_eq!(
        got.as_deref(),
        expected.as_ref().map(|s| *s).map_err(|_| &()),
        "{pattern}"
    );
}

#[test]
fn file_names_are_stamped() {
    assert_eq!(
        FileNamePattern::default().file_name(
            NaiveDate::from_ymd_opt(2026, 11, 23)
                .unwrap()
                .and_hms_opt(4, 5, 6)
                .unwrap()
        ),
        "20261123040506.txt"
    );
    check_name("courses_%Y%m%d%H%M%S.txt", Ok("courses_20261123040506.txt"));
    check_name("%Y-%m-%dT%H%M%S.csv", Ok("2026-11-23T040506.csv"));
    check_name("courses_%Y%m%d.txt", Err(()));
    check_name("out/%Y%m%d%H%M%S.txt", Err(()));
    check_name("%Y%m%d%H%M%S.xml", Err(()));
}

fn any_row() -> impl Strategy<Value = CourseRow> {
    let text = "[a-zA-Z0-9 .:é-]{0,12}";
    let code = "[A-Z]{1,4}[0-9]{1,3}";
    (
        (
            code,
            text,
            "[0-9]{1,5}",
            proptest::collection::vec(code, 0..=4),
        ),
        (
            proptest::option::of(0u32..100_000),
            proptest::option::of(0u32..60),
            proptest::collection::vec(code, 0..=10),
        ),
        (proptest::option::of(0i64..20_000), 0u8..3),
    )
        .prop_map(
            |((code, title, section, terms), (participants, hours, instructors), (day, op))| {
                let start = day.map(|d| {
                    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Days::new(d as u64)
                });
                CourseRow {
                    title: format!("T{}", title.trim()),
                    operation: match op {
                        0 => Operation::Normal,
                        1 => Operation::Delete,
                        _ => Operation::Rollover {
                            old_code: format!("OLD{code}"),
                            old_section: section.clone(),
                        },
                    },
                    code,
                    section,
                    processing_department: "MAIN".into(),
                    terms,
                    start_date: start,
                    end_date: start,
                    participants,
                    weekly_hours: hours,
                    instructors,
                    ..CourseRow::default()
                }
            },
        )
}

proptest! {
    #[test]
    fn what_is_written_reads_back(rows in proptest::collection::vec(any_row(), 0..8)) {
        let mut seen = std::collections::HashSet::new();
        let rows: Vec<CourseRow> = rows.into_iter().filter(|r| seen.insert(r.key())).collect();
        let bytes = write_course_file(&rows, &DateFormat::default()).unwrap();
        let file = read_course_file(&bytes, "p.txt", &Rules::default());
        let back: Vec<CourseRow> = file.rows.into_iter().map(|r| r.row).collect();
        prop_assert_eq!(back, rows);
    }

    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = read_course_file(&bytes, "p.txt", &rules());
    }
}
