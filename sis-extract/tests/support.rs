//! Per-test directories and a small config builder.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use sis_extract::{Decision, ExtractError, Extraction, MappingConfig, extract};

/// The day tests run on.
pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).expect("a valid date")
}

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a test date")
}

/// A config with one input `p.csv` keyed on `id`, then `rest`; `[fields]` (primary id from
/// `id`) and `[expiry]` (today + 1y) are added when `rest` has none.
pub fn config(rest: &str) -> String {
    let mut text = String::from(
        "[feed]\nname = \"t\"\ninstitution = \"T\"\n\n[[input]]\npath = \"p.csv\"\nkey = \"id\"\n\n",
    );
    text.push_str(rest);
    text.push('\n');
    if !rest.contains("[fields]") {
        text.push_str("[fields]\nprimary_id = \"{id}\"\n");
    }
    if !rest.contains("[expiry]") {
        text.push_str("[expiry]\ndefault = { policy = \"today_plus\", duration = \"1y\" }\n");
    }
    text
}

/// A temp dir holding `alma-sis.toml` and the given files.
pub struct Case {
    pub dir: tempfile::TempDir,
}

impl Case {
    pub fn new(config_text: &str, files: &[(&str, &[u8])]) -> Case {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("alma-sis.toml"), config_text).expect("write config");
        for (name, bytes) in files {
            std::fs::write(dir.path().join(name), bytes).expect("write input");
        }
        Case { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("alma-sis.toml")
    }

    pub fn config(&self) -> Result<MappingConfig, ExtractError> {
        let text = std::fs::read_to_string(self.path()).expect("read config");
        MappingConfig::from_toml(&text, Path::new("alma-sis.toml"), &[])
    }

    pub fn run(&self) -> Result<Extraction, ExtractError> {
        extract(&self.config()?, self.dir.path(), today())
    }
}

/// Maps `csv` (as `p.csv`) with the config `config(rest)`.
pub fn run(rest: &str, csv: &str) -> Result<Extraction, ExtractError> {
    Case::new(&config(rest), &[("p.csv", csv.as_bytes())]).run()
}

/// Like [`run`], but any error is a test failure.
pub fn ok(rest: &str, csv: &str) -> Extraction {
    run(rest, csv).unwrap_or_else(|e| panic!("extract failed: {e}"))
}

/// Each row's decision in a short form: `W:<id>`, `F:<rule>`, `R:<first error>`, by line.
pub fn decisions(x: &Extraction) -> Vec<String> {
    let mut rows: Vec<_> = x.rows.iter().collect();
    rows.sort_by(|a, b| (&a.row.file, a.row.line).cmp(&(&b.row.file, b.row.line)));
    rows.iter()
        .map(|r| match &r.decision {
            Decision::Written { primary_id } => format!("W:{primary_id}"),
            Decision::Filtered { rule } => format!("F:{rule}"),
            Decision::Rejected { errors } => format!("R:{}", errors.join("; ")),
        })
        .collect()
}
