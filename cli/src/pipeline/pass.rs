//! The run's one pass over the people of the extract. Each person is mapped (on the extract
//! thread), then on this thread checked, rendered once, hashed, compared with what was sent
//! before, and, when it is to be sent, handed to the packager as bytes, whose workers compress
//! while this thread goes on. A user lives only while it passes: memory does not grow with the
//! extract beyond a few compact indexes.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use alma_sis_package::Packager;
use alma_sis_package::state::{ContentHash, Planner};
use alma_user_model::{MovingDates, User, render_user_marked};
use anyhow::Context as _;
use sis_extract::{Decision, Extractor, PersonOutcome, RowOutcome};

use super::quarantine::Quarantine;
use super::report::RunReport;
use super::{extract, state};
use crate::exit::{Exit, Failure};

/// Where the pass spent its time, per step (busy time, not wall time: the steps overlap).
#[derive(Debug, Default, Clone, Copy)]
pub struct Busy {
    /// Mapping people (the extract thread).
    pub map: Duration,
    /// Checking users.
    pub check: Duration,
    /// Rendering and hashing users.
    pub serialize: Duration,
    /// Comparing with the run state and writing its items.
    pub state: Duration,
    /// Handing bytes to the packager (waiting when its workers are behind).
    pub package: Duration,
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
    buf: Vec<u8>,
    sent: u64,
    fault_during_record: bool,
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
            buf: Vec::with_capacity(16 * 1024),
            sent: 0,
            fault_during_record: state::fault_at("during-record"),
        }
    }

    /// Maps every person of `extractor` on a thread of its own and takes each in turn.
    pub fn run(&mut self, extractor: &Extractor<'_>) -> anyhow::Result<()> {
        let extractor: &Extractor<'_> = extractor;
        std::thread::scope(|scope| {
            let (people, mapper) = extract::spawn(scope, extractor);
            // An error stops the pass; dropping the queue then stops the extract thread.
            let result = people.into_iter().try_for_each(|p| self.person(p));
            let map = mapper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            self.busy.map = map;
            result
        })
    }

    /// One person: their user (if any) is checked and sent or quarantined, their rows counted.
    fn person(&mut self, person: PersonOutcome) -> anyhow::Result<()> {
        let PersonOutcome {
            mut rows, user, ..
        } = person;
        if let Some(mapped) = user {
            let user = mapped.user;
            if self.only.is_empty() || self.only.iter().any(|id| id == &user.primary_id) {
                self.user(&user, &mut rows)?;
            }
        }
        for row in rows {
            self.hold_if_rejected(&row);
            self.report.add_row(row);
        }
        Ok(())
    }

    /// People whose main row was rejected today are still in the extract: not vanished.
    fn hold_if_rejected(&mut self, row: &RowOutcome) {
        if matches!(row.decision, Decision::Rejected { .. })
            && !self.supplements.contains(&row.row.file)
        {
            self.planner.hold(&row.key);
        }
    }

    fn user(&mut self, user: &User, rows: &mut [RowOutcome]) -> anyhow::Result<()> {
        let start = Instant::now();
        let mut findings = self.quarantine.check(user);
        let checked = Instant::now();
        self.busy.check += checked - start;
        if findings.is_empty() {
            self.buf.clear();
            match render_user_marked(user, &mut self.buf) {
                Ok(moving) => return self.send(user, &moving, checked),
                // The writer's own refusal, when no check explains it.
                Err(err) => findings.push(Quarantine::write_refused(user, &err)),
            }
        }
        self.quarantine.reject(&user.primary_id, &findings, rows)
    }

    /// Hashes the rendered user, asks the run state and hands the bytes to the packager when
    /// the user is to be sent.
    fn send(&mut self, user: &User, moving: &MovingDates, start: Instant) -> anyhow::Result<()> {
        let hash = ContentHash::of_parts(without_moving_dates(&self.buf, moving));
        let hashed = Instant::now();
        self.busy.serialize += hashed - start;
        let verdict = self
            .planner
            .observe(user, hash, &self.buf)
            .map_err(state::state_error)?;
        let observed = Instant::now();
        self.busy.state += observed - hashed;
        if verdict.send {
            self.packager
                .push_rendered(&self.buf)
                .with_context(|| format!("packaging user {}", user.primary_id))?;
            self.report.tally_user(user);
            self.sent += 1;
            if self.fault_during_record && self.sent == 2 {
                std::process::abort();
            }
        }
        self.busy.package += observed.elapsed();
        Ok(())
    }
}

/// Sends the users the run state re-sends for people who vanished.
pub fn resend(
    report: &mut RunReport,
    packager: &mut Packager,
    users: impl Iterator<Item = Result<User, alma_sis_package::state::StateError>>,
) -> anyhow::Result<()> {
    let mut buf = Vec::with_capacity(16 * 1024);
    for user in users {
        let user = user.map_err(state::state_error)?;
        buf.clear();
        alma_user_model::render_user(&user, &mut buf).map_err(|e| {
            Failure::error(
                Exit::ConfigOrInput,
                format!(
                    "cannot re-send {} (vanished) from the stored record: {e}",
                    user.primary_id
                ),
            )
        })?;
        packager
            .push_rendered(&buf)
            .with_context(|| format!("packaging user {}", user.primary_id))?;
        report.tally_user(&user);
    }
    Ok(())
}

/// The rendered bytes without the expiry and purge date lines: what the content hash covers,
/// since those dates move every day under a "today + N days" rule.
fn without_moving_dates<'b>(
    bytes: &'b [u8],
    moving: &MovingDates,
) -> impl Iterator<Item = &'b [u8]> + 'b {
    let mut cut: Vec<std::ops::Range<usize>> = [moving.expiry.clone(), moving.purge.clone()]
        .into_iter()
        .flatten()
        .collect();
    cut.sort_by_key(|r| r.start);
    let mut parts = Vec::with_capacity(3);
    let mut at = 0;
    for r in cut {
        parts.push(&bytes[at..r.start]);
        at = r.end;
    }
    parts.push(&bytes[at..]);
    parts.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moving_dates_are_cut_out_wherever_they_are() {
        let bytes = b"aaEEEbbPPPcc";
        let moving = MovingDates {
            expiry: Some(2..5),
            purge: Some(7..10),
        };
        let joined: Vec<u8> = without_moving_dates(bytes, &moving).flatten().copied().collect();
        assert_eq!(joined, b"aabbcc");
        let swapped = MovingDates {
            expiry: Some(7..10),
            purge: Some(2..5),
        };
        let joined: Vec<u8> = without_moving_dates(bytes, &swapped).flatten().copied().collect();
        assert_eq!(joined, b"aabbcc");
        let none = MovingDates::default();
        let joined: Vec<u8> = without_moving_dates(bytes, &none).flatten().copied().collect();
        assert_eq!(joined, bytes);
    }
}
