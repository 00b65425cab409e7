//! Whose state file this is: the institution, and the feeds of it that wrote the file.
//!
//! A state file copied from another site (or a config pointing at another site's file)
//! would make a run treat that site's people as this site's: every one of ours new, every
//! one of theirs vanished, and `--force` would send their stored records to our Alma. So a
//! run first claims the file for its institution and feed ([`StateStore::claim`]), and a file
//! that belongs to another institution is refused before anything is read from it or
//! written to it.
//!
//! The owners live in a table of their own, `owner`, created when a file is first claimed
//! (older alma-sis versions ignore it). A file written before owners were recorded is
//! adopted once: by the first run whose config wrote a run recorded in it (the same config
//! sha256, so the same institution), else only on request ([`StateStore::adopt`]).

use chrono::NaiveDate;
use rusqlite::params;

use super::{StateError, StateStore, date_text};

const OWNER_TABLE: &str = "CREATE TABLE IF NOT EXISTS owner (
    feed TEXT PRIMARY KEY,
    institution TEXT NOT NULL,
    since TEXT NOT NULL,
    how TEXT NOT NULL
)";

/// An institution and one of its feeds: who a state file belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The institution code (`feed.institution`).
    pub institution: String,
    /// The feed (`feed.name`).
    pub feed: String,
}

/// How a run's claim on a state file went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The file already belongs to this institution and feed.
    Known,
    /// A new (empty) file: now it belongs to this institution and feed.
    Created,
    /// The file belongs to this institution; this feed is added to it.
    AddedFeed,
    /// A file that recorded no owner is now this institution's and feed's.
    Adopted {
        /// Whether a run of this feed with this config was recorded in it (adopted by a run);
        /// `false`: adopted on request.
        by_config: bool,
    },
}

