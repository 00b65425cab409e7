//! Mandatory-field profiles: Alma's own (what the schema requires, checked by record
//! validation), I-Share's (CARLI; spec section 9) built in, and lists a site writes.

use alma_user_model::{Address, User};

/// The field names a profile may list. `address.*` applies to every address,
/// `email.preferred`/`address.preferred` ask for one preferred segment, `identifier:TYPE`
/// asks for an identifier of that type.
pub const FIELD_NAMES: &[&str] = &[
    "primary_id",
    "first_name",
    "middle_name",
    "last_name",
    "user_group",
    "campus_code",
    "preferred_language",
    "job_category",
    "user_title",
    "gender",
    "birth_date",
    "expiry_date",
    "purge_date",
    "status",
    "email",
    "email.preferred",
    "phone",
    "phone.preferred",
    "address",
    "address.preferred",
    "address.line1",
    "address.city",
    "address.state_province",
    "address.postal_code",
    "address.country",
    "address.address_type",
    "statistic",
    "identifier:<TYPE>",
];

/// I-Share's mandatory fields for public users (CARLI, *I-Share Mandatory Fields for User
/// Records in Alma*): linked records in other member libraries copy only the preferred
/// address and email, and staff there cannot save a record that lacks them.
pub const I_SHARE: &[&str] = &[
    "primary_id",
    "last_name",
    "email",
    "email.preferred",
    "user_group",
    "expiry_date",
    "purge_date",
    "address",
    "address.preferred",
    "address.address_type",
    "address.line1",
    "address.state_province",
    "address.postal_code",
    "address.city",
];

/// A named list of mandatory fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MandatoryProfile {
    /// The profile's name, shown in findings (`alma`, `i-share`, or a site's).
    pub name: String,
    fields: Vec<String>,
}

/// A field name no profile knows.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown mandatory field {field:?}; known fields: {}",
    FIELD_NAMES.join(", ")
)]
pub struct UnknownField {
    /// The name as written.
    pub field: String,
}

/// A profile name that is not built in.
#[derive(Debug, thiserror::Error)]
#[error("unknown mandatory-field profile {name:?}; built in: alma, i-share")]
pub struct UnknownProfile {
    /// The name as written.
    pub name: String,
}

impl MandatoryProfile {
    /// Alma's own profile: nothing beyond what record validation enforces from the schema
    /// (SIS users are "not subject to mandatory fields"; primary id is always required).
    pub fn alma() -> Self {
        MandatoryProfile {
            name: "alma".into(),
            fields: Vec::new(),
        }
    }

    /// A built-in profile by name: `alma` or `i-share`.
    pub fn builtin(name: &str) -> Result<Self, UnknownProfile> {
        match name {
            "alma" => Ok(Self::alma()),
            "i-share" => Ok(MandatoryProfile {
                name: "i-share".into(),
                fields: I_SHARE.iter().map(|s| (*s).to_owned()).collect(),
            }),
            _ => Err(UnknownProfile { name: name.into() }),
        }
    }

    /// Adds a site's fields to the profile.
    pub fn with_fields<S: AsRef<str>>(
        mut self,
        fields: impl IntoIterator<Item = S>,
    ) -> Result<Self, UnknownField> {
        for field in fields {
            let field = field.as_ref();
            let known = FIELD_NAMES.contains(&field)
                || field
                    .strip_prefix("identifier:")
                    .is_some_and(|t| !t.is_empty() && t != "<TYPE>");
            if !known {
                return Err(UnknownField {
                    field: field.into(),
                });
            }
            if !self.fields.iter().any(|f| f == field) {
                self.fields.push(field.to_owned());
            }
        }
        Ok(self)
    }

    /// The fields this profile requires, beyond the schema's.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The required fields `user` lacks, as (field path, what is missing) pairs.
    pub fn missing(&self, user: &User) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for field in &self.fields {
            if let Some(id_type) = field.strip_prefix("identifier:") {
                if !user
                    .user_identifiers
                    .iter()
                    .any(|i| i.id_type.code == id_type && !blank(&i.value))
                {
                    out.push((
                        "user_identifiers/user_identifier".into(),
                        format!("an identifier of type {id_type}"),
                    ));
                }
                continue;
            }
            if let Some(part) = field.strip_prefix("address.") {
                missing_in_addresses(user, part, &mut out);
                continue;
            }
            let present = match field.as_str() {
                "primary_id" => !blank(&user.primary_id),
                "first_name" => text(&user.first_name),
                "middle_name" => text(&user.middle_name),
                "last_name" => text(&user.last_name),
                "user_group" => code(&user.user_group),
                "campus_code" => code(&user.campus_code),
                "preferred_language" => code(&user.preferred_language),
                "job_category" => code(&user.job_category),
                "user_title" => code(&user.user_title),
                "gender" => code(&user.gender),
                "birth_date" => user.birth_date.is_some(),
                "expiry_date" => user.expiry_date.is_some(),
                "purge_date" => user.purge_date.is_some(),
                "status" => user.status.is_some(),
                "email" => user
                    .contact_info
                    .emails
                    .iter()
                    .any(|e| !blank(&e.email_address)),
                "email.preferred" => user.contact_info.emails.iter().any(|e| e.preferred),
                "phone" => user
                    .contact_info
                    .phones
                    .iter()
                    .any(|p| !blank(&p.phone_number)),
                "phone.preferred" => user.contact_info.phones.iter().any(|p| p.preferred),
                "address" => !user.contact_info.addresses.is_empty(),
                "statistic" => !user.user_statistics.is_empty(),
                _ => true,
            };
            if !present {
                out.push((path_of(field).into(), describe(field)));
            }
        }
        out
    }
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

fn text(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !blank(s))
}

fn code(c: &Option<alma_user_model::CodeValue>) -> bool {
    c.as_ref().is_some_and(|c| !blank(&c.code))
}

fn path_of(field: &str) -> &str {
    match field {
        "email" | "email.preferred" => "contact_info/emails/email",
        "phone" | "phone.preferred" => "contact_info/phones/phone",
        "address" => "contact_info/addresses/address",
        "statistic" => "user_statistics/user_statistic",
        other => other,
    }
}

fn describe(field: &str) -> String {
    match field {
        "email" => "an email address".into(),
        "email.preferred" => "an email marked preferred=\"true\"".into(),
        "phone" => "a phone number".into(),
        "phone.preferred" => "a phone marked preferred=\"true\"".into(),
        "address" => "an address".into(),
        "statistic" => "a statistical category".into(),
        other => format!("<{other}>"),
    }
}

fn missing_in_addresses(user: &User, part: &str, out: &mut Vec<(String, String)>) {
    let addresses = &user.contact_info.addresses;
    if part == "preferred" {
        if !addresses.iter().any(|a| a.preferred) {
            out.push((
                "contact_info/addresses/address".into(),
                "an address marked preferred=\"true\"".into(),
            ));
        }
        return;
    }
    for (i, address) in addresses.iter().enumerate() {
        let present = match part {
            "line1" => text(&address.line1),
            "city" => text(&address.city),
            "state_province" => text(&address.state_province),
            "postal_code" => text(&address.postal_code),
            "country" => code(&address.country),
            "address_type" => has_type(address),
            _ => true,
        };
        if !present {
            let element = if part == "address_type" {
                "address_types/address_type"
            } else {
                part
            };
            out.push((
                format!("contact_info/addresses/address[{i}]/{element}"),
                format!("<{element}> in address {}", i + 1),
            ));
        }
    }
}

fn has_type(address: &Address) -> bool {
    address.address_types.iter().any(|t| !blank(&t.code))
}
