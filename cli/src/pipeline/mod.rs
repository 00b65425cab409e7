//! The patron pipeline behind `alma-sis run`: the feed's lock is taken and the run state gives
//! the run its id (which names every file the run writes); the inputs are indexed (`read`),
//! then one streaming pass takes every person through mapping (`extract`), checks
//! (`quarantine`), the run state (`state`: full or delta) and packaging (`package`); after it
//! come the vanished people and the brake, then the zips are published and delivered
//! (`deliver`), the run is recorded with exactly what arrived, and the report written
//! (`report`, `finish`). A user lives only while it passes. SIGINT and SIGTERM stop the run
//! at the next safe point once the caller installed `crate::interrupt` (the binary does).
//!
//! The modules import one way: `mod.rs` (the stages in order) -> `finish` -> `alerts` ->
//! the stages (`pass`, `plan_report` -> `plan` -> `quarantine`, `state`, `deliver`,
//! `package`, `extract`) -> `report` (`Run` and `RunReport`) -> `trend`, `options`, `page`.

pub mod alerts;
pub mod deliver;
pub mod extract;
mod fault;
mod finish;
pub mod options;
pub mod package;
pub mod page;
pub mod pass;
pub mod plan;
pub mod plan_report;
pub mod quarantine;
pub mod report;
pub mod state;
pub mod trend;

use anyhow::Context as _;

pub use options::RunOptions;
pub use report::Run;

use crate::config::AppConfig;
use crate::context::Context;
use crate::exit::{Exit, Failure};

/// What a stage that failed says on its line.
fn stopped<T>(outcome: &anyhow::Result<T>, done: impl FnOnce(&T) -> String) -> Option<String> {
    Some(match outcome {
        Ok(value) => done(value),
        Err(_) => "stopped (see the error below)".to_owned(),
    })
}

/// Runs the whole pipeline with the config file of `ctx`.
pub fn run(ctx: &Context, args: &RunOptions) -> anyhow::Result<Exit> {
    let config = ctx.config()?;
    run_with(ctx, &config, args)
}

/// Runs the whole pipeline with a config the caller loaded (and may have changed, e.g. its
/// `[output]` or `[delivery]`): extract, check, plan, package, deliver, and the run state
/// committed after delivery; the report files are written whatever happens. Returns the exit
/// status the binary would give (an `Err` carries its own: `alma_sis::exit_code_of`).
pub fn run_with(ctx: &Context, config: &AppConfig, args: &RunOptions) -> anyhow::Result<Exit> {
    let feed = &config.mapping.feed;
    let stem = format!("{}_{}_{}", feed.institution, feed.name, ctx.stamp());
    let mut run = Run {
        ctx,
        args,
        config,
        today: ctx.today(),
        stem,
        run_id: None,
        destination: None,
        report: report::RunReport::default(),
        timings: Vec::new(),
        xml_bytes: 0,
        people: (0, 0),
        started: std::time::Instant::now(),
    };
    for warning in &config.warnings {
        run.report.warn(crate::warning::CONFIG_MODE, warning);
    }
    let outcome = stages(&mut run).map_err(|e| nothing_delivered(&run, e));
    // The report comes first: a timings file that cannot be written must not cost it.
    let exit = finish::finish(&mut run, outcome);
    if let Some(path) = &args.timings {
        write_timings(&run, path)?;
    }
    exit
}

/// Exit 1 (the rest is still delivered) when more rows were rejected than `[check]
/// max_rejected_percent` allows.
fn settle_reject_threshold(run: &mut Run<'_>) {
    let counts = run.report.row_counts();
    let limit = run.config.check.max_rejected_percent;
    if counts.read > 0 && counts.rejected as f64 * 100.0 / counts.read as f64 > limit {
        tracing::warn!(
            rejected = counts.rejected,
            read = counts.read,
            "more than {limit}% of the rows were rejected"
        );
        run.report.exit = Exit::Findings;
        run.report.rejects_over_threshold = true;
    }
}

/// Stage times, users and XML bytes written, and the process's peak RSS, as JSON.
fn write_timings(run: &Run<'_>, path: &std::path::Path) -> anyhow::Result<()> {
    let json = serde_json::json!({
        "stages": stages_json(&run.timings),
        "users_written": run.report.users_written,
        "xml_bytes": run.xml_bytes,
        "people_mapped": run.people.0,
        "people_skipped": run.people.1,
        "peak_rss_kib": peak_rss_kib(),
    });
    std::fs::write(path, serde_json::to_vec_pretty(&json)?)
        .map_err(|e| anyhow::anyhow!("cannot write timings {}: {e}", path.display()))
}

