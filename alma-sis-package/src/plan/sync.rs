//! Alma's synchronize, applied offline: what a SIS load changes in a matched external user.
//!
//! Each rule comes from `../shared/spec/alma-user-xml.md` section 5 ("How SIS load treats
//! data"); the field lists are the check's ([`CORE_FIELDS`], [`PROTECTED_FIELDS`]), so the
//! swap-all warning of `check` and this prediction cannot disagree about which field is which.
//!
//! - Core fields: "the file replaces them. A value missing from the file clears the existing
//!   value." A core field the load leaves empty is [`ChangeKind::Cleared`].
//! - Protected ("sticky") fields "are not overwritten by SIS sync if they were updated
//!   manually in Alma, or if they are empty in the incoming record": an empty incoming value
//!   keeps Alma's; a filled one replaces it (unless staff edited the field in Alma, which an
//!   export does not show: the prediction then says "changed" and Alma keeps its value).
//! - Segments (identifiers, addresses, emails, phones, notes, blocks, statistics): "this
//!   list will replace the existing external \[segments\]. Internal \[segments\] will be kept."
//!   An external segment Alma has and the load does not send is [`ChangeKind::Removed`]
//!   (a note or address staff typed into an external segment disappears); one the load sends
//!   and Alma lacks is [`ChangeKind::Added`]. Segment order is not compared; "An empty or
//!   illegal value [of `segment_type`] on an external user counts as external" (section 3).
//! - An empty element is no value (the reader reads it as absent, `I-EMPTY-ELEMENT`): a core
//!   field sent empty is cleared, a protected one kept, and a segment list sent empty or left
//!   out loses its external segments ("a full record must be sent every time; an omitted list
//!   is likely to wipe the external segments", section 5, marked inferred there).
//! - Code-table values compare by code: the `desc` attribute is informational (section 3).
//! - Elements the SIS load does not take (`record_type`, `account_type`, `external_id`:
//!   section 2, "SIS?" = no) and output-only ones (`created_by`, `created_date` of notes and
//!   blocks, `category_type` of statistics) are not compared.

use std::borrow::Cow;

use alma_user_model::{CodeValue, LibraryNotice, User};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::check::{CORE_FIELDS, PROTECTED_FIELDS};

/// What a load does to one field or segment of a matched user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// An empty field gets a value.
    Set,
    /// A value is replaced by another.
    Changed,
    /// A core field the load leaves empty: Alma clears its value.
    Cleared,
    /// A segment the load sends that Alma's user lacks.
    Added,
    /// An external segment Alma's user has and the load does not send: swap-all removes it.
    Removed,
}

impl ChangeKind {
    /// The word used in labels and reports.
    pub fn word(self) -> &'static str {
        match self {
            ChangeKind::Set => "set",
            ChangeKind::Changed => "changed",
            ChangeKind::Cleared => "cleared",
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
        }
    }
}

/// One difference Alma will apply to a matched user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The field path: `last_name`, `contact_info/addresses/address/line1`,
    /// `user_notes/user_note` (a whole segment).
    pub field: String,
    /// What happens to it.
    pub kind: ChangeKind,
    /// The segment's type code (`home`, `BARCODE`, `CIRCULATION`, ...), for segments.
    pub segment_type: Option<String>,
    /// Alma's value now. Personal data: for debug logs only, never for reports.
    pub before: Option<String>,
    /// The value after the load. Personal data, as `before`.
    pub after: Option<String>,
}

impl Change {
    /// `field` for a value set or changed, `field (cleared|added|removed)` otherwise: the
    /// name reports count changes by. Carries no value.
    pub fn label(&self) -> String {
        match self.kind {
            ChangeKind::Set | ChangeKind::Changed => self.field.clone(),
            kind => format!("{} ({})", self.field, kind.word()),
        }
    }
}

