//! The validator: one table row per rule, each naming the line and column it reports.

use leganto_courses::{
    COLUMNS, CourseRow, DateFormat, Severity, check_row, read_course_file, write_course_file,
};

use crate::support::{good_row, rules};

/// A valid data line (from the writer), with some columns replaced.
fn line(edits: &[(&str, &str)]) -> String {
    let bytes = write_course_file(&[good_row()], &DateFormat::default()).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let data = text.split("\r\n").nth(1).unwrap();
    let mut fields: Vec<String> = data.split('\t').map(str::to_owned).collect();
    for (column, value) in edits {
        let i = COLUMNS.iter().position(|c| c == column).unwrap();
        fields[i] = (*value).to_owned();
    }
    fields.join("\t")
}

fn header() -> String {
    COLUMNS.join("\t")
}

/// Checks a file (lines joined with CRLF) against the findings expected, as
/// `(code, line, column)`, in file order.
fn check(lines: &[String], expected: &[(&str, u64, Option<u64>)]) {
    let text = lines.iter().map(|l| format!("{l}\r\n")).collect::<String>();
    check_bytes(text.as_bytes(), expected);
}

fn check_bytes(bytes: &[u8], expected: &[(&str, u64, Option<u64>)]) {
    let file = read_course_file(bytes, "c.txt", &rules());
    let got: Vec<(&str, u64, Option<u64>)> = file
        .findings
        .iter()
        .map(|f| (f.code, f.line.unwrap_or(0), f.column))
        .collect();
    assert_eq!(got, expected, "{:#?}", file.findings);
    for f in &file.findings {
        assert_eq!(f.file.as_deref(), Some("c.txt"));
    }
}

fn col(name: &str) -> Option<u64> {
    COLUMNS
        .iter()
        .position(|c| *c == name)
        .map(|i| i as u64 + 1)
}

#[test]
fn a_good_file_has_no_findings() {
    check(&[header(), line(&[])], &[]);
}

#[test]
fn column_count_is_checked_on_every_line() {
    let short = line(&[]).rsplit_once('\t').unwrap().0.to_owned();
    let long = format!("{}\textra", line(&[]));
    check(
        &[header(), short, line(&[]), long],
        &[("E-COLUMNS", 2, None), ("E-COLUMNS", 4, None)],
    );
}

#[test]
fn a_legacy_31_column_file_is_read_with_a_warning() {
    let legacy: String = line(&[])
        .split('\t')
        .take(31)
        .collect::<Vec<_>>()
        .join("\t");
    let text = format!("{}\r\n{legacy}\r\n", header());
    let file = read_course_file(text.as_bytes(), "c.txt", &rules());
    assert!(file.legacy);
    assert_eq!(file.rows.len(), 1);
    assert_eq!(file.rows[0].row, good_row());
    check(&[header(), legacy], &[("W-LEGACY-31", 2, None)]);
}

#[test]
fn required_values() {
    for column in [
        "COURSE_CODE",
        "COURSE_TITLE",
        "SECTION_ID",
        "PROC_DEPT",
        "START_DATE",
        "END_DATE",
    ] {
        check(
            &[header(), line(&[(column, "")])],
            &[("E-REQUIRED", 2, col(column))],
        );
    }
}

#[test]
fn integers() {
    for column in ["NUM_OF_PARTICIPANTS", "WEEKLY_HOURS", "YEAR"] {
        check(
            &[header(), line(&[(column, "2017-18")])],
            &[("E-INTEGER", 2, col(column))],
        );
    }
}

#[test]
fn dates_in_the_profile_format() {
    check(
        &[header(), line(&[("START_DATE", "18-01-2027")])],
        &[("E-DATE", 2, col("START_DATE"))],
    );
    check(
        &[header(), line(&[("SUBMIT_LISTS_BY", "2027-02-30")])],
        &[("E-DATE", 2, col("SUBMIT_LISTS_BY"))],
    );
    check(
        &[header(), line(&[("END_DATE", "2026-01-01")])],
        &[("E-DATE-ORDER", 2, col("END_DATE"))],
    );
}

#[test]
fn code_and_section_are_unique() {
    let other = line(&[("SECTION_ID", "2")]);
    check(
        &[header(), line(&[]), other, line(&[])],
        &[("E-DUPLICATE", 4, Some(1))],
    );
}

#[test]
fn operation_is_empty_delete_or_rollover() {
    check(&[header(), line(&[("OPERATION", "DELETE")])], &[]);
    check(
        &[header(), line(&[("OPERATION", "UPDATE")])],
        &[("E-OPERATION", 2, col("OPERATION"))],
    );
    check(
        &[header(), line(&[("OPERATION", "delete")])],
        &[("E-OPERATION", 2, col("OPERATION"))],
    );
}

