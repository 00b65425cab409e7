//! Stage 5: deliver the run's zips to the configured destination as one batch, unless
//! `--dry-run`, and record in the run state exactly what arrived.
//!
//! The batch knows its own files: the stale-file guard looks only at zips that are not part
//! of it. It stops at the first zip that does not arrive (or at a signal) and says which did;
//! the run state then records as sent only the users of the zips that arrived, keeps the
//! others' records with their zip (so `alma-sis deliver` of that zip records them later), and
//! the run exits 3 (or 130/143). Everything an administrator must act on goes into the report.

use std::ops::ControlFlow;
use std::path::Path;

use alma_sis_package::PackagedFile;
use alma_sis_state::{RunFile, RunOutcome};
use sftp_deliver::{DeliverError, Delivered, Destination, FolderReport, Outgoing, Step};

use super::report::Run;
use super::report::{DeliveryReport, StaleEntry};
use crate::exit::{Exit, Failure};
use crate::interrupt;
use crate::progress::Progress;

/// What delivering a run's zips did.
#[derive(Debug)]
pub struct Delivery {
    /// The destination, as reports name it.
    pub destination: String,
    /// The zips that arrived, in order.
    pub delivered: Vec<Delivered>,
    /// The first zip that did not arrive and why (the later ones were not tried).
    pub failure: Option<(String, String)>,
    /// The signal that stopped the batch, if one did.
    pub stopped_by: Option<interrupt::Signal>,
}

impl Delivery {
    /// Whether every zip arrived.
    pub fn complete(&self) -> bool {
        self.failure.is_none()
    }

    /// How the run state records the run.
    pub fn outcome(&self) -> RunOutcome {
        match (self.complete(), self.stopped_by, self.delivered.is_empty()) {
            (true, _, _) => RunOutcome::Delivered,
            (false, Some(_), _) => RunOutcome::Interrupted,
            (false, None, true) => RunOutcome::Failed,
            (false, None, false) => RunOutcome::PartlyDelivered,
        }
    }
}

/// The names every delivery of this feed uses, whatever the run: leftovers of earlier
/// attempts are recognised by it.
pub fn family(run: &Run<'_>) -> String {
    let feed = &run.config.mapping.feed;
    run.config.package.zip_family(&feed.institution, &feed.name)
}

/// Delivers every zip, in order, stopping at the first that does not arrive or at a signal.
/// `None` for `--dry-run` (or without a destination).
pub fn stage(run: &mut Run<'_>, files: &[PackagedFile]) -> Option<Delivery> {
    if run.args.dry_run {
        return None;
    }
    let family = family(run);
    let mut destination = run.destination.take()?;
    let delivery = deliver_batch(destination.as_mut(), files, &family, run);
    run.destination = Some(destination);
    Some(delivery)
}

fn deliver_batch(
    destination: &mut dyn Destination,
    files: &[PackagedFile],
    family: &str,
    run: &mut Run<'_>,
) -> Delivery {
    let describe = destination.describe();
    let outgoing: Vec<Outgoing> = files
        .iter()
        .map(|f| Outgoing::new(&f.path, &f.name))
        .collect();
    let outcome = if outgoing.is_empty() {
        sftp_deliver::BatchOutcome::default()
    } else {
        let progress = run.ctx.progress.clone();
        destination.deliver_all(&outgoing, family, &mut watch(progress.as_ref()))
    };
    report_folder(&describe, &outcome.folder);
    let stopped_by = match &outcome.failed {
        Some((_, DeliverError::Stopped { .. })) => interrupt::received(),
        _ => None,
    };
    let failure = outcome.failed.as_ref().map(|(index, e)| {
        let name = outgoing
            .get(*index)
            .map_or_else(String::new, |f| f.name.clone());
        (name, cause_chain(e))
    });
    let delivered = outcome.delivered;
    let arrived = |name: &str| delivered.iter().any(|d| d.name == name);
    for d in &delivered {
        run.report
            .deliveries
            .push((describe.clone(), d.location.clone()));
    }
    run.report.delivery = Some(DeliveryReport {
        destination: describe.clone(),
        delivered: delivered.iter().map(|d| d.name.clone()).collect(),
        not_delivered: outgoing
            .iter()
            .filter(|f| !arrived(&f.name))
            .map(|f| f.name.clone())
            .collect(),
        error: failure
            .as_ref()
            .filter(|_| stopped_by.is_none())
            .map(|(name, why)| format!("{name}: {why}")),
        stale: match &outcome.failed {
            // Refused because of them: they are still there.
            Some((_, DeliverError::StaleFiles { names, .. })) => names
                .iter()
                .map(|name| StaleEntry {
                    name: name.clone(),
                    archived_to: None,
                })
                .collect(),
            _ => outcome
                .folder
                .stale
                .iter()
                .map(|s| StaleEntry {
                    name: s.name.clone(),
                    archived_to: s.archived_to.clone(),
                })
                .collect(),
        },
        removed_leftovers: outcome.folder.removed_temps.clone(),
        other_files: outcome.folder.other_files.clone(),
    });
    Delivery {
        destination: describe,
        delivered,
        failure,
        stopped_by,
    }
}

