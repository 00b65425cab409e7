//! `check`: one table-driven test per layer, each code with a failing and a passing input;
//! the real-world samples; the broken-input corpus; bounded state.

mod codes;
mod corpus;
mod hostile;
mod java_kinds;
mod jdk;
mod samples;

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use alma_sis_package::check::{
    CheckFinding, CheckOptions, Checker, Limits, MandatoryProfile, PreviousFeed, Summary,
};
use alma_user_model::{CodeTables, MatchId, Severity, User, UserReader, ValidationOptions};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Runs a check over `path` and returns every finding and the summary.
pub fn run_check(path: &Path, options: &CheckOptions) -> (Vec<CheckFinding>, Summary) {
    let mut found = Vec::new();
    let summary = {
        let mut checker = Checker::with_sink(options, |f| found.push(f));
        checker.check_path(path).expect("the input can be read");
        checker.summary()
    };
    (found, summary)
}

/// The sorted, distinct codes of the given severity.
pub fn codes_of(findings: &[CheckFinding], severity: Severity) -> Vec<String> {
    let mut codes: Vec<String> = findings
        .iter()
        .filter(|f| f.finding.severity == severity)
        .map(|f| f.finding.code.clone())
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

fn write_input(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("the temp dir is writable");
    path
}

/// Checks one file named `name` holding `bytes` and compares the codes of `severity`.
fn check(name: &str, bytes: &[u8], options: &CheckOptions, severity: Severity, expected: &[&str]) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = write_input(dir.path(), name, bytes);
    let (found, _) = run_check(&path, options);
    let codes = codes_of(&found, severity);
    assert_eq!(
        codes,
        expected,
        "{name}: findings were:\n{}",
        found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A user that passes every check, with `extra` elements before `</user>`.
fn user(id: &str, barcode: &str, extra: &str) -> String {
    format!(
        "<user><primary_id>{id}</primary_id><first_name>Test</first_name>\
         <last_name>User</last_name><user_group>UGRD</user_group>\
         <expiry_date>2027-09-30Z</expiry_date><account_type>EXTERNAL</account_type>\
         <contact_info><addresses><address preferred=\"true\"><line1>1 Main St</line1>\
         <city>Springfield</city><address_types><address_type>home</address_type>\
         </address_types></address></addresses><emails><email preferred=\"true\">\
         <email_address>{id}@example.edu</email_address><email_types>\
         <email_type>school</email_type></email_types></email></emails></contact_info>\
         <user_identifiers><user_identifier><id_type>BARCODE</id_type><value>{barcode}</value>\
         </user_identifier></user_identifiers>{extra}</user>\n"
    )
}

fn doc(users: &[String]) -> Vec<u8> {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users>\n");
    s.extend(users.iter().cloned());
    s.push_str("</users>\n");
    s.into_bytes()
}

fn good() -> Vec<u8> {
    doc(&[user("u1", "B1", ""), user("u2", "B2", "")])
}

fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::DEFAULT.compression_method(CompressionMethod::Deflated);
    for (name, bytes) in entries {
        zip.start_file(*name, options).expect("in memory");
        zip.write_all(bytes).expect("in memory");
    }
    zip.finish().expect("in memory").into_inner()
}

fn defaults() -> CheckOptions {
    CheckOptions::default()
}

#[test]
fn file_level_codes() {
    let o = defaults();
    let e = Severity::Error;
    let valid_zip = zip_of(&[("users.xml", good())]);
    check("users.zip", &valid_zip, &o, e, &[]);
    check(
        "users.zip",
        &valid_zip[..valid_zip.len() - 10],
        &o,
        e,
        &["E-ZIP-CORRUPT"],
    );
    check(
        "users.zip",
        b"PK\x03\x04 not really",
        &o,
        e,
        &["E-ZIP-CORRUPT"],
    );
    check("users.zip.part", &valid_zip, &o, e, &["E-NOT-ZIP"]);
    check("users.csv", b"id,name\n", &o, e, &["E-NOT-ZIP"]);
    check(
        "none.zip",
        &zip_of(&[("users.txt", good())]),
        &o,
        e,
        &["E-ZIP-NO-XML"],
    );
    let many: Vec<(String, Vec<u8>)> = (0..51)
        .map(|i| {
            (
                format!("u{i}.xml"),
                doc(&[user(&format!("u{i}"), &format!("B{i}"), "")]),
            )
        })
        .collect();
    let refs: Vec<(&str, Vec<u8>)> = many.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    check("many.zip", &zip_of(&refs), &o, e, &["E-ZIP-TOO-MANY-XML"]);
    check("fifty.zip", &zip_of(&refs[..50]), &o, e, &[]);
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend(good());
    check("bom.xml", &bom, &o, e, &[]);
    check(
        "junk.xml",
        &[b"\n".as_slice(), &good()].concat(),
        &o,
        e,
        &["E-XML-PI"],
    );
    check("users.xml", &good(), &o, e, &[]);
    let latin1 = String::from_utf8(good())
        .expect("utf-8")
        .replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"");
    check("latin1.xml", latin1.as_bytes(), &o, e, &[]);
    check(
        "latin1.xml",
        latin1.as_bytes(),
        &o,
        Severity::Warning,
        &["W-ENCODING", "W-NOT-ZIPPED"],
    );
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            String::from_utf8(good())
                .expect("utf-8")
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    assert!(codes_of(&check_bytes("utf16.xml", &utf16, &o), e).contains(&"E-ENCODING".to_owned()));
    let broken = String::from_utf8(good())
        .expect("utf-8")
        .replace("</user>\n<user>", "</user>\n<user><oops>");
    check("broken.xml", broken.as_bytes(), &o, e, &["E-XML"]);
}

