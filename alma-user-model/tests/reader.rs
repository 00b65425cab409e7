//! The lenient reader: each deviation is one finding with the right code and field; only
//! malformed XML is an error, with line and column.

use alma_user_model::{Position, ReadError, UserReader};

use crate::support::read_all;

fn doc(user_body: &str) -> String {
    format!("<?xml version=\"1.0\"?>\n<users>\n<user>{user_body}</user>\n</users>\n")
}

/// Reads `xml` and compares `code field` of every document and user finding.
fn check(xml: &str, expected: &[&str]) {
    let (users, document) = read_all(xml.as_bytes()).expect("reads");
    let got: Vec<String> = document
        .iter()
        .chain(users.iter().flat_map(|u| u.findings.iter()))
        .map(|f| format!("{} {}", f.code, f.field.as_deref().unwrap_or("-")))
        .collect();
    assert_eq!(got, expected, "{xml}");
}

#[test]
fn deviations_become_findings() {
    let cases: &[(&str, &[&str])] = &[
        ("<primary_id>a</primary_id>", &[]),
        (
            "<primary_id>a</primary_id><primary_id>b</primary_id>",
            &["E-DUPLICATE-ELEMENT primary_id"],
        ),
        (
            "<pref_full_name>x</pref_full_name>",
            &["W-SKIPPED-ELEMENT pref_full_name"],
        ),
        ("<full_name>x</full_name>", &["W-IGNORED-ELEMENT full_name"]),
        (
            "<user_roles><user_role/></user_roles>",
            &["W-IGNORED-ELEMENT user_roles"],
        ),
        (
            "<status_date/>",
            &["W-EMPTY-VALUE status_date", "W-IGNORED-ELEMENT status_date"],
        ),
        (
            "<status_date>2020-01-01Z</status_date>",
            &["W-IGNORED-ELEMENT status_date"],
        ),
        (
            "<is_researcher>yes</is_researcher>",
            &[
                "E-SCHEMA-TYPE is_researcher",
                "W-IGNORED-ELEMENT is_researcher",
            ],
        ),
        ("<first_name/>", &["I-EMPTY-ELEMENT first_name"]),
        (
            "<user_group desc=\"\"></user_group>",
            &["I-EMPTY-ELEMENT user_group"],
        ),
        (
            "<expiry_date>2030-01-16</expiry_date>",
            &["I-DATE-NO-Z expiry_date"],
        ),
        ("<expiry_date>2030-01-16+02:00</expiry_date>", &[]),
        ("<expiry_date> 2030-01-16Z </expiry_date>", &[]),
        (
            "<expiry_date>2030-02-30Z</expiry_date>",
            &["E-SCHEMA-TYPE expiry_date"],
        ),
        (
            "<expiry_date>2030-01-16T00:00:00Z</expiry_date>",
            &["E-SCHEMA-TYPE expiry_date"],
        ),
        ("<birth_date></birth_date>", &["W-EMPTY-VALUE birth_date"]),
        (
            "<birth_date>-2026-01-01</birth_date>",
            &["I-DATE-NO-Z birth_date"],
        ),
        ("<birth_date>12026-01-01Z</birth_date>", &[]),
        (
            "<birth_date>0000-01-01Z</birth_date>",
            &["E-SCHEMA-TYPE birth_date"],
        ),
        (
            "<user_roles><user_role><bogus/></user_role></user_roles>",
            &[
                "E-UNKNOWN-ELEMENT user_roles/user_role[0]/bogus",
                "W-IGNORED-ELEMENT user_roles",
            ],
        ),
        (
            "<proxy_for_users><proxy_for_user><full_name>a</full_name><primary_id>b</primary_id></proxy_for_user></proxy_for_users>",
            &[
                "E-SCHEMA-ORDER proxy_for_users/proxy_for_user[0]/primary_id",
                "W-IGNORED-ELEMENT proxy_for_users",
            ],
        ),
        (
            "<force_password_change>FALSE</force_password_change>",
            &[
                "E-TOO-LONG force_password_change",
                "W-IGNORED-ELEMENT force_password_change",
            ],
        ),
        ("<record_type>public</record_type>", &["E-CASE record_type"]),
        (
            "<account_type>SIS</account_type>",
            &["E-CODE-VALUE account_type"],
        ),
        ("<status>GONE</status>", &["E-CODE-VALUE status"]),
        (
            "<primary_id foo=\"1\">a</primary_id>",
            &["E-UNKNOWN-ATTRIBUTE primary_id"],
        ),
        (
            "<first_name>a<b/>c</first_name>",
            &["E-SCHEMA-TYPE first_name"],
        ),
        ("stray<primary_id>a</primary_id>", &["E-SCHEMA-TYPE -"]),
        (
            "<status>ACTIVE</status><primary_id>a</primary_id>",
            &["I-ORDER primary_id"],
        ),
        (
            "<contact_info><emails/><addresses/></contact_info>",
            &[
                "I-EMPTY-ELEMENT contact_info/emails",
                "E-SCHEMA-ORDER contact_info/addresses",
                "I-EMPTY-ELEMENT contact_info/addresses",
            ],
        ),
        (
            "<contact_info><addresses><address preferred=\"yes\"><line9/><address_types/></address></addresses></contact_info>",
            &[
                "E-SCHEMA-TYPE contact_info/addresses/address[0]",
                "E-UNKNOWN-ELEMENT contact_info/addresses/address[0]/line9",
            ],
        ),
        (
            "<user_notes><user_note><note_type>X</note_type><user_viewable>maybe</user_viewable></user_note></user_notes>",
            &[
                "E-SCHEMA-TYPE user_notes/user_note[0]/user_viewable",
                "E-MANDATORY user_notes/user_note[0]/popup_note",
            ],
        ),
        (
            "<user_blocks><user_block><block_description>X</block_description><created_date>2019-12-18T14:36:48</created_date></user_block></user_blocks>",
            &["I-DATE-NO-Z user_blocks/user_block[0]/created_date"],
        ),
        (
            "<user_identifiers><identifier/></user_identifiers>",
            &[
                "E-UNKNOWN-ELEMENT user_identifiers/identifier",
                "I-EMPTY-ELEMENT user_identifiers",
            ],
        ),
        (
            "<first_name>&custom;</first_name>",
            &["E-ENTITY first_name", "I-EMPTY-ELEMENT first_name"],
        ),
    ];
    for (body, expected) in cases {
        check(&doc(body), expected);
    }
}

