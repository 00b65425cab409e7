//! `alma-sis init`: an annotated config and a small sample extract to start from.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::Context;
use crate::exit::{Exit, Failure};

/// The files `init` writes: name and contents.
const FILES: [(&str, &str); 3] = [
    ("alma-sis.toml", include_str!("init/alma-sis.toml")),
    ("people.csv", include_str!("init/people.csv")),
    ("terms.csv", include_str!("init/terms.csv")),
];

/// Arguments of `alma-sis init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The directory to write alma-sis.toml, people.csv and terms.csv into (created if
    /// missing). Existing files are never overwritten.
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// Runs `alma-sis init`.
pub fn run(_ctx: &Context, args: InitArgs) -> anyhow::Result<Exit> {
    let dir = &args.dir;
    let taken: Vec<String> = FILES
        .iter()
        .map(|(name, _)| dir.join(name))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !taken.is_empty() {
        return Err(Failure::error(
            Exit::ConfigOrInput,
            format!(
                "not overwriting {}; choose another directory",
                taken.join(", ")
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Failure::error(
            Exit::ConfigOrInput,
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    for (name, contents) in FILES {
        write_new(&dir.join(name), contents)?;
    }
    let config = dir.join("alma-sis.toml");
    println!("wrote {}, people.csv and terms.csv", config.display());
    println!("next:");
    println!("  alma-sis --config {} explain 1003", config.display());
    println!("  alma-sis --config {} run --dry-run", config.display());
    Ok(Exit::Ok)
}

/// Creates a new file, mode 0600 (it is the shape of personal data), never replacing one.
fn write_new(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| {
        Failure::error(
            Exit::ConfigOrInput,
            format!("cannot create {}: {e}", path.display()),
        )
    })?;
    file.write_all(contents.as_bytes()).map_err(|e| {
        Failure::error(
            Exit::ConfigOrInput,
            format!("cannot write {}: {e}", path.display()),
        )
    })?;
    Ok(())
}
