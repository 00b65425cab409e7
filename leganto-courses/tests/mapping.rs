//! Mapping the registrar's extract: templates, terms, departments, instructors, statuses,
//! cross-listing and rollover candidates.

use leganto_courses::{
    IdCase, InstructorConfig, ProcessingDepartmentRule, ProcessingDepartmentRules, map_extract,
    map_extract_file, normalise_id, processing_department,
};

use crate::support::{course_config, demo_config, workspace_root};

#[test]
fn the_demo_extract_maps_as_the_config_says() {
    let mapped =
        map_extract_file(&demo_config(), &workspace_root().join("examples/courses")).unwrap();
    let summary: Vec<String> = mapped
        .rows
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {:?} [{}] [{}] {:?}",
                r.key(),
                r.processing_department,
                r.terms.join("+"),
                r.participants,
                r.instructors.join(" "),
                r.multi_search_ids.join(" "),
                r.operation
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "CHEM110-2271/10600 MAIN SPRING Some(0) [] [] Delete",
            "DEV001-2271/10800 COURSE_UNIT SPRING Some(60) [tnguyen@northfield.edu] [] Normal",
            "EDUC300-2271/10850 MAIN SPRING Some(18) [mgarcia@northfield.edu] [] Normal",
            "ENGL205-2271/10700 MAIN SPRING Some(40) [rpatel@northfield.edu] [] Normal",
            "HIST101-2271/10234 MAIN SPRING Some(155) [jdoe@northfield.edu asmith@northfield.edu blee@northfield.edu] [10235] Normal",
            "LAW500-2271/10501 LAW SPRING Some(80) [pmorgan@law.northfield.edu] [] Normal",
            "MUS210-2271/10400 MUSIC SPRING Some(24) [kchen@northfield.edu] [] Normal",
        ]
    );
    assert_eq!(
        (mapped.rows_read, mapped.rows_skipped, mapped.rows_merged),
        (10, 2, 1)
    );
    let findings: Vec<(&str, Option<u64>)> =
        mapped.findings.iter().map(|f| (f.code, f.line)).collect();
    assert_eq!(
        findings,
        [
            ("W-PROC-DEPT-DEFAULT", Some(8)),
            ("W-TERM-UNMAPPED", Some(11))
        ]
    );
    let candidates: Vec<String> = mapped
        .candidates
        .iter()
        .map(|c| format!("{} <- {} ({})", c.course, c.old, c.source))
        .collect();
    assert_eq!(
        candidates,
        [
            "ENGL205-2271/10700 <- ENGL205-2267/10210 (copy from column)",
            "HIST101-2271/10234 <- HIST101-2261/10234 (rule 1)",
        ]
    );
}

fn rules() -> ProcessingDepartmentRules {
    let rule = |campus: &[&str], college: &[&str], subject: &[&str], code: &[&str], dept: &str| {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        ProcessingDepartmentRule {
            campus: v(campus),
            college: v(college),
            subject_prefix: v(subject),
            code_prefix: v(code),
            department: dept.into(),
        }
    };
    ProcessingDepartmentRules {
        rules: vec![
            rule(&["DTPHX"], &["LW"], &[], &[], "LAW"),
            rule(&["DTPHX"], &[], &[], &[], "DOWNTOWN"),
            rule(&[], &[], &["MUS", "MHL"], &[], "MUSIC"),
            rule(&[], &[], &[], &["DEV"], "COURSE_UNIT"),
        ],
        default: "HAYDEN".into(),
        log_unknown: true,
    }
}

fn check_department(
    campus: &str,
    college: &str,
    subject: &str,
    code: &str,
    expected: Option<&str>,
) {
    let rules = rules();
    assert_eq!(
        processing_department(&rules, campus, college, subject, code),
        expected,
        "{campus} {college} {subject} {code}"
    );
}

#[test]
fn the_first_matching_department_rule_decides() {
    check_department("DTPHX", "LW", "LAW", "LAW1", Some("LAW"));
    check_department("DTPHX", "BU", "MUS", "MUS1", Some("DOWNTOWN"));
    check_department("TEMPE", "FA", "MHL", "MHL1", Some("MUSIC"));
    check_department("TEMPE", "UC", "DEVX", "DEV001", Some("COURSE_UNIT"));
    check_department("TEMPE", "AS", "HIST", "HIST1", None);
}

fn check_id(id: &str, domain: Option<&str>, case: IdCase, expected: Option<&str>) {
    let config = InstructorConfig {
        domain: domain.map(str::to_owned),
        case,
        ..InstructorConfig::default()
    };
    assert_eq!(normalise_id(id, &config).as_deref(), expected, "{id}");
}

#[test]
fn instructor_ids_are_normalised() {
    check_id(
        " JDoe ",
        Some("northfield.edu"),
        IdCase::Lower,
        Some("jdoe@northfield.edu"),
    );
    check_id(
        "JDoe",
        Some("@northfield.edu"),
        IdCase::Keep,
        Some("JDoe@northfield.edu"),
    );
    check_id(
        "x@Other.org",
        Some("northfield.edu"),
        IdCase::Upper,
        Some("X@OTHER.ORG"),
    );
    check_id("jdoe", None, IdCase::Keep, Some("jdoe"));
    check_id("  ", Some("northfield.edu"), IdCase::Lower, None);
}

