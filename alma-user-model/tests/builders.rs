//! Constructors keep the common record correct: external segments, one preferred entry.

use alma_user_model::{Address, Email, Phone, User, ValidationOptions, validate};

fn preferred(user: &User) -> (Vec<bool>, Vec<bool>, Vec<bool>) {
    let c = &user.contact_info;
    (
        c.addresses.iter().map(|a| a.preferred).collect(),
        c.emails.iter().map(|e| e.preferred).collect(),
        c.phones.iter().map(|p| p.preferred).collect(),
    )
}

/// How to build a user, and which of its addresses, emails and phones are preferred.
type Case<'a> = (fn() -> User, (&'a [bool], &'a [bool], &'a [bool]));

#[test]
fn exactly_one_preferred_entry_per_list() {
    let cases: &[Case] = &[
        (|| User::new("a"), (&[], &[], &[])),
        (
            || {
                User::new("a")
                    .with_address(Address::new("home"))
                    .with_address(Address::new("work"))
            },
            (&[true, false], &[], &[]),
        ),
        (
            || {
                User::new("a")
                    .with_address(Address::new("home"))
                    .with_address(Address::new("work").as_preferred())
            },
            (&[false, true], &[], &[]),
        ),
        (
            || {
                User::new("a")
                    .with_email(Email::new("a@x", "school"))
                    .with_email(Email::new("b@x", "personal").as_preferred())
                    .with_phone(Phone::new("1", "mobile"))
            },
            (&[], &[false, true], &[true]),
        ),
    ];
    for (build, (addresses, emails, phones)) in cases {
        let user = build();
        assert_eq!(
            preferred(&user),
            (addresses.to_vec(), emails.to_vec(), phones.to_vec())
        );
        assert!(validate(&user, &ValidationOptions::default()).is_empty());
    }
}

#[test]
fn new_user_is_external_and_active() {
    let user = User::new("jdoe");
    assert_eq!(
        user.account_type,
        Some(alma_user_model::AccountType::External)
    );
    assert_eq!(user.status, Some(alma_user_model::UserStatus::Active));
    let address = Address::home("1 Main St", "Springfield", "62701");
    assert_eq!(address.segment_type.as_deref(), Some("External"));
    assert_eq!(address.address_types[0].code, "home");
}
