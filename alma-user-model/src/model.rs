//! The `<user>` record of `rest_user.xsd`, as far as a SIS load can send it.
//!
//! Field order follows the schema's declaration order, which is also the order the writer
//! emits. Output-only elements (`full_name`, `status_date`, `requests`, `loans`, `fees`,
//! `proxy_for_users`, linked-account ids) and elements the SIS load ignores (`user_roles`,
//! `password`) are not modelled: a SIS file has no business sending them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A value from an Alma code table: the code (element text) and an optional description
/// (the `desc` attribute, informational only; Alma matches on the code).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct CodeValue {
    /// The code, matched case-sensitively against the institution's code table.
    pub code: String,
    /// The human description, written as the `desc` attribute when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
}

impl CodeValue {
    /// A code without a description.
    pub fn new(code: impl Into<String>) -> Self {
        CodeValue {
            code: code.into(),
            desc: None,
        }
    }

    /// A code with a description.
    pub fn with_desc(code: impl Into<String>, desc: impl Into<String>) -> Self {
        CodeValue {
            code: code.into(),
            desc: Some(desc.into()),
        }
    }
}

impl From<&str> for CodeValue {
    fn from(code: &str) -> Self {
        CodeValue::new(code)
    }
}

/// `record_type` (code table AddNewUserOptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RecordType {
    /// A patron.
    Public,
    /// A staff user.
    Staff,
    /// A contact person.
    Contact,
}

impl RecordType {
    /// Every code of the table, in Alma's order: [`RecordType::code`] states the codes, once.
    pub const ALL: [RecordType; 3] = [RecordType::Public, RecordType::Staff, RecordType::Contact];

    /// The code Alma expects.
    pub fn code(self) -> &'static str {
        match self {
            RecordType::Public => "PUBLIC",
            RecordType::Staff => "STAFF",
            RecordType::Contact => "CONTACT",
        }
    }

    /// Parses an exact (case-sensitive) code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }
}

/// `account_type` (code table UserUserType). SIS loads create `EXTERNAL` users; an
/// `INTERNAL` user is never updated by a SIS load ("User is not external").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AccountType {
    /// Managed by Alma staff; a SIS load rejects it.
    Internal,
    /// Managed by the SIS.
    External,
}

impl AccountType {
    /// Every code of the table, in Alma's order: [`AccountType::code`] states the codes, once.
    pub const ALL: [AccountType; 2] = [AccountType::Internal, AccountType::External];

    /// The code Alma expects.
    pub fn code(self) -> &'static str {
        match self {
            AccountType::Internal => "INTERNAL",
            AccountType::External => "EXTERNAL",
        }
    }

    /// Parses an exact (case-sensitive) code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }
}

/// `status` (code table ContentStructureStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum UserStatus {
    /// The user may use the library.
    Active,
    /// The user is blocked from use.
    Inactive,
}

impl UserStatus {
    /// Every code of the table, in Alma's order: [`UserStatus::code`] states the codes, once.
    pub const ALL: [UserStatus; 2] = [UserStatus::Active, UserStatus::Inactive];

    /// The code Alma expects.
    pub fn code(self) -> &'static str {
        match self {
            UserStatus::Active => "ACTIVE",
            UserStatus::Inactive => "INACTIVE",
        }
    }

    /// Parses an exact (case-sensitive) code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }
}

/// One Alma user as a SIS load sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct User {
    /// `record_type`; the integration profile decides it on SIS load.
    pub record_type: Option<RecordType>,
    /// `primary_id`: unique, case-insensitive.
    pub primary_id: String,
    /// `first_name`.
    pub first_name: Option<String>,
    /// `middle_name`.
    pub middle_name: Option<String>,
    /// `last_name`.
    pub last_name: Option<String>,
    /// `pin_number` (SIP2 PIN; protected field).
    pub pin_number: Option<String>,
    /// `user_title` (protected field).
    pub user_title: Option<CodeValue>,
    /// `job_category` ("Job title"; protected field).
    pub job_category: Option<CodeValue>,
    /// `job_description`.
    pub job_description: Option<String>,
    /// `gender`.
    pub gender: Option<CodeValue>,
    /// `user_group` (protected field).
    pub user_group: Option<CodeValue>,
    /// `campus_code` (protected field).
    pub campus_code: Option<CodeValue>,
    /// `web_site_url`.
    pub web_site_url: Option<String>,
    /// `cataloger_level`.
    pub cataloger_level: Option<CodeValue>,
    /// `preferred_language` (protected field).
    pub preferred_language: Option<CodeValue>,
    /// `birth_date`.
    pub birth_date: Option<NaiveDate>,
    /// `expiry_date`.
    pub expiry_date: Option<NaiveDate>,
    /// `purge_date`.
    pub purge_date: Option<NaiveDate>,
    /// `account_type`.
    pub account_type: Option<AccountType>,
    /// `external_id`: the SIS profile code.
    pub external_id: Option<String>,
    /// `status`.
    pub status: Option<UserStatus>,
    /// `contact_info`: addresses, emails, phones.
    pub contact_info: ContactInfo,
    /// `user_identifiers`.
    pub user_identifiers: Vec<UserIdentifier>,
    /// `user_blocks`.
    pub user_blocks: Vec<UserBlock>,
    /// `user_notes`.
    pub user_notes: Vec<UserNote>,
    /// `user_statistics`.
    pub user_statistics: Vec<UserStatistic>,
    /// `rs_libraries` (resource-sharing library codes; protected field).
    pub rs_libraries: Vec<CodeValue>,
    /// `library_notices` (opt-in notices; protected field).
    pub library_notices: Vec<LibraryNotice>,
    /// `pref_first_name`.
    pub pref_first_name: Option<String>,
    /// `pref_middle_name`.
    pub pref_middle_name: Option<String>,
    /// `pref_last_name`.
    pub pref_last_name: Option<String>,
    /// `pref_name_suffix` (Esploro only).
    pub pref_name_suffix: Option<String>,
}

