//! The patron feed's plan: who is new, changed, unchanged, returning or vanished, what to
//! send in full or delta mode, and whether the brake trips.

use std::collections::HashSet;
use std::fmt;

use alma_user_model::{User, UserStatus, render_user};
use chrono::{Days, NaiveDate};

use super::{
    ContentHash, ItemStatus, ItemWrite, KnownItem, RunCounts, RunId, StateError, StateStore,
};

/// Full or delta load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// Send everyone eligible.
    Full,
    /// Send new, changed and returning users, and those whose sent expiry comes close.
    Delta,
}

/// What to send for someone who was sent before and is missing from today's eligible set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VanishedPolicy {
    /// Re-send them with expiry and purge dates set to the day they vanished plus a grace.
    Expire {
        /// Days added to the day they vanished.
        grace_days: u32,
    },
    /// Re-send them with status INACTIVE.
    Inactive,
    /// Send nothing: retire them at once.
    Nothing,
}

/// The brake's limits, in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BrakeLimits {
    /// Trip when the eligible count falls by more than this since the last successful run.
    pub eligible_drop_percent: f64,
    /// Trip when more than this share of the known users changed or vanished.
    pub changed_or_vanished_percent: f64,
}

impl Default for BrakeLimits {
    fn default() -> Self {
        BrakeLimits {
            eligible_drop_percent: 10.0,
            changed_or_vanished_percent: 25.0,
        }
    }
}

/// How to plan a run of the patron feed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanOptions {
    /// Full or delta.
    pub mode: LoadMode,
    /// What vanished people get.
    pub vanished: VanishedPolicy,
    /// How many successful runs re-send a vanished person before they are retired.
    pub vanished_runs: u32,
    /// Re-send an unchanged user when the expiry date last sent is this close.
    pub refresh_days: u32,
    /// The brake's limits.
    pub brake: BrakeLimits,
    /// Only some users were extracted (`--only`): nobody vanishes, no brake, no "seen" marks.
    pub partial: bool,
}

/// The numbers the brake looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct BrakeReading {
    /// The last successful complete run and its eligible count, if any.
    pub baseline: Option<(RunId, u64)>,
    /// Eligible now.
    pub eligible: u64,
    /// Users known as present before this run.
    pub known: u64,
    /// Of those, how many changed.
    pub changed: u64,
    /// Of those, how many vanished.
    pub vanished: u64,
    /// The limits.
    pub limits: BrakeLimits,
}

impl BrakeReading {
    /// How far the eligible count fell since the baseline, in percent (0 when it grew).
    pub fn eligible_drop_percent(&self) -> f64 {
        match self.baseline {
            Some((_, before)) if before > 0 && self.eligible < before => {
                (before - self.eligible) as f64 * 100.0 / before as f64
            }
            _ => 0.0,
        }
    }

    /// The share of known users that changed or vanished, in percent.
    pub fn changed_or_vanished_percent(&self) -> f64 {
        if self.known == 0 {
            0.0
        } else {
            (self.changed + self.vanished) as f64 * 100.0 / self.known as f64
        }
    }

    /// Whether either limit is exceeded (never on the first run).
    pub fn tripped(&self) -> bool {
        self.baseline.is_some()
            && (self.eligible_drop_percent() > self.limits.eligible_drop_percent
                || self.changed_or_vanished_percent() > self.limits.changed_or_vanished_percent)
    }
}

impl fmt::Display for BrakeReading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (run, before) = self.baseline.unwrap_or((RunId(0), 0));
        let drop = self.eligible_drop_percent();
        let churn = self.changed_or_vanished_percent();
        let mark = |over: bool| if over { "over" } else { "within" };
        write!(
            f,
            "the brake tripped: eligible users went from {before} (run {run}) to {}, a drop of \
             {drop:.1}% ({} the {}% limit); {} changed and {} vanished of {} known, {churn:.1}% \
             ({} the {}% limit)",
            self.eligible,
            mark(drop > self.limits.eligible_drop_percent),
            self.limits.eligible_drop_percent,
            self.changed,
            self.vanished,
            self.known,
            mark(churn > self.limits.changed_or_vanished_percent),
            self.limits.changed_or_vanished_percent,
        )
    }
}