/// The differences Alma applies when a load sends `incoming` for the matched user `alma`
/// (read from Alma's export), in field order: scalar fields as [`CORE_FIELDS`] and
/// [`PROTECTED_FIELDS`] list them, then the segments. Empty: Alma changes nothing.
///
/// `primary_id` is compared case-insensitively (section 2: "Case-insensitive"); it differs
/// only when the profile matches on another identifier.
pub fn synchronize(alma: &User, incoming: &User) -> Vec<Change> {
    let mut changes = Vec::new();
    if !super::same_id(&alma.primary_id, &incoming.primary_id) {
        changes.push(scalar_change(
            "primary_id",
            Some(Value::Text(&alma.primary_id)),
            Some(Value::Text(&incoming.primary_id)),
        ));
    }
    for field in CORE_FIELDS.iter().copied() {
        if let Some(section) = Section::of(field) {
            segments(section, alma, incoming, &mut changes);
            continue;
        }
        // Core: the file replaces the value; a value missing from the file clears it.
        let before = scalar(alma, field);
        let after = scalar(incoming, field);
        if before != after {
            changes.push(scalar_change(field, before, after));
        }
    }
    for field in PROTECTED_FIELDS.iter().copied() {
        // Protected: an empty incoming value keeps Alma's.
        let Some(after) = scalar(incoming, field) else {
            continue;
        };
        let before = scalar(alma, field);
        if before != Some(after) {
            changes.push(scalar_change(field, before, Some(after)));
        }
    }
    changes
}

/// A compared value, borrowed from the user (no copy unless a change is reported).
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Text(&'a str),
    Date(NaiveDate),
    Time(DateTime<Utc>),
    Flag(bool),
    /// A fixed word (a default Alma applies).
    Word(&'static str),
    /// Codes compared as a set.
    Codes(&'a [CodeValue]),
    /// Opt-ins compared as a set of (code, value).
    Notices(&'a [LibraryNotice]),
}

impl PartialEq for Value<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Codes(a), Value::Codes(b)) => {
                let has =
                    |list: &[CodeValue], code: &str| list.iter().any(|c| c.code.trim() == code);
                a.iter().all(|c| has(b, c.code.trim())) && b.iter().all(|c| has(a, c.code.trim()))
            }
            (Value::Notices(a), Value::Notices(b)) => {
                let has = |list: &[LibraryNotice], n: &LibraryNotice| {
                    list.iter().any(|m| same_notice(m, n))
                };
                a.iter().all(|n| has(b, n)) && b.iter().all(|n| has(a, n))
            }
            _ => self.text() == other.text(),
        }
    }
}

fn same_notice(a: &LibraryNotice, b: &LibraryNotice) -> bool {
    a.code.as_ref().map(|c| c.code.trim()) == b.code.as_ref().map(|c| c.code.trim())
        && a.value.unwrap_or(false) == b.value.unwrap_or(false)
}

impl Value<'_> {
    /// The value as text: borrowed for text and words, formatted otherwise.
    fn text(&self) -> Cow<'_, str> {
        match self {
            Value::Text(s) => Cow::Borrowed(s),
            Value::Word(s) => Cow::Borrowed(s),
            Value::Date(d) => Cow::Owned(alma_user_model::format_iso_date(*d)),
            Value::Time(t) => Cow::Owned(alma_user_model::format_date_time(*t)),
            Value::Flag(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::Codes(list) => {
                let mut codes: Vec<&str> = list.iter().map(|c| c.code.trim()).collect();
                codes.sort_unstable();
                codes.dedup();
                Cow::Owned(codes.join(","))
            }
            Value::Notices(list) => {
                let mut notices: Vec<String> = list
                    .iter()
                    .filter_map(|n| {
                        let code = n.code.as_ref()?.code.trim();
                        Some(format!("{code}={}", n.value.unwrap_or(false)))
                    })
                    .collect();
                notices.sort_unstable();
                Cow::Owned(notices.join(","))
            }
        }
    }
}

