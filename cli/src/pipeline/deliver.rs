//! Stage 5: deliver the packaged files to the destination, unless `--dry-run`.

use alma_sis_package::PackagedFile;
use sftp_deliver::{Destination, DropFolder};

use super::Run;
use crate::exit::{Exit, Failure};

/// Delivers every file; a failure is exit code 3 and nothing is recorded as sent.
pub fn stage(run: &mut Run<'_>, files: &[PackagedFile]) -> anyhow::Result<()> {
    if run.args.dry_run {
        return Ok(());
    }
    let mut destination = DropFolder::new(&run.config.delivery.drop_folder);
    for file in files {
        let name = file
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let delivered = destination
            .deliver(&file.path, &name)
            .map_err(|e| Failure::error(Exit::DeliveryFailed, format!("delivery failed: {e}")))?;
        run.report
            .deliveries
            .push((destination.describe(), delivered.location));
    }
    Ok(())
}
