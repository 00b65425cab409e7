//! Issue 23's `check` parts and issue 17's limits: zips whose entries share or overlap their
//! data are reported and read once; the total-bytes limit counts every read; names and text
//! from the file are escaped when printed; whitespace between elements is not a token; the
//! sizes a zip declares reserve a bounded feed index.

use std::io::Write as _;

use alma_sis_package::check::{CheckOptions, Limits};
use alma_user_model::Severity;

use super::{codes_of, run_check};

fn crc32(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(bytes);
    h.finalize()
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("in memory");
    enc.finish().expect("in memory")
}

/// A zip of one local entry (`data`, deflated) that `names.len()` central-directory entries
/// all point at.
fn shared_entry_zip(data: &[u8], names: &[String]) -> Vec<u8> {
    let payload = deflate(data);
    let crc = crc32(data);
    let mut out = Vec::new();
    let put16 = |o: &mut Vec<u8>, v: u16| o.extend_from_slice(&v.to_le_bytes());
    let put32 = |o: &mut Vec<u8>, v: u32| o.extend_from_slice(&v.to_le_bytes());
    let first = names[0].as_bytes();
    put32(&mut out, 0x0403_4b50);
    put16(&mut out, 20);
    put16(&mut out, 0);
    put16(&mut out, 8);
    put32(&mut out, 0);
    put32(&mut out, crc);
    put32(&mut out, payload.len() as u32);
    put32(&mut out, data.len() as u32);
    put16(&mut out, first.len() as u16);
    put16(&mut out, 0);
    out.extend_from_slice(first);
    out.extend_from_slice(&payload);
    let cd = out.len();
    for name in names {
        put32(&mut out, 0x0201_4b50);
        put16(&mut out, 20);
        put16(&mut out, 20);
        put16(&mut out, 0);
        put16(&mut out, 8);
        put32(&mut out, 0);
        put32(&mut out, crc);
        put32(&mut out, payload.len() as u32);
        put32(&mut out, data.len() as u32);
        put16(&mut out, name.len() as u16);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put32(&mut out, 0);
        put32(&mut out, 0);
        out.extend_from_slice(name.as_bytes());
    }
    let cd_len = out.len() - cd;
    put32(&mut out, 0x0605_4b50);
    put32(&mut out, 0);
    put16(&mut out, names.len() as u16);
    put16(&mut out, names.len() as u16);
    put32(&mut out, cd_len as u32);
    put32(&mut out, cd as u32);
    put16(&mut out, 0);
    out
}

fn check_bytes(name: &str, bytes: &[u8], options: &CheckOptions) -> Vec<String> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("writable");
    let (found, _) = run_check(&path, options);
    let errors = codes_of(&found, Severity::Error);
    let lines: Vec<String> = found.iter().map(ToString::to_string).collect();
    let mut out = errors;
    out.push("--".into());
    out.extend(lines);
    out
}

/// 600 entries all pointing at one entry of 20 MB: one finding, and the data is read once —
/// a total-bytes limit of 30 MB is not reached (600 reads would be 12 GB).
#[test]
fn entries_that_share_their_data_are_reported_and_read_once() {
    let mut xml = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users>\n".to_vec();
    xml.extend(std::iter::repeat_n(b' ', 20 << 20));
    xml.extend_from_slice(b"\n</users>\n");
    let names: Vec<String> = (0..600).map(|i| format!("part{i:03}.xml")).collect();
    let zip = shared_entry_zip(&xml, &names);
    assert!(zip.len() < 300_000, "a small zip: {} bytes", zip.len());
    let options = CheckOptions {
        limits: Limits {
            max_total_bytes: 30 << 20,
            ..Limits::default()
        },
        ..CheckOptions::default()
    };
    let out = check_bytes("shared.zip", &zip, &options);
    let errors: Vec<&str> = out
        .iter()
        .take_while(|l| *l != "--")
        .map(String::as_str)
        .collect();
    // Java's ZipInputStream sees one entry and stops at the directory: the overlap is the
    // cause named, and the limit never trips.
    assert!(errors.contains(&"E-ZIP-OVERLAP"), "{out:#?}");
    assert!(errors.contains(&"E-ZIP-TOO-MANY-XML"), "{out:#?}");
    assert!(!errors.contains(&"E-LIMIT"), "{out:#?}");
    let overlap: Vec<&String> = out
        .iter()
        .skip_while(|l| *l != "--")
        .filter(|l| l.contains("E-ZIP-OVERLAP"))
        .collect();
    assert_eq!(overlap.len(), 1, "one finding for the group: {overlap:#?}");
    assert!(
        overlap[0].contains("600 entries point at the same data")
            && overlap[0].contains("and 595 more"),
        "{}",
        overlap[0]
    );
}

