//! How far a run is, and what it says to the person who started it. The pipeline names each
//! stage for a person (reading the extract, mapping and checking, compressing, delivering)
//! and counts what it does; at its end it has a one-screen summary (and a course run its
//! findings). A [`Progress`] observer, passed in the [`crate::Context`], shows them: the
//! binary draws bars on a terminal and prints the summary on stdout and findings on stderr;
//! a tool that runs the pipeline gets nothing ([`Hidden`]) unless it passes its own. The
//! library itself never prints.

use indicatif::ProgressBar;

/// What a stage counts, for its rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Rows of the extract.
    Rows,
    /// Bytes (uploads).
    Bytes,
}

/// Who is told how far each stage is. A stage's handle is an `indicatif` bar the pipeline
/// moves (`inc`, `set_position`, `set_message`); a hidden bar shows nothing.
pub trait Progress: Send + Sync {
    /// A stage begins: `len` units of `unit` when its size is known (`None`: of unknown size).
    fn start(&self, stage: &str, len: Option<u64>, unit: Unit) -> ProgressBar;

    /// A stage ended, having done `what` (counted in `unit` when its bar counted).
    fn done(&self, bar: &ProgressBar, what: &str, unit: Unit);

    /// What the run says when it ends, for the person who started it (lines, each ending in
    /// a newline): the summary. Not said with `Context::quiet`. Dropped by default.
    fn say(&self, _text: &str) {}

    /// A finding or a hint worth a person's attention now (lines, each ending in a newline);
    /// it is in the report files too. Dropped by default.
    fn warn(&self, _text: &str) {}
}

impl dyn Progress + '_ {
    /// A stage counting `len` rows.
    pub fn rows(&self, len: u64, stage: &str) -> ProgressBar {
        self.start(stage, Some(len), Unit::Rows)
    }

    /// A stage counting `len` bytes (uploads).
    pub fn bytes(&self, len: u64, stage: &str) -> ProgressBar {
        self.start(stage, Some(len), Unit::Bytes)
    }

    /// A stage of unknown size.
    pub fn spinner(&self, stage: &str) -> ProgressBar {
        self.start(stage, None, Unit::Rows)
    }
}

/// Shows nothing: the default for a tool that runs the pipeline.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hidden;

impl Progress for Hidden {
    fn start(&self, _stage: &str, _len: Option<u64>, _unit: Unit) -> ProgressBar {
        ProgressBar::hidden()
    }

    fn done(&self, _bar: &ProgressBar, _what: &str, _unit: Unit) {}
}

/// `1,234,567`.
pub fn count(n: u64) -> String {
    indicatif::HumanCount(n).to_string()
}
