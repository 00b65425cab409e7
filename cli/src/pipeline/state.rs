//! The run state: what was sent before decides what to send (full or delta, vanished people,
//! the brake), and what was sent is recorded once it was delivered.
//!
//! The feed's lock is taken before the extract is read and held until the run is recorded,
//! so two runs of one feed never overlap. The run's item writes go into one transaction that
//! is committed only after delivery: a run killed before that leaves the state as the last
//! finished run left it, and the next run sends the same again.

use std::collections::HashSet;
use std::path::PathBuf;

use alma_sis_state::{
    BrakeLimits, Claim, FeedLock, LoadMode, NewRun, Owner, PlanOptions, PlannedRun, PurgePolicy,
    RunCounts, RunEnd, RunId, RunOutcome, RunRecord, StateError, StateStore, VanishedPolicy,
    WaitPolicy,
};
use alma_user_model::MatchId;
use anyhow::Context as _;
use serde::Deserialize;

use super::Run;
use super::report::Comparison;
use crate::cmd::run::Mode;
use crate::config::{AppConfig, OutputConfig};
use crate::exit::{Exit, Failure};

/// Set to `after-package` or `during-record` to kill the run at that point (tests of crash
/// consistency); never set in production.
const FAULT_ENV: &str = "ALMA_SIS_TEST_FAULT";

/// `[state]`: the run-state file, the load mode, vanished people and the brake.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// The state file; default `<output.dir>/alma-sis-state.sqlite`.
    pub path: Option<PathBuf>,
    /// `full` or `delta`; `run --mode` overrides it.
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// What people sent before and missing from the extract get.
    #[serde(default)]
    pub vanished: VanishedSetting,
    /// Days after the day someone vanished for their expiry and purge date (`expire`).
    #[serde(default)]
    pub vanished_grace_days: u32,
    /// Successful runs that re-send a vanished person before they are retired.
    #[serde(default = "default_vanished_runs")]
    pub vanished_runs: u32,
    /// Re-send an unchanged user when the expiry date last sent is this many days away.
    #[serde(default = "default_refresh_days")]
    pub refresh_days: u32,
    /// The brake trips when the eligible count falls by more than this percentage.
    #[serde(default = "default_eligible_drop")]
    pub brake_eligible_drop_percent: f64,
    /// The brake trips when more than this percentage of known users changed or vanished.
    #[serde(default = "default_changed")]
    pub brake_changed_percent: f64,
    /// No purge date is sent sooner than this many days after the later of the expiry date
    /// and the run date; `[purge]` durations must be at least this long.
    #[serde(default = "default_purge_minimum")]
    pub purge_minimum_days: u32,
    /// Seconds a run waits for a busy state file (another process writing it) or for the
    /// feed's lock (another run of the feed) before it gives up.
    #[serde(default = "default_lock_wait")]
    pub lock_wait_secs: u64,
}

/// `state.vanished`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VanishedSetting {
    /// Re-send with the expiry date on the day they vanished (plus the grace) and a purge
    /// date by their last group's `[purge]` rule, no sooner than the minimum.
    #[default]
    Expire,
    /// Re-send with status INACTIVE (the last expiry date, and a purge date as for `expire`).
    Inactive,
    /// Send nothing.
    Nothing,
}

fn default_mode() -> Mode {
    Mode::Full
}

fn default_vanished_runs() -> u32 {
    3
}

fn default_refresh_days() -> u32 {
    30
}

fn default_eligible_drop() -> f64 {
    10.0
}

fn default_changed() -> f64 {
    25.0
}

fn default_purge_minimum() -> u32 {
    PurgePolicy::DEFAULT_MINIMUM_DAYS
}

fn default_lock_wait() -> u64 {
    600
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            path: None,
            mode: default_mode(),
            vanished: VanishedSetting::default(),
            vanished_grace_days: 0,
            vanished_runs: default_vanished_runs(),
            refresh_days: default_refresh_days(),
            brake_eligible_drop_percent: default_eligible_drop(),
            brake_changed_percent: default_changed(),
            purge_minimum_days: default_purge_minimum(),
            lock_wait_secs: default_lock_wait(),
        }
    }
}

