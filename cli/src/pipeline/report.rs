//! Stage 7: what the run did, for the person reading it at 4 am and at 10 am: a one-screen
//! summary on stdout, and `<stem>.report.json` (schema [`SCHEMA`]) and `<stem>.report.html`
//! in the work directory (`[output] dir`), written for every run that got its config, also
//! when a stage failed.
//!
//! Privacy: the report carries ids, rule names, codes and counts, never names, emails,
//! addresses or birth dates.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use alma_sis_package::PackagedFile;
use alma_user_model::User;
use chrono::Datelike as _;
use serde::Serialize;
use sis_extract::{Decision, InputSummary, RowOutcome, RowWarning};

use super::Run;
use crate::exit::{Exit, exit_code_of};
use crate::warning;

/// The `schema` value of `report.json`. Fields are only ever added within a version; a
/// renamed or removed field bumps it.
pub const SCHEMA: &str = "alma-sis.run-report/1";

/// What a run did. Stages fill it; [`finish`] prints and writes it.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Rows read, by decision (see [`RunReport::add_row`]).
    counts: RowCounts,
    /// Rows dropped, per eligibility rule.
    filtered: BTreeMap<String, usize>,
    /// The rejected rows with their reasons; written and filtered rows are only counted, so a
    /// run of a million rows does not hold a million outcomes.
    rejected: Vec<RowOutcome>,
    /// Users written into packages.
    pub users_written: usize,
    /// Packages written.
    pub packages: Vec<PackagedFile>,
    /// (destination, location) for every delivered file.
    pub deliveries: Vec<(String, String)>,
    /// Users sent per user-group code (`(none)` without a group); see [`RunReport::tally_user`].
    pub user_groups: BTreeMap<String, usize>,
    /// Users sent per expiry month, `YYYY-MM` (`(none)` without an expiry date).
    pub expiry_months: BTreeMap<String, usize>,
    /// Primary ids of people sent before and missing from today's extract.
    pub vanished: Vec<String>,
    /// The comparison with the last successful run, when the state store knows one.
    pub comparison: Option<Comparison>,
    /// The status the stages settled on (e.g. [`Exit::Findings`] for rejects above the
    /// threshold); an error from a stage overrides it.
    pub exit: Exit,
    /// Things a person should read although the run went on (the config's file mode, a state
    /// file adopted), in order.
    pub warnings: Vec<String>,
    /// `(the run date + state.purge_minimum_days, the minimum)`: a user sent with a purge
    /// date before it is counted in `purge_soon` (see [`RunReport::tally_user`]).
    pub purge_floor: Option<(chrono::NaiveDate, u32)>,
    /// Users sent with a purge date before `purge_floor`: how many, and the first
    /// `PURGE_SOON_IDS` primary ids.
    pub purge_soon: (usize, Vec<String>),
    /// What happened at the destination, when the run delivered.
    pub delivery: Option<DeliveryReport>,
    /// Unfinished zips (`.partial`) an interrupted earlier run left in the work directory,
    /// removed by this run.
    pub removed_partials: Vec<String>,
    /// What reading each input gave (rows, rows decoded with the fallback, rows that could
    /// not be read); empty until the inputs were read.
    pub inputs: Vec<InputSummary>,
    /// Findings about people who were loaded anyway (`W-` codes), with their key.
    pub row_warnings: Vec<(String, RowWarning)>,
    /// `--plan-against`: what the plan predicted.
    pub plan: Option<PlanLine>,
    /// More rows were rejected than `[check] max_rejected_percent` allows.
    pub rejects_over_threshold: bool,
    /// What became of the `[[alert]]`s this run sent.
    pub alerts: Vec<super::alerts::AlertOutcome>,
    /// Transient delivery faults that were retried, with their cause.
    pub retries: Vec<crate::destination::Retried>,
    /// The feed's last runs, this one last (see [`super::trend`]).
    pub trend: Vec<super::trend::TrendPoint>,
}

/// What `run --plan-against` predicted Alma does with the load (the plan's own reports
/// have the detail).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanLine {
    /// Users new in Alma.
    pub new: u64,
    /// Users updated.
    pub update: u64,
    /// Users unchanged.
    pub unchanged: u64,
    /// Users that will fail: quarantined by this run.
    pub will_fail: u64,
    /// Users the check quarantines.
    pub quarantined: u64,
    /// Alma users of the profile's groups the load does not match.
    pub vanished: u64,
    /// The plan's report files.
    pub reports: Vec<PathBuf>,
}

/// What happened at the destination: which zips arrived, and what the folder held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// The destination, e.g. `drop folder out/drop`.
    pub destination: String,
    /// The zips that arrived, in order.
    pub delivered: Vec<String>,
    /// The zips that did not (the first failed, the rest were not tried).
    pub not_delivered: Vec<String>,
    /// Why the first zip that did not arrive failed (none when a signal stopped the run).
    pub error: Option<String>,
    /// Earlier zips Alma had not processed, found in the folder (left or archived).
    pub stale: Vec<StaleEntry>,
    /// Temporary files an interrupted earlier delivery left in the folder, removed.
    pub removed_leftovers: Vec<String>,
    /// Files that are not zips in the folder (a leftover `users.xml`), left there.
    pub other_files: Vec<String>,
}

/// An earlier, unprocessed zip found in the destination folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleEntry {
    /// Its name.
    pub name: String,
    /// Where it was archived (`stale = "archive"`); `None` when it was left.
    pub archived_to: Option<String>,
}

