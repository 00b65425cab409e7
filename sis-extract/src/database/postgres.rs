//! The native PostgreSQL source: the `postgres` crate (no libpq), TLS through OpenSSL, libpq's
//! environment variables and password file, a read-only transaction and a portal read
//! `fetch_size` rows at a time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use postgres::types::{FromSql, Kind, Type};
use postgres::{Client, Config, NoTls};
use postgres_openssl::MakeTlsConnector;

use super::{
    Column, Connector, DatabaseConfig, Failed, Spool, SslMode, configured_password, pgpass, render,
    scrub,
};

/// Where and how to connect, resolved from the config, the environment and the password file.
pub(crate) struct PgTarget {
    config: Config,
    tls: Option<(MakeTlsConnector, SslMode)>,
    /// `PostgreSQL at host:port, database name`: all that messages may say of it.
    describe: String,
    secret: Option<String>,
}

/// libpq's default socket directories (Debian's, then the upstream one).
const SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

impl PgTarget {
    pub fn resolve(
        db: &DatabaseConfig,
        base_dir: &Path,
        connector: &Connector,
        warnings: &mut Vec<String>,
    ) -> Result<PgTarget, String> {
        let port = match (db.port, connector.var("PGPORT")) {
            (Some(port), _) => port,
            (None, Some(text)) => text
                .parse()
                .map_err(|_| format!("PGPORT is not a port number: {text:?}"))?,
            (None, None) => 5432,
        };
        let hosts: Vec<String> = match db.host.as_deref().or(connector.var("PGHOST")) {
            Some(list) => list
                .split(',')
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect(),
            None => vec![
                SOCKET_DIRS
                    .iter()
                    .find(|dir| Path::new(dir).join(format!(".s.PGSQL.{port}")).exists())
                    .map_or("localhost", |dir| dir)
                    .to_owned(),
            ],
        };
        let user = db
            .user
            .as_deref()
            .or(connector.var("PGUSER"))
            .or(connector.login.as_deref())
            .ok_or("no user name: set `user`, or PGUSER")?
            .to_owned();
        let dbname = db
            .database
            .as_deref()
            .or(connector.var("PGDATABASE"))
            .unwrap_or(&user)
            .to_owned();
        let first = hosts.first().map_or("localhost", String::as_str);
        // libpq matches a socket connection against `localhost` in the password file.
        let pgpass_host = if first.starts_with('/') {
            "localhost"
        } else {
            first
        };
        let password = match configured_password(db, base_dir, connector)? {
            Some(p) => Some(p),
            None => match connector.var("PGPASSWORD") {
                Some(p) => Some(p.to_owned()),
                None => {
                    let file = connector
                        .var("PGPASSFILE")
                        .map(PathBuf::from)
                        .or_else(|| connector.home.as_ref().map(|h| h.join(".pgpass")));
                    match file {
                        Some(file) => {
                            let (found, warning) =
                                pgpass::from_file(&file, (pgpass_host, port, &dbname, &user));
                            warnings.extend(warning);
                            found
                        }
                        None => None,
                    }
                }
            },
        };
        let mut config = Config::new();
        for host in &hosts {
            if host.starts_with('/') {
                config.host_path(host);
            } else {
                config.host(host);
            }
        }
        let timeout = match (db.connect_timeout_secs, connector.var("PGCONNECT_TIMEOUT")) {
            (Some(secs), _) => secs,
            (None, Some(text)) => text
                .parse()
                .map_err(|_| format!("PGCONNECT_TIMEOUT is not a number of seconds: {text:?}"))?,
            (None, None) => 30,
        };
        config
            .port(port)
            .user(&user)
            .dbname(&dbname)
            .application_name("alma-sis")
            .connect_timeout(Duration::from_secs(timeout.max(1)))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10))
            .keepalives_retries(3);
        if let Some(password) = &password {
            config.password(password);
        }
        let mode = match (db.sslmode, connector.var("PGSSLMODE")) {
            (Some(mode), _) => mode,
            (None, Some(text)) => SslMode::parse(text)
                .ok_or_else(|| format!("PGSSLMODE is not an sslmode: {text:?}"))?,
            (None, None) => SslMode::Prefer,
        };
        let root = match (&db.sslrootcert, connector.var("PGSSLROOTCERT")) {
            (Some(cert), _) if cert == "system" => Some(RootCert::System),
            (Some(cert), _) => Some(RootCert::File(base_dir.join(cert))),
            (None, Some("system")) => Some(RootCert::System),
            (None, Some(cert)) => Some(RootCert::File(PathBuf::from(cert))),
            (None, None) => None,
        };
        let tls = tls(mode, root, connector)?;
        config.ssl_mode(match mode {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            _ => postgres::config::SslMode::Require,
        });
        Ok(PgTarget {
            config,
            tls,
            describe: format!(
                "PostgreSQL at {}, database {dbname}",
                hosts
                    .iter()
                    .map(|h| if h.starts_with('/') {
                        format!("socket {h}")
                    } else {
                        format!("{h}:{port}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            secret: password,
        })
    }

    fn connect(&self) -> Result<Client, Failed> {
        match &self.tls {
            None => self.config.connect(NoTls),
            Some((tls, _)) => self.config.connect(tls.clone()),
        }
        .map_err(|e| self.failed(&e, "cannot connect"))
    }

    /// Runs `sql` in a read-only transaction, `fetch` rows at a time, into `spool`.
    pub fn run(&self, sql: &str, fetch: u32, spool: &mut Spool) -> Result<(), Failed> {
        let mut client = self.connect()?;
        let mut tx = client
            .build_transaction()
            .read_only(true)
            .start()
            .map_err(|e| self.failed(&e, "cannot start a read-only transaction"))?;
        let statement = tx
            .prepare(sql)
            .map_err(|e| self.failed(&e, "the query failed"))?;
        let columns = statement.columns();
        let kinds = columns
            .iter()
            .map(|c| {
                Value::of(c.type_()).ok_or_else(|| {
                    Failed::fatal(format!(
                        "column {:?} has type {}, which alma-sis does not turn into text; cast \
                         it in the query ({}::text)",
                        c.name(),
                        c.type_().name(),
                        c.name()
                    ))
                })
            })
            .collect::<Result<Vec<Value>, Failed>>()?;
        spool.header(columns.iter().map(|c| c.name().to_owned()).collect())?;
        let portal = tx
            .bind(&statement, &[])
            .map_err(|e| self.failed(&e, "the query failed"))?;
        let batch = i32::try_from(fetch).unwrap_or(i32::MAX);
        loop {
            let rows = tx
                .query_portal(&portal, batch)
                .map_err(|e| self.failed(&e, "reading the result failed"))?;
            for row in &rows {
                for (i, kind) in kinds.iter().enumerate() {
                    let Raw(raw) = row
                        .try_get(i)
                        .map_err(|e| self.failed(&e, "reading the result failed"))?;
                    if let Some(raw) = raw {
                        kind.render(raw, &mut spool.row[i]).map_err(|why| {
                            Failed::fatal(format!(
                                "row {}, column {:?}: {why}",
                                spool.rows + 1,
                                columns[i].name()
                            ))
                        })?;
                    }
                }
                spool.push()?;
            }
            if rows.len() < fetch as usize {
                break;
            }
        }
        tx.commit()
            .map_err(|e| self.failed(&e, "reading the result failed"))
    }

    /// The result columns of `sql`, without running it.
    pub fn describe_columns(&self, sql: &str) -> Result<Vec<Column>, Failed> {
        let mut client = self.connect()?;
        let statement = client
            .prepare(sql)
            .map_err(|e| self.failed(&e, "the query failed"))?;
        Ok(statement
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_owned(),
                type_name: c.type_().name().to_owned(),
            })
            .collect())
    }

    /// What went wrong, naming the target (host and database only) and the server's message;
    /// a lost or refused connection may be tried again.
    fn failed(&self, e: &postgres::Error, doing: &str) -> Failed {
        let secret = self.secret.as_deref();
        if let Some(db) = e.as_db_error() {
            let code = db.code().code();
            let retry =
                code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300");
            let mut message = format!(
                "{}: {doing}: {} {} (SQLSTATE {code})",
                self.describe,
                db.severity(),
                db.message()
            );
            if let Some(postgres::error::ErrorPosition::Original(at)) = db.position() {
                message.push_str(&format!(", at character {at} of the query"));
            }
            if let Some(detail) = db.detail() {
                message.push_str(&format!("; {detail}"));
            }
            if let Some(hint) = db.hint() {
                message.push_str(&format!("; hint: {hint}"));
            }
            return Failed {
                message: scrub(message, secret),
                retry,
            };
        }
        let mut io = e.is_closed();
        let mut text = e.to_string();
        let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
        while let Some(s) = source {
            io |= s.is::<std::io::Error>();
            let cause = s.to_string();
            if !text.contains(&cause) {
                text = format!("{text}: {cause}");
            }
            source = s.source();
        }
        // A refused certificate is not worth another try.
        let tls = text.contains("TLS") || text.contains("certificate");
        Failed {
            message: scrub(format!("{}: {doing}: {text}", self.describe), secret),
            retry: io && !tls,
        }
    }
}

