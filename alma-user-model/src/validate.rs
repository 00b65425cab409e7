//! Record validation: what Alma checks on a user beyond well-formed XML, as [`Finding`]s
//! with stable codes, a severity, the field path and a message (never personal data beyond
//! the primary id).
//!
//! # Finding codes
//!
//! | code | severity | meaning |
//! |---|---|---|
//! | `E-MANDATORY` | error | a required value is missing or empty: `primary_id`; an address without `address_type`; an email without `email_address` or `email_type`; a phone without `phone_number` or `phone_type`; an empty `address_type`, `email_type` or `phone_type` (`<email_type/>`); an identifier without `id_type` or `value`; a note without `note_type`; a block without `block_description`; a statistic without `statistic_category` |
//! | `E-MULTIPLE-PREFERRED` | error | more than one preferred address, email or phone ("Only one ... can be defined as preferred") |
//! | `W-NO-PREFERRED-ADDRESS` | warning | addresses, none preferred (linked accounts and notices use the preferred one) |
//! | `W-NO-PREFERRED-EMAIL` | warning | emails, none preferred (notices go to the preferred one) |
//! | `E-TOO-LONG` | error | a value longer than the schema allows |
//! | `E-CHAR` | error | a character XML 1.0 forbids; one aborts Alma's whole job |
//! | `E-ID-TAKEN-IN-FEED` | error | an identifier value equal to `primary_id` or to another identifier of the same user, ignoring case (Alma: "Identifier ... is already taken") |
//! | `W-INTERNAL` | warning | `account_type` is `INTERNAL`; the SIS load ignores it and creates or updates the user as external ("User is not external" comes from an internal user already in Alma, not from this value) |
//! | `E-CODE-VALUE` | error | a code not in the institution's code table (only for tables given in [`ValidationOptions::code_tables`]) |
//! | `E-CASE` | error | as `E-CODE-VALUE`, but the code matches an allowed one except for case (codes are case-sensitive) |
//! | `I-SEGMENT-INTERNAL` | info | a segment with `segment_type="Internal"`; the SIS load treats every segment it loads as external |
//!
//! # Code tables
//!
//! [`CodeTables`] holds allowed codes per Alma code table; [`CodeTables::parse_tsv`] reads
//! `table<TAB>code[<TAB>description]` lines (`#` comments and blank lines ignored). Fields are
//! checked against these tables (a field whose table is not loaded is not checked):
//!
//! | field | table |
//! |---|---|
//! | `user_title` | `UserTitles` |
//! | `job_category` | `JobTitles` |
//! | `gender` | `Genders` |
//! | `user_group` | `UserGroups` |
//! | `campus_code` | `CampusList` |
//! | `cataloger_level` | `CatalogerLevel` |
//! | `preferred_language` | `UserPreferredLanguage` |
//! | address `country` | `CountryCodes` |
//! | `address_type` | `UserAddressTypes` |
//! | `email_type` | `UserEmailTypes` |
//! | `phone_type` | `UserPhoneTypes` |
//! | `id_type` | `UserIdentifierTypes` |
//! | `note_type` | `NoteTypes` |
//! | `block_type` | `UserBlockTypes` |
//! | `block_description` | `UserBlockDescription` |
//! | `statistic_category` | `UserStatCategories` |
//! | `category_type` | `UserStatisticalTypes` |
//! | `rs_library` code | `RSLibraries` |
//! | `library_notice` code | `LibraryNoticesOptInDisplay` |
//!
//! ```
//! use alma_user_model::{validate, CodeTables, CodeValue, User, ValidationOptions};
//!
//! let tables = CodeTables::parse_tsv("UserGroups\tUGRD\tUndergraduate\n")?;
//! let options = ValidationOptions { code_tables: tables };
//! let mut user = User::new("jdoe");
//! user.user_group = Some(CodeValue::new("ugrd"));
//! let findings = validate(&user, &options);
//! assert_eq!(findings[0].code, "E-CASE");
//! assert_eq!(findings[0].field.as_deref(), Some("user_group"));
//! # Ok::<(), alma_user_model::CodeTableError>(())
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::chars::first_illegal_xml_char;
use crate::finding::{Finding, Severity};
use crate::identity::match_key;
use crate::model::{AccountType, CodeValue, User};
use crate::schema::CodeLengths;

