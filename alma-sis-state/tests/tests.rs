//! Integration tests of `alma-sis-state`.
#![allow(missing_docs)]

mod delivery;
mod nights;
mod state;
mod state_files;
mod vanished;
