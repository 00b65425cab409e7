//! The user and its segments built from the schema's elements, by [`UserReader`].

use std::io::BufRead;

use super::{ReadError, ReadUser, SegmentAt, UserReader};
use crate::chars::same_bytes;
use crate::finding::Severity;
use crate::model::{
    AccountType, Address, CodeValue, Email, LibraryNotice, Phone, RecordType, User, UserBlock,
    UserIdentifier, UserNote, UserStatistic, UserStatus,
};
use crate::schema::{self, Child};

impl<R: BufRead> UserReader<R> {
    // ---- the user ---------------------------------------------------------------------------

    pub(super) fn user(&mut self) -> Result<ReadUser, ReadError> {
        let position = self.pos;
        let start_offset = self.offset;
        // Anything found outside a user (an entity in the root's attributes) is the document's.
        self.document_findings.append(&mut self.findings);
        self.segments.clear();
        self.path.clear();
        self.check_attrs(&["link"]);
        let mut user = User::default();
        let mut seen = [false; USER_CHILDREN.len()];
        let mut last = 0usize;
        let mut order_reported = false;
        let mut closed = self.empty;
        while self.next_child(&mut closed)? {
            let Some(index) = child_index(USER_CHILDREN, &self.name) else {
                if self.name == "pref_full_name" {
                    self.skipped_element()?;
                } else {
                    self.unknown_element("user")?;
                }
                continue;
            };
            let name = USER_CHILDREN[index].name;
            let pos = self.pos;
            self.path.clear();
            self.path.push_str(name);
            if seen[index] {
                self.report(
                    "E-DUPLICATE-ELEMENT",
                    Severity::Error,
                    pos,
                    format!("<{name}> occurs more than once; the first one is kept"),
                );
                self.skip()?;
                self.path.clear();
                continue;
            }
            seen[index] = true;
            if index < last && !order_reported {
                order_reported = true;
                let after = USER_CHILDREN[last].name;
                self.report(
                    "I-ORDER",
                    Severity::Info,
                    pos,
                    format!(
                        "<{name}> comes after <{after}>; valid (xs:all), but not the schema's \
                         declaration order"
                    ),
                );
            }
            last = last.max(index);
            self.user_child(index, &mut user)?;
            self.path.clear();
        }
        let primary_id = user.primary_id.clone();
        let mut findings = std::mem::take(&mut self.findings);
        for f in &mut findings {
            if f.primary_id.is_none() && !primary_id.is_empty() {
                f.primary_id = Some(primary_id.clone());
            }
        }
        self.users_read += 1;
        Ok(ReadUser {
            user,
            position,
            start_offset,
            findings,
            segments: std::mem::take(&mut self.segments),
        })
    }

    /// Reads `USER_CHILDREN[index]`, chosen by its index: a match on the name compared it
    /// with the names before it, one `memcmp` each.
    fn user_child(&mut self, index: usize, u: &mut User) -> Result<(), ReadError> {
        use at::*;
        match index {
            RECORD_TYPE => u.record_type = self.fixed_code(&RecordType::ALL, RecordType::code)?,
            PRIMARY_ID => u.primary_id = self.req_string()?,
            FIRST_NAME => u.first_name = self.opt_string()?,
            MIDDLE_NAME => u.middle_name = self.opt_string()?,
            LAST_NAME => u.last_name = self.opt_string()?,
            PIN_NUMBER => u.pin_number = self.opt_string()?,
            USER_TITLE => u.user_title = self.opt_code()?,
            JOB_CATEGORY => u.job_category = self.opt_code()?,
            JOB_DESCRIPTION => u.job_description = self.opt_string()?,
            GENDER => u.gender = self.opt_code()?,
            USER_GROUP => u.user_group = self.opt_code()?,
            CAMPUS_CODE => u.campus_code = self.opt_code()?,
            WEB_SITE_URL => u.web_site_url = self.opt_string()?,
            CATALOGER_LEVEL => u.cataloger_level = self.opt_code()?,
            PREFERRED_LANGUAGE => u.preferred_language = self.opt_code()?,
            BIRTH_DATE => u.birth_date = self.date()?,
            EXPIRY_DATE => u.expiry_date = self.date()?,
            PURGE_DATE => u.purge_date = self.date()?,
            ACCOUNT_TYPE => {
                u.account_type = self.fixed_code(&AccountType::ALL, AccountType::code)?
            }
            EXTERNAL_ID => u.external_id = self.opt_string()?,
            STATUS => u.status = self.fixed_code(&UserStatus::ALL, UserStatus::code)?,
            CONTACT_INFO => self.contact_info(u)?,
            USER_IDENTIFIERS => {
                u.user_identifiers = self.list("user_identifier", Self::identifier)?
            }
            USER_BLOCKS => u.user_blocks = self.list("user_block", Self::block)?,
            USER_NOTES => u.user_notes = self.list("user_note", Self::note)?,
            USER_STATISTICS => u.user_statistics = self.list("user_statistic", Self::statistic)?,
            RS_LIBRARIES => u.rs_libraries = self.list("rs_library", Self::rs_library)?,
            LIBRARY_NOTICES => {
                u.library_notices = self.list("library_notice", Self::library_notice)?
            }
            PREF_FIRST_NAME => u.pref_first_name = self.opt_string()?,
            PREF_MIDDLE_NAME => u.pref_middle_name = self.opt_string()?,
            PREF_LAST_NAME => u.pref_last_name = self.opt_string()?,
            PREF_NAME_SUFFIX => u.pref_name_suffix = self.opt_string()?,
            _ => self.ignored(USER_CHILDREN[index].name)?,
        }
        Ok(())
    }

