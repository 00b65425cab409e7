//! The library behind the `alma-sis` command, for tools that run what it runs: the config
//! file ([`config::AppConfig`]), the nightly patron run ([`nightly`]: extract, check, plan,
//! package, deliver, and the run state committed after delivery) with its report
//! ([`pipeline::report::RunReport`]) and alerts ([`alert`]), and the Leganto course run
//! ([`courses`]). See `docs/library.md` for a compiled example.
//!
//! It has no command line and reads neither the clock nor the terminal: the caller passes the
//! moment in a [`Context`] (with a [`progress::Progress`] observer, if it wants one), and
//! signals stop a run only where the caller installed [`interrupt`]. The `alma-sis` binary
//! (`src/main.rs` with its `args`, `cmd`, `logging` and `terminal` modules) is a thin layer
//! over this. See `docs/ARCHITECTURE.md`.
#![deny(missing_docs)]

pub mod alert;
pub mod config;
pub mod connector;
mod context;
pub mod courses;
pub mod destination;
mod exit;
pub mod history;
pub mod interrupt;
pub mod messages;
pub mod pipeline;
pub mod progress;
pub mod warning;

pub use context::Context;
pub use exit::{Exit, Failure, exit_code_of, is_unwritable_work_dir};
pub use pipeline::RunOptions;

/// `docs/library.md`, compiled and run as doc tests so its examples stay true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/library.md")]
struct LibraryGuide;

/// The nightly patron run with `config`: the feed's lock, the extract read and mapped, every
/// user checked (errors quarantined), planned against the run state (full or delta, the
/// vanished, the brake), packaged into verified zips, delivered to `[delivery]`, and the run
/// state committed only for what arrived; `report.json` and `report.html` are written into
/// `[output] dir` whatever happens. `ctx.now` is the run's moment (`today` is its date).
pub fn nightly(
    ctx: &Context,
    config: &config::AppConfig,
    options: &RunOptions,
) -> anyhow::Result<Exit> {
    pipeline::run_with(ctx, config, options)
}
