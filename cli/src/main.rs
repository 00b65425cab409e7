//! The `alma-sis` binary: parse, run, map the outcome to an exit code.
#![allow(clippy::print_stderr, clippy::exit)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = alma_sis::args::Cli::parse();
    match alma_sis::run(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            // A closed pipe (`alma-sis history | head`) is not a failure.
            if err
                .chain()
                .filter_map(|c| c.downcast_ref::<std::io::Error>())
                .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            alma_sis::exit_code_of(&err).into()
        }
    }
}
