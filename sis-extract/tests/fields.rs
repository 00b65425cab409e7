//! Field templates: concatenation, trim, case, regex, maps, lookups, defaults, dates.

use alma_user_model::User;

use crate::support::{decisions, ok};

/// The user made from one row `values` (header `id,a,b`) with `[fields]` holding
/// `field_toml`.
fn user(fields: &str, values: &str, extra: &str) -> User {
    let rest = format!("[fields]\nprimary_id = \"{{id}}\"\n{fields}\n{extra}");
    let x = ok(&rest, &format!("id,a,b\n{values}\n"));
    assert_eq!(x.users.len(), 1, "{:?}", decisions(&x));
    (*x.users[0].user).clone()
}

/// `job_description = <spec>` on `values` gives `expected`.
fn check(spec: &str, values: &str, expected: Option<&str>) {
    let u = user(&format!("job_description = {spec}"), values, LOOKUP);
    assert_eq!(
        u.job_description.as_deref(),
        expected,
        "{spec} on {values:?}"
    );
}

const LOOKUP: &str = "[lookup.dept]\nvalues = { BIO = \"Biology\", CS = \"Computer Science\" }";

#[test]
fn templates() {
    check(r#""{a} {b}""#, "1,x,y", Some("x y"));
    check(r#""{a}-{b}""#, "1,x,", Some("x-"));
    check(r#""{a}""#, "1,,y", None);
    check(r#""{{{a}}}""#, "1,x,", Some("{x}"));
    check(r#""fixed""#, "1,,", Some("fixed"));
    check(
        r#"{ template = "  {a} ", trim = false }"#,
        "1,x,",
        Some("  x "),
    );
    check(r#"{ template = "  {a} " }"#, "1,x,", Some("x"));
    check(
        r#"{ template = "{a}", case = "upper" }"#,
        "1,ab,",
        Some("AB"),
    );
    check(
        r#"{ template = "{a}", case = "lower" }"#,
        "1,AB,",
        Some("ab"),
    );
    check(
        r#"{ template = "{a} {b}", case = "title" }"#,
        "1,o'NEIL,de la cruz",
        Some("O'neil De La Cruz"),
    );
    check(
        r#"{ template = "{a}", default = "none" }"#,
        "1,,",
        Some("none"),
    );
    check(
        r#"{ template = "{a}", default = "none" }"#,
        "1,x,",
        Some("x"),
    );
    check(
        r#"{ template = "{a}", regex = "^([^;]+)" }"#,
        "1,MAIN;NORTH,",
        Some("MAIN"),
    );
    check(
        r#"{ template = "{a}", regex = "[0-9]+" }"#,
        "1,ab123cd,",
        Some("123"),
    );
    check(
        r#"{ template = "{a}", regex = "[0-9]+", default = "0" }"#,
        "1,abc,",
        Some("0"),
    );
    check(
        r#"{ template = "{a}", map = { F = "female" } }"#,
        "1,F,",
        Some("female"),
    );
    check(
        r#"{ template = "{a}", map = { F = "female" } }"#,
        "1,X,",
        Some("X"),
    );
    check(
        r#"{ template = "{a}", map = { F = "female" }, unmapped = "empty" }"#,
        "1,X,",
        None,
    );
    check(
        r#"{ template = "{a}", map = { F = "female" }, unmapped = "empty", default = "other" }"#,
        "1,X,",
        Some("other"),
    );
    check(
        r#"{ template = "{a}", lookup = "dept" }"#,
        "1,BIO,",
        Some("Biology"),
    );
    check(
        r#"{ template = "{a}", lookup = "dept" }"#,
        "1,ZOO,",
        Some("ZOO"),
    );
    check(
        r#"{ template = "{a}", case = "upper", lookup = "dept" }"#,
        "1,cs,",
        Some("Computer Science"),
    );
}

#[test]
fn an_unmapped_value_can_reject_the_person() {
    let rest = format!(
        "[fields]\nprimary_id = \"{{id}}\"\njob_description = {{ template = \"{{a}}\", lookup = \"dept\", unmapped = \"reject\" }}\n{LOOKUP}"
    );
    let x = ok(&rest, "id,a\n1,BIO\n2,ZOO\n");
    assert_eq!(
        decisions(&x),
        [
            "W:1",
            "R:E-MAP-FIELD: job_description: the value of column a is not in the lookup dept (unmapped = \"reject\")"
        ]
    );
}

/// `birth_date` with `formats` parses `value` to `expected` (`None`: the person is rejected).
fn check_date(formats: &str, value: &str, expected: Option<&str>) {
    let rest = format!(
        "[fields]\nprimary_id = \"{{id}}\"\nbirth_date = {{ template = \"{{a}}\", date_formats = {formats} }}\n"
    );
    let x = ok(&rest, &format!("id,a\n1,{value}\n"));
    match expected {
        Some(d) => {
            assert_eq!(x.users.len(), 1, "{:?}", decisions(&x));
            assert_eq!(
                x.users[0].user.birth_date.map(|b| b.to_string()).as_deref(),
                Some(d)
            );
        }
        None => assert_eq!(
            decisions(&x),
            [
                "R:E-MAP-DATE: birth_date (column a) is not a date in %Y-%m-%d (the formats tried, in order)"
            ]
        ),
    }
}

#[test]
fn dates_with_formats() {
    check_date(r#"["%Y-%m-%d"]"#, "2001-02-03", Some("2001-02-03"));
    check_date(
        r#"["%Y-%m-%d", "%m/%d/%Y"]"#,
        "02/03/2001",
        Some("2001-02-03"),
    );
    check_date(r#"["%d.%m.%Y"]"#, "03.02.2001", Some("2001-02-03"));
    check_date(r#"["%Y%m%d"]"#, "20010203", Some("2001-02-03"));
    check_date(r#"["%Y-%m-%d"]"#, "02/03/2001", None);
    check_date(r#"["%Y-%m-%d"]"#, "2001-02-30", None);
}

#[test]
fn codes_and_contacts() {
    let rest = r#"
[fields]
primary_id = "{id}"
record_type = { template = "{kind}", map = { S = "STAFF" }, default = "PUBLIC" }
status = { template = "{reg}", map = { DROPPED = "INACTIVE" }, unmapped = "empty", default = "ACTIVE" }
external_id = "SIS"

[[identifier]]
type = "BARCODE"
value = "{card}"

[[identifier]]
type = "UNIV_ID"
value = "U{id}"

[[email]]
type = "school"
address = "{school}"

[[email]]
type = "personal"
address = "{home}"

[[note]]
type = "OTHER"
text = "{note}"
user_viewable = true

[[statistic]]
category = "{dept}"
type = "DEPT"
"#;
    let x = ok(
        rest,
        "id,kind,reg,card,school,home,note,dept\n1,S,DROPPED,C1,s@x.edu,h@x.org,hello,BIO\n2,,,,,h2@x.org,,\n",
    );
    let one = &x.users[0].user;
    assert_eq!(one.record_type.map(|r| r.code()), Some("STAFF"));
    assert_eq!(one.status.map(|s| s.code()), Some("INACTIVE"));
    assert_eq!(one.account_type.map(|a| a.code()), Some("EXTERNAL"));
    assert_eq!(one.external_id.as_deref(), Some("SIS"));
    let ids: Vec<_> = one
        .user_identifiers
        .iter()
        .map(|i| (i.id_type.code.as_str(), i.value.as_str()))
        .collect();
    assert_eq!(ids, [("BARCODE", "C1"), ("UNIV_ID", "U1")]);
    let emails: Vec<_> = one
        .contact_info
        .emails
        .iter()
        .map(|e| (e.email_address.as_str(), e.preferred))
        .collect();
    assert_eq!(emails, [("s@x.edu", true), ("h@x.org", false)]);
    assert_eq!(one.user_notes[0].note_text.as_deref(), Some("hello"));
    assert!(one.user_notes[0].user_viewable);
    assert_eq!(one.user_statistics[0].statistic_category.code, "BIO");

    // The first non-empty email of the list is the preferred one.
    let two = &x.users[1].user;
    assert_eq!(two.record_type.map(|r| r.code()), Some("PUBLIC"));
    assert_eq!(two.status.map(|s| s.code()), Some("ACTIVE"));
    let emails: Vec<_> = two
        .contact_info
        .emails
        .iter()
        .map(|e| (e.email_address.as_str(), e.preferred))
        .collect();
    assert_eq!(emails, [("h2@x.org", true)]);
    assert!(two.user_notes.is_empty() && two.user_statistics.is_empty());
    assert_eq!(two.user_identifiers.len(), 1);
}

#[test]
fn a_bad_code_rejects_the_person() {
    let x = ok(
        "[fields]\nprimary_id = \"{id}\"\nrecord_type = \"{a}\"\n",
        "id,a\n1,PUBLIC\n2,PATRON\n",
    );
    assert_eq!(
        decisions(&x),
        [
            "W:1",
            "R:E-MAP-CODE: record_type (column a) is not PUBLIC, STAFF or CONTACT"
        ]
    );
}
