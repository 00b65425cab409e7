//! The fast path (`UserSplitter` + `UserParser`) reads exactly what `UserReader` reads:
//! same users, positions, findings and document findings, or it says `Unsupported`.

use alma_user_model::read::{Split, UserParser, UserSplitter};
use alma_user_model::{Finding, ReadUser};
use proptest::prelude::*;

use crate::support::{read_all, shared};

/// The document read the fast way; `None` when the fast path refuses it.
fn fast_read(xml: &[u8]) -> Option<(Vec<ReadUser>, Vec<Finding>)> {
    let mut splitter = UserSplitter::new(xml);
    let mut parser = UserParser::new();
    let mut users = Vec::new();
    let mut raw = String::new();
    loop {
        raw.clear();
        match splitter.next_into(&mut raw) {
            Split::User(at) => {
                assert_eq!(raw.len(), at.len);
                let parsed = parser.parse(&raw, &at);
                crate::clean_path::assert_clean_agrees(&raw, &at, parsed.as_ref());
                users.push(parsed?);
            }
            Split::End => return Some((users, splitter.document_findings().to_vec())),
            Split::Unsupported => return None,
        }
    }
}

/// Asserts both paths agree wherever the fast one reads; returns whether it did.
fn same(xml: &[u8]) -> bool {
    let Some(fast) = fast_read(xml) else {
        return false;
    };
    match read_all(xml) {
        Ok(slow) => assert_eq!(
            fast,
            slow,
            "fast and full reader differ on:\n{}",
            String::from_utf8_lossy(xml)
        ),
        Err(e) => panic!(
            "the fast path read a document the full reader rejects ({e}):\n{}",
            String::from_utf8_lossy(xml)
        ),
    }
    true
}

pub(crate) const PLAIN_USER: &str = "  <user>\n    <record_type>PUBLIC</record_type>\n    \
    <primary_id>900000001</primary_id>\n    <first_name>José</first_name>\n    \
    <last_name>张</last_name>\n    <user_group desc=\"Faculty\">FAC</user_group>\n    \
    <expiry_date>2027-11-23Z</expiry_date>\n    <account_type>EXTERNAL</account_type>\n    \
    <status>ACTIVE</status>\n    <contact_info>\n      <addresses>\n        \
    <address preferred=\"true\" segment_type=\"External\">\n          \
    <line1>875 University Blvd</line1>\n          <city>Chicago</city>\n          \
    <address_types>\n            <address_type>home</address_type>\n          \
    </address_types>\n        </address>\n      </addresses>\n      <emails>\n        \
    <email preferred=\"true\" segment_type=\"External\">\n          \
    <email_address>u1@demo.example.edu</email_address>\n          <email_types>\n            \
    <email_type>school</email_type>\n          </email_types>\n        </email>\n      \
    </emails>\n    </contact_info>\n    <user_identifiers>\n      \
    <user_identifier segment_type=\"External\">\n        <id_type>BARCODE</id_type>\n        \
    <value>21234000000001</value>\n      </user_identifier>\n    </user_identifiers>\n  \
    </user>\n";

pub(crate) fn doc_of(users: &[String]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- made by a test -->\n<users>\n",
    );
    for u in users {
        xml.push_str(u);
    }
    xml.push_str("</users>\n");
    xml
}

#[test]
fn the_toolkits_own_output_takes_the_fast_path() {
    let users: Vec<String> = (0..3000)
        .map(|i| PLAIN_USER.replace("900000001", &format!("{}", 900_000_000 + i)))
        .collect();
    // About 3 MB: users and 3-byte characters straddle many 64 KiB reads.
    assert!(same(doc_of(&users).as_bytes()));
}

#[test]
fn the_samples_read_alike() {
    for file in [
        "berkeley_sis_expected_xml.xml",
        "berkeley_ucpath_expected_xml_1.xml",
        "mit_staff_patrons.xml",
        "mit_student_patrons.xml",
    ] {
        let bytes = std::fs::read(shared().join("alma/samples").join(file)).expect("sample");
        assert!(same(&bytes), "{file} takes the fast path");
    }
}

