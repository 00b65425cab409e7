//! Goldens: the spec's section 7 example and a user with every supported element, as insta
//! snapshots, validated by xmllint against rest_users.xsd.

use alma_user_model::{
    Address, CodeValue, Email, LibraryNotice, Phone, RecordType, User, UserBlock, UserIdentifier,
    UserNote, UserStatistic, UserStatus, UserXmlWriter, WriterOptions, validate,
};
use chrono::{NaiveDate, TimeZone, Utc};

use crate::support::{assert_schema_valid, read_all, shared};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

fn document(users: &[User]) -> String {
    let mut w = UserXmlWriter::new(Vec::new(), &WriterOptions::default()).expect("header");
    for u in users {
        w.write_user(u).expect("a valid user writes");
    }
    String::from_utf8(w.finish().expect("finish")).expect("UTF-8")
}

/// The XML block of section 7 of the spec.
fn spec_example() -> String {
    let spec = std::fs::read_to_string(shared().join("spec/alma-user-xml.md")).expect("spec");
    let section = &spec[spec.find("## 7.").expect("section 7")..];
    let start = section.find("```xml").expect("an xml block") + "```xml".len();
    let end = section[start..].find("```").expect("block end") + start;
    section[start..end].trim().to_owned()
}

/// The section 7 user, built with the constructors.
fn section7_user() -> User {
    let mut user = User::new("jdoe")
        .with_name("Jane", "Doe")
        .with_user_group(CodeValue::with_desc("UGRD", "Undergraduate"))
        .with_expiry_date(date(2026, 9, 30))
        .with_purge_date(date(2027, 9, 30))
        .with_address(
            Address::home("1 Main St", "Springfield", "62701")
                .state_province("IL")
                .country(CodeValue::with_desc("USA", "United States")),
        )
        .with_email(Email::new("jdoe@example.edu", "school"))
        .with_phone(Phone::new("+1 217 555 0100", "mobile"))
        .with_identifier("BARCODE", "21234000012345")
        .with_identifier("UNIV_ID", "900123456");
    user.campus_code = Some(CodeValue::new("MAIN"));
    user.preferred_language = Some(CodeValue::new("en"));
    user.user_identifiers[0].status = Some("ACTIVE".into());
    user.user_notes
        .push(UserNote::new("CIRCULATION", "Loaded from SIS"));
    user.user_statistics
        .push(UserStatistic::new(CodeValue::with_desc("HIST", "History")));
    // The example leaves out what `User::new` and the constructors fill in.
    user.account_type = None;
    let ci = &mut user.contact_info;
    ci.addresses.iter_mut().for_each(|a| a.segment_type = None);
    ci.emails.iter_mut().for_each(|e| e.segment_type = None);
    ci.phones.iter_mut().for_each(|p| p.segment_type = None);
    user.user_identifiers
        .iter_mut()
        .for_each(|i| i.segment_type = None);
    user.user_notes
        .iter_mut()
        .for_each(|n| n.segment_type = None);
    user.user_statistics
        .iter_mut()
        .for_each(|s| s.segment_type = None);
    user
}

#[test]
fn section7_example_reads_cleanly_into_the_built_user() {
    let xml = spec_example();
    assert_schema_valid(xml.as_bytes());
    let (users, document) = read_all(xml.as_bytes()).expect("the example reads");
    assert!(document.is_empty(), "{document:?}");
    assert_eq!(users.len(), 1);
    assert!(users[0].findings.is_empty(), "{:?}", users[0].findings);
    assert_eq!(users[0].user, section7_user());
    assert!(validate(&users[0].user, &Default::default()).is_empty());
}

#[test]
fn section7_example_golden() {
    let xml = document(&[section7_user()]);
    assert_schema_valid(xml.as_bytes());
    insta::assert_snapshot!("section7", xml);
}

