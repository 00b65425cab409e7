//! Buffers the clean-user path takes its strings and lists from, and that a user done with
//! gives back: a worker reading a million users then allocates and frees next to nothing
//! (about 60 strings and 10 lists a user otherwise, a fifth of `check`'s time with the
//! growth of the lists and the drop of the user).
//!
//! What a user is read into never depends on what the buffers held before: a string is
//! cleared before it is filled, a list emptied before it is pushed to. Only capacities carry
//! over, and they are capped, so a user with huge values does not keep its memory held.

use super::SegmentAt;
use crate::model::{
    Address, CodeValue, ContactInfo, Email, LibraryNotice, Phone, User, UserBlock, UserIdentifier,
    UserNote, UserStatistic,
};

/// Most strings kept; the rest are freed.
const MAX_STRINGS: usize = 1024;
/// Largest string kept, in bytes of capacity.
const MAX_STRING: usize = 1024;
/// Most lists kept of each kind.
const MAX_LISTS: usize = 64;
/// Largest list kept, in entries of capacity.
const MAX_LIST: usize = 64;

/// Spare strings and lists for [`read_clean_reusing`](super::read_clean_reusing); see the
/// module docs. Give a user back with [`Spare::recycle`] once done with it.
#[derive(Debug, Default)]
pub struct Spare {
    strings: Vec<String>,
    addresses: Vec<Vec<Address>>,
    emails: Vec<Vec<Email>>,
    phones: Vec<Vec<Phone>>,
    identifiers: Vec<Vec<UserIdentifier>>,
    blocks: Vec<Vec<UserBlock>>,
    notes: Vec<Vec<UserNote>>,
    statistics: Vec<Vec<UserStatistic>>,
    codes: Vec<Vec<CodeValue>>,
    notices: Vec<Vec<LibraryNotice>>,
    /// The list of where a user's segments start.
    segments: Vec<SegmentAt>,
}

impl Spare {
    /// `text` in a spare string (a new one when none is left).
    #[inline]
    pub(super) fn string(&mut self, text: &str) -> String {
        match self.strings.pop() {
            Some(mut s) => {
                s.push_str(text);
                s
            }
            None => text.to_owned(),
        }
    }

    /// An empty list of `T`, a spare one when there is one.
    #[inline]
    pub(super) fn list<T: Listed>(&mut self) -> Vec<T> {
        T::lists(self).pop().unwrap_or_default()
    }

    /// An empty list for where a user's segments start.
    pub(super) fn segments(&mut self) -> Vec<SegmentAt> {
        let mut segments = std::mem::take(&mut self.segments);
        segments.clear();
        if segments.capacity() == 0 {
            segments.reserve(16);
        }
        segments
    }

    /// Takes back a list of where a user's segments start ([`ReadUser::segments`]).
    ///
    /// [`ReadUser::segments`]: crate::ReadUser::segments
    pub fn recycle_segments(&mut self, segments: Vec<SegmentAt>) {
        if segments.capacity() <= MAX_LIST * 4 {
            self.segments = segments;
        }
    }

    /// Takes back every string and list of `user`.
    pub fn recycle(&mut self, user: User) {
        user.give_back(self);
    }

    fn keep_string(&mut self, mut s: String) {
        if s.capacity() > 0 && s.capacity() <= MAX_STRING && self.strings.len() < MAX_STRINGS {
            s.clear();
            self.strings.push(s);
        }
    }

    fn keep_list<T: Listed>(&mut self, mut list: Vec<T>) {
        for item in list.drain(..) {
            item.give_back(self);
        }
        let lists = T::lists(self);
        if list.capacity() > 0 && list.capacity() <= MAX_LIST && lists.len() < MAX_LISTS {
            lists.push(list);
        }
    }
}

/// What gives its strings and lists back to a [`Spare`].
pub(super) trait GiveBack {
    fn give_back(self, spare: &mut Spare);
}

/// An entry of a list a [`Spare`] keeps.
pub(super) trait Listed: GiveBack + Sized {
    fn lists(spare: &mut Spare) -> &mut Vec<Vec<Self>>;
}

impl GiveBack for String {
    fn give_back(self, spare: &mut Spare) {
        spare.keep_string(self);
    }
}

impl<T: GiveBack> GiveBack for Option<T> {
    fn give_back(self, spare: &mut Spare) {
        if let Some(value) = self {
            value.give_back(spare);
        }
    }
}

impl<T: Listed> GiveBack for Vec<T> {
    fn give_back(self, spare: &mut Spare) {
        spare.keep_list(self);
    }
}

impl GiveBack for CodeValue {
    fn give_back(self, spare: &mut Spare) {
        let CodeValue { code, desc } = self;
        code.give_back(spare);
        desc.give_back(spare);
    }
}

/// `GiveBack` for a struct: every field named (so a new field does not compile until it is
/// given back or said to hold nothing), the ones holding nothing after `;`.
macro_rules! give_back {
    ($type:ident { $($field:ident),* ; $($plain:ident),* }) => {
        impl GiveBack for $type {
            fn give_back(self, spare: &mut Spare) {
                let $type { $($field,)* $($plain: _,)* } = self;
                $($field.give_back(spare);)*
            }
        }
    };
}

/// `Listed` for the entries of a list, kept in `Spare::$lists`.
macro_rules! listed {
    ($($type:ident => $lists:ident),* $(,)?) => {
        $(impl Listed for $type {
            fn lists(spare: &mut Spare) -> &mut Vec<Vec<Self>> {
                &mut spare.$lists
            }
        })*
    };
}

listed!(
    Address => addresses,
    Email => emails,
    Phone => phones,
    UserIdentifier => identifiers,
    UserBlock => blocks,
    UserNote => notes,
    UserStatistic => statistics,
    CodeValue => codes,
    LibraryNotice => notices,
);

give_back!(User {
    primary_id, first_name, middle_name, last_name, pin_number, user_title, job_category,
    job_description, gender, user_group, campus_code, web_site_url, cataloger_level,
    preferred_language, external_id, contact_info, user_identifiers, user_blocks, user_notes,
    user_statistics, rs_libraries, library_notices, pref_first_name, pref_middle_name,
    pref_last_name, pref_name_suffix;
    record_type, birth_date, expiry_date, purge_date, account_type, status
});
give_back!(ContactInfo { addresses, emails, phones; });
give_back!(Address {
    segment_type, line1, line2, line3, line4, line5, city, state_province, postal_code,
    country, address_note, address_types;
    preferred, start_date, end_date
});
give_back!(Email { segment_type, email_address, description, email_types; preferred });
give_back!(Phone { segment_type, phone_number, phone_types; preferred, preferred_sms });
give_back!(UserIdentifier { segment_type, id_type, value, note, status; });
give_back!(UserNote {
    segment_type, note_type, note_text, created_by;
    user_viewable, popup_note, created_date
});
give_back!(UserBlock {
    segment_type, block_type, block_description, block_status, block_note, created_by,
    item_loan_id;
    created_date, expiry_date
});
give_back!(UserStatistic { segment_type, statistic_category, category_type, statistic_note; });
give_back!(LibraryNotice { code; value });
