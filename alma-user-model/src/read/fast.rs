//! The fast lexer: the tokens, positions and findings quick-xml gives [`UserReader`], for
//! the XML the toolkit and most SIS programs write, read from a window of checked UTF-8
//! without copying. Anything else (an error, a DOCTYPE, CDATA, an entity in an unusual
//! place, a user over 4 MiB) makes it stop, and the document is left to [`UserReader`] with
//! quick-xml, which stays the reference.
//!
//! Its API outside the reader is small and hidden from the docs (the packager's check and
//! plan use it): [`UserSplitter`] cuts a document into its users' XML, [`UserParser`]
//! parses each of them on any thread, and [`READ_SIZE`] is the buffer contract with
//! whatever wraps the input.

use std::io::{self, BufRead, Read};
use std::ops::Range;

use super::{DocState, Lex, ReadUser, Tok, UserReader, is_xml_space};
use crate::chars::same_bytes;
use crate::finding::{Finding, Position};

/// One `<user>` element cut out of a document by [`UserSplitter`]: where it starts and how
/// many bytes it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawUser {
    /// Line and column of the `<` of `<user>`.
    pub position: Position,
    /// Byte offset of the `<` of `<user>` from the start of the input.
    pub start_offset: u64,
    /// Length of the element in bytes, from `<user` to `</user>` included.
    pub len: usize,
}

/// What [`UserSplitter::next_into`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The next user's XML, appended to the caller's buffer.
    User(RawUser),
    /// The document ended; [`UserSplitter::document_findings`] is complete.
    End,
    /// The document holds something only [`UserReader`] reads exactly (an error, a DOCTYPE,
    /// CDATA, an unusual entity, a user over 4 MiB, an I/O error): read the
    /// document again with [`UserReader`].
    Unsupported,
}

/// The searcher for `</user>`, built once: building one costs about what a search through a
/// user does.
static USER_END: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"</user>"));

/// Cuts a `<users>` document into its users' XML without parsing them, so that
/// [`UserParser`] can parse them on other threads.
///
/// It reads the document level exactly as [`UserReader`] does (same
/// [`document_findings`](Self::document_findings)), and the users it cuts out, parsed with
/// [`UserParser`] in order, are exactly the users [`UserReader`] returns, with the same
/// positions and findings. It reads its input in 64 KiB requests, as [`UserReader`] does.
/// Documents it cannot vouch for end in [`Split::Unsupported`].
///
/// ```
/// use alma_user_model::read::{Split, UserParser, UserSplitter};
///
/// let xml = "<users>\n  <user><primary_id>jdoe</primary_id></user>\n</users>\n";
/// let mut splitter = UserSplitter::new(xml.as_bytes());
/// let mut raw = String::new();
/// let Split::User(at) = splitter.next_into(&mut raw) else { panic!("a user") };
/// assert_eq!(splitter.next_into(&mut raw), Split::End);
/// let read = UserParser::new().parse(&raw, &at).expect("read exactly");
/// assert_eq!(read.user.primary_id, "jdoe");
/// assert_eq!((read.position.line, read.position.column), (2, 3));
/// ```
pub struct UserSplitter<R: BufRead> {
    reader: UserReader<R>,
    ended: bool,
}

impl<R: BufRead> UserSplitter<R> {
    /// A splitter over `input`.
    pub fn new(input: R) -> Self {
        UserSplitter {
            reader: UserReader::with_lexer(Lex::Fast(Box::new(FastLexer::new(input)))),
            ended: false,
        }
    }

