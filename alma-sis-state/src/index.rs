//! The known items of one feed, held compactly while a run is planned: 19 bytes an item
//! (the low 48 bits of a 64-bit hash of the key, 64 bits of the content hash, the expiry
//! sent and status bits) in one vector sorted by key hash, found through a radix directory
//! and a short binary search. The directory has at least 2^16 buckets, so an item's bucket
//! says the top 16 bits of its key hash: all 64 are compared. Plus, in a run that can use
//! them (a delta), each item's raw-row hash (8 bytes) in a second vector beside it. A full
//! run maps and sends everyone, so it never reads a recorded raw-row hash and does not hold
//! them.
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
/// The content hash recorded is a SHA-256 (recorded by a version before XXH3): compared with
/// the SHA-256 of the user ([`crate::ContentHash::render_user_with_sha256`]).
pub(super) const SHA256: u8 = 1 << 4;
/// The item records a raw-row hash.
const HAS_RAW: u8 = 1 << 6;
/// It was last sent by the feed's last full run: its `last_sent` says so
/// ([`crate::SENT_BY_LAST_FULL_RUN`]), not a date.
pub(super) const SENT_BY_FULL_RUN: u8 = 1 << 7;

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
        hash: &[u8],
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
        vanishes_unless(self.flags, seen)
    }
}

/// [`Entry::vanishes_unless`] of an entry with `flags`.
fn vanishes_unless(flags: u8, seen: bool) -> bool {
    let has = |flag| flags & flag != 0;
    !seen
        && match flags & STATUS {
            PRESENT => has(SENT),
            VANISHED => !has(SENT_TODAY),
            _ => false,
        }
}

/// How many steps [`Index::bucket_at`] takes from its guess before it searches.
const NEAR: usize = 8;

/// How many top bits of the key hash the directory says (at the least): the sorted vector
/// holds the other 48.
const IMPLIED_BITS: u32 = 16;

/// An entry as the sorted vector holds it: [`Entry`] without its raw-row hash, which lives
/// in [`Index`]'s `raws` (when kept), and without the top [`IMPLIED_BITS`] of its key hash,
/// which its bucket says. 19 bytes, byte-aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stored {
    /// The low 48 bits of the key hash, big-endian: the arrays order as the numbers do.
    key: [u8; 6],
    hash: [u8; HASH_PREFIX],
    /// The expiry as [`Entry`] holds it (days from the common era), little-endian.
    expires: [u8; 4],
    flags: u8,
}

impl Stored {
    fn of(entry: &Entry) -> Stored {
        Stored {
            key: low_key(entry.key),
            hash: entry.hash,
            expires: entry.expires.to_le_bytes(),
            // Whether a raw-row hash is known is said by `raws` being kept.
            flags: entry.flags & !HAS_RAW,
        }
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The key hash, its top [`IMPLIED_BITS`] being `top`.
    fn key(&self, top: u16) -> u64 {
        let [a, b, c, d, e, f] = self.key;
        u64::from_be_bytes([0, 0, a, b, c, d, e, f]) | u64::from(top) << (64 - IMPLIED_BITS)
    }

    /// The entry, whose key hash's top [`IMPLIED_BITS`] are `top`, with `raw` as its
    /// raw-row hash.
    fn entry(&self, top: u16, raw: Option<u64>) -> Entry {
        Entry {
            key: self.key(top),
            hash: self.hash,
            raw: raw.unwrap_or(0),
            expires: i32::from_le_bytes(self.expires),
            flags: self.flags | if raw.is_some() { HAS_RAW } else { 0 },
        }
    }
}

/// The low 48 bits of key hash `kh`, as [`Stored`] holds them.
fn low_key(kh: u64) -> [u8; 6] {
    let [_, _, a, b, c, d, e, f] = kh.to_be_bytes();
    [a, b, c, d, e, f]
}

/// The top [`IMPLIED_BITS`] of key hash `kh`.
fn top_key(kh: u64) -> u16 {
    (kh >> (64 - IMPLIED_BITS)) as u16
}

/// Where an entry lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// In the sorted vector, at this position.
    Main(usize),
    /// In the side map, under its key.
    Side,
}

