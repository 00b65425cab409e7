//! Deltas: send only what changed since the last file Alma received, brake on mass deletes,
//! and never send the same rollover twice.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::CourseError;
use crate::mapping::{MappedCourses, RolloverCandidate};
use crate::row::{CourseKey, CourseRow, Operation};

/// The courses Alma has been sent and not deleted since, as last sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// One row per course, `Operation::Normal`, sorted by key.
    pub courses: Vec<CourseRow>,
}

/// A rollover that was delivered: it must never be sent again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SentRollover {
    /// The new course.
    pub course: CourseKey,
    /// The course whose lists were copied.
    pub old: CourseKey,
    /// When it was sent (the run's timestamp, as the caller writes it).
    pub sent_at: String,
}

/// Where "what was sent" lives between runs. The CLI implements it over the run-state store;
/// [`MemoryState`] keeps it in memory.
pub trait CourseState {
    /// Why the store failed.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The courses as last sent.
    fn last_snapshot(&self) -> Result<Snapshot, Self::Error>;
    /// Every rollover ever sent.
    fn rollovers_sent(&self) -> Result<Vec<SentRollover>, Self::Error>;
    /// Records a delivered file: the new snapshot and the rollovers it carried.
    fn record(
        &mut self,
        snapshot: &Snapshot,
        rollovers: &[SentRollover],
    ) -> Result<(), Self::Error>;
}

/// A [`CourseState`] in memory (tests, dry runs).
#[derive(Debug, Clone, Default)]
pub struct MemoryState {
    /// The last snapshot.
    pub snapshot: Snapshot,
    /// Every rollover sent.
    pub rollovers: Vec<SentRollover>,
}

impl CourseState for MemoryState {
    type Error = std::convert::Infallible;
    fn last_snapshot(&self) -> Result<Snapshot, Self::Error> {
        Ok(self.snapshot.clone())
    }
    fn rollovers_sent(&self) -> Result<Vec<SentRollover>, Self::Error> {
        Ok(self.rollovers.clone())
    }
    fn record(
        &mut self,
        snapshot: &Snapshot,
        rollovers: &[SentRollover],
    ) -> Result<(), Self::Error> {
        self.snapshot = snapshot.clone();
        self.rollovers.extend_from_slice(rollovers);
        Ok(())
    }
}

/// What a change does in Alma.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// A course Alma has not been sent.
    Create,
    /// A course whose row changed.
    Update,
    /// A `ROLLOVER` row: creates or updates the course and copies the old course's lists.
    Rollover,
    /// A cancelled or vanished course.
    Delete,
}

/// One row to send and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Why it is sent.
    pub kind: ChangeKind,
    /// The row as it goes into the file.
    pub row: CourseRow,
}

/// How deltas are planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaOptions {
    /// Send every current course, not only changes (rollovers are still sent once).
    pub full: bool,
    /// Send `ROLLOVER` rows for candidates not sent before.
    pub emit_rollovers: bool,
    /// Deletes always allowed.
    pub max_deletes: usize,
    /// Deletes allowed as a percentage of the last snapshot, when that is more.
    pub max_delete_percent: u32,
    /// Delete courses sent before that are missing from the extract (not held).
    pub delete_vanished: bool,
    /// Ignore the brake.
    pub force: bool,
}

/// The plan for one run.
#[derive(Debug, Clone, Default)]
pub struct Delta {
    /// The rows to send, sorted by kind then course.
    pub changes: Vec<Change>,
    /// Current courses not sent because nothing changed.
    pub unchanged: usize,
    /// Cancelled courses never sent, so there is nothing to delete.
    pub cancelled_unsent: usize,
    /// Rollover candidates not sent because they were sent before.
    pub rollovers_already_sent: usize,
    /// Courses sent before and missing from the extract that are not deleted: held (their
    /// rows were skipped or rejected) or `delete_vanished` is off.
    pub kept_missing: usize,
    /// The snapshot to record once the file is delivered.
    pub next: Snapshot,
    /// The rollovers this file carries (record them with a timestamp once delivered).
    pub rollovers: Vec<(CourseKey, CourseKey)>,
}

impl Delta {
    /// How many changes of a kind.
    pub fn count(&self, kind: ChangeKind) -> usize {
        self.changes.iter().filter(|c| c.kind == kind).count()
    }

