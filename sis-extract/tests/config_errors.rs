//! Config errors point at the config's line and column; the extract's column names are
//! kept out of the message (they may be a person's record) and listed only on request.

use crate::support::{Case, config};

/// The config `config(rest)` over `id,name,aff` fails with a message containing each of
/// `expected`.
fn check(rest: &str, expected: &[&str]) {
    let case = Case::new(&config(rest), &[("p.csv", b"id,name,aff\n1,Ann,X\n")]);
    let err = match case.run() {
        Ok(_) => panic!("config accepted:\n{rest}"),
        Err(e) => {
            assert!(!e.to_string().contains("Ann"));
            format!("{e}\n{}", e.columns().unwrap_or_default())
        }
    };
    for part in expected {
        assert!(
            err.contains(part),
            "{part:?} not in:\n{err}\n--- config:\n{rest}"
        );
    }
}

#[test]
fn errors_point_at_the_config() {
    // Line 9 is the first line of `rest` (the base config has 8 lines before it).
    check(
        "[[filter]]\nname = \"x\"\naction = \"exclude\"\nwhen = [{ column = \"affiliation\", any_of = [\"A\"] }]",
        &[
            "alma-sis.toml:12:20",
            "column \"affiliation\" is not in the extract",
            "p.csv: id, name, aff",
        ],
    );
    check(
        "[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{first}\"",
        &[
            "alma-sis.toml:11:14",
            "column \"first\"",
            "p.csv: id, name, aff",
        ],
    );
    check(
        "[[filter]]\nname = \"x\"\naction = \"exclude\"\nwhen = [{ column = \"aff\", matches = \"(\" }]",
        &["alma-sis.toml:12:37", "invalid regex"],
    );
    check(
        "[expiry]\ndefault = { policy = \"sometime\" }",
        &[
            "alma-sis.toml:10",
            "unknown variant `sometime`",
            "today_plus",
        ],
    );
    check(
        "[[filter]]\nname = \"x\"\naction = \"drop\"",
        &["alma-sis.toml:11:10", "unknown variant `drop`"],
    );
    check(
        "[[filter]]\nname = \"x\"\nactoin = \"exclude\"",
        &["alma-sis.toml:11:1", "unknown field `actoin`"],
    );
    check(
        "[fedd]\nname = \"x\"",
        &["alma-sis.toml:9:2", "unknown field `fedd`"],
    );
    check(
        "[expiry]\ndefault = { policy = \"today_plus\", duration = \"a year\" }",
        &["alma-sis.toml:10:11", "\"a year\" is not a duration"],
    );
    check(
        "[[combined_group]]\ngroups = [\"A\", \"B\"]\ngroup = \"AB\"",
        &["alma-sis.toml:10:11", "no [[group]] gives group \"A\""],
    );
    check(
        "[[filter]]\nname = \"x\"\naction = \"exclude\"\nwhen = [{ column = \"aff\" }]",
        &["alma-sis.toml:12:20", "a condition needs a test"],
    );
    check(
        "[expiry]\ndefault = { policy = \"term\", column = \"aff\" }",
        &["alma-sis.toml:10:11", "needs a [term_calendar]"],
    );
    check(
        "[fields]\nprimary_id = { template = \"{id}\", lookup = \"nope\" }",
        &["alma-sis.toml:10:14", "no [lookup.nope] table"],
    );
}

#[test]
fn a_bad_key_column_lists_the_file_columns_only_on_request() {
    let text = config("").replace("key = \"id\"", "key = \"person\"");
    let case = Case::new(&text, &[("p.csv", b"id,name\n1,Ann\n")]);
    let err = case.run().expect_err("no such key");
    insta::assert_snapshot!("unknown_key_column", err.to_string());
    assert_eq!(err.columns().as_deref(), Some("p.csv: id, name"));
}

#[test]
fn a_headerless_extract_read_with_a_header_does_not_show_its_first_record() {
    // The extract has no header row: its first record is taken for the column names.
    let record = "900100215,Jürgen,Müller,jm@example.edu,1999-03-04";
    let text = config("[fields]\nprimary_id = \"{id}\"\nfirst_name = \"{first}\"\n");
    let case = Case::new(&text, &[("p.csv", format!("{record}\n").as_bytes())]);
    let err = case.run().expect_err("no such column");
    let shown = err.to_string();
    for value in record.split(',') {
        assert!(!shown.contains(value), "{value} in {shown}");
    }
    assert!(err.columns().is_some_and(|c| c.contains("jm@example.edu")));
}

