//! `plan`: what Alma will do with a load, predicted from Alma's own "Export users" file.
//!
//! An integration profile's "Export users" action writes Alma's users in the version 2
//! format, "the same as the user API object" (`../shared/spec/alma-user-xml.md` section 10).
//! [`AlmaExport::read`] reads such files (bare, with or without an `.xml` extension, zipped,
//! or folders of them) once, streamed, and keeps a compact index: 12 bytes per identifier
//! value and 15 per user, the records themselves staying on disk (see `records`). Then
//! [`AlmaExport::compare`] takes each user the load sends, finds Alma's user under the
//! profile's match id and predicts what Alma's synchronize does with it:
//!
//! - [`Outcome::New`]: no Alma user has that match id ("`Add` creates users for unmatched
//!   records", section 5);
//! - [`Outcome::Update`]: the fields Alma changes, by [`synchronize`];
//! - [`Outcome::Unchanged`]: Alma would change nothing;
//! - [`Outcome::WillFail`] with a [`Reason`]: an identifier another Alma user holds
//!   ("All primary and additional identifiers must be unique for users", section 3; job
//!   report "Identifier ... is already taken", section 6), an internal Alma user ("Internal
//!   users are never updated by SIS ('User is not external')", section 5), two Alma users
//!   with the load's match id, or a changed match id (no Alma user has the new one, and the
//!   same person's record under the old one holds the user's identifiers: Alma adds a new
//!   user, which fails on those identifiers).
//!
//! After the load, [`AlmaExport::unmatched`] lists the external Alma users of the profile's
//! groups that no user of the load matched: the candidates for the vanished policy.
//!
//! The export is Alma before the load. The users of the load are compared in order, each
//! with Alma as the updates before it leave it: an identifier an earlier update takes off
//! its Alma user is free for a later user (that Alma applies a file's users in order is
//! inferred, not documented).
//!
//! ```
//! use alma_sis_package::plan::{AlmaExport, ExportOptions, Outcome};
//! use alma_user_model::User;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let export = dir.path().join("alma_export");
//! std::fs::write(
//!     &export,
//!     "<users><user><primary_id>jdoe</primary_id><last_name>Doe</last_name>\
//!      <account_type>EXTERNAL</account_type></user></users>",
//! )?;
//! let options = ExportOptions::new(dir.path());
//! let mut alma = AlmaExport::read(&[export], &options)?;
//! let mut jdoe = User::new("JDOE");
//! jdoe.last_name = Some("Doe-Smith".into());
//! let verdict = alma.compare(&jdoe)?;
//! let Outcome::Update(changes) = verdict.outcome else { panic!("an update") };
//! assert_eq!(changes[0].label(), "last_name");
//! assert!(matches!(alma.compare(&User::new("asmith"))?.outcome, Outcome::New));
//! # Ok(())
//! # }
//! ```

mod export;
mod records;
pub mod sync;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use alma_user_model::{MatchId, ReadError, User};
use serde::Serialize;

pub use sync::{Change, ChangeKind, synchronize};

use crate::check::{Limits, id_key};
use records::{
    AS_MATCH, IN_GROUPS, INTERNAL, MATCHED, NO_GROUP, NO_MATCH_VALUE, OWNER, Records, SUPERSEDED,
    ValueIndex,
};

/// The codes of [`Reason`], as `run --plan-against` quarantines with them.
pub mod codes {
    /// An identifier of the user is held by another Alma user.
    pub const ID_TAKEN: &str = "E-ALMA-ID-TAKEN";
    /// Alma's user under the match id is internal ("User is not external").
    pub const NOT_EXTERNAL: &str = "E-ALMA-NOT-EXTERNAL";
    /// Two or more Alma users have the user's match id.
    pub const SHARED_MATCH_ID: &str = "E-ALMA-SHARED-MATCH-ID";
    /// The match id changed: Alma holds the person under the old one.
    pub const MATCH_ID_CHANGED: &str = "E-ALMA-MATCH-ID-CHANGED";
}

