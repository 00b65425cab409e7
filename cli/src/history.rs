//! The runs recorded in the state file as people read them (`alma-sis history`).

use alma_sis_state::{RunOutcome, RunRecord};

use crate::pipeline::page::readable;

/// The runs as an aligned table; a run still marked running was killed or is in progress.
pub fn render(runs: &[RunRecord]) -> String {
    let header = [
        "run", "started", "feed", "mode", "outcome", "eligible", "sent", "new", "changed",
        "vanished", "files",
    ];
    let rows: Vec<[String; 11]> = runs
        .iter()
        .map(|r| {
            let outcome = match r.outcome {
                RunOutcome::Running => "running/killed".to_owned(),
                o => o.code().to_owned(),
            };
            let mode = if r.partial {
                format!("{} (--only)", r.mode)
            } else {
                r.mode.clone()
            };
            let c = r.counts;
            [
                r.id.to_string(),
                readable(&r.started),
                r.feed.clone(),
                mode,
                outcome,
                c.eligible.to_string(),
                c.sent.to_string(),
                c.new.to_string(),
                c.changed.to_string(),
                c.vanished.to_string(),
                r.files.join(" "),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    let header = header.map(str::to_owned);
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            // Numbers align right, words left; the last column is not padded.
            let numeric = (5..=9).contains(&i) || i == 0;
            let cell = if i == row.len() - 1 {
                cell.clone()
            } else if numeric {
                format!("{cell:>w$}  ")
            } else {
                format!("{cell:<w$}  ")
            };
            line.push_str(&cell);
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}
