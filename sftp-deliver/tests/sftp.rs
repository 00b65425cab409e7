//! SFTP against a real OpenSSH sshd: pinning, authentication, the upload contract, faults.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sftp_deliver::{
    DeliverError, Destination, HostKeyPin, RetryPolicy, Secret, Sftp, SftpAuth, SftpConfig,
    StalePolicy,
};

use crate::support::contract::{
    StaleExpect, check_batch_stops_at_first_failure, check_leftover_temps, check_no_overwrite,
    check_pull, check_stale, check_stop_mid_upload, check_temp_then_rename, go_on, run_of_three,
};
use crate::support::sshd::{Extra, Sshd, current_user, fingerprint};
use crate::support::{names, sha256, write_payload};

const SUB_DIR: &str = "alma/patrons";

/// The pauses the retry loop asked for.
type Sleeps = Arc<Mutex<Vec<Duration>>>;

fn config(sshd: &Sshd, host_key: HostKeyPin, key: &str) -> SftpConfig {
    config_for(sshd.port(), &sshd.srv(), host_key, sshd.key(key))
}

fn config_for(port: u16, srv: &Path, host_key: HostKeyPin, key: PathBuf) -> SftpConfig {
    SftpConfig {
        host: "127.0.0.1".into(),
        port,
        user: current_user(),
        auth: SftpAuth {
            key_file: Some(key),
            passphrase: None,
            password: None,
        },
        host_key,
        base_dir: srv.display().to_string(),
        sub_dir: SUB_DIR.into(),
        connect_timeout: Duration::from_secs(10),
        io_timeout: Duration::from_secs(20),
        keepalive: Duration::from_secs(5),
        retry: RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        },
        stale: StalePolicy::Leave,
        verify_sha256: true,
    }
}

fn pinned(sshd: &Sshd) -> HostKeyPin {
    HostKeyPin::KnownHosts(
        sshd.write_known_hosts("known_hosts", &[sshd.known_hosts_line("ed25519")]),
    )
}

fn target(sshd: &Sshd) -> PathBuf {
    let t = sshd.srv().join(SUB_DIR);
    std::fs::create_dir_all(&t).unwrap();
    t
}

/// An `Sftp` whose pauses are recorded, not slept.
fn sftp(config: SftpConfig) -> (Sftp, Sleeps) {
    let sleeps = Sleeps::default();
    let record = Arc::clone(&sleeps);
    let sftp = Sftp::new(config, Box::new(move |d| record.lock().unwrap().push(d)));
    (sftp, sleeps)
}

fn deliver_small(dest: &mut Sftp) -> Result<sftp_deliver::Delivered, DeliverError> {
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("x.zip");
    write_payload(&file, 4096);
    dest.deliver(&file, "DEMO_patrons_1.zip", &mut |_| {})
}

#[test]
fn happy_path_lands_the_exact_bytes_under_the_final_name() {
    let Some(sshd) = Sshd::start() else { return };
    let target = target(&sshd);
    let (mut dest, sleeps) = sftp(config(&sshd, pinned(&sshd), "client_ed25519"));
    check_temp_then_rename(&mut dest, &target, 5 * 1024 * 1024 + 3);
    assert!(sleeps.lock().unwrap().is_empty());
}

#[test]
fn a_server_without_fsync_still_gets_a_verified_file() {
    let Some(sshd) = Sshd::start_with(&[Extra::NoFsync]) else {
        return;
    };
    let target = target(&sshd);
    let (mut dest, _) = sftp(config(&sshd, pinned(&sshd), "client_ed25519"));
    check_temp_then_rename(&mut dest, &target, 300_000);
}

