//! The packaging pipeline: users are grouped into parts of `users_per_file`, two workers
//! render and deflate parts in parallel, one assembler adds the compressed parts to zips in part
//! order, then every zip is verified and only then renamed to its final name.
//!
//! Each part is compressed on its own, so the bytes do not depend on which worker took it:
//! the same users, config and timestamp give the same zips. Memory holds at most a few parts:
//! the users of the parts in flight (references, when the caller passes `&User`) and their
//! compressed bytes.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use alma_user_model::{User, UserXmlWriter, WriteError, WriterOptions};
use chrono::{Datelike, NaiveDateTime, Timelike};
use zip::write::{PreparedZipFile, SimpleFileOptions, ZipFileBuilder};
use zip::{CompressionMethod, ZipWriter};

use crate::config::{NameKind, PackageConfig, RunInfo};
use crate::error::PackageError;
use crate::manifest::{Manifest, ManifestEntry, ManifestFile};
use crate::verify::verify_file;
use crate::{PackagedFile, sha256_file};

/// Parts compressed at the same time (the machine Alma feeds run on has two cores).
const WORKERS: usize = 2;
/// Local and central headers of one entry, plus room for extra fields.
const ENTRY_OVERHEAD: u64 = 30 + 46 + 64;
/// The end-of-central-directory record, plus room.
const ZIP_OVERHEAD: u64 = 22 + 64;
/// Entries are plain zip32 entries: no ZIP64 for Alma.
const MAX_ENTRY_BYTES: u64 = u32::MAX as u64;

/// What a run wrote: the zips (renamed to their final names) and the manifest.
#[derive(Debug, Clone)]
pub struct Package {
    /// The zips, in order; empty when there were no users.
    pub files: Vec<PackagedFile>,
    /// The manifest as written.
    pub manifest: Manifest,
    /// Where the manifest was written.
    pub manifest_path: PathBuf,
}

/// Writes `users` into zips in `dir`, split as `config` says, with a JSON manifest; verifies
/// every zip before it gets its final name. No file is overwritten; all files are mode 0600.
///
/// `users` is consumed as a stream. Pass `&User` items when the users are already in memory:
/// then a part in flight costs one pointer per user.
///
/// On error nothing is left under a final name.
pub fn package<I>(
    dir: &Path,
    config: &PackageConfig,
    run: &RunInfo,
    users: I,
) -> Result<Package, PackageError>
where
    I: IntoIterator,
    I::Item: Borrow<User> + Send,
{
    config.validate()?;
    let manifest_name = config.name(NameKind::Manifest, run, 0)?;
    config.name(NameKind::Zip, run, 1)?;
    config.name(NameKind::Xml, run, 1)?;
    let users = users.into_iter();
    let at_least = u64::try_from(users.size_hint().0).unwrap_or(u64::MAX);
    let parts = at_least.div_ceil(config.users_per_file);
    check_zip_count(parts.div_ceil(u64::from(config.files_per_zip)), config)?;
    let options = SimpleFileOptions::DEFAULT
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(zip_time(run.timestamp)?)
        .unix_permissions(0o600);

    std::fs::create_dir_all(dir).map_err(|source| PackageError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let manifest_path = dir.join(&manifest_name);
    refuse_existing(&manifest_path)?;

    let comment = format!("{} config-sha256 {}", run.tool_version, run.config_sha256);
    let shared = Shared {
        dir,
        config,
        run,
        comment: &comment,
        options,
    };
    let Assembler {
        closed,
        mut cleanup,
        ..
    } = run_pipeline(&shared, users)?;

    let files: Vec<ManifestFile> = closed.iter().map(|z| z.record.clone()).collect();
    let manifest = Manifest {
        tool_version: run.tool_version.clone(),
        config_sha256: run.config_sha256.clone(),
        institution: run.institution.clone(),
        feed: run.feed.clone(),
        timestamp: run.timestamp.format("%Y-%m-%dT%H:%M:%S").to_string(),
        users: files.iter().map(|f| f.users).sum(),
        files,
    };
    for zip in &closed {
        verify_file(&zip.temp, &zip.record)?;
    }

    let json = serde_json::to_vec_pretty(&manifest).map_err(|source| PackageError::Manifest {
        path: manifest_path.clone(),
        source,
    })?;
    let mut file = create_new(&manifest_path)?;
    cleanup.push(manifest_path.clone());
    let io_err = |source| PackageError::Io {
        path: manifest_path.clone(),
        source,
    };
    file.write_all(&json).map_err(io_err)?;
    file.write_all(b"\n").map_err(io_err)?;
    file.sync_all().map_err(io_err)?;

    let mut packaged = Vec::with_capacity(closed.len());
    for zip in closed {
        let path = dir.join(&zip.record.name);
        // A hard link never replaces an existing file, unlike a rename.
        std::fs::hard_link(&zip.temp, &path).map_err(|source| match source.kind() {
            io::ErrorKind::AlreadyExists => PackageError::Exists { path: path.clone() },
            _ => PackageError::Io {
                path: path.clone(),
                source,
            },
        })?;
        cleanup.push(path.clone());
        std::fs::remove_file(&zip.temp).map_err(|source| PackageError::Io {
            path: zip.temp.clone(),
            source,
        })?;
        packaged.push(PackagedFile {
            path,
            name: zip.record.name,
            users: zip.record.users,
            size: zip.record.size,
            sha256: zip.record.sha256,
        });
    }
    cleanup.disarm();
    Ok(Package {
        files: packaged,
        manifest,
        manifest_path,
    })
}

/// What every thread of the pipeline reads.
struct Shared<'a> {
    dir: &'a Path,
    config: &'a PackageConfig,
    run: &'a RunInfo,
    comment: &'a str,
    options: SimpleFileOptions,
}