/// Stage times as JSON: `[{"stage", "seconds"}]`.
pub fn stages_json(timings: &[(&str, std::time::Duration)]) -> Vec<serde_json::Value> {
    timings
        .iter()
        .map(|(stage, d)| serde_json::json!({ "stage": stage, "seconds": d.as_secs_f64() }))
        .collect()
}

/// The process's peak resident set size (Linux `VmHWM`), 0 where unknown.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// An interruption before delivery says so in its one line.
fn nothing_delivered(run: &Run<'_>, e: anyhow::Error) -> anyhow::Error {
    let interrupted = matches!(
        crate::exit::exit_code_of(&e),
        Exit::Interrupted | Exit::Terminated
    );
    if interrupted && run.report.delivery.is_none() {
        let exit = crate::exit::exit_code_of(&e);
        let what = if run.args.dry_run {
            "nothing is delivered in a dry run"
        } else {
            "nothing was delivered"
        };
        return Failure::error(
            exit,
            format!("{e:#}: {what}; the run state is as the last finished run left it"),
        );
    }
    e
}

/// The stages in order; the report is written whatever they return.
fn stages(run: &mut Run<'_>) -> anyhow::Result<()> {
    // Nothing is written through a link at the work directory's name.
    run.config.output.ensure_dir()?;
    // Two runs of one feed never overlap: the lock is held from here until recorded.
    let _lock = state::lock(run)?;
    let mut opened = state::open(run)?;
    // The run state's id makes every name this run writes its own.
    run.run_id = Some(opened.run_id);
    run.stem = format!("{}_r{}", run.stem, opened.run_id);
    match started(run, &mut opened) {
        Ok(()) => Ok(()),
        Err(Stop::Recorded(e)) => Err(e),
        Err(Stop::Unrecorded(e)) => {
            if let Err(record) = state::record_failure(run, &mut opened, &e) {
                tracing::error!("{record:#}");
            }
            Err(e)
        }
    }
}

/// From the run's record in the run state on: leftovers, the destination, the extract, the
/// pass and what follows.
fn started(run: &mut Run<'_>, opened: &mut state::Opened) -> Result<(), Stop> {
    package::remove_leftovers(run);
    if !run.args.dry_run {
        let destination =
            crate::destination::build(&run.config.delivery).map_err(Stop::Unrecorded)?;
        run.destination = Some(destination);
    }
    crate::interrupt::check("starting").map_err(Stop::Unrecorded)?;
    // A delta that may skip people hashes each person's rows as it reads them, so that those
    // the run state has unchanged need not be read again.
    let hash_rows = opened.mode == crate::config::Mode::Delta
        && run.args.only.is_empty()
        && !run.args.map_everyone;
    // The run state's items are read on another thread meanwhile: both take a while and
    // neither needs the other. In a delta this holds the items' raw-row hashes and the
    // extract's at once: at a million people 3 to 9 MB above reading one after the other,
    // still below the pass's own peak when anyone changed.
    let preload_options = state::plan_options(run, opened.mode, opened.partial);
    let feed = run.config.mapping.feed.name.clone();
    let today = run.today;
    let store = &mut opened.store;
    let (extractor, preloaded) = std::thread::scope(|scope| {
        let items = scope.spawn(move || store.preload(&feed, &preload_options, today));
        let extractor = run.timed_as(
            "read",
            |run| extract::open(run, hash_rows),
            |read| {
                stopped(read, |extractor| {
                    format!(
                        "{} rows",
                        crate::progress::count(extractor.rows_read() as u64)
                    )
                })
            },
        );
        let preloaded = items
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (extractor, preloaded)
    });
    let mut extractor = extractor.map_err(Stop::Unrecorded)?;
    let preloaded = preloaded.map_err(|e| Stop::Unrecorded(state::state_error(e)))?;
    run.report.inputs = extractor.inputs();
    if run.report.extract_incomplete() {
        tracing::warn!(
            unreadable_rows = run.report.unreadable_rows(),
            "the extract did not read cleanly: no one is treated as vanished in this run"
        );
        run.report.exit = Exit::Findings;
        // Nobody vanishes from an extract that was not read whole: the run is partial.
        if !opened.partial {
            opened
                .store
                .mark_partial(opened.run_id)
                .map_err(|e| Stop::Unrecorded(state::state_error(e)))?;
            opened.partial = true;
        }
    }
    if fault::at("stop-after-read") {
        // Tests change an input here: the process stops itself until it is continued.
        fault::stop();
    }
    crate::interrupt::check("reading the extract").map_err(Stop::Unrecorded)?;
    let check_options = run
        .config
        .check
        .options(&run.config.base_dir)
        .map_err(Stop::Unrecorded)?;
    let plan_failures = if run.args.plan_against.is_empty() {
        None
    } else {
        let failures = run
            .timed("alma plan", |run| {
                plan_report::before_run(run, &extractor, &check_options)
            })
            .map_err(Stop::Unrecorded)?;
        crate::interrupt::check("planning against Alma's export").map_err(Stop::Unrecorded)?;
        Some(failures)
    };
    planned(
        run,
        &mut extractor,
        &check_options,
        opened,
        (plan_failures, preloaded),
    )
}