/// How to read an export and what the profile is.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The integration profile's match id.
    pub match_id: MatchId,
    /// The user groups the profile loads (the mapping's); empty: every group.
    pub groups: Vec<String>,
    /// Byte limits against hostile input (bytes per document, in total).
    pub limits: Limits,
    /// Where the temporary copy of zipped records goes (an unlinked file, mode 0600).
    pub spill_dir: PathBuf,
}

impl ExportOptions {
    /// Match on `primary_id`, every group, the check's default limits; temporary records in
    /// `spill_dir`.
    pub fn new(spill_dir: &Path) -> ExportOptions {
        ExportOptions {
            match_id: MatchId::PrimaryId,
            groups: Vec::new(),
            limits: Limits::default(),
            spill_dir: spill_dir.to_owned(),
        }
    }
}

/// Why an export could not be read (as opposed to what it predicts).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A path (or the temporary copy of records) could not be read or written.
    #[error("cannot read {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a users export.
    #[error("{path} is not an Alma users export: {why}")]
    NotAnExport {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        why: String,
    },
    /// A version 1 export (`<userRecords>`).
    #[error(
        "{place} is a version 1 export (<userRecords>), which Ex Libris deprecated: run the \
         profile's \"Export users\" action again with version 2 (\"the same as the user API \
         object\")"
    )]
    Version1 {
        /// The file (and zip entry).
        place: String,
    },
    /// The XML is not well-formed or not UTF-8.
    #[error("{}: the export cannot be read", place(path, entry.as_deref()))]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The zip entry.
        entry: Option<String>,
        /// What the reader found.
        #[source]
        source: ReadError,
    },
    /// A byte limit was reached (a zip bomb, or limits too small for the export).
    #[error("{}: {message}", place(path, entry.as_deref()))]
    Limit {
        /// The file.
        path: PathBuf,
        /// The zip entry.
        entry: Option<String>,
        /// Which limit.
        message: String,
    },
}

fn place(path: &Path, entry: Option<&str>) -> String {
    match entry {
        Some(e) => format!("{}!{e}", path.display()),
        None => path.display().to_string(),
    }
}

/// One XML document read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportDocument {
    /// The file, as given.
    pub file: String,
    /// The zip entry, for a document in a zip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// Users in it.
    pub users: u64,
}

/// Users of one group in the export, by account type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GroupCount {
    /// External users.
    pub external: u64,
    /// Internal users.
    pub internal: u64,
}

/// What the export covered (Ex Libris does not document whether every population includes
/// internal users: section 10 asks the plan to say what it saw).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// The documents read, in order.
    pub documents: Vec<ExportDocument>,
    /// Files (or zip entries) in folders and zips that are neither XML nor zip: not read.
    pub skipped: Vec<String>,
    /// Distinct users (a primary id read twice counts once: the last record read is kept).
    pub users: u64,
    /// Records of a primary id read again later (the earlier ones are not used).
    pub repeated: u64,
    /// External users.
    pub external: u64,
    /// Internal users.
    pub internal: u64,
    /// External users of the profile's groups.
    pub in_groups: u64,
    /// Users without a value for the match id: a load can never match them.
    pub without_match_id: u64,
    /// Users per group code (`(none)` without one).
    pub groups: BTreeMap<String, GroupCount>,
}

/// Why Alma will reject a user of the load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// An identifier (or the primary id) is held by another Alma user.
    IdTaken {
        /// `primary_id` or the identifier's type code.
        id_type: String,
        /// That user's primary id.
        by: String,
    },
    /// Alma's user under the match id is internal.
    NotExternal {
        /// Its primary id.
        user: String,
    },
    /// Alma users that share the match id.
    SharedMatchId {
        /// Their primary ids, in export order.
        users: Vec<String>,
    },
    /// No Alma user has this match id; the same person's record under another one holds
    /// the user's identifiers.
    MatchIdChanged {
        /// That record's primary id.
        old: String,
        /// The identifier types it holds (`primary_id` included).
        holds: Vec<String>,
    },
}