fn check_bytes(name: &str, bytes: &[u8], options: &CheckOptions) -> Vec<CheckFinding> {
    let dir = tempfile::tempdir().expect("a temp dir");
    run_check(&write_input(dir.path(), name, bytes), options).0
}

#[test]
fn warnings_about_files() {
    let o = defaults();
    let w = Severity::Warning;
    check("users.xml", &good(), &o, w, &["W-NOT-ZIPPED"]);
    check("users.zip", &zip_of(&[("users.xml", good())]), &o, w, &[]);
    let with_readme = zip_of(&[("users.xml", good()), ("README.txt", b"hi".to_vec())]);
    check("users.zip", &with_readme, &o, w, &["W-ZIP-OTHER-ENTRY"]);
}

#[test]
fn folders() {
    let o = defaults();
    let dir = tempfile::tempdir().expect("a temp dir");
    write_input(dir.path(), "users.xml", &good());
    let (found, _) = run_check(dir.path(), &o);
    assert_eq!(codes_of(&found, Severity::Error), ["E-NO-ZIP"]);
    assert_eq!(codes_of(&found, Severity::Warning), ["W-IGNORED-FILE"]);
    write_input(dir.path(), "users.zip", &zip_of(&[("users.xml", good())]));
    let (found, summary) = run_check(dir.path(), &o);
    assert_eq!(codes_of(&found, Severity::Error), Vec::<String>::new());
    assert_eq!(summary.users, 2);
}

/// Patches the general-purpose flags of every header (local and central).
fn with_flags(mut bytes: Vec<u8>, flags: u16) -> Vec<u8> {
    for i in 0..bytes.len().saturating_sub(12) {
        let at = match &bytes[i..i + 4] {
            b"PK\x03\x04" => i + 6,
            b"PK\x01\x02" => i + 8,
            _ => continue,
        };
        bytes[at..at + 2].copy_from_slice(&flags.to_le_bytes());
    }
    bytes
}

#[test]
fn encrypted_entries() {
    let plain = zip_of(&[("users.xml", good())]);
    check(
        "users.zip",
        &with_flags(plain.clone(), 1),
        &defaults(),
        Severity::Error,
        &["E-ZIP-ENCRYPTED"],
    );
    check(
        "users.zip",
        &with_flags(plain, 0),
        &defaults(),
        Severity::Error,
        &[],
    );
}

#[test]
fn byte_and_character_codes() {
    let o = defaults();
    let e = Severity::Error;
    let cp1252: Vec<u8> = String::from_utf8(good())
        .expect("utf-8")
        .replace("<first_name>Test", "<first_name>Ren\u{1}")
        .into_bytes()
        .into_iter()
        .map(|b| if b == 1 { 0xE9 } else { b })
        .collect();
    check("cp1252.xml", &cp1252, &o, e, &["E-UTF8"]);
    let accented = String::from_utf8(good())
        .expect("utf-8")
        .replace("Test", "René 李");
    check("accented.xml", accented.as_bytes(), &o, e, &[]);
    let control = String::from_utf8(good())
        .expect("utf-8")
        .replace("Test", "Te\u{8}st");
    check("control.xml", control.as_bytes(), &o, e, &["E-CHAR"]);
    let reference = String::from_utf8(good())
        .expect("utf-8")
        .replace("Test", "Te&#x1B;st");
    check("reference.xml", reference.as_bytes(), &o, e, &["E-CHAR"]);
}

