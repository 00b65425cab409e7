//! `check`: finds every Alma load failure before Alma does, offline.
//!
//! Input is an Alma SIS file as Alma fetches it (a `.zip`, a folder of them, or a bare
//! `.xml`), made by this toolkit or any other. The checks run in three layers:
//!
//! - **file**: the zip as both of the JDK's readers read it (`ZipFile` by the central
//!   directory, `ZipInputStream` by the local headers, with descriptors, ZIP64, CRCs and
//!   sizes; each finding says which reader fails), entries sharing data read once, at least
//!   one and at most 50 `.xml` entries; the encoding as Java decides it; well-formedness as
//!   the JDK's parser judges it (declaration, PIs, comments, CDATA, references, names,
//!   namespaces), stopping where Java stops (codes in [`codes`]);
//! - **record**: `alma_user_model`'s reader (conformance to all of `rest_user.xsd`, output-only
//!   elements included) and record validation (mandatory children, `E-CHAR`, `W-INTERNAL`,
//!   code tables with `E-CODE-VALUE`/`E-CASE`), the site's mandatory-field
//!   [`MandatoryProfile`], preferred address/email, the expiry and purge dates; findings
//!   about a segment are placed at the segment;
//! - **feed**: the same match ID twice, and any identifier value used by two users
//!   (case-insensitive, across types, primary id included).
//!
//! It streams: a few batches of users are in memory at a time (a document is read on
//! several threads, with the same findings in the same order as reading it on one), and
//! across the feed the [`Checker`] keeps only hashes of identifier values and each user's
//! primary id (see [`Retained`]).
//! Hostile input is bounded ([`Limits`]): bytes per entry and in total (every read counted),
//! the longest tag, attribute or text value (whitespace between elements streams past), no
//! DTD processing; entry names are never used as paths and are escaped when printed
//! ([`printable`]).
//!
//! Severity is what Alma does: `E-` Alma rejects the user or aborts the job, `W-` it
//! tolerates the deviation, `I-` information (`docs/troubleshooting.md` gives the evidence
//! per code). `cargo xtask fuzz-check` compares the verdicts with the JDK's, mutant by
//! mutant.
//!
//! ```
//! use alma_sis_package::check::{CheckOptions, Checker};
//! use alma_user_model::{Severity, User};
//!
//! let options = CheckOptions::default();
//! let mut checker = Checker::new(&options);
//! let first = checker.check_user(&User::new("jdoe"), None);
//! assert!(first.iter().all(|f| f.severity != Severity::Error));
//! let twice = checker.check_user(&User::new("JDOE"), None);
//! assert!(twice.iter().any(|f| f.code == "E-DUP-MATCH-ID"));
//! ```

pub mod codes;
mod decode;
mod feed;
mod guard;
mod parallel;
mod profile;
mod swap;
mod xmlscan;
mod zipcheck;
pub(crate) mod zipread;

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use alma_user_model::{
    Finding, MatchId, Position, ReadError, ReadUser, SegmentAt, Severity, User, ValidationOptions,
};
use serde::Serialize;

pub use profile::{FIELD_NAMES, I_SHARE, MandatoryProfile, UnknownField, UnknownProfile};
pub use swap::{CORE_FIELDS, PROTECTED_FIELDS, PreviousFeed};

pub(crate) use feed::id_key;
use feed::{FeedIndex, Seen};
use guard::{Guard, GuardEvent, GuardEventKind, GuardLimits, GuardLog};

/// Alma processes at most this many XML files per zip.
pub const MAX_XML_PER_ZIP: usize = 50;

/// Byte limits against hostile input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most uncompressed bytes read from one XML file or entry (default 4 GiB, Alma's zip
    /// limit).
    pub max_entry_bytes: u64,
    /// Most uncompressed bytes read over the whole check, every entry's data counted each
    /// time it is read (default 16 GiB: about eight million users; it bounds the time a
    /// check takes as well as its memory).
    pub max_total_bytes: u64,
    /// Longest tag, attribute or text value (default 1 MiB; Alma's longest field is 4000
    /// characters). Whitespace between elements is not a value and is not counted; comments
    /// and processing instructions may be 64 times as long.
    pub max_token_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entry_bytes: 4 << 30,
            max_total_bytes: 16 << 30,
            max_token_bytes: 1 << 20,
        }
    }
}

/// What to check against.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// The integration profile's match ID.
    pub match_id: MatchId,
    /// Mandatory fields beyond the schema's.
    pub profile: Option<MandatoryProfile>,
    /// Record validation: the institution's code tables (fields whose table is not
    /// loaded are not checked).
    pub validation: ValidationOptions,
    /// Byte limits.
    pub limits: Limits,
    /// The previous feed, for swap-all warnings; without it only explicitly empty
    /// elements are warned about.
    pub previous: Option<PreviousFeed>,
}

