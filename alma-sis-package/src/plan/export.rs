//! Reading Alma's "Export users" output: files, zips and folders of version 2 user XML
//! (the `<users><user>` shape the SIS load reads; spec section 10), with or without an
//! `.xml` extension, streamed.
//!
//! A document is read the fast way when the toolkit's fast reader vouches for it: a thread
//! cuts it into users ([`UserSplitter`]), workers parse them ([`UserParser`]) and work out
//! what the index needs, and this thread adds them in document order. Otherwise (or from
//! the first user the fast reader refuses) the document is read again, whole, with the
//! full reader. Either way the same users come out.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use alma_user_model::read::{READ_SIZE, RawUser, Split, UserParser, UserSplitter};
use alma_user_model::{AccountType, Finding, MatchId, User, UserReader};

use super::records::{
    AS_MATCH, AS_PRIMARY, Format, IN_GROUPS, INTERNAL, Kept, NO_GROUP, NO_MATCH_VALUE, Records,
    ValueIndex,
};
use super::{Coverage, ExportDocument, ExportOptions, PlanError};
use crate::check::zipread::{self, ReadStats, ReadingKey};
use crate::check::{id_key, read_up_to};

/// Raw XML per batch handed to a worker.
const BATCH_BYTES: usize = 256 * 1024;
/// Batches waiting per worker, each way.
const QUEUE: usize = 2;

/// What the index needs of one Alma user.
pub(super) struct Facts {
    /// (hash of a value, [`AS_MATCH`] | [`AS_PRIMARY`]), each value once.
    values: Vec<(u64, u32)>,
    flags: u8,
    group: Option<String>,
    digest: (u64, u8),
}

/// Works out the facts of `user` under the profile's match id and groups.
pub(super) fn facts(user: &User, options: &ExportOptions) -> Facts {
    let mut values: Vec<(u64, u32)> = Vec::with_capacity(1 + user.user_identifiers.len());
    let mut add = |value: &str, bits: u32| {
        if value.trim().is_empty() {
            return;
        }
        let key = id_key(value);
        match values.iter_mut().find(|(k, _)| *k == key) {
            Some((_, b)) => *b |= bits,
            None => values.push((key, bits)),
        }
    };
    let match_value = options.match_id.value(user);
    let is_primary = matches!(options.match_id, MatchId::PrimaryId);
    add(
        &user.primary_id,
        AS_PRIMARY | if is_primary { AS_MATCH } else { 0 },
    );
    let mut matched = is_primary;
    for i in &user.user_identifiers {
        // The match id is the first identifier of its type (as the check reads it).
        let bits = if !matched && Some(i.value.as_str()) == match_value {
            matched = true;
            AS_MATCH
        } else {
            0
        };
        add(&i.value, bits);
    }
    let internal = user.account_type == Some(AccountType::Internal);
    let group = user
        .user_group
        .as_ref()
        .map(|g| g.code.trim().to_owned())
        .filter(|g| !g.is_empty());
    let in_groups = options.groups.is_empty()
        || group
            .as_deref()
            .is_some_and(|g| options.groups.iter().any(|p| p == g));
    let mut flags = 0;
    if internal {
        flags |= INTERNAL;
    }
    if in_groups {
        flags |= IN_GROUPS;
    }
    if match_value.is_none() {
        flags |= NO_MATCH_VALUE;
    }
    Facts {
        values,
        flags,
        group,
        digest: super::sync::fingerprint(user, true),
    }
}

