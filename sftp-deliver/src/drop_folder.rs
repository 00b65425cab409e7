//! A local drop folder: the same contract as SFTP (temporary name, then a rename that never
//! overwrites; files 0600), for the demo or a folder an SFTP server exposes.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{
    BatchOutcome, DeliverError, Delivered, Destination, FolderReport, Outgoing, Pulled, StaleFile,
    StalePolicy, Step, Watch, check_name, deliver_each, matches_pattern, sort_folder, temp_name,
};

/// Copy buffer size.
const CHUNK: usize = 256 * 1024;

/// A local folder files are delivered to.
#[derive(Debug, Clone)]
pub struct DropFolder {
    dir: PathBuf,
    stale: StalePolicy,
}

impl DropFolder {
    /// A drop folder at `dir` (created on first delivery) with a stale-file policy.
    pub fn new(dir: impl Into<PathBuf>, stale: StalePolicy) -> Self {
        DropFolder {
            dir: dir.into(),
            stale,
        }
    }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> DeliverError {
    let path = path.to_owned();
    move |source| DeliverError::Io {
        action,
        path,
        source,
    }
}

/// Creates a new file, mode 0600, failing if it exists.
fn create_new(path: &Path) -> io::Result<File> {
    let mut open = OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    open.open(path)
}

/// Creates the first free temporary name for `name` in `dir` (a leftover is never reused).
fn create_temp(dir: &Path, name: &str) -> Result<(PathBuf, File), DeliverError> {
    let mut n = 1;
    loop {
        let path = dir.join(temp_name(name, n));
        match create_new(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(io_err("cannot create", &path)(e)),
        }
    }
}

/// Copies `src` into a fresh temporary file beside `final_path`, syncs it, and links it to
/// `final_path` (which must not exist). Returns the size and hex sha256.
fn copy_then_rename(
    src: &Path,
    dir: &Path,
    name: &str,
    progress: &mut dyn FnMut(u64) -> ControlFlow<()>,
) -> Result<(u64, String), DeliverError> {
    let final_path = dir.join(name);
    if final_path.exists() {
        return Err(DeliverError::AlreadyExists {
            location: final_path.display().to_string(),
        });
    }
    let mut input = File::open(src).map_err(io_err("cannot open", src))?;
    let (tmp_path, mut tmp) = create_temp(dir, name)?;
    let result = (|| {
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut size = 0u64;
        loop {
            let n = input.read(&mut buf).map_err(io_err("cannot read", src))?;
            if n == 0 {
                break;
            }
            tmp.write_all(&buf[..n])
                .map_err(io_err("cannot write", &tmp_path))?;
            hash.update(&buf[..n]);
            size += n as u64;
            if progress(size).is_break() {
                return Err(DeliverError::Stopped {
                    name: name.to_owned(),
                });
            }
        }
        tmp.sync_all().map_err(io_err("cannot sync", &tmp_path))?;
        // `hard_link` fails if the final name exists, so a concurrent writer is never clobbered.
        std::fs::hard_link(&tmp_path, &final_path).map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                DeliverError::AlreadyExists {
                    location: final_path.display().to_string(),
                }
            } else {
                DeliverError::Io {
                    action: "cannot rename into",
                    path: final_path.clone(),
                    source,
                }
            }
        })?;
        Ok((size, hex::encode(hash.finalize())))
    })();
    drop(tmp);
    // The temporary file is ours: it goes whether the link worked or not.
    let removed = std::fs::remove_file(&tmp_path).map_err(io_err("cannot remove", &tmp_path));
    let done = result?;
    removed?;
    if let Ok(dir_handle) = File::open(dir) {
        // Persist the new directory entry; not every filesystem supports syncing a folder.
        let _ = dir_handle.sync_all();
    }
    Ok(done)
}