/// A finding with the file and zip entry it was found in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckFinding {
    /// The file, as given.
    pub file: String,
    /// The zip entry, for findings inside a zip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
}

/// `text` safe to print on one terminal line: control characters (C0, DEL, C1), line and
/// paragraph separators and bidirectional overrides written as `\u{..}`. Entry names, paths
/// and values come from files made elsewhere: a crafted name must not fake a line of output
/// ("0 error(s)") or send terminal escape codes.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c,
                '\u{2028}' | '\u{2029}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
                | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

impl std::fmt::Display for CheckFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fd = &self.finding;
        write!(f, "{}", printable(&self.file))?;
        if let Some(entry) = &self.entry {
            write!(f, "!{}", printable(entry))?;
        }
        if let Some(p) = fd.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        let severity = match fd.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        write!(f, ": {severity} {}", fd.code)?;
        if let Some(id) = &fd.primary_id {
            write!(f, " [user {}]", printable(id))?;
        }
        if let Some(field) = &fd.field {
            write!(f, " {}", printable(field))?;
        }
        write!(f, ": {}", printable(&fd.message))
    }
}

/// Counts over one check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Files looked at.
    pub files: u64,
    /// XML documents read (zip entries or bare files).
    pub documents: u64,
    /// Users read.
    pub users: u64,
    /// Users with at least one error.
    pub users_with_errors: u64,
    /// Error-level findings.
    pub errors: u64,
    /// Warnings.
    pub warnings: u64,
}

/// What the checker retains across the feed; grows with identifiers, never with records
/// (about 10.6 bytes per distinct value and 3 to 12 per user when sized by
/// [`Checker::reserve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retained {
    /// Users indexed (one primary id each in a shared arena).
    pub users: usize,
    /// Distinct identifier values, match IDs included.
    pub identifiers: usize,
    /// Bytes of the user log: primary ids (numbers as deltas) and line deltas.
    pub arena_bytes: usize,
    /// Heap bytes of the whole feed index (value table, user log, offsets).
    pub index_bytes: usize,
    /// Guard events waiting to be attributed to a user (bounded per document).
    pub pending_events: usize,
}

/// Why a check could not run at all (exit code 2), as opposed to findings.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A path could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file that must be readable (the previous feed) is not.
    #[error("cannot read {path}: {message}")]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

type Sink<'a> = Box<dyn FnMut(CheckFinding) + 'a>;

/// Checks files or users one at a time, keeping only feed-wide identifier hashes.
pub struct Checker<'a> {
    options: &'a CheckOptions,
    index: FeedIndex,
    /// The serial path's buffer for a user's keys ([`FeedUser::keys`]).
    keys: Vec<u64>,
    /// Where users were read, one per document as findings name it (`file` or
    /// `file!entry`): [`Seen::source`] indexes it.
    sources: Vec<String>,
    summary: Summary,
    sink: Sink<'a>,
    log: Rc<RefCell<GuardLog>>,
    /// Documents go the fast way when it vouches for them (tests compare with `false`).
    fast: bool,
    /// What the fast way's threads keep from one document to the next.
    pool: parallel::Pool,
    /// Documents read whole the fast way (tests check that it did not give up).
    #[cfg(test)]
    fast_documents: usize,
}

impl std::fmt::Debug for Checker<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl<'a> Checker<'a> {
    /// A checker whose file-level findings are dropped (use [`Checker::with_sink`] to
    /// receive them); [`Checker::check_user`] returns its findings directly.
    pub fn new(options: &'a CheckOptions) -> Self {
        Self::with_sink(options, |_| {})
    }

    /// A checker that hands every finding of [`Checker::check_path`] to `sink`, in file
    /// order, as it is found.
    pub fn with_sink(options: &'a CheckOptions, sink: impl FnMut(CheckFinding) + 'a) -> Self {
        Checker {
            options,
            index: FeedIndex::default(),
            keys: Vec::new(),
            sources: Vec::new(),
            summary: Summary::default(),
            sink: Box::new(sink),
            log: Rc::new(RefCell::new(GuardLog::default())),
            fast: true,
            pool: parallel::Pool::default(),
            #[cfg(test)]
            fast_documents: 0,
        }
    }

    /// The counts so far.
    pub fn summary(&self) -> Summary {
        self.summary
    }

