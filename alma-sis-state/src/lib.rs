//! [`StateStore`] is alma-sis' run state: what each feed sent, person by person (or course by
//! course), and every run; its [`Planner`] decides whom a patron run sends, and [`FeedLock`]
//! keeps two runs of a feed apart. This is the only crate of the workspace that uses SQLite.
//!
//! One SQLite file (mode 0600, as are its `-wal` and `-shm` companions) holds every feed;
//! each row is namespaced by a feed name. Items are keyed by a match id and carry a content
//! hash, the dates they were first seen, last seen and last sent, the hash of the person's
//! raw input rows ([`RawHash`]) and the last payload sent (the rendered `<user>` of a
//! patron; JSON for other feeds), so someone who vanishes can be re-sent expired. Runs
//! record their time, config hash, counts, files, destination and outcome. Two dates are
//! kept once a feed where they would change on every item every night: a present item was
//! last seen by the feed's last complete run (`feeds.last_seen`) when that is later than its
//! own date, and one may say it was last sent by the feed's last complete full run
//! (`last_sent` -1, `feeds.full_sent`), so a full run writes no item of someone
//! unchanged since the full run before.
//!
//! The layout is compact (from schema version 3 on, under 300 bytes a patron where version 1 took
//! 2.5-2.9 kB): each item once, in a `WITHOUT ROWID` table keyed by feed and key; dates as day
//! numbers; 96 bits of the content hash; the payload compressed against a dictionary that
//! the file keeps (built once from the first users it stores, with only the values several
//! of them share, so it holds no one person's data) and that every payload names by id: each
//! line a number into the dictionary's shared lines or tag templates plus the text between
//! the tags, deflated. A file of an earlier version is upgraded when opened (version 2, whose
//! payloads are deflated whole against a plain dictionary, keeps them and is read as it is).
//!
//! A delta run need not map people whose input rows did not change: the caller gives each
//! person's [`RawHash`] and the basis it was taken under ([`Planner::set_raw_basis`]: the
//! hash's version, the config, the lookups), and [`Planner::skip_unchanged`] takes a person
//! whose item was last recorded with the same hash, under the same basis, as unchanged.
//! A new basis drops every recorded raw-row hash and records them again.
//!
//! The patron feed is planned by a streaming [`Planner`] ([`StateStore::planner`]): users
//! pass one at a time against a compact index of the known items, and every item write of
//! the run goes into one SQLite transaction that [`PlannedRun::commit`] commits once the
//! files are delivered. Other feeds record with [`StateStore::finish_run`], also one
//! transaction. Either way a run killed before it commits leaves the state as the last
//! finished run left it. [`FeedLock`] keeps two runs of one feed from overlapping.
//!
//! The file is in WAL mode: readers (`alma-sis history` in another process) keep working
//! while a run holds its write transaction, and a large transaction spills to the WAL, not
//! to memory. A run's pages are written twice (to the WAL, then by the checkpoint into the
//! file); with the compact layout that is a few hundred bytes a person on a first load, and
//! on a nightly run only the pages of the people who changed (and of the vanished and
//! rejected).
//!
//! Nothing here reads the clock: every date and time is an argument.
//!
//! ```
//! use alma_sis_state::{
//!     BrakeLimits, ContentHash, FeedLock, LoadMode, PlanOptions, StateStore, VanishedPolicy,
//! };
//! use alma_user_model::{MatchId, User};
//! use chrono::NaiveDate;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("state.sqlite");
//! let _lock = FeedLock::acquire(&path, "patrons")?;
//! let mut store = StateStore::open(&path)?;
//! let options = PlanOptions {
//!     match_id: MatchId::PrimaryId,
//!     mode: LoadMode::Delta,
//!     vanished: VanishedPolicy::Expire { grace_days: 0 },
//!     vanished_runs: 3,
//!     refresh_days: 30,
//!     brake: BrakeLimits::default(),
//!     partial: false,
//! };
//! let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
//! let mut planner = store.planner("patrons", &options, today)?;
//! let user = User::new("jdoe");
//! let mut xml = Vec::new();
//! let hash = ContentHash::render_user(&user, &mut xml)?;
//! assert!(planner.observe(&user, hash, &xml)?.send);
//! let planned = planner.finish()?;
//! assert_eq!(planned.counts.new, 1);
//! drop(planned); // not delivered: nothing recorded
//! assert!(store.snapshot("patrons")?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod codec;
pub mod courses;
mod delivery;
mod guard;
mod identity;
mod index;
mod migrate;
mod plan;
mod primed;
mod stored;
mod users;
mod vanished;

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use alma_user_model::{MovingDates, User, WriteError, render_user_marked};
use chrono::{DateTime, Datelike as _, FixedOffset, NaiveDate};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use codec::{PackedPayload, PayloadPacker};
pub use delivery::{HeldBack, RecordedFile, RunFile};
pub use guard::{Held, WaitNotice, WaitPolicy, Waiting};
pub use identity::{Claim, Owner};
pub use plan::{Located, PlannedRun, Planner, Preloaded, ProbedItem, SkipProbe};
pub use users::{
    BrakeLimits, BrakeReading, Class, LoadMode, PlanOptions, VanishedAction, VanishedPolicy,
    VanishedUser, Verdict,
};
pub use vanished::{IfMissing, PurgePolicy, PurgeRule, VanishedDates};

/// The schema version this code writes (`PRAGMA user_version`): 5, the compact layout
/// (see [`SCHEMA`]) whose payloads may be templated ([`codec`]), whose users' content
/// hashes may be XXH3-128 ([`HashKind`], told apart by their length), and whose items may
/// say they were sent by their feed's last full run ([`SENT_BY_LAST_FULL_RUN`]). 4, 3 and 2
/// have the same tables but for `feeds.full_sent`, which 5 adds on open; 3's code reads only
/// SHA-256 hashes and 2's only plain dictionaries, and 4's would take a `last_sent` of
/// [`SENT_BY_LAST_FULL_RUN`] for a date, so such a file is renumbered on open (what it
/// stores stays as it is and is read as before; a program that knows only an earlier
/// version then refuses the file rather than misread it); 1 stored dates as text, full
/// hashes and payloads as text, keys four times (it is upgraded on open).
const SCHEMA_VERSION: i64 = 5;

/// The versions with [`SCHEMA_VERSION`]'s tables but for `feeds.full_sent`: 2 (plain
/// dictionaries only), 3 (SHA-256 content hashes only) and 4.
const SAME_TABLES_SCHEMA_VERSIONS: [i64; 3] = [2, 3, 4];

/// An item's `last_sent` that says "the day of the feed's last full run"
/// (`feeds.full_sent`). A complete full run sends everyone in the extract, and a person
/// unchanged since the full run before needs nothing else written: so such a run leaves
/// their item as it is, rather than rewrite a million items (each a page of the file, twice
/// through the WAL and the checkpoint) only to move their `last_sent` by a day. Only a
/// present item says it; one the run does not send (rejected today, vanished, put back
/// because its zip did not arrive) gets the date itself first, so a present item with this
/// value was sent by every complete full run since it was written.
pub(crate) const SENT_BY_LAST_FULL_RUN: i64 = -1;

/// `last_sent` of items `i` as a day number, given the feed's row `f`: see
/// [`SENT_BY_LAST_FULL_RUN`].
pub(crate) const LAST_SENT_SQL: &str =
    "CASE WHEN i.last_sent = -1 THEN f.full_sent ELSE i.last_sent END";

