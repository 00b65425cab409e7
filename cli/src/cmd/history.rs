//! `alma-sis history`: the runs recorded in the state file, newest first.

use std::io::Write as _;

use alma_sis_state::{RunOutcome, RunRecord};
use clap::Args;

use super::Context;
use crate::Exit;
use crate::pipeline::state::{open_existing, state_error};

/// Arguments of `alma-sis history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Show at most this many runs.
    #[arg(long, short = 'n', value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Only runs of this feed (default: every feed in the state file).
    #[arg(long, value_name = "NAME")]
    pub feed: Option<String>,
    /// One JSON object per run instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `alma-sis history`.
pub fn run(ctx: &Context, args: HistoryArgs) -> anyhow::Result<Exit> {
    let config = ctx.config()?;
    let mut out = std::io::stdout().lock();
    let Some((path, store)) = open_existing(&config)? else {
        writeln!(
            out,
            "no runs recorded yet (no state file at {})",
            config.state.file(&config.output).display()
        )?;
        return Ok(Exit::Ok);
    };
    let runs = store
        .runs(args.feed.as_deref(), args.limit)
        .map_err(state_error)?;
    if args.json {
        for run in &runs {
            serde_json::to_writer(&mut out, run)?;
            writeln!(out)?;
        }
        return Ok(Exit::Ok);
    }
    if runs.is_empty() {
        writeln!(out, "no runs recorded yet in {}", path.display())?;
        return Ok(Exit::Ok);
    }
    out.write_all(render(&runs).as_bytes())?;
    Ok(Exit::Ok)
}

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
                r.started.clone(),
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
