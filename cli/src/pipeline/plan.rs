//! `alma-sis plan`'s pass, also run by `run --plan-against` and `explain --alma-export`:
//! Alma's users export is indexed ([`AlmaExport`]), then the extract is mapped exactly as
//! `run` maps it (the same extract threads, [`super::extract::spawn`]), every user checked
//! by the same quarantine ([`Quarantine`]), and each user the run would send compared with
//! Alma's record under the profile's match id. After the pass come the Alma users no one
//! matched (the vanished candidates) and what the run state would send them.
//!
//! Memory: the export's index (about 50 bytes a user; records stay on disk), the run's own
//! indexes (extract, check), and per outcome, field and reason a count and a sample of ids.

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alma_sis_package::check::CheckOptions;
use alma_sis_package::plan::{AlmaExport, ExportOptions, Outcome, Verdict};
use alma_sis_state::{IfMissing, StateStore, VanishedAction};
use alma_user_model::{Finding, MatchId, User, match_key};
use anyhow::Context as _;
use chrono::NaiveDate;
use serde::Serialize;
use sis_extract::{Decision, Extractor, PersonOutcome};

use super::extract::Prepared;
use super::quarantine::Quarantine;
use super::report::RunReport;
use super::state::{open_existing, purge_policy, state_error, supplement_files};
use crate::config::{AppConfig, VanishedSetting};
use crate::exit::{Exit, Failure};

/// Ids kept per outcome, field, reason or action (the rest are counted; all are in the
/// people file).
pub const SAMPLE: usize = 20;

/// A count and the first [`SAMPLE`] ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// How many.
    pub count: u64,
    /// The first ids, in extract (or export) order.
    pub sample: Vec<String>,
}

impl Bucket {
    fn add(&mut self, id: &str) {
        self.count += 1;
        if self.sample.len() < SAMPLE {
            self.sample.push(id.to_owned());
        }
    }
}

pub use super::quarantine::PlanFailures;

/// The expiry and purge dates a vanished person is re-sent with.
pub type SentDates = (Option<NaiveDate>, Option<NaiveDate>);

/// What the run state would send an Alma user the load does not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VanishedSend {
    /// Re-sent with an expiry date (and a purge date by their last group).
    Expire,
    /// Re-sent with status INACTIVE.
    Inactivate,
    /// Nothing: their rows were rejected today, so the run holds them.
    Held,
    /// Nothing: the run state does not know them (alma-sis never sent them).
    NotInRunState,
    /// Nothing: known, never sent.
    NeverSent,
    /// Nothing: re-sent already as often as `state.vanished_runs` allows.
    Retired,
    /// Nothing: re-sent by a run today already.
    SentToday,
    /// Nothing: `state.vanished = "nothing"`.
    PolicyNothing,
    /// Nothing: the run state holds no record of what was sent.
    NoRecord,
}

impl VanishedSend {
    /// The stable name (report keys, the people file).
    pub fn name(self) -> &'static str {
        match self {
            VanishedSend::Expire => "expire",
            VanishedSend::Inactivate => "inactivate",
            VanishedSend::Held => "held",
            VanishedSend::NotInRunState => "not-in-run-state",
            VanishedSend::NeverSent => "never-sent",
            VanishedSend::Retired => "retired",
            VanishedSend::SentToday => "sent-today",
            VanishedSend::PolicyNothing => "policy-nothing",
            VanishedSend::NoRecord => "no-record",
        }
    }

    /// What `run` sends them, in words.
    pub fn text(self) -> &'static str {
        match self {
            VanishedSend::Expire => "run re-sends them with an expiry date (state.vanished)",
            VanishedSend::Inactivate => "run re-sends them inactive (state.vanished)",
            VanishedSend::Held => "run sends nothing: their rows were rejected today (held)",
            VanishedSend::NotInRunState => {
                "run sends nothing: not in the run state (alma-sis never sent them)"
            }
            VanishedSend::NeverSent => "run sends nothing: known to the run state, never sent",
            VanishedSend::Retired => {
                "run sends nothing: re-sent state.vanished_runs times already (retired)"
            }
            VanishedSend::SentToday => "run sends nothing: re-sent by a run today already",
            VanishedSend::PolicyNothing => "run sends nothing: state.vanished = \"nothing\"",
            VanishedSend::NoRecord => "run sends nothing: no record of what was sent",
        }
    }
}

