//! The person index: rows grouped by person key, as row chains and a packed key list, built
//! with a hash table of its own while the inputs are read.

/// The end of a chain of rows.
pub(super) const NONE: u32 = u32::MAX;

/// A person's key in the index: its length (LEB128) and its bytes.
fn put_key(keys: &mut Vec<u8>, key: &[u8]) {
    push_len(keys, key.len());
    keys.extend_from_slice(key);
}

/// The key at `at` in the index, and where the next one starts.
fn get_key(keys: &[u8], mut at: usize) -> (&[u8], usize) {
    let len = read_len(keys, &mut at);
    let end = at.saturating_add(len).min(keys.len());
    (&keys[at.min(end)..end], end)
}

/// Appends `len` as LEB128.
fn push_len(out: &mut Vec<u8>, mut len: usize) {
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
}

/// The LEB128 length at `at`, which moves past it.
fn read_len(bytes: &[u8], at: &mut usize) -> usize {
    let (mut len, mut shift) = (0usize, 0u32);
    while let Some(&b) = bytes.get(*at) {
        *at += 1;
        len |= usize::from(b & 0x7F).checked_shl(shift).unwrap_or(0);
        shift += 7;
        if b < 0x80 {
            break;
        }
    }
    len
}

/// While indexing, a person's entry is their last row and their number (4 bytes each)
/// followed by their key.
const TAIL: usize = 8;

fn tail(keys: &[u8], entry: u32) -> u32 {
    let at = entry as usize;
    let mut bytes = [0; 4];
    bytes.copy_from_slice(&keys[at..at + 4]);
    u32::from_le_bytes(bytes)
}

fn set_tail(keys: &mut [u8], entry: u32, row: u32) {
    let at = entry as usize;
    keys[at..at + 4].copy_from_slice(&row.to_le_bytes());
}

/// The number of the person whose entry is at `entry` (people are numbered in order of
/// first appearance).
fn number(keys: &[u8], entry: u32) -> usize {
    let at = entry as usize + 4;
    let mut bytes = [0; 4];
    bytes.copy_from_slice(&keys[at..at + 4]);
    u32::from_le_bytes(bytes) as usize
}

/// Person keys to their entries while indexing: an open-addressing table of entry offsets
/// with a one-byte tag of each key's hash, so that a probe rarely compares keys. Keys are
/// compared exactly; keys whose hashes agree are simply kept apart.
struct KeyTable<S = std::hash::RandomState> {
    hasher: S,
    tags: Vec<u8>,
    slots: Vec<u32>,
    len: usize,
}

impl<S: std::hash::BuildHasher + Default> KeyTable<S> {
    fn new() -> Self {
        KeyTable {
            hasher: S::default(),
            tags: vec![0; 1024],
            slots: vec![0; 1024],
            len: 0,
        }
    }
}

impl<S: std::hash::BuildHasher> KeyTable<S> {
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn home(&self, hash: u64) -> usize {
        ((u64::from(hash as u32) * self.tags.len() as u64) >> 32) as usize
    }

    fn tag(hash: u64) -> u8 {
        (hash >> 57) as u8 | 0x80
    }

    /// The entry of `key` (in build-time `keys`), or the free slot where it goes.
    fn find(&self, keys: &[u8], key: &[u8], hash: u64) -> Result<u32, usize> {
        let tag = Self::tag(hash);
        let mut i = self.home(hash);
        loop {
            match self.tags[i] {
                0 => return Err(i),
                t if t == tag && get_key(keys, self.slots[i] as usize + TAIL).0 == key => {
                    return Ok(self.slots[i]);
                }
                _ => {}
            }
            i += 1;
            if i == self.tags.len() {
                i = 0;
            }
        }
    }

    fn put(&mut self, slot: usize, hash: u64, entry: u32) {
        self.tags[slot] = Self::tag(hash);
        self.slots[slot] = entry;
        self.len += 1;
    }

    /// Whether one more key keeps the table at most 80 % full.
    fn has_room(&self) -> bool {
        (self.len + 1) * 5 <= self.tags.len() * 4
    }

