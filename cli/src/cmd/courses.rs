//! `alma-sis courses ...`: the Leganto course-loading file.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use leganto_courses::{DateFormat, Rules, Snapshot, plan_delta, read_course_file};

use alma_sis::Context;
use alma_sis::courses::CoursesAppConfig;
use alma_sis::courses::run::{RunOptions, print_findings, write_rollover_reports};
use alma_sis::{Exit, Failure};

/// Arguments of `alma-sis courses`.
#[derive(Debug, Args)]
pub struct CoursesArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: CoursesCommand,
}

/// The course subcommands. Each reads the course config given with `--config`
/// (e.g. `examples/courses/courses.toml`).
#[derive(Debug, Subcommand)]
pub enum CoursesCommand {
    /// Map the registrar's extract, write the course file with only what changed, check it
    /// and deliver it.
    #[command(after_help = crate::help::EXIT_CODES)]
    Run(CoursesRunArgs),
    /// Check a course-loading file the way Alma reads it (file:line:column findings).
    #[command(after_help = crate::help::EXIT_CODES)]
    Check(CoursesCheckArgs),
    /// Fetch the registrar's extract from the `[pull]` server and install it as `[source] path`.
    Pull,
    /// Write the rollover report (CSV and HTML) without sending anything.
    RolloverReport,
}

/// Arguments of `alma-sis courses run`.
#[derive(Debug, Args)]
pub struct CoursesRunArgs {
    /// Write the course file and the reports, but deliver and record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Send every course, not only what changed (rollovers are still sent only once).
    #[arg(long)]
    pub full: bool,
    /// Deliver even when a brake trips (more deletes than `[delta]` allows, or a delete of a
    /// course that received rolled-over reading lists) or a course would be re-keyed.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `alma-sis courses check`.
#[derive(Debug, Args)]
pub struct CoursesCheckArgs {
    /// The course file.
    pub file: PathBuf,
    /// The profile's date format (chrono, e.g. `%d-%m-%Y`); defaults to the course config's
    /// `[file] date_format`, or `%Y-%m-%d` without a config.
    #[arg(long, value_name = "FORMAT")]
    pub date_format: Option<String>,
}

/// Runs `alma-sis courses ...`.
pub fn run(ctx: &Context, args: CoursesArgs) -> anyhow::Result<Exit> {
    match args.command {
        CoursesCommand::Run(a) => alma_sis::courses::run::run(
            ctx,
            RunOptions {
                dry_run: a.dry_run,
                full: a.full,
                force: a.force,
            },
        ),
        CoursesCommand::Check(a) => check(ctx, &a),
        CoursesCommand::Pull => pull(ctx),
        CoursesCommand::RolloverReport => rollover_report(ctx),
    }
}

fn check(ctx: &Context, args: &CoursesCheckArgs) -> anyhow::Result<Exit> {
    // Without a course config the codes are not checked; the file rules still are.
    let mut rules = if ctx.config_path.exists() {
        let config = CoursesAppConfig::load(&ctx.config_path)?;
        Rules {
            codes: config.courses.codes,
            date_format: config.courses.file.date_format,
        }
    } else {
        Rules::default()
    };
    if let Some(format) = &args.date_format {
        rules.date_format = DateFormat::new(format)
            .map_err(|e| Failure::error(Exit::ConfigOrInput, e.to_string()))?;
    }
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))
        .map_err(|e| Failure::error(Exit::ConfigOrInput, format!("{e:#}")))?;
    let file = read_course_file(&bytes, &args.file.display().to_string(), &rules);
    let errors = print_findings(ctx.progress.as_ref(), &file.findings);
    let warnings = file.findings.len() - errors;
    println!(
        "{}: {} course rows, {} columns, {errors} errors, {warnings} warnings",
        args.file.display(),
        file.rows.len(),
        if file.legacy { 31 } else { 34 },
    );
    Ok(if errors > 0 { Exit::Findings } else { Exit::Ok })
}

fn pull(ctx: &Context) -> anyhow::Result<Exit> {
    let config = CoursesAppConfig::load(&ctx.config_path)?;
    let Some(pull) = &config.pull else {
        return Err(Failure::error(
            Exit::ConfigOrInput,
            format!("{} has no [pull] section", config.path.display()),
        ));
    };
    let into = config.output.dir.join(format!("pulled_{}", ctx.stamp()));
    std::fs::create_dir_all(&into).with_context(|| format!("cannot create {}", into.display()))?;
    let mut server = alma_sis::destination::build(&pull.server)?;
    let pulled = server.pull(&pull.from, &pull.pattern, &into).map_err(|e| {
        Failure::error(
            Exit::DeliveryFailed,
            format!("pull from {} failed: {e}", server.describe()),
        )
    })?;
    let Some(newest) = pulled.last() else {
        return Err(Failure::error(
            Exit::ConfigOrInput,
            format!(
                "no file matching {:?} in {} ({})",
                pull.pattern,
                pull.from,
                server.describe()
            ),
        ));
    };
    for p in &pulled {
        println!("pulled {} ({} bytes, sha256 {})", p.name, p.size, p.sha256);
    }
    // Install the newest under the configured name: a temporary copy, then a rename, so a
    // run never reads half a file.
    let source = config.base_dir.join(&config.courses.source.path);
    let tmp = source.with_extension("pull.part");
    std::fs::copy(&newest.local, &tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &source)
        .with_context(|| format!("cannot install {}", source.display()))?;
    println!("installed {} as {}", newest.name, source.display());
    Ok(Exit::Ok)
}

fn rollover_report(ctx: &Context) -> anyhow::Result<Exit> {
    let config = CoursesAppConfig::load(&ctx.config_path)?;
    let mapped = alma_sis::courses::run::map(&config)?;
    let state_path = config.state_path();
    let state_failure = |e| Failure::error(Exit::ConfigOrInput, format!("run state: {e}"));
    let (last, sent) = if state_path.exists() {
        let store = alma_sis_state::StateStore::open(&state_path).map_err(state_failure)?;
        (
            alma_sis_state::courses::last_snapshot(&store).map_err(state_failure)?,
            alma_sis_state::courses::rollovers_sent(&store).map_err(state_failure)?,
        )
    } else {
        (Snapshot::default(), Vec::new())
    };
    // The plan a run would make now, brakes lifted: nothing is sent or recorded.
    let options = leganto_courses::DeltaOptions {
        max_deletes: usize::MAX,
        max_rollover_target_deletes: usize::MAX,
        ..config.delta_options(false, false)
    };
    let delta = plan_delta(&mapped, &last, &sent, &options)
        .map_err(|e| Failure::error(Exit::ConfigOrInput, e.to_string()))?;
    let mut findings = mapped.findings.clone();
    findings.extend(
        delta
            .findings
            .iter()
            .filter(|f| f.code.starts_with("W-ROLLOVER"))
            .cloned(),
    );
    let rejected = print_findings(ctx.progress.as_ref(), &findings);
    let (csv, html) = write_rollover_reports(ctx, &config, &delta.rollovers)?;
    println!("{} rollover candidates", delta.rollovers.len());
    println!("  {}", csv.display());
    println!("  {}", html.display());
    Ok(if rejected > 0 {
        Exit::Findings
    } else {
        Exit::Ok
    })
}
