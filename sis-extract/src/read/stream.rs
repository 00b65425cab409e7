//! The bytes of one input as the scanner sees them: the file read once, in chunks, hashed
//! as it goes (so that the run can tell whether the file changed after it was read), and
//! either checked as UTF-8 (invalid bytes are remembered, not refused: the row they are in
//! is decided on its own) or decoded from UTF-16.

use std::collections::VecDeque;
use std::io::{BufRead, Read};

use encoding_rs::{DecoderResult, Encoding};

/// Stream positions of invalid sequences, in order, not asked about yet.
#[derive(Debug, Default)]
struct Noted(VecDeque<u64>);

impl Noted {
    fn push(&mut self, at: u64) {
        self.0.push_back(at);
    }

    /// Whether any position before `end` was noted; forgets them.
    fn before(&mut self, end: u64) -> bool {
        let mut any = false;
        while self.0.front().is_some_and(|&at| at < end) {
            self.0.pop_front();
            any = true;
        }
        any
    }
}

/// `Read` through a `BufRead`'s own buffer.
fn read_buffered(data: &mut impl BufRead, out: &mut [u8]) -> std::io::Result<usize> {
    let chunk = data.fill_buf()?;
    let n = chunk.len().min(out.len());
    out[..n].copy_from_slice(&chunk[..n]);
    data.consume(n);
    Ok(n)
}

/// What the scanner reads from: a `BufRead` that knows where it is in the file and which of
/// the bytes it gave were not valid text.
pub(crate) trait Stream: BufRead {
    /// How many bytes `fill_buf` has given and `consume` taken so far.
    fn pos(&self) -> u64;
    /// The file offset of the next byte (for UTF-16, of the character it starts).
    fn offset(&self) -> u64;
    /// Whether any byte before stream position `end` was not valid text; forgets them.
    fn invalid_before(&mut self, end: u64) -> bool;
}

/// A file's bytes with a running CRC-32 and count of everything read.
#[derive(Debug)]
pub(crate) struct Hashed<R> {
    inner: R,
    crc: crc32fast::Hasher,
    len: u64,
}

impl<R: Read> Hashed<R> {
    pub fn new(inner: R) -> Self {
        Hashed {
            inner,
            crc: crc32fast::Hasher::new(),
            len: 0,
        }
    }

    /// Bytes read so far and their CRC-32.
    pub fn digest(&self) -> (u64, u32) {
        (self.len, self.crc.clone().finalize())
    }
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Reads `inner` into `buf[at..]`, retrying when interrupted.
fn read_some(inner: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match inner.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// UTF-8 (or any ASCII-compatible encoding) in raw bytes: the bytes are given as they are;
/// those that are not UTF-8 are noted by position.
#[derive(Debug)]
pub(crate) struct Utf8Stream<R> {
    inner: R,
    buf: Vec<u8>,
    /// `buf[pos..good]` is checked and not yet consumed; `buf[good..end]` is the start of a
    /// sequence cut at the end of the last read, checked with the next.
    pos: usize,
    good: usize,
    end: usize,
    /// Stream position of `buf[0]`.
    base: u64,
    /// File offset of stream position 0.
    origin: u64,
    /// Stream positions of invalid sequences not asked about yet.
    invalid: Noted,
    eof: bool,
}

impl<R: Read> Utf8Stream<R> {
    /// `inner` starts at file offset `origin`; `chunk` bytes are read at once.
    pub fn new(inner: R, origin: u64, chunk: usize) -> Self {
        Utf8Stream {
            inner,
            // Room for a cut sequence (3 bytes) and more.
            buf: vec![0; chunk.max(8)],
            pos: 0,
            good: 0,
            end: 0,
            base: 0,
            origin,
            invalid: Noted::default(),
            eof: false,
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Checks `buf[good..end]`; a sequence cut at the end waits for the next read (or, at
    /// the end of the file, is invalid).
    fn check(&mut self) {
        let mut at = self.good;
        loop {
            match std::str::from_utf8(&self.buf[at..self.end]) {
                Ok(_) => {
                    self.good = self.end;
                    return;
                }
                Err(e) => {
                    at += e.valid_up_to();
                    match e.error_len() {
                        Some(len) => {
                            self.invalid.push(self.base + at as u64);
                            at += len;
                        }
                        None if self.eof => {
                            self.invalid.push(self.base + at as u64);
                            self.good = self.end;
                            return;
                        }
                        None => {
                            self.good = at;
                            return;
                        }
                    }
                }
            }
        }
    }
}

impl<R: Read> Read for Utf8Stream<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        read_buffered(self, out)
    }
}

impl<R: Read> BufRead for Utf8Stream<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.pos == self.good && !(self.eof && self.good == self.end) {
            // Keep the cut sequence, read on after it.
            self.buf.copy_within(self.good..self.end, 0);
            self.base += self.good as u64;
            self.end -= self.good;
            self.pos = 0;
            self.good = 0;
            let n = read_some(&mut self.inner, &mut self.buf[self.end..])?;
            if n == 0 {
                self.eof = true;
            }
            self.end += n;
            self.check();
        }
        Ok(&self.buf[self.pos..self.good])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.good);
    }
}

