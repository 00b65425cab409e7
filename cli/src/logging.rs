//! Logging through tracing. At the default level logs carry ids, never personal data.

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
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match global.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.without_time().try_init(),
    };
}
