//! The ODBC source: any database with an ODBC driver, through the system's driver manager
//! (unixODBC). Rows are fetched in rowsets of typed column buffers (dates, timestamps, numbers
//! and bits as values, everything else as UTF-16 text), so that each type becomes the same
//! text as from PostgreSQL whatever the driver's own text formats.

use std::path::Path;

use chrono::{NaiveDate, NaiveTime};
use odbc_api::buffers::{BufferDesc, ColumnarDynBuffer};
use odbc_api::{Bit, ConnectionOptions, Cursor, DataType, ResultSetMetadata};

use super::{Column, Connector, DatabaseConfig, Failed, Spool, configured_password, render, scrub};

/// How much memory one rowset's buffers may take.
const ROWSET_BYTES: usize = 8 << 20;

/// The connection string, resolved, and what messages may say of it.
pub(crate) struct OdbcTarget {
    connection: String,
    describe: String,
    secrets: Vec<String>,
}

/// The `key=value` pairs of a connection string (`{...}` values may hold `;`).
fn pairs(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.trim().is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().trim_start_matches(';').trim().to_owned();
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(braced) = after.trim_start().strip_prefix('{') {
            // `}}` inside braces is a literal `}`.
            let mut value = String::new();
            let mut chars = braced.char_indices().peekable();
            let mut end = braced.len();
            while let Some((i, c)) = chars.next() {
                if c == '}' {
                    if chars.peek().is_some_and(|&(_, n)| n == '}') {
                        chars.next();
                        value.push('}');
                        continue;
                    }
                    end = i + 1;
                    break;
                }
                value.push(c);
            }
            let rest = &braced[end..];
            (value, rest.find(';').map_or("", |at| &rest[at + 1..]))
        } else {
            match after.find(';') {
                Some(at) => (after[..at].trim().to_owned(), &after[at + 1..]),
                None => (after.trim().to_owned(), ""),
            }
        };
        out.push((key, value));
        rest = next;
    }
    out
}

/// Keys that carry a password in the connection strings of common drivers.
fn is_password_key(key: &str) -> bool {
    matches!(
        key.to_ascii_lowercase().as_str(),
        "pwd" | "password" | "passwd"
    )
}

/// `host …, database …` (or `DSN …`) of a connection string: the only parts messages show.
fn describe(text: &str) -> String {
    let mut host = None;
    let mut database = None;
    let mut dsn = None;
    for (key, value) in pairs(text) {
        match key.to_ascii_lowercase().as_str() {
            "server" | "servername" | "host" | "hostname" | "address" | "addr" | "data source" => {
                host = host.or(Some(value))
            }
            "database" | "dbname" | "initial catalog" | "dbq" => {
                database = database.or(Some(value))
            }
            "dsn" => dsn = dsn.or(Some(value)),
            _ => {}
        }
    }
    let mut out = "ODBC".to_owned();
    if let Some(dsn) = dsn {
        out.push_str(&format!(" data source {dsn}"));
    }
    if let Some(host) = host {
        out.push_str(&format!(" at {host}"));
    }
    if let Some(database) = database {
        out.push_str(&format!(", database {database}"));
    }
    out
}

impl OdbcTarget {
    pub fn resolve(
        db: &DatabaseConfig,
        base_dir: &Path,
        connector: &Connector,
    ) -> Result<OdbcTarget, String> {
        let mut secrets = Vec::new();
        let connection = match (&db.connection, &db.connection_env) {
            (Some(text), None) => {
                if pairs(text).iter().any(|(k, _)| is_password_key(k)) {
                    return Err(
                        "database.connection holds a password: the config file never does; put \
                         it in password_env or password_file (or the whole string in \
                         connection_env)"
                            .to_owned(),
                    );
                }
                text.clone()
            }
            (None, Some(var)) => {
                let text = connector
                    .var(var)
                    .ok_or_else(|| {
                        format!("database.connection_env names {var}, which is not set")
                    })?
                    .to_owned();
                secrets.extend(
                    pairs(&text)
                        .into_iter()
                        .filter(|(k, _)| is_password_key(k))
                        .map(|(_, v)| v),
                );
                text
            }
            (None, None) => {
                return Err(
                    "an ODBC input needs database.connection (or connection_env)".to_owned(),
                );
            }
            (Some(_), Some(_)) => {
                return Err("give database.connection or connection_env, not both".to_owned());
            }
        };
        let describe = describe(&connection);
        let mut connection = connection.trim().trim_end_matches(';').to_owned();
        if let Some(password) = configured_password(db, base_dir, connector)? {
            connection.push_str(&format!(";PWD={{{}}}", password.replace('}', "}}")));
            secrets.push(password);
        }
        Ok(OdbcTarget {
            connection,
            describe,
            secrets,
        })
    }

