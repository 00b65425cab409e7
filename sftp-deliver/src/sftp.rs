//! SFTP with OpenSSH's strictness: pinned host key checked before authentication, upload to a
//! temporary name, fsync, verify, rename; transient faults retried with a fresh file.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use ssh2::{ErrorCode, FileStat, HashType, HostKeyType, MethodType, OpenFlags, OpenType, Session};

use crate::error::is_transient_ssh;
use crate::known_hosts::{KnownHosts, Verdict};
use crate::{
    BatchOutcome, DeliverError, Delivered, Destination, FolderReport, Outgoing, Pulled,
    RetryPolicy, StaleFile, StalePolicy, Step, Watch, check_name, deliver_each, matches_pattern,
    read_private_key, sort_folder, temp_name,
};

/// Upload and download buffer: large writes let libssh2 pipeline SFTP packets.
const CHUNK: usize = 256 * 1024;
/// SFTP status codes for a name that does not exist.
const FX_NO_SUCH_FILE: i32 = 2;
const FX_NO_SUCH_PATH: i32 = 10;

/// A password or passphrase: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret read from the environment or a file.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the server's host key is pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyPin {
    /// An OpenSSH known_hosts file, read as `ssh` reads it: `[host]:port` entries for ports
    /// other than 22 (the plain host's when none pins a key of the presented type), hashed
    /// and wildcard entries, `@revoked` keys refused; another key of the presented type pinned
    /// for the host is a mismatch, whatever else matches. Lines that do not parse are skipped.
    KnownHosts(PathBuf),
    /// A `SHA256:…` fingerprint as `ssh-keygen -lf` prints it, and optionally the key type
    /// (e.g. `ssh-ed25519`) to ask the server for.
    Fingerprint {
        /// The fingerprint.
        sha256: String,
        /// The key type to prefer.
        key_type: Option<String>,
    },
}

impl fmt::Display for HostKeyPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostKeyPin::KnownHosts(p) => write!(f, "known_hosts file {}", p.display()),
            HostKeyPin::Fingerprint { sha256, .. } => write!(f, "pinned fingerprint {sha256}"),
        }
    }
}

/// How to authenticate. Keys first; a password only when one is configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SftpAuth {
    /// A private key file (ed25519 or RSA, OpenSSH or PEM format), mode 0600 or 0400 and not
    /// a symbolic link ([`read_private_key`]).
    pub key_file: Option<PathBuf>,
    /// The key file's passphrase.
    pub passphrase: Option<Secret>,
    /// A password, tried with `password` then `keyboard-interactive` authentication.
    pub password: Option<Secret>,
}

/// Everything an SFTP delivery needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpConfig {
    /// Host name or address.
    pub host: String,
    /// Port, usually 22.
    pub port: u16,
    /// Login name.
    pub user: String,
    /// Credentials.
    pub auth: SftpAuth,
    /// The pinned host key.
    pub host_key: HostKeyPin,
    /// The base directory (Alma's S/FTP connection), e.g. `/alma`.
    pub base_dir: String,
    /// The sub-directory (the integration profile's), e.g. `patrons/in`.
    pub sub_dir: String,
    /// Limit for the TCP connect and the SSH handshake.
    pub connect_timeout: Duration,
    /// Limit for any one blocking SSH operation after the handshake.
    pub io_timeout: Duration,
    /// Keepalive interval; zero disables keepalives.
    pub keepalive: Duration,
    /// Retries of transient faults.
    pub retry: RetryPolicy,
    /// What to do with unprocessed `.zip` files in the target folder.
    pub stale: StalePolicy,
    /// Read the upload back and compare sha256 before renaming it.
    pub verify_sha256: bool,
}

impl SftpConfig {
    /// The target folder: the base directory plus the sub-directory, as Alma combines them.
    pub fn target_dir(&self) -> String {
        join_remote(&self.base_dir, &self.sub_dir)
    }
}

/// Joins remote paths with `/`; an absolute `rel` stands alone.
fn join_remote(base: &str, rel: &str) -> String {
    let rel = rel.trim_matches('/');
    if rel.is_empty() {
        return if base.is_empty() {
            ".".into()
        } else {
            base.into()
        };
    }
    if base.is_empty() {
        return rel.into();
    }
    format!("{}/{rel}", base.trim_end_matches('/'))
}

