//! The input guard: sits between the bytes (a file or a zip entry) and the XML reader.
//!
//! It counts bytes against the limits (zip bombs), refuses giant tokens (a text node or tag
//! longer than `max_token_bytes` would otherwise be buffered whole), strips a UTF-8 BOM and
//! notes it, checks the prolog, and finds invalid UTF-8 and XML-illegal control bytes with
//! their line and column. Invalid bytes are replaced by `?` (same length, so positions
//! downstream stay right) so one bad byte does not hide the rest of the file.

use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;

use alma_user_model::Severity;

use super::decode::Decoder;
use super::xmlscan::{WfError, XmlScanner};

/// What the guard saw, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GuardEventKind {
    /// A UTF-8 byte-order mark at the start.
    Bom,
    /// The document is not UTF-8: an encoding Java reads (a warning) or cannot read.
    Encoding {
        code: &'static str,
        severity: Severity,
        message: String,
    },
    /// A byte sequence that is not UTF-8.
    InvalidUtf8(u8),
    /// A character XML 1.0 forbids (a control character, U+FFFE, U+FFFF).
    IllegalChar(u32),
    /// The entry's byte limit was reached.
    EntryLimit,
    /// The limit over all entries was reached.
    TotalLimit,
    /// A single token (tag, attribute, text node, comment) exceeded the limit.
    TokenLimit(&'static str),
    /// Where Java's parser stops: the document is not well-formed.
    Xml(WfError),
}

/// One event with its byte offset and 1-based line and (byte) column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GuardEvent {
    pub kind: GuardEventKind,
    pub offset: u64,
    pub line: u64,
    pub column: u64,
}

/// Most byte-level problems (invalid UTF-8, characters XML forbids) kept waiting for their
/// user; beyond this they are only counted, so a file of garbage cannot grow memory. What
/// stops the input (a limit, where Java stops parsing) is always kept.
pub(crate) const MAX_EVENTS: usize = 1000;
/// Room for what the guard reads from its source and holds back from a read: up to 3 bytes
/// of an incomplete UTF-8 sequence, carried to the next read.
pub(crate) const MAX_CARRY: usize = 4;

/// Events shared with the checker, which attributes them to users as they are read.
#[derive(Debug, Default)]
pub(crate) struct GuardLog {
    pub events: Vec<GuardEvent>,
    /// Byte-level problems past [`MAX_EVENTS`], counted only, up to where the input stopped.
    pub dropped: Dropped,
    /// Those dropped from the bytes being inspected, with their offsets: only the ones
    /// before where Java stops count ([`GuardLog::settle`]). At most one per byte of a read.
    unsettled: Vec<(u64, ByteProblem)>,
    /// Events of this document so far, dropped or not.
    pub pushed: u64,
    /// Bytes read over all entries so far (the guard adds to it).
    pub total_read: u64,
    /// The current document's input was stopped (a limit, or where Java stops parsing).
    pub limited: bool,
    /// ... by the entry's or the total byte limit: the entry holds more than the limits
    /// allow. A token limit stops the XML reader only; the zip check still reads the entry.
    pub byte_limit: bool,
}

/// Byte-level problems not listed, by kind (each is its own finding code).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dropped {
    /// Byte sequences that are not UTF-8 (`E-UTF8`).
    pub utf8: u64,
    /// Characters XML 1.0 forbids (`E-CHAR`).
    pub chars: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByteProblem {
    Utf8,
    Char,
}

impl GuardLog {
    fn push(&mut self, event: GuardEvent) {
        self.pushed += 1;
        let problem = match event.kind {
            GuardEventKind::InvalidUtf8(_) => Some(ByteProblem::Utf8),
            GuardEventKind::IllegalChar(_) => Some(ByteProblem::Char),
            _ => None,
        };
        match problem {
            Some(problem) if self.events.len() >= MAX_EVENTS => {
                self.unsettled.push((event.offset, problem));
            }
            _ => self.events.push(event),
        }
    }