/// Where the CA certificates come from.
enum RootCert {
    File(PathBuf),
    System,
}

/// The TLS connector for `mode` (libpq's meanings), or none for `disable`.
fn tls(
    mode: SslMode,
    root: Option<RootCert>,
    connector: &Connector,
) -> Result<Option<(MakeTlsConnector, SslMode)>, String> {
    if mode == SslMode::Disable {
        return Ok(None);
    }
    let tls_error = |e: openssl::error::ErrorStack| format!("TLS setup: {e}");
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(tls_error)?;
    // libpq: `require` with a root certificate named verifies as `verify-ca`.
    let verify = match mode {
        SslMode::VerifyCa | SslMode::VerifyFull => true,
        SslMode::Require => root.is_some(),
        _ => false,
    };
    if verify {
        let default = connector
            .home
            .as_ref()
            .map(|h| h.join(".postgresql/root.crt"))
            .filter(|p| p.exists());
        match root.or(default.map(RootCert::File)) {
            Some(RootCert::System) => builder.set_default_verify_paths().map_err(tls_error)?,
            Some(RootCert::File(path)) => builder
                .set_ca_file(&path)
                .map_err(|e| format!("cannot use sslrootcert {}: {e}", path.display()))?,
            None => {
                return Err(
                    "sslmode verify-ca or verify-full needs the CA's certificate: name it with \
                     sslrootcert (or PGSSLROOTCERT, or ~/.postgresql/root.crt), or use \
                     sslrootcert = \"system\""
                        .to_owned(),
                );
            }
        }
        builder.set_verify(SslVerifyMode::PEER);
    } else {
        builder.set_verify(SslVerifyMode::NONE);
    }
    let mut tls = MakeTlsConnector::new(builder.build());
    let check_host = mode == SslMode::VerifyFull;
    tls.set_callback(move |config, _| {
        config.set_verify_hostname(check_host);
        Ok(())
    });
    Ok(Some((tls, mode)))
}