/// Allowed codes per Alma code table (e.g. `UserGroups` → `UGRD`, `GRAD`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeTables {
    tables: BTreeMap<String, CodeTable>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct CodeTable {
    /// Code → description.
    codes: HashMap<String, Option<String>>,
    /// Lower-cased code → the code as the table spells it, to name case-only mismatches.
    folded: HashMap<String, String>,
}

/// How a code compares with a code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeLookup<'a> {
    /// The table is not loaded; nothing to check.
    NoTable,
    /// The code is in the table.
    Known,
    /// The code is in the table except for case; this is the table's spelling.
    CaseOnly(&'a str),
    /// The code is not in the table.
    Unknown,
}

/// A line of a code-table TSV that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CodeTableError {
    /// A line without a table name and a code.
    #[error("code tables, line {line}: expected `table<TAB>code[<TAB>description]`")]
    Syntax {
        /// 1-based line number.
        line: usize,
    },
}

impl CodeTables {
    /// No tables: nothing is checked.
    pub fn new() -> Self {
        CodeTables::default()
    }

    /// Adds one code (with an optional description) to `table`.
    pub fn insert(&mut self, table: &str, code: &str, description: Option<&str>) {
        let t = self.tables.entry(table.to_owned()).or_default();
        t.codes
            .insert(code.to_owned(), description.map(str::to_owned));
        t.folded
            .entry(code.to_lowercase())
            .or_insert_with(|| code.to_owned());
    }

    /// Reads `table<TAB>code[<TAB>description]` lines. Blank lines and lines starting with
    /// `#` are skipped, and so is a first line `table<TAB>code...` (a header).
    pub fn parse_tsv(text: &str) -> Result<Self, CodeTableError> {
        let mut tables = CodeTables::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let mut cols = line.split('\t');
            let table = cols.next().unwrap_or_default().trim();
            let code = cols.next().unwrap_or_default().trim();
            if i == 0 && table.eq_ignore_ascii_case("table") && code.eq_ignore_ascii_case("code") {
                continue;
            }
            if table.is_empty() || code.is_empty() {
                return Err(CodeTableError::Syntax { line: i + 1 });
            }
            let description = cols.next().map(str::trim).filter(|d| !d.is_empty());
            tables.insert(table, code, description);
        }
        Ok(tables)
    }

    /// True when `table` is loaded.
    pub fn has_table(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }

    /// Names of the loaded tables, sorted.
    pub fn table_names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }

    /// The description of `code` in `table`, if both exist and it has one.
    pub fn description(&self, table: &str, code: &str) -> Option<&str> {
        self.tables.get(table)?.codes.get(code)?.as_deref()
    }

    /// Compares `code` with `table` (case-sensitively, naming case-only mismatches).
    pub fn lookup(&self, table: &str, code: &str) -> CodeLookup<'_> {
        let Some(t) = self.tables.get(table) else {
            return CodeLookup::NoTable;
        };
        if t.codes.contains_key(code) {
            return CodeLookup::Known;
        }
        match t.folded.get(&code.to_lowercase()) {
            Some(right) => CodeLookup::CaseOnly(right),
            None => CodeLookup::Unknown,
        }
    }
}

/// What [`validate`] checks besides the schema's rules.
#[derive(Debug, Clone, Default)]
pub struct ValidationOptions {
    /// The institution's code tables; fields whose table is missing are not checked.
    pub code_tables: CodeTables,
}

/// Validates one user; the findings carry its primary id and field paths in the writer's
/// form (`contact_info/emails/email[0]/email_address`).
pub fn validate(user: &User, options: &ValidationOptions) -> Vec<Finding> {
    validate_with(user, options, true)
}