    /// What the checker holds across the feed.
    pub fn retained(&self) -> Retained {
        let (users, identifiers, arena_bytes) = self.index.sizes();
        Retained {
            users,
            identifiers,
            arena_bytes,
            index_bytes: self.index.heap_bytes(),
            pending_events: self.log.borrow().events.len(),
        }
    }

    /// Expects about `users` more users (a capacity hint, e.g. the extract's row count):
    /// the feed index is then sized once for them instead of growing. Optional.
    pub fn reserve(&mut self, users: usize) {
        self.index.reserve(users);
    }

    /// Reserves the feed index for about as many users as `bytes` of XML hold.
    fn reserve_for_bytes(&mut self, bytes: u64) {
        // A typical user record is 1 to 3 KB of XML; a feed of smaller ones outgrows this
        // and adds a table.
        const BYTES_PER_USER: u64 = 2048;
        // Room for four values a user, not two as for the run's own checks: a zip is
        // checked with memory to spare, and a feed with several identifiers a user (the
        // bench's college has 3.85 values a user) then fits one table, so that each claim
        // probes one table instead of two.
        const VALUES_PER_USER: usize = 4;
        // Sizes come from the file and may lie (a zip's central directory declares what it
        // likes): what is reserved from them up front stays below about 49 MB of table (5M
        // values, the users of 2.6 GB of XML at four values each); a larger feed grows the
        // index as it is read.
        const MAX_VALUES: usize = 5_000_000;
        let users = usize::try_from(bytes / BYTES_PER_USER)
            .unwrap_or(usize::MAX)
            .min(MAX_VALUES / VALUES_PER_USER);
        self.index
            .reserve_values(users, users.saturating_mul(VALUES_PER_USER));
    }

    /// Checks one user (record and feed level) and returns its findings, each with the
    /// user's primary id and, when given, the user's position.
    pub fn check_user(&mut self, user: &User, at: Option<Position>) -> Vec<Finding> {
        self.check_user_at(user, at, &[])
    }

    /// [`Checker::check_user`] for a user the writer has rendered without error: the same
    /// findings, without checking the values' characters again (see
    /// [`alma_user_model::validate_rendered`]).
    pub fn check_rendered_user(&mut self, user: &User) -> Vec<Finding> {
        let findings = alma_user_model::validate_rendered(user, &self.options.validation);
        self.checked_user(user, None, &[], findings)
    }

    /// [`Checker::check_user`] for a user read from a file: findings about a segment are
    /// placed at the segment (`segments`), the rest at the user.
    fn check_user_at(
        &mut self,
        user: &User,
        at: Option<Position>,
        segments: &[SegmentAt],
    ) -> Vec<Finding> {
        let findings = alma_user_model::validate(user, &self.options.validation);
        self.checked_user(user, at, segments, findings)
    }

    /// The feed and record checks after validation.
    fn checked_user(
        &mut self,
        user: &User,
        at: Option<Position>,
        segments: &[SegmentAt],
        mut findings: Vec<Finding>,
    ) -> Vec<Finding> {
        let feed_user = FeedUser::of(&self.options.match_id, user);
        let mut keys = std::mem::take(&mut self.keys);
        keys.clear();
        feed_user.keys(&mut keys);
        // The user's table slots, fetched from memory together (the fast path fetches a
        // whole batch's before it finishes any, see `parallel`).
        self.index.prefetch(keys.iter());
        self.feed_checks(feed_user, &keys, at, &mut findings);
        self.keys = keys;
        record_checks(self.options, user, &mut findings);
        self.finish_user_findings(&user.primary_id, at, segments, &mut findings);
        findings
    }

    /// Fills in the user's primary id and the position (the segment's a finding is about,
    /// else the user's) and counts the user.
    fn finish_user_findings(
        &mut self,
        primary_id: &str,
        at: Option<Position>,
        segments: &[SegmentAt],
        findings: &mut [Finding],
    ) {
        for f in findings.iter_mut() {
            if f.primary_id.is_none() {
                f.primary_id = Some(primary_id.to_owned());
            }
            if f.position.is_none() {
                let segment = f
                    .field
                    .as_deref()
                    .and_then(|field| segments.iter().find(|s| s.holds(field)));
                f.position = segment.map(|s| s.position).or(at);
            }
        }
        self.summary.users += 1;
        if findings.iter().any(|f| f.severity == Severity::Error) {
            self.summary.users_with_errors += 1;
        }
    }

