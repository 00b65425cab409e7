//! One extract file read row by row, with the readers and `{COLUMN}` templates the patron
//! feed uses, for callers that map rows to something other than people (the Leganto course
//! feed): the same encodings, quoting, line numbers and config errors.
//!
//! ```
//! use std::path::Path;
//! use sis_extract::config::{ConfigSource, FieldRule, FieldSpec, InputConfig};
//! use sis_extract::records::Records;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("classes.csv"), "SUBJ,NBR\nHIST,101\n")?;
//! let input: InputConfig = toml::from_str("path = \"classes.csv\"\nkey = \"\"")?;
//! let config = ConfigSource::default();
//! let records = Records::open(&input, dir.path(), &config)?;
//! let rule = FieldRule { template: "{SUBJ}{NBR}".into(), trim: true, ..FieldRule::default() };
//! let code = records.template(&FieldSpec(toml::Spanned::new(0..0, rule)))?;
//! let row = records.iter().next().expect("one row");
//! assert_eq!((row.line(), code.value(&row)?.as_ref()), (2, "HIST101"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use toml::Spanned;

use crate::ExtractError;
use crate::config::{ConfigSource, FieldSpec, InputConfig, InputFormat};
use crate::read::{Cache, Fields, Layout, RowFields, Sink, Source, one_byte};
use crate::rules::{Checker, Col, Columns, Field};

/// How an input's rows are split into fields, checked against the config.
pub(crate) fn layout(input: &InputConfig, config: &ConfigSource) -> Result<Layout, ExtractError> {
    let error = |span: std::ops::Range<usize>, message: String| ExtractError::Config {
        at: config.locate(&span),
        message,
    };
    match input.format {
        InputFormat::Delimited => {
            let byte = |s: &Spanned<String>, what: &str| {
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
            let (delimiter, quote) = (
                byte(&input.delimiter, "delimiter")?,
                byte(&input.quote, "quote")?,
            );
            if delimiter == quote || [delimiter, quote].iter().any(|b| b"\r\n".contains(b)) {
                return Err(error(
                    input.delimiter.span(),
                    format!(
                        "input {}: the delimiter and the quote must be two different bytes, \
                         neither a line break",
                        input.path.display()
                    ),
                ));
            }
            Ok(Layout::Delimited { delimiter, quote })
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
            Ok(Layout::Fixed {
                positions: input
                    .positions
                    .iter()
                    .map(|p| (p.start - 1, p.width))
                    .collect(),
            })
        }
    }
}

/// Keeps no keys: [`Records`] reads rows in file order.
struct NoKeys;

impl Sink for NoKeys {
    fn row(&mut self, _: &str, _: Option<RowFields<'_>>) -> bool {
        true
    }
    fn expect(&mut self, _: usize) {}
}

/// One input file, indexed once: its columns and where each row starts. Rows are read back
/// in file order by [`Records::iter`].
pub struct Records {
    source: Source,
    warning: Option<String>,
    config: ConfigSource,
    lookups: HashMap<String, std::sync::Arc<HashMap<String, String>>>,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("file", &self.source.name)
            .field("columns", &self.source.columns)
            .field("rows", &self.source.len())
            .finish()
    }
}

impl Records {
    /// Reads `input` (its path relative to `base_dir`; its `key` is not used) as the patron
    /// feed reads an `[[input]]`. `config` is the config file the input and any templates
    /// come from: errors point at their line and column there.
    pub fn open(
        input: &InputConfig,
        base_dir: &Path,
        config: &ConfigSource,
    ) -> Result<Records, ExtractError> {
        let layout = layout(input, config)?;
        let limits = crate::config::LimitsConfig::default();
        let source = Source::open(input, base_dir, layout, &limits, &mut NoKeys)?;
        let decoded = source.fallback_lines().len();
        let warning = match source.encoding() {
            Some((encoding, true)) => Some(format!(
                "{}: a UTF-16 file, decoded as {encoding}",
                source.name
            )),
            Some((encoding, false)) if decoded > 0 => Some(format!(
                "{}: {decoded} row(s) not UTF-8, decoded as {encoding}",
                source.name
            )),
            _ => None,
        };
        Ok(Records {
            source,
            warning,
            config: config.clone(),
            lookups: HashMap::new(),
        })
    }

    /// The file, as the config names it.
    pub fn name(&self) -> &str {
        &self.source.name
    }

    /// The column names (from the header row, or the config's `columns` or `positions`).
    pub fn columns(&self) -> &[String] {
        &self.source.columns
    }

    /// Set when rows of the file were not UTF-8 and the fallback encoding decoded them (each
    /// row is decoded on its own: a UTF-8 row stays as it is).
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// How many data rows the file has.
    pub fn len(&self) -> usize {
        self.source.len()
    }

    /// Whether the file has no data rows.
    pub fn is_empty(&self) -> bool {
        self.source.len() == 0
    }

