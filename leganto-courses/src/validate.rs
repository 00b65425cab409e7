//! Reading a course-loading file back and checking every rule Alma applies, with
//! `file:line:column` findings.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::COLUMNS;
use crate::finding::{Finding, Severity};
use crate::row::{CampusParticipants, CourseKey, CourseRow, MAX_INSTRUCTORS, MAX_TERMS, Operation};
use crate::write::DateFormat;

/// One rule of the validator: its finding code, how bad it is, what it checks, and where
/// the rule comes from (Ex Libris' documentation, production files, or alma-sis itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The finding code.
    pub code: &'static str,
    /// Its severity.
    pub severity: Severity,
    /// What it checks.
    pub checks: &'static str,
    /// Where the rule comes from.
    pub source: &'static str,
}

const fn rule(
    code: &'static str,
    severity: Severity,
    checks: &'static str,
    source: &'static str,
) -> Rule {
    Rule {
        code,
        severity,
        checks,
        source,
    }
}

/// Every rule [`read_course_file`] and [`check_row`] apply, in the order of
/// `docs/courses.md`.
pub const RULES: &[Rule] = &[
    rule(
        "E-EMPTY",
        Severity::Error,
        "An empty file.",
        "Ex Libris KC, Configuring Course Loading: the file lists the courses, one on each line.",
    ),
    rule(
        "E-UTF8",
        Severity::Error,
        "Bytes that are not UTF-8.",
        "Ex Libris KC, Configuring Course Loading: the file is UTF-8 or ASCII.",
    ),
    rule(
        "W-BOM",
        Severity::Warning,
        "A UTF-8 byte order mark.",
        "alma-sis: the KC says nothing of a byte order mark; on a file without a header row it would become part of the first course code.",
    ),
    rule(
        "W-LF",
        Severity::Warning,
        "Lines that end in LF only.",
        "Ex Libris KC, Configuring Course Loading: CRLF line ends. A warning: LF-only files (ASU, Lancaster, Bordeaux) load in production.",
    ),
    rule(
        "E-NO-HEADER",
        Severity::Error,
        "Line 1 reads as a course and names no column: Alma would skip that course.",
        "Ex Libris KC, Configuring Course Loading: the first row is taken as a header row and ignored.",
    ),
    rule(
        "E-COLUMNS",
        Severity::Error,
        "A line without 34 columns (or 31, below); the row is not read.",
        "Ex Libris KC, Configuring Course Loading: all columns are present on every line, even when empty.",
    ),
    rule(
        "W-LEGACY-31",
        Severity::Warning,
        "31 columns, stopping at OLD_COURSE_SECTION.",
        "Production files: ASU (2021) and Lancaster (2017) loaded 31 columns; the KC lists 34.",
    ),
    rule(
        "E-REQUIRED",
        Severity::Error,
        "COURSE_CODE or SECTION_ID empty, or PROC_DEPT empty on a row that is not DELETE.",
        "Ex Libris KC, Configuring Course Loading: Code and Section ID are the mandatory key fields and a valid Processing Department is mandatory; all other fields are optional. A DELETE only names the course.",
    ),
    rule(
        "W-TITLE",
        Severity::Warning,
        "COURSE_TITLE empty on a row that adds or updates a course.",
        "Ex Libris KC, Managing Courses: Alma's course form requires a name (the loader lists the title as optional).",
    ),
    rule(
        "W-DATES",
        Severity::Warning,
        "START_DATE or END_DATE empty on a row that adds or updates a course.",
        "Production reports (Bordeaux, CSU): the loader rejects courses without an end date; the KC lists both as optional.",
    ),
    rule(
        "E-INTEGER",
        Severity::Error,
        "NUM_OF_PARTICIPANTS, WEEKLY_HOURS or YEAR not a whole number.",
        "Ex Libris KC, Configuring Course Loading: these three are integer fields.",
    ),
    rule(
        "E-DATE",
        Severity::Error,
        "START_DATE or END_DATE not in the profile's date format.",
        "Ex Libris KC, Configuring Course Loading: start and end dates are strings in the format set in the integration profile.",
    ),
    rule(
        "W-SUBMIT-DATE",
        Severity::Warning,
        "SUBMIT_LISTS_BY not in the profile's date format.",
        "alma-sis: the KC text at hand does not give this column's format; the profile's is assumed.",
    ),
    rule(
        "W-DATE-ORDER",
        Severity::Warning,
        "END_DATE before START_DATE.",
        "alma-sis: not an Ex Libris rule; such a course is almost surely a mapping mistake.",
    ),
    rule(
        "E-DUPLICATE",
        Severity::Error,
        "The same COURSE_CODE and SECTION_ID as an earlier line.",
        "Ex Libris KC, Configuring Course Loading: only the first line with a code and section is processed; later ones raise an error and are ignored.",
    ),
    rule(
        "E-OPERATION",
        Severity::Error,
        "OPERATION other than empty, DELETE or ROLLOVER.",
        "Ex Libris KC, Configuring Course Loading: the operation is empty (add or update), DELETE or ROLLOVER; no other value is documented.",
    ),
    rule(
        "E-ROLLOVER-OLD",
        Severity::Error,
        "ROLLOVER without both OLD_COURSE_CODE and OLD_COURSE_SECTION.",
        "Ex Libris KC, Configuring Course Loading: the old course's code and section are required when the operation is ROLLOVER.",
    ),
    rule(
        "W-OLD-IGNORED",
        Severity::Warning,
        "OLD_COURSE_CODE or OLD_COURSE_SECTION on a row that is not ROLLOVER.",
        "Ex Libris KC, Configuring Course Loading: the old course's columns are only required for ROLLOVER; other rows do not use them.",
    ),
    rule(
        "E-ROLLOVER-SELF",
        Severity::Error,
        "A ROLLOVER from the course onto itself.",
        "alma-sis: Alma copies the lists again on every ROLLOVER row (Idea Exchange, Multiple rollover): this duplicates the course's own lists.",
    ),
    rule(
        "E-COMMA",
        Severity::Error,
        "A comma in a single-value code or id column.",
        "Ex Libris KC, Configuring Course Loading: commas separate values only in MULTI_SEARCH_ID, MULTI_INST and CAMPUS_AND_PARTICIPANTS.",
    ),
    rule(
        "W-COMMA",
        Severity::Warning,
        "A comma in COURSE_TITLE or READING_LIST_NAME.",
        "Ex Libris KC, Configuring Course Loading: commas separate values only in the three multi-value columns; loaded as text here, but check it.",
    ),
    rule(
        "E-CHAR",
        Severity::Error,
        "A control character other than a tab, CR or line feed (which are written as spaces): a C0 control, DEL or a C1 control.",
        "W3C XML 1.0, section 2.2: such characters cannot be in the XML Alma's course APIs return, and Leganto shows them as boxes; no registrar value needs one.",
    ),
    rule(
        "E-KEY-CHAR",
        Severity::Error,
        "A character that does not show (zero-width, bidirectional mark, byte-order mark) in COURSE_CODE, SECTION_ID, OLD_COURSE_CODE or OLD_COURSE_SECTION.",
        "alma-sis: such a key names a course that looks like another but is not; when the registrar fixes it, the fixed course is new and the first one is deleted with its reading lists (the patron feed rejects such keys as E-READ-KEY-CHAR).",
    ),
    rule(
        "E-TEXT-MOJIBAKE",
        Severity::Error,
        "A value that looks like UTF-8 text decoded twice upstream (such as \"Ã©\" for \"é\").",
        "alma-sis: the patron feed's [text] mojibake rule; Alma would store and show the garbled text.",
    ),
    rule(
        "E-INSTRUCTORS",
        Severity::Error,
        "More than ten instructors for INSTR1..INSTR10.",
        "Ex Libris KC, Configuring Course Loading: ten instructor columns; more instructors go to MULTI_INST.",
    ),
    rule(
        "E-TERMS",
        Severity::Error,
        "More than four terms.",
        "Ex Libris KC, Configuring Course Loading: four term columns.",
    ),
    rule(
        "E-PROC-DEPT",
        Severity::Error,
        "PROC_DEPT not in [codes] processing_departments.",
        "Ex Libris KC, Configuring Course Loading: a valid Processing Department is mandatory.",
    ),
    rule(
        "E-ACAD-DEPT",
        Severity::Error,
        "ACAD_DEPT not in [codes] academic_departments.",
        "Ex Libris KC, Configuring Courses: Academic Departments are a configured list (Bordeaux reports rows with others rejected).",
    ),
    rule(
        "E-TERM",
        Severity::Error,
        "A term not in [codes] terms.",
        "Ex Libris KC, Configuring Courses: Course Terms are a configured code table.",
    ),
    rule(
        "E-CAMPUS",
        Severity::Error,
        "A campus not in [codes] campuses.",
        "Ex Libris KC, Configuring Courses: campuses are configured in Alma.",
    ),
    rule(
        "E-CAMPUS-SHAPE",
        Severity::Error,
        "A CAMPUS_AND_PARTICIPANTS entry that is not CAMPUS|number (or a bare CAMPUS).",
        "Ex Libris KC, Configuring Course Loading: campus and participants as CAMPUS|N pairs, comma-separated (BIBSYS's production file: GLOS|10,DRAG|20).",
    ),
    rule(
        "W-CAMPUS-BARE",
        Severity::Warning,
        "A campus without a participant count.",
        "Ex Libris KC, Configuring Course Loading: CAMPUS|N pairs; a bare campus code is not documented.",
    ),
    rule(
        "W-QUOTE",
        Severity::Warning,
        "A value that starts with a double quote.",
        "alma-sis: the KC documents no quoting, so Alma keeps the quote (Brown's registrar file broke on stray characters).",
    ),
];