    /// Registers the user in the feed index and claims its match ID and identifiers;
    /// `keys` are the keys of its primary id and identifiers ([`FeedUser::keys`]).
    fn feed_checks<'u>(
        &mut self,
        user: FeedUser<'u, impl Iterator<Item = (&'u str, &'u str)> + Clone>,
        keys: &[u64],
        at: Option<Position>,
        findings: &mut Vec<Finding>,
    ) {
        let source = u32::try_from(self.sources.len().saturating_sub(1)).unwrap_or(u32::MAX);
        let seen = Seen {
            source,
            line: at.map_or(0, |p| p.line),
        };
        let ordinal = self.index.add_user(user.primary_id, seen);
        let ids = user.ids();
        let match_key = user.matched.map(|(value, index)| {
            let at = index.map_or(0, |n| n + 1);
            keys.get(at).copied().unwrap_or_else(|| feed::id_key(value))
        });
        match (user.matched, match_key) {
            (Some((match_value, match_index)), Some(match_key)) => {
                let match_field =
                    || match_index.map_or_else(|| "primary_id".to_owned(), identifier_field);
                match self.index.claim(match_key, ordinal, true) {
                    Some(first) if first.as_match_id => findings.push(
                        Finding::new(
                            codes::DUP_MATCH_ID,
                            Severity::Error,
                            format!(
                                "match ID {match_value:?} ({}) was already used by user {} \
                                 ({}); Alma loads the first and rejects this one: merge the \
                                 two records in the extract or fix the duplicate id",
                                self.options.match_id.describe(),
                                first.primary_id,
                                self.describe_seen(first.seen)
                            ),
                        )
                        .at_field(match_field()),
                    ),
                    Some(first) => findings.push(self.taken(
                        self.options.match_id.describe(),
                        match_field(),
                        match_value,
                        &first,
                    )),
                    None => {}
                }
            }
            _ => findings.push(Finding::new(
                codes::NO_MATCH_ID,
                Severity::Error,
                format!(
                    "no {} to match on: Alma's integration profile matches users on it and \
                     cannot update this user; send it for every user",
                    self.options.match_id.describe()
                ),
            )),
        }
        // Every identifier value except the match ID (claimed already).
        for (i, (n, id_type, value)) in ids.enumerate() {
            if value.trim().is_empty() {
                continue;
            }
            let key = keys.get(i).copied().unwrap_or_else(|| feed::id_key(value));
            if Some(key) == match_key {
                continue;
            }
            if let Some(first) = self.index.claim(key, ordinal, false) {
                let field = n.map_or_else(|| "primary_id".to_owned(), identifier_field);
                findings.push(self.taken(format!("type {id_type}"), field, value, &first));
            }
        }
    }

    fn taken(&self, kind: String, field: String, value: &str, first: &feed::FirstUse) -> Finding {
        Finding::new(
            codes::ID_TAKEN_IN_FEED,
            Severity::Error,
            format!(
                "identifier ({kind}) value {value:?} is already taken in this feed by user {} \
                 ({}); Alma keeps the first and rejects this user: make identifiers unique \
                 (case-insensitive, across types)",
                first.primary_id,
                self.describe_seen(first.seen)
            ),
        )
        .at_field(field)
    }

    fn describe_seen(&self, seen: Seen) -> String {
        let file = self
            .sources
            .get(seen.source as usize)
            .map_or("this run", String::as_str);
        if seen.line > 0 {
            format!("{file} line {}", seen.line)
        } else {
            file.to_owned()
        }
    }

    fn emit(&mut self, file: &str, entry: Option<&str>, finding: Finding) {
        match finding.severity {
            Severity::Error => self.summary.errors += 1,
            Severity::Warning => self.summary.warnings += 1,
            Severity::Info => {}
        }
        (self.sink)(CheckFinding {
            file: file.to_owned(),
            entry: entry.map(str::to_owned),
            finding,
        });
    }

    /// Checks a `.zip`, a folder of zips or an `.xml` file. Findings go to the sink;
    /// only an unreadable path is an error.
    pub fn check_path(&mut self, path: &Path) -> Result<(), CheckError> {
        self.check_path_as(path, false)
    }

    /// Checks the `.zip` files of a work directory, where the files a run keeps beside its
    /// zips (reports, manifest, run state) are not findings: only the zips are looked at.
    pub fn check_work_dir(&mut self, path: &Path) -> Result<(), CheckError> {
        self.check_path_as(path, true)
    }

    fn check_path_as(&mut self, path: &Path, zips_only: bool) -> Result<(), CheckError> {
        let io_err = |source| CheckError::Io {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io_err)?;
        if meta.is_dir() {
            let mut names: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(io_err)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            names.sort();
            let display = path.display().to_string();
            let zips: Vec<&PathBuf> = names.iter().filter(|p| has_ext(p, "zip")).collect();
            if zips.is_empty() {
                self.emit(
                    &display,
                    None,
                    Finding::new(
                        codes::NO_ZIP,
                        Severity::Error,
                        "no .zip file in this folder; Alma only fetches zipped XML: zip the \
                         user XML files (deflate) and name them *.zip",
                    ),
                );
            }
            for p in names.iter().filter(|_| !zips_only) {
                if !has_ext(p, "zip") {
                    self.emit(
                        &p.display().to_string(),
                        None,
                        Finding::new(
                            codes::IGNORED_FILE,
                            Severity::Warning,
                            "not a .zip; Alma ignores it in the SIS folder",
                        ),
                    );
                }
            }
            for p in zips {
                self.check_file(p)?;
            }
            return Ok(());
        }
        self.check_file(path)
    }

    fn check_file(&mut self, path: &Path) -> Result<(), CheckError> {
        let display = path.display().to_string();
        let io_err = |source| CheckError::Io {
            path: path.to_owned(),
            source,
        };
        self.summary.files += 1;
        let mut file = File::open(path).map_err(io_err)?;
        let mut magic = [0u8; 4];
        let n = read_up_to(&mut file, &mut magic).map_err(io_err)?;
        let looks_zip = n == 4 && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06");
        if has_ext(path, "zip") && !looks_zip && looks_like_xml(path) {
            self.emit(
                &display,
                None,
                Finding::new(
                    codes::NOT_ZIP,
                    Severity::Error,
                    "this is an XML file, not a zip (Java's ZipFile: \"zip END header not \
                     found\"): zip it (deflate) and deliver the zip; its XML is checked below",
                ),
            );
            self.reserve_for_bytes(std::fs::metadata(path).map_or(0, |m| m.len()));
            return self
                .check_document(&display, None, DocumentSource::File(path))
                .map_err(io_err);
        }
        if has_ext(path, "zip") || looks_zip {
            if !has_ext(path, "zip") {
                self.emit(
                    &display,
                    None,
                    Finding::new(
                        codes::NOT_ZIP,
                        Severity::Error,
                        "a zip without the .zip extension; Alma only picks up *.zip: rename it",
                    ),
                );
            }
            return self.check_zip(path, &display, file);
        }
        if !has_ext(path, "xml") {
            self.emit(
                &display,
                None,
                Finding::new(
                    codes::NOT_ZIP,
                    Severity::Error,
                    "neither a .zip nor an .xml file; Alma loads zipped user XML",
                ),
            );
            return Ok(());
        }
        self.emit(
            &display,
            None,
            Finding::new(
                codes::NOT_ZIPPED,
                Severity::Warning,
                "a bare XML file; Alma only loads zips (\"Could not parse file\"): zip it \
                 (deflate) before delivery",
            ),
        );
        self.reserve_for_bytes(std::fs::metadata(path).map_or(0, |m| m.len()));
        self.check_document(&display, None, DocumentSource::File(path))
            .map_err(io_err)
    }

    /// Reads one XML document through the guard and checks every user in it: on several
    /// threads when the fast reader vouches for the document ([`parallel`]), else (or from
    /// where it stopped vouching) with the full reader. Findings are the same either way.
    fn check_document(
        &mut self,
        file: &str,
        entry: Option<&str>,
        mut source: DocumentSource<'_>,
    ) -> io::Result<()> {
        self.summary.documents += 1;
        // Where its users were read, as findings name it (`file.zip!entry.xml`).
        self.sources.push(match entry {
            Some(entry) => format!("{file}!{entry}"),
            None => file.to_owned(),
        });
        {
            let mut log = self.log.borrow_mut();
            log.limited = false;
            log.byte_limit = false;
        }
        let done = if self.fast {
            match self.check_document_fast(file, entry, source.open()?) {
                Ok(()) => {
                    #[cfg(test)]
                    {
                        self.fast_documents += 1;
                    }
                    return Ok(());
                }
                Err(done) => done,
            }
        } else {
            0
        };
        self.check_document_serial(file, entry, source.open()?, done);
        Ok(())
    }

    /// The full reader on this thread; the first `done` steps (file events, then one per
    /// user finished) were taken on the fast path already and are only replayed.
    fn check_document_serial(
        &mut self,
        file: &str,
        entry: Option<&str>,
        input: impl Read,
        done: usize,
    ) {
        {
            let mut log = self.log.borrow_mut();
            log.events.clear();
            log.dropped = guard::Dropped::default();
            log.limited = false;
            log.byte_limit = false;
        }
        let guard = Guard::new(input, Rc::clone(&self.log), self.guard_limits());
        let mut reader = alma_user_model::UserReader::new(BufReader::with_capacity(
            alma_user_model::read::READ_SIZE,
            guard,
        ));
        let mut pending: Option<ReadUser> = None;
        let mut failed = None;
        let mut steps = 0usize;
        for item in reader.by_ref() {
            match item {
                Ok(read) => {
                    let events = self.take_events(Some(read.start_offset));
                    if steps >= done {
                        match pending.take() {
                            Some(prev) => self.finish_read_user(file, entry, prev, events),
                            None => self.file_events(file, entry, events),
                        }
                    }
                    steps += 1;
                    pending = Some(read);
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let events = self.take_events(None);
        let limit_hit = self.log.borrow().limited;
        match pending {
            Some(prev) => self.finish_read_user(file, entry, prev, events),
            None => self.file_events(file, entry, events),
        }
        for finding in reader.document_findings().to_vec() {
            self.emit(file, entry, finding);
        }
        if let Some(e) = failed {
            // A guard limit ends the input on purpose; the reader's complaint about the
            // cut-off document would only repeat it.
            if !limit_hit {
                self.emit(file, entry, read_error_finding(&e));
            }
        }
        let dropped = std::mem::take(&mut self.log.borrow_mut().dropped);
        // Each kind under its own code; where the input stopped is listed above.
        let until = if limit_hit {
            " before where reading stopped"
        } else {
            ""
        };
        for (code, n, what) in [
            (
                codes::UTF8,
                dropped.utf8,
                "byte sequences that are not UTF-8",
            ),
            (codes::CHAR, dropped.chars, "characters XML 1.0 forbids"),
        ] {
            if n > 0 {
                self.emit(
                    file,
                    entry,
                    Finding::new(
                        code,
                        Severity::Error,
                        format!(
                            "{n} more {what}{until} not listed (at most {} byte-level problems \
                             in a row are)",
                            guard::MAX_EVENTS
                        ),
                    ),
                );
            }
        }
    }

    fn guard_limits(&self) -> GuardLimits {
        let limits = self.options.limits;
        GuardLimits {
            entry: limits.max_entry_bytes,
            total: limits.max_total_bytes,
            token: limits.max_token_bytes,
        }
    }

    /// Guard events before `offset` (all of them when `None`).
    fn take_events(&mut self, before: Option<u64>) -> Vec<GuardEvent> {
        let mut log = self.log.borrow_mut();
        let split = before.map_or(log.events.len(), |b| {
            log.events.partition_point(|e| e.offset < b)
        });
        log.events.drain(..split).collect()
    }

    fn file_events(&mut self, file: &str, entry: Option<&str>, events: Vec<GuardEvent>) {
        for e in events {
            let finding = event_finding(e, &self.options.limits);
            self.emit(file, entry, finding);
        }
    }

    fn finish_read_user(
        &mut self,
        file: &str,
        entry: Option<&str>,
        read: ReadUser,
        events: Vec<GuardEvent>,
    ) {
        let mut findings = read.findings;
        let blanked = blanked_fields(&findings);
        findings.extend(blanked);
        let user = &read.user;
        self.finish_user(
            file,
            entry,
            read.position,
            &user.primary_id,
            findings,
            events,
            |c| c.check_user_at(user, Some(read.position), &read.segments),
        );
    }

    /// Emits one user's findings: the reader's (with `W-BLANKS-FIELD`), the guard's
    /// `events` in the user, then `record`'s (its [`Checker::check_user`] findings).
    #[allow(clippy::too_many_arguments)]
    fn finish_user(
        &mut self,
        file: &str,
        entry: Option<&str>,
        position: Position,
        primary_id: &str,
        mut findings: Vec<Finding>,
        events: Vec<GuardEvent>,
        record: impl FnOnce(&mut Self) -> Vec<Finding>,
    ) {
        let at = Some(position);
        let raw_char = events
            .iter()
            .any(|e| matches!(e.kind, GuardEventKind::IllegalChar(_)));
        // Where Java stops parsing (or a limit stopped the input), the user is cut short: its
        // other findings would be about the missing rest.
        for e in events {
            findings.push(event_finding(e, &self.options.limits));
        }
        let read_error = findings.iter().any(|f| f.severity == Severity::Error);
        let mut record = record(self);
        if read_error && record.iter().all(|f| f.severity != Severity::Error) {
            self.summary.users_with_errors += 1;
        }
        if raw_char {
            // The guard has the exact position of a raw control byte; validation's
            // finding for the same character would repeat it.
            record.retain(|f| f.code != codes::CHAR);
        }
        findings.extend(record);
        for mut f in findings {
            if f.primary_id.is_none() {
                f.primary_id = Some(primary_id.to_owned());
            }
            if f.position.is_none() {
                f.position = at;
            }
            self.emit(file, entry, f);
        }
    }
}

/// Where a document comes from, to open it (again, when the fast path stops vouching).
enum DocumentSource<'a> {
    /// A zip entry's data, read from the zip at `path`, its progress in `stats`.
    Entry {
        path: &'a Path,
        key: zipread::ReadingKey,
        stats: std::sync::Arc<std::sync::Mutex<zipread::ReadStats>>,
    },
    /// A bare file.
    File(&'a Path),
}

impl DocumentSource<'_> {
    fn open(&mut self) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(match self {
            DocumentSource::Entry { path, key, stats } => Box::new(zipread::Reading::open(
                path,
                *key,
                std::sync::Arc::clone(stats),
            )?),
            DocumentSource::File(path) => Box::new(File::open(path)?),
        })
    }
}

