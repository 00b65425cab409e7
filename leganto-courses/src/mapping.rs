//! From the registrar's extract to course rows: templates, terms, processing departments,
//! instructors, statuses, cross-listed rows merged, and rollover candidates.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use regex::Regex;

use crate::CourseError;
use crate::config::{CourseConfig, IdCase, InstructorConfig, ProcessingDepartmentRules};
use crate::finding::Finding;
use crate::row::{CampusParticipants, CourseKey, CourseRow, MAX_INSTRUCTORS, Operation};
use crate::validate::check_row;

/// A course that should copy its reading lists from an older one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloverCandidate {
    /// The new course.
    pub course: CourseKey,
    /// Its title, for people reading the report.
    pub title: String,
    /// The course whose lists are copied.
    pub old: CourseKey,
    /// Where the candidate came from: `copy from column` or `rule N`.
    pub source: String,
}

/// What the mapping made of an extract.
#[derive(Debug, Clone, Default)]
pub struct MappedCourses {
    /// One row per course, sorted by key: `Normal`, or `Delete` for a cancelled course.
    pub rows: Vec<CourseRow>,
    /// Rollover candidates, sorted by course.
    pub candidates: Vec<RolloverCandidate>,
    /// Everything worth reporting; rows with an error are left out of `rows`.
    pub findings: Vec<Finding>,
    /// Extract rows read (not counting the header).
    pub rows_read: u64,
    /// Extract rows ignored on purpose (a `skip` status or an unmapped term).
    pub rows_skipped: u64,
    /// Extract rows merged into another row of the same course code (a cancelled row
    /// beside an active one counts here).
    pub rows_merged: u64,
    /// Courses whose rows were skipped or rejected: not current, but never deleted as
    /// missing (sorted, without repeats).
    pub held: Vec<CourseKey>,
}

/// A `{COLUMN}` template, resolved against the extract's header.
#[derive(Debug, Clone)]
struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Column(usize),
}

impl Template {
    fn parse(
        key: &str,
        text: &str,
        header: &HashMap<&str, usize>,
    ) -> Result<Template, CourseError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| CourseError::Config {
                key: key.to_owned(),
                message: format!("template {text:?} has a `{{` without a `}}`"),
            })?;
            let column = &after[..close];
            let index = header
                .get(column)
                .ok_or_else(|| CourseError::UnknownColumn {
                    key: key.to_owned(),
                    column: column.to_owned(),
                })?;
            parts.push(Part::Column(*index));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    fn render(&self, record: &csv::StringRecord) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Column(i) => out.push_str(record.get(*i).unwrap_or("").trim()),
            }
        }
        out
    }

    /// The column of a template that is exactly one `{COLUMN}`, for findings.
    fn column(&self) -> Option<u64> {
        match self.parts.as_slice() {
            [Part::Column(i)] => Some(*i as u64 + 1),
            _ => None,
        }
    }
}

struct Templates {
    code: Template,
    title: Template,
    section: Template,
    academic_department: Template,
    start_date: Template,
    end_date: Template,
    submit_lists_by: Template,
    participants: Template,
    weekly_hours: Template,
    year: Template,
    search_id1: Template,
    search_id2: Template,
    reading_list_name: Template,
    campus: Template,
    college: Template,
    subject: Template,
    term: Template,
    copy_from_code: Template,
    copy_from_section: Template,
}

