//! Reading a course-loading file back and checking every rule Alma applies, with
//! `file:line:column` findings.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::COLUMNS;
use crate::finding::Finding;
use crate::row::{CampusParticipants, CourseKey, CourseRow, MAX_INSTRUCTORS, MAX_TERMS, Operation};
use crate::write::DateFormat;

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
        if i == 0 {
            continue;
        }
        let fields: Vec<&str> = content.split('\t').collect();
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
    let submit_lists_by = date(C_SUBMIT, &mut findings);
    let old_code = get(C_OLD_CODE).to_owned();
    let old_section = get(C_OLD_SECTION).to_owned();
    let operation = match get(C_OPERATION) {
        "" | "DELETE" if !old_code.is_empty() || !old_section.is_empty() => {
            let column = if old_code.is_empty() {
                C_OLD_SECTION
            } else {
                C_OLD_CODE
            };
            findings.push(
                Finding::error(
                    "E-OLD-WITHOUT-ROLLOVER",
                    "OLD_COURSE_CODE and OLD_COURSE_SECTION are only for OPERATION ROLLOVER",
                )
                .with_column(column),
            );
            if get(C_OPERATION).is_empty() {
                Operation::Normal
            } else {
                Operation::Delete
            }
        }
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
            Some(c) if !c.campus.is_empty() => campus_participants.push(c),
            _ => findings.push(
                Finding::error("E-CAMPUS-SHAPE", format!("{entry:?} is not CAMPUS|number"))
                    .with_column(C_CAMPUS),
            ),
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
        multi_search_ids: split_list(get(C_SEARCH2 + 1)),
        instructors: nonempty(C_INSTR1, MAX_INSTRUCTORS as u64),
        multi_instructors: split_list(get(C_INSTR1 + MAX_INSTRUCTORS as u64)),
        operation,
        submit_lists_by,
        campus_participants,
        reading_list_name: get(C_LIST_NAME).to_owned(),
    };
    (row, findings)
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
    required(C_TITLE, !row.title.is_empty());
    required(C_SECTION, !row.section.is_empty());
    required(C_PROC, !row.processing_department.is_empty());
    required(C_START, row.start_date.is_some());
    required(C_END, row.end_date.is_some());
    if let (Some(start), Some(end)) = (row.start_date, row.end_date)
        && end < start
    {
        findings.push(
            Finding::error(
                "E-DATE-ORDER",
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
    let mut single: Vec<(u64, &str)> = vec![
        (C_CODE, &row.code),
        (C_SECTION, &row.section),
        (C_ACAD, &row.academic_department),
        (C_PROC, &row.processing_department),
        (C_SEARCH1, &row.search_id1),
        (C_SEARCH2, &row.search_id2),
    ];
    single.extend(
        row.terms
            .iter()
            .enumerate()
            .map(|(i, t)| (C_TERM1 + i as u64, t.as_str())),
    );
    single.extend(
        row.instructors
            .iter()
            .enumerate()
            .map(|(i, t)| (C_INSTR1 + i as u64, t.as_str())),
    );
    if let Operation::Rollover {
        old_code,
        old_section,
    } = &row.operation
    {
        single.push((C_OLD_CODE, old_code));
        single.push((C_OLD_SECTION, old_section));
    }
    for (column, value) in single {
        if value.contains(',') {
            findings.push(
                Finding::error(
                    "E-COMMA",
                    format!("{} {value:?} has a comma; only MULTI_SEARCH_ID, MULTI_INST and CAMPUS_AND_PARTICIPANTS may", column_name(column)),
                )
                .with_column(column),
            );
        }
    }
    for (column, value) in [(C_TITLE, &row.title), (C_LIST_NAME, &row.reading_list_name)] {
        if value.contains(',') {
            findings.push(
                Finding::warning(
                    "W-COMMA",
                    format!("{} has a comma; Alma splits only the multi-value columns, but check the loaded text", column_name(column)),
                )
                .with_column(column),
            );
        }
    }
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
