//! The lenient streaming reader: `<users>` (or `<userRecords>`) documents from any
//! `io::BufRead`, one [`User`] at a time, each with the deviations from `rest_user.xsd` that a
//! real feed contains reported as [`Finding`]s instead of failures.
//!
//! Memory does not grow with the number of users: the reader keeps one user, one XML event
//! and the findings of the current user. Only malformed XML (and input that is not UTF-8) is
//! an error ([`ReadError`], with line and column); everything Alma's loader tolerates or the
//! XSD rejects in a well-formed document is a finding.
//!
//! Entities are never expanded beyond the five predefined ones and character references; a
//! `<!DOCTYPE>` is reported and not processed.
//!
//! # Finding codes
//!
//! The prefix is the severity: `E-` [`Severity::Error`] (the XSD rejects it, or Alma rejects
//! the record), `W-` [`Severity::Warning`], `I-` [`Severity::Info`].
//!
//! | code | meaning |
//! |---|---|
//! | `E-ROOT-NAME` | the root element is neither `<users>` nor `<userRecords>` |
//! | `W-ROOT-NAME` | the root element is `<userRecords>` (MIT's production feeds: Alma loads it, the XSD does not declare it) |
//! | `E-DOCTYPE` | the document has a `<!DOCTYPE>`; it is not processed |
//! | `E-ENTITY` | a reference to an entity other than the five predefined ones; it is not expanded and is dropped from the value |
//! | `E-UNKNOWN-ELEMENT` | an element `rest_user.xsd` does not declare at that place; skipped |
//! | `W-SKIPPED-ELEMENT` | `pref_full_name` in a user: not in the XSD, but Alma skips it (Berkeley's production feeds) |
//! | `E-UNKNOWN-ATTRIBUTE` | an attribute the XSD does not declare on that element (namespace declarations and `xsi:schemaLocation` / `xsi:noNamespaceSchemaLocation` are allowed anywhere, as a validator allows them) |
//! | `E-NAMESPACE` | `xmlns="..."` puts elements in a namespace; the schema's elements have none |
//! | `E-DUPLICATE-ELEMENT` | an element that may occur once occurs again; the first one is kept |
//! | `E-SCHEMA-ORDER` | `contact_info`'s children (an `xs:sequence`) are not in the order addresses, emails, phones |
//! | `E-SCHEMA-TYPE` | a value is not of the schema type (an `xs:date`, `xs:dateTime`, `xs:boolean` or number as Java's validator reads them, see [`schema`](mod@crate::schema)), text where only elements may appear, elements inside a text value |
//! | `W-EMPTY-VALUE` | an element of such a type is empty (or whitespace): Alma reads it as absent (MIT's and Berkeley's production feeds), a validator rejects it |
//! | `E-TOO-LONG` | a value (of an element the SIS load ignores, or a `desc`) longer than the schema allows, counted in UTF-16 units as Java counts |
//! | `E-SCHEMA-ORDER` | (also) children of a sequence inside an ignored element out of order |
//! | `E-MANDATORY` | a required `user_viewable` / `popup_note` is missing from a `user_note`, or a required child inside an ignored element (other required children are checked by [`validate`](crate::validate())) |
//! | `E-CODE-VALUE` | `record_type`, `account_type` or `status` is not one of Alma's codes |
//! | `E-CASE` | as `E-CODE-VALUE`, but the code differs from an allowed one only in case |
//! | `W-IGNORED-ELEMENT` | an output-only element, or one the SIS load ignores (`full_name`, `password`, `status_date`, `user_roles`, `proxy_for_users`, `is_researcher`, `researcher`, ...); not loaded, but validated against the schema |
//! | `W-RECORD-COUNT` | the root's `total_record_count` differs from the number of users read |
//! | `I-EMPTY-ELEMENT` | an optional text or code element is present but empty (e.g. `<user_group desc=""></user_group>`, `<emails/>`); read as absent |
//! | `I-DATE-NO-Z` | an `xs:date` or `xs:dateTime` without a time zone (valid; Ex Libris writes `YYYY-MM-DDZ`) |
//! | `I-ORDER` | the children of an `xs:all` element are valid but not in the schema's declaration order |
//!
//! ```
//! use alma_user_model::UserReader;
//!
//! let xml = "<users><user><primary_id>jdoe</primary_id><status_date/></user></users>";
//! let mut reader = UserReader::new(xml.as_bytes());
//! let read = reader.next_user()?.expect("one user");
//! assert_eq!(read.user.primary_id, "jdoe");
//! assert_eq!(read.findings[0].code, "W-EMPTY-VALUE");
//! assert!(reader.next_user()?.is_none());
//! # Ok::<(), alma_user_model::ReadError>(())
//! ```
//!
//! # Reading on several threads
//!
//! The toolkit's own check reads a document on several threads: a splitter cuts it into
//! its users' XML and parsers read each of them, with exactly the users, positions and
//! findings [`UserReader`] gives. They use a fast lexer for the XML that the toolkit and
//! most SIS programs write (its API is hidden: it is the toolkit's, not a stable one); a
//! document with anything else in it is left to [`UserReader`], which stays the reference.

use std::fmt::Write as _;
use std::io::{self, BufRead, Read};

use chrono::{DateTime, NaiveDate, Utc};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesRef, BytesStart, BytesText, Event};

use crate::finding::{Finding, Position, Severity};
use crate::model::{
    AccountType, Address, CodeValue, Email, LibraryNotice, Phone, RecordType, User, UserBlock,
    UserIdentifier, UserNote, UserStatistic, UserStatus,
};
use crate::schema::{self, Child};

mod fast;

use fast::{FastLexer, FastTok, PlainTag, fill_plain_attrs};
#[doc(hidden)]
pub use fast::{READ_SIZE, RawUser, Split, UserParser, UserSplitter};

/// Why a document could not be read. Everything short of these is a [`Finding`].
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The document is not well-formed XML.
    #[error("line {line}, column {column}: the XML is not well-formed: {message}")]
    Malformed {
        /// 1-based line of the offending markup.
        line: u64,
        /// 1-based column (in bytes).
        column: u64,
        /// Byte offset from the start of the input.
        offset: u64,
        /// What the parser found.
        message: String,
    },
    /// The input is not UTF-8 (Alma: "Invalid byte 1 of 1-byte UTF-8 sequence").
    #[error("line {line}, column {column}: the input is not UTF-8; write the file as UTF-8")]
    NotUtf8 {
        /// 1-based line near the offending bytes.
        line: u64,
        /// 1-based column (in bytes).
        column: u64,
        /// Byte offset from the start of the input.
        offset: u64,
    },
    /// The input could not be read.
    #[error("could not read the input near line {line}")]
    Io {
        /// The line reached when reading failed.
        line: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// One user as read, with where it starts and what deviates from the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadUser {
    /// The user, with every value the model can hold.
    pub user: User,
    /// Line and column of the `<` of `<user>`.
    pub position: Position,
    /// Byte offset of the `<` of `<user>` from the start of the input.
    pub start_offset: u64,
    /// Deviations found while reading, in document order, each with the user's primary id,
    /// field path and position.
    pub findings: Vec<Finding>,
    /// Where each segment starts (address, email, phone, identifier, block, note, statistic,
    /// ...), by the field path record validation gives it (`contact_info/emails/email[0]`):
    /// a finding about a segment is reported at the segment, not at the user.
    pub segments: Vec<SegmentAt>,
}

