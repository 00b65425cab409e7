//! The dates a vanished person is re-sent with.
//!
//! Expiry by the vanished policy: with `Expire`, the day they vanished plus the grace, or the
//! expiry date last sent when that is earlier (vanishing never gives back days a person had
//! already lost); with `Inactive`, the expiry date last sent. Purge: that expiry date plus the `[purge]` rule of
//! their last group (the group of the record last sent), never sooner than
//! [`PurgePolicy::minimum_days`] after the later of the expiry date and the run date. A
//! group the rules give no purge date gets none (Alma never purges a user without one).
//!
//! Why the later of the two: the minimum protects someone missing from one extract by
//! mistake. Counted from the expiry date alone, a re-send on a later run (or an expiry
//! already past, with `Inactive`) could carry a purge date that Alma's next "Purge users"
//! job acts on within days of the run; counted from the run date as well, whoever is sent
//! always has at least the minimum left to come back or be noticed.

use std::sync::{Arc, LazyLock};

use alma_user_model::{User, match_key};
use chrono::{Days, NaiveDate};
use rusqlite::{OptionalExtension as _, params};

use super::{PlanOptions, StateError, StateStore, VanishedAction, VanishedPolicy, VanishedUser};

/// The `[purge]` rules of the mapping: the purge date that follows an expiry date for a user
/// group. Closures `Fn(Option<&str>, NaiveDate) -> Option<NaiveDate>` are rules.
pub trait PurgeRule {
    /// The purge date of a user of `group` (the code; `None` without a group) whose expiry
    /// date is `expiry`; `None` when no rule gives one.
    fn purge_date(&self, group: Option<&str>, expiry: NaiveDate) -> Option<NaiveDate>;
}

impl<F> PurgeRule for F
where
    F: Fn(Option<&str>, NaiveDate) -> Option<NaiveDate>,
{
    fn purge_date(&self, group: Option<&str>, expiry: NaiveDate) -> Option<NaiveDate> {
        self(group, expiry)
    }
}

/// How vanished people's purge dates are set: the mapping's `[purge]` rules and a minimum.
#[derive(Clone)]
pub struct PurgePolicy {
    /// The `[purge]` rules.
    pub rule: Arc<dyn PurgeRule + Send + Sync>,
    /// No purge date is sent sooner than this many days after the later of the expiry date
    /// and the run date.
    pub minimum_days: u32,
}

impl PurgePolicy {
    /// The default minimum, in days.
    pub const DEFAULT_MINIMUM_DAYS: u32 = 90;

    /// No `[purge]` rules (nobody gets a purge date) and the default minimum.
    pub fn none() -> PurgePolicy {
        PurgePolicy {
            rule: Arc::new(|_: Option<&str>, _: NaiveDate| None),
            minimum_days: Self::DEFAULT_MINIMUM_DAYS,
        }
    }

    /// The earliest purge date allowed for someone expiring on `expiry` who is sent on
    /// `today`.
    pub fn floor(&self, expiry: Option<NaiveDate>, today: NaiveDate) -> NaiveDate {
        expiry
            .map_or(today, |e| e.max(today))
            .checked_add_days(Days::new(u64::from(self.minimum_days)))
            .unwrap_or(NaiveDate::MAX)
    }
}

impl Default for PurgePolicy {
    fn default() -> Self {
        PurgePolicy::none()
    }
}

impl std::fmt::Debug for PurgePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PurgePolicy")
            .field("minimum_days", &self.minimum_days)
            .finish_non_exhaustive()
    }
}

/// The dates a vanished person is re-sent with, and where they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VanishedDates {
    /// Their last group (of the record last sent), which chose the `[purge]` rule.
    pub group: Option<String>,
    /// The expiry date sent.
    pub expiry: Option<NaiveDate>,
    /// With [`VanishedPolicy::Expire`]: the day they vanished plus the grace, sent unless the
    /// expiry date last sent is earlier; `None` under the other policies.
    pub grace_end: Option<NaiveDate>,
    /// What the `[purge]` rule of their last group gives for that expiry date.
    pub by_rule: Option<NaiveDate>,
    /// The earliest purge date allowed: [`PurgePolicy::minimum_days`] after the later of
    /// the expiry date and the run date.
    pub floor: NaiveDate,
    /// The purge date sent: `by_rule`, raised to `floor`; none when the rules give none.
    pub purge: Option<NaiveDate>,
}

