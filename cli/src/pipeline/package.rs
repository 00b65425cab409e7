//! Stage 4: the users are written into zips in the work directory as the pass hands them over,
//! split as `[package]` says; every zip is verified, and only a run that goes on to deliver
//! publishes them (final names and a manifest). A run stopped before that (the brake,
//! `--strict`, an error) leaves no zip behind.

use alma_sis_package::{Package, PackagedFile, Packager, RunInfo, Staged};
use anyhow::Context as _;

use super::Run;

/// A packager for this run's users, writing into the work directory.
pub fn packager(run: &Run<'_>) -> anyhow::Result<Packager> {
    let work_dir = &run.config.output.dir;
    let feed = &run.config.mapping.feed;
    let info = RunInfo {
        institution: feed.institution.clone(),
        feed: feed.name.clone(),
        timestamp: run.ctx.now.naive_local(),
        tool_version: format!("alma-sis {}", env!("CARGO_PKG_VERSION")),
        config_sha256: run.config.hash.clone(),
    };
    Packager::new(work_dir, &run.config.package, &info)
        .with_context(|| format!("packaging into {}", work_dir.display()))
}

/// Gives the verified zips their final names and writes the manifest; the files go into the
/// report. No users means no zip (the manifest still records the run).
pub fn publish(run: &mut Run<'_>, staged: Staged) -> anyhow::Result<Vec<PackagedFile>> {
    let work_dir = &run.config.output.dir;
    let package: Package = staged
        .publish()
        .with_context(|| format!("packaging into {}", work_dir.display()))?;
    for file in &package.files {
        tracing::info!(file = %file.path.display(), users = file.users, "packaged");
    }
    tracing::info!(manifest = %package.manifest_path.display(), "manifest written");
    run.report.users_written = usize::try_from(package.manifest.users)?;
    run.report.packages.extend(package.files.iter().cloned());
    Ok(package.files)
}
