//! The user last sent for an item, read back from its stored payload: what the planner
//! re-sends and re-keys by, and what `explain` shows for someone vanished.

use std::io::Read as _;

use alma_user_model::{User, UserReader};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::{StateError, StateStore, sql_error};

const GET_PAYLOAD: &str = "SELECT payload FROM payloads WHERE feed = ?1 AND key = ?2";

/// The user last stored for `key`: the rendered `<user>` (or, written by older versions,
/// its JSON).
pub(super) fn load_user(
    store: &StateStore,
    feed: &str,
    key: &str,
) -> Result<Option<User>, StateError> {
    let conn: &Connection = &store.conn;
    let mut stmt = conn
        .prepare_cached(GET_PAYLOAD)
        .map_err(|source| sql_error(&store.path, format!("read the payload of {key:?}"), source))?;
    let payload = stmt
        .query_row(params![feed, key], |r| {
            Ok(match r.get_ref(0)? {
                ValueRef::Text(b) | ValueRef::Blob(b) => Some(b.to_vec()),
                _ => None,
            })
        })
        .optional()
        .map_err(|source| sql_error(&store.path, format!("read the payload of {key:?}"), source))?
        .flatten();
    let Some(payload) = payload else {
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