#[test]
fn date_formats_are_checked_when_the_config_loads() {
    for (rest, at) in [
        (
            "[fields]\nprimary_id = \"{id}\"\nbirth_date = { template = \"{aff}\", date_formats = [\"%Y-%m-%d\", \"yyyy-MM-dd\"] }",
            "alma-sis.toml:11:14",
        ),
        (
            "[expiry]\ndefault = { policy = \"column\", column = \"aff\", formats = [\"%Y-%q-%d\"] }",
            "alma-sis.toml:10:11",
        ),
        (
            "[expiry]\ndefault = { policy = \"column\", column = \"aff\", formats = [\"%Y-%m-%!\"] }",
            "alma-sis.toml:10:11",
        ),
    ] {
        // No extract is needed: the config alone is refused.
        let err = sis_extract::MappingConfig::from_toml(
            &config(rest),
            std::path::Path::new("alma-sis.toml"),
            &[],
        )
        .expect_err("a bad format")
        .to_string();
        assert!(err.starts_with(at), "{err}");
    }
    let messages: Vec<String> = ["yyyy-MM-dd", "%Y-%q-%d", "%Y-%m-%!", "%d.%m."]
        .iter()
        .map(|f| sis_extract::config::check_date_format(f).expect_err("refused"))
        .collect();
    insta::assert_snapshot!("bad_date_formats", messages.join("\n"));
    for good in ["%Y-%m-%d", "%m/%d/%Y", "%d.%m.%y", "%Y%j", "%d %b %Y"] {
        assert_eq!(
            sis_extract::config::check_date_format(good),
            Ok(()),
            "{good}"
        );
    }
}

#[test]
fn foreign_sections_are_left_to_the_caller() {
    let text = format!("{}\n[output]\ndir = \"out\"\n", config(""));
    let parsed =
        sis_extract::MappingConfig::from_toml(&text, std::path::Path::new("c.toml"), &["output"]);
    assert!(parsed.is_ok(), "{:?}", parsed.err());
    let parsed = sis_extract::MappingConfig::from_toml(&text, std::path::Path::new("c.toml"), &[]);
    let err = parsed
        .expect_err("output is not a mapping section")
        .to_string();
    assert!(err.contains("unknown field `output`"), "{err}");
}

/// A query input's keys: a query or a path, not both; file-only keys refused; no password in
/// an ODBC connection string; a password file others may read refused. All found before any
/// connection is tried.
#[test]
fn query_inputs_are_checked_before_connecting() {
    let query = |rest: &str| {
        format!("[[input]]\nname = \"q\"\nquery = \"SELECT 1 AS id\"\nkey = \"id\"\n{rest}")
    };
    check(
        "[[input]]\npath = \"p.csv\"\nquery = \"SELECT 1\"\nkey = \"id\"",
        &["alma-sis.toml:12:7", "give `path` or a query"],
    );
    check(&query("delimiter = \"|\""), &["input q: format, delimiter"]);
    check(
        "[[input]]\nkey = \"id\"",
        &["an input needs `path`, `query` or `query_file`"],
    );
    check(
        "[[input]]\npath = \"p.csv\"\nkey = \"id\"\nname = \"x\"",
        &["`database` and `name` are for query inputs"],
    );
    check(
        &query("query_file = \"q.sql\""),
        &["input q: give `query` or `query_file`, not both"],
    );
    check(
        &query("database = { driver = \"odbc\", connection = \"DSN=x;UID=u;PWD=hunter2\" }"),
        &[if cfg!(feature = "odbc") {
            "input q: database.connection holds a password"
        } else {
            "input q: this alma-sis was built without the ODBC source"
        }],
    );
    check(
        &query("database = { sslmode = \"verify-most\" }"),
        &["unknown variant `verify-most`", "verify-full"],
    );
    check(
        &query("database = { user = \"u\", password_env = \"NOT_SET_ANYWHERE\" }"),
        &["input q: database.password_env names NOT_SET_ANYWHERE, which is not set"],
    );
    let case = Case::new(
        &config(&query(
            "database = { user = \"u\", password_file = \"pw\" }",
        )),
        &[("p.csv", b"id\n1\n"), ("pw", b"secret\n")],
    );
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(
        case.dir.path().join("pw"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("mode");
    let err = case
        .run()
        .expect_err("a readable password file")
        .to_string();
    assert!(err.contains("may be read by others (mode 0644)"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}
