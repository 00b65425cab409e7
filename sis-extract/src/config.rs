//! The mapping config: the TOML tables a librarian reads and edits.
//!
//! Every struct denies unknown keys, so a misspelt key is an error that points at its line
//! and column. Names of columns, templates and rules keep their position in the file
//! ([`Spanned`]) so that errors found later, once the extract's columns are known, point
//! there too.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::ExtractError;

/// The mapping part of `alma-sis.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// `[feed]`: which feed this is.
    pub feed: FeedConfig,
    /// `[[input]]`: the extract files, joined on their key.
    #[serde(rename = "input")]
    pub inputs: Vec<InputConfig>,
    /// `[[filter]]`: ordered eligibility rules; the first that matches a row decides.
    #[serde(default, rename = "filter")]
    pub filters: Vec<FilterRule>,
    /// `[[group]]`: user-group rules, in order of precedence.
    #[serde(default, rename = "group")]
    pub groups: Vec<GroupRule>,
    /// `[[combined_group]]`: the group of people who match several group rules.
    #[serde(default, rename = "combined_group")]
    pub combined_groups: Vec<CombinedGroup>,
    /// `[merge]`: which of a person's rows wins a value.
    #[serde(default)]
    pub merge: MergeConfig,
    /// `[fields]`: the user's single-valued fields.
    pub fields: FieldsConfig,
    /// `[[identifier]]`: additional identifiers (barcode, university id, ...).
    #[serde(default, rename = "identifier")]
    pub identifiers: Vec<IdentifierConfig>,
    /// `[[email]]`: email addresses, in order of preference.
    #[serde(default, rename = "email")]
    pub emails: Vec<EmailConfig>,
    /// `[[phone]]`: phone numbers, in order of preference.
    #[serde(default, rename = "phone")]
    pub phones: Vec<PhoneConfig>,
    /// `[[address]]`: postal addresses, in order of preference.
    #[serde(default, rename = "address")]
    pub addresses: Vec<AddressConfig>,
    /// `[[note]]`: user notes.
    #[serde(default, rename = "note")]
    pub notes: Vec<NoteConfig>,
    /// `[[statistic]]`: user statistics.
    #[serde(default, rename = "statistic")]
    pub statistics: Vec<StatisticConfig>,
    /// `[lookup.<name>]`: code lookup tables used by field rules.
    #[serde(default, rename = "lookup")]
    pub lookups: BTreeMap<String, LookupConfig>,
    /// `[term_calendar]`: term codes and the day each term ends.
    #[serde(default)]
    pub term_calendar: Option<TermCalendarConfig>,
    /// `[expiry]`: how the expiry date is chosen.
    pub expiry: ExpiryConfig,
    /// `[purge]`: how the purge date follows from the expiry date.
    #[serde(default)]
    pub purge: PurgeConfig,
    /// `[identity]`: when rows under one key are two people.
    #[serde(default)]
    pub identity: IdentityConfig,
    /// `[text]`: values that look damaged upstream (double-encoded, C1 controls).
    #[serde(default)]
    pub text: TextConfig,
    /// `[limits]`: the largest line, field, header and input read.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The file this config came from, to point errors at a line and column.
    #[serde(skip)]
    pub source: ConfigSource,
}

impl MappingConfig {
    /// Parses the mapping from the whole config file `text` (read from `path`), ignoring the
    /// top-level tables in `foreign_sections` (those belong to the caller).
    ///
    /// Errors name `path`, line and column.
    pub fn from_toml(
        text: &str,
        path: &Path,
        foreign_sections: &[&str],
    ) -> Result<MappingConfig, ExtractError> {
        let (mut config, source) =
            ConfigSource::deserialize::<MappingConfig>(text, path, foreign_sections)?;
        config.source = source;
        config.validate()?;
        Ok(config)
    }

