//! The private key is read as OpenSSH reads it: never through a symbolic link, and refused
//! when its group or others may read it ("UNPROTECTED PRIVATE KEY FILE").

use std::io::Read as _;
use std::path::Path;

use crate::{DeliverError, Secret};

/// Reads a private key file: opened without following a symbolic link at its name (a link
/// is refused), it must be a regular file that neither its group nor others may read or
/// write (mode `0600` or `0400`), as `ssh` demands. The bytes come back as a [`Secret`].
pub fn read_private_key(path: &Path) -> Result<Secret, DeliverError> {
    let refuse = |reason: String| DeliverError::KeyFile {
        path: path.to_owned(),
        reason,
    };
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut open, libc::O_NOFOLLOW);
    let mut file = open.open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            refuse("it is a symbolic link; name the key file itself".into())
        } else {
            refuse(format!("cannot open it: {e}"))
        }
    })?;
    // The checks look at the file opened, not at the name, which could change in between.
    let meta = file
        .metadata()
        .map_err(|e| refuse(format!("cannot read its metadata: {e}")))?;
    if !meta.is_file() {
        return Err(refuse("it is not a regular file".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(refuse(format!(
                "its permissions {mode:04o} let others read it; a private key must be \
                 private (chmod 600 it), as ssh refuses it too"
            )));
        }
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| refuse(format!("cannot read it as text: {e}")))?;
    Ok(Secret::new(text))
}
