//! A real OpenSSH `sshd` per test, on 127.0.0.1 with generated keys, killed on `Drop`.
//!
//! Without `/usr/sbin/sshd`, [`Sshd::start`] returns `None` and the test skips with a message,
//! unless `ALMA_SIS_REQUIRE_SSHD` is set (CI), where it fails instead. sshd's log goes to
//! stderr (shown when a test fails).
#![allow(clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SSHD: &str = "/usr/sbin/sshd";

/// Optional server features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// An RSA host key besides the ed25519 one.
    RsaHostKey,
    /// The sftp-server binary with the fsync request forbidden.
    NoFsync,
    /// Password authentication offered (no test knows a password that works).
    PasswordAuth,
}

/// A running sshd and the keys to talk to it.
pub struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
}

/// Runs a command and fails the test with its stderr unless it succeeds.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tool output is UTF-8")
}

/// Generates a key pair at `path` (and `path.pub`).
pub fn keygen(path: &Path, kind: &str, passphrase: &str) {
    run(Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            kind,
            "-N",
            passphrase,
            "-C",
            "alma-sis-test",
            "-f",
        ])
        .arg(path));
}

/// The `SHA256:…` fingerprint of a public key file, as `ssh-keygen -lf` prints it.
pub fn fingerprint(pub_file: &Path) -> String {
    let out = run(Command::new("ssh-keygen").arg("-lf").arg(pub_file));
    out.split_whitespace()
        .nth(1)
        .expect("ssh-keygen -lf prints bits, fingerprint, comment")
        .to_owned()
}

/// The current user's login name (`id -un`): the sshd lets it log in.
pub fn current_user() -> String {
    run(Command::new("id").arg("-un")).trim().to_owned()
}

