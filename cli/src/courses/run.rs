//! `alma-sis courses run`: extract -> map -> plan (keys, delta, rollovers, brakes) -> course
//! file -> check -> deliver -> record, plus the rollover report and the run report.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use alma_sis_state::{FeedLock, NewRun, RunCounts, RunEnd, RunOutcome, StateError, StateStore};
use alma_user_model::{MatchId, match_key};
use anyhow::Context as _;
use leganto_courses::{
    ChangeKind, CourseError, CourseState, Delta, Finding, MappedCourses, RolloverLine, Rules,
    Severity, map_extract_file, plan_delta, read_course_file, rollover_csv, rollover_html,
    unloaded_instructors, write_course_file,
};

use super::CoursesAppConfig;
use crate::context::Context;
use crate::exit::{Exit, Failure};
use crate::progress::Progress;
use alma_sis_state::courses::{StoreCourseState, last_snapshot, rollovers_sent};

/// What `courses run` is asked to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Write everything but deliver nothing and record nothing.
    pub dry_run: bool,
    /// Send every course, not only changes.
    pub full: bool,
    /// Deliver even when a brake trips or a course would be re-keyed.
    pub force: bool,
}

/// What Alma's Course Loader does with the file under default profile settings, for the run
/// report and `docs/courses.md`.
pub const ALMA_UPDATES: &str = "Alma's Course Loader, with default profile settings, creates the courses it does not have, deletes DELETE rows and copies reading lists for ROLLOVER rows; of a course it has, it updates only NUM_OF_PARTICIPANTS and the instructors (INSTR1..INSTR10, MULTI_INST). Changed titles, dates, departments, terms, searchable ids, campuses and reading list names are not applied unless the profile's update options are set (then list them in [file] loader_updates).";

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

/// Findings sorted as they are shown: errors first, then in order.
fn sorted(findings: &[Finding]) -> Vec<&Finding> {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by_key(|f| f.severity);
    sorted
}

/// Tells `progress` the findings, errors first; returns how many are errors.
pub fn print_findings(progress: &dyn Progress, findings: &[Finding]) -> usize {
    let mut text = String::new();
    for f in sorted(findings) {
        let _ = writeln!(text, "{f}");
    }
    progress.warn(&text);
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
    match e {
        CourseError::Brake { .. } | CourseError::RolloverTargetBrake { .. } => Failure::error(
            Exit::BrakeTripped,
            format!("{e}. If this extract is right, run again with --force."),
        ),
        _ => Failure::error(Exit::ConfigOrInput, e.to_string()),
    }
}

/// Maps the configured extract.
pub fn map(config: &CoursesAppConfig) -> anyhow::Result<MappedCourses> {
    map_extract_file(&config.courses, &config.base_dir).map_err(course_error)
}

/// Instructors the patron feed has not loaded, when `[instructors] patron_feed` is set and
/// that feed's run state is there: warnings, or a note saying why they were not checked.
pub fn instructor_findings(
    config: &CoursesAppConfig,
    mapped: &MappedCourses,
    delta: &Delta,
) -> (Vec<Finding>, Option<String>) {
    let Some((feed, path)) = config.patron_state() else {
        return (Vec::new(), None);
    };
    let not_checked = |why: String| {
        (
            Vec::new(),
            Some(format!(
                "instructors not checked against the patron feed {feed:?}: {why}"
            )),
        )
    };
    if !path.exists() {
        return not_checked(format!("no run state at {}", path.display()));
    }
    let known = match StateStore::open(&path).and_then(|store| {
        let keyed_by = store.keyed_by(&feed)?;
        Ok((keyed_by, store.snapshot(&feed)?))
    }) {
        Ok((MatchId::PrimaryId, known)) => known,
        Ok((other, _)) => {
            return not_checked(format!(
                "that feed matches users on {}, not on the primary ids a course file names",
                other.describe()
            ));
        }
        Err(e) => return not_checked(format!("{}: {e}", path.display())),
    };
    let loaded: std::collections::HashSet<&str> = known
        .iter()
        .filter(|(_, item)| item.last_sent.is_some())
        .map(|(key, _)| key)
        .collect();
    if loaded.is_empty() {
        return not_checked(format!("it has delivered no users in {}", path.display()));
    }
    let findings =
        unloaded_instructors(mapped, delta, &|id| loaded.contains(&*match_key(id)), &feed);
    (findings, None)
}

/// The run's summary, as printed and as the run report begins.
fn summary(
    mapped: &MappedCourses,
    delta: Option<&Delta>,
    file: Option<&Path>,
    delivered: Option<(&str, &str)>,
    reports: &[PathBuf],
) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "  {label:<34}{value}");
    };
    line("extract rows", mapped.rows_read.to_string());
    line("skipped", mapped.rows_skipped.to_string());
    line("rejected", mapped.rows_rejected.to_string());
    line("held with a rejected row", mapped.rows_held.to_string());
    line("merged into a course", mapped.rows_merged.to_string());
    line("courses", mapped.courses.len().to_string());
    if let Some(delta) = delta {
        line("created", delta.count(ChangeKind::Create).to_string());
        line("updated", delta.count(ChangeKind::Update).to_string());
        line(
            "  changes Alma ignores by default",
            delta.not_applied.to_string(),
        );
        line("rolled over", delta.count(ChangeKind::Rollover).to_string());
        line("deleted", delta.count(ChangeKind::Delete).to_string());
        line(
            "  of them rollover targets",
            delta.rollover_target_deletes.len().to_string(),
        );
        line("cancelled, never sent", delta.cancelled_unsent.to_string());
        line("unchanged", delta.unchanged.to_string());
        line("held: would re-key a course", delta.held.to_string());
        line("missing, kept", delta.kept_missing.to_string());
        line("term ended, kept", delta.ended.to_string());
        line(
            "rollovers sent before",
            delta.rollovers_already_sent().to_string(),
        );
    }
    if let Some(file) = file {
        line("file", file.display().to_string());
    }
    if let Some((destination, location)) = delivered {
        line("delivered to", format!("{destination}: {location}"));
    }
    for report in reports {
        line("rollover report", report.display().to_string());
    }
    out
}

