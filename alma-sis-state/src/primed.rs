//! Raw deflate of short inputs against a preset dictionary that never changes: the
//! dictionary's match index is built once ([`PrimedDictionary`]) and shared by every input,
//! where zlib rebuilds it for each (`deflateSetDictionary` after a reset clears a 128 KiB hash
//! table and inserts the whole dictionary again: 4-5 us a payload, most of what packing a new
//! person's payload cost). No crate offers a primed compressor that can be reused without
//! that reset, so this one is written here; it is small because its inputs are.
//!
//! The output is one final block with deflate's fixed Huffman codes (as zlib's level 1,
//! `deflate_quick`, writes for short inputs), so any inflater given the same dictionary
//! reads it; matches are found greedily, the longer of the input's own last occurrence of
//! the next four bytes and up to [`DICTIONARY_PROBES`] occurrences in the dictionary.

/// Deflate's window: the farthest a match may refer back, so the most of a preset
/// dictionary that counts (a longer one is cut from its start).
pub(super) const WINDOW: usize = 32 * 1024;
/// Shortest match looked for (the hash covers four bytes).
const MIN_MATCH: usize = 4;
/// Deflate's longest match.
const MAX_MATCH: usize = 258;
/// Hash bits of the dictionary's index (at most 32 KiB of dictionary).
const DICTIONARY_BITS: u32 = 15;
/// Hash bits of an input's own index: inputs are a few hundred bytes.
const INPUT_BITS: u32 = 12;
/// How many of the dictionary's occurrences of four bytes are compared, newest first.
const DICTIONARY_PROBES: usize = 4;

fn hash(four: &[u8], bits: u32) -> usize {
    let word = u32::from_le_bytes([four[0], four[1], four[2], four[3]]);
    (word.wrapping_mul(0x9E37_79B1) >> (32 - bits)) as usize
}

/// A dictionary and its match index: where each hash of four bytes last occurs, and for
/// each position the one before it with the same hash.
#[derive(Clone)]
pub(super) struct PrimedDictionary {
    bytes: Vec<u8>,
    /// Hash -> position + 1 of its newest occurrence (0: none).
    head: Vec<u16>,
    /// Position -> position + 1 of the previous occurrence of its hash (0: none).
    chain: Vec<u16>,
}

impl PrimedDictionary {
    /// Indexes `dictionary`; only its last 32 KiB can be referred to, as with zlib.
    pub(super) fn new(dictionary: &[u8]) -> PrimedDictionary {
        let bytes = dictionary[dictionary.len().saturating_sub(WINDOW)..].to_vec();
        let mut head = vec![0u16; 1 << DICTIONARY_BITS];
        let mut chain = vec![0u16; bytes.len()];
        for at in 0..bytes.len().saturating_sub(MIN_MATCH - 1) {
            let h = hash(&bytes[at..], DICTIONARY_BITS);
            chain[at] = head[h];
            // Positions are below 32 Ki, so position + 1 fits.
            head[h] = u16::try_from(at + 1).unwrap_or(0);
        }
        PrimedDictionary { bytes, head, chain }
    }

    /// The dictionary, as an inflater must be primed with it.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for PrimedDictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrimedDictionary")
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// The compressor: an input's own match index, reused from input to input without clearing
/// (entries of earlier inputs are told apart by their stamp).
pub(super) struct PrimedDeflater {
    /// Hash -> stamp of the input's newest position with that hash: `base + position`.
    head: Vec<u32>,
    /// The stamp of the current input's first byte; entries below it are stale.
    base: u32,
}

impl std::fmt::Debug for PrimedDeflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrimedDeflater").finish_non_exhaustive()
    }
}

impl Default for PrimedDeflater {
    fn default() -> PrimedDeflater {
        PrimedDeflater {
            head: vec![0; 1 << INPUT_BITS],
            base: 1,
        }
    }
}

