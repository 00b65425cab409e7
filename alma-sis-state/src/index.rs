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
    /// Sorts `entries` into an index, keeping their raw-row hashes when `keep_raw`
    /// (without, [`Entry::raw`] of every entry found is `None`). Returns the key hashes that
    /// several entries share (sorted): their entries are replaced by one [`COLLIDED`]
    /// placeholder each, and the caller adds them back by key with [`Index::add_side`].
    pub fn build(mut entries: Vec<Entry>, hasher: KeyHasher, keep_raw: bool) -> (Index, Vec<u64>) {
        entries.sort_unstable_by_key(|e| e.key);
        let mut collisions = Vec::new();
        if entries.windows(2).any(|w| w[0].key == w[1].key) {
            entries.dedup_by(|next, kept| {
                if next.key == kept.key {
                    if !kept.has(COLLIDED) {
                        kept.flags = COLLIDED;
                        collisions.push(kept.key);
                    }
                    true
                } else {
                    false
                }
            });
        }
        let n = entries.len();
        let (mut raws, mut has_raw) = (Vec::new(), Vec::new());
        if keep_raw {
            raws = entries.iter().map(|e| e.raw).collect();
            has_raw = vec![0u64; n.div_ceil(64)];
            for (at, e) in entries.iter().enumerate() {
                if e.has(HAS_RAW) {
                    has_raw[at / 64] |= 1 << (at % 64);
                }
            }
        }
        let entries: Vec<Stored> = entries.iter().map(Stored::of).collect();
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
        let entries = keys.iter().map(|k| entry(by_len(k), SENT)).collect();
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
