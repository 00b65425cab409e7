//! Progress on stderr, only for a person at a terminal: never under cron, in a pipe, in
//! tests, with `--quiet` or with `--log-format json`.
//!
//! Each stage of a run is named for a person (reading the extract, mapping and checking,
//! compressing, delivering). While it runs, a stage of known size shows how far it is, its
//! rate and the time left; when it ends, one line says what it did and stays on screen:
//!
//! ```text
//! reading the extract: 333 rows in 0.0 s
//! mapping and checking: 333 rows, 249 users in 0.2 s (1.6k rows/s)
//! ```
//!
//! The library's pipeline reports its stages to an `alma_sis::progress::Progress`; this is
//! the binary's, [`Bars`].

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use alma_sis::progress::{Progress, Unit};

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
fn shown() -> bool {
    SHOWN.load(Ordering::Relaxed)
}

/// Bars on stderr, drawn only when [`init`] decided so.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bars;

impl Progress for Bars {
    fn start(&self, stage: &str, len: Option<u64>, unit: Unit) -> ProgressBar {
        match (len, unit) {
            (Some(len), Unit::Rows) => rows(len, stage),
            (Some(len), Unit::Bytes) => bytes(len, stage),
            (None, _) => spinner(stage),
        }
    }

    fn done(&self, bar: &ProgressBar, what: &str, unit: Unit) {
        done(bar, what, unit);
    }

    fn say(&self, text: &str) {
        // The summary repeats the report: a closed stdout (`| head`) must not change the exit
        // status of a run that did its work.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }

    fn warn(&self, text: &str) {
        let _ = LogWriter.write_all(text.as_bytes());
    }
}

fn new(len: Option<u64>, template: &str, stage: &str, unit: Unit) -> ProgressBar {
    if !shown() {
        return ProgressBar::hidden();
    }
    let bar = bars().add(ProgressBar::with_draw_target(
        len,
        ProgressDrawTarget::hidden(),
    ));
    if let Ok(style) = ProgressStyle::with_template(template) {
        let style = style
            .progress_chars("=> ")
            .with_key(
                "rate",
                move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&rate(s.per_sec(), unit));
                },
            )
            .with_key("left", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&time_left(s.pos(), s.len(), s.eta()));
            });
        bar.set_style(style);
    }
    bar.set_prefix(stage.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A stage counting `len` rows; its message says how many users so far:
/// `mapping and checking [=====>    ] 120,000/300,000 rows, 98,000 users  75.2k rows/s  3s left`.
fn rows(len: u64, stage: &str) -> ProgressBar {
    new(
        Some(len),
        "{prefix} [{bar:30}] {human_pos}/{human_len} rows{msg}  {rate}  {left}",
        stage,
        Unit::Rows,
    )
}

/// A stage counting `len` bytes, for uploads: `delivering x.zip [===>  ] 3.1 MiB/9.0 MiB
/// 1.2 MiB/s  5s left`. Library callbacks that report bytes done map to
/// [`ProgressBar::set_position`].
fn bytes(len: u64, stage: &str) -> ProgressBar {
    new(
        Some(len),
        "{prefix} [{bar:30}] {bytes}/{total_bytes}  {rate}  {left}",
        stage,
        Unit::Bytes,
    )
}

/// A stage of unknown size: `⠙ compressing 3s`.
fn spinner(stage: &str) -> ProgressBar {
    new(None, "{spinner} {prefix} {elapsed}", stage, Unit::Rows)
}

/// Ends a stage with one line that stays on screen: `<stage>: <what> in 1.2 s (rate)`, the
/// rate in `unit`s when the bar counted them.
fn done(bar: &ProgressBar, what: &str, unit: Unit) {
    if bar.is_hidden() {
        return;
    }
    let counted = bar.length().map(|_| (bar.position(), unit));
    let line = done_line(&bar.prefix(), what, bar.elapsed(), counted);
    if let Ok(style) = ProgressStyle::with_template("{msg}") {
        bar.set_style(style);
    }
    bar.finish_with_message(line);
}

/// The line a finished stage leaves: what it did, its time, and its rate when it counted
/// something (how many, in what).
fn done_line(stage: &str, what: &str, elapsed: Duration, counted: Option<(u64, Unit)>) -> String {
    let mut line = format!("{stage}:");
    let what = if what.is_empty() { "done" } else { what };
    let _ = write!(line, " {what} in {}", seconds(elapsed));
    let secs = elapsed.as_secs_f64();
    if let Some((n, unit)) = counted.filter(|(n, _)| *n > 0 && secs >= 0.05) {
        let _ = write!(line, " ({})", rate(n as f64 / secs, unit));
    }
    line
}

/// `0.3 s`, `12 s`, `4m 05s`.
fn seconds(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.1} s")
    } else if secs < 60.0 {
        format!("{secs:.0} s")
    } else {
        let whole = d.as_secs();
        format!("{}m {:02}s", whole / 60, whole % 60)
    }
}