/// Collects the entries of an index in any order, in the compact form from the start (19
/// bytes an entry and 2 for the top of its key hash until the directory says it, plus 8 and
/// a bit with raw-row hashes), so that building an index never holds the entries twice:
/// [`Builder::finish`] sorts them in place.
pub(super) struct Builder {
    entries: Vec<Stored>,
    /// The top [`IMPLIED_BITS`] of each entry's key hash.
    tops: Vec<u16>,
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
            tops: Vec::with_capacity(n),
            raws,
            has_raw,
            keep_raw,
        }
    }

    /// Adds an entry.
    pub fn push(&mut self, entry: &Entry) {
        let at = self.entries.len();
        self.entries.push(Stored::of(entry));
        self.tops.push(top_key(entry.key));
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

    /// The key hash of entry `at`.
    fn key(&self, at: usize) -> u64 {
        self.entries[at].key(self.tops[at])
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
        self.tops[to] = self.tops[from];
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
        order.sort_unstable_by_key(|&i| self.key(i as usize));
        // Apply the permutation cycle by cycle: position `j` takes the entry at `order[j]`.
        const DONE: u32 = u32::MAX;
        for start in 0..n {
            if order[start] == DONE {
                continue;
            }
            let held = (
                self.entries[start],
                self.tops[start],
                self.keep_raw
                    .then(|| (self.raws[start], self.raw_bit(start))),
            );
            let mut j = start;
            loop {
                let from = order[j] as usize;
                order[j] = DONE;
                if from == start {
                    self.entries[j] = held.0;
                    self.tops[j] = held.1;
                    if let Some((raw, bit)) = held.2 {
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
            if kept > 0 && self.key(kept - 1) == self.key(at) {
                let kh = self.key(at);
                let last = &mut self.entries[kept - 1];
                if last.flags != COLLIDED {
                    last.flags = COLLIDED;
                    collisions.push(kh);
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
            mut tops,
            mut raws,
            mut has_raw,
            keep_raw,
        } = self;
        entries.truncate(kept);
        entries.shrink_to_fit();
        tops.truncate(kept);
        if keep_raw {
            raws.truncate(kept);
            raws.shrink_to_fit();
            has_raw.truncate(kept.div_ceil(64));
            has_raw.shrink_to_fit();
        }
        let n = entries.len();
        // About four entries a bucket (a lookup touches the directory and one or two cache
        // lines of entries), and never fewer buckets than the top bits the entries leave out.
        let bits = n
            .checked_ilog2()
            .map_or(0, |b| b.saturating_sub(2))
            .max(IMPLIED_BITS);
        let mut dir = Vec::with_capacity((1 << bits) + 1);
        let mut at = 0;
        for bucket in 0..(1u64 << bits) {
            while at < n && bucket_of(entries[at].key(tops[at]), bits) < bucket {
                at += 1;
            }
            dir.push(u32::try_from(at).unwrap_or(u32::MAX));
        }
        dir.push(u32::try_from(n).unwrap_or(u32::MAX));
        drop(tops);
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
    /// Sorted by key hash; unique key hashes. Each holds the low 48 bits of its key hash; its
    /// bucket in `dir` says the rest.
    entries: Vec<Stored>,
    /// The raw-row hash of each entry of `entries` (0 for none), when the index keeps
    /// them; empty otherwise.
    raws: Vec<u64>,
    /// Per entry of `entries`, whether it records a raw-row hash (a bit each), when kept.
    has_raw: Vec<u64>,
    /// `dir[b]..dir[b + 1]` are the entries whose key hash starts with the `bits` bits `b`.
    dir: Vec<u32>,
    /// At least [`IMPLIED_BITS`].
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
        self.bucket_entry(self.bucket_at(at), at)
    }

    /// The bucket that holds entry `at`: the last one starting at or before it (the empty
    /// ones before it end where it starts). Key hashes spread evenly over the buckets, so
    /// the bucket is found near `at`'s share of them, a step or two from the guess (a
    /// cache line of the directory, where a binary search would touch 17 at a million
    /// items); a guess further off is searched.
    fn bucket_at(&self, at: usize) -> usize {
        let buckets = self.dir.len() - 1;
        let guess = (at as u128 * buckets as u128 / self.entries.len().max(1) as u128) as usize;
        let mut b = guess.min(buckets - 1);
        for _ in 0..NEAR {
            if self.dir[b] as usize > at {
                b -= 1;
            } else if self.dir[b + 1] as usize <= at {
                b += 1;
            } else {
                return b;
            }
        }
        self.dir.partition_point(|&start| start as usize <= at) - 1
    }

    /// The entry at `at` of the sorted vector, which is in bucket `bucket`.
    fn bucket_entry(&self, bucket: usize, at: usize) -> Entry {
        let raw =
            (self.keep_raw && self.has_raw[at / 64] >> (at % 64) & 1 == 1).then(|| self.raws[at]);
        let top = (bucket >> (self.bits - IMPLIED_BITS)) as u16;
        self.entries[at].entry(top, raw)
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
        // The bucket's entries share their key hash's top bits, `kh`'s among them: the low
        // bits tell the rest, and order them as the whole hashes.
        let at = lo
            + self.entries[lo..hi]
                .binary_search_by_key(&low_key(kh), |e| e.key)
                .ok()?;
        if self.entries[at].has(COLLIDED) {
            self.side.contains_key(key).then_some(Slot::Side)
        } else {
            Some(Slot::Main(at))
        }
    }

    /// Fetches from memory what [`Index::find`] and [`Index::get`] read for the keys hashed
    /// `khs`: their directory places, then the first entry of each one's bucket (and its
    /// raw-row hash, when kept). Each stage's loads are issued together, not one miss after
    /// another as lookups one by one wait for them, so the finds that follow mostly hit the
    /// cache. Changes nothing; any number of keys.
    pub fn warm(&self, khs: &[u64]) {
        const GROUP: usize = 32;
        for group in khs.chunks(GROUP) {
            let mut lo = [0usize; GROUP];
            for (lo, &kh) in lo.iter_mut().zip(group) {
                let bucket = usize::try_from(bucket_of(kh, self.bits)).unwrap_or(usize::MAX);
                *lo = self.dir.get(bucket).map_or(usize::MAX, |&at| at as usize);
            }
            let mut touched = 0u64;
            for &at in &lo[..group.len()] {
                if let Some(stored) = self.entries.get(at) {
                    touched ^= u64::from(stored.flags);
                }
                // A delta reads the raw-row hash beside the entry too.
                if self.keep_raw
                    && let (Some(raw), Some(has)) = (self.raws.get(at), self.has_raw.get(at / 64))
                {
                    touched ^= raw ^ has;
                }
            }
            std::hint::black_box(touched);
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
        self.entries
            .iter()
            .enumerate()
            .any(|(at, e)| !e.has(COLLIDED) && vanishes_unless(e.flags, seen(Slot::Main(at), "")))
            || self
                .side
                .iter()
                .any(|(k, e)| e.vanishes_unless(seen(Slot::Side, k)))
    }

    /// Every entry (placeholders excluded), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        self.dir
            .windows(2)
            .enumerate()
            .flat_map(|(bucket, w)| (w[0] as usize..w[1] as usize).map(move |at| (bucket, at)))
            .filter(|&(_, at)| !self.entries[at].has(COLLIDED))
            .map(|(bucket, at)| self.bucket_entry(bucket, at))
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
    kh >> (64 - bits)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn entry(key: u64, flags: u8) -> Entry {
        Entry::new(key, &[key as u8; 32], None, None, flags)
    }

    #[test]
    fn the_bucket_of_an_entry_is_the_one_a_search_of_the_directory_finds() {
        // Evenly spread key hashes (found near the guess) and ones bunched into a few
        // buckets (searched).
        for spread in [true, false] {
            let entries: Vec<Entry> = (0..50_000u64)
                .map(|i| {
                    let k = key_hash(&format!("k{i}"));
                    let k = if spread { k } else { k >> 20 | (i % 3) << 61 };
                    entry(k, SENT)
                })
                .collect();
            let (index, _) = Index::build(entries, key_hash, false);
            for at in 0..index.main_len() {
                let searched = index.dir.partition_point(|&start| start as usize <= at) - 1;
                assert_eq!(index.bucket_at(at), searched, "entry {at}, spread {spread}");
            }
        }
    }

    #[test]
    fn a_stored_entry_is_19_bytes() {
        assert_eq!(std::mem::size_of::<Stored>(), 19);
        assert_eq!(std::mem::align_of::<Stored>(), 1);
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
    fn an_index_of_100k_entries_holds_19_bytes_an_entry_beside_its_directory() {
        let n = 100_000;
        let entries: Vec<Entry> = (0..n)
            .map(|i| {
                let k = format!("k{i}");
                Entry::new(key_hash(&k), &[1; 32], Some(RawHash(i as u64)), None, SENT)
            })
            .collect();
        // 100k entries would take 2^14 buckets; the directory keeps its least, 2^16.
        let dir = ((1 << 16) + 1) * std::mem::size_of::<u32>();
        let per_entry = |index: &Index| (index.heap_bytes() - dir) as f64 / n as f64;
        let (without, _) = Index::build(entries.clone(), key_hash, false);
        assert!((19.0..19.1).contains(&per_entry(&without)), "{without:?}");
        // The raw-row hashes: 8 bytes and a bit.
        let (with, _) = Index::build(entries, key_hash, true);
        assert!((27.125..27.2).contains(&per_entry(&with)), "{with:?}");
    }

    /// A reproducible stream of 64-bit values (splitmix64).
    fn scrambled(i: u64) -> u64 {
        let mut z = i.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    #[test]
    fn buckets_of_more_than_16_bits_still_say_the_top_16() {
        // 2^19 entries: 17 bits of directory, the 17th also among the 48 stored. Each base
        // comes with neighbours in the same bucket, in the next bucket with the same top 16
        // bits, and with the same low 48 bits under other top 16 bits.
        let bases: Vec<u64> = (0..1 << 17).map(scrambled).collect();
        let mut keys: Vec<u64> = bases
            .iter()
            .flat_map(|&b| [b, b ^ 1, b ^ 1 << 47, b ^ 1 << 48])
            .collect();
        let entries = keys.iter().map(|&k| entry(k, SENT)).collect();
        let (index, collisions) = Index::build(entries, key_hash, false);
        assert_eq!((index.bits, collisions.len()), (17, 0));
        keys.sort_unstable();
        for (at, &k) in keys.iter().enumerate() {
            assert_eq!(index.find(k, ""), Some(Slot::Main(at)), "{k:x}");
            assert_eq!(index.get(Slot::Main(at), ""), entry(k, SENT), "{k:x}");
        }
        for k in bases
            .iter()
            .flat_map(|&b| [b ^ 2, b ^ 1 << 46, b ^ 1 << 49])
        {
            if keys.binary_search(&k).is_err() {
                assert_eq!(index.find(k, ""), None, "{k:x}");
            }
        }
        let listed: Vec<u64> = index.iter().map(|e| e.key).collect();
        assert_eq!(listed, keys);
    }

    /// A key hash said by its key, `{hash:x}#{n}` (`n` tells keys of one hash apart).
    fn hex_hash(key: &str) -> u64 {
        let hex = key.split_once('#').map_or(key, |(hex, _)| hex);
        u64::from_str_radix(hex, 16).unwrap_or(0)
    }

    /// An order of entries that tells every field apart.
    fn by_fields(e: &Entry) -> (u64, [u8; HASH_PREFIX], u64, i32, u8) {
        (e.key, e.hash, e.raw, e.expires, e.flags)
    }

    /// One generated item: how its key hash is made and what it records.
    type Item = (u8, u64, u64, u64, Option<u64>, Option<i32>, u8);

    /// The key hash of an item, given the key hashes made before it (`kind`: 0-2 random,
    /// 3-4 under a few top 16 bits, 5 an earlier one's, 6 an earlier one's low 48 bits under
    /// other top bits, 7 an earlier one's with a low bit flipped).
    fn item_key(kind: u8, a: u64, b: u64, earlier: &[u64]) -> u64 {
        const LOW: u64 = (1 << 48) - 1;
        match (kind, earlier.len() as u64) {
            (3 | 4, _) => [0, 0xffff, 0x8000][(b % 3) as usize] << 48 | a & LOW,
            (5, n @ 1..) => earlier[(b % n) as usize],
            (6, n @ 1..) => earlier[(b % n) as usize] ^ ((b >> 32) & 0xffff).max(1) << 48,
            (7, n @ 1..) => earlier[(b % n) as usize] ^ 1 << (a % 48),
            _ => a,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn the_index_agrees_with_a_map_of_full_key_hashes(
            items in proptest::collection::vec(
                any::<Item>().prop_map(|mut i| { i.0 %= 8; i }),
                0..3000,
            ),
            keep_raw: bool,
        ) {
            // Per key hash, each key's name, the entry given and the entry expected back.
            let mut oracle: BTreeMap<u64, Vec<(String, Entry, Entry)>> = BTreeMap::new();
            let mut keys = Vec::new();
            let mut entries = Vec::new();
            for (i, &(kind, a, b, content, raw, expires, flags)) in items.iter().enumerate() {
                let kh = item_key(kind, a, b, &keys);
                keys.push(kh);
                let mut hash = [0xa5; 32];
                hash[..8].copy_from_slice(&content.to_le_bytes());
                let expires = expires.and_then(NaiveDate::from_num_days_from_ce_opt);
                let flags = flags & (STATUS | SENT | SENT_TODAY);
                let raw = raw.map(RawHash);
                let given = Entry::new(kh, &hash, raw, expires, flags);
                let expected = Entry::new(kh, &hash, raw.filter(|_| keep_raw), expires, flags);
                entries.push(given);
                oracle.entry(kh).or_default().push((format!("{kh:x}#{i}"), given, expected));
            }
            let (mut index, collisions) = Index::build(entries, hex_hash, keep_raw);
            let colliding: Vec<u64> =
                oracle.iter().filter(|(_, v)| v.len() > 1).map(|(&kh, _)| kh).collect();
            prop_assert_eq!(&collisions, &colliding);
            prop_assert_eq!(index.main_len(), oracle.len());

            let mut listed: Vec<Entry> = index.iter().collect();
            listed.sort_unstable_by_key(by_fields);
            let single: Vec<Entry> =
                oracle.values().filter(|v| v.len() == 1).map(|v| v[0].2).collect();
            prop_assert_eq!(listed, single);

            for (name, given, _) in oracle.values().filter(|v| v.len() > 1).flatten() {
                index.add_side(name.as_str().into(), *given);
            }
            // Warming (known hashes, unknown ones, the extremes) changes nothing found below.
            let mut warmed: Vec<u64> = oracle.keys().flat_map(|&kh| [kh, kh ^ 1]).collect();
            warmed.extend([0, 1, u64::MAX, 1 << 63]);
            index.warm(&warmed);
            for (at, (&kh, known)) in oracle.iter().enumerate() {
                for (name, _, expected) in known {
                    let slot = if known.len() == 1 { Slot::Main(at) } else { Slot::Side };
                    prop_assert_eq!(index.find(kh, name), Some(slot), "{}", name);
                    prop_assert_eq!(index.get(slot, name), *expected, "{}", name);
                }
                let stranger = format!("{kh:x}#stranger");
                let found = index.find(kh, &stranger);
                prop_assert_eq!(found, (known.len() == 1).then_some(Slot::Main(at)));
                for other in [kh ^ 1, kh ^ 1 << 47, kh ^ 1 << 48, kh ^ 1 << 63, kh.wrapping_add(1 << 48)] {
                    if !oracle.contains_key(&other) {
                        prop_assert_eq!(index.find(other, &format!("{other:x}")), None, "{:x}", other);
                    }
                }
            }

            let mut listed: Vec<Entry> = index.iter().collect();
            listed.sort_unstable_by_key(by_fields);
            let mut all: Vec<Entry> = oracle.values().flatten().map(|(_, _, e)| *e).collect();
            all.sort_unstable_by_key(by_fields);
            prop_assert_eq!(listed, all);

            let vanishes = |side: bool| {
                oracle.values().any(|v| (v.len() > 1) == side && v.iter().any(|(_, _, e)| e.vanishes_unless(false)))
            };
            prop_assert_eq!(index.any_vanishes(|_, _| false), vanishes(false) || vanishes(true));
            prop_assert_eq!(index.any_vanishes(|slot, _| slot == Slot::Side), vanishes(false));
            prop_assert_eq!(index.any_vanishes(|slot, _| slot != Slot::Side), vanishes(true));
        }
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
