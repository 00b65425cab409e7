//! Stage 4: write the users into zips in the work directory.

use alma_sis_package::PackagedFile;
use alma_user_model::User;
use anyhow::Context as _;

use super::Run;

/// Packages the users; the files are recorded in the report.
pub fn stage(run: &mut Run<'_>, users: &[User]) -> anyhow::Result<Vec<PackagedFile>> {
    let work_dir = &run.config.output.dir;
    let comment = format!(
        "alma-sis {} config-sha256 {}",
        env!("CARGO_PKG_VERSION"),
        run.config.hash
    );
    let packaged = alma_sis_package::write_zip(work_dir, &run.stem, Some(comment), users)
        .with_context(|| format!("packaging into {}", work_dir.display()))?;
    tracing::info!(file = %packaged.path.display(), users = packaged.users, "packaged");
    run.report.users_written = packaged.users as usize;
    run.report.packages.push(packaged.clone());
    Ok(vec![packaged])
}