impl Reason {
    /// The stable code ([`codes`]).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::IdTaken { .. } => codes::ID_TAKEN,
            Reason::NotExternal { .. } => codes::NOT_EXTERNAL,
            Reason::SharedMatchId { .. } => codes::SHARED_MATCH_ID,
            Reason::MatchIdChanged { .. } => codes::MATCH_ID_CHANGED,
        }
    }

    /// The Alma user the reason names (the first, for shared match ids).
    pub fn alma_user(&self) -> &str {
        match self {
            Reason::IdTaken { by, .. } => by,
            Reason::NotExternal { user } => user,
            Reason::SharedMatchId { users } => users.first().map_or("", String::as_str),
            Reason::MatchIdChanged { old, .. } => old,
        }
    }

    /// What happens and what to do, for people: ids and types, never values.
    pub fn message(&self, match_id: &MatchId) -> String {
        let on = match_id.describe();
        match self {
            Reason::IdTaken { id_type, by } => format!(
                "{} is held by Alma user {by}: Alma rejects this user (\"Identifier of type ... \
                 is already taken\"); free the value in Alma or correct the source",
                id_name(id_type)
            ),
            Reason::NotExternal { user } => format!(
                "Alma's user {user} (matched on {on}) is internal: Alma rejects the update \
                 (\"User is not external\"); make it external in Alma (the Update/Notify Users \
                 job) or give it another {on}"
            ),
            Reason::SharedMatchId { users } => format!(
                "Alma users {} share this {on}: Alma cannot tell which one to update; merge or \
                 correct them in Alma",
                users.join(", ")
            ),
            Reason::MatchIdChanged { old, holds } => format!(
                "no Alma user has this {on}, but Alma user {old} (the same person) holds its {}: \
                 the {on} changed, so Alma would add a new user and reject it (identifier \
                 already taken) or, with no identifier in common, create a duplicate; give \
                 {old} the new {on} in Alma before the load",
                holds
                    .iter()
                    .map(|t| id_name(t))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

fn id_name(id_type: &str) -> String {
    if id_type == "primary_id" {
        "the primary id".to_owned()
    } else {
        format!("identifier {id_type}")
    }
}

/// A user the load sends that Alma will reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Why.
    pub reason: Reason,
    /// [`Reason::message`].
    pub message: String,
}

/// What Alma will do with one user of the load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new user.
    New,
    /// The matched user is updated: the changes, in field order.
    Update(Vec<Change>),
    /// The matched user stays as it is.
    Unchanged,
    /// Alma rejects the user.
    WillFail(Failure),
}

impl Outcome {
    /// `new`, `update`, `unchanged` or `will_fail`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::New => "new",
            Outcome::Update(_) => "update",
            Outcome::Unchanged => "unchanged",
            Outcome::WillFail(_) => "will_fail",
        }
    }
}

/// The prediction for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// What Alma will do.
    pub outcome: Outcome,
    /// The primary id of Alma's user under the match id, when there is one.
    pub alma_user: Option<String>,
}

/// An Alma user no user of the load matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlmaUser {
    /// Its primary id.
    pub primary_id: String,
    /// Its value of the match id (the primary id when that is the match id), if it has one.
    pub match_value: Option<String>,
    /// Its user group code.
    pub user_group: Option<String>,
}

/// Alma's user(s) under a user's match id.
enum Matched {
    None,
    /// One, with its record when it was read already.
    One(u32, Option<Box<User>>),
    /// Several: the load cannot tell which.
    Several(Vec<(u32, User)>),
}

/// Alma's users as an export shows them, indexed for [`AlmaExport::compare`].
pub struct AlmaExport {
    match_id: MatchId,
    /// Values an update earlier in the load takes off their Alma user: (hash, owner).
    released: HashSet<(u64, u32)>,
    records: Records,
    index: ValueIndex,
    group_names: Vec<String>,
    coverage: Coverage,
    spill_dir: PathBuf,
}

impl std::fmt::Debug for AlmaExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlmaExport")
            .field("coverage", &self.coverage)
            .finish_non_exhaustive()
    }
}

/// Trimmed, case-insensitive equality: how Alma compares identifiers and primary ids
/// (section 3, "Identifiers are case-insensitive"), as the check's hashes take them.
pub fn same_id(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
    }
}

