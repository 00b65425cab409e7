//! The reader against independent readings of the same bytes: the `csv` crate over the whole
//! file, or line by line, with an independent per-row decoder.

use std::path::Path;

use proptest::prelude::*;

use super::{
    Cache, Fields, Layout, Offsets, Problem, RowFields, RowParser, SPARE_ENDS, Sink, Source,
    most_fields,
};
use crate::ExtractError;
use crate::config::LimitsConfig;

/// The keys of one input's rows.
#[derive(Default)]
struct Keys(Vec<String>);

impl Sink for Keys {
    fn row(&mut self, key: &str, _: Option<RowFields<'_>>) -> bool {
        self.0.push(key.to_owned());
        true
    }
    fn expect(&mut self, _: usize) {}
}

/// One row as read: line, key, fields, whether it was decoded with the fallback, its problem.
type Row = (u64, String, Vec<String>, bool, Option<Problem>);

/// Opens `bytes` as `p.csv` keyed on `id` with the `[[input]]` keys `extra`, `chunk` bytes at
/// a time, and reads every row back.
fn read(bytes: &[u8], extra: &str, chunk: usize) -> Result<Vec<Row>, ExtractError> {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("p.csv"), bytes).expect("p.csv");
    let text = format!(
        "[feed]\nname = \"t\"\ninstitution = \"T\"\n\n[[input]]\npath = \"p.csv\"\nkey = \"id\"\n{extra}\n\n[fields]\nprimary_id = \"{{id}}\"\n\n[expiry]\ndefault = {{ policy = \"today\" }}\n"
    );
    let config = crate::MappingConfig::from_toml(&text, Path::new("t.toml"), &[]).expect("config");
    let input = &config.inputs[0];
    let layout = Layout::Delimited {
        delimiter: b',',
        quote: b'"',
    };
    let mut keys = Keys::default();
    let source = Source::open_in_chunks(
        input,
        dir.path(),
        layout,
        &LimitsConfig::default(),
        &mut keys,
        chunk,
    )?;
    let mut cache = Cache::default();
    let mut fields = Fields::default();
    Ok((0..source.len())
        .map(|i| {
            let read = source.fields(i, &mut cache, &mut fields);
            assert!(read.readable);
            let values = (0..fields.len())
                .map(|f| fields.get(f).unwrap_or("").to_owned())
                .collect();
            let problem = source.problem(i).cloned();
            (
                source.line(i),
                keys.0[i].clone(),
                values,
                read.decoded_as.is_some(),
                problem,
            )
        })
        .collect())
}

/// Windows-1252, written out: what each byte from 0x80 is.
fn cp1252(bytes: &[u8]) -> String {
    const HIGH: &str = "€\u{81}‚ƒ„…†‡ˆ‰Š‹Œ\u{8d}Ž\u{8f}\u{90}‘’“”•–—˜™š›œ\u{9d}žŸ";
    let high: Vec<char> = HIGH.chars().collect();
    bytes
        .iter()
        .map(|&b| match b {
            0..=0x7F => char::from(b),
            0x80..=0x9F => high[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect()
}

/// The independent reading of a file without quotes: lines split at `\n` (a `\r` before it
/// dropped), blank lines skipped, the first line the header; each line UTF-8 when it is,
/// else windows-1252; fields split at commas and trimmed.
fn by_lines(bytes: &[u8]) -> Vec<(u64, Vec<String>, bool)> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut rows = Vec::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let (text, decoded) = match std::str::from_utf8(line) {
            Ok(t) => (t.to_owned(), false),
            Err(_) => (cp1252(line), true),
        };
        let fields = text.split(',').map(|f| f.trim().to_owned()).collect();
        rows.push((i as u64 + 1, fields, decoded));
    }
    if !rows.is_empty() {
        rows.remove(0);
    }
    rows
}

fn plain_cell() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"1".to_vec()),
        Just(b" 2 ".to_vec()),
        Just(Vec::new()),
        Just("Jos\u{e9}".as_bytes().to_vec()),
        Just(b"Jos\xe9".to_vec()),
        Just(b"\x93Q\x94".to_vec()),
        Just("\u{5f20}".as_bytes().to_vec()),
        Just("Ã©".as_bytes().to_vec()),
        proptest::collection::vec(
            prop_oneof![
                Just(b'a'),
                Just(0xC3),
                Just(0xA9),
                Just(0xE9),
                Just(0xFF),
                Just(b' ')
            ],
            0..5
        ),
    ]
}