    /// Counts the problems dropped from the bytes just inspected, those at or before
    /// `stop` (where Java stops parsing) when it is given.
    fn settle(&mut self, stop: Option<u64>) {
        for &(offset, problem) in &self.unsettled {
            if stop.is_some_and(|at| offset > at) {
                break;
            }
            match problem {
                ByteProblem::Utf8 => self.dropped.utf8 += 1,
                ByteProblem::Char => self.dropped.chars += 1,
            }
        }
        self.unsettled.clear();
    }
}

/// The limits the guard enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardLimits {
    pub entry: u64,
    pub total: u64,
    pub token: u64,
}

/// Where the guard reads from: the input until its encoding is decided, then the decoder.
enum Source<R> {
    Undecided(Option<R>),
    Decided(Box<Decoder<R>>),
}

/// A `Read` adapter; see the module docs.
pub(crate) struct Guard<R> {
    source: Source<R>,
    log: Rc<RefCell<GuardLog>>,
    limits: GuardLimits,
    /// Offset (in the decoded bytes) of the next byte handed out.
    offset: u64,
    line: u64,
    /// Offset of the first byte of the current line.
    line_start: u64,
    /// An incomplete UTF-8 sequence carried to the next read (at most [`MAX_CARRY`] bytes).
    carry: Vec<u8>,
    started: bool,
    stopped: bool,
    /// Well-formedness as Java judges it (`None` only in byte-level tests).
    scanner: Option<XmlScanner>,
}

impl<R: Read> Guard<R> {
    pub fn new(inner: R, log: Rc<RefCell<GuardLog>>, limits: GuardLimits) -> Self {
        Self::new_undecided(Some(inner), log, limits)
    }

    fn new_undecided(inner: Option<R>, log: Rc<RefCell<GuardLog>>, limits: GuardLimits) -> Self {
        Guard {
            source: Source::Undecided(inner),
            log,
            limits,
            offset: 0,
            line: 1,
            line_start: 0,
            carry: Vec::with_capacity(MAX_CARRY),
            started: false,
            stopped: false,
            scanner: Some(XmlScanner::new(
                alma_user_model::schema::is_container,
                limits.token,
            )),
        }
    }

    /// A guard without the well-formedness scan, whose caller scans what it hands out
    /// (the check's splitter, which has elements scanned on other threads).
    pub fn unscanned(inner: R, log: Rc<RefCell<GuardLog>>, limits: GuardLimits) -> Self {
        let mut guard = Self::new_undecided(Some(inner), log, limits);
        guard.scanner = None;
        guard
    }

    /// A guard for bytes only: no XML scanning (for testing the byte level alone).
    #[cfg(test)]
    fn bytes_only(inner: R, log: Rc<RefCell<GuardLog>>, limits: GuardLimits) -> Self {
        let mut guard = Self::new_undecided(None, log, limits);
        guard.source = Source::Decided(Box::new(Decoder::utf8(inner)));
        guard.scanner = None;
        guard
    }

    /// Records an event at byte offset `at` of the current line.
    fn push(&mut self, kind: GuardEventKind, at: u64) {
        let event = GuardEvent {
            kind,
            offset: at,
            line: self.line,
            column: at - self.line_start + 1,
        };
        self.log.borrow_mut().push(event);
    }

    fn stop(&mut self, kind: GuardEventKind) -> io::Error {
        self.stopped = true;
        {
            let mut log = self.log.borrow_mut();
            log.limited = true;
            log.byte_limit |= matches!(
                kind,
                GuardEventKind::EntryLimit | GuardEventKind::TotalLimit
            );
        }
        self.push(kind, self.offset);
        io::Error::other(LimitReached)
    }

