//! Mapping the registrar's extract: templates, terms, departments, instructors, statuses,
//! cross-listing and rollover candidates.

use leganto_courses::{
    IdCase, InstructorConfig, ProcessingDepartmentRule, ProcessingDepartmentRules,
    map_extract_file, normalise_id, processing_department,
};

use crate::support::{course_config, demo_config, map_text, try_map_text, workspace_root};

#[test]
fn the_demo_extract_maps_as_the_config_says() {
    let mapped =
        map_extract_file(&demo_config(), &workspace_root().join("examples/courses")).unwrap();
    let summary: Vec<String> = mapped
        .courses
        .iter()
        .map(|c| {
            let r = c.course_row(&c.natural_key());
            format!(
                "{} {} {} {:?} [{}] [{}] [{}] {:?}",
                r.key(),
                r.processing_department,
                r.terms.join("+"),
                r.participants,
                r.instructors.join(" "),
                r.multi_search_ids.join(" "),
                r.campus_participants
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                r.operation
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "CHEM110-2271/10600 MAIN SPRING Some(0) [] [] [MAIN|0] Delete",
            "DEV001-2271/10800 COURSE_UNIT SPRING Some(60) [tnguyen@northfield.edu] [] [ONLINE|60] Normal",
            "EDUC300-2271/10850 MAIN SPRING Some(18) [mgarcia@northfield.edu] [] [MAIN|18] Normal",
            "ENGL205-2271/10700 MAIN SPRING Some(40) [rpatel@northfield.edu] [] [MAIN|40] Normal",
            "HIST101-2271/10234 MAIN SPRING Some(155) [jdoe@northfield.edu asmith@northfield.edu blee@northfield.edu] [10235] [MAIN|155] Normal",
            "LAW500-2271/10501 LAW SPRING Some(80) [pmorgan@law.northfield.edu] [] [LAWCAMP|80] Normal",
            "MUS210-2271/10400 MUSIC SPRING Some(24) [kchen@northfield.edu] [] [MAIN|24] Normal",
        ]
    );
    assert_eq!(
        (
            mapped.rows_read,
            mapped.rows_skipped,
            mapped.rows_merged,
            mapped.rows_rejected
        ),
        (10, 2, 1, 0)
    );
    assert_eq!(mapped.terms, ["2269", "2271"]);
    let findings: Vec<(&str, Option<u64>)> = mapped
        .findings
        .iter()
        .map(|f| (f.code.as_str(), f.line))
        .collect();
    assert_eq!(
        findings,
        [
            ("W-PROC-DEPT-DEFAULT", Some(8)),
            ("W-TERM-UNMAPPED", Some(11))
        ]
    );
    let requests: Vec<String> = mapped
        .courses
        .iter()
        .filter_map(|c| {
            let key = c.natural_key();
            c.rollover_request(&key).map(|r| format!("{key} <- {r:?}"))
        })
        .collect();
    assert_eq!(
        requests,
        [
            "CHEM110-2271/10600 <- SameCourse { values: [\"CHEM110\"] }",
            "DEV001-2271/10800 <- SameCourse { values: [\"DEV001\"] }",
            "EDUC300-2271/10850 <- SameCourse { values: [\"EDUC300\"] }",
            "ENGL205-2271/10700 <- CopyFrom { code: \"ENGL205-2267\", section: Some(\"10210\"), line: 6 }",
            "HIST101-2271/10234 <- SameCourse { values: [\"HIST101\"] }",
            "LAW500-2271/10501 <- SameCourse { values: [\"LAW500\"] }",
            "MUS210-2271/10400 <- SameCourse { values: [\"MUS210\"] }",
        ]
    );
}

fn rules() -> ProcessingDepartmentRules {
    let rule = |campus: &[&str], college: &[&str], subject: &[&str], code: &[&str], dept: &str| {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        toml::Spanned::new(
            0..0,
            ProcessingDepartmentRule {
                campus: v(campus),
                college: v(college),
                subject_prefix: v(subject),
                code_prefix: v(code),
                department: dept.into(),
            },
        )
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
[merge]
cross_list = "{XLIST}"
"#;

fn check_merge(csv: &str, expected: &[&str]) {
    let mapped = map_text(&course_config(SMALL), csv);
    let got: Vec<String> = mapped
        .courses
        .iter()
        .map(|c| {
            let r = c.course_row(&c.natural_key());
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
    let head = "CODE,TITLE,SECTION,START,END,TERM,INSTR_A,INSTR_B,STATUS,XLIST\n";
    // Instructors from several columns and several rows; the lowest section leads.
    check_merge(
        &format!(
            "{head}C1,T,20,2027-01-01,2027-05-01,S27,a,b,,\nC1,T,3,2027-01-01,2027-05-01,S27,c,a,,\n"
        ),
        &["C1/3||c a b||20"],
    );
    // An active row beats a cancelled one.
    check_merge(
        &format!(
            "{head}C1,T,1,2027-01-01,2027-05-01,S27,a,,X,\nC1,T,2,2027-01-01,2027-05-01,S27,b,,,\n"
        ),
        &["C1/2||b||"],
    );
    // Past ten instructors, the rest go to MULTI_INST.
    let many: String = (0..12)
        .map(|i| format!("C1,T,1,2027-01-01,2027-05-01,S27,i{i:02},,,\n"))
        .collect();
    check_merge(
        &format!("{head}{many}"),
        &["C1/1||i00 i01 i02 i03 i04 i05 i06 i07 i08 i09|i10 i11|"],
    );
    // Sections compare as numbers.
    check_merge(
        &format!(
            "{head}C2,T,100,2027-01-01,2027-05-01,S27,,,,\nC2,T,99,2027-01-01,2027-05-01,S27,,,,\n"
        ),
        &["C2/99||||100"],
    );
    // Cross-listed rows (one cross-list group) are one course whatever their codes: the
    // lowest code leads, the other code and section become searchable ids.
    check_merge(
        &format!(
            "{head}HIST1,T,7,2027-01-01,2027-05-01,S27,a,,,X9\nANTH1,T,8,2027-01-01,2027-05-01,S27,b,,,X9\nHIST2,T,5,2027-01-01,2027-05-01,S27,c,,,\n"
        ),
        &["HIST2/5||c||", "ANTH1/8||b a||HIST1 7"],
    );
}

#[test]
fn bad_source_values_reject_the_row_with_its_position_and_hold_the_course() {
    let csv = "CODE,TITLE,SECTION,START,END,TERM,INSTR_A,INSTR_B,STATUS,XLIST\nC1,T,1,soon,2027-05-01,S27,,,,\nC2,T,1,2027-01-01,2027-05-01,S27,,,,\nC1,T,2,2027-01-01,2027-05-01,S27,,,,\n";
    let mapped = map_text(&course_config(SMALL), csv);
    let courses: Vec<String> = mapped.courses.iter().map(|c| c.group.clone()).collect();
    assert_eq!(courses, ["C2"]);
    assert_eq!(mapped.held_groups, ["C1"]);
    assert_eq!(
        (mapped.rows_rejected, mapped.rows_held),
        (1, 1),
        "{mapped:#?}"
    );
    let got: Vec<String> = mapped.findings.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "x.csv:2:4: error[E-SOURCE-DATE]: \"soon\" is not a date in the source's date format (course C1/1)"
        ]
    );
}

#[test]
fn a_minimal_cancelled_row_is_a_course_to_delete() {
    let csv = "CODE,TITLE,SECTION,START,END,TERM,INSTR_A,INSTR_B,STATUS,XLIST\nC1,,1,,,S27,,,X,\n";
    let mapped = map_text(&course_config(SMALL), csv);
    assert!(mapped.findings.is_empty(), "{:#?}", mapped.findings);
    assert!(mapped.courses[0].cancelled());
}

#[test]
fn unknown_columns_are_the_patron_feeds_config_errors() {
    let csv = "CODE,TITLE,SECTION,START,END,TERM,INSTR_A,STATUS,XLIST\n";
    let err = try_map_text(&course_config(SMALL), csv).unwrap_err();
    // The file's column names are kept out of the message (a file without its header row
    // would show a record); they are there for whoever asks.
    assert_eq!(
        err.to_string(),
        "courses.toml:16:23: column \"INSTR_B\" is not in the extract (x.csv has 9 column(s); the column names of a file are not shown, as they come from the file)"
    );
    let err = try_map_text(
        &course_config(&SMALL.replace("{TITLE}", "{NAME}")),
        "CODE,TITLE,SECTION,START,END,TERM,INSTR_A,INSTR_B,STATUS,XLIST\n",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("courses.toml:6:9: column \"NAME\" is not in the extract"),
        "{err}"
    );
}

#[test]
fn field_rules_map_values_as_for_patrons() {
    let config = course_config(&SMALL.replace(
        "title = \"{TITLE}\"",
        "title = { template = \"{TITLE}\", case = \"upper\", map = { \"X\" = \"Unknown\" } }",
    ));
    let csv = "CODE,TITLE,SECTION,START,END,TERM,INSTR_A,INSTR_B,STATUS,XLIST\nC1,ethics,1,2027-01-01,2027-05-01,S27,,,,\nC2,x,1,2027-01-01,2027-05-01,S27,,,,\n";
    let titles: Vec<String> = map_text(&config, csv)
        .courses
        .iter()
        .map(|c| c.course_row(&c.natural_key()).title)
        .collect();
    assert_eq!(titles, ["ETHICS", "Unknown"]);
}

proptest::proptest! {
    /// Any extract rows: no panic, and every row is a course's section, skipped, rejected
    /// with a finding, or held with its course.
    #[test]
    fn every_row_is_accounted_for(rows in proptest::collection::vec(
        (
            "[A-C]{1}",
            "[0-9]{1,2}",
            proptest::prop_oneof![proptest::strategy::Just("2027-01-01".to_owned()), "[0-9x-]{0,10}"],
            proptest::prop_oneof![proptest::strategy::Just("S27".to_owned()), "[A-Z0-9]{0,3}"],
            "[a-z;]{0,6}",
            proptest::prop_oneof![proptest::strategy::Just(String::new()), proptest::strategy::Just("X".to_owned())],
            proptest::prop_oneof![proptest::strategy::Just(String::new()), "[12]"],
        ),
        0..12,
    )) {
        let mut csv = "CODE,TITLE,SECTION,START,END,TERM,INSTR_A,INSTR_B,STATUS,XLIST\n".to_owned();
        for (code, section, start, term, instructors, status, xlist) in &rows {
            csv.push_str(&format!("{code},T,{section},{start},2027-05-01,{term},{instructors},,{status},{xlist}\n"));
        }
        let mapped = map_text(&course_config(SMALL), &csv);
        proptest::prop_assert_eq!(mapped.rows_read, rows.len() as u64);
        let sections: u64 = mapped.courses.iter().map(|c| c.sections.len() as u64).sum();
        proptest::prop_assert_eq!(
            sections + mapped.rows_skipped + mapped.rows_rejected + mapped.rows_unreadable + mapped.rows_held,
            mapped.rows_read,
            "{:#?}", mapped
        );
        let rejected = mapped.findings.iter().filter(|f| f.is_error()).count() as u64;
        proptest::prop_assert!(rejected >= mapped.rows_rejected);
        for course in &mapped.courses {
            let row = course.course_row(&course.natural_key());
            proptest::prop_assert!(leganto_courses::check_row(&row, &leganto_courses::CodeLists::default()).iter().all(|f| !f.is_error()));
        }
    }
}
