//! The broken-input corpus (`cargo xtask fixtures` writes it to `tests/corpus/`; the
//! CLI's golden test keeps it fresh): each file gives exactly its expected error codes.

use alma_sis_package::check::CheckOptions;
use alma_sis_package::check::corpus::{CORPUS_DIR, corpus};
use alma_user_model::Severity;

use super::{codes_of, run_check};

#[test]
fn each_broken_input_gives_its_code() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let options = CheckOptions::default();
    let files = corpus();
    assert!(files.len() >= 12);
    for file in files {
        let path = dir.path().join(file.name);
        std::fs::write(&path, &file.bytes).expect("writable");
        let (found, _) = run_check(&path, &options);
        assert_eq!(
            codes_of(&found, Severity::Error),
            file.expected,
            "{} (in {CORPUS_DIR}):\n{}",
            file.name,
            found
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn the_corpus_on_disk_is_what_the_generator_makes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the workspace")
        .join(CORPUS_DIR);
    for file in corpus() {
        let on_disk = std::fs::read(root.join(file.name)).unwrap_or_default();
        assert!(
            on_disk == file.bytes,
            "{} is stale; run `cargo xtask fixtures` and commit",
            file.name
        );
    }
}
