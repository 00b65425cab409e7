//! `plan` against an oracle: small random Alma populations and loads, crowded into a few ids
//! so that matches, shared match ids, taken identifiers, internal users and changed match ids
//! all happen, predicted by [`AlmaExport`] (index, digests, records on disk, values freed by
//! earlier updates) and by a plain simulation that keeps every Alma user in a list, finds
//! people by scanning it and applies each update to it before the next user.

use std::collections::BTreeSet;
use std::io::Write as _;

use alma_sis_package::plan::{AlmaExport, ExportOptions, Outcome, same_id, synchronize};
use alma_user_model::MatchId;
use alma_user_model::{AccountType, Email, User, UserIdentifier, UserXmlWriter, WriterOptions};
use proptest::prelude::*;

/// One person: few possible values, so that people collide.
fn person() -> impl Strategy<Value = User> {
    (
        prop::sample::select(vec!["a", "b", "c", "d", "A", "e"]),
        prop::option::of(prop::sample::select(vec!["1", "2", "3", "4"])),
        prop::option::of(prop::sample::select(vec!["u1", "u2", "U1", "u3"])),
        prop::option::of(prop::sample::select(vec!["1", "2", "x"])),
        prop::sample::select(vec!["Doe", "Roe"]),
        prop::sample::select(vec!["Jo", "Al"]),
        prop::sample::select(vec!["personal", "school"]),
        0..6u8,
    )
        .prop_map(
            |(id, barcode, univ, internal_id, last, first, email, flags)| {
                let mut user = User::new(id).with_name(first, last);
                if let Some(b) = barcode {
                    user.user_identifiers
                        .push(UserIdentifier::new("BARCODE", b));
                }
                if let Some(u) = univ {
                    user.user_identifiers
                        .push(UserIdentifier::new("UNIV_ID", u));
                }
                if let Some(v) = internal_id {
                    let mut i = UserIdentifier::new("OTHER_ID_1", format!("i{v}"));
                    i.segment_type = Some("Internal".into());
                    user.user_identifiers.push(i);
                }
                user.add_email(Email::new(format!("{id}@example.edu"), email));
                if flags == 0 {
                    user.account_type = Some(AccountType::Internal);
                }
                if flags == 1 {
                    user.status = Some(alma_user_model::UserStatus::Inactive);
                }
                user
            },
        )
}

/// Values of a user: the primary id, then its identifiers (type, value).
fn ids(user: &User) -> Vec<(String, String)> {
    std::iter::once(("primary_id".to_owned(), user.primary_id.clone()))
        .chain(
            user.user_identifiers
                .iter()
                .map(|i| (i.id_type.code.clone(), i.value.clone())),
        )
        .collect()
}

fn match_value(user: &User, match_id: &MatchId) -> Option<String> {
    match match_id {
        MatchId::PrimaryId => Some(user.primary_id.clone()),
        MatchId::Identifier(t) => user
            .user_identifiers
            .iter()
            .find(|i| i.id_type.code == *t)
            .map(|i| i.value.clone()),
    }
}

fn internal(segment_type: &Option<String>) -> bool {
    segment_type.as_deref() == Some("Internal")
}

/// A load as the check lets it through: no value twice, all external, each with a match id;
/// the load sends no internal identifiers.
fn load_of(users: Vec<User>, match_id: &MatchId) -> Vec<User> {
    let mut seen: Vec<String> = Vec::new();
    let mut load = Vec::new();
    for mut user in users {
        user.account_type = Some(AccountType::External);
        user.user_identifiers.retain(|i| !internal(&i.segment_type));
        let values: Vec<String> = ids(&user).into_iter().map(|(_, v)| v).collect();
        if match_value(&user, match_id).is_none()
            || values.iter().any(|v| seen.iter().any(|s| same_id(s, v)))
        {
            continue;
        }
        seen.extend(values);
        load.push(user);
    }
    load
}

/// The oracle's verdict: outcome, reason code, Alma user named, fields changed.
type Said = (String, String, String, Vec<String>);

