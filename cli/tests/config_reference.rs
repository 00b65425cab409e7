//! `docs/configuration.md` against the code, both ways: every key the config loader accepts
//! is documented, and every documented key is accepted.
//!
//! The keys are traced from the real `Deserialize` impls: the demo config through
//! `AppConfig::load`, and the course config through `CoursesAppConfig::load` (keys documented
//! as `courses.<key>`), each with one probe key `zzz_probe` at a time. With
//! `#[serde(deny_unknown_fields)]` serde answers "unknown field `zzz_probe`, expected one of
//! `a`, `b`", which lists a table's keys (renames applied); "unknown variant" lists an enum's
//! variants, and a tag that is "missing" reveals an internally tagged enum, whose variants
//! are then traced one by one. A key whose value is not a table is a leaf; one that takes a
//! string or a table (a field rule) is a leaf whose table form is documented once per kind
//! (`fields.<field>.template`). Maps and what serde cannot enumerate (untagged enums,
//! flatten, tables parsed by hand) are "open": documented as `key` or `key.<name>` rows.
//!
//! In the docs, a key is a table row whose first cell is the full dotted key path in
//! backticks, e.g. `| `input.path` | ... |`; arrays of tables take no index
//! (`filter.when.column`); a `<name>` segment stands for any key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use alma_sis::config::{AppConfig, CLI_SECTIONS};

use crate::support::workspace_root;

const PROBE: &str = "zzz_probe";

/// One step into the document: a key, and whether its value is an array of tables.
type KeyPath = Vec<(String, bool)>;

#[derive(Debug, Default)]
struct Keys {
    /// Keys whose values are scalars or arrays of scalars.
    leaves: BTreeSet<String>,
    /// Keys whose children serde cannot list (maps, untagged enums, flatten).
    open: BTreeSet<String>,
    /// Keys whose values are tables (or arrays of tables).
    tables: BTreeSet<String>,
    /// Keys that take a string or a table (a shorthand, like a field rule), with the keys of
    /// the table form. The table form is documented once per kind, e.g. as
    /// `fields.<field>.template`, not under every key that takes it.
    shorthand: BTreeMap<String, BTreeSet<String>>,
    /// Keys inside the table form of shorthand keys: valid, documented once per kind.
    optional: BTreeSet<String>,
    /// Problems found while tracing, e.g. a table without `deny_unknown_fields`.
    problems: Vec<String>,
}

/// How one kind of config file is loaded: the error text, or `None` when it loads.
type Loader = fn(&Path) -> Option<String>;

struct Prober {
    dir: tempfile::TempDir,
    file_name: String,
    base: toml::Table,
    loader: Loader,
    /// Values set before every probe, e.g. `policy = "column"` while tracing that variant.
    pinned: Vec<(KeyPath, toml::Value)>,
    count: usize,
}

impl Prober {
    /// Probes `config` (copied with its directory, so relative paths still resolve).
    fn new(config: &Path, loader: Loader) -> Prober {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(config.parent().unwrap(), dir.path());
        let text = std::fs::read_to_string(config).unwrap();
        let base: toml::Table = toml::from_str(&text).unwrap();
        let prober = Prober {
            dir,
            file_name: config.file_name().unwrap().to_string_lossy().into_owned(),
            base,
            loader,
            pinned: Vec::new(),
            count: 0,
        };
        if let Some(err) = prober.load(&prober.base) {
            panic!("{} does not load: {err}", config.display());
        }
        prober
    }

    fn load(&self, doc: &toml::Table) -> Option<String> {
        let path = self
            .dir
            .path()
            .join(format!("probe-{}-{}", self.count, self.file_name));
        std::fs::write(&path, toml::to_string(doc).unwrap()).unwrap();
        let result = (self.loader)(&path);
        std::fs::remove_file(&path).unwrap();
        result
    }

    /// Loads the base config with `value` set at `path` (after the pinned values, e.g. the
    /// tag of the enum variant being traced); returns the error, if any.
    fn probe(&mut self, path: &[(String, bool)], value: toml::Value) -> Option<String> {
        self.count += 1;
        let mut doc = self.base.clone();
        for (pinned, v) in &self.pinned {
            place(&mut doc, pinned, v.clone());
        }
        place(&mut doc, path, value);
        self.load(&doc)
    }
}

