//! `alma-sis run`: extract, map, check, package, deliver.

use clap::{Args, ValueEnum};

use alma_sis::config::Mode;
use alma_sis::{Context, Exit, RunOptions};

/// Arguments of `alma-sis run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Do everything but deliver.
    #[arg(long)]
    pub dry_run: bool,
    /// Only these people (primary ids).
    #[arg(long, value_name = "ID", num_args = 1..)]
    pub only: Vec<String>,
    /// Send everyone eligible (full) or only new and changed users (delta).
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Deliver even when the brake would stop an implausible extract.
    #[arg(long)]
    pub force: bool,
    /// Stop before packaging (exit 1) when any user has an error-level finding, instead of
    /// quarantining those users and sending the rest.
    #[arg(long)]
    pub strict: bool,
    /// Run `alma-sis plan` against Alma's "Export users" file(s) first: users that will fail
    /// in Alma are quarantined instead of sent (with --strict, nothing is delivered when any
    /// will).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub plan_against: Vec<std::path::PathBuf>,
    /// Let error messages show values read from the input files (the column names of an
    /// extract, which are a person's record when the file has no header row). Off by
    /// default: messages name files, lines, columns and codes only.
    #[arg(long)]
    pub show_values: bool,
    /// Write stage times and peak memory as JSON to this file (for `cargo xtask bench`).
    #[arg(long, value_name = "FILE", hide = true)]
    pub timings: Option<std::path::PathBuf>,
    /// Map every person, also those whose input rows are unchanged since they were last
    /// mapped (a delta skips them): for tests that compare the two.
    #[arg(long, hide = true)]
    pub map_everyone: bool,
}

/// Load modes (also `state.mode` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Send everyone eligible.
    Full,
    /// Send new and changed users only.
    Delta,
}

impl From<ModeArg> for Mode {
    fn from(mode: ModeArg) -> Mode {
        match mode {
            ModeArg::Full => Mode::Full,
            ModeArg::Delta => Mode::Delta,
        }
    }
}

impl From<RunArgs> for RunOptions {
    fn from(args: RunArgs) -> RunOptions {
        RunOptions {
            dry_run: args.dry_run,
            only: args.only,
            mode: args.mode.map(Mode::from),
            force: args.force,
            strict: args.strict,
            plan_against: args.plan_against,
            show_values: args.show_values,
            timings: args.timings,
            map_everyone: args.map_everyone,
        }
    }
}

/// Runs the patron pipeline; SIGINT and SIGTERM stop it at the next safe point.
pub fn run(ctx: &Context, args: RunArgs) -> anyhow::Result<Exit> {
    alma_sis::interrupt::install()?;
    alma_sis::pipeline::run(ctx, &RunOptions::from(args))
}