fn scalar_change(field: &str, before: Option<Value<'_>>, after: Option<Value<'_>>) -> Change {
    let kind = match (&before, &after) {
        (None, _) => ChangeKind::Set,
        (_, None) => ChangeKind::Cleared,
        _ => ChangeKind::Changed,
    };
    Change {
        field: field.to_owned(),
        kind,
        segment_type: None,
        before: before.map(|v| v.text().into_owned()),
        after: after.map(|v| v.text().into_owned()),
    }
}

/// Text with nothing but whitespace is no value (the reader reads an empty element as
/// absent; Alma stores no blank value).
fn text(s: &Option<String>) -> Option<Value<'_>> {
    s.as_deref().and_then(value)
}

/// A required text or code, as [`text`].
fn value(s: &str) -> Option<Value<'_>> {
    (!s.trim().is_empty()).then_some(Value::Text(s))
}

fn code(c: &Option<CodeValue>) -> Option<Value<'_>> {
    c.as_ref().and_then(|c| value(&c.code))
}

fn date(d: Option<NaiveDate>) -> Option<Value<'static>> {
    d.map(Value::Date)
}

/// Codes of a list, compared as a set; none (or only blank codes) is no value.
fn codes(list: &[CodeValue]) -> Option<Value<'_>> {
    list.iter()
        .any(|c| !c.code.trim().is_empty())
        .then_some(Value::Codes(list))
}

/// The value of a scalar field of [`CORE_FIELDS`] or [`PROTECTED_FIELDS`], normalized for
/// comparison.
fn scalar<'u>(user: &'u User, field: &str) -> Option<Value<'u>> {
    match field {
        "first_name" => text(&user.first_name),
        "middle_name" => text(&user.middle_name),
        "last_name" => text(&user.last_name),
        "job_description" => text(&user.job_description),
        "gender" => code(&user.gender),
        "web_site_url" => text(&user.web_site_url),
        "cataloger_level" => code(&user.cataloger_level),
        "birth_date" => date(user.birth_date),
        "expiry_date" => date(user.expiry_date),
        "purge_date" => date(user.purge_date),
        // Section 2: status "Default Active": a user without one is active.
        "status" => Some(Value::Word(
            user.status
                .unwrap_or(alma_user_model::UserStatus::Active)
                .code(),
        )),
        "pref_first_name" => text(&user.pref_first_name),
        "pref_middle_name" => text(&user.pref_middle_name),
        "pref_last_name" => text(&user.pref_last_name),
        "user_group" => code(&user.user_group),
        "job_category" => code(&user.job_category),
        "pin_number" => text(&user.pin_number),
        "preferred_language" => code(&user.preferred_language),
        "campus_code" => code(&user.campus_code),
        "rs_libraries" => codes(&user.rs_libraries),
        "user_title" => code(&user.user_title),
        "library_notices" => user
            .library_notices
            .iter()
            .any(|n| n.code.as_ref().is_some_and(|c| !c.code.trim().is_empty()))
            .then_some(Value::Notices(&user.library_notices)),
        _ => unreachable!("{field} is not a scalar field of the swap-all lists"),
    }
}

/// A 64-bit digest of everything [`synchronize`] compares, and a mask of the protected
/// fields filled: when Alma's user and an incoming one have the same mask and digest,
/// `synchronize` finds no difference, so a plan need not read Alma's record again. The
/// digest takes the primary id as it is written (any difference sends the comparison the
/// long way), every core field, the filled protected fields and each list of segments as
/// a multiset; Alma's internal segments are left out (`alma`), none of the incoming ones.
pub(crate) fn fingerprint(user: &User, alma: bool) -> (u64, u8) {
    use std::hash::{BuildHasher, Hasher};
    let state = foldhash::quality::FixedState::with_seed(0x706c_616e_2d73_796e);
    let mut h = state.build_hasher();
    hash_text(&mut h, user.primary_id.as_bytes());
    for field in CORE_FIELDS.iter().copied() {
        match Section::of(field) {
            Some(section) => {
                let (mut count, mut sum) = (0u64, 0u64);
                for segment in segments_of(section, user) {
                    if alma && segment.internal {
                        continue;
                    }
                    let mut sh = state.build_hasher();
                    for (name, value) in &segment.parts {
                        hash_text(&mut sh, name.as_bytes());
                        value.hash_into(&mut sh);
                    }
                    count += 1;
                    sum = sum.wrapping_add(sh.finish());
                }
                h.write_u64(count);
                h.write_u64(sum);
            }
            None => hash_option(&mut h, scalar(user, field)),
        }
    }
    let mut mask = 0u8;
    for (bit, field) in PROTECTED_FIELDS.iter().enumerate() {
        if let Some(value) = scalar(user, field) {
            mask |= 1 << bit;
            value.hash_into(&mut h);
        }
    }
    (h.finish(), mask)
}

