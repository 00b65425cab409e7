//! The plan's reports: a one-screen summary like `run`'s, `<stem>.plan.report.json`
//! (schema [`SCHEMA`]) and `<stem>.plan.report.html`, beside `<stem>.plan.people.csv` (one
//! line per person). Counts per outcome, per field changed, per reason and per what `run`
//! sends the vanished, each with a sample of ids; never a value of a field. Also the plan
//! as `run --plan-against` ([`before_run`]) and `explain --alma-export` ([`explain`]) use it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use alma_sis_package::check::CheckOptions;
use chrono::NaiveDate;
use sis_extract::Extractor;

use super::page::{esc, largest_first, table_of_counts, write_private};
use super::plan::{Bucket, PlanFailures, PlanInput, PlanReport, SAMPLE, VanishedSend, plan};
use super::report::{Run, report_paths};
use crate::config::AppConfig;
use crate::exit::Exit;

/// The `schema` value of the plan's `report.json`. Fields are only ever added within a
/// version; a renamed or removed field bumps it.
pub const SCHEMA: &str = "alma-sis.plan-report/1";

/// What a plan report describes besides the [`PlanReport`].
pub struct PlanContext<'a> {
    /// `plan` or `run --plan-against`.
    pub command: &'static str,
    /// Feed name.
    pub feed: &'a str,
    /// Institution code.
    pub institution: &'a str,
    /// When (RFC 3339).
    pub now: String,
    /// The config file.
    pub config_path: &'a Path,
    /// The config's sha256.
    pub config_sha256: &'a str,
    /// The work directory.
    pub work_dir: &'a Path,
    /// The export paths as given.
    pub export: &'a [PathBuf],
    /// The people file.
    pub people: Option<&'a Path>,
}

/// The outcomes in report order, with what each means.
pub const OUTCOMES: [(&str, &str); 5] = [
    ("new", "new in Alma (no Alma user has the match id)"),
    ("update", "updated (Alma changes the fields listed)"),
    ("unchanged", "unchanged (Alma would change nothing)"),
    ("will_fail", "will fail (Alma rejects them)"),
    (
        "quarantined",
        "quarantined by check (run does not send them)",
    ),
];

/// What each reason code means, in one line.
pub fn reason_text(code: &str) -> &'static str {
    use alma_sis_package::plan::codes;
    match code {
        codes::ID_TAKEN => "an identifier is held by another Alma user",
        codes::NOT_EXTERNAL => "Alma's user is internal (\"User is not external\")",
        codes::SHARED_MATCH_ID => "two Alma users share the match id",
        codes::MATCH_ID_CHANGED => "the match id changed: Alma holds the person under the old one",
        _ => "",
    }
}

fn ids(b: &Bucket, n: usize) -> String {
    let shown: Vec<&str> = b.sample.iter().take(n).map(String::as_str).collect();
    let more = if b.count as usize > shown.len() {
        ", ..."
    } else {
        ""
    };
    format!("e.g. {}{more}", shown.join(", "))
}

/// Lines under a count: the largest first, at most six.
fn breakdown<'a>(
    s: &mut String,
    items: impl IntoIterator<Item = (String, &'a Bucket)>,
    with_ids: bool,
) {
    let mut items: Vec<(String, &Bucket)> = items.into_iter().collect();
    items.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
    const SHOWN: usize = 6;
    for (name, b) in items.iter().take(SHOWN) {
        if with_ids {
            let _ = writeln!(s, "    {:>7}  {name}  ({})", b.count, ids(b, 3));
        } else {
            let _ = writeln!(s, "    {:>7}  {name}", b.count);
        }
    }
    if items.len() > SHOWN {
        let _ = writeln!(
            s,
            "             and {} more (see the report)",
            items.len() - SHOWN
        );
    }
}

