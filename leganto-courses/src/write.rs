//! Writing the course-loading file: a header row, then one CRLF-terminated line of 34
//! tab-separated values per course, UTF-8 without a BOM.

use std::io::Write;

use chrono::format::{Item, StrftimeItems};
use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;

use crate::row::{CourseRow, MAX_INSTRUCTORS, MAX_TERMS};
use crate::{COLUMNS, CourseError};

/// The date format the Course Loader profile is configured with, as a chrono format
/// (`%Y-%m-%d` for `yyyy-MM-dd`, `%d-%m-%Y` for `dd-MM-yyyy`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DateFormat(String);

impl DateFormat {
    /// Checks that `format` is a chrono format that writes and reads back a whole date.
    pub fn new(format: &str) -> Result<DateFormat, CourseError> {
        let invalid = |reason: &str| CourseError::DateFormat {
            format: format.to_owned(),
            reason: reason.to_owned(),
        };
        if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
            return Err(invalid("it is not a valid chrono format (e.g. %Y-%m-%d)"));
        }
        let probe = NaiveDate::from_ymd_opt(2026, 12, 31).ok_or_else(|| invalid("internal"))?;
        let written = probe.format(format).to_string();
        if written.contains(['\t', '\r', '\n', ',']) {
            return Err(invalid("it writes a tab, line break or comma"));
        }
        match NaiveDate::parse_from_str(&written, format) {
            Ok(d) if d == probe => Ok(DateFormat(format.to_owned())),
            _ => Err(invalid(
                "it does not write a whole date that reads back (needs year, month and day)",
            )),
        }
    }

    /// Formats a date.
    pub fn format(&self, date: NaiveDate) -> String {
        date.format(&self.0).to_string()
    }

    /// Parses a date written in this format.
    pub fn parse(&self, text: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(text, &self.0).ok()
    }

    /// The chrono format string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for DateFormat {
    fn default() -> Self {
        DateFormat("%Y-%m-%d".to_owned())
    }
}

impl TryFrom<String> for DateFormat {
    type Error = CourseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DateFormat::new(&s)
    }
}

/// The name the course file is delivered under: a chrono pattern applied to the run's
/// timestamp, `%Y%m%d%H%M%S.txt` by default (the profile loads only files whose date stamp
/// is later than its last run).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct FileNamePattern(String);

impl FileNamePattern {
    /// Checks the pattern: a valid chrono format, no directory, ending in `.txt` or `.csv`.
    pub fn new(pattern: &str) -> Result<FileNamePattern, CourseError> {
        let invalid = |reason: &str| CourseError::FileNamePattern {
            pattern: pattern.to_owned(),
            reason: reason.to_owned(),
        };
        if StrftimeItems::new(pattern).any(|i| matches!(i, Item::Error)) {
            return Err(invalid("it is not a valid chrono format"));
        }
        if pattern.contains(['/', '\\']) || pattern.starts_with('.') {
            return Err(invalid("it must be a plain file name, not a path"));
        }
        if !(pattern.ends_with(".txt") || pattern.ends_with(".csv")) {
            return Err(invalid("Alma loads .txt or .csv course files"));
        }
        if !pattern.contains("%S") && !pattern.contains("%s") && !pattern.contains("%T") {
            return Err(invalid(
                "it must stamp the time to the second (%S), so each run's name is new",
            ));
        }
        Ok(FileNamePattern(pattern.to_owned()))
    }

    /// The file name for a run at `stamp`.
    pub fn file_name(&self, stamp: NaiveDateTime) -> String {
        stamp.format(&self.0).to_string()
    }
}

impl Default for FileNamePattern {
    fn default() -> Self {
        FileNamePattern("%Y%m%d%H%M%S.txt".to_owned())
    }
}

impl TryFrom<String> for FileNamePattern {
    type Error = CourseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        FileNamePattern::new(&s)
    }
}

/// Replaces TAB, CR and LF inside a value with a space: the file has no quoting.
pub fn clean_value(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains(['\t', '\r', '\n']) {
        std::borrow::Cow::Owned(value.replace(['\t', '\r', '\n'], " "))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// Streams course rows to `out`: the header first, then one line per row.
#[derive(Debug)]
pub struct CourseFileWriter<W: Write> {
    out: W,
    date_format: DateFormat,
    line: String,
    rows: u64,
}

impl<W: Write> CourseFileWriter<W> {
    /// Writes the header row and returns the writer.
    pub fn new(out: W, date_format: DateFormat) -> Result<Self, CourseError> {
        let mut writer = CourseFileWriter {
            out,
            date_format,
            line: String::new(),
            rows: 0,
        };
        writer.line.push_str(&COLUMNS.join("\t"));
        writer.line.push_str("\r\n");
        writer.flush_line()?;
        Ok(writer)
    }

    /// Writes one row. A row with more than four terms or ten `INSTRn` is refused.
    pub fn write_row(&mut self, row: &CourseRow) -> Result<(), CourseError> {
        let too_many = |column: &'static str, count: usize, max: usize| CourseError::TooMany {
            course: row.key().to_string(),
            column,
            count,
            max,
        };
        if row.terms.len() > MAX_TERMS {
            return Err(too_many("TERM1..TERM4", row.terms.len(), MAX_TERMS));
        }
        if row.instructors.len() > MAX_INSTRUCTORS {
            return Err(too_many(
                "INSTR1..INSTR10",
                row.instructors.len(),
                MAX_INSTRUCTORS,
            ));
        }
        for (i, value) in row.values(&self.date_format).iter().enumerate() {
            if i > 0 {
                self.line.push('\t');
            }
            self.line.push_str(&clean_value(value));
        }
        self.line.push_str("\r\n");
        self.flush_line()?;
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far (not counting the header).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> Result<W, CourseError> {
        self.out.flush().map_err(CourseError::Write)?;
        Ok(self.out)
    }

    fn flush_line(&mut self) -> Result<(), CourseError> {
        self.out
            .write_all(self.line.as_bytes())
            .map_err(CourseError::Write)?;
        self.line.clear();
        Ok(())
    }
}

/// Writes a whole course file into memory.
pub fn write_course_file(
    rows: &[CourseRow],
    date_format: &DateFormat,
) -> Result<Vec<u8>, CourseError> {
    let mut writer = CourseFileWriter::new(Vec::new(), date_format.clone())?;
    for row in rows {
        writer.write_row(row)?;
    }
    writer.finish()
}
