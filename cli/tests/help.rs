//! `--help` of every subcommand, nested ones included, is a snapshot: a change to the
//! interface is a reviewed change. New subcommands are found by walking the binary's help.

use crate::support::alma_sis;

/// Every command path with its long help, as the binary prints it for `--help`: `[]`,
/// `["run"]`, `["state", "forget"]`, ... Subcommands are found in each help's `Commands:`.
fn all_helps() -> Vec<(Vec<String>, String)> {
    fn walk(path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let output = alma_sis(std::path::Path::new("."), &args);
        assert!(output.status.success(), "alma-sis {args:?}: {output:?}");
        let help = String::from_utf8(output.stdout).expect("help is UTF-8");
        let names = subcommands(&help);
        out.push((path.clone(), help));
        for name in names {
            path.push(name);
            walk(path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(&mut Vec::new(), &mut out);
    out
}

/// The names listed under `Commands:` (each line starts with two spaces and the name; a
/// wrapped description starts with more), without `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
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
