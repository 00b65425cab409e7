//! The known items of one feed, held compactly while a run is planned: 24 bytes an item
//! (a 64-bit hash of the key, 64 bits of the content hash, the expiry sent and status bits)
//! in one vector sorted by key hash, found through a radix directory and a short binary
//! search; plus, in a run that can use them (a delta), each item's raw-row hash (8 bytes)
//! in a second vector beside it. A full run maps and sends everyone, so it never reads a
//! recorded raw-row hash and does not hold them.
//!
//! Keys are not held. Two known keys with the same 64-bit hash (about one feed in 10^7 at a
//! million items) are both moved to an exact side map, keyed by the key itself, and leave one
//! [`COLLIDED`] placeholder behind. A key *not* known whose hash equals a known one's is told
//! apart by the planner (its write finds no row; see `Planner::observe`).

use std::collections::HashMap;
use std::hash::Hasher as _;

use chrono::{Datelike, NaiveDate};

use super::RawHash;

/// Hashes a key for the index.
pub(super) type KeyHasher = fn(&str) -> u64;

/// The key hash used in production: SipHash-1-3 with fixed keys (stable within a process,
/// which is all the index needs: it is rebuilt on every run).
pub(super) fn key_hash(key: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(key.as_bytes());
    h.finish()
}

/// The item's status (two bits).
pub(super) const STATUS: u8 = 0b11;
/// Status: present.
pub(super) const PRESENT: u8 = 0;
/// Status: vanished.
pub(super) const VANISHED: u8 = 1;
/// Status: retired.
pub(super) const RETIRED: u8 = 2;
/// It was sent at least once (`last_sent` is set).
pub(super) const SENT: u8 = 1 << 2;
/// It was last sent today.
pub(super) const SENT_TODAY: u8 = 1 << 3;
/// Placeholder in the sorted vector: several known keys share this hash; see the side map.
pub(super) const COLLIDED: u8 = 1 << 5;
/// The item records a raw-row hash.
const HAS_RAW: u8 = 1 << 6;

const NO_DATE: i32 = i32::MIN;

/// How many bytes of the content hash the index compares: 64 bits, so a change goes
/// unnoticed with a chance of 2^-64 (a million changes a night for a thousand years leaves
/// that under one in 10^4).
pub(super) const HASH_PREFIX: usize = 8;

/// One known item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    /// The key's hash.
    pub key: u64,
    /// The first [`HASH_PREFIX`] bytes of the content hash last recorded.
    pub hash: [u8; HASH_PREFIX],
    /// The raw-row hash recorded (when [`HAS_RAW`] is set).
    raw: u64,
    /// The expiry date last sent, as days from the common era ([`NO_DATE`] for none).
    expires: i32,
    /// Status and marks.
    pub flags: u8,
}

impl Entry {
    /// An entry for `key`'s hash.
    pub fn new(
        key: u64,
        hash: &[u8; 32],
        raw: Option<RawHash>,
        expires: Option<NaiveDate>,
        flags: u8,
    ) -> Entry {
        let mut prefix = [0; HASH_PREFIX];
        prefix.copy_from_slice(&hash[..HASH_PREFIX]);
        Entry {
            key,
            hash: prefix,
            raw: raw.map_or(0, |r| r.0),
            expires: expires.map_or(NO_DATE, |d| d.num_days_from_ce()),
            flags: flags | if raw.is_some() { HAS_RAW } else { 0 },
        }
    }

    /// The raw-row hash recorded.
    pub fn raw(&self) -> Option<RawHash> {
        self.has(HAS_RAW).then_some(RawHash(self.raw))
    }

    /// The expiry date last sent.
    pub fn expires(&self) -> Option<NaiveDate> {
        if self.expires == NO_DATE {
            None
        } else {
            NaiveDate::from_num_days_from_ce_opt(self.expires)
        }
    }

    /// [`PRESENT`], [`VANISHED`] or [`RETIRED`].
    pub fn status(&self) -> u8 {
        self.flags & STATUS
    }