/// Counts bytes against the limits; past one, reading fails: bytes per document, in
/// total, and between two `<` (the longest tag or text node, as the check bounds tokens).
struct Limited<R> {
    inner: R,
    read: u64,
    entry_limit: u64,
    total: Arc<AtomicU64>,
    total_limit: u64,
    /// Bytes since the last `<`.
    token: u64,
    token_limit: u64,
    hit: Arc<AtomicBool>,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        let total = self.total.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        let mut from = 0;
        let mut longest = 0;
        for at in memchr::memchr_iter(b'<', &buf[..n]) {
            longest = longest.max(self.token + (at - from) as u64);
            self.token = 0;
            from = at + 1;
        }
        self.token += (n - from) as u64;
        if self.read > self.entry_limit
            || total > self.total_limit
            || longest.max(self.token) > self.token_limit
        {
            self.hit.store(true, Ordering::Relaxed);
            return Err(io::Error::other("byte limit reached"));
        }
        Ok(n)
    }
}

/// One document's source: a bare file (whose records stay in it) or a zip entry.
enum Source<'a> {
    File(&'a Path),
    /// The zip, and where its entry's data is, as Java's `ZipFile` reads it.
    Entry(&'a Path, ReadingKey),
}

impl Source<'_> {
    fn open(&mut self) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(match self {
            Source::File(path) => Box::new(File::open(path)?),
            Source::Entry(path, key) => {
                Box::new(zipread::Reading::open(path, *key, ReadStats::cell())?)
            }
        })
    }
}

/// Reads documents into records and the value index.
pub(super) struct Builder<'o> {
    pub(super) options: &'o ExportOptions,
    pub(super) records: Records,
    pub(super) index: ValueIndex,
    pub(super) group_names: Vec<String>,
    pub(super) coverage: Coverage,
    total: Arc<AtomicU64>,
    hit: Arc<AtomicBool>,
}

/// How a file starts.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Zip,
    Xml,
    Other,
}

fn sniff(head: &[u8]) -> Kind {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Kind::Zip;
    }
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => Kind::Xml,
        _ => Kind::Other,
    }
}

