//! The streaming planner of the patron feed: one user at a time, against a compact index of
//! the known items, with every write of the run going into one open SQLite transaction that
//! is committed once the files are delivered.
//!
//! ```text
//! store.planner(feed, &options, today)?     BEGIN IMMEDIATE; load the index (32 B an item)
//!   .observe(&user, hash, &rendered)?       classify; a sent user's item (and payload) written
//!   .hold(match_value)                      rejected today: not vanished
//!   .finish()?                              vanished people (read back from SQLite), brake
//! planned.resend()                          the vanished to re-send, one at a time
//! planned.commit(run, &end)? / .abandon(..) COMMIT / ROLLBACK
//! ```
//!
//! Dropping a [`Planner`] or [`PlannedRun`], an error, or the process dying before
//! [`PlannedRun::commit`] leaves the state exactly as the last finished run left it.

use std::collections::HashSet;
use std::sync::Arc;

use alma_user_model::{MatchId, User, match_key};
use chrono::{Days, NaiveDate};
use rusqlite::{OptionalExtension as _, params};

use super::codec::{PackedPayload, PayloadPacker, SharedDictionary};
use super::index::{
    Builder, Entry, HASH_PREFIX, Index, KeyHasher, PRESENT, RETIRED, SENT, SENT_BY_FULL_RUN,
    SENT_TODAY, SHA256, Slot, VANISHED, key_hash,
};
use super::sql_error;
use super::stored::{append_payload, load_user, put_payload, remove_payload};
use super::vanished::decide;
use super::{
    BrakeReading, CACHE_FLOOR_KIB, Class, ContentHash, HashKind, LoadMode, PLAN_BUDGET_KIB,
    PlanOptions, PurgePolicy, RUN_CACHE_FLOOR_KIB, RawHash, RunCounts, RunEnd, RunId,
    SENT_BY_LAST_FULL_RUN, StateError, StateStore, VanishedAction, VanishedDates, VanishedUser,
    Verdict, codec, day_number, from_day_number, required,
};

/// A known item sent today (`?5`), its `last_sent` `?7`: today, or in a complete full run
/// [`SENT_BY_LAST_FULL_RUN`], which the next such run need not write again. (So do
/// [`UPSERT_SENT`] and [`INSERT_NEW`].)
const UPDATE_SENT: &str = "UPDATE items SET hash = ?3, expires = ?4, last_seen = ?5, \
     last_sent = ?7, status = 'present', status_since = NULL, sends = 0, raw = ?6 \
     WHERE feed = ?1 AND key = ?2";

const UPSERT_SENT: &str = "INSERT INTO items (feed, key, hash, expires, first_seen, last_seen, \
     last_sent, status, status_since, sends, raw) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?7, 'present', NULL, 0, ?6) \
     ON CONFLICT (feed, key) DO UPDATE SET hash = excluded.hash, expires = excluded.expires, \
     first_seen = excluded.first_seen, last_seen = excluded.last_seen, \
     last_sent = excluded.last_sent, status = 'present', status_since = NULL, sends = 0, \
     raw = excluded.raw";

/// A new item sent today, pointing at its payload (`?8`); nothing when the key is taken.
const INSERT_NEW: &str = "INSERT INTO items (feed, key, hash, expires, first_seen, last_seen, \
     last_sent, status, status_since, sends, raw, pid) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?7, 'present', NULL, 0, ?6, ?8) \
     ON CONFLICT (feed, key) DO NOTHING";

/// A vanished item: re-sent today (`?7`), or keeping the day it was last sent, which an
/// item sent by the feed's last full run ([`SENT_BY_LAST_FULL_RUN`]) now says itself (`?8`:
/// that run's day), as only a present item may say it.
const UPDATE_VANISHED: &str = "UPDATE items SET last_seen = ?3, status = ?4, status_since = ?5, \
     sends = ?6, last_sent = coalesce(?7, CASE WHEN last_sent = -1 THEN ?8 ELSE last_sent END) \
     WHERE feed = ?1 AND key = ?2";

/// A present item the run does not send, given the day of the feed's last full run (`?3`)
/// when it says it was sent by that run: see [`SENT_BY_LAST_FULL_RUN`].
const KEEP_LAST_SENT: &str = "UPDATE items SET last_sent = ?3 \
     WHERE feed = ?1 AND key = ?2 AND last_sent = -1";

/// The open transaction of a run being planned; rolled back when dropped uncommitted.
#[derive(Debug)]
pub(super) struct Tx<'s> {
    pub(super) store: &'s mut StateStore,
    open: bool,
}

impl Tx<'_> {
    pub(super) fn end(&mut self, sql: &str, action: &str) -> Result<(), StateError> {
        self.store
            .conn
            .execute_batch(sql)
            .map_err(|source| sql_error(&self.store.path, action.to_owned(), source))?;
        self.open = false;
        self.shrink_cache();
        if sql == "ROLLBACK" {
            // A dictionary this run made is gone with it.
            self.store.codec.borrow_mut().forget();
        }
        Ok(())
    }

    /// The page cache back to its size outside a run, freeing the run's share. (A failure
    /// only leaves it bigger.)
    fn shrink_cache(&self) {
        let _ = self
            .store
            .conn
            .execute_batch(&format!("PRAGMA cache_size = -{CACHE_FLOOR_KIB}"));
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open && !self.store.conn.is_autocommit() {
            // Nothing to report to: the next run starts from the last committed state anyway.
            let _ = self.store.conn.execute_batch("ROLLBACK");
            self.shrink_cache();
            self.store.codec.borrow_mut().forget();
        }
    }
}

/// Plans one run of the patron feed, user by user.
///
/// Made by [`StateStore::planner`]; ends with [`Planner::finish`].
#[derive(Debug)]
pub struct Planner<'s> {
    tx: Tx<'s>,
    feed: String,
    options: PlanOptions,
    today: NaiveDate,
    /// `today` as stored.
    today_day: i64,
    index: Arc<Index>,
    /// Who in the index this run's extract claimed.
    seen: Seen,
    /// Whether people may be skipped unmapped ([`Planner::set_raw_basis`]).
    skipping: bool,
    /// The basis the raw-row hashes of this run are taken under, recorded at commit.
    raw_basis: Option<Vec<u8>>,
    /// The `[purge]` rules' basis of this run, and the one the feed's last complete run
    /// recorded ([`Planner::set_purge_basis`]).
    purge_basis: Option<(String, Option<String>)>,
    /// The `[purge]` rules changed since the feed's last complete run: everyone compared is
    /// changed.
    purge_changed: bool,
    /// [`Planner::clock_behind`], once read.
    clock_behind: Option<Option<NaiveDate>>,
    /// People skipped unmapped.
    skipped: u64,
    /// This run dropped every recorded raw-row hash: it records each person's again.
    raw_cleared: bool,
    /// Known keys held today (rejected rows): exact, usually few.
    held: HashSet<Box<str>>,
    /// Keys written as new this run although their hash matched a known key's.
    fresh: HashSet<Box<str>>,
    counts: RunCounts,
    baseline: Option<(RunId, u64)>,
    known: u64,
    /// How many present, sent items have a SHA-256 content hash (recorded by a version
    /// before XXH3): users compared with them need their SHA-256 too.
    sha256_known: u64,
    /// A rendering of a user whose hash came without the SHA-256 an item needs (reused).
    rerendered: Vec<u8>,
    feed_last_seen: Option<i64>,
    /// The day of the feed's last complete full run, which items sent by it stand for
    /// ([`SENT_BY_LAST_FULL_RUN`]).
    feed_full_sent: Option<i64>,
    /// Whether this is a complete full run: what it sends is marked sent by it, and those it
    /// sends unchanged since the last one are left as they are.
    full_run: bool,
    /// Payloads waiting for the dictionary they will be compressed with: the first users a
    /// state file stores, from which it is built ([`codec::build_dictionary`]).
    samples: Vec<(Box<str>, Vec<u8>)>,
    /// A payload as stored (reused).
    stored: Vec<u8>,
    /// The dictionary, for [`PayloadPacker`]s, once there is one.
    dictionary: SharedDictionary,
    /// The purge dates of the vanished.
    purge: PurgePolicy,
    /// Items moved to the keys of a new match id when the run started.
    rekeyed: u64,
}