    /// Rebuilds the table with `capacity` slots over the keyed entries of `keys`.
    fn rebuild(&mut self, keys: &[u8], capacity: usize) {
        self.tags = vec![0; capacity];
        self.slots = vec![0; capacity];
        self.len = 0;
        let mut at = 0;
        while at < keys.len() {
            let (key, next) = get_key(keys, at + TAIL);
            if !key.is_empty() {
                let hash = self.hash(key);
                if let Err(slot) = self.find(keys, key, hash) {
                    self.put(slot, hash, at as u32);
                }
            }
            at = next;
        }
    }
}

/// People in order of first appearance and the rows of each: two bits a row, four bytes a
/// row that has a next one ([`Links`]), and per person the part of their key that differs
/// from the previous person's, with two lengths (see [`Index::person`]).
#[derive(Default)]
pub(super) struct Index {
    /// Each row's next row of the same person (rows are numbered across inputs).
    pub(super) links: Links,
    /// Per row, a bit: set on the first row of a person.
    pub(super) heads: Vec<u64>,
    /// While indexing: per person, in order, their last row, their number and their key
    /// (see [`put_key`]). Once built: per person, in order, the length of the prefix their
    /// key shares with the previous person's, the length of the rest and the rest (LEB128
    /// lengths): people come in extract order, and keys in a file sorted by them share most
    /// of their bytes.
    pub(super) keys: Vec<u8>,
    pub(super) people: usize,
    /// Per person, in order, the raw-row hash of their rows as read (when the index was
    /// built [hashing](Builder::hashing)); see [`RawHashes`].
    pub(super) raw: Option<RawHashes>,
}

/// The raw-row hashes of every person, taken while the inputs were read
/// ([`crate::RAW_HASH_VERSION`]'s recipe, over the fields as a reader reads them back).
#[derive(Debug, Default)]
pub(super) struct RawHashes {
    /// Per person: the hash.
    hashes: Vec<u64>,
    /// Per person, a bit: a row of theirs had a problem (their hash is not taken).
    unhashable: Vec<u64>,
}

impl RawHashes {
    /// The hash of person number `person`, unless a row of theirs had a problem.
    pub(super) fn get(&self, person: usize) -> Option<u64> {
        let bad = self.unhashable[person / 64] >> (person % 64) & 1 == 1;
        (!bad).then(|| self.hashes[person])
    }
}

/// Each row's next row of the same person, for the few rows that have one: a bit a row
/// (set: the row has a next one), the number of set bits before each word of them, and the
/// next rows of the rows with a bit, in row order. Most people have one row, so this takes
/// about an eighth of the four bytes a row a plain vector would.
#[derive(Debug, Default)]
pub(super) struct Links {
    has_next: Vec<u64>,
    /// Per word of `has_next`: how many bits are set in the words before it.
    rank: Vec<u32>,
    next: Vec<u32>,
}

impl Links {
    /// The links of `next` (per row, its next row or [`NONE`]).
    fn of(next: &[u32]) -> Links {
        let words = next.len().div_ceil(64);
        let mut links = Links {
            has_next: vec![0; words],
            rank: Vec::with_capacity(words),
            next: Vec::new(),
        };
        let linked = next.iter().filter(|&&n| n != NONE).count();
        links.next.reserve_exact(linked);
        for (word, rows) in next.chunks(64).enumerate() {
            links.rank.push(links.next.len() as u32);
            for (bit, &n) in rows.iter().enumerate() {
                if n != NONE {
                    links.has_next[word] |= 1 << bit;
                    links.next.push(n);
                }
            }
        }
        links
    }

    /// The row after `row` of the same person, or [`NONE`].
    pub(super) fn next(&self, row: u32) -> u32 {
        let (word, bit) = (row as usize / 64, row % 64);
        let Some(&bits) = self.has_next.get(word) else {
            return NONE;
        };
        if bits >> bit & 1 == 0 {
            return NONE;
        }
        let before = (bits & ((1u64 << bit) - 1)).count_ones();
        self.next[(self.rank[word] + before) as usize]
    }
}

/// Where [`Index::person`] is: the next row to look for a person's first row from, where
/// the next key starts, and the key last read.
#[derive(Debug, Default)]
pub(super) struct Cursor {
    row: usize,
    at: usize,
    key: Vec<u8>,
}