    fn failed(&self, e: &odbc_api::Error, doing: &str) -> Failed {
        let state = match e {
            odbc_api::Error::Diagnostics { record, .. } => record.state.as_str().to_owned(),
            _ => String::new(),
        };
        let text = e.to_string();
        let lower = text.to_ascii_lowercase();
        // Connection exceptions and timeouts; never a refused login, which would only lock
        // the account.
        let login = state.starts_with("28")
            || lower.contains("authentication failed")
            || lower.contains("login failed")
            || lower.contains("password");
        let retry = !login
            && (state.starts_with("08") || matches!(state.as_str(), "HYT00" | "HYT01" | "57P01"));
        let mut message = format!("{}: {doing}: {}", self.describe, text.trim());
        for secret in &self.secrets {
            message = scrub(message, Some(secret));
        }
        Failed { message, retry }
    }

    fn connect(&self) -> Result<odbc_api::Connection<'static>, Failed> {
        let env = odbc_api::environment().map_err(|e| {
            Failed::fatal(format!(
                "cannot set up ODBC (is unixODBC installed? apt-get install unixodbc): {e}"
            ))
        })?;
        env.connect_with_connection_string(&self.connection, ConnectionOptions::default())
            .map_err(|e| self.failed(&e, "cannot connect"))
    }

    /// Runs `sql`, fetching rowsets of at most `fetch` rows, into `spool`.
    pub fn run(
        &self,
        sql: &str,
        fetch: u32,
        max_text: u32,
        spool: &mut Spool,
    ) -> Result<(), Failed> {
        let connection = self.connect()?;
        let query_failed = |e: odbc_api::Error| self.failed(&e, "the query failed");
        let Some(mut cursor) = connection.execute(sql, (), None).map_err(query_failed)? else {
            return Err(Failed::fatal(format!(
                "{}: the query returned no result set",
                self.describe
            )));
        };
        let count = cursor.num_result_cols().map_err(query_failed)?;
        let mut names = Vec::new();
        let mut kinds = Vec::new();
        for i in 1..=u16::try_from(count).unwrap_or(0) {
            let name = cursor.col_name(i).map_err(query_failed)?;
            let data_type = cursor.col_data_type(i).map_err(query_failed)?;
            kinds.push(Value::of(data_type, max_text as usize).ok_or_else(|| {
                Failed::fatal(format!(
                    "column {name:?} has type {data_type:?}, which alma-sis does not turn into \
                     text; cast it in the query"
                ))
            })?);
            names.push(name);
        }
        let per_row: usize = kinds.iter().map(|k| k.bytes()).sum::<usize>().max(1);
        let rows = (ROWSET_BYTES / per_row).clamp(1, fetch as usize);
        let buffer = ColumnarDynBuffer::try_from_descs(rows, kinds.iter().map(|k| k.desc()))
            .map_err(|e| Failed::fatal(format!("cannot set up the row buffers: {e}")))?;
        spool.header(names.clone())?;
        let mut block = cursor.bind_buffer(buffer).map_err(query_failed)?;
        loop {
            let batch = match block.fetch_with_truncation_check(true) {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                Err(odbc_api::Error::TooLargeValueForBuffer { buffer_index, .. }) => {
                    return Err(Failed::fatal(format!(
                        "{}: a value in column {:?} is longer than {max_text} characters; raise \
                         database.max_text",
                        self.describe,
                        names.get(buffer_index).map_or("?", String::as_str)
                    )));
                }
                Err(e) => return Err(self.failed(&e, "reading the result failed")),
            };
            for row in 0..batch.num_rows() {
                for (i, kind) in kinds.iter().enumerate() {
                    kind.render(batch.column(i), row, &mut spool.row[i])
                        .map_err(|why| {
                            Failed::fatal(format!(
                                "row {}, column {:?}: {why}",
                                spool.rows + 1,
                                names[i]
                            ))
                        })?;
                }
                spool.push()?;
            }
        }
        Ok(())
    }

    /// The result columns of `sql`, without fetching rows.
    pub fn describe_columns(&self, sql: &str) -> Result<Vec<Column>, Failed> {
        let connection = self.connect()?;
        let query_failed = |e: odbc_api::Error| self.failed(&e, "the query failed");
        let mut prepared = connection.prepare(sql).map_err(query_failed)?;
        let count = prepared.num_result_cols().map_err(query_failed)?;
        (1..=u16::try_from(count).unwrap_or(0))
            .map(|i| {
                Ok(Column {
                    name: prepared.col_name(i).map_err(query_failed)?,
                    type_name: format!("{:?}", prepared.col_data_type(i).map_err(query_failed)?),
                })
            })
            .collect()
    }
}

/// How a column is fetched and becomes text.
#[derive(Debug, Clone, Copy)]
enum Value {
    Bit,
    Integer,
    Float,
    Date,
    Time,
    Timestamp,
    /// UTF-16 text of at most this many code units.
    Text(usize),
}