    /// Appends the next user's XML to `out` and says where it starts.
    pub fn next_into(&mut self, out: &mut String) -> Split {
        if self.ended {
            return Split::End;
        }
        let r = &mut self.reader;
        match r.advance() {
            Ok(true) => {}
            Ok(false) if !r.unsupported => {
                self.ended = true;
                return Split::End;
            }
            Ok(false) | Err(_) => {
                self.ended = true;
                return Split::Unsupported;
            }
        }
        // What `user()` does first: findings so far belong to the document.
        r.document_findings.append(&mut r.findings);
        let Lex::Fast(f) = &mut r.lex else {
            unreachable!("a splitter reads with the fast lexer");
        };
        let Some(start) = usize::try_from(r.offset - f.base).ok() else {
            return Split::Unsupported;
        };
        let end = if r.empty {
            Some(f.pos)
        } else {
            f.skip_user(start)
        };
        let Some(end) = end else {
            self.ended = true;
            return Split::Unsupported;
        };
        // `skip_user` may have moved the window.
        let start = usize::try_from(r.offset - f.base).unwrap_or_default();
        out.push_str(&f.window[start..end]);
        r.users_read += 1;
        Split::User(RawUser {
            position: r.pos,
            start_offset: r.offset,
            len: end - start,
        })
    }

    /// Reads on until [`bytes_read`](Self::bytes_read) reaches `offset` or the input ends
    /// (in the same 64 KiB requests); a read error ends the document in
    /// [`Split::Unsupported`].
    pub fn read_to(&mut self, offset: u64) {
        if let Lex::Fast(f) = &mut self.reader.lex {
            while !f.eof
                && f.base + ((f.window.len() + f.pending.len()) as u64) < offset
                && f.refill(0).is_ok()
            {}
        }
    }

    /// Keeps every byte from document offset `offset` on (which must be read, and not
    /// before an earlier hold) until the next call, for a caller that reads what lies
    /// between the users itself ([`held`](Self::held)). Held bytes count towards a limit
    /// of 16 MiB, past which the document ends in [`Split::Unsupported`].
    pub fn hold_from(&mut self, offset: u64) {
        if let Lex::Fast(f) = &mut self.reader.lex {
            f.hold = Some(offset);
        }
    }

    /// The bytes read from document offset `from` to `to` (to the end of what was read
    /// when `None`), when they are all held (see [`hold_from`](Self::hold_from)).
    pub fn held(&self, from: u64, to: Option<u64>) -> Option<&[u8]> {
        let Lex::Fast(f) = &self.reader.lex else {
            return None;
        };
        let start = usize::try_from(from.checked_sub(f.base)?).ok()?;
        let end = match to {
            Some(to) => usize::try_from(to.checked_sub(f.base)?).ok()?,
            None => f.window.len(),
        };
        f.window.as_bytes().get(start..end)
    }

    /// Bytes read from the input so far.
    pub fn bytes_read(&self) -> u64 {
        match &self.reader.lex {
            Lex::Fast(f) => f.base + (f.window.len() + f.pending.len()) as u64,
            Lex::Quick(_) => 0,
        }
    }

    /// Findings about the document rather than one user, as [`UserReader`] gives them;
    /// complete once [`next_into`](Self::next_into) returned [`Split::End`].
    pub fn document_findings(&self) -> &[Finding] {
        &self.reader.document_findings
    }
}

/// Parses the users [`UserSplitter`] cut out, one at a time, reusing its buffers.
pub struct UserParser {
    reader: UserReader<io::Empty>,
}

impl Default for UserParser {
    fn default() -> Self {
        Self::new()
    }
}

impl UserParser {
    /// A parser.
    pub fn new() -> Self {
        UserParser {
            reader: UserReader::with_lexer(Lex::Fast(Box::new(FastLexer::new(io::empty())))),
        }
    }

    /// The user in `xml` (one element as [`UserSplitter`] cut it, found `at`) exactly as
    /// [`UserReader`] reads it in its document, or `None` when only [`UserReader`] reads it
    /// exactly: then read the document with [`UserReader`].
    pub fn parse(&mut self, xml: &str, at: &RawUser) -> Option<ReadUser> {
        let r = &mut self.reader;
        let Lex::Fast(f) = &mut r.lex else {
            unreachable!("a parser reads with the fast lexer");
        };
        f.reset(xml, at);
        r.state = DocState::InRoot;
        r.unsupported = false;
        r.text.clear();
        r.path.clear();
        r.findings.clear();
        r.document_findings.clear();
        if !matches!(r.next_tok(), Ok(Tok::Start)) || r.name != "user" {
            return None;
        }
        let read = r.user().ok()?;
        let Lex::Fast(f) = &r.lex else {
            unreachable!("a parser reads with the fast lexer");
        };
        let whole = f.pos == f.window.len() && f.open.is_empty();
        (whole && !r.unsupported).then_some(read)
    }
}