/// `W-BLANKS-FIELD` for each core field the reader found present but empty.
fn blanked_fields(findings: &[Finding]) -> Vec<Finding> {
    findings
        .iter()
        .filter(|f| f.code == "I-EMPTY-ELEMENT")
        .filter_map(|f| {
            let field = f.field.as_deref().filter(|p| CORE_FIELDS.contains(p))?;
            let element = field.rsplit('/').next().unwrap_or(field);
            let mut blank = Finding::new(
                codes::BLANKS_FIELD,
                Severity::Warning,
                format!(
                    "<{element}> is sent empty; with swap-all, Alma clears the value it has for \
                     this user: send the value, or leave the element out if that is meant"
                ),
            )
            .at_field(field);
            blank.position = f.position;
            Some(blank)
        })
        .collect()
}

fn read_error_finding(e: &ReadError) -> Finding {
    let (code, line, column) = match e {
        ReadError::Malformed { line, column, .. } => (codes::XML, *line, *column),
        ReadError::NotUtf8 { line, column, .. } => (codes::UTF8, *line, *column),
        ReadError::Io { line, .. } => (codes::XML, *line, 1),
    };
    Finding::new(
        code,
        Severity::Error,
        format!(
            "{e}; Alma rejects the whole file (\"Could not parse file\"): fix the program \
             that wrote it"
        ),
    )
    .at(line, column)
}