/// The layout: each item once, keyed by feed and key (`WITHOUT ROWID`: the key is stored
/// once, in the table's own b-tree); dates as days since 1970-01-01; the content hash's
/// first [`ContentHash::STORED`] bytes; the raw-row hash of the person's input rows
/// (`raw`, see [`RawHash`]); the last payload sent in `payloads`, compressed
/// ([`codec`]), found through the item's `pid` (a rowid table: payloads are appended, so
/// its pages are full, and a re-key never moves them).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    feed TEXT NOT NULL,
    key TEXT NOT NULL,
    hash BLOB NOT NULL,
    expires INTEGER,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    last_sent INTEGER,
    status TEXT NOT NULL,
    status_since INTEGER,
    sends INTEGER NOT NULL DEFAULT 0,
    raw INTEGER,
    pid INTEGER,
    PRIMARY KEY (feed, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS payloads (
    id INTEGER PRIMARY KEY,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS dictionaries (
    id INTEGER PRIMARY KEY,
    bytes BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS feeds (
    feed TEXT PRIMARY KEY,
    last_seen INTEGER NOT NULL,
    raw_basis BLOB,
    full_sent INTEGER
);
";

/// The runs, unchanged since schema version 1.
const RUNS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    feed TEXT NOT NULL,
    started TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    mode TEXT NOT NULL,
    partial INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    eligible INTEGER NOT NULL DEFAULT 0,
    sent INTEGER NOT NULL DEFAULT 0,
    new INTEGER NOT NULL DEFAULT 0,
    changed INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    returned INTEGER NOT NULL DEFAULT 0,
    refreshed INTEGER NOT NULL DEFAULT 0,
    vanished INTEGER NOT NULL DEFAULT 0,
    retired INTEGER NOT NULL DEFAULT 0,
    files TEXT NOT NULL DEFAULT '[]',
    destination TEXT,
    message TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_feed ON runs (feed, id);
";

/// `PRAGMA synchronous` in WAL mode. NORMAL: a commit is durable once it is in the WAL
/// (the operating system's cache), so a killed process loses nothing committed and an
/// interrupted run loses everything uncommitted; only a power cut or kernel crash between a
/// commit and the next checkpoint (which syncs) can undo that last run, leaving the file
/// consistent at the run before, and the next run then sends that run's changes again,
/// which Alma takes as the same update. FULL would add an fsync to every commit (a run
/// makes three) for no other gain.
const SYNCHRONOUS: &str = "NORMAL";

/// The page size of a new state file.
const PAGE_SIZE: u32 = 16 * 1024;

/// SQLite's page cache outside a run, and its least size during one, in KiB.
const CACHE_FLOOR_KIB: usize = 8 * 1024;

/// The least page cache a run's planner gets, in KiB: a run writes its items in row order,
/// so a small cache costs little, and the run's peak memory is what a large feed feels.
const RUN_CACHE_FLOOR_KIB: usize = 4 * 1024;

/// What a run's planner may hold, in KiB: the index of the known items plus SQLite's page
/// cache, which gets what the index leaves (at least [`RUN_CACHE_FLOOR_KIB`]). A first load
/// (empty index) gets all of it and fills it with the pages of its one transaction. Its time
/// does not follow the cache: a million-user first load took as long with 6 MiB as with 16
/// MiB, in key order (0.98 of the time, 4 pairs) and in random key order (1.00, 4 pairs),
/// and peaked 11 MB lower (2026-12-06, docs/performance.md); 16 against 28 MiB had shown the
/// same before.
const PLAN_BUDGET_KIB: usize = 6 * 1024;

/// The WAL file is truncated to this size after a checkpoint (bytes).
const WAL_LIMIT: u64 = 64 * 1024 * 1024;

/// How long a writer waits for another writer of the same file (another feed's run holds
/// the write lock from its planner to its commit).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state file or a lock file could not be created or opened.
    #[error("cannot open state file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed while doing `action`.
    #[error("state file {path}: cannot {action}")]
    Sql {
        /// The state file.
        path: PathBuf,
        /// What was being done, e.g. "read the items of feed patrons".
        action: String,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// Another run of the same feed holds the lock.
    #[error(
        "another run of feed {feed:?} is in progress (it holds {lock_path}); wait for it to finish"
    )]
    Locked {
        /// The feed.
        feed: String,
        /// The lock file.
        lock_path: PathBuf,
    },
    /// The file was written by a newer alma-sis.
    #[error("state file {path} has schema version {found}; this alma-sis knows up to {known}")]
    NewerSchema {
        /// The state file.
        path: PathBuf,
        /// The version found.
        found: i64,
        /// The newest version this code knows.
        known: i64,
    },
    /// A stored value does not parse.
    #[error("state file {path}: feed {feed:?}, item {key:?}: {field} {value:?} is not valid")]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// The feed.
        feed: String,
        /// The item key (or run id).
        key: String,
        /// The column.
        field: &'static str,
        /// What was stored.
        value: String,
    },
    /// A stored or new payload is not the JSON expected.
    #[error("feed {feed:?}, item {key:?}: payload JSON")]
    Payload {
        /// The feed.
        feed: String,
        /// The item key.
        key: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A stored `<user>` payload does not read back.
    #[error("feed {feed:?}, item {key:?}: the stored user does not read back")]
    StoredUser {
        /// The feed.
        feed: String,
        /// The item key.
        key: String,
        /// The cause.
        #[source]
        source: alma_user_model::ReadError,
    },
    /// A user to plan has no value of the match id: the run state cannot know them (and
    /// Alma cannot match them).
    #[error("user {primary_id} has no {match_id} to match on")]
    NoMatchValue {
        /// The user's primary id.
        primary_id: String,
        /// The match id, described.
        match_id: String,
    },
    /// A user compared with an item a version before XXH3 recorded could not be rendered
    /// again to take the SHA-256 that item was recorded with.
    #[error("user {primary_id} cannot be rendered to compare with its recorded item")]
    Render {
        /// The user's primary id.
        primary_id: String,
        /// The cause.
        #[source]
        source: WriteError,
    },
    /// The brake tripped: the extract looks implausible next to the last successful run.
    #[error("{0}")]
    BrakeTripped(BrakeReading),
    /// The export could not be written.
    #[error("cannot write the export")]
    Export(#[source] std::io::Error),
    /// A symbolic link at the name of the state file, one of its companions or a lock file:
    /// links there are never followed.
    #[error(
        "{path} is a symbolic link: alma-sis does not follow links at the state file, its \
         companions (-wal, -shm) and lock files"
    )]
    Link {
        /// The link.
        path: PathBuf,
    },
    /// Something other than a regular file at the name of the state file or a lock file.
    #[error("{path} is not a regular file")]
    NotAFile {
        /// The name.
        path: PathBuf,
    },
    /// A wait for a busy feed lock or state file ran out.
    #[error("state file {path} is busy: {held} after {} ({what})", guard::secs(*limit))]
    Busy {
        /// The state file.
        path: PathBuf,
        /// What was held.
        held: Held,
        /// How long was waited.
        limit: std::time::Duration,
        /// The lock file, or what could not be done.
        what: String,
    },
    /// The state file belongs to another institution: copied from another site, or the
    /// config points at another site's file.
    #[error(
        "state file {path} belongs to institution {found:?} (feeds {}), not to {wanted:?}",
        feeds.join(", ")
    )]
    Foreign {
        /// The state file.
        path: PathBuf,
        /// The institution recorded in it.
        found: String,
        /// The feeds recorded in it.
        feeds: Vec<String>,
        /// The institution that tried to use it.
        wanted: String,
    },
    /// The state file records no owner (an earlier alma-sis wrote it) and no run of this
    /// feed in it used this config: it is adopted only on request
    /// ([`StateStore::adopt`]).
    #[error(
        "state file {path} does not record which institution and feed it belongs to (an \
         earlier alma-sis wrote it), and no run of feed {feed:?} recorded in it used this config"
    )]
    Unclaimed {
        /// The state file.
        path: PathBuf,
        /// The feed.
        feed: String,
    },
}

