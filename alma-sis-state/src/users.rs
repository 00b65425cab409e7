//! The patron feed's planning vocabulary: load modes, the vanished policy, the brake, and the
//! verdicts the [`Planner`](super::Planner) hands out.

use std::fmt;

use alma_user_model::MatchId;
use chrono::NaiveDate;

use super::RunId;

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
    /// Re-send them with the expiry date set to the day they vanished plus a grace, or to the
    /// expiry date last sent when that is earlier (and a purge date by
    /// [`PurgePolicy`](super::PurgePolicy)).
    Expire {
        /// Days added to the day they vanished.
        grace_days: u32,
    },
    /// Re-send them with status INACTIVE and the expiry date last sent (and a purge date by
    /// [`PurgePolicy`](super::PurgePolicy)).
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
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    /// What the integration profile matches users on: items are keyed by its
    /// [match key](alma_user_model::match_key), so someone whose primary id changes under a
    /// match on `UNIV_ID` stays the same item.
    pub match_id: MatchId,
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
    /// The `[purge]` rules changed since the feed's last complete run, so everyone mapped
    /// was sent again with the purge dates the new rules give
    /// ([`crate::Planner::set_purge_basis`]).
    pub purge_rules_changed: bool,
    /// The day of the feed's last delivered run, when this run's day is before it (a clock
    /// set back, or an old `--now`): the brake trips, first run or not.
    pub clock_behind: Option<NaiveDate>,
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

    /// Whether either limit is exceeded (never on the first run), or the run's day is before
    /// the feed's last delivered run's.
    pub fn tripped(&self) -> bool {
        self.clock_behind.is_some()
            || self.baseline.is_some()
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
        if let Some(day) = self.clock_behind {
            write!(
                f,
                "the brake tripped: this run's day is before {day}, the day of this feed's last \
                 delivered run (a clock set back, or an old --now): the run state would record \
                 people as seen, vanished and sent on days before what it already recorded, and \
                 expiry dates computed from an earlier day would be sent. Also, "
            )?;
        } else {
            write!(f, "the brake tripped: ")?;
        }
        write!(
            f,
            "eligible users went from {before} (run {run}) to {}, a drop of \
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
        )?;
        if self.purge_rules_changed {
            write!(
                f,
                "; the [purge] rules changed since the last complete run, so everyone is sent \
                 again with the purge dates they now give"
            )?;
        }
        Ok(())
    }
}

/// What happens to a vanished person in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VanishedAction {
    /// Re-sent with this expiry date (the purge date is in [`VanishedUser::dates`]).
    Expired {
        /// The expiry date sent.
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
    /// The dates they are re-sent with, and where they come from (when re-sent).
    pub dates: Option<super::VanishedDates>,
}

/// How an eligible user compares with what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Never sent before (or forgotten, or never recorded as sent).
    New,
    /// The content changed, or the expiry date moved earlier or appeared or went.
    Changed,
    /// The same as last sent.
    Unchanged,
    /// Unchanged, but the expiry date last sent lapses within the refresh window and today's
    /// is later: re-sent to move it on.
    Refreshed,
    /// Back after vanishing (or after being retired).
    Returning,
}

/// What the planner decided for one eligible user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict {
    /// How the user compares with what was sent.
    pub class: Class,
    /// Whether the user goes into this run's files: every user in full mode, all but the
    /// unchanged ones in delta mode.
    pub send: bool,
}