    /// Checks what can be checked without the extract: date formats, limits, encodings.
    fn validate(&self) -> Result<(), ExtractError> {
        let error = |span: std::ops::Range<usize>, message: String| ExtractError::Config {
            at: self.source.locate(&span),
            message,
        };
        let fields = &self.fields;
        let specs = [
            Some(&fields.primary_id),
            fields.first_name.as_ref(),
            fields.middle_name.as_ref(),
            fields.last_name.as_ref(),
            fields.pref_first_name.as_ref(),
            fields.pref_middle_name.as_ref(),
            fields.pref_last_name.as_ref(),
            fields.user_title.as_ref(),
            fields.job_category.as_ref(),
            fields.job_description.as_ref(),
            fields.gender.as_ref(),
            fields.campus_code.as_ref(),
            fields.preferred_language.as_ref(),
            fields.birth_date.as_ref(),
            fields.external_id.as_ref(),
            fields.status.as_ref(),
            fields.record_type.as_ref(),
            fields.account_type.as_ref(),
            fields.web_site_url.as_ref(),
        ];
        for spec in specs.into_iter().flatten() {
            for format in &spec.0.get_ref().date_formats {
                check_date_format(format).map_err(|m| error(spec.0.span(), m))?;
            }
        }
        let policies = self
            .expiry
            .rule
            .iter()
            .map(|r| &r.date)
            .chain([&self.expiry.default]);
        for policy in policies {
            if let DatePolicy::Column { formats, .. } = policy.get_ref() {
                for format in formats {
                    check_date_format(format).map_err(|m| error(policy.span(), m))?;
                }
            }
        }
        self.limits.validate().map_err(|m| error(0..0, m))?;
        for input in &self.inputs {
            if let Some(label) = &input.encoding {
                check_encoding(label.get_ref(), input).map_err(|m| error(label.span(), m))?;
            }
        }
        Ok(())
    }
}

/// Why a chrono date format cannot read a date: an unknown `%` specifier, or no year, month
/// and day (or day of the year) to make one.
pub fn check_date_format(format: &str) -> Result<(), String> {
    use chrono::format::{Fixed, Item, Numeric, StrftimeItems};
    let (mut year, mut month, mut day, mut ordinal, mut week, mut weekday) =
        (false, false, false, false, false, false);
    for item in StrftimeItems::new(format) {
        match item {
            Item::Error => {
                return Err(format!(
                    "date format {format:?} has a `%` specifier chrono does not know; write \
                     formats like \"%Y-%m-%d\" or \"%m/%d/%Y\""
                ));
            }
            Item::Numeric(n, _) => match n {
                Numeric::Year | Numeric::YearMod100 | Numeric::IsoYear | Numeric::IsoYearMod100 => {
                    year = true;
                }
                Numeric::Month => month = true,
                Numeric::Day => day = true,
                Numeric::Ordinal => ordinal = true,
                Numeric::WeekFromSun | Numeric::WeekFromMon | Numeric::IsoWeek => week = true,
                Numeric::NumDaysFromSun | Numeric::WeekdayFromMon => weekday = true,
                Numeric::Timestamp => return Ok(()),
                _ => {}
            },
            Item::Fixed(Fixed::ShortMonthName | Fixed::LongMonthName) => month = true,
            Item::Fixed(Fixed::ShortWeekdayName | Fixed::LongWeekdayName) => weekday = true,
            _ => {}
        }
    }
    if year && ((month && day) || ordinal || (week && weekday)) {
        return Ok(());
    }
    let missing: Vec<&str> = [
        (!year, "year (%Y)"),
        (!(month || ordinal || week), "month (%m)"),
        (!(day || ordinal || weekday), "day (%d)"),
    ]
    .into_iter()
    .filter_map(|(m, what)| m.then_some(what))
    .collect();
    Err(format!(
        "date format {format:?} cannot read a date: it has no {}; chrono formats use `%`, \
         e.g. \"%Y-%m-%d\" or \"%m/%d/%Y\"",
        missing.join(", ")
    ))
}