/// What happens to a vanished person in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VanishedAction {
    /// Re-sent with expiry and purge dates on this day.
    Expired {
        /// The expiry (and purge) date sent.
        on: NaiveDate,
    },
    /// Re-sent with status INACTIVE.
    Inactivated,
    /// Not sent: the policy says nothing, or no runs of re-sending are configured.
    Left,
    /// Not sent: the store holds no record of what was sent to re-send.
    NoRecord,
}

/// Someone sent before and missing from today's eligible set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VanishedUser {
    /// The primary id as last sent.
    pub primary_id: String,
    /// The first run they were missing from.
    pub since: NaiveDate,
    /// What this run does.
    pub action: VanishedAction,
    /// Which re-send this is (1-based; 0 when not sent).
    pub send: u32,
    /// How many re-sends the policy allows.
    pub of: u32,
    /// Whether they are retired after this run.
    pub retired: bool,
}

/// How an eligible user compares with what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    New,
    Changed,
    Unchanged,
    Refreshed,
    Returning,
}

/// One eligible user to record once delivered.
#[derive(Debug)]
struct PlannedUser {
    index: usize,
    hash: ContentHash,
    first_seen: NaiveDate,
    store_payload: bool,
}

/// What one run of the patron feed sends, and what it records once delivered.
#[derive(Debug)]
pub struct UserPlan {
    /// The users to package, in extract order, then vanished people by match id.
    pub to_send: Vec<User>,
    /// The counts.
    pub counts: RunCounts,
    /// Vanished people handled in this run, by match id.
    pub vanished: Vec<VanishedUser>,
    /// What the brake saw.
    pub brake: BrakeReading,
    feed: String,
    today: NaiveDate,
    partial: bool,
    planned: Vec<PlannedUser>,
    vanished_writes: Vec<ItemWrite>,
}

/// The match id of a primary id: Alma compares primary ids case-insensitively.
pub fn match_id(primary_id: &str) -> String {
    primary_id.to_lowercase()
}

/// The content hash of a user: sha256 of its rendered `<user>` without the expiry and purge
/// dates, which move every day under a "today + N days" rule and are compared separately.
fn content_hash(user: &mut User, buf: &mut Vec<u8>) -> Result<ContentHash, StateError> {
    let expiry = user.expiry_date.take();
    let purge = user.purge_date.take();
    buf.clear();
    let rendered = render_user(user, buf);
    user.expiry_date = expiry;
    user.purge_date = purge;
    rendered.map_err(|source| StateError::Render {
        primary_id: user.primary_id.clone(),
        source,
    })?;
    Ok(ContentHash::of(buf))
}

fn classify(
    known: Option<&KnownItem>,
    hash: ContentHash,
    expires: Option<NaiveDate>,
    refresh_days: u32,
    today: NaiveDate,
) -> Class {
    let Some(k) = known else {
        return Class::New;
    };
    if !matches!(k.status, ItemStatus::Present) {
        return Class::Returning;
    }
    if k.last_sent.is_none() {
        return Class::New;
    }
    let expiry_moved_earlier = match (k.expires, expires) {
        (Some(sent), Some(now)) => now < sent,
        (sent, now) => sent != now,
    };
    if k.hash != hash || expiry_moved_earlier {
        return Class::Changed;
    }
    let due = k
        .expires
        .and_then(|e| e.checked_sub_days(Days::new(u64::from(refresh_days))))
        .is_some_and(|due| due <= today);
    // Only a later expiry that is still ahead is worth sending: someone whose expiry is
    // "today" every day (a dropped registration) has already lapsed.
    if due && expires != k.expires && expires.is_some_and(|e| e > today) {
        Class::Refreshed
    } else {
        Class::Unchanged
    }
}

