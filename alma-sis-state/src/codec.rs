//! Stored payloads, compressed: a line template and raw deflate with a preset dictionary,
//! both kept in the state file.
//!
//! A payload is a `<user>` element of about 2 kB that shares most of its bytes (tags,
//! attributes, indentation, the institution's common values) with every other user. The
//! dictionary is built once from the first users a state file stores ([`build_dictionary`])
//! and kept in the `dictionaries` table under an id that every payload names, so a
//! dictionary is never changed once used and later versions may add others. It holds only
//! what several of the sampled people share: a line of the sample that fewer than
//! [`SHARED_BY`] of them have keeps its tags but not its value, so no one person's name, id,
//! address or birth date is kept in it (and `state forget` removes a person entirely).
//!
//! A dictionary is one of two kinds, told apart by its first byte (XML never holds a NUL):
//!
//! - **templated** (written since this layout; first byte NUL, then `T`): the lines the
//!   sample shares whole, the tags-only forms of every line of the sample ("templates"), and
//!   a small deflate dictionary of the sample's line codes. A payload is stored as its lines'
//!   codes (a shared line is one number; a line whose tags match a template is the
//!   template's number and the text between its tags; any other line as it is), raw
//!   deflate against that small dictionary (fixed Huffman codes, as zlib's level 1 writes,
//!   by [`PrimedDeflater`], which indexes the dictionary once instead of once a payload):
//!   about 2.5 kB become 130-160 bytes in about 4 us (2 of them the codes), where deflating
//!   the whole `<user>` at level 6 against the sample took 15-20 us for 180-200 bytes;
//! - **plain** (written by the first compact layout): the sample's four longest users, for
//!   raw deflate of the whole payload. Still read, and still used for new payloads of a file
//!   whose newest dictionary is plain.
//!
//! Layout of a stored payload (a BLOB): one byte [`RAW`] and the bytes as they are; one byte
//! [`DEFLATE`], the dictionary id and the length of the payload (LEB128 varints), and the raw
//! deflate stream; or one byte [`TEMPLATED`], the dictionary id, the payload's length and the
//! codes' length (varints), and the codes' raw deflate stream. Payloads that earlier versions
//! stored as TEXT (the rendered user, or JSON) are read as they are.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::primed::{PrimedDeflater, PrimedDictionary, WINDOW};

/// Tag: stored as it is.
pub(super) const RAW: u8 = 0;
/// Tag: raw deflate with a plain dictionary.
pub(super) const DEFLATE: u8 = 1;
/// Tag: the lines' codes under a templated dictionary, deflated.
pub(super) const TEMPLATED: u8 = 2;
/// The first bytes of a templated dictionary.
const TEMPLATED_MAGIC: &[u8] = b"\0T";

/// How many users a dictionary is built from: the first this many stored.
pub(super) const SAMPLE: usize = 256;
/// How many whole users make up a plain dictionary's body.
#[cfg(test)]
const BODY_USERS: usize = 4;
/// A line of the sample keeps its value in the dictionary only when at least this many of
/// the sampled people have it.
pub(super) const SHARED_BY: u32 = 5;
/// The compression level of plain dictionaries: the default.
const LEVEL: u32 = 6;
/// How many of the sample's longest users make up a templated dictionary's codes.
const CODE_USERS: usize = 8;

/// Line code: the end of the payload.
const END: u64 = 0;
/// Line code: a line as it is (its length and bytes follow).
const LITERAL: u64 = 1;
/// Line codes from here: `2 + 2 i` is shared line `i`, `3 + 2 i` is template `i` (the text
/// after each of its `>` follows, each ended by a `<`).
const FIRST_INDEXED: u64 = 2;

/// Builds a templated dictionary from sampled payloads: the lines that at least
/// [`SHARED_BY`] of them share whole, the tags-only form of every line (its template), and
/// the codes of the [`CODE_USERS`] longest with their text left out.
pub(super) fn build_dictionary(samples: &[Vec<u8>]) -> Vec<u8> {
    let shared = shared_lines(samples);
    let mut templates = Templates::default();
    let mut scratch = Vec::new();
    for sample in samples {
        for line in sample.split(|&b| b == b'\n') {
            if shared.get(line).copied().unwrap_or(0) >= SHARED_BY {
                templates.add_full(line);
            }
            tags_only_into(line, &mut scratch);
            templates.add_template(&scratch);
        }
    }
    let mut longest: Vec<&Vec<u8>> = samples.iter().collect();
    // Longest first (most optional elements); ties in sample order (a stable sort).
    longest.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut codes = Vec::new();
    for sample in longest.into_iter().take(CODE_USERS) {
        templates.codes(sample, &mut codes, false, &mut Scratch::default());
    }
    let cut = codes.len().saturating_sub(WINDOW);
    codes.drain(..cut);
    templates.codes_dictionary = codes;
    templates.to_bytes()
}

