//! Stage 2: check every user before packaging, with the same checks as `alma-sis check`
//! (record validation, the `[check]` profile and code tables, duplicate match IDs and
//! identifiers across the feed). Users with error-level findings are quarantined: their rows
//! become `Rejected` with the codes, they go to `<stem>.rejects.csv` in the work directory
//! (ids, codes and messages only; mode 0600), and the rest are packaged, unless `--strict`.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;

use alma_sis_package::check::Checker;
use alma_user_model::{Finding, Severity, User, render_user};
use sis_extract::Decision;

use super::Run;
use crate::exit::{Exit, Failure};

/// One quarantined user.
struct Reject {
    primary_id: String,
    findings: Vec<Finding>,
}

/// Keeps the users that can be written; rejects the rest with their reasons.
pub fn stage(run: &mut Run<'_>, mut users: Vec<User>) -> anyhow::Result<Vec<User>> {
    let options = run.config.check.options(&run.config.base_dir)?;
    let mut checker = Checker::new(&options);
    let mut scratch = Vec::new();
    let mut rejects = Vec::new();
    let mut warnings = 0usize;
    // Filtered in place: a second list of a million users would double the peak memory.
    users.retain(|user| {
        let mut findings = checker.check_user(user, None);
        scratch.clear();
        // The writer's own refusal is reported only when no check finding explains it.
        let explained = findings.iter().any(|f| f.severity == Severity::Error);
        if let Err(err) = render_user(user, &mut scratch)
            && !explained
        {
            findings.push(
                Finding::new("E-WRITE", Severity::Error, err.to_string())
                    .for_user(user.primary_id.clone()),
            );
        }
        findings.retain(|f| f.severity != Severity::Info);
        warnings += findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count();
        findings.retain(|f| f.severity == Severity::Error);
        if findings.is_empty() {
            return true;
        }
        rejects.push(Reject {
            primary_id: user.primary_id.clone(),
            findings,
        });
        false
    });
    let keep = users;
    if warnings > 0 {
        tracing::info!(
            warnings,
            "check warnings (run `alma-sis check` on the zip for details)"
        );
    }
    if rejects.is_empty() {
        return Ok(keep);
    }
    mark_rejected(run, &rejects);
    let path = write_rejects(run, &rejects)?;
    tracing::warn!(
        users = rejects.len(),
        file = %path.display(),
        "users quarantined by check"
    );
    if run.args.strict {
        return Err(Failure::error(
            Exit::Findings,
            format!(
                "--strict: {} user(s) have error-level findings (listed in {}); nothing was \
                 packaged",
                rejects.len(),
                path.display()
            ),
        ));
    }
    Ok(keep)
}

/// Turns the rows of every rejected user into `Rejected` with `CODE: message` reasons.
fn mark_rejected(run: &mut Run<'_>, rejects: &[Reject]) {
    let by_id: HashMap<&str, &Reject> =
        rejects.iter().map(|r| (r.primary_id.as_str(), r)).collect();
    for outcome in &mut run.report.rows {
        let Decision::Written { primary_id } = &outcome.decision else {
            continue;
        };
        if let Some(reject) = by_id.get(primary_id.as_str()) {
            outcome.decision = Decision::Rejected {
                errors: reject
                    .findings
                    .iter()
                    .map(|f| format!("{}: {}", f.code, f.message))
                    .collect(),
            };
        }
    }
}

/// Writes `<stem>.rejects.csv` (id, codes, messages; no names) with mode 0600.
fn write_rejects(run: &Run<'_>, rejects: &[Reject]) -> anyhow::Result<PathBuf> {
    let dir = &run.config.output.dir;
    let path = dir.join(format!("{}.rejects.csv", run.stem));
    let io = |e: std::io::Error| {
        Failure::error(
            Exit::ConfigOrInput,
            format!("cannot write the reject file {}: {e}", path.display()),
        )
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let mut out = std::io::BufWriter::new(open.open(&path).map_err(io)?);
    writeln!(out, "primary_id,codes,messages").map_err(io)?;
    for r in rejects {
        let mut codes: Vec<&str> = r.findings.iter().map(|f| f.code.as_str()).collect();
        codes.dedup();
        let messages: Vec<String> = r
            .findings
            .iter()
            .map(|f| match &f.field {
                Some(field) => format!("{} {field}: {}", f.code, f.message),
                None => format!("{}: {}", f.code, f.message),
            })
            .collect();
        writeln!(
            out,
            "{},{},{}",
            csv_field(&r.primary_id),
            csv_field(&codes.join(" ")),
            csv_field(&messages.join(" | "))
        )
        .map_err(io)?;
    }
    out.flush().map_err(io)?;
    Ok(path)
}

/// RFC 4180 quoting.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
