//! [`Destination`] delivers files to where Alma polls for them ([`DropFolder`], [`Sftp`]),
//! never leaving a partial file under a name Alma would pick up.
//!
//! A [`Destination`] receives finished local files as one batch ([`Destination::deliver_all`]):
//! each is written under a temporary name that does not end in `.zip`, checked, then renamed
//! to its final, unique name. Two destinations exist: a local [`DropFolder`] and [`Sftp`]
//! (OpenSSH-compatible, host key pinned as `ssh` reads known_hosts, retried on transient
//! faults).
//!
//! Before the first upload of a batch, the target folder is looked at once ([`FolderReport`]):
//! our own temporary files that an interrupted earlier attempt left (hidden, ending in
//! `.part`, for a name of the batch's family) are removed; `.zip` files that are not part of
//! the batch and that Alma has not yet processed (renamed `.handled`) are reported and, by
//! [`StalePolicy`], refuse the batch, are left, or are moved to an archive folder; any other
//! file (a leftover `users.xml`) is reported. Nothing we did not write is ever deleted. The
//! batch stops at its first failure and says exactly which files arrived.
//!
//! ```no_run
//! use sftp_deliver::{Destination, DropFolder, Outgoing, StalePolicy};
//!
//! let mut drop = DropFolder::new("out/drop", StalePolicy::Leave);
//! let files = [Outgoing::new("out/DEMO_patrons_r1_01.zip", "DEMO_patrons_r1_01.zip")];
//! let outcome = drop.deliver_all(&files, "DEMO_patrons_*.zip", &mut |_| {
//!     std::ops::ControlFlow::Continue(())
//! });
//! assert_eq!(outcome.delivered.len(), 1);
//! assert!(outcome.folder.stale.is_empty());
//! ```
//!
//! Only this crate opens network connections. It never prints, reads the clock or the
//! environment: secrets arrive as [`Secret`]s and the retry pause is an injectable sleeper.
#![deny(missing_docs)]

mod drop_folder;
mod error;
mod key_file;
mod known_hosts;
mod pattern;
mod retry;
mod sftp;

pub use drop_folder::DropFolder;
pub use error::DeliverError;
pub use key_file::read_private_key;
pub use pattern::matches_pattern;
pub use retry::RetryPolicy;
pub use sftp::{HostKeyPin, OnRetry, Secret, Sftp, SftpAuth, SftpConfig};

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// Where a file landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The final name.
    pub name: String,
    /// The final location, as the destination names it (a path or an `sftp://` URL).
    pub location: String,
    /// Bytes delivered.
    pub size: u64,
    /// Hex sha256 of the bytes delivered.
    pub sha256: String,
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
    /// Refuse the batch ([`DeliverError::StaleFiles`]) and leave them.
    Refuse,
    /// Leave them, report them in [`FolderReport::stale`], and upload.
    Leave,
    /// Move them into this folder (relative paths are relative to the target folder),
    /// report them, and upload. A name already taken in the archive is an error.
    Archive(String),
}

/// One local file to deliver under a final name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The local file.
    pub local: PathBuf,
    /// Its final name at the destination: one component, not hidden.
    pub name: String,
}

impl Outgoing {
    /// `local`, to be delivered as `name`.
    pub fn new(local: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        Outgoing {
            local: local.into(),
            name: name.into(),
        }
    }
}

/// What the target folder held before a batch's first upload, and what was done about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderReport {
    /// Unprocessed `.zip` files that are not part of the batch (left or archived).
    pub stale: Vec<StaleFile>,
    /// Our own temporary files an earlier, interrupted attempt left; removed.
    pub removed_temps: Vec<String>,
    /// Other visible files that are neither `.zip` nor processed (`.handled`), e.g. a
    /// leftover `users.xml` that Alma may load the next time a zip arrives; left there.
    pub other_files: Vec<String>,
}