impl RunReport {
    /// What an administrator must act on, one sentence each: zips that did not arrive, stale
    /// zips, leftovers removed, files that are not zips in the destination. (The error, if
    /// any, is reported beside it.)
    pub fn attention(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.removed_partials.is_empty() {
            lines.push(format!(
                "{}: removed {} unfinished zip(s) an interrupted earlier run left in the work \
                 directory: {}",
                warning::LEFTOVER_PARTIAL,
                self.removed_partials.len(),
                self.removed_partials.join(", ")
            ));
        }
        let Some(d) = &self.delivery else {
            return lines;
        };
        if !d.not_delivered.is_empty() {
            lines.push(format!(
                "{}: {} of {} zip(s) did not reach {}: {}; the run state records as sent only the \
                 users in zips that arrived: deliver these with `alma-sis deliver` or run \
                 again (a delta run sends the rest)",
                warning::NOT_DELIVERED,
                d.not_delivered.len(),
                d.delivered.len() + d.not_delivered.len(),
                d.destination,
                d.not_delivered.join(", ")
            ));
        }
        let archived: Vec<String> = d
            .stale
            .iter()
            .filter_map(|s| {
                s.archived_to
                    .as_ref()
                    .map(|to| format!("{} -> {to}", s.name))
            })
            .collect();
        let waiting: Vec<&str> = d
            .stale
            .iter()
            .filter(|s| s.archived_to.is_none())
            .map(|s| s.name.as_str())
            .collect();
        if !waiting.is_empty() {
            lines.push(format!(
                "{}: {} earlier zip(s) that Alma has not processed yet are in {}: {}; check that \
                 the SIS job runs",
                warning::STALE_ZIP,
                waiting.len(),
                d.destination,
                waiting.join(", ")
            ));
        }
        if !archived.is_empty() {
            lines.push(format!(
                "{}: {} earlier zip(s) that Alma had not processed were moved out of its way: {}",
                warning::STALE_ARCHIVED,
                archived.len(),
                archived.join(", ")
            ));
        }
        if !d.removed_leftovers.is_empty() {
            lines.push(format!(
                "{}: removed {} temporary file(s) an interrupted earlier delivery left in {}: {}",
                warning::LEFTOVER_TEMP,
                d.removed_leftovers.len(),
                d.destination,
                d.removed_leftovers.join(", ")
            ));
        }
        for other in &d.other_files {
            let xml = other.to_ascii_lowercase().ends_with(".xml");
            lines.push(if xml {
                format!(
                    "{}: {other} is in {}: Alma may load a leftover XML file the next time a zip \
                     arrives; delete it",
                    warning::OTHER_FILE,
                    d.destination
                )
            } else {
                format!(
                    "{}: {other} is in {} (not a zip; Alma ignores it): remove it if nobody needs it",
                    warning::OTHER_FILE,
                    d.destination
                )
            });
        }
        lines
    }
}

impl RunReport {
    /// Adds a warning for the report, as `CODE: text`.
    pub fn warn(&mut self, code: &str, text: &str) {
        self.warnings.push(format!("{code}: {text}"));
    }

    /// Every warning of the run with its code, in the order the report shows them: the
    /// run's own, what needs attention at the destination and in the work directory, how the
    /// extract read, and the people loaded anyway (one line per code).
    pub fn every_warning(&self) -> Vec<(String, String)> {
        let coded = |text: String| {
            let code = reason_code(&text).to_owned();
            let text = text
                .strip_prefix(code.as_str())
                .and_then(|t| t.strip_prefix(": "))
                .map_or_else(|| text.clone(), str::to_owned);
            (code, text)
        };
        let mut all: Vec<(String, String)> = self.all_warnings().into_iter().map(coded).collect();
        all.extend(self.attention().into_iter().map(coded));
        for retry in &self.retries {
            all.push((
                warning::DELIVERY_RETRY.to_owned(),
                format!(
                    "delivery failed transiently ({}); tried again after {} s (check the \
                     network or the server if this happens every night)",
                    retry.cause, retry.pause_secs
                ),
            ));
        }
        for input in &self.inputs {
            match input.fallback {
                Some(encoding) if input.whole_file => all.push((
                    warning::ENCODING_FALLBACK.to_owned(),
                    format!("{} was decoded as {encoding} (a UTF-16 file)", input.file),
                )),
                Some(encoding) if !input.fallback_lines.is_empty() => {
                    let lines: Vec<String> = input
                        .fallback_lines
                        .iter()
                        .take(20)
                        .map(ToString::to_string)
                        .collect();
                    let more = input.fallback_lines.len().saturating_sub(20);
                    let more = if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    };
                    all.push((
                        warning::ENCODING_FALLBACK.to_owned(),
                        format!(
                            "{} row(s) of {} are not UTF-8 and were decoded as {encoding} \
                             (the configured fallback): lines {}{more}; check that the names \
                             in them read right",
                            input.fallback_lines.len(),
                            input.file,
                            lines.join(", ")
                        ),
                    ));
                }
                _ => {}
            }
        }
        if self.extract_incomplete() {
            all.push((
                warning::EXTRACT_INCOMPLETE.to_owned(),
                INCOMPLETE_NOTE.to_owned(),
            ));
        }
        for (code, n) in self.warnings_by_code() {
            all.push((
                code.to_owned(),
                format!("{n} user(s) were loaded with this finding (listed with their rows)"),
            ));
        }
        all
    }

    /// The codes of [`RunReport::every_warning`].
    pub fn warning_codes(&self) -> std::collections::BTreeSet<String> {
        self.every_warning()
            .into_iter()
            .map(|(code, _)| code)
            .collect()
    }

    /// Rows that could not be read, in all inputs.
    pub fn unreadable_rows(&self) -> usize {
        self.inputs.iter().map(|i| i.unreadable_rows).sum()
    }

    /// Whether the extract did not read cleanly: then nobody was treated as vanished.
    pub fn extract_incomplete(&self) -> bool {
        self.unreadable_rows() > 0
    }

    /// Warnings per code.
    pub fn warnings_by_code(&self) -> BTreeMap<&str, usize> {
        let mut by = BTreeMap::new();
        for (_, w) in &self.row_warnings {
            *by.entry(reason_code(&w.text)).or_default() += 1;
        }
        by
    }

    /// The summary's lines about reading the extract (none when it read cleanly in UTF-8).
    fn extract_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for input in &self.inputs {
            match input.fallback {
                Some(encoding) if input.whole_file => lines.push(format!(
                    "  decoded          {} as {encoding} (a UTF-16 file)",
                    input.file
                )),
                Some(encoding) if !input.fallback_lines.is_empty() => lines.push(format!(
                    "  decoded          {} row(s) of {} as {encoding} (not UTF-8; lines in the report)",
                    input.fallback_lines.len(),
                    input.file
                )),
                _ => {}
            }
        }
        let unreadable = self.unreadable_rows();
        if unreadable > 0 {
            lines.push(format!(
                "  extract          did not read cleanly: {unreadable} row(s) could not be read; \
                 no one was treated as vanished in this run"
            ));
        }
        if !self.row_warnings.is_empty() {
            lines.push(format!(
                "  warnings         {:>7}  (people loaded anyway; see the report)",
                self.row_warnings.len()
            ));
        }
        lines
    }
}

