//! `alma-sis courses run`: extract -> map -> delta -> course file -> check -> deliver ->
//! record, plus the rollover report.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use alma_sis_package::state::{
    FeedLock, NewRun, RunCounts, RunEnd, RunOutcome, StateError, StateStore,
};
use anyhow::Context as _;
use leganto_courses::{
    ChangeKind, CourseError, CourseState, Delta, Finding, MappedCourses, RolloverLine, Rules,
    Severity, map_extract_file, plan_delta, read_course_file, rollover_csv, rollover_html,
    rollover_lines, write_course_file,
};

use super::CoursesAppConfig;
use super::state::{StoreCourseState, last_snapshot, rollovers_sent};
use crate::cmd::Context;
use crate::exit::{Exit, Failure};

/// What `courses run` is asked to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Write everything but deliver nothing and record nothing.
    pub dry_run: bool,
    /// Send every course, not only changes.
    pub full: bool,
    /// Deliver even when the brake would stop mass deletes.
    pub force: bool,
}

/// Creates `path` (never overwriting) with mode 0600 and writes `bytes`.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let mut file = open
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Prints findings to stderr, errors first; returns how many are errors.
pub fn print_findings(findings: &[Finding]) -> usize {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by_key(|f| f.severity);
    for f in &sorted {
        eprintln!("{f}");
    }
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count()
}

/// Writes the rollover report as `courses_<stamp>.rollover.csv` and `.html` in the output
/// directory; returns both paths.
pub fn write_rollover_reports(
    ctx: &Context,
    config: &CoursesAppConfig,
    lines: &[RolloverLine],
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let stamp = ctx.stamp();
    let dir = &config.output.dir;
    let csv = dir.join(format!("courses_{stamp}.rollover.csv"));
    let html = dir.join(format!("courses_{stamp}.rollover.html"));
    write_private(&csv, rollover_csv(lines).as_bytes())?;
    write_private(
        &html,
        rollover_html(lines, &ctx.now.to_rfc3339()).as_bytes(),
    )?;
    Ok((csv, html))
}

fn state_error(e: StateError) -> anyhow::Error {
    Failure::error(Exit::ConfigOrInput, format!("run state: {e}"))
}

fn course_error(e: CourseError) -> anyhow::Error {
    let exit = match e {
        CourseError::Brake { .. } => Exit::BrakeTripped,
        _ => Exit::ConfigOrInput,
    };
    Failure::error(exit, e.to_string())
}

/// Maps the configured extract, printing its findings; returns the mapping and the number of
/// rejected rows.
pub fn map(config: &CoursesAppConfig) -> anyhow::Result<(MappedCourses, usize)> {
    let mapped = map_extract_file(&config.courses, &config.base_dir).map_err(course_error)?;
    let errors = print_findings(&mapped.findings);
    Ok((mapped, errors))
}

