//! Every code `check` (and `alma-user-model`'s reader and validation) can give, with the
//! severity Alma's behaviour gives it; the table must agree with the code, with the findings
//! the checker actually produces, and with `docs/troubleshooting.md`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use alma_sis_package::check::{CheckOptions, MandatoryProfile};
use alma_user_model::Severity;

use super::run_check;

use Severity::{Error as E, Info as I, Warning as W};

/// Code, severity (what Alma does: E rejects the user or aborts the job, W tolerates it).
const CODES: &[(&str, Severity)] = &[
    ("E-NOT-ZIP", E),
    ("W-NOT-ZIPPED", W),
    ("E-NO-ZIP", E),
    ("W-IGNORED-FILE", W),
    ("E-ZIP-CORRUPT", E),
    ("E-ZIP-CRC", E),
    ("E-ZIP-SIZE", E),
    ("E-ZIP-NAME", E),
    ("E-ZIP-METHOD", E),
    ("E-ZIP-DESCRIPTOR", E),
    ("E-ZIP-ENCRYPTED", E),
    ("E-ZIP-STREAM", E),
    ("E-ZIP-OVERLAP", E),
    ("W-ZIP-HEADERS", W),
    ("E-ZIP-NO-XML", E),
    ("E-ZIP-TOO-MANY-XML", E),
    ("W-ZIP-OTHER-ENTRY", W),
    ("E-LIMIT", E),
    ("W-BOM", W),
    ("E-PROLOG", E),
    ("E-ENCODING", E),
    ("W-ENCODING", W),
    ("E-UTF8", E),
    ("E-CHAR", E),
    ("E-XML", E),
    ("E-XML-DECL", E),
    ("E-XML-PI", E),
    ("E-XML-COMMENT", E),
    ("E-XML-CDATA", E),
    ("E-NAMESPACE", E),
    ("E-DOCTYPE", E),
    ("E-ENTITY", E),
    ("E-ROOT-NAME", E),
    ("W-ROOT-NAME", W),
    ("E-UNKNOWN-ELEMENT", E),
    ("W-SKIPPED-ELEMENT", W),
    ("E-UNKNOWN-ATTRIBUTE", E),
    ("E-DUPLICATE-ELEMENT", E),
    ("E-SCHEMA-ORDER", E),
    ("E-SCHEMA-TYPE", E),
    ("W-EMPTY-VALUE", W),
    ("E-TOO-LONG", E),
    ("E-DUP-MATCH-ID", E),
    ("E-NO-MATCH-ID", E),
    ("E-ID-TAKEN-IN-FEED", E),
    ("E-MANDATORY", E),
    ("E-MULTIPLE-PREFERRED", E),
    ("E-CODE-VALUE", E),
    ("E-CASE", E),
    ("W-INTERNAL", W),
    ("W-NO-PREFERRED-EMAIL", W),
    ("W-NO-PREFERRED-ADDRESS", W),
    ("W-PURGE-BEFORE-EXPIRY", W),
    ("W-NO-EXPIRY", W),
    ("W-BLANKS-FIELD", W),
    ("W-IGNORED-ELEMENT", W),
    ("W-RECORD-COUNT", W),
    ("I-EMPTY-ELEMENT", I),
    ("I-DATE-NO-Z", I),
    ("I-ORDER", I),
    ("I-SEGMENT-INTERNAL", I),
    ("E-WRITE", E),
];

fn severity_of(code: &str) -> Option<Severity> {
    CODES.iter().find(|(c, _)| *c == code).map(|(_, s)| *s)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_owned()
}

#[test]
fn the_prefix_is_the_severity() {
    for (code, severity) in CODES {
        let prefix = match severity {
            E => "E-",
            W => "W-",
            I => "I-",
        };
        assert!(code.starts_with(prefix), "{code} is graded {severity:?}");
    }
}