const SMALL: &str = r#"
[source]
path = "x.csv"
[fields]
code = "{CODE}"
title = "{TITLE}"
section = "{SECTION}"
start_date = "{START}"
end_date = "{END}"
[terms]
from = "{TERM}"
map = { "S27" = ["SPRING"] }
[processing_department]
default = "MAIN"
[instructors]
columns = ["INSTR_A", "INSTR_B"]
[status]
column = "STATUS"
delete = ["X"]
"#;

fn check_merge(csv: &str, expected: &[&str]) {
    let mapped = map_extract(&course_config(SMALL), csv, "x.csv").unwrap();
    let got: Vec<String> = mapped
        .rows
        .iter()
        .map(|r| {
            format!(
                "{}|{}|{}|{}|{}",
                r.key(),
                r.operation.as_str(),
                r.instructors.join(" "),
                r.multi_instructors.join(" "),
                r.multi_search_ids.join(" ")
            )
        })
        .collect();
    assert_eq!(got, expected, "{:#?}", mapped.findings);
}

#[test]
fn rows_of_one_code_are_merged() {
    let head = "CODE,TITLE,SECTION,START,END,TERM,INSTR_A,INSTR_B,STATUS\n";
    // Instructors from several columns and several rows; the lowest section is kept.
    check_merge(
        &format!(
            "{head}C1,T,20,2027-01-01,2027-05-01,S27,a,b,\nC1,T,3,2027-01-01,2027-05-01,S27,c,a,\n"
        ),
        &["C1/3||c a b||20"],
    );
    // An active row beats a cancelled one.
    check_merge(
        &format!(
            "{head}C1,T,1,2027-01-01,2027-05-01,S27,a,,X\nC1,T,2,2027-01-01,2027-05-01,S27,b,,\n"
        ),
        &["C1/2||b||"],
    );
    // Past ten instructors, the rest go to MULTI_INST.
    let many: String = (0..12)
        .map(|i| format!("C1,T,1,2027-01-01,2027-05-01,S27,i{i:02},,\n"))
        .collect();
    check_merge(
        &format!("{head}{many}"),
        &["C1/1||i00 i01 i02 i03 i04 i05 i06 i07 i08 i09|i10 i11|"],
    );
    // Sections compare as numbers.
    check_merge(
        &format!(
            "{head}C2,T,100,2027-01-01,2027-05-01,S27,,,\nC2,T,99,2027-01-01,2027-05-01,S27,,,\n"
        ),
        &["C2/99||||100"],
    );
}

#[test]
fn bad_source_values_reject_the_row_with_its_position() {
    let csv = "CODE,TITLE,SECTION,START,END,TERM,INSTR_A,INSTR_B,STATUS\nC1,T,1,soon,2027-05-01,S27,,,\nC2,,1,2027-01-01,2027-05-01,S27,,,\n";
    let mapped = map_extract(&course_config(SMALL), csv, "x.csv").unwrap();
    assert!(mapped.rows.is_empty());
    let got: Vec<String> = mapped.findings.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "x.csv:2:4: error[E-SOURCE-DATE]: \"soon\" is not a date in the source format %Y-%m-%d (course C1/1)",
            "x.csv:3: error[E-REQUIRED]: COURSE_TITLE is required (course file column 2) (course C2/1)",
        ]
    );
}

#[test]
fn unknown_columns_are_config_errors() {
    let csv = "CODE,TITLE,SECTION,START,END,TERM,INSTR_A,STATUS\n";
    let err = map_extract(&course_config(SMALL), csv, "x.csv").unwrap_err();
    assert_eq!(
        err.to_string(),
        "course config `instructors.columns` names column \"INSTR_B\", which the extract's header does not have"
    );
}

proptest::proptest! {
    /// Any extract rows: no panic, and every row is a course, merged into one, skipped or
    /// rejected with a finding.
    #[test]
    fn every_row_is_accounted_for(rows in proptest::collection::vec(
        (
            "[A-C]{1}",
            "[0-9]{1,2}",
            proptest::prop_oneof![proptest::strategy::Just("2027-01-01".to_owned()), "[0-9x-]{0,10}"],
            proptest::prop_oneof![proptest::strategy::Just("S27".to_owned()), "[A-Z0-9]{0,3}"],
            "[a-z;]{0,6}",
            proptest::prop_oneof![proptest::strategy::Just(String::new()), proptest::strategy::Just("X".to_owned())],
        ),
        0..12,
    )) {
        let mut csv = "CODE,TITLE,SECTION,START,END,TERM,INSTR_A,INSTR_B,STATUS\n".to_owned();
        for (code, section, start, term, instructors, status) in &rows {
            csv.push_str(&format!("{code},T,{section},{start},2027-05-01,{term},{instructors},,{status}\n"));
        }
        let mapped = map_extract(&course_config(SMALL), &csv, "x.csv").unwrap();
        proptest::prop_assert_eq!(mapped.rows_read, rows.len() as u64);
        let rejected_rows = mapped.findings.iter().filter(|f| f.is_error()).count() as u64;
        proptest::prop_assert!(
            mapped.rows.len() as u64 + mapped.rows_merged + mapped.rows_skipped + rejected_rows >= mapped.rows_read,
            "{mapped:#?}"
        );
        for row in &mapped.rows {
            proptest::prop_assert!(leganto_courses::check_row(row, &leganto_courses::CodeLists::default()).iter().all(|f| !f.is_error()));
        }
    }
}
