//! The streaming index reads back exactly what a whole-file read gives: messy extracts
//! (windows-1252 rows, control characters, quoted line breaks, blank and whitespace-only
//! lines, CR, LF and CRLF, ragged rows, keys repeated near and far, empty keys, a BOM)
//! map to the decisions, users and traces of their goldens (ragged rows and keys with a
//! byte-order mark rejected, two people under one key refused); and, over arbitrary input,
//! every row comes back with the line and fields a whole-file CSV read gives.

use std::fmt::Write as _;
use std::path::Path;

use proptest::prelude::*;
use sis_extract::database::Connector;
use sis_extract::{Extractor, MappingConfig, PersonOutcome, ReadOptions, Visit};

use crate::support::{Case, config, today};

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a>(&mut self, list: &[&'a [u8]]) -> &'a [u8] {
        list[self.below(list.len() as u64) as usize]
    }
}

const HEADER: &str = "person_id,barcode,first_name,middle_name,last_name,preferred_first_name,affiliation,student_level,employee_type,employment_status,department,campus,term,registration_status,email,personal_email,phone,address_line1,city,state,postal_code,country,birth_date,end_date";

/// A messy extract with the demo's columns. `cp1252` writes some names in windows-1252
/// (the file is then not UTF-8); otherwise non-ASCII names are UTF-8.
fn messy(seed: u64, rows: usize, cp1252: bool) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    out.extend_from_slice(b"\xEF\xBB\xBF");
    out.extend_from_slice(HEADER.as_bytes());
    out.extend_from_slice(b"\r\n");
    let names_utf8: &[&[u8]] = &[
        b"Ann",
        "Jos\u{e9}".as_bytes(),
        "Zo\u{eb}".as_bytes(),
        "\u{5f20}".as_bytes(),
        b"O'Brien",
        "\u{a0}Bo\u{a0}".as_bytes(),
        b"  Spaced  ",
    ];
    let names_1252: &[&[u8]] = &[
        b"Jos\xe9",
        b"Zo\xeb",
        b"\x93Q\x94",
        b"\xa0Bo\xa0",
        b"M\xfcller",
    ];
    let mut ids: Vec<u64> = Vec::new();
    let mut written = 0;
    while written < rows {
        let id = if !ids.is_empty() && rng.chance(6) {
            // A key seen before: near (the last few) or far (anywhere).
            if rng.chance(2) {
                ids[ids.len() - 1 - rng.below(ids.len().min(3) as u64) as usize]
            } else {
                ids[rng.below(ids.len() as u64) as usize]
            }
        } else {
            let id = 900_000_000 + ids.len() as u64 + 1;
            ids.push(id);
            id
        };
        let mut f: Vec<Vec<u8>> = vec![Vec::new(); 24];
        f[0] = match rng.below(40) {
            0 => Vec::new(),
            1 => format!(" {id} ").into_bytes(),
            2 if cp1252 => format!("{id}\u{a0}").into_bytes().replace_nbsp_1252(),
            2 => format!("{id}\u{a0}").into_bytes(),
            3 => format!("\"{id}\"").into_bytes(),
            _ => id.to_string().into_bytes(),
        };
        f[1] = format!("2123400{:07}", id % 10_000_000).into_bytes();
        f[2] = if cp1252 && rng.chance(4) {
            rng.pick(names_1252).to_vec()
        } else {
            rng.pick(names_utf8).to_vec()
        };
        f[3] = rng.pick(&[b"", b"A.", b"J"]).to_vec();
        f[4] = rng
            .pick(&[b"Chen", b"Rossi", b"Okafor", b"D'Angelo"])
            .to_vec();
        if rng.chance(8) {
            f[4].push(0x07);
        }
        let roll = rng.below(10);
        let (aff, level, etype, status): (&[u8], &[u8], &[u8], &[u8]) = match roll {
            0..=3 => (b"STUDENT", rng.pick(&[b"UG", b"GR"]), b"", b""),
            4..=5 => (
                b"EMPLOYEE",
                b"",
                b"FACULTY",
                rng.pick(&[b"FT", b"PT", b"EMERITUS"]),
            ),
            6..=7 => (b"EMPLOYEE", b"", b"STAFF", rng.pick(&[b"FT", b"TEMP"])),
            8 => (b"AFFILIATE", b"", b"", b""),
            _ => (b"STUDENT;EMPLOYEE", b"GR", b"STAFF", b"PT"),
        };
        f[6] = aff.to_vec();
        f[7] = level.to_vec();
        f[8] = etype.to_vec();
        f[9] = status.to_vec();
        f[10] = rng.pick(&[b"BIO", b"CS", b"XYZ", b""]).to_vec();
        f[11] = rng
            .pick(&[b"MAIN", b"NORTH", b"MAIN;NORTH", b" main "])
            .to_vec();
        if aff.starts_with(b"STUDENT") {
            f[12] = rng
                .pick(&[b"2026FA", b"2027SP", b"2026FA;2027SP", b"1999XX", b""])
                .to_vec();
            f[13] = rng.pick(&[b"ENROLLED", b"DROPPED"]).to_vec();
        }
        if !rng.chance(5) {
            f[14] = format!("u{id}@demo.example.edu").into_bytes();
        }
        f[16] = format!("+1 217 555 {:04}", rng.below(10_000)).into_bytes();
        f[17] = match rng.below(6) {
            0 => b"\"12 Main St\nApt 3\"".to_vec(),
            1 => b"\"4 \"\"Oak\"\" Ave, Unit 2\"".to_vec(),
            2 => b"\"7 Elm\r\nSt\"".to_vec(),
            _ => format!("{} Cedar Ln", 1 + rng.below(999)).into_bytes(),
        };
        f[18] = b"Urbana".to_vec();
        f[19] = b"IL".to_vec();
        f[20] = b"61801".to_vec();
        f[21] = b"USA".to_vec();
        f[22] = match rng.below(8) {
            0 => b"03/04/1999".to_vec(),
            1 => b"not a date".to_vec(),
            _ => format!(
                "{}-0{}-1{}",
                1950 + rng.below(50),
                1 + rng.below(9),
                rng.below(9)
            )
            .into_bytes(),
        };
        if etype == b"STAFF" && rng.chance(2) {
            f[23] = rng
                .pick(&[b"2027-06-30", b"2026-07-01", b"06/30/2027", b"soon"])
                .to_vec();
        }
        // Ragged rows: a missing tail or an extra field.
        let keep = match rng.below(25) {
            0 => 10,
            1 => 25,
            _ => 24,
        };
        f.resize(keep, b"extra".to_vec());
        for (i, field) in f.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(field);
        }
        out.extend_from_slice(match rng.below(10) {
            0 => b"\n",
            1 => b"\r",
            _ => b"\r\n",
        });
        written += 1;
        match rng.below(30) {
            0 => out.extend_from_slice(b"\r\n"),
            1 => out.extend_from_slice(b"\n\n"),
            // A whitespace-only line is a row without a key.
            2 => out.extend_from_slice(b"   \r\n"),
            _ => {}
        }
    }
    // The last row has no line break.
    out.extend_from_slice(b"900000001,,Last,,Row,,STUDENT,UG,,,,MAIN,2026FA,ENROLLED");
    out
}

