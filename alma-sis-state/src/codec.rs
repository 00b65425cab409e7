//! Stored payloads, compressed: raw deflate with a preset dictionary kept in the state file.
//!
//! A payload is a `<user>` element of about 2 kB that shares most of its bytes (tags,
//! attributes, indentation, the institution's common values) with every other user: deflate
//! on its own gets it to about 750 bytes, with a dictionary of users like it to under 200.
//! The dictionary is built once from the first users a state file stores
//! ([`build_dictionary`]) and kept in the `dictionaries` table under an id that every
//! payload names, so a dictionary is never changed once used and later versions may add
//! others. It holds only what several of the sampled people share: a line of the sample
//! that fewer than [`SHARED_BY`] of them have keeps its tags but not its value, so no one
//! person's name, id, address or birth date is kept in it (and `state forget` removes a
//! person entirely).
//!
//! Layout of a stored payload (a BLOB): one byte [`RAW`] and the bytes as they are; or one
//! byte [`DEFLATE`], the dictionary id and the length of the payload (LEB128 varints), and
//! the raw deflate stream. Payloads that earlier versions stored as TEXT (the rendered user,
//! or JSON) are read as they are.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Tag: stored as it is.
pub(super) const RAW: u8 = 0;
/// Tag: raw deflate with a dictionary.
pub(super) const DEFLATE: u8 = 1;

/// How many users a dictionary is built from: the first this many stored.
pub(super) const SAMPLE: usize = 256;
/// How many whole users make up the dictionary's body.
const BODY_USERS: usize = 4;
/// A line of the sample keeps its value in the dictionary only when at least this many of
/// the sampled people have it.
pub(super) const SHARED_BY: u32 = 5;
/// Deflate's window: a dictionary longer than this is cut from its start.
const WINDOW: usize = 32 * 1024;
/// The compression level: the default; payloads are written once and read rarely.
const LEVEL: u32 = 6;

/// Builds a dictionary from sampled payloads: the [`BODY_USERS`] longest of them, each
/// line whose value fewer than [`SHARED_BY`] of the samples share reduced to its tags.
pub(super) fn build_dictionary(samples: &[Vec<u8>]) -> Vec<u8> {
    let mut shared: HashMap<&[u8], u32> = HashMap::new();
    for sample in samples {
        let lines: HashSet<&[u8]> = sample.split(|&b| b == b'\n').collect();
        for line in lines {
            *shared.entry(line).or_default() += 1;
        }
    }
    let mut longest: Vec<&Vec<u8>> = samples.iter().collect();
    // Longest first (most optional elements); ties in sample order (a stable sort).
    longest.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut dictionary = Vec::new();
    for sample in longest.into_iter().take(BODY_USERS) {
        for line in sample.split(|&b| b == b'\n') {
            if shared.get(line).copied().unwrap_or(0) >= SHARED_BY {
                dictionary.extend_from_slice(line);
            } else {
                dictionary.extend_from_slice(&tags_only(line));
            }
            dictionary.push(b'\n');
        }
    }
    let cut = dictionary.len().saturating_sub(WINDOW);
    dictionary.drain(..cut);
    dictionary
}

/// `line` without the text between a `>` and the next `<`: its tags and attributes.
fn tags_only(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut in_text = false;
    for &b in line {
        match b {
            b'<' => {
                in_text = false;
                out.push(b);
            }
            b'>' => {
                in_text = true;
                out.push(b);
            }
            _ if in_text => {}
            _ => out.push(b),
        }
    }
    out
}

/// Compresses and expands payloads with the state file's dictionaries.
pub(super) struct Codec {
    compress: Compress,
    decompress: Decompress,
    /// The dictionaries read so far, by id.
    dictionaries: HashMap<i64, Vec<u8>>,
    /// The dictionary new payloads are compressed with.
    current: Option<i64>,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

/// Why a stored payload does not expand.
#[derive(Debug)]
pub(super) enum Unreadable {
    /// It names a dictionary the file does not hold.
    NoDictionary(i64),
    /// Its bytes are not what the layout says.
    Damaged,
}

impl Codec {
    pub(super) fn new() -> Codec {
        Codec {
            compress: Compress::new(Compression::new(LEVEL), false),
            decompress: Decompress::new(false),
            dictionaries: HashMap::new(),
            current: None,
        }
    }