/// What the feed checks read of one user: its primary id, its match ID (the value and the
/// index of the identifier it came from, `None` for the primary id) and its identifiers'
/// (type, value) in document order.
struct FeedUser<'u, I> {
    primary_id: &'u str,
    matched: Option<(&'u str, Option<usize>)>,
    identifiers: I,
}

impl<'u, I: Iterator<Item = (&'u str, &'u str)> + Clone> FeedUser<'u, I> {
    /// The primary id, then every identifier: (its index, type, value).
    fn ids(&self) -> impl Iterator<Item = (Option<usize>, &'u str, &'u str)> + Clone + use<'u, I> {
        std::iter::once((None, "primary_id", self.primary_id)).chain(
            self.identifiers
                .clone()
                .enumerate()
                .map(|(n, (id_type, value))| (Some(n), id_type, value)),
        )
    }

    /// The keys ([`feed::id_key`]) of the primary id and every identifier, in the order of
    /// [`FeedUser::ids`], appended to `keys`.
    fn keys(&self, keys: &mut Vec<u64>) {
        keys.extend(self.ids().map(|(_, _, value)| feed::id_key(value)));
    }
}

impl<'u> FeedUser<'u, ()> {
    fn of(
        match_id: &MatchId,
        user: &'u User,
    ) -> FeedUser<'u, impl Iterator<Item = (&'u str, &'u str)> + Clone + use<'u>> {
        FeedUser {
            primary_id: &user.primary_id,
            matched: match_id.locate(user),
            identifiers: user
                .user_identifiers
                .iter()
                .map(|i| (i.id_type.code.as_str(), i.value.as_str())),
        }
    }
}

