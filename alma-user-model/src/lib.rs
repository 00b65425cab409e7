//! The Alma user record as `rest_user.xsd` defines it, written and read as Alma does.
//!
//! This crate is the contract between a campus feed and Alma's *Users* integration profile
//! (SIS import / synchronize): a typed [`User`] model, a streaming [`UserXmlWriter`] that
//! emits children in the schema's declaration order and refuses characters XML 1.0 forbids,
//! and the building blocks other Alma tools need.
//!
//! It must never do I/O of its own (it writes to any `io::Write` it is given), read the clock
//! or print.
//!
//! ```
//! use alma_user_model::{CodeValue, Email, User, UserXmlWriter, WriterOptions};
//! use chrono::NaiveDate;
//!
//! let mut user = User::new("jdoe");
//! user.first_name = Some("Jane".into());
//! user.last_name = Some("Doe".into());
//! user.user_group = Some(CodeValue::with_desc("UGRD", "Undergraduate"));
//! user.expiry_date = NaiveDate::from_ymd_opt(2026, 9, 30);
//! let mut email = Email::new("jdoe@example.edu", "school");
//! email.preferred = true;
//! user.contact_info.emails.push(email);
//!
//! let mut writer = UserXmlWriter::new(Vec::new(), &WriterOptions::default())?;
//! writer.write_user(&user)?;
//! let xml = String::from_utf8(writer.finish()?).expect("the writer emits UTF-8");
//! assert!(xml.contains("<expiry_date>2026-09-30Z</expiry_date>"));
//! # Ok::<(), alma_user_model::WriteError>(())
//! ```
#![deny(missing_docs)]

pub mod chars;
mod finding;
mod model;
mod write;

pub use chars::{first_illegal_xml_char, is_xml_char};
pub use finding::{Finding, Position, Severity};
pub use model::{
    AccountType, Address, CodeValue, ContactInfo, Email, LibraryNotice, Phone, RecordType, User,
    UserBlock, UserIdentifier, UserNote, UserStatistic, UserStatus,
};
pub use write::{
    UserXmlWriter, WriteError, WriterOptions, format_date, format_date_time, render_user,
};