/// The buffer contract between the readers and a wrapper of their input (check's guard,
/// which counts, inspects and reports what is read): each lexer, fast or quick-xml's, asks
/// the input for `READ_SIZE` bytes per read, so the wrapper sees the same reads whichever
/// reads; and when a reader hands out a user it has read at most `READ_SIZE` bytes past
/// that user's end. A `BufReader` in between must have this capacity: with a larger one,
/// reads run further ahead.
pub const READ_SIZE: usize = 64 * 1024;
/// Blank text longer than this is handed out in pieces (it is whitespace between elements,
/// or a value the guard's token limit bounds).
const BLANK_PIECE: usize = 64 * 1024;
/// The most bytes the fast lexer holds for one token or user element (a user's fields hold
/// at most some 4000 characters each; batches of users in flight stay small).
const MAX_WINDOW: usize = 4 << 20;
/// The most bytes a splitter holds for its caller ([`UserSplitter::hold_from`]): a user and
/// what its caller has not read before it.
const MAX_HELD: usize = 16 << 20;

/// A token of the fast lexer: ranges into its window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FastTok {
    /// Text up to `<`, `&` or the end of the input.
    Text(Range<usize>),
    /// The name between `&` and `;`.
    Ref(Range<usize>),
    /// The content between `<` and `>` (or `/>`), whose first `name_len` bytes are the name.
    Start {
        content: Range<usize>,
        name_len: usize,
        empty: bool,
    },
    /// An end tag's name.
    End(Range<usize>),
    /// A comment, processing instruction or XML declaration.
    Skip,
    Eof,
}

/// Names of the open elements: copied (a streaming window moves on), or ranges of a
/// window that stays put.
#[derive(Debug, Default)]
struct OpenNames {
    copied: String,
    starts: Vec<usize>,
    ranges: Vec<Range<usize>>,
    by_range: bool,
}

impl OpenNames {
    fn clear(&mut self, by_range: bool) {
        self.copied.clear();
        self.starts.clear();
        self.ranges.clear();
        self.by_range = by_range;
    }

    fn push(&mut self, window: &str, name: Range<usize>) {
        if self.by_range {
            self.ranges.push(name);
        } else {
            self.starts.push(self.copied.len());
            self.copied.push_str(&window[name]);
        }
    }

    fn top<'a>(&'a self, window: &'a str) -> Option<&'a str> {
        if self.by_range {
            self.ranges.last().map(|r| &window[r.clone()])
        } else {
            self.starts.last().map(|&s| &self.copied[s..])
        }
    }

    /// Closes the innermost element; false when none is open.
    fn pop(&mut self) -> bool {
        if self.by_range {
            return self.ranges.pop().is_some();
        }
        match self.starts.pop() {
            Some(start) => {
                self.copied.truncate(start);
                true
            }
            None => false,
        }
    }

    fn is_empty(&self) -> bool {
        self.starts.is_empty() && self.ranges.is_empty()
    }
}

/// A tag [`FastLexer::plain_tag`] read.
pub(super) enum PlainTag {
    Start { name: Range<usize>, empty: bool },
    End,
}

/// What [`lex`] found at a position.
enum Lexed {
    /// A token and where the next one starts.
    Tok(FastTok, usize),
    /// The window ends inside the token.
    More,
    /// Something quick-xml reads differently or rejects.
    Unsupported,
}