#[test]
fn accepted_pins_and_credentials() {
    let Some(sshd) = Sshd::start() else { return };
    let target = target(&sshd);
    let right = sshd.known_hosts_line("ed25519");
    let messy = vec![
        "# pinned by the library's IT team".to_owned(),
        "@cert-authority *.example.edu ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake".to_owned(),
        "not a known_hosts line".to_owned(),
        "sftp.example.edu sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t"
            .to_owned(),
        right,
    ];
    let hashed = sshd.write_known_hosts("hashed_known_hosts", &[sshd.known_hosts_line("ed25519")]);
    let out = std::process::Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&hashed)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&hashed).unwrap().starts_with("|1|"));
    let mut locked = config(&sshd, pinned(&sshd), "client_locked");
    locked.auth.passphrase = Some(Secret::new("open sesame"));
    let cases = [
        (
            "known_hosts among lines libssh2 cannot parse",
            config(
                &sshd,
                HostKeyPin::KnownHosts(sshd.write_known_hosts("messy_known_hosts", &messy)),
                "client_ed25519",
            ),
        ),
        (
            "SHA256 fingerprint",
            config(
                &sshd,
                HostKeyPin::Fingerprint {
                    sha256: fingerprint(&sshd.host_pub("ed25519")),
                    key_type: Some("ssh-ed25519".into()),
                },
                "client_ed25519",
            ),
        ),
        (
            "hashed known_hosts (HashKnownHosts yes)",
            config(&sshd, HostKeyPin::KnownHosts(hashed), "client_ed25519"),
        ),
        ("key with a passphrase", locked),
    ];
    for (what, config) in cases {
        let (mut dest, _) = sftp(config);
        dest.check_connection()
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let delivered = deliver_small(&mut dest).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_eq!(delivered.attempts, 1, "{what}");
        std::fs::remove_file(target.join("DEMO_patrons_1.zip")).unwrap();
    }
}

#[test]
fn the_pinned_key_type_is_asked_for_before_the_handshake() {
    let Some(sshd) = Sshd::start_with(&[Extra::RsaHostKey]) else {
        return;
    };
    let target = target(&sshd);
    let rsa = fingerprint(&sshd.host_pub("rsa"));
    let known = sshd.write_known_hosts("rsa_only", &[sshd.known_hosts_line("rsa")]);
    let by_fingerprint = |key_type: Option<&str>| HostKeyPin::Fingerprint {
        sha256: rsa.clone(),
        key_type: key_type.map(str::to_owned),
    };
    let cases = [
        (
            "known_hosts pins only the RSA key",
            HostKeyPin::KnownHosts(known),
            true,
        ),
        (
            "RSA fingerprint with its type",
            by_fingerprint(Some("ssh-rsa")),
            true,
        ),
        // Without a type the server presents its ed25519 key, which is not the pinned one.
        (
            "RSA fingerprint without a type",
            by_fingerprint(None),
            false,
        ),
    ];
    for (what, pin, accepted) in cases {
        let (mut dest, _) = sftp(config(&sshd, pin, "client_ed25519"));
        match (deliver_small(&mut dest), accepted) {
            (Ok(_), true) => std::fs::remove_file(target.join("DEMO_patrons_1.zip")).unwrap(),
            (Err(DeliverError::HostKeyMismatch { key_type, .. }), false) => {
                assert_eq!(key_type, "ssh-ed25519", "{what}")
            }
            (other, _) => panic!("{what}: {other:?}"),
        }
    }
}

/// What a refusal must look like.
enum Refusal {
    Mismatch,
    Unknown,
    Auth,
}

fn check_refused(sshd: &Sshd, what: &str, config: SftpConfig, expected: Refusal) {
    let target = target(sshd);
    let presented = fingerprint(&sshd.host_pub("ed25519"));
    let log_before = sshd.log().len();
    let (mut dest, sleeps) = sftp(config);
    let err = deliver_small(&mut dest).expect_err(what);
    let text = err.to_string();
    match (&expected, &err) {
        (Refusal::Mismatch, DeliverError::HostKeyMismatch { fingerprint, .. })
        | (Refusal::Unknown, DeliverError::UnknownHost { fingerprint, .. }) => {
            assert_eq!(fingerprint, &presented, "{what}");
            assert!(
                text.contains(&presented) && text.contains("127.0.0.1"),
                "{what}: {text}"
            );
            // Refused before authentication: the server never saw a key offered.
            let log = sshd.log()[log_before..].join("\n");
            assert!(
                !log.contains("publickey") && !log.contains("Accepted"),
                "{what}: {log}"
            );
        }
        (Refusal::Auth, DeliverError::Auth { user, .. }) => {
            assert_eq!(user, &current_user(), "{what}");
            assert!(text.contains("authentication"), "{what}: {text}");
        }
        _ => panic!("{what}: unexpected error {err:?}"),
    }
    assert!(
        sleeps.lock().unwrap().is_empty(),
        "{what}: a permanent error was retried"
    );
    assert_eq!(
        names(&target),
        Vec::<String>::new(),
        "{what}: something was written"
    );
}

