//! `[[alert]]`: a real SMTP server (Python's aiosmtpd, with STARTTLS and AUTH) and a local
//! HTTP receiver take the alerts of a brake, a failed delivery and the daily digest; an alert
//! that cannot be sent is in the report and changes no exit code.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::state::{Demo, pick, stderr};
use crate::support::expect_code;

/// A webhook receiver: answers every POST with `status` and keeps its body.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start(status: u16) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/hooks/T000/B000/secret-token",
            listener.local_addr().unwrap().port()
        );
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                assert!(request_line.starts_with("POST /hooks/"), "{request_line}");
                kept.lock().unwrap().push(String::from_utf8(body).unwrap());
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
            }
        });
        Receiver { url, bodies }
    }

    /// The `text` of each JSON body received.
    fn texts(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| {
                let json: serde_json::Value = serde_json::from_str(b).unwrap();
                json["text"].as_str().unwrap().to_owned()
            })
            .collect()
    }
}

const SMTP_SERVER: &str = r#"
import os, socket, ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

outdir, cert, key, user, password, mode = sys.argv[1:7]

class Keep:
    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(outdir) if f.endswith(".eml")])
        tmp = os.path.join(outdir, "%d.tmp" % n)
        with open(tmp, "wb") as f:
            f.write(envelope.content)
        os.rename(tmp, os.path.join(outdir, "%d.eml" % n))
        return "250 OK"

def check(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
          and auth_data.password.decode() == password)
    return AuthResult(success=ok)

s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
if mode == "starttls":
    controller = Controller(Keep(), hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, authenticator=check, auth_required=True,
                            auth_require_tls=True)
else:
    # TLS from the first byte (smtps): the whole session is encrypted.
    controller = Controller(Keep(), hostname="127.0.0.1", port=port, ssl_context=context,
                            authenticator=check, auth_required=True, auth_require_tls=False)
controller.start()
print(port, flush=True)
while True:
    time.sleep(3600)
"#;

/// aiosmtpd on loopback: STARTTLS required, or TLS from the start (a certificate made for
/// the test), then AUTH.
struct MailServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    implicit_tls: bool,
}

impl Drop for MailServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl MailServer {
    fn start() -> MailServer {
        MailServer::start_with(false)
    }

    fn start_with(implicit_tls: bool) -> MailServer {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(made.success(), "openssl makes the test certificate");
        let mail = dir.path().join("mail");
        std::fs::create_dir(&mail).unwrap();
        // Debian's python3, which python3-aiosmtpd is installed for.
        let mut child = Command::new("/usr/bin/python3")
            .args(["-W", "ignore", "-c", SMTP_SERVER])
            .arg(&mail)
            .arg(&cert)
            .arg(&key)
            .args(["alerts", "s3cret pass"])
            .arg(if implicit_tls { "tls" } else { "starttls" })
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs (python3-aiosmtpd: cargo xtask ci installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("aiosmtpd did not start: {line:?}"));
        MailServer {
            child,
            port,
            dir,
            implicit_tls,
        }
    }

    fn url(&self) -> String {
        let scheme = if self.implicit_tls { "smtps" } else { "smtp" };
        format!("{scheme}://alerts:s3cret%20pass@127.0.0.1:{}", self.port)
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The messages received, in order.
    fn messages(&self) -> Vec<String> {
        let mail = self.dir.path().join("mail");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&mail)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort_by_key(|p| {
            p.file_stem()
                .unwrap()
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap()
        });
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }
}

/// Appends `[[alert]]` entries to the demo's config.
fn add_alerts(demo: &Demo, alerts: &str) {
    let mut config = std::fs::read_to_string(demo.config()).unwrap();
    config.push('\n');
    config.push_str(alerts);
    std::fs::write(demo.config(), config).unwrap();
    // As an administrator keeps it: the config-mode warning is not what these tests are about.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(demo.config(), std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn webhook(url: &str, on: &str) -> String {
    format!("[[alert]]\nwebhook = \"{url}\"\non = {on}\n")
}

fn email(ca: &Path, on: &str) -> String {
    format!(
        "[[alert]]\nemail = \"library-it@demo.example.edu\"\nfrom = \"alma-sis@demo.example.edu\"\n\
         ca_file = \"{}\"\non = {on}\n",
        ca.display()
    )
}