trait Nbsp {
    fn replace_nbsp_1252(self) -> Vec<u8>;
}

impl Nbsp for Vec<u8> {
    /// UTF-8 U+00A0 to the windows-1252 byte 0xA0.
    fn replace_nbsp_1252(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        let mut i = 0;
        while i < self.len() {
            if self[i..].starts_with(b"\xC2\xA0") {
                out.push(0xA0);
                i += 2;
            } else {
                out.push(self[i]);
                i += 1;
            }
        }
        out
    }
}

/// Replacement cards joined by key: some for people in the extract, some not.
fn cards(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = b"person_id|barcode|issued\n".to_vec();
    for i in 0..40 {
        let id = 900_000_000 + 1 + rng.below(90);
        let issued = if rng.chance(3) { "" } else { "2026-03-05" };
        out.extend_from_slice(format!("{id}|29900{i:08}|{issued}\n").as_bytes());
    }
    out
}

/// A temp dir with the demo config (its inputs replaced by `people` and `cards`; `encoding`
/// added to the extract when given; quoted fields may hold line breaks) and the demo's term
/// calendar.
fn demo_case(people: &[u8], encoding: Option<&str>) -> (tempfile::TempDir, MappingConfig) {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo");
    let mut text = std::fs::read_to_string(demo.join("alma-sis.toml")).expect("demo config");
    let encoding = encoding.map_or(String::new(), |e| format!("encoding = \"{e}\"\n"));
    text = text.replacen(
        "path = \"people.csv\"\n",
        &format!("path = \"people.csv\"\nmultiline = true\n{encoding}"),
        1,
    );
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("people.csv"), people).expect("people");
    std::fs::write(dir.path().join("replacement-cards.psv"), cards(5)).expect("cards");
    std::fs::copy(demo.join("terms.csv"), dir.path().join("terms.csv")).expect("terms");
    let path = dir.path().join("alma-sis.toml");
    std::fs::write(&path, &text).expect("config");
    let config = MappingConfig::from_toml(
        &text,
        Path::new("alma-sis.toml"),
        &["output", "delivery", "package", "check", "state"],
    )
    .expect("the demo config parses");
    (dir, config)
}

/// FNV-1a, to name a user's XML in a line.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One person in a few lines: key, rows with decisions, the user (as XML, or the writer's
/// refusal; `full` or as a hash of it) and the trace (when on).
fn describe(out: &mut String, p: &PersonOutcome, full: bool) {
    let _ = writeln!(out, "person {:?}", p.key);
    for r in &p.rows {
        let _ = writeln!(out, "  row {} key={:?} {:?}", r.row, r.key, r.decision);
    }
    if let Some(u) = &p.user {
        let refs: Vec<String> = u.rows.iter().map(ToString::to_string).collect();
        let mut xml = Vec::new();
        let xml = match alma_user_model::render_user(&u.user, &mut xml) {
            Ok(()) => String::from_utf8_lossy(&xml)
                .lines()
                .map(str::trim)
                .collect::<String>(),
            Err(e) => format!("{e}; {:?}", u.user.first_name),
        };
        if full {
            let _ = writeln!(out, "  user from [{}] {xml}", refs.join(", "));
        } else {
            let _ = writeln!(
                out,
                "  user {} from [{}] xml {:016x}",
                u.user.primary_id,
                refs.join(", "),
                fnv(xml.as_bytes())
            );
        }
    }
    for s in p.steps() {
        let _ = writeln!(out, "  {}: {}", s.topic, s.text);
    }
}

