//! Leganto's [`CourseState`] over the run-state store: courses as last
//! sent under feed [`FEED`] (each with what makes it the same course next time, see
//! [`SentCourse`]; a first-version payload, a bare course row, is migrated when read and
//! rewritten by the next delivered run), delivered rollovers under [`ROLLOVER_FEED`].

use chrono::NaiveDate;
use leganto_courses::{CourseKey, CourseState, SentCourse, SentRollover, Snapshot};

use crate::{ContentHash, ItemStatus, ItemWrite, NewRun, RunEnd, RunId, StateError, StateStore};

/// The feed name courses are recorded under in the run state.
pub const FEED: &str = "courses";
/// The feed name sent rollovers are recorded under.
pub const ROLLOVER_FEED: &str = "courses-rollover";

/// The store's key for a course: code and section, tab-separated (neither holds a tab in the
/// file).
pub fn course_key(key: &CourseKey) -> String {
    format!("{}\t{}", key.code, key.section)
}

fn rollover_key(course: &CourseKey, old: &CourseKey) -> String {
    format!("{}\t{}", course_key(course), course_key(old))
}

fn payload_error(feed: &str, key: &str, source: serde_json::Error) -> StateError {
    StateError::Payload {
        feed: feed.to_owned(),
        key: key.to_owned(),
        source,
    }
}

/// [`CourseState`] over the run-state store, for one run of the `courses` feed.
pub struct StoreCourseState<'a> {
    /// The store.
    pub store: &'a mut StateStore,
    /// This run (begun before delivery).
    pub run: RunId,
    /// How the run ended, recorded with the snapshot.
    pub end: RunEnd,
    /// Today.
    pub today: NaiveDate,
    /// Starts the rollover feed's run record: `(feed, started, config hash)`.
    pub rollover_run: NewRun,
}

/// Reads the last snapshot from the store.
pub fn last_snapshot(store: &StateStore) -> Result<Snapshot, StateError> {
    let known = store.snapshot(FEED)?;
    let mut courses = Vec::new();
    for (key, item) in known.iter() {
        if item.status != ItemStatus::Present {
            continue;
        }
        if let Some(json) = store.payload(FEED, key)? {
            let course =
                SentCourse::from_payload(&json).map_err(|e| payload_error(FEED, key, e))?;
            courses.push(course);
        }
    }
    courses.sort_by_key(SentCourse::key);
    Ok(Snapshot { courses })
}

/// Reads every rollover ever delivered.
pub fn rollovers_sent(store: &StateStore) -> Result<Vec<SentRollover>, StateError> {
    let known = store.snapshot(ROLLOVER_FEED)?;
    let mut sent = Vec::new();
    for (key, item) in known.iter() {
        if item.last_sent.is_none() {
            continue;
        }
        if let Some(json) = store.payload(ROLLOVER_FEED, key)? {
            let rollover: SentRollover =
                serde_json::from_str(&json).map_err(|e| payload_error(ROLLOVER_FEED, key, e))?;
            sent.push(rollover);
        }
    }
    sent.sort_by(|a, b| (&a.course, &a.old).cmp(&(&b.course, &b.old)));
    Ok(sent)
}

impl CourseState for StoreCourseState<'_> {
    type Error = StateError;

    fn last_snapshot(&self) -> Result<Snapshot, StateError> {
        last_snapshot(self.store)
    }

    fn rollovers_sent(&self) -> Result<Vec<SentRollover>, StateError> {
        rollovers_sent(self.store)
    }

    /// Rollovers first, in their own run record: if the second step failed, a rollover is
    /// still never sent twice (the courses would only be sent again as updates).
    fn record(&mut self, next: &Snapshot, rollovers: &[SentRollover]) -> Result<(), StateError> {
        let today = self.today;
        if !rollovers.is_empty() {
            let run = self.store.begin_run(&self.rollover_run)?;
            let writes: Vec<Result<ItemWrite, StateError>> = rollovers
                .iter()
                .map(|r| {
                    let key = rollover_key(&r.course, &r.old);
                    let payload = serde_json::to_string(r)
                        .map_err(|e| payload_error(ROLLOVER_FEED, &key, e))?;
                    Ok(ItemWrite {
                        hash: ContentHash::of(key.as_bytes()),
                        key,
                        expires: None,
                        first_seen: today,
                        last_seen: today,
                        last_sent: Some(today),
                        status: ItemStatus::Present,
                        payload: Some(payload),
                    })
                })
                .collect();
            self.store.finish_run(run, &self.end, None, writes)?;
        }
        let before = self.store.snapshot(FEED)?;
        let mut writes: Vec<Result<ItemWrite, StateError>> = Vec::new();
        let mut present = std::collections::HashSet::new();
        for course in &next.courses {
            let key = course_key(&course.key());
            let payload = course
                .to_payload()
                .map_err(|e| payload_error(FEED, &key, e))?;
            let hash = ContentHash::of(payload.as_bytes());
            let old = before.get(&key);
            present.insert(key.clone());
            if old.is_some_and(|o| o.hash == hash && o.status == ItemStatus::Present) {
                continue;
            }
            writes.push(Ok(ItemWrite {
                key,
                hash,
                expires: None,
                first_seen: old.map_or(today, |o| o.first_seen),
                last_seen: today,
                last_sent: Some(today),
                status: ItemStatus::Present,
                payload: Some(payload),
            }));
        }
        for (key, item) in before.iter() {
            if item.status == ItemStatus::Present && !present.contains(key) {
                writes.push(Ok(ItemWrite {
                    key: key.to_owned(),
                    hash: item.hash,
                    expires: None,
                    first_seen: item.first_seen,
                    last_seen: item.last_seen,
                    last_sent: Some(today),
                    status: ItemStatus::Retired { since: today },
                    payload: None,
                }));
            }
        }
        self.store
            .finish_run(self.run, &self.end, Some(today), writes)
    }
}
