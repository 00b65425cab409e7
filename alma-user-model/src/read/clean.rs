//! The clean-user path: one pass over a user's XML, as [`UserSplitter`] cut it, that either
//! proves the user is read with no finding at all and builds it, or gives up and leaves the
//! user to [`UserParser`], which stays the reference.
//!
//! It accepts only what the toolkit and most SIS programs write: `<user>`'s children and
//! their segments in the schema's order, each at most once; plain start and end tags (a
//! schema name, no prefix, the attributes the element declares, values without `&`, `<`,
//! tabs or line breaks); text with no reference but the five predefined entities; no empty
//! optional element, no `/>`, no carriage return, no `]]>`, no date without its zone, no
//! boolean or fixed code that is not one. Anything else (any finding, anything unusual) is
//! `None`. So what it accepts is also well-formed for Java's parser in any scope between the
//! root's children, as long as no text run is longer than the token limit (the caller's to
//! check: a user no longer than the limit has none).
//!
//! The reference decides: tests hold it to [`UserParser`] on every user they make, and
//! `check` built with debug assertions compares the two on every user it reads.
//!
//! [`UserSplitter`]: super::UserSplitter

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};

use super::fast::RawUser;
use super::spare::{Listed, Spare};
use super::structure::{date_time_of, naive_date};
use super::user::{
    ADDRESS_CHILDREN, BLOCK_CHILDREN, EMAIL_CHILDREN, IDENTIFIER_CHILDREN, LIBRARY_NOTICE_CHILDREN,
    NOTE_CHILDREN, PHONE_CHILDREN, RS_LIBRARY_CHILDREN, STATISTIC_CHILDREN, USER_CHILDREN,
    child_index, segment_list,
};
use super::{ReadUser, SegmentAt};
use crate::chars::same_bytes;
use crate::finding::Position;
use crate::model::{
    AccountType, Address, CodeValue, Email, LibraryNotice, Phone, RecordType, User, UserBlock,
    UserIdentifier, UserNote, UserStatistic, UserStatus,
};
use crate::schema::{self, Child};

/// The user in `xml` (one `<user>` element as [`UserSplitter`](super::UserSplitter) cut it,
/// found `at`) when it is clean (see the module docs): exactly what
/// [`UserParser::parse`](super::UserParser::parse) returns for it, with no finding. `None`
/// says nothing about the user: read it with the parser.
#[doc(hidden)]
pub fn read_clean(xml: &str, at: &RawUser) -> Option<ReadUser> {
    read_clean_reusing(xml, at, &mut Spare::default())
}

/// [`read_clean`], its strings and lists taken from `spare` (give the user back to it with
/// [`Spare::recycle`] when done): the same user, with next to no allocation.
#[doc(hidden)]
pub fn read_clean_reusing(xml: &str, at: &RawUser, spare: &mut Spare) -> Option<ReadUser> {
    let segments = spare.segments();
    let mut c = Clean {
        spare,
        s: xml,
        i: 0,
        at,
        line: at.position.line,
        last_newline: None,
        segments,
    };
    let mut read = ReadUser {
        user: User::default(),
        position: at.position,
        start_offset: at.start_offset,
        findings: Vec::new(),
        segments: Vec::new(),
    };
    c.user(&mut read.user)?;
    if c.i != xml.len() {
        return None;
    }
    read.segments = c.segments;
    Some(read)
}

/// A start tag: its name, what lies between the name and the `>` (attributes, unparsed),
/// where its `<` is.
struct Start<'a> {
    name: &'a str,
    attrs: &'a str,
    at: usize,
}

