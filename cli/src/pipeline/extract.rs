//! Stage 1: read the extract and apply the mapping rules. The inputs are indexed first (`read`);
//! then people are mapped one at a time on a thread of their own, each user is rendered once
//! and hashed on a second, and they are handed to the run's pass through short queues, so
//! mapping and rendering overlap with checking, the run state and compressing.

use std::fmt::Write as _;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use alma_sis_state::{ContentHash, Located, PackedPayload, PayloadPacker, RawHash, SkipProbe};
use alma_user_model::{User, WriteError};
use sis_extract::{Extractor, PersonOutcome, Visit};

use super::report::Run;
use crate::config::AppConfig;
use crate::exit::{Exit, Failure};
use chrono::NaiveDate;

/// People per hand-over between threads: one wake-up per batch, not per person.
const BATCH: usize = 64;
/// Batches queued ahead of the next step: enough to keep the threads busy, few enough to be
/// small (a few hundred people). 64 x 3 against 32 x 4: 0.98 of a 1M college full run's time
/// (6 pairs), 1.3 MiB more at its peak (2026-12-07, docs/performance.md).
const QUEUE: usize = 3;

/// Reads and indexes the configured inputs (running query inputs); their warnings go into
/// the report. With `hash_rows`, every person's raw-row hash is taken while reading (a
/// delta that may skip people: see [`Extractor::settle_skips`]).
pub fn open<'c>(run: &mut Run<'c>, hash_rows: bool) -> anyhow::Result<Extractor<'c>> {
    let options = sis_extract::ReadOptions::default().hash_rows(hash_rows);
    let extractor = open_with(run.config, run.today, run.args.show_values, &options)?;
    for warning in extractor.warnings() {
        if warning.starts_with("input ") || warning.starts_with("password file ") {
            run.report.warn(crate::warning::INPUT, warning);
        }
    }
    Ok(extractor)
}

/// Reads and indexes the inputs of `config` as a run does (`plan` maps the same way), and
/// logs their warnings. A query's rows are spooled in the work directory, which must exist.
pub fn extractor(
    config: &AppConfig,
    today: NaiveDate,
    show_values: bool,
) -> anyhow::Result<Extractor<'_>> {
    open_with(
        config,
        today,
        show_values,
        &sis_extract::ReadOptions::default(),
    )
}

/// [`extractor`], reading as `options` say.
fn open_with<'c>(
    config: &'c AppConfig,
    today: NaiveDate,
    show_values: bool,
    options: &sis_extract::ReadOptions,
) -> anyhow::Result<Extractor<'c>> {
    let connector = sis_extract::database::Connector {
        spool_dir: config.output.dir.clone(),
        ..crate::connector::from_process()
    };
    // Traces are for `alma-sis explain`; a run keeps only decisions.
    let extractor = Extractor::open(
        &config.mapping,
        &config.base_dir,
        today,
        &connector,
        options,
    )
    .map_err(|e| input_error(config, show_values, &e))?
    .with_trace(false);
    for warning in extractor.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(extractor)
}

/// An extract that cannot be read (exit 2): a file that cannot be opened gets its OS reason
/// and the config line that names it; an unknown column a "did you mean". The inputs'
/// column names, which come from the files, are listed only with `--show-values`.
pub fn input_error(
    config: &AppConfig,
    show_values: bool,
    e: &sis_extract::ExtractError,
) -> anyhow::Error {
    use sis_extract::ExtractError;
    let mut message = e.to_string();
    if let ExtractError::Io { path, source } = e {
        let named = named_by(config, path)
            .map(|(key, at)| format!(" ({key} at {at})"))
            .unwrap_or_default();
        message = format!(
            "cannot read {}{named}: {source}; nothing was read or sent. Put the file there \
             or correct the path in the config (a relative path is relative to the \
             config's directory)",
            path.display()
        );
    }
    if let ExtractError::UnknownColumn { column, files, .. } = e {
        // A name a few edits from the configured one is a column header, not a record; and
        // only names shaped like headers are offered.
        let names = files
            .iter()
            .flat_map(|f| f.columns.iter().map(String::as_str))
            .filter(|name| crate::messages::header_like(name));
        if let Some(best) = crate::messages::closest(column, names) {
            let _ = write!(message, "; did you mean {best:?}?");
        }
    }
    match e.columns() {
        Some(columns) if show_values => {
            let _ = write!(message, "\nthe columns are (--show-values):\n{columns}");
        }
        Some(_) => message.push_str("\nrun again with --show-values to list the columns"),
        None => {}
    }
    Failure::error(Exit::ConfigOrInput, message)
}

/// The config key that names the file at `path`, and where (`file:line:column`).
fn named_by(config: &AppConfig, path: &std::path::Path) -> Option<(String, String)> {
    let mapping = &config.mapping;
    let mut named: Vec<(String, &std::path::Path)> = Vec::new();
    for input in &mapping.inputs {
        named.push(("[[input]] path".into(), &input.path));
        if let Some(file) = &input.query_file {
            named.push(("[[input]] query_file".into(), file));
        }
    }
    if let Some(file) = mapping.term_calendar.as_ref().and_then(|t| t.path.as_ref()) {
        named.push(("[term_calendar] path".into(), file));
    }
    for (name, lookup) in &mapping.lookups {
        if let Some(file) = &lookup.path {
            named.push((format!("[lookup.{name}] path"), file));
        }
    }
    let (key, value) = named
        .into_iter()
        .find(|(_, value)| !value.as_os_str().is_empty() && config.base_dir.join(value) == path)?;
    let source = &mapping.source;
    let at = crate::messages::naming_line(&source.path, &source.text, value)?;
    Some((key, at))
}