#[test]
fn wrong_or_unknown_host_keys_and_wrong_client_keys_are_refused() {
    let Some(sshd) = Sshd::start() else { return };
    let stranger = std::fs::read_to_string(sshd.key("stranger_ed25519.pub")).unwrap();
    let stranger_blob = stranger.split_whitespace().nth(1).unwrap();
    let wrong_line = format!("[127.0.0.1]:{} ssh-ed25519 {stranger_blob}", sshd.port());
    let other_port = format!(
        "[127.0.0.1]:{} ssh-ed25519 {stranger_blob}",
        sshd.port().wrapping_add(1)
    );
    let kh =
        |name: &str, lines: &[String]| HostKeyPin::KnownHosts(sshd.write_known_hosts(name, lines));
    let host_blob = sshd.known_hosts_line("ed25519");
    let host_blob = host_blob.split_whitespace().nth(2).unwrap();
    let revoked = [
        sshd.known_hosts_line("ed25519"),
        format!("@revoked * ssh-ed25519 {host_blob}"),
    ];
    let cases = [
        (
            "the pinned key is also @revoked",
            config(&sshd, kh("revoked", &revoked), "client_ed25519"),
            Refusal::Mismatch,
        ),
        (
            "known_hosts pins another key",
            config(&sshd, kh("wrong", &[wrong_line]), "client_ed25519"),
            Refusal::Mismatch,
        ),
        (
            "known_hosts knows only another port",
            config(&sshd, kh("other", &[other_port]), "client_ed25519"),
            Refusal::Unknown,
        ),
        (
            "empty known_hosts",
            config(&sshd, kh("empty", &[]), "client_ed25519"),
            Refusal::Unknown,
        ),
        (
            "another fingerprint",
            config(
                &sshd,
                HostKeyPin::Fingerprint {
                    sha256: fingerprint(&sshd.key("stranger_ed25519.pub")),
                    key_type: None,
                },
                "client_ed25519",
            ),
            Refusal::Mismatch,
        ),
        (
            "client key not authorized",
            config(&sshd, pinned(&sshd), "stranger_ed25519"),
            Refusal::Auth,
        ),
    ];
    for (what, config, expected) in cases {
        check_refused(&sshd, what, config, expected);
    }
}

#[test]
fn a_password_is_tried_only_when_configured() {
    let Some(sshd) = Sshd::start_with(&[Extra::PasswordAuth]) else {
        return;
    };
    target(&sshd);
    for configured in [false, true] {
        let mut cfg = config(&sshd, pinned(&sshd), "stranger_ed25519");
        if configured {
            cfg.auth.password = Some(Secret::new("not the password"));
        }
        let log_before = sshd.log().len();
        let (mut dest, sleeps) = sftp(cfg);
        match deliver_small(&mut dest) {
            Err(DeliverError::Auth { tried, offered, .. }) => {
                assert!(offered.contains("password"), "{offered}");
                assert_eq!(tried.contains("password"), configured, "{tried}");
                assert!(!format!("{dest:?}").contains("not the password"));
            }
            other => panic!("expected Auth, got {other:?}"),
        }
        assert!(sleeps.lock().unwrap().is_empty());
        // sshd logs the refusal before the client sees it, and the log thread may lag:
        // wait for the line only where one is expected.
        if configured {
            let seen = (0..200).any(|_| {
                std::thread::sleep(Duration::from_millis(10));
                sshd.log()[log_before..]
                    .iter()
                    .any(|l| l.contains("Failed password"))
            });
            assert!(seen, "the password was never offered");
        }
    }
}

