//! Delivers files to where Alma polls for them, never leaving a partial file under a name
//! Alma would pick up.
//!
//! A [`Destination`] receives a finished local file: it is written under a temporary name
//! that does not end in `.zip`, checked, then renamed to its final, unique name. Two
//! destinations exist: a local [`DropFolder`] and [`Sftp`] (OpenSSH-compatible, host key
//! pinned, retried on transient faults).
//!
//! Before uploading, both list the target folder: `.zip` files an earlier run left there and
//! Alma has not yet processed (renamed `.handled`) are reported, and by [`StalePolicy`]
//! refuse the upload, are left, or are moved to an archive folder. Nothing we did not write
//! is ever deleted.
//!
//! ```no_run
//! use sftp_deliver::{Destination, DropFolder, StalePolicy};
//!
//! let mut drop = DropFolder::new("out/drop", StalePolicy::Leave);
//! let delivered = drop.deliver("out/DEMO_patrons.zip".as_ref(), "DEMO_patrons.zip", &mut |_| {})?;
//! assert_eq!(delivered.stale, []);
//! # Ok::<(), sftp_deliver::DeliverError>(())
//! ```
//!
//! Only this crate opens network connections. It never prints, reads the clock or the
//! environment: secrets arrive as [`Secret`]s and the retry pause is an injectable sleeper.
#![deny(missing_docs)]

mod drop_folder;
mod error;
mod pattern;
mod retry;
mod sftp;

pub use drop_folder::DropFolder;
pub use error::DeliverError;
pub use pattern::matches_pattern;
pub use retry::RetryPolicy;
pub use sftp::{HostKeyPin, Secret, Sftp, SftpAuth, SftpConfig};

use std::path::{Path, PathBuf};

/// Where a file landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The final location, as the destination names it (a path or an `sftp://` URL).
    pub location: String,
    /// Bytes delivered.
    pub size: u64,
    /// Hex sha256 of the bytes delivered.
    pub sha256: String,
    /// Unprocessed `.zip` files found in the target folder before the upload.
    pub stale: Vec<StaleFile>,
    /// How many attempts the delivery took (1 unless a transient fault was retried).
    pub attempts: u32,
}

/// A `.zip` file found in the target folder that Alma has not processed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleFile {
    /// Its file name.
    pub name: String,
    /// Where it was moved, under [`StalePolicy::Archive`]; `None` when it was left.
    pub archived_to: Option<String>,
}

/// What to do with unprocessed `.zip` files found in the target folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StalePolicy {
    /// Refuse the upload ([`DeliverError::StaleFiles`]) and leave them.
    Refuse,
    /// Leave them, report them in [`Delivered::stale`], and upload.
    Leave,
    /// Move them into this folder (relative paths are relative to the target folder),
    /// report them, and upload. A name already taken in the archive is an error.
    Archive(String),
}

/// A file fetched by [`Destination::pull`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The remote file name.
    pub name: String,
    /// Where it was written locally (mode 0600).
    pub local: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Hex sha256 of its bytes.
    pub sha256: String,
}

/// A place files are delivered to (and fetched from).
pub trait Destination {
    /// Delivers the local file `local` under the final name `name`.
    ///
    /// `progress` is called with the bytes written so far in the current attempt. A final
    /// name that already exists is an error ([`DeliverError::AlreadyExists`]): names must be
    /// unique.
    fn deliver(
        &mut self,
        local: &Path,
        name: &str,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Delivered, DeliverError>;

    /// Fetches the regular files of folder `from` whose names match `pattern` (`*` and `?`
    /// wildcards) into the local folder `into`, sorted by name. A relative `from` is
    /// relative to the destination's base folder. A local name that already exists is an
    /// error; nothing is overwritten.
    fn pull(&mut self, from: &str, pattern: &str, into: &Path)
    -> Result<Vec<Pulled>, DeliverError>;

    /// A description for reports, e.g. `drop folder out/drop`.
    fn describe(&self) -> String;
}

/// Checks a final file name: one path component, not hidden, no NUL.
fn check_name(name: &str) -> Result<(), DeliverError> {
    let bad = name.is_empty()
        || name.starts_with('.')
        || name.contains(['/', '\\', '\0'])
        || name.ends_with(TEMP_SUFFIX);
    if bad {
        return Err(DeliverError::BadName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Our temporary files end in this, never in `.zip`, so Alma does not pick them up.
const TEMP_SUFFIX: &str = ".part";

/// The temporary name for the `n`th try at `name`: hidden and ending in [`TEMP_SUFFIX`].
fn temp_name(name: &str, n: u32) -> String {
    format!(".{name}.{n}{TEMP_SUFFIX}")
}

/// Whether a folder entry is a `.zip` Alma has not processed (it renames them `.handled`).
fn is_pending_zip(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".zip")
}
