//! [`User`] is the Alma user record as `rest_user.xsd` defines it; [`UserXmlWriter`] writes
//! it and [`UserReader`] reads it as Alma does, and [`MatchId`] says how Alma tells two
//! users apart.
//!
//! This crate is the contract between a campus feed and Alma's *Users* integration profile
//! (SIS import / synchronize):
//!
//! - a typed [`User`] model with constructors that keep the common record correct
//!   ([`User::new`], [`Address::home`], [`User::add_email`] keeps exactly one preferred, ...);
//! - a streaming [`UserXmlWriter`] that emits children in the schema's declaration order and
//!   refuses characters XML 1.0 forbids;
//! - a lenient streaming [`UserReader`] that reads what real feeds contain and reports each
//!   deviation from the schema as a [`Finding`] with line and column ([`read`] lists the codes);
//! - [`validate()`], the record rules Alma applies (mandatory children, one preferred entry,
//!   identifiers "already taken", code tables, illegal characters; [`mod@validate`] lists
//!   the codes).
//!
//! It never does I/O of its own (it reads and writes the `io` handles it is given), reads the
//! clock or prints.
//!
//! ```
//! use alma_user_model::{
//!     Address, CodeValue, Email, User, UserReader, UserXmlWriter, WriterOptions, validate,
//! };
//! use chrono::NaiveDate;
//!
//! let user = User::new("jdoe")
//!     .with_name("Jane", "Doe")
//!     .with_user_group(CodeValue::with_desc("UGRD", "Undergraduate"))
//!     .with_expiry_date(NaiveDate::from_ymd_opt(2026, 9, 30).expect("a date"))
//!     .with_address(Address::home("1 Main St", "Springfield", "62701"))
//!     .with_email(Email::new("jdoe@example.edu", "school"))
//!     .with_identifier("BARCODE", "21234000012345");
//! assert!(validate(&user, &Default::default()).is_empty());
//!
//! let mut writer = UserXmlWriter::new(Vec::new(), &WriterOptions::default())?;
//! writer.write_user(&user)?;
//! let xml = writer.finish()?;
//! assert!(String::from_utf8_lossy(&xml).contains("<expiry_date>2026-09-30Z</expiry_date>"));
//!
//! let mut reader = UserReader::new(xml.as_slice());
//! let read = reader.next_user()?.expect("one user");
//! assert_eq!(read.user, user);
//! assert!(read.findings.is_empty());
//! assert!(reader.next_user()?.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

/// The schema's `maxLength` of the string at a path below `<user>`
/// ([`schema::max_length`]), looked up while compiling.
macro_rules! max_len {
    ($path:expr) => {
        const { crate::schema::max_length($path) }
    };
}

/// The schema's lengths of a code-table value at a path below `<user>` and of its `desc`.
macro_rules! code_len {
    ($path:literal) => {
        crate::schema::CodeLengths {
            code: max_len!($path),
            desc: max_len!(concat!($path, "/@desc")),
        }
    };
}

pub mod chars;
mod dates;
mod finding;
mod identity;
mod model;
pub mod read;
pub mod schema;
pub mod validate;
mod write;

pub use chars::{first_illegal_xml_char, is_xml_char};
pub use dates::{format_iso_date, parse_iso_date};
pub use finding::{Finding, Position, Severity, escape_html};
pub use identity::{MatchId, match_key, with_match_key};
pub use model::{
    AccountType, Address, CodeValue, ContactInfo, Email, LibraryNotice, Phone, RecordType, User,
    UserBlock, UserIdentifier, UserNote, UserStatistic, UserStatus,
};
pub use read::{ReadError, ReadUser, SegmentAt, UserReader};
pub use validate::{
    CodeLookup, CodeTableError, CodeTables, ValidationOptions, validate, validate_rendered,
};
pub use write::{
    MovingDates, UserXmlWriter, WriteError, WriterOptions, format_date, format_date_time,
    render_user, render_user_marked,
};