/// One person as the extract thread hands them over: their outcome and, when a user was
/// mapped, that user rendered (or the writer's refusal).
pub struct Prepared {
    /// The person's rows and user (only the key for a person not mapped).
    pub person: PersonOutcome,
    /// The user's `<user>` element and its content hash.
    pub rendered: Option<Result<(Vec<u8>, ContentHash), WriteError>>,
    /// The hash of the person's input rows (`None` when one could not be read).
    pub raw: Option<u64>,
    /// Not mapped, because the run state's probe said their rows are unchanged: how many
    /// rows they have.
    pub unmapped: Option<usize>,
    /// The user's payload packed for the run state (someone it does not know yet).
    pub packed: Option<PackedPayload>,
    /// Where the run state's index has the user's item (looked up here, so that the pass
    /// does not look it up again).
    pub located: Option<Located>,
}

/// `user` rendered as sent, with its content hash (carrying the SHA-256 of the same bytes
/// when `sha256`: see [`SkipProbe::wants_sha256`]).
pub fn render(user: &User, sha256: bool) -> Result<(Vec<u8>, ContentHash), WriteError> {
    let mut xml = Vec::with_capacity(4096);
    let hash = if sha256 {
        ContentHash::render_user_with_sha256(user, &mut xml)?
    } else {
        ContentHash::render_user(user, &mut xml)?
    };
    Ok((xml, hash))
}

/// The person's user, to be rendered: none outside `only` (everyone when empty), who are not
/// sent.
fn wanted<'u>(person: &'u PersonOutcome, only: &[String]) -> Option<&'u User> {
    person
        .user
        .as_ref()
        .filter(|m| only.is_empty() || only.iter().any(|id| id == &m.user.primary_id))
        .map(|m| &*m.user)
}

/// Time the extract threads spent, per step.
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadBusy {
    /// Mapping people.
    pub map: Duration,
    /// Rendering and hashing users.
    pub serialize: Duration,
}

/// Maps every person on one thread of the scope and renders the users among `only` (everyone
/// when empty) on another, so the two steps and the pass share the cores; the handle returns
/// the time both spent. The threads stop early when the receiver is dropped.
///
/// With a `probe`, a person whose rows the run state has with the same hash is not mapped
/// (nor rendered): they come with `unmapped` set, for the run state to take as unchanged;
/// with a `packer`, the payload of someone the run state does not know is packed on the
/// rendering thread.
pub fn spawn<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    extractor: &'env Extractor<'env>,
    only: &'env [String],
    probe: Option<SkipProbe>,
    mut packer: Option<PayloadPacker>,
) -> (
    Receiver<Vec<Prepared>>,
    ScopedJoinHandle<'scope, ThreadBusy>,
) {
    let (mapped_tx, mapped_rx) = sync_channel::<Vec<Visit>>(QUEUE);
    let (tx, rx) = sync_channel(QUEUE);
    let known = probe.clone();
    // Items recorded with a SHA-256 are compared with users hashed with it too, here.
    let sha256 = probe.as_ref().is_some_and(SkipProbe::wants_sha256);
    let mapper = scope.spawn(move || {
        let mut busy = Duration::ZERO;
        let mut people = extractor.people_unless(move |key, raw| {
            probe
                .as_ref()
                .is_some_and(|p| p.may_skip(key, RawHash(raw)))
        });
        loop {
            let start = Instant::now();
            let batch: Vec<Visit> = people.by_ref().take(BATCH).collect();
            busy += start.elapsed();
            if batch.is_empty() || mapped_tx.send(batch).is_err() {
                break;
            }
        }
        busy
    });
    let handle = scope.spawn(move || {
        let mut serialize = Duration::ZERO;
        for batch in mapped_rx {
            let start = Instant::now();
            // The items are looked up here, off the pass's main thread (the busier one), for
            // the run state: the whole batch's together.
            let mut located = match &known {
                Some(probe) => probe.locate_all(batch.iter().map(|visit| match visit {
                    Visit::Mapped { person, .. } => wanted(person, only),
                    Visit::Skipped { .. } => None,
                })),
                None => Vec::new(),
            }
            .into_iter();
            let prepared: Vec<Prepared> = batch
                .into_iter()
                .map(|visit| match visit {
                    Visit::Mapped { person, raw } => {
                        let rendered = wanted(&person, only).map(|user| render(user, sha256));
                        // New people are packed here too (packing costs a few microseconds a
                        // user).
                        let found = located.next().flatten();
                        let located = found.filter(|_| matches!(rendered, Some(Ok(_))));
                        let new = located.is_some_and(|l| !l.is_known());
                        let packed = match (&mut packer, &rendered) {
                            (Some(packer), Some(Ok((xml, _)))) if new => packer.pack(xml),
                            _ => None,
                        };
                        Prepared {
                            person,
                            rendered,
                            raw,
                            unmapped: None,
                            packed,
                            located,
                        }
                    }
                    // `raw` is `None` for someone skipped before the pass
                    // (`Extractor::settle_skips`): the run state compares the hash it has.
                    Visit::Skipped { key, rows, raw } => {
                        located.next();
                        Prepared {
                            person: PersonOutcome {
                                key,
                                unconfirmed_key: None,
                                rows: Vec::new(),
                                user: None,
                                trace: Vec::new(),
                                warnings: Vec::new(),
                            },
                            rendered: None,
                            raw,
                            unmapped: Some(rows),
                            packed: None,
                            located: None,
                        }
                    }
                })
                .collect();
            serialize += start.elapsed();
            if tx.send(prepared).is_err() {
                break;
            }
        }
        // The mapper stops at its next send once this thread has dropped its queue.
        let map = mapper
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        ThreadBusy { map, serialize }
    });
    (rx, handle)
}
