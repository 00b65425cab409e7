//! The Leganto course path behind `alma-sis courses ...`: the course config file, the run
//! state adapter and the nightly run.

pub mod run;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use leganto_courses::{CourseConfig, DeltaOptions, Snapshot, map_extract_file, plan_delta};
use serde::Deserialize;

use crate::config::{DeliveryConfig, OutputConfig};
use crate::exit::{Exit, Failure};

pub use alma_sis_state::courses::{FEED, ROLLOVER_FEED};

/// A course config file: the mapping (owned by `leganto-courses`) plus what the CLI owns.
#[derive(Debug, Clone)]
pub struct CoursesAppConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// The directory relative input paths are resolved against.
    pub base_dir: PathBuf,
    /// The raw bytes' sha256, hex.
    pub hash: String,
    /// The course mapping.
    pub courses: CourseConfig,
    /// `[output]`.
    pub output: OutputConfig,
    /// `[delivery]`: where the course file goes.
    pub delivery: DeliveryConfig,
    /// `[state]`.
    pub state: StateConfig,
    /// `[pull]`: where `courses pull` fetches the registrar's extract.
    pub pull: Option<PullConfig>,
}

/// `[state]`: where what was sent is remembered.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// The state file; `<output.dir>/alma-sis-state.sqlite` by default, as for patrons.
    pub path: Option<PathBuf>,
}

/// `[pull]`: the registrar's SFTP server (the `[delivery]` keys), plus which files to fetch.
#[derive(Debug, Clone)]
pub struct PullConfig {
    /// The remote folder.
    pub from: String,
    /// File names to fetch (`*` and `?` wildcards).
    pub pattern: String,
    /// The server.
    pub server: DeliveryConfig,
}

impl CoursesAppConfig {
    /// Reads and checks a course config file.
    pub fn load(path: &Path) -> anyhow::Result<CoursesAppConfig> {
        let bytes = std::fs::read(path).map_err(|e| {
            let next = if e.kind() == std::io::ErrorKind::NotFound {
                "; name the course config with --config FILE (examples/courses/courses.toml \
                 and docs/courses.md show one)"
            } else {
                "; the account running alma-sis must be able to read it"
            };
            Failure::error(
                Exit::ConfigOrInput,
                format!("cannot read course config {}: {e}{next}", path.display()),
            )
        })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            Failure::error(
                Exit::ConfigOrInput,
                format!("course config {} is not UTF-8", path.display()),
            )
        })?;
        let invalid = |e: toml::de::Error| {
            Failure::error(
                Exit::ConfigOrInput,
                format!("course config {}: {e}", path.display()),
            )
        };
        // The CLI's sections; the course mapping is parsed from the text below, with spans.
        let mut table: toml::Table = toml::from_str(text).map_err(invalid)?;
        let mut section = |name: &str| table.remove(name);
        let output = match section("output") {
            Some(v) => v.try_into().map_err(invalid)?,
            None => OutputConfig::default(),
        };
        let delivery = match section("delivery") {
            Some(v) => v.try_into().map_err(invalid)?,
            None => DeliveryConfig::default(),
        };
        let state = match section("state") {
            Some(v) => v.try_into().map_err(invalid)?,
            None => StateConfig::default(),
        };
        let pull = match section("pull") {
            Some(toml::Value::Table(mut t)) => {
                let mut text_key = |key: &str| match t.remove(key) {
                    Some(toml::Value::String(s)) => Ok(s),
                    _ => Err(Failure::error(
                        Exit::ConfigOrInput,
                        format!(
                            "course config {}: pull.{key} is required (a string)",
                            path.display()
                        ),
                    )),
                };
                let from = text_key("from")?;
                let pattern = text_key("pattern")?;
                let server = toml::Value::Table(t).try_into().map_err(invalid)?;
                Some(PullConfig {
                    from,
                    pattern,
                    server,
                })
            }
            Some(_) => {
                return Err(Failure::error(
                    Exit::ConfigOrInput,
                    format!("course config {}: [pull] must be a table", path.display()),
                ));
            }
            None => None,
        };
        // The mapping keeps its place in the file: errors point at the config's line and
        // column, as the patron feed's do.
        let courses = CourseConfig::from_toml(text, path, &["output", "delivery", "state", "pull"])
            .map_err(|e| Failure::error(Exit::ConfigOrInput, e.to_string()))?;
        let base_dir = path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(CoursesAppConfig {
            path: path.to_owned(),
            base_dir,
            hash: crate::config::sha256_hex(&bytes),
            courses,
            output,
            delivery,
            state,
            pull,
        })
    }

    /// The run-state file.
    pub fn state_path(&self) -> PathBuf {
        self.state
            .path
            .clone()
            .unwrap_or_else(|| self.output.dir.join("alma-sis-state.sqlite"))
    }

    /// The delta options from `[delta]`, `[rollover]` and `[file]`.
    pub fn delta_options(&self, full: bool, force: bool) -> DeltaOptions {
        DeltaOptions::from_config(&self.courses, full, force)
    }

    /// The patron feed's run-state file, when `[instructors] patron_feed` is set.
    pub fn patron_state(&self) -> Option<(String, PathBuf)> {
        let feed = self.courses.instructors.patron_feed.clone()?;
        let path = match &self.courses.instructors.patron_state {
            Some(p) => self.base_dir.join(p),
            None => self.state_path(),
        };
        Some((feed, path))
    }
}

/// Where the demo's golden course file lives: the name `courses run --now
/// 2026-11-23T04:00:00Z` gives it.
pub const DEMO_COURSE_FILE: &str = "examples/courses/expected/20261123040000.txt";

/// The demo's course file as a first run delivers it (nothing sent before).
pub fn demo_course_file(root: &Path) -> anyhow::Result<Vec<u8>> {
    let config = CoursesAppConfig::load(&root.join("examples/courses/courses.toml"))?;
    let mapped =
        map_extract_file(&config.courses, &config.base_dir).context("mapping the demo extract")?;
    let delta = plan_delta(
        &mapped,
        &Snapshot::default(),
        &[],
        &config.delta_options(false, false),
    )?;
    Ok(leganto_courses::write_course_file(
        &delta.rows(),
        &config.courses.file.date_format,
    )?)
}
