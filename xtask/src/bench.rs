//! `cargo xtask bench`: the full patron path on synthetic extracts, measured against issue
//! 25's targets (see `round_two`).
//!
//! For each size and each extract shape (`demo`: the demo's 24 columns; `college`: a
//! student-and-faculty college with 22 columns, many optional, `xtask/bench/college.toml`) it
//! generates the extract (`gen-extract`, seed 42) and runs the release binary `alma-sis run`
//! four nights in a row: a first full load on an empty state, the nightly full load, a delta
//! with nothing changed, and a delta with 1 % of people changed (`gen-extract --changed 10`).
//! It then runs `alma-sis check` on what the nightly full load wrote, and compresses the same
//! XML with `pigz -p 2` at the packager's level (the floor; pigz is installed with apt-get when
//! missing and this runs as root) and with zlib-rs on one thread. Stage times and peak RSS
//! come from the binary's `--timings` file (the check's peak RSS from `/proc`), the state's
//! size from its file. Every figure is printed as a ratio against its target, with a verdict,
//! and `--json FILE` writes them all.
//!
//! A single run's ratio moves by 10-25 % on a shared VM whose speed drifts over minutes.
//! `--pairs N` measures the time ratios again from N pairs, each run next to its own reference
//! (first load and floor, full run and floor, `check` and the deltas against that full run;
//! the order alternating), and adds each one's median as a verdict of its own (see
//! [`paired`]).
//!
//! `--database` compares the full run from the CSV file with the same run from a PostgreSQL
//! query instead (see `bench_db`).
//!
//! Then it compares encodings (unless `--no-encodings`): the same people written with 1 % of
//! their rows in windows-1252 and 0.5 % decoded twice upstream (`gen-extract --cp1252 10
//! --double-encoded 5`), against their twin in plain UTF-8 (`--as-utf8`), each a first full
//! run on a fresh state, five times in turn; the median of the five pairwise ratios of wall
//! and of CPU time is compared (target: the mixed extract at most 5 % slower), which holds
//! on a shared machine whose speed drifts. `--encodings` runs only this comparison.
//!
//! `--plan` measures `alma-sis plan` instead: after a nightly full run on the demo shape, an
//! Alma export is made from its zips (`alma-export`) and planned against, and both are
//! compared with the full run.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::night::{
    Timings, fresh_extract, read_timings, run_night, target_dir, timed, write_bench_config,
};
use crate::round_two::{self, Mode, ModeFigures, ShapeFigures};
use crate::synthetic::{GenOptions, Shape, gen_extract};

/// Options of `bench`.
#[derive(Debug)]
struct BenchOptions {
    sizes: Vec<u64>,
    /// Only the comparison of encodings.
    encodings_only: bool,
    /// `--database`: the CSV run against the same run from a PostgreSQL query.
    database: bool,
    /// `--plan`: the plan against an export instead of the delta run, check and floor.
    plan: bool,
    /// `--shape`: the extract shapes measured (both by default).
    shapes: Vec<Shape>,
    /// `--json FILE`: every figure and verdict, for later runs to compare with.
    json: Option<PathBuf>,
    /// The comparison of encodings after the shapes (`--no-encodings` turns it off).
    encodings: bool,
    /// `--pairs N`: the time ratios again from N alternating pairs (see [`paired`]).
    pairs: usize,
}

fn parse(args: &[String]) -> anyhow::Result<BenchOptions> {
    let mut options = BenchOptions {
        sizes: vec![100_000, 1_000_000],
        encodings_only: false,
        database: false,
        plan: false,
        shapes: Shape::ALL.to_vec(),
        json: None,
        encodings: true,
        pairs: 0,
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
            "--no-encodings" => options.encodings = false,
            "--shape" => {
                let list = it.next().context("--shape needs a value: demo, college")?;
                options.shapes = list
                    .split(',')
                    .map(|s| Shape::parse(s.trim()))
                    .collect::<anyhow::Result<_>>()?;
            }
            "--json" => {
                options.json = Some(PathBuf::from(
                    it.next().context("--json needs a file name")?,
                ));
            }
            "--pairs" => {
                options.pairs = it
                    .next()
                    .context("--pairs needs a number, e.g. 3")?
                    .parse()
                    .context("--pairs takes a number")?;
            }
            "--database" => options.database = true,
            "--plan" => options.plan = true,
            other => bail!(
                "unknown option {other:?}; usage: cargo xtask bench [--rows N,M] \
                 [--shape demo,college] [--json FILE] [--pairs N] [--no-encodings] \
                 [--encodings] [--database] [--plan]"
            ),
        }
    }
    Ok(options)
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
    let pigz = if options.encodings_only || options.plan {
        false
    } else {
        ensure_pigz(root)
    };
    if options.pairs > 0 && !pigz {
        eprintln!("--pairs: no pairs are measured without pigz (their reference is its floor)");
    }
    let mut measured = Vec::new();
    for &rows in &options.sizes {
        if options.plan {
            plan_night(root, &bin, &demo_config, &target, rows)?;
            continue;
        }
        let shapes = if options.encodings_only {
            &[][..]
        } else {
            &options.shapes
        };
        for &shape in shapes {
            let pairs = if pigz { options.pairs } else { 0 };
            let figures = round_two(root, &bin, &target, (shape, rows, pairs), pigz)?;
            println!();
            print!("{}", round_two::report(&figures));
            measured.push(figures);
            if let Some(path) = &options.json {
                write_json(path, &measured)?;
            }
        }
        if options.encodings || options.encodings_only {
            encodings(
                &bin,
                &demo_config,
                &target.join(format!("bench/{rows}-encodings")),
                rows,
            )?;
        }
    }
    if let Some(path) = &options.json {
        println!();
        println!("figures written to {}", path.display());
    }
    Ok(())
}

