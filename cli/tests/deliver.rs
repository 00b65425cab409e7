//! `[delivery]` with `kind = "sftp"`: `alma-sis run` and `alma-sis deliver` against a real
//! OpenSSH sshd (skipped without sshd unless `ALMA_SIS_REQUIRE_SSHD` is set).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

use crate::support::{expect_code, workspace_root};

// The harness is shared with sftp-deliver's tests; the CLI needs only part of it, and
// `courses` loads it too.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../sftp-deliver/tests/support/sshd.rs"]
mod sshd;

use sshd::{Sshd, current_user, fingerprint};

const NOW: &str = "2026-11-23T04:00:00Z";
const PASSPHRASE_VAR: &str = "ALMA_SIS_TEST_KEY_PASSPHRASE";

/// Copies the demo into `dir`, with `delivery` as its `[delivery]` section.
fn demo_config(dir: &Path, delivery: &str) -> PathBuf {
    for entry in std::fs::read_dir(workspace_root().join("examples/demo")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
    let path = dir.join("alma-sis.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let (before, _) = text
        .split_once("[delivery]")
        .expect("the demo config ends with [delivery]");
    std::fs::write(&path, format!("{before}[delivery]\n{delivery}\n")).unwrap();
    path
}

/// The `[delivery]` section for the harness's sshd, plus `extra` lines; the key's
/// passphrase comes from the environment unless `extra` names a passphrase file.
fn sftp_section(sshd: &Sshd, known_hosts: &Path, extra: &str) -> String {
    let passphrase = if extra.contains("key_passphrase_file") {
        String::new()
    } else {
        format!("key_passphrase_env = \"{PASSPHRASE_VAR}\"\n")
    };
    format!(
        "kind = \"sftp\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"{user}\"\n\
         key_file = \"{key}\"\n\
         known_hosts = \"{kh}\"\nbase_dir = \"{base}\"\nsub_dir = \"alma/patrons\"\n\
         retries = 0\nverify_sha256 = true\n{passphrase}{extra}",
        port = sshd.port(),
        user = current_user(),
        key = sshd.key("client_locked").display(),
        kh = known_hosts.display(),
        base = sshd.srv().display(),
    )
}

fn alma_sis(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alma-sis"))
        .args(args)
        .current_dir(cwd)
        .env_remove("ALMA_SIS_CONFIG")
        .env_remove("ALMA_SIS_LOG")
        .env(PASSPHRASE_VAR, "open sesame")
        .output()
        .expect("the alma-sis binary runs")
}

fn zips(dir: &Path) -> Vec<PathBuf> {
    let mut zips: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    zips.sort();
    zips
}

fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn run_and_deliver_send_the_demo_to_an_sftp_server() {
    let Some(sshd) = Sshd::start() else { return };
    let target = sshd.srv().join("alma/patrons");
    std::fs::create_dir_all(&target).unwrap();
    let known = sshd.write_known_hosts("known_hosts", &[sshd.known_hosts_line("ed25519")]);
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_config(tmp.path(), &sftp_section(&sshd, &known, ""));
    let config = config.to_str().unwrap();

    let out = alma_sis(tmp.path(), &["run", "--config", config, "--now", NOW]);
    expect_code(&out, 0);
    let delivered = zips(&target);
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    let name = delivered[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(name.starts_with("DEMO_patrons_20261123"), "{name}");
    let local = zips(&tmp.path().join("out"));
    let local = local
        .iter()
        .find(|p| p.file_name() == delivered[0].file_name())
        .expect("the packaged zip stays in the work directory");
    assert_eq!(sha256_of(&delivered[0]), sha256_of(local));
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        1,
        "a temporary file remains"
    );

    // Delivering the same zip again never overwrites it.
    let out = alma_sis(
        tmp.path(),
        &["deliver", "--config", config, local.to_str().unwrap()],
    );
    expect_code(&out, 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");

    // A copy under a new name goes through, and the waiting first zip is reported.
    let copy = tmp.path().join("DEMO_patrons_redelivery.zip");
    std::fs::copy(local, &copy).unwrap();
    let out = alma_sis(
        tmp.path(),
        &["deliver", "--config", config, copy.to_str().unwrap()],
    );
    expect_code(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("still waiting    {name}")),
        "{stdout}"
    );
    assert_eq!(
        sha256_of(&target.join("DEMO_patrons_redelivery.zip")),
        sha256_of(&copy)
    );
}

/// Writes a zip Alma can load (three users) at `path`.
pub fn write_valid_zip(path: &Path) {
    use alma_sis_package::{PackageConfig, RunInfo, package};
    let dir = tempfile::tempdir().unwrap();
    let run = RunInfo {
        institution: "DEMO".into(),
        feed: "patrons".into(),
        timestamp: "2026-11-23T04:00:00".parse().unwrap(),
        run_id: 1,
        tool_version: "test".into(),
        config_sha256: "0".repeat(64),
    };
    let users: Vec<alma_user_model::User> = (1..=3)
        .map(|n| {
            let mut u = alma_user_model::User::new(format!("9001000{n}"));
            u.first_name = Some("Sam".into());
            u.last_name = Some("Tester".into());
            u.user_group = Some(alma_user_model::CodeValue::new("UGRD"));
            u.expiry_date = "2027-11-23".parse().ok();
            u
        })
        .collect();
    let written = package(dir.path(), &PackageConfig::default(), &run, &users).unwrap();
    std::fs::copy(&written.files[0].path, path).unwrap();
}

/// Runs `alma-sis deliver` of a small zip with `delivery` and checks the exit code and a
/// piece of stderr.
fn check_deliver(tmp: &Path, delivery: &str, code: i32, stderr_has: &str) {
    let config = demo_config(tmp, delivery);
    let zip = tmp.join("DEMO_patrons_check.zip");
    write_valid_zip(&zip);
    let out = alma_sis(
        tmp,
        &[
            "deliver",
            "--config",
            config.to_str().unwrap(),
            zip.to_str().unwrap(),
        ],
    );
    expect_code(&out, code);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(stderr_has),
        "expected {stderr_has:?} in:\n{stderr}"
    );
}

#[test]
fn wrong_host_keys_fail_delivery_and_bad_settings_fail_the_config() {
    let Some(sshd) = Sshd::start() else { return };
    std::fs::create_dir_all(sshd.srv().join("alma/patrons")).unwrap();
    let right = sshd.write_known_hosts("known_hosts", &[sshd.known_hosts_line("ed25519")]);
    let stranger = std::fs::read_to_string(sshd.key("stranger_ed25519.pub")).unwrap();
    let blob = stranger.split_whitespace().nth(1).unwrap();
    let wrong = sshd.write_known_hosts(
        "wrong_known_hosts",
        &[format!("[127.0.0.1]:{} ssh-ed25519 {blob}", sshd.port())],
    );
    let presented = fingerprint(&sshd.host_pub("ed25519"));
    let secret_file = sshd.key("password.txt");
    std::fs::write(&secret_file, "hunter2\n").unwrap();
    let wrong_passphrase = sshd.key("wrong_passphrase.txt");
    std::fs::write(&wrong_passphrase, "open sesame?\n").unwrap();
    let cases: Vec<(String, i32, String)> = vec![
        (
            sftp_section(
                &sshd,
                &right,
                &format!("key_passphrase_file = \"{}\"", wrong_passphrase.display()),
            ),
            3,
            "authentication of".into(),
        ),
        (
            sftp_section(&sshd, &wrong, ""),
            3,
            format!(
                "HOST KEY MISMATCH for 127.0.0.1:{}: it presented ssh-ed25519 {presented}",
                sshd.port()
            ),
        ),
        (
            sftp_section(&sshd, &right, "host_key_fingerprint = \"SHA256:x\""),
            2,
            "not both".into(),
        ),
        (
            sftp_section(&sshd, &right, "stale = \"sometimes\""),
            2,
            "unknown variant `sometimes`".into(),
        ),
        (
            sftp_section(&sshd, &right, "password = \"hunter2\""),
            2,
            "unknown field `password`".into(),
        ),
        (
            sftp_section(
                &sshd,
                &right,
                &format!(
                    "password_env = \"ALMA_SIS_UNSET_VAR\"\npassword_file = \"{}\"",
                    secret_file.display()
                ),
            ),
            2,
            "not both".into(),
        ),
        (
            sftp_section(
                &sshd,
                &right,
                "password_env = \"ALMA_SIS_TEST_UNSET_PASSWORD\"",
            ),
            2,
            "ALMA_SIS_TEST_UNSET_PASSWORD".into(),
        ),
        (
            "kind = \"sftp\"\nhost = \"127.0.0.1\"\nuser = \"alma\"\nkey_file = \"id\"".into(),
            2,
            "host key must be pinned".into(),
        ),
        (
            "kind = \"drop\"\nhost = \"sftp.example.edu\"".into(),
            2,
            "delivery.host is set but delivery.kind is \"drop\"".into(),
        ),
    ];
    for (delivery, code, stderr_has) in cases {
        let tmp = tempfile::tempdir().unwrap();
        check_deliver(tmp.path(), &delivery, code, &stderr_has);
    }
    assert_eq!(
        std::fs::read_dir(sshd.srv().join("alma/patrons"))
            .unwrap()
            .count(),
        0,
        "nothing may be written"
    );
}

#[test]
fn a_passphrase_file_unlocks_the_key() {
    let Some(sshd) = Sshd::start() else { return };
    let target = sshd.srv().join("alma/patrons");
    std::fs::create_dir_all(&target).unwrap();
    let known = sshd.write_known_hosts("known_hosts", &[sshd.known_hosts_line("ed25519")]);
    let passphrase = sshd.key("passphrase.txt");
    std::fs::write(&passphrase, "open sesame\n").unwrap();
    let extra = format!("key_passphrase_file = \"{}\"", passphrase.display());
    let tmp = tempfile::tempdir().unwrap();
    check_deliver(tmp.path(), &sftp_section(&sshd, &known, &extra), 0, "");
    assert_eq!(
        sha256_of(&target.join("DEMO_patrons_check.zip")),
        sha256_of(&tmp.path().join("DEMO_patrons_check.zip"))
    );
}
