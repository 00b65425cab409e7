//! The trend of a feed's last runs: one JSON line per run in the work directory
//! (`<institution>_<feed>.trend.jsonl`: counts and times, no personal data), drawn as inline
//! SVG bar charts (no scripts, nothing fetched) in `report.html` and `alma-sis history
//! --html`, and listed in `report.json`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::page::{esc, readable};

/// The bar of a run that delivered (exit 0 or 1).
pub const DELIVERED: &str = "#4263eb";
/// The bar of a run that did not.
pub const NOT_DELIVERED: &str = "#e03131";

/// Runs the charts show.
pub const TREND_RUNS: usize = 30;

/// One run, as the trend keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    /// The run's id in the run state (none when it stopped before it had one).
    pub run: Option<i64>,
    /// When it started: local time with its offset, to the second (RFC 3339).
    pub started_at: String,
    /// Its status (`ok`, `brake-tripped`, ...).
    pub status: String,
    /// Its exit code.
    pub exit_code: u8,
    /// Users in zips that reached the destination.
    pub users_sent: u64,
    /// Rows rejected.
    pub rows_rejected: u64,
    /// People sent before and missing from the extract.
    pub users_vanished: u64,
    /// Wall time, in seconds (one decimal); 0 when `--now` pinned the clock.
    pub seconds: f64,
}

/// The trend file of a feed in a work directory.
pub fn path(work_dir: &Path, institution: &str, feed: &str) -> PathBuf {
    work_dir.join(format!("{institution}_{feed}.trend.jsonl"))
}

/// Appends one run (a file of mode 0600, never through a link at the work directory).
pub fn append(path: &Path, point: &TrendPoint) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    super::page::refuse_linked_work_dir(path)?;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(std::io::Error::other(
            "it is a symbolic link (not followed)",
        ));
    }
    let mut line = serde_json::to_vec(point).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    // One write of one line: runs that end together do not interleave.
    file.write_all(&line)
}

/// The last `n` runs in the file, oldest first; lines that do not parse are skipped.
pub fn last(path: &Path, n: usize) -> Vec<TrendPoint> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut points: Vec<TrendPoint> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let skip = points.len().saturating_sub(n);
    points.drain(..skip);
    points
}

/// The charts of the runs as an HTML section: users sent, rows rejected, users vanished and
/// time per run, one bar per run, oldest left; a run that did not deliver is drawn red.
pub fn charts_html(points: &[TrendPoint]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<h2>The last {} run(s)</h2>",
        points.len().min(TREND_RUNS)
    );
    if points.is_empty() {
        s.push_str("<p class=\"none\">No run is recorded in the trend yet.</p>\n");
        return s;
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = writeln!(
            s,
            "<p class=\"sub\">{} to {}, one bar per run; red: a run that did not deliver (each \
             bar's tooltip gives its time, value and status).</p>",
            esc(&readable(&first.started_at)),
            esc(&readable(&last.started_at))
        );
    }
    s.push_str("<div class=\"charts\">\n");
    let charts: [(&str, Measure); 4] = [
        ("users sent", |p| p.users_sent as f64),
        ("rows rejected", |p| p.rows_rejected as f64),
        ("users vanished", |p| p.users_vanished as f64),
        ("seconds", |p| p.seconds),
    ];
    for (title, value) in charts {
        chart(&mut s, title, points, value);
    }
    s.push_str("</div>\n");
    s
}

/// What one chart shows of a run.
type Measure = fn(&TrendPoint) -> f64;

/// One bar chart, 300 x 140 px.
fn chart(s: &mut String, title: &str, points: &[TrendPoint], value: Measure) {
    const W: f64 = 300.0;
    const H: f64 = 140.0;
    const TOP: f64 = 22.0;
    const BOTTOM: f64 = 18.0;
    let max = points.iter().map(value).fold(0.0, f64::max);
    let scale = if max > 0.0 {
        (H - TOP - BOTTOM) / max
    } else {
        0.0
    };
    // Bars as wide as 30 runs allow, and no wider than a tenth of the chart.
    let slot = W / points.len().clamp(10, TREND_RUNS) as f64;
    let _ = writeln!(
        s,
        "<svg class=\"chart\" width=\"{W}\" height=\"{H}\" \
         viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{t} per run\">\n\
         <text x=\"0\" y=\"14\" font-size=\"13\" font-weight=\"600\">{t}</text>\n\
         <text x=\"{W}\" y=\"14\" font-size=\"11\" text-anchor=\"end\" fill=\"#555\">max {}</text>\n\
         <line x1=\"0\" y1=\"{y}\" x2=\"{W}\" y2=\"{y}\" stroke=\"#bbb\"/>",
        number(max),
        t = esc(title),
        y = H - BOTTOM
    );
    for (i, p) in points.iter().enumerate() {
        let v = value(p);
        // A run with 0 still shows a sliver, so a missing run and a zero differ.
        let height = (v * scale).max(1.0);
        let x = i as f64 * slot + 1.0;
        let colour = if p.exit_code == 0 || p.exit_code == 1 {
            DELIVERED
        } else {
            NOT_DELIVERED
        };
        let _ = writeln!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{height:.1}\" fill=\"{colour}\">\
             <title>{}: {} {} ({})</title></rect>",
            H - BOTTOM - height,
            slot - 2.0,
            esc(&readable(&p.started_at)),
            number(v),
            esc(title),
            esc(&p.status)
        );
    }
    let y = H - 4.0;
    let _ = writeln!(
        s,
        "<text x=\"0\" y=\"{y}\" font-size=\"10\" fill=\"#555\">{}</text>",
        esc(day(points.first()))
    );
    // The last run's day under its bar, where it does not run into the first's.
    let end = points.len() as f64 * slot;
    if points.len() > 1 && end > 130.0 {
        let _ = writeln!(
            s,
            "<text x=\"{end:.1}\" y=\"{y}\" font-size=\"10\" fill=\"#555\" \
             text-anchor=\"end\">{}</text>",
            esc(day(points.last()))
        );
    }
    s.push_str("</svg>\n");
}

/// The day of a run, `YYYY-MM-DD`.
fn day(p: Option<&TrendPoint>) -> &str {
    p.map_or("", |p| p.started_at.get(..10).unwrap_or(""))
}

/// A count as a whole number, a time with one decimal.
fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}