fn write_json(path: &Path, measured: &[ShapeFigures]) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(&round_two::to_json(measured))?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// Whether `pigz` is there for the floor: installed with apt-get when missing and this runs
/// as root; else the bench says the floor is not measured.
fn ensure_pigz(root: &Path) -> bool {
    if crate::have("pigz") {
        return true;
    }
    if crate::is_root() {
        eprintln!("pigz is missing: installing it for the compression floor");
        let installed = crate::apt_get(root, &["update", "-qq"]).and_then(|()| {
            crate::apt_get(
                root,
                &["install", "-y", "-qq", "--no-install-recommends", "pigz"],
            )
        });
        if let Err(e) = installed {
            eprintln!("could not install pigz: {e:#}");
        }
    }
    let there = crate::have("pigz");
    if !there {
        eprintln!(
            "pigz is not installed (apt-get install pigz): the floor and the ratios against it \
             are not measured"
        );
    }
    there
}

/// Issue 25's round for one shape at one size: a first load on an empty state, the nightly
/// full run, a delta with nothing changed, a delta with 1 % of people changed, `check` on the
/// full run's zips, and the floor (the same XML through pigz, and zlib-rs on one thread).
fn round_two(
    root: &Path,
    bin: &Path,
    target: &Path,
    (shape, rows, pairs): (Shape, u64, usize),
    pigz: bool,
) -> anyhow::Result<ShapeFigures> {
    let dir = target.join(format!("bench/{rows}-{}", shape.name()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let (config_source, file) = match shape {
        Shape::Demo => (root.join("examples/demo/alma-sis.toml"), "people.csv"),
        Shape::College => (root.join("xtask/bench/college.toml"), "college.csv"),
    };
    let extract = dir.join(file);
    let changed = dir.join(format!("changed-{file}"));
    for (out, changed) in [(&extract, 0), (&changed, 10)] {
        gen_extract(&GenOptions {
            shape,
            rows,
            seed: 42,
            changed,
            out: Some(out.clone()),
            ..GenOptions::default()
        })?;
    }
    let config = write_bench_config(&config_source, &dir, &extract)?;
    let state = dir.join("out/alma-sis-state.sqlite");
    let first_state = dir.join("state-after-first-load");
    let mut paired = None;
    let mut modes = Vec::new();
    for (mode, now, run_mode) in NIGHTS {
        if mode == Mode::DeltaChanged {
            std::fs::rename(&changed, &extract)?;
        }
        let (wall, t) = run_night(bin, &dir, &config, (now, run_mode, mode.key()), &[])?;
        modes.push(ModeFigures {
            mode,
            seconds: wall.as_secs_f64(),
            peak_rss_kib: t.peak_rss_kib,
            state_bytes: Some(state_bytes(&state)),
            users_written: t.users,
            stages: round_two::qualified_stages(t.stages),
        });
        // The pairs run on the extract of the first two nights, before the deltas change it.
        if pairs > 0 && mode == Mode::FirstLoad {
            copy_state(&state, &first_state)?;
        }
        if pairs > 0 && mode == Mode::Full {
            let zips = zips_in(&dir.join("out/drop"), "20261123")?;
            let inputs = (first_state.as_path(), extract.as_path(), changed.as_path());
            paired = Some(self::paired(bin, (&dir, &config), inputs, &zips, pairs)?);
        }
    }
    let zips = zips_in(&dir.join("out/drop"), "20261123")?;
    let (check_wall, check_rss) = timed_with_peak_rss(
        Command::new(bin).arg("check").args(&zips),
        &dir.join("check-stderr.txt"),
    )?;
    modes.push(ModeFigures {
        mode: Mode::Check,
        seconds: check_wall.as_secs_f64(),
        peak_rss_kib: check_rss,
        state_bytes: None,
        users_written: 0,
        stages: Vec::new(),
    });
    let xml = dir.join("floor.xml");
    let xml_bytes = {
        let bytes = xml_of(&zips)?;
        std::fs::write(&xml, &bytes)?;
        bytes.len() as u64
    };
    let pigz_seconds = if pigz {
        Some(pigz_floor(&xml)?.as_secs_f64())
    } else {
        None
    };
    std::fs::remove_file(&xml)?;
    let zlib_rs_seconds = Some(floor_in_release(root, &zips)?.as_secs_f64());
    let users = modes
        .iter()
        .find(|m| m.mode == Mode::Full)
        .map_or(0, |m| m.users_written);
    Ok(ShapeFigures {
        shape: shape.name(),
        rows,
        users,
        xml_bytes,
        modes,
        pigz_seconds,
        zlib_rs_seconds,
        paired,
    })
}

/// The round's nights, in order: the mode measured, `--now` and `--mode`.
const NIGHTS: [(Mode, &str, &str); 4] = [
    (Mode::FirstLoad, "2026-11-22T04:00:00Z", "full"),
    (Mode::Full, "2026-11-23T04:00:00Z", "full"),
    (Mode::DeltaUnchanged, "2026-11-24T04:00:00Z", "delta"),
    (Mode::DeltaChanged, "2026-11-25T04:00:00Z", "delta"),
];

/// [`NIGHTS`]' night of `mode` as [`run_night`] takes it, under the run name `name`.
fn night_of(mode: Mode, name: &str) -> (&'static str, &'static str, &str) {
    let (_, now, run_mode) = NIGHTS
        .into_iter()
        .find(|n| n.0 == mode)
        .expect("every night's mode is in NIGHTS");
    (now, run_mode, name)
}

/// The write-ahead log of the SQLite file `db`.
fn wal(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push("-wal");
    PathBuf::from(s)
}

/// The run-state file `from` and its write-ahead log, copied to `to` (and `to`'s log).
fn copy_state(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    if wal(from).exists() {
        std::fs::copy(wal(from), wal(to))?;
    } else if wal(to).exists() {
        std::fs::remove_file(wal(to))?;
    }
    Ok(())
}

/// `--pairs N`: the time ratios measured again, each run next to its own reference, N times.
/// A pair is a first load on an empty state and the pigz floor, then a full run on a copy of
/// `first_state` (the state the round's first load left) and the floor, then `check` on that
/// run's zips and the two deltas on the state it left (nothing changed, then `extract`
/// replaced by `changed` for the night), whose reference is that full run. Odd pairs take
/// the floor first. The floor compresses the XML of `zips` (the round's nightly full run, the
/// same bytes). The runs take the round's own config (another would be another raw-row hash
/// basis, which a run pays for by dropping the recorded ones), in the round's `out`, which is
/// kept aside meanwhile and put back after.
fn paired(
    bin: &Path,
    (dir, config): (&Path, &Path),
    inputs: (&Path, &Path, &Path),
    zips: &[PathBuf],
    pairs: usize,
) -> anyhow::Result<round_two::Paired> {
    let xml = dir.join("pair-floor.xml");
    std::fs::write(&xml, xml_of(zips)?)?;
    let out = dir.join("out");
    let kept = dir.join("out-of-the-round");
    std::fs::rename(&out, &kept)?;
    let measured = measure_pairs(bin, (dir, config), inputs, &xml, pairs);
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    std::fs::rename(&kept, &out)?;
    std::fs::remove_file(&xml)?;
    measured
}

/// [`paired`]'s runs, in `dir/out`; `xml` is the floor's input.
fn measure_pairs(
    bin: &Path,
    (dir, config): (&Path, &Path),
    (first_state, extract, changed): (&Path, &Path, &Path),
    xml: &Path,
    pairs: usize,
) -> anyhow::Result<round_two::Paired> {
    let out = dir.join("out");
    let night = |mode: Mode, name: &str| -> anyhow::Result<f64> {
        let (wall, _) = run_night(bin, dir, config, night_of(mode, name), &[])?;
        Ok(wall.as_secs_f64())
    };
    // A full-mode night on a fresh `out` holding a copy of `state` (none: an empty state).
    let fresh = |mode: Mode, name: &str, state: Option<&Path>| -> anyhow::Result<f64> {
        if out.exists() {
            std::fs::remove_dir_all(&out)?;
        }
        std::fs::create_dir_all(out.join("drop"))?;
        if let Some(state) = state {
            copy_state(state, &out.join("alma-sis-state.sqlite"))?;
        }
        night(mode, name)
    };
    let floor = || pigz_floor(xml).map(|d| d.as_secs_f64());
    // `run` over the floor, the floor taken first when `floor_first`; also `run`'s seconds.
    let over_floor = |floor_first: bool, run: &dyn Fn() -> anyhow::Result<f64>| {
        let (run, floor) = if floor_first {
            let floor = floor()?;
            (run()?, floor)
        } else {
            (run()?, floor()?)
        };
        anyhow::Ok((run / floor, run))
    };
    let mut p = round_two::Paired::default();
    for i in 0..pairs {
        eprintln!("pair {} of {pairs}", i + 1);
        let floor_first = i % 2 == 1;
        let (first, _) = over_floor(floor_first, &|| fresh(Mode::FirstLoad, "pair-first", None))?;
        p.first_load.push(first);
        let (ratio, full) = over_floor(floor_first, &|| {
            fresh(Mode::Full, "pair-full", Some(first_state))
        })?;
        p.full.push(ratio);
        let full_zips = zips_in(&out.join("drop"), "20261123")?;
        let (check, _) = timed_with_peak_rss(
            Command::new(bin).arg("check").args(&full_zips),
            &dir.join("pair-check-stderr.txt"),
        )?;
        p.check.push(check.as_secs_f64() / full);
        // The round's two deltas on the state this full run left, against this full run.
        p.delta_unchanged
            .push(night(Mode::DeltaUnchanged, "pair-delta")? / full);
        let kept = dir.join("pair-extract-kept");
        std::fs::rename(extract, &kept)?;
        // The round's extract is put back whatever happens to the night.
        let changed_night = std::fs::copy(changed, extract)
            .map_err(anyhow::Error::from)
            .and_then(|_| night(Mode::DeltaChanged, "pair-delta-changed"));
        std::fs::rename(&kept, extract)?;
        p.delta_changed.push(changed_night? / full);
    }
    Ok(p)
}

/// The state file and its write-ahead log, in bytes.
fn state_bytes(state: &Path) -> u64 {
    let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    len(state) + len(&wal(state))
}

/// `pigz -p 2 -<level>` over `xml` (just written, so in the page cache), output discarded.
fn pigz_floor(xml: &Path) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let status = Command::new("pigz")
        .args(["-p", "2", &format!("-{}", round_two::PACKAGER_LEVEL), "-c"])
        .arg(xml)
        .stdout(std::process::Stdio::null())
        .status()
        .context("starting pigz")?;
    let elapsed = start.elapsed();
    if !status.success() {
        bail!("pigz failed: {status}");
    }
    Ok(elapsed)
}

/// Runs `cmd` (stdout discarded, stderr into `stderr_file`) and returns its wall time and
/// peak RSS (`VmHWM`, read from `/proc` every 10 ms while it runs: a peak in its last 10 ms
/// can be missed; 0 where there is no `/proc`).
fn timed_with_peak_rss(cmd: &mut Command, stderr_file: &Path) -> anyhow::Result<(Duration, u64)> {
    let start = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(stderr_file)?)
        .spawn()
        .context("starting alma-sis")?;
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut peak = 0;
    let status = loop {
        if let Some(hwm) = std::fs::read_to_string(&status_file)
            .ok()
            .as_deref()
            .and_then(vm_hwm_kib)
        {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    if !status.success() {
        let err = std::fs::read_to_string(stderr_file).unwrap_or_default();
        bail!("alma-sis check failed ({status}): {err}");
    }
    Ok((elapsed, peak))
}

/// The `VmHWM` line of `/proc/<pid>/status`, in KiB.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// `--plan`: a seeding night and the measured nightly full run on the demo shape, then the
/// plan against an export of it.
fn plan_night(
    root: &Path,
    bin: &Path,
    demo_config: &Path,
    target: &Path,
    rows: u64,
) -> anyhow::Result<()> {
    let (dir, extract) = fresh_extract(&target.join(format!("bench/{rows}")), rows)?;
    let config = write_bench_config(demo_config, &dir, &extract)?;
    let night = |now, name| run_night(bin, &dir, &config, (now, "full", name), &[]);
    night("2026-11-22T04:00:00Z", "initial")?;
    let (full_wall, full) = night("2026-11-23T04:00:00Z", "full")?;
    plan(root, bin, &dir, &config, rows, full_wall, &full)
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
    let median = |v: Vec<f64>| round_two::median(&v).unwrap_or(f64::NAN);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_rss_is_read_from_the_vm_hwm_line() {
        let status =
            "Name:\talma-sis\nVmPeak:\t  200000 kB\nVmHWM:\t   51234 kB\nVmRSS:\t 40000 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(51_234));
        assert_eq!(vm_hwm_kib("Name:\tzombie\n"), None);
    }

    #[test]
    fn bench_options_name_shapes_and_a_json_file() {
        let args: Vec<String> = ["--rows", "2000", "--shape", "college", "--json", "b.json"]
            .map(String::from)
            .to_vec();
        let options = parse(&args).unwrap();
        assert_eq!(options.sizes, [2000]);
        assert_eq!(options.shapes, [Shape::College]);
        assert_eq!(options.json.as_deref(), Some(Path::new("b.json")));
        assert!(options.encodings);
        let both = parse(&["--no-encodings".to_owned()]).unwrap();
        assert_eq!(both.shapes, Shape::ALL);
        assert!(!both.encodings);
        let err = parse(&["--shape".to_owned(), "campus".to_owned()]).unwrap_err();
        assert!(format!("{err:#}").contains("demo and college"), "{err:#}");
    }

    /// Runs `alma-sis run` in this process and returns its report.
    fn run_in_process(config: &Path, out: &Path, now: &str, mode: &str) -> serde_json::Value {
        let ctx = alma_sis::Context::pinned(
            chrono::DateTime::parse_from_rfc3339(now).expect("an RFC 3339 time"),
            config,
        );
        let mode = match mode {
            "delta" => alma_sis::config::Mode::Delta,
            _ => alma_sis::config::Mode::Full,
        };
        let options = alma_sis::RunOptions {
            mode: Some(mode),
            ..alma_sis::RunOptions::default()
        };
        let exit = alma_sis::pipeline::run(&ctx, &options).expect("the run");
        assert_eq!(exit.code(), 0, "{exit:?}");
        let stamp = now.replace(['-', ':', 'T', 'Z'], "");
        let report = std::fs::read_dir(out)
            .expect("the work directory")
            .map(|e| e.expect("an entry").path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.contains(&stamp) && name.ends_with(".report.json")
            })
            .expect("the report");
        serde_json::from_str(&std::fs::read_to_string(report).expect("the report")).expect("JSON")
    }

    /// Person id -> that person's rows, as text.
    fn people(csv: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
        let mut reader = csv::Reader::from_path(csv).expect("the extract");
        let mut people: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for record in reader.records() {
            let record = record.expect("a row");
            let row: Vec<&str> = record.iter().collect();
            people
                .entry(row[0].to_owned())
                .or_default()
                .push(row.join("\u{1f}"));
        }
        people
    }

    /// The bench's college night on a small extract: every person is loaded by
    /// `xtask/bench/college.toml`, and the "1 % changed" delta sends exactly the people whose
    /// rows differ (found here by comparing the two extracts).
    #[test]
    fn the_college_config_loads_everyone_and_the_changed_night_sends_the_changed() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let extract = dir.path().join("college.csv");
        let changed = dir.path().join("changed.csv");
        for (out, changed) in [(&extract, 0), (&changed, 10)] {
            gen_extract(&GenOptions {
                shape: Shape::College,
                rows: 3000,
                seed: 42,
                changed,
                out: Some(out.clone()),
                ..GenOptions::default()
            })
            .expect("generate");
        }
        let before = people(&extract);
        let after = people(&changed);
        let differ = before
            .iter()
            .filter(|(id, rows)| after[*id] != **rows)
            .count();
        assert!(differ > 10, "{differ} people changed");

        let config =
            write_bench_config(&root.join("xtask/bench/college.toml"), dir.path(), &extract)
                .expect("the bench config");
        let out = dir.path().join("out");
        let first = run_in_process(&config, &out, "2026-11-22T04:00:00Z", "full");
        assert_eq!(
            first["counts"]["rows_rejected"], 0,
            "{}",
            first["rejected_by_code"]
        );
        assert_eq!(first["counts"]["users_written"], before.len());
        std::fs::rename(&changed, &extract).expect("the changed extract");
        let delta = run_in_process(&config, &out, "2026-11-23T04:00:00Z", "delta");
        assert_eq!(delta["counts"]["users_written"], differ);
        assert_eq!(delta["counts"]["users_vanished"], 0);
    }
}
