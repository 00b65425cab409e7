//! Reading and decoding extract files: delimited or fixed width, any single-byte delimiter,
//! quoted fields, CRLF or LF, UTF-8 (BOM stripped) and, row by row, a configured fallback
//! encoding.
//!
//! A [`Source`] is read once, in chunks, to find where every row starts ([`Offsets`]: about
//! two bytes a row) and to hand each row's key to a [`Sink`]; nothing else of the file stays
//! in memory. Rows are read back by offset when their person is mapped ([`Cache`]: a
//! read-ahead window per file, owned by whoever maps) and parsed again: csv-core on the row's
//! bytes, or, for a row without quotes, a plain split at the delimiter, which gives the same
//! fields (see [`simple_line`]), and for a row whose quotes only enclose whole fields, a
//! split between the delimiters and quotes found (see `RowParser::quoted_line`), which does
//! too (a proptest holds both to csv-core).
//!
//! Decoding is decided per row: a row whose bytes are UTF-8 is UTF-8; only a row that is not
//! is decoded with the input's fallback (any ASCII-compatible encoding: rows are found in the
//! raw bytes, where line breaks, quotes and the delimiter are ASCII), or rejected with
//! `E-UTF8` when there is none. A UTF-16 fallback applies to the whole file (a UTF-16
//! byte-order mark, or NUL bytes in its first line): it is decoded as it is read, and its
//! rows read back by their offsets in the raw file.
//!
//! The file is read as a whole or not trusted: a quoted field left open at the end of a
//! line (unless `multiline`), a row with a field count other than the header's, a key with
//! invisible or control characters, and rows that cannot be decoded are [`Problem`]s of
//! their rows (the run rejects them and knows the extract did not read cleanly); a duplicate
//! header name, or a row, field, header or file above `[limits]`, stops the read.
//! A row with far more fields than the header ([`most_fields`]) keeps only its first ones and
//! counts the rest: what a row's fields take stays bounded by the header's width, however many
//! delimiters a line holds.
//! What was read is hashed as it is read ([`Stamp`]), so that the run can check before it
//! sends anything that the file did not change while it read it.

mod scan;
mod stream;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use encoding_rs::Encoding;

use crate::ExtractError;
use crate::config::{InputConfig, InputFormat, LimitsConfig};
pub(crate) use scan::{Problem, invisible_in};
use scan::{Quote, RecScan, record_end};
use stream::{Hashed, Stream, Utf8Stream, Utf16Stream};

/// A file decoded to UTF-8, with a warning when a fallback encoding was used.
#[derive(Debug)]
pub struct DecodedFile {
    /// The text, BOM stripped.
    pub text: String,
    /// Set when some lines were not UTF-8 and the fallback decoded them.
    pub warning: Option<String>,
}

/// Decodes a file read whole, line by line: a line that is UTF-8 stays as it is (a BOM at
/// the start is stripped); a line that is not is decoded with the fallback encoding (a UTF-16
/// fallback decodes the whole file), or, without one, the file is an error naming line,
/// byte offset and bytes.
pub fn decode_file(path: &Path, fallback: Option<&str>) -> Result<DecodedFile, ExtractError> {
    let bytes = std::fs::read(path).map_err(|source| ExtractError::Io {
        path: path.to_owned(),
        source,
    })?;
    decode_bytes(path, &bytes, fallback)
}

/// [`decode_file`] on bytes already read.
fn decode_bytes(
    path: &Path,
    bytes: &[u8],
    fallback: Option<&str>,
) -> Result<DecodedFile, ExtractError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let bom = (bytes.len() - body.len()) as u64;
    let Err(e) = std::str::from_utf8(body) else {
        return Ok(DecodedFile {
            text: String::from_utf8_lossy(body).into_owned(),
            warning: None,
        });
    };
    let offset = e.valid_up_to();
    let bad_len = e.error_len().unwrap_or(body.len() - offset).max(1);
    let first = Invalid {
        offset: offset as u64 + bom,
        line: memchr::memchr_iter(b'\n', &body[..offset]).count() as u64 + 1,
        bytes: body[offset..(offset + bad_len).min(body.len())].to_vec(),
    };
    let Some(label) = fallback else {
        return Err(ExtractError::NotUtf8 {
            path: path.to_owned(),
            line: first.line,
            offset: first.offset,
            bytes: hex(&first.bytes),
        });
    };
    let encoding = Encoding::for_label(label.as_bytes()).ok_or_else(|| ExtractError::Config {
        at: path.display().to_string(),
        message: format!(
            "unknown encoding {label:?}; use a WHATWG label such as \"windows-1252\" or \"iso-8859-1\""
        ),
    })?;
    if !encoding.is_ascii_compatible() {
        let (text, _) = encoding.decode_with_bom_removal(bytes);
        return Ok(DecodedFile {
            text: text.into_owned(),
            warning: Some(format!(
                "{}: not UTF-8, decoded whole as {}",
                path.display(),
                encoding.name()
            )),
        });
    }
    let mut text = String::with_capacity(body.len() + body.len() / 8);
    let mut decoded = 0;
    for line in body.split_inclusive(|&b| b == b'\n') {
        match std::str::from_utf8(line) {
            Ok(line) => text.push_str(line),
            Err(_) => {
                decoded += 1;
                text.push_str(&encoding.decode_without_bom_handling(line).0);
            }
        }
    }
    Ok(DecodedFile {
        text,
        warning: Some(format!(
            "{}: {decoded} line(s) not UTF-8, decoded as {} (the first at line {}, byte offset \
             {}: bytes {})",
            path.display(),
            encoding.name(),
            first.line,
            first.offset,
            hex(&first.bytes)
        )),
    })
}

/// The first bytes of a file that are not UTF-8.
#[derive(Debug)]
struct Invalid {
    /// Byte offset in the file.
    offset: u64,
    /// 1-based line.
    line: u64,
    bytes: Vec<u8>,
}

/// Bytes as `0xE9 0x41`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("0x{b:02X}")).collect();
    hex.join(" ")
}

/// How a row's text is split into fields.
#[derive(Debug, Clone)]
pub(crate) enum Layout {
    Delimited { delimiter: u8, quote: u8 },
    Fixed { positions: Vec<(usize, usize)> },
}

