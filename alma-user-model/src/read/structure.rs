//! The reader's schema checks: paths and findings, elements in or out of the schema's order,
//! attributes, values of the schema's types and lengths, ignored and unknown elements.

use std::fmt::Write as _;
use std::io::BufRead;

use chrono::{DateTime, NaiveDate, Utc};

use super::fast::PlainTag;
use super::{Lex, ReadError, Tok, UserReader, blank};
use crate::finding::{Finding, Position, Severity};
use crate::model::CodeValue;
use crate::schema;

impl<R: BufRead> UserReader<R> {
    // ---- findings -------------------------------------------------------------------------

    pub(super) fn push_path(&mut self, name: &str) -> usize {
        let len = self.path.len();
        if !self.path.is_empty() {
            self.path.push('/');
        }
        self.path.push_str(name);
        len
    }

    /// Appends `name[index]` to the field path; returns the length to truncate back to.
    pub(super) fn push_path_indexed(&mut self, name: &str, index: usize) -> usize {
        let len = self.push_path(name);
        self.path.push('[');
        if index < 10 {
            // The common case, without the formatting machinery.
            self.path.push(char::from(b'0' + index as u8));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(self.path, "{index}");
        }
        self.path.push(']');
        len
    }

    pub(super) fn report(
        &mut self,
        code: &str,
        severity: Severity,
        pos: Position,
        message: String,
    ) {
        let mut finding = Finding::new(code, severity, message).at(pos.line, pos.column);
        if !self.path.is_empty() {
            finding = finding.at_field(self.path.clone());
        }
        self.findings.push(finding);
    }

    /// Reports attributes outside `allowed` on the start tag just read; namespace
    /// declarations and `xsi:` schema-location hints are allowed anywhere.
    pub(super) fn check_attrs(&mut self, allowed: &[&str]) {
        if self.attr_count == 0 {
            return;
        }
        note_xsi_bindings(&self.attrs[..self.attr_count], &mut self.xsi_prefixes);
        for i in 0..self.attr_count {
            let (key, value) = &self.attrs[i];
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let pos = self.pos;
            match namespace_attribute(key, value, &self.xsi_prefixes) {
                Some(None) => {}
                Some(Some(f)) => {
                    let message = f.message;
                    self.report("E-NAMESPACE", Severity::Error, pos, message);
                }
                None => {
                    let key = key.clone();
                    self.report(
                        "E-UNKNOWN-ATTRIBUTE",
                        Severity::Error,
                        pos,
                        format!("attribute {key:?} is not declared here"),
                    );
                }
            }
        }
    }

    // ---- structure ------------------------------------------------------------------------

    /// Skips the content of the element whose start tag was just read.
    pub(super) fn skip(&mut self) -> Result<(), ReadError> {
        self.walk_content(false)
    }

    /// Reads past the content of the element whose start tag was just read, without
    /// recursion (nesting depth is the input's to choose); `lax`: as a validator assesses
    /// content it has no declaration for (see [`Self::skipped_element`]), reporting what it
    /// would check.
    fn walk_content(&mut self, lax: bool) -> Result<(), ReadError> {
        if self.empty {
            return Ok(());
        }
        let mut depth = 1usize;
        loop {
            match self.next_tok_in(true)? {
                Tok::Start if lax && GLOBAL_ELEMENTS.contains(&self.name.as_str()) => {
                    self.report_element("E-UNKNOWN-ELEMENT", Severity::Error, |name| {
                        format!(
                            "<{name}> inside an element Alma skips: a schema validator checks \
                             it against rest_user.xsd's global <{name}>; remove it"
                        )
                    });
                    self.skip()?;
                }
                Tok::Start => {
                    if lax {
                        self.typing_attrs();
                    }
                    if !self.empty {
                        depth += 1;
                    }
                }
                Tok::End => {
                    depth -= 1;
                    if depth == 0 {
                        self.text.clear();
                        return Ok(());
                    }
                }
                Tok::Text => self.text.clear(),
                Tok::Eof => return Err(self.malformed("an element is not closed")),
            }
        }
    }

