//! The person index: rows grouped by person key, as row chains and a packed key list, built
//! with a hash table of its own while the inputs are read.

/// The end of a chain of rows.
pub(super) const NONE: u32 = u32::MAX;

/// A person's key in the index: its length (LEB128) and its bytes.
fn put_key(keys: &mut Vec<u8>, key: &[u8]) {
    let mut len = key.len();
    while len >= 0x80 {
        keys.push((len as u8) | 0x80);
        len >>= 7;
    }
    keys.push(len as u8);
    keys.extend_from_slice(key);
}

/// The key at `at` in the index, and where the next one starts.
fn get_key(keys: &[u8], mut at: usize) -> (&[u8], usize) {
    let (mut len, mut shift) = (0usize, 0);
    while let Some(&b) = keys.get(at) {
        at += 1;
        len |= usize::from(b & 0x7F) << shift;
        shift += 7;
        if b < 0x80 {
            break;
        }
    }
    let end = (at + len).min(keys.len());
    (&keys[at..end], end)
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

/// People in order of first appearance and the rows of each, in about 4 bytes per row
/// (plus a bit) and the key's length plus one per person.
#[derive(Default)]
pub(super) struct Index {
    /// Per row (numbered across inputs): the person's next row, or [`NONE`].
    pub(super) next: Vec<u32>,
    /// Per row, a bit: set on the first row of a person.
    pub(super) heads: Vec<u64>,
    /// Per person, in order: the key (see [`put_key`]); while indexing, each entry starts
    /// with the person's last row.
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
    fn row(&mut self, person: usize, fields: Option<&crate::read::Fields>) {
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
        for i in 0..fields.len() {
            h.field(fields.get(i).unwrap_or("").as_bytes());
        }
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
    pub(super) fn person(&self, cursor: &mut (usize, usize)) -> Option<(usize, &str)> {
        let head = self.next_head(cursor.0)?;
        let (key, next) = get_key(&self.keys, cursor.1);
        *cursor = (head + 1, next);
        Some((head, std::str::from_utf8(key).unwrap_or_default()))
    }
}

/// Builds the [`Index`] from the rows of every input, in order.
pub(super) struct Builder<S = std::hash::RandomState> {
    pub(super) index: Index,
    table: KeyTable<S>,
    hashing: Option<Hashing>,
}

impl<S: std::hash::BuildHasher + Default> Builder<S> {
    pub(super) fn new() -> Self {
        Builder {
            index: Index::default(),
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

    /// The index as kept: the build-time last rows dropped from the keys, the table gone.
    pub(super) fn finish(self) -> Index {
        let mut index = self.index;
        let mut write = 0;
        let mut at = 0;
        while at < index.keys.len() {
            let (_, next) = get_key(&index.keys, at + TAIL);
            index.keys.copy_within(at + TAIL..next, write);
            write += next - at - TAIL;
            at = next;
        }
        index.keys.truncate(write);
        index.keys.shrink_to_fit();
        index.next.shrink_to_fit();
        index.heads.shrink_to_fit();
        index.raw = self.hashing.map(Hashing::finish);
        index
    }
}

impl<S: std::hash::BuildHasher> crate::read::Sink for Builder<S> {
    fn row(&mut self, key: &str, fields: Option<&crate::read::Fields>) -> bool {
        let row = self.index.next.len();
        if row >= NONE as usize || self.index.keys.len() + key.len() + 20 > u32::MAX as usize {
            return false;
        }
        let row = row as u32;
        self.index.next.push(NONE);
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
                    self.index.next[last as usize] = row;
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
        let index = &mut self.index;
        index.next.reserve(rows);
        index.heads.reserve(rows / 64 + 1);
        let wanted = (self.table.len + rows) * 5 / 4 + 1;
        if wanted > self.table.tags.len() {
            self.table.rebuild(&self.index.keys, wanted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Builder, Index, NONE};
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
        let mut cursor = (0, 0);
        while let Some((head, key)) = index.person(&mut cursor) {
            let mut rows = vec![head as u32];
            while index.next[*rows.last().expect("a row") as usize] != NONE {
                rows.push(index.next[*rows.last().expect("a row") as usize]);
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
}
