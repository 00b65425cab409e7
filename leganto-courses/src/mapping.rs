//! From the registrar's extract to courses: every row read with sis-extract's readers and
//! mapped through the config's field rules, then the rows of one course (its code, or its
//! cross-list group) kept together. Which key each course is sent under is decided later,
//! against what was sent before ([`crate::plan_delta`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sis_extract::config::FieldSpec;
use sis_extract::records::{Record, Records, Template};

use crate::CourseError;
use crate::config::{CourseConfig, IdCase, InstructorConfig, ProcessingDepartmentRules};
use crate::finding::Finding;
use crate::row::{CampusParticipants, CourseKey, CourseRow, MAX_INSTRUCTORS, Operation};
use crate::validate::check_row;

/// The course an instructor asked to copy reading lists from (a "copy from" column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFrom {
    /// Its course code.
    pub code: String,
    /// Its section, when the extract gives one.
    pub section: Option<String>,
}

/// Where a course's rollover should come from, before it is resolved against what was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloverRequest {
    /// The instructor's "copy from" columns.
    CopyFrom {
        /// The old course's code.
        code: String,
        /// Its section, when given.
        section: Option<String>,
        /// The extract line that asked.
        line: u64,
    },
    /// A `[[rollover.rule]]` matched the course code.
    Rule {
        /// The old course's code.
        code: String,
        /// Its section, when the rule gives one.
        section: Option<String>,
        /// The rule's number (1-based).
        rule: usize,
    },
    /// `[rollover] same_course`: the course with one of these values (those of its offered
    /// sections) in the most recent earlier term.
    SameCourse {
        /// The values.
        values: Vec<String>,
    },
}

/// A `[[rollover.rule]]` that matched a row's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    /// The old course's code.
    pub code: String,
    /// Its section, when the rule gives one.
    pub section: Option<String>,
    /// The rule's number (1-based).
    pub rule: usize,
}

/// One extract row, mapped: a section of a course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionRow {
    /// 1-based line in the extract.
    pub line: u64,
    /// The registrar's term.
    pub term: String,
    /// The row's values; `code` and `section` as the extract gives them, `operation`
    /// `Normal`, or `Delete` for a cancelled section.
    pub row: CourseRow,
    /// The "copy from" request, if the row has one.
    pub copy_from: Option<CopyFrom>,
    /// The `[rollover] same_course` value (empty without one).
    pub same_course: String,
    /// The first `[[rollover.rule]]` matching the row's code.
    pub rule: Option<RuleMatch>,
}

impl SectionRow {
    /// The row's own (code, section).
    pub fn key(&self) -> CourseKey {
        self.row.key()
    }

    /// Whether the section is offered (not cancelled).
    pub fn active(&self) -> bool {
        self.row.operation != Operation::Delete
    }
}

/// The rows of one course in today's extract: rows with the same code, or with the same
/// cross-list group and term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedCourse {
    /// What makes the rows one course: the code, or `cross-list:<term>:<group>`.
    pub group: String,
    /// The registrar's term (of the first section).
    pub term: String,
    /// Its sections, ordered by code, then section (numerically when both are numbers), then
    /// line.
    pub sections: Vec<SectionRow>,
}

impl MappedCourse {
    /// Whether every section is cancelled.
    pub fn cancelled(&self) -> bool {
        self.sections.iter().all(|s| !s.active())
    }

    /// The offered sections (every section of a cancelled course).
    fn current(&self) -> Vec<&SectionRow> {
        let active: Vec<&SectionRow> = self.sections.iter().filter(|s| s.active()).collect();
        if active.is_empty() {
            self.sections.iter().collect()
        } else {
            active
        }
    }

    /// The key a course sent for the first time gets: its lowest offered section.
    pub fn natural_key(&self) -> CourseKey {
        self.current()
            .first()
            .map(|s| s.key())
            .unwrap_or_else(|| CourseKey {
                code: String::new(),
                section: String::new(),
            })
    }

    /// The (code, section) of every row, cancelled ones too, sorted, without repeats.
    pub fn members(&self) -> Vec<CourseKey> {
        let set: BTreeSet<CourseKey> = self.sections.iter().map(SectionRow::key).collect();
        set.into_iter().collect()
    }

    /// The lines of the extract this course comes from.
    pub fn lines(&self) -> Vec<u64> {
        self.sections.iter().map(|s| s.line).collect()
    }

