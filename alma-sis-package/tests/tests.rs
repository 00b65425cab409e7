//! Integration tests of `alma-sis-package`.
#![allow(missing_docs)]

mod check;
mod determinism;
mod names;
mod packager;
mod plan;
mod properties;
mod split;
mod support;
mod verify;
