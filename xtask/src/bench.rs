//! `cargo xtask bench`: the full patron path on synthetic extracts, in full and delta mode,
//! with the deflate floor to compare against.
//!
//! For each size it generates an extract (`gen-extract`, seed 42) and runs the release binary
//! `alma-sis run` three nights in a row on the same input: a first full load that seeds the
//! run state, then the measured nightly full load, then the measured nightly delta load
//! (nothing changed). It then runs `alma-sis check` on what the measured full load wrote, and
//! deflates the same XML bytes alone with the same backend and level. `--database` compares
//! the full run from the CSV file with the same run from a PostgreSQL query instead (see
//! `bench_db`). Stage times and peak RSS come from the binary's
//! `--timings` file.
//!
//! Then it compares encodings: the same people written with 1 % of their rows in
//! windows-1252 and 0.5 % decoded twice upstream (`gen-extract --cp1252 10
//! --double-encoded 5`), against their twin in plain UTF-8 (`--as-utf8`), each a first full
//! run on a fresh state, five times in turn; the median of the five pairwise ratios of wall
//! and of CPU time is compared (target: the mixed extract at most 5 % slower), which holds
//! on a shared machine whose speed drifts. `--encodings` runs only this comparison.
//!
//! `--plan` measures `alma-sis plan` instead of the delta run, the check and the floor: after
//! the measured full run, an Alma export is made from its zips (`alma-export`) and planned
//! against, and both are compared with the full run.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::synthetic::{GenOptions, gen_extract};

/// Options of `bench`.
struct BenchOptions {
    sizes: Vec<u64>,
    /// Only the comparison of encodings.
    encodings_only: bool,
    /// `--database`: the CSV run against the same run from a PostgreSQL query.
    database: bool,
    /// `--plan`: the plan against an export instead of the delta run, check and floor.
    plan: bool,
}

fn parse(args: &[String]) -> anyhow::Result<BenchOptions> {
    let mut options = BenchOptions {
        sizes: vec![100_000, 1_000_000],
        encodings_only: false,
        database: false,
        plan: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rows" => {
                let list = it
                    .next()
                    .context("--rows needs a value, e.g. 100000,1000000")?;
                options.sizes = list
                    .split(',')
                    .map(|n| n.trim().parse().context("--rows takes numbers"))
                    .collect::<anyhow::Result<_>>()?;
            }
            "--encodings" => options.encodings_only = true,
            "--database" => options.database = true,
            "--plan" => options.plan = true,
            other => bail!(
                "unknown option {other:?}; usage: cargo xtask bench [--rows N,M] [--encodings] \
                 [--database] [--plan]"
            ),
        }
    }
    Ok(options)
}

/// What one `alma-sis run` reported about itself.
#[derive(Debug, Default)]
pub(crate) struct Timings {
    pub stages: Vec<(String, f64)>,
    pub peak_rss_kib: u64,
    pub users: u64,
}

pub(crate) fn read_timings(path: &Path) -> anyhow::Result<Timings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading timings {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)?;
    let mut t = Timings::default();
    if let Some(stages) = value["stages"].as_array() {
        for s in stages {
            t.stages.push((
                s["stage"].as_str().unwrap_or("?").to_owned(),
                s["seconds"].as_f64().unwrap_or(0.0),
            ));
        }
    }
    t.peak_rss_kib = value["peak_rss_kib"].as_u64().unwrap_or(0);
    t.users = value["users_written"].as_u64().unwrap_or(0);
    Ok(t)
}

pub(crate) fn timed(cmd: &mut Command) -> anyhow::Result<(Duration, std::process::Output)> {
    let start = Instant::now();
    let out = cmd.output().context("starting alma-sis")?;
    Ok((start.elapsed(), out))
}

