//! `alma-sis explain`: one person's path through every rule of the config.

use std::fmt::Write as _;

use clap::Args;
use sis_extract::{Decision, Extractor, PersonOutcome, Topic};

use super::Context;
use crate::exit::{Exit, Failure};

/// Arguments of `alma-sis explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The person: their key in the extract or their primary id.
    #[arg(value_name = "ID")]
    pub id: String,
}

/// Runs `alma-sis explain`: prints the rows found, the rules that matched or not, the group
/// and dates chosen and why, or the rule that dropped the person. Exit 2 when the id is not
/// in the extract.
pub fn run(ctx: &Context, args: ExplainArgs) -> anyhow::Result<Exit> {
    let config = ctx.config()?;
    let extractor = Extractor::new(&config.mapping, &config.base_dir, ctx.today())
        .map_err(|e| Failure::error(Exit::ConfigOrInput, e.to_string()))?;
    let Some(person) = extractor.explain(&args.id) else {
        let files: Vec<String> = config
            .mapping
            .inputs
            .iter()
            .map(|i| i.path.display().to_string())
            .collect();
        return Err(Failure::error(
            Exit::ConfigOrInput,
            format!(
                "{:?} is neither a key nor a primary id in the extract ({} rows read from {})",
                args.id,
                extractor.rows_read(),
                files.join(", ")
            ),
        ));
    };
    print!("{}", render(&person, ctx.today()));
    Ok(Exit::Ok)
}

/// The explanation as text: a verdict, the rows, then the trace topic by topic.
pub fn render(person: &PersonOutcome, today: chrono::NaiveDate) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} (as of {today})", verdict(person));
    let _ = writeln!(out, "\nrows");
    for r in &person.rows {
        let _ = writeln!(out, "  {:<28} {}", r.row.to_string(), decision(&r.decision));
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
    if let Some(u) = &person.user {
        let user = &u.user;
        let _ = writeln!(out, "\nuser");
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

fn verdict(person: &PersonOutcome) -> String {
    let key = &person.key;
    if let Some(u) = &person.user {
        return format!(
            "{key}: loaded as user {} from {} row(s)",
            u.user.primary_id,
            u.rows.len()
        );
    }
    let filtered = person.rows.iter().find_map(|r| match &r.decision {
        Decision::Filtered { rule } => Some(rule.as_str()),
        _ => None,
    });
    match filtered {
        Some(rule) => format!("{key}: not loaded, dropped by rule {rule:?}"),
        None => format!("{key}: not loaded, rejected"),
    }
}

fn decision(d: &Decision) -> String {
    match d {
        Decision::Written { primary_id } => format!("written (user {primary_id})"),
        Decision::Filtered { rule } => format!("filtered by {rule:?}"),
        Decision::Rejected { errors } => format!("rejected: {}", errors.join("; ")),
    }
}
