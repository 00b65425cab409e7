//! A throwaway PostgreSQL server for tests and `cargo xtask bench`: a cluster made with
//! `initdb` in a temporary directory (as the `postgres` user when run as root, which
//! PostgreSQL refuses to run as), started on a free loopback port with password (SCRAM)
//! authentication, stopped and removed when dropped.
//!
//! Without PostgreSQL installed, `start` returns `None` (and the tests that need it say so and
//! pass), unless `ALMA_SIS_REQUIRE_POSTGRES` is set, as `cargo xtask ci` sets it.
#![allow(dead_code, clippy::print_stderr)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The superuser's password of every throwaway cluster.
pub const SUPERUSER_PASSWORD: &str = "pg-superuser-Secret-1";

/// A running throwaway cluster.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// `postgres` when the server runs as that user (we are root).
    as_user: Option<String>,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
}

/// The directory of the newest installed PostgreSQL's server programs.
fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// TLS for the server: a CA and a certificate for `localhost`, made with the `openssl` tool.
pub struct Certs {
    /// The CA's certificate (what a client trusts).
    pub ca: PathBuf,
}

impl PgServer {
    /// Starts a cluster, or `None` when PostgreSQL is not installed (and not required).
    pub fn start() -> Option<PgServer> {
        PgServer::start_with(false)
    }

    /// Starts a cluster that also accepts TLS (`ssl = on`), with its certificates.
    pub fn start_tls() -> Option<(PgServer, Certs)> {
        let server = PgServer::start_with(true)?;
        let ca = server.dir.path().join("ca.crt");
        Some((server, Certs { ca }))
    }

    fn start_with(tls: bool) -> Option<PgServer> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var_os("ALMA_SIS_REQUIRE_POSTGRES").is_none(),
                "PostgreSQL is required (ALMA_SIS_REQUIRE_POSTGRES) but no initdb is installed \
                 under /usr/lib/postgresql; apt-get install postgresql"
            );
            eprintln!("skipped: PostgreSQL is not installed (apt-get install postgresql)");
            return None;
        };
        let as_user = is_root().then(|| "postgres".to_owned());
        let dir = tempfile::Builder::new()
            .prefix("alma-sis-pg-")
            .tempdir()
            .expect("a temp dir");
        let mut server = PgServer {
            dir,
            bin,
            as_user,
            port: 0,
        };
        std::fs::write(server.path("pw"), SUPERUSER_PASSWORD).expect("pwfile");
        if tls {
            server.make_certs();
        }
        server.hand_over();
        server
            .run(
                "initdb",
                &[
                    "-D",
                    &server.path_str("data"),
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--pwfile",
                    &server.path_str("pw"),
                ],
            )
            .expect("initdb");
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=40",
            server.path_str("")
        );
        if tls {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                server.path_str("server.crt"),
                server.path_str("server.key")
            ));
        }
        // A port taken between finding it free and binding it: try another.
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port();
            let started = server.run(
                "pg_ctl",
                &[
                    "-D",
                    &server.path_str("data"),
                    "-l",
                    &server.path_str("log"),
                    "-w",
                    "-t",
                    "120",
                    "-o",
                    &format!("-p {} {options}", server.port),
                    "start",
                ],
            );
            match started {
                Ok(()) => return Some(server),
                Err(e) => last = e,
            }
        }
        let log = std::fs::read_to_string(server.path("log")).unwrap_or_default();
        panic!("cannot start PostgreSQL: {last}\n{log}");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn path_str(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// Gives the directory and everything in it to the server's user.
    fn hand_over(&self) {
        if let Some(user) = &self.as_user {
            let status = Command::new("chown")
                .args(["-R", &format!("{user}:{user}")])
                .arg(self.dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown {}", self.dir.path().display());
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(program);
        let mut cmd = match &self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn make_certs(&self) {
        let dir = self.dir.path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("openssl runs");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=alma-sis test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").expect("san");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ]);
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            dir.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("key mode");
    }

    /// A superuser connection to `database`.
    pub fn client(&self, database: &str) -> postgres::Client {
        self.client_as("postgres", SUPERUSER_PASSWORD, database)
    }

    /// A connection as `user` to `database`.
    pub fn client_as(&self, user: &str, password: &str, database: &str) -> postgres::Client {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .password(password)
            .dbname(database)
            .connect(postgres::NoTls)
            .unwrap_or_else(|e| panic!("{user} connects to {database}: {e}"))
    }

    /// Runs SQL statements as the superuser in `database`.
    pub fn execute(&self, database: &str, sql: &str) {
        self.client(database)
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{e:?}"));
    }

    /// Creates a database and a login role owning it, with a password.
    pub fn create_database(&self, name: &str, user: &str, password: &str) {
        self.execute(
            "postgres",
            &format!("CREATE ROLE {user} LOGIN PASSWORD '{password}'"),
        );
        self.execute("postgres", &format!("CREATE DATABASE {name} OWNER {user}"));
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("log")).unwrap_or_default()
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.path("data")
    }

    /// The directory of the server's files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.path_str("data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

/// Whether the PostgreSQL ODBC driver is registered with unixODBC, or `false` (and the ODBC
/// tests skip) unless `ALMA_SIS_REQUIRE_POSTGRES` is set.
pub fn odbc_driver() -> bool {
    let registered = std::fs::read_to_string("/etc/odbcinst.ini")
        .is_ok_and(|t| t.contains("[PostgreSQL Unicode]"));
    if !registered {
        assert!(
            std::env::var_os("ALMA_SIS_REQUIRE_POSTGRES").is_none(),
            "the PostgreSQL ODBC driver is required but not registered; apt-get install \
             odbc-postgresql"
        );
        eprintln!("skipped: the PostgreSQL ODBC driver is not installed (odbc-postgresql)");
    }
    registered
}