/// The rule with this finding code.
pub fn rule_of(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.code == code)
}

/// The column count of files written before SUBMIT_LISTS_BY and the last two columns existed.
pub const LEGACY_COLUMNS: usize = 31;

/// The codes Alma knows, as configured (Configuration > Fulfillment > Courses). An empty
/// list is not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeLists {
    /// Processing Departments codes (`PROC_DEPT`).
    #[serde(default)]
    pub processing_departments: Vec<String>,
    /// Academic Departments codes (`ACAD_DEPT`).
    #[serde(default)]
    pub academic_departments: Vec<String>,
    /// Course Terms codes (`TERM1`..`TERM4`).
    #[serde(default)]
    pub terms: Vec<String>,
    /// Campus codes (`CAMPUS_AND_PARTICIPANTS`).
    #[serde(default)]
    pub campuses: Vec<String>,
}

/// What the validator checks against.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// The allowed codes.
    pub codes: CodeLists,
    /// The profile's date format.
    pub date_format: DateFormat,
}

/// A row read from a course file, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRow {
    /// 1-based line in the file.
    pub line: u64,
    /// The row as far as it could be parsed.
    pub row: CourseRow,
}

/// A course file read back.
#[derive(Debug, Clone, Default)]
pub struct CourseFile {
    /// The rows with the right column count, in file order.
    pub rows: Vec<ReadRow>,
    /// Everything found, in file order.
    pub findings: Vec<Finding>,
    /// Whether the file has the legacy 31 columns.
    pub legacy: bool,
}