impl StateError {
    /// Whether this is a wait for a busy feed lock or state file that ran out (also when
    /// SQLite gave up waiting in the middle of a run).
    pub fn is_busy(&self) -> bool {
        match self {
            StateError::Busy { .. } | StateError::Locked { .. } => true,
            StateError::Sql { source, .. } => guard::is_busy(source),
            _ => false,
        }
    }
}

/// A SQLite failure while doing `action` on the state file at `path`.
fn sql_error(path: &Path, action: String, source: rusqlite::Error) -> StateError {
    StateError::Sql {
        path: path.to_owned(),
        action,
        source,
    }
}

/// The function a [`ContentHash`] was taken with. The state file tells them apart by the
/// length it keeps ([`ContentHash::stored`]): 12 bytes (or 32, before the compact layout)
/// for SHA-256, 16 for XXH3-128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashKind {
    /// SHA-256: course feeds' payloads, and users as versions before XXH3 recorded them.
    Sha256,
    /// XXH3-128: users ([`ContentHash::render_user`]). Not a cryptographic hash: the hash
    /// only ever compares one site's own data with itself (a person who could aim at a
    /// collision would only keep their own change from being sent), and it costs a tenth of
    /// SHA-256 on every user of every run.
    Xxh3,
}

/// A content hash. Two are equal when they are of the same kind and the bytes the state file
/// keeps ([`ContentHash::STORED`]) are: a hash read back from the state equals the one
/// computed. A user's hash may also carry the SHA-256 of the same bytes
/// ([`ContentHash::render_user_with_sha256`]), to compare with items earlier versions
/// recorded; equality leaves that out.
#[derive(Debug, Clone, Copy)]
pub struct ContentHash {
    kind: HashKind,
    /// SHA-256: all 32 bytes (or the kept ones, the rest zero); XXH3-128: 16, the rest zero.
    bytes: [u8; 32],
    /// For an XXH3 hash: the first [`ContentHash::STORED`] bytes of the SHA-256 of the same
    /// bytes, when they were taken too.
    sha256: Option<[u8; ContentHash::STORED]>,
}

impl PartialEq for ContentHash {
    fn eq(&self, other: &ContentHash) -> bool {
        self.kind == other.kind && self.stored() == other.stored()
    }
}

impl Eq for ContentHash {}

impl std::hash::Hash for ContentHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.stored().hash(state);
    }
}

/// Renders `user` and appends it to `out` as [`render_user_marked`] does, handing `hash`
/// the appended `<user>` element without the user's own expiry and purge date lines (the
/// ranges the writer marks), in order, in up to three parts.
fn render_hashed(
    user: &User,
    out: &mut Vec<u8>,
    mut hash: impl FnMut(&[u8]),
) -> Result<(), WriteError> {
    let start = out.len();
    let MovingDates { expiry, purge } = render_user_marked(user, out)?;
    let mut moving = [expiry, purge];
    moving.sort_by_key(|range| range.as_ref().map(|r| r.start));
    let mut hashed = start;
    for range in moving.into_iter().flatten() {
        hash(&out[hashed..range.start]);
        hashed = range.end;
    }
    hash(&out[hashed..]);
    Ok(())
}

impl ContentHash {
    /// The SHA-256 of `bytes` (what course feeds record).
    pub fn of(bytes: &[u8]) -> ContentHash {
        ContentHash::sha256(Sha256::digest(bytes).into())
    }

    /// The SHA-256 over the concatenation of `parts`.
    pub fn of_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> ContentHash {
        let mut sha = Sha256::new();
        for part in parts {
            sha.update(part);
        }
        ContentHash::sha256(sha.finalize().into())
    }

    /// The XXH3-128 of `bytes`.
    pub fn xxh3_of(bytes: &[u8]) -> ContentHash {
        ContentHash::xxh3(xxhash_rust::xxh3::xxh3_128(bytes))
    }

    fn sha256(bytes: [u8; 32]) -> ContentHash {
        ContentHash {
            kind: HashKind::Sha256,
            bytes,
            sha256: None,
        }
    }

    fn xxh3(digest: u128) -> ContentHash {
        let mut bytes = [0; 32];
        bytes[..16].copy_from_slice(&digest.to_be_bytes());
        ContentHash {
            kind: HashKind::Xxh3,
            bytes,
            sha256: None,
        }
    }

    /// Renders `user` and appends it to `out`, exactly as
    /// [`render_user`](alma_user_model::render_user) does, and returns its content hash: the
    /// XXH3-128 of the appended `<user>` element without the user's own `<expiry_date>` and
    /// `<purge_date>` lines, which move every day under a "today + N days" rule and are
    /// compared separately. The writer says where those lines are
    /// ([`render_user_marked`]), so nothing here guesses from the layout. Equal to the
    /// XXH3-128 of the user rendered with no expiry and purge date. `out` is left unchanged
    /// when the user cannot be written.
    pub fn render_user(user: &User, out: &mut Vec<u8>) -> Result<ContentHash, WriteError> {
        let mut xxh = xxhash_rust::xxh3::Xxh3Default::new();
        render_hashed(user, out, |part| xxh.update(part))?;
        Ok(ContentHash::xxh3(xxh.digest128()))
    }

    /// [`ContentHash::render_user`], also taking the SHA-256 of the same bytes: how versions
    /// before XXH3 hashed a user, so that an item they recorded can be compared (the
    /// planner takes it itself when a hash comes without it, rendering the user again).
    pub fn render_user_with_sha256(
        user: &User,
        out: &mut Vec<u8>,
    ) -> Result<ContentHash, WriteError> {
        let mut xxh = xxhash_rust::xxh3::Xxh3Default::new();
        let mut sha = Sha256::new();
        render_hashed(user, out, |part| {
            xxh.update(part);
            sha.update(part);
        })?;
        let mut hash = ContentHash::xxh3(xxh.digest128());
        let sha: [u8; 32] = sha.finalize().into();
        hash.sha256 = Some(std::array::from_fn(|i| sha[i]));
        Ok(hash)
    }

    /// Renders `user` into `out` as [`ContentHash::render_user`] does and returns the hash
    /// versions before XXH3 recorded for it: the SHA-256 of the same bytes.
    pub fn render_user_sha256(user: &User, out: &mut Vec<u8>) -> Result<ContentHash, WriteError> {
        let mut sha = Sha256::new();
        render_hashed(user, out, |part| sha.update(part))?;
        Ok(ContentHash::sha256(sha.finalize().into()))
    }

    /// The function it was taken with.
    pub fn kind(&self) -> HashKind {
        self.kind
    }

