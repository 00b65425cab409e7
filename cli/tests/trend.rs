//! The report as the one place to read: the trend of the last runs drawn in `report.html` and
//! `alma-sis history --html` (screenshotted in headless Chromium), the same data in
//! `report.json` checked against each run's own report, and retried deliveries with their
//! cause.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::state::{Demo, pick};
use crate::support::expect_code;

/// The colours of the trend's bars (`cli/src/pipeline/trend.rs`).
const DELIVERED: [u8; 3] = [0x42, 0x63, 0xeb];
const NOT_DELIVERED: [u8; 3] = [0xe0, 0x31, 0x31];

fn report_path(demo: &Demo, out: &Output, ext: &str) -> PathBuf {
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    let suffix = format!(".report.{ext}");
    summary
        .lines()
        .filter_map(|l| l.trim().strip_prefix("report"))
        .map(|p| demo.root().join(p.trim()))
        .find(|p| p.to_string_lossy().ends_with(&suffix))
        .unwrap_or_else(|| panic!("no {suffix} in\n{summary}"))
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Five nights: a full run, a quiet delta, a broken extract the brake stops, the same
/// extract forced through, and a quiet delta. Returns each run's report.json path and the
/// last run's report.html.
fn five_nights(demo: &Demo) -> (Vec<PathBuf>, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(demo.config(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut reports = Vec::new();
    let mut run = |now: &str, extra: &[&str], code: i32| {
        let out = demo.run(now, extra);
        expect_code(&out, code);
        reports.push(report_path(demo, &out, "json"));
        out
    };
    run("2026-11-23T04:00:00+01:00", &[], 0);
    run("2026-11-24T04:00:00+01:00", &["--mode", "delta"], 0);
    let known = demo.known();
    let gone = pick(&known, 0, known.len() / 2);
    let gone: Vec<&str> = gone.iter().map(String::as_str).collect();
    demo.edit_extract(&gone, &[]);
    run("2026-11-25T04:00:00+01:00", &["--mode", "delta"], 4);
    run(
        "2026-11-26T04:00:00+01:00",
        &["--mode", "delta", "--force"],
        0,
    );
    let last = run("2026-11-27T04:00:00+01:00", &["--mode", "delta"], 0);
    let html = report_path(demo, &last, "html");
    (reports, html)
}

#[test]
fn the_trend_in_report_json_agrees_with_each_runs_own_report() {
    let demo = Demo::new();
    let (reports, _) = five_nights(&demo);
    let last = json(reports.last().unwrap());
    let trend = last["trend"].as_array().unwrap();
    assert_eq!(trend.len(), 5, "{trend:?}");
    for (point, path) in trend.iter().zip(&reports) {
        // The oracle: what each run said about itself that night.
        let own = json(path);
        let sent: u64 = own["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| !f["delivered_to"].as_array().unwrap().is_empty())
            .map(|f| f["users"].as_u64().unwrap())
            .sum();
        assert_eq!(point["users_sent"], sent, "{point}");
        assert_eq!(
            point["rows_rejected"], own["counts"]["rows_rejected"],
            "{point}"
        );
        assert_eq!(
            point["users_vanished"], own["counts"]["users_vanished"],
            "{point}"
        );
        assert_eq!(point["status"], own["outcome"]["status"], "{point}");
        assert_eq!(point["exit_code"], own["outcome"]["exit_code"], "{point}");
        assert_eq!(point["started_at"], own["started_at"], "{point}");
        assert_eq!(point["seconds"], 0.0, "--now pins the clock");
    }
    let statuses: Vec<&str> = trend
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["ok", "ok", "brake-tripped", "ok", "ok"]);
    assert!(trend[0]["users_sent"].as_u64().unwrap() > 0);
    assert!(trend[3]["users_vanished"].as_u64().unwrap() > 0);

    // The new fields, as a snapshot (`--now` pins the clock: each run's time is 0).
    let fields: serde_json::Map<String, serde_json::Value> = [
        "started_at",
        "every_warning",
        "user_group_descriptions",
        "alerts",
        "retries",
        "trend",
    ]
    .into_iter()
    .map(|k| (k.to_owned(), last[k].clone()))
    .collect();
    let text = serde_json::to_string_pretty(&fields).unwrap();
    insta::assert_snapshot!("report_json_new_fields", text);
}

/// The size of a PNG and its pixels as RGB, decoded with the `png` crate.
fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

/// Screenshots `page` in headless Chromium at 1000 x 1800.
fn screenshot(page: &Path, png: &Path) {
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--window-size=1000,1800", "--force-device-scale-factor=1"])
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .output()
        .expect("chromium runs (cargo xtask ci installs it)");
    assert!(
        out.status.success() && png.exists(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Pixels within a few steps of `colour`.
fn count(pixels: &[[u8; 3]], colour: [u8; 3]) -> usize {
    pixels
        .iter()
        .filter(|p| p.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 3))
        .count()
}

fn check_screenshot(page: &Path, png: &Path) {
    screenshot(page, png);
    let (width, height, pixels) = decode_png(png);
    assert_eq!((width, height), (1000, 1800));
    let white = count(&pixels, [255, 255, 255]);
    assert!(white < pixels.len(), "the page is blank");
    // Four charts of five bars: the runs that delivered in blue, the braked one in red.
    let blue = count(&pixels, DELIVERED);
    let red = count(&pixels, NOT_DELIVERED);
    assert!(
        blue > 4 * 4 * 8,
        "{blue} blue pixels: the bars are not drawn"
    );
    assert!(
        red >= 4 * 8,
        "{red} red pixels: the braked run is not drawn"
    );
}

#[test]
fn report_html_and_history_html_draw_the_trend_of_five_runs() {
    let demo = Demo::new();
    let (_, html) = five_nights(&demo);
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg class=\"chart\"").count(), 4);
    assert_eq!(page.matches("<rect ").count(), 4 * 5);
    assert!(!page.contains("<script"), "no scripts in the report");
    assert!(
        page.contains("2026-11-27 04:00:00 +01:00"),
        "local time with its offset, to the second"
    );
    check_screenshot(&html, &demo.root().join("report.png"));

    let out = demo.cmd(&["history", "--html"]);
    expect_code(&out, 0);
    let history = demo.root().join("history.html");
    std::fs::write(&history, &out.stdout).unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.matches("<svg class=\"chart\"").count(), 4);
    assert_eq!(text.matches("<tr><td class=\"n\">").count(), 5, "five runs");
    check_screenshot(&history, &demo.root().join("history.png"));
}

#[test]
fn the_report_names_user_groups_with_the_configs_descriptions() {
    let demo = Demo::new();
    let out = demo.run("2026-11-23T04:00:00Z", &[]);
    expect_code(&out, 0);
    let config = std::fs::read_to_string(demo.config()).unwrap();
    let report = json(&report_path(&demo, &out, "json"));
    let descriptions = report["user_group_descriptions"].as_object().unwrap();
    assert!(!descriptions.is_empty());
    let html = std::fs::read_to_string(report_path(&demo, &out, "html")).unwrap();
    for (code, desc) in descriptions {
        let desc = desc.as_str().unwrap();
        assert!(
            config.contains(&format!("desc = \"{desc}\"")),
            "{code}: {desc}"
        );
        assert!(html.contains(&format!("{code}: {desc}")), "{code}: {desc}");
    }
}

#[test]
fn retried_deliveries_are_in_the_report_with_their_cause() {
    let demo = Demo::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = std::fs::read_to_string(demo.config()).unwrap();
    let sftp = format!(
        "[delivery]\nkind = \"sftp\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"alma\"\n\
         password_env = \"W22_SFTP_PASSWORD\"\n\
         host_key_fingerprint = \"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n\
         retries = 2\nbackoff_initial_secs = 0\nbackoff_max_secs = 0\nconnect_timeout_secs = 5\n"
    );
    let changed = config.replace("[delivery]\ndrop_folder = \"out/drop\"\n", &sftp);
    assert_ne!(
        config, changed,
        "the demo config has a drop-folder [delivery]"
    );
    std::fs::write(demo.config(), changed).unwrap();
    let out = demo.run_env(
        "2026-11-23T04:00:00Z",
        &[],
        &[("W22_SFTP_PASSWORD", "not-a-real-password")],
    );
    expect_code(&out, 3);
    let report = json(&report_path(&demo, &out, "json"));
    let retries = report["retries"].as_array().unwrap();
    assert_eq!(retries.len(), 2, "{retries:?}");
    let connect = format!("cannot connect to 127.0.0.1:{port}");
    assert!(
        retries
            .iter()
            .all(|r| r["cause"].as_str().unwrap().starts_with(&connect)),
        "{retries:?}"
    );
    let coded: Vec<&serde_json::Value> = report["every_warning"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "W-DELIVERY-RETRY")
        .collect();
    assert_eq!(coded.len(), 2, "{report}");
    assert!(
        coded[0]["message"].as_str().unwrap().contains(&connect),
        "{coded:?}"
    );
}

#[cfg(feature = "fault-injection")]
#[test]
fn the_run_after_a_killed_one_says_so_in_its_report() {
    let demo = Demo::new();
    expect_code(&demo.run("2026-11-23T04:00:00Z", &[]), 0);
    let killed = demo.run_env(
        "2026-11-24T04:00:00Z",
        &["--mode", "delta"],
        &[("ALMA_SIS_TEST_FAULT", "after-package")],
    );
    assert_eq!(killed.status.code(), None, "killed by a signal");
    let next = demo.run("2026-11-24T05:00:00Z", &["--mode", "delta"]);
    expect_code(&next, 0);
    let report = json(&report_path(&demo, &next, "json"));
    let killed: Vec<&serde_json::Value> = report["every_warning"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "W-RUN-KILLED")
        .collect();
    assert_eq!(killed.len(), 1, "{report}");
    let message = killed[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("run 2 (started 2026-11-24 04:00:00 +00:00) never finished"),
        "{message}"
    );
    let html = std::fs::read_to_string(report_path(&demo, &next, "html")).unwrap();
    assert!(html.contains("<code>W-RUN-KILLED</code>"));
    // Once: the run after this one finds a finished run before it.
    let after = demo.run("2026-11-25T04:00:00Z", &["--mode", "delta"]);
    let report = json(&report_path(&demo, &after, "json"));
    assert!(!report.to_string().contains("W-RUN-KILLED"), "{report}");
}

#[test]
fn every_run_warning_code_is_explained_in_troubleshooting() {
    let doc =
        std::fs::read_to_string(crate::support::workspace_root().join("docs/troubleshooting.md"))
            .unwrap();
    for code in alma_sis::warning::RUN_WARNINGS {
        assert!(
            doc.contains(&format!("| `{code}: ")),
            "{code} is not explained in docs/troubleshooting.md"
        );
    }
}

#[test]
fn the_trend_keeps_the_last_30_runs_oldest_first_and_skips_damaged_lines() {
    use alma_sis::pipeline::trend::{self, TREND_RUNS, TrendPoint};
    let dir = tempfile::tempdir().unwrap();
    let path = trend::path(dir.path(), "DEMO", "patrons");
    let point = |run: i64| TrendPoint {
        run: Some(run),
        started_at: format!("2026-11-{:02}T04:00:00+01:00", run % 28 + 1),
        status: "ok".into(),
        exit_code: 0,
        users_sent: run as u64,
        rows_rejected: 0,
        users_vanished: 0,
        seconds: 1.5,
    };
    for run in 1..=20 {
        trend::append(&path, &point(run)).unwrap();
    }
    // A line cut short by a full disk, then more runs.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"run\":21,\"started_at\n");
    std::fs::write(&path, text).unwrap();
    for run in 22..=36 {
        trend::append(&path, &point(run)).unwrap();
    }
    let last = trend::last(&path, TREND_RUNS);
    let runs: Vec<i64> = last.iter().map(|p| p.run.unwrap()).collect();
    let expected: Vec<i64> = (6..=20).chain(22..=36).collect();
    assert_eq!(runs, expected);
    assert_eq!(last[0], point(6));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let html = trend::charts_html(&last);
    assert_eq!(html.matches("<rect ").count(), 4 * TREND_RUNS);
}
