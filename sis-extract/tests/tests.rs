//! Integration tests of `sis-extract`: one module per behaviour.
#![allow(missing_docs)]

mod config_errors;
mod dates;
mod demo;
mod fields;
mod groups;
mod identity;
mod laws;
mod merge;
mod readers;
mod rules;
mod stream;
mod support;
mod text;
