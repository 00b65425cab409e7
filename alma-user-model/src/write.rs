//! The streaming writer: `<?xml …?>`, `<users>`, one `<user>` at a time, `</users>`.
//!
//! Each user is first rendered into a reused buffer and checked; only a user that renders
//! completely reaches the output, so a bad value never leaves half a record behind.

use std::fmt;
use std::io::{self, Write};
use std::ops::Range;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use crate::chars::first_illegal_xml_char;
use crate::model::{
    Address, CodeValue, ContactInfo, Email, LibraryNotice, Phone, User, UserBlock, UserIdentifier,
    UserNote, UserStatistic,
};
use crate::schema::CodeLengths;

/// Why a user (or the document) could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A text value holds a character XML 1.0 forbids (even as a character reference).
    #[error(
        "user {primary_id:?}: field {field} has a character XML forbids (U+{codepoint:04X}) as character {} of the value", position + 1
    )]
    IllegalChar {
        /// The user's primary id.
        primary_id: String,
        /// The field path, e.g. `contact_info/emails/email[1]/email_address`.
        field: String,
        /// The offending code point.
        codepoint: u32,
        /// Its 0-based character index in the value.
        position: usize,
    },
    /// A text value is longer than the schema allows.
    #[error(
        "user {primary_id:?}: field {field} is {length} characters long; the schema allows {max}"
    )]
    TooLong {
        /// The user's primary id.
        primary_id: String,
        /// The field path.
        field: String,
        /// The value's length in characters.
        length: usize,
        /// The schema's maximum.
        max: usize,
    },
    /// The output could not be written.
    #[error("could not write the XML output")]
    Io(#[from] io::Error),
}

/// Options for [`UserXmlWriter`].
#[derive(Debug, Clone, Default)]
pub struct WriterOptions {
    /// A comment written right after the XML declaration, for example the tool version and
    /// config hash so a job report can be traced back to the run. `--` is replaced.
    pub comment: Option<String>,
}

/// Writes a `<users>` document one user at a time; memory does not grow with the number of
/// users.
///
/// ```
/// use alma_user_model::{User, UserXmlWriter, WriterOptions};
/// let mut w = UserXmlWriter::new(Vec::new(), &WriterOptions::default())?;
/// w.write_user(&User::new("jdoe"))?;
/// let xml = String::from_utf8(w.finish()?).unwrap();
/// assert!(xml.contains("<primary_id>jdoe</primary_id>"));
/// # Ok::<(), alma_user_model::WriteError>(())
/// ```
pub struct UserXmlWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    users: u64,
    bytes: u64,
}

impl<W: Write> UserXmlWriter<W> {
    /// Writes the declaration, the optional comment and `<users>`.
    pub fn new(mut out: W, options: &WriterOptions) -> Result<Self, WriteError> {
        let mut head = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        if let Some(comment) = &options.comment {
            let clean: String = comment
                .replace("--", "- -")
                .chars()
                .filter(|c| first_illegal_xml_char(&c.to_string()).is_none())
                .collect();
            head.push_str("<!-- ");
            head.push_str(clean.trim_end_matches('-'));
            head.push_str(" -->\n");
        }
        head.push_str("<users>\n");
        out.write_all(head.as_bytes())?;
        Ok(UserXmlWriter {
            out,
            buf: Vec::with_capacity(4096),
            users: 0,
            bytes: head.len() as u64,
        })
    }

    /// Checks and writes one `<user>`. On error nothing of this user is written and the
    /// document stays well-formed.
    pub fn write_user(&mut self, user: &User) -> Result<(), WriteError> {
        self.buf.clear();
        render_user(user, &mut self.buf)?;
        self.out.write_all(&self.buf)?;
        self.users += 1;
        self.bytes += self.buf.len() as u64;
        Ok(())
    }

    /// Users written so far.
    pub fn users_written(&self) -> u64 {
        self.users
    }