impl<'a> Start<'a> {
    /// The values of the attributes `allowed` names, by its order, when the attributes are
    /// plain, each is one of `allowed` and none is there twice.
    fn attrs<const N: usize>(&self, allowed: [&str; N]) -> Option<[Option<&'a str>; N]> {
        let (s, b) = (self.attrs, self.attrs.as_bytes());
        let mut values = [None; N];
        let mut i = 0;
        loop {
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
            if i == b.len() {
                return Some(values);
            }
            let key_start = i;
            while b
                .get(i)
                .is_some_and(|&c| c.is_ascii_lowercase() || c == b'_')
            {
                i += 1;
            }
            let key = &s[key_start..i];
            let slot = allowed.iter().position(|k| *k == key)?;
            let quote = *b.get(i + 1)?;
            if b[i] != b'=' || !matches!(quote, b'"' | b'\'') || values[slot].is_some() {
                return None;
            }
            let value_start = i + 2;
            let len = b[value_start..].iter().position(|&c| c == quote)?;
            let value = &s[value_start..value_start + len];
            if value
                .bytes()
                .any(|c| matches!(c, b'&' | b'<' | b'\t' | b'\n' | b'\r'))
            {
                return None;
            }
            values[slot] = Some(value);
            i = value_start + len + 1;
            // Attributes are separated by blanks.
            if !matches!(b.get(i), None | Some(b' ')) {
                return None;
            }
        }
    }
}

/// A boolean attribute's value, `false` when absent; `None` when it is not an `xs:boolean`.
fn bool_attr(value: Option<&str>) -> Option<bool> {
    value.map_or(Some(false), schema::parse_boolean)
}

struct Clean<'a> {
    s: &'a str,
    i: usize,
    at: &'a RawUser,
    /// Line of the cursor.
    line: u64,
    /// The last newline before the cursor.
    last_newline: Option<usize>,
    segments: Vec<SegmentAt>,
    spare: &'a mut Spare,
}

