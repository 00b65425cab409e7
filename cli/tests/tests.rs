//! Integration tests of the `alma-sis` command.
#![allow(missing_docs)]

mod check;
mod config_reference;
mod courses;
mod deliver;
mod demo;
mod explain;
mod extract;
mod golden;
mod help;
mod package;
mod report;
mod state;
mod support;
