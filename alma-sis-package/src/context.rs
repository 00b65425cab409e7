//! What the packager's threads share (the run, the first failure, the temporary files) and
//! how they create files: the leaf the writer, the deflate workers, the assembler and the
//! verifier all build on, so that none of them imports another back.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::config::{PackageConfig, RunInfo};
use crate::error::PackageError;
use crate::manifest::ManifestFile;
use crate::zip32::DosTime;

/// What the threads share: the run, and the first failure.
pub(crate) struct Context {
    pub dir: PathBuf,
    pub config: PackageConfig,
    pub run: RunInfo,
    /// The run's timestamp as zip headers store it.
    pub dos: DosTime,
    pub failure: Failure,
    /// The caller finished: the assembler closes the last zip.
    complete: AtomicBool,
    /// Temporary files created, removed unless published.
    temps: Mutex<Vec<PathBuf>>,
}

impl Context {
    pub(crate) fn new(dir: &Path, config: &PackageConfig, run: &RunInfo, dos: DosTime) -> Self {
        Context {
            dir: dir.to_owned(),
            config: config.clone(),
            run: run.clone(),
            dos,
            failure: Failure::default(),
            complete: AtomicBool::new(false),
            temps: Mutex::new(Vec::new()),
        }
    }

    /// The caller finished: the assembler may close the last zip.
    pub(crate) fn set_complete(&self) {
        self.complete.store(true, Ordering::Release);
    }

    /// The temporary files created so far, forgotten here.
    pub(crate) fn take_temps(&self) -> Vec<PathBuf> {
        std::mem::take(&mut *lock(&self.temps))
    }

    pub(crate) fn complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// Records a temporary file to remove unless the run is published.
    pub(crate) fn remember(&self, path: PathBuf) {
        lock(&self.temps).push(path);
    }
}

/// The first error any thread met; it stops the others.
#[derive(Default)]
pub(crate) struct Failure {
    stopped: AtomicBool,
    first: Mutex<Option<PackageError>>,
}

impl Failure {
    pub(crate) fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Records `e` unless an earlier error is recorded, and stops the pipeline.
    pub(crate) fn fail(&self, e: PackageError) {
        lock(&self.first).get_or_insert(e);
        self.stopped.store(true, Ordering::Release);
    }

    pub(crate) fn take(&self) -> Option<PackageError> {
        lock(&self.first).take()
    }
}

/// A poisoned lock only means another thread panicked; its panic is re-raised at the join.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A zip written and verified under its temporary name.
pub(crate) struct ClosedZip {
    pub temp: PathBuf,
    pub record: ManifestFile,
}

pub(crate) fn refuse_existing(path: &Path) -> Result<(), PackageError> {
    if path.symlink_metadata().is_ok() {
        return Err(PackageError::Exists {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Creates a new file with mode 0600 (readable too when `read`); an existing file is an
/// error, never overwritten.
pub(crate) fn create_new(path: &Path, read: bool) -> Result<File, PackageError> {
    let mut open = OpenOptions::new();
    open.read(read).write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    open.open(path).map_err(|source| match source.kind() {
        io::ErrorKind::AlreadyExists => PackageError::Exists {
            path: path.to_owned(),
        },
        _ => PackageError::Io {
            path: path.to_owned(),
            source,
        },
    })
}
