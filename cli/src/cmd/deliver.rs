//! `alma-sis deliver`.

use clap::Args;

use super::Context;
use crate::Exit;

/// Arguments of `alma-sis deliver`.
#[derive(Debug, Args)]
pub struct DeliverArgs {}

/// Runs `alma-sis deliver`.
pub fn run(_ctx: &Context, _args: DeliverArgs) -> anyhow::Result<Exit> {
    Err(super::not_yet("deliver"))
}
