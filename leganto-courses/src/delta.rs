//! Deltas: which key each course is sent under (the one it was first sent under, for as long
//! as it exists), what changed since the last file Alma received, which deletes are
//! legitimate, the brakes on deletes, and rollovers sent once for the right old course.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::config::{CourseConfig, UnknownOld};
use crate::finding::Finding;
use crate::mapping::{MappedCourse, MappedCourses, RolloverRequest};
use crate::report::{RolloverCandidate, RolloverLine, RolloverStatus};
use crate::row::{CourseKey, CourseRow, Operation};
use crate::{COLUMNS, CourseError};

/// A course as last sent, with what makes it the same course the next time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentCourse {
    /// The row as last sent (`Operation::Normal`): its code and section are the course's
    /// key in Alma.
    pub row: CourseRow,
    /// Its group when last sent: the code, or `cross-list:<term>:<group>`.
    pub group: String,
    /// The (code, section) of the extract rows it was made of.
    pub members: Vec<CourseKey>,
    /// The registrar's term; `None` for a course recorded before alma-sis kept it.
    pub term: Option<String>,
    /// The `[rollover] same_course` values of its offered sections.
    #[serde(default)]
    pub same_course: Vec<String>,
}

/// The payload format [`SentCourse::to_payload`] writes.
const PAYLOAD_VERSION: u64 = 2;

#[derive(Serialize, Deserialize)]
struct Payload {
    version: u64,
    course: SentCourse,
}

impl SentCourse {
    /// The course's key in Alma.
    pub fn key(&self) -> CourseKey {
        self.row.key()
    }

    /// A course as the first version of alma-sis recorded it (its row only, merged by code,
    /// the other sections in `MULTI_SEARCH_ID`): its group is its code, its members its key
    /// and those sections, its term unknown (so it is never deleted for missing).
    pub fn from_first_version(row: CourseRow) -> SentCourse {
        let mut members = vec![row.key()];
        members.extend(row.multi_search_ids.iter().map(|s| CourseKey {
            code: row.code.clone(),
            section: s.clone(),
        }));
        members.sort();
        members.dedup();
        SentCourse {
            group: row.code.clone(),
            members,
            term: None,
            same_course: Vec::new(),
            row,
        }
    }

    /// The course as JSON for the run state: `{"version":2,"course":{...}}`.
    pub fn to_payload(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&Payload {
            version: PAYLOAD_VERSION,
            course: self.clone(),
        })
    }

    /// Reads what [`SentCourse::to_payload`] wrote, or a first-version payload (a bare
    /// course row), which is migrated with [`SentCourse::from_first_version`].
    pub fn from_payload(json: &str) -> Result<SentCourse, serde_json::Error> {
        let value: serde_json::Value = serde_json::from_str(json)?;
        match value.get("version").and_then(serde_json::Value::as_u64) {
            Some(PAYLOAD_VERSION) => Ok(serde_json::from_value::<Payload>(value)?.course),
            Some(other) => Err(serde::de::Error::custom(format!(
                "course state format {other} is newer than this alma-sis reads ({PAYLOAD_VERSION}); use a newer alma-sis"
            ))),
            None => serde_json::from_value::<CourseRow>(value).map(SentCourse::from_first_version),
        }
    }
}

/// The courses Alma has been sent and not deleted since, as last sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// One entry per course, sorted by key.
    pub courses: Vec<SentCourse>,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaOptions {
    /// Send every current course, not only changes (rollovers are still sent once).
    pub full: bool,
    /// Send `ROLLOVER` rows for candidates not sent before.
    pub emit_rollovers: bool,
    /// What to do with a rollover whose old course alma-sis never sent.
    pub unknown_old: UnknownOld,
    /// Deletes always allowed.
    pub max_deletes: usize,
    /// Deletes allowed as a percentage of the courses sent for the extract's terms, when
    /// that is more.
    pub max_delete_percent: u32,
    /// Deletes allowed of courses that received rolled-over reading lists.
    pub max_rollover_target_deletes: usize,
    /// Delete courses sent before that are missing from the extract while their term is in
    /// it (and not held).
    pub delete_vanished: bool,
    /// Columns the Course Loader profile is set to update besides participants and
    /// instructors.
    pub loader_updates: Vec<String>,
    /// Ignore the brakes and re-key courses whose key cannot be kept.
    pub force: bool,
}