impl StateStore {
    /// Starts planning a run of `feed`: loads a compact index of the known items and opens
    /// the transaction that this run's item writes go into (`BEGIN IMMEDIATE`: other writers
    /// of this state file wait until the run commits or abandons; readers do not).
    ///
    /// Call it after [`StateStore::begin_run`], whose record is committed on its own.
    pub fn planner(
        &mut self,
        feed: &str,
        options: &PlanOptions,
        today: NaiveDate,
    ) -> Result<Planner<'_>, StateError> {
        self.planner_with(feed, options, today, key_hash, None)
    }

    /// Reads ahead what [`StateStore::planner`] reads of `feed`'s items for a run with
    /// `options` on `today` (the slow part of starting a plan: every item, sorted), so that a
    /// caller can do it on another thread while it reads the extract, and hand it to
    /// [`StateStore::planner_preloaded`]. Read in a transaction of its own, which it ends;
    /// writes nothing. `None` when the items are keyed by another match id (the planner
    /// re-keys them first, then reads them itself).
    pub fn preload(
        &mut self,
        feed: &str,
        options: &PlanOptions,
        today: NaiveDate,
    ) -> Result<Option<Preloaded>, StateError> {
        if self.keyed_by(feed)? != options.match_id {
            return Ok(None);
        }
        let keep_raw = options.mode == LoadMode::Delta;
        let today_day = day_number(today);
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .map_err(self.sql_err(format!("start reading the items of feed {feed:?}")))?;
        // One pass over the items in table order, while the caller reads the extract: a
        // page is read once, so a page cache only holds what the run's peak must carry.
        let _ = self
            .conn
            .execute_batch(&format!("PRAGMA cache_size = -{SCAN_CACHE_KIB}"));
        let read = data_version(self).and_then(|version| {
            let index = load_index(self, feed, today_day, key_hash, keep_raw)?;
            Ok(Preloaded {
                feed: feed.to_owned(),
                match_id: options.match_id.clone(),
                keep_raw,
                today_day,
                version,
                index,
            })
        });
        let end = self
            .conn
            .execute_batch("COMMIT")
            .map_err(self.sql_err(format!("finish reading the items of feed {feed:?}")));
        // Back to the size outside a run (a failure only leaves the cache smaller).
        let _ = self
            .conn
            .execute_batch(&format!("PRAGMA cache_size = -{CACHE_FLOOR_KIB}"));
        let preloaded = read?;
        end?;
        Ok(Some(preloaded))
    }

    /// [`StateStore::planner`], with the items read ahead by [`StateStore::preload`] (on
    /// this store). They are used only if they are what the planner would read: the same
    /// feed, mode, day and match id, and no other connection wrote the file since (SQLite's
    /// `data_version`); otherwise the planner reads the items again.
    pub fn planner_preloaded(
        &mut self,
        feed: &str,
        options: &PlanOptions,
        today: NaiveDate,
        preloaded: Option<Preloaded>,
    ) -> Result<Planner<'_>, StateError> {
        self.planner_with(feed, options, today, key_hash, preloaded)
    }

    fn planner_with(
        &mut self,
        feed: &str,
        options: &PlanOptions,
        today: NaiveDate,
        hasher: KeyHasher,
        preloaded: Option<Preloaded>,
    ) -> Result<Planner<'_>, StateError> {
        let baseline = if options.partial {
            None
        } else {
            self.last_successful_run(feed)?
                .map(|r| (r.id, r.counts.eligible))
        };
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(self.sql_err(format!("start planning a run of feed {feed:?}")))?;
        let tx = Tx {
            store: self,
            open: true,
        };
        let today_day = day_number(today);
        let (feed_last_seen, feed_full_sent) = tx
            .store
            .conn
            .query_row(
                "SELECT last_seen, full_sent FROM feeds WHERE feed = ?1",
                [feed],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?)),
            )
            .optional()
            .map_err(tx.store.sql_err(format!("read feed {feed:?}")))?
            .map_or((None, None), |(seen, sent)| (Some(seen), sent));
        let rekeyed = rekey(tx.store, feed, &options.match_id)?;
        // Only a delta reads recorded raw-row hashes (to skip people, or to see that one needs
        // recording); a full run maps everyone and does not hold them.
        let keep_raw = options.mode == LoadMode::Delta;
        let version = data_version(tx.store)?;
        let fits = |p: &Preloaded| {
            p.feed == feed
                && p.match_id == options.match_id
                && p.keep_raw == keep_raw
                && p.today_day == today_day
                && p.version == version
                && rekeyed == 0
        };
        let index = match preloaded.filter(fits) {
            Some(p) => p.index,
            None => load_index(tx.store, feed, today_day, hasher, keep_raw)?,
        };
        let dictionary = load_dictionary(tx.store)?;
        let cache = PLAN_BUDGET_KIB
            .saturating_sub(index.heap_bytes() / 1024)
            .max(RUN_CACHE_FLOOR_KIB);
        tx.store
            .conn
            .execute_batch(&format!("PRAGMA cache_size = -{cache}"))
            .map_err(tx.store.sql_err("size its page cache"))?;
        let (mut known, mut sha256_known) = (0, 0);
        for e in index
            .iter()
            .filter(|e| e.status() == PRESENT && e.has(SENT))
        {
            known += 1;
            sha256_known += u64::from(e.has(SHA256));
        }
        Ok(Planner {
            tx,
            feed: feed.to_owned(),
            options: options.clone(),
            today,
            today_day,
            seen: Seen::new(index.main_len()),
            index: Arc::new(index),
            skipping: false,
            raw_basis: None,
            purge_basis: None,
            purge_changed: false,
            clock_behind: None,
            skipped: 0,
            raw_cleared: false,
            held: HashSet::new(),
            fresh: HashSet::new(),
            counts: RunCounts::default(),
            baseline,
            known,
            sha256_known,
            rerendered: Vec::new(),
            feed_last_seen,
            feed_full_sent,
            full_run: options.mode == LoadMode::Full && !options.partial,
            samples: Vec::new(),
            stored: Vec::new(),
            dictionary,
            purge: PurgePolicy::default(),
            rekeyed,
        })
    }
}

/// The table recording the match id each feed's items are keyed by. A feed without a row is
/// keyed by `primary_id`, as every feed was before the table.
/// The items of a feed read ahead of its planner; see [`StateStore::preload`].
pub struct Preloaded {
    feed: String,
    match_id: MatchId,
    keep_raw: bool,
    today_day: i64,
    /// The connection's `data_version` when they were read.
    version: i64,
    index: Index,
}

impl std::fmt::Debug for Preloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preloaded")
            .field("feed", &self.feed)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// The page cache while [`StateStore::preload`] reads the items, in KiB.
const SCAN_CACHE_KIB: usize = 512;

/// SQLite's `data_version` of the store's connection: it changes when another connection
/// commits to the file.
fn data_version(store: &StateStore) -> Result<i64, StateError> {
    store
        .conn
        .query_row("PRAGMA data_version", [], |r| r.get(0))
        .map_err(store.sql_err("read the file's data version"))
}

const FEED_MATCH_TABLE: &str = "CREATE TABLE IF NOT EXISTS feed_match (
    feed TEXT PRIMARY KEY,
    match_id TEXT NOT NULL
)";

impl StateStore {
    /// The match id the items of `feed` are keyed by: the `match_id` of its last committed
    /// run (`primary_id` for a feed never run with another). Writes nothing.
    pub fn keyed_by(&self, feed: &str) -> Result<MatchId, StateError> {
        if !self.has_table("feed_match", "read its match ids")? {
            return Ok(MatchId::PrimaryId);
        }
        keyed_by(self, feed)
    }
}