/// The one-screen summary.
pub fn summary(ctx: &PlanContext<'_>, r: &PlanReport, exit: Exit, reports: &[&Path]) -> String {
    let mut s = String::new();
    let c = &r.coverage;
    let _ = writeln!(
        s,
        "alma-sis {} {} ({}) at {}: {}",
        ctx.command,
        ctx.feed,
        ctx.institution,
        super::page::readable(&ctx.now),
        exit.name()
    );
    let _ = writeln!(
        s,
        "  Alma export      {} document(s), {} users: {} external, {} internal",
        c.documents.len(),
        c.users,
        c.external,
        c.internal
    );
    let groups = if r.groups.is_empty() {
        "every group".to_owned()
    } else {
        r.groups.join(", ")
    };
    let _ = writeln!(
        s,
        "  match id         {} ({} external users of the profile's groups: {groups})",
        r.match_id, c.in_groups
    );
    if c.without_match_id > 0 {
        let _ = writeln!(
            s,
            "  without match id {:>7}  Alma users without a {}: no load can match them",
            c.without_match_id, r.match_id
        );
    }
    let rows = r.rows.row_counts();
    let _ = writeln!(s, "  rows read        {:>7}", rows.read);
    let _ = writeln!(
        s,
        "  users mapped     {:>7}  (from {} rows)",
        r.users, rows.written
    );
    let _ = writeln!(s, "  rows filtered    {:>7}", rows.filtered);
    super::page::breakdown(&mut s, r.rows.filtered_by_rule(), "rules");
    let _ = writeln!(s, "  rows rejected    {:>7}", rows.rejected);
    super::page::breakdown(&mut s, r.rows.rejected_by_code(), "codes");
    for (name, _) in OUTCOMES {
        let n = r.outcome(name);
        let label = name.replace('_', " ");
        let _ = writeln!(s, "  {label:<16} {n:>7}");
        match name {
            "update" => breakdown(&mut s, r.fields.iter().map(|(k, b)| (k.clone(), b)), false),
            "will_fail" => breakdown(
                &mut s,
                r.reasons.iter().map(|(k, b)| ((*k).to_owned(), b)),
                true,
            ),
            _ => {}
        }
    }
    let _ = writeln!(
        s,
        "  vanished         {:>7}  (external users of the profile's groups, in Alma, not matched)",
        r.vanished_count()
    );
    breakdown(
        &mut s,
        r.vanished.iter().map(|(k, b)| (k.text().to_owned(), b)),
        true,
    );
    if let Some(people) = ctx.people {
        let _ = writeln!(s, "  people           {}", people.display());
    }
    for path in reports {
        let _ = writeln!(s, "  report           {}", path.display());
    }
    s
}

#[derive(Serialize)]
struct Named<'a> {
    name: &'a str,
    count: u64,
    sample: &'a [String],
    #[serde(skip_serializing_if = "str::is_empty")]
    meaning: &'a str,
}

#[derive(Serialize)]
struct JsonGroup<'a> {
    name: &'a str,
    external: u64,
    internal: u64,
}

fn named<'a>(items: impl IntoIterator<Item = (&'a str, &'a Bucket, &'a str)>) -> Vec<Named<'a>> {
    items
        .into_iter()
        .map(|(name, b, meaning)| Named {
            name,
            count: b.count,
            sample: &b.sample,
            meaning,
        })
        .collect()
}

/// `report.json`: pretty-printed, keys in a fixed order, one trailing newline.
pub fn json(ctx: &PlanContext<'_>, r: &PlanReport, exit: Exit) -> String {
    let c = &r.coverage;
    let rows = r.rows.row_counts();
    let empty = Bucket::default();
    let outcomes: Vec<Named<'_>> = named(
        OUTCOMES
            .iter()
            .map(|(name, text)| (*name, r.outcomes.get(name).unwrap_or(&empty), *text)),
    );
    let groups: Vec<JsonGroup<'_>> = c
        .groups
        .iter()
        .map(|(name, g)| JsonGroup {
            name,
            external: g.external,
            internal: g.internal,
        })
        .collect();
    let filtered: Vec<serde_json::Value> = r
        .rows
        .filtered_by_rule()
        .into_iter()
        .map(|(name, count)| serde_json::json!({ "name": name, "count": count }))
        .collect();
    let rejected: Vec<serde_json::Value> = r
        .rows
        .rejected_by_code()
        .into_iter()
        .map(|(name, count)| serde_json::json!({ "name": name, "count": count }))
        .collect();
    let json = serde_json::json!({
        "schema": SCHEMA,
        "tool": { "name": "alma-sis", "version": env!("CARGO_PKG_VERSION") },
        "command": ctx.command,
        "feed": ctx.feed,
        "institution": ctx.institution,
        "started_at": ctx.now,
        "config": {
            "path": ctx.config_path.display().to_string(),
            "sha256": ctx.config_sha256,
            "work_dir": ctx.work_dir.display().to_string(),
        },
        "match_id": r.match_id,
        "profile_groups": r.groups,
        "export": {
            "paths": ctx.export.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "documents": c.documents,
            "skipped": c.skipped,
            "users": c.users,
            "repeated": c.repeated,
            "external": c.external,
            "internal": c.internal,
            "in_profile_groups": c.in_groups,
            "without_match_id": c.without_match_id,
            "groups": groups,
        },
        "outcome": { "exit_code": exit.code(), "status": exit.name() },
        "counts": {
            "rows_read": rows.read,
            "rows_written": rows.written,
            "rows_filtered": rows.filtered,
            "rows_rejected": rows.rejected,
            "users_mapped": r.users,
            "new": r.outcome("new"),
            "update": r.outcome("update"),
            "unchanged": r.outcome("unchanged"),
            "will_fail": r.outcome("will_fail"),
            "quarantined": r.outcome("quarantined"),
            "vanished": r.vanished_count(),
        },
        "outcomes": outcomes,
        "fields_changed": named(r.fields.iter().map(|(k, b)| (k.as_str(), b, ""))),
        "reasons": named(r.reasons.iter().map(|(k, b)| (*k, b, reason_text(k)))),
        "vanished": named(r.vanished.iter().map(|(k, b)| (k.name(), b, k.text()))),
        "filtered_by_rule": filtered,
        "rejected_by_code": rejected,
        "sample_size": SAMPLE,
        "people_file": ctx.people.map(|p| p.display().to_string()),
    });
    // Serializing plain values cannot fail.
    let mut text = serde_json::to_string_pretty(&json).unwrap_or_default();
    text.push('\n');
    text
}

