//! The generated messy extract (`gen-extract --messy --cp1252 N --double-encoded N`) run
//! through `alma-sis run` and checked against an independent per-row decoder: every row that
//! is UTF-8 is byte-exact in the XML, every other row is decoded as windows-1252 (a table
//! written out here, not `encoding_rs`), the report lists exactly those rows, and no text
//! decoded twice upstream reaches the XML.
//!
//! 20,000 rows by default; `ALMA_SIS_ORACLE_ROWS=1000000 cargo test --release -p xtask
//! oracle` runs the full size.

use std::collections::{HashMap, HashSet};
use std::io::Read as _;
use std::path::Path;

use crate::synthetic::{GenOptions, write_extract};

/// What windows-1252 decodes bytes 0x80..=0x9F to, written out (undefined bytes as the C1
/// control of the same number, as the WHATWG table has them).
const HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

fn cp1252_decode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => HIGH[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect()
}

fn cp1252_encode(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| match u32::from(c) {
            0..=0x7F | 0xA0..=0xFF => Some(c as u8),
            _ => HIGH.iter().position(|&h| h == c).map(|i| 0x80 + i as u8),
        })
        .collect()
}

/// Whether `text` is UTF-8 decoded twice: written back in windows-1252 it is other, valid
/// UTF-8.
fn decoded_twice(text: &str) -> bool {
    !text.is_ascii()
        && cp1252_encode(text)
            .is_some_and(|bytes| bytes != text.as_bytes() && std::str::from_utf8(&bytes).is_ok())
}

/// One data row as the oracle reads it.
struct Row {
    line: u64,
    key: String,
    first: String,
    last: String,
    fallback: bool,
    twice: bool,
}

fn oracle(bytes: &[u8]) -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate().skip(1) {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            continue;
        }
        let (text, fallback) = match std::str::from_utf8(raw) {
            Ok(t) => (t.to_owned(), false),
            Err(_) => (cp1252_decode(raw), true),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let record = reader.records().next().expect("a record").expect("a row");
        let field = |i: usize| record.get(i).unwrap_or("").trim().to_owned();
        let (first, last) = (field(2), field(4));
        rows.push(Row {
            line: i as u64 + 1,
            key: field(0),
            twice: decoded_twice(&first) || decoded_twice(&last),
            first,
            last,
            fallback,
        });
    }
    rows
}

/// (primary id, first name, last name) of every user in the zips of `dir`.
fn users(dir: &Path) -> Vec<(String, String, String)> {
    let mut users = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the drop folder") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|e| e != "zip") {
            continue;
        }
        let mut zip =
            zip::ZipArchive::new(std::fs::File::open(&path).expect("zip")).expect("a zip");
        for i in 0..zip.len() {
            let mut xml = String::new();
            zip.by_index(i)
                .expect("an entry")
                .read_to_string(&mut xml)
                .expect("UTF-8 XML");
            for user in xml.split("<user>").skip(1) {
                let field = |tag: &str| {
                    let open = format!("<{tag}>");
                    user.find(&open).map_or(String::new(), |at| {
                        let rest = &user[at + open.len()..];
                        rest[..rest.find('<').expect("a closing tag")]
                            .replace("&lt;", "<")
                            .replace("&gt;", ">")
                            .replace("&quot;", "\"")
                            .replace("&apos;", "'")
                            .replace("&amp;", "&")
                    })
                };
                users.push((field("primary_id"), field("first_name"), field("last_name")));
            }
        }
    }
    users
}

