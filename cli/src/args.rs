//! The command line: the top-level options and the subcommands, each subcommand's arguments
//! beside its `run` in `cmd`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

use crate::cmd;
use crate::help::{EXIT_CODES, TOP_LONG_HELP};

/// Feed Ex Libris Alma users (and Leganto courses) from campus systems.
#[derive(Debug, Parser)]
#[command(
    name = "alma-sis",
    version,
    about,
    after_help = EXIT_CODES,
    after_long_help = TOP_LONG_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The config file.
    #[arg(
        long,
        short,
        global = true,
        env = "ALMA_SIS_CONFIG",
        default_value = "alma-sis.toml"
    )]
    pub config: PathBuf,
    /// Pin the clock (RFC 3339, e.g. 2026-11-23T04:00:00Z): same input, config and --now
    /// give byte-identical output.
    #[arg(long, global = true, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Print errors only: no summary, no progress bars.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail (-v debug, -vv trace). Debug logs may contain personal data.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log format on stderr (json: one object per line, for log collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write an annotated config and a sample extract to start from.
    Init(cmd::init::InitArgs),
    /// Extract, map, check, package and deliver users.
    #[command(after_help = EXIT_CODES)]
    Run(cmd::run::RunArgs),
    /// Check Alma SIS input files (.zip, a folder of them, or .xml) for load failures.
    #[command(after_help = EXIT_CODES)]
    Check(cmd::check::CheckArgs),
    /// Trace one person through every rule: why were they (not) loaded?
    Explain(cmd::explain::ExplainArgs),
    /// Predict what Alma will do with this load (new, update, unchanged, will fail,
    /// vanished), from Alma's own "Export users" file.
    #[command(after_help = EXIT_CODES)]
    Plan(cmd::plan::PlanArgs),
    /// List earlier runs.
    History(cmd::history::HistoryArgs),
    /// Deliver an existing zip to the configured destination.
    #[command(after_help = EXIT_CODES)]
    Deliver(cmd::deliver::DeliverArgs),
    /// Inspect or repair the run state.
    State(cmd::state::StateArgs),
    /// Leganto course loading.
    Courses(cmd::courses::CoursesArgs),
    /// Print shell completions.
    Completions(cmd::completions::CompletionsArgs),
}
