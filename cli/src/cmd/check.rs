//! `alma-sis check`: every Alma load failure, found before Alma does (its `[check]` config
//! section is `alma_sis::config::CheckConfig`, which `run` uses for its quarantine).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use alma_sis_package::check::{CheckFinding, Checker, PreviousFeed};
use alma_user_model::Severity;
use anyhow::Context as _;
use clap::{Args, ValueEnum};

use alma_sis::Context;
use alma_sis::config::{AppConfig, CheckConfig};
use alma_sis::{Exit, Failure};

/// The `schema` value of `check --format json`.
pub const SCHEMA: &str = "alma-sis.check/1";

/// Arguments of `alma-sis check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The files to check: .zip files, folders of them (in alma-sis's work directory only the
    /// zips: its reports, manifest and run state are not for Alma), or .xml files. A path that
    /// cannot be read does not stop the others: the findings and the summary cover what was
    /// read, the JSON document lists the path under `unreadable`, and the exit code is 2.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output for people (text) or machines (json).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The value Alma's integration profile matches users on: `primary_id` or an
    /// identifier type such as `UNIV_ID` (overrides `check.match_id`).
    #[arg(long, value_name = "ID")]
    pub match_id: Option<String>,
    /// Mandatory-field profile: `alma` or `i-share` (overrides `check.profile`).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Code tables TSV (`table<TAB>code[<TAB>description]`; overrides `check.code_tables`).
    #[arg(long, value_name = "TSV")]
    pub code_tables: Option<PathBuf>,
    /// The previous feed (.zip or .xml): warn about core fields it filled that this one
    /// leaves empty, which swap-all clears in Alma.
    #[arg(long, value_name = "PATH")]
    pub previous: Option<PathBuf>,
    /// Also show informational findings in text output (JSON always has them).
    #[arg(long)]
    pub all: bool,
    /// Exit 1 on warnings too, not only on errors: for sites that want schema-clean files
    /// (warnings are deviations Alma tolerates; see docs/troubleshooting.md).
    #[arg(long)]
    pub strict: bool,
}

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per finding and a summary, for people.
    Text,
    /// One JSON document (schema `alma-sis.check/1`), streamed, and always closed.
    Json,
}

fn input_error(message: String) -> anyhow::Error {
    Failure::error(Exit::ConfigOrInput, message)
}

/// The `[check]` section: from the config file when there is one; without a config file
/// (the default name absent) `check` runs with the defaults.
fn check_config(ctx: &Context) -> anyhow::Result<(CheckConfig, PathBuf)> {
    let default_name = ctx.config_path == Path::new("alma-sis.toml");
    if default_name && !ctx.config_path.exists() {
        return Ok((CheckConfig::default(), PathBuf::from(".")));
    }
    let config = AppConfig::load(&ctx.config_path)?;
    Ok((config.check, config.base_dir))
}

