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

pub use config::MappingConfig;
pub use extract::{Decision, Extraction, MappedUser, RowOutcome, RowRef, extract};
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
    /// The CSV could not be parsed.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: csv::Error,
    },
    /// The config names a column the extract does not have.
    #[error(
        "{context} names column {column:?}, which {path} does not have; its columns are: {available}"
    )]
    UnknownColumn {
        /// Where in the config.
        context: String,
        /// The missing column.
        column: String,
        /// The file.
        path: PathBuf,
        /// The columns the file does have.
        available: String,
    },
    /// The config is not valid.
    #[error("invalid config: {0}")]
    Config(String),
}