/// Runs the course pipeline.
pub fn run(ctx: &Context, options: RunOptions) -> anyhow::Result<Exit> {
    let config = CoursesAppConfig::load(&ctx.config_path)?;
    let (mapped, rejected) = map(&config)?;
    let state_path = config.state_path();
    if let Some(dir) = state_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let _lock = FeedLock::acquire(&state_path, super::FEED).map_err(state_error)?;
    let mut store = StateStore::open(&state_path).map_err(state_error)?;
    let last = last_snapshot(&store).map_err(state_error)?;
    let sent_before = rollovers_sent(&store).map_err(state_error)?;
    let new_run = |feed: &str| NewRun {
        feed: feed.to_owned(),
        started: ctx.now,
        config_hash: config.hash.clone(),
        mode: if options.full { "full" } else { "delta" }.to_owned(),
        partial: false,
    };
    let run_id = store
        .begin_run(&new_run(super::FEED))
        .map_err(state_error)?;
    let finish = |store: &mut StateStore, outcome, message: Option<String>| {
        let end = RunEnd {
            outcome,
            counts: RunCounts::default(),
            files: Vec::new(),
            destination: None,
            message,
        };
        store
            .finish_run(run_id, &end, None, Vec::new())
            .map_err(state_error)
    };

    let delta = match plan_delta(
        &mapped,
        &last,
        &sent_before,
        &config.delta_options(options.full, options.force),
    ) {
        Ok(d) => d,
        Err(e) => {
            finish(&mut store, RunOutcome::Refused, Some(e.to_string()))?;
            return Err(course_error(e));
        }
    };

    let lines = rollover_lines(
        &mapped.candidates,
        &sent_before,
        &delta.rollovers,
        config.courses.rollover.emit,
    );
    let mut reports = Vec::new();
    if !lines.is_empty() {
        let (csv, html) = write_rollover_reports(ctx, &config, &lines)?;
        reports.push(csv);
        reports.push(html);
    }

    let counts = counts(&mapped, &delta);
    if delta.changes.is_empty() {
        println!("Nothing changed since the last course file: nothing to send.");
        print_summary(&mapped, &delta, None, None, &reports);
        let outcome = if options.dry_run {
            RunOutcome::DryRun
        } else {
            RunOutcome::Delivered
        };
        let end = RunEnd {
            outcome,
            counts,
            files: Vec::new(),
            destination: None,
            message: None,
        };
        store
            .finish_run(
                run_id,
                &end,
                (!options.dry_run).then(|| ctx.today()),
                Vec::new(),
            )
            .map_err(state_error)?;
        return Ok(exit_for(rejected));
    }

    let name = config.courses.file.name.file_name(ctx.now.naive_local());
    let local = config.output.dir.join(&name);
    let bytes =
        write_course_file(&delta.rows(), &config.courses.file.date_format).map_err(course_error)?;
    let rules = Rules {
        codes: config.courses.codes.clone(),
        date_format: config.courses.file.date_format.clone(),
    };
    let check = read_course_file(&bytes, &name, &rules);
    if check.has_errors() {
        print_findings(&check.findings);
        finish(
            &mut store,
            RunOutcome::Failed,
            Some("the course file failed its checks".into()),
        )?;
        return Err(Failure::error(
            Exit::Findings,
            format!("{name} failed its own checks; nothing was delivered"),
        ));
    }
    if let Err(e) = write_private(&local, &bytes) {
        finish(&mut store, RunOutcome::Failed, Some(format!("{e:#}")))?;
        return Err(e);
    }

    if options.dry_run {
        print_summary(&mapped, &delta, Some(&local), None, &reports);
        println!("Dry run: nothing delivered, nothing marked as sent.");
        finish(&mut store, RunOutcome::DryRun, None)?;
        return Ok(exit_for(rejected));
    }

    let delivered = crate::destination::build(&config.delivery).and_then(|mut destination| {
        let delivered = destination
            .deliver(&local, &name, &mut |_| {})
            .map_err(|e| anyhow::Error::new(e).context(format!("delivering {name}")))?;
        Ok((destination.describe(), delivered.location))
    });
    let (destination, location) = match delivered {
        Ok(d) => d,
        Err(e) => {
            finish(&mut store, RunOutcome::Failed, Some(format!("{e:#}")))?;
            return Err(Failure::error(
                Exit::DeliveryFailed,
                format!("delivery failed: {e:#}"),
            ));
        }
    };

    let sent_at = ctx.now.to_rfc3339();
    let end = RunEnd {
        outcome: RunOutcome::Delivered,
        counts,
        files: vec![name.clone()],
        destination: Some(destination.clone()),
        message: None,
    };
    let mut state = StoreCourseState {
        store: &mut store,
        run: run_id,
        end,
        today: ctx.today(),
        rollover_run: new_run(super::ROLLOVER_FEED),
    };
    state
        .record(&delta.next, &delta.sent_rollovers(&sent_at))
        .map_err(state_error)?;
    print_summary(
        &mapped,
        &delta,
        Some(&local),
        Some((&destination, &location)),
        &reports,
    );
    Ok(exit_for(rejected))
}

fn exit_for(rejected: usize) -> Exit {
    if rejected > 0 {
        Exit::Findings
    } else {
        Exit::Ok
    }
}

fn counts(mapped: &MappedCourses, delta: &Delta) -> RunCounts {
    let n = |k| delta.count(k) as u64;
    RunCounts {
        eligible: mapped.rows.len() as u64,
        sent: delta.changes.len() as u64,
        new: n(ChangeKind::Create) + n(ChangeKind::Rollover),
        changed: n(ChangeKind::Update),
        unchanged: delta.unchanged as u64,
        retired: n(ChangeKind::Delete),
        ..RunCounts::default()
    }
}

fn print_summary(
    mapped: &MappedCourses,
    delta: &Delta,
    file: Option<&PathBuf>,
    delivered: Option<(&String, &String)>,
    reports: &[PathBuf],
) {
    println!("Leganto courses");
    println!("  extract rows      {}", mapped.rows_read);
    println!("  skipped           {}", mapped.rows_skipped);
    println!("  merged            {}", mapped.rows_merged);
    println!("  courses           {}", mapped.rows.len());
    println!("  created           {}", delta.count(ChangeKind::Create));
    println!("  updated           {}", delta.count(ChangeKind::Update));
    println!("  rolled over       {}", delta.count(ChangeKind::Rollover));
    println!("  deleted           {}", delta.count(ChangeKind::Delete));
    println!("  unchanged         {}", delta.unchanged);
    println!("  missing, kept     {}", delta.kept_missing);
    println!(
        "  rollovers kept back, sent before  {}",
        delta.rollovers_already_sent
    );
    if let Some(file) = file {
        println!("  file              {}", file.display());
    }
    if let Some((destination, location)) = delivered {
        println!("  delivered to      {destination}: {location}");
    }
    for report in reports {
        println!("  rollover report   {}", report.display());
    }
}
