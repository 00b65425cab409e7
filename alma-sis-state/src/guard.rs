//! How the state's files are opened and waited for.
//!
//! - **No link is followed.** The state file and a feed's lock file are opened with
//!   `O_NOFOLLOW` after a `lstat` that refuses a symbolic link (or anything but a regular
//!   file) at their names, and their mode is set through the open descriptor, never by path:
//!   a link planted at one of these names is an error, no file appears at a link's target and
//!   no other file's mode changes. SQLite opens the state file by name once more; the file
//!   it opened is checked to be the one opened here before anything is written. SQLite
//!   itself opens the `-wal` and `-shm` companions with `O_NOFOLLOW`; a link there is
//!   refused up front with the same clear error.
//! - **Waiting is bounded and told.** A busy feed lock or SQLite write lock is waited for up
//!   to a limit; the caller is told once, when the wait starts, what it waits for
//!   ([`Waiting`]); past the limit the error is [`StateError::Busy`]. Only the wait is
//!   timed: nothing here reads the date.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::StateError;

/// Something a run waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// Another run of the same feed holds the feed's lock file.
    FeedLock {
        /// The feed.
        feed: String,
        /// The lock file.
        lock_path: PathBuf,
        /// The process that holds it, as it wrote into the lock file (if it did).
        holder: Option<u32>,
        /// How long the wait may last.
        limit: Duration,
    },
    /// Another process holds SQLite's write lock on the state file (a run of another feed
    /// of this file between its planning and its record, or a tool writing to it).
    WriteLock {
        /// The state file.
        path: PathBuf,
        /// How long the wait may last.
        limit: Duration,
    },
}

impl std::fmt::Display for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Waiting::FeedLock {
                feed,
                lock_path,
                holder,
                limit,
            } => write!(
                f,
                "waiting up to {} for another run of feed {feed:?} to finish: {} holds the \
                 feed's lock {}",
                secs(*limit),
                held_by(*holder),
                lock_path.display()
            ),
            Waiting::WriteLock { path, limit } => write!(
                f,
                "waiting up to {} for the state file {}: another process holds its write lock \
                 (a run of another feed of this file, or a tool writing to it)",
                secs(*limit),
                path.display()
            ),
        }
    }
}

/// A wait's length for people: `600 s`, `0.3 s`.
pub(super) fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// "process 1234" or "another process".
pub(super) fn held_by(holder: Option<u32>) -> String {
    holder.map_or_else(|| "another process".to_owned(), |p| format!("process {p}"))
}

/// Told when a wait starts.
pub type WaitNotice = Arc<dyn Fn(&Waiting) + Send + Sync>;

/// How long to wait for a busy state file or feed lock, and whom to tell.
#[derive(Clone)]
pub struct WaitPolicy {
    /// The longest wait; zero gives up at once.
    pub limit: Duration,
    /// Told once per wait, when it starts.
    pub notice: WaitNotice,
}

impl WaitPolicy {
    /// Waits up to `limit`, telling nobody.
    pub fn silent(limit: Duration) -> WaitPolicy {
        WaitPolicy {
            limit,
            notice: Arc::new(|_| {}),
        }
    }
}

impl std::fmt::Debug for WaitPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitPolicy")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// What was busy when a wait ran out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// The feed's lock, held by another run of the feed.
    FeedLock {
        /// The feed.
        feed: String,
        /// The process that holds it, if known.
        holder: Option<u32>,
    },
    /// SQLite's write lock on the state file.
    WriteLock,
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Held::FeedLock { feed, holder } => write!(
                f,
                "another run of feed {feed:?} ({}) still holds its lock",
                held_by(*holder)
            ),
            Held::WriteLock => f.write_str("another process still holds its write lock"),
        }
    }
}

/// `path` with `suffix` appended to its last component.
pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Refuses a symbolic link, or anything but a regular file, at `path`; nothing there is fine.
pub(super) fn refuse_link(path: &Path) -> Result<(), StateError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(StateError::Link {
            path: path.to_owned(),
        }),
        Ok(meta) if !meta.is_file() => Err(StateError::NotAFile {
            path: path.to_owned(),
        }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StateError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Opens the regular file at `path` for reading and writing, creating it with mode 0600,
/// without following a symbolic link at that name; its mode is then set to 0600 through the
/// descriptor.
pub(super) fn open_private(path: &Path) -> Result<File, StateError> {
    refuse_link(path)?;
    let io_err = |source| StateError::Io {
        path: path.to_owned(),
        source,
    };
    let mut open = OpenOptions::new();
    open.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = open.open(path).map_err(|e| {
        // A link planted between the check and the open.
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return StateError::Link {
                path: path.to_owned(),
            };
        }
        io_err(e)
    })?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(StateError::NotAFile {
            path: path.to_owned(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o7777 != 0o600 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(io_err)?;
        }
    }
    Ok(file)
}

/// Whether `path` (not followed if a link) is still the file `file` has open.
pub(super) fn still_same(file: &File, path: &Path) -> Result<(), StateError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let io_err = |source| StateError::Io {
            path: path.to_owned(),
            source,
        };
        let ours = file.metadata().map_err(io_err)?;
        let now = std::fs::symlink_metadata(path).map_err(io_err)?;
        if now.file_type().is_symlink() || (now.dev(), now.ino()) != (ours.dev(), ours.ino()) {
            return Err(StateError::Link {
                path: path.to_owned(),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (file, path);
    Ok(())
}

/// Writes this process's id into a lock file it holds, for whoever waits on it.
pub(super) fn write_holder(file: &mut File) {
    // Only a hint for a waiting run's message: a failure costs nothing else.
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()));
}

/// The process id a lock file's holder wrote into it.
pub(super) fn read_holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Tries `attempt` until it gives `Some`, pausing a little longer each time (up to a
/// quarter second), until `limit` has passed: `None` then.
pub(super) fn retry<T>(
    limit: Duration,
    mut attempt: impl FnMut() -> Result<Option<T>, StateError>,
) -> Result<Option<T>, StateError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Ok(None);
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(250));
        if let Some(done) = attempt()? {
            return Ok(Some(done));
        }
    }
}

/// A SQLite busy handler: tells `policy.notice` once per wait, then sleeps a little longer
/// each time until `policy.limit` has passed.
pub(super) fn busy_handler(
    path: PathBuf,
    policy: WaitPolicy,
) -> impl FnMut(i32) -> bool + Send + 'static {
    let mut started = Instant::now();
    move |count| {
        if count == 0 {
            started = Instant::now();
            (policy.notice)(&Waiting::WriteLock {
                path: path.clone(),
                limit: policy.limit,
            });
        }
        let left = policy.limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            return false;
        }
        let pause = Duration::from_millis(10u64 << count.clamp(0, 5) as u32);
        std::thread::sleep(pause.min(left));
        true
    }
}

/// Whether SQLite gave up on a lock another connection holds.
pub(super) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
