//! The `alma-sis` command: wires the alma-sis crates together for library staff.
//!
//! Only this crate reads the clock, the environment and the terminal, and prints; the
//! libraries take `today` and return typed errors. See `docs/ARCHITECTURE.md`.
#![deny(missing_docs)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod alert;
pub mod args;
pub mod cmd;
pub mod config;
pub mod connector;
pub mod courses;
pub mod destination;
mod exit;
pub mod fixtures;
pub mod interrupt;
mod logging;
pub mod messages;
pub mod pipeline;
pub mod progress;
pub mod warning;

pub use exit::{Exit, Failure, exit_code_of, is_unwritable_work_dir};

/// `docs/library.md`, compiled and run as doc tests so its examples stay true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/library.md")]
struct LibraryGuide;

use args::{Cli, Command};

/// Runs one parsed command line and returns the exit status to report.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    logging::init(&cli.global);
    progress::init(&cli.global);
    let ctx = cmd::Context::new(&cli.global)?;
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
        Command::Completions(a) => cmd::completions::run(a),
    }
}
