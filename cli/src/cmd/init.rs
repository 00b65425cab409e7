//! `alma-sis init`: an annotated config and a small sample extract to start from.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use sis_extract::database::{DatabaseConfig, Driver, query_rows};

use alma_sis::Context;
use alma_sis::{Exit, Failure};

/// The files `init` writes: name and contents.
const FILES: [(&str, &str); 3] = [
    ("alma-sis.toml", include_str!("init/alma-sis.toml")),
    ("people.csv", include_str!("init/people.csv")),
    ("terms.csv", include_str!("init/terms.csv")),
];

/// Arguments of `alma-sis init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The directory to write alma-sis.toml, people.csv and terms.csv into (created if
    /// missing). Existing files are never overwritten.
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Start from a query instead (a .sql file): run it against PostgreSQL (connecting
    /// through PGHOST, PGPORT, PGUSER, PGPASSWORD or ~/.pgpass, PGDATABASE, as psql does) and
    /// write alma-sis.toml with the query as the input, its columns listed, a key and fields
    /// guessed from their names. No value of the result is written.
    #[arg(long, value_name = "SQL_FILE")]
    pub from_query: Option<PathBuf>,
    /// With --from-query: run it through ODBC, with the connection string in this
    /// environment variable (e.g. ALMA_SIS_ODBC="DSN=campus;UID=alma;PWD=...").
    #[arg(long, value_name = "VAR", requires = "from_query")]
    pub odbc_connection_env: Option<String>,
}