impl DeltaOptions {
    /// The options a course config sets, for a run with `full` and `force` as given.
    pub fn from_config(config: &CourseConfig, full: bool, force: bool) -> DeltaOptions {
        DeltaOptions {
            full,
            emit_rollovers: config.rollover.emit,
            unknown_old: config.rollover.unknown_old,
            max_deletes: config.delta.max_deletes,
            max_delete_percent: config.delta.max_delete_percent,
            max_rollover_target_deletes: config.delta.max_rollover_target_deletes,
            delete_vanished: config.delta.delete_vanished,
            loader_updates: config
                .file
                .loader_updates
                .iter()
                .map(|c| c.get_ref().clone())
                .collect(),
            force,
        }
    }
}

/// The plan for one run.
#[derive(Debug, Clone, Default)]
pub struct Delta {
    /// The rows to send, sorted by kind then course.
    pub changes: Vec<Change>,
    /// Re-keys, rollovers that cannot be sent, updates Alma ignores.
    pub findings: Vec<Finding>,
    /// The key of each of today's courses that is not held, by group.
    pub keys: BTreeMap<String, CourseKey>,
    /// Current courses not sent because nothing changed.
    pub unchanged: usize,
    /// Cancelled courses never sent, so there is nothing to delete.
    pub cancelled_unsent: usize,
    /// Today's courses held because sending them would re-key a course (without `force`).
    pub held: usize,
    /// Courses sent before and missing from the extract that are kept: held (their rows were
    /// skipped or rejected, or belong to a held course), the extract did not read cleanly,
    /// or `delete_vanished` is off.
    pub kept_missing: usize,
    /// Courses sent before whose term is no longer in the extract (or unknown): ended, not
    /// cancelled, so kept (their lists are next terms' rollover sources).
    pub ended: usize,
    /// Every rollover candidate and what happens to it, sorted by course.
    pub rollovers: Vec<RolloverLine>,
    /// Updates that change columns Alma's Course Loader does not update by default.
    pub not_applied: usize,
    /// The deleted courses that had received rolled-over reading lists.
    pub rollover_target_deletes: Vec<CourseKey>,
    /// The snapshot to record once the file is delivered.
    pub next: Snapshot,
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

    /// The rollovers this file carries, stamped `sent_at`, to record once it is delivered.
    pub fn sent_rollovers(&self, sent_at: &str) -> Vec<SentRollover> {
        self.rollovers
            .iter()
            .filter(|l| l.status == RolloverStatus::SentNow)
            .filter_map(|l| {
                Some(SentRollover {
                    course: l.candidate.course.clone(),
                    old: l.candidate.old.clone()?,
                    sent_at: sent_at.to_owned(),
                })
            })
            .collect()
    }

    /// How many rollover candidates were sent in an earlier run.
    pub fn rollovers_already_sent(&self) -> usize {
        self.rollovers
            .iter()
            .filter(|l| matches!(l.status, RolloverStatus::SentBefore(_)))
            .count()
    }
}

/// The deletes the brake allows with `base` courses sent for the extract's terms.
pub fn delete_limit(options: &DeltaOptions, base: usize) -> usize {
    let share = base.saturating_mul(options.max_delete_percent as usize) / 100;
    options.max_deletes.max(share)
}

/// Which key each of today's courses gets, and which are held.
struct Identity {
    /// The key of each course (by index into `mapped.courses`).
    keys: Vec<Option<CourseKey>>,
    /// The sent course each course continues (by index into the snapshot).
    owner: Vec<Option<usize>>,
    /// Courses held: sending them would re-key a course.
    held: Vec<bool>,
    /// Sent courses that belong to a held re-key.
    held_sent: Vec<bool>,
    findings: Vec<Finding>,
}

