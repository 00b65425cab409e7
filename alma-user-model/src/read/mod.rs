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
//! | `W-SKIPPED-ELEMENT` | `pref_full_name` in a user: not in the XSD, but Alma skips it (Berkeley's production feeds); what a validator checks inside it (a `user`, `users` or `researcher` element, `xsi:type`, `xsi:nil`) is `E-UNKNOWN-ELEMENT` or `E-UNKNOWN-ATTRIBUTE` |
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

use std::io::{self, BufRead};

use crate::finding::{Finding, Position, Severity};
use crate::model::User;
use crate::schema;

mod clean;
mod events;
mod fast;
mod spare;
mod structure;
mod user;

use events::{Lex, LineCounter, Tok, is_xml_space};
use structure::{is_xsi_typing, namespace_attribute, note_xsi_bindings};

#[doc(hidden)]
pub use clean::{read_clean, read_clean_reusing};
#[doc(hidden)]
pub use fast::{READ_SIZE, RawUser, Split, UserParser, UserSplitter};
#[doc(hidden)]
pub use spare::Spare;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DocState {
    Prolog,
    InRoot,
    Done,
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
        // A schema validator knows no <userRecords> and so checks none of its attributes,
        // but for `xsi:type` and `xsi:nil`: it validates the root against the type they name.
        let checked = if self.name == "userRecords" {
            for (key, _) in &self.attrs[..self.attr_count] {
                if is_xsi_typing(key, &self.xsi_prefixes) {
                    self.document_findings.push(
                        Finding::new(
                            "E-UNKNOWN-ATTRIBUTE",
                            Severity::Error,
                            format!(
                                "the root element <userRecords> has {key:?}: a schema \
                                 validator checks the whole document against the type it \
                                 names; remove it"
                            ),
                        )
                        .at_field(format!("@{key}"))
                        .at(self.pos.line, self.pos.column),
                    );
                }
            }
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

/// `s.trim().is_empty()`, without decoding characters when `s` is ASCII (as the
/// whitespace between elements is).
fn blank(s: &str) -> bool {
    crate::chars::is_xml_whitespace(s.as_bytes())
}