    /// The dictionary new payloads are compressed with, if one is set.
    pub(super) fn current(&self) -> Option<i64> {
        self.current
    }

    /// Knows dictionary `id`; `current` makes it the one new payloads use.
    pub(super) fn add(&mut self, id: i64, bytes: Vec<u8>, current: bool) {
        self.dictionaries.insert(id, bytes);
        if current {
            self.current = Some(id);
        }
    }

    /// Forgets every dictionary read or made (a run that made one rolled back).
    pub(super) fn forget(&mut self) {
        self.dictionaries.clear();
        self.current = None;
    }

    /// Whether dictionary `id` is known.
    pub(super) fn knows(&self, id: i64) -> bool {
        self.dictionaries.contains_key(&id)
    }

    /// `payload` as stored: compressed with the current dictionary, or as it is without one.
    pub(super) fn encode(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        out.clear();
        let Some((id, dictionary)) = self
            .current
            .and_then(|id| self.dictionaries.get(&id).map(|d| (id, d)))
        else {
            out.push(RAW);
            out.extend_from_slice(payload);
            return;
        };
        out.push(DEFLATE);
        put_varint(out, u64::try_from(id).unwrap_or(0));
        put_varint(out, payload.len() as u64);
        self.compress.reset();
        let head = out.len();
        let deflated = self.compress.set_dictionary(dictionary).is_ok() && {
            out.reserve(payload.len() / 2 + 64);
            loop {
                let before = usize::try_from(self.compress.total_in()).unwrap_or(usize::MAX);
                match self.compress.compress_vec(
                    &payload[before.min(payload.len())..],
                    out,
                    FlushCompress::Finish,
                ) {
                    Ok(Status::StreamEnd) => break true,
                    Ok(_) => out.reserve(out.capacity().max(64)),
                    Err(_) => break false,
                }
            }
        };
        if !deflated {
            // Cannot happen with a valid dictionary; stored as it is rather than lost.
            out.truncate(head);
            out.clear();
            out.push(RAW);
            out.extend_from_slice(payload);
        }
    }

    /// The payload a stored BLOB holds.
    pub(super) fn decode(&mut self, stored: &[u8]) -> Result<Vec<u8>, Unreadable> {
        match stored.split_first() {
            Some((&RAW, rest)) => Ok(rest.to_vec()),
            Some((&DEFLATE, rest)) => {
                let (id, rest) = get_varint(rest).ok_or(Unreadable::Damaged)?;
                let (len, rest) = get_varint(rest).ok_or(Unreadable::Damaged)?;
                let id = i64::try_from(id).map_err(|_| Unreadable::Damaged)?;
                let dictionary = self
                    .dictionaries
                    .get(&id)
                    .ok_or(Unreadable::NoDictionary(id))?;
                // A length no payload has is damage, not a reason to allocate.
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&n| n <= 1 << 30)
                    .ok_or(Unreadable::Damaged)?;
                let mut out = Vec::with_capacity(len);
                self.decompress.reset(false);
                self.decompress
                    .set_dictionary(dictionary)
                    .map_err(|_| Unreadable::Damaged)?;
                match self
                    .decompress
                    .decompress_vec(rest, &mut out, FlushDecompress::Finish)
                {
                    Ok(Status::StreamEnd) if out.len() == len => Ok(out),
                    _ => Err(Unreadable::Damaged),
                }
            }
            _ => Err(Unreadable::Damaged),
        }
    }
}

