//! Shared builders.

use chrono::NaiveDate;
use leganto_courses::{CampusParticipants, CodeLists, CourseRow, DateFormat, Rules};

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A row every rule accepts.
pub fn good_row() -> CourseRow {
    CourseRow {
        code: "HIST101-2271".into(),
        title: "World History to 1500".into(),
        section: "10234".into(),
        academic_department: "AS".into(),
        processing_department: "MAIN".into(),
        terms: vec!["SPRING".into()],
        start_date: Some(date(2027, 1, 18)),
        end_date: Some(date(2027, 5, 14)),
        participants: Some(120),
        year: Some(2027),
        search_id1: "HIST101".into(),
        instructors: vec!["jdoe@northfield.edu".into()],
        campus_participants: vec![CampusParticipants {
            campus: "MAIN".into(),
            participants: Some(120),
        }],
        ..CourseRow::default()
    }
}

pub fn rules() -> Rules {
    Rules {
        codes: CodeLists {
            processing_departments: vec!["MAIN".into(), "LAW".into()],
            academic_departments: vec!["AS".into(), "LW".into()],
            terms: vec!["SPRING".into(), "AUTUMN".into()],
            campuses: vec!["MAIN".into(), "LAWCAMP".into()],
        },
        date_format: DateFormat::default(),
    }
}

/// The workspace root.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Parses a course config, leaving out the sections the CLI owns.
pub fn course_config(text: &str) -> leganto_courses::CourseConfig {
    leganto_courses::CourseConfig::from_toml(
        text,
        std::path::Path::new("courses.toml"),
        &["output", "delivery", "state", "pull"],
    )
    .unwrap()
}

/// The demo's course config.
pub fn demo_config() -> leganto_courses::CourseConfig {
    let path = workspace_root().join("examples/courses/courses.toml");
    course_config(&std::fs::read_to_string(path).unwrap())
}

/// Maps `extract` (the file's text) with `config`, as a run would read it from disk.
pub fn map_text(
    config: &leganto_courses::CourseConfig,
    extract: &str,
) -> leganto_courses::MappedCourses {
    try_map_text(config, extract).unwrap()
}

/// [`map_text`], with the error.
pub fn try_map_text(
    config: &leganto_courses::CourseConfig,
    extract: &str,
) -> Result<leganto_courses::MappedCourses, leganto_courses::CourseError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(&config.source.path), extract).unwrap();
    leganto_courses::map_extract_file(config, dir.path())
}