fn end() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![
        Just(&b"\n"[..]),
        Just(&b"\r\n"[..]),
        Just(&b"\r\n\r\n"[..]),
        Just(&b"\n\n"[..])
    ]
}

proptest! {
    /// Read in small chunks, every row comes back with the line, fields and decoding the
    /// independent line-by-line reading gives: a UTF-8 row as it is, only a row that is not
    /// decoded as windows-1252.
    #[test]
    fn each_row_is_decoded_on_its_own(
        bom in any::<bool>(),
        rows in proptest::collection::vec((plain_cell(), plain_cell(), end()), 0..30),
        chunk in 8usize..40,
    ) {
        let mut bytes = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
        bytes.extend_from_slice(b"id,name\r\n");
        for (i, (name, other, end)) in rows.iter().enumerate() {
            bytes.extend_from_slice(format!("k{i},").as_bytes());
            bytes.extend_from_slice(name);
            bytes.extend_from_slice(b"|");
            bytes.extend_from_slice(other);
            bytes.extend_from_slice(end);
        }
        let got = read(&bytes, "encoding = \"windows-1252\"", chunk).expect("read");
        let want = by_lines(&bytes);
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!((g.0, &g.2, g.3), (w.0, &w.1, w.2));
            prop_assert_eq!(&g.1, &w.1[0]);
            prop_assert_eq!(&g.4, &None);
        }
        // Without a fallback, exactly the rows that are not UTF-8 are problems, naming their
        // first invalid byte.
        let got = read(&bytes, "", chunk).expect("read");
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!(matches!(g.4, Some(Problem::Utf8 { .. })), w.2);
            prop_assert!(!g.3);
            if let Some(Problem::Utf8 { line, offset, bytes: bad }) = &g.4 {
                prop_assert_eq!(*line, w.0);
                let at = usize::try_from(*offset).expect("an offset");
                prop_assert_eq!(&bytes[at..at + bad.len()], &bad[..]);
                prop_assert!(std::str::from_utf8(&bytes[..at]).is_ok() || at > 0);
            }
        }
    }
}

/// Every record a whole-file `csv` read finds (multi-line quoted fields allowed): the line
/// its first byte is on and its fields, untrimmed.
fn whole_file(bytes: &[u8]) -> Vec<(u64, Vec<String>)> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = String::from_utf8_lossy(body).into_owned();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut rows = Vec::new();
    let mut lines = super::Lines::new(text.as_bytes());
    while rdr.read_record(&mut record).expect("a record") {
        let at = record.position().expect("a position");
        rows.push((
            lines.at(at.byte()),
            record.iter().map(str::to_owned).collect(),
        ));
    }
    if !rows.is_empty() {
        rows.remove(0);
    }
    rows
}

fn cell() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"1".to_vec()),
        Just(b" 2 ".to_vec()),
        Just(Vec::new()),
        Just(b"\"a,\r\nb\"".to_vec()),
        Just(b"\"x\"\"y\"".to_vec()),
        Just(b"\"open".to_vec()),
        Just(b"a\"b".to_vec()),
        Just("\u{e9}\u{5f20}".as_bytes().to_vec()),
        Just("\u{feff}z".as_bytes().to_vec()),
        Just(b"\x00".to_vec()),
        proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b','), Just(b'"'), Just(b'\n'), Just(b' ')],
            0..5
        ),
    ]
}

fn terminator() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![
        Just(&b"\n"[..]),
        Just(&b"\r\n"[..]),
        Just(&b"\r"[..]),
        Just(&b"\r\n\r\n"[..]),
    ]
}

/// The bytes of a UTF-8 file with header `id,name` and the given rows.
fn file(bom: bool, rows: &[(Vec<u8>, Vec<u8>, &[u8])]) -> Vec<u8> {
    let mut bytes = if bom {
        b"\xEF\xBB\xBF".to_vec()
    } else {
        Vec::new()
    };
    bytes.extend_from_slice(b"id,name\r\n");
    for (id, name, end) in rows {
        bytes.extend_from_slice(id);
        bytes.push(b',');
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(end);
    }
    bytes
}

