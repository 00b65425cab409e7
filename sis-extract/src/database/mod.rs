//! Database inputs: an `[[input]]` whose rows are the result of a query, run against
//! PostgreSQL natively (feature `postgres`) or any database through ODBC (feature `odbc`).
//!
//! A query's rows are fetched in batches (a portal or an ODBC rowset of `fetch_size` rows, never
//! the whole result at once) and spooled to an unnamed temporary file in
//! [`Connector::spool_dir`] (mode 0600, no name in any directory, gone when the run ends),
//! which the file reader then indexes as it indexes a
//! CSV file: mapping reads rows back by offset, so memory stays bounded whatever the size of
//! the result. Every typed value becomes the text documented in `docs/databases.md`
//! ([`render`]); NULL becomes an empty value. A row's provenance is the input's name and its
//! row number in the result.
//!
//! A failed connection (refused, reset, dropped mid-read) is retried, from the start of the
//! query, as delivery retries; a query error or a refused login is not. Secrets (passwords,
//! connection strings) come from the environment or a 0600 file the config names, never from
//! the config file, and no message names more of the connection than its host and database.
//!
//! This crate reads no environment itself: the caller hands it a [`Connector`] with the
//! variables it may use.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ExtractError;
use crate::config::InputConfig;

#[cfg(feature = "odbc")]
mod odbc;
#[cfg(feature = "postgres")]
mod pgpass;
#[cfg(feature = "postgres")]
mod postgres;
pub mod render;
pub(crate) mod settings;

pub use settings::{DatabaseConfig, Driver, SslMode};

/// What database inputs may use of the caller's world: the environment variables (`PG*` and
/// those the config names), the home directory (`~/.pgpass`, `~/.postgresql/root.crt`), the
/// login name, where rows are spooled and how to wait between attempts.
#[derive(Debug, Clone)]
pub struct Connector {
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// The home directory.
    pub home: Option<PathBuf>,
    /// The login name (libpq's default user).
    pub login: Option<String>,
    /// Where rows are spooled (an unnamed file); `Default` takes the system's temporary
    /// directory (`std::env::temp_dir`, the one thing this crate asks of the environment).
    pub spool_dir: PathBuf,
    /// Pauses between attempts.
    pub sleep: fn(Duration),
}

impl Default for Connector {
    /// No environment, no home, no pauses: a config must name everything.
    fn default() -> Self {
        Connector {
            env: BTreeMap::new(),
            home: None,
            login: None,
            spool_dir: std::env::temp_dir(),
            sleep: |_| {},
        }
    }
}

impl Connector {
    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// A query input, resolved: its name, its SQL and where it runs.
#[derive(Debug)]
pub(crate) struct Query<'c> {
    /// The input's name (its provenance).
    pub name: String,
    pub sql: String,
    pub database: std::borrow::Cow<'c, DatabaseConfig>,
}

impl<'c> Query<'c> {
    /// The query of `input`, if it is a query input; its SQL read from `query_file` (relative
    /// to `base_dir`) when not inline.
    pub fn of(input: &'c InputConfig, base_dir: &Path) -> Result<Option<Query<'c>>, ExtractError> {
        let name = input.name();
        let sql = match (&input.query, &input.query_file) {
            (Some(sql), None) => sql.get_ref().clone(),
            (None, Some(file)) => {
                let path = base_dir.join(file);
                std::fs::read_to_string(&path)
                    .map_err(|source| ExtractError::Io { path, source })?
            }
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err(ExtractError::Database {
                    input: name,
                    message: "give `query` or `query_file`, not both".to_owned(),
                });
            }
        };
        let database = match &input.database {
            Some(db) => std::borrow::Cow::Borrowed(db),
            None => std::borrow::Cow::Owned(DatabaseConfig::default()),
        };
        Ok(Some(Query {
            name,
            sql: sql.trim().trim_end_matches(';').trim_end().to_owned(),
            database,
        }))
    }
}

