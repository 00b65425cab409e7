//! From rows to users: eligibility, grouping, merging and field mapping.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use alma_user_model::{Address, CodeValue, Email, Phone, User, UserIdentifier};
use chrono::{Days, NaiveDate};
use serde::Serialize;

use crate::ExtractError;
use crate::config::{Condition, FilterAction, MappingConfig};
use crate::read::decode_file;

/// Where a row came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowRef {
    /// The file, as named in the config.
    pub file: String,
    /// 1-based line of the row in that file.
    pub line: u64,
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

/// A user built from one or more rows, with the reasons for its values.
#[derive(Debug, Clone)]
pub struct MappedUser {
    /// The user.
    pub user: User,
    /// The rows merged into it.
    pub rows: Vec<RowRef>,
    /// Why each rule-driven value was chosen, in order.
    pub trace: Vec<String>,
}

/// The result of mapping a whole extract.
#[derive(Debug, Default)]
pub struct Extraction {
    /// Users to write, in order of first appearance.
    pub users: Vec<MappedUser>,
    /// Every row's outcome, in input order.
    pub rows: Vec<RowOutcome>,
    /// Warnings (for example a fallback encoding used).
    pub warnings: Vec<String>,
}

struct Row {
    file: usize,
    line: u64,
    values: Vec<String>,
}

struct Table {
    name: String,
    path: PathBuf,
    headers: Vec<String>,
    index: HashMap<String, usize>,
}

impl Table {
    fn get<'r>(&self, row: &'r Row, column: &str) -> Option<&'r str> {
        self.index
            .get(column)
            .and_then(|&i| row.values.get(i))
            .map(String::as_str)
    }
}

/// Reads the configured inputs (paths relative to `base_dir`) and maps them to users.
pub fn extract(
    config: &MappingConfig,
    base_dir: &Path,
    today: NaiveDate,
) -> Result<Extraction, ExtractError> {
    let mut out = Extraction::default();
    let mut tables = Vec::new();
    let mut rows = Vec::new();
    for (file_index, input) in config.inputs.iter().enumerate() {
        let path = base_dir.join(&input.path);
        let decoded = decode_file(&path, input.encoding.as_deref())?;
        out.warnings.extend(decoded.warning);
        let delimiter = match input.delimiter.as_bytes() {
            [b] => *b,
            b"\\t" => b'\t',
            _ => {
                return Err(ExtractError::Config(format!(
                    "input {}: delimiter must be one byte, got {:?}",
                    input.path.display(),
                    input.delimiter
                )));
            }
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(decoded.text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|source| ExtractError::Csv {
                path: path.clone(),
                source,
            })?
            .iter()
            .map(|h| h.trim().to_owned())
            .collect();
        let index = headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.clone(), i))
            .collect();
        let table = Table {
            name: input.path.display().to_string(),
            path: path.clone(),
            headers,
            index,
        };
        check_columns(config, &table, &input.key)?;
        for record in reader.records() {
            let record = record.map_err(|source| ExtractError::Csv {
                path: path.clone(),
                source,
            })?;
            let line = record.position().map_or(0, |p| p.line());
            rows.push(Row {
                file: file_index,
                line,
                values: record.iter().map(|v| v.trim().to_owned()).collect(),
            });
        }
        tables.push(table);
    }

    // Group rows by person key, keeping the order of first appearance.
    let mut order: Vec<String> = Vec::new();
    let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
    let mut outcomes: Vec<Option<RowOutcome>> = (0..rows.len()).map(|_| None).collect();
    for (i, row) in rows.iter().enumerate() {
        let table = &tables[row.file];
        let key_column = &config.inputs[row.file].key;
        let key = table.get(row, key_column).unwrap_or("").to_owned();
        let row_ref = RowRef {
            file: table.name.clone(),
            line: row.line,
        };
        if key.is_empty() {
            outcomes[i] = Some(RowOutcome {
                row: row_ref,
                key,
                decision: Decision::Rejected {
                    errors: vec![format!("the key column {key_column:?} is empty")],
                },
            });
            continue;
        }
        if let Some(rule) = filtered_by(config, table, row) {
            outcomes[i] = Some(RowOutcome {
                row: row_ref,
                key,
                decision: Decision::Filtered { rule },
            });
            continue;
        }
        if !by_key.contains_key(&key) {
            order.push(key.clone());
        }
        by_key.entry(key).or_default().push(i);
    }

    for key in order {
        let members = &by_key[&key];
        let (user, trace) = map_person(config, &tables, &rows, members, today);
        let row_refs: Vec<RowRef> = members
            .iter()
            .map(|&i| RowRef {
                file: tables[rows[i].file].name.clone(),
                line: rows[i].line,
            })
            .collect();
        for (&i, row_ref) in members.iter().zip(&row_refs) {
            outcomes[i] = Some(RowOutcome {
                row: row_ref.clone(),
                key: key.clone(),
                decision: Decision::Written {
                    primary_id: user.primary_id.clone(),
                },
            });
        }
        out.users.push(MappedUser {
            user,
            rows: row_refs,
            trace,
        });
    }
    out.rows = outcomes.into_iter().flatten().collect();
    Ok(out)
}

