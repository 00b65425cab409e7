//! Integration tests of `sftp-deliver`: the drop folder, and SFTP against a real OpenSSH sshd.
#![allow(missing_docs, clippy::print_stderr)]

mod drop_folder;
mod rules;
mod sftp;
mod support;
