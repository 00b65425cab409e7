//! Checks every user before it is packaged, with the same checks as `alma-sis check` (record
//! validation, the `[check]` profile and code tables, duplicate match IDs and identifiers
//! across the feed). Users with error-level findings are quarantined: their rows become
//! `Rejected` with the codes, they go to `<stem>.rejects.csv` in the work directory (ids, codes
//! and messages only; mode 0600), and the rest are packaged, unless `--strict`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;

use alma_sis_package::check::{CheckOptions, Checker};
use alma_user_model::{Finding, Severity, User, WriteError};
use sis_extract::{Decision, RowOutcome};

use crate::exit::{Exit, Failure};

/// The users that will fail, by lowercase primary id: (code, message), for the run's
/// quarantine.
pub type PlanFailures = HashMap<String, (String, String)>;

/// The check of one run: the feed-wide checker and the reject file, opened at the first reject.
pub struct Quarantine<'a> {
    checker: Checker<'a>,
    path: PathBuf,
    out: Option<BufWriter<File>>,
    /// Users quarantined so far.
    pub rejected: usize,
    /// Warning-level findings so far (the users are still sent).
    pub warnings: usize,
    /// The users `--plan-against` predicts Alma rejects: quarantined with the plan's code.
    plan: PlanFailures,
    /// Users quarantined because they will fail in Alma.
    pub will_fail: usize,
}

impl<'a> Quarantine<'a> {
    /// A check writing its rejects to `path` when there are any.
    pub fn new(options: &'a CheckOptions, path: PathBuf) -> Self {
        Quarantine {
            checker: Checker::new(options),
            path,
            out: None,
            rejected: 0,
            warnings: 0,
            plan: PlanFailures::new(),
            will_fail: 0,
        }
    }

    /// Quarantines the users a plan predicts will fail in Alma (those the check lets pass,
    /// as in the plan itself).
    pub fn plan_failures(&mut self, failures: PlanFailures) {
        self.plan = failures;
    }

    /// The error-level findings of `user` (empty when it can be sent); warnings are counted.
    pub fn check(&mut self, user: &User) -> Vec<Finding> {
        let mut findings = self.checker.check_user(user, None);
        self.warnings += findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count();
        findings.retain(|f| f.severity == Severity::Error);
        if findings.is_empty()
            && !self.plan.is_empty()
            && let Some((code, message)) = self.plan.get(&user.primary_id.to_lowercase())
        {
            self.will_fail += 1;
            findings.push(
                Finding::new(code.clone(), Severity::Error, message.clone())
                    .for_user(user.primary_id.clone()),
            );
        }
        findings
    }

    /// The finding for a user the writer refused although no check explained why.
    pub fn write_refused(user: &User, err: &WriteError) -> Finding {
        Finding::new("E-WRITE", Severity::Error, err.to_string()).for_user(user.primary_id.clone())
    }

    /// Quarantines one user: its written rows become `Rejected` with `CODE: message` reasons
    /// and a line goes to the reject file.
    pub fn reject(
        &mut self,
        primary_id: &str,
        findings: &[Finding],
        rows: &mut [RowOutcome],
    ) -> anyhow::Result<()> {
        Self::mark(primary_id, findings, rows);
        self.rejected += 1;
        let line = reject_line(primary_id, findings);
        let path = &self.path;
        let io = |e| reject_file_error(path, &e);
        let out = match &mut self.out {
            Some(out) => out,
            None => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let mut open = std::fs::OpenOptions::new();
                open.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
                let mut out = BufWriter::new(open.open(path).map_err(io)?);
                writeln!(out, "primary_id,codes,messages").map_err(io)?;
                self.out.insert(out)
            }
        };
        out.write_all(line.as_bytes()).map_err(io)?;
        Ok(())
    }

    /// The rows written into the user `primary_id` become `Rejected` with `CODE: message`
    /// reasons (what [`Quarantine::reject`] does to them, without the reject file).
    pub fn mark(primary_id: &str, findings: &[Finding], rows: &mut [RowOutcome]) {
        for outcome in rows.iter_mut() {
            if matches!(&outcome.decision, Decision::Written { primary_id: p } if p == primary_id) {
                outcome.decision = Decision::Rejected {
                    errors: findings
                        .iter()
                        .map(|f| format!("{}: {}", f.code, f.message))
                        .collect(),
                };
            }
        }
    }

    /// Removes the reject file of a pass that did not finish (it would be partial).
    pub fn discard(mut self) {
        if self.out.take().is_some() {
            // Best effort: the error that stopped the pass is the one to report.
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// Closes the reject file; returns its path when users were quarantined. Logs the
    /// warnings' count.
    pub fn finish(mut self) -> anyhow::Result<Option<PathBuf>> {
        if self.warnings > 0 {
            tracing::info!(
                warnings = self.warnings,
                "check warnings (run `alma-sis check` on the zip for details)"
            );
        }
        let Some(mut out) = self.out.take() else {
            return Ok(None);
        };
        out.flush().map_err(|e| reject_file_error(&self.path, &e))?;
        tracing::warn!(
            users = self.rejected,
            file = %self.path.display(),
            "users quarantined by check"
        );
        Ok(Some(self.path))
    }
}

/// The reject file could not be written (exit 2).
fn reject_file_error(path: &std::path::Path, e: &std::io::Error) -> anyhow::Error {
    Failure::error(
        Exit::ConfigOrInput,
        format!("cannot write the reject file {}: {e}", path.display()),
    )
}

/// One line of the reject file: id, codes, messages (no names).
fn reject_line(primary_id: &str, findings: &[Finding]) -> String {
    let mut codes: Vec<&str> = findings.iter().map(|f| f.code.as_str()).collect();
    codes.dedup();
    let messages: Vec<String> = findings
        .iter()
        .map(|f| match &f.field {
            Some(field) => format!("{} {field}: {}", f.code, f.message),
            None => format!("{}: {}", f.code, f.message),
        })
        .collect();
    format!(
        "{},{},{}\n",
        csv_field(primary_id),
        csv_field(&codes.join(" ")),
        csv_field(&messages.join(" | "))
    )
}

/// RFC 4180 quoting.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