/// A [`RawHashes`] being taken as the rows are read: per person, their hash's state so far
/// (see [`crate::rowhash::RowHasher::state`]), and a bit for those who cannot be hashed.
/// Taken on the reading thread: hashing a row costs a small part of reading it.
#[derive(Default)]
struct Hashing {
    /// The input being read (its number in config order).
    source: usize,
    states: Vec<u64>,
    unhashable: Vec<u64>,
    /// The hasher, its row buffer reused from row to row.
    hasher: Option<crate::rowhash::RowHasher>,
}

impl Hashing {
    /// Makes room for person number `person` (people come in order of first appearance).
    fn person(&mut self, person: usize) {
        if person == self.states.len() {
            self.states.push(crate::rowhash::RowHasher::start());
            if person.is_multiple_of(64) {
                self.unhashable.push(0);
            }
        }
    }

    /// A row of person number `person`; `None`: a row with a problem (the person is not
    /// hashed).
    fn row(&mut self, person: usize, fields: Option<crate::read::RowFields<'_>>) {
        self.person(person);
        let Some(fields) = fields else {
            self.unhashable[person / 64] |= 1 << (person % 64);
            return;
        };
        let h = self
            .hasher
            .get_or_insert_with(crate::rowhash::RowHasher::new);
        h.resume(self.states[person]);
        h.row(self.source);
        fields.each(|field| h.field(field));
        self.states[person] = h.state();
    }

    fn finish(self) -> RawHashes {
        let mut hashes = self.states;
        for h in &mut hashes {
            *h = crate::rowhash::RowHasher::finish_state(*h);
        }
        hashes.shrink_to_fit();
        RawHashes {
            hashes,
            unhashable: self.unhashable,
        }
    }
}

impl Index {
    /// The first row at or after `row` that starts a person.
    fn next_head(&self, row: usize) -> Option<usize> {
        let mut word = row / 64;
        let mut bits = *self.heads.get(word)? & (u64::MAX << (row % 64));
        while bits == 0 {
            word += 1;
            bits = *self.heads.get(word)?;
        }
        Some(word * 64 + bits.trailing_zeros() as usize)
    }

    /// The next person after `cursor`: their first row and key.
    pub(super) fn person<'c>(&self, cursor: &'c mut Cursor) -> Option<(usize, &'c str)> {
        let head = self.next_head(cursor.row)?;
        let shared = read_len(&self.keys, &mut cursor.at);
        let len = read_len(&self.keys, &mut cursor.at);
        let end = cursor.at.saturating_add(len).min(self.keys.len());
        cursor.key.truncate(shared);
        cursor
            .key
            .extend_from_slice(&self.keys[cursor.at.min(end)..end]);
        cursor.at = end;
        cursor.row = head + 1;
        Some((head, std::str::from_utf8(&cursor.key).unwrap_or_default()))
    }
}

/// Builds the [`Index`] from the rows of every input, in order.
pub(super) struct Builder<S = std::hash::RandomState> {
    pub(super) index: Index,
    /// Per row (numbered across inputs): the person's next row, or [`NONE`].
    next: Vec<u32>,
    table: KeyTable<S>,
    hashing: Option<Hashing>,
}

impl<S: std::hash::BuildHasher + Default> Builder<S> {
    pub(super) fn new() -> Self {
        Builder {
            index: Index::default(),
            next: Vec::new(),
            table: KeyTable::new(),
            hashing: None,
        }
    }
}

impl<S: std::hash::BuildHasher> Builder<S> {
    /// Takes every person's raw-row hash as their rows are read (8 bytes a person).
    pub(super) fn hashing(mut self) -> Self {
        self.hashing = Some(Hashing::default());
        self
    }

    /// The rows that follow are of input number `source` (in config order).
    pub(super) fn start_source(&mut self, source: usize) {
        if let Some(h) = &mut self.hashing {
            h.source = source;
        }
    }

    /// A new person, whose first row is `row`; returns their number.
    fn new_person(&mut self, row: u32, key: &[u8]) -> usize {
        let index = &mut self.index;
        let number = index.people;
        index.keys.extend_from_slice(&row.to_le_bytes());
        index.keys.extend_from_slice(&(number as u32).to_le_bytes());
        put_key(&mut index.keys, key);
        index.heads[row as usize / 64] |= 1 << (row % 64);
        index.people += 1;
        number
    }

