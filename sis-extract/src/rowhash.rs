//! The raw-row hash: a 64-bit hash of one person's input rows, so that a run can tell that
//! a person's rows did not change since they were last mapped without mapping them.
//!
//! Version [`RAW_HASH_VERSION`]: each of the person's rows, in the order the extract holds
//! them (input by input, in config order; within an input, in file order), is written as
//! the input's number in 8 little-endian bytes, then each field as read (decoded, trimmed)
//! as its length in 8 little-endian bytes and its bytes; the row's hash is XXH3-64 (seed 0)
//! of those bytes. The lengths make the writing one-to-one: rows that differ in a field, in
//! where a field ends, in their number of fields or in their input write different bytes.
//! The person's state starts at a constant and takes each row's hash as
//! `state = mix(state ^ row)`; the hash is `mix(state)`, `mix` being splitmix64's finalizer,
//! a bijection, so the same rows in another order hash apart. Unrelated rows agree with a
//! chance of about 2^-64. Any change to this recipe is a new version.
//!
//! (Version 1 folded every 8 bytes of every field through `mix`, one after the other: a
//! chain of multiplications that took as long as reading the row. XXH3 is a published,
//! frozen algorithm that takes its bytes several words at a time.)

/// The version of the recipe above: stored runs hashed under another are hashed anew.
pub const RAW_HASH_VERSION: u32 = 2;

/// The state before any row.
const START: u64 = 0x243f_6a88_85a3_08d3;

/// Hashes rows as the recipe says; its row buffer is reused from row to row.
#[derive(Debug, Clone)]
pub(crate) struct RowHasher {
    state: u64,
    /// The row being written, when one is open.
    row: Vec<u8>,
    open: bool,
}

impl Default for RowHasher {
    fn default() -> RowHasher {
        RowHasher::new()
    }
}

impl RowHasher {
    pub(crate) fn new() -> RowHasher {
        RowHasher {
            state: START,
            row: Vec::new(),
            open: false,
        }
    }

    /// The state before any row (what [`RowHasher::resume`] takes for a person not seen yet).
    pub(crate) fn start() -> u64 {
        START
    }

    /// Goes on from `state` (what [`RowHasher::state`] gave), keeping this hasher's buffer.
    pub(crate) fn resume(&mut self, state: u64) {
        self.state = state;
        self.open = false;
    }

    /// The state so far, the open row taken, to go on with later ([`RowHasher::resume`]).
    pub(crate) fn state(&mut self) -> u64 {
        self.close_row();
        self.state
    }

    fn close_row(&mut self) {
        if self.open {
            self.open = false;
            self.state = mix(self.state ^ xxhash_rust::xxh3::xxh3_64(&self.row));
        }
    }

    /// The start of a row from input number `input`.
    pub(crate) fn row(&mut self, input: usize) {
        self.close_row();
        self.row.clear();
        self.row.extend_from_slice(&(input as u64).to_le_bytes());
        self.open = true;
    }

    /// One field's bytes.
    pub(crate) fn field(&mut self, bytes: &[u8]) {
        self.row
            .extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        self.row.extend_from_slice(bytes);
    }

    /// The hash of the rows taken.
    pub(crate) fn finish(&mut self) -> u64 {
        mix(self.state())
    }

    /// The hash of a person whose rows left `state`.
    pub(crate) fn finish_state(state: u64) -> u64 {
        mix(state)
    }
}

/// splitmix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(rows: &[(usize, &[&str])]) -> u64 {
        let mut h = RowHasher::new();
        for (input, fields) in rows {
            h.row(*input);
            for f in *fields {
                h.field(f.as_bytes());
            }
        }
        h.finish()
    }

    /// The recipe written out by hand, for the pinned value below.
    fn by_hand(rows: &[(usize, &[&str])]) -> u64 {
        let mut state = START;
        for (input, fields) in rows {
            let mut bytes = (*input as u64).to_le_bytes().to_vec();
            for f in *fields {
                bytes.extend_from_slice(&(f.len() as u64).to_le_bytes());
                bytes.extend_from_slice(f.as_bytes());
            }
            state = mix(state ^ xxhash_rust::xxh3::xxh3_64(&bytes));
        }
        mix(state)
    }

    #[test]
    fn rows_that_differ_anywhere_hash_apart() {
        let rows: &[(usize, &[&str])] = &[(0, &["1", "Ana", "Smith"]), (1, &["1", "FAC"])];
        let base = hash(rows);
        // Pinned: the recipe is versioned, so its output must not drift (a stored hash
        // from a run of this version must still match its rows).
        assert_eq!(base, by_hand(rows));
        assert_eq!(base, 4_179_414_647_224_282_999);
        for other in [
            hash(&[(0, &["1", "Ana", "Smith"]), (1, &["1", "FAD"])]),
            hash(&[(0, &["1", "AnaSmith", ""]), (1, &["1", "FAC"])]),
            hash(&[(0, &["1", "Ana", "Smith"]), (0, &["1", "FAC"])]),
            hash(&[(1, &["1", "FAC"]), (0, &["1", "Ana", "Smith"])]),
            hash(&[(0, &["1", "Ana", "Smith"])]),
            hash(&[(0, &["1", "Ana", "Smith\0"]), (1, &["1", "FAC"])]),
            hash(&[(0, &["1", "Ana", "Smith", ""]), (1, &["1", "FAC"])]),
            hash(&[(0, &["1", "Ana", "Smith"]), (1, &["1", "FAC"]), (1, &[])]),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn a_person_resumed_between_rows_hashes_as_one_hashed_at_once() {
        let mut whole = RowHasher::new();
        let mut parts = RowHasher::new();
        let mut state = RowHasher::start();
        for (input, fields) in [(0, ["7", "Bo"]), (2, ["7", "STAFF"]), (2, ["7", "GRAD"])] {
            whole.row(input);
            parts.resume(state);
            parts.row(input);
            for f in fields {
                whole.field(f.as_bytes());
                parts.field(f.as_bytes());
            }
            state = parts.state();
        }
        assert_eq!(whole.finish(), RowHasher::finish_state(state));
    }
}