/// The note a report carries when the extract did not read cleanly.
pub const INCOMPLETE_NOTE: &str = "The extract did not read cleanly: the rows that could not be \
    read are rejected, and no one was treated as vanished in this run (the run counts as \
    partial, whatever the brake thresholds). Fix the extract; the next clean run sends what \
    this one held back.";

/// Primary ids kept for `W-PURGE-SOON`; the rest are counted.
const PURGE_SOON_IDS: usize = 10_000;

/// This run against the last successful one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// When the last successful run happened (RFC 3339).
    pub last_run_at: String,
    /// Users eligible in the last successful run.
    pub last_eligible: usize,
    /// Users eligible in this run.
    pub eligible: usize,
    /// Users never sent before.
    pub new: usize,
    /// Users whose record changed since it was last sent.
    pub changed: usize,
    /// Users whose record is as last sent.
    pub unchanged: usize,
    /// Users sent before and absent now.
    pub vanished: usize,
}

/// Row counts by decision.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RowCounts {
    /// Rows read.
    pub read: usize,
    /// Rows that became (part of) a written user.
    pub written: usize,
    /// Rows dropped by an eligibility rule.
    pub filtered: usize,
    /// Rows rejected.
    pub rejected: usize,
}

impl RunReport {
    /// Counts one row's outcome; keeps it when it was rejected.
    pub fn add_row(&mut self, row: RowOutcome) {
        self.counts.read += 1;
        match &row.decision {
            Decision::Written { .. } => self.counts.written += 1,
            Decision::Filtered { rule } => {
                self.counts.filtered += 1;
                match self.filtered.get_mut(rule.as_str()) {
                    Some(n) => *n += 1,
                    None => {
                        self.filtered.insert(rule.clone(), 1);
                    }
                }
            }
            Decision::Rejected { .. } => {
                self.counts.rejected += 1;
                self.rejected.push(row);
            }
        }
    }

    /// Counts the rows of a person the run did not map because their rows, config and
    /// lookups are as when they were last mapped, all rows written then (a person is
    /// skipped only when every row of theirs was written and nothing warned): as written.
    pub fn add_unmapped_rows(&mut self, rows: usize) {
        self.counts.read += rows;
        self.counts.written += rows;
    }

    /// Counts rows by decision; `read == written + filtered + rejected` always holds.
    pub fn row_counts(&self) -> RowCounts {
        self.counts
    }

    /// The rejected rows, in the order they were added.
    pub fn rejected_rows(&self) -> &[RowOutcome] {
        &self.rejected
    }

    /// Adds one user about to be sent to the user-group and expiry histograms, and counts
    /// them for `W-PURGE-SOON` when their purge date comes before `purge_floor`.
    pub fn tally_user(&mut self, user: &User) {
        if let (Some((floor, _)), Some(purge)) = (self.purge_floor, user.purge_date)
            && purge < floor
        {
            self.purge_soon.0 += 1;
            if self.purge_soon.1.len() < PURGE_SOON_IDS {
                self.purge_soon.1.push(user.primary_id.clone());
            }
        }
        const NONE: &str = "(none)";
        let group = user.user_group.as_ref().map_or(NONE, |g| g.code.as_str());
        match self.user_groups.get_mut(group) {
            Some(n) => *n += 1,
            None => {
                self.user_groups.insert(group.to_owned(), 1);
            }
        }
        let month = match user.expiry_date {
            // Plain formatting: chrono's `format` parses its pattern on every call.
            Some(d) if (0..=9999).contains(&d.year()) => {
                format!("{:04}-{:02}", d.year(), d.month())
            }
            Some(d) => d.format("%Y-%m").to_string(),
            None => NONE.to_owned(),
        };
        *self.expiry_months.entry(month).or_default() += 1;
    }

