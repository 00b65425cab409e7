//! The rollover report, as CSV and HTML.

use leganto_courses::{
    CourseKey, RolloverCandidate, RolloverLine, RolloverStatus, rollover_csv, rollover_html,
};

fn key(code: &str, section: &str) -> CourseKey {
    CourseKey {
        code: code.into(),
        section: section.into(),
    }
}

fn lines() -> Vec<RolloverLine> {
    vec![
        RolloverLine {
            candidate: RolloverCandidate {
                course: key("ENGL205-2271", "10700"),
                title: "Shakespeare: <The> \"Comedies\", & more".into(),
                old: Some(key("ENGL205-2267", "10210")),
                requested: "ENGL205-2267/10210".into(),
                source: "copy-from column, line 6".into(),
            },
            status: RolloverStatus::SentNow,
        },
        RolloverLine {
            candidate: RolloverCandidate {
                course: key("HIST101-2271", "10234"),
                title: "World History".into(),
                old: Some(key("HIST101-2267", "9100")),
                requested: "HIST101 in term 2267".into(),
                source: "same course, previous term".into(),
            },
            status: RolloverStatus::SentBefore("2026-11-20T04:00:00Z".into()),
        },
        RolloverLine {
            candidate: RolloverCandidate {
                course: key("MUS210-2271", "10400"),
                title: "Music Theory II".into(),
                old: None,
                requested: "MUS210-2261/(the one sent)".into(),
                source: "rule 2".into(),
            },
            status: RolloverStatus::Held("old course unknown".into()),
        },
    ]
}

#[test]
fn csv_report() {
    insta::assert_snapshot!(rollover_csv(&lines()));
}

#[test]
fn html_report() {
    insta::assert_snapshot!(rollover_html(&lines(), "2026-11-23T04:00:00Z"));
}