/// How many samples have each line.
fn shared_lines(samples: &[Vec<u8>]) -> HashMap<&[u8], u32> {
    let mut shared: HashMap<&[u8], u32> = HashMap::new();
    for sample in samples {
        let lines: HashSet<&[u8]> = sample.split(|&b| b == b'\n').collect();
        for line in lines {
            *shared.entry(line).or_default() += 1;
        }
    }
    shared
}

/// Builds a plain dictionary (the first compact layout's): the [`BODY_USERS`] longest
/// samples, each line whose value fewer than [`SHARED_BY`] of the samples share reduced to
/// its tags. Kept for tests of files that layout wrote.
#[cfg(test)]
pub(super) fn build_plain_dictionary(samples: &[Vec<u8>]) -> Vec<u8> {
    let shared = shared_lines(samples);
    let mut longest: Vec<&Vec<u8>> = samples.iter().collect();
    longest.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut dictionary = Vec::new();
    let mut scratch = Vec::new();
    for sample in longest.into_iter().take(BODY_USERS) {
        for line in sample.split(|&b| b == b'\n') {
            if shared.get(line).copied().unwrap_or(0) >= SHARED_BY {
                dictionary.extend_from_slice(line);
            } else {
                tags_only_into(line, &mut scratch);
                dictionary.extend_from_slice(&scratch);
            }
            dictionary.push(b'\n');
        }
    }
    let cut = dictionary.len().saturating_sub(WINDOW);
    dictionary.drain(..cut);
    dictionary
}

/// A templated dictionary, read.
#[derive(Default)]
struct Templates {
    /// Lines shared whole, by number, and their numbers.
    full: Vec<Vec<u8>>,
    full_index: foldhash::HashMap<Vec<u8>, u64>,
    /// Tags-only forms of lines, by number, and their numbers.
    templates: Vec<Vec<u8>>,
    template_index: foldhash::HashMap<Vec<u8>, u64>,
    /// The preset dictionary the codes are deflated with, and its match index.
    codes_dictionary: Vec<u8>,
    primed: Option<PrimedDictionary>,
}

impl Templates {
    fn add_full(&mut self, line: &[u8]) {
        if !self.full_index.contains_key(line) {
            self.full_index
                .insert(line.to_vec(), self.full.len() as u64);
            self.full.push(line.to_vec());
        }
    }

    fn add_template(&mut self, template: &[u8]) {
        if !self.template_index.contains_key(template) {
            self.template_index
                .insert(template.to_vec(), self.templates.len() as u64);
            self.templates.push(template.to_vec());
        }
    }

    /// `payload`'s line codes, appended to `out` (`text`: with the text between tags).
    fn codes(&self, payload: &[u8], out: &mut Vec<u8>, text: bool, scratch: &mut Scratch) {
        // The lines `payload.split(|&b| b == b'\n')` gives, found with a vector search (a
        // byte-by-byte split was half of this function's time).
        let mut start = 0;
        let ends = memchr::memchr_iter(b'\n', payload).chain(std::iter::once(payload.len()));
        for end in ends {
            let line = &payload[start..end];
            start = end + 1;
            if let Some(&i) = self.full_index.get(line) {
                put_varint(out, FIRST_INDEXED + 2 * i);
                continue;
            }
            split_line(line, scratch);
            let (tags, holes) = (&scratch.tags, &scratch.holes);
            if let Some(&i) = self.template_index.get(tags.as_slice()) {
                put_varint(out, FIRST_INDEXED + 1 + 2 * i);
                if text {
                    out.extend_from_slice(holes);
                } else {
                    // Text never holds `<`: the `<`s are the ends of the holes.
                    let ends = holes.iter().filter(|&&b| b == b'<').count();
                    out.resize(out.len() + ends, b'<');
                }
            } else {
                put_varint(out, LITERAL);
                put_varint(out, line.len() as u64);
                out.extend_from_slice(line);
            }
        }
        put_varint(out, END);
    }