    /// Reads from the input, deciding its encoding on the first read.
    fn read_source(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Source::Undecided(inner) = &mut self.source {
            let Some(inner) = inner.take() else {
                return Ok(0);
            };
            let (decoder, decision) = Decoder::new(inner)?;
            self.source = Source::Decided(Box::new(decoder));
            if let Some((code, severity, message)) = decision.note {
                let kind = GuardEventKind::Encoding {
                    code,
                    severity,
                    message,
                };
                if decision.refused {
                    return Err(self.stop(kind));
                }
                self.push(kind, 0);
            }
        }
        let Source::Decided(decoder) = &mut self.source else {
            return Ok(0);
        };
        let n = decoder.read(out)?;
        if let Some((byte, line, column)) = decoder.bad_ascii.take() {
            self.stopped = true;
            let mut log = self.log.borrow_mut();
            log.limited = true;
            log.push(GuardEvent {
                kind: GuardEventKind::Encoding {
                    code: super::codes::ENCODING,
                    severity: Severity::Error,
                    message: format!(
                        "the file declares US-ASCII but holds byte 0x{byte:02X} (Java's parser: \
                         Byte \"{byte}\" is not a member of the (7-bit) ASCII character set.); \
                         Alma's loader rejects the whole file: write UTF-8 and declare \
                         encoding=\"UTF-8\""
                    ),
                },
                offset: self.offset + n as u64,
                line,
                column,
            });
        }
        Ok(n)
    }

    /// Checks the first bytes for a UTF-8 byte-order mark: true when there is one, which the
    /// caller removes.
    fn start(&mut self, buf: &[u8]) -> bool {
        self.started = true;
        if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            self.push(GuardEventKind::Bom, 0);
            return true;
        }
        false
    }

    /// Walks the bytes handed out: positions, control bytes, UTF-8, then well-formedness.
    /// Plain ASCII takes one comparison per byte; positions are computed only for events.
    /// `at_end`: nothing can complete a sequence cut short at the end of `buf`. Returns how
    /// many bytes to hand out: all of them, or those before where Java stops parsing.
    fn inspect(&mut self, buf: &mut [u8], at_end: bool) -> io::Result<usize> {
        let (base, line, line_start) = (self.offset, self.line, self.line_start);
        if let Some(lines) = plain_lines(buf) {
            // What the loop below does with such bytes: count lines.
            if lines > 0 {
                self.line += lines as u64;
                let last = memchr::memrchr(b'\n', buf).unwrap_or_default();
                self.line_start = base + last as u64 + 1;
            }
        } else {
            let mut i = 0;
            while i < buf.len() {
                let b = buf[i];
                let at = base + i as u64;
                if (0x20..0x80).contains(&b) {
                    i += 1;
                    continue;
                }
                let width = match b {
                    b'\n' => {
                        self.new_line(at);
                        1
                    }
                    b'\t' | b'\r' => 1,
                    0..=0x1F => {
                        self.push(GuardEventKind::IllegalChar(u32::from(b)), at);
                        1
                    }
                    _ => match utf8_len(&buf[i..], at_end) {
                        Some(3) if buf[i..].starts_with(&[0xEF, 0xBF]) && buf[i + 2] >= 0xBE => {
                            let c = 0xFFFE + u32::from(buf[i + 2] - 0xBE);
                            self.push(GuardEventKind::IllegalChar(c), at);
                            3
                        }
                        Some(n) => n,
                        None => {
                            self.push(GuardEventKind::InvalidUtf8(b), at);
                            buf[i] = b'?';
                            1
                        }
                    },
                };
                i += width;
            }
        }
        self.offset = base + buf.len() as u64;
        let Some((k, error)) = self.scanner.as_mut().and_then(|s| s.feed(buf)) else {
            self.log.borrow_mut().settle(None);
            return Ok(buf.len());
        };
        // Java stops at `k`: hand out what precedes it, report it there, read no more.
        let before = &buf[..k];
        let newlines = memchr::memchr_iter(b'\n', before).count() as u64;
        let (line, line_start) = match memchr::memrchr(b'\n', before) {
            Some(last) => (line + newlines, base + last as u64 + 1),
            None => (line, line_start),
        };
        let at = base + k as u64;
        let kind = if error.code == super::codes::LIMIT {
            GuardEventKind::TokenLimit(if error.message.is_empty() {
                "token"
            } else {
                limit_what(&error.message)
            })
        } else {
            GuardEventKind::Xml(error)
        };
        self.stopped = true;
        let mut log = self.log.borrow_mut();
        log.limited = true;
        // Java reads nothing after this point: neither does the check.
        let keep = log.events.partition_point(|e| e.offset <= at);
        log.events.truncate(keep);
        log.settle(Some(at));
        log.push(GuardEvent {
            kind,
            offset: at,
            line,
            column: at - line_start + 1,
        });
        Ok(k)
    }

    fn new_line(&mut self, at: u64) {
        self.line += 1;
        self.line_start = at + 1;
    }
}