impl<'o> Builder<'o> {
    pub(super) fn new(options: &'o ExportOptions) -> Builder<'o> {
        Builder {
            options,
            records: Records::new(),
            index: ValueIndex::new(),
            group_names: Vec::new(),
            coverage: Coverage::default(),
            total: Arc::new(AtomicU64::new(0)),
            hit: Arc::new(AtomicBool::new(false)),
        }
    }

    fn io(path: &Path) -> impl Fn(io::Error) -> PlanError + '_ {
        move |source| PlanError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// A file, or every file of a folder (sorted by name; names starting with `.` and files
    /// that are neither XML nor zip are skipped and listed in the coverage).
    pub(super) fn read_path(&mut self, path: &Path) -> Result<(), PlanError> {
        let meta = std::fs::metadata(path).map_err(Self::io(path))?;
        if !meta.is_dir() {
            return self.read_file(path, false);
        }
        let mut names: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(Self::io(path))?
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        names.sort();
        let before = self.coverage.documents.len();
        for name in &names {
            self.read_file(name, true)?;
        }
        if self.coverage.documents.len() == before {
            return Err(PlanError::NotAnExport {
                path: path.to_owned(),
                why: "the folder holds no XML file or zip".to_owned(),
            });
        }
        Ok(())
    }

    fn read_file(&mut self, path: &Path, in_folder: bool) -> Result<(), PlanError> {
        let mut file = File::open(path).map_err(Self::io(path))?;
        let mut head = [0u8; 512];
        let n = read_up_to(&mut file, &mut head).map_err(Self::io(path))?;
        match sniff(&head[..n]) {
            Kind::Zip => self.read_zip(path, file),
            Kind::Xml => {
                let bare = self.records.add_file(file);
                self.read_document(path, None, Source::File(path), Some(bare))
            }
            Kind::Other if in_folder => {
                self.coverage.skipped.push(path.display().to_string());
                Ok(())
            }
            Kind::Other => Err(PlanError::NotAnExport {
                path: path.to_owned(),
                why: "neither XML nor a zip".to_owned(),
            }),
        }
    }

    fn read_zip(&mut self, path: &Path, mut file: File) -> Result<(), PlanError> {
        let not_zip = |why: String| PlanError::NotAnExport {
            path: path.to_owned(),
            why: format!("the zip cannot be read: {why}"),
        };
        let entries = zipread::open_entries(&mut file)
            .map_err(Self::io(path))?
            .map_err(not_zip)?;
        let mut xml_entries = 0;
        for entry in entries {
            // The entry's name is only ever shown, never used as a path.
            let name = entry.name.clone();
            if entry.raw_name.ends_with(b"/") {
                continue;
            }
            let Some(key) = entry.reading() else {
                return Err(not_zip(format!("entry {name} has no local header")));
            };
            let kind = {
                let mut data =
                    zipread::Reading::open(path, key, ReadStats::cell()).map_err(Self::io(path))?;
                let mut head = [0u8; 512];
                let n = read_up_to(&mut data, &mut head).map_err(Self::io(path))?;
                sniff(&head[..n])
            };
            if kind != Kind::Xml {
                self.coverage
                    .skipped
                    .push(format!("{}!{name}", path.display()));
                continue;
            }
            xml_entries += 1;
            self.read_document(path, Some(name), Source::Entry(path, key), None)?;
        }
        if xml_entries == 0 {
            return Err(PlanError::NotAnExport {
                path: path.to_owned(),
                why: "the zip holds no XML entry".to_owned(),
            });
        }
        Ok(())
    }

    fn limited<'r>(&self, inner: Box<dyn Read + Send + 'r>) -> Limited<Box<dyn Read + Send + 'r>> {
        let limits = &self.options.limits;
        Limited {
            inner,
            read: 0,
            entry_limit: limits.max_entry_bytes,
            total: Arc::clone(&self.total),
            total_limit: limits.max_total_bytes,
            token: 0,
            token_limit: limits.max_token_bytes,
            hit: Arc::clone(&self.hit),
        }
    }

    /// Reads one document: the fast way, else (from scratch) with the full reader.
    fn read_document(
        &mut self,
        path: &Path,
        entry: Option<String>,
        mut source: Source<'_>,
        bare: Option<u16>,
    ) -> Result<(), PlanError> {
        let mark = self.records.mark();
        let total_before = self.total.load(Ordering::Relaxed);
        let input = self.limited(source.open().map_err(Self::io(path))?);
        let done = match self.read_fast(input, bare)? {
            Some(done) => done,
            None => {
                self.records.rewind(mark).map_err(Self::io(path))?;
                self.index
                    .rewind(u32::try_from(self.records.len()).unwrap_or(u32::MAX));
                self.total.store(total_before, Ordering::Relaxed);
                self.hit.store(false, Ordering::Relaxed);
                let input = self.limited(source.open().map_err(Self::io(path))?);
                self.read_serial(input, path, entry.as_deref())?
            }
        };
        let (users, findings) = done;
        if users == 0 {
            version_check(path, entry.as_deref(), &findings)?;
        }
        self.coverage.documents.push(ExportDocument {
            file: path.display().to_string(),
            entry,
            users,
        });
        Ok(())
    }

    /// The fast way; `None` when the full reader must read the document.
    fn read_fast(
        &mut self,
        input: Limited<Box<dyn Read + Send + '_>>,
        bare: Option<u16>,
    ) -> Result<Option<(u64, Vec<Finding>)>, PlanError> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
        let options = self.options;
        std::thread::scope(|scope| {
            let mut to_workers = Vec::with_capacity(workers);
            let mut from_workers = Vec::with_capacity(workers);
            for _ in 0..workers {
                let (to, rx) = sync_channel::<Cut>(QUEUE);
                let (tx, from) = sync_channel::<Parsed>(QUEUE);
                let spawned = std::thread::Builder::new()
                    .name("plan-parse".into())
                    .spawn_scoped(scope, move || parse(&rx, &tx, options));
                if spawned.is_err() {
                    return Ok(None);
                }
                to_workers.push(to);
                from_workers.push(from);
            }
            let spawned = std::thread::Builder::new()
                .name("plan-split".into())
                .spawn_scoped(scope, move || split(input, &to_workers));
            if spawned.is_err() {
                return Ok(None);
            }
            self.merge(&from_workers, bare)
        })
    }

    /// Adds the workers' users in document order.
    fn merge(
        &mut self,
        from_workers: &[Receiver<Parsed>],
        bare: Option<u16>,
    ) -> Result<Option<(u64, Vec<Finding>)>, PlanError> {
        let mut users = 0u64;
        let mut turn = 0usize;
        loop {
            let Ok(parsed) = from_workers[turn % from_workers.len()].recv() else {
                return Ok(None);
            };
            let batch = match parsed {
                Parsed::Users(batch) => batch,
                Parsed::End(findings) => return Ok(Some((users, findings))),
                Parsed::Fallback => return Ok(None),
            };
            turn += 1;
            for (raw, range, facts) in batch.users {
                let Some(facts) = facts else {
                    return Ok(None);
                };
                let kept = self.kept(&facts);
                let ordinal = match bare {
                    Some(file) => self.records.push_in_file(file, &raw, &kept),
                    None => self
                        .records
                        .push_spilled(
                            &self.options.spill_dir,
                            Format::Xml,
                            &batch.xml.as_bytes()[range],
                            &kept,
                        )
                        .map_err(Self::io(&self.options.spill_dir))?,
                };
                self.index_values(&facts, ordinal);
                users += 1;
            }
        }
    }

    /// The full reader, every user copied into the spill file.
    fn read_serial(
        &mut self,
        input: Limited<Box<dyn Read + Send + '_>>,
        path: &Path,
        entry: Option<&str>,
    ) -> Result<(u64, Vec<Finding>), PlanError> {
        let mut reader = UserReader::new(BufReader::with_capacity(READ_SIZE, input));
        let mut users = 0u64;
        loop {
            let read = match reader.next_user() {
                Ok(Some(read)) => read,
                Ok(None) => break,
                Err(e) if self.hit.load(Ordering::Relaxed) => {
                    return Err(PlanError::Limit {
                        path: path.to_owned(),
                        entry: entry.map(str::to_owned),
                        message: format!(
                            "{e}: more than {} bytes in one document (check.max_entry_bytes), \
                             {} in all (check.max_total_bytes), or a tag or text longer than \
                             {} bytes (check.max_token_bytes); the rest was not read",
                            self.options.limits.max_entry_bytes,
                            self.options.limits.max_total_bytes,
                            self.options.limits.max_token_bytes
                        ),
                    });
                }
                Err(source) => {
                    return Err(PlanError::Malformed {
                        path: path.to_owned(),
                        entry: entry.map(str::to_owned),
                        source,
                    });
                }
            };
            let facts = facts(&read.user, self.options);
            let kept = self.kept(&facts);
            let json = serde_json::to_vec(&read.user).map_err(|e| PlanError::Io {
                path: self.options.spill_dir.clone(),
                source: io::Error::other(e),
            })?;
            let ordinal = self
                .records
                .push_spilled(&self.options.spill_dir, Format::Json, &json, &kept)
                .map_err(Self::io(&self.options.spill_dir))?;
            self.index_values(&facts, ordinal);
            users += 1;
        }
        Ok((users, reader.document_findings().to_vec()))
    }

    fn kept(&mut self, facts: &Facts) -> Kept {
        Kept {
            flags: facts.flags,
            group: self.group_id(facts.group.as_deref()),
            digest: facts.digest,
        }
    }

    fn index_values(&mut self, facts: &Facts, ordinal: u32) {
        for &(key, bits) in &facts.values {
            self.index.push(key, ordinal | bits);
        }
    }

    fn group_id(&mut self, group: Option<&str>) -> u16 {
        let Some(group) = group else {
            return NO_GROUP;
        };
        if let Some(i) = self.group_names.iter().position(|g| g == group) {
            return u16::try_from(i).unwrap_or(NO_GROUP);
        }
        if self.group_names.len() + 1 >= usize::from(NO_GROUP) {
            return NO_GROUP;
        }
        self.group_names.push(group.to_owned());
        u16::try_from(self.group_names.len() - 1).unwrap_or(NO_GROUP)
    }
}