/// One person's line of the plan: what `explain --alma-export` prints and the people file
/// holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonPlan {
    /// A user the load sends, and what Alma does with it.
    Compared {
        /// The user's primary id.
        primary_id: String,
        /// The prediction.
        verdict: Verdict,
    },
    /// A user the check quarantines: the run does not send it.
    Quarantined {
        /// The user's primary id.
        primary_id: String,
        /// The error codes.
        codes: Vec<String>,
    },
    /// An Alma user the load does not match.
    Vanished {
        /// Alma's primary id.
        primary_id: String,
        /// Its user group.
        user_group: Option<String>,
        /// What the run sends them.
        send: VanishedSend,
        /// The expiry and purge dates sent, when re-sent.
        dates: Option<SentDates>,
    },
}

impl PersonPlan {
    /// `new`, `update`, `unchanged`, `will_fail`, `quarantined` or `vanished`.
    pub fn outcome(&self) -> &'static str {
        match self {
            PersonPlan::Compared { verdict, .. } => verdict.outcome.name(),
            PersonPlan::Quarantined { .. } => "quarantined",
            PersonPlan::Vanished { .. } => "vanished",
        }
    }

    /// The reason code (will fail), the check codes (quarantined) or what run sends
    /// (vanished); empty otherwise.
    pub fn reason(&self) -> String {
        match self {
            PersonPlan::Compared { verdict, .. } => match &verdict.outcome {
                Outcome::WillFail(f) => f.reason.code().to_owned(),
                _ => String::new(),
            },
            PersonPlan::Quarantined { codes, .. } => codes.join(" "),
            PersonPlan::Vanished { send, .. } => send.name().to_owned(),
        }
    }
}

/// Everything a plan found; the reports are made from it.
#[derive(Debug, Default)]
pub struct PlanReport {
    /// Rows read, by decision, as the run counts them.
    pub rows: RunReport,
    /// Users mapped.
    pub users: u64,
    /// Per outcome: `new`, `update`, `unchanged`, `will_fail`, `quarantined`.
    pub outcomes: BTreeMap<&'static str, Bucket>,
    /// Updates per field label (`last_name`, `user_notes/user_note (removed)`).
    pub fields: BTreeMap<String, Bucket>,
    /// Failures per reason code.
    pub reasons: BTreeMap<&'static str, Bucket>,
    /// Vanished candidates per what run sends them.
    pub vanished: BTreeMap<VanishedSend, Bucket>,
    /// What the export covered.
    pub coverage: alma_sis_package::plan::Coverage,
    /// The profile's match id, as configured.
    pub match_id: String,
    /// The profile's groups (empty: every group).
    pub groups: Vec<String>,
    /// The users that will fail (for `run --plan-against`).
    pub failures: PlanFailures,
    /// The person `explain` asked about.
    pub focus: Option<PersonPlan>,
    /// Stage times.
    pub timings: Vec<(&'static str, Duration)>,
    /// Bytes the export's index held.
    pub index_bytes: usize,
}

impl PlanReport {
    /// Users that will fail.
    pub fn will_fail(&self) -> u64 {
        self.outcomes.get("will_fail").map_or(0, |b| b.count)
    }

    /// Users with an outcome.
    pub fn outcome(&self, name: &str) -> u64 {
        self.outcomes.get(name).map_or(0, |b| b.count)
    }

    /// Vanished candidates.
    pub fn vanished_count(&self) -> u64 {
        self.vanished.values().map(|b| b.count).sum()
    }

    /// 1 (findings) when a user will fail, else 0.
    pub fn exit(&self) -> Exit {
        if self.will_fail() > 0 {
            Exit::Findings
        } else {
            Exit::Ok
        }
    }
}

/// What a plan reads, besides the config.
pub struct PlanInput<'a> {
    /// The export's files, zips or folders.
    pub export: &'a [PathBuf],
    /// The person to keep the plan of (`explain`): a key or primary id.
    pub focus: Option<&'a str>,
    /// Where the people file goes (one line per person), if anywhere.
    pub people: Option<PathBuf>,
}

/// The user groups the mapping can give: the profile's groups.
pub fn profile_groups(config: &AppConfig) -> Vec<String> {
    let m = &config.mapping;
    let mut groups: Vec<String> = m
        .groups
        .iter()
        .map(|g| g.group.clone())
        .chain(m.combined_groups.iter().map(|g| g.group.clone()))
        .collect();
    groups.sort();
    groups.dedup();
    groups
}