fn keyed_by(store: &StateStore, feed: &str) -> Result<MatchId, StateError> {
    let recorded = store
        .conn
        .query_row(
            "SELECT match_id FROM feed_match WHERE feed = ?1",
            [feed],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .map_err(store.sql_err(format!("read the match id of feed {feed:?}")))?;
    Ok(recorded
        .as_deref()
        .map_or(MatchId::PrimaryId, MatchId::parse))
}

/// Keys the items of `feed` by `match_id` when they are keyed by another one (the site
/// changed its integration profile's match id, or an older version keyed them by primary
/// id): each item moves to the match key of the user last sent. An item whose stored user
/// has no such value keeps its key (it vanishes, as Alma cannot match it either). Returns
/// how many items moved. In the run's transaction: undone unless the run commits.
fn rekey(store: &StateStore, feed: &str, match_id: &MatchId) -> Result<u64, StateError> {
    let action = || {
        format!(
            "re-key the items of feed {feed:?} by {}",
            match_id.describe()
        )
    };
    let sql = |source| sql_error(&store.path, action(), source);
    store.conn.execute_batch(FEED_MATCH_TABLE).map_err(sql)?;
    let keyed_by = keyed_by(store, feed)?;
    if keyed_by == *match_id {
        return Ok(0);
    }
    let keys = store
        .conn
        .prepare("SELECT key FROM items WHERE feed = ?1 ORDER BY key")
        .and_then(|mut stmt| {
            stmt.query_map([feed], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(sql)?;
    let mut moves = Vec::new();
    for key in keys {
        let Some(user) = load_user(store, feed, &key)? else {
            continue;
        };
        if let Some(new) = match_id.key(&user).filter(|new| *new != key) {
            moves.push((key, new.into_owned()));
        }
    }
    // Through names no key can have, so that a move never meets a key not yet moved; a
    // move that would meet a key that stays (or two users with one match key) is undone.
    let rename = |old: &str, new: &str| -> Result<bool, StateError> {
        // The payload moves with the item (it is found through the item's `pid`).
        let moved = store
            .conn
            .execute(
                "UPDATE OR IGNORE items SET key = ?3 WHERE feed = ?1 AND key = ?2",
                params![feed, old, new],
            )
            .map_err(sql)?;
        Ok(moved > 0)
    };
    const MOVING: char = '\u{1}';
    let mut moving = Vec::with_capacity(moves.len());
    for (old, new) in &moves {
        let through = format!("{MOVING}{new}");
        if rename(old, &through)? {
            moving.push((old, new, through));
        }
    }
    let mut moved = 0;
    for (old, new, through) in moving {
        if rename(&through, new)? {
            moved += 1;
        } else {
            rename(&through, old)?;
        }
    }
    store
        .conn
        .execute(
            "INSERT INTO feed_match (feed, match_id) VALUES (?1, ?2) \
             ON CONFLICT (feed) DO UPDATE SET match_id = excluded.match_id",
            params![feed, match_id.as_str()],
        )
        .map_err(sql)?;
    Ok(moved)
}

/// Reads every item of `feed` into the index: one pass (two in the rare case of colliding
/// key hashes).
fn load_index(
    store: &StateStore,
    feed: &str,
    today: i64,
    hasher: KeyHasher,
    keep_raw: bool,
) -> Result<Index, StateError> {
    let action = || format!("read the items of feed {feed:?}");
    let sql = |source| sql_error(&store.path, action(), source);
    let corrupt = |key: &str, field, value: &str| StateError::Corrupt {
        path: store.path.clone(),
        feed: feed.to_owned(),
        key: key.to_owned(),
        field,
        value: value.to_owned(),
    };
    let entry = |row: &rusqlite::Row<'_>, key: &str, kh: u64| -> Result<Entry, StateError> {
        let hash = row.get_ref(1).and_then(|v| Ok(v.as_blob()?)).map_err(sql)?;
        let hash = ContentHash::from_stored(hash)
            .ok_or_else(|| corrupt(key, "hash", &hex::encode(hash)))?;
        let expires = row
            .get::<_, Option<i64>>(2)
            .map_err(sql)?
            .map(|v| from_day_number(v).ok_or_else(|| corrupt(key, "expires", &v.to_string())))
            .transpose()?;
        let mut flags = match required(row, 4).map_err(sql)? {
            "present" => PRESENT,
            "vanished" => VANISHED,
            "retired" => RETIRED,
            other => return Err(corrupt(key, "status", other)),
        };
        if let Some(sent) = row.get::<_, Option<i64>>(3).map_err(sql)? {
            flags |= SENT;
            if sent == SENT_BY_LAST_FULL_RUN {
                flags |= SENT_BY_FULL_RUN;
            } else if sent == today {
                flags |= SENT_TODAY;
            }
        }
        // A full run's index does not keep raw-row hashes: not read at all then.
        let raw = if keep_raw {
            row.get::<_, Option<i64>>(5)
                .map_err(sql)?
                .map(RawHash::from_stored)
        } else {
            None
        };
        if hash.kind() == HashKind::Sha256 {
            flags |= SHA256;
        }
        Ok(Entry::new(kh, hash.stored(), raw, expires, flags))
    };
    let n = store.count_items(feed)?;
    let mut builder = Builder::with_capacity(n, keep_raw);
    let mut stmt = store
        .conn
        .prepare("SELECT key, hash, expires, last_sent, status, raw FROM items WHERE feed = ?1")
        .map_err(sql)?;
    let mut rows = stmt.query([feed]).map_err(sql)?;
    while let Some(row) = rows.next().map_err(sql)? {
        let key = required(row, 0).map_err(sql)?;
        let kh = hasher(key);
        builder.push(&entry(row, key, kh)?);
    }
    drop(rows);
    let (mut index, collisions) = builder.finish(hasher);
    if !collisions.is_empty() {
        let mut rows = stmt.query([feed]).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let key = required(row, 0).map_err(sql)?;
            let kh = hasher(key);
            if collisions.binary_search(&kh).is_ok() {
                index.add_side(key.into(), entry(row, key, kh)?);
            }
        }
    }
    Ok(index)
}

/// Makes the newest dictionary of the file the one new payloads are compressed with (none
/// in a file that has stored no user yet: the planner builds it from its first users).
fn load_dictionary(store: &StateStore) -> Result<SharedDictionary, StateError> {
    let newest = store
        .conn
        .query_row(
            "SELECT id, bytes FROM dictionaries ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
        )
        .optional()
        .map_err(|source| sql_error(&store.path, "read the dictionary".into(), source))?;
    let mut codec = store.codec.borrow_mut();
    codec.forget();
    let shared = SharedDictionary::default();
    if let Some((id, bytes)) = newest {
        let _ = shared.set((id, bytes.as_slice().into()));
        codec.add(id, bytes, true);
    }
    Ok(shared)
}

/// Each feed's `[purge]` rules basis ([`Planner::set_purge_basis`]): a table added after
/// schema version 5, created by the first run that records one.
const PURGE_BASES_SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS purge_bases (feed TEXT PRIMARY KEY, basis TEXT NOT NULL);";

/// How an eligible user compares with the item known for them.
fn classify(
    known: Option<&Entry>,
    hash: &ContentHash,
    expires: Option<NaiveDate>,
    refresh_days: u32,
    today: NaiveDate,
) -> Class {
    let Some(k) = known else {
        return Class::New;
    };
    if k.status() != PRESENT {
        return Class::Returning;
    }
    if !k.has(SENT) {
        return Class::New;
    }
    let sent = k.expires();
    let expiry_moved_earlier = match (sent, expires) {
        (Some(sent), Some(now)) => now < sent,
        (sent, now) => sent != now,
    };
    let recorded = if k.has(SHA256) {
        hash.sha256_prefix::<HASH_PREFIX>()
    } else {
        hash.xxh3_prefix::<HASH_PREFIX>()
    };
    // A hash of another kind than the item's (one without the SHA-256 an earlier version's
    // item needs, which the planner takes before it classifies) is a change.
    if recorded != Some(k.hash) || expiry_moved_earlier {
        return Class::Changed;
    }
    let due = sent
        .and_then(|e| e.checked_sub_days(Days::new(u64::from(refresh_days))))
        .is_some_and(|due| due <= today);
    // Only a later expiry that is still ahead is worth sending: someone whose expiry is
    // "today" every day (a dropped registration) has already lapsed.
    if due && expires != sent && expires.is_some_and(|e| e > today) {
        Class::Refreshed
    } else {
        Class::Unchanged
    }
}

impl<'s> Planner<'s> {
    /// One eligible user, in extract order. `hash`: its content hash
    /// ([`ContentHash::render_user`] of the user); `rendered`: its `<user>` element exactly
    /// as sent ([`render_user`](alma_user_model::render_user) output), stored as the payload
    /// when the user is new, changed or returning. When the verdict is `send`, the user's
    /// item write goes into the open transaction now.
    ///
    /// Users are known by the match key of `options.match_id` (an error for a user without
    /// a value to match on, which `check` rejects). A match key seen twice in one extract
    /// (which `check` also rejects) is new the second time.
    pub fn observe(
        &mut self,
        user: &User,
        hash: ContentHash,
        rendered: &[u8],
    ) -> Result<Verdict, StateError> {
        self.observe_raw(user, hash, rendered, None)
    }

    /// [`Planner::observe`], recording `raw`, the hash of the person's input rows (see
    /// [`RawHash`]), with the item when it is written: a later run whose rows hash the same
    /// may skip the person ([`Planner::skip_unchanged`]). `None` records none (the person is
    /// mapped again next time).
    pub fn observe_raw(
        &mut self,
        user: &User,
        hash: ContentHash,
        rendered: &[u8],
        raw: Option<(&str, RawHash)>,
    ) -> Result<Verdict, StateError> {
        self.observe_located(user, hash, rendered, raw, None, None)
    }

    /// [`Planner::observe_raw`], with the payload already packed by a [`PayloadPacker`] (on
    /// another thread; stored as it is when the user's payload is to be stored) and the
    /// user's item already looked up by this planner's [`SkipProbe::locate`] (on another
    /// thread), so that it is not looked up again: the index does not change during a run,
    /// and the probe looks up the key this planner would. Either may be `None` (packed, or
    /// looked up, here).
    pub fn observe_located(
        &mut self,
        user: &User,
        hash: ContentHash,
        rendered: &[u8],
        raw: Option<(&str, RawHash)>,
        packed: Option<PackedPayload>,
        located: Option<Located>,
    ) -> Result<Verdict, StateError> {
        let Some(key) = self.options.match_id.key(user) else {
            return Err(StateError::NoMatchValue {
                primary_id: user.primary_id.clone(),
                match_id: self.options.match_id.describe(),
            });
        };
        let key = &*key;
        // Kept only for a person known by their extract key (what a later run probes with).
        let raw = raw
            .filter(|_| self.raw_basis.is_some())
            .and_then(|(person, raw)| (match_key(person) == key).then_some(raw));
        self.counts.eligible += 1;
        let slot = if !self.fresh.is_empty() && self.fresh.contains(key) {
            None
        } else {
            let found = match located {
                Some(Located(found)) => found.map(ProbedItem::slot),
                None => self.index.find(self.index.hash(key), key),
            };
            found.filter(|&slot| !self.seen.has(slot, key))
        };
        let known = slot.map(|slot| self.index.get(slot, key));
        let sha256_item = known.is_some_and(|k| k.has(SHA256));
        // Only a present item sent before is compared by its hash (see `classify`).
        let compared = known.is_some_and(|k| k.status() == PRESENT && k.has(SENT));
        let mut hash = hash;
        if sha256_item && compared && !hash.has_sha256() {
            // An item a version before XXH3 recorded, and a hash taken without the SHA-256
            // it was recorded with: taken now, from the user rendered again. (A run takes it
            // on its rendering thread while such items are known: [`SkipProbe::wants_sha256`].)
            self.rerendered.clear();
            let sha =
                ContentHash::render_user_sha256(user, &mut self.rerendered).map_err(|source| {
                    StateError::Render {
                        primary_id: user.primary_id.clone(),
                        source,
                    }
                })?;
            hash = hash.with_sha256(&sha);
        }
        let mut class = classify(
            known.as_ref(),
            &hash,
            user.expiry_date,
            self.options.refresh_days,
            self.today,
        );
        if self.purge_changed && class == Class::Unchanged {
            class = Class::Changed;
        }
        let send = self.options.mode == LoadMode::Full || class != Class::Unchanged;
        let mut claimed = slot;
        // Recorded with a SHA-256, and the same today: its XXH3 is recorded instead, so that
        // later runs need not take the SHA-256 of this user again.
        let upgrade = sha256_item && hash.kind() == HashKind::Xxh3;
        if !send && known.is_some_and(|k| self.raw_cleared || k.raw() != raw || upgrade) {
            // Unchanged, but its rows hash otherwise (or were not hashed, or by another
            // version): record the hash, so that the next run can skip the person.
            self.write_unchanged(key, &hash, raw)?;
        }
        // A complete full run sends everyone. Someone unchanged since the last one, whose
        // item says it was sent by that run and holds the expiry sent today, needs nothing
        // written: the run's own record moves their `last_sent` and `last_seen`
        // ([`SENT_BY_LAST_FULL_RUN`]). Their raw-row hash stays that of rows which map to the
        // same user, perhaps earlier than today's (a full run does not hold the hashes
        // recorded): a later delta then maps them once and records today's.
        let unwritten = self.full_run
            && class == Class::Unchanged
            && !upgrade
            && !self.raw_cleared
            && known.is_some_and(|k| k.has(SENT_BY_FULL_RUN) && k.expires() == user.expiry_date);
        if send && !unwritten {
            // Whether the payload is stored with the item already.
            let mut payload_stored = false;
            let written = match &known {
                Some(_) => self.write_known(key, &hash, user.expiry_date, raw)?,
                None => false,
            };
            if !written {
                if slot.is_some() {
                    // The key's hash is a known key's, but the key is not in the store: it
                    // is someone new. (An unchanged verdict, which writes nothing, would need
                    // the 96-bit content-hash prefixes, which cover the primary id, to agree
                    // too.)
                    class = Class::New;
                    claimed = None;
                    self.fresh.insert(key.into());
                }
                payload_stored =
                    self.write_new(key, &hash, user.expiry_date, raw, packed.as_ref(), rendered)?;
            }
            if !payload_stored && matches!(class, Class::New | Class::Changed | Class::Returning) {
                match packed {
                    Some(p) if self.tx.store.codec.borrow().current() == Some(p.dictionary) => {
                        let store = &*self.tx.store;
                        put_payload(&store.conn, &self.feed, key, &p.bytes).map_err(|source| {
                            sql_error(&store.path, format!("write the payload of {key:?}"), source)
                        })?;
                    }
                    _ => self.write_payload(key, rendered)?,
                }
            }
        }
        if send {
            self.counts.sent += 1;
        }
        if let Some(slot) = claimed {
            self.seen.mark(slot, key);
        }
        let c = &mut self.counts;
        match class {
            Class::New => c.new += 1,
            Class::Changed => c.changed += 1,
            Class::Unchanged => c.unchanged += 1,
            Class::Refreshed => c.refreshed += 1,
            Class::Returning => c.returning += 1,
        }
        Ok(Verdict { class, send })
    }

    /// Says under what the raw-row hashes of this run are taken: `basis` stands for the
    /// version of the hash, the config and the lookups (the caller hashes them; see
    /// [`RawHash`]). When the feed's last committed run took them under the same basis,
    /// people may be skipped unmapped ([`Planner::skip_unchanged`], delta runs only; a run
    /// whose extract did not read cleanly too, as the people skipped read cleanly); otherwise every recorded raw-row hash is dropped, nobody is skipped,
    /// and this run records everyone's afresh (an upgrade or a config change re-hashes
    /// instead of sending or tripping anything). The basis is recorded with the run.
    pub fn set_raw_basis(&mut self, basis: &[u8]) -> Result<(), StateError> {
        let behind = self.clock_behind()?.is_some();
        let store = &*self.tx.store;
        let sql = |action: &str| {
            let (path, action) = (store.path.clone(), action.to_owned());
            move |source| sql_error(&path, action, source)
        };
        let stored = store
            .conn
            .query_row(
                "SELECT raw_basis FROM feeds WHERE feed = ?1",
                [&self.feed],
                |r| r.get::<_, Option<Vec<u8>>>(0),
            )
            .optional()
            .map_err(sql("read the raw-row hash basis"))?
            .flatten();
        if stored.as_deref() == Some(basis) {
            // Skipping takes a person's expiry and purge dates as those last sent, which a
            // "today + N" rule only moves later: not so on a day before a delivered run's
            // (a clock set back, an old `--now`), where mapping would find them moved
            // earlier, so changed. Then everyone is mapped.
            self.skipping = self.options.mode == LoadMode::Delta && !behind;
        } else {
            store
                .conn
                .execute(
                    "UPDATE items SET raw = NULL WHERE feed = ?1 AND raw IS NOT NULL",
                    [&self.feed],
                )
                .map_err(sql("drop the raw-row hashes"))?;
            self.skipping = false;
            self.raw_cleared = true;
        }
        self.raw_basis = Some(basis.to_vec());
        Ok(())
    }

    /// A probe another thread asks before mapping a person: whether
    /// [`Planner::skip_unchanged`] would take them (it decides; the probe only spares the
    /// mapping of those it would not take).
    pub fn skip_probe(&self) -> SkipProbe {
        SkipProbe {
            index: Arc::clone(&self.index),
            match_id: self.options.match_id.clone(),
            sha256: self.sha256_known > 0,
            skipping: self.skipping,
            today: self.today,
            refresh_days: self.options.refresh_days,
        }
    }

    /// Packs payloads on another thread as this planner stores them (see [`Located::is_known`]
    /// for whom it is worth it: the new).
    pub fn payload_packer(&self) -> PayloadPacker {
        PayloadPacker::new(Arc::clone(&self.dictionary))
    }

    /// A person of the extract not mapped, known by their extract key `person`, whose input
    /// rows hash to `raw`: taken as unchanged (eligible, not sent) when the run skips people
    /// ([`Planner::set_raw_basis`]), their item was last recorded present and sent with the
    /// same raw-row hash, nobody in this run claimed it yet, and their expiry needs no
    /// refresh. `false` otherwise: then map them and [`Planner::observe_raw`] them.
    ///
    /// Recorded with the same basis, the same rows map to the same user, but for the expiry
    /// and purge dates of a "today + N" rule, which only move later and which the content
    /// hash leaves out: so the verdict of a mapped run would be "unchanged" too.
    pub fn skip_unchanged(&mut self, person: &str, raw: RawHash) -> bool {
        self.skip(person, raw)
    }

    /// [`Planner::skip_unchanged`] for a person this planner's [`SkipProbe::probe`] already
    /// took (their raw-row hash equal to the one recorded, no refresh due), found `at`: so
    /// that their rows need not be read again to hash them, nor their item looked up again.
    /// Only whether someone claimed the item since is asked again (the index does not
    /// change during a run).
    pub fn skip_probed(&mut self, person: &str, at: ProbedItem) -> bool {
        self.take_unchanged(person, |_, _| Some(at.slot()))
    }

    /// Drops the raw-row hashes of the known items once every skip of the run was probed
    /// ([`SkipProbe::probe`]): 8 bytes an item. Later comparisons then take every recorded
    /// hash for unknown, which can only record a mapped person's hash again. Returns
    /// whether they were dropped (not while a [`SkipProbe`] of this planner is alive).
    pub fn forget_raw_hashes(&mut self) -> bool {
        match Arc::get_mut(&mut self.index) {
            Some(index) => {
                index.forget_raws();
                true
            }
            None => false,
        }
    }

    fn skip(&mut self, person: &str, raw: RawHash) -> bool {
        self.take_unchanged(person, |planner, key| {
            let index = &planner.index;
            let slot = index.find(index.hash(key), key)?;
            let entry = index.get(slot, key);
            skippable(&entry, raw, planner.today, planner.options.refresh_days).then_some(slot)
        })
    }

    /// Takes the item of extract key `person` as unchanged, when this run skips people,
    /// `found` gives the item's slot (given the planner and the match key), and nobody in
    /// this run claimed the item yet.
    fn take_unchanged(
        &mut self,
        person: &str,
        found: impl FnOnce(&Self, &str) -> Option<Slot>,
    ) -> bool {
        if !self.skipping || person.is_empty() {
            return false;
        }
        let key = match_key(person);
        if !self.fresh.is_empty() && self.fresh.contains(&*key) {
            return false;
        }
        let Some(slot) = found(self, &key) else {
            return false;
        };
        if self.seen.has(slot, &key) {
            return false;
        }
        self.seen.mark(slot, &key);
        self.counts.eligible += 1;
        self.counts.unchanged += 1;
        self.skipped += 1;
        true
    }

    /// How many people [`Planner::skip_unchanged`] took.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// How the vanished get their purge dates: the mapping's `[purge]` rules and the
    /// minimum. Without it nobody vanished gets a purge date (Alma never purges them).
    pub fn set_purge_policy(&mut self, purge: PurgePolicy) {
        self.purge = purge;
    }

    /// The `[purge]` rules this run gives purge dates by, as text that changes when they do
    /// (see `sis_extract::PurgeRules::basis`). The content hash leaves the purge date out
    /// (it moves with a "today + N" expiry every day), and a delta sends a later date only
    /// near expiry: so when the rules differ from those of the feed's last complete run,
    /// everyone mapped is changed and sent again with the purge date the new rules give, and
    /// the brake reading says why. Recorded when a complete run is delivered whole; the
    /// first run with a basis records it and changes nobody.
    pub fn set_purge_basis(&mut self, basis: &str) -> Result<(), StateError> {
        let store = &*self.tx.store;
        let sql = |action: &str| {
            let (path, action) = (store.path.clone(), action.to_owned());
            move |source| sql_error(&path, action, source)
        };
        store
            .conn
            .execute_batch(PURGE_BASES_SCHEMA)
            .map_err(sql("create the purge rules table"))?;
        let stored: Option<String> = store
            .conn
            .query_row(
                "SELECT basis FROM purge_bases WHERE feed = ?1",
                [&self.feed],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("read the purge rules basis"))?;
        self.purge_changed = stored.as_deref().is_some_and(|s| s != basis);
        self.purge_basis = Some((basis.to_owned(), stored));
        Ok(())
    }

    /// The day of the feed's last delivered run when this run's day is before it (a clock
    /// set back, an old `--now`), read once a run: it stops skipping and trips the brake.
    fn clock_behind(&mut self) -> Result<Option<NaiveDate>, StateError> {
        if self.clock_behind.is_none() {
            let last = last_delivered_day(self.tx.store, &self.feed)?;
            self.clock_behind = Some(last.filter(|d| self.today < *d));
        }
        Ok(self.clock_behind.flatten())
    }

    /// Whether the `[purge]` rules changed since the feed's last complete run
    /// ([`Planner::set_purge_basis`]).
    pub fn purge_rules_changed(&self) -> bool {
        self.purge_changed
    }

    /// Someone in today's extract whose rows were rejected today: not vanished. Takes their
    /// match value (the value of `options.match_id`, compared as Alma does).
    pub fn hold(&mut self, value: &str) {
        let key = match_key(value);
        if self.index.find(self.index.hash(&key), &key).is_some() {
            self.held.insert(key.into());
        }
    }

    /// [`Planner::hold`] for a user the run does not send (the check rejected it), by its
    /// match value.
    pub fn hold_user(&mut self, user: &User) {
        if let Some(value) = self.options.match_id.value(user) {
            self.hold(value);
        }
    }

    /// How many known items the run moved to the keys of a new match id (the config's
    /// `match_id` is not the one the items were keyed by): each moved to the match value of
    /// the user last sent, so nobody looks new or vanished because the match id changed.
    pub fn rekeyed(&self) -> u64 {
        self.rekeyed
    }

    /// Updates a known item as sent today; `false` when the store does not hold the key.
    fn write_known(
        &mut self,
        key: &str,
        hash: &ContentHash,
        expires: Option<NaiveDate>,
        raw: Option<RawHash>,
    ) -> Result<bool, StateError> {
        Ok(self.write_sent(UPDATE_SENT, key, hash, expires, raw, None)? > 0)
    }

    /// Records the raw-row hash and the content hash (the same content, perhaps taken with
    /// another function) of an unchanged item.
    fn write_unchanged(
        &mut self,
        key: &str,
        hash: &ContentHash,
        raw: Option<RawHash>,
    ) -> Result<(), StateError> {
        let store = &*self.tx.store;
        let err = |source| sql_error(&store.path, format!("write item {key:?}"), source);
        store
            .conn
            .prepare_cached("UPDATE items SET raw = ?3, hash = ?4 WHERE feed = ?1 AND key = ?2")
            .and_then(|mut s| {
                s.execute(params![
                    self.feed,
                    key,
                    raw.map(RawHash::stored),
                    hash.stored()
                ])
            })
            .map_err(err)?;
        Ok(())
    }

    /// Inserts (or replaces, first seen today) an item sent today; `true` when its payload
    /// (`packed`, or `rendered` compressed now) is stored with it.
    ///
    /// A new person takes two statements when the file has its dictionary: the payload, then
    /// the item pointing at it ([`INSERT_NEW`]), where writing the item and then its payload
    /// ([`put_payload`]) took four and three lookups of the key. When the key is in the store
    /// after all (an item the index did not lead to), the payload just added is taken back
    /// and the item replaced as before.
    fn write_new(
        &mut self,
        key: &str,
        hash: &ContentHash,
        expires: Option<NaiveDate>,
        raw: Option<RawHash>,
        packed: Option<&PackedPayload>,
        rendered: &[u8],
    ) -> Result<bool, StateError> {
        let current = self.tx.store.codec.borrow().current();
        let Some(current) = current else {
            // No dictionary yet: the payload waits among the samples.
            self.write_sent(UPSERT_SENT, key, hash, expires, raw, None)?;
            return Ok(false);
        };
        let payload: &[u8] = match packed {
            Some(p) if p.dictionary == current => &p.bytes,
            _ => {
                self.tx
                    .store
                    .codec
                    .borrow_mut()
                    .encode(rendered, &mut self.stored);
                &self.stored
            }
        };
        let store = &*self.tx.store;
        let err = |source| sql_error(&store.path, format!("write item {key:?}"), source);
        let pid = append_payload(&store.conn, &payload).map_err(err)?;
        let inserted = self.write_sent(INSERT_NEW, key, hash, expires, raw, Some(pid))? > 0;
        if !inserted {
            remove_payload(&store.conn, pid).map_err(err)?;
            self.write_sent(UPSERT_SENT, key, hash, expires, raw, None)?;
        }
        Ok(inserted)
    }

    /// Runs `sql` (one of [`UPDATE_SENT`] and [`UPSERT_SENT`], which take the same
    /// parameters, or [`INSERT_NEW`], which also takes the payload's id `pid`) for an item
    /// sent today; the number of rows it changed.
    fn write_sent(
        &self,
        sql: &str,
        key: &str,
        hash: &ContentHash,
        expires: Option<NaiveDate>,
        raw: Option<RawHash>,
        pid: Option<i64>,
    ) -> Result<usize, StateError> {
        let store = &*self.tx.store;
        let err = |source| sql_error(&store.path, format!("write item {key:?}"), source);
        let last_sent = if self.full_run {
            SENT_BY_LAST_FULL_RUN
        } else {
            self.today_day
        };
        store
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| {
                // What `execute` would check: every parameter bound, none left over from
                // the statement's last use.
                let count = 7 + usize::from(pid.is_some());
                if s.parameter_count() != count {
                    return Err(rusqlite::Error::InvalidParameterCount(
                        count,
                        s.parameter_count(),
                    ));
                }
                s.raw_bind_parameter(1, &self.feed)?;
                s.raw_bind_parameter(2, key)?;
                s.raw_bind_parameter(3, hash.stored())?;
                s.raw_bind_parameter(4, expires.map(day_number))?;
                s.raw_bind_parameter(5, self.today_day)?;
                s.raw_bind_parameter(6, raw.map(RawHash::stored))?;
                s.raw_bind_parameter(7, last_sent)?;
                if let Some(pid) = pid {
                    s.raw_bind_parameter(8, pid)?;
                }
                s.raw_execute()
            })
            .map_err(err)
    }

    /// Stores the payload of `key` compressed; the first users a file stores wait (in
    /// memory) until there are enough of them to build its dictionary from.
    fn write_payload(&mut self, key: &str, rendered: &[u8]) -> Result<(), StateError> {
        if self.tx.store.codec.borrow().current().is_none() {
            self.samples.push((key.into(), rendered.to_vec()));
            if self.samples.len() >= codec::SAMPLE {
                self.flush_samples()?;
            }
            return Ok(());
        }
        let store = &*self.tx.store;
        store.codec.borrow_mut().encode(rendered, &mut self.stored);
        put_payload(&store.conn, &self.feed, key, &self.stored).map_err(|source| {
            sql_error(&store.path, format!("write the payload of {key:?}"), source)
        })
    }

    /// Builds the dictionary from the waiting payloads, stores it and them.
    fn flush_samples(&mut self) -> Result<(), StateError> {
        if self.samples.is_empty() {
            return Ok(());
        }
        let samples = std::mem::take(&mut self.samples);
        let store = &*self.tx.store;
        let payloads: Vec<Vec<u8>> = samples.iter().map(|(_, p)| p.clone()).collect();
        let dictionary = codec::build_dictionary(&payloads);
        store
            .conn
            .execute(
                "INSERT INTO dictionaries (bytes) VALUES (?1)",
                [&dictionary],
            )
            .map_err(|source| sql_error(&store.path, "store the dictionary".into(), source))?;
        let id = store.conn.last_insert_rowid();
        let _ = self.dictionary.set((id, dictionary.as_slice().into()));
        store.codec.borrow_mut().add(id, dictionary, true);
        for (key, payload) in samples {
            self.write_payload(&key, &payload)?;
        }
        Ok(())
    }

    /// After the last user: works out the vanished people (their item writes go into the
    /// transaction), the counts and the brake reading.
    ///
    /// The vanished are read back from SQLite only when the index says someone vanished,
    /// and handled in key order.
    pub fn finish(mut self) -> Result<PlannedRun<'s>, StateError> {
        self.flush_samples()?;
        if let Some(basis) = &self.raw_basis {
            let store = &*self.tx.store;
            // A feed's first run has no row yet: day 0 never counts as a later sighting.
            store
                .conn
                .execute(
                    "INSERT INTO feeds (feed, last_seen, raw_basis) VALUES (?1, 0, ?2) \
                     ON CONFLICT (feed) DO UPDATE SET raw_basis = excluded.raw_basis",
                    params![self.feed, basis],
                )
                .map_err(|source| {
                    sql_error(&store.path, "record the raw-row hash basis".into(), source)
                })?;
        }
        let purge_restore = match &self.purge_basis {
            Some((basis, before)) if !self.options.partial => {
                let store = &*self.tx.store;
                store
                    .conn
                    .execute(
                        "INSERT INTO purge_bases (feed, basis) VALUES (?1, ?2) \
                         ON CONFLICT (feed) DO UPDATE SET basis = excluded.basis",
                        params![self.feed, basis],
                    )
                    .map_err(|source| {
                        sql_error(&store.path, "record the purge rules basis".into(), source)
                    })?;
                before.clone().filter(|_| self.purge_changed)
            }
            _ => None,
        };
        let purge_changed = self.purge_changed;
        let clock_behind = self.clock_behind()?;
        let Planner {
            tx,
            feed,
            options,
            today,
            index,
            seen,
            held,
            fresh,
            mut counts,
            baseline,
            known,
            feed_last_seen,
            feed_full_sent,
            full_run,
            purge,
            ..
        } = self;
        let mut vanished = Vec::new();
        let mut resends = Vec::new();
        let mut newly_vanished = 0;
        if !options.partial && index.any_vanishes(|slot, key| seen.has(slot, key)) {
            let gone = unseen_items(
                tx.store,
                &feed,
                &index,
                &seen,
                &held,
                &fresh,
                feed_last_seen,
            )?;
            let today_day = day_number(today);
            for item in gone {
                let (since, sends) = match item.status {
                    PRESENT => {
                        newly_vanished += 1;
                        (today, 0)
                    }
                    _ => (item.since.unwrap_or(today), item.sends),
                };
                let stored = if options.vanished != super::VanishedPolicy::Nothing
                    && sends < options.vanished_runs
                {
                    load_user(tx.store, &feed, &item.key)?
                } else {
                    None
                };
                let entry = decide(
                    &options,
                    &purge,
                    &item.key,
                    since,
                    sends,
                    stored.as_ref(),
                    item.expires,
                    today,
                );
                let resent = entry.send > sends;
                let (status, status_since, sends) = if entry.retired {
                    ("retired", today_day, 0)
                } else {
                    ("vanished", day_number(since), entry.send)
                };
                tx.store
                    .conn
                    .prepare_cached(UPDATE_VANISHED)
                    .and_then(|mut s| {
                        s.execute(params![
                            feed,
                            &*item.key,
                            item.last_seen,
                            status,
                            status_since,
                            i64::from(sends),
                            resent.then_some(today_day),
                            feed_full_sent,
                        ])
                    })
                    .map_err(|source| {
                        sql_error(
                            &tx.store.path,
                            format!("write vanished item {:?}", item.key),
                            source,
                        )
                    })?;
                if let (true, Some(dates)) = (resent, &entry.dates) {
                    resends.push(Resend {
                        key: item.key,
                        action: entry.action,
                        dates: dates.clone(),
                    });
                }
                counts.vanished += 1;
                counts.retired += u64::from(entry.retired);
                vanished.push(entry);
            }
        }
        if full_run {
            // Held today, so not sent by this run: the day of the last full run, said by
            // their item, becomes their own before the run's record moves that day.
            for key in &held {
                let unseen = index
                    .find(index.hash(key), key)
                    .is_some_and(|slot| !seen.has(slot, key));
                if unseen {
                    tx.store
                        .conn
                        .prepare_cached(KEEP_LAST_SENT)
                        .and_then(|mut s| s.execute(params![feed, &**key, feed_full_sent]))
                        .map_err(|source| {
                            sql_error(&tx.store.path, format!("write held item {key:?}"), source)
                        })?;
                }
            }
        }
        counts.sent += resends.len() as u64;
        let brake = BrakeReading {
            baseline,
            eligible: counts.eligible,
            known,
            changed: counts.changed,
            vanished: newly_vanished,
            limits: options.brake,
            purge_rules_changed: purge_changed,
            clock_behind,
        };
        Ok(PlannedRun {
            counts,
            vanished,
            brake,
            tx,
            feed,
            today,
            partial: options.partial,
            full_run,
            purge_restore,
            resends,
        })
    }
}

