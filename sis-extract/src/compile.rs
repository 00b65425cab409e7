//! The mapping config compiled against the inputs' columns ([`Compiled`]): the rules of
//! `rules.rs` put together and checked once, before any person is mapped.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;

use crate::ExtractError;
use crate::config::{DatePolicy, FilterAction, MappingConfig};
use crate::read::{Source, one_byte, read_table};
use crate::rules::{Checker, Col, Cond, Duration, Field, MonthDay, conds};

pub(crate) enum Policy {
    Fixed(NaiveDate),
    Today,
    TodayPlus(Duration, String),
    Column(String, Col, Vec<String>, Option<(Duration, String)>),
    Term(String, Col, Option<(Duration, String)>, String),
}

pub(crate) struct ExpiryRuleC {
    pub(crate) name: String,
    pub(crate) groups: Vec<String>,
    pub(crate) when: Vec<Cond>,
    pub(crate) policy: Policy,
}

pub(crate) struct SafeZoneC {
    pub(crate) name: String,
    pub(crate) groups: Vec<String>,
    pub(crate) from: MonthDay,
    pub(crate) to: MonthDay,
    pub(crate) move_to: MonthDay,
}

pub(crate) struct AddressC {
    pub(crate) kind: String,
    pub(crate) line1: Field,
    pub(crate) rest: Vec<(&'static str, Field)>,
}

/// The single-valued fields of `[fields]`, in the order traces list them; a field is named
/// by its position here.
pub(crate) const FIELD_NAMES: [&str; 19] = [
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
pub(crate) const PRIMARY_ID: usize = 0;
pub(crate) const FIRST_NAME: usize = 1;
pub(crate) const MIDDLE_NAME: usize = 2;
pub(crate) const LAST_NAME: usize = 3;
pub(crate) const PREF_FIRST_NAME: usize = 4;
pub(crate) const PREF_MIDDLE_NAME: usize = 5;
pub(crate) const PREF_LAST_NAME: usize = 6;
pub(crate) const USER_TITLE: usize = 7;
pub(crate) const JOB_CATEGORY: usize = 8;
pub(crate) const JOB_DESCRIPTION: usize = 9;
pub(crate) const GENDER: usize = 10;
pub(crate) const CAMPUS_CODE: usize = 11;
pub(crate) const PREFERRED_LANGUAGE: usize = 12;
pub(crate) const BIRTH_DATE: usize = 13;
pub(crate) const EXTERNAL_ID: usize = 14;
pub(crate) const STATUS: usize = 15;
pub(crate) const RECORD_TYPE: usize = 16;
pub(crate) const ACCOUNT_TYPE: usize = 17;
pub(crate) const WEB_SITE_URL: usize = 18;

pub(crate) struct Compiled {
    pub(crate) filters: Vec<(String, FilterAction, Vec<Cond>)>,
    pub(crate) groups: Vec<(String, Option<String>, Vec<Cond>)>,
    pub(crate) combined: Vec<(Vec<String>, String, Option<String>)>,
    pub(crate) prefer: Vec<(String, Vec<Cond>)>,
    pub(crate) fields: Vec<(&'static str, Field)>,
    /// Position in [`FIELD_NAMES`] -> position in `fields`, or `usize::MAX` when not set.
    pub(crate) field_at: [usize; FIELD_NAMES.len()],
    pub(crate) identifiers: Vec<(String, Field)>,
    pub(crate) emails: Vec<(String, Field)>,
    pub(crate) phones: Vec<(String, Field)>,
    pub(crate) addresses: Vec<AddressC>,
    pub(crate) notes: Vec<(String, Field, bool)>,
    pub(crate) statistics: Vec<(Field, Option<String>)>,
    pub(crate) terms: HashMap<String, NaiveDate>,
    pub(crate) expiry_rules: Vec<ExpiryRuleC>,
    pub(crate) expiry_default: Policy,
    pub(crate) safe_zones: Vec<SafeZoneC>,
    pub(crate) purge_default: Option<(Duration, String)>,
    pub(crate) purge_rules: Vec<(Vec<String>, Duration, String)>,
    /// Columns that must agree between a person's merged rows, with the date formats of a
    /// column `birth_date` reads alone (its values are compared as dates).
    pub(crate) identity: Vec<(String, Col, Option<Vec<String>>)>,
    /// Every column a field rule reads, once, in column order, with the fields that read it
    /// (`last_name, address home line1`): checked for damaged text.
    pub(crate) used: Vec<(String, Col, String)>,
}

impl Compiled {
    /// Every field rule with a label, for traces.
    pub(crate) fn every_field(&self) -> Vec<(String, &Field)> {
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

pub(crate) fn compile(
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
