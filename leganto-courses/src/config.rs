//! The course config: a TOML file a librarian can read, owned by this crate.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::validate::CodeLists;
use crate::write::{DateFormat, FileNamePattern};

/// The whole course config (the CLI adds its own `[output]` and `[delivery]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourseConfig {
    /// `[source]`: the registrar's extract.
    pub source: SourceConfig,
    /// `[file]`: how the course file is written.
    #[serde(default)]
    pub file: FileConfig,
    /// `[codes]`: the codes Alma knows.
    #[serde(default)]
    pub codes: CodeLists,
    /// `[fields]`: templates over the extract's columns.
    pub fields: FieldTemplates,
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
    /// `[delta]`: the brake on mass deletes.
    #[serde(default)]
    pub delta: DeltaConfig,
}

/// `[source]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The extract, relative to the config file.
    pub path: PathBuf,
    /// One byte; `,` by default.
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Fallback encoding when the file is not UTF-8 (e.g. `windows-1252`).
    #[serde(default)]
    pub encoding: Option<String>,
    /// How the extract writes dates (chrono format, `%Y-%m-%d` by default).
    #[serde(default)]
    pub date_format: DateFormat,
}

fn default_delimiter() -> String {
    ",".to_owned()
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
}

/// `[fields]`: each value is a template in which `{COLUMN}` is replaced by the extract's
/// column of that name. Empty or absent templates leave the field empty.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldTemplates {
    /// `COURSE_CODE`.
    pub code: String,
    /// `COURSE_TITLE`.
    pub title: String,
    /// `SECTION_ID`.
    pub section: String,
    /// `ACAD_DEPT`.
    #[serde(default)]
    pub academic_department: String,
    /// `START_DATE`, in the source's date format.
    #[serde(default)]
    pub start_date: String,
    /// `END_DATE`, in the source's date format.
    #[serde(default)]
    pub end_date: String,
    /// `SUBMIT_LISTS_BY`, in the source's date format.
    #[serde(default)]
    pub submit_lists_by: String,
    /// `NUM_OF_PARTICIPANTS`.
    #[serde(default)]
    pub participants: String,
    /// `WEEKLY_HOURS`.
    #[serde(default)]
    pub weekly_hours: String,
    /// `YEAR`.
    #[serde(default)]
    pub year: String,
    /// `SEARCH_ID1`.
    #[serde(default)]
    pub search_id1: String,
    /// `SEARCH_ID2`.
    #[serde(default)]
    pub search_id2: String,
    /// `READING_LIST_NAME`.
    #[serde(default)]
    pub reading_list_name: String,
    /// The campus code: fills `CAMPUS_AND_PARTICIPANTS` and feeds the department rules.
    #[serde(default)]
    pub campus: String,
    /// The college or faculty: feeds the department rules.
    #[serde(default)]
    pub college: String,
    /// The subject (e.g. `MUS`): feeds the department rules.
    #[serde(default)]
    pub subject: String,
}

/// `[terms]`: `from` is a template; `map` turns its value into up to four Course Terms.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermMapping {
    /// The template giving the registrar's term, e.g. `{TERM}`.
    pub from: String,
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
    pub rules: Vec<ProcessingDepartmentRule>,
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
    pub columns: Vec<String>,
    /// Splits several ids inside one column (e.g. `;`).
    #[serde(default)]
    pub separator: Option<String>,
    /// Appended as `@domain` to ids without an `@`.
    #[serde(default)]
    pub domain: Option<String>,
    /// Letter case of ids.
    #[serde(default)]
    pub case: IdCase,
}

/// `[status]`: the registrar's course status.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// The status column.
    pub column: String,
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
    pub pattern: String,
    /// The old code, with `${group}` references.
    pub old_code: String,
    /// The old section; the new course's section when absent.
    #[serde(default)]
    pub old_section: Option<String>,
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
    pub copy_from_code: String,
    /// Template for that course's section; the new section when empty.
    #[serde(default)]
    pub copy_from_section: String,
    /// Old-code rules, tried in order when there is no "copy from" value.
    #[serde(default, rename = "rule")]
    pub rules: Vec<OldCodeRule>,
}

/// `[delta]`: the brake on mass deletes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaConfig {
    /// Deletes always allowed in one run.
    #[serde(default = "default_max_deletes")]
    pub max_deletes: usize,
    /// Deletes allowed as a percentage of the courses sent so far, when that is more.
    #[serde(default = "default_max_delete_percent")]
    pub max_delete_percent: u32,
    /// Send `DELETE` for courses sent before that are gone from the extract.
    #[serde(default = "default_delete_vanished")]
    pub delete_vanished: bool,
}

fn default_delete_vanished() -> bool {
    true
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
            delete_vanished: default_delete_vanished(),
        }
    }
}