/// Who in the index a run's extract claimed: a bit per place of the sorted vector, keys
/// for the side map.
#[derive(Debug)]
struct Seen {
    main: Vec<u64>,
    side: HashSet<Box<str>>,
}

impl Seen {
    fn new(places: usize) -> Seen {
        Seen {
            main: vec![0; places.div_ceil(64)],
            side: HashSet::new(),
        }
    }

    fn has(&self, slot: Slot, key: &str) -> bool {
        match slot {
            Slot::Main(at) => self.main[at / 64] >> (at % 64) & 1 == 1,
            Slot::Side => self.side.contains(key),
        }
    }

    fn mark(&mut self, slot: Slot, key: &str) {
        match slot {
            Slot::Main(at) => self.main[at / 64] |= 1 << (at % 64),
            Slot::Side => {
                self.side.insert(key.into());
            }
        }
    }
}

/// The latest "today" of the delivered (or partly delivered) runs of `feed` (a run's day is
/// its start's date in its own offset, as the run took it): the items were last written on
/// or before it. A run whose start does not read as a time (a state file edited by hand)
/// could have been on any day, so it counts as the latest possible one: nobody is skipped.
fn last_delivered_day(store: &StateStore, feed: &str) -> Result<Option<NaiveDate>, StateError> {
    let sql = |source| {
        sql_error(
            &store.path,
            "read the days of the delivered runs".into(),
            source,
        )
    };
    let mut stmt = store
        .conn
        .prepare(
            "SELECT started FROM runs WHERE feed = ?1 \
             AND outcome IN ('delivered', 'partly-delivered')",
        )
        .map_err(sql)?;
    let mut rows = stmt.query([feed]).map_err(sql)?;
    let mut latest = None;
    while let Some(row) = rows.next().map_err(sql)? {
        let started = row.get_ref(0).map_err(sql)?.as_str().unwrap_or_default();
        let day = chrono::DateTime::parse_from_rfc3339(started)
            .map_or(NaiveDate::MAX, |at| at.date_naive());
        latest = latest.max(Some(day));
    }
    Ok(latest)
}

