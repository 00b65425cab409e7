//! The four real-world files in `shared/alma/samples/`: read without error, and the
//! findings are exactly the deviations their SOURCE.md describes.

use alma_user_model::{Finding, Severity, ValidationOptions, validate};

use crate::support::{read_all, shared};

/// Every finding of a file: document findings, then per user the reader's and `validate`'s.
fn findings(file: &str) -> Vec<Finding> {
    let bytes = std::fs::read(shared().join("alma/samples").join(file)).expect("sample exists");
    let (users, document) = read_all(&bytes).expect("the sample reads without error");
    let mut all = document;
    for user in users {
        all.extend(user.findings);
        all.extend(validate(&user.user, &ValidationOptions::default()));
    }
    all
}

fn at(findings: &[Finding], severity: Severity) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.severity == severity)
        .map(|f| {
            format!(
                "{} {} {}",
                f.code,
                f.primary_id.as_deref().unwrap_or("-"),
                f.field.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

/// Checks the error- and warning-level findings exactly, and snapshots all of them.
fn check(file: &str, errors: &[&str], warnings: &[&str]) {
    let all = findings(file);
    assert_eq!(at(&all, Severity::Error), errors, "{file}: errors");
    assert_eq!(at(&all, Severity::Warning), warnings, "{file}: warnings");
    let listing: String = all
        .iter()
        .map(|f| {
            let pos = f
                .position
                .map_or("-".to_owned(), |p| format!("{}:{}", p.line, p.column));
            format!(
                "{pos} {} {} {}\n",
                f.code,
                f.primary_id.as_deref().unwrap_or("-"),
                f.field.as_deref().unwrap_or("-")
            )
        })
        .collect();
    insta::assert_snapshot!(file, listing);
}

/// MIT's warnings for one user, in document order: the output-only elements and the empty
/// `status_date` (and `is_researcher`), which Alma reads as absent.
fn mit_warnings(id: &str, student: bool) -> Vec<String> {
    let mut names = vec![
        "W-IGNORED-ELEMENT password",
        "W-IGNORED-ELEMENT force_password_change",
        "W-EMPTY-VALUE status_date",
        "W-IGNORED-ELEMENT status_date",
    ];
    if student {
        names.extend([
            "W-EMPTY-VALUE is_researcher",
            "W-IGNORED-ELEMENT is_researcher",
        ]);
    } else {
        names.push("W-IGNORED-ELEMENT is_researcher");
    }
    names.extend([
        "W-IGNORED-ELEMENT user_roles",
        "W-IGNORED-ELEMENT proxy_for_users",
    ]);
    names
        .iter()
        .map(|f| {
            let (code, field) = f.split_once(' ').expect("code and field");
            format!("{code} {id} {field}")
        })
        .collect()
}

// Issue 17: MIT's and UCPath's files load in Alma, so they give warnings only; in Berkeley's
// SIS file only the barcode equal to the primary id stays an error (Ex Libris: identifiers
// must be unique, the user's own primary id included).

#[test]
fn mit_staff_loads_with_warnings_only() {
    let a = "STAFF_KRB_NAME@MIT.EDU";
    let b = "2STAFF_KRB_NAME@MIT.EDU";
    let mut warnings = vec!["W-ROOT-NAME - userRecords".to_owned()];
    warnings.extend(mit_warnings(a, false));
    warnings.extend(mit_warnings(b, false));
    check(
        "mit_staff_patrons.xml",
        &[],
        &warnings.iter().map(String::as_str).collect::<Vec<_>>(),
    );
}

#[test]
fn mit_student_loads_with_warnings_only() {
    let a = "STUDENT_KRB_NAME@MIT.EDU";
    let b = "2STUDENT_KRB_NAME@MIT.EDU";
    let mut warnings = vec!["W-ROOT-NAME - userRecords".to_owned()];
    warnings.extend(mit_warnings(a, true));
    warnings.extend(mit_warnings(b, true));
    check(
        "mit_student_patrons.xml",
        &[],
        &warnings.iter().map(String::as_str).collect::<Vec<_>>(),
    );
}

#[test]
fn berkeley_ucpath_loads_with_warnings_only() {
    check(
        "berkeley_ucpath_expected_xml_1.xml",
        &[],
        &[
            "W-IGNORED-ELEMENT 10000004 full_name",
            "W-SKIPPED-ELEMENT 10000004 pref_full_name",
        ],
    );
}

#[test]
fn berkeley_sis_only_the_barcode_equal_to_the_primary_id_is_an_error() {
    check(
        "berkeley_sis_expected_xml.xml",
        &["E-ID-TAKEN-IN-FEED 12345 user_identifiers/user_identifier[0]/value"],
        &[
            "W-IGNORED-ELEMENT 12345 full_name",
            "W-EMPTY-VALUE 12345 contact_info/addresses/address[0]/start_date",
            "W-EMPTY-VALUE 12345 contact_info/addresses/address[0]/end_date",
            "W-SKIPPED-ELEMENT 12345 pref_full_name",
            "W-NO-PREFERRED-ADDRESS 12345 contact_info/addresses",
        ],
    );
}