    /// The section whose values lead the course row: the one with `key` if it is offered,
    /// otherwise the lowest offered.
    fn lead(&self, key: &CourseKey) -> &SectionRow {
        let current = self.current();
        current
            .iter()
            .find(|s| s.key() == *key)
            .or_else(|| current.first())
            .copied()
            .unwrap_or(&self.sections[0])
    }

    /// The course as one row under `key`: the lead section's values; instructors of every
    /// offered section united (past ten into `MULTI_INST`); the other sections, their codes
    /// when they differ, and their search ids in `MULTI_SEARCH_ID`; participants added up,
    /// per campus too (`CAMPUS|N` when every section on that campus gives a number).
    pub fn course_row(&self, key: &CourseKey) -> CourseRow {
        let lead = self.lead(key);
        let mut rows: Vec<&SectionRow> = vec![lead];
        rows.extend(
            self.current()
                .into_iter()
                .filter(|s| !std::ptr::eq(*s, lead)),
        );
        let mut row = lead.row.clone();
        row.code = key.code.clone();
        row.section = key.section.clone();
        let mut instructors: Vec<String> = Vec::new();
        let mut search: Vec<String> = Vec::new();
        let mut seen: BTreeSet<CourseKey> = BTreeSet::new();
        let mut participants: Option<u32> = None;
        // Campus -> (participants, whether every section there gave a number).
        let mut campuses: Vec<(String, u32, bool)> = Vec::new();
        for s in &rows {
            for id in s.row.all_instructors() {
                push_unique(&mut instructors, &id);
            }
            if !seen.insert(s.key()) {
                continue;
            }
            if s.key() != *key {
                if s.row.code != key.code {
                    push_unique(&mut search, &s.row.code);
                }
                for id in [&s.row.section, &s.row.search_id1, &s.row.search_id2] {
                    push_unique(&mut search, id);
                }
            }
            if let Some(n) = s.row.participants {
                participants = Some(participants.unwrap_or(0).saturating_add(n));
            }
            for c in &s.row.campus_participants {
                match campuses.iter_mut().find(|(name, _, _)| *name == c.campus) {
                    Some(entry) => match c.participants {
                        Some(n) => entry.1 = entry.1.saturating_add(n),
                        None => entry.2 = false,
                    },
                    None => campuses.push((
                        c.campus.clone(),
                        c.participants.unwrap_or(0),
                        c.participants.is_some(),
                    )),
                }
            }
        }
        search.retain(|v| {
            *v != key.section && *v != key.code && *v != row.search_id1 && *v != row.search_id2
        });
        row.participants = participants;
        row.multi_search_ids = search;
        row.campus_participants = campuses
            .into_iter()
            .map(|(campus, n, counted)| CampusParticipants {
                campus,
                participants: counted.then_some(n),
            })
            .collect();
        row.multi_instructors = if instructors.len() > MAX_INSTRUCTORS {
            instructors.split_off(MAX_INSTRUCTORS)
        } else {
            Vec::new()
        };
        row.instructors = instructors;
        row.operation = if self.cancelled() {
            Operation::Delete
        } else {
            Operation::Normal
        };
        row
    }

    /// The `[rollover] same_course` values of the offered sections (sorted, without
    /// repeats; several for a cross-listed course).
    pub fn same_courses(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self
            .current()
            .into_iter()
            .map(|s| s.same_course.as_str())
            .filter(|v| !v.is_empty())
            .collect();
        set.into_iter().map(str::to_owned).collect()
    }

    /// Where the course under `key` should roll over from: a "copy from" request wins, then
    /// the first rule matching its code, then `same_course`.
    pub fn rollover_request(&self, key: &CourseKey) -> Option<RolloverRequest> {
        let lead = self.lead(key);
        let copy = lead.copy_from.as_ref().map(|c| (c, lead.line)).or_else(|| {
            self.current()
                .into_iter()
                .find_map(|s| s.copy_from.as_ref().map(|c| (c, s.line)))
        });
        if let Some((c, line)) = copy {
            return Some(RolloverRequest::CopyFrom {
                code: c.code.clone(),
                section: c.section.clone(),
                line,
            });
        }
        let rule = self
            .current()
            .into_iter()
            .find(|s| s.row.code == key.code)
            .unwrap_or(lead)
            .rule
            .clone();
        if let Some(r) = rule {
            return Some(RolloverRequest::Rule {
                code: r.code,
                section: r.section,
                rule: r.rule,
            });
        }
        let values = self.same_courses();
        (!values.is_empty()).then_some(RolloverRequest::SameCourse { values })
    }
}