fn transcript(extractor: &Extractor<'_>, explain: &[&str]) -> String {
    let mut out = String::new();
    for w in extractor.warnings() {
        let _ = writeln!(
            out,
            "warning {}",
            w.replace(env!("CARGO_MANIFEST_DIR"), ".")
        );
    }
    let _ = writeln!(out, "rows read {}", extractor.rows_read());
    for (i, p) in extractor.people().enumerate() {
        describe(&mut out, &p, i < 20);
    }
    for id in explain {
        let _ = writeln!(out, "explain {id:?}");
        match extractor.explain(id) {
            Some(p) => describe(&mut out, &p, true),
            None => out.push_str("  none\n"),
        }
    }
    out
}

/// Warnings name the temp dir; keep the file name only.
fn relative(text: &str, dir: &Path) -> String {
    text.replace(&format!("{}/", dir.display()), "")
}

#[test]
fn a_messy_windows_1252_extract_maps_as_recorded() {
    let people = messy(42, 160, true);
    assert!(std::str::from_utf8(&people).is_err());
    let (dir, config) = demo_case(&people, Some("windows-1252"));
    let extractor = Extractor::new(&config, dir.path(), today())
        .expect("extractor")
        .with_trace(false);
    let text = transcript(&extractor, &["900000003", "21234000000007", "nobody"]);
    insta::assert_snapshot!("messy_1252", relative(&text, dir.path()));
}

#[test]
fn a_messy_utf8_extract_maps_as_recorded() {
    let people = messy(7, 160, false);
    assert!(std::str::from_utf8(&people).is_ok());
    let (dir, config) = demo_case(&people, None);
    let extractor = Extractor::new(&config, dir.path(), today())
        .expect("extractor")
        .with_trace(false);
    let text = transcript(&extractor, &["900000002", "900000005"]);
    insta::assert_snapshot!("messy_utf8", relative(&text, dir.path()));
}

#[test]
fn a_messy_extract_without_a_fallback_rejects_exactly_the_rows_that_are_not_utf8() {
    let people = messy(42, 160, true);
    let (dir, config) = demo_case(&people, None);
    let extractor = Extractor::new(&config, dir.path(), today()).expect("extractor");
    let mut got: Vec<u64> = extractor
        .people()
        .flat_map(|p| p.rows)
        .filter(|r| match &r.decision {
            sis_extract::Decision::Rejected { errors } => errors
                .iter()
                .any(|e| e.starts_with(&format!("E-UTF8: {}:", r.row))),
            _ => false,
        })
        .map(|r| r.row.line)
        .collect();
    got.sort_unstable();
    // The independent reading: the records whose bytes are not UTF-8.
    let want: Vec<u64> = reference_raw(&people)
        .into_iter()
        .filter(|(_, bytes)| std::str::from_utf8(bytes).is_err())
        .map(|(line, _)| line)
        .collect();
    assert!(want.len() > 5);
    assert_eq!(got, want);
    assert!(!extractor.read_cleanly());
}

/// The `[[input]]` keys of a fixed-width windows-1252 file: a 4-byte id, a 6-byte name and a
/// 9-byte affiliation.
const FIXED_1252: &str = "format = \"fixed_width\"\nheader = true\nencoding = \"windows-1252\"\npositions = [{ column = \"id\", start = 1, width = 4 }, { column = \"name\", start = 5, width = 6 }, { column = \"aff\", start = 11, width = 9 }]";

/// A fixed-width file of [`FIXED_1252`]'s layout: a header, then `rows` rows of a 4-digit
/// id (one in `repeat_one_in` an earlier one), a name picked from `names` and, after a
/// 6-byte name, an affiliation (possibly empty), ending in LF, CRLF or blank lines.
fn fixed_1252_rows(seed: u64, rows: u64, repeat_one_in: u64, names: &[&[u8]]) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut bytes = b"ID  NAME  AFF\r\n".to_vec();
    for i in 0..rows {
        let id = if rng.chance(repeat_one_in) {
            1 + rng.below(i + 1)
        } else {
            i + 1
        };
        let name = rng.pick(names);
        let aff: &[u8] = rng.pick(&[b"STUDENT  ", b"AFFILIATE", b""]);
        bytes.extend_from_slice(format!("{id:04}").as_bytes());
        bytes.extend_from_slice(name);
        if name.len() == 6 {
            bytes.extend_from_slice(aff);
        }
        bytes.extend_from_slice(rng.pick(&[b"\n", b"\r\n", b"\n  \n", b"\n\n"]));
    }
    bytes
}

#[test]
fn a_fixed_width_windows_1252_extract_maps_as_recorded() {
    let layout = FIXED_1252;
    let text = config(
        "[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{name}\"\n\n[[filter]]\nname = \"no affiliates\"\naction = \"exclude\"\nwhen = [{ column = \"aff\", any_of = [\"AFFILIATE\"] }]\n",
    )
    .replacen("key = \"id\"\n", &format!("key = \"id\"\n{layout}\n"), 1);
    let names: [&[u8]; 5] = [
        b"Ann   ",
        b"Jos\xe9  ",
        b"\x93Q\x94",
        b"Bo",
        b"\xa0X\xa0   ",
    ];
    let bytes = fixed_1252_rows(3, 60, 5, &names);
    let case = Case::new(&text, &[("p.csv", &bytes)]);
    let mapping = case.config().expect("config");
    let extractor = Extractor::new(&mapping, case.dir.path(), today())
        .expect("extractor")
        .with_trace(false);
    let text = transcript(&extractor, &["0007"]);
    insta::assert_snapshot!("fixed_1252", relative(&text, case.dir.path()));
}