    /// Whether `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Whether this item vanishes (or stays vanished) when nobody in the extract claims it
    /// (`seen`: someone did): present and sent, or vanished and not already re-sent today.
    pub fn vanishes_unless(&self, seen: bool) -> bool {
        !seen
            && match self.status() {
                PRESENT => self.has(SENT),
                VANISHED => !self.has(SENT_TODAY),
                _ => false,
            }
    }
}

/// An entry as the sorted vector holds it: [`Entry`] without its raw-row hash, which lives
/// in [`Index`]'s `raws` (when kept). 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stored {
    key: u64,
    hash: [u8; HASH_PREFIX],
    expires: i32,
    flags: u8,
}

impl Stored {
    fn of(entry: &Entry) -> Stored {
        Stored {
            key: entry.key,
            hash: entry.hash,
            expires: entry.expires,
            // Whether a raw-row hash is known is said by `raws` being kept.
            flags: entry.flags & !HAS_RAW,
        }
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The entry, with `raw` as its raw-row hash.
    fn entry(&self, raw: Option<u64>) -> Entry {
        Entry {
            key: self.key,
            hash: self.hash,
            raw: raw.unwrap_or(0),
            expires: self.expires,
            flags: self.flags | if raw.is_some() { HAS_RAW } else { 0 },
        }
    }
}

/// Where an entry lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// In the sorted vector, at this position.
    Main(usize),
    /// In the side map, under its key.
    Side,
}

/// Collects the entries of an index in any order, in the compact form from the start (24
/// bytes an entry, plus 8 and a bit with raw-row hashes), so that building an index never
/// holds the entries twice: [`Builder::finish`] sorts them in place.
pub(super) struct Builder {
    entries: Vec<Stored>,
    raws: Vec<u64>,
    has_raw: Vec<u64>,
    keep_raw: bool,
}

impl Builder {
    /// A builder for about `n` entries; raw-row hashes kept when `keep_raw` (without,
    /// [`Entry::raw`] of every entry found is `None`).
    pub fn with_capacity(n: usize, keep_raw: bool) -> Builder {
        let (raws, has_raw) = if keep_raw {
            (Vec::with_capacity(n), Vec::with_capacity(n.div_ceil(64)))
        } else {
            (Vec::new(), Vec::new())
        };
        Builder {
            entries: Vec::with_capacity(n),
            raws,
            has_raw,
            keep_raw,
        }
    }

    /// Adds an entry.
    pub fn push(&mut self, entry: &Entry) {
        let at = self.entries.len();
        self.entries.push(Stored::of(entry));
        if self.keep_raw {
            self.raws.push(entry.raw);
            if at.is_multiple_of(64) {
                self.has_raw.push(0);
            }
            if entry.has(HAS_RAW) {
                self.has_raw[at / 64] |= 1 << (at % 64);
            }
        }
    }

    fn raw_bit(&self, at: usize) -> bool {
        self.has_raw[at / 64] >> (at % 64) & 1 == 1
    }

    fn set_raw_bit(&mut self, at: usize, on: bool) {
        if on {
            self.has_raw[at / 64] |= 1 << (at % 64);
        } else {
            self.has_raw[at / 64] &= !(1 << (at % 64));
        }
    }

    /// Moves entry `from` (with its raw-row hash) to `to`.
    fn copy(&mut self, from: usize, to: usize) {
        self.entries[to] = self.entries[from];
        if self.keep_raw {
            self.raws[to] = self.raws[from];
            let bit = self.raw_bit(from);
            self.set_raw_bit(to, bit);
        }
    }