fn bucket_table(s: &mut String, head: &str, rows: &[(String, &Bucket, &str)], empty: &str) {
    if rows.is_empty() {
        let _ = writeln!(s, "<p class=\"none\">{}</p>", esc(empty));
        return;
    }
    let _ = writeln!(
        s,
        "<table><tr><th>{}</th><th class=\"n\">count</th><th>for example</th></tr>",
        esc(head)
    );
    for (name, b, meaning) in rows {
        let meaning = if meaning.is_empty() {
            String::new()
        } else {
            format!("<br><span class=\"none\">{}</span>", esc(meaning))
        };
        let sample: Vec<String> = b.sample.iter().map(|id| esc(id)).collect();
        let _ = writeln!(
            s,
            "<tr><td>{}{meaning}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(name),
            b.count,
            sample.join(", ")
        );
    }
    s.push_str("</table>\n");
}

/// `report.html`: one self-contained page.
pub fn html(ctx: &PlanContext<'_>, r: &PlanReport, exit: Exit) -> String {
    let c = &r.coverage;
    let title = format!("alma-sis plan {} ({})", ctx.feed, ctx.institution);
    let mut s = super::page::page_head(&title, &ctx.now, ctx.config_sha256);
    let verdict = if r.will_fail() > 0 {
        "some users will fail in Alma"
    } else {
        "nothing will fail in Alma"
    };
    let _ = writeln!(
        s,
        "<p><span class=\"status s{}\">{} (exit {})</span> {verdict}</p>",
        exit.code(),
        esc(exit.name()),
        exit.code()
    );
    s.push_str("<h2>What Alma will do</h2>\n<div class=\"cards\">\n");
    for (name, _) in OUTCOMES {
        let _ = writeln!(
            s,
            "<div class=\"card\"><b>{}</b>{}</div>",
            r.outcome(name),
            name.replace('_', " ")
        );
    }
    let _ = writeln!(
        s,
        "<div class=\"card\"><b>{}</b>vanished</div>\n</div>",
        r.vanished_count()
    );
    let outcomes: Vec<(String, &Bucket, &str)> = OUTCOMES
        .iter()
        .filter_map(|(name, text)| Some(((*text).to_owned(), r.outcomes.get(name)?, "")))
        .collect();
    bucket_table(&mut s, "outcome", &outcomes, "No user was mapped.");

    s.push_str("<h2>Will fail, by reason</h2>\n");
    let mut reasons: Vec<(String, &Bucket, &str)> = r
        .reasons
        .iter()
        .map(|(k, b)| ((*k).to_owned(), b, reason_text(k)))
        .collect();
    reasons.sort_by_key(|b| std::cmp::Reverse(b.1.count));
    bucket_table(&mut s, "reason", &reasons, "Nothing will fail.");

    s.push_str("<h2>Updates, by field</h2>\n");
    let mut fields: Vec<(String, &Bucket, &str)> =
        r.fields.iter().map(|(k, b)| (k.clone(), b, "")).collect();
    fields.sort_by_key(|b| std::cmp::Reverse(b.1.count));
    bucket_table(&mut s, "field", &fields, "No field changes.");
    s.push_str(
        "<p>A field marked <i>removed</i> is a segment Alma has (external) and this load does \
         not send: swap-all deletes it, also when staff typed it in. <i>cleared</i>: a core \
         field this load leaves empty. Protected fields this load leaves empty are kept.</p>\n",
    );

    s.push_str("<h2>In Alma, not matched by this load</h2>\n");
    let vanished: Vec<(String, &Bucket, &str)> = r
        .vanished
        .iter()
        .map(|(k, b): (&VanishedSend, &Bucket)| (k.text().to_owned(), b, ""))
        .collect();
    bucket_table(&mut s, "what run sends them", &vanished, "None.");

    s.push_str("<h2>Rows</h2>\n");
    let rows = r.rows.row_counts();
    let _ = writeln!(
        s,
        "<p>{} rows read: {} became {} users, {} filtered, {} rejected.</p>",
        rows.read, rows.written, r.users, rows.filtered, rows.rejected
    );
    s.push_str("<h3>Filtered by rule</h3>\n");
    let by_rule: Vec<(String, usize)> = largest_first(r.rows.filtered_by_rule());
    table_of_counts(&mut s, "filtered by rule", &by_rule, "No row was filtered.");
    s.push_str("<h3>Rejected by code</h3>\n");
    let by_code: Vec<(String, usize)> = largest_first(r.rows.rejected_by_code());
    table_of_counts(&mut s, "rejected by code", &by_code, "No row was rejected.");

    s.push_str("<h2>The export</h2>\n");
    let _ = writeln!(
        s,
        "<p>{} users ({} external, {} internal; {} external users of the profile's groups; \
         {} without the match id <code>{}</code>; {} records repeated).</p>",
        c.users,
        c.external,
        c.internal,
        c.in_groups,
        c.without_match_id,
        esc(&r.match_id),
        c.repeated
    );
    let groups: Vec<(String, usize)> = c
        .groups
        .iter()
        .map(|(k, g)| (k.clone(), (g.external + g.internal) as usize))
        .collect();
    s.push_str("<h3>Users by group</h3>\n");
    table_of_counts(&mut s, "user group", &groups, "No user.");
    s.push_str("<h3>Documents read</h3>\n");
    s.push_str("<table><tr><th>document</th><th class=\"n\">users</th></tr>\n");
    for d in &c.documents {
        let name = match &d.entry {
            Some(e) => format!("{}!{e}", d.file),
            None => d.file.clone(),
        };
        let _ = writeln!(
            s,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td></tr>",
            esc(&name),
            d.users
        );
    }
    s.push_str("</table>\n");
    if let Some(people) = ctx.people {
        let _ = writeln!(
            s,
            "<p>Every person's line: <code>{}</code>.</p>",
            esc(&people.display().to_string())
        );
    }
    s.push_str("</body>\n</html>\n");
    s
}

