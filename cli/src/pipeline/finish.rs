//! The run's end: its alerts, its line in the trend, `report.json` and `report.html`
//! written, the summary printed, and the stages' outcome turned into the exit status.

use super::page::{file_name, write_private};
use super::report::{Run, free_report_paths, render_html, render_json, render_summary};
use crate::exit::{Exit, exit_code_of};

/// Writes the report files, prints the summary and turns the stages' outcome into the exit
/// status: the error (with its exit code) if a stage failed, else [`RunReport::exit`].
pub fn finish(run: &mut Run<'_>, outcome: anyhow::Result<()>) -> anyhow::Result<Exit> {
    let (exit, error) = match &outcome {
        Ok(()) => (run.report.exit, None),
        Err(e) => (exit_code_of(e), Some(format!("{e:#}"))),
    };
    let (json_path, html_path) = free_report_paths(&run.config.output.dir, &run.stem);
    run.report.retries = crate::destination::take_retries();
    // The alerts go first: what became of them is part of the report.
    let facts = super::alerts::RunFacts {
        exit,
        rejects_over_threshold: run.report.rejects_over_threshold,
        warning_codes: run.report.warning_codes(),
        dry_run: run.args.dry_run,
    };
    let message = super::alerts::message(run, &facts, error.as_deref(), Some(&html_path));
    run.report.alerts = super::alerts::send_all(run, &facts, &message);
    // A work directory that cannot be written is the error itself: said once, first (no
    // trend line, no report files are attempted).
    let unwritable = outcome
        .as_ref()
        .is_err_and(crate::exit::is_unwritable_work_dir);
    run.report.trend = record_trend(run, exit, !unwritable);
    let run = &*run;
    let json = render_json(run, exit, error.as_deref());
    let html = render_html(run, exit, error.as_deref());
    let mut written = Vec::new();
    for (path, contents) in [(&json_path, &json), (&html_path, &html)] {
        if unwritable {
            break;
        }
        match write_private(path, contents.as_bytes()) {
            Ok(()) => written.push(path.as_path()),
            Err(e) => tracing::error!("cannot write the run report {}: {e}", path.display()),
        }
    }
    // A config or input error stops the run before it did anything a summary would count:
    // the error is the message (the report still records it).
    if !run.ctx.quiet && exit != Exit::ConfigOrInput {
        run.ctx.progress.say(&render_summary(run, exit, &written));
    }
    outcome.map(|()| exit)
}

/// Adds this run to the feed's trend file (when `append`) and returns the last runs, this
/// one included.
fn record_trend(run: &Run<'_>, exit: Exit, append: bool) -> Vec<super::trend::TrendPoint> {
    let r = &run.report;
    let feed = &run.config.mapping.feed;
    let users_sent = r.delivery.as_ref().map_or(0, |d| {
        r.packages
            .iter()
            .filter(|p| d.delivered.contains(&file_name(&p.path)))
            .map(|p| p.users)
            .sum()
    });
    let point = super::trend::TrendPoint {
        run: run.run_id.map(|id| id.0),
        started_at: run
            .ctx
            .now
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        status: exit.name().to_owned(),
        exit_code: exit.code(),
        users_sent,
        rows_rejected: r.row_counts().rejected as u64,
        users_vanished: r.vanished.len() as u64,
        seconds: if run.ctx.pinned {
            0.0
        } else {
            (run.started.elapsed().as_secs_f64() * 10.0).round() / 10.0
        },
    };
    let dir = &run.config.output.dir;
    let path = super::trend::path(dir, &feed.institution, &feed.name);
    // A work directory that is missing or a link gets nothing (the report says why).
    let usable = append && std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir());
    let appended = usable
        && super::trend::append(&path, &point)
            .map_err(|e| {
                tracing::error!("cannot add the run to the trend {}: {e}", path.display());
            })
            .is_ok();
    if appended {
        return super::trend::last(&path, super::trend::TREND_RUNS);
    }
    let mut points = super::trend::last(&path, super::trend::TREND_RUNS - 1);
    points.push(point);
    points
}