/// Runs the benchmark and prints every figure.
pub fn bench(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let options = parse(args)?;
    let status = Command::new("cargo")
        .args(["build", "--release", "-p", "alma-sis"])
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("release build failed");
    }
    let target = target_dir(root);
    let bin = target.join("release/alma-sis");
    if options.database {
        return crate::bench_db::bench_database(root, &bin, &options.sizes);
    }
    let demo_config = root.join("examples/demo/alma-sis.toml");
    println!("alma-sis benchmark (2-core figures are what CI machines have)");
    for &rows in &options.sizes {
        if options.encodings_only {
            encodings(
                &bin,
                &demo_config,
                &target.join(format!("bench/{rows}-encodings")),
                rows,
            )?;
            continue;
        }
        let (dir, extract) = fresh_extract(&target.join(format!("bench/{rows}")), rows)?;
        let config = write_bench_config(&demo_config, &dir, &extract)?;

        let run = |now: &str, mode: &str, name: &str| -> anyhow::Result<(Duration, Timings)> {
            let timings = dir.join(format!("timings-{name}.json"));
            let (wall, out) = timed(
                Command::new(&bin)
                    .args(["run", "--quiet", "--config"])
                    .arg(&config)
                    .args(["--now", now, "--mode", mode, "--force", "--timings"])
                    .arg(&timings)
                    .current_dir(&dir),
            )?;
            if !out.status.success() && out.status.code() != Some(1) {
                bail!(
                    "alma-sis run ({name}) failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok((wall, read_timings(&timings)?))
        };
        // Night 1 seeds the run state; nights 2 and 3 are the steady state being compared:
        // a nightly full load and a nightly delta load over the same, unchanged extract.
        run("2026-11-22T04:00:00Z", "full", "initial")?;
        let (full_wall, full) = run("2026-11-23T04:00:00Z", "full", "full")?;
        if options.plan {
            plan(root, &bin, &dir, &config, rows, full_wall, &full)?;
            continue;
        }
        let (delta_wall, delta) = run("2026-11-24T04:00:00Z", "delta", "delta")?;

        let zips = zips_in(&dir.join("out/drop"), "20261123")?;
        let (check_wall, _) = timed(Command::new(&bin).arg("check").args(&zips))?;
        let xml_len = xml_of(&zips)?.len();
        let floor = floor_in_release(root, &zips)?;

        let rows_f = rows as f64;
        let mb = xml_len as f64 / 1e6;
        println!();
        println!(
            "== {rows} rows ({} users written, {:.1} MB of XML)",
            full.users, mb
        );
        println!(
            "full run    {:>8.2} s  {:>10.0} rows/s  {:>7.1} MB/s XML  peak RSS {:>6.1} MB",
            full_wall.as_secs_f64(),
            rows_f / full_wall.as_secs_f64(),
            mb / full_wall.as_secs_f64(),
            full.peak_rss_kib as f64 / 1024.0
        );
        for (stage, secs) in &full.stages {
            println!("  {stage:<12} {secs:>8.2} s");
        }
        println!(
            "delta run   {:>8.2} s  {:>10.0} rows/s  ({:.0}% of full)  peak RSS {:>6.1} MB",
            delta_wall.as_secs_f64(),
            rows_f / delta_wall.as_secs_f64(),
            100.0 * delta_wall.as_secs_f64() / full_wall.as_secs_f64(),
            delta.peak_rss_kib as f64 / 1024.0
        );
        for (stage, secs) in &delta.stages {
            println!("  {stage:<12} {secs:>8.2} s");
        }
        println!(
            "check       {:>8.2} s  ({:.0}% of the full run)",
            check_wall.as_secs_f64(),
            100.0 * check_wall.as_secs_f64() / full_wall.as_secs_f64()
        );
        println!(
            "deflate floor {:>6.2} s  ({:.1} MB/s); full run = {:.2} x floor",
            floor.as_secs_f64(),
            mb / floor.as_secs_f64(),
            full_wall.as_secs_f64() / floor.as_secs_f64()
        );
        let peak_mb = full.peak_rss_kib.max(delta.peak_rss_kib) as f64 / 1024.0;
        let targets = [
            (
                "full run within 1.5x the deflate floor",
                format!("{:.2}x", full_wall.as_secs_f64() / floor.as_secs_f64()),
                full_wall.as_secs_f64() <= 1.5 * floor.as_secs_f64(),
            ),
            (
                "peak RSS at most 100 MB",
                format!("{peak_mb:.1} MB"),
                peak_mb <= 100.0,
            ),
            (
                "delta run at most half a full run",
                format!(
                    "{:.0}%",
                    100.0 * delta_wall.as_secs_f64() / full_wall.as_secs_f64()
                ),
                delta_wall.as_secs_f64() <= 0.5 * full_wall.as_secs_f64(),
            ),
            (
                "check no slower than writing (the full run)",
                format!(
                    "{:.2} s vs {:.2} s",
                    check_wall.as_secs_f64(),
                    full_wall.as_secs_f64()
                ),
                check_wall <= full_wall,
            ),
        ];
        println!("targets (issue 11):");
        for (target, value, met) in targets {
            let verdict = if met { "met" } else { "NOT met" };
            println!("  {target:<46} {value:>20}  {verdict}");
        }
        encodings(
            &bin,
            &demo_config,
            &target.join(format!("bench/{rows}-encodings")),
            rows,
        )?;
    }
    Ok(())
}

/// `--plan`: an Alma export made from the measured full run's zips (`alma-export`: as many
/// users as extract rows, some drifted), then `alma-sis plan` against it on the same day,
/// compared with the full run (time and peak RSS: issue 20 allows twice each).
fn plan(
    root: &Path,
    bin: &Path,
    dir: &Path,
    config: &Path,
    rows: u64,
    full_wall: Duration,
    full: &Timings,
) -> anyhow::Result<()> {
    let zips = zips_in(&dir.join("out/drop"), "20261123")?;
    let export = dir.join("alma_export_users");
    let extra = rows.saturating_sub(full.users);
    let out = xtask_in_release(root)
        .arg("alma-export")
        .args(["--extra", &extra.to_string(), "--out"])
        .arg(&export)
        .args(&zips)
        .output()?;
    if !out.status.success() {
        bail!(
            "alma-export failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let made = String::from_utf8_lossy(&out.stdout).into_owned();
    let export_bytes = std::fs::metadata(&export)?.len();
    let timings = dir.join("timings-plan.json");
    let (wall, out) = timed(
        Command::new(bin)
            .args(["plan", "--quiet", "--config"])
            .arg(config)
            .args(["--now", "2026-11-23T05:00:00Z", "--alma-export"])
            .arg(&export)
            .arg("--timings")
            .arg(&timings)
            .current_dir(dir),
    )?;
    if !out.status.success() && out.status.code() != Some(1) {
        bail!(
            "alma-sis plan failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&timings)?;
    let value: serde_json::Value = serde_json::from_str(&text)?;
    let peak = value["peak_rss_kib"].as_u64().unwrap_or(0) as f64 / 1024.0;
    let full_peak = full.peak_rss_kib as f64 / 1024.0;
    let index_mb = value["index_bytes"].as_u64().unwrap_or(0) as f64 / 1e6;
    let fields: Vec<&str> = made.split_whitespace().collect();
    println!();
    println!(
        "== plan: {} extract rows ({} users) against an export of {} users ({:.1} MB: {} \
         from the run's zips, of them drifted expiry/note/internal {}/{}/{}; {} only in Alma)",
        rows,
        full.users,
        fields.first().unwrap_or(&"?"),
        export_bytes as f64 / 1e6,
        fields.get(1).unwrap_or(&"?"),
        fields.get(2).unwrap_or(&"?"),
        fields.get(3).unwrap_or(&"?"),
        fields.get(4).unwrap_or(&"?"),
        fields.get(5).unwrap_or(&"?"),
    );
    println!(
        "full run    {:>8.2} s  peak RSS {:>6.1} MB",
        full_wall.as_secs_f64(),
        full_peak
    );
    println!(
        "plan        {:>8.2} s  peak RSS {:>6.1} MB  (export index {index_mb:.1} MB)",
        wall.as_secs_f64(),
        peak
    );
    if let Some(stages) = value["stages"].as_array() {
        for s in stages {
            println!(
                "  {:<12} {:>8.2} s",
                s["stage"].as_str().unwrap_or("?"),
                s["seconds"].as_f64().unwrap_or(0.0)
            );
        }
    }
    let ratio = wall.as_secs_f64() / full_wall.as_secs_f64();
    let targets = [
        (
            "plan at most 2x a full run's time",
            format!("{ratio:.2}x"),
            ratio <= 2.0,
        ),
        (
            "plan peak RSS at most 2x a full run's",
            format!("{:.2}x", peak / full_peak.max(1.0)),
            peak <= 2.0 * full_peak,
        ),
    ];
    println!("targets (issue 20):");
    for (target, value, met) in targets {
        let verdict = if met { "met" } else { "NOT met" };
        println!("  {target:<46} {value:>20}  {verdict}");
    }
    Ok(())
}

/// An empty `dir` with the synthetic extract of `rows` rows (seed 42) in it: the directory
/// and the extract's path.
pub(crate) fn fresh_extract(dir: &Path, rows: u64) -> anyhow::Result<(PathBuf, PathBuf)> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let extract = dir.join("people.csv");
    gen_extract(&GenOptions {
        rows,
        seed: 42,
        out: Some(extract.clone()),
        ..GenOptions::default()
    })?;
    Ok((dir.to_owned(), extract))
}

/// Compares a full run on an extract with 1 % windows-1252 rows and 0.5 % rows decoded twice
/// with the same extract in plain UTF-8: five first runs of each, in turn, on fresh states.
fn encodings(bin: &Path, demo_config: &Path, dir: &Path, rows: u64) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let mut configs = Vec::new();
    for (name, as_utf8) in [("mixed", false), ("utf8", true)] {
        let extract = dir.join(format!("{name}.csv"));
        gen_extract(&GenOptions {
            rows,
            seed: 42,
            messy: false,
            cp1252: 10,
            double_encoded: 5,
            as_utf8,
            out: Some(extract.clone()),
            ..GenOptions::default()
        })?;
        let site = dir.join(name);
        std::fs::create_dir_all(&site)?;
        let config = write_bench_config(demo_config, &site, &extract)?;
        // The fallback for the rows that need it, and people with text decoded twice loaded
        // as they are, so that both runs write the same users.
        let mut table: toml::Table = toml::from_str(&std::fs::read_to_string(&config)?)?;
        if let Some(first) = table
            .get_mut("input")
            .and_then(|v| v.as_array_mut())
            .and_then(|a| a.first_mut())
            .and_then(|v| v.as_table_mut())
        {
            first.insert(
                "encoding".into(),
                toml::Value::String("windows-1252".into()),
            );
        }
        let mut text = toml::Table::new();
        text.insert("mojibake".into(), toml::Value::String("warn".into()));
        table.insert("text".into(), toml::Value::Table(text));
        std::fs::write(&config, toml::to_string(&table)?)?;
        configs.push((name, site, config));
    }
    const ROUNDS: usize = 5;
    let mut walls = [Vec::new(), Vec::new()];
    let mut cpus = [Vec::new(), Vec::new()];
    let mut users = [0, 0];
    for round in 0..ROUNDS {
        for (i, (name, site, config)) in configs.iter().enumerate() {
            let out_dir = site.join("out");
            if out_dir.exists() {
                std::fs::remove_dir_all(&out_dir)?;
            }
            let timings = site.join(format!("timings-{round}.json"));
            let cpu_before = children_cpu_seconds();
            let (wall, out) = timed(
                Command::new(bin)
                    .args(["run", "--quiet", "--config"])
                    .arg(config)
                    .args(["--now", "2026-11-23T04:00:00Z", "--timings"])
                    .arg(&timings)
                    .current_dir(site),
            )?;
            if !out.status.success() && out.status.code() != Some(1) {
                bail!(
                    "alma-sis run ({name}) failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            users[i] = read_timings(&timings)?.users;
            walls[i].push(wall.as_secs_f64());
            cpus[i].push(children_cpu_seconds() - cpu_before);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratio = |pairs: &[Vec<f64>; 2]| {
        median(pairs[0].iter().zip(&pairs[1]).map(|(a, b)| a / b).collect())
    };
    println!();
    println!(
        "== encodings, {rows} rows (1 % windows-1252, 0.5 % decoded twice; {ROUNDS} runs each, in turn)"
    );
    for (i, name) in ["mixed encodings", "plain UTF-8"].iter().enumerate() {
        println!(
            "{name:<15} {:>8.2} s wall  {:>8.2} s CPU  (medians; {} users)",
            median(walls[i].clone()),
            median(cpus[i].clone()),
            users[i]
        );
    }
    for (what, r) in [("wall", ratio(&walls)), ("CPU", ratio(&cpus))] {
        let verdict = if r <= 1.05 { "met" } else { "NOT met" };
        println!(
            "  {:<46} {:>20}  {verdict}",
            format!("mixed at most 5 % slower ({what}, median ratio)"),
            format!("{:+.1} %", (r - 1.0) * 100.0)
        );
    }
    Ok(())
}

/// CPU seconds (user and system) of this process's finished children, from `/proc` (Linux;
/// 0 elsewhere). `/proc` counts in clock ticks, 100 a second on Linux.
fn children_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name (in parentheses), cutime and cstime are the 14th and 15th
    // fields.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(13) + ticks(14)) / 100.0
}

/// Where cargo builds: `CARGO_TARGET_DIR` when set (xtask is a build tool and may read it),
/// else the workspace's `target`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

pub(crate) fn write_bench_config(
    demo: &Path,
    dir: &Path,
    extract: &Path,
) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(demo)?;
    let mut table: toml::Table = toml::from_str(&text)?;
    let inputs = table
        .get_mut("input")
        .and_then(|v| v.as_array_mut())
        .context("the demo config has no [[input]]")?;
    if let Some(first) = inputs.first_mut().and_then(|v| v.as_table_mut()) {
        first.insert(
            "path".into(),
            toml::Value::String(extract.display().to_string()),
        );
    }
    // Side tables of the demo (term calendars, code tables) stay where the demo has them.
    rebase_relative_paths(&mut table, demo.parent().unwrap_or(Path::new(".")));
    let mut section = |name: &str, key: &str, value: PathBuf| {
        let entry = table
            .entry(name.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(t) = entry.as_table_mut() {
            t.insert(key.into(), toml::Value::String(value.display().to_string()));
        }
    };
    section("output", "dir", dir.join("out"));
    section("delivery", "drop_folder", dir.join("out/drop"));
    let path = dir.join("bench.toml");
    let mut file = std::fs::File::create(&path)?;
    file.write_all(toml::to_string(&table)?.as_bytes())?;
    Ok(path)
}

/// Makes `*_file`/`*path` string values relative to the demo folder absolute, so the
/// bench config (written elsewhere) still finds the demo's side files.
fn rebase_relative_paths(table: &mut toml::Table, base: &Path) {
    for (key, value) in table.iter_mut() {
        match value {
            toml::Value::String(s)
                if (key.ends_with("_file") || key == "path" || key.ends_with("_path"))
                    && !s.is_empty()
                    && Path::new(s.as_str()).is_relative() =>
            {
                *s = base.join(&*s).display().to_string();
            }
            toml::Value::Table(t) => rebase_relative_paths(t, base),
            toml::Value::Array(items) => {
                for item in items {
                    if let toml::Value::Table(t) = item {
                        rebase_relative_paths(t, base);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The zips in `dir` whose names carry the run stamp `stamp`.
fn zips_in(dir: &Path, stamp: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut zips: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .filter(|p| p.to_string_lossy().contains(stamp))
        .collect();
    zips.sort();
    if zips.is_empty() {
        bail!("the full run delivered no zip into {}", dir.display());
    }
    Ok(zips)
}

fn xml_of(zips: &[PathBuf]) -> anyhow::Result<Vec<u8>> {
    let mut xml = Vec::new();
    for path in zips {
        let mut archive = zip::ZipArchive::new(std::fs::File::open(path)?)?;
        for i in 0..archive.len() {
            archive.by_index(i)?.read_to_end(&mut xml)?;
        }
    }
    Ok(xml)
}

/// `cargo run --release -p xtask --`: what must run at full speed (`cargo xtask` itself is a
/// debug build).
fn xtask_in_release(root: &Path) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.args(["run", "--quiet", "--release", "-p", "xtask", "--"])
        .current_dir(root);
    cmd
}

/// Measures the deflate floor in an optimized build of this tool (`cargo xtask` itself is a
/// debug build, whose deflate is many times slower than the packager's).
fn floor_in_release(root: &Path, zips: &[PathBuf]) -> anyhow::Result<Duration> {
    let out = xtask_in_release(root)
        .arg("deflate-floor")
        .args(zips)
        .output()?;
    if !out.status.success() {
        bail!(
            "deflate-floor failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let secs: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("deflate-floor prints seconds")?;
    Ok(Duration::from_secs_f64(secs))
}

/// `cargo xtask deflate-floor <zip>...`: prints the seconds it takes to deflate the zips'
/// XML alone (run by `bench` in a release build).
pub fn deflate_floor_command(args: &[String]) -> anyhow::Result<()> {
    let zips: Vec<PathBuf> = args.iter().map(PathBuf::from).collect();
    let xml = xml_of(&zips)?;
    println!("{}", deflate_floor(&xml)?.as_secs_f64());
    Ok(())
}

/// Deflates the bytes alone, single-threaded, with the same backend and level as the
/// packager (the zip crate's default deflate level on zlib-rs).
fn deflate_floor(xml: &[u8]) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::with_capacity(xml.len() / 8)));
    let options =
        zip::write::SimpleFileOptions::DEFAULT.compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("floor.xml", options)?;
    zip.write_all(xml)?;
    zip.finish()?;
    Ok(start.elapsed())
}
