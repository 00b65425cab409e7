//! `alma-sis state`.

use clap::Args;

use super::Context;
use crate::Exit;

/// Arguments of `alma-sis state`.
#[derive(Debug, Args)]
pub struct StateArgs {}

/// Runs `alma-sis state`.
pub fn run(_ctx: &Context, _args: StateArgs) -> anyhow::Result<Exit> {
    Err(super::not_yet("state"))
}
