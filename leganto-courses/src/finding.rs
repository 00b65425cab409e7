//! Findings: what is wrong (or worth knowing) about a course row, and where.
//!
//! A course finding is alma-user-model's [`alma_user_model::Finding`] (its code, severity
//! and message; reached through `Deref`, so `finding.code` reads as for a user finding) in
//! a thin wrapper that says where: a course file has no user and no field path, and its
//! places are a file, a line and a field number that may be unknown (a user finding's
//! position always has a byte column), about a course rather than a primary id.

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::Serialize;

pub use alma_user_model::Severity;

/// One finding, with a stable code (e.g. `E-DATE`) and, when known, a file position.
///
/// `column` is the 1-based column number of the course file (1 = `COURSE_CODE`, 34 =
/// `READING_LIST_NAME`), or of the registrar's extract for mapping findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The code, severity and message, as for patron records.
    #[serde(flatten)]
    pub finding: alma_user_model::Finding,
    /// The file, when the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// 1-based column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    /// The course (`CODE/SECTION`), when the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub course: Option<String>,
}

impl Deref for Finding {
    type Target = alma_user_model::Finding;

    fn deref(&self) -> &alma_user_model::Finding {
        &self.finding
    }
}

impl DerefMut for Finding {
    fn deref_mut(&mut self) -> &mut alma_user_model::Finding {
        &mut self.finding
    }
}

impl Finding {
    /// An error with a code and message; position and course are added with the builders.
    pub fn error(code: &'static str, message: impl Into<String>) -> Finding {
        Finding::new(code, Severity::Error, message)
    }

    /// A warning with a code and message.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Finding {
        Finding::new(code, Severity::Warning, message)
    }

    fn new(code: &'static str, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            finding: alma_user_model::Finding::new(code, severity, message),
            file: None,
            line: None,
            column: None,
            course: None,
        }
    }

    /// Sets the file.
    pub fn in_file(mut self, file: impl Into<String>) -> Finding {
        self.file = Some(file.into());
        self
    }

    /// Sets the line and column.
    pub fn at(mut self, line: u64, column: Option<u64>) -> Finding {
        self.line = Some(line);
        self.column = column;
        self
    }

    /// Sets the course.
    pub fn for_course(mut self, course: impl Into<String>) -> Finding {
        self.course = Some(course.into());
        self
    }

    /// Whether this finding is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Finding {
    /// `file:line:column: severity[CODE]: message (course X/1)`, leaving out what is unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut place = Vec::new();
        if let Some(file) = &self.file {
            place.push(file.clone());
        }
        if let Some(line) = self.line {
            place.push(line.to_string());
            if let Some(column) = self.column {
                place.push(column.to_string());
            }
        }
        if !place.is_empty() {
            write!(f, "{}: ", place.join(":"))?;
        }
        write!(f, "{}[{}]: {}", self.severity, self.code, self.message)?;
        if let Some(course) = &self.course {
            write!(f, " (course {course})")?;
        }
        Ok(())
    }
}
