//! Several rows of one person: merged into one user with precedence; supplements.

use crate::support::{Case, config, decisions, ok};

/// Rows of `csv` (`id,aff,email,phone`) with `prefer` give one user whose email and phone
/// are `expected`.
fn check(prefer: &str, csv: &str, expected: (&str, &str)) {
    let rest = format!(
        "[merge]\nprefer = [{prefer}]\n\n[[email]]\ntype = \"school\"\naddress = \"{{email}}\"\n\n[[phone]]\ntype = \"office\"\nnumber = \"{{phone}}\"\n"
    );
    let x = ok(&rest, csv);
    assert_eq!(x.users.len(), 1, "{:?}", decisions(&x));
    let u = &x.users[0];
    let email = u.user.contact_info.emails[0].email_address.as_str();
    let phone = u.user.contact_info.phones[0].phone_number.as_str();
    assert_eq!((email, phone), expected, "prefer = [{prefer}]");
    assert!(decisions(&x).iter().all(|d| d == "W:1"));
}

#[test]
fn precedence() {
    let csv = "id,aff,email,phone\n1,STUDENT,s@x,111\n1,EMPLOYEE,e@x,\n";
    // No preference: input order, so the first row wins; empty values fall through.
    check("", csv, ("s@x", "111"));
    check(
        r#"{ name = "employee first", when = [{ column = "aff", any_of = ["EMPLOYEE"] }] }"#,
        csv,
        ("e@x", "111"),
    );
    // The first preference a row matches ranks it.
    check(
        r#"{ name = "students", when = [{ column = "aff", any_of = ["STUDENT"] }] }, { name = "employees", when = [{ column = "aff", any_of = ["EMPLOYEE"] }] }"#,
        "id,aff,email,phone\n1,EMPLOYEE,e@x,222\n1,STUDENT,s@x,111\n",
        ("s@x", "111"),
    );
    // A multi-valued preference.
    check(
        r#"{ name = "staff too", when = [{ column = "aff", all_of = ["STUDENT", "EMPLOYEE"] }] }"#,
        "id,aff,email,phone\n1,STUDENT,s@x,111\n1,EMPLOYEE;STUDENT,b@x,\n",
        ("b@x", "111"),
    );
}

#[test]
fn filtered_rows_do_not_take_part_in_the_merge() {
    let rest = "[[filter]]\nname = \"no affiliates\"\naction = \"exclude\"\nwhen = [{ column = \"aff\", any_of = [\"AFFILIATE\"] }]\n\n[[email]]\ntype = \"school\"\naddress = \"{email}\"\n";
    let x = ok(
        rest,
        "id,aff,email\n1,AFFILIATE,a@x\n1,STUDENT,s@x\n2,AFFILIATE,b@x\n",
    );
    assert_eq!(decisions(&x), ["F:no affiliates", "W:1", "F:no affiliates"]);
    assert_eq!(x.users.len(), 1);
    assert_eq!(x.users[0].user.contact_info.emails[0].email_address, "s@x");
    assert_eq!(x.users[0].rows.len(), 1);
}

const JOINED: &str = r#"
[[input]]
path = "cards.tsv"
key = "id"
delimiter = "\t"
supplement = true

[[filter]]
name = "no affiliates"
action = "exclude"
when = [{ column = "aff", any_of = ["AFFILIATE"] }]

[merge]
prefer = [{ name = "newest card", when = [{ column = "issued", empty = false }] }]

[[identifier]]
type = "BARCODE"
value = "{card}"
"#;

#[test]
fn a_supplement_adds_values_to_main_rows() {
    let case = Case::new(
        &config(JOINED),
        &[
            ("p.csv", b"id,aff,card\n1,STUDENT,OLD1\n2,AFFILIATE,OLD2\n3,STUDENT,OLD3\n"),
            ("cards.tsv", b"id\tcard\tissued\n1\tNEW1\t2026-11-01\n2\tNEW2\t2026-11-02\n4\tNEW4\t2026-11-03\n"),
        ],
    );
    let x = case.run().expect("extract");
    assert_eq!(
        decisions(&x),
        [
            // cards.tsv, lines 2 to 4
            "W:1",
            "F:no affiliates",
            "R:E-MAP-SUPPLEMENT-ONLY: key \"4\" has no row in a main input, only in supplements",
            // p.csv, lines 2 to 4
            "W:1",
            "F:no affiliates",
            "W:3",
        ]
    );
    let cards: Vec<_> = x
        .users
        .iter()
        .map(|u| u.user.user_identifiers[0].value.as_str())
        .collect();
    assert_eq!(cards, ["NEW1", "OLD3"]);
}

#[test]
fn explain_finds_a_person_by_key_or_primary_id_with_a_trace() {
    let rest = "[fields]\nprimary_id = \"P{id}\"\n";
    let case = Case::new(&config(rest), &[("p.csv", b"id\n1\n2\n")]);
    let mapping = case.config().expect("config");
    let x = sis_extract::Extractor::new(&mapping, case.dir.path(), crate::support::today())
        .expect("extractor")
        .with_trace(false);
    for id in ["2", "P2"] {
        let p = x.explain(id).expect("found");
        assert_eq!(p.key, "2");
        assert!(!p.steps().is_empty(), "explain always traces");
    }
    assert!(x.explain("3").is_none() && x.explain("P3").is_none());
    assert!(x.people().all(|p| p.steps().is_empty()), "tracing is off");
}