fn hash_text(h: &mut impl std::hash::Hasher, bytes: &[u8]) {
    h.write_usize(bytes.len());
    h.write(bytes);
}

fn hash_option(h: &mut impl std::hash::Hasher, value: Option<Value<'_>>) {
    match value {
        None => h.write_u8(0),
        Some(v) => {
            h.write_u8(1);
            v.hash_into(h);
        }
    }
}

impl Value<'_> {
    /// Hashes the value so that equal values (as [`PartialEq`] has it) hash the same.
    fn hash_into(&self, h: &mut impl std::hash::Hasher) {
        use chrono::Datelike as _;
        match self {
            Value::Date(d) => {
                h.write_u8(2);
                h.write_i32(d.num_days_from_ce());
            }
            Value::Time(t) => {
                h.write_u8(3);
                h.write_i64(t.timestamp_millis());
            }
            Value::Codes(list) => {
                h.write_u8(4);
                let mut codes: Vec<&str> = list.iter().map(|c| c.code.trim()).collect();
                codes.sort_unstable();
                codes.dedup();
                for c in codes {
                    hash_text(h, c.as_bytes());
                }
            }
            Value::Notices(list) => {
                h.write_u8(5);
                let mut notices: Vec<(Option<&str>, bool)> = list
                    .iter()
                    .map(|n| {
                        (
                            n.code.as_ref().map(|c| c.code.trim()),
                            n.value.unwrap_or(false),
                        )
                    })
                    .collect();
                notices.sort_unstable();
                notices.dedup();
                for (code, value) in notices {
                    hash_text(h, code.unwrap_or("").as_bytes());
                    h.write_u8(u8::from(value));
                }
            }
            Value::Text(_) | Value::Word(_) | Value::Flag(_) => {
                h.write_u8(1);
                hash_text(h, self.text().as_bytes());
            }
        }
    }
}

/// A segment list of [`CORE_FIELDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Addresses,
    Emails,
    Phones,
    Identifiers,
    Notes,
    Blocks,
    Statistics,
}

impl Section {
    fn of(field: &str) -> Option<Section> {
        Some(match field {
            "contact_info/addresses" => Section::Addresses,
            "contact_info/emails" => Section::Emails,
            "contact_info/phones" => Section::Phones,
            "user_identifiers" => Section::Identifiers,
            "user_notes" => Section::Notes,
            "user_blocks" => Section::Blocks,
            "user_statistics" => Section::Statistics,
            _ => return None,
        })
    }

    /// The path of one segment of the list.
    fn item(self) -> &'static str {
        match self {
            Section::Addresses => "contact_info/addresses/address",
            Section::Emails => "contact_info/emails/email",
            Section::Phones => "contact_info/phones/phone",
            Section::Identifiers => "user_identifiers/user_identifier",
            Section::Notes => "user_notes/user_note",
            Section::Blocks => "user_blocks/user_block",
            Section::Statistics => "user_statistics/user_statistic",
        }
    }
}

/// One segment, normalized: whether it is internal, its type, and its compared parts as
/// (child name, value) in schema order.
#[derive(Debug, PartialEq)]
struct Segment<'a> {
    internal: bool,
    kind: Option<Value<'a>>,
    parts: Vec<(&'static str, Value<'a>)>,
}