/// Told about each transient fault that is retried: the fault and the pause before the next
/// attempt.
pub type OnRetry = Box<dyn FnMut(&DeliverError, Duration) + Send>;

/// An SFTP destination; connects anew for every delivery (and every attempt).
pub struct Sftp {
    config: SftpConfig,
    sleep: Box<dyn FnMut(Duration) + Send>,
    on_retry: Option<OnRetry>,
}

impl fmt::Debug for Sftp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sftp")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Sftp {
    /// An SFTP destination that pauses between attempts with `sleep` (the CLI passes
    /// `std::thread::sleep`; tests pass something that does not wait).
    pub fn new(config: SftpConfig, sleep: Box<dyn FnMut(Duration) + Send>) -> Self {
        Sftp {
            config,
            sleep,
            on_retry: None,
        }
    }

    /// Tells `on_retry` about every transient fault that is retried: the fault and the pause
    /// before the next attempt (the CLI puts them into the run report).
    #[must_use]
    pub fn on_retry(mut self, on_retry: OnRetry) -> Self {
        self.on_retry = Some(on_retry);
        self
    }

    /// The settings.
    pub fn config(&self) -> &SftpConfig {
        &self.config
    }

    /// Connects, checks the host key and authenticates, without transferring anything.
    pub fn check_connection(&mut self) -> Result<(), DeliverError> {
        let config = &self.config;
        config
            .retry
            .run(&mut pause(&mut self.sleep, &mut self.on_retry), |_| {
                connect(config).map(drop)
            })
    }
}

/// The pause between attempts: tells `on_retry` why, then sleeps.
fn pause<'a>(
    sleep: &'a mut Box<dyn FnMut(Duration) + Send>,
    on_retry: &'a mut Option<OnRetry>,
) -> impl FnMut(Duration, &DeliverError) + 'a {
    move |pause, cause| {
        if let Some(tell) = on_retry.as_mut() {
            tell(cause, pause);
        }
        sleep(pause);
    }
}

/// What earlier attempts of one delivery left behind.
#[derive(Default)]
struct EarlierAttempts {
    /// Temporary files written and not yet removed.
    temp_files: Vec<String>,
    /// Size and sha256 of the file an attempt asked the server to rename into place.
    renamed: Option<(u64, String)>,
}

/// An open, authenticated SFTP session.
struct Connection<'a> {
    config: &'a SftpConfig,
    session: Session,
    sftp: ssh2::Sftp,
}

