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

/// What the guard saw, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardEventKind {
    /// A UTF-8 byte-order mark at the start.
    Bom,
    /// Bytes before `<?xml` or before the first tag.
    Prolog,
    /// An UTF-16/32 byte-order mark: the file is not UTF-8 at all.
    NotUtf8,
    /// A byte sequence that is not UTF-8.
    InvalidUtf8(u8),
    /// A control character XML 1.0 forbids.
    IllegalChar(u8),
    /// The entry's byte limit was reached.
    EntryLimit,
    /// The limit over all entries was reached.
    TotalLimit,
    /// A single token (text node, tag) exceeded the limit.
    TokenLimit,
}

/// One event with its byte offset and 1-based line and (byte) column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GuardEvent {
    pub kind: GuardEventKind,
    pub offset: u64,
    pub line: u64,
    pub column: u64,
}

/// Most events kept per entry; beyond this only a count is kept, so a file of garbage
/// cannot grow memory.
pub(crate) const MAX_EVENTS: usize = 1000;

/// Events shared with the checker, which attributes them to users as they are read.
#[derive(Debug, Default)]
pub(crate) struct GuardLog {
    pub events: Vec<GuardEvent>,
    pub dropped: u64,
    /// Bytes read over all entries so far (the guard adds to it).
    pub total_read: u64,
}

impl GuardLog {
    fn push(&mut self, event: GuardEvent) {
        if self.events.len() < MAX_EVENTS {
            self.events.push(event);
        } else {
            self.dropped += 1;
        }
    }
}

/// The limits the guard enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardLimits {
    pub entry: u64,
    pub total: u64,
    pub token: u64,
}

/// A `Read` adapter; see the module docs.
pub(crate) struct Guard<R> {
    inner: R,
    log: Rc<RefCell<GuardLog>>,
    limits: GuardLimits,
    /// Offset (in the original bytes) of the next byte handed out.
    offset: u64,
    line: u64,
    /// Offset of the first byte of the current line.
    line_start: u64,
    /// Offset just after the last `<` or `>`: where the current token started.
    token_start: u64,
    /// Up to 3 bytes of an incomplete UTF-8 sequence carried to the next read.
    carry: Vec<u8>,
    started: bool,
    prolog_done: bool,
    prolog_seen: bool,
    stopped: bool,
}

impl<R: Read> Guard<R> {
    pub fn new(inner: R, log: Rc<RefCell<GuardLog>>, limits: GuardLimits) -> Self {
        Guard {
            inner,
            log,
            limits,
            offset: 0,
            line: 1,
            line_start: 0,
            token_start: 0,
            carry: Vec::with_capacity(4),
            started: false,
            prolog_done: false,
            prolog_seen: false,
            stopped: false,
        }
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
        self.push(kind, self.offset);
        io::Error::other(LimitReached)
    }

    /// Checks the first bytes: BOMs and anything before `<`.
    fn start(&mut self, buf: &mut Vec<u8>) {
        self.started = true;
        if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            // Removed, so offsets and columns match what the reader sees.
            self.push(GuardEventKind::Bom, 0);
            buf.drain(..3);
        } else if buf.starts_with(&[0xFE, 0xFF])
            || buf.starts_with(&[0xFF, 0xFE])
            || declared_encoding(buf).is_some_and(|e| !e.eq_ignore_ascii_case(b"UTF-8"))
        {
            self.push(GuardEventKind::NotUtf8, 0);
        }
    }

    /// Walks the bytes handed out: positions, prolog, control bytes, UTF-8. Plain ASCII
    /// takes one comparison per byte; positions are computed only for events.
    fn inspect(&mut self, buf: &mut [u8], at_eof: bool) -> io::Result<()> {
        let base = self.offset;
        let mut i = 0;
        while i < buf.len() {
            let b = buf[i];
            let at = base + i as u64;
            if (0x20..0x80).contains(&b) && self.prolog_done {
                if b == b'<' || b == b'>' {
                    self.token_start = at + 1;
                }
                i += 1;
                continue;
            }
            if !self.prolog_done {
                // Anything before the first `<`, even whitespace before `<?xml`, is
                // "content in prolog" for Java. It is reported once and blanked (same
                // length) so the reader does not report it again.
                if b == b'<' {
                    self.prolog_done = true;
                    continue;
                }
                if !self.prolog_seen {
                    self.prolog_seen = true;
                    self.push(GuardEventKind::Prolog, at);
                }
                if b == b'\n' {
                    self.new_line(at);
                } else {
                    buf[i] = b' ';
                }
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
                    self.push(GuardEventKind::IllegalChar(b), at);
                    1
                }
                _ => match utf8_len(&buf[i..], at_eof) {
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
        self.offset = base + buf.len() as u64;
        if self.offset - self.token_start > self.limits.token {
            return Err(self.stop(GuardEventKind::TokenLimit));
        }
        Ok(())
    }

    fn new_line(&mut self, at: u64) {
        self.line += 1;
        self.line_start = at + 1;
    }
}

/// The `encoding` of an XML declaration at the start of `head`, if there is one.
fn declared_encoding(head: &[u8]) -> Option<&[u8]> {
    let decl = head.strip_prefix(b"<?xml")?;
    let end = decl.windows(2).position(|w| w == b"?>")?;
    let decl = &decl[..end];
    let at = decl.windows(8).position(|w| w == b"encoding")?;
    let rest = &decl[at + 8..];
    let quote_at = rest.iter().position(|&b| b == b'"' || b == b'\'')?;
    let quote = rest[quote_at];
    let value = &rest[quote_at + 1..];
    let len = value.iter().position(|&b| b == quote)?;
    Some(&value[..len])
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
        let mut chunk = std::mem::take(&mut self.carry);
        let want = out.len().saturating_sub(chunk.len()).max(4);
        let start = chunk.len();
        chunk.resize(start + want, 0);
        let n = self.inner.read(&mut chunk[start..])?;
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
        if !self.started {
            self.start(&mut chunk);
        }
        // Hold back an incomplete UTF-8 sequence at the end until more bytes come.
        let keep = if at_eof { 0 } else { incomplete_tail(&chunk) };
        let mut give = (chunk.len() - keep).min(out.len());
        // Never split a multi-byte sequence when `out` is the limit.
        let full = give;
        while give > 0 && give < chunk.len() && full - give < 3 && chunk[give] & 0xC0 == 0x80 {
            give -= 1;
        }
        if give == 0 {
            give = full;
        }
        self.carry = chunk.split_off(give);
        self.inspect(&mut chunk, at_eof && self.carry.is_empty())?;
        out[..give].copy_from_slice(&chunk);
        if give == 0 && !self.carry.is_empty() {
            // Only a partial sequence so far: read more.
            return self.read(out);
        }
        Ok(give)
    }
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
