//! Swap-all: with the integration profile's "swap all" on, a matched user's core fields and
//! external segments are replaced by what the file sends, so a field the feed leaves empty
//! clears the value Alma has; protected ("sticky") fields are kept when the file sends them
//! empty (spec section 5). Offline, "the value Alma has" is what the previous feed sent:
//! [`PreviousFeed`] remembers, per match ID, which core fields it filled (a 64-bit hash and
//! a 32-bit mask per user, nothing else).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::hash::DefaultHasher;

use alma_user_model::{Finding, Severity, User};

use std::io::{BufReader, Read};
use std::path::Path;

use alma_user_model::{MatchId, UserReader};

use super::{CheckError, codes, feed::id_key, zipread};

/// Fields the file replaces (cleared when sent empty), in mask-bit order.
pub const CORE_FIELDS: &[&str] = &[
    "first_name",
    "middle_name",
    "last_name",
    "job_description",
    "gender",
    "web_site_url",
    "cataloger_level",
    "birth_date",
    "expiry_date",
    "purge_date",
    "status",
    "pref_first_name",
    "pref_middle_name",
    "pref_last_name",
    "contact_info/addresses",
    "contact_info/emails",
    "contact_info/phones",
    "user_identifiers",
    "user_notes",
    "user_blocks",
    "user_statistics",
];

/// Fields Alma keeps when the file sends them empty (or when staff edited them).
pub const PROTECTED_FIELDS: &[&str] = &[
    "user_group",
    "job_category",
    "pin_number",
    "preferred_language",
    "campus_code",
    "rs_libraries",
    "user_title",
    "library_notices",
];

fn filled(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.trim().is_empty())
}

/// The mask of core fields `user` fills, bit i for `CORE_FIELDS[i]`.
fn mask(user: &User) -> u32 {
    let c = &user.contact_info;
    let bits = [
        filled(&user.first_name),
        filled(&user.middle_name),
        filled(&user.last_name),
        filled(&user.job_description),
        user.gender.as_ref().is_some_and(|g| !g.code.is_empty()),
        filled(&user.web_site_url),
        user.cataloger_level
            .as_ref()
            .is_some_and(|g| !g.code.is_empty()),
        user.birth_date.is_some(),
        user.expiry_date.is_some(),
        user.purge_date.is_some(),
        user.status.is_some(),
        filled(&user.pref_first_name),
        filled(&user.pref_middle_name),
        filled(&user.pref_last_name),
        !c.addresses.is_empty(),
        !c.emails.is_empty(),
        !c.phones.is_empty(),
        !user.user_identifiers.is_empty(),
        !user.user_notes.is_empty(),
        !user.user_blocks.is_empty(),
        !user.user_statistics.is_empty(),
    ];
    bits.iter()
        .enumerate()
        .fold(0, |m, (i, &b)| if b { m | 1 << i } else { m })
}

/// What the previous feed filled, per match ID.
#[derive(Debug, Clone, Default)]
pub struct PreviousFeed {
    masks: HashMap<u64, u32, BuildHasherDefault<DefaultHasher>>,
}

impl PreviousFeed {
    /// Remembers the users of the previous feed.
    pub fn from_users<'u>(users: impl IntoIterator<Item = &'u User>, match_id: &MatchId) -> Self {
        let mut feed = PreviousFeed::default();
        for user in users {
            feed.remember(user, match_id);
        }
        feed
    }

    /// Reads the previous feed from a `.zip` (its `.xml` entries) or an `.xml` file.
    pub fn read_path(path: &Path, match_id: &MatchId) -> Result<Self, CheckError> {
        let unreadable = |message: String| CheckError::Unreadable {
            path: path.to_owned(),
            message,
        };
        let mut feed = PreviousFeed::default();
        let mut remember = |input: &mut dyn Read| -> Result<(), CheckError> {
            for read in UserReader::new(BufReader::new(input)) {
                let read = read.map_err(|e| unreadable(e.to_string()))?;
                feed.remember(&read.user, match_id);
            }
            Ok(())
        };
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
        {
            zipread::read_xml_entries(path, |_, entry| remember(entry), unreadable)?;
        } else {
            let file = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
            remember(&mut BufReader::new(file))?;
        }
        Ok(feed)
    }

    /// Remembers one user of the previous feed.
    pub fn remember(&mut self, user: &User, match_id: &MatchId) {
        if let Some(key) = match_id.value(user) {
            self.masks.insert(id_key(key), mask(user));
        }
    }

    /// Users remembered.
    pub fn len(&self) -> usize {
        self.masks.len()
    }

    /// True when no user is remembered.
    pub fn is_empty(&self) -> bool {
        self.masks.is_empty()
    }

    /// `W-BLANKS-FIELD` for every core field the previous feed filled and `user` leaves
    /// empty.
    pub fn blanked(&self, user: &User, match_id: &MatchId) -> Vec<Finding> {
        let Some(before) = match_id
            .value(user)
            .and_then(|k| self.masks.get(&id_key(k)))
        else {
            return Vec::new();
        };
        let lost = before & !mask(user);
        CORE_FIELDS
            .iter()
            .enumerate()
            .filter(|(i, _)| lost & (1 << i) != 0)
            .map(|(_, field)| {
                Finding::new(
                    codes::BLANKS_FIELD,
                    Severity::Warning,
                    format!(
                        "{field} was sent before and is empty now; with swap-all, Alma clears \
                         the value it has: send the value, or accept that it is removed"
                    ),
                )
                .at_field(*field)
            })
            .collect()
    }
}