    /// Every warning: [`RunReport::warnings`], then `W-PURGE-SOON` when anyone was sent with
    /// a purge date sooner than the minimum after the run date.
    pub fn all_warnings(&self) -> Vec<String> {
        let mut all = self.warnings.clone();
        let (count, ids) = &self.purge_soon;
        if let (Some((floor, minimum)), true) = (self.purge_floor, *count > 0) {
            const LISTED: usize = 10;
            let more = if *count > LISTED {
                format!(" and {} more (all in report.json)", count - LISTED)
            } else {
                String::new()
            };
            all.push(format!(
                "W-PURGE-SOON: {count} user(s) sent with a purge date before {floor}, sooner \
                 than state.purge_minimum_days ({minimum}) after the run date (an expiry date \
                 in the past plus the [purge] rule): Alma's next \"Purge users\" job can delete \
                 them; check their expiry dates: {}{more}",
                ids.iter()
                    .take(LISTED)
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        all
    }

    /// Rows dropped, per eligibility rule, in rule-name order.
    pub fn filtered_by_rule(&self) -> BTreeMap<&str, usize> {
        self.filtered
            .iter()
            .map(|(k, &n)| (k.as_str(), n))
            .collect()
    }

    /// Rows rejected, per reason code (a row with several reasons counts once per code).
    pub fn rejected_by_code(&self) -> BTreeMap<&str, usize> {
        let mut by = BTreeMap::new();
        for r in &self.rejected {
            if let Decision::Rejected { errors } = &r.decision {
                let mut codes: Vec<&str> = errors.iter().map(|e| reason_code(e)).collect();
                codes.sort_unstable();
                codes.dedup();
                for code in codes {
                    *by.entry(code).or_default() += 1;
                }
            }
        }
        by
    }
}

/// The check code a reason starts with (`E-DUP-MATCH-ID: ...`), or `(no code)`.
pub fn reason_code(reason: &str) -> &str {
    let token = reason
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .next()
        .unwrap_or("");
    let coded = token.len() > 2
        && matches!(token.as_bytes(), [b'E' | b'W' | b'I', b'-', ..])
        && token[2..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    if coded { token } else { "(no code)" }
}

/// Where the report files of a run go.
pub fn report_paths(work_dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
    (
        work_dir.join(format!("{stem}.report.json")),
        work_dir.join(format!("{stem}.report.html")),
    )
}

/// The report paths of `stem`, or of `stem-2`, `stem-3`, ... when a report by that name
/// exists (only a run that failed before the run state gave it an id can meet one).
fn free_report_paths(work_dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
    let taken = |(json, html): &(PathBuf, PathBuf)| {
        json.symlink_metadata().is_ok() || html.symlink_metadata().is_ok()
    };
    let first = report_paths(work_dir, stem);
    if !taken(&first) {
        return first;
    }
    (2..1000)
        .map(|n| report_paths(work_dir, &format!("{stem}-{n}")))
        .find(|p| !taken(p))
        .unwrap_or(first)
}

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
    let unwritable = outcome.as_ref().is_err_and(crate::is_unwritable_work_dir);
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
        let summary = render_summary(run, exit, &written);
        // The summary repeats the report: a closed stdout (`| head`) must not change the
        // exit status of a run that did its work.
        let _ = std::io::stdout().lock().write_all(summary.as_bytes());
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

/// A moment as people read it: local time with its UTC offset, to the second
/// (`2026-11-23 04:00:00 +00:00`).
pub fn local_time(now: &chrono::DateTime<chrono::FixedOffset>) -> String {
    now.format("%Y-%m-%d %H:%M:%S %:z").to_string()
}

/// An RFC 3339 time as people read it: `2026-11-23T04:00:00.123+01:00` as
/// `2026-11-23 04:00:00 +01:00` (text that is not such a time stays as it is).
pub fn readable(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map_or_else(|_| rfc3339.to_owned(), |t| local_time(&t))
}

/// An error when the directory `path` is in is a symbolic link: nothing is written through
/// one (a work directory swapped for a link must not redirect the run's files).
pub(crate) fn refuse_linked_work_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) => {
            Err(std::io::Error::other(
                "the work directory is a symbolic link (not followed)",
            ))
        }
        _ => Ok(()),
    }
}

/// Creates `path` with mode 0600; never replaces an existing file, never writes into a
/// work directory that is a symbolic link.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    refuse_linked_work_dir(path)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The last part of `path`, lossily as text (empty when there is none).
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Counts by name, the largest first (ties by name).
pub(crate) fn largest_first(counts: BTreeMap<&str, usize>) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = counts
        .into_iter()
        .map(|(name, n)| (name.to_owned(), n))
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

/// Summary lines under a count, the largest first, at most [`SUMMARY_BREAKDOWN`] of them.
pub(crate) fn breakdown(s: &mut String, counts: BTreeMap<&str, usize>, what: &str) {
    let counts = largest_first(counts);
    for (name, n) in counts.iter().take(SUMMARY_BREAKDOWN) {
        let _ = writeln!(s, "    {n:>7}  {name}");
    }
    if counts.len() > SUMMARY_BREAKDOWN {
        let _ = writeln!(
            s,
            "             and {} more {what} (see the report)",
            counts.len() - SUMMARY_BREAKDOWN
        );
    }
}

/// Rules or codes listed under a count in the summary, so it stays one screen.
const SUMMARY_BREAKDOWN: usize = 6;

/// The one-screen text summary.
fn render_summary(run: &Run<'_>, exit: Exit, reports: &[&Path]) -> String {
    let r = &run.report;
    let c = r.row_counts();
    let mut s = String::new();
    let feed = &run.config.mapping.feed;
    let _ = writeln!(
        s,
        "alma-sis run {} ({}) at {}: {}",
        feed.name,
        feed.institution,
        local_time(&run.ctx.now),
        exit.name()
    );
    let _ = writeln!(s, "  rows read        {:>7}", c.read);
    let _ = writeln!(
        s,
        "  users written    {:>7}  (from {} rows)",
        r.users_written, c.written
    );
    let _ = writeln!(s, "  rows filtered    {:>7}", c.filtered);
    breakdown(&mut s, r.filtered_by_rule(), "rules");
    let _ = writeln!(s, "  rows rejected    {:>7}", c.rejected);
    breakdown(&mut s, r.rejected_by_code(), "codes");
    let _ = writeln!(s, "  users vanished   {:>7}", r.vanished.len());
    for line in r.extract_lines() {
        let _ = writeln!(s, "{line}");
    }
    if !r.user_groups.is_empty() {
        let groups: Vec<String> = r
            .user_groups
            .iter()
            .map(|(g, n)| format!("{g} {n}"))
            .collect();
        let _ = writeln!(s, "  user groups      {}", groups.join(", "));
    }
    if let (Some(first), Some(last)) = (
        r.expiry_months.keys().next(),
        r.expiry_months.keys().next_back(),
    ) {
        let _ = writeln!(s, "  expiry months    {first} .. {last}");
    }
    if let Some(cmp) = &r.comparison {
        let _ = writeln!(
            s,
            "  since last run   {} eligible then, {} now: {} new, {} changed, {} unchanged, {} vanished",
            cmp.last_eligible, cmp.eligible, cmp.new, cmp.changed, cmp.unchanged, cmp.vanished
        );
    }
    for p in &r.packages {
        let _ = writeln!(
            s,
            "  package          {} ({} users)",
            p.path.display(),
            p.users
        );
    }
    if r.deliveries.is_empty() {
        let why = if run.args.dry_run {
            "--dry-run"
        } else if r.delivery.is_some() {
            "see below"
        } else {
            "stopped before delivery"
        };
        let _ = writeln!(s, "  delivered        nothing ({why})");
    }
    for (to, location) in &r.deliveries {
        let _ = writeln!(s, "  delivered        {location} ({to})");
    }
    if let Some(p) = &r.plan {
        let _ = writeln!(
            s,
            "  Alma plan        {} new, {} update, {} unchanged, {} will fail (quarantined), \
             {} vanished",
            p.new, p.update, p.unchanged, p.will_fail, p.vanished
        );
        for path in &p.reports {
            let _ = writeln!(s, "  plan report      {}", path.display());
        }
    }
    for warning in r.all_warnings() {
        let _ = writeln!(s, "  warning          {warning}");
    }
    if let Some(d) = &r.delivery {
        for name in &d.not_delivered {
            let _ = writeln!(s, "  not delivered    {name}");
        }
    }
    for line in r.attention() {
        let _ = writeln!(s, "  attention        {line}");
    }
    for alert in &r.alerts {
        let on: Vec<&str> = alert.on.iter().map(|c| c.name()).collect();
        match &alert.error {
            None => {
                let _ = writeln!(
                    s,
                    "  alert            sent to {} ({})",
                    alert.target,
                    on.join(", ")
                );
            }
            Some(e) => {
                let _ = writeln!(
                    s,
                    "  alert            NOT sent to {} ({}): {e}",
                    alert.target,
                    on.join(", ")
                );
            }
        }
    }
    for path in reports {
        let _ = writeln!(s, "  report           {}", path.display());
    }
    s
}

#[derive(Serialize)]
struct JsonReport<'a> {
    schema: &'static str,
    tool: Tool,
    feed: &'a str,
    institution: &'a str,
    started_at: String,
    config: JsonConfig<'a>,
    options: JsonOptions<'a>,
    outcome: JsonOutcome<'a>,
    counts: JsonCounts,
    filtered_by_rule: Vec<Named<'a>>,
    rejected_by_code: Vec<Named<'a>>,
    user_groups: Vec<Named<'a>>,
    expiry_by_month: Vec<Named<'a>>,
    comparison: Option<&'a Comparison>,
    rejected: Vec<JsonRejected<'a>>,
    vanished: &'a [String],
    files: Vec<JsonFile>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    purge_soon: &'a [String],
    delivery: Option<&'a DeliveryReport>,
    removed_partials: &'a [String],
    attention: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<&'a PlanLine>,
    extract: JsonExtract<'a>,
    warnings_by_code: Vec<Named<'a>>,
    row_warnings: Vec<JsonWarning<'a>>,
    every_warning: Vec<JsonCoded>,
    alerts: &'a [super::alerts::AlertOutcome],
    retries: &'a [crate::destination::Retried],
    user_group_descriptions: BTreeMap<&'a str, &'a str>,
    trend: &'a [super::trend::TrendPoint],
}

