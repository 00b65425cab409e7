//! `cargo xtask bench --database`: the same nightly full load read from a PostgreSQL query
//! instead of a CSV file.
//!
//! For each size it generates the extract (`gen-extract`, seed 42), starts a throwaway
//! PostgreSQL cluster (as the tests do), copies the extract into a `people` table (text
//! columns and the extract's order), then runs the release binary twice over each source:
//! a night that seeds the run state, then the measured full night. It prints both runs' wall
//! time, their ratio, the `read` stage (for the query: fetching the rows in batches and
//! spooling them) and peak RSS, against issue 21's targets: the query run within 1.5 times the
//! CSV run, peak RSS within the run's 100 MB.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

#[path = "../../cli/tests/pg_server.rs"]
mod pg_server;

use crate::night::{Timings, fresh_extract, run_night, target_dir, write_bench_config};
use crate::synthetic::COLUMNS;

const PASSWORD: &str = "bench-only-password";

/// Runs the database benchmark for each size in `sizes` with the release binary `bin`.
pub fn bench_database(root: &Path, bin: &Path, sizes: &[u64]) -> anyhow::Result<()> {
    let Some(server) = pg_server::PgServer::start() else {
        bail!("PostgreSQL is not installed: apt-get install postgresql (or run `cargo xtask ci`)");
    };
    server.create_database("campus", "alma", PASSWORD);
    let demo_config = root.join("examples/demo/alma-sis.toml");
    for &rows in sizes {
        let (dir, extract) =
            fresh_extract(&target_dir(root).join(format!("bench-db/{rows}")), rows)?;
        load(&server, &extract)?;

        let csv_dir = dir.join("csv");
        std::fs::create_dir_all(&csv_dir)?;
        let csv_config = write_bench_config(&demo_config, &csv_dir, &extract)?;
        let db_dir = dir.join("query");
        std::fs::create_dir_all(&db_dir)?;
        let db_config = query_config(&write_bench_config(&demo_config, &db_dir, &extract)?)?;

        let night = |config: &Path, dir: &Path, now: &str, name: &str| {
            night(bin, config, dir, now, name, server.port)
        };
        night(&csv_config, &csv_dir, "2026-11-22T04:00:00Z", "initial")?;
        let (csv_wall, csv) = night(&csv_config, &csv_dir, "2026-11-23T04:00:00Z", "full")?;
        night(&db_config, &db_dir, "2026-11-22T04:00:00Z", "initial")?;
        let (db_wall, db) = night(&db_config, &db_dir, "2026-11-23T04:00:00Z", "full")?;

        let stage = |t: &Timings, name: &str| {
            t.stages
                .iter()
                .find(|(s, _)| s == name)
                .map_or(0.0, |(_, secs)| *secs)
        };
        let ratio = db_wall.as_secs_f64() / csv_wall.as_secs_f64();
        let peak_mb = db.peak_rss_kib as f64 / 1024.0;
        println!();
        println!(
            "== {rows} rows from a PostgreSQL query ({} users written)",
            db.users
        );
        println!(
            "CSV file    {:>8.2} s  read {:>6.2} s  peak RSS {:>6.1} MB",
            csv_wall.as_secs_f64(),
            stage(&csv, "read"),
            csv.peak_rss_kib as f64 / 1024.0
        );
        println!(
            "query       {:>8.2} s  read {:>6.2} s  peak RSS {:>6.1} MB  ({:.0} rows/s fetched and spooled)",
            db_wall.as_secs_f64(),
            stage(&db, "read"),
            peak_mb,
            rows as f64 / stage(&db, "read").max(1e-9)
        );
        if csv.users != db.users {
            bail!(
                "the query run wrote {} users, the CSV run {}",
                db.users,
                csv.users
            );
        }
        println!("targets (issue 21):");
        for (target, value, met) in [
            (
                "query run within 1.5x the CSV run",
                format!("{ratio:.2}x"),
                ratio <= 1.5,
            ),
            (
                "peak RSS at most 100 MB",
                format!("{peak_mb:.1} MB"),
                peak_mb <= 100.0,
            ),
        ] {
            let verdict = if met { "met" } else { "NOT met" };
            println!("  {target:<46} {value:>20}  {verdict}");
        }
    }
    Ok(())
}

/// Copies the extract into a fresh `people` table: every column text, `row_order` keeping the
/// extract's order.
fn load(server: &pg_server::PgServer, extract: &Path) -> anyhow::Result<()> {
    let mut client = server.client_as("alma", PASSWORD, "campus");
    let columns: Vec<String> = COLUMNS.iter().map(|c| format!("{c} text")).collect();
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS people; CREATE TABLE people (row_order bigint GENERATED ALWAYS \
         AS IDENTITY PRIMARY KEY, {})",
        columns.join(", ")
    ))?;
    let mut writer = client.copy_in(&format!(
        "COPY people ({}) FROM STDIN WITH (FORMAT csv, HEADER true)",
        COLUMNS.join(", ")
    ))?;
    let mut file = std::fs::File::open(extract)?;
    std::io::copy(&mut file, &mut writer)?;
    writer.finish()?;
    client.batch_execute("VACUUM ANALYZE people")?;
    Ok(())
}

/// The bench config with its first input read from the `people` table.
fn query_config(csv_config: &Path) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(csv_config)?;
    let mut table: toml::Table = toml::from_str(&text)?;
    let first = table
        .get_mut("input")
        .and_then(|v| v.as_array_mut())
        .and_then(|a| a.first_mut())
        .and_then(|v| v.as_table_mut())
        .context("the bench config has no [[input]]")?;
    first.remove("path");
    first.remove("delimiter");
    first.insert("name".into(), "people".into());
    first.insert(
        "query".into(),
        format!(
            "SELECT {} FROM people ORDER BY row_order",
            COLUMNS.join(", ")
        )
        .into(),
    );
    let mut database = toml::Table::new();
    for (key, value) in [
        ("host", "127.0.0.1"),
        ("user", "alma"),
        ("database", "campus"),
        ("password_env", "ALMA_SIS_BENCH_DB_PASSWORD"),
        ("sslmode", "disable"),
    ] {
        database.insert(key.into(), value.into());
    }
    first.insert("database".into(), toml::Value::Table(database));
    let path = csv_config.with_file_name("bench-query.toml");
    let mut file = std::fs::File::create(&path)?;
    file.write_all(toml::to_string(&table)?.as_bytes())?;
    Ok(path)
}

/// One night of `alma-sis run --mode full` in `dir`: wall time and the binary's timings.
fn night(
    bin: &Path,
    config: &Path,
    dir: &Path,
    now: &str,
    name: &str,
    port: u16,
) -> anyhow::Result<(Duration, Timings)> {
    let port = port.to_string();
    run_night(
        bin,
        dir,
        config,
        (now, "full", name),
        &[("PGPORT", &port), ("ALMA_SIS_BENCH_DB_PASSWORD", PASSWORD)],
    )
}