    /// The rows, in the order they go into the file.
    pub fn rows(&self) -> Vec<CourseRow> {
        self.changes.iter().map(|c| c.row.clone()).collect()
    }

    /// The rollovers to record, stamped `sent_at`.
    pub fn sent_rollovers(&self, sent_at: &str) -> Vec<SentRollover> {
        self.rollovers
            .iter()
            .map(|(course, old)| SentRollover {
                course: course.clone(),
                old: old.clone(),
                sent_at: sent_at.to_owned(),
            })
            .collect()
    }
}

/// The deletes the brake allows with `last` courses sent.
pub fn delete_limit(options: &DeltaOptions, last: usize) -> usize {
    let share = last.saturating_mul(options.max_delete_percent as usize) / 100;
    options.max_deletes.max(share)
}

/// Plans what to send: new courses, changed ones, deletes of cancelled or vanished courses
/// that were sent (a course in `mapped.held` is never deleted as missing), and rollovers not
/// sent before. Fails with [`CourseError::Brake`] when
/// the deletes exceed [`delete_limit`], unless `force`.
pub fn plan_delta(
    mapped: &MappedCourses,
    last: &Snapshot,
    sent: &[SentRollover],
    options: &DeltaOptions,
) -> Result<Delta, CourseError> {
    let last_by_key: HashMap<CourseKey, &CourseRow> =
        last.courses.iter().map(|r| (r.key(), r)).collect();
    let sent: HashSet<(&CourseKey, &CourseKey)> =
        sent.iter().map(|s| (&s.course, &s.old)).collect();
    let candidates: HashMap<CourseKey, &RolloverCandidate> = mapped
        .candidates
        .iter()
        .map(|c| (c.course.clone(), c))
        .collect();
    let mut delta = Delta::default();
    let mut next: BTreeMap<CourseKey, CourseRow> = last_by_key
        .iter()
        .map(|(k, r)| (k.clone(), (*r).clone()))
        .collect();
    let mut current: HashSet<CourseKey> = HashSet::new();
    for row in &mapped.rows {
        let key = row.key();
        current.insert(key.clone());
        let before = last_by_key.get(&key);
        if row.operation == Operation::Delete {
            match before {
                Some(sent_row) => {
                    delta.changes.push(Change {
                        kind: ChangeKind::Delete,
                        row: CourseRow {
                            operation: Operation::Delete,
                            ..(*sent_row).clone()
                        },
                    });
                    next.remove(&key);
                }
                None => delta.cancelled_unsent += 1,
            }
            continue;
        }
        let rollover = candidates
            .get(&key)
            .filter(|_| options.emit_rollovers)
            .and_then(|c| {
                if sent.contains(&(&c.course, &c.old)) {
                    delta.rollovers_already_sent += 1;
                    None
                } else {
                    Some(c.old.clone())
                }
            });
        let kind = match (&rollover, before) {
            (Some(_), _) => ChangeKind::Rollover,
            (None, None) => ChangeKind::Create,
            (None, Some(b)) if **b != *row || options.full => ChangeKind::Update,
            (None, Some(_)) => {
                delta.unchanged += 1;
                continue;
            }
        };
        let mut out = row.clone();
        if let Some(old) = rollover {
            out.operation = Operation::Rollover {
                old_code: old.code.clone(),
                old_section: old.section.clone(),
            };
            delta.rollovers.push((key.clone(), old));
        }
        delta.changes.push(Change { kind, row: out });
        next.insert(key, row.clone());
    }
    let held: HashSet<&CourseKey> = mapped.held.iter().collect();
    for (key, row) in &last_by_key {
        if current.contains(key) {
            continue;
        }
        if held.contains(key) || !options.delete_vanished {
            delta.kept_missing += 1;
        } else {
            delta.changes.push(Change {
                kind: ChangeKind::Delete,
                row: CourseRow {
                    operation: Operation::Delete,
                    ..(*row).clone()
                },
            });
            next.remove(key);
        }
    }
    let deletes = delta.count(ChangeKind::Delete);
    let limit = delete_limit(options, last.courses.len());
    if deletes > limit && !options.force {
        return Err(CourseError::Brake {
            deletes,
            limit,
            sent: last.courses.len(),
        });
    }
    delta.changes.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then_with(|| a.row.key().cmp(&b.row.key()))
    });
    delta.next = Snapshot {
        courses: next.into_values().collect(),
    };
    Ok(delta)
}