/// The record-level checks after validation and the feed checks: the mandatory-field
/// profile, preferred segments and swap-all blanks. They need no feed state.
fn record_checks(options: &CheckOptions, user: &User, findings: &mut Vec<Finding>) {
    if let Some(profile) = &options.profile {
        for (field, what) in profile.missing(user) {
            findings.push(
                Finding::new(
                    codes::MANDATORY,
                    Severity::Error,
                    format!(
                        "the {} profile requires {what}; add it in the source system or the \
                         mapping",
                        profile.name
                    ),
                )
                .at_field(field),
            );
        }
    }
    preferred_warnings(user, findings);
    date_warnings(user, findings);
    if let Some(previous) = &options.previous {
        findings.extend(previous.blanked(user, &options.match_id));
    }
}

/// The field path of the `n`th identifier's value, as record validation writes it.
fn identifier_field(n: usize) -> String {
    format!("user_identifiers/user_identifier[{n}]/value")
}

fn event_finding(e: GuardEvent, limits: &Limits) -> Finding {
    let (code, severity, message) = match e.kind {
        GuardEventKind::Bom => (
            codes::BOM,
            Severity::Warning,
            "a UTF-8 byte-order mark before <?xml; Alma's Java parser skips it, some other \
             tools do not: write UTF-8 without BOM"
                .to_owned(),
        ),
        GuardEventKind::Encoding {
            code,
            severity,
            message,
        } => (code, severity, message),
        GuardEventKind::InvalidUtf8(b) => (
            codes::UTF8,
            Severity::Error,
            format!(
                "byte 0x{b:02X} is not UTF-8 (\"Invalid byte 1 of 1-byte UTF-8 sequence\"); \
                 Alma aborts the whole file: the source is probably Windows-1252 or Latin-1, \
                 convert it to UTF-8"
            ),
        ),
        GuardEventKind::IllegalChar(c) => (
            codes::CHAR,
            Severity::Error,
            format!(
                "character U+{c:04X} is not allowed in XML 1.0 (\"An invalid XML character \
                 (Unicode: 0x{c:x}) was found\"); Alma aborts the whole file: remove it at the \
                 source or in the mapping"
            ),
        ),
        GuardEventKind::EntryLimit => (
            codes::LIMIT,
            Severity::Error,
            format!(
                "more than {} uncompressed bytes (check.max_entry_bytes); the rest was not \
                 read: a zip bomb, or split the file",
                limits.max_entry_bytes
            ),
        ),
        GuardEventKind::TotalLimit => (
            codes::LIMIT,
            Severity::Error,
            format!(
                "more than {} uncompressed bytes in total (check.max_total_bytes); the rest \
                 was not read",
                limits.max_total_bytes
            ),
        ),
        GuardEventKind::TokenLimit(what) => (
            codes::LIMIT,
            Severity::Error,
            if what.starts_with("comment") {
                format!(
                    "a {what} longer than {} bytes ({}x check.max_token_bytes); the rest was \
                     not read",
                    limits
                        .max_token_bytes
                        .saturating_mul(xmlscan::COMMENT_FACTOR),
                    xmlscan::COMMENT_FACTOR
                )
            } else {
                format!(
                    "a {what} longer than {} bytes (check.max_token_bytes); the rest was not \
                     read: no Alma field is that long",
                    limits.max_token_bytes
                )
            },
        ),
        GuardEventKind::Xml(error) => (error.code, Severity::Error, error.message),
    };
    Finding::new(code, severity, message).at(e.line, e.column)
}

