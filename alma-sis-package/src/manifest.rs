//! The run's manifest: every zip with its size, sha256, users and XML entries, plus the tool
//! version and config hash so a job report can be traced back to the run.

use serde::{Deserialize, Serialize};

/// One run's packages, written as JSON next to the zips.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The tool that wrote the run, e.g. `alma-sis 0.1.0`.
    pub tool_version: String,
    /// The config file's sha256, hex.
    pub config_sha256: String,
    /// The institution code.
    pub institution: String,
    /// The feed's name.
    pub feed: String,
    /// The run's moment, `YYYY-MM-DDTHH:MM:SS`.
    pub timestamp: String,
    /// Users in all files.
    pub users: u64,
    /// The zips, in order.
    pub files: Vec<ManifestFile>,
}

/// One zip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// The file name (no directory).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the whole file, hex.
    pub sha256: String,
    /// Users in all its entries.
    pub users: u64,
    /// Its XML entries, in order.
    pub entries: Vec<ManifestEntry>,
}

/// One XML file inside a zip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// The entry's name.
    pub name: String,
    /// `<user>` elements in it.
    pub users: u64,
    /// Uncompressed size in bytes.
    pub size: u64,
    /// Compressed size in bytes.
    pub compressed_size: u64,
    /// CRC-32 of the uncompressed bytes.
    pub crc32: u32,
}