#[test]
fn an_existing_final_name_is_never_overwritten() {
    let Some(sshd) = Sshd::start() else { return };
    let target = target(&sshd);
    let (mut dest, _) = sftp(config(&sshd, pinned(&sshd), "client_ed25519"));
    check_no_overwrite(&mut dest, &target);
}

#[test]
fn stale_zips_are_refused_left_or_archived_as_configured() {
    for (policy, expect) in [
        (StalePolicy::Refuse, StaleExpect::Refused),
        (StalePolicy::Leave, StaleExpect::Left),
        (
            StalePolicy::Archive("archive".into()),
            StaleExpect::Archived,
        ),
    ] {
        let Some(sshd) = Sshd::start() else { return };
        let mut config = config(&sshd, pinned(&sshd), "client_ed25519");
        config.stale = policy;
        let (mut dest, _) = sftp(config);
        check_stale(&mut dest, &target(&sshd), expect);
    }
}

#[test]
fn pull_fetches_the_matching_files() {
    let Some(sshd) = Sshd::start() else { return };
    let (mut dest, _) = sftp(config(&sshd, pinned(&sshd), "client_ed25519"));
    check_pull(&mut dest, &sshd.srv().join("registrar"), "registrar");
}

#[test]
fn a_refused_connection_is_retried_with_backoff_then_given_up() {
    // A port nobody listens on: the listener is gone before anyone connects.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pin = HostKeyPin::Fingerprint {
        sha256: "SHA256:unused".into(),
        key_type: None,
    };
    let mut config = config_for(port, Path::new("/"), pin, PathBuf::from("id_ed25519"));
    // No key to read: the connection fails first.
    config.auth.key_file = None;
    config.retry.attempts = 3;
    let (dest, sleeps) = sftp(config);
    let causes = Arc::new(Mutex::new(Vec::new()));
    let told = Arc::clone(&causes);
    let mut dest = dest.on_retry(Box::new(move |cause, pause| {
        told.lock().unwrap().push((cause.to_string(), pause));
    }));
    match deliver_small(&mut dest) {
        Err(DeliverError::GaveUp { attempts, source }) => {
            assert_eq!(attempts, 3);
            assert!(
                matches!(*source, DeliverError::Connect { .. }),
                "{source:?}"
            );
        }
        other => panic!("expected GaveUp, got {other:?}"),
    }
    assert_eq!(
        *sleeps.lock().unwrap(),
        [Duration::from_secs(1), Duration::from_secs(2)]
    ); // Every retry is told with its cause and its pause.
    let causes = causes.lock().unwrap();
    assert_eq!(causes.len(), 2, "{causes:?}");
    for ((cause, pause), expected) in causes.iter().zip([1, 2]) {
        assert!(cause.starts_with("cannot connect to 127.0.0.1:"), "{cause}");
        assert_eq!(*pause, Duration::from_secs(expected));
    }
}

/// (name, size) under `.zip` names, and temporary names, as a watcher saw them.
type Seen = (Vec<(String, u64)>, Vec<String>);

/// Watches a folder until stopped; returns every (name, size) seen under a `.zip` name and
/// every temporary name seen.
fn watch(dir: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Seen> {
    std::thread::spawn(move || {
        let (mut zips, mut temps) = (Vec::new(), Vec::new());
        while !stop.load(Ordering::Relaxed) {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                if name.ends_with(".zip") {
                    zips.push((name, size));
                } else if !temps.contains(&name) {
                    temps.push(name);
                }
            }
            std::thread::yield_now();
        }
        (zips, temps)
    })
}