impl Drop for Connection<'_> {
    fn drop(&mut self) {
        // Best effort: a broken connection cannot say goodbye.
        let _ = self.session.disconnect(None, "done", None);
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

/// Opens a TCP connection, handshakes, checks the host key, then authenticates.
fn connect(config: &SftpConfig) -> Result<Connection<'_>, DeliverError> {
    let (host, port) = (config.host.as_str(), config.port);
    let connect_err = |source| DeliverError::Connect {
        host: host.to_owned(),
        port,
        source,
    };
    let session_err = |action: &str| {
        let action = action.to_owned();
        move |source| DeliverError::Session {
            host: host.to_owned(),
            port,
            action,
            source,
        }
    };
    // Read the pin and the key first: without them there is no point in connecting.
    let pinned = Pinned::load(config)?;
    let private_key = config
        .auth
        .key_file
        .as_deref()
        .map(read_private_key)
        .transpose()?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address");
    let mut tcp = None;
    for addr in (host, port).to_socket_addrs().map_err(connect_err)? {
        match TcpStream::connect_timeout(&addr, config.connect_timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let tcp = tcp.ok_or_else(|| connect_err(last))?;
    let mut session = Session::new().map_err(session_err("starting"))?;
    session.set_tcp_stream(tcp);
    session.set_timeout(millis(config.connect_timeout));
    let handshaking = match pinned.method_pref(config, &session) {
        Some(prefs) => {
            session
                .method_pref(MethodType::HostKey, &prefs)
                .map_err(session_err("choosing the pinned host key type"))?;
            format!("handshaking (asking for the pinned host key types {prefs})")
        }
        None => "handshaking".to_owned(),
    };
    session.handshake().map_err(session_err(&handshaking))?;
    pinned.check(config, &session)?;
    session.set_timeout(millis(config.io_timeout));
    authenticate(config, &session, private_key.as_ref())?;
    if !config.keepalive.is_zero() {
        let secs = u32::try_from(config.keepalive.as_secs()).unwrap_or(u32::MAX);
        session.set_keepalive(false, secs.max(1));
    }
    let sftp = session
        .sftp()
        .map_err(session_err("starting the sftp subsystem"))?;
    Ok(Connection {
        config,
        session,
        sftp,
    })
}

/// The pinned host key, loaded before connecting.
enum Pinned {
    /// A known_hosts file, parsed.
    KnownHosts(KnownHosts),
    /// A `SHA256:` fingerprint, and the key type to ask for.
    Fingerprint {
        sha256: String,
        key_type: Option<String>,
    },
}

impl Pinned {
    fn load(config: &SftpConfig) -> Result<Pinned, DeliverError> {
        match &config.host_key {
            HostKeyPin::Fingerprint { sha256, key_type } => {
                if !sha256.starts_with("SHA256:") {
                    return Err(DeliverError::Config {
                        host: config.host.clone(),
                        reason: format!(
                            "host key fingerprint {sha256:?} must start with SHA256: (as `ssh-keygen -lf` prints it)"
                        ),
                    });
                }
                Ok(Pinned::Fingerprint {
                    sha256: sha256.clone(),
                    key_type: key_type.clone(),
                })
            }
            HostKeyPin::KnownHosts(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| DeliverError::Io {
                    action: "cannot read known_hosts file",
                    path: path.clone(),
                    source,
                })?;
                Ok(Pinned::KnownHosts(KnownHosts::parse(&text)))
            }
        }
    }

    /// The host key algorithms to ask for: the pinned types libssh2 supports, in `ssh`'s
    /// order.
    fn method_pref(&self, config: &SftpConfig, session: &Session) -> Option<String> {
        let supported = session.supported_algs(MethodType::HostKey).ok()?;
        let types = match self {
            Pinned::KnownHosts(known) => known.key_types(&config.host, config.port),
            Pinned::Fingerprint { key_type, .. } => key_type.iter().cloned().collect(),
        };
        let prefs: Vec<&str> = types
            .iter()
            .flat_map(|t| match t.as_str() {
                "ssh-rsa" => vec!["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
                other => vec![other],
            })
            .filter(|a| supported.contains(a))
            .collect();
        (!prefs.is_empty()).then(|| prefs.join(","))
    }

    /// Refuses an unknown, mismatched or revoked host key, naming its fingerprint.
    fn check(&self, config: &SftpConfig, session: &Session) -> Result<(), DeliverError> {
        let (key, kind) = session.host_key().ok_or_else(|| DeliverError::Config {
            host: config.host.clone(),
            reason: "the server presented no host key".into(),
        })?;
        let fingerprint = session
            .host_key_hash(HashType::Sha256)
            .map(|h| format!("SHA256:{}", base64(h)))
            .unwrap_or_default();
        let key_type = key_type_name(kind).to_owned();
        let pinned_by = config.host_key.to_string();
        let mismatch = |pinned_by: String| DeliverError::HostKeyMismatch {
            host: config.host.clone(),
            port: config.port,
            key_type: key_type.clone(),
            fingerprint: fingerprint.clone(),
            pinned_by,
        };
        match self {
            Pinned::Fingerprint { sha256, .. } => {
                if sha256.trim_end_matches('=') == fingerprint {
                    Ok(())
                } else {
                    Err(mismatch(pinned_by))
                }
            }
            Pinned::KnownHosts(known) => match known.check(&config.host, config.port, key) {
                Verdict::Match => Ok(()),
                Verdict::Mismatch { line } => Err(mismatch(format!(
                    "{pinned_by}, whose line {line} pins another {key_type} key for this host \
                     (if the server's key was changed on purpose, remove that line)"
                ))),
                Verdict::Revoked { line } => Err(mismatch(format!(
                    "{pinned_by}, whose line {line} marks this key @revoked"
                ))),
                Verdict::Unknown => Err(DeliverError::UnknownHost {
                    host: config.host.clone(),
                    port: config.port,
                    key_type,
                    fingerprint,
                    pinned_by,
                }),
            },
        }
    }
}

fn key_type_name(kind: HostKeyType) -> &'static str {
    match kind {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        HostKeyType::Unknown => "unknown",
    }
}

/// Standard base64 without padding, as OpenSSH prints fingerprints.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// Answers the configured password to every keyboard-interactive prompt.
struct PasswordPrompt<'a>(&'a str);

