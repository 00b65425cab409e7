//! Stage 7: what the run did, for the person reading it at 4 am and at 10 am: a one-screen
//! summary on stdout, and `<stem>.report.json` (schema [`SCHEMA`]) and `<stem>.report.html`
//! in the work directory (`[output] dir`), written for every run that got its config, also
//! when a stage failed.
//!
//! Privacy: the report carries ids, rule names, codes and counts, never names, emails,
//! addresses or birth dates.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use alma_sis_package::PackagedFile;
use alma_sis_state::RunId;
use alma_user_model::User;
use chrono::{Datelike as _, NaiveDate};
use serde::Serialize;
use sftp_deliver::Destination;
use sis_extract::{Decision, InputSummary, RowOutcome, RowWarning};

use super::options::RunOptions;
use super::page::{
    breakdown, esc, file_name, largest_first, local_time, page_head, readable, table_of_counts,
};
use crate::config::AppConfig;
use crate::context::Context;
use crate::exit::Exit;
use crate::warning;

/// Everything one run knows; stages fill it in order.
pub struct Run<'a> {
    /// The clock and config path.
    pub ctx: &'a Context,
    /// What this run was asked to do (`run`'s options).
    pub args: &'a RunOptions,
    /// The loaded config.
    pub config: &'a AppConfig,
    /// Today, as the run sees it.
    pub today: NaiveDate,
    /// `<institution>_<feed>_<YYYYMMDDHHMMSS>_r<run id>`: names this run's files (without
    /// `_r<id>` only for a run that stopped before the run state gave it an id).
    pub stem: String,
    /// The run's id in the run state, once it has one.
    pub run_id: Option<RunId>,
    /// Where the zips go; built before anything is read, so a refused key or pin stops the
    /// run first. `None` for `--dry-run`.
    pub destination: Option<Box<dyn Destination>>,
    /// What the run did, for the summary and the report.
    pub report: RunReport,
    /// Wall time per stage, in order (busy time for the steps of the pass, indented).
    pub timings: Vec<(&'static str, std::time::Duration)>,
    /// XML bytes packaged, for the timings file.
    pub xml_bytes: u64,
    /// People mapped and people skipped unmapped (unchanged rows), for the timings file.
    pub people: (u64, u64),
    /// When the run began, for its time in the trend.
    pub started: std::time::Instant,
}

impl Run<'_> {
    /// Runs one stage and records its wall time; on a terminal a spinner shows it meanwhile.
    pub(crate) fn timed<T>(&mut self, stage: &'static str, f: impl FnOnce(&mut Self) -> T) -> T {
        self.timed_as(stage, f, |_| None)
    }

    /// [`Run::timed`], leaving on a terminal the line `said` gives for what the stage did
    /// (`None`: the stage leaves no line).
    pub(crate) fn timed_as<T>(
        &mut self,
        stage: &'static str,
        f: impl FnOnce(&mut Self) -> T,
        said: impl FnOnce(&T) -> Option<String>,
    ) -> T {
        let start = std::time::Instant::now();
        let spinner = self.ctx.progress.spinner(stage_for_people(stage));
        let out = f(self);
        match said(&out) {
            Some(what) => self
                .ctx
                .progress
                .done(&spinner, &what, crate::progress::Unit::Rows),
            None => spinner.finish_and_clear(),
        }
        self.timings.push((stage, start.elapsed()));
        out
    }
}

/// A stage as a person would name it (the timings keep the short names).
fn stage_for_people(stage: &str) -> &str {
    match stage {
        "read" => "reading the extract",
        "alma plan" => "comparing with Alma's export",
        "plan" => "deciding who vanished",
        "package" => "compressing and verifying",
        "deliver" => "delivering",
        "record" => "recording the run",
        other => other,
    }
}

/// The `schema` value of `report.json`. Fields are only ever added within a version; a
/// renamed or removed field bumps it.
pub const SCHEMA: &str = "alma-sis.run-report/1";

/// What a run did. Stages fill it; the run's end (`pipeline::finish`) prints and writes it.
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
    pub alerts: Vec<crate::alert::AlertOutcome>,
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
pub(crate) fn free_report_paths(work_dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
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

/// The one-screen text summary.
pub(crate) fn render_summary(run: &Run<'_>, exit: Exit, reports: &[&Path]) -> String {
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
    alerts: &'a [crate::alert::AlertOutcome],
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
        crate::config::Mode::Full => "full",
        crate::config::Mode::Delta => "delta",
    })
}

/// `report.json`: pretty-printed, keys in a fixed order, one trailing newline.
pub(crate) fn render_json(run: &Run<'_>, exit: Exit, error: Option<&str>) -> String {
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

/// Rejected rows listed on the page; the rest are counted (all are in `report.json`).
const HTML_REJECTED_ROWS: usize = 500;

/// `report.html`: one self-contained page (inline CSS, no scripts, no external resources).
pub(crate) fn render_html(run: &Run<'_>, exit: Exit, error: Option<&str>) -> String {
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
