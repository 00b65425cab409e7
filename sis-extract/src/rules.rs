//! The config compiled against the extract's columns: conditions, field templates,
//! durations and dates, each checked once before any row is mapped.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{Datelike, Days, Months, NaiveDate};
use regex::Regex;
use toml::Spanned;

use crate::ExtractError;
use crate::config::{Case, Condition, ConfigSource, FieldRule, FieldSpec, Unmapped};

/// A column, by its number among the columns of every input (see `Checker::columns`).
pub(crate) type Col = usize;

/// Turns config positions into errors; knows every column of every input.
pub(crate) struct Checker<'a> {
    pub source: &'a ConfigSource,
    /// (file, its columns), in config order.
    pub files: Vec<crate::InputColumns>,
    /// Every input's columns, each once, in config order: a [`Col`] is a position here.
    pub columns: &'a [String],
    pub lookups: &'a HashMap<String, Arc<HashMap<String, String>>>,
}

impl Checker<'_> {
    pub fn error(&self, span: &std::ops::Range<usize>, message: impl Into<String>) -> ExtractError {
        ExtractError::Config {
            at: self.source.locate(span),
            message: message.into(),
        }
    }

    /// The column's number, or the error of a column no input has.
    pub fn column(&self, span: &std::ops::Range<usize>, column: &str) -> Result<Col, ExtractError> {
        if let Some(col) = self.columns.iter().position(|c| c == column) {
            return Ok(col);
        }
        Err(ExtractError::UnknownColumn {
            at: self.source.locate(span),
            column: column.to_owned(),
            files: self.files.clone(),
        })
    }

    pub fn regex(
        &self,
        span: &std::ops::Range<usize>,
        pattern: &str,
    ) -> Result<Regex, ExtractError> {
        Regex::new(pattern).map_err(|e| self.error(span, format!("invalid regex: {e}")))
    }
}

/// A compiled [`Condition`].
#[derive(Debug)]
pub(crate) struct Cond {
    pub column: String,
    pub col: Col,
    any_of: Vec<String>,
    all_of: Vec<String>,
    none_of: Vec<String>,
    matches: Option<Regex>,
    empty: Option<bool>,
    separator: String,
    /// The separator, when it is one character.
    separator_char: Option<char>,
}

/// The trimmed, non-empty parts of a value split by a separator (`separator_char` when it
/// is one character: a quicker search).
pub(crate) fn parts<'v>(
    value: &'v str,
    separator: &'v str,
    separator_char: Option<char>,
) -> Parts<'v> {
    match separator_char {
        Some(c) if !value.contains(c) => Parts::One(Some(value)),
        Some(c) => Parts::Char(value.split(c)),
        None => Parts::Str(value.split(separator)),
    }
}

/// The one character of `separator`, if it has only one.
pub(crate) fn one_char(separator: &str) -> Option<char> {
    let mut chars = separator.chars();
    chars.next().filter(|_| chars.next().is_none())
}

/// See [`parts`].
#[derive(Clone)]
pub(crate) enum Parts<'v> {
    One(Option<&'v str>),
    Char(std::str::Split<'v, char>),
    Str(std::str::Split<'v, &'v str>),
}

impl<'v> Iterator for Parts<'v> {
    type Item = &'v str;

    fn next(&mut self) -> Option<&'v str> {
        loop {
            let part = match self {
                Parts::One(value) => value.take()?,
                Parts::Char(split) => split.next()?,
                Parts::Str(split) => split.next()?,
            };
            let part = crate::read::trim(part);
            if !part.is_empty() {
                return Some(part);
            }
        }
    }
}

impl Cond {
    pub fn compile(c: &Condition, check: &Checker<'_>) -> Result<Cond, ExtractError> {
        let span = c.column.span();
        let col = check.column(&span, c.column.get_ref())?;
        if c.any_of.is_empty()
            && c.all_of.is_empty()
            && c.none_of.is_empty()
            && c.matches.is_none()
            && c.empty.is_none()
        {
            return Err(check.error(
                &span,
                "a condition needs a test: any_of, all_of, none_of, matches or empty",
            ));
        }
        if c.separator.is_empty() {
            return Err(check.error(&span, "separator must not be empty"));
        }
        let matches = match &c.matches {
            Some(m) => Some(check.regex(&m.span(), m.get_ref())?),
            None => None,
        };
        Ok(Cond {
            column: c.column.get_ref().clone(),
            col,
            any_of: c.any_of.clone(),
            all_of: c.all_of.clone(),
            none_of: c.none_of.clone(),
            matches,
            empty: c.empty,
            separator: c.separator.clone(),
            separator_char: one_char(&c.separator),
        })
    }

