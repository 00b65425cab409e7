//! Expiry and purge policies.

use crate::support::{Case, config, date, decisions, today};

const BASE: &str = r#"
[[group]]
group = "FAC"
when = [{ column = "type", any_of = ["FACULTY"] }]

[[group]]
group = "UGRD"
when = [{ column = "type", any_of = ["UG"] }]

[term_calendar]
path = "terms.csv"

[term_calendar.ends]
"2027SU" = "2027-08-13"
"#;

const TERMS: &[u8] = b"term,end\n2026FA,2026-12-18\n2027SP,2027-05-14\n";

/// One person (`id,type,term,end,reg`) under `[expiry]`/`[purge]` `policy` gets
/// `expected` = (expiry, purge); `None` purge means none is written.
fn check(policy: &str, row: &str, expected: (&str, Option<&str>)) {
    let text = config(&format!("{BASE}\n{policy}"));
    let csv = format!("id,type,term,end,reg\n{row}\n");
    let case = Case::new(&text, &[("p.csv", csv.as_bytes()), ("terms.csv", TERMS)]);
    let x = case.run().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(x.users.len(), 1, "{:?}", decisions(&x));
    let u = &x.users[0].user;
    assert_eq!(u.expiry_date, Some(date(expected.0)), "{policy}\n{row}");
    assert_eq!(u.purge_date, expected.1.map(date), "{policy}\n{row}");
}

const RULES: &str = r#"
[expiry]
default = { policy = "today_plus", duration = "1y" }

[[expiry.rule]]
name = "dropped"
groups = ["UGRD"]
when = [{ column = "reg", any_of = ["DROPPED"] }]
date = { policy = "today" }

[[expiry.rule]]
name = "term"
groups = ["UGRD"]
date = { policy = "term", column = "term", grace = "30d" }

[[expiry.rule]]
name = "end date"
date = { policy = "column", column = "end", formats = ["%Y-%m-%d", "%m/%d/%Y"] }

[[expiry.safe_zone]]
name = "summer"
groups = ["FAC"]
from = "05-15"
to = "08-31"
move_to = "09-30"

[purge]
after = "1y"

[[purge.rule]]
groups = ["UGRD"]
after = "6m"
"#;

#[test]
fn policies() {
    let fixed = "[expiry]\ndefault = { policy = \"fixed\", date = \"2030-01-31\" }\n";
    check(fixed, "1,FACULTY,,,", ("2030-01-31", None));
    let plus = "[expiry]\ndefault = { policy = \"today_plus\", duration = \"1y6m\" }\n[purge]\nafter = \"2w\"\n";
    check(plus, "1,FACULTY,,,", ("2028-05-23", Some("2028-06-06")));
    let today_only = "[expiry]\ndefault = { policy = \"today\" }\n";
    check(today_only, "1,FACULTY,,,", (&today().to_string(), None));

    // Term calendar: term end + grace, the latest of several terms, inline terms too.
    check(RULES, "1,UG,2026FA,,", ("2027-01-17", Some("2027-07-17")));
    check(
        RULES,
        "1,UG,2026FA;2027SP,,",
        ("2027-06-13", Some("2027-12-13")),
    );
    check(RULES, "1,UG,2027SU,,", ("2027-09-12", Some("2028-03-12")));
    // Status-driven: a dropped registration expires today.
    check(
        RULES,
        "1,UG,2026FA,,DROPPED",
        ("2026-11-23", Some("2027-05-23")),
    );
    // An unknown term gives no date: the next rule, then the default.
    check(RULES, "1,UG,1999XX,,", ("2027-11-23", Some("2028-05-23")));
    check(
        RULES,
        "1,UG,1999XX,2027-02-01,",
        ("2027-02-01", Some("2027-08-01")),
    );
    // Per group: the term rule is not for faculty; the column rule is, in either format.
    check(
        RULES,
        "1,FACULTY,2026FA,03/31/2027,",
        ("2027-03-31", Some("2028-03-31")),
    );
    // Safe zone: a faculty end date in summer moves to Sep 30.
    check(
        RULES,
        "1,FACULTY,,2027-06-30,",
        ("2027-09-30", Some("2028-09-30")),
    );
    check(
        RULES,
        "1,FACULTY,,2027-05-15,",
        ("2027-09-30", Some("2028-09-30")),
    );
    check(
        RULES,
        "1,FACULTY,,2027-05-14,",
        ("2027-05-14", Some("2028-05-14")),
    );
    // ... but not for other groups.
    check(RULES, "1,UG,2027SP,,", ("2027-06-13", Some("2027-12-13")));
}

#[test]
fn a_safe_zone_moving_across_the_year_end() {
    let policy = "[expiry]\ndefault = { policy = \"column\", column = \"end\" }\n\n[[expiry.safe_zone]]\nname = \"holidays\"\nfrom = \"12-15\"\nto = \"12-31\"\nmove_to = \"01-15\"\n";
    check(policy, "1,FACULTY,,2026-12-20,", ("2027-01-15", None));
    check(policy, "1,FACULTY,,2026-12-14,", ("2026-12-14", None));
}

#[test]
fn no_date_at_all_rejects_the_person() {
    let text = config(&format!(
        "{BASE}\n[expiry]\ndefault = {{ policy = \"column\", column = \"end\" }}\n"
    ));
    let case = Case::new(
        &text,
        &[
            ("p.csv", b"id,type,term,end,reg\n1,FACULTY,,,\n"),
            ("terms.csv", TERMS),
        ],
    );
    let x = case.run().expect("extract");
    assert_eq!(
        decisions(&x),
        ["R:E-MAP-NO-EXPIRY: the default expiry policy gives no date (column end is empty)"]
    );
}

