//! The mapper: one person's rows to an Alma user (eligibility, merging, groups, dates,
//! contacts), with a trace of every decision.

use std::borrow::Cow;
use std::fmt;

use alma_user_model::{
    AccountType, Address, CodeValue, Email, Phone, RecordType, User, UserIdentifier, UserNote,
    UserStatistic, UserStatus,
};
use chrono::{Datelike, NaiveDate};

use super::{Decision, Extractor, MappedUser, RowRef, RowWarning, Topic, TraceStep};
use crate::compile::{
    ACCOUNT_TYPE, BIRTH_DATE, CAMPUS_CODE, EXTERNAL_ID, FIRST_NAME, GENDER, JOB_CATEGORY,
    JOB_DESCRIPTION, LAST_NAME, MIDDLE_NAME, PREF_FIRST_NAME, PREF_LAST_NAME, PREF_MIDDLE_NAME,
    PREFERRED_LANGUAGE, PRIMARY_ID, Policy, RECORD_TYPE, STATUS, USER_TITLE, WEB_SITE_URL,
};
use crate::config::{Conflict, FilterAction, OnFinding};
use crate::read::Fields;
use crate::rules::{Col, Columns, Cond, Field, MonthDay, describe, one_char, parse_date, parts};

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
    /// A value that is not a date in any of the formats: (column, formats, the row it came
    /// from). Unlike an empty column, it rejects the person.
    ColumnNotADate(&'a str, &'a [String], &'a RowRef),
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
            Why::ColumnNotADate(column, formats, at) => write!(
                f,
                "column {column} ({at}) is not a date in {} (the formats tried, in order)",
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

impl Extractor<'_> {
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

    pub(super) fn map(
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

    /// ` (column x)` (or `(columns x, y)`) for a field of [`FIELD_NAMES`](crate::compile::FIELD_NAMES), for messages.
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

    fn build(&self, p: &Person<'_>, t: &mut Tracer, errors: &mut Vec<String>) -> Option<Box<User>> {
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
        // Boxed before it is filled: a `User` is some 850 bytes, and a person was moved about
        // eight times between here and the pass (3 % of a full run's CPU in copies).
        let mut user = Box::new(User::new(primary_id));
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
                    "E-MAP-CODE: record_type{} is not {}",
                    self.made_of(RECORD_TYPE),
                    one_of(&RecordType::ALL, RecordType::code)
                )),
            }
        } else {
            user.record_type = Some(RecordType::Public);
        }
        if let Some(v) = self.field_ref(ACCOUNT_TYPE, p, errors) {
            match AccountType::from_code(&v) {
                Some(a) => user.account_type = Some(a),
                None => errors.push(format!(
                    "E-MAP-CODE: account_type{} is not {}",
                    self.made_of(ACCOUNT_TYPE),
                    one_of(&AccountType::ALL, AccountType::code)
                )),
            }
        }
        if let Some(v) = self.field_ref(STATUS, p, errors) {
            match UserStatus::from_code(&v) {
                Some(s) => user.status = Some(s),
                None => errors.push(format!(
                    "E-MAP-CODE: status{} is not {}",
                    self.made_of(STATUS),
                    one_of(&UserStatus::ALL, UserStatus::code)
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
                // A garbled date is not a missing one: passing to the next rule (or the
                // default's rolling year) would extend the person's access.
                Err(why @ Why::ColumnNotADate(..)) => {
                    t.add(Topic::Expiry, || {
                        format!("rule {:?} applies: {why}: rejected", rule.name)
                    });
                    errors.push(format!("E-MAP-DATE: expiry rule {:?}: {why}", rule.name));
                    return;
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
                Err(why @ Why::ColumnNotADate(..)) => {
                    t.add(Topic::Expiry, || format!("default policy: {why}: rejected"));
                    errors.push(format!("E-MAP-DATE: the default expiry policy: {why}"));
                    return;
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
                let Some((v, at)) = p.value_at(*col) else {
                    return Err(Why::ColumnEmpty(column));
                };
                let date =
                    parse_date(v, formats).ok_or(Why::ColumnNotADate(column, formats, at))?;
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

/// `A, B or C`: the codes of one of Alma's code tables, for messages.
fn one_of<T: Copy>(table: &[T], code: fn(T) -> &'static str) -> String {
    let codes: Vec<&str> = table.iter().map(|&t| code(t)).collect();
    match codes.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
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

pub(super) struct Row {
    pub(super) source: usize,
    pub(super) at: RowRef,
    pub(super) fields: Fields,
    pub(super) decision: Option<Decision>,
    pub(super) decoded_as: Option<&'static str>,
}

/// A person's live rows in order of precedence.
pub(super) struct Person<'a> {
    pub(super) extractor: &'a Extractor<'a>,
    pub(super) rows: &'a [Row],
}

impl<'a> Person<'a> {
    /// The column's value (from the first row that has one), and that row; `None` when
    /// every row's value is empty. [`Columns::value`] is its value.
    fn value_at(&self, col: Col) -> Option<(&'a str, &'a RowRef)> {
        self.rows.iter().find_map(|r| {
            let v = self.extractor.row_value(r, col);
            (!v.is_empty()).then_some((v, &r.at))
        })
    }
}

impl Columns for Person<'_> {
    fn value(&self, col: Col) -> &str {
        self.value_at(col).map_or("", |(value, _)| value)
    }
}

pub(super) struct Tracer {
    pub(super) on: bool,
    pub(super) steps: Vec<TraceStep>,
}

impl Tracer {
    pub(super) fn add(&mut self, topic: Topic, text: impl FnOnce() -> String) {
        if self.on {
            self.steps.push(TraceStep {
                topic,
                text: text(),
            });
        }
    }
}