fn report_of(demo: &Demo, out: &std::process::Output) -> serde_json::Value {
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    let path = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("report"))
        .map(|p| demo.root().join(p.trim()))
        .unwrap_or_else(|| panic!("no report in\n{summary}"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// No value of the extract that is personal (names, emails, phones, addresses, birth dates)
/// appears in `text`.
fn assert_no_personal_data(demo: &Demo, text: &str) {
    let extract = std::fs::read_to_string(demo.people()).unwrap();
    let mut rows = extract.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let personal = [
        "first_name",
        "last_name",
        "email",
        "personal_email",
        "phone",
        "address_line1",
        "birth_date",
    ];
    for row in rows {
        for (column, value) in header.iter().zip(row.split(',')) {
            if personal.contains(column) && value.len() > 3 {
                assert!(!text.contains(value), "{column} {value:?} is in:\n{text}");
            }
        }
    }
}

/// Removes half the people the state knows: the next run trips the brake.
fn break_the_extract(demo: &Demo) {
    let known = demo.known();
    let half = pick(&known, 0, known.len() / 2);
    let half: Vec<&str> = half.iter().map(String::as_str).collect();
    demo.edit_extract(&half, &[]);
}

#[test]
fn a_brake_alerts_the_webhook_and_the_mail_server() {
    let demo = Demo::new();
    let hook = Receiver::start(200);
    let mail = MailServer::start();
    let on = r#"["brake", "failure"]"#;
    add_alerts(
        &demo,
        &format!("{}{}", webhook(&hook.url, on), email(&mail.ca(), on)),
    );
    let env = [("ALMA_SIS_SMTP_URL", mail.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    expect_code(&demo.run_env("2026-11-23T04:00:00Z", &[], &env), 0);
    assert!(hook.texts().is_empty(), "a good run sends no brake alert");
    assert!(mail.messages().is_empty());

    break_the_extract(&demo);
    let braked = demo.run_env("2026-11-24T04:00:00Z", &["--mode", "delta"], &env);
    expect_code(&braked, 4);
    let texts = hook.texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    let text = &texts[0];
    for expected in [
        "the brake stopped the run (exit 4)",
        "Delivered: nothing (the run stopped before delivery).",
        "Next step: nothing was sent.",
        "--force",
        "Sent because: brake.",
        ".report.html",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    assert_no_personal_data(&demo, text);
    insta::assert_snapshot!("brake_alert", text);

    let messages = mail.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert!(
        message.contains("Subject: alma-sis DEMO/patrons: the brake stopped the run (exit 4)"),
        "{message}"
    );
    assert!(
        message.contains("To: library-it@demo.example.edu"),
        "{message}"
    );
    assert!(message.contains("Sent because: brake."), "{message}");
    assert_no_personal_data(&demo, message);

    let report = report_of(&demo, &braked);
    let alerts = report["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(alerts.iter().all(|a| a["sent"] == true), "{alerts:?}");
    assert_eq!(alerts[1]["target"], "email library-it@demo.example.edu");
    let target = alerts[0]["target"].as_str().unwrap();
    assert!(
        target.starts_with("webhook http://127.0.0.1:") && !target.contains("secret-token"),
        "the webhook's secret path stays out of the report: {target}"
    );
}

#[test]
fn a_failed_delivery_alerts_with_what_did_not_arrive() {
    let demo = Demo::new();
    let hook = Receiver::start(200);
    add_alerts(&demo, &webhook(&hook.url, r#"["failure"]"#));
    let config = std::fs::read_to_string(demo.config()).unwrap();
    std::fs::write(
        demo.config(),
        config.replace(
            "drop_folder = \"out/drop\"",
            "drop_folder = \"blocked/drop\"",
        ),
    )
    .unwrap();
    std::fs::write(demo.root().join("blocked"), "not a folder").unwrap();
    let failed = demo.run("2026-11-23T04:00:00Z", &[]);
    expect_code(&failed, 3);
    let texts = hook.texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    let text = &texts[0];
    for expected in [
        "the run failed (exit 3)",
        "delivery-failed",
        "What happened: ",
        "Not delivered: DEMO_patrons_20261123040000_r1_01.zip",
        "Next step: deliver the zips that did not arrive with `alma-sis deliver`",
        "Sent because: failure.",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    assert_no_personal_data(&demo, text);
    insta::assert_snapshot!("failed_delivery_alert", text);
}

#[test]
fn the_digest_goes_once_a_day() {
    let demo = Demo::new();
    let hook = Receiver::start(200);
    let mail = MailServer::start();
    let on = r#"["digest"]"#;
    add_alerts(
        &demo,
        &format!("{}{}", webhook(&hook.url, on), email(&mail.ca(), on)),
    );
    let env = [("ALMA_SIS_SMTP_URL", mail.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = demo.run_env("2026-11-23T04:00:00Z", &[], &env);
    expect_code(&first, 0);
    let texts = hook.texts();
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].contains("DEMO/patrons: finished (exit 0)"),
        "{}",
        texts[0]
    );
    assert!(
        texts[0].contains("Delivered: DEMO_patrons_20261123040000_r1_01.zip to drop folder"),
        "{}",
        texts[0]
    );
    assert!(
        texts[0].contains("Next step: nothing to do."),
        "{}",
        texts[0]
    );
    assert!(texts[0].contains("Sent because: digest."), "{}", texts[0]);
    assert_eq!(mail.messages().len(), 1);

    // The same day again: no second digest; a dry run never sends one.
    expect_code(
        &demo.run_env("2026-11-23T05:00:00Z", &["--mode", "delta"], &env),
        0,
    );
    expect_code(
        &demo.run_env("2026-11-24T03:00:00Z", &["--dry-run"], &env),
        0,
    );
    assert_eq!(hook.texts().len(), 1);
    assert_eq!(mail.messages().len(), 1);

    // The next day: one more.
    expect_code(
        &demo.run_env("2026-11-24T04:00:00Z", &["--mode", "delta"], &env),
        0,
    );
    assert_eq!(hook.texts().len(), 2);
    let messages = mail.messages();
    assert_eq!(messages.len(), 2);
    assert!(
        messages[1].contains("Subject: alma-sis DEMO/patrons: finished (exit 0)"),
        "{}",
        messages[1]
    );
    assert_no_personal_data(&demo, &messages[1]);
}

#[test]
fn alerts_that_cannot_be_sent_change_no_exit_code() {
    let demo = Demo::new();
    let refusing = Receiver::start(500);
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let on = r#"["brake", "failure", "digest"]"#;
    add_alerts(
        &demo,
        &format!(
            "{}{}{}",
            webhook(&refusing.url, on),
            webhook(&format!("http://127.0.0.1:{closed}/hook"), on),
            email(Path::new("/nonexistent-ca.pem"), on)
        ),
    );
    // The mail server is unreachable: nothing listens on the port.
    let url = format!("smtp://alerts:pw@127.0.0.1:{closed}");
    let env = [("ALMA_SIS_SMTP_URL", url.as_str())];
    let good = demo.run_env("2026-11-23T04:00:00Z", &[], &env);
    expect_code(&good, 0);
    let report = report_of(&demo, &good);
    let alerts = report["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    assert!(alerts.iter().all(|a| a["sent"] == false), "{alerts:?}");
    assert!(
        alerts[0]["error"].as_str().unwrap().contains("HTTP 500"),
        "{alerts:?}"
    );
    let summary = String::from_utf8_lossy(&good.stdout);
    assert_eq!(
        summary.matches("  alert            NOT sent to").count(),
        3,
        "{summary}"
    );
    assert!(
        stderr(&good).contains("alert to email library-it@demo.example.edu not sent"),
        "{}",
        stderr(&good)
    );

    // Without a CA file the mail server is only unreachable; the brake still exits 4.
    let config = std::fs::read_to_string(demo.config()).unwrap();
    std::fs::write(
        demo.config(),
        config.replace("ca_file = \"/nonexistent-ca.pem\"\n", ""),
    )
    .unwrap();
    break_the_extract(&demo);
    let braked = demo.run_env("2026-11-24T04:00:00Z", &["--mode", "delta"], &env);
    expect_code(&braked, 4);
    let report = report_of(&demo, &braked);
    let alerts = report["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    assert!(
        alerts[2]["error"]
            .as_str()
            .unwrap()
            .starts_with("mail server:"),
        "{alerts:?}"
    );
    // The refusing receiver was asked twice: the digest, then the brake.
    assert_eq!(refusing.texts().len(), 2);
}

#[test]
fn an_alert_entry_with_two_targets_is_a_config_error() {
    let demo = Demo::new();
    add_alerts(
        &demo,
        "[[alert]]\nwebhook = \"https://hooks.example.edu/x\"\nemail = \"it@example.edu\"\non = [\"brake\"]\n",
    );
    let out = demo.run("2026-11-23T04:00:00Z", &[]);
    expect_code(&out, 2);
    assert!(
        stderr(&out).contains("[[alert]] number 1: set one of webhook, webhook_env and email"),
        "{}",
        stderr(&out)
    );
    add_alerts(&demo, "");
    let bad = std::fs::read_to_string(demo.config()).unwrap().replace(
        "email = \"it@example.edu\"\non = [\"brake\"]",
        "on = [\"brakes\"]",
    );
    std::fs::write(demo.config(), bad).unwrap();
    let out = demo.run("2026-11-23T04:00:00Z", &[]);
    expect_code(&out, 2);
    assert!(stderr(&out).contains("brakes"), "{}", stderr(&out));
}

#[test]
fn rejects_over_the_threshold_and_chosen_warning_codes_send_their_alerts() {
    let demo = Demo::new();
    let rejects = Receiver::start(200);
    let stale = Receiver::start(200);
    let other = Receiver::start(200);
    add_alerts(
        &demo,
        &format!(
            "{}{}codes = [\"W-STALE-ZIP\"]\n{}codes = [\"W-PURGE-SOON\"]\n\
             [check]\nmax_rejected_percent = 0.1\n",
            webhook(&rejects.url, r#"["rejects"]"#),
            webhook(&stale.url, r#"["warning"]"#),
            webhook(&other.url, r#"["warning"]"#),
        ),
    );
    // The demo rejects one row of 333: over 0.1%.
    let first = demo.run("2026-11-23T04:00:00Z", &[]);
    expect_code(&first, 1);
    let texts = rejects.texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    for expected in [
        "finished with too many rejected rows (exit 1)",
        "1 row(s) rejected",
        "Delivered: DEMO_patrons_20261123040000_r1_01.zip",
        "Next step: fix the rejected rows in the source system",
        "Sent because: rejects.",
    ] {
        assert!(
            texts[0].contains(expected),
            "{expected:?} not in:\n{}",
            texts[0]
        );
    }
    assert_no_personal_data(&demo, &texts[0]);
    assert!(stale.texts().is_empty(), "no stale zip yet");

    // Alma has not taken the first zip: the second run's delivery finds it waiting
    // (W-STALE-ZIP).
    let second = demo.run("2026-11-24T04:00:00Z", &["--mode", "full"]);
    expect_code(&second, 1);
    let texts = stale.texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("Warnings: W-STALE-ZIP."), "{}", texts[0]);
    assert!(texts[0].contains("Sent because: warning."), "{}", texts[0]);
    assert!(other.texts().is_empty(), "W-PURGE-SOON did not occur");
    assert_eq!(rejects.texts().len(), 2);
}

#[test]
fn an_smtp_file_others_may_read_is_refused_and_reported() {
    use std::os::unix::fs::PermissionsExt as _;
    let demo = Demo::new();
    let mail = MailServer::start();
    let file = demo.root().join("smtp-url");
    std::fs::write(&file, format!("{}\n", mail.url())).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    add_alerts(
        &demo,
        &format!(
            "{}smtp_file = \"{}\"\n",
            email(&mail.ca(), r#"["digest"]"#),
            file.display()
        ),
    );
    let out = demo.run("2026-11-23T04:00:00Z", &[]);
    expect_code(&out, 0);
    let report = report_of(&demo, &out);
    let error = report["alerts"][0]["error"].as_str().unwrap();
    assert!(error.contains("chmod 600"), "{error}");
    assert!(mail.messages().is_empty());

    // Made private, it is used; the digest was not sent, so today's is still due.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = demo.run("2026-11-23T05:00:00Z", &["--mode", "delta"]);
    expect_code(&out, 0);
    assert_eq!(report_of(&demo, &out)["alerts"][0]["sent"], true);
    assert_eq!(mail.messages().len(), 1);
}

#[test]
fn email_goes_over_tls_from_the_start_with_smtps() {
    let demo = Demo::new();
    let mail = MailServer::start_with(true);
    add_alerts(
        &demo,
        &format!(
            "{}smtp_env = \"W22_SMTP\"\n",
            email(&mail.ca(), r#"["digest"]"#)
        ),
    );
    let url = mail.url();
    assert!(url.starts_with("smtps://"));
    let out = demo.run_env("2026-11-23T04:00:00Z", &[], &[("W22_SMTP", url.as_str())]);
    expect_code(&out, 0);
    assert_eq!(report_of(&demo, &out)["alerts"][0]["sent"], true);
    let messages = mail.messages();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("Subject: alma-sis DEMO/patrons: finished (exit 0)"),
        "{}",
        messages[0]
    );
}
