//! `alma-sis plan`: what Alma will do with this load, predicted from Alma's own users export.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};

use alma_sis::Context;
use alma_sis::Exit;
use alma_sis::pipeline::plan::{PlanInput, PlanReport, plan};
use alma_sis::pipeline::plan_report::{self, PlanContext, write_reports};

/// Arguments of `alma-sis plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Alma's "Export users" output (version 2): files with any name, bare or zipped, or
    /// folders of them.
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    pub alma_export: Vec<PathBuf>,
    /// The summary for people (text) or the report.json document (json) on stdout.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Let error messages show values read from the input files (the column names of an
    /// extract, which are a person's record when the file has no header row).
    #[arg(long)]
    pub show_values: bool,
    /// Write stage times and peak memory as JSON to this file (for `cargo xtask bench`).
    #[arg(long, value_name = "FILE", hide = true)]
    pub timings: Option<PathBuf>,
}

/// Output formats of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// A one-screen summary.
    Text,
    /// The report.json document (schema `alma-sis.plan-report/1`).
    Json,
}

/// Runs `alma-sis plan`: exit 0 when nothing will fail, 1 when a user will.
pub fn run(ctx: &Context, args: PlanArgs) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let config = ctx.config()?;
    let today = ctx.today();
    let feed = &config.mapping.feed;
    let stem = format!("{}_{}_{}", feed.institution, feed.name, ctx.stamp());
    let dir = config.output.ensure_dir()?.to_owned();
    let start = Instant::now();
    let extractor = alma_sis::pipeline::extract::extractor(&config, today, args.show_values)?;
    let read = start.elapsed();
    let check_options = config.check.options(&config.base_dir)?;
    let people = dir.join(format!("{stem}.plan.people.csv"));
    let mut report = plan(
        &config,
        &extractor,
        &check_options,
        today,
        &PlanInput {
            export: &args.alma_export,
            focus: None,
            people: Some(people.clone()),
        },
    )?;
    report.timings.insert(0, ("read extract", read));
    let exit = report.exit();
    let pctx = PlanContext {
        command: "plan",
        feed: &feed.name,
        institution: &feed.institution,
        now: ctx.now.to_rfc3339(),
        config_path: &config.path,
        config_sha256: &config.hash,
        work_dir: &dir,
        export: &args.alma_export,
        people: Some(&people),
    };
    let written = write_reports(&pctx, &report, exit, &stem);
    match args.format {
        PlanFormat::Json => {
            let json = plan_report::json(&pctx, &report, exit);
            let _ = std::io::stdout().lock().write_all(json.as_bytes());
        }
        PlanFormat::Text if !ctx.quiet => {
            let paths: Vec<&std::path::Path> = written.iter().map(PathBuf::as_path).collect();
            let summary = plan_report::summary(&pctx, &report, exit, &paths);
            let _ = std::io::stdout().lock().write_all(summary.as_bytes());
        }
        PlanFormat::Text => {}
    }
    if let Some(path) = &args.timings {
        write_timings(&report, started.elapsed(), path)?;
    }
    Ok(exit)
}

/// Stage times, users, the index's size and the process's peak RSS, as JSON.
fn write_timings(
    report: &PlanReport,
    total: std::time::Duration,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let json = serde_json::json!({
        "stages": alma_sis::pipeline::stages_json(&report.timings),
        "seconds": total.as_secs_f64(),
        "users_mapped": report.users,
        "export_users": report.coverage.users,
        "index_bytes": report.index_bytes,
        "peak_rss_kib": alma_sis::pipeline::peak_rss_kib(),
    });
    std::fs::write(path, serde_json::to_vec_pretty(&json)?)
        .map_err(|e| anyhow::anyhow!("cannot write timings {}: {e}", path.display()))
}
