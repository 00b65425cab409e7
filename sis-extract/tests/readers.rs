//! Readers: delimiters, quoting, line endings, BOM, fixed width, encodings.

use crate::support::{Case, config, decisions};

/// The input `p.csv` with `input` settings holding `bytes` gives users named `expected`
/// (`first_name` from column `name`), in order.
fn check(input: &str, bytes: &[u8], expected: &[&str]) {
    let text = config("[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{name}\"\n").replacen(
        "key = \"id\"\n",
        &format!("key = \"id\"\n{input}\n"),
        1,
    );
    let case = Case::new(&text, &[("p.csv", bytes)]);
    let x = case.run().unwrap_or_else(|e| panic!("{input}: {e}"));
    let names: Vec<_> = x
        .users
        .iter()
        .map(|u| u.user.first_name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, expected, "{input}: {:?}", decisions(&x));
    assert_eq!(x.rows.len(), expected.len(), "{input}");
}

#[test]
fn delimited() {
    check("", b"id,name\n1,Ann\n2,Bo\n", &["Ann", "Bo"]);
    check("", b"id,name\r\n1,Ann\r\n2,Bo\r\n", &["Ann", "Bo"]);
    check("", b"id,name\n1,Ann\n2,Bo", &["Ann", "Bo"]);
    check("", b"\xEF\xBB\xBFid,name\n1,Ann\n", &["Ann"]);
    check("", b"id,name\n\n1,Ann\n\n2,Bo\n\n", &["Ann", "Bo"]);
    check(
        "",
        b"id,name\n1,\"Smith, Ann\"\n2,\"Bo \"\"B\"\"\"\n",
        &["Smith, Ann", "Bo \"B\""],
    );
    check(
        "",
        b"id,name\n1,\"two\nlines\"\n2,Bo\n",
        &["two\nlines", "Bo"],
    );
    check("", b"id,name\n 1 , Ann \n", &["Ann"]);
    check(
        "delimiter = \"\\\\t\"",
        b"id\tname\n1\tAnn, Jr\n",
        &["Ann, Jr"],
    );
    check("delimiter = \"\\t\"", b"id\tname\n1\tAnn\n", &["Ann"]);
    check("delimiter = \"|\"", b"id|name\n1|Ann\n", &["Ann"]);
    check("delimiter = \";\"", b"id;name\n1;Ann\n", &["Ann"]);
    check(
        "delimiter = \"|\"\nquote = \"'\"",
        b"id|name\n1|'A|B'\n",
        &["A|B"],
    );
    check(
        "header = false\ncolumns = [\"id\", \"name\"]",
        b"1,Ann\n2,Bo\n",
        &["Ann", "Bo"],
    );
    // Ragged rows: missing trailing columns are empty.
    check("", b"id,name,extra\n1,Ann\n", &["Ann"]);
}

#[test]
fn fixed_width() {
    let layout = "format = \"fixed_width\"\npositions = [{ column = \"id\", start = 1, width = 4 }, { column = \"name\", start = 5, width = 6 }]";
    check(
        layout,
        b"0001Ann   \n0002Zo\xC3\xABX  \r\n",
        &["Ann", "Zo\u{eb}X"],
    );
    check(
        &format!("{layout}\nheader = true"),
        b"ID  NAME  \n0001Ann   \n\n",
        &["Ann"],
    );
    check(
        &format!("{layout}\nencoding = \"windows-1252\""),
        b"0001Jos\xe9  \r\n0002Bo\n",
        &["Jos\u{e9}", "Bo"],
    );
}

/// A windows-1252 file: `Jos\xE9` on line 3.
const CP1252: &[u8] = b"id,name\n1,Ann\n2,Jos\xe9 \x93Q\x94\n";

#[test]
fn windows_1252_without_a_fallback_names_line_byte_and_bytes() {
    let case = Case::new(&config(""), &[("p.csv", CP1252)]);
    let err = case.run().expect_err("not UTF-8").to_string();
    assert!(
        err.contains("p.csv: line 3: byte offset 19: bytes 0xE9"),
        "{err}"
    );
    assert!(err.contains("encoding"), "{err}");
}

#[test]
fn windows_1252_with_the_fallback_is_read_and_warned_about() {
    check(
        "encoding = \"windows-1252\"",
        CP1252,
        &["Ann", "Jos\u{e9} \u{201c}Q\u{201d}"],
    );
    let text = config("").replacen(
        "key = \"id\"\n",
        "key = \"id\"\nencoding = \"windows-1252\"\n",
        1,
    );
    let x = Case::new(&text, &[("p.csv", CP1252)])
        .run()
        .expect("decoded");
    assert_eq!(x.warnings.len(), 1);
    assert!(
        x.warnings[0].contains("line 3, byte offset 19") && x.warnings[0].contains("windows-1252"),
        "{}",
        x.warnings[0]
    );
}

#[test]
fn an_unknown_encoding_is_an_error() {
    let text = config("").replacen(
        "key = \"id\"\n",
        "key = \"id\"\nencoding = \"klingon\"\n",
        1,
    );
    let err = Case::new(&text, &[("p.csv", CP1252)])
        .run()
        .expect_err("unknown");
    assert!(
        err.to_string().contains("unknown encoding \"klingon\""),
        "{err}"
    );
}

#[test]
fn a_file_truncated_after_the_scan_rejects_the_rows_it_lost() {
    let case = Case::new(&config(""), &[("p.csv", b"id,name\n1,Ann\n2,Bo\n")]);
    let mapping = case.config().expect("config");
    let x = sis_extract::Extractor::new(&mapping, case.dir.path(), crate::support::today())
        .expect("extractor");
    std::fs::write(case.dir.path().join("p.csv"), b"id,name\n1,").expect("truncate");
    let got: Vec<_> = x
        .people()
        .flat_map(|p| p.rows)
        .map(|r| match r.decision {
            sis_extract::Decision::Written { primary_id } => format!("W:{primary_id}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        [
            "Rejected { errors: [\"E-MAP-INPUT-CHANGED: cannot read this person's rows back: an input changed during the run\"] }",
            "Rejected { errors: [\"E-MAP-INPUT-CHANGED: cannot read this person's rows back: an input changed during the run\"] }",
        ]
    );
}