/// Why `label` cannot be an input's fallback encoding.
fn check_encoding(label: &str, input: &InputConfig) -> Result<(), String> {
    let Some(encoding) = encoding_rs::Encoding::for_label(label.as_bytes()) else {
        return Err(format!(
            "unknown encoding {label:?}; use a WHATWG label such as \"windows-1252\" or \"iso-8859-1\""
        ));
    };
    let utf16 = encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE;
    if !encoding.is_ascii_compatible() && !utf16 {
        return Err(format!(
            "encoding {label:?} cannot be read row by row (it is not ASCII-compatible); convert \
             the file to UTF-8"
        ));
    }
    let high = |s: &Spanned<String>| s.get_ref().bytes().any(|b| b >= 0x40);
    if encoding.is_ascii_compatible()
        && !encoding.is_single_byte()
        && input.format == InputFormat::Delimited
        && high(&input.quote)
    {
        return Err(format!(
            "with the multi-byte fallback {label:?}, the quote must be an ASCII byte below 0x40 \
             (such as `\"` or `'`): higher bytes can be the second byte of a character"
        ));
    }
    Ok(())
}

/// Where a config came from: its path and text, to turn byte spans into line and column.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// The config file.
    pub path: PathBuf,
    /// Its text.
    pub text: Arc<str>,
}

impl ConfigSource {
    /// Deserializes a config file's `text` (read from `path`) without the top-level tables
    /// in `foreign_sections`, keeping spans (`toml::Spanned`) so that later errors can be
    /// placed with [`ConfigSource::locate`]. Errors name `path`, line and column.
    pub fn deserialize<T: serde::de::DeserializeOwned>(
        text: &str,
        path: &Path,
        foreign_sections: &[&str],
    ) -> Result<(T, ConfigSource), ExtractError> {
        let source = ConfigSource {
            path: path.to_owned(),
            text: Arc::from(text),
        };
        let toml_error = |e: toml::de::Error| ExtractError::Config {
            at: e
                .span()
                .map_or_else(|| source.path.display().to_string(), |s| source.locate(&s)),
            message: e.message().trim_end().to_owned(),
        };
        let mut root = toml::de::DeTable::parse(text).map_err(toml_error)?;
        for section in foreign_sections {
            root.get_mut().remove(*section);
        }
        let value = T::deserialize(toml::de::Deserializer::from(root)).map_err(toml_error)?;
        Ok((value, source))
    }

    /// `path:line:column` of a byte span in the config.
    pub fn locate(&self, span: &std::ops::Range<usize>) -> String {
        let before = self.text.get(..span.start).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(1, |l| l.chars().count() + 1);
        format!("{}:{line}:{column}", self.path.display())
    }
}

/// `[feed]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// The feed's name, used in file names and the state store.
    pub name: String,
    /// The institution code, used in file names.
    pub institution: String,
}

/// How an input file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// Fields separated by one byte, optionally quoted.
    #[default]
    Delimited,
    /// Fields at fixed character positions.
    FixedWidth,
}

/// `[[input]]`: one extract file, or the rows of a query (`query` or `query_file`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// Path, relative to the config file (empty for a query).
    #[serde(default)]
    pub path: PathBuf,
    /// A query input's name, shown with its row numbers (default: the stem of `query_file`,
    /// else `query`).
    #[serde(default)]
    pub name: Option<String>,
    /// The SQL whose result rows are the input.
    #[serde(default)]
    pub query: Option<Spanned<String>>,
    /// A file holding the SQL, relative to the config file.
    #[serde(default)]
    pub query_file: Option<PathBuf>,
    /// Where the query runs (default: PostgreSQL, as the `PG*` environment variables say).
    #[serde(default)]
    pub database: Option<crate::database::settings::DatabaseConfig>,
    /// The column that identifies a person; rows of all inputs are joined on it.
    pub key: Spanned<String>,
    /// `delimited` (default) or `fixed_width`.
    #[serde(default)]
    pub format: InputFormat,
    /// The field separator of a delimited file: one byte, `\t` for tab. `,` by default.
    #[serde(default = "default_delimiter")]
    pub delimiter: Spanned<String>,
    /// The quote byte of a delimited file, `"` by default.
    #[serde(default = "default_quote")]
    pub quote: Spanned<String>,
    /// Whether the first line names the columns (default: true if delimited, false if fixed
    /// width, where a header line is skipped).
    #[serde(default)]
    pub header: Option<bool>,
    /// Column names of a delimited file without a header row.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Column positions of a fixed-width file.
    #[serde(default)]
    pub positions: Vec<FixedColumn>,
    /// Fallback encoding when the file is not UTF-8 (a WHATWG label, e.g. `windows-1252`).
    #[serde(default)]
    pub encoding: Option<Spanned<String>>,
    /// A supplement (for example a barcode file) only adds values to people who have a row
    /// in a main input; eligibility rules do not apply to its rows.
    #[serde(default)]
    pub supplement: bool,
    /// Whether a quoted field may hold line breaks (a record then runs over several lines).
    /// Off by default: a quote left open at the end of a line is an error of that line.
    #[serde(default)]
    pub multiline: bool,
}