/// Why one attempt at a query failed.
#[derive(Debug)]
pub(crate) struct Failed {
    /// What happened, for people: the server's or driver's own message included.
    pub message: String,
    /// A connection failure worth another attempt (refused, reset, dropped, timed out).
    pub retry: bool,
}

impl Failed {
    pub fn fatal(message: impl Into<String>) -> Failed {
        Failed {
            message: message.into(),
            retry: false,
        }
    }
}

/// What a driver writes a result into: the column names once, then every row.
pub(crate) struct Spool {
    out: csv::Writer<BufWriter<File>>,
    /// The row being built, one value per column (NULL as empty).
    pub row: Vec<String>,
    pub rows: u64,
    pub columns: Vec<String>,
}

impl Spool {
    fn new(file: File) -> Spool {
        Spool {
            out: csv::WriterBuilder::new()
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(BufWriter::with_capacity(1 << 16, file)),
            row: Vec::new(),
            rows: 0,
            columns: Vec::new(),
        }
    }

    /// The result's column names; refused when two are the same or one is empty.
    pub fn header(&mut self, columns: Vec<String>) -> Result<(), Failed> {
        for (i, c) in columns.iter().enumerate() {
            if c.trim().is_empty() {
                return Err(Failed::fatal(format!(
                    "column {} of the result has no name; name it with AS",
                    i + 1
                )));
            }
            if columns[..i].contains(c) {
                return Err(Failed::fatal(format!(
                    "the result has two columns named {c:?}; name them apart with AS"
                )));
            }
        }
        self.out.write_record(&columns).map_err(spool_error)?;
        self.row = vec![String::new(); columns.len()];
        self.columns = columns;
        Ok(())
    }

