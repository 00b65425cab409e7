//! Laws: any split configuration writes every user exactly once, in order, or refuses the run
//! exactly when it needs more zips than allowed.

use alma_sis_package::{PackageConfig, PackageError, package};
use proptest::prelude::*;

use crate::support::{listing, primary_ids, run_info, users};

proptest! {
    #[test]
    fn every_user_is_written_exactly_once_across_parts(
        n in 0usize..40,
        users_per_file in 1u64..8,
        files_per_zip in 1u32..4,
        max_zips in 1u32..6,
    ) {
        let config = PackageConfig { users_per_file, files_per_zip, max_zips, ..PackageConfig::default() };
        let dir = tempfile::tempdir().unwrap();
        let all = users(n);
        let needed = (n as u64).div_ceil(users_per_file).div_ceil(u64::from(files_per_zip));
        match package(dir.path(), &config, &run_info(), all.iter().filter(|_| true)) {
            Ok(written) => {
                prop_assert!(needed <= u64::from(max_zips));
                let ids: Vec<String> = all.iter().map(|u| u.primary_id.clone()).collect();
                prop_assert_eq!(primary_ids(&written), ids);
                prop_assert_eq!(written.files.len() as u64, needed);
                for file in &written.manifest.files {
                    prop_assert!(file.entries.len() <= files_per_zip as usize);
                    for entry in &file.entries {
                        prop_assert!(entry.users >= 1 && entry.users <= users_per_file);
                    }
                }
            }
            Err(PackageError::TooManyZips { .. }) => {
                prop_assert!(needed > u64::from(max_zips));
                prop_assert_eq!(listing(dir.path()), Vec::<String>::new());
            }
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }
}