/// Every record a whole-file read of the raw bytes finds: the line its first byte is on and
/// its bytes (fields joined by commas).
fn reference_raw(bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
    records(bytes)
        .into_iter()
        .map(|(line, record)| (line, record.iter().collect::<Vec<_>>().join(&b","[..])))
        .collect()
}

/// Every record a whole-file read of the raw bytes finds after the header, with the line its
/// first byte is on.
fn records(bytes: &[u8]) -> Vec<(u64, csv::ByteRecord)> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    let (mut line, mut counted) = (1u64, 0usize);
    while rdr.read_byte_record(&mut record).expect("a record") {
        let at = record.position().map_or(0, |at| at.byte() as usize);
        let start = body[at..]
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .map_or(body.len(), |p| at + p);
        // Lines counted from the last record on (records come in order).
        line += body[counted..start].iter().filter(|&&b| b == b'\n').count() as u64;
        counted = start;
        rows.push((line, record.clone()));
    }
    if !rows.is_empty() {
        rows.remove(0);
    }
    rows
}

/// Every row a whole-file read finds, as (line, trimmed fields): the line the row's first
/// byte is on, each row decoded on its own (UTF-8 when its bytes are, else windows-1252).
fn reference(bytes: &[u8]) -> Vec<(u64, Vec<String>)> {
    untrimmed(bytes)
        .into_iter()
        .map(|(line, fields)| (line, fields.iter().map(|f| f.trim().to_owned()).collect()))
        .collect()
}

/// [`reference`], the fields untrimmed.
fn untrimmed(bytes: &[u8]) -> Vec<(u64, Vec<String>)> {
    records(bytes)
        .into_iter()
        .map(|(line, record)| {
            let utf8 = record.iter().all(|f| std::str::from_utf8(f).is_ok());
            let fields = record
                .iter()
                .map(|f| {
                    if utf8 {
                        String::from_utf8_lossy(f).into_owned()
                    } else {
                        encoding_rs::WINDOWS_1252
                            .decode_without_bom_handling(f)
                            .0
                            .into_owned()
                    }
                })
                .collect();
            (line, fields)
        })
        .collect()
}

fn cell() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"1".to_vec()),
        Just(b"2".to_vec()),
        Just(b" 3 ".to_vec()),
        Just(Vec::new()),
        Just(b"\"a,\nb\"".to_vec()),
        Just(b"\"x\"\"y\"".to_vec()),
        Just(b"\xe9\xa0".to_vec()),
        Just("\u{e9}".as_bytes().to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ]
}

fn terminator() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![
        Just(&b"\n"[..]),
        Just(&b"\r\n"[..]),
        Just(&b"\r"[..]),
        Just(&b"\n\n"[..]),
        Just(&b"\n \n"[..]),
    ]
}

/// Per person, in order of first appearance: key, lines, and the first non-empty `name`
/// of their rows (the user's first name when `first_name = "{name}"`).
type People = Vec<(String, Vec<u64>, Option<String>)>;

/// Whether the file ends inside a quoted field: a row added after it is swallowed.
fn ends_in_a_quote(bytes: &[u8]) -> bool {
    let mut more = bytes.to_vec();
    more.extend_from_slice(b"\nZ,Z,Z\n");
    reference(&more).len() == reference(bytes).len()
}

/// What a whole-file read gives: rows grouped by key (the first field), a row without a key
/// a person of its own; a person with a row of another field count than the header's (or
/// left in a quote at the end of the file, or swallowing a row) has no name: they are
/// rejected, and their key is shown only when they have a clean row too.
fn expected_people(bytes: &[u8]) -> People {
    let mut people: People = Vec::new();
    let mut at = std::collections::HashMap::new();
    let mut refused = std::collections::HashSet::new();
    // Keys on a clean row.
    let mut confirmed = std::collections::HashSet::new();
    let rows = untrimmed(bytes);
    let open_at_end = ends_in_a_quote(bytes);
    let last = rows.len();
    for (i, (line, fields)) in rows.into_iter().enumerate() {
        let raw = fields.first().cloned().unwrap_or_default();
        // A key with a control or invisible character is refused, and the row is a person
        // of its own.
        let invisible = raw.chars().any(|c| {
            (c.is_control() && c != '\t')
                || matches!(c, '\u{ad}' | '\u{feff}' | '\u{fffd}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2064}')
        });
        let key = if invisible {
            String::new()
        } else {
            raw.trim().to_owned()
        };
        // A field over a line break with a row's worth of delimiters is a swallowed row.
        let swallowed = fields
            .iter()
            .any(|f| f.contains(['\r', '\n']) && f.matches(',').count() >= 2);
        if fields.len() != 3 || (open_at_end && i + 1 == last) || swallowed {
            refused.insert(key.clone());
        } else {
            confirmed.insert(key.clone());
        }
        let name = fields
            .get(1)
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        let i = match at.get(&key) {
            Some(&i) if !key.is_empty() => i,
            _ => {
                at.insert(key.clone(), people.len());
                people.push((key.clone(), Vec::new(), None));
                people.len() - 1
            }
        };
        let person = &mut people[i];
        person.1.push(line);
        if person.2.is_none() && !key.is_empty() {
            person.2 = name;
        }
    }
    for person in &mut people {
        if refused.contains(&person.0) {
            person.2 = None;
            if !confirmed.contains(&person.0) {
                person.0.clear();
            }
        }
    }
    people
}