#[derive(Serialize)]
struct JsonCoded {
    code: String,
    message: String,
}

#[derive(Serialize)]
struct JsonExtract<'a> {
    read_cleanly: bool,
    note: Option<&'static str>,
    inputs: &'a [InputSummary],
}

#[derive(Serialize)]
struct JsonWarning<'a> {
    file: &'a str,
    line: u64,
    id: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct JsonConfig<'a> {
    path: String,
    sha256: &'a str,
    work_dir: String,
}

#[derive(Serialize)]
struct JsonOptions<'a> {
    dry_run: bool,
    mode: Option<&'static str>,
    only: &'a [String],
    force: bool,
}

#[derive(Serialize)]
struct JsonOutcome<'a> {
    exit_code: u8,
    status: &'static str,
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonCounts {
    rows_read: usize,
    rows_written: usize,
    rows_filtered: usize,
    rows_rejected: usize,
    users_written: usize,
    users_vanished: usize,
}

#[derive(Serialize)]
struct Named<'a> {
    name: &'a str,
    count: usize,
}

#[derive(Serialize)]
struct JsonRejected<'a> {
    file: &'a str,
    line: u64,
    /// A query input's row: `file` is the input's name, `line` the row number.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    query: bool,
    id: &'a str,
    reasons: &'a [String],
}

#[derive(Serialize)]
struct JsonFile {
    name: String,
    path: String,
    users: u64,
    bytes: u64,
    sha256: String,
    delivered_to: Vec<JsonDelivery>,
}

#[derive(Serialize)]
struct JsonDelivery {
    destination: String,
    location: String,
}

fn named<'a>(map: impl IntoIterator<Item = (&'a str, usize)>) -> Vec<Named<'a>> {
    map.into_iter()
        .map(|(name, count)| Named { name, count })
        .collect()
}