impl PrimedDeflater {
    /// Appends `input` deflated (raw, one final fixed-Huffman block) against `dictionary` to
    /// `out`.
    pub(super) fn deflate(
        &mut self,
        dictionary: &PrimedDictionary,
        input: &[u8],
        out: &mut Vec<u8>,
    ) {
        let Some(len) = u32::try_from(input.len())
            .ok()
            .filter(|&n| n < u32::MAX / 2)
        else {
            // Over 2 GiB: not a payload; literals only (still valid deflate).
            let mut bits = BitWriter::new(out);
            bits.put(0b011, 3);
            for &b in input {
                literal(&mut bits, b);
            }
            end_block(bits);
            return;
        };
        if self.base.checked_add(len).is_none_or(|end| end == u32::MAX) {
            self.head.fill(0);
            self.base = 1;
        }
        let base = self.base;
        self.base += len + 1;
        let dict = &dictionary.bytes;
        let mut bits = BitWriter::new(out);
        // BFINAL = 1, BTYPE = 01 (fixed Huffman codes).
        bits.put(0b011, 3);
        let mut at = 0;
        let last_hashed = input.len().saturating_sub(MIN_MATCH - 1);
        while at < input.len() {
            if at >= last_hashed {
                literal(&mut bits, input[at]);
                at += 1;
                continue;
            }
            let longest = (input.len() - at).min(MAX_MATCH);
            let (mut best_len, mut best_dist) = (0, 0);
            // The input's own newest occurrence.
            let slot = hash(&input[at..], INPUT_BITS);
            let stamp = self.head[slot];
            self.head[slot] = base + at as u32;
            if stamp >= base {
                let from = (stamp - base) as usize;
                let dist = at - from;
                if dist <= WINDOW {
                    let n = common(&input[from..], &input[at..], longest);
                    if n >= MIN_MATCH {
                        (best_len, best_dist) = (n, dist);
                    }
                }
            }
            // The dictionary's occurrences, newest (nearest) first.
            if best_len < longest {
                let mut next = dictionary.head[hash(&input[at..], DICTIONARY_BITS)];
                let mut probes = 0;
                while next != 0 && probes < DICTIONARY_PROBES {
                    let from = usize::from(next - 1);
                    let dist = dict.len() - from + at;
                    if dist > WINDOW {
                        break;
                    }
                    let n = common_across(&dict[from..], input, at, longest);
                    if n > best_len && n >= MIN_MATCH {
                        (best_len, best_dist) = (n, dist);
                        if n == longest {
                            break;
                        }
                    }
                    next = dictionary.chain[from];
                    probes += 1;
                }
            }
            if best_len == 0 {
                literal(&mut bits, input[at]);
                at += 1;
                continue;
            }
            matched(&mut bits, best_len, best_dist);
            // Index the positions the match covers, for later matches to find.
            for inside in at + 1..(at + best_len).min(last_hashed) {
                self.head[hash(&input[inside..], INPUT_BITS)] = base + inside as u32;
            }
            at += best_len;
        }
        end_block(bits);
    }
}

/// How many bytes `a` and `b` share from their starts, at most `limit`.
fn common(a: &[u8], b: &[u8], limit: usize) -> usize {
    let limit = limit.min(a.len()).min(b.len());
    let mut n = 0;
    while n + 8 <= limit {
        let x = u64::from_le_bytes(a[n..n + 8].try_into().unwrap_or([0; 8]));
        let y = u64::from_le_bytes(b[n..n + 8].try_into().unwrap_or([0; 8]));
        let diff = x ^ y;
        if diff != 0 {
            return n + (diff.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while n < limit && a[n] == b[n] {
        n += 1;
    }
    n
}

/// How many bytes from `input[at..]` equal those from a dictionary position on: the
/// dictionary's tail `dict_tail`, then the input from its start (the window continues into
/// the input), at most `limit`.
fn common_across(dict_tail: &[u8], input: &[u8], at: usize, limit: usize) -> usize {
    let n = common(dict_tail, &input[at..], limit);
    if n < dict_tail.len() || n == limit {
        return n;
    }
    n + common(input, &input[at + n..], limit - n)
}

/// Collects bits, least significant first, into whole bytes.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    len: u32,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> BitWriter<'a> {
        BitWriter {
            out,
            acc: 0,
            len: 0,
        }
    }

    /// Appends the low `n` bits of `value` (`n` at most 32).
    fn put(&mut self, value: u32, n: u32) {
        self.acc |= u64::from(value) << self.len;
        self.len += n;
        if self.len >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.len -= 32;
        }
    }

    /// Pads to a whole byte and writes what is left.
    fn finish(self) {
        let bytes = self.len.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
    }
}

/// A fixed Huffman code of the literal/length alphabet: (code bit-reversed for writing
/// least significant bit first, its length).
const fn fixed_code(symbol: u16) -> (u32, u32) {
    let (code, len) = match symbol {
        0..=143 => (0x30 + symbol as u32, 8),
        144..=255 => (0x190 + (symbol as u32 - 144), 9),
        256..=279 => (symbol as u32 - 256, 7),
        _ => (0xC0 + (symbol as u32 - 280), 8),
    };
    (reverse(code, len), len)
}

