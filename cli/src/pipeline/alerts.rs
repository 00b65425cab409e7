//! Which `[[alert]]`s a finished run sends, and what they say: what happened, what was and
//! was not delivered, and the one next step, with ids and counts only (no personal data). An
//! alert that cannot be sent is logged and goes into the report; it never changes the exit
//! status. The day of the last digest is kept per target in the work directory
//! (`<institution>_<feed>.alerts.json`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::report::Run;
use crate::alert::{AlertConfig, AlertMessage, Condition};
use crate::exit::Exit;

pub use crate::alert::AlertOutcome;

/// What a run did, as the alerts see it.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// The exit status.
    pub exit: Exit,
    /// More rows rejected than the threshold allows.
    pub rejects_over_threshold: bool,
    /// Codes of the warnings in the report.
    pub warning_codes: BTreeSet<String>,
    /// A dry run delivers nothing and sends no digest.
    pub dry_run: bool,
}

/// The conditions of `alert` that hold for a run; `digest_due` when no digest went today.
pub fn conditions(alert: &AlertConfig, facts: &RunFacts, digest_due: bool) -> Vec<Condition> {
    let failed = matches!(
        facts.exit,
        Exit::ConfigOrInput
            | Exit::DeliveryFailed
            | Exit::StateBusy
            | Exit::Interrupted
            | Exit::Terminated
    );
    let succeeded = matches!(facts.exit, Exit::Ok | Exit::Findings);
    let warned = if alert.codes.is_empty() {
        !facts.warning_codes.is_empty()
    } else {
        alert
            .codes
            .iter()
            .any(|c| facts.warning_codes.contains(c.as_str()))
    };
    let mut on: Vec<Condition> = alert
        .on
        .iter()
        .copied()
        .filter(|c| match c {
            Condition::Failure => failed,
            Condition::Brake => facts.exit == Exit::BrakeTripped,
            Condition::Rejects => facts.rejects_over_threshold,
            Condition::Warning => warned,
            Condition::Digest => succeeded && !facts.dry_run && digest_due,
        })
        .collect();
    on.sort_unstable();
    on.dedup();
    on
}

/// The day each target last got its digest, in the work directory.
#[derive(Debug, Default, Serialize, Deserialize)]
struct DigestMemory {
    /// Target (as [`AlertConfig::target`]) -> `YYYY-MM-DD`.
    last_digest: BTreeMap<String, NaiveDate>,
}

fn memory_path(run: &Run<'_>) -> PathBuf {
    let feed = &run.config.mapping.feed;
    run.config
        .output
        .dir
        .join(format!("{}_{}.alerts.json", feed.institution, feed.name))
}

fn read_memory(path: &Path) -> DigestMemory {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Replaces the memory file (mode 0600) through a temporary name.
fn write_memory(path: &Path, memory: &DigestMemory) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut bytes = serde_json::to_vec_pretty(memory).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    super::page::write_private(&tmp, &bytes)?;
    std::fs::rename(&tmp, path)
}

/// Sends the alerts the run's outcome calls for; returns what became of each.
pub fn send_all(run: &Run<'_>, facts: &RunFacts, message: &AlertMessage) -> Vec<AlertOutcome> {
    if run.config.alerts.is_empty() {
        return Vec::new();
    }
    let path = memory_path(run);
    let mut memory = read_memory(&path);
    let mut remembered = false;
    let mut outcomes = Vec::new();
    for alert in &run.config.alerts {
        let target = alert.target();
        let due = memory.last_digest.get(&target) != Some(&run.today);
        let on = conditions(alert, facts, due);
        if on.is_empty() {
            continue;
        }
        let because: Vec<&str> = on.iter().map(|c| c.name()).collect();
        let message = AlertMessage {
            subject: message.subject.clone(),
            text: format!("{}Sent because: {}.\n", message.text, because.join(", ")),
        };
        let result = crate::alert::send(alert, &message);
        if let Err(e) = &result {
            tracing::error!("alert to {target} not sent: {e}");
        }
        if result.is_ok() && on.contains(&Condition::Digest) {
            memory.last_digest.insert(target.clone(), run.today);
            remembered = true;
        }
        outcomes.push(AlertOutcome {
            target,
            on,
            sent: result.is_ok(),
            error: result.err().map(|e| e.to_string()),
        });
    }
    if remembered && let Err(e) = write_memory(&path, &memory) {
        tracing::error!(
            "cannot remember the digest's day in {}: {e}",
            path.display()
        );
    }
    outcomes
}

