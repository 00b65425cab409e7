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
        "multiline = true",
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
fn a_row_that_is_not_utf8_without_a_fallback_is_rejected_naming_line_byte_and_bytes() {
    let case = Case::new(&config(""), &[("p.csv", CP1252)]);
    let x = case.run().expect("the other rows are read");
    assert_eq!(
        decisions(&x),
        [
            "W:1",
            "R:E-UTF8: p.csv:3: line 3, byte offset 19: bytes 0xE9 are not UTF-8; set `encoding` (for example \"windows-1252\") on this input if some rows are in another encoding",
        ]
    );
    let mapping = case.config().expect("config");
    let extractor = sis_extract::Extractor::new(&mapping, case.dir.path(), crate::support::today())
        .expect("extractor");
    assert!(!extractor.read_cleanly());
}

#[test]
fn with_the_fallback_only_the_rows_that_are_not_utf8_are_decoded_with_it() {
    // Row 2 is UTF-8 whose bytes windows-1252 would read as "JÃ¼rgen": it stays UTF-8.
    let bytes = b"id,name\n1,J\xc3\xbcrgen\n2,Jos\xe9 \x93Q\x94\n3,\xe2\x80\x9cQ\xe2\x80\x9d\n";
    check(
        "encoding = \"windows-1252\"",
        bytes,
        &[
            "J\u{fc}rgen",
            "Jos\u{e9} \u{201c}Q\u{201d}",
            "\u{201c}Q\u{201d}",
        ],
    );
    let text = config("[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{name}\"\n").replacen(
        "key = \"id\"\n",
        "key = \"id\"\nencoding = \"windows-1252\"\n",
        1,
    );
    let case = Case::new(&text, &[("p.csv", bytes)]);
    let x = case.run().expect("decoded");
    assert_eq!(
        x.warnings,
        ["p.csv: 1 row(s) not UTF-8, decoded as windows-1252 (their lines are in the report)"]
    );
    let decoded: Vec<_> = x.rows.iter().map(|r| (r.row.line, r.decoded_as)).collect();
    assert_eq!(decoded, [(2, None), (3, Some("windows-1252")), (4, None)]);
    let mapping = case.config().expect("config");
    let extractor = sis_extract::Extractor::new(&mapping, case.dir.path(), crate::support::today())
        .expect("extractor");
    let inputs = extractor.inputs();
    assert_eq!(inputs[0].fallback_lines, [3]);
    assert_eq!(inputs[0].fallback, Some("windows-1252"));
    assert!(extractor.read_cleanly());
}

#[test]
fn a_shift_jis_fallback_decodes_its_rows_from_the_raw_bytes() {
    // "山田" and "ソ" (0x83 0x5C: its second byte is a backslash) in Shift_JIS, one row in
    // UTF-8, a pipe-delimited file.
    let mut bytes = b"id|name\n1|".to_vec();
    bytes.extend_from_slice(&encoding_rs::SHIFT_JIS.encode("\u{5c71}\u{7530}|x").0);
    bytes.extend_from_slice(b"\n2|\xe5\xb1\xb1\n3|");
    bytes.extend_from_slice(&encoding_rs::SHIFT_JIS.encode("\u{30bd}").0);
    bytes.push(b'\n');
    // Row 1 has a third field: refused, however it is read. The others are decoded.
    let text = config("[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{name}\"\n").replacen(
        "key = \"id\"\n",
        "key = \"id\"\ndelimiter = \"|\"\nencoding = \"shift_jis\"\n",
        1,
    );
    let x = Case::new(&text, &[("p.csv", &bytes)]).run().expect("read");
    assert_eq!(
        decisions(&x),
        [
            "R:E-READ-FIELDS: p.csv:2: the row has 3 field(s), the header has 2",
            "W:2",
            "W:3",
        ]
    );
    let names: Vec<_> = x.users.iter().map(|u| u.user.first_name.clone()).collect();
    assert_eq!(
        names,
        [Some("\u{5c71}".to_owned()), Some("\u{30bd}".to_owned())]
    );
}

#[test]
fn a_utf_16_file_streams_in_bounded_memory_and_reads_back_by_offset() {
    // Big enough to take many reads, with rows of one person far apart.
    let mut text = String::from("\u{feff}id,name\r\n");
    for i in 0..20_000 {
        let name = if i % 3 == 0 {
            "Jos\u{e9}"
        } else {
            "\u{5f20}\u{1f600}"
        };
        text.push_str(&format!("{},{name}{i}\r\n", i % 7000));
    }
    for (encoding, bytes) in [
        (
            "utf-16le",
            text.encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>(),
        ),
        (
            "utf-16be",
            text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        ),
    ] {
        let config = config("[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{name}\"\n").replacen(
            "key = \"id\"\n",
            &format!("key = \"id\"\nencoding = \"{encoding}\"\n"),
            1,
        );
        let x = Case::new(&config, &[("p.csv", &bytes)])
            .run()
            .expect("read");
        assert_eq!(x.rows.len(), 20_000);
        assert_eq!(x.users.len(), 7000);
        let user = x
            .users
            .iter()
            .find(|u| u.user.primary_id == "3")
            .expect("user 3");
        assert_eq!(user.user.first_name.as_deref(), Some("Jos\u{e9}3"));
        assert_eq!(user.rows.len(), 3);
        assert!(x.rows.iter().all(|r| r.decoded_as.is_some()));
        assert_eq!(x.warnings.len(), 1, "{encoding}");
    }
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
        err.to_string()
            .contains("alma-sis.toml:8:12: unknown encoding \"klingon\""),
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