fn got_people(extractor: &Extractor<'_>) -> People {
    extractor
        .people()
        .map(|p| {
            let lines = p.rows.iter().map(|r| r.row.line).collect();
            let name = p.user.and_then(|u| u.user.first_name);
            (p.key, lines, name)
        })
        .collect()
}

/// `p.csv` mapped with `first_name = "{name}"` (and `encoding`, when given), quoted fields
/// holding line breaks.
fn map_names(bytes: &[u8], encoding: Option<&str>) -> People {
    let encoding = encoding.map_or(String::new(), |e| format!("encoding = \"{e}\"\n"));
    let text = config(
        "[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{name}\"\n\n[text]\nmojibake = \"warn\"\nc1_controls = \"warn\"\n",
    )
    .replacen(
        "key = \"id\"\n",
        &format!("key = \"id\"\nmultiline = true\n{encoding}"),
        1,
    );
    let case = Case::new(&text, &[("p.csv", bytes)]);
    let mapping = case.config().expect("config");
    let extractor = Extractor::new(&mapping, case.dir.path(), today()).expect("extractor");
    assert_eq!(extractor.rows_read(), reference(bytes).len());
    got_people(&extractor)
}

#[test]
fn rows_far_apart_and_giant_rows_read_back_whole() {
    // About 700 KB of rows, more than the read-ahead window: keys repeat from far back,
    // one row holds a 600 KB field, and the last row has no line break.
    let mut rng = Rng(9);
    let mut bytes = b"id,name,other\r\n".to_vec();
    for i in 0..4000u64 {
        let key = if i % 7 == 3 { rng.below(i + 1) } else { i };
        let name = match i {
            1234 => "G".repeat(400_000),
            _ if rng.chance(3) => String::new(),
            _ => format!("n{i}"),
        };
        let end = if i == 3999 { "" } else { "\r\n" };
        bytes.extend_from_slice(format!("k{key},{name},{}{end}", "x".repeat(20)).as_bytes());
    }
    let expected = expected_people(&bytes);
    assert!(expected.iter().any(|p| p.1.len() > 2));
    assert_eq!(map_names(&bytes, None), expected);
    // The same rows in windows-1252, read back in the raw bytes.
    let latin: Vec<u8> = bytes
        .iter()
        .map(|&b| if b == b'G' { 0xC9 } else { b })
        .collect();
    assert_eq!(
        map_names(&latin, Some("windows-1252")),
        expected_people(&latin)
    );
}

#[test]
fn a_later_input_in_windows_1252_leaves_the_people_of_earlier_inputs_as_they_were() {
    // `s.csv` is read as UTF-8 until its last row, then again as windows-1252: the rows it
    // gave people of `p.csv` the first time are forgotten, not counted twice.
    let text = config(
        "[[input]]\npath = \"s.csv\"\nkey = \"id\"\nsupplement = true\nencoding = \"windows-1252\"\n\n[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{name}\"\nmiddle_name = \"{note}\"\n",
    );
    // (Reading is one pass: row by row, the UTF-8 ones stay UTF-8.)
    let case = Case::new(
        &text,
        &[
            ("p.csv", b"id,name\n1,Ann\n2,Bo\n"),
            ("s.csv", b"id,note\n2,x\n3,y\n1,Jos\xe9\n2,z\n"),
        ],
    );
    let mapping = case.config().expect("config");
    let extractor = Extractor::new(&mapping, case.dir.path(), today()).expect("extractor");
    assert_eq!(extractor.rows_read(), 6);
    assert_eq!(extractor.warnings().len(), 1);
    let got: Vec<_> = extractor
        .people()
        .map(|p| {
            let rows: Vec<String> = p.rows.iter().map(|r| r.row.to_string()).collect();
            let middle = p.user.and_then(|u| u.user.middle_name);
            (p.key, rows, middle)
        })
        .collect();
    let row = |list: &[&str]| list.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        got,
        [
            (
                "1".to_owned(),
                row(&["p.csv:2", "s.csv:4"]),
                Some("Jos\u{e9}".to_owned())
            ),
            (
                "2".to_owned(),
                row(&["p.csv:3", "s.csv:2", "s.csv:5"]),
                Some("x".to_owned())
            ),
            ("3".to_owned(), row(&["s.csv:3"]), None),
        ]
    );
}

#[test]
fn a_utf_16_extract_is_decoded_whole_as_before() {
    let text: String = "\u{feff}id,name\r\n1,Jos\u{e9}\r\n2,\"\u{5f20}, Wei\"\r\n1,Ann\r\n".into();
    let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let config = config("[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{name}\"\n").replacen(
        "key = \"id\"\n",
        "key = \"id\"\nencoding = \"utf-16le\"\n",
        1,
    );
    let case = Case::new(&config, &[("p.csv", &bytes)]);
    let mapping = case.config().expect("config");
    let extractor = Extractor::new(&mapping, case.dir.path(), today()).expect("extractor");
    assert_eq!(extractor.warnings().len(), 1);
    assert_eq!(
        got_people(&extractor),
        [
            ("1".to_owned(), vec![2, 4], Some("Jos\u{e9}".to_owned())),
            ("2".to_owned(), vec![3], Some("\u{5f20}, Wei".to_owned())),
        ]
    );
}

