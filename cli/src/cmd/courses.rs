//! `alma-sis courses`.

use clap::Args;

use super::Context;
use crate::Exit;

/// Arguments of `alma-sis courses`.
#[derive(Debug, Args)]
pub struct CoursesArgs {}

/// Runs `alma-sis courses`.
pub fn run(_ctx: &Context, _args: CoursesArgs) -> anyhow::Result<Exit> {
    Err(super::not_yet("courses"))
}
