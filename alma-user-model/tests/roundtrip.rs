//! Laws: a valid user survives write → read unchanged; for any user the writer either
//! produces a document xmllint accepts or a typed error naming the field.

use std::cell::RefCell;

use alma_user_model::{
    AccountType, Address, CodeValue, ContactInfo, Email, LibraryNotice, Phone, RecordType,
    Severity, User, UserBlock, UserIdentifier, UserNote, UserStatistic, UserStatus, UserXmlWriter,
    WriteError, WriterOptions, is_xml_char, render_user, render_user_marked, validate,
    validate_rendered,
};
use chrono::{DateTime, NaiveDate, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::{assert_schema_valid, read_all};

pub(crate) type Text = BoxedStrategy<String>;

/// Non-empty text of legal characters, with the ones that need escaping over-represented.
pub(crate) fn legal_text() -> Text {
    let c = prop_oneof![
        4 => any::<char>().prop_filter("XML Char", |c| is_xml_char(*c)),
        1 => prop::sample::select(vec!['&', '<', '>', '"', '\'', '\n', '\r', '\t', ' ', ']']),
    ];
    prop::collection::vec(c, 1..12)
        .prop_map(|v| v.into_iter().collect())
        .boxed()
}

/// Any text: any characters (controls, surrogates' neighbours, U+FFFE...), sometimes too long.
pub(crate) fn any_text() -> Text {
    prop_oneof![
        8 => prop::collection::vec(any::<char>(), 0..10).prop_map(|v| v.into_iter().collect()),
        1 => "[a-z]{250,300}",
    ]
    .boxed()
}

fn code(t: &Text) -> BoxedStrategy<CodeValue> {
    (t.clone(), prop::option::of(t.clone()))
        .prop_map(|(code, desc)| CodeValue { code, desc })
        .boxed()
}

fn date() -> BoxedStrategy<NaiveDate> {
    (1900i32..2200, 1u32..=12, 1u32..=28)
        .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).expect("day ≤ 28 is valid"))
        .boxed()
}

fn date_time() -> BoxedStrategy<DateTime<Utc>> {
    (0i64..4_000_000_000_000)
        .prop_map(|ms| DateTime::from_timestamp_millis(ms).expect("in range"))
        .boxed()
}

fn segment() -> BoxedStrategy<Option<String>> {
    prop::option::of(prop::sample::select(vec![
        "External".to_owned(),
        "Internal".to_owned(),
    ]))
    .boxed()
}

fn opt(t: &Text) -> BoxedStrategy<Option<String>> {
    prop::option::of(t.clone()).boxed()
}

fn address(t: &Text) -> BoxedStrategy<Address> {
    let lines = (opt(t), opt(t), opt(t), opt(t), opt(t));
    let place = (opt(t), opt(t), opt(t), prop::option::of(code(t)), opt(t));
    let rest = (
        any::<bool>(),
        segment(),
        prop::option::of(date()),
        prop::option::of(date()),
        prop::collection::vec(code(t), 0..3),
    );
    (lines, place, rest)
        .prop_map(
            |(
                (line1, line2, line3, line4, line5),
                (city, state_province, postal_code, country, address_note),
                (preferred, segment_type, start_date, end_date, address_types),
            )| Address {
                preferred,
                segment_type,
                line1,
                line2,
                line3,
                line4,
                line5,
                city,
                state_province,
                postal_code,
                country,
                address_note,
                start_date,
                end_date,
                address_types,
            },
        )
        .boxed()
}

fn contact(t: &Text) -> BoxedStrategy<ContactInfo> {
    let email = (
        any::<bool>(),
        segment(),
        t.clone(),
        opt(t),
        prop::collection::vec(code(t), 0..3),
    )
        .prop_map(
            |(preferred, segment_type, email_address, description, email_types)| Email {
                preferred,
                segment_type,
                email_address,
                description,
                email_types,
            },
        );
    let phone = (
        any::<bool>(),
        any::<bool>(),
        segment(),
        t.clone(),
        prop::collection::vec(code(t), 0..3),
    )
        .prop_map(
            |(preferred, preferred_sms, segment_type, phone_number, phone_types)| Phone {
                preferred,
                preferred_sms,
                segment_type,
                phone_number,
                phone_types,
            },
        );
    (
        prop::collection::vec(address(t), 0..3),
        prop::collection::vec(email, 0..3),
        prop::collection::vec(phone, 0..3),
    )
        .prop_map(|(addresses, emails, phones)| ContactInfo {
            addresses,
            emails,
            phones,
        })
        .boxed()
}

/// The repeatable segments of a user.
type Segments = (
    Vec<UserIdentifier>,
    Vec<UserBlock>,
    Vec<UserNote>,
    Vec<UserStatistic>,
);

