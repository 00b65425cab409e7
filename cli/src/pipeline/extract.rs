//! Stage 1: read the extract and apply the mapping rules.

use alma_user_model::User;
use sis_extract::Extractor;

use super::Run;
use crate::exit::{Exit, Failure};

/// Reads and maps the configured extract; every row's decision goes into the report.
pub fn stage(run: &mut Run<'_>) -> anyhow::Result<Vec<User>> {
    let input_error =
        |e: sis_extract::ExtractError| Failure::error(Exit::ConfigOrInput, e.to_string());
    // Traces are for `alma-sis explain`; a run keeps only decisions.
    let extractor = Extractor::new(&run.config.mapping, &run.config.base_dir, run.today)
        .map_err(input_error)?
        .with_trace(false);
    for warning in extractor.warnings() {
        tracing::warn!("{warning}");
    }
    // Sized once: growing by doubling copies the list and can leave half of it unused.
    let people = extractor.people();
    let mut users = Vec::with_capacity(people.size_hint().0);
    run.report.rows.reserve(people.size_hint().0);
    for person in people {
        run.report.rows.extend(person.rows);
        if let Some(mut mapped) = person.user {
            mapped.user.shrink_to_fit();
            users.push(mapped.user);
        }
    }
    if !run.args.only.is_empty() {
        users.retain(|u| run.args.only.iter().any(|id| id == &u.primary_id));
    }
    users.shrink_to_fit();
    Ok(users)
}