fn push_unique(list: &mut Vec<String>, value: &str) {
    if !value.is_empty() && !list.iter().any(|v| v == value) {
        list.push(value.to_owned());
    }
}

/// What the mapping made of an extract.
#[derive(Debug, Clone, Default)]
pub struct MappedCourses {
    /// The extract, as findings name it.
    pub file: String,
    /// Today's courses, sorted by group; a course with a rejected row is left out (held).
    pub courses: Vec<MappedCourse>,
    /// Everything worth reporting.
    pub findings: Vec<Finding>,
    /// Extract rows read (not counting the header).
    pub rows_read: u64,
    /// Rows ignored on purpose (a `skip` status or an unmapped term).
    pub rows_skipped: u64,
    /// Rows rejected with an error finding.
    pub rows_rejected: u64,
    /// Rows that could not be read back (the extract changed during the run).
    pub rows_unreadable: u64,
    /// Rows that did not read cleanly (`E-READ-FIELDS`, `E-READ-QUOTE`, `E-UTF8`,
    /// `E-DECODE`: a row cut short or run together with the next, a quote left open, bytes
    /// no encoding decodes), whose fields are not to be trusted: each is also counted in
    /// `rows_rejected`, and holds the course it seems to be of.
    pub rows_unclean: u64,
    /// Rows that are a further section of a course.
    pub rows_merged: u64,
    /// Rows of courses held because another of their rows was rejected (`rows_read` =
    /// courses + merged + skipped + rejected + unreadable + held).
    pub rows_held: u64,
    /// The (code, section) of rows skipped or rejected: their course, if sent, is not
    /// deleted for missing (sorted, without repeats).
    pub held_rows: Vec<CourseKey>,
    /// Courses (groups) with a rejected row: nothing is sent for them, nor deleted (sorted).
    pub held_groups: Vec<String>,
    /// Every registrar term of the extract's rows, skipped rows included (sorted). A course
    /// sent for a term no longer here has ended: it is never deleted for missing.
    pub terms: Vec<String>,
}

impl MappedCourses {
    /// Whether every row was read, and read cleanly: when not, no course is deleted for
    /// missing (a truncated extract ends in a row cut short).
    pub fn complete(&self) -> bool {
        self.rows_unreadable == 0 && self.rows_unclean == 0
    }
}

/// The config's field rules, compiled against the extract's columns.
struct Templates {
    code: Template,
    title: Template,
    section: Template,
    academic_department: Option<Template>,
    start_date: Option<Template>,
    end_date: Option<Template>,
    submit_lists_by: Option<Template>,
    participants: Option<Template>,
    weekly_hours: Option<Template>,
    year: Option<Template>,
    search_id1: Option<Template>,
    search_id2: Option<Template>,
    reading_list_name: Option<Template>,
    campus: Option<Template>,
    college: Option<Template>,
    subject: Option<Template>,
    term: Template,
    cross_list: Option<Template>,
    copy_from_code: Option<Template>,
    copy_from_section: Option<Template>,
    same_course: Option<Template>,
}

impl Templates {
    fn new(config: &CourseConfig, records: &Records) -> Result<Templates, CourseError> {
        let one = |spec: &FieldSpec| records.template(spec).map_err(CourseError::from);
        let opt = |spec: &Option<FieldSpec>| spec.as_ref().map(one).transpose();
        // Date fields read the source's date format unless their rule gives formats.
        let date = |spec: &Option<FieldSpec>| {
            spec.as_ref()
                .map(|s| {
                    let mut s = s.clone();
                    if s.0.get_ref().date_formats.is_empty() {
                        s.0.get_mut().date_formats =
                            vec![config.source.date_format.as_str().to_owned()];
                    }
                    one(&s)
                })
                .transpose()
        };
        let f = &config.fields;
        Ok(Templates {
            code: one(&f.code)?,
            title: one(&f.title)?,
            section: one(&f.section)?,
            academic_department: opt(&f.academic_department)?,
            start_date: date(&f.start_date)?,
            end_date: date(&f.end_date)?,
            submit_lists_by: date(&f.submit_lists_by)?,
            participants: opt(&f.participants)?,
            weekly_hours: opt(&f.weekly_hours)?,
            year: opt(&f.year)?,
            search_id1: opt(&f.search_id1)?,
            search_id2: opt(&f.search_id2)?,
            reading_list_name: opt(&f.reading_list_name)?,
            campus: opt(&f.campus)?,
            college: opt(&f.college)?,
            subject: opt(&f.subject)?,
            term: one(&config.terms.from)?,
            cross_list: opt(&config.merge.cross_list)?,
            copy_from_code: opt(&config.rollover.copy_from_code)?,
            copy_from_section: opt(&config.rollover.copy_from_section)?,
            same_course: opt(&config.rollover.same_course)?,
        })
    }
}