/// Runs `alma-sis check`.
pub fn run(ctx: &Context, args: CheckArgs) -> anyhow::Result<Exit> {
    let (mut config, base_dir) = check_config(ctx)?;
    if let Some(m) = &args.match_id {
        config.match_id.clone_from(m);
    }
    if let Some(p) = &args.profile {
        config.profile.clone_from(p);
    }
    if let Some(t) = &args.code_tables {
        config.code_tables = Some(std::path::absolute(t).unwrap_or_else(|_| t.clone()));
    }
    let mut options = config.options(&base_dir)?;
    if let Some(previous) = &args.previous {
        options.previous = Some(
            PreviousFeed::read_path(previous, &options.match_id)
                .map_err(|e| input_error(format!("--previous: {e}")))?,
        );
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut write_error: Option<std::io::Error> = None;
    let mut by_code: BTreeMap<(Severity, String), u64> = BTreeMap::new();
    // Paths that could not be read, after the findings have begun: the rest are still
    // checked and the output still ends with its summary (a closed JSON document).
    let mut unreadable: Vec<Unreadable> = Vec::new();
    let mut first = true;
    if args.format == Format::Json {
        write!(out, "{{\"schema\":\"{SCHEMA}\",\"findings\":[")?;
    }
    let summary = {
        let mut sink = |f: CheckFinding| {
            *by_code
                .entry((f.finding.severity, f.finding.code.clone()))
                .or_default() += 1;
            if write_error.is_some() {
                return;
            }
            let written = match args.format {
                Format::Json => {
                    let sep = if first { "\n" } else { ",\n" };
                    first = false;
                    out.write_all(sep.as_bytes()).and_then(|()| {
                        serde_json::to_writer(&mut out, &f).map_err(std::io::Error::other)
                    })
                }
                Format::Text if f.finding.severity != Severity::Info || args.all => {
                    writeln!(out, "{f}")
                }
                Format::Text => Ok(()),
            };
            if let Err(e) = written {
                write_error = Some(e);
            }
        };
        let mut checker = Checker::with_sink(&options, &mut sink);
        for path in &args.paths {
            let checked = if is_work_dir(path) {
                checker.check_work_dir(path)
            } else {
                checker.check_path(path)
            };
            if let Err(e) = checked {
                unreadable.push(Unreadable {
                    path: path.display().to_string(),
                    message: format!("{e}: {}", root_cause(&e)),
                });
            }
        }
        checker.summary()
    };
    if let Some(e) = write_error {
        return Err(e).context("writing the findings");
    }
    match args.format {
        Format::Json => {
            let counts: Vec<serde_json::Value> = by_code
                .iter()
                .map(|((severity, code), n)| {
                    serde_json::json!({ "code": code, "severity": severity, "count": n })
                })
                .collect();
            let mut tail = serde_json::json!({ "summary": summary, "codes": counts });
            if !unreadable.is_empty() {
                tail["unreadable"] = serde_json::to_value(&unreadable)?;
            }
            let tail = serde_json::to_string(&tail)?;
            // Splice the summary into the open document: `],"summary":...,"codes":...}`.
            writeln!(out, "\n],{}", &tail[1..])?;
        }
        Format::Text => {
            writeln!(
                out,
                "checked {} file(s), {} XML document(s), {} user(s): {} error(s) in {} user(s), \
                 {} warning(s)",
                summary.files,
                summary.documents,
                summary.users,
                summary.errors,
                summary.users_with_errors,
                summary.warnings
            )?;
            for ((severity, code), n) in &by_code {
                if *severity != Severity::Info || args.all {
                    writeln!(out, "  {code:<24} {n:>7}")?;
                }
            }
            if !unreadable.is_empty() {
                let paths: Vec<&str> = unreadable.iter().map(|u| u.path.as_str()).collect();
                let paths = paths.join(", ");
                writeln!(
                    out,
                    "not checked: {} path(s) could not be read: {}",
                    unreadable.len(),
                    alma_sis_package::check::printable(&paths)
                )?;
            }
            if args.strict && summary.warnings > 0 {
                writeln!(out, "--strict: the warnings count as errors")?;
            }
            if summary.errors > 0 || (args.strict && summary.warnings > 0) {
                writeln!(
                    out,
                    "see docs/troubleshooting.md for what each code means and how to fix it"
                )?;
            }
        }
    }
    out.flush()?;
    if !unreadable.is_empty() {
        let messages: Vec<String> = unreadable.iter().map(|u| u.message.clone()).collect();
        let message = messages.join("; ");
        return Err(input_error(
            alma_sis_package::check::printable(&message).into_owned(),
        ));
    }
    Ok(
        if summary.errors > 0 || (args.strict && summary.warnings > 0) {
            Exit::Findings
        } else {
            Exit::Ok
        },
    )
}

/// A path given to `check` that could not be read, as the JSON document's `unreadable` lists it.
#[derive(Debug, serde::Serialize)]
struct Unreadable {
    /// The path as given.
    path: String,
    /// Why, with the root cause.
    message: String,
}

/// Whether `path` is an alma-sis work directory: it holds the run state or a run's
/// manifest or report, which are no business of Alma's and no finding.
fn is_work_dir(path: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(path) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        name.starts_with("alma-sis-state.sqlite")
            || name.ends_with("_manifest.json")
            || name.ends_with(".report.json")
    })
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