    fn contact_info(&mut self, u: &mut User) -> Result<(), ReadError> {
        const ORDER: &[Child] = schema::children("contact_info");
        let pos = self.pos;
        self.check_attrs(&[]);
        let mut closed = self.empty;
        let mut last = 0usize;
        let mut seen = [false; ORDER.len()];
        let mut any = false;
        while self.next_child(&mut closed)? {
            any = true;
            let Some(index) = child_index(ORDER, &self.name) else {
                self.unknown_element("contact_info")?;
                continue;
            };
            let name = ORDER[index].name;
            let pos = self.pos;
            let len = self.push_path(name);
            if seen[index] {
                self.report(
                    "E-DUPLICATE-ELEMENT",
                    Severity::Error,
                    pos,
                    format!("<{name}> occurs more than once; the first one is kept"),
                );
                self.skip()?;
                self.path.truncate(len);
                continue;
            }
            if index < last {
                self.report(
                    "E-SCHEMA-ORDER",
                    Severity::Error,
                    pos,
                    format!(
                        "<{name}> comes after <{}>; contact_info is a sequence: addresses, \
                         emails, phones",
                        ORDER[last].name
                    ),
                );
            }
            seen[index] = true;
            last = last.max(index);
            match index {
                0 => u.contact_info.addresses = self.list("address", Self::address)?,
                1 => u.contact_info.emails = self.list("email", Self::email)?,
                _ => u.contact_info.phones = self.list("phone", Self::phone)?,
            }
            self.path.truncate(len);
        }
        if !any {
            self.empty_element(pos);
        }
        Ok(())
    }

    /// A wrapper of repeated `item`s (an `xs:sequence`); the wrapper's start tag was read
    /// and `self.path` ends with the wrapper's name.
    fn list<T>(
        &mut self,
        item: &str,
        read: fn(&mut Self) -> Result<T, ReadError>,
    ) -> Result<Vec<T>, ReadError> {
        let pos = self.pos;
        self.check_attrs(&[]);
        let mut items = Vec::new();
        let mut closed = self.empty;
        while self.next_child(&mut closed)? {
            if self.name != item {
                let parent = self.path.rsplit('/').next().unwrap_or_default().to_owned();
                self.unknown_element(&parent)?;
                continue;
            }
            if let Some(list) = segment_list(item) {
                self.segments.push(SegmentAt {
                    list,
                    index: items.len(),
                    position: self.pos,
                });
            }
            let len = self.push_path_indexed(item, items.len());
            items.push(read(self)?);
            self.path.truncate(len);
        }
        if items.is_empty() {
            self.empty_element(pos);
        }
        Ok(items)
    }