impl InputConfig {
    /// Whether the input's rows come from a query.
    pub fn is_query(&self) -> bool {
        self.query.is_some() || self.query_file.is_some()
    }

    /// The input's name in provenance and messages: the path of a file; a query input's
    /// `name`, else the stem of its `query_file`, else `query`.
    pub fn name(&self) -> String {
        if !self.is_query() {
            return self.path.display().to_string();
        }
        if let Some(name) = &self.name {
            return name.clone();
        }
        self.query_file
            .as_ref()
            .and_then(|f| f.file_stem())
            .map_or_else(|| "query".to_owned(), |s| s.to_string_lossy().into_owned())
    }
}

fn default_delimiter() -> Spanned<String> {
    Spanned::new(0..0, ",".to_owned())
}

fn default_quote() -> Spanned<String> {
    Spanned::new(0..0, "\"".to_owned())
}

/// `positions = [{ column, start, width }]`: one field of a fixed-width file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedColumn {
    /// The column's name.
    pub column: String,
    /// 1-based position of its first character.
    pub start: usize,
    /// Its width in characters.
    pub width: usize,
}

/// A condition over one column; all the tests given must hold. A multi-valued column
/// (`STUDENT;EMPLOYEE`) is split on `separator` and each value trimmed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The column.
    pub column: Spanned<String>,
    /// Holds when any of the column's values is one of these.
    #[serde(default)]
    pub any_of: Vec<String>,
    /// Holds when the column has every one of these values.
    #[serde(default)]
    pub all_of: Vec<String>,
    /// Holds when none of the column's values is one of these.
    #[serde(default)]
    pub none_of: Vec<String>,
    /// Holds when any of the column's values matches this regular expression.
    #[serde(default)]
    pub matches: Option<Spanned<String>>,
    /// `true`: holds when the column is empty; `false`: when it is not.
    #[serde(default)]
    pub empty: Option<bool>,
    /// Separator of a multi-valued column (`;` by default).
    #[serde(default = "default_separator")]
    pub separator: String,
}

fn default_separator() -> String {
    ";".to_owned()
}

/// Whether a matching filter keeps or drops the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterAction {
    /// Keep the row; later rules are not consulted.
    Include,
    /// Drop the row.
    Exclude,
}

/// `[[filter]]`: a named eligibility rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterRule {
    /// The name shown by `explain` and the report.
    pub name: String,
    /// `include` or `exclude`.
    pub action: FilterAction,
    /// All conditions must hold on the row (an empty list always holds).
    #[serde(default)]
    pub when: Vec<Condition>,
}

/// `[[group]]`: a user-group rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRule {
    /// The Alma user-group code.
    pub group: String,
    /// Its description.
    #[serde(default)]
    pub desc: Option<String>,
    /// All conditions must hold on one of the person's rows (an empty list always holds).
    #[serde(default)]
    pub when: Vec<Condition>,
}