/// Reads and indexes the export (an input error, exit 2, when it cannot be read).
pub fn read_export(config: &AppConfig, paths: &[PathBuf]) -> anyhow::Result<AlmaExport> {
    let dir = config.output.ensure_dir()?;
    let check = &config.check;
    let options = ExportOptions {
        match_id: MatchId::parse(&check.match_id),
        groups: profile_groups(config),
        limits: alma_sis_package::check::Limits {
            max_entry_bytes: check.max_entry_bytes,
            max_total_bytes: check.max_total_bytes,
            max_token_bytes: check.max_token_bytes,
        },
        spill_dir: dir.to_owned(),
    };
    AlmaExport::read(paths, &options).map_err(|e| {
        let mut message = format!("--alma-export: {e}");
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            message.push_str(": ");
            message.push_str(&c.to_string());
            cause = c.source();
        }
        Failure::error(Exit::ConfigOrInput, message)
    })
}

/// Runs the plan: reads the export, maps and checks the extract as `run` does, compares.
pub fn plan(
    config: &AppConfig,
    extractor: &Extractor<'_>,
    check_options: &CheckOptions,
    today: NaiveDate,
    input: &PlanInput<'_>,
) -> anyhow::Result<PlanReport> {
    let start = Instant::now();
    let mut export = read_export(config, input.export)?;
    let mut report = PlanReport {
        coverage: export.coverage().clone(),
        match_id: config.check.match_id.clone(),
        groups: profile_groups(config),
        index_bytes: export.heap_bytes(),
        ..PlanReport::default()
    };
    report.timings.push(("read export", start.elapsed()));
    let mut people = match &input.people {
        Some(path) => Some(PeopleFile::create(path)?),
        None => None,
    };
    let start = Instant::now();
    let mut pass = PlanPass {
        export: &mut export,
        quarantine: Quarantine::new(check_options, PathBuf::new()),
        report: &mut report,
        supplements: supplement_files(config),
        held: HashSet::new(),
        focus: input.focus,
        focus_by_key: false,
        people: people.as_mut(),
        busy: [
            ("  map", Duration::ZERO),
            ("  serialize", Duration::ZERO),
            ("  check", Duration::ZERO),
            ("  compare", Duration::ZERO),
        ],
    };
    pass.run(extractor)?;
    let held = std::mem::take(&mut pass.held);
    let busy = pass.busy;
    drop(pass);
    report.timings.push(("pass", start.elapsed()));
    report.timings.extend(busy);
    let start = Instant::now();
    vanished(
        config,
        &mut export,
        &held,
        today,
        input.focus,
        &mut report,
        people.as_mut(),
    )?;
    report.timings.push(("vanished", start.elapsed()));
    if let Some(people) = people {
        people.finish()?;
    }
    Ok(report)
}

/// The per-person file: `primary_id,outcome,reason,alma_user,fields` (ids, codes and field
/// names only), mode 0600.
struct PeopleFile {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
}