/// How a source's bytes become text.
#[derive(Debug, Clone, Copy)]
enum Text {
    /// Row by row: UTF-8, or, for a row that is not, the fallback (none: the row is a
    /// [`Problem::Utf8`]).
    Rows(Option<&'static Encoding>),
    /// The whole file in UTF-16 (rows read back by their raw offsets and decoded).
    Utf16(&'static Encoding),
}

/// Where each row of a source starts, and its line: every [`STRIDE`]th start in full, the
/// others as the distance from the row before (two bytes; a distance that does not fit is
/// kept aside), and the line as a distance from the row number, kept only where it
/// changes. Row `i` ends where row `i + 1` starts (the last where the data ends).
#[derive(Debug, Default)]
struct Offsets {
    /// The start of every [`STRIDE`]th row.
    bases: Vec<u64>,
    /// Per row: its start minus the previous row's ([`LONG`] when that does not fit, 0 for
    /// a row in `bases`).
    gaps: Vec<u16>,
    /// (row, gap) of the rows whose gap is [`LONG`], in row order.
    long: Vec<(u32, u64)>,
    /// (first row, line minus row number from that row on).
    lines: Vec<(u32, i64)>,
    end: u64,
    /// The start of the last row pushed.
    last: u64,
}

/// Rows between two full starts: finding a start adds at most this many gaps less one.
const STRIDE: usize = 32;
/// A gap kept in [`Offsets::long`].
const LONG: u16 = u16::MAX;

impl Offsets {
    fn push(&mut self, start: u64, line: u64) {
        let row = self.gaps.len();
        if row.is_multiple_of(STRIDE) {
            self.bases.push(start);
            self.gaps.push(0);
        } else {
            debug_assert!(start >= self.last, "rows start in file order");
            let gap = start.saturating_sub(self.last);
            match u16::try_from(gap) {
                Ok(short) if short != LONG => self.gaps.push(short),
                _ => {
                    self.gaps.push(LONG);
                    self.long.push((row as u32, gap));
                }
            }
        }
        self.last = start;
        let delta = line as i64 - row as i64;
        if self.lines.last().is_none_or(|l| l.1 != delta) {
            self.lines.push((row as u32, delta));
        }
    }

    fn len(&self) -> usize {
        self.gaps.len()
    }

    /// How far row `row` starts after the row before it (0 for a row in `bases`).
    fn gap(&self, row: usize) -> u64 {
        match self.gaps[row] {
            LONG => {
                let found = self.long.binary_search_by_key(&(row as u32), |l| l.0);
                found.map_or(0, |f| self.long[f].1)
            }
            gap => u64::from(gap),
        }
    }

    fn start(&self, i: usize) -> u64 {
        let base = i - i % STRIDE;
        self.bases[i / STRIDE] + (base + 1..=i).map(|row| self.gap(row)).sum::<u64>()
    }

    /// Where row `i` starts and ends: it ends where row `i + 1` starts (the gaps are added
    /// up once for both), the last where the data ends.
    fn span(&self, i: usize) -> (u64, u64) {
        let start = self.start(i);
        let next = i + 1;
        let end = if next >= self.len() {
            self.end
        } else if next.is_multiple_of(STRIDE) {
            self.bases[next / STRIDE]
        } else {
            start + self.gap(next)
        };
        (start, end)
    }

    fn line(&self, i: usize) -> u64 {
        let row = i as u32;
        let at = self.lines.partition_point(|l| l.0 <= row);
        let delta = at.checked_sub(1).map_or(0, |at| self.lines[at].1);
        (i as i64 + delta) as u64
    }

    fn shrink_to_fit(&mut self) {
        self.bases.shrink_to_fit();
        self.gaps.shrink_to_fit();
        self.long.shrink_to_fit();
        self.lines.shrink_to_fit();
    }
}

/// Who is told about every row as a file is read.
pub(crate) trait Sink {
    /// The next row of the file has this key; `false` when no more rows fit in the index.
    /// `fields` are the row's fields as [`Source::fields`] reads them back, when the sink
    /// [wants them](Sink::wants_fields) and the row was read without a problem (`None` for
    /// a row with one).
    fn row(&mut self, key: &str, fields: Option<RowFields<'_>>) -> bool;
    /// About this many more rows are coming (a guess from the file's size).
    fn expect(&mut self, rows: usize);
    /// Whether [`Sink::row`] takes each row's fields (parsing them costs the scan time).
    fn wants_fields(&self) -> bool {
        false
    }
}

/// `str::trim`, quicker on values that start and end with a visible ASCII character.
pub(crate) fn trim(value: &str) -> &str {
    let bytes = value.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => value,
        (None, _) => value,
        _ => value.trim(),
    }
}

/// A row's fields for [`Sink::row`]: parsed, or a line that needs no CSV rules, whose
/// fields are its pieces between delimiters, trimmed (what [`RowParser::parse`] makes of it,
/// without copying it).
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowFields<'a> {
    /// Parsed.
    Parsed(&'a Fields),
    /// A line without quotes or line breaks, not empty and not starting with a BOM.
    Line {
        /// The line's bytes.
        line: &'a [u8],
        /// Where its fields end.
        delimiter: u8,
    },
}

impl RowFields<'_> {
    /// Calls `each` with every field's bytes, in order, as [`Fields::get`] gives them.
    pub(crate) fn each(self, mut each: impl FnMut(&[u8])) {
        match self {
            RowFields::Parsed(fields) => {
                for i in 0..fields.len() {
                    each(fields.get(i).unwrap_or("").as_bytes());
                }
            }
            RowFields::Line { line, delimiter } => match std::str::from_utf8(line) {
                // Field ends are at an ASCII byte: boundaries of characters.
                Ok(text) if delimiter.is_ascii() => {
                    let mut start = 0;
                    for (at, &b) in line.iter().enumerate() {
                        if b == delimiter {
                            each(trim(&text[start..at]).as_bytes());
                            start = at + 1;
                        }
                    }
                    each(trim(&text[start..]).as_bytes());
                }
                // As the parser reads a line that is not UTF-8: field by field.
                _ => {
                    for field in line.split(|&b| b == delimiter) {
                        each(trim(&String::from_utf8_lossy(field)).as_bytes());
                    }
                }
            },
        }
    }
}

/// One row's fields, trimmed: the bytes of each in one string.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    text: String,
    spans: Vec<(usize, usize)>,
}

impl Fields {
    fn clear(&mut self) {
        self.text.clear();
        self.spans.clear();
    }

    fn push(&mut self, value: &str) {
        let value = trim(value);
        let start = self.text.len();
        self.text.push_str(value);
        self.spans.push((start, self.text.len()));
    }

    /// The fields of `line`, which ends where its last field does and has a field end at
    /// each of `ends` (at ASCII bytes): copied once.
    fn set_line(&mut self, line: &str, ends: &[usize]) {
        self.text.push_str(line);
        let mut start = 0;
        for &end in ends {
            let value = &line[start..end];
            let trimmed = trim(value);
            let from = start + (trimmed.as_ptr() as usize - value.as_ptr() as usize);
            self.spans.push((from, from + trimmed.len()));
            start = end + 1;
        }
    }

    /// How many fields the row has.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// The length in bytes of field `i` (0 when the row does not have it).
    pub fn len_of(&self, i: usize) -> usize {
        self.spans.get(i).map_or(0, |&(start, end)| end - start)
    }

    /// Every field's text, one after the other.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Field `i`, if the row has it.
    pub fn get(&self, i: usize) -> Option<&str> {
        let &(start, end) = self.spans.get(i)?;
        self.text.get(start..end)
    }
}

/// Parses rows of a delimited file, one at a time, as a whole-file read does.
#[derive(Debug)]
struct RowParser {
    csv: csv_core::Reader,
    delimiter: u8,
    quote: u8,
    /// Whether rows without a quote may skip csv-core (see [`simple_line`]).
    simple: bool,
    out: Vec<u8>,
    ends: Vec<usize>,
    /// The most fields of a row whose ends are kept ([`most_fields`]); the others are only
    /// counted.
    most: usize,
    /// The fields of the last row split ([`RowParser::split`]) whose ends are in
    /// [`RowParser::ends`] (at most [`RowParser::most`]).
    kept: usize,
    /// The longest of the fields not kept, in bytes.
    longest_dropped: usize,
}

/// The most fields a row's ends are kept for, for a header of `columns` columns: a row with
/// more is wrong however it is read (`E-READ-FIELDS`), and keeping its first fields is enough
/// to take its key, so that its fields take no more room than a row 4 times the header's
/// width, whatever the number of delimiters in it.
pub(crate) fn most_fields(columns: usize) -> usize {
    columns.saturating_mul(4).max(1024)
}

/// Room for field ends past [`RowParser::most`], which csv-core fills before they are counted.
const SPARE_ENDS: usize = 64;

impl RowParser {
    /// A parser that keeps the ends of at most `most` fields of a row (`usize::MAX`: all).
    fn new(delimiter: u8, quote: u8, most: usize) -> RowParser {
        let special = |b: u8| b == b'\r' || b == b'\n';
        RowParser {
            csv: csv_core::ReaderBuilder::new()
                .delimiter(delimiter)
                .quote(quote)
                .build(),
            delimiter,
            quote,
            simple: delimiter != quote && !special(delimiter) && !special(quote),
            out: vec![0; 1024],
            ends: vec![0; 64],
            most: most.max(1),
            kept: 0,
            longest_dropped: 0,
        }
    }

    /// Field `i` of the last row split, untrimmed, if it is kept.
    fn untrimmed(&self, i: usize) -> Option<&[u8]> {
        let ends = self.ends.get(..self.kept)?;
        let end = *ends.get(i)?;
        let start = if i == 0 { 0 } else { ends[i - 1] };
        self.out.get(start..end)
    }