/// quick-xml's tokenizer for the common case: the token at `pos` of `b`, or what stops it.
fn lex(b: &[u8], pos: usize, eof: bool) -> Lexed {
    let cut = if eof { Lexed::Unsupported } else { Lexed::More };
    let Some(&first) = b.get(pos) else {
        return if eof {
            Lexed::Tok(FastTok::Eof, pos)
        } else {
            Lexed::More
        };
    };
    match first {
        b'<' => lex_markup(b, pos, cut),
        b'&' => match memchr::memchr3(b';', b'&', b'<', &b[pos + 1..]) {
            Some(i) if b[pos + 1 + i] == b';' => {
                Lexed::Tok(FastTok::Ref(pos + 1..pos + 1 + i), pos + 2 + i)
            }
            // A lone `&`: quick-xml's error.
            Some(_) => Lexed::Unsupported,
            None => cut,
        },
        _ => {
            // Text runs are short: eight bytes at a time beats a vectorized search here
            // (memchr2 took 1.8 times as long over the demo's users).
            match find2(b, pos, b'<', b'&') {
                Some(end) => Lexed::Tok(FastTok::Text(pos..end), end),
                None if eof => Lexed::Tok(FastTok::Text(pos..b.len()), b.len()),
                None => Lexed::More,
            }
        }
    }
}

fn lex_markup(b: &[u8], pos: usize, cut: Lexed) -> Lexed {
    let Some(&next) = b.get(pos + 1) else {
        return cut;
    };
    match next {
        b'!' => {
            if b.len() < pos + 4 {
                return cut;
            }
            if &b[pos..pos + 4] != b"<!--" {
                // CDATA, DOCTYPE or an error.
                return Lexed::Unsupported;
            }
            match memchr::memmem::find(&b[pos + 4..], b"-->") {
                Some(i) => Lexed::Tok(FastTok::Skip, pos + 4 + i + 3),
                None => cut,
            }
        }
        b'?' => {
            // The first `?>` after `<`, the `?` of `<?` included (quick-xml's PiParser).
            let mut from = pos + 2;
            while let Some(i) = memchr::memchr(b'>', &b[from..]) {
                let end = from + i;
                if b[end - 1] == b'?' {
                    if end - pos < 3 {
                        return Lexed::Unsupported;
                    }
                    return Lexed::Tok(FastTok::Skip, end + 1);
                }
                from = end + 1;
            }
            cut
        }
        b'/' => match tag_end(b, pos + 1) {
            Some(end) => {
                let content = &b[pos + 2..end];
                let len = content
                    .iter()
                    .rposition(|&c| !is_xml_space(c))
                    .map_or(0, |p| p + 1);
                Lexed::Tok(FastTok::End(pos + 2..pos + 2 + len), end + 1)
            }
            None => cut,
        },
        _ => match tag_end(b, pos + 1) {
            Some(end) => {
                let empty = b[end - 1] == b'/';
                let content = pos + 1..if empty { end - 1 } else { end };
                let name_len = b[content.clone()]
                    .iter()
                    .position(|&c| is_xml_space(c))
                    .unwrap_or(content.len());
                if name_len == 0 {
                    return Lexed::Unsupported;
                }
                Lexed::Tok(
                    FastTok::Start {
                        content,
                        name_len,
                        empty,
                    },
                    end + 1,
                )
            }
            None => cut,
        },
    }
}

