//! A corpus of broken Alma SIS inputs, one defect each, for `check`'s tests and for people
//! who want to see what `check` says. `cargo xtask fixtures` writes them to [`CORPUS_DIR`].

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Where the corpus lives, relative to the workspace root.
pub const CORPUS_DIR: &str = "alma-sis-package/tests/corpus";

/// One broken input (the codes `check` must give for it are a table of
/// `alma-sis-package`'s tests, which read the files from [`CORPUS_DIR`]).
#[derive(Debug, Clone)]
pub struct CorpusFile {
    /// File name inside [`CORPUS_DIR`].
    pub name: &'static str,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A user that passes every check; `extra` goes before `</user>`.
fn user(id: &str, barcode: &str, extra: &str) -> String {
    format!(
        "  <user>\n    <primary_id>{id}</primary_id>\n    <first_name>Test</first_name>\n    \
         <last_name>User {id}</last_name>\n    <user_group>UGRD</user_group>\n    \
         <expiry_date>2027-09-30Z</expiry_date>\n    <account_type>EXTERNAL</account_type>\n    \
         <status>ACTIVE</status>\n    <contact_info>\n      <addresses>\n        \
         <address preferred=\"true\"><line1>1 Main St</line1><city>Springfield</city>\
         <address_types><address_type>home</address_type></address_types></address>\n      \
         </addresses>\n      <emails>\n        <email preferred=\"true\">\
         <email_address>{id}@example.edu</email_address><email_types>\
         <email_type>school</email_type></email_types></email>\n      </emails>\n    \
         </contact_info>\n    <user_identifiers>\n      <user_identifier><id_type>BARCODE</id_type>\
         <value>{barcode}</value></user_identifier>\n    </user_identifiers>\n{extra}  </user>\n"
    )
}

fn doc(users: &[String]) -> Vec<u8> {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users>\n");
    for u in users {
        s.push_str(u);
    }
    s.push_str("</users>\n");
    s.into_bytes()
}

fn good() -> Vec<u8> {
    doc(&[user("u1001", "B1001", ""), user("u1002", "B1002", "")])
}

fn zip_of(entries: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::DEFAULT.compression_method(method);
    for (name, bytes) in entries {
        zip.start_file(*name, options)
            .and_then(|()| zip.write_all(bytes).map_err(Into::into))
            .expect("writing to memory succeeds");
    }
    zip.finish()
        .expect("writing to memory succeeds")
        .into_inner()
}

/// Sets every header's compression method to bzip2 (12) without recompressing: what a
/// zip tool configured for bzip2 produces, as far as a reader can tell from the headers.
fn with_method_bzip2(mut bytes: Vec<u8>) -> Vec<u8> {
    let mut i = 0;
    while i + 12 <= bytes.len() {
        match &bytes[i..i + 4] {
            b"PK\x03\x04" => bytes[i + 8] = 12,
            b"PK\x01\x02" => bytes[i + 10] = 12,
            _ => {}
        }
        i += 1;
    }
    bytes
}

/// Marks every entry encrypted (general-purpose flag bit 0) without encrypting it: what a
/// reader sees of a password-protected zip before it asks for the password.
fn with_encrypted_flag(mut bytes: Vec<u8>) -> Vec<u8> {
    let mut i = 0;
    while i + 12 <= bytes.len() {
        match &bytes[i..i + 4] {
            b"PK\x03\x04" => bytes[i + 6] |= 1,
            b"PK\x01\x02" => bytes[i + 8] |= 1,
            _ => {}
        }
        i += 1;
    }
    bytes
}

fn stored_with_descriptor(xml: &[u8]) -> Vec<u8> {
    let mut zip = ZipWriter::new_stream(Vec::new());
    let options = SimpleFileOptions::DEFAULT.compression_method(CompressionMethod::Stored);
    zip.start_file("users.xml", options)
        .and_then(|()| zip.write_all(xml).map_err(Into::into))
        .expect("writing to memory succeeds");
    zip.finish()
        .expect("writing to memory succeeds")
        .into_inner()
}

/// The corpus, in a fixed order.
pub fn corpus() -> Vec<CorpusFile> {
    let valid_zip = zip_of(&[("users.xml", &good())], CompressionMethod::Deflated);
    let mut truncated = valid_zip.clone();
    truncated.truncate(valid_zip.len() * 2 / 3);
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend(good());
    let cp1252 = String::from_utf8(doc(&[user("u1001", "B1001", "")]))
        .expect("the template is UTF-8")
        .replace(
            "<first_name>Test</first_name>",
            "<first_name>Ren\u{0}</first_name>",
        )
        .into_bytes()
        .into_iter()
        .map(|b| if b == 0 { 0xE9 } else { b })
        .collect();
    let control = String::from_utf8(good())
        .expect("the template is UTF-8")
        .replace("<last_name>User u1002", "<last_name>User\u{1B} u1002")
        .into_bytes();
    let many: Vec<(String, Vec<u8>)> = (0..=alma_sis_package::check::MAX_XML_PER_ZIP)
        .map(|i| {
            let id = format!("u{i:04}");
            (
                format!("users_{i:02}.xml"),
                doc(&[user(&id, &format!("B{i:04}"), "")]),
            )
        })
        .collect();
    let many_refs: Vec<(&str, &[u8])> = many
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    vec![
        CorpusFile {
            name: "valid.zip",
            bytes: valid_zip,
        },
        CorpusFile {
            name: "truncated.zip",
            bytes: truncated,
        },
        CorpusFile {
            name: "bzip2-method.zip",
            bytes: with_method_bzip2(zip_of(&[("users.xml", &good())], CompressionMethod::Stored)),
        },
        CorpusFile {
            name: "stored-with-descriptor.zip",
            bytes: stored_with_descriptor(&good()),
        },
        CorpusFile {
            name: "encrypted.zip",
            bytes: with_encrypted_flag(zip_of(
                &[("users.xml", &good())],
                CompressionMethod::Deflated,
            )),
        },
        CorpusFile {
            name: "no-xml-entry.zip",
            bytes: zip_of(&[("users.txt", &good())], CompressionMethod::Deflated),
        },
        CorpusFile {
            name: "51-xml-files.zip",
            bytes: zip_of(&many_refs, CompressionMethod::Deflated),
        },
        CorpusFile {
            name: "bom.xml",
            bytes: bom,
        },
        CorpusFile {
            name: "prolog-junk.xml",
            bytes: [b"ftp> get users.xml\n".as_slice(), &good()].concat(),
        },
        CorpusFile {
            name: "cp1252.xml",
            bytes: cp1252,
        },
        CorpusFile {
            name: "control-character.xml",
            bytes: control,
        },
        CorpusFile {
            name: "not-well-formed.xml",
            bytes: String::from_utf8(good())
                .expect("the template is UTF-8")
                .replace("</user>\n  <user>", "</user>\n  <user>\n    <oops>")
                .into_bytes(),
        },
        CorpusFile {
            name: "duplicate-ids.xml",
            bytes: doc(&[
                user("u1001", "B1001", ""),
                user("U1001", "B1003", ""),
                user("u1004", "b1001", ""),
            ]),
        },
        CorpusFile {
            name: "internal-account.xml",
            bytes: String::from_utf8(good())
                .expect("the template is UTF-8")
                .replacen(
                    "<account_type>EXTERNAL</account_type>",
                    "<account_type>INTERNAL</account_type>",
                    1,
                )
                .into_bytes(),
        },
        CorpusFile {
            name: "missing-segment-children.xml",
            bytes: String::from_utf8(good())
                .expect("the template is UTF-8")
                .replacen(
                    "<email_types><email_type>school</email_type></email_types>",
                    "",
                    1,
                )
                .replacen("<value>B1002</value>", "<value></value>", 1)
                .into_bytes(),
        },
    ]
}
