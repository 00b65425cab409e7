//! The help text that several commands share: the exit codes.

macro_rules! exit_codes {
    () => {
        "\
Exit codes:
  0  ok
  1  findings or rejects above the configured threshold
  2  config or input error
  3  delivery failed (or only some zips arrived: the report lists them)
  4  brake tripped (the extract looks implausible; see --force)
  5  state busy (another run held the state file or the feed's lock past state.lock_wait_secs)
  130/143  stopped by SIGINT/SIGTERM at a safe point (report status \"interrupted\")"
    };
}

pub(crate) const EXIT_CODES: &str = exit_codes!();

pub(crate) const TOP_LONG_HELP: &str = concat!(
    exit_codes!(),
    "

Every `run` writes <institution>_<feed>_<time>_r<run>.report.html (for people) and .report.json
(for machines) into the work directory ([output] dir). Logs at the default level carry ids, never
names. Start with `alma-sis init`; see docs/getting-started.md and docs/scheduling.md."
);