/// The `>` ending a tag whose content starts at `from`, outside quoted values (quick-xml's
/// ElementParser).
fn tag_end(b: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let i = find3(b, at, b'>', b'"', b'\'')?;
        if b[i] == b'>' {
            return Some(i);
        }
        // A quoted value: `>` inside it does not end the tag.
        at = i + 1 + memchr::memchr(b[i], &b[i + 1..])? + 1;
    }
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `word` equal to `c` (and maybe in bytes above the first
/// one, which the callers never look at).
fn bytes_equal(word: u64, c: u8) -> u64 {
    let x = word ^ (LOW_BITS * u64::from(c));
    x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS
}

/// The first `a` or `b` in `bytes` from `from` on, eight bytes at a time.
fn find2(bytes: &[u8], from: usize, a: u8, b: u8) -> Option<usize> {
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let hits = bytes_equal(word, a) | bytes_equal(word, b);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes[at.min(bytes.len())..]
        .iter()
        .position(|&c| c == a || c == b)
        .map(|i| at + i)
}

/// The first `a`, `b` or `c` in `bytes` from `from` on, eight bytes at a time.
fn find3(bytes: &[u8], from: usize, a: u8, b: u8, c: u8) -> Option<usize> {
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let hits = bytes_equal(word, a) | bytes_equal(word, b) | bytes_equal(word, c);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes[at.min(bytes.len())..]
        .iter()
        .position(|&x| x == a || x == b || x == c)
        .map(|i| at + i)
}

/// Reads the attributes after a tag's name when they are plainly written, as quick-xml
/// reads them then: `key="value"` or `key='value'`, keys of name characters and unique,
/// values without references, `<`, tabs or line breaks (which quick-xml rewrites). False
/// for anything else, which `take_start` then reads.
pub(super) fn fill_plain_attrs(
    attrs: &mut Vec<(String, String)>,
    count: &mut usize,
    rest: &str,
) -> bool {
    let b = rest.as_bytes();
    *count = 0;
    let mut i = 0;
    loop {
        while b.get(i).is_some_and(|&c| is_xml_space(c)) {
            i += 1;
        }
        if i == b.len() {
            return true;
        }
        let key_start = i;
        while b
            .get(i)
            .is_some_and(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':'))
        {
            i += 1;
        }
        if i == key_start || b.get(i) != Some(&b'=') {
            return false;
        }
        let key = &rest[key_start..i];
        let Some(&quote @ (b'"' | b'\'')) = b.get(i + 1) else {
            return false;
        };
        let value_start = i + 2;
        let Some(len) = memchr::memchr(quote, &b[value_start..]) else {
            return false;
        };
        let value = &rest[value_start..value_start + len];
        if value
            .bytes()
            .any(|c| matches!(c, b'&' | b'<' | b'\t' | b'\n' | b'\r'))
            || attrs[..*count].iter().any(|(k, _)| k == key)
        {
            return false;
        }
        if *count == attrs.len() {
            attrs.push((String::new(), String::new()));
        }
        let slot = &mut attrs[*count];
        slot.0.clear();
        slot.0.push_str(key);
        slot.1.clear();
        slot.1.push_str(value);
        *count += 1;
        i = value_start + len + 1;
    }
}

/// Appends where `b`'s `\n` are to `out`, eight bytes at a time (lines are short: a
/// search per line costs more; `memchr_iter` took 1.5 times as long over the demo's users).
fn index_newlines(b: &[u8], out: &mut Vec<usize>) {
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        // Exact per byte (no borrow between lanes): high bit set where the byte is `\n`.
        let x = word ^ (LOW_BITS * u64::from(b'\n'));
        let mut hits = !(((x & !HIGH_BITS) + !HIGH_BITS) | x) & HIGH_BITS;
        while hits != 0 {
            out.push(at + (hits.trailing_zeros() / 8) as usize);
            hits &= hits - 1;
        }
        at += 8;
    }
    for (i, &c) in chunks.remainder().iter().enumerate() {
        if c == b'\n' {
            out.push(at + i);
        }
    }
}

/// The `\n` in `b`: 64 bytes at a time in byte lanes (vectorized), then one by one (memchr's
/// count took 1.4 times as long over the demo's users: XML lines are short).
fn count_newlines(b: &[u8]) -> usize {
    let mut chunks = b.chunks_exact(64);
    let mut lines = 0;
    for chunk in &mut chunks {
        let n = chunk
            .iter()
            .fold(0u8, |n, &c| n.wrapping_add(u8::from(c == b'\n')));
        lines += usize::from(n);
    }
    lines + chunks.remainder().iter().filter(|&&c| c == b'\n').count()
}