    /// Parses the first record of `input` into trimmed fields (the first
    /// [`RowParser::most`]); `false` when their bytes are not UTF-8 (the fields then hold
    /// U+FFFD where they are not).
    fn parse(&mut self, input: &[u8], fields: &mut Fields) -> bool {
        fields.clear();
        if self.simple
            && let Some(line) = simple_line(input, self.quote)
        {
            field_ends(line, self.delimiter, &mut self.ends, self.most);
            // The kept fields, which end at the last kept end.
            let line = &line[..self.ends.last().map_or(0, |&end| end)];
            match std::str::from_utf8(line) {
                // Field ends are at ASCII bytes: boundaries of characters.
                Ok(line) => {
                    fields.set_line(line, &self.ends);
                    return true;
                }
                Err(_) => {
                    let mut start = 0;
                    for &end in &self.ends {
                        fields.push(&String::from_utf8_lossy(&line[start..end]));
                        start = end + 1;
                    }
                    return false;
                }
            }
        }
        self.split(input);
        self.fields_found(fields)
    }

    /// Splits the first record of `input` into [`RowParser::out`] and [`RowParser::ends`]
    /// (the quoted quick path, or csv-core), without making fields of it: what
    /// [`RowParser::untrimmed`] and [`RowParser::fields_found`] read. Returns the number of
    /// fields (of which the first [`RowParser::most`] are kept).
    fn split(&mut self, mut input: &[u8]) -> usize {
        use csv_core::ReadRecordResult as R;
        if self.ends.len() < SPARE_ENDS {
            self.ends.resize(SPARE_ENDS, 0);
        }
        self.longest_dropped = 0;
        if self.simple
            && let Some(nend) = self.quoted_line(input)
        {
            self.kept = nend;
            return nend;
        }
        self.csv.reset();
        // The first byte goes alone, so that csv-core does not take bytes EF BB BF for a BOM:
        // the file's own BOM is skipped before any row, so a U+FEFF that starts a row is part
        // of it (and a key holding it is refused).
        let mut one_byte = true;
        let (mut nout, mut nend, mut dropped) = (0, 0, 0);
        // Where the last field forgotten ended.
        let mut last = None;
        loop {
            let chunk = match input.split_first_chunk::<1>() {
                Some((first, _)) if one_byte => {
                    one_byte = false;
                    &first[..]
                }
                _ => input,
            };
            let (result, nin, o, e) =
                self.csv
                    .read_record(chunk, &mut self.out[nout..], &mut self.ends[nend..]);
            input = &input[nin..];
            nout += o;
            nend += e;
            match result {
                R::InputEmpty if input.is_empty() && nin == 0 => break,
                R::InputEmpty => {}
                R::OutputFull => self.out.resize(self.out.len() * 2, 0),
                R::OutputEndsFull => {
                    dropped += self.drop_ends(&mut nend, &mut last);
                    let room = (self.ends.len() * 2).min(self.most.saturating_add(SPARE_ENDS));
                    if room > self.ends.len() {
                        self.ends.resize(room, 0);
                    }
                }
                R::Record | R::End => break,
            }
        }
        dropped += self.drop_ends(&mut nend, &mut last);
        self.kept = nend;
        nend + dropped
    }

    /// Forgets the field ends in [`RowParser::ends`] past the first [`RowParser::most`]
    /// (`nend` of them are filled; `last`: where the last field forgotten before ended),
    /// keeping the length of the longest of their fields: returns how many were forgotten.
    fn drop_ends(&mut self, nend: &mut usize, last: &mut Option<usize>) -> usize {
        let Some(past) = self.ends.get(self.most..*nend) else {
            return 0;
        };
        // Ends are offsets in `out`, where the record's fields follow one another.
        let mut before = last.unwrap_or(self.ends[self.most - 1]);
        for &end in past {
            self.longest_dropped = self.longest_dropped.max(end.saturating_sub(before));
            before = end;
        }
        *last = Some(before);
        let n = past.len();
        *nend = self.most;
        n
    }

    /// The length in bytes of the longest field of the last row split, untrimmed, or
    /// trimmed when it is kept and `kept` are the kept fields made ([`RowParser::fields_found`]).
    fn longest(&self, kept: &Fields) -> usize {
        (0..kept.len())
            .map(|i| kept.len_of(i))
            .max()
            .unwrap_or(0)
            .max(self.longest_dropped)
    }

    /// The first record of `input` split as csv-core splits it, when its quotes only enclose
    /// whole fields: each field holds no quote, or starts and ends with one and holds others
    /// only doubled and no line break; each is followed by the delimiter or the end of the
    /// record (a line break, or the end of `input`). Fills [`RowParser::out`] and
    /// [`RowParser::ends`] as csv-core does and returns the number of fields; `None` for any
    /// other record (csv-core reads it), one that starts with a line break or a BOM too.
    fn quoted_line(&mut self, input: &[u8]) -> Option<usize> {
        if !plain_start(input) {
            return None;
        }
        let (delimiter, quote) = (self.delimiter, self.quote);
        // The record ends at the first line break: one inside a quoted field leaves it
        // unclosed before it, which csv-core reads.
        let record = &input[..memchr::memchr2(b'\r', b'\n', input).unwrap_or(input.len())];
        // A field's bytes are never more than the record's.
        if self.out.len() < record.len() {
            self.out.resize(record.len(), 0);
        }
        let (mut n, mut nend) = (0, 0);
        let put = |out: &mut [u8], n: &mut usize, bytes: &[u8]| {
            out[*n..*n + bytes.len()].copy_from_slice(bytes);
            *n += bytes.len();
        };
        // The delimiters and quotes, in order; `start` is where the current field starts.
        let mut special = memchr::memchr2_iter(delimiter, quote, record);
        let mut start = 0;
        loop {
            let end = if record.get(start) == Some(&quote) {
                // A quoted field: its value runs to a quote not doubled, which the delimiter
                // or the record's end must follow.
                let mut from = start + 1;
                loop {
                    let at = special.find(|&at| at >= from && record[at] == quote)?;
                    put(&mut self.out, &mut n, &record[from..at]);
                    if record.get(at + 1) == Some(&quote) {
                        put(&mut self.out, &mut n, &[quote]);
                        from = at + 2;
                        continue;
                    }
                    match record.get(at + 1) {
                        None => break record.len(),
                        Some(&b) if b == delimiter => {
                            // The delimiter is the iterator's next.
                            special.next();
                            break at + 1;
                        }
                        Some(_) => return None,
                    }
                }
            } else {
                match special.find(|&at| at >= start) {
                    Some(at) if record[at] == quote => return None,
                    Some(at) => {
                        put(&mut self.out, &mut n, &record[start..at]);
                        at
                    }
                    None => {
                        put(&mut self.out, &mut n, &record[start..]);
                        record.len()
                    }
                }
            };
            if nend == self.most {
                // Too many fields to keep: csv-core counts them.
                return None;
            }
            if nend == self.ends.len() {
                self.ends.resize((nend * 2).min(self.most), 0);
            }
            self.ends[nend] = n;
            nend += 1;
            if end == record.len() {
                return Some(nend);
            }
            start = end + 1;
        }
    }

    /// In the record last split ([`RowParser::split`]) that starts on `line`, the first field
    /// that holds a line break and at least a whole row's worth of delimiters (one fewer
    /// than the `want` fields a row has, and at least one), as a [`Problem::Swallowed`]
    /// named after `columns`. Only a quoted field holds a line break, so such a field is a
    /// stray quote closed by another on a later line, not a value: a multi-line address
    /// holds a comma or two.
    fn swallowed(
        &self,
        delimiter: u8,
        want: usize,
        line: u64,
        columns: &[String],
    ) -> Option<Problem> {
        let least = want.saturating_sub(1).max(1);
        // Lines are counted at `\n`, as the scan counts them.
        let mut start = line;
        // Only the kept fields (a row with more is E-READ-FIELDS anyway).
        for field in 0..self.kept {
            let value = self.untrimmed(field)?;
            let breaks = memchr::memchr_iter(b'\n', value).count() as u64;
            if breaks > 0 || memchr::memchr(b'\r', value).is_some() {
                let delimiters = memchr::memchr_iter(delimiter, value).count();
                if delimiters >= least {
                    return Some(Problem::Swallowed {
                        field,
                        column: columns
                            .get(field)
                            .filter(|c| !c.is_empty())
                            .cloned()
                            .unwrap_or_else(|| format!("field {}", field + 1)),
                        lines: (start, start + breaks),
                        delimiters,
                    });
                }
            }
            start += breaks;
        }
        None
    }

