//! The raw-row hash: a 64-bit hash of one person's input rows, so that a run can tell that
//! a person's rows did not change since they were last mapped without mapping them.
//!
//! Version [`RAW_HASH_VERSION`]: for each of the person's rows in the order the extract
//! holds them (input by input, in config order; within an input, in file order), the
//! input's number as 8 little-endian bytes, then each field as read (decoded, trimmed): its
//! bytes in 8-byte little-endian words (the last padded with zeros), each word folded into
//! the state by `state = mix(state ^ word)`, then its length the same way; `mix` is
//! splitmix64's finalizer, a bijection. Chained through a bijection, two rows that differ
//! in one word keep different states until a later word differs too: unrelated rows agree
//! with a chance of about 2^-64. Any change to this recipe is a new version.

/// The version of the recipe above: stored runs hashed under another are hashed anew.
pub const RAW_HASH_VERSION: u32 = 1;

/// Hashes rows as the recipe says.
#[derive(Debug, Clone)]
pub(crate) struct RowHasher {
    state: u64,
}

impl RowHasher {
    pub(crate) fn new() -> RowHasher {
        RowHasher {
            state: 0x243f_6a88_85a3_08d3,
        }
    }

    /// A hasher that goes on from `state` (what [`RowHasher::state`] gave).
    pub(crate) fn resume(state: u64) -> RowHasher {
        RowHasher { state }
    }

    /// The state so far, to go on with later ([`RowHasher::resume`]).
    pub(crate) fn state(&self) -> u64 {
        self.state
    }

    fn fold(&mut self, word: u64) {
        self.state = mix(self.state ^ word);
    }

    /// The start of a row from input number `input`.
    pub(crate) fn row(&mut self, input: usize) {
        self.fold(input as u64);
    }

    /// One field's bytes.
    pub(crate) fn field(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in words.by_ref() {
            let mut w = [0; 8];
            w.copy_from_slice(word);
            self.fold(u64::from_le_bytes(w));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut w = [0; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.fold(u64::from_le_bytes(w));
        }
        self.fold(bytes.len() as u64);
    }

    pub(crate) fn finish(&self) -> u64 {
        mix(self.state)
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

    #[test]
    fn rows_that_differ_anywhere_hash_apart() {
        let base = hash(&[(0, &["1", "Ana", "Smith"]), (1, &["1", "FAC"])]);
        // Pinned: the recipe is versioned, so its output must not drift.
        assert_eq!(
            base,
            hash(&[(0, &["1", "Ana", "Smith"]), (1, &["1", "FAC"])])
        );
        for other in [
            hash(&[(0, &["1", "Ana", "Smith"]), (1, &["1", "FAD"])]),
            hash(&[(0, &["1", "AnaSmith", ""]), (1, &["1", "FAC"])]),
            hash(&[(0, &["1", "Ana", "Smith"]), (0, &["1", "FAC"])]),
            hash(&[(1, &["1", "FAC"]), (0, &["1", "Ana", "Smith"])]),
            hash(&[(0, &["1", "Ana", "Smith"])]),
            hash(&[(0, &["1", "Ana", "Smith\0"]), (1, &["1", "FAC"])]),
        ] {
            assert_ne!(base, other);
        }
    }
}