#[test]
fn the_bad_byte_is_attributed_to_its_user_with_line_and_column() {
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users>\n".to_owned()
        + &user("u1", "B1", "")
        + &user("u2", "B2", "").replace("Test", "Ren\u{1}")
        + "</users>\n";
    let bytes: Vec<u8> = xml
        .into_bytes()
        .into_iter()
        .map(|b| if b == 1 { 0xE9 } else { b })
        .collect();
    let found = check_bytes("users.xml", &bytes, &defaults());
    let utf8: Vec<&CheckFinding> = found
        .iter()
        .filter(|f| f.finding.code == "E-UTF8")
        .collect();
    assert_eq!(utf8.len(), 1);
    assert_eq!(utf8[0].finding.primary_id.as_deref(), Some("u2"));
    let p = utf8[0].finding.position.expect("a position");
    assert_eq!((p.line, p.column), (4, 49));
    assert!(utf8[0].file.ends_with("users.xml"));
    // Positions stay right after a removed BOM.
    let found = check_bytes(
        "users.xml",
        &[b"\xEF\xBB\xBF", &bytes[..]].concat(),
        &defaults(),
    );
    let utf8 = found
        .iter()
        .find(|f| f.finding.code == "E-UTF8")
        .expect("an E-UTF8 finding");
    let p = utf8.finding.position.expect("a position");
    assert_eq!((p.line, p.column), (4, 49));
    assert_eq!(utf8.finding.primary_id.as_deref(), Some("u2"));
    // Junk before the declaration is where Java stops: nothing after it is read.
    let found = check_bytes(
        "users.xml",
        &[b"junk\n\n", &bytes[..]].concat(),
        &defaults(),
    );
    let errors: Vec<(&str, u64, u64)> = found
        .iter()
        .filter(|f| f.finding.severity == Severity::Error)
        .map(|f| {
            let p = f.finding.position.expect("a position");
            (f.finding.code.as_str(), p.line, p.column)
        })
        .collect();
    assert_eq!(errors, [("E-PROLOG", 1, 1)]);
}

#[test]
fn record_level_codes() {
    let o = defaults();
    let e = Severity::Error;
    let internal = String::from_utf8(good())
        .expect("utf-8")
        .replacen("EXTERNAL", "INTERNAL", 1);
    check("internal.xml", internal.as_bytes(), &o, e, &[]);
    check(
        "internal.xml",
        internal.as_bytes(),
        &o,
        Severity::Warning,
        &["W-INTERNAL", "W-NOT-ZIPPED"],
    );
    let no_type = String::from_utf8(good()).expect("utf-8").replacen(
        "<email_types><email_type>school</email_type></email_types>",
        "",
        1,
    );
    check("mandatory.xml", no_type.as_bytes(), &o, e, &["E-MANDATORY"]);
    // An empty type is as missing as no type ("Mandatory field is missing"), in each list.
    for (full, empty) in [
        ("<address_type>home</address_type>", "<address_type/>"),
        (
            "<email_type>school</email_type>",
            "<email_type></email_type>",
        ),
    ] {
        let empty_type = String::from_utf8(good())
            .expect("utf-8")
            .replacen(full, empty, 1);
        let found = check_bytes("empty-type.xml", empty_type.as_bytes(), &o);
        let fields: Vec<&str> = found
            .iter()
            .filter(|f| f.finding.code == "E-MANDATORY")
            .filter_map(|f| f.finding.field.as_deref())
            .collect();
        let list = &full[1..full.find('>').expect("a tag")];
        assert!(
            fields.len() == 1 && fields[0].ends_with(&format!("{list}s/{list}[0]")),
            "{empty}: {fields:?}"
        );
    }
    let phone = user("u1", "B1", "").replacen(
        "</emails>",
        "</emails><phones><phone preferred=\"true\"><phone_number>1</phone_number>\
         <phone_types><phone_type/></phone_types></phone></phones>",
        1,
    );
    check("phone.xml", &doc(&[phone]), &o, e, &["E-MANDATORY"]);
    let same_user = doc(&[user("u1", "U1", ""), user("u2", "B2", "")]);
    check("self.xml", &same_user, &o, e, &["E-ID-TAKEN-IN-FEED"]);
}