/// Whether a known item may be taken as unchanged without mapping its person, whose rows
/// hash to `raw`: present and sent with that raw-row hash, and not due for a refresh.
fn skippable(entry: &Entry, raw: RawHash, today: NaiveDate, refresh_days: u32) -> bool {
    let due = entry
        .expires()
        .and_then(|e| e.checked_sub_days(Days::new(u64::from(refresh_days))))
        .is_none_or(|due| due <= today);
    entry.status() == PRESENT
        && entry.has(SENT)
        && entry.raw() == Some(raw)
        && (entry.expires().is_none() || !due)
}

/// Where [`SkipProbe::probe`] found a person's item, for [`Planner::skip_probed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbedItem(u32);

impl ProbedItem {
    /// A side entry (found by key).
    const SIDE: u32 = u32::MAX;

    fn of(slot: Slot) -> ProbedItem {
        match slot {
            // An index holds fewer than 2^32 - 1 places.
            Slot::Main(at) => ProbedItem(u32::try_from(at).unwrap_or(Self::SIDE)),
            Slot::Side => ProbedItem(Self::SIDE),
        }
    }

    fn slot(self) -> Slot {
        match self.0 {
            Self::SIDE => Slot::Side,
            at => Slot::Main(at as usize),
        }
    }
}

/// Where [`SkipProbe::locate`] found a user's item, or that it found none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located(Option<ProbedItem>);