/// `[[combined_group]]`: the group for people who match all of `groups`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CombinedGroup {
    /// Group codes of `[[group]]` rules that must all match.
    pub groups: Vec<Spanned<String>>,
    /// The Alma user-group code given instead.
    pub group: String,
    /// Its description.
    #[serde(default)]
    pub desc: Option<String>,
}

/// `[merge]`: which of a person's rows wins when several have a value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeConfig {
    /// Ordered preferences: rows matching an earlier one win; remaining ties go to the
    /// earlier input, then the earlier line.
    #[serde(default)]
    pub prefer: Vec<PreferRule>,
}

/// `prefer = [{ name, when }]`: one precedence rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferRule {
    /// The name shown by `explain`.
    pub name: String,
    /// All conditions must hold on the row.
    pub when: Vec<Condition>,
}

/// Letter case applied to a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Case {
    /// `UPPER`.
    Upper,
    /// `lower`.
    Lower,
    /// `Title Case`.
    Title,
}

/// What to do with a value that a `map` or `lookup` does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unmapped {
    /// Keep the value as it is (default).
    #[default]
    Keep,
    /// Treat it as empty (then `default` applies).
    Empty,
    /// Reject the person.
    Reject,
}

/// How one field's value is made from columns, written either as a template string
/// (`"{first_name} {last_name}"`) or as a table with a `template` and these steps, applied in
/// order: template, `regex`, trim, `case`, `map`, `lookup`, `default`, `date_formats`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// `{column}` is replaced by the column's value, `{{` and `}}` are braces.
    #[serde(default)]
    pub template: String,
    /// Keeps the first capture group of the first match (the whole match without groups);
    /// no match gives an empty value.
    #[serde(default)]
    pub regex: Option<String>,
    /// Trim whitespace (default true).
    #[serde(default = "yes")]
    pub trim: bool,
    /// Letter case.
    #[serde(default)]
    pub case: Option<Case>,
    /// Value map: source value to Alma value.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// The name of a `[lookup.<name>]` table.
    #[serde(default)]
    pub lookup: Option<String>,
    /// What to do with values `map` or `lookup` does not know.
    #[serde(default)]
    pub unmapped: Unmapped,
    /// The value when the result is empty.
    #[serde(default)]
    pub default: Option<String>,
    /// chrono formats tried in order for date fields (default `%Y-%m-%d`).
    #[serde(default)]
    pub date_formats: Vec<String>,
}

fn yes() -> bool {
    true
}

/// A [`FieldRule`] with its place in the config.
#[derive(Debug, Clone)]
pub struct FieldSpec(pub Spanned<FieldRule>);

impl<'de> Deserialize<'de> for FieldSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Spanned::<TemplateOrRule>::deserialize(deserializer).map(|s| {
            let span = s.span();
            FieldSpec(Spanned::new(span, s.into_inner().0))
        })
    }
}

struct TemplateOrRule(FieldRule);