    /// The kept fields of the record last split ([`RowParser::split`]), trimmed, into
    /// `fields` (cleared first); `false` when they are not UTF-8.
    fn fields_found(&self, fields: &mut Fields) -> bool {
        fields.clear();
        let nend = self.kept;
        let all = self
            .out
            .get(..self.ends[..nend].last().copied().unwrap_or(0))
            .unwrap_or_default();
        // One check of the whole row instead of one per field; a character cut by a field
        // end (its bytes valid only joined) makes the row not UTF-8, as its raw bytes are not.
        let utf8 = std::str::from_utf8(all).ok();
        let mut valid = utf8.is_some();
        let mut start = 0;
        for &end in &self.ends[..nend] {
            match utf8.and_then(|all| all.get(start..end)) {
                Some(value) => fields.push(value),
                None => {
                    valid = false;
                    fields.push(&String::from_utf8_lossy(
                        self.out.get(start..end).unwrap_or_default(),
                    ));
                }
            }
            start = end;
        }
        valid
    }
}

/// The first record of `input` when reading it needs no CSV rules: a line that does not
/// start with a BOM or a line break and has no `quote` byte, up to (not with) the line break
/// that ends it. Its fields are then exactly what csv-core makes of it: the line split at
/// every delimiter.
fn simple_line(input: &[u8], quote: u8) -> Option<&[u8]> {
    if !plain_start(input) {
        return None;
    }
    let end = line_end(input, quote);
    (input.get(end) != Some(&quote)).then(|| &input[..end])
}

/// Whether a record at the start of `input` may be read without csv-core as far as its start
/// goes: there is one (not empty), and it starts with neither a line break nor a BOM (a
/// U+FEFF that starts a row is csv-core's to read; see [`RowParser::split`]).
fn plain_start(input: &[u8]) -> bool {
    !matches!(input.first(), None | Some(b'\r' | b'\n')) && !input.starts_with(b"\xEF\xBB\xBF")
}

/// The first `\r`, `\n` or `quote` in `bytes` (or its length).
fn line_end(bytes: &[u8], quote: u8) -> usize {
    memchr::memchr3(b'\r', b'\n', quote, bytes).unwrap_or(bytes.len())
}

/// The field ends of a line without quotes or line breaks: one at each delimiter, one at
/// the end; only the first `most` of them.
fn field_ends(line: &[u8], delimiter: u8, ends: &mut Vec<usize>, most: usize) {
    ends.clear();
    for (i, &b) in line.iter().enumerate() {
        if b == delimiter {
            ends.push(i);
            if ends.len() == most {
                // This delimiter ends the last field kept.
                return;
            }
        }
    }
    ends.push(line.len());
}

/// Splits one line of a fixed-width file (its line break included or not) into fields.
fn fixed_fields(line: &str, positions: &[(usize, usize)], fields: &mut Fields) {
    fields.clear();
    let line = line.trim_end_matches(['\r', '\n']);
    for &(start, width) in positions {
        let from = line
            .char_indices()
            .nth(start)
            .map_or(line.len(), |(at, _)| at);
        let rest = &line[from..];
        let to = rest
            .char_indices()
            .nth(width)
            .map_or(rest.len(), |(at, _)| at);
        fields.push(&rest[..to]);
    }
}

/// Parses a one-byte setting such as a delimiter: one byte, or `\t`.
pub(crate) fn one_byte(value: &str) -> Option<u8> {
    match value.as_bytes() {
        [b] => Some(*b),
        b"\\t" => Some(b'\t'),
        _ => None,
    }
}

fn reader<R: Read>(text: R, delimiter: u8, quote: u8) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(delimiter)
        .quote(quote)
        .from_reader(text)
}

/// Reads the bytes of `file` from `offset` into `buf`, as many as there are.
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        #[cfg(unix)]
        let read = std::os::unix::fs::FileExt::read_at(file, &mut buf[n..], offset + n as u64);
        #[cfg(windows)]
        let read = std::os::windows::fs::FileExt::seek_read(file, &mut buf[n..], offset + n as u64);
        match read {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What a reader keeps between rows of one source: a window of the file and a parser.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    window: Window,
    parser: Option<RowParser>,
    /// A row of a UTF-16 file, decoded.
    decoded: String,
    /// A row that is not UTF-8, decoded with the fallback.
    recoded: String,
}

/// Bytes of a file read ahead, and a row read on its own.
#[derive(Debug, Default)]
struct Window {
    /// File offset of `bytes[0]`.
    start: u64,
    bytes: Vec<u8>,
    /// A row outside the window, read on its own.
    single: Vec<u8>,
}

/// After how many rows of a file the rest is guessed from its size.
const GUESS_AFTER: usize = 1024;

/// How many more rows `size` bytes hold if they are like the `read` bytes of the first
/// [`GUESS_AFTER`] rows; at most 16 million, so that odd first rows cannot make the index
/// reserve much more than it needs.
fn guess(size: u64, read: u64) -> usize {
    const MOST: usize = 1 << 24;
    let per_row = (read / GUESS_AFTER as u64).max(1);
    usize::try_from(size.saturating_sub(read) / per_row).map_or(MOST, |n| n.min(MOST))
}

/// How much of a file is read at once, when indexing and when reading rows back.
const CHUNK: usize = 1 << 18;

/// What a file was when it was read: its metadata, and the length and CRC-32 of every byte
/// read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Stamp {
    meta: Meta,
    len: u64,
    crc: u32,
}

/// The metadata that changes when a file is written: size and modification time, and which
/// file it is. (Not the status change time: it changes when the file is renamed away,
/// which leaves its bytes as they were.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Meta {
    size: u64,
    modified: Option<std::time::SystemTime>,
    id: (u64, u64),
}

impl Meta {
    fn of(file: &File) -> std::io::Result<Meta> {
        let m = file.metadata()?;
        #[cfg(unix)]
        let id = {
            use std::os::unix::fs::MetadataExt as _;
            (m.dev(), m.ino())
        };
        #[cfg(not(unix))]
        let id = (0, 0);
        Ok(Meta {
            size: m.len(),
            modified: m.modified().ok(),
            id,
        })
    }
}

/// What reading a row back gave.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowRead {
    /// `false` when the row could not be read back (the file is shorter now).
    pub readable: bool,
    /// The encoding the row was decoded with, when it was not UTF-8.
    pub decoded_as: Option<&'static Encoding>,
}

/// One input file: its columns and where each of its rows starts.
#[derive(Debug)]
pub(crate) struct Source {
    /// The path as written in the config.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    pub columns: Vec<String>,
    pub index: HashMap<String, usize>,
    pub supplement: bool,
    /// Whether the input has a header row (row problems say "the header has").
    header: bool,
    file: File,
    text: Text,
    layout: Layout,
    rows: Offsets,
    /// Column number (among every input's columns, see `Extractor::new`) -> field number in
    /// this source's rows, or `usize::MAX` when it has no such column.
    pub fields_of: Vec<usize>,
    /// How much is read at once ([`CHUNK`]; less in tests).
    chunk: usize,
    /// Rows that did not read cleanly, in row order.
    problems: Vec<(u32, Problem)>,
    /// Rows decoded with the fallback encoding, in row order.
    fallback: Vec<u32>,
    /// The same rows as bits (row `i` is bit `i % 64` of word `i / 64`), for reading back.
    fallback_bits: Vec<u64>,
    stamp: Stamp,
}