    /// The payload `codes` stand for, or `None` if they are damaged.
    fn expand(&self, mut codes: &[u8], out: &mut Vec<u8>) -> Option<()> {
        let mut first = true;
        loop {
            let (code, rest) = get_varint(codes)?;
            codes = rest;
            if code == END {
                return Some(());
            }
            if !first {
                out.push(b'\n');
            }
            first = false;
            if code == LITERAL {
                let (len, rest) = get_varint(codes)?;
                let len = usize::try_from(len).ok().filter(|&n| n <= rest.len())?;
                out.extend_from_slice(&rest[..len]);
                codes = &rest[len..];
                continue;
            }
            let index = usize::try_from((code - FIRST_INDEXED) / 2).ok()?;
            if (code - FIRST_INDEXED).is_multiple_of(2) {
                out.extend_from_slice(self.full.get(index)?);
                continue;
            }
            for &b in self.templates.get(index)? {
                out.push(b);
                if b == b'>' {
                    let end = codes.iter().position(|&c| c == b'<')?;
                    out.extend_from_slice(&codes[..end]);
                    codes = &codes[end + 1..];
                }
            }
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = TEMPLATED_MAGIC.to_vec();
        for list in [&self.full, &self.templates] {
            put_varint(&mut out, list.len() as u64);
            for line in list {
                put_varint(&mut out, line.len() as u64);
                out.extend_from_slice(line);
            }
        }
        out.extend_from_slice(&self.codes_dictionary);
        out
    }

    /// A templated dictionary's bytes, read; `None` for a plain one (or a damaged one).
    fn from_bytes(bytes: &[u8]) -> Option<Templates> {
        let mut rest = bytes.strip_prefix(TEMPLATED_MAGIC)?;
        let mut templates = Templates::default();
        for full in [true, false] {
            let (count, after) = get_varint(rest)?;
            rest = after;
            for _ in 0..count {
                let (len, after) = get_varint(rest)?;
                let len = usize::try_from(len).ok().filter(|&n| n <= after.len())?;
                if full {
                    templates.add_full(&after[..len]);
                } else {
                    templates.add_template(&after[..len]);
                }
                rest = &after[len..];
            }
        }
        templates.codes_dictionary = rest.to_vec();
        templates.primed = Some(PrimedDictionary::new(rest));
        Some(templates)
    }
}

/// Buffers [`Templates::codes`] reuses.
#[derive(Default)]
struct Scratch {
    tags: Vec<u8>,
    holes: Vec<u8>,
}

/// Splits `line` into its tags (everything but the text after each `>`) and its holes (the
/// text after each `>`, up to the next `<` or `>`, each ended by a `<`), into `scratch`.
fn split_line(line: &[u8], scratch: &mut Scratch) {
    let (tags, holes) = (&mut scratch.tags, &mut scratch.holes);
    tags.clear();
    holes.clear();
    let mut in_text = false;
    let mut rest = line;
    // By runs between `<` and `>`, not byte by byte: most of a line is one or two runs.
    loop {
        let Some(at) = rest.iter().position(|&b| b == b'<' || b == b'>') else {
            if in_text {
                holes.extend_from_slice(rest);
                holes.push(b'<');
            } else {
                tags.extend_from_slice(rest);
            }
            return;
        };
        let (run, after) = rest.split_at(at);
        if in_text {
            holes.extend_from_slice(run);
            holes.push(b'<');
        } else {
            tags.extend_from_slice(run);
        }
        tags.push(after[0]);
        in_text = after[0] == b'>';
        rest = &after[1..];
    }
}

/// A dictionary of either kind.
enum Dictionary {
    Plain(Vec<u8>),
    Templated(Box<Templates>),
}

/// `line` without the text between a `>` and the next `<`: its tags and attributes, into
/// `out` (cleared first).
fn tags_only_into(line: &[u8], out: &mut Vec<u8>) {
    out.clear();
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
}

/// Compresses and expands payloads with the state file's dictionaries.
pub(super) struct Codec {
    compress: Compress,
    /// For the codes of templated payloads.
    compress_codes: PrimedDeflater,
    decompress: Decompress,
    /// The dictionaries read so far, by id.
    dictionaries: HashMap<i64, Dictionary>,
    /// The codes of a payload being stored, and a line's tags and text (reused).
    codes: Vec<u8>,
    scratch: Scratch,
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
            compress_codes: PrimedDeflater::default(),
            decompress: Decompress::new(false),
            dictionaries: HashMap::new(),
            codes: Vec::new(),
            scratch: Scratch::default(),
            current: None,
        }
    }

    /// The dictionary new payloads are compressed with, if one is set.
    pub(super) fn current(&self) -> Option<i64> {
        self.current
    }

    /// Knows dictionary `id`; `current` makes it the one new payloads use.
    pub(super) fn add(&mut self, id: i64, bytes: Vec<u8>, current: bool) {
        let dictionary = match Templates::from_bytes(&bytes) {
            Some(templates) => Dictionary::Templated(Box::new(templates)),
            None => Dictionary::Plain(bytes),
        };
        self.dictionaries.insert(id, dictionary);
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
        let deflated = match dictionary {
            Dictionary::Plain(dictionary) => {
                out.push(DEFLATE);
                put_varint(out, u64::try_from(id).unwrap_or(0));
                put_varint(out, payload.len() as u64);
                deflate(&mut self.compress, dictionary, payload, out)
            }
            Dictionary::Templated(templates) => {
                self.codes.clear();
                templates.codes(payload, &mut self.codes, true, &mut self.scratch);
                out.push(TEMPLATED);
                put_varint(out, u64::try_from(id).unwrap_or(0));
                put_varint(out, payload.len() as u64);
                put_varint(out, self.codes.len() as u64);
                match &templates.primed {
                    Some(primed) => {
                        self.compress_codes.deflate(primed, &self.codes, out);
                        true
                    }
                    None => false,
                }
            }
        };
        if !deflated {
            // Cannot happen with a valid dictionary; stored as it is rather than lost.
            out.clear();
            out.push(RAW);
            out.extend_from_slice(payload);
        }
    }

    /// The payload a stored BLOB holds.
    pub(super) fn decode(&mut self, stored: &[u8]) -> Result<Vec<u8>, Unreadable> {
        let (tag, rest) = stored.split_first().ok_or(Unreadable::Damaged)?;
        if *tag == RAW {
            return Ok(rest.to_vec());
        }
        if *tag != DEFLATE && *tag != TEMPLATED {
            return Err(Unreadable::Damaged);
        }
        let (id, rest) = get_varint(rest).ok_or(Unreadable::Damaged)?;
        let (len, rest) = get_varint(rest).ok_or(Unreadable::Damaged)?;
        let id = i64::try_from(id).map_err(|_| Unreadable::Damaged)?;
        let dictionary = self
            .dictionaries
            .get(&id)
            .ok_or(Unreadable::NoDictionary(id))?;
        let len = sane_length(len)?;
        match (tag, dictionary) {
            (&DEFLATE, Dictionary::Plain(dictionary)) => {
                inflate(&mut self.decompress, dictionary, rest, len)
            }
            (&TEMPLATED, Dictionary::Templated(templates)) => {
                let (codes_len, rest) = get_varint(rest).ok_or(Unreadable::Damaged)?;
                let codes = inflate(
                    &mut self.decompress,
                    &templates.codes_dictionary,
                    rest,
                    sane_length(codes_len)?,
                )?;
                let mut out = Vec::with_capacity(len);
                templates
                    .expand(&codes, &mut out)
                    .filter(|()| out.len() == len)
                    .ok_or(Unreadable::Damaged)?;
                Ok(out)
            }
            _ => Err(Unreadable::Damaged),
        }
    }
}

