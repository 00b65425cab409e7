//! The patron pipeline behind `alma-sis run`, one stage per module:
//! extract -> quarantine (checks) -> state (delta, vanished, brake) -> package -> deliver ->
//! record -> report. Each stage reads and adds to the shared [`Run`].

pub mod deliver;
pub mod extract;
pub mod package;
pub mod quarantine;
pub mod report;
pub mod state;

use chrono::NaiveDate;

use crate::cmd::Context;
use crate::cmd::run::RunArgs;
use crate::config::AppConfig;
use crate::exit::Exit;

/// Everything one run knows; stages fill it in order.
pub struct Run<'a> {
    /// The clock and config path.
    pub ctx: &'a Context,
    /// The command-line options of `run`.
    pub args: &'a RunArgs,
    /// The loaded config.
    pub config: &'a AppConfig,
    /// Today, as the run sees it.
    pub today: NaiveDate,
    /// `<institution>_<feed>_<YYYYMMDDHHMMSS>`: names this run's files.
    pub stem: String,
    /// What the run did, for the summary and the report.
    pub report: report::RunReport,
    /// Wall time per stage, in order.
    pub timings: Vec<(&'static str, std::time::Duration)>,
}

impl Run<'_> {
    /// Runs one stage and records its wall time.
    fn timed<T>(&mut self, stage: &'static str, f: impl FnOnce(&mut Self) -> T) -> T {
        let start = std::time::Instant::now();
        let spinner = crate::progress::spinner(stage);
        let out = f(self);
        spinner.finish_and_clear();
        self.timings.push((stage, start.elapsed()));
        out
    }
}

/// Runs the whole pipeline.
pub fn run(ctx: &Context, args: &RunArgs) -> anyhow::Result<Exit> {
    let config = ctx.config()?;
    let feed = &config.mapping.feed;
    let stem = format!("{}_{}_{}", feed.institution, feed.name, ctx.stamp());
    let mut run = Run {
        ctx,
        args,
        config: &config,
        today: ctx.today(),
        stem,
        report: report::RunReport::default(),
        timings: Vec::new(),
    };
    let outcome = stages(&mut run);
    // The report comes first: a timings file that cannot be written must not cost it.
    let exit = report::finish(&run, outcome);
    if let Some(path) = &args.timings {
        write_timings(&run, path)?;
    }
    exit
}

/// Exit 1 (the rest is still delivered) when more rows were rejected than `[check]
/// max_rejected_percent` allows.
fn settle_reject_threshold(run: &mut Run<'_>) {
    let counts = run.report.row_counts();
    let limit = run.config.check.max_rejected_percent;
    if counts.read > 0 && counts.rejected as f64 * 100.0 / counts.read as f64 > limit {
        tracing::warn!(
            rejected = counts.rejected,
            read = counts.read,
            "more than {limit}% of the rows were rejected"
        );
        run.report.exit = Exit::Findings;
    }
}

/// Stage times, users and XML bytes written, and the process's peak RSS, as JSON.
fn write_timings(run: &Run<'_>, path: &std::path::Path) -> anyhow::Result<()> {
    let stages: Vec<serde_json::Value> = run
        .timings
        .iter()
        .map(|(stage, d)| serde_json::json!({ "stage": stage, "seconds": d.as_secs_f64() }))
        .collect();
    let json = serde_json::json!({
        "stages": stages,
        "users_written": run.report.users_written,
        "peak_rss_kib": peak_rss_kib(),
    });
    std::fs::write(path, serde_json::to_vec_pretty(&json)?)
        .map_err(|e| anyhow::anyhow!("cannot write timings {}: {e}", path.display()))
}

/// The process's peak resident set size (Linux `VmHWM`), 0 where unknown.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// The stages in order; the report is written whatever they return.
fn stages(run: &mut Run<'_>) -> anyhow::Result<()> {
    // Two runs of one feed never overlap: the lock is held from here until recorded.
    let lock = state::lock(run)?;
    let users = run.timed("extract", extract::stage)?;
    let users = run.timed("check", |run| quarantine::stage(run, users))?;
    settle_reject_threshold(run);
    let plan = run.timed("state", |run| state::plan(run, users, lock))?;
    run.report.tally_users(&plan.to_send);
    // A failed packaging or delivery is recorded too (as not sent) before it is returned.
    let sent = run
        .timed("package", |run| package::stage(run, &plan.to_send))
        .and_then(|files| run.timed("deliver", |run| deliver::stage(run, &files)));
    run.timed("record", |run| state::record(run, plan, &sent))?;
    sent
}