impl<R: Read> Stream for Utf8Stream<R> {
    fn pos(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn offset(&self) -> u64 {
        self.origin + self.pos()
    }

    fn invalid_before(&mut self, end: u64) -> bool {
        self.invalid.before(end)
    }
}

/// A UTF-16 file decoded as it is read; positions in the file are counted from the text
/// given (two bytes for every UTF-16 code unit).
#[derive(Debug)]
pub(crate) struct Utf16Stream<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    raw: Vec<u8>,
    raw_len: usize,
    out: Vec<u8>,
    pos: usize,
    end: usize,
    /// Stream position of `out[0]`.
    base: u64,
    /// File offset of the first decoded byte (after a byte-order mark).
    origin: u64,
    /// UTF-16 code units consumed.
    units: u64,
    invalid: Noted,
    eof: bool,
}

impl<R: Read> Utf16Stream<R> {
    /// `inner` starts at file offset `origin`, just after any byte-order mark.
    pub fn new(inner: R, encoding: &'static Encoding, origin: u64, chunk: usize) -> Self {
        let chunk = chunk.max(16);
        Utf16Stream {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            raw: vec![0; chunk],
            raw_len: 0,
            out: Vec::with_capacity(chunk * 2 + 16),
            pos: 0,
            end: 0,
            base: 0,
            origin,
            units: 0,
            invalid: Noted::default(),
            eof: false,
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Decodes what was read into `out`; a malformed sequence becomes U+FFFD and is noted.
    fn decode(&mut self) {
        let mut read = 0;
        loop {
            let room = self
                .decoder
                .max_utf8_buffer_length_without_replacement(self.raw_len - read)
                .unwrap_or(self.raw_len * 3 + 16);
            let start = self.out.len();
            self.out.resize(start + room.max(4), 0);
            let (result, r, w) = self.decoder.decode_to_utf8_without_replacement(
                &self.raw[read..self.raw_len],
                &mut self.out[start..],
                self.eof,
            );
            read += r;
            self.out.truncate(start + w);
            match result {
                DecoderResult::InputEmpty => break,
                DecoderResult::OutputFull => {}
                DecoderResult::Malformed(_, _) => {
                    self.invalid.push(self.base + self.out.len() as u64);
                    self.out.extend_from_slice("\u{fffd}".as_bytes());
                }
            }
        }
        self.raw_len = 0;
        self.end = self.out.len();
    }
}

impl<R: Read> Read for Utf16Stream<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        read_buffered(self, out)
    }
}