/// The `alma` section of `explain <id> --alma-export`: what the plan says about the person
/// (its first word is the outcome, as the people file names it; `nothing` when the plan has
/// nothing on them).
pub fn explain_section(r: &PlanReport) -> String {
    use alma_sis_package::plan::Outcome;

    use super::plan::PersonPlan;

    let c = &r.coverage;
    let mut s = format!(
        "\nalma (export: {} document(s), {} users; match id {})\n",
        c.documents.len(),
        c.users,
        r.match_id
    );
    let Some(focus) = &r.focus else {
        s.push_str(
            "  nothing: this load sends no user for them, and no external Alma user of the \
             profile's groups has this primary id\n",
        );
        return s;
    };
    match focus {
        PersonPlan::Compared { verdict, .. } => {
            let alma = verdict.alma_user.as_deref().unwrap_or("");
            match &verdict.outcome {
                Outcome::New => {
                    let _ = writeln!(
                        s,
                        "  new: no Alma user has this {}; Alma adds the user",
                        r.match_id
                    );
                }
                Outcome::Unchanged => {
                    let _ = writeln!(
                        s,
                        "  unchanged: Alma user {alma} would not change (a delta run need not \
                         send them)"
                    );
                }
                Outcome::Update(changes) => {
                    let _ = writeln!(
                        s,
                        "  update: Alma user {alma} changes, {} difference(s)",
                        changes.len()
                    );
                    for change in changes {
                        let field = match &change.segment_type {
                            Some(t) => format!("{} [{t}]", change.field),
                            None => change.field.clone(),
                        };
                        let _ = writeln!(s, "    {field:<48} {}", change.kind.word());
                    }
                }
                Outcome::WillFail(f) => {
                    let _ = writeln!(s, "  will fail {}: {}", f.reason.code(), f.message);
                }
            }
        }
        PersonPlan::Quarantined { codes, .. } => {
            let _ = writeln!(
                s,
                "  quarantined {}: the check holds the user back; run does not send it",
                codes.join(" ")
            );
        }
        PersonPlan::Vanished {
            primary_id,
            user_group,
            send,
            dates,
        } => {
            let _ = writeln!(
                s,
                "  vanished {}: Alma user {primary_id} (external, group {}) is not matched by \
                 this load; {}",
                send.name(),
                user_group.as_deref().unwrap_or("none"),
                send.text()
            );
            if let Some((expiry, purge)) = dates {
                let date = |d: &Option<chrono::NaiveDate>| {
                    d.map_or_else(|| "none".to_owned(), |d| d.to_string())
                };
                let _ = writeln!(
                    s,
                    "    expiry date {}, purge date {}",
                    date(expiry),
                    date(purge)
                );
            }
        }
    }
    s
}