impl Templates {
    fn new(config: &CourseConfig, header: &HashMap<&str, usize>) -> Result<Templates, CourseError> {
        let f = &config.fields;
        let t = |key: &str, text: &str| Template::parse(key, text, header);
        Ok(Templates {
            code: t("fields.code", &f.code)?,
            title: t("fields.title", &f.title)?,
            section: t("fields.section", &f.section)?,
            academic_department: t("fields.academic_department", &f.academic_department)?,
            start_date: t("fields.start_date", &f.start_date)?,
            end_date: t("fields.end_date", &f.end_date)?,
            submit_lists_by: t("fields.submit_lists_by", &f.submit_lists_by)?,
            participants: t("fields.participants", &f.participants)?,
            weekly_hours: t("fields.weekly_hours", &f.weekly_hours)?,
            year: t("fields.year", &f.year)?,
            search_id1: t("fields.search_id1", &f.search_id1)?,
            search_id2: t("fields.search_id2", &f.search_id2)?,
            reading_list_name: t("fields.reading_list_name", &f.reading_list_name)?,
            campus: t("fields.campus", &f.campus)?,
            college: t("fields.college", &f.college)?,
            subject: t("fields.subject", &f.subject)?,
            term: t("terms.from", &config.terms.from)?,
            copy_from_code: t("rollover.copy_from_code", &config.rollover.copy_from_code)?,
            copy_from_section: t(
                "rollover.copy_from_section",
                &config.rollover.copy_from_section,
            )?,
        })
    }
}

struct OldCodeRule {
    pattern: Regex,
    old_code: String,
    old_section: Option<String>,
}

/// The rows of one course code, merged.
struct Merged {
    row: CourseRow,
    copy_from: Option<(CourseKey, String)>,
    /// Rows merged into `row`.
    merged: u64,
    /// The kept row's line.
    line: u64,
}

/// One extract row, mapped, before cross-listed rows are merged.
struct Pending {
    line: u64,
    row: CourseRow,
    copy_from: Option<(CourseKey, String)>,
}

/// Reads the configured extract (relative paths against `base_dir`) with
/// [`sis_extract::decode_file`] and maps it.
pub fn map_extract_file(
    config: &CourseConfig,
    base_dir: &Path,
) -> Result<MappedCourses, CourseError> {
    let path = base_dir.join(&config.source.path);
    let decoded = sis_extract::decode_file(&path, config.source.encoding.as_deref())?;
    let file = path.display().to_string();
    let mut mapped = map_extract(config, &decoded.text, &file)?;
    if let Some(warning) = decoded.warning {
        mapped
            .findings
            .insert(0, Finding::warning("W-ENCODING", warning).in_file(&file));
    }
    Ok(mapped)
}

