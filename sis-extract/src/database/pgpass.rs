//! The password file of libpq (`~/.pgpass`, or the file `PGPASSFILE` names), read as libpq
//! reads it: `hostname:port:database:username:password` lines, `*` matching anything, `\`
//! escaping `:` and `\`, `#` lines ignored, the first matching line winning; a file that others
//! may read is ignored with a warning.

use std::path::Path;

/// One line's fields, unescaped.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' if out.len() < 4 => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    out.push(field);
    out
}

/// The password of the first line of `text` that matches the connection.
pub(crate) fn lookup(
    text: &str,
    host: &str,
    port: u16,
    database: &str,
    user: &str,
) -> Option<String> {
    let port = port.to_string();
    let wanted = [host, port.as_str(), database, user];
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(fields)
        .filter(|f| f.len() == 5)
        .find(|f| {
            f.iter()
                .zip(wanted)
                .all(|(field, value)| field == "*" || field == value)
        })
        .map(|mut f| f.remove(4))
}

/// The password in the file at `path` for the connection, with a warning when the file is
/// ignored because others may read it. A missing file is no password and no warning.
pub(crate) fn from_file(
    path: &Path,
    (host, port, database, user): (&str, u16, &str, &str),
) -> (Option<String>, Option<String>) {
    let Ok(meta) = std::fs::metadata(path) else {
        return (None, None);
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return (
                None,
                Some(format!(
                    "password file {} is ignored: others may read it (mode {mode:04o}); run \
                     `chmod 600 {}`",
                    path.display(),
                    path.display()
                )),
            );
        }
    }
    if !meta.is_file() {
        return (None, None);
    }
    match std::fs::read_to_string(path) {
        Ok(text) => (lookup(&text, host, port, database, user), None),
        Err(e) => (
            None,
            Some(format!("password file {} is ignored: {e}", path.display())),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::lookup;

    fn check(text: &str, (host, port, db, user): (&str, u16, &str, &str), want: Option<&str>) {
        assert_eq!(
            lookup(text, host, port, db, user).as_deref(),
            want,
            "{text:?}"
        );
    }

    #[test]
    fn lines_match_as_libpq_matches_them() {
        let file = "# comment\n\
                    db.example.edu:5432:campus:alma:first\n\
                    *:*:campus:alma:second\n\
                    localhost:5433:*:*:third\n\
                    we\\:ird:5432:d\\\\b:u:pa\\:ss:word\n\
                    short:line\n";
        let cases = [
            (("db.example.edu", 5432, "campus", "alma"), Some("first")),
            (("other", 5432, "campus", "alma"), Some("second")),
            (("localhost", 5433, "x", "y"), Some("third")),
            (("localhost", 5432, "x", "y"), None),
            (("we:ird", 5432, "d\\b", "u"), Some("pa:ss:word")),
            (("short", 5432, "line", "u"), None),
        ];
        for (conn, want) in cases {
            check(file, conn, want);
        }
    }
}
