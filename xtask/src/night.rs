//! One night of the release binary for the benchmarks: a synthetic extract in a fresh
//! directory, a config that reads it, `alma-sis run` with `--timings`, and what it reported.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::synthetic::{GenOptions, gen_extract};

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

/// Runs `alma-sis run` in `dir` on the night `now` (RFC 3339), with `envs` set, and reads
/// its timings.
pub(crate) fn run_night(
    bin: &Path,
    dir: &Path,
    config: &Path,
    (now, mode, name): (&str, &str, &str),
    envs: &[(&str, &str)],
) -> anyhow::Result<(Duration, Timings)> {
    let timings = dir.join(format!("timings-{name}.json"));
    let (wall, out) = timed(
        Command::new(bin)
            .args(["run", "--quiet", "--config"])
            .arg(config)
            .args(["--now", now, "--mode", mode, "--force", "--timings"])
            .arg(&timings)
            .envs(envs.iter().copied())
            .current_dir(dir),
    )?;
    if !out.status.success() && out.status.code() != Some(1) {
        bail!(
            "alma-sis run ({name}, {}) failed: {}",
            config.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((wall, read_timings(&timings)?))
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
