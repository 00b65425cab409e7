//! Exit codes, as documented in `alma-sis --help`.

use std::fmt;
use std::process::ExitCode;

/// The documented outcomes of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Exit {
    /// 0: everything went as planned.
    #[default]
    Ok,
    /// 1: findings or rejects above the configured threshold.
    Findings,
    /// 2: the config or the input could not be used.
    ConfigOrInput,
    /// 3: delivery failed.
    DeliveryFailed,
    /// 4: the brake tripped: the extract looks implausible.
    BrakeTripped,
    /// 5: the state file or the feed's lock stayed busy (another run) past the wait allowed.
    StateBusy,
    /// 130: stopped by SIGINT (Ctrl-C) at a safe point.
    Interrupted,
    /// 143: stopped by SIGTERM at a safe point.
    Terminated,
}

impl Exit {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Findings => 1,
            Exit::ConfigOrInput => 2,
            Exit::DeliveryFailed => 3,
            Exit::BrakeTripped => 4,
            Exit::StateBusy => 5,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
        }
    }

    /// A short stable name, used in the run report.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Findings => "findings",
            Exit::ConfigOrInput => "config-or-input-error",
            Exit::DeliveryFailed => "delivery-failed",
            Exit::BrakeTripped => "brake-tripped",
            Exit::StateBusy => "state-busy",
            Exit::Interrupted | Exit::Terminated => "interrupted",
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// An error tagged with the exit code it should produce.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// What went wrong, for people.
    pub message: String,
    /// The work directory cannot be written, so neither can the run report: the error is
    /// said once, without a report.
    pub unwritable_work_dir: bool,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl Failure {
    /// An error with a given exit code.
    pub fn error(exit: Exit, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Failure {
            exit,
            message: message.into(),
            unwritable_work_dir: false,
        })
    }

    /// The work directory cannot be written (exit 2).
    pub fn unwritable_work_dir(message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Failure {
            exit: Exit::ConfigOrInput,
            message: message.into(),
            unwritable_work_dir: true,
        })
    }
}

/// Whether `err` says the work directory cannot be written.
pub fn is_unwritable_work_dir(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|c| c.downcast_ref::<Failure>())
        .any(|f| f.unwritable_work_dir)
}

/// The exit code for an error: the tagged one, else 2 (config or input error).
pub fn exit_code_of(err: &anyhow::Error) -> Exit {
    err.chain()
        .find_map(|c| c.downcast_ref::<Failure>())
        .map_or(Exit::ConfigOrInput, |f| f.exit)
}