/// One part to compress: its index in the run, its entry name and its users.
type Job<T> = (usize, String, Vec<T>);
/// One part compressed, or why not.
type Done = (usize, Result<Part, PackageError>);

/// A compressed XML file, ready to be added to a zip.
struct Part {
    name: String,
    users: u64,
    prepared: PreparedZipFile,
}

fn run_pipeline<I>(shared: &Shared<'_>, users: I) -> Result<Assembler, PackageError>
where
    I: Iterator,
    I::Item: Borrow<User> + Send,
{
    let (job_tx, job_rx) = sync_channel::<Job<I::Item>>(1);
    let (done_tx, done_rx) = sync_channel::<Done>(WORKERS);
    let job_rx = Mutex::new(job_rx);
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        for _ in 0..WORKERS {
            let done_tx = done_tx.clone();
            let (job_rx, stop) = (&job_rx, &stop);
            s.spawn(move || compress_parts(shared, job_rx, &done_tx, stop));
        }
        drop(done_tx);
        let stop_ref = &stop;
        let assembler = s.spawn(move || {
            let assembled = assemble(shared, done_rx);
            if assembled.is_err() {
                stop_ref.store(true, Ordering::Relaxed);
            }
            assembled
        });
        let produced = produce(shared, users, job_tx, &stop);
        if produced.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let assembled = assembler
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // The assembler's error comes first: it is about an earlier part.
        let assembler = assembled?;
        produced?;
        Ok(assembler)
    })
}

/// Groups the users into parts and hands them to the workers.
fn produce<I>(
    shared: &Shared<'_>,
    users: I,
    jobs: SyncSender<Job<I::Item>>,
    stop: &AtomicBool,
) -> Result<(), PackageError>
where
    I: Iterator,
    I::Item: Borrow<User> + Send,
{
    let config = shared.config;
    let per_file = config.users_per_file;
    let capacity = usize::try_from(per_file).unwrap_or(usize::MAX).min(4096);
    let max_parts = u64::from(config.max_zips) * u64::from(config.files_per_zip);
    let mut index = 0usize;
    let mut batch = Vec::with_capacity(capacity);
    let send = |batch: Vec<I::Item>, index: usize| -> Result<bool, PackageError> {
        if stop.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let number = index as u64 + 1;
        if number > max_parts {
            return Err(PackageError::TooManyZips {
                needed: number.div_ceil(u64::from(config.files_per_zip)),
                max: config.max_zips,
            });
        }
        let name = config.name(NameKind::Xml, shared.run, index + 1)?;
        Ok(jobs.send((index, name, batch)).is_ok())
    };
    for user in users {
        batch.push(user);
        if batch.len() as u64 == per_file {
            if !send(
                std::mem::replace(&mut batch, Vec::with_capacity(capacity)),
                index,
            )? {
                return Ok(());
            }
            index += 1;
        }
    }
    if !batch.is_empty() {
        send(batch, index)?;
    }
    Ok(())
}