impl Located {
    /// Whether the run state knows the user: someone it does not know will be stored new,
    /// so packing their payload ahead pays.
    pub fn is_known(&self) -> bool {
        self.0.is_some()
    }
}

/// Asked on the mapping thread: whether the planner would skip a person unmapped
/// ([`Planner::skip_probe`]).
#[derive(Debug, Clone)]
pub struct SkipProbe {
    /// The planner's index.
    index: Arc<Index>,
    /// The planner's match id (what [`SkipProbe::locate`] looks users up by).
    match_id: MatchId,
    /// Whether some present, sent item was recorded with a SHA-256.
    sha256: bool,
    /// Whether the run skips people at all.
    skipping: bool,
    today: NaiveDate,
    refresh_days: u32,
}

impl SkipProbe {
    /// Whether the person known by extract key `person`, whose rows hash to `raw`, would be
    /// skipped (unless someone else claims their item first).
    pub fn may_skip(&self, person: &str, raw: RawHash) -> bool {
        self.probe(person, raw).is_some()
    }

    /// [`SkipProbe::may_skip`], saying where the item was found: for
    /// [`Planner::skip_probed`], which then need not look it up again.
    pub fn probe(&self, person: &str, raw: RawHash) -> Option<ProbedItem> {
        if !self.skipping || person.is_empty() {
            return None;
        }
        let key = match_key(person);
        self.probe_key(self.index.hash(&key), &key, raw)
    }

    /// The item of match key `key` (hashed `kh`) when it is skippable with rows hashed `raw`.
    fn probe_key(&self, kh: u64, key: &str, raw: RawHash) -> Option<ProbedItem> {
        let slot = self.index.find(kh, key)?;
        skippable(
            &self.index.get(slot, key),
            raw,
            self.today,
            self.refresh_days,
        )
        .then(|| ProbedItem::of(slot))
    }

    /// [`SkipProbe::probe`] for many people at once (extract keys and raw-row hashes), in
    /// their order: the index's memory for all of them is fetched together first
    /// (`Index::warm`), which spares most of the cache misses of probing each in turn.
    pub fn probe_all(&self, people: &[(&str, u64)]) -> Vec<Option<ProbedItem>> {
        if !self.skipping {
            return vec![None; people.len()];
        }
        let index = &self.index;
        let keys: Vec<(u64, std::borrow::Cow<'_, str>)> = people
            .iter()
            .map(|&(person, _)| {
                let key = match_key(person);
                (index.hash(&key), key)
            })
            .collect();
        let hashes: Vec<u64> = keys.iter().map(|(kh, _)| *kh).collect();
        index.warm(&hashes);
        keys.iter()
            .zip(people)
            .map(|((kh, key), &(person, raw))| {
                if person.is_empty() {
                    return None;
                }
                self.probe_key(*kh, key, RawHash(raw))
            })
            .collect()
    }

    /// Whether users should be hashed with their SHA-256 too
    /// ([`ContentHash::render_user_with_sha256`]): some item the planner compares with was
    /// recorded by a version before XXH3. Without it the planner renders such a user again
    /// to take it. A run after which every such item was compared (a full run, or a delta
    /// that maps everyone) records XXH3 hashes for all, and later runs need it no more.
    pub fn wants_sha256(&self) -> bool {
        self.sha256
    }

    /// Whether this run skips anyone.
    pub fn active(&self) -> bool {
        self.skipping
    }

    /// The same probe, skipping nobody (`--only`, or a run told to map everyone).
    pub fn without_skipping(self) -> SkipProbe {
        SkipProbe {
            skipping: false,
            ..self
        }
    }

    /// Looks up `user`'s item as the planner would (by the match key of its match id), for
    /// [`Planner::observe_located`]; `None` for a user without a value to match on.
    pub fn locate(&self, user: &User) -> Option<Located> {
        let key = self.match_id.key(user)?;
        Some(self.located(self.index.hash(&key), &key))
    }

    /// Where the index has match key `key` (hashed `kh`).
    fn located(&self, kh: u64, key: &str) -> Located {
        Located(self.index.find(kh, key).map(ProbedItem::of))
    }

    /// [`SkipProbe::locate`] for a batch of users (`None` for someone not to look up), in
    /// their order: the index's memory for all of them is fetched together first
    /// (`Index::warm`), which spares most of the cache misses of looking each up in turn.
    pub fn locate_all<'u>(
        &self,
        users: impl IntoIterator<Item = Option<&'u User>>,
    ) -> Vec<Option<Located>> {
        let keys: Vec<Option<(u64, std::borrow::Cow<'u, str>)>> = users
            .into_iter()
            .map(|user| {
                let key = self.match_id.key(user?)?;
                Some((self.index.hash(&key), key))
            })
            .collect();
        let hashes: Vec<u64> = keys.iter().flatten().map(|(kh, _)| *kh).collect();
        self.index.warm(&hashes);
        keys.iter()
            .map(|key| {
                let (kh, key) = key.as_ref()?;
                Some(self.located(*kh, key))
            })
            .collect()
    }
}

/// An item nobody in the extract claimed, as stored.
struct Gone {
    key: Box<str>,
    status: u8,
    expires: Option<NaiveDate>,
    /// Effective: a present item was seen by every complete run since it was written.
    last_seen: i64,
    since: Option<NaiveDate>,
    sends: u32,
}

/// The items that vanish now (or stay vanished), in key order: read back from the table
/// (in storage order, then sorted), so no key is held while the users pass.
fn unseen_items(
    store: &StateStore,
    feed: &str,
    index: &Index,
    seen: &Seen,
    held: &HashSet<Box<str>>,
    fresh: &HashSet<Box<str>>,
    feed_last_seen: Option<i64>,
) -> Result<Vec<Gone>, StateError> {
    let action = || format!("read the vanished items of feed {feed:?}");
    let sql = |source| sql_error(&store.path, action(), source);
    let corrupt = |key: &str, field, value: &str| StateError::Corrupt {
        path: store.path.clone(),
        feed: feed.to_owned(),
        key: key.to_owned(),
        field,
        value: value.to_owned(),
    };
    let mut stmt = store
        .conn
        .prepare(
            "SELECT key, last_seen, status_since, sends FROM items WHERE feed = ?1 \
             AND (status = 'vanished' OR (status = 'present' AND last_sent IS NOT NULL))",
        )
        .map_err(sql)?;
    let mut rows = stmt.query([feed]).map_err(sql)?;
    let mut gone = Vec::new();
    while let Some(row) = rows.next().map_err(sql)? {
        let key = required(row, 0).map_err(sql)?;
        if !fresh.is_empty() && fresh.contains(key) {
            continue;
        }
        let Some(slot) = index.find(index.hash(key), key) else {
            continue; // new in this run
        };
        let entry = index.get(slot, key);
        if !entry.vanishes_unless(seen.has(slot, key)) || held.contains(key) {
            continue;
        }
        let last_seen: i64 = row.get(1).map_err(sql)?;
        let last_seen = match feed_last_seen {
            Some(f) if entry.status() == PRESENT && f > last_seen => f,
            _ => last_seen,
        };
        let (since, sends) = if entry.status() == VANISHED {
            let since: Option<i64> = row.get(2).map_err(sql)?;
            let since = since
                .and_then(from_day_number)
                .ok_or_else(|| corrupt(key, "status_since", &format!("{since:?}")))?;
            let sends: i64 = row.get(3).map_err(sql)?;
            let sends =
                u32::try_from(sends).map_err(|_| corrupt(key, "sends", &sends.to_string()))?;
            (Some(since), sends)
        } else {
            (None, 0)
        };
        gone.push(Gone {
            key: key.into(),
            status: entry.status(),
            expires: entry.expires(),
            last_seen,
            since,
            sends,
        });
    }
    gone.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    Ok(gone)
}

/// A vanished person to re-send.
#[derive(Debug)]
struct Resend {
    key: Box<str>,
    action: VanishedAction,
    /// The dates to send.
    dates: VanishedDates,
}

/// A planned run: what it sends and counted, waiting for delivery with its writes in the
/// open transaction. [`PlannedRun::commit`] or [`PlannedRun::abandon`] ends it; dropping it
/// rolls the writes back.
#[derive(Debug)]
pub struct PlannedRun<'s> {
    /// The counts; `sent` includes the vanished re-sent.
    pub counts: RunCounts,
    /// Vanished people handled in this run, by match id.
    pub vanished: Vec<VanishedUser>,
    /// What the brake saw.
    pub brake: BrakeReading,
    pub(super) tx: Tx<'s>,
    pub(super) feed: String,
    pub(super) today: NaiveDate,
    pub(super) partial: bool,
    /// A complete full run: its record says the day of the feed's last full run.
    pub(super) full_run: bool,
    /// The `[purge]` rules basis recorded before this run, when this run recorded another:
    /// put back when some of its people are held back (their zip did not arrive), so the
    /// next run sends them the new purge dates too.
    pub(super) purge_restore: Option<String>,
    resends: Vec<Resend>,
}

