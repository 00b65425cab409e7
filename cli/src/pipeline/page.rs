//! What every report page and file of a run shares: times as people read them, files
//! written privately into the work directory, and the HTML pieces (escaping, style, tables).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// A moment as people read it: local time with its UTC offset, to the second
/// (`2026-11-23 04:00:00 +00:00`).
pub fn local_time(now: &chrono::DateTime<chrono::FixedOffset>) -> String {
    now.format("%Y-%m-%d %H:%M:%S %:z").to_string()
}

/// An RFC 3339 time as people read it: `2026-11-23T04:00:00.123+01:00` as
/// `2026-11-23 04:00:00 +01:00` (text that is not such a time stays as it is).
pub fn readable(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map_or_else(|_| rfc3339.to_owned(), |t| local_time(&t))
}

/// An error when the directory `path` is in is a symbolic link: nothing is written through
/// one (a work directory swapped for a link must not redirect the run's files).
pub fn refuse_linked_work_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) => {
            Err(std::io::Error::other(
                "the work directory is a symbolic link (not followed)",
            ))
        }
        _ => Ok(()),
    }
}

/// Creates `path` with mode 0600; never replaces an existing file, never writes into a
/// work directory that is a symbolic link.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    refuse_linked_work_dir(path)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The last part of `path`, lossily as text (empty when there is none).
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Counts by name, the largest first (ties by name).
pub fn largest_first(counts: BTreeMap<&str, usize>) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = counts
        .into_iter()
        .map(|(name, n)| (name.to_owned(), n))
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

/// Summary lines under a count, the largest first, at most [`SUMMARY_BREAKDOWN`] of them.
pub fn breakdown(s: &mut String, counts: BTreeMap<&str, usize>, what: &str) {
    let counts = largest_first(counts);
    for (name, n) in counts.iter().take(SUMMARY_BREAKDOWN) {
        let _ = writeln!(s, "    {n:>7}  {name}");
    }
    if counts.len() > SUMMARY_BREAKDOWN {
        let _ = writeln!(
            s,
            "             and {} more {what} (see the report)",
            counts.len() - SUMMARY_BREAKDOWN
        );
    }
}

/// Rules or codes listed under a count in the summary, so it stays one screen.
pub const SUMMARY_BREAKDOWN: usize = 6;

/// Escapes text for HTML element content and attribute values.
pub use alma_user_model::escape_html as esc;

/// The report pages' style sheet, inline in each page.
pub const CSS: &str = "\
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#1d1d1f;background:#fff}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.sub{color:#555;margin-top:0}
.status{display:inline-block;padding:.15em .6em;border-radius:.3em;font-weight:600;color:#fff}
.s0{background:#2e7d32}.s1{background:#ef6c00}.s2,.s3,.s4,.s5{background:#c62828}
.cards{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.card{border:1px solid #ddd;border-radius:.4em;padding:.6em 1em;min-width:8em}
.card b{display:block;font-size:1.6em}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #eee;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#5c7cfa;height:.9em;border-radius:.2em}
.none{color:#777;font-style:italic}
.charts{display:flex;flex-wrap:wrap;gap:1em 2em;margin:.6em 0}
code{font-size:.9em}
";

/// A table of counts with a bar each, or `empty` when there are none.
pub fn table_of_counts(s: &mut String, head: &str, rows: &[(String, usize)], empty: &str) {
    if rows.is_empty() {
        let _ = writeln!(s, "<p class=\"none\">{}</p>", esc(empty));
        return;
    }
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    let _ = writeln!(
        s,
        "<table><tr><th>{}</th><th class=\"n\">count</th><th style=\"width:50%\"></th></tr>",
        esc(head)
    );
    for (name, n) in rows {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"n\">{n}</td><td><div class=\"bar\" style=\"width:{}%\"></div></td></tr>",
            esc(name),
            n * 100 / max
        );
    }
    s.push_str("</table>\n");
}

/// The start of a report page: head, title, and when, which version and which config.
pub fn page_head(title: &str, now: &str, config_sha256: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<h1>{t}</h1>\n",
        t = esc(title)
    );
    let _ = writeln!(
        s,
        "<p class=\"sub\">{} &middot; alma-sis {} &middot; config sha256 <code>{}</code></p>",
        esc(now),
        env!("CARGO_PKG_VERSION"),
        esc(config_sha256)
    );
    s
}