impl StateConfig {
    /// The state file: `path`, or `alma-sis-state.sqlite` in the output directory.
    pub fn file(&self, output: &OutputConfig) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| output.dir.join("alma-sis-state.sqlite"))
    }

    /// Checks the percentages.
    pub fn validate(&self) -> Result<(), String> {
        for (key, value) in [
            (
                "brake_eligible_drop_percent",
                self.brake_eligible_drop_percent,
            ),
            ("brake_changed_percent", self.brake_changed_percent),
        ] {
            if !(0.0..=100.0).contains(&value) {
                return Err(format!(
                    "state.{key} = {value} is not a percentage between 0 and 100"
                ));
            }
        }
        Ok(())
    }

    /// How long to wait for a busy state file or feed lock; a wait that starts is logged
    /// (stderr at the default level).
    pub fn wait_policy(&self) -> WaitPolicy {
        WaitPolicy {
            limit: std::time::Duration::from_secs(self.lock_wait_secs),
            notice: std::sync::Arc::new(|waiting| tracing::warn!("{waiting}")),
        }
    }

    /// How `alma-sis explain` and `run` plan (full mode, a complete run), users matched on
    /// `match_id` (`[check] match_id`).
    pub fn explain_options(&self, match_id: &str) -> PlanOptions {
        self.plan_options(Mode::Full, false, match_id)
    }

    fn plan_options(&self, mode: Mode, partial: bool, match_id: &str) -> PlanOptions {
        PlanOptions {
            match_id: MatchId::parse(match_id),
            mode: match mode {
                Mode::Full => LoadMode::Full,
                Mode::Delta => LoadMode::Delta,
            },
            vanished: match self.vanished {
                VanishedSetting::Expire => VanishedPolicy::Expire {
                    grace_days: self.vanished_grace_days,
                },
                VanishedSetting::Inactive => VanishedPolicy::Inactive,
                VanishedSetting::Nothing => VanishedPolicy::Nothing,
            },
            vanished_runs: self.vanished_runs,
            refresh_days: self.refresh_days,
            brake: BrakeLimits {
                eligible_drop_percent: self.brake_eligible_drop_percent,
                changed_or_vanished_percent: self.brake_changed_percent,
            },
            partial,
        }
    }
}

/// Opens the state file of `config` for a support command; `None` when it does not exist.
/// A file that belongs to another institution is refused; busy waits are told on stderr.
pub fn open_existing(config: &AppConfig) -> anyhow::Result<Option<(PathBuf, StateStore)>> {
    let path = config.state.file(&config.output);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let mut store = StateStore::open(&path).map_err(state_error)?;
    store
        .set_wait(&config.state.wait_policy())
        .map_err(state_error)?;
    store
        .check_institution(&config.mapping.feed.institution)
        .map_err(state_error)?;
    Ok(Some((path, store)))
}

/// A state error as a failure with its causes: a wait that ran out is `state-busy` (exit
/// 5), anything else a config-or-input error (exit 2).
pub fn state_error(e: StateError) -> anyhow::Error {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    let exit = if e.is_busy() {
        message.push_str(
            "; nothing was sent. Run again when the other run has finished, or raise \
             state.lock_wait_secs",
        );
        Exit::StateBusy
    } else {
        match e {
            StateError::Foreign { .. } => message.push_str(
                ": it is another site's state file. Nothing was sent (--force does not \
                 change this); point state.path at this institution's state file",
            ),
            StateError::Unclaimed { .. } => message.push_str(
                ". Nothing was sent. If it is this institution's state file (see `alma-sis \
                 history`), run `alma-sis state adopt` once",
            ),
            StateError::Link { .. } => message.push_str(
                ". Nothing was changed at the link or its target; replace the link with the \
                 file itself, or point the config at the file",
            ),
            _ => {}
        }
        Exit::ConfigOrInput
    };
    Failure::error(exit, message)
}

/// Takes the feed's lock, waiting up to `state.lock_wait_secs` for another run of the feed
/// (and saying so).
pub fn lock(run: &Run<'_>) -> anyhow::Result<FeedLock> {
    lock_feed(run.config, &run.config.mapping.feed.name)
}

/// Takes `feed`'s lock beside the state file of `config`, waiting as configured.
pub fn lock_feed(config: &AppConfig, feed: &str) -> anyhow::Result<FeedLock> {
    let path = config.state.file(&config.output);
    FeedLock::acquire_waiting(&path, feed, &config.state.wait_policy()).map_err(state_error)
}

/// The run as the state store knows it: the open store, the run's id and the baseline.
pub struct Opened {
    /// The open store.
    pub store: StateStore,
    /// This run's id (recorded as running).
    pub run_id: RunId,
    /// The last successful complete run, the brake's and the report's baseline.
    pub baseline: Option<RunRecord>,
    /// Full or delta.
    pub mode: Mode,
    /// Only some people (`--only`).
    pub partial: bool,
}

