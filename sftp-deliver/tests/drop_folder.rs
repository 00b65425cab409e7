//! The local drop folder keeps the SFTP contract: temporary name, rename, 0600, a batch that
//! knows its own files, stale guard, leftovers.

use sftp_deliver::{DropFolder, StalePolicy};

use crate::support::contract::{
    StaleExpect, check_batch_stops_at_first_failure, check_leftover_temps, check_no_overwrite,
    check_pull, check_stale, check_stop_mid_upload, check_temp_then_rename,
};

#[test]
fn a_delivery_goes_through_a_temporary_name_and_lands_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("drop");
    let mut drop = DropFolder::new(&target, StalePolicy::Refuse);
    check_temp_then_rename(&mut drop, &target, 3 * 1024 * 1024 + 17);
}

#[test]
fn an_existing_final_name_is_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let mut drop = DropFolder::new(tmp.path(), StalePolicy::Leave);
    check_no_overwrite(&mut drop, tmp.path());
}

#[test]
fn stale_zips_are_refused_left_or_archived_as_configured() {
    for (policy, expect) in [
        (StalePolicy::Refuse, StaleExpect::Refused),
        (StalePolicy::Leave, StaleExpect::Left),
        (
            StalePolicy::Archive("archive".into()),
            StaleExpect::Archived,
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let mut drop = DropFolder::new(tmp.path(), policy);
        check_stale(&mut drop, tmp.path(), expect);
    }
}

#[test]
fn pull_copies_the_matching_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mut drop = DropFolder::new(tmp.path().join("drop"), StalePolicy::Leave);
    check_pull(&mut drop, &tmp.path().join("drop/registrar"), "registrar");
}

#[test]
fn our_leftover_temporary_files_are_removed_and_reported_and_no_one_elses() {
    let tmp = tempfile::tempdir().unwrap();
    let mut drop = DropFolder::new(tmp.path(), StalePolicy::Refuse);
    check_leftover_temps(&mut drop, tmp.path());
}

#[test]
fn a_batch_stops_at_its_first_failure_and_says_which_files_arrived() {
    let tmp = tempfile::tempdir().unwrap();
    let mut drop = DropFolder::new(tmp.path(), StalePolicy::Refuse);
    check_batch_stops_at_first_failure(&mut drop, tmp.path());
}

#[test]
fn a_batch_stopped_mid_upload_leaves_no_temporary_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut drop = DropFolder::new(tmp.path(), StalePolicy::Refuse);
    check_stop_mid_upload(&mut drop, tmp.path());
}
