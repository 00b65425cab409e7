//! Bounded retries with exponential backoff; the pause is injected so tests never wait.

use std::time::Duration;

use crate::DeliverError;

/// How often and how patiently transient faults are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, at least 1 (1 means no retry).
    pub attempts: u32,
    /// The pause after the first failed attempt; it doubles after each further one.
    pub initial_backoff: Duration,
    /// The longest pause.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt number `attempt` (1-based):
    /// `initial_backoff * 2^(attempt-1)`, capped at `max_backoff`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// Runs `op` (given the attempt number) until it succeeds, fails permanently, or the
    /// attempts are used up; `sleep` pauses between attempts, told why.
    pub(crate) fn run<T>(
        &self,
        sleep: &mut dyn FnMut(Duration, &DeliverError),
        mut op: impl FnMut(u32) -> Result<T, DeliverError>,
    ) -> Result<T, DeliverError> {
        let attempts = self.attempts.max(1);
        let mut attempt = 1;
        loop {
            match op(attempt) {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() && attempt < attempts => {
                    sleep(self.backoff(attempt), &e);
                    attempt += 1;
                }
                Err(e) if e.is_transient() && attempt > 1 => {
                    return Err(DeliverError::GaveUp {
                        attempts: attempt,
                        source: Box::new(e),
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }
}
