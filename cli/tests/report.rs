//! The run report: the one-screen summary, `report.json` and `report.html` of the demo run,
//! and the privacy promise that neither they nor the default logs carry names or emails.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{alma_sis, expect_code, workspace_root};

const NOW: &str = "2026-11-23T04:00:00Z";

/// A copy of the demo beside the run, so tests can add rows; returns its config path.
fn copy_demo(dir: &Path) -> PathBuf {
    let from = workspace_root().join("examples/demo");
    let to = dir.join("demo");
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
    to.join("alma-sis.toml")
}

fn run(cwd: &Path, config: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["run", "--config", config.to_str().unwrap(), "--now", NOW];
    args.extend_from_slice(extra);
    crate::support::alma_sis_env(cwd, &args, env)
}

fn report_file(cwd: &Path, ext: &str) -> PathBuf {
    let suffix = format!(".report.{ext}");
    let found: Vec<PathBuf> = std::fs::read_dir(cwd.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(&suffix))
        .collect();
    assert_eq!(found.len(), 1, "expected one *{suffix} in out/: {found:?}");
    found.into_iter().next().unwrap()
}

/// Snapshots stay stable across temp dirs, checkouts and re-generated demo files.
fn settings(cwd: &Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    let escape = |p: &Path| regex_escape(&p.display().to_string());
    s.add_filter(&escape(&cwd.canonicalize().unwrap()), "[TMP]");
    s.add_filter(&escape(cwd), "[TMP]");
    s.add_filter(&escape(&workspace_root()), "[ROOT]");
    s.add_filter(r"[0-9a-f]{64}", "[SHA256]");
    s.add_filter(r#""bytes": \d+"#, r#""bytes": "[BYTES]""#);
    s.add_filter(r#""version": "[^"]+""#, r#""version": "[VERSION]""#);
    // The demo config's mode is the checkout's (0644 under umask 022): its warning is tested
    // on its own (`state_safety`), not in the shape of every report.
    s.add_filter(
        r"(?m)^  warning +W-CONFIG-MODE: config \S+ is readable by other users[^\n]*\n",
        "",
    );
    s.add_filter(
        r#",\n  "warnings": \[\n    "W-CONFIG-MODE: config [^"]* is readable by other users[^"]*"\n  \]"#,
        "",
    );
    s.add_filter(
        r#""every_warning": \[\n    \{\n      "code": "W-CONFIG-MODE",\n      "message": "[^"]*"\n    \}\n  \]"#,
        r#""every_warning": []"#,
    );
    s
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

#[test]
fn the_demo_summary_is_a_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let config = workspace_root().join("examples/demo/alma-sis.toml");
    let out = run(tmp.path(), &config, &[], &[]);
    expect_code(&out, 0);
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(summary.lines().count() <= 40, "not one screen:\n{summary}");
    settings(tmp.path()).bind(|| insta::assert_snapshot!("demo_summary", summary));
}

#[test]
fn the_demo_report_json_is_a_snapshot_with_a_versioned_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let config = workspace_root().join("examples/demo/alma-sis.toml");
    expect_code(&run(tmp.path(), &config, &[], &[]), 0);
    let text = std::fs::read_to_string(report_file(tmp.path(), "json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["schema"], "alma-sis.run-report/1");
    let counts = &json["counts"];
    let n = |k: &str| counts[k].as_u64().unwrap();
    assert_eq!(
        n("rows_read"),
        n("rows_written") + n("rows_filtered") + n("rows_rejected")
    );
    let by_rule: u64 = json["filtered_by_rule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(by_rule, n("rows_filtered"));
    let by_group: u64 = json["user_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(by_group, n("users_written"));
    settings(tmp.path()).bind(|| insta::assert_snapshot!("demo_report_json", text));
}

#[test]
fn report_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let config = workspace_root().join("examples/demo/alma-sis.toml");
    expect_code(&run(tmp.path(), &config, &["--dry-run"], &[]), 0);
    for ext in ["json", "html"] {
        let path = report_file(tmp.path(), ext);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
}

#[test]
fn quiet_prints_no_summary_but_still_writes_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let config = workspace_root().join("examples/demo/alma-sis.toml");
    let out = run(tmp.path(), &config, &["--quiet", "--dry-run"], &[]);
    expect_code(&out, 0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    report_file(tmp.path(), "json");
}

#[test]
fn a_failed_run_still_writes_its_report_with_the_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let config = copy_demo(tmp.path());
    // The demo's drop folder under a regular file cannot be created: delivery fails.
    std::fs::write(tmp.path().join("blocker"), b"").unwrap();
    let toml = std::fs::read_to_string(&config).unwrap();
    let toml = toml.replace("\"out/drop\"", "\"blocker/drop\"");
    std::fs::write(&config, toml).unwrap();
    let out = run(tmp.path(), &config, &[], &[]);
    expect_code(&out, 3);
    let text = std::fs::read_to_string(report_file(tmp.path(), "json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["outcome"]["exit_code"], 3, "{text}");
    assert_eq!(json["outcome"]["status"], "delivery-failed", "{text}");
    assert!(json["outcome"]["error"].is_string(), "{text}");
}

/// The demo's people: every first, middle, last and preferred name of three or more
/// characters, every email address, street address, phone number and birth date.
fn demo_personal_data(people_csv: &Path) -> Vec<String> {
    let mut reader = csv_rows(people_csv);
    let header = reader.remove(0);
    let columns: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| {
            ["name", "email", "address_line", "phone", "birth"]
                .iter()
                .any(|c| h.contains(c))
        })
        .map(|(i, _)| i)
        .collect();
    assert!(columns.len() >= 3, "no name/email columns in {header:?}");
    let mut values: Vec<String> = reader
        .iter()
        .flat_map(|row| columns.iter().filter_map(|&i| row.get(i).cloned()))
        .filter(|v| v.chars().count() >= 3)
        .collect();
    values.sort();
    values.dedup();
    assert!(values.len() > 100, "too few names found: {}", values.len());
    values
}

/// A minimal CSV split (the demo quotes no field with commas in the columns we read).
fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            l.split(',')
                .map(|f| f.trim_matches('"').to_owned())
                .collect()
        })
        .collect()
}

fn leaked<'p>(text: &str, personal: &'p [String]) -> Vec<&'p String> {
    personal
        .iter()
        .filter(|v| text.contains(v.as_str()))
        .collect()
}

