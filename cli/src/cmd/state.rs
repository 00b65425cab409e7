//! `alma-sis state`: support tools for the run-state file.

use std::io::{ErrorKind, Write as _};
use std::path::PathBuf;

use alma_sis_state::{Claim, Owner, StateError};
use alma_user_model::match_key;
use clap::{Args, Subcommand};

use alma_sis::Context;
use alma_sis::pipeline::state::{lock_feed, open_existing, state_error};
use alma_sis::{Exit, Failure};

/// Arguments of `alma-sis state`.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: StateCommand,
}

/// The `state` subcommands.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Forget one person: the next run sends them as new (and never as vanished).
    Forget(ForgetArgs),
    /// Print every known person as JSON lines: ids, hashes, dates and status; no names.
    Export(ExportArgs),
    /// Record that the state file belongs to the config's institution and feed: once, for a
    /// file an earlier alma-sis wrote that `run` does not adopt by itself (check `alma-sis
    /// history` first). A file of another institution stays refused.
    Adopt,
}

/// Arguments of `alma-sis state forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The person's match id value: the value of the field `check.match_id` names (the
    /// primary id unless the config matches on another id), compared trimmed and ignoring
    /// case, as the run state keys people.
    #[arg(value_name = "ID")]
    pub id: String,
    /// The feed (default: the config's `feed.name`).
    #[arg(long, value_name = "NAME")]
    pub feed: Option<String>,
}

/// Arguments of `alma-sis state export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only this feed (default: every feed).
    #[arg(long, value_name = "NAME")]
    pub feed: Option<String>,
    /// Write to this file (mode 0600) instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Runs `alma-sis state`.
pub fn run(ctx: &Context, args: StateArgs) -> anyhow::Result<Exit> {
    let config = ctx.config()?;
    let Some((path, mut store)) = open_existing(&config)? else {
        return Err(Failure::error(
            Exit::ConfigOrInput,
            format!(
                "no state file at {}: no run has been recorded yet",
                config.state.file(&config.output).display()
            ),
        ));
    };
    match args.command {
        StateCommand::Forget(forget) => {
            let feed = forget
                .feed
                .unwrap_or_else(|| config.mapping.feed.name.clone());
            let _lock = lock_feed(&config, &feed)?;
            let removed = store
                .forget(Some(&feed), &match_key(&forget.id))
                .map_err(state_error)?;
            if removed == 0 {
                return Err(Failure::error(
                    Exit::ConfigOrInput,
                    format!("{:?} is not known in feed {feed:?}", forget.id),
                ));
            }
            println!(
                "forgot {:?} in feed {feed:?}: the next run sends them as new",
                forget.id
            );
        }
        StateCommand::Adopt => {
            let owner = Owner {
                institution: config.mapping.feed.institution.clone(),
                feed: config.mapping.feed.name.clone(),
            };
            let _lock = lock_feed(&config, &owner.feed)?;
            let how = match store.adopt(&owner, ctx.today()).map_err(state_error)? {
                Claim::Known => "already belongs to",
                Claim::AddedFeed => "now also holds",
                _ => "now belongs to",
            };
            println!(
                "state file {} {how} institution {:?}, feed {:?}",
                path.display(),
                owner.institution,
                owner.feed
            );
        }
        StateCommand::Export(export) => match &export.output {
            Some(file) => {
                let mut open = std::fs::OpenOptions::new();
                open.write(true).create_new(true);
                std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
                let mut out = std::io::BufWriter::new(open.open(file).map_err(|e| {
                    Failure::error(
                        Exit::ConfigOrInput,
                        format!("cannot create {}: {e}", file.display()),
                    )
                })?);
                let lines = store
                    .export(export.feed.as_deref(), &mut out)
                    .map_err(state_error)?;
                out.flush()?;
                println!("exported {lines} items to {}", file.display());
            }
            None => {
                let mut out = std::io::stdout().lock();
                match store.export(export.feed.as_deref(), &mut out) {
                    // `alma-sis state export | head` is not a failure.
                    Err(StateError::Export(e)) if e.kind() == ErrorKind::BrokenPipe => {}
                    Err(e) => return Err(state_error(e)),
                    Ok(_) => out.flush()?,
                }
            }
        },
    }
    Ok(Exit::Ok)
}