/// A value in PostgreSQL's binary format, whatever its type (NULL as `None`).
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// How a column's binary values become text.
#[derive(Debug, Clone, Copy)]
enum Value {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Text,
    Jsonb,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Uuid,
}

/// Days and microseconds in PostgreSQL's binary dates and times count from 2000-01-01.
fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()
}

fn be<const N: usize>(raw: &[u8]) -> Result<[u8; N], String> {
    raw.try_into()
        .map_err(|_| format!("a value of {} bytes, not {N}", raw.len()))
}

impl Value {
    fn of(ty: &Type) -> Option<Value> {
        Some(match *ty {
            Type::BOOL => Value::Bool,
            Type::INT2 => Value::Int2,
            Type::INT4 => Value::Int4,
            Type::INT8 => Value::Int8,
            Type::OID => Value::Oid,
            Type::FLOAT4 => Value::Float4,
            Type::FLOAT8 => Value::Float8,
            Type::NUMERIC => Value::Numeric,
            Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::UNKNOWN
            | Type::JSON
            | Type::XML => Value::Text,
            Type::JSONB => Value::Jsonb,
            Type::DATE => Value::Date,
            Type::TIME => Value::Time,
            Type::TIMESTAMP => Value::Timestamp,
            Type::TIMESTAMPTZ => Value::TimestampTz,
            Type::UUID => Value::Uuid,
            _ => match ty.kind() {
                Kind::Domain(inner) => return Value::of(inner),
                Kind::Enum(_) => Value::Text,
                Kind::Simple if ty.name() == "citext" => Value::Text,
                _ => return None,
            },
        })
    }

