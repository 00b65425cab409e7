//! Shared helpers: paths into the shared tree, reading whole documents, xmllint.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use alma_user_model::{Finding, ReadError, ReadUser, UserReader};

/// `<workspace>/../shared`.
pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// The users schema the acceptance tests validate against.
pub fn users_xsd() -> PathBuf {
    shared().join("alma/xsd/rest_users.xsd")
}

/// Reads a whole document: the users and the document-level findings.
pub fn read_all(xml: &[u8]) -> Result<(Vec<ReadUser>, Vec<Finding>), ReadError> {
    let mut reader = UserReader::new(xml);
    let mut users = Vec::new();
    while let Some(user) = reader.next_user()? {
        users.push(user);
    }
    Ok((users, reader.document_findings().to_vec()))
}

/// Validates `xml` with `xmllint --noout --schema rest_users.xsd`; panics with its output
/// when the document is not valid.
pub fn assert_schema_valid(xml: &[u8]) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("users.xml");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(xml))
        .expect("write the document");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(users_xsd())
        .arg(&path)
        .output()
        .expect("xmllint runs (apt install libxml2-utils)");
    assert!(
        out.status.success(),
        "xmllint rejected the document:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(xml)
            .chars()
            .take(4000)
            .collect::<String>()
    );
}
