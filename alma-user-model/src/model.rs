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
        match code {
            "PUBLIC" => Some(RecordType::Public),
            "STAFF" => Some(RecordType::Staff),
            "CONTACT" => Some(RecordType::Contact),
            _ => None,
        }
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
    /// The code Alma expects.
    pub fn code(self) -> &'static str {
        match self {
            AccountType::Internal => "INTERNAL",
            AccountType::External => "EXTERNAL",
        }
    }

    /// Parses an exact (case-sensitive) code.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "INTERNAL" => Some(AccountType::Internal),
            "EXTERNAL" => Some(AccountType::External),
            _ => None,
        }
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
    /// The code Alma expects.
    pub fn code(self) -> &'static str {
        match self {
            UserStatus::Active => "ACTIVE",
            UserStatus::Inactive => "INACTIVE",
        }
    }

    /// Parses an exact (case-sensitive) code.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "ACTIVE" => Some(UserStatus::Active),
            "INACTIVE" => Some(UserStatus::Inactive),
            _ => None,
        }
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

/// `library_notice`: an opt-in setting for one kind of notice.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LibraryNotice {
    /// `code` (code table LibraryNoticesOptInDisplay).
    pub code: Option<CodeValue>,
    /// `value`: opted in or not.
    pub value: Option<bool>,
}