proptest! {
    /// With `multiline`, every record comes back with the line and fields a whole-file
    /// `csv` read gives; exactly the records with a field that runs over a line break and
    /// holds a delimiter (a row's worth, for two columns) are a swallowed row, the others
    /// with a field count other than 2 are `E-READ-FIELDS` (or an unclosed quote at the
    /// end), and the key of a clean row is its first field.
    #[test]
    fn multiline_records_are_those_of_a_whole_file_read(
        bom in any::<bool>(),
        rows in proptest::collection::vec((cell(), cell(), terminator()), 0..25),
        chunk in 8usize..40,
    ) {
        let bytes = file(bom, &rows);
        let got = read(&bytes, "multiline = true", chunk).expect("read");
        let want = whole_file(&bytes);
        prop_assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let trimmed: Vec<&str> = w.1.iter().map(|f| f.trim()).collect();
            prop_assert_eq!((g.0, &g.2), (w.0, &trimmed.iter().map(|f| (*f).to_owned()).collect::<Vec<_>>()), "row {}", i);
            let last = i + 1 == got.len();
            match &g.4 {
                Some(Problem::Fields { got: n, want: 2 }) => {
                    prop_assert_eq!(*n, w.1.len());
                    prop_assert!(!w.1.iter().any(|f| f.contains(['\r', '\n']) && f.contains(',')));
                }
                Some(Problem::Quote { end_of_file: true }) => prop_assert!(last),
                // The first field that runs over a line break holds a row's worth of
                // delimiters (one, for two columns).
                Some(Problem::Swallowed { field, delimiters, .. }) => {
                    let broken = |f: &String| f.contains(['\r', '\n']);
                    let first = w.1.iter().position(|f| broken(f) && f.matches(',').count() >= 1);
                    prop_assert_eq!(first, Some(*field));
                    prop_assert_eq!(w.1[*field].matches(',').count(), *delimiters);
                }
                Some(Problem::KeyChar) => {
                    prop_assert_eq!(&g.1, "");
                    prop_assert!(super::invisible_in(&w.1[0]));
                }
                Some(other) => prop_assert!(false, "{:?}", other),
                None => {
                    prop_assert_eq!(w.1.len(), 2);
                    prop_assert!(!w.1.iter().any(|f| f.contains(['\r', '\n']) && f.contains(',')));
                    prop_assert_eq!(&g.1, trimmed[0]);
                }
            }
        }
    }

    /// Without `multiline`, a record never runs past its line: a quoted field still open at
    /// the end of the line is `E-READ-QUOTE`, exactly when a whole-file read of that line
    /// followed by a marker line takes the marker into the record; the next line is a row
    /// of its own.
    #[test]
    fn without_multiline_an_open_quote_is_a_problem_of_its_line_only(
        rows in proptest::collection::vec(
            (
                prop_oneof![Just(b"1".to_vec()), Just(b"\"2\"".to_vec()), Just(b"\"3".to_vec())],
                prop_oneof![Just(b"a".to_vec()), Just(b"\"b\"\"c\"".to_vec()), Just(b"\"d,e".to_vec()), Just(b"f\"g".to_vec()), Just(b"\"h\"i".to_vec())],
            ),
            1..12,
        ),
        chunk in 8usize..40,
    ) {
        let rows: Vec<(Vec<u8>, Vec<u8>, &[u8])> =
            rows.into_iter().map(|(a, b)| (a, b, &b"\n"[..])).collect();
        let bytes = file(false, &rows);
        let got = read(&bytes, "", chunk).expect("read");
        prop_assert_eq!(got.len(), rows.len());
        for (i, (id, name, _)) in rows.iter().enumerate() {
            let mut probe = id.clone();
            probe.push(b',');
            probe.extend_from_slice(name);
            probe.extend_from_slice(b"\nMARKER\n");
            let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&probe[..]);
            let first = rdr.records().next().expect("a record").expect("parses");
            let open = first.iter().any(|f| f.contains("MARKER"));
            prop_assert_eq!(got[i].0, i as u64 + 2);
            prop_assert_eq!(matches!(got[i].4, Some(Problem::Quote { end_of_file: false })), open, "{:?}", String::from_utf8_lossy(&probe));
        }
    }
}

