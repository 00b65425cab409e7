//! Stage 1: read the extract and apply the mapping rules.

use alma_user_model::User;

use super::Run;
use crate::exit::{Exit, Failure};

/// Reads and maps the configured extract; every row's decision goes into the report.
pub fn stage(run: &mut Run<'_>) -> anyhow::Result<Vec<User>> {
    let extraction = sis_extract::extract(&run.config.mapping, &run.config.base_dir, run.today)
        .map_err(|e| Failure::error(Exit::ConfigOrInput, e.to_string()))?;
    for warning in &extraction.warnings {
        tracing::warn!("{warning}");
    }
    run.report.rows = extraction.rows;
    let mut users: Vec<User> = extraction.users.into_iter().map(|m| m.user).collect();
    if !run.args.only.is_empty() {
        users.retain(|u| run.args.only.iter().any(|id| id == &u.primary_id));
    }
    Ok(users)
}
