//! The run's one pass over the people of the extract. Each person is mapped, and their user
//! rendered once and hashed, on the extract thread; then on this thread the user is checked,
//! compared with what was sent before, and, when it is to be sent, handed to the packager as
//! bytes, whose workers compress while the pass goes on. A user lives only while it passes:
//! memory does not grow with the extract beyond a few compact indexes.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use alma_sis_package::Packager;
use alma_sis_state::{
    ContentHash, Located, PackedPayload, PayloadPacker, Planner, ProbedItem, RawHash, SkipProbe,
};
use alma_user_model::{User, WriteError};
use anyhow::Context as _;
use sis_extract::{Decision, Extractor, PersonOutcome, RowOutcome};

use super::extract::Prepared;

use super::quarantine::Quarantine;
use super::report::RunReport;
use super::{extract, state};

/// Where the pass spent its time, per step (busy time, not wall time: the steps overlap).
#[derive(Debug, Default, Clone, Copy)]
pub struct Busy {
    /// Mapping people (the extract thread).
    pub map: Duration,
    /// Rendering and hashing users (the extract thread).
    pub serialize: Duration,
    /// Checking users.
    pub check: Duration,
    /// Comparing with the run state and writing its items.
    pub state: Duration,
    /// Handing bytes to the packager (waiting when its workers are behind).
    pub package: Duration,
}

/// What the extract threads did ahead for the run state: the payload packed, the item
/// looked up.
struct Ahead {
    packed: Option<PackedPayload>,
    located: Option<Located>,
}

/// What the pass works with.
pub struct Pass<'p, 'q, 's> {
    /// The report the rows and users go into.
    pub report: &'p mut RunReport,
    /// The check and the reject file.
    pub quarantine: &'p mut Quarantine<'q>,
    /// The run state's planner.
    pub planner: &'p mut Planner<'s>,
    /// The packager.
    pub packager: &'p mut Packager,
    /// `--only`: the primary ids to send (empty: everyone).
    pub only: &'p [String],
    /// The files of supplement inputs.
    pub supplements: &'p HashSet<String>,
    /// Time per step.
    pub busy: Busy,
    /// The `--only` ids found in the extract, as a key or a primary id.
    pub only_seen: HashSet<String>,
    /// `--only` ids found in the extract whose person is not sent (filtered or rejected):
    /// the id and why.
    pub only_unsent: Vec<(String, String)>,
    /// Rows done, and users to send in its message (hidden off a terminal).
    pub progress: indicatif::ProgressBar,
    /// Users handed to the packager.
    pub sent: u64,
    /// The run state's probe: people whose rows it has unchanged are not mapped.
    pub probe: Option<SkipProbe>,
    /// Packs new people's payloads on the rendering thread.
    pub packer: Option<PayloadPacker>,
    /// Where the probe found the items of the people skipped before the pass
    /// (`Extractor::settle_skips`), in their order.
    pub probed: std::vec::IntoIter<ProbedItem>,
    /// People mapped.
    pub mapped: u64,
    /// Rows taken since the bar was last moved.
    unshown_rows: u64,
    fault_during_record: bool,
    /// The user count a test pauses after (`pass:<n>`), read once.
    pause_after: Option<u64>,
}

impl<'p, 'q, 's> Pass<'p, 'q, 's> {
    /// A pass over the given parts of the run.
    pub fn new(
        report: &'p mut RunReport,
        quarantine: &'p mut Quarantine<'q>,
        planner: &'p mut Planner<'s>,
        packager: &'p mut Packager,
        only: &'p [String],
        supplements: &'p HashSet<String>,
    ) -> Self {
        Pass {
            report,
            quarantine,
            planner,
            packager,
            only,
            supplements,
            busy: Busy::default(),
            only_seen: HashSet::new(),
            only_unsent: Vec::new(),
            progress: indicatif::ProgressBar::hidden(),
            sent: 0,
            probe: None,
            packer: None,
            probed: Vec::new().into_iter(),
            mapped: 0,
            unshown_rows: 0,
            fault_during_record: super::fault::at("during-record"),
            pause_after: crate::interrupt::pause_count("pass"),
        }
    }