fn check_no_personal_data(what: &str, text: &str, personal: &[String]) {
    let leaked = leaked(text, personal);
    assert!(
        leaked.is_empty(),
        "{what} contains personal data: {leaked:?}"
    );
}

/// Adds two rows that are rejected: one with a control character in a name, one without a
/// key, so the report and the logs have rejects to talk about.
fn add_bad_rows(config: &Path) {
    let csv = config.with_file_name("people.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut bad_name: Vec<String> = row.iter().map(|s| (*s).to_owned()).collect();
    bad_name[col("person_id")] = "999999991".to_owned();
    bad_name[col("first_name")] = "Zeb\u{7}ulon".to_owned();
    let mut no_key: Vec<String> = row.iter().map(|s| (*s).to_owned()).collect();
    no_key[col("person_id")] = String::new();
    no_key[col("last_name")] = "Quillfeather".to_owned();
    let mut out = text.clone();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("{}\n{}\n", bad_name.join(","), no_key.join(",")));
    std::fs::write(&csv, out).unwrap();
}

#[test]
fn reports_and_default_logs_carry_no_names_or_emails() {
    let tmp = tempfile::tempdir().unwrap();
    let config = copy_demo(tmp.path());
    add_bad_rows(&config);
    let personal = demo_personal_data(&config.with_file_name("people.csv"));
    // The check finds personal data where it belongs: in the users sent to Alma.
    let golden =
        std::fs::read_to_string(workspace_root().join("examples/demo/expected/users.xml")).unwrap();
    assert!(
        leaked(&golden, &personal).len() > 100,
        "the demo's users.xml should hold the names"
    );

    let out = run(tmp.path(), &config, &[], &[]);
    expect_code(&out, 0);
    let json = std::fs::read_to_string(report_file(tmp.path(), "json")).unwrap();
    let html = std::fs::read_to_string(report_file(tmp.path(), "html")).unwrap();
    assert!(
        json.contains("999999991"),
        "the rejected id is reported:\n{json}"
    );
    check_no_personal_data("report.json", &json, &personal);
    check_no_personal_data("report.html", &html, &personal);
    check_no_personal_data(
        "the summary",
        &String::from_utf8_lossy(&out.stdout),
        &personal,
    );
    check_no_personal_data("stderr", &String::from_utf8_lossy(&out.stderr), &personal);
    assert!(
        !out.stderr.is_empty(),
        "the rejects are logged at the default level"
    );
}