impl ssh2::KeyboardInteractivePrompt for PasswordPrompt<'_> {
    fn prompt<'b>(
        &mut self,
        _username: &str,
        _instructions: &str,
        prompts: &[ssh2::Prompt<'b>],
    ) -> Vec<String> {
        prompts.iter().map(|_| self.0.to_owned()).collect()
    }
}

/// Key first, then (only when configured) password and keyboard-interactive.
fn authenticate(
    config: &SftpConfig,
    session: &Session,
    private_key: Option<&Secret>,
) -> Result<(), DeliverError> {
    let user = config.user.as_str();
    let offered = session
        .auth_methods(user)
        .map(str::to_owned)
        .map_err(|source| {
            if is_transient_ssh(&source) {
                DeliverError::Session {
                    host: config.host.clone(),
                    port: config.port,
                    action: "asking for authentication methods".into(),
                    source,
                }
            } else {
                auth_error(config, format!("asking for methods: {source}"), "?".into())
            }
        })?;
    if session.authenticated() {
        return Ok(());
    }
    let mut tried = Vec::new();
    let offers = |m: &str| offered.split(',').any(|o| o == m);
    if let (Some(key), Some(private)) = (&config.auth.key_file, private_key) {
        let passphrase = config.auth.passphrase.as_ref().map(Secret::expose);
        // Read by us, not by libssh2: no symbolic link is followed, and a key others may
        // read is refused.
        match session.userauth_pubkey_memory(user, None, private.expose(), passphrase) {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => tried.push(format!("publickey {} was not accepted", key.display())),
            Err(e) if is_transient_ssh(&e) => return Err(transient_auth(config, e)),
            Err(e) => tried.push(format!("publickey {}: {e}", key.display())),
        }
    }
    if let Some(password) = &config.auth.password {
        if offers("password") {
            match session.userauth_password(user, password.expose()) {
                Ok(()) if session.authenticated() => return Ok(()),
                Ok(()) => tried.push("password was not accepted".into()),
                Err(e) if is_transient_ssh(&e) => return Err(transient_auth(config, e)),
                Err(e) => tried.push(format!("password: {e}")),
            }
        }
        if offers("keyboard-interactive") {
            let mut prompt = PasswordPrompt(password.expose());
            match session.userauth_keyboard_interactive(user, &mut prompt) {
                Ok(()) if session.authenticated() => return Ok(()),
                Ok(()) => tried.push("keyboard-interactive was not accepted".into()),
                Err(e) if is_transient_ssh(&e) => return Err(transient_auth(config, e)),
                Err(e) => tried.push(format!("keyboard-interactive: {e}")),
            }
        }
    }
    if tried.is_empty() {
        tried.push("no configured credential fits an offered method".into());
    }
    Err(auth_error(config, tried.join("; "), offered))
}

fn auth_error(config: &SftpConfig, tried: String, offered: String) -> DeliverError {
    DeliverError::Auth {
        user: config.user.clone(),
        host: config.host.clone(),
        port: config.port,
        tried,
        offered,
    }
}

fn transient_auth(config: &SftpConfig, source: ssh2::Error) -> DeliverError {
    DeliverError::Session {
        host: config.host.clone(),
        port: config.port,
        action: "authenticating".into(),
        source,
    }
}