/// A swallowing field's number and the lines it spans.
type Swallow = (usize, (u64, u64));

/// With `multiline`, a quoted field that runs over a line break is a value while it holds
/// fewer delimiters than a row has, and a swallowed row when it holds a row's worth: the
/// record is refused, naming the lines the field spans, and keeps its key only when the key
/// column is outside that field (before it, the first line's; after it, the last line's).
#[test]
fn a_stray_quote_pair_that_swallows_a_row_is_refused_with_its_lines() {
    // (line, key, the swallowing field and the lines it spans); `body` after the header.
    let check = |header: &str, body: &str, want: &[(u64, &str, Option<Swallow>)]| {
        let bytes = format!("{header}\n{body}");
        for chunk in [7, 64, 4096] {
            let got = read(bytes.as_bytes(), "multiline = true", chunk).expect("read");
            let got: Vec<_> = got
                .iter()
                .map(|(line, key, _, _, problem)| {
                    let swallowed = match problem {
                        Some(Problem::Swallowed { field, lines, .. }) => Some((*field, *lines)),
                        None => None,
                        Some(other) => panic!("{other:?} in {body:?}"),
                    };
                    (*line, key.as_str(), swallowed)
                })
                .collect();
            assert_eq!(got, want, "{body:?}, {chunk} bytes at a time");
        }
    };
    // A multi-line address with a comma or two is a value.
    check(
        "id,name,address,city",
        "1,Ann,\"1 Main St,\nApt 2, back\",Urbana\n2,Bob,\"2 Main St\r\n\",Peoria\n",
        &[(2, "1", None), (4, "2", None)],
    );
    // `"Xylo` on one row and `Yang"` in the same column of the next: one record of the
    // field count of a row, refused; the key is the first row's.
    check(
        "id,name,address,city",
        "1,Ann,1 St,Urbana\n2,\"Xylo,11 X St,Urbana\n3,Yang\",22 Y Ave,Peoria\n4,Zed,3 St,Urbana\n",
        &[(2, "1", None), (3, "2", Some((1, (3, 4)))), (5, "4", None)],
    );
    // Over two rows, in the key column: no key.
    check(
        "id,name,address,city",
        "\"5,Ann,1 St,Urbana\r\n6,Bob,2 St,Peoria\r\n7\",Cy,3 St,Urbana\r\n8,Di,4 St,Urbana\r\n",
        &[(2, "", Some((0, (2, 4)))), (5, "8", None)],
    );
    // The key column after the field: the last row's key.
    check(
        "name,address,city,id",
        "\"Xylo,1 St,Urbana,9\nYang\",2 St,Peoria,10\n",
        &[(2, "10", Some((0, (2, 3))))],
    );
    // In different columns (fewer fields than a row): still a swallowed row.
    check(
        "id,name,address,city",
        "11,\"Xylo,1 St,Urbana\n12,Yang,2 St\",Peoria\n",
        &[(2, "11", Some((1, (2, 3))))],
    );
    // Two columns: a row's worth is one delimiter.
    check(
        "id,name",
        "13,\"a,\nb\"\n14,\"a\nb\"\n",
        &[(2, "13", Some((1, (2, 3)))), (4, "14", None)],
    );
}

#[test]
fn a_swallowed_row_names_its_column_and_lines_and_no_value() {
    let swallowed = |lines| Problem::Swallowed {
        field: 4,
        column: "last_name".to_owned(),
        lines,
        delimiters: 23,
    };
    assert_eq!(
        swallowed((12, 13)).message("people.csv:12", "person_id", true),
        "E-READ-QUOTE: people.csv:12: a quoted field (column \"last_name\") runs from line 12 \
         over the line break into line 13 and holds 23 delimiters, a whole row's worth: a \
         stray quote? The record is refused rather than read as one person, and the rows on \
         those lines are not loaded; fix the quotes in the export (a quote inside a value is \
         doubled, and the value quoted)"
    );
    assert!(
        swallowed((12, 15))
            .message("people.csv:12", "person_id", true)
            .contains("runs from line 12 over 3 line breaks into line 15 ")
    );
}

/// The fields of `input` as `parser` reads them.
fn fields(parser: &mut RowParser, input: &[u8]) -> Vec<String> {
    let mut out = Fields::default();
    parser.parse(input, &mut out);
    (0..out.len())
        .map(|i| out.get(i).unwrap_or("").to_owned())
        .collect()
}

fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(b','),
        Just(b'"'),
        Just(b'\r'),
        Just(b'\n'),
        Just(b' '),
        Just(b'a'),
        Just(0xEF),
        Just(0xBB),
        Just(0xBF),
        Just(0xE9),
        any::<u8>(),
    ]
}

proptest! {
    /// Rows without quotes skip csv-core, and so do rows whose quotes enclose whole fields;
    /// what they give is what csv-core gives (fields, their untrimmed bytes, which the key is
    /// read from, and whether they are UTF-8), and so does any other row.
    #[test]
    fn the_quick_paths_read_rows_as_csv_core_does(
        input in proptest::collection::vec(
            prop_oneof![
                byte().prop_map(|b| vec![b]),
                Just(b"\"a,b\"".to_vec()),
                Just(b"\"x\"\"y\"".to_vec()),
                Just(b"\"\"".to_vec()),
                Just(" \"\u{e9} \"".as_bytes().to_vec()),
                Just(b"\"\xE9\"".to_vec()),
                Just(b"\"a\r\nb\"".to_vec()),
            ],
            0..16,
        ),
    ) {
        let input = input.concat();
        let mut quick = RowParser::new(b',', b'"', usize::MAX);
        let mut slow = RowParser::new(b',', b'"', usize::MAX);
        slow.simple = false;
        let (mut a, mut b) = (Fields::default(), Fields::default());
        prop_assert_eq!(quick.parse(&input, &mut a), slow.parse(&input, &mut b));
        let got = |f: &Fields| (0..f.len()).map(|i| f.get(i).map(str::to_owned)).collect::<Vec<_>>();
        prop_assert_eq!(got(&a), got(&b));
        // (Read only where the quote-free path did not take the row.)
        if super::simple_line(&input, b'"').is_none() {
            for i in 0..=slow.kept {
                prop_assert_eq!(quick.untrimmed(i), slow.untrimmed(i));
            }
        }
    }

    /// A line the scan hands on unparsed ([`RowFields::Line`]) gives the fields the parser
    /// reads from it, byte for byte: the raw-row hash taken while reading is the one a pass
    /// takes from the rows read back. Bytes that are not UTF-8 and whitespace at field ends
    /// (ASCII, U+00A0, U+3000) included.
    #[test]
    fn a_line_handed_on_unparsed_gives_the_fields_the_parser_reads(
        input in proptest::collection::vec(
            prop_oneof![
                byte().prop_map(|b| vec![b]),
                Just("\u{a0}".as_bytes().to_vec()),
                Just("\u{3000}".as_bytes().to_vec()),
                Just("\u{e9}".as_bytes().to_vec()),
                Just(b"a\xE9a".to_vec()),
                Just(b"\t".to_vec()),
            ],
            0..30,
        ),
    ) {
        let input = input.concat();
        // What the scan hands on: not empty, no quote, no line break, no BOM at the start.
        let line: Vec<u8> = input
            .into_iter()
            .filter(|&b| b != b'"' && b != b'\r' && b != b'\n')
            .collect();
        prop_assume!(!line.is_empty() && !line.starts_with(b"\xEF\xBB\xBF"));
        let mut handed = Vec::new();
        RowFields::Line { line: &line, delimiter: b',' }.each(|f| handed.push(f.to_vec()));
        let mut parser = RowParser::new(b',', b'"', usize::MAX);
        let parsed: Vec<Vec<u8>> = fields(&mut parser, &line)
            .into_iter()
            .map(String::into_bytes)
            .collect();
        prop_assert_eq!(handed, parsed);
    }
}

/// Opens `bytes` with `limits`: the error, if any.
fn open_with(bytes: &[u8], limits: LimitsConfig) -> Option<String> {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("p.csv"), bytes).expect("p.csv");
    let text = "[feed]\nname = \"t\"\ninstitution = \"T\"\n\n[[input]]\npath = \"p.csv\"\nkey = \"id\"\n\n[fields]\nprimary_id = \"{id}\"\n\n[expiry]\ndefault = { policy = \"today\" }\n";
    let config = crate::MappingConfig::from_toml(text, Path::new("t.toml"), &[]).expect("config");
    let layout = Layout::Delimited {
        delimiter: b',',
        quote: b'"',
    };
    Source::open_in_chunks(
        &config.inputs[0],
        dir.path(),
        layout,
        &limits,
        &mut Keys::default(),
        64,
    )
    .err()
    .map(|e| {
        e.to_string()
            .replace(&dir.path().display().to_string(), ".")
    })
}

