//! The course config: a TOML file a librarian can read, owned by this crate. Templates and
//! column names keep their place in the file, so that errors found once the extract's
//! columns are known point at the config's line and column, as the patron feed's do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sis_extract::ExtractError;
use sis_extract::config::{ConfigSource, FieldSpec, FixedColumn, InputConfig, InputFormat};
use toml::Spanned;

use crate::CourseError;
use crate::validate::CodeLists;
use crate::write::{DateFormat, FileNamePattern};

/// The whole course config (the CLI adds its own `[output]`, `[delivery]`, `[state]` and
/// `[pull]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourseConfig {
    /// `[source]`: the registrar's extract.
    pub source: SourceConfig,
    /// `[file]`: how the course file is written and what the Course Loader profile updates.
    #[serde(default)]
    pub file: FileConfig,
    /// `[codes]`: the codes Alma knows.
    #[serde(default)]
    pub codes: CodeLists,
    /// `[fields]`: templates over the extract's columns.
    pub fields: FieldTemplates,
    /// `[merge]`: which rows are one course.
    #[serde(default)]
    pub merge: MergeConfig,
    /// `[terms]`: the registrar's term to Alma's Course Terms.
    pub terms: TermMapping,
    /// `[processing_department]`: ordered rules, then a default.
    pub processing_department: ProcessingDepartmentRules,
    /// `[instructors]`: where instructors come from and how their ids are normalised.
    #[serde(default)]
    pub instructors: InstructorConfig,
    /// `[status]`: which registrar statuses cancel or skip a course.
    #[serde(default)]
    pub status: Option<StatusConfig>,
    /// `[rollover]`: which courses copy reading lists from an older course.
    #[serde(default)]
    pub rollover: RolloverConfig,
    /// `[delta]`: what is deleted, and the brakes on deletes.
    #[serde(default)]
    pub delta: DeltaConfig,
    /// The file this config came from, to point errors at a line and column.
    #[serde(skip)]
    pub origin: ConfigSource,
}

impl CourseConfig {
    /// Parses the course config from the whole config file `text` (read from `path`),
    /// ignoring the top-level tables in `foreign_sections` (those belong to the caller).
    /// Errors name `path`, line and column.
    pub fn from_toml(
        text: &str,
        path: &Path,
        foreign_sections: &[&str],
    ) -> Result<CourseConfig, CourseError> {
        let (mut config, origin) =
            ConfigSource::deserialize::<CourseConfig>(text, path, foreign_sections)?;
        config.origin = origin;
        config.check()?;
        Ok(config)
    }

    /// An error at a place in this config.
    pub(crate) fn error(&self, span: std::ops::Range<usize>, message: String) -> CourseError {
        CourseError::Extract(ExtractError::Config {
            at: self.origin.locate(&span),
            message,
        })
    }