    /// Sorts the entries by key hash (in place: a permutation of 4 bytes an entry is all it
    /// adds) and builds the index. Returns the key hashes that several entries share
    /// (sorted): their entries are replaced by one [`COLLIDED`] placeholder each, and the
    /// caller adds them back by key with [`Index::add_side`].
    pub fn finish(mut self, hasher: KeyHasher) -> (Index, Vec<u64>) {
        let n = self.entries.len();
        let mut order: Vec<u32> = (0..u32::try_from(n).expect("under 2^32 items")).collect();
        order.sort_unstable_by_key(|&i| self.entries[i as usize].key);
        // Apply the permutation cycle by cycle: position `j` takes the entry at `order[j]`.
        const DONE: u32 = u32::MAX;
        for start in 0..n {
            if order[start] == DONE {
                continue;
            }
            let held = (
                self.entries[start],
                self.keep_raw
                    .then(|| (self.raws[start], self.raw_bit(start))),
            );
            let mut j = start;
            loop {
                let from = order[j] as usize;
                order[j] = DONE;
                if from == start {
                    self.entries[j] = held.0;
                    if let Some((raw, bit)) = held.1 {
                        self.raws[j] = raw;
                        self.set_raw_bit(j, bit);
                    }
                    break;
                }
                self.copy(from, j);
                j = from;
            }
        }
        drop(order);
        // Keys whose hashes collide: one placeholder each.
        let mut collisions = Vec::new();
        let mut kept = 0;
        for at in 0..n {
            if kept > 0 && self.entries[kept - 1].key == self.entries[at].key {
                let last = &mut self.entries[kept - 1];
                if last.flags != COLLIDED {
                    last.flags = COLLIDED;
                    collisions.push(last.key);
                }
                continue;
            }
            if kept != at {
                self.copy(at, kept);
            }
            kept += 1;
        }
        let Builder {
            mut entries,
            mut raws,
            mut has_raw,
            keep_raw,
        } = self;
        entries.truncate(kept);
        entries.shrink_to_fit();
        if keep_raw {
            raws.truncate(kept);
            raws.shrink_to_fit();
            has_raw.truncate(kept.div_ceil(64));
            has_raw.shrink_to_fit();
        }
        let n = entries.len();
        // About four entries a bucket: a lookup touches the directory and one or two cache
        // lines of entries.
        let bits = if n < 64 { 0 } else { n.ilog2() - 2 };
        let mut dir = Vec::with_capacity((1 << bits) + 1);
        let mut at = 0;
        for bucket in 0..(1u64 << bits) {
            while at < n && bucket_of(entries[at].key, bits) < bucket {
                at += 1;
            }
            dir.push(u32::try_from(at).unwrap_or(u32::MAX));
        }
        dir.push(u32::try_from(n).unwrap_or(u32::MAX));
        let index = Index {
            entries,
            raws,
            has_raw,
            dir,
            bits,
            side: HashMap::new(),
            hasher,
            keep_raw,
        };
        (index, collisions)
    }
}

/// The index; see the [module docs](self).
pub(super) struct Index {
    /// Sorted by `key`; unique keys.
    entries: Vec<Stored>,
    /// The raw-row hash of each entry of `entries` (0 for none), when the index keeps
    /// them; empty otherwise.
    raws: Vec<u64>,
    /// Per entry of `entries`, whether it records a raw-row hash (a bit each), when kept.
    has_raw: Vec<u64>,
    /// `dir[b]..dir[b + 1]` are the entries whose key hash starts with the `bits` bits `b`.
    dir: Vec<u32>,
    bits: u32,
    side: HashMap<Box<str>, Entry>,
    hasher: KeyHasher,
    /// Whether raw-row hashes are kept (side entries drop theirs when not).
    keep_raw: bool,
}

impl Index {
    /// Sorts `entries` into an index, keeping their raw-row hashes when `keep_raw`; see
    /// [`Builder`].
    #[cfg(test)]
    pub fn build(entries: Vec<Entry>, hasher: KeyHasher, keep_raw: bool) -> (Index, Vec<u64>) {
        let mut builder = Builder::with_capacity(entries.len(), keep_raw);
        for e in &entries {
            builder.push(e);
        }
        builder.finish(hasher)
    }