/// The (code, section) a row of an unmapped term would have under each term of
/// `[terms.map]`, when the term is one column read as it is (`from = "{TERM}"`): the
/// courses a mistyped or empty term must not delete. Empty otherwise.
fn as_if_mapped(
    templates: &Templates,
    config: &CourseConfig,
    record: &Record,
    key: &CourseKey,
) -> Vec<CourseKey> {
    let mut columns = templates.term.columns();
    let (Some((_, column)), None) = (columns.next(), columns.next()) else {
        return Vec::new();
    };
    let as_if = |template: &Template, term: &str| {
        template
            .value_as_if(record, column, term)
            .unwrap_or_default()
    };
    config
        .terms
        .map
        .keys()
        .filter(|term| as_if(&templates.term, term) == **term)
        .map(|term| CourseKey {
            code: as_if(&templates.code, term),
            section: as_if(&templates.section, term),
        })
        .filter(|k| !k.code.is_empty() && k != key)
        .collect()
}

/// The extract column a template reads, when it reads exactly one (1-based, for findings).
fn column_of(template: &Template) -> Option<u64> {
    let mut columns = template.columns();
    match (columns.next(), columns.next()) {
        (Some((_, c)), None) => Some(c as u64 + 1),
        _ => None,
    }
}

/// One row's values, with the errors found on the way.
struct RowValues<'a> {
    record: &'a Record,
    errors: Vec<(Finding, Option<u64>)>,
}

