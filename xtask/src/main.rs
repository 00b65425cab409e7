//! `cargo xtask`: project automation.
//!
//! - `cargo xtask ci`: installs what the tests need (as root, when missing: PostgreSQL, the
//!   PostgreSQL ODBC driver and unixODBC among them), then runs fmt, clippy, the whole test
//!   suite (the big interruption tests on a release build) and the docs build, all with
//!   warnings denied and the `odbc` feature on. This tool does not build the ODBC code itself,
//!   so it builds on a machine without unixODBC.
//! - `cargo xtask fixtures`: regenerates every golden file.
//! - `cargo xtask fuzz-check [--mutants N] [--seed S]`: `alma-sis check` against the JDK on
//!   mutants of the demo's output, the real samples and made-up documents (CI runs 400).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

mod alma_export;
mod bench;
mod bench_db;
mod corpus;
mod fixtures;
mod fuzz;
mod night;
#[cfg(test)]
mod oracle;
mod round_two;
mod synthetic;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("ci") => ci(&root),
        Some("fixtures") => fixtures(&root),
        Some("bench") => bench::bench(&root, &args[1..]),
        Some("deflate-floor") => bench::deflate_floor_command(&args[1..]),
        Some("alma-export") => alma_export::command(&args[1..]),
        Some("gen-extract") => synthetic::gen_extract(&synthetic::GenOptions::parse(&args[1..])?),
        Some("fuzz-check") => {
            if !fuzz::fuzz_check(&root, &fuzz::FuzzOptions::parse(&args[1..])?)? {
                std::process::exit(1);
            }
            Ok(())
        }
        _ => {
            eprintln!("usage: cargo xtask <ci|fixtures|gen-extract|bench [--database]|fuzz-check>");
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
    // A real SMTP server (STARTTLS, AUTH) for the email alerts' tests.
    (
        "python3-aiosmtpd",
        "/usr/lib/python3/dist-packages/aiosmtpd/__init__.py",
    ),
    ("chromium", "/usr/bin/chromium"),
    // A real PostgreSQL server for the database inputs' tests (a throwaway cluster each), the
    // `openssl` tool for its test certificates, and ODBC: unixODBC (headers and library, to
    // build and link the `odbc` feature) and the PostgreSQL ODBC driver.
    ("postgresql", "/usr/lib/postgresql/*/bin/initdb"),
    ("openssl", "/usr/bin/openssl"),
    ("unixodbc-dev", "/usr/include/sql.h"),
    ("odbc-postgresql", "/usr/lib/*/odbc/psqlodbcw.so"),
];

/// Whether `probe` exists; a `*` stands for any one directory name.
fn installed(probe: &str) -> bool {
    let Some((before, after)) = probe.split_once("/*/") else {
        return Path::new(probe).exists();
    };
    std::fs::read_dir(before).is_ok_and(|dir| {
        dir.filter_map(Result::ok)
            .any(|e| installed(&format!("{}/{after}", e.path().display())))
    })
}

/// How long apt may wait for another apt or dpkg (unattended upgrades, a parallel install)
/// to let go of its locks.
const APT_LOCK_WAIT: &str = "DPkg::Lock::Timeout=900";

/// Runs apt-get, waiting for its locks; tried again a few times when another apt held the
/// package lists (which `DPkg::Lock::Timeout` does not wait for in every apt version).
fn apt_get(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    let mut all = vec!["-o", APT_LOCK_WAIT];
    all.extend(args);
    let mut last = None;
    for attempt in 1..=10 {
        match run(root, "apt-get", &all, &env) {
            Ok(()) => return Ok(()),
            Err(e) => {
                eprintln!("apt-get failed (attempt {attempt} of 10); waiting for its locks");
                last = Some(e);
                std::thread::sleep(std::time::Duration::from_secs(15));
            }
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("apt-get failed")))
}

fn install_test_tools(root: &Path) -> anyhow::Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, probe)| !installed(probe))
        .map(|(pkg, _)| *pkg)
        .collect();
    if missing.is_empty() {
        eprintln!("  all {} are installed", PACKAGES.len());
    } else {
        eprintln!("  missing: {}", missing.join(" "));
        if !is_root() {
            bail!(
                "missing test tools: {}; install them (apt-get install -y {}) or run as root",
                missing.join(", "),
                missing.join(" ")
            );
        }
        apt_get(root, &["update", "-qq"])?;
        let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
        args.extend(&missing);
        apt_get(root, &args)?;
    }
    if is_root() {
        std::fs::create_dir_all("/run/sshd").context("creating /run/sshd")?;
    }
    if !have("java") {
        eprintln!("note: java is not on PATH; the JDK zip check will fail");
    }
    Ok(())
}

