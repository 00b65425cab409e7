//! Shared helpers: the workspace root, the binary, per-test temp dirs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli lives in the workspace root")
        .to_owned()
}

/// The shared ground truth (`../shared` beside the checkout).
pub fn shared_dir() -> PathBuf {
    workspace_root().join("../shared")
}

/// Runs the `alma-sis` binary in `cwd`.
pub fn alma_sis(cwd: &Path, args: &[&str]) -> Output {
    alma_sis_env(cwd, args, &[])
}

/// Runs the `alma-sis` binary in `cwd` with extra environment variables.
pub fn alma_sis_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alma-sis"))
        .args(args)
        .current_dir(cwd)
        .env_remove("ALMA_SIS_CONFIG")
        .env_remove("ALMA_SIS_LOG")
        .envs(env.iter().copied())
        .output()
        .expect("the alma-sis binary runs")
}

/// Fails with the command's output unless it exited with `code`.
pub fn expect_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Validates an XML file against Ex Libris' rest_users.xsd with xmllint.
pub fn xmllint_validates(xml: &Path) -> Result<(), String> {
    let xsd = shared_dir().join("alma/xsd/rest_users.xsd");
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(xml)
        .output()
        .map_err(|e| format!("cannot run xmllint (apt-get install libxml2-utils): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The text of every entry of a zip, in order (`unzip -p`).
pub fn unzip_text(zip: &Path) -> String {
    let out = Command::new("unzip")
        .arg("-p")
        .arg(zip)
        .output()
        .expect("unzip runs");
    assert!(out.status.success(), "unzip -p {}", zip.display());
    String::from_utf8(out.stdout).unwrap()
}
