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

/// MIT's output-only elements, in document order.
fn ignored(id: &str, with_is_researcher: bool) -> Vec<String> {
    let mut names = vec!["password", "force_password_change"];
    if with_is_researcher {
        names.push("is_researcher");
    }
    names.extend(["user_roles", "proxy_for_users"]);
    names
        .iter()
        .map(|f| format!("W-IGNORED-ELEMENT {id} {f}"))
        .collect()
}

#[test]
fn mit_staff_root_and_empty_status_dates() {
    let a = "STAFF_KRB_NAME@MIT.EDU";
    let b = "2STAFF_KRB_NAME@MIT.EDU";
    let warnings: Vec<String> = [ignored(a, true), ignored(b, true)].concat();
    check(
        "mit_staff_patrons.xml",
        &[
            "E-ROOT-NAME - userRecords",
            &format!("E-SCHEMA-TYPE {a} status_date"),
            &format!("E-SCHEMA-TYPE {b} status_date"),
        ],
        &warnings.iter().map(String::as_str).collect::<Vec<_>>(),
    );
}

#[test]
fn mit_student_root_empty_status_dates_and_is_researcher() {
    let a = "STUDENT_KRB_NAME@MIT.EDU";
    let b = "2STUDENT_KRB_NAME@MIT.EDU";
    let warnings: Vec<String> = [ignored(a, false), ignored(b, false)].concat();
    check(
        "mit_student_patrons.xml",
        &[
            "E-ROOT-NAME - userRecords",
            &format!("E-SCHEMA-TYPE {a} status_date"),
            &format!("E-SCHEMA-TYPE {a} is_researcher"),
            &format!("E-SCHEMA-TYPE {b} status_date"),
            &format!("E-SCHEMA-TYPE {b} is_researcher"),
        ],
        &warnings.iter().map(String::as_str).collect::<Vec<_>>(),
    );
}

#[test]
fn berkeley_ucpath_pref_full_name() {
    check(
        "berkeley_ucpath_expected_xml_1.xml",
        &["E-UNKNOWN-ELEMENT 10000004 pref_full_name"],
        &["W-IGNORED-ELEMENT 10000004 full_name"],
    );
}

#[test]
fn berkeley_sis_empty_dates_pref_full_name_and_barcode_equal_to_primary_id() {
    check(
        "berkeley_sis_expected_xml.xml",
        &[
            "E-SCHEMA-TYPE 12345 contact_info/addresses/address[0]/start_date",
            "E-SCHEMA-TYPE 12345 contact_info/addresses/address[0]/end_date",
            "E-UNKNOWN-ELEMENT 12345 pref_full_name",
            "E-ID-TAKEN-IN-FEED 12345 user_identifiers/user_identifier[0]/value",
        ],
        &[
            "W-IGNORED-ELEMENT 12345 full_name",
            "W-NO-PREFERRED-ADDRESS 12345 contact_info/addresses",
        ],
    );
}
