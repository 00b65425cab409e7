//! Feed-wide uniqueness: match IDs and identifier values across every user of one run.
//!
//! Alma compares identifiers case-insensitively and across types ("All primary and
//! additional identifiers must be unique for users, including for the same user"). The
//! index keeps, per value, a 64-bit hash of its trimmed lowercase form and the first user
//! that used it (with a bit saying whether it was that user's match ID), and per user its
//! primary id and where it was read. Never names or records.
//!
//! # Memory
//!
//! Values live in an open-addressing table (Robin Hood linear probing) of 9-byte slots: a
//! 64-bit word holding the owner, the match bit and the hash bits the slot's position does
//! not already say, and a byte with the probe distance. Sized from [`FeedIndex::reserve`]
//! at up to 92 % load that is about 9.8 bytes per value. Users live in one byte log (line
//! delta, and the primary id either as a number delta or as raw bytes) with an offset every
//! 16 users: 3 to 12 bytes per user. At 788k users and 2.4M values that is about 26 MB.
//!
//! # Hash collisions
//!
//! Two different values with the same hash look like one value used twice: the second user
//! gets a false `E-ID-TAKEN-IN-FEED` (a real duplicate is never missed). A slot compares the
//! home position (about log2(slots) bits of the hash) and `63 - owner bits` further bits
//! (43 up to 1M users), so over a feed of `n` values the odds of any false duplicate are
//! about `n * 0.92 / 2^43`: 2.5e-7 at 2.4M values, as with a full 64-bit hash map.
//! (The hash is foldhash's quality variant with a fixed seed: deterministic run to run.)

use std::hash::{BuildHasher, Hasher};

use foldhash::quality::FixedState;

/// Where a user was read: an index into the checker's source list and a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub source: u32,
    pub line: u64,
}

/// The first user that used a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FirstUse {
    pub primary_id: String,
    pub seen: Seen,
    /// The value was that user's match ID.
    pub as_match_id: bool,
}

/// The fixed seed: the same value hashes the same in every run.
const SEED: u64 = 0x616c_6d61_2d73_6973;

/// Hashes a value the way Alma compares it: trimmed, case-insensitive.
pub(crate) fn id_key(value: &str) -> u64 {
    let mut hasher = FixedState::with_seed(SEED).build_hasher();
    alma_user_model::with_match_key(value, |key| hasher.write(key));
    hasher.finish()
}

/// Values per user a hint sizes the first table for: the primary id and one identifier.
/// A feed with more grows by one table sized at the rate it has shown (see
/// [`FeedIndex::grow`]), so a lean feed does not hold slots it never fills.
const VALUES_PER_USER: usize = 2;
/// The smallest table, when nothing says how large the feed is.
const MIN_SLOTS: usize = 1 << 14;
/// Bytes per slot: the word, then the probe distance plus one (0: empty).
const SLOT: usize = 9;
/// The longest probe distance a slot can record.
const MAX_DISTANCE: u8 = u8::MAX - 1;

/// The most a table is filled, in percent. Robin Hood probing stays short up to here: a
/// value inserted into a table filled to `a` shifts about `(1 + 1 / (1 - a)) / 2` slots on
/// average over the table's filling (7 at 92 %), and a lookup probes about as many.
const MAX_LOAD: usize = 92;

/// True while `len` values fit `slots` at no more than [`MAX_LOAD`].
fn fits(len: usize, slots: usize) -> bool {
    len.saturating_mul(100) <= slots.saturating_mul(MAX_LOAD)
}

/// Slots for `values` at [`MAX_LOAD`].
fn slots_for(values: usize) -> usize {
    values
        .saturating_mul(100)
        .div_ceil(MAX_LOAD)
        .clamp(MIN_SLOTS, 1 << 31)
}

/// Bits for owners below `users` (with room for a quarter more), at least 16.
fn owner_bits_for(users: usize) -> u32 {
    let users = users.saturating_add(users / 4).max(1 << 16);
    (usize::BITS - (users - 1).leading_zeros()).min(31)
}

/// One open-addressing table of values; see the module docs.
#[derive(Debug)]
struct ValueTable {
    slots: Vec<u8>,
    capacity: usize,
    len: usize,
    owner_bits: u32,
}