impl<'de> Deserialize<'de> for TemplateOrRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TemplateOrRule;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a template string or a table with `template` and rule keys")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TemplateOrRule(FieldRule {
                    template: v.to_owned(),
                    trim: true,
                    ..FieldRule::default()
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                FieldRule::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(TemplateOrRule)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// `[fields]`: single-valued user fields. Codes are Alma code-table values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldsConfig {
    /// The user's primary id (required).
    pub primary_id: FieldSpec,
    /// `first_name`.
    #[serde(default)]
    pub first_name: Option<FieldSpec>,
    /// `middle_name`.
    #[serde(default)]
    pub middle_name: Option<FieldSpec>,
    /// `last_name`.
    #[serde(default)]
    pub last_name: Option<FieldSpec>,
    /// `pref_first_name`.
    #[serde(default)]
    pub pref_first_name: Option<FieldSpec>,
    /// `pref_middle_name`.
    #[serde(default)]
    pub pref_middle_name: Option<FieldSpec>,
    /// `pref_last_name`.
    #[serde(default)]
    pub pref_last_name: Option<FieldSpec>,
    /// `user_title` code.
    #[serde(default)]
    pub user_title: Option<FieldSpec>,
    /// `job_category` code.
    #[serde(default)]
    pub job_category: Option<FieldSpec>,
    /// `job_description`.
    #[serde(default)]
    pub job_description: Option<FieldSpec>,
    /// `gender` code.
    #[serde(default)]
    pub gender: Option<FieldSpec>,
    /// `campus_code`.
    #[serde(default)]
    pub campus_code: Option<FieldSpec>,
    /// `preferred_language` code.
    #[serde(default)]
    pub preferred_language: Option<FieldSpec>,
    /// `birth_date`, parsed with `date_formats`.
    #[serde(default)]
    pub birth_date: Option<FieldSpec>,
    /// `external_id`: the SIS the user comes from.
    #[serde(default)]
    pub external_id: Option<FieldSpec>,
    /// `status`: `ACTIVE` (default) or `INACTIVE`.
    #[serde(default)]
    pub status: Option<FieldSpec>,
    /// `record_type`: `PUBLIC` (default), `STAFF` or `CONTACT`.
    #[serde(default)]
    pub record_type: Option<FieldSpec>,
    /// `account_type`: `EXTERNAL` (default; SIS loads only update external users).
    #[serde(default)]
    pub account_type: Option<FieldSpec>,
    /// `web_site_url`.
    #[serde(default)]
    pub web_site_url: Option<FieldSpec>,
}

/// `[[identifier]]`: one additional identifier, written when its value is not empty.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierConfig {
    /// The Alma id type code (`BARCODE`, `UNIV_ID`, ...).
    #[serde(rename = "type")]
    pub id_type: String,
    /// Its value.
    pub value: FieldSpec,
}

/// `[[email]]`: one email address, written when not empty. The first non-empty one in
/// config order is the preferred one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The Alma email type code (`school`, `personal`, `work`, ...).
    #[serde(rename = "type")]
    pub email_type: String,
    /// The address.
    pub address: FieldSpec,
}

/// `[[phone]]`: one phone number, written when not empty; the first non-empty is preferred.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneConfig {
    /// The Alma phone type code (`home`, `mobile`, `office`, ...).
    #[serde(rename = "type")]
    pub phone_type: String,
    /// The number.
    pub number: FieldSpec,
}

/// `[[address]]`: one postal address, written when `line1` is not empty; the first written
/// is preferred.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressConfig {
    /// The Alma address type code (`home`, `work`, `school`, ...).
    #[serde(rename = "type")]
    pub address_type: String,
    /// First line.
    pub line1: FieldSpec,
    /// Second line.
    #[serde(default)]
    pub line2: Option<FieldSpec>,
    /// Third line.
    #[serde(default)]
    pub line3: Option<FieldSpec>,
    /// City.
    #[serde(default)]
    pub city: Option<FieldSpec>,
    /// State or province.
    #[serde(default)]
    pub state_province: Option<FieldSpec>,
    /// Postal code.
    #[serde(default)]
    pub postal_code: Option<FieldSpec>,
    /// Country code (ISO 3166 alpha-3, as Alma's Country table).
    #[serde(default)]
    pub country: Option<FieldSpec>,
}

/// `[[note]]`: one user note, written when its text is not empty.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteConfig {
    /// The Alma note type code (`REGISTAR`, `OTHER`, ...).
    #[serde(rename = "type")]
    pub note_type: String,
    /// The note text.
    pub text: FieldSpec,
    /// Whether the patron sees it.
    #[serde(default)]
    pub user_viewable: bool,
}

/// `[[statistic]]`: one user statistic, written when its category is not empty.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatisticConfig {
    /// The statistical category code.
    pub category: FieldSpec,
    /// The category type code.
    #[serde(default, rename = "type")]
    pub category_type: Option<String>,
}

