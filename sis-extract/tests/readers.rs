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

#[test]
fn an_input_changed_after_it_was_read_is_noticed() {
    let original = b"id,name\n1,Ann\n2,Bo\n";
    type Change<'a> = (&'a str, &'a dyn Fn(&std::path::Path));
    let changes: [Change<'_>; 3] = [
        ("appended", &|p| {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(p)
                .expect("open");
            std::io::Write::write_all(&mut f, b"3,Cy\n").expect("append");
        }),
        ("rewritten in place, same size", &|p| {
            let mtime = std::fs::metadata(p)
                .and_then(|m| m.modified())
                .expect("mtime");
            std::fs::write(p, b"id,name\n1,Eve\n2,Bo\n").expect("rewrite");
            // Even with the old modification time put back.
            let f = std::fs::File::options().write(true).open(p).expect("open");
            f.set_modified(mtime).expect("set mtime");
        }),
        ("truncated", &|p| {
            std::fs::write(p, b"id,name\n").expect("truncate")
        }),
    ];
    for (what, change) in changes {
        let case = Case::new(&config(""), &[("p.csv", original)]);
        let mapping = case.config().expect("config");
        let x = sis_extract::Extractor::new(&mapping, case.dir.path(), crate::support::today())
            .expect("extractor");
        assert!(x.verify_unchanged().is_ok(), "{what}: untouched");
        change(&case.dir.path().join("p.csv"));
        let err = x.verify_unchanged().expect_err(what).to_string();
        assert!(
            err.contains("p.csv changed while the run was reading it"),
            "{what}: {err}"
        );
    }
}

#[test]
fn an_input_replaced_by_a_rename_is_read_as_it_was_opened() {
    // Write-then-rename hands over a new file; the run goes on with the one it opened.
    let case = Case::new(
        &config("[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{name}\"\n"),
        &[("p.csv", b"id,name\n1,Ann\n2,Bo\n")],
    );
    let mapping = case.config().expect("config");
    let x = sis_extract::Extractor::new(&mapping, case.dir.path(), crate::support::today())
        .expect("extractor");
    let dir = case.dir.path();
    std::fs::write(dir.join("p.csv.tmp"), b"id,name\n1,Eve\n").expect("new extract");
    std::fs::rename(dir.join("p.csv.tmp"), dir.join("p.csv")).expect("rename");
    let names: Vec<_> = x
        .people()
        .filter_map(|p| p.user.and_then(|u| u.user.first_name))
        .collect();
    assert_eq!(names, ["Ann", "Bo"]);
    assert!(x.verify_unchanged().is_ok());
}

#[test]
fn a_quote_left_open_swallows_nothing_without_multiline() {
    // Line 3 opens a quote it never closes (`,"François,`): only line 3 is refused.
    let bytes = "id,name,aff\n1,Ann,S\n2,\"Fran\u{e7}ois,S\n3,Bo,S\n4,Cy,S\n";
    let x = Case::new(&config(""), &[("p.csv", bytes.as_bytes())])
        .run()
        .expect("read");
    assert_eq!(
        decisions(&x),
        [
            "W:1",
            "R:E-READ-QUOTE: p.csv:3: a quoted field that starts in this row is still open at the end of the line (a quote is missing; if fields may hold line breaks, set `multiline = true` on this input)",
            "W:3",
            "W:4",
        ]
    );
    // With multiline the quote runs to the end of the file: one record, refused.
    let text = config("").replacen("key = \"id\"\n", "key = \"id\"\nmultiline = true\n", 1);
    let x = Case::new(&text, &[("p.csv", bytes.as_bytes())])
        .run()
        .expect("read");
    assert_eq!(
        decisions(&x),
        [
            "W:1",
            "R:E-READ-QUOTE: p.csv:3: a quoted field that starts in this row is never closed: the rest of the file was swallowed by it",
        ]
    );
}

/// A person as [`keys_of`] gives them.
type Keys = ((String, Option<String>), Vec<(u64, String, String)>);

/// Each person of `bytes` (as `p.csv`, `input` settings added): the key shown and the key
/// held back, and per row its line, the key it shows and the code of its rejection (`-`
/// when not rejected).
fn keys_of(input: &str, bytes: &[u8]) -> Vec<Keys> {
    let text = config("").replacen("key = \"id\"\n", &format!("key = \"id\"\n{input}\n"), 1);
    let case = Case::new(&text, &[("p.csv", bytes)]);
    let mapping = case.config().expect("config");
    let x = sis_extract::Extractor::new(&mapping, case.dir.path(), crate::support::today())
        .expect("extractor");
    x.people()
        .map(|p| {
            let rows = p
                .rows
                .iter()
                .map(|r| {
                    let code = match &r.decision {
                        sis_extract::Decision::Rejected { errors } => {
                            errors[0].split(':').next().unwrap_or_default().to_owned()
                        }
                        _ => "-".to_owned(),
                    };
                    (r.row.line, r.key.clone(), code)
                })
                .collect();
            ((p.key, p.unconfirmed_key), rows)
        })
        .collect()
}

fn row(line: u64, key: &str, code: &str) -> (u64, String, String) {
    (line, key.to_owned(), code.to_owned())
}

fn shown(key: &str) -> (String, Option<String>) {
    (key.to_owned(), None)
}

fn unconfirmed(key: &str) -> (String, Option<String>) {
    (String::new(), Some(key.to_owned()))
}

