//! `alma-sis init`.

use clap::Args;

use super::Context;
use crate::Exit;

/// Arguments of `alma-sis init`.
#[derive(Debug, Args)]
pub struct InitArgs {}

/// Runs `alma-sis init`.
pub fn run(_ctx: &Context, _args: InitArgs) -> anyhow::Result<Exit> {
    Err(super::not_yet("init"))
}