impl VanishedDates {
    /// The dates for someone whose last record sent is `last`, under `policy`, re-sent on
    /// `today`; `since`: the first run they were missing from; `sent_expires`: the expiry
    /// date last sent (which the stored record may predate).
    pub fn new(
        policy: VanishedPolicy,
        purge: &PurgePolicy,
        last: &User,
        since: NaiveDate,
        sent_expires: Option<NaiveDate>,
        today: NaiveDate,
    ) -> VanishedDates {
        let sent = sent_expires.or(last.expiry_date);
        let grace_end = match policy {
            VanishedPolicy::Expire { grace_days } => Some(
                since
                    .checked_add_days(Days::new(u64::from(grace_days)))
                    .unwrap_or(since),
            ),
            _ => None,
        };
        // Both are fixed once they vanish (`since` and the item's expiry are not rewritten
        // by a re-send), so every re-send carries the same expiry date.
        let expiry = match (grace_end, sent) {
            (Some(end), Some(sent)) => Some(end.min(sent)),
            (Some(end), None) => Some(end),
            (None, sent) => sent,
        };
        let group = last.user_group.as_ref().map(|g| g.code.clone());
        let by_rule = expiry.and_then(|e| purge.rule.purge_date(group.as_deref(), e));
        let floor = purge.floor(expiry, today);
        VanishedDates {
            group,
            expiry,
            grace_end,
            by_rule,
            floor,
            purge: by_rule.map(|p| p.max(floor)),
        }
    }

    /// `user` as re-sent: these dates (and status INACTIVE under that policy).
    pub(super) fn apply(&self, user: &mut User, action: VanishedAction) {
        user.expiry_date = self.expiry;
        user.purge_date = self.purge;
        if action == VanishedAction::Inactivated {
            user.status = Some(alma_user_model::UserStatus::Inactive);
        }
    }
}

/// What a run on a given day does with someone known to the state who is missing from its
/// extract ([`StateStore::if_missing`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMissing {
    /// Never sent: nothing to expire.
    NeverSent,
    /// Retired after vanishing: no longer sent.
    Retired {
        /// When.
        since: NaiveDate,
    },
    /// Vanished, already re-sent by a run that day.
    SentToday(VanishedUser),
    /// Vanishes (or stays vanished): what the run does.
    Vanishes(VanishedUser),
}

/// The item [`StateStore::if_missing`] reads, its `last_sent` a date (formatted once: it
/// is asked of every Alma user a `plan` does not match).
static IF_MISSING_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT i.status, i.status_since, i.sends, i.expires, {} \
         FROM items i LEFT JOIN feeds f ON f.feed = i.feed \
         WHERE i.feed = ?1 AND i.key = ?2",
        super::LAST_SENT_SQL
    )
});

impl StateStore {
    /// What a complete run of `feed` on `today` would do with the person whose match value
    /// (under `options.match_id`, the primary id by default) is `value` if they were missing
    /// from its extract (`None`: not known): the same decision and dates as
    /// [`Planner::finish`](super::Planner::finish), for `alma-sis explain`. Writes nothing.
    pub fn if_missing(
        &self,
        feed: &str,
        value: &str,
        options: &PlanOptions,
        purge: &PurgePolicy,
        today: NaiveDate,
    ) -> Result<Option<IfMissing>, StateError> {
        let key = match_key(value);
        let action = format!("read item {key:?} of feed {feed:?}");
        // Cached: `plan` asks this of every Alma user the load does not match.
        let row = self
            .conn
            .prepare_cached(&IF_MISSING_SQL)
            .and_then(|mut stmt| {
                stmt.query_row(params![feed, &*key], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                    ))
                })
                .optional()
            })
            .map_err(self.sql_err(action))?;
        let Some((status, since, sends, expires, last_sent)) = row else {
            return Ok(None);
        };
        let corrupt = |field, value: &str| StateError::Corrupt {
            path: self.path.clone(),
            feed: feed.to_owned(),
            key: key.to_string(),
            field,
            value: value.to_owned(),
        };
        let date = |field, value: Option<i64>| {
            value
                .map(|v| super::from_day_number(v).ok_or_else(|| corrupt(field, &v.to_string())))
                .transpose()
        };
        let since = date("status_since", since)?;
        let expires = date("expires", expires)?;
        let last_sent = date("last_sent", last_sent)?;
        let (since, sends) = match status.as_str() {
            "present" if last_sent.is_none() => return Ok(Some(IfMissing::NeverSent)),
            "present" => (today, 0),
            "vanished" => (
                since.ok_or_else(|| corrupt("status_since", ""))?,
                u32::try_from(sends).map_err(|_| corrupt("sends", &sends.to_string()))?,
            ),
            "retired" => {
                return Ok(Some(IfMissing::Retired {
                    since: since.ok_or_else(|| corrupt("status_since", ""))?,
                }));
            }
            other => return Err(corrupt("status", other)),
        };
        let stored = super::stored::load_user(self, feed, &key)?;
        // Re-sent today already: what that re-send was (the same day gives the same dates),
        // not the next one.
        let sent_today = status == "vanished" && last_sent == Some(today);
        let entry = decide(
            options,
            purge,
            &key,
            since,
            if sent_today {
                sends.saturating_sub(1)
            } else {
                sends
            },
            stored.as_ref(),
            expires,
            today,
        );
        Ok(Some(if sent_today {
            IfMissing::SentToday(entry)
        } else {
            IfMissing::Vanishes(entry)
        }))
    }
}