    fn checker(&self) -> Checker<'_> {
        Checker {
            source: &self.config,
            files: vec![crate::InputColumns {
                input: self.source.name.clone(),
                columns: self.source.columns.clone(),
                named_by_config: false,
            }],
            columns: &self.source.columns,
            lookups: &self.lookups,
        }
    }

    /// The number of a column named in the config, or the error the patron feed gives for
    /// a column the file does not have (with the config's line and column).
    pub fn column(&self, name: &Spanned<String>) -> Result<usize, ExtractError> {
        self.checker().column(&name.span(), name.get_ref())
    }

    /// Compiles a field rule (a `{COLUMN}` template, with its optional regex, case, map and
    /// default) against the file's columns.
    pub fn template(&self, spec: &FieldSpec) -> Result<Template, ExtractError> {
        Field::compile(spec, &self.checker()).map(|field| Template { field })
    }

    /// Every row, in file order.
    pub fn iter(&self) -> impl Iterator<Item = Record> + '_ {
        let mut cache = Cache::default();
        (0..self.source.len()).map(move |i| {
            let mut fields = Fields::default();
            let read = self.source.fields(i, &mut cache, &mut fields);
            let line = self.source.line(i);
            let at = format!("{}:{line}", self.source.name);
            let header = self.source.has_header();
            let problem = self.source.problem(i).map(|p| {
                let message = p.message(&at, "", header);
                // `CODE: file:line: what is wrong`: where the last part starts.
                let what = [p.code(), ": ", &at, ": "]
                    .iter()
                    .try_fold(message.as_str(), |m, part| m.strip_prefix(part))
                    .map_or(0, |what| message.len() - what.len());
                (p.code(), message, what)
            });
            Record {
                line,
                fields,
                readable: read.readable,
                problem,
            }
        })
    }
}

/// One row of a [`Records`] file.
#[derive(Debug)]
pub struct Record {
    line: u64,
    fields: Fields,
    readable: bool,
    /// The problem's code, its message (`CODE: file:line: what is wrong`) and where the
    /// "what is wrong" starts in it.
    problem: Option<(&'static str, String, usize)>,
}

impl Record {
    /// The 1-based line its first byte is on.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// `false` when the row could not be read back (the file changed during the run): its
    /// fields are then empty.
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Why the row could not be read cleanly, as `CODE: file:line: what is wrong` (a quote
    /// left open, another field count than the header's, bytes no encoding decodes); its
    /// fields are then not to be trusted.
    pub fn problem(&self) -> Option<&str> {
        self.problem
            .as_ref()
            .map(|(_, message, _)| message.as_str())
    }

    /// [`Record::problem`]'s code (`E-READ-FIELDS`, `E-READ-QUOTE`, `E-UTF8`, ...) and what
    /// is wrong, without the code, file or line: for callers that report the row's file
    /// and line themselves.
    pub fn problem_parts(&self) -> Option<(&'static str, &str)> {
        self.problem
            .as_ref()
            .map(|(code, message, what)| (*code, &message[*what..]))
    }

    /// The trimmed value of column `column` ("" when the row is short).
    pub fn get(&self, column: usize) -> &str {
        self.fields.get(column).unwrap_or("")
    }
}

impl Columns for Record {
    fn value(&self, col: Col) -> &str {
        self.get(col)
    }
}

/// A row with one column's value replaced: see [`Template::value_as_if`].
struct AsIf<'a> {
    record: &'a Record,
    column: usize,
    value: &'a str,
}

impl Columns for AsIf<'_> {
    fn value(&self, col: Col) -> &str {
        if col == self.column {
            self.value
        } else {
            self.record.get(col)
        }
    }
}

/// A compiled field rule: see [`Records::template`].
#[derive(Debug)]
pub struct Template {
    field: Field,
}

impl Template {
    /// The value for a row; `Err` names a value the rule's `map` rejects
    /// (`unmapped = "reject"`).
    pub fn value<'a>(&'a self, record: &'a Record) -> Result<Cow<'a, str>, String> {
        self.field.value(record)
    }

    /// The value for a row read as if its column `column` held `value`: what the row would
    /// give with another value there (the Leganto feed asks which course a row of an
    /// unmapped term would be of under each term it maps).
    pub fn value_as_if(
        &self,
        record: &Record,
        column: usize,
        value: &str,
    ) -> Result<String, String> {
        let row = AsIf {
            record,
            column,
            value,
        };
        self.field.value(&row).map(Cow::into_owned)
    }

    /// The columns the template reads, with their numbers.
    pub fn columns(&self) -> impl Iterator<Item = (&str, usize)> {
        self.field.columns()
    }

    /// Parses a date with the rule's `date_formats` (`%Y-%m-%d` when it gives none).
    pub fn date(&self, value: &str) -> Option<NaiveDate> {
        self.field.date(value)
    }
}