    /// Bytes written so far (without the closing tag).
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Writes `</users>`, flushes and returns the inner writer.
    pub fn finish(mut self) -> Result<W, WriteError> {
        self.out.write_all(b"</users>\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Renders one `<user>` element (indented as inside `<users>`) and appends it to `out`.
/// `out` is left unchanged when the user cannot be written.
pub fn render_user(user: &User, out: &mut Vec<u8>) -> Result<(), WriteError> {
    render_user_marked(user, out).map(drop)
}

/// Where the user's own `<expiry_date>` and `<purge_date>` lines (indent and newline
/// included) lie in a rendering: the dates that move every run without the person changing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MovingDates {
    /// The `<expiry_date>` line's byte range, when the user has one.
    pub expiry: Option<Range<usize>>,
    /// The `<purge_date>` line's byte range, when the user has one.
    pub purge: Option<Range<usize>>,
}

/// Like [`render_user`] (the same bytes), and says where the moving dates are, as absolute
/// offsets in `out`: the bytes without those ranges are the rendering of the same user
/// without `expiry_date` and `purge_date`, so a content hash can skip them without a
/// second render.
///
/// ```
/// use alma_user_model::{User, render_user_marked};
/// use chrono::NaiveDate;
/// let user = User::new("jdoe").with_expiry_date(NaiveDate::from_ymd_opt(2026, 9, 30).unwrap());
/// let mut out = Vec::new();
/// let dates = render_user_marked(&user, &mut out)?;
/// let line = &out[dates.expiry.expect("an expiry date")];
/// assert_eq!(line, b"    <expiry_date>2026-09-30Z</expiry_date>\n");
/// assert_eq!(dates.purge, None);
/// # Ok::<(), alma_user_model::WriteError>(())
/// ```
pub fn render_user_marked(user: &User, out: &mut Vec<u8>) -> Result<MovingDates, WriteError> {
    let start = out.len();
    let mut e = Emitter {
        out,
        depth: 1,
        path: Vec::with_capacity(4),
        primary_id: &user.primary_id,
        marks: MovingDates::default(),
    };
    match e.user(user) {
        Ok(()) => Ok(e.marks),
        Err(err) => {
            out.truncate(start);
            Err(err)
        }
    }
}

/// Formats an `xs:date` the way Ex Libris' own converters do: `YYYY-MM-DDZ`.
pub fn format_date(date: NaiveDate) -> String {
    let mut text = crate::dates::format_iso_date(date);
    text.push('Z');
    text
}

/// Formats an `xs:dateTime` in UTC with milliseconds, e.g. `2019-12-18T14:36:48.659Z`.
pub fn format_date_time(dt: DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Millis, true)
}

struct Emitter<'a> {
    out: &'a mut Vec<u8>,
    depth: usize,
    /// Open elements below `<user>`: name and index in their list.
    path: Vec<Step>,
    primary_id: &'a str,
    /// Where the user's own moving dates were written.
    marks: MovingDates,
}

/// One step of a field path: `address` or `address[0]`.
#[derive(Clone, Copy)]
struct Step(&'static str, Option<usize>);

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(i) => write!(f, "{}[{i}]", self.0),
            None => f.write_str(self.0),
        }
    }
}