/// Issue 17: a purge date before the expiry date and a missing expiry date are warnings
/// (Alma loads the user); an email without types is reported at the email, not the user.
#[test]
fn dates_and_the_place_of_a_missing_field() {
    let o = defaults();
    let w = Severity::Warning;
    let purge_first = String::from_utf8(good()).expect("utf-8").replacen(
        "<expiry_date>2027-09-30Z</expiry_date>",
        "<expiry_date>2027-09-30Z</expiry_date><purge_date>2027-01-01Z</purge_date>",
        1,
    );
    let found = check_bytes("purge.xml", purge_first.as_bytes(), &o);
    assert_eq!(codes_of(&found, Severity::Error), Vec::<String>::new());
    assert!(codes_of(&found, w).contains(&"W-PURGE-BEFORE-EXPIRY".to_owned()));
    let no_expiry = String::from_utf8(good()).expect("utf-8").replacen(
        "<expiry_date>2027-09-30Z</expiry_date>",
        "",
        1,
    );
    let found = check_bytes("expiry.xml", no_expiry.as_bytes(), &o);
    let missing: Vec<&CheckFinding> = found
        .iter()
        .filter(|f| f.finding.code == "W-NO-EXPIRY")
        .collect();
    assert_eq!(missing.len(), 1, "only the user without one");
    assert_eq!(missing[0].finding.primary_id.as_deref(), Some("u1"));
    // The email without types: on the email's line.
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users>\n<user>\n\
               <primary_id>m1</primary_id><expiry_date>2027-01-01Z</expiry_date>\n\
               <contact_info><emails>\n\
               <email preferred=\"true\"><email_address>m1@example.edu</email_address>\
               </email>\n</emails></contact_info>\n</user>\n</users>\n";
    let found = check_bytes("email.xml", xml.as_bytes(), &o);
    let mandatory = found
        .iter()
        .find(|f| f.finding.code == "E-MANDATORY")
        .expect("E-MANDATORY");
    assert_eq!(
        mandatory.finding.field.as_deref(),
        Some("contact_info/emails/email[0]/email_types")
    );
    let p = mandatory.finding.position.expect("a position");
    assert_eq!((p.line, p.column), (6, 1), "{mandatory}");
    assert!(
        mandatory
            .finding
            .message
            .contains("Mandatory field is missing"),
        "{mandatory}"
    );
}

/// Issue 17: an XML file named `.zip` is told so, and its XML is still checked.
#[test]
fn plain_xml_named_zip_says_zip_it() {
    let found = check_bytes("users.zip", &good(), &defaults());
    let not_zip = found
        .iter()
        .find(|f| f.finding.code == "E-NOT-ZIP")
        .expect("E-NOT-ZIP");
    assert!(
        not_zip
            .finding
            .message
            .starts_with("this is an XML file, not a zip"),
        "{not_zip}"
    );
    assert_eq!(codes_of(&found, Severity::Error), ["E-NOT-ZIP"]);
    // Its users are read and checked all the same.
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = write_input(dir.path(), "users.zip", &good());
    let (_, summary) = run_check(&path, &defaults());
    assert_eq!((summary.documents, summary.users), (1, 2));
}

#[test]
fn feed_level_codes() {
    let e = Severity::Error;
    let o = defaults();
    check(
        "ok.xml",
        &doc(&[user("u1", "B1", ""), user("u2", "B2", "")]),
        &o,
        e,
        &[],
    );
    check(
        "dup.xml",
        &doc(&[user("u1", "B1", ""), user("U1", "B2", "")]),
        &o,
        e,
        &["E-DUP-MATCH-ID"],
    );
    check(
        "taken.xml",
        &doc(&[user("u1", "B1", ""), user("u2", "b1", "")]),
        &o,
        e,
        &["E-ID-TAKEN-IN-FEED"],
    );
    check(
        "cross.xml",
        &doc(&[user("u1", "B1", ""), user("u2", "U1", "")]),
        &o,
        e,
        &["E-ID-TAKEN-IN-FEED"],
    );
    check(
        "cross-back.xml",
        &doc(&[user("u1", "B1", ""), user("b1", "B2", "")]),
        &o,
        e,
        &["E-ID-TAKEN-IN-FEED"],
    );
    let by_barcode = CheckOptions {
        match_id: MatchId::parse("BARCODE"),
        ..CheckOptions::default()
    };
    check(
        "dup.xml",
        &doc(&[user("u1", "B1", ""), user("u2", "B1", "")]),
        &by_barcode,
        e,
        &["E-DUP-MATCH-ID"],
    );
    check(
        "ok.xml",
        &doc(&[user("u1", "B1", ""), user("u2", "B2", "")]),
        &by_barcode,
        e,
        &[],
    );
    let by_univ_id = CheckOptions {
        match_id: MatchId::parse("UNIV_ID"),
        ..CheckOptions::default()
    };
    check("nomatch.xml", &good(), &by_univ_id, e, &["E-NO-MATCH-ID"]);
}