/// A document with no user whose root is `<userRecords>` is a version 1 export (the reader
/// only warns about that root, which MIT's feeds load with); any other root is no users
/// export at all.
fn version_check(path: &Path, entry: Option<&str>, findings: &[Finding]) -> Result<(), PlanError> {
    let root = findings
        .iter()
        .find(|f| f.code == "E-ROOT-NAME" || f.code == "W-ROOT-NAME")
        .and_then(|f| f.field.clone());
    let place = match entry {
        Some(e) => format!("{}!{e}", path.display()),
        None => path.display().to_string(),
    };
    match root.as_deref() {
        Some("userRecords") => Err(PlanError::Version1 { place }),
        Some(other) => Err(PlanError::NotAnExport {
            path: path.to_owned(),
            why: format!(
                "{place}: the root element is <{other}>, not <users>: not a version 2 users \
                 export"
            ),
        }),
        None => Ok(()),
    }
}

/// Users cut out by the splitter.
struct RawBatch {
    xml: String,
    users: Vec<(RawUser, Range<usize>)>,
}

enum Cut {
    Users(RawBatch),
    End(Vec<Finding>),
    Fallback,
}

struct ParsedBatch {
    xml: String,
    users: Vec<(RawUser, Range<usize>, Option<Facts>)>,
}