impl StateStore {
    /// Plans a run of the patron feed `feed` from today's eligible `users`.
    ///
    /// `held` holds match ids that are in the extract but were rejected today: they are not
    /// vanished. Nothing is written; [`StateStore::finish_run`] with [`UserPlan::touch`] and
    /// [`UserPlan::writes`] records the plan once its files are delivered.
    pub fn plan_users(
        &self,
        feed: &str,
        users: Vec<User>,
        held: &HashSet<String>,
        options: &PlanOptions,
        today: NaiveDate,
    ) -> Result<UserPlan, StateError> {
        let mut snapshot = self.snapshot(feed)?;
        let baseline = if options.partial {
            None
        } else {
            self.last_successful_run(feed)?
                .map(|r| (r.id, r.counts.eligible))
        };
        let known = snapshot
            .iter()
            .filter(|(_, k)| k.status == ItemStatus::Present && k.last_sent.is_some())
            .count() as u64;
        let mut counts = RunCounts {
            eligible: users.len() as u64,
            ..RunCounts::default()
        };
        // Filtered in place: a second list of a million users would double the peak memory.
        let mut to_send = users;
        let mut planned = Vec::with_capacity(to_send.len());
        let mut buf = Vec::new();
        let mut failed = None;
        to_send.retain_mut(|user| {
            if failed.is_some() {
                return false;
            }
            let key = match_id(&user.primary_id);
            let hash = match content_hash(user, &mut buf) {
                Ok(hash) => hash,
                Err(e) => {
                    failed = Some(e);
                    return false;
                }
            };
            let known = snapshot.items.remove(key.as_str());
            let class = classify(
                known.as_ref(),
                hash,
                user.expiry_date,
                options.refresh_days,
                today,
            );
            match class {
                Class::New => counts.new += 1,
                Class::Changed => counts.changed += 1,
                Class::Unchanged => counts.unchanged += 1,
                Class::Refreshed => counts.refreshed += 1,
                Class::Returning => counts.returning += 1,
            }
            let send = options.mode == LoadMode::Full || class != Class::Unchanged;
            if send {
                planned.push(PlannedUser {
                    // Kept users so far: the index this one has once the list is filtered.
                    index: planned.len(),
                    hash,
                    first_seen: known.map_or(today, |k| k.first_seen),
                    store_payload: matches!(class, Class::New | Class::Changed | Class::Returning),
                });
            }
            send
        });
        if let Some(e) = failed {
            return Err(e);
        }
        planned.shrink_to_fit();
        to_send.shrink_to_fit();

        let mut vanished = Vec::new();
        let mut vanished_writes = Vec::new();
        let mut newly_vanished = 0;
        if !options.partial {
            let mut unseen: Vec<(Box<str>, KnownItem)> = snapshot
                .items
                .into_iter()
                .filter(|(key, _)| !held.contains(&**key))
                .collect();
            unseen.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, item) in unseen {
                let (since, sends) = match item.status {
                    ItemStatus::Present if item.last_sent.is_some() => {
                        newly_vanished += 1;
                        (today, 0)
                    }
                    ItemStatus::Vanished { since, sends } if item.last_sent != Some(today) => {
                        (since, sends)
                    }
                    _ => continue,
                };
                let outcome = self.vanished_user(feed, &key, &item, since, sends, options)?;
                let (entry, user) = outcome;
                let mut write = ItemWrite {
                    key: key.into_string(),
                    hash: item.hash,
                    expires: item.expires,
                    first_seen: item.first_seen,
                    last_seen: item.last_seen,
                    last_sent: item.last_sent,
                    status: ItemStatus::Retired { since: today },
                    payload: None,
                };
                if !entry.retired {
                    write.status = ItemStatus::Vanished {
                        since,
                        sends: entry.send,
                    };
                }
                if let Some(user) = user {
                    write.last_sent = Some(today);
                    to_send.push(user);
                }
                counts.vanished += 1;
                counts.retired += u64::from(entry.retired);
                vanished.push(entry);
                vanished_writes.push(write);
            }
        }
        counts.sent = to_send.len() as u64;
        let brake = BrakeReading {
            baseline,
            eligible: counts.eligible,
            known,
            changed: counts.changed,
            vanished: newly_vanished,
            limits: options.brake,
        };
        Ok(UserPlan {
            to_send,
            counts,
            vanished,
            brake,
            feed: feed.to_owned(),
            today,
            partial: options.partial,
            planned,
            vanished_writes,
        })
    }

    /// Decides what a vanished person gets and builds the user to re-send, if any.
    fn vanished_user(
        &self,
        feed: &str,
        key: &str,
        item: &KnownItem,
        since: NaiveDate,
        sends: u32,
        options: &PlanOptions,
    ) -> Result<(VanishedUser, Option<User>), StateError> {
        let of = options.vanished_runs;
        let mut entry = VanishedUser {
            primary_id: key.to_owned(),
            since,
            action: VanishedAction::Left,
            send: sends,
            of,
            retired: true,
        };
        if options.vanished == VanishedPolicy::Nothing || sends >= of {
            return Ok((entry, None));
        }
        let Some(json) = self.payload(feed, key)? else {
            entry.action = VanishedAction::NoRecord;
            return Ok((entry, None));
        };
        let mut user: User = serde_json::from_str(&json).map_err(|source| StateError::Payload {
            feed: feed.to_owned(),
            key: key.to_owned(),
            source,
        })?;
        entry.primary_id.clone_from(&user.primary_id);
        match options.vanished {
            VanishedPolicy::Expire { grace_days } => {
                let on = since
                    .checked_add_days(Days::new(u64::from(grace_days)))
                    .unwrap_or(since);
                user.expiry_date = Some(on);
                user.purge_date = Some(on);
                entry.action = VanishedAction::Expired { on };
            }
            VanishedPolicy::Inactive => {
                // The stored payload may predate the last expiry sent (only content changes
                // rewrite it): send the last expiry, keeping the purge date's distance.
                if let (Some(sent), Some(stored)) = (item.expires, user.expiry_date) {
                    let gap = user.purge_date.map(|p| p.signed_duration_since(stored));
                    user.expiry_date = Some(sent);
                    user.purge_date = gap.and_then(|g| sent.checked_add_signed(g));
                }
                user.status = Some(UserStatus::Inactive);
                entry.action = VanishedAction::Inactivated;
            }
            VanishedPolicy::Nothing => return Ok((entry, None)),
        }
        entry.send = sends + 1;
        entry.retired = entry.send >= of;
        Ok((entry, Some(user)))
    }
}

