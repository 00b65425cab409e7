//! From rows to users: eligibility, merging, groups, dates and field mapping, with a trace of
//! every decision.
//!
//! [`Extractor::new`] reads the inputs once, checks the config against their columns and
//! groups rows by person key (an index of row positions, not a copy of the rows: about
//! 2.5 bytes a row, 4 more for each row that is not a person's last, and per person the
//! part of their key that differs from the previous person's). [`Extractor::people`] then
//! maps one person at a time, reading their rows back from the files, so a caller can
//! stream, on another thread if it likes (the extractor is `Sync`, the iterator `Send`).

use std::path::Path;

use chrono::NaiveDate;

use crate::ExtractError;
use crate::config::{InputConfig, InputFormat, MappingConfig};
use crate::database::{Connector, Query};
use crate::read::{Fields, Layout, Source};

mod index;
mod map;
mod outcome;

pub use outcome::{
    Decision, Extraction, InputSummary, MappedUser, PersonOutcome, RowOutcome, RowRef, RowWarning,
    Topic, TraceStep,
};

use crate::compile::{Compiled, compile};
use index::{Builder, Cursor, Index, NONE};
use map::{Row, Tracer};

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
    /// Per person, a bit: skipped unread ([`Extractor::settle_skips`]).
    skips: Option<Vec<u64>>,
}

/// How [`Extractor::open`] reads the inputs.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ReadOptions {
    /// Take every person's raw-row hash while the inputs are read (8 bytes a person until
    /// [`Extractor::settle_skips`]), so that people whose rows a run already has can be
    /// skipped without reading their rows again. Costs parsing every row's fields once
    /// more while reading.
    pub hash_rows: bool,
}

impl ReadOptions {
    /// These options with [`ReadOptions::hash_rows`] set to `on`.
    pub fn hash_rows(mut self, on: bool) -> ReadOptions {
        self.hash_rows = on;
        self
    }
}

/// People per part of [`Extractor::settle_skips_parallel`]: a multiple of 64 (a part's marks
/// are whole words).
const SETTLE_PART: usize = 4096;

/// People [`Extractor::settle_skips_batched`] asks about at a time, at most.
pub const SETTLE_BATCH: usize = 64;

/// People gathered by [`Extractor::settle_skips_batched`] to be asked about together.
#[derive(Default)]
struct Batch {
    /// Their keys, one after another.
    keys: String,
    /// Per person: where their key ends in `keys`, their raw-row hash, and where they are in
    /// their part.
    people: Vec<(usize, u64, usize)>,
}

/// What mapping keeps between people: per input, a window of the file and a parser, and
/// the field buffers of rows.
#[derive(Default)]
struct Reading {
    caches: Vec<crate::read::Cache>,
    spare: Vec<Fields>,
    /// The raw-row hasher, whose row buffer is reused from person to person.
    hasher: crate::rowhash::RowHasher,
}

/// A person's rows as read, before mapping.
struct ReadRows {
    rows: Vec<Row>,
    /// A row could not be read back.
    unreadable: bool,
    /// The messages of rows that could not be read when indexed.
    problems: Vec<String>,
    /// Whether the key may be shown: every input with a row that could not be read has a
    /// clean row of the person too (see [`PersonOutcome::unconfirmed_key`]).
    confirmed: bool,
}

impl ReadRows {
    /// The raw-row hash of these rows (see [`crate::RAW_HASH_VERSION`]); `None` when one of
    /// them could not be read (such a person is always mapped).
    fn raw_hash(&self, h: &mut crate::rowhash::RowHasher) -> Option<u64> {
        if self.unreadable || !self.problems.is_empty() {
            return None;
        }
        h.resume(crate::rowhash::RowHasher::start());
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
        /// Their raw-row hash; `None` when the test was settled before the pass
        /// ([`Extractor::settle_skips`]): their rows are then not read at all.
        raw: Option<u64>,
    },
}

