//! Integration tests of the `alma-sis` command.
#![allow(missing_docs)]

mod demo;
mod golden;
mod help;
mod support;
