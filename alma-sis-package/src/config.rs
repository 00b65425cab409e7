//! `[package]`: how users are split into XML files and zips, and how the files are named.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::error::PackageError;

/// Alma loads at most this many XML files from one zip.
pub const ALMA_MAX_FILES_PER_ZIP: u32 = 50;
/// Alma loads at most this many zips in one run of the SIS job.
pub const ALMA_MAX_ZIPS: u32 = 20;
/// Alma refuses zips of 4 GB or more; we stay strictly below.
pub const ALMA_MAX_ZIP_BYTES: u64 = 4_000_000_000;

/// Limits and file-name patterns for one run's packages.
///
/// Patterns may use `{institution}`, `{feed}`, `{timestamp}` (`YYYYMMDDHHMMSS`), `{run}` (the
/// run's id, [`RunInfo::run_id`]), `{zip}` (the zip's number in the run, two digits: `01`)
/// and `{part}` (the XML file's number in the run, three digits: `001`). A zip name must
/// contain `{run}` and `{zip}` and end in `.zip`, an XML name must contain `{part}` and end in
/// `.xml`, a manifest name must contain `{run}` and end in `.json`: so names are unique
/// within a run and across runs, whatever their timestamps (two runs in one second, or with
/// the same `--now`). XML names leave `{run}` out by default, so the same users, config and
/// timestamp still give byte-identical zips.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PackageConfig {
    /// Users per XML file (Ex Libris suggests 20,000).
    pub users_per_file: u64,
    /// XML files per zip, at most 50.
    pub files_per_zip: u32,
    /// Zips per run, at most 20; a run that needs more fails before anything is written.
    pub max_zips: u32,
    /// Bytes per zip, under 4 GB.
    pub max_zip_bytes: u64,
    /// Pattern for zip file names.
    pub zip_name: String,
    /// Pattern for the XML entries inside the zips.
    pub xml_name: String,
    /// Pattern for the run's JSON manifest.
    pub manifest_name: String,
}

impl Default for PackageConfig {
    fn default() -> Self {
        PackageConfig {
            users_per_file: 20_000,
            files_per_zip: ALMA_MAX_FILES_PER_ZIP,
            max_zips: ALMA_MAX_ZIPS,
            max_zip_bytes: 3_500_000_000,
            zip_name: "{institution}_{feed}_{timestamp}_r{run}_{zip}.zip".into(),
            xml_name: "{institution}_{feed}_{timestamp}_{part}.xml".into(),
            manifest_name: "{institution}_{feed}_{timestamp}_r{run}_manifest.json".into(),
        }
    }
}

/// Who and when a run is: names the files and is recorded in the manifest and the XML comment.
/// The caller reads the clock; this crate never does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// The institution code, e.g. `01ABC_INST` or `DEMO`.
    pub institution: String,
    /// The feed's name, e.g. `patrons`.
    pub feed: String,
    /// The run's moment (`--now`), also the zip entries' modification time.
    pub timestamp: NaiveDateTime,
    /// A number no other run writing into the same folders has (the run state's id for the
    /// run), rendered by `{run}`: names never depend on the clock alone.
    pub run_id: u64,
    /// The tool's version, e.g. `alma-sis 0.1.0`.
    pub tool_version: String,
    /// The config file's sha256, hex.
    pub config_sha256: String,
}

impl RunInfo {
    /// `YYYYMMDDHHMMSS`, as `{timestamp}` renders.
    pub fn stamp(&self) -> String {
        self.timestamp.format("%Y%m%d%H%M%S").to_string()
    }
}

/// Which pattern a name comes from; each allows a different set of placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    Zip,
    Xml,
    Manifest,
}

impl NameKind {
    fn key(self) -> &'static str {
        match self {
            NameKind::Zip => "package.zip_name",
            NameKind::Xml => "package.xml_name",
            NameKind::Manifest => "package.manifest_name",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            NameKind::Zip => ".zip",
            NameKind::Xml => ".xml",
            NameKind::Manifest => ".json",
        }
    }

    fn number(self) -> Option<&'static str> {
        match self {
            NameKind::Zip => Some("zip"),
            NameKind::Xml => Some("part"),
            NameKind::Manifest => None,
        }
    }

    /// Whether names of this kind must tell runs apart (they are files of their own).
    fn needs_run(self) -> bool {
        matches!(self, NameKind::Zip | NameKind::Manifest)
    }
}

impl PackageConfig {
    /// Checks the limits against Alma's and the patterns' placeholders.
    pub fn validate(&self) -> Result<(), PackageError> {
        let invalid = |key: &'static str, message: String| PackageError::Config { key, message };
        if self.users_per_file == 0 {
            return Err(invalid(
                "package.users_per_file",
                "must be at least 1".into(),
            ));
        }
        if !(1..=ALMA_MAX_FILES_PER_ZIP).contains(&self.files_per_zip) {
            return Err(invalid(
                "package.files_per_zip",
                format!(
                    "is {}; Alma loads 1 to {ALMA_MAX_FILES_PER_ZIP} XML files per zip",
                    self.files_per_zip
                ),
            ));
        }
        if !(1..=ALMA_MAX_ZIPS).contains(&self.max_zips) {
            return Err(invalid(
                "package.max_zips",
                format!(
                    "is {}; Alma loads 1 to {ALMA_MAX_ZIPS} zips per run",
                    self.max_zips
                ),
            ));
        }
        if !(1024..ALMA_MAX_ZIP_BYTES).contains(&self.max_zip_bytes) {
            return Err(invalid(
                "package.max_zip_bytes",
                format!(
                    "is {}; it must be at least 1024 and under {ALMA_MAX_ZIP_BYTES} (Alma's 4 GB)",
                    self.max_zip_bytes
                ),
            ));
        }
        for kind in [NameKind::Zip, NameKind::Xml, NameKind::Manifest] {
            check_pattern(self.pattern(kind), kind)
                .map_err(|message| invalid(kind.key(), message))?;
        }
        Ok(())
    }

