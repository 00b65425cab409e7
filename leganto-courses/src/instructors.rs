//! Instructors against the users the patron feed loaded: Alma links an instructor to a
//! course only if the instructor is a user.

use std::collections::BTreeSet;

use crate::delta::Delta;
use crate::finding::Finding;
use crate::mapping::MappedCourses;

/// A warning for each instructor of today's courses that `loaded` does not know, once per
/// course: the course's key, the extract line and the instructor's id (ids only). `feed`
/// names the patron feed in the message.
pub fn unloaded_instructors(
    mapped: &MappedCourses,
    delta: &Delta,
    loaded: &dyn Fn(&str) -> bool,
    feed: &str,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for course in &mapped.courses {
        let Some(key) = delta.keys.get(&course.group) else {
            continue;
        };
        let mut reported: BTreeSet<&str> = BTreeSet::new();
        for section in course.sections.iter().filter(|s| s.active()) {
            for id in section
                .row
                .instructors
                .iter()
                .chain(&section.row.multi_instructors)
            {
                if !loaded(id) && reported.insert(id.as_str()) {
                    findings.push(
                        Finding::warning(
                            "W-INSTRUCTOR-NOT-LOADED",
                            format!(
                                "instructor {id} is not a user the patron feed {feed:?} has loaded; Alma needs instructors as users"
                            ),
                        )
                        .in_file(&mapped.file)
                        .at(section.line, None)
                        .for_course(key.to_string()),
                    );
                }
            }
        }
    }
    findings
}