    /// What cannot be checked while parsing.
    fn check(&self) -> Result<(), CourseError> {
        for rule in &self.processing_department.rules {
            let r = rule.get_ref();
            if r.campus.is_empty()
                && r.college.is_empty()
                && r.subject_prefix.is_empty()
                && r.code_prefix.is_empty()
            {
                return Err(self.error(
                    rule.span(),
                    "a processing-department rule needs at least one of campus, college, subject_prefix, code_prefix".to_owned(),
                ));
            }
        }
        for column in &self.file.loader_updates {
            if !crate::COLUMNS.contains(&column.get_ref().as_str()) {
                return Err(self.error(
                    column.span(),
                    format!(
                        "{:?} is not a column of the course file (COURSE_TITLE, START_DATE, ...)",
                        column.get_ref()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// `[source]`: the registrar's extract, read as the patron feed reads an `[[input]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The extract, relative to the config file.
    pub path: PathBuf,
    /// `delimited` (default) or `fixed_width`.
    #[serde(default)]
    pub format: InputFormat,
    /// One byte (`\t` for tab); `,` by default.
    #[serde(default = "default_delimiter")]
    pub delimiter: Spanned<String>,
    /// The quote byte, `"` by default.
    #[serde(default = "default_quote")]
    pub quote: Spanned<String>,
    /// Whether the first line names the columns (default: true if delimited).
    #[serde(default)]
    pub header: Option<bool>,
    /// Column names of a delimited file without a header row.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Column positions of a fixed-width file.
    #[serde(default)]
    pub positions: Vec<FixedColumn>,
    /// Fallback encoding when the file is not UTF-8 (e.g. `windows-1252`).
    #[serde(default)]
    pub encoding: Option<Spanned<String>>,
    /// How the extract writes dates (chrono format, `%Y-%m-%d` by default), unless a date
    /// field's rule gives its own `date_formats`.
    #[serde(default)]
    pub date_format: DateFormat,
}

fn default_delimiter() -> Spanned<String> {
    Spanned::new(0..0, ",".to_owned())
}

fn default_quote() -> Spanned<String> {
    Spanned::new(0..0, "\"".to_owned())
}

impl SourceConfig {
    /// The extract as sis-extract's readers take it (without a person key).
    pub fn input(&self) -> InputConfig {
        InputConfig {
            path: self.path.clone(),
            name: None,
            query: None,
            query_file: None,
            database: None,
            key: Spanned::new(0..0, String::new()),
            format: self.format,
            delimiter: self.delimiter.clone(),
            quote: self.quote.clone(),
            header: self.header,
            columns: self.columns.clone(),
            positions: self.positions.clone(),
            encoding: self.encoding.clone(),
            supplement: false,
            multiline: false,
        }
    }
}

/// `[file]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The Course Loader profile's date format (chrono format, `%Y-%m-%d` by default).
    #[serde(default)]
    pub date_format: DateFormat,
    /// The delivered file's name (`%Y%m%d%H%M%S.txt` by default).
    #[serde(default)]
    pub name: FileNamePattern,
    /// Columns besides `NUM_OF_PARTICIPANTS` and the instructors that the Course Loader
    /// profile is set to update on existing courses (its update check-boxes). By default
    /// Alma updates only those; a change to any other column of a course already in Alma is
    /// reported as not applied.
    #[serde(default)]
    pub loader_updates: Vec<Spanned<String>>,
}

/// `[fields]`: each value is a field rule of the patron feed's kind: a template in which
/// `{COLUMN}` is the extract's column of that name, or a table with a `template` and `map`,
/// `regex`, `case`, `default`, `date_formats`. Absent fields stay empty.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldTemplates {
    /// `COURSE_CODE`.
    pub code: FieldSpec,
    /// `COURSE_TITLE`.
    pub title: FieldSpec,
    /// `SECTION_ID`.
    pub section: FieldSpec,
    /// `ACAD_DEPT`.
    #[serde(default)]
    pub academic_department: Option<FieldSpec>,
    /// `START_DATE`, in the source's date format.
    #[serde(default)]
    pub start_date: Option<FieldSpec>,
    /// `END_DATE`, in the source's date format.
    #[serde(default)]
    pub end_date: Option<FieldSpec>,
    /// `SUBMIT_LISTS_BY`, in the source's date format.
    #[serde(default)]
    pub submit_lists_by: Option<FieldSpec>,
    /// `NUM_OF_PARTICIPANTS`; with a campus, also the `N` of `CAMPUS|N`.
    #[serde(default)]
    pub participants: Option<FieldSpec>,
    /// `WEEKLY_HOURS`.
    #[serde(default)]
    pub weekly_hours: Option<FieldSpec>,
    /// `YEAR`.
    #[serde(default)]
    pub year: Option<FieldSpec>,
    /// `SEARCH_ID1`.
    #[serde(default)]
    pub search_id1: Option<FieldSpec>,
    /// `SEARCH_ID2`.
    #[serde(default)]
    pub search_id2: Option<FieldSpec>,
    /// `READING_LIST_NAME`.
    #[serde(default)]
    pub reading_list_name: Option<FieldSpec>,
    /// The campus code: fills `CAMPUS_AND_PARTICIPANTS` and feeds the department rules.
    #[serde(default)]
    pub campus: Option<FieldSpec>,
    /// The college or faculty: feeds the department rules.
    #[serde(default)]
    pub college: Option<FieldSpec>,
    /// The subject (e.g. `MUS`): feeds the department rules.
    #[serde(default)]
    pub subject: Option<FieldSpec>,
}

/// `[merge]`: rows with the same course code are one course; rows with the same cross-list
/// group (and term) are one course whatever their codes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeConfig {
    /// Template for the registrar's cross-list (combined section) group; empty: merged by
    /// code.
    #[serde(default)]
    pub cross_list: Option<FieldSpec>,
}

/// `[terms]`: `from` is a template; `map` turns its value into up to four Course Terms.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermMapping {
    /// The template giving the registrar's term, e.g. `{TERM}`.
    pub from: FieldSpec,
    /// Registrar term to Alma Course Terms codes. A term not listed skips the row with a
    /// warning.
    pub map: BTreeMap<String, Vec<String>>,
}

/// One processing-department rule: all the conditions given must match.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessingDepartmentRule {
    /// Matches when the campus is one of these.
    #[serde(default)]
    pub campus: Vec<String>,
    /// Matches when the college is one of these.
    #[serde(default)]
    pub college: Vec<String>,
    /// Matches when the subject starts with one of these.
    #[serde(default)]
    pub subject_prefix: Vec<String>,
    /// Matches when the course code starts with one of these.
    #[serde(default)]
    pub code_prefix: Vec<String>,
    /// The Processing Departments code to use.
    pub department: String,
}

/// `[processing_department]`: the first matching `[[processing_department.rule]]` decides;
/// otherwise `default`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessingDepartmentRules {
    /// Ordered rules.
    #[serde(default, rename = "rule")]
    pub rules: Vec<Spanned<ProcessingDepartmentRule>>,
    /// Used when no rule matches.
    pub default: String,
    /// Report a warning for each course that fell through to the default.
    #[serde(default = "yes")]
    pub log_unknown: bool,
}

