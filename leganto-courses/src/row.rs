//! The course row: one line of the course-loading file, typed.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The most `TERMn` columns a row has.
pub const MAX_TERMS: usize = 4;
/// The most `INSTRn` columns a row has; more instructors go to `MULTI_INST`.
pub const MAX_INSTRUCTORS: usize = 10;

/// What Alma does with a row (column 29, `OPERATION`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Operation {
    /// Empty: add the course, or update it if (code, section) exists.
    #[default]
    Normal,
    /// `DELETE`: delete the course (code, section).
    Delete,
    /// `ROLLOVER`: copy the old course's reading lists to this course (not idempotent).
    Rollover {
        /// `OLD_COURSE_CODE`.
        old_code: String,
        /// `OLD_COURSE_SECTION`.
        old_section: String,
    },
}

impl Operation {
    /// The value written in `OPERATION`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Operation::Normal => "",
            Operation::Delete => "DELETE",
            Operation::Rollover { .. } => "ROLLOVER",
        }
    }
}

/// A course's identity in Alma: (`COURSE_CODE`, `SECTION_ID`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CourseKey {
    /// `COURSE_CODE`.
    pub code: String,
    /// `SECTION_ID`.
    pub section: String,
}

impl fmt::Display for CourseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.code, self.section)
    }
}

/// One entry of `CAMPUS_AND_PARTICIPANTS`: `CAMPUS|N`, or just `CAMPUS`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CampusParticipants {
    /// An Alma campus code.
    pub campus: String,
    /// Participants on that campus.
    pub participants: Option<u32>,
}

impl fmt::Display for CampusParticipants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.participants {
            Some(n) => write!(f, "{}|{n}", self.campus),
            None => f.write_str(&self.campus),
        }
    }
}

/// One course, as the 34 columns of the course-loading file describe it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CourseRow {
    /// `COURSE_CODE` (required, part of the key).
    pub code: String,
    /// `COURSE_TITLE` (required).
    pub title: String,
    /// `SECTION_ID` (part of the key; always filled by alma-sis).
    pub section: String,
    /// `ACAD_DEPT`: an Academic Departments code.
    pub academic_department: String,
    /// `PROC_DEPT` (required): a Processing Departments code.
    pub processing_department: String,
    /// `TERM1`..`TERM4`: Course Terms codes.
    pub terms: Vec<String>,
    /// `START_DATE`.
    pub start_date: Option<NaiveDate>,
    /// `END_DATE`.
    pub end_date: Option<NaiveDate>,
    /// `NUM_OF_PARTICIPANTS`.
    pub participants: Option<u32>,
    /// `WEEKLY_HOURS`.
    pub weekly_hours: Option<u32>,
    /// `YEAR`.
    pub year: Option<u32>,
    /// `SEARCH_ID1`.
    pub search_id1: String,
    /// `SEARCH_ID2`.
    pub search_id2: String,
    /// `MULTI_SEARCH_ID`, comma-separated in the file.
    pub multi_search_ids: Vec<String>,
    /// `INSTR1`..`INSTR10`: instructors' primary ids, at most ten.
    pub instructors: Vec<String>,
    /// `MULTI_INST`: more instructors' primary ids, comma-separated in the file.
    pub multi_instructors: Vec<String>,
    /// `OPERATION`, with `OLD_COURSE_CODE` and `OLD_COURSE_SECTION` for a rollover.
    pub operation: Operation,
    /// `SUBMIT_LISTS_BY`.
    pub submit_lists_by: Option<NaiveDate>,
    /// `CAMPUS_AND_PARTICIPANTS`, comma-separated in the file.
    pub campus_participants: Vec<CampusParticipants>,
    /// `READING_LIST_NAME`.
    pub reading_list_name: String,
}

impl CourseRow {
    /// The course's identity.
    pub fn key(&self) -> CourseKey {
        CourseKey {
            code: self.code.clone(),
            section: self.section.clone(),
        }
    }

    /// Every instructor, `INSTRn` first, then `MULTI_INST`, without repeats.
    pub fn all_instructors(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for id in self.instructors.iter().chain(&self.multi_instructors) {
            if !all.contains(id) {
                all.push(id.clone());
            }
        }
        all
    }

    /// The row's 34 values, as written (before TAB/CR/LF cleaning), dates in `date_format`
    /// (a chrono format such as `%Y-%m-%d`, checked by [`crate::DateFormat`]).
    pub fn values(&self, date_format: &crate::DateFormat) -> Vec<String> {
        let date = |d: &Option<NaiveDate>| d.map(|d| date_format.format(d)).unwrap_or_default();
        let int = |n: &Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
        let mut v = Vec::with_capacity(crate::COLUMNS.len());
        v.push(self.code.clone());
        v.push(self.title.clone());
        v.push(self.section.clone());
        v.push(self.academic_department.clone());
        v.push(self.processing_department.clone());
        for i in 0..MAX_TERMS {
            v.push(self.terms.get(i).cloned().unwrap_or_default());
        }
        v.push(date(&self.start_date));
        v.push(date(&self.end_date));
        v.push(int(&self.participants));
        v.push(int(&self.weekly_hours));
        v.push(int(&self.year));
        v.push(self.search_id1.clone());
        v.push(self.search_id2.clone());
        v.push(self.multi_search_ids.join(","));
        for i in 0..MAX_INSTRUCTORS {
            v.push(self.instructors.get(i).cloned().unwrap_or_default());
        }
        v.push(self.multi_instructors.join(","));
        v.push(self.operation.as_str().to_owned());
        match &self.operation {
            Operation::Rollover {
                old_code,
                old_section,
            } => {
                v.push(old_code.clone());
                v.push(old_section.clone());
            }
            _ => {
                v.push(String::new());
                v.push(String::new());
            }
        }
        v.push(date(&self.submit_lists_by));
        let campuses: Vec<String> = self
            .campus_participants
            .iter()
            .map(ToString::to_string)
            .collect();
        v.push(campuses.join(","));
        v.push(self.reading_list_name.clone());
        v
    }
}