/// Names and text from the file cannot fake a line of output or send terminal escapes.
#[test]
fn names_and_text_from_the_file_are_escaped_when_printed() {
    let xml = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users>\n<user>\
        <primary_id>a\xC2\x9B31m</primary_id><expiry_date>2027-01-01Z</expiry_date>\
        <bogus\xE2\x80\xAE/></user>\n</users>\n";
    let names = [
        "users\n0 error(s) in 0 user(s)\n.xml".to_owned(),
        "\u{1b}[31mred\u{1b}[0m.xml".to_owned(),
    ];
    // Two entries (each its own data) with hostile names.
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for name in &names {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::DEFAULT)
            .expect("in memory");
        zip.write_all(xml).expect("in memory");
    }
    let bytes = zip.finish().expect("in memory").into_inner();
    let out = check_bytes("names.zip", &bytes, &CheckOptions::default());
    let printed: Vec<&String> = out.iter().skip_while(|l| *l != "--").skip(1).collect();
    assert!(!printed.is_empty());
    for line in &printed {
        assert!(!line.contains('\n'), "a raw line break: {line:?}");
        assert!(
            !line.chars().any(|c| c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}')),
            "a raw control character: {line:?}"
        );
    }
    assert!(
        printed
            .iter()
            .any(|l| l.contains("names.zip!users\\u{a}0 error(s) in 0 user(s)\\u{a}.xml")),
        "{printed:#?}"
    );
    assert!(
        printed
            .iter()
            .any(|l| l.contains("!\\u{1b}[31mred\\u{1b}[0m.xml")),
        "{printed:#?}"
    );
}

/// Whitespace between elements is not a value: 48 MiB of it pass the 1 MiB token limit (a
/// 1 GiB one measures about 9 MB of memory and under a second in release builds; see
/// docs/security.md); a text value of the same length is stopped.
#[test]
fn whitespace_between_elements_is_not_a_token() {
    let user = "<user><primary_id>w1</primary_id><expiry_date>2027-01-01Z</expiry_date></user>";
    let mut xml =
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users>\n{user}").into_bytes();
    xml.extend(std::iter::repeat_n(b"  \t\n".as_slice(), 12 << 20).flatten());
    xml.extend_from_slice(b"</users>\n");
    let zip = shared_entry_zip(&xml, &["users.xml".to_owned()]);
    let out = check_bytes("whitespace.zip", &zip, &CheckOptions::default());
    assert_eq!(out[0], "--", "no error: {out:#?}");
    // The same bytes inside a value are a token over the limit.
    let mut value = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users>\n<user>\
        <primary_id>w1</primary_id><last_name>"
        .to_vec();
    value.extend(std::iter::repeat_n(b' ', 2 << 20));
    value.extend_from_slice(b"</last_name></user></users>\n");
    let zip = shared_entry_zip(&value, &["users.xml".to_owned()]);
    let out = check_bytes("value.zip", &zip, &CheckOptions::default());
    assert_eq!(out[0], "E-LIMIT", "{out:#?}");
}

/// Sizes the central directory declares are the file's word, not a fact: twenty entries
/// each declaring 4 GiB (the most one entry may hold) must not make `check` reserve room
/// for the eighty gigabytes of users they claim before it has read one.
#[test]
fn declared_sizes_reserve_a_bounded_feed_index() {
    let data = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users>\n</users>\n";
    let names: Vec<String> = (0..20).map(|i| format!("users{i}.xml")).collect();
    let mut zip = shared_entry_zip(data, &names);
    // The central directory starts where the 22-byte end record (the last) says, at +16;
    // each entry is a 46-byte header (the uncompressed size at +24), then its name.
    let end = zip.len() - 22;
    let offset: [u8; 4] = zip[end + 16..end + 20].try_into().expect("four bytes");
    let mut at = u32::from_le_bytes(offset) as usize;
    for name in &names {
        zip[at + 24..at + 28].copy_from_slice(&u32::MAX.to_le_bytes());
        at += 46 + name.len();
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("declared.zip");
    std::fs::write(&path, &zip).expect("writable");
    let options = CheckOptions::default();
    let mut checker = alma_sis_package::check::Checker::new(&options);
    checker.check_path(&path).expect("readable");
    let retained = checker.retained();
    // About 49 MB at most (5M values at 9.8 bytes); 80 GB of users at four values each
    // would be some 1.6 GB.
    assert!(retained.index_bytes < 60 << 20, "{retained:?}");
}