/// The features CI builds with: everything, ODBC included (this tool itself is built without
/// it, so that it builds before unixODBC is installed), and the test-only fault injection the
/// crash-consistency tests need (never in the release binary).
const FEATURES: [&str; 2] = ["--features", "alma-sis/odbc,alma-sis/fault-injection"];

/// The steps of `cargo xtask ci`, announced before each starts (a build can take minutes).
struct Steps {
    total: usize,
    done: usize,
    started: std::time::Instant,
}

impl Steps {
    fn new(total: usize) -> Steps {
        Steps {
            total,
            done: 0,
            started: std::time::Instant::now(),
        }
    }

    /// Says what starts now, then runs it and says how long it took.
    fn step<T>(&mut self, what: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        self.done += 1;
        eprintln!("==> [{}/{}] {what}…", self.done, self.total);
        let start = std::time::Instant::now();
        let out = f().with_context(|| format!("step {}/{}: {what}", self.done, self.total))?;
        eprintln!(
            "    {what}: done in {} (total {})",
            minutes(start.elapsed()),
            minutes(self.started.elapsed())
        );
        Ok(out)
    }
}

/// `42 s`, `3 min 05 s`.
fn minutes(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{secs} s")
    } else {
        format!("{} min {:02} s", secs / 60, secs % 60)
    }
}

fn ci(root: &Path) -> anyhow::Result<()> {
    let mut steps = Steps::new(7);
    steps.step(
        "installing the test packages (apt-get, waiting for its lock)",
        || install_test_tools(root),
    )?;
    steps.step("checking formatting (cargo fmt)", || {
        run(root, "cargo", &["fmt", "--all", "--", "--check"], &[])
    })?;
    let with = |args: &[&'static str], tail: &[&'static str]| -> Vec<&'static str> {
        args.iter().chain(&FEATURES).chain(tail).copied().collect()
    };
    steps.step("building and linting everything (cargo clippy)", || {
        run(
            root,
            "cargo",
            &with(
                &["clippy", "--workspace", "--all-targets"],
                &["--", "-D", "warnings"],
            ),
            &[],
        )
    })?;
    // The interruption tests run a 300,000-row extract: on the release binary, in seconds.
    steps.step("building the release binary for the big tests", || {
        run(
            root,
            "cargo",
            &["build", "--release", "-p", "alma-sis"],
            &[],
        )
    })?;
    let release = night::target_dir(root).join("release/alma-sis");
    let release = release.to_string_lossy();
    steps.step("building and running every test (cargo test)", || {
        run(
            root,
            "cargo",
            &with(&["test", "--workspace"], &[]),
            &[
                ("PROPTEST_CASES", "64"),
                ("ALMA_SIS_REQUIRE_SSHD", "1"),
                ("ALMA_SIS_REQUIRE_POSTGRES", "1"),
                ("ALMA_SIS_BIN", &release),
            ],
        )
    })?;
    steps.step("building the docs (cargo doc)", || {
        run(
            root,
            "cargo",
            &with(&["doc", "--workspace", "--no-deps"], &[]),
            &[("RUSTDOCFLAGS", "-D warnings")],
        )
    })?;
    // `check` against the JDK on a few hundred mutants: any file Java rejects that `check`
    // passes fails the build.
    steps.step(
        &format!("checking {CI_MUTANTS} mutated zips against the JDK (fuzz-check)"),
        || {
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
            Ok(())
        },
    )?;
    eprintln!(
        "cargo xtask ci: all checks passed in {}",
        minutes(steps.started.elapsed())
    );
    Ok(())
}

fn fixtures(root: &Path) -> anyhow::Result<()> {
    for golden in fixtures::goldens(root)? {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_times_read_as_minutes_and_seconds() {
        assert_eq!(minutes(std::time::Duration::from_secs(42)), "42 s");
        assert_eq!(minutes(std::time::Duration::from_secs(185)), "3 min 05 s");
    }

    #[test]
    fn a_failed_step_is_named_in_the_error() {
        let mut steps = Steps::new(2);
        steps.step("first", || Ok(())).unwrap();
        let err = steps
            .step("second", || -> anyhow::Result<()> { bail!("boom") })
            .unwrap_err();
        assert_eq!(format!("{err:#}"), "step 2/2: second: boom");
    }
}
