//! One module per subcommand, each with its clap arguments and a `run` function that takes
//! the [`alma_sis::Context`] `main` made.

pub mod check;
pub mod completions;
pub mod courses;
pub mod deliver;
pub mod explain;
pub mod history;
pub mod init;
pub mod plan;
pub mod run;
pub mod state;
