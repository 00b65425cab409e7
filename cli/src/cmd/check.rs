//! `alma-sis check`.

use clap::Args;

use super::Context;
use crate::Exit;

/// Arguments of `alma-sis check`.
#[derive(Debug, Args)]
pub struct CheckArgs {}

/// Runs `alma-sis check`.
pub fn run(_ctx: &Context, _args: CheckArgs) -> anyhow::Result<Exit> {
    Err(super::not_yet("check"))
}