fn rejected_rows(r: &RunReport) -> Vec<JsonRejected<'_>> {
    r.rejected
        .iter()
        .filter_map(|o| match &o.decision {
            Decision::Rejected { errors } => Some(JsonRejected {
                file: &o.row.file,
                line: o.row.line,
                query: o.row.query,
                id: &o.key,
                reasons: errors,
            }),
            _ => None,
        })
        .collect()
}

fn files(r: &RunReport) -> Vec<JsonFile> {
    r.packages
        .iter()
        .map(|p| {
            let name = file_name(&p.path);
            let delivered_to = r
                .deliveries
                .iter()
                .filter(|(_, location)| location.ends_with(&name))
                .map(|(destination, location)| JsonDelivery {
                    destination: destination.clone(),
                    location: location.clone(),
                })
                .collect();
            JsonFile {
                name,
                path: p.path.display().to_string(),
                users: p.users,
                bytes: p.size,
                sha256: p.sha256.clone(),
                delivered_to,
            }
        })
        .collect()
}

/// The config's description of each user-group code the run sent (`[[group]]` and
/// `[[combined_group]]` `desc`).
fn group_descriptions<'a>(run: &'a Run<'_>) -> BTreeMap<&'a str, &'a str> {
    let m = &run.config.mapping;
    let described = m
        .groups
        .iter()
        .map(|g| (g.group.as_str(), g.desc.as_deref()))
        .chain(
            m.combined_groups
                .iter()
                .map(|g| (g.group.as_str(), g.desc.as_deref())),
        );
    let mut out = BTreeMap::new();
    for (code, desc) in described {
        if let Some(desc) = desc
            && run.report.user_groups.contains_key(code)
        {
            out.entry(code).or_insert(desc);
        }
    }
    out
}

/// `--mode` as given (`None`: the config decides).
fn mode_name(run: &Run<'_>) -> Option<&'static str> {
    run.args.mode.map(|m| match m {
        crate::cmd::run::Mode::Full => "full",
        crate::cmd::run::Mode::Delta => "delta",
    })
}

/// `report.json`: pretty-printed, keys in a fixed order, one trailing newline.
fn render_json(run: &Run<'_>, exit: Exit, error: Option<&str>) -> String {
    let r = &run.report;
    let c = r.row_counts();
    let mode = mode_name(run);
    let report = JsonReport {
        schema: SCHEMA,
        tool: Tool {
            name: "alma-sis",
            version: env!("CARGO_PKG_VERSION"),
        },
        feed: &run.config.mapping.feed.name,
        institution: &run.config.mapping.feed.institution,
        started_at: run
            .ctx
            .now
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        config: JsonConfig {
            path: run.config.path.display().to_string(),
            sha256: &run.config.hash,
            work_dir: run.config.output.dir.display().to_string(),
        },
        options: JsonOptions {
            dry_run: run.args.dry_run,
            mode,
            only: &run.args.only,
            force: run.args.force,
        },
        outcome: JsonOutcome {
            exit_code: exit.code(),
            status: exit.name(),
            error,
        },
        counts: JsonCounts {
            rows_read: c.read,
            rows_written: c.written,
            rows_filtered: c.filtered,
            rows_rejected: c.rejected,
            users_written: r.users_written,
            users_vanished: r.vanished.len(),
        },
        filtered_by_rule: named(r.filtered_by_rule()),
        rejected_by_code: named(r.rejected_by_code()),
        user_groups: named(r.user_groups.iter().map(|(k, v)| (k.as_str(), *v))),
        expiry_by_month: named(r.expiry_months.iter().map(|(k, v)| (k.as_str(), *v))),
        comparison: r.comparison.as_ref(),
        rejected: rejected_rows(r),
        vanished: &r.vanished,
        files: files(r),
        warnings: r.all_warnings(),
        purge_soon: &r.purge_soon.1,
        delivery: r.delivery.as_ref(),
        removed_partials: &r.removed_partials,
        attention: r.attention(),
        plan: r.plan.as_ref(),
        extract: JsonExtract {
            read_cleanly: !r.extract_incomplete(),
            note: r.extract_incomplete().then_some(INCOMPLETE_NOTE),
            inputs: &r.inputs,
        },
        warnings_by_code: named(r.warnings_by_code()),
        row_warnings: r
            .row_warnings
            .iter()
            .map(|(id, w)| JsonWarning {
                file: &w.row.file,
                line: w.row.line,
                id,
                reason: &w.text,
            })
            .collect(),
        every_warning: r
            .every_warning()
            .into_iter()
            .map(|(code, message)| JsonCoded { code, message })
            .collect(),
        alerts: &r.alerts,
        retries: &r.retries,
        user_group_descriptions: group_descriptions(run),
        trend: &r.trend,
    };
    // Serializing plain structs of strings and numbers cannot fail.
    let mut json = serde_json::to_string_pretty(&report).unwrap_or_default();
    json.push('\n');
    json
}

/// The extract's sections of `report.html`: how each input read (with the lines of rows
/// decoded with the fallback), and the warnings.
fn render_html_extract(s: &mut String, r: &RunReport) {
    s.push_str("<h2>Reading the extract</h2>\n");
    if r.extract_incomplete() {
        let _ = writeln!(s, "<p><b>{}</b></p>", esc(INCOMPLETE_NOTE));
    }
    if r.inputs.is_empty() {
        s.push_str("<p class=\"none\">The inputs were not read.</p>\n");
    } else {
        s.push_str(
            "<table><tr><th>input</th><th class=\"n\">rows</th><th class=\"n\">unreadable</th><th>decoded with the fallback</th></tr>\n",
        );
        for input in &r.inputs {
            let decoded = match input.fallback {
                Some(encoding) if input.whole_file => {
                    format!("every row: a UTF-16 file, {}", esc(encoding))
                }
                Some(encoding) if !input.fallback_lines.is_empty() => {
                    let lines: Vec<String> = input
                        .fallback_lines
                        .iter()
                        .take(HTML_REJECTED_ROWS)
                        .map(ToString::to_string)
                        .collect();
                    let more = input
                        .fallback_lines
                        .len()
                        .saturating_sub(HTML_REJECTED_ROWS);
                    let more = if more > 0 {
                        format!(" &hellip; and {more} more (all in report.json)")
                    } else {
                        String::new()
                    };
                    format!(
                        "{} row(s) as {}, lines {}{more}",
                        input.fallback_lines.len(),
                        esc(encoding),
                        lines.join(", ")
                    )
                }
                _ => "none".to_owned(),
            };
            let _ = writeln!(
                s,
                "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{decoded}</td></tr>",
                esc(&input.file),
                input.rows,
                input.unreadable_rows
            );
        }
        s.push_str("</table>\n");
    }
    if !r.row_warnings.is_empty() {
        s.push_str("<h2>Warnings: loaded anyway</h2>\n");
        let by_code = largest_first(r.warnings_by_code());
        table_of_counts(s, "code", &by_code, "");
        s.push_str("<table><tr><th>where</th><th>id</th><th>what</th></tr>\n");
        for (id, w) in r.row_warnings.iter().take(HTML_REJECTED_ROWS) {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&w.row.to_string()),
                esc(id),
                esc(&w.text)
            );
        }
        s.push_str("</table>\n");
    }
}