    /// Whether it carries the SHA-256 of the same bytes (an XXH3 hash taken with
    /// [`ContentHash::render_user_with_sha256`]), or is one.
    pub fn has_sha256(&self) -> bool {
        self.sha256_prefix::<{ ContentHash::STORED }>().is_some()
    }

    /// This XXH3 hash carrying the SHA-256 `sha` (of the same bytes); any other unchanged.
    pub(crate) fn with_sha256(mut self, sha: &ContentHash) -> ContentHash {
        if self.kind == HashKind::Xxh3 {
            self.sha256 = sha.sha256_prefix::<{ ContentHash::STORED }>();
        }
        self
    }

    /// The first `N` bytes of its SHA-256 (itself, or the one it carries), if known.
    pub(crate) fn sha256_prefix<const N: usize>(&self) -> Option<[u8; N]> {
        let bytes: &[u8] = match self.kind {
            HashKind::Sha256 => &self.bytes,
            HashKind::Xxh3 => self.sha256.as_ref()?,
        };
        Some(std::array::from_fn(|i| bytes[i]))
    }

    /// The first `N` bytes of its XXH3-128, if it is one.
    pub(crate) fn xxh3_prefix<const N: usize>(&self) -> Option<[u8; N]> {
        (self.kind == HashKind::Xxh3).then(|| std::array::from_fn(|i| self.bytes[i]))
    }

    /// Lower-case hex (all 32 bytes of a SHA-256, the rest zero when it was read back from
    /// the state file; the 16 of an XXH3-128).
    pub fn to_hex(&self) -> String {
        match self.kind {
            HashKind::Sha256 => hex::encode(self.bytes),
            HashKind::Xxh3 => hex::encode(&self.bytes[..Self::STORED_XXH3]),
        }
    }

    /// How many bytes of a SHA-256 the state file keeps: 96 bits, so the chance that a
    /// change leaves the kept bytes equal is 2^-96 (the planner compares 64 of them: 2^-64,
    /// under one in 10^4 for a million changes a night for a thousand years); the hash only
    /// ever compares one site's own data with itself, so nobody gains by aiming at a
    /// collision. An XXH3-128 is kept whole ([`ContentHash::STORED_XXH3`]).
    pub const STORED: usize = 12;

    /// How many bytes of an XXH3-128 the state file keeps: all 16 (a length no SHA-256 is
    /// kept with, so the kind needs no column of its own).
    pub const STORED_XXH3: usize = 16;

    /// The bytes the state file keeps.
    pub fn stored(&self) -> &[u8] {
        match self.kind {
            HashKind::Sha256 => &self.bytes[..Self::STORED],
            HashKind::Xxh3 => &self.bytes[..Self::STORED_XXH3],
        }
    }

    /// A hash as the state file keeps it: a SHA-256's first [`ContentHash::STORED`] bytes
    /// (the rest zero) or all 32 as earlier versions kept them, or an XXH3-128's 16. `None`
    /// for any other length.
    pub fn from_stored(bytes: &[u8]) -> Option<ContentHash> {
        let mut hash = [0; 32];
        let kind = match bytes.len() {
            32 | Self::STORED => HashKind::Sha256,
            Self::STORED_XXH3 => HashKind::Xxh3,
            _ => return None,
        };
        hash[..bytes.len()].copy_from_slice(bytes);
        Some(ContentHash {
            kind,
            bytes: hash,
            sha256: None,
        })
    }
}

/// A 64-bit hash of one person's raw input rows (all their rows across inputs, in a defined
/// order), kept with their item so that a delta run can skip a person whose rows did not
/// change ([`Planner::skip_unchanged`]). The caller computes it (see
/// `sis_extract::Extractor::people_unless`); the store only keeps and compares it.
///
/// 64 bits: a changed person is taken for unchanged only when their new rows hash like
/// their old ones, a chance of 2^-64 per changed person (ten thousand changes a night for
/// ten years: about 2 in 10^12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawHash(pub u64);

impl RawHash {
    /// As SQLite keeps it (an INTEGER).
    fn stored(self) -> i64 {
        self.0 as i64
    }

    fn from_stored(v: i64) -> RawHash {
        RawHash(v as u64)
    }
}

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    /// In the last extract (or never missed).
    Present,
    /// Missing from the extract since `since`; re-sent `sends` times since then.
    Vanished {
        /// The first run it was missing from.
        since: NaiveDate,
        /// How many successful runs re-sent it since.
        sends: u32,
    },
    /// No longer sent after vanishing.
    Retired {
        /// When it was retired.
        since: NaiveDate,
    },
}

impl ItemStatus {
    fn code(self) -> &'static str {
        match self {
            ItemStatus::Present => "present",
            ItemStatus::Vanished { .. } => "vanished",
            ItemStatus::Retired { .. } => "retired",
        }
    }

    fn since(self) -> Option<NaiveDate> {
        match self {
            ItemStatus::Present => None,
            ItemStatus::Vanished { since, .. } | ItemStatus::Retired { since } => Some(since),
        }
    }

    fn sends(self) -> u32 {
        match self {
            ItemStatus::Vanished { sends, .. } => sends,
            _ => 0,
        }
    }
}

/// What the store knows about one item (without its payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownItem {
    /// The content hash last recorded.
    pub hash: ContentHash,
    /// When the copy last sent lapses (a user's expiry date), if it does.
    pub expires: Option<NaiveDate>,
    /// The first run that saw it.
    pub first_seen: NaiveDate,
    /// The last run that saw it.
    pub last_seen: NaiveDate,
    /// The last run that delivered it.
    pub last_sent: Option<NaiveDate>,
    /// Present, vanished or retired.
    pub status: ItemStatus,
}

/// Every known item of one feed, by key, read in one query.
#[derive(Debug, Default)]
pub struct Snapshot {
    // Boxed keys: a million of them, 8 bytes each smaller than `String`.
    items: HashMap<Box<str>, KnownItem>,
}

impl Snapshot {
    /// The item with this key.
    pub fn get(&self, key: &str) -> Option<&KnownItem> {
        self.items.get(key)
    }

    /// How many items are known.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every item, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &KnownItem)> {
        self.items.iter().map(|(k, v)| (&**k, v))
    }
}

/// One item to insert or replace when a run finishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemWrite {
    /// The key.
    pub key: String,
    /// The content hash.
    pub hash: ContentHash,
    /// When the copy sent lapses.
    pub expires: Option<NaiveDate>,
    /// First seen.
    pub first_seen: NaiveDate,
    /// Last seen.
    pub last_seen: NaiveDate,
    /// Last sent.
    pub last_sent: Option<NaiveDate>,
    /// Status.
    pub status: ItemStatus,
    /// The payload sent (JSON); `None` keeps the stored one.
    pub payload: Option<String>,
}

/// A run's id in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A run as it starts.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The feed.
    pub feed: String,
    /// When it started.
    pub started: DateTime<FixedOffset>,
    /// The config's sha256, hex.
    pub config_hash: String,
    /// `full` or `delta` (or what the feed calls its modes).
    pub mode: String,
    /// Only some items were considered (`--only`): not a baseline for the brake.
    pub partial: bool,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunOutcome {
    /// Started and not finished: still running, or killed.
    Running,
    /// Everything was delivered.
    Delivered,
    /// Packaged but not delivered on purpose.
    DryRun,
    /// Delivery failed: nothing is recorded as sent.
    Failed,
    /// The brake refused the extract.
    Refused,
    /// Some files were delivered, not all: only their people are recorded as sent.
    PartlyDelivered,
    /// Stopped by a signal (SIGINT, SIGTERM); only files delivered before it count.
    Interrupted,
}

