//! Measures `Extractor`: builds it from a config and maps every person, as `alma-sis run`
//! does (tracing off).
//!
//! ```sh
//! cargo run --release -p sis-extract --example extract_bench -- CONFIG.toml [EXTRACT.csv] [--today YYYY-MM-DD] [--build-only] [--digest] [--trace]
//! ```
//!
//! `EXTRACT.csv` replaces the path of the first `[[input]]`. Prints people, rows, users,
//! the time to build the index and to map everyone, CPU time, and the peak RSS (`VmHWM`).
//! `--build-only` stops after the index; `--digest` prints a hash of every outcome (to
//! compare two builds); `--trace` maps with traces on.
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use sis_extract::{Extractor, MappingConfig};

/// The top-level tables `alma-sis` itself owns (cli/src/config.rs `CLI_SECTIONS`).
const CLI_SECTIONS: [&str; 5] = ["output", "delivery", "package", "check", "state"];

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l[field.len()..].trim().to_owned())
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 14th field.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // `rest` starts at field 3 (state), so utime (14) is index 11 and stime (15) index 12.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut config_path = None;
    let mut extract = None;
    let mut today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).ok_or("date")?;
    let (mut build_only, mut digest, mut trace) = (false, false, false);
    while let Some(arg) = args.next() {
        if arg == "--build-only" {
            build_only = true;
        } else if arg == "--digest" {
            digest = true;
        } else if arg == "--trace" {
            trace = true;
        } else if arg == "--today" {
            let v = args.next().ok_or("--today needs a date")?;
            today = chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d")?;
        } else if config_path.is_none() {
            config_path = Some(PathBuf::from(arg));
        } else {
            extract = Some(PathBuf::from(arg));
        }
    }
    let config_path =
        config_path.ok_or("usage: extract_bench CONFIG.toml [EXTRACT.csv] [--today DATE]")?;
    let text = std::fs::read_to_string(&config_path)?;
    let mut config = MappingConfig::from_toml(&text, &config_path, &CLI_SECTIONS)?;
    if let Some(path) = extract {
        config.inputs[0].path = path;
    }
    let base_dir = config_path.parent().unwrap_or(Path::new(".")).to_owned();

    let rss_before = status("VmRSS:");
    let start = Instant::now();
    let cpu0 = cpu_seconds();
    let extractor = Extractor::new(&config, &base_dir, today)?.with_trace(trace);
    let built = start.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds();
    let rss_built = status("VmRSS:");
    if build_only {
        println!(
            "index built: {built:.2} s wall, {:.2} s cpu; VmRSS {rss_before} before, {rss_built} after",
            cpu1 - cpu0
        );
        println!("rows_read {}", extractor.rows_read());
        println!("VmHWM {}", status("VmHWM:"));
        return Ok(());
    }
    let (mut people, mut rows, mut users, mut written) = (0usize, 0usize, 0usize, 0usize);
    // FNV-1a over every outcome's Debug text: equal digests, equal outcomes.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for person in extractor.people() {
        if digest {
            for b in format!("{person:?}").bytes() {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        people += 1;
        rows += person.rows.len();
        if let Some(u) = &person.user {
            users += 1;
            written += u.user.primary_id.len();
        }
    }
    let total = start.elapsed().as_secs_f64();
    let cpu2 = cpu_seconds();
    for w in extractor.warnings() {
        println!("warning: {w}");
    }
    println!("people {people}");
    if digest {
        println!("digest {hash:016x}");
    }
    println!("rows {rows} (rows_read {})", extractor.rows_read());
    println!("users {users} ({written} id bytes)");
    println!(
        "index built: {built:.2} s wall, {:.2} s cpu; VmRSS {rss_before} before, {rss_built} after",
        cpu1 - cpu0
    );
    println!(
        "mapped: {:.2} s wall, {:.2} s cpu",
        total - built,
        cpu2 - cpu1
    );
    println!("total: {total:.2} s wall, {:.2} s cpu", cpu2 - cpu0);
    println!("VmHWM {}", status("VmHWM:"));
    Ok(())
}
