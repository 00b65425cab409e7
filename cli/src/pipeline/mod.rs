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
    };
    let users = extract::stage(&mut run)?;
    let users = quarantine::stage(&mut run, users)?;
    let plan = state::plan(&mut run, users)?;
    let files = package::stage(&mut run, &plan.to_send)?;
    deliver::stage(&mut run, &files)?;
    state::record(&mut run, &plan)?;
    report::finish(&run)
}
