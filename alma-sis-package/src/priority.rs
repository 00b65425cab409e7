//! The packager's own threads (the deflate workers, the assembler and the verifier) run at a
//! lower priority than the threads that hand it users.
//!
//! The caller's threads (in `alma-sis run`: mapping, rendering, and the pass that checks,
//! compares and hands each user over) form a chain, each waiting on the one before it; the
//! packager's threads only ever work on what the chain has handed over, and a free chunk is
//! always waiting for the caller (the caller never waited for one in a million-user run). On
//! a machine with fewer cores than threads, a deflate burst that takes every core lets the
//! chain's queues run dry, and then the chain restarts one thread at a time while cores sit
//! idle (a 2-core run used 1.6 of its cores). Run below the chain, the packager's threads
//! take the cores the chain leaves, and when the chain gets ahead of them by the chunks in
//! the pool the caller waits in `push` and they catch up: measured on the 1M-row college
//! extract, a nightly full run took 0.9 of the time (docs/performance.md). With cores to
//! spare it changes nothing.
//!
//! Linux only (there the nice value is a thread's own); elsewhere, and when the system
//! refuses, the threads keep the caller's priority: it is a matter of speed, not of what is
//! written.

/// How many nice levels below the caller's threads the packager's threads run.
const LOWER_BY: i32 = 10;

/// Spawns a packager thread named `name` that runs `f` at the lowered priority.
pub(crate) fn spawn_lowered<T: Send + 'static>(
    name: String,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    std::thread::Builder::new().name(name).spawn(move || {
        lower_this_thread();
        f()
    })
}

/// Lowers the calling thread's priority by [`LOWER_BY`] nice levels (up to the lowest).
fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let tid = rustix::thread::gettid();
        if let Ok(nice) = getpriority_process(Some(tid)) {
            // Best effort: a refusal leaves the thread as it was.
            let _ = setpriority_process(Some(tid), (nice + LOWER_BY).min(19));
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_lowers_only_itself() {
        use rustix::process::getpriority_process;
        let caller = getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let lowered = std::thread::spawn(|| {
            lower_this_thread();
            getpriority_process(Some(rustix::thread::gettid())).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (caller + LOWER_BY).min(19));
        assert_eq!(
            getpriority_process(Some(rustix::thread::gettid())).unwrap(),
            caller,
            "the caller's thread keeps its priority"
        );
    }
}
