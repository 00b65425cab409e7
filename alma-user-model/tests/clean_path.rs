//! The clean-user path (`read_clean`) reads exactly what `UserParser` reads, with no finding,
//! wherever it reads at all; it reads what the writer writes; and it gives up on anything the
//! reader would report, which damaged users show.

use std::cell::Cell;

use alma_user_model::read::{
    RawUser, Spare, Split, UserParser, UserSplitter, read_clean, read_clean_reusing,
};
use alma_user_model::{ReadUser, render_user};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::fast_path::{PLAIN_USER, doc_of};
use crate::roundtrip::{Text, any_text, legal_text, run, user, wrap};

/// Panics when the clean path reads the user `xml` otherwise than the parser did
/// (`parsed`); returns whether it read it.
pub(crate) fn assert_clean_agrees(xml: &str, at: &RawUser, parsed: Option<&ReadUser>) -> bool {
    agrees(read_clean(xml, at), xml, parsed).is_some()
}

/// Panics when `clean` (the clean path's reading of `xml`) differs from the parser's.
fn agrees(clean: Option<ReadUser>, xml: &str, parsed: Option<&ReadUser>) -> Option<ReadUser> {
    let clean = clean?;
    assert!(clean.findings.is_empty(), "the clean path found something");
    assert_eq!(
        Some(&clean),
        parsed,
        "the clean path and the parser differ on:\n{xml}"
    );
    Some(clean)
}

/// Holds the clean path to the parser on every user of `doc`, all read with one [`Spare`]
/// that each user is given back to (as `check`'s workers do): what one user leaves in it
/// must not show in the next. Returns how many users it read and how many there were (up
/// to where the fast path stops).
fn clean_share(doc: &[u8]) -> (usize, usize) {
    let mut spare = Spare::default();
    let mut splitter = UserSplitter::new(doc);
    let mut parser = UserParser::new();
    let mut raw = String::new();
    let (mut clean, mut all) = (0, 0);
    loop {
        raw.clear();
        match splitter.next_into(&mut raw) {
            Split::User(at) => {
                let parsed = parser.parse(&raw, &at);
                all += 1;
                let read = read_clean_reusing(&raw, &at, &mut spare);
                if let Some(read) = agrees(read, &raw, parsed.as_ref()) {
                    clean += 1;
                    spare.recycle(read.user);
                }
            }
            Split::End | Split::Unsupported => return (clean, all),
        }
    }
}

#[test]
fn the_toolkits_own_output_reads_clean() {
    let users: Vec<String> = (0..50)
        .map(|i| PLAIN_USER.replace("900000001", &format!("{}", 900_000_000 + i)))
        .collect();
    assert_eq!(clean_share(doc_of(&users).as_bytes()), (50, 50));
}

/// Text as most feeds have it, with now and then a character the writer escapes or a
/// character of any kind.
fn tame_text() -> Text {
    prop_oneof![
        30 => "[A-Za-z0-9 .,'@-]{1,12}",
        1 => "[a-z]{0,3}[&<>\"'][a-z]{0,3}",
        1 => legal_text(),
    ]
    .boxed()
}

#[test]
fn what_the_writer_writes_reads_clean_and_alike() {
    for text in [legal_text(), any_text()] {
        run(user(text), |u, _| {
            let mut xml = Vec::new();
            if render_user(u, &mut xml).is_ok() {
                assert_eq!(clean_share(&wrap(&xml)).1, 1);
            }
        });
    }
    // Tame text, from a fixed seed: the share that reads clean is the same on every run.
    let (mut clean, mut rendered) = (0, 0);
    let config = Config::with_cases(400);
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy = user(tame_text());
    for _ in 0..400 {
        let u = strategy.new_tree(&mut runner).expect("a user").current();
        let mut xml = Vec::new();
        if render_user(&u, &mut xml).is_ok() {
            let (c, all) = clean_share(&wrap(&xml));
            assert_eq!(all, 1);
            (clean, rendered) = (clean + c, rendered + 1);
        }
    }
    // Most random users have something the clean path leaves to the parser (an empty
    // `<email_types/>`, a carriage return, a value the reader reports), but not all.
    assert!(
        clean * 8 > rendered,
        "only {clean} of {rendered} rendered users read clean"
    );
}

/// Lines a damaged user may gain: each is something the reader reports, or reads.
/// Those of [`LINES`] the reader reads, after a primary id, without a finding.
const CLEAN_LINES: &[&str] = &[
    "<first_name>x</first_name>",
    "<first_name>a]]&gt;b</first_name>",
    "<birth_date>2000-01-01Z</birth_date>",
    "<expiry_date> 2030-01-01Z </expiry_date>",
    "<user_group desc=\"\">G</user_group>",
    "<user_notes><user_note><note_type>POPUP</note_type><user_viewable>1</user_viewable><popup_note>false</popup_note></user_note></user_notes>",
    "<user_blocks><user_block><block_description>B</block_description><created_date>2024-01-01T10:00:00Z</created_date></user_block></user_blocks>",
    "<rs_libraries><rs_library></rs_library></rs_libraries>",
    "<library_notices><library_notice><code>C</code><value>true</value></library_notice></library_notices>",
];