#[test]
fn default_and_info_logs_in_both_formats_carry_no_names_or_emails() {
    let tmp = tempfile::tempdir().unwrap();
    let config = copy_demo(tmp.path());
    add_bad_rows(&config);
    let personal = demo_personal_data(&config.with_file_name("people.csv"));
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: [Case<'_>; 4] = [
        (&["--log-format", "text"], &[]),
        (&["--log-format", "json"], &[]),
        (&["--log-format", "text"], &[("ALMA_SIS_LOG", "info")]),
        (&["--log-format", "json"], &[("ALMA_SIS_LOG", "info")]),
    ];
    for (i, (args, env)) in cases.into_iter().enumerate() {
        let cwd = tmp.path().join(format!("run{i}"));
        std::fs::create_dir(&cwd).unwrap();
        let mut args = args.to_vec();
        args.push("--dry-run");
        let out = run(&cwd, &config, &args, env);
        expect_code(&out, 0);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.trim().is_empty(),
            "{args:?} {env:?}: nothing logged"
        );
        check_no_personal_data(&format!("stderr of {args:?} {env:?}"), &stderr, &personal);
        if args.contains(&"json") {
            for line in stderr.lines() {
                let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
                assert!(parsed.is_ok(), "not a JSON log line: {line}");
            }
        }
    }
}

#[test]
fn the_html_report_is_one_self_contained_page() {
    let tmp = tempfile::tempdir().unwrap();
    let config = workspace_root().join("examples/demo/alma-sis.toml");
    expect_code(&run(tmp.path(), &config, &[], &[]), 0);
    let html = std::fs::read_to_string(report_file(tmp.path(), "html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for external in [
        "src=", "href=", "url(", "@import", "http:", "https:", "<script",
    ] {
        assert!(
            !html.contains(external),
            "report.html refers out: {external}"
        );
    }
    for section in [
        "Counts",
        "Filtered by rule",
        "Rejected by code",
        "User groups",
        "Expiry dates",
        "Compared with the last run",
        "Rejected rows",
        "Files",
    ] {
        assert!(
            html.contains(&format!("<h2>{section}</h2>")),
            "no {section}"
        );
    }
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

#[test]
#[allow(clippy::print_stderr, reason = "a skipped test says why")]
fn the_html_report_renders_in_headless_chromium() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing and CI is set: apt-get install -y chromium"
        );
        eprintln!("skipped: chromium is not installed (apt-get install -y chromium)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let config = workspace_root().join("examples/demo/alma-sis.toml");
    expect_code(&run(tmp.path(), &config, &[], &[]), 0);
    let html = report_file(tmp.path(), "html").canonicalize().unwrap();
    let png = tmp.path().join("report.png");
    let profile = tmp.path().join("chromium-profile");
    let mut child = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromium starts");
    // A safety net against a hung browser, not a timing assertion.
    let mut waited = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if waited > 1200 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within two minutes");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
    };
    assert!(status.success(), "chromium failed: {status}");
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 2000));
    assert!(
        bytes.len() > 20_000,
        "a blank page? only {} bytes",
        bytes.len()
    );
}

#[test]
fn a_second_run_with_the_same_now_keeps_the_first_report_and_writes_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let config = workspace_root().join("examples/demo/alma-sis.toml");
    expect_code(&run(tmp.path(), &config, &["--dry-run"], &[]), 0);
    let first_path = report_file(tmp.path(), "json");
    let first = std::fs::read(&first_path).unwrap();
    let again = alma_sis(
        tmp.path(),
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--now",
            NOW,
            "--dry-run",
        ],
    );
    expect_code(&again, 0);
    assert_eq!(std::fs::read(&first_path).unwrap(), first);
    assert!(
        first_path.ends_with("DEMO_patrons_20261123040000_r1.report.json"),
        "{}",
        first_path.display()
    );
    let second = tmp
        .path()
        .join("out/DEMO_patrons_20261123040000_r2.report.json");
    let second: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(second).unwrap()).unwrap();
    assert_eq!(second["outcome"]["status"], "ok");
}

