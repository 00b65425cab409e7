//! The text a typed database value becomes, the same from PostgreSQL and ODBC, so that the
//! rules (`date_formats`, templates, conditions) read a query's columns as they read a CSV
//! export's. `docs/databases.md` lists them per type.
//!
//! | type | text |
//! |---|---|
//! | NULL | empty |
//! | text, varchar, char (trailing blanks trimmed, as every value is) | as stored |
//! | integers | decimal digits, `-` when negative |
//! | numeric, decimal | the exact decimal, with the column's scale (`12.50`) |
//! | real, double | the shortest text that reads back as the same number; `NaN`, `Infinity` |
//! | boolean, bit | `true` or `false` |
//! | date | `2026-11-23` |
//! | time | `14:05:09`, fractions of a second only when not zero (`14:05:09.25`) |
//! | timestamp | `2026-11-23 14:05:09` (fractions as for time) |
//! | timestamp with time zone | in UTC, `2026-11-23 14:05:09+00:00` |
//! | uuid | `0b7c…-…`, lower case |

use std::fmt::Write as _;

use chrono::{Datelike as _, NaiveDate, NaiveDateTime, NaiveTime, Timelike as _};

/// `true` or `false`.
pub fn boolean(value: bool, out: &mut String) {
    out.push_str(if value { "true" } else { "false" });
}

/// An integer.
pub fn integer(value: i64, out: &mut String) {
    let _ = write!(out, "{value}");
}

/// A floating-point number: the shortest text that reads back as the same number.
pub fn float(value: f64, out: &mut String) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let _ = write!(out, "{value}");
    }
}

/// A single-precision number, as its shortest text (not widened to `f64` digits).
pub fn float32(value: f32, out: &mut String) {
    if value.is_nan() || value.is_infinite() {
        float(f64::from(value), out);
    } else {
        let _ = write!(out, "{value}");
    }
}

/// `YYYY-MM-DD`.
pub fn date(value: NaiveDate, out: &mut String) {
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}",
        value.year(),
        value.month(),
        value.day()
    );
}

/// `HH:MM:SS`, then `.` and the fraction of a second without trailing zeros, if not zero.
pub fn time(value: NaiveTime, out: &mut String) {
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        value.hour(),
        value.minute(),
        value.second()
    );
    let nanos = value.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        let digits = format!("{nanos:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

/// `YYYY-MM-DD HH:MM:SS[.fraction]`.
pub fn timestamp(value: NaiveDateTime, out: &mut String) {
    date(value.date(), out);
    out.push(' ');
    time(value.time(), out);
}

/// A timestamp with a time zone, as UTC: `YYYY-MM-DD HH:MM:SS[.fraction]+00:00`.
pub fn timestamp_utc(value: NaiveDateTime, out: &mut String) {
    timestamp(value, out);
    out.push_str("+00:00");
}

/// The 36-character hyphenated form of a UUID, lower case.
pub fn uuid(bytes: &[u8; 16], out: &mut String) {
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let _ = write!(out, "{b:02x}");
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveTime};

    fn text(f: impl FnOnce(&mut String)) -> String {
        let mut s = String::new();
        f(&mut s);
        s
    }

    #[test]
    fn every_type_has_its_documented_text() {
        let day = NaiveDate::from_ymd_opt(987, 3, 4).expect("a date");
        let at = NaiveTime::from_hms_micro_opt(4, 5, 6, 250_000).expect("a time");
        let cases = [
            (text(|s| super::boolean(true, s)), "true"),
            (text(|s| super::integer(-42, s)), "-42"),
            (text(|s| super::float(0.1, s)), "0.1"),
            (text(|s| super::float(f64::NEG_INFINITY, s)), "-Infinity"),
            (text(|s| super::float32(0.1, s)), "0.1"),
            (text(|s| super::date(day, s)), "0987-03-04"),
            (text(|s| super::time(at, s)), "04:05:06.25"),
            (
                text(|s| super::timestamp(day.and_time(at), s)),
                "0987-03-04 04:05:06.25",
            ),
            (
                text(|s| super::timestamp_utc(day.and_hms_opt(0, 0, 0).expect("t"), s)),
                "0987-03-04 00:00:00+00:00",
            ),
            (
                text(|s| super::uuid(&[0xAB; 16], s)),
                "abababab-abab-abab-abab-abababababab",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}
