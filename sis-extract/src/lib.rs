//! Reads what Student Information, HR and identity systems export and applies an
//! institution's rules, kept in a config file, to turn rows into Alma users.
//!
//! - Readers: delimited files (any one-byte delimiter, quoted fields, CRLF or LF, a header
//!   row or configured column names) and fixed-width files; several files joined on a key;
//!   UTF-8 (BOM stripped) or a configured fallback encoding, decided per file.
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
mod rules;

pub use config::MappingConfig;
pub use extract::{
    Decision, Extraction, Extractor, MappedUser, PersonOutcome, RowOutcome, RowRef, Topic,
    TraceStep, extract,
};
pub use purge::{PurgeAfter, PurgeRules};
pub use read::{DecodedFile, decode_file};

use std::path::PathBuf;

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
    /// The configured encoding is not known.
    #[error(
        "unknown encoding {0:?}; use a WHATWG label such as \"windows-1252\" or \"iso-8859-1\""
    )]
    UnknownEncoding(String),
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
    /// The config names a column no input has.
    #[error("{at}: column {column:?} is not in the extract; its columns are:{available}")]
    UnknownColumn {
        /// `config-path:line:column` of the name.
        at: String,
        /// The missing column.
        column: String,
        /// The columns the inputs do have, one line per file.
        available: String,
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
