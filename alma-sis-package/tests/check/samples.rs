//! The four real-world files in `shared/alma/samples/`: at error level only what Alma rejects
//! of the defects their SOURCE.md lists; the rest are warnings.

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

// Issue 17: MIT's and UCPath's files come from loads Alma accepts, so `check` gives them
// warnings only; in Berkeley's SIS file only the barcode equal to the primary id stays an
// error (Ex Libris: primary and additional identifiers must be unique, also within a user).

#[test]
fn mit_staff() {
    check("mit_staff_patrons.xml", &[]);
}

#[test]
fn mit_student() {
    check("mit_student_patrons.xml", &[]);
}

#[test]
fn berkeley_ucpath() {
    check("berkeley_ucpath_expected_xml_1.xml", &[]);
}

#[test]
fn berkeley_sis() {
    check(
        "berkeley_sis_expected_xml.xml",
        &[(
            "E-ID-TAKEN-IN-FEED",
            "user_identifiers/user_identifier[0]/value",
        )],
    );
}
