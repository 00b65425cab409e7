//! Stage 4: write the users into zips in the work directory, split as `[package]` says, with a
//! manifest; every zip is verified before it gets its final name.

use alma_sis_package::{PackagedFile, RunInfo};
use alma_user_model::User;
use anyhow::Context as _;

use super::Run;

/// Packages the users; the files are recorded in the report. No users means no zip (the
/// manifest still records the run).
pub fn stage(run: &mut Run<'_>, users: &[User]) -> anyhow::Result<Vec<PackagedFile>> {
    let work_dir = &run.config.output.dir;
    let feed = &run.config.mapping.feed;
    let info = RunInfo {
        institution: feed.institution.clone(),
        feed: feed.name.clone(),
        timestamp: run.ctx.now.naive_local(),
        tool_version: format!("alma-sis {}", env!("CARGO_PKG_VERSION")),
        config_sha256: run.config.hash.clone(),
    };
    let package = alma_sis_package::package(work_dir, &run.config.package, &info, users)
        .with_context(|| format!("packaging into {}", work_dir.display()))?;
    for file in &package.files {
        tracing::info!(file = %file.path.display(), users = file.users, "packaged");
    }
    tracing::info!(manifest = %package.manifest_path.display(), "manifest written");
    run.report.users_written = usize::try_from(package.manifest.users)?;
    run.report.packages.extend(package.files.iter().cloned());
    Ok(package.files)
}
