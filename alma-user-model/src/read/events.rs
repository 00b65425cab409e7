//! Where [`UserReader`] gets its events: quick-xml behind a line counter, or the fast
//! lexer, as tokens with their text, name and attributes left in the reader's fields.

use std::io::{self, BufRead, Read};

use quick_xml::XmlVersion;
use quick_xml::events::{BytesRef, BytesStart, BytesText, Event};

use super::fast::{FastLexer, FastTok, READ_SIZE, fill_plain_attrs};
use super::{ReadError, UserReader};
use crate::finding::{Finding, Position, Severity};

/// Where the tokens come from: quick-xml (any input), or the fast lexer (documents and
/// users as the toolkit and most SIS programs write them; see [`UserSplitter`]).
pub(super) enum Lex<R> {
    Quick(Box<quick_xml::Reader<LineCounter<R>>>),
    Fast(Box<FastLexer<R>>),
}

/// What the next event was, with its data left in the reader's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tok {
    Start,
    End,
    Text,
    Eof,
}

impl<R: BufRead> UserReader<R> {
    // ---- events -------------------------------------------------------------------------

    /// Reads the next event that matters. Text (with entity and character references
    /// resolved and CDATA) is appended to `self.text`; a start tag's name and attributes are
    /// left in `self.name` / `self.attrs`.
    pub(super) fn next_tok(&mut self) -> Result<Tok, ReadError> {
        self.next_tok_in(false)
    }

    /// `next_tok` for a caller to which text of whitespace only means nothing (it checks
    /// text for being blank and drops it): the fast lexer may pass such text over.
    pub(super) fn next_tok_in(&mut self, blank_text_ignored: bool) -> Result<Tok, ReadError> {
        if matches!(self.lex, Lex::Fast(_)) {
            return self.next_tok_fast(blank_text_ignored);
        }
        loop {
            let Lex::Quick(xml) = &mut self.lex else {
                unreachable!("the fast lexer returned above");
            };
            // Whitespace that means nothing here is skipped as it streams past, never held:
            // a gigabyte of it between elements costs no memory.
            xml.config_mut().trim_text_start = blank_text_ignored;
            let start = xml.buffer_position();
            xml.get_mut().mark(start);
            let (mut line, mut column) = xml.get_ref().line_column(start);
            self.pos = Position { line, column };
            self.offset = start;
            // The event borrows the buffer, taken out of `self` for the handlers below.
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            let event = xml.read_event_into(&mut buf);
            if blank_text_ignored && !matches!(event, Ok(Event::Text(_))) {
                // Markup after skipped whitespace starts where its first byte is (text keeps
                // the start of the whitespace, as the fast lexer reports it).
                let solid = match event {
                    Ok(Event::Eof) => xml.buffer_position(),
                    _ => xml.get_ref().first_solid.unwrap_or(start),
                };
                if solid > start {
                    (line, column) = xml.get_ref().line_column(solid);
                    self.pos = Position { line, column };
                    self.offset = solid;
                }
            }
            let tok = match event {
                Err(e) => Err(self.xml_error(e)),
                Ok(Event::Start(e)) => self.take_start(&e, false, start).map(|()| Some(Tok::Start)),
                Ok(Event::Empty(e)) => self.take_start(&e, true, start).map(|()| Some(Tok::Start)),
                Ok(Event::End(_)) => Ok(Some(Tok::End)),
                Ok(Event::Text(t)) => {
                    self.text.push_str(&t.xml10_content());
                    Ok(Some(Tok::Text))
                }
                Ok(Event::CData(t)) => {
                    self.text.push_str(&t.xml10_content());
                    Ok(Some(Tok::Text))
                }
                Ok(Event::GeneralRef(r)) => self.take_ref(&r, start).map(|()| Some(Tok::Text)),
                Ok(Event::DocType(_)) => {
                    self.document_findings.push(
                        Finding::new(
                            "E-DOCTYPE",
                            Severity::Error,
                            "the document has a <!DOCTYPE>; it is not processed and Alma's \
                             files have none: remove it",
                        )
                        .at(line, column),
                    );
                    Ok(None)
                }
                Ok(Event::Eof) => Ok(Some(Tok::Eof)),
                Ok(Event::Comment(_) | Event::Decl(_) | Event::PI(_)) => Ok(None),
            };
            self.buf = buf;
            if let Some(tok) = tok? {
                return Ok(tok);
            }
        }
    }

