//! Laws over arbitrary input: every row read ends in exactly one decision; nothing panics.

use proptest::prelude::*;
use sis_extract::{Decision, Extractor};

use crate::support::{Case, config, today};

const RULES: &str = r#"
[[filter]]
name = "no affiliates"
action = "exclude"
when = [{ column = "aff", any_of = ["AFFILIATE"] }]

[merge]
prefer = [{ name = "employees", when = [{ column = "aff", any_of = ["EMPLOYEE"] }] }]

[[group]]
group = "STAFF"
when = [{ column = "aff", any_of = ["EMPLOYEE"] }]

[[group]]
group = "STUDENT"
when = [{ column = "aff", any_of = ["STUDENT"] }]

[[combined_group]]
groups = ["STAFF", "STUDENT"]
group = "BOTH"

[fields]
primary_id = "{id}"
first_name = { template = "{name}", case = "title" }
birth_date = "{born}"

[[email]]
type = "school"
address = "{name}@x"

[expiry]
default = { policy = "column", column = "born" }
"#;

fn field() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"AFFILIATE".to_vec()),
        Just(b"EMPLOYEE".to_vec()),
        Just(b"STUDENT;EMPLOYEE".to_vec()),
        Just(b"2030-01-01".to_vec()),
        Just(Vec::new()),
        proptest::collection::vec(any::<u8>(), 0..12),
    ]
}

fn id() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0u8..6).prop_map(|n| vec![b'0' + n]),
        Just(Vec::new()),
        proptest::collection::vec(any::<u8>(), 0..6),
    ]
}

proptest! {
    #[test]
    fn rows_read_equal_written_plus_filtered_plus_rejected(
        rows in proptest::collection::vec((id(), field(), field(), field()), 0..30)
    ) {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        w.write_record(["id", "aff", "name", "born"]).expect("header");
        for (id, aff, name, born) in &rows {
            w.write_record([id, aff, name, born]).expect("row");
        }
        let bytes = w.into_inner().expect("csv bytes");
        let text = config(RULES).replacen(
            "key = \"id\"\n",
            "key = \"id\"\nencoding = \"windows-1252\"\nmultiline = true\n",
            1,
        );
        let case = Case::new(&text, &[("p.csv", &bytes)]);
        let mapping = case.config().expect("config");
        let extractor = Extractor::new(&mapping, case.dir.path(), today()).expect("extractor");
        let read = extractor.rows_read();
        let (mut written, mut filtered, mut rejected, mut users) = (0, 0, 0, 0);
        for person in extractor.people() {
            for r in &person.rows {
                match &r.decision {
                    Decision::Written { primary_id } => {
                        written += 1;
                        prop_assert_eq!(
                            Some(primary_id),
                            person.user.as_ref().map(|u| &u.user.primary_id)
                        );
                    }
                    Decision::Filtered { .. } => filtered += 1,
                    Decision::Rejected { errors } => {
                        rejected += 1;
                        prop_assert!(!errors.is_empty());
                    }
                }
            }
            users += usize::from(person.user.is_some());
        }
        prop_assert_eq!(read, written + filtered + rejected);
        // Blank lines are not rows; every other record written is.
        let blank = rows.iter().filter(|(a, b, c, d)| [a, b, c, d].iter().all(|f| f.is_empty())).count();
        prop_assert!(read + blank >= rows.len() && read <= rows.len(), "read {} of {}", read, rows.len());
        prop_assert!(users <= written);
    }
}