    /// Moves to the next child element of a container whose start tag was read; `false` at
    /// its end tag. Text other than whitespace is reported.
    pub(super) fn next_child(&mut self, container_empty: &mut bool) -> Result<bool, ReadError> {
        if *container_empty {
            return Ok(false);
        }
        // Whatever a leaf value left behind has been used.
        self.text.clear();
        if let Lex::Fast(f) = &mut self.lex
            && let Some((tag, at)) = f.plain_tag()
        {
            // What the loop below makes of blank text and a tag without attributes.
            self.pos = f.position(at);
            self.offset = f.base + at as u64;
            return Ok(match tag {
                PlainTag::Start { name, empty } => {
                    self.empty = empty;
                    self.attr_count = 0;
                    self.name.clear();
                    self.name.push_str(&f.window[name]);
                    true
                }
                PlainTag::End => {
                    *container_empty = true;
                    false
                }
            });
        }
        loop {
            match self.next_tok_in(true)? {
                Tok::Start => return Ok(true),
                Tok::End => {
                    *container_empty = true;
                    return Ok(false);
                }
                Tok::Text => {
                    if !blank(&self.text) {
                        let pos = self.pos;
                        self.report(
                            "E-SCHEMA-TYPE",
                            Severity::Error,
                            pos,
                            "text is not allowed here, only elements".to_owned(),
                        );
                    }
                    self.text.clear();
                }
                Tok::Eof => return Err(self.malformed("an element is not closed")),
            }
        }
    }

    /// Reads the text content of the element whose start tag was just read into
    /// `self.text`; child elements are reported and skipped.
    fn leaf_text(&mut self) -> Result<(), ReadError> {
        self.text.clear();
        if self.empty {
            return Ok(());
        }
        if let Lex::Fast(f) = &mut self.lex
            && let Some((text, end)) = f.plain_leaf()
        {
            // What the loop below makes of the text and end tag, in one step.
            self.text = f.window[text].to_owned();
            self.pos = f.position(end);
            self.offset = f.base + end as u64;
            return Ok(());
        }
        loop {
            match self.next_tok()? {
                Tok::Text => {}
                Tok::End => return Ok(()),
                Tok::Start => {
                    let pos = self.pos;
                    let name = self.name.clone();
                    self.report(
                        "E-SCHEMA-TYPE",
                        Severity::Error,
                        pos,
                        format!("<{name}> inside a text value; it is skipped"),
                    );
                    let kept = std::mem::take(&mut self.text);
                    self.skip()?;
                    self.text = kept;
                }
                Tok::Eof => return Err(self.malformed("an element is not closed")),
            }
        }
    }

    pub(super) fn unknown_element(&mut self, parent: &str) -> Result<(), ReadError> {
        self.report_element("E-UNKNOWN-ELEMENT", Severity::Error, |name| {
            format!("<{name}> is not declared in <{parent}> by rest_user.xsd; it is skipped")
        });
        self.skip()
    }

    /// Reports the element whose start tag was just read, at its path, with `message` made
    /// from its name.
    fn report_element(
        &mut self,
        code: &str,
        severity: Severity,
        message: impl FnOnce(&str) -> String,
    ) {
        let pos = self.pos;
        let name = self.name.clone();
        let len = self.push_path(&name);
        let message = message(&name);
        self.report(code, severity, pos, message);
        self.path.truncate(len);
    }

    /// An element the schema does not declare that Alma is known to skip (`pref_full_name`:
    /// Berkeley's production feeds send it).
    ///
    /// A schema validator assesses such an element laxly (Xerces gives it `anyType` once the
    /// content model has failed): it takes the type an `xsi:type` or `xsi:nil` names, and
    /// validates any descendant that has a global declaration (`user`, `users`,
    /// `researcher`) against it. What is known to load is plain content (Berkeley's text),
    /// so those are errors here, wherever they are inside it; anything else is skipped as
    /// Alma skips it.
    pub(super) fn skipped_element(&mut self) -> Result<(), ReadError> {
        let pos = self.pos;
        let name = self.name.clone();
        let len = self.push_path(&name);
        self.report(
            "W-SKIPPED-ELEMENT",
            Severity::Warning,
            pos,
            format!(
                "<{name}> is not in rest_user.xsd; Alma skips it (Berkeley's production feeds \
                 send it), a schema validator rejects it: leave it out"
            ),
        );
        self.typing_attrs();
        self.walk_content(true)?;
        self.path.truncate(len);
        Ok(())
    }