/// What a run on `today` does with `key`, missing since `since` and re-sent `sends` times,
/// whose last record sent is `stored`.
#[allow(clippy::too_many_arguments)]
pub(super) fn decide(
    options: &PlanOptions,
    purge: &PurgePolicy,
    key: &str,
    since: NaiveDate,
    sends: u32,
    stored: Option<&User>,
    sent_expires: Option<NaiveDate>,
    today: NaiveDate,
) -> VanishedUser {
    let of = options.vanished_runs;
    let mut entry = VanishedUser {
        primary_id: key.to_owned(),
        since,
        action: VanishedAction::Left,
        send: sends,
        of,
        retired: true,
        dates: None,
    };
    if options.vanished == VanishedPolicy::Nothing || sends >= of {
        return entry;
    }
    let Some(user) = stored else {
        entry.action = VanishedAction::NoRecord;
        return entry;
    };
    let dates = VanishedDates::new(options.vanished, purge, user, since, sent_expires, today);
    entry.primary_id = user.primary_id.clone();
    entry.action = match (options.vanished, dates.expiry) {
        (VanishedPolicy::Expire { .. }, Some(on)) => VanishedAction::Expired { on },
        _ => VanishedAction::Inactivated,
    };
    entry.dates = Some(dates);
    entry.send = sends + 1;
    entry.retired = entry.send >= of;
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: u64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 1)
            .and_then(|d| d.checked_add_days(Days::new(n)))
            .expect("a test day")
    }

    /// (expiry, purge) for someone missing since day 10 and re-sent on day `today`, whose
    /// expiry date last sent is `sent` (the item's) or `stored` (the record's), purged
    /// `after` days after expiry, no sooner than 90 days after the expiry or the run.
    fn check(
        policy: VanishedPolicy,
        (sent, stored): (Option<u64>, Option<u64>),
        today: u64,
        after: u64,
        expected: (u64, u64),
    ) {
        let purge = PurgePolicy {
            rule: Arc::new(move |_: Option<&str>, e: NaiveDate| {
                e.checked_add_days(Days::new(after))
            }),
            minimum_days: 90,
        };
        let mut last = User::new("p");
        last.expiry_date = stored.map(day);
        let d = VanishedDates::new(policy, &purge, &last, day(10), sent.map(day), day(today));
        assert_eq!(
            (d.expiry, d.purge),
            (Some(day(expected.0)), Some(day(expected.1))),
            "{policy:?}, sent {sent:?}, stored {stored:?}, on day {today}, purge +{after}"
        );
    }

    #[test]
    fn with_a_grace_the_expiry_is_the_earlier_of_the_one_last_sent_and_the_grace_end() {
        let grace = VanishedPolicy::Expire { grace_days: 14 };
        // Sent later than day 10 + 14: the grace end; earlier: the one sent, even if past.
        check(grace, (Some(400), None), 10, 365, (24, 389));
        check(grace, (Some(24), None), 10, 365, (24, 389));
        check(grace, (Some(20), None), 10, 365, (20, 385));
        check(grace, (Some(5), None), 10, 365, (5, 370));
        // The item's date first, else the record's; neither: the grace end.
        check(grace, (Some(5), Some(400)), 10, 365, (5, 370));
        check(grace, (None, Some(3)), 10, 365, (3, 368));
        check(grace, (None, None), 10, 365, (24, 389));
        let no_grace = VanishedPolicy::Expire { grace_days: 0 };
        check(no_grace, (Some(5), None), 10, 365, (5, 370));
        check(no_grace, (Some(400), None), 10, 365, (10, 375));
        check(VanishedPolicy::Inactive, (Some(5), None), 10, 365, (5, 370));
    }

    #[test]
    fn a_purge_date_from_an_earlier_expiry_keeps_its_minimum_after_the_run() {
        let grace = VanishedPolicy::Expire { grace_days: 14 };
        // Expiry day 5 + 30 days is within 90 days of the run: raised to run + 90.
        check(grace, (Some(5), None), 10, 30, (5, 100));
        // A re-send months later: the same expiry, the purge date no sooner than run + 90.
        check(grace, (Some(5), None), 300, 365, (5, 390));
    }
}
