//! Feed-wide uniqueness: match IDs and identifier values across every user of one run.
//!
//! Alma compares identifiers case-insensitively and across types ("All primary and
//! additional identifiers must be unique for users, including for the same user"). The
//! index keeps one map from a 64-bit hash of each value's lowercase form to the first user
//! that used it (with a bit saying whether it was that user's match ID), and per user its
//! primary id in one shared byte arena and where it was read: about 30 bytes per identifier
//! and user, never names or records.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
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
    id_len: u16,
    source: u16,
    line: u32,
}

/// A fixed-key hasher: the same input gives the same result on every run.
type Fixed = BuildHasherDefault<DefaultHasher>;

/// Set on an owner when the value is that user's match ID.
const MATCH_BIT: u32 = 1 << 31;

/// The feed-wide index; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct FeedIndex {
    owners: HashMap<u64, u32, Fixed>,
    users: Vec<UserSlot>,
    arena: Vec<u8>,
}

/// The first user that used a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FirstUse {
    pub primary_id: String,
    pub seen: Seen,
    /// The value was that user's match ID.
    pub as_match_id: bool,
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
        // Primary ids are at most 255 characters; anything longer is cut for the message.
        let id = &primary_id.as_bytes()[..primary_id.len().min(usize::from(u16::MAX))];
        let start = u32::try_from(self.arena.len()).unwrap_or(u32::MAX);
        self.arena.extend_from_slice(id);
        self.users.push(UserSlot {
            id_start: start,
            id_len: u16::try_from(id.len()).unwrap_or(u16::MAX),
            source: u16::try_from(seen.source).unwrap_or(u16::MAX),
            line: u32::try_from(seen.line).unwrap_or(u32::MAX),
        });
        u32::try_from(self.users.len() - 1).unwrap_or(MATCH_BIT - 1) & !MATCH_BIT
    }

    fn first_use(&self, owner: u32) -> Option<FirstUse> {
        let slot = self.users.get((owner & !MATCH_BIT) as usize)?;
        let start = slot.id_start as usize;
        let bytes = self.arena.get(start..start + usize::from(slot.id_len))?;
        Some(FirstUse {
            primary_id: String::from_utf8_lossy(bytes).into_owned(),
            seen: Seen {
                source: u32::from(slot.source),
                line: u64::from(slot.line),
            },
            as_match_id: owner & MATCH_BIT != 0,
        })
    }

    /// Claims `value` for `user` (as its match ID when `as_match_id`); returns the first
    /// user when another one holds it. A user claiming its own value again is not reported
    /// here (record validation reports duplicates within one user).
    pub fn claim(&mut self, value: &str, user: u32, as_match_id: bool) -> Option<FirstUse> {
        let tagged = if as_match_id { user | MATCH_BIT } else { user };
        match self.owners.entry(id_key(value)) {
            Entry::Vacant(v) => {
                v.insert(tagged);
                None
            }
            Entry::Occupied(o) => {
                let owner = *o.get();
                if owner & !MATCH_BIT == user {
                    None
                } else {
                    self.first_use(owner)
                }
            }
        }
    }

    /// How much the index holds: (users, distinct values, arena bytes).
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.users.len(), self.owners.len(), self.arena.len())
    }
}
