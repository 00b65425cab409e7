//! `--help` of every subcommand is a snapshot: a change to the interface is a reviewed change.

use clap::CommandFactory;

use alma_sis::args::Cli;

fn help(path: &[&str]) -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let mut sub = &mut cmd;
    for name in path {
        sub = sub
            .find_subcommand_mut(name)
            .unwrap_or_else(|| panic!("no subcommand {name}"));
    }
    sub.render_long_help().to_string()
}

#[test]
fn top_level_help() {
    insta::assert_snapshot!("help", help(&[]));
}

#[test]
fn run_help() {
    insta::assert_snapshot!("help_run", help(&["run"]));
}