/// Every code a source file names is in the table.
#[test]
fn every_code_in_the_source_is_graded() {
    let mut named = BTreeSet::new();
    for dir in [
        "alma-user-model/src",
        "alma-user-model/src/read",
        "alma-sis-package/src/check",
        "cli/src/pipeline",
    ] {
        for file in std::fs::read_dir(root().join(dir)).expect("a source folder") {
            let path = file.expect("an entry").path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("UTF-8 source");
            for (i, _) in text.match_indices('"') {
                let rest = &text[i + 1..];
                let end = rest.find('"').unwrap_or(0);
                let word = &rest[..end];
                let looks_like_code = word.len() > 2
                    && matches!(word.get(..2), Some("E-" | "W-" | "I-"))
                    && word
                        .bytes()
                        .skip(2)
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
                if looks_like_code && !word.starts_with("E-MAP-") {
                    named.insert(word.to_owned());
                }
            }
        }
    }
    assert!(named.len() >= 50, "the scan found only {named:?}");
    let missing: Vec<&String> = named.iter().filter(|c| severity_of(c).is_none()).collect();
    assert!(missing.is_empty(), "codes without a grade: {missing:?}");
}

/// `docs/troubleshooting.md` says, for every code, what Alma does and the evidence, with
/// the same severity.
#[test]
fn troubleshooting_states_what_alma_does_for_every_code() {
    let doc = std::fs::read_to_string(root().join("docs/troubleshooting.md")).expect("the doc");
    let section = doc
        .split("## What Alma does with each code")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the section");
    for (code, severity) in CODES {
        let row = section
            .lines()
            .find(|l| {
                l.starts_with('|')
                    && l.split('|')
                        .nth(1)
                        .is_some_and(|c| c.contains(&format!("`{code}`")))
            })
            .unwrap_or_else(|| panic!("no row for {code}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let word = match severity {
            E => "error",
            W => "warning",
            I => "info",
        };
        assert_eq!(cells[2], word, "{code}: {row}");
        assert!(
            cells[3].len() > 10,
            "{code}: what Alma does is missing: {row}"
        );
        assert!(!cells[4].is_empty(), "{code}: no evidence: {row}");
    }
}

/// The findings `check` gives on every corpus file, the samples and a document with every
/// deviation carry the severity of the table.
#[test]
fn findings_carry_the_graded_severity() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut paths = super::corpus::corpus_files();
    let samples = root().join("../shared/alma/samples");
    for name in [
        "mit_staff_patrons.xml",
        "mit_student_patrons.xml",
        "berkeley_ucpath_expected_xml_1.xml",
        "berkeley_sis_expected_xml.xml",
    ] {
        paths.push(samples.join(name));
    }
    let odd = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<userRecords total_record_count=\"9\">\
        <user><primary_id>a</primary_id><account_type>INTERNAL</account_type>\
        <status_date/><expiry_date>2027-01-01</expiry_date><purge_date>2026-01-01Z</purge_date>\
        <pref_full_name>x</pref_full_name><user_roles/><bogus/>\
        <contact_info><addresses><address><line1>x</line1><address_types/></address></addresses>\
        <emails><email><email_address>a@b</email_address><email_types><email_type>x</email_type>\
        </email_types></email><email><email_address>c@d</email_address><email_types>\
        <email_type>x</email_type></email_types></email></emails></contact_info>\
        <user_identifiers><user_identifier segment_type=\"Internal\"><id_type>B</id_type>\
        <value>A</value></user_identifier></user_identifiers></user>\
        <user><last_name>b</last_name></user></userRecords>\n";
    let odd_path = dir.path().join("odd.xml");
    std::fs::write(&odd_path, odd).expect("writable");
    paths.push(odd_path);
    let options = CheckOptions {
        profile: Some(MandatoryProfile::builtin("i-share").expect("a profile")),
        ..CheckOptions::default()
    };
    let mut seen = BTreeSet::new();
    for path in &paths {
        let (found, _) = run_check(path, &options);
        for f in found {
            let graded = severity_of(&f.finding.code)
                .unwrap_or_else(|| panic!("{} is not graded", f.finding.code));
            assert_eq!(f.finding.severity, graded, "{f}");
            seen.insert(f.finding.code);
        }
    }
    // The inputs reach a good part of the table.
    assert!(seen.len() >= 30, "only {seen:?}");
}
