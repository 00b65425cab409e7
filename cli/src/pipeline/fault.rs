//! Fault injection for the tests of crash consistency, compiled only with the
//! `fault-injection` feature (off by default, on in `cargo xtask ci`'s tests): a release
//! binary has no way to be told to die.
//!
//! `ALMA_SIS_TEST_FAULT` names the point: `stop-after-read` (the process stops itself once
//! the extract is read, until it is continued), `during-record` (killed while the run's
//! writes are open), `after-package` (killed after delivery, before recording).

#[cfg(feature = "fault-injection")]
const FAULT_ENV: &str = "ALMA_SIS_TEST_FAULT";

/// Whether a test asked for the fault `point`; never without the `fault-injection` feature.
#[cfg(feature = "fault-injection")]
pub(crate) fn at(point: &str) -> bool {
    std::env::var(FAULT_ENV).is_ok_and(|v| v == point)
}

/// Whether a test asked for the fault `point`; never without the `fault-injection` feature.
#[cfg(not(feature = "fault-injection"))]
pub(crate) fn at(_point: &str) -> bool {
    false
}

/// Dies as `kill -9` would: no unwinding, no destructor, nothing recorded.
#[cfg(feature = "fault-injection")]
pub(crate) fn crash() {
    std::process::abort();
}

/// Without the `fault-injection` feature nothing asks for a fault, so nothing dies.
#[cfg(not(feature = "fault-injection"))]
pub(crate) fn crash() {}

/// Stops the process (`SIGSTOP`) until a test continues it: the test changes an input here.
#[cfg(feature = "fault-injection")]
pub(crate) fn stop() {
    let _ = std::process::Command::new("kill")
        .args(["-STOP", &std::process::id().to_string()])
        .status();
}

/// Without the `fault-injection` feature nothing asks for a fault, so nothing stops.
#[cfg(not(feature = "fault-injection"))]
pub(crate) fn stop() {}
