//! `database = { ... }` of an `[[input]]` as the config file spells it: the types the mapping
//! config holds, apart from the code that connects (so that the config does not import it).

use std::path::PathBuf;

use serde::Deserialize;

/// `database = { ... }` of an `[[input]]`: where its query runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres` (the default) or `odbc`.
    #[serde(default)]
    pub driver: Driver,
    /// PostgreSQL: host name, address or socket directory (default: `PGHOST`, else the local
    /// socket).
    #[serde(default)]
    pub host: Option<String>,
    /// PostgreSQL: port (default: `PGPORT`, else 5432).
    #[serde(default)]
    pub port: Option<u16>,
    /// PostgreSQL: database name (default: `PGDATABASE`, else the user name).
    #[serde(default)]
    pub database: Option<String>,
    /// PostgreSQL: login name (default: `PGUSER`, else the login name of the caller).
    #[serde(default)]
    pub user: Option<String>,
    /// PostgreSQL: `disable`, `prefer` (default, as libpq), `require`, `verify-ca` or
    /// `verify-full` (default: `PGSSLMODE`).
    #[serde(default)]
    pub sslmode: Option<SslMode>,
    /// PostgreSQL: the CA certificates to verify the server with, relative to the config file,
    /// or `system` (default: `PGSSLROOTCERT`, else `~/.postgresql/root.crt`).
    #[serde(default)]
    pub sslrootcert: Option<String>,
    /// ODBC: the connection string, without a password (`DSN=campus` or
    /// `Driver={...};Server=...;Database=...;UID=...`).
    #[serde(default)]
    pub connection: Option<String>,
    /// ODBC: an environment variable holding the whole connection string instead.
    #[serde(default)]
    pub connection_env: Option<String>,
    /// An environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// A file (mode 0600 or stricter) holding the password, relative to the config file.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Rows fetched at once (default 1000).
    #[serde(default = "default_fetch_size")]
    pub fetch_size: u32,
    /// ODBC: the longest text value, in characters, a column holds (default 4000).
    #[serde(default = "default_max_text")]
    pub max_text: u32,
    /// Seconds allowed for connecting (default: `PGCONNECT_TIMEOUT`, else 30).
    #[serde(default)]
    pub connect_timeout_secs: Option<u64>,
    /// Retries after a failed connection (refused, reset, dropped mid-read), as
    /// `[delivery] retries` (default 3).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Seconds before the first retry; doubles each time (default 5).
    #[serde(default = "default_backoff_initial")]
    pub backoff_initial_secs: u64,
    /// The longest pause between retries, in seconds (default 120).
    #[serde(default = "default_backoff_max")]
    pub backoff_max_secs: u64,
}

impl Default for DatabaseConfig {
    /// PostgreSQL as the environment says, with the documented defaults.
    fn default() -> Self {
        DatabaseConfig {
            driver: Driver::Postgres,
            host: None,
            port: None,
            database: None,
            user: None,
            sslmode: None,
            sslrootcert: None,
            connection: None,
            connection_env: None,
            password_env: None,
            password_file: None,
            fetch_size: default_fetch_size(),
            max_text: default_max_text(),
            connect_timeout_secs: None,
            retries: default_retries(),
            backoff_initial_secs: default_backoff_initial(),
            backoff_max_secs: default_backoff_max(),
        }
    }
}

fn default_fetch_size() -> u32 {
    1000
}

fn default_max_text() -> u32 {
    4000
}

fn default_retries() -> u32 {
    3
}

fn default_backoff_initial() -> u64 {
    5
}

fn default_backoff_max() -> u64 {
    120
}

/// `database.driver`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// PostgreSQL, natively.
    #[default]
    Postgres,
    /// Any database with an ODBC driver.
    Odbc,
}

/// `database.sslmode`, as libpq's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, unverified (libpq's default).
    Prefer,
    /// TLS, unverified (verified as `verify-ca` when a root certificate is named).
    Require,
    /// TLS, the server's certificate signed by a trusted CA.
    VerifyCa,
    /// TLS, the certificate signed by a trusted CA and naming the host connected to.
    VerifyFull,
}

impl SslMode {
    /// Parses libpq's spelling (`PGSSLMODE`).
    pub fn parse(text: &str) -> Option<SslMode> {
        Some(match text {
            "disable" | "allow" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}