fn segments(t: &Text) -> BoxedStrategy<Segments> {
    let id = (segment(), code(t), t.clone(), opt(t), opt(t)).prop_map(
        |(segment_type, id_type, value, note, status)| UserIdentifier {
            segment_type,
            id_type,
            value,
            note,
            status,
        },
    );
    let block = (
        (segment(), prop::option::of(code(t)), code(t), opt(t)),
        (
            opt(t),
            opt(t),
            prop::option::of(date_time()),
            prop::option::of(date_time()),
            opt(t),
        ),
    )
        .prop_map(
            |(
                (segment_type, block_type, block_description, block_status),
                (block_note, created_by, created_date, expiry_date, item_loan_id),
            )| UserBlock {
                segment_type,
                block_type,
                block_description,
                block_status,
                block_note,
                created_by,
                created_date,
                expiry_date,
                item_loan_id,
            },
        );
    let note = (
        segment(),
        code(t),
        opt(t),
        any::<bool>(),
        any::<bool>(),
        opt(t),
        prop::option::of(date_time()),
    )
        .prop_map(
            |(
                segment_type,
                note_type,
                note_text,
                user_viewable,
                popup_note,
                created_by,
                created_date,
            )| {
                UserNote {
                    segment_type,
                    note_type,
                    note_text,
                    user_viewable,
                    popup_note,
                    created_by,
                    created_date,
                }
            },
        );
    let stat = (segment(), code(t), prop::option::of(code(t)), opt(t)).prop_map(
        |(segment_type, statistic_category, category_type, statistic_note)| UserStatistic {
            segment_type,
            statistic_category,
            category_type,
            statistic_note,
        },
    );
    (
        prop::collection::vec(id, 0..3),
        prop::collection::vec(block, 0..2),
        prop::collection::vec(note, 0..2),
        prop::collection::vec(stat, 0..2),
    )
        .boxed()
}

/// A user whose every text field is drawn from `t`.
pub(crate) fn user(t: Text) -> BoxedStrategy<User> {
    let names = (
        t.clone(),
        opt(&t),
        opt(&t),
        opt(&t),
        opt(&t),
        opt(&t),
        opt(&t),
        opt(&t),
    );
    let codes = (
        prop::option::of(code(&t)),
        prop::option::of(code(&t)),
        prop::option::of(code(&t)),
        prop::option::of(code(&t)),
        prop::option::of(code(&t)),
        prop::option::of(code(&t)),
        prop::option::of(code(&t)),
    );
    let misc = (
        prop::option::of(prop::sample::select(vec![
            RecordType::Public,
            RecordType::Staff,
            RecordType::Contact,
        ])),
        prop::option::of(prop::sample::select(vec![
            AccountType::External,
            AccountType::Internal,
        ])),
        prop::option::of(prop::sample::select(vec![
            UserStatus::Active,
            UserStatus::Inactive,
        ])),
        (
            prop::option::of(date()),
            prop::option::of(date()),
            prop::option::of(date()),
        ),
        opt(&t),
        opt(&t),
        opt(&t),
    );
    let lists = (
        contact(&t),
        segments(&t),
        prop::collection::vec(code(&t), 0..2),
        prop::collection::vec(
            (prop::option::of(code(&t)), prop::option::of(any::<bool>()))
                .prop_map(|(code, value)| LibraryNotice { code, value }),
            0..2,
        ),
    );
    (names, codes, misc, lists)
        .prop_map(|(names, codes, misc, lists)| {
            let (
                primary_id,
                first_name,
                middle_name,
                last_name,
                pin_number,
                job_description,
                web_site_url,
                external_id,
            ) = names;
            let (
                user_title,
                job_category,
                gender,
                user_group,
                campus_code,
                cataloger_level,
                preferred_language,
            ) = codes;
            let (
                record_type,
                account_type,
                status,
                (birth_date, expiry_date, purge_date),
                pref_first_name,
                pref_middle_name,
                pref_last_name,
            ) = misc;
            let (
                contact_info,
                (user_identifiers, user_blocks, user_notes, user_statistics),
                rs_libraries,
                library_notices,
            ) = lists;
            User {
                record_type,
                primary_id,
                first_name,
                middle_name,
                last_name,
                pin_number,
                user_title,
                job_category,
                job_description,
                gender,
                user_group,
                campus_code,
                web_site_url,
                cataloger_level,
                preferred_language,
                birth_date,
                expiry_date,
                purge_date,
                account_type,
                external_id,
                status,
                contact_info,
                user_identifiers,
                user_blocks,
                user_notes,
                user_statistics,
                rs_libraries,
                library_notices,
                pref_first_name,
                pref_middle_name,
                pref_last_name,
                pref_name_suffix: None,
            }
        })
        .boxed()
}

/// Runs `test` over `strategy` and returns every document part the cases wrote.
pub(crate) fn run(strategy: BoxedStrategy<User>, test: impl Fn(&User, &mut Vec<u8>)) -> Vec<u8> {
    let written = RefCell::new(Vec::new());
    let mut runner = TestRunner::new(Config::default());
    runner
        .run(&strategy, |user| {
            test(&user, &mut written.borrow_mut());
            Ok(())
        })
        .expect("the property holds");
    written.into_inner()
}

