//! Database inputs against a real PostgreSQL server (see `pg_server`): the demo extract loaded
//! into a table by `examples/database/people.sql` gives the same XML, decisions and `explain`
//! output (row numbers for lines) natively and through ODBC as `people.csv` does; typed
//! columns become their documented text; failures (a wrong password, a query error, a
//! connection dropped mid-read) are clear, retried where that can help, deliver nothing and
//! leak no secret.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sis_extract::database::{Connector, DatabaseConfig, SslMode, query_rows};

use crate::pg_server::PgServer;
use crate::support::{alma_sis_env, expect_code, workspace_root};

const NOW: &str = "2026-11-23T04:00:00Z";
const PASSWORD: &str = "Campus-db-Pass-7f3a9";

/// A server with the demo's `people` table in database `campus`, owned by `alma`.
fn demo_server() -> Option<PgServer> {
    let server = PgServer::start()?;
    server.create_database("campus", "alma", PASSWORD);
    let sql = std::fs::read_to_string(workspace_root().join("examples/database/people.sql"))
        .expect("people.sql");
    server
        .client_as("alma", PASSWORD, "campus")
        .batch_execute(&sql)
        .expect("people.sql loads");
    Some(server)
}

/// libpq's variables for `alma` on `campus` at `port`.
fn pg_env(port: u16, password: &str) -> Vec<(String, String)> {
    vec![
        ("PGHOST".into(), "127.0.0.1".into()),
        ("PGPORT".into(), port.to_string()),
        ("PGUSER".into(), "alma".into()),
        ("PGPASSWORD".into(), password.into()),
        ("PGDATABASE".into(), "campus".into()),
        ("PGSSLMODE".into(), "disable".into()),
    ]
}

fn run(cwd: &Path, args: &[&str], env: &[(String, String)]) -> Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    alma_sis_env(cwd, args, &env)
}

fn config_arg(config: &Path) -> String {
    config.display().to_string()
}

/// The demo database config with `extra` lines added to its query input and the demo's side
/// files named absolutely, written into `dir`.
fn database_config(dir: &Path, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(workspace_root().join("examples/database/alma-sis.toml"))
        .expect("the database config");
    let demo = workspace_root().join("examples/demo");
    let text = text
        .replace("\"../demo/", &format!("\"{}/", demo.display()))
        .replacen(
            "name = \"people\"\n",
            &format!("name = \"people\"\n{extra}"),
            1,
        );
    let path = dir.join("alma-sis.toml");
    std::fs::write(&path, text).expect("config");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("mode");
    path
}