impl CourseFile {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(Finding::is_error)
    }
}

// Column numbers (1-based), named for the checks below.
const C_CODE: u64 = 1;
const C_TITLE: u64 = 2;
const C_SECTION: u64 = 3;
const C_ACAD: u64 = 4;
const C_PROC: u64 = 5;
const C_TERM1: u64 = 6;
const C_START: u64 = 10;
const C_END: u64 = 11;
const C_PARTICIPANTS: u64 = 12;
const C_HOURS: u64 = 13;
const C_YEAR: u64 = 14;
const C_SEARCH1: u64 = 15;
const C_SEARCH2: u64 = 16;
const C_INSTR1: u64 = 18;
const C_MULTI_SEARCH: u64 = C_SEARCH2 + 1;
const C_MULTI_INST: u64 = C_INSTR1 + MAX_INSTRUCTORS as u64;
const C_OPERATION: u64 = 29;
const C_OLD_CODE: u64 = 30;
const C_OLD_SECTION: u64 = 31;
const C_SUBMIT: u64 = 32;
const C_CAMPUS: u64 = 33;
const C_LIST_NAME: u64 = 34;

fn column_name(column: u64) -> &'static str {
    usize::try_from(column)
        .ok()
        .and_then(|c| COLUMNS.get(c.wrapping_sub(1)))
        .copied()
        .unwrap_or("?")
}