#[test]
fn the_extractor_can_be_shared_and_people_mapped_on_another_thread() {
    fn shared<T: Sync>(_: &T) {}
    fn sent<T: Send>(_: &T) {}
    const fn outcome_is_send<T: Send>() {}
    const _: () = outcome_is_send::<PersonOutcome>();

    let people = messy(42, 300, true);
    let (dir, config) = demo_case(&people, Some("windows-1252"));
    let extractor = Extractor::new(&config, dir.path(), today())
        .expect("extractor")
        .with_trace(false);
    shared(&extractor);
    let here: Vec<String> = extractor.people().map(|p| format!("{p:?}")).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let there: Vec<String> = std::thread::scope(|scope| {
        let iter = extractor.people();
        sent(&iter);
        scope.spawn(move || {
            for person in iter {
                tx.send(person).expect("the receiver waits");
            }
        });
        rx.iter().map(|p| format!("{p:?}")).collect()
    });
    assert!(here.len() > 100);
    assert_eq!(there, here);
}

proptest! {
    /// With `first_name = "{name}"`, each person comes back with the rows, lines and first
    /// name a whole-file read gives (keys are mostly distinct; a quoted line break can
    /// swallow the next row's key, and a field that swallows a row's worth of delimiters
    /// refuses its record).
    #[test]
    fn rows_read_back_as_a_whole_file_read_gives_them(
        bom in any::<bool>(),
        rows in proptest::collection::vec((0u8..12, cell(), cell(), terminator()), 0..40),
    ) {
        let mut bytes = Vec::new();
        if bom {
            bytes.extend_from_slice(b"\xEF\xBB\xBF");
        }
        bytes.extend_from_slice(&id_name_other(&rows));
        prop_assert_eq!(map_names(&bytes, Some("windows-1252")), expected_people(&bytes));
    }
}

