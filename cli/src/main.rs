//! The `alma-sis` binary: parse, run, map the outcome to an exit code.
#![allow(clippy::print_stderr, clippy::exit)]

use std::process::ExitCode;

use alma_sis::args::{Cli, LogFormat};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_logs = cli.global.log_format == LogFormat::Json;
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
            let exit = alma_sis::exit_code_of(&err);
            if json_logs {
                // A log collector reading JSON lines gets the error as one more JSON line.
                tracing::error!(exit_code = exit.code(), "{err:#}");
            } else {
                eprintln!("error: {err}");
                for cause in err.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
            }
            exit.into()
        }
    }
}