/// What kind of token a limit message of the scanner is about.
fn limit_what(message: &str) -> &'static str {
    match message {
        "comment" => "comment or processing instruction",
        "tag" => "tag",
        _ => "text",
    }
}

/// The error a guard returns once a limit is reached; the checker reports the event instead.
#[derive(Debug)]
pub(crate) struct LimitReached;

impl std::fmt::Display for LimitReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("input limit reached")
    }
}

impl std::error::Error for LimitReached {}

/// The length of the UTF-8 sequence at the start of `b` (whose first byte is ≥ 0x80), or
/// `None` when it is invalid. An incomplete sequence at the end of `b` counts as valid
/// unless `at_eof` (the caller carries it over).
fn utf8_len(b: &[u8], at_eof: bool) -> Option<usize> {
    let n = match b[0] {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    if b.len() < n {
        let valid_prefix = std::str::from_utf8(b)
            .err()
            .is_some_and(|e| e.error_len().is_none());
        return (valid_prefix && !at_eof).then_some(b.len());
    }
    std::str::from_utf8(&b[..n]).ok().map(|_| n)
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.stopped || out.is_empty() {
            return Ok(0);
        }
        // The carried bytes, then one read of the rest, straight into `out`.
        let start = self.carry.len();
        let want = out.len().saturating_sub(start).max(4);
        if start + want > out.len() {
            return self.read_small(out);
        }
        out[..start].copy_from_slice(&self.carry);
        self.carry.clear();
        let n = self.read_source(&mut out[start..start + want])?;
        let mut len = start + n;
        let at_eof = n == 0;
        if len == 0 {
            return Ok(0);
        }
        {
            let mut log = self.log.borrow_mut();
            log.total_read += n as u64;
            if log.total_read > self.limits.total {
                drop(log);
                return Err(self.stop(GuardEventKind::TotalLimit));
            }
        }
        if self.offset + len as u64 > self.limits.entry {
            return Err(self.stop(GuardEventKind::EntryLimit));
        }
        if !self.started && self.start(&out[..len]) {
            // A byte-order mark is removed, so offsets and columns match what the reader sees.
            out.copy_within(3..len, 0);
            len -= 3;
        }
        let give = self.give(&out[..len], at_eof, out.len());
        self.carry.extend_from_slice(&out[give..len]);
        let at_end = at_eof || self.carry_starts_a_character();
        let give = self.inspect(&mut out[..give], at_end)?;
        if give == 0 && !self.carry.is_empty() && !self.stopped {
            // Only a partial sequence so far: read more.
            return self.read(out);
        }
        Ok(give)
    }
}

impl<R: Read> Guard<R> {
    /// [`Read::read`] into an `out` too small for the carry and a read: through a buffer.
    fn read_small(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut chunk = std::mem::take(&mut self.carry);
        let start = chunk.len();
        chunk.resize(start + 4, 0);
        let n = self.read_source(&mut chunk[start..])?;
        chunk.truncate(start + n);
        let at_eof = n == 0;
        if chunk.is_empty() {
            return Ok(0);
        }
        {
            let mut log = self.log.borrow_mut();
            log.total_read += n as u64;
            if log.total_read > self.limits.total {
                drop(log);
                return Err(self.stop(GuardEventKind::TotalLimit));
            }
        }
        if self.offset + chunk.len() as u64 > self.limits.entry {
            return Err(self.stop(GuardEventKind::EntryLimit));
        }
        if !self.started && self.start(&chunk) {
            chunk.drain(..3);
        }
        let give = self.give(&chunk, at_eof, out.len());
        self.carry = chunk.split_off(give);
        let at_end = at_eof || self.carry_starts_a_character();
        let give = self.inspect(&mut chunk, at_end)?;
        out[..give].copy_from_slice(&chunk[..give]);
        if give == 0 && !self.carry.is_empty() && !self.stopped {
            return self.read(out);
        }
        Ok(give)
    }

