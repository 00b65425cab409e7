//! `alma-sis deliver`: deliver an existing zip (for example after a failed delivery) to the
//! configured destination, under its own file name.

use std::path::PathBuf;

use clap::Args;

use super::Context;
use crate::Exit;

/// Arguments of `alma-sis deliver`.
#[derive(Debug, Args)]
pub struct DeliverArgs {
    /// The zip to deliver; it keeps its file name at the destination.
    #[arg(value_name = "ZIP")]
    pub zip: PathBuf,
}

/// Runs `alma-sis deliver`.
pub fn run(ctx: &Context, args: DeliverArgs) -> anyhow::Result<Exit> {
    let config = ctx.config()?;
    let mut destination = crate::destination::build(&config.delivery)?;
    let delivered = crate::pipeline::deliver::deliver_one(destination.as_mut(), &args.zip)?;
    for stale in &delivered.stale {
        match &stale.archived_to {
            Some(to) => println!("archived         {} -> {to}", stale.name),
            None => println!(
                "still waiting    {} (not yet processed by Alma)",
                stale.name
            ),
        }
    }
    println!(
        "delivered        {} ({} bytes, sha256 {})",
        delivered.location, delivered.size, delivered.sha256
    );
    Ok(Exit::Ok)
}