impl Emitter<'_> {
    /// The field path of `name` below the open elements; built only for an error.
    fn field_path(&self, name: fmt::Arguments<'_>) -> String {
        let mut p = String::new();
        for step in &self.path {
            p.push_str(&step.to_string());
            p.push('/');
        }
        p.push_str(&name.to_string());
        p
    }

    fn check(
        &self,
        name: fmt::Arguments<'_>,
        value: &str,
        max: Option<usize>,
    ) -> Result<(), WriteError> {
        if let Some((position, c)) = first_illegal_xml_char(value) {
            return Err(WriteError::IllegalChar {
                primary_id: self.primary_id.to_owned(),
                field: self.field_path(name),
                codepoint: c as u32,
                position,
            });
        }
        // The byte length bounds the character count: count only when it can matter.
        if let Some(max) = max.filter(|&max| value.len() > max) {
            let length = value.chars().count();
            if length > max {
                return Err(WriteError::TooLong {
                    primary_id: self.primary_id.to_owned(),
                    field: self.field_path(name),
                    length,
                    max,
                });
            }
        }
        Ok(())
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.extend_from_slice(b"  ");
        }
    }

    fn open(&mut self, name: &'static str, attrs: &[(&str, &str)]) -> Result<(), WriteError> {
        self.open_as(Step(name, None), attrs)
    }

    fn open_indexed(
        &mut self,
        name: &'static str,
        index: usize,
        attrs: &[(&str, &str)],
    ) -> Result<(), WriteError> {
        self.open_as(Step(name, Some(index)), attrs)
    }

    /// Opens `<name attrs>`; `step` is its name and index in field paths (`address[0]`).
    fn open_as(&mut self, step: Step, attrs: &[(&str, &str)]) -> Result<(), WriteError> {
        for (key, value) in attrs {
            self.check(format_args!("{step}/@{key}"), value, None)?;
        }
        self.indent();
        self.out.push(b'<');
        self.out.extend_from_slice(step.0.as_bytes());
        for (key, value) in attrs {
            self.out.push(b' ');
            self.out.extend_from_slice(key.as_bytes());
            self.out.extend_from_slice(b"=\"");
            escape_into(value, true, self.out);
            self.out.push(b'"');
        }
        self.out.extend_from_slice(b">\n");
        self.depth += 1;
        self.path.push(step);
        Ok(())
    }

    fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.path.pop();
        self.indent();
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b">\n");
    }

    fn empty(&mut self, name: &str) {
        self.indent();
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"/>\n");
    }

    fn text(&mut self, name: &str, value: &str, max: Option<usize>) -> Result<(), WriteError> {
        self.check(format_args!("{name}"), value, max)?;
        self.indent();
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'>');
        escape_into(value, false, self.out);
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b">\n");
        Ok(())
    }

    fn opt_text(
        &mut self,
        name: &str,
        value: &Option<String>,
        max: Option<usize>,
    ) -> Result<(), WriteError> {
        match value {
            Some(v) if !v.is_empty() => self.text(name, v, max),
            _ => Ok(()),
        }
    }

    fn code(
        &mut self,
        name: &'static str,
        value: &CodeValue,
        max: CodeLengths,
    ) -> Result<(), WriteError> {
        self.code_at(Step(name, None), value, max)
    }

    /// Writes `<name desc="…">code</name>`; `step` is its name and index in field paths.
    fn code_at(
        &mut self,
        step: Step,
        value: &CodeValue,
        max: CodeLengths,
    ) -> Result<(), WriteError> {
        let name = step.0;
        self.check(format_args!("{step}"), &value.code, max.code)?;
        self.indent();
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
        if let Some(desc) = value.desc.as_deref().filter(|d| !d.is_empty()) {
            self.check(format_args!("{step}/@desc"), desc, max.desc)?;
            self.out.extend_from_slice(b" desc=\"");
            escape_into(desc, true, self.out);
            self.out.push(b'"');
        }
        self.out.push(b'>');
        escape_into(&value.code, false, self.out);
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b">\n");
        Ok(())
    }

    fn opt_code(
        &mut self,
        name: &'static str,
        value: &Option<CodeValue>,
        max: CodeLengths,
    ) -> Result<(), WriteError> {
        match value {
            Some(v) if !v.code.is_empty() => self.code(name, v, max),
            _ => Ok(()),
        }
    }

    fn opt_date(&mut self, name: &str, value: Option<NaiveDate>) -> Result<(), WriteError> {
        match value {
            Some(d) => self.text(name, &format_date(d), None),
            None => Ok(()),
        }
    }

    fn opt_date_time(
        &mut self,
        name: &str,
        value: Option<DateTime<Utc>>,
    ) -> Result<(), WriteError> {
        match value {
            Some(d) => self.text(name, &format_date_time(d), None),
            None => Ok(()),
        }
    }

    fn bool(&mut self, name: &str, value: bool) -> Result<(), WriteError> {
        self.text(name, if value { "true" } else { "false" }, None)
    }

    fn segment_attrs<'s>(
        segment_type: &'s Option<String>,
        attrs: &mut Vec<(&'static str, &'s str)>,
    ) {
        if let Some(s) = segment_type.as_deref().filter(|s| !s.is_empty()) {
            attrs.push(("segment_type", s));
        }
    }

    fn check_segment_type(
        &self,
        segment_type: &Option<String>,
        item: &str,
        index: usize,
        max: Option<usize>,
    ) -> Result<(), WriteError> {
        match segment_type {
            Some(s) => self.check(format_args!("{item}[{index}]/@segment_type"), s, max),
            None => Ok(()),
        }
    }

    fn user(&mut self, u: &User) -> Result<(), WriteError> {
        self.indent();
        self.out.extend_from_slice(b"<user>\n");
        self.depth += 1;
        if let Some(rt) = u.record_type {
            self.text("record_type", rt.code(), None)?;
        }
        if !u.primary_id.is_empty() {
            self.text("primary_id", &u.primary_id, max_len!("primary_id"))?;
        }
        self.opt_text("first_name", &u.first_name, max_len!("first_name"))?;
        self.opt_text("middle_name", &u.middle_name, max_len!("middle_name"))?;
        self.opt_text("last_name", &u.last_name, max_len!("last_name"))?;
        self.opt_text("pin_number", &u.pin_number, max_len!("pin_number"))?;
        self.opt_code("user_title", &u.user_title, code_len!("user_title"))?;
        self.opt_code("job_category", &u.job_category, code_len!("job_category"))?;
        self.opt_text(
            "job_description",
            &u.job_description,
            max_len!("job_description"),
        )?;
        self.opt_code("gender", &u.gender, code_len!("gender"))?;
        self.opt_code("user_group", &u.user_group, code_len!("user_group"))?;
        if let Some(c) = u.campus_code.as_ref().filter(|c| !c.code.is_empty()) {
            self.code("campus_code", c, code_len!("campus_code"))?;
        }
        self.opt_text("web_site_url", &u.web_site_url, max_len!("web_site_url"))?;
        self.opt_code(
            "cataloger_level",
            &u.cataloger_level,
            code_len!("cataloger_level"),
        )?;
        self.opt_code(
            "preferred_language",
            &u.preferred_language,
            code_len!("preferred_language"),
        )?;
        self.opt_date("birth_date", u.birth_date)?;
        let at = self.out.len();
        self.opt_date("expiry_date", u.expiry_date)?;
        self.marks.expiry = u.expiry_date.map(|_| at..self.out.len());
        let at = self.out.len();
        self.opt_date("purge_date", u.purge_date)?;
        self.marks.purge = u.purge_date.map(|_| at..self.out.len());
        if let Some(at) = u.account_type {
            self.text("account_type", at.code(), None)?;
        }
        self.opt_text("external_id", &u.external_id, max_len!("external_id"))?;
        if let Some(st) = u.status {
            self.text("status", st.code(), None)?;
        }
        self.contact_info(&u.contact_info)?;
        if !u.user_identifiers.is_empty() {
            self.open("user_identifiers", &[])?;
            for (i, id) in u.user_identifiers.iter().enumerate() {
                self.identifier(i, id)?;
            }
            self.close("user_identifiers");
        }
        if !u.user_blocks.is_empty() {
            self.open("user_blocks", &[])?;
            for (i, b) in u.user_blocks.iter().enumerate() {
                self.block(i, b)?;
            }
            self.close("user_blocks");
        }
        if !u.user_notes.is_empty() {
            self.open("user_notes", &[])?;
            for (i, n) in u.user_notes.iter().enumerate() {
                self.note(i, n)?;
            }
            self.close("user_notes");
        }
        if !u.user_statistics.is_empty() {
            self.open("user_statistics", &[])?;
            for (i, s) in u.user_statistics.iter().enumerate() {
                self.statistic(i, s)?;
            }
            self.close("user_statistics");
        }
        if !u.rs_libraries.is_empty() {
            self.open("rs_libraries", &[])?;
            for (i, lib) in u.rs_libraries.iter().enumerate() {
                self.open_indexed("rs_library", i, &[])?;
                if !lib.code.is_empty() {
                    self.code("code", lib, code_len!("rs_libraries/rs_library/code"))?;
                }
                self.close("rs_library");
            }
            self.close("rs_libraries");
        }
        if !u.library_notices.is_empty() {
            self.open("library_notices", &[])?;
            for (i, n) in u.library_notices.iter().enumerate() {
                self.library_notice(i, n)?;
            }
            self.close("library_notices");
        }
        self.opt_text(
            "pref_first_name",
            &u.pref_first_name,
            max_len!("pref_first_name"),
        )?;
        self.opt_text(
            "pref_middle_name",
            &u.pref_middle_name,
            max_len!("pref_middle_name"),
        )?;
        self.opt_text(
            "pref_last_name",
            &u.pref_last_name,
            max_len!("pref_last_name"),
        )?;
        self.opt_text(
            "pref_name_suffix",
            &u.pref_name_suffix,
            max_len!("pref_name_suffix"),
        )?;
        self.depth -= 1;
        self.indent();
        self.out.extend_from_slice(b"</user>\n");
        Ok(())
    }

    fn contact_info(&mut self, c: &ContactInfo) -> Result<(), WriteError> {
        if c.is_empty() {
            return Ok(());
        }
        self.open("contact_info", &[])?;
        if !c.addresses.is_empty() {
            self.open("addresses", &[])?;
            for (i, a) in c.addresses.iter().enumerate() {
                self.address(i, a)?;
            }
            self.close("addresses");
        }
        if !c.emails.is_empty() {
            self.open("emails", &[])?;
            for (i, e) in c.emails.iter().enumerate() {
                self.email(i, e)?;
            }
            self.close("emails");
        }
        if !c.phones.is_empty() {
            self.open("phones", &[])?;
            for (i, p) in c.phones.iter().enumerate() {
                self.phone(i, p)?;
            }
            self.close("phones");
        }
        self.close("contact_info");
        Ok(())
    }

    fn type_list(
        &mut self,
        list: &'static str,
        item: &'static str,
        types: &[CodeValue],
        max: CodeLengths,
    ) -> Result<(), WriteError> {
        if types.is_empty() {
            self.empty(list);
            return Ok(());
        }
        self.open(list, &[])?;
        for (i, t) in types.iter().enumerate() {
            self.code_at(Step(item, Some(i)), t, max)?;
        }
        self.close(list);
        Ok(())
    }

    fn address(&mut self, i: usize, a: &Address) -> Result<(), WriteError> {
        self.check_segment_type(
            &a.segment_type,
            "address",
            i,
            max_len!("contact_info/addresses/address/@segment_type"),
        )?;
        let mut attrs = vec![("preferred", if a.preferred { "true" } else { "false" })];
        Self::segment_attrs(&a.segment_type, &mut attrs);
        self.open_indexed("address", i, &attrs)?;
        self.opt_text("line1", &a.line1, None)?;
        self.opt_text(
            "line2",
            &a.line2,
            max_len!("contact_info/addresses/address/line2"),
        )?;
        self.opt_text(
            "line3",
            &a.line3,
            max_len!("contact_info/addresses/address/line3"),
        )?;
        self.opt_text(
            "line4",
            &a.line4,
            max_len!("contact_info/addresses/address/line4"),
        )?;
        self.opt_text(
            "line5",
            &a.line5,
            max_len!("contact_info/addresses/address/line5"),
        )?;
        self.opt_text(
            "city",
            &a.city,
            max_len!("contact_info/addresses/address/city"),
        )?;
        self.opt_text(
            "state_province",
            &a.state_province,
            max_len!("contact_info/addresses/address/state_province"),
        )?;
        self.opt_text(
            "postal_code",
            &a.postal_code,
            max_len!("contact_info/addresses/address/postal_code"),
        )?;
        self.opt_code(
            "country",
            &a.country,
            code_len!("contact_info/addresses/address/country"),
        )?;
        self.opt_text(
            "address_note",
            &a.address_note,
            max_len!("contact_info/addresses/address/address_note"),
        )?;
        self.opt_date("start_date", a.start_date)?;
        self.opt_date("end_date", a.end_date)?;
        self.type_list(
            "address_types",
            "address_type",
            &a.address_types,
            code_len!("contact_info/addresses/address/address_types/address_type"),
        )?;
        self.close("address");
        Ok(())
    }

    fn email(&mut self, i: usize, e: &Email) -> Result<(), WriteError> {
        self.check_segment_type(
            &e.segment_type,
            "email",
            i,
            max_len!("contact_info/emails/email/@segment_type"),
        )?;
        let mut attrs = vec![("preferred", if e.preferred { "true" } else { "false" })];
        Self::segment_attrs(&e.segment_type, &mut attrs);
        self.open_indexed("email", i, &attrs)?;
        self.text(
            "email_address",
            &e.email_address,
            max_len!("contact_info/emails/email/email_address"),
        )?;
        self.opt_text(
            "description",
            &e.description,
            max_len!("contact_info/emails/email/description"),
        )?;
        self.type_list(
            "email_types",
            "email_type",
            &e.email_types,
            code_len!("contact_info/emails/email/email_types/email_type"),
        )?;
        self.close("email");
        Ok(())
    }

    fn phone(&mut self, i: usize, p: &Phone) -> Result<(), WriteError> {
        self.check_segment_type(
            &p.segment_type,
            "phone",
            i,
            max_len!("contact_info/phones/phone/@segment_type"),
        )?;
        let mut attrs = vec![
            ("preferred", if p.preferred { "true" } else { "false" }),
            (
                "preferred_sms",
                if p.preferred_sms { "true" } else { "false" },
            ),
        ];
        Self::segment_attrs(&p.segment_type, &mut attrs);
        self.open_indexed("phone", i, &attrs)?;
        self.text(
            "phone_number",
            &p.phone_number,
            max_len!("contact_info/phones/phone/phone_number"),
        )?;
        self.type_list(
            "phone_types",
            "phone_type",
            &p.phone_types,
            code_len!("contact_info/phones/phone/phone_types/phone_type"),
        )?;
        self.close("phone");
        Ok(())
    }

    fn identifier(&mut self, i: usize, id: &UserIdentifier) -> Result<(), WriteError> {
        self.check_segment_type(
            &id.segment_type,
            "user_identifier",
            i,
            max_len!("user_identifiers/user_identifier/@segment_type"),
        )?;
        let mut attrs = Vec::new();
        Self::segment_attrs(&id.segment_type, &mut attrs);
        self.open_indexed("user_identifier", i, &attrs)?;
        self.code(
            "id_type",
            &id.id_type,
            code_len!("user_identifiers/user_identifier/id_type"),
        )?;
        self.text(
            "value",
            &id.value,
            max_len!("user_identifiers/user_identifier/value"),
        )?;
        self.opt_text(
            "note",
            &id.note,
            max_len!("user_identifiers/user_identifier/note"),
        )?;
        self.opt_text(
            "status",
            &id.status,
            max_len!("user_identifiers/user_identifier/status"),
        )?;
        self.close("user_identifier");
        Ok(())
    }

    fn block(&mut self, i: usize, b: &UserBlock) -> Result<(), WriteError> {
        self.check_segment_type(
            &b.segment_type,
            "user_block",
            i,
            max_len!("user_blocks/user_block/@segment_type"),
        )?;
        let mut attrs = Vec::new();
        Self::segment_attrs(&b.segment_type, &mut attrs);
        self.open_indexed("user_block", i, &attrs)?;
        self.opt_code(
            "block_type",
            &b.block_type,
            code_len!("user_blocks/user_block/block_type"),
        )?;
        self.code(
            "block_description",
            &b.block_description,
            code_len!("user_blocks/user_block/block_description"),
        )?;
        self.opt_text(
            "block_status",
            &b.block_status,
            max_len!("user_blocks/user_block/block_status"),
        )?;
        self.opt_text(
            "block_note",
            &b.block_note,
            max_len!("user_blocks/user_block/block_note"),
        )?;
        self.opt_text(
            "created_by",
            &b.created_by,
            max_len!("user_blocks/user_block/created_by"),
        )?;
        self.opt_date_time("created_date", b.created_date)?;
        self.opt_date_time("expiry_date", b.expiry_date)?;
        self.opt_text("item_loan_id", &b.item_loan_id, None)?;
        self.close("user_block");
        Ok(())
    }

    fn note(&mut self, i: usize, n: &UserNote) -> Result<(), WriteError> {
        self.check_segment_type(
            &n.segment_type,
            "user_note",
            i,
            max_len!("user_notes/user_note/@segment_type"),
        )?;
        let mut attrs = Vec::new();
        Self::segment_attrs(&n.segment_type, &mut attrs);
        self.open_indexed("user_note", i, &attrs)?;
        self.code(
            "note_type",
            &n.note_type,
            code_len!("user_notes/user_note/note_type"),
        )?;
        self.opt_text(
            "note_text",
            &n.note_text,
            max_len!("user_notes/user_note/note_text"),
        )?;
        self.bool("user_viewable", n.user_viewable)?;
        self.bool("popup_note", n.popup_note)?;
        self.opt_text(
            "created_by",
            &n.created_by,
            max_len!("user_notes/user_note/created_by"),
        )?;
        self.opt_date_time("created_date", n.created_date)?;
        self.close("user_note");
        Ok(())
    }

    fn statistic(&mut self, i: usize, s: &UserStatistic) -> Result<(), WriteError> {
        self.check_segment_type(
            &s.segment_type,
            "user_statistic",
            i,
            max_len!("user_statistics/user_statistic/@segment_type"),
        )?;
        let mut attrs = Vec::new();
        Self::segment_attrs(&s.segment_type, &mut attrs);
        self.open_indexed("user_statistic", i, &attrs)?;
        self.code(
            "statistic_category",
            &s.statistic_category,
            code_len!("user_statistics/user_statistic/statistic_category"),
        )?;
        self.opt_code(
            "category_type",
            &s.category_type,
            code_len!("user_statistics/user_statistic/category_type"),
        )?;
        self.opt_text(
            "statistic_note",
            &s.statistic_note,
            max_len!("user_statistics/user_statistic/statistic_note"),
        )?;
        self.close("user_statistic");
        Ok(())
    }

    fn library_notice(&mut self, i: usize, n: &LibraryNotice) -> Result<(), WriteError> {
        self.open_indexed("library_notice", i, &[])?;
        if let Some(code) = n.code.as_ref().filter(|c| !c.code.is_empty()) {
            self.code(
                "code",
                code,
                code_len!("library_notices/library_notice/code"),
            )?;
        }
        if let Some(v) = n.value {
            self.bool("value", v)?;
        }
        self.close("library_notice");
        Ok(())
    }
}

/// Escapes text for element content (`attr == false`) or a double-quoted attribute value.
/// CR (and in attributes TAB and LF) become character references so they survive parsing.
fn escape_into(value: &str, attr: bool, out: &mut Vec<u8>) {
    let bytes = value.as_bytes();
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let rep: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\r' => b"&#13;",
            b'"' if attr => b"&quot;",
            b'\n' if attr => b"&#10;",
            b'\t' if attr => b"&#9;",
            _ => continue,
        };
        out.extend_from_slice(&bytes[last..i]);
        out.extend_from_slice(rep);
        last = i + 1;
    }
    out.extend_from_slice(&bytes[last..]);
}
