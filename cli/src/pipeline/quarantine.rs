//! Stage 2: check every user before packaging; users with error-level findings are
//! quarantined so the rest still load.

use alma_user_model::{User, render_user};
use sis_extract::Decision;

use super::Run;

/// Keeps the users that can be written; rejects the rest with their reasons.
pub fn stage(run: &mut Run<'_>, users: Vec<User>) -> anyhow::Result<Vec<User>> {
    let mut scratch = Vec::new();
    let mut keep = Vec::with_capacity(users.len());
    for user in users {
        scratch.clear();
        match render_user(&user, &mut scratch) {
            Ok(()) => keep.push(user),
            Err(err) => {
                tracing::warn!(primary_id = %user.primary_id, "user rejected: {err}");
                for outcome in run.report.rows.iter_mut() {
                    if matches!(&outcome.decision, Decision::Written { primary_id } if *primary_id == user.primary_id)
                    {
                        outcome.decision = Decision::Rejected {
                            errors: vec![err.to_string()],
                        };
                    }
                }
            }
        }
    }
    Ok(keep)
}
