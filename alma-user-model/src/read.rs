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
//! | `E-ROOT-NAME` | the root element is not `<users>` (MIT's feeds use `<userRecords>`; Alma loads it, the XSD does not) |
//! | `E-DOCTYPE` | the document has a `<!DOCTYPE>`; it is not processed |
//! | `E-ENTITY` | a reference to an entity other than the five predefined ones; it is not expanded and is dropped from the value |
//! | `E-UNKNOWN-ELEMENT` | an element `rest_user.xsd` does not declare at that place (e.g. `pref_full_name`); skipped |
//! | `E-UNKNOWN-ATTRIBUTE` | an attribute the XSD does not declare on that element |
//! | `E-DUPLICATE-ELEMENT` | an element that may occur once occurs again; the first one is kept |
//! | `E-SCHEMA-ORDER` | `contact_info`'s children (an `xs:sequence`) are not in the order addresses, emails, phones |
//! | `E-SCHEMA-TYPE` | a value is not of the schema type: an empty or malformed `xs:date`, `xs:dateTime`, `xs:boolean` or number, text where only elements may appear, elements inside a text value |
//! | `E-MANDATORY` | a required `user_viewable` / `popup_note` is missing from a `user_note` (other required children are checked by [`validate`](crate::validate())) |
//! | `E-CODE-VALUE` | `record_type`, `account_type` or `status` is not one of Alma's codes |
//! | `E-CASE` | as `E-CODE-VALUE`, but the code differs from an allowed one only in case |
//! | `W-IGNORED-ELEMENT` | an output-only element, or one the SIS load ignores (`full_name`, `password`, `status_date`, `user_roles`, `proxy_for_users`, `is_researcher`, ...); skipped |
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
//! assert_eq!(read.findings[0].code, "E-SCHEMA-TYPE");
//! assert!(reader.next_user()?.is_none());
//! # Ok::<(), alma_user_model::ReadError>(())
//! ```

use std::fmt::Write as _;
use std::io::{self, BufRead, Read};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use quick_xml::XmlVersion;
use quick_xml::events::Event;

use crate::finding::{Finding, Position, Severity};
use crate::model::{
    AccountType, Address, CodeValue, Email, LibraryNotice, Phone, RecordType, User, UserBlock,
    UserIdentifier, UserNote, UserStatistic, UserStatus,
};

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
}