/// The primary id, then each identifier: (`primary_id` or the type code, value).
fn ids(user: &User) -> impl Iterator<Item = (&str, &str)> {
    std::iter::once(("primary_id", user.primary_id.as_str())).chain(
        user.user_identifiers
            .iter()
            .map(|i| (i.id_type.code.as_str(), i.value.as_str())),
    )
}

/// Whether `alma`, which holds identifiers of `user`, is the same person: the same last
/// name and the same first name or birth date. Compared here only, never reported.
fn same_person(user: &User, alma: &User) -> bool {
    let eq = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => !a.trim().is_empty() && same_id(a, b),
        _ => false,
    };
    let born = matches!((user.birth_date, alma.birth_date), (Some(a), Some(b)) if a == b);
    eq(&user.last_name, &alma.last_name) && (eq(&user.first_name, &alma.first_name) || born)
}

impl AlmaExport {
    /// Reads every path (a file, a zip or a folder of them) in order and indexes the users.
    pub fn read(paths: &[PathBuf], options: &ExportOptions) -> Result<AlmaExport, PlanError> {
        let mut builder = export::Builder::new(options);
        for path in paths {
            builder.read_path(path)?;
        }
        let export::Builder {
            mut records,
            mut index,
            group_names,
            mut coverage,
            ..
        } = builder;
        records.finish().map_err(|source| PlanError::Io {
            path: options.spill_dir.clone(),
            source,
        })?;
        index.finish(&mut records.flags);
        for (&flags, &group) in records.flags.iter().zip(&records.groups) {
            if flags & SUPERSEDED != 0 {
                coverage.repeated += 1;
                continue;
            }
            coverage.users += 1;
            let name = group_names
                .get(usize::from(group))
                .filter(|_| group != NO_GROUP)
                .map_or("(none)", String::as_str);
            let count = coverage.groups.entry(name.to_owned()).or_default();
            if flags & INTERNAL != 0 {
                coverage.internal += 1;
                count.internal += 1;
            } else {
                coverage.external += 1;
                count.external += 1;
                if flags & IN_GROUPS != 0 {
                    coverage.in_groups += 1;
                }
            }
            if flags & NO_MATCH_VALUE != 0 {
                coverage.without_match_id += 1;
            }
        }
        Ok(AlmaExport {
            match_id: options.match_id.clone(),
            released: HashSet::new(),
            records,
            index,
            group_names,
            coverage,
            spill_dir: options.spill_dir.clone(),
        })
    }

    /// What the export covered.
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    /// The match id the export was indexed for.
    pub fn match_id(&self) -> &MatchId {
        &self.match_id
    }

    /// Bytes the index holds in memory (the records stay on disk).
    pub fn heap_bytes(&self) -> usize {
        self.records.heap_bytes() + self.index.heap_bytes()
    }

    fn load(&mut self, ordinal: u32) -> Result<User, PlanError> {
        self.records.load(ordinal).map_err(|source| PlanError::Io {
            path: self.spill_dir.clone(),
            source,
        })
    }

    /// The current (not superseded) owners of `value`, each once, in ordinal order; with
    /// `match_only`, only those for whom it is the match id.
    fn owners(&self, value: &str, match_only: bool) -> Vec<u32> {
        let mut owners: Vec<u32> = self
            .index
            .find(id_key(value))
            .iter()
            .filter(|e| !match_only || e[2] & AS_MATCH != 0)
            .map(|e| e[2] & OWNER)
            .filter(|&o| self.records.flags[o as usize] & SUPERSEDED == 0)
            .collect();
        owners.sort_unstable();
        owners.dedup();
        owners
    }