impl User {
    /// A new external, active user with the given primary id and nothing else.
    pub fn new(primary_id: impl Into<String>) -> Self {
        User {
            primary_id: primary_id.into(),
            account_type: Some(AccountType::External),
            status: Some(UserStatus::Active),
            ..User::default()
        }
    }

    /// Gives back the spare capacity of every list: a list grown by `push` keeps room for
    /// four entries, and an `Address` is hundreds of bytes, which adds up over a million users
    /// held in memory.
    pub fn shrink_to_fit(&mut self) {
        let c = &mut self.contact_info;
        for a in &mut c.addresses {
            a.address_types.shrink_to_fit();
        }
        for e in &mut c.emails {
            e.email_types.shrink_to_fit();
        }
        for p in &mut c.phones {
            p.phone_types.shrink_to_fit();
        }
        c.addresses.shrink_to_fit();
        c.emails.shrink_to_fit();
        c.phones.shrink_to_fit();
        self.user_identifiers.shrink_to_fit();
        self.user_blocks.shrink_to_fit();
        self.user_notes.shrink_to_fit();
        self.user_statistics.shrink_to_fit();
        self.rs_libraries.shrink_to_fit();
        self.library_notices.shrink_to_fit();
    }

    /// Sets first and last name.
    pub fn with_name(mut self, first: impl Into<String>, last: impl Into<String>) -> Self {
        self.first_name = Some(first.into());
        self.last_name = Some(last.into());
        self
    }

    /// Sets the user group code.
    pub fn with_user_group(mut self, code: impl Into<CodeValue>) -> Self {
        self.user_group = Some(code.into());
        self
    }

    /// Sets the expiry date.
    pub fn with_expiry_date(mut self, date: NaiveDate) -> Self {
        self.expiry_date = Some(date);
        self
    }

    /// Sets the purge date.
    pub fn with_purge_date(mut self, date: NaiveDate) -> Self {
        self.purge_date = Some(date);
        self
    }

    /// Adds an address (see [`add_address`](Self::add_address)).
    pub fn with_address(mut self, address: Address) -> Self {
        self.add_address(address);
        self
    }

    /// Adds an email (see [`add_email`](Self::add_email)).
    pub fn with_email(mut self, email: Email) -> Self {
        self.add_email(email);
        self
    }

    /// Adds a phone (see [`add_phone`](Self::add_phone)).
    pub fn with_phone(mut self, phone: Phone) -> Self {
        self.add_phone(phone);
        self
    }

    /// Adds an external identifier of type `id_type`.
    pub fn with_identifier(mut self, id_type: impl Into<String>, value: impl Into<String>) -> Self {
        self.user_identifiers
            .push(UserIdentifier::new(id_type, value));
        self
    }

    /// Adds an address, keeping exactly one preferred: the first address added is preferred,
    /// and a preferred address added later takes over.
    pub fn add_address(&mut self, mut address: Address) {
        let list = &mut self.contact_info.addresses;
        if address.preferred {
            list.iter_mut().for_each(|a| a.preferred = false);
        } else if list.iter().all(|a| !a.preferred) {
            address.preferred = true;
        }
        list.push(address);
    }

    /// Adds an email, keeping exactly one preferred (as [`add_address`](Self::add_address)).
    pub fn add_email(&mut self, mut email: Email) {
        let list = &mut self.contact_info.emails;
        if email.preferred {
            list.iter_mut().for_each(|e| e.preferred = false);
        } else if list.iter().all(|e| !e.preferred) {
            email.preferred = true;
        }
        list.push(email);
    }

