//! What one nightly run is asked to do: the options of `alma-sis run`, without the command
//! line (the binary fills them from its flags; a tool sets them itself).

use std::path::PathBuf;

use crate::config::Mode;

/// The options of one run; `RunOptions::default()` is a plain `alma-sis run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Do everything but deliver.
    pub dry_run: bool,
    /// Only these people (keys or primary ids).
    pub only: Vec<String>,
    /// Full or delta; `None`: `state.mode` of the config.
    pub mode: Option<Mode>,
    /// Deliver even when the brake would stop an implausible extract.
    pub force: bool,
    /// Stop before packaging when any user has an error-level finding, instead of
    /// quarantining those users and sending the rest.
    pub strict: bool,
    /// Alma's "Export users" file(s) to plan against first: users that will fail in Alma are
    /// quarantined instead of sent.
    pub plan_against: Vec<PathBuf>,
    /// Let error messages show values read from the input files.
    pub show_values: bool,
    /// Write stage times and peak memory as JSON to this file.
    pub timings: Option<PathBuf>,
    /// Map every person, also those whose input rows are unchanged since they were last
    /// mapped (a delta skips them): for tests that compare the two.
    pub map_everyone: bool,
}
