//! The codes of the run report's own warnings: about the run, its inputs as files, the work
//! directory and the destination. Findings about records are `alma_sis_package::check::codes`,
//! graded by what Alma does with them; these are not Alma's business. Each is explained in
//! `docs/troubleshooting.md` (a test holds it to that), and `[[alert]] codes` picks from
//! both.

/// The config file may be read by others.
pub const CONFIG_MODE: &str = "W-CONFIG-MODE";
/// The state file recorded no owner and was adopted.
pub const STATE_ADOPTED: &str = "W-STATE-ADOPTED";
/// A warning about an input file or query (e.g. its password file's mode).
pub const INPUT: &str = "W-INPUT";
/// Rows were decoded with the configured fallback encoding.
pub const ENCODING_FALLBACK: &str = "W-ENCODING-FALLBACK";
/// Rows could not be read: nobody was treated as vanished.
pub const EXTRACT_INCOMPLETE: &str = "W-EXTRACT-INCOMPLETE";
/// An earlier run was killed before it finished.
pub const RUN_KILLED: &str = "W-RUN-KILLED";
/// A delivery failed transiently and was tried again.
pub const DELIVERY_RETRY: &str = "W-DELIVERY-RETRY";
/// Unfinished zips of an interrupted earlier run were removed from the work directory.
pub const LEFTOVER_PARTIAL: &str = "W-LEFTOVER-PARTIAL";
/// Zips did not reach the destination.
pub const NOT_DELIVERED: &str = "W-NOT-DELIVERED";
/// Earlier zips Alma has not processed wait in the destination.
pub const STALE_ZIP: &str = "W-STALE-ZIP";
/// Earlier zips Alma had not processed were archived.
pub const STALE_ARCHIVED: &str = "W-STALE-ARCHIVED";
/// Temporary files of an interrupted earlier delivery were removed from the destination.
pub const LEFTOVER_TEMP: &str = "W-LEFTOVER-TEMP";
/// A file that is not a zip is in the destination.
pub const OTHER_FILE: &str = "W-OTHER-FILE";
/// Users sent with a purge date sooner than the minimum.
pub const PURGE_SOON: &str = "W-PURGE-SOON";
/// An `--only` id names someone the run does not send (filtered or rejected).
pub const ONLY_NOT_SENT: &str = "W-ONLY-NOT-SENT";
/// The `[purge]` rules changed since the last complete run: everyone mapped is sent again.
pub const PURGE_RULES_CHANGED: &str = "W-PURGE-RULES-CHANGED";

/// Every code above.
pub const RUN_WARNINGS: [&str; 16] = [
    CONFIG_MODE,
    STATE_ADOPTED,
    INPUT,
    ENCODING_FALLBACK,
    EXTRACT_INCOMPLETE,
    RUN_KILLED,
    DELIVERY_RETRY,
    LEFTOVER_PARTIAL,
    NOT_DELIVERED,
    STALE_ZIP,
    STALE_ARCHIVED,
    LEFTOVER_TEMP,
    OTHER_FILE,
    PURGE_SOON,
    ONLY_NOT_SENT,
    PURGE_RULES_CHANGED,
];
