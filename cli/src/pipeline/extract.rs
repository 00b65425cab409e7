//! Stage 1: read the extract and apply the mapping rules. The inputs are indexed first (`read`);
//! then people are mapped one at a time on a thread of their own and handed to the run's pass
//! through a short queue, so mapping overlaps with checking, rendering and compressing.

use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use sis_extract::{Extractor, PersonOutcome};

use super::Run;
use crate::exit::{Exit, Failure};

/// People mapped ahead of the pass: enough to keep both threads busy, few enough to be small.
const QUEUE: usize = 256;

/// Reads and indexes the configured inputs.
pub fn open<'c>(run: &Run<'c>) -> anyhow::Result<Extractor<'c>> {
    let input_error =
        |e: sis_extract::ExtractError| Failure::error(Exit::ConfigOrInput, e.to_string());
    // Traces are for `alma-sis explain`; a run keeps only decisions.
    let extractor = Extractor::new(&run.config.mapping, &run.config.base_dir, run.today)
        .map_err(input_error)?
        .with_trace(false);
    for warning in extractor.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(extractor)
}

/// Maps every person on a thread of the scope; the thread returns the time it spent mapping.
/// It stops early when the receiver is dropped.
pub fn spawn<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    extractor: &'env Extractor<'env>,
) -> (Receiver<PersonOutcome>, ScopedJoinHandle<'scope, Duration>) {
    let (tx, rx) = sync_channel(QUEUE);
    let handle = scope.spawn(move || {
        let mut busy = Duration::ZERO;
        let mut people = extractor.people();
        loop {
            let start = Instant::now();
            let next = people.next();
            busy += start.elapsed();
            let Some(person) = next else { break };
            if tx.send(person).is_err() {
                break;
            }
        }
        busy
    });
    (rx, handle)
}