/// A stored length as a `usize`: a length no payload has is damage, not a reason to
/// allocate.
fn sane_length(len: u64) -> Result<usize, Unreadable> {
    usize::try_from(len)
        .ok()
        .filter(|&n| n <= 1 << 30)
        .ok_or(Unreadable::Damaged)
}

/// Appends `input` deflated with `dictionary` to `out`; false if deflate refused.
fn deflate(compress: &mut Compress, dictionary: &[u8], input: &[u8], out: &mut Vec<u8>) -> bool {
    compress.reset();
    compress.set_dictionary(dictionary).is_ok() && {
        out.reserve(input.len() / 2 + 64);
        loop {
            let before = usize::try_from(compress.total_in()).unwrap_or(usize::MAX);
            match compress.compress_vec(
                &input[before.min(input.len())..],
                out,
                FlushCompress::Finish,
            ) {
                Ok(Status::StreamEnd) => break true,
                Ok(_) => out.reserve(out.capacity().max(64)),
                Err(_) => break false,
            }
        }
    }
}

/// `stored` inflated with `dictionary`: exactly `len` bytes.
fn inflate(
    decompress: &mut Decompress,
    dictionary: &[u8],
    stored: &[u8],
    len: usize,
) -> Result<Vec<u8>, Unreadable> {
    let mut out = Vec::with_capacity(len);
    decompress.reset(false);
    decompress
        .set_dictionary(dictionary)
        .map_err(|_| Unreadable::Damaged)?;
    match decompress.decompress_vec(stored, &mut out, FlushDecompress::Finish) {
        Ok(Status::StreamEnd) if out.len() == len => Ok(out),
        _ => Err(Unreadable::Damaged),
    }
}

