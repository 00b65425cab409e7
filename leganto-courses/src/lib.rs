//! [`CourseRow`] is a line of the Leganto course-loading file (34 tab-separated columns,
//! UTF-8, CRLF, a header row and a datestamped name), built from a registrar's extract with a
//! [`CourseConfig`] and kept in step with what was sent through a [`CourseState`].
//!
//! The flow: [`map_extract_file`] reads the registrar's extract (with sis-extract's readers
//! and field rules) with a [`CourseConfig`] and returns today's courses, each with its rows
//! ([`MappedCourse`]), and findings; [`plan_delta`] gives each course the key it was first
//! sent under, keeps only what changed since the last [`Snapshot`] sent, deletes only
//! courses that are cancelled or gone while their term is still extracted, brakes on
//! deletes, and resolves rollovers (each sent once, never from an old course alma-sis did
//! not send); [`CourseFileWriter`] writes the file; [`read_course_file`] reads any course
//! file back and checks it against Ex Libris' rules ([`RULES`]), with `file:line:column`
//! [`Finding`]s.
//!
//! ```
//! use leganto_courses::{CourseRow, DateFormat, Rules, read_course_file, write_course_file};
//! use chrono::NaiveDate;
//!
//! let row = CourseRow {
//!     code: "HIST101-2027SP".into(),
//!     title: "World History".into(),
//!     section: "1".into(),
//!     processing_department: "MAIN".into(),
//!     start_date: NaiveDate::from_ymd_opt(2027, 1, 18),
//!     end_date: NaiveDate::from_ymd_opt(2027, 5, 14),
//!     ..CourseRow::default()
//! };
//! let bytes = write_course_file(&[row.clone()], &DateFormat::default()).unwrap();
//! let file = read_course_file(&bytes, "courses.txt", &Rules::default());
//! assert!(file.findings.is_empty());
//! assert_eq!(file.rows[0].row, row);
//! ```
//!
//! This crate must never read the clock (the run's timestamp is an argument), open network
//! connections or print.
#![deny(missing_docs)]

mod config;
mod delta;
mod finding;
mod instructors;
mod mapping;
mod report;
mod row;
mod validate;
mod write;

pub use config::{
    CourseConfig, DeltaConfig, FieldTemplates, FileConfig, IdCase, InstructorConfig, MergeConfig,
    OldCodeRule, ProcessingDepartmentRule, ProcessingDepartmentRules, RolloverConfig, SourceConfig,
    StatusConfig, TermMapping, UnknownOld,
};
pub use delta::{
    Change, ChangeKind, CourseState, Delta, DeltaOptions, MemoryState, SentCourse, SentRollover,
    Snapshot, delete_limit, plan_delta, updated_by_default,
};
pub use finding::{Finding, Severity};
pub use instructors::unloaded_instructors;
pub use mapping::{
    CopyFrom, MappedCourse, MappedCourses, RolloverRequest, RuleMatch, SectionRow,
    map_extract_file, normalise_id, processing_department,
};
pub use report::{RolloverCandidate, RolloverLine, RolloverStatus, rollover_csv, rollover_html};
pub use row::{CampusParticipants, CourseKey, CourseRow, MAX_INSTRUCTORS, MAX_TERMS, Operation};
pub use validate::{
    CodeLists, CourseFile, LEGACY_COLUMNS, RULES, ReadRow, Rule, Rules, check_row,
    read_course_file, rule_of,
};
pub use write::{CourseFileWriter, DateFormat, FileNamePattern, clean_value, write_course_file};

/// Why a course operation failed (as opposed to findings, which are about the data).
#[derive(Debug, thiserror::Error)]
pub enum CourseError {
    /// Writing the course file failed.
    #[error("cannot write the course file")]
    Write(#[source] std::io::Error),
    /// A row has more values than the file has columns for.
    #[error("course {course}: {count} values for {column}; at most {max}")]
    TooMany {
        /// The course, `CODE/SECTION`.
        course: String,
        /// The columns.
        column: &'static str,
        /// Values given.
        count: usize,
        /// Columns available.
        max: usize,
    },
    /// A date format cannot be used.
    #[error("date format {format:?}: {reason}")]
    DateFormat {
        /// The format.
        format: String,
        /// Why.
        reason: String,
    },
    /// A file-name pattern cannot be used.
    #[error("file name pattern {pattern:?}: {reason}")]
    FileNamePattern {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// The extract could not be read, or the config does not fit it (with the config's
    /// line and column, as the patron feed's errors).
    #[error(transparent)]
    Extract(#[from] sis_extract::ExtractError),
    /// The brake: more deletes than allowed.
    #[error(
        "brake: {deletes} courses would be deleted, more than the {limit} allowed ({sent} sent for the extract's terms); check the extract, or raise [delta] limits, or force the run"
    )]
    Brake {
        /// Deletes planned.
        deletes: usize,
        /// Deletes allowed.
        limit: usize,
        /// Courses sent for the terms the extract has.
        sent: usize,
    },
    /// The brake on deleting courses that received rolled-over reading lists.
    #[error(
        "brake: {deletes} course(s) that received rolled-over reading lists would be deleted ({}), more than the {limit} allowed: deleting a course deletes its reading lists. Check the extract, or raise [delta] max_rollover_target_deletes, or force the run",
        courses.join(", ")
    )]
    RolloverTargetBrake {
        /// Such deletes planned.
        deletes: usize,
        /// Such deletes allowed.
        limit: usize,
        /// The courses, `CODE/SECTION`.
        courses: Vec<String>,
    },
}

/// The 34 columns of the course-loading file, in order.
pub const COLUMNS: [&str; 34] = [
    "COURSE_CODE",
    "COURSE_TITLE",
    "SECTION_ID",
    "ACAD_DEPT",
    "PROC_DEPT",
    "TERM1",
    "TERM2",
    "TERM3",
    "TERM4",
    "START_DATE",
    "END_DATE",
    "NUM_OF_PARTICIPANTS",
    "WEEKLY_HOURS",
    "YEAR",
    "SEARCH_ID1",
    "SEARCH_ID2",
    "MULTI_SEARCH_ID",
    "INSTR1",
    "INSTR2",
    "INSTR3",
    "INSTR4",
    "INSTR5",
    "INSTR6",
    "INSTR7",
    "INSTR8",
    "INSTR9",
    "INSTR10",
    "MULTI_INST",
    "OPERATION",
    "OLD_COURSE_CODE",
    "OLD_COURSE_SECTION",
    "SUBMIT_LISTS_BY",
    "CAMPUS_AND_PARTICIPANTS",
    "READING_LIST_NAME",
];
