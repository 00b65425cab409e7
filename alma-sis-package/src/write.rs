//! The streaming packager. The caller hands over users one at a time (rendered once, as the
//! caller may also hash them); their XML is cut into chunks of about 1 MiB that two workers
//! deflate in parallel; an assembler writes the chunks in order into zips under temporary
//! names and a verifier reads every entry back as soon as it is placed. Only [`Staged::publish`]
//! gives the zips their final names, after a manifest is written.
//!
//! Memory is bounded whatever the number of users: a fixed pool of chunks travels from the
//! caller through the workers to the assembler and back. A chunk's deflated bytes depend only
//! on its input, so the same users, config and timestamp give the same zips.

use std::borrow::Borrow;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use alma_user_model::{User, UserXmlWriter, WriteError, WriterOptions, render_user};
use chrono::{Datelike, NaiveDateTime, Timelike};

use crate::PackagedFile;
use crate::assemble::{Assembled, assembler};
use crate::config::{NameKind, PackageConfig, RunInfo};
use crate::context::{ClosedZip, Context, create_new, refuse_existing};
use crate::deflate::{Chunk, WINDOW, worker};
use crate::error::PackageError;
use crate::manifest::{Manifest, ManifestFile};
use crate::verify::{CLOSING, Check, verifier};
use crate::zip32::DosTime;

/// Threads that deflate (the machines Alma feeds run on have two cores).
const WORKERS: usize = 2;
/// Uncompressed XML per chunk.
const CHUNK_BYTES: usize = 1 << 20;
/// Chunks in flight: being filled, queued, deflated, waiting to be written.
const POOL: usize = 5;
/// Checks queued for the verifier.
const CHECKS: usize = 64;
/// Entries are plain zip32 entries: no ZIP64 for Alma.
const MAX_ENTRY_BYTES: u64 = u32::MAX as u64;

/// What a run wrote: the zips (under their final names) and the manifest.
#[derive(Debug, Clone)]
pub struct Package {
    /// The zips, in order; empty when there were no users.
    pub files: Vec<PackagedFile>,
    /// The manifest as written.
    pub manifest: Manifest,
    /// Where the manifest was written.
    pub manifest_path: PathBuf,
}

/// Figures about one packaging run, for timings and reports. Durations are measured, so they
/// vary from run to run; nothing written depends on them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackStats {
    /// Users packaged.
    pub users: u64,
    /// XML bytes (all entries, uncompressed).
    pub xml_bytes: u64,
    /// Deflated bytes (all entries).
    pub compressed_bytes: u64,
    /// Chunks deflated.
    pub chunks: u64,
    /// XML entries written.
    pub entries: usize,
    /// Zips written.
    pub zips: usize,
    /// Time the workers spent deflating, summed over the workers.
    pub compress_busy: Duration,
    /// Time the verifier spent reading entries and zips back.
    pub verify_busy: Duration,
    /// Time the caller waited in `push` for a free chunk (the workers were behind).
    pub push_waited: Duration,
}

/// The threads and queues of a running packager.
struct Pipeline {
    jobs: SyncSender<Chunk>,
    pool: Receiver<Chunk>,
    workers: Vec<JoinHandle<Duration>>,
    assembler: JoinHandle<Assembled>,
    verifier: JoinHandle<(Vec<ClosedZip>, Duration)>,
}

/// What the threads left when they stopped.
struct Stopped {
    closed: Vec<ClosedZip>,
    assembled: Assembled,
    compress_busy: Duration,
    verify_busy: Duration,
}

