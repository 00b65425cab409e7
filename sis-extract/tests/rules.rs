//! Eligibility rules: conditions over single- and multi-valued columns, in order.

use crate::support::{decisions, ok};

/// One exclude rule with `condition` over column `v`; `expected` is whether it matches.
fn check(condition: &str, value: &str, expected: bool) {
    let rest = format!(
        "[[filter]]\nname = \"cond\"\naction = \"exclude\"\nwhen = [{{ column = \"v\", {condition} }}]\n"
    );
    let csv = format!("id,v\n1,\"{value}\"\n");
    let got = decisions(&ok(&rest, &csv));
    let want = if expected { "F:cond" } else { "W:1" };
    assert_eq!(got, vec![want.to_owned()], "{condition} on {value:?}");
}

#[test]
fn conditions() {
    check(r#"any_of = ["A"]"#, "A", true);
    check(r#"any_of = ["A"]"#, "B", false);
    check(r#"any_of = ["A"]"#, "", false);
    check(r#"any_of = ["EMPLOYEE"]"#, "STUDENT;EMPLOYEE", true);
    check(r#"any_of = ["EMPLOYEE"]"#, "STUDENT; EMPLOYEE ", true);
    check(r#"any_of = ["EMPLOYEE"]"#, "STUDENT;EMPLOYEES", false);
    check(r#"all_of = ["MAIN", "NORTH"]"#, "NORTH;MAIN", true);
    check(r#"all_of = ["MAIN", "NORTH"]"#, "MAIN", false);
    check(r#"none_of = ["AFFILIATE"]"#, "STUDENT;EMPLOYEE", true);
    check(r#"none_of = ["AFFILIATE"]"#, "STUDENT;AFFILIATE", false);
    check(r#"none_of = ["AFFILIATE"]"#, "", true);
    check(r#"matches = "^9[0-9]{2}$""#, "STUDENT;901", true);
    check(r#"matches = "^9[0-9]{2}$""#, "9011", false);
    check("empty = true", "", true);
    check("empty = true", "x", false);
    check("empty = false", "x", true);
    check("empty = true", ";;", true);
    check(r#"any_of = ["B"], separator = ",""#, "A,B", true);
    check(r#"any_of = ["B"], separator = ",""#, "A;B", false);
    check(r#"any_of = ["A", "B"], none_of = ["C"]"#, "B", true);
    check(r#"any_of = ["A", "B"], none_of = ["C"]"#, "B;C", false);
}

/// Rules `rules` over the rows of `csv` (header `id,aff,status`) give `expected`, by line.
fn check_rules(rules: &str, csv: &str, expected: &[&str]) {
    let got = decisions(&ok(rules, csv));
    assert_eq!(got, expected, "{rules}");
}

const FACULTY_ONLY: &str = r#"
[[filter]]
name = "employees only if full- or part-time faculty"
action = "include"
when = [
  { column = "aff", any_of = ["EMPLOYEE"] },
  { column = "type", any_of = ["FACULTY"] },
  { column = "status", any_of = ["FT", "PT"] },
]

[[filter]]
name = "no other employees"
action = "exclude"
when = [{ column = "aff", any_of = ["EMPLOYEE"] }]
"#;

#[test]
fn ordered_rules_first_match_decides() {
    check_rules(
        FACULTY_ONLY,
        "id,aff,type,status\n1,EMPLOYEE,FACULTY,FT\n2,EMPLOYEE,FACULTY,TEMP\n3,EMPLOYEE,STAFF,FT\n4,STUDENT,,\n5,STUDENT;EMPLOYEE,FACULTY,PT\n",
        &[
            "W:1",
            "F:no other employees",
            "F:no other employees",
            "W:4",
            "W:5",
        ],
    );
    // An exclude before the include wins for the rows it matches.
    check_rules(
        &format!(
            "[[filter]]\nname = \"temps first\"\naction = \"exclude\"\nwhen = [{{ column = \"status\", any_of = [\"TEMP\", \"PT\"] }}]\n{FACULTY_ONLY}"
        ),
        "id,aff,type,status\n1,EMPLOYEE,FACULTY,FT\n2,EMPLOYEE,FACULTY,PT\n",
        &["W:1", "F:temps first"],
    );
    // A rule without conditions always matches.
    check_rules(
        "[[filter]]\nname = \"nobody\"\naction = \"exclude\"\n",
        "id,aff\n1,X\n",
        &["F:nobody"],
    );
    // No rules: everyone is eligible.
    check_rules("", "id,aff\n1,X\n2,Y\n", &["W:1", "W:2"]);
}

#[test]
fn a_row_without_a_key_is_rejected() {
    check_rules(
        "",
        "id,aff\n,X\n2,Y\n",
        &["R:E-MAP-EMPTY-KEY: the key column \"id\" is empty", "W:2"],
    );
}