    /// Children of an `xs:all` segment: calls `child` with each known name (checking
    /// duplicates), reports unknown ones.
    fn segment<T>(
        &mut self,
        element: &str,
        children: &'static [Child],
        value: &mut T,
        child: fn(&mut Self, &'static str, &mut T) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        let mut closed = self.empty;
        // Bit i: children[i] was seen (no segment has more than 64 children).
        let mut seen = 0u64;
        while self.next_child(&mut closed)? {
            let Some(index) = child_index(children, &self.name) else {
                self.unknown_element(element)?;
                continue;
            };
            let name = children[index].name;
            let pos = self.pos;
            let len = self.push_path(name);
            if seen & (1 << index) != 0 {
                self.report(
                    "E-DUPLICATE-ELEMENT",
                    Severity::Error,
                    pos,
                    format!("<{name}> occurs more than once; the first one is kept"),
                );
                self.skip()?;
            } else {
                seen |= 1 << index;
                child(self, name, value)?;
            }
            self.path.truncate(len);
        }
        Ok(())
    }

    fn address(&mut self) -> Result<Address, ReadError> {
        self.check_attrs(&["preferred", "segment_type"]);
        let mut a = Address {
            preferred: self.bool_attr("preferred"),
            segment_type: self.segment_type(),
            ..Address::default()
        };
        self.segment("address", ADDRESS_CHILDREN, &mut a, |r, name, a| {
            match name {
                "line1" => a.line1 = r.opt_string()?,
                "line2" => a.line2 = r.opt_string()?,
                "line3" => a.line3 = r.opt_string()?,
                "line4" => a.line4 = r.opt_string()?,
                "line5" => a.line5 = r.opt_string()?,
                "city" => a.city = r.opt_string()?,
                "state_province" => a.state_province = r.opt_string()?,
                "postal_code" => a.postal_code = r.opt_string()?,
                "country" => a.country = r.opt_code()?,
                "address_note" => a.address_note = r.opt_string()?,
                "start_date" => a.start_date = r.date()?,
                "end_date" => a.end_date = r.date()?,
                _ => a.address_types = r.type_list("address_type")?,
            }
            Ok(())
        })?;
        Ok(a)
    }

    /// `address_types` and friends: empty is allowed by the XSD and left to validation.
    fn type_list(&mut self, item: &str) -> Result<Vec<CodeValue>, ReadError> {
        self.check_attrs(&[]);
        let mut types = Vec::new();
        let mut closed = self.empty;
        while self.next_child(&mut closed)? {
            if self.name != item {
                let parent = self.path.rsplit('/').next().unwrap_or_default().to_owned();
                self.unknown_element(&parent)?;
                continue;
            }
            let len = self.push_path_indexed(item, types.len());
            types.push(self.code_value()?);
            self.path.truncate(len);
        }
        Ok(types)
    }

    fn email(&mut self) -> Result<Email, ReadError> {
        self.check_attrs(&["preferred", "segment_type"]);
        let mut e = Email {
            preferred: self.bool_attr("preferred"),
            segment_type: self.segment_type(),
            ..Email::default()
        };
        self.segment("email", EMAIL_CHILDREN, &mut e, |r, name, e| {
            match name {
                "email_address" => e.email_address = r.req_string()?,
                "description" => e.description = r.opt_string()?,
                _ => e.email_types = r.type_list("email_type")?,
            }
            Ok(())
        })?;
        Ok(e)
    }

    fn phone(&mut self) -> Result<Phone, ReadError> {
        self.check_attrs(&["preferred", "preferred_sms", "segment_type"]);
        let mut p = Phone {
            preferred: self.bool_attr("preferred"),
            preferred_sms: self.bool_attr("preferred_sms"),
            segment_type: self.segment_type(),
            ..Phone::default()
        };
        self.segment("phone", PHONE_CHILDREN, &mut p, |r, name, p| {
            match name {
                "phone_number" => p.phone_number = r.req_string()?,
                _ => p.phone_types = r.type_list("phone_type")?,
            }
            Ok(())
        })?;
        Ok(p)
    }

    fn identifier(&mut self) -> Result<UserIdentifier, ReadError> {
        self.check_attrs(&["segment_type"]);
        let mut id = UserIdentifier {
            segment_type: self.segment_type(),
            ..UserIdentifier::default()
        };
        self.segment(
            "user_identifier",
            IDENTIFIER_CHILDREN,
            &mut id,
            |r, name, id| {
                match name {
                    "id_type" => id.id_type = r.code_value()?,
                    "value" => id.value = r.req_string()?,
                    "note" => id.note = r.opt_string()?,
                    _ => id.status = r.opt_string()?,
                }
                Ok(())
            },
        )?;
        Ok(id)
    }

    fn block(&mut self) -> Result<UserBlock, ReadError> {
        self.check_attrs(&["segment_type"]);
        let mut b = UserBlock {
            segment_type: self.segment_type(),
            ..UserBlock::default()
        };
        self.segment("user_block", BLOCK_CHILDREN, &mut b, |r, name, b| {
            match name {
                "block_type" => b.block_type = r.opt_code()?,
                "block_description" => b.block_description = r.code_value()?,
                "block_status" => b.block_status = r.opt_string()?,
                "block_note" => b.block_note = r.opt_string()?,
                "created_by" => b.created_by = r.opt_string()?,
                "created_date" => b.created_date = r.date_time()?,
                "expiry_date" => b.expiry_date = r.date_time()?,
                _ => b.item_loan_id = r.opt_string()?,
            }
            Ok(())
        })?;
        Ok(b)
    }

    fn note(&mut self) -> Result<UserNote, ReadError> {
        let pos = self.pos;
        self.check_attrs(&["segment_type"]);
        let mut n = (
            UserNote {
                segment_type: self.segment_type(),
                ..UserNote::default()
            },
            [false; 2],
        );
        self.segment("user_note", NOTE_CHILDREN, &mut n, |r, name, (n, flags)| {
            match name {
                "note_type" => n.note_type = r.code_value()?,
                "note_text" => n.note_text = r.opt_string()?,
                "user_viewable" => {
                    flags[0] = true;
                    n.user_viewable = r.boolean()?.unwrap_or(false);
                }
                "popup_note" => {
                    flags[1] = true;
                    n.popup_note = r.boolean()?.unwrap_or(false);
                }
                "created_by" => n.created_by = r.opt_string()?,
                _ => n.created_date = r.date_time()?,
            }
            Ok(())
        })?;
        for (present, name) in n.1.iter().zip(["user_viewable", "popup_note"]) {
            if !present {
                let len = self.push_path(name);
                self.report(
                    "E-MANDATORY",
                    Severity::Error,
                    pos,
                    format!("user_note has no <{name}>; the schema requires it"),
                );
                self.path.truncate(len);
            }
        }
        Ok(n.0)
    }

    fn statistic(&mut self) -> Result<UserStatistic, ReadError> {
        self.check_attrs(&["segment_type"]);
        let mut s = UserStatistic {
            segment_type: self.segment_type(),
            ..UserStatistic::default()
        };
        self.segment(
            "user_statistic",
            STATISTIC_CHILDREN,
            &mut s,
            |r, name, s| {
                match name {
                    "statistic_category" => s.statistic_category = r.code_value()?,
                    "category_type" => s.category_type = r.opt_code()?,
                    _ => s.statistic_note = r.opt_string()?,
                }
                Ok(())
            },
        )?;
        Ok(s)
    }

    fn rs_library(&mut self) -> Result<CodeValue, ReadError> {
        self.check_attrs(&[]);
        let mut code = CodeValue::default();
        self.segment(
            "rs_library",
            RS_LIBRARY_CHILDREN,
            &mut code,
            |r, _, code| {
                *code = r.opt_code()?.unwrap_or_default();
                Ok(())
            },
        )?;
        Ok(code)
    }

    fn library_notice(&mut self) -> Result<LibraryNotice, ReadError> {
        self.check_attrs(&[]);
        let mut n = LibraryNotice::default();
        self.segment(
            "library_notice",
            LIBRARY_NOTICE_CHILDREN,
            &mut n,
            |r, name, n| {
                match name {
                    "code" => n.code = r.opt_code()?,
                    _ => n.value = r.boolean()?,
                }
                Ok(())
            },
        )?;
        Ok(n)
    }
}

/// `<user>`'s children in the schema's declaration order, and those of its segments.
pub(super) const USER_CHILDREN: &[Child] = schema::children("");
pub(super) const ADDRESS_CHILDREN: &[Child] = schema::children("contact_info/addresses/address");
pub(super) const EMAIL_CHILDREN: &[Child] = schema::children("contact_info/emails/email");
pub(super) const PHONE_CHILDREN: &[Child] = schema::children("contact_info/phones/phone");
pub(super) const IDENTIFIER_CHILDREN: &[Child] =
    schema::children("user_identifiers/user_identifier");
pub(super) const BLOCK_CHILDREN: &[Child] = schema::children("user_blocks/user_block");
pub(super) const NOTE_CHILDREN: &[Child] = schema::children("user_notes/user_note");
pub(super) const STATISTIC_CHILDREN: &[Child] = schema::children("user_statistics/user_statistic");
pub(super) const RS_LIBRARY_CHILDREN: &[Child] = schema::children("rs_libraries/rs_library");
pub(super) const LIBRARY_NOTICE_CHILDREN: &[Child] =
    schema::children("library_notices/library_notice");

/// The index of `name` in `children`; the first byte sorts out most names before a compare.
pub(super) fn child_index(children: &[Child], name: &str) -> Option<usize> {
    let first = name.as_bytes().first()?;
    children.iter().position(|c| {
        c.name.as_bytes().first() == Some(first) && same_bytes(c.name.as_bytes(), name.as_bytes())
    })
}

/// The index in [`USER_CHILDREN`] of each child of `<user>`, by name (the readers dispatch
/// on it instead of comparing names once more).
pub(super) mod at {
    use super::user_child_at;