/// Waits for a thread; its panic goes on in the caller.
fn join<T>(handle: JoinHandle<T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

impl Pipeline {
    /// Closes the job queue and waits for every thread.
    fn stop(self) -> Stopped {
        let Pipeline {
            jobs,
            pool,
            workers,
            assembler,
            verifier,
        } = self;
        drop(jobs);
        // The assembler hands chunks back into the pool; keep it open until it is done.
        let compress_busy = workers.into_iter().map(join).sum();
        let assembled = join(assembler);
        drop(pool);
        let (closed, verify_busy) = join(verifier);
        Stopped {
            closed,
            assembled,
            compress_busy,
            verify_busy,
        }
    }
}

/// The part (XML entry) being filled.
struct OpenPart {
    /// 0-based index in the run.
    index: usize,
    name: String,
    users: u64,
    /// Uncompressed bytes so far.
    bytes: u64,
    /// Its first chunk was sent.
    started: bool,
}

/// Packages users as they come into zips split as [`PackageConfig`] says, deflating on two
/// threads with bounded memory (a few MiB whatever the number of users), then verifies them:
///
/// ```
/// use alma_sis_package::{PackageConfig, Packager, RunInfo};
/// use alma_user_model::User;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let run = RunInfo {
/// #     institution: "DEMO".into(),
/// #     feed: "patrons".into(),
/// #     timestamp: "2026-11-23T04:00:00".parse()?,
/// #     run_id: 1,
/// #     tool_version: "alma-sis 0.1.0".into(),
/// #     config_sha256: "0".repeat(64),
/// # };
/// let mut packager = Packager::new(dir.path(), &PackageConfig::default(), &run)?;
/// let mut xml = Vec::new();
/// alma_user_model::render_user(&User::new("jdoe"), &mut xml)?;
/// packager.push_rendered(&xml)?; // rendered once by the caller, e.g. to hash it too
/// packager.push(&User::new("asmith"))?;
/// let staged = packager.finish()?; // verified, under temporary names
/// let written = staged.publish()?; // the manifest, then the final names
/// assert_eq!(written.manifest.users, 2);
/// # Ok(())
/// # }
/// ```
///
/// An error from `push_rendered`, `push` (except a user the XML writer refuses) or `finish`
/// stops the packager: later calls return [`PackageError::Stopped`]. Dropping a packager
/// without finishing it stops its threads and removes its temporary files.
pub struct Packager {
    context: Arc<Context>,
    pipeline: Option<Pipeline>,
    /// The XML prolog every entry starts with.
    head: Vec<u8>,
    part: Option<OpenPart>,
    /// The chunk being filled.
    chunk: Option<Chunk>,
    /// The end of the part's bytes before `chunk`, to prime the next chunk's compressor.
    window: Vec<u8>,
    chunk_bytes: usize,
    parts: u64,
    seq: u64,
    users: u64,
    xml_bytes: u64,
    waited: Duration,
    render: Vec<u8>,
}

impl Packager {
    /// Checks the config and names, creates `dir` if needed and starts the threads. Nothing is
    /// written until the first user comes.
    pub fn new(
        dir: &Path,
        config: &PackageConfig,
        run: &RunInfo,
    ) -> Result<Packager, PackageError> {
        config.validate()?;
        let manifest_name = config.name(NameKind::Manifest, run, 0)?;
        config.name(NameKind::Zip, run, 1)?;
        config.name(NameKind::Xml, run, 1)?;
        let dos = dos_time(run.timestamp)?;
        std::fs::create_dir_all(dir).map_err(|source| PackageError::Io {
            path: dir.to_owned(),
            source,
        })?;
        refuse_existing(&dir.join(manifest_name))?;
        let head = xml_head(run)?;
        let context = Arc::new(Context::new(dir, config, run, dos));
        let pipeline = start(&context)?;
        Ok(Packager {
            context,
            pipeline: Some(pipeline),
            head,
            part: None,
            chunk: None,
            window: Vec::with_capacity(WINDOW),
            chunk_bytes: CHUNK_BYTES,
            parts: 0,
            seq: 0,
            users: 0,
            xml_bytes: 0,
            waited: Duration::ZERO,
            render: Vec::with_capacity(8 * 1024),
        })
    }

    /// Adds one user's `<user>` element exactly as [`render_user`] renders it (the caller
    /// renders once, hashes, and hands over the bytes).
    pub fn push_rendered(&mut self, user_xml: &[u8]) -> Result<(), PackageError> {
        if self.pipeline.is_none() {
            return Err(PackageError::Stopped);
        }
        let added = self.add(user_xml);
        added.map_err(|e| self.abort(e))
    }

    /// Renders and adds one user. A user the XML writer refuses is an error that adds nothing
    /// and leaves the packager usable.
    pub fn push(&mut self, user: &User) -> Result<(), PackageError> {
        let mut xml = std::mem::take(&mut self.render);
        xml.clear();
        let pushed = match render_user(user, &mut xml) {
            Ok(()) => self.push_rendered(&xml),
            Err(source) => Err(self.refused(source)),
        };
        self.render = xml;
        pushed
    }

    /// Users added so far.
    pub fn users(&self) -> u64 {
        self.users
    }

    /// Closes the last part and zip, waits for the workers and verifies every zip. Nothing is
    /// under a final name yet: [`Staged::publish`] does that.
    pub fn finish(mut self) -> Result<Staged, PackageError> {
        if self.pipeline.is_none() {
            return Err(PackageError::Stopped);
        }
        if self.part.is_some()
            && let Err(e) = self.end_part()
        {
            return Err(self.abort(e));
        }
        self.context.set_complete();
        let Some(pipeline) = self.pipeline.take() else {
            return Err(PackageError::Stopped);
        };
        let stopped = pipeline.stop();
        if let Some(e) = self.context.failure.take() {
            return Err(e);
        }
        let temps = self.context.take_temps();
        let run = &self.context.run;
        let files: Vec<ManifestFile> = stopped.closed.iter().map(|z| z.record.clone()).collect();
        let manifest = Manifest {
            tool_version: run.tool_version.clone(),
            config_sha256: run.config_sha256.clone(),
            institution: run.institution.clone(),
            feed: run.feed.clone(),
            timestamp: run.timestamp.format("%Y-%m-%dT%H:%M:%S").to_string(),
            users: files.iter().map(|f| f.users).sum(),
            files,
        };
        let manifest_name = self.context.config.name(NameKind::Manifest, run, 0)?;
        Ok(Staged {
            manifest_path: self.context.dir.join(manifest_name),
            manifest,
            zips: stopped.closed,
            cleanup: Cleanup(temps),
            stats: PackStats {
                users: self.users,
                xml_bytes: self.xml_bytes,
                compressed_bytes: stopped.assembled.compressed_bytes,
                chunks: stopped.assembled.chunks,
                entries: stopped.assembled.entries,
                zips: stopped.assembled.zips,
                compress_busy: stopped.compress_busy,
                verify_busy: stopped.verify_busy,
                push_waited: self.waited,
            },
        })
    }

    /// Sets the uncompressed bytes per chunk (for tests of chunk boundaries); the zips differ
    /// with it, so it must be the same for runs that are compared.
    #[doc(hidden)]
    pub fn set_chunk_bytes(&mut self, bytes: usize) {
        self.chunk_bytes = bytes.max(1);
    }

    fn add(&mut self, user_xml: &[u8]) -> Result<(), PackageError> {
        if self.part.is_none() {
            self.start_part()?;
        }
        let Some(part) = self.part.as_ref() else {
            unreachable!("a part was just started");
        };
        let bytes = part.bytes + user_xml.len() as u64 + CLOSING.len() as u64;
        if bytes >= MAX_ENTRY_BYTES {
            return Err(PackageError::PartTooLarge {
                entry: part.name.clone(),
                bytes,
                what: "uncompressed",
                max: MAX_ENTRY_BYTES - 1,
            });
        }
        self.write(user_xml)?;
        self.users += 1;
        let Some(part) = self.part.as_mut() else {
            unreachable!("the part is still open");
        };
        part.users += 1;
        if part.users == self.context.config.users_per_file {
            self.end_part()?;
        }
        Ok(())
    }

    /// The error for a user the XML writer refused, naming the entry it would have gone into.
    fn refused(&self, source: WriteError) -> PackageError {
        let index = match &self.part {
            Some(part) => part.index,
            None => usize::try_from(self.parts).unwrap_or(usize::MAX),
        };
        let entry = self
            .context
            .config
            .name(NameKind::Xml, &self.context.run, index.saturating_add(1))
            .unwrap_or_default();
        PackageError::Xml { entry, source }
    }

    fn start_part(&mut self) -> Result<(), PackageError> {
        let config = &self.context.config;
        let number = self.parts + 1;
        let max_parts = u64::from(config.max_zips) * u64::from(config.files_per_zip);
        if number > max_parts {
            return Err(PackageError::TooManyZips {
                needed: number.div_ceil(u64::from(config.files_per_zip)),
                max: config.max_zips,
            });
        }
        let index = usize::try_from(self.parts).unwrap_or(usize::MAX);
        let name = config.name(NameKind::Xml, &self.context.run, index + 1)?;
        self.parts = number;
        self.part = Some(OpenPart {
            index,
            name,
            users: 0,
            bytes: 0,
            started: false,
        });
        self.window.clear();
        let head = std::mem::take(&mut self.head);
        let written = self.write(&head);
        self.head = head;
        written
    }

    fn end_part(&mut self) -> Result<(), PackageError> {
        self.write(CLOSING)?;
        let chunk = self.take_chunk()?;
        self.send(chunk, true)?;
        self.part = None;
        Ok(())
    }

    /// Appends to the part, sending full chunks as more bytes come.
    fn write(&mut self, mut bytes: &[u8]) -> Result<(), PackageError> {
        if let Some(part) = self.part.as_mut() {
            part.bytes += bytes.len() as u64;
        }
        self.xml_bytes += bytes.len() as u64;
        while !bytes.is_empty() {
            let mut chunk = self.take_chunk()?;
            let room = self.chunk_bytes.saturating_sub(chunk.input.len());
            if room == 0 {
                self.send(chunk, false)?;
                continue;
            }
            let n = room.min(bytes.len());
            chunk.input.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            self.chunk = Some(chunk);
        }
        Ok(())
    }

    /// The chunk being filled, or a free one from the pool (waiting while all are in flight).
    fn take_chunk(&mut self) -> Result<Chunk, PackageError> {
        if let Some(chunk) = self.chunk.take() {
            return Ok(chunk);
        }
        let Some(pipeline) = &self.pipeline else {
            return Err(PackageError::Stopped);
        };
        let mut chunk = match pipeline.pool.try_recv() {
            Ok(chunk) => chunk,
            Err(TryRecvError::Empty) => {
                let start = Instant::now();
                let chunk = pipeline.pool.recv();
                self.waited += start.elapsed();
                chunk.map_err(|_| self.stopped())?
            }
            Err(TryRecvError::Disconnected) => return Err(self.stopped()),
        };
        chunk.input.clear();
        chunk.dictionary.clear();
        chunk.dictionary.extend_from_slice(&self.window);
        Ok(chunk)
    }

    /// Sends a chunk to the workers; `last` ends the part.
    fn send(&mut self, mut chunk: Chunk, last: bool) -> Result<(), PackageError> {
        if self.context.failure.stopped() {
            return Err(self.stopped());
        }
        let Some(part) = self.part.as_mut() else {
            unreachable!("chunks belong to a part");
        };
        chunk.seq = self.seq;
        self.seq += 1;
        if !part.started {
            part.started = true;
            chunk.starts = Some(part.name.clone());
        }
        if last {
            chunk.ends = Some(part.users);
        } else {
            // The next chunk may refer back into this one's last 32 KiB.
            let input = &chunk.input;
            let keep = input.len().min(WINDOW);
            let old = (WINDOW - keep).min(self.window.len());
            self.window.drain(..self.window.len() - old);
            self.window.extend_from_slice(&input[input.len() - keep..]);
        }
        let Some(pipeline) = &self.pipeline else {
            return Err(PackageError::Stopped);
        };
        pipeline.jobs.send(chunk).map_err(|_| self.stopped())
    }

    /// The error to report once the pipeline stopped on its own.
    fn stopped(&self) -> PackageError {
        PackageError::Stopped
    }

    /// Stops the threads after `e`; returns the error to report: one a thread met on earlier
    /// data comes first.
    fn abort(&mut self, e: PackageError) -> PackageError {
        self.chunk = None;
        if let Some(pipeline) = self.pipeline.take() {
            pipeline.stop();
        }
        self.remove_temps();
        match (self.context.failure.take(), e) {
            (Some(first), _) => first,
            (None, e) => e,
        }
    }

    fn remove_temps(&self) {
        for path in self.context.take_temps() {
            // Best effort: the error that brought us here is the one to report.
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Packager {
    fn drop(&mut self) {
        if let Some(pipeline) = self.pipeline.take() {
            self.context.failure.fail(PackageError::Stopped);
            pipeline.stop();
        }
        self.remove_temps();
    }
}

impl std::fmt::Debug for Packager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packager")
            .field("dir", &self.context.dir)
            .field("users", &self.users)
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

fn start(context: &Arc<Context>) -> Result<Pipeline, PackageError> {
    let (jobs_tx, jobs_rx) = sync_channel::<Chunk>(POOL);
    let (done_tx, done_rx) = sync_channel::<Chunk>(POOL);
    let (pool_tx, pool_rx) = sync_channel::<Chunk>(POOL);
    let (checks_tx, checks_rx) = sync_channel::<Check>(CHECKS);
    for _ in 0..POOL {
        let chunk = Chunk {
            input: Vec::with_capacity(CHUNK_BYTES),
            ..Chunk::default()
        };
        pool_tx
            .send(chunk)
            .unwrap_or_else(|_| unreachable!("the pool holds POOL chunks"));
    }
    let spawn_err = |source| PackageError::Io {
        path: context.dir.clone(),
        source,
    };
    let jobs_rx = Arc::new(Mutex::new(jobs_rx));
    let mut workers = Vec::with_capacity(WORKERS);
    for i in 0..WORKERS {
        let (context, jobs, done) = (Arc::clone(context), Arc::clone(&jobs_rx), done_tx.clone());
        let handle = crate::priority::spawn_lowered(format!("deflate-{i}"), move || {
            worker(&context, &jobs, &done)
        })
        .map_err(spawn_err)?;
        workers.push(handle);
    }
    drop(done_tx);
    let assembler = {
        let context = Arc::clone(context);
        crate::priority::spawn_lowered("assemble".into(), move || {
            assembler(&context, done_rx, pool_tx, checks_tx)
        })
        .map_err(spawn_err)?
    };
    let verifier = {
        let context = Arc::clone(context);
        crate::priority::spawn_lowered("verify".into(), move || verifier(&context, checks_rx))
            .map_err(spawn_err)?
    };
    Ok(Pipeline {
        jobs: jobs_tx,
        pool: pool_rx,
        workers,
        assembler,
        verifier,
    })
}

/// Zips written and verified under temporary names, and their manifest, not yet written.
/// Dropping it removes the temporary files.
#[derive(Debug)]
pub struct Staged {
    manifest_path: PathBuf,
    manifest: Manifest,
    zips: Vec<ClosedZip>,
    cleanup: Cleanup,
    stats: PackStats,
}

impl std::fmt::Debug for ClosedZip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClosedZip")
            .field("temp", &self.temp)
            .field("name", &self.record.name)
            .finish()
    }
}

impl Staged {
    /// Users in all zips.
    pub fn users(&self) -> u64 {
        self.manifest.users
    }

    /// Figures about the run.
    pub fn stats(&self) -> PackStats {
        self.stats.clone()
    }

    /// The manifest [`publish`](Staged::publish) will write.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Writes the manifest and gives every zip its final name, never overwriting a file. On
    /// error nothing is left under a final name.
    pub fn publish(self) -> Result<Package, PackageError> {
        let Staged {
            manifest_path,
            manifest,
            zips,
            mut cleanup,
            ..
        } = self;
        let json =
            serde_json::to_vec_pretty(&manifest).map_err(|source| PackageError::Manifest {
                path: manifest_path.clone(),
                source,
            })?;
        let mut file = create_new(&manifest_path, false)?;
        cleanup.push(manifest_path.clone());
        let io_err = |source| PackageError::Io {
            path: manifest_path.clone(),
            source,
        };
        file.write_all(&json).map_err(io_err)?;
        file.write_all(b"\n").map_err(io_err)?;
        file.sync_all().map_err(io_err)?;

        let dir = manifest_path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_default();
        let mut packaged = Vec::with_capacity(zips.len());
        for zip in zips {
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
}

/// Writes `users` into zips in `dir`, split as `config` says, with a JSON manifest; verifies
/// every zip before it gets its final name. No file is overwritten; all files are mode 0600.
/// A thin wrapper over [`Packager`]: push each user, finish, publish.
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
    I::Item: Borrow<User>,
{
    let mut packager = Packager::new(dir, config, run)?;
    let users = users.into_iter();
    // Refuse a run known to need too many zips before writing anything.
    let at_least = u64::try_from(users.size_hint().0).unwrap_or(u64::MAX);
    let zips = at_least
        .div_ceil(config.users_per_file)
        .div_ceil(u64::from(config.files_per_zip));
    if zips > u64::from(config.max_zips) {
        return Err(PackageError::TooManyZips {
            needed: zips,
            max: config.max_zips,
        });
    }
    for user in users {
        packager.push(user.borrow())?;
    }
    packager.finish()?.publish()
}

/// Removes the files it holds when dropped, unless disarmed.
#[derive(Debug, Default)]
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

/// The prolog of every XML file: declaration, the tool version and config hash as a comment,
/// `<users>`, exactly as [`UserXmlWriter`] writes it.
fn xml_head(run: &RunInfo) -> Result<Vec<u8>, PackageError> {
    let options = WriterOptions {
        comment: Some(format!(
            "{} config-sha256 {}",
            run.tool_version, run.config_sha256
        )),
    };
    let xml_err = |source| PackageError::Xml {
        entry: String::new(),
        source,
    };
    let writer = UserXmlWriter::new(Vec::new(), &options).map_err(xml_err)?;
    let head_len = usize::try_from(writer.bytes_written()).unwrap_or(usize::MAX);
    let mut head = writer.finish().map_err(xml_err)?;
    debug_assert_eq!(&head[head_len..], CLOSING, "the writer's closing tag");
    head.truncate(head_len);
    Ok(head)
}

/// The run's timestamp as zip headers store it (years 1980 to 2107, seconds halved).
fn dos_time(timestamp: NaiveDateTime) -> Result<DosTime, PackageError> {
    let year = timestamp.year();
    if !(1980..=2107).contains(&year) {
        return Err(PackageError::Timestamp { timestamp });
    }
    // Each component is range-checked by chrono (month 1..=12, second 0..=59), so they fit.
    let (year, month, day) = (year - 1980, timestamp.month(), timestamp.day());
    let (hour, minute, second) = (timestamp.hour(), timestamp.minute(), timestamp.second());
    Ok(DosTime {
        time: ((hour << 11) | (minute << 5) | (second / 2)) as u16,
        date: (((year as u32) << 9) | (month << 5) | day) as u16,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_and_closing_are_the_writers() {
        let run = RunInfo {
            institution: "X".into(),
            feed: "f".into(),
            timestamp: "2026-11-23T04:00:00".parse().unwrap(),
            run_id: 1,
            tool_version: "t -- 1".into(),
            config_sha256: "ab".into(),
        };
        let mut expected = xml_head(&run).unwrap();
        expected.extend_from_slice(CLOSING);
        let options = WriterOptions {
            comment: Some("t -- 1 config-sha256 ab".into()),
        };
        let written = UserXmlWriter::new(Vec::new(), &options)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(written, expected);
    }
}