/// Every person, in order of first appearance; see [`Extractor::people`].
struct People<'x, 'c> {
    extractor: &'x Extractor<'c>,
    cursor: Cursor,
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
        Extractor::open(config, base_dir, today, connector, &ReadOptions::default())
    }

    /// [`Extractor::with_connector`], reading as `options` say.
    pub fn open(
        config: &'c MappingConfig,
        base_dir: &Path,
        today: NaiveDate,
        connector: &Connector,
        options: &ReadOptions,
    ) -> Result<Extractor<'c>, ExtractError> {
        let src = &config.source;
        let error = |span: std::ops::Range<usize>, message: String| ExtractError::Config {
            at: src.locate(&span),
            message,
        };
        let mut sources = Vec::new();
        let mut warnings = Vec::new();
        let mut builder: Builder = Builder::new();
        if options.hash_rows {
            builder = builder.hashing();
        }
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
            row_base.push(builder.rows() as u32);
            builder.start_source(sources.len());
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
            skips: None,
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
            cursor: Cursor::default(),
            left: self.index.people,
            reading: Reading::default(),
        }
    }

    /// Whether the raw-row hashes taken while reading ([`ReadOptions::hash_rows`]) are
    /// still held.
    pub fn has_raw_hashes(&self) -> bool {
        self.index.raw.is_some()
    }

    /// Decides ahead of the pass whom [`Extractor::people_unless`] skips, from the raw-row
    /// hashes taken while reading ([`ReadOptions::hash_rows`]): each person with a key and
    /// a hash for whom `skip(key, raw hash)` holds. Their rows are then neither read again
    /// nor hashed; the hashes are dropped. Returns how many were marked, `None` (and
    /// nothing marked) when no hashes were taken.
    pub fn settle_skips(&mut self, mut skip: impl FnMut(&str, u64) -> bool) -> Option<usize> {
        let raw = self.index.raw.take()?;
        let mut bits = vec![0u64; self.index.people.div_ceil(64)];
        let mut marked = 0;
        let mut cursor = Cursor::default();
        let mut person = 0;
        while let Some((_, key)) = self.index.person(&mut cursor) {
            if let Some(hash) = raw.get(person)
                && !key.is_empty()
                && skip(key, hash)
            {
                bits[person / 64] |= 1 << (person % 64);
                marked += 1;
            }
            person += 1;
        }
        self.skips = Some(bits);
        Some(marked)
    }

    /// [`Extractor::settle_skips`] on up to `threads` threads: `skip` gives a value for each
    /// person it skips, and the values come back in person order (`None`, and nothing
    /// marked, when no hashes were taken). People are shared out in parts of 4,096 (each
    /// thread reads every key, which is cheap, and asks `skip` for its own parts), so the
    /// marks and the values are those [`Extractor::settle_skips`] gives whatever the
    /// threads' timing.
    pub fn settle_skips_parallel<T: Send>(
        &mut self,
        threads: usize,
        skip: impl Fn(&str, u64) -> Option<T> + Sync,
    ) -> Option<Vec<T>> {
        self.settle_skips_batched(threads, |people| {
            people.iter().map(|&(key, raw)| skip(key, raw)).collect()
        })
    }

    /// [`Extractor::settle_skips_parallel`] asking `skip` about up to [`SETTLE_BATCH`] people
    /// at a time (keys and raw-row hashes, in person order), which answers for each, in the
    /// same order: for a `skip` that looks many up faster than one by one (the run state's
    /// index fetches their memory together).
    pub fn settle_skips_batched<T: Send>(
        &mut self,
        threads: usize,
        skip: impl Fn(&[(&str, u64)]) -> Vec<Option<T>> + Sync,
    ) -> Option<Vec<T>> {
        self.settle_skips_in_parts(threads, SETTLE_PART, skip)
    }

    /// [`Extractor::settle_skips_batched`] with parts of `part` people (rounded up to a
    /// multiple of 64): for tests, which cross parts with few people.
    #[doc(hidden)]
    pub fn settle_skips_in_parts<T: Send>(
        &mut self,
        threads: usize,
        part: usize,
        skip: impl Fn(&[(&str, u64)]) -> Vec<Option<T>> + Sync,
    ) -> Option<Vec<T>> {
        let part_len = part.max(1).div_ceil(64) * 64;
        let raw = self.index.raw.take()?;
        let people = self.index.people;
        let threads = threads.clamp(1, people.div_ceil(part_len).max(1));
        let (index, raw, skip) = (&self.index, &raw, &skip);
        // Per thread, its parts in order: (part, marks, values).
        type Part<T> = (usize, Vec<u64>, Vec<T>);
        let settle = |t: usize| -> Vec<Part<T>> {
            let mut parts: Vec<Part<T>> = Vec::new();
            // The people asked about next: their keys one after another, where each key ends
            // and its hash, and where each person is in its part.
            let mut batch = Batch::default();
            let ask = |batch: &mut Batch, part: &mut Part<T>| {
                if batch.people.is_empty() {
                    return;
                }
                let mut from = 0;
                let people: Vec<(&str, u64)> = batch
                    .people
                    .iter()
                    .map(|&(end, hash, _)| {
                        let key = &batch.keys[from..end];
                        from = end;
                        (key, hash)
                    })
                    .collect();
                let answers = skip(&people);
                debug_assert_eq!(answers.len(), people.len(), "one answer per person");
                let (_, marks, values) = part;
                for (&(_, _, at), value) in batch.people.iter().zip(answers) {
                    if let Some(value) = value {
                        marks[at / 64] |= 1 << (at % 64);
                        values.push(value);
                    }
                }
                batch.keys.clear();
                batch.people.clear();
            };
            let mut cursor = Cursor::default();
            let mut person = 0;
            while let Some((_, key)) = index.person(&mut cursor) {
                let part = person / part_len;
                if part % threads == t {
                    if parts.last().is_none_or(|p| p.0 != part) {
                        if let Some(last) = parts.last_mut() {
                            ask(&mut batch, last);
                        }
                        parts.push((part, vec![0; part_len / 64], Vec::new()));
                    }
                    if let Some(hash) = raw.get(person)
                        && !key.is_empty()
                    {
                        batch.keys.push_str(key);
                        batch
                            .people
                            .push((batch.keys.len(), hash, person % part_len));
                        if batch.people.len() == SETTLE_BATCH
                            && let Some(last) = parts.last_mut()
                        {
                            ask(&mut batch, last);
                        }
                    }
                }
                person += 1;
            }
            if let Some(last) = parts.last_mut() {
                ask(&mut batch, last);
            }
            parts
        };
        let mut settled: Vec<Part<T>> = std::thread::scope(|scope| {
            let others: Vec<_> = (1..threads)
                .map(|t| scope.spawn(move || settle(t)))
                .collect();
            let mut all = settle(0);
            for other in others {
                all.extend(
                    other
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                );
            }
            all
        });
        settled.sort_unstable_by_key(|p| p.0);
        let mut bits = vec![0u64; people.div_ceil(64)];
        let mut values = Vec::with_capacity(settled.iter().map(|p| p.2.len()).sum());
        for (part, marks, part_values) in settled {
            let words = part * (part_len / 64);
            for (word, mark) in bits[words..].iter_mut().zip(marks) {
                *word = mark;
            }
            values.extend(part_values);
        }
        self.skips = Some(bits);
        Some(values)
    }

    /// Drops the raw-row hashes taken while reading, unused (a run that skips nobody).
    pub fn drop_raw_hashes(&mut self) {
        self.index.raw = None;
    }

    /// Every person, as [`Extractor::people`] gives them, each with the hash of their rows
    /// (see [`crate::RAW_HASH_VERSION`]); a person with a key for whom `skip(key, raw
    /// hash)` holds is read and hashed but not mapped ([`Visit::Skipped`]). After
    /// [`Extractor::settle_skips`], the people it marked are skipped unread (without
    /// asking `skip`) and the others mapped.
    pub fn people_unless<'a>(
        &'a self,
        mut skip: impl FnMut(&str, u64) -> bool + 'a,
    ) -> impl Iterator<Item = Visit> + 'a {
        let mut reading = Reading::default();
        let mut cursor = Cursor::default();
        let mut person = 0;
        std::iter::from_fn(move || {
            let (head, key) = self.index.person(&mut cursor)?;
            let number = person;
            person += 1;
            let settled = self.skips.as_ref();
            if settled.is_some_and(|skips| skips[number / 64] >> (number % 64) & 1 == 1) {
                return Some(Visit::Skipped {
                    key: key.to_owned(),
                    rows: self.rows_of(head).count(),
                    raw: None,
                });
            }
            let read = self.read_rows(head, &mut reading);
            let raw = read.raw_hash(&mut reading.hasher);
            // Once settled, `skip` is not asked: whom it skips was decided.
            let asked = |raw: &u64| settled.is_none() && !key.is_empty() && skip(key, *raw);
            if let Some(raw) = raw.filter(asked) {
                let rows = read.rows.len();
                reading
                    .spare
                    .extend(read.rows.into_iter().map(|r| r.fields));
                return Some(Visit::Skipped {
                    key: key.to_owned(),
                    rows,
                    raw: Some(raw),
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
        let mut cursor = Cursor::default();
        while let Some((head, key)) = self.index.person(&mut cursor) {
            if !key.is_empty() && key == id {
                return Some(self.person_traced(head, key, true, &mut reading));
            }
        }
        if let Some(row) = self.row_at(id) {
            let mut cursor = Cursor::default();
            while let Some((head, key)) = self.index.person(&mut cursor) {
                let global = |(s, r): (usize, usize)| self.row_base[s] as usize + r;
                if self.rows_of(head).any(|at| global(at) == row) {
                    return Some(self.person_traced(head, key, true, &mut reading));
                }
            }
        }
        // Find the person without tracing everyone, then trace them.
        let mut cursor = Cursor::default();
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
            at = self.index.links.next(here);
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
        // The inputs of the rows with a read problem, and of the clean ones.
        let (mut broken, mut clean) = (Vec::new(), Vec::new());
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
                    broken.push(s);
                } else {
                    clean.push(s);
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
            confirmed: broken.iter().all(|s| clean.contains(s)),
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
            confirmed,
        } = read;
        let key = key.to_owned();
        // A key read only from rows that could not be read may be a name or part of an
        // address that a stray delimiter or quote moved into the key column: the rows keep
        // it (the person's other rows are rejected with them) but it is not shown.
        let shown = if confirmed {
            key.clone()
        } else {
            String::new()
        };
        let mut t = Tracer {
            on: trace,
            steps: Vec::new(),
        };
        t.add(Topic::Rows, || {
            let rows_at = rows
                .iter()
                .map(|r| r.at.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            if confirmed {
                format!("{} row(s) with key {key:?}: {rows_at}", rows.len())
            } else {
                format!(
                    "{} row(s) with a key read only from rows that could not be read (not \
                     shown: it may not be an id): {rows_at}",
                    rows.len()
                )
            }
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
                    key: shown.clone(),
                    decision: r.decision.unwrap_or_else(|| Decision::Rejected {
                        errors: vec!["E-MAP-UNDECIDED: no decision was reached".to_owned()],
                    }),
                    decoded_as: r.decoded_as,
                }
            })
            .collect();
        let unconfirmed_key = (!confirmed && !key.is_empty()).then_some(key);
        match user {
            Some(mut u) => {
                u.trace = t.steps;
                PersonOutcome {
                    key: shown,
                    unconfirmed_key,
                    rows: outcomes,
                    user: Some(u),
                    trace: Vec::new(),
                    warnings,
                }
            }
            None => PersonOutcome {
                key: shown,
                unconfirmed_key,
                rows: outcomes,
                user: None,
                trace: t.steps,
                warnings,
            },
        }
    }
}
