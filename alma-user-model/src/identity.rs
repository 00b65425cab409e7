//! How Alma tells users apart: the match ID its integration profile matches an incoming user
//! on ([`MatchId`]), and how two id values compare ([`match_key`]: ignoring case and
//! surrounding blanks, as Alma's "Identifier ... is already taken" and its matching do).
//!
//! Every part of alma-sis that asks "is this the same person?" asks it here: record
//! validation (an identifier equal to another of the same user), `check` (match IDs and
//! identifiers taken in a feed), the swap-all warning, the plan against Alma's export, and
//! the run state, which keys what it sent by the match key.

use std::borrow::Cow;

use crate::User;

/// Which value Alma's integration profile matches incoming users on ("Match by" in the
/// *Users* integration profile).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum MatchId {
    /// `primary_id` (the default).
    #[default]
    PrimaryId,
    /// The value of the first identifier of this `id_type` (for example `UNIV_ID`).
    Identifier(String),
}

impl MatchId {
    /// `primary_id`, or an identifier type.
    pub fn parse(s: &str) -> MatchId {
        if s == "primary_id" {
            MatchId::PrimaryId
        } else {
            MatchId::Identifier(s.to_owned())
        }
    }

    /// `primary_id`, or the identifier type: what [`MatchId::parse`] reads back.
    pub fn as_str(&self) -> &str {
        match self {
            MatchId::PrimaryId => "primary_id",
            MatchId::Identifier(t) => t,
        }
    }

    /// For messages: `primary_id` or `identifier type UNIV_ID`.
    pub fn describe(&self) -> String {
        match self {
            MatchId::PrimaryId => "primary_id".into(),
            MatchId::Identifier(t) => format!("identifier type {t}"),
        }
    }

    /// The user's match value and where it is: `None` for the primary id, else the index of
    /// the identifier. `None` when the user has no non-blank value to match on.
    pub fn locate<'u>(&self, user: &'u User) -> Option<(&'u str, Option<usize>)> {
        match self {
            MatchId::PrimaryId => Some((user.primary_id.as_str(), None)),
            MatchId::Identifier(t) => user
                .user_identifiers
                .iter()
                .position(|i| i.id_type.code == *t)
                .map(|n| (user.user_identifiers[n].value.as_str(), Some(n))),
        }
        .filter(|(v, _)| !v.trim().is_empty())
    }

    /// The user's match value, if it has a non-blank one.
    pub fn value<'u>(&self, user: &'u User) -> Option<&'u str> {
        self.locate(user).map(|(value, _)| value)
    }

    /// The user's match key ([`match_key`] of its match value), if it has a match value.
    pub fn key<'u>(&self, user: &'u User) -> Option<Cow<'u, str>> {
        self.value(user).map(match_key)
    }
}

/// The form in which Alma compares id values: without surrounding blanks, lower-cased.
/// Two values are the same id for Alma when their match keys are equal. Borrows when the
/// value already is in that form (nearly always).
pub fn match_key(value: &str) -> Cow<'_, str> {
    let trimmed = value.trim();
    if trimmed
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        Cow::Borrowed(trimmed)
    } else {
        Cow::Owned(trimmed.to_lowercase())
    }
}

/// Calls `f` with the bytes of [`match_key`]`(value)`, without an allocation for short
/// values (for hashing millions of ids).
pub fn with_match_key<R>(value: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    let trimmed = value.trim();
    let mut short = [0u8; 64];
    if trimmed.len() <= short.len() && trimmed.is_ascii() {
        let lower = &mut short[..trimmed.len()];
        lower.copy_from_slice(trimmed.as_bytes());
        lower.make_ascii_lowercase();
        f(lower)
    } else {
        f(match_key(trimmed).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_compare_ignoring_case_and_surrounding_blanks() {
        for (a, b) in [("JDoe", "jdoe"), (" jdoe ", "JDOE"), ("ÉLÈVE", "élève")] {
            assert_eq!(match_key(a), match_key(b), "{a:?} vs {b:?}");
            with_match_key(a, |k| assert_eq!(k, match_key(b).as_bytes()));
        }
        assert_ne!(match_key("jdoe1"), match_key("jdoe"));
        assert!(matches!(match_key("jdoe"), Cow::Borrowed("jdoe")));
    }

    #[test]
    fn the_match_value_is_the_first_identifier_of_the_type_and_never_blank() {
        let user = User::new("jdoe")
            .with_identifier("BARCODE", "B1")
            .with_identifier("UNIV_ID", "U1")
            .with_identifier("UNIV_ID", "U2");
        let univ = MatchId::parse("UNIV_ID");
        assert_eq!(univ.locate(&user), Some(("U1", Some(1))));
        assert_eq!(univ.key(&user).as_deref(), Some("u1"));
        assert_eq!(MatchId::parse("primary_id").value(&user), Some("jdoe"));
        assert_eq!(MatchId::parse("OTHER").value(&user), None);
        let blank = User::new("jdoe").with_identifier("UNIV_ID", "  ");
        assert_eq!(univ.value(&blank), None);
        assert_eq!(univ.as_str(), "UNIV_ID");
    }
}