fn is_not_found(e: &ssh2::Error) -> bool {
    matches!(e.code(), ErrorCode::SFTP(FX_NO_SUCH_FILE | FX_NO_SUCH_PATH))
}

impl Connection<'_> {
    fn remote_err(
        &self,
        action: &'static str,
        path: &str,
    ) -> impl FnOnce(ssh2::Error) -> DeliverError {
        let (host, path) = (self.config.host.clone(), path.to_owned());
        move |source| DeliverError::Remote {
            host,
            path,
            action,
            source,
        }
    }

    fn location(&self, path: &str) -> String {
        let c = self.config;
        let home = if path.starts_with('/') { "" } else { "/~/" };
        format!("sftp://{}@{}:{}{home}{path}", c.user, c.host, c.port)
    }

    /// `Some(stat)` if `path` exists, `None` if it does not.
    fn stat(&self, path: &str) -> Result<Option<FileStat>, DeliverError> {
        match self.sftp.stat(Path::new(path)) {
            Ok(s) => Ok(Some(s)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.remote_err("cannot stat", path)(e)),
        }
    }

    /// The regular files of `dir`, sorted by name.
    fn list(&self, dir: &str) -> Result<Vec<(String, FileStat)>, DeliverError> {
        let mut files: Vec<(String, FileStat)> = self
            .sftp
            .readdir(Path::new(dir))
            .map_err(self.remote_err("cannot list", dir))?
            .into_iter()
            .filter(|(_, st)| st.is_file())
            .filter_map(|(p, st)| Some((p.file_name()?.to_str()?.to_owned(), st)))
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(files)
    }

    /// Looks at `dir` once before a batch: removes our leftover temporary files of the
    /// family, applies the stale policy to pending zips not in the batch, lists the rest.
    fn prepare(
        &self,
        dir: &str,
        batch: &[Outgoing],
        family: &str,
        report: &mut FolderReport,
    ) -> Result<(), DeliverError> {
        let names = self.list(dir)?.into_iter().map(|(n, _)| n);
        let (temps, pending, other_files) = sort_folder(names, batch, family);
        report.other_files = other_files;
        for temp in temps {
            let path = join_remote(dir, &temp);
            match self.sftp.unlink(Path::new(&path)) {
                Ok(()) => report.removed_temps.push(temp),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(self.remote_err("cannot remove the leftover", &path)(e)),
            }
        }
        report.stale = self.guard_stale(dir, pending)?;
        Ok(())
    }

    /// Applies the stale policy to the pending zips `names` of `dir`.
    fn guard_stale(&self, dir: &str, names: Vec<String>) -> Result<Vec<StaleFile>, DeliverError> {
        match &self.config.stale {
            StalePolicy::Refuse if !names.is_empty() => Err(DeliverError::StaleFiles {
                folder: self.location(dir),
                names,
            }),
            StalePolicy::Refuse | StalePolicy::Leave => Ok(names
                .into_iter()
                .map(|name| StaleFile {
                    name,
                    archived_to: None,
                })
                .collect()),
            StalePolicy::Archive(archive) => {
                let archive = join_remote(dir, archive);
                if !names.is_empty() && self.stat(&archive)?.is_none() {
                    self.sftp
                        .mkdir(Path::new(&archive), 0o700)
                        .map_err(self.remote_err("cannot create", &archive))?;
                }
                names
                    .into_iter()
                    .map(|name| {
                        let from = join_remote(dir, &name);
                        let to = join_remote(&archive, &name);
                        // OpenSSH's rename refuses an existing target: the archive is never
                        // overwritten.
                        self.sftp
                            .rename(Path::new(&from), Path::new(&to), None)
                            .map_err(self.remote_err(
                                "cannot archive (is the name taken in the archive?)",
                                &from,
                            ))?;
                        Ok(StaleFile {
                            name,
                            archived_to: Some(to),
                        })
                    })
                    .collect()
            }
        }
    }

    /// Creates a fresh temporary file (exclusive, mode 0600) for `name` in `dir`.
    fn create_temp(&self, dir: &str, name: &str) -> Result<(String, ssh2::File), DeliverError> {
        let mut n = 1;
        loop {
            let path = join_remote(dir, &temp_name(name, n));
            let flags = OpenFlags::WRITE | OpenFlags::EXCLUSIVE;
            match self
                .sftp
                .open_mode(Path::new(&path), flags, 0o600, OpenType::File)
            {
                Ok(f) => return Ok((path, f)),
                Err(e) => {
                    // OpenSSH answers an exclusive create of an existing name with a plain
                    // failure; look before trying the next number.
                    if n >= 1000 || self.stat(&path)?.is_none() {
                        return Err(self.remote_err("cannot create", &path)(e));
                    }
                    n += 1;
                }
            }
        }
    }

    /// Writes `local` to the new remote file; returns size and sha256.
    fn send(
        &self,
        local: &Path,
        name: &str,
        file: &mut ssh2::File,
        path: &str,
        progress: &mut dyn FnMut(u64) -> ControlFlow<()>,
    ) -> Result<(u64, String), DeliverError> {
        let mut input = File::open(local).map_err(|source| DeliverError::Io {
            action: "cannot open",
            path: local.to_owned(),
            source,
        })?;
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut size = 0u64;
        loop {
            let n = input.read(&mut buf).map_err(|source| DeliverError::Io {
                action: "cannot read",
                path: local.to_owned(),
                source,
            })?;
            if n == 0 {
                break;
            }
            write_all(&self.session, file, &buf[..n])
                .map_err(self.remote_err("cannot write", path))?;
            hash.update(&buf[..n]);
            size += n as u64;
            if progress(size).is_break() {
                return Err(DeliverError::Stopped {
                    name: name.to_owned(),
                });
            }
            // Sends a keepalive only when the interval has passed; cheap otherwise.
            let _ = self.session.keepalive_send();
        }
        // fsync@openssh.com is an extension: a server that lacks or forbids it answers with
        // a status, and the size check below still guards the upload. A broken connection
        // is an error.
        if let Err(e) = file.fsync()
            && is_transient_ssh(&e)
        {
            return Err(self.remote_err("cannot fsync", path)(e));
        }
        file.close()
            .map_err(self.remote_err("cannot close", path))?;
        Ok((size, hex::encode(hash.finalize())))
    }

    /// Reads a remote file back; returns its sha256.
    fn read_back(&self, path: &str) -> Result<String, DeliverError> {
        let mut file = self
            .sftp
            .open(Path::new(path))
            .map_err(self.remote_err("cannot open", path))?;
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = read_some(&self.session, &mut file, &mut buf)
                .map_err(self.remote_err("cannot read back", path))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
        }
        Ok(hex::encode(hash.finalize()))
    }

    /// One upload attempt: temp file, verify, rename.
    fn upload(
        &self,
        local: &Path,
        name: &str,
        progress: &mut dyn FnMut(u64) -> ControlFlow<()>,
        earlier: &mut EarlierAttempts,
    ) -> Result<(String, u64, String), DeliverError> {
        let ours = &mut earlier.temp_files;
        // Temporary files of earlier attempts are ours: remove them now the server is back.
        ours.retain(|t| matches!(self.sftp.unlink(Path::new(t)), Err(ref e) if !is_not_found(e)));
        let dir = self.config.target_dir();
        let final_path = join_remote(&dir, name);
        if self.stat(&final_path)?.is_some() {
            // The connection may have dropped after the server renamed our file but before
            // it said so: if the bytes there are ours, the delivery is done.
            if let Some((size, sha256)) = earlier.renamed.clone()
                && self.read_back(&final_path)? == sha256
            {
                return Ok((self.location(&final_path), size, sha256));
            }
            return Err(DeliverError::AlreadyExists {
                location: self.location(&final_path),
            });
        }
        let (tmp, mut file) = self.create_temp(&dir, name)?;
        ours.push(tmp.clone());
        let result = (|| {
            let (size, sha256) = self.send(local, name, &mut file, &tmp, progress)?;
            let found = self.stat(&tmp)?.and_then(|s| s.size).unwrap_or(0);
            if found != size {
                return Err(DeliverError::SizeMismatch {
                    host: self.config.host.clone(),
                    path: tmp.clone(),
                    expected: size,
                    found,
                });
            }
            if self.config.verify_sha256 {
                let back = self.read_back(&tmp)?;
                if back != sha256 {
                    return Err(DeliverError::ChecksumMismatch {
                        host: self.config.host.clone(),
                        path: tmp.clone(),
                        expected: sha256,
                        found: back,
                    });
                }
            }
            earlier.renamed = Some((size, sha256.clone()));
            if let Err(e) = self
                .sftp
                .rename(Path::new(&tmp), Path::new(&final_path), None)
            {
                return Err(if self.stat(&final_path)?.is_some() {
                    DeliverError::AlreadyExists {
                        location: self.location(&final_path),
                    }
                } else {
                    self.remote_err("cannot rename into place", &final_path)(e)
                });
            }
            Ok((size, sha256))
        })();
        let lost = result.as_ref().is_err_and(DeliverError::is_connection_lost);
        if lost {
            // A dead or frozen connection: do not wait for it to close the file and say
            // goodbye; the next attempt removes the temporary file.
            self.session.set_timeout(1);
        }
        drop(file);
        let ours = &mut earlier.temp_files;
        match result {
            Ok((size, sha256)) => {
                ours.retain(|t| t != &tmp);
                Ok((self.location(&final_path), size, sha256))
            }
            Err(e) => {
                if !lost && self.sftp.unlink(Path::new(&tmp)).is_ok() {
                    ours.retain(|t| t != &tmp);
                }
                Err(e)
            }
        }
    }

    /// Downloads `remote` to a fresh local temporary file, then links it to `into/name`.
    fn download(
        &self,
        remote: &str,
        into: &Path,
        name: &str,
        expected: Option<u64>,
    ) -> Result<Pulled, DeliverError> {
        let local = into.join(name);
        let local_io = |action, path: &Path| {
            let path = path.to_owned();
            move |source| DeliverError::Io {
                action,
                path,
                source,
            }
        };
        if local.exists() {
            return Err(DeliverError::AlreadyExists {
                location: local.display().to_string(),
            });
        }
        let tmp = into.join(temp_name(name, 1));
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let mut out = open.open(&tmp).map_err(local_io("cannot create", &tmp))?;
        let mut file = self
            .sftp
            .open(Path::new(remote))
            .map_err(self.remote_err("cannot open", remote))?;
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut size = 0u64;
        let copied = (|| {
            loop {
                let n = read_some(&self.session, &mut file, &mut buf)
                    .map_err(self.remote_err("cannot read", remote))?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n])
                    .map_err(local_io("cannot write", &tmp))?;
                hash.update(&buf[..n]);
                size += n as u64;
            }
            if expected.is_some_and(|e| e != size) {
                return Err(DeliverError::SizeMismatch {
                    host: self.config.host.clone(),
                    path: remote.to_owned(),
                    expected: expected.unwrap_or(0),
                    found: size,
                });
            }
            out.sync_all().map_err(local_io("cannot sync", &tmp))?;
            std::fs::hard_link(&tmp, &local).map_err(local_io("cannot rename into", &local))
        })();
        drop(out);
        let removed = std::fs::remove_file(&tmp).map_err(local_io("cannot remove", &tmp));
        copied?;
        removed?;
        Ok(Pulled {
            name: name.to_owned(),
            local,
            size,
            sha256: hex::encode(hash.finalize()),
        })
    }
}