/// A small union-find over today's courses (`0..n`) and sent courses (`n..n + m`).
struct Components(Vec<usize>);

impl Components {
    fn find(&mut self, x: usize) -> usize {
        let mut root = x;
        while self.0[root] != root {
            root = self.0[root];
        }
        let mut at = x;
        while self.0[at] != root {
            let next = self.0[at];
            self.0[at] = root;
            at = next;
        }
        root
    }

    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// Decides keys. A course keeps the key of the sent course with its group; failing that,
/// of the one sent course whose rows it has (when no other of today's courses has rows of
/// it); a course with none takes its lowest offered section. When that cannot be done
/// (several sent courses became one, one became several that each claim it, or two courses
/// would share a key) the courses involved would be re-keyed: they are held, unless
/// `force`, which sends each under its lowest offered section.
fn identify(mapped: &MappedCourses, last: &Snapshot, force: bool) -> Identity {
    let n = mapped.courses.len();
    let m = last.courses.len();
    let mut by_group: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_row: HashMap<&CourseKey, Vec<usize>> = HashMap::new();
    let keys: Vec<CourseKey> = last.courses.iter().map(SentCourse::key).collect();
    for (s, sent) in last.courses.iter().enumerate() {
        by_group.entry(sent.group.as_str()).or_default().push(s);
        let rows = by_row.entry(&keys[s]).or_default();
        rows.push(s);
        for member in &sent.members {
            let rows = by_row.entry(member).or_default();
            if !rows.contains(&s) {
                rows.push(s);
            }
        }
    }
    let members: Vec<Vec<CourseKey>> = mapped.courses.iter().map(|c| c.members()).collect();
    let mut owner: Vec<Option<usize>> = vec![None; n];
    let mut claimed: Vec<Option<usize>> = vec![None; m];
    for (t, course) in mapped.courses.iter().enumerate() {
        if let Some(list) = by_group.get(course.group.as_str()) {
            let s = list
                .iter()
                .copied()
                .find(|&s| members[t].contains(&keys[s]))
                .unwrap_or(list[0]);
            owner[t] = Some(s);
            claimed[s] = Some(t);
        }
    }
    let mut parts = Components((0..n + m).collect());
    let mut conflict = vec![false; n];
    let mut overlaps: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut overlapped_by: HashMap<usize, Vec<usize>> = HashMap::new();
    let unowned: Vec<usize> = (0..n).filter(|&t| owner[t].is_none()).collect();
    for &t in &unowned {
        let mut found: BTreeSet<usize> = BTreeSet::new();
        for member in &members[t] {
            for &s in by_row.get(member).into_iter().flatten() {
                if claimed[s].is_none() {
                    found.insert(s);
                }
            }
        }
        for &s in &found {
            overlapped_by.entry(s).or_default().push(t);
        }
        overlaps[t] = found.into_iter().collect();
    }
    for &t in &unowned {
        match overlaps[t].as_slice() {
            [] => {}
            [s] if overlapped_by[s].len() == 1 => {
                owner[t] = Some(*s);
                claimed[*s] = Some(t);
            }
            list => {
                for &s in list {
                    conflict[t] = true;
                    parts.join(t, n + s);
                    for &other in &overlapped_by[&s] {
                        conflict[other] = true;
                        parts.join(t, other);
                    }
                }
            }
        }
    }
    let natural: Vec<CourseKey> = mapped
        .courses
        .iter()
        .map(MappedCourse::natural_key)
        .collect();
    let tentative = |t: usize, owner: &[Option<usize>]| match owner[t] {
        Some(s) => keys[s].clone(),
        None => natural[t].clone(),
    };
    let mut holders: BTreeMap<CourseKey, Vec<usize>> = BTreeMap::new();
    // A cancelled course never sent takes no key: nothing is sent for it.
    let takes_key = |t: usize, owner: &[Option<usize>]| {
        !conflict[t] && (owner[t].is_some() || !mapped.courses[t].cancelled())
    };
    for t in (0..n).filter(|&t| takes_key(t, &owner)) {
        holders.entry(tentative(t, &owner)).or_default().push(t);
    }
    for list in holders.values().filter(|l| l.len() > 1) {
        for &t in list {
            conflict[t] = true;
            parts.join(list[0], t);
            if let Some(s) = owner[t] {
                parts.join(t, n + s);
            }
        }
    }
    // Every course and sent course of a conflict, by component.
    let mut components: BTreeMap<usize, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for t in (0..n).filter(|&t| conflict[t]) {
        let root = parts.find(t);
        components.entry(root).or_default().0.push(t);
    }
    for s in 0..m {
        let root = parts.find(n + s);
        if let Some(entry) = components.get_mut(&root) {
            entry.1.push(s);
        }
    }
    let mut out = Identity {
        keys: (0..n)
            .map(|t| (!conflict[t]).then(|| tentative(t, &owner)))
            .collect(),
        owner,
        held: vec![false; n],
        held_sent: vec![false; m],
        findings: Vec::new(),
    };
    let kept: HashSet<CourseKey> = out.keys.iter().flatten().cloned().collect();
    let by_key: HashMap<&CourseKey, usize> = keys.iter().enumerate().map(|(s, k)| (k, s)).collect();
    for (today, sent) in components.values() {
        // Forced, a course keeps a key sent before when it can: the lowest sent key among
        // its own rows, else the lowest of a sent course it has rows of, else its lowest
        // offered section. A sent course whose key no course takes is then missing (deleted,
        // if its term is in the extract).
        let mut forced: Vec<Option<CourseKey>> = vec![None; today.len()];
        let mut taken: HashSet<CourseKey> = HashSet::new();
        for (i, &t) in today.iter().enumerate() {
            let own = sent
                .iter()
                .map(|&s| &keys[s])
                .filter(|k| members[t].contains(k) && !taken.contains(*k))
                .min()
                .cloned();
            if let Some(k) = own {
                taken.insert(k.clone());
                forced[i] = Some(k);
            }
        }
        for (i, &t) in today.iter().enumerate() {
            if forced[i].is_some() {
                continue;
            }
            let overlapping = sent
                .iter()
                .filter(|&&s| {
                    last.courses[s]
                        .members
                        .iter()
                        .any(|m| members[t].contains(m))
                })
                .map(|&s| &keys[s])
                .filter(|k| !taken.contains(*k))
                .min()
                .cloned();
            if let Some(k) = overlapping {
                taken.insert(k.clone());
                forced[i] = Some(k);
            }
        }
        let mut stuck = false;
        let forced: Vec<CourseKey> = today
            .iter()
            .zip(forced)
            .map(|(&t, k)| {
                k.unwrap_or_else(|| {
                    let k = natural[t].clone();
                    stuck |= !taken.insert(k.clone());
                    k
                })
            })
            .collect();
        let stuck = stuck || forced.iter().any(|k| kept.contains(k));
        let lost: Vec<&CourseKey> = sent
            .iter()
            .map(|&s| &keys[s])
            .filter(|k| !forced.contains(k))
            .collect();
        let lines: BTreeSet<u64> = today
            .iter()
            .flat_map(|&t| mapped.courses[t].lines())
            .collect();
        let lines: Vec<String> = lines.iter().map(ToString::to_string).collect();
        let sent_keys: Vec<String> = sent.iter().map(|&s| keys[s].to_string()).collect();
        let what = format!(
            "the courses sent as {} are today {} course(s) (extract lines {}): keeping every key is not possible",
            if sent_keys.is_empty() {
                "-".to_owned()
            } else {
                sent_keys.join(", ")
            },
            today.len(),
            lines.join(", "),
        );
        let outcome = format!(
            "sent as {}{}",
            forced
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            if lost.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} no longer sent (deleted if the extract has its term)",
                    lost.iter()
                        .map(|k| k.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        if force && !stuck {
            for (&t, key) in today.iter().zip(&forced) {
                out.keys[t] = Some(key.clone());
                out.owner[t] = by_key.get(key).copied().filter(|s| sent.contains(s));
            }
            out.findings.push(Finding::warning(
                "W-REKEY",
                format!("{what}; forced: {outcome}"),
            ));
        } else {
            for &t in today {
                out.held[t] = true;
                out.owner[t] = None;
            }
            for &s in sent {
                out.held_sent[s] = true;
            }
            let advice = if stuck {
                "a key another course keeps is needed: fix the registrar's data".to_owned()
            } else {
                format!("forced, the run would go on: {outcome}")
            };
            out.findings.push(Finding::error(
                "E-REKEY",
                format!("{what}; nothing is sent for them and none is deleted. Check the registrar's cross-listing and sections; {advice}"),
            ));
        }
    }
    out
}

/// The old course a rollover request names, resolved against what was sent.
enum Old {
    /// A course alma-sis sent and has not deleted.
    Known(CourseKey),
    /// Named with code and section, but not sent by alma-sis (or deleted since).
    Unsent(CourseKey),
    /// Named by code only, and no course with that code was sent.
    Unknown(String),
    /// Several sent courses fit.
    Ambiguous(Vec<CourseKey>),
}

/// The sent courses, indexed for resolving rollovers.
struct SentIndex<'a> {
    present: HashSet<CourseKey>,
    by_code: HashMap<&'a str, Vec<&'a SentCourse>>,
    by_same_course: HashMap<&'a str, Vec<&'a SentCourse>>,
}

impl<'a> SentIndex<'a> {
    fn new(last: &'a Snapshot) -> SentIndex<'a> {
        let mut index = SentIndex {
            present: last.courses.iter().map(SentCourse::key).collect(),
            by_code: HashMap::new(),
            by_same_course: HashMap::new(),
        };
        for c in &last.courses {
            index
                .by_code
                .entry(c.row.code.as_str())
                .or_default()
                .push(c);
            for v in &c.same_course {
                index.by_same_course.entry(v.as_str()).or_default().push(c);
            }
        }
        index
    }
}

fn resolve(
    request: &RolloverRequest,
    course: &MappedCourse,
    key: &CourseKey,
    sent: &SentIndex<'_>,
) -> Option<(Old, String, String)> {
    let by_code = |code: &str| -> Vec<CourseKey> {
        sent.by_code
            .get(code)
            .into_iter()
            .flatten()
            .map(|c| c.key())
            .filter(|k| k != key)
            .collect()
    };
    let named = |code: &str, section: &Option<String>| match section {
        Some(section) => {
            let old = CourseKey {
                code: code.to_owned(),
                section: section.clone(),
            };
            if sent.present.contains(&old) {
                Old::Known(old)
            } else {
                Old::Unsent(old)
            }
        }
        None => match by_code(code).as_slice() {
            [] => Old::Unknown(code.to_owned()),
            [one] => Old::Known(one.clone()),
            many => Old::Ambiguous(many.to_vec()),
        },
    };
    let asked = |code: &str, section: &Option<String>| match section {
        Some(s) => format!("{code}/{s}"),
        None => format!("{code}/(the one sent)"),
    };
    match request {
        RolloverRequest::CopyFrom {
            code,
            section,
            line,
        } => Some((
            named(code, section),
            asked(code, section),
            format!("copy-from column, line {line}"),
        )),
        RolloverRequest::Rule {
            code,
            section,
            rule,
        } => Some((
            named(code, section),
            asked(code, section),
            format!("rule {rule}"),
        )),
        RolloverRequest::SameCourse { values } => {
            let mut earlier: Vec<&SentCourse> = values
                .iter()
                .flat_map(|v| sent.by_same_course.get(v.as_str()).into_iter().flatten())
                .copied()
                .filter(|c| c.term.as_deref().is_some_and(|t| t < course.term.as_str()))
                .filter(|c| c.key() != *key)
                .collect();
            earlier.sort_by_key(|c| c.key());
            earlier.dedup_by_key(|c| c.key());
            let latest = earlier.iter().filter_map(|c| c.term.as_deref()).max()?;
            let in_latest: Vec<CourseKey> = earlier
                .iter()
                .filter(|c| c.term.as_deref() == Some(latest))
                .map(|c| c.key())
                .collect();
            let old = match in_latest.as_slice() {
                [one] => Old::Known(one.clone()),
                many => Old::Ambiguous(many.to_vec()),
            };
            Some((
                old,
                format!("{} in term {latest}", values.join(" or ")),
                "same course, previous term".to_owned(),
            ))
        }
    }
}

/// The columns (by name) whose values differ between two rows.
fn changed_columns(before: &CourseRow, after: &CourseRow) -> Vec<&'static str> {
    let format = crate::DateFormat::default();
    let (a, b) = (before.values(&format), after.values(&format));
    COLUMNS
        .iter()
        .zip(a.iter().zip(&b))
        .filter(|(_, (x, y))| x != y)
        .map(|(name, _)| *name)
        .collect()
}

/// Whether Alma's Course Loader updates a column of an existing course with default profile
/// settings: only the participants and the instructors.
pub fn updated_by_default(column: &str) -> bool {
    column == "NUM_OF_PARTICIPANTS" || column == "MULTI_INST" || column.starts_with("INSTR")
}

/// Plans what to send. Each of today's courses keeps the key it was first sent under (see
/// `docs/courses.md`, "A course's key"); a change that would re-key one is an `E-REKEY`
/// finding and the courses involved are held, unless `force`. Sent: new courses, changed
/// ones, rollovers not sent before (their old course resolved against `last`), and deletes
/// of courses that are cancelled, or gone while their term is still in the extract (never a
/// held course, never after an extract that did not read cleanly). Fails with
/// [`CourseError::RolloverTargetBrake`] or [`CourseError::Brake`] when the deletes exceed
/// the limits, unless `force`.
pub fn plan_delta(
    mapped: &MappedCourses,
    last: &Snapshot,
    sent: &[SentRollover],
    options: &DeltaOptions,
) -> Result<Delta, CourseError> {
    let identity = identify(mapped, last, options.force);
    let mut delta = Delta {
        findings: identity.findings.clone(),
        ..Delta::default()
    };
    let sent_index = SentIndex::new(last);
    let sent_pairs: HashMap<(&CourseKey, &CourseKey), &str> = sent
        .iter()
        .map(|r| ((&r.course, &r.old), r.sent_at.as_str()))
        .collect();
    let received: HashMap<&CourseKey, &SentRollover> =
        sent.iter().map(|r| (&r.course, r)).collect();
    // Courses created by this run: an old course among them has no lists yet.
    let created: HashSet<CourseKey> = (0..mapped.courses.len())
        .filter(|&t| identity.owner[t].is_none())
        .filter_map(|t| identity.keys[t].clone())
        .collect();
    let mut next: BTreeMap<CourseKey, SentCourse> =
        last.courses.iter().map(|c| (c.key(), c.clone())).collect();
    let mut owned = vec![false; last.courses.len()];
    // The keys today's courses are sent under: never deleted.
    let mut assigned: HashSet<CourseKey> = HashSet::new();
    for (t, course) in mapped.courses.iter().enumerate() {
        if identity.held[t] {
            delta.held += 1;
            continue;
        }
        let Some(key) = identity.keys[t].clone() else {
            continue;
        };
        let prior = identity.owner[t].map(|s| {
            owned[s] = true;
            &last.courses[s]
        });
        if course.cancelled() {
            match prior {
                Some(p) => {
                    delta.changes.push(Change {
                        kind: ChangeKind::Delete,
                        row: CourseRow {
                            operation: Operation::Delete,
                            ..p.row.clone()
                        },
                    });
                    next.remove(&p.key());
                }
                None => delta.cancelled_unsent += 1,
            }
            continue;
        }
        delta.keys.insert(course.group.clone(), key.clone());
        let row = course.course_row(&key);
        let mut rollover = None;
        if let Some(request) = course.rollover_request(&key)
            && let Some((old, asked, source)) = resolve(&request, course, &key, &sent_index)
        {
            let (old_key, status) = match old {
                Old::Known(old) => {
                    let status = if let Some(at) = sent_pairs.get(&(&key, &old)) {
                        RolloverStatus::SentBefore((*at).to_owned())
                    } else if let Some(before) = received.get(&key) {
                        // Asked for by a person (not inferred): say why it is not sent.
                        if !matches!(request, RolloverRequest::SameCourse { .. }) {
                            delta.findings.push(Finding::warning(
                                "W-ROLLOVER-AGAIN",
                                format!(
                                    "the course received lists from {} on {}; a second rollover (from {old}) would add lists again: not sent, roll over by hand if wanted",
                                    before.old, before.sent_at
                                ),
                            ).for_course(key.to_string()));
                        }
                        RolloverStatus::Held(format!("already rolled over from {}", before.old))
                    } else if !options.emit_rollovers {
                        RolloverStatus::ReportOnly
                    } else {
                        rollover = Some(old.clone());
                        RolloverStatus::SentNow
                    };
                    (Some(old), status)
                }
                Old::Unsent(old) if created.contains(&old) => (
                    Some(old),
                    RolloverStatus::Held(
                        "the old course is new in this file; a later run sends the rollover"
                            .to_owned(),
                    ),
                ),
                Old::Unsent(old) => {
                    let send = options.unknown_old == UnknownOld::Send
                        && options.emit_rollovers
                        && !received.contains_key(&key);
                    delta.findings.push(
                        Finding::warning(
                            "W-ROLLOVER-OLD-UNSENT",
                            format!(
                                "the old course {old} ({source}) was never sent by alma-sis or was deleted since: {}",
                                if send {
                                    "sent as [rollover] unknown_old = \"send\" says; check that Alma has it"
                                } else {
                                    "no rollover sent; check the request, or set [rollover] unknown_old = \"send\" for courses loaded before alma-sis"
                                }
                            ),
                        )
                        .for_course(key.to_string()),
                    );
                    let status = if send {
                        rollover = Some(old.clone());
                        RolloverStatus::SentNow
                    } else {
                        RolloverStatus::Held("old course never sent".to_owned())
                    };
                    (Some(old), status)
                }
                Old::Unknown(code) => {
                    delta.findings.push(
                        Finding::warning(
                            "W-ROLLOVER-OLD-UNKNOWN",
                            format!(
                                "no course with code {code:?} ({source}) was sent by alma-sis, and no old section is given: no rollover sent; give the old section (copy_from_section, or old_section in the rule)"
                            ),
                        )
                        .for_course(key.to_string()),
                    );
                    (None, RolloverStatus::Held("old course unknown".to_owned()))
                }
                Old::Ambiguous(all) => {
                    let list: Vec<String> = all.iter().map(ToString::to_string).collect();
                    delta.findings.push(
                        Finding::warning(
                            "W-ROLLOVER-OLD-AMBIGUOUS",
                            format!(
                                "{source}: {} sent courses fit ({}): no rollover sent; give the old section",
                                all.len(),
                                list.join(", ")
                            ),
                        )
                        .for_course(key.to_string()),
                    );
                    (
                        None,
                        RolloverStatus::Held("several old courses fit".to_owned()),
                    )
                }
            };
            delta.rollovers.push(RolloverLine {
                candidate: RolloverCandidate {
                    course: key.clone(),
                    title: row.title.clone(),
                    old: old_key,
                    requested: asked,
                    source,
                },
                status,
            });
        }
        let changed = rollover.is_some() || options.full || prior.is_none_or(|p| p.row != row);
        if let Some(p) = prior
            && changed
        {
            let ignored: Vec<&str> = changed_columns(&p.row, &row)
                .into_iter()
                .filter(|c| {
                    !updated_by_default(c) && !options.loader_updates.iter().any(|u| u == c)
                })
                .collect();
            if !ignored.is_empty() {
                delta.not_applied += 1;
                delta.findings.push(
                    Finding::warning(
                        "W-UPDATE-NOT-APPLIED",
                        format!(
                            "{} changed; with default Course Loader settings Alma updates only NUM_OF_PARTICIPANTS and the instructors of a course it has: change the rest in Alma, or set the profile's update options and list the columns in [file] loader_updates",
                            ignored.join(", ")
                        ),
                    )
                    .for_course(key.to_string()),
                );
            }
        }
        let record = SentCourse {
            row: row.clone(),
            group: course.group.clone(),
            members: course.members(),
            term: Some(course.term.clone()),
            same_course: course.same_courses(),
        };
        if changed {
            let kind = match (&rollover, prior) {
                (Some(_), _) => ChangeKind::Rollover,
                (None, None) => ChangeKind::Create,
                (None, Some(_)) => ChangeKind::Update,
            };
            let mut out = row;
            if let Some(old) = rollover {
                out.operation = Operation::Rollover {
                    old_code: old.code,
                    old_section: old.section,
                };
            }
            delta.changes.push(Change { kind, row: out });
        } else {
            delta.unchanged += 1;
        }
        if let Some(p) = prior
            && p.key() != key
        {
            next.remove(&p.key());
        }
        assigned.insert(key.clone());
        next.insert(key, record);
    }

    // Sent courses no course of today continues.
    let held_rows: HashSet<&CourseKey> = mapped.held_rows.iter().collect();
    let held_groups: HashSet<&str> = mapped.held_groups.iter().map(String::as_str).collect();
    let terms: HashSet<&str> = mapped.terms.iter().map(String::as_str).collect();
    for (s, course) in last.courses.iter().enumerate() {
        if owned[s] {
            continue;
        }
        let key = course.key();
        // Taken over by another course under a forced re-key.
        if assigned.contains(&key) {
            continue;
        }
        let held = identity.held_sent[s]
            || held_groups.contains(course.group.as_str())
            || held_rows.contains(&key)
            || course.members.iter().any(|m| held_rows.contains(m));
        let term_here = course.term.as_deref().is_some_and(|t| terms.contains(t));
        if held || !mapped.complete() || !options.delete_vanished {
            if term_here {
                delta.kept_missing += 1;
            } else {
                delta.ended += 1;
            }
        } else if !term_here {
            delta.ended += 1;
        } else {
            delta.changes.push(Change {
                kind: ChangeKind::Delete,
                row: CourseRow {
                    operation: Operation::Delete,
                    ..course.row.clone()
                },
            });
            next.remove(&key);
        }
    }

    let targets: HashSet<&CourseKey> = sent.iter().map(|r| &r.course).collect();
    delta.rollover_target_deletes = delta
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Delete)
        .map(|c| c.row.key())
        .filter(|k| targets.contains(k))
        .collect();
    delta.rollover_target_deletes.sort();
    let deletes = delta.count(ChangeKind::Delete);
    let base = last
        .courses
        .iter()
        .filter(|c| c.term.as_deref().is_none_or(|t| terms.contains(t)))
        .count();
    let limit = delete_limit(options, base);
    if !options.force {
        if delta.rollover_target_deletes.len() > options.max_rollover_target_deletes {
            return Err(CourseError::RolloverTargetBrake {
                deletes: delta.rollover_target_deletes.len(),
                limit: options.max_rollover_target_deletes,
                courses: delta
                    .rollover_target_deletes
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            });
        }
        if deletes > limit {
            return Err(CourseError::Brake {
                deletes,
                limit,
                sent: base,
            });
        }
    }
    delta.changes.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then_with(|| a.row.key().cmp(&b.row.key()))
    });
    delta
        .rollovers
        .sort_by(|a, b| a.candidate.course.cmp(&b.candidate.course));
    delta.next = Snapshot {
        courses: next.into_values().collect(),
    };
    Ok(delta)
}