/// Opens the state file and records that this run started.
pub fn open(run: &mut Run<'_>) -> anyhow::Result<Opened> {
    let feed = &run.config.mapping.feed.name;
    let path = run.config.state.file(&run.config.output);
    let mut store = StateStore::open(&path).map_err(state_error)?;
    store
        .set_wait(&run.config.state.wait_policy())
        .map_err(state_error)?;
    claim(run, &mut store)?;
    let mode = run.args.mode.unwrap_or(run.config.state.mode);
    let partial = !run.args.only.is_empty();
    let baseline = store.last_successful_run(feed).map_err(state_error)?;
    // A run still recorded as running was killed (the lock is ours): its report was never
    // written, so this one says so.
    if let Some(killed) = store
        .runs(Some(feed), 1)
        .map_err(state_error)?
        .into_iter()
        .find(|r| r.outcome == RunOutcome::Running)
    {
        run.report.warn(
            crate::warning::RUN_KILLED,
            &format!(
                "run {} (started {}) never finished: it was killed (SIGKILL, a crash, a power \
                 cut) and wrote no report; it recorded nobody as sent, so this run sends what it \
                 held; if runs are killed every night, give them more time",
                killed.id,
                super::report::readable(&killed.started)
            ),
        );
    }
    let run_id = store
        .begin_run(&NewRun {
            feed: feed.clone(),
            started: run.ctx.now,
            config_hash: run.config.hash.clone(),
            mode: mode_name(mode).to_owned(),
            partial,
        })
        .map_err(state_error)?;
    Ok(Opened {
        store,
        run_id,
        baseline,
        mode,
        partial,
    })
}

/// Claims the state file for this institution and feed before anything else is read from it
/// or written to it: another institution's file, or an old file nothing shows is ours, stops
/// the run (exit 2, `--force` or not). An adoption is reported.
fn claim(run: &mut Run<'_>, store: &mut StateStore) -> anyhow::Result<()> {
    let feed = &run.config.mapping.feed;
    let owner = Owner {
        institution: feed.institution.clone(),
        feed: feed.name.clone(),
    };
    let claim = store
        .claim(&owner, &run.config.hash, run.today)
        .map_err(state_error)?;
    if let Claim::Adopted { .. } = claim {
        let note = format!(
            "state file {} recorded no owner (an earlier alma-sis wrote it); a run of feed {:?} \
             with this very config is recorded in it, so it is now recorded as institution \
             {:?}'s",
            store.path().display(),
            owner.feed,
            owner.institution
        );
        tracing::warn!("{note}");
        run.report.warn(crate::warning::STATE_ADOPTED, &note);
    }
    Ok(())
}

/// How vanished people get their purge dates: the mapping's `[purge]` rules by their last
/// group, and `state.purge_minimum_days`.
pub fn purge_policy(config: &AppConfig) -> PurgePolicy {
    let rules = config.purge.clone();
    PurgePolicy {
        rule: std::sync::Arc::new(move |group: Option<&str>, expiry| {
            rules.purge_date(group, expiry)
        }),
        minimum_days: config.state.purge_minimum_days,
    }
}

/// How this run plans, from `[state]` and the command line.
pub fn plan_options(run: &Run<'_>, mode: Mode, partial: bool) -> PlanOptions {
    run.config
        .state
        .plan_options(mode, partial, &run.config.check.match_id)
}

/// The files of the inputs marked `supplement`: a supplement row alone (a card file) does not
/// keep someone who left from vanishing.
pub fn supplements(run: &Run<'_>) -> HashSet<String> {
    supplement_files(run.config)
}

/// The files of the inputs marked `supplement`, as rows name them.
pub fn supplement_files(config: &AppConfig) -> HashSet<String> {
    config
        .mapping
        .inputs
        .iter()
        .filter(|i| i.supplement)
        .map(|i| i.name())
        .collect()
}