/// Where one segment of a user starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentAt {
    /// The list's item path without the index, e.g. `contact_info/emails/email`.
    pub list: &'static str,
    /// The item's index in the list.
    pub index: usize,
    /// Line and column of the item's start tag.
    pub position: Position,
}

impl SegmentAt {
    /// Whether `field` (a validation field path) lies in this segment.
    pub fn holds(&self, field: &str) -> bool {
        let Some(rest) = field.strip_prefix(self.list) else {
            return false;
        };
        let Some(rest) = rest.strip_prefix('[') else {
            return false;
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        rest[..digits].parse() == Ok(self.index)
            && matches!(rest.as_bytes().get(digits..digits + 1), Some(b"]"))
            && matches!(rest.as_bytes().get(digits + 1), None | Some(b'/'))
    }
}

/// The item paths of the lists record validation reports on, by item element.
fn segment_list(item: &str) -> Option<&'static str> {
    Some(match item {
        "address" => "contact_info/addresses/address",
        "email" => "contact_info/emails/email",
        "phone" => "contact_info/phones/phone",
        "user_identifier" => "user_identifiers/user_identifier",
        "user_block" => "user_blocks/user_block",
        "user_note" => "user_notes/user_note",
        "user_statistic" => "user_statistics/user_statistic",
        "rs_library" => "rs_libraries/rs_library",
        "library_notice" => "library_notices/library_notice",
        _ => return None,
    })
}

/// Reads users one at a time from a `<users>` document; see the [module docs](self).
///
/// After the last user, [`document_findings`](Self::document_findings) holds the findings
/// about the document itself (root name, DOCTYPE, anything outside `<user>`).
pub struct UserReader<R: BufRead> {
    lex: Lex<R>,
    /// quick-xml's event buffer.
    buf: Vec<u8>,
    /// Element name of the last start tag.
    name: String,
    /// Attributes of the last start tag: `attrs[..attr_count]` are live.
    attrs: Vec<(String, String)>,
    attr_count: usize,
    /// The last start tag was `<x/>`.
    empty: bool,
    /// Text collected since the last tag.
    text: String,
    /// Position of the last event's start.
    pos: Position,
    offset: u64,
    path: String,
    findings: Vec<Finding>,
    document_findings: Vec<Finding>,
    state: DocState,
    total_record_count: Option<i64>,
    users_read: u64,
    /// Prefixes bound to the XML Schema instance namespace (for `xsi:` schema-location
    /// hints, which a validator ignores).
    xsi_prefixes: Vec<String>,
    /// The fast lexer met something only quick-xml reads exactly; the error it returned
    /// means "read this document with [`UserReader`]", not a fault of the document.
    unsupported: bool,
    /// Where a long run of blank text the fast lexer handed out in pieces started.
    blank_run: Option<(Position, u64)>,
    /// The current user's segments so far.
    segments: Vec<SegmentAt>,
}

/// Where the tokens come from: quick-xml (any input), or the fast lexer (documents and
/// users as the toolkit and most SIS programs write them; see [`UserSplitter`]).
enum Lex<R> {
    Quick(Box<quick_xml::Reader<LineCounter<R>>>),
    Fast(Box<FastLexer<R>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DocState {
    Prolog,
    InRoot,
    Done,
}

/// What the next event was, with its data left in the reader's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Start,
    End,
    Text,
    Eof,
}

impl<R: BufRead> UserReader<R> {
    /// A reader over `input`. Nothing is read until the first [`next_user`](Self::next_user).
    pub fn new(input: R) -> Self {
        let xml = quick_xml::Reader::from_reader(LineCounter::new(input));
        Self::with_lexer(Lex::Quick(Box::new(xml)))
    }

    fn with_lexer(lex: Lex<R>) -> Self {
        UserReader {
            lex,
            buf: Vec::with_capacity(1024),
            name: String::new(),
            attrs: Vec::new(),
            attr_count: 0,
            empty: false,
            text: String::new(),
            pos: Position { line: 1, column: 1 },
            offset: 0,
            path: String::new(),
            findings: Vec::new(),
            document_findings: Vec::new(),
            state: DocState::Prolog,
            total_record_count: None,
            users_read: 0,
            xsi_prefixes: Vec::new(),
            blank_run: None,
            segments: Vec::new(),
            unsupported: false,
        }
    }

    /// Findings about the document rather than one user. Complete once
    /// [`next_user`](Self::next_user) has returned `Ok(None)`.
    pub fn document_findings(&self) -> &[Finding] {
        &self.document_findings
    }

    /// Users read so far.
    pub fn users_read(&self) -> u64 {
        self.users_read
    }