    /// The held-back bytes start a character: a sequence cut short before them is invalid,
    /// not waiting for its last bytes.
    fn carry_starts_a_character(&self) -> bool {
        self.carry.first().is_some_and(|&b| b & 0xC0 != 0x80)
    }

    /// How many of `chunk`'s bytes to hand out now: not an incomplete UTF-8 sequence at
    /// the end (it waits for more bytes), and never a split one when `limit` cuts.
    fn give(&self, chunk: &[u8], at_eof: bool, limit: usize) -> usize {
        let keep = if at_eof { 0 } else { incomplete_tail(chunk) };
        let mut give = (chunk.len() - keep).min(limit);
        let full = give;
        while give > 0 && give < chunk.len() && full - give < 3 && chunk[give] & 0xC0 == 0x80 {
            give -= 1;
        }
        if give == 0 {
            give = full;
        }
        give
    }
}

/// The lines in `buf` when it has no control character XML forbids and is whole UTF-8:
/// the bytes the inspection loop only counts lines in. One pass in byte lanes (vectorized),
/// and a UTF-8 check when there are non-ASCII bytes.
fn plain_lines(buf: &[u8]) -> Option<usize> {
    let (mut control, mut high, mut lines) = (0u8, 0u8, 0usize);
    let mut chunks = buf.chunks_exact(128);
    for chunk in &mut chunks {
        let (mut c, mut h, mut n) = (0u8, 0u8, 0u8);
        for &b in chunk {
            c |= u8::from((b < 0x20) & (b != b'\n') & (b != b'\t') & (b != b'\r'));
            h |= b;
            n += u8::from(b == b'\n');
        }
        control |= c;
        high |= h;
        lines += usize::from(n);
    }
    for &b in chunks.remainder() {
        control |= u8::from((b < 0x20) & (b != b'\n') & (b != b'\t') & (b != b'\r'));
        high |= b;
        lines += usize::from(b == b'\n');
    }
    // U+FFFE and U+FFFF are UTF-8 that XML forbids: the loop reports them.
    let whole = high & 0x80 == 0 || (simdutf8::basic::from_utf8(buf).is_ok() && !has_nonchar(buf));
    (control == 0 && whole).then_some(lines)
}

/// Whether `buf` holds U+FFFE or U+FFFF (`EF BF BE`, `EF BF BF`): one pass for their first
/// byte, which Latin text has none of.
fn has_nonchar(buf: &[u8]) -> bool {
    memchr::memchr_iter(0xEF, buf)
        .any(|i| buf.get(i + 1) == Some(&0xBF) && matches!(buf.get(i + 2), Some(0xBE | 0xBF)))
}