/// `write_all` that keeps the ssh2 error (the `io::Write` impl loses its code).
fn write_all(session: &Session, file: &mut ssh2::File, mut buf: &[u8]) -> Result<(), ssh2::Error> {
    while !buf.is_empty() {
        match file.write(buf) {
            Ok(0) => return Err(ssh2_error(session, io::ErrorKind::WriteZero.into())),
            Ok(n) => buf = &buf[n..],
            Err(e) => return Err(ssh2_error(session, e)),
        }
    }
    Ok(())
}

/// One `read` that keeps the ssh2 error.
fn read_some(
    session: &Session,
    file: &mut ssh2::File,
    buf: &mut [u8],
) -> Result<usize, ssh2::Error> {
    file.read(buf).map_err(|e| ssh2_error(session, e))
}

/// libssh2's "socket disconnect" code, for an I/O failure that left no session error.
const SOCKET_DISCONNECT_CODE: i32 = -13;
/// libssh2's "timeout" code.
const TIMEOUT_CODE: i32 = -9;

/// Recovers the ssh2 error behind an `io::Error` from the `Read`/`Write` impls.
fn ssh2_error(session: &Session, e: io::Error) -> ssh2::Error {
    ssh2::Error::last_session_error(session).unwrap_or_else(|| {
        let code = if e.kind() == io::ErrorKind::TimedOut {
            TIMEOUT_CODE
        } else {
            SOCKET_DISCONNECT_CODE
        };
        ssh2::Error::new(
            ErrorCode::Session(code),
            "the connection failed during a transfer",
        )
    })
}