/// Which dictionary a stored BLOB needs, if any.
pub(super) fn dictionary_of(stored: &[u8]) -> Option<i64> {
    match stored.split_first() {
        Some((&DEFLATE, rest)) => get_varint(rest).and_then(|(id, _)| i64::try_from(id).ok()),
        _ => None,
    }
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn get_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut n = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        n |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((n, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(i: usize, city: &str) -> Vec<u8> {
        format!(
            "  <user>\n    <primary_id>{i:09}</primary_id>\n    <last_name>Name{i}</last_name>\n    \
             <user_group desc=\"Undergraduate\">UG</user_group>\n    <city>{city}</city>\n  </user>\n"
        )
        .into_bytes()
    }

    #[test]
    fn payloads_round_trip_and_shrink_with_a_dictionary() {
        let samples: Vec<Vec<u8>> = (0..40).map(|i| user(i, "Springfield")).collect();
        let dictionary = build_dictionary(&samples);
        let text = String::from_utf8(dictionary.clone()).unwrap();
        assert!(text.contains("<city>Springfield</city>"), "{text}");
        assert!(text.contains("<last_name></last_name>"), "{text}");
        assert!(!text.contains("Name"), "nobody's own value: {text}");
        let mut codec = Codec::new();
        let mut stored = Vec::new();
        let payload = user(77, "Springfield");
        codec.encode(&payload, &mut stored);
        assert_eq!(stored[0], RAW);
        assert_eq!(codec.decode(&stored).unwrap(), payload);
        codec.add(3, dictionary, true);
        codec.encode(&payload, &mut stored);
        assert_eq!((stored[0], dictionary_of(&stored)), (DEFLATE, Some(3)));
        assert!(stored.len() * 3 < payload.len(), "{} bytes", stored.len());
        assert_eq!(codec.decode(&stored).unwrap(), payload);
        let mut other = Codec::new();
        assert!(matches!(
            other.decode(&stored),
            Err(Unreadable::NoDictionary(3))
        ));
        stored.truncate(stored.len() - 2);
        assert!(matches!(codec.decode(&stored), Err(Unreadable::Damaged)));
    }

    #[test]
    fn varints_round_trip() {
        for n in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, n);
            assert_eq!(get_varint(&out), Some((n, &[][..])));
        }
        assert_eq!(get_varint(&[0x80]), None);
    }
}

/// The dictionary a planner compresses with, once it has one: shared with the threads that
/// pack payloads ahead of it ([`PayloadPacker`]).
pub(super) type SharedDictionary = Arc<OnceLock<(i64, Arc<[u8]>)>>;

/// Compresses payloads as the state file stores them, on another thread than the planner's
/// (compressing is most of what storing a new person costs): made by
/// [`Planner::payload_packer`](crate::Planner::payload_packer); packs nothing until the
/// planner has its dictionary.
pub struct PayloadPacker {
    dictionary: SharedDictionary,
    codec: Option<Codec>,
}

impl std::fmt::Debug for PayloadPacker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadPacker")
            .field("ready", &self.codec.is_some())
            .finish_non_exhaustive()
    }
}

impl Clone for PayloadPacker {
    fn clone(&self) -> PayloadPacker {
        PayloadPacker::new(Arc::clone(&self.dictionary))
    }
}

/// A payload packed by a [`PayloadPacker`]: for the planner to store as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedPayload {
    pub(super) dictionary: i64,
    pub(super) bytes: Vec<u8>,
}

impl PayloadPacker {
    pub(super) fn new(dictionary: SharedDictionary) -> PayloadPacker {
        PayloadPacker {
            dictionary,
            codec: None,
        }
    }

    /// `rendered` (a `<user>` element as sent) as the state file stores it; `None` while the
    /// planner has no dictionary yet (it then compresses the payload itself).
    pub fn pack(&mut self, rendered: &[u8]) -> Option<PackedPayload> {
        if self.codec.is_none() {
            let (id, bytes) = self.dictionary.get()?;
            let mut codec = Codec::new();
            codec.add(*id, bytes.to_vec(), true);
            self.codec = Some(codec);
        }
        let codec = self.codec.as_mut()?;
        let mut bytes = Vec::new();
        codec.encode(rendered, &mut bytes);
        Some(PackedPayload {
            dictionary: codec.current()?,
            bytes,
        })
    }
}
