//! The mapping config: a TOML file a librarian can read.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// The whole mapping config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// Which feed this is.
    pub feed: FeedConfig,
    /// The extract files, joined on their key.
    #[serde(rename = "input")]
    pub inputs: Vec<InputConfig>,
    /// Ordered eligibility rules: the first that matches decides.
    #[serde(default, rename = "filter")]
    pub filters: Vec<FilterRule>,
    /// Ordered user-group rules.
    #[serde(default, rename = "group")]
    pub groups: Vec<GroupRule>,
    /// Field templates, `{column}` substituted.
    pub fields: BTreeMap<String, String>,
    /// Expiry and purge policy.
    pub expiry: ExpiryConfig,
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

/// `[[input]]`: one delimited extract file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// Path, relative to the config file.
    pub path: PathBuf,
    /// The column that identifies a person.
    pub key: String,
    /// One byte; `,` by default.
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Fallback encoding when the file is not UTF-8 (e.g. `windows-1252`).
    #[serde(default)]
    pub encoding: Option<String>,
}

fn default_delimiter() -> String {
    ",".to_owned()
}

/// A condition over one column. A multi-valued column is split on `separator`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The column.
    pub column: String,
    /// Matches when any of the column's values is one of these.
    pub any_of: Vec<String>,
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
    /// Keep the row.
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
    /// Include or exclude.
    pub action: FilterAction,
    /// All conditions must hold.
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
    /// All conditions must hold.
    pub when: Vec<Condition>,
}

/// `[expiry]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiryConfig {
    /// Expiry = today + this many days.
    pub days: i64,
    /// Purge = expiry + this many days.
    pub purge_after_days: i64,
}