#[test]
fn deviations_read_alike() {
    // Each replaces part of the plain user; all are read the fast way.
    let cases = [
        ("<first_name>José</first_name>", "<first_name></first_name>"),
        ("<first_name>José</first_name>", "<first_name/>"),
        (
            "<first_name>José</first_name>",
            "<first_name>A &amp; B &lt;&gt;&apos;&quot; &#65;&#x42;</first_name>",
        ),
        (
            "<first_name>José</first_name>",
            "<first_name>Jo&unknown;sé</first_name>",
        ),
        (
            "<first_name>José</first_name>",
            "<pref_full_name>x</pref_full_name>",
        ),
        (
            "<first_name>José</first_name>",
            "<pref_full_name><a b='1'><researcher/></a><c/></pref_full_name>",
        ),
        (
            "<first_name>José</first_name>",
            "<pref_full_name xmlns:q='http://www.w3.org/2001/XMLSchema-instance' q:type='x'>\
             <a q:nil='true'/></pref_full_name>",
        ),
        (
            "<first_name>José</first_name>",
            "<password>x</password><status_date>bad</status_date>",
        ),
        (
            "<first_name>José</first_name>",
            "<first_name>a<b>c</b>d</first_name>",
        ),
        (
            "<first_name>José</first_name>",
            "<first_name x='1' >J</first_name >",
        ),
        (
            "<first_name>José</first_name>",
            "<first_name>J</first_name><first_name>K</first_name>",
        ),
        (
            "<record_type>PUBLIC</record_type>",
            "<record_type>public</record_type>",
        ),
        ("<status>ACTIVE</status>", "<status>GONE</status>"),
        (
            "<expiry_date>2027-11-23Z</expiry_date>",
            "<expiry_date>2027-11-23</expiry_date>",
        ),
        (
            "<expiry_date>2027-11-23Z</expiry_date>",
            "<expiry_date></expiry_date>",
        ),
        (
            "<user_group desc=\"Faculty\">",
            "<user_group desc=\"F &amp; &#233; &bogus;\">",
        ),
        ("<user_group desc=\"Faculty\">", "<user_group desc=''>"),
        (
            "preferred=\"true\" segment_type",
            "preferred=\"yes\" segment_type",
        ),
        (
            "<address preferred",
            "<address\n   colour=\"red\" preferred",
        ),
        ("<emails>", "<emails>stray"),
        (
            "<contact_info>",
            "<contact_info><!-- a comment --><?pi here?>",
        ),
        ("<addresses>", "<phones/><addresses>"),
        ("<user>", "<user link=\"x\">"),
        ("<user>", "<user bogus=\"&apos;\">"),
        (
            "<last_name>张</last_name>",
            "<last_name>张</last_name><user_notes><user_note><note_type>POPUP</note_type></user_note></user_notes>",
        ),
        (
            "<last_name>张</last_name>",
            "<last_name>a]]>b > c</last_name>",
        ),
        ("<last_name>张</last_name>", "<last_name>\u{1B}</last_name>"),
        (
            "<last_name>张</last_name>",
            "<last_name>a\r\nb\rc</last_name>\r\n",
        ),
    ];
    for (from, to) in cases {
        let user = PLAIN_USER.replacen(from, to, 1);
        let xml = doc_of(&[user.clone(), user.replace("900000001", "900000002")]);
        assert!(same(xml.as_bytes()), "{to} takes the fast path");
    }
}

#[test]
fn document_level_deviations_read_alike() {
    let user = PLAIN_USER.to_owned();
    let docs = [
        format!("<userRecords>\n{user}</userRecords>"),
        format!(
            "<userRecords xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' xsi:type=''>\n\
             {user}</userRecords>"
        ),
        format!("<users total_record_count=\"2\">\n{user}</users>"),
        format!("<users total_record_count=\"x\" other='1'>\n{user}</users>"),
        format!("<users>text{user}<junk><a/></junk>{user}more</users>\n<!-- end -->\n"),
        format!("\n\n<users>{user}</users>"),
        "<users/>".to_owned(),
        "<users></users>".to_owned(),
        format!("<users>{}</users>", "<user/>"),
        format!("<users>\r\n{user}</users>"),
    ];
    for xml in docs {
        assert!(same(xml.as_bytes()), "{xml} takes the fast path");
    }
}

