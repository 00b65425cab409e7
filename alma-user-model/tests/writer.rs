//! The writer refuses what XML 1.0 or the schema forbids, naming user and field, and
//! writes nothing of that user.

use alma_user_model::{Address, CodeValue, User, UserXmlWriter, WriteError, WriterOptions};

fn base() -> User {
    User::new("jdoe").with_address(Address::home("1 Main St", "Springfield", "62701"))
}

/// Applies `change`, writes, and compares the error's variant and field.
fn check(change: fn(&mut User), expected: Option<(&str, &str)>) {
    let mut user = base();
    change(&mut user);
    let mut w = UserXmlWriter::new(Vec::new(), &WriterOptions::default()).expect("header");
    let got = match w.write_user(&user) {
        Ok(()) => None,
        Err(WriteError::IllegalChar {
            field, primary_id, ..
        }) => {
            assert_eq!(primary_id, "jdoe");
            Some(("IllegalChar", field))
        }
        Err(WriteError::TooLong { field, .. }) => Some(("TooLong", field)),
        Err(WriteError::Io(e)) => panic!("no I/O error into a Vec: {e}"),
    };
    assert_eq!(got.as_ref().map(|(k, f)| (*k, f.as_str())), expected);
    if expected.is_some() {
        assert_eq!(w.users_written(), 0);
        let xml = String::from_utf8(w.finish().expect("finish")).expect("UTF-8");
        assert!(!xml.contains("<user>"), "nothing of the user is written");
    }
}

/// A change to the clean user and the expected error variant and field, if any.
type Case<'a> = (fn(&mut User), Option<(&'a str, &'a str)>);

#[test]
fn errors_name_the_field() {
    let cases: &[Case] = &[
        (|_| {}, None),
        (
            |u| u.first_name = Some("a\u{1B}b".into()),
            Some(("IllegalChar", "first_name")),
        ),
        (
            |u| u.contact_info.addresses[0].segment_type = Some("Ext\u{0}".into()),
            Some((
                "IllegalChar",
                "contact_info/addresses/address[0]/@segment_type",
            )),
        ),
        (
            |u| u.contact_info.addresses[0].address_types[0].desc = Some("\u{FFFF}".into()),
            Some((
                "IllegalChar",
                "contact_info/addresses/address[0]/address_types/address_type[0]/@desc",
            )),
        ),
        (
            |u| u.contact_info.addresses[0].city = Some("c".repeat(256)),
            Some(("TooLong", "contact_info/addresses/address[0]/city")),
        ),
        (
            |u| u.campus_code = Some(CodeValue::new("c".repeat(51))),
            Some(("TooLong", "campus_code")),
        ),
    ];
    for (change, expected) in cases {
        check(*change, *expected);
    }
}
