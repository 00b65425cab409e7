//! User groups: ordered rules over all of a person's rows, combined groups.

use crate::support::{decisions, ok};

const GROUPS: &str = r#"
[[group]]
group = "FACX"
desc = "Faculty, both campuses"
when = [
  { column = "type", any_of = ["FACULTY"] },
  { column = "campus", all_of = ["MAIN", "NORTH"] },
]

[[group]]
group = "FAC"
when = [{ column = "type", any_of = ["FACULTY"] }]

[[group]]
group = "STAFF"
when = [{ column = "type", any_of = ["STAFF"] }]

[[group]]
group = "GRAD"
when = [{ column = "level", any_of = ["GR"] }]

[[combined_group]]
groups = ["STAFF", "GRAD"]
group = "GRADEMP"
desc = "Graduate student employee"
"#;

/// The rows of one person (`id,type,level,campus`) get group `expected`.
fn check(rows: &[&str], expected: &str) {
    let csv = format!("id,type,level,campus\n{}\n", rows.join("\n"));
    let x = ok(GROUPS, &csv);
    let got = x
        .users
        .first()
        .and_then(|u| u.user.user_group.as_ref())
        .map(|g| g.code.clone())
        .unwrap_or_else(|| decisions(&x).join(" | "));
    assert_eq!(got, expected, "{rows:?}");
}

#[test]
fn group_rules() {
    check(&["1,FACULTY,,MAIN"], "FAC");
    check(&["1,FACULTY,,MAIN;NORTH"], "FACX");
    check(&["1,FACULTY,,NORTH;MAIN;WEST"], "FACX");
    check(&["1,STAFF,,MAIN"], "STAFF");
    check(&["1,,GR,MAIN"], "GRAD");
    // Two rows of one person, matching two rules with a combined group.
    check(&["1,STAFF,,MAIN", "1,,GR,MAIN"], "GRADEMP");
    // Two rules but no combined group for them: the first rule in config order wins.
    check(&["1,,GR,MAIN", "1,FACULTY,,MAIN"], "FAC");
    // No rule matches: rejected with the reason.
    check(
        &["1,,UG,MAIN"],
        "R:E-MAP-NO-GROUP: no [[group]] rule matches any of the person's rows (the groups tried, in order: FACX, FAC, STAFF, GRAD); add a rule or a catch-all group",
    );
}

#[test]
fn the_group_desc_is_written() {
    let x = ok(GROUPS, "id,type,level,campus\n1,STAFF,,\n1,,GR,\n");
    let g = x.users[0].user.user_group.clone().expect("a group");
    assert_eq!(g.desc.as_deref(), Some("Graduate student employee"));
}
