//! From rows to users: eligibility, merging, groups, dates and field mapping, with a trace of
//! every decision.
//!
//! [`Extractor::new`] reads the inputs once, checks the config against their columns and
//! groups rows by person key (an index of row positions, not a copy of the rows: about
//! 8 bytes a row and the key's length plus one a person). [`Extractor::people`] then maps
//! one person at a time, reading their rows back from the files, so a caller can stream,
//! on another thread if it likes (the extractor is `Sync`, the iterator `Send`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use alma_user_model::{
    AccountType, Address, CodeValue, Email, Phone, RecordType, User, UserIdentifier, UserNote,
    UserStatistic, UserStatus,
};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::ExtractError;
use crate::config::{
    Conflict, DatePolicy, FilterAction, InputConfig, InputFormat, MappingConfig, OnFinding,
};
use crate::database::{Connector, Query};
use crate::read::{Fields, Layout, Source, one_byte, read_table};
use crate::rules::{
    Checker, Col, Columns, Cond, Duration, Field, MonthDay, conds, describe, one_char, parse_date,
    parts,
};

/// Where a row came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowRef {
    /// The file, as named in the config; for a query, the input's name.
    pub file: String,
    /// 1-based line of the row in that file; for a query, the row's 1-based number in the
    /// result.
    pub line: u64,
    /// Whether the row came from a query (then `line` is a row number).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub query: bool,
}

impl fmt::Display for RowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.query {
            write!(f, "{} row {}", self.file, self.line)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// What became of one input row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Written as part of the user with this primary id.
    Written {
        /// The user's primary id.
        primary_id: String,
    },
    /// Dropped by a named eligibility rule.
    Filtered {
        /// The rule's name.
        rule: String,
    },
    /// Rejected with these errors.
    Rejected {
        /// What was wrong.
        errors: Vec<String>,
    },
}

/// One row's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct RowOutcome {
    /// Where the row came from.
    pub row: RowRef,
    /// The person key of the row.
    pub key: String,
    /// What became of it.
    pub decision: Decision,
    /// The fallback encoding the row was decoded with, when it was not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded_as: Option<&'static str>,
}

/// A finding about a row whose person is still loaded, because the config says to warn
/// (`W-` codes): it names the code, the column and the row, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowWarning {
    /// The row.
    pub row: RowRef,
    /// `CODE: what was found`.
    pub text: String,
}

/// What reading one input gave: its rows, those decoded with the fallback encoding, and
/// those that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputSummary {
    /// The file, as named in the config.
    pub file: String,
    /// Rows read.
    pub rows: usize,
    /// The input's fallback encoding (WHATWG name), if it has one.
    pub fallback: Option<&'static str>,
    /// Whether the whole file is in that encoding (UTF-16), rather than some rows.
    pub whole_file: bool,
    /// Lines of the rows that were not UTF-8 and were decoded with the fallback.
    pub fallback_lines: Vec<u64>,
    /// Rows that could not be read (each rejected with an `E-READ-*`, `E-UTF8` or
    /// `E-DECODE` code).
    pub unreadable_rows: usize,
}

/// Which part of the mapping a trace step is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// The rows found for the person.
    Rows,
    /// Eligibility rules, row by row.
    Eligibility,
    /// The order in which rows give values.
    Merge,
    /// The user group.
    Group,
    /// The expiry date.
    Expiry,
    /// The purge date.
    Purge,
    /// Preferred contact information.
    Contact,
    /// A field whose value several rows could give.
    Field,
    /// Why the person was not loaded.
    Outcome,
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Topic::Rows => "rows",
            Topic::Eligibility => "eligibility",
            Topic::Merge => "merge",
            Topic::Group => "group",
            Topic::Expiry => "expiry",
            Topic::Purge => "purge",
            Topic::Contact => "contact",
            Topic::Field => "field",
            Topic::Outcome => "outcome",
        })
    }
}

/// One step of a person's path through the rules. Steps name rules, rows, codes and dates,
/// never names or addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceStep {
    /// What the step is about.
    pub topic: Topic,
    /// The step in words.
    pub text: String,
}

/// A user built from one or more rows, with the reasons for its values.
#[derive(Debug, Clone)]
pub struct MappedUser {
    /// The user.
    pub user: User,
    /// The rows merged into it, in order of precedence.
    pub rows: Vec<RowRef>,
    /// Why each rule-driven value was chosen, in order (empty when tracing is off).
    pub trace: Vec<TraceStep>,
}

/// Everything that happened to one person key.
#[derive(Debug, Clone)]
pub struct PersonOutcome {
    /// The person key (empty for a row without one).
    pub key: String,
    /// Every row of the person, with its decision.
    pub rows: Vec<RowOutcome>,
    /// The user, when one was written.
    pub user: Option<MappedUser>,
    /// The trace when no user was written (a written user carries it in `user.trace`).
    pub trace: Vec<TraceStep>,
    /// Findings the config says to warn about (the person is loaded as the extract has them).
    pub warnings: Vec<RowWarning>,
}

impl PersonOutcome {
    /// The person's trace, written or not.
    pub fn steps(&self) -> &[TraceStep] {
        self.user.as_ref().map_or(&self.trace, |u| &u.trace)
    }
}

/// The result of mapping a whole extract.
#[derive(Debug, Default)]
pub struct Extraction {
    /// Users to write, in order of first appearance of their key.
    pub users: Vec<MappedUser>,
    /// Every row's outcome, grouped by person in order of first appearance.
    pub rows: Vec<RowOutcome>,
    /// Warnings (for example a fallback encoding used).
    pub warnings: Vec<String>,
    /// Findings about rows whose people were loaded anyway (`[text]`, `[identity]` set to
    /// warn or merge).
    pub row_warnings: Vec<RowWarning>,
}

/// Reads the configured inputs (paths relative to `base_dir`) and maps them to users,
/// with traces.
pub fn extract(
    config: &MappingConfig,
    base_dir: &Path,
    today: NaiveDate,
) -> Result<Extraction, ExtractError> {
    let extractor = Extractor::new(config, base_dir, today)?;
    let mut out = Extraction {
        warnings: extractor.warnings().to_vec(),
        ..Extraction::default()
    };
    for person in extractor.people() {
        out.rows.extend(person.rows);
        out.users.extend(person.user);
        out.row_warnings.extend(person.warnings);
    }
    Ok(out)
}

/// What is wrong with the keys of `input` for a file (`query` false) or a query input.
fn query_keys_error(input: &InputConfig, query: bool) -> Option<String> {
    let has_path = !input.path.as_os_str().is_empty();
    match (query, has_path) {
        (false, false) => Some("an input needs `path`, `query` or `query_file`".to_owned()),
        (true, true) => Some(format!(
            "input {}: give `path` or a query (`query`, `query_file`), not both",
            input.name()
        )),
        (false, true) if input.database.is_some() || input.name.is_some() => Some(format!(
            "input {}: `database` and `name` are for query inputs",
            input.path.display()
        )),
        (true, false)
            if input.format != InputFormat::Delimited
                || input.header.is_some()
                || !input.columns.is_empty()
                || !input.positions.is_empty()
                || input.encoding.is_some()
                || input.delimiter.span() != (0..0)
                || input.quote.span() != (0..0) =>
        {
            Some(format!(
                "input {}: format, delimiter, quote, header, columns, positions and encoding \
                 are for files; a query's columns are its result's",
                input.name()
            ))
        }
        _ => None,
    }
}

/// An error about the spool file at `path`, named after the query input `name` instead.
fn rename(e: ExtractError, path: &Path, name: &str) -> ExtractError {
    let spool = path.display().to_string();
    match e {
        ExtractError::Io { source, .. } => ExtractError::Database {
            input: name.to_owned(),
            message: format!("cannot read the spooled rows back: {source}"),
        },
        other => ExtractError::Database {
            input: name.to_owned(),
            message: other.to_string().replace(&spool, name),
        },
    }
}

