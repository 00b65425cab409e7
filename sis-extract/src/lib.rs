//! [`Extractor`] turns what Student Information, HR and identity systems export into Alma
//! users, one [`PersonOutcome`] at a time, by an institution's rules ([`MappingConfig`]).
//!
//! - Readers: delimited files (any one-byte delimiter, quoted fields, CRLF or LF, a header
//!   row or configured column names) and fixed-width files; several files joined on a key;
//!   UTF-8 (BOM stripped) or a configured fallback encoding, decided per row. A file is read
//!   as a whole or not trusted: rows that cannot be read are rejected with their own codes
//!   ([`Extractor::read_cleanly`]), `[limits]` bound every row and file, and what was read is
//!   hashed so that [`Extractor::verify_unchanged`] can tell whether a file changed since.
//! - Findings about values damaged upstream (text decoded twice, C1 controls) and identity
//!   conflicts (two people under one key), rejected or reported as the config says.
//! - Rules ([`MappingConfig`], documented in `docs/configuration.md`): ordered, named
//!   eligibility filters; user groups with combined groups; merging of a person's rows with
//!   precedence; field templates, maps and lookups; expiry and purge policies.
//! - Every input row ends in exactly one [`Decision`]: written (as part of which user),
//!   filtered (by which named rule) or rejected (with which errors), with its provenance;
//!   a [`TraceStep`] list says why each rule-driven value was chosen.
//!
//! - Database inputs ([`database`]): an `[[input]]` may be a query, run against PostgreSQL
//!   (feature `postgres`) or through ODBC (feature `odbc`); its rows are read as a file's.
//!
//! This crate never reads the clock (`today` is an argument), the environment (a
//! [`database::Connector`] carries what a database input may use) or prints; only a database
//! input opens a network connection.
//!
//! ```
//! use std::path::Path;
//! use sis_extract::{Decision, MappingConfig};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("people.csv"), "id,aff\n1,STUDENT\n2,AFFILIATE\n")?;
//! let text = r#"
//! [feed]
//! name = "patrons"
//! institution = "DEMO"
//!
//! [[input]]
//! path = "people.csv"
//! key = "id"
//!
//! [[filter]]
//! name = "no affiliates"
//! action = "exclude"
//! when = [{ column = "aff", any_of = ["AFFILIATE"] }]
//!
//! [fields]
//! primary_id = "{id}"
//!
//! [expiry]
//! default = { policy = "today_plus", duration = "1y" }
//! "#;
//! let config = MappingConfig::from_toml(text, Path::new("alma-sis.toml"), &[])?;
//! let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).expect("a date");
//! let extraction = sis_extract::extract(&config, dir.path(), today)?;
//! assert_eq!(extraction.users.len(), 1);
//! assert_eq!(
//!     extraction.rows[1].decision,
//!     Decision::Filtered { rule: "no affiliates".to_owned() }
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod compile;
pub mod config;
// Built without a database source, the module still parses the config and refuses queries.
#[cfg_attr(
    not(any(feature = "postgres", feature = "odbc")),
    allow(dead_code, unused_variables, unreachable_code)
)]
pub mod database;
mod extract;
mod purge;
mod read;
pub mod records;
mod rowhash;
mod rules;
pub mod text;

pub use config::MappingConfig;
pub use extract::{
    Decision, Extraction, Extractor, InputSummary, MappedUser, PersonOutcome, ReadOptions,
    RowOutcome, RowRef, RowWarning, SETTLE_BATCH, Topic, TraceStep, Visit, extract,
};
pub use purge::{PurgeAfter, PurgeRules};
pub use read::{DecodedFile, decode_file};
pub use rowhash::RAW_HASH_VERSION;

use std::path::PathBuf;

/// One input's columns, for [`ExtractError::UnknownColumn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputColumns {
    /// The input, as the config names it.
    pub input: String,
    /// Its column names.
    pub columns: Vec<String>,
    /// Whether the names come from the config (a query's result columns) rather than from
    /// a file's first line, which may be a person's record: only these are displayed.
    pub named_by_config: bool,
}

/// `people.csv has 24 column(s); the column names are not shown, as they come from the
/// file` (a query's columns are listed).
fn counts(files: &[InputColumns]) -> String {
    let each: Vec<String> = files
        .iter()
        .map(|f| match f.named_by_config {
            true => format!("{}: {}", f.input, f.columns.join(", ")),
            false => format!("{} has {} column(s)", f.input, f.columns.len()),
        })
        .collect();
    let hidden = files.iter().any(|f| !f.named_by_config);
    let note = if hidden {
        "; the column names of a file are not shown, as they come from the file"
    } else {
        ""
    };
    format!("{}{note}", each.join("; "))
}

impl ExtractError {
    /// For [`ExtractError::UnknownColumn`]: each input's column names, one line per file. They
    /// come from the file and may be personal data when a file has no header row: show them
    /// only when the user asks.
    pub fn columns(&self) -> Option<String> {
        match self {
            ExtractError::UnknownColumn { files, .. } => Some(
                files
                    .iter()
                    .map(|f| format!("{}: {}", f.input, f.columns.join(", ")))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            _ => None,
        }
    }
}

/// Why an extract could not be read or mapped.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8 and no fallback encoding is configured.
    #[error(
        "{path}: line {line}: byte offset {offset}: bytes {bytes} are not UTF-8; set `encoding` (for example \"windows-1252\") on this input if the file is in another encoding"
    )]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first invalid byte.
        line: u64,
        /// Byte offset of the first invalid byte in the file.
        offset: u64,
        /// The offending bytes, hex.
        bytes: String,
    },
    /// The input cannot be read as a whole: a limit was reached, or its header is unusable.
    #[error("{path}:{line}: {code}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// 1-based line where the problem starts (0: the file as a whole).
        line: u64,
        /// The code (`E-READ-LIMIT`, `E-READ-DUP-COLUMN`, ...).
        code: &'static str,
        /// What is wrong (never a value from the file).
        message: String,
    },
    /// An input changed after it was read, while the run was using it.
    #[error(
        "{path} changed while the run was reading it: {what}; nothing was sent. Hand over a finished extract by writing it under another name and renaming it into place, then run again"
    )]
    Changed {
        /// The file.
        path: PathBuf,
        /// What changed.
        what: String,
    },
    /// A delimited file could not be parsed.
    #[error("{path}:{line}: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The config names a column no input has. The inputs' column names are kept but not
    /// displayed: a file read with a header row it does not have would show a person's
    /// record as its "columns" ([`ExtractError::columns`] lists them on request).
    #[error("{at}: column {column:?} is not in the extract ({})", counts(.files))]
    UnknownColumn {
        /// `config-path:line:column` of the name.
        at: String,
        /// The missing column.
        column: String,
        /// Each input and its columns.
        files: Vec<InputColumns>,
    },
    /// A query input could not be run or read (connection, login, query or result).
    #[error("input {input}: {message}")]
    Database {
        /// The input's name.
        input: String,
        /// What went wrong, with the server's or driver's message; it names the connection
        /// by host and database only.
        message: String,
    },
    /// The config is not valid.
    #[error("{at}: {message}")]
    Config {
        /// `config-path:line:column` (or the table) of the mistake.
        at: String,
        /// What is wrong.
        message: String,
    },
}