impl Sftp {
    /// Delivers one file of a batch on a connection of its own (a new one for each attempt),
    /// looking at the folder first unless an earlier file or attempt did (`folder.1`).
    fn deliver_one(
        &mut self,
        index: usize,
        file: &Outgoing,
        batch: (&[Outgoing], &str),
        folder: &mut (FolderReport, bool),
        watch: &mut Watch<'_>,
    ) -> Result<Delivered, DeliverError> {
        check_name(&file.name)?;
        let size = std::fs::metadata(&file.local)
            .map_err(|source| DeliverError::Io {
                action: "cannot open",
                path: file.local.clone(),
                source,
            })?
            .len();
        let config = &self.config;
        let mut earlier = EarlierAttempts::default();
        let mut attempts = 0;
        let mut pause = pause(&mut self.sleep, &mut self.on_retry);
        let (location, size, sha256) = config.retry.run(&mut pause, |attempt| {
            attempts = attempt;
            let conn = connect(config)?;
            let (report, looked) = &mut *folder;
            if !*looked {
                conn.prepare(&config.target_dir(), batch.0, batch.1, report)?;
                *looked = true;
            }
            if watch(Step::Starting {
                index,
                name: &file.name,
                size,
            })
            .is_break()
            {
                return Err(DeliverError::Stopped {
                    name: file.name.clone(),
                });
            }
            conn.upload(
                &file.local,
                &file.name,
                &mut |done| watch(Step::Bytes { index, done }),
                &mut earlier,
            )
        })?;
        Ok(Delivered {
            name: file.name.clone(),
            location,
            size,
            sha256,
            attempts,
        })
    }
}

