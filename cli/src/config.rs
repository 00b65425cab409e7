//! The `alma-sis.toml` file: the mapping (owned by `sis-extract`) plus where output goes.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;
use sis_extract::MappingConfig;

use crate::exit::{Exit, Failure};

/// Sections the CLI owns; everything else belongs to the mapping.
const CLI_SECTIONS: [&str; 2] = ["output", "delivery"];

/// The whole config file.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// The directory relative input paths are resolved against.
    pub base_dir: PathBuf,
    /// The raw bytes' sha256, hex: identifies the config in reports and XML comments.
    pub hash: String,
    /// The mapping rules.
    pub mapping: MappingConfig,
    /// `[output]`.
    pub output: OutputConfig,
    /// `[delivery]`.
    pub delivery: DeliveryConfig,
}

/// `[output]`: where work files go. Relative paths are resolved against the current directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Work directory for zips, reports and rejects.
    #[serde(default = "default_out")]
    pub dir: PathBuf,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig { dir: default_out() }
    }
}

fn default_out() -> PathBuf {
    PathBuf::from("out")
}

/// `[delivery]`: where finished zips go. Relative paths are resolved against the current
/// directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// A local drop folder.
    #[serde(default = "default_drop")]
    pub drop_folder: PathBuf,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            drop_folder: default_drop(),
        }
    }
}

fn default_drop() -> PathBuf {
    PathBuf::from("out/drop")
}

impl AppConfig {
    /// Reads and validates the config file.
    pub fn load(path: &Path) -> anyhow::Result<AppConfig> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read config {}", path.display()))
            .map_err(|e| Failure::error(Exit::ConfigOrInput, format!("{e:#}")))?;
        let text = String::from_utf8(bytes.clone()).map_err(|_| {
            Failure::error(
                Exit::ConfigOrInput,
                format!("config {} is not UTF-8", path.display()),
            )
        })?;
        let invalid = |e: toml::de::Error| {
            Failure::error(
                Exit::ConfigOrInput,
                format!("config {}: {e}", path.display()),
            )
        };
        let mut table: toml::Table = toml::from_str(&text).map_err(invalid)?;
        let output = match table.remove(CLI_SECTIONS[0]) {
            Some(v) => v.try_into().map_err(invalid)?,
            None => OutputConfig::default(),
        };
        let delivery = match table.remove(CLI_SECTIONS[1]) {
            Some(v) => v.try_into().map_err(invalid)?,
            None => DeliveryConfig::default(),
        };
        let mapping: MappingConfig = toml::Value::Table(table).try_into().map_err(invalid)?;
        let base_dir = path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(AppConfig {
            path: path.to_owned(),
            base_dir,
            hash: crate::cmd::sha256_hex(&bytes),
            mapping,
            output,
            delivery,
        })
    }
}
