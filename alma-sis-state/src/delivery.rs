//! What reached the destination, file by file: a run that delivered only some of its zips
//! records as sent only the people in the zips that arrived, and keeps, per zip that did not,
//! what it would have recorded, so that delivering that zip later (`alma-sis deliver`)
//! records it then.
//!
//! ```text
//! planned.commit_delivered(run, &end, &files, held_back)?   COMMIT: the zips that arrived
//! store.run_file(sha256)?                                   which run made this zip?
//! store.superseded_by(&file)?                               did a later run send its people again?
//! store.record_late_delivery(&file, today)?                 the zip arrived after all
//! ```
//!
//! The people of a zip that did not arrive are put back as the last finished run left them
//! (read from the state file as committed, through a second, read-only connection: SQLite's
//! WAL gives it the snapshot before this run's open transaction), so the next run sends them
//! again; someone who vanished today and whose expired record did not arrive stays vanished
//! since today, not yet re-sent.

use std::collections::HashSet;

use alma_user_model::match_key;
use chrono::NaiveDate;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, params};

use super::plan::PlannedRun;
use super::stored::{delete_payload, put_payload, put_payload_text};
use super::{
    RunEnd, RunId, RunOutcome, SENT_BY_LAST_FULL_RUN, StateError, StateStore, date_text,
    day_number, sql_error,
};

/// The tables this module keeps. Created when missing, so a state file written before them
/// keeps working (and an older alma-sis ignores them).
pub(super) const DELIVERY_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS run_files (
    run INTEGER NOT NULL,
    feed TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    users INTEGER NOT NULL,
    delivered TEXT,
    PRIMARY KEY (run, name)
);
CREATE INDEX IF NOT EXISTS run_files_by_sha256 ON run_files (sha256);
CREATE TABLE IF NOT EXISTS pending (
    run INTEGER NOT NULL,
    file TEXT NOT NULL,
    feed TEXT NOT NULL,
    key TEXT NOT NULL,
    hash BLOB NOT NULL,
    expires TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    last_sent TEXT,
    status TEXT NOT NULL,
    status_since TEXT,
    sends INTEGER NOT NULL,
    payload TEXT,
    PRIMARY KEY (run, file, key)
);
";

/// The item columns, in the order `pending` repeats them after its own.
const ITEM_COLUMNS: &str =
    "hash, expires, first_seen, last_seen, last_sent, status, status_since, sends";

/// A file a run wrote, and whether it reached the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFile {
    /// Its file name.
    pub name: String,
    /// Its hex sha256 (how `alma-sis deliver` finds the run that made it).
    pub sha256: String,
    /// Users in it.
    pub users: u64,
    /// Whether it arrived.
    pub delivered: bool,
}

/// A file of a recorded run, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFile {
    /// The run that wrote it.
    pub run: RunId,
    /// The run's feed.
    pub feed: String,
    /// Its file name.
    pub name: String,
    /// Users in it.
    pub users: u64,
    /// When it arrived, if it did.
    pub delivered: Option<String>,
    /// Users whose record waits for it to arrive.
    pub pending: u64,
}

/// What [`PlannedRun::commit_delivered`] held back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldBack {
    /// People put back as the last finished run left them (their records wait per file).
    pub people: u64,
}

/// An item row: the columns of [`ITEM_COLUMNS`], as SQLite values.
type ItemRow = Vec<Value>;

/// An item row and its payload as stored (encoded; or TEXT as earlier versions kept it).
fn read_item(
    conn: &Connection,
    feed: &str,
    key: &str,
) -> rusqlite::Result<Option<(ItemRow, Option<Value>)>> {
    let item = conn
        .prepare_cached(&format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE feed = ?1 AND key = ?2"
        ))?
        .query_row(params![feed, key], |r| {
            (0..8)
                .map(|i| r.get::<_, Value>(i))
                .collect::<Result<_, _>>()
        })
        .optional()?;
    let Some(item) = item else {
        return Ok(None);
    };
    let payload = conn
        .prepare_cached(
            "SELECT p.payload FROM items i JOIN payloads p ON p.id = i.pid \
             WHERE i.feed = ?1 AND i.key = ?2",
        )?
        .query_row(params![feed, key], |r| r.get::<_, Value>(0))
        .optional()?;
    Ok(Some((item, payload)))
}