/// The batch's callback: a progress bar per zip, a log line per zip that arrived, the test
/// pauses, and a stop when a signal came.
fn watch<'p>(progress: &'p dyn Progress) -> impl FnMut(Step<'_>) -> ControlFlow<()> + 'p {
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut started = None;
    move |step| {
        match step {
            Step::Starting { size, name, .. } => {
                bar = Some(progress.bytes(size, &format!("delivering {name}")));
            }
            Step::Bytes { index, done } => {
                if let Some(bar) = &bar {
                    bar.set_position(done);
                }
                if started != Some(index) {
                    started = Some(index);
                    interrupt::pause_at(&format!("uploading:{}", index + 1));
                }
            }
            Step::Arrived { index, delivered } => {
                if let Some(bar) = bar.take() {
                    let size = indicatif::HumanBytes(delivered.size);
                    progress.done(
                        &bar,
                        &format!("{size} arrived"),
                        crate::progress::Unit::Bytes,
                    );
                }
                tracing::info!(
                    file = %delivered.name,
                    location = %delivered.location,
                    bytes = delivered.size,
                    sha256 = %delivered.sha256,
                    attempts = delivered.attempts,
                    "delivered"
                );
                interrupt::pause_at(&format!("delivered:{}", index + 1));
            }
        }
        if interrupt::received().is_some() {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// Logs what the destination folder held (the report says it too).
pub fn report_folder(destination: &str, folder: &FolderReport) {
    for stale in &folder.stale {
        match &stale.archived_to {
            Some(to) => {
                tracing::warn!(file = %stale.name, archived_to = %to, "an earlier zip Alma had not processed was archived")
            }
            None => {
                tracing::warn!(file = %stale.name, "an earlier zip Alma has not processed is still waiting")
            }
        }
    }
    for temp in &folder.removed_temps {
        tracing::warn!(file = %temp, %destination, "removed a temporary file an interrupted earlier delivery left");
    }
    for other in &folder.other_files {
        tracing::warn!(file = %other, %destination, "a file that is not a zip is in the destination folder");
    }
}

/// The files of the run for the run state, with whether each arrived.
pub fn run_files(files: &[PackagedFile], delivery: Option<&Delivery>) -> Vec<RunFile> {
    files
        .iter()
        .map(|f| RunFile {
            name: f.name.clone(),
            sha256: f.sha256.clone(),
            users: f.users,
            delivered: delivery.is_some_and(|d| d.delivered.iter().any(|x| x.name == f.name)),
        })
        .collect()
}

/// `(file, match value)` for every user in a zip that did not arrive, read back from the zip.
pub fn held_back(
    files: &[PackagedFile],
    delivery: &Delivery,
    match_id: &alma_user_model::MatchId,
) -> Result<Vec<(String, String)>, alma_sis_package::VerifyError> {
    let mut held = Vec::new();
    for f in files {
        if !delivery.delivered.iter().any(|d| d.name == f.name) {
            for id in alma_sis_package::match_values(&f.path, match_id)? {
                held.push((f.name.clone(), id));
            }
        }
    }
    Ok(held)
}

/// One line saying what reached the destination and what did not.
pub fn what_arrived(delivery: &Delivery, files: &[PackagedFile]) -> String {
    let total = files.len();
    let arrived: Vec<&str> = delivery.delivered.iter().map(|d| d.name.as_str()).collect();
    let missing: Vec<&str> = files
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| !arrived.contains(n))
        .collect();
    if missing.is_empty() {
        return format!(
            "all {total} zip(s) reached {} and are recorded as sent",
            delivery.destination
        );
    }
    let arrived_text = if arrived.is_empty() {
        "none".to_owned()
    } else {
        arrived.join(", ")
    };
    format!(
        "{} of {total} zip(s) reached {} ({arrived_text}); not delivered: {}; the run state \
         records as sent only the users in zips that arrived: deliver the others with \
         `alma-sis deliver`, or run again (a delta run sends the rest)",
        arrived.len(),
        delivery.destination,
        missing.join(", ")
    )
}

/// The error of a delivery that did not complete: exit 3, or 130/143 when a signal stopped it.
pub fn incomplete(delivery: &Delivery, files: &[PackagedFile]) -> anyhow::Error {
    let line = what_arrived(delivery, files);
    match (delivery.stopped_by, &delivery.failure) {
        (Some(signal), _) => Failure::error(
            signal.exit(),
            format!("interrupted by {} while delivering: {line}", signal.name()),
        ),
        (None, Some((name, why))) => Failure::error(
            Exit::DeliveryFailed,
            format!("delivery of {name} failed: {why}; {line}"),
        ),
        (None, None) => Failure::error(Exit::DeliveryFailed, line),
    }
}

/// Delivers one local file under its own file name as a batch of one, for `alma-sis
/// deliver`; a failure carries exit code 3 (130/143 when a signal stopped it).
pub fn deliver_one(
    destination: &mut dyn Destination,
    path: &Path,
    family: &str,
    progress: &dyn Progress,
) -> anyhow::Result<(Delivered, FolderReport)> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        Failure::error(
            Exit::ConfigOrInput,
            format!("{} has no usable file name", path.display()),
        )
    })?;
    let describe = destination.describe();
    let files = [Outgoing::new(path, name)];
    let mut outcome = destination.deliver_all(&files, family, &mut watch(progress));
    report_folder(&describe, &outcome.folder);
    match (
        outcome.failed,
        outcome.delivered.pop(),
        interrupt::received(),
    ) {
        (Some((_, DeliverError::Stopped { .. })), _, Some(signal)) => Err(Failure::error(
            signal.exit(),
            format!(
                "interrupted by {} while delivering {name}: it did not reach {describe} \
                     (its temporary file was removed)",
                signal.name()
            ),
        )),
        (Some((_, e)), _, _) => Err(Failure::error(
            Exit::DeliveryFailed,
            format!(
                "delivery of {name} to {describe} failed: {}",
                cause_chain(&e)
            ),
        )),
        (None, Some(delivered), _) => Ok((delivered, outcome.folder)),
        (None, None, _) => Err(Failure::error(
            Exit::DeliveryFailed,
            format!("{name} was not delivered"),
        )),
    }
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