#[test]
fn the_second_run_compares_itself_with_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let config = workspace_root().join("examples/demo/alma-sis.toml");
    let config = config.to_str().unwrap();
    expect_code(&run(tmp.path(), Path::new(config), &[], &[]), 0);
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_file(tmp.path(), "json")).unwrap())
            .unwrap();
    assert!(first["comparison"].is_null(), "no earlier run: {first}");
    let next_day = alma_sis(
        tmp.path(),
        &["run", "--config", config, "--now", "2026-11-24T04:00:00Z"],
    );
    expect_code(&next_day, 0);
    let json = std::fs::read_to_string(
        tmp.path()
            .join("out/DEMO_patrons_20261124040000_r2.report.json"),
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let cmp = &json["comparison"];
    assert_eq!(cmp["last_run_at"], "2026-11-23T04:00:00+00:00", "{json}");
    assert_eq!(cmp["eligible"], cmp["last_eligible"], "{json}");
    assert_eq!(cmp["new"], 0, "{json}");
    let html = std::fs::read_to_string(
        tmp.path()
            .join("out/DEMO_patrons_20261124040000_r2.report.html"),
    )
    .unwrap();
    assert!(html.contains("eligible then"), "{html}");
    assert!(String::from_utf8_lossy(&next_day.stdout).contains("since last run"));
}

fn check_reason_code(reason: &str, expected: &str) {
    assert_eq!(
        alma_sis::pipeline::report::reason_code(reason),
        expected,
        "{reason:?}"
    );
}

#[test]
fn rejects_are_counted_by_the_code_their_reason_starts_with() {
    check_reason_code("E-DUP-MATCH-ID: 1001 is also on line 7", "E-DUP-MATCH-ID");
    check_reason_code("W-NO-PREFERRED-EMAIL (2 emails)", "W-NO-PREFERRED-EMAIL");
    check_reason_code("E-CHAR", "E-CHAR");
    check_reason_code("the key column \"person_id\" is empty", "(no code)");
    check_reason_code("E-: nothing", "(no code)");
    check_reason_code("e-char: lower case", "(no code)");
    check_reason_code("X-OTHER: unknown severity", "(no code)");
    check_reason_code("", "(no code)");
}

#[test]
fn progress_is_drawn_on_a_terminal_only() {
    let tmp = tempfile::tempdir().unwrap();
    let config = workspace_root().join("examples/demo/alma-sis.toml");
    let piped = run(tmp.path(), &config, &["--dry-run"], &[]);
    expect_code(&piped, 0);
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "progress or colour on a pipe: {stderr:?}"
    );

    // `script` gives the run a pseudo-terminal, as a person at a shell has.
    let line = format!(
        "{} run --config {} --now 2026-11-24T04:00:00Z --dry-run",
        env!("CARGO_BIN_EXE_alma-sis"),
        config.display()
    );
    let tty = std::process::Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .current_dir(tmp.path())
        .env_remove("CI")
        .env_remove("ALMA_SIS_LOG")
        .output()
        .expect("script (util-linux) runs");
    expect_code(&tty, 0);
    let screen = String::from_utf8_lossy(&tty.stdout);
    assert!(
        screen.contains("\u{1b}[2K") && screen.contains("package"),
        "no progress on a terminal: {screen:?}"
    );
}

#[test]
fn the_same_input_config_and_now_give_identical_reports() {
    let config = workspace_root().join("examples/demo/alma-sis.toml");
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    expect_code(&run(a.path(), &config, &[], &[]), 0);
    expect_code(&run(b.path(), &config, &[], &[]), 0);
    for ext in ["json", "html"] {
        let ra = std::fs::read(report_file(a.path(), ext)).unwrap();
        let rb = std::fs::read(report_file(b.path(), ext)).unwrap();
        assert!(
            ra == rb,
            "two runs with the same --now give different report.{ext}"
        );
    }
}

#[test]
fn with_json_logs_even_the_final_error_is_a_json_line() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-config.toml");
    let out = alma_sis(
        tmp.path(),
        &[
            "run",
            "--config",
            missing.to_str().unwrap(),
            "--log-format",
            "json",
        ],
    );
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let last = lines.last().expect("the error is logged");
    assert_eq!(last["level"], "ERROR", "{stderr}");
    assert_eq!(last["fields"]["exit_code"], 2, "{stderr}");
    assert!(
        last["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no-such-config.toml")),
        "{stderr}"
    );
}