#[test]
fn each_limit_stops_the_read_with_its_line() {
    let small = LimitsConfig {
        line_bytes: 100,
        field_bytes: 20,
        header_bytes: 30,
        input_bytes: 1000,
        table_bytes: 1000,
    };
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "a long row",
            format!("id,name\n1,a\n2,{}\n", "b".repeat(150)).into_bytes(),
            "./p.csv:3: E-READ-LIMIT: the row is longer than limits.line_bytes (100 bytes)",
        ),
        (
            "a long field",
            format!("id,name\n1,{}\n", "b".repeat(30)).into_bytes(),
            "./p.csv:2: E-READ-LIMIT: a field is longer than limits.field_bytes (20 bytes)",
        ),
        (
            "a long quoted field",
            format!("id,name\n1,\"{}\"\n", "b".repeat(30)).into_bytes(),
            "./p.csv:2: E-READ-LIMIT: a field is longer than limits.field_bytes (20 bytes)",
        ),
        (
            "a long header",
            format!("id,{}\n", "n,".repeat(20)).into_bytes(),
            "./p.csv:1: E-READ-LIMIT: the header row is longer than limits.header_bytes (30 bytes)",
        ),
        (
            "blank lines",
            format!("id,name\n1,a{}2,b\n", "\n".repeat(150)).into_bytes(),
            "./p.csv:2: E-READ-LIMIT: more than limits.line_bytes (100 bytes) of line breaks in a row",
        ),
        (
            "a large file",
            "id,name\n1,a\n".repeat(100).into_bytes(),
            "./p.csv:0: E-READ-LIMIT: the input is 1200 bytes, more than limits.input_bytes (1000 bytes)",
        ),
    ];
    for (what, bytes, want) in cases {
        assert_eq!(open_with(&bytes, small).as_deref(), Some(want), "{what}");
    }
    assert_eq!(open_with(b"id,name\n1,a\n", small), None);
}

#[test]
fn a_duplicate_header_name_stops_the_read() {
    let err = open_with(b"id,name,x,name\n1,a,b,c\n", LimitsConfig::default());
    assert_eq!(
        err.as_deref(),
        Some(
            "./p.csv:1: E-READ-DUP-COLUMN: columns 2 and 4 of the header have the same name; each column needs a name of its own"
        )
    );
    // Unnamed columns (trailing delimiters) cannot be used, so two of them do no harm.
    assert_eq!(
        open_with(b"id,name,,\n1,a,,\n", LimitsConfig::default()),
        None
    );
}

#[test]
fn offsets_past_4_gib_and_lines_that_jump_are_kept() {
    let mut offsets = Offsets::default();
    let rows = [
        (3, 1),
        (4_294_967_290, 2),
        (4_294_967_300, 2),
        (12_000_000_000, 9),
        (12_000_000_001, 10),
    ];
    for (start, line) in rows {
        offsets.push(start, line);
    }
    offsets.end = 12_000_000_050;
    for (i, (start, line)) in rows.into_iter().enumerate() {
        assert_eq!((offsets.start(i), offsets.line(i)), (start, line));
    }
    assert_eq!(offsets.span(4).1, 12_000_000_050);
    assert_eq!(offsets.span(1).1, 4_294_967_300);
}

#[test]
fn decode_file_decodes_only_the_lines_that_are_not_utf8() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("c.tsv");
    std::fs::write(&path, b"a\tJ\xc3\xbcrgen\nb\tJ\xfcrgen\n").expect("write");
    let decoded = super::decode_file(&path, Some("windows-1252")).expect("decodes");
    assert_eq!(decoded.text, "a\tJürgen\nb\tJürgen\n");
    let warning = decoded
        .warning
        .expect("a warning")
        .replace(&dir.path().display().to_string(), ".");
    assert_eq!(
        warning,
        "./c.tsv: 1 line(s) not UTF-8, decoded as windows-1252 (the first at line 2, byte offset 13: bytes 0xFC)"
    );
}

