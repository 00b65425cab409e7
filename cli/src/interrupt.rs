//! SIGINT and SIGTERM: a run stops at its next safe point instead of dying mid-write. The
//! first signal only raises a flag that the stages look at (between users, before and after
//! packaging, between zips and while bytes are uploaded); the run then removes its partial
//! files, puts the run state back, releases its lock, writes its report with status
//! `interrupted` and exits 130 (SIGINT) or 143 (SIGTERM). A second signal ends the process at
//! once, as it would without us (what that leaves is removed by the next run).
//!
//! Tests of interruption pause the binary at named points (`ALMA_SIS_TEST_PAUSE`, never set in
//! production) and send it real signals while it waits.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};

use crate::exit::{Exit, Failure};

/// The signal received, 0 for none.
fn received_slot() -> &'static Arc<AtomicUsize> {
    static SLOT: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    SLOT.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

/// Handles SIGINT and SIGTERM from now on (idempotent).
pub fn install() -> anyhow::Result<()> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let again = Arc::new(AtomicBool::new(false));
            for signal in [SIGINT, SIGTERM] {
                // Registered first, so it sees the flag before this signal sets it: only a
                // second signal takes the default action.
                signal_hook::flag::register_conditional_default(signal, Arc::clone(&again))
                    .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&again)))
                    .and_then(|_| {
                        signal_hook::flag::register_usize(
                            signal,
                            Arc::clone(received_slot()),
                            usize::try_from(signal).unwrap_or(usize::MAX),
                        )
                    })
                    .map_err(|e| format!("cannot handle signal {signal}: {e}"))?;
            }
            Ok(())
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// A signal that asked the run to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(i32);

impl Signal {
    /// `SIGINT` or `SIGTERM`.
    pub fn name(self) -> &'static str {
        if self.0 == SIGTERM {
            "SIGTERM"
        } else {
            "SIGINT"
        }
    }

    /// 130 for SIGINT, 143 for SIGTERM (128 + the signal's number, as shells report it).
    pub fn exit(self) -> Exit {
        if self.0 == SIGTERM {
            Exit::Terminated
        } else {
            Exit::Interrupted
        }
    }
}

/// The signal received so far, if any.
pub fn received() -> Option<Signal> {
    match received_slot().load(Ordering::Acquire) {
        0 => None,
        n => Some(Signal(i32::try_from(n).unwrap_or(SIGINT))),
    }
}

/// A safe point: stops with an `interrupted` error (exit 130 or 143) if a signal came.
pub fn check(doing: &str) -> anyhow::Result<()> {
    match received() {
        None => Ok(()),
        Some(signal) => Err(stopped(signal, doing)),
    }
}

/// The error of a run stopped by `signal` while `doing`.
pub fn stopped(signal: Signal, doing: &str) -> anyhow::Error {
    Failure::error(
        signal.exit(),
        format!("interrupted by {} while {doing}", signal.name()),
    )
}

/// Set to `<point>@<dir>` to pause at `point` (e.g. `pass:1000`, `packaged`, `uploading:2`,
/// `delivered:1`): the binary writes `<dir>/paused` and waits until `<dir>/resume` exists.
/// For tests of interruption and of servers dying mid-run; never set in production.
const PAUSE_ENV: &str = "ALMA_SIS_TEST_PAUSE";

/// The pause a test asked for: the point and the folder of the handshake.
fn pause() -> Option<&'static (String, PathBuf)> {
    static PAUSE: OnceLock<Option<(String, PathBuf)>> = OnceLock::new();
    PAUSE
        .get_or_init(|| {
            let value = std::env::var(PAUSE_ENV).ok()?;
            let (at, dir) = value.split_once('@')?;
            Some((at.to_owned(), PathBuf::from(dir)))
        })
        .as_ref()
}

/// The number of a counted pause point (`pass:<n>`) a test asked for.
pub fn pause_count(point: &str) -> Option<u64> {
    let (at, _) = pause()?;
    at.strip_prefix(point)?.strip_prefix(':')?.parse().ok()
}

/// Pauses here when a test asked for this point.
pub fn pause_at(point: &str) {
    let Some((at, dir)) = pause() else {
        return;
    };
    if at != point {
        return;
    }
    // Best effort: a test that cannot see the marker fails on its own.
    let _ = std::fs::write(dir.join("paused"), std::process::id().to_string());
    while !dir.join("resume").exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
}