    /// Whether the condition holds for a column value (empty when the row lacks the column).
    pub fn holds(&self, value: &str) -> bool {
        let values = || parts(value, &self.separator, self.separator_char);
        let has = |wanted: &String| values().any(|v| v == wanted);
        (self.any_of.is_empty() || self.any_of.iter().any(has))
            && self.all_of.iter().all(has)
            && !self.none_of.iter().any(has)
            && self
                .matches
                .as_ref()
                .is_none_or(|re| values().any(|v| re.is_match(v)))
            && self.empty.is_none_or(|e| e == values().next().is_none())
    }

    /// The condition in words, for traces.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.any_of.is_empty() {
            parts.push(format!("any of [{}]", self.any_of.join(", ")));
        }
        if !self.all_of.is_empty() {
            parts.push(format!("all of [{}]", self.all_of.join(", ")));
        }
        if !self.none_of.is_empty() {
            parts.push(format!("none of [{}]", self.none_of.join(", ")));
        }
        if let Some(re) = &self.matches {
            parts.push(format!("matches /{}/", re.as_str()));
        }
        match self.empty {
            Some(true) => parts.push("is empty".to_owned()),
            Some(false) => parts.push("is not empty".to_owned()),
            None => {}
        }
        format!("{} {}", self.column, parts.join(" and "))
    }
}

/// Compiles a list of conditions.
pub(crate) fn conds(list: &[Condition], check: &Checker<'_>) -> Result<Vec<Cond>, ExtractError> {
    list.iter().map(|c| Cond::compile(c, check)).collect()
}

/// The conditions in words.
pub(crate) fn describe(list: &[Cond]) -> String {
    if list.is_empty() {
        return "always".to_owned();
    }
    list.iter()
        .map(Cond::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Debug)]
enum Piece {
    Text(String),
    Column(String, Col),
}

/// Something that knows a person's column values.
pub(crate) trait Columns {
    /// The value of column `col`, or "" when no row has it.
    fn value(&self, col: Col) -> &str;
}

/// A compiled [`FieldRule`].
#[derive(Debug)]
pub(crate) struct Field {
    pieces: Vec<Piece>,
    regex: Option<Regex>,
    trim: bool,
    case: Option<Case>,
    map: BTreeMap<String, String>,
    lookup: Option<(String, Arc<HashMap<String, String>>)>,
    unmapped: Unmapped,
    default: Option<String>,
    pub date_formats: Vec<String>,
}

impl Field {
    pub fn compile(spec: &FieldSpec, check: &Checker<'_>) -> Result<Field, ExtractError> {
        let span = spec.0.span();
        let rule: &FieldRule = spec.0.get_ref();
        let mut pieces = parse_template(&rule.template).map_err(|m| check.error(&span, m))?;
        for piece in &mut pieces {
            if let Piece::Column(c, col) = piece {
                *col = check.column(&span, c)?;
            }
        }
        let regex = match &rule.regex {
            Some(r) => Some(check.regex(&span, r)?),
            None => None,
        };
        let lookup = match &rule.lookup {
            Some(name) => Some((
                name.clone(),
                check.lookups.get(name).cloned().ok_or_else(|| {
                    check.error(
                        &span,
                        format!("no [lookup.{name}] table; define it or remove `lookup`"),
                    )
                })?,
            )),
            None => None,
        };
        Ok(Field {
            pieces,
            regex,
            trim: rule.trim,
            case: rule.case,
            map: rule.map.clone(),
            lookup,
            unmapped: rule.unmapped,
            default: rule.default.clone(),
            date_formats: if rule.date_formats.is_empty() {
                vec!["%Y-%m-%d".to_owned()]
            } else {
                rule.date_formats.clone()
            },
        })
    }

    /// ` of column x` (or `of columns x, y`) for messages: what the value was made from.
    fn source_columns(&self) -> String {
        let names: Vec<&str> = self.columns().map(|(c, _)| c).collect();
        match names.as_slice() {
            [] => String::new(),
            [one] => format!(" of column {one}"),
            many => format!(" of columns {}", many.join(", ")),
        }
    }

