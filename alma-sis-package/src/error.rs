//! Why packaging or verification failed, with the file, entry and limit a person needs.

use std::path::PathBuf;

use alma_user_model::WriteError;
use chrono::NaiveDateTime;

/// Why a run's packages could not be written. When this is returned nothing is left under a
/// final name: temporary files and files already renamed in this run are removed.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A `[package]` setting is out of range or a pattern is malformed.
    #[error("config {key}: {message}")]
    Config {
        /// The dotted config key, e.g. `package.files_per_zip`.
        key: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A rendered file name is not a plain, portable file name.
    #[error("{key} gives the file name {name:?}, which {reason}")]
    Name {
        /// The pattern's config key.
        key: &'static str,
        /// The rendered name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The run needs more zips than allowed; nothing was delivered.
    #[error(
        "the run needs at least {needed} zips but package.max_zips is {max} (Alma loads at most 20); \
         raise package.users_per_file or package.max_zip_bytes, or split the feed"
    )]
    TooManyZips {
        /// The zips needed, at least.
        needed: u64,
        /// The configured maximum.
        max: u32,
    },
    /// One XML file alone does not fit into a zip of the configured size.
    #[error(
        "XML file {entry} is {bytes} bytes ({what}), over the limit of {max}; lower package.users_per_file"
    )]
    PartTooLarge {
        /// The XML entry's name.
        entry: String,
        /// Its size in bytes.
        bytes: u64,
        /// Which size: compressed or uncompressed.
        what: &'static str,
        /// The limit.
        max: u64,
    },
    /// The run's timestamp cannot be stored in a zip (years 1980 to 2107).
    #[error("the run's timestamp {timestamp} cannot be stored in a zip (years 1980 to 2107)")]
    Timestamp {
        /// The timestamp.
        timestamp: NaiveDateTime,
    },
    /// A file with the final name already exists; it is never overwritten.
    #[error("{path} already exists; alma-sis never overwrites a file")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// A file could not be created, written, renamed or read back.
    #[error("cannot write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A user could not be written into an XML file.
    #[error("cannot write XML file {entry}")]
    Xml {
        /// The XML entry's name.
        entry: String,
        /// The cause, naming the user and field.
        #[source]
        source: WriteError,
    },
    /// The manifest could not be serialized.
    #[error("cannot write the manifest {path}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// What was written does not read back as the manifest says; nothing was delivered.
    #[error("verification after writing failed")]
    Verify(#[source] Box<VerifyError>),
    /// The deflate library refused a chunk.
    #[error("cannot deflate: {message}")]
    Deflate {
        /// What the library said.
        message: String,
    },
    /// The packager stopped on an earlier error (returned then) or was dropped; it takes no
    /// more users.
    #[error("the packager already stopped on an earlier error")]
    Stopped,
}

impl From<VerifyError> for PackageError {
    fn from(e: VerifyError) -> Self {
        PackageError::Verify(Box::new(e))
    }
}

/// Why a written zip does not match its manifest.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The manifest names a file that is not a plain file name.
    #[error("the manifest names {name:?}, which {reason}")]
    BadName {
        /// The name in the manifest.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file's size differs from the manifest.
    #[error("{path} is {found} bytes, the manifest says {expected}")]
    Size {
        /// The file.
        path: PathBuf,
        /// The manifest's size.
        expected: u64,
        /// The size on disk.
        found: u64,
    },
    /// The file's sha256 differs from the manifest: it changed after it was written.
    #[error(
        "{path} has sha256 {found}, the manifest says {expected}: the file changed after it was written"
    )]
    Sha256 {
        /// The file.
        path: PathBuf,
        /// The manifest's sha256.
        expected: String,
        /// The sha256 on disk.
        found: String,
    },
    /// The zip cannot be opened or an entry cannot be read.
    #[error("{path} is not a readable zip: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why, as Java's `ZipFile` would fail.
        reason: String,
    },
    /// The zip holds a different number of entries than the manifest.
    #[error("{path} holds {found} entries, the manifest says {expected}")]
    EntryCount {
        /// The file.
        path: PathBuf,
        /// The manifest's count.
        expected: usize,
        /// The zip's count.
        found: usize,
    },
    /// An entry's name, method, sizes or CRC differ from the manifest.
    #[error("{path}: entry {entry} has {field} {found}, the manifest says {expected}")]
    Entry {
        /// The file.
        path: PathBuf,
        /// The entry's name in the manifest (the entry at the same position in the zip).
        entry: String,
        /// Which header field: `name`, `method`, `size`, `compressed size`, `crc32`.
        field: &'static str,
        /// The manifest's value.
        expected: String,
        /// The zip's value.
        found: String,
    },
    /// An entry's data does not inflate to the bytes its headers describe (size, CRC-32).
    #[error("{path}: entry {entry} {message}")]
    Data {
        /// The file.
        path: PathBuf,
        /// The entry's name.
        entry: String,
        /// What is wrong, e.g. `has CRC-32 1234, the header says 5678`.
        message: String,
    },
    /// An entry is not one of our `<users>` documents: its prolog or closing tag is wrong.
    #[error(
        "{path}: entry {entry} is not a well-formed <users> document at byte {position}: {message}"
    )]
    Xml {
        /// The file.
        path: PathBuf,
        /// The entry's name.
        entry: String,
        /// The byte offset in the uncompressed entry.
        position: u64,
        /// What is wrong.
        message: String,
    },
    /// An entry holds a different number of `<user>` start tags than the manifest.
    #[error("{path}: entry {entry} holds {found} users, the manifest says {expected}")]
    UserCount {
        /// The file.
        path: PathBuf,
        /// The entry's name.
        entry: String,
        /// The manifest's count.
        expected: u64,
        /// The users counted.
        found: u64,
    },
    /// The manifest's totals do not add up.
    #[error("the manifest's {what} is {expected}, its files add up to {found}")]
    Total {
        /// Which total.
        what: String,
        /// The total in the manifest.
        expected: u64,
        /// The sum over its parts.
        found: u64,
    },
}