    fn pattern(&self, kind: NameKind) -> &str {
        match kind {
            NameKind::Zip => &self.zip_name,
            NameKind::Xml => &self.xml_name,
            NameKind::Manifest => &self.manifest_name,
        }
    }

    /// Every zip name this config gives `institution`'s `feed`, whatever the run, as a
    /// pattern: the name up to its first placeholder other than `{institution}` and `{feed}`,
    /// `*`, and the name after its last one (`DEMO_patrons_*.zip` by default, which also
    /// matches the names earlier versions gave). How leftovers of the feed's earlier runs are
    /// recognised.
    pub fn zip_family(&self, institution: &str, feed: &str) -> String {
        let Ok(pieces) = pieces(&self.zip_name) else {
            return self.zip_name.clone();
        };
        let varies =
            |p: &Piece<'_>| matches!(p, Piece::Field(f) if *f != "institution" && *f != "feed");
        let render = |pieces: &[Piece<'_>]| {
            let mut out = String::new();
            for piece in pieces {
                match piece {
                    Piece::Literal(s) => out.push_str(s),
                    Piece::Field("institution") => out.push_str(institution),
                    Piece::Field("feed") => out.push_str(feed),
                    Piece::Field(_) => {}
                }
            }
            out
        };
        match (
            pieces.iter().position(varies),
            pieces.iter().rposition(varies),
        ) {
            (Some(first), Some(last)) => format!(
                "{}*{}",
                render(&pieces[..first]),
                render(&pieces[last + 1..])
            ),
            _ => render(&pieces),
        }
    }

    /// Renders a file name; `number` is the zip or part number (1-based).
    pub(crate) fn name(
        &self,
        kind: NameKind,
        run: &RunInfo,
        number: usize,
    ) -> Result<String, PackageError> {
        let pattern = self.pattern(kind);
        let mut out = String::with_capacity(pattern.len() + 32);
        for piece in pieces(pattern).map_err(|message| PackageError::Config {
            key: kind.key(),
            message,
        })? {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Field("institution") => out.push_str(&run.institution),
                Piece::Field("feed") => out.push_str(&run.feed),
                Piece::Field("timestamp") => out.push_str(&run.stamp()),
                Piece::Field("run") => out.push_str(&run.run_id.to_string()),
                Piece::Field("zip") => out.push_str(&format!("{number:02}")),
                Piece::Field(_) => out.push_str(&format!("{number:03}")),
            }
        }
        check_file_name(&out).map_err(|reason| PackageError::Name {
            key: kind.key(),
            name: out.clone(),
            reason,
        })?;
        Ok(out)
    }
}

enum Piece<'a> {
    Literal(&'a str),
    Field(&'a str),
}

const FIELDS: [&str; 6] = ["institution", "feed", "timestamp", "run", "zip", "part"];

fn pieces(pattern: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Piece::Literal(&rest[..open]));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("{pattern:?} has a `{{` without a closing `}}`"))?;
        let field = &after[..close];
        if !FIELDS.contains(&field) {
            return Err(format!(
                "{pattern:?} uses {{{field}}}; known placeholders are {{institution}}, {{feed}}, {{timestamp}}, {{run}}, {{zip}}, {{part}}"
            ));
        }
        out.push(Piece::Field(field));
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Literal(rest));
    }
    Ok(out)
}

fn check_pattern(pattern: &str, kind: NameKind) -> Result<(), String> {
    let pieces = pieces(pattern)?;
    let uses = |name: &str| {
        pieces
            .iter()
            .any(|p| matches!(p, Piece::Field(f) if *f == name))
    };
    for number in ["zip", "part"] {
        if kind.number() != Some(number) && uses(number) {
            return Err(format!("{pattern:?} cannot use {{{number}}} here"));
        }
    }
    if let Some(number) = kind.number()
        && !uses(number)
    {
        return Err(format!(
            "{pattern:?} must contain {{{number}}} so names are unique within a run"
        ));
    }
    if kind.needs_run() && !uses("run") {
        return Err(format!(
            "{pattern:?} must contain {{run}} so no two runs share a name (two runs in one \
             second, or pinned to the same time, would otherwise collide)"
        ));
    }
    if !pattern.ends_with(kind.extension()) {
        return Err(format!(
            "{pattern:?} must end in {} (Alma looks for that extension)",
            kind.extension()
        ));
    }
    Ok(())
}

/// A name is a plain, portable file name: ASCII letters, digits, `.`, `_`, `-`, no leading dot.
pub(crate) fn check_file_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 200 {
        return Err("must be 1 to 200 characters long");
    }
    if name.starts_with('.') {
        return Err("must not start with a dot");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("may only hold ASCII letters, digits, `.`, `_` and `-`");
    }
    Ok(())
}