    /// The rows indexed so far.
    pub(super) fn rows(&self) -> usize {
        self.next.len()
    }

    /// The index as kept: the keys front-coded (see [`Index::keys`]), the row chains as
    /// [`Links`], the table gone.
    pub(super) fn finish(self) -> Index {
        let mut index = self.index;
        index.links = Links::of(&self.next);
        drop(self.next);
        // In place: an entry front-coded takes at most 1 + the length of its length + its
        // key, at least 7 bytes less than it took with its last row and number, so the
        // write never reaches what is still to be read.
        let (mut write, mut at) = (0, 0);
        let (mut prev, mut key, mut entry) = (Vec::new(), Vec::new(), Vec::new());
        while at < index.keys.len() {
            let (k, next) = get_key(&index.keys, at + TAIL);
            key.clear();
            key.extend_from_slice(k);
            let shared = prev.iter().zip(&key).take_while(|(a, b)| a == b).count();
            entry.clear();
            push_len(&mut entry, shared);
            push_len(&mut entry, key.len() - shared);
            entry.extend_from_slice(&key[shared..]);
            index.keys[write..write + entry.len()].copy_from_slice(&entry);
            write += entry.len();
            at = next;
            std::mem::swap(&mut prev, &mut key);
        }
        index.keys.truncate(write);
        index.keys.shrink_to_fit();
        index.heads.shrink_to_fit();
        index.raw = self.hashing.map(Hashing::finish);
        index
    }
}

impl<S: std::hash::BuildHasher> crate::read::Sink for Builder<S> {
    fn row(&mut self, key: &str, fields: Option<crate::read::RowFields<'_>>) -> bool {
        let row = self.next.len();
        if row >= NONE as usize || self.index.keys.len() + key.len() + 20 > u32::MAX as usize {
            return false;
        }
        let row = row as u32;
        self.next.push(NONE);
        if self.index.heads.len() * 64 <= row as usize {
            self.index.heads.push(0);
        }
        // A row without a key is a person of its own (and rejected).
        let person = if key.is_empty() {
            self.new_person(row, b"")
        } else {
            let key = key.as_bytes();
            if !self.table.has_room() {
                let capacity = self.table.tags.len() * 2;
                self.table.rebuild(&self.index.keys, capacity);
            }
            let hash = self.table.hash(key);
            match self.table.find(&self.index.keys, key, hash) {
                Ok(entry) => {
                    let last = tail(&self.index.keys, entry);
                    self.next[last as usize] = row;
                    set_tail(&mut self.index.keys, entry, row);
                    number(&self.index.keys, entry)
                }
                Err(slot) => {
                    let entry = self.index.keys.len() as u32;
                    let person = self.new_person(row, key);
                    self.table.put(slot, hash, entry);
                    person
                }
            }
        };
        if let Some(h) = &mut self.hashing {
            h.row(person, fields);
        }
        true
    }

    fn wants_fields(&self) -> bool {
        self.hashing.is_some()
    }