/// Why a date policy gave a date, or none: put in words only for a trace or an error.
enum Why<'a> {
    Fixed,
    Today,
    TodayPlus(&'a str),
    TodayPlusOutOfRange(&'a str),
    Column(&'a str),
    ColumnGrace(&'a str, NaiveDate, &'a str),
    ColumnOutOfRange(NaiveDate, &'a str),
    ColumnEmpty(&'a str),
    ColumnNotADate(&'a str, &'a [String]),
    Term(&'a str, NaiveDate),
    TermGrace(&'a str, NaiveDate, &'a str),
    TermOutOfRange(NaiveDate, &'a str),
    /// No term of the value (split by the separator) is in the calendar: (column, value,
    /// separator).
    NoTerm(&'a str, &'a str, &'a str, Option<char>),
}

impl Why<'_> {
    /// The reason without any value from the extract, for errors that reach the report.
    fn private(&self) -> String {
        match self {
            Why::NoTerm(column, ..) => {
                format!("no term in column {column} is in the term calendar")
            }
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Fixed => f.write_str("fixed date"),
            Why::Today => f.write_str("today"),
            Why::TodayPlus(text) => write!(f, "today + {text}"),
            Why::TodayPlusOutOfRange(text) => write!(f, "today + {text} is out of range"),
            Why::Column(column) => write!(f, "column {column}"),
            Why::ColumnGrace(column, date, text) => {
                write!(f, "column {column} is {date}, + {text} grace")
            }
            Why::ColumnOutOfRange(date, text) => {
                write!(f, "column date {date} + {text} is out of range")
            }
            Why::ColumnEmpty(column) => write!(f, "column {column} is empty"),
            Why::ColumnNotADate(column, formats) => write!(
                f,
                "column {column} is not a date in {}",
                formats.join(" or ")
            ),
            Why::Term(term, end) => write!(f, "term {term} ends {end}"),
            Why::TermGrace(term, end, text) => {
                write!(f, "term {term} ends {end}, + {text} grace")
            }
            Why::TermOutOfRange(end, text) => write!(f, "term end {end} + {text} is out of range"),
            Why::NoTerm(_, value, separator, sep) => write!(
                f,
                "term {} is not in the term calendar",
                parts(value, separator, *sep).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// The end of a chain of rows.
const NONE: u32 = u32::MAX;

enum Policy {
    Fixed(NaiveDate),
    Today,
    TodayPlus(Duration, String),
    Column(String, Col, Vec<String>, Option<(Duration, String)>),
    Term(String, Col, Option<(Duration, String)>, String),
}

struct ExpiryRuleC {
    name: String,
    groups: Vec<String>,
    when: Vec<Cond>,
    policy: Policy,
}

struct SafeZoneC {
    name: String,
    groups: Vec<String>,
    from: MonthDay,
    to: MonthDay,
    move_to: MonthDay,
}

struct AddressC {
    kind: String,
    line1: Field,
    rest: Vec<(&'static str, Field)>,
}

/// The single-valued fields of `[fields]`, in the order traces list them; a field is named
/// by its position here.
const FIELD_NAMES: [&str; 19] = [
    "primary_id",
    "first_name",
    "middle_name",
    "last_name",
    "pref_first_name",
    "pref_middle_name",
    "pref_last_name",
    "user_title",
    "job_category",
    "job_description",
    "gender",
    "campus_code",
    "preferred_language",
    "birth_date",
    "external_id",
    "status",
    "record_type",
    "account_type",
    "web_site_url",
];
const PRIMARY_ID: usize = 0;
const FIRST_NAME: usize = 1;
const MIDDLE_NAME: usize = 2;
const LAST_NAME: usize = 3;
const PREF_FIRST_NAME: usize = 4;
const PREF_MIDDLE_NAME: usize = 5;
const PREF_LAST_NAME: usize = 6;
const USER_TITLE: usize = 7;
const JOB_CATEGORY: usize = 8;
const JOB_DESCRIPTION: usize = 9;
const GENDER: usize = 10;
const CAMPUS_CODE: usize = 11;
const PREFERRED_LANGUAGE: usize = 12;
const BIRTH_DATE: usize = 13;
const EXTERNAL_ID: usize = 14;
const STATUS: usize = 15;
const RECORD_TYPE: usize = 16;
const ACCOUNT_TYPE: usize = 17;
const WEB_SITE_URL: usize = 18;

struct Compiled {
    filters: Vec<(String, FilterAction, Vec<Cond>)>,
    groups: Vec<(String, Option<String>, Vec<Cond>)>,
    combined: Vec<(Vec<String>, String, Option<String>)>,
    prefer: Vec<(String, Vec<Cond>)>,
    fields: Vec<(&'static str, Field)>,
    /// Position in [`FIELD_NAMES`] -> position in `fields`, or `usize::MAX` when not set.
    field_at: [usize; FIELD_NAMES.len()],
    identifiers: Vec<(String, Field)>,
    emails: Vec<(String, Field)>,
    phones: Vec<(String, Field)>,
    addresses: Vec<AddressC>,
    notes: Vec<(String, Field, bool)>,
    statistics: Vec<(Field, Option<String>)>,
    terms: HashMap<String, NaiveDate>,
    expiry_rules: Vec<ExpiryRuleC>,
    expiry_default: Policy,
    safe_zones: Vec<SafeZoneC>,
    purge_default: Option<(Duration, String)>,
    purge_rules: Vec<(Vec<String>, Duration, String)>,
    /// Columns that must agree between a person's merged rows, with the date formats of a
    /// column `birth_date` reads alone (its values are compared as dates).
    identity: Vec<(String, Col, Option<Vec<String>>)>,
    /// Every column a field rule reads, once, in column order, with the fields that read it
    /// (`last_name, address home line1`): checked for damaged text.
    used: Vec<(String, Col, String)>,
}

impl Compiled {
    /// Every field rule with a label, for traces.
    fn every_field(&self) -> Vec<(String, &Field)> {
        fn labelled<'a>(what: &str, list: &'a [(String, Field)]) -> Vec<(String, &'a Field)> {
            list.iter()
                .map(|(kind, f)| (format!("{what} {kind}"), f))
                .collect()
        }
        let mut all: Vec<(String, &Field)> = self
            .fields
            .iter()
            .map(|(n, f)| ((*n).to_owned(), f))
            .collect();
        all.extend(labelled("identifier", &self.identifiers));
        all.extend(labelled("email", &self.emails));
        all.extend(labelled("phone", &self.phones));
        for a in &self.addresses {
            all.push((format!("address {} line1", a.kind), &a.line1));
            all.extend(
                a.rest
                    .iter()
                    .map(|(n, f)| (format!("address {} {n}", a.kind), f)),
            );
        }
        all.extend(self.notes.iter().map(|(k, f, _)| (format!("note {k}"), f)));
        all.extend(
            self.statistics
                .iter()
                .map(|(f, _)| ("statistic".to_owned(), f)),
        );
        all
    }
}

/// A person's key in the index: its length (LEB128) and its bytes.
fn put_key(keys: &mut Vec<u8>, key: &[u8]) {
    let mut len = key.len();
    while len >= 0x80 {
        keys.push((len as u8) | 0x80);
        len >>= 7;
    }
    keys.push(len as u8);
    keys.extend_from_slice(key);
}

/// The key at `at` in the index, and where the next one starts.
fn get_key(keys: &[u8], mut at: usize) -> (&[u8], usize) {
    let (mut len, mut shift) = (0usize, 0);
    while let Some(&b) = keys.get(at) {
        at += 1;
        len |= usize::from(b & 0x7F) << shift;
        shift += 7;
        if b < 0x80 {
            break;
        }
    }
    let end = (at + len).min(keys.len());
    (&keys[at..end], end)
}

/// While indexing, a person's entry is their last row (4 bytes) followed by their key.
const TAIL: usize = 4;

fn tail(keys: &[u8], entry: u32) -> u32 {
    let at = entry as usize;
    let mut bytes = [0; TAIL];
    bytes.copy_from_slice(&keys[at..at + TAIL]);
    u32::from_le_bytes(bytes)
}

fn set_tail(keys: &mut [u8], entry: u32, row: u32) {
    let at = entry as usize;
    keys[at..at + TAIL].copy_from_slice(&row.to_le_bytes());
}

/// Person keys to their entries while indexing: an open-addressing table of entry offsets
/// with a one-byte tag of each key's hash, so that a probe rarely compares keys. Keys are
/// compared exactly; keys whose hashes agree are simply kept apart.
struct KeyTable<S = std::hash::RandomState> {
    hasher: S,
    tags: Vec<u8>,
    slots: Vec<u32>,
    len: usize,
}

impl<S: std::hash::BuildHasher + Default> KeyTable<S> {
    fn new() -> Self {
        KeyTable {
            hasher: S::default(),
            tags: vec![0; 1024],
            slots: vec![0; 1024],
            len: 0,
        }
    }
}

impl<S: std::hash::BuildHasher> KeyTable<S> {
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn home(&self, hash: u64) -> usize {
        ((u64::from(hash as u32) * self.tags.len() as u64) >> 32) as usize
    }

    fn tag(hash: u64) -> u8 {
        (hash >> 57) as u8 | 0x80
    }

    /// The entry of `key` (in build-time `keys`), or the free slot where it goes.
    fn find(&self, keys: &[u8], key: &[u8], hash: u64) -> Result<u32, usize> {
        let tag = Self::tag(hash);
        let mut i = self.home(hash);
        loop {
            match self.tags[i] {
                0 => return Err(i),
                t if t == tag && get_key(keys, self.slots[i] as usize + TAIL).0 == key => {
                    return Ok(self.slots[i]);
                }
                _ => {}
            }
            i += 1;
            if i == self.tags.len() {
                i = 0;
            }
        }
    }

    fn put(&mut self, slot: usize, hash: u64, entry: u32) {
        self.tags[slot] = Self::tag(hash);
        self.slots[slot] = entry;
        self.len += 1;
    }

    /// Whether one more key keeps the table at most 80 % full.
    fn has_room(&self) -> bool {
        (self.len + 1) * 5 <= self.tags.len() * 4
    }

    /// Rebuilds the table with `capacity` slots over the keyed entries of `keys`.
    fn rebuild(&mut self, keys: &[u8], capacity: usize) {
        self.tags = vec![0; capacity];
        self.slots = vec![0; capacity];
        self.len = 0;
        let mut at = 0;
        while at < keys.len() {
            let (key, next) = get_key(keys, at + TAIL);
            if !key.is_empty() {
                let hash = self.hash(key);
                if let Err(slot) = self.find(keys, key, hash) {
                    self.put(slot, hash, at as u32);
                }
            }
            at = next;
        }
    }
}

/// People in order of first appearance and the rows of each, in about 4 bytes per row
/// (plus a bit) and the key's length plus one per person.
#[derive(Default)]
struct Index {
    /// Per row (numbered across inputs): the person's next row, or [`NONE`].
    next: Vec<u32>,
    /// Per row, a bit: set on the first row of a person.
    heads: Vec<u64>,
    /// Per person, in order: the key (see [`put_key`]); while indexing, each entry starts
    /// with the person's last row.
    keys: Vec<u8>,
    people: usize,
}

impl Index {
    /// The first row at or after `row` that starts a person.
    fn next_head(&self, row: usize) -> Option<usize> {
        let mut word = row / 64;
        let mut bits = *self.heads.get(word)? & (u64::MAX << (row % 64));
        while bits == 0 {
            word += 1;
            bits = *self.heads.get(word)?;
        }
        Some(word * 64 + bits.trailing_zeros() as usize)
    }

    /// The next person after `cursor`: their first row and key.
    fn person(&self, cursor: &mut (usize, usize)) -> Option<(usize, &str)> {
        let head = self.next_head(cursor.0)?;
        let (key, next) = get_key(&self.keys, cursor.1);
        *cursor = (head + 1, next);
        Some((head, std::str::from_utf8(key).unwrap_or_default()))
    }
}

/// Builds the [`Index`] from the rows of every input, in order.
struct Builder<S = std::hash::RandomState> {
    index: Index,
    table: KeyTable<S>,
}

impl<S: std::hash::BuildHasher + Default> Builder<S> {
    fn new() -> Self {
        Builder {
            index: Index::default(),
            table: KeyTable::new(),
        }
    }
}

impl<S: std::hash::BuildHasher> Builder<S> {
    fn new_person(&mut self, row: u32, key: &[u8]) {
        let index = &mut self.index;
        index.keys.extend_from_slice(&row.to_le_bytes());
        put_key(&mut index.keys, key);
        index.heads[row as usize / 64] |= 1 << (row % 64);
        index.people += 1;
    }

    /// The index as kept: the build-time last rows dropped from the keys, the table gone.
    fn finish(self) -> Index {
        let mut index = self.index;
        let mut write = 0;
        let mut at = 0;
        while at < index.keys.len() {
            let (_, next) = get_key(&index.keys, at + TAIL);
            index.keys.copy_within(at + TAIL..next, write);
            write += next - at - TAIL;
            at = next;
        }
        index.keys.truncate(write);
        index.keys.shrink_to_fit();
        index.next.shrink_to_fit();
        index.heads.shrink_to_fit();
        index
    }
}

impl<S: std::hash::BuildHasher> crate::read::Sink for Builder<S> {
    fn row(&mut self, key: &str) -> bool {
        let row = self.index.next.len();
        if row >= NONE as usize || self.index.keys.len() + key.len() + 16 > u32::MAX as usize {
            return false;
        }
        let row = row as u32;
        self.index.next.push(NONE);
        if self.index.heads.len() * 64 <= row as usize {
            self.index.heads.push(0);
        }
        // A row without a key is a person of its own (and rejected).
        if key.is_empty() {
            self.new_person(row, b"");
            return true;
        }
        let key = key.as_bytes();
        if !self.table.has_room() {
            let capacity = self.table.tags.len() * 2;
            self.table.rebuild(&self.index.keys, capacity);
        }
        let hash = self.table.hash(key);
        match self.table.find(&self.index.keys, key, hash) {
            Ok(entry) => {
                let last = tail(&self.index.keys, entry);
                self.index.next[last as usize] = row;
                set_tail(&mut self.index.keys, entry, row);
            }
            Err(slot) => {
                let entry = self.index.keys.len() as u32;
                self.new_person(row, key);
                self.table.put(slot, hash, entry);
            }
        }
        true
    }

    fn expect(&mut self, rows: usize) {
        // Room for the rows and a table that need not grow: growing it rehashes every key.
        let index = &mut self.index;
        index.next.reserve(rows);
        index.heads.reserve(rows / 64 + 1);
        let wanted = (self.table.len + rows) * 5 / 4 + 1;
        if wanted > self.table.tags.len() {
            self.table.rebuild(&self.index.keys, wanted);
        }
    }
}

/// Maps an extract one person at a time.
pub struct Extractor<'c> {
    config: &'c MappingConfig,
    today: NaiveDate,
    sources: Vec<Source>,
    compiled: Compiled,
    /// People and their rows.
    index: Index,
    /// Where each source's rows start in the global row numbering.
    row_base: Vec<u32>,
    /// Per source, whether it is a query's result (its rows are numbered, not lined).
    queries: Vec<bool>,
    /// The spooled results of queries, kept open while the extractor reads them back.
    _spools: Vec<std::fs::File>,
    warnings: Vec<String>,
    trace: bool,
}

/// What mapping keeps between people: per input, a window of the file and a parser, and
/// the field buffers of rows.
#[derive(Default)]
struct Reading {
    caches: Vec<crate::read::Cache>,
    spare: Vec<Fields>,
}

/// A person's rows as read, before mapping.
struct ReadRows {
    rows: Vec<Row>,
    /// A row could not be read back.
    unreadable: bool,
    /// The messages of rows that could not be read when indexed.
    problems: Vec<String>,
}

impl ReadRows {
    /// The raw-row hash of these rows (see [`crate::RAW_HASH_VERSION`]); `None` when one of
    /// them could not be read (such a person is always mapped).
    fn raw_hash(&self) -> Option<u64> {
        if self.unreadable || !self.problems.is_empty() {
            return None;
        }
        let mut h = crate::rowhash::RowHasher::new();
        for row in &self.rows {
            h.row(row.source);
            for i in 0..row.fields.len() {
                h.field(row.fields.get(i).unwrap_or("").as_bytes());
            }
        }
        Some(h.finish())
    }
}

/// One person of [`Extractor::people_unless`].
// Moved once per person into a batch: boxing the larger variant would allocate per person.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Visit {
    /// Mapped. `raw`: the hash of their rows ([`crate::RAW_HASH_VERSION`]), `None` when a
    /// row could not be read.
    Mapped {
        /// The person.
        person: PersonOutcome,
        /// Their raw-row hash.
        raw: Option<u64>,
    },
    /// Not mapped: the caller's test held for their key and raw-row hash.
    Skipped {
        /// The person key.
        key: String,
        /// How many rows they have.
        rows: usize,
        /// Their raw-row hash.
        raw: u64,
    },
}

/// Every person, in order of first appearance; see [`Extractor::people`].
struct People<'x, 'c> {
    extractor: &'x Extractor<'c>,
    /// (next row to look for a first row from, next key).
    cursor: (usize, usize),
    left: usize,
    reading: Reading,
}

impl Iterator for People<'_, '_> {
    type Item = PersonOutcome;

    fn next(&mut self) -> Option<PersonOutcome> {
        let x = self.extractor;
        let (head, key) = x.index.person(&mut self.cursor)?;
        self.left = self.left.saturating_sub(1);
        Some(x.person_traced(head, key, x.trace, &mut self.reading))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for People<'_, '_> {}

impl<'c> Extractor<'c> {
    /// Reads the inputs, checks the config against their columns and indexes rows by key.
    /// A query input gets no environment (see [`Extractor::with_connector`]).
    pub fn new(
        config: &'c MappingConfig,
        base_dir: &Path,
        today: NaiveDate,
    ) -> Result<Extractor<'c>, ExtractError> {
        Extractor::with_connector(config, base_dir, today, &Connector::default())
    }

    /// [`Extractor::new`], running query inputs with what `connector` gives them (the
    /// environment, the home directory, where to spool rows).
    pub fn with_connector(
        config: &'c MappingConfig,
        base_dir: &Path,
        today: NaiveDate,
        connector: &Connector,
    ) -> Result<Extractor<'c>, ExtractError> {
        let src = &config.source;
        let error = |span: std::ops::Range<usize>, message: String| ExtractError::Config {
            at: src.locate(&span),
            message,
        };
        let mut sources = Vec::new();
        let mut warnings = Vec::new();
        let mut builder: Builder = Builder::new();
        let mut row_base: Vec<u32> = Vec::new();
        let mut queries = Vec::new();
        let mut spools = Vec::new();
        if config.inputs.is_empty() {
            return Err(error(0..0, "at least one [[input]] is needed".to_owned()));
        }
        for input in &config.inputs {
            let query = Query::of(input, base_dir)?;
            if let Some(message) = query_keys_error(input, query.is_some()) {
                return Err(error(input.key.span(), message));
            }
            // A query's rows are spooled as CSV; a file has the layout its config gives.
            let layout = if query.is_some() {
                Layout::Delimited {
                    delimiter: b',',
                    quote: b'"',
                }
            } else {
                crate::records::layout(input, src)?
            };
            row_base.push(builder.index.next.len() as u32);
            let source = match &query {
                None => Source::open(input, base_dir, layout, &config.limits, &mut builder)?,
                Some(query) => {
                    let spooled = crate::database::spool(query, base_dir, connector)?;
                    warnings.extend(spooled.warnings);
                    // The spool is a UTF-8 CSV file with a header row.
                    let spool = InputConfig {
                        path: spooled.path.clone(),
                        header: Some(true),
                        ..input.clone()
                    };
                    let mut source =
                        Source::open(&spool, base_dir, layout, &config.limits, &mut builder)
                            .map_err(|e| rename(e, &spooled.path, &query.name))?;
                    source.name = query.name.clone();
                    spools.push(spooled.file);
                    source
                }
            };
            queries.push(query.is_some());
            if !source.index.contains_key(input.key.get_ref()) {
                return Err(ExtractError::UnknownColumn {
                    at: src.locate(&input.key.span()),
                    column: input.key.get_ref().clone(),
                    files: vec![crate::InputColumns {
                        input: source.name.clone(),
                        columns: source.columns.clone(),
                        named_by_config: query.is_some(),
                    }],
                });
            }
            let fallback = source.fallback_lines().len();
            match source.encoding() {
                Some((encoding, true)) => warnings.push(format!(
                    "{}: a UTF-16 file, decoded as {encoding}",
                    source.name
                )),
                Some((encoding, false)) if fallback > 0 => warnings.push(format!(
                    "{}: {fallback} row(s) not UTF-8, decoded as {encoding} (their lines are in \
                     the report)",
                    source.name
                )),
                _ => {}
            }
            if source.problems() > 0 {
                warnings.push(format!(
                    "{}: {} row(s) could not be read and are rejected; the extract did not read \
                     cleanly",
                    source.name,
                    source.problems()
                ));
            }
            sources.push(source);
        }
        let index = builder.finish();
        // Every input's columns, each once: rules name a column by its number here.
        let mut columns: Vec<String> = Vec::new();
        for source in &sources {
            for c in &source.columns {
                if !columns.contains(c) {
                    columns.push(c.clone());
                }
            }
        }
        for source in &mut sources {
            source.fields_of = columns
                .iter()
                .map(|c| source.index.get(c).copied().unwrap_or(usize::MAX))
                .collect();
        }
        let compiled = compile(config, base_dir, &sources, &queries, &columns)?;
        Ok(Extractor {
            config,
            today,
            sources,
            compiled,
            index,
            row_base,
            queries,
            _spools: spools,
            warnings,
            trace: true,
        })
    }

    /// Turns tracing on (the default) or off; off saves memory on large extracts.
    pub fn with_trace(mut self, on: bool) -> Self {
        self.trace = on;
        self
    }

    /// Warnings from reading the inputs (for example a fallback encoding used).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// How many data rows the inputs hold.
    pub fn rows_read(&self) -> usize {
        self.sources.iter().map(Source::len).sum()
    }

    /// How many people the inputs hold (each becomes at most one user): a capacity hint.
    pub fn people_count(&self) -> usize {
        self.index.people
    }

    /// What reading each input gave, in config order.
    pub fn inputs(&self) -> Vec<InputSummary> {
        self.sources
            .iter()
            .map(|s| {
                let encoding = s.encoding();
                InputSummary {
                    file: s.name.clone(),
                    rows: s.len(),
                    fallback: encoding.map(|e| e.0),
                    whole_file: encoding.is_some_and(|e| e.1),
                    fallback_lines: s.fallback_lines(),
                    unreadable_rows: s.problems(),
                }
            })
            .collect()
    }

    /// Whether every row of every input was read cleanly. When not, some rows were not read
    /// (they are rejected), so nobody may be taken for gone from the extract.
    pub fn read_cleanly(&self) -> bool {
        self.sources.iter().all(|s| s.problems() == 0)
    }

    /// Checks that no input changed since it was read: the same file, size and modification
    /// time, and the same bytes. Call it after mapping, before anything is sent.
    pub fn verify_unchanged(&self) -> Result<(), ExtractError> {
        self.sources.iter().try_for_each(Source::verify)
    }

    /// Every person, in order of first appearance of their key; rows without a key come as
    /// persons of their own.
    pub fn people(&self) -> impl Iterator<Item = PersonOutcome> + '_ {
        People {
            extractor: self,
            cursor: (0, 0),
            left: self.index.people,
            reading: Reading::default(),
        }
    }

    /// Every person, as [`Extractor::people`] gives them, each with the hash of their rows
    /// (see [`crate::RAW_HASH_VERSION`]); a person with a key for whom `skip(key, raw
    /// hash)` holds is read and hashed but not mapped ([`Visit::Skipped`]).
    pub fn people_unless<'a>(
        &'a self,
        mut skip: impl FnMut(&str, u64) -> bool + 'a,
    ) -> impl Iterator<Item = Visit> + 'a {
        let mut reading = Reading::default();
        let mut cursor = (0, 0);
        std::iter::from_fn(move || {
            let (head, key) = self.index.person(&mut cursor)?;
            let read = self.read_rows(head, &mut reading);
            let raw = read.raw_hash();
            if let Some(raw) = raw.filter(|&raw| !key.is_empty() && skip(key, raw)) {
                let rows = read.rows.len();
                reading
                    .spare
                    .extend(read.rows.into_iter().map(|r| r.fields));
                return Some(Visit::Skipped {
                    key: key.to_owned(),
                    rows,
                    raw,
                });
            }
            let person = self.person_of_rows(key, read, self.trace, &mut reading);
            Some(Visit::Mapped { person, raw })
        })
    }

    /// The person whose key or primary id is `id`, or who has the row at `id` written as
    /// `file:line` (for a row without a key), traced.
    pub fn explain(&self, id: &str) -> Option<PersonOutcome> {
        let mut reading = Reading::default();
        let mut cursor = (0, 0);
        while let Some((head, key)) = self.index.person(&mut cursor) {
            if !key.is_empty() && key == id {
                return Some(self.person_traced(head, key, true, &mut reading));
            }
        }
        if let Some(row) = self.row_at(id) {
            let mut cursor = (0, 0);
            while let Some((head, key)) = self.index.person(&mut cursor) {
                let global = |(s, r): (usize, usize)| self.row_base[s] as usize + r;
                if self.rows_of(head).any(|at| global(at) == row) {
                    return Some(self.person_traced(head, key, true, &mut reading));
                }
            }
        }
        // Find the person without tracing everyone, then trace them.
        let mut cursor = (0, 0);
        while let Some((head, key)) = self.index.person(&mut cursor) {
            let found = self
                .person_traced(head, key, false, &mut reading)
                .user
                .is_some_and(|u| u.user.primary_id == id);
            if found {
                return Some(self.person_traced(head, key, true, &mut reading));
            }
        }
        None
    }

    /// The row (numbered across inputs) at `file:line`: the input named as in the config, or
    /// by its file name, and the line its record starts on.
    fn row_at(&self, at: &str) -> Option<usize> {
        let (file, line) = at.rsplit_once(':')?;
        let line: u64 = line.parse().ok()?;
        self.sources.iter().enumerate().find_map(|(s, source)| {
            let named = source.name == file
                || Path::new(&source.name).file_name() == Some(std::ffi::OsStr::new(file));
            let row = source.row_on_line(line).filter(|_| named)?;
            Some(self.row_base[s] as usize + row)
        })
    }

    /// The rows of the person whose first row is `head`, as (source, row), in input order.
    fn rows_of(&self, head: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut at = head as u32;
        std::iter::from_fn(move || {
            if at == NONE {
                return None;
            }
            let here = at;
            at = self.index.next[here as usize];
            let source = self.row_base.partition_point(|&b| b <= here) - 1;
            Some((source, (here - self.row_base[source]) as usize))
        })
    }

    fn person_traced(
        &self,
        head: usize,
        key: &str,
        trace: bool,
        reading: &mut Reading,
    ) -> PersonOutcome {
        let read = self.read_rows(head, reading);
        self.person_of_rows(key, read, trace, reading)
    }

    /// The rows of the person whose first row is `head`, read.
    fn read_rows(&self, head: usize, reading: &mut Reading) -> ReadRows {
        if reading.caches.len() < self.sources.len() {
            reading
                .caches
                .resize_with(self.sources.len(), Default::default);
        }
        let mut unreadable = false;
        let mut problems: Vec<String> = Vec::new();
        let rows: Vec<Row> = self
            .rows_of(head)
            .map(|(s, r)| {
                let source = &self.sources[s];
                let mut fields = reading.spare.pop().unwrap_or_default();
                let read = source.fields(r, &mut reading.caches[s], &mut fields);
                unreadable |= !read.readable;
                let at = RowRef {
                    file: source.name.clone(),
                    line: match self.queries[s] {
                        true => r as u64 + 1,
                        false => source.line(r),
                    },
                    query: self.queries[s],
                };
                if let Some(problem) = source.problem(r) {
                    let key = self.config.inputs[s].key.get_ref();
                    problems.push(problem.message(&at.to_string(), key, source.has_header()));
                }
                Row {
                    source: s,
                    at,
                    fields,
                    decision: None,
                    decoded_as: read.decoded_as.map(encoding_rs::Encoding::name),
                }
            })
            .collect();
        ReadRows {
            rows,
            unreadable,
            problems,
        }
    }

    /// The person whose rows were read, mapped.
    fn person_of_rows(
        &self,
        key: &str,
        read: ReadRows,
        trace: bool,
        reading: &mut Reading,
    ) -> PersonOutcome {
        let ReadRows {
            mut rows,
            unreadable,
            problems,
        } = read;
        let key = key.to_owned();
        let mut t = Tracer {
            on: trace,
            steps: Vec::new(),
        };
        t.add(Topic::Rows, || {
            format!(
                "{} row(s) with key {key:?}: {}",
                rows.len(),
                rows.iter()
                    .map(|r| r.at.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        for row in rows.iter().filter(|r| r.decoded_as.is_some()) {
            t.add(Topic::Rows, || {
                format!(
                    "{}: not UTF-8, decoded as {}",
                    row.at,
                    row.decoded_as.unwrap_or_default()
                )
            });
        }
        let mut warnings = Vec::new();
        let user = if key.is_empty() || unreadable || !problems.is_empty() {
            let errors = if unreadable {
                vec![
                    "E-MAP-INPUT-CHANGED: cannot read this person's rows back: an input changed during the run"
                        .to_owned(),
                ]
            } else if !problems.is_empty() {
                // The row's own message leads; the person's other rows share it, so that no
                // part of them is loaded without the row that could not be read.
                problems
            } else {
                let column = self.config.inputs[rows[0].source].key.get_ref();
                vec![format!(
                    "E-MAP-EMPTY-KEY: the key column {column:?} is empty"
                )]
            };
            t.add(Topic::Outcome, || errors.join("; "));
            for row in &mut rows {
                row.decision = Some(Decision::Rejected {
                    errors: errors.clone(),
                });
            }
            None
        } else {
            self.map(&key, &mut rows, &mut t, &mut warnings)
        };
        let outcomes = rows
            .into_iter()
            .map(|r| {
                reading.spare.push(r.fields);
                RowOutcome {
                    row: r.at,
                    key: key.clone(),
                    decision: r.decision.unwrap_or_else(|| Decision::Rejected {
                        errors: vec!["E-MAP-UNDECIDED: no decision was reached".to_owned()],
                    }),
                    decoded_as: r.decoded_as,
                }
            })
            .collect();
        match user {
            Some(mut u) => {
                u.trace = t.steps;
                PersonOutcome {
                    key,
                    rows: outcomes,
                    user: Some(u),
                    trace: Vec::new(),
                    warnings,
                }
            }
            None => PersonOutcome {
                key,
                rows: outcomes,
                user: None,
                trace: t.steps,
                warnings,
            },
        }
    }

    fn row_value<'r>(&self, row: &'r Row, col: Col) -> &'r str {
        let i = self.sources[row.source].fields_of[col];
        row.fields.get(i).unwrap_or("")
    }

    fn row_holds(&self, row: &Row, when: &[Cond]) -> bool {
        when.iter().all(|c| c.holds(self.row_value(row, c.col)))
    }

    fn eligibility(&self, rows: &mut [Row], t: &mut Tracer) {
        for row in rows.iter_mut() {
            if self.sources[row.source].supplement {
                t.add(Topic::Eligibility, || {
                    format!(
                        "{}: a supplement row; eligibility rules do not apply",
                        row.at
                    )
                });
                continue;
            }
            let mut decided = false;
            for (name, action, when) in &self.compiled.filters {
                if !self.row_holds(row, when) {
                    t.add(Topic::Eligibility, || {
                        format!(
                            "{}: rule {name:?} does not match ({})",
                            row.at,
                            describe(when)
                        )
                    });
                    continue;
                }
                decided = true;
                match action {
                    FilterAction::Include => {
                        t.add(Topic::Eligibility, || {
                            format!(
                                "{}: rule {name:?} matches ({}): included",
                                row.at,
                                describe(when)
                            )
                        });
                    }
                    FilterAction::Exclude => {
                        t.add(Topic::Eligibility, || {
                            format!(
                                "{}: rule {name:?} matches ({}): filtered",
                                row.at,
                                describe(when)
                            )
                        });
                        row.decision = Some(Decision::Filtered { rule: name.clone() });
                    }
                }
                break;
            }
            if !decided {
                t.add(Topic::Eligibility, || {
                    format!("{}: no eligibility rule matches: included", row.at)
                });
            }
        }
    }

    fn map(
        &self,
        key: &str,
        rows: &mut Vec<Row>,
        t: &mut Tracer,
        warnings: &mut Vec<RowWarning>,
    ) -> Option<MappedUser> {
        self.eligibility(rows, t);
        let main_left = rows
            .iter()
            .any(|r| r.decision.is_none() && !self.sources[r.source].supplement);
        if !main_left {
            let dropped_by = rows.iter().find_map(|r| match &r.decision {
                Some(Decision::Filtered { rule }) => Some(rule.clone()),
                _ => None,
            });
            for row in rows.iter_mut().filter(|r| r.decision.is_none()) {
                row.decision = Some(match &dropped_by {
                    Some(rule) => Decision::Filtered { rule: rule.clone() },
                    None => Decision::Rejected {
                        errors: vec![format!(
                            "E-MAP-SUPPLEMENT-ONLY: key {key:?} has no row in a main input, only in supplements"
                        )],
                    },
                });
            }
            t.add(Topic::Outcome, || match &dropped_by {
                Some(rule) => {
                    format!("not loaded: every main row was filtered (first by {rule:?})")
                }
                None => format!("not loaded: key {key:?} has no row in a main input"),
            });
            return None;
        }

        // Precedence: rows matching an earlier `prefer` rule first, then input, then line.
        let mut live: Vec<Row> = Vec::new();
        let mut index = 0;
        while index < rows.len() {
            if rows[index].decision.is_none() {
                live.push(rows.remove(index));
            } else {
                index += 1;
            }
        }
        let rank = |row: &Row| {
            self.compiled
                .prefer
                .iter()
                .position(|(_, when)| self.row_holds(row, when))
                .unwrap_or(self.compiled.prefer.len())
        };
        live.sort_by_key(|r| (rank(r), r.source, r.at.line));
        if live.len() > 1 {
            t.add(Topic::Merge, || {
                let order: Vec<String> = live
                    .iter()
                    .map(|r| match self.compiled.prefer.get(rank(r)) {
                        Some((name, _)) => format!("{} (prefer {name:?})", r.at),
                        None => format!("{} (input order)", r.at),
                    })
                    .collect();
                format!(
                    "{} rows merged; values come from the first row that has one: {}",
                    live.len(),
                    order.join(", ")
                )
            });
        }
        let person = Person {
            extractor: self,
            rows: &live,
        };
        let mut errors = Vec::new();
        if let Some((conflict, at)) = self.identity_conflict(&live) {
            match self.config.identity.conflict {
                Conflict::Reject => {
                    errors.push(format!(
                        "E-MAP-IDENTITY: {conflict}: two people under one key? Their rows were \
                         not merged (if they are one person, set [identity] conflict = \"merge\")"
                    ));
                }
                Conflict::Merge => {
                    t.add(Topic::Merge, || {
                        format!(
                            "{conflict}: merged as one person ([identity] conflict = \"merge\")"
                        )
                    });
                    warnings.push(RowWarning {
                        row: at,
                        text: format!(
                            "W-MAP-IDENTITY: {conflict}: merged as one person ([identity] \
                             conflict = \"merge\")"
                        ),
                    });
                }
            }
        }
        self.damaged_text(&live, &mut errors, warnings);
        let user = if errors.is_empty() {
            self.build(&person, t, &mut errors)
        } else {
            None
        };
        let refs: Vec<RowRef> = live.iter().map(|r| r.at.clone()).collect();
        let decision = match &user {
            Some(u) if errors.is_empty() => Decision::Written {
                primary_id: u.primary_id.clone(),
            },
            _ => {
                t.add(Topic::Outcome, || errors.join("; "));
                Decision::Rejected {
                    errors: errors.clone(),
                }
            }
        };
        for mut row in live {
            row.decision = Some(decision.clone());
            rows.push(row);
        }
        rows.sort_by_key(|r| (r.source, r.at.line));
        let user = user.filter(|_| errors.is_empty())?;
        Some(MappedUser {
            user,
            rows: refs,
            trace: Vec::new(),
        })
    }

    /// ` (column x)` (or `(columns x, y)`) for a field of [`FIELD_NAMES`], for messages.
    fn made_of(&self, which: usize) -> String {
        let Some((_, field)) = self.compiled.fields.get(self.compiled.field_at[which]) else {
            return String::new();
        };
        let names: Vec<&str> = field.columns().map(|(c, _)| c).collect();
        match names.as_slice() {
            [] => String::new(),
            [one] => format!(" (column {one})"),
            many => format!(" (columns {})", many.join(", ")),
        }
    }

    /// Whether a person's merged rows disagree on who they are: `people.csv:3 and
    /// people.csv:9 differ in birth_date, last_name`, and the second row. Empty values do not
    /// disagree; names are compared ignoring case and spacing, dates as dates.
    fn identity_conflict(&self, live: &[Row]) -> Option<(String, RowRef)> {
        let identity = &self.compiled.identity;
        if identity.is_empty() || live.len() < 2 {
            return None;
        }
        let mut order: Vec<&Row> = live.iter().collect();
        order.sort_by_key(|r| (r.source, r.at.line));
        // For each column the first row with a value; the first later row that differs.
        let mut found: Option<(&Row, &Row)> = None;
        for (_, col, formats) in identity {
            let mut with = order
                .iter()
                .copied()
                .filter(|r| !self.row_value(r, *col).is_empty());
            let Some(first) = with.next() else {
                continue;
            };
            let value = self.row_value(first, *col);
            if let Some(other) =
                with.find(|r| !same_identity(value, self.row_value(r, *col), formats.as_deref()))
            {
                let earlier = found
                    .is_none_or(|(_, o)| (other.source, other.at.line) < (o.source, o.at.line));
                if earlier {
                    found = Some((first, other));
                }
            }
        }
        let (a, b) = found?;
        let columns: Vec<&str> = identity
            .iter()
            .filter(|(_, col, formats)| {
                let (x, y) = (self.row_value(a, *col), self.row_value(b, *col));
                !x.is_empty() && !y.is_empty() && !same_identity(x, y, formats.as_deref())
            })
            .map(|(name, _, _)| name.as_str())
            .collect();
        Some((
            format!("{} and {} differ in {}", a.at, b.at, columns.join(", ")),
            b.at.clone(),
        ))
    }

    /// Values that look damaged upstream, in the columns the field rules read: errors or
    /// warnings, as `[text]` says. Nothing is changed.
    fn damaged_text(&self, live: &[Row], errors: &mut Vec<String>, warnings: &mut Vec<RowWarning>) {
        let text = &self.config.text;
        for row in live {
            if !crate::text::suspect(row.fields.text().as_bytes()) {
                continue;
            }
            for (column, col, fields) in &self.compiled.used {
                let value = self.row_value(row, *col);
                let found = [
                    (
                        crate::text::mojibake(value),
                        text.mojibake,
                        "MOJIBAKE",
                        "looks like UTF-8 text decoded twice upstream (such as \"Ã©\" for \"é\")",
                    ),
                    (
                        crate::text::c1_control(value),
                        text.c1_controls,
                        "C1",
                        "holds a C1 control character (U+0080 to U+009F)",
                    ),
                ];
                for (hit, action, code, what) in found {
                    if !hit {
                        continue;
                    }
                    match action {
                        OnFinding::Reject => errors.push(format!(
                            "E-TEXT-{code}: {}: column {column} (for {fields}) {what}",
                            row.at
                        )),
                        OnFinding::Warn => warnings.push(RowWarning {
                            row: row.at.clone(),
                            text: format!("W-TEXT-{code}: column {column} (for {fields}) {what}"),
                        }),
                    }
                }
            }
        }
    }

    fn field(&self, which: usize, person: &Person<'_>, errors: &mut Vec<String>) -> Option<String> {
        self.field_ref(which, person, errors).map(Cow::into_owned)
    }

    /// A field's value, borrowed when it is read as is (for values that are parsed).
    fn field_ref<'a>(
        &'a self,
        which: usize,
        person: &'a Person<'_>,
        errors: &mut Vec<String>,
    ) -> Option<Cow<'a, str>> {
        let (name, field) = self.compiled.fields.get(self.compiled.field_at[which])?;
        value_ref(name, field, person, errors)
    }

    fn build(&self, p: &Person<'_>, t: &mut Tracer, errors: &mut Vec<String>) -> Option<User> {
        if t.on && p.rows.len() > 1 {
            for (name, field) in self.compiled.every_field() {
                for (column, col) in field.columns() {
                    // Only a choice between different values needs explaining; the
                    // values themselves stay out of the trace.
                    let mut givers = p.rows.iter().filter(|r| !self.row_value(r, col).is_empty());
                    let Some(winner) = givers.next() else {
                        continue;
                    };
                    let value = self.row_value(winner, col);
                    let others: Vec<String> = givers
                        .filter(|r| self.row_value(r, col) != value)
                        .map(|r| r.at.to_string())
                        .collect();
                    if !others.is_empty() {
                        t.add(Topic::Field, || {
                            format!(
                                "{name}: column {column} from {} (a different value in {})",
                                winner.at,
                                others.join(", ")
                            )
                        });
                    }
                }
            }
        }
        let Some(primary_id) = self.field(PRIMARY_ID, p, errors) else {
            errors.push("E-MAP-NO-PRIMARY-ID: primary_id is empty".to_owned());
            return None;
        };
        let mut user = User::new(primary_id);
        user.first_name = self.field(FIRST_NAME, p, errors);
        user.middle_name = self.field(MIDDLE_NAME, p, errors);
        user.last_name = self.field(LAST_NAME, p, errors);
        user.pref_first_name = self.field(PREF_FIRST_NAME, p, errors);
        user.pref_middle_name = self.field(PREF_MIDDLE_NAME, p, errors);
        user.pref_last_name = self.field(PREF_LAST_NAME, p, errors);
        user.user_title = self.field(USER_TITLE, p, errors).map(CodeValue::new);
        user.job_category = self.field(JOB_CATEGORY, p, errors).map(CodeValue::new);
        user.job_description = self.field(JOB_DESCRIPTION, p, errors);
        user.gender = self.field(GENDER, p, errors).map(CodeValue::new);
        user.campus_code = self.field(CAMPUS_CODE, p, errors).map(CodeValue::new);
        user.preferred_language = self
            .field(PREFERRED_LANGUAGE, p, errors)
            .map(CodeValue::new);
        user.external_id = self.field(EXTERNAL_ID, p, errors);
        user.web_site_url = self.field(WEB_SITE_URL, p, errors);
        if let Some(v) = self.field_ref(BIRTH_DATE, p, errors) {
            let field = self
                .compiled
                .fields
                .get(self.compiled.field_at[BIRTH_DATE])
                .map(|(_, f)| f);
            match field.and_then(|f| f.date(&v)) {
                Some(d) => user.birth_date = Some(d),
                None => errors.push(format!(
                    "E-MAP-DATE: birth_date{} is not a date in {} (the formats tried, in order)",
                    self.made_of(BIRTH_DATE),
                    field.map_or_else(String::new, |f| f.date_formats.join(" or "))
                )),
            }
        }
        if let Some(v) = self.field_ref(RECORD_TYPE, p, errors) {
            match RecordType::from_code(&v) {
                Some(r) => user.record_type = Some(r),
                None => errors.push(format!(
                    "E-MAP-CODE: record_type{} is not PUBLIC, STAFF or CONTACT",
                    self.made_of(RECORD_TYPE)
                )),
            }
        } else {
            user.record_type = Some(RecordType::Public);
        }
        if let Some(v) = self.field_ref(ACCOUNT_TYPE, p, errors) {
            match AccountType::from_code(&v) {
                Some(a) => user.account_type = Some(a),
                None => errors.push(format!(
                    "E-MAP-CODE: account_type{} is not EXTERNAL or INTERNAL",
                    self.made_of(ACCOUNT_TYPE)
                )),
            }
        }
        if let Some(v) = self.field_ref(STATUS, p, errors) {
            match UserStatus::from_code(&v) {
                Some(s) => user.status = Some(s),
                None => errors.push(format!(
                    "E-MAP-CODE: status{} is not ACTIVE or INACTIVE",
                    self.made_of(STATUS)
                )),
            }
        }
        self.group(p, &mut user, t, errors);
        self.dates(p, &mut user, t, errors);
        self.contacts(p, &mut user, t, errors);
        Some(user)
    }

    fn group(&self, p: &Person<'_>, user: &mut User, t: &mut Tracer, errors: &mut Vec<String>) {
        let c = &self.compiled;
        if c.groups.is_empty() {
            return;
        }
        // Which rules match: a bit each (a list past the first 256, rarely needed).
        let mut bits = [0u64; 4];
        let mut more: Vec<usize> = Vec::new();
        let mut first = None;
        for (i, (code, _, when)) in c.groups.iter().enumerate() {
            match p.rows.iter().find(|r| self.row_holds(r, when)) {
                Some(row) => {
                    match bits.get_mut(i / 64) {
                        Some(word) => *word |= 1 << (i % 64),
                        None => more.push(i),
                    }
                    first.get_or_insert(i);
                    t.add(Topic::Group, || {
                        format!("rule {code}: matches {} ({})", row.at, describe(when))
                    });
                }
                None => t.add(Topic::Group, || {
                    format!("rule {code}: no row matches ({})", describe(when))
                }),
            }
        }
        let matched = |i: usize| match bits.get(i / 64) {
            Some(word) => word & (1 << (i % 64)) != 0,
            None => more.contains(&i),
        };
        let codes = || -> Vec<&str> {
            (0..c.groups.len())
                .filter(|&i| matched(i))
                .map(|i| c.groups[i].0.as_str())
                .collect()
        };
        let has_code = |code: &str| {
            c.groups
                .iter()
                .enumerate()
                .any(|(i, g)| g.0 == code && matched(i))
        };
        let combined = c
            .combined
            .iter()
            .find(|(needs, _, _)| needs.iter().all(|n| has_code(n)));
        let chosen = match (combined, first) {
            (Some((needs, code, desc)), _) => {
                t.add(Topic::Group, || {
                    format!(
                        "user group {code}: combined group for people matching {}",
                        needs.join(" and ")
                    )
                });
                (code, desc)
            }
            (None, Some(first)) => {
                let (code, desc, _) = &c.groups[first];
                t.add(Topic::Group, || {
                    let codes = codes();
                    if codes.len() > 1 {
                        format!(
                            "user group {code}: the first of the matching rules ({}) and no combined group covers them",
                            codes.join(", ")
                        )
                    } else {
                        format!("user group {code}: the only matching rule")
                    }
                });
                (code, desc)
            }
            (None, None) => {
                let rules: Vec<&str> = c.groups.iter().map(|g| g.0.as_str()).collect();
                errors.push(format!(
                    "E-MAP-NO-GROUP: no [[group]] rule matches any of the person's rows (the \
                     groups tried, in order: {}); add a rule or a catch-all group",
                    rules.join(", ")
                ));
                return;
            }
        };
        user.user_group = Some(CodeValue {
            code: chosen.0.clone(),
            desc: chosen.1.clone(),
        });
    }

    fn dates(&self, p: &Person<'_>, user: &mut User, t: &mut Tracer, errors: &mut Vec<String>) {
        let c = &self.compiled;
        let group = user.user_group.as_ref().map_or("", |g| g.code.as_str());
        let for_group = |groups: &[String]| groups.is_empty() || groups.iter().any(|g| g == group);
        let mut chosen: Option<(NaiveDate, bool)> = None;
        for rule in &c.expiry_rules {
            if !for_group(&rule.groups) {
                t.add(Topic::Expiry, || {
                    format!(
                        "rule {:?}: not for group {group} (only {})",
                        rule.name,
                        rule.groups.join(", ")
                    )
                });
                continue;
            }
            if !rule.when.is_empty() && !p.rows.iter().any(|r| self.row_holds(r, &rule.when)) {
                t.add(Topic::Expiry, || {
                    format!(
                        "rule {:?}: no row matches ({})",
                        rule.name,
                        describe(&rule.when)
                    )
                });
                continue;
            }
            match self.policy_date(&rule.policy, p) {
                Ok((date, why)) => {
                    t.add(Topic::Expiry, || {
                        format!("rule {:?} applies: {date} ({why})", rule.name)
                    });
                    chosen = Some((date, matches!(rule.policy, Policy::Today)));
                    break;
                }
                Err(why) => t.add(Topic::Expiry, || {
                    format!("rule {:?} gives no date: {why}", rule.name)
                }),
            }
        }
        if chosen.is_none() {
            match self.policy_date(&c.expiry_default, p) {
                Ok((date, why)) => {
                    t.add(Topic::Expiry, || format!("default policy: {date} ({why})"));
                    chosen = Some((date, matches!(c.expiry_default, Policy::Today)));
                }
                Err(why) => {
                    errors.push(format!(
                        "E-MAP-NO-EXPIRY: the default expiry policy gives no date ({})",
                        why.private()
                    ));
                    return;
                }
            }
        }
        let Some((mut expiry, status_driven)) = chosen else {
            return;
        };
        for zone in &c.safe_zones {
            if status_driven || !for_group(&zone.groups) {
                continue;
            }
            let md = MonthDay::of(expiry);
            if md < zone.from || md > zone.to {
                continue;
            }
            let year = if zone.move_to > zone.to {
                expiry.year()
            } else {
                expiry.year() + 1
            };
            if let Some(moved) = zone.move_to.in_year(year) {
                t.add(Topic::Expiry, || {
                    format!("safe zone {:?}: {expiry} moves to {moved}", zone.name)
                });
                expiry = moved;
            }
        }
        user.expiry_date = Some(expiry);
        let purge = c
            .purge_rules
            .iter()
            .find(|(groups, _, _)| groups.iter().any(|g| g == group))
            .map(|(_, d, text)| (d, text, format!("group {group}")))
            .or_else(|| {
                c.purge_default
                    .as_ref()
                    .map(|(d, text)| (d, text, "default".to_owned()))
            });
        if let Some((duration, text, why)) = purge {
            match duration.after(expiry) {
                Some(date) => {
                    t.add(Topic::Purge, || {
                        format!("{date} = expiry {expiry} + {text} ({why})")
                    });
                    user.purge_date = Some(date);
                }
                None => errors.push(format!(
                    "E-MAP-PURGE: purge date: expiry {expiry} + {text} is out of range"
                )),
            }
        }
    }

    fn policy_date<'a>(
        &self,
        policy: &'a Policy,
        p: &'a Person<'_>,
    ) -> Result<(NaiveDate, Why<'a>), Why<'a>> {
        let today = self.today;
        match policy {
            Policy::Fixed(d) => Ok((*d, Why::Fixed)),
            Policy::Today => Ok((today, Why::Today)),
            Policy::TodayPlus(d, text) => d
                .after(today)
                .map(|date| (date, Why::TodayPlus(text)))
                .ok_or(Why::TodayPlusOutOfRange(text)),
            Policy::Column(column, col, formats, grace) => {
                let v = p.value(*col);
                if v.is_empty() {
                    return Err(Why::ColumnEmpty(column));
                }
                let date = parse_date(v, formats).ok_or(Why::ColumnNotADate(column, formats))?;
                match grace {
                    Some((d, text)) => d
                        .after(date)
                        .map(|after| (after, Why::ColumnGrace(column, date, text)))
                        .ok_or(Why::ColumnOutOfRange(date, text)),
                    None => Ok((date, Why::Column(column))),
                }
            }
            Policy::Term(column, col, grace, separator) => {
                let v = p.value(*col);
                let sep = one_char(separator);
                if parts(v, separator, sep).next().is_none() {
                    return Err(Why::ColumnEmpty(column));
                }
                let Some((term, end)) = parts(v, separator, sep)
                    .filter_map(|term| self.compiled.terms.get(term).map(|end| (term, *end)))
                    .max_by_key(|(_, end)| *end)
                else {
                    return Err(Why::NoTerm(column, v, separator, sep));
                };
                match grace {
                    Some((d, text)) => d
                        .after(end)
                        .map(|date| (date, Why::TermGrace(term, end, text)))
                        .ok_or(Why::TermOutOfRange(end, text)),
                    None => Ok((end, Why::Term(term, end))),
                }
            }
        }
    }

    fn contacts(&self, p: &Person<'_>, user: &mut User, t: &mut Tracer, errors: &mut Vec<String>) {
        let c = &self.compiled;
        for (kind, field) in &c.identifiers {
            if let Some(v) = value_of(kind, field, p, errors) {
                user.user_identifiers
                    .push(UserIdentifier::new(kind.clone(), v));
            }
        }
        let kinds = |list: &[(String, Field)]| {
            list.iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (kind, field) in &c.emails {
            if let Some(v) = value_of(kind, field, p, errors) {
                let mut e = Email::new(v, kind.clone());
                if user.contact_info.emails.is_empty() {
                    e.preferred = true;
                    t.add(Topic::Contact, || {
                        format!(
                            "preferred email: {kind} (first non-empty of {})",
                            kinds(&c.emails)
                        )
                    });
                }
                user.contact_info.emails.push(e);
            }
        }
        for (kind, field) in &c.phones {
            if let Some(v) = value_of(kind, field, p, errors) {
                let mut phone = Phone::new(v, kind.clone());
                if user.contact_info.phones.is_empty() {
                    phone.preferred = true;
                    t.add(Topic::Contact, || {
                        format!(
                            "preferred phone: {kind} (first non-empty of {})",
                            kinds(&c.phones)
                        )
                    });
                }
                user.contact_info.phones.push(phone);
            }
        }
        for a in &c.addresses {
            let Some(line1) = value_of("line1", &a.line1, p, errors) else {
                continue;
            };
            let mut address = Address {
                preferred: user.contact_info.addresses.is_empty(),
                segment_type: Some("External".to_owned()),
                line1: Some(line1),
                address_types: vec![CodeValue::new(a.kind.clone())],
                ..Address::default()
            };
            if address.preferred {
                t.add(Topic::Contact, || {
                    format!("preferred address: {} (first with a line1)", a.kind)
                });
            }
            for (name, field) in &a.rest {
                let v = value_of(name, field, p, errors);
                match *name {
                    "line2" => address.line2 = v,
                    "line3" => address.line3 = v,
                    "city" => address.city = v,
                    "state_province" => address.state_province = v,
                    "postal_code" => address.postal_code = v,
                    _ => address.country = v.map(CodeValue::new),
                }
            }
            user.contact_info.addresses.push(address);
        }
        for (kind, field, viewable) in &c.notes {
            if let Some(v) = value_of(kind, field, p, errors) {
                user.user_notes.push(UserNote {
                    segment_type: Some("External".to_owned()),
                    note_type: CodeValue::new(kind.clone()),
                    note_text: Some(v),
                    user_viewable: *viewable,
                    ..UserNote::default()
                });
            }
        }
        for (field, kind) in &c.statistics {
            if let Some(v) = value_of("statistic", field, p, errors) {
                user.user_statistics.push(UserStatistic {
                    segment_type: Some("External".to_owned()),
                    statistic_category: CodeValue::new(v),
                    category_type: kind.clone().map(CodeValue::new),
                    ..UserStatistic::default()
                });
            }
        }
    }
}

/// Whether two values of an identity column name the same person: equal ignoring case and
/// spacing, or, for a date column (`formats`), the same date.
fn same_identity(a: &str, b: &str, formats: Option<&[String]>) -> bool {
    if a == b {
        return true;
    }
    if let Some(formats) = formats
        && let (Some(x), Some(y)) = (parse_date(a, formats), parse_date(b, formats))
    {
        return x == y;
    }
    let norm = |v: &str| {
        v.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

fn value_of(name: &str, field: &Field, p: &Person<'_>, errors: &mut Vec<String>) -> Option<String> {
    value_ref(name, field, p, errors).map(Cow::into_owned)
}

/// Like [`value_of`], borrowed when the value is read as is.
fn value_ref<'a>(
    name: &str,
    field: &'a Field,
    p: &'a Person<'_>,
    errors: &mut Vec<String>,
) -> Option<Cow<'a, str>> {
    match field.value(p) {
        Ok(v) if v.is_empty() => None,
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(format!("E-MAP-FIELD: {name}: {e}"));
            None
        }
    }
}

struct Row {
    source: usize,
    at: RowRef,
    fields: Fields,
    decision: Option<Decision>,
    decoded_as: Option<&'static str>,
}

/// A person's live rows in order of precedence.
struct Person<'a> {
    extractor: &'a Extractor<'a>,
    rows: &'a [Row],
}

impl Columns for Person<'_> {
    fn value(&self, col: Col) -> &str {
        self.rows
            .iter()
            .map(|r| self.extractor.row_value(r, col))
            .find(|v| !v.is_empty())
            .unwrap_or("")
    }
}

struct Tracer {
    on: bool,
    steps: Vec<TraceStep>,
}

impl Tracer {
    fn add(&mut self, topic: Topic, text: impl FnOnce() -> String) {
        if self.on {
            self.steps.push(TraceStep {
                topic,
                text: text(),
            });
        }
    }
}

fn compile(
    config: &MappingConfig,
    base_dir: &Path,
    sources: &[Source],
    queries: &[bool],
    columns: &[String],
) -> Result<Compiled, ExtractError> {
    let src = &config.source;
    let at_key = |key: String, message: String| ExtractError::Config {
        at: format!("{} [{key}]", src.path.display()),
        message,
    };
    let mut lookups: HashMap<String, Arc<HashMap<String, String>>> = HashMap::new();
    for (name, l) in &config.lookups {
        let mut table: HashMap<String, String> = l.values.clone().into_iter().collect();
        if let Some(path) = &l.path {
            let (Some(from), Some(to)) = (&l.from, &l.to) else {
                return Err(at_key(
                    format!("lookup.{name}"),
                    "a lookup file needs `from` and `to` columns".to_owned(),
                ));
            };
            let delimiter = one_byte(l.delimiter.get_ref()).ok_or_else(|| {
                at_key(
                    format!("lookup.{name}"),
                    "delimiter must be one byte".to_owned(),
                )
            })?;
            let path = base_dir.join(path);
            let file = read_table(&path, delimiter, config.limits.table_bytes)?;
            let crate::read::Table { header, rows } = file;
            // The file's first line is not shown: the config may name a file that is not a
            // table at all.
            let col = |c: &str| {
                header.iter().position(|h| h == c).ok_or_else(|| {
                    at_key(
                        format!("lookup.{name}"),
                        format!(
                            "{} has no column {c:?} in its first line ({} column(s))",
                            path.display(),
                            header.len()
                        ),
                    )
                })
            };
            let (f, t) = (col(from)?, col(to)?);
            for (_, row) in rows {
                if let (Some(k), Some(v)) = (row.get(f), row.get(t)) {
                    table.insert(k.clone(), v.clone());
                }
            }
        }
        lookups.insert(name.clone(), Arc::new(table));
    }
    let check = Checker {
        source: src,
        files: sources
            .iter()
            .zip(queries)
            .map(|(s, &query)| crate::InputColumns {
                input: s.name.clone(),
                columns: s.columns.clone(),
                named_by_config: query,
            })
            .collect(),
        columns,
        lookups: &lookups,
    };

    let mut terms = HashMap::new();
    if let Some(cal) = &config.term_calendar {
        let date = |term: &str, v: &str| {
            NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| {
                at_key(
                    "term_calendar".to_owned(),
                    format!("term {term:?}: end {v:?} is not YYYY-MM-DD"),
                )
            })
        };
        for (term, end) in &cal.ends {
            terms.insert(term.clone(), date(term, end)?);
        }
        if let Some(path) = &cal.path {
            let delimiter = one_byte(cal.delimiter.get_ref()).ok_or_else(|| {
                at_key(
                    "term_calendar".to_owned(),
                    "delimiter must be one byte".to_owned(),
                )
            })?;
            let path = base_dir.join(path);
            let table = read_table(&path, delimiter, config.limits.table_bytes)?;
            let crate::read::Table { header, rows } = table;
            // Neither the first line nor any value is shown: the config may name a file that
            // is not a term calendar at all.
            let col = |c: &str| {
                header.iter().position(|h| h == c).ok_or_else(|| {
                    at_key(
                        "term_calendar".to_owned(),
                        format!(
                            "{} has no column {c:?} in its first line ({} column(s))",
                            path.display(),
                            header.len()
                        ),
                    )
                })
            };
            let (tc, ec) = (col(&cal.term_column)?, col(&cal.end_column)?);
            for (line, row) in rows {
                let term = row.get(tc).map_or("", String::as_str);
                let end = row.get(ec).map_or("", String::as_str);
                let end =
                    NaiveDate::parse_from_str(end, "%Y-%m-%d").map_err(|_| ExtractError::Csv {
                        path: path.clone(),
                        line,
                        message: format!("column {} is not a YYYY-MM-DD date", cal.end_column),
                    })?;
                terms.insert(term.to_owned(), end);
            }
        }
    }

    let group_codes: Vec<&str> = config.groups.iter().map(|g| g.group.as_str()).collect();
    let known_groups: Vec<&str> = group_codes
        .iter()
        .copied()
        .chain(config.combined_groups.iter().map(|g| g.group.as_str()))
        .collect();
    let group_list = |list: &[toml::Spanned<String>], allowed: &[&str]| {
        list.iter()
            .map(|g| {
                if allowed.contains(&g.get_ref().as_str()) {
                    Ok(g.get_ref().clone())
                } else {
                    Err(check.error(
                        &g.span(),
                        format!(
                            "no [[group]] gives group {:?}; the groups are: {}",
                            g.get_ref(),
                            allowed.join(", ")
                        ),
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()
    };

    let policy = |p: &toml::Spanned<DatePolicy>| -> Result<Policy, ExtractError> {
        let span = p.span();
        let duration = |text: &str| {
            Duration::parse(text)
                .map(|d| (d, text.to_owned()))
                .ok_or_else(|| {
                    check.error(
                        &span,
                        format!("{text:?} is not a duration; write e.g. 1y, 6m, 2w, 30d or 1y6m"),
                    )
                })
        };
        Ok(match p.get_ref() {
            DatePolicy::Fixed { date } => Policy::Fixed(
                NaiveDate::parse_from_str(date, "%Y-%m-%d")
                    .map_err(|_| check.error(&span, format!("{date:?} is not YYYY-MM-DD")))?,
            ),
            DatePolicy::Today => Policy::Today,
            DatePolicy::TodayPlus { duration: d } => {
                let (d, text) = duration(d)?;
                Policy::TodayPlus(d, text)
            }
            DatePolicy::Column {
                column,
                formats,
                grace,
            } => {
                let col = check.column(&span, column)?;
                let formats = if formats.is_empty() {
                    vec!["%Y-%m-%d".to_owned()]
                } else {
                    formats.clone()
                };
                let grace = grace.as_deref().map(duration).transpose()?;
                Policy::Column(column.clone(), col, formats, grace)
            }
            DatePolicy::Term {
                column,
                grace,
                separator,
            } => {
                let col = check.column(&span, column)?;
                if config.term_calendar.is_none() {
                    return Err(check.error(&span, "policy \"term\" needs a [term_calendar]"));
                }
                let grace = grace.as_deref().map(duration).transpose()?;
                Policy::Term(column.clone(), col, grace, separator.clone())
            }
        })
    };

    let named = |spec: &Option<crate::config::FieldSpec>, name: &'static str| {
        spec.as_ref()
            .map(|s| Field::compile(s, &check).map(|f| (name, f)))
            .transpose()
    };
    let fc = &config.fields;
    let specs = [
        &fc.first_name,
        &fc.middle_name,
        &fc.last_name,
        &fc.pref_first_name,
        &fc.pref_middle_name,
        &fc.pref_last_name,
        &fc.user_title,
        &fc.job_category,
        &fc.job_description,
        &fc.gender,
        &fc.campus_code,
        &fc.preferred_language,
        &fc.birth_date,
        &fc.external_id,
        &fc.status,
        &fc.record_type,
        &fc.account_type,
        &fc.web_site_url,
    ];
    let mut fields = vec![("primary_id", Field::compile(&fc.primary_id, &check)?)];
    let mut field_at = [usize::MAX; FIELD_NAMES.len()];
    field_at[PRIMARY_ID] = 0;
    for (i, spec) in specs.into_iter().enumerate() {
        if let Some(field) = named(spec, FIELD_NAMES[i + 1])? {
            field_at[i + 1] = fields.len();
            fields.push(field);
        }
    }

    let mut addresses = Vec::new();
    for a in &config.addresses {
        let mut rest = Vec::new();
        for (spec, name) in [
            (&a.line2, "line2"),
            (&a.line3, "line3"),
            (&a.city, "city"),
            (&a.state_province, "state_province"),
            (&a.postal_code, "postal_code"),
            (&a.country, "country"),
        ] {
            rest.extend(named(spec, name)?);
        }
        addresses.push(AddressC {
            kind: a.address_type.clone(),
            line1: Field::compile(&a.line1, &check)?,
            rest,
        });
    }

    let mut compiled = Compiled {
        filters: config
            .filters
            .iter()
            .map(|f| Ok((f.name.clone(), f.action, conds(&f.when, &check)?)))
            .collect::<Result<_, ExtractError>>()?,
        groups: config
            .groups
            .iter()
            .map(|g| Ok((g.group.clone(), g.desc.clone(), conds(&g.when, &check)?)))
            .collect::<Result<_, ExtractError>>()?,
        combined: config
            .combined_groups
            .iter()
            .map(|g| {
                Ok((
                    group_list(&g.groups, &group_codes)?,
                    g.group.clone(),
                    g.desc.clone(),
                ))
            })
            .collect::<Result<_, ExtractError>>()?,
        field_at,
        prefer: config
            .merge
            .prefer
            .iter()
            .map(|p| Ok((p.name.clone(), conds(&p.when, &check)?)))
            .collect::<Result<_, ExtractError>>()?,
        fields,
        identifiers: config
            .identifiers
            .iter()
            .map(|i| Ok((i.id_type.clone(), Field::compile(&i.value, &check)?)))
            .collect::<Result<_, ExtractError>>()?,
        emails: config
            .emails
            .iter()
            .map(|e| Ok((e.email_type.clone(), Field::compile(&e.address, &check)?)))
            .collect::<Result<_, ExtractError>>()?,
        phones: config
            .phones
            .iter()
            .map(|e| Ok((e.phone_type.clone(), Field::compile(&e.number, &check)?)))
            .collect::<Result<_, ExtractError>>()?,
        addresses,
        notes: config
            .notes
            .iter()
            .map(|n| {
                Ok((
                    n.note_type.clone(),
                    Field::compile(&n.text, &check)?,
                    n.user_viewable,
                ))
            })
            .collect::<Result<_, ExtractError>>()?,
        statistics: config
            .statistics
            .iter()
            .map(|s| {
                Ok((
                    Field::compile(&s.category, &check)?,
                    s.category_type.clone(),
                ))
            })
            .collect::<Result<_, ExtractError>>()?,
        terms,
        expiry_rules: config
            .expiry
            .rule
            .iter()
            .map(|r| {
                Ok(ExpiryRuleC {
                    name: r.name.clone(),
                    groups: group_list(&r.groups, &known_groups)?,
                    when: conds(&r.when, &check)?,
                    policy: policy(&r.date)?,
                })
            })
            .collect::<Result<_, ExtractError>>()?,
        expiry_default: policy(&config.expiry.default)?,
        safe_zones: config
            .expiry
            .safe_zone
            .iter()
            .map(|z| {
                Ok(SafeZoneC {
                    name: z.name.clone(),
                    groups: group_list(&z.groups, &known_groups)?,
                    from: MonthDay::compile(&z.from, &check)?,
                    to: MonthDay::compile(&z.to, &check)?,
                    move_to: MonthDay::compile(&z.move_to, &check)?,
                })
            })
            .collect::<Result<_, ExtractError>>()?,
        purge_default: config
            .purge
            .after
            .as_ref()
            .map(|a| Duration::compile(a, &check).map(|d| (d, a.get_ref().clone())))
            .transpose()?,
        purge_rules: config
            .purge
            .rule
            .iter()
            .map(|r| {
                Ok((
                    group_list(&r.groups, &known_groups)?,
                    Duration::compile(&r.after, &check)?,
                    r.after.get_ref().clone(),
                ))
            })
            .collect::<Result<_, ExtractError>>()?,
        identity: Vec::new(),
        used: Vec::new(),
    };
    let mut used: Vec<(String, Col, String)> = Vec::new();
    for (label, field) in compiled.every_field() {
        for (column, col) in field.columns() {
            match used.iter_mut().find(|u| u.1 == col) {
                Some(u) if !u.2.split(", ").any(|l| l == label) => {
                    u.2.push_str(", ");
                    u.2.push_str(&label);
                }
                Some(_) => {}
                None => used.push((column.to_owned(), col, label.clone())),
            }
        }
    }
    used.sort_by_key(|u| u.1);
    compiled.used = used;
    let field = |which: usize| {
        compiled
            .fields
            .get(compiled.field_at[which])
            .map(|(_, f)| f)
    };
    // A birth date read from one column alone is compared as a date.
    let birth = field(BIRTH_DATE).and_then(|f| match f.columns().collect::<Vec<_>>()[..] {
        [(_, col)] => Some((col, f.date_formats.clone())),
        _ => None,
    });
    let formats_of = |col: Col| birth.as_ref().filter(|b| b.0 == col).map(|b| b.1.clone());
    let identity: Vec<(String, Col, Option<Vec<String>>)> = match &config.identity.columns {
        Some(list) => list
            .iter()
            .map(|c| {
                let col = check.column(&c.span(), c.get_ref())?;
                Ok((c.get_ref().clone(), col, formats_of(col)))
            })
            .collect::<Result<_, ExtractError>>()?,
        None => {
            let mut cols: Vec<(String, Col, Option<Vec<String>>)> = Vec::new();
            for which in [BIRTH_DATE, LAST_NAME] {
                for (name, col) in field(which).into_iter().flat_map(Field::columns) {
                    if !cols.iter().any(|c| c.1 == col) {
                        cols.push((name.to_owned(), col, formats_of(col)));
                    }
                }
            }
            cols
        }
    };
    compiled.identity = identity;
    Ok(compiled)
}

#[cfg(test)]
mod tests {
    use super::{Builder, Index, NONE};
    use crate::read::Sink;

    /// Every key hashes alike, so every key after the first takes the collision path.
    #[derive(Default)]
    struct Collide;

    impl std::hash::Hasher for Collide {
        fn finish(&self) -> u64 {
            7
        }
        fn write(&mut self, _: &[u8]) {}
    }

    type Colliding = Builder<std::hash::BuildHasherDefault<Collide>>;

    /// Each person's key and rows, in order.
    fn people(index: &Index) -> Vec<(String, Vec<u32>)> {
        let mut out = Vec::new();
        let mut cursor = (0, 0);
        while let Some((head, key)) = index.person(&mut cursor) {
            let mut rows = vec![head as u32];
            while index.next[*rows.last().expect("a row") as usize] != NONE {
                rows.push(index.next[*rows.last().expect("a row") as usize]);
            }
            out.push((key.to_owned(), rows));
        }
        assert_eq!(out.len(), index.people);
        out
    }

    fn owned(list: &[(&str, &[u32])]) -> Vec<(String, Vec<u32>)> {
        list.iter()
            .map(|(k, rows)| ((*k).to_owned(), rows.to_vec()))
            .collect()
    }

    #[test]
    fn keys_with_the_same_hash_stay_apart() {
        let mut builder = Colliding::new();
        for key in ["a", "b", "a", "", "c", "b", "", "a"] {
            assert!(builder.row(key));
        }
        assert_eq!(
            people(&builder.finish()),
            owned(&[
                ("a", &[0, 2, 7]),
                ("b", &[1, 5]),
                ("", &[3]),
                ("c", &[4]),
                ("", &[6]),
            ])
        );
    }

    #[test]
    fn a_table_grows_and_keeps_every_key() {
        let mut builder: Builder = Builder::new();
        for i in 0..5000 {
            assert!(builder.row(&format!("k{}", i % 3000)));
        }
        let index = builder.finish();
        let got = people(&index);
        assert_eq!(got.len(), 3000);
        for (i, (key, rows)) in got.iter().enumerate() {
            assert_eq!(key, &format!("k{i}"));
            let expected: Vec<u32> = [i, i + 3000]
                .into_iter()
                .filter(|&r| r < 5000)
                .map(|r| r as u32)
                .collect();
            assert_eq!(rows, &expected);
        }
    }
}