fn oracle(alma: &[User], load: &[User], match_id: &MatchId) -> (Vec<Said>, BTreeSet<String>) {
    // The last record of a primary id is Alma's user.
    let mut state: Vec<(User, bool)> = Vec::new();
    for (i, user) in alma.iter().enumerate() {
        let later = alma[i + 1..]
            .iter()
            .any(|u| same_id(&u.primary_id, &user.primary_id));
        if !later {
            state.push((user.clone(), false));
        }
    }
    let holds = |alma: &User, value: &str| ids(alma).iter().any(|(_, w)| same_id(w, value));
    let same_person =
        |a: &User, b: &User| a.last_name == b.last_name && a.first_name == b.first_name;
    let mut said = Vec::new();
    for user in load {
        let value = match_value(user, match_id).unwrap_or_default();
        let matched: Vec<usize> = (0..state.len())
            .filter(|&i| match_value(&state[i].0, match_id).is_some_and(|v| same_id(&v, &value)))
            .collect();
        for &i in &matched {
            state[i].1 = true;
        }
        let fail = |code: &str, alma: &str| {
            (
                String::from("will_fail"),
                code.to_owned(),
                alma.to_owned(),
                Vec::new(),
            )
        };
        if matched.len() > 1 {
            said.push(fail(
                "E-ALMA-SHARED-MATCH-ID",
                &state[matched[0]].0.primary_id,
            ));
            continue;
        }
        let own = matched.first().copied();
        if let Some(m) = own
            && state[m].0.account_type == Some(AccountType::Internal)
        {
            said.push(fail("E-ALMA-NOT-EXTERNAL", &state[m].0.primary_id));
            continue;
        }
        // Holders in the order of the user's values, each value's in export order.
        let mut holders: Vec<usize> = Vec::new();
        for (_, v) in ids(user) {
            for (i, (alma, _)) in state.iter().enumerate() {
                if Some(i) != own && holds(alma, &v) && !holders.contains(&i) {
                    holders.push(i);
                }
            }
        }
        if own.is_none()
            && let Some(&h) = holders.iter().find(|&&h| same_person(user, &state[h].0))
        {
            said.push(fail("E-ALMA-MATCH-ID-CHANGED", &state[h].0.primary_id));
            continue;
        }
        if let Some(&h) = holders.first() {
            said.push(fail("E-ALMA-ID-TAKEN", &state[h].0.primary_id));
            continue;
        }
        let Some(m) = own else {
            said.push(("new".into(), String::new(), String::new(), Vec::new()));
            continue;
        };
        let changes: Vec<String> = synchronize(&state[m].0, user)
            .iter()
            .map(|c| c.label())
            .collect();
        let alma_user = state[m].0.primary_id.clone();
        if changes.is_empty() {
            said.push(("unchanged".into(), String::new(), alma_user, changes));
            continue;
        }
        // Alma applies the update: the load's identifiers replace the external ones.
        let alma = &mut state[m].0;
        alma.primary_id = user.primary_id.clone();
        alma.user_identifiers.retain(|i| internal(&i.segment_type));
        alma.user_identifiers
            .extend(user.user_identifiers.iter().cloned());
        said.push(("update".into(), String::new(), alma_user, changes));
    }
    let unmatched = state
        .iter()
        .filter(|(u, matched)| !matched && u.account_type != Some(AccountType::Internal))
        .map(|(u, _)| u.primary_id.clone())
        .collect();
    (said, unmatched)
}

fn write_export(users: &[User], zipped: bool, dir: &std::path::Path) -> std::path::PathBuf {
    let mut writer = UserXmlWriter::new(Vec::new(), &WriterOptions::default()).unwrap();
    for user in users {
        writer.write_user(user).unwrap();
    }
    let xml = writer.finish().unwrap();
    if zipped {
        let path = dir.join("export.zip");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        zip.start_file("export", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&xml).unwrap();
        zip.finish().unwrap();
        path
    } else {
        let path = dir.join("export");
        std::fs::write(&path, xml).unwrap();
        path
    }
}

fn check(alma: Vec<User>, load: Vec<User>, by_univ_id: bool, zipped: bool) {
    let match_id = if by_univ_id {
        MatchId::Identifier("UNIV_ID".into())
    } else {
        MatchId::PrimaryId
    };
    let load = load_of(load, &match_id);
    let dir = tempfile::tempdir().unwrap();
    let path = write_export(&alma, zipped, dir.path());
    let mut options = ExportOptions::new(dir.path());
    options.match_id = match_id.clone();
    let mut export = AlmaExport::read(&[path], &options).unwrap();
    let mut said = Vec::new();
    for user in &load {
        let verdict = export.compare(user).unwrap();
        said.push(match verdict.outcome {
            Outcome::WillFail(f) => (
                "will_fail".to_owned(),
                f.reason.code().to_owned(),
                f.reason.alma_user().to_owned(),
                Vec::new(),
            ),
            Outcome::Update(changes) => (
                "update".to_owned(),
                String::new(),
                verdict.alma_user.unwrap_or_default(),
                changes.iter().map(|c| c.label()).collect(),
            ),
            other => (
                other.name().to_owned(),
                String::new(),
                verdict.alma_user.unwrap_or_default(),
                Vec::new(),
            ),
        });
    }
    let unmatched: BTreeSet<String> = export.unmatched().map(|u| u.unwrap().primary_id).collect();
    let (expected, expected_unmatched) = oracle(&alma, &load, &match_id);
    assert_eq!(said, expected, "load {load:#?}");
    assert_eq!(unmatched, expected_unmatched);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn plan_agrees_with_a_plain_simulation_of_alma(
        alma in prop::collection::vec(person(), 0..9),
        load in prop::collection::vec(person(), 0..7),
        by_univ_id: bool,
        zipped: bool,
    ) {
        check(alma, load, by_univ_id, zipped);
    }
}

#[test]
fn an_alma_user_exported_twice_is_one_user_the_last_record() {
    let mut old = User::new("jdoe").with_name("Jo", "Doe");
    old.user_identifiers
        .push(UserIdentifier::new("BARCODE", "1"));
    let mut new = old.clone();
    new.primary_id = "JDOE".into();
    new.last_name = Some("Roe".into());
    let load = vec![old.clone()];
    check(vec![old, new], load, false, false);
}

#[test]
fn a_giant_text_node_or_document_stops_reading_at_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export");
    let long = "x".repeat(5000);
    std::fs::write(
        &path,
        format!(
            "<users><user><primary_id>a</primary_id><last_name>{long}</last_name></user></users>"
        ),
    )
    .unwrap();
    let mut options = ExportOptions::new(dir.path());
    options.limits.max_token_bytes = 1000;
    let error = AlmaExport::read(std::slice::from_ref(&path), &options).unwrap_err();
    assert!(
        error.to_string().contains("check.max_token_bytes"),
        "{error}"
    );
    options.limits.max_token_bytes = 10_000;
    options.limits.max_entry_bytes = 2000;
    let error = AlmaExport::read(std::slice::from_ref(&path), &options).unwrap_err();
    assert!(
        error.to_string().contains("check.max_entry_bytes"),
        "{error}"
    );
    options.limits.max_entry_bytes = 1 << 20;
    assert_eq!(
        AlmaExport::read(&[path], &options)
            .unwrap()
            .coverage()
            .users,
        1
    );
}