    /// The columns the template reads.
    pub fn columns(&self) -> impl Iterator<Item = (&str, Col)> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Column(c, col) => Some((c.as_str(), *col)),
            Piece::Text(_) => None,
        })
    }

    /// The field's value; `Err` names a value no map or lookup knows (with `unmapped = "reject"`).
    /// Borrowed from the row or the config whenever no step changes it.
    pub fn value<'a>(&'a self, person: &'a impl Columns) -> Result<Cow<'a, str>, String> {
        let mut v = match self.pieces.as_slice() {
            [Piece::Column(_, col)] => Cow::Borrowed(person.value(*col)),
            [Piece::Text(t)] => Cow::Borrowed(t.as_str()),
            pieces => {
                let mut v = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(t) => v.push_str(t),
                        Piece::Column(_, col) => v.push_str(person.value(*col)),
                    }
                }
                Cow::Owned(v)
            }
        };
        if let Some(re) = &self.regex {
            let found = re
                .captures(&v)
                .and_then(|c| c.get(1).or_else(|| c.get(0)))
                .map(|m| m.range());
            v = match found {
                Some(range) => part(v, range),
                None => Cow::Borrowed(""),
            };
        }
        if self.trim {
            let trimmed = crate::read::trim(&v);
            if trimmed.len() != v.len() {
                let start = trimmed.as_ptr() as usize - v.as_ptr() as usize;
                let range = start..start + trimmed.len();
                v = part(v, range);
            }
        }
        v = match self.case {
            // ASCII is changed as `to_uppercase` would change it, and only when it must be.
            Some(Case::Upper) if v.is_ascii() => {
                if v.bytes().any(|b| b.is_ascii_lowercase()) {
                    v.to_mut().make_ascii_uppercase();
                }
                v
            }
            Some(Case::Lower) if v.is_ascii() => {
                if v.bytes().any(|b| b.is_ascii_uppercase()) {
                    v.to_mut().make_ascii_lowercase();
                }
                v
            }
            Some(Case::Upper) => Cow::Owned(v.to_uppercase()),
            Some(Case::Lower) => Cow::Owned(v.to_lowercase()),
            Some(Case::Title) => Cow::Owned(title_case(&v)),
            None => v,
        };
        if !v.is_empty() && !self.map.is_empty() {
            let found = self.map.get(v.as_ref()).map(String::as_str);
            v = self.mapped(found, v, || "map".to_owned())?;
        }
        if !v.is_empty()
            && let Some((name, table)) = &self.lookup
        {
            let found = table.get(v.as_ref()).map(String::as_str);
            v = self.mapped(found, v, || format!("lookup {name}"))?;
        }
        if v.is_empty()
            && let Some(d) = &self.default
        {
            v = Cow::Borrowed(d.as_str());
        }
        Ok(v)
    }

    fn mapped<'a>(
        &self,
        found: Option<&'a str>,
        v: Cow<'a, str>,
        what: impl FnOnce() -> String,
    ) -> Result<Cow<'a, str>, String> {
        match (found, self.unmapped) {
            (Some(m), _) => Ok(Cow::Borrowed(m)),
            (None, Unmapped::Keep) => Ok(v),
            (None, Unmapped::Empty) => Ok(Cow::Borrowed("")),
            (None, Unmapped::Reject) => Err(format!(
                "the value{} is not in the {} (unmapped = \"reject\")",
                self.source_columns(),
                what()
            )),
        }
    }

    /// Parses a date with the field's formats.
    pub fn date(&self, value: &str) -> Option<NaiveDate> {
        parse_date(value, &self.date_formats)
    }
}

