//! `alma-sis completions <shell>`.

use alma_sis::Exit;
use clap::Args;
use clap_complete::Shell;

/// Arguments of `alma-sis completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    pub shell: Shell,
}

/// Prints completions for the shell to stdout, for the command line `cmd` (the whole of it).
pub fn run(mut cmd: clap::Command, args: CompletionsArgs) -> anyhow::Result<Exit> {
    clap_complete::generate(args.shell, &mut cmd, "alma-sis", &mut std::io::stdout());
    Ok(Exit::Ok)
}
