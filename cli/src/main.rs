//! The `alma-sis` binary: parse, read the clock once, run one command, map the outcome to an
//! exit code. The commands drive the `alma_sis` library; only this binary reads the clock,
//! the terminal and the command line.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

mod args;
mod cmd;
mod help;
mod logging;
mod terminal;

use std::process::ExitCode;
use std::sync::Arc;

use alma_sis::{Context, Exit, Failure};
use chrono::{DateTime, Local};
use clap::{CommandFactory, Parser};

use args::{Cli, Command, GlobalArgs, LogFormat};

/// jemalloc, not the system's allocator: users are built on the pass's extract thread and
/// freed on its main thread, which glibc's malloc pays for in arena locks and consolidation
/// (malloc and free were a tenth of a nightly run's CPU). Its options (two arenas, free
/// pages returned after a second, allocations over 1 MiB returned at once) are compiled in
/// from `.cargo/config.toml`; see docs/performance.md ("The allocator").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_logs = cli.global.log_format == LogFormat::Json;
    match run(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            // A closed pipe (`alma-sis history | head`) is not a failure.
            if err
                .chain()
                .filter_map(|c| c.downcast_ref::<std::io::Error>())
                .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            let exit = alma_sis::exit_code_of(&err);
            if json_logs {
                // A log collector reading JSON lines gets the error as one more JSON line.
                tracing::error!(exit_code = exit.code(), "{err:#}");
            } else {
                eprintln!("error: {err}");
                for cause in err.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
            }
            exit.into()
        }
    }
}

/// Runs one parsed command line and returns the exit status to report.
fn run(cli: Cli) -> anyhow::Result<Exit> {
    logging::init(&cli.global);
    terminal::init(&cli.global);
    let ctx = context(&cli.global)?;
    match cli.command {
        Command::Init(a) => cmd::init::run(&ctx, a),
        Command::Run(a) => cmd::run::run(&ctx, a),
        Command::Check(a) => cmd::check::run(&ctx, a),
        Command::Explain(a) => cmd::explain::run(&ctx, a),
        Command::Plan(a) => cmd::plan::run(&ctx, a),
        Command::History(a) => cmd::history::run(&ctx, a),
        Command::Deliver(a) => cmd::deliver::run(&ctx, a),
        Command::State(a) => cmd::state::run(&ctx, a),
        Command::Courses(a) => cmd::courses::run(&ctx, a),
        Command::Completions(a) => cmd::completions::run(Cli::command(), a),
    }
}

/// What every command gets: the clock, read once here unless `--now` pins it, the config
/// path, `--quiet`, and the terminal's progress bars.
fn context(global: &GlobalArgs) -> anyhow::Result<Context> {
    let now = match &global.now {
        Some(s) => DateTime::parse_from_rfc3339(s).map_err(|e| {
            Failure::error(
                Exit::ConfigOrInput,
                format!("--now {s:?} is not an RFC 3339 time (e.g. 2026-11-23T04:00:00Z): {e}"),
            )
        })?,
        None => Local::now().fixed_offset(),
    };
    Ok(Context {
        now,
        config_path: global.config.clone(),
        pinned: global.now.is_some(),
        quiet: global.quiet,
        progress: Arc::new(terminal::Bars),
    })
}