#[test]
fn sshd_killed_mid_upload_and_restarted_the_retry_completes_and_no_partial_zip_is_ever_visible() {
    let Some(sshd) = Sshd::start() else { return };
    let target = target(&sshd);
    let config = config(&sshd, pinned(&sshd), "client_ed25519");
    let sshd = Arc::new(Mutex::new(sshd));
    let restarter = Arc::clone(&sshd);
    let sleeps = Sleeps::default();
    let record = Arc::clone(&sleeps);
    let mut dest = Sftp::new(
        config,
        Box::new(move |d| {
            record.lock().unwrap().push(d);
            restarter.lock().unwrap().restart();
        }),
    );
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("big.zip");
    let len = 16 * 1024 * 1024;
    let bytes = write_payload(&file, len);

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(target.clone(), Arc::clone(&stop));
    let mut killed = false;
    let result = dest.deliver(&file, "DEMO_patrons_big.zip", &mut |done| {
        if !killed && done >= len as u64 / 3 {
            killed = true;
            sshd.lock().unwrap().kill();
        }
    });
    stop.store(true, Ordering::Relaxed);
    let (zips, temps) = watcher.join().unwrap();

    let delivered = result.expect("the retry completes");
    assert!(killed, "the upload was never interrupted");
    assert_eq!(delivered.attempts, 2);
    assert_eq!(*sleeps.lock().unwrap(), [Duration::from_secs(1)]);
    let partial: Vec<_> = zips
        .iter()
        .filter(|(_, size)| *size != len as u64)
        .collect();
    assert!(
        partial.is_empty(),
        "a partial file was visible under a .zip name: {partial:?}"
    );
    assert!(
        !temps.is_empty(),
        "the watcher never saw the temporary file"
    );
    assert_eq!(
        names(&target),
        ["DEMO_patrons_big.zip"],
        "a temporary file remains"
    );
    let landed = std::fs::read(target.join("DEMO_patrons_big.zip")).unwrap();
    assert_eq!(sha256(&landed), sha256(&bytes));
}

#[test]
fn the_target_folder_is_the_base_dir_plus_the_sub_dir() {
    let pin = HostKeyPin::KnownHosts(PathBuf::from("known_hosts"));
    let mut cfg = config_for(22, Path::new("/"), pin, PathBuf::from("id_ed25519"));
    for (base, sub, expected) in [
        ("/alma", "patrons/in", "/alma/patrons/in"),
        ("/alma/", "/patrons/", "/alma/patrons"),
        ("/alma", "", "/alma"),
        ("", "upload", "upload"),
    ] {
        cfg.base_dir = base.into();
        cfg.sub_dir = sub.into();
        assert_eq!(cfg.target_dir(), expected, "{base:?} + {sub:?}");
    }
}

#[test]
fn a_server_that_never_answers_times_out_and_is_retried() {
    // Accepts connections (the kernel's backlog) but never speaks SSH.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let pin = HostKeyPin::Fingerprint {
        sha256: "SHA256:unused".into(),
        key_type: None,
    };
    let mut cfg = config_for(
        silent.local_addr().unwrap().port(),
        Path::new("/"),
        pin,
        PathBuf::from("id_ed25519"),
    );
    cfg.auth.key_file = None;
    cfg.connect_timeout = Duration::from_millis(300);
    cfg.retry.attempts = 2;
    let (mut dest, sleeps) = sftp(cfg);
    match deliver_small(&mut dest) {
        Err(DeliverError::GaveUp { attempts, source }) => {
            assert_eq!(attempts, 2);
            assert!(
                matches!(*source, DeliverError::Session { .. }),
                "{source:?}"
            );
            assert!(source.to_string().contains("handshak"), "{source}");
        }
        other => panic!("expected GaveUp after timeouts, got {other:?}"),
    }
    assert_eq!(*sleeps.lock().unwrap(), [Duration::from_secs(1)]);
}

#[test]
fn our_leftover_temporary_files_are_removed_and_reported_and_no_one_elses() {
    let Some(sshd) = Sshd::start() else { return };
    let target = target(&sshd);
    let mut cfg = config(&sshd, pinned(&sshd), "client_ed25519");
    cfg.stale = StalePolicy::Refuse;
    let (mut dest, _) = sftp(cfg);
    check_leftover_temps(&mut dest, &target);
}

