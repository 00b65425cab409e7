//! The broken-input corpus in `tests/corpus/` (`cargo xtask fixtures` writes it; xtask's
//! golden test keeps it fresh): each file gives exactly its expected error codes.

use alma_sis_package::check::CheckOptions;
use alma_user_model::Severity;

use super::{codes_of, run_check};

/// Each corpus file and the error-level codes `check` must give for it (and no others).
const EXPECTED: &[(&str, &[&str])] = &[
    ("valid.zip", &[]),
    ("truncated.zip", &["E-ZIP-CORRUPT"]),
    ("bzip2-method.zip", &["E-ZIP-METHOD"]),
    ("stored-with-descriptor.zip", &["E-ZIP-DESCRIPTOR"]),
    ("encrypted.zip", &["E-ZIP-ENCRYPTED"]),
    ("no-xml-entry.zip", &["E-ZIP-NO-XML"]),
    ("51-xml-files.zip", &["E-ZIP-TOO-MANY-XML"]),
    ("bom.xml", &[]),
    ("prolog-junk.xml", &["E-PROLOG"]),
    ("cp1252.xml", &["E-UTF8"]),
    ("control-character.xml", &["E-CHAR"]),
    ("not-well-formed.xml", &["E-XML"]),
    (
        "duplicate-ids.xml",
        &["E-DUP-MATCH-ID", "E-ID-TAKEN-IN-FEED"],
    ),
    ("internal-account.xml", &[]),
    ("missing-segment-children.xml", &["E-MANDATORY"]),
];

/// Where the corpus lives.
pub fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// The corpus files on disk, by name.
pub fn corpus_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("the corpus directory")
        .map(|e| e.expect("an entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn each_broken_input_gives_its_code() {
    let options = CheckOptions::default();
    for (name, expected) in EXPECTED {
        let path = corpus_dir().join(name);
        let (found, _) = run_check(&path, &options);
        assert_eq!(
            codes_of(&found, Severity::Error),
            *expected,
            "{name}:\n{}",
            found
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn every_corpus_file_has_its_expected_codes() {
    let listed: Vec<&str> = EXPECTED.iter().map(|(name, _)| *name).collect();
    let files = corpus_files();
    assert!(files.len() >= 12);
    for path in files {
        let name = path.file_name().and_then(|n| n.to_str()).expect("a name");
        assert!(
            listed.contains(&name),
            "{name} has no expected codes in EXPECTED"
        );
    }
}