#[test]
fn feeds_span_files() {
    let dir = tempfile::tempdir().expect("a temp dir");
    write_input(
        dir.path(),
        "a.zip",
        &zip_of(&[("a.xml", doc(&[user("u1", "B1", "")]))]),
    );
    write_input(
        dir.path(),
        "b.zip",
        &zip_of(&[("b.xml", doc(&[user("u2", "B1", "")]))]),
    );
    let (found, _) = run_check(dir.path(), &defaults());
    let taken: Vec<&CheckFinding> = found
        .iter()
        .filter(|f| f.finding.code == "E-ID-TAKEN-IN-FEED")
        .collect();
    assert_eq!(taken.len(), 1);
    assert!(taken[0].file.ends_with("b.zip"));
    assert_eq!(taken[0].entry.as_deref(), Some("b.xml"));
    // The first use is named with its entry, as findings name entries.
    assert!(
        taken[0].finding.message.contains("a.zip!a.xml line 3)"),
        "{}",
        taken[0].finding.message
    );
    // In one zip of several entries, the entry tells them apart.
    let many = zip_of(&[
        ("one.xml", doc(&[user("u1", "B1", "")])),
        ("two.xml", doc(&[user("u2", "B2", "")])),
        (
            "three.xml",
            doc(&[user("u3", "B3", ""), user("U2", "B4", "")]),
        ),
    ]);
    let found = check_bytes("many.zip", &many, &defaults());
    let dup: Vec<&CheckFinding> = found
        .iter()
        .filter(|f| f.finding.code == "E-DUP-MATCH-ID")
        .collect();
    assert_eq!(dup.len(), 1, "{dup:#?}");
    assert_eq!(dup[0].entry.as_deref(), Some("three.xml"));
    assert!(
        dup[0].finding.message.contains("many.zip!two.xml line 3)"),
        "{}",
        dup[0].finding.message
    );
}

#[test]
fn mandatory_profiles() {
    let e = Severity::Error;
    let ishare = CheckOptions {
        profile: Some(MandatoryProfile::builtin("i-share").expect("built in")),
        ..CheckOptions::default()
    };
    // The test user has no state_province, postal_code or purge_date.
    let found = check_bytes("users.xml", &good(), &ishare);
    let mut fields: Vec<&str> = found
        .iter()
        .filter(|f| {
            f.finding.code == "E-MANDATORY" && f.finding.primary_id.as_deref() == Some("u1")
        })
        .filter_map(|f| f.finding.field.as_deref())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "contact_info/addresses/address[0]/postal_code",
            "contact_info/addresses/address[0]/state_province",
            "purge_date"
        ]
    );
    let complete = String::from_utf8(good())
        .expect("utf-8")
        .replace(
            "<city>Springfield</city>",
            "<city>Springfield</city><state_province>IL</state_province>\
         <postal_code>62701</postal_code>",
        )
        .replace(
            "</expiry_date>",
            "</expiry_date><purge_date>2028-09-30Z</purge_date>",
        );
    check("complete.xml", complete.as_bytes(), &ishare, e, &[]);
    let site = CheckOptions {
        profile: Some(
            MandatoryProfile::alma()
                .with_fields(["identifier:UNIV_ID", "phone"])
                .expect("known fields"),
        ),
        ..CheckOptions::default()
    };
    check("site.xml", &good(), &site, e, &["E-MANDATORY"]);
    assert!(MandatoryProfile::alma().with_fields(["shoe_size"]).is_err());
    assert!(MandatoryProfile::builtin("carli").is_err());
}