/// The fast lexer's state: the input, a window of it as checked UTF-8, the line count and
/// the open elements.
pub(super) struct FastLexer<R> {
    input: R,
    /// The input from offset `base` on.
    pub(super) window: String,
    /// One read of the input.
    scratch: Vec<u8>,
    /// The last read's bytes that do not complete a character yet.
    pending: Vec<u8>,
    pub(super) base: u64,
    /// Where the next token starts in `window`.
    pub(super) pos: usize,
    pub(super) eof: bool,
    /// A read failed: the document is quick-xml's.
    failed: bool,
    /// Nothing lexed yet (a byte-order mark is quick-xml's to handle).
    fresh: bool,
    /// The last token is a piece of blank text (known to be blank).
    pub(super) blank_piece: bool,
    /// The line, and the offset its first byte has, at `window[counted]`.
    line: u64,
    line_start: u64,
    counted: usize,
    /// Names of the open elements, as quick-xml keeps them.
    open: OpenNames,
    /// With a whole input (a parser's user): where its `\n` are, and how many lie before
    /// `counted`. Positions then cost a comparison or two per token.
    newlines: Vec<usize>,
    newlines_before: usize,
    indexed: bool,
    /// Document offset of the first byte the window keeps whatever the tokens need
    /// ([`UserSplitter::hold_from`]).
    hold: Option<u64>,
}

impl<R: Read> FastLexer<R> {
    pub(super) fn new(input: R) -> Self {
        FastLexer {
            input,
            window: String::new(),
            scratch: Vec::new(),
            pending: Vec::new(),
            base: 0,
            pos: 0,
            eof: false,
            failed: false,
            fresh: true,
            blank_piece: false,
            line: 1,
            line_start: 0,
            counted: 0,
            open: OpenNames::default(),
            newlines: Vec::new(),
            newlines_before: 0,
            indexed: false,
            hold: None,
        }
    }

    /// Takes `xml` as the whole input, found at `at` of its document.
    fn reset(&mut self, xml: &str, at: &RawUser) {
        self.window.clear();
        self.window.push_str(xml);
        self.base = at.start_offset;
        self.pos = 0;
        self.eof = true;
        self.fresh = false;
        self.line = at.position.line;
        self.line_start = at.start_offset.saturating_sub(at.position.column - 1);
        self.counted = 0;
        // The window stays put until the next user: names can be ranges of it.
        self.open.clear(true);
        self.newlines.clear();
        index_newlines(self.window.as_bytes(), &mut self.newlines);
        self.newlines_before = 0;
        self.indexed = true;
    }

    /// The next token and where the one after it starts; `None` when quick-xml must read.
    pub(super) fn next(&mut self) -> Option<(FastTok, usize)> {
        if self.failed {
            return None;
        }
        if self.fresh {
            while self.window.len() < 3 && !self.eof {
                self.refill(self.pos).ok()?;
            }
            if self.window.starts_with('\u{FEFF}') {
                return None;
            }
            self.fresh = false;
        }
        loop {
            match lex(self.window.as_bytes(), self.pos, self.eof) {
                Lexed::Tok(tok, end) => return Some((tok, end)),
                Lexed::Unsupported => return None,
                Lexed::More
                    if self.window.len() - self.pos > BLANK_PIECE
                        && crate::chars::is_xml_whitespace(&self.window.as_bytes()[self.pos..]) =>
                {
                    // Blank text longer than a piece: handed out so far, the window moves on.
                    self.blank_piece = true;
                    let end = self.window.len();
                    return Some((FastTok::Text(self.pos..end), end));
                }
                Lexed::More if self.window.len() - self.pos > MAX_WINDOW => return None,
                Lexed::More => self.refill(self.pos).ok()?,
            }
        }
    }

    /// Drops the window before `keep` and reads once more. `Err` when quick-xml must read
    /// (an I/O error, bytes that are not UTF-8); every later call fails too.
    fn refill(&mut self, keep: usize) -> Result<(), ()> {
        if self.failed {
            return Err(());
        }
        let read = self.read_more(keep);
        self.failed = read.is_err();
        read
    }