    pub(in crate::read) const RECORD_TYPE: usize = user_child_at("record_type");
    pub(in crate::read) const PRIMARY_ID: usize = user_child_at("primary_id");
    pub(in crate::read) const FIRST_NAME: usize = user_child_at("first_name");
    pub(in crate::read) const MIDDLE_NAME: usize = user_child_at("middle_name");
    pub(in crate::read) const LAST_NAME: usize = user_child_at("last_name");
    pub(in crate::read) const PIN_NUMBER: usize = user_child_at("pin_number");
    pub(in crate::read) const USER_TITLE: usize = user_child_at("user_title");
    pub(in crate::read) const JOB_CATEGORY: usize = user_child_at("job_category");
    pub(in crate::read) const JOB_DESCRIPTION: usize = user_child_at("job_description");
    pub(in crate::read) const GENDER: usize = user_child_at("gender");
    pub(in crate::read) const USER_GROUP: usize = user_child_at("user_group");
    pub(in crate::read) const CAMPUS_CODE: usize = user_child_at("campus_code");
    pub(in crate::read) const WEB_SITE_URL: usize = user_child_at("web_site_url");
    pub(in crate::read) const CATALOGER_LEVEL: usize = user_child_at("cataloger_level");
    pub(in crate::read) const PREFERRED_LANGUAGE: usize = user_child_at("preferred_language");
    pub(in crate::read) const BIRTH_DATE: usize = user_child_at("birth_date");
    pub(in crate::read) const EXPIRY_DATE: usize = user_child_at("expiry_date");
    pub(in crate::read) const PURGE_DATE: usize = user_child_at("purge_date");
    pub(in crate::read) const ACCOUNT_TYPE: usize = user_child_at("account_type");
    pub(in crate::read) const EXTERNAL_ID: usize = user_child_at("external_id");
    pub(in crate::read) const STATUS: usize = user_child_at("status");
    pub(in crate::read) const CONTACT_INFO: usize = user_child_at("contact_info");
    pub(in crate::read) const USER_IDENTIFIERS: usize = user_child_at("user_identifiers");
    pub(in crate::read) const USER_BLOCKS: usize = user_child_at("user_blocks");
    pub(in crate::read) const USER_NOTES: usize = user_child_at("user_notes");
    pub(in crate::read) const USER_STATISTICS: usize = user_child_at("user_statistics");
    pub(in crate::read) const RS_LIBRARIES: usize = user_child_at("rs_libraries");
    pub(in crate::read) const LIBRARY_NOTICES: usize = user_child_at("library_notices");
    pub(in crate::read) const PREF_FIRST_NAME: usize = user_child_at("pref_first_name");
    pub(in crate::read) const PREF_MIDDLE_NAME: usize = user_child_at("pref_middle_name");
    pub(in crate::read) const PREF_LAST_NAME: usize = user_child_at("pref_last_name");
    pub(in crate::read) const PREF_NAME_SUFFIX: usize = user_child_at("pref_name_suffix");
}

/// The index of `name` in [`USER_CHILDREN`], at compile time (a name not there fails the
/// build).
const fn user_child_at(name: &str) -> usize {
    let name = name.as_bytes();
    let mut i = 0;
    while i < USER_CHILDREN.len() {
        let child = USER_CHILDREN[i].name.as_bytes();
        if child.len() == name.len() {
            let mut k = 0;
            while k < name.len() && child[k] == name[k] {
                k += 1;
            }
            if k == name.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("not a child of <user> in rest_user.xsd");
}

/// The item paths of the lists record validation reports on, by item element.
pub(super) fn segment_list(item: &str) -> Option<&'static str> {
    Some(match item {
        "address" => "contact_info/addresses/address",
        "email" => "contact_info/emails/email",
        "phone" => "contact_info/phones/phone",
        "user_identifier" => "user_identifiers/user_identifier",
        "user_block" => "user_blocks/user_block",
        "user_note" => "user_notes/user_note",
        "user_statistic" => "user_statistics/user_statistic",
        "rs_library" => "rs_libraries/rs_library",
        "library_notice" => "library_notices/library_notice",
        _ => return None,
    })
}