#[test]
fn unusual_documents_are_left_to_the_full_reader() {
    let user = PLAIN_USER.to_owned();
    let refused = [
        "\u{FEFF}<users></users>".to_owned(),
        format!("<!DOCTYPE users>\n<users>{user}</users>"),
        format!(
            "<users>{}</users>",
            user.replace("José", "<![CDATA[José]]>")
        ),
        format!("<users>{}</users>", user.replace("José", "Jo & sé")),
        format!(
            "<users>{}</users>",
            user.replace("</first_name>", "</last_name>")
        ),
        format!("<users>{}", user),
        format!(
            "<users>{}</users>",
            user.replace("<emails>", "<emails><!-- </user> -->")
        ),
        format!(
            "<users>{}</users>",
            user.replace("<emails>", "<user>x</user><emails>")
        ),
        format!("<users>{}</users>", user.replace("</user>", "</user >")),
        format!("<users>{}</users><users/>", user),
    ];
    for xml in refused {
        assert!(fast_read(xml.as_bytes()).is_none(), "{xml} is refused");
        // And where the full reader reads it, nothing differs.
        same(xml.as_bytes());
    }
}

/// Element names: the schema's and a few it does not have.
const NAMES: &[&str] = &[
    "primary_id",
    "first_name",
    "last_name",
    "user_group",
    "status",
    "expiry_date",
    "birth_date",
    "record_type",
    "contact_info",
    "addresses",
    "address",
    "line1",
    "city",
    "address_types",
    "address_type",
    "emails",
    "email",
    "email_address",
    "email_types",
    "email_type",
    "phones",
    "phone",
    "phone_number",
    "user_identifiers",
    "user_identifier",
    "id_type",
    "value",
    "user_notes",
    "user_note",
    "note_type",
    "note_text",
    "user_viewable",
    "popup_note",
    "user_statistics",
    "user_statistic",
    "statistic_category",
    "password",
    "status_date",
    "requests",
    "fees",
    "is_researcher",
    "pref_first_name",
    "user",
    "odd",
];

/// Text pieces: plain, references, whitespace and line ends, markup that is not an element.
const TEXTS: &[&str] = &[
    "u1",
    "U1",
    "Zoë 张",
    "ACTIVE",
    "active",
    "2027-01-01Z",
    "2027-01-01",
    "true",
    "0",
    "1.5",
    " ",
    "\n    ",
    "\t",
    "\r\n",
    "\r",
    "&amp;",
    "&lt;&gt;",
    "&#65;",
    "&#x1F600;",
    "&x;",
    "<!-- c -->",
    "<?pi x?>",
    "]]>",
    ">",
    "\u{1}",
    "\u{B}",
    "\u{C}",
    "\u{A0}",
    "",
];

/// Text the full reader rejects or the fast path leaves to it.
const BAD_TEXTS: &[&str] = &[
    "&#0;",
    "&",
    "<!-- </user> -->",
    "<![CDATA[c]]>",
    "<!DOCTYPE x>",
];

fn text() -> impl Strategy<Value = &'static str> {
    prop_oneof![20 => prop::sample::select(TEXTS), 1 => prop::sample::select(BAD_TEXTS)]
}

/// Attributes, some of them broken.
const ATTRS: &[&str] = &[
    " preferred=\"true\"",
    " preferred='false'",
    " preferred=\"x\"",
    " segment_type=\"External\"",
    " desc=\"A &amp; B\"",
    " desc=\"&q;\"",
    " desc=\"a\tb\nc\"",
    " link=\"l\"",
    "\n   colour = \"red\" ",
    " b='>'",
    "",
    "",
    "",
    "",
    "",
    " a=\"1\" a=\"2\"",
    " a=1",
];