const fn reverse(code: u32, len: u32) -> u32 {
    code.reverse_bits() >> (32 - len)
}

static LITERAL_CODES: [(u32, u32); 288] = {
    let mut table = [(0, 0); 288];
    let mut s = 0;
    while s < 288 {
        table[s] = fixed_code(s as u16);
        s += 1;
    }
    table
};

/// Length codes 257..=285: the smallest length of each, and its extra bits.
const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u32; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Distance codes 0..=29: the smallest distance of each, and its extra bits.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u32; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

fn literal(bits: &mut BitWriter<'_>, byte: u8) {
    let (code, len) = LITERAL_CODES[usize::from(byte)];
    bits.put(code, len);
}

fn matched(bits: &mut BitWriter<'_>, len: usize, dist: usize) {
    // The last code whose base is at most the value (the tables are short and sorted).
    let l = LENGTH_BASE.partition_point(|&base| usize::from(base) <= len) - 1;
    let (code, n) = LITERAL_CODES[257 + l];
    bits.put(code, n);
    bits.put((len - usize::from(LENGTH_BASE[l])) as u32, LENGTH_EXTRA[l]);
    let d = DIST_BASE.partition_point(|&base| usize::from(base) <= dist) - 1;
    bits.put(reverse(d as u32, 5), 5);
    bits.put((dist - usize::from(DIST_BASE[d])) as u32, DIST_EXTRA[d]);
}

fn end_block(mut bits: BitWriter<'_>) {
    let (code, len) = LITERAL_CODES[256];
    bits.put(code, len);
    bits.finish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress, Status};
    use proptest::prelude::*;

    fn inflate(dictionary: &[u8], stored: &[u8], len: usize) -> Vec<u8> {
        let mut d = Decompress::new(false);
        if !dictionary.is_empty() {
            d.set_dictionary(dictionary).unwrap();
        }
        let mut out = Vec::with_capacity(len + 16);
        let status = d
            .decompress_vec(stored, &mut out, FlushDecompress::Finish)
            .unwrap();
        assert_eq!(status, Status::StreamEnd);
        assert_eq!(d.total_in() as usize, stored.len(), "trailing bytes");
        out
    }

    fn round_trip(deflater: &mut PrimedDeflater, dictionary: &PrimedDictionary, input: &[u8]) {
        let mut out = vec![0xAA];
        deflater.deflate(dictionary, input, &mut out);
        assert_eq!(out[0], 0xAA, "appends");
        assert_eq!(inflate(dictionary.bytes(), &out[1..], input.len()), input);
    }

    proptest! {
        /// Whatever the dictionary and inputs (alphabets small enough to match often, long
        /// enough to reach past the window), zlib's inflate gives the input back, through a
        /// deflater reused from input to input.
        #[test]
        fn zlib_reads_back_every_input(
            dictionary in proptest::collection::vec(0u8..4, 0..40_000),
            inputs in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![0u8..4, any::<u8>()], 0..2_000), 1..6),
        ) {
            let primed = PrimedDictionary::new(&dictionary);
            let mut deflater = PrimedDeflater::default();
            for input in &inputs {
                round_trip(&mut deflater, &primed, input);
            }
        }
    }

    #[test]
    fn long_inputs_and_stamps_that_wrap_round_trip() {
        let dictionary: Vec<u8> = (0..WINDOW + 100).map(|i| (i % 251) as u8).collect();
        let primed = PrimedDictionary::new(&dictionary);
        let mut deflater = PrimedDeflater::default();
        // Matches farther than the window, runs longer than the longest match.
        let long: Vec<u8> = (0..100_000).map(|i| ((i / 7) % 13) as u8).collect();
        round_trip(&mut deflater, &primed, &long);
        round_trip(&mut deflater, &primed, &[7; 1000]);
        deflater.base = u32::MAX - 10;
        round_trip(&mut deflater, &primed, &long[..500]);
        assert!(
            deflater.base < 1000,
            "the index was cleared when its stamps ran out"
        );
        round_trip(&mut deflater, &primed, &long[..500]);
    }

    #[test]
    fn what_the_dictionary_holds_costs_a_few_bytes() {
        let dictionary =
            b"<user><primary_id>ABC</primary_id><user_group>STAFF</user_group>".repeat(20);
        let primed = PrimedDictionary::new(&dictionary);
        let mut out = Vec::new();
        PrimedDeflater::default().deflate(&primed, &dictionary[..200], &mut out);
        assert!(out.len() < 10, "{} bytes", out.len());
        assert_eq!(inflate(&dictionary, &out, 200), &dictionary[..200]);
    }
}
