//! `alma-sis completions <shell>`.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::Exit;
use crate::args::Cli;

/// Arguments of `alma-sis completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    pub shell: Shell,
}

/// Prints completions for the shell to stdout.
pub fn run(args: CompletionsArgs) -> anyhow::Result<Exit> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "alma-sis", &mut std::io::stdout());
    Ok(Exit::Ok)
}