    /// Alma's user(s) whose match id is `user`'s, marked as matched: one by the index alone
    /// (its record is read when the comparison needs it), several checked on their records.
    fn matched(&mut self, user: &User) -> Result<Matched, PlanError> {
        let Some(value) = self.match_id.value(user) else {
            return Ok(Matched::None);
        };
        let owners = self.owners(value, true);
        let found = match owners.as_slice() {
            [] => return Ok(Matched::None),
            [one] => Matched::One(*one, None),
            _ => {
                let mut users = Vec::new();
                for owner in owners {
                    let alma = self.load(owner)?;
                    if self
                        .match_id
                        .value(&alma)
                        .is_some_and(|v| same_id(v, value))
                    {
                        users.push((owner, alma));
                    }
                }
                match users.len() {
                    0 => return Ok(Matched::None),
                    1 => {
                        let (owner, alma) = users.remove(0);
                        Matched::One(owner, Some(Box::new(alma)))
                    }
                    _ => Matched::Several(users),
                }
            }
        };
        match &found {
            Matched::One(owner, _) => self.records.flags[*owner as usize] |= MATCHED,
            Matched::Several(users) => {
                for (owner, _) in users {
                    self.records.flags[*owner as usize] |= MATCHED;
                }
            }
            Matched::None => {}
        }
        Ok(found)
    }

    /// Marks the Alma user(s) `user` matches as matched without comparing: a user of the
    /// extract that the load holds back (quarantined) is not vanished.
    pub fn claim(&mut self, user: &User) -> Result<(), PlanError> {
        self.matched(user).map(drop)
    }

    /// What Alma will do when the load sends `user`; marks Alma's user as matched.
    pub fn compare(&mut self, user: &User) -> Result<Verdict, PlanError> {
        let (own, mut record) = match self.matched(user)? {
            Matched::Several(users) => {
                let users: Vec<String> = users.into_iter().map(|(_, u)| u.primary_id).collect();
                let alma_user = users.first().cloned();
                let reason = Reason::SharedMatchId { users };
                return Ok(self.fail(reason, alma_user));
            }
            Matched::One(owner, record) => (Some(owner), record),
            Matched::None => (None, None),
        };
        if let Some(owner) = own
            && self.records.flags[owner as usize] & INTERNAL != 0
        {
            let alma = match record {
                Some(alma) => *alma,
                None => self.load(owner)?,
            };
            let reason = Reason::NotExternal {
                user: alma.primary_id.clone(),
            };
            return Ok(self.fail(reason, Some(alma.primary_id)));
        }
        if let Some(reason) = self.conflict(user, own)? {
            let alma_user = match own {
                Some(owner) => Some(self.primary_id(owner)?),
                None => None,
            };
            return Ok(self.fail(reason, alma_user));
        }
        let Some(owner) = own else {
            return Ok(Verdict {
                outcome: Outcome::New,
                alma_user: None,
            });
        };
        // The same digest: nothing differs (and the primary id is written alike).
        let digest = (
            self.records.digests[owner as usize],
            self.records.masks[owner as usize],
        );
        if record.is_none() && sync::fingerprint(user, false) == digest {
            return Ok(Verdict {
                outcome: Outcome::Unchanged,
                alma_user: Some(user.primary_id.clone()),
            });
        }
        let alma = match record.take() {
            Some(alma) => *alma,
            None => self.load(owner)?,
        };
        let value = self.match_id.value(user).unwrap_or_default();
        if !self
            .match_id
            .value(&alma)
            .is_some_and(|v| same_id(v, value))
        {
            // Two values with one hash: no Alma user has this match id after all.
            self.records.flags[owner as usize] &= !MATCHED;
            return Ok(Verdict {
                outcome: Outcome::New,
                alma_user: None,
            });
        }
        let changes = synchronize(&alma, user);
        let outcome = if changes.is_empty() {
            Outcome::Unchanged
        } else {
            self.release(owner, &alma, user);
            Outcome::Update(changes)
        };
        Ok(Verdict {
            outcome,
            alma_user: Some(alma.primary_id),
        })
    }

    fn fail(&self, reason: Reason, alma_user: Option<String>) -> Verdict {
        Verdict {
            outcome: Outcome::WillFail(Failure {
                message: reason.message(&self.match_id),
                reason,
            }),
            alma_user,
        }
    }

    fn primary_id(&mut self, owner: u32) -> Result<String, PlanError> {
        self.records
            .primary_id(owner)
            .map_err(|source| PlanError::Io {
                path: self.spill_dir.clone(),
                source,
            })
    }