/// What the scan of one file works with.
struct Scan<'a> {
    path: &'a Path,
    input: &'a InputConfig,
    limits: &'a LimitsConfig,
    text: Text,
    /// The file's size (to guess how many rows are coming).
    size: u64,
}

impl Scan<'_> {
    fn limit(&self, line: u64, message: String) -> ExtractError {
        ExtractError::Read {
            path: self.path.to_owned(),
            line,
            code: "E-READ-LIMIT",
            message,
        }
    }

    fn io(&self, source: std::io::Error) -> ExtractError {
        ExtractError::Io {
            path: self.path.to_owned(),
            source,
        }
    }

    /// The next bytes of `data`; the input size limit is checked here.
    fn fill<'d>(&self, data: &'d mut impl Stream, line: u64) -> Result<&'d [u8], ExtractError> {
        if data.offset() > self.limits.input_bytes {
            return Err(self.limit(
                line,
                format!(
                    "the input is larger than limits.input_bytes ({} bytes)",
                    self.limits.input_bytes
                ),
            ));
        }
        data.fill_buf().map_err(|e| self.io(e))
    }

    /// `len` bytes of `what` on `line`, checked against the limit `key` of `most` bytes.
    fn within(
        &self,
        line: u64,
        len: usize,
        (what, key, most): (&str, &str, u64),
    ) -> Result<(), ExtractError> {
        if len as u64 > most {
            return Err(self.limit(
                line,
                format!("{what} is longer than limits.{key} ({most} bytes)"),
            ));
        }
        Ok(())
    }

    /// A row of `len` bytes on `line`, checked against the row limit.
    fn row_len(&self, line: u64, len: usize) -> Result<(), ExtractError> {
        self.within(line, len, ("the row", "line_bytes", self.limits.line_bytes))
    }

    /// A header row of `len` bytes on `line`, checked against the header limit.
    fn header_len(&self, line: u64, len: usize) -> Result<(), ExtractError> {
        self.within(
            line,
            len,
            ("the header row", "header_bytes", self.limits.header_bytes),
        )
    }

    /// A header (`header`) or a row of `len` bytes so far on `line`, checked against its limit.
    fn record_len(&self, header: bool, line: u64, len: usize) -> Result<(), ExtractError> {
        if header {
            self.header_len(line, len)
        } else {
            self.row_len(line, len)
        }
    }

    /// Fields of `lens` bytes on `line`, checked against the field limit.
    fn field_lens(&self, line: u64, lens: impl Iterator<Item = usize>) -> Result<(), ExtractError> {
        let longest = lens.max().unwrap_or(0);
        let limit = ("a field", "field_bytes", self.limits.field_bytes);
        self.within(line, longest, limit)
    }

    /// A row's bytes `r` as UTF-8 text: as they are when `bad` is false; else decoded with
    /// the fallback, or left as they are with the problem that says why they cannot be read.
    fn decode<'r>(
        &self,
        r: &'r [u8],
        bad: bool,
        (start, line): (u64, u64),
        buf: &'r mut String,
    ) -> (&'r [u8], Option<Problem>, bool) {
        if !bad {
            return (r, None, false);
        }
        match self.text {
            Text::Rows(Some(encoding)) => {
                let malformed = decode_into(encoding, r, buf);
                let problem = malformed.then(|| Problem::Decode {
                    encoding: encoding.name(),
                });
                (buf.as_bytes(), problem, !malformed)
            }
            Text::Rows(None) => (r, Some(Problem::utf8(r, start, line)), false),
            Text::Utf16(encoding) => (
                r,
                Some(Problem::Decode {
                    encoding: encoding.name(),
                }),
                false,
            ),
        }
    }
}

/// Decodes `bytes` with `encoding` into `out` (whose room is kept from row to row);
/// `true` when some bytes were malformed (and replaced).
fn decode_into(encoding: &'static Encoding, bytes: &[u8], out: &mut String) -> bool {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    out.clear();
    out.reserve(
        decoder
            .max_utf8_buffer_length(bytes.len())
            .unwrap_or(bytes.len() * 3 + 16),
    );
    let (_, _, malformed) = decoder.decode_to_string(bytes, out, true);
    malformed
}

/// What the scan of a delimited file carries from row to row.
struct Delimited {
    delimiter: u8,
    quote: u8,
    multiline: bool,
    /// The header row is still to come.
    header: bool,
    /// The key column's field number.
    key: Option<usize>,
    /// Fields a row must have (the header's, or the configured columns').
    want: usize,
    parser: RowParser,
    fields: Fields,
    /// A row decoded with the fallback.
    decoded: String,
}

impl Source {
    /// Reads an input file once and tells `sink` about every row, in file order.
    pub fn open(
        input: &InputConfig,
        base_dir: &Path,
        layout: Layout,
        limits: &LimitsConfig,
        sink: &mut impl Sink,
    ) -> Result<Source, ExtractError> {
        Source::open_in_chunks(input, base_dir, layout, limits, sink, CHUNK)
    }

