//! Where a delimited record ends, and what can be wrong with a row.

/// Where the scan of a record is, in the sense of csv-core: a quote opens a quoted field only
/// at the start of a field; a doubled quote inside one is a quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Quote {
    /// At the start of a field.
    #[default]
    Start,
    /// In a field without quotes (a quote here is a plain byte).
    Unquoted,
    /// In a quoted field.
    Quoted,
    /// Just after a quote in a quoted field: it closed the field, unless a quote follows.
    Closed,
}

/// The scan of one record so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RecScan {
    pub quote: Quote,
    /// Line feeds inside quoted fields (multi-line records).
    pub breaks: u64,
    /// A quoted field was still open at the end of a line (not allowed) or of the file.
    pub open: bool,
}

/// Scans the next bytes of a record (`bytes`, after what `s` has seen) for the line break
/// that ends it: its index, or `None` when the record goes on past `bytes`. Without
/// `multiline`, a line break inside a quoted field ends the record too, and `s.open` says so.
pub(crate) fn record_end(
    bytes: &[u8],
    s: &mut RecScan,
    delimiter: u8,
    quote: u8,
    multiline: bool,
) -> Option<usize> {
    let mut i = 0;
    while i < bytes.len() {
        match s.quote {
            Quote::Start | Quote::Unquoted => {
                let j = i + super::line_end(&bytes[i..], quote);
                if j > i {
                    s.quote = if bytes[j - 1] == delimiter {
                        Quote::Start
                    } else {
                        Quote::Unquoted
                    };
                }
                if j == bytes.len() {
                    return None;
                }
                if bytes[j] != quote {
                    return Some(j);
                }
                s.quote = match s.quote {
                    Quote::Start => Quote::Quoted,
                    other => other,
                };
                i = j + 1;
            }
            Quote::Quoted => {
                let rest = &bytes[i..];
                let found = if multiline {
                    memchr::memchr(quote, rest)
                } else {
                    memchr::memchr3(quote, b'\r', b'\n', rest)
                };
                let j = i + found.unwrap_or(rest.len());
                if multiline {
                    s.breaks += memchr::memchr_iter(b'\n', &bytes[i..j]).count() as u64;
                }
                match bytes.get(j) {
                    None => return None,
                    Some(&b) if b == quote => {
                        s.quote = Quote::Closed;
                        i = j + 1;
                    }
                    Some(_) => {
                        s.open = true;
                        return Some(j);
                    }
                }
            }
            Quote::Closed => {
                let b = bytes[i];
                if b == b'\r' || b == b'\n' {
                    return Some(i);
                }
                s.quote = if b == quote {
                    Quote::Quoted
                } else if b == delimiter {
                    Quote::Start
                } else {
                    Quote::Unquoted
                };
                i += 1;
            }
        }
    }
    None
}

/// Why a row did not read cleanly. Its person is rejected, and the run knows the extract
/// was not read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Bytes that are not UTF-8, and no fallback encoding (`E-UTF8`).
    Utf8 {
        /// 1-based line of the first invalid byte.
        line: u64,
        /// Its offset in the file.
        offset: u64,
        /// The invalid bytes (up to four).
        bytes: Vec<u8>,
    },
    /// Bytes that are neither UTF-8 nor the fallback encoding (`E-DECODE`).
    Decode {
        /// The fallback encoding's name.
        encoding: &'static str,
    },
    /// A quoted field left open at the end of the line, or of the file (`E-READ-QUOTE`).
    Quote {
        /// Open at the end of the file (with `multiline`).
        end_of_file: bool,
    },
    /// With `multiline`, a quoted field that runs over a line break and holds a whole row's
    /// worth of delimiters (`E-READ-QUOTE`): a stray quote, closed by another one on a later
    /// line, made one record of several rows. Read as values, the record would give one
    /// person the next person's fields; it is refused instead.
    Swallowed {
        /// The field's number in the record (0-based).
        field: usize,
        /// Its column's name (or `field N` past the named columns).
        column: String,
        /// The lines the field starts and ends on.
        lines: (u64, u64),
        /// The delimiters it holds.
        delimiters: usize,
    },
    /// A field count other than the header's (`E-READ-FIELDS`).
    Fields {
        /// Fields the row has.
        got: usize,
        /// Fields the header has.
        want: usize,
    },
    /// A key with an invisible or control character (`E-READ-KEY-CHAR`).
    KeyChar,
}

impl Problem {
    /// The first invalid bytes of a row `r` that starts at file offset `start` on `line`.
    pub fn utf8(r: &[u8], start: u64, line: u64) -> Problem {
        let (at, len) = match std::str::from_utf8(r) {
            Ok(_) => (0, 0),
            Err(e) => (
                e.valid_up_to(),
                e.error_len().unwrap_or(r.len() - e.valid_up_to()),
            ),
        };
        Problem::Utf8 {
            line: line + memchr::memchr_iter(b'\n', &r[..at]).count() as u64,
            offset: start + at as u64,
            bytes: r[at..(at + len.clamp(1, 4)).min(r.len())].to_vec(),
        }
    }

