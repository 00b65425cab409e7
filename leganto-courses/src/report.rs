//! The rollover report: every candidate, whether it is sent now, was sent before, or is
//! only reported, as CSV and as a page people can read.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::delta::SentRollover;
use crate::mapping::RolloverCandidate;
use crate::row::CourseKey;

/// What happens to a rollover candidate in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloverStatus {
    /// A `ROLLOVER` row goes into this run's file.
    SentNow,
    /// Sent in an earlier run (at the given time); never sent again.
    SentBefore(String),
    /// Not sent yet; the next `courses run` sends it (`[rollover] emit` is on).
    NextRun,
    /// `[rollover] emit` is off: for people to review and roll over by hand.
    ReportOnly,
}

impl RolloverStatus {
    fn label(&self) -> String {
        match self {
            RolloverStatus::SentNow => "sent in this file".to_owned(),
            RolloverStatus::SentBefore(at) => format!("sent before ({at})"),
            RolloverStatus::NextRun => "sent by the next run".to_owned(),
            RolloverStatus::ReportOnly => "report only".to_owned(),
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloverLine {
    /// The candidate.
    pub candidate: RolloverCandidate,
    /// What happens to it.
    pub status: RolloverStatus,
}

/// The status of each candidate: `sent_now` are the rollovers in this run's file, `emit`
/// whether rollovers are sent at all.
pub fn rollover_lines(
    candidates: &[RolloverCandidate],
    sent_before: &[SentRollover],
    sent_now: &[(CourseKey, CourseKey)],
    emit: bool,
) -> Vec<RolloverLine> {
    let before: HashMap<(&CourseKey, &CourseKey), &str> = sent_before
        .iter()
        .map(|s| ((&s.course, &s.old), s.sent_at.as_str()))
        .collect();
    candidates
        .iter()
        .map(|c| {
            let status = if let Some(at) = before.get(&(&c.course, &c.old)) {
                RolloverStatus::SentBefore((*at).to_owned())
            } else if sent_now.iter().any(|(n, o)| *n == c.course && *o == c.old) {
                RolloverStatus::SentNow
            } else if emit {
                RolloverStatus::NextRun
            } else {
                RolloverStatus::ReportOnly
            };
            RolloverLine {
                candidate: c.clone(),
                status,
            }
        })
        .collect()
}

const HEADER: [&str; 7] = [
    "course_code",
    "section",
    "title",
    "old_course_code",
    "old_section",
    "source",
    "status",
];

fn cells(line: &RolloverLine) -> [String; 7] {
    let c = &line.candidate;
    [
        c.course.code.clone(),
        c.course.section.clone(),
        c.title.clone(),
        c.old.code.clone(),
        c.old.section.clone(),
        c.source.clone(),
        line.status.label(),
    ]
}

/// The report as CSV (comma-separated, quoted where needed, CRLF).
pub fn rollover_csv(lines: &[RolloverLine]) -> String {
    let quote = |v: &str| {
        if v.contains([',', '"', '\r', '\n']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_owned()
        }
    };
    let mut out = HEADER.join(",");
    out.push_str("\r\n");
    for line in lines {
        let row: Vec<String> = cells(line).iter().map(|v| quote(v)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The report as a self-contained HTML page; `generated` is the run's time as text.
pub fn rollover_html(lines: &[RolloverLine], generated: &str) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<title>Leganto rollover candidates</title>\n<style>\n");
    out.push_str("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}");
    out.push_str(
        "th,td{border:1px solid #999;padding:.3em .6em;text-align:left}th{background:#eee}\n",
    );
    out.push_str("</style>\n</head>\n<body>\n<h1>Leganto rollover candidates</h1>\n");
    let _ = writeln!(
        out,
        "<p>Generated {}. {} candidate(s): {} sent in this file, {} sent before, {} sent by the next run, {} to review.</p>",
        escape(generated),
        lines.len(),
        lines
            .iter()
            .filter(|l| l.status == RolloverStatus::SentNow)
            .count(),
        lines
            .iter()
            .filter(|l| matches!(l.status, RolloverStatus::SentBefore(_)))
            .count(),
        lines
            .iter()
            .filter(|l| l.status == RolloverStatus::NextRun)
            .count(),
        lines
            .iter()
            .filter(|l| l.status == RolloverStatus::ReportOnly)
            .count(),
    );
    out.push_str("<p>A rollover copies every reading list of the old course to the new one; Alma copies again each time a ROLLOVER row is loaded, so alma-sis sends each rollover once.</p>\n");
    out.push_str("<table>\n<thead><tr><th>Course</th><th>Section</th><th>Title</th><th>Copies lists from</th><th>Old section</th><th>Why</th><th>Status</th></tr></thead>\n<tbody>\n");
    for line in lines {
        out.push_str("<tr>");
        for cell in cells(line) {
            let _ = write!(out, "<td>{}</td>", escape(&cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    out
}