    /// Maps every person of `extractor` on a thread of its own and takes each in turn.
    pub fn run(&mut self, extractor: &Extractor<'_>) -> anyhow::Result<()> {
        let extractor: &Extractor<'_> = extractor;
        std::thread::scope(|scope| {
            let (people, mapper) = extract::spawn(
                scope,
                extractor,
                self.only,
                self.probe.take(),
                self.packer.take(),
            );
            // An error stops the pass; dropping the queue then stops the extract thread.
            let result = people
                .into_iter()
                .flatten()
                .try_for_each(|p| self.person(p, extractor));
            self.show_progress();
            let thread = mapper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            self.busy.map = thread.map;
            self.busy.serialize = thread.serialize;
            result
        })
    }

    /// One person: their user (if any) is checked and sent or quarantined, their rows counted.
    /// A signal stops the pass here, between people.
    fn person(&mut self, prepared: Prepared, extractor: &Extractor<'_>) -> anyhow::Result<()> {
        crate::interrupt::check("reading the extract")?;
        let Prepared {
            person,
            rendered,
            raw,
            unmapped,
            packed,
            located,
        } = prepared;
        if let Some(rows) = unmapped {
            let skipped = match raw {
                Some(raw) => self.planner.skip_unchanged(&person.key, RawHash(raw)),
                // Settled before the pass: the probe found the recorded hash, and where.
                None => self
                    .probed
                    .next()
                    .is_some_and(|at| self.planner.skip_probed(&person.key, at)),
            };
            if skipped {
                self.report.add_unmapped_rows(rows);
                self.unshown_rows += rows as u64;
                if self.unshown_rows >= 1024 {
                    self.show_progress();
                }
                return Ok(());
            }
            // The probe said skip, the run state did not (someone earlier in the extract
            // took their item): mapped after all.
            let Some(person) = extractor.explain(&person.key) else {
                anyhow::bail!("person {:?} is no longer in the extract", person.key);
            };
            // (Without a SHA-256: the planner takes it itself if the item needs it.)
            let rendered = person
                .user
                .as_ref()
                .map(|m| extract::render(&m.user, false));
            // Skipped before the pass, their rows were not hashed: nothing is recorded for
            // them, and they are mapped again next time.
            let prepared = Prepared {
                person,
                rendered,
                raw,
                unmapped: None,
                packed: None,
                located: None,
            };
            return self.person(prepared, extractor);
        }
        self.mapped += 1;
        let PersonOutcome {
            key,
            unconfirmed_key,
            mut rows,
            user,
            warnings,
            ..
        } = person;
        // The rows' hash is kept only for a person whose every row was written and who
        // warned of nothing: a skipped person's rows then count as written.
        let clean = warnings.is_empty()
            && rows
                .iter()
                .all(|r| matches!(r.decision, Decision::Written { .. }));
        let raw = raw.filter(|_| clean).map(RawHash);
        let mut wanted_here = Vec::new();
        if !self.only.is_empty() {
            let id = user.as_ref().map(|u| u.user.primary_id.as_str());
            for wanted in self.only {
                if (!key.is_empty() && *wanted == key) || Some(wanted.as_str()) == id {
                    self.only_seen.insert(wanted.clone());
                    wanted_here.push(wanted.clone());
                }
            }
        }
        for warning in warnings {
            self.report.row_warnings.push((key.clone(), warning));
        }
        // Users outside `--only` come without a rendering: they are not sent.
        let mut quarantined = false;
        if let (Some(mapped), Some(rendered)) = (user.as_ref(), rendered) {
            let raw = raw.map(|raw| (key.as_str(), raw));
            let ahead = Ahead { packed, located };
            quarantined = !self.user(&mapped.user, rendered, &mut rows, raw, ahead)?;
        }
        let rejected = rows.iter().any(|row| {
            matches!(row.decision, Decision::Rejected { .. })
                && !self.supplements.contains(&row.row.file)
        });
        if !wanted_here.is_empty() && (user.is_none() || quarantined) {
            let filtered = rows.iter().find_map(|row| match &row.decision {
                Decision::Filtered { rule } => Some(rule.as_str()),
                _ => None,
            });
            let why = match filtered {
                _ if quarantined => "rejected by the check (see the rejects file)".to_owned(),
                Some(rule) if !rejected => format!("filtered by the rule {rule:?}"),
                _ => "rejected (see the rejects file)".to_owned(),
            };
            self.only_unsent
                .extend(wanted_here.into_iter().map(|id| (id, why.clone())));
        }
        // People whose main row was rejected today are still in the extract: not vanished.
        // A user the check rejected is held by its match value; someone whose rows gave no
        // user by the person key (the match value when the extract's key is, e.g. UNIV_ID).
        if rejected {
            match user.as_ref() {
                Some(mapped) if quarantined => self.planner.hold_user(&mapped.user),
                Some(_) => {}
                // An unconfirmed key is not shown, but it may still be a real person's.
                None => self
                    .planner
                    .hold(unconfirmed_key.as_deref().unwrap_or(&key)),
            }
        }
        self.unshown_rows += rows.len() as u64;
        for row in rows {
            self.report.add_row(row);
        }
        // The bar moves every thousand rows or so: drawing is not free.
        if self.unshown_rows >= 1024 {
            self.show_progress();
        }
        Ok(())
    }