pub(crate) fn wrap(users: &[u8]) -> Vec<u8> {
    let mut doc = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users>\n".to_vec();
    doc.extend_from_slice(users);
    doc.extend_from_slice(b"</users>\n");
    doc
}

#[test]
fn a_valid_user_survives_write_and_read() {
    let written = run(user(legal_text()), |user, all| {
        let mut w = UserXmlWriter::new(Vec::new(), &WriterOptions::default()).expect("header");
        w.write_user(user).expect("legal, short text always writes");
        let xml = w.finish().expect("finish");
        let (users, document) = read_all(&xml).expect("our own output reads");
        assert!(document.is_empty(), "{document:?}");
        assert_eq!(users.len(), 1);
        assert!(users[0].findings.is_empty(), "{:?}", users[0].findings);
        assert_eq!(&users[0].user, user);
        render_user(user, all).expect("renders again");
    });
    assert_schema_valid(&wrap(&written));
}

#[test]
fn any_user_writes_valid_xml_or_names_the_field() {
    let written = run(user(any_text()), |user, all| {
        let before = all.len();
        match render_user(user, all) {
            Ok(()) => {}
            Err(e) => {
                assert_eq!(all.len(), before, "nothing of a failed user is written");
                let (code, field, primary_id) = match &e {
                    WriteError::IllegalChar {
                        field, primary_id, ..
                    } => ("E-CHAR", field, primary_id),
                    WriteError::TooLong {
                        field, primary_id, ..
                    } => ("E-TOO-LONG", field, primary_id),
                    WriteError::Io(_) => panic!("no I/O into a Vec"),
                };
                assert_eq!(primary_id, &user.primary_id);
                let found = validate(user, &Default::default());
                assert!(
                    found.iter().any(|f| f.severity == Severity::Error
                        && f.code == code
                        && f.field.as_deref() == Some(field.as_str())),
                    "the writer's {e} is not among validate's findings {found:?}"
                );
            }
        }
    });
    assert_schema_valid(&wrap(&written));
}

/// A user the writer renders has no character validation would report: validating it
/// without the character check (the pass checks each value's characters once, in the writer)
/// finds exactly what the full validation finds; a user with such a character never renders.
#[test]
fn a_rendered_user_needs_no_second_character_check() {
    let rendered = std::cell::Cell::new(0u32);
    let refused = std::cell::Cell::new(0u32);
    let strategy = prop_oneof![user(legal_text()), user(any_text())].boxed();
    run(strategy, |user, _| {
        let full = validate(user, &Default::default());
        let mut out = Vec::new();
        if render_user(user, &mut out).is_ok() {
            rendered.set(rendered.get() + 1);
            assert_eq!(validate_rendered(user, &Default::default()), full);
        } else {
            let chars = full.iter().any(|f| f.code == "E-CHAR");
            let long = full.iter().any(|f| f.code == "E-TOO-LONG");
            assert!(chars || long, "a refused render has a reason: {full:?}");
            refused.set(refused.get() + 1);
        }
    });
    assert!(
        rendered.get() > 0 && refused.get() > 0,
        "both kinds of user are drawn"
    );
}

/// The rendering minus the marked moving-date lines is the rendering of the user without
/// those dates; a failed rendering leaves `out` as it was.
#[test]
fn the_moving_dates_are_marked_exactly() {
    let strategy = prop_oneof![user(legal_text()), user(any_text())].boxed();
    run(strategy, |user, _| {
        // A prefix makes the ranges absolute offsets, as the caller's buffer may hold more.
        let prefix = b"earlier users\n".to_vec();
        let mut out = prefix.clone();
        let marked = render_user_marked(user, &mut out);
        let mut plain = Vec::new();
        let rendered = render_user(user, &mut plain);
        let Ok(dates) = marked else {
            assert_eq!(out, prefix, "nothing of a failed user is written");
            assert!(rendered.is_err(), "render_user fails too");
            return;
        };
        rendered.expect("render_user writes what render_user_marked writes");
        assert_eq!(&out[prefix.len()..], plain.as_slice(), "the same bytes");
        assert_eq!(dates.expiry.is_some(), user.expiry_date.is_some());
        assert_eq!(dates.purge.is_some(), user.purge_date.is_some());
        let mut kept = out.clone();
        for range in [dates.purge.clone(), dates.expiry.clone()]
            .into_iter()
            .flatten()
        {
            let line = String::from_utf8(out[range.clone()].to_vec()).expect("UTF-8");
            assert!(
                line.starts_with("    <") && line.ends_with(">\n"),
                "{line:?}"
            );
            kept.drain(range);
        }
        let mut undated = user.clone();
        undated.expiry_date = None;
        undated.purge_date = None;
        let mut expected = prefix.clone();
        render_user(&undated, &mut expected).expect("fewer fields still render");
        assert_eq!(kept, expected);
    });
}