fn yes() -> bool {
    true
}

/// How instructor ids are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdCase {
    /// As the extract has them.
    #[default]
    Keep,
    /// Lower case.
    Lower,
    /// Upper case.
    Upper,
}

/// `[instructors]`: columns holding instructor ids (several rows of one course are united).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstructorConfig {
    /// Columns with instructor ids.
    #[serde(default)]
    pub columns: Vec<Spanned<String>>,
    /// Splits several ids inside one column (e.g. `;`).
    #[serde(default)]
    pub separator: Option<String>,
    /// Appended as `@domain` to ids without an `@`.
    #[serde(default)]
    pub domain: Option<String>,
    /// Letter case of ids.
    #[serde(default)]
    pub case: IdCase,
    /// The patron feed (its `[feed] name`) whose loaded users instructors are checked
    /// against: Alma needs every instructor as a user.
    #[serde(default)]
    pub patron_feed: Option<String>,
    /// The patron feed's run-state file, relative to the config file; the course run state
    /// when absent.
    #[serde(default)]
    pub patron_state: Option<PathBuf>,
}

/// `[status]`: the registrar's course status.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// The status column.
    pub column: Spanned<String>,
    /// Statuses that mean the course is cancelled: sent as `DELETE` if it was sent before.
    #[serde(default)]
    pub delete: Vec<String>,
    /// Statuses whose rows are ignored (e.g. not yet approved).
    #[serde(default)]
    pub skip: Vec<String>,
}

/// One old-code rule: a course whose code matches `pattern` rolls over from `old_code`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OldCodeRule {
    /// A regular expression over the new course code, with named groups.
    pub pattern: Spanned<String>,
    /// The old code, with `${group}` references.
    pub old_code: String,
    /// The old section (with `${group}` references); when absent, the one course alma-sis
    /// sent with the old code.
    #[serde(default)]
    pub old_section: Option<String>,
}

/// What to do with a rollover whose old course alma-sis never sent (or deleted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownOld {
    /// Report it and send nothing (the default).
    #[default]
    Hold,
    /// Send it when the old course's code and section are both given (courses loaded into
    /// Alma before alma-sis), with a warning.
    Send,
}

/// `[rollover]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloverConfig {
    /// Send `ROLLOVER` rows; when false, candidates only go to the rollover report.
    #[serde(default)]
    pub emit: bool,
    /// Template for the course the instructor asked to copy from (a "copy from" column).
    #[serde(default)]
    pub copy_from_code: Option<FieldSpec>,
    /// Template for that course's section; when empty, the one course alma-sis sent with
    /// that code.
    #[serde(default)]
    pub copy_from_section: Option<FieldSpec>,
    /// Old-code rules, tried in order when there is no "copy from" value.
    #[serde(default, rename = "rule")]
    pub rules: Vec<OldCodeRule>,
    /// Template naming what a course is across terms (e.g. `{SUBJECT}{CATALOG_NBR}`): a
    /// course with neither a "copy from" value nor a matching rule rolls over from the course
    /// with the same value in the most recent earlier term alma-sis sent.
    #[serde(default)]
    pub same_course: Option<FieldSpec>,
    /// `hold` (default) or `send`: a rollover whose old course alma-sis never sent.
    #[serde(default)]
    pub unknown_old: UnknownOld,
}

/// `[delta]`: what is deleted, and the brakes on deletes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaConfig {
    /// Deletes always allowed in one run.
    #[serde(default = "default_max_deletes")]
    pub max_deletes: usize,
    /// Deletes allowed as a percentage of the courses sent so far, when that is more.
    #[serde(default = "default_max_delete_percent")]
    pub max_delete_percent: u32,
    /// Deletes allowed in one run of courses that received rolled-over reading lists.
    #[serde(default)]
    pub max_rollover_target_deletes: usize,
    /// Send `DELETE` for courses sent before that are gone from the extract while their term
    /// is still in it.
    #[serde(default = "yes")]
    pub delete_vanished: bool,
}

fn default_max_deletes() -> usize {
    20
}

fn default_max_delete_percent() -> u32 {
    10
}

impl Default for DeltaConfig {
    fn default() -> Self {
        DeltaConfig {
            max_deletes: default_max_deletes(),
            max_delete_percent: default_max_delete_percent(),
            max_rollover_target_deletes: 0,
            delete_vanished: true,
        }
    }
}
