//! Upgrades a state file written by an earlier version (schema 1, or 0 before versions were
//! recorded) to the compact layout, in one transaction: items keyed once, dates as day
//! numbers, hashes cut to [`ContentHash::STORED`] bytes, payloads compressed with a
//! dictionary built from the file's own users. Then the file is vacuumed, so it shrinks.

use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension as _, params};

use super::codec::{self, Codec};
use super::{
    ContentHash, RUNS_SCHEMA, SCHEMA, SCHEMA_VERSION, StateError, StateStore, delivery, sql_error,
};

/// A text date column as a day number, in SQL (NULL stays NULL).
fn day(column: &str) -> String {
    format!("unixepoch({column}) / 86400")
}

pub(super) fn upgrade(store: &StateStore) -> Result<(), StateError> {
    let conn = &store.conn;
    let sql = |action: &str| {
        let path = store.path.clone();
        let action = format!("upgrade the state file: {action}");
        move |source| sql_error(&path, action, source)
    };
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(sql("start a transaction"))?;
    let result = (|| -> Result<(), StateError> {
        // Another process may have upgraded it while this one waited for the lock.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql("read the schema version"))?;
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        let has_feeds = store.has_table("feeds", "read the schema")?;
        let has_payloads = store.has_table("payloads", "read the schema")?;
        conn.execute_batch(&format!(
            "ALTER TABLE items RENAME TO items_v1; {} {} {SCHEMA} {RUNS_SCHEMA} {}",
            if has_payloads {
                "ALTER TABLE payloads RENAME TO payloads_v1;"
            } else {
                ""
            },
            if has_feeds {
                "ALTER TABLE feeds RENAME TO feeds_v1;"
            } else {
                ""
            },
            delivery::DELIVERY_SCHEMA
        ))
        .map_err(sql("rename the old tables"))?;
        conn.execute(
            &format!(
                "INSERT INTO items (feed, key, hash, expires, first_seen, last_seen, last_sent, \
                 status, status_since, sends) SELECT feed, key, substr(hash, 1, {}), {}, {}, {}, \
                 {}, status, {}, sends FROM items_v1",
                ContentHash::STORED,
                day("expires"),
                day("first_seen"),
                day("last_seen"),
                day("last_sent"),
                day("status_since"),
            ),
            [],
        )
        .map_err(sql("copy the items"))?;
        if has_feeds {
            conn.execute(
                &format!(
                    "INSERT INTO feeds (feed, last_seen) SELECT feed, {} FROM feeds_v1",
                    day("last_seen")
                ),
                [],
            )
            .map_err(sql("copy the feeds"))?;
        }
        // Held-back records keep their columns' types (text), each date as its day number.
        let pending_dates = [
            "expires",
            "first_seen",
            "last_seen",
            "last_sent",
            "status_since",
        ]
        .map(|c| format!("{c} = {}", day(c)))
        .join(", ");
        conn.execute(
            &format!(
                "UPDATE pending SET {pending_dates}, hash = substr(hash, 1, {})",
                ContentHash::STORED
            ),
            [],
        )
        .map_err(sql("convert the held-back records"))?;
        if has_payloads {
            copy_payloads(store)?;
        }
        conn.execute_batch(&format!(
            "DROP TABLE items_v1; {} {} PRAGMA user_version = {SCHEMA_VERSION};",
            if has_payloads {
                "DROP TABLE payloads_v1;"
            } else {
                ""
            },
            if has_feeds {
                "DROP TABLE feeds_v1;"
            } else {
                ""
            },
        ))
        .map_err(sql("drop the old tables"))?;
        Ok(())
    })();
    match result {
        Ok(()) => {
            conn.execute_batch("COMMIT").map_err(sql("commit"))?;
            // The old tables' pages are free now: give them back (a one-time rewrite).
            conn.execute_batch("VACUUM").map_err(sql("vacuum"))
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Copies every payload, compressed with a dictionary built from the first users stored.
fn copy_payloads(store: &StateStore) -> Result<(), StateError> {
    let conn = &store.conn;
    let sql = |action: &str| {
        let path = store.path.clone();
        let action = format!("upgrade the state file: {action}");
        move |source| sql_error(&path, action, source)
    };
    let samples: Vec<Vec<u8>> = conn
        .prepare(&format!(
            "SELECT payload FROM payloads_v1 WHERE payload LIKE '%<user>%' LIMIT {}",
            codec::SAMPLE
        ))
        .and_then(|mut stmt| {
            stmt.query_map([], |r| Ok(r.get_ref(0)?.as_bytes()?.to_vec()))?
                .collect::<Result<_, _>>()
        })
        .map_err(sql("sample the payloads"))?;
    let mut codec = Codec::new();
    if !samples.is_empty() {
        let dictionary = codec::build_dictionary(&samples);
        conn.execute(
            "INSERT INTO dictionaries (bytes) VALUES (?1)",
            [&dictionary],
        )
        .map_err(sql("store the dictionary"))?;
        codec.add(conn.last_insert_rowid(), dictionary, true);
    }
    let mut read = conn
        .prepare("SELECT feed, key, payload FROM payloads_v1")
        .map_err(sql("read the payloads"))?;
    let mut rows = read.query([]).map_err(sql("read the payloads"))?;
    let mut stored = Vec::new();
    while let Some(row) = rows.next().map_err(sql("read the payloads"))? {
        let feed: String = row.get(0).map_err(sql("read the payloads"))?;
        let key: String = row.get(1).map_err(sql("read the payloads"))?;
        let payload = match row.get_ref(2).map_err(sql("read the payloads"))? {
            ValueRef::Text(b) | ValueRef::Blob(b) => b,
            _ => continue,
        };
        // Users compressed; other feeds' JSON as it is.
        if payload.trim_ascii_start().starts_with(b"<") {
            codec.encode(payload, &mut stored);
        } else {
            stored.clear();
            stored.push(codec::RAW);
            stored.extend_from_slice(payload);
        }
        let item = conn
            .query_row(
                "SELECT 1 FROM items WHERE feed = ?1 AND key = ?2",
                params![feed, key],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map_err(sql("copy a payload"))?;
        if item.is_some() {
            super::stored::put_payload(conn, &feed, &key, &stored)
                .map_err(sql("copy a payload"))?;
        }
    }
    Ok(())
}
