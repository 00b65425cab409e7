//! The rollover report: every candidate, whether it is sent now, was sent before, is held
//! (and why) or only reported, as CSV and as a page people can read.

use std::fmt::Write as _;

use alma_user_model::escape_html;

use crate::row::CourseKey;

/// A course that should copy its reading lists from an older one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloverCandidate {
    /// The new course, under the key it is sent with.
    pub course: CourseKey,
    /// Its title, for people reading the report.
    pub title: String,
    /// The old course, when it could be resolved against what alma-sis sent.
    pub old: Option<CourseKey>,
    /// What was asked for, e.g. `ENGL205-2267/10210`, `HIST101-2261/(the one sent)`.
    pub requested: String,
    /// Where the request came from: `copy-from column, line N`, `rule N`, or `same course,
    /// previous term`.
    pub source: String,
}

/// What happens to a rollover candidate in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloverStatus {
    /// A `ROLLOVER` row goes into this run's file.
    SentNow,
    /// Sent in an earlier run (at the given time); never sent again.
    SentBefore(String),
    /// `[rollover] emit` is off: for people to review and roll over by hand.
    ReportOnly,
    /// Not sent, for the reason given (a finding says more).
    Held(String),
}

impl RolloverStatus {
    fn label(&self) -> String {
        match self {
            RolloverStatus::SentNow => "sent in this file".to_owned(),
            RolloverStatus::SentBefore(at) => format!("sent before ({at})"),
            RolloverStatus::ReportOnly => "report only".to_owned(),
            RolloverStatus::Held(why) => format!("not sent: {why}"),
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

const HEADER: [&str; 8] = [
    "course_code",
    "section",
    "title",
    "old_course_code",
    "old_section",
    "requested",
    "source",
    "status",
];

fn cells(line: &RolloverLine) -> [String; 8] {
    let c = &line.candidate;
    [
        c.course.code.clone(),
        c.course.section.clone(),
        c.title.clone(),
        c.old.as_ref().map(|o| o.code.clone()).unwrap_or_default(),
        c.old
            .as_ref()
            .map(|o| o.section.clone())
            .unwrap_or_default(),
        c.requested.clone(),
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
        "<p>Generated {}. {} candidate(s): {} sent in this file, {} sent before, {} not sent (see the status), {} to review.</p>",
        escape_html(generated),
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
            .filter(|l| matches!(l.status, RolloverStatus::Held(_)))
            .count(),
        lines
            .iter()
            .filter(|l| l.status == RolloverStatus::ReportOnly)
            .count(),
    );
    out.push_str("<p>A rollover copies every reading list of the old course to the new one; Alma copies again each time a ROLLOVER row is loaded, so alma-sis sends each rollover once.</p>\n");
    out.push_str("<table>\n<thead><tr><th>Course</th><th>Section</th><th>Title</th><th>Copies lists from</th><th>Old section</th><th>Asked for</th><th>Why</th><th>Status</th></tr></thead>\n<tbody>\n");
    for line in lines {
        out.push_str("<tr>");
        for cell in cells(line) {
            let _ = write!(out, "<td>{}</td>", escape_html(&cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    out
}