/// `[lookup.<name>]`: a code table, inline (`values`) or from a delimited file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupConfig {
    /// Inline entries: source code to Alma code.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// A delimited file with a header row, relative to the config file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The file's column holding source codes.
    #[serde(default)]
    pub from: Option<String>,
    /// The file's column holding Alma codes.
    #[serde(default)]
    pub to: Option<String>,
    /// The file's delimiter, `,` by default.
    #[serde(default = "default_delimiter")]
    pub delimiter: Spanned<String>,
}

/// `[term_calendar]`: term codes and the day each ends, inline (`ends`) or from a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermCalendarConfig {
    /// Inline entries: term code to end date (`YYYY-MM-DD`).
    #[serde(default)]
    pub ends: BTreeMap<String, String>,
    /// A delimited file with a header row, relative to the config file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The file's column of term codes (default `term`).
    #[serde(default = "default_term_column")]
    pub term_column: String,
    /// The file's column of end dates, `YYYY-MM-DD` (default `end`).
    #[serde(default = "default_end_column")]
    pub end_column: String,
    /// The file's delimiter, `,` by default.
    #[serde(default = "default_delimiter")]
    pub delimiter: Spanned<String>,
}

fn default_term_column() -> String {
    "term".to_owned()
}

fn default_end_column() -> String {
    "end".to_owned()
}

/// How a date is chosen. Durations are written like `1y`, `6m`, `30d`, `2w` or `1y6m`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "policy", rename_all = "snake_case", deny_unknown_fields)]
pub enum DatePolicy {
    /// A fixed date.
    Fixed {
        /// `YYYY-MM-DD`.
        date: String,
    },
    /// Today.
    Today,
    /// Today plus a duration.
    TodayPlus {
        /// The duration.
        duration: String,
    },
    /// A date column; an empty or unparsable value gives no date.
    Column {
        /// The column.
        column: String,
        /// chrono formats tried in order (default `%Y-%m-%d`).
        #[serde(default)]
        formats: Vec<String>,
        /// Added to the column's date (default none).
        #[serde(default)]
        grace: Option<String>,
    },
    /// The end of the person's term (looked up in `[term_calendar]`) plus a grace period.
    /// With a multi-valued term column the latest end wins.
    Term {
        /// The column holding term codes.
        column: String,
        /// Added to the term's end (default none).
        #[serde(default)]
        grace: Option<String>,
        /// Separator of a multi-valued term column (`;` by default).
        #[serde(default = "default_separator")]
        separator: String,
    },
}

/// `[expiry]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiryConfig {
    /// `[[expiry.rule]]`: ordered rules; the first that applies and gives a date wins.
    #[serde(default)]
    pub rule: Vec<ExpiryRule>,
    /// The policy when no rule gives a date.
    pub default: Spanned<DatePolicy>,
    /// `[[expiry.safe_zone]]`: dates that must not expire (e.g. faculty over summer).
    #[serde(default)]
    pub safe_zone: Vec<SafeZone>,
}

/// `[[expiry.rule]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiryRule {
    /// The name shown by `explain`.
    pub name: String,
    /// Applies only to these user groups (empty: all).
    #[serde(default)]
    pub groups: Vec<Spanned<String>>,
    /// Applies only when all conditions hold on one of the person's rows.
    #[serde(default)]
    pub when: Vec<Condition>,
    /// The policy.
    pub date: Spanned<DatePolicy>,
}

/// `[[expiry.safe_zone]]`: an expiry between `from` and `to` (month-day, inclusive) moves
/// to the next `move_to`. A status-driven `today` is never moved.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafeZone {
    /// The name shown by `explain`.
    pub name: String,
    /// Applies only to these user groups (empty: all).
    #[serde(default)]
    pub groups: Vec<Spanned<String>>,
    /// `MM-DD`.
    pub from: Spanned<String>,
    /// `MM-DD`.
    pub to: Spanned<String>,
    /// `MM-DD`: the first such day after `to`.
    pub move_to: Spanned<String>,
}

