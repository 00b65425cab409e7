//! Packages Alma user XML into zip files that Alma's Java loader always opens.
//!
//! Users stream into a deflated XML entry inside a seekable zip (never stored with a data
//! descriptor), with fixed timestamps so the same input gives the same bytes.
//!
//! This crate must never read the clock (the run's timestamp is an argument), open network
//! connections or print, and never use a zip entry name as a file-system path.
#![deny(missing_docs)]

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use alma_user_model::{User, UserXmlWriter, WriteError, WriterOptions};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Why a package could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The zip file could not be created or written.
    #[error("cannot write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The zip library failed.
    #[error("cannot write zip {path}")]
    Zip {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: zip::result::ZipError,
    },
    /// A user could not be serialized.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// One zip written.
#[derive(Debug, Clone)]
pub struct PackagedFile {
    /// Where it was written.
    pub path: PathBuf,
    /// The XML entry's name inside it.
    pub entry: String,
    /// Users in it.
    pub users: u64,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the zip, hex.
    pub sha256: String,
}

/// Writes `users` as one XML entry `<stem>.xml` into a new zip `<dir>/<stem>.zip`.
/// Refuses to overwrite an existing file. The zip is created with mode 0600.
pub fn write_zip<'a>(
    dir: &Path,
    stem: &str,
    comment: Option<String>,
    users: impl IntoIterator<Item = &'a User>,
) -> Result<PackagedFile, PackageError> {
    let path = dir.join(format!("{stem}.zip"));
    let io_err = |source| PackageError::Io {
        path: path.clone(),
        source,
    };
    let zip_err = |source| PackageError::Zip {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let mut open = OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let file = open.open(&path).map_err(io_err)?;
    let mut zip = ZipWriter::new(BufWriter::new(file));
    let entry = format!("{stem}.xml");
    let options = SimpleFileOptions::DEFAULT.compression_method(CompressionMethod::Deflated);
    zip.start_file(entry.as_str(), options).map_err(zip_err)?;
    let mut writer = UserXmlWriter::new(&mut zip, &WriterOptions { comment })?;
    for user in users {
        writer.write_user(user)?;
    }
    let count = writer.users_written();
    writer.finish()?;
    let mut inner = zip.finish().map_err(zip_err)?;
    inner.flush().map_err(io_err)?;
    drop(inner);
    let (size, sha256) = sha256_file(&path).map_err(io_err)?;
    Ok(PackagedFile {
        path,
        entry,
        users: count,
        size,
        sha256,
    })
}

/// Size and hex sha256 of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hex::encode(hasher.finalize())))
}
