//! ISO dates (`YYYY-MM-DD`) without chrono's general pattern machinery: a run of a million
//! users formats and parses millions of them, and chrono parses its pattern on every call.

use chrono::{Datelike, NaiveDate};

/// Formats `YYYY-MM-DD` (chrono's `%Y-%m-%d`, including years outside 0..=9999).
pub fn format_iso_date(date: NaiveDate) -> String {
    match date.year() {
        year @ 0..=9999 => format!("{year:04}-{:02}-{:02}", date.month(), date.day()),
        _ => date.format("%Y-%m-%d").to_string(),
    }
}

/// Parses exactly `YYYY-MM-DD`, a real date; anything else is `None`.
pub fn parse_iso_date(value: &str) -> Option<NaiveDate> {
    let b = value.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, num(5..7)?, num(8..10)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_chrono_and_parses_back() {
        for (y, m, d) in [
            (2026, 11, 23),
            (5, 1, 9),
            (9999, 12, 31),
            (10000, 1, 1),
            (-1, 3, 4),
        ] {
            let date = NaiveDate::from_ymd_opt(y, m, d).expect("a valid date");
            assert_eq!(format_iso_date(date), date.format("%Y-%m-%d").to_string());
            if (0..=9999).contains(&y) {
                assert_eq!(parse_iso_date(&format_iso_date(date)), Some(date));
            }
        }
    }

    #[test]
    fn parses_only_real_iso_dates() {
        for bad in [
            "2026-02-30",
            "2026-1-01",
            "2026/01/01",
            "２０２６-01-01",
            "",
            "2026-01-011",
        ] {
            assert_eq!(parse_iso_date(bad), None, "{bad:?}");
        }
    }
}