#[test]
fn names_from_the_config_are_escaped_in_the_html_report() {
    let tmp = tempfile::tempdir().unwrap();
    let config = copy_demo(tmp.path());
    let toml = std::fs::read_to_string(&config).unwrap();
    let hostile = "<script>alert(1)</script> & \\\"affiliates\\\"";
    assert!(toml.contains("\"affiliates are not loaded\""));
    let toml = toml.replace("\"affiliates are not loaded\"", &format!("\"{hostile}\""));
    std::fs::write(&config, toml).unwrap();
    expect_code(&run(tmp.path(), &config, &["--dry-run"], &[]), 0);
    let html = std::fs::read_to_string(report_file(tmp.path(), "html")).unwrap();
    assert!(
        !html.contains("<script"),
        "unescaped rule name in report.html"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;affiliates&quot;"),
        "the rule is listed, escaped"
    );
}

/// Everything a failed or rejecting run shows: stderr, the summary and both report files.
fn everything_shown(cwd: &Path, out: &Output) -> String {
    let mut all = String::from_utf8_lossy(&out.stderr).into_owned();
    all.push_str(&String::from_utf8_lossy(&out.stdout));
    for ext in ["json", "html"] {
        all.push_str(&std::fs::read_to_string(report_file(cwd, ext)).unwrap());
    }
    all
}

#[test]
fn an_extract_without_its_header_row_is_not_shown_as_its_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let config = copy_demo(tmp.path());
    let csv = config.with_file_name("people.csv");
    let personal = demo_personal_data(&csv);
    let text = std::fs::read_to_string(&csv).unwrap();
    let first_record = text.lines().nth(1).unwrap().to_owned();
    std::fs::write(&csv, text.split_once('\n').unwrap().1).unwrap();

    let out = run(tmp.path(), &config, &[], &[]);
    expect_code(&out, 2);
    let shown = everything_shown(tmp.path(), &out);
    check_no_personal_data("a run on a headerless extract", &shown, &personal);
    assert!(shown.contains("--show-values"), "{shown}");
    // Asked for, the values are shown.
    std::fs::remove_dir_all(tmp.path().join("out")).unwrap();
    let out = run(tmp.path(), &config, &["--show-values"], &[]);
    expect_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&first_record.replace(',', ", ")), "{err}");
}

#[test]
fn files_the_config_names_do_not_have_their_lines_echoed() {
    let secret = "hunter2-correct-horse-battery";
    for (what, edit) in [
        (
            "term_calendar",
            ("path = \"terms.csv\"", "path = \"secret.txt\""),
        ),
        (
            "a lookup file",
            (
                "[lookup.departments]\nvalues = { BIO = \"Biology\", CS = \"Computer Science\", HIST = \"History\", LAW = \"Law\", LIB = \"Library\", MATH = \"Mathematics\", MUS = \"Music\" }",
                "[lookup.departments]\npath = \"secret.txt\"\nfrom = \"code\"\nto = \"name\"",
            ),
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let config = copy_demo(tmp.path());
        std::fs::write(
            config.with_file_name("secret.txt"),
            format!("{secret}\nline-two-{secret}\n"),
        )
        .unwrap();
        let text = std::fs::read_to_string(&config).unwrap();
        assert!(text.contains(edit.0), "{what}: the demo config changed");
        std::fs::write(&config, text.replacen(edit.0, edit.1, 1)).unwrap();
        let out = run(tmp.path(), &config, &[], &[]);
        expect_code(&out, 2);
        let shown = everything_shown(tmp.path(), &out);
        assert!(!shown.contains("hunter2"), "{what}: {shown}");
        assert!(
            shown.contains("secret.txt"),
            "{what}: the file is named: {shown}"
        );
    }
}

#[test]
fn e_map_field_and_the_other_mapping_errors_carry_no_values() {
    let tmp = tempfile::tempdir().unwrap();
    let config = copy_demo(tmp.path());
    let personal = demo_personal_data(&config.with_file_name("people.csv"));
    let text = std::fs::read_to_string(&config).unwrap();
    let edited = text.replacen(
        "first_name = \"{first_name}\"",
        "first_name = { template = \"{first_name}\", map = { X = \"Y\" }, unmapped = \"reject\" }",
        1,
    );
    std::fs::write(&config, edited).unwrap();
    let out = run(tmp.path(), &config, &[], &[]);
    let shown = everything_shown(tmp.path(), &out);
    assert!(
        shown.contains("E-MAP-FIELD: first_name: the value of column first_name is not in the map"),
        "{shown}"
    );
    check_no_personal_data("a run rejecting every first name", &shown, &personal);
}