/// The bytes `range` of a value (at character boundaries).
fn part(v: Cow<'_, str>, range: std::ops::Range<usize>) -> Cow<'_, str> {
    if range == (0..v.len()) {
        return v;
    }
    match v {
        Cow::Borrowed(s) => Cow::Borrowed(&s[range]),
        Cow::Owned(s) => Cow::Owned(s[range].to_owned()),
    }
}

fn title_case(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut start = true;
    for ch in v.chars() {
        if start {
            out.extend(ch.to_uppercase());
        } else {
            out.extend(ch.to_lowercase());
        }
        start = !ch.is_alphanumeric() && ch != '\'';
    }
    out
}

fn parse_template(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut column = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => column.push(c),
                        None => {
                            return Err(format!(
                                "template {template:?}: `{{` without `}}` (write `{{{{` for a brace)"
                            ));
                        }
                    }
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                // The column's number is set when the template is checked.
                pieces.push(Piece::Column(column.trim().to_owned(), 0));
            }
            '}' => {
                return Err(format!(
                    "template {template:?}: `}}` without `{{` (write `}}}}` for a brace)"
                ));
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Parses a date with the first format that fits.
pub(crate) fn parse_date(value: &str, formats: &[String]) -> Option<NaiveDate> {
    let value = value.trim();
    formats.iter().find_map(|f| {
        // chrono parses its pattern on every call; the usual ISO date is read directly. A value
        // this does not read still goes to chrono, so what is accepted does not change.
        if f == "%Y-%m-%d"
            && let Some(date) = alma_user_model::parse_iso_date(value)
        {
            return Some(date);
        }
        NaiveDate::parse_from_str(value, f).ok()
    })
}

/// A duration such as `1y6m` or `30d`: months and days, added in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Duration {
    months: u32,
    days: u64,
}

impl Duration {
    pub fn parse(text: &str) -> Option<Duration> {
        let mut d = Duration { months: 0, days: 0 };
        let mut number = String::new();
        let mut any = false;
        for ch in text.trim().chars() {
            if ch.is_ascii_digit() {
                number.push(ch);
                continue;
            }
            let n: u32 = number.parse().ok()?;
            number.clear();
            match ch {
                'y' => d.months = d.months.checked_add(n.checked_mul(12)?)?,
                'm' => d.months = d.months.checked_add(n)?,
                'w' => d.days = d.days.checked_add(u64::from(n) * 7)?,
                'd' => d.days = d.days.checked_add(u64::from(n))?,
                _ => return None,
            }
            any = true;
        }
        (any && number.is_empty()).then_some(d)
    }

    pub fn compile(text: &Spanned<String>, check: &Checker<'_>) -> Result<Duration, ExtractError> {
        Duration::parse(text.get_ref()).ok_or_else(|| {
            check.error(
                &text.span(),
                format!(
                    "{:?} is not a duration; write e.g. 1y, 6m, 2w, 30d or 1y6m",
                    text.get_ref()
                ),
            )
        })
    }

    pub fn after(self, date: NaiveDate) -> Option<NaiveDate> {
        date.checked_add_months(Months::new(self.months))?
            .checked_add_days(Days::new(self.days))
    }

    /// Whether it is whole days (the same span from any date).
    pub fn is_days_only(self) -> bool {
        self.months == 0
    }
}

/// A day of the year, `MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct MonthDay(pub u32, pub u32);

impl MonthDay {
    pub fn compile(text: &Spanned<String>, check: &Checker<'_>) -> Result<MonthDay, ExtractError> {
        let parsed = text.get_ref().split_once('-').and_then(|(m, d)| {
            let md = MonthDay(m.parse().ok()?, d.parse().ok()?);
            // 2024 is a leap year, so 02-29 is a valid day of the year.
            NaiveDate::from_ymd_opt(2024, md.0, md.1).map(|_| md)
        });
        parsed.ok_or_else(|| {
            check.error(
                &text.span(),
                format!("{:?} is not a month-day such as 05-15", text.get_ref()),
            )
        })
    }

    pub fn of(date: NaiveDate) -> MonthDay {
        MonthDay(date.month(), date.day())
    }

    /// This day in `year`, or the day before it (Feb 28) when `year` has no Feb 29.
    pub fn in_year(self, year: i32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(year, self.0, self.1)
            .or_else(|| NaiveDate::from_ymd_opt(year, self.0, self.1.saturating_sub(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_iso_fast_path_accepts_what_chrono_accepts() {
        let iso = ["%Y-%m-%d".to_owned()];
        for value in [
            "2026-11-23",
            " 1999-01-05 ",
            "2026-02-30",
            "2026-1-5",
            "+2026-01-05",
            "20261123",
            "2026-11-2x",
            "",
        ] {
            let chrono = NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").ok();
            assert_eq!(parse_date(value, &iso), chrono, "{value:?}");
        }
    }
}