/// A worker: takes parts until there are none, compresses each into its own buffer.
fn compress_parts<T: Borrow<User>>(
    shared: &Shared<'_>,
    jobs: &Mutex<Receiver<Job<T>>>,
    done: &SyncSender<Done>,
    stop: &AtomicBool,
) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((index, name, users)) = job else {
            return;
        };
        if stop.load(Ordering::Relaxed) {
            continue;
        }
        let part = compress_part(shared, name, users);
        if done.send((index, part)).is_err() {
            return;
        }
    }
}

fn compress_part<T: Borrow<User>>(
    shared: &Shared<'_>,
    name: String,
    users: Vec<T>,
) -> Result<Part, PackageError> {
    let zip_err = |source| PackageError::Zip {
        path: PathBuf::from(&name),
        source,
    };
    let xml_err = |source| PackageError::Xml {
        entry: name.clone(),
        source,
    };
    let builder = ZipFileBuilder::new(&name, shared.options).map_err(zip_err)?;
    let options = WriterOptions {
        comment: Some(shared.comment.to_owned()),
    };
    let mut writer = UserXmlWriter::new(BufWriter::with_capacity(64 * 1024, builder), &options)
        .map_err(xml_err)?;
    for user in &users {
        writer.write_user(user.borrow()).map_err(xml_err)?;
    }
    drop(users);
    let count = writer.users_written();
    let builder = writer
        .finish()
        .map_err(xml_err)?
        .into_inner()
        .map_err(|e| xml_err(WriteError::Io(e.into_error())))?;
    let prepared = builder.finish().map_err(zip_err)?;
    if prepared.uncompressed_size() >= MAX_ENTRY_BYTES {
        return Err(PackageError::PartTooLarge {
            entry: name,
            bytes: prepared.uncompressed_size(),
            what: "uncompressed",
            max: MAX_ENTRY_BYTES - 1,
        });
    }
    Ok(Part {
        name,
        users: count,
        prepared,
    })
}

/// Removes the files it holds when dropped, unless disarmed.
#[derive(Default)]
struct Cleanup(Vec<PathBuf>);

impl Cleanup {
    fn push(&mut self, path: PathBuf) {
        self.0.push(path);
    }