    /// The heap memory held, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Stored>()
            + self.raws.capacity() * 8
            + self.has_raw.capacity() * 8
            + self.dir.capacity() * std::mem::size_of::<u32>()
            + self
                .side
                .keys()
                .map(|k| k.len() + std::mem::size_of::<(Box<str>, Entry)>())
                .sum::<usize>()
    }

    /// Adds an entry whose key hash collided, under its exact key.
    pub fn add_side(&mut self, key: Box<str>, mut entry: Entry) {
        if !self.keep_raw {
            entry.flags &= !HAS_RAW;
            entry.raw = 0;
        }
        self.side.insert(key, entry);
    }

    /// Drops the raw-row hashes: every entry found from here on has none.
    pub fn forget_raws(&mut self) {
        self.raws = Vec::new();
        self.has_raw = Vec::new();
        self.keep_raw = false;
        for entry in self.side.values_mut() {
            entry.flags &= !HAS_RAW;
            entry.raw = 0;
        }
    }

    /// The entry at `at` of the sorted vector.
    fn main_entry(&self, at: usize) -> Entry {
        let raw =
            (self.keep_raw && self.has_raw[at / 64] >> (at % 64) & 1 == 1).then(|| self.raws[at]);
        self.entries[at].entry(raw)
    }

    /// The key hash of `key`.
    pub fn hash(&self, key: &str) -> u64 {
        (self.hasher)(key)
    }

    /// Where the entry of `key` (whose hash is `kh`) is, if the key is known. A key that is
    /// not known but shares its hash with a known one is found as that one.
    pub fn find(&self, kh: u64, key: &str) -> Option<Slot> {
        let bucket = usize::try_from(bucket_of(kh, self.bits)).ok()?;
        let lo = self.dir[bucket] as usize;
        let hi = self.dir[bucket + 1] as usize;
        let at = lo
            + self.entries[lo..hi]
                .binary_search_by_key(&kh, |e| e.key)
                .ok()?;
        if self.entries[at].has(COLLIDED) {
            self.side.contains_key(key).then_some(Slot::Side)
        } else {
            Some(Slot::Main(at))
        }
    }

    /// The entry in `slot` (found for `key`).
    pub fn get(&self, slot: Slot, key: &str) -> Entry {
        match slot {
            Slot::Main(at) => self.main_entry(at),
            Slot::Side => self.side[key],
        }
    }

    /// How many places the sorted vector has (placeholders included): [`Slot::Main`]
    /// positions are below it.
    pub fn main_len(&self) -> usize {
        self.entries.len()
    }

    /// Whether some item vanishes unless seen: `seen` tells, by slot and key, who was.
    pub fn any_vanishes(&self, seen: impl Fn(Slot, &str) -> bool) -> bool {
        self.entries.iter().enumerate().any(|(at, e)| {
            !e.has(COLLIDED) && e.entry(None).vanishes_unless(seen(Slot::Main(at), ""))
        }) || self
            .side
            .iter()
            .any(|(k, e)| e.vanishes_unless(seen(Slot::Side, k)))
    }

    /// Every entry (placeholders excluded), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        (0..self.entries.len())
            .filter(|&at| !self.entries[at].has(COLLIDED))
            .map(|at| self.main_entry(at))
            .chain(self.side.values().copied())
    }
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("entries", &self.entries.len())
            .field("bits", &self.bits)
            .field("side", &self.side.len())
            .finish_non_exhaustive()
    }
}