    /// `next_tok` with the fast lexer: the same tokens, positions and findings as quick-xml
    /// gives, or [`Self::unsupported`].
    fn next_tok_fast(&mut self, blank_text_ignored: bool) -> Result<Tok, ReadError> {
        loop {
            let Lex::Fast(f) = &mut self.lex else {
                unreachable!("called with the fast lexer");
            };
            let Some((tok, end)) = f.next() else {
                return Err(self.unsupported());
            };
            let piece = std::mem::take(&mut f.blank_piece);
            if blank_text_ignored
                && let FastTok::Text(text) = &tok
                && (piece || crate::chars::is_xml_whitespace(&f.window.as_bytes()[text.clone()]))
            {
                if self.blank_run.is_none() && end == f.window.len() && !f.eof {
                    // A long run handed out in pieces: text after it starts where it did,
                    // as quick-xml reports it.
                    let start = f.pos;
                    self.blank_run = Some((f.position(start), f.base + start as u64));
                }
                f.pos = end;
                continue;
            }
            let run = self.blank_run.take();
            let start = f.pos;
            self.pos = f.position(start);
            self.offset = f.base + start as u64;
            if let (Some((pos, offset)), FastTok::Text(_)) = (run, &tok) {
                self.pos = pos;
                self.offset = offset;
            }
            f.pos = end;
            match tok {
                FastTok::Skip => continue,
                FastTok::Eof => return Ok(Tok::Eof),
                FastTok::End(name) => {
                    if f.close(name) {
                        return Ok(Tok::End);
                    }
                    return Err(self.unsupported());
                }
                FastTok::Text(text) => {
                    let text = &f.window[text];
                    if text.contains('\r') {
                        self.text
                            .push_str(&BytesText::from_escaped(text).xml10_content());
                    } else {
                        self.text.push_str(text);
                    }
                    return Ok(Tok::Text);
                }
                FastTok::Ref(name) => {
                    // The handler needs `self`: the window is lent to it.
                    let window = std::mem::take(&mut f.window);
                    let done = self.take_ref(&BytesRef::new(&window[name]), self.offset);
                    self.fast_return(window);
                    return done.map(|()| Tok::Text).map_err(|_| self.unsupported());
                }
                FastTok::Start {
                    content,
                    name_len,
                    empty,
                } => {
                    let name = content.start..content.start + name_len;
                    if !empty {
                        f.open(name.clone());
                    }
                    let rest = &f.window[content.start + name_len..content.end];
                    if fill_plain_attrs(&mut self.attrs, &mut self.attr_count, rest) {
                        // Plain attributes (or none): what `take_start` does with them.
                        self.empty = empty;
                        self.name.clear();
                        self.name.push_str(&f.window[name]);
                        return Ok(Tok::Start);
                    }
                    let window = std::mem::take(&mut f.window);
                    let tag = BytesStart::from_content(&window[content], name_len);
                    let done = self.take_start(&tag, empty, self.offset);
                    drop(tag);
                    self.fast_return(window);
                    return done.map(|()| Tok::Start).map_err(|_| self.unsupported());
                }
            }
        }
    }

    /// Gives the fast lexer its window back.
    fn fast_return(&mut self, window: String) {
        if let Lex::Fast(f) = &mut self.lex {
            f.window = window;
        }
    }

    /// Marks the document as one for quick-xml; the error returned stands for that.
    fn unsupported(&mut self) -> ReadError {
        self.unsupported = true;
        self.malformed("not read by the fast lexer")
    }

    /// A start tag: its name and attributes into `self.name` / `self.attrs`.
    fn take_start(&mut self, e: &BytesStart<'_>, empty: bool, start: u64) -> Result<(), ReadError> {
        let Position { line, column } = self.pos;
        self.empty = empty;
        self.name.clear();
        self.name.push_str(e.name().as_ref());
        self.attr_count = 0;
        for attr in e.attributes() {
            let attr = match attr {
                Ok(a) => a,
                Err(err) => {
                    let (line, column) = (self.pos.line, self.pos.column);
                    return Err(ReadError::Malformed {
                        line,
                        column,
                        offset: start,
                        message: err.to_string(),
                    });
                }
            };
            let key = attr.key.as_ref();
            let mut unknown_entity = false;
            let resolve = |entity: &str| {
                let known = quick_xml::escape::resolve_predefined_entity(entity);
                unknown_entity |= known.is_none();
                Some(known.unwrap_or_default())
            };
            let value = match attr.normalized_value_with(XmlVersion::Implicit1_0, 1, resolve) {
                Ok(v) => v,
                Err(err) => {
                    return Err(ReadError::Malformed {
                        line,
                        column,
                        offset: start,
                        message: format!("attribute {key:?}: {err}"),
                    });
                }
            };
            if unknown_entity {
                let field = match self.path.as_str() {
                    "" => format!("{}/@{key}", self.name),
                    path => format!("{path}/{}/@{key}", self.name),
                };
                self.findings.push(
                    Finding::new(
                        "E-ENTITY",
                        Severity::Error,
                        format!(
                            "attribute {key:?} refers to an entity other than the \
                             five predefined ones; it is not expanded"
                        ),
                    )
                    .at_field(field)
                    .at(line, column),
                );
            }
            // Reuse the slots' strings: no allocation per attribute.
            if self.attr_count == self.attrs.len() {
                self.attrs.push((String::new(), String::new()));
            }
            let slot = &mut self.attrs[self.attr_count];
            slot.0.clear();
            slot.0.push_str(key);
            slot.1.clear();
            slot.1.push_str(&value);
            self.attr_count += 1;
        }
        Ok(())
    }

