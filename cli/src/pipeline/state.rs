//! Stages 3 and 6: decide what to send from what was sent before (full or delta, vanished
//! people, the brake), and record what was sent once it was delivered.

use alma_user_model::User;

use super::Run;

/// What this run will send.
pub struct Plan {
    /// Users to package, in order.
    pub to_send: Vec<User>,
}

/// Decides what to send. For now: everyone eligible (full mode).
pub fn plan(_run: &mut Run<'_>, users: Vec<User>) -> anyhow::Result<Plan> {
    Ok(Plan { to_send: users })
}

/// Records what was sent.
pub fn record(_run: &mut Run<'_>, _plan: &Plan) -> anyhow::Result<()> {
    Ok(())
}