/// A validator assesses `<pref_full_name>` laxly: it checks what has a global declaration
/// inside it, and honours `xsi:type` and `xsi:nil` there; Alma's tolerance of it is known for
/// plain content only (fuzz-check, seed 4242: both missed before).
#[test]
fn what_a_validator_checks_inside_a_skipped_element_is_an_error() {
    let xsi = "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"";
    let cases: Vec<(String, &[&str])> = vec![
        (
            "<pref_full_name><x a=\"1\"><y>B</y></x></pref_full_name>".to_owned(),
            &["W-SKIPPED-ELEMENT pref_full_name"],
        ),
        (
            "<pref_full_name><researcher><researcher_keywords>></researcher_keywords>\
             </researcher></pref_full_name>"
                .to_owned(),
            &[
                "W-SKIPPED-ELEMENT pref_full_name",
                "E-UNKNOWN-ELEMENT pref_full_name/researcher",
            ],
        ),
        (
            "<pref_full_name><a><b><users/></b></a>t</pref_full_name><first_name>J</first_name>"
                .to_owned(),
            &[
                "W-SKIPPED-ELEMENT pref_full_name",
                "E-UNKNOWN-ELEMENT pref_full_name/users",
            ],
        ),
        (
            format!("<pref_full_name {xsi} xsi:type=\"xs:int\">A B</pref_full_name>"),
            &[
                "W-SKIPPED-ELEMENT pref_full_name",
                "E-UNKNOWN-ATTRIBUTE pref_full_name",
            ],
        ),
        (
            format!("<pref_full_name><a {xsi}><b xsi:nil=\"true\"/></a></pref_full_name>"),
            &[
                "W-SKIPPED-ELEMENT pref_full_name",
                "E-UNKNOWN-ATTRIBUTE pref_full_name",
            ],
        ),
        (
            format!("<pref_full_name {xsi} xsi:schemaLocation=\"a b\">A</pref_full_name>"),
            &["W-SKIPPED-ELEMENT pref_full_name"],
        ),
    ];
    for (body, expected) in cases {
        check(&doc(&body), expected);
    }
    // Nesting as deep as the input likes is read without recursion.
    let deep = format!(
        "<pref_full_name>{}{}</pref_full_name><first_name>J</first_name>",
        "<a>".repeat(200_000),
        "</a>".repeat(200_000)
    );
    let (users, _) = read_all(doc(&deep).as_bytes()).expect("reads");
    assert_eq!(users[0].user.first_name.as_deref(), Some("J"));
}

