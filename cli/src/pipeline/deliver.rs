//! Stage 5: deliver the packaged files to the configured destination, unless `--dry-run`.

use std::path::Path;

use alma_sis_package::PackagedFile;
use sftp_deliver::{Delivered, Destination};

use super::Run;
use crate::exit::{Exit, Failure};

/// Delivers every file; a failure is exit code 3 and nothing is recorded as sent.
pub fn stage(run: &mut Run<'_>, files: &[PackagedFile]) -> anyhow::Result<()> {
    if run.args.dry_run {
        return Ok(());
    }
    let mut destination = crate::destination::build(&run.config.delivery)?;
    for file in files {
        let delivered = deliver_one(destination.as_mut(), &file.path)?;
        run.report
            .deliveries
            .push((destination.describe(), delivered.location));
    }
    Ok(())
}

/// Delivers one local file under its own file name, logging what the destination reports;
/// a failure carries exit code 3.
pub fn deliver_one(destination: &mut dyn Destination, path: &Path) -> anyhow::Result<Delivered> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        Failure::error(
            Exit::ConfigOrInput,
            format!("{} has no usable file name", path.display()),
        )
    })?;
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let bar = crate::progress::bytes(len, "uploading");
    let result = destination.deliver(path, name, &mut |done| bar.set_position(done));
    bar.finish_and_clear();
    let delivered = result.map_err(|e| {
        Failure::error(
            Exit::DeliveryFailed,
            format!(
                "delivery of {name} to {} failed: {}",
                destination.describe(),
                cause_chain(&e)
            ),
        )
    })?;
    for stale in &delivered.stale {
        match &stale.archived_to {
            Some(to) => {
                tracing::warn!(file = %stale.name, archived_to = %to, "an earlier zip Alma had not processed was archived")
            }
            None => {
                tracing::warn!(file = %stale.name, "an earlier zip Alma has not processed is still waiting")
            }
        }
    }
    tracing::info!(
        file = name,
        location = %delivered.location,
        bytes = delivered.size,
        sha256 = %delivered.sha256,
        attempts = delivered.attempts,
        "delivered"
    );
    Ok(delivered)
}

/// An error and its causes on one line: `a: b: c`.
fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}
