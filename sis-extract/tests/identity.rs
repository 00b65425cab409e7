//! Two people under one key: rows merged under a key must agree on who they are (by default
//! birth date and last name, where both rows have them); otherwise the key is an identity
//! conflict, rejected by default, merged when the config says so.

use crate::support::{decisions, ok, run};

const FIELDS: &str = "[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{first}\"\nlast_name = \"{last}\"\nbirth_date = { template = \"{born}\", date_formats = [\"%Y-%m-%d\", \"%m/%d/%Y\"] }\n";

#[test]
fn two_people_under_one_key_are_rejected_naming_both_lines_and_the_columns() {
    let csv = "id,first,last,born,aff\n1,Ann,Lee,2001-02-03,STUDENT\n2,Bo,Kim,1990-01-01,STAFF\n1,Raj,Patel,1975-09-30,FACULTY\n";
    let x = ok(FIELDS, csv);
    let got = decisions(&x);
    insta::assert_snapshot!("identity_conflict", got.join("\n"));
    assert_eq!(x.users.len(), 1);
    // No value reaches the message.
    for value in ["Lee", "Patel", "2001", "1975"] {
        assert!(got.iter().all(|d| !d.contains(value)), "{value}");
    }
}

#[test]
fn the_same_person_in_two_rows_keeps_merging() {
    // A student who also works on campus: names differ in case and spacing, the birth date
    // in format; an empty value does not disagree.
    let csv = "id,first,last,born,aff\n1,Ann,Van der Berg,2001-02-03,STUDENT\n1,Ann,VAN  DER BERG,02/03/2001,STAFF\n1,,,,CARD\n";
    let x = ok(FIELDS, csv);
    assert_eq!(decisions(&x), ["W:1", "W:1", "W:1"]);
    assert_eq!(x.row_warnings, []);
}

#[test]
fn the_config_can_merge_them_with_a_warning() {
    let rest = format!("{FIELDS}\n[identity]\nconflict = \"merge\"\n");
    let csv = "id,first,last,born\n1,Ann,Lee,2001-02-03\n1,Raj,Patel,1975-09-30\n";
    let x = ok(&rest, csv);
    assert_eq!(decisions(&x), ["W:1", "W:1"]);
    let warnings: Vec<String> = x
        .row_warnings
        .iter()
        .map(|w| format!("{}: {}", w.row, w.text))
        .collect();
    assert_eq!(
        warnings,
        [
            "p.csv:3: W-MAP-IDENTITY: p.csv:2 and p.csv:3 differ in born, last: merged as one person ([identity] conflict = \"merge\")"
        ]
    );
}

#[test]
fn the_columns_are_configurable() {
    let rest = format!("{FIELDS}\n[identity]\ncolumns = [\"ssn\"]\n");
    let csv = "id,first,last,born,ssn\n1,Ann,Lee,2001-02-03,111\n1,Ann,Leigh,2001-02-03,111\n2,Bo,Kim,,222\n2,Bo,Kim,,333\n";
    let x = ok(&rest, csv);
    assert_eq!(
        decisions(&x),
        [
            "W:1",
            "W:1",
            "R:E-MAP-IDENTITY: p.csv:4 and p.csv:5 differ in ssn: two people under one key? Their rows were not merged (if they are one person, set [identity] conflict = \"merge\")",
            "R:E-MAP-IDENTITY: p.csv:4 and p.csv:5 differ in ssn: two people under one key? Their rows were not merged (if they are one person, set [identity] conflict = \"merge\")",
        ]
    );
    let err = run(
        &format!("{FIELDS}\n[identity]\ncolumns = [\"nope\"]\n"),
        "id,first,last,born\n1,A,B,\n",
    )
    .expect_err("no such column")
    .to_string();
    assert!(
        err.starts_with("alma-sis.toml:16:12: column \"nope\""),
        "{err}"
    );
}

#[test]
fn without_identity_fields_or_columns_rows_merge_as_before() {
    let x = ok("", "id,last\n1,Lee\n1,Patel\n");
    assert_eq!(decisions(&x), ["W:1", "W:1"]);
}