/// The run's alert: one subject line, then what happened, what was and was not delivered,
/// the warnings by code, the one next step and where the report is.
pub fn message(
    run: &Run<'_>,
    facts: &RunFacts,
    error: Option<&str>,
    report: Option<&Path>,
) -> AlertMessage {
    let r = &run.report;
    let feed = &run.config.mapping.feed;
    let exit = facts.exit;
    let what = match exit {
        Exit::BrakeTripped => "the brake stopped the run",
        Exit::Ok => "finished",
        Exit::Findings if facts.rejects_over_threshold => "finished with too many rejected rows",
        Exit::Findings => "finished with findings",
        Exit::Interrupted | Exit::Terminated => "the run was interrupted",
        _ => "the run failed",
    };
    let subject = format!(
        "alma-sis {}/{}: {what} (exit {})",
        feed.institution,
        feed.name,
        exit.code()
    );
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Run {} at {}: {} (exit {}).",
        run.stem,
        super::page::local_time(&run.ctx.now),
        exit.name(),
        exit.code()
    );
    if let Some(error) = error {
        let _ = writeln!(s, "What happened: {error}");
    }
    let c = r.row_counts();
    let _ = writeln!(
        s,
        "Counts: {} row(s) read, {} user(s) written, {} row(s) rejected, {} user(s) vanished.",
        c.read,
        r.users_written,
        c.rejected,
        r.vanished.len()
    );
    match &r.delivery {
        Some(d) => {
            if d.delivered.is_empty() {
                let _ = writeln!(s, "Delivered: nothing to {}.", d.destination);
            } else {
                let _ = writeln!(
                    s,
                    "Delivered: {} to {}.",
                    d.delivered.join(", "),
                    d.destination
                );
            }
            if !d.not_delivered.is_empty() {
                let _ = writeln!(s, "Not delivered: {}.", d.not_delivered.join(", "));
            }
        }
        None if facts.dry_run => {
            let _ = writeln!(s, "Delivered: nothing (a dry run).");
        }
        None => {
            let _ = writeln!(s, "Delivered: nothing (the run stopped before delivery).");
        }
    }
    if !facts.warning_codes.is_empty() {
        let codes: Vec<&str> = facts.warning_codes.iter().map(String::as_str).collect();
        let _ = writeln!(s, "Warnings: {}.", codes.join(", "));
    }
    let _ = writeln!(s, "Next step: {}", next_step(facts));
    if let Some(report) = report {
        let _ = writeln!(s, "Report: {}", report.display());
    }
    AlertMessage { subject, text: s }
}

/// The one thing to do next.
fn next_step(facts: &RunFacts) -> &'static str {
    match facts.exit {
        Exit::BrakeTripped => {
            "nothing was sent. Read the report: if the change is real (a new term, a cleanup), \
             run again with --force; otherwise fix the extract."
        }
        Exit::DeliveryFailed => {
            "deliver the zips that did not arrive with `alma-sis deliver`, or run again once the \
             server answers (only users in zips that arrived are recorded as sent)."
        }
        Exit::ConfigOrInput => {
            "fix what the error names and run again; nothing more was recorded as sent."
        }
        Exit::StateBusy => {
            "another run of this feed held the run state: make sure two schedules do not \
             overlap, then run again."
        }
        Exit::Interrupted | Exit::Terminated => {
            "run again: the run state records only what arrived."
        }
        Exit::Findings if facts.rejects_over_threshold => {
            "fix the rejected rows in the source system (listed in the report); the rest was \
             delivered."
        }
        Exit::Findings => "read the findings in the report and fix the extract.",
        Exit::Ok if !facts.warning_codes.is_empty() => "read the warnings in the report.",
        Exit::Ok => "nothing to do.",
    }
}