#[test]
fn a_messy_mixed_encoding_extract_is_decoded_row_by_row_as_an_independent_decoder_does() {
    let rows: u64 = std::env::var("ALMA_SIS_ORACLE_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("a temp dir");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo");
    for file in ["terms.csv", "replacement-cards.psv"] {
        std::fs::copy(demo.join(file), dir.path().join(file)).expect("copy");
    }
    let mut extract = Vec::new();
    write_extract(
        &GenOptions {
            rows,
            seed: 16,
            messy: true,
            cp1252: 10,
            double_encoded: 5,
            ..GenOptions::default()
        },
        &mut extract,
    )
    .expect("generate");
    std::fs::write(dir.path().join("people.csv"), &extract).expect("write");
    let out = dir.path().join("out");
    let config = std::fs::read_to_string(demo.join("alma-sis.toml"))
        .expect("the demo config")
        .replacen(
            "path = \"people.csv\"\n",
            "path = \"people.csv\"\nencoding = \"windows-1252\"\n",
            1,
        )
        .replace(
            "dir = \"out\"",
            &format!("dir = {:?}", out.display().to_string()),
        )
        .replace(
            "drop_folder = \"out/drop\"",
            &format!("drop_folder = {:?}", out.join("drop").display().to_string()),
        );
    let config_path = dir.path().join("alma-sis.toml");
    std::fs::write(&config_path, config).expect("config");
    let ctx = alma_sis::Context::pinned(
        chrono::DateTime::parse_from_rfc3339("2026-11-23T04:00:00Z").expect("a time"),
        &config_path,
    );
    let exit = alma_sis::pipeline::run(&ctx, &alma_sis::RunOptions::default()).expect("the run");
    assert!(exit.code() <= 1, "{exit:?}");

    let expected = oracle(&extract);
    // The report's name goes on with the run's id.
    let report_path = std::fs::read_dir(&out)
        .expect("the work directory")
        .map(|e| e.expect("an entry").path())
        .find(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| {
                n.starts_with("DEMO_patrons_20261123040000") && n.ends_with(".report.json")
            })
        })
        .expect("the report");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_path).expect("the report"))
            .expect("JSON");

    // The report lists exactly the rows that are not UTF-8.
    let listed: Vec<u64> = report["extract"]["inputs"][0]["fallback_lines"]
        .as_array()
        .expect("fallback lines")
        .iter()
        .map(|l| l.as_u64().expect("a line"))
        .collect();
    let fallback: Vec<u64> = expected
        .iter()
        .filter(|r| r.fallback)
        .map(|r| r.line)
        .collect();
    assert!(
        fallback.len() as u64 > rows / 100,
        "{} fallback rows",
        fallback.len()
    );
    assert_eq!(listed, fallback);
    assert_eq!(report["extract"]["read_cleanly"], true);

    // Every user's names are those of one of their rows, byte for byte, never text decoded
    // twice.
    let mut by_key: HashMap<&str, Vec<&Row>> = HashMap::new();
    for row in &expected {
        by_key.entry(row.key.as_str()).or_default().push(row);
    }
    let sent = users(&out.join("drop"));
    assert!(
        sent.len() as u64 > rows / 2,
        "{} users of {rows} rows",
        sent.len()
    );
    let mut from_fallback = 0;
    for (id, first, last) in &sent {
        let rows = &by_key[id.as_str()];
        assert!(
            rows.iter().any(|r| &r.first == first),
            "{id}: first name {first:?}"
        );
        assert!(
            rows.iter().any(|r| &r.last == last),
            "{id}: last name {last:?}"
        );
        assert!(
            !decoded_twice(first) && !decoded_twice(last),
            "{id}: {first} {last}"
        );
        if rows
            .iter()
            .any(|r| r.fallback && (&r.first == first || &r.last == last) && !first.is_ascii())
        {
            from_fallback += 1;
        }
    }
    assert!(from_fallback > 0, "no user came from a windows-1252 row");

    // The rows rejected as decoded twice are rows the oracle finds decoded twice (and, above,
    // no such text reached the XML).
    let twice: HashSet<u64> = expected
        .iter()
        .filter(|r| r.twice)
        .map(|r| r.line)
        .collect();
    assert!(!twice.is_empty());
    let flagged: Vec<u64> = report["rejected"]
        .as_array()
        .expect("rejected rows")
        .iter()
        .filter(|r| {
            r["reasons"]
                .as_array()
                .expect("reasons")
                .iter()
                .any(|reason| {
                    reason.as_str().is_some_and(|s| {
                        s.starts_with(&format!("E-TEXT-MOJIBAKE: people.csv:{}:", r["line"]))
                    })
                })
        })
        .map(|r| r["line"].as_u64().expect("a line"))
        .collect();
    assert!(!flagged.is_empty());
    assert!(flagged.iter().all(|l| twice.contains(l)), "{flagged:?}");
    eprintln!(
        "{rows} rows: {} not UTF-8 (decoded as windows-1252, all listed), {} users sent ({} with a name from such a row), {} rows decoded twice upstream ({} rejected as E-TEXT-MOJIBAKE)",
        fallback.len(),
        sent.len(),
        from_fallback,
        twice.len(),
        flagged.len()
    );
}
