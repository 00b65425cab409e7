//! Integration tests of `alma-sis-package`.
#![allow(missing_docs)]

mod check;
mod delivery;
mod determinism;
mod names;
mod packager;
mod properties;
mod split;
mod state;
mod state_files;
mod support;
mod vanished;
mod verify;