#[test]
fn code_tables() {
    let e = Severity::Error;
    let tables = CodeTables::parse_tsv("UserGroups\tUGRD\nUserGroups\tGRAD\n").expect("valid TSV");
    let o = CheckOptions {
        validation: ValidationOptions {
            code_tables: tables,
        },
        ..CheckOptions::default()
    };
    check("ok.xml", &good(), &o, e, &[]);
    let case = String::from_utf8(good())
        .expect("utf-8")
        .replacen("UGRD", "ugrd", 1);
    check("case.xml", case.as_bytes(), &o, e, &["E-CASE"]);
    let unknown = String::from_utf8(good())
        .expect("utf-8")
        .replacen("UGRD", "PHD", 1);
    check("unknown.xml", unknown.as_bytes(), &o, e, &["E-CODE-VALUE"]);
}

#[test]
fn preferred_and_swap_all_warnings() {
    let w = Severity::Warning;
    let o = defaults();
    let zip = |b: Vec<u8>| zip_of(&[("users.xml", b)]);
    check("ok.zip", &zip(good()), &o, w, &[]);
    let no_email = String::from_utf8(good()).expect("utf-8").replace(
        "<emails><email preferred=\"true\"><email_address>u1@example.edu</email_address>\
         <email_types><email_type>school</email_type></email_types></email></emails>",
        "",
    );
    check(
        "noemail.zip",
        &zip(no_email.into_bytes()),
        &o,
        w,
        &["W-NO-PREFERRED-EMAIL"],
    );
    let not_preferred = String::from_utf8(good()).expect("utf-8").replacen(
        "<address preferred=\"true\">",
        "<address preferred=\"false\">",
        1,
    );
    check(
        "nopref.zip",
        &zip(not_preferred.into_bytes()),
        &o,
        w,
        &["W-NO-PREFERRED-ADDRESS"],
    );
    let blank = String::from_utf8(good()).expect("utf-8").replacen(
        "<first_name>Test</first_name>",
        "<first_name></first_name>",
        1,
    );
    check(
        "blank.zip",
        &zip(blank.into_bytes()),
        &o,
        w,
        &["W-BLANKS-FIELD"],
    );
    // A protected field sent empty is kept by Alma: no warning.
    let protected = String::from_utf8(good()).expect("utf-8").replacen(
        "<user_group>UGRD</user_group>",
        "<user_group/>",
        1,
    );
    check("protected.zip", &zip(protected.into_bytes()), &o, w, &[]);
}

#[test]
fn swap_all_against_the_previous_feed() {
    let previous_xml = doc(&[user("u1", "B1", "<middle_name>Q</middle_name>")]);
    let users: Vec<User> = UserReader::new(previous_xml.as_slice())
        .map(|r| r.expect("valid").user)
        .collect();
    let o = CheckOptions {
        previous: Some(PreviousFeed::from_users(&users, &MatchId::PrimaryId)),
        ..CheckOptions::default()
    };
    let now = doc(&[user("u1", "B1", "")]);
    let found = check_bytes("users.zip", &zip_of(&[("users.xml", now)]), &o);
    let blanked: Vec<&str> = found
        .iter()
        .filter(|f| f.finding.code == "W-BLANKS-FIELD")
        .filter_map(|f| f.finding.field.as_deref())
        .collect();
    assert_eq!(blanked, ["middle_name"]);
    let same = doc(&[user("u1", "B1", "<middle_name>Q</middle_name>")]);
    let found = check_bytes("users.zip", &zip_of(&[("users.xml", same)]), &o);
    assert!(found.iter().all(|f| f.finding.code != "W-BLANKS-FIELD"));
}

