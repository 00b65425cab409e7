//! What an error adds for the person reading it: the config line behind a file, the OS
//! reason, and "did you mean" for a misspelled key, section or column.

use std::path::Path;

/// The closest of `candidates` to `word`, when it is close enough to be a misspelling
/// (same letters in another case, or a few edits away).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        if candidate == word {
            continue;
        }
        let other = candidate.to_lowercase();
        let score = if other == lower {
            2.0
        } else {
            let edits = strsim::damerau_levenshtein(&lower, &other);
            // One edit in a short name, two in a longer one; or most of the name shared.
            let allowed = if lower.chars().count() <= 3 { 1 } else { 2 };
            if edits > allowed && strsim::jaro_winkler(&lower, &other) < 0.9 {
                continue;
            }
            strsim::jaro_winkler(&lower, &other)
        };
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// Top-level names of the config file: when serde's expected list holds these, the unknown
/// field is a section.
const MAPPING_SECTION_MARKERS: [&str; 2] = ["feed", "input"];

/// Whether a name read from a file's first line may be offered as a "did you mean": only
/// names shaped like column headers (ASCII letters, digits, `_`, `-`, `.`, at least one letter).
/// A headerless extract's first line is somebody's record, and an email, a date, a phone
/// number or a name with a space or an accent is never shown without `--show-values`.
pub fn header_like(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && name.chars().any(|c| c.is_ascii_alphabetic())
}

/// `message` with a "did you mean" for serde's "unknown field `x`, expected one of `a`, `b`"
/// (or "unknown variant"): the closest expected name, if one is close. An unknown top-level
/// name is a section, and the sections of `extra_sections` (the CLI's own, which the
/// mapping's list leaves out) are candidates too. Serde's words stay as they are.
pub fn with_key_suggestion(message: &str, extra_sections: &[&str]) -> String {
    let Some((kind, unknown, expected)) = parse_unknown(message) else {
        return message.to_owned();
    };
    let section = kind == "field"
        && MAPPING_SECTION_MARKERS
            .iter()
            .all(|m| expected.iter().any(|e| e == m));
    let mut candidates: Vec<&str> = expected.iter().map(String::as_str).collect();
    if section {
        candidates.extend(extra_sections);
    }
    let Some(best) = closest(&unknown, candidates.iter().copied()) else {
        return message.to_owned();
    };
    // Said right after the unknown name, before serde's list of every name.
    let hint = if section {
        format!("`{unknown}` (did you mean section [{best}]?)")
    } else {
        format!("`{unknown}` (did you mean `{best}`?)")
    };
    message.replacen(&format!("`{unknown}`"), &hint, 1)
}

/// Splits serde's "unknown field `x`, expected one of `a`, `b`" (also "expected `a`",
/// "expected `a` or `b`", "unknown variant") into kind, name and the expected names.
fn parse_unknown(message: &str) -> Option<(&'static str, String, Vec<String>)> {
    let (kind, rest) = if let Some(rest) = message.strip_prefix("unknown field `") {
        ("field", rest)
    } else {
        ("variant", message.strip_prefix("unknown variant `")?)
    };
    let (unknown, rest) = rest.split_once("`, expected ")?;
    let expected: Vec<String> = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    (!expected.is_empty()).then(|| (kind, unknown.to_owned(), expected))
}

/// Where in the config text `value` is given as a path (`path = "people.csv"`, also
/// `query_file`), as `file:line:column` of the value.
pub fn naming_line(config_path: &Path, config_text: &str, value: &Path) -> Option<String> {
    let value = value.to_str()?;
    for (i, line) in config_text.lines().enumerate() {
        let code = line.split('#').next().unwrap_or("");
        for quote in ['"', '\''] {
            let quoted = format!("{quote}{value}{quote}");
            if let Some(at) = code.find(&quoted) {
                let before = code[..at].trim_end();
                if before.ends_with('=') {
                    let column = code[..at].chars().count() + 1;
                    return Some(format!("{}:{}:{column}", config_path.display(), i + 1));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_header_shaped_names_are_offered() {
        for header in ["affiliation", "PERSON_ID", "e-mail", "addr.line1"] {
            assert!(super::header_like(header), "{header}");
        }
        for value in [
            "ada@example.edu",
            "Jürgen",
            "1001",
            "2004-05-06",
            "1 Sample St",
            "+1 555 0100",
            "",
        ] {
            assert!(!super::header_like(value), "{value}");
        }
    }

    use super::*;

    #[test]
    fn close_names_are_suggested_and_far_ones_are_not() {
        let columns = ["person_id", "affiliation", "employment_status", "email"];
        assert_eq!(closest("afiliation", columns), Some("affiliation"));
        assert_eq!(closest("Person_ID", columns), Some("person_id"));
        assert_eq!(closest("emial", columns), Some("email"));
        assert_eq!(closest("campus", columns), None);
        assert_eq!(closest("x", columns), None);
    }

    #[test]
    fn unknown_fields_get_the_closest_expected_name() {
        let m = "unknown field `kee`, expected one of `path`, `key`, `format`";
        assert_eq!(
            with_key_suggestion(m, &[]),
            "unknown field `kee` (did you mean `key`?), expected one of `path`, `key`, `format`"
        );
        let m = "unknown field `outptu`, expected one of `feed`, `input`, `merge`";
        assert_eq!(
            with_key_suggestion(m, &["output", "state"]),
            "unknown field `outptu` (did you mean section [output]?), expected one of `feed`, \
             `input`, `merge`"
        );
        let m = "unknown variant `sftpp`, expected `drop` or `sftp`";
        assert_eq!(
            with_key_suggestion(m, &[]),
            "unknown variant `sftpp` (did you mean `sftp`?), expected `drop` or `sftp`"
        );
        let m = "unknown field `zzz`, expected `a`";
        assert_eq!(with_key_suggestion(m, &[]), m);
        assert_eq!(
            with_key_suggestion("missing field `key`", &[]),
            "missing field `key`"
        );
    }

    #[test]
    fn the_line_naming_a_file_is_found() {
        let text = "[feed]\nname = \"x\"\n\n[[input]]\npath = \"people.csv\"  # the extract\n";
        assert_eq!(
            naming_line(Path::new("a.toml"), text, Path::new("people.csv")).as_deref(),
            Some("a.toml:5:8")
        );
        assert_eq!(
            naming_line(Path::new("a.toml"), text, Path::new("x")).as_deref(),
            Some("a.toml:2:8")
        );
        assert_eq!(
            naming_line(Path::new("a.toml"), text, Path::new("terms.csv")),
            None
        );
    }
}
