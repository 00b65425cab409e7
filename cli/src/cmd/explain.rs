//! `alma-sis explain`: one person's path through every rule of the config, and what `run`
//! does with them after mapping: the same check and writer, so that `explain` and `run`
//! agree.

use std::fmt::Write as _;

use alma_sis_package::check::Checker;
use alma_user_model::{Severity, render_user};
use clap::Args;
use sis_extract::{Decision, Extractor, PersonOutcome, Topic};

use super::Context;
use crate::exit::{Exit, Failure};

/// Arguments of `alma-sis explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The person: their key in the extract, their primary id, or one of their rows as
    /// FILE:LINE (for a row without a key).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Let error messages show values read from the input files (the column names of an
    /// extract, which are a person's record when the file has no header row).
    #[arg(long)]
    pub show_values: bool,
}

/// Runs `alma-sis explain`: prints the rows found, the rules that matched or not, the group
/// and dates chosen and why, or the rule that dropped the person, and whether `run`'s check
/// rejects the user. Exit 2 when the id is not in the extract.
pub fn run(ctx: &Context, args: ExplainArgs) -> anyhow::Result<Exit> {
    let config = ctx.config()?;
    // Traces are for the person asked about: `explain` traces them whatever this says.
    let extractor = Extractor::new(&config.mapping, &config.base_dir, ctx.today())
        .map_err(|e| crate::pipeline::extract::input_error(args.show_values, &e))?
        .with_trace(false);
    let Some(mut person) = extractor.explain(&args.id) else {
        let files: Vec<String> = config
            .mapping
            .inputs
            .iter()
            .map(|i| i.path.display().to_string())
            .collect();
        return Err(Failure::error(
            Exit::ConfigOrInput,
            format!(
                "{:?} is neither a key nor a primary id nor a FILE:LINE of a row in the extract \
                 ({} rows read from {})",
                args.id,
                extractor.rows_read(),
                files.join(", ")
            ),
        ));
    };
    let options = config.check.options(&config.base_dir)?;
    let check = check_as_run_does(&extractor, &options, &person);
    if let Some(reasons) = &check {
        for row in &mut person.rows {
            if matches!(row.decision, Decision::Written { .. }) {
                row.decision = Decision::Rejected {
                    errors: reasons.clone(),
                };
            }
        }
    }
    print!("{}", render(&person, check.as_deref(), ctx.today()));
    Ok(Exit::Ok)
}

/// Why `run`'s check (or its writer) would reject `person`'s user: the error-level findings
/// as `CODE: message`, or `None` when it passes (or there is no user). Feed-wide findings
/// (a match ID or identifier used before) depend on the people before them, so everyone
/// before the person is checked too, in the order `run` checks them.
fn check_as_run_does(
    extractor: &Extractor<'_>,
    options: &alma_sis_package::check::CheckOptions,
    person: &PersonOutcome,
) -> Option<Vec<String>> {
    let user = &person.user.as_ref()?.user;
    let mut checker = Checker::new(options);
    let errors = |findings: Vec<alma_user_model::Finding>| -> Vec<String> {
        findings
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| format!("{}: {}", f.code, f.message))
            .collect()
    };
    for other in extractor.people() {
        let Some(mapped) = other.user else {
            continue;
        };
        if other.key == person.key {
            break;
        }
        checker.check_user(&mapped.user, None);
    }
    let mut reasons = errors(checker.check_user(user, None));
    if reasons.is_empty()
        && let Err(e) = render_user(user, &mut Vec::new())
    {
        reasons.push(format!("E-WRITE: {e}"));
    }
    (!reasons.is_empty()).then_some(reasons)
}