/// [`validate`] for a user the writer has rendered ([`crate::render_user`] and its kin
/// returned `Ok`): the writer refuses any character XML 1.0 forbids in every value it writes,
/// which is every value validated here, so characters are not checked a second time. The
/// findings are those of [`validate`].
pub fn validate_rendered(user: &User, options: &ValidationOptions) -> Vec<Finding> {
    validate_with(user, options, false)
}

fn validate_with(user: &User, options: &ValidationOptions, chars: bool) -> Vec<Finding> {
    let mut v = Validator {
        user,
        tables: &options.code_tables,
        findings: Vec::new(),
        chars,
    };
    v.user();
    v.findings
}

struct Validator<'a> {
    user: &'a User,
    tables: &'a CodeTables,
    findings: Vec<Finding>,
    /// Whether values' characters are checked (not when the writer already has).
    chars: bool,
}

/// The path of the `i`th item under `base`, allocated only past the fourth item.
macro_rules! indexed {
    ($base:literal, $i:expr) => {
        match $i {
            0 => Cow::Borrowed(concat!($base, "[0]")),
            1 => Cow::Borrowed(concat!($base, "[1]")),
            2 => Cow::Borrowed(concat!($base, "[2]")),
            3 => Cow::Borrowed(concat!($base, "[3]")),
            i => Cow::Owned(format!(concat!($base, "[{}]"), i)),
        }
    };
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

impl Validator<'_> {
    fn report(&mut self, code: &str, severity: Severity, field: String, message: String) {
        let mut f = Finding::new(code, severity, message).at_field(field);
        if !self.user.primary_id.is_empty() {
            f = f.for_user(self.user.primary_id.clone());
        }
        self.findings.push(f);
    }

    /// Characters and length of one text value.
    fn text(&mut self, prefix: &str, name: &str, value: &str, max: Option<usize>) {
        if let Some((position, c)) = self.illegal_char(value) {
            self.report(
                "E-CHAR",
                Severity::Error,
                join(prefix, name),
                format!(
                    "character {} is U+{:04X}, which XML 1.0 forbids; one such character aborts \
                     Alma's whole job. Remove it at the source",
                    position + 1,
                    c as u32
                ),
            );
        }
        if let Some(max) = max {
            // Bytes bound UTF-16 units from above: count only when it can matter.
            if value.len() > max {
                let length = crate::schema::utf16_len(value);
                if length > max {
                    self.report(
                        "E-TOO-LONG",
                        Severity::Error,
                        join(prefix, name),
                        format!(
                            "{length} UTF-16 code units (characters; those outside the BMP, \
                             such as emoji, count twice, as Java counts); the schema allows \
                             {max}"
                        ),
                    );
                }
            }
        }
    }

    fn illegal_char(&self, value: &str) -> Option<(usize, char)> {
        if self.chars {
            first_illegal_xml_char(value)
        } else {
            None
        }
    }

    /// Whether [`Validator::text`] would find nothing in `value`.
    fn text_is_clean(&self, value: &str, max: Option<usize>) -> bool {
        self.illegal_char(value).is_none()
            && max.is_none_or(|max| value.len() <= max || crate::schema::utf16_len(value) <= max)
    }

    fn opt_text(&mut self, prefix: &str, name: &str, value: &Option<String>, max: Option<usize>) {
        if let Some(v) = value {
            self.text(prefix, name, v, max);
        }
    }

    fn mandatory(&mut self, prefix: &str, name: &str, present: bool, what: &str) {
        if !present {
            self.report(
                "E-MANDATORY",
                Severity::Error,
                join(prefix, name),
                format!(
                    "{what} is missing; Alma rejects the user (\"Mandatory field is missing\"): \
                     send it, or leave the whole segment out"
                ),
            );
        }
    }

    /// A code-table value: characters, lengths, and the table when loaded.
    fn code(&mut self, prefix: &str, name: &str, value: &CodeValue, table: &str, max: CodeLengths) {
        self.text(prefix, name, &value.code, max.code);
        if let Some(desc) = &value.desc
            && !self.text_is_clean(desc, max.desc)
        {
            self.text(prefix, &format!("{name}/@desc"), desc, max.desc);
        }
        if value.code.is_empty() {
            return;
        }
        match self.tables.lookup(table, &value.code) {
            CodeLookup::NoTable | CodeLookup::Known => {}
            CodeLookup::CaseOnly(right) => {
                let right = right.to_owned();
                self.report(
                    "E-CASE",
                    Severity::Error,
                    join(prefix, name),
                    format!(
                        "code {:?} is in code table {table} only as {right:?}; codes are \
                         case-sensitive",
                        value.code
                    ),
                );
            }
            CodeLookup::Unknown => self.report(
                "E-CODE-VALUE",
                Severity::Error,
                join(prefix, name),
                format!("code {:?} is not in code table {table}", value.code),
            ),
        }
    }

    fn opt_code(
        &mut self,
        prefix: &str,
        name: &str,
        value: &Option<CodeValue>,
        table: &str,
        max: CodeLengths,
    ) {
        // An empty code is not written (the writer leaves the element out) and is read as
        // absent: nothing of it reaches Alma, its `desc` included.
        if let Some(v) = value.as_ref().filter(|v| !v.code.is_empty()) {
            self.code(prefix, name, v, table, max);
        }
    }

    fn segment_type(&mut self, item: &str, segment_type: &Option<String>, max: Option<usize>) {
        if let Some(s) = segment_type {
            self.text(item, "@segment_type", s, max);
            if s == "Internal" {
                self.report(
                    "I-SEGMENT-INTERNAL",
                    Severity::Info,
                    join(item, "@segment_type"),
                    "segment_type is Internal; the SIS load treats loaded segments as external \
                     and ignores it"
                        .to_owned(),
                );
            }
        }
    }

    fn user(&mut self) {
        let u = self.user;
        self.mandatory("", "primary_id", !u.primary_id.is_empty(), "primary_id");
        self.text("", "primary_id", &u.primary_id, max_len!("primary_id"));
        self.opt_text("", "first_name", &u.first_name, max_len!("first_name"));
        self.opt_text("", "middle_name", &u.middle_name, max_len!("middle_name"));
        self.opt_text("", "last_name", &u.last_name, max_len!("last_name"));
        self.opt_text("", "pin_number", &u.pin_number, max_len!("pin_number"));
        self.opt_code(
            "",
            "user_title",
            &u.user_title,
            "UserTitles",
            code_len!("user_title"),
        );
        self.opt_code(
            "",
            "job_category",
            &u.job_category,
            "JobTitles",
            code_len!("job_category"),
        );
        self.opt_text(
            "",
            "job_description",
            &u.job_description,
            max_len!("job_description"),
        );
        self.opt_code("", "gender", &u.gender, "Genders", code_len!("gender"));
        self.opt_code(
            "",
            "user_group",
            &u.user_group,
            "UserGroups",
            code_len!("user_group"),
        );
        if let Some(c) = &u.campus_code {
            self.code("", "campus_code", c, "CampusList", code_len!("campus_code"));
        }
        self.opt_text(
            "",
            "web_site_url",
            &u.web_site_url,
            max_len!("web_site_url"),
        );
        self.opt_code(
            "",
            "cataloger_level",
            &u.cataloger_level,
            "CatalogerLevel",
            code_len!("cataloger_level"),
        );
        self.opt_code(
            "",
            "preferred_language",
            &u.preferred_language,
            "UserPreferredLanguage",
            code_len!("preferred_language"),
        );
        if u.account_type == Some(AccountType::Internal) {
            self.report(
                "W-INTERNAL",
                Severity::Warning,
                "account_type".to_owned(),
                "account_type is INTERNAL; the SIS load ignores it and creates or updates the \
                 user as external. (Alma's \"User is not external\" comes from an internal user \
                 already in Alma with this id, not from this value.) Send EXTERNAL or leave \
                 account_type out"
                    .to_owned(),
            );
        }
        self.opt_text("", "external_id", &u.external_id, max_len!("external_id"));
        self.addresses();
        self.emails();
        self.phones();
        self.identifiers();
        self.blocks();
        self.notes();
        self.statistics();
        for (i, lib) in u.rs_libraries.iter().enumerate() {
            let item = indexed!("rs_libraries/rs_library", i);
            self.code(
                &item,
                "code",
                lib,
                "RSLibraries",
                code_len!("rs_libraries/rs_library/code"),
            );
        }
        for (i, n) in u.library_notices.iter().enumerate() {
            if let Some(code) = &n.code {
                let item = indexed!("library_notices/library_notice", i);
                self.code(
                    &item,
                    "code",
                    code,
                    "LibraryNoticesOptInDisplay",
                    code_len!("library_notices/library_notice/code"),
                );
            }
        }
        self.opt_text(
            "",
            "pref_first_name",
            &u.pref_first_name,
            max_len!("pref_first_name"),
        );
        self.opt_text(
            "",
            "pref_middle_name",
            &u.pref_middle_name,
            max_len!("pref_middle_name"),
        );
        self.opt_text(
            "",
            "pref_last_name",
            &u.pref_last_name,
            max_len!("pref_last_name"),
        );
        self.opt_text(
            "",
            "pref_name_suffix",
            &u.pref_name_suffix,
            max_len!("pref_name_suffix"),
        );
    }

    fn preferred(&mut self, list: &str, count: usize, preferred: usize, none_code: Option<&str>) {
        if preferred > 1 {
            self.report(
                "E-MULTIPLE-PREFERRED",
                Severity::Error,
                list.to_owned(),
                format!("{preferred} entries are preferred; only one may be"),
            );
        }
        if let Some(code) = none_code.filter(|_| count > 0 && preferred == 0) {
            self.report(
                code,
                Severity::Warning,
                list.to_owned(),
                "no entry is preferred; mark one preferred=\"true\"".to_owned(),
            );
        }
    }

    fn addresses(&mut self) {
        let addresses = &self.user.contact_info.addresses;
        let preferred = addresses.iter().filter(|a| a.preferred).count();
        self.preferred(
            "contact_info/addresses",
            addresses.len(),
            preferred,
            Some("W-NO-PREFERRED-ADDRESS"),
        );
        for (i, a) in addresses.iter().enumerate() {
            let item = indexed!("contact_info/addresses/address", i);
            self.segment_type(
                &item,
                &a.segment_type,
                max_len!("contact_info/addresses/address/@segment_type"),
            );
            self.opt_text(&item, "line1", &a.line1, None);
            self.opt_text(
                &item,
                "line2",
                &a.line2,
                max_len!("contact_info/addresses/address/line2"),
            );
            self.opt_text(
                &item,
                "line3",
                &a.line3,
                max_len!("contact_info/addresses/address/line3"),
            );
            self.opt_text(
                &item,
                "line4",
                &a.line4,
                max_len!("contact_info/addresses/address/line4"),
            );
            self.opt_text(
                &item,
                "line5",
                &a.line5,
                max_len!("contact_info/addresses/address/line5"),
            );
            self.opt_text(
                &item,
                "city",
                &a.city,
                max_len!("contact_info/addresses/address/city"),
            );
            self.opt_text(
                &item,
                "state_province",
                &a.state_province,
                max_len!("contact_info/addresses/address/state_province"),
            );
            self.opt_text(
                &item,
                "postal_code",
                &a.postal_code,
                max_len!("contact_info/addresses/address/postal_code"),
            );
            self.opt_code(
                &item,
                "country",
                &a.country,
                "CountryCodes",
                code_len!("contact_info/addresses/address/country"),
            );
            self.opt_text(
                &item,
                "address_note",
                &a.address_note,
                max_len!("contact_info/addresses/address/address_note"),
            );
            self.mandatory(
                &item,
                "address_types",
                !a.address_types.is_empty(),
                "an address_type",
            );
            for (j, t) in a.address_types.iter().enumerate() {
                let name = indexed!("address_types/address_type", j);
                self.mandatory(&item, &name, !t.code.is_empty(), "address_type");
                self.code(
                    &item,
                    &name,
                    t,
                    "UserAddressTypes",
                    code_len!("contact_info/addresses/address/address_types/address_type"),
                );
            }
        }
    }

    fn emails(&mut self) {
        let emails = &self.user.contact_info.emails;
        let preferred = emails.iter().filter(|e| e.preferred).count();
        self.preferred(
            "contact_info/emails",
            emails.len(),
            preferred,
            Some("W-NO-PREFERRED-EMAIL"),
        );
        for (i, e) in emails.iter().enumerate() {
            let item = indexed!("contact_info/emails/email", i);
            self.segment_type(
                &item,
                &e.segment_type,
                max_len!("contact_info/emails/email/@segment_type"),
            );
            self.mandatory(
                &item,
                "email_address",
                !e.email_address.is_empty(),
                "email_address",
            );
            self.text(
                &item,
                "email_address",
                &e.email_address,
                max_len!("contact_info/emails/email/email_address"),
            );
            self.opt_text(
                &item,
                "description",
                &e.description,
                max_len!("contact_info/emails/email/description"),
            );
            self.mandatory(
                &item,
                "email_types",
                !e.email_types.is_empty(),
                "an email_type",
            );
            for (j, t) in e.email_types.iter().enumerate() {
                let name = indexed!("email_types/email_type", j);
                self.mandatory(&item, &name, !t.code.is_empty(), "email_type");
                self.code(
                    &item,
                    &name,
                    t,
                    "UserEmailTypes",
                    code_len!("contact_info/emails/email/email_types/email_type"),
                );
            }
        }
    }

    fn phones(&mut self) {
        let phones = &self.user.contact_info.phones;
        let preferred = phones.iter().filter(|p| p.preferred).count();
        self.preferred("contact_info/phones", phones.len(), preferred, None);
        for (i, p) in phones.iter().enumerate() {
            let item = indexed!("contact_info/phones/phone", i);
            self.segment_type(
                &item,
                &p.segment_type,
                max_len!("contact_info/phones/phone/@segment_type"),
            );
            self.mandatory(
                &item,
                "phone_number",
                !p.phone_number.is_empty(),
                "phone_number",
            );
            self.text(
                &item,
                "phone_number",
                &p.phone_number,
                max_len!("contact_info/phones/phone/phone_number"),
            );
            self.mandatory(
                &item,
                "phone_types",
                !p.phone_types.is_empty(),
                "a phone_type",
            );
            for (j, t) in p.phone_types.iter().enumerate() {
                let name = indexed!("phone_types/phone_type", j);
                self.mandatory(&item, &name, !t.code.is_empty(), "phone_type");
                self.code(
                    &item,
                    &name,
                    t,
                    "UserPhoneTypes",
                    code_len!("contact_info/phones/phone/phone_types/phone_type"),
                );
            }
        }
    }

    fn identifiers(&mut self) {
        let ids = &self.user.user_identifiers;
        let mut seen: HashSet<Cow<'_, str>> = HashSet::with_capacity(ids.len() + 1);
        let primary = match_key(&self.user.primary_id);
        if !self.user.primary_id.is_empty() {
            seen.insert(primary.clone());
        }
        for (i, id) in ids.iter().enumerate() {
            let item = indexed!("user_identifiers/user_identifier", i);
            self.segment_type(
                &item,
                &id.segment_type,
                max_len!("user_identifiers/user_identifier/@segment_type"),
            );
            self.mandatory(&item, "id_type", !id.id_type.code.is_empty(), "id_type");
            self.code(
                &item,
                "id_type",
                &id.id_type,
                "UserIdentifierTypes",
                code_len!("user_identifiers/user_identifier/id_type"),
            );
            self.mandatory(&item, "value", !id.value.is_empty(), "value");
            self.text(
                &item,
                "value",
                &id.value,
                max_len!("user_identifiers/user_identifier/value"),
            );
            self.opt_text(
                &item,
                "note",
                &id.note,
                max_len!("user_identifiers/user_identifier/note"),
            );
            self.opt_text(
                &item,
                "status",
                &id.status,
                max_len!("user_identifiers/user_identifier/status"),
            );
            let key = match_key(&id.value);
            if !id.value.is_empty() && !seen.insert(key.clone()) {
                let same_as_primary = key == primary;
                let message = if same_as_primary {
                    format!(
                        "the {} value equals primary_id (ignoring case); Alma rejects the user: \
                         \"Identifier ... is already taken\". Leave this identifier out",
                        id.id_type.code
                    )
                } else {
                    format!(
                        "the {} value repeats another identifier of this user (ignoring case); \
                         Alma rejects the user: \"Identifier ... is already taken\"",
                        id.id_type.code
                    )
                };
                self.report(
                    "E-ID-TAKEN-IN-FEED",
                    Severity::Error,
                    join(&item, "value"),
                    message,
                );
            }
        }
    }

    fn blocks(&mut self) {
        for (i, b) in self.user.user_blocks.iter().enumerate() {
            let item = indexed!("user_blocks/user_block", i);
            self.segment_type(
                &item,
                &b.segment_type,
                max_len!("user_blocks/user_block/@segment_type"),
            );
            self.opt_code(
                &item,
                "block_type",
                &b.block_type,
                "UserBlockTypes",
                code_len!("user_blocks/user_block/block_type"),
            );
            self.mandatory(
                &item,
                "block_description",
                !b.block_description.code.is_empty(),
                "block_description",
            );
            self.code(
                &item,
                "block_description",
                &b.block_description,
                "UserBlockDescription",
                code_len!("user_blocks/user_block/block_description"),
            );
            self.opt_text(
                &item,
                "block_status",
                &b.block_status,
                max_len!("user_blocks/user_block/block_status"),
            );
            self.opt_text(
                &item,
                "block_note",
                &b.block_note,
                max_len!("user_blocks/user_block/block_note"),
            );
            self.opt_text(
                &item,
                "created_by",
                &b.created_by,
                max_len!("user_blocks/user_block/created_by"),
            );
            self.opt_text(&item, "item_loan_id", &b.item_loan_id, None);
        }
    }

    fn notes(&mut self) {
        for (i, n) in self.user.user_notes.iter().enumerate() {
            let item = indexed!("user_notes/user_note", i);
            self.segment_type(
                &item,
                &n.segment_type,
                max_len!("user_notes/user_note/@segment_type"),
            );
            self.mandatory(
                &item,
                "note_type",
                !n.note_type.code.is_empty(),
                "note_type",
            );
            self.code(
                &item,
                "note_type",
                &n.note_type,
                "NoteTypes",
                code_len!("user_notes/user_note/note_type"),
            );
            self.opt_text(
                &item,
                "note_text",
                &n.note_text,
                max_len!("user_notes/user_note/note_text"),
            );
            self.opt_text(
                &item,
                "created_by",
                &n.created_by,
                max_len!("user_notes/user_note/created_by"),
            );
        }
    }

    fn statistics(&mut self) {
        for (i, s) in self.user.user_statistics.iter().enumerate() {
            let item = indexed!("user_statistics/user_statistic", i);
            self.segment_type(
                &item,
                &s.segment_type,
                max_len!("user_statistics/user_statistic/@segment_type"),
            );
            self.mandatory(
                &item,
                "statistic_category",
                !s.statistic_category.code.is_empty(),
                "statistic_category",
            );
            self.code(
                &item,
                "statistic_category",
                &s.statistic_category,
                "UserStatCategories",
                code_len!("user_statistics/user_statistic/statistic_category"),
            );
            self.opt_code(
                &item,
                "category_type",
                &s.category_type,
                "UserStatisticalTypes",
                code_len!("user_statistics/user_statistic/category_type"),
            );
            self.opt_text(
                &item,
                "statistic_note",
                &s.statistic_note,
                max_len!("user_statistics/user_statistic/statistic_note"),
            );
        }
    }
}
