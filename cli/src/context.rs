//! What every command and the nightly run are given: the moment they happen (read once by
//! the caller, never here), where the config is, and how much they may say.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate};

use crate::config::AppConfig;
use crate::progress::{Hidden, Progress};

/// The clock, read once by the caller (`--now` or the system clock), the config file, and
/// how the run shows itself.
#[derive(Clone)]
pub struct Context {
    /// The moment this run happens.
    pub now: DateTime<FixedOffset>,
    /// The config file path.
    pub config_path: PathBuf,
    /// The clock is pinned: nothing measures time either (a run's time is 0 in the trend), so
    /// the same input, config and `now` give identical reports.
    pub pinned: bool,
    /// Errors only: no summary on stdout.
    pub quiet: bool,
    /// Who is told how far each stage is (the binary draws bars on a terminal).
    pub progress: Arc<dyn Progress>,
}

impl Context {
    /// A context for `now` (pinned) and the config at `config_path`: quiet, no progress.
    /// What a tool that drives the run itself wants; the binary sets the rest.
    pub fn pinned(now: DateTime<FixedOffset>, config_path: impl Into<PathBuf>) -> Context {
        Context {
            now,
            config_path: config_path.into(),
            pinned: true,
            quiet: true,
            progress: Arc::new(Hidden),
        }
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

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("now", &self.now)
            .field("config_path", &self.config_path)
            .field("pinned", &self.pinned)
            .field("quiet", &self.quiet)
            .finish_non_exhaustive()
    }
}