    /// Reports `xsi:type` and `xsi:nil` on the start tag just read, inside content assessed
    /// laxly: a validator would check the content against the type they name.
    fn typing_attrs(&mut self) {
        if self.attr_count == 0 {
            return;
        }
        note_xsi_bindings(&self.attrs[..self.attr_count], &mut self.xsi_prefixes);
        for i in 0..self.attr_count {
            let key = &self.attrs[i].0;
            if !is_xsi_typing(key, &self.xsi_prefixes) {
                continue;
            }
            let (pos, key, element) = (self.pos, key.clone(), self.name.clone());
            self.report(
                "E-UNKNOWN-ATTRIBUTE",
                Severity::Error,
                pos,
                format!(
                    "attribute {key:?} on <{element}>, in content Alma skips: a schema \
                     validator checks the element against the type it names; remove it"
                ),
            );
        }
    }

    pub(super) fn empty_element(&mut self, pos: Position) {
        let name = self.path.rsplit('/').next().unwrap_or_default().to_owned();
        self.report(
            "I-EMPTY-ELEMENT",
            Severity::Info,
            pos,
            format!("<{name}> is empty; read as absent"),
        );
    }

    /// An optional string element: `None` (reported) when empty.
    pub(super) fn opt_string(&mut self) -> Result<Option<String>, ReadError> {
        let pos = self.pos;
        self.check_attrs(&[]);
        self.leaf_text()?;
        if self.text.is_empty() {
            self.empty_element(pos);
            return Ok(None);
        }
        Ok(Some(std::mem::take(&mut self.text)))
    }

    /// A required string element: empty stays empty (validation reports it).
    pub(super) fn req_string(&mut self) -> Result<String, ReadError> {
        self.check_attrs(&[]);
        self.leaf_text()?;
        Ok(std::mem::take(&mut self.text))
    }

    pub(super) fn code_value(&mut self) -> Result<CodeValue, ReadError> {
        self.check_attrs(&["desc"]);
        let desc = non_empty(self.attr("desc"));
        self.leaf_text()?;
        Ok(CodeValue {
            code: std::mem::take(&mut self.text),
            desc,
        })
    }

    /// Reports a code's `desc` longer than the schema allows for the element at the path.
    fn desc_length(&mut self, desc: Option<&str>, pos: Position) {
        if let Some(desc) = desc
            && let Some(max) = schema::desc_length(&self.path)
        {
            let n = schema::utf16_len(desc);
            if n > max {
                let len = self.push_path("@desc");
                self.report(
                    "E-TOO-LONG",
                    Severity::Error,
                    pos,
                    format!("{n} UTF-16 code units; the schema allows {max}"),
                );
                self.path.truncate(len);
            }
        }
    }

    /// An optional code element: `None` (reported) when the code is empty.
    pub(super) fn opt_code(&mut self) -> Result<Option<CodeValue>, ReadError> {
        let pos = self.pos;
        let value = self.code_value()?;
        if value.code.is_empty() {
            // Validation never sees a code read as absent: its `desc` is checked here.
            self.desc_length(value.desc.as_deref(), pos);
            self.empty_element(pos);
            return Ok(None);
        }
        Ok(Some(value))
    }

    /// A fixed Alma code (`record_type`, `account_type`, `status`).
    pub(super) fn fixed_code<T: Copy>(
        &mut self,
        table: &[T],
        code_of: fn(T) -> &'static str,
    ) -> Result<Option<T>, ReadError> {
        let pos = self.pos;
        let Some(value) = self.opt_code()? else {
            return Ok(None);
        };
        self.desc_length(value.desc.as_deref(), pos);
        let code = value.code.trim();
        if let Some(v) = table.iter().copied().find(|&t| code_of(t) == code) {
            return Ok(Some(v));
        }
        let allowed: Vec<&str> = table.iter().map(|&t| code_of(t)).collect();
        let same_but_case = allowed.iter().find(|a| a.eq_ignore_ascii_case(code));
        match same_but_case {
            Some(right) => self.report(
                "E-CASE",
                Severity::Error,
                pos,
                format!("code {code:?} differs only in case from Alma's {right:?}"),
            ),
            None => self.report(
                "E-CODE-VALUE",
                Severity::Error,
                pos,
                format!("code {code:?} is not one of {}", allowed.join(", ")),
            ),
        }
        Ok(None)
    }