    fn render(self, raw: &[u8], out: &mut String) -> Result<(), String> {
        match self {
            Value::Bool => render::boolean(raw.first().is_some_and(|&b| b != 0), out),
            Value::Int2 => render::integer(i16::from_be_bytes(be(raw)?).into(), out),
            Value::Int4 => render::integer(i32::from_be_bytes(be(raw)?).into(), out),
            Value::Int8 => render::integer(i64::from_be_bytes(be(raw)?), out),
            Value::Oid => render::integer(u32::from_be_bytes(be(raw)?).into(), out),
            Value::Float4 => render::float32(f32::from_be_bytes(be(raw)?), out),
            Value::Float8 => render::float(f64::from_be_bytes(be(raw)?), out),
            Value::Numeric => numeric(raw, out)?,
            Value::Text => out.push_str(text(raw)?),
            Value::Jsonb => out.push_str(text(raw.get(1..).unwrap_or_default())?),
            Value::Date => match i32::from_be_bytes(be(raw)?) {
                i32::MAX => out.push_str("infinity"),
                i32::MIN => out.push_str("-infinity"),
                days => render::date(
                    epoch()
                        .checked_add_signed(chrono::Duration::days(days.into()))
                        .ok_or("a date out of range")?,
                    out,
                ),
            },
            Value::Time => {
                let micros = i64::from_be_bytes(be(raw)?);
                let time = NaiveTime::from_num_seconds_from_midnight_opt(
                    u32::try_from(micros / 1_000_000).map_err(|_| "a time out of range")?,
                    u32::try_from(micros % 1_000_000).unwrap_or(0) * 1000,
                )
                .ok_or("a time out of range")?;
                render::time(time, out);
            }
            Value::Timestamp | Value::TimestampTz => match i64::from_be_bytes(be(raw)?) {
                i64::MAX => out.push_str("infinity"),
                i64::MIN => out.push_str("-infinity"),
                micros => {
                    let at = epoch()
                        .and_hms_opt(0, 0, 0)
                        .unwrap_or_default()
                        .checked_add_signed(chrono::Duration::microseconds(micros))
                        .ok_or("a timestamp out of range")?;
                    if matches!(self, Value::TimestampTz) {
                        render::timestamp_utc(at, out);
                    } else {
                        render::timestamp(at, out);
                    }
                }
            },
            Value::Uuid => render::uuid(&be(raw)?, out),
        }
        Ok(())
    }
}

fn text(raw: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(raw).map_err(|_| "text that is not UTF-8".to_owned())
}

/// A numeric in PostgreSQL's binary format (base-10000 digits, a weight, a sign and a display
/// scale) as the exact decimal the server itself prints.
fn numeric(raw: &[u8], out: &mut String) -> Result<(), String> {
    let word = |i: usize| -> Result<u16, String> {
        raw.get(2 * i..2 * i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a numeric value cut short".to_owned())
    };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = usize::from(word(3)?);
    match sign {
        0xC000 => {
            out.push_str("NaN");
            return Ok(());
        }
        0xD000 => {
            out.push_str("Infinity");
            return Ok(());
        }
        0xF000 => {
            out.push_str("-Infinity");
            return Ok(());
        }
        0x4000 => out.push('-'),
        _ => {}
    }
    let digits = (0..ndigits)
        .map(|i| word(4 + i))
        .collect::<Result<Vec<u16>, String>>()?;
    // The base-10000 digit at `10000^position`.
    let digit = |position: i64| -> u16 {
        usize::try_from(weight - position)
            .ok()
            .and_then(|i| digits.get(i))
            .copied()
            .unwrap_or(0)
    };
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&digit(weight).to_string());
        for position in (0..weight).rev() {
            out.push_str(&format!("{:04}", digit(position)));
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut fraction = String::with_capacity(dscale + 4);
        let mut position = -1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit(position)));
            position -= 1;
        }
        fraction.truncate(dscale);
        out.push_str(&fraction);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Builds the binary form of a numeric from its parts.
    fn binary(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut raw = Vec::new();
        for word in [digits.len() as u16, weight as u16, sign, dscale] {
            raw.extend_from_slice(&word.to_be_bytes());
        }
        for d in digits {
            raw.extend_from_slice(&d.to_be_bytes());
        }
        raw
    }

    #[test]
    fn numerics_read_as_the_server_prints_them() {
        let cases = [
            (binary(0, 0, 2, &[12, 5000]), "12.50"),
            (binary(1, 0x4000, 0, &[1, 2]), "-10002"),
            (binary(-2, 0, 8, &[42]), "0.00000042"),
            (binary(2, 0, 0, &[7]), "700000000"),
            (binary(0, 0, 0, &[]), "0"),
            (binary(0, 0, 3, &[]), "0.000"),
            (binary(0, 0xC000, 0, &[]), "NaN"),
        ];
        for (raw, want) in cases {
            let mut out = String::new();
            super::numeric(&raw, &mut out).expect("a numeric");
            assert_eq!(out, want);
        }
    }
}