impl RunOutcome {
    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Delivered => "delivered",
            RunOutcome::DryRun => "dry-run",
            RunOutcome::Failed => "failed",
            RunOutcome::Refused => "refused",
            RunOutcome::PartlyDelivered => "partly-delivered",
            RunOutcome::Interrupted => "interrupted",
        }
    }

    fn from_code(code: &str) -> Option<RunOutcome> {
        [
            RunOutcome::Running,
            RunOutcome::Delivered,
            RunOutcome::DryRun,
            RunOutcome::Failed,
            RunOutcome::Refused,
            RunOutcome::PartlyDelivered,
            RunOutcome::Interrupted,
        ]
        .into_iter()
        .find(|o| o.code() == code)
    }
}

/// What a run counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    /// Eligible in the extract.
    pub eligible: u64,
    /// Sent (packaged).
    pub sent: u64,
    /// Never seen before.
    pub new: u64,
    /// Content changed (or expiry moved earlier).
    pub changed: u64,
    /// Same as last sent.
    pub unchanged: u64,
    /// Back after vanishing.
    pub returning: u64,
    /// Unchanged but re-sent because the copy sent lapses soon.
    pub refreshed: u64,
    /// Missing from the extract and handled by the vanished policy this run.
    pub vanished: u64,
    /// Retired this run.
    pub retired: u64,
}

/// How a run ended, with what it did.
#[derive(Debug, Clone)]
pub struct RunEnd {
    /// The outcome.
    pub outcome: RunOutcome,
    /// The counts.
    pub counts: RunCounts,
    /// Files written (names or paths).
    pub files: Vec<String>,
    /// Where they went.
    pub destination: Option<String>,
    /// A note for people (why it failed or was refused).
    pub message: Option<String>,
}

/// One run as stored.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// Its id.
    pub id: RunId,
    /// The feed.
    pub feed: String,
    /// When it started (RFC 3339).
    pub started: String,
    /// The config's sha256.
    pub config_hash: String,
    /// The mode.
    pub mode: String,
    /// Whether only some items were considered.
    pub partial: bool,
    /// How it ended.
    pub outcome: RunOutcome,
    /// What it counted.
    pub counts: RunCounts,
    /// Files written.
    pub files: Vec<String>,
    /// Where they went.
    pub destination: Option<String>,
    /// A note for people.
    pub message: Option<String>,
}

/// One line of `export`: an item without its payload (which holds personal data).
#[derive(Debug, Serialize)]
struct ExportLine {
    feed: String,
    key: String,
    hash: String,
    expires: Option<String>,
    first_seen: String,
    last_seen: String,
    last_sent: Option<String>,
    status: String,
    status_since: Option<String>,
    sends: i64,
}

/// Holds the lock of one feed for as long as it lives: two runs of a feed never overlap.
#[derive(Debug)]
pub struct FeedLock {
    _file: File,
    path: PathBuf,
}

impl FeedLock {
    /// Takes the lock `<state file>.<feed>.lock` without waiting; [`StateError::Locked`] when
    /// another process holds it. The operating system releases it if the process dies.
    ///
    /// The lock file is opened without following a symbolic link at its name
    /// ([`StateError::Link`]); the holder writes its process id into it.
    pub fn acquire(state_path: &Path, feed: &str) -> Result<FeedLock, StateError> {
        let (mut file, path) = Self::open(state_path, feed)?;
        match Self::try_lock(&mut file, &path)? {
            true => Ok(FeedLock { _file: file, path }),
            false => Err(StateError::Locked {
                feed: feed.to_owned(),
                lock_path: path,
            }),
        }
    }

    /// Takes the lock like [`FeedLock::acquire`], waiting up to `wait.limit` for another run
    /// of the feed to release it: `wait.notice` is told when the wait starts, and a wait that
    /// runs out is [`StateError::Busy`].
    pub fn acquire_waiting(
        state_path: &Path,
        feed: &str,
        wait: &WaitPolicy,
    ) -> Result<FeedLock, StateError> {
        let (mut file, path) = Self::open(state_path, feed)?;
        if Self::try_lock(&mut file, &path)? {
            return Ok(FeedLock { _file: file, path });
        }
        let holder = guard::read_holder(&mut file);
        (wait.notice)(&Waiting::FeedLock {
            feed: feed.to_owned(),
            lock_path: path.clone(),
            holder,
            limit: wait.limit,
        });
        let locked = guard::retry(wait.limit, || {
            Ok(Self::try_lock(&mut file, &path)?.then_some(()))
        })?;
        match locked {
            Some(()) => Ok(FeedLock { _file: file, path }),
            None => Err(StateError::Busy {
                path: state_path.to_owned(),
                held: Held::FeedLock {
                    feed: feed.to_owned(),
                    holder: guard::read_holder(&mut file).or(holder),
                },
                limit: wait.limit,
                what: format!("its lock file is {}", path.display()),
            }),
        }
    }

