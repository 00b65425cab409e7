//! The four real-world files in `shared/alma/samples/`: at error level exactly the defects
//! their SOURCE.md lists, nothing else.

use std::path::PathBuf;

use alma_sis_package::check::CheckOptions;
use alma_user_model::Severity;

use super::run_check;

fn sample(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/alma/samples")
        .join(name)
}

/// Error-level (code, field) pairs, sorted.
fn check(name: &str, expected: &[(&str, &str)]) {
    let (found, _) = run_check(&sample(name), &CheckOptions::default());
    let mut errors: Vec<(String, String)> = found
        .iter()
        .filter(|f| f.finding.severity == Severity::Error)
        .map(|f| {
            (
                f.finding.code.clone(),
                f.finding.field.clone().unwrap_or_default(),
            )
        })
        .collect();
    errors.sort();
    let mut expected: Vec<(String, String)> = expected
        .iter()
        .map(|(c, f)| ((*c).to_owned(), (*f).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(
        errors,
        expected,
        "{name}:\n{}",
        found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn mit_staff() {
    // SOURCE.md: root `userRecords` undeclared; empty status_date (one per user).
    check(
        "mit_staff_patrons.xml",
        &[
            ("E-ROOT-NAME", "userRecords"),
            ("E-SCHEMA-TYPE", "status_date"),
            ("E-SCHEMA-TYPE", "status_date"),
        ],
    );
}

#[test]
fn mit_student() {
    // SOURCE.md: root undeclared; empty status_date and is_researcher (one per user).
    check(
        "mit_student_patrons.xml",
        &[
            ("E-ROOT-NAME", "userRecords"),
            ("E-SCHEMA-TYPE", "status_date"),
            ("E-SCHEMA-TYPE", "status_date"),
            ("E-SCHEMA-TYPE", "is_researcher"),
            ("E-SCHEMA-TYPE", "is_researcher"),
        ],
    );
}

#[test]
fn berkeley_ucpath() {
    // SOURCE.md: unexpected pref_full_name.
    check(
        "berkeley_ucpath_expected_xml_1.xml",
        &[("E-UNKNOWN-ELEMENT", "pref_full_name")],
    );
}

#[test]
fn berkeley_sis() {
    // SOURCE.md: empty start_date and end_date, pref_full_name, and the BARCODE equal to
    // primary_id ("Identifier ... already taken").
    check(
        "berkeley_sis_expected_xml.xml",
        &[
            (
                "E-SCHEMA-TYPE",
                "contact_info/addresses/address[0]/start_date",
            ),
            (
                "E-SCHEMA-TYPE",
                "contact_info/addresses/address[0]/end_date",
            ),
            ("E-UNKNOWN-ELEMENT", "pref_full_name"),
            (
                "E-ID-TAKEN-IN-FEED",
                "user_identifiers/user_identifier[0]/value",
            ),
        ],
    );
}