impl Segment<'_> {
    fn type_code(&self) -> Option<String> {
        self.kind
            .map(|k| k.text().into_owned())
            .filter(|t| !t.is_empty())
    }

    fn summary(&self) -> String {
        self.parts
            .iter()
            .map(|(k, v)| format!("{k}={}", v.text()))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Whether a segment is internal ("Internal"; empty or anything else counts as external).
pub(crate) fn is_internal(segment_type: &Option<String>) -> bool {
    segment_type
        .as_deref()
        .is_some_and(|s| s.trim().eq_ignore_ascii_case("internal"))
}

/// Pushes `(name, value)` when the value is not empty.
fn part<'a>(parts: &mut Vec<(&'static str, Value<'a>)>, name: &'static str, v: Option<Value<'a>>) {
    if let Some(v) = v {
        parts.push((name, v));
    }
}

/// An upper-case status word Alma shows, `default` when there is none.
fn status<'a>(s: &'a Option<String>, default: &'static str) -> Value<'a> {
    match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Value::Word(default),
        Some(s) if s.eq_ignore_ascii_case(default) => Value::Word(default),
        Some(s) => Value::Text(s),
    }
}

fn segments_of(section: Section, user: &User) -> Vec<Segment<'_>> {
    let c = &user.contact_info;
    match section {
        Section::Addresses => c
            .addresses
            .iter()
            .map(|a| {
                let mut p = Vec::with_capacity(10);
                p.push(("preferred", Value::Flag(a.preferred)));
                part(&mut p, "line1", text(&a.line1));
                part(&mut p, "line2", text(&a.line2));
                part(&mut p, "line3", text(&a.line3));
                part(&mut p, "line4", text(&a.line4));
                part(&mut p, "line5", text(&a.line5));
                part(&mut p, "city", text(&a.city));
                part(&mut p, "state_province", text(&a.state_province));
                part(&mut p, "postal_code", text(&a.postal_code));
                part(&mut p, "country", code(&a.country));
                part(&mut p, "address_note", text(&a.address_note));
                part(&mut p, "start_date", date(a.start_date));
                part(&mut p, "end_date", date(a.end_date));
                let types = codes(&a.address_types);
                part(&mut p, "address_types", types);
                Segment {
                    internal: is_internal(&a.segment_type),
                    kind: types,
                    parts: p,
                }
            })
            .collect(),
        Section::Emails => c
            .emails
            .iter()
            .map(|e| {
                let mut p = Vec::with_capacity(4);
                p.push(("preferred", Value::Flag(e.preferred)));
                part(&mut p, "email_address", value(&e.email_address));
                part(&mut p, "description", text(&e.description));
                let types = codes(&e.email_types);
                part(&mut p, "email_types", types);
                Segment {
                    internal: is_internal(&e.segment_type),
                    kind: types,
                    parts: p,
                }
            })
            .collect(),
        Section::Phones => c
            .phones
            .iter()
            .map(|ph| {
                let mut p = Vec::with_capacity(4);
                p.push(("preferred", Value::Flag(ph.preferred)));
                p.push(("preferred_sms", Value::Flag(ph.preferred_sms)));
                part(&mut p, "phone_number", value(&ph.phone_number));
                let types = codes(&ph.phone_types);
                part(&mut p, "phone_types", types);
                Segment {
                    internal: is_internal(&ph.segment_type),
                    kind: types,
                    parts: p,
                }
            })
            .collect(),
        Section::Identifiers => user
            .user_identifiers
            .iter()
            .map(|i| {
                let mut p = Vec::with_capacity(4);
                let kind = value(&i.id_type.code);
                part(&mut p, "id_type", kind);
                part(&mut p, "value", value(&i.value));
                part(&mut p, "note", text(&i.note));
                // Alma lists an identifier it made without a status as ACTIVE.
                p.push(("status", status(&i.status, "ACTIVE")));
                Segment {
                    internal: is_internal(&i.segment_type),
                    kind,
                    parts: p,
                }
            })
            .collect(),
        Section::Notes => user
            .user_notes
            .iter()
            .map(|n| {
                let mut p = Vec::with_capacity(4);
                let kind = value(&n.note_type.code);
                part(&mut p, "note_type", kind);
                part(&mut p, "note_text", text(&n.note_text));
                p.push(("user_viewable", Value::Flag(n.user_viewable)));
                p.push(("popup_note", Value::Flag(n.popup_note)));
                Segment {
                    internal: is_internal(&n.segment_type),
                    kind,
                    parts: p,
                }
            })
            .collect(),
        Section::Blocks => user
            .user_blocks
            .iter()
            .map(|b| {
                let mut p = Vec::with_capacity(5);
                // Section 3: block_type "default GENERAL", block_status "default Active".
                p.push((
                    "block_type",
                    code(&b.block_type).unwrap_or(Value::Word("GENERAL")),
                ));
                let kind = value(&b.block_description.code);
                part(&mut p, "block_description", kind);
                p.push(("block_status", status(&b.block_status, "ACTIVE")));
                part(&mut p, "block_note", text(&b.block_note));
                part(&mut p, "expiry_date", b.expiry_date.map(Value::Time));
                Segment {
                    internal: is_internal(&b.segment_type),
                    kind,
                    parts: p,
                }
            })
            .collect(),
        Section::Statistics => user
            .user_statistics
            .iter()
            .map(|s| {
                let mut p = Vec::with_capacity(2);
                let kind = value(&s.statistic_category.code);
                part(&mut p, "statistic_category", kind);
                part(&mut p, "statistic_note", text(&s.statistic_note));
                Segment {
                    internal: is_internal(&s.segment_type),
                    kind,
                    parts: p,
                }
            })
            .collect(),
    }
}