    /// Opens (creates) the lock file of `feed` beside the state file.
    fn open(state_path: &Path, feed: &str) -> Result<(File, PathBuf), StateError> {
        let safe: String = feed
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = guard::with_suffix(state_path, &format!(".{safe}.lock"));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
                path: path.clone(),
                source,
            })?;
        }
        let file = guard::open_private(&path)?;
        Ok((file, path))
    }

    /// Takes the lock if it is free (and writes this process's id into the file).
    fn try_lock(file: &mut File, path: &Path) -> Result<bool, StateError> {
        match file.try_lock() {
            Ok(()) => {
                guard::write_holder(file);
                Ok(true)
            }
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(source)) => Err(StateError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The state file, open.
#[derive(Debug)]
pub struct StateStore {
    conn: Connection,
    path: PathBuf,
    /// Compresses and expands payloads (interior: payloads are read through `&self`).
    codec: std::cell::RefCell<codec::Codec>,
    /// How long a writer waits for another's write lock.
    wait_limit: std::time::Duration,
}

impl StateStore {
    /// Opens (or creates, mode 0600) the state file and brings its schema up to date.
    ///
    /// Nothing is followed or changed through a symbolic link: a link at the file's name or
    /// at its `-wal` or `-shm` companion is [`StateError::Link`]. A writer waits silently up
    /// to 600 s for another's write lock; [`StateStore::set_wait`] changes that.
    pub fn open(path: &Path) -> Result<StateStore, StateError> {
        let io_err = |source| StateError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        for companion in ["-wal", "-shm"] {
            guard::refuse_link(&guard::with_suffix(path, companion))?;
        }
        // Created (mode 0600) and checked here, so SQLite (and its -wal and -shm, which copy
        // the mode) never makes it readable by others, and no link is followed.
        let file = guard::open_private(path)?;
        let conn = Connection::open(path).map_err(|source| StateError::Sql {
            path: path.to_owned(),
            action: "open it".into(),
            source,
        })?;
        // SQLite opened the name again: it must still be the file checked above.
        guard::still_same(&file, path)?;
        drop(file);
        let store = StateStore {
            conn,
            path: path.to_owned(),
            codec: std::cell::RefCell::new(codec::Codec::new()),
            wait_limit: BUSY_TIMEOUT,
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// How long a writer waits for another process's write lock on this file, and whom to
    /// tell when a wait starts. A wait that runs out is [`StateError::Busy`] (or, in the
    /// middle of a run's writes, an SQL error for which [`StateError::is_busy`] holds).
    pub fn set_wait(&mut self, wait: &WaitPolicy) -> Result<(), StateError> {
        let handler = guard::busy_handler(self.path.clone(), wait.clone());
        self.conn
            .busy_handler(Some(handler))
            .map_err(self.sql_err("set its busy handler"))?;
        self.wait_limit = wait.limit;
        Ok(())
    }

    /// 16 KiB pages for a new file, WAL mode (persistent in the file), [`SYNCHRONOUS`], a
    /// small page cache (a run's planner widens it), and a writer's wait for another writer.
    fn configure(&self) -> Result<(), StateError> {
        // A new file gets 16 KiB pages (a patron's payload is about 2 kB: fewer, fuller pages
        // and a quarter of the WAL frames of 4 KiB ones); an existing file keeps its own.
        self.conn
            .execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE};"))
            .map_err(self.sql_err("set its page size"))?;
        // The -wal and -shm files SQLite creates take the main file's mode (0600).
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(self.sql_err("switch to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StateError::Sql {
                path: self.path.clone(),
                action: format!("switch to WAL mode (the journal mode stays {mode:?})"),
                source: rusqlite::Error::InvalidQuery,
            });
        }
        self.conn
            .execute_batch(&format!(
                "PRAGMA synchronous = {SYNCHRONOUS}; PRAGMA cache_size = -{CACHE_FLOOR_KIB}; \
                 PRAGMA journal_size_limit = {WAL_LIMIT};"
            ))
            .map_err(self.sql_err("set its pragmas"))?;
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(self.sql_err("set its busy timeout"))?;
        self.conn.set_prepared_statement_cache_capacity(32);
        Ok(())
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file has table `name` (tables added by later versions may be missing);
    /// `action` names what is being done, for an error.
    fn has_table(&self, name: &str, action: &str) -> Result<bool, StateError> {
        self.conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(self.sql_err(action))
    }

    fn sql_err(&self, action: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> StateError {
        let path = self.path.clone();
        let action = action.into();
        let limit = self.wait_limit;
        move |source| {
            if guard::is_busy(&source) {
                StateError::Busy {
                    path,
                    held: Held::WriteLock,
                    limit,
                    what: format!("cannot {action}"),
                }
            } else {
                StateError::Sql {
                    path,
                    action,
                    source,
                }
            }
        }
    }

    fn migrate(&self) -> Result<(), StateError> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(self.sql_err("read the schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(StateError::NewerSchema {
                path: self.path.clone(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version == SCHEMA_VERSION {
            // Nothing to write (unless tables added since are missing): opening never waits
            // for a run that holds the write lock.
            return self.ensure_delivery_tables();
        }
        if SAME_TABLES_SCHEMA_VERSIONS.contains(&version) {
            // The same tables but for a column: added, and the number changed, once (another
            // process may have done it while this one waited for the lock). Rolled back when
            // dropped uncommitted.
            let renumber = || -> rusqlite::Result<()> {
                let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
                let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                if now != SCHEMA_VERSION {
                    let has_column: bool = tx.query_row(
                        "SELECT count(*) FROM pragma_table_info('feeds') \
                         WHERE name = 'full_sent'",
                        [],
                        |r| r.get(0),
                    )?;
                    if !has_column {
                        tx.execute_batch("ALTER TABLE feeds ADD COLUMN full_sent INTEGER")?;
                    }
                    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
                }
                tx.commit()
            };
            renumber().map_err(self.sql_err("renumber the schema"))?;
            return self.ensure_delivery_tables();
        }
        if self.has_table("items", "read the schema")? {
            // Written by an earlier version (1, or 0 before versions were recorded).
            return migrate::upgrade(self);
        }
        self.conn
            .execute_batch(&format!(
                "BEGIN; {SCHEMA} {RUNS_SCHEMA} {} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;",
                delivery::DELIVERY_SCHEMA
            ))
            .map_err(self.sql_err("create the schema"))
    }

    /// Every item of `feed`, without payloads.
    pub fn snapshot(&self, feed: &str) -> Result<Snapshot, StateError> {
        let action = format!("read the items of feed {feed:?}");
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT i.key, i.hash, i.expires, i.first_seen, \
                 CASE WHEN i.status = 'present' AND f.last_seen > i.last_seen \
                 THEN f.last_seen ELSE i.last_seen END, \
                 {LAST_SENT_SQL}, i.status, i.status_since, i.sends \
                 FROM items i LEFT JOIN feeds f ON f.feed = i.feed WHERE i.feed = ?1"
            ))
            .map_err(self.sql_err(action.clone()))?;
        let mut rows = stmt.query([feed]).map_err(self.sql_err(action.clone()))?;
        let mut items = HashMap::with_capacity(self.count_items(feed)?);
        while let Some(row) = rows.next().map_err(self.sql_err(action.clone()))? {
            let raw = RawItem::from_row(row).map_err(self.sql_err(action.clone()))?;
            let (key, item) = raw.parse(&self.path, feed)?;
            items.insert(key, item);
        }
        Ok(Snapshot { items })
    }

    fn count_items(&self, feed: &str) -> Result<usize, StateError> {
        self.conn
            .query_row("SELECT count(*) FROM items WHERE feed = ?1", [feed], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| usize::try_from(n).unwrap_or(0))
            .map_err(self.sql_err(format!("count the items of feed {feed:?}")))
    }

    /// The last payload stored for one item, expanded.
    pub fn payload(&self, feed: &str, key: &str) -> Result<Option<String>, StateError> {
        let Some(bytes) = stored::payload_bytes(self, feed, key)? else {
            return Ok(None);
        };
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                path: self.path.clone(),
                feed: feed.to_owned(),
                key: key.to_owned(),
                field: "payload",
                value: format!("(not UTF-8: {e})"),
            })
    }

    /// Records that a run started (outcome [`RunOutcome::Running`] until finished).
    pub fn begin_run(&mut self, run: &NewRun) -> Result<RunId, StateError> {
        self.conn
            .execute(
                "INSERT INTO runs (feed, started, config_hash, mode, partial, outcome) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    run.feed,
                    run.started.to_rfc3339(),
                    run.config_hash,
                    run.mode,
                    run.partial,
                    RunOutcome::Running.code()
                ],
            )
            .map_err(self.sql_err(format!("record a run of feed {:?}", run.feed)))?;
        Ok(RunId(self.conn.last_insert_rowid()))
    }

    /// Records that a run begun as complete is partial after all (its extract did not read
    /// cleanly): nobody vanishes in it, and it is no baseline for later runs.
    pub fn mark_partial(&mut self, run: RunId) -> Result<(), StateError> {
        self.conn
            .execute("UPDATE runs SET partial = 1 WHERE id = ?1", params![run.0])
            .map_err(self.sql_err(format!("record run {} as partial", run.0)))?;
        Ok(())
    }

    /// Finishes a run in one transaction: its outcome and counts; when `touch` is given, every
    /// present item of the run's feed gets `last_seen = touch`; then every write replaces its
    /// item. An error (from SQLite or from `writes`) rolls all of it back.
    pub fn finish_run(
        &mut self,
        run: RunId,
        end: &RunEnd,
        touch: Option<NaiveDate>,
        writes: impl IntoIterator<Item = Result<ItemWrite, StateError>>,
    ) -> Result<(), StateError> {
        let path = self.path.clone();
        let sql_err = |action: &str| {
            let path = path.clone();
            let action = format!("{action} (run {run})");
            move |source| StateError::Sql {
                path,
                action,
                source,
            }
        };
        let tx = self
            .conn
            .transaction()
            .map_err(sql_err("start a transaction"))?;
        let feed = record_end(&tx, &self.path, run, end, touch, None)?;
        {
            let mut upsert = tx
                .prepare(
                    "INSERT INTO items (feed, key, hash, expires, first_seen, last_seen, \
                     last_sent, status, status_since, sends) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                     ON CONFLICT (feed, key) DO UPDATE SET hash = excluded.hash, \
                     expires = excluded.expires, first_seen = excluded.first_seen, \
                     last_seen = excluded.last_seen, last_sent = excluded.last_sent, \
                     status = excluded.status, status_since = excluded.status_since, \
                     sends = excluded.sends",
                )
                .map_err(sql_err("prepare the item writes"))?;
            for write in writes {
                let w = write?;
                upsert
                    .execute(params![
                        feed,
                        w.key,
                        w.hash.stored(),
                        w.expires.map(day_number),
                        day_number(w.first_seen),
                        day_number(w.last_seen),
                        w.last_sent.map(day_number),
                        w.status.code(),
                        w.status.since().map(day_number),
                        i64::from(w.status.sends()),
                    ])
                    .map_err(sql_err(&format!("write item {:?}", w.key)))?;
                if let Some(payload) = &w.payload {
                    // Not a user: stored as it is (course feeds' JSON is small).
                    let mut stored = vec![codec::RAW];
                    stored.extend_from_slice(payload.as_bytes());
                    stored::put_payload(&tx, &feed, &w.key, &stored)
                        .map_err(sql_err(&format!("write the payload of {:?}", w.key)))?;
                }
            }
        }
        tx.commit().map_err(sql_err("commit"))
    }

    /// Records how run `run` ended (and, with `touch`, that every present item of its feed was
    /// seen that day; with `full_sent`, that it was a complete full run that day: see
    /// [`SENT_BY_LAST_FULL_RUN`]) in the open transaction.
    fn record_end(
        &self,
        run: RunId,
        end: &RunEnd,
        touch: Option<NaiveDate>,
        full_sent: Option<NaiveDate>,
    ) -> Result<(), StateError> {
        record_end(&self.conn, &self.path, run, end, touch, full_sent).map(drop)
    }

    /// The newest finished, delivered, complete (not `--only`) run of `feed`: the brake's
    /// baseline.
    pub fn last_successful_run(&self, feed: &str) -> Result<Option<RunRecord>, StateError> {
        Ok(self
            .query_runs(
                "WHERE feed = ?1 AND outcome = 'delivered' AND partial = 0 ORDER BY id DESC LIMIT 1",
                params![feed],
            )?
            .into_iter()
            .next())
    }

    /// Runs, newest first: of one feed or of all, at most `limit`.
    pub fn runs(&self, feed: Option<&str>, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        match feed {
            Some(feed) => self.query_runs(
                "WHERE feed = ?1 ORDER BY id DESC LIMIT ?2",
                params![feed, limit],
            ),
            None => self.query_runs("ORDER BY id DESC LIMIT ?1", params![limit]),
        }
    }

    fn query_runs(
        &self,
        tail: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<RunRecord>, StateError> {
        let action = "read the runs";
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT id, feed, started, config_hash, mode, partial, outcome, eligible, sent, \
                 new, changed, unchanged, returned, refreshed, vanished, retired, files, \
                 destination, message FROM runs {tail}"
            ))
            .map_err(self.sql_err(action))?;
        let mut rows = stmt.query(args).map_err(self.sql_err(action))?;
        let mut runs = Vec::new();
        while let Some(r) = rows.next().map_err(self.sql_err(action))? {
            let run = (|| -> rusqlite::Result<_> {
                let count = |i| r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, bool>(5)?,
                    r.get::<_, String>(6)?,
                    RunCounts {
                        eligible: count(7)?,
                        sent: count(8)?,
                        new: count(9)?,
                        changed: count(10)?,
                        unchanged: count(11)?,
                        returning: count(12)?,
                        refreshed: count(13)?,
                        vanished: count(14)?,
                        retired: count(15)?,
                    },
                    r.get::<_, String>(16)?,
                    r.get::<_, Option<String>>(17)?,
                    r.get::<_, Option<String>>(18)?,
                ))
            })()
            .map_err(self.sql_err(action))?;
            let (id, feed, started, config_hash, mode, partial, outcome, counts, files, dest, msg) =
                run;
            let corrupt = |field, value: &str| StateError::Corrupt {
                path: self.path.clone(),
                feed: feed.clone(),
                key: format!("run {id}"),
                field,
                value: value.to_owned(),
            };
            let outcome =
                RunOutcome::from_code(&outcome).ok_or_else(|| corrupt("outcome", &outcome))?;
            let files: Vec<String> =
                serde_json::from_str(&files).map_err(|_| corrupt("files", &files))?;
            runs.push(RunRecord {
                id: RunId(id),
                feed,
                started,
                config_hash,
                mode,
                partial,
                outcome,
                counts,
                files,
                destination: dest,
                message: msg,
            });
        }
        Ok(runs)
    }

    /// Forgets one item (matched case-insensitively) in one feed or in all; returns how many
    /// rows went. The next run treats it as new.
    pub fn forget(&mut self, feed: Option<&str>, key: &str) -> Result<usize, StateError> {
        let forget = |conn: &mut Connection| -> rusqlite::Result<usize> {
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM payloads WHERE id IN (SELECT pid FROM items \
                 WHERE (?1 IS NULL OR feed = ?1) AND key = ?2 COLLATE NOCASE)",
                params![feed, key],
            )?;
            let removed = tx.execute(
                "DELETE FROM items WHERE (?1 IS NULL OR feed = ?1) AND key = ?2 COLLATE NOCASE",
                params![feed, key],
            )?;
            tx.commit()?;
            Ok(removed)
        };
        let removed = forget(&mut self.conn);
        removed.map_err(self.sql_err(format!("forget {key:?}")))
    }

    /// Writes every item (of one feed or all) as JSON lines, ordered by feed and key, without
    /// payloads. Returns how many lines were written.
    pub fn export(&self, feed: Option<&str>, out: &mut dyn Write) -> Result<u64, StateError> {
        let action = "export the items";
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT i.key, i.hash, i.expires, i.first_seen, \
                 CASE WHEN i.status = 'present' AND f.last_seen > i.last_seen \
                 THEN f.last_seen ELSE i.last_seen END, \
                 {LAST_SENT_SQL}, i.status, i.status_since, i.sends, i.feed \
                 FROM items i LEFT JOIN feeds f ON f.feed = i.feed \
                 WHERE ?1 IS NULL OR i.feed = ?1 ORDER BY i.feed, i.key"
            ))
            .map_err(self.sql_err(action))?;
        let mut rows = stmt.query([feed]).map_err(self.sql_err(action))?;
        let mut lines = 0;
        while let Some(row) = rows.next().map_err(self.sql_err(action))? {
            let raw = RawItem::from_row(row).map_err(self.sql_err(action))?;
            let feed: String = row.get(9).map_err(self.sql_err(action))?;
            let (key, item) = raw.parse(&self.path, &feed)?;
            let text = |d: NaiveDate| date_text(d);
            let line = ExportLine {
                hash: hex::encode(raw.hash),
                key: key.into(),
                expires: item.expires.map(text),
                first_seen: text(item.first_seen),
                last_seen: text(item.last_seen),
                last_sent: item.last_sent.map(text),
                status: raw.status.to_owned(),
                status_since: item.status.since().map(text),
                sends: raw.sends,
                feed,
            };
            serde_json::to_writer(&mut *out, &line).map_err(|e| StateError::Export(e.into()))?;
            out.write_all(b"\n").map_err(StateError::Export)?;
            lines += 1;
        }
        Ok(lines)
    }

    /// Runs SQLite's integrity check; `Ok(true)` when the file is sound.
    pub fn integrity_ok(&self) -> Result<bool, StateError> {
        let result: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(self.sql_err("check integrity"))?;
        Ok(result == "ok")
    }
}