    /// A value that is not of its simple type. An empty one (or whitespace only) is what
    /// real feeds send for "no value", and Alma reads it as absent (MIT's and Berkeley's
    /// production feeds): a warning; anything else breaks the schema.
    fn type_error(&mut self, pos: Position, what: &str) {
        let name = self.path.rsplit('/').next().unwrap_or_default().to_owned();
        if schema::collapse(&self.text).is_empty() {
            self.report(
                "W-EMPTY-VALUE",
                Severity::Warning,
                pos,
                format!(
                    "<{name}> is empty, which is not a valid {what}; Alma reads it as absent, a \
                     schema validator rejects it: leave the element out"
                ),
            );
        } else {
            self.report(
                "E-SCHEMA-TYPE",
                Severity::Error,
                pos,
                format!("<{name}> is not a valid {what}"),
            );
        }
    }

    fn no_zone(&mut self, pos: Position, what: &str) {
        let name = self.path.rsplit('/').next().unwrap_or_default().to_owned();
        self.report(
            "I-DATE-NO-Z",
            Severity::Info,
            pos,
            format!("<{name}> has no time zone; Ex Libris writes {what}"),
        );
    }

    pub(super) fn date(&mut self) -> Result<Option<NaiveDate>, ReadError> {
        let pos = self.pos;
        self.check_attrs(&[]);
        self.leaf_text()?;
        match schema::parse_date(schema::collapse(&self.text)) {
            Some(parts) => {
                if parts.zone.is_none() {
                    self.no_zone(pos, "YYYY-MM-DDZ");
                }
                Ok(naive_date(&parts))
            }
            None => {
                self.type_error(pos, "xs:date");
                Ok(None)
            }
        }
    }

    pub(super) fn date_time(&mut self) -> Result<Option<DateTime<Utc>>, ReadError> {
        let pos = self.pos;
        self.check_attrs(&[]);
        self.leaf_text()?;
        match schema::parse_date_time(schema::collapse(&self.text)) {
            Some((parts, seconds, nanos)) => {
                if parts.zone.is_none() {
                    self.no_zone(pos, "YYYY-MM-DDThh:mm:ss.sssZ");
                }
                Ok(date_time_of(&parts, seconds, nanos))
            }
            None => {
                self.type_error(pos, "xs:dateTime");
                Ok(None)
            }
        }
    }

    pub(super) fn boolean(&mut self) -> Result<Option<bool>, ReadError> {
        let pos = self.pos;
        self.check_attrs(&[]);
        self.leaf_text()?;
        let value = schema::parse_boolean(&self.text);
        if value.is_none() {
            self.type_error(pos, "xs:boolean");
        }
        Ok(value)
    }

    /// A boolean attribute of the start tag just read; absent means `false`.
    pub(super) fn bool_attr(&mut self, key: &str) -> bool {
        let Some(raw) = self.attr(key) else {
            return false;
        };
        match schema::parse_boolean(raw) {
            Some(b) => b,
            None => {
                let pos = self.pos;
                let empty = schema::collapse(raw).is_empty();
                self.report(
                    "E-SCHEMA-TYPE",
                    Severity::Error,
                    pos,
                    format!(
                        "attribute {key:?} is {}, not an xs:boolean",
                        if empty { "empty" } else { "not true/false" }
                    ),
                );
                false
            }
        }
    }

    pub(super) fn segment_type(&self) -> Option<String> {
        non_empty(self.attr("segment_type"))
    }

    /// An element the SIS load ignores (output-only, or for other APIs): not loaded, but
    /// validated against the schema as a validating loader would, then reported.
    pub(super) fn ignored(&mut self, name: &str) -> Result<(), ReadError> {
        let pos = self.pos;
        match schema::user_child(name) {
            Some(ty) => self.check_type(ty)?,
            None => self.skip()?,
        }
        self.report(
            "W-IGNORED-ELEMENT",
            Severity::Warning,
            pos,
            format!("<{name}> is output-only or ignored by the SIS load; leave it out"),
        );
        Ok(())
    }

