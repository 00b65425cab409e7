//! The Leganto course-loading file: 34 tab-separated columns, UTF-8, CRLF, a header row and
//! a datestamped name, built from a registrar's extract.
//!
//! This crate must never read the clock (the run's timestamp is an argument), open network
//! connections or print.
#![deny(missing_docs)]

/// The 34 columns of the course-loading file, in order.
pub const COLUMNS: [&str; 34] = [
    "COURSE_CODE",
    "COURSE_TITLE",
    "SECTION_ID",
    "ACAD_DEPT",
    "PROC_DEPT",
    "TERM1",
    "TERM2",
    "TERM3",
    "TERM4",
    "START_DATE",
    "END_DATE",
    "NUM_OF_PARTICIPANTS",
    "WEEKLY_HOURS",
    "YEAR",
    "SEARCH_ID1",
    "SEARCH_ID2",
    "MULTI_SEARCH_ID",
    "INSTR1",
    "INSTR2",
    "INSTR3",
    "INSTR4",
    "INSTR5",
    "INSTR6",
    "INSTR7",
    "INSTR8",
    "INSTR9",
    "INSTR10",
    "MULTI_INST",
    "OPERATION",
    "OLD_COURSE_CODE",
    "OLD_COURSE_SECTION",
    "SUBMIT_LISTS_BY",
    "CAMPUS_AND_PARTICIPANTS",
    "READING_LIST_NAME",
];