/// The XML of the one zip a run delivered into `cwd/out/drop`, without the line naming the
/// config's hash (each config has its own).
fn delivered_xml(cwd: &Path) -> String {
    let zips: Vec<PathBuf> = std::fs::read_dir(cwd.join("out/drop"))
        .expect("a drop folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    assert_eq!(zips.len(), 1, "{zips:?}");
    let xml = crate::support::unzip_text(&zips[0]);
    xml.lines()
        .filter(|l| !l.contains("config-sha256"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn report_json(cwd: &Path) -> serde_json::Value {
    let path = std::fs::read_dir(cwd.join("out"))
        .expect("out")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().ends_with(".report.json"))
        .expect("a report.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("report")).expect("json")
}

/// What the two reports must agree on: counts, rules, groups and every rejected row, with the
/// CSV's `people.csv` line N named as the query's `people` row N - 1 (the header is line 1).
fn decisions(report: &serde_json::Value) -> serde_json::Value {
    let mut rejected = report["rejected_rows"].clone();
    for row in rejected.as_array_mut().into_iter().flatten() {
        if row["file"] == "people.csv" {
            row["file"] = "people".into();
            row["line"] = (row["line"].as_u64().expect("a line") - 1).into();
            row["query"] = true.into();
        }
    }
    serde_json::json!({
        "counts": report["counts"],
        "filtered_by_rule": report["filtered_by_rule"],
        "rejected_by_code": report["rejected_by_code"],
        "user_groups": report["user_groups"],
        "rejected_rows": rejected,
    })
}

/// `explain` of the CSV run with `people.csv:N` put as the query's `people row N-1`.
fn as_query_rows(explain: &str) -> String {
    let re = regex::Regex::new(r"people\.csv:(\d+)").expect("regex");
    re.replace_all(explain, |c: &regex::Captures<'_>| {
        let line: u64 = c[1].parse().expect("a line");
        format!("people row {}", line - 1)
    })
    .into_owned()
}

/// `explain` with the card file named alike wherever the config has it, and columns not
/// aligned (names of other lengths pad them otherwise).
fn same_card_file(explain: &str) -> String {
    let path = regex::Regex::new(r"\S*replacement-cards\.psv").expect("regex");
    let spaces = regex::Regex::new(r" {2,}").expect("regex");
    let named = path.replace_all(explain, "replacement-cards.psv");
    spaces.replace_all(&named, " ").into_owned()
}

/// People of the demo with every kind of outcome: merged with a card, two affiliations,
/// filtered, a supplement row without a main row, plain ones.
const IDS: [&str; 8] = [
    "900100050",
    "900100109",
    "900199999",
    "900100251",
    "900100163",
    "900100241",
    "900100007",
    "900100223",
];

/// Runs the demo from the CSV file and from the database through `config`, and compares the
/// XML, the decisions and `explain`.
fn check_same_as_csv(config: &Path, env: &[(String, String)]) {
    let csv_dir = csv_run();
    let demo = workspace_root().join("examples/demo/alma-sis.toml");
    let db_dir = tempfile::tempdir().expect("tmp");
    let db_run = run(
        db_dir.path(),
        &["run", "--config", &config_arg(config), "--now", NOW],
        env,
    );
    expect_code(&db_run, 0);
    assert_no_secret(db_dir.path(), &db_run, PASSWORD);
    assert_eq!(delivered_xml(db_dir.path()), delivered_xml(csv_dir.path()));
    assert_eq!(
        decisions(&report_json(db_dir.path())),
        decisions(&report_json(csv_dir.path()))
    );
    for id in IDS {
        let csv = run(
            csv_dir.path(),
            &["explain", "--config", &config_arg(&demo), "--now", NOW, id],
            &[],
        );
        expect_code(&csv, 0);
        let db = run(
            db_dir.path(),
            &["explain", "--config", &config_arg(config), "--now", NOW, id],
            env,
        );
        expect_code(&db, 0);
        let db_text = String::from_utf8(db.stdout).expect("utf-8");
        assert!(
            db_text.contains("people row ") || id == "900199999",
            "{db_text}"
        );
        assert_eq!(
            same_card_file(&db_text),
            same_card_file(&as_query_rows(
                &String::from_utf8(csv.stdout).expect("utf-8")
            )),
            "explain {id}"
        );
    }
}

#[test]
fn the_demo_from_postgresql_is_the_demo_from_the_csv_file() {
    let Some(server) = demo_server() else { return };
    let config = workspace_root().join("examples/database/alma-sis.toml");
    check_same_as_csv(&config, &pg_env(server.port, PASSWORD));
}

#[cfg(feature = "odbc")]
#[test]
fn the_demo_through_odbc_is_the_demo_from_the_csv_file() {
    if !crate::pg_server::odbc_driver() {
        return;
    }
    let Some(server) = demo_server() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let database = format!(
        "database = {{ driver = \"odbc\", connection = \"Driver={{PostgreSQL Unicode}};Server=127.0.0.1;Port={};Database=campus;UID=alma;UseDeclareFetch=1;Fetch=100\", password_env = \"CAMPUS_DB_PASSWORD\", fetch_size = 50 }}\n",
        server.port
    );
    let config = database_config(dir.path(), &database);
    check_same_as_csv(
        &config,
        &[("CAMPUS_DB_PASSWORD".to_owned(), PASSWORD.to_owned())],
    );
}

/// A connector with libpq's variables for `alma` on `campus`.
fn connector(port: u16, password: &str) -> Connector {
    Connector {
        env: pg_env(port, password).into_iter().collect(),
        ..Connector::default()
    }
}

/// Typed values, NULLs and non-ASCII text, each with the text it must become: the server's
/// own text where ours is the same (an independent oracle), else the documented one.
const TYPED: &str = "
CREATE TABLE typed (n integer, t text, d date, ts timestamp, tz timestamptz, tm time,
                    b boolean, i bigint, s smallint, num numeric(12, 3), f float8, r real,
                    u uuid, vc varchar(5), ch char(4), j jsonb);
INSERT INTO typed VALUES
 (1, 'Zoë Ñandú 김 יעל', '2026-02-28', '2026-11-23 04:05:06', '2026-11-23 04:05:06+02',
  '23:59:58', true, -9007199254740993, -32768, 12345.5, 0.1, 1.5,
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'abc', 'ab', '{\"a\": [1, \"é\"]}'),
 (2, 'tab\tand\nnewline, \"quoted\"', '0001-01-01', '2026-01-02 03:04:05.25', '1999-12-31 23:00:00-01',
  '00:00:00.5', false, 0, 7, -0.001, -2.5e-7, -0, '00000000-0000-0000-0000-000000000000',
  '', '', '[]'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
GRANT SELECT ON typed TO alma;
";

const EXPECTED: [[&str; 16]; 3] = [
    [
        "1",
        "Zoë Ñandú 김 יעל",
        "2026-02-28",
        "2026-11-23 04:05:06",
        "2026-11-23 02:05:06+00:00",
        "23:59:58",
        "true",
        "-9007199254740993",
        "-32768",
        "12345.500",
        "0.1",
        "1.5",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "abc",
        "ab  ",
        "{\"a\": [1, \"é\"]}",
    ],
    [
        "2",
        "tab\tand\nnewline, \"quoted\"",
        "0001-01-01",
        "2026-01-02 03:04:05.25",
        "2000-01-01 00:00:00+00:00",
        "00:00:00.5",
        "false",
        "0",
        "7",
        "-0.001",
        "-0.00000025",
        "0",
        "00000000-0000-0000-0000-000000000000",
        "",
        "    ",
        "[]",
    ],
    [
        "3", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    ],
];

#[test]
fn typed_columns_become_their_documented_text() {
    let Some(server) = demo_server() else { return };
    server.execute("campus", TYPED);
    let db = DatabaseConfig::default();
    let rows = query_rows(
        "SELECT * FROM typed ORDER BY n",
        &db,
        Path::new("."),
        &connector(server.port, PASSWORD),
    )
    .expect("the query runs");
    assert_eq!(
        rows.columns,
        [
            "n", "t", "d", "ts", "tz", "tm", "b", "i", "s", "num", "f", "r", "u", "vc", "ch", "j"
        ]
    );
    let got: Vec<Vec<String>> = rows.collect();
    let want: Vec<Vec<String>> = EXPECTED
        .iter()
        .map(|r| r.iter().map(|v| (*v).to_owned()).collect())
        .collect();
    assert_eq!(got, want);
    // The server's own text agrees where the documented text is PostgreSQL's.
    let mut client = server.client("campus");
    let oracle = client
        .query(
            "SELECT n::text, d::text, ts::text, tm::text, i::text, s::text, num::text, u::text, \
             j::text FROM typed WHERE n < 3 ORDER BY n",
            &[],
        )
        .expect("oracle");
    for (row, want) in oracle.iter().zip(&EXPECTED) {
        let server_text: Vec<String> = (0..9).map(|i| row.get::<_, String>(i)).collect();
        let ours: Vec<String> = [0, 2, 3, 5, 7, 8, 9, 12, 15]
            .iter()
            .map(|&i| want[i].to_owned())
            .collect();
        assert_eq!(server_text, ours);
    }
}

#[cfg(feature = "odbc")]
#[test]
fn typed_columns_through_odbc_become_the_same_text() {
    if !crate::pg_server::odbc_driver() {
        return;
    }
    let Some(server) = demo_server() else { return };
    server.execute("campus", TYPED);
    let db: DatabaseConfig = toml::from_str(&format!(
        "driver = \"odbc\"\nconnection = \"Driver={{PostgreSQL Unicode}};Server=127.0.0.1;Port={};Database=campus;UID=alma;UseDeclareFetch=1;BoolsAsChar=0\"\npassword_env = \"PW\"\nfetch_size = 2\n",
        server.port
    ))
    .expect("a database table");
    let connector = Connector {
        env: [("PW".to_owned(), PASSWORD.to_owned())]
            .into_iter()
            .collect(),
        ..Connector::default()
    };
    // Types with an ODBC counterpart; the rest are the driver's text.
    let rows = query_rows(
        "SELECT n, t, d, ts, tm, b, i, s, num, vc FROM typed ORDER BY n",
        &db,
        Path::new("."),
        &connector,
    )
    .expect("the query runs");
    let got: Vec<Vec<String>> = rows.collect();
    let want: Vec<Vec<String>> = EXPECTED
        .iter()
        .map(|r| {
            [0, 1, 2, 3, 5, 6, 7, 8, 9, 13]
                .iter()
                // ODBC's TIME has no fractions of a second.
                .map(|&i| match (i, r[i]) {
                    (5, "00:00:00.5") => "00:00:00".to_owned(),
                    (_, v) => v.to_owned(),
                })
                .collect()
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_wrong_password_is_a_clear_error_retried_never_and_kept_secret() {
    let Some(server) = demo_server() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let config = database_config(dir.path(), "");
    let wrong = "Wrong-Secret-42-xyzzy";
    let out = run(
        dir.path(),
        &["run", "--config", &config_arg(&config), "--now", NOW],
        &pg_env(server.port, wrong),
    );
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("input people: PostgreSQL at 127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
    assert!(stderr.contains("28P01"), "{stderr}");
    assert!(
        !stderr.contains("attempt"),
        "a refused login is not retried: {stderr}"
    );
    let tried = server
        .log()
        .matches("password authentication failed for user \"alma\"")
        .count();
    assert_eq!(tried, 1, "one login attempt, not retried");
    assert_no_secret(dir.path(), &out, wrong);
    assert!(!dir.path().join("out/drop").exists() || no_zip(&dir.path().join("out/drop")));
}

fn no_zip(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .all(|e| e.path().extension().is_none_or(|x| x != "zip"))
        })
        .unwrap_or(true)
}

/// Neither stderr, stdout nor any file the run wrote (reports, state, manifest) holds `secret`.
fn assert_no_secret(dir: &Path, out: &Output, secret: &str) {
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !String::from_utf8_lossy(stream).contains(secret),
            "the secret is in the output"
        );
    }
    let mut files = vec![dir.join("out")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .expect("dir")
                    .map(|e| e.expect("entry").path()),
            );
        } else if path.is_file() {
            let bytes = std::fs::read(&path).expect("file");
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the secret is in {}",
                path.display()
            );
        }
    }
}

#[test]
fn no_secret_reaches_stderr_the_reports_or_the_state() {
    let Some(server) = demo_server() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let config = database_config(
        dir.path(),
        "database = { password_env = \"CAMPUS_DB_PASSWORD\" }\n",
    );
    let mut env = pg_env(server.port, "not-this-one");
    env.retain(|(k, _)| k != "PGPASSWORD");
    env.push(("CAMPUS_DB_PASSWORD".into(), PASSWORD.into()));
    let out = run(
        dir.path(),
        &["run", "-v", "--config", &config_arg(&config), "--now", NOW],
        &env,
    );
    expect_code(&out, 0);
    assert!(dir.path().join("out/alma-sis-state.sqlite").exists());
    assert_no_secret(dir.path(), &out, PASSWORD);
}

/// A run of the demo database config whose query has `from` replaced by `to`: it must exit 2,
/// delivering nothing; its stderr.
fn failing_query(from: &str, to: &str) -> Option<String> {
    let server = demo_server()?;
    let dir = tempfile::tempdir().expect("tmp");
    let config = database_config(dir.path(), "");
    let text = std::fs::read_to_string(&config)
        .expect("config")
        .replacen(from, to, 1);
    std::fs::write(&config, text).expect("config");
    let out = run(
        dir.path(),
        &["run", "--config", &config_arg(&config), "--now", NOW],
        &pg_env(server.port, PASSWORD),
    );
    expect_code(&out, 2);
    assert!(no_zip(&dir.path().join("out/drop")));
    Some(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_query_error_names_the_input_and_the_servers_message() {
    let Some(stderr) = failing_query("SELECT person_id, ", "SELECT person_id, no_such_column, ")
    else {
        return;
    };
    assert!(
        stderr.contains("input people: PostgreSQL at 127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("column \"no_such_column\" does not exist (SQLSTATE 42703), at character"),
        "{stderr}"
    );
}

#[test]
fn a_column_the_rules_name_but_the_query_lacks_lists_the_querys_columns() {
    let Some(stderr) = failing_query(
        "SELECT person_id, barcode, first_name, ",
        "SELECT person_id, barcode, ",
    ) else {
        return;
    };
    assert!(stderr.contains("column \"first_name\""), "{stderr}");
    assert!(
        stderr.contains("people: person_id, barcode, middle_name"),
        "the query's columns are listed: {stderr}"
    );
}

/// A TCP proxy to the server that cuts each of the first `cut` connections after the server
/// has sent `after` bytes through it: a connection dropped mid-read.
fn cutting_proxy(port: u16, cut: usize, after: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let proxy_port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
                break;
            };
            let limit = (seen.fetch_add(1, Ordering::SeqCst) < cut).then_some(after);
            let (c2, s2) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            std::thread::spawn(move || pump(c2, s2, None));
            std::thread::spawn(move || pump(server, client, limit));
        }
    });
    proxy_port
}

