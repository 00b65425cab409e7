//! Record validation: one finding per broken rule, with its code and field; and the
//! code-table TSV.

use alma_user_model::{
    Address, CodeLookup, CodeTables, CodeValue, Email, Phone, User, UserBlock, UserIdentifier,
    UserNote, UserStatistic, ValidationOptions, render_user, validate, validate_rendered,
};

use crate::roundtrip::wrap;
use crate::support::read_all;

fn base() -> User {
    User::new("jdoe")
        .with_address(Address::home("1 Main St", "Springfield", "62701"))
        .with_email(Email::new("jdoe@example.edu", "school"))
        .with_identifier("BARCODE", "B1")
}

/// Applies `change` to a clean user and compares `code field` of the findings.
fn check(change: fn(&mut User), tables: &str, expected: &[&str]) {
    let mut user = base();
    change(&mut user);
    let options = ValidationOptions {
        code_tables: CodeTables::parse_tsv(tables).expect("tables parse"),
    };
    let got: Vec<String> = validate(&user, &options)
        .iter()
        .map(|f| format!("{} {}", f.code, f.field.as_deref().unwrap_or("-")))
        .collect();
    assert_eq!(got, expected);
}

/// A change to the clean user, the code tables, and the expected `code field`s.
type Case<'a> = (fn(&mut User), &'a str, &'a [&'a str]);

#[test]
fn record_rules() {
    let cases: &[Case] = &[
        (|_| {}, "", &[]),
        (|u| u.primary_id.clear(), "", &["E-MANDATORY primary_id"]),
        (
            |u| u.account_type = Some(alma_user_model::AccountType::Internal),
            "",
            &["W-INTERNAL account_type"],
        ),
        (
            |u| u.first_name = Some("Ja\u{7}ne".into()),
            "",
            &["E-CHAR first_name"],
        ),
        (
            |u| u.contact_info.emails[0].email_types[0].desc = Some("\u{FFFE}".into()),
            "",
            &["E-CHAR contact_info/emails/email[0]/email_types/email_type[0]/@desc"],
        ),
        (
            |u| u.last_name = Some("x".repeat(256)),
            "",
            &["E-TOO-LONG last_name"],
        ),
        (|u| u.last_name = Some("é".repeat(255)), "", &[]),
        // An optional code without a code is not written, its `desc` with it (a random case
        // of `a_rendered_user_needs_no_second_character_check` once found E-CHAR here).
        (
            |u| {
                u.user_title = Some(CodeValue {
                    code: String::new(),
                    desc: Some("a\u{B}".repeat(300)),
                })
            },
            "",
            &[],
        ),
        (
            |u| u.campus_code = Some(CodeValue::new("c".repeat(51))),
            "",
            &["E-TOO-LONG campus_code"],
        ),
        (
            |u| u.contact_info.addresses[0].address_types.clear(),
            "",
            &["E-MANDATORY contact_info/addresses/address[0]/address_types"],
        ),
        // An empty type is as missing as no type: Alma says "Mandatory field is missing".
        (
            |u| u.contact_info.addresses[0].address_types[0].code.clear(),
            "",
            &["E-MANDATORY contact_info/addresses/address[0]/address_types/address_type[0]"],
        ),
        (
            |u| {
                u.contact_info.emails[0].email_types =
                    vec![CodeValue::new("school"), CodeValue::new("")]
            },
            "UserEmailTypes\tschool\n",
            &["E-MANDATORY contact_info/emails/email[0]/email_types/email_type[1]"],
        ),
        (
            |u| {
                u.contact_info
                    .phones
                    .push(Phone::new("1", "").as_preferred())
            },
            "",
            &["E-MANDATORY contact_info/phones/phone[0]/phone_types/phone_type[0]"],
        ),
        (
            |u| u.contact_info.addresses[0].preferred = false,
            "",
            &["W-NO-PREFERRED-ADDRESS contact_info/addresses"],
        ),
        (
            |u| {
                u.contact_info
                    .emails
                    .push(Email::new("b@x", "work").as_preferred())
            },
            "",
            &["E-MULTIPLE-PREFERRED contact_info/emails"],
        ),
        (
            |u| u.contact_info.emails[0].preferred = false,
            "",
            &["W-NO-PREFERRED-EMAIL contact_info/emails"],
        ),
        (
            |u| u.contact_info.emails[0].email_address.clear(),
            "",
            &["E-MANDATORY contact_info/emails/email[0]/email_address"],
        ),
        (
            |u| u.contact_info.emails[0].email_types.clear(),
            "",
            &["E-MANDATORY contact_info/emails/email[0]/email_types"],
        ),
        (
            |u| u.contact_info.phones.push(Phone::new("", "mobile")),
            "",
            &["E-MANDATORY contact_info/phones/phone[0]/phone_number"],
        ),
        (
            |u| {
                u.contact_info.phones.push(Phone {
                    phone_types: vec![],
                    ..Phone::new("1", "x")
                })
            },
            "",
            &["E-MANDATORY contact_info/phones/phone[0]/phone_types"],
        ),
        (
            |u| {
                u.contact_info
                    .phones
                    .push(Phone::new("1", "x").as_preferred());
                u.contact_info
                    .phones
                    .push(Phone::new("2", "x").as_preferred());
            },
            "",
            &["E-MULTIPLE-PREFERRED contact_info/phones"],
        ),
        (
            |u| {
                u.user_identifiers
                    .push(UserIdentifier::new("UNIV_ID", "JDOE"))
            },
            "",
            &["E-ID-TAKEN-IN-FEED user_identifiers/user_identifier[1]/value"],
        ),
        (
            |u| {
                u.user_identifiers
                    .push(UserIdentifier::new("UNIV_ID", "b1"))
            },
            "",
            &["E-ID-TAKEN-IN-FEED user_identifiers/user_identifier[1]/value"],
        ),
        (
            |u| u.user_identifiers.push(UserIdentifier::new("", "")),
            "",
            &[
                "E-MANDATORY user_identifiers/user_identifier[1]/id_type",
                "E-MANDATORY user_identifiers/user_identifier[1]/value",
            ],
        ),
        (
            |u| u.user_notes.push(UserNote::new("", "x")),
            "",
            &["E-MANDATORY user_notes/user_note[0]/note_type"],
        ),
        (
            |u| u.user_blocks.push(UserBlock::new("")),
            "",
            &["E-MANDATORY user_blocks/user_block[0]/block_description"],
        ),
        (
            |u| u.user_statistics.push(UserStatistic::new("")),
            "",
            &["E-MANDATORY user_statistics/user_statistic[0]/statistic_category"],
        ),
        (
            |u| u.user_identifiers[0].segment_type = Some("Internal".into()),
            "",
            &["I-SEGMENT-INTERNAL user_identifiers/user_identifier[0]/@segment_type"],
        ),
        (
            |u| u.user_group = Some(CodeValue::new("UGRD")),
            "UserGroups\tUGRD\n",
            &[],
        ),
        (
            |u| u.user_group = Some(CodeValue::new("ugrd")),
            "UserGroups\tUGRD\n",
            &["E-CASE user_group"],
        ),
        (
            |u| u.user_group = Some(CodeValue::new("STAFF")),
            "UserGroups\tUGRD\n",
            &["E-CODE-VALUE user_group"],
        ),
        (
            |u| u.user_group = Some(CodeValue::new("STAFF")),
            "Genders\tMALE\n",
            &[],
        ),
        (
            |_| {},
            "UserAddressTypes\tHome\nUserEmailTypes\tschool\n",
            &["E-CASE contact_info/addresses/address[0]/address_types/address_type[0]"],
        ),
        (
            |_| {},
            "UserIdentifierTypes\tUNIV_ID\n",
            &["E-CODE-VALUE user_identifiers/user_identifier[0]/id_type"],
        ),
    ];
    for (change, tables, expected) in cases {
        check(*change, tables, expected);
    }
}