impl Value {
    fn of(data_type: DataType, max_text: usize) -> Option<Value> {
        let text = |length: Option<std::num::NonZeroUsize>| {
            Value::Text(length.map_or(max_text, |l| l.get().min(max_text)))
        };
        Some(match data_type {
            DataType::Bit => Value::Bit,
            DataType::TinyInt | DataType::SmallInt | DataType::Integer | DataType::BigInt => {
                Value::Integer
            }
            DataType::Real | DataType::Float { .. } | DataType::Double => Value::Float,
            DataType::Date => Value::Date,
            DataType::Time { .. } => Value::Time,
            DataType::Timestamp { .. } => Value::Timestamp,
            // Exact decimals as the driver writes them: digits, a point, the column's scale.
            DataType::Numeric { precision, .. } | DataType::Decimal { precision, .. } => {
                Value::Text(precision + 3)
            }
            DataType::Char { length }
            | DataType::WChar { length }
            | DataType::Varchar { length }
            | DataType::WVarchar { length }
            | DataType::LongVarchar { length }
            | DataType::WLongVarchar { length } => text(length),
            DataType::Unknown | DataType::Other { .. } => Value::Text(max_text),
            DataType::Binary { .. }
            | DataType::Varbinary { .. }
            | DataType::LongVarbinary { .. } => {
                return None;
            }
        })
    }

    fn desc(self) -> BufferDesc {
        match self {
            Value::Bit => BufferDesc::Bit { nullable: true },
            Value::Integer => BufferDesc::I64 { nullable: true },
            Value::Float => BufferDesc::F64 { nullable: true },
            Value::Date => BufferDesc::Date { nullable: true },
            Value::Time => BufferDesc::Time { nullable: true },
            Value::Timestamp => BufferDesc::Timestamp { nullable: true },
            Value::Text(max_str_len) => BufferDesc::WText { max_str_len },
        }
    }

    /// Bytes a row takes in the buffer (value and indicator).
    fn bytes(self) -> usize {
        match self {
            Value::Text(n) => 2 * (n + 1) + 8,
            _ => 24,
        }
    }

    fn render(
        self,
        column: odbc_api::buffers::AnyColumnBufferSlice<'_>,
        row: usize,
        out: &mut String,
    ) -> Result<(), String> {
        let wrong = || "an unexpected buffer".to_owned();
        match self {
            Value::Bit => {
                if let Some(bit) = column
                    .as_nullable_slice::<Bit>()
                    .ok_or_else(wrong)?
                    .get(row)
                {
                    render::boolean(bit.as_bool(), out);
                }
            }
            Value::Integer => {
                if let Some(v) = column
                    .as_nullable_slice::<i64>()
                    .ok_or_else(wrong)?
                    .get(row)
                {
                    render::integer(*v, out);
                }
            }
            Value::Float => {
                if let Some(v) = column
                    .as_nullable_slice::<f64>()
                    .ok_or_else(wrong)?
                    .get(row)
                {
                    render::float(*v, out);
                }
            }
            Value::Date => {
                let slice = column.as_nullable_slice::<odbc_api::sys::Date>();
                if let Some(d) = slice.ok_or_else(wrong)?.get(row) {
                    render::date(date(d.year, d.month, d.day)?, out);
                }
            }
            Value::Time => {
                let slice = column.as_nullable_slice::<odbc_api::sys::Time>();
                if let Some(t) = slice.ok_or_else(wrong)?.get(row) {
                    render::time(time(t.hour, t.minute, t.second, 0)?, out);
                }
            }
            Value::Timestamp => {
                let slice = column.as_nullable_slice::<odbc_api::sys::Timestamp>();
                if let Some(t) = slice.ok_or_else(wrong)?.get(row) {
                    let at = date(t.year, t.month, t.day)?
                        .and_time(time(t.hour, t.minute, t.second, t.fraction)?);
                    render::timestamp(at, out);
                }
            }
            Value::Text(_) => {
                if let Some(units) = column.as_wide_text().ok_or_else(wrong)?.get(row) {
                    out.extend(
                        char::decode_utf16(units.iter().copied())
                            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)),
                    );
                }
            }
        }
        Ok(())
    }
}

fn date(year: i16, month: u16, day: u16) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(year.into(), month.into(), day.into())
        .ok_or_else(|| format!("not a date: {year}-{month}-{day}"))
}

fn time(hour: u16, minute: u16, second: u16, nanos: u32) -> Result<NaiveTime, String> {
    NaiveTime::from_hms_nano_opt(hour.into(), minute.into(), second.into(), nanos)
        .ok_or_else(|| format!("not a time: {hour}:{minute}:{second}"))
}

#[cfg(test)]
mod tests {
    use super::{describe, pairs};

    #[test]
    fn connection_strings_are_read_as_drivers_read_them() {
        let text = "Driver={ODBC Driver 18; for SQL Server};Server=tcp:sql.example.edu,1433; \
                    Database=Campus;UID=alma;PWD={se;cr}}et}";
        let got = pairs(text);
        assert_eq!(
            got[0],
            ("Driver".into(), "ODBC Driver 18; for SQL Server".into())
        );
        assert_eq!(got[2], ("Database".into(), "Campus".into()));
        assert_eq!(got[4], ("PWD".into(), "se;cr}et".into()));
        assert_eq!(
            describe(text),
            "ODBC at tcp:sql.example.edu,1433, database Campus"
        );
        assert_eq!(describe("DSN=campus;UID=x"), "ODBC data source campus");
    }
}
