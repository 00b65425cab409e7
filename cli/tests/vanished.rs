//! People who vanish, end to end over many days: a student vanishes, comes back, vanishes
//! again; a member of staff vanishes for good; with a grace, people whose expiry date sent
//! comes sooner keep it. Their dates follow the rules (expiry: the day they vanished plus
//! the grace, or the expiry date last sent when earlier; purge: expiry + the `[purge]` rule of their last group, never within
//! `state.purge_minimum_days` of the expiry or the run date), `explain` tells the same, and
//! nobody in any zip is sent with a purge date within the minimum of its run without the
//! report saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use chrono::{Days, NaiveDate};

use crate::state::Demo;
use crate::support::expect_code;

/// One user in a zip.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    group: String,
    expiry: Option<NaiveDate>,
    purge: Option<NaiveDate>,
}

fn users_in(zip: &Path) -> BTreeMap<String, Sent> {
    let xml = crate::support::unzip_text(zip);
    let text = |user: &str, open: &str| {
        user.find(open).map(|i| {
            let rest = &user[i + open.len()..];
            let rest = &rest[rest.find('>').unwrap() + 1..];
            rest[..rest.find('<').unwrap()].to_owned()
        })
    };
    let date = |user: &str, tag: &str| {
        text(user, &format!("<{tag}"))
            .map(|d| NaiveDate::parse_from_str(d.trim_end_matches('Z'), "%Y-%m-%d").unwrap())
    };
    xml.split("<user>")
        .skip(1)
        .map(|u| {
            (
                text(u, "<primary_id").unwrap(),
                Sent {
                    group: text(u, "<user_group").unwrap_or_default(),
                    expiry: date(u, "expiry_date"),
                    purge: date(u, "purge_date"),
                },
            )
        })
        .collect()
}

fn d(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn plus(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_add_days(Days::new(days)).unwrap()
}

/// The demo with students purged 100 days after expiry (others a year), a 90-day minimum,
/// three re-sends, delta mode and a brake that lets every day through.
fn demo() -> Demo {
    let demo = Demo::new();
    let config = std::fs::read_to_string(demo.config()).unwrap();
    let students = "[[purge.rule]]\ngroups = [\"UGRD\", \"GRAD\"]\nafter = \"6m\"";
    assert!(
        config.contains(students),
        "the demo purges students after 6m"
    );
    let config = config.replace(students, &students.replace("6m", "100d"))
        + "\n[state]\nmode = \"delta\"\nvanished_runs = 3\npurge_minimum_days = 90\n\
           brake_eligible_drop_percent = 100\nbrake_changed_percent = 100\n";
    std::fs::write(demo.config(), config).unwrap();
    std::fs::set_permissions(demo.config(), std::fs::Permissions::from_mode(0o600)).unwrap();
    demo
}

/// The extract without the rows of `gone`.
fn extract_without(original: &str, gone: &[&str]) -> String {
    original
        .lines()
        .filter(|l| !gone.contains(&l.split(',').next().unwrap_or("")))
        .map(|l| format!("{l}\n"))
        .collect()
}

struct Day {
    date: NaiveDate,
    /// Users sent, from the run's zips.
    sent: BTreeMap<String, Sent>,
    /// Vanished people the report lists.
    vanished: BTreeSet<String>,
    /// People the report lists under W-PURGE-SOON.
    purge_soon: BTreeSet<String>,
}

/// Runs `date` with `gone` missing from the extract; returns what it sent and reported.
fn run(demo: &Demo, original: &str, date: &str, gone: &[&str]) -> Day {
    std::fs::write(demo.people(), extract_without(original, gone)).unwrap();
    let before: BTreeSet<_> = demo.drop_zips().into_iter().collect();
    let out = demo.run(&format!("{date}T04:00:00Z"), &[]);
    expect_code(&out, 0);
    let mut sent = BTreeMap::new();
    for zip in demo.drop_zips() {
        if !before.contains(&zip) {
            sent.extend(users_in(&zip));
        }
    }
    let stamp = date.replace('-', "");
    // One run a date, so one report starts with the date's stem (the run id follows it).
    let prefix = format!("DEMO_patrons_{stamp}040000_r");
    let report = std::fs::read_dir(demo.root().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".report.json")
        })
        .expect("the run's report");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    let ids = |key: &str| -> BTreeSet<String> {
        json[key]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    Day {
        date: d(date),
        sent,
        vanished: ids("vanished"),
        purge_soon: ids("purge_soon"),
    }
}