impl<R: Read> BufRead for Utf16Stream<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.pos == self.end && !self.eof {
            self.base += self.end as u64;
            self.out.clear();
            self.pos = 0;
            self.end = 0;
            let n = read_some(&mut self.inner, &mut self.raw)?;
            self.raw_len = n;
            self.eof = n == 0;
            self.decode();
        }
        Ok(&self.out[self.pos..self.end])
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.pos);
        for &b in &self.out[self.pos..self.pos + n] {
            // A character starts at every byte that is not a continuation byte; one of four
            // bytes is two code units (a surrogate pair).
            if b & 0xC0 != 0x80 {
                self.units += 1 + u64::from(b >= 0xF0);
            }
        }
        self.pos += n;
    }
}

impl<R: Read> Stream for Utf16Stream<R> {
    fn pos(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn offset(&self) -> u64 {
        self.origin + 2 * self.units
    }

    fn invalid_before(&mut self, end: u64) -> bool {
        self.invalid.before(end)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, Read};

    use proptest::prelude::*;

    use super::{Stream, Utf8Stream, Utf16Stream};

    /// Every byte the stream gives, read `step` bytes at a time, and the positions of the
    /// invalid sequences.
    fn drain(mut s: impl Stream, step: usize) -> (Vec<u8>, Vec<u64>) {
        let mut all = Vec::new();
        let mut bad = Vec::new();
        loop {
            let chunk = s.fill_buf().expect("read");
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len().min(step);
            all.extend_from_slice(&chunk[..n]);
            s.consume(n);
            let pos = s.pos();
            if s.invalid_before(pos) {
                bad.push(pos);
            }
        }
        (all, bad)
    }

    proptest! {
        /// Read in any chunks, the bytes come through unchanged, and an invalid sequence is
        /// reported exactly when the bytes given so far are not UTF-8 (ignoring a sequence
        /// still cut at the end).
        #[test]
        fn utf8_bytes_pass_unchanged_and_invalid_ones_are_noted(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b'a'), Just(0xC3), Just(0xA9), Just(0xE2), Just(0x82), Just(0xAC), Just(0xFF), any::<u8>()],
                0..80,
            ),
            chunk in 8usize..20,
            step in 1usize..9,
        ) {
            let s = Utf8Stream::new(&bytes[..], 0, chunk);
            let (all, bad) = drain(s, step);
            prop_assert_eq!(&all, &bytes);
            prop_assert_eq!(bad.is_empty(), std::str::from_utf8(&bytes).is_ok());
        }

        /// UTF-16 text decodes to what `encoding_rs` decodes whole, and file offsets count
        /// two bytes a code unit.
        #[test]
        fn utf16_decodes_as_a_whole_file_decode_and_counts_offsets(
            text in "[a-z,\\n\u{e9}\u{5f20}\u{1f600}]{0,40}",
            chunk in 16usize..40,
            step in 1usize..9,
        ) {
            let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
            let mut s = Utf16Stream::new(&bytes[..], encoding_rs::UTF_16LE, 0, chunk);
            let mut all = Vec::new();
            loop {
                let chunk = s.fill_buf().expect("read");
                if chunk.is_empty() {
                    break;
                }
                let n = chunk.len().min(step);
                all.extend_from_slice(&chunk[..n]);
                s.consume(n);
                // At a character boundary, the offset is two bytes a code unit so far.
                if let Ok(so_far) = std::str::from_utf8(&all) {
                    prop_assert_eq!(s.offset(), 2 * so_far.encode_utf16().count() as u64);
                }
            }
            prop_assert_eq!(String::from_utf8(all).expect("UTF-8"), text);
            prop_assert!(!s.invalid_before(u64::MAX));
        }
    }

    #[test]
    fn a_lone_surrogate_is_noted_and_replaced() {
        let bytes = [b'a', 0, 0x00, 0xD8, b'b', 0];
        let mut s = Utf16Stream::new(&bytes[..], encoding_rs::UTF_16LE, 0, 16);
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read");
        assert_eq!(text, "a\u{fffd}b");
        assert!(s.invalid_before(u64::MAX));
    }
}