impl<'a> RowValues<'a> {
    fn text(&mut self, template: &'a Template) -> Cow<'a, str> {
        match template.value(self.record) {
            Ok(v) => v,
            Err(message) => {
                self.errors.push((
                    Finding::error("E-SOURCE-VALUE", message),
                    column_of(template),
                ));
                Cow::Borrowed("")
            }
        }
    }

    fn opt_text(&mut self, template: &'a Option<Template>) -> String {
        template
            .as_ref()
            .map(|t| self.text(t).into_owned())
            .unwrap_or_default()
    }

    fn date(&mut self, template: &'a Option<Template>) -> Option<chrono::NaiveDate> {
        let t = template.as_ref()?;
        let v = self.text(t);
        if v.is_empty() {
            return None;
        }
        let parsed = t.date(&v);
        if parsed.is_none() {
            self.errors.push((
                Finding::error(
                    "E-SOURCE-DATE",
                    format!("{v:?} is not a date in the source's date format"),
                ),
                column_of(t),
            ));
        }
        parsed
    }

    fn int(&mut self, template: &'a Option<Template>) -> Option<u32> {
        let t = template.as_ref()?;
        let v = self.text(t);
        if v.is_empty() {
            return None;
        }
        let parsed = v.parse::<u32>().ok();
        if parsed.is_none() {
            self.errors.push((
                Finding::error("E-SOURCE-INTEGER", format!("{v:?} is not a whole number")),
                column_of(t),
            ));
        }
        parsed
    }
}

/// Reads the configured extract (relative paths against `base_dir`) with sis-extract's
/// readers and maps it.
pub fn map_extract_file(
    config: &CourseConfig,
    base_dir: &Path,
) -> Result<MappedCourses, CourseError> {
    let records = Records::open(&config.source.input(), base_dir, &config.origin)?;
    let file = records.name().to_owned();
    let templates = Templates::new(config, &records)?;
    let instructor_columns = config
        .instructors
        .columns
        .iter()
        .map(|c| records.column(c))
        .collect::<Result<Vec<_>, _>>()?;
    let status_column = match &config.status {
        Some(s) => Some(records.column(&s.column)?),
        None => None,
    };
    let rules = config
        .rollover
        .rules
        .iter()
        .map(|r| {
            regex::Regex::new(r.pattern.get_ref())
                .map_err(|e| config.error(r.pattern.span(), format!("invalid regex: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut mapped = MappedCourses {
        file: file.clone(),
        ..MappedCourses::default()
    };
    if let Some(warning) = records.warning() {
        mapped
            .findings
            .push(Finding::warning("W-ENCODING", warning).in_file(&file));
    }
    let mut terms: BTreeSet<String> = BTreeSet::new();
    let mut held_rows: BTreeSet<CourseKey> = BTreeSet::new();
    let mut held_groups: BTreeSet<String> = BTreeSet::new();
    let mut groups: BTreeMap<String, Vec<SectionRow>> = BTreeMap::new();
    for record in records.iter() {
        mapped.rows_read += 1;
        let line = record.line();
        let at = |f: Finding, column: Option<u64>| f.in_file(&file).at(line, column);
        if !record.readable() {
            mapped.rows_unreadable += 1;
            mapped.findings.push(at(
                Finding::error(
                    "E-SOURCE-CHANGED",
                    "cannot read this row back: the extract changed during the run; no course is deleted for missing in this run",
                ),
                None,
            ));
            continue;
        }
        let mut v = RowValues {
            record: &record,
            errors: Vec::new(),
        };
        let code = v.text(&templates.code).into_owned();
        let section = v.text(&templates.section).into_owned();
        let term = v.text(&templates.term).into_owned();
        if !term.is_empty() {
            terms.insert(term.clone());
        }
        let key = CourseKey {
            code: code.clone(),
            section: section.clone(),
        };
        let cross_list = v.opt_text(&templates.cross_list);
        let group = if cross_list.is_empty() {
            code.clone()
        } else {
            format!("cross-list:{term}:{cross_list}")
        };
        if let Some((problem, what)) = record.problem_parts() {
            // Its values may be another column's, or cut short: nothing is taken from it,
            // and the course its key and group seem to name is held.
            mapped.rows_rejected += 1;
            mapped.rows_unclean += 1;
            mapped.findings.push(
                at(
                    Finding::error(
                        problem,
                        format!(
                            "{what}; the row is not read, the course it seems to be of is held, and no course is deleted for missing in this run"
                        ),
                    ),
                    None,
                )
                .for_course(key.to_string()),
            );
            if !key.code.is_empty() {
                held_groups.insert(group);
            }
            held_rows.insert(key);
            continue;
        }
        let mut operation = Operation::Normal;
        if let (Some(status), Some(i)) = (&config.status, status_column) {
            let value = record.get(i);
            if status.skip.iter().any(|s| s == value) {
                mapped.rows_skipped += 1;
                held_rows.insert(key);
                continue;
            }
            if status.delete.iter().any(|s| s == value) {
                operation = Operation::Delete;
            }
        }
        let Some(alma_terms) = config.terms.map.get(&term) else {
            mapped.rows_skipped += 1;
            // A term mistyped or left empty must not delete the course the row is of: the
            // row holds the course it would be of under each term the config maps.
            held_rows.extend(as_if_mapped(&templates, config, &record, &key));
            held_rows.insert(key);
            mapped.findings.push(at(
                Finding::warning(
                    "W-TERM-UNMAPPED",
                    format!("registrar term {term:?} is not in [terms.map]; row skipped"),
                ),
                column_of(&templates.term),
            ));
            continue;
        };
        let campus = v.opt_text(&templates.campus);
        let college = v.opt_text(&templates.college);
        let subject = v.opt_text(&templates.subject);
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
                        .for_course(key.to_string()),
                    );
                }
                config.processing_department.default.clone()
            }
        };
        let mut instructors = Vec::new();
        for &i in &instructor_columns {
            let value = record.get(i);
            let ids: Vec<&str> = match &config.instructors.separator {
                Some(sep) => value.split(sep.as_str()).collect(),
                None => vec![value],
            };
            for id in ids {
                if let Some(id) = normalise_id(id, &config.instructors) {
                    push_unique(&mut instructors, &id);
                }
            }
        }
        let participants = v.int(&templates.participants);
        let (overflow, instructors) = if instructors.len() > MAX_INSTRUCTORS {
            let mut all = instructors;
            (all.split_off(MAX_INSTRUCTORS), all)
        } else {
            (Vec::new(), instructors)
        };
        let row = CourseRow {
            title: v.text(&templates.title).into_owned(),
            academic_department: v.opt_text(&templates.academic_department),
            processing_department: department,
            terms: alma_terms.clone(),
            start_date: v.date(&templates.start_date),
            end_date: v.date(&templates.end_date),
            participants,
            weekly_hours: v.int(&templates.weekly_hours),
            year: v.int(&templates.year),
            search_id1: v.opt_text(&templates.search_id1),
            search_id2: v.opt_text(&templates.search_id2),
            multi_search_ids: Vec::new(),
            instructors,
            multi_instructors: overflow,
            operation,
            submit_lists_by: v.date(&templates.submit_lists_by),
            campus_participants: if campus.is_empty() {
                Vec::new()
            } else {
                vec![CampusParticipants {
                    campus,
                    participants,
                }]
            },
            reading_list_name: v.opt_text(&templates.reading_list_name),
            code,
            section,
        };
        let copy_code = v.opt_text(&templates.copy_from_code);
        let copy_section = v.opt_text(&templates.copy_from_section);
        let same_course = v.opt_text(&templates.same_course);
        let mut errors: Vec<Finding> = v
            .errors
            .into_iter()
            .map(|(f, column)| at(f, column))
            .collect();
        // The course file's rules, on the row as it would be written; its columns are those
        // of the course file, so the finding names it and points at the extract's line.
        let value_errors = !errors.is_empty();
        for f in check_row(&row, &config.codes) {
            let message = match f.column {
                Some(c) => format!("{} (course file column {c})", f.message),
                None => f.message.clone(),
            };
            let mut f = Finding { column: None, ..f };
            f.message = message;
            if f.is_error() {
                errors.push(at(f, None));
            } else if !value_errors {
                mapped
                    .findings
                    .push(at(f, None).for_course(key.to_string()));
            }
        }
        if !errors.is_empty() {
            mapped.rows_rejected += 1;
            mapped
                .findings
                .extend(errors.into_iter().map(|f| f.for_course(key.to_string())));
            if !key.code.is_empty() {
                held_groups.insert(group);
            }
            held_rows.insert(key);
            continue;
        }
        groups.entry(group).or_default().push(SectionRow {
            line,
            term,
            row,
            copy_from: (!copy_code.is_empty()).then(|| CopyFrom {
                code: copy_code,
                section: (!copy_section.is_empty()).then_some(copy_section),
            }),
            same_course,
            rule: rule_match(&rules, config, &key.code),
        });
    }
    for (group, mut sections) in groups {
        if held_groups.contains(&group) {
            mapped.rows_held += sections.len() as u64;
            continue;
        }
        sections.sort_by(|a, b| {
            a.row
                .code
                .cmp(&b.row.code)
                .then_with(|| section_order(&a.row.section, &b.row.section))
                .then(a.line.cmp(&b.line))
        });
        mapped.rows_merged += sections.len() as u64 - 1;
        let mut course = MappedCourse {
            term: String::new(),
            group,
            sections,
        };
        course.term = course
            .current()
            .first()
            .map(|s| s.term.clone())
            .unwrap_or_default();
        mapped.courses.push(course);
    }
    mapped.terms = terms.into_iter().collect();
    mapped.held_rows = held_rows.into_iter().collect();
    mapped.held_groups = held_groups.into_iter().collect();
    Ok(mapped)
}

/// The first `[[rollover.rule]]` whose pattern matches `code`: the old code is the code with
/// the match replaced by `old_code`; `old_section` has the match's groups expanded.
fn rule_match(rules: &[regex::Regex], config: &CourseConfig, code: &str) -> Option<RuleMatch> {
    rules
        .iter()
        .zip(&config.rollover.rules)
        .enumerate()
        .find_map(|(i, (pattern, rule))| {
            let captures = pattern.captures(code)?;
            let expand = |template: &str| {
                let mut out = String::new();
                captures.expand(template, &mut out);
                out
            };
            Some(RuleMatch {
                // The match is replaced in the code, as in the first version.
                code: pattern.replace(code, rule.old_code.as_str()).into_owned(),
                section: rule.old_section.as_deref().map(expand),
                rule: i + 1,
            })
        })
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
        .map(|r| r.get_ref())
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
pub(crate) fn section_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}