/// Every process below `pid`, from /proc's parent links.
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let me: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // The parent pid is the second field after the parenthesised command name.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((me, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(me, _)| *me),
        );
        i += 1;
    }
    found.remove(0);
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl Sshd {
    /// Starts an sshd with an ed25519 host key, or returns `None` (skip) when sshd is
    /// missing and not required.
    pub fn start() -> Option<Sshd> {
        Sshd::start_with(&[])
    }

    /// Like [`Sshd::start`], with extras.
    pub fn start_with(extras: &[Extra]) -> Option<Sshd> {
        if !Path::new(SSHD).exists() {
            if std::env::var_os("ALMA_SIS_REQUIRE_SSHD").is_some() {
                panic!(
                    "{SSHD} is missing and ALMA_SIS_REQUIRE_SSHD is set: install openssh-server"
                );
            }
            eprintln!(
                "SKIPPED: {SSHD} is missing (apt-get install openssh-server); set ALMA_SIS_REQUIRE_SSHD=1 to fail instead"
            );
            return None;
        }
        if current_user() == "root" {
            // sshd as root needs its privilege-separation directory.
            std::fs::create_dir_all("/run/sshd").expect("creating /run/sshd");
        }
        let dir = tempfile::tempdir().expect("a temp dir");
        let p = dir.path().to_owned();
        keygen(&p.join("host_ed25519"), "ed25519", "");
        let mut host_keys = format!("HostKey {}\n", p.join("host_ed25519").display());
        if extras.contains(&Extra::RsaHostKey) {
            keygen(&p.join("host_rsa"), "rsa", "");
            host_keys.push_str(&format!("HostKey {}\n", p.join("host_rsa").display()));
        }
        keygen(&p.join("client_ed25519"), "ed25519", "");
        keygen(&p.join("client_locked"), "ed25519", "open sesame");
        keygen(&p.join("stranger_ed25519"), "ed25519", "");
        let authorized = [
            std::fs::read_to_string(p.join("client_ed25519.pub")).expect("client key"),
            std::fs::read_to_string(p.join("client_locked.pub")).expect("client key"),
        ]
        .concat();
        std::fs::write(p.join("authorized_keys"), authorized).expect("authorized_keys");
        std::fs::create_dir(p.join("srv")).expect("the server's folder");
        let mut sshd = Sshd {
            port: 0,
            child: None,
            log: Arc::new(Mutex::new(Vec::new())),
            dir,
        };
        for _ in 0..5 {
            sshd.port = free_port();
            let config = format!(
                "ListenAddress 127.0.0.1\nPort {port}\n{host_keys}PidFile none\n\
                 AuthorizedKeysFile {dir}/authorized_keys\nPasswordAuthentication {password}\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n\
                 Subsystem sftp {sftp}\nLogLevel VERBOSE\n",
                port = sshd.port,
                dir = p.display(),
                password = if extras.contains(&Extra::PasswordAuth) {
                    "yes"
                } else {
                    "no"
                },
                sftp = if extras.contains(&Extra::NoFsync) {
                    "/usr/lib/openssh/sftp-server -P fsync"
                } else {
                    "internal-sftp"
                },
            );
            std::fs::write(p.join("sshd_config"), config).expect("sshd_config");
            if sshd.spawn() {
                return Some(sshd);
            }
        }
        panic!("sshd did not start; its log:\n{}", sshd.log().join("\n"));
    }

    /// Starts the sshd process; true once it listens.
    fn spawn(&mut self) -> bool {
        let mut child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(self.dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sshd starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (ready_tx, ready_rx) = mpsc::channel();
        let log = Arc::clone(&self.log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Server listening on") {
                    let _ = ready_tx.send(true);
                }
                eprintln!("sshd: {line}");
                log.lock().expect("log lock").push(line);
            }
            let _ = ready_tx.send(false);
        });
        self.child = Some(child);
        if ready_rx.recv_timeout(Duration::from_secs(10)) == Ok(true) {
            true
        } else {
            self.kill();
            false
        }
    }

    /// Kills sshd and every connection process it forked (they start their own sessions,
    /// so they are found by parent pid in /proc).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let mut pids = descendants(child.id());
            pids.push(child.id());
            let _ = Command::new("kill")
                .arg("-KILL")
                .args(pids.iter().map(u32::to_string))
                .stderr(Stdio::null())
                .status();
            let _ = child.wait();
        }
    }

    /// Freezes (SIGSTOP) every connection sshd serves, leaving the listener running: the
    /// client sees a server that stops answering mid-transfer.
    pub fn freeze_connections(&self) {
        if let Some(child) = &self.child {
            let pids = descendants(child.id());
            assert!(!pids.is_empty(), "sshd serves no connection to freeze");
            let _ = Command::new("kill")
                .arg("-STOP")
                .args(pids.iter().map(u32::to_string))
                .status();
        }
    }

    /// Starts sshd again on the same port, with the same keys.
    pub fn restart(&mut self) {
        self.kill();
        for _ in 0..20 {
            if self.spawn() {
                return;
            }
        }
        panic!("sshd did not restart on port {}", self.port);
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder it serves (any absolute path works; tests deliver below this one).
    pub fn srv(&self) -> PathBuf {
        self.dir.path().join("srv")
    }

    /// A key file in the harness folder: `client_ed25519` (authorized), `client_locked`
    /// (authorized, passphrase `open sesame`), `stranger_ed25519` (not authorized).
    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The public host key file.
    pub fn host_pub(&self, kind: &str) -> PathBuf {
        self.dir.path().join(format!("host_{kind}.pub"))
    }

    /// A known_hosts line pinning the host key `kind` (`ed25519` or `rsa`) for this port.
    pub fn known_hosts_line(&self, kind: &str) -> String {
        let public = std::fs::read_to_string(self.host_pub(kind)).expect("host key");
        let mut fields = public.split_whitespace();
        let (key_type, blob) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        format!("[127.0.0.1]:{} {key_type} {blob}", self.port)
    }

    /// Writes a known_hosts file with `lines` into the harness folder.
    pub fn write_known_hosts(&self, name: &str, lines: &[String]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").expect("known_hosts");
        path
    }

    /// sshd's log so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}
