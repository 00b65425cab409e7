//! Values damaged upstream: UTF-8 decoded twice ("mojibake") and C1 control characters are
//! findings with a code, the column and the line; `[text]` decides reject (the default) or
//! warn, and no value is ever changed.

use crate::support::{Case, config, decisions};

const FIELDS: &str =
    "[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{first}\"\nlast_name = \"{last}\"\n";

fn csv() -> Vec<u8> {
    // Row 2: "JÃ¼rgen" (ü decoded twice); row 3: a C1 control (U+0085) in the last name;
    // row 4: plain text with accents; row 5: damage in a column no field reads.
    "id,first,last,note\n1,J\u{c3}\u{bc}rgen,Lee,\n2,Ann,Le\u{85}e,\n3,Ren\u{e9}e,M\u{fc}ller,\n4,Bo,Kim,\u{c3}\u{a9}\n"
        .as_bytes()
        .to_vec()
}

#[test]
fn damaged_values_reject_their_person_by_default() {
    let x = Case::new(&config(FIELDS), &[("p.csv", &csv())])
        .run()
        .expect("read");
    insta::assert_snapshot!("damaged_text_rejected", decisions(&x).join("\n"));
}

#[test]
fn with_warn_the_person_is_loaded_as_the_extract_has_them() {
    let rest = format!("{FIELDS}\n[text]\nmojibake = \"warn\"\nc1_controls = \"warn\"\n");
    let x = Case::new(&config(&rest), &[("p.csv", &csv())])
        .run()
        .expect("read");
    assert_eq!(decisions(&x), ["W:1", "W:2", "W:3", "W:4"]);
    let names: Vec<(Option<String>, Option<String>)> = x
        .users
        .iter()
        .map(|u| (u.user.first_name.clone(), u.user.last_name.clone()))
        .collect();
    // Byte for byte what the extract holds.
    assert_eq!(names[0].0.as_deref(), Some("J\u{c3}\u{bc}rgen"));
    assert_eq!(names[1].1.as_deref(), Some("Le\u{85}e"));
    let warnings: Vec<String> = x
        .row_warnings
        .iter()
        .map(|w| format!("{}: {}", w.row, w.text))
        .collect();
    insta::assert_snapshot!("damaged_text_warned", warnings.join("\n"));
}
