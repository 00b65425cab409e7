//! One module per subcommand, each with its clap arguments and a `run` function.

pub mod check;
pub mod completions;
pub mod courses;
pub mod deliver;
pub mod explain;
pub mod history;
pub mod init;
pub mod plan;
pub mod run;
pub mod state;

use chrono::{DateTime, FixedOffset, Local, NaiveDate};
use sha2::{Digest, Sha256};

use crate::args::GlobalArgs;
use crate::config::AppConfig;
use crate::exit::{Exit, Failure};

/// What every command gets: the clock, read once, and where the config is.
#[derive(Debug, Clone)]
pub struct Context {
    /// The moment this run happens (`--now` or the clock).
    pub now: DateTime<FixedOffset>,
    /// The config file path.
    pub config_path: std::path::PathBuf,
    /// `--now` pinned the clock: nothing measures time either (a run's time is 0 in the
    /// trend), so the same input, config and `--now` give identical reports.
    pub pinned: bool,
    /// `--quiet`: errors only, no summary on stdout.
    pub quiet: bool,
}

impl Context {
    /// Reads the clock once, unless `--now` pins it.
    pub fn new(global: &GlobalArgs) -> anyhow::Result<Context> {
        let now = match &global.now {
            Some(s) => DateTime::parse_from_rfc3339(s).map_err(|e| {
                Failure::error(
                    Exit::ConfigOrInput,
                    format!("--now {s:?} is not an RFC 3339 time (e.g. 2026-11-23T04:00:00Z): {e}"),
                )
            })?,
            None => Local::now().fixed_offset(),
        };
        Ok(Context {
            now,
            config_path: global.config.clone(),
            pinned: global.now.is_some(),
            quiet: global.quiet,
        })
    }

    /// Today's date, in the offset of `now`.
    pub fn today(&self) -> NaiveDate {
        self.now.date_naive()
    }

    /// A compact timestamp for file names: `YYYYMMDDHHMMSS`.
    pub fn stamp(&self) -> String {
        self.now.format("%Y%m%d%H%M%S").to_string()
    }

    /// Loads the config file.
    pub fn config(&self) -> anyhow::Result<AppConfig> {
        AppConfig::load(&self.config_path)
    }
}

/// Hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