/// Maps an extract already decoded to text; `file` names it in findings and errors.
pub fn map_extract(
    config: &CourseConfig,
    text: &str,
    file: &str,
) -> Result<MappedCourses, CourseError> {
    let delimiter = match config.source.delimiter.as_bytes() {
        [b] => *b,
        _ => {
            return Err(CourseError::Config {
                key: "source.delimiter".to_owned(),
                message: format!("{:?} must be exactly one byte", config.source.delimiter),
            });
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let csv_error = |source: csv::Error| CourseError::Csv {
        file: file.to_owned(),
        line: source.position().map_or(0, |p| p.line()),
        message: source.to_string(),
    };
    let header_record = reader.headers().map_err(csv_error)?.clone();
    let header: HashMap<&str, usize> = header_record
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim(), i))
        .collect();
    let templates = Templates::new(config, &header)?;
    let column_of = |key: &str, name: &str| {
        header
            .get(name)
            .copied()
            .ok_or_else(|| CourseError::UnknownColumn {
                key: key.to_owned(),
                column: name.to_owned(),
            })
    };
    let instructor_columns = config
        .instructors
        .columns
        .iter()
        .map(|c| column_of("instructors.columns", c))
        .collect::<Result<Vec<_>, _>>()?;
    let status_column = match &config.status {
        Some(s) => Some(column_of("status.column", &s.column)?),
        None => None,
    };
    let old_code_rules = config
        .rollover
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Regex::new(&r.pattern)
                .map(|pattern| OldCodeRule {
                    pattern,
                    old_code: r.old_code.clone(),
                    old_section: r.old_section.clone(),
                })
                .map_err(|e| CourseError::Config {
                    key: format!("rollover.rule[{}].pattern", i + 1),
                    message: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    validate_department_rules(&config.processing_department)?;

    let mut mapped = MappedCourses::default();
    let mut pending: Vec<Pending> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(e)),
        }
        mapped.rows_read += 1;
        let line = record.position().map_or(0, |p| p.line());
        let at = |f: Finding, column: Option<u64>| f.in_file(file).at(line, column);
        let code = templates.code.render(&record);
        let section = templates.section.render(&record);
        // A course whose row is skipped or rejected is held: never deleted for missing.
        let held = CourseKey {
            code: code.clone(),
            section: section.clone(),
        };
        let mut operation = Operation::Normal;
        if let (Some(status), Some(i)) = (&config.status, status_column) {
            let value = record.get(i).unwrap_or("").trim();
            if status.skip.iter().any(|s| s == value) {
                mapped.rows_skipped += 1;
                mapped.held.push(held);
                continue;
            }
            if status.delete.iter().any(|s| s == value) {
                operation = Operation::Delete;
            }
        }
        let term = templates.term.render(&record);
        let Some(terms) = config.terms.map.get(&term) else {
            mapped.rows_skipped += 1;
            mapped.held.push(held);
            mapped.findings.push(at(
                Finding::warning(
                    "W-TERM-UNMAPPED",
                    format!("registrar term {term:?} is not in [terms.map]; row skipped"),
                ),
                templates.term.column(),
            ));
            continue;
        };
        let mut errors = Vec::new();
        let date = |t: &Template, errors: &mut Vec<Finding>| {
            let v = t.render(&record);
            if v.is_empty() {
                return None;
            }
            let parsed = config.source.date_format.parse(&v);
            if parsed.is_none() {
                errors.push(at(
                    Finding::error(
                        "E-SOURCE-DATE",
                        format!(
                            "{v:?} is not a date in the source format {}",
                            config.source.date_format.as_str()
                        ),
                    ),
                    t.column(),
                ));
            }
            parsed
        };
        let int = |t: &Template, errors: &mut Vec<Finding>| {
            let v = t.render(&record);
            if v.is_empty() {
                return None;
            }
            let parsed = v.parse::<u32>().ok();
            if parsed.is_none() {
                errors.push(at(
                    Finding::error("E-SOURCE-INTEGER", format!("{v:?} is not a whole number")),
                    t.column(),
                ));
            }
            parsed
        };
        let campus = templates.campus.render(&record);
        let college = templates.college.render(&record);
        let subject = templates.subject.render(&record);
        let department = match processing_department(
            &config.processing_department,
            &campus,
            &college,
            &subject,
            &code,
        ) {
            Some(d) => d.to_owned(),
            None => {
                if config.processing_department.log_unknown
                    && !config.processing_department.rules.is_empty()
                {
                    mapped.findings.push(
                        at(
                            Finding::warning(
                                "W-PROC-DEPT-DEFAULT",
                                format!(
                                    "no processing-department rule matches campus {campus:?}, college {college:?}, subject {subject:?}; using the default {:?}",
                                    config.processing_department.default
                                ),
                            ),
                            None,
                        )
                        .for_course(format!("{code}/{section}")),
                    );
                }
                config.processing_department.default.clone()
            }
        };
        let mut instructors = Vec::new();
        for &i in &instructor_columns {
            let value = record.get(i).unwrap_or("");
            let ids: Vec<&str> = match &config.instructors.separator {
                Some(sep) => value.split(sep.as_str()).collect(),
                None => vec![value],
            };
            for id in ids {
                if let Some(id) = normalise_id(id, &config.instructors)
                    && !instructors.contains(&id)
                {
                    instructors.push(id);
                }
            }
        }
        let row = CourseRow {
            title: templates.title.render(&record),
            section,
            academic_department: templates.academic_department.render(&record),
            processing_department: department,
            terms: terms.clone(),
            start_date: date(&templates.start_date, &mut errors),
            end_date: date(&templates.end_date, &mut errors),
            participants: int(&templates.participants, &mut errors),
            weekly_hours: int(&templates.weekly_hours, &mut errors),
            year: int(&templates.year, &mut errors),
            search_id1: templates.search_id1.render(&record),
            search_id2: templates.search_id2.render(&record),
            multi_search_ids: Vec::new(),
            instructors,
            multi_instructors: Vec::new(),
            operation,
            submit_lists_by: date(&templates.submit_lists_by, &mut errors),
            campus_participants: if campus.is_empty() {
                Vec::new()
            } else {
                vec![CampusParticipants {
                    campus,
                    participants: None,
                }]
            },
            reading_list_name: templates.reading_list_name.render(&record),
            code,
        };
        let course = row.key().to_string();
        if !errors.is_empty() {
            mapped
                .findings
                .extend(errors.into_iter().map(|f| f.for_course(&course)));
            mapped.held.push(held);
            continue;
        }
        let copy_code = templates.copy_from_code.render(&record);
        let copy_from = if copy_code.is_empty() {
            None
        } else {
            let section = templates.copy_from_section.render(&record);
            let section = if section.is_empty() {
                row.section.clone()
            } else {
                section
            };
            Some((
                CourseKey {
                    code: copy_code,
                    section,
                },
                "copy from column".to_owned(),
            ))
        };
        pending.push(Pending {
            line,
            row,
            copy_from,
        });
    }

    let mut groups: BTreeMap<String, Vec<Pending>> = BTreeMap::new();
    for p in pending {
        groups.entry(p.row.code.clone()).or_default().push(p);
    }
    for (_, group) in groups {
        let Some(Merged {
            row,
            copy_from,
            merged,
            line,
        }) = merge(group)
        else {
            continue;
        };
        mapped.rows_merged += merged;
        let problems: Vec<Finding> = check_row(&row, &config.codes);
        if problems.iter().any(Finding::is_error) {
            let course = row.key().to_string();
            mapped.findings.extend(problems.into_iter().map(|f| {
                let column = f.column;
                let message = format!("{} (course file column {})", f.message, column.unwrap_or(0));
                Finding {
                    message,
                    column: None,
                    ..f
                }
                .in_file(file)
                .at(line, None)
                .for_course(&course)
            }));
            mapped.held.push(row.key());
            continue;
        }
        if row.operation == Operation::Normal
            && let Some(candidate) = rollover_candidate(&row, copy_from, &old_code_rules)
        {
            mapped.candidates.push(candidate);
        }
        mapped.rows.push(row);
    }
    mapped.rows.sort_by_key(CourseRow::key);
    mapped.held.sort();
    mapped.held.dedup();
    mapped.candidates.sort_by(|a, b| a.course.cmp(&b.course));
    Ok(mapped)
}

