//! `alma-sis history`.

use clap::Args;

use super::Context;
use crate::Exit;

/// Arguments of `alma-sis history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {}

/// Runs `alma-sis history`.
pub fn run(_ctx: &Context, _args: HistoryArgs) -> anyhow::Result<Exit> {
    Err(super::not_yet("history"))
}
