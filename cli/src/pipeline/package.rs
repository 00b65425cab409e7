//! Stage 4: the users are written into zips in the work directory as the pass hands them over,
//! split as `[package]` says; every zip is verified, and only a run that goes on to deliver
//! publishes them (final names and a manifest). A run stopped before that (the brake,
//! `--strict`, an error, a signal) leaves no zip behind; what a killed run (SIGKILL, a power
//! cut) left under a temporary name is removed by the feed's next run and reported.

use alma_sis_package::{Package, PackagedFile, Packager, RunInfo, Staged};
use anyhow::Context as _;

use super::report::Run;

/// A packager for this run's users, writing into the work directory.
pub fn packager(run: &Run<'_>) -> anyhow::Result<Packager> {
    let work_dir = &run.config.output.dir;
    let feed = &run.config.mapping.feed;
    let info = RunInfo {
        institution: feed.institution.clone(),
        feed: feed.name.clone(),
        timestamp: run.ctx.now.naive_local(),
        // Set once the run state recorded the run, before anything is packaged.
        run_id: run.run_id.map_or(0, |id| u64::try_from(id.0).unwrap_or(0)),
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

/// Removes the unfinished zips (`<zip name>.partial`) of this feed that a killed earlier run
/// left in the work directory, and puts them in the report. The feed's lock is held, so no
/// other run of the feed is writing them.
pub fn remove_leftovers(run: &mut Run<'_>) {
    let dir = &run.config.output.dir;
    let family = format!("{}.partial", super::deliver::family(run));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| sftp_deliver::matches_pattern(&family, n))
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                tracing::warn!(file = %path.display(), "removed an unfinished zip an interrupted earlier run left");
                run.report.removed_partials.push(name);
            }
            Err(e) => {
                tracing::error!(file = %path.display(), "cannot remove an unfinished zip an interrupted earlier run left: {e}");
            }
        }
    }
}