#[test]
fn a_character_cut_by_a_field_end_makes_the_row_not_utf8() {
    // E9 A0 | 80: valid UTF-8 only if the fields were joined without their comma.
    let mut parser = RowParser::new(b',', b'"', usize::MAX);
    let mut out = Fields::default();
    assert!(!parser.parse(b"k0,\xe9\xa0,\x80\"\n", &mut out));
    assert!(!parser.parse(b"k0,\xe9\xa0,\x80\n", &mut out));
    assert!(parser.parse("k0,\u{e9},\"\u{e9}\"\n".as_bytes(), &mut out));
}

proptest! {
    /// Offsets give back every start, end and line pushed, whatever the gaps (none, short,
    /// exactly the two-byte mark, longer) and however the lines jump.
    #[test]
    fn offsets_give_back_every_start_and_line(
        rows in proptest::collection::vec(
            (
                prop_oneof![0..300u64, Just(65_534u64), Just(65_535), Just(65_536), 0..5_000_000_000u64],
                1..4u64,
            ),
            0..200,
        ),
        tail in 0..100u64,
    ) {
        let (mut offsets, mut starts, mut lines) = (Offsets::default(), Vec::new(), Vec::new());
        let (mut start, mut line) = (3u64, 2u64);
        for &(gap, lines_on) in &rows {
            start += gap;
            line += lines_on;
            offsets.push(start, line);
            starts.push(start);
            lines.push(line);
        }
        offsets.end = start + tail;
        offsets.shrink_to_fit();
        prop_assert_eq!(offsets.len(), starts.len());
        for i in 0..starts.len() {
            prop_assert_eq!(offsets.start(i), starts[i], "start of row {}", i);
            let end = starts.get(i + 1).copied().unwrap_or(start + tail);
            prop_assert_eq!(offsets.span(i), (starts[i], end), "span of row {}", i);
            prop_assert_eq!(offsets.line(i), lines[i], "line of row {}", i);
        }
    }
}

/// A row of `n` fields, each `field` (which holds no delimiter), after the key `key`.
fn wide_row(key: &str, field: &str, n: usize) -> Vec<u8> {
    let mut row = key.as_bytes().to_vec();
    for _ in 1..n {
        row.push(b',');
        row.extend_from_slice(field.as_bytes());
    }
    row
}

#[test]
fn a_row_of_many_fields_is_counted_and_only_its_first_fields_are_kept() {
    let most = most_fields(2);
    // Without quotes; quotes around whole fields; a quote inside a field (csv-core's).
    for (field, first) in [("", ""), ("\"x\"", "x"), ("O\"B", "O\"B")] {
        for n in [most - 1, most, most + 1, 3 * most + 5, 200_000] {
            let row = wide_row("k", field, n);
            let mut parser = RowParser::new(b',', b'"', most);
            assert_eq!(parser.split(&row), n, "{field} x {n}");
            assert_eq!(parser.untrimmed(0), Some(&b"k"[..]));
            let mut fields = Fields::default();
            assert!(parser.parse(&row, &mut fields));
            assert_eq!(fields.len(), n.min(most), "{field} x {n}");
            assert_eq!(fields.get(1), Some(first));
            assert!(
                parser.ends.capacity() <= 2 * (most + SPARE_ENDS)
                    && fields.spans.capacity() <= 2 * most
                    && fields.text.len() <= 4 * most,
                "{field} x {n}: {} ends, {} spans, {} bytes",
                parser.ends.capacity(),
                fields.spans.capacity(),
                fields.text.len()
            );
        }
    }
}