/// Reads users one at a time from a `<users>` document; see the [module docs](self).
///
/// After the last user, [`document_findings`](Self::document_findings) holds the findings
/// about the document itself (root name, DOCTYPE, anything outside `<user>`).
pub struct UserReader<R: BufRead> {
    xml: quick_xml::Reader<LineCounter<R>>,
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
    total_record_count: Option<u64>,
    users_read: u64,
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
        UserReader {
            xml,
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
        loop {
            match self.state {
                DocState::Done => return Ok(None),
                DocState::Prolog => match self.next_tok()? {
                    Tok::Start => {
                        self.open_root();
                        if self.state == DocState::Done {
                            self.check_epilog()?;
                            return Ok(None);
                        }
                    }
                    Tok::Text if self.text.trim().is_empty() => self.text.clear(),
                    Tok::Text => {
                        return Err(self.malformed(
                            "content before the root element (Alma: \"Content is not allowed in \
                             prolog\")",
                        ));
                    }
                    Tok::End => return Err(self.malformed("a closing tag before the root element")),
                    Tok::Eof => return Err(self.malformed("no root element")),
                },
                DocState::InRoot => match self.next_tok()? {
                    Tok::Start if self.name == "user" => return self.user().map(Some),
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
                        return Ok(None);
                    }
                    Tok::Eof => return Err(self.malformed("the root element is not closed")),
                },
            }
        }
    }

    fn open_root(&mut self) {
        if self.name != "users" {
            let name = self.name.clone();
            self.document_findings.push(
                Finding::new(
                    "E-ROOT-NAME",
                    Severity::Error,
                    format!(
                        "the root element is <{name}>; rest_users.xsd declares <users>. Alma's \
                         loader may accept it, a schema validator does not"
                    ),
                )
                .at_field(name)
                .at(self.pos.line, self.pos.column),
            );
        }
        for i in 0..self.attr_count {
            let (key, value) = &self.attrs[i];
            if key == "total_record_count" {
                match value.trim().parse::<u64>() {
                    Ok(n) => self.total_record_count = Some(n),
                    Err(_) => self.document_findings.push(
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
        if !self.text.trim().is_empty() {
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
            match self.next_tok()? {
                Tok::Eof => return Ok(()),
                Tok::Text if self.text.trim().is_empty() => self.text.clear(),
                _ => return Err(self.malformed("content after the root element")),
            }
        }
    }

    fn check_record_count(&mut self) {
        if let Some(n) = self.total_record_count.filter(|&n| n != self.users_read) {
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
        loop {
            let start = self.xml.buffer_position();
            self.xml.get_mut().mark(start);
            let (line, column) = self.xml.get_ref().line_column(start);
            self.pos = Position { line, column };
            self.offset = start;
            self.buf.clear();
            let event = match self.xml.read_event_into(&mut self.buf) {
                Ok(event) => event,
                Err(e) => return Err(self.xml_error(e)),
            };
            let is_empty = matches!(event, Event::Empty(_));
            match event {
                Event::Start(e) | Event::Empty(e) => {
                    self.empty = is_empty;
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
                        let value =
                            match attr.normalized_value_with(XmlVersion::Implicit1_0, 1, resolve) {
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
                    return Ok(Tok::Start);
                }
                Event::End(_) => return Ok(Tok::End),
                Event::Text(t) => {
                    self.text.push_str(&t.xml10_content());
                    return Ok(Tok::Text);
                }
                Event::CData(t) => {
                    self.text.push_str(&t.xml10_content());
                    return Ok(Tok::Text);
                }
                Event::GeneralRef(r) => {
                    if r.is_char_ref() {
                        match r.resolve_char_ref() {
                            Ok(Some(c)) => self.text.push(c),
                            _ => {
                                return Err(ReadError::Malformed {
                                    line,
                                    column,
                                    offset: start,
                                    message: format!(
                                        "&{}; is not a valid character reference",
                                        &*r
                                    ),
                                });
                            }
                        }
                    } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&r) {
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
                    return Ok(Tok::Text);
                }
                Event::DocType(_) => {
                    self.document_findings.push(
                        Finding::new(
                            "E-DOCTYPE",
                            Severity::Error,
                            "the document has a <!DOCTYPE>; it is not processed and Alma's \
                             files have none: remove it",
                        )
                        .at(line, column),
                    );
                }
                Event::Eof => return Ok(Tok::Eof),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            }
        }
    }

    fn xml_error(&self, e: quick_xml::Error) -> ReadError {
        let offset = self.xml.error_position().max(self.offset);
        let (line, column) = self.xml.get_ref().line_column(offset);
        match e {
            quick_xml::Error::Io(io) => ReadError::Io {
                line,
                source: io::Error::new(io.kind(), io.to_string()),
            },
            quick_xml::Error::Encoding(quick_xml::encoding::EncodingError::Utf8(utf8)) => {
                // The bad byte lies `valid_up_to` bytes into the event that holds it.
                let offset = self.offset + utf8.valid_up_to() as u64;
                let (line, column) = self.xml.get_ref().line_column(offset);
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
        // Writing to a String cannot fail.
        let _ = write!(self.path, "[{index}]");
        len
    }

    fn report(&mut self, code: &str, severity: Severity, pos: Position, message: String) {
        let mut finding = Finding::new(code, severity, message).at(pos.line, pos.column);
        if !self.path.is_empty() {
            finding = finding.at_field(self.path.clone());
        }
        self.findings.push(finding);
    }

    /// Reports attributes outside `allowed` on the start tag just read.
    fn check_attrs(&mut self, allowed: &[&str]) {
        for i in 0..self.attr_count {
            if !allowed.contains(&self.attrs[i].0.as_str()) {
                let key = self.attrs[i].0.clone();
                let pos = self.pos;
                self.report(
                    "E-UNKNOWN-ATTRIBUTE",
                    Severity::Error,
                    pos,
                    format!("attribute {key:?} is not declared here"),
                );
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
            match self.next_tok()? {
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
        loop {
            match self.next_tok()? {
                Tok::Start => return Ok(true),
                Tok::End => {
                    *container_empty = true;
                    return Ok(false);
                }
                Tok::Text => {
                    if !self.text.trim().is_empty() {
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

    fn type_error(&mut self, pos: Position, what: &str) {
        let name = self.path.rsplit('/').next().unwrap_or_default().to_owned();
        let message = if self.text.trim().is_empty() {
            format!("<{name}> is empty, which is not a valid {what}: leave the element out")
        } else {
            format!("<{name}> is not a valid {what}")
        };
        self.report("E-SCHEMA-TYPE", Severity::Error, pos, message);
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
        match parse_date(self.text.trim()) {
            Some((date, zoned)) => {
                if !zoned {
                    self.no_zone(pos, "YYYY-MM-DDZ");
                }
                Ok(Some(date))
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
        let text = self.text.trim();
        if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
            return Ok(Some(dt.with_timezone(&Utc)));
        }
        match NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
            Ok(dt) => {
                self.no_zone(pos, "YYYY-MM-DDThh:mm:ss.sssZ");
                Ok(Some(dt.and_utc()))
            }
            Err(_) => {
                self.type_error(pos, "xs:dateTime");
                Ok(None)
            }
        }
    }

    fn boolean(&mut self) -> Result<Option<bool>, ReadError> {
        let pos = self.pos;
        self.check_attrs(&[]);
        self.leaf_text()?;
        let value = parse_bool(&self.text);
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
        match parse_bool(raw) {
            Some(b) => b,
            None => {
                let pos = self.pos;
                let empty = raw.trim().is_empty();
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

    /// An element the SIS load ignores: reported and skipped, but its simple type is
    /// checked where the XSD would reject the document for it.
    fn ignored(&mut self, name: &str) -> Result<(), ReadError> {
        let pos = self.pos;
        let what = match name {
            "status_date" | "last_patron_activity_date" => Some("xs:date"),
            "is_researcher" => Some("xs:boolean"),
            "requests" | "loans" => Some("xs:int"),
            "fees" => Some("xs:float"),
            _ => None,
        };
        if let Some(what) = what {
            self.leaf_text()?;
            let text = self.text.trim();
            let valid = match what {
                "xs:date" => parse_date(text).is_some(),
                "xs:boolean" => parse_bool(text).is_some(),
                "xs:int" => text.parse::<i32>().is_ok(),
                _ => text.parse::<f32>().is_ok(),
            };
            if !valid {
                self.type_error(pos, what);
                self.text.clear();
                return Ok(());
            }
            self.text.clear();
        } else {
            self.skip()?;
        }
        self.report(
            "W-IGNORED-ELEMENT",
            Severity::Warning,
            pos,
            format!("<{name}> is output-only or ignored by the SIS load; leave it out"),
        );
        Ok(())
    }

    // ---- the user ---------------------------------------------------------------------------

    fn user(&mut self) -> Result<ReadUser, ReadError> {
        let position = self.pos;
        let start_offset = self.offset;
        // Anything found outside a user (an entity in the root's attributes) is the document's.
        self.document_findings.append(&mut self.findings);
        self.path.clear();
        self.check_attrs(&["link"]);
        let mut user = User::default();
        let mut seen = [false; USER_CHILDREN.len()];
        let mut last = 0usize;
        let mut order_reported = false;
        let mut closed = self.empty;
        while self.next_child(&mut closed)? {
            let Some(index) = USER_CHILDREN.iter().position(|c| *c == self.name) else {
                self.unknown_element("user")?;
                continue;
            };
            let name = USER_CHILDREN[index];
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
                let after = USER_CHILDREN[last];
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
        const ORDER: [&str; 3] = ["addresses", "emails", "phones"];
        let pos = self.pos;
        self.check_attrs(&[]);
        let mut closed = self.empty;
        let mut last = 0usize;
        let mut seen = [false; 3];
        let mut any = false;
        while self.next_child(&mut closed)? {
            any = true;
            let Some(index) = ORDER.iter().position(|c| *c == self.name) else {
                self.unknown_element("contact_info")?;
                continue;
            };
            let name = ORDER[index];
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
                        ORDER[last]
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
        children: &[&'static str],
        value: &mut T,
        child: fn(&mut Self, &'static str, &mut T) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        let mut closed = self.empty;
        // Bit i: children[i] was seen (no segment has more than 64 children).
        let mut seen = 0u64;
        while self.next_child(&mut closed)? {
            let Some(index) = children.iter().position(|c| *c == self.name) else {
                self.unknown_element(element)?;
                continue;
            };
            let name = children[index];
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
        self.segment("rs_library", &["code"], &mut code, |r, _, code| {
            *code = r.opt_code()?.unwrap_or_default();
            Ok(())
        })?;
        Ok(code)
    }

    fn library_notice(&mut self) -> Result<LibraryNotice, ReadError> {
        self.check_attrs(&[]);
        let mut n = LibraryNotice::default();
        self.segment(
            "library_notice",
            &["code", "value"],
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

/// `<user>`'s children in the schema's declaration order.
const USER_CHILDREN: &[&str] = &[
    "record_type",
    "primary_id",
    "first_name",
    "middle_name",
    "last_name",
    "full_name",
    "pin_number",
    "user_title",
    "job_category",
    "job_description",
    "gender",
    "user_group",
    "campus_code",
    "web_site_url",
    "cataloger_level",
    "preferred_language",
    "birth_date",
    "expiry_date",
    "purge_date",
    "account_type",
    "external_id",
    "password",
    "force_password_change",
    "status",
    "status_date",
    "last_patron_activity_date",
    "requests",
    "loans",
    "fees",
    "contact_info",
    "user_identifiers",
    "user_roles",
    "user_blocks",
    "user_notes",
    "user_statistics",
    "proxy_for_users",
    "rs_libraries",
    "library_notices",
    "source_link_id",
    "source_institution_code",
    "linking_id",
    "pref_first_name",
    "pref_middle_name",
    "pref_last_name",
    "pref_name_suffix",
    "is_researcher",
    "researcher",
];

const ADDRESS_CHILDREN: &[&str] = &[
    "line1",
    "line2",
    "line3",
    "line4",
    "line5",
    "city",
    "state_province",
    "postal_code",
    "country",
    "address_note",
    "start_date",
    "end_date",
    "address_types",
];
const EMAIL_CHILDREN: &[&str] = &["email_address", "description", "email_types"];
const PHONE_CHILDREN: &[&str] = &["phone_number", "phone_types"];
const IDENTIFIER_CHILDREN: &[&str] = &["id_type", "value", "note", "status"];
const BLOCK_CHILDREN: &[&str] = &[
    "block_type",
    "block_description",
    "block_status",
    "block_note",
    "created_by",
    "created_date",
    "expiry_date",
    "item_loan_id",
];
const NOTE_CHILDREN: &[&str] = &[
    "note_type",
    "note_text",
    "user_viewable",
    "popup_note",
    "created_by",
    "created_date",
];
const STATISTIC_CHILDREN: &[&str] = &["statistic_category", "category_type", "statistic_note"];

const RECORD_TYPES: &[&str] = &["PUBLIC", "STAFF", "CONTACT"];
const ACCOUNT_TYPES: &[&str] = &["INTERNAL", "EXTERNAL"];
const STATUSES: &[&str] = &["ACTIVE", "INACTIVE"];

/// `xs:boolean` (whitespace-collapsed).
fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// `xs:date`: `YYYY-MM-DD` with an optional zone (`Z`, `+hh:mm`, `-hh:mm`); the flag says
/// whether a zone was present.
fn parse_date(text: &str) -> Option<(NaiveDate, bool)> {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if b.len() < 10
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
    {
        return None;
    }
    let number = |r: std::ops::Range<usize>| text[r].parse::<u32>().ok();
    let year = i32::try_from(number(0..4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)?;
    let zone = &text[10..];
    let zb = zone.as_bytes();
    let zoned = match zb {
        [] => false,
        [b'Z'] => true,
        [b'+' | b'-', _, _, b':', _, _] if digits(11..13) && digits(14..16) => {
            let (h, m) = (number(11..13)?, number(14..16)?);
            if h > 14 || m > 59 || (h == 14 && m > 0) {
                return None;
            }
            true
        }
        _ => return None,
    };
    Some((date, zoned))
}

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
}

impl<R: Read> LineCounter<R> {
    fn new(inner: R) -> Self {
        LineCounter {
            inner,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            filled: 0,
            consumed: 0,
            line: 1,
            line_start: 0,
            newlines: Vec::new(),
        }
    }

    /// Forgets newlines before `offset`, folding them into the base line.
    fn mark(&mut self, offset: u64) {
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
        for (i, &b) in self.buf[self.pos..self.pos + amount].iter().enumerate() {
            if b == b'\n' {
                self.newlines.push(self.consumed + i as u64);
            }
        }
        self.pos += amount;
        self.consumed += amount as u64;
    }
}