#[test]
fn document_level_findings() {
    check(
        "<userRecords><user/></userRecords>",
        &["W-ROOT-NAME userRecords"],
    );
    // A validator knows no <userRecords> but takes the type `xsi:type` names for it.
    let xsi = "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"";
    check(
        &format!("<userRecords {xsi} xsi:type=\"\" other=\"1\"><user/></userRecords>"),
        &["W-ROOT-NAME userRecords", "E-UNKNOWN-ATTRIBUTE @xsi:type"],
    );
    check(
        &format!(
            "<userRecords {xsi} xsi:noNamespaceSchemaLocation=\"u.xsd\"><user/></userRecords>"
        ),
        &["W-ROOT-NAME userRecords"],
    );
    check(
        "<users total_record_count=\"2\"><user/></users>",
        &["W-RECORD-COUNT -"],
    );
    check("<users total_record_count=\"1\"><user/></users>", &[]);
    check("<users><patron/></users>", &["E-UNKNOWN-ELEMENT patron"]);
    check("<users/>", &[]);
}

#[test]
fn entities_are_never_expanded() {
    let laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE users [\n<!ENTITY a \"aaaaaaaaaa\">\n\
                  <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n]>\n\
                  <users><user><primary_id>&b;</primary_id><first_name>&lt;&#233;&#x1F600;&amp;</first_name></user></users>";
    let (users, document) = read_all(laughs.as_bytes()).expect("reads");
    assert_eq!(document.len(), 1);
    assert_eq!(document[0].code, "E-DOCTYPE");
    assert_eq!(users[0].user.primary_id, "");
    assert_eq!(users[0].user.first_name.as_deref(), Some("<é😀&"));
    assert_eq!(users[0].findings[0].code, "E-ENTITY");
}

#[test]
fn text_keeps_whitespace_cdata_and_character_references() {
    let xml = doc("<first_name>  a&#13;\r\nb <![CDATA[<c>]]></first_name>\
                   <user_group desc=\"x&#10;y\tz\">UG</user_group>");
    let (users, _) = read_all(xml.as_bytes()).expect("reads");
    let user = &users[0].user;
    assert_eq!(user.first_name.as_deref(), Some("  a\r\nb <c>"));
    let group = user.user_group.as_ref().expect("a group");
    assert_eq!(group.desc.as_deref(), Some("x\ny z"));
}

/// Reads until the error and checks its kind, line and column.
fn check_error(xml: &[u8], expected: fn(&ReadError) -> bool, line: u64, column: u64) {
    let err = read_all(xml).expect_err("malformed");
    let (l, c) = match &err {
        ReadError::Malformed { line, column, .. } | ReadError::NotUtf8 { line, column, .. } => {
            (*line, *column)
        }
        ReadError::Io { .. } => panic!("no I/O error reading a slice"),
    };
    assert!(expected(&err), "{err}");
    assert_eq!((l, c), (line, column), "{err}");
}

#[test]
fn malformed_xml_is_an_error_with_line_and_column() {
    let malformed = |e: &ReadError| matches!(e, ReadError::Malformed { .. });
    check_error(b"<users>\n<user>\n  </usr>\n</users>", malformed, 3, 3);
    check_error(b"<users>\n<user>\n", malformed, 3, 1);
    check_error(b"", malformed, 1, 1);
    check_error(b"junk\n<users/>", malformed, 1, 1);
    check_error(b"<users/>\n<users/>", malformed, 2, 1);
    check_error(b"<users>\n<user a=\"1\" a=\"2\"/></users>", malformed, 2, 1);
    check_error(b"<users>\n<user>&#0;</user></users>", malformed, 2, 7);
    check_error(b"<users>\n<user>&#xD800;</user></users>", malformed, 2, 7);
    check_error(
        b"<users>\n<user><first_name>Jos\xe9</first_name></user></users>",
        |e| matches!(e, ReadError::NotUtf8 { .. }),
        2,
        22,
    );
}

#[test]
fn users_come_one_at_a_time_with_their_start() {
    let xml = "<users>\n  <user><primary_id>a</primary_id></user>\n\n    <user>\n<primary_id>b</primary_id></user></users>";
    let mut reader = UserReader::new(xml.as_bytes());
    let a = reader.next_user().expect("ok").expect("a");
    assert_eq!(
        (a.user.primary_id.as_str(), a.position),
        ("a", Position { line: 2, column: 3 })
    );
    assert_eq!(&xml[a.start_offset as usize..][..6], "<user>");
    let b = reader.next_user().expect("ok").expect("b");
    assert_eq!(
        (b.user.primary_id.as_str(), b.position),
        ("b", Position { line: 4, column: 5 })
    );
    assert_eq!(&xml[b.start_offset as usize..][..6], "<user>");
    assert!(reader.next_user().expect("ok").is_none());
    assert_eq!(reader.users_read(), 2);
}

/// An endless-looking stream: users are produced on demand, never all in memory.
struct Users {
    left: usize,
    pending: Vec<u8>,
}

impl std::io::Read for Users {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() && self.left > 0 {
            self.left -= 1;
            self.pending =
                format!("<user><primary_id>u{}</primary_id></user>\n", self.left).into_bytes();
            if self.left == 0 {
                self.pending.extend_from_slice(b"</users>");
            }
        }
        let n = self.pending.len().min(out.len());
        out[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

#[test]
fn streams_many_users_with_line_numbers() {
    let input = std::io::Read::chain(
        &b"<users>\n"[..],
        Users {
            left: 20_000,
            pending: Vec::new(),
        },
    );
    let reader = UserReader::new(std::io::BufReader::new(input));
    let mut count = 0u64;
    for user in reader {
        let user = user.expect("well-formed");
        count += 1;
        assert_eq!(user.position.line, count + 1);
        assert!(user.findings.is_empty());
    }
    assert_eq!(count, 20_000);
}

/// A code's `desc` is as long as the schema table allows for that element: 255 for
/// `campus_code` and a resource-sharing library's `code`, 4000 for other codes.
#[test]
fn code_descriptions_are_measured_against_the_schema_table() {
    let d = |n: usize| "d".repeat(n);
    let cases: Vec<(String, &[&str])> = vec![
        (
            format!("<campus_code desc=\"{}\"></campus_code>", d(255)),
            &["I-EMPTY-ELEMENT campus_code"],
        ),
        (
            format!("<campus_code desc=\"{}\"></campus_code>", d(256)),
            &[
                "E-TOO-LONG campus_code/@desc",
                "I-EMPTY-ELEMENT campus_code",
            ],
        ),
        (
            format!("<user_group desc=\"{}\"></user_group>", d(4000)),
            &["I-EMPTY-ELEMENT user_group"],
        ),
        (
            format!("<user_group desc=\"{}\"></user_group>", d(4001)),
            &["E-TOO-LONG user_group/@desc", "I-EMPTY-ELEMENT user_group"],
        ),
        (
            format!(
                "<rs_libraries><rs_library><code desc=\"{}\"></code></rs_library></rs_libraries>",
                d(256)
            ),
            &[
                "E-TOO-LONG rs_libraries/rs_library[0]/code/@desc",
                "I-EMPTY-ELEMENT rs_libraries/rs_library[0]/code",
            ],
        ),
        (
            format!("<record_type desc=\"{}\">PUBLIC</record_type>", d(4001)),
            &["E-TOO-LONG record_type/@desc"],
        ),
        (
            "<account_type>external</account_type>".to_owned(),
            &["E-CASE account_type"],
        ),
        ("<status>GONE</status>".to_owned(), &["E-CODE-VALUE status"]),
    ];
    for (body, expected) in cases {
        check(&doc(&body), expected);
    }
}
