//! From rows to users: eligibility, merging, groups, dates and field mapping, with a trace of
//! every decision.
//!
//! [`Extractor::new`] reads the inputs once, checks the config against their columns and
//! groups rows by person key (an index of row positions, not a copy of the rows).
//! [`Extractor::people`] then maps one person at a time, so a caller can stream.

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
use crate::config::{DatePolicy, FilterAction, InputFormat, MappingConfig};
use crate::read::{Layout, Source, one_byte, read_table};
use crate::rules::{
    Checker, Columns, Cond, Duration, Field, MonthDay, conds, describe, parse_date,
};

/// Where a row came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowRef {
    /// The file, as named in the config.
    pub file: String,
    /// 1-based line of the row in that file.
    pub line: u64,
}

impl fmt::Display for RowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
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
    }
    Ok(out)
}

/// The end of a chain of rows.
const NONE: u32 = u32::MAX;

enum Policy {
    Fixed(NaiveDate),
    Today,
    TodayPlus(Duration, String),
    Column(String, Vec<String>),
    Term(String, Option<(Duration, String)>, String),
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

struct Compiled {
    filters: Vec<(String, FilterAction, Vec<Cond>)>,
    groups: Vec<(String, Option<String>, Vec<Cond>)>,
    combined: Vec<(Vec<String>, String, Option<String>)>,
    prefer: Vec<(String, Vec<Cond>)>,
    fields: Vec<(&'static str, Field)>,
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

/// Person keys to person numbers, exact and compact: the keys live in one string, the map
/// holds their 64-bit hashes; a hash shared by two keys goes to a side list.
#[derive(Default)]
struct KeyIndex<S = std::hash::RandomState> {
    hasher: S,
    keys: String,
    /// Person number -> the span of their key in `keys` (empty for a person without one).
    spans: Vec<(usize, usize)>,
    first: HashMap<u64, u32>,
    more: HashMap<u64, Vec<u32>>,
}

impl<S: std::hash::BuildHasher> KeyIndex<S> {
    fn key(&self, person: u32) -> &str {
        self.spans
            .get(person as usize)
            .and_then(|&(start, end)| self.keys.get(start..end))
            .unwrap_or("")
    }

    fn find(&self, key: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        let &p = self.first.get(&hash)?;
        if self.key(p) == key {
            return Some(p);
        }
        self.more
            .get(&hash)?
            .iter()
            .copied()
            .find(|&p| self.key(p) == key)
    }

    /// Adds a key that `find` does not know.
    fn insert(&mut self, key: &str, person: u32) {
        let hash = self.hasher.hash_one(key);
        let start = self.keys.len();
        self.keys.push_str(key);
        let person_index = person as usize;
        if self.spans.len() <= person_index {
            self.spans.resize(person_index + 1, (0, 0));
        }
        self.spans[person_index] = (start, self.keys.len());
        match self.first.entry(hash) {
            std::collections::hash_map::Entry::Occupied(_) => {
                self.more.entry(hash).or_default().push(person);
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(person);
            }
        }
    }
}

/// Maps an extract one person at a time.
pub struct Extractor<'c> {
    config: &'c MappingConfig,
    today: NaiveDate,
    sources: Vec<Source>,
    compiled: Compiled,
    /// Person key -> person number.
    index: KeyIndex,
    /// Where each source's rows start in the global row numbering.
    row_base: Vec<u32>,
    /// Person -> their first and last global row; rows of a person are chained by `next`.
    people: Vec<(u32, u32)>,
    next: Vec<u32>,
    warnings: Vec<String>,
    trace: bool,
}

impl<'c> Extractor<'c> {
    /// Reads the inputs, checks the config against their columns and indexes rows by key.
    pub fn new(
        config: &'c MappingConfig,
        base_dir: &Path,
        today: NaiveDate,
    ) -> Result<Extractor<'c>, ExtractError> {
        let src = &config.source;
        let error = |span: std::ops::Range<usize>, message: String| ExtractError::Config {
            at: src.locate(&span),
            message,
        };
        let mut sources = Vec::new();
        let mut warnings = Vec::new();
        let mut index = KeyIndex::default();
        let mut people: Vec<(u32, u32)> = Vec::new();
        let mut next: Vec<u32> = Vec::new();
        let mut row_base: Vec<u32> = Vec::new();
        if config.inputs.is_empty() {
            return Err(error(0..0, "at least one [[input]] is needed".to_owned()));
        }
        for input in &config.inputs {
            let layout = match input.format {
                InputFormat::Delimited => {
                    let byte = |s: &toml::Spanned<String>, what: &str| {
                        one_byte(s.get_ref()).ok_or_else(|| {
                            error(
                                s.span(),
                                format!("{what} must be one byte (or \\t), got {:?}", s.get_ref()),
                            )
                        })
                    };
                    if input.header == Some(false) && input.columns.is_empty() {
                        return Err(error(
                            input.key.span(),
                            format!(
                                "input {}: without a header row, name the columns with `columns`",
                                input.path.display()
                            ),
                        ));
                    }
                    Layout::Delimited {
                        delimiter: byte(&input.delimiter, "delimiter")?,
                        quote: byte(&input.quote, "quote")?,
                    }
                }
                InputFormat::FixedWidth => {
                    if input.positions.is_empty() || input.positions.iter().any(|p| p.start == 0) {
                        return Err(error(
                            input.key.span(),
                            format!(
                                "input {}: a fixed-width input needs `positions` with 1-based `start`",
                                input.path.display()
                            ),
                        ));
                    }
                    Layout::Fixed {
                        positions: input
                            .positions
                            .iter()
                            .map(|p| (p.start - 1, p.width))
                            .collect(),
                    }
                }
            };
            let base = next.len() as u32;
            row_base.push(base);
            let (source, warning) = Source::open(input, base_dir, layout, |row, key| {
                let at = base + row as u32;
                next.push(NONE);
                // A row without a key is a person of its own (and rejected).
                let known = if key.is_empty() {
                    None
                } else {
                    index.find(key)
                };
                match known {
                    Some(p) => {
                        let last = &mut people[p as usize].1;
                        next[*last as usize] = at;
                        *last = at;
                    }
                    None => {
                        if !key.is_empty() {
                            index.insert(key, people.len() as u32);
                        }
                        people.push((at, at));
                    }
                }
            })?;
            if !source.index.contains_key(input.key.get_ref()) {
                return Err(ExtractError::UnknownColumn {
                    at: src.locate(&input.key.span()),
                    column: input.key.get_ref().clone(),
                    available: format!("\n  {}: {}", source.name, source.columns.join(", ")),
                });
            }
            warnings.extend(warning);
            sources.push(source);
        }
        let compiled = compile(config, base_dir, &sources)?;
        Ok(Extractor {
            config,
            today,
            sources,
            compiled,
            index,
            row_base,
            people,
            next,
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
        self.sources.iter().map(|s| s.rows.len()).sum()
    }

    /// Every person, in order of first appearance of their key; rows without a key come as
    /// persons of their own.
    pub fn people(&self) -> impl Iterator<Item = PersonOutcome> + '_ {
        (0..self.people.len()).map(|i| self.person(i))
    }