/// A size for people: `912 B`, `17.3 KiB`, `4.2 MiB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // f64 is exact enough for one decimal of any file size.
    let mut size = bytes as f64 / 1024.0;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.1} {}", UNITS[unit])
}

/// Escapes text for HTML element content and attribute values.
pub(crate) use alma_user_model::escape_html as esc;

/// Rejected rows listed on the page; the rest are counted (all are in `report.json`).
const HTML_REJECTED_ROWS: usize = 500;

pub(crate) const CSS: &str = "\
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#1d1d1f;background:#fff}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.sub{color:#555;margin-top:0}
.status{display:inline-block;padding:.15em .6em;border-radius:.3em;font-weight:600;color:#fff}
.s0{background:#2e7d32}.s1{background:#ef6c00}.s2,.s3,.s4,.s5{background:#c62828}
.cards{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.card{border:1px solid #ddd;border-radius:.4em;padding:.6em 1em;min-width:8em}
.card b{display:block;font-size:1.6em}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #eee;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#5c7cfa;height:.9em;border-radius:.2em}
.none{color:#777;font-style:italic}
.charts{display:flex;flex-wrap:wrap;gap:1em 2em;margin:.6em 0}
code{font-size:.9em}
";

pub(crate) fn table_of_counts(s: &mut String, head: &str, rows: &[(String, usize)], empty: &str) {
    if rows.is_empty() {
        let _ = writeln!(s, "<p class=\"none\">{}</p>", esc(empty));
        return;
    }
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    let _ = writeln!(
        s,
        "<table><tr><th>{}</th><th class=\"n\">count</th><th style=\"width:50%\"></th></tr>",
        esc(head)
    );
    for (name, n) in rows {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"n\">{n}</td><td><div class=\"bar\" style=\"width:{}%\"></div></td></tr>",
            esc(name),
            n * 100 / max
        );
    }
    s.push_str("</table>\n");
}

/// The start of a report page: head, title, and when, which version and which config.
pub(crate) fn page_head(title: &str, now: &str, config_sha256: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<h1>{t}</h1>\n",
        t = esc(title)
    );
    let _ = writeln!(
        s,
        "<p class=\"sub\">{} &middot; alma-sis {} &middot; config sha256 <code>{}</code></p>",
        esc(now),
        env!("CARGO_PKG_VERSION"),
        esc(config_sha256)
    );
    s
}

/// `report.html`: one self-contained page (inline CSS, no scripts, no external resources).
fn render_html(run: &Run<'_>, exit: Exit, error: Option<&str>) -> String {
    let r = &run.report;
    let c = r.row_counts();
    let feed = &run.config.mapping.feed;
    let title = format!("alma-sis run {} ({})", feed.name, feed.institution);
    let mut s = page_head(&title, &local_time(&run.ctx.now), &run.config.hash);
    let _ = writeln!(
        s,
        "<p><span class=\"status s{}\">{} (exit {})</span>{}</p>",
        exit.code(),
        esc(exit.name()),
        exit.code(),
        if run.args.dry_run {
            " &middot; dry run: nothing delivered"
        } else {
            ""
        }
    );
    let mut options = Vec::new();
    if let Some(mode) = mode_name(run) {
        options.push(format!("--mode {mode}"));
    }
    if !run.args.only.is_empty() {
        options.push(format!("--only {} id(s)", run.args.only.len()));
    }
    if run.args.force {
        options.push("--force: the brake was overridden".to_owned());
    }
    if !options.is_empty() {
        let _ = writeln!(s, "<p>Options: {}</p>", esc(&options.join(", ")));
    }
    if let Some(error) = error {
        let _ = writeln!(s, "<p><b>What went wrong:</b> {}</p>", esc(error));
    }
    let every = r.every_warning();
    if !every.is_empty() {
        s.push_str(
            "<h2>Warnings</h2>\n<table><tr><th>code</th><th>what, and what to do</th></tr>\n",
        );
        for (code, text) in &every {
            let _ = writeln!(
                s,
                "<tr><td style=\"white-space:nowrap\"><code>{}</code></td><td>{}</td></tr>",
                esc(code),
                esc(text)
            );
        }
        s.push_str("</table>\n");
    }
    if !r.alerts.is_empty() {
        s.push_str("<h2>Alerts</h2>\n<table><tr><th>to</th><th>because</th><th>sent</th></tr>\n");
        for alert in &r.alerts {
            let on: Vec<&str> = alert.on.iter().map(|c| c.name()).collect();
            let sent = match &alert.error {
                None => "yes".to_owned(),
                Some(e) => format!("<b>no</b>: {}", esc(e)),
            };
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{sent}</td></tr>",
                esc(&alert.target),
                esc(&on.join(", "))
            );
        }
        s.push_str("</table>\n");
    }

    s.push_str("<h2>Counts</h2>\n<div class=\"cards\">\n");
    for (label, n) in [
        ("rows read", c.read),
        ("users written", r.users_written),
        ("rows filtered", c.filtered),
        ("rows rejected", c.rejected),
        ("users vanished", r.vanished.len()),
    ] {
        let _ = writeln!(s, "<div class=\"card\"><b>{n}</b>{label}</div>");
    }
    s.push_str("</div>\n");
    let _ = writeln!(
        s,
        "<p>{} rows became {} users; every row read was written, filtered or rejected.</p>",
        c.written, r.users_written
    );
    s.push_str(&super::trend::charts_html(&r.trend));

    s.push_str("<h2>Filtered by rule</h2>\n");
    let by_rule = largest_first(r.filtered_by_rule());
    table_of_counts(&mut s, "rule", &by_rule, "No row was filtered.");

    s.push_str("<h2>Rejected by code</h2>\n");
    let by_code = largest_first(r.rejected_by_code());
    table_of_counts(&mut s, "code", &by_code, "No row was rejected.");

    s.push_str("<h2>User groups</h2>\n");
    let descriptions = group_descriptions(run);
    let groups: Vec<(String, usize)> = r
        .user_groups
        .iter()
        .map(|(k, v)| match descriptions.get(k.as_str()) {
            Some(desc) => (format!("{k}: {desc}"), *v),
            None => (k.clone(), *v),
        })
        .collect();
    table_of_counts(&mut s, "user group", &groups, "No user was sent.");

    s.push_str("<h2>Expiry dates</h2>\n");
    let months: Vec<(String, usize)> = r
        .expiry_months
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    table_of_counts(&mut s, "month", &months, "No user was sent.");

    s.push_str("<h2>Compared with the last run</h2>\n");
    match &r.comparison {
        Some(cmp) => {
            let _ = writeln!(
                s,
                "<table style=\"width:auto;min-width:28em\"><tr><th>last successful run</th><td>{}</td></tr>\n\
                 <tr><th>eligible then</th><td class=\"n\">{}</td></tr>\n\
                 <tr><th>eligible now</th><td class=\"n\">{}</td></tr>\n\
                 <tr><th>new</th><td class=\"n\">{}</td></tr>\n\
                 <tr><th>changed</th><td class=\"n\">{}</td></tr>\n\
                 <tr><th>unchanged</th><td class=\"n\">{}</td></tr>\n\
                 <tr><th>vanished</th><td class=\"n\">{}</td></tr></table>",
                esc(&readable(&cmp.last_run_at)),
                cmp.last_eligible,
                cmp.eligible,
                cmp.new,
                cmp.changed,
                cmp.unchanged,
                cmp.vanished
            );
        }
        None => s.push_str("<p class=\"none\">No earlier successful run is recorded.</p>\n"),
    }

    s.push_str("<h2>Rejected rows</h2>\n");
    let rejected = rejected_rows(r);
    if rejected.is_empty() {
        s.push_str("<p class=\"none\">None.</p>\n");
    } else {
        s.push_str("<table><tr><th>where</th><th>id</th><th>why</th></tr>\n");
        for row in rejected.iter().take(HTML_REJECTED_ROWS) {
            let reasons: Vec<String> = row.reasons.iter().map(|e| esc(e)).collect();
            let _ = writeln!(
                s,
                "<tr><td>{}{}{}</td><td>{}</td><td>{}</td></tr>",
                esc(row.file),
                if row.query { " row " } else { ":" },
                row.line,
                esc(row.id),
                reasons.join("<br>")
            );
        }
        s.push_str("</table>\n");
        if rejected.len() > HTML_REJECTED_ROWS {
            let _ = writeln!(
                s,
                "<p>&hellip; and {} more rows: every one is in <code>{}.report.json</code>.</p>",
                rejected.len() - HTML_REJECTED_ROWS,
                esc(&run.stem)
            );
        }
    }

    render_html_extract(&mut s, r);

    if !r.vanished.is_empty() {
        s.push_str("<h2>Vanished since the last run</h2>\n<p>");
        let ids: Vec<String> = r.vanished.iter().map(|id| esc(id)).collect();
        s.push_str(&ids.join(", "));
        s.push_str("</p>\n");
    }

    s.push_str("<h2>Files</h2>\n");
    let files = files(r);
    if files.is_empty() {
        s.push_str("<p class=\"none\">No file was written.</p>\n");
    } else {
        s.push_str(
            "<table><tr><th>file</th><th class=\"n\">users</th><th class=\"n\">size</th><th>delivered to</th></tr>\n",
        );
        for f in files {
            let to: Vec<String> = f
                .delivered_to
                .iter()
                .map(|d| format!("{} ({})", esc(&d.location), esc(&d.destination)))
                .collect();
            let to = if to.is_empty() {
                "<span class=\"none\">not delivered</span>".to_owned()
            } else {
                to.join("<br>")
            };
            let _ = writeln!(
                s,
                "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{to}</td></tr>",
                esc(&f.name),
                f.users,
                human_bytes(f.bytes)
            );
        }
        s.push_str("</table>\n");
    }
    s.push_str("</body>\n</html>\n");
    s
}
