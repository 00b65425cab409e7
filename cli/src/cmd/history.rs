//! `alma-sis history`: the runs recorded in the state file, newest first.

use std::io::Write as _;

use alma_sis_state::{RunOutcome, RunRecord};
use clap::Args;

use alma_sis::Context;
use alma_sis::Exit;
use alma_sis::pipeline::page::readable;
use alma_sis::pipeline::state::{open_existing, state_error};

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
    #[arg(long, conflicts_with = "html")]
    pub json: bool,
    /// One HTML page instead of a table: the trend of the last 30 runs of the feed as charts
    /// (users sent, rejected, vanished, time), then the runs. Redirect it to a file.
    #[arg(long)]
    pub html: bool,
}

/// Runs `alma-sis history`.
pub fn run(ctx: &Context, args: HistoryArgs) -> anyhow::Result<Exit> {
    let config = ctx.config()?;
    let mut out = std::io::stdout().lock();
    if args.html {
        let runs = match open_existing(&config)? {
            Some((_, store)) => store
                .runs(args.feed.as_deref(), args.limit)
                .map_err(state_error)?,
            None => Vec::new(),
        };
        out.write_all(render_html(ctx, &config, args.feed.as_deref(), &runs).as_bytes())?;
        return Ok(Exit::Ok);
    }
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
    out.write_all(alma_sis::history::render(&runs).as_bytes())?;
    Ok(Exit::Ok)
}

/// `history --html`: the feed's trend as charts, then the runs as a table.
pub fn render_html(
    ctx: &Context,
    config: &alma_sis::config::AppConfig,
    feed: Option<&str>,
    runs: &[RunRecord],
) -> String {
    use alma_sis::pipeline::page::{esc, local_time, page_head};
    use alma_sis::pipeline::trend;
    use std::fmt::Write as _;

    let institution = &config.mapping.feed.institution;
    let feed = feed.unwrap_or(&config.mapping.feed.name);
    let mut s = page_head(
        &format!("alma-sis history {feed} ({institution})"),
        &local_time(&ctx.now),
        &config.hash,
    );
    let points = trend::last(
        &trend::path(&config.output.dir, institution, feed),
        trend::TREND_RUNS,
    );
    s.push_str(&trend::charts_html(&points));
    s.push_str("<h2>Runs in the state file</h2>\n");
    if runs.is_empty() {
        s.push_str("<p class=\"none\">No run is recorded yet.</p>\n");
    } else {
        s.push_str(
            "<table><tr><th class=\"n\">run</th><th>started</th><th>feed</th><th>mode</th>\
             <th>outcome</th><th class=\"n\">eligible</th><th class=\"n\">sent</th>\
             <th class=\"n\">new</th><th class=\"n\">changed</th><th class=\"n\">vanished</th>\
             <th>files</th></tr>\n",
        );
        for r in runs {
            let outcome = match r.outcome {
                RunOutcome::Running => "running/killed",
                o => o.code(),
            };
            let c = r.counts;
            let _ = writeln!(
                s,
                "<tr><td class=\"n\">{}</td><td style=\"white-space:nowrap\">{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                r.id,
                esc(&readable(&r.started)),
                esc(&r.feed),
                esc(&r.mode),
                esc(outcome),
                c.eligible,
                c.sent,
                c.new,
                c.changed,
                c.vanished,
                esc(&r.files.join(" "))
            );
        }
        s.push_str("</table>\n");
    }
    s.push_str("</body>\n</html>\n");
    s
}
