//! The rollover report, as CSV and HTML.

use leganto_courses::{
    CourseKey, RolloverCandidate, RolloverStatus, SentRollover, rollover_csv, rollover_html,
    rollover_lines,
};

fn key(code: &str, section: &str) -> CourseKey {
    CourseKey {
        code: code.into(),
        section: section.into(),
    }
}

fn lines() -> Vec<leganto_courses::RolloverLine> {
    let candidates = vec![
        RolloverCandidate {
            course: key("ENGL205-2271", "10700"),
            title: "Shakespeare: <The> \"Comedies\", & more".into(),
            old: key("ENGL205-2267", "10210"),
            source: "copy from column".into(),
        },
        RolloverCandidate {
            course: key("HIST101-2271", "10234"),
            title: "World History".into(),
            old: key("HIST101-2261", "10234"),
            source: "rule 1".into(),
        },
        RolloverCandidate {
            course: key("MUS210-2271", "10400"),
            title: "Music Theory II".into(),
            old: key("MUS210-2261", "10400"),
            source: "rule 2".into(),
        },
    ];
    let before = [SentRollover {
        course: key("HIST101-2271", "10234"),
        old: key("HIST101-2261", "10234"),
        sent_at: "2026-11-20T04:00:00Z".into(),
    }];
    let now = [(key("ENGL205-2271", "10700"), key("ENGL205-2267", "10210"))];
    rollover_lines(&candidates, &before, &now, false)
}

#[test]
fn each_candidate_has_its_status() {
    let statuses: Vec<RolloverStatus> = lines().into_iter().map(|l| l.status).collect();
    assert_eq!(
        statuses,
        [
            RolloverStatus::SentNow,
            RolloverStatus::SentBefore("2026-11-20T04:00:00Z".into()),
            RolloverStatus::ReportOnly,
        ]
    );
}

#[test]
fn with_emit_on_unsent_candidates_go_in_the_next_run() {
    let candidates: Vec<RolloverCandidate> = lines().into_iter().map(|l| l.candidate).collect();
    let lines = rollover_lines(&candidates, &[], &[], true);
    assert!(lines.iter().all(|l| l.status == RolloverStatus::NextRun));
}

#[test]
fn csv_report() {
    insta::assert_snapshot!(rollover_csv(&lines()));
}

#[test]
fn html_report() {
    insta::assert_snapshot!(rollover_html(&lines(), "2026-11-23T04:00:00Z"));
}