#[test]
fn a_batch_stops_at_its_first_failure_and_says_which_files_arrived() {
    let Some(sshd) = Sshd::start() else { return };
    let target = target(&sshd);
    let (mut dest, _) = sftp(config(&sshd, pinned(&sshd), "client_ed25519"));
    check_batch_stops_at_first_failure(&mut dest, &target);
}

#[test]
fn a_batch_stopped_mid_upload_leaves_no_temporary_file() {
    let Some(sshd) = Sshd::start() else { return };
    let target = target(&sshd);
    let (mut dest, _) = sftp(config(&sshd, pinned(&sshd), "client_ed25519"));
    check_stop_mid_upload(&mut dest, &target);
}

#[test]
fn sshd_killed_after_zip_1_of_3_the_batch_says_only_zip_1_arrived() {
    let Some(sshd) = Sshd::start() else { return };
    let target = target(&sshd);
    let mut cfg = config(&sshd, pinned(&sshd), "client_ed25519");
    cfg.retry.attempts = 2;
    let (mut dest, sleeps) = sftp(cfg);
    let local = tempfile::tempdir().unwrap();
    let files = run_of_three(local.path());
    let sshd = Mutex::new(sshd);
    let outcome = dest.deliver_all(&files, "DEMO_patrons_*.zip", &mut |step| {
        if let sftp_deliver::Step::Arrived { index: 0, .. } = step {
            sshd.lock().unwrap().kill();
        }
        go_on(step)
    });
    let arrived: Vec<&str> = outcome.delivered.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(arrived, [files[0].name.as_str()]);
    match &outcome.failed {
        Some((
            1,
            DeliverError::GaveUp {
                attempts: 2,
                source,
            },
        )) => {
            assert!(
                matches!(**source, DeliverError::Connect { .. }),
                "{source:?}"
            )
        }
        other => panic!("expected zip 2 to give up, got {other:?}"),
    }
    assert_eq!(sleeps.lock().unwrap().len(), 1, "zip 2 was retried once");
    assert_eq!(names(&target), [files[0].name.as_str()]);
}

#[test]
fn a_server_that_freezes_mid_upload_times_out_and_the_retry_completes() {
    let Some(sshd) = Sshd::start() else { return };
    let target = target(&sshd);
    let mut cfg = config(&sshd, pinned(&sshd), "client_ed25519");
    cfg.io_timeout = Duration::from_secs(1);
    cfg.verify_sha256 = false;
    let sshd = Arc::new(Mutex::new(sshd));
    let sleeps = Sleeps::default();
    let record = Arc::clone(&sleeps);
    let mut dest = Sftp::new(cfg, Box::new(move |d| record.lock().unwrap().push(d)));
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("big.zip");
    let len = 8 * 1024 * 1024;
    let bytes = write_payload(&file, len);
    let mut frozen = false;
    let delivered = dest
        .deliver(&file, "DEMO_patrons_frozen.zip", &mut |done| {
            if !frozen && done >= len as u64 / 4 {
                frozen = true;
                sshd.lock().unwrap().freeze_connections();
            }
        })
        .expect("the retry completes");
    assert!(frozen);
    assert_eq!(delivered.attempts, 2);
    assert_eq!(*sleeps.lock().unwrap(), [Duration::from_secs(1)]);
    let landed = std::fs::read(target.join("DEMO_patrons_frozen.zip")).unwrap();
    assert_eq!(sha256(&landed), sha256(&bytes));
    // The frozen attempt's temporary file stays (its server process is stopped, holding
    // it); it is hidden and does not end in .zip.
    for name in names(&target) {
        assert!(
            name == "DEMO_patrons_frozen.zip" || (name.starts_with('.') && name.ends_with(".part")),
            "{name}"
        );
    }
}

/// How we must answer a known_hosts file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pin {
    Accept,
    Mismatch,
    Unknown,
}