fn bucket_of(kh: u64, bits: u32) -> u64 {
    if bits == 0 { 0 } else { kh >> (64 - bits) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: u64, flags: u8) -> Entry {
        Entry::new(key, &[key as u8; 32], None, None, flags)
    }

    #[test]
    fn a_stored_entry_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Stored>(), 24);
    }

    #[test]
    fn raw_hashes_are_kept_only_when_asked_and_go_with_their_entries() {
        let keys: Vec<String> = (0..1_000).map(|i| format!("k{i}")).collect();
        // Every third entry without a raw-row hash; the others' hash follows the key.
        let raw_of = |i: usize| (!i.is_multiple_of(3)).then(|| RawHash(i as u64 * 7919));
        let entries: Vec<Entry> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| Entry::new(key_hash(k), &[1; 32], raw_of(i), None, SENT))
            .collect();
        let (kept, _) = Index::build(entries.clone(), key_hash, true);
        let (dropped, _) = Index::build(entries, key_hash, false);
        assert!(dropped.heap_bytes() < kept.heap_bytes());
        for (i, k) in keys.iter().enumerate() {
            let slot = kept.find(key_hash(k), k).expect(k);
            let e = kept.get(slot, k);
            assert_eq!((e.raw(), e.has(SENT)), (raw_of(i), true), "{k}");
            let slot = dropped.find(key_hash(k), k).expect(k);
            let e = dropped.get(slot, k);
            assert_eq!((e.raw(), e.has(SENT)), (None, true), "{k}");
        }
        assert_eq!(kept.iter().filter(|e| e.raw().is_some()).count(), 666);
        assert_eq!(dropped.iter().filter(|e| e.raw().is_some()).count(), 0);
    }

    #[test]
    fn finds_every_entry_of_a_large_index_and_nothing_else() {
        let keys: Vec<String> = (0..10_000).map(|i| format!("k{i}")).collect();
        let entries = keys.iter().map(|k| entry(key_hash(k), SENT)).collect();
        let (index, collisions) = Index::build(entries, key_hash, true);
        assert!(collisions.is_empty());
        for k in &keys {
            let slot = index.find(key_hash(k), k).expect(k);
            assert_eq!(index.get(slot, k).key, key_hash(k));
        }
        assert_eq!(index.find(key_hash("nobody"), "nobody"), None);
        assert_eq!(index.iter().count(), keys.len());
    }

    #[test]
    fn colliding_keys_are_kept_apart_by_the_side_map() {
        // A hasher that collides a lot: by length.
        let by_len: KeyHasher = |k| k.len() as u64;
        let keys = ["a", "b", "cc", "ddd"];
        let mut entries: Vec<Entry> = keys.iter().map(|k| entry(by_len(k), SENT)).collect();
        // The ones that keep their place keep their raw-row hash through the dedup.
        entries[2] = Entry::new(2, &[2; 32], Some(RawHash(22)), None, SENT);
        entries[3] = Entry::new(3, &[3; 32], Some(RawHash(33)), None, SENT);
        entries.reverse();
        let (mut index, collisions) = Index::build(entries, by_len, true);
        assert_eq!(collisions, [1]);
        index.add_side("a".into(), entry(1, SENT | SENT_TODAY));
        index.add_side("b".into(), entry(1, SENT));
        assert_eq!(index.find(1, "a"), Some(Slot::Side));
        assert!(index.get(Slot::Side, "a").has(SENT_TODAY));
        assert!(!index.get(Slot::Side, "b").has(SENT_TODAY));
        // Unknown, with a colliding hash: not found.
        assert_eq!(index.find(1, "z"), None);
        assert!(matches!(index.find(2, "cc"), Some(Slot::Main(_))));
        let raw = |k: &str| index.get(index.find(by_len(k), k).expect(k), k).raw();
        assert_eq!(
            (raw("cc"), raw("ddd")),
            (Some(RawHash(22)), Some(RawHash(33)))
        );
        assert_eq!(index.iter().count(), 4);
        assert!(index.any_vanishes(|slot, key| slot == Slot::Side && key == "a"));
        assert!(!index.any_vanishes(|_, _| true));
    }

    #[test]
    fn expiry_dates_and_raw_hashes_survive_the_compact_form() {
        let d = NaiveDate::from_ymd_opt(2027, 11, 23).unwrap();
        let e = Entry::new(1, &[0; 32], Some(RawHash(0)), Some(d), SENT);
        assert_eq!(
            (e.expires(), e.raw(), e.has(SENT)),
            (Some(d), Some(RawHash(0)), true)
        );
        let e = Entry::new(1, &[0; 32], None, None, 0);
        assert_eq!((e.expires(), e.raw()), (None, None));
    }
}
