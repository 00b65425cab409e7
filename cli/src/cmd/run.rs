//! `alma-sis run`: extract, map, check, package, deliver.

use std::path::PathBuf;

use alma_user_model::render_user;
use anyhow::Context as _;
use clap::{Args, ValueEnum};
use sftp_deliver::{Destination, DropFolder};
use sis_extract::{Decision, RowOutcome};

use super::Context;
use crate::exit::{Exit, Failure};

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
    pub mode: Option<Mode>,
    /// Deliver even when the brake would stop an implausible extract.
    #[arg(long)]
    pub force: bool,
}

/// Load modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Send everyone eligible.
    Full,
    /// Send new and changed users only.
    Delta,
}

/// The counts a run reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Input rows read.
    pub rows_read: usize,
    /// Rows that became (part of) a written user.
    pub rows_written: usize,
    /// Users written.
    pub users_written: usize,
    /// Rows dropped by an eligibility rule.
    pub rows_filtered: usize,
    /// Rows rejected.
    pub rows_rejected: usize,
}

/// Runs the patron pipeline.
pub fn run(ctx: &Context, args: RunArgs) -> anyhow::Result<Exit> {
    let config = ctx.config()?;
    let today = ctx.today();
    let mut extraction = sis_extract::extract(&config.mapping, &config.base_dir, today)
        .map_err(|e| Failure::error(Exit::ConfigOrInput, e.to_string()))?;
    for warning in &extraction.warnings {
        tracing::warn!("{warning}");
    }
    if !args.only.is_empty() {
        extraction
            .users
            .retain(|u| args.only.iter().any(|id| id == &u.user.primary_id));
    }

    // Quarantine users that cannot be written as valid XML; the rest still load.
    let mut scratch = Vec::new();
    let mut users = Vec::with_capacity(extraction.users.len());
    for mapped in extraction.users {
        scratch.clear();
        match render_user(&mapped.user, &mut scratch) {
            Ok(()) => users.push(mapped.user),
            Err(err) => {
                tracing::warn!(primary_id = %mapped.user.primary_id, "user rejected: {err}");
                for outcome in extraction.rows.iter_mut() {
                    if matches!(&outcome.decision, Decision::Written { primary_id } if *primary_id == mapped.user.primary_id)
                    {
                        outcome.decision = Decision::Rejected {
                            errors: vec![err.to_string()],
                        };
                    }
                }
            }
        }
    }
    let counts = count(&extraction.rows, users.len());

    let feed = &config.mapping.feed;
    let stem = format!("{}_{}_{}", feed.institution, feed.name, ctx.stamp());
    let work_dir: PathBuf = config.output.dir.clone();
    let comment = format!(
        "alma-sis {} config-sha256 {}",
        env!("CARGO_PKG_VERSION"),
        config.hash
    );
    let packaged = alma_sis_package::write_zip(&work_dir, &stem, Some(comment), &users)
        .with_context(|| format!("packaging into {}", work_dir.display()))?;
    tracing::info!(file = %packaged.path.display(), users = packaged.users, "packaged");

    let delivered = if args.dry_run {
        None
    } else {
        let mut destination = DropFolder::new(&config.delivery.drop_folder);
        let file_name = format!("{stem}.zip");
        let delivered = destination
            .deliver(&packaged.path, &file_name)
            .map_err(|e| Failure::error(Exit::DeliveryFailed, format!("delivery failed: {e}")))?;
        Some((destination.describe(), delivered))
    };

    println!("alma-sis run {}", config.mapping.feed.name);
    println!("  rows read        {:>7}", counts.rows_read);
    println!(
        "  users written    {:>7}  (from {} rows)",
        counts.users_written, counts.rows_written
    );
    println!("  rows filtered    {:>7}", counts.rows_filtered);
    println!("  rows rejected    {:>7}", counts.rows_rejected);
    println!("  package          {}", packaged.path.display());
    match delivered {
        Some((to, d)) => println!("  delivered        {} ({})", d.location, to),
        None => println!("  delivered        nothing (--dry-run)"),
    }
    Ok(Exit::Ok)
}

fn count(rows: &[RowOutcome], users_written: usize) -> Counts {
    let mut c = Counts {
        rows_read: rows.len(),
        users_written,
        ..Counts::default()
    };
    for r in rows {
        match r.decision {
            Decision::Written { .. } => c.rows_written += 1,
            Decision::Filtered { .. } => c.rows_filtered += 1,
            Decision::Rejected { .. } => c.rows_rejected += 1,
        }
    }
    c
}