/// Nobody is sent with a purge date within the minimum of the run date unless the report
/// says so; a vanished person never.
fn check_minimum(day: &Day) {
    let floor = plus(day.date, 90);
    for (id, user) in &day.sent {
        let Some(purge) = user.purge else { continue };
        if day.vanished.contains(id) {
            assert!(purge >= floor, "{}: {id} vanished, purge {purge}", day.date);
            let expiry = user.expiry.unwrap();
            assert!(purge >= plus(expiry, 90), "{}: {id}: {user:?}", day.date);
        } else {
            assert_eq!(
                purge < floor,
                day.purge_soon.contains(id),
                "{}: {id}: {user:?} and W-PURGE-SOON",
                day.date
            );
        }
    }
}

fn explain(demo: &Demo, now: &str, id: &str) -> String {
    let out = demo.cmd(&["--now", now, "explain", id]);
    expect_code(&out, 0);
    String::from_utf8(out.stdout)
        .unwrap()
        .replace(&demo.root().display().to_string(), "[TMP]")
}

#[test]
fn a_person_vanishes_comes_back_and_vanishes_again_with_safe_dates_every_day() {
    let demo = demo();
    let original = std::fs::read_to_string(demo.people()).unwrap();
    let day1 = run(&demo, &original, "2026-11-23", &[]);
    check_minimum(&day1);
    // People whose expiry date sent comes after the days they vanish here (one that comes
    // sooner is kept: see the grace test below).
    let pick = |group: &str| -> String {
        day1.sent
            .iter()
            .rev()
            .find(|(_, u)| u.group == group && u.expiry > Some(d("2026-12-31")))
            .map(|(id, _)| id.clone())
            .unwrap()
    };
    let (student, staff) = (pick("UGRD"), pick("STAFF"));
    let (s, f) = (student.as_str(), staff.as_str());
    let vanished = |expiry: &str, purge: &str| Sent {
        group: String::new(),
        expiry: Some(d(expiry)),
        purge: Some(d(purge)),
    };
    let dates = |day: &Day, id: &str| {
        let u = day
            .sent
            .get(id)
            .unwrap_or_else(|| panic!("{id} not sent on {}", day.date));
        Sent {
            group: String::new(),
            ..u.clone()
        }
    };

    // Day 2: both vanish: expiry the day they vanished, purge by their group's rule.
    std::fs::write(demo.people(), extract_without(&original, &[s, f])).unwrap();
    let before = explain(&demo, "2026-11-24T03:00:00Z", s);
    let day2 = run(&demo, &original, "2026-11-24", &[s, f]);
    check_minimum(&day2);
    assert!(day2.vanished.contains(s) && day2.vanished.contains(f));
    assert_eq!(dates(&day2, s), vanished("2026-11-24", "2027-03-04"));
    assert_eq!(dates(&day2, f), vanished("2026-11-24", "2027-11-24"));
    // Later that day, `explain` tells the re-send that was made, with its dates.
    let same_day = explain(&demo, "2026-11-24T05:00:00Z", f);
    assert!(
        same_day.contains("already re-sent today (re-send 1 of 3)")
            && same_day.contains("2027-11-24"),
        "{same_day}"
    );

    // Day 3: the student is back and sent as the mapping says; staff re-sent (2 of 3).
    let day3 = run(&demo, &original, "2026-11-25", &[f]);
    check_minimum(&day3);
    let back = &day3.sent[s];
    assert_eq!(back.purge, back.expiry.map(|e| plus(e, 100)), "{back:?}");
    assert!(!day3.vanished.contains(s));
    assert_eq!(dates(&day3, f), vanished("2026-11-24", "2027-11-24"));

    // Day 4: the student vanishes again, afresh; staff's last re-send.
    let day4 = run(&demo, &original, "2026-12-20", &[s, f]);
    check_minimum(&day4);
    assert_eq!(dates(&day4, s), vanished("2026-12-20", "2027-03-30"));
    assert_eq!(dates(&day4, f), vanished("2026-11-24", "2027-11-24"));

    // Day 5, months later: the rule's date (2027-03-30) is within 90 days of the run, so the
    // purge date moves to the minimum; staff is retired.
    let on_day5 = explain(&demo, "2027-03-01T03:00:00Z", s);
    let retired = explain(&demo, "2027-03-01T03:00:00Z", f);
    let day5 = run(&demo, &original, "2027-03-01", &[s, f]);
    check_minimum(&day5);
    assert_eq!(dates(&day5, s), vanished("2026-12-20", "2027-05-30"));
    assert!(!day5.sent.contains_key(f));
    let day6 = run(&demo, &original, "2027-03-02", &[s, f]);
    check_minimum(&day6);
    assert_eq!(dates(&day6, s), vanished("2026-12-20", "2027-05-31"));
    let day7 = run(&demo, &original, "2027-03-03", &[s, f]);
    check_minimum(&day7);
    assert!(!day7.sent.contains_key(s), "retired after three re-sends");

    let text = format!(
        "== {s} before day 2\n{before}\n== {s} before day 5\n{on_day5}\n== {f} before day 5\n{retired}"
    )
    .replace(s, "[STUDENT]")
    .replace(f, "[STAFF]");
    insta::assert_snapshot!("explain_vanished", text);
}

