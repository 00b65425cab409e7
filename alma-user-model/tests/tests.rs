//! Integration tests for alma-user-model: one binary, one module per behaviour.

mod builders;
mod clean_path;
mod fast_path;
mod golden;
mod reader;
mod roundtrip;
mod samples;
mod support;
mod validation;
mod writer;
