//! The validator: one test per rule, each naming where the rule comes from (Ex Libris'
//! Knowledge Center, production files, or alma-sis itself) and the line and column it
//! reports.

use leganto_courses::{
    COLUMNS, CourseRow, DateFormat, Operation, RULES, Severity, check_row, read_course_file,
    rule_of, write_course_file,
};

use crate::support::{good_row, rules, workspace_root};

/// The KC page every file rule comes from.
const LOADING: &str = "Ex Libris KC, Configuring Course Loading";
/// The KC page of the code tables.
const CONFIGURING: &str = "Ex Libris KC, Configuring Courses";

/// The rules the tests below cover, in the order of [`RULES`].
const TESTED: &[&str] = &[
    "E-EMPTY",
    "E-UTF8",
    "W-BOM",
    "W-LF",
    "E-NO-HEADER",
    "E-COLUMNS",
    "W-LEGACY-31",
    "E-REQUIRED",
    "W-TITLE",
    "W-DATES",
    "E-INTEGER",
    "E-DATE",
    "W-SUBMIT-DATE",
    "W-DATE-ORDER",
    "E-DUPLICATE",
    "E-OPERATION",
    "E-ROLLOVER-OLD",
    "W-OLD-IGNORED",
    "E-ROLLOVER-SELF",
    "E-COMMA",
    "W-COMMA",
    "E-CHAR",
    "E-KEY-CHAR",
    "E-TEXT-MOJIBAKE",
    "E-INSTRUCTORS",
    "E-TERMS",
    "E-PROC-DEPT",
    "E-ACAD-DEPT",
    "E-TERM",
    "E-CAMPUS",
    "E-CAMPUS-SHAPE",
    "W-CAMPUS-BARE",
    "W-QUOTE",
];

/// The rule `code`: it comes from `source` and has `severity`.
fn rule(code: &str, severity: Severity, source: &str) {
    let rule = rule_of(code).unwrap_or_else(|| panic!("no rule {code}"));
    assert_eq!(rule.severity, severity, "{code}");
    assert!(
        rule.source.starts_with(source),
        "{code} comes from {:?}, not {source:?}",
        rule.source
    );
}

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

