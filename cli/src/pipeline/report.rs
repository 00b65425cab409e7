//! Stage 7: the run summary (and, later, report.json and report.html).

use alma_sis_package::PackagedFile;
use sis_extract::{Decision, RowOutcome};

use super::Run;
use crate::exit::Exit;

/// What a run did.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Every input row's outcome.
    pub rows: Vec<RowOutcome>,
    /// Users written into packages.
    pub users_written: usize,
    /// Packages written.
    pub packages: Vec<PackagedFile>,
    /// (destination, location) for every delivered file.
    pub deliveries: Vec<(String, String)>,
}

/// Row counts by decision.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RowCounts {
    /// Rows read.
    pub read: usize,
    /// Rows that became (part of) a written user.
    pub written: usize,
    /// Rows dropped by an eligibility rule.
    pub filtered: usize,
    /// Rows rejected.
    pub rejected: usize,
}

impl RunReport {
    /// Counts rows by decision; `read == written + filtered + rejected` always holds.
    pub fn row_counts(&self) -> RowCounts {
        let mut c = RowCounts {
            read: self.rows.len(),
            ..RowCounts::default()
        };
        for r in &self.rows {
            match r.decision {
                Decision::Written { .. } => c.written += 1,
                Decision::Filtered { .. } => c.filtered += 1,
                Decision::Rejected { .. } => c.rejected += 1,
            }
        }
        c
    }
}

/// Prints the one-screen summary and returns the exit status.
pub fn finish(run: &Run<'_>) -> anyhow::Result<Exit> {
    let r = &run.report;
    let c = r.row_counts();
    println!("alma-sis run {}", run.config.mapping.feed.name);
    println!("  rows read        {:>7}", c.read);
    println!(
        "  users written    {:>7}  (from {} rows)",
        r.users_written, c.written
    );
    println!("  rows filtered    {:>7}", c.filtered);
    println!("  rows rejected    {:>7}", c.rejected);
    for p in &r.packages {
        println!("  package          {}", p.path.display());
    }
    if r.deliveries.is_empty() {
        println!("  delivered        nothing (--dry-run)");
    }
    for (to, location) in &r.deliveries {
        println!("  delivered        {location} ({to})");
    }
    Ok(Exit::Ok)
}
