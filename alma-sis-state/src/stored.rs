//! The user last sent for an item, read back from its stored payload: what the planner
//! re-sends and re-keys by, and what `explain` shows for someone vanished.

use std::io::Read as _;

use alma_user_model::{User, UserReader};
use rusqlite::ToSql;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::codec::{Unreadable, dictionary_of};
use super::{StateError, StateStore, sql_error};

const GET_PAYLOAD: &str = "SELECT p.payload FROM items i JOIN payloads p ON p.id = i.pid \
     WHERE i.feed = ?1 AND i.key = ?2";

/// The payload stored for `key`, expanded: a BLOB through the [codec](super::codec) (its
/// dictionary read from the file the first time one is needed), TEXT (as earlier versions
/// stored it) as it is.
pub(super) fn payload_bytes(
    store: &StateStore,
    feed: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, StateError> {
    let conn: &Connection = &store.conn;
    let err = |source| sql_error(&store.path, format!("read the payload of {key:?}"), source);
    let mut stmt = conn.prepare_cached(GET_PAYLOAD).map_err(err)?;
    let stored = stmt
        .query_row(params![feed, key], |r| {
            Ok(match r.get_ref(0)? {
                ValueRef::Text(b) => Some((false, b.to_vec())),
                ValueRef::Blob(b) => Some((true, b.to_vec())),
                _ => None,
            })
        })
        .optional()
        .map_err(err)?
        .flatten();
    let Some((compressed, bytes)) = stored else {
        return Ok(None);
    };
    if !compressed {
        return Ok(Some(bytes));
    }
    expand(store, feed, key, &bytes).map(Some)
}

/// A stored BLOB expanded, reading its dictionary when the codec does not know it yet.
pub(super) fn expand(
    store: &StateStore,
    feed: &str,
    key: &str,
    stored: &[u8],
) -> Result<Vec<u8>, StateError> {
    let corrupt = |value: String| StateError::Corrupt {
        path: store.path.clone(),
        feed: feed.to_owned(),
        key: key.to_owned(),
        field: "payload",
        value,
    };
    if let Some(id) = dictionary_of(stored).filter(|&id| !store.codec.borrow().knows(id)) {
        let bytes = store
            .conn
            .query_row("SELECT bytes FROM dictionaries WHERE id = ?1", [id], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional()
            .map_err(|source| sql_error(&store.path, format!("read dictionary {id}"), source))?
            .ok_or_else(|| corrupt(format!("(dictionary {id} is missing)")))?;
        store.codec.borrow_mut().add(id, bytes, false);
    }
    store
        .codec
        .borrow_mut()
        .decode(stored)
        .map_err(|e| match e {
            Unreadable::NoDictionary(id) => corrupt(format!("(dictionary {id} is missing)")),
            Unreadable::Damaged => corrupt("(damaged)".into()),
        })
}

/// Stores `stored` (already encoded) as the payload of item `key`, which must exist:
/// replaces its payload in place, or appends one and points the item at it.
pub(super) fn put_payload(
    conn: &Connection,
    feed: &str,
    key: &str,
    stored: &[u8],
) -> rusqlite::Result<()> {
    put(conn, feed, key, &stored)
}

/// [`put_payload`] for a payload as an earlier version kept it (TEXT), put back as it was.
pub(super) fn put_payload_text(
    conn: &Connection,
    feed: &str,
    key: &str,
    text: &str,
) -> rusqlite::Result<()> {
    put(conn, feed, key, &text)
}

fn put(conn: &Connection, feed: &str, key: &str, stored: &dyn ToSql) -> rusqlite::Result<()> {
    let replaced = conn
        .prepare_cached(
            "UPDATE payloads SET payload = ?3 \
             WHERE id = (SELECT pid FROM items WHERE feed = ?1 AND key = ?2)",
        )?
        .execute(params![feed, key, stored])?;
    if replaced == 0 {
        let id = append_payload(conn, stored)?;
        conn.prepare_cached("UPDATE items SET pid = ?3 WHERE feed = ?1 AND key = ?2")?
            .execute(params![feed, key, id])?;
    }
    Ok(())
}

/// Appends `stored` (already encoded) as a payload no item points at yet; its id.
pub(super) fn append_payload(conn: &Connection, stored: &dyn ToSql) -> rusqlite::Result<i64> {
    conn.prepare_cached("INSERT INTO payloads (payload) VALUES (?1)")?
        .execute([stored])?;
    Ok(conn.last_insert_rowid())
}

/// Removes payload `id`, one that [`append_payload`] added and no item points at.
pub(super) fn remove_payload(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM payloads WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Removes the payload of item `key` (the item stays, without one).
pub(super) fn delete_payload(conn: &Connection, feed: &str, key: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "DELETE FROM payloads WHERE id = (SELECT pid FROM items WHERE feed = ?1 AND key = ?2)",
    )?
    .execute(params![feed, key])?;
    conn.prepare_cached("UPDATE items SET pid = NULL WHERE feed = ?1 AND key = ?2")?
        .execute(params![feed, key])?;
    Ok(())
}

/// The user last stored for `key`: the rendered `<user>` (or, written by older versions,
/// its JSON).
pub(super) fn load_user(
    store: &StateStore,
    feed: &str,
    key: &str,
) -> Result<Option<User>, StateError> {
    let Some(payload) = payload_bytes(store, feed, key)? else {
        return Ok(None);
    };
    if payload.trim_ascii_start().starts_with(b"{") {
        return serde_json::from_slice(&payload)
            .map(Some)
            .map_err(|source| StateError::Payload {
                feed: feed.to_owned(),
                key: key.to_owned(),
                source,
            });
    }
    let document = (&b"<users>\n"[..])
        .chain(&payload[..])
        .chain(&b"</users>\n"[..]);
    let mut reader = UserReader::new(document);
    match reader.next_user() {
        Ok(Some(read)) => Ok(Some(read.user)),
        Ok(None) => Err(StateError::Corrupt {
            path: store.path.clone(),
            feed: feed.to_owned(),
            key: key.to_owned(),
            field: "payload",
            value: "(no <user> element)".into(),
        }),
        Err(source) => Err(StateError::StoredUser {
            feed: feed.to_owned(),
            key: key.to_owned(),
            source,
        }),
    }
}
