//! The Alma load file both ways: [`Packager`] writes users into the zips Alma's Java loader
//! opens, [`check::Checker`] reads any load file for every failure before Alma does, and
//! [`plan::AlmaExport`] compares a load with Alma's own export.
//!
//! Zips are split within Alma's limits (at most 50 XML files per zip, 20 zips per run, under
//! 4 GB per zip), named from a pattern, described by a JSON manifest and verified before they
//! get their final names.
//!
//! Users stream into deflated XML entries inside seekable zips (never stored with a data
//! descriptor), with the run's timestamp on every entry and a fixed order, so the same users,
//! config and timestamp give byte-identical zips. [`Packager`] takes users one at a time,
//! deflates their XML in chunks on two threads with bounded memory, and verifies each entry
//! as soon as it is written; [`package`] wraps it for a list of users.
//!
//! ```
//! use alma_sis_package::{PackageConfig, RunInfo, package};
//! use alma_user_model::User;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let run = RunInfo {
//!     institution: "DEMO".into(),
//!     feed: "patrons".into(),
//!     timestamp: "2026-11-23T04:00:00".parse()?,
//!     run_id: 1,
//!     tool_version: "alma-sis 0.1.0".into(),
//!     config_sha256: "0".repeat(64),
//! };
//! let users = vec![User::new("jdoe"), User::new("asmith")];
//! let written = package(dir.path(), &PackageConfig::default(), &run, &users)?;
//! assert_eq!(written.files[0].name, "DEMO_patrons_20261123040000_r1_01.zip");
//! assert_eq!(written.manifest.users, 2);
//! # Ok(())
//! # }
//! ```
//!
//! This crate never reads the clock for anything it writes (the run's timestamp is an
//! argument; only [`PackStats`] measures durations), opens network connections or prints,
//! and never uses a zip entry name as a file-system path.
#![deny(missing_docs)]

pub mod check;
pub mod plan;

mod assemble;
mod config;
mod context;
mod deflate;
mod error;
mod manifest;
mod priority;
mod verify;
mod write;
mod zip32;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use config::{
    ALMA_MAX_FILES_PER_ZIP, ALMA_MAX_ZIP_BYTES, ALMA_MAX_ZIPS, PackageConfig, RunInfo,
};
pub use error::{PackageError, VerifyError};
pub use manifest::{Manifest, ManifestEntry, ManifestFile};
pub use verify::{match_values, primary_ids, verify};
pub use write::{PackStats, Package, Packager, Staged, package};

/// The deflate level every entry is compressed at (zlib's default): what a comparison with
/// another compressor (`pigz -6`) must use.
pub const COMPRESSION_LEVEL: u32 = 6;

/// One zip written under its final name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagedFile {
    /// Where it was written.
    pub path: PathBuf,
    /// Its file name.
    pub name: String,
    /// Users in it.
    pub users: u64,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the zip, hex.
    pub sha256: String,
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