/// Swap-all for one list: Alma's external segments are replaced by the incoming ones,
/// its internal segments are kept (so never compared).
fn segments(section: Section, alma: &User, incoming: &User, changes: &mut Vec<Change>) {
    let mut before: Vec<Segment<'_>> = segments_of(section, alma);
    before.retain(|s| !s.internal);
    // Section 5: "New user: all segments are created as External": an incoming segment's
    // own segment_type is not what Alma stores.
    let mut after: Vec<Segment<'_>> = segments_of(section, incoming);
    if before.is_empty() && after.is_empty() {
        return;
    }
    // Equal segments, whatever their order, are no change.
    after.retain(|a| match before.iter().position(|b| b.parts == a.parts) {
        Some(i) => {
            before.remove(i);
            false
        }
        None => true,
    });
    // A removed and an added segment of the same type are one segment changed, part by part;
    // then the rest in order.
    let mut pairs: Vec<(Segment<'_>, Segment<'_>)> = Vec::new();
    let mut i = 0;
    while i < after.len() {
        match before.iter().position(|b| b.kind == after[i].kind) {
            Some(j) => pairs.push((before.remove(j), after.remove(i))),
            None => i += 1,
        }
    }
    while !before.is_empty() && !after.is_empty() {
        pairs.push((before.remove(0), after.remove(0)));
    }
    let item = section.item();
    for (b, a) in pairs {
        parts_changed(item, &b, &a, changes);
    }
    for b in before {
        changes.push(Change {
            field: item.to_owned(),
            kind: ChangeKind::Removed,
            segment_type: b.type_code(),
            before: Some(b.summary()),
            after: None,
        });
    }
    for a in after {
        changes.push(Change {
            field: item.to_owned(),
            kind: ChangeKind::Added,
            segment_type: a.type_code(),
            before: None,
            after: Some(a.summary()),
        });
    }
}