/// Logs the plan and puts the vanished people and the comparison with the baseline into the
/// report.
pub fn report_plan(
    run: &mut Run<'_>,
    baseline: Option<&RunRecord>,
    mode: Mode,
    partial: bool,
    plan: &PlannedRun<'_>,
) {
    let c = plan.counts;
    tracing::info!(
        feed = %run.config.mapping.feed.name,
        mode = mode_name(mode),
        eligible = c.eligible,
        to_send = c.sent,
        new = c.new,
        changed = c.changed,
        unchanged = c.unchanged,
        returning = c.returning,
        refreshed = c.refreshed,
        vanished = c.vanished,
        retired = c.retired,
        "planned"
    );
    for v in &plan.vanished {
        tracing::info!(primary_id = %v.primary_id, since = %v.since, action = ?v.action, send = v.send, of = v.of, retired = v.retired, "vanished");
    }
    run.report.vanished = plan.vanished.iter().map(|v| v.primary_id.clone()).collect();
    run.report.comparison = baseline.filter(|_| !partial).map(|b| Comparison {
        last_run_at: b.started.clone(),
        last_eligible: to_usize(b.counts.eligible),
        eligible: to_usize(c.eligible),
        new: to_usize(c.new),
        changed: to_usize(c.changed),
        unchanged: to_usize(c.unchanged),
        vanished: plan.vanished.len(),
    });
}

/// The brake's refusal (exit 4) unless `--force`; a forced run is logged.
pub fn brake(run: &Run<'_>, plan: &PlannedRun<'_>) -> Result<(), String> {
    if let Err(brake) = plan.check_brake(run.args.force) {
        return Err(format!(
            "{brake}. Nothing was packaged or delivered. If this extract is right, run again \
             with --force."
        ));
    }
    if plan.brake.tripped() {
        tracing::warn!("{}; going on because of --force", plan.brake);
    }
    Ok(())
}

/// How the run ended, for the state store: the files and destination come from the report.
pub fn run_end(
    run: &Run<'_>,
    outcome: RunOutcome,
    counts: RunCounts,
    message: Option<String>,
) -> RunEnd {
    RunEnd {
        outcome,
        counts,
        files: run
            .report
            .packages
            .iter()
            .map(|p| super::report::file_name(&p.path))
            .collect(),
        destination: run.report.deliveries.first().map(|(to, _)| to.clone()),
        message,
    }
}

/// What the raw-row hashes of a run are taken under: the hash recipe's version, the config
/// and the mapping as read, and every lookup and term calendar file it names (their bytes;
/// one that cannot be read makes a basis no run had, so nobody is skipped).
pub fn raw_basis(config: &AppConfig) -> Vec<u8> {
    use sha2::Digest as _;
    let mut sha = sha2::Sha256::new();
    sha.update(sis_extract::RAW_HASH_VERSION.to_le_bytes());
    sha.update(config.hash.as_bytes());
    let source = &config.mapping.source;
    sha.update(source.path.to_string_lossy().as_bytes());
    sha.update(source.text.len().to_le_bytes());
    sha.update(source.text.as_bytes());
    let mapping = &config.mapping;
    let files = mapping
        .lookups
        .values()
        .filter_map(|l| l.path.as_ref())
        .chain(mapping.term_calendar.as_ref().and_then(|t| t.path.as_ref()));
    for path in files {
        match std::fs::read(config.base_dir.join(path)) {
            Ok(bytes) => {
                sha.update(bytes.len().to_le_bytes());
                sha.update(&bytes);
            }
            Err(_) => sha.update(b"unreadable"),
        }
        sha.update(path.to_string_lossy().as_bytes());
    }
    sha.finalize().to_vec()
}

/// A test of crash consistency asked to be killed at `point` (`during-record`: while the
/// run's writes are open; `after-package`: after delivery, before recording). Never set in
/// production.
pub fn fault_at(point: &str) -> bool {
    std::env::var(FAULT_ENV).is_ok_and(|v| v == point)
}

/// Records a run that failed before it had a plan: nothing is marked sent.
pub fn record_failure(
    run: &Run<'_>,
    opened: &mut Opened,
    error: &anyhow::Error,
) -> anyhow::Result<()> {
    let outcome = match crate::exit_code_of(error) {
        Exit::Interrupted | Exit::Terminated => RunOutcome::Interrupted,
        _ => RunOutcome::Failed,
    };
    let end = run_end(
        run,
        outcome,
        RunCounts::default(),
        Some(format!("{error:#}")),
    );
    opened
        .store
        .finish_run(opened.run_id, &end, None, Vec::new())
        .map_err(state_error)
        .with_context(|| {
            format!(
                "recording run {} in {}",
                opened.run_id,
                opened.store.path().display()
            )
        })
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Full => "full",
        Mode::Delta => "delta",
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