fn validate_department_rules(rules: &ProcessingDepartmentRules) -> Result<(), CourseError> {
    for (i, rule) in rules.rules.iter().enumerate() {
        if rule.campus.is_empty()
            && rule.college.is_empty()
            && rule.subject_prefix.is_empty()
            && rule.code_prefix.is_empty()
        {
            return Err(CourseError::Config {
                key: format!("processing_department.rule[{}]", i + 1),
                message:
                    "a rule needs at least one of campus, college, subject_prefix, code_prefix"
                        .to_owned(),
            });
        }
    }
    Ok(())
}

/// The first rule whose conditions all match, or `None` for the default.
pub fn processing_department<'a>(
    rules: &'a ProcessingDepartmentRules,
    campus: &str,
    college: &str,
    subject: &str,
    code: &str,
) -> Option<&'a str> {
    rules
        .rules
        .iter()
        .find(|r| {
            (r.campus.is_empty() || r.campus.iter().any(|c| c == campus))
                && (r.college.is_empty() || r.college.iter().any(|c| c == college))
                && (r.subject_prefix.is_empty()
                    || r.subject_prefix
                        .iter()
                        .any(|p| subject.starts_with(p.as_str())))
                && (r.code_prefix.is_empty()
                    || r.code_prefix.iter().any(|p| code.starts_with(p.as_str())))
        })
        .map(|r| r.department.as_str())
}