    /// The problem's code.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Utf8 { .. } => "E-UTF8",
            Problem::Decode { .. } => "E-DECODE",
            Problem::Quote { .. } | Problem::Swallowed { .. } => "E-READ-QUOTE",
            Problem::Fields { .. } => "E-READ-FIELDS",
            Problem::KeyChar => "E-READ-KEY-CHAR",
        }
    }

    /// `CODE: at: what is wrong` (no value from the row), for the row `at` of an input keyed
    /// on `key_column`.
    pub fn message(&self, at: &str, key_column: &str, header: bool) -> String {
        let what = match self {
            Problem::Utf8 {
                line,
                offset,
                bytes,
            } => format!(
                "line {line}, byte offset {offset}: bytes {} are not UTF-8; set `encoding` \
                 (for example \"windows-1252\") on this input if some rows are in another \
                 encoding",
                super::hex(bytes)
            ),
            Problem::Decode { encoding } => {
                format!("the row is neither UTF-8 nor {encoding}")
            }
            Problem::Quote { end_of_file: false } => "a quoted field that starts in this row \
                 is still open at the end of the line (a quote is missing; if fields may hold \
                 line breaks, set `multiline = true` on this input)"
                .to_owned(),
            Problem::Quote { end_of_file: true } => "a quoted field that starts in this row \
                 is never closed: the rest of the file was swallowed by it"
                .to_owned(),
            Problem::Swallowed {
                column,
                lines: (first, last),
                delimiters,
                ..
            } => format!(
                "a quoted field (column {column:?}) runs {} and holds {delimiters} \
                 delimiters, a whole row's worth: a stray quote? The record is refused rather \
                 than read as one person, and the rows on those lines are not loaded; fix the \
                 quotes in the export (a quote inside a value is doubled, and the value quoted)",
                match last - first {
                    // A carriage return alone breaks the line without starting a new one.
                    0 => format!("over a line break on line {first}"),
                    1 => format!("from line {first} over the line break into line {last}"),
                    n => format!("from line {first} over {n} line breaks into line {last}"),
                }
            ),
            Problem::Fields { got, want } => format!(
                "the row has {got} field(s), the {} {want}",
                if header {
                    "header has"
                } else {
                    "input's `columns` name"
                }
            ),
            Problem::KeyChar => format!(
                "the key column {key_column:?} holds an invisible or control character (a \
                 byte-order mark, NUL, zero-width or bidirectional mark, or a C0/C1 control)"
            ),
        };
        if at.is_empty() {
            format!("{}: {what}", self.code())
        } else {
            format!("{}: {at}: {what}", self.code())
        }
    }
}

/// Whether `key` (before it is trimmed) holds a character that does not show: a control
/// (C0 but the tab, DEL, C1), a format character (zero-width, bidirectional marks, U+FEFF),
/// a noncharacter or U+FFFD. Spaces and tabs around a key are trimmed, as around any value.
pub(crate) fn invisible_in(key: &str) -> bool {
    if key.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return false;
    }
    key.chars().any(|c| {
        matches!(
            c,
            '\u{0}'..='\u{8}'
                | '\u{a}'..='\u{1f}'
                | '\u{7f}'..='\u{9f}'
                | '\u{ad}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{fffd}'..='\u{ffff}'
                | '\u{110bd}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e0fff}'
        )
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{RecScan, record_end};

    /// Where a whole-input csv-core read ends the first record, and whether it ended inside
    /// quotes (the input's end closes it).
    fn csv_core_end(bytes: &[u8]) -> usize {
        let mut rdr = csv_core::Reader::new();
        let mut out = vec![0; bytes.len() * 2 + 8];
        let mut ends = vec![0; bytes.len() + 8];
        // One byte at a time: csv-core then reports exactly where the record ended.
        for (i, b) in bytes.iter().enumerate() {
            let (result, _, _, _) = rdr.read_record(std::slice::from_ref(b), &mut out, &mut ends);
            if let csv_core::ReadRecordResult::Record = result {
                return i;
            }
        }
        bytes.len()
    }

    fn byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            Just(b','),
            Just(b'"'),
            Just(b'\r'),
            Just(b'\n'),
            Just(b'a'),
            Just(b' ')
        ]
    }

    proptest! {
        /// With multi-line records allowed, a record ends where csv-core ends it, whatever
        /// the chunks it comes in.
        #[test]
        fn records_end_where_csv_core_ends_them(
            first in prop_oneof![Just(b','), Just(b'"'), Just(b'a'), Just(b' ')],
            rest in proptest::collection::vec(byte(), 0..40),
            cut in 1usize..8,
        ) {
            // csv-core skips line breaks before a record; records here start at a byte that
            // is not one.
            let mut body = vec![first];
            body.extend_from_slice(&rest);
            let mut s = RecScan::default();
            let mut found = None;
            let mut at = 0;
            for chunk in body.chunks(cut) {
                if let Some(j) = record_end(chunk, &mut s, b',', b'"', true) {
                    found = Some(at + j);
                    break;
                }
                at += chunk.len();
            }
            let want = csv_core_end(&body);
            prop_assert_eq!(found.unwrap_or(body.len()), want);
        }
    }

    #[test]
    fn without_multiline_a_quote_open_at_the_line_end_ends_the_record() {
        let mut s = RecScan::default();
        assert_eq!(
            record_end(b"1,\"Fran\xc3\xa7ois,x\n2,b\n", &mut s, b',', b'"', false),
            Some(14)
        );
        assert!(s.open);
        let mut s = RecScan::default();
        assert_eq!(
            record_end(b"1,\"a,\"\"b\"\"\",c\r\n", &mut s, b',', b'"', false),
            Some(13)
        );
        assert!(!s.open);
        // A quote inside a field without quotes is a plain byte.
        let mut s = RecScan::default();
        assert_eq!(
            record_end(b"1,O\"Brien\n", &mut s, b',', b'"', false),
            Some(9)
        );
        assert!(!s.open);
    }
}