/// One arbitrary row of [`id_name_other`]: key, name, other, line end.
type Row3 = (u8, Vec<u8>, Vec<u8>, &'static [u8]);

/// A file of columns `id,name,other` with the arbitrary `rows`: keys below 3 repeat, the
/// others are unique.
fn id_name_other(rows: &[Row3]) -> Vec<u8> {
    let mut bytes = b"id,name,other\n".to_vec();
    for (i, (key, name, other, end)) in rows.iter().enumerate() {
        let key = if *key < 3 {
            u64::from(*key)
        } else {
            i as u64 + 3
        };
        bytes.extend_from_slice(format!("k{key},").as_bytes());
        bytes.extend_from_slice(name);
        bytes.push(b',');
        bytes.extend_from_slice(other);
        bytes.extend_from_slice(end);
    }
    bytes
}

/// `text` with every `\n` made `\r\n`.
fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in text {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[test]
fn lf_and_crlf_files_give_every_row_the_line_it_starts_on() {
    // Line 1 the header; row "2" spans lines 3-4 (a quoted line break); line 6 is blank;
    // row "5" is quoted (csv-core reads it) and comes after a row without quotes.
    let lf = b"id,name,other\n1,Ann,x\n2,Bo,\"two\nlines\"\n3,Cy,x\n\n4,Di,x\n5,\"Ed\",x\n1,Fay,x\n6,Gil,x";
    let expected = [
        ("1".to_owned(), vec![2, 9], Some("Ann".to_owned())),
        ("2".to_owned(), vec![3], Some("Bo".to_owned())),
        ("3".to_owned(), vec![5], Some("Cy".to_owned())),
        ("4".to_owned(), vec![7], Some("Di".to_owned())),
        ("5".to_owned(), vec![8], Some("Ed".to_owned())),
        ("6".to_owned(), vec![10], Some("Gil".to_owned())),
    ];
    assert_eq!(map_names(lf, None), expected);
    assert_eq!(map_names(&crlf(lf), None), expected);
    assert_eq!(expected_people(&crlf(lf)), expected);
    // With a BOM, and in windows-1252 (rows found in the raw bytes).
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(&crlf(lf));
    assert_eq!(map_names(&bom, None), expected);
    let mut latin = crlf(lf);
    latin.extend_from_slice(b"\r\n7,Jos\xe9,x\r\n");
    let mut with_7 = expected.to_vec();
    with_7.push(("7".to_owned(), vec![11], Some("Jos\u{e9}".to_owned())));
    assert_eq!(map_names(&latin, Some("windows-1252")), with_7);
    // Decoded whole (UTF-16): a_utf_16_extract_is_decoded_whole_as_before.
}

#[test]
fn without_a_header_the_first_row_is_on_line_1() {
    let text = config("[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{name}\"\n").replacen(
        "key = \"id\"\n",
        "key = \"id\"\nheader = false\nmultiline = true\ncolumns = [\"id\", \"name\"]\n",
        1,
    );
    for bytes in [
        &b"1,Ann\n\n2,\"B\no\"\n3,Cy\n"[..],
        &crlf(b"1,Ann\n\n2,\"B\no\"\n3,Cy\n"),
    ] {
        let case = Case::new(&text, &[("p.csv", bytes)]);
        let mapping = case.config().expect("config");
        let extractor = Extractor::new(&mapping, case.dir.path(), today()).expect("extractor");
        let lines: Vec<Vec<u64>> = got_people(&extractor).into_iter().map(|p| p.1).collect();
        assert_eq!(lines, [vec![1], vec![3], vec![5]]);
    }
}

#[test]
fn a_fixed_width_file_gives_the_same_lines_with_lf_and_crlf() {
    let layout = "format = \"fixed_width\"\nheader = true\npositions = [{ column = \"id\", start = 1, width = 2 }, { column = \"name\", start = 3, width = 4 }]";
    let text = config("[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{name}\"\n").replacen(
        "key = \"id\"\n",
        &format!("key = \"id\"\n{layout}\n"),
        1,
    );
    let lf = b"IDNAME\n1 Ann \n\n2 Bo  \n  \n1 Cy  \n";
    for bytes in [&lf[..], &crlf(lf)] {
        let case = Case::new(&text, &[("p.csv", bytes)]);
        let mapping = case.config().expect("config");
        let extractor = Extractor::new(&mapping, case.dir.path(), today()).expect("extractor");
        assert_eq!(
            got_people(&extractor),
            [
                ("1".to_owned(), vec![2, 6], Some("Ann".to_owned())),
                ("2".to_owned(), vec![4], Some("Bo".to_owned())),
            ]
        );
    }
}

#[test]
fn an_encoding_error_in_a_crlf_file_names_its_line() {
    let case = Case::new(
        &config(""),
        &[("p.csv", &b"\xEF\xBB\xBFid\r\n1\r\n\r\n2\xe9\r\n"[..])],
    );
    let x = case.run().expect("read");
    let reasons = crate::support::decisions(&x);
    assert!(
        reasons[1].contains("line 4, byte offset 13:"),
        "{reasons:?}"
    );
}

#[test]
fn a_key_with_a_byte_order_mark_or_another_invisible_character_is_rejected() {
    let text = config("[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{id}\"\n");
    // The rows before them read without csv-core, then with it (a quote).
    for before in ["1,Ann", "1,\"Ann\""] {
        let bytes = format!(
            "\u{feff}id,name\r\n{before}\r\n\u{feff}2,Bo\r\n2\u{0},Cy\r\n\u{200b}2,Di\r\n\"\u{85}2\",Ed\r\n2,Fay\r\n"
        );
        let case = Case::new(&text, &[("p.csv", bytes.as_bytes())]);
        let mapping = case.config().expect("config");
        let extractor = Extractor::new(&mapping, case.dir.path(), today()).expect("extractor");
        assert!(!extractor.read_cleanly());
        assert_eq!(
            got_people(&extractor),
            [
                ("1".to_owned(), vec![2], Some("1".to_owned())),
                (String::new(), vec![3], None),
                (String::new(), vec![4], None),
                (String::new(), vec![5], None),
                (String::new(), vec![6], None),
                ("2".to_owned(), vec![7], Some("2".to_owned())),
            ],
            "{before}"
        );
        let reasons = crate::support::decisions(&case.run().expect("read"));
        assert_eq!(
            reasons[1],
            "R:E-READ-KEY-CHAR: p.csv:3: the key column \"id\" holds an invisible or control character (a byte-order mark, NUL, zero-width or bidirectional mark, or a C0/C1 control)"
        );
    }
}

#[test]
fn messy_extracts_report_the_lines_a_whole_file_read_gives() {
    for (people, encoding) in [
        (messy(7, 160, false), None),
        (messy(42, 300, true), Some("windows-1252")),
    ] {
        let (dir, config) = demo_case(&people, encoding);
        let extractor = Extractor::new(&config, dir.path(), today()).expect("extractor");
        let mut got: Vec<u64> = extractor
            .people()
            .flat_map(|p| p.rows)
            .filter(|r| r.row.file == "people.csv")
            .map(|r| r.row.line)
            .collect();
        got.sort_unstable();
        let expected: Vec<u64> = reference(&people).into_iter().map(|r| r.0).collect();
        assert_eq!(got, expected);
    }
}

/// The raw-row hashes a delta takes while reading ([`ReadOptions::hash_rows`]) are the ones
/// a pass takes from the rows read back, person by person (both `None` for a person with a
/// row that could not be read); and a person skipped before the pass
/// ([`Extractor::settle_skips`]) comes with the row count a pass reads for them. Returns
/// how many people had a hash.
fn hashes_taken_while_reading_agree(config: &MappingConfig, dir: &Path) -> usize {
    let hashing = ReadOptions::default().hash_rows(true);
    let open = || {
        Extractor::open(config, dir, today(), &Connector::default(), &hashing)
            .expect("extractor")
            .with_trace(false)
    };
    let mut scanned = std::collections::HashMap::new();
    let mut ahead = open();
    assert!(ahead.has_raw_hashes());
    let marked = ahead.settle_skips(|key, raw| {
        assert!(
            scanned.insert(key.to_owned(), raw).is_none(),
            "{key:?} twice"
        );
        false
    });
    assert_eq!(marked, Some(0));
    assert!(!ahead.has_raw_hashes());
    let plain = Extractor::new(config, dir, today())
        .expect("extractor")
        .with_trace(false);
    let mut rows = Vec::new();
    let mut hashed = 0;
    for (passed, settled) in plain
        .people_unless(|_, _| false)
        .zip(ahead.people_unless(|_, _| panic!("settled: not asked")))
    {
        let (
            Visit::Mapped { person, raw },
            Visit::Mapped {
                person: again,
                raw: raw_again,
            },
        ) = (passed, settled)
        else {
            panic!("nobody is skipped");
        };
        assert_eq!(format!("{person:?}"), format!("{again:?}"));
        assert_eq!(raw, raw_again, "person {:?}", person.key);
        if person.key.is_empty() {
            continue;
        }
        assert_eq!(scanned.remove(&person.key), raw, "person {:?}", person.key);
        hashed += usize::from(raw.is_some());
        if raw.is_some() {
            rows.push((person.key.clone(), person.rows.len()));
        }
    }
    assert!(scanned.is_empty(), "hashed while reading only: {scanned:?}");
    // Skip everyone who has a hash: they come unread, with their row counts, in order.
    let mut all = open();
    assert_eq!(all.settle_skips(|_, _| true), Some(hashed));
    let skipped: Vec<(String, usize)> = all
        .people_unless(|_, _| panic!("settled: not asked"))
        .filter_map(|visit| match visit {
            Visit::Skipped { key, rows, raw } => {
                assert_eq!(raw, None);
                Some((key, rows))
            }
            Visit::Mapped { .. } => None,
        })
        .collect();
    assert_eq!(skipped, rows);
    // Settled on several threads, in parts of 64 people or more: the same people marked,
    // their values in person order.
    let pick = |key: &str, raw: u64| (!raw.is_multiple_of(3)).then(|| (key.to_owned(), raw));
    let mut one = open();
    let mut wanted = Vec::new();
    one.settle_skips(|key, raw| {
        let picked = pick(key, raw);
        wanted.extend(picked.clone());
        picked.is_some()
    });
    let marks = |x: &Extractor<'_>| -> Vec<Option<String>> {
        x.people_unless(|_, _| panic!("settled: not asked"))
            .map(|visit| match visit {
                Visit::Skipped { key, .. } => Some(key),
                Visit::Mapped { .. } => None,
            })
            .collect()
    };
    let wanted_marks = marks(&one);
    for (threads, part) in [(1, 64), (2, 64), (3, 128), (2, 4096), (8, 1)] {
        let mut many = open();
        let got = many.settle_skips_in_parts(threads, part, |people| {
            assert!((1..=sis_extract::SETTLE_BATCH).contains(&people.len()));
            people.iter().map(|&(key, raw)| pick(key, raw)).collect()
        });
        assert_eq!(
            got.as_ref(),
            Some(&wanted),
            "{threads} threads, parts of {part}"
        );
        assert_eq!(
            marks(&many),
            wanted_marks,
            "{threads} threads, parts of {part}"
        );
    }
    let mut parallel = open();
    assert_eq!(parallel.settle_skips_parallel(2, pick), Some(wanted));
    assert_eq!(marks(&parallel), wanted_marks);
    hashed
}

#[test]
fn hashes_taken_while_reading_messy_extracts_are_the_ones_the_pass_takes() {
    for seed in [1, 7, 42] {
        for (cp1252, encoding) in [(true, Some("windows-1252")), (false, None), (true, None)] {
            let people = messy(seed, 400, cp1252);
            let (dir, config) = demo_case(&people, encoding);
            let hashed = hashes_taken_while_reading_agree(&config, dir.path());
            assert!(hashed > 100, "seed {seed}: {hashed} people hashed");
        }
    }
}

#[test]
fn hashes_taken_while_reading_fixed_width_and_utf_16_files_are_the_ones_the_pass_takes() {
    let layout = FIXED_1252;
    let text = config("[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{name}\"\n").replacen(
        "key = \"id\"\n",
        &format!("key = \"id\"\n{layout}\n"),
        1,
    );
    let names: [&[u8]; 5] = [b"Ann   ", b"Jos\xe9  ", b"\x93Q\x94", b"Bo", b" X \t  "];
    let bytes = fixed_1252_rows(11, 200, 4, &names);
    let case = Case::new(&text, &[("p.csv", &bytes)]);
    let hashed = hashes_taken_while_reading_agree(&case.config().expect("config"), case.dir.path());
    assert!(hashed > 100, "{hashed}");

    let text: String =
        "\u{feff}id,name\r\n1,Jos\u{e9}\r\n2,\"\u{5f20}, Wei\"\r\n1,Ann\r\n\r\n3, x \r\n".into();
    let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let config = config("[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{name}\"\n").replacen(
        "key = \"id\"\n",
        "key = \"id\"\nencoding = \"utf-16le\"\n",
        1,
    );
    let case = Case::new(&config, &[("p.csv", &bytes)]);
    let hashed = hashes_taken_while_reading_agree(&case.config().expect("config"), case.dir.path());
    assert_eq!(hashed, 3);
}

proptest! {
    /// Over arbitrary cells and line ends (quotes, quoted line breaks, bytes that are not
    /// UTF-8, spaces that are trimmed), in two inputs, the hashes taken while reading are the
    /// pass's.
    #[test]
    fn hashes_taken_while_reading_arbitrary_rows_are_the_ones_the_pass_takes(
        rows in proptest::collection::vec((0u8..12, cell(), cell(), terminator()), 0..40),
        notes in proptest::collection::vec((0u8..8, cell(), terminator()), 0..10),
        fallback in any::<bool>(),
    ) {
        let bytes = id_name_other(&rows);
        let mut more = b"id,note\n".to_vec();
        for (key, note, end) in &notes {
            more.extend_from_slice(format!("k{key},").as_bytes());
            more.extend_from_slice(note);
            more.extend_from_slice(end);
        }
        let encoding = if fallback { "encoding = \"windows-1252\"\n" } else { "" };
        let text = config(&format!(
            "[[input]]\npath = \"s.csv\"\nkey = \"id\"\nsupplement = true\nmultiline = true\n{encoding}\n[fields]\nprimary_id = \"{{id}}\"\nfirst_name = \"{{name}}\"\n"
        ))
        .replacen("key = \"id\"\n", &format!("key = \"id\"\nmultiline = true\n{encoding}"), 1);
        let case = Case::new(&text, &[("p.csv", &bytes), ("s.csv", &more)]);
        let config = case.config().expect("config");
        hashes_taken_while_reading_agree(&config, case.dir.path());
    }
}