/// Trims an instructor id, sets its case and adds the domain when it has none; `None` when
/// empty.
pub fn normalise_id(id: &str, config: &InstructorConfig) -> Option<String> {
    let id = id.trim();
    if id.is_empty() {
        return None;
    }
    let mut id = match &config.domain {
        Some(domain) if !id.contains('@') => format!("{id}@{}", domain.trim_start_matches('@')),
        _ => id.to_owned(),
    };
    match config.case {
        IdCase::Keep => {}
        IdCase::Lower => id = id.to_lowercase(),
        IdCase::Upper => id = id.to_uppercase(),
    }
    Some(id)
}

/// Orders sections numerically when both are numbers, otherwise as text.
fn section_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}

fn push_unique(list: &mut Vec<String>, value: &str) {
    if !value.is_empty() && !list.iter().any(|v| v == value) {
        list.push(value.to_owned());
    }
}

/// Merges the rows of one course code: an active row beats a cancelled one, the lowest
/// section is kept, the others' sections and search ids become `MULTI_SEARCH_ID`, and
/// instructors are united (past ten into `MULTI_INST`).
fn merge(mut group: Vec<Pending>) -> Option<Merged> {
    let merged = (group.len() as u64).saturating_sub(1);
    if group.iter().any(|p| p.row.operation == Operation::Normal) {
        group.retain(|p| p.row.operation == Operation::Normal);
    }
    group.sort_by(|a, b| section_order(&a.row.section, &b.row.section).then(a.line.cmp(&b.line)));
    let mut iter = group.into_iter();
    let first = iter.next()?;
    let line = first.line;
    let mut copy_from = first.copy_from;
    let mut row = first.row;
    let mut instructors = row.instructors.clone();
    let mut search = Vec::new();
    for other in iter {
        let o = other.row;
        for id in &o.instructors {
            push_unique(&mut instructors, id);
        }
        for id in [&o.section, &o.search_id1, &o.search_id2] {
            if *id != row.section && *id != row.search_id1 && *id != row.search_id2 {
                push_unique(&mut search, id);
            }
        }
        if let Some(n) = o.participants
            && o.section != row.section
        {
            row.participants = Some(row.participants.unwrap_or(0).saturating_add(n));
        }
        for c in o.campus_participants {
            if !row.campus_participants.contains(&c) {
                row.campus_participants.push(c);
            }
        }
        if copy_from.is_none() {
            copy_from = other.copy_from;
        }
    }
    row.multi_search_ids = search;
    if instructors.len() > MAX_INSTRUCTORS {
        row.multi_instructors = instructors.split_off(MAX_INSTRUCTORS);
    }
    row.instructors = instructors;
    Some(Merged {
        row,
        copy_from,
        merged,
        line,
    })
}

fn rollover_candidate(
    row: &CourseRow,
    copy_from: Option<(CourseKey, String)>,
    rules: &[OldCodeRule],
) -> Option<RolloverCandidate> {
    let (old, source) = match copy_from {
        Some(c) => c,
        None => rules.iter().enumerate().find_map(|(i, r)| {
            r.pattern.is_match(&row.code).then(|| {
                let code = r
                    .pattern
                    .replace(&row.code, r.old_code.as_str())
                    .into_owned();
                let section = r.old_section.clone().unwrap_or_else(|| row.section.clone());
                (CourseKey { code, section }, format!("rule {}", i + 1))
            })
        })?,
    };
    (old != row.key()).then(|| RolloverCandidate {
        course: row.key(),
        title: row.title.clone(),
        old,
        source,
    })
}