#[test]
fn limits_bound_hostile_input() {
    let e = Severity::Error;
    let tight = |entry, total, token| CheckOptions {
        limits: Limits {
            max_entry_bytes: entry,
            max_total_bytes: total,
            max_token_bytes: token,
        },
        ..CheckOptions::default()
    };
    // A zip bomb in miniature: 10 MB of zeros-like XML compress to a few KB.
    let bomb = format!(
        "<?xml version=\"1.0\"?><users><user><primary_id>{}</primary_id></user></users>",
        "a".repeat(10 << 20)
    );
    let zip = zip_of(&[("users.xml", bomb.into_bytes())]);
    assert!(zip.len() < 100_000);
    check(
        "bomb.zip",
        &zip,
        &tight(1 << 20, 1 << 30, 64 << 20),
        e,
        &["E-LIMIT"],
    );
    check(
        "bomb.zip",
        &zip,
        &tight(1 << 30, 1 << 20, 64 << 20),
        e,
        &["E-LIMIT"],
    );
    check(
        "bomb.zip",
        &zip,
        &tight(1 << 30, 1 << 30, 1 << 20),
        e,
        &["E-LIMIT"],
    );
    // A token over its limit stops the XML reader, not the zip's reading: one E-LIMIT, in
    // the entry, and no claim that the entries hold more than the byte limits allow.
    let found = check_bytes("bomb.zip", &zip, &tight(1 << 30, 1 << 30, 1 << 20));
    let limits: Vec<&CheckFinding> = found
        .iter()
        .filter(|f| f.finding.code == "E-LIMIT")
        .collect();
    assert_eq!(limits.len(), 1, "{limits:#?}");
    assert_eq!(
        limits[0].entry.as_deref(),
        Some("users.xml"),
        "{}",
        limits[0]
    );
    assert!(
        limits[0].finding.message.contains("max_token_bytes"),
        "{}",
        limits[0]
    );
    check(
        "users.zip",
        &zip_of(&[("users.xml", good())]),
        &tight(1 << 20, 1 << 20, 4096),
        e,
        &[],
    );
}

/// Past the first byte-level problems, the rest are counted under their own code, up to
/// where reading stopped, and the stop is still listed.
#[test]
fn byte_level_problems_past_the_listed_are_counted_by_kind() {
    let count = |found: &[CheckFinding], code: &str| {
        found.iter().filter(|f| f.finding.code == code).count()
    };
    let more = |found: &[CheckFinding], code: &str| -> Vec<String> {
        found
            .iter()
            .filter(|f| f.finding.code == code && f.finding.message.contains("not listed"))
            .map(|f| f.finding.message.clone())
            .collect()
    };
    // 300,000 NUL bytes between two users: a text node over a 100,000-byte token limit.
    let mut xml = doc(&[user("u1", "B1", ""), user("u2", "B2", "")]);
    let at = xml.len() - "</users>\n".len();
    xml.splice(at..at, std::iter::repeat_n(0u8, 300_000));
    let options = CheckOptions {
        limits: Limits {
            max_token_bytes: 100_000,
            ..Limits::default()
        },
        ..CheckOptions::default()
    };
    let found = check_bytes("nul.xml", &xml, &options);
    assert_eq!(count(&found, "E-UTF8"), 0, "the file is UTF-8");
    let stop = found
        .iter()
        .find(|f| f.finding.code == "E-LIMIT")
        .expect("the token limit is listed");
    let stop_column = stop.finding.position.expect("a position").column;
    // The NULs start a line: those up to the stop (the one there too, as when listed) are
    // the listed ones and the counted ones.
    let up_to_stop = stop_column;
    assert_eq!(
        count(&found, "E-CHAR"),
        1000 + 1,
        "the listed and the count"
    );
    assert_eq!(
        more(&found, "E-CHAR"),
        [format!(
            "{} more characters XML 1.0 forbids before where reading stopped not listed (at \
             most 1000 byte-level problems in a row are)",
            up_to_stop - 1000
        )]
    );
    // Bytes that are not UTF-8, without a stop: counted as E-UTF8.
    let mut xml = doc(&[user("u1", "B1", ""), user("u2", "B2", "")]);
    let at = xml.len() - "</users>\n".len();
    xml.splice(
        at..at,
        b"<!-- "
            .iter()
            .copied()
            .chain(std::iter::repeat_n(0xE9, 3000))
            .chain(*b" -->"),
    );
    let found = check_bytes("latin1.xml", &xml, &defaults());
    assert_eq!(count(&found, "E-CHAR"), 0);
    assert_eq!(
        more(&found, "E-UTF8"),
        [
            "2000 more byte sequences that are not UTF-8 not listed (at most 1000 byte-level \
          problems in a row are)"
        ]
    );
}