    fn expect(&mut self, rows: usize) {
        // Room for the rows and a table that need not grow: growing it rehashes every key.
        self.next.reserve(rows);
        self.index.heads.reserve(rows / 64 + 1);
        let wanted = (self.table.len + rows) * 5 / 4 + 1;
        if wanted > self.table.tags.len() {
            self.table.rebuild(&self.index.keys, wanted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Builder, Cursor, Index, NONE};
    use crate::read::Sink;

    /// Every key hashes alike, so every key after the first takes the collision path.
    #[derive(Default)]
    struct Collide;

    impl std::hash::Hasher for Collide {
        fn finish(&self) -> u64 {
            7
        }
        fn write(&mut self, _: &[u8]) {}
    }

    type Colliding = Builder<std::hash::BuildHasherDefault<Collide>>;

    /// Each person's key and rows, in order.
    fn people(index: &Index) -> Vec<(String, Vec<u32>)> {
        let mut out = Vec::new();
        let mut cursor = Cursor::default();
        while let Some((head, key)) = index.person(&mut cursor) {
            let mut rows = vec![head as u32];
            while index.links.next(*rows.last().expect("a row")) != NONE {
                rows.push(index.links.next(*rows.last().expect("a row")));
            }
            out.push((key.to_owned(), rows));
        }
        assert_eq!(out.len(), index.people);
        out
    }

    fn owned(list: &[(&str, &[u32])]) -> Vec<(String, Vec<u32>)> {
        list.iter()
            .map(|(k, rows)| ((*k).to_owned(), rows.to_vec()))
            .collect()
    }

    #[test]
    fn keys_with_the_same_hash_stay_apart() {
        let mut builder = Colliding::new();
        for key in ["a", "b", "a", "", "c", "b", "", "a"] {
            assert!(builder.row(key, None));
        }
        assert_eq!(
            people(&builder.finish()),
            owned(&[
                ("a", &[0, 2, 7]),
                ("b", &[1, 5]),
                ("", &[3]),
                ("c", &[4]),
                ("", &[6]),
            ])
        );
    }

    #[test]
    fn a_table_grows_and_keeps_every_key() {
        let mut builder: Builder = Builder::new();
        for i in 0..5000 {
            assert!(builder.row(&format!("k{}", i % 3000), None));
        }
        let index = builder.finish();
        let got = people(&index);
        assert_eq!(got.len(), 3000);
        for (i, (key, rows)) in got.iter().enumerate() {
            assert_eq!(key, &format!("k{i}"));
            let expected: Vec<u32> = [i, i + 3000]
                .into_iter()
                .filter(|&r| r < 5000)
                .map(|r| r as u32)
                .collect();
            assert_eq!(rows, &expected);
        }
    }

    /// The people of `keys` (one per row, in order) as a plain map would group them: each
    /// non-empty key once, at its first row, with all its rows; each empty key alone.
    fn grouped(keys: &[String]) -> Vec<(String, Vec<u32>)> {
        let mut out: Vec<(String, Vec<u32>)> = Vec::new();
        let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for (row, key) in keys.iter().enumerate() {
            let row = row as u32;
            match at.get(key) {
                Some(&i) if !key.is_empty() => out[i].1.push(row),
                _ => {
                    if !key.is_empty() {
                        at.insert(key.clone(), out.len());
                    }
                    out.push((key.clone(), vec![row]));
                }
            }
        }
        out
    }

    /// Keys drawn from a few stems (so that neighbours share prefixes of every length),
    /// with multi-byte characters and keys longer than 128 bytes among them.
    fn key() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let long = "x".repeat(150);
        (
            prop::sample::select(vec![
                String::new(),
                "7000".to_owned(),
                "70001".to_owned(),
                "U0000".to_owned(),
                "é日".to_owned(),
                long.clone(),
                format!("{long}é"),
            ]),
            prop::sample::select(vec!["", "0", "1", "9", "12", "é", "日本", "00"]),
            0..3u8,
        )
            .prop_map(|(stem, tail, n)| {
                if stem.is_empty() && n == 0 {
                    String::new()
                } else {
                    format!("{stem}{}", tail.repeat(usize::from(n)))
                }
            })
    }

    proptest::proptest! {
        #[test]
        fn the_index_groups_rows_as_a_map_does(
            keys in proptest::collection::vec(key(), 0..300),
            sorted: bool,
        ) {
            let mut keys = keys;
            if sorted {
                keys.sort();
            }
            let mut builder: Builder = Builder::new();
            for key in &keys {
                proptest::prop_assert!(builder.row(key, None));
            }
            let index = builder.finish();
            proptest::prop_assert_eq!(people(&index), grouped(&keys));
        }
    }

    #[test]
    fn sorted_keys_take_a_few_bytes_a_person_and_single_rows_no_link() {
        let mut builder: Builder = Builder::new();
        for i in 0..100_000u32 {
            assert!(builder.row(&format!("{}", 700_000_000 + i), None));
        }
        assert!(builder.row("700000007", None));
        let index = builder.finish();
        // "700000001" after "700000000": 8 shared, 1 more, "1".
        assert!(index.keys.len() <= 100_000 * 4, "{}", index.keys.len());
        assert_eq!(index.links.next.len(), 1);
        assert_eq!(index.links.next(7), 100_000);
        assert_eq!(index.links.next(8), NONE);
        assert_eq!(index.links.next(100_000), NONE);
        assert_eq!(people(&index).len(), 100_000);
    }
}