    /// [`Source::open`], reading `chunk` bytes at a time.
    fn open_in_chunks(
        input: &InputConfig,
        base_dir: &Path,
        layout: Layout,
        limits: &LimitsConfig,
        sink: &mut impl Sink,
        chunk: usize,
    ) -> Result<Source, ExtractError> {
        let path = base_dir.join(&input.path);
        let io = |source| ExtractError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        let meta = Meta::of(&file).map_err(io)?;
        let fallback = input
            .encoding
            .as_ref()
            .and_then(|e| Encoding::for_label(e.get_ref().as_bytes()));
        let mut head = vec![0; 4096];
        let n = read_at(&file, &mut head, 0).map_err(io)?;
        head.truncate(n);
        let text = match fallback {
            Some(e) if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE => {
                let first_line = &head[..memchr::memchr(b'\n', &head).unwrap_or(head.len())];
                if head.starts_with(&[0xFF, 0xFE]) {
                    Text::Utf16(encoding_rs::UTF_16LE)
                } else if head.starts_with(&[0xFE, 0xFF]) {
                    Text::Utf16(encoding_rs::UTF_16BE)
                } else if first_line.contains(&0) {
                    Text::Utf16(e)
                } else {
                    Text::Rows(None)
                }
            }
            other => Text::Rows(other),
        };
        let mut source = Source {
            name: input.path.display().to_string(),
            path: path.clone(),
            columns: Vec::new(),
            index: HashMap::new(),
            supplement: input.supplement,
            header: input
                .header
                .unwrap_or(input.format == InputFormat::Delimited),
            file: file.try_clone().map_err(io)?,
            text,
            layout,
            rows: Offsets::default(),
            fields_of: Vec::new(),
            chunk,
            problems: Vec::new(),
            fallback: Vec::new(),
            fallback_bits: Vec::new(),
            stamp: Stamp::default(),
        };
        let cx = Scan {
            path: &path,
            input,
            limits,
            text,
            size: meta.size,
        };
        if meta.size > limits.input_bytes {
            return Err(cx.limit(
                0,
                format!(
                    "the input is {} bytes, more than limits.input_bytes ({} bytes)",
                    meta.size, limits.input_bytes
                ),
            ));
        }
        let mut raw = Hashed::new(file);
        let (len, crc) = match text {
            Text::Rows(_) => {
                let mut data = Utf8Stream::new(raw, 0, chunk);
                if head.starts_with(b"\xEF\xBB\xBF") {
                    skip(&mut data, 3).map_err(io)?;
                }
                source.scan(&mut data, &cx, sink)?;
                data.get_ref().digest()
            }
            Text::Utf16(encoding) => {
                let bom = if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
                    2
                } else {
                    0
                };
                raw.read_exact(&mut [0; 2][..bom]).map_err(io)?;
                let mut data = Utf16Stream::new(raw, encoding, bom as u64, chunk);
                source.scan(&mut data, &cx, sink)?;
                data.get_ref().digest()
            }
        };
        // An odd last byte of a UTF-16 file is counted as a whole code unit.
        source.rows.end = source.rows.end.min(len);
        source.stamp = Stamp { meta, len, crc };
        source.rows.shrink_to_fit();
        source.problems.shrink_to_fit();
        source.fallback.shrink_to_fit();
        if let Some(&last) = source.fallback.last() {
            source.fallback_bits = vec![0; last as usize / 64 + 1];
            for &row in &source.fallback {
                source.fallback_bits[row as usize / 64] |= 1 << (row % 64);
            }
        }
        source.index = source
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        Ok(source)
    }

    fn scan(
        &mut self,
        data: &mut impl Stream,
        cx: &Scan<'_>,
        sink: &mut impl Sink,
    ) -> Result<(), ExtractError> {
        match self.layout.clone() {
            Layout::Delimited { delimiter, quote } => {
                let header = cx.input.header.unwrap_or(true);
                if !header {
                    self.columns = cx.input.columns.clone();
                }
                let mut d = Delimited {
                    delimiter,
                    quote,
                    multiline: cx.input.multiline,
                    header,
                    key: self
                        .columns
                        .iter()
                        .position(|c| c == cx.input.key.get_ref()),
                    want: self.columns.len(),
                    // The header's width bounds a row's fields once it is known.
                    parser: RowParser::new(
                        delimiter,
                        quote,
                        if header {
                            usize::MAX
                        } else {
                            most_fields(self.columns.len())
                        },
                    ),
                    fields: Fields::default(),
                    decoded: String::new(),
                };
                self.scan_delimited(data, cx, &mut d, sink)?;
            }
            Layout::Fixed { positions } => {
                self.columns = cx
                    .input
                    .positions
                    .iter()
                    .map(|p| p.column.clone())
                    .collect();
                self.scan_fixed(data, cx, &positions, sink)?;
            }
        }
        self.rows.end = data.offset();
        Ok(())
    }

    /// Finds the records: a record starts at its first byte after any line breaks (blank
    /// lines are skipped), its line is the 1-based line that byte is on (lines are counted at
    /// each `\n`), and it ends at the first line break outside quotes (or, without
    /// `multiline`, at any line break: a quoted field still open there is a problem).
    fn scan_delimited(
        &mut self,
        data: &mut impl Stream,
        cx: &Scan<'_>,
        d: &mut Delimited,
        sink: &mut impl Sink,
    ) -> Result<(), ExtractError> {
        let mut line = 1u64;
        // The bytes of a record that runs past the bytes at hand.
        let mut rec: Vec<u8> = Vec::new();
        loop {
            // Line breaks before a record: blank lines.
            let (blank_from, blank_line) = (data.pos(), line);
            let at_end = loop {
                let chunk = cx.fill(data, line)?;
                let len = chunk.len();
                if len == 0 {
                    break true;
                }
                let n = chunk
                    .iter()
                    .position(|&b| b != b'\r' && b != b'\n')
                    .unwrap_or(len);
                line += memchr::memchr_iter(b'\n', &chunk[..n]).count() as u64;
                data.consume(n);
                if data.pos() - blank_from > cx.limits.line_bytes {
                    return Err(cx.limit(
                        blank_line,
                        format!(
                            "more than limits.line_bytes ({} bytes) of line breaks in a row",
                            cx.limits.line_bytes
                        ),
                    ));
                }
                if n < len {
                    break false;
                }
            };
            if at_end {
                break;
            }
            let (start_pos, start, rec_line) = (data.pos(), data.offset(), line);
            let mut s = RecScan::default();
            rec.clear();
            loop {
                let chunk = cx.fill(data, rec_line)?;
                let len = chunk.len();
                if len == 0 {
                    // The file ends in the record.
                    s.open |= s.quote == Quote::Quoted;
                    let bad = data.invalid_before(data.pos());
                    self.delimited_row(&rec, &s, bad, (start, rec_line), d, cx, sink)?;
                    break;
                }
                match record_end(chunk, &mut s, d.delimiter, d.quote, d.multiline) {
                    Some(j) if rec.is_empty() => {
                        let bad = data.invalid_before(start_pos + j as u64);
                        let chunk = data.fill_buf().map_err(|e| cx.io(e))?;
                        self.delimited_row(&chunk[..j], &s, bad, (start, rec_line), d, cx, sink)?;
                        data.consume(j);
                        break;
                    }
                    Some(j) => {
                        cx.record_len(d.header, rec_line, rec.len() + j)?;
                        rec.extend_from_slice(&chunk[..j]);
                        data.consume(j);
                        let bad = data.invalid_before(data.pos());
                        self.delimited_row(&rec, &s, bad, (start, rec_line), d, cx, sink)?;
                        break;
                    }
                    None => {
                        cx.record_len(d.header, rec_line, rec.len() + len)?;
                        rec.extend_from_slice(chunk);
                        data.consume(len);
                    }
                }
            }
            line += s.breaks;
        }
        Ok(())
    }

    /// One record `r` of a delimited file (without its line break), starting at file offset
    /// `start` on `line`: the header, or a row.
    #[allow(clippy::too_many_arguments)]
    fn delimited_row(
        &mut self,
        r: &[u8],
        s: &RecScan,
        bad: bool,
        (start, line): (u64, u64),
        d: &mut Delimited,
        cx: &Scan<'_>,
        sink: &mut impl Sink,
    ) -> Result<(), ExtractError> {
        cx.record_len(d.header, line, r.len())?;
        if d.header {
            d.header = false;
            return self.header_row(r, s, bad, (start, line), d, cx);
        }
        let (text, mut problem, decoded) = cx.decode(r, bad, (start, line), &mut d.decoded);
        let (delimiter, want) = (d.delimiter, d.want);
        let simple = d.parser.simple && memchr::memchr(d.quote, text).is_none();
        let (count, key): (usize, Cow<'_, str>) = if simple {
            if text.len() as u64 > cx.limits.field_bytes {
                cx.field_lens(line, text.split(|&b| b == delimiter).map(<[u8]>::len))?;
            }
            let key = d.key.map_or(Cow::Borrowed(""), |k| {
                text.split(|&b| b == delimiter)
                    .nth(k)
                    .map_or(Cow::Borrowed(""), String::from_utf8_lossy)
            });
            (memchr::memchr_iter(delimiter, text).count() + 1, key)
        } else {
            // Split only: the fields are made below if the sink wants them (a delta), and
            // here when the row is long enough for a field to pass the limit.
            let count = d.parser.split(text);
            if text.len() as u64 > cx.limits.field_bytes {
                d.parser.fields_found(&mut d.fields);
                cx.field_lens(line, std::iter::once(d.parser.longest(&d.fields)))?;
            }
            let key = d
                .key
                .and_then(|k| d.parser.untrimmed(k))
                .unwrap_or_default();
            (count, Cow::Owned(String::from_utf8_lossy(key).into_owned()))
        };
        if problem.is_none() && s.open {
            problem = Some(Problem::Quote {
                end_of_file: cx.input.multiline,
            });
        }
        // Only a record with quotes holds a line break (the one that ends it is not in it);
        // one look for a line break spares most records, quoted ones too, a look at each field.
        if problem.is_none()
            && d.multiline
            && !simple
            && memchr::memchr2(b'\r', b'\n', text).is_some()
        {
            problem = d.parser.swallowed(delimiter, want, line, &self.columns);
        }
        if problem.is_none() && count != want {
            problem = Some(Problem::Fields { got: count, want });
        }
        let untrimmed = key;
        let key = trim(&untrimmed);
        let kept = match &problem {
            None => true,
            Some(Problem::Utf8 { .. } | Problem::Decode { .. }) => true,
            Some(Problem::Quote { .. }) => d.key.is_some_and(|k| k + 1 < count),
            Some(Problem::Fields { .. }) => d.key.is_some_and(|k| k < count),
            // The fields before the swallowing one are the first line's, those after it the
            // last line's: the key is one person's (whose, its trust in reports decides).
            Some(Problem::Swallowed { field, .. }) => {
                d.key.is_some_and(|k| k < count && k != *field)
            }
            Some(Problem::KeyChar) => false,
        };
        let key = if kept && invisible_in(&untrimmed) {
            problem.get_or_insert(Problem::KeyChar);
            ""
        } else if kept {
            key
        } else {
            ""
        };
        let key = d.key.map(|_| key);
        // The fields as a reader parses the row back (the same parser on the same text; the
        // bytes after the record do not change them).
        let fields = if sink.wants_fields() && problem.is_none() {
            if simple && plain_start(text) {
                Some(RowFields::Line {
                    line: text,
                    delimiter,
                })
            } else {
                if simple {
                    d.parser.parse(text, &mut d.fields);
                } else {
                    d.parser.fields_found(&mut d.fields);
                }
                Some(RowFields::Parsed(&d.fields))
            }
        } else {
            None
        };
        self.push_row((start, line), key, problem, decoded, fields, cx, sink)
    }

    /// The header row: the column names (trimmed, each once).
    fn header_row(
        &mut self,
        r: &[u8],
        s: &RecScan,
        bad: bool,
        (start, line): (u64, u64),
        d: &mut Delimited,
        cx: &Scan<'_>,
    ) -> Result<(), ExtractError> {
        let read = |code: &'static str, message: String| ExtractError::Read {
            path: cx.path.to_owned(),
            line,
            code,
            message,
        };
        cx.header_len(line, r.len())?;
        if s.open {
            return Err(read(
                "E-READ-QUOTE",
                "a quoted column name in the header row is not closed".to_owned(),
            ));
        }
        let (text, problem, _) = cx.decode(r, bad, (start, line), &mut d.decoded);
        match problem {
            Some(Problem::Utf8 {
                line,
                offset,
                bytes,
            }) => {
                return Err(ExtractError::NotUtf8 {
                    path: cx.path.to_owned(),
                    line,
                    offset,
                    bytes: hex(&bytes),
                });
            }
            Some(p) => {
                return Err(read(
                    p.code(),
                    "the header row cannot be decoded (not UTF-8, nor the fallback encoding)"
                        .to_owned(),
                ));
            }
            None => {}
        }
        d.parser.parse(text, &mut d.fields);
        cx.field_lens(line, (0..d.fields.len()).map(|i| d.fields.len_of(i)))?;
        let columns: Vec<String> = (0..d.fields.len())
            .map(|i| d.fields.get(i).unwrap_or("").to_owned())
            .collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, c) in columns.iter().enumerate() {
            // An unnamed column cannot be used, so several do no harm.
            if c.is_empty() {
                continue;
            }
            if let Some(first) = seen.insert(c, i) {
                return Err(read(
                    "E-READ-DUP-COLUMN",
                    format!(
                        "columns {} and {} of the header have the same name; each column \
                         needs a name of its own",
                        first + 1,
                        i + 1
                    ),
                ));
            }
        }
        d.key = columns.iter().position(|c| c == cx.input.key.get_ref());
        d.want = columns.len();
        d.parser.most = most_fields(d.want);
        self.columns = columns;
        Ok(())
    }

    /// A row found at `start` (file offset, line) with `key` (`None` when the key column is
    /// missing: the config is refused, nothing is indexed).
    #[allow(clippy::too_many_arguments)]
    fn push_row(
        &mut self,
        (start, line): (u64, u64),
        key: Option<&str>,
        problem: Option<Problem>,
        decoded: bool,
        fields: Option<RowFields<'_>>,
        cx: &Scan<'_>,
        sink: &mut impl Sink,
    ) -> Result<(), ExtractError> {
        let row = self.rows.len() as u32;
        self.rows.push(start, line);
        if self.rows.len() == GUESS_AFTER {
            sink.expect(guess(cx.size, start));
        }
        let problem_free = problem.is_none();
        if let Some(problem) = problem {
            self.problems.push((row, problem));
        }
        if decoded {
            self.fallback.push(row);
        }
        match key {
            Some(key) if !sink.row(key, fields.filter(|_| problem_free)) => {
                Err(ExtractError::Read {
                    path: cx.path.to_owned(),
                    line,
                    code: "E-READ-LIMIT",
                    message: format!(
                        "too many rows for one run: at most {} rows (and 4 GiB of keys) in all inputs",
                        u32::MAX - 1
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    /// The lines of a fixed-width file: every line is a row, but a header line (when
    /// `header`) and lines of whitespace only.
    fn scan_fixed(
        &mut self,
        data: &mut impl Stream,
        cx: &Scan<'_>,
        positions: &[(usize, usize)],
        sink: &mut impl Sink,
    ) -> Result<(), ExtractError> {
        let key_index = self
            .columns
            .iter()
            .position(|c| c == cx.input.key.get_ref());
        let header = cx.input.header.unwrap_or(false);
        let mut rec = Vec::new();
        let mut fields = Fields::default();
        let mut buf = String::new();
        for line in 1.. {
            let start = data.offset();
            rec.clear();
            loop {
                let chunk = cx.fill(data, line)?;
                if chunk.is_empty() {
                    break;
                }
                let (n, done) = match memchr::memchr(b'\n', chunk) {
                    Some(i) => (i + 1, true),
                    None => (chunk.len(), false),
                };
                cx.row_len(line, rec.len() + n)?;
                rec.extend_from_slice(&chunk[..n]);
                data.consume(n);
                if done {
                    break;
                }
            }
            if rec.is_empty() {
                break;
            }
            let bad = data.invalid_before(data.pos());
            if (line == 1 && header) || rec.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let (text, mut problem, decoded) = cx.decode(&rec, bad, (start, line), &mut buf);
            fixed_fields(&String::from_utf8_lossy(text), positions, &mut fields);
            cx.field_lens(line, (0..fields.len()).map(|i| fields.len_of(i)))?;
            // Without the key column the config is refused: nothing to index.
            let key = key_index.map(|k| {
                let key = fields.get(k).unwrap_or("");
                match &problem {
                    None if invisible_in(key) => {
                        problem = Some(Problem::KeyChar);
                        ""
                    }
                    _ if key.contains('\u{fffd}') => "",
                    _ => key,
                }
            });
            let key = key.map(str::to_owned);
            let read =
                (sink.wants_fields() && problem.is_none()).then_some(RowFields::Parsed(&fields));
            self.push_row(
                (start, line),
                key.as_deref(),
                problem,
                decoded,
                read,
                cx,
                sink,
            )?;
        }
        Ok(())
    }

    /// How many rows the file has.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The 1-based line of row `i`.
    pub fn line(&self, i: usize) -> u64 {
        self.rows.line(i)
    }

    /// The row whose record starts on `line`, if any.
    pub fn row_on_line(&self, line: u64) -> Option<usize> {
        // Lines grow with the row number: the first row at or after `line`.
        let (mut lo, mut hi) = (0, self.rows.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.rows.line(mid) < line {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo < self.rows.len() && self.rows.line(lo) == line).then_some(lo)
    }

    /// Why row `i` did not read cleanly, if it did not.
    pub fn problem(&self, i: usize) -> Option<&Problem> {
        let i = i as u32;
        let at = self.problems.partition_point(|p| p.0 < i);
        self.problems.get(at).filter(|p| p.0 == i).map(|p| &p.1)
    }

    /// How many rows did not read cleanly.
    pub fn problems(&self) -> usize {
        self.problems.len()
    }

    /// Whether the input has a header row.
    pub fn has_header(&self) -> bool {
        self.header
    }

    /// The lines of the rows decoded with the fallback encoding.
    pub fn fallback_lines(&self) -> Vec<u64> {
        self.fallback
            .iter()
            .map(|&r| self.rows.line(r as usize))
            .collect()
    }

    /// The fallback encoding rows that are not UTF-8 are decoded with, or the encoding of a
    /// whole UTF-16 file (`true`).
    pub fn encoding(&self) -> Option<(&'static str, bool)> {
        match self.text {
            Text::Rows(fallback) => fallback.map(|e| (e.name(), false)),
            Text::Utf16(e) => Some((e.name(), true)),
        }
    }

    /// Checks that the file is as it was read: the same file, size and modification time,
    /// and the same bytes (read again and hashed).
    pub fn verify(&self) -> Result<(), ExtractError> {
        let io = |source| ExtractError::Io {
            path: self.path.clone(),
            source,
        };
        let changed = |what: String| ExtractError::Changed {
            path: self.path.clone(),
            what,
        };
        let now = Meta::of(&self.file).map_err(io)?;
        let then = &self.stamp.meta;
        if now.size != then.size {
            return Err(changed(format!(
                "its size went from {} to {} bytes",
                then.size, now.size
            )));
        }
        if now != *then {
            return Err(changed(
                "it was written to (its modification time changed)".to_owned(),
            ));
        }
        let mut crc = crc32fast::Hasher::new();
        let mut buf = vec![0; self.chunk.max(8)];
        let mut at = 0u64;
        loop {
            let n = read_at(&self.file, &mut buf, at).map_err(io)?;
            if n == 0 {
                break;
            }
            crc.update(&buf[..n]);
            at += n as u64;
        }
        if (at, crc.finalize()) != (self.stamp.len, self.stamp.crc) {
            return Err(changed(
                "its bytes are not the ones read (the content hash differs)".to_owned(),
            ));
        }
        Ok(())
    }

    /// Parses row `i` into `out`.
    pub fn fields(&self, i: usize, cache: &mut Cache, out: &mut Fields) -> RowRead {
        out.clear();
        let mut read = RowRead {
            readable: false,
            decoded_as: None,
        };
        if i >= self.rows.len() {
            return read;
        }
        let (start, end) = self.rows.span(i);
        // Not readable: parsed as an empty row; the person is rejected.
        let bytes =
            Self::read(&self.file, (start, end), &mut cache.window, self.chunk).unwrap_or_default();
        read.readable = bytes.len() as u64 == end - start;
        let bytes = match self.text {
            Text::Utf16(encoding) => {
                read.decoded_as = Some(encoding);
                decode_into(encoding, bytes, &mut cache.decoded);
                cache.decoded.as_bytes()
            }
            Text::Rows(_) => bytes,
        };
        match &self.layout {
            Layout::Delimited { delimiter, quote } => {
                let parser = cache.parser.get_or_insert_with(|| {
                    RowParser::new(*delimiter, *quote, most_fields(self.columns.len()))
                });
                // A row the index found not to be UTF-8 is decoded at once; any other is
                // parsed as UTF-8 (and decoded after all if it turns out not to be: the file
                // changed, which the run notices).
                let fallback = match self.text {
                    Text::Rows(fallback) => fallback,
                    Text::Utf16(_) => None,
                };
                let known = self
                    .fallback_bits
                    .get(i / 64)
                    .is_some_and(|word| word & (1 << (i % 64)) != 0);
                let utf8 = !known && parser.parse(bytes, out);
                if !utf8 && let Some(encoding) = fallback {
                    decode_into(encoding, bytes, &mut cache.recoded);
                    parser.parse(cache.recoded.as_bytes(), out);
                    read.decoded_as = Some(encoding);
                }
            }
            Layout::Fixed { positions } => {
                // The row's own line: the span runs on to the next row, over blank lines.
                let own = memchr::memchr(b'\n', bytes).map_or(bytes, |at| &bytes[..=at]);
                let text = match (std::str::from_utf8(own), self.text) {
                    (Ok(text), _) => Cow::Borrowed(text),
                    (Err(_), Text::Rows(Some(encoding))) => {
                        read.decoded_as = Some(encoding);
                        encoding.decode_without_bom_handling(own).0
                    }
                    (Err(_), _) => String::from_utf8_lossy(own),
                };
                fixed_fields(&text, positions, out);
            }
        }
        read
    }

    /// The bytes `start..end` of the file: from the window, which moves forward to `start`
    /// when the row is at or shortly after it, or read on their own. `None` when the file is
    /// shorter now.
    fn read<'w>(
        file: &File,
        (start, end): (u64, u64),
        w: &'w mut Window,
        chunk: usize,
    ) -> Option<&'w [u8]> {
        let len = usize::try_from(end - start).ok()?;
        let window_end = w.start + w.bytes.len() as u64;
        if start >= w.start && end <= window_end {
            let from = (start - w.start) as usize;
            return w.bytes.get(from..from + len);
        }
        let near = start >= w.start && start <= window_end + chunk as u64;
        if near || w.bytes.is_empty() {
            if w.bytes.capacity() > 4 * chunk && len <= chunk {
                // A giant row was read: give its room back.
                w.bytes = Vec::new();
            }
            w.bytes.resize(len.max(chunk), 0);
            let n = read_at(file, &mut w.bytes, start).unwrap_or(0);
            w.bytes.truncate(n);
            w.start = start;
            return w.bytes.get(..len);
        }
        w.single.resize(len, 0);
        let n = read_at(file, &mut w.single, start).unwrap_or(0);
        w.single.get(..len).filter(|_| n == len)
    }
}

/// The line of records in a text read whole, from where `csv` says they start (where the
/// previous record ended: for CRLF, before its `\n`).
struct Lines<'a> {
    text: &'a [u8],
    /// A byte offset and the 1-based line it is on.
    at: (usize, u64),
}

impl<'a> Lines<'a> {
    fn new(text: &'a [u8]) -> Lines<'a> {
        Lines { text, at: (0, 1) }
    }

    /// The 1-based line of the first byte after `byte` that is not a line break (the
    /// record's own first byte). Offsets must not go backwards.
    fn at(&mut self, byte: u64) -> u64 {
        let from = usize::try_from(byte).map_or(self.text.len(), |b| b.min(self.text.len()));
        let first = self.text[from..]
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .map_or(self.text.len(), |p| from + p);
        let (done, line) = self.at;
        if first >= done {
            let breaks = memchr::memchr_iter(b'\n', &self.text[done..first]).count();
            self.at = (first, line + breaks as u64);
        }
        self.at.1
    }
}

/// A small table read whole: its header and its rows with their line numbers.
pub(crate) struct Table {
    pub header: Vec<String>,
    pub rows: Vec<(u64, Vec<String>)>,
}

/// Reads a small delimited UTF-8 table with a header row (lookups, the term calendar), of
/// at most `most` bytes.
pub(crate) fn read_table(path: &Path, delimiter: u8, most: u64) -> Result<Table, ExtractError> {
    let io = |source| ExtractError::Io {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(most + 1).read_to_end(&mut bytes))
        .map_err(io)?;
    if bytes.len() as u64 > most {
        return Err(ExtractError::Read {
            path: path.to_owned(),
            line: 0,
            code: "E-READ-LIMIT",
            message: format!("the table is larger than limits.table_bytes ({most} bytes)"),
        });
    }
    let decoded = decode_bytes(path, &bytes, None)?;
    let mut rdr = reader(decoded.text.as_bytes(), delimiter, b'"');
    let mut rows = Vec::new();
    let mut header = None;
    let mut lines = Lines::new(decoded.text.as_bytes());
    for record in rdr.records() {
        let record = record.map_err(|e| ExtractError::Csv {
            path: path.to_owned(),
            line: e.position().map_or(0, |at| lines.at(at.byte())),
            message: e.to_string(),
        })?;
        let values: Vec<String> = record.iter().map(str::to_owned).collect();
        if header.is_none() {
            header = Some(values);
        } else {
            rows.push((
                record.position().map_or(0, |at| lines.at(at.byte())),
                values,
            ));
        }
    }
    Ok(Table {
        header: header.unwrap_or_default(),
        rows,
    })
}

/// Takes `n` bytes from the start of `data` (a byte-order mark).
fn skip(data: &mut impl BufRead, mut n: usize) -> std::io::Result<()> {
    while n > 0 {
        let got = data.fill_buf()?.len().min(n);
        if got == 0 {
            break;
        }
        data.consume(got);
        n -= got;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