/// A user with every element and attribute the model supports.
pub fn every_element_user() -> User {
    let created = Utc
        .with_ymd_and_hms(2019, 12, 18, 14, 36, 48)
        .single()
        .expect("a valid time")
        + chrono::Duration::milliseconds(659);
    let mut user = User::new("p-0001")
        .with_name("Zoë", "O'Brien & Søn <test>")
        .with_user_group(CodeValue::with_desc("GRAD", "Graduate \"student\""))
        .with_expiry_date(date(2030, 1, 16))
        .with_purge_date(date(2031, 1, 16));
    user.record_type = Some(RecordType::Public);
    user.middle_name = Some("Q".into());
    user.pin_number = Some("1234".into());
    user.user_title = Some(CodeValue::with_desc("DR", "Dr."));
    user.job_category = Some(CodeValue::new("LIBRARIAN"));
    user.job_description = Some("Cataloguing".into());
    user.gender = Some(CodeValue::new("FEMALE"));
    user.campus_code = Some(CodeValue::with_desc("MAIN", "Main campus"));
    user.web_site_url = Some("https://example.edu/~zoe".into());
    user.cataloger_level = Some(CodeValue::with_desc("00", "[00] Default Level"));
    user.preferred_language = Some(CodeValue::new("en"));
    user.birth_date = Some(date(1990, 2, 28));
    user.external_id = Some("SIS".into());
    user.status = Some(UserStatus::Active);
    let mut home = Address::home("1 Main St", "Springfield", "62701")
        .line2("Apt 2")
        .state_province("IL")
        .country(CodeValue::with_desc("USA", "United States"));
    home.line3 = Some("c/o Registrar".into());
    home.line4 = Some("Building 4".into());
    home.line5 = Some("Room 5".into());
    home.address_note = Some("Term address\nsecond line".into());
    home.start_date = Some(date(2024, 9, 1));
    home.end_date = Some(date(2025, 6, 30));
    user.add_address(home);
    user.add_address(
        Address::new("work")
            .line1("2 Campus Rd")
            .city("Springfield"),
    );
    let mut email = Email::new("zoe@example.edu", "school");
    email.description = Some("University mail".into());
    user.add_email(email);
    user.add_email(Email::new("zoe@example.org", "personal"));
    let mut mobile = Phone::new("+1 217 555 0100", "mobile");
    mobile.preferred_sms = true;
    mobile.phone_types.push(CodeValue::new("home"));
    user.add_phone(mobile);
    let mut barcode = UserIdentifier::new("BARCODE", "21234000012345");
    barcode.note = Some("Issued 2024".into());
    barcode.status = Some("ACTIVE".into());
    user.user_identifiers.push(barcode);
    user.user_identifiers
        .push(UserIdentifier::new("UNIV_ID", "900123456"));
    let mut block = UserBlock::new("LOST_ID");
    block.block_status = Some("Active".into());
    block.block_note = Some("Card reported lost".into());
    block.created_by = Some("sis".into());
    block.created_date = Some(created);
    block.expiry_date = Some(created + chrono::Duration::days(30));
    block.item_loan_id = Some("23456789".into());
    user.user_blocks.push(block);
    let mut note = UserNote::new("CIRCULATION", "Loaded from SIS\tv2");
    note.user_viewable = true;
    note.popup_note = false;
    note.created_by = Some("sis".into());
    note.created_date = Some(created);
    user.user_notes.push(note);
    let mut stat = UserStatistic::new(CodeValue::with_desc("HIST", "History"));
    stat.category_type = Some(CodeValue::with_desc("DEPT", "Department"));
    stat.statistic_note = Some("Major".into());
    user.user_statistics.push(stat);
    user.rs_libraries
        .push(CodeValue::with_desc("RS_MAIN", "Main RS library"));
    user.library_notices.push(LibraryNotice::new(
        CodeValue::with_desc("OverdueNotice", "Overdue"),
        true,
    ));
    user.pref_first_name = Some("Zo".into());
    user.pref_middle_name = Some("Quinn".into());
    user.pref_last_name = Some("OBrien".into());
    user.pref_name_suffix = Some("PhD".into());
    user
}

#[test]
fn every_element_golden_validates_and_reads_back() {
    let user = every_element_user();
    assert!(validate(&user, &Default::default()).is_empty());
    let xml = document(std::slice::from_ref(&user));
    assert_schema_valid(xml.as_bytes());
    insta::assert_snapshot!("every_element", xml);
    let (users, document) = read_all(xml.as_bytes()).expect("reads back");
    assert!(document.is_empty());
    assert!(users[0].findings.is_empty(), "{:?}", users[0].findings);
    assert_eq!(users[0].user, user);
}