/// Whether OpenSSH's own `ssh`, with `known_hosts` as its only known-hosts file and strict
/// checking, gets past host-key verification (and logs in) on this sshd.
fn openssh_accepts(sshd: &Sshd, known_hosts: &Path) -> bool {
    let out = std::process::Command::new("ssh")
        .args(["-F", "/dev/null", "-o", "BatchMode=yes"])
        .args(["-o", "StrictHostKeyChecking=yes", "-o", "CheckHostIP=no"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .arg("-i")
        .arg(sshd.key("client_ed25519"))
        .args(["-p", &sshd.port().to_string(), "127.0.0.1", "true"])
        .output()
        .expect("ssh runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || stderr.contains("Host key verification failed"),
        "ssh failed for another reason: {stderr}"
    );
    out.status.success()
}

/// Hashes every host name of a known_hosts file in place, as `HashKnownHosts yes` does.
fn hash_known_hosts(path: &Path) {
    let out = std::process::Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(std::fs::read_to_string(path).unwrap().starts_with("|1|"));
}

#[test]
fn known_hosts_is_read_as_openssh_reads_it() {
    let Some(sshd) = Sshd::start_with(&[Extra::RsaHostKey]) else {
        return;
    };
    let target = target(&sshd);
    let port = sshd.port();
    let blob = |pub_file: &Path| {
        let text = std::fs::read_to_string(pub_file).unwrap();
        let mut f = text.split_whitespace();
        format!("{} {}", f.next().unwrap(), f.next().unwrap())
    };
    let new = blob(&sshd.host_pub("ed25519"));
    let rsa = blob(&sshd.host_pub("rsa"));
    let old = blob(&sshd.key("stranger_ed25519.pub"));
    let hp = format!("[127.0.0.1]:{port}");
    let h = "127.0.0.1";
    use Pin::*;
    // (what, lines, hashed, our answer, whether `ssh` accepts it too)
    let cases: Vec<(&str, Vec<String>, bool, Pin, bool)> = vec![
        (
            "the port's entry pins an old key, the plain host's the new one",
            vec![format!("{hp} {old}"), format!("{h} {new}")],
            false,
            Mismatch,
            false,
        ),
        (
            "the same, hashed",
            vec![format!("{hp} {old}"), format!("{h} {new}")],
            true,
            Mismatch,
            false,
        ),
        (
            "the port's entry",
            vec![format!("{hp} {new}")],
            false,
            Accept,
            true,
        ),
        (
            "the port's entry, hashed",
            vec![format!("{hp} {new}")],
            true,
            Accept,
            true,
        ),
        (
            "only the plain host (ssh falls back to it)",
            vec![format!("{h} {new}")],
            false,
            Accept,
            true,
        ),
        (
            "only the plain host, with an old key",
            vec![format!("{h} {old}")],
            false,
            Mismatch,
            false,
        ),
        (
            "the port's entry decides over the plain host's old key",
            vec![format!("{hp} {new}"), format!("{h} {old}")],
            false,
            Accept,
            true,
        ),
        (
            "a wildcard for every host pins an old key",
            vec![format!("* {old}")],
            false,
            Mismatch,
            false,
        ),
        (
            "a wildcard entry",
            vec![format!("[127.0.0.?]:* {new}")],
            false,
            Accept,
            true,
        ),
        (
            "a negated entry",
            vec![format!("{hp},!{hp} {new}")],
            false,
            Unknown,
            false,
        ),
        (
            "the key is @revoked for every host",
            vec![format!("{hp} {new}"), format!("@revoked * {new}")],
            false,
            Mismatch,
            false,
        ),
        (
            "the key is @revoked for another host only",
            vec![
                format!("{hp} {new}"),
                format!("@revoked other.example {new}"),
            ],
            false,
            Accept,
            true,
        ),
        (
            "a @cert-authority line is no pin",
            vec![format!("@cert-authority * {old}"), format!("{hp} {new}")],
            false,
            Accept,
            true,
        ),
        (
            "RSA and ed25519 pinned, both right",
            vec![format!("{hp} {rsa}"), format!("{hp} {new}")],
            false,
            Accept,
            true,
        ),
        (
            "only RSA pinned: the server is asked for RSA",
            vec![format!("{hp} {rsa}")],
            false,
            Accept,
            true,
        ),
        (
            "RSA right, ed25519 old: the server presents ed25519, as to ssh",
            vec![format!("{hp} {rsa}"), format!("{hp} {old}")],
            false,
            Mismatch,
            false,
        ),
        // Stricter than ssh on purpose: a stale pin beside the right one is refused.
        (
            "the port's entries pin the old and the new key",
            vec![format!("{hp} {old}"), format!("{hp} {new}")],
            false,
            Mismatch,
            true,
        ),
    ];
    for (i, (what, lines, hashed, expected, ssh_accepts)) in cases.into_iter().enumerate() {
        let file = sshd.write_known_hosts(&format!("kh_{i}"), &lines);
        if hashed {
            hash_known_hosts(&file);
        }
        assert_eq!(
            openssh_accepts(&sshd, &file),
            ssh_accepts,
            "{what}: OpenSSH's answer"
        );
        let (mut dest, _) = sftp(config(
            &sshd,
            HostKeyPin::KnownHosts(file.clone()),
            "client_ed25519",
        ));
        let got = match deliver_small(&mut dest) {
            Ok(_) => {
                std::fs::remove_file(target.join("DEMO_patrons_1.zip")).unwrap();
                Accept
            }
            Err(DeliverError::HostKeyMismatch { pinned_by, .. }) => {
                assert!(pinned_by.contains(&file.display().to_string()), "{what}");
                Mismatch
            }
            Err(DeliverError::UnknownHost { .. }) => Unknown,
            Err(e) => panic!("{what}: {e:?}"),
        };
        assert_eq!(got, expected, "{what}");
    }
}

#[test]
fn the_private_key_is_never_read_through_a_link_nor_when_others_may_read_it() {
    use std::os::unix::fs::PermissionsExt;
    let Some(sshd) = Sshd::start() else { return };
    let target = target(&sshd);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_ed25519");
    std::fs::copy(sshd.key("client_ed25519"), &key).unwrap();
    let set_mode = |mode| std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode));
    let link = dir.path().join("id_link");
    std::os::unix::fs::symlink(&key, &link).unwrap();
    let cases: [(&str, u32, &Path, Option<&str>); 6] = [
        ("0600", 0o600, &key, None),
        ("0400", 0o400, &key, None),
        ("0640: group may read", 0o640, &key, Some("0640")),
        ("0644: anyone may read", 0o644, &key, Some("0644")),
        ("0604", 0o604, &key, Some("0604")),
        ("a link to a 0600 key", 0o600, &link, Some("symbolic link")),
    ];
    for (what, mode, path, refused) in cases {
        set_mode(mode).unwrap();
        let log_before = sshd.log().len();
        let (mut dest, sleeps) = sftp(config_for(
            sshd.port(),
            &sshd.srv(),
            pinned(&sshd),
            path.to_owned(),
        ));
        match (deliver_small(&mut dest), refused) {
            (Ok(_), None) => std::fs::remove_file(target.join("DEMO_patrons_1.zip")).unwrap(),
            (Err(DeliverError::KeyFile { path: p, reason }), Some(says)) => {
                assert_eq!(p, path, "{what}");
                assert!(reason.contains(says), "{what}: {reason}");
                assert!(sleeps.lock().unwrap().is_empty(), "{what}: retried");
                // Refused before connecting: the server saw nothing.
                assert!(
                    !sshd.log()[log_before..]
                        .iter()
                        .any(|l| l.contains("Connection from")),
                    "{what}"
                );
            }
            (other, _) => panic!("{what}: {other:?}"),
        }
        assert!(names(&target).is_empty(), "{what}");
    }
    // The library's check is the one the CLI runs before a run starts.
    set_mode(0o644).unwrap();
    assert!(matches!(
        sftp_deliver::read_private_key(&key),
        Err(DeliverError::KeyFile { .. })
    ));
}
