//! Reads what Student Information, HR and identity systems export and applies an
//! institution's rules, kept in a config file, to turn rows into Alma users.
//!
//! Every input row ends in exactly one [`Decision`]: written (as part of which user),
//! filtered (by which named rule) or rejected (with which errors), with its provenance.
//!
//! This crate must never read the clock (`today` is an argument), open network connections
//! or print.
#![deny(missing_docs)]

pub mod config;
mod extract;
mod read;
mod rules;

pub use config::MappingConfig;
pub use extract::{
    Decision, Extraction, Extractor, MappedUser, PersonOutcome, RowOutcome, RowRef, Topic,
    TraceStep, extract,
};
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
    /// The config is not valid.
    #[error("{at}: {message}")]
    Config {
        /// `config-path:line:column` (or the table) of the mistake.
        at: String,
        /// What is wrong.
        message: String,
    },
}