impl UserPlan {
    /// The feed planned.
    pub fn feed(&self) -> &str {
        &self.feed
    }

    /// Whether the brake stops this run: [`StateError::BrakeTripped`] unless `force`.
    pub fn check_brake(&self, force: bool) -> Result<(), StateError> {
        if self.brake.tripped() && !force {
            Err(StateError::BrakeTripped(self.brake.clone()))
        } else {
            Ok(())
        }
    }

    /// The day to mark every present item seen, for [`StateStore::finish_run`] (none when
    /// only some users were extracted).
    pub fn touch(&self) -> Option<NaiveDate> {
        (!self.partial).then_some(self.today)
    }

    /// The item writes that record this plan as delivered, for [`StateStore::finish_run`].
    /// Payloads are serialized lazily, one user at a time.
    pub fn writes(&self) -> impl Iterator<Item = Result<ItemWrite, StateError>> + '_ {
        let sent = self.planned.iter().map(move |p| {
            let user = &self.to_send[p.index];
            let key = match_id(&user.primary_id);
            let payload = if p.store_payload {
                Some(
                    serde_json::to_string(user).map_err(|source| StateError::Payload {
                        feed: self.feed.clone(),
                        key: key.clone(),
                        source,
                    })?,
                )
            } else {
                None
            };
            Ok(ItemWrite {
                key,
                hash: p.hash,
                expires: user.expiry_date,
                first_seen: p.first_seen,
                last_seen: self.today,
                last_sent: Some(self.today),
                status: ItemStatus::Present,
                payload,
            })
        });
        sent.chain(self.vanished_writes.iter().cloned().map(Ok))
    }
}
