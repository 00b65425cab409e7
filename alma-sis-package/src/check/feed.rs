//! Feed-wide uniqueness: match IDs and identifier values across every user of one run.
//!
//! Alma compares identifiers case-insensitively and across types ("All primary and
//! additional identifiers must be unique for users, including for the same user"). The
//! index keeps, per value, a 64-bit hash of its lowercase form and the ordinal of the first
//! user that used it; per user, its primary id in one shared byte arena and where it was
//! read. Nothing else about a user is retained, so memory is a few bytes per identifier
//! and never holds names or records.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};

/// Where a user was read: an index into the checker's source list and a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub source: u32,
    pub line: u64,
}

#[derive(Debug, Clone, Copy)]
struct UserSlot {
    id_start: u32,
    id_len: u32,
    seen: Seen,
}

/// A fixed-key hasher: the same input gives the same result on every run.
type Fixed = BuildHasherDefault<DefaultHasher>;

/// The feed-wide index; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct FeedIndex {
    match_ids: HashMap<u64, u32, Fixed>,
    identifiers: HashMap<u64, u32, Fixed>,
    users: Vec<UserSlot>,
    arena: Vec<u8>,
}

/// The first user that used a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FirstUse {
    pub primary_id: String,
    pub seen: Seen,
}

/// Hashes a value the way Alma compares it: trimmed, case-insensitive.
pub(crate) fn id_key(value: &str) -> u64 {
    let mut h = DefaultHasher::new();
    for c in value.trim().chars().flat_map(char::to_lowercase) {
        c.hash(&mut h);
    }
    h.finish()
}

impl FeedIndex {
    /// Registers a user and returns its ordinal.
    pub fn add_user(&mut self, primary_id: &str, seen: Seen) -> u32 {
        let start = u32::try_from(self.arena.len()).unwrap_or(u32::MAX);
        let len = u32::try_from(primary_id.len()).unwrap_or(0);
        self.arena.extend_from_slice(primary_id.as_bytes());
        self.users.push(UserSlot {
            id_start: start,
            id_len: len,
            seen,
        });
        u32::try_from(self.users.len() - 1).unwrap_or(u32::MAX)
    }

    fn first_use(&self, ordinal: u32) -> Option<FirstUse> {
        let slot = self.users.get(ordinal as usize)?;
        let start = slot.id_start as usize;
        let bytes = self.arena.get(start..start + slot.id_len as usize)?;
        Some(FirstUse {
            primary_id: String::from_utf8_lossy(bytes).into_owned(),
            seen: slot.seen,
        })
    }

    /// Claims a match ID for `user`; returns the first user when another one holds it.
    pub fn claim_match_id(&mut self, value: &str, user: u32) -> Option<FirstUse> {
        let first = *self.match_ids.entry(id_key(value)).or_insert(user);
        (first != user).then(|| self.first_use(first)).flatten()
    }

    /// Claims an identifier value for `user`; returns the first user when another one
    /// holds it. The same user claiming twice is not reported here (record validation
    /// reports duplicates within one user).
    pub fn claim_identifier(&mut self, value: &str, user: u32) -> Option<FirstUse> {
        let first = *self.identifiers.entry(id_key(value)).or_insert(user);
        (first != user).then(|| self.first_use(first)).flatten()
    }

    /// How much the index holds: (users, distinct match IDs, distinct identifiers, arena
    /// bytes).
    pub fn sizes(&self) -> (usize, usize, usize, usize) {
        (
            self.users.len(),
            self.match_ids.len(),
            self.identifiers.len(),
            self.arena.len(),
        )
    }
}