/// The dates that decide when Alma expires and purges the user: a purge date before the
/// expiry date, and no expiry date at all.
fn date_warnings(user: &User, findings: &mut Vec<Finding>) {
    match (user.expiry_date, user.purge_date) {
        (Some(expiry), Some(purge)) if purge < expiry => findings.push(
            Finding::new(
                codes::PURGE_BEFORE_EXPIRY,
                Severity::Warning,
                format!(
                    "purge_date {purge} is before expiry_date {expiry}: Alma's \"Purge users\" \
                     job can delete the user, with their loans and fines history, while the \
                     account is still valid; set the purge date after the expiry date"
                ),
            )
            .at_field("purge_date"),
        ),
        (None, _) => findings.push(
            Finding::new(
                codes::NO_EXPIRY,
                Severity::Warning,
                "no expiry_date: Alma gives the user the expiry its user group is configured \
                 with, or none, and then never expires them; send an expiry date",
            )
            .at_field("expiry_date"),
        ),
        _ => {}
    }
}

/// Record validation warns when emails exist and none is preferred; no email at all means
/// Alma has nowhere to send notices.
fn preferred_warnings(user: &User, findings: &mut Vec<Finding>) {
    if user.contact_info.emails.is_empty() {
        findings.push(
            Finding::new(
                codes::NO_PREFERRED_EMAIL,
                Severity::Warning,
                "no email: Alma cannot send this user notices; add one marked \
                 preferred=\"true\" if the source system has it",
            )
            .at_field("contact_info/emails"),
        );
    }
}

/// Whether the file starts (after a byte-order mark and whitespace) like XML.
fn looks_like_xml(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let n = File::open(path)
        .and_then(|mut f| read_up_to(&mut f, &mut head))
        .unwrap_or(0);
    let head = &head[..n];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace());
    start.is_some_and(|i| head[i] == b'<')
}

fn has_ext(path: &Path, ext: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

pub(crate) fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