    /// A character or entity reference in text: resolved into `self.text`.
    fn take_ref(&mut self, r: &BytesRef<'_>, start: u64) -> Result<(), ReadError> {
        let Position { line, column } = self.pos;
        if r.is_char_ref() {
            match r.resolve_char_ref() {
                Ok(Some(c)) => self.text.push(c),
                _ => {
                    return Err(ReadError::Malformed {
                        line,
                        column,
                        offset: start,
                        message: format!("&{}; is not a valid character reference", &**r),
                    });
                }
            }
        } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(r) {
            self.text.push_str(s);
        } else {
            let name = r.to_string();
            self.findings.push(
                Finding::new(
                    "E-ENTITY",
                    Severity::Error,
                    format!(
                        "&{name}; is not one of the five predefined entities; it is \
                         not expanded"
                    ),
                )
                .at_field(self.path.clone())
                .at(line, column),
            );
        }
        Ok(())
    }

    fn xml_error(&self, e: quick_xml::Error) -> ReadError {
        let Lex::Quick(xml) = &self.lex else {
            return self.malformed(&e.to_string());
        };
        let offset = xml.error_position().max(self.offset);
        let (line, column) = xml.get_ref().line_column(offset);
        match e {
            quick_xml::Error::Io(io) => ReadError::Io {
                line,
                source: io::Error::new(io.kind(), io.to_string()),
            },
            quick_xml::Error::Encoding(quick_xml::encoding::EncodingError::Utf8(utf8)) => {
                // The bad byte lies `valid_up_to` bytes into the event that holds it.
                let offset = self.offset + utf8.valid_up_to() as u64;
                let (line, column) = xml.get_ref().line_column(offset);
                ReadError::NotUtf8 {
                    line,
                    column,
                    offset,
                }
            }
            other => ReadError::Malformed {
                line,
                column,
                offset,
                message: other.to_string(),
            },
        }
    }

    pub(super) fn malformed(&self, message: &str) -> ReadError {
        ReadError::Malformed {
            line: self.pos.line,
            column: self.pos.column,
            offset: self.offset,
            message: message.to_owned(),
        }
    }

    pub(super) fn attr(&self, key: &str) -> Option<&str> {
        self.attrs[..self.attr_count]
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Newline offsets [`LineCounter`] keeps for one event before folding the older half.
const MAX_PENDING_NEWLINES: usize = 1 << 16;

/// A `BufRead` that counts lines in what the XML parser consumes, so byte offsets can be
/// turned into line and column. It keeps the newline offsets seen since the last event
/// boundary only, so memory stays bounded by one event.
pub(super) struct LineCounter<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    consumed: u64,
    /// Line number and line start offset at the last mark.
    line: u64,
    line_start: u64,
    /// Offsets of newlines consumed at or after the last mark.
    newlines: Vec<u64>,
    /// The first byte consumed since the last mark that is not whitespace.
    first_solid: Option<u64>,
}

impl<R: Read> LineCounter<R> {
    pub(super) fn new(inner: R) -> Self {
        LineCounter {
            inner,
            buf: vec![0; READ_SIZE].into_boxed_slice(),
            pos: 0,
            filled: 0,
            consumed: 0,
            line: 1,
            line_start: 0,
            newlines: Vec::new(),
            first_solid: None,
        }
    }

    /// Forgets newlines before `offset`, folding them into the base line, and starts looking
    /// for the next byte that is not whitespace.
    fn mark(&mut self, offset: u64) {
        self.first_solid = None;
        let before = self.newlines.partition_point(|&n| n < offset);
        if before > 0 {
            self.line += before as u64;
            self.line_start = self.newlines[before - 1] + 1;
            self.newlines.drain(..before);
        }
    }

    /// 1-based line and byte column of `offset` (at or after the last mark).
    fn line_column(&self, offset: u64) -> (u64, u64) {
        let before = self.newlines.partition_point(|&n| n < offset);
        let line_start = if before > 0 {
            self.newlines[before - 1] + 1
        } else {
            self.line_start
        };
        (
            self.line + before as u64,
            offset.saturating_sub(line_start) + 1,
        )
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for LineCounter<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.filled {
            self.filled = self.inner.read(&mut self.buf)?;
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, amount: usize) {
        let amount = amount.min(self.filled - self.pos);
        if self.first_solid.is_none()
            && let Some(i) = self.buf[self.pos..self.pos + amount]
                .iter()
                .position(|&b| !is_xml_space(b))
        {
            self.first_solid = Some(self.consumed + i as u64);
        }
        let consumed = self.consumed;
        self.newlines.extend(
            memchr::memchr_iter(b'\n', &self.buf[self.pos..self.pos + amount])
                .map(|i| consumed + i as u64),
        );
        if self.newlines.len() > MAX_PENDING_NEWLINES {
            // One event with this many lines (whitespace the reader skips): positions are
            // asked for at its end, so the older half folds into the base line.
            let half = self.newlines.len() / 2;
            self.line += half as u64;
            self.line_start = self.newlines[half - 1] + 1;
            self.newlines.drain(..half);
        }
        self.pos += amount;
        self.consumed += amount as u64;
    }
}

pub(super) fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}