/// The parts of one segment that differ between Alma's and the incoming one.
fn parts_changed(item: &str, before: &Segment<'_>, after: &Segment<'_>, changes: &mut Vec<Change>) {
    fn find<'a>(s: &Segment<'a>, name: &str) -> Option<Value<'a>> {
        s.parts.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
    let names = before.parts.iter().map(|(k, _)| *k).chain(
        after
            .parts
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| !before.parts.iter().any(|(b, _)| b == k)),
    );
    for name in names {
        let (b, a) = (find(before, name), find(after, name));
        if b != a {
            let mut change = scalar_change(&format!("{item}/{name}"), b, a);
            change.segment_type = after.type_code();
            changes.push(change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alma_user_model::{Address, Email, UserNote};

    fn labels(changes: &[Change]) -> Vec<String> {
        changes.iter().map(Change::label).collect()
    }

    fn base() -> User {
        User::new("jdoe")
            .with_name("Jane", "Doe")
            .with_user_group("UGRD")
            .with_address(Address::home("1 Main St", "Springfield", "62701"))
            .with_email(Email::new("jdoe@example.edu", "school"))
            .with_identifier("BARCODE", "123")
    }

    #[test]
    fn the_same_user_is_unchanged_whatever_the_segment_order_and_descriptions() {
        let mut alma = base().with_email(Email::new("jd@example.org", "personal"));
        let mut incoming = alma.clone();
        incoming.contact_info.emails.reverse();
        alma.user_group = Some(CodeValue::with_desc("UGRD", "Undergraduate"));
        alma.primary_id = "JDOE".into();
        assert!(synchronize(&alma, &incoming).is_empty());
    }

    #[test]
    fn a_core_field_left_empty_is_cleared_a_protected_one_kept() {
        let alma = base();
        let mut incoming = alma.clone();
        incoming.first_name = None;
        incoming.user_group = None;
        assert_eq!(
            labels(&synchronize(&alma, &incoming)),
            ["first_name (cleared)"]
        );
        incoming.user_group = Some("GRAD".into());
        assert_eq!(
            labels(&synchronize(&alma, &incoming)),
            ["first_name (cleared)", "user_group"]
        );
    }

    #[test]
    fn internal_segments_are_kept_external_ones_swapped() {
        let mut alma = base();
        let mut staff_note = UserNote::new("CIRCULATION", "typed in by staff");
        staff_note.segment_type = None;
        alma.user_notes.push(staff_note);
        let mut internal_note = UserNote::new("LIBRARY", "kept");
        internal_note.segment_type = Some("Internal".into());
        alma.user_notes.push(internal_note);
        let incoming = base();
        let changes = synchronize(&alma, &incoming);
        assert_eq!(labels(&changes), ["user_notes/user_note (removed)"]);
        assert_eq!(changes[0].segment_type.as_deref(), Some("CIRCULATION"));
    }

    #[test]
    fn a_changed_segment_names_its_parts() {
        let alma = base();
        let mut incoming = alma.clone();
        incoming.contact_info.addresses[0].line1 = Some("2 Main St".into());
        incoming.user_identifiers[0].value = "456".into();
        assert_eq!(
            labels(&synchronize(&alma, &incoming)),
            [
                "contact_info/addresses/address/line1",
                "user_identifiers/user_identifier/value"
            ]
        );
    }

    #[test]
    fn equal_fingerprints_mean_no_difference() {
        let alma = base().with_email(Email::new("jd@example.org", "personal"));
        let mut incoming = alma.clone();
        incoming.contact_info.emails.reverse();
        assert_eq!(fingerprint(&alma, true), fingerprint(&incoming, false));
        let mut internal = alma.clone();
        let mut note = UserNote::new("LIBRARY", "kept");
        note.segment_type = Some("Internal".into());
        internal.user_notes.push(note);
        assert_eq!(fingerprint(&internal, true), fingerprint(&incoming, false));
        incoming.last_name = Some("Other".into());
        assert_ne!(fingerprint(&alma, true), fingerprint(&incoming, false));
    }

    #[test]
    fn every_scalar_field_of_the_swap_all_lists_is_compared() {
        let user = User::new("x");
        for field in CORE_FIELDS.iter().chain(PROTECTED_FIELDS) {
            if Section::of(field).is_none() {
                // Panics (unreachable) for a field the lists name and this module does not.
                let _ = scalar(&user, field);
            }
        }
    }
}