/// Reads and checks a course file. `file` names it in findings. Never fails: everything
/// wrong is a finding, and rows with the wrong column count are left out of `rows`.
pub fn read_course_file(bytes: &[u8], file: &str, rules: &Rules) -> CourseFile {
    let mut out = CourseFile::default();
    let push = |f: Finding, out: &mut CourseFile| out.findings.push(f.in_file(file));
    let body = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => {
            push(
                Finding::warning(
                    "W-BOM",
                    "the file starts with a UTF-8 byte order mark; write UTF-8 without one",
                )
                .at(1, Some(1)),
                &mut out,
            );
            rest
        }
        None => bytes,
    };
    let text = match std::str::from_utf8(body) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(e) => {
            let line = body[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64
                + 1;
            push(
                Finding::error(
                    "E-UTF8",
                    format!(
                        "not UTF-8 (byte offset {}); Alma reads UTF-8 or ASCII",
                        e.valid_up_to()
                    ),
                )
                .at(line, None),
                &mut out,
            );
            String::from_utf8_lossy(body)
        }
    };
    if text.is_empty() {
        push(
            Finding::error(
                "E-EMPTY",
                "the file is empty; Alma treats the first line as a header",
            ),
            &mut out,
        );
        return out;
    }
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    let mut lf_reported = false;
    let mut first_line_of: HashMap<CourseKey, u64> = HashMap::new();
    let mut legacy_reported = false;
    for (i, raw) in lines.iter().enumerate() {
        let line = i as u64 + 1;
        let content = match raw.strip_suffix('\r') {
            Some(c) => c,
            None => {
                if !lf_reported && (i + 1 < lines.len() || text.ends_with('\n')) {
                    lf_reported = true;
                    push(
                        Finding::warning(
                            "W-LF",
                            "line ends with LF only; the file should use CRLF",
                        )
                        .at(line, None),
                        &mut out,
                    );
                }
                raw
            }
        };
        let fields: Vec<&str> = content.split('\t').collect();
        if i == 0 {
            if reads_as_course(&fields, rules) && !names_a_column(&fields) {
                push(
                    Finding::error(
                        "E-NO-HEADER",
                        format!(
                            "line 1 reads as a course ({}/{}), not a header row: Alma takes the first line as the header and ignores it, so this course would not load; add a header row",
                            fields[0],
                            fields.get(2).copied().unwrap_or("")
                        ),
                    )
                    .at(1, None),
                    &mut out,
                );
            }
            continue;
        }
        match fields.len() {
            n if n == COLUMNS.len() => {}
            LEGACY_COLUMNS => {
                out.legacy = true;
                if !legacy_reported {
                    legacy_reported = true;
                    push(
                        Finding::warning(
                            "W-LEGACY-31",
                            "31 columns: a legacy file without SUBMIT_LISTS_BY, CAMPUS_AND_PARTICIPANTS and READING_LIST_NAME; write all 34",
                        )
                        .at(line, None),
                        &mut out,
                    );
                }
            }
            n => {
                push(
                    Finding::error(
                        "E-COLUMNS",
                        format!("{n} columns ({} tabs); every line needs 34 (33 tabs), even when values are empty", n - 1),
                    )
                    .at(line, None),
                    &mut out,
                );
                continue;
            }
        }
        let (row, mut findings) = parse_fields(&fields, &rules.date_format);
        let parse_failed: HashSet<u64> = findings.iter().filter_map(|f| f.column).collect();
        findings.extend(
            check_row(&row, &rules.codes)
                .into_iter()
                .filter(|f| f.column.is_none_or(|c| !parse_failed.contains(&c))),
        );
        if !row.code.is_empty() {
            let key = row.key();
            if let Some(first) = first_line_of.get(&key) {
                findings.push(
                    Finding::error(
                        "E-DUPLICATE",
                        format!("course {key} is already on line {first}; Alma loads only the first and rejects this one"),
                    )
                    .with_column(C_CODE),
                );
            } else {
                first_line_of.insert(key, line);
            }
        }
        findings.sort_by_key(|f| f.column);
        for f in findings {
            let column = f.column;
            push(f.at(line, column), &mut out);
        }
        out.rows.push(ReadRow { line, row });
    }
    out
}