    /// Writes `row` as the next row, then empties its values.
    pub fn push(&mut self) -> Result<(), Failed> {
        self.out.write_record(&self.row).map_err(spool_error)?;
        for value in &mut self.row {
            value.clear();
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(self) -> Result<(File, Vec<String>, u64), Failed> {
        let file = self
            .out
            .into_inner()
            .map_err(|e| spool_error(e.into_error()))?
            .into_inner()
            .map_err(|e| spool_error(e.into_error()))?;
        Ok((file, self.columns, self.rows))
    }
}

fn spool_error(e: impl std::fmt::Display) -> Failed {
    Failed::fatal(format!("cannot write the rows to a temporary file: {e}"))
}

/// A query's result, spooled: a path the file reader opens (the file has no other name), the
/// handle that keeps it, and what happened on the way.
#[derive(Debug)]
pub(crate) struct Spooled {
    pub path: PathBuf,
    pub file: File,
    pub warnings: Vec<String>,
}

/// An unnamed file in `dir`: one handle to write it, one to keep it (while the run lasts) and a
/// path that opens it again through the kept handle.
fn unnamed(dir: &Path) -> std::io::Result<(File, File, PathBuf)> {
    let file = tempfile::tempfile_in(dir)?;
    let kept = file.try_clone()?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        let path = PathBuf::from(format!("/proc/self/fd/{}", kept.as_raw_fd()));
        if path.exists() {
            return Ok((file, kept, path));
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "spooling a query needs /proc/self/fd (Linux)",
    ))
}

/// One attempt at a query, writing into a spool.
type Attempt = dyn FnMut(&mut Spool) -> Result<(), Failed>;

/// Runs the query of `query` into a spool file, retrying failed connections.
pub(crate) fn spool(
    query: &Query<'_>,
    base_dir: &Path,
    connector: &Connector,
) -> Result<Spooled, ExtractError> {
    let fail = |message: String| ExtractError::Database {
        input: query.name.clone(),
        message,
    };
    let db = &query.database;
    let mut warnings = Vec::new();
    let mut run: Box<Attempt> = match db.driver {
        #[cfg(feature = "postgres")]
        Driver::Postgres => {
            let target = postgres::PgTarget::resolve(db, base_dir, connector, &mut warnings)
                .map_err(fail)?;
            let sql = query.sql.clone();
            let fetch = db.fetch_size.max(1);
            Box::new(move |spool| target.run(&sql, fetch, spool))
        }
        #[cfg(feature = "odbc")]
        Driver::Odbc => {
            let target = odbc::OdbcTarget::resolve(db, base_dir, connector).map_err(fail)?;
            let sql = query.sql.clone();
            let (fetch, max_text) = (db.fetch_size.max(1), db.max_text.max(1));
            Box::new(move |spool| target.run(&sql, fetch, max_text, spool))
        }
        #[allow(unreachable_patterns)]
        driver => {
            let _ = (base_dir, &mut warnings);
            return Err(fail(format!(
                "this alma-sis was built without the {} source; build it with `--features {}`",
                match driver {
                    Driver::Postgres => "PostgreSQL",
                    Driver::Odbc => "ODBC",
                },
                match driver {
                    Driver::Postgres => "postgres",
                    Driver::Odbc => "odbc (needs unixODBC: apt-get install unixodbc-dev)",
                }
            )));
        }
    };
    let attempts = db.retries.saturating_add(1);
    let mut attempt = 1;
    loop {
        let (file, kept, path) = unnamed(&connector.spool_dir).map_err(|e| {
            fail(format!(
                "cannot create a temporary file in {}: {e}",
                connector.spool_dir.display()
            ))
        })?;
        let mut spool = Spool::new(file);
        match run(&mut spool).and_then(|()| spool.finish()) {
            Ok(_) => {
                return Ok(Spooled {
                    path,
                    file: kept,
                    warnings,
                });
            }
            Err(failed) if failed.retry && attempt < attempts => {
                let pause = backoff(db, attempt);
                warnings.push(format!(
                    "input {}: attempt {attempt} of {attempts} failed: {}; trying again from \
                     the start in {} s",
                    query.name,
                    failed.message,
                    pause.as_secs()
                ));
                (connector.sleep)(pause);
                attempt += 1;
            }
            Err(failed) => {
                let tried = if failed.retry && attempts > 1 {
                    format!(" (gave up after {attempts} attempts)")
                } else {
                    String::new()
                };
                return Err(fail(format!("{}{tried}", failed.message)));
            }
        }
    }
}

/// The pause after failed attempt `attempt`, as delivery's: doubling, capped.
fn backoff(db: &DatabaseConfig, attempt: u32) -> Duration {
    let factor = 1u64 << attempt.saturating_sub(1).min(20);
    Duration::from_secs(
        db.backoff_initial_secs
            .saturating_mul(factor)
            .min(db.backoff_max_secs),
    )
}

/// Reads a password file the config names: refused unless only its owner may read it.
pub(crate) fn read_secret_file(path: &Path) -> Result<String, String> {
    let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = file
            .metadata()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "password file {} may be read by others (mode {mode:04o}); run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut &file, &mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// The password `password_env` or `password_file` names, if any.
pub(crate) fn configured_password(
    db: &DatabaseConfig,
    base_dir: &Path,
    connector: &Connector,
) -> Result<Option<String>, String> {
    if let Some(var) = &db.password_env {
        return connector
            .var(var)
            .map(|v| Some(v.to_owned()))
            .ok_or_else(|| {
                format!("database.password_env names {var}, which is not set (or empty)")
            });
    }
    if let Some(file) = &db.password_file {
        return read_secret_file(&base_dir.join(file)).map(Some);
    }
    Ok(None)
}

/// `message` with every occurrence of `secret` masked.
pub(crate) fn scrub(message: String, secret: Option<&str>) -> String {
    match secret {
        Some(s) if s.len() >= 3 && message.contains(s) => message.replace(s, "********"),
        _ => message,
    }
}

/// A query's result as the rules see it: its column names, then every row's values as text
/// (NULL as empty), read back from the spool.
pub struct QueryRows {
    /// The result's column names.
    pub columns: Vec<String>,
    /// What happened on the way (attempts retried, a password file ignored).
    pub warnings: Vec<String>,
    records: csv::StringRecordsIntoIter<File>,
}

impl Iterator for QueryRows {
    type Item = Vec<String>;

    fn next(&mut self) -> Option<Vec<String>> {
        let record = self.records.next()?.ok()?;
        Some(record.iter().map(str::to_owned).collect())
    }
}

/// Runs `sql` against `db` (as a query input would, retries included) and returns its rows as
/// text: what `alma-sis init --from-query` shows of a query.
pub fn query_rows(
    sql: &str,
    db: &DatabaseConfig,
    base_dir: &Path,
    connector: &Connector,
) -> Result<QueryRows, ExtractError> {
    let query = Query {
        name: "query".to_owned(),
        sql: sql.trim().trim_end_matches(';').trim_end().to_owned(),
        database: std::borrow::Cow::Borrowed(db),
    };
    let spooled = spool(&query, base_dir, connector)?;
    let io = |e: std::io::Error| ExtractError::Database {
        input: query.name.clone(),
        message: format!("cannot read the spooled rows back: {e}"),
    };
    let mut file = spooled.file;
    std::io::Seek::rewind(&mut file).map_err(io)?;
    let mut reader = csv::ReaderBuilder::new().from_reader(file);
    let columns = reader
        .headers()
        .map_err(|e| io(std::io::Error::other(e)))?
        .iter()
        .map(str::to_owned)
        .collect();
    Ok(QueryRows {
        columns,
        warnings: spooled.warnings,
        records: reader.into_records(),
    })
}

/// Columns of a query, for `alma-sis init --from-query`: each name and the type it has in the
/// database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// Its type, as the database names it.
    pub type_name: String,
}

/// Describes the result columns of `sql` without reading its rows.
pub fn describe(
    sql: &str,
    db: &DatabaseConfig,
    base_dir: &Path,
    connector: &Connector,
) -> Result<Vec<Column>, ExtractError> {
    let fail = |message: String| ExtractError::Database {
        input: "query".to_owned(),
        message,
    };
    let sql = sql.trim().trim_end_matches(';').trim_end();
    match db.driver {
        #[cfg(feature = "postgres")]
        Driver::Postgres => {
            let mut warnings = Vec::new();
            postgres::PgTarget::resolve(db, base_dir, connector, &mut warnings)
                .map_err(fail)?
                .describe_columns(sql)
                .map_err(|f| fail(f.message))
        }
        #[cfg(feature = "odbc")]
        Driver::Odbc => odbc::OdbcTarget::resolve(db, base_dir, connector)
            .map_err(fail)?
            .describe_columns(sql)
            .map_err(|f| fail(f.message)),
        #[allow(unreachable_patterns)]
        _ => {
            let _ = (sql, base_dir, connector);
            Err(fail(
                "this alma-sis was built without that database source".to_owned(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{DatabaseConfig, backoff, scrub};
    use std::time::Duration;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let db = DatabaseConfig {
            backoff_initial_secs: 5,
            backoff_max_secs: 30,
            ..DatabaseConfig::default()
        };
        let pauses: Vec<Duration> = (1..=5).map(|a| backoff(&db, a)).collect();
        assert_eq!(
            pauses,
            [5, 10, 20, 30, 30].map(Duration::from_secs).to_vec()
        );
    }

    #[test]
    fn secrets_are_masked_in_messages() {
        assert_eq!(
            scrub("login as x with s3cret failed".into(), Some("s3cret")),
            "login as x with ******** failed"
        );
        assert_eq!(scrub("no secret here".into(), None), "no secret here");
    }

    #[test]
    fn spool_rows_are_csv_with_a_header() {
        let file = tempfile::tempfile().expect("a temp file");
        let mut spool = super::Spool::new(file);
        spool
            .header(vec!["id".into(), "name".into()])
            .expect("header");
        spool.row[0].push('1');
        spool.row[1].push_str("a, \"b\"\nc");
        spool.push().expect("row");
        let (mut file, columns, rows) = spool.finish().expect("finish");
        assert_eq!((columns.len(), rows), (2, 1));
        let mut text = String::new();
        use std::io::{Read as _, Seek as _};
        file.rewind().expect("rewind");
        file.read_to_string(&mut text).expect("read");
        assert_eq!(text, "id,name\n1,\"a, \"\"b\"\"\nc\"\n");
    }
}