/// How a batch went: the files that arrived, in order, and the first failure.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// What the target folder held before the first upload.
    pub folder: FolderReport,
    /// The files that arrived, in batch order: always a prefix of the batch.
    pub delivered: Vec<Delivered>,
    /// The file that did not arrive (its index in the batch) and why; the files after it
    /// were not tried. `None` when every file arrived.
    pub failed: Option<(usize, DeliverError)>,
}

impl BatchOutcome {
    /// Whether every file arrived.
    pub fn complete(&self) -> bool {
        self.failed.is_none()
    }
}

/// What a batch is doing, for progress display and for stopping it.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// File `index` is about to be uploaded.
    Starting {
        /// Its index in the batch.
        index: usize,
        /// Its final name.
        name: &'a str,
        /// Its size in bytes.
        size: u64,
    },
    /// Bytes of file `index` written so far in the current attempt.
    Bytes {
        /// Its index in the batch.
        index: usize,
        /// Bytes written.
        done: u64,
    },
    /// File `index` arrived under its final name.
    Arrived {
        /// Its index in the batch.
        index: usize,
        /// Where and how.
        delivered: &'a Delivered,
    },
}

/// The callback of a batch: `ControlFlow::Break` stops it at once (a file being uploaded is
/// abandoned and its temporary file removed; it fails with [`DeliverError::Stopped`]).
pub type Watch<'w> = dyn FnMut(Step<'_>) -> ControlFlow<()> + 'w;

/// A place files are delivered to (and fetched from).
pub trait Destination {
    /// Delivers `files` in order, each under its final name, and stops at the first failure.
    ///
    /// Before the first upload the target folder is looked at once (see [`FolderReport`]):
    /// leftover temporary files of ours whose final name matches `family` (`*` and `?`
    /// wildcards: every name the caller's deliveries use, e.g. `DEMO_patrons_*.zip`) are
    /// removed, and the stale policy applies to the `.zip` files that are not in `files`.
    /// A final name that already exists is an error ([`DeliverError::AlreadyExists`]): names
    /// must be unique.
    fn deliver_all(
        &mut self,
        files: &[Outgoing],
        family: &str,
        watch: &mut Watch<'_>,
    ) -> BatchOutcome;

