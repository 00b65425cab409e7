//! Progress bars on stderr, only for a person at a terminal: never under cron, in a pipe,
//! in tests, with `--quiet` or with `--log-format json`.
//!
//! ```no_run
//! let bar = alma_sis::progress::bar(300, "reading");
//! for _ in 0..300 {
//!     bar.inc(1);
//! }
//! bar.finish_and_clear();
//! ```

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::{GlobalArgs, LogFormat};

static SHOWN: AtomicBool = AtomicBool::new(false);

/// Every drawn bar hangs here, so log lines can be printed above them.
fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// Stderr for log lines: while bars are drawn, each line is printed above them instead of
/// through them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if shown() {
            bars().suspend(|| std::io::stderr().write_all(buf))?;
        } else {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Decides once, at start-up, whether bars are drawn.
pub(crate) fn init(global: &GlobalArgs) {
    let shown = !global.quiet
        && global.log_format == LogFormat::Text
        && std::io::stderr().is_terminal()
        && std::env::var_os("CI").is_none();
    SHOWN.store(shown, Ordering::Relaxed);
}

/// Whether bars are drawn in this process.
pub fn shown() -> bool {
    SHOWN.load(Ordering::Relaxed)
}

fn new(len: Option<u64>, template: &str, what: &str) -> ProgressBar {
    if !shown() {
        return ProgressBar::hidden();
    }
    let bar = bars().add(ProgressBar::with_draw_target(
        len,
        ProgressDrawTarget::hidden(),
    ));
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A bar counting `len` items (rows, users, files): `reading [=====>   ] 120/300`.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    new(
        Some(len),
        "{msg:>10} [{bar:40}] {pos}/{len} {elapsed}",
        what,
    )
}

/// A bar counting `len` bytes, for uploads and zips: `uploading [===>  ] 3.1 MiB/9.0 MiB`.
/// Library callbacks that report bytes done map to [`ProgressBar::set_position`].
pub fn bytes(len: u64, what: &str) -> ProgressBar {
    new(
        Some(len),
        "{msg:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}",
        what,
    )
}

/// A spinner for work of unknown size, e.g. one stage of a run: `⠙ package 3s`.
pub fn spinner(what: &str) -> ProgressBar {
    new(None, "{spinner} {msg} {elapsed}", what)
}