impl DropFolder {
    /// Looks at the folder once before a batch, filling `report`: removes our leftover
    /// temporary files of the family, applies the stale policy to pending zips not in the
    /// batch, and lists the rest.
    fn prepare(
        &self,
        batch: &[Outgoing],
        family: &str,
        report: &mut FolderReport,
    ) -> Result<(), DeliverError> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io_err("cannot list", &self.dir))? {
            let entry = entry.map_err(io_err("cannot list", &self.dir))?;
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if let (true, Some(n)) = (is_file, entry.file_name().to_str()) {
                names.push(n.to_owned());
            }
        }
        let (temps, pending, other_files) = sort_folder(names, batch, family);
        report.other_files = other_files;
        for temp in temps {
            let path = self.dir.join(&temp);
            match std::fs::remove_file(&path) {
                Ok(()) => report.removed_temps.push(temp),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("cannot remove the leftover", &path)(e)),
            }
        }
        report.stale = self.guard_stale(pending)?;
        Ok(())
    }

    /// Applies the stale policy to the pending zips `names`.
    fn guard_stale(&self, names: Vec<String>) -> Result<Vec<StaleFile>, DeliverError> {
        match &self.stale {
            StalePolicy::Refuse if !names.is_empty() => Err(DeliverError::StaleFiles {
                folder: self.dir.display().to_string(),
                names,
            }),
            StalePolicy::Refuse | StalePolicy::Leave => Ok(names
                .into_iter()
                .map(|name| StaleFile {
                    name,
                    archived_to: None,
                })
                .collect()),
            StalePolicy::Archive(archive) => {
                let archive = self.dir.join(archive);
                if !names.is_empty() {
                    std::fs::create_dir_all(&archive).map_err(io_err("cannot create", &archive))?;
                }
                names
                    .into_iter()
                    .map(|name| {
                        let from = self.dir.join(&name);
                        let to = archive.join(&name);
                        // Link then unlink: a move that refuses to overwrite the archive.
                        std::fs::hard_link(&from, &to).map_err(io_err("cannot archive to", &to))?;
                        std::fs::remove_file(&from).map_err(io_err("cannot archive", &from))?;
                        Ok(StaleFile {
                            name,
                            archived_to: Some(to.display().to_string()),
                        })
                    })
                    .collect()
            }
        }
    }

    /// Delivers one file of a batch.
    fn deliver_one(
        &self,
        index: usize,
        file: &Outgoing,
        watch: &mut Watch<'_>,
    ) -> Result<Delivered, DeliverError> {
        check_name(&file.name)?;
        let final_path = self.dir.join(&file.name);
        if final_path.exists() {
            return Err(DeliverError::AlreadyExists {
                location: final_path.display().to_string(),
            });
        }
        let size = std::fs::metadata(&file.local)
            .map_err(io_err("cannot open", &file.local))?
            .len();
        let start = watch(Step::Starting {
            index,
            name: &file.name,
            size,
        });
        if start.is_break() {
            return Err(DeliverError::Stopped {
                name: file.name.clone(),
            });
        }
        let (size, sha256) = copy_then_rename(&file.local, &self.dir, &file.name, &mut |done| {
            watch(Step::Bytes { index, done })
        })?;
        Ok(Delivered {
            name: file.name.clone(),
            location: final_path.display().to_string(),
            size,
            sha256,
            attempts: 1,
        })
    }
}

impl Destination for DropFolder {
    fn deliver_all(
        &mut self,
        files: &[Outgoing],
        family: &str,
        watch: &mut Watch<'_>,
    ) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        if files.is_empty() {
            return outcome;
        }
        let prepared = std::fs::create_dir_all(&self.dir)
            .map_err(io_err("cannot create", &self.dir))
            .and_then(|()| self.prepare(files, family, &mut outcome.folder));
        if let Err(e) = prepared {
            outcome.failed = Some((0, e));
            return outcome;
        }
        deliver_each(files, watch, &mut outcome, |index, file, watch| {
            self.deliver_one(index, file, watch)
        });
        outcome
    }

    fn pull(
        &mut self,
        from: &str,
        pattern: &str,
        into: &Path,
    ) -> Result<Vec<Pulled>, DeliverError> {
        let from = self.dir.join(from);
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&from).map_err(io_err("cannot list", &from))? {
            let entry = entry.map_err(io_err("cannot list", &from))?;
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if let (true, Some(n)) = (is_file, entry.file_name().to_str())
                && !n.starts_with('.')
                && matches_pattern(pattern, n)
            {
                names.push(n.to_owned());
            }
        }
        names.sort();
        std::fs::create_dir_all(into).map_err(io_err("cannot create", into))?;
        names
            .into_iter()
            .map(|name| {
                let (size, sha256) = copy_then_rename(&from.join(&name), into, &name, &mut |_| {
                    ControlFlow::Continue(())
                })?;
                Ok(Pulled {
                    local: into.join(&name),
                    name,
                    size,
                    sha256,
                })
            })
            .collect()
    }

    fn describe(&self) -> String {
        format!("drop folder {}", self.dir.display())
    }
}
