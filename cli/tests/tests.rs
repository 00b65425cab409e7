//! Integration tests of the `alma-sis` command.
#![allow(missing_docs)]

mod alerts;
#[cfg(not(target_env = "msvc"))]
mod allocator;
mod check;
mod config_reference;
mod courses;
mod database;
mod deliver;
mod delta_skip;
mod demo;
mod explain;
mod extract;
mod getting_started;
mod golden;
mod help;
mod integrity;
mod messages;
mod package;
mod pg_server;
mod plan;
mod progress;
mod report;
mod signals;
mod site;
mod state;
mod state_safety;
mod support;
mod trend;
mod vanished;