impl Destination for Sftp {
    fn deliver_all(
        &mut self,
        files: &[Outgoing],
        family: &str,
        watch: &mut Watch<'_>,
    ) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let mut folder = (FolderReport::default(), false);
        deliver_each(files, watch, &mut outcome, |index, file, watch| {
            self.deliver_one(index, file, (files, family), &mut folder, watch)
        });
        outcome.folder = folder.0;
        outcome
    }

    fn pull(
        &mut self,
        from: &str,
        pattern: &str,
        into: &Path,
    ) -> Result<Vec<Pulled>, DeliverError> {
        std::fs::create_dir_all(into).map_err(|source| DeliverError::Io {
            action: "cannot create",
            path: into.to_owned(),
            source,
        })?;
        let config = &self.config;
        let dir = join_remote(&config.base_dir, from);
        let mut pulled: Vec<Pulled> = Vec::new();
        config
            .retry
            .run(&mut pause(&mut self.sleep, &mut self.on_retry), |_| {
                let conn = connect(config)?;
                for (name, stat) in conn.list(&dir)? {
                    let wanted = !name.starts_with('.') && matches_pattern(pattern, &name);
                    if wanted && !pulled.iter().any(|p| p.name == name) {
                        let remote = join_remote(&dir, &name);
                        pulled.push(conn.download(&remote, into, &name, stat.size)?);
                    }
                }
                Ok(())
            })?;
        Ok(pulled)
    }

    fn describe(&self) -> String {
        let c = &self.config;
        format!("sftp {}@{}:{} {}", c.user, c.host, c.port, c.target_dir())
    }
}