/// Copies `from` to `to`; after `limit` bytes, shuts both down.
fn pump(mut from: TcpStream, mut to: TcpStream, limit: Option<usize>) {
    let mut buf = [0; 4096];
    let mut sent = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let n = limit.map_or(n, |l| n.min(l.saturating_sub(sent)));
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n;
        if limit.is_some_and(|l| sent >= l) {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// A run of the demo database config (with `database` settings) through a proxy that cuts the
/// first `cut` connections mid-read: its directory and output.
fn run_cut(cut: usize, database: &str) -> Option<(tempfile::TempDir, Output)> {
    let server = demo_server()?;
    let proxy = cutting_proxy(server.port, cut, 30_000);
    let dir = tempfile::tempdir().expect("tmp");
    let config = database_config(dir.path(), &format!("database = {database}\n"));
    let out = run(
        dir.path(),
        &["run", "--config", &config_arg(&config), "--now", NOW],
        &pg_env(proxy, PASSWORD),
    );
    Some((dir, out))
}

/// The demo run from its CSV file, in a directory of its own.
fn csv_run() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let demo = workspace_root().join("examples/demo/alma-sis.toml");
    let out = run(
        dir.path(),
        &["run", "--config", &config_arg(&demo), "--now", NOW],
        &[],
    );
    expect_code(&out, 0);
    dir
}

#[test]
fn a_connection_dropped_mid_read_is_retried_from_the_start() {
    let cut_once = "{ retries = 2, backoff_initial_secs = 0, fetch_size = 20 }";
    let Some((dir, out)) = run_cut(1, cut_once) else {
        return;
    };
    expect_code(&out, 0);
    let warnings = report_json(dir.path())["warnings"].to_string();
    assert!(
        warnings.contains("input people: attempt 1 of 3 failed")
            && warnings.contains("trying again from the start"),
        "{warnings}"
    );
    // The retried read is the whole extract, once.
    assert_eq!(delivered_xml(dir.path()), delivered_xml(csv_run().path()));
}

#[test]
fn a_connection_that_keeps_dropping_fails_clearly_and_delivers_nothing() {
    let always = "{ retries = 1, backoff_initial_secs = 0 }";
    let Some((dir, out)) = run_cut(usize::MAX, always) else {
        return;
    };
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("input people: PostgreSQL at 127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("(gave up after 2 attempts)"), "{stderr}");
    assert!(no_zip(&dir.path().join("out/drop")));
    assert!(no_zip(&dir.path().join("out")));
}

#[test]
fn tls_verify_full_checks_the_certificate_and_the_host_name() {
    let Some((server, certs)) = PgServer::start_tls() else {
        return;
    };
    server.create_database("campus", "alma", PASSWORD);
    let ssl_query = "SELECT ssl::text AS ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let db = |host: &str, mode: SslMode, root: Option<&Path>| DatabaseConfig {
        host: Some(host.to_owned()),
        sslmode: Some(mode),
        sslrootcert: root.map(|p| p.display().to_string()),
        retries: 0,
        ..DatabaseConfig::default()
    };
    let connector = connector(server.port, PASSWORD);
    let ssl = |db: &DatabaseConfig| {
        query_rows(ssl_query, db, Path::new("."), &connector)
            .map(|rows| rows.map(|r| r.join(",")).collect::<Vec<_>>())
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        ssl(&db("localhost", SslMode::VerifyFull, Some(&certs.ca))),
        Ok(vec!["true".to_owned()])
    );
    assert_eq!(
        ssl(&db("127.0.0.1", SslMode::Require, None)),
        Ok(vec!["true".to_owned()])
    );
    assert_eq!(
        ssl(&db("127.0.0.1", SslMode::Disable, None)),
        Ok(vec!["false".to_owned()])
    );
    // The certificate names localhost, not 127.0.0.1.
    let wrong_host = ssl(&db("127.0.0.1", SslMode::VerifyFull, Some(&certs.ca)))
        .expect_err("the host name is checked");
    assert!(wrong_host.contains("certificate"), "{wrong_host}");
    assert!(!wrong_host.contains("attempt"), "{wrong_host}");
    // verify-ca checks the chain, not the name.
    assert_eq!(
        ssl(&db("127.0.0.1", SslMode::VerifyCa, Some(&certs.ca))),
        Ok(vec!["true".to_owned()])
    );
    let no_root = ssl(&db("localhost", SslMode::VerifyFull, None)).expect_err("no CA");
    assert!(no_root.contains("sslrootcert"), "{no_root}");
}

#[test]
fn a_query_can_be_a_supplement_beside_a_file() {
    let Some(server) = demo_server() else { return };
    server.execute(
        "campus",
        "CREATE TABLE cards (person_id text, barcode text, issued date); \
         GRANT SELECT ON cards TO alma;",
    );
    let cards =
        std::fs::read_to_string(workspace_root().join("examples/demo/replacement-cards.psv"))
            .expect("cards");
    let mut client = server.client("campus");
    for line in cards.lines().skip(1) {
        let f: Vec<&str> = line.split('|').collect();
        client
            .execute(
                "INSERT INTO cards VALUES ($1, $2, $3::text::date)",
                &[&f[0], &f[1], &f[2]],
            )
            .expect("a card");
    }
    let demo = workspace_root().join("examples/demo");
    let text = std::fs::read_to_string(demo.join("alma-sis.toml"))
        .expect("demo config")
        .replace("path = \"people.csv\"", &format!("path = \"{}/people.csv\"", demo.display()))
        .replace("path = \"terms.csv\"", &format!("path = \"{}/terms.csv\"", demo.display()))
        .replace(
            "path = \"replacement-cards.psv\"\nkey = \"person_id\"\ndelimiter = \"|\"\n",
            "name = \"cards\"\nquery = \"SELECT person_id, barcode, issued FROM cards\"\nkey = \"person_id\"\n",
        );
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("alma-sis.toml");
    std::fs::write(&config, text).expect("config");
    let out = run(
        dir.path(),
        &[
            "explain",
            "--config",
            &config_arg(&config),
            "--now",
            NOW,
            "900100050",
        ],
        &pg_env(server.port, PASSWORD),
    );
    expect_code(&out, 0);
    let explain = String::from_utf8_lossy(&out.stdout);
    assert!(
        explain.contains("cards row 1: a supplement row"),
        "{explain}"
    );
    assert!(
        explain.contains("column barcode from cards row 1"),
        "{explain}"
    );
    let out = run(
        dir.path(),
        &["run", "--config", &config_arg(&config), "--now", NOW],
        &pg_env(server.port, PASSWORD),
    );
    expect_code(&out, 0);
    assert_eq!(delivered_xml(dir.path()), delivered_xml(csv_run().path()));
}

#[test]
fn init_from_a_query_writes_a_config_that_runs() {
    let Some(server) = demo_server() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let sql = tmp.path().join("campus-people.sql");
    std::fs::write(
        &sql,
        "SELECT person_id, first_name, last_name, email, barcode, birth_date\n\
         FROM people ORDER BY row_order;\n",
    )
    .expect("sql");
    let dir = tmp.path().join("site");
    let env = pg_env(server.port, PASSWORD);
    let out = run(
        tmp.path(),
        &[
            "init",
            "--from-query",
            &sql.display().to_string(),
            &dir.display().to_string(),
        ],
        &env,
    );
    expect_code(&out, 0);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("318 rows, 6 columns; key person_id: 300 people"),
        "{said}"
    );
    let config = std::fs::read_to_string(dir.join("alma-sis.toml")).expect("config");
    for expected in [
        "query_file = \"campus-people.sql\"",
        "key = \"person_id\"",
        "first_name = \"{first_name}\"",
        "birth_date = \"{birth_date}\"",
        "address = \"{email}\"",
        "value = \"{barcode}\"",
    ] {
        assert!(config.contains(expected), "{expected} in:\n{config}");
    }
    assert!(
        !config.contains("900100"),
        "no value of the result is written"
    );
    assert!(dir.join("campus-people.sql").exists());
    let config_path = dir.join("alma-sis.toml").display().to_string();
    let out = run(
        tmp.path(),
        &["run", "--dry-run", "--config", &config_path, "--now", NOW],
        &env,
    );
    expect_code(&out, 0);
    let out = run(
        tmp.path(),
        &[
            "explain",
            "--config",
            &config_path,
            "--now",
            NOW,
            "900100050",
        ],
        &env,
    );
    expect_code(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("campus-people row 136"));
    // Never over an existing config.
    let again = run(
        tmp.path(),
        &[
            "init",
            "--from-query",
            &sql.display().to_string(),
            &dir.display().to_string(),
        ],
        &env,
    );
    expect_code(&again, 2);
}