    /// Validates the element whose start tag was just read against `ty` (attributes, content
    /// model, values) and reads past its end tag; `self.path` names the element.
    fn check_type(&mut self, ty: &'static schema::Type) -> Result<(), ReadError> {
        let pos = self.pos;
        let allowed: Vec<&str> = ty.attrs.iter().map(|a| a.name).collect();
        self.check_attrs(&allowed);
        for attr in ty.attrs {
            let Some(value) = self.attr(attr.name) else {
                continue;
            };
            if attr.ty.is_valid(value) {
                continue;
            }
            let message = match attr.ty {
                schema::Simple::String(Some(max)) => format!(
                    "{} UTF-16 code units (characters; those outside the BMP, such as emoji, \
                     count twice, as Java counts); the schema allows {max}",
                    schema::utf16_len(value)
                ),
                other => format!("attribute {:?} is not a valid {}", attr.name, other.name()),
            };
            let code = if matches!(attr.ty, schema::Simple::String(_)) {
                "E-TOO-LONG"
            } else {
                "E-SCHEMA-TYPE"
            };
            let len = self.push_path(&format!("@{}", attr.name));
            self.report(code, Severity::Error, pos, message);
            self.path.truncate(len);
        }
        let (children, sequence) = match ty.content {
            schema::Content::Simple(simple) => {
                self.leaf_text()?;
                self.check_simple(simple, pos);
                self.text.clear();
                return Ok(());
            }
            schema::Content::All(children) => (children, false),
            schema::Content::Sequence(children) => (children, true),
        };
        let element = self.path.rsplit('/').next().unwrap_or_default();
        let element = element.split('[').next().unwrap_or(element).to_owned();
        let mut counts = vec![0u32; children.len()];
        let mut next = 0usize;
        let mut closed = self.empty;
        while self.next_child(&mut closed)? {
            let child_pos = self.pos;
            let Some(i) = children.iter().position(|c| c.name == self.name) else {
                self.unknown_element(&element)?;
                continue;
            };
            let child = &children[i];
            if counts[i] >= child.max {
                let len = self.push_path(child.name);
                self.report(
                    "E-DUPLICATE-ELEMENT",
                    Severity::Error,
                    child_pos,
                    format!(
                        "<{}> may occur at most {} time(s) in <{element}>; the rest is skipped",
                        child.name, child.max
                    ),
                );
                self.path.truncate(len);
                self.skip()?;
                continue;
            }
            if sequence {
                if i < next {
                    let len = self.push_path(child.name);
                    self.report(
                        "E-SCHEMA-ORDER",
                        Severity::Error,
                        child_pos,
                        format!(
                            "<{}> comes after <{}>; <{element}> is a sequence: {}",
                            child.name,
                            children[next].name,
                            children
                                .iter()
                                .map(|c| c.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    self.path.truncate(len);
                } else {
                    for missing in (next..i).filter(|&j| counts[j] < children[j].min) {
                        self.missing_child(&element, children[missing].name, child_pos);
                    }
                    next = i;
                }
            }
            counts[i] += 1;
            let len = if child.max > 1 {
                self.push_path_indexed(child.name, counts[i] as usize - 1)
            } else {
                self.push_path(child.name)
            };
            self.check_type(child.ty)?;
            self.path.truncate(len);
        }
        let from = if sequence { next } else { 0 };
        for j in from..children.len() {
            if counts[j] < children[j].min {
                self.missing_child(&element, children[j].name, pos);
            }
        }
        Ok(())
    }

    fn missing_child(&mut self, element: &str, child: &str, pos: Position) {
        let len = self.push_path(child);
        self.report(
            "E-MANDATORY",
            Severity::Error,
            pos,
            format!("<{element}> has no <{child}>; the schema requires it"),
        );
        self.path.truncate(len);
    }

    /// A simple value's length (in UTF-16 units, as Java counts) or lexical form.
    fn check_simple(&mut self, simple: schema::Simple, pos: Position) {
        match simple {
            schema::Simple::String(Some(max)) => {
                let n = schema::utf16_len(&self.text);
                if n > max {
                    self.report(
                        "E-TOO-LONG",
                        Severity::Error,
                        pos,
                        format!(
                            "{n} UTF-16 code units (characters; those outside the BMP, such \
                             as emoji, count twice, as Java counts); the schema allows {max}"
                        ),
                    );
                }
            }
            schema::Simple::String(None) => {}
            other if other.is_valid(&self.text) => {}
            other => self.type_error(pos, other.name()),
        }
    }
}

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Remembers the prefixes `attrs` bind to the XML Schema instance namespace.
pub(super) fn note_xsi_bindings(attrs: &[(String, String)], xsi: &mut Vec<String>) {
    for (key, value) in attrs {
        if let Some(prefix) = key.strip_prefix("xmlns:")
            && value == XSI
            && !xsi.iter().any(|p| p == prefix)
        {
            xsi.push(prefix.to_owned());
        }
    }
}

/// The elements rest_user.xsd and rest_researcher.xsd declare globally: a validator checks
/// them wherever it meets them in content it assesses laxly.
const GLOBAL_ELEMENTS: [&str; 3] = ["user", "users", "researcher"];

/// `xsi:type` or `xsi:nil` (under any prefix bound to the XML Schema instance namespace):
/// attributes that give an element a type or make it nil, which a validator honours even on
/// an element it has no declaration for.
pub(super) fn is_xsi_typing(key: &str, xsi: &[String]) -> bool {
    matches!(xsi_local(key, xsi), Some("type" | "nil"))
}

/// An attribute of namespace processing: `Some(None)` for a declaration (`xmlns`,
/// `xmlns:p`) or an `xsi:` schema-location hint, which a validator accepts anywhere;
/// `Some(Some(finding))` for a default namespace that moves the elements out of Alma's
/// schema; `None` for any other attribute.
pub(super) fn namespace_attribute(
    key: &str,
    value: &str,
    xsi: &[String],
) -> Option<Option<Finding>> {
    if key == "xmlns" {
        if value.is_empty() {
            return Some(None);
        }
        return Some(Some(
            Finding::new(
                "E-NAMESPACE",
                Severity::Error,
                format!(
                    "xmlns=\"{value}\" puts the elements in a namespace, and rest_user.xsd's \
                     have none (Java: \"cvc-elt.1.a: Cannot find the declaration of element\"): \
                     remove the xmlns attribute"
                ),
            )
            .at_field("@xmlns"),
        ));
    }
    if key.starts_with("xmlns:") {
        return Some(None);
    }
    if matches!(
        xsi_local(key, xsi),
        Some("schemaLocation" | "noNamespaceSchemaLocation")
    ) {
        return Some(None);
    }
    None
}

/// The local name of `key` when its prefix is bound to the XML Schema instance namespace.
fn xsi_local<'k>(key: &'k str, xsi: &[String]) -> Option<&'k str> {
    let (prefix, local) = key.split_once(':')?;
    xsi.iter().any(|p| p == prefix).then_some(local)
}

/// The instant a parsed `xs:dateTime` names (a missing zone read as UTC), when chrono can
/// hold it.
pub(super) fn date_time_of(
    parts: &schema::DateParts,
    seconds: u32,
    nanos: u32,
) -> Option<DateTime<Utc>> {
    let date = naive_date(parts)?;
    let time = chrono::NaiveTime::from_num_seconds_from_midnight_opt(seconds % 86_400, nanos)?;
    let at = date.and_time(time) + chrono::TimeDelta::seconds(i64::from(seconds / 86_400) * 86_400)
        - chrono::TimeDelta::minutes(i64::from(parts.zone.unwrap_or(0)));
    Some(at.and_utc())
}

/// An attribute's value, owned; an empty one is read as absent (`desc`, `segment_type`).
pub(super) fn non_empty(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_owned)
}

/// The date `parts` names, when chrono can hold it (years up to ±262143).
pub(super) fn naive_date(parts: &schema::DateParts) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(i32::try_from(parts.year).ok()?, parts.month, parts.day)
}