/// Records how run `run` ended, with `touch` marks every present item of its feed seen
/// that day, and with `full_sent` records the day of the feed's last complete full run (see
/// [`SENT_BY_LAST_FULL_RUN`]), on `conn` (inside the caller's transaction). Returns the
/// run's feed.
fn record_end(
    conn: &Connection,
    path: &Path,
    run: RunId,
    end: &RunEnd,
    touch: Option<NaiveDate>,
    full_sent: Option<NaiveDate>,
) -> Result<String, StateError> {
    let sql_err = |action: &str| {
        let action = format!("{action} (run {run})");
        move |source| StateError::Sql {
            path: path.to_owned(),
            action,
            source,
        }
    };
    let feed: String = conn
        .query_row("SELECT feed FROM runs WHERE id = ?1", [run.0], |r| r.get(0))
        .map_err(sql_err("find the run"))?;
    let files = serde_json::to_string(&end.files).map_err(|source| StateError::Payload {
        feed: feed.clone(),
        key: format!("run {run}"),
        source,
    })?;
    let c = &end.counts;
    conn.execute(
        "UPDATE runs SET outcome = ?2, eligible = ?3, sent = ?4, new = ?5, changed = ?6, \
         unchanged = ?7, returned = ?8, refreshed = ?9, vanished = ?10, retired = ?11, \
         files = ?12, destination = ?13, message = ?14 WHERE id = ?1",
        params![
            run.0,
            end.outcome.code(),
            to_i64(c.eligible),
            to_i64(c.sent),
            to_i64(c.new),
            to_i64(c.changed),
            to_i64(c.unchanged),
            to_i64(c.returning),
            to_i64(c.refreshed),
            to_i64(c.vanished),
            to_i64(c.retired),
            files,
            end.destination,
            end.message,
        ],
    )
    .map_err(sql_err("record the run's outcome"))?;
    if let Some(today) = touch {
        // One row, not one per item: a present item was seen by every complete run since
        // it was last written (else it would have been written as vanished).
        conn.execute(
            "INSERT INTO feeds (feed, last_seen) VALUES (?1, ?2) \
             ON CONFLICT (feed) DO UPDATE SET last_seen = excluded.last_seen",
            params![feed, day_number(today)],
        )
        .map_err(sql_err("mark items seen"))?;
    }
    if let Some(day) = full_sent {
        // One row, not one per item: the items the run sent say so
        // ([`SENT_BY_LAST_FULL_RUN`]); those it did not send were given their own date.
        conn.execute(
            "INSERT INTO feeds (feed, last_seen, full_sent) VALUES (?1, ?2, ?2) \
             ON CONFLICT (feed) DO UPDATE SET full_sent = excluded.full_sent",
            params![feed, day_number(day)],
        )
        .map_err(sql_err("mark items sent"))?;
    }
    Ok(feed)
}

