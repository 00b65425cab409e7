//! Pure rules: name patterns and backoff.

use std::time::Duration;

use proptest::prelude::*;
use sftp_deliver::{RetryPolicy, matches_pattern};

fn check_pattern(pattern: &str, name: &str, expected: bool) {
    assert_eq!(
        matches_pattern(pattern, name),
        expected,
        "{pattern:?} vs {name:?}"
    );
}

#[test]
fn patterns_match_like_shell_globs() {
    check_pattern("courses_*.csv", "courses_2026.csv", true);
    check_pattern("courses_*.csv", "courses_.csv", true);
    check_pattern("courses_*.csv", "courses_2026.csv.bak", false);
    check_pattern("courses_*.csv", "xcourses_2026.csv", false);
    check_pattern("*", "anything", true);
    check_pattern("?.txt", "a.txt", true);
    check_pattern("?.txt", "ab.txt", false);
    check_pattern("*a*b*c", "xxaxxbxxc", true);
    check_pattern("*a*b*c", "xxaxxcxxb", false);
    check_pattern("exact.tsv", "exact.tsv", true);
    check_pattern("exact.tsv", "Exact.tsv", false);
    check_pattern("", "", true);
    check_pattern("", "x", false);
}

fn check_backoff(policy: RetryPolicy, expected_secs: &[u64]) {
    let got: Vec<u64> = (1..=expected_secs.len() as u32)
        .map(|a| policy.backoff(a).as_secs())
        .collect();
    assert_eq!(got, expected_secs);
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let policy = |initial, max| RetryPolicy {
        attempts: 10,
        initial_backoff: Duration::from_secs(initial),
        max_backoff: Duration::from_secs(max),
    };
    check_backoff(policy(5, 120), &[5, 10, 20, 40, 80, 120, 120]);
    check_backoff(policy(1, 1), &[1, 1, 1]);
    check_backoff(policy(0, 60), &[0, 0]);
    check_backoff(policy(3, 1_000_000), &[3, 6, 12, 24]);
}

proptest! {
    #[test]
    fn a_name_without_wildcards_matches_exactly_itself(name in "[a-zA-Z0-9_.-]{0,20}", other in "[a-zA-Z0-9_.-]{0,20}") {
        prop_assert!(matches_pattern(&name, &name));
        prop_assert!(matches_pattern("*", &name));
        prop_assert_eq!(matches_pattern(&name, &other), name == other);
    }

    #[test]
    fn a_prefix_star_suffix_pattern_means_starts_and_ends_with(
        prefix in "[a-c]{0,4}", suffix in "[a-c]{0,4}", name in "[a-c]{0,12}"
    ) {
        let expected = name.len() >= prefix.len() + suffix.len()
            && name.starts_with(&prefix)
            && name.ends_with(&suffix);
        prop_assert_eq!(matches_pattern(&format!("{prefix}*{suffix}"), &name), expected);
    }

    #[test]
    fn backoff_never_shrinks_and_never_exceeds_the_cap(initial in 0u64..1000, max in 0u64..100_000, attempt in 1u32..200) {
        let policy = RetryPolicy {
            attempts: 10,
            initial_backoff: Duration::from_secs(initial),
            max_backoff: Duration::from_secs(max),
        };
        prop_assert!(policy.backoff(attempt) <= policy.max_backoff);
        prop_assert!(policy.backoff(attempt) <= policy.backoff(attempt + 1));
    }
}