/// Which dictionary a stored BLOB needs, if any.
pub(super) fn dictionary_of(stored: &[u8]) -> Option<i64> {
    match stored.split_first() {
        Some((&DEFLATE | &TEMPLATED, rest)) => {
            get_varint(rest).and_then(|(id, _)| i64::try_from(id).ok())
        }
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

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_payload_round_trips(lines in proptest::collection::vec("[ <>a-z/=\"\n\u{e9}]{0,40}", 0..12)) {
            let samples: Vec<Vec<u8>> = (0..40).map(|i| user(i, "Springfield")).collect();
            let mut codec = Codec::new();
            codec.add(5, build_dictionary(&samples), true);
            let payload = lines.join("\n").into_bytes();
            let mut stored = Vec::new();
            codec.encode(&payload, &mut stored);
            prop_assert_eq!(codec.decode(&stored).unwrap(), payload);
        }
    }

    /// The line codes as the first templated layout made them, byte by byte: a whole shared
    /// line first, else a template and the text between its tags, else the line.
    pub(super) fn codes_by_lines(t: &Templates, payload: &[u8], text: bool) -> Vec<u8> {
        let index = |list: &[Vec<u8>]| -> HashMap<Vec<u8>, u64> {
            let mut index = HashMap::new();
            for (i, line) in list.iter().enumerate() {
                index.entry(line.clone()).or_insert(i as u64);
            }
            index
        };
        let (full, templates) = (index(&t.full), index(&t.templates));
        let mut out = Vec::new();
        for line in payload.split(|&b| b == b'\n') {
            if let Some(&i) = full.get(line) {
                put_varint(&mut out, FIRST_INDEXED + 2 * i);
                continue;
            }
            let (mut tags, mut holes, mut in_text) = (Vec::new(), Vec::new(), false);
            for &b in line {
                match b {
                    b'<' | b'>' => {
                        if in_text {
                            holes.push(b'<');
                        }
                        in_text = b == b'>';
                        tags.push(b);
                    }
                    _ if in_text => {
                        if text {
                            holes.push(b);
                        }
                    }
                    _ => tags.push(b),
                }
            }
            if in_text {
                holes.push(b'<');
            }
            if let Some(&i) = templates.get(&tags) {
                put_varint(&mut out, FIRST_INDEXED + 1 + 2 * i);
                out.extend_from_slice(&holes);
            } else {
                put_varint(&mut out, LITERAL);
                put_varint(&mut out, line.len() as u64);
                out.extend_from_slice(line);
            }
        }
        put_varint(&mut out, END);
        out
    }

    proptest! {
        /// Lines split by runs are coded as the byte-by-byte split coded them: on
        /// dictionaries built from samples, and on dictionaries read from bytes whose shared
        /// lines have forms that are no template.
        #[test]
        fn lines_are_coded_as_when_split_byte_by_byte(
            samples in proptest::collection::vec("[ <>ab/=\"\n]{0,30}", 1..12),
            extra_full in proptest::collection::vec("[ <>ab/]{0,12}", 0..4),
            payload in "[ <>abc/=\"\n]{0,80}",
        ) {
            let samples: Vec<Vec<u8>> = samples.into_iter().map(String::into_bytes).collect();
            let repeated: Vec<Vec<u8>> = (0..SHARED_BY).flat_map(|_| samples.iter().cloned()).collect();
            let built = build_dictionary(&repeated);
            // Shared lines of any form, templates of the samples' first lines only.
            let mut crafted = TEMPLATED_MAGIC.to_vec();
            put_varint(&mut crafted, extra_full.len() as u64);
            for line in &extra_full {
                put_varint(&mut crafted, line.len() as u64);
                crafted.extend_from_slice(line.as_bytes());
            }
            let mut forms = Vec::new();
            for sample in &samples {
                let mut form = Vec::new();
                tags_only_into(sample.split(|&b| b == b'\n').next().unwrap_or_default(), &mut form);
                forms.push(form);
            }
            put_varint(&mut crafted, forms.len() as u64);
            for form in &forms {
                put_varint(&mut crafted, form.len() as u64);
                crafted.extend_from_slice(form);
            }
            // The payload holds the shared lines too, so that whole lines are found.
            let payload = [payload.into_bytes()]
                .into_iter()
                .chain(samples.iter().cloned())
                .chain(extra_full.iter().map(|line| line.clone().into_bytes()))
                .collect::<Vec<_>>()
                .join(&b'\n');
            let payload = String::from_utf8(payload).unwrap_or_default();
            for dictionary in [built, crafted] {
                let t = Templates::from_bytes(&dictionary).unwrap();
                for text in [true, false] {
                    let mut out = Vec::new();
                    t.codes(payload.as_bytes(), &mut out, text, &mut Scratch::default());
                    prop_assert_eq!(&out, &codes_by_lines(&t, payload.as_bytes(), text));
                }
            }
        }
    }

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
        let text = String::from_utf8_lossy(&dictionary).into_owned();
        assert!(dictionary.starts_with(TEMPLATED_MAGIC));
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
        assert_eq!((stored[0], dictionary_of(&stored)), (TEMPLATED, Some(3)));
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
    fn payloads_of_a_plain_dictionary_still_round_trip() {
        let samples: Vec<Vec<u8>> = (0..40).map(|i| user(i, "Springfield")).collect();
        let dictionary = build_plain_dictionary(&samples);
        let text = String::from_utf8(dictionary.clone()).unwrap();
        assert!(text.contains("<city>Springfield</city>"), "{text}");
        assert!(!text.contains("Name"), "nobody's own value: {text}");
        let mut codec = Codec::new();
        codec.add(1, dictionary, true);
        codec.add(2, build_dictionary(&samples), false);
        let payload = user(77, "Springfield");
        let mut stored = Vec::new();
        codec.encode(&payload, &mut stored);
        assert_eq!((stored[0], dictionary_of(&stored)), (DEFLATE, Some(1)));
        assert!(stored.len() * 3 < payload.len(), "{} bytes", stored.len());
        assert_eq!(codec.decode(&stored).unwrap(), payload);
        // A templated payload in the same file reads too.
        codec.current = Some(2);
        let mut templated = Vec::new();
        codec.encode(&payload, &mut templated);
        assert_eq!(templated[0], TEMPLATED);
        assert_eq!(codec.decode(&templated).unwrap(), payload);
        assert_eq!(codec.decode(&stored).unwrap(), payload);
    }

    #[test]
    fn any_bytes_round_trip_under_a_templated_dictionary() {
        let samples: Vec<Vec<u8>> = (0..40).map(|i| user(i, "Springfield")).collect();
        let mut codec = Codec::new();
        codec.add(5, build_dictionary(&samples), true);
        let odd: [&[u8]; 9] = [
            b"",
            b"\n",
            b"no newline at the end",
            b"  <user>\n    <city>a > b</city>\n  </user>",
            b"  <user>\n    <city></city>\n\n    <city>x</city>trailing\n",
            b"    <last_name>O'Brien &amp; <b>x</b></last_name>\n",
            b"<a><b>>>text<<</b></a>\n",
            "    <last_name>\u{e9}\u{fffd}</last_name>\n".as_bytes(),
            b"    <user_group desc=\"Other\">XX</user_group>\n",
        ];
        let mut stored = Vec::new();
        for payload in odd {
            codec.encode(payload, &mut stored);
            assert_eq!(stored[0], TEMPLATED);
            assert_eq!(codec.decode(&stored).unwrap(), payload, "{payload:?}");
        }
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

#[cfg(test)]
#[allow(clippy::print_stderr)] // a micro-benchmark prints its figures
mod bench {
    //! `cargo test --release -p alma-sis-state --lib codec_speed -- --ignored --nocapture`
    //! with `ALMA_SIS_CODEC_XML` naming an XML file of users (one from a bench's zip).
    use super::*;

    #[test]
    #[ignore = "a micro-benchmark: prints microseconds a user"]
    fn codec_speed() {
        let Ok(path) = std::env::var("ALMA_SIS_CODEC_XML") else {
            return;
        };
        let text = std::fs::read(path).unwrap();
        let mut users = Vec::new();
        let mut rest = &text[..];
        while let Some(start) = rest.windows(8).position(|w| w == b"  <user>") {
            let Some(len) = rest[start..].windows(8).position(|w| w == b"</user>\n") else {
                break;
            };
            users.push(rest[start..start + len + 8].to_vec());
            rest = &rest[start + len + 8..];
        }
        let (sample, rest) = users.split_at(SAMPLE);
        for (kind, dictionary) in [
            ("plain", build_plain_dictionary(sample)),
            ("templated", build_dictionary(sample)),
        ] {
            let mut codec = Codec::new();
            codec.add(1, dictionary.clone(), true);
            let (mut stored, mut bytes) = (Vec::new(), 0);
            let started = std::time::Instant::now();
            for user in rest {
                codec.encode(user, &mut stored);
                bytes += stored.len();
            }
            let encode = started.elapsed().as_secs_f64() * 1e6 / rest.len() as f64;
            if let Some(Dictionary::Templated(t)) = codec.dictionaries.get(&1) {
                let (mut codes, mut scratch) = (Vec::new(), Scratch::default());
                let started = std::time::Instant::now();
                for user in rest {
                    codes.clear();
                    t.codes(user, &mut codes, true, &mut scratch);
                }
                eprintln!(
                    "codes alone: {:.2} us a user",
                    started.elapsed().as_secs_f64() * 1e6 / rest.len() as f64
                );
                let all: Vec<Vec<u8>> = rest
                    .iter()
                    .map(|user| {
                        let mut codes = Vec::new();
                        t.codes(user, &mut codes, true, &mut scratch);
                        codes
                    })
                    .collect();
                for (user, codes) in rest.iter().zip(&all) {
                    assert_eq!(codes, &super::tests::codes_by_lines(t, user, true));
                }
                let primed = PrimedDictionary::new(&t.codes_dictionary);
                let mut deflater = PrimedDeflater::default();
                let (mut out, mut bytes) = (Vec::new(), 0);
                let started = std::time::Instant::now();
                for codes in &all {
                    out.clear();
                    deflater.deflate(&primed, codes, &mut out);
                    bytes += out.len();
                }
                eprintln!(
                    "codes deflated (primed): {:.2} us a user, {} B",
                    started.elapsed().as_secs_f64() * 1e6 / rest.len() as f64,
                    bytes / rest.len()
                );
                let mut zlib = Compress::new(Compression::new(1), false);
                let (mut out, mut bytes) = (Vec::new(), 0);
                let started = std::time::Instant::now();
                for codes in &all {
                    out.clear();
                    assert!(deflate(&mut zlib, &t.codes_dictionary, codes, &mut out));
                    bytes += out.len();
                }
                eprintln!(
                    "codes deflated (zlib level 1): {:.2} us a user, {} B; codes {} B, dictionary {} B",
                    started.elapsed().as_secs_f64() * 1e6 / rest.len() as f64,
                    bytes / rest.len(),
                    all.iter().map(Vec::len).sum::<usize>() / all.len(),
                    t.codes_dictionary.len()
                );
            }
            let started = std::time::Instant::now();
            for user in rest.iter().take(2000) {
                codec.encode(user, &mut stored);
                assert_eq!(&codec.decode(&stored).unwrap(), user);
            }
            eprintln!(
                "{kind}: dictionary {} B, {encode:.2} us a user, {} B a user stored \
                 (round trip of 2000 checked in {:.2} us a user)",
                dictionary.len(),
                bytes / rest.len(),
                started.elapsed().as_secs_f64() * 1e6 / 2000.0
            );
        }
    }
}