/// How many bytes at the end of `b` start a UTF-8 sequence that is not complete yet.
fn incomplete_tail(b: &[u8]) -> usize {
    for back in 1..=3.min(b.len()) {
        let c = b[b.len() - back];
        if c & 0xC0 == 0xC0 {
            let need = match c {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            return if need > back { back } else { 0 };
        }
        if c & 0x80 == 0 {
            return 0;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::io::Read;
    use std::rc::Rc;

    use proptest::prelude::*;

    use super::{Guard, GuardEvent, GuardEventKind, GuardLimits, GuardLog};

    /// Hands out its bytes in the given read sizes, in turn.
    struct Chunked {
        bytes: Vec<u8>,
        at: usize,
        sizes: Vec<usize>,
        turn: usize,
    }

    impl Read for Chunked {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let size = self.sizes[self.turn % self.sizes.len()].max(1);
            self.turn += 1;
            let n = size.min(out.len()).min(self.bytes.len() - self.at);
            out[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// What the guard promises at the byte level, in one pass over the whole input: the
    /// bytes handed out and the events (a BOM aside).
    fn reference(input: &[u8]) -> (Vec<u8>, Vec<GuardEvent>) {
        let mut out = input.to_vec();
        let mut events = Vec::new();
        let (mut line, mut line_start) = (1u64, 0u64);
        let event = |kind, at: usize, line: u64, line_start: u64| GuardEvent {
            kind,
            offset: at as u64,
            line,
            column: at as u64 - line_start + 1,
        };
        let mut i = 0;
        while i < out.len() {
            let b = out[i];
            match b {
                b'\n' => {
                    line += 1;
                    line_start = i as u64 + 1;
                    i += 1;
                }
                b'\t' | b'\r' | 0x20..0x80 => i += 1,
                0..0x20 => {
                    events.push(event(
                        GuardEventKind::IllegalChar(u32::from(b)),
                        i,
                        line,
                        line_start,
                    ));
                    i += 1;
                }
                _ => {
                    let n = match b {
                        0xC2..=0xDF => 2,
                        0xE0..=0xEF => 3,
                        0xF0..=0xF4 => 4,
                        _ => 0,
                    };
                    let valid = n > 0
                        && out
                            .get(i..i + n)
                            .is_some_and(|s| std::str::from_utf8(s).is_ok());
                    if valid {
                        if let Some(c) = std::str::from_utf8(&out[i..i + n])
                            .ok()
                            .and_then(|s| s.chars().next())
                            .filter(|&c| c == '\u{FFFE}' || c == '\u{FFFF}')
                        {
                            events.push(event(
                                GuardEventKind::IllegalChar(c as u32),
                                i,
                                line,
                                line_start,
                            ));
                        }
                        i += n;
                    } else {
                        events.push(event(GuardEventKind::InvalidUtf8(b), i, line, line_start));
                        out[i] = b'?';
                        i += 1;
                    }
                }
            }
        }
        (out, events)
    }

    fn guarded(input: &[u8], sizes: Vec<usize>, out_len: usize) -> (Vec<u8>, Vec<GuardEvent>) {
        let log = Rc::new(RefCell::new(GuardLog::default()));
        let limits = GuardLimits {
            entry: u64::MAX,
            total: u64::MAX,
            token: u64::MAX,
        };
        let inner = Chunked {
            bytes: input.to_vec(),
            at: 0,
            sizes,
            turn: 0,
        };
        let mut guard = Guard::bytes_only(inner, Rc::clone(&log), limits);
        let mut out = Vec::new();
        let mut buf = vec![0; out_len];
        loop {
            let n = guard.read(&mut buf).expect("no limit");
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        let events = log.borrow().events.clone();
        (out, events)
    }

    fn piece() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            8 => prop::sample::select(vec!["<user>", "</user>", "text ", "\n  ", "é", "张", "𝔘", "<a b=\"c\">", "\r\n", "\t", "\u{FFFE}", "\u{FFFF}"])
                .prop_map(|s| s.as_bytes().to_vec()),
            1 => any::<u8>().prop_map(|b| vec![b]),
            1 => prop::collection::vec(any::<u8>(), 0..4),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn the_guard_hands_out_what_it_promises(
            prolog in prop::sample::select(vec!["", "<", "junk\n<", "\n\n<"]),
            pieces in prop::collection::vec(piece(), 0..400),
            sizes in prop::collection::vec(1usize..300, 1..5),
            // Readers ask for 64 KiB; room for the carry and a read at least.
            out_len in prop::sample::select(vec![8usize, 64, 4096, 65536]),
        ) {
            let mut input = prolog.as_bytes().to_vec();
            for p in pieces {
                input.extend(p);
            }
            prop_assert_eq!(guarded(&input, sizes, out_len), reference(&input));
        }
    }
}