#[test]
fn a_key_read_only_from_rows_that_could_not_be_read_is_not_shown() {
    // Line 3: an unquoted comma before the key column moves a name into it. Lines 4-5: a
    // quote left open (no `multiline`) and its continuation line, whose key field is part
    // of an address. Lines 6-7: person 2's clean row and a broken one, whose key is then a
    // real id. Line 8: a row not UTF-8 (no fallback), its key on no other row.
    let bytes = b"name,id,address,city\n\
                  Ann,1,1 Main St,Urbana\n\
                  Smith, Jr.,9,2 St,Peoria\n\
                  Cy,3,\"4 Elm St\n\
                  Apt 2\",Urbana\n\
                  Di,2,5 St,Urbana\n\
                  Di,2,5 St,Urbana,x\n\
                  Ed\xE9,4,6 St,Urbana\n";
    assert_eq!(
        keys_of("", bytes),
        [
            (shown("1"), vec![row(2, "1", "-")]),
            (unconfirmed("Jr."), vec![row(3, "", "E-READ-FIELDS")]),
            (unconfirmed("3"), vec![row(4, "", "E-READ-QUOTE")]),
            (unconfirmed("Urbana"), vec![row(5, "", "E-READ-FIELDS")]),
            (
                shown("2"),
                vec![row(6, "2", "E-READ-FIELDS"), row(7, "2", "E-READ-FIELDS")]
            ),
            (unconfirmed("4"), vec![row(8, "", "E-UTF8")]),
        ]
    );
}

#[test]
fn a_row_swallowed_by_a_stray_quote_pair_is_refused_with_the_record() {
    // `"Xylo` on line 3 and `Yang"` on line 4, in the same column: one record of the field
    // count of a row. Refused, with the lines it spans; person 3 is on no row of their own,
    // and nobody has the other's fields. Its key (the first row's) is shown only when a
    // clean row has it.
    let head = "id,name,address,city\n1,Ann,1 St,Urbana\n";
    let swallowed = "2,\"Xylo,11 X St,Urbana\n3,Yang\",22 Y Ave,Peoria\n4,Bo,4 St,Urbana\n";
    let refused = "E-READ-QUOTE: p.csv:3: a quoted field (column \"name\") runs from line 3 \
                   over the line break into line 4 and holds 3 delimiters, a whole row's \
                   worth: a stray quote? The record is refused rather than read as one person, \
                   and the rows on those lines are not loaded; fix the quotes in the export (a \
                   quote inside a value is doubled, and the value quoted)";
    let x = Case::new(
        &config("").replacen("key = \"id\"\n", "key = \"id\"\nmultiline = true\n", 1),
        &[("p.csv", format!("{head}{swallowed}").as_bytes())],
    )
    .run()
    .expect("read");
    assert_eq!(decisions(&x), ["W:1", &format!("R:{refused}"), "W:4"]);
    assert_eq!(
        keys_of("multiline = true", format!("{head}{swallowed}").as_bytes()),
        [
            (shown("1"), vec![row(2, "1", "-")]),
            (unconfirmed("2"), vec![row(3, "", "E-READ-QUOTE")]),
            (shown("4"), vec![row(5, "4", "-")]),
        ]
    );
    let again = format!("{head}{swallowed}2,Xavier,11 X St,Urbana\n");
    assert_eq!(
        keys_of("multiline = true", again.as_bytes())[1],
        (
            shown("2"),
            vec![row(3, "2", "E-READ-QUOTE"), row(6, "2", "E-READ-QUOTE")]
        )
    );
    // A multi-line address with a comma is a value.
    let address = format!("{head}2,Xavier,\"11 X St,\nApt 2\",Urbana\n");
    assert_eq!(
        keys_of("multiline = true", address.as_bytes())[1],
        (shown("2"), vec![row(3, "2", "-")])
    );
}

#[test]
fn a_row_without_a_key_is_explained_by_its_file_and_line() {
    let case = Case::new(
        &config(""),
        &[("p.csv", b"id,name\n1,Ann\n,Bo\n\n\n2,Cy\n")],
    );
    let mapping = case.config().expect("config");
    let x = sis_extract::Extractor::new(&mapping, case.dir.path(), crate::support::today())
        .expect("extractor");
    for at in ["p.csv:3", "./p.csv:3"] {
        let person = x.explain(at);
        let rows: Option<Vec<String>> =
            person.map(|p| p.rows.iter().map(|r| r.row.to_string()).collect());
        let want = (at == "p.csv:3").then(|| vec!["p.csv:3".to_owned()]);
        assert_eq!(rows, want, "{at}");
    }
    assert_eq!(x.explain("p.csv:6").map(|p| p.key), Some("2".to_owned()));
    assert!(x.explain("p.csv:4").is_none(), "a blank line is no row");
}

#[test]
fn a_utf_16_fallback_applies_to_utf_16_files_only() {
    let text = config("[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{name}\"\n").replacen(
        "key = \"id\"\n",
        "key = \"id\"\nencoding = \"utf-16le\"\n",
        1,
    );
    // Without a byte-order mark, NUL bytes in the first line say UTF-16.
    let utf16: Vec<u8> = "id,name\n1,Jos\u{e9}\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let x = Case::new(&text, &[("p.csv", &utf16)]).run().expect("read");
    assert_eq!(x.users[0].user.first_name.as_deref(), Some("Jos\u{e9}"));
    // A UTF-8 file is read as UTF-8; a row that is not is refused (UTF-16 cannot decode it).
    let x = Case::new(&text, &[("p.csv", b"id,name\n1,Ann\n2,Jos\xe9\n")])
        .run()
        .expect("read");
    let got = decisions(&x);
    assert_eq!(got[0], "W:1");
    assert!(got[1].starts_with("R:E-UTF8: p.csv:3:"), "{got:?}");
}
