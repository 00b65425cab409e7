//! Golden files: each is recomputed by an ordinary test and rewritten by
//! `cargo xtask fixtures`.

use std::path::{Path, PathBuf};

use alma_user_model::{UserXmlWriter, WriterOptions};
use anyhow::Context as _;
use chrono::NaiveDate;

use crate::config::AppConfig;

/// The date the demo goldens are computed for.
pub fn demo_today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).expect("a valid date")
}

/// One golden file: where it lives (relative to the workspace root) and its expected bytes.
pub struct Golden {
    /// Path relative to the workspace root.
    pub path: PathBuf,
    /// The bytes it must hold.
    pub contents: Vec<u8>,
}

/// Computes every golden file from the sources in the workspace rooted at `root`.
pub fn goldens(root: &Path) -> anyhow::Result<Vec<Golden>> {
    let mut goldens = vec![Golden {
        path: PathBuf::from("examples/demo/expected/users.xml"),
        contents: demo_users_xml(root)?,
    }];
    // The demo's Leganto course file, as a first `courses run` delivers it.
    goldens.push(Golden {
        path: PathBuf::from(crate::courses::DEMO_COURSE_FILE),
        contents: crate::courses::demo_course_file(root)?,
    });
    // `check`'s corpus of broken inputs, one defect each.
    goldens.extend(
        alma_sis_package::check::corpus::corpus()
            .into_iter()
            .map(|file| Golden {
                path: Path::new(alma_sis_package::check::corpus::CORPUS_DIR).join(file.name),
                contents: file.bytes,
            }),
    );
    Ok(goldens)
}

/// The demo's user XML, as `run` writes it into the zip (without the provenance comment).
pub fn demo_users_xml(root: &Path) -> anyhow::Result<Vec<u8>> {
    let config = AppConfig::load(&root.join("examples/demo/alma-sis.toml"))?;
    let extraction = sis_extract::extract(&config.mapping, &config.base_dir, demo_today())
        .context("extracting the demo")?;
    let mut writer = UserXmlWriter::new(Vec::new(), &WriterOptions::default())?;
    for mapped in &extraction.users {
        writer.write_user(&mapped.user)?;
    }
    Ok(writer.finish()?)
}