/// A random element: name, attributes and content, nested up to `depth`.
fn element(depth: u32) -> BoxedStrategy<String> {
    let leaf = (
        prop::sample::select(NAMES),
        prop::sample::select(ATTRS),
        prop::collection::vec(text(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(name, attr, texts, empty)| {
            if empty {
                format!("<{name}{attr}/>")
            } else {
                format!("<{name}{attr}>{}</{name}>", texts.concat())
            }
        });
    if depth == 0 {
        return leaf.boxed();
    }
    let inner = prop::collection::vec(
        prop_oneof![
            3 => element(depth - 1),
            1 => text().prop_map(str::to_owned),
        ],
        0..6,
    );
    prop_oneof![
        1 => leaf,
        2 => (prop::sample::select(NAMES), prop::sample::select(ATTRS), inner)
            .prop_map(|(name, attr, children)| format!("<{name}{attr}>{}</{name}>", children.concat())),
    ]
    .boxed()
}

/// A random user, mostly well-formed.
fn user() -> impl Strategy<Value = String> {
    (
        prop::sample::select(ATTRS),
        prop::collection::vec(element(3), 0..8),
        prop::sample::select(&["\n  ", "", "\r\n"][..]),
    )
        .prop_map(|(attr, children, sep)| format!("<user{attr}>{}</user>{sep}", children.join(sep)))
}

/// The document as a holding splitter gives it back: what it holds before each user, the
/// user, and what it holds after the last; `None` when it refuses the document.
fn held_pieces(xml: &[u8]) -> Option<Vec<u8>> {
    let mut splitter = UserSplitter::new(xml);
    let mut read_to = 0;
    splitter.hold_from(read_to);
    let mut out = Vec::new();
    let mut raw = String::new();
    loop {
        raw.clear();
        match splitter.next_into(&mut raw) {
            Split::User(at) => {
                let before = splitter.held(read_to, Some(at.start_offset));
                out.extend_from_slice(before.expect("held since the last user"));
                out.extend_from_slice(raw.as_bytes());
                read_to = at.start_offset + at.len as u64;
                splitter.hold_from(read_to);
            }
            Split::End => {
                out.extend_from_slice(splitter.held(read_to, None).expect("held to the end"));
                return Some(out);
            }
            Split::Unsupported => return None,
        }
    }
}

#[test]
fn a_splitter_holds_at_most_16_mib() {
    // 17 MiB of blanks between two users: read without holding, refused when holding.
    let user = PLAIN_USER.to_owned();
    let blanks = " ".repeat(17 << 20);
    let xml = doc_of(&[user.clone(), blanks, user]);
    assert!(fast_read(xml.as_bytes()).is_some(), "read in pieces");
    assert_eq!(held_pieces(xml.as_bytes()), None);
    // Under the limit, everything is held.
    let xml = doc_of(&[
        PLAIN_USER.to_owned(),
        " ".repeat(15 << 20),
        PLAIN_USER.to_owned(),
    ]);
    assert_eq!(held_pieces(xml.as_bytes()).as_deref(), Some(xml.as_bytes()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever lies between the users (blanks, comments, several reads long or none), a
    /// splitter that holds gives back every byte of the document, in order.
    #[test]
    fn a_holding_splitter_keeps_every_byte(
        gaps in prop::collection::vec((0usize..200_000, prop::sample::select(&[" ", "\n", "<!-- c -->", "\n  "][..])), 1..6),
    ) {
        let mut items = Vec::new();
        for (i, (len, piece)) in gaps.iter().enumerate() {
            items.push(piece.repeat(len / piece.len()));
            items.push(PLAIN_USER.replace("900000001", &i.to_string()));
        }
        let xml = doc_of(&items);
        let held = held_pieces(xml.as_bytes());
        prop_assert_eq!(held.as_deref(), Some(xml.as_bytes()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn generated_documents_read_alike(
        prolog in prop::sample::select(&["", "<?xml version=\"1.0\"?>\n", "<!-- c -->", "  ", "<?xml version=\"1.0\"?>\r\n<?pi?>"][..]),
        root in prop::sample::select(&["users", "userRecords"][..]),
        root_attr in prop::sample::select(ATTRS),
        items in prop::collection::vec(prop_oneof![4 => user(), 1 => element(1), 1 => text().prop_map(str::to_owned)], 0..6),
        epilog in prop::sample::select(&["", "\n", "<!-- end -->\n", "\n", "", "", "\n", "x", "<a/>"][..]),
    ) {
        let xml = format!("{prolog}<{root}{root_attr}>\n{}</{root}>{epilog}", items.concat());
        same(xml.as_bytes());
    }

    #[test]
    fn damaged_documents_read_alike(at in 0usize..100_000, byte in any::<u8>(), cut in prop::option::of(0usize..100_000)) {
        let users: Vec<String> = (0..4).map(|i| PLAIN_USER.replace("900000001", &i.to_string())).collect();
        let mut xml = doc_of(&users).into_bytes();
        let i = at % xml.len();
        xml[i] = byte;
        if let Some(cut) = cut {
            xml.truncate(xml.len() - cut % xml.len());
        }
        same(&xml);
    }
}