    fn show_progress(&mut self) {
        // Taken whether the bar is shown or not: left to grow, it would ask the bar for
        // every person from the thousandth row on.
        let rows = std::mem::take(&mut self.unshown_rows);
        if self.progress.is_hidden() {
            return;
        }
        self.progress.inc(rows);
        self.progress.set_message(format!(
            ", {} users to send",
            crate::progress::count(self.sent)
        ));
    }

    /// Checks the user and sends it or quarantines it; `false` when quarantined.
    fn user(
        &mut self,
        user: &User,
        rendered: Result<(Vec<u8>, ContentHash), WriteError>,
        rows: &mut [RowOutcome],
        raw: Option<(&str, RawHash)>,
        ahead: Ahead,
    ) -> anyhow::Result<bool> {
        let start = Instant::now();
        let mut findings = if rendered.is_ok() {
            self.quarantine.check_rendered(user)
        } else {
            self.quarantine.check(user)
        };
        let checked = Instant::now();
        self.busy.check += checked - start;
        if findings.is_empty() {
            match rendered {
                Ok((xml, hash)) => {
                    return self
                        .send(user, (&xml, hash), raw, ahead, checked)
                        .map(|()| true);
                }
                // The writer's own refusal, when no check explains it.
                Err(err) => findings.push(Quarantine::write_refused(user, &err)),
            }
        }
        self.quarantine.reject(&user.primary_id, &findings, rows)?;
        Ok(false)
    }

    /// Asks the run state and hands the bytes to the packager when the user is to be sent.
    fn send(
        &mut self,
        user: &User,
        (xml, hash): (&[u8], ContentHash),
        raw: Option<(&str, RawHash)>,
        Ahead { packed, located }: Ahead,
        start: Instant,
    ) -> anyhow::Result<()> {
        let verdict = self
            .planner
            .observe_located(user, hash, xml, raw, packed, located)
            .map_err(state::state_error)?;
        let observed = Instant::now();
        self.busy.state += observed - start;
        if verdict.send {
            self.packager
                .push_rendered(xml)
                .with_context(|| format!("packaging user {}", user.primary_id))?;
            self.report.tally_user(user);
            self.sent += 1;
            if self.pause_after == Some(self.sent) {
                crate::interrupt::pause_at(&format!("pass:{}", self.sent));
            }
            if self.fault_during_record && self.sent == 2 {
                super::fault::crash();
            }
        }
        self.busy.package += observed.elapsed();
        Ok(())
    }
}

/// Sends the users the run state re-sends for people who vanished (the packager renders them).
pub fn resend(
    report: &mut RunReport,
    packager: &mut Packager,
    users: impl Iterator<Item = Result<User, alma_sis_state::StateError>>,
) -> anyhow::Result<()> {
    for user in users {
        let user = user.map_err(state::state_error)?;
        packager.push(&user).with_context(|| {
            format!(
                "cannot re-send {} (vanished) from the stored record",
                user.primary_id
            )
        })?;
        report.tally_user(&user);
    }
    Ok(())
}