    /// The next user, `Ok(None)` after the last one.
    pub fn next_user(&mut self) -> Result<Option<ReadUser>, ReadError> {
        if self.advance()? {
            self.user().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads up to the next `<user>` start tag in the root (`true`) or to the end of the
    /// document (`false`), dealing with everything else on the way.
    fn advance(&mut self) -> Result<bool, ReadError> {
        loop {
            match self.state {
                DocState::Done => return Ok(false),
                DocState::Prolog => match self.next_tok_in(true)? {
                    Tok::Start => {
                        self.open_root();
                        if self.state == DocState::Done {
                            self.check_epilog()?;
                            return Ok(false);
                        }
                    }
                    Tok::Text if blank(&self.text) => self.text.clear(),
                    Tok::Text => {
                        return Err(self.malformed(
                            "content before the root element (Alma: \"Content is not allowed in \
                             prolog\")",
                        ));
                    }
                    Tok::End => return Err(self.malformed("a closing tag before the root element")),
                    Tok::Eof => return Err(self.malformed("no root element")),
                },
                DocState::InRoot => match self.next_tok_in(true)? {
                    Tok::Start if self.name == "user" => return Ok(true),
                    Tok::Start => {
                        let (pos, name) = (self.pos, self.name.clone());
                        self.document_findings.push(
                            Finding::new(
                                "E-UNKNOWN-ELEMENT",
                                Severity::Error,
                                format!("<{name}> is not allowed in <users>; it is skipped"),
                            )
                            .at_field(name)
                            .at(pos.line, pos.column),
                        );
                        self.skip()?;
                    }
                    Tok::Text => self.root_text(),
                    Tok::End => {
                        self.state = DocState::Done;
                        self.check_epilog()?;
                        self.check_record_count();
                        return Ok(false);
                    }
                    Tok::Eof => return Err(self.malformed("the root element is not closed")),
                },
            }
        }
    }

    fn open_root(&mut self) {
        if self.name == "userRecords" {
            self.document_findings.push(
                Finding::new(
                    "W-ROOT-NAME",
                    Severity::Warning,
                    "the root element is <userRecords>; rest_users.xsd declares <users>. Alma \
                     loads it (MIT's production feeds use it), a schema validator does not: \
                     write <users> if you can",
                )
                .at_field("userRecords")
                .at(self.pos.line, self.pos.column),
            );
        } else if self.name != "users" {
            let name = self.name.clone();
            self.document_findings.push(
                Finding::new(
                    "E-ROOT-NAME",
                    Severity::Error,
                    format!(
                        "the root element is <{name}>; Alma reads users from a <users> root \
                         (rest_users.xsd): write <users>"
                    ),
                )
                .at_field(name)
                .at(self.pos.line, self.pos.column),
            );
        }
        note_xsi_bindings(&self.attrs[..self.attr_count], &mut self.xsi_prefixes);
        // A schema validator knows no <userRecords> and so checks none of its attributes.
        let checked = if self.name == "userRecords" {
            0
        } else {
            self.attr_count
        };
        for i in 0..checked {
            let (key, value) = &self.attrs[i];
            if let Some(finding) = namespace_attribute(key, value, &self.xsi_prefixes) {
                if let Some(f) = finding {
                    self.document_findings
                        .push(f.at(self.pos.line, self.pos.column));
                }
                continue;
            }
            if key == "total_record_count" {
                match schema::parse_integer(schema::collapse(value)) {
                    Some(n) => self.total_record_count = Some(n),
                    None => self.document_findings.push(
                        Finding::new(
                            "E-SCHEMA-TYPE",
                            Severity::Error,
                            "total_record_count is not an xs:long",
                        )
                        .at_field("@total_record_count")
                        .at(self.pos.line, self.pos.column),
                    ),
                }
            } else {
                self.document_findings.push(
                    Finding::new(
                        "E-UNKNOWN-ATTRIBUTE",
                        Severity::Error,
                        format!("the root element has an undeclared attribute {key:?}"),
                    )
                    .at_field(format!("@{key}"))
                    .at(self.pos.line, self.pos.column),
                );
            }
        }
        self.state = if self.empty {
            DocState::Done
        } else {
            DocState::InRoot
        };
        if self.empty {
            self.check_record_count();
        }
    }

    fn root_text(&mut self) {
        if !blank(&self.text) {
            self.document_findings.push(
                Finding::new(
                    "E-SCHEMA-TYPE",
                    Severity::Error,
                    "text outside <user> elements",
                )
                .at(self.pos.line, self.pos.column),
            );
        }
        self.text.clear();
    }

    /// After the root closes only whitespace, comments and PIs may follow.
    fn check_epilog(&mut self) -> Result<(), ReadError> {
        loop {
            match self.next_tok_in(true)? {
                Tok::Eof => return Ok(()),
                Tok::Text if blank(&self.text) => self.text.clear(),
                _ => return Err(self.malformed("content after the root element")),
            }
        }
    }

    fn check_record_count(&mut self) {
        let read = i64::try_from(self.users_read).unwrap_or(i64::MAX);
        if let Some(n) = self.total_record_count.filter(|&n| n != read) {
            self.document_findings.push(Finding::new(
                "W-RECORD-COUNT",
                Severity::Warning,
                format!(
                    "total_record_count says {n} users, the document has {}",
                    self.users_read
                ),
            ));
        }
    }

    // ---- events -------------------------------------------------------------------------

    /// Reads the next event that matters. Text (with entity and character references
    /// resolved and CDATA) is appended to `self.text`; a start tag's name and attributes are
    /// left in `self.name` / `self.attrs`.
    fn next_tok(&mut self) -> Result<Tok, ReadError> {
        self.next_tok_in(false)
    }

    /// `next_tok` for a caller to which text of whitespace only means nothing (it checks
    /// text for being blank and drops it): the fast lexer may pass such text over.
    fn next_tok_in(&mut self, blank_text_ignored: bool) -> Result<Tok, ReadError> {
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

    fn malformed(&self, message: &str) -> ReadError {
        ReadError::Malformed {
            line: self.pos.line,
            column: self.pos.column,
            offset: self.offset,
            message: message.to_owned(),
        }
    }

    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs[..self.attr_count]
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    // ---- findings -------------------------------------------------------------------------

    fn push_path(&mut self, name: &str) -> usize {
        let len = self.path.len();
        if !self.path.is_empty() {
            self.path.push('/');
        }
        self.path.push_str(name);
        len
    }

    /// Appends `name[index]` to the field path; returns the length to truncate back to.
    fn push_path_indexed(&mut self, name: &str, index: usize) -> usize {
        let len = self.push_path(name);
        self.path.push('[');
        if index < 10 {
            // The common case, without the formatting machinery.
            self.path.push(char::from(b'0' + index as u8));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(self.path, "{index}");
        }
        self.path.push(']');
        len
    }

    fn report(&mut self, code: &str, severity: Severity, pos: Position, message: String) {
        let mut finding = Finding::new(code, severity, message).at(pos.line, pos.column);
        if !self.path.is_empty() {
            finding = finding.at_field(self.path.clone());
        }
        self.findings.push(finding);
    }

    /// Reports attributes outside `allowed` on the start tag just read; namespace
    /// declarations and `xsi:` schema-location hints are allowed anywhere.
    fn check_attrs(&mut self, allowed: &[&str]) {
        if self.attr_count == 0 {
            return;
        }
        note_xsi_bindings(&self.attrs[..self.attr_count], &mut self.xsi_prefixes);
        for i in 0..self.attr_count {
            let (key, value) = &self.attrs[i];
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let pos = self.pos;
            match namespace_attribute(key, value, &self.xsi_prefixes) {
                Some(None) => {}
                Some(Some(f)) => {
                    let message = f.message;
                    self.report("E-NAMESPACE", Severity::Error, pos, message);
                }
                None => {
                    let key = key.clone();
                    self.report(
                        "E-UNKNOWN-ATTRIBUTE",
                        Severity::Error,
                        pos,
                        format!("attribute {key:?} is not declared here"),
                    );
                }
            }
        }
    }

    // ---- structure ------------------------------------------------------------------------

    /// Skips the content of the element whose start tag was just read.
    fn skip(&mut self) -> Result<(), ReadError> {
        if self.empty {
            return Ok(());
        }
        let mut depth = 1usize;
        loop {
            match self.next_tok_in(true)? {
                Tok::Start if !self.empty => depth += 1,
                Tok::Start => {}
                Tok::End => {
                    depth -= 1;
                    if depth == 0 {
                        self.text.clear();
                        return Ok(());
                    }
                }
                Tok::Text => self.text.clear(),
                Tok::Eof => return Err(self.malformed("an element is not closed")),
            }
        }
    }

    /// Moves to the next child element of a container whose start tag was read; `false` at
    /// its end tag. Text other than whitespace is reported.
    fn next_child(&mut self, container_empty: &mut bool) -> Result<bool, ReadError> {
        if *container_empty {
            return Ok(false);
        }
        // Whatever a leaf value left behind has been used.
        self.text.clear();
        if let Lex::Fast(f) = &mut self.lex
            && let Some((tag, at)) = f.plain_tag()
        {
            // What the loop below makes of blank text and a tag without attributes.
            self.pos = f.position(at);
            self.offset = f.base + at as u64;
            return Ok(match tag {
                PlainTag::Start { name, empty } => {
                    self.empty = empty;
                    self.attr_count = 0;
                    self.name.clear();
                    self.name.push_str(&f.window[name]);
                    true
                }
                PlainTag::End => {
                    *container_empty = true;
                    false
                }
            });
        }
        loop {
            match self.next_tok_in(true)? {
                Tok::Start => return Ok(true),
                Tok::End => {
                    *container_empty = true;
                    return Ok(false);
                }
                Tok::Text => {
                    if !blank(&self.text) {
                        let pos = self.pos;
                        self.report(
                            "E-SCHEMA-TYPE",
                            Severity::Error,
                            pos,
                            "text is not allowed here, only elements".to_owned(),
                        );
                    }
                    self.text.clear();
                }
                Tok::Eof => return Err(self.malformed("an element is not closed")),
            }
        }
    }

    /// Reads the text content of the element whose start tag was just read into
    /// `self.text`; child elements are reported and skipped.
    fn leaf_text(&mut self) -> Result<(), ReadError> {
        self.text.clear();
        if self.empty {
            return Ok(());
        }
        if let Lex::Fast(f) = &mut self.lex
            && let Some((text, end)) = f.plain_leaf()
        {
            // What the loop below makes of the text and end tag, in one step.
            self.text = f.window[text].to_owned();
            self.pos = f.position(end);
            self.offset = f.base + end as u64;
            return Ok(());
        }
        loop {
            match self.next_tok()? {
                Tok::Text => {}
                Tok::End => return Ok(()),
                Tok::Start => {
                    let pos = self.pos;
                    let name = self.name.clone();
                    self.report(
                        "E-SCHEMA-TYPE",
                        Severity::Error,
                        pos,
                        format!("<{name}> inside a text value; it is skipped"),
                    );
                    let kept = std::mem::take(&mut self.text);
                    self.skip()?;
                    self.text = kept;
                }
                Tok::Eof => return Err(self.malformed("an element is not closed")),
            }
        }
    }

    fn unknown_element(&mut self, parent: &str) -> Result<(), ReadError> {
        let pos = self.pos;
        let name = self.name.clone();
        let len = self.push_path(&name);
        self.report(
            "E-UNKNOWN-ELEMENT",
            Severity::Error,
            pos,
            format!("<{name}> is not declared in <{parent}> by rest_user.xsd; it is skipped"),
        );
        self.path.truncate(len);
        self.skip()
    }

    /// An element the schema does not declare that Alma is known to skip (`pref_full_name`:
    /// Berkeley's production feeds send it).
    fn skipped_element(&mut self) -> Result<(), ReadError> {
        let pos = self.pos;
        let name = self.name.clone();
        let len = self.push_path(&name);
        self.report(
            "W-SKIPPED-ELEMENT",
            Severity::Warning,
            pos,
            format!(
                "<{name}> is not in rest_user.xsd; Alma skips it (Berkeley's production feeds \
                 send it), a schema validator rejects it: leave it out"
            ),
        );
        self.path.truncate(len);
        self.skip()
    }

    fn empty_element(&mut self, pos: Position) {
        let name = self.path.rsplit('/').next().unwrap_or_default().to_owned();
        self.report(
            "I-EMPTY-ELEMENT",
            Severity::Info,
            pos,
            format!("<{name}> is empty; read as absent"),
        );
    }

    /// An optional string element: `None` (reported) when empty.
    fn opt_string(&mut self) -> Result<Option<String>, ReadError> {
        let pos = self.pos;
        self.check_attrs(&[]);
        self.leaf_text()?;
        if self.text.is_empty() {
            self.empty_element(pos);
            return Ok(None);
        }
        Ok(Some(std::mem::take(&mut self.text)))
    }

    /// A required string element: empty stays empty (validation reports it).
    fn req_string(&mut self) -> Result<String, ReadError> {
        self.check_attrs(&[]);
        self.leaf_text()?;
        Ok(std::mem::take(&mut self.text))
    }

    fn code_value(&mut self) -> Result<CodeValue, ReadError> {
        self.check_attrs(&["desc"]);
        let desc = self
            .attr("desc")
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        self.leaf_text()?;
        Ok(CodeValue {
            code: std::mem::take(&mut self.text),
            desc,
        })
    }

    /// An optional code element: `None` (reported) when the code is empty.
    fn opt_code(&mut self) -> Result<Option<CodeValue>, ReadError> {
        let pos = self.pos;
        let value = self.code_value()?;
        if value.code.is_empty() {
            // Validation never sees a code read as absent: its `desc` is checked here.
            if let Some(desc) = &value.desc {
                let element = self.path.rsplit('/').next().unwrap_or_default();
                let max = if matches!(element, "campus_code" | "code") {
                    255
                } else {
                    4000
                };
                let n = schema::utf16_len(desc);
                if n > max {
                    let len = self.push_path("@desc");
                    self.report(
                        "E-TOO-LONG",
                        Severity::Error,
                        pos,
                        format!("{n} UTF-16 code units; the schema allows {max}"),
                    );
                    self.path.truncate(len);
                }
            }
            self.empty_element(pos);
            return Ok(None);
        }
        Ok(Some(value))
    }

    /// A fixed Alma code (`record_type`, `account_type`, `status`).
    fn fixed_code<T>(
        &mut self,
        parse: fn(&str) -> Option<T>,
        allowed: &[&str],
    ) -> Result<Option<T>, ReadError> {
        let pos = self.pos;
        let Some(value) = self.opt_code()? else {
            return Ok(None);
        };
        if let Some(desc) = &value.desc {
            let n = schema::utf16_len(desc);
            if n > 4000 {
                let len = self.push_path("@desc");
                self.report(
                    "E-TOO-LONG",
                    Severity::Error,
                    pos,
                    format!("{n} UTF-16 code units; the schema allows 4000"),
                );
                self.path.truncate(len);
            }
        }
        let code = value.code.trim();
        if let Some(v) = parse(code) {
            return Ok(Some(v));
        }
        let same_but_case = allowed.iter().find(|a| a.eq_ignore_ascii_case(code));
        match same_but_case {
            Some(right) => self.report(
                "E-CASE",
                Severity::Error,
                pos,
                format!("code {code:?} differs only in case from Alma's {right:?}"),
            ),
            None => self.report(
                "E-CODE-VALUE",
                Severity::Error,
                pos,
                format!("code {code:?} is not one of {}", allowed.join(", ")),
            ),
        }
        Ok(None)
    }

    /// A value that is not of its simple type. An empty one (or whitespace only) is what
    /// real feeds send for "no value", and Alma reads it as absent (MIT's and Berkeley's
    /// production feeds): a warning; anything else breaks the schema.
    fn type_error(&mut self, pos: Position, what: &str) {
        let name = self.path.rsplit('/').next().unwrap_or_default().to_owned();
        if schema::collapse(&self.text).is_empty() {
            self.report(
                "W-EMPTY-VALUE",
                Severity::Warning,
                pos,
                format!(
                    "<{name}> is empty, which is not a valid {what}; Alma reads it as absent, a \
                     schema validator rejects it: leave the element out"
                ),
            );
        } else {
            self.report(
                "E-SCHEMA-TYPE",
                Severity::Error,
                pos,
                format!("<{name}> is not a valid {what}"),
            );
        }
    }

    fn no_zone(&mut self, pos: Position, what: &str) {
        let name = self.path.rsplit('/').next().unwrap_or_default().to_owned();
        self.report(
            "I-DATE-NO-Z",
            Severity::Info,
            pos,
            format!("<{name}> has no time zone; Ex Libris writes {what}"),
        );
    }

    fn date(&mut self) -> Result<Option<NaiveDate>, ReadError> {
        let pos = self.pos;
        self.check_attrs(&[]);
        self.leaf_text()?;
        match schema::parse_date(schema::collapse(&self.text)) {
            Some(parts) => {
                if parts.zone.is_none() {
                    self.no_zone(pos, "YYYY-MM-DDZ");
                }
                Ok(naive_date(&parts))
            }
            None => {
                self.type_error(pos, "xs:date");
                Ok(None)
            }
        }
    }

    fn date_time(&mut self) -> Result<Option<DateTime<Utc>>, ReadError> {
        let pos = self.pos;
        self.check_attrs(&[]);
        self.leaf_text()?;
        match schema::parse_date_time(schema::collapse(&self.text)) {
            Some((parts, seconds, nanos)) => {
                if parts.zone.is_none() {
                    self.no_zone(pos, "YYYY-MM-DDThh:mm:ss.sssZ");
                }
                let value = naive_date(&parts).and_then(|date| {
                    let time = chrono::NaiveTime::from_num_seconds_from_midnight_opt(
                        seconds % 86_400,
                        nanos,
                    )?;
                    let at = date.and_time(time)
                        + chrono::TimeDelta::seconds(i64::from(seconds / 86_400) * 86_400)
                        - chrono::TimeDelta::minutes(i64::from(parts.zone.unwrap_or(0)));
                    Some(at.and_utc())
                });
                Ok(value)
            }
            None => {
                self.type_error(pos, "xs:dateTime");
                Ok(None)
            }
        }
    }

    fn boolean(&mut self) -> Result<Option<bool>, ReadError> {
        let pos = self.pos;
        self.check_attrs(&[]);
        self.leaf_text()?;
        let value = schema::parse_boolean(&self.text);
        if value.is_none() {
            self.type_error(pos, "xs:boolean");
        }
        Ok(value)
    }

    /// A boolean attribute of the start tag just read; absent means `false`.
    fn bool_attr(&mut self, key: &str) -> bool {
        let Some(raw) = self.attr(key) else {
            return false;
        };
        match schema::parse_boolean(raw) {
            Some(b) => b,
            None => {
                let pos = self.pos;
                let empty = schema::collapse(raw).is_empty();
                self.report(
                    "E-SCHEMA-TYPE",
                    Severity::Error,
                    pos,
                    format!(
                        "attribute {key:?} is {}, not an xs:boolean",
                        if empty { "empty" } else { "not true/false" }
                    ),
                );
                false
            }
        }
    }

    fn segment_type(&self) -> Option<String> {
        self.attr("segment_type")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    /// An element the SIS load ignores (output-only, or for other APIs): not loaded, but
    /// validated against the schema as a validating loader would, then reported.
    fn ignored(&mut self, name: &str) -> Result<(), ReadError> {
        let pos = self.pos;
        match schema::user_child(name) {
            Some(ty) => self.check_type(ty)?,
            None => self.skip()?,
        }
        self.report(
            "W-IGNORED-ELEMENT",
            Severity::Warning,
            pos,
            format!("<{name}> is output-only or ignored by the SIS load; leave it out"),
        );
        Ok(())
    }

    /// Validates the element whose start tag was just read against `ty` (attributes, content
    /// model, values) and reads past its end tag; `self.path` names the element.
    fn check_type(&mut self, ty: &'static schema::Type) -> Result<(), ReadError> {
        let pos = self.pos;
        let allowed: Vec<&str> = ty.attrs.iter().map(|a| a.name).collect();
        self.check_attrs(&allowed);
        for attr in ty.attrs {
            let Some(value) = self.attr(attr.name) else {
                continue;
            };
            if attr.ty.is_valid(value) {
                continue;
            }
            let message = match attr.ty {
                schema::Simple::String(Some(max)) => format!(
                    "{} UTF-16 code units (characters; those outside the BMP, such as emoji, \
                     count twice, as Java counts); the schema allows {max}",
                    schema::utf16_len(value)
                ),
                other => format!("attribute {:?} is not a valid {}", attr.name, other.name()),
            };
            let code = if matches!(attr.ty, schema::Simple::String(_)) {
                "E-TOO-LONG"
            } else {
                "E-SCHEMA-TYPE"
            };
            let len = self.push_path(&format!("@{}", attr.name));
            self.report(code, Severity::Error, pos, message);
            self.path.truncate(len);
        }
        let (children, sequence) = match ty.content {
            schema::Content::Simple(simple) => {
                self.leaf_text()?;
                self.check_simple(simple, pos);
                self.text.clear();
                return Ok(());
            }
            schema::Content::All(children) => (children, false),
            schema::Content::Sequence(children) => (children, true),
        };
        let element = self.path.rsplit('/').next().unwrap_or_default();
        let element = element.split('[').next().unwrap_or(element).to_owned();
        let mut counts = vec![0u32; children.len()];
        let mut next = 0usize;
        let mut closed = self.empty;
        while self.next_child(&mut closed)? {
            let child_pos = self.pos;
            let Some(i) = children.iter().position(|c| c.name == self.name) else {
                self.unknown_element(&element)?;
                continue;
            };
            let child = &children[i];
            if counts[i] >= child.max {
                let len = self.push_path(child.name);
                self.report(
                    "E-DUPLICATE-ELEMENT",
                    Severity::Error,
                    child_pos,
                    format!(
                        "<{}> may occur at most {} time(s) in <{element}>; the rest is skipped",
                        child.name, child.max
                    ),
                );
                self.path.truncate(len);
                self.skip()?;
                continue;
            }
            if sequence {
                if i < next {
                    let len = self.push_path(child.name);
                    self.report(
                        "E-SCHEMA-ORDER",
                        Severity::Error,
                        child_pos,
                        format!(
                            "<{}> comes after <{}>; <{element}> is a sequence: {}",
                            child.name,
                            children[next].name,
                            children
                                .iter()
                                .map(|c| c.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    self.path.truncate(len);
                } else {
                    for missing in (next..i).filter(|&j| counts[j] < children[j].min) {
                        self.missing_child(&element, children[missing].name, child_pos);
                    }
                    next = i;
                }
            }
            counts[i] += 1;
            let len = if child.max > 1 {
                self.push_path_indexed(child.name, counts[i] as usize - 1)
            } else {
                self.push_path(child.name)
            };
            self.check_type(child.ty)?;
            self.path.truncate(len);
        }
        let from = if sequence { next } else { 0 };
        for j in from..children.len() {
            if counts[j] < children[j].min {
                self.missing_child(&element, children[j].name, pos);
            }
        }
        Ok(())
    }

    fn missing_child(&mut self, element: &str, child: &str, pos: Position) {
        let len = self.push_path(child);
        self.report(
            "E-MANDATORY",
            Severity::Error,
            pos,
            format!("<{element}> has no <{child}>; the schema requires it"),
        );
        self.path.truncate(len);
    }

    /// A simple value's length (in UTF-16 units, as Java counts) or lexical form.
    fn check_simple(&mut self, simple: schema::Simple, pos: Position) {
        match simple {
            schema::Simple::String(Some(max)) => {
                let n = schema::utf16_len(&self.text);
                if n > max {
                    self.report(
                        "E-TOO-LONG",
                        Severity::Error,
                        pos,
                        format!(
                            "{n} UTF-16 code units (characters; those outside the BMP, such \
                             as emoji, count twice, as Java counts); the schema allows {max}"
                        ),
                    );
                }
            }
            schema::Simple::String(None) => {}
            other if other.is_valid(&self.text) => {}
            other => self.type_error(pos, other.name()),
        }
    }

    // ---- the user ---------------------------------------------------------------------------

    fn user(&mut self) -> Result<ReadUser, ReadError> {
        let position = self.pos;
        let start_offset = self.offset;
        // Anything found outside a user (an entity in the root's attributes) is the document's.
        self.document_findings.append(&mut self.findings);
        self.segments.clear();
        self.path.clear();
        self.check_attrs(&["link"]);
        let mut user = User::default();
        let mut seen = [false; USER_CHILDREN.len()];
        let mut last = 0usize;
        let mut order_reported = false;
        let mut closed = self.empty;
        while self.next_child(&mut closed)? {
            let Some(index) = child_index(USER_CHILDREN, &self.name) else {
                if self.name == "pref_full_name" {
                    self.skipped_element()?;
                } else {
                    self.unknown_element("user")?;
                }
                continue;
            };
            let name = USER_CHILDREN[index].name;
            let pos = self.pos;
            self.path.clear();
            self.path.push_str(name);
            if seen[index] {
                self.report(
                    "E-DUPLICATE-ELEMENT",
                    Severity::Error,
                    pos,
                    format!("<{name}> occurs more than once; the first one is kept"),
                );
                self.skip()?;
                self.path.clear();
                continue;
            }
            seen[index] = true;
            if index < last && !order_reported {
                order_reported = true;
                let after = USER_CHILDREN[last].name;
                self.report(
                    "I-ORDER",
                    Severity::Info,
                    pos,
                    format!(
                        "<{name}> comes after <{after}>; valid (xs:all), but not the schema's \
                         declaration order"
                    ),
                );
            }
            last = last.max(index);
            self.user_child(name, &mut user)?;
            self.path.clear();
        }
        let primary_id = user.primary_id.clone();
        let mut findings = std::mem::take(&mut self.findings);
        for f in &mut findings {
            if f.primary_id.is_none() && !primary_id.is_empty() {
                f.primary_id = Some(primary_id.clone());
            }
        }
        self.users_read += 1;
        Ok(ReadUser {
            user,
            position,
            start_offset,
            findings,
            segments: std::mem::take(&mut self.segments),
        })
    }

    fn user_child(&mut self, name: &'static str, u: &mut User) -> Result<(), ReadError> {
        match name {
            "record_type" => {
                u.record_type = self.fixed_code(RecordType::from_code, RECORD_TYPES)?
            }
            "primary_id" => u.primary_id = self.req_string()?,
            "first_name" => u.first_name = self.opt_string()?,
            "middle_name" => u.middle_name = self.opt_string()?,
            "last_name" => u.last_name = self.opt_string()?,
            "pin_number" => u.pin_number = self.opt_string()?,
            "user_title" => u.user_title = self.opt_code()?,
            "job_category" => u.job_category = self.opt_code()?,
            "job_description" => u.job_description = self.opt_string()?,
            "gender" => u.gender = self.opt_code()?,
            "user_group" => u.user_group = self.opt_code()?,
            "campus_code" => u.campus_code = self.opt_code()?,
            "web_site_url" => u.web_site_url = self.opt_string()?,
            "cataloger_level" => u.cataloger_level = self.opt_code()?,
            "preferred_language" => u.preferred_language = self.opt_code()?,
            "birth_date" => u.birth_date = self.date()?,
            "expiry_date" => u.expiry_date = self.date()?,
            "purge_date" => u.purge_date = self.date()?,
            "account_type" => {
                u.account_type = self.fixed_code(AccountType::from_code, ACCOUNT_TYPES)?
            }
            "external_id" => u.external_id = self.opt_string()?,
            "status" => u.status = self.fixed_code(UserStatus::from_code, STATUSES)?,
            "contact_info" => self.contact_info(u)?,
            "user_identifiers" => {
                u.user_identifiers = self.list("user_identifier", Self::identifier)?
            }
            "user_blocks" => u.user_blocks = self.list("user_block", Self::block)?,
            "user_notes" => u.user_notes = self.list("user_note", Self::note)?,
            "user_statistics" => {
                u.user_statistics = self.list("user_statistic", Self::statistic)?
            }
            "rs_libraries" => u.rs_libraries = self.list("rs_library", Self::rs_library)?,
            "library_notices" => {
                u.library_notices = self.list("library_notice", Self::library_notice)?
            }
            "pref_first_name" => u.pref_first_name = self.opt_string()?,
            "pref_middle_name" => u.pref_middle_name = self.opt_string()?,
            "pref_last_name" => u.pref_last_name = self.opt_string()?,
            "pref_name_suffix" => u.pref_name_suffix = self.opt_string()?,
            other => self.ignored(other)?,
        }
        Ok(())
    }

    fn contact_info(&mut self, u: &mut User) -> Result<(), ReadError> {
        const ORDER: &[Child] = schema::children("contact_info");
        let pos = self.pos;
        self.check_attrs(&[]);
        let mut closed = self.empty;
        let mut last = 0usize;
        let mut seen = [false; ORDER.len()];
        let mut any = false;
        while self.next_child(&mut closed)? {
            any = true;
            let Some(index) = child_index(ORDER, &self.name) else {
                self.unknown_element("contact_info")?;
                continue;
            };
            let name = ORDER[index].name;
            let pos = self.pos;
            let len = self.push_path(name);
            if seen[index] {
                self.report(
                    "E-DUPLICATE-ELEMENT",
                    Severity::Error,
                    pos,
                    format!("<{name}> occurs more than once; the first one is kept"),
                );
                self.skip()?;
                self.path.truncate(len);
                continue;
            }
            if index < last {
                self.report(
                    "E-SCHEMA-ORDER",
                    Severity::Error,
                    pos,
                    format!(
                        "<{name}> comes after <{}>; contact_info is a sequence: addresses, \
                         emails, phones",
                        ORDER[last].name
                    ),
                );
            }
            seen[index] = true;
            last = last.max(index);
            match index {
                0 => u.contact_info.addresses = self.list("address", Self::address)?,
                1 => u.contact_info.emails = self.list("email", Self::email)?,
                _ => u.contact_info.phones = self.list("phone", Self::phone)?,
            }
            self.path.truncate(len);
        }
        if !any {
            self.empty_element(pos);
        }
        Ok(())
    }

    /// A wrapper of repeated `item`s (an `xs:sequence`); the wrapper's start tag was read
    /// and `self.path` ends with the wrapper's name.
    fn list<T>(
        &mut self,
        item: &str,
        read: fn(&mut Self) -> Result<T, ReadError>,
    ) -> Result<Vec<T>, ReadError> {
        let pos = self.pos;
        self.check_attrs(&[]);
        let mut items = Vec::new();
        let mut closed = self.empty;
        while self.next_child(&mut closed)? {
            if self.name != item {
                let parent = self.path.rsplit('/').next().unwrap_or_default().to_owned();
                self.unknown_element(&parent)?;
                continue;
            }
            if let Some(list) = segment_list(item) {
                self.segments.push(SegmentAt {
                    list,
                    index: items.len(),
                    position: self.pos,
                });
            }
            let len = self.push_path_indexed(item, items.len());
            items.push(read(self)?);
            self.path.truncate(len);
        }
        if items.is_empty() {
            self.empty_element(pos);
        }
        Ok(items)
    }

    /// Children of an `xs:all` segment: calls `child` with each known name (checking
    /// duplicates), reports unknown ones.
    fn segment<T>(
        &mut self,
        element: &str,
        children: &'static [Child],
        value: &mut T,
        child: fn(&mut Self, &'static str, &mut T) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        let mut closed = self.empty;
        // Bit i: children[i] was seen (no segment has more than 64 children).
        let mut seen = 0u64;
        while self.next_child(&mut closed)? {
            let Some(index) = child_index(children, &self.name) else {
                self.unknown_element(element)?;
                continue;
            };
            let name = children[index].name;
            let pos = self.pos;
            let len = self.push_path(name);
            if seen & (1 << index) != 0 {
                self.report(
                    "E-DUPLICATE-ELEMENT",
                    Severity::Error,
                    pos,
                    format!("<{name}> occurs more than once; the first one is kept"),
                );
                self.skip()?;
            } else {
                seen |= 1 << index;
                child(self, name, value)?;
            }
            self.path.truncate(len);
        }
        Ok(())
    }

    fn address(&mut self) -> Result<Address, ReadError> {
        self.check_attrs(&["preferred", "segment_type"]);
        let mut a = Address {
            preferred: self.bool_attr("preferred"),
            segment_type: self.segment_type(),
            ..Address::default()
        };
        self.segment("address", ADDRESS_CHILDREN, &mut a, |r, name, a| {
            match name {
                "line1" => a.line1 = r.opt_string()?,
                "line2" => a.line2 = r.opt_string()?,
                "line3" => a.line3 = r.opt_string()?,
                "line4" => a.line4 = r.opt_string()?,
                "line5" => a.line5 = r.opt_string()?,
                "city" => a.city = r.opt_string()?,
                "state_province" => a.state_province = r.opt_string()?,
                "postal_code" => a.postal_code = r.opt_string()?,
                "country" => a.country = r.opt_code()?,
                "address_note" => a.address_note = r.opt_string()?,
                "start_date" => a.start_date = r.date()?,
                "end_date" => a.end_date = r.date()?,
                _ => a.address_types = r.type_list("address_type")?,
            }
            Ok(())
        })?;
        Ok(a)
    }

    /// `address_types` and friends: empty is allowed by the XSD and left to validation.
    fn type_list(&mut self, item: &str) -> Result<Vec<CodeValue>, ReadError> {
        self.check_attrs(&[]);
        let mut types = Vec::new();
        let mut closed = self.empty;
        while self.next_child(&mut closed)? {
            if self.name != item {
                let parent = self.path.rsplit('/').next().unwrap_or_default().to_owned();
                self.unknown_element(&parent)?;
                continue;
            }
            let len = self.push_path_indexed(item, types.len());
            types.push(self.code_value()?);
            self.path.truncate(len);
        }
        Ok(types)
    }

    fn email(&mut self) -> Result<Email, ReadError> {
        self.check_attrs(&["preferred", "segment_type"]);
        let mut e = Email {
            preferred: self.bool_attr("preferred"),
            segment_type: self.segment_type(),
            ..Email::default()
        };
        self.segment("email", EMAIL_CHILDREN, &mut e, |r, name, e| {
            match name {
                "email_address" => e.email_address = r.req_string()?,
                "description" => e.description = r.opt_string()?,
                _ => e.email_types = r.type_list("email_type")?,
            }
            Ok(())
        })?;
        Ok(e)
    }

    fn phone(&mut self) -> Result<Phone, ReadError> {
        self.check_attrs(&["preferred", "preferred_sms", "segment_type"]);
        let mut p = Phone {
            preferred: self.bool_attr("preferred"),
            preferred_sms: self.bool_attr("preferred_sms"),
            segment_type: self.segment_type(),
            ..Phone::default()
        };
        self.segment("phone", PHONE_CHILDREN, &mut p, |r, name, p| {
            match name {
                "phone_number" => p.phone_number = r.req_string()?,
                _ => p.phone_types = r.type_list("phone_type")?,
            }
            Ok(())
        })?;
        Ok(p)
    }

    fn identifier(&mut self) -> Result<UserIdentifier, ReadError> {
        self.check_attrs(&["segment_type"]);
        let mut id = UserIdentifier {
            segment_type: self.segment_type(),
            ..UserIdentifier::default()
        };
        self.segment(
            "user_identifier",
            IDENTIFIER_CHILDREN,
            &mut id,
            |r, name, id| {
                match name {
                    "id_type" => id.id_type = r.code_value()?,
                    "value" => id.value = r.req_string()?,
                    "note" => id.note = r.opt_string()?,
                    _ => id.status = r.opt_string()?,
                }
                Ok(())
            },
        )?;
        Ok(id)
    }

    fn block(&mut self) -> Result<UserBlock, ReadError> {
        self.check_attrs(&["segment_type"]);
        let mut b = UserBlock {
            segment_type: self.segment_type(),
            ..UserBlock::default()
        };
        self.segment("user_block", BLOCK_CHILDREN, &mut b, |r, name, b| {
            match name {
                "block_type" => b.block_type = r.opt_code()?,
                "block_description" => b.block_description = r.code_value()?,
                "block_status" => b.block_status = r.opt_string()?,
                "block_note" => b.block_note = r.opt_string()?,
                "created_by" => b.created_by = r.opt_string()?,
                "created_date" => b.created_date = r.date_time()?,
                "expiry_date" => b.expiry_date = r.date_time()?,
                _ => b.item_loan_id = r.opt_string()?,
            }
            Ok(())
        })?;
        Ok(b)
    }

    fn note(&mut self) -> Result<UserNote, ReadError> {
        let pos = self.pos;
        self.check_attrs(&["segment_type"]);
        let mut n = (
            UserNote {
                segment_type: self.segment_type(),
                ..UserNote::default()
            },
            [false; 2],
        );
        self.segment("user_note", NOTE_CHILDREN, &mut n, |r, name, (n, flags)| {
            match name {
                "note_type" => n.note_type = r.code_value()?,
                "note_text" => n.note_text = r.opt_string()?,
                "user_viewable" => {
                    flags[0] = true;
                    n.user_viewable = r.boolean()?.unwrap_or(false);
                }
                "popup_note" => {
                    flags[1] = true;
                    n.popup_note = r.boolean()?.unwrap_or(false);
                }
                "created_by" => n.created_by = r.opt_string()?,
                _ => n.created_date = r.date_time()?,
            }
            Ok(())
        })?;
        for (present, name) in n.1.iter().zip(["user_viewable", "popup_note"]) {
            if !present {
                let len = self.push_path(name);
                self.report(
                    "E-MANDATORY",
                    Severity::Error,
                    pos,
                    format!("user_note has no <{name}>; the schema requires it"),
                );
                self.path.truncate(len);
            }
        }
        Ok(n.0)
    }

    fn statistic(&mut self) -> Result<UserStatistic, ReadError> {
        self.check_attrs(&["segment_type"]);
        let mut s = UserStatistic {
            segment_type: self.segment_type(),
            ..UserStatistic::default()
        };
        self.segment(
            "user_statistic",
            STATISTIC_CHILDREN,
            &mut s,
            |r, name, s| {
                match name {
                    "statistic_category" => s.statistic_category = r.code_value()?,
                    "category_type" => s.category_type = r.opt_code()?,
                    _ => s.statistic_note = r.opt_string()?,
                }
                Ok(())
            },
        )?;
        Ok(s)
    }

    fn rs_library(&mut self) -> Result<CodeValue, ReadError> {
        self.check_attrs(&[]);
        let mut code = CodeValue::default();
        self.segment(
            "rs_library",
            RS_LIBRARY_CHILDREN,
            &mut code,
            |r, _, code| {
                *code = r.opt_code()?.unwrap_or_default();
                Ok(())
            },
        )?;
        Ok(code)
    }

    fn library_notice(&mut self) -> Result<LibraryNotice, ReadError> {
        self.check_attrs(&[]);
        let mut n = LibraryNotice::default();
        self.segment(
            "library_notice",
            LIBRARY_NOTICE_CHILDREN,
            &mut n,
            |r, name, n| {
                match name {
                    "code" => n.code = r.opt_code()?,
                    _ => n.value = r.boolean()?,
                }
                Ok(())
            },
        )?;
        Ok(n)
    }
}

impl<R: BufRead> Iterator for UserReader<R> {
    type Item = Result<ReadUser, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_user() {
            Ok(Some(user)) => Some(Ok(user)),
            Ok(None) => None,
            Err(e) => {
                self.state = DocState::Done;
                Some(Err(e))
            }
        }
    }
}

/// `<user>`'s children in the schema's declaration order, and those of its segments.
const USER_CHILDREN: &[Child] = schema::children("");
const ADDRESS_CHILDREN: &[Child] = schema::children("contact_info/addresses/address");
const EMAIL_CHILDREN: &[Child] = schema::children("contact_info/emails/email");
const PHONE_CHILDREN: &[Child] = schema::children("contact_info/phones/phone");
const IDENTIFIER_CHILDREN: &[Child] = schema::children("user_identifiers/user_identifier");
const BLOCK_CHILDREN: &[Child] = schema::children("user_blocks/user_block");
const NOTE_CHILDREN: &[Child] = schema::children("user_notes/user_note");
const STATISTIC_CHILDREN: &[Child] = schema::children("user_statistics/user_statistic");
const RS_LIBRARY_CHILDREN: &[Child] = schema::children("rs_libraries/rs_library");
const LIBRARY_NOTICE_CHILDREN: &[Child] = schema::children("library_notices/library_notice");

const RECORD_TYPES: &[&str] = &["PUBLIC", "STAFF", "CONTACT"];
const ACCOUNT_TYPES: &[&str] = &["INTERNAL", "EXTERNAL"];
const STATUSES: &[&str] = &["ACTIVE", "INACTIVE"];

/// The index of `name` in `children`; the first byte sorts out most names before a compare.
fn child_index(children: &[Child], name: &str) -> Option<usize> {
    let first = name.as_bytes().first()?;
    children
        .iter()
        .position(|c| c.name.as_bytes().first() == Some(first) && c.name == name)
}

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Remembers the prefixes `attrs` bind to the XML Schema instance namespace.
fn note_xsi_bindings(attrs: &[(String, String)], xsi: &mut Vec<String>) {
    for (key, value) in attrs {
        if let Some(prefix) = key.strip_prefix("xmlns:")
            && value == XSI
            && !xsi.iter().any(|p| p == prefix)
        {
            xsi.push(prefix.to_owned());
        }
    }
}

/// An attribute of namespace processing: `Some(None)` for a declaration (`xmlns`,
/// `xmlns:p`) or an `xsi:` schema-location hint, which a validator accepts anywhere;
/// `Some(Some(finding))` for a default namespace that moves the elements out of Alma's
/// schema; `None` for any other attribute.
fn namespace_attribute(key: &str, value: &str, xsi: &[String]) -> Option<Option<Finding>> {
    if key == "xmlns" {
        if value.is_empty() {
            return Some(None);
        }
        return Some(Some(
            Finding::new(
                "E-NAMESPACE",
                Severity::Error,
                format!(
                    "xmlns=\"{value}\" puts the elements in a namespace, and rest_user.xsd's \
                     have none (Java: \"cvc-elt.1.a: Cannot find the declaration of element\"): \
                     remove the xmlns attribute"
                ),
            )
            .at_field("@xmlns"),
        ));
    }
    if key.starts_with("xmlns:") {
        return Some(None);
    }
    if let Some((prefix, local)) = key.split_once(':')
        && matches!(local, "schemaLocation" | "noNamespaceSchemaLocation")
        && xsi.iter().any(|p| p == prefix)
    {
        return Some(None);
    }
    None
}

/// `s.trim().is_empty()`, without decoding characters when `s` is ASCII (as the
/// whitespace between elements is).
fn blank(s: &str) -> bool {
    crate::chars::is_xml_whitespace(s.as_bytes())
}

/// The date `parts` names, when chrono can hold it (years up to ±262143).
fn naive_date(parts: &schema::DateParts) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(i32::try_from(parts.year).ok()?, parts.month, parts.day)
}

/// Newline offsets [`LineCounter`] keeps for one event before folding the older half.
const MAX_PENDING_NEWLINES: usize = 1 << 16;

/// A `BufRead` that counts lines in what the XML parser consumes, so byte offsets can be
/// turned into line and column. It keeps the newline offsets seen since the last event
/// boundary only, so memory stays bounded by one event.
struct LineCounter<R> {
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
    fn new(inner: R) -> Self {
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

fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}