impl PeopleFile {
    fn create(path: &Path) -> anyhow::Result<PeopleFile> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                Failure::error(
                    Exit::ConfigOrInput,
                    format!("cannot write {}: {e}", path.display()),
                )
            })?;
        let mut out = std::io::BufWriter::new(file);
        writeln!(out, "primary_id,outcome,reason,alma_user,fields")?;
        Ok(PeopleFile {
            path: path.to_owned(),
            out,
        })
    }

    fn line(&mut self, person: &PersonPlan) -> anyhow::Result<()> {
        let (id, alma, fields) = match person {
            PersonPlan::Compared {
                primary_id,
                verdict,
            } => {
                let alma = match &verdict.outcome {
                    Outcome::WillFail(f) => f.reason.alma_user().to_owned(),
                    _ => verdict.alma_user.clone().unwrap_or_default(),
                };
                let fields = match &verdict.outcome {
                    Outcome::Update(changes) => changes
                        .iter()
                        .map(alma_sis_package::plan::Change::label)
                        .collect::<Vec<_>>()
                        .join(" | "),
                    _ => String::new(),
                };
                (primary_id, alma, fields)
            }
            PersonPlan::Quarantined { primary_id, .. } => {
                (primary_id, String::new(), String::new())
            }
            PersonPlan::Vanished { primary_id, .. } => {
                (primary_id, primary_id.clone(), String::new())
            }
        };
        writeln!(
            self.out,
            "{},{},{},{},{}",
            csv_field(id),
            person.outcome(),
            csv_field(&person.reason()),
            csv_field(&alma),
            csv_field(&fields)
        )
        .with_context(|| format!("writing {}", self.path.display()))
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.out
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// RFC 4180 quoting.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

struct PlanPass<'a, 'q> {
    export: &'a mut AlmaExport,
    quarantine: Quarantine<'q>,
    report: &'a mut PlanReport,
    supplements: HashSet<String>,
    /// Match keys of people whose rows were rejected (the run holds them).
    held: HashSet<String>,
    focus: Option<&'a str>,
    focus_by_key: bool,
    people: Option<&'a mut PeopleFile>,
    /// Busy time of the steps: mapping and rendering (the extract threads), checking,
    /// comparing.
    busy: [(&'static str, Duration); 4],
}

impl PlanPass<'_, '_> {
    fn run(&mut self, extractor: &Extractor<'_>) -> anyhow::Result<()> {
        std::thread::scope(|scope| {
            let (people, mapper) = super::extract::spawn(scope, extractor, &[], None, None);
            let result = people
                .into_iter()
                .flatten()
                .try_for_each(|p| self.person(p));
            let thread = mapper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            self.busy[0].1 = thread.map;
            self.busy[1].1 = thread.serialize;
            result
        })
    }

    /// One person, as the run's pass takes them: check (quarantine), then the comparison.
    fn person(&mut self, prepared: Prepared) -> anyhow::Result<()> {
        // `run --plan-against` stops here on SIGINT/SIGTERM (`plan` alone just dies).
        crate::interrupt::check("planning against Alma's export")?;
        let Prepared {
            person, rendered, ..
        } = prepared;
        let PersonOutcome {
            key,
            unconfirmed_key,
            mut rows,
            user,
            ..
        } = person;
        // Whom the run would hold if their rows were rejected: a user the check rejects by
        // its match value, someone whose rows gave no user by the person key (unconfirmed
        // or not).
        let mut hold = user
            .is_none()
            .then(|| unconfirmed_key.unwrap_or_else(|| key.clone()));
        if let (Some(mapped), Some(rendered)) = (user, rendered) {
            let user = &mapped.user;
            self.report.users += 1;
            let start = Instant::now();
            let mut findings = self.quarantine.check(user);
            if findings.is_empty()
                && let Err(err) = &rendered
            {
                findings.push(Quarantine::write_refused(user, err));
            }
            let checked = Instant::now();
            self.busy[2].1 += checked - start;
            let plan = if findings.is_empty() {
                let plan = self.compared(user)?;
                self.busy[3].1 += checked.elapsed();
                plan
            } else {
                Quarantine::mark(&user.primary_id, &findings, &mut rows);
                hold = self.export.match_id().value(user).map(str::to_owned);
                self.quarantined(user, &findings)?
            };
            self.focus_on(&key, &user.primary_id, &plan);
            if let Some(people) = self.people.as_deref_mut() {
                people.line(&plan)?;
            }
        }
        for row in rows {
            if matches!(row.decision, Decision::Rejected { .. })
                && !self.supplements.contains(&row.row.file)
                && let Some(value) = &hold
            {
                self.held.insert(match_key(value).into_owned());
            }
            self.report.rows.add_row(row);
        }
        Ok(())
    }

    fn compared(&mut self, user: &User) -> anyhow::Result<PersonPlan> {
        let verdict = self.export.compare(user).map_err(export_error)?;
        let id = &user.primary_id;
        let r = &mut *self.report;
        r.outcomes
            .entry(verdict.outcome.name())
            .or_default()
            .add(id);
        match &verdict.outcome {
            Outcome::Update(changes) => {
                for change in changes {
                    tracing::debug!(
                        user = %id,
                        field = %change.field,
                        before = change.before.as_deref().unwrap_or(""),
                        after = change.after.as_deref().unwrap_or(""),
                        "Alma changes {}",
                        change.kind.word()
                    );
                }
                let mut labels: Vec<String> = changes
                    .iter()
                    .map(alma_sis_package::plan::Change::label)
                    .collect();
                labels.dedup();
                for label in labels {
                    r.fields.entry(label).or_default().add(id);
                }
            }
            Outcome::WillFail(f) => {
                r.reasons.entry(f.reason.code()).or_default().add(id);
                r.failures.insert(
                    id.to_lowercase(),
                    (f.reason.code().to_owned(), f.message.clone()),
                );
            }
            Outcome::New | Outcome::Unchanged => {}
        }
        Ok(PersonPlan::Compared {
            primary_id: id.clone(),
            verdict,
        })
    }

    /// A user the check quarantines is not sent; its Alma user is not vanished either.
    fn quarantined(&mut self, user: &User, findings: &[Finding]) -> anyhow::Result<PersonPlan> {
        self.export.claim(user).map_err(export_error)?;
        self.report
            .outcomes
            .entry("quarantined")
            .or_default()
            .add(&user.primary_id);
        let mut codes: Vec<String> = findings.iter().map(|f| f.code.clone()).collect();
        codes.dedup();
        Ok(PersonPlan::Quarantined {
            primary_id: user.primary_id.clone(),
            codes,
        })
    }

    /// Keeps the plan of the person `explain` asks about: by key, else the first by primary
    /// id (as `explain` finds them).
    fn focus_on(&mut self, key: &str, primary_id: &str, plan: &PersonPlan) {
        let Some(focus) = self.focus else {
            return;
        };
        if !key.is_empty() && key == focus && !self.focus_by_key {
            self.focus_by_key = true;
            self.report.focus = Some(plan.clone());
        } else if primary_id == focus && self.report.focus.is_none() {
            self.report.focus = Some(plan.clone());
        }
    }
}

fn export_error(e: alma_sis_package::plan::PlanError) -> anyhow::Error {
    Failure::error(
        Exit::ConfigOrInput,
        format!("reading the Alma export back: {e:#}"),
    )
}

/// The Alma users no user of the load matched, and what the run state would send them.
fn vanished(
    config: &AppConfig,
    export: &mut AlmaExport,
    held: &HashSet<String>,
    today: NaiveDate,
    focus: Option<&str>,
    report: &mut PlanReport,
    mut people: Option<&mut PeopleFile>,
) -> anyhow::Result<()> {
    let state = open_existing(config)?;
    let options = config.state.explain_options(&config.check.match_id);
    let purge = purge_policy(config);
    let feed = &config.mapping.feed.name;
    let ask = |store: &StateStore, id: &str| -> anyhow::Result<_> {
        store
            .if_missing(feed, id, &options, &purge, today)
            .map_err(state_error)
    };
    for alma in export.unmatched() {
        crate::interrupt::check("planning against Alma's export")?;
        let alma = alma.map_err(export_error)?;
        let value = alma.match_value.as_deref().unwrap_or(&alma.primary_id);
        let (send, dates) = if held.contains(&*match_key(value)) {
            (VanishedSend::Held, None)
        } else {
            match &state {
                None => (VanishedSend::NotInRunState, None),
                Some((_, store)) => what_run_sends(config, ask(store, value)?),
            }
        };
        report
            .vanished
            .entry(send)
            .or_default()
            .add(&alma.primary_id);
        let plan = PersonPlan::Vanished {
            primary_id: alma.primary_id,
            user_group: alma.user_group,
            send,
            dates,
        };
        if let (Some(focus), None) = (focus, &report.focus)
            && let PersonPlan::Vanished { primary_id, .. } = &plan
            && alma_sis_package::plan::same_id(primary_id, focus)
        {
            report.focus = Some(plan.clone());
        }
        if let Some(people) = people.as_deref_mut() {
            people.line(&plan)?;
        }
    }
    Ok(())
}

/// The run state's answer, as what run sends and the dates.
fn what_run_sends(
    config: &AppConfig,
    missing: Option<IfMissing>,
) -> (VanishedSend, Option<SentDates>) {
    let v = match missing {
        None => return (VanishedSend::NotInRunState, None),
        Some(IfMissing::NeverSent) => return (VanishedSend::NeverSent, None),
        Some(IfMissing::Retired { .. }) => return (VanishedSend::Retired, None),
        Some(IfMissing::SentToday(_)) => return (VanishedSend::SentToday, None),
        Some(IfMissing::Vanishes(v)) => v,
    };
    let dates = v.dates.as_ref().map(|d| (d.expiry, d.purge));
    match v.action {
        VanishedAction::Expired { .. } => (VanishedSend::Expire, dates),
        VanishedAction::Inactivated => (VanishedSend::Inactivate, dates),
        VanishedAction::Left if config.state.vanished == VanishedSetting::Nothing => {
            (VanishedSend::PolicyNothing, None)
        }
        VanishedAction::Left => (VanishedSend::Retired, None),
        VanishedAction::NoRecord => (VanishedSend::NoRecord, None),
    }
}