/// Column names and the template's readable aliases as producers write them in the header
/// row (Alma does not check the header): upper case, letters and digits only.
const HEADER_ALIASES: [&str; 24] = [
    "ACAD",
    "ACADEMICDEPARTMENT",
    "PROCESSINGDEPARTMENT",
    "NUMBEROFPARTICIPANTS",
    "NUMOFPARTIICIPANTS",
    "SEARCHABLEID1",
    "SEARCHABLEID2",
    "ALLSEARCHABLEIDS",
    "SEARCHID3",
    "ALLINSTRUCTORS",
    "OLDCOURSESECTIONID",
    "SUBMITBYDATE",
    "CAMPUSESANDCAMPUSPARTICIPANTS",
    "INSTRUCTOR1",
    "INSTRUCTOR2",
    "INSTRUCTOR3",
    "INSTRUCTOR4",
    "INSTRUCTOR5",
    "INSTRUCTOR6",
    "INSTRUCTOR7",
    "INSTRUCTOR8",
    "INSTRUCTOR9",
    "INSTRUCTOR10",
    "READINGLISTNAME",
];

/// A header cell as compared: without parenthesised notes such as `(mandatory)`, upper
/// case, letters and digits only.
fn header_cell(cell: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for ch in cell.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 && c.is_ascii_alphanumeric() => out.push(c.to_ascii_uppercase()),
            _ => {}
        }
    }
    out
}

/// Whether a line names at least one column, as any header row does.
fn names_a_column(fields: &[&str]) -> bool {
    fields.iter().any(|f| {
        let cell = header_cell(f);
        !cell.is_empty()
            && (COLUMNS.iter().any(|c| header_cell(c) == cell)
                || HEADER_ALIASES.contains(&cell.as_str()))
    })
}

/// Whether a line reads as a course: the right column count and a start or end date in the
/// profile's format, an operation, or a configured processing department.
fn reads_as_course(fields: &[&str], rules: &Rules) -> bool {
    let get = |column: u64| fields.get(column as usize - 1).copied().unwrap_or("");
    (fields.len() == COLUMNS.len() || fields.len() == LEGACY_COLUMNS)
        && (rules.date_format.parse(get(C_START)).is_some()
            || rules.date_format.parse(get(C_END)).is_some()
            || matches!(get(C_OPERATION), "DELETE" | "ROLLOVER")
            || rules
                .codes
                .processing_departments
                .iter()
                .any(|d| d == get(C_PROC)))
}