/// Writes `courses_<stamp>.report.txt`: the summary, what Alma applies, every finding (ids
/// only); returns its path.
fn write_run_report(
    ctx: &Context,
    config: &CoursesAppConfig,
    summary: &str,
    outcome: &str,
    notes: &[String],
    findings: &[Finding],
) -> anyhow::Result<PathBuf> {
    let path = config
        .output
        .dir
        .join(format!("courses_{}.report.txt", ctx.stamp()));
    let mut text = format!(
        "Leganto courses, run {}: {outcome}\n{summary}\n{ALMA_UPDATES}\n",
        ctx.now.to_rfc3339()
    );
    for note in notes {
        let _ = writeln!(text, "\n{note}");
    }
    if !findings.is_empty() {
        let _ = writeln!(text, "\nFindings ({}):", findings.len());
        for f in sorted(findings) {
            let _ = writeln!(text, "  {f}");
        }
    }
    write_private(&path, text.as_bytes())?;
    Ok(path)
}

/// Runs the course pipeline.
pub fn run(ctx: &Context, options: RunOptions) -> anyhow::Result<Exit> {
    let config = CoursesAppConfig::load(&ctx.config_path)?;
    let mapped = map(&config)?;
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
            print_findings(ctx.progress.as_ref(), &mapped.findings);
            let text = summary(&mapped, None, None, None, &[]);
            let report = write_run_report(
                ctx,
                &config,
                &text,
                "refused, nothing delivered",
                &[e.to_string()],
                &mapped.findings,
            )?;
            if !ctx.quiet {
                ctx.progress.say(&format!(
                    "Leganto courses: refused, nothing delivered\n{text}  {:<34}{}\n",
                    "run report",
                    report.display()
                ));
            }
            return Err(course_error(e));
        }
    };
    let (instructors, note) = instructor_findings(&config, &mapped, &delta);
    let mut findings = mapped.findings.clone();
    findings.extend(delta.findings.iter().cloned());
    findings.extend(instructors);
    let notes: Vec<String> = note.into_iter().collect();
    let errors = print_findings(ctx.progress.as_ref(), &findings);
    if !options.force && findings.iter().any(|f| f.code == "E-REKEY") {
        ctx.progress
            .warn("hint: `--force` makes the run go on as the E-REKEY finding says\n");
    }
    let exit = if errors > 0 { Exit::Findings } else { Exit::Ok };

    let mut reports = Vec::new();
    if !delta.rollovers.is_empty() {
        let (csv, html) = write_rollover_reports(ctx, &config, &delta.rollovers)?;
        reports.push(csv);
        reports.push(html);
    }
    // `more`: findings of the course file itself, when it failed its own checks.
    let report =
        |outcome: &str, file: Option<&Path>, delivered: Option<(&str, &str)>, more: &[Finding]| {
            let text = summary(&mapped, Some(&delta), file, delivered, &reports);
            let all: Vec<Finding> = findings.iter().chain(more).cloned().collect();
            let path = write_run_report(ctx, &config, &text, outcome, &notes, &all)?;
            if !ctx.quiet {
                let mut said = format!(
                    "Leganto courses: {outcome}\n{text}  {:<34}{}\n",
                    "run report",
                    path.display()
                );
                for note in &notes {
                    let _ = writeln!(said, "{note}");
                }
                if delta.not_applied > 0 {
                    let _ = writeln!(said, "{ALMA_UPDATES}");
                }
                ctx.progress.say(&said);
            }
            anyhow::Ok(())
        };

    let counts = counts(&mapped, &delta);
    if delta.changes.is_empty() {
        // Courses held by a rejected row or a refused re-key may have changed: not "nothing
        // changed", but nothing that can be sent.
        let held = mapped.held_groups.len() + delta.held;
        let outcome = if held > 0 {
            format!(
                "nothing to send: {held} course(s) held until the findings are fixed, the rest \
                 unchanged since the last course file"
            )
        } else {
            "nothing changed since the last course file, nothing to send".to_owned()
        };
        report(&outcome, None, None, &[])?;
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
        return Ok(exit);
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
        print_findings(ctx.progress.as_ref(), &check.findings);
        report(
            &format!("{name} failed its own checks, nothing delivered"),
            None,
            None,
            &check.findings,
        )?;
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
        report(
            "dry run, nothing delivered, nothing marked as sent",
            Some(&local),
            None,
            &[],
        )?;
        finish(&mut store, RunOutcome::DryRun, None)?;
        return Ok(exit);
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
            report(
                &format!(
                    "delivery failed, nothing marked as sent (the next run sends these changes again): {e:#}"
                ),
                Some(&local),
                None,
                &[],
            )?;
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
    report(
        "delivered",
        Some(&local),
        Some((&destination, &location)),
        &[],
    )?;
    Ok(exit)
}

fn counts(mapped: &MappedCourses, delta: &Delta) -> RunCounts {
    let n = |k| delta.count(k) as u64;
    RunCounts {
        eligible: mapped.courses.len() as u64,
        sent: delta.changes.len() as u64,
        new: n(ChangeKind::Create) + n(ChangeKind::Rollover),
        changed: n(ChangeKind::Update),
        unchanged: delta.unchanged as u64,
        retired: n(ChangeKind::Delete),
        ..RunCounts::default()
    }
}