    /// The person whose key or primary id is `id`, traced.
    pub fn explain(&self, id: &str) -> Option<PersonOutcome> {
        if let Some(i) = self.index.find(id) {
            return Some(self.person_traced(i as usize, true));
        }
        // Find the person without tracing everyone, then trace them.
        (0..self.people.len())
            .find(|&i| {
                self.person_traced(i, false)
                    .user
                    .is_some_and(|u| u.user.primary_id == id)
            })
            .map(|i| self.person_traced(i, true))
    }

    /// The rows of person `i` as (source, row), in input order.
    fn rows_of(&self, i: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut at = self.people[i].0;
        std::iter::from_fn(move || {
            if at == NONE {
                return None;
            }
            let here = at;
            at = self.next[here as usize];
            let source = self.row_base.partition_point(|&b| b <= here) - 1;
            Some((source, (here - self.row_base[source]) as usize))
        })
    }

    fn person(&self, i: usize) -> PersonOutcome {
        self.person_traced(i, self.trace)
    }

    fn person_traced(&self, i: usize, trace: bool) -> PersonOutcome {
        let mut unreadable = false;
        let mut rows: Vec<Row> = self
            .rows_of(i)
            .map(|(s, r)| {
                let source = &self.sources[s];
                let mut fields = Vec::new();
                unreadable |= !source.fields(r, &mut fields);
                Row {
                    source: s,
                    at: RowRef {
                        file: source.name.clone(),
                        line: source.rows[r].line,
                    },
                    fields,
                    decision: None,
                }
            })
            .collect();
        let key = self.index.key(i as u32).to_owned();
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
        let user = if key.is_empty() || unreadable {
            let errors = if unreadable {
                vec![
                    "E-MAP-INPUT-CHANGED: cannot read this person's rows back: an input changed during the run"
                        .to_owned(),
                ]
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
            self.map(&key, &mut rows, &mut t)
        };
        let outcomes = rows
            .into_iter()
            .map(|r| RowOutcome {
                row: r.at,
                key: key.clone(),
                decision: r.decision.unwrap_or_else(|| Decision::Rejected {
                    errors: vec!["E-MAP-UNDECIDED: no decision was reached".to_owned()],
                }),
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
                }
            }
            None => PersonOutcome {
                key,
                rows: outcomes,
                user: None,
                trace: t.steps,
            },
        }
    }