/// A user the tool builds with an empty type is refused as a read one is: the writer writes
/// `<email_type></email_type>`, and validation finds the same before rendering and after
/// reading it back.
#[test]
fn an_empty_type_is_mandatory_on_both_sides() {
    let mut user = base();
    user.contact_info.emails[0].email_types[0].code.clear();
    user.contact_info
        .phones
        .push(Phone::new("1", "").as_preferred());
    let options = ValidationOptions::default();
    let built = validate(&user, &options);
    let codes = |found: &[alma_user_model::Finding]| -> Vec<String> {
        found
            .iter()
            .map(|f| format!("{} {}", f.code, f.field.as_deref().unwrap_or("-")))
            .collect()
    };
    assert_eq!(
        codes(&built),
        [
            "E-MANDATORY contact_info/emails/email[0]/email_types/email_type[0]",
            "E-MANDATORY contact_info/phones/phone[0]/phone_types/phone_type[0]",
        ]
    );
    let mut xml = Vec::new();
    render_user(&user, &mut xml).expect("renders");
    assert_eq!(validate_rendered(&user, &options), built);
    let (read, _) = read_all(&wrap(&xml)).expect("reads back");
    assert_eq!(read[0].user, user);
    assert_eq!(codes(&validate(&read[0].user, &options)), codes(&built));
}

#[test]
fn findings_name_the_user() {
    let mut user = base();
    user.first_name = Some("\u{0}".into());
    let findings = validate(&user, &ValidationOptions::default());
    assert_eq!(findings[0].primary_id.as_deref(), Some("jdoe"));
    assert!(!findings[0].message.contains('\u{0}'));
}

#[test]
fn code_table_tsv() {
    let tables = CodeTables::parse_tsv(
        "table\tcode\tdescription\n# comment\n\nUserGroups\tUGRD\tUndergraduate\r\nUserGroups\tGRAD\n",
    )
    .expect("parses");
    assert_eq!(tables.table_names().collect::<Vec<_>>(), ["UserGroups"]);
    assert_eq!(tables.lookup("UserGroups", "UGRD"), CodeLookup::Known);
    assert_eq!(
        tables.lookup("UserGroups", "Grad"),
        CodeLookup::CaseOnly("GRAD")
    );
    assert_eq!(tables.lookup("UserGroups", "X"), CodeLookup::Unknown);
    assert_eq!(tables.lookup("Genders", "X"), CodeLookup::NoTable);
    assert_eq!(
        tables.description("UserGroups", "UGRD"),
        Some("Undergraduate")
    );
    assert_eq!(tables.description("UserGroups", "GRAD"), None);
    let err = CodeTables::parse_tsv("UserGroups\tUGRD\nno-tab-here\n").expect_err("bad line");
    assert_eq!(
        err.to_string(),
        "code tables, line 2: expected `table<TAB>code[<TAB>description]`"
    );
}

#[test]
fn a_forbidden_character_is_named_by_its_place_counting_from_one() {
    let mut user = base();
    user.last_name = Some("Tay\u{0}lor".into());
    let found = validate(&user, &ValidationOptions::default());
    assert!(
        found[0].message.starts_with("character 4 is U+0000"),
        "{}",
        found[0].message
    );
    let err = alma_user_model::render_user(&user, &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("U+0000) as character 4 of the value"), "{err}");
}
