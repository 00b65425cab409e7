//! `alma-sis explain`.

use clap::Args;

use super::Context;
use crate::Exit;

/// Arguments of `alma-sis explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {}

/// Runs `alma-sis explain`.
pub fn run(_ctx: &Context, _args: ExplainArgs) -> anyhow::Result<Exit> {
    Err(super::not_yet("explain"))
}