    fn read_more(&mut self, keep: usize) -> Result<(), ()> {
        let keep = match self.hold {
            Some(hold) => {
                let held = usize::try_from(hold.saturating_sub(self.base)).unwrap_or(usize::MAX);
                if self.window.len().saturating_sub(held) > MAX_HELD {
                    return Err(());
                }
                keep.min(held)
            }
            None => keep,
        };
        // Dropping the read part moves the rest: only once it is most of the window.
        if keep > 0 && keep >= self.window.len() / 2 {
            if keep > self.counted {
                self.count_to(keep);
            }
            self.window.drain(..keep);
            self.base += keep as u64;
            self.pos -= keep;
            self.counted -= keep;
        }
        if self.eof {
            return Ok(());
        }
        self.scratch.resize(READ_SIZE, 0);
        let n = loop {
            match self.input.read(&mut self.scratch[..READ_SIZE]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        };
        if n == 0 {
            self.eof = true;
            return if self.pending.is_empty() {
                Ok(())
            } else {
                Err(())
            };
        }
        let bytes = if self.pending.is_empty() {
            &self.scratch[..n]
        } else {
            self.pending.extend_from_slice(&self.scratch[..n]);
            &self.pending[..]
        };
        // Validated once; only a read that ends inside a character validates its head again.
        let (text, rest) = match simdutf8::compat::from_utf8(bytes) {
            Ok(text) => (text, &[][..]),
            Err(e) if e.error_len().is_none() => {
                let (text, rest) = bytes.split_at(e.valid_up_to());
                (std::str::from_utf8(text).map_err(|_| ())?, rest)
            }
            Err(_) => return Err(()),
        };
        self.window.push_str(text);
        let rest = rest.to_vec();
        self.pending = rest;
        Ok(())
    }

    /// Counts the lines up to `window[to]`.
    fn count_to(&mut self, to: usize) {
        let span = &self.window.as_bytes()[self.counted..to];
        let lines = count_newlines(span);
        if lines > 0 {
            self.line += lines as u64;
            let last = memchr::memrchr(b'\n', span).unwrap_or_default();
            self.line_start = self.base + (self.counted + last + 1) as u64;
        }
        self.counted = to;
    }

    /// Line and column of `window[at]` (at or after the last position asked for).
    pub(super) fn position(&mut self, at: usize) -> Position {
        if self.indexed {
            let first = self.newlines_before;
            let mut before = first;
            while self.newlines.get(before).is_some_and(|&n| n < at) {
                before += 1;
            }
            if before > first {
                self.line += (before - first) as u64;
                self.line_start = self.base + self.newlines[before - 1] as u64 + 1;
                self.newlines_before = before;
            }
            self.counted = at;
        } else {
            self.count_to(at);
        }
        Position {
            line: self.line,
            column: self.base + at as u64 - self.line_start + 1,
        }
    }

    /// Blank text, then a start tag without attributes or the end tag of the element just
    /// opened: moves past them and returns the tag and where it starts. `None` for anything
    /// else (the tokens then say what it is).
    pub(super) fn plain_tag(&mut self) -> Option<(PlainTag, usize)> {
        if self.failed || self.fresh {
            return None;
        }
        let b = self.window.as_bytes();
        let mut at = self.pos;
        while b.get(at).is_some_and(|&c| is_xml_space(c)) {
            at += 1;
        }
        if *b.get(at)? != b'<' {
            return None;
        }
        match *b.get(at + 1)? {
            b'/' => {
                let name = self.open.top(&self.window)?.as_bytes();
                let tag = b.get(at..at + name.len() + 3)?;
                if !same_bytes(&tag[2..2 + name.len()], name) || tag[2 + name.len()] != b'>' {
                    return None;
                }
                self.pos = at + tag.len();
                self.open.pop();
                Some((PlainTag::End, at))
            }
            b'!' | b'?' => None,
            _ => {
                let end = find3(b, at + 1, b'>', b' ', b'"')?;
                if b[end] != b'>'
                    || b[at + 1..end]
                        .iter()
                        .any(|&c| is_xml_space(c) || c == b'\'')
                {
                    return None;
                }
                let empty = b[end - 1] == b'/';
                let name = at + 1..if empty { end - 1 } else { end };
                if name.is_empty() {
                    return None;
                }
                if !empty {
                    self.open(name.clone());
                }
                self.pos = end + 1;
                Some((PlainTag::Start { name, empty }, at))
            }
        }
    }

    /// A text value and the end tag of the element just opened, when the text holds no
    /// reference or carriage return: moves past both and returns the text and where the
    /// end tag starts.
    pub(super) fn plain_leaf(&mut self) -> Option<(Range<usize>, usize)> {
        if self.failed || self.fresh {
            return None;
        }
        let b = self.window.as_bytes();
        let start = self.pos;
        // A `\r` before the end is what quick-xml rewrites: found in the same pass.
        let lt = find3(b, start, b'<', b'&', b'\r')?;
        let name = self.open.top(&self.window)?.as_bytes();
        let tag = b.get(lt..lt + name.len() + 3)?;
        let closes = tag[1] == b'/'
            && same_bytes(&tag[2..2 + name.len()], name)
            && tag[2 + name.len()] == b'>';
        if b[lt] != b'<' || !closes {
            return None;
        }
        self.pos = lt + tag.len();
        self.open.pop();
        Some((start..lt, lt))
    }

    pub(super) fn open(&mut self, name: Range<usize>) {
        self.open.push(&self.window, name);
    }

    /// Closes the innermost element; false when `name` is not its name (quick-xml's error).
    pub(super) fn close(&mut self, name: Range<usize>) -> bool {
        let same = self.open.top(&self.window) == Some(&self.window[name]);
        self.open.pop() && same
    }

    /// Moves past the `</user>` that ends the user element starting at `window[start]`,
    /// whose start tag was just read; returns the end's index. `None` when there is none
    /// within [`MAX_WINDOW`] (quick-xml must read). An element named `user` inside the user,
    /// or `</user>` in a comment, cuts it short: [`UserParser`] then refuses it.
    fn skip_user(&mut self, mut start: usize) -> Option<usize> {
        let mut from = self.pos;
        loop {
            if let Some(i) = USER_END.find(&self.window.as_bytes()[from..]) {
                let end = from + i + b"</user>".len();
                self.pos = end;
                // The user's start tag opened it; its end closes it.
                return self.open.pop().then_some(end);
            }
            if self.eof || self.window.len() - start > MAX_WINDOW {
                return None;
            }
            let searched = self.window.len().saturating_sub(b"</user>".len() - 1);
            let before = self.base;
            self.refill(start).ok()?;
            let moved = (self.base - before) as usize;
            start -= moved;
            from = searched - moved;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{find2, find3, same_bytes};

    /// Bytes of tags and text, with every byte the searches look for.
    fn markup_bytes() -> impl Strategy<Value = Vec<u8>> {
        let atom = prop::sample::select(vec![
            "<",
            ">",
            "/",
            "\"",
            "'",
            "&",
            ";",
            " ",
            "\t",
            "\r",
            "\n",
            "\r\n",
            "a",
            "user",
            "é",
            "名",
            "=",
            "</a>",
            "<a>",
            "abcdefghij",
        ]);
        prop::collection::vec(atom, 0..40).prop_map(|atoms| atoms.concat().into_bytes())
    }

    /// Where `plain_leaf` found a value's end, before it looked for `\r` in the same pass.
    fn leaf_end_oracle(b: &[u8], start: usize) -> Option<usize> {
        let lt = find2(b, start, b'<', b'&')?;
        (b[lt] == b'<' && !b[start..lt].contains(&b'\r')).then_some(lt)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn a_value_ends_where_it_ended_before(b in markup_bytes(), from in 0usize..48) {
            let from = from.min(b.len());
            let leaf_end = find3(&b, from, b'<', b'&', b'\r').filter(|&lt| b[lt] == b'<');
            prop_assert_eq!(leaf_end, leaf_end_oracle(&b, from));
        }

        #[test]
        fn same_bytes_is_equality(a in markup_bytes(), b in markup_bytes(), cut in 0usize..48) {
            prop_assert_eq!(same_bytes(&a, &b), a == b);
            let cut = cut.min(a.len());
            prop_assert!(same_bytes(&a[..cut], &a[..cut]));
            let other = &b[..cut.min(b.len())];
            prop_assert_eq!(same_bytes(&a[..cut], other), a[..cut] == *other);
        }
    }
}