    /// Adds a phone, keeping exactly one preferred (as [`add_address`](Self::add_address)).
    pub fn add_phone(&mut self, mut phone: Phone) {
        let list = &mut self.contact_info.phones;
        if phone.preferred {
            list.iter_mut().for_each(|p| p.preferred = false);
        } else if list.iter().all(|p| !p.preferred) {
            phone.preferred = true;
        }
        list.push(phone);
    }
}

/// `contact_info`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactInfo {
    /// `addresses/address`.
    pub addresses: Vec<Address>,
    /// `emails/email`.
    pub emails: Vec<Email>,
    /// `phones/phone`.
    pub phones: Vec<Phone>,
}

impl ContactInfo {
    /// True when there is no address, email or phone.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.emails.is_empty() && self.phones.is_empty()
    }
}

/// `address`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    /// `preferred` attribute: at most one address per user.
    pub preferred: bool,
    /// `segment_type` attribute (`External` or `Internal`).
    pub segment_type: Option<String>,
    /// `line1`.
    pub line1: Option<String>,
    /// `line2`.
    pub line2: Option<String>,
    /// `line3`.
    pub line3: Option<String>,
    /// `line4`.
    pub line4: Option<String>,
    /// `line5`.
    pub line5: Option<String>,
    /// `city`.
    pub city: Option<String>,
    /// `state_province`.
    pub state_province: Option<String>,
    /// `postal_code`.
    pub postal_code: Option<String>,
    /// `country` (code table CountryCodes, e.g. `USA`).
    pub country: Option<CodeValue>,
    /// `address_note`.
    pub address_note: Option<String>,
    /// `start_date`.
    pub start_date: Option<NaiveDate>,
    /// `end_date`.
    pub end_date: Option<NaiveDate>,
    /// `address_types/address_type` (code table UserAddressTypes).
    pub address_types: Vec<CodeValue>,
}

impl Address {
    /// An external address of one type (e.g. `home`, `work`, `school`), not yet preferred.
    pub fn new(address_type: impl Into<String>) -> Self {
        Address {
            segment_type: Some("External".to_owned()),
            address_types: vec![CodeValue::new(address_type)],
            ..Address::default()
        }
    }

    /// A `home` address with its first line, city and postal code.
    pub fn home(
        line1: impl Into<String>,
        city: impl Into<String>,
        postal_code: impl Into<String>,
    ) -> Self {
        Address::new("home")
            .line1(line1)
            .city(city)
            .postal_code(postal_code)
    }

    /// Sets `line1`.
    pub fn line1(mut self, value: impl Into<String>) -> Self {
        self.line1 = Some(value.into());
        self
    }

    /// Sets `line2`.
    pub fn line2(mut self, value: impl Into<String>) -> Self {
        self.line2 = Some(value.into());
        self
    }

    /// Sets `city`.
    pub fn city(mut self, value: impl Into<String>) -> Self {
        self.city = Some(value.into());
        self
    }

    /// Sets `state_province`.
    pub fn state_province(mut self, value: impl Into<String>) -> Self {
        self.state_province = Some(value.into());
        self
    }

    /// Sets `postal_code`.
    pub fn postal_code(mut self, value: impl Into<String>) -> Self {
        self.postal_code = Some(value.into());
        self
    }

    /// Sets `country` (code table CountryCodes, e.g. `USA`).
    pub fn country(mut self, code: impl Into<CodeValue>) -> Self {
        self.country = Some(code.into());
        self
    }

    /// Marks it preferred ([`User::add_address`] then unmarks the others).
    pub fn as_preferred(mut self) -> Self {
        self.preferred = true;
        self
    }
}

/// `email`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Email {
    /// `preferred` attribute: at most one email per user.
    pub preferred: bool,
    /// `segment_type` attribute.
    pub segment_type: Option<String>,
    /// `email_address` (required).
    pub email_address: String,
    /// `description`.
    pub description: Option<String>,
    /// `email_types/email_type` (code table UserEmailTypes).
    pub email_types: Vec<CodeValue>,
}

impl Email {
    /// An external email of one type.
    pub fn new(address: impl Into<String>, email_type: impl Into<String>) -> Self {
        Email {
            preferred: false,
            segment_type: Some("External".to_owned()),
            email_address: address.into(),
            description: None,
            email_types: vec![CodeValue::new(email_type)],
        }
    }

    /// Marks it preferred ([`User::add_email`] then unmarks the others).
    pub fn as_preferred(mut self) -> Self {
        self.preferred = true;
        self
    }
}

/// `phone`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Phone {
    /// `preferred` attribute: at most one phone per user.
    pub preferred: bool,
    /// `preferred_sms` attribute.
    pub preferred_sms: bool,
    /// `segment_type` attribute.
    pub segment_type: Option<String>,
    /// `phone_number` (required).
    pub phone_number: String,
    /// `phone_types/phone_type` (code table UserPhoneTypes).
    pub phone_types: Vec<CodeValue>,
}

