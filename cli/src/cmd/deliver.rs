//! `alma-sis deliver`: deliver an existing zip (for example one a run could not deliver) to
//! the configured destination, under its own file name.
//!
//! The zip is checked first as `alma-sis check` checks it (its structure as the JDK reads it,
//! every XML entry read and validated): anything with an error is refused (exit 2), so a
//! truncated zip or a text file never reaches Alma. When the run state knows the zip (a run
//! made it and it did not arrive then), a successful delivery records its users as sent for
//! that run; a zip whose users a later run sent again is refused, as it would send older
//! records.

use std::path::{Path, PathBuf};

use alma_sis_package::check::{CheckFinding, Checker};
use alma_sis_state::FeedLock;
use alma_user_model::Severity;
use clap::Args;

use alma_sis::Context;
use alma_sis::Exit;
use alma_sis::Failure;
use alma_sis::config::AppConfig;
use alma_sis::pipeline::state::{open_existing, state_error};

/// Findings named in a refusal; the rest are counted (`alma-sis check` lists them all).
const NAMED_FINDINGS: usize = 5;

/// Arguments of `alma-sis deliver`.
#[derive(Debug, Args)]
pub struct DeliverArgs {
    /// The zip to deliver; it keeps its file name at the destination. It must pass `alma-sis
    /// check` without errors.
    #[arg(value_name = "ZIP")]
    pub zip: PathBuf,
}

/// Runs `alma-sis deliver`.
pub fn run(ctx: &Context, args: DeliverArgs) -> anyhow::Result<Exit> {
    let config = ctx.config()?;
    alma_sis::interrupt::install()?;
    let mut destination = alma_sis::destination::build(&config.delivery)?;
    check_zip(&config, &args.zip)?;
    let feed = &config.mapping.feed;
    // No run of the feed writes the state or the destination meanwhile.
    let _lock =
        FeedLock::acquire(&config.state.file(&config.output), &feed.name).map_err(state_error)?;
    let (_, sha256) = alma_sis_package::sha256_file(&args.zip).map_err(|e| {
        Failure::error(
            Exit::ConfigOrInput,
            format!("cannot read {}: {e}", args.zip.display()),
        )
    })?;
    let store = open_existing(&config)?;
    let recorded = match &store {
        Some((_, store)) => store.run_file(&sha256).map_err(state_error)?,
        None => None,
    };
    if let (Some((_, store)), Some(file)) = (&store, &recorded) {
        if file.feed != feed.name {
            return Err(Failure::error(
                Exit::ConfigOrInput,
                format!(
                    "{} was made by run {} of feed {:?}, not of {:?}: deliver it with that \
                     feed's config",
                    args.zip.display(),
                    file.run,
                    file.feed,
                    feed.name
                ),
            ));
        }
        if let Some(later) = store.superseded_by(file).map_err(state_error)? {
            return Err(Failure::error(
                Exit::ConfigOrInput,
                format!(
                    "refusing to deliver {}: it was made by run {}, and run {later} has sent its \
                     users again since; delivering it now would send Alma older records",
                    args.zip.display(),
                    file.run
                ),
            ));
        }
    }
    let family = config.package.zip_family(&feed.institution, &feed.name);
    let (delivered, folder) = alma_sis::pipeline::deliver::deliver_one(
        destination.as_mut(),
        &args.zip,
        &family,
        ctx.progress.as_ref(),
    )?;
    for temp in &folder.removed_temps {
        println!("removed          {temp} (left by an interrupted earlier delivery)");
    }
    for stale in &folder.stale {
        match &stale.archived_to {
            Some(to) => println!("archived         {} -> {to}", stale.name),
            None => println!(
                "still waiting    {} (not yet processed by Alma)",
                stale.name
            ),
        }
    }
    for other in &folder.other_files {
        println!("not a zip        {other} (Alma may load a leftover XML file: delete it)");
    }
    println!(
        "delivered        {} ({} bytes, sha256 {})",
        delivered.location, delivered.size, delivered.sha256
    );
    if let (Some((path, mut store)), Some(file)) = (store, recorded)
        && file.delivered.is_none()
    {
        let users = store
            .record_late_delivery(&file, ctx.today())
            .map_err(state_error)?;
        tracing::info!(run = %file.run, file = %file.name, users, "recorded a late delivery");
        println!(
            "recorded         {users} user(s) of run {} as sent in {}",
            file.run,
            path.display()
        );
    }
    Ok(Exit::Ok)
}

/// Refuses (exit 2) a file `alma-sis check` finds errors in, as a run refuses its own zips.
fn check_zip(config: &AppConfig, zip: &Path) -> anyhow::Result<()> {
    let options = config.check.options(&config.base_dir)?;
    let mut errors: Vec<CheckFinding> = Vec::new();
    let mut count = 0usize;
    {
        let mut sink = |f: CheckFinding| {
            if f.finding.severity == Severity::Error {
                count += 1;
                if errors.len() < NAMED_FINDINGS {
                    errors.push(f);
                }
            }
        };
        let mut checker = Checker::with_sink(&options, &mut sink);
        checker
            .check_path(zip)
            .map_err(|e| Failure::error(Exit::ConfigOrInput, format!("cannot check {e}")))?;
    }
    if count == 0 {
        return Ok(());
    }
    let mut message = format!(
        "refusing to deliver {}: it is not a zip Alma can load ({count} error(s); `alma-sis \
         check` lists them all):",
        zip.display()
    );
    for f in &errors {
        message.push_str(&format!("\n  {f}"));
    }
    Err(Failure::error(Exit::ConfigOrInput, message))
}
