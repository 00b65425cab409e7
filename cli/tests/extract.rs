//! An extract is read as a whole or not trusted, end to end: per-row decoding in the report,
//! broken rows (an unclosed quote, a key with a byte-order mark or NUL) rejected with their
//! own codes and nobody vanished that night, a duplicate header, an input that changes while
//! the run reads it, giant lines and `/dev/zero` under a 512 MB address-space limit, a line
//! of commas in bounded memory; and `explain` agreeing with `run`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{alma_sis, expect_code, workspace_root};

/// The demo, copied into a temp dir (`site/demo`); runs happen in the site (`out/`,
/// `out/drop/`).
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let demo = dir.path().join("demo");
        std::fs::create_dir_all(&demo).unwrap();
        for entry in std::fs::read_dir(workspace_root().join("examples/demo")).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, demo.join(path.file_name().unwrap())).unwrap();
            }
        }
        // A config only its owner reads, as a scheduled run keeps it.
        use std::os::unix::fs::PermissionsExt as _;
        let config = demo.join("alma-sis.toml");
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        Site { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self) -> PathBuf {
        self.root().join("demo/alma-sis.toml")
    }

    fn people(&self) -> PathBuf {
        self.root().join("demo/people.csv")
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.people())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn write_lines(&self, lines: &[String]) {
        std::fs::write(self.people(), lines.join("\n") + "\n").unwrap();
    }

    /// Edits the config's text.
    fn edit_config(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.config()).unwrap();
        assert!(text.contains(from), "{from:?} not in the demo config");
        std::fs::write(self.config(), text.replacen(from, to, 1)).unwrap();
    }

    fn args<'a>(&'a self, config: &'a str, now: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["run", "--config", config, "--now", now];
        args.extend_from_slice(extra);
        args
    }

    fn run(&self, now: &str, extra: &[&str]) -> Output {
        let config = self.config().display().to_string();
        alma_sis(self.root(), &self.args(&config, now, extra))
    }

    fn explain(&self, id: &str) -> Output {
        let config = self.config().display().to_string();
        alma_sis(
            self.root(),
            &[
                "explain",
                id,
                "--config",
                &config,
                "--now",
                "2026-11-23T04:00:00Z",
            ],
        )
    }

    fn zips(&self) -> Vec<PathBuf> {
        let mut zips: Vec<PathBuf> = std::fs::read_dir(self.root().join("out/drop"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        zips.retain(|p| p.extension().is_some_and(|e| e == "zip"));
        zips.sort();
        zips
    }

    /// The run-state items (`state export`), one JSON object a line.
    fn state(&self) -> String {
        let config = self.config().display().to_string();
        let out = alma_sis(self.root(), &["state", "export", "--config", &config]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The report file (`ext`: `json` or `html`) of the run at `stamp` (`YYYYMMDDHHMMSS`;
    /// the name goes on with the run's id).
    fn report_file(&self, stamp: &str, ext: &str) -> String {
        let prefix = format!("DEMO_patrons_{stamp}");
        let suffix = format!(".report.{ext}");
        let found: Vec<PathBuf> = std::fs::read_dir(self.root().join("out"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with(&prefix) && name.ends_with(&suffix)
            })
            .collect();
        assert_eq!(found.len(), 1, "{prefix}*{suffix}: {found:?}");
        std::fs::read_to_string(&found[0]).unwrap()
    }

    fn report(&self, stamp: &str) -> serde_json::Value {
        serde_json::from_str(&self.report_file(stamp, "json")).unwrap()
    }

    fn html(&self, stamp: &str) -> String {
        self.report_file(stamp, "html")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Users in a zip: (primary id, expiry date, first name, last name).
fn users_in(zip: &Path) -> Vec<(String, String, String, String)> {
    let out = Command::new("unzip").arg("-p").arg(zip).output().unwrap();
    assert!(out.status.success());
    let xml = String::from_utf8(out.stdout).unwrap();
    let field = |u: &str, tag: &str| {
        let open = format!("<{tag}>");
        u.find(&open).map_or(String::new(), |i| {
            let rest = &u[i + open.len()..];
            unescape(&rest[..rest.find('<').unwrap()])
        })
    };
    xml.split("<user>")
        .skip(1)
        .map(|u| {
            (
                field(u, "primary_id"),
                field(u, "expiry_date"),
                field(u, "first_name"),
                field(u, "last_name"),
            )
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Reasons the report gives for the rows of `id`.
fn reasons_for(report: &serde_json::Value, id: &str) -> Vec<String> {
    report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"] == id)
        .flat_map(|r| r["reasons"].as_array().unwrap().clone())
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

/// The rejected entries of `people.csv` in the report: (line, id shown, first reason).
fn rejected_in_people(report: &serde_json::Value) -> Vec<(u64, String, String)> {
    report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["file"] == "people.csv")
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["id"].as_str().unwrap().to_owned(),
                r["reasons"][0].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The first field of a demo line (the person id).
fn id_of(line: &str) -> String {
    line.split(',').next().unwrap().to_owned()
}

/// The column number of `name` in the demo extract.
fn col(header: &str, name: &str) -> usize {
    header.split(',').position(|h| h == name).unwrap()
}

/// The index (in `lines`) of a row whose first field is `id`.
fn row_of(lines: &[String], id: &str) -> usize {
    lines
        .iter()
        .position(|l| l.split(',').next() == Some(id))
        .unwrap()
}

/// Ids of people with exactly one row and a school email, in file order.
fn single_row_people(lines: &[String]) -> Vec<String> {
    let ids: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    ids.iter()
        .filter(|id| ids.iter().filter(|i| i == id).count() == 1)
        .filter(|id| {
            lines
                .iter()
                .any(|l| l.contains(&format!(",u{id}@demo.example.edu,")))
        })
        .filter(|id| {
            // Loaded (the demo filters some people out).
            let l = &lines[row_of(lines, id)];
            !l.contains("AFFILIATE") && !l.contains("EMERITUS") && !l.contains("TEMP")
        })
        .map(|id| (*id).to_owned())
        .collect()
}

#[test]
fn an_unclosed_quote_expires_nobody_and_the_next_clean_night_sends_what_it_held_back() {
    let site = Site::new();
    // Night 1: the demo as it is.
    expect_code(&site.run("2026-11-23T04:00:00Z", &[]), 0);
    let first = site.zips();
    assert_eq!(first.len(), 1);

    // Night 2: P's email changes, but P's row opens a quote it never closes; V left.
    let mut lines = site.lines();
    let people = single_row_people(&lines);
    let (p, v) = (people[3].clone(), people[10].clone());
    let at = row_of(&lines, &p);
    let first_name = col(&lines[0], "first_name");
    let mut fields: Vec<String> = lines[at].split(',').map(str::to_owned).collect();
    fields[col(&lines[0], "email")] = format!("u{p}.new@demo.example.edu");
    let fixed = fields.join(",");
    fields[first_name] = format!("\"{}", fields[first_name]);
    lines[at] = fields.join(",");
    let broken_line = at + 1;
    lines.remove(row_of(&lines, &v));
    site.write_lines(&lines);
    let state_before = site.state();
    let night2 = site.run("2026-11-24T04:00:00Z", &["--mode", "delta"]);
    expect_code(&night2, 1);
    let report = site.report("20261124040000");
    assert_eq!(report["vanished"], serde_json::json!([]), "nobody vanished");
    assert_eq!(report["extract"]["read_cleanly"], false);
    assert!(
        report["extract"]["note"]
            .as_str()
            .unwrap()
            .contains("no one was treated as vanished"),
    );
    // P's key is on no clean row: the row is named by its line alone.
    let rejected = rejected_in_people(&report);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(
        (rejected[0].0, rejected[0].1.as_str()),
        (broken_line as u64, "")
    );
    assert!(
        rejected[0]
            .2
            .starts_with(&format!("E-READ-QUOTE: people.csv:{broken_line}: ")),
        "{rejected:?}"
    );
    let summary = text(&night2.stdout);
    assert!(summary.contains("did not read cleanly"), "{summary}");
    assert!(
        site.html("20261124040000")
            .contains("no one was treated as vanished")
    );
    // Nobody expired: no zip that night (nothing changed that could be read), V still
    // present in the state.
    assert_eq!(site.zips().len(), 1);
    let state = site.state();
    let line_of = |s: &str, id: &str| {
        s.lines()
            .find(|l| l.contains(&format!("\"key\":\"{id}\"")))
            .map(str::to_owned)
    };
    assert!(
        line_of(&state, &v)
            .unwrap()
            .contains("\"status\":\"present\""),
        "{state}"
    );
    assert_eq!(line_of(&state, &p), line_of(&state_before, &p));

    // Night 3: the extract is fixed; V is still gone.
    let mut lines = site.lines();
    lines[at] = fixed;
    site.write_lines(&lines);
    let night3 = site.run("2026-11-25T04:00:00Z", &["--mode", "delta"]);
    expect_code(&night3, 0);
    let zips = site.zips();
    assert_eq!(zips.len(), 2);
    let sent = users_in(&zips[1]);
    let ids: Vec<&str> = sent.iter().map(|u| u.0.as_str()).collect();
    assert!(ids.contains(&p.as_str()), "{ids:?}");
    assert!(ids.contains(&v.as_str()), "{ids:?}");
    let expired = sent.iter().find(|u| u.0 == v).unwrap();
    assert_eq!(
        expired.1, "2026-11-25Z",
        "V expires the night it is first missed"
    );
    assert_eq!(
        site.report("20261125040000")["extract"]["read_cleanly"],
        true
    );
}

#[test]
fn a_stray_quote_pair_that_swallows_a_row_is_refused_with_its_lines_and_expires_nobody() {
    let site = Site::new();
    site.edit_config(
        "key = \"person_id\"\ndelimiter = \",\"\n",
        "key = \"person_id\"\ndelimiter = \",\"\nmultiline = true\n",
    );
    // Night 1: the demo as it is.
    expect_code(&site.run("2026-11-23T04:00:00Z", &[]), 0);
    let rows_read = site.report("20261123040000")["counts"]["rows_read"]
        .as_u64()
        .unwrap();
    let sent_before = site.zips().len();

    // Night 2: X's last name opens a quote (`"Xylo`) and Y's, on the next line, closes it
    // (`Yang"`): one record of the field count of a row, X's fields then Y's.
    let clean = site.lines();
    let people = single_row_people(&clean);
    let at = (1..clean.len() - 1)
        .find(|&i| people.contains(&id_of(&clean[i])) && people.contains(&id_of(&clean[i + 1])))
        .expect("two loaded people on adjacent lines");
    let (x, y) = (id_of(&clean[at]), id_of(&clean[at + 1]));
    let last_name = col(&clean[0], "last_name");
    let mut lines = clean.clone();
    for (i, quote) in [(at, "\"{}"), (at + 1, "{}\"")] {
        let mut fields: Vec<String> = lines[i].split(',').map(str::to_owned).collect();
        fields[last_name] = quote.replace("{}", &fields[last_name]);
        lines[i] = fields.join(",");
    }
    site.write_lines(&lines);
    let night2 = site.run("2026-11-24T04:00:00Z", &[]);
    expect_code(&night2, 1);
    let report = site.report("20261124040000");
    assert_eq!(report["vanished"], serde_json::json!([]), "nobody vanished");
    assert_eq!(report["extract"]["read_cleanly"], false);
    // One record refused, named by its lines (X's key is on no clean row: no id shown).
    let line = at as u64 + 1;
    let rejected = rejected_in_people(&report);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!((rejected[0].0, rejected[0].1.as_str()), (line, ""));
    let want = format!(
        "E-READ-QUOTE: people.csv:{line}: a quoted field (column \"last_name\") runs from \
         line {line} over the line break into line {} and holds 23 delimiters, a whole row's \
         worth: a stray quote?",
        line + 1
    );
    assert!(rejected[0].2.starts_with(&want), "{rejected:?}");
    assert_eq!(report["counts"]["rows_read"], rows_read - 1);
    // Nobody was sent with the other's data, nor at all.
    for zip in &site.zips()[sent_before..] {
        let xml = crate::support::unzip_text(zip);
        for id in [&x, &y] {
            assert!(
                !xml.contains(&format!("<primary_id>{id}</primary_id>")),
                "{id}"
            );
        }
        assert!(
            !xml.contains(&format!("u{y}@demo.example.edu")),
            "Y's email"
        );
    }
    let state = site.state();
    let item = |id: &str| {
        state
            .lines()
            .find(|l| l.contains(&format!("\"key\":\"{id}\"")))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    for id in [&x, &y] {
        assert!(item(id).contains("\"status\":\"present\""), "{id}: {state}");
    }

    // Night 3: the extract is fixed; both are there, neither expired.
    let sent_before = site.zips().len();
    site.write_lines(&clean);
    let night3 = site.run("2026-11-25T04:00:00Z", &["--mode", "delta"]);
    expect_code(&night3, 0);
    let report = site.report("20261125040000");
    assert_eq!(report["vanished"], serde_json::json!([]));
    assert_eq!(report["counts"]["users_vanished"], 0);
    for zip in &site.zips()[sent_before..] {
        for user in users_in(zip) {
            assert!(
                !(user.0 == y && user.1.starts_with("2026-11-2")),
                "Y expired: {user:?}"
            );
        }
    }
    let state = site.state();
    assert!(
        state.lines().any(
            |l| l.contains(&format!("\"key\":\"{y}\"")) && l.contains("\"status\":\"present\"")
        ),
        "{state}"
    );
}

/// Every file of the run's work directory whose name ends in `suffix`, read.
fn outputs(site: &Site, suffix: &str) -> Vec<String> {
    std::fs::read_dir(site.root().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// Fails when any of `texts` is in the run's reports, reject files, summary or logs.
fn shown_nowhere(site: &Site, out: &Output, texts: &[&str]) {
    let mut places: Vec<(String, String)> = Vec::new();
    for suffix in [".report.json", ".report.html", ".rejects.csv"] {
        for text in outputs(site, suffix) {
            places.push((suffix.to_owned(), text));
        }
    }
    assert!(places.len() >= 2, "the reports");
    places.push(("stdout".to_owned(), text(&out.stdout)));
    places.push(("stderr".to_owned(), text(&out.stderr)));
    for (place, body) in &places {
        for t in texts {
            assert!(!body.contains(t), "{t:?} in {place}:\n{body}");
        }
    }
}

#[test]
fn a_broken_rows_key_is_shown_only_when_a_clean_row_of_its_input_has_it() {
    // A shifted row: the key column moved after the last name, and an unquoted comma in
    // the first name moves the last name into it.
    let site = Site::new();
    let lines: Vec<String> = site
        .lines()
        .iter()
        .map(|l| {
            let mut fields: Vec<&str> = l.split(',').collect();
            let id = fields.remove(0);
            fields.insert(4, id);
            fields.join(",")
        })
        .collect();
    let header = lines[0].clone();
    let ids: Vec<String> = lines
        .iter()
        .map(|l| l.split(',').nth(4).unwrap().to_owned())
        .collect();
    let s = lines
        .iter()
        .position(|l| {
            l.contains("STUDENT")
                && ids
                    .iter()
                    .filter(|i| **i == l.split(',').nth(4).unwrap())
                    .count()
                    == 1
        })
        .unwrap();
    let mut shifted = lines.clone();
    let mut fields: Vec<String> = shifted[s].split(',').map(str::to_owned).collect();
    fields[col(&header, "first_name")] = "Ann, Jr.".to_owned();
    fields[col(&header, "last_name")] = "Quarrington".to_owned();
    shifted[s] = fields.join(",");
    site.write_lines(&shifted);
    let out = site.run("2026-11-23T04:00:00Z", &[]);
    expect_code(&out, 1);
    let report = site.report("20261123040000");
    let rejected = rejected_in_people(&report);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!((rejected[0].0, rejected[0].1.as_str()), (s as u64 + 1, ""));
    assert!(rejected[0].2.starts_with("E-READ-FIELDS: "), "{rejected:?}");
    shown_nowhere(&site, &out, &["Quarrington"]);

    // An address left open (no `multiline`) and its continuation line, whose key column
    // holds the rest of the address; and a broken row of M, who has a clean row too.
    let site = Site::new();
    expect_code(&site.run("2026-11-23T04:00:00Z", &[]), 0);
    let sent_before = site.zips().len();
    let mut lines = site.lines();
    let people = single_row_people(&lines);
    let p = people[2].clone();
    let at = row_of(&lines, &p);
    let address = col(&lines[0], "address_line1");
    let fields: Vec<String> = lines[at].split(',').map(str::to_owned).collect();
    let open = [&fields[..address], &["\"77 Quillfeather Rd".to_owned()]].concat();
    let rest = [&["Apt 9\"".to_owned()], &fields[address + 1..]].concat();
    lines[at] = open.join(",");
    lines.insert(at + 1, rest.join(","));
    let ids: Vec<String> = lines.iter().map(|l| id_of(l)).collect();
    let m = ids[1..]
        .iter()
        .find(|id| ids.iter().filter(|i| i == id).count() == 2)
        .unwrap()
        .clone();
    let m_lines: Vec<usize> = (1..lines.len()).filter(|&i| ids[i] == m).collect();
    lines[m_lines[1]].push_str(",x");
    site.write_lines(&lines);
    let out = site.run("2026-11-24T04:00:00Z", &[]);
    expect_code(&out, 1);
    let report = site.report("20261124040000");
    assert_eq!(report["vanished"], serde_json::json!([]));
    let rejected = rejected_in_people(&report);
    let shown: Vec<(u64, &str, &str)> = rejected
        .iter()
        .map(|r| (r.0, r.1.as_str(), r.2.split(':').next().unwrap()))
        .collect();
    let line = |i: usize| i as u64 + 1;
    let mut want = vec![
        (line(at), "", "E-READ-QUOTE"),
        (line(at + 1), "", "E-READ-FIELDS"),
        (line(m_lines[0]), m.as_str(), "E-READ-FIELDS"),
        (line(m_lines[1]), m.as_str(), "E-READ-FIELDS"),
    ];
    let mut shown = shown;
    shown.sort();
    want.sort();
    assert_eq!(shown, want);
    shown_nowhere(&site, &out, &["Quillfeather", "Apt 9"]);
    // M's clean row is held with the broken one: M is not sent, and still present.
    for zip in &site.zips()[sent_before..] {
        assert!(users_in(zip).iter().all(|u| u.0 != m));
    }
    let state = site.state();
    assert!(
        state.lines().any(
            |l| l.contains(&format!("\"key\":\"{m}\"")) && l.contains("\"status\":\"present\"")
        ),
        "{state}"
    );
}

#[test]
fn a_key_with_a_byte_order_mark_or_a_nul_is_rejected_and_nobody_vanishes() {
    let site = Site::new();
    expect_code(&site.run("2026-11-23T04:00:00Z", &[]), 0);
    let mut lines = site.lines();
    let people = single_row_people(&lines);
    let (a, b) = (people[0].clone(), people[1].clone());
    let (ia, ib) = (row_of(&lines, &a), row_of(&lines, &b));
    lines[ia] = format!("\u{feff}{}", lines[ia]);
    lines[ib] = lines[ib].replacen(&b, &format!("{b}\u{0}"), 1);
    site.write_lines(&lines);
    let out = site.run("2026-11-24T04:00:00Z", &[]);
    expect_code(&out, 1);
    let report = site.report("20261124040000");
    assert_eq!(report["vanished"], serde_json::json!([]));
    let codes: Vec<String> = report["rejected_by_code"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {}", c["name"].as_str().unwrap(), c["count"]))
        .collect();
    assert!(codes.contains(&"E-READ-KEY-CHAR 2".to_owned()), "{codes:?}");
    let rejected = report["rejected"].as_array().unwrap();
    let lines_rejected: Vec<u64> = rejected
        .iter()
        .filter(|r| {
            r["reasons"][0]
                .as_str()
                .unwrap()
                .starts_with("E-READ-KEY-CHAR")
        })
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines_rejected, [ia as u64 + 1, ib as u64 + 1]);
    // Neither a user with the odd key nor the real people expired today.
    let zip = site.zips().pop().unwrap();
    let sent = users_in(&zip);
    assert!(
        sent.iter()
            .all(|u| u.0 != a && u.0 != b && !u.0.contains('\u{feff}'))
    );
    assert!(sent.iter().all(|u| u.1 != "2026-11-24Z" || !u.0.is_empty()));
}

#[test]
fn a_duplicate_header_name_stops_the_run_before_anything_changes() {
    let site = Site::new();
    expect_code(&site.run("2026-11-23T04:00:00Z", &[]), 0);
    let (state, zips) = (site.state(), site.zips());
    let mut lines = site.lines();
    lines[0] = lines[0].replacen(",middle_name,", ",last_name,", 1);
    site.write_lines(&lines);
    let out = site.run("2026-11-24T04:00:00Z", &[]);
    expect_code(&out, 2);
    let err = text(&out.stderr);
    insta::assert_snapshot!(
        "duplicate_header",
        err.replace(&site.root().display().to_string(), "[TMP]")
    );
    assert_eq!(site.state(), state);
    assert_eq!(site.zips(), zips);
    let report = site.report("20261124040000");
    assert_eq!(report["outcome"]["exit_code"], 2);
}

#[cfg(feature = "fault-injection")]
/// Waits until process `pid` is stopped (state `T` in `/proc`).
fn wait_stopped(pid: u32) {
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the command name, which is in parentheses.
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('T'))
        {
            return;
        }
        assert!(!stat.is_empty(), "the run ended before it stopped");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(feature = "fault-injection")]
#[test]
fn an_input_that_changes_while_the_run_reads_it_fails_with_exit_2_and_sends_nothing() {
    let site = Site::new();
    expect_code(&site.run("2026-11-23T04:00:00Z", &[]), 0);
    let (state, zips) = (site.state(), site.zips());
    let config = site.config().display().to_string();
    // The run stops itself once the extract is read; the extract is then rewritten in
    // place, same size (a SIS job still writing), and the run continued.
    let child = Command::new(env!("CARGO_BIN_EXE_alma-sis"))
        .args(site.args(&config, "2026-11-24T04:00:00Z", &["--quiet"]))
        .current_dir(site.root())
        .env_remove("ALMA_SIS_CONFIG")
        .env("ALMA_SIS_TEST_FAULT", "stop-after-read")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_stopped(child.id());
    let mut bytes = std::fs::read(site.people()).unwrap();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'7' { b'8' } else { b'7' };
    std::fs::write(site.people(), &bytes).unwrap();
    let cont = Command::new("kill")
        .args(["-CONT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(cont.success());
    let out = child.wait_with_output().unwrap();
    expect_code(&out, 2);
    let err = text(&out.stderr);
    assert!(
        err.contains("people.csv changed while the run was reading it"),
        "{err}"
    );
    assert!(err.contains("nothing was sent"), "{err}");
    assert_eq!(site.zips(), zips, "nothing was delivered");
    assert_eq!(site.state(), state, "the state is as the last run left it");
    assert_eq!(site.report("20261124040000")["outcome"]["exit_code"], 2);
}

/// Runs `alma-sis run` on `site` with its address space limited to 512 MB.
fn run_in_512_mb(site: &Site) -> Output {
    let config = site.config().display().to_string();
    Command::new("prlimit")
        .arg("--as=536870912")
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_alma-sis"))
        .args(site.args(&config, "2026-11-23T04:00:00Z", &[]))
        .current_dir(site.root())
        .env_remove("ALMA_SIS_CONFIG")
        .output()
        .expect("prlimit (util-linux) runs")
}

#[test]
fn a_3_gb_line_and_dev_zero_get_a_clean_error_and_a_report_in_512_mb() {
    // A 3 GB line: a header, then a row whose field runs 3 GB with no line break (sparse
    // after its first 20 MiB, so the test writes little).
    let giant = Site::new();
    let mut file = std::fs::File::create(giant.people()).unwrap();
    std::io::Write::write_all(&mut file, b"person_id,first_name\n1,").unwrap();
    std::io::Write::write_all(&mut file, &vec![b'a'; 20 << 20]).unwrap();
    file.set_len(3 << 30).unwrap();
    drop(file);
    // /dev/zero as the extract: no line break ever, no end.
    let zero = Site::new();
    zero.edit_config("path = \"people.csv\"", "path = \"/dev/zero\"");
    for (site, said) in [
        (
            &giant,
            "people.csv:2: E-READ-LIMIT: the row is longer than limits.line_bytes",
        ),
        (
            &zero,
            "/dev/zero:1: E-READ-LIMIT: the header row is longer than limits.header_bytes",
        ),
    ] {
        let out = run_in_512_mb(site);
        expect_code(&out, 2);
        let err = text(&out.stderr);
        assert!(err.contains(said), "{err}");
        assert!(!err.contains("memory allocation"), "{err}");
        let report = site.report("20261123040000");
        let error = report["outcome"]["error"].as_str().unwrap();
        assert!(error.contains("E-READ-LIMIT"), "{error}");
    }
}

#[test]
fn a_line_of_5_million_commas_is_one_e_read_fields_row_read_in_bounded_memory() {
    let site = Site::new();
    let mut lines = site.lines();
    lines.push(format!("900600003{}", ",".repeat(5_000_000)));
    site.write_lines(&lines);
    let timings = site.root().join("timings.json");
    let out = site.run(
        "2026-11-23T04:00:00Z",
        &["--timings", timings.to_str().unwrap()],
    );
    expect_code(&out, 1);
    let report = site.report("20261123040000");
    // Named by its line: no clean row has its key (see
    // `a_broken_rows_key_is_shown_only_when_a_clean_row_of_its_input_has_it`).
    let rejected = rejected_in_people(&report);
    let row = rejected.iter().find(|(line, ..)| *line == 320);
    assert_eq!(
        row.map(|(_, id, reason)| (id.as_str(), reason.as_str())),
        Some((
            "",
            "E-READ-FIELDS: people.csv:320: the row has 5000001 field(s), the header has 24"
        )),
        "{rejected:?}"
    );
    assert_eq!(report["counts"]["rows_rejected"], 2, "{}", report["counts"]);
    // Its fields' ends and spans once took about 40 bytes a comma (220 MB in all); now the
    // run takes about what it takes without the line (45 MB in a debug build).
    let t: serde_json::Value = serde_json::from_slice(&std::fs::read(&timings).unwrap()).unwrap();
    let peak = t["peak_rss_kib"].as_u64().unwrap();
    assert!(peak > 0 && peak < 100 << 10, "peak RSS {peak} KiB");
}

#[test]
fn rows_that_are_not_utf8_are_decoded_on_their_own_and_listed() {
    let site = Site::new();
    site.edit_config(
        "path = \"people.csv\"\n",
        "path = \"people.csv\"\nencoding = \"windows-1252\"\n",
    );
    // Rows whose names windows-1252 can write, written in windows-1252; the rest UTF-8.
    let lines = site.lines();
    let mut bytes = Vec::new();
    let mut expected = Vec::new();
    let mut decoded_lines = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let (cp1252, _, unmappable) = encoding_rs::WINDOWS_1252.encode(line);
        if i > 0 && !line.is_ascii() && !unmappable && decoded_lines.len() < 5 {
            bytes.extend_from_slice(&cp1252);
            decoded_lines.push(i as u64 + 1);
            expected.push(line.split(',').next().unwrap().to_owned());
        } else {
            bytes.extend_from_slice(line.as_bytes());
        }
        bytes.push(b'\n');
    }
    assert_eq!(decoded_lines.len(), 5);
    std::fs::write(site.people(), &bytes).unwrap();
    let out = site.run("2026-11-23T04:00:00Z", &[]);
    expect_code(&out, 0);
    let report = site.report("20261123040000");
    let input = &report["extract"]["inputs"][0];
    assert_eq!(input["fallback"], "windows-1252");
    assert_eq!(input["fallback_lines"], serde_json::json!(decoded_lines));
    assert_eq!(report["extract"]["read_cleanly"], true);
    // Also among every warning of the run, with its code and the lines.
    let listed: Vec<String> = decoded_lines.iter().map(ToString::to_string).collect();
    let fallback: Vec<&serde_json::Value> = report["every_warning"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "W-ENCODING-FALLBACK")
        .collect();
    assert_eq!(fallback.len(), 1, "{report}");
    assert!(
        fallback[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("lines {}", listed.join(", "))),
        "{fallback:?}"
    );
    let summary = text(&out.stdout);
    assert!(
        summary.contains("decoded          5 row(s) of people.csv as windows-1252"),
        "{summary}"
    );
    assert!(site.html("20261123040000").contains(&format!(
        "5 row(s) as windows-1252, lines {}",
        listed.join(", ")
    )),);
    // Every user, those of the decoded rows too, is byte for byte the demo's golden.
    let golden =
        std::fs::read_to_string(workspace_root().join("examples/demo/expected/users.xml")).unwrap();
    let unzipped = Command::new("unzip")
        .arg("-p")
        .arg(&site.zips()[0])
        .output()
        .unwrap();
    let users = |xml: &str| -> Vec<String> {
        xml.split("<user>")
            .skip(1)
            .map(|u| u.split("</user>").next().unwrap().to_owned())
            .collect()
    };
    let sent = users(&text(&unzipped.stdout));
    assert_eq!(sent.len(), users(&golden).len());
    assert!(sent == users(&golden), "the users differ from the golden");
    let written = expected
        .iter()
        .filter(|id| {
            sent.iter()
                .any(|u| u.contains(&format!("<primary_id>{id}</primary_id>")))
        })
        .count();
    assert!(written >= 2, "decoded rows among the users sent: {written}");
    // explain says so.
    let explained = site.explain(&expected[0]);
    expect_code(&explained, 0);
    assert!(
        text(&explained.stdout).contains("(not UTF-8: decoded as windows-1252)"),
        "{}",
        text(&explained.stdout)
    );
}

#[test]
fn explain_agrees_with_run_on_people_rejected_at_check_time_and_on_conflicts() {
    let site = Site::new();
    let mut lines = site.lines();
    let people = single_row_people(&lines);
    let header = lines[0].clone();
    // A control character in a name (E-CHAR at check time).
    let c = row_of(&lines, &people[0]);
    let mut f: Vec<String> = lines[c].split(',').map(str::to_owned).collect();
    f[col(&header, "last_name")].push('\u{7}');
    lines[c] = f.join(",");
    // A second person under someone's key (E-MAP-IDENTITY).
    let d = row_of(&lines, &people[1]);
    let mut f: Vec<String> = lines[d].split(',').map(str::to_owned).collect();
    f[col(&header, "last_name")] = "Otherperson".to_owned();
    f[col(&header, "birth_date")] = "1931-01-01".to_owned();
    lines.push(f.join(","));
    // A birth date in no configured format (E-MAP-DATE), a row without a key.
    let e = row_of(&lines, &people[2]);
    let mut f: Vec<String> = lines[e].split(',').map(str::to_owned).collect();
    f[col(&header, "birth_date")] = "31.12.1999".to_owned();
    lines[e] = f.join(",");
    let mut f: Vec<String> = lines[1].split(',').map(str::to_owned).collect();
    f[0] = String::new();
    lines.push(f.join(","));
    let keyless = format!("people.csv:{}", lines.len());
    site.write_lines(&lines);

    let out = site.run("2026-11-23T04:00:00Z", &[]);
    expect_code(&out, 0);
    let report = site.report("20261123040000");
    let mut shown = String::new();
    for (id, code) in [
        (people[0].as_str(), "E-CHAR"),
        (people[1].as_str(), "E-MAP-IDENTITY"),
        (people[2].as_str(), "E-MAP-DATE"),
        (keyless.as_str(), "E-MAP-EMPTY-KEY"),
    ] {
        let run_reasons = reasons_for(&report, if id == keyless { "" } else { id });
        assert!(
            run_reasons.iter().any(|r| r.starts_with(code)),
            "run: {id}: {run_reasons:?}"
        );
        let explained = site.explain(id);
        expect_code(&explained, 0);
        let said = text(&explained.stdout);
        let verdict = said.lines().next().unwrap();
        assert!(verdict.contains("not loaded"), "{verdict}");
        for reason in run_reasons.iter().filter(|r| r.starts_with(code)) {
            assert!(
                said.contains(reason.as_str()),
                "explain {id} lacks {reason:?}:\n{said}"
            );
        }
        shown.push_str(&format!("$ alma-sis explain {id}\n{}\n", verdict));
    }
    insta::assert_snapshot!("explain_agrees_with_run", shown);
}

#[test]
fn an_unreadable_contract_end_date_rejects_the_person_and_sends_no_later_expiry() {
    let site = Site::new();
    // Night 1: the demo as it is; two members of staff expire by their contract end date.
    expect_code(&site.run("2026-11-23T04:00:00Z", &[]), 0);
    let mut lines = site.lines();
    let header = lines[0].clone();
    let end = col(&header, "end_date");
    let staff: Vec<String> = single_row_people(&lines)
        .into_iter()
        .filter(|id| {
            let row = &lines[row_of(&lines, id)];
            row.contains(",EMPLOYEE,") && !row.split(',').nth(end).unwrap().is_empty()
        })
        .take(2)
        .collect();
    assert_eq!(
        staff.len(),
        2,
        "the demo has staff with a contract end date"
    );
    let first = users_in(&site.zips()[0]);
    let expiry_of = |id: &str| first.iter().find(|u| u.0 == id).unwrap().1.clone();
    let before: Vec<String> = staff.iter().map(|id| expiry_of(id)).collect();

    // Night 2: their end dates are garbled: in another format, and not a date at all.
    let mut at = Vec::new();
    for (id, garbled) in staff.iter().zip(["31/12/2026", "notadate"]) {
        let i = row_of(&lines, id);
        let mut f: Vec<String> = lines[i].split(',').map(str::to_owned).collect();
        f[end] = garbled.to_owned();
        lines[i] = f.join(",");
        at.push(i + 1);
    }
    site.write_lines(&lines);
    let state_before = site.state();
    let night2 = site.run("2026-11-24T04:00:00Z", &[]);
    expect_code(&night2, 0);
    let report = site.report("20261124040000");
    let rule = "employees with a contract end date";
    for (id, line) in staff.iter().zip(&at) {
        let expected = format!(
            "E-MAP-DATE: expiry rule {rule:?}: column end_date (people.csv:{line}) is not a date \
             in %Y-%m-%d (the formats tried, in order)"
        );
        assert_eq!(reasons_for(&report, id), std::slice::from_ref(&expected));
        let config = site.config().display().to_string();
        let explained = alma_sis(
            site.root(),
            &[
                "explain",
                id,
                "--config",
                &config,
                "--now",
                "2026-11-24T05:00:00Z",
            ],
        );
        expect_code(&explained, 0);
        let said = text(&explained.stdout);
        assert!(
            said.lines().next().unwrap().contains("not loaded"),
            "{said}"
        );
        assert!(said.contains(&expected), "{said}");
        assert!(!said.contains("default policy"), "{said}");
    }
    let report_text = site.report_file("20261124040000", "json");
    assert!(!report_text.contains("31/12/2026") && !report_text.contains("notadate"));
    // Nothing later than before reaches Alma: they are in no zip of night 2 (held back,
    // not vanished), and the state keeps the expiry last sent.
    for zip in &site.zips()[1..] {
        let sent = users_in(zip);
        assert!(
            sent.iter().all(|u| !staff.contains(&u.0)),
            "{zip:?} sends {staff:?}"
        );
    }
    assert_eq!(report["vanished"], serde_json::json!([]));
    let line_of = |s: &str, id: &str| {
        s.lines()
            .find(|l| l.contains(&format!("\"key\":\"{id}\"")))
            .map(str::to_owned)
    };
    let state = site.state();
    for (id, expiry) in staff.iter().zip(&before) {
        let item = line_of(&state, id).unwrap();
        let expires = format!("\"expires\":\"{}\"", expiry.trim_end_matches('Z'));
        assert!(line_of(&state_before, id).unwrap().contains(&expires));
        assert!(item.contains(&expires), "{item}");
        assert!(item.contains("\"last_sent\":\"2026-11-23\""), "{item}");
    }
}

#[test]
fn only_with_an_id_that_is_not_in_the_extract_is_an_error_naming_it() {
    let site = Site::new();
    let out = site.run(
        "2026-11-23T04:00:00Z",
        &["--only", "900100251", "123456789"],
    );
    expect_code(&out, 2);
    let err = text(&out.stderr);
    assert!(
        err.contains("--only: 123456789 is neither a key nor a primary id in the extract"),
        "{err}"
    );
    assert!(site.zips().is_empty());
}

#[test]
fn only_with_the_id_of_someone_filtered_says_so_in_the_report() {
    let site = Site::new();
    // 900100109 is emeritus faculty: the demo does not load them.
    let out = site.run(
        "2026-11-23T04:00:00Z",
        &["--only", "900100251", "900100109"],
    );
    expect_code(&out, 0);
    let report = site.report("20261123040000");
    let warnings = report["every_warning"].to_string();
    assert!(
        warnings.contains("--only 900100109: filtered by the rule \\\"emeritus faculty are managed by hand\\\"; nothing is sent for them"),
        "{warnings}"
    );
    assert!(warnings.contains("W-ONLY-NOT-SENT"), "{warnings}");
    assert!(!warnings.contains("--only 900100251"), "{warnings}");
}

#[test]
fn config_mistakes_in_any_section_point_at_their_line_and_column() {
    let mut said = String::new();
    for (from, to) in [
        ("drop_folder = \"out/drop\"", "drop_foldr = \"out/drop\""),
        (
            "date_formats = [\"%Y-%m-%d\", \"%m/%d/%Y\"]",
            "date_formats = [\"yyyy-MM-dd\"]",
        ),
        (
            "date = { policy = \"column\", column = \"end_date\", formats = [\"%Y-%m-%d\"] }",
            "date = { policy = \"column\", column = \"end_date\", formats = [\"%Y-%q-%d\"] }",
        ),
    ] {
        let site = Site::new();
        site.edit_config(from, to);
        let out = site.run("2026-11-23T04:00:00Z", &[]);
        expect_code(&out, 2);
        said.push_str(&text(&out.stderr).replace(&site.root().display().to_string(), "[TMP]"));
    }
    insta::assert_snapshot!("config_mistakes", said);
}