impl PlannedRun<'_> {
    /// The feed planned.
    pub fn feed(&self) -> &str {
        &self.feed
    }

    /// Whether the brake stops this run: [`StateError::BrakeTripped`] unless `force`.
    pub fn check_brake(&self, force: bool) -> Result<(), StateError> {
        if self.brake.tripped() && !force {
            Err(StateError::BrakeTripped(self.brake.clone()))
        } else {
            Ok(())
        }
    }

    /// The users to re-send for the vanished, in match id order, loaded lazily, one at a
    /// time, from their stored payloads, with the dates of [`VanishedUser::dates`] (and
    /// status INACTIVE under that policy).
    pub fn resend(&self) -> impl Iterator<Item = Result<User, StateError>> + '_ {
        self.resends.iter().map(move |r| {
            let mut user = load_user(self.tx.store, &self.feed, &r.key)?.ok_or_else(|| {
                StateError::Corrupt {
                    path: self.tx.store.path.clone(),
                    feed: self.feed.clone(),
                    key: r.key.to_string(),
                    field: "payload",
                    value: "(gone)".into(),
                }
            })?;
            r.dates.apply(&mut user, r.action);
            Ok(user)
        })
    }

    /// Delivered: records the run as `end`, marks present items seen (unless partial) and
    /// commits every write made since [`StateStore::planner`], in one transaction.
    pub fn commit(self, run: RunId, end: &RunEnd) -> Result<(), StateError> {
        let PlannedRun {
            mut tx,
            feed,
            today,
            partial,
            full_run,
            ..
        } = self;
        let touch = (!partial).then_some(today);
        tx.store
            .record_end(run, end, touch, full_run.then_some(today))?;
        tx.end("COMMIT", &format!("commit run {run} of feed {feed:?}"))
    }

    /// Not delivered (refused by the brake, failed, dry run, `--strict`): rolls the writes
    /// back and records the run as `end` (its own small transaction). Nothing is marked sent.
    pub fn abandon(self, run: RunId, end: &RunEnd) -> Result<(), StateError> {
        let PlannedRun { mut tx, feed, .. } = self;
        tx.end("ROLLBACK", &format!("roll back run {run} of feed {feed:?}"))?;
        tx.store.finish_run(run, end, None, Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BrakeLimits, NewRun, RunOutcome, VanishedPolicy};

    fn day(n: u64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 1)
            .unwrap()
            .checked_add_days(Days::new(n))
            .unwrap()
    }

    fn options() -> PlanOptions {
        PlanOptions {
            match_id: MatchId::PrimaryId,
            mode: LoadMode::Delta,
            vanished: VanishedPolicy::Expire { grace_days: 0 },
            vanished_runs: 2,
            refresh_days: 30,
            brake: BrakeLimits {
                eligible_drop_percent: 100.0,
                changed_or_vanished_percent: 100.0,
            },
            partial: false,
        }
    }

    fn user(id: &str, name: &str, today: NaiveDate) -> (User, ContentHash, Vec<u8>) {
        let mut u = User::new(id).with_name("Sam", name);
        u.expiry_date = today.checked_add_days(Days::new(365));
        let mut xml = Vec::new();
        let hash = ContentHash::render_user(&u, &mut xml).unwrap();
        (u, hash, xml)
    }

    /// Every key hashes to one of two values: known keys collide, and new keys collide with
    /// known ones.
    fn clumsy(key: &str) -> u64 {
        (key.len() % 2) as u64
    }

    /// One delivered run with the clumsy hasher; returns `(sent ids, counts, vanished ids)`.
    fn run(
        store: &mut StateStore,
        today: NaiveDate,
        people: &[(&str, &str)],
    ) -> (Vec<String>, RunCounts, Vec<String>) {
        run_with(store, today, people, Start::Clumsy)
    }

    /// How [`run_with`] starts its planner.
    enum Start<'a> {
        /// [`StateStore::planner_with`] and the clumsy hasher.
        Clumsy,
        /// [`StateStore::planner`].
        Plain,
        /// [`StateStore::preload`], then the closure (which may write the file through
        /// another connection), then [`StateStore::planner_preloaded`].
        Preloaded(Box<dyn FnOnce() + 'a>),
    }

    /// Starts a delta run of the feed, dated `today` (its start at 04:00 UTC).
    fn begin(store: &mut StateStore, today: NaiveDate) -> RunId {
        store
            .begin_run(&NewRun {
                feed: "patrons".into(),
                started: chrono::DateTime::parse_from_rfc3339(&format!("{today}T04:00:00Z"))
                    .unwrap(),
                config_hash: "c".into(),
                mode: "delta".into(),
                partial: false,
            })
            .unwrap()
    }

    /// Finishes `planner` and commits `run` as delivered; the re-sent go to `sent`. Returns
    /// the counts and the ids of the vanished.
    fn deliver(
        planner: Planner<'_>,
        run: RunId,
        sent: &mut Vec<String>,
    ) -> (RunCounts, Vec<String>) {
        let planned = planner.finish().unwrap();
        for u in planned.resend() {
            sent.push(u.unwrap().primary_id);
        }
        let counts = planned.counts;
        let vanished = planned
            .vanished
            .iter()
            .map(|v| v.primary_id.clone())
            .collect();
        let end = RunEnd {
            outcome: RunOutcome::Delivered,
            counts,
            files: vec![],
            destination: None,
            message: None,
        };
        planned.commit(run, &end).unwrap();
        (counts, vanished)
    }

    fn run_with(
        store: &mut StateStore,
        today: NaiveDate,
        people: &[(&str, &str)],
        start: Start<'_>,
    ) -> (Vec<String>, RunCounts, Vec<String>) {
        let (hasher, preloaded): (KeyHasher, _) = match start {
            Start::Clumsy => (clumsy, None),
            Start::Plain => (key_hash, None),
            Start::Preloaded(meanwhile) => {
                let preloaded = store.preload("patrons", &options(), today).unwrap();
                assert!(preloaded.is_some());
                meanwhile();
                (key_hash, preloaded)
            }
        };
        let run = begin(store, today);
        let mut planner = store
            .planner_with("patrons", &options(), today, hasher, preloaded)
            .unwrap();
        let mut sent = Vec::new();
        for (id, name) in people {
            let (u, hash, xml) = user(id, name, today);
            if planner.observe(&u, hash, &xml).unwrap().send {
                sent.push(u.primary_id.clone());
            }
        }
        let (counts, vanished) = deliver(planner, run, &mut sent);
        (sent, counts, vanished)
    }

    /// One complete full run of `people` (`(id, last name)`) on `today`; returns how many
    /// rows its observations changed in the file.
    fn full_run(store: &mut StateStore, today: NaiveDate, people: &[(&str, &str)]) -> u64 {
        let run = begin(store, today);
        let options = PlanOptions {
            mode: LoadMode::Full,
            ..options()
        };
        let mut planner = store.planner("patrons", &options, today).unwrap();
        planner.set_raw_basis(b"basis").unwrap();
        let before = planner.tx.store.conn.total_changes();
        for (id, name) in people {
            let (u, hash, xml) = user(id, name, day(1));
            let raw = RawHash(name.len() as u64);
            assert!(
                planner
                    .observe_raw(&u, hash, &xml, Some((id, raw)))
                    .unwrap()
                    .send
            );
        }
        let changes = planner.tx.store.conn.total_changes() - before;
        deliver(planner, run, &mut Vec::new());
        changes
    }

    #[test]
    fn a_full_run_writes_no_item_of_someone_unchanged_since_the_last_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(&dir.path().join("s.sqlite")).unwrap();
        let people = [("a", "Ames"), ("b", "Bell"), ("c", "Cole")];
        assert!(full_run(&mut store, day(1), &people) >= 3, "new: written");
        // Delivered by a delta: their `last_sent` a date, which the next full run moves.
        let run = begin(&mut store, day(2));
        let mut planner = store.planner("patrons", &options(), day(2)).unwrap();
        let (u, hash, xml) = user("b", "Bellamy", day(1));
        assert!(planner.observe(&u, hash, &xml).unwrap().send);
        for (id, name) in [("a", "Ames"), ("c", "Cole")] {
            let (u, hash, xml) = user(id, name, day(1));
            assert!(!planner.observe(&u, hash, &xml).unwrap().send);
        }
        deliver(planner, run, &mut Vec::new());
        let people = [("a", "Ames"), ("b", "Bellamy"), ("c", "Cole")];
        assert_eq!(
            full_run(&mut store, day(3), &people),
            1,
            "b: sent by a delta"
        );
        assert_eq!(
            store
                .snapshot("patrons")
                .unwrap()
                .get("a")
                .unwrap()
                .last_sent,
            Some(day(3))
        );
        assert_eq!(full_run(&mut store, day(4), &people), 0, "nobody changed");
        let people = [("a", "Ames"), ("b", "Bellamy"), ("c", "Coleman")];
        assert_eq!(
            full_run(&mut store, day(5), &people),
            2,
            "c changed: item and payload"
        );
        let snapshot = store.snapshot("patrons").unwrap();
        for id in ["a", "b", "c"] {
            let item = snapshot.get(id).unwrap();
            assert_eq!(
                (item.last_seen, item.last_sent),
                (day(5), Some(day(5))),
                "{id}"
            );
        }
    }

    #[test]
    fn people_whose_key_hashes_collide_never_merge() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(&dir.path().join("s.sqlite")).unwrap();
        // Day 1: a and ccc share a key hash, so do bb and dd (not known yet).
        let (sent, c, _) = run(&mut store, day(1), &[("a", "A"), ("bb", "B"), ("ccc", "C")]);
        assert_eq!((sent.len(), c.new), (3, 3));
        // Day 2: dd is new and hashes like bb, who left (as did ccc).
        let (sent, c, vanished) = run(&mut store, day(2), &[("dd", "D"), ("a", "A")]);
        assert_eq!(sent, ["dd", "bb", "ccc"]);
        assert_eq!((c.new, c.unchanged, c.changed, c.vanished), (1, 1, 0, 2));
        assert_eq!(vanished, ["bb", "ccc"]);
        // Day 3: bb is back, a changed, ccc re-sent a last time.
        let (sent, c, vanished) = run(&mut store, day(3), &[("a", "A2"), ("dd", "D"), ("bb", "B")]);
        assert_eq!(sent, ["a", "bb", "ccc"]);
        assert_eq!(
            (c.changed, c.unchanged, c.returning, c.vanished, c.retired),
            (1, 1, 1, 1, 1)
        );
        assert_eq!(vanished, ["ccc"]);
        // Day 4: e is new, its hash shared by several known keys.
        let people = [("a", "A2"), ("dd", "D"), ("bb", "B"), ("e", "E")];
        let (sent, c, _) = run(&mut store, day(4), &people);
        assert_eq!(sent, ["e"]);
        assert_eq!((c.new, c.unchanged, c.vanished), (1, 3, 0));
        let mut export = Vec::new();
        store.export(Some("patrons"), &mut export).unwrap();
        let rows: Vec<String> = String::from_utf8(export)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                format!("{} {} {}", v["key"], v["status"], v["first_seen"])
            })
            .collect();
        assert_eq!(
            rows,
            [
                r#""a" "present" "2026-11-02""#,
                r#""bb" "present" "2026-11-02""#,
                r#""ccc" "retired" "2026-11-02""#,
                r#""dd" "present" "2026-11-03""#,
                r#""e" "present" "2026-11-05""#,
            ]
        );
    }

    #[test]
    fn a_new_key_seen_twice_in_a_run_keeps_one_payload_the_later() {
        // More people than a dictionary's sample, so that the new are stored with their
        // payload in two statements; p150 comes again at the end, under another name.
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(&dir.path().join("s.sqlite")).unwrap();
        let ids: Vec<String> = (0..2 * codec::SAMPLE).map(|i| format!("p{i:03}")).collect();
        let mut people: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "First")).collect();
        people.push(("p150", "Second"));
        let (sent, counts, _) = run_with(&mut store, day(1), &people, Start::Plain);
        assert_eq!(
            (sent.len(), counts.new),
            (people.len(), people.len() as u64)
        );
        let count = |sql: &str| -> i64 { store.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM items"), ids.len() as i64);
        assert_eq!(count("SELECT count(*) FROM payloads"), ids.len() as i64);
        assert_eq!(
            count("SELECT count(DISTINCT pid) FROM items WHERE pid IN (SELECT id FROM payloads)"),
            ids.len() as i64
        );
        // The next night p150 and p400 have left: re-sent as last stored.
        let stay: Vec<(&str, &str)> = people[..ids.len()]
            .iter()
            .copied()
            .filter(|(id, _)| !["p150", "p400"].contains(id))
            .collect();
        let mut planner = store
            .planner_with("patrons", &options(), day(2), key_hash, None)
            .unwrap();
        for (id, name) in &stay {
            let (u, hash, xml) = user(id, name, day(2));
            planner.observe(&u, hash, &xml).unwrap();
        }
        let planned = planner.finish().unwrap();
        let names: Vec<(String, Option<String>)> = planned
            .resend()
            .map(|u| {
                let u = u.unwrap();
                (u.primary_id, u.last_name)
            })
            .collect();
        assert_eq!(
            names,
            [
                ("p150".to_owned(), Some("Second".to_owned())),
                ("p400".to_owned(), Some("First".to_owned()))
            ]
        );
    }

    #[test]
    fn an_item_statement_with_a_parameter_left_unbound_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(&dir.path().join("s.sqlite")).unwrap();
        let planner = store
            .planner_with("patrons", &options(), day(1), key_hash, None)
            .unwrap();
        let (_, hash, _) = user("a", "A", day(1));
        let unbound = planner.write_sent(INSERT_NEW, "a", &hash, None, None, None);
        assert!(
            matches!(
                unbound,
                Err(StateError::Sql {
                    source: rusqlite::Error::InvalidParameterCount(7, 8),
                    ..
                })
            ),
            "{unbound:?}"
        );
        let extra = planner.write_sent(UPDATE_SENT, "a", &hash, None, None, Some(1));
        assert!(matches!(extra, Err(StateError::Sql { .. })), "{extra:?}");
        assert_eq!(
            planner
                .write_sent(UPSERT_SENT, "a", &hash, None, None, None)
                .unwrap(),
            1
        );
    }

    #[test]
    fn a_preloaded_planner_plans_as_one_that_reads_its_items_itself() {
        let dir = tempfile::tempdir().unwrap();
        let mut plain = StateStore::open(&dir.path().join("plain.sqlite")).unwrap();
        let mut ahead = StateStore::open(&dir.path().join("ahead.sqlite")).unwrap();
        let days: [&[(&str, &str)]; 4] = [
            &[("a", "A"), ("bb", "B"), ("ccc", "C")],
            &[("dd", "D"), ("a", "A")],
            &[("a", "A2"), ("dd", "D"), ("bb", "B")],
            &[("a", "A2"), ("dd", "D"), ("bb", "B"), ("e", "E")],
        ];
        for (n, people) in days.into_iter().enumerate() {
            let today = day(n as u64 + 1);
            let want = run_with(&mut plain, today, people, Start::Plain);
            let got = run_with(&mut ahead, today, people, Start::Preloaded(Box::new(|| {})));
            assert_eq!(got, want, "day {}", n + 1);
        }
    }

    #[test]
    fn items_preloaded_before_another_connection_wrote_are_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let mut store = StateStore::open(&path).unwrap();
        run_with(&mut store, day(1), &[("a", "A")], Start::Plain);
        // Between the preload and the planner, another process records x.
        let other = || {
            let mut other = StateStore::open(&path).unwrap();
            run_with(&mut other, day(1), &[("a", "A"), ("x", "X")], Start::Plain);
        };
        let (sent, counts, _) = run_with(
            &mut store,
            day(2),
            &[("a", "A"), ("x", "X")],
            Start::Preloaded(Box::new(other)),
        );
        // Read again: x is known and unchanged, not new.
        assert_eq!(sent, Vec::<String>::new());
        assert_eq!((counts.new, counts.unchanged), (0, 2));
    }

    /// One delivered delta that skips by raw-row hash (the hash of a person's "rows" here:
    /// the name's length and bytes); returns `(skipped ids, sent ids, counts)`.
    fn skipping_night(
        store: &mut StateStore,
        today: NaiveDate,
        people: &[(&str, &str)],
        preload: bool,
    ) -> (Vec<String>, Vec<String>, RunCounts) {
        let preloaded = if preload {
            let preloaded = store.preload("patrons", &options(), today).unwrap();
            assert!(preloaded.is_some());
            preloaded
        } else {
            None
        };
        let run = begin(store, today);
        let mut planner = store
            .planner_preloaded("patrons", &options(), today, preloaded)
            .unwrap();
        planner.set_raw_basis(b"basis").unwrap();
        let raw_of = |name: &str| name.len() as u64 * 1_000_003 + u64::from(name.as_bytes()[0]);
        // The probe asked about everyone at once answers as asked about each in turn (and
        // about someone without a key, and a stranger).
        let probe = planner.skip_probe();
        let mut asked: Vec<(&str, u64)> = people.iter().map(|(id, n)| (*id, raw_of(n))).collect();
        asked.extend([("", 1), ("stranger", 2)]);
        let one_by_one: Vec<Option<ProbedItem>> = asked
            .iter()
            .map(|&(id, raw)| probe.probe(id, RawHash(raw)))
            .collect();
        assert_eq!(probe.probe_all(&asked), one_by_one);
        drop(probe);
        let (mut skipped, mut sent) = (Vec::new(), Vec::new());
        for (id, name) in people {
            let raw = RawHash(raw_of(name));
            if planner.skip_unchanged(id, raw) {
                skipped.push(id.to_string());
                continue;
            }
            let (u, hash, xml) = user(id, name, today);
            if planner
                .observe_raw(&u, hash, &xml, Some((id, raw)))
                .unwrap()
                .send
            {
                sent.push(u.primary_id.clone());
            }
        }
        let (counts, _) = deliver(planner, run, &mut sent);
        (skipped, sent, counts)
    }

    #[test]
    fn a_preloaded_delta_skips_as_one_that_reads_its_items_itself() {
        let dir = tempfile::tempdir().unwrap();
        let mut plain = StateStore::open(&dir.path().join("plain.sqlite")).unwrap();
        let mut ahead = StateStore::open(&dir.path().join("ahead.sqlite")).unwrap();
        let days: [&[(&str, &str)]; 4] = [
            &[("a", "Ann"), ("bb", "Bo"), ("ccc", "Cy")],
            &[("a", "Ann"), ("bb", "Bob"), ("ccc", "Cy"), ("dd", "Di")],
            &[("a", "Ann"), ("bb", "Bob"), ("dd", "Di")],
            &[("ccc", "Cy"), ("a", "Ann"), ("bb", "Bob"), ("dd", "Dee")],
        ];
        let mut skipped_any = false;
        for (n, people) in days.into_iter().enumerate() {
            let today = day(n as u64 + 1);
            let want = skipping_night(&mut plain, today, people, false);
            let got = skipping_night(&mut ahead, today, people, true);
            assert_eq!(got, want, "day {}", n + 1);
            skipped_any |= !got.0.is_empty();
        }
        // The comparison means something only if someone was skipped.
        assert!(skipped_any);
    }

    #[test]
    fn a_delta_dated_before_a_delivered_run_skips_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(&dir.path().join("s.sqlite")).unwrap();
        let people: &[(&str, &str)] = &[("a", "Ann"), ("bb", "Bo")];
        skipping_night(&mut store, day(5), people, false);
        let (skipped, sent, _) = skipping_night(&mut store, day(6), people, false);
        assert_eq!(
            (skipped, sent),
            (vec!["a".to_string(), "bb".into()], vec![])
        );
        // Two days before the last delivered run: the expiry (today + 365) maps earlier than
        // the one sent, so mapping finds everyone changed; skipping must not say unchanged.
        let (skipped, sent, counts) = skipping_night(&mut store, day(4), people, true);
        assert_eq!(skipped, Vec::<String>::new());
        assert_eq!(sent, vec!["a".to_string(), "bb".into()]);
        assert_eq!(counts.changed, 2);
    }

    #[test]
    fn a_delivered_run_of_an_unreadable_day_skips_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(&dir.path().join("s.sqlite")).unwrap();
        let people: &[(&str, &str)] = &[("a", "Ann"), ("bb", "Bo")];
        skipping_night(&mut store, day(5), people, false);
        let (skipped, _, _) = skipping_night(&mut store, day(6), people, false);
        assert_eq!(skipped.len(), 2);
        // The delivered runs' start edited into something that is not a time: they could
        // have been on any day, so the next delta maps everyone (and finds them unchanged).
        store
            .conn
            .execute("UPDATE runs SET started = 'yesterday'", [])
            .unwrap();
        let (skipped, sent, counts) = skipping_night(&mut store, day(7), people, true);
        assert_eq!(skipped, Vec::<String>::new());
        assert_eq!(sent, Vec::<String>::new());
        assert_eq!(counts.unchanged, 2);
    }
}