/// A value found in a table.
#[derive(Debug, Clone, Copy)]
struct Owner {
    user: u32,
    as_match_id: bool,
}

/// Where a value would go: the slot and its probe distance there.
enum Probe {
    Found(Owner),
    Vacant {
        at: usize,
        distance: u8,
    },
    /// The probe ran past [`MAX_DISTANCE`]: the value goes to a new table.
    Full,
}

impl ValueTable {
    #[expect(
        clippy::slow_vector_initialization,
        reason = "zeroed by writing on purpose, see below"
    )]
    fn new(capacity: usize, owner_bits: u32) -> Self {
        // Zeroed by writing, not taken zeroed from the system: a page the system lends
        // zeroed is first mapped to its shared zero page when a probe reads it, and the
        // insert that then writes it pays a copy-on-write fault and a TLB flush on every
        // core (about 3 % of `check`'s time on a million users).
        let mut slots = Vec::with_capacity(capacity * SLOT);
        slots.resize(capacity * SLOT, 0);
        ValueTable {
            slots,
            capacity,
            len: 0,
            owner_bits,
        }
    }

    fn home(&self, key: u64) -> usize {
        // The top 32 bits pick the slot (a multiply, not a modulo); the word keeps the rest.
        (((key >> 32) * self.capacity as u64) >> 32) as usize
    }

    fn rest(&self, key: u64) -> u64 {
        key & ((1 << (63 - self.owner_bits)) - 1)
    }

    fn word(&self, key: u64, owner: Owner) -> u64 {
        (self.rest(key) << (self.owner_bits + 1))
            | (u64::from(owner.as_match_id) << self.owner_bits)
            | u64::from(owner.user)
    }

    fn owner_of(&self, word: u64) -> Owner {
        Owner {
            user: (word & ((1 << self.owner_bits) - 1)) as u32,
            as_match_id: word >> self.owner_bits & 1 == 1,
        }
    }

    fn distance(&self, slot: usize) -> u8 {
        self.slots[slot * SLOT + 8]
    }

    fn word_at(&self, slot: usize) -> u64 {
        let at = slot * SLOT;
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.slots[at..at + 8]);
        u64::from_le_bytes(word)
    }

    fn put(&mut self, slot: usize, word: u64, distance: u8) {
        let at = slot * SLOT;
        self.slots[at..at + 8].copy_from_slice(&word.to_le_bytes());
        self.slots[at + 8] = distance + 1;
    }

    fn next(&self, slot: usize) -> usize {
        if slot + 1 == self.capacity {
            0
        } else {
            slot + 1
        }
    }

    fn probe(&self, key: u64) -> Probe {
        let rest = self.rest(key);
        let mut slot = self.home(key);
        let mut distance = 0u8;
        loop {
            let stored = self.distance(slot);
            // Robin Hood order: a run holds its values sorted by home, so an empty slot or one
            // closer to its own home than we are to ours ends the search.
            if stored == 0 || stored - 1 < distance {
                return Probe::Vacant { at: slot, distance };
            }
            if stored - 1 == distance {
                let word = self.word_at(slot);
                if word >> (self.owner_bits + 1) == rest {
                    return Probe::Found(self.owner_of(word));
                }
            }
            if distance == MAX_DISTANCE {
                return Probe::Full;
            }
            distance += 1;
            slot = self.next(slot);
        }
    }

    /// Puts `word` at `at`, shifting the run after it one slot on; false (nothing changed)
    /// when a shifted value would move past [`MAX_DISTANCE`].
    fn insert(&mut self, at: usize, distance: u8, word: u64) -> bool {
        let mut end = at;
        while self.distance(end) != 0 {
            if self.distance(end) - 1 == MAX_DISTANCE {
                return false;
            }
            end = self.next(end);
        }
        while end != at {
            let prev = if end == 0 { self.capacity - 1 } else { end - 1 };
            let (moved, moved_distance) = (self.word_at(prev), self.distance(prev));
            self.put(end, moved, moved_distance);
            end = prev;
        }
        self.put(at, word, distance);
        self.len += 1;
        true
    }
}

