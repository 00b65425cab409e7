//! `docs/getting-started.md`, run as written: its shell blocks are parsed here and every
//! command is either run (the demo in a copy of this checkout, the rest on the `init`
//! sample) or skipped for a stated reason, so that the guide and this test cannot drift. A
//! command the test does not know fails it.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{alma_sis, workspace_root};

/// The clock of every command: the day the guide's sample output was made for. A command
/// that shows no `--now` gets it here, so the test does not depend on the day it runs.
const NOW: &str = "2026-11-23T04:00:00Z";

/// A fenced block of the guide: its info string, first line number and lines.
struct Block {
    lang: String,
    line: usize,
    lines: Vec<String>,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        match (open.take(), line.strip_prefix("```")) {
            (None, Some(lang)) => {
                open = Some(Block {
                    lang: lang.trim().to_owned(),
                    line: i + 1,
                    lines: Vec::new(),
                });
            }
            (Some(block), Some(_)) => blocks.push(block),
            (Some(mut block), None) => {
                block.lines.push(line.to_owned());
                open = Some(block);
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "a fenced block of the guide is not closed");
    blocks
}

/// Where a command runs: the checkout (the demo) or the directory `init` fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Checkout,
    Sample,
}

#[derive(Debug, PartialEq, Eq)]
enum Step {
    Run(Vec<String>),
    Cd(Place),
    Skip(&'static str),
}

/// Commands the test does not run, and why.
const SKIPPED: [(&str, &str); 8] = [
    (
        "sudo ",
        "root on a real machine: packages, the service account",
    ),
    ("curl ", "installs Rust"),
    (". ", "loads Rust's environment"),
    ("git clone ", "the test runs in this checkout"),
    (
        "cargo build ",
        "the test uses the binary cargo built for it",
    ),
    (
        "mkdir ",
        "SFTP key set-up (delivery tests use a local sshd)",
    ),
    (
        "ssh-keygen ",
        "SFTP key set-up (delivery tests use a local sshd)",
    ),
    ("ssh-keyscan ", "needs the real SFTP server"),
];

fn classify(command: &str) -> Step {
    let words = |rest: &str| rest.split_whitespace().map(str::to_owned).collect();
    if let Some(rest) = command.strip_prefix("cargo run --release -p alma-sis -- ") {
        return Step::Run(words(rest));
    }
    if let Some(rest) = command.strip_prefix("alma-sis ") {
        return Step::Run(words(rest));
    }
    match command {
        "cd alma-sis" => return Step::Cd(Place::Checkout),
        "cd /srv/alma-sis/patrons" => return Step::Cd(Place::Sample),
        _ => {}
    }
    for (prefix, why) in SKIPPED {
        if command.starts_with(prefix) {
            return Step::Skip(why);
        }
    }
    panic!("docs/getting-started.md runs `{command}`, which this test neither runs nor skips")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// One command the test ran, with the guide line it came from.
struct Ran {
    line: usize,
    command: String,
    out: Output,
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs every shell command of the guide in order; returns what ran.
fn follow(guide: &[Block], checkout: &Path, sample: &Path) -> Vec<Ran> {
    let mut place = Place::Checkout;
    let mut ran = Vec::new();
    for block in guide.iter().filter(|b| b.lang == "sh") {
        for (i, line) in block.lines.iter().enumerate() {
            let command = line.split(" #").next().unwrap_or("").trim();
            if command.is_empty() {
                continue;
            }
            match classify(command) {
                Step::Skip(_) => {}
                Step::Cd(to) => place = to,
                Step::Run(args) => {
                    let mut all: Vec<&str> = Vec::new();
                    if !args.iter().any(|a| a == "--now") {
                        all.extend(["--now", NOW]);
                    }
                    all.extend(args.iter().map(String::as_str));
                    let cwd = match place {
                        Place::Checkout => checkout,
                        Place::Sample => sample,
                    };
                    let out = alma_sis(cwd, &all);
                    let at = block.line + 1 + i;
                    assert_eq!(
                        out.status.code(),
                        Some(0),
                        "docs/getting-started.md:{at}: `{command}` failed\nstdout:\n{}\nstderr:\n{}",
                        stdout(&out),
                        String::from_utf8_lossy(&out.stderr)
                    );
                    ran.push(Ran {
                        line: at,
                        command: command.to_owned(),
                        out,
                    });
                }
            }
        }
    }
    ran
}

/// The ids after `explain` in `text`.
fn explained_ids(text: &str) -> Vec<String> {
    text.split("explain ")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|id| id.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_getting_started_guide_works_as_written() {
    let root = workspace_root();
    let markdown = std::fs::read_to_string(root.join("docs/getting-started.md")).unwrap();
    let guide = blocks(&markdown);
    let tmp = tempfile::tempdir().unwrap();
    let checkout = tmp.path().join("alma-sis");
    copy_dir(&root.join("examples/demo"), &checkout.join("examples/demo"));
    let sample: PathBuf = tmp.path().join("patrons");
    std::fs::create_dir(&sample).unwrap();
    let ran = follow(&guide, &checkout, &sample);

    // The demo's summary is what the guide shows, line by line ("..." stands for the rest).
    let demo = ran
        .iter()
        .find(|r| r.command.starts_with("cargo run"))
        .expect("the guide runs the demo");
    let shown = guide
        .iter()
        .find(|b| b.lang == "text" && b.line > demo.line)
        .expect("the guide shows the demo's summary");
    let printed = stdout(&demo.out);
    let mut rest = printed.lines();
    for line in shown.lines.iter().filter(|l| l.trim() != "...") {
        assert!(
            rest.any(|p| p == line),
            "docs/getting-started.md:{}: the demo no longer prints {line:?} (in this order); \
             it printed:\n{printed}",
            shown.line
        );
    }
    // A time shown in a sample output is the pinned one: the command that made it says so.
    for block in guide.iter().filter(|b| b.lang == "text") {
        if block.lines.iter().any(|l| l.contains(" at 20")) {
            let made_by = ran
                .iter()
                .rev()
                .find(|r| r.line < block.line)
                .expect("a command before the sample output");
            assert!(
                made_by.command.contains(&format!("--now {NOW}")),
                "docs/getting-started.md:{}: the sample output shows a pinned time, but \
                 `{}` has no --now",
                block.line,
                made_by.command
            );
        }
    }

    // `init`, the config it writes and the guide suggest the same person, who is loaded.
    let init = ran
        .iter()
        .find(|r| r.command == "alma-sis init")
        .expect("the guide runs `alma-sis init`");
    let config = std::fs::read_to_string(sample.join("alma-sis.toml")).unwrap();
    let header: String = config
        .lines()
        .take_while(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let in_guide: Vec<String> = ran.iter().flat_map(|r| explained_ids(&r.command)).collect();
    assert!(!in_guide.is_empty(), "the guide explains someone");
    for (who, ids) in [
        ("`alma-sis init` says", explained_ids(&stdout(&init.out))),
        ("the config's header says", explained_ids(&header)),
    ] {
        assert!(!ids.is_empty(), "{who} nothing about `explain`");
        assert_eq!(
            ids,
            [in_guide[0].clone()],
            "{who} another id than the guide"
        );
    }
    let explain = ran
        .iter()
        .find(|r| r.command.starts_with("alma-sis explain"))
        .unwrap();
    let id = &in_guide[0];
    assert!(
        stdout(&explain.out).starts_with(&format!("{id}: loaded as user {id} from 2 row(s)")),
        "{}",
        stdout(&explain.out)
    );

    // `check out/` on the work directory: its zips, and nothing about alma-sis's own files.
    let check = ran
        .iter()
        .find(|r| r.command.starts_with("alma-sis check"))
        .expect("the guide runs `alma-sis check`");
    let said = stdout(&check.out);
    assert!(
        said.contains("0 error(s) in 0 user(s), 0 warning(s)") && !said.contains("W-"),
        "{said}"
    );
    // The final run delivers the sample (to the default drop folder).
    let last = ran.last().unwrap();
    assert_eq!(last.command, "alma-sis run");
    assert!(stdout(&last.out).contains("delivered        out/drop/"));

    // The SFTP settings the guide shows are ones `[delivery]` accepts.
    let toml_blocks: Vec<&Block> = guide.iter().filter(|b| b.lang == "toml").collect();
    assert!(!toml_blocks.is_empty());
    for block in toml_blocks {
        let table: toml::Table = toml::from_str(&block.lines.join("\n"))
            .unwrap_or_else(|e| panic!("docs/getting-started.md:{}: {e}", block.line));
        let delivery = table["delivery"].clone();
        let parsed: Result<alma_sis::config::DeliveryConfig, _> = delivery.try_into();
        assert!(
            parsed.is_ok(),
            "docs/getting-started.md:{}: {parsed:?}",
            block.line
        );
    }
}

#[test]
fn an_unknown_command_in_the_guide_fails_the_test() {
    assert_eq!(
        classify("alma-sis run --dry-run"),
        Step::Run(vec!["run".into(), "--dry-run".into()])
    );
    assert_eq!(classify("cd alma-sis"), Step::Cd(Place::Checkout));
    assert!(matches!(classify("sudo apt-get update"), Step::Skip(_)));
    assert!(std::panic::catch_unwind(|| classify("rm -rf out")).is_err());
}