    fn disarm(&mut self) {
        self.0.clear();
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for path in &self.0 {
            // Best effort: the error that brought us here is the one to report.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A zip being filled.
struct OpenZip {
    temp: PathBuf,
    writer: ZipWriter<BufWriter<File>>,
    record: ManifestFile,
    estimate: u64,
}

/// A finished zip under its temporary name.
struct ClosedZip {
    temp: PathBuf,
    record: ManifestFile,
}

/// Adds compressed parts to zips in part order.
struct Assembler {
    open: Option<OpenZip>,
    closed: Vec<ClosedZip>,
    cleanup: Cleanup,
}

fn assemble(shared: &Shared<'_>, done: Receiver<Done>) -> Result<Assembler, PackageError> {
    let mut assembler = Assembler {
        open: None,
        closed: Vec::new(),
        cleanup: Cleanup::default(),
    };
    // Parts finish out of order; they are added in order, so at most a few wait here.
    let mut waiting = BTreeMap::new();
    let mut next = 0usize;
    for (index, part) in done {
        waiting.insert(index, part);
        while let Some(part) = waiting.remove(&next) {
            assembler.add(shared, part?)?;
            next += 1;
        }
    }
    if let Some(open) = assembler.open.take() {
        assembler.close(shared, open)?;
    }
    Ok(assembler)
}

impl Assembler {
    fn add(&mut self, shared: &Shared<'_>, part: Part) -> Result<(), PackageError> {
        let config = shared.config;
        let cost = part.prepared.compressed_size() + ENTRY_OVERHEAD + 2 * part.name.len() as u64;
        let mut open = match self.open.take() {
            Some(open)
                if open.record.entries.len() < config.files_per_zip as usize
                    && open.estimate + cost <= config.max_zip_bytes =>
            {
                open
            }
            Some(full) => {
                self.close(shared, full)?;
                self.open(shared, &part, cost)?
            }
            None => self.open(shared, &part, cost)?,
        };
        let zip_err = |source| PackageError::Zip {
            path: open.temp.clone(),
            source,
        };
        let entry = ManifestEntry {
            name: part.name,
            users: part.users,
            size: part.prepared.uncompressed_size(),
            compressed_size: part.prepared.compressed_size(),
            crc32: part.prepared.crc32(),
        };
        open.writer
            .add_prepared_file(part.prepared)
            .map_err(zip_err)?;
        open.estimate += cost;
        open.record.users += entry.users;
        open.record.entries.push(entry);
        self.open = Some(open);
        Ok(())
    }

    fn open(
        &mut self,
        shared: &Shared<'_>,
        part: &Part,
        cost: u64,
    ) -> Result<OpenZip, PackageError> {
        let config = shared.config;
        if ZIP_OVERHEAD + cost > config.max_zip_bytes {
            return Err(PackageError::PartTooLarge {
                entry: part.name.clone(),
                bytes: part.prepared.compressed_size(),
                what: "compressed",
                max: config.max_zip_bytes,
            });
        }
        let number = self.closed.len() + 1;
        check_zip_count(number as u64, config)?;
        let name = config.name(NameKind::Zip, shared.run, number)?;
        refuse_existing(&shared.dir.join(&name))?;
        let temp = shared.dir.join(format!("{name}.partial"));
        let file = create_new(&temp)?;
        self.cleanup.push(temp.clone());
        Ok(OpenZip {
            temp,
            writer: ZipWriter::new(BufWriter::with_capacity(256 * 1024, file)),
            record: ManifestFile {
                name,
                size: 0,
                sha256: String::new(),
                users: 0,
                entries: Vec::new(),
            },
            estimate: ZIP_OVERHEAD,
        })
    }

    fn close(&mut self, shared: &Shared<'_>, open: OpenZip) -> Result<(), PackageError> {
        let OpenZip {
            temp,
            writer,
            mut record,
            ..
        } = open;
        let io_err = |source| PackageError::Io {
            path: temp.clone(),
            source,
        };
        let buffered = writer.finish().map_err(|source| PackageError::Zip {
            path: temp.clone(),
            source,
        })?;
        let file = buffered.into_inner().map_err(|e| io_err(e.into_error()))?;
        file.sync_all().map_err(io_err)?;
        drop(file);
        let (size, sha256) = sha256_file(&temp).map_err(io_err)?;
        if size > shared.config.max_zip_bytes {
            return Err(PackageError::PartTooLarge {
                entry: record.name,
                bytes: size,
                what: "the whole zip",
                max: shared.config.max_zip_bytes,
            });
        }
        record.size = size;
        record.sha256 = sha256;
        self.closed.push(ClosedZip { temp, record });
        Ok(())
    }
}

fn check_zip_count(zips: u64, config: &PackageConfig) -> Result<(), PackageError> {
    if zips > u64::from(config.max_zips) {
        return Err(PackageError::TooManyZips {
            needed: zips,
            max: config.max_zips,
        });
    }
    Ok(())
}

fn zip_time(timestamp: NaiveDateTime) -> Result<zip::DateTime, PackageError> {
    let bad = || PackageError::Timestamp { timestamp };
    let year = u16::try_from(timestamp.year()).map_err(|_| bad())?;
    // Each component is range-checked by chrono (month 1..=12, second 0..=59), so `as u8` is exact.
    zip::DateTime::from_date_and_time(
        year,
        timestamp.month() as u8,
        timestamp.day() as u8,
        timestamp.hour() as u8,
        timestamp.minute() as u8,
        timestamp.second() as u8,
    )
    .map_err(|_| bad())
}

fn refuse_existing(path: &Path) -> Result<(), PackageError> {
    if path.symlink_metadata().is_ok() {
        return Err(PackageError::Exists {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Creates a new file with mode 0600; an existing file is an error, never overwritten.
fn create_new(path: &Path) -> Result<File, PackageError> {
    let mut open = OpenOptions::new();
    open.write(true).create_new(true);
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
