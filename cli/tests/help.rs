//! `--help` of every subcommand, nested ones included, is a snapshot: a change to the
//! interface is a reviewed change. New subcommands are found by walking clap's tree.

use clap::CommandFactory;

use alma_sis::args::Cli;

/// Every command path with its long help: `[]`, `["run"]`, `["state", "forget"]`, ...
fn all_helps() -> Vec<(Vec<String>, String)> {
    fn walk(cmd: &mut clap::Command, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
        out.push((path.clone(), cmd.render_long_help().to_string()));
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .filter(|n| n != "help")
            .collect();
        for name in names {
            if let Some(sub) = cmd.find_subcommand_mut(&name) {
                path.push(name);
                walk(sub, path, out);
                path.pop();
            }
        }
    }
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = Vec::new();
    walk(&mut cmd, &mut Vec::new(), &mut out);
    out
}

fn snapshot_name(path: &[String]) -> String {
    std::iter::once("help".to_owned())
        .chain(path.iter().map(|p| p.replace('-', "_")))
        .collect::<Vec<_>>()
        .join("_")
}

#[test]
fn every_subcommand_help_is_a_snapshot() {
    let helps = all_helps();
    assert!(helps.len() > 9, "only {} commands found", helps.len());
    for (path, help) in helps {
        insta::assert_snapshot!(
            snapshot_name(&path),
            help,
            &format!("alma-sis {} --help", path.join(" "))
        );
    }
}

fn check_mentions(path: &[&str], expected: &[&str]) {
    let helps = all_helps();
    let help = helps
        .iter()
        .find(|(p, _)| p.iter().map(String::as_str).eq(path.iter().copied()))
        .map(|(_, h)| h)
        .unwrap_or_else(|| panic!("no command {path:?}"));
    for e in expected {
        assert!(
            help.contains(e),
            "`alma-sis {}` help lacks {e:?}:\n{help}",
            path.join(" ")
        );
    }
}

#[test]
fn the_exit_codes_and_global_options_are_in_the_help() {
    let codes = [
        "0  ok",
        "1  findings",
        "2  config or input error",
        "3  delivery failed",
        "4  brake tripped",
    ];
    check_mentions(&[], &codes);
    check_mentions(&["run"], &codes);
    for path in [&[][..], &["run"], &["check"], &["history"]] {
        check_mentions(path, &["--config", "--quiet", "--verbose", "--log-format"]);
    }
    check_mentions(&["run"], &["--dry-run", "--only", "--mode", "--force"]);
    check_mentions(&["completions"], &["bash", "zsh"]);
}