    /// Delivers one local file under the final name `name`: a batch of one whose family is
    /// `name` itself. `progress` is called with the bytes written so far in the current
    /// attempt.
    fn deliver(
        &mut self,
        local: &Path,
        name: &str,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Delivered, DeliverError> {
        let files = [Outgoing::new(local, name)];
        let mut outcome = self.deliver_all(&files, name, &mut |step| {
            if let Step::Bytes { done, .. } = step {
                progress(done);
            }
            ControlFlow::Continue(())
        });
        match (outcome.failed, outcome.delivered.pop()) {
            (Some((_, e)), _) => Err(e),
            (None, Some(delivered)) => Ok(delivered),
            (None, None) => unreachable!("a batch without failure delivers every file"),
        }
    }

    /// Fetches the regular files of folder `from` whose names match `pattern` (`*` and `?`
    /// wildcards) into the local folder `into`, sorted by name. A relative `from` is
    /// relative to the destination's base folder. A local name that already exists is an
    /// error; nothing is overwritten.
    fn pull(&mut self, from: &str, pattern: &str, into: &Path)
    -> Result<Vec<Pulled>, DeliverError>;

    /// A description for reports, e.g. `drop folder out/drop`.
    fn describe(&self) -> String;
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

/// Delivers `files` in order with `deliver`, into `outcome`: stops at the first failure, or
/// after a file arrived when `watch` asks to stop (the next file then fails as stopped).
fn deliver_each(
    files: &[Outgoing],
    watch: &mut Watch<'_>,
    outcome: &mut BatchOutcome,
    mut deliver: impl FnMut(usize, &Outgoing, &mut Watch<'_>) -> Result<Delivered, DeliverError>,
) {
    for (index, file) in files.iter().enumerate() {
        match deliver(index, file, watch) {
            Ok(delivered) => {
                let stop = watch(Step::Arrived {
                    index,
                    delivered: &delivered,
                });
                outcome.delivered.push(delivered);
                if let (true, Some(next)) = (stop.is_break(), files.get(index + 1)) {
                    let stopped = DeliverError::Stopped {
                        name: next.name.clone(),
                    };
                    outcome.failed = Some((index + 1, stopped));
                    return;
                }
            }
            Err(e) => {
                outcome.failed = Some((index, e));
                return;
            }
        }
    }
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

/// Our temporary files start with this (hidden) and end in [`TEMP_SUFFIX`], never in
/// `.zip`, so Alma does not pick them up and we can tell them from anyone else's.
const TEMP_PREFIX: &str = ".alma-sis.";
/// Our temporary files end in this.
const TEMP_SUFFIX: &str = ".part";

/// The temporary name for the `n`th try at `name`: `.alma-sis.<name>.<n>.part`.
fn temp_name(name: &str, n: u32) -> String {
    format!("{TEMP_PREFIX}{name}.{n}{TEMP_SUFFIX}")
}

/// The final name a temporary file of ours was for: `.alma-sis.<name>.<n>.part`, or
/// `.<name>.<n>.part` as earlier versions named them.
fn temp_target(file: &str) -> Option<&str> {
    let rest = file.strip_suffix(TEMP_SUFFIX)?;
    let (rest, n) = rest.rsplit_once('.')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let name = rest.strip_prefix(TEMP_PREFIX).or(rest.strip_prefix('.'))?;
    (!name.is_empty()).then_some(name)
}

/// Whether a folder entry is a `.zip` Alma has not processed (it renames them `.handled`).
fn is_pending_zip(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".zip")
}

/// How the regular files of a target folder sort before a batch: (our temporary files for
/// the family, pending zips not in the batch, other visible files). Processed files and
/// anyone else's hidden files are neither.
fn sort_folder(
    names: impl IntoIterator<Item = String>,
    batch: &[Outgoing],
    family: &str,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut temps, mut pending, mut others) = (Vec::new(), Vec::new(), Vec::new());
    for name in names {
        if temp_target(&name).is_some_and(|target| matches_pattern(family, target)) {
            temps.push(name);
        } else if name.starts_with('.') || name.to_ascii_lowercase().contains(".handled") {
            continue;
        } else if is_pending_zip(&name) {
            if !batch.iter().any(|f| f.name == name) {
                pending.push(name);
            }
        } else {
            others.push(name);
        }
    }
    temps.sort();
    pending.sort();
    others.sort();
    (temps, pending, others)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised_in_both_forms() {
        assert_eq!(temp_name("A_r1_01.zip", 2), ".alma-sis.A_r1_01.zip.2.part");
        for (file, target) in [
            (".alma-sis.A_r1_01.zip.2.part", Some("A_r1_01.zip")),
            (".A_01.zip.1.part", Some("A_01.zip")),
            (".alma-sis.A.zip.x.part", None),
            (".A.zip.part", None),
            ("A.zip.1.part", None),
            (".alma-sis..1.part", None),
            (".alma-sis.A.zip.1.partial", None),
        ] {
            assert_eq!(temp_target(file), target, "{file}");
        }
    }

    #[test]
    fn a_folder_sorts_into_ours_stale_and_others() {
        let batch = [Outgoing::new("x", "D_p_r2_01.zip")];
        let names = [
            ".alma-sis.D_p_r1_01.zip.1.part",
            ".D_p_r0_01.zip.3.part",
            ".alma-sis.OTHER_x.zip.1.part",
            ".someone-elses.part",
            "D_p_r1_01.zip",
            "D_p_r2_01.zip",
            "D_p_r0_01.zip.handled",
            "users.xml",
            "README.TXT",
            "X.ZIP",
        ]
        .map(String::from);
        let (temps, pending, others) = sort_folder(names, &batch, "D_p_*.zip");
        assert_eq!(
            temps,
            [".D_p_r0_01.zip.3.part", ".alma-sis.D_p_r1_01.zip.1.part"]
        );
        assert_eq!(pending, ["D_p_r1_01.zip", "X.ZIP"]);
        assert_eq!(others, ["README.TXT", "users.xml"]);
    }
}