#[test]
fn entry_names_are_never_paths() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let evil = zip_of(&[("../../escape.xml", good()), ("/abs.xml", good())]);
    let path = write_input(dir.path(), "evil.zip", &evil);
    let (found, summary) = run_check(&path, &defaults());
    assert_eq!(summary.documents, 2);
    // The second entry repeats the first's users: found in an entry named as stored.
    assert!(found.iter().any(|f| f.finding.code == "E-DUP-MATCH-ID"
        && f.entry.as_deref().is_some_and(|e| e.ends_with("abs.xml"))));
    let listing: Vec<_> = std::fs::read_dir(dir.path()).expect("readable").collect();
    assert_eq!(listing.len(), 1, "nothing was extracted");
    assert!(!dir.path().join("../../escape.xml").exists());
}

#[test]
fn doctype_entities_are_not_expanded() {
    let xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE users [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \
               \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>\n<users><user><primary_id>&b;</primary_id>\
               </user></users>\n";
    let found = check_bytes("users.xml", xml.as_bytes(), &defaults());
    let codes = codes_of(&found, Severity::Error);
    assert!(codes.contains(&"E-DOCTYPE".to_owned()), "{codes:?}");
    assert!(
        found
            .iter()
            .all(|f| !f.finding.message.contains("aaaaaaaaaa"))
    );
}

#[test]
fn retained_state_is_bounded_by_identifiers_not_records() {
    let o = defaults();
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("big.xml");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("writable"));
    let n = 5_000;
    file.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users>\n")
        .expect("writable");
    for i in 0..n {
        // Long names and notes: record size must not show up in retained state.
        let extra = format!("<job_description>{}</job_description>", "x".repeat(200));
        file.write_all(user(&format!("u{i}"), &format!("B{i}"), &extra).as_bytes())
            .expect("writable");
    }
    file.write_all(b"</users>\n").expect("writable");
    drop(file);
    let mut errors = 0;
    let mut checker = Checker::with_sink(&o, |f| {
        if f.finding.severity == Severity::Error {
            errors += 1;
        }
    });
    checker.check_path(&path).expect("readable");
    let retained = checker.retained();
    assert_eq!(checker.summary().users, n);
    drop(checker);
    assert_eq!(errors, 0);
    assert_eq!(retained.users, n as usize);
    // Each user's primary id (the match ID) and barcode.
    assert_eq!(retained.identifiers, 2 * n as usize);
    assert_eq!(retained.pending_events, 0);
    // Only the primary ids (about 6 bytes each) are kept, not the ~1 KB records.
    assert!(retained.arena_bytes < 8 * n as usize, "{retained:?}");
}

#[test]
fn check_user_for_the_run_pipeline() {
    let o = defaults();
    let mut checker = Checker::new(&o);
    assert!(
        checker
            .check_user(&User::new("jdoe"), None)
            .iter()
            .all(|f| f.severity != Severity::Error)
    );
    let again = checker.check_user(&User::new("JDoe"), None);
    assert!(
        again
            .iter()
            .any(|f| f.code == "E-DUP-MATCH-ID" && f.primary_id.as_deref() == Some("JDoe"))
    );
}

#[test]
fn multibyte_text_across_buffer_boundaries_is_valid() {
    // Enough users that 3- and 4-byte characters straddle many 64 KiB reads.
    let users: Vec<String> = (0..3000)
        .map(|i| {
            user(&format!("u{i}"), &format!("B{i}"), "")
                .replace("Test", "Zoë 李小龍 𝔘")
                .replace("<last_name>User", "<last_name>Ñúñez")
        })
        .collect();
    let found = check_bytes("users.xml", &doc(&users), &defaults());
    assert_eq!(codes_of(&found, Severity::Error), Vec::<String>::new());
}

mod never_panics {
    use proptest::prelude::*;

    use super::{check_bytes, defaults, good, zip_of};

    proptest! {
        #[test]
        fn on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            check_bytes("any.xml", &bytes, &defaults());
            check_bytes("any.zip", &bytes, &defaults());
        }

        #[test]
        fn on_damaged_zips(at in 0usize..4096, byte in any::<u8>(), cut in 0usize..4096) {
            let mut zip = zip_of(&[("users.xml", good())]);
            let i = at % zip.len();
            zip[i] = byte;
            zip.truncate(zip.len() - cut % zip.len());
            check_bytes("users.zip", &zip, &defaults());
        }

        #[test]
        fn on_damaged_xml(at in 0usize..4096, byte in any::<u8>()) {
            let mut xml = good();
            let i = at % xml.len();
            xml[i] = byte;
            check_bytes("users.xml", &xml, &defaults());
        }
    }
}