#[test]
fn with_a_grace_someone_who_vanishes_keeps_an_earlier_expiry_date_on_every_re_send() {
    let demo = demo();
    let config = std::fs::read_to_string(demo.config()).unwrap();
    std::fs::write(
        demo.config(),
        config.replace(
            "vanished_runs = 3\n",
            "vanished_runs = 3\nvanished_grace_days = 14\n",
        ),
    )
    .unwrap();
    let original = std::fs::read_to_string(demo.people()).unwrap();
    // Night 1: a dropped registration expires that day; a student's term ends later.
    let day1 = run(&demo, &original, "2026-11-23", &[]);
    let (dropped, staff) = ("900100125", "900100107");
    assert_eq!(day1.sent[dropped].expiry, Some(d("2026-11-23")));
    let student = day1
        .sent
        .iter()
        .find(|(_, u)| u.group == "UGRD" && u.expiry > Some(d("2026-12-24")))
        .map(|(id, _)| id.clone())
        .unwrap();
    // Night 2: a contract now ends on November 30 (sent: the expiry moved earlier).
    let contract = |line: &str| {
        if line.starts_with(&format!("{staff},")) {
            assert!(line.ends_with(",2027-06-30"), "{line}");
            format!("{},2026-11-30", &line[..line.len() - ",2027-06-30".len()])
        } else {
            line.to_owned()
        }
    };
    let edited: String = original.lines().map(|l| contract(l) + "\n").collect();
    let day2 = run(&demo, &edited, "2026-11-24", &[]);
    assert_eq!(day2.sent[staff].expiry, Some(d("2026-11-30")));

    // December 10: all three vanish, with 14 days of grace: December 24 for the student,
    // not for those whose expiry date sent comes sooner. Purge: expiry + their group's rule
    // (students 100 days, staff a year), no sooner than 90 days after the run.
    let gone = [dropped, staff, student.as_str()];
    std::fs::write(demo.people(), extract_without(&edited, &gone)).unwrap();
    let said = explain(&demo, "2026-12-10T03:00:00Z", staff);
    assert!(
        said.contains(
            "expiry date  2026-11-30 (the expiry date last sent, earlier than 2026-12-24: the \
             day they vanished + state.vanished_grace_days = 14)"
        ),
        "{said}"
    );
    let said = explain(&demo, "2026-12-10T03:00:00Z", &student);
    assert!(
        said.contains(
            "expiry date  2026-12-24 (the day they vanished + state.vanished_grace_days = 14)"
        ),
        "{said}"
    );
    // The dropped registration's rule date (2027-03-03) is within 90 days of the run: the
    // purge date is the minimum, which moves with the re-send; the expiry date does not.
    let expected = |day: &Day| {
        [
            (dropped, "2026-11-23", plus(day.date, 90)),
            (staff, "2026-11-30", d("2027-11-30")),
            (student.as_str(), "2026-12-24", d("2027-04-03")),
        ]
    };
    for date in ["2026-12-10", "2026-12-11"] {
        let day = run(&demo, &edited, date, &gone);
        check_minimum(&day);
        for (id, expiry, purge) in expected(&day) {
            assert!(day.vanished.contains(id), "{date}: {id}");
            let sent = &day.sent[id];
            assert_eq!(
                (sent.expiry, sent.purge),
                (Some(d(expiry)), Some(purge)),
                "{date}: {id}"
            );
        }
    }
}

