//! `cargo xtask`: project automation.
//!
//! - `cargo xtask ci`: installs what the tests need (as root, when missing), then runs fmt,
//!   clippy, the whole test suite and the docs build, all with warnings denied.
//! - `cargo xtask fixtures`: regenerates every golden file.
//! - `cargo xtask fuzz-check [--mutants N] [--seed S]`: `alma-sis check` against the JDK on
//!   mutants of the demo's output, the real samples and made-up documents (CI runs 400).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

mod bench;
mod fuzz;
mod synthetic;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("ci") => ci(&root),
        Some("fixtures") => fixtures(&root),
        Some("bench") => bench::bench(&root, &args[1..]),
        Some("deflate-floor") => bench::deflate_floor_command(&args[1..]),
        Some("gen-extract") => synthetic::gen_extract(&synthetic::GenOptions::parse(&args[1..])?),
        Some("fuzz-check") => {
            if !fuzz::fuzz_check(&root, &fuzz::FuzzOptions::parse(&args[1..])?)? {
                std::process::exit(1);
            }
            Ok(())
        }
        _ => {
            eprintln!("usage: cargo xtask <ci|fixtures|gen-extract|bench|fuzz-check>");
            std::process::exit(2);
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_owned()
}

fn run(root: &Path, program: &str, args: &[&str], envs: &[(&str, &str)]) -> anyhow::Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root)
        .envs(envs.iter().copied())
        .status()
        .with_context(|| format!("cannot start {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed: {status}", args.join(" "));
    }
    Ok(())
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Mutants `cargo xtask ci` checks against the JDK, and their seed.
const CI_MUTANTS: usize = 400;
const CI_SEED: u64 = 24;

/// Debian packages the tests need, with a file that shows each is installed.
const PACKAGES: &[(&str, &str)] = &[
    ("openssh-server", "/usr/sbin/sshd"),
    ("libxml2-utils", "/usr/bin/xmllint"),
    ("libssl-dev", "/usr/include/openssl/ssl.h"),
    ("pkg-config", "/usr/bin/pkg-config"),
    ("unzip", "/usr/bin/unzip"),
    // `java ZipCheck.java` (single-file launch) needs the JDK's jdk.compiler module.
    (
        "openjdk-17-jdk-headless",
        "/usr/lib/jvm/java-17-openjdk-amd64/bin/javac",
    ),
    ("python3", "/usr/bin/python3"),
    ("chromium", "/usr/bin/chromium"),
];

fn install_test_tools(root: &Path) -> anyhow::Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, probe)| !Path::new(probe).exists())
        .map(|(pkg, _)| *pkg)
        .collect();
    if !missing.is_empty() {
        if !is_root() {
            bail!(
                "missing test tools: {}; install them (apt-get install -y {}) or run as root",
                missing.join(", "),
                missing.join(" ")
            );
        }
        let env = [("DEBIAN_FRONTEND", "noninteractive")];
        run(root, "apt-get", &["update", "-qq"], &env)?;
        let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
        args.extend(&missing);
        run(root, "apt-get", &args, &env)?;
    }
    if is_root() {
        std::fs::create_dir_all("/run/sshd").context("creating /run/sshd")?;
    }
    if !have("java") {
        eprintln!("note: java is not on PATH; the JDK zip check will fail");
    }
    Ok(())
}

fn ci(root: &Path) -> anyhow::Result<()> {
    install_test_tools(root)?;
    run(root, "cargo", &["fmt", "--all", "--", "--check"], &[])?;
    run(
        root,
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    run(
        root,
        "cargo",
        &["test", "--workspace"],
        &[("PROPTEST_CASES", "64"), ("ALMA_SIS_REQUIRE_SSHD", "1")],
    )?;
    run(
        root,
        "cargo",
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    // `check` against the JDK on a few hundred mutants: any file Java rejects that `check`
    // passes fails the build.
    eprintln!("$ cargo xtask fuzz-check --mutants {CI_MUTANTS} --seed {CI_SEED}");
    let options = fuzz::FuzzOptions::parse(&[
        "--mutants".into(),
        CI_MUTANTS.to_string(),
        "--seed".into(),
        CI_SEED.to_string(),
    ])?;
    if !fuzz::fuzz_check(root, &options)? {
        bail!("fuzz-check: check passed files the JDK rejects (see above)");
    }
    eprintln!("cargo xtask ci: all checks passed");
    Ok(())
}

fn fixtures(root: &Path) -> anyhow::Result<()> {
    for golden in alma_sis::fixtures::goldens(root)? {
        let path = root.join(&golden.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let current = std::fs::read(&path).ok();
        if current.as_deref() == Some(golden.contents.as_slice()) {
            eprintln!("unchanged {}", golden.path.display());
        } else {
            std::fs::write(&path, &golden.contents)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote     {}", golden.path.display());
        }
    }
    Ok(())
}