/// A line with only these columns filled.
fn only(values: &[(&str, &str)]) -> String {
    let mut fields = vec![""; COLUMNS.len()];
    for (column, value) in values {
        fields[COLUMNS.iter().position(|c| c == column).unwrap()] = value;
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
        .map(|f| (f.code.as_str(), f.line.unwrap_or(0), f.column))
        .collect();
    assert_eq!(got, expected, "{:#?}", file.findings);
    for f in &file.findings {
        assert_eq!(f.file.as_deref(), Some("c.txt"));
        let rule = rule_of(&f.code).unwrap_or_else(|| panic!("{} is not in RULES", f.code));
        assert_eq!(rule.severity, f.severity, "{}", f.code);
    }
}

fn col(name: &str) -> Option<u64> {
    COLUMNS
        .iter()
        .position(|c| *c == name)
        .map(|i| i as u64 + 1)
}

#[test]
fn every_rule_is_tested_and_documented_with_its_source() {
    let codes: Vec<&str> = RULES.iter().map(|r| r.code).collect();
    assert_eq!(codes, TESTED);
    let docs = std::fs::read_to_string(workspace_root().join("docs/courses.md")).unwrap();
    for rule in RULES {
        let row = docs
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", rule.code)))
            .unwrap_or_else(|| panic!("docs/courses.md has no row for {}", rule.code));
        let severity = match rule.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        assert!(row.contains(&format!("| {severity} |")), "{row}");
        assert!(
            row.contains(&rule.source.replace('|', "\\|")),
            "docs/courses.md gives another source for {}: {row}",
            rule.code
        );
    }
}

#[test]
fn a_good_file_has_no_findings() {
    check(&[header(), line(&[])], &[]);
}

#[test]
fn file_level_rules() {
    rule("E-EMPTY", Severity::Error, LOADING);
    rule("E-UTF8", Severity::Error, LOADING);
    rule("W-BOM", Severity::Warning, "alma-sis");
    rule("W-LF", Severity::Warning, LOADING);
    rule("W-QUOTE", Severity::Warning, "alma-sis");
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
fn a_file_without_a_header_row_is_caught() {
    rule("E-NO-HEADER", Severity::Error, LOADING);
    // The first course would be taken as the header and lost.
    check(
        &[line(&[]), line(&[("SECTION_ID", "2")])],
        &[("E-NO-HEADER", 1, None)],
    );
    // A minimal DELETE as the first line reads as a course too.
    check(
        &[only(&[
            ("COURSE_CODE", "C1"),
            ("SECTION_ID", "1"),
            ("OPERATION", "DELETE"),
        ])],
        &[("E-NO-HEADER", 1, None)],
    );
    // Alma does not check header names: readable aliases and typos are headers.
    let asu = line(&[
        ("COURSE_CODE", "Course Code (mandatory)"),
        ("START_DATE", "Start Date"),
        ("END_DATE", "End Date"),
    ]);
    check(&[asu, line(&[])], &[]);
    let brown = header().replace("NUM_OF_PARTICIPANTS", "NUM_OF_PARTIICIPANTS");
    check(&[brown, line(&[])], &[]);
    // A first line that reads as no course is not reported.
    check(&[only(&[("COURSE_CODE", "whatever")]), line(&[])], &[]);
}

#[test]
fn column_count_is_checked_on_every_line() {
    rule("E-COLUMNS", Severity::Error, LOADING);
    let short = line(&[]).rsplit_once('\t').unwrap().0.to_owned();
    let long = format!("{}\textra", line(&[]));
    check(
        &[header(), short, line(&[]), long],
        &[("E-COLUMNS", 2, None), ("E-COLUMNS", 4, None)],
    );
}

#[test]
fn a_legacy_31_column_file_is_read_with_a_warning() {
    rule("W-LEGACY-31", Severity::Warning, "Production files");
    let legacy: String = line(&[])
        .split('\t')
        .take(31)
        .collect::<Vec<_>>()
        .join("\t");
    let text = format!("{}\r\n{legacy}\r\n", header());
    let file = read_course_file(text.as_bytes(), "c.txt", &rules());
    assert!(file.legacy);
    assert_eq!(file.rows.len(), 1);
    let mut expected = good_row();
    expected.campus_participants.clear();
    assert_eq!(file.rows[0].row, expected);
    check(&[header(), legacy], &[("W-LEGACY-31", 2, None)]);
}

#[test]
fn code_section_and_processing_department_are_required() {
    rule("E-REQUIRED", Severity::Error, LOADING);
    for column in ["COURSE_CODE", "SECTION_ID", "PROC_DEPT"] {
        check(
            &[header(), line(&[(column, "")])],
            &[("E-REQUIRED", 2, col(column))],
        );
    }
}

#[test]
fn title_and_dates_are_optional_for_the_loader() {
    rule(
        "W-TITLE",
        Severity::Warning,
        "Ex Libris KC, Managing Courses",
    );
    rule("W-DATES", Severity::Warning, "Production reports");
    check(
        &[header(), line(&[("COURSE_TITLE", "")])],
        &[("W-TITLE", 2, col("COURSE_TITLE"))],
    );
    check(
        &[header(), line(&[("START_DATE", ""), ("END_DATE", "")])],
        &[
            ("W-DATES", 2, col("START_DATE")),
            ("W-DATES", 2, col("END_DATE")),
        ],
    );
}

#[test]
fn a_minimal_delete_row_is_valid() {
    rule("E-REQUIRED", Severity::Error, LOADING);
    // "All other fields are optional": a DELETE names the course by its key fields.
    let delete = only(&[
        ("COURSE_CODE", "HIST101-2271"),
        ("SECTION_ID", "10234"),
        ("OPERATION", "DELETE"),
    ]);
    check(&[header(), delete], &[]);
    check(
        &[
            header(),
            only(&[("COURSE_CODE", "HIST101-2271"), ("OPERATION", "DELETE")]),
        ],
        &[("E-REQUIRED", 2, col("SECTION_ID"))],
    );
}

#[test]
fn integers() {
    rule("E-INTEGER", Severity::Error, LOADING);
    for column in ["NUM_OF_PARTICIPANTS", "WEEKLY_HOURS", "YEAR"] {
        check(
            &[header(), line(&[(column, "2017-18")])],
            &[("E-INTEGER", 2, col(column))],
        );
    }
}

#[test]
fn dates_in_the_profile_format() {
    rule("E-DATE", Severity::Error, LOADING);
    rule("W-SUBMIT-DATE", Severity::Warning, "alma-sis");
    rule("W-DATE-ORDER", Severity::Warning, "alma-sis");
    check(
        &[header(), line(&[("START_DATE", "18-01-2027")])],
        &[("E-DATE", 2, col("START_DATE"))],
    );
    check(
        &[header(), line(&[("SUBMIT_LISTS_BY", "2027-02-30")])],
        &[("W-SUBMIT-DATE", 2, col("SUBMIT_LISTS_BY"))],
    );
    check(
        &[header(), line(&[("END_DATE", "2026-01-01")])],
        &[("W-DATE-ORDER", 2, col("END_DATE"))],
    );
}

#[test]
fn code_and_section_are_unique() {
    rule("E-DUPLICATE", Severity::Error, LOADING);
    let other = line(&[("SECTION_ID", "2")]);
    check(
        &[header(), line(&[]), other, line(&[])],
        &[("E-DUPLICATE", 4, Some(1))],
    );
}

#[test]
fn operation_is_empty_delete_or_rollover() {
    rule("E-OPERATION", Severity::Error, LOADING);
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
fn old_columns_are_required_only_for_rollover() {
    rule("E-ROLLOVER-OLD", Severity::Error, LOADING);
    rule("W-OLD-IGNORED", Severity::Warning, LOADING);
    rule("E-ROLLOVER-SELF", Severity::Error, "alma-sis");
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
    // Not an error: Ex Libris requires OLD_* only for ROLLOVER.
    check(
        &[
            header(),
            line(&[
                ("OLD_COURSE_CODE", "HIST101-2261"),
                ("OLD_COURSE_SECTION", "9"),
            ]),
        ],
        &[("W-OLD-IGNORED", 2, col("OLD_COURSE_CODE"))],
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
    rule("E-COMMA", Severity::Error, LOADING);
    rule("W-COMMA", Severity::Warning, LOADING);
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
fn at_most_ten_instructors_and_four_terms() {
    rule("E-INSTRUCTORS", Severity::Error, LOADING);
    rule("E-TERMS", Severity::Error, LOADING);
    let mut row: CourseRow = good_row();
    row.instructors = (0..11).map(|i| format!("i{i}")).collect();
    row.terms = vec!["SPRING".into(); 5];
    let codes: Vec<String> = check_row(&row, &rules().codes)
        .iter()
        .map(|f| f.code.clone())
        .collect();
    assert_eq!(codes, ["E-TERMS", "E-INSTRUCTORS"]);
    row.instructors.truncate(10);
    row.terms.truncate(4);
    assert!(check_row(&row, &rules().codes).is_empty());
}

#[test]
fn codes_are_the_configured_ones() {
    rule("E-PROC-DEPT", Severity::Error, LOADING);
    rule("E-ACAD-DEPT", Severity::Error, CONFIGURING);
    rule("E-TERM", Severity::Error, CONFIGURING);
    rule("E-CAMPUS", Severity::Error, CONFIGURING);
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
}

#[test]
fn campus_and_participants_are_campus_number_pairs() {
    rule("E-CAMPUS-SHAPE", Severity::Error, LOADING);
    rule("W-CAMPUS-BARE", Severity::Warning, LOADING);
    check(
        &[header(), line(&[("CAMPUS_AND_PARTICIPANTS", "MAIN|x")])],
        &[("E-CAMPUS-SHAPE", 2, col("CAMPUS_AND_PARTICIPANTS"))],
    );
    check(
        &[header(), line(&[("CAMPUS_AND_PARTICIPANTS", "MAIN")])],
        &[("W-CAMPUS-BARE", 2, col("CAMPUS_AND_PARTICIPANTS"))],
    );
    // The writer gives the count when the row has one.
    let mut row = good_row();
    row.campus_participants[0].participants = None;
    let bytes = write_course_file(
        &[
            good_row(),
            CourseRow {
                section: "2".into(),
                ..row
            },
        ],
        &DateFormat::default(),
    )
    .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let campus: Vec<&str> = text
        .split_terminator("\r\n")
        .skip(1)
        .map(|l| l.split('\t').nth(32).unwrap())
        .collect();
    assert_eq!(campus, ["MAIN|120", "MAIN"]);
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

#[test]
fn a_cancelled_row_is_checked_as_a_delete() {
    let row = CourseRow {
        code: "C1".into(),
        section: "1".into(),
        operation: Operation::Delete,
        ..CourseRow::default()
    };
    assert!(check_row(&row, &rules().codes).is_empty());
}

#[test]
fn control_characters_keys_that_do_not_show_and_mojibake_are_errors() {
    type Change = fn(&mut CourseRow);
    let cases: [(&str, Change, u64); 8] = [
        ("E-CHAR", |r| r.title = "World\u{0}History".into(), 2),
        ("E-CHAR", |r| r.title = "World\u{85}History".into(), 2),
        ("E-CHAR", |r| r.code = "HIST\u{1}101".into(), 1),
        ("E-CHAR", |r| r.instructors = vec!["jdoe\u{7f}".into()], 18),
        ("E-KEY-CHAR", |r| r.section = "1023\u{200b}4".into(), 3),
        ("E-KEY-CHAR", |r| r.code = "\u{feff}HIST101-2271".into(), 1),
        ("E-TEXT-MOJIBAKE", |r| r.title = "CafÃ© history".into(), 2),
        (
            "E-TEXT-MOJIBAKE",
            |r| r.reading_list_name = "Students\u{e2}\u{20ac}\u{2122} list".into(),
            34,
        ),
    ];
    for (code, change, column) in cases {
        let mut row = good_row();
        change(&mut row);
        let found = check_row(&row, &rules().codes);
        assert!(
            found
                .iter()
                .any(|f| f.code == code && f.column == Some(column) && f.is_error()),
            "{code} in column {column}: {found:#?}"
        );
        rule(code, Severity::Error, "");
    }
    // A tab, CR or line feed is written as a space; a zero-width space in a title is text;
    // "é" written once is not mojibake.
    let mut row = good_row();
    row.title = "World\tHistory\r\nto 1500 \u{200b} Café".into();
    assert!(check_row(&row, &rules().codes).is_empty());
}