#[test]
fn a_purge_rule_shorter_than_the_minimum_is_a_config_error() {
    let demo = Demo::new();
    let config = std::fs::read_to_string(demo.config()).unwrap();
    std::fs::write(
        demo.config(),
        config.replacen("after = \"6m\"", "after = \"3m\"", 1),
    )
    .unwrap();
    let out = demo.run("2026-11-23T04:00:00Z", &[]);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.contains("WARN"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(&demo.root().display().to_string(), "[TMP]");
    insta::assert_snapshot!("purge_rule_under_the_minimum", err);
    assert!(demo.drop_zips().is_empty());
}

#[test]
fn a_mapped_purge_date_within_the_minimum_of_the_run_is_sent_and_reported_as_w_purge_soon() {
    // Months after the terms ended, the term-based expiry dates are in the past: expiry + 6m
    // comes sooner than 90 days after the run for some students.
    let demo = Demo::new();
    std::fs::set_permissions(demo.config(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let original = std::fs::read_to_string(demo.people()).unwrap();
    let day = run(&demo, &original, "2027-06-01", &[]);
    let floor = plus(day.date, 90);
    let soon: BTreeSet<String> = day
        .sent
        .iter()
        .filter(|(_, u)| u.purge.is_some_and(|p| p < floor))
        .map(|(id, _)| id.clone())
        .collect();
    assert!(!soon.is_empty(), "the demo has term-based expiry dates");
    assert_eq!(day.purge_soon, soon);
    let summary =
        String::from_utf8(demo.run("2027-06-01T05:00:00Z", &["--dry-run"]).stdout).unwrap();
    let line = summary
        .lines()
        .find(|l| l.contains("W-PURGE-SOON"))
        .unwrap_or_else(|| panic!("{summary}"));
    insta::assert_snapshot!("w_purge_soon", line);
    let one = soon.iter().next().unwrap();
    let text = explain(&demo, "2027-06-01T05:00:00Z", one);
    assert!(text.contains("W-PURGE-SOON"), "{text}");
}

/// A delta run after the `[purge]` rules changed sends everyone again with the purge dates
/// the new rules give (their records did not change, and a delta sends a later date only
/// near expiry): the brake says why it tripped, `--force` sends them, and the next delta
/// sends nobody.
#[test]
fn new_purge_rules_reach_alma_in_a_delta() {
    let demo = Demo::new();
    let config = std::fs::read_to_string(demo.config()).unwrap();
    let students = "[[purge.rule]]\ngroups = [\"UGRD\", \"GRAD\"]\nafter = \"6m\"";
    assert!(config.contains(students));
    let delta = format!("{config}\n[state]\nmode = \"delta\"\n");
    std::fs::write(demo.config(), &delta).unwrap();
    std::fs::set_permissions(demo.config(), std::fs::Permissions::from_mode(0o600)).unwrap();
    expect_code(&demo.run("2026-11-23T04:00:00Z", &[]), 0);
    let first = users_in(demo.drop_zips().last().unwrap());

    std::fs::write(
        demo.config(),
        delta.replace(students, &students.replace("6m", "2y")),
    )
    .unwrap();
    let out = demo.run("2026-11-24T04:00:00Z", &[]);
    expect_code(&out, 4);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the [purge] rules changed"), "{err}");
    assert!(err.contains("The config changed since run 1"), "{err}");
    expect_code(&demo.run("2026-11-24T05:00:00Z", &["--force"]), 0);
    let report = std::fs::read_dir(demo.root().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.to_string_lossy()
                .ends_with("20261124050000_r3.report.json")
        })
        .expect("the forced run's report");
    let report = std::fs::read_to_string(report).unwrap();
    assert!(report.contains("W-PURGE-RULES-CHANGED"), "{report}");
    let zips = demo.drop_zips();
    let sent = users_in(zips.last().unwrap());
    assert_eq!(
        sent.keys().collect::<BTreeSet<_>>(),
        first.keys().collect::<BTreeSet<_>>(),
        "everyone sent again"
    );
    let mut students_seen = 0;
    for (id, user) in &sent {
        let expiry = user.expiry.unwrap();
        let years = if ["UGRD", "GRAD"].contains(&user.group.as_str()) {
            students_seen += 1;
            2
        } else {
            1
        };
        let rule = expiry.checked_add_months(chrono::Months::new(12 * years));
        assert_eq!(user.purge, rule, "{id}: {user:?}");
    }
    assert!(students_seen > 50, "{students_seen} students");
    let zips_before = zips.len();
    expect_code(&demo.run("2026-11-25T04:00:00Z", &[]), 0);
    assert_eq!(demo.drop_zips().len(), zips_before, "nothing more to send");
}