/// A rate for people: `850 rows/s`, `75.2k rows/s`, `1.2M rows/s`, `3.4 MiB/s`.
fn rate(per_sec: f64, unit: Unit) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        return String::new();
    }
    match unit {
        Unit::Rows => {
            let (value, suffix) = if per_sec >= 1e6 {
                (per_sec / 1e6, "M")
            } else if per_sec >= 1e3 {
                (per_sec / 1e3, "k")
            } else {
                return format!("{per_sec:.0} rows/s");
            };
            format!("{value:.1}{suffix} rows/s")
        }
        Unit::Bytes => {
            let mib = per_sec / (1024.0 * 1024.0);
            if mib >= 1.0 {
                format!("{mib:.1} MiB/s")
            } else {
                format!("{:.0} KiB/s", per_sec / 1024.0)
            }
        }
    }
}

/// The time left, once there is something to go by: `5s left`, `2m 10s left`.
fn time_left(pos: u64, len: Option<u64>, eta: Duration) -> String {
    match len {
        Some(len) if pos > 0 && pos < len => {
            let secs = eta.as_secs();
            if secs >= 60 {
                format!("{}m {:02}s left", secs / 60, secs % 60)
            } else {
                format!("{}s left", secs.max(1))
            }
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_people_say_them() {
        assert_eq!(rate(850.4, Unit::Rows), "850 rows/s");
        assert_eq!(rate(75_240.0, Unit::Rows), "75.2k rows/s");
        assert_eq!(rate(1_250_000.0, Unit::Rows), "1.2M rows/s");
        assert_eq!(rate(3.5 * 1024.0 * 1024.0, Unit::Bytes), "3.5 MiB/s");
        assert_eq!(rate(512.0 * 1024.0, Unit::Bytes), "512 KiB/s");
        assert_eq!(rate(0.0, Unit::Rows), "");
        assert_eq!(rate(f64::INFINITY, Unit::Rows), "");
    }

    #[test]
    fn time_left_shows_only_while_there_is_some() {
        let eta = Duration::from_secs(130);
        assert_eq!(time_left(10, Some(100), eta), "2m 10s left");
        assert_eq!(
            time_left(10, Some(100), Duration::from_millis(300)),
            "1s left"
        );
        assert_eq!(time_left(0, Some(100), eta), "");
        assert_eq!(time_left(100, Some(100), eta), "");
        assert_eq!(time_left(10, None, eta), "");
    }

    #[test]
    fn a_finished_stage_says_what_it_did() {
        let line = done_line(
            "mapping and checking",
            "1,000 rows, 812 users",
            Duration::from_millis(2500),
            Some((1000, Unit::Rows)),
        );
        assert_eq!(
            line,
            "mapping and checking: 1,000 rows, 812 users in 2.5 s (400 rows/s)"
        );
        let line = done_line("compressing", "1 zip", Duration::from_secs(75), None);
        assert_eq!(line, "compressing: 1 zip in 1m 15s");
        assert_eq!(
            done_line(
                "delivering",
                "",
                Duration::from_millis(10),
                Some((5, Unit::Rows))
            ),
            "delivering: done in 0.0 s"
        );
        let line = done_line(
            "delivering x.zip",
            "3.0 MiB arrived",
            Duration::from_secs(2),
            Some((3 * 1024 * 1024, Unit::Bytes)),
        );
        assert_eq!(
            line,
            "delivering x.zip: 3.0 MiB arrived in 2.0 s (1.5 MiB/s)"
        );
    }
}