/// Writes `<stem>.plan.report.json` and `.html` (mode 0600); returns the paths written.
pub fn write_reports(
    ctx: &PlanContext<'_>,
    report: &PlanReport,
    exit: Exit,
    stem: &str,
) -> Vec<PathBuf> {
    let (json_path, html_path) = report_paths(ctx.work_dir, &format!("{stem}.plan"));
    let json = json(ctx, report, exit);
    let html = html(ctx, report, exit);
    let mut written = Vec::new();
    for (path, contents) in [(json_path, json), (html_path, html)] {
        match write_private(&path, contents.as_bytes()) {
            Ok(()) => written.push(path),
            Err(e) => tracing::error!("cannot write the plan report {}: {e}", path.display()),
        }
    }
    written
}

/// The `alma` section `explain` prints.
#[derive(Debug, Clone, Default)]
pub struct AlmaSection {
    /// The section.
    pub text: String,
    /// Whether the plan has the person (a user of the load or an Alma user).
    pub found: bool,
}

/// `explain <id> --alma-export PATH...`: the plan's section on one person (the whole plan
/// runs, so it says what `plan` says); `None` without export paths.
pub fn explain(
    config: &AppConfig,
    today: NaiveDate,
    id: &str,
    export: &[PathBuf],
) -> anyhow::Result<Option<AlmaSection>> {
    if export.is_empty() {
        return Ok(None);
    }
    config.output.ensure_dir()?;
    let extractor = super::extract::extractor(config, today, false)?;
    let check_options = config.check.options(&config.base_dir)?;
    let input = PlanInput {
        export,
        focus: Some(id),
        people: None,
    };
    let report = plan(config, &extractor, &check_options, today, &input)?;
    Ok(Some(AlmaSection {
        text: explain_section(&report),
        found: report.focus.is_some(),
    }))
}

/// `run --plan-against`: the plan of this run's extract, its reports beside the run's, a
/// line in the run's report; returns the users that will fail, for the quarantine.
pub fn before_run(
    run: &mut Run<'_>,
    extractor: &Extractor<'_>,
    check_options: &CheckOptions,
) -> anyhow::Result<PlanFailures> {
    let config = run.config;
    let dir = config.output.dir.clone();
    let people = dir.join(format!("{}.plan.people.csv", run.stem));
    let input = PlanInput {
        export: &run.args.plan_against,
        focus: None,
        people: Some(people.clone()),
    };
    let mut report = plan(config, extractor, check_options, run.today, &input)?;
    let exit = report.exit();
    let feed = &config.mapping.feed;
    let ctx = PlanContext {
        command: "run --plan-against",
        feed: &feed.name,
        institution: &feed.institution,
        now: run.ctx.now.to_rfc3339(),
        config_path: &config.path,
        config_sha256: &config.hash,
        work_dir: &dir,
        export: &run.args.plan_against,
        people: Some(&people),
    };
    let reports = write_reports(&ctx, &report, exit, &run.stem);
    let failures = std::mem::take(&mut report.failures);
    if !failures.is_empty() {
        tracing::warn!(
            users = failures.len(),
            "users that will fail in Alma are quarantined (--plan-against)"
        );
    }
    run.report.plan = Some(super::report::PlanLine {
        new: report.outcome("new"),
        update: report.outcome("update"),
        unchanged: report.outcome("unchanged"),
        will_fail: report.will_fail(),
        quarantined: report.outcome("quarantined"),
        vanished: report.vanished_count(),
        reports,
    });
    Ok(failures)
}