/// Sets `value` at `path` in `doc`, creating tables on the way; an array of tables keeps
/// only its first element.
fn place(doc: &mut toml::Table, path: &[(String, bool)], value: toml::Value) {
    let mut table = doc;
    let (last, parents) = path.split_last().expect("a non-empty path");
    for (key, is_array) in parents {
        let entry = table
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if *is_array {
            let first = match entry {
                toml::Value::Array(items) => match items.first() {
                    Some(toml::Value::Table(t)) => t.clone(),
                    _ => toml::Table::new(),
                },
                _ => toml::Table::new(),
            };
            *entry = toml::Value::Array(vec![toml::Value::Table(first)]);
        } else if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        table = match entry {
            toml::Value::Array(items) => match &mut items[0] {
                toml::Value::Table(t) => t,
                _ => unreachable!("the first element was made a table"),
            },
            toml::Value::Table(t) => t,
            _ => unreachable!("the entry was made a table"),
        };
    }
    let value = if last.1 {
        toml::Value::Array(vec![value])
    } else {
        value
    };
    table.insert(last.0.clone(), value);
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn probe_table(extra: &[(&str, toml::Value)]) -> toml::Value {
    let mut t = toml::Table::new();
    for (k, v) in extra {
        t.insert((*k).to_owned(), v.clone());
    }
    t.insert(PROBE.to_owned(), toml::Value::Integer(1));
    toml::Value::Table(t)
}

/// The backticked names after `after` on the same line of `message`, if `after` occurs.
fn listed_after(message: &str, after: &str) -> Option<Vec<String>> {
    let start = message.find(after)? + after.len();
    let rest = message[start..].lines().next().unwrap_or("");
    Some(
        rest.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect(),
    )
}

/// The name of the field serde reports missing, if any.
fn missing_field(message: &str) -> Option<String> {
    let start = message.find("missing field `")? + "missing field `".len();
    message[start..].split('`').next().map(str::to_owned)
}

fn dotted(path: &[(String, bool)]) -> String {
    path.iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(".")
}

fn with(path: &[(String, bool)], key: &str, is_array: bool) -> KeyPath {
    let mut p = path.to_vec();
    p.push((key.to_owned(), is_array));
    p
}

fn unknown_field(message: &str) -> Option<Vec<String>> {
    listed_after(message, &format!("unknown field `{PROBE}`, "))
}

fn unknown_variant(message: &str) -> Option<Vec<String>> {
    listed_after(message, &format!("unknown variant `{PROBE}`, "))
}

/// Traces the key at `path` (its last step not yet marked as array or not).
fn trace_key(prober: &mut Prober, path: &[(String, bool)], keys: &mut Keys, depth: usize) {
    let name = dotted(path);
    if depth > 8 {
        keys.problems
            .push(format!("`{name}` nests too deep to trace"));
        return;
    }
    let plain = path.to_vec();
    let mut as_array = path.to_vec();
    if let Some(last) = as_array.last_mut() {
        last.1 = true;
    }
    let message = prober.probe(&plain, probe_table(&[])).unwrap_or_default();
    let (message, path) = if message.contains("invalid type: map") && message.contains("sequence") {
        (
            prober
                .probe(&as_array, probe_table(&[]))
                .unwrap_or_default(),
            as_array,
        )
    } else {
        (message, plain)
    };
    if let Some(fields) = unknown_field(&message) {
        let as_string = prober
            .probe(&path, toml::Value::String(PROBE.to_owned()))
            .unwrap_or_default();
        if path.last().is_some_and(|p| !p.1) && !as_string.contains("invalid type: string") {
            let mut inner = Keys::default();
            for field in &fields {
                trace_key(prober, &with(&path, field, false), &mut inner, depth + 1);
            }
            keys.optional.extend(inner.leaves);
            keys.optional.extend(inner.open);
            keys.optional.extend(inner.tables);
            keys.optional.extend(inner.optional);
            keys.problems.extend(inner.problems);
            keys.leaves.insert(name.clone());
            keys.shorthand.insert(name, fields.into_iter().collect());
            return;
        }
        keys.tables.insert(name);
        for field in fields {
            trace_key(prober, &with(&path, &field, false), keys, depth + 1);
        }
    } else if let Some(variants) = unknown_variant(&message) {
        // An externally tagged enum: table variants are keys, unit variants are values.
        let mut any_table = false;
        for variant in variants {
            let child = with(&path, &variant, false);
            let m = prober.probe(&child, probe_table(&[])).unwrap_or_default();
            if let Some(fields) = unknown_field(&m) {
                any_table = true;
                keys.tables.insert(dotted(&child));
                for field in fields {
                    trace_key(prober, &with(&child, &field, false), keys, depth + 2);
                }
            }
        }
        if any_table {
            keys.tables.insert(name);
        } else {
            keys.leaves.insert(name);
        }
    } else if let Some(tag) = missing_field(&message) {
        let tagged = prober
            .probe(
                &path,
                probe_table(&[(tag.as_str(), toml::Value::String(PROBE.to_owned()))]),
            )
            .unwrap_or_default();
        match unknown_variant(&tagged) {
            Some(variants) => {
                // An internally tagged enum: the tag is a key, and each variant's fields.
                keys.tables.insert(name.clone());
                keys.leaves.insert(format!("{name}.{tag}"));
                for variant in variants {
                    let m = prober
                        .probe(
                            &path,
                            probe_table(&[(tag.as_str(), toml::Value::String(variant.clone()))]),
                        )
                        .unwrap_or_default();
                    match unknown_field(&m) {
                        Some(fields) => {
                            let mut pin = toml::Table::new();
                            pin.insert(tag.clone(), toml::Value::String(variant.clone()));
                            prober.pinned.push((path.clone(), toml::Value::Table(pin)));
                            for field in fields.into_iter().filter(|f| *f != tag) {
                                trace_key(prober, &with(&path, &field, false), keys, depth + 1);
                            }
                            prober.pinned.pop();
                        }
                        // A variant without fields: serde ignores other keys there.
                        None if m.is_empty() => {}
                        None => keys.problems.push(format!(
                            "`{name}` with {tag} = {variant:?} does not deny unknown keys: {m}"
                        )),
                    }
                }
            }
            None => keys.problems.push(format!(
                "`{name}` is a table that accepts unknown keys: add #[serde(deny_unknown_fields)] ({message})"
            )),
        }
    } else if message.contains("invalid type: map") {
        keys.leaves.insert(name);
    } else {
        keys.open.insert(name);
    }
}

/// The patron config: the mapping plus the CLI's sections, as `alma-sis run` loads it.
fn load_app_config(path: &Path) -> Option<String> {
    AppConfig::load(path).err().map(|e| format!("{e:#}"))
}

/// The course config, as `alma-sis courses` loads it.
fn load_course_config(path: &Path) -> Option<String> {
    alma_sis::courses::CoursesAppConfig::load(path)
        .err()
        .map(|e| format!("{e:#}"))
}

/// Traces one kind of config file; its keys are documented under `prefix`.
fn trace_config(config: &Path, loader: Loader, extra_top: &[&str], prefix: &str, keys: &mut Keys) {
    let mut prober = Prober::new(config, loader);
    let message = prober
        .probe(&[(PROBE.to_owned(), false)], toml::Value::Integer(1))
        .unwrap_or_default();
    let Some(mut top) = unknown_field(&message) else {
        panic!(
            "{}: a top-level unknown key is not refused with a list of keys: {message}",
            config.display()
        );
    };
    top.extend(extra_top.iter().map(|s| (*s).to_owned()));
    top.sort();
    top.dedup();
    let mut found = Keys::default();
    for key in top {
        trace_key(&mut prober, &[(key, false)], &mut found, 0);
    }
    let prefixed = |set: BTreeSet<String>| set.into_iter().map(|k| format!("{prefix}{k}"));
    keys.leaves.extend(prefixed(found.leaves));
    keys.open.extend(prefixed(found.open));
    keys.tables.extend(prefixed(found.tables));
    keys.optional.extend(prefixed(found.optional));
    keys.shorthand.extend(
        found
            .shorthand
            .into_iter()
            .map(|(k, v)| (format!("{prefix}{k}"), v)),
    );
    keys.problems.extend(found.problems);
}

fn code_keys() -> Keys {
    let mut keys = Keys::default();
    let root = workspace_root();
    trace_config(
        &root.join("examples/demo/alma-sis.toml"),
        load_app_config,
        &CLI_SECTIONS,
        "",
        &mut keys,
    );
    let courses = root.join("examples/courses/courses.toml");
    if courses.exists() {
        // `[output]`, `[delivery]` and `[state]` are the patron config's, documented once.
        trace_config(
            &courses,
            load_course_config,
            &["pull"],
            "courses.",
            &mut keys,
        );
    }
    keys
}

/// Keys documented in `docs/configuration.md` (and values in backticks, told apart later).
fn documented_keys(markdown: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for line in markdown.lines() {
        let line = line.trim();
        if !line.starts_with('|') {
            continue;
        }
        let first = line
            .trim_start_matches('|')
            .split('|')
            .next()
            .unwrap_or("")
            .trim();
        let Some(key) = first.strip_prefix('`').and_then(|k| k.strip_suffix('`')) else {
            continue;
        };
        let is_key = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-<>*".contains(c));
        if is_key {
            keys.insert(key.to_owned());
        }
    }
    keys
}

/// Whether documented key `doc` names `key`; a `<name>` segment in the docs matches any one.
fn names(doc: &str, key: &str) -> bool {
    let (d, k): (Vec<&str>, Vec<&str>) = (doc.split('.').collect(), key.split('.').collect());
    d.len() == k.len() && d.iter().zip(&k).all(|(d, k)| d == k || is_placeholder(d))
}

fn is_placeholder(segment: &str) -> bool {
    segment == "*" || (segment.starts_with('<') && segment.ends_with('>'))
}

/// Whether documented key `doc` lies below `parent`.
fn under(doc: &str, parent: &str) -> bool {
    let depth = parent.split('.').count();
    let segments: Vec<&str> = doc.split('.').collect();
    segments.len() > depth && names(&segments[..depth].join("."), parent)
}

/// Compares traced and documented keys; returns what is wrong, one line each.
fn compare(code: &Keys, docs: &BTreeSet<String>) -> Vec<String> {
    let mut wrong = code.problems.clone();
    let documented = |key: &str| docs.iter().any(|d| names(d, key));
    for leaf in &code.leaves {
        if !documented(leaf) {
            wrong.push(format!(
                "`{leaf}` is a config key but docs/configuration.md has no row for it"
            ));
        }
    }
    for open in &code.open {
        if !documented(open) && !docs.iter().any(|d| under(d, open)) {
            wrong.push(format!(
                "`{open}` is a config key but docs/configuration.md has no row for it"
            ));
        }
    }
    // The table form of shorthand keys: each of its keys documented under one of them.
    let mut kinds: BTreeMap<&BTreeSet<String>, Vec<&str>> = BTreeMap::new();
    for (key, fields) in &code.shorthand {
        kinds.entry(fields).or_default().push(key);
    }
    for (fields, members) in kinds {
        for field in fields {
            if !members.iter().any(|m| documented(&format!("{m}.{field}"))) {
                wrong.push(format!(
                    "`{}.{field}` (the table form of {} keys) has no row in docs/configuration.md",
                    members[0],
                    members.len()
                ));
            }
        }
    }
    // A backticked word without a dot that is no key is a value (`include`), not a row to check.
    for doc in docs.iter().filter(|d| d.contains('.')) {
        let known = [&code.leaves, &code.tables, &code.open, &code.optional]
            .iter()
            .any(|set| set.iter().any(|k| names(doc, k)))
            || code.open.iter().any(|o| under(doc, o));
        if !known {
            wrong.push(format!(
                "docs/configuration.md documents `{doc}`, which the config loader does not accept"
            ));
        }
    }
    wrong
}

fn configuration_md() -> PathBuf {
    workspace_root().join("docs/configuration.md")
}

#[test]
fn the_configuration_reference_matches_the_code_both_ways() {
    let code = code_keys();
    assert!(
        code.leaves.contains("feed.name") && code.leaves.contains("output.dir"),
        "tracing found too little: {code:?}"
    );
    let markdown = std::fs::read_to_string(configuration_md()).expect("docs/configuration.md");
    let wrong = compare(&code, &documented_keys(&markdown));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn keys_of(leaves: &[&str], tables: &[&str], open: &[&str]) -> Keys {
    let set = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    Keys {
        leaves: set(leaves),
        tables: set(tables),
        open: set(open),
        ..Keys::default()
    }
}

fn check_compare(code: &Keys, markdown: &str, expected: &[&str]) {
    let wrong = compare(code, &documented_keys(markdown));
    let wrong: Vec<&str> = wrong.iter().map(String::as_str).collect();
    assert_eq!(wrong, expected, "for:\n{markdown}");
}

#[test]
fn the_comparison_catches_missing_and_stale_rows() {
    let code = keys_of(
        &["feed.name", "input.path"],
        &["feed", "input"],
        &["lookup"],
    );
    let full = "| key | type |\n|---|---|\n| `feed.name` | string |\n| `input.path` | path |\n| `lookup.<name>` | a code table |\n";
    check_compare(&code, full, &[]);
    check_compare(
        &code,
        "| `feed.name` | string |\n| `lookup` | table |\n",
        &["`input.path` is a config key but docs/configuration.md has no row for it"],
    );
    check_compare(
        &code,
        &format!("{full}| `feed.nmae` | typo |\n"),
        &["docs/configuration.md documents `feed.nmae`, which the config loader does not accept"],
    );
    check_compare(
        &code,
        "| `feed.name` | x |\n| `input.path` | x |\n",
        &["`lookup` is a config key but docs/configuration.md has no row for it"],
    );
    // Values in backticks (no dot) are not keys.
    check_compare(&code, &format!("{full}| `include` | keep the row |\n"), &[]);
}

#[test]
fn the_table_form_of_shorthand_keys_is_documented_once_per_kind() {
    let rule: BTreeSet<String> = ["template", "case"].map(str::to_owned).into();
    let mut code = keys_of(
        &["fields.first_name", "email.address"],
        &["fields", "email"],
        &[],
    );
    code.shorthand
        .insert("fields.first_name".into(), rule.clone());
    code.shorthand.insert("email.address".into(), rule);
    code.optional.extend(
        [
            "fields.first_name.template",
            "fields.first_name.case",
            "email.address.template",
            "email.address.case",
        ]
        .map(str::to_owned),
    );
    let keys = "| `fields.first_name` | x |\n| `email.address` | a field rule |\n";
    check_compare(
        &code,
        &format!("{keys}| `fields.<field>.template` | x |\n| `fields.<field>.case` | x |\n"),
        &[],
    );
    check_compare(
        &code,
        &format!("{keys}| `fields.<field>.template` | x |\n"),
        &["`email.address.case` (the table form of 2 keys) has no row in docs/configuration.md"],
    );
    check_compare(
        &code,
        &format!(
            "{keys}| `fields.<field>.template` | x |\n| `fields.<field>.case` | x |\n| `fields.<field>.kase` | typo |\n"
        ),
        &[
            "docs/configuration.md documents `fields.<field>.kase`, which the config loader does not accept",
        ],
    );
}

#[test]
fn tracing_sees_renamed_nested_and_array_keys() {
    let code = code_keys();
    // `[[input]]` is `inputs` in Rust; conditions nest in arrays of tables; `expiry.default`
    // is an enum tagged by `policy`, each variant with its own keys.
    for key in [
        "input.path",
        "input.key",
        "filter.name",
        "filter.when.column",
        "group.group",
        "expiry.default.policy",
        "expiry.default.column",
        "expiry.default.duration",
    ] {
        assert!(code.leaves.contains(key), "{key} not traced: {code:?}");
    }
    assert!(!code.leaves.contains("inputs.path"));
    // A field rule is a string or a table: the key is a leaf, its table form is shared.
    assert!(code.shorthand.contains_key("fields.first_name"), "{code:?}");
}