fn check_columns(config: &MappingConfig, table: &Table, key: &str) -> Result<(), ExtractError> {
    let unknown = |context: String, column: &str| ExtractError::UnknownColumn {
        context,
        column: column.to_owned(),
        path: table.path.clone(),
        available: table.headers.join(", "),
    };
    if !table.index.contains_key(key) {
        return Err(unknown(format!("input {}: key", table.name), key));
    }
    let conditions = config
        .filters
        .iter()
        .flat_map(|f| {
            f.when
                .iter()
                .map(move |c| (format!("filter {:?}", f.name), c))
        })
        .chain(config.groups.iter().flat_map(|g| {
            g.when
                .iter()
                .map(move |c| (format!("group {:?}", g.group), c))
        }));
    for (context, condition) in conditions {
        if !table.index.contains_key(&condition.column) {
            return Err(unknown(context, &condition.column));
        }
    }
    for (field, template) in &config.fields {
        for column in template_columns(template) {
            if !table.index.contains_key(column) {
                return Err(unknown(format!("fields.{field}"), column));
            }
        }
    }
    Ok(())
}

fn template_columns(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(column, _)| column))
}

fn matches(condition: &Condition, table: &Table, row: &Row) -> bool {
    let value = table.get(row, &condition.column).unwrap_or("");
    value
        .split(condition.separator.as_str())
        .map(str::trim)
        .any(|v| condition.any_of.iter().any(|a| a == v))
}

fn filtered_by(config: &MappingConfig, table: &Table, row: &Row) -> Option<String> {
    for rule in &config.filters {
        if rule.when.iter().all(|c| matches(c, table, row)) {
            return match rule.action {
                FilterAction::Include => None,
                FilterAction::Exclude => Some(rule.name.clone()),
            };
        }
    }
    None
}

fn render(template: &str, table: &Table, row: &Row) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        match rest[start + 1..].find('}') {
            Some(end) => {
                let column = &rest[start + 1..start + 1 + end];
                out.push_str(table.get(row, column).unwrap_or(""));
                rest = &rest[start + 2 + end..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.trim().to_owned()
}

fn map_person(
    config: &MappingConfig,
    tables: &[Table],
    rows: &[Row],
    members: &[usize],
    today: NaiveDate,
) -> (User, Vec<String>) {
    let mut trace = Vec::new();
    // The first non-empty value of a field across the person's rows.
    let field = |name: &str| -> Option<String> {
        let template = config.fields.get(name)?;
        members
            .iter()
            .map(|&i| render(template, &tables[rows[i].file], &rows[i]))
            .find(|v| !v.is_empty())
    };
    let mut user = User::new(field("primary_id").unwrap_or_default());
    user.first_name = field("first_name");
    user.middle_name = field("middle_name");
    user.last_name = field("last_name");
    user.pref_first_name = field("pref_first_name");
    user.campus_code = field("campus_code").map(CodeValue::new);
    user.external_id = field("external_id");
    user.preferred_language = field("preferred_language").map(CodeValue::new);
    user.birth_date =
        field("birth_date").and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());

    let group = config.groups.iter().find(|g| {
        members.iter().any(|&i| {
            g.when
                .iter()
                .all(|c| matches(c, &tables[rows[i].file], &rows[i]))
        })
    });
    if let Some(g) = group {
        trace.push(format!(
            "user group {} by the first matching group rule",
            g.group
        ));
        user.user_group = Some(CodeValue {
            code: g.group.clone(),
            desc: g.desc.clone(),
        });
    }
    user.expiry_date = today.checked_add_days(Days::new(config.expiry.days.max(0) as u64));
    user.purge_date = user
        .expiry_date
        .and_then(|d| d.checked_add_days(Days::new(config.expiry.purge_after_days.max(0) as u64)));

    if let Some(line1) = field("address_line1") {
        user.contact_info.addresses.push(Address {
            preferred: true,
            segment_type: Some("External".to_owned()),
            line1: Some(line1),
            city: field("city"),
            state_province: field("state_province"),
            postal_code: field("postal_code"),
            country: field("country").map(CodeValue::new),
            address_types: vec![CodeValue::new("home")],
            ..Address::default()
        });
    }
    if let Some(email) = field("email") {
        let mut e = Email::new(email, "school");
        e.preferred = true;
        user.contact_info.emails.push(e);
    }
    if let Some(email) = field("personal_email") {
        let mut e = Email::new(email, "personal");
        e.preferred = user.contact_info.emails.is_empty();
        user.contact_info.emails.push(e);
    }
    if let Some(phone) = field("phone") {
        let mut p = Phone::new(phone, "mobile");
        p.preferred = true;
        user.contact_info.phones.push(p);
    }
    if let Some(barcode) = field("barcode") {
        user.user_identifiers
            .push(UserIdentifier::new("BARCODE", barcode));
    }
    (user, trace)
}