fn text_of(v: &Value) -> Option<&str> {
    match v {
        Value::Text(t) => Some(t),
        _ => None,
    }
}

/// Writes an item row (and its payload, or none) for `key`, without a raw-row hash: the
/// rows behind a row put back or delivered late are not known, and a hash kept from the
/// run that held it back (the rows of a change that did not arrive) would let the next
/// delta skip the person as unchanged, so the change would never reach Alma. Without one,
/// the next delta maps them.
fn write_item(
    conn: &Connection,
    feed: &str,
    key: &str,
    item: &ItemRow,
    payload: Option<&Value>,
) -> rusqlite::Result<()> {
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![&feed, &key];
    values.extend(item.iter().map(|v| v as &dyn rusqlite::ToSql));
    conn.prepare_cached(&format!(
        "INSERT INTO items (feed, key, {ITEM_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, \
         ?9, ?10) ON CONFLICT (feed, key) DO UPDATE SET hash = excluded.hash, \
         expires = excluded.expires, first_seen = excluded.first_seen, \
         last_seen = excluded.last_seen, last_sent = excluded.last_sent, \
         status = excluded.status, status_since = excluded.status_since, sends = excluded.sends, \
         raw = NULL"
    ))?
    .execute(values.as_slice())?;
    match payload {
        Some(Value::Blob(p)) => put_payload(conn, feed, key, p),
        Some(Value::Text(p)) => put_payload_text(conn, feed, key, p),
        _ => delete_payload(conn, feed, key),
    }
}

impl PlannedRun<'_> {
    /// Delivered file by file: commits the run (recorded as `end`) with only the people in
    /// the files that arrived marked sent. `held_back` lists `(file, primary id)` for every
    /// user in a file of `files` that did not arrive (read back from those files): each is put
    /// back as the last finished run left them, and what this run would have recorded for them
    /// is kept with the file, for [`StateStore::record_late_delivery`]. Keeps `files` with
    /// their sha256 and whether they arrived, and drops what earlier runs of the feed kept
    /// for files that never arrived (this run sent their people again).
    ///
    /// With every file delivered and nothing held back this is [`PlannedRun::commit`] plus
    /// the record of the files.
    pub fn commit_delivered(
        self,
        run: RunId,
        end: &RunEnd,
        files: &[RunFile],
        held_back: impl IntoIterator<Item = (String, String)>,
    ) -> Result<HeldBack, StateError> {
        let PlannedRun {
            mut tx,
            feed,
            today,
            partial,
            full_run,
            purge_restore,
            ..
        } = self;
        let path = tx.store.path.clone();
        let sql = |action: &str| {
            let (path, action) = (path.clone(), format!("{action} (run {run})"));
            move |source| sql_error(&path, action, source)
        };
        let mut held = HeldBack::default();
        // The state as last committed, and its day of the feed's last full run.
        let mut before: Option<(Connection, Option<i64>)> = None;
        let mut seen = HashSet::new();
        for (file, value) in held_back {
            let key = match_key(&value).into_owned();
            if !seen.insert(key.clone()) {
                continue;
            }
            let conn = &tx.store.conn;
            let Some((mut after, after_payload)) =
                read_item(conn, &feed, &key).map_err(sql("read a held-back item"))?
            else {
                continue;
            };
            // Kept and put back with dates of their own: the day of the feed's last full run
            // moves with this commit (see `SENT_BY_LAST_FULL_RUN`).
            let by_full_run = Value::Integer(SENT_BY_LAST_FULL_RUN);
            if after[4] == by_full_run {
                after[4] = Value::Integer(day_number(today));
            }
            let (before, before_full_sent) = match &mut before {
                Some((c, f)) => (&*c, *f),
                None => {
                    let c = open_snapshot(&path).map_err(sql("open a reader"))?;
                    let f = full_sent(&c, &feed).map_err(sql("read the feed as last committed"))?;
                    let (c, f) = before.insert((c, f));
                    (&*c, *f)
                }
            };
            let (restored, restored_payload) = match read_item(before, &feed, &key)
                .map_err(sql("read an item as last committed"))?
            {
                None => (None, None),
                Some((mut item, payload)) => {
                    if item[4] == by_full_run {
                        item[4] = before_full_sent.map_or(Value::Null, Value::Integer);
                    }
                    let was_present = text_of(&item[5]) == Some("present");
                    let vanished_now = matches!(text_of(&after[5]), Some("vanished" | "retired"));
                    if was_present && vanished_now {
                        // Vanished today, and the expired record did not arrive: vanished
                        // since today, to be re-sent by the next run.
                        item[3] = after[3].clone();
                        item[5] = Value::Text("vanished".into());
                        item[6] = Value::Integer(day_number(today));
                        item[7] = Value::Integer(0);
                    }
                    (Some(item), payload)
                }
            };
            let mut values: Vec<&dyn rusqlite::ToSql> = vec![&run.0, &file, &feed, &key];
            values.extend(after.iter().map(|v| v as &dyn rusqlite::ToSql));
            values.push(&after_payload);
            conn.prepare_cached(&format!(
                "INSERT OR REPLACE INTO pending (run, file, feed, key, {ITEM_COLUMNS}, payload) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))
            .and_then(|mut s| s.execute(values.as_slice()))
            .map_err(sql("keep a held-back record"))?;
            match restored {
                Some(item) => write_item(conn, &feed, &key, &item, restored_payload.as_ref()),
                None => delete_payload(conn, &feed, &key).and_then(|()| {
                    conn.execute(
                        "DELETE FROM items WHERE feed = ?1 AND key = ?2",
                        params![feed, key],
                    )
                    .map(drop)
                }),
            }
            .map_err(sql("put a held-back item back"))?;
            held.people += 1;
        }
        drop(before);
        let conn = &tx.store.conn;
        if let Some(basis) = purge_restore.filter(|_| held.people > 0) {
            // Some people did not get the purge dates of the new rules: the next run sends
            // them (and everyone) again.
            conn.execute(
                "UPDATE purge_bases SET basis = ?2 WHERE feed = ?1",
                params![feed, basis],
            )
            .map_err(sql("put the purge rules basis back"))?;
        }
        conn.execute(
            "DELETE FROM pending WHERE feed = ?1 AND run < ?2",
            params![feed, run.0],
        )
        .map_err(sql("drop earlier runs' held-back records"))?;
        let today_text = date_text(today);
        for f in files {
            conn.execute(
                "INSERT OR REPLACE INTO run_files (run, feed, name, sha256, users, delivered) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    run.0,
                    feed,
                    f.name,
                    f.sha256,
                    i64::try_from(f.users).unwrap_or(i64::MAX),
                    f.delivered.then_some(&today_text),
                ],
            )
            .map_err(sql("record the run's files"))?;
        }
        let touch = (!partial).then_some(today);
        tx.store
            .record_end(run, end, touch, full_run.then_some(today))?;
        tx.end("COMMIT", &format!("commit run {run} of feed {feed:?}"))?;
        Ok(held)
    }
}

