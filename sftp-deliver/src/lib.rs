//! Delivers files to where Alma polls for them, never leaving a partial file under a name
//! Alma would pick up.
//!
//! A [`Destination`] receives a finished local file: it is written under a temporary name
//! that does not end in `.zip`, then renamed to its final, unique name.
//!
//! Only this crate opens network connections. It must never print, read the clock, or
//! delete a file it did not write.
#![deny(missing_docs)]

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// A local file operation failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The final name is taken; names must be unique per run.
    #[error("{0} already exists at the destination; refusing to overwrite it")]
    AlreadyExists(String),
}

/// Where a file landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The final location, as the destination names it.
    pub location: String,
    /// Bytes delivered.
    pub size: u64,
}

/// A place files are delivered to.
pub trait Destination {
    /// Delivers the local file `local` under `name`.
    fn deliver(&mut self, local: &Path, name: &str) -> Result<Delivered, DeliverError>;
    /// A description for reports, e.g. `drop folder out/drop`.
    fn describe(&self) -> String;
}

/// A local folder (for example one an SFTP server exposes, or the demo's `out/drop`).
#[derive(Debug, Clone)]
pub struct DropFolder {
    dir: PathBuf,
}

impl DropFolder {
    /// A drop folder at `dir` (created on first delivery).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DropFolder { dir: dir.into() }
    }
}

impl Destination for DropFolder {
    fn deliver(&mut self, local: &Path, name: &str) -> Result<Delivered, DeliverError> {
        let io = |action, path: &Path| {
            let path = path.to_owned();
            move |source| DeliverError::Io {
                action,
                path,
                source,
            }
        };
        std::fs::create_dir_all(&self.dir).map_err(io("cannot create", &self.dir))?;
        let final_path = self.dir.join(name);
        if final_path.exists() {
            return Err(DeliverError::AlreadyExists(
                final_path.display().to_string(),
            ));
        }
        let tmp_path = self.dir.join(format!(".{name}.part"));
        let mut open = OpenOptions::new();
        open.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let mut tmp = open
            .open(&tmp_path)
            .map_err(io("cannot create", &tmp_path))?;
        let mut src = std::fs::File::open(local).map_err(io("cannot open", local))?;
        let size = io::copy(&mut src, &mut tmp).map_err(io("cannot write", &tmp_path))?;
        tmp.flush().map_err(io("cannot write", &tmp_path))?;
        tmp.sync_all().map_err(io("cannot sync", &tmp_path))?;
        drop(tmp);
        // `hard_link` fails if the final name exists, so a concurrent writer is never clobbered.
        std::fs::hard_link(&tmp_path, &final_path).map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                DeliverError::AlreadyExists(final_path.display().to_string())
            } else {
                DeliverError::Io {
                    action: "cannot rename into",
                    path: final_path.clone(),
                    source,
                }
            }
        })?;
        std::fs::remove_file(&tmp_path).map_err(io("cannot remove", &tmp_path))?;
        Ok(Delivered {
            location: final_path.display().to_string(),
            size,
        })
    }

    fn describe(&self) -> String {
        format!("drop folder {}", self.dir.display())
    }
}