/// Why a run stopped, and whether the run state already knows.
enum Stop {
    /// The run's outcome is recorded.
    Recorded(anyhow::Error),
    /// Stopped before the run had a plan: record it as failed.
    Unrecorded(anyhow::Error),
}

/// The pass, the plan and what follows it; records the run's outcome once there is a plan.
fn planned(
    run: &mut Run<'_>,
    extractor: &mut sis_extract::Extractor<'_>,
    check_options: &alma_sis_package::check::CheckOptions,
    opened: &mut state::Opened,
    (plan_failures, preloaded): (
        Option<quarantine::PlanFailures>,
        Option<alma_sis_state::Preloaded>,
    ),
) -> Result<(), Stop> {
    use alma_sis_state::RunOutcome;

    let state::Opened {
        store,
        run_id,
        baseline,
        mode,
        partial,
    } = opened;
    let (run_id, mode, partial) = (*run_id, *mode, *partial);
    let options = state::plan_options(run, mode, partial);
    let supplements = state::supplements(run);
    let rejects_path = run
        .config
        .output
        .dir
        .join(format!("{}.rejects.csv", run.stem));
    let mut quarantine = quarantine::Quarantine::new(check_options, rejects_path);
    quarantine.reserve(extractor.people_count());
    if let Some(failures) = plan_failures {
        quarantine.plan_failures(failures);
    }
    let mut packager = package::packager(run).map_err(Stop::Unrecorded)?;
    let feed = run.config.mapping.feed.name.clone();
    let mut planner = store
        .planner_preloaded(&feed, &options, run.today, preloaded)
        .map_err(|e| Stop::Unrecorded(state::state_error(e)))?;
    if planner.rekeyed() > 0 {
        tracing::warn!(
            items = planner.rekeyed(),
            match_id = %run.config.check.match_id,
            "the run state now knows people by check.match_id: items moved from the id they \
             were recorded under (kept only if this run is delivered)"
        );
    }
    let purge = state::purge_policy(run.config);
    run.report.purge_floor = Some((purge.floor(None, run.today), purge.minimum_days));
    planner.set_purge_policy(purge);
    planner
        .set_purge_basis(&state::purge_basis(run.config))
        .map_err(|e| Stop::Unrecorded(state::state_error(e)))?;
    planner
        .set_raw_basis(&state::raw_basis(run.config))
        .map_err(|e| Stop::Unrecorded(state::state_error(e)))?;
    // `--only` and `--map-everyone` map everyone they take.
    let probe = planner.skip_probe();
    let probe = if run.args.only.is_empty() && !run.args.map_everyone {
        probe
    } else {
        probe.without_skipping()
    };
    let packer = planner.payload_packer();

    let start = std::time::Instant::now();
    // Whom the run state has with the same rows is decided here, from the hashes taken while
    // reading: their rows are not read again, their items not looked up again, and the
    // items' raw-row hashes are no longer needed.
    let mut probed = Vec::new();
    let probe = if probe.active() && extractor.has_raw_hashes() {
        // On two threads where there are two cores: the probes only read the index.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
        probed = extractor
            .settle_skips_batched(threads, |people| probe.probe_all(people))
            .unwrap_or_default();
        drop(probe);
        planner.forget_raw_hashes();
        planner.skip_probe()
    } else {
        extractor.drop_raw_hashes();
        probe
    };
    let settled = start.elapsed();
    let extractor: &sis_extract::Extractor<'_> = extractor;
    let bar = run
        .ctx
        .progress
        .rows(extractor.rows_read() as u64, "mapping and checking");
    let (passed, busy, (only_seen, only_unsent), sent) = {
        let mut pass = pass::Pass::new(
            &mut run.report,
            &mut quarantine,
            &mut planner,
            &mut packager,
            &run.args.only,
            &supplements,
        );
        pass.progress = bar.clone();
        pass.probe = Some(probe);
        pass.packer = Some(packer);
        pass.probed = probed.into_iter();
        let passed = pass.run(extractor);
        run.people = (pass.mapped, pass.planner.skipped());
        (
            passed,
            pass.busy,
            (
                std::mem::take(&mut pass.only_seen),
                std::mem::take(&mut pass.only_unsent),
            ),
            pass.sent,
        )
    };
    let what = if passed.is_ok() {
        format!(
            "{} rows, {} users to send",
            crate::progress::count(bar.position()),
            crate::progress::count(sent)
        )
    } else {
        "stopped (see the error below)".to_owned()
    };
    run.ctx
        .progress
        .done(&bar, &what, crate::progress::Unit::Rows);
    run.timings.push(("pass", start.elapsed()));
    for (step, time) in [
        ("  settle", settled),
        ("  map", busy.map),
        ("  check", busy.check),
        ("  serialize", busy.serialize),
        ("  state", busy.state),
        ("  package", busy.package),
    ] {
        run.timings.push((step, time));
    }
    if let Err(e) = passed {
        // An unfinished reject file is a partial file: it goes with the run.
        quarantine.discard();
        return Err(Stop::Unrecorded(e));
    }
    // Nothing is packaged from an input that changed while it was read.
    extractor
        .verify_unchanged()
        .map_err(|e| Stop::Unrecorded(Failure::error(Exit::ConfigOrInput, e.to_string())))?;
    let unknown: Vec<&str> = run
        .args
        .only
        .iter()
        .filter(|id| !only_seen.contains(id.as_str()))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(Stop::Unrecorded(Failure::error(
            Exit::ConfigOrInput,
            format!(
                "--only: {} is neither a key nor a primary id in the extract; nothing was \
                 sent. Give the ids of people in the extract (`alma-sis explain ID` shows what \
                 it holds for one)",
                unknown.join(", ")
            ),
        )));
    }
    for (id, why) in only_unsent {
        run.report.warnings.push(format!(
            "{}: --only {id}: {why}; nothing is sent for them (`alma-sis explain {id}` traces \
             them through every rule)",
            crate::warning::ONLY_NOT_SENT
        ));
    }
    let rejected = quarantine.rejected;
    let will_fail = quarantine.will_fail;
    let rejects = quarantine.finish().map_err(Stop::Unrecorded)?;
    settle_reject_threshold(run);
    crate::interrupt::check("reading the extract").map_err(Stop::Unrecorded)?;
    let plan = run
        .timed("plan", |_| planner.finish())
        .map_err(|e| Stop::Unrecorded(state::state_error(e)))?;
    state::report_plan(run, baseline.as_ref(), mode, partial, &plan);

    // From here on the plan's writes are open: every way out records the run's outcome.
    let refuse =
        |run: &Run<'_>, plan: alma_sis_state::PlannedRun<'_>, outcome, error: anyhow::Error| {
            let end = state::run_end(run, outcome, plan.counts, Some(format!("{error:#}")));
            match plan.abandon(run_id, &end) {
                Ok(()) => Stop::Recorded(error),
                Err(e) => Stop::Recorded(state::state_error(e).context(format!("{error:#}"))),
            }
        };
    if run.args.strict && rejected > 0 {
        let listed = rejects.map(|p| p.display().to_string()).unwrap_or_default();
        let in_alma = if will_fail > 0 {
            format!(", {will_fail} of them because they will fail in Alma (--plan-against)")
        } else {
            String::new()
        };
        let error = Failure::error(
            Exit::Findings,
            format!(
                "--strict: {rejected} user(s) have error-level findings{in_alma} (listed in \
                 {listed}); nothing was packaged"
            ),
        );
        drop(packager);
        return Err(refuse(run, plan, RunOutcome::Failed, error));
    }
    if let Err(message) = state::brake(run, &plan, baseline.as_ref()) {
        drop(packager);
        let error = Failure::error(Exit::BrakeTripped, message);
        return Err(refuse(run, plan, RunOutcome::Refused, error));
    }
    let sent = run.timed_as(
        "package",
        |run| -> anyhow::Result<_> {
            pass::resend(&mut run.report, &mut packager, plan.resend())?;
            let staged = packager.finish().context("packaging")?;
            crate::interrupt::pause_at("packaged");
            // Dropping the verified zips (still under temporary names) removes them.
            crate::interrupt::check("packaging")?;
            let stats = staged.stats();
            let files = package::publish(run, staged)?;
            Ok((files, stats))
        },
        |sent| {
            stopped(sent, |(files, stats)| {
                format!(
                    "{} users into {} zip(s), {} of XML",
                    crate::progress::count(files.iter().map(|f| f.users).sum()),
                    files.len(),
                    indicatif::HumanBytes(stats.xml_bytes)
                )
            })
        },
    );
    let (files, stats) = match sent {
        Ok(done) => done,
        Err(e) => {
            let outcome = if crate::interrupt::received().is_some() {
                RunOutcome::Interrupted
            } else {
                RunOutcome::Failed
            };
            return Err(refuse(run, plan, outcome, e));
        }
    };
    run.timings
        .push(("  compress (workers)", stats.compress_busy));
    run.timings.push(("  verify", stats.verify_busy));
    run.timings
        .push(("  pass waited for workers", stats.push_waited));
    run.xml_bytes = stats.xml_bytes;
    // Each zip that arrives leaves its own line.
    let delivery = run.timed("deliver", |run| deliver::stage(run, &files));
    if fault::at("after-package") {
        fault::crash();
    }
    let path = store_path(run);
    let recording = |e| {
        Stop::Recorded(
            state::state_error(e).context(format!("recording run {run_id} in {}", path.display())),
        )
    };
    let Some(delivery) = delivery else {
        let end = state::run_end(run, RunOutcome::DryRun, plan.counts, None);
        return run
            .timed("record", |_| plan.abandon(run_id, &end))
            .map_err(recording);
    };
    let match_id = alma_user_model::MatchId::parse(&run.config.check.match_id);
    let held_back = match deliver::held_back(&files, &delivery, &match_id) {
        Ok(held) => held,
        Err(e) => {
            // Who is in the zips that did not arrive is unknown: record nobody as sent (the
            // next run sends the zips that arrived again, which Alma takes as an update).
            let error = deliver::incomplete(&delivery, &files).context(format!(
                "cannot read back a zip that did not arrive ({e}); nobody is recorded as sent"
            ));
            return Err(refuse(run, plan, delivery.outcome(), error));
        }
    };
    let mut counts = plan.counts;
    counts.sent = files
        .iter()
        .filter(|f| delivery.delivered.iter().any(|d| d.name == f.name))
        .map(|f| f.users)
        .sum();
    let error = (!delivery.complete()).then(|| deliver::incomplete(&delivery, &files));
    let end = state::run_end(
        run,
        delivery.outcome(),
        counts,
        error.as_ref().map(|e| format!("{e:#}")),
    );
    let run_files = deliver::run_files(&files, Some(&delivery));
    let held = run
        .timed("record", |_| {
            plan.commit_delivered(run_id, &end, &run_files, held_back)
        })
        .map_err(recording)?;
    if held.people > 0 {
        tracing::warn!(
            users = held.people,
            "users in zips that did not arrive are not recorded as sent"
        );
    }
    match (error, crate::interrupt::received()) {
        (Some(e), _) => Err(Stop::Recorded(e)),
        // Every zip arrived and is recorded before the signal is obeyed.
        (None, Some(signal)) => Err(Stop::Recorded(Failure::error(
            signal.exit(),
            format!(
                "interrupted by {} after delivering: {}",
                signal.name(),
                deliver::what_arrived(&delivery, &files)
            ),
        ))),
        (None, None) => Ok(()),
    }
}

fn store_path(run: &Run<'_>) -> std::path::PathBuf {
    run.config.state.file(&run.config.output)
}