    fn row_value<'r>(&self, row: &'r Row, column: &str) -> &'r str {
        self.sources[row.source]
            .index
            .get(column)
            .and_then(|&i| row.fields.get(i))
            .map_or("", String::as_str)
    }

    fn row_holds(&self, row: &Row, when: &[Cond]) -> bool {
        when.iter().all(|c| c.holds(self.row_value(row, &c.column)))
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

    fn map(&self, key: &str, rows: &mut Vec<Row>, t: &mut Tracer) -> Option<MappedUser> {
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
        let user = self.build(&person, t, &mut errors);
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

    fn field(&self, name: &str, person: &Person<'_>, errors: &mut Vec<String>) -> Option<String> {
        let (_, field) = self.compiled.fields.iter().find(|(n, _)| *n == name)?;
        value_of(name, field, person, errors)
    }

    fn build(&self, p: &Person<'_>, t: &mut Tracer, errors: &mut Vec<String>) -> Option<User> {
        if t.on && p.rows.len() > 1 {
            for (name, field) in self.compiled.every_field() {
                for column in field.columns() {
                    // Only a choice between different values needs explaining; the
                    // values themselves stay out of the trace.
                    let mut givers = p
                        .rows
                        .iter()
                        .filter(|r| !self.row_value(r, column).is_empty());
                    let Some(winner) = givers.next() else {
                        continue;
                    };
                    let value = self.row_value(winner, column);
                    let others: Vec<String> = givers
                        .filter(|r| self.row_value(r, column) != value)
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
        let Some(primary_id) = self.field("primary_id", p, errors) else {
            errors.push("E-MAP-NO-PRIMARY-ID: primary_id is empty".to_owned());
            return None;
        };
        let mut user = User::new(primary_id);
        user.first_name = self.field("first_name", p, errors);
        user.middle_name = self.field("middle_name", p, errors);
        user.last_name = self.field("last_name", p, errors);
        user.pref_first_name = self.field("pref_first_name", p, errors);
        user.pref_middle_name = self.field("pref_middle_name", p, errors);
        user.pref_last_name = self.field("pref_last_name", p, errors);
        user.user_title = self.field("user_title", p, errors).map(CodeValue::new);
        user.job_category = self.field("job_category", p, errors).map(CodeValue::new);
        user.job_description = self.field("job_description", p, errors);
        user.gender = self.field("gender", p, errors).map(CodeValue::new);
        user.campus_code = self.field("campus_code", p, errors).map(CodeValue::new);
        user.preferred_language = self
            .field("preferred_language", p, errors)
            .map(CodeValue::new);
        user.external_id = self.field("external_id", p, errors);
        user.web_site_url = self.field("web_site_url", p, errors);
        if let Some(v) = self.field("birth_date", p, errors) {
            let parsed = self
                .compiled
                .fields
                .iter()
                .find(|(n, _)| *n == "birth_date")
                .and_then(|(_, f)| f.date(&v).map(|d| (d, f)));
            match parsed {
                Some((d, _)) => user.birth_date = Some(d),
                None => errors
                    .push("E-MAP-DATE: birth_date is not a date in its date_formats".to_owned()),
            }
        }
        if let Some(v) = self.field("record_type", p, errors) {
            match RecordType::from_code(&v) {
                Some(r) => user.record_type = Some(r),
                None => errors.push(format!(
                    "E-MAP-CODE: record_type {v:?} is not PUBLIC, STAFF or CONTACT"
                )),
            }
        } else {
            user.record_type = Some(RecordType::Public);
        }
        if let Some(v) = self.field("account_type", p, errors) {
            match AccountType::from_code(&v) {
                Some(a) => user.account_type = Some(a),
                None => errors.push(format!(
                    "E-MAP-CODE: account_type {v:?} is not EXTERNAL or INTERNAL"
                )),
            }
        }
        if let Some(v) = self.field("status", p, errors) {
            match UserStatus::from_code(&v) {
                Some(s) => user.status = Some(s),
                None => errors.push(format!(
                    "E-MAP-CODE: status {v:?} is not ACTIVE or INACTIVE"
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
        let mut matched: Vec<usize> = Vec::new();
        for (i, (code, _, when)) in c.groups.iter().enumerate() {
            match p.rows.iter().find(|r| self.row_holds(r, when)) {
                Some(row) => {
                    matched.push(i);
                    t.add(Topic::Group, || {
                        format!("rule {code}: matches {} ({})", row.at, describe(when))
                    });
                }
                None => t.add(Topic::Group, || {
                    format!("rule {code}: no row matches ({})", describe(when))
                }),
            }
        }
        let codes: Vec<&str> = matched.iter().map(|&i| c.groups[i].0.as_str()).collect();
        let combined = c
            .combined
            .iter()
            .find(|(needs, _, _)| needs.iter().all(|n| codes.contains(&n.as_str())));
        let chosen = match (combined, matched.first()) {
            (Some((needs, code, desc)), _) => {
                t.add(Topic::Group, || {
                    format!(
                        "user group {code}: combined group for people matching {}",
                        needs.join(" and ")
                    )
                });
                (code, desc)
            }
            (None, Some(&first)) => {
                let (code, desc, _) = &c.groups[first];
                t.add(Topic::Group, || {
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
                errors.push("E-MAP-NO-GROUP: no user group rule matches".to_owned());
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
                        "E-MAP-NO-EXPIRY: the default expiry policy gives no date ({why})"
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

    fn policy_date(&self, policy: &Policy, p: &Person<'_>) -> Result<(NaiveDate, String), String> {
        let today = self.today;
        match policy {
            Policy::Fixed(d) => Ok((*d, "fixed date".to_owned())),
            Policy::Today => Ok((today, "today".to_owned())),
            Policy::TodayPlus(d, text) => d
                .after(today)
                .map(|date| (date, format!("today + {text}")))
                .ok_or_else(|| format!("today + {text} is out of range")),
            Policy::Column(column, formats) => {
                let v = p.value(column);
                if v.is_empty() {
                    return Err(format!("column {column} is empty"));
                }
                parse_date(v, formats)
                    .map(|d| (d, format!("column {column}")))
                    .ok_or_else(|| {
                        format!("column {column} is not a date in {}", formats.join(" or "))
                    })
            }
            Policy::Term(column, grace, separator) => {
                let v = p.value(column);
                let terms: Vec<&str> = v
                    .split(separator.as_str())
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                if terms.is_empty() {
                    return Err(format!("column {column} is empty"));
                }
                let Some((term, end)) = terms
                    .iter()
                    .filter_map(|term| self.compiled.terms.get(*term).map(|end| (term, *end)))
                    .max_by_key(|(_, end)| *end)
                else {
                    return Err(format!(
                        "term {} is not in the term calendar",
                        terms.join(", ")
                    ));
                };
                match grace {
                    Some((d, text)) => d
                        .after(end)
                        .map(|date| (date, format!("term {term} ends {end}, + {text} grace")))
                        .ok_or_else(|| format!("term end {end} + {text} is out of range")),
                    None => Ok((end, format!("term {term} ends {end}"))),
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

fn value_of(name: &str, field: &Field, p: &Person<'_>, errors: &mut Vec<String>) -> Option<String> {
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
    fields: Vec<String>,
    decision: Option<Decision>,
}

/// A person's live rows in order of precedence.
struct Person<'a> {
    extractor: &'a Extractor<'a>,
    rows: &'a [Row],
}

impl Columns for Person<'_> {
    fn value(&self, column: &str) -> &str {
        self.rows
            .iter()
            .map(|r| self.extractor.row_value(r, column))
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
            let crate::read::Table { header, rows } = read_table(&path, delimiter)?;
            let col = |c: &str| {
                header.iter().position(|h| h == c).ok_or_else(|| {
                    at_key(
                        format!("lookup.{name}"),
                        format!(
                            "{} has no column {c:?}; its columns are: {}",
                            path.display(),
                            header.join(", ")
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
            .map(|s| (s.name.clone(), s.columns.clone()))
            .collect(),
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
            let crate::read::Table { header, rows } = read_table(&path, delimiter)?;
            let col = |c: &str| {
                header.iter().position(|h| h == c).ok_or_else(|| {
                    at_key(
                        "term_calendar".to_owned(),
                        format!(
                            "{} has no column {c:?}; its columns are: {}",
                            path.display(),
                            header.join(", ")
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
                        message: format!("term {term:?}: end {end:?} is not YYYY-MM-DD"),
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
            DatePolicy::Column { column, formats } => {
                check.column(&span, column)?;
                let formats = if formats.is_empty() {
                    vec!["%Y-%m-%d".to_owned()]
                } else {
                    formats.clone()
                };
                Policy::Column(column.clone(), formats)
            }
            DatePolicy::Term {
                column,
                grace,
                separator,
            } => {
                check.column(&span, column)?;
                if config.term_calendar.is_none() {
                    return Err(check.error(&span, "policy \"term\" needs a [term_calendar]"));
                }
                let grace = grace.as_deref().map(duration).transpose()?;
                Policy::Term(column.clone(), grace, separator.clone())
            }
        })
    };

    let named = |spec: &Option<crate::config::FieldSpec>, name: &'static str| {
        spec.as_ref()
            .map(|s| Field::compile(s, &check).map(|f| (name, f)))
            .transpose()
    };
    let fc = &config.fields;
    let mut fields = vec![("primary_id", Field::compile(&fc.primary_id, &check)?)];
    for (spec, name) in [
        (&fc.first_name, "first_name"),
        (&fc.middle_name, "middle_name"),
        (&fc.last_name, "last_name"),
        (&fc.pref_first_name, "pref_first_name"),
        (&fc.pref_middle_name, "pref_middle_name"),
        (&fc.pref_last_name, "pref_last_name"),
        (&fc.user_title, "user_title"),
        (&fc.job_category, "job_category"),
        (&fc.job_description, "job_description"),
        (&fc.gender, "gender"),
        (&fc.campus_code, "campus_code"),
        (&fc.preferred_language, "preferred_language"),
        (&fc.birth_date, "birth_date"),
        (&fc.external_id, "external_id"),
        (&fc.status, "status"),
        (&fc.record_type, "record_type"),
        (&fc.account_type, "account_type"),
        (&fc.web_site_url, "web_site_url"),
    ] {
        fields.extend(named(spec, name)?);
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

    Ok(Compiled {
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
    })
}

#[cfg(test)]
mod tests {
    use super::KeyIndex;

    /// Every key hashes alike, so every key after the first takes the collision path.
    #[derive(Default)]
    struct Collide;

    impl std::hash::Hasher for Collide {
        fn finish(&self) -> u64 {
            7
        }
        fn write(&mut self, _: &[u8]) {}
    }

    #[test]
    fn keys_with_the_same_hash_stay_apart() {
        let mut index: KeyIndex<std::hash::BuildHasherDefault<Collide>> = KeyIndex::default();
        for (person, key) in ["a", "b", "c"].iter().enumerate() {
            assert_eq!(index.find(key), None);
            index.insert(key, person as u32 * 2);
        }
        assert_eq!(
            ["a", "b", "c", "d"].map(|k| index.find(k)),
            [Some(0), Some(2), Some(4), None]
        );
        assert_eq!(index.key(2), "b");
        assert_eq!(index.key(1), "");
    }
}
