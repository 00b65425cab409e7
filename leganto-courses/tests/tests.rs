//! Tests of leganto-courses.
#![allow(missing_docs)]

mod delta;
mod mapping;
mod report;
mod scenario;
mod support;
mod validate;
mod write;