/// Users in one byte log; see the module docs.
#[derive(Debug, Default)]
struct UserLog {
    bytes: Vec<u8>,
    /// Offset of every [`CHECKPOINT`]th user's entry.
    checkpoints: Vec<u64>,
    /// (first user, source) at every change of source.
    sources: Vec<(u32, u32)>,
    users: u32,
    last_line: u32,
    last_number: u64,
}

/// Users between two offsets in the log: a lookup decodes at most this many entries.
const CHECKPOINT: u32 = 16;

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7F) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

fn zigzag(delta: i64) -> u64 {
    ((delta << 1) ^ (delta >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// The id as a number, when writing the number back gives the same bytes.
fn as_number(id: &[u8]) -> Option<u64> {
    let canonical = (1..=19).contains(&id.len())
        && id.iter().all(u8::is_ascii_digit)
        && (id.len() == 1 || id[0] != b'0');
    if !canonical {
        return None;
    }
    id.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

impl UserLog {
    fn push(&mut self, primary_id: &str, seen: Seen) -> u32 {
        let ordinal = self.users;
        if ordinal.is_multiple_of(CHECKPOINT) {
            self.checkpoints.push(self.bytes.len() as u64);
            self.last_line = 0;
            self.last_number = 0;
        }
        // Positions are kept as the messages show them (one shared cut-off), as before.
        if self.sources.last().is_none_or(|&(_, s)| s != seen.source) {
            self.sources.push((ordinal, seen.source));
        }
        let line = u32::try_from(seen.line).unwrap_or(u32::MAX);
        push_varint(
            &mut self.bytes,
            zigzag(i64::from(line) - i64::from(self.last_line)),
        );
        self.last_line = line;
        // Primary ids are at most 255 characters; anything longer is cut for the message.
        let id = &primary_id.as_bytes()[..primary_id.len().min(usize::from(u16::MAX))];
        match as_number(id) {
            Some(n) => {
                self.bytes.push(0);
                push_varint(
                    &mut self.bytes,
                    zigzag(n.wrapping_sub(self.last_number) as i64),
                );
                self.last_number = n;
            }
            None => {
                push_varint(&mut self.bytes, id.len() as u64 + 1);
                self.bytes.extend_from_slice(id);
            }
        }
        self.users = self.users.saturating_add(1).min(u32::MAX >> 1);
        ordinal
    }

    fn get(&self, ordinal: u32) -> Option<(String, Seen)> {
        let checkpoint = ordinal / CHECKPOINT;
        let mut at = usize::try_from(*self.checkpoints.get(checkpoint as usize)?).ok()?;
        let (mut line, mut number) = (0u32, 0u64);
        for current in checkpoint * CHECKPOINT..=ordinal {
            let delta = unzigzag(read_varint(&self.bytes, &mut at)?);
            line = u32::try_from(i64::from(line) + delta).ok()?;
            let head = usize::try_from(read_varint(&self.bytes, &mut at)?).ok()?;
            let id = if head == 0 {
                let delta = unzigzag(read_varint(&self.bytes, &mut at)?);
                number = number.wrapping_add(delta as u64);
                (current == ordinal).then(|| number.to_string())
            } else {
                let bytes = self.bytes.get(at..at + head - 1)?;
                at += head - 1;
                (current == ordinal).then(|| String::from_utf8_lossy(bytes).into_owned())
            };
            if current == ordinal {
                let source =
                    self.sources[self.sources.partition_point(|&(u, _)| u <= ordinal) - 1].1;
                let seen = Seen {
                    source,
                    line: u64::from(line),
                };
                return Some((id?, seen));
            }
        }
        None
    }

    fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.checkpoints.capacity() * 8 + self.sources.capacity() * 8
    }
}

/// The feed-wide index; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct FeedIndex {
    /// Newest last; a value is in at most one. One table unless the feed outgrew the hint.
    tables: Vec<ValueTable>,
    users: UserLog,
    /// Users announced by [`FeedIndex::reserve`], all told.
    expected_users: usize,
}

impl FeedIndex {
    /// Expects about `users` more users: sizes the next table for them, so that a feed of
    /// the announced size fits one table.
    pub fn reserve(&mut self, users: usize) {
        self.reserve_values(users, users.saturating_mul(VALUES_PER_USER));
    }

    /// [`FeedIndex::reserve`], with room for `values` values in all.
    pub fn reserve_values(&mut self, users: usize, values: usize) {
        let room = self
            .tables
            .last()
            .is_some_and(|t| fits(t.len + values, t.capacity));
        if !room {
            self.add_table(slots_for(values), users);
        }
        self.expected_users = self.expected_users.saturating_add(users);
        self.users.bytes.reserve(users.saturating_mul(4));
    }

    /// Adds a table of `capacity` slots for owners up to `users` more users (a later user
    /// that does not fit goes to yet another table, with wider owners).
    fn add_table(&mut self, capacity: usize, users: usize) {
        let users = (self.users.users as usize).saturating_add(users);
        self.tables
            .push(ValueTable::new(capacity, owner_bits_for(users)));
    }

    /// Adds a table when the last one is full: sized for the rest of the announced users at
    /// the values per user seen so far (a feed with more identifiers than the hint assumed
    /// then takes a small second table, not a second table as large as the first), and,
    /// past the announced users or without a hint, as large as all tables before it.
    fn grow(&mut self) {
        let held: usize = self.tables.iter().map(|t| t.capacity).sum();
        let users = self.users.users as usize;
        let capacity = if self.expected_users > users && users > 0 {
            let (values, _) = self.values_and_users();
            let rest = (self.expected_users - users).saturating_mul(values) / users;
            slots_for(rest.saturating_add(rest / 16))
        } else {
            held.clamp(MIN_SLOTS, 1 << 31)
        };
        self.add_table(capacity, capacity);
    }

    fn values_and_users(&self) -> (usize, usize) {
        let values = self.tables.iter().map(|t| t.len).sum();
        (values, self.users.users as usize)
    }

    /// Registers a user and returns its ordinal.
    pub fn add_user(&mut self, primary_id: &str, seen: Seen) -> u32 {
        self.users.push(primary_id, seen)
    }

    fn first_use(&self, owner: Owner) -> Option<FirstUse> {
        let (primary_id, seen) = self.users.get(owner.user)?;
        Some(FirstUse {
            primary_id,
            seen,
            as_match_id: owner.as_match_id,
        })
    }

    /// Claims the value with key `key` (see [`id_key`]) for `user` (as its match ID when
    /// `as_match_id`); returns the first user when another one holds it. A user claiming its
    /// own value again is not reported here (record validation reports duplicates within one
    /// user).
    pub fn claim(&mut self, key: u64, user: u32, as_match_id: bool) -> Option<FirstUse> {
        let mut vacant = None;
        for (i, table) in self.tables.iter().enumerate() {
            match table.probe(key) {
                Probe::Found(owner) if owner.user == user => return None,
                Probe::Found(owner) => return self.first_use(owner),
                Probe::Vacant { at, distance } => vacant = Some((i, at, distance)),
                Probe::Full => vacant = None,
            }
        }
        let owner = Owner { user, as_match_id };
        let last = self.tables.len().wrapping_sub(1);
        if let Some((i, at, distance)) = vacant
            && i == last
        {
            let table = &mut self.tables[i];
            let room = fits(table.len + 1, table.capacity) && user >> table.owner_bits == 0;
            if room && table.insert(at, distance, table.word(key, owner)) {
                return None;
            }
        }
        self.grow();
        let table = self.tables.last_mut().expect("a table was just added");
        let Probe::Vacant { at, distance } = table.probe(key) else {
            unreachable!("a new table is empty");
        };
        let word = table.word(key, owner);
        table.insert(at, distance, word);
        None
    }

    /// Reads the home slot of every key in every table (a claim probes them all): the loads
    /// run in parallel, and the claims that follow find the slots in cache instead of
    /// waiting for memory one after another.
    pub fn prefetch<'k>(&self, keys: impl Iterator<Item = &'k u64>) {
        let mut sum = 0u8;
        for &key in keys {
            for table in &self.tables {
                sum ^= table.distance(table.home(key));
            }
        }
        std::hint::black_box(sum);
    }

    /// How much the index holds: (users, distinct values, bytes of the user log).
    pub fn sizes(&self) -> (usize, usize, usize) {
        let (values, users) = self.values_and_users();
        (users, values, self.users.bytes.len())
    }

    /// Heap bytes the index holds.
    pub fn heap_bytes(&self) -> usize {
        let tables: usize = self.tables.iter().map(|t| t.slots.capacity()).sum();
        tables + self.users.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(line: u64) -> Seen {
        Seen { source: 0, line }
    }

    #[test]
    fn keys_ignore_case_and_surrounding_space() {
        assert_eq!(id_key(" JDoe "), id_key("jdoe"));
        assert_eq!(id_key("ÉLÈVE"), id_key("élève"));
        assert_ne!(id_key("jdoe"), id_key("jdoe2"));
        let long = "X".repeat(100);
        assert_eq!(id_key(&long), id_key(&long.to_lowercase()));
    }

    #[test]
    fn the_log_gives_back_ids_and_positions() {
        let mut log = UserLog::default();
        let ids = [
            "900000001",
            "900000002",
            "0042",
            "jdoe",
            "7",
            "18446744073709551615",
            "é",
        ];
        for (i, id) in ids.iter().cycle().take(100).enumerate() {
            let s = Seen {
                source: (i / 40) as u32,
                line: if i % 7 == 0 { 0 } else { 1000 - 3 * i as u64 },
            };
            assert_eq!(log.push(id, s), i as u32);
        }
        for (i, id) in ids.iter().cycle().take(100).enumerate() {
            let (got, s) = log.get(i as u32).expect("stored");
            assert_eq!(got, *id);
            assert_eq!(s.source, (i / 40) as u32);
            assert_eq!(s.line, if i % 7 == 0 { 0 } else { 1000 - 3 * i as u64 });
        }
        assert!(log.get(100).is_none());
    }

    #[test]
    fn values_are_claimed_once_across_tables() {
        let mut index = FeedIndex::default();
        // No hint: the index outgrows its first table several times.
        let n = 100_000u32;
        for u in 0..n {
            let ordinal = index.add_user(&format!("u{u}"), seen(u64::from(u)));
            assert_eq!(ordinal, u);
            assert!(index.claim(id_key(&format!("u{u}")), u, true).is_none());
            assert!(index.claim(id_key(&format!("b{u}")), u, false).is_none());
            // The same user again: not a duplicate.
            assert!(index.claim(id_key(&format!("B{u}")), u, false).is_none());
        }
        assert!(index.tables.len() > 1);
        for u in (0..n).step_by(997) {
            let first = index
                .claim(id_key(&format!("U{u}")), n, false)
                .expect("taken");
            assert_eq!(first.primary_id, format!("u{u}"));
            assert_eq!(first.seen, seen(u64::from(u)));
            assert!(first.as_match_id);
            let first = index
                .claim(id_key(&format!("b{u}")), n, true)
                .expect("taken");
            assert!(!first.as_match_id);
        }
        assert_eq!(index.sizes().1, 2 * n as usize);
    }

    #[test]
    fn a_hint_sizes_one_table() {
        let mut index = FeedIndex::default();
        index.reserve(50_000);
        for u in 0..50_000u32 {
            index.add_user(&u.to_string(), seen(0));
            for v in 0..2 {
                assert!(
                    index
                        .claim(id_key(&format!("{v}-{u}")), u, v == 0)
                        .is_none()
                );
            }
        }
        assert_eq!(index.tables.len(), 1);
    }

    #[test]
    fn a_feed_richer_than_the_hint_grows_by_what_is_left() {
        let mut index = FeedIndex::default();
        index.reserve(40_000);
        // Five values a user against the two the hint assumes.
        for u in 0..40_000u32 {
            index.add_user(&u.to_string(), seen(0));
            for v in 0..5 {
                assert!(
                    index
                        .claim(id_key(&format!("{v}-{u}")), u, v == 0)
                        .is_none()
                );
            }
        }
        assert_eq!(index.sizes().1, 200_000);
        let held: usize = index.tables.iter().map(|t| t.capacity).sum();
        // One more table, sized for the rest: about one exact table in all (doubling would
        // have held 60 % more).
        assert_eq!(index.tables.len(), 2);
        assert!(held <= slots_for(200_000) * 11 / 10, "{held} slots");
        assert!(fits(200_000, held));
        for u in (0..40_000u32).step_by(331) {
            let first = index
                .claim(id_key(&format!("4-{u}")), 40_000, false)
                .expect("taken");
            assert_eq!(first.primary_id, u.to_string());
        }
    }
}