/// The day of `feed`'s last complete full run (`feeds.full_sent`), as `conn` sees it.
fn full_sent(conn: &Connection, feed: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT full_sent FROM feeds WHERE feed = ?1", [feed], |r| {
        r.get::<_, Option<i64>>(0)
    })
    .optional()
    .map(Option::flatten)
}

/// A read-only connection whose first read fixes its snapshot: the state as last committed.
fn open_snapshot(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch("BEGIN")?;
    conn.query_row("SELECT count(*) FROM runs", [], |r| r.get::<_, i64>(0))?;
    Ok(conn)
}

impl StateStore {
    /// Creates the tables of per-file delivery when the file lacks them.
    pub(super) fn ensure_delivery_tables(&self) -> Result<(), StateError> {
        let present: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
                 AND name IN ('run_files', 'pending')",
                [],
                |r| r.get(0),
            )
            .map_err(self.sql_err("look for the delivery tables"))?;
        if present == 2 {
            return Ok(());
        }
        self.conn
            .execute_batch(&format!("BEGIN IMMEDIATE; {DELIVERY_SCHEMA} COMMIT;"))
            .map_err(self.sql_err("create the delivery tables"))
    }

    /// The recorded file with this sha256 (the newest run's, if several runs made the same
    /// bytes).
    pub fn run_file(&self, sha256: &str) -> Result<Option<RecordedFile>, StateError> {
        self.conn
            .query_row(
                "SELECT f.run, f.feed, f.name, f.users, f.delivered, \
                 (SELECT count(*) FROM pending p WHERE p.run = f.run AND p.file = f.name) \
                 FROM run_files f WHERE f.sha256 = ?1 ORDER BY f.run DESC LIMIT 1",
                [sha256],
                |r| {
                    Ok(RecordedFile {
                        run: RunId(r.get(0)?),
                        feed: r.get(1)?,
                        name: r.get(2)?,
                        users: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                        delivered: r.get(4)?,
                        pending: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
                    })
                },
            )
            .optional()
            .map_err(self.sql_err("look up a file by its sha256"))
    }

    /// The first later run of the file's feed that recorded people as sent, or files: it
    /// sent the file's people again, so delivering the file now would send older records.
    pub fn superseded_by(&self, file: &RecordedFile) -> Result<Option<RunId>, StateError> {
        self.conn
            .query_row(
                "SELECT min(id) FROM runs WHERE feed = ?1 AND id > ?2 AND \
                 (outcome IN ('delivered', 'partly-delivered') \
                  OR id IN (SELECT run FROM run_files WHERE feed = ?1))",
                params![file.feed, file.run.0],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(|id| id.map(RunId))
            .map_err(self.sql_err("look for later runs"))
    }

    /// A file of a recorded run arrived after all (`alma-sis deliver`): records its people as
    /// that run would have, marks it delivered on `today`, and, once every file of the run
    /// has arrived, records the run as delivered. Returns how many people it recorded.
    /// Check [`StateStore::superseded_by`] first.
    pub fn record_late_delivery(
        &mut self,
        file: &RecordedFile,
        today: NaiveDate,
    ) -> Result<u64, StateError> {
        let run = file.run;
        let path = self.path.clone();
        let sql = |action: &str| {
            let (path, action) = (path.clone(), format!("{action} (run {run})"));
            move |source| sql_error(&path, action, source)
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql("start a transaction"))?;
        let mut rows: Vec<(String, ItemRow, Option<Value>)> = Vec::new();
        {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT key, {ITEM_COLUMNS}, payload FROM pending \
                     WHERE run = ?1 AND file = ?2 ORDER BY key"
                ))
                .map_err(sql("read the held-back records"))?;
            let mut found = stmt
                .query(params![run.0, file.name])
                .map_err(sql("read the held-back records"))?;
            while let Some(r) = found.next().map_err(sql("read the held-back records"))? {
                let read = (|| -> rusqlite::Result<_> {
                    let item = (1..9)
                        .map(|i| r.get::<_, Value>(i))
                        .collect::<Result<_, _>>()?;
                    let payload = match r.get::<_, Value>(9)? {
                        Value::Null => None,
                        v => Some(v),
                    };
                    Ok((r.get(0)?, item, payload))
                })();
                rows.push(read.map_err(sql("read the held-back records"))?);
            }
        }
        for (key, item, payload) in &rows {
            let keep = match payload {
                Some(p) => Some(p.clone()),
                // The run did not change this person's payload: keep the stored one.
                None => read_item(&tx, &file.feed, key)
                    .map_err(sql("read a payload"))?
                    .and_then(|(_, p)| p),
            };
            write_item(&tx, &file.feed, key, item, keep.as_ref())
                .map_err(sql("record a late delivery"))?;
        }
        tx.execute(
            "DELETE FROM pending WHERE run = ?1 AND file = ?2",
            params![run.0, file.name],
        )
        .map_err(sql("drop the held-back records"))?;
        tx.execute(
            "UPDATE run_files SET delivered = ?3 WHERE run = ?1 AND name = ?2",
            params![run.0, file.name, date_text(today)],
        )
        .map_err(sql("mark the file delivered"))?;
        let missing: i64 = tx
            .query_row(
                "SELECT count(*) FROM run_files WHERE run = ?1 AND delivered IS NULL",
                [run.0],
                |r| r.get(0),
            )
            .map_err(sql("count the files still missing"))?;
        if missing == 0 {
            tx.execute(
                "UPDATE runs SET outcome = ?2, message = trim(coalesce(message, '') || \
                 ' (every file delivered later by alma-sis deliver)') WHERE id = ?1",
                params![run.0, RunOutcome::Delivered.code()],
            )
            .map_err(sql("record the run as delivered"))?;
        }
        tx.commit().map_err(sql("commit"))?;
        Ok(rows.len() as u64)
    }
}
