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
    Claim, FeedLock, NewRun, Owner, PlanOptions, PlannedRun, PurgePolicy, RunCounts, RunEnd, RunId,
    RunOutcome, RunRecord, StateError, StateStore,
};
use anyhow::Context as _;

use super::report::Comparison;
use super::report::Run;
use crate::config::AppConfig;
use crate::config::Mode;
use crate::exit::{Exit, Failure};

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
                super::page::readable(&killed.started)
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

/// What the purge dates sent follow: the `[purge]` rules and `[state]
/// purge_minimum_days` (see [`alma_sis_state::Planner::set_purge_basis`]).
pub fn purge_basis(config: &AppConfig) -> String {
    format!(
        "{}; minimum {} days",
        config.purge.basis(),
        config.state.purge_minimum_days
    )
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
    if plan.brake.purge_rules_changed {
        run.report.warnings.push(format!(
            "{}: the [purge] rules changed since the last complete run: everyone this run \
             maps is sent again with the purge dates the new rules give",
            crate::warning::PURGE_RULES_CHANGED
        ));
    }
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

/// The brake's refusal (exit 4) unless `--force`; a forced run is logged. When the config
/// changed since the baseline run, the message says so: a changed rule changes many people
/// at once, which is what the brake counts.
pub fn brake(
    run: &Run<'_>,
    plan: &PlannedRun<'_>,
    baseline: Option<&RunRecord>,
) -> Result<(), String> {
    if let Err(brake) = plan.check_brake(run.args.force) {
        let config = baseline
            .filter(|b| b.config_hash != run.config.hash)
            .map(|b| {
                format!(
                    " The config changed since run {} ({}): people whose records a changed \
                     rule changes are sent again, and the brake counts them.",
                    b.id, b.started
                )
            })
            .unwrap_or_default();
        return Err(format!(
            "{brake}.{config} Nothing was packaged or delivered. If this extract is right, run \
             again with --force."
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
            .map(|p| super::page::file_name(&p.path))
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

/// Records a run that failed before it had a plan: nothing is marked sent.
pub fn record_failure(
    run: &Run<'_>,
    opened: &mut Opened,
    error: &anyhow::Error,
) -> anyhow::Result<()> {
    let outcome = match crate::exit::exit_code_of(error) {
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