#[test]
fn old_columns_are_filled_exactly_for_rollover() {
    let ok = line(&[
        ("OPERATION", "ROLLOVER"),
        ("OLD_COURSE_CODE", "HIST101-2261"),
        ("OLD_COURSE_SECTION", "9"),
    ]);
    check(&[header(), ok], &[]);
    check(
        &[
            header(),
            line(&[
                ("OPERATION", "ROLLOVER"),
                ("OLD_COURSE_CODE", "HIST101-2261"),
            ]),
        ],
        &[("E-ROLLOVER-OLD", 2, col("OLD_COURSE_SECTION"))],
    );
    check(
        &[
            header(),
            line(&[
                ("OLD_COURSE_CODE", "HIST101-2261"),
                ("OLD_COURSE_SECTION", "9"),
            ]),
        ],
        &[("E-OLD-WITHOUT-ROLLOVER", 2, col("OLD_COURSE_CODE"))],
    );
    check(
        &[
            header(),
            line(&[
                ("OPERATION", "ROLLOVER"),
                ("OLD_COURSE_CODE", "HIST101-2271"),
                ("OLD_COURSE_SECTION", "10234"),
            ]),
        ],
        &[("E-ROLLOVER-SELF", 2, col("OLD_COURSE_CODE"))],
    );
}

#[test]
fn commas_only_in_multi_value_columns() {
    check(
        &[
            header(),
            line(&[
                ("MULTI_SEARCH_ID", "A1,B2"),
                ("MULTI_INST", "x,y"),
                ("CAMPUS_AND_PARTICIPANTS", "MAIN|10,LAWCAMP|2"),
            ]),
        ],
        &[],
    );
    check(
        &[header(), line(&[("INSTR2", "a,b")])],
        &[("E-COMMA", 2, col("INSTR2"))],
    );
    check(
        &[header(), line(&[("SECTION_ID", "1,2")])],
        &[("E-COMMA", 2, col("SECTION_ID"))],
    );
    check(
        &[header(), line(&[("COURSE_TITLE", "Law, Society")])],
        &[("W-COMMA", 2, col("COURSE_TITLE"))],
    );
}

#[test]
fn at_most_ten_instructors_in_instr_columns() {
    let mut row: CourseRow = good_row();
    row.instructors = (0..11).map(|i| format!("i{i}")).collect();
    let codes: Vec<&str> = check_row(&row, &rules().codes)
        .iter()
        .map(|f| f.code)
        .collect();
    assert_eq!(codes, ["E-INSTRUCTORS"]);
    row.instructors.truncate(10);
    assert!(check_row(&row, &rules().codes).is_empty());
}

#[test]
fn codes_are_the_configured_ones() {
    check(
        &[header(), line(&[("PROC_DEPT", "HAYDEN")])],
        &[("E-PROC-DEPT", 2, col("PROC_DEPT"))],
    );
    check(
        &[header(), line(&[("ACAD_DEPT", "XX")])],
        &[("E-ACAD-DEPT", 2, col("ACAD_DEPT"))],
    );
    check(
        &[header(), line(&[("TERM2", "WINTER")])],
        &[("E-TERM", 2, col("TERM2"))],
    );
    check(
        &[
            header(),
            line(&[("CAMPUS_AND_PARTICIPANTS", "MAIN|3,EAST|4")]),
        ],
        &[("E-CAMPUS", 2, col("CAMPUS_AND_PARTICIPANTS"))],
    );
    check(
        &[header(), line(&[("CAMPUS_AND_PARTICIPANTS", "MAIN|x")])],
        &[("E-CAMPUS-SHAPE", 2, col("CAMPUS_AND_PARTICIPANTS"))],
    );
}

#[test]
fn file_level_rules() {
    let good = format!("{}\r\n{}\r\n", header(), line(&[]));
    check_bytes(
        format!("\u{feff}{good}").as_bytes(),
        &[("W-BOM", 1, Some(1))],
    );
    check_bytes(good.replace("\r\n", "\n").as_bytes(), &[("W-LF", 1, None)]);
    check_bytes(b"", &[("E-EMPTY", 0, None)]);
    let mut latin1 = good.into_bytes();
    latin1.extend_from_slice(b"HIST\xe9\r\n");
    check_bytes(&latin1, &[("E-UTF8", 3, None), ("E-COLUMNS", 3, None)]);
    check(
        &[header(), line(&[("READING_LIST_NAME", "\"Quoted")])],
        &[("W-QUOTE", 2, col("READING_LIST_NAME"))],
    );
}

#[test]
fn findings_read_as_file_line_column() {
    let text = format!("{}\r\n{}\r\n", header(), line(&[("YEAR", "MMXXVII")]));
    let file = read_course_file(text.as_bytes(), "courses/20261123040000.txt", &rules());
    assert_eq!(file.findings[0].severity, Severity::Error);
    assert_eq!(
        file.findings[0].to_string(),
        "courses/20261123040000.txt:2:14: error[E-INTEGER]: YEAR \"MMXXVII\" is not a whole number"
    );
}