/// Runs `alma-sis init`.
pub fn run(ctx: &Context, args: InitArgs) -> anyhow::Result<Exit> {
    if let Some(sql) = &args.from_query {
        return from_query(ctx, &args, sql);
    }
    let dir = &args.dir;
    let taken: Vec<String> = FILES
        .iter()
        .map(|(name, _)| dir.join(name))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !taken.is_empty() {
        return Err(Failure::error(
            Exit::ConfigOrInput,
            format!(
                "not overwriting {}; choose another directory",
                taken.join(", ")
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Failure::error(
            Exit::ConfigOrInput,
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    for (name, contents) in FILES {
        write_new(&dir.join(name), contents)?;
    }
    let config = dir.join("alma-sis.toml");
    println!("wrote {}, people.csv and terms.csv", config.display());
    println!("next:");
    println!("  alma-sis --config {} explain 1003", config.display());
    println!("  alma-sis --config {} run --dry-run", config.display());
    Ok(Exit::Ok)
}

/// Creates a new file, mode 0600 (it is the shape of personal data), never replacing one.
fn write_new(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| {
        Failure::error(
            Exit::ConfigOrInput,
            format!("cannot create {}: {e}", path.display()),
        )
    })?;
    file.write_all(contents.as_bytes()).map_err(|e| {
        Failure::error(
            Exit::ConfigOrInput,
            format!("cannot write {}: {e}", path.display()),
        )
    })?;
    Ok(())
}

/// Column names that say what a column holds, and the `[fields]` key each feeds.
const FIELD_GUESSES: [(&str, &[&str]); 6] = [
    (
        "first_name",
        &["first_name", "firstname", "first_nm", "given_name", "fname"],
    ),
    ("middle_name", &["middle_name", "middlename", "middle_nm"]),
    (
        "last_name",
        &[
            "last_name",
            "lastname",
            "last_nm",
            "surname",
            "family_name",
            "lname",
        ],
    ),
    (
        "pref_first_name",
        &["preferred_first_name", "pref_first_name", "preferred_name"],
    ),
    (
        "birth_date",
        &["birth_date", "birthdate", "date_of_birth", "dob"],
    ),
    ("job_description", &["department", "dept", "dept_descr"]),
];

/// Names of a column that identifies a person, best first.
const KEY_GUESSES: [&str; 10] = [
    "person_id",
    "emplid",
    "student_id",
    "employee_id",
    "patron_id",
    "user_id",
    "primary_id",
    "univ_id",
    "netid",
    "id",
];

/// `alma-sis init --from-query`: a config whose input is the query in `sql`.
fn from_query(_ctx: &Context, args: &InitArgs, sql_file: &Path) -> anyhow::Result<Exit> {
    let dir = &args.dir;
    let fail = |message: String| Failure::error(Exit::ConfigOrInput, message);
    let sql = std::fs::read_to_string(sql_file)
        .map_err(|e| fail(format!("cannot read {}: {e}", sql_file.display())))?;
    let name = sql_file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| fail(format!("{} is not a file name", sql_file.display())))?;
    let stem = sql_file
        .file_stem()
        .map_or_else(|| "query".to_owned(), |s| s.to_string_lossy().into_owned());
    let config_path = dir.join("alma-sis.toml");
    let sql_copy = dir.join(&name);
    let same_file = sql_copy.canonicalize().ok() == sql_file.canonicalize().ok();
    let mut taken = vec![&config_path];
    if !same_file {
        taken.push(&sql_copy);
    }
    if let Some(path) = taken.iter().find(|p| p.exists()) {
        return Err(fail(format!(
            "not overwriting {}; choose another directory",
            path.display()
        )));
    }
    let mut db = DatabaseConfig::default();
    if let Some(var) = &args.odbc_connection_env {
        db.driver = Driver::Odbc;
        db.connection_env = Some(var.clone());
    }
    db.retries = 0;
    let rows = query_rows(&sql, &db, dir, &alma_sis::connector::from_process())
        .map_err(|e| fail(e.to_string()))?;
    let columns = rows.columns.clone();
    let lower: Vec<String> = columns.iter().map(|c| c.to_ascii_lowercase()).collect();
    let find = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| lower.iter().position(|c| c == n))
            .map(|i| columns[i].clone())
    };
    let key = find(&KEY_GUESSES).unwrap_or_else(|| columns[0].clone());
    let key_at = columns.iter().position(|c| *c == key).unwrap_or(0);
    // Counted, never kept: how many rows and people the query gives.
    let mut people = std::collections::HashSet::new();
    let mut count = 0u64;
    let mut empty_keys = 0u64;
    for row in rows {
        count += 1;
        match row.get(key_at).map(|k| k.trim()) {
            Some(k) if !k.is_empty() => {
                people.insert(k.to_owned());
            }
            _ => empty_keys += 1,
        }
    }
    let text = query_config(&stem, &name, &columns, &key, &find, args);
    std::fs::create_dir_all(dir)
        .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    if !same_file {
        write_new(&sql_copy, &sql)?;
    }
    write_new(&config_path, &text)?;
    println!(
        "wrote {} for {name}: {count} rows, {} columns; key {key}: {} people{}",
        config_path.display(),
        columns.len(),
        people.len(),
        if empty_keys > 0 {
            format!(", {empty_keys} rows without a key (they will be rejected)")
        } else {
            String::new()
        }
    );
    println!("next: edit [feed], the fields and the rules, then");
    println!(
        "  alma-sis --config {} run --dry-run",
        config_path.display()
    );
    Ok(Exit::Ok)
}

/// The config `init --from-query` writes: the query as the input, its columns listed, the
/// fields whose names say what they hold.
fn query_config(
    stem: &str,
    file: &str,
    columns: &[String],
    key: &str,
    find: &dyn Fn(&[&str]) -> Option<String>,
    args: &InitArgs,
) -> String {
    let mut t = String::new();
    t.push_str(&format!(
        "# alma-sis config started from {file} by `alma-sis init --from-query`.\n\
         # Every key is described in docs/configuration.md and docs/databases.md; check each\n\
         # guess below, then try `alma-sis run --dry-run` and `alma-sis explain <id>`.\n\n\
         [feed]\nname = \"patrons\"\ninstitution = \"CHANGE_ME\"\n\n\
         # The query's result columns (each value becomes text as docs/databases.md says):\n"
    ));
    for c in columns {
        t.push_str(&format!("#   {c}\n"));
    }
    t.push_str(&format!(
        "\n[[input]]\nname = \"{stem}\"\nquery_file = \"{file}\"\nkey = \"{key}\"\n"
    ));
    match &args.odbc_connection_env {
        Some(var) => t.push_str(&format!(
            "database = {{ driver = \"odbc\", connection_env = \"{var}\" }}\n"
        )),
        None => t.push_str(
            "# Connects as psql does (PGHOST, PGPORT, PGUSER, PGPASSWORD or ~/.pgpass,\n\
             # PGDATABASE); or name them: database = { host = \"...\", database = \"...\",\n\
             # user = \"...\", password_env = \"...\", sslmode = \"verify-full\" }\n",
        ),
    }
    t.push_str(&format!("\n[fields]\nprimary_id = \"{{{key}}}\"\n"));
    for (field, names) in FIELD_GUESSES {
        if let Some(c) = find(names) {
            t.push_str(&format!("{field} = \"{{{c}}}\"\n"));
        }
    }
    if let Some(c) = find(&["barcode", "library_barcode", "card_number"]) {
        t.push_str(&format!(
            "\n[[identifier]]\ntype = \"BARCODE\"\nvalue = \"{{{c}}}\"\n"
        ));
    }
    if let Some(c) = find(&[
        "email",
        "email_address",
        "email_addr",
        "school_email",
        "campus_email",
    ]) {
        t.push_str(&format!(
            "\n[[email]]\ntype = \"school\"\naddress = \"{{{c}}}\"\n"
        ));
    }
    if let Some(c) = find(&["phone", "phone_number", "mobile", "cell_phone"]) {
        t.push_str(&format!(
            "\n[[phone]]\ntype = \"mobile\"\nnumber = \"{{{c}}}\"\n"
        ));
    }
    t.push_str(
        "\n# Everyone gets a user group; add [[group]] rules before the catch-all.\n\
         [[group]]\ngroup = \"PATRON\"\n\n\
         [expiry]\ndefault = { policy = \"today_plus\", duration = \"1y\" }\n",
    );
    t
}
