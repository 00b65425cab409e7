//! Why a delivery failed, with what a person needs to act: host, path, fingerprint.

use std::io;
use std::path::PathBuf;

/// libssh2 session error codes that mean the connection broke or stalled.
const SOCKET_SEND: i32 = -7;
const SESSION_TIMEOUT: i32 = -9;
const SOCKET_DISCONNECT: i32 = -13;
const SOCKET_TIMEOUT: i32 = -30;
const SOCKET_RECV: i32 = -43;
/// SFTP status codes for a lost connection.
const FX_NO_CONNECTION: i32 = 6;
const FX_CONNECTION_LOST: i32 = 7;

/// Why a delivery (or a pull) failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// A local file operation failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The local path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The final name is taken; names must be unique per run.
    #[error("{location} already exists at the destination; refusing to overwrite it")]
    AlreadyExists {
        /// The final location that exists.
        location: String,
    },
    /// A file name that cannot be delivered as given.
    #[error(
        "{name:?} is not a deliverable file name (one component, not hidden, not ending in .part)"
    )]
    BadName {
        /// The name.
        name: String,
    },
    /// The private key file is refused (a symbolic link, not a regular file, readable by
    /// others) or unreadable.
    #[error("private key file {path}: {reason}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// The caller stopped the batch (e.g. on SIGINT) before this file arrived; its temporary
    /// file was removed.
    #[error("stopped on request before {name} arrived")]
    Stopped {
        /// The file's final name.
        name: String,
    },
    /// The destination settings are unusable.
    #[error("{host}: {reason}")]
    Config {
        /// The host (or folder) concerned.
        host: String,
        /// What is wrong.
        reason: String,
    },
    /// The TCP connection could not be made (transient: retried).
    #[error("cannot connect to {host}:{port}")]
    Connect {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The SSH session failed (handshake, or the connection dropped).
    #[error("SSH session with {host}:{port} failed while {action}")]
    Session {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// What was being done.
        action: String,
        /// The cause.
        #[source]
        source: ssh2::Error,
    },
    /// The server's host key is not pinned for this host: refused before authentication.
    #[error(
        "host key of {host}:{port} is unknown ({key_type} {fingerprint} is not pinned by {pinned_by}); refusing to connect. If this key is right, add it to the known_hosts file or set delivery.host_key_fingerprint"
    )]
    UnknownHost {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// The presented key's type, e.g. `ssh-ed25519`.
        key_type: String,
        /// The presented key's `SHA256:` fingerprint, as `ssh-keygen -lf` prints it.
        fingerprint: String,
        /// The known_hosts file or the pinned fingerprint.
        pinned_by: String,
    },
    /// The server presented a different key than the one pinned: refused before
    /// authentication (possible man-in-the-middle, or the server was rebuilt).
    #[error(
        "HOST KEY MISMATCH for {host}:{port}: it presented {key_type} {fingerprint}, which does not match {pinned_by}; refusing to connect"
    )]
    HostKeyMismatch {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// The presented key's type.
        key_type: String,
        /// The presented key's `SHA256:` fingerprint.
        fingerprint: String,
        /// The known_hosts file or the pinned fingerprint.
        pinned_by: String,
    },
    /// Authentication failed (never retried).
    #[error(
        "authentication of {user}@{host}:{port} failed ({tried}; the server offers: {offered})"
    )]
    Auth {
        /// The user.
        user: String,
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// The methods tried, with their failures.
        tried: String,
        /// The methods the server offers.
        offered: String,
    },
    /// A remote file operation failed.
    #[error("{action} {host}:{path}")]
    Remote {
        /// The host.
        host: String,
        /// The remote path.
        path: String,
        /// What was being done.
        action: &'static str,
        /// The cause.
        #[source]
        source: ssh2::Error,
    },
    /// The uploaded temporary file does not have the size sent.
    #[error("{host}:{path} has {found} bytes after upload, {expected} were sent")]
    SizeMismatch {
        /// The host.
        host: String,
        /// The remote path.
        path: String,
        /// Bytes sent.
        expected: u64,
        /// Bytes found.
        found: u64,
    },
    /// Reading the uploaded file back gave other bytes than were sent.
    #[error("{host}:{path} reads back with sha256 {found}, {expected} was sent")]
    ChecksumMismatch {
        /// The host.
        host: String,
        /// The remote path.
        path: String,
        /// sha256 of the bytes sent.
        expected: String,
        /// sha256 of the bytes read back.
        found: String,
    },
    /// Unprocessed `.zip` files are in the target folder and the policy is to refuse.
    #[error(
        "{folder} still holds {} .zip file(s) Alma has not processed ({}); refusing to add another (delivery.stale = \"refuse\")", names.len(), names.join(", ")
    )]
    StaleFiles {
        /// The target folder.
        folder: String,
        /// The stale file names.
        names: Vec<String>,
    },
    /// Transient faults persisted through every attempt.
    #[error("gave up after {attempts} attempts")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        #[source]
        source: Box<DeliverError>,
    },
}

impl DeliverError {
    /// Whether a new attempt could succeed: connection refused, reset, dropped or timed out,
    /// or an upload that did not verify. Host key, authentication, names and stale files are
    /// permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            DeliverError::Connect { .. }
            | DeliverError::SizeMismatch { .. }
            | DeliverError::ChecksumMismatch { .. } => true,
            DeliverError::Session { source, .. } | DeliverError::Remote { source, .. } => {
                is_transient_ssh(source)
            }
            _ => false,
        }
    }
}

impl DeliverError {
    /// Whether the connection broke or stalled (as opposed to a bad upload on a live one).
    pub(crate) fn is_connection_lost(&self) -> bool {
        match self {
            DeliverError::Connect { .. } => true,
            DeliverError::Session { source, .. } | DeliverError::Remote { source, .. } => {
                is_transient_ssh(source)
            }
            _ => false,
        }
    }
}

/// Whether an ssh2 error means the connection broke or stalled.
pub(crate) fn is_transient_ssh(e: &ssh2::Error) -> bool {
    match e.code() {
        ssh2::ErrorCode::Session(c) => matches!(
            c,
            SOCKET_SEND | SESSION_TIMEOUT | SOCKET_DISCONNECT | SOCKET_TIMEOUT | SOCKET_RECV
        ),
        ssh2::ErrorCode::SFTP(c) => matches!(c, FX_NO_CONNECTION | FX_CONNECTION_LOST),
    }
}
