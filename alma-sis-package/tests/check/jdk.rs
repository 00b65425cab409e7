//! The JDK agrees: every corpus zip that Java's `ZipFile` or `ZipInputStream` cannot read
//! gets a zip-structure error from `check`, and every zip Java reads gets none.

use std::process::Command;

use alma_sis_package::check::CheckOptions;
use alma_user_model::Severity;

use super::corpus::corpus_files;
use super::{codes_of, run_check};
use crate::support::tool_available;

const STRUCTURE: &[&str] = &[
    "E-ZIP-CORRUPT",
    "E-ZIP-DESCRIPTOR",
    "E-ZIP-ENCRYPTED",
    "E-ZIP-METHOD",
];

#[test]
fn check_and_the_jdk_agree_on_every_corpus_zip() {
    if !tool_available("java", "-version") {
        return;
    }
    let paths: Vec<std::path::PathBuf> = corpus_files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    let program =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check/JdkZipRead.java");
    let out = Command::new("java")
        .arg(program)
        .args(&paths)
        .output()
        .expect("java runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8(out.stdout).expect("UTF-8");
    for path in &paths {
        let line = report
            .lines()
            .find(|l| l.split(' ').nth(1) == Some(path.to_str().expect("UTF-8")))
            .unwrap_or_else(|| panic!("no JDK verdict for {}:\n{report}", path.display()));
        let jdk_reads = line.starts_with("OK ");
        let (found, _) = run_check(path, &CheckOptions::default());
        let structural = codes_of(&found, Severity::Error)
            .iter()
            .any(|c| STRUCTURE.contains(&c.as_str()));
        assert_eq!(
            jdk_reads,
            !structural,
            "{line}\ncheck: {:?}",
            codes_of(&found, Severity::Error)
        );
    }
}