const LINES: &[&str] = &[
    "<first_name></first_name>",
    "<first_name/>",
    "<first_name>x</first_name>",
    "<first_name>a]]>b</first_name>",
    "<first_name>a]]&gt;b</first_name>",
    "<last_name desc=\"d\">x</last_name>",
    "<password>secret</password>",
    "<pref_full_name>x</pref_full_name>",
    "<birth_date>2000-01-01</birth_date>",
    "<birth_date>2000-01-01Z</birth_date>",
    "<expiry_date> 2030-01-01Z </expiry_date>",
    "<expiry_date>2030-02-30Z</expiry_date>",
    "<record_type> PUBLIC </record_type>",
    "<record_type>public</record_type>",
    "<status desc=\"x\">ACTIVE</status>",
    "<user_group desc=\"\">G</user_group>",
    "<user_group></user_group>",
    "<contact_info></contact_info>",
    "<user_notes><user_note><note_type>POPUP</note_type><user_viewable>1</user_viewable><popup_note>false</popup_note></user_note></user_notes>",
    "<user_notes><user_note><note_type>X</note_type><user_viewable>yes</user_viewable><popup_note>false</popup_note></user_note></user_notes>",
    "<user_notes><user_note><note_type>X</note_type><popup_note>false</popup_note></user_note></user_notes>",
    "<user_blocks><user_block><block_description>B</block_description><created_date>2024-01-01T10:00:00Z</created_date></user_block></user_blocks>",
    "<user_blocks><user_block><block_description>B</block_description><created_date>2024-01-01T10:00:00</created_date></user_block></user_blocks>",
    "<rs_libraries><rs_library></rs_library></rs_libraries>",
    "<rs_libraries><rs_library><code></code></rs_library></rs_libraries>",
    "<library_notices><library_notice><code>C</code><value>true</value></library_notice></library_notices>",
    "<library_notices><library_notice><value>maybe</value></library_notice></library_notices>",
    "<user_identifiers></user_identifiers>",
    "<address_types></address_types>",
    "<address_types/>",
    "<email_types><email_type desc=\"d\"></email_type></email_types>",
    "text",
    "<!-- a comment -->",
    "<?pi x?>",
    "<![CDATA[x]]>",
    "&amp;",
    "&#65;",
    "<x:first_name xmlns:x=\"urn:x\">a</x:first_name>",
    "<first_name xmlns=\"\">a</first_name>",
];

/// Bytes a damaged user may have in place of one of its own.
const BYTES: &[u8] = b"<>/&;\"' =\n\rax1_]";

#[derive(Debug, Clone)]
enum Damage {
    Byte(usize, u8),
    DropLine(usize),
    DoubleLine(usize),
    SwapLines(usize),
    InsertLine(usize, &'static str),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        3 => (any::<usize>(), prop::sample::select(BYTES)).prop_map(|(i, b)| Damage::Byte(i, b)),
        1 => any::<usize>().prop_map(Damage::DropLine),
        1 => any::<usize>().prop_map(Damage::DoubleLine),
        1 => any::<usize>().prop_map(Damage::SwapLines),
        2 => (any::<usize>(), prop::sample::select(LINES)).prop_map(|(i, l)| Damage::InsertLine(i, l)),
    ]
}

fn apply(xml: &[u8], d: &Damage) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = xml
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    let n = lines.len();
    match *d {
        Damage::Byte(i, b) => {
            let mut out = xml.to_vec();
            let i = i % out.len();
            out[i] = b;
            return out;
        }
        Damage::DropLine(i) => {
            lines.remove(i % n);
        }
        Damage::DoubleLine(i) => {
            let line = lines[i % n].clone();
            lines.insert(i % n, line);
        }
        Damage::SwapLines(i) => lines.swap(i % n, (i + 1) % n),
        Damage::InsertLine(i, line) => lines.insert(i % n, format!("{line}\n").into_bytes()),
    }
    lines.concat()
}

/// Users of every shape one after another: each reads as the parser reads it, whatever the
/// users before it left in the spare strings and lists.
#[test]
fn users_in_a_row_read_alike_through_one_spare() {
    let clean = Cell::new(0);
    let mut runner = TestRunner::new(Config::with_cases(300));
    let users = prop::collection::vec(user(tame_text()), 2..8);
    runner
        .run(&users, |users| {
            let mut xml = Vec::new();
            for u in &users {
                // Users that do not render are left out.
                let mut one = Vec::new();
                if render_user(u, &mut one).is_ok() {
                    xml.extend_from_slice(&one);
                }
            }
            let (c, _) = clean_share(&wrap(&xml));
            clean.set(clean.get() + c);
            Ok(())
        })
        .expect("the clean path agrees with the parser");
    assert!(clean.get() > 100, "only {} users read clean", clean.get());
}

#[test]
fn damaged_users_read_alike_or_not_clean() {
    let clean = Cell::new(0);
    let mut runner = TestRunner::new(Config::with_cases(2000));
    runner
        .run(&(user(tame_text()), damage()), |(u, d)| {
            let mut xml = Vec::new();
            if render_user(&u, &mut xml).is_err() {
                return Ok(());
            }
            let (c, _) = clean_share(&wrap(&apply(&xml, &d)));
            clean.set(clean.get() + c);
            Ok(())
        })
        .expect("the clean path agrees with the parser");
    // Some damage leaves a user clean (a swapped pair of values, a changed letter): those
    // are compared too.
    assert!(clean.get() > 0, "no damaged user read clean");
}

#[test]
fn each_added_line_reads_alike() {
    let doc = |line: &str| {
        format!(
            "<users>\n  <user>\n    <primary_id>p1</primary_id>\n    {line}\n  </user>\n</users>\n"
        )
    };
    assert_eq!(
        clean_share(doc("<first_name>A &amp; B &lt;&gt;&quot;&apos;</first_name>").as_bytes()),
        (1, 1)
    );
    let clean: Vec<&str> = LINES
        .iter()
        .copied()
        .filter(|line| clean_share(doc(line).as_bytes()).0 == 1)
        .collect();
    // What the reader reads without a finding; every other line is left to it.
    assert_eq!(clean, CLEAN_LINES);
}
