//! `alma-sis explain`: one person's path through every rule of the config, and what `run`
//! does with them after mapping: the same check and writer, so that `explain` and `run`
//! agree.

use std::fmt::Write as _;

use alma_sis_package::check::Checker;
use alma_user_model::{Severity, render_user};
use clap::Args;
use sis_extract::{Decision, Extractor, PersonOutcome, Topic};

use alma_sis::Context;
use alma_sis::{Exit, Failure};

/// Arguments of `alma-sis explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The person: their key in the extract, their primary id, or one of their rows as
    /// FILE:LINE (for a row without a key).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Also say what Alma will do with them, from Alma's "Export users" file (a file, zip
    /// or folder; repeat for several), as `alma-sis plan` does (which maps the whole
    /// extract).
    #[arg(long, value_name = "PATH")]
    pub alma_export: Vec<std::path::PathBuf>,
    /// Let error messages show values read from the input files (the column names of an
    /// extract, which are a person's record when the file has no header row).
    #[arg(long)]
    pub show_values: bool,
}

/// Runs `alma-sis explain`: prints the rows found, the rules that matched or not, the group
/// and dates chosen and why, or the rule that dropped the person, and whether `run`'s check
/// rejects the user; for someone sent before and not loaded today (gone from the extract, or
/// filtered), what the run state sends them as a vanished person. Exit 2 when the id is
/// neither in the extract nor in the run state.
pub fn run(ctx: &Context, args: ExplainArgs) -> anyhow::Result<Exit> {
    let config = ctx.config()?;
    // Traces are for the person asked about: `explain` traces them whatever this says.
    let extractor = Extractor::with_connector(
        &config.mapping,
        &config.base_dir,
        ctx.today(),
        &alma_sis::connector::from_process(),
    )
    .map_err(|e| alma_sis::pipeline::extract::input_error(&config, args.show_values, &e))?
    .with_trace(false);
    let today = ctx.today();
    let alma =
        alma_sis::pipeline::plan_report::explain(&config, today, &args.id, &args.alma_export)?;
    let Some(mut person) = extractor.explain(&args.id) else {
        if let Some(text) = vanished::explain(&config, &[&args.id], today)? {
            print!("{}: not in the extract (as of {today})\n{text}", args.id);
            print!("{}", alma.unwrap_or_default().text);
            return Ok(Exit::Ok);
        }
        if let Some(alma) = alma.filter(|a| a.found) {
            print!(
                "{}: not in the extract (as of {today})\n{}",
                args.id, alma.text
            );
            return Ok(Exit::Ok);
        }
        let files: Vec<String> = config.mapping.inputs.iter().map(|i| i.name()).collect();
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
    print!("{}", render(&person, check.as_deref(), today));
    if let Some(u) = &person.user {
        if check.is_none() {
            print!("{}", vanished::purge_soon(&config, &u.user, today));
        }
    } else if !person
        .rows
        .iter()
        .any(|r| matches!(r.decision, Decision::Rejected { .. }))
    {
        // Filtered out today: someone sent before vanishes.
        if let Some(text) = vanished::explain(&config, &[&args.id, &person.key], today)? {
            print!("{text}");
        }
    }
    print!("{}", alma.unwrap_or_default().text);
    Ok(Exit::Ok)
}

/// What the run state does with someone who is not loaded today.
mod vanished {
    use std::fmt::Write as _;

    use alma_sis_state::{IfMissing, VanishedAction, VanishedDates, VanishedUser};
    use alma_user_model::User;
    use chrono::NaiveDate;

    use alma_sis::config::AppConfig;
    use alma_sis::config::VanishedSetting;
    use alma_sis::pipeline::state::{open_existing, purge_policy, state_error};

    /// The "vanished" section for the first of `ids` the run state knows, or `None`.
    pub fn explain(
        config: &AppConfig,
        ids: &[&str],
        today: NaiveDate,
    ) -> anyhow::Result<Option<String>> {
        let Some((path, store)) = open_existing(config)? else {
            return Ok(None);
        };
        let options = config.state.explain_options(&config.check.match_id);
        let purge = purge_policy(config);
        let feed = &config.mapping.feed.name;
        for id in ids {
            let missing = store
                .if_missing(feed, id, &options, &purge, today)
                .map_err(state_error)?;
            if let Some(missing) = missing {
                return Ok(Some(section(config, &missing, today, &path)));
            }
        }
        Ok(None)
    }

    fn section(
        config: &AppConfig,
        missing: &IfMissing,
        today: NaiveDate,
        path: &std::path::Path,
    ) -> String {
        let mut out = format!("\nvanished (run state {})\n", path.display());
        let v = match missing {
            IfMissing::NeverSent => {
                out.push_str("  known, never sent: nothing to expire\n");
                return out;
            }
            IfMissing::Retired { since } => {
                let _ = writeln!(
                    out,
                    "  retired on {since} after the re-sends of state.vanished_runs: no longer sent"
                );
                return out;
            }
            IfMissing::SentToday(v) => {
                let _ = writeln!(
                    out,
                    "  missing since {}; already re-sent today (re-send {} of {})",
                    v.since, v.send, v.of
                );
                if let Some(dates) = &v.dates {
                    dates_lines(&mut out, config, v, dates, today);
                }
                return out;
            }
            IfMissing::Vanishes(v) => v,
        };
        let when = if v.since == today {
            "vanishes in a run today".to_owned()
        } else {
            format!("missing since {}", v.since)
        };
        match v.action {
            VanishedAction::Left if config.state.vanished == VanishedSetting::Nothing => {
                let _ = writeln!(out, "  {when}; state.vanished = \"nothing\": not sent");
            }
            VanishedAction::Left => {
                let _ = writeln!(out, "  {when}; re-sent on {} run(s) already: retired", v.of);
            }
            VanishedAction::NoRecord => {
                let _ = writeln!(out, "  {when}; no record of what was sent: not sent");
            }
            VanishedAction::Expired { .. } | VanishedAction::Inactivated => {
                let retire = if v.retired { ", then retired" } else { "" };
                let _ = writeln!(
                    out,
                    "  {when}; a run sends them (re-send {} of {}{retire})",
                    v.send, v.of
                );
                if let Some(dates) = &v.dates {
                    dates_lines(&mut out, config, v, dates, today);
                }
            }
        }
        out
    }

    fn dates_lines(
        out: &mut String,
        config: &AppConfig,
        v: &VanishedUser,
        d: &VanishedDates,
        today: NaiveDate,
    ) {
        let expiry = d
            .expiry
            .map_or_else(|| "none".to_owned(), |e| e.to_string());
        match v.action {
            VanishedAction::Inactivated => {
                let _ = writeln!(
                    out,
                    "  status       INACTIVE (state.vanished = \"inactive\")"
                );
                let _ = writeln!(out, "  expiry date  {expiry} (the expiry date last sent)");
            }
            _ => {
                let grace = config.state.vanished_grace_days;
                match d.grace_end {
                    Some(end) if d.expiry != Some(end) => {
                        let _ = writeln!(
                            out,
                            "  expiry date  {expiry} (the expiry date last sent, earlier than {end}: \
                             the day they vanished + state.vanished_grace_days = {grace})"
                        );
                    }
                    _ => {
                        let _ = writeln!(
                            out,
                            "  expiry date  {expiry} (the day they vanished + \
                             state.vanished_grace_days = {grace})"
                        );
                    }
                }
            }
        }
        let group = d.group.as_deref();
        let last_group = group.unwrap_or("none");
        let Some(rule) = config.purge.for_group(group) else {
            let _ = writeln!(
                out,
                "  purge date   none: the [purge] rules give their last group ({last_group}) \
                 none, and Alma never purges a user without one"
            );
            return;
        };
        let (Some(by_rule), Some(purge), Some(e)) = (d.by_rule, d.purge, d.expiry) else {
            let _ = writeln!(out, "  purge date   none: no expiry date to count from");
            return;
        };
        let rule_text = format!(
            "expiry {e} + {} (the [purge] rule for {}; their last group: {last_group})",
            rule.text(),
            rule.applies_to()
        );
        let from = e.max(today);
        let minimum = config.state.purge_minimum_days;
        if purge > by_rule {
            let _ = writeln!(
                out,
                "  purge date   {purge}: raised to state.purge_minimum_days = {minimum} days after \
                 {from} (the later of the expiry date and today); {by_rule} = {rule_text}"
            );
        } else {
            let _ = writeln!(
                out,
                "  purge date   {purge} = {rule_text}; no sooner than {} ({minimum} days after \
                 {from}, the later of the expiry date and today)",
                d.floor
            );
        }
    }

    /// A note under a loaded user whose purge date comes sooner than the minimum after today
    /// (the run reports it as `W-PURGE-SOON`); empty otherwise.
    pub fn purge_soon(config: &AppConfig, user: &User, today: NaiveDate) -> String {
        let floor = purge_policy(config).floor(None, today);
        match user.purge_date {
            Some(purge) if purge < floor => format!(
                "  W-PURGE-SOON: the purge date is sooner than state.purge_minimum_days ({}) \
                 after today ({floor}): Alma's next \"Purge users\" job can delete them\n",
                config.state.purge_minimum_days
            ),
            _ => String::new(),
        }
    }
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
                    .map(|r| alma_sis::pipeline::report::reason_code(r))
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
        .map(|e| alma_sis::pipeline::report::reason_code(e))
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
