//! Logging through tracing. At the default level logs carry ids, never personal data.
//!
//! The default level is `warn`: warnings name rows by file, line and id. `-v` (debug) and
//! `-vv` (trace) may show values from the extract, so they are for a person at a terminal,
//! not for a cron job whose mail or journal is kept. `ALMA_SIS_LOG` (an `EnvFilter`
//! directive such as `alma_sis=info`) overrides the level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::args::{GlobalArgs, LogFormat};

/// Installs the subscriber once; later calls (tests) are ignored.
pub fn init(global: &GlobalArgs) {
    let default = if global.quiet {
        "error"
    } else if global.verbose > 1 {
        "trace"
    } else if global.verbose == 1 {
        "debug"
    } else {
        "warn"
    };
    let filter =
        EnvFilter::try_from_env("ALMA_SIS_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::terminal::LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = match global.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.without_time().try_init(),
    };
}