impl Phone {
    /// An external phone of one type.
    pub fn new(number: impl Into<String>, phone_type: impl Into<String>) -> Self {
        Phone {
            preferred: false,
            preferred_sms: false,
            segment_type: Some("External".to_owned()),
            phone_number: number.into(),
            phone_types: vec![CodeValue::new(phone_type)],
        }
    }

    /// Marks it preferred ([`User::add_phone`] then unmarks the others).
    pub fn as_preferred(mut self) -> Self {
        self.preferred = true;
        self
    }
}

/// `user_identifier`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserIdentifier {
    /// `segment_type` attribute.
    pub segment_type: Option<String>,
    /// `id_type` (required; code table UserIdentifierTypes).
    pub id_type: CodeValue,
    /// `value` (required; unique across all users, case-insensitive).
    pub value: String,
    /// `note`.
    pub note: Option<String>,
    /// `status` (e.g. `ACTIVE`).
    pub status: Option<String>,
}

impl UserIdentifier {
    /// An external identifier.
    pub fn new(id_type: impl Into<String>, value: impl Into<String>) -> Self {
        UserIdentifier {
            segment_type: Some("External".to_owned()),
            id_type: CodeValue::new(id_type),
            value: value.into(),
            note: None,
            status: None,
        }
    }
}

/// `user_note`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserNote {
    /// `segment_type` attribute.
    pub segment_type: Option<String>,
    /// `note_type` (required; code table NoteTypes).
    pub note_type: CodeValue,
    /// `note_text`.
    pub note_text: Option<String>,
    /// `user_viewable` (required).
    pub user_viewable: bool,
    /// `popup_note` (required).
    pub popup_note: bool,
    /// `created_by`.
    pub created_by: Option<String>,
    /// `created_date` (xs:dateTime).
    pub created_date: Option<DateTime<Utc>>,
}

impl UserNote {
    /// An external note of `note_type` with text, neither shown to the patron nor popped up.
    pub fn new(note_type: impl Into<String>, text: impl Into<String>) -> Self {
        UserNote {
            segment_type: Some("External".to_owned()),
            note_type: CodeValue::new(note_type),
            note_text: Some(text.into()),
            ..UserNote::default()
        }
    }
}

/// `user_block`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserBlock {
    /// `segment_type` attribute.
    pub segment_type: Option<String>,
    /// `block_type` (code table UserBlockTypes; Alma defaults to `GENERAL`).
    pub block_type: Option<CodeValue>,
    /// `block_description` (required; code table UserBlockDescription).
    pub block_description: CodeValue,
    /// `block_status` (`Active` or `Inactive`).
    pub block_status: Option<String>,
    /// `block_note`.
    pub block_note: Option<String>,
    /// `created_by`.
    pub created_by: Option<String>,
    /// `created_date` (xs:dateTime).
    pub created_date: Option<DateTime<Utc>>,
    /// `expiry_date` (xs:dateTime).
    pub expiry_date: Option<DateTime<Utc>>,
    /// `item_loan_id`.
    pub item_loan_id: Option<String>,
}

impl UserBlock {
    /// An external block with the given description code (type `GENERAL`; Alma makes it
    /// active).
    pub fn new(block_description: impl Into<String>) -> Self {
        UserBlock {
            segment_type: Some("External".to_owned()),
            block_type: Some(CodeValue::new("GENERAL")),
            block_description: CodeValue::new(block_description),
            ..UserBlock::default()
        }
    }
}

/// `user_statistic`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserStatistic {
    /// `segment_type` attribute.
    pub segment_type: Option<String>,
    /// `statistic_category` (required; code table UserStatCategories).
    pub statistic_category: CodeValue,
    /// `category_type` (code table UserStatisticalTypes).
    pub category_type: Option<CodeValue>,
    /// `statistic_note`.
    pub statistic_note: Option<String>,
}

impl UserStatistic {
    /// An external statistic with the given category code.
    pub fn new(statistic_category: impl Into<CodeValue>) -> Self {
        UserStatistic {
            segment_type: Some("External".to_owned()),
            statistic_category: statistic_category.into(),
            ..UserStatistic::default()
        }
    }
}

/// `library_notice`: an opt-in setting for one kind of notice.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LibraryNotice {
    /// `code` (code table LibraryNoticesOptInDisplay).
    pub code: Option<CodeValue>,
    /// `value`: opted in or not.
    pub value: Option<bool>,
}

impl LibraryNotice {
    /// Opts in (`true`) or out of the notice `code`.
    pub fn new(code: impl Into<CodeValue>, value: bool) -> Self {
        LibraryNotice {
            code: Some(code.into()),
            value: Some(value),
        }
    }
}