impl Finding {
    fn with_column(mut self, column: u64) -> Finding {
        self.column = Some(column);
        self
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses the 34 (or 31) values into a row; findings for values that do not parse.
fn parse_fields(fields: &[&str], date_format: &DateFormat) -> (CourseRow, Vec<Finding>) {
    let mut findings = Vec::new();
    let get = |column: u64| -> &str {
        usize::try_from(column - 1)
            .ok()
            .and_then(|i| fields.get(i))
            .copied()
            .unwrap_or("")
    };
    for (i, value) in fields.iter().enumerate() {
        if value.starts_with('"') {
            findings.push(
                Finding::warning(
                    "W-QUOTE",
                    format!(
                        "{} starts with a double quote; the file has no quoting, so Alma keeps it",
                        COLUMNS[i]
                    ),
                )
                .with_column(i as u64 + 1),
            );
        }
    }
    let int = |column: u64, findings: &mut Vec<Finding>| -> Option<u32> {
        let v = get(column);
        if v.is_empty() {
            return None;
        }
        v.parse()
            .map_err(|_| {
                findings.push(
                    Finding::error(
                        "E-INTEGER",
                        format!("{} {v:?} is not a whole number", column_name(column)),
                    )
                    .with_column(column),
                );
            })
            .ok()
    };
    let participants = int(C_PARTICIPANTS, &mut findings);
    let weekly_hours = int(C_HOURS, &mut findings);
    let year = int(C_YEAR, &mut findings);
    let date = |column: u64, findings: &mut Vec<Finding>| {
        let v = get(column);
        if v.is_empty() {
            return None;
        }
        let parsed = date_format.parse(v);
        if parsed.is_none() {
            findings.push(
                Finding::error(
                    "E-DATE",
                    format!(
                        "{} {v:?} is not a date in the profile's format {}",
                        column_name(column),
                        date_format.as_str()
                    ),
                )
                .with_column(column),
            );
        }
        parsed
    };
    let start_date = date(C_START, &mut findings);
    let end_date = date(C_END, &mut findings);
    let submit_lists_by = match get(C_SUBMIT) {
        "" => None,
        v => {
            let parsed = date_format.parse(v);
            if parsed.is_none() {
                findings.push(
                    Finding::warning(
                        "W-SUBMIT-DATE",
                        format!(
                            "SUBMIT_LISTS_BY {v:?} is not a date in the profile's format {}, which alma-sis assumes this column uses",
                            date_format.as_str()
                        ),
                    )
                    .with_column(C_SUBMIT),
                );
            }
            parsed
        }
    };
    let old_code = get(C_OLD_CODE).to_owned();
    let old_section = get(C_OLD_SECTION).to_owned();
    if !matches!(get(C_OPERATION), "ROLLOVER") && (!old_code.is_empty() || !old_section.is_empty())
    {
        let column = if old_code.is_empty() {
            C_OLD_SECTION
        } else {
            C_OLD_CODE
        };
        findings.push(
            Finding::warning(
                "W-OLD-IGNORED",
                "OLD_COURSE_CODE and OLD_COURSE_SECTION are used only by OPERATION ROLLOVER; on this row Alma does not use them",
            )
            .with_column(column),
        );
    }
    let operation = match get(C_OPERATION) {
        "" => Operation::Normal,
        "DELETE" => Operation::Delete,
        "ROLLOVER" => Operation::Rollover {
            old_code,
            old_section,
        },
        other => {
            findings.push(
                Finding::error(
                    "E-OPERATION",
                    format!("OPERATION {other:?} is not empty, DELETE or ROLLOVER"),
                )
                .with_column(C_OPERATION),
            );
            Operation::Normal
        }
    };
    let mut campus_participants = Vec::new();
    for entry in split_list(get(C_CAMPUS)) {
        let parsed = match entry.split_once('|') {
            None => Some(CampusParticipants {
                campus: entry.clone(),
                participants: None,
            }),
            Some((campus, n)) => n.parse().ok().map(|n| CampusParticipants {
                campus: campus.to_owned(),
                participants: Some(n),
            }),
        };
        match parsed {
            Some(c) if !c.campus.is_empty() => {
                if c.participants.is_none() {
                    findings.push(
                        Finding::warning(
                            "W-CAMPUS-BARE",
                            format!("{entry:?} has no participant count; Ex Libris documents CAMPUS|number pairs"),
                        )
                        .with_column(C_CAMPUS),
                    );
                }
                campus_participants.push(c);
            }
            _ => findings.push(
                Finding::error("E-CAMPUS-SHAPE", format!("{entry:?} is not CAMPUS|number"))
                    .with_column(C_CAMPUS),
            ),
        }
    }
    for column in [C_TITLE, C_LIST_NAME] {
        if get(column).contains(',') {
            findings.push(
                Finding::warning(
                    "W-COMMA",
                    format!("{} has a comma; Alma splits only the multi-value columns, but check the loaded text", column_name(column)),
                )
                .with_column(column),
            );
        }
    }
    let nonempty = |from: u64, count: u64| -> Vec<String> {
        (from..from + count)
            .map(get)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let row = CourseRow {
        code: get(C_CODE).to_owned(),
        title: get(C_TITLE).to_owned(),
        section: get(C_SECTION).to_owned(),
        academic_department: get(C_ACAD).to_owned(),
        processing_department: get(C_PROC).to_owned(),
        terms: nonempty(C_TERM1, MAX_TERMS as u64),
        start_date,
        end_date,
        participants,
        weekly_hours,
        year,
        search_id1: get(C_SEARCH1).to_owned(),
        search_id2: get(C_SEARCH2).to_owned(),
        multi_search_ids: split_list(get(C_MULTI_SEARCH)),
        instructors: nonempty(C_INSTR1, MAX_INSTRUCTORS as u64),
        multi_instructors: split_list(get(C_MULTI_INST)),
        operation,
        submit_lists_by,
        campus_participants,
        reading_list_name: get(C_LIST_NAME).to_owned(),
    };
    (row, findings)
}

/// What a value of a course row is, for the checks on its characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    /// Part of a course's key (code and section, old code and section): one value.
    Key,
    /// Any other single value (a department, a term, a search id, an instructor).
    Single,
    /// Free text (title, reading list name) or one of a multi-value column's values.
    Text,
}

/// Every text value of `row` with its column and kind, in column order (the old course's
/// key last).
fn row_values(row: &CourseRow) -> Vec<(u64, &str, ValueKind)> {
    use ValueKind::{Key, Single, Text};
    let mut values: Vec<(u64, &str, ValueKind)> = vec![
        (C_CODE, &row.code, Key),
        (C_TITLE, &row.title, Text),
        (C_SECTION, &row.section, Key),
        (C_ACAD, &row.academic_department, Single),
        (C_PROC, &row.processing_department, Single),
        (C_SEARCH1, &row.search_id1, Single),
        (C_SEARCH2, &row.search_id2, Single),
        (C_LIST_NAME, &row.reading_list_name, Text),
    ];
    fn numbered(
        first: u64,
        list: &[String],
        kind: ValueKind,
    ) -> impl Iterator<Item = (u64, &str, ValueKind)> {
        (first..)
            .zip(list)
            .map(move |(column, v)| (column, v.as_str(), kind))
    }
    values.extend(numbered(C_TERM1, &row.terms, Single));
    values.extend(
        row.multi_search_ids
            .iter()
            .map(|v| (C_MULTI_SEARCH, v.as_str(), Text)),
    );
    values.extend(numbered(C_INSTR1, &row.instructors, Single));
    values.extend(
        row.multi_instructors
            .iter()
            .map(|v| (C_MULTI_INST, v.as_str(), Text)),
    );
    values.extend(
        row.campus_participants
            .iter()
            .map(|c| (C_CAMPUS, c.campus.as_str(), Text)),
    );
    if let Operation::Rollover {
        old_code,
        old_section,
    } = &row.operation
    {
        values.push((C_OLD_CODE, old_code, Key));
        values.push((C_OLD_SECTION, old_section, Key));
    }
    values
}

/// Values damaged before they reached the file, as the patron feed's `[text]` and key
/// checks find them: a control character (a tab, CR or line feed is written as a space,
/// any other C0, DEL or C1 is an error), UTF-8 decoded twice upstream (`Ã©` for `é`), and
/// in the course's key (code and section, old code and section) a character that does not
/// show (zero-width, bidirectional mark, byte-order mark): a key that looks like another
/// course's but is not would create a second course, and fixing it would delete the first.
fn text_findings(values: &[(u64, &str, ValueKind)], findings: &mut Vec<Finding>) {
    for &(column, value, kind) in values {
        let name = column_name(column);
        let mut error = |code, message: String| {
            findings.push(Finding::error(code, message).with_column(column));
        };
        let control = value
            .chars()
            .find(|&c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'));
        if let Some(c) = control {
            error(
                "E-CHAR",
                format!("{name} holds the control character U+{:04X}", u32::from(c)),
            );
        } else if kind == ValueKind::Key && sis_extract::text::invisible(value) {
            error(
                "E-KEY-CHAR",
                format!(
                    "{name} holds a character that does not show (zero-width, bidirectional mark or byte-order mark): it would make a course that looks like another but is not"
                ),
            );
        }
        if sis_extract::text::mojibake(value) {
            error(
                "E-TEXT-MOJIBAKE",
                format!(
                    "{name} looks like UTF-8 text decoded twice upstream (such as \"Ã©\" for \"é\")"
                ),
            );
        }
    }
}

/// Checks one row against the rules that do not depend on the file's text: required
/// values, dates in order, rollover source, commas, counts and the configured codes.
/// Findings carry the column but no line.
pub fn check_row(row: &CourseRow, codes: &CodeLists) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut required = |column: u64, present: bool| {
        if !present {
            findings.push(
                Finding::error("E-REQUIRED", format!("{} is required", column_name(column)))
                    .with_column(column),
            );
        }
    };
    required(C_CODE, !row.code.is_empty());
    required(C_SECTION, !row.section.is_empty());
    // A DELETE only names the course: its other columns are optional.
    let adds = row.operation != Operation::Delete;
    if adds {
        required(C_PROC, !row.processing_department.is_empty());
        if row.title.is_empty() {
            findings.push(
                Finding::warning(
                    "W-TITLE",
                    "COURSE_TITLE is empty: Alma's course form requires a name",
                )
                .with_column(C_TITLE),
            );
        }
        for (column, date) in [(C_START, row.start_date), (C_END, row.end_date)] {
            if date.is_none() {
                findings.push(
                    Finding::warning(
                        "W-DATES",
                        format!(
                            "{} is empty: institutions report that Alma's loader rejects courses without start and end dates",
                            column_name(column)
                        ),
                    )
                    .with_column(column),
                );
            }
        }
    }
    if let (Some(start), Some(end)) = (row.start_date, row.end_date)
        && end < start
    {
        findings.push(
            Finding::warning(
                "W-DATE-ORDER",
                format!("END_DATE {end} is before START_DATE {start}"),
            )
            .with_column(C_END),
        );
    }
    if let Operation::Rollover {
        old_code,
        old_section,
    } = &row.operation
    {
        if old_code.is_empty() || old_section.is_empty() {
            let column = if old_code.is_empty() {
                C_OLD_CODE
            } else {
                C_OLD_SECTION
            };
            findings.push(
                Finding::error(
                    "E-ROLLOVER-OLD",
                    "ROLLOVER needs both OLD_COURSE_CODE and OLD_COURSE_SECTION",
                )
                .with_column(column),
            );
        } else if *old_code == row.code && *old_section == row.section {
            findings.push(
                Finding::error("E-ROLLOVER-SELF", "ROLLOVER copies a course onto itself")
                    .with_column(C_OLD_CODE),
            );
        }
    }
    if row.terms.len() > MAX_TERMS {
        findings.push(
            Finding::error(
                "E-TERMS",
                format!(
                    "{} terms; a course has at most {MAX_TERMS}",
                    row.terms.len()
                ),
            )
            .with_column(C_TERM1),
        );
    }
    if row.instructors.len() > MAX_INSTRUCTORS {
        findings.push(
            Finding::error(
                "E-INSTRUCTORS",
                format!(
                    "{} instructors in INSTR1..INSTR10; put the rest in MULTI_INST",
                    row.instructors.len()
                ),
            )
            .with_column(C_INSTR1),
        );
    }
    let values = row_values(row);
    for &(column, value, kind) in &values {
        if kind != ValueKind::Text && value.contains(',') {
            findings.push(
                Finding::error(
                    "E-COMMA",
                    format!("{} {value:?} has a comma; only MULTI_SEARCH_ID, MULTI_INST and CAMPUS_AND_PARTICIPANTS may", column_name(column)),
                )
                .with_column(column),
            );
        }
    }
    text_findings(&values, &mut findings);
    let mut known = |code: &'static str, list: &[String], column: u64, what: &str, value: &str| {
        if !value.is_empty() && !list.is_empty() && !list.iter().any(|c| c == value) {
            findings.push(
                Finding::error(code, format!("{what} {value:?} is not configured; add it in Alma and in the course config, or fix the mapping"))
                    .with_column(column),
            );
        }
    };
    known(
        "E-PROC-DEPT",
        &codes.processing_departments,
        C_PROC,
        "processing department",
        &row.processing_department,
    );
    known(
        "E-ACAD-DEPT",
        &codes.academic_departments,
        C_ACAD,
        "academic department",
        &row.academic_department,
    );
    for (i, term) in row.terms.iter().enumerate() {
        known("E-TERM", &codes.terms, C_TERM1 + i as u64, "term", term);
    }
    for cp in &row.campus_participants {
        known("E-CAMPUS", &codes.campuses, C_CAMPUS, "campus", &cp.campus);
    }
    findings
}