impl StateStore {
    /// Every owner recorded, by feed: `(institution, feed)`. Empty for a file written before
    /// owners were recorded. Writes nothing.
    pub fn owners(&self) -> Result<Vec<Owner>, StateError> {
        if !self.has_table("owner", "read its owner")? {
            return Ok(Vec::new());
        }
        let action = "read its owner";
        let mut stmt = self
            .conn
            .prepare("SELECT institution, feed FROM owner ORDER BY feed")
            .map_err(self.sql_err(action))?;
        let owners = stmt
            .query_map([], |r| {
                Ok(Owner {
                    institution: r.get(0)?,
                    feed: r.get(1)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(self.sql_err(action))?;
        Ok(owners)
    }

    /// [`StateError::Foreign`] when the file belongs to another institution than
    /// `institution`; a file without a recorded owner passes. Writes nothing (for commands
    /// that only read, or that claim nothing).
    pub fn check_institution(&self, institution: &str) -> Result<(), StateError> {
        let owners = self.owners()?;
        match owners.iter().find(|o| o.institution != institution) {
            Some(other) => Err(self.foreign(&owners, &other.institution, institution)),
            None => Ok(()),
        }
    }

    /// Claims the file for `owner` before a run of its feed reads or writes anything else:
    ///
    /// - a file that belongs to another institution: [`StateError::Foreign`], nothing
    ///   written;
    /// - this institution's file: its feed is recorded if new ([`Claim::AddedFeed`]);
    /// - an empty file: recorded as `owner`'s ([`Claim::Created`]);
    /// - a file that records no owner (an earlier alma-sis wrote it): adopted when a run of
    ///   `owner.feed` recorded in it used this config (`config_hash`, the same bytes, so the
    ///   same institution), else [`StateError::Unclaimed`] and nothing written.
    ///
    /// `today` is recorded as the day of the claim.
    pub fn claim(
        &mut self,
        owner: &Owner,
        config_hash: &str,
        today: NaiveDate,
    ) -> Result<Claim, StateError> {
        // Reading first: a known owner writes nothing (and waits for no writer).
        let owners = self.owners()?;
        if owners.iter().all(|o| o.institution == owner.institution)
            && owners.iter().any(|o| o.feed == owner.feed)
        {
            return Ok(Claim::Known);
        }
        self.in_write(owner, today, |store, unowned| {
            if !unowned {
                Ok(Claim::AddedFeed)
            } else if !store.used()? {
                Ok(Claim::Created)
            } else if store.ran_with(&owner.feed, config_hash)? {
                Ok(Claim::Adopted { by_config: true })
            } else {
                Err(StateError::Unclaimed {
                    path: store.path.clone(),
                    feed: owner.feed.clone(),
                })
            }
        })
    }

    /// Records `owner` for a file on request: adopts a file that records no owner (after a
    /// person checked that it is theirs), or adds a feed. A file that belongs to another
    /// institution stays refused ([`StateError::Foreign`]).
    pub fn adopt(&mut self, owner: &Owner, today: NaiveDate) -> Result<Claim, StateError> {
        self.in_write(owner, today, |_, unowned| {
            Ok(if unowned {
                Claim::Adopted { by_config: false }
            } else {
                Claim::AddedFeed
            })
        })
    }

    /// In an immediate transaction (the owner table created first): refuses another
    /// institution's file, answers [`Claim::Known`] for a recorded owner, else asks `decide`
    /// (told whether the file records no owner at all) and records `owner` as it says.
    /// Committed when it succeeds.
    fn in_write(
        &mut self,
        owner: &Owner,
        today: NaiveDate,
        decide: impl FnOnce(&StateStore, bool) -> Result<Claim, StateError>,
    ) -> Result<Claim, StateError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(self.sql_err("claim it"))?;
        let result = self
            .conn
            .execute_batch(OWNER_TABLE)
            .map_err(self.sql_err("create its owner table"))
            .and_then(|()| {
                let owners = self.owners()?;
                if let Some(other) = owners.iter().find(|o| o.institution != owner.institution) {
                    return Err(self.foreign(&owners, &other.institution, &owner.institution));
                }
                if owners.iter().any(|o| o.feed == owner.feed) {
                    return Ok(Claim::Known);
                }
                let claim = decide(self, owners.is_empty())?;
                self.record_owner(owner, today, claim)?;
                Ok(claim)
            });
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = self
            .conn
            .execute_batch(end)
            .map_err(self.sql_err("record its owner"));
        let claim = result?;
        ended?;
        Ok(claim)
    }

    fn record_owner(
        &self,
        owner: &Owner,
        today: NaiveDate,
        claim: Claim,
    ) -> Result<(), StateError> {
        let how = match claim {
            Claim::Known => return Ok(()),
            Claim::Created => "created",
            Claim::AddedFeed => "added",
            Claim::Adopted { by_config: true } => "adopted by a run with the same config",
            Claim::Adopted { by_config: false } => "adopted on request",
        };
        self.conn
            .execute(
                "INSERT INTO owner (feed, institution, since, how) VALUES (?1, ?2, ?3, ?4)",
                params![owner.feed, owner.institution, date_text(today), how],
            )
            .map_err(self.sql_err("record its owner"))?;
        Ok(())
    }

    /// Whether anything was ever recorded in the file.
    fn used(&self) -> Result<bool, StateError> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM items) OR EXISTS (SELECT 1 FROM runs)",
                [],
                |r| r.get(0),
            )
            .map_err(self.sql_err("look for earlier runs"))
    }

    /// Whether a run of `feed` with this config is recorded.
    fn ran_with(&self, feed: &str, config_hash: &str) -> Result<bool, StateError> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM runs WHERE feed = ?1 AND config_hash = ?2)",
                params![feed, config_hash],
                |r| r.get(0),
            )
            .map_err(self.sql_err("look for earlier runs"))
    }

    fn foreign(&self, owners: &[Owner], found: &str, wanted: &str) -> StateError {
        StateError::Foreign {
            path: self.path.clone(),
            found: found.to_owned(),
            feeds: owners
                .iter()
                .filter(|o| o.institution == found)
                .map(|o| o.feed.clone())
                .collect(),
            wanted: wanted.to_owned(),
        }
    }
}