    /// The first other Alma user holding one of `user`'s values (a changed match id when
    /// `user` matches no one and that user is the same person), once earlier updates of
    /// the load have freed what they take off.
    fn conflict(&mut self, user: &User, own: Option<u32>) -> Result<Option<Reason>, PlanError> {
        let mut holders: Vec<(u32, Vec<String>)> = Vec::new();
        for (id_type, value) in ids(user) {
            if value.trim().is_empty() {
                continue;
            }
            let key = id_key(value);
            for owner in self.owners(value, false) {
                if Some(owner) == own || self.released.contains(&(key, owner)) {
                    continue;
                }
                match holders.iter_mut().find(|(o, _)| *o == owner) {
                    Some((_, types)) => types.push(id_type.to_owned()),
                    None => holders.push((owner, vec![id_type.to_owned()])),
                }
            }
        }
        let mut taken = None;
        for (owner, types) in holders {
            let alma = self.load(owner)?;
            // A hash shared by two values is no conflict: the record must hold the value.
            let held: Vec<String> = ids(user)
                .filter(|(t, v)| {
                    types.iter().any(|x| x == t) && ids(&alma).any(|(_, w)| same_id(v, w))
                })
                .map(|(t, _)| t.to_owned())
                .collect();
            let Some(first) = held.first() else {
                continue;
            };
            if own.is_none() && same_person(user, &alma) {
                return Ok(Some(Reason::MatchIdChanged {
                    old: alma.primary_id,
                    holds: held,
                }));
            }
            taken.get_or_insert(Reason::IdTaken {
                id_type: first.clone(),
                by: alma.primary_id,
            });
        }
        Ok(taken)
    }

    /// Remembers the values the update of `alma` to `user` takes off it: a later user of
    /// the load may take them. (The users of a load are applied in order, each against Alma
    /// as the ones before it left it; a value two users of one load send is the check's
    /// `E-ID-TAKEN-IN-FEED`.)
    fn release(&mut self, owner: u32, alma: &User, user: &User) {
        let kept = |value: &str| {
            // Internal segments are kept (section 5), and so is a primary id the load sends.
            same_id(&user.primary_id, value)
                || ids(user).any(|(_, v)| same_id(v, value))
                || alma
                    .user_identifiers
                    .iter()
                    .any(|i| sync::is_internal(&i.segment_type) && same_id(&i.value, value))
        };
        let gone = std::iter::once(alma.primary_id.as_str()).chain(
            alma.user_identifiers
                .iter()
                .filter(|i| !sync::is_internal(&i.segment_type))
                .map(|i| i.value.as_str()),
        );
        for value in gone {
            if !value.trim().is_empty() && !kept(value) {
                self.released.insert((id_key(value), owner));
            }
        }
    }

    /// The external Alma users of the profile's groups that no user given to
    /// [`compare`](Self::compare) or [`claim`](Self::claim) matched, in export order.
    pub fn unmatched(&mut self) -> impl Iterator<Item = Result<AlmaUser, PlanError>> + '_ {
        let mut next = 0usize;
        std::iter::from_fn(move || {
            while next < self.records.flags.len() {
                let ordinal = next;
                next += 1;
                let flags = self.records.flags[ordinal];
                if flags & (SUPERSEDED | MATCHED | INTERNAL) != 0 || flags & IN_GROUPS == 0 {
                    continue;
                }
                let group = self.records.groups[ordinal];
                let user_group = self
                    .group_names
                    .get(usize::from(group))
                    .filter(|_| group != NO_GROUP)
                    .cloned();
                let ordinal = u32::try_from(ordinal).unwrap_or(u32::MAX);
                let ids = match &self.match_id {
                    MatchId::PrimaryId => self
                        .records
                        .primary_id(ordinal)
                        .map(|id| (id.clone(), Some(id))),
                    other => self.records.load(ordinal).map(|user| {
                        let value = other.value(&user).map(str::to_owned);
                        (user.primary_id, value)
                    }),
                };
                let ids = ids.map_err(|source| PlanError::Io {
                    path: self.spill_dir.clone(),
                    source,
                });
                return Some(ids.map(|(primary_id, match_value)| AlmaUser {
                    primary_id,
                    match_value,
                    user_group,
                }));
            }
            None
        })
    }
}