impl<'a> Clean<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    /// Line and column of `s[at]`, as the reader counts them (columns in bytes): every
    /// newline before `at` has been passed over by [`Self::skip_blanks`] or [`Self::text`].
    fn position(&self, at: usize) -> Position {
        let column = match self.last_newline {
            Some(n) => (at - n) as u64,
            None => self.at.position.column + at as u64,
        };
        Position {
            line: self.line,
            column,
        }
    }

    /// Notes `lines` newlines passed over, the last at `last`.
    fn passed_newlines(&mut self, lines: u64, last: Option<usize>) {
        if lines > 0 {
            self.line += lines;
            self.last_newline = last;
        }
    }

    fn skip_blanks(&mut self) {
        let b = self.bytes();
        loop {
            // An indentation's spaces, eight at a time.
            self.i = skip_spaces(b, self.i);
            match b.get(self.i) {
                Some(b' ' | b'\t') => {}
                Some(b'\n') => self.passed_newlines(1, Some(self.i)),
                _ => return,
            }
            self.i += 1;
        }
    }

    /// Blanks, then the next child's start tag (`Some(Some)`) or the end tag of `parent`
    /// (`Some(None)`); `None` for anything else.
    #[inline(always)]
    fn next_child(&mut self, parent: &str) -> Option<Option<Start<'a>>> {
        self.skip_blanks();
        let b = self.bytes();
        if *b.get(self.i)? != b'<' {
            return None;
        }
        if b.get(self.i + 1) == Some(&b'/') {
            self.end_tag(parent)?;
            return Some(None);
        }
        self.start_tag().map(Some)
    }

    /// `</name>` at the cursor.
    fn end_tag(&mut self, name: &str) -> Option<()> {
        let b = self.bytes();
        let end = self.i + name.len() + 3;
        let tag = b.get(self.i..end)?;
        // The name compared in words: a call to `memcmp` cost more than the compare.
        (tag.starts_with(b"</")
            && same_bytes(&tag[2..2 + name.len()], name.as_bytes())
            && tag[end - self.i - 1] == b'>')
            .then(|| self.i = end)
    }

    /// A start tag at the cursor: a name of ASCII letters, digits and `_`, then attributes
    /// up to the first `>` (a `>` in an attribute value leaves the attributes unparsable).
    // Inlined: a `Start` handed back through memory is written a word at a time and read
    // back sixteen bytes at a time, which stalls on every tag (about 3 % of `check`).
    #[inline(always)]
    fn start_tag(&mut self) -> Option<Start<'a>> {
        let b = self.bytes();
        let at = self.i;
        let mut i = name_end(b, at + 1);
        let name = &self.s[at + 1..i];
        let attrs = match *b.get(i)? {
            b'>' => "",
            b' ' => {
                let gt = i + memchr::memchr(b'>', &b[i..])?;
                let attrs = &self.s[i..gt];
                i = gt;
                attrs
            }
            _ => return None,
        };
        if name.is_empty() {
            return None;
        }
        self.i = i + 1;
        Some(Start { name, attrs, at })
    }

    /// The text of the leaf `name` whose start tag was just read, through its end tag, with
    /// the five predefined references resolved (borrowed when it has none); `None` at any
    /// other reference, a carriage return (which XML rewrites) or `]]>` (which Java refuses).
    fn text(&mut self, name: &str) -> Option<Cow<'a, str>> {
        let b = self.bytes();
        let start = self.i;
        let (mut from, mut i) = (start, start);
        // The text so far, from the first reference on.
        let mut resolved: Option<String> = None;
        let (mut lines, mut last) = (0, None);
        loop {
            // Plain characters, eight at a time, up to one the loop looks at.
            i = text_stop(b, i);
            match *b.get(i)? {
                b'<' => break,
                b'\n' => {
                    (lines, last) = (lines + 1, Some(i));
                    i += 1;
                }
                b'&' => {
                    let out = resolved.get_or_insert_with(String::new);
                    out.push_str(&self.s[from..i]);
                    let (c, len) = predefined(&b[i..])?;
                    out.push(c);
                    i += len;
                    from = i;
                }
                b'\r' => return None,
                b']' if b[i..].starts_with(b"]]>") => return None,
                // `]`: not `]]>`.
                _ => i += 1,
            }
        }
        self.passed_newlines(lines, last);
        self.i = i;
        self.end_tag(name)?;
        Some(match resolved {
            None => Cow::Borrowed(&self.s[start..i]),
            Some(mut out) => {
                out.push_str(&self.s[from..i]);
                Cow::Owned(out)
            }
        })
    }

    // ---- values, as the reader's value functions read them when they find nothing --------

    /// A leaf with no attribute.
    fn bare_text(&mut self, start: &Start<'a>) -> Option<Cow<'a, str>> {
        if !start.attrs.is_empty() {
            return None;
        }
        self.text(start.name)
    }

    /// `text` as a string of its own, a spare one when it was borrowed.
    fn owned(&mut self, text: Cow<'a, str>) -> String {
        match text {
            Cow::Borrowed(text) => self.spare.string(text),
            Cow::Owned(text) => text,
        }
    }

    /// An attribute's value; `None` when absent or empty.
    fn non_empty(&mut self, value: Option<&str>) -> Option<String> {
        value
            .filter(|v| !v.is_empty())
            .map(|v| self.spare.string(v))
    }

    fn opt_string(&mut self, start: &Start<'a>) -> Option<Option<String>> {
        let text = self.bare_text(start)?;
        (!text.is_empty()).then(|| Some(self.owned(text)))
    }

    fn req_string(&mut self, start: &Start<'a>) -> Option<String> {
        let text = self.bare_text(start)?;
        Some(self.owned(text))
    }

    fn code_value(&mut self, start: &Start<'a>) -> Option<CodeValue> {
        let [desc] = start.attrs(["desc"])?;
        let desc = self.non_empty(desc);
        let text = self.text(start.name)?;
        let code = self.owned(text);
        Some(CodeValue { code, desc })
    }

    fn opt_code(&mut self, start: &Start<'a>) -> Option<Option<CodeValue>> {
        let value = self.code_value(start)?;
        (!value.code.is_empty()).then_some(Some(value))
    }

    /// A fixed Alma code, exactly one of `table`'s and without a `desc`.
    fn fixed_code<T: Copy>(
        &mut self,
        start: &Start<'a>,
        table: &[T],
        code_of: fn(T) -> &'static str,
    ) -> Option<Option<T>> {
        let code = self.bare_text(start)?;
        table
            .iter()
            .copied()
            .find(|&t| code_of(t) == code)
            .map(Some)
    }

    fn date(&mut self, start: &Start<'a>) -> Option<Option<NaiveDate>> {
        let text = self.bare_text(start)?;
        let parts = schema::parse_date(schema::collapse(&text))?;
        parts.zone?;
        Some(naive_date(&parts))
    }

    fn date_time(&mut self, start: &Start<'a>) -> Option<Option<DateTime<Utc>>> {
        let text = self.bare_text(start)?;
        let (parts, seconds, nanos) = schema::parse_date_time(schema::collapse(&text))?;
        parts.zone?;
        Some(date_time_of(&parts, seconds, nanos))
    }

    fn boolean(&mut self, start: &Start<'a>) -> Option<bool> {
        let text = self.bare_text(start)?;
        schema::parse_boolean(&text)
    }

    // ---- the user and its segments ------------------------------------------------------

    fn user(&mut self, u: &mut User) -> Option<()> {
        let start = self.start_tag()?;
        if start.name != "user" || !start.attrs.is_empty() {
            return None;
        }
        let mut next = 0;
        while let Some(child) = self.next_child("user")? {
            // In the schema's order, each once (no I-ORDER, no duplicate): after the last.
            let index = next + child_index(&USER_CHILDREN[next..], child.name)?;
            next = index + 1;
            self.user_child(index, &child, u)?;
        }
        Some(())
    }

    /// `USER_CHILDREN[index]`, chosen by its index (as [`UserParser`](super::UserParser)
    /// does: a match on the name would compare it once more).
    fn user_child(&mut self, index: usize, c: &Start<'a>, u: &mut User) -> Option<()> {
        use super::user::at::*;
        match index {
            RECORD_TYPE => {
                u.record_type = self.fixed_code(c, &RecordType::ALL, RecordType::code)?
            }
            PRIMARY_ID => u.primary_id = self.req_string(c)?,
            FIRST_NAME => u.first_name = self.opt_string(c)?,
            MIDDLE_NAME => u.middle_name = self.opt_string(c)?,
            LAST_NAME => u.last_name = self.opt_string(c)?,
            PIN_NUMBER => u.pin_number = self.opt_string(c)?,
            USER_TITLE => u.user_title = self.opt_code(c)?,
            JOB_CATEGORY => u.job_category = self.opt_code(c)?,
            JOB_DESCRIPTION => u.job_description = self.opt_string(c)?,
            GENDER => u.gender = self.opt_code(c)?,
            USER_GROUP => u.user_group = self.opt_code(c)?,
            CAMPUS_CODE => u.campus_code = self.opt_code(c)?,
            WEB_SITE_URL => u.web_site_url = self.opt_string(c)?,
            CATALOGER_LEVEL => u.cataloger_level = self.opt_code(c)?,
            PREFERRED_LANGUAGE => u.preferred_language = self.opt_code(c)?,
            BIRTH_DATE => u.birth_date = self.date(c)?,
            EXPIRY_DATE => u.expiry_date = self.date(c)?,
            PURGE_DATE => u.purge_date = self.date(c)?,
            ACCOUNT_TYPE => {
                u.account_type = self.fixed_code(c, &AccountType::ALL, AccountType::code)?
            }
            EXTERNAL_ID => u.external_id = self.opt_string(c)?,
            STATUS => u.status = self.fixed_code(c, &UserStatus::ALL, UserStatus::code)?,
            CONTACT_INFO => self.contact_info(c, u)?,
            USER_IDENTIFIERS => {
                u.user_identifiers = self.list(c, "user_identifier", Self::identifier)?
            }
            USER_BLOCKS => u.user_blocks = self.list(c, "user_block", Self::block)?,
            USER_NOTES => u.user_notes = self.list(c, "user_note", Self::note)?,
            USER_STATISTICS => {
                u.user_statistics = self.list(c, "user_statistic", Self::statistic)?
            }
            RS_LIBRARIES => u.rs_libraries = self.list(c, "rs_library", Self::rs_library)?,
            LIBRARY_NOTICES => {
                u.library_notices = self.list(c, "library_notice", Self::library_notice)?
            }
            PREF_FIRST_NAME => u.pref_first_name = self.opt_string(c)?,
            PREF_MIDDLE_NAME => u.pref_middle_name = self.opt_string(c)?,
            PREF_LAST_NAME => u.pref_last_name = self.opt_string(c)?,
            PREF_NAME_SUFFIX => u.pref_name_suffix = self.opt_string(c)?,
            // Elements the load ignores are reported by the reader.
            _ => return None,
        }
        Some(())
    }

    fn contact_info(&mut self, c: &Start<'a>, u: &mut User) -> Option<()> {
        const ORDER: &[Child] = schema::children("contact_info");
        if !c.attrs.is_empty() {
            return None;
        }
        let mut next = 0;
        while let Some(child) = self.next_child(c.name)? {
            let index = next + child_index(&ORDER[next..], child.name)?;
            next = index + 1;
            match index {
                0 => u.contact_info.addresses = self.list(&child, "address", Self::address)?,
                1 => u.contact_info.emails = self.list(&child, "email", Self::email)?,
                _ => u.contact_info.phones = self.list(&child, "phone", Self::phone)?,
            }
        }
        // An empty contact_info is reported.
        (next > 0).then_some(())
    }

    /// A wrapper of one or more `item`s.
    fn list<T: Default + Listed>(
        &mut self,
        wrapper: &Start<'a>,
        item: &str,
        read: fn(&mut Self, &Start<'a>, &mut T) -> Option<()>,
    ) -> Option<Vec<T>> {
        if !wrapper.attrs.is_empty() {
            return None;
        }
        let list = segment_list(item)?;
        let mut items = self.spare.list();
        while let Some(child) = self.next_child(wrapper.name)? {
            if child.name != item {
                return None;
            }
            let position = self.position(child.at);
            self.segments.push(SegmentAt {
                list,
                index: items.len(),
                position,
            });
            // Built where it is kept, not moved there.
            items.push(T::default());
            read(self, &child, items.last_mut()?)?;
        }
        // An empty list is reported.
        (!items.is_empty()).then_some(items)
    }

    /// The children of an `xs:all` segment, each known and at most once, in any order.
    fn segment<T>(
        &mut self,
        element: &Start<'a>,
        children: &'static [Child],
        value: &mut T,
        child: fn(&mut Self, &Start<'a>, &mut T) -> Option<()>,
    ) -> Option<()> {
        let mut seen = 0u64;
        while let Some(c) = self.next_child(element.name)? {
            let index = child_index(children, c.name)?;
            if seen & (1 << index) != 0 {
                return None;
            }
            seen |= 1 << index;
            child(self, &c, value)?;
        }
        Some(())
    }

    fn address(&mut self, c: &Start<'a>, a: &mut Address) -> Option<()> {
        let [preferred, segment_type] = c.attrs(["preferred", "segment_type"])?;
        a.preferred = bool_attr(preferred)?;
        a.segment_type = self.non_empty(segment_type);
        self.segment(c, ADDRESS_CHILDREN, a, |r, c, a| {
            match c.name {
                "line1" => a.line1 = r.opt_string(c)?,
                "line2" => a.line2 = r.opt_string(c)?,
                "line3" => a.line3 = r.opt_string(c)?,
                "line4" => a.line4 = r.opt_string(c)?,
                "line5" => a.line5 = r.opt_string(c)?,
                "city" => a.city = r.opt_string(c)?,
                "state_province" => a.state_province = r.opt_string(c)?,
                "postal_code" => a.postal_code = r.opt_string(c)?,
                "country" => a.country = r.opt_code(c)?,
                "address_note" => a.address_note = r.opt_string(c)?,
                "start_date" => a.start_date = r.date(c)?,
                "end_date" => a.end_date = r.date(c)?,
                "address_types" => a.address_types = r.type_list(c, "address_type")?,
                _ => return None,
            }
            Some(())
        })
    }

    /// `address_types` and friends: may be empty.
    fn type_list(&mut self, c: &Start<'a>, item: &str) -> Option<Vec<CodeValue>> {
        if !c.attrs.is_empty() {
            return None;
        }
        let mut types = self.spare.list();
        while let Some(child) = self.next_child(c.name)? {
            if child.name != item {
                return None;
            }
            types.push(self.code_value(&child)?);
        }
        Some(types)
    }

    fn email(&mut self, c: &Start<'a>, e: &mut Email) -> Option<()> {
        let [preferred, segment_type] = c.attrs(["preferred", "segment_type"])?;
        e.preferred = bool_attr(preferred)?;
        e.segment_type = self.non_empty(segment_type);
        self.segment(c, EMAIL_CHILDREN, e, |r, c, e| {
            match c.name {
                "email_address" => e.email_address = r.req_string(c)?,
                "description" => e.description = r.opt_string(c)?,
                "email_types" => e.email_types = r.type_list(c, "email_type")?,
                _ => return None,
            }
            Some(())
        })
    }

    fn phone(&mut self, c: &Start<'a>, p: &mut Phone) -> Option<()> {
        let [preferred, preferred_sms, segment_type] =
            c.attrs(["preferred", "preferred_sms", "segment_type"])?;
        p.preferred = bool_attr(preferred)?;
        p.preferred_sms = bool_attr(preferred_sms)?;
        p.segment_type = self.non_empty(segment_type);
        self.segment(c, PHONE_CHILDREN, p, |r, c, p| {
            match c.name {
                "phone_number" => p.phone_number = r.req_string(c)?,
                "phone_types" => p.phone_types = r.type_list(c, "phone_type")?,
                _ => return None,
            }
            Some(())
        })
    }

    fn identifier(&mut self, c: &Start<'a>, id: &mut UserIdentifier) -> Option<()> {
        let [segment_type] = c.attrs(["segment_type"])?;
        id.segment_type = self.non_empty(segment_type);
        self.segment(c, IDENTIFIER_CHILDREN, id, |r, c, id| {
            match c.name {
                "id_type" => id.id_type = r.code_value(c)?,
                "value" => id.value = r.req_string(c)?,
                "note" => id.note = r.opt_string(c)?,
                "status" => id.status = r.opt_string(c)?,
                _ => return None,
            }
            Some(())
        })
    }

    fn block(&mut self, c: &Start<'a>, b: &mut UserBlock) -> Option<()> {
        let [segment_type] = c.attrs(["segment_type"])?;
        b.segment_type = self.non_empty(segment_type);
        self.segment(c, BLOCK_CHILDREN, b, |r, c, b| {
            match c.name {
                "block_type" => b.block_type = r.opt_code(c)?,
                "block_description" => b.block_description = r.code_value(c)?,
                "block_status" => b.block_status = r.opt_string(c)?,
                "block_note" => b.block_note = r.opt_string(c)?,
                "created_by" => b.created_by = r.opt_string(c)?,
                "created_date" => b.created_date = r.date_time(c)?,
                "expiry_date" => b.expiry_date = r.date_time(c)?,
                "item_loan_id" => b.item_loan_id = r.opt_string(c)?,
                _ => return None,
            }
            Some(())
        })
    }

    fn note(&mut self, c: &Start<'a>, note: &mut UserNote) -> Option<()> {
        let [segment_type] = c.attrs(["segment_type"])?;
        note.segment_type = self.non_empty(segment_type);
        let mut n = (note, [false; 2]);
        self.segment(c, NOTE_CHILDREN, &mut n, |r, c, (n, flags)| {
            match c.name {
                "note_type" => n.note_type = r.code_value(c)?,
                "note_text" => n.note_text = r.opt_string(c)?,
                "user_viewable" => {
                    flags[0] = true;
                    n.user_viewable = r.boolean(c)?;
                }
                "popup_note" => {
                    flags[1] = true;
                    n.popup_note = r.boolean(c)?;
                }
                "created_by" => n.created_by = r.opt_string(c)?,
                "created_date" => n.created_date = r.date_time(c)?,
                _ => return None,
            }
            Some(())
        })?;
        // Both flags are mandatory; a missing one is reported.
        (n.1 == [true; 2]).then_some(())
    }

    fn statistic(&mut self, c: &Start<'a>, s: &mut UserStatistic) -> Option<()> {
        let [segment_type] = c.attrs(["segment_type"])?;
        s.segment_type = self.non_empty(segment_type);
        self.segment(c, STATISTIC_CHILDREN, s, |r, c, s| {
            match c.name {
                "statistic_category" => s.statistic_category = r.code_value(c)?,
                "category_type" => s.category_type = r.opt_code(c)?,
                "statistic_note" => s.statistic_note = r.opt_string(c)?,
                _ => return None,
            }
            Some(())
        })
    }

    fn rs_library(&mut self, c: &Start<'a>, code: &mut CodeValue) -> Option<()> {
        if !c.attrs.is_empty() {
            return None;
        }
        self.segment(c, RS_LIBRARY_CHILDREN, code, |r, c, code| {
            *code = r.opt_code(c)??;
            Some(())
        })
    }

    fn library_notice(&mut self, c: &Start<'a>, n: &mut LibraryNotice) -> Option<()> {
        if !c.attrs.is_empty() {
            return None;
        }
        self.segment(c, LIBRARY_NOTICE_CHILDREN, n, |r, c, n| {
            match c.name {
                "code" => n.code = r.opt_code(c)?,
                "value" => n.value = Some(r.boolean(c)?),
                _ => return None,
            }
            Some(())
        })
    }
}

// ---- scanning eight bytes at a time (one `u64`, no SIMD, no unsafe) ----------------------

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The eight bytes at `b[i..]`, when there are eight.
fn word_at(b: &[u8], i: usize) -> Option<u64> {
    let word: [u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(word))
}

/// The high bit of every byte of `word` equal to `c`: exact up to the first such byte (a
/// borrow can mark bytes after it, never before), which is all the callers look at.
fn bytes_equal(word: u64, c: u8) -> u64 {
    let x = word ^ (ONES * u64::from(c));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The first byte at or after `i` that `stop` picks, or `b.len()`: eight bytes at a time
/// while there are eight, through `marks` (a word's mask whose lowest set bit lies in the
/// first byte `stop` picks, zero when none does), then byte by byte.
#[inline(always)]
fn first_stop(
    b: &[u8],
    mut i: usize,
    marks: impl Fn(u64) -> u64,
    stop: impl Fn(u8) -> bool,
) -> usize {
    while let Some(word) = word_at(b, i) {
        let mask = marks(word);
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + b
        .get(i..)
        .map_or(0, |rest| rest.iter().take_while(|&&c| !stop(c)).count())
}

/// The first byte at or after `i` that is not a space, or `b.len()`.
fn skip_spaces(b: &[u8], i: usize) -> usize {
    // Any bit left after taking the spaces away lies in a byte that is not one.
    first_stop(b, i, |word| word ^ (ONES * u64::from(b' ')), |c| c != b' ')
}

/// The high bit of every byte of `word` strictly between `low` and `high` (both at most
/// 128; a byte of 128 or more never is), exactly.
fn bytes_between(word: u64, low: u8, high: u8) -> u64 {
    let seven = word & (ONES * 0x7f);
    let below_high = (ONES * (127 + u64::from(high))).wrapping_sub(seven);
    let above_low = seven + ONES * (127 - u64::from(low));
    below_high & above_low & !word & HIGHS
}

/// A start tag's name byte: an ASCII lowercase letter, a digit or `_`.
fn is_name_byte(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'
}

/// The first byte at or after `i` that is not a name byte ([`is_name_byte`]), or `b.len()`.
fn name_end(b: &[u8], i: usize) -> usize {
    let marks = |word| {
        let name = bytes_between(word, b'a' - 1, b'z' + 1)
            | bytes_between(word, b'0' - 1, b'9' + 1)
            | bytes_between(word, b'_' - 1, b'_' + 1);
        !name & HIGHS
    };
    first_stop(b, i, marks, |c| !is_name_byte(c))
}

/// The first byte at or after `i` that text reading looks at (`<`, `&`, `]`, a line
/// feed or a carriage return), or `b.len()`.
fn text_stop(b: &[u8], i: usize) -> usize {
    let marks = |word| {
        bytes_equal(word, b'<')
            | bytes_equal(word, b'&')
            | bytes_equal(word, b']')
            | bytes_equal(word, b'\n')
            | bytes_equal(word, b'\r')
    };
    first_stop(b, i, marks, |c| {
        matches!(c, b'<' | b'&' | b']' | b'\n' | b'\r')
    })
}

/// One of the five predefined entity references at the start of `b`: its character and
/// length.
fn predefined(b: &[u8]) -> Option<(char, usize)> {
    [
        (&b"&lt;"[..], '<'),
        (b"&gt;", '>'),
        (b"&amp;", '&'),
        (b"&quot;", '"'),
        (b"&apos;", '\''),
    ]
    .into_iter()
    .find(|(r, _)| b.starts_with(r))
    .map(|(r, c)| (c, r.len()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Bytes that matter to the scans, and any other.
    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            4 => prop::sample::select(b" <>&]\n\r\t_/az09AZ".to_vec()),
            1 => any::<u8>(),
        ];
        prop::collection::vec(byte, 0..40)
    }

    /// The first index at or after `i` whose byte `stop` picks, byte by byte.
    fn naive(b: &[u8], i: usize, stop: impl Fn(u8) -> bool) -> usize {
        i + b[i..].iter().take_while(|&&c| !stop(c)).count()
    }

    proptest! {
        /// Eight bytes at a time finds what one at a time finds, from every offset.
        #[test]
        fn word_scans_agree_with_byte_scans(b in bytes()) {
            for i in 0..=b.len() {
                prop_assert_eq!(skip_spaces(&b, i), naive(&b, i, |c| c != b' '));
                prop_assert_eq!(name_end(&b, i), naive(&b, i, |c| !is_name_byte(c)));
                prop_assert_eq!(
                    text_stop(&b, i),
                    naive(&b, i, |c| matches!(c, b'<' | b'&' | b']' | b'\n' | b'\r'))
                );
            }
        }
    }

    #[test]
    fn bytes_between_is_exact_on_every_byte() {
        for c in 0..=255u8 {
            for lane in 0..8 {
                // The byte alone, and among bytes that are in range, in every lane.
                for filler in [0u8, b'm'] {
                    let mut word = [filler; 8];
                    word[lane] = c;
                    let mask = bytes_between(u64::from_le_bytes(word), b'a' - 1, b'z' + 1);
                    let marked = mask >> (lane * 8 + 7) & 1 == 1;
                    assert_eq!(marked, c.is_ascii_lowercase(), "{c:#04x} in lane {lane}");
                }
            }
        }
    }
}