/// The explanation as text: a verdict, the rows, then the trace topic by topic, the
/// warnings and the check.
pub fn render(
    person: &PersonOutcome,
    check: Option<&[String]>,
    today: chrono::NaiveDate,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} (as of {today})", verdict(person, check));
    let _ = writeln!(out, "\nrows");
    for r in &person.rows {
        let decoded = r
            .decoded_as
            .map(|e| format!(" (not UTF-8: decoded as {e})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<28} {}{decoded}",
            r.row.to_string(),
            decision(&r.decision)
        );
    }
    let mut topic: Option<Topic> = None;
    for step in person.steps() {
        if step.topic == Topic::Rows {
            continue;
        }
        if topic != Some(step.topic) {
            let _ = writeln!(out, "\n{}", step.topic);
            topic = Some(step.topic);
        }
        let _ = writeln!(out, "  {}", step.text);
    }
    if !person.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings (loaded anyway)");
        for w in &person.warnings {
            let _ = writeln!(out, "  {}: {}", w.row, w.text);
        }
    }
    if let Some(u) = &person.user {
        let user = &u.user;
        let _ = writeln!(out, "\ncheck");
        match check {
            Some(reasons) => {
                let _ = writeln!(out, "  rejected at check time, as `run` rejects it:");
                for reason in reasons {
                    let _ = writeln!(out, "    {reason}");
                }
            }
            None => {
                let _ = writeln!(out, "  passes (no error-level finding)");
            }
        }
        let sent = if check.is_some() { " (not sent)" } else { "" };
        let _ = writeln!(out, "\nuser{sent}");
        let _ = writeln!(out, "  primary id   {}", user.primary_id);
        if let Some(g) = &user.user_group {
            let desc = g
                .desc
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            let _ = writeln!(out, "  user group   {}{desc}", g.code);
        }
        let date =
            |d: Option<chrono::NaiveDate>| d.map_or_else(|| "none".to_owned(), |d| d.to_string());
        let _ = writeln!(out, "  expiry date  {}", date(user.expiry_date));
        let _ = writeln!(out, "  purge date   {}", date(user.purge_date));
        let ids: Vec<String> = user
            .user_identifiers
            .iter()
            .map(|i| i.id_type.code.clone())
            .collect();
        if !ids.is_empty() {
            let _ = writeln!(out, "  identifiers  {}", ids.join(", "));
        }
    }
    out
}

fn verdict(person: &PersonOutcome, check: Option<&[String]>) -> String {
    let key = if person.key.is_empty() {
        person
            .rows
            .first()
            .map_or_else(String::new, |r| format!("(no key) {}", r.row))
    } else {
        person.key.clone()
    };
    if let Some(u) = &person.user {
        return match check {
            Some(reasons) => {
                let mut codes: Vec<&str> = reasons
                    .iter()
                    .map(|r| crate::pipeline::report::reason_code(r))
                    .collect();
                codes.dedup();
                format!(
                    "{key}: not loaded, user {} rejected at check time ({})",
                    u.user.primary_id,
                    codes.join(", ")
                )
            }
            None => format!(
                "{key}: loaded as user {} from {} row(s)",
                u.user.primary_id,
                u.rows.len()
            ),
        };
    }
    let filtered = person.rows.iter().find_map(|r| match &r.decision {
        Decision::Filtered { rule } => Some(rule.as_str()),
        _ => None,
    });
    let mut codes: Vec<&str> = person
        .rows
        .iter()
        .filter_map(|r| match &r.decision {
            Decision::Rejected { errors } => Some(errors),
            _ => None,
        })
        .flatten()
        .map(|e| crate::pipeline::report::reason_code(e))
        .collect();
    codes.sort_unstable();
    codes.dedup();
    match filtered {
        Some(rule) => format!("{key}: not loaded, dropped by rule {rule:?}"),
        None => format!("{key}: not loaded, rejected ({})", codes.join(", ")),
    }
}

fn decision(d: &Decision) -> String {
    match d {
        Decision::Written { primary_id } => format!("written (user {primary_id})"),
        Decision::Filtered { rule } => format!("filtered by {rule:?}"),
        Decision::Rejected { errors } => format!("rejected: {}", errors.join("; ")),
    }
}