#[test]
fn a_line_of_delimiters_is_e_read_fields_with_its_count_and_its_key_read_in_bounded_memory() {
    let mut bytes = b"id,name\n1,a\n".to_vec();
    let rows = [
        wide_row("2", "", 300_000),
        wide_row("3", "\"x\"", 100_000),
        wide_row("4", "O\"B", 100_000),
        wide_row("", "", 300_000),
    ];
    for row in &rows {
        bytes.extend_from_slice(row);
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(b"5,e\n");
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("p.csv"), &bytes).expect("p.csv");
    for multiline in [false, true] {
        let text = format!(
            "[feed]\nname = \"t\"\ninstitution = \"T\"\n\n[[input]]\npath = \"p.csv\"\nkey = \"id\"\nmultiline = {multiline}\n\n[fields]\nprimary_id = \"{{id}}\"\n\n[expiry]\ndefault = {{ policy = \"today\" }}\n"
        );
        let config =
            crate::MappingConfig::from_toml(&text, Path::new("t.toml"), &[]).expect("config");
        let layout = Layout::Delimited {
            delimiter: b',',
            quote: b'"',
        };
        let mut keys = Keys::default();
        let source = Source::open(
            &config.inputs[0],
            dir.path(),
            layout,
            &LimitsConfig::default(),
            &mut keys,
        )
        .expect("read");
        assert_eq!(keys.0, ["1", "2", "3", "4", "", "5"]);
        let problems: Vec<_> = (0..source.len())
            .map(|i| source.problem(i).cloned())
            .collect();
        let wide = |got| Some(Problem::Fields { got, want: 2 });
        assert_eq!(
            problems,
            [
                None,
                wide(300_000),
                wide(100_000),
                wide(100_000),
                wide(300_000),
                None
            ]
        );
        assert_eq!(
            problems[1]
                .as_ref()
                .map(|p| p.message("p.csv:3", "id", true))
                .as_deref(),
            Some("E-READ-FIELDS: p.csv:3: the row has 300000 field(s), the header has 2")
        );
        let mut cache = Cache::default();
        let mut fields = Fields::default();
        let mut firsts = Vec::new();
        for i in 0..source.len() {
            assert!(source.fields(i, &mut cache, &mut fields).readable);
            firsts.push((fields.len(), fields.get(0).unwrap_or("").to_owned()));
            let parser = cache.parser.as_ref().expect("a parser");
            assert!(
                parser.ends.capacity() <= 2 * (most_fields(2) + SPARE_ENDS)
                    && fields.spans.capacity() <= 2 * most_fields(2),
                "row {i}: {} ends, {} spans",
                parser.ends.capacity(),
                fields.spans.capacity()
            );
        }
        let most = most_fields(2);
        assert_eq!(
            firsts,
            [
                (2, "1".to_owned()),
                (most, "2".to_owned()),
                (most, "3".to_owned()),
                (most, "4".to_owned()),
                (most, String::new()),
                (2, "5".to_owned()),
            ]
        );
    }
}

proptest! {
    /// A parser that keeps the ends of `most` fields counts a row's fields as one that keeps
    /// them all does, and gives the same first `most` fields, their untrimmed bytes (which the
    /// key is read from) and the longest field's length (which `limits.field_bytes` bounds).
    #[test]
    fn a_parser_that_keeps_few_fields_counts_them_all_and_keeps_the_first(
        input in proptest::collection::vec(
            prop_oneof![
                byte().prop_map(|b| vec![b]),
                Just(b",,,,".to_vec()),
                Just(b"\"a,b\"".to_vec()),
                Just(b"\"x\"\"y\"".to_vec()),
                Just(b" ab ".to_vec()),
            ],
            0..40,
        ),
        most in 1usize..8,
    ) {
        let input = input.concat();
        let mut all = RowParser::new(b',', b'"', usize::MAX);
        let mut first = RowParser::new(b',', b'"', most);
        let n = all.split(&input);
        prop_assert_eq!(first.split(&input), n);
        for i in 0..=n {
            let kept = if i < most { all.untrimmed(i) } else { None };
            prop_assert_eq!(first.untrimmed(i), kept);
        }
        let got = |f: &Fields| (0..f.len()).map(|i| f.get(i).map(str::to_owned)).collect::<Vec<_>>();
        let (mut a, mut b) = (Fields::default(), Fields::default());
        all.fields_found(&mut a);
        first.fields_found(&mut b);
        prop_assert_eq!(got(&b), got(&a)[..n.min(most)].to_vec());
        let longest = (0..n)
            .map(|i| if i < most { a.len_of(i) } else { all.untrimmed(i).map_or(0, <[u8]>::len) })
            .max()
            .unwrap_or(0);
        prop_assert_eq!(first.longest(&b), longest);
        all.parse(&input, &mut a);
        first.parse(&input, &mut b);
        prop_assert_eq!(got(&b), got(&a)[..a.len().min(most)].to_vec());
    }
}