/// An item row as stored, borrowed from SQLite's row (a snapshot reads millions).
struct RawItem<'a> {
    key: &'a str,
    hash: &'a [u8],
    expires: Option<i64>,
    first_seen: i64,
    last_seen: i64,
    last_sent: Option<i64>,
    status: &'a str,
    status_since: Option<i64>,
    sends: i64,
}

/// Column `i` as text, or `None` for NULL.
fn text<'a>(r: &'a rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<&'a str>> {
    use rusqlite::types::{FromSqlError, Type, ValueRef};
    match r.get_ref(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map(Some)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e))),
        other => Err(rusqlite::Error::FromSqlConversionFailure(
            i,
            other.data_type(),
            Box::new(FromSqlError::InvalidType),
        )),
    }
}

fn required<'a>(r: &'a rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'a str> {
    text(r, i)?.ok_or(rusqlite::Error::InvalidColumnType(
        i,
        "NULL".into(),
        rusqlite::types::Type::Null,
    ))
}

impl<'a> RawItem<'a> {
    fn from_row(r: &'a rusqlite::Row<'_>) -> rusqlite::Result<RawItem<'a>> {
        Ok(RawItem {
            key: required(r, 0)?,
            hash: r.get_ref(1)?.as_blob()?,
            expires: r.get(2)?,
            first_seen: r.get(3)?,
            last_seen: r.get(4)?,
            last_sent: r.get(5)?,
            status: required(r, 6)?,
            status_since: r.get(7)?,
            sends: r.get(8)?,
        })
    }

    fn parse(&self, path: &Path, feed: &str) -> Result<(Box<str>, KnownItem), StateError> {
        let corrupt = |field, value: &str| StateError::Corrupt {
            path: path.to_owned(),
            feed: feed.to_owned(),
            key: self.key.to_owned(),
            field,
            value: value.to_owned(),
        };
        let date = |field, value: i64| {
            from_day_number(value).ok_or_else(|| corrupt(field, &value.to_string()))
        };
        let opt_date = |field, value: Option<i64>| value.map(|v| date(field, v)).transpose();
        let hash = ContentHash::from_stored(self.hash)
            .ok_or_else(|| corrupt("hash", &hex::encode(self.hash)))?;
        let since = || {
            opt_date("status_since", self.status_since)?.ok_or_else(|| corrupt("status_since", ""))
        };
        let status = match self.status {
            "present" => ItemStatus::Present,
            "vanished" => ItemStatus::Vanished {
                since: since()?,
                sends: u32::try_from(self.sends)
                    .map_err(|_| corrupt("sends", &self.sends.to_string()))?,
            },
            "retired" => ItemStatus::Retired { since: since()? },
            other => return Err(corrupt("status", other)),
        };
        let item = KnownItem {
            hash,
            expires: opt_date("expires", self.expires)?,
            first_seen: date("first_seen", self.first_seen)?,
            last_seen: date("last_seen", self.last_seen)?,
            last_sent: opt_date("last_sent", self.last_sent)?,
            status,
        };
        Ok((self.key.into(), item))
    }
}

/// How a date is stored: days since 1970-01-01.
fn day_number(d: NaiveDate) -> i64 {
    i64::from(d.num_days_from_ce()) - i64::from(UNIX_EPOCH_DAYS_FROM_CE)
}

/// The date stored as `n` ([`day_number`]).
fn from_day_number(n: i64) -> Option<NaiveDate> {
    i32::try_from(n + i64::from(UNIX_EPOCH_DAYS_FROM_CE))
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
}

/// 1970-01-01, in days from the common era.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

fn date_text(d: NaiveDate) -> String {
    alma_user_model::format_iso_date(d)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