enum Parsed {
    Users(ParsedBatch),
    End(Vec<Finding>),
    Fallback,
}

/// The splitter thread: batches to the workers in turn, then the end (or a fallback) to the
/// next worker in turn.
fn split(input: impl Read, to_workers: &[SyncSender<Cut>]) {
    let mut splitter = UserSplitter::new(BufReader::with_capacity(READ_SIZE, input));
    let mut turn = 0usize;
    let mut send = |cut: Cut| {
        let sent = to_workers[turn % to_workers.len()].send(cut).is_ok();
        turn += 1;
        sent
    };
    loop {
        let mut batch = RawBatch {
            xml: String::with_capacity(BATCH_BYTES + 8 * 1024),
            users: Vec::new(),
        };
        let last = loop {
            let start = batch.xml.len();
            match splitter.next_into(&mut batch.xml) {
                Split::User(raw) => {
                    batch.users.push((raw, start..batch.xml.len()));
                    if batch.xml.len() >= BATCH_BYTES {
                        break None;
                    }
                }
                Split::End => break Some(Cut::End(splitter.document_findings().to_vec())),
                Split::Unsupported => break Some(Cut::Fallback),
            }
        };
        if !batch.users.is_empty() && !send(Cut::Users(batch)) {
            return;
        }
        if let Some(last) = last {
            send(last);
            return;
        }
    }
}

/// A worker: parses each user of its batches and works out its facts.
fn parse(rx: &Receiver<Cut>, tx: &SyncSender<Parsed>, options: &ExportOptions) {
    let mut parser = UserParser::new();
    for cut in rx {
        let parsed = match cut {
            Cut::End(findings) => Parsed::End(findings),
            Cut::Fallback => Parsed::Fallback,
            Cut::Users(batch) => {
                let users = batch
                    .users
                    .into_iter()
                    .map(|(raw, range)| {
                        let facts = parser
                            .parse(&batch.xml[range.clone()], &raw)
                            .map(|read| facts(&read.user, options));
                        (raw, range, facts)
                    })
                    .collect();
                Parsed::Users(ParsedBatch {
                    xml: batch.xml,
                    users,
                })
            }
        };
        if tx.send(parsed).is_err() {
            return;
        }
    }
}