#[test]
fn a_column_date_takes_a_grace_like_a_term() {
    let policy = "[expiry]\ndefault = { policy = \"column\", column = \"end\", formats = [\"%m/%d/%Y\"], grace = \"30d\" }\n[purge]\nafter = \"1m\"\n";
    check(
        policy,
        "1,FACULTY,,06/30/2027,",
        ("2027-07-30", Some("2027-08-30")),
    );
}

#[test]
fn a_term_missing_from_the_calendar_is_named_by_its_column_only() {
    let text = config(&format!(
        "{BASE}\n[expiry]\ndefault = {{ policy = \"term\", column = \"term\" }}\n"
    ));
    let case = Case::new(
        &text,
        &[
            ("p.csv", b"id,type,term,end,reg\n1,UG,1999XX,,\n"),
            ("terms.csv", TERMS),
        ],
    );
    let x = case.run().expect("extract");
    assert_eq!(
        decisions(&x),
        [
            "R:E-MAP-NO-EXPIRY: the default expiry policy gives no date (no term in column term is in the term calendar)"
        ]
    );
}

/// Each row of `csv` (`id,type,term,end,reg`, under [`RULES`]) decided as `expected`, in
/// the short form of [`decisions`]; and `explain` traces the same outcome.
fn check_decisions(csv: &str, expected: &[&str]) {
    let text = config(&format!("{BASE}\n{RULES}"));
    let csv = format!("id,type,term,end,reg\n{csv}");
    let case = Case::new(&text, &[("p.csv", csv.as_bytes()), ("terms.csv", TERMS)]);
    let x = case.run().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(decisions(&x), expected, "{csv}");
    let mapping = case.config().expect("config");
    let extractor =
        sis_extract::Extractor::new(&mapping, case.dir.path(), today()).expect("extractor");
    for (line, row) in csv.lines().skip(1).enumerate() {
        let key = row.split(',').next().expect("a key");
        let person = extractor.explain(key).expect("explained");
        let rejected = expected[line].starts_with("R:");
        assert_eq!(person.user.is_none(), rejected, "explain of {row}");
        let expiry: Vec<&str> = person
            .steps()
            .iter()
            .filter(|s| s.text.contains("rejected"))
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(!expiry.is_empty(), rejected, "{expiry:?}");
    }
}

#[test]
fn an_unreadable_date_in_the_rule_that_applies_rejects_the_person() {
    let rule = "R:E-MAP-DATE: expiry rule \"end date\": column end (p.csv:";
    let formats = ") is not a date in %Y-%m-%d or %m/%d/%Y (the formats tried, in order)";
    check_decisions(
        "1,FACULTY,,31/12/2026,\n2,FACULTY,,notadate,\n3,FACULTY,,2027-02-30,\n",
        &[
            &format!("{rule}2{formats}"),
            &format!("{rule}3{formats}"),
            &format!("{rule}4{formats}"),
        ],
    );
    // The value itself is never in the message.
    let x = {
        let text = config(&format!("{BASE}\n{RULES}"));
        let csv = b"id,type,term,end,reg\n1,FACULTY,,31/12/2026,\n";
        Case::new(&text, &[("p.csv", csv), ("terms.csv", TERMS)])
            .run()
            .expect("extract")
    };
    assert!(!decisions(&x)[0].contains("31/12"), "{:?}", decisions(&x));
}

#[test]
fn an_empty_date_passes_to_the_next_rule_and_an_unreadable_one_in_a_rule_not_reached_is_not_read() {
    // Empty: the default (today + 1y). A student's term rule gives a date first, so the end
    // date rule, and its unreadable value, is never reached; nor for a dropped registration.
    check_decisions(
        "1,FACULTY,,,\n2,UG,2026FA,notadate,\n3,UG,,notadate,DROPPED\n",
        &["W:1", "W:2", "W:3"],
    );
    check(RULES, "1,FACULTY,,,", ("2027-11-23", Some("2028-11-23")));
    check(
        RULES,
        "1,UG,2026FA,notadate,",
        ("2027-01-17", Some("2027-07-17")),
    );
    // A student without a known term reaches the end date rule: unreadable, rejected.
    check_decisions(
        "1,UG,1999XX,notadate,\n",
        &[
            "R:E-MAP-DATE: expiry rule \"end date\": column end (p.csv:2) is not a date in %Y-%m-%d or %m/%d/%Y (the formats tried, in order)",
        ],
    );
}

#[test]
fn an_unreadable_date_in_the_default_policy_is_e_map_date() {
    let text = config(&format!(
        "{BASE}\n[expiry]\ndefault = {{ policy = \"column\", column = \"end\" }}\n"
    ));
    let case = Case::new(
        &text,
        &[
            ("p.csv", b"id,type,term,end,reg\n1,FACULTY,,31/12/2026,\n"),
            ("terms.csv", TERMS),
        ],
    );
    let x = case.run().expect("extract");
    assert_eq!(
        decisions(&x),
        [
            "R:E-MAP-DATE: the default expiry policy: column end (p.csv:2) is not a date in %Y-%m-%d (the formats tried, in order)"
        ]
    );
}
