//! What mapping decided: per row, per person and for the whole extract, with traces.

use std::fmt;

use alma_user_model::User;
use serde::Serialize;

/// Where a row came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowRef {
    /// The file, as named in the config; for a query, the input's name.
    pub file: String,
    /// 1-based line of the row in that file; for a query, the row's 1-based number in the
    /// result.
    pub line: u64,
    /// Whether the row came from a query (then `line` is a row number).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub query: bool,
}

impl fmt::Display for RowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.query {
            write!(f, "{} row {}", self.file, self.line)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// What became of one input row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Written as part of the user with this primary id.
    Written {
        /// The user's primary id.
        primary_id: String,
    },
    /// Dropped by a named eligibility rule.
    Filtered {
        /// The rule's name.
        rule: String,
    },
    /// Rejected with these errors.
    Rejected {
        /// What was wrong.
        errors: Vec<String>,
    },
}

/// One row's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct RowOutcome {
    /// Where the row came from.
    pub row: RowRef,
    /// The person key of the row, as [`PersonOutcome::key`] shows it (empty when it is
    /// [unconfirmed](PersonOutcome::unconfirmed_key)).
    pub key: String,
    /// What became of it.
    pub decision: Decision,
    /// The fallback encoding the row was decoded with, when it was not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded_as: Option<&'static str>,
}

/// A finding about a row whose person is still loaded, because the config says to warn
/// (`W-` codes): it names the code, the column and the row, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowWarning {
    /// The row.
    pub row: RowRef,
    /// `CODE: what was found`.
    pub text: String,
}

/// What reading one input gave: its rows, those decoded with the fallback encoding, and
/// those that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputSummary {
    /// The file, as named in the config.
    pub file: String,
    /// Rows read.
    pub rows: usize,
    /// The input's fallback encoding (WHATWG name), if it has one.
    pub fallback: Option<&'static str>,
    /// Whether the whole file is in that encoding (UTF-16), rather than some rows.
    pub whole_file: bool,
    /// Lines of the rows that were not UTF-8 and were decoded with the fallback.
    pub fallback_lines: Vec<u64>,
    /// Rows that could not be read (each rejected with an `E-READ-*`, `E-UTF8` or
    /// `E-DECODE` code).
    pub unreadable_rows: usize,
}

/// Which part of the mapping a trace step is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// The rows found for the person.
    Rows,
    /// Eligibility rules, row by row.
    Eligibility,
    /// The order in which rows give values.
    Merge,
    /// The user group.
    Group,
    /// The expiry date.
    Expiry,
    /// The purge date.
    Purge,
    /// Preferred contact information.
    Contact,
    /// A field whose value several rows could give.
    Field,
    /// Why the person was not loaded.
    Outcome,
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Topic::Rows => "rows",
            Topic::Eligibility => "eligibility",
            Topic::Merge => "merge",
            Topic::Group => "group",
            Topic::Expiry => "expiry",
            Topic::Purge => "purge",
            Topic::Contact => "contact",
            Topic::Field => "field",
            Topic::Outcome => "outcome",
        })
    }
}

/// One step of a person's path through the rules. Steps name rules, rows, codes and dates,
/// never names or addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceStep {
    /// What the step is about.
    pub topic: Topic,
    /// The step in words.
    pub text: String,
}

/// A user built from one or more rows, with the reasons for its values.
#[derive(Debug, Clone)]
pub struct MappedUser {
    /// The user (boxed: a person is handed from thread to thread, and a `User` is large).
    pub user: Box<User>,
    /// The rows merged into it, in order of precedence.
    pub rows: Vec<RowRef>,
    /// Why each rule-driven value was chosen, in order (empty when tracing is off).
    pub trace: Vec<TraceStep>,
}

/// Everything that happened to one person key.
#[derive(Debug, Clone)]
pub struct PersonOutcome {
    /// The person key, as it may be shown: empty for a row without one, and for one whose
    /// key is [unconfirmed](PersonOutcome::unconfirmed_key) (such rows are known by their
    /// file and line).
    pub key: String,
    /// The key the rows were grouped under, when it was read only from rows with a read
    /// problem (`E-READ-*`, `E-UTF8`, `E-DECODE`) and no clean row of their input has it:
    /// a stray delimiter or quote may have moved a name or part of an address into the key
    /// column, so it is never printed. Such a person is rejected with every row under the
    /// key (which keeps a real person's other rows from loading without the broken one),
    /// and a run holds them by it.
    pub unconfirmed_key: Option<String>,
    /// Every row of the person, with its decision.
    pub rows: Vec<RowOutcome>,
    /// The user, when one was written.
    pub user: Option<MappedUser>,
    /// The trace when no user was written (a written user carries it in `user.trace`).
    pub trace: Vec<TraceStep>,
    /// Findings the config says to warn about (the person is loaded as the extract has them).
    pub warnings: Vec<RowWarning>,
}

impl PersonOutcome {
    /// The person's trace, written or not.
    pub fn steps(&self) -> &[TraceStep] {
        self.user.as_ref().map_or(&self.trace, |u| &u.trace)
    }
}

/// The result of mapping a whole extract.
#[derive(Debug, Default)]
pub struct Extraction {
    /// Users to write, in order of first appearance of their key.
    pub users: Vec<MappedUser>,
    /// Every row's outcome, grouped by person in order of first appearance.
    pub rows: Vec<RowOutcome>,
    /// Warnings (for example a fallback encoding used).
    pub warnings: Vec<String>,
    /// Findings about rows whose people were loaded anyway (`[text]`, `[identity]` set to
    /// warn or merge).
    pub row_warnings: Vec<RowWarning>,
}