/// `[purge]`: purge date = expiry date + a duration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeConfig {
    /// The duration after expiry; no purge date when absent.
    #[serde(default)]
    pub after: Option<Spanned<String>>,
    /// `[[purge.rule]]`: per-group durations; the first whose groups include the user's wins.
    #[serde(default)]
    pub rule: Vec<PurgeRule>,
}

/// `[[purge.rule]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeRule {
    /// The user groups it applies to.
    pub groups: Vec<Spanned<String>>,
    /// The duration after expiry.
    pub after: Spanned<String>,
}

/// What a finding about a value does to its person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFinding {
    /// The person is rejected with the finding (`E-` code).
    #[default]
    Reject,
    /// The person is loaded as the extract has them; the finding (`W-` code) is reported.
    Warn,
}

/// `[identity]`: rows under one key that disagree on who they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Columns that must agree between a person's merged rows (where both have a value).
    /// Default: the columns `fields.birth_date` and `fields.last_name` read.
    #[serde(default)]
    pub columns: Option<Vec<Spanned<String>>>,
    /// `reject` (default): an identity conflict rejects the key; `merge`: the rows are
    /// merged as one person and the conflict is reported as a warning.
    #[serde(default)]
    pub conflict: Conflict,
}

/// What an identity conflict does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Conflict {
    /// Reject every row of the key (`E-MAP-IDENTITY`).
    #[default]
    Reject,
    /// Merge the rows anyway (`W-MAP-IDENTITY`).
    Merge,
}

/// `[text]`: values damaged upstream. Nothing here changes a value: a finding rejects the
/// person or is reported with the person loaded as the extract has them.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextConfig {
    /// UTF-8 text decoded twice upstream (`Ã¼` for `ü`, `â€™` for `’`).
    #[serde(default)]
    pub mojibake: OnFinding,
    /// C1 control characters (U+0080 to U+009F) in a value.
    #[serde(default)]
    pub c1_controls: OnFinding,
}

/// `[limits]`: what one input may hold; beyond a limit the run stops with `E-READ-LIMIT`
/// before anything is sent. The defaults are far above real extracts.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Bytes in one row (one line, or the lines of one record with quoted line breaks).
    #[serde(default = "default_line_bytes")]
    pub line_bytes: u64,
    /// Bytes in one field.
    #[serde(default = "default_field_bytes")]
    pub field_bytes: u64,
    /// Bytes in the header row.
    #[serde(default = "default_header_bytes")]
    pub header_bytes: u64,
    /// Bytes in one input file.
    #[serde(default = "default_input_bytes")]
    pub input_bytes: u64,
    /// Bytes in a lookup or term-calendar file (read whole).
    #[serde(default = "default_table_bytes")]
    pub table_bytes: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            line_bytes: default_line_bytes(),
            field_bytes: default_field_bytes(),
            header_bytes: default_header_bytes(),
            input_bytes: default_input_bytes(),
            table_bytes: default_table_bytes(),
        }
    }
}

impl LimitsConfig {
    fn validate(&self) -> Result<(), String> {
        for (key, value) in [
            ("line_bytes", self.line_bytes),
            ("field_bytes", self.field_bytes),
            ("header_bytes", self.header_bytes),
            ("input_bytes", self.input_bytes),
            ("table_bytes", self.table_bytes),
        ] {
            if value == 0 {
                return Err(format!("limits.{key} must be more than 0"));
            }
        }
        if self.line_bytes > MAX_LINE_BYTES {
            return Err(format!(
                "limits.line_bytes may be at most {MAX_LINE_BYTES} (1 GiB), not {}",
                self.line_bytes
            ));
        }
        Ok(())
    }
}

/// The highest `limits.line_bytes` (a row is held in memory whole).
const MAX_LINE_BYTES: u64 = 1 << 30;

fn default_line_bytes() -> u64 {
    8 << 20
}

fn default_field_bytes() -> u64 {
    1 << 20
}

fn default_header_bytes() -> u64 {
    1 << 20
}

fn default_input_bytes() -> u64 {
    64 << 30
}

fn default_table_bytes() -> u64 {
    64 << 20
}
