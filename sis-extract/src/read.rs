//! Reading and decoding extract files: delimited or fixed width, any single-byte delimiter,
//! quoted fields, CRLF or LF, UTF-8 (BOM stripped) or a configured fallback encoding.
//!
//! A [`Source`] is read once, in chunks, to find where every row starts ([`Offsets`]: about
//! four bytes a row) and to hand each row's key to a [`Sink`]; nothing else of the file stays
//! in memory. Rows are read back by offset when their person is mapped ([`Cache`]: a
//! read-ahead window per file, owned by whoever maps) and parsed again as before: csv-core
//! on the row's bytes, or, for a row without quotes, a plain split at the delimiter, which
//! gives the same fields (see [`simple_line`]).
//!
//! The encoding is decided per file: the first read assumes UTF-8 and checks every byte; at
//! the first invalid byte the rows read so far are forgotten ([`Sink::restart`]) and the file
//! is read again with the fallback encoding. A single-byte fallback (windows-1252, the
//! ISO-8859 family, ...) maps each byte to one character and every ASCII byte to itself, so
//! rows are still found and read back in the raw bytes and decoded field by field; any other
//! fallback (UTF-16, Shift_JIS, ...) is decoded whole into memory, as before.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use encoding_rs::Encoding;

use crate::ExtractError;
use crate::config::{InputConfig, InputFormat};

/// A file decoded to UTF-8, with a warning when a fallback encoding was used.
#[derive(Debug)]
pub struct DecodedFile {
    /// The text, BOM stripped.
    pub text: String,
    /// Set when the file was not UTF-8 and the fallback decoded it.
    pub warning: Option<String>,
}

/// Decides the encoding per file: UTF-8 (BOM stripped) when the whole file is valid,
/// otherwise the configured fallback, otherwise an error naming line, offset and bytes.
pub fn decode_file(path: &Path, fallback: Option<&str>) -> Result<DecodedFile, ExtractError> {
    let bytes = std::fs::read(path).map_err(|source| ExtractError::Io {
        path: path.to_owned(),
        source,
    })?;
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let bom = bytes.len() - body.len();
    match std::str::from_utf8(body) {
        Ok(text) => Ok(DecodedFile {
            text: text.to_owned(),
            warning: None,
        }),
        Err(e) => {
            let offset = e.valid_up_to();
            let line = body[..offset].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            let bad_len = e.error_len().unwrap_or(body.len() - offset).max(1);
            let bad = Invalid {
                offset: (offset + bom) as u64,
                line,
                bytes: body[offset..(offset + bad_len).min(body.len())].to_vec(),
            };
            let encoding = bad.fallback(path, fallback)?;
            let (text, _) = encoding.decode_without_bom_handling(body);
            Ok(DecodedFile {
                text: text.into_owned(),
                warning: Some(bad.warning(path, encoding)),
            })
        }
    }
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

impl Invalid {
    fn hex(&self) -> String {
        let hex: Vec<String> = self.bytes.iter().map(|b| format!("0x{b:02X}")).collect();
        hex.join(" ")
    }

    /// The fallback encoding, or the error of a file that has none (or an unknown one).
    fn fallback(
        &self,
        path: &Path,
        label: Option<&str>,
    ) -> Result<&'static Encoding, ExtractError> {
        let Some(label) = label else {
            return Err(ExtractError::NotUtf8 {
                path: path.to_owned(),
                line: self.line,
                offset: self.offset,
                bytes: self.hex(),
            });
        };
        Encoding::for_label(label.as_bytes())
            .ok_or_else(|| ExtractError::UnknownEncoding(label.to_owned()))
    }

    fn warning(&self, path: &Path, encoding: &'static Encoding) -> String {
        format!(
            "{}: not UTF-8 (first invalid bytes {} at line {}, byte offset {}); decoded as {}",
            path.display(),
            self.hex(),
            self.line,
            self.offset,
            encoding.name()
        )
    }
}

/// How a row's text is split into fields.
#[derive(Debug, Clone)]
pub(crate) enum Layout {
    Delimited { delimiter: u8, quote: u8 },
    Fixed { positions: Vec<(usize, usize)> },
}

/// How a file's bytes become text.
#[derive(Debug, Clone, Copy)]
enum Text {
    /// UTF-8 (checked while the file is read).
    Utf8,
    /// A single-byte encoding: one character per byte, ASCII bytes as themselves.
    SingleByte(&'static Encoding),
}

impl Text {
    /// The text of some bytes: borrowed when they are UTF-8 (or ASCII).
    fn decode(self, bytes: &[u8]) -> Cow<'_, str> {
        match self {
            Text::Utf8 => String::from_utf8_lossy(bytes),
            Text::SingleByte(encoding) => match std::str::from_utf8(bytes) {
                // ASCII is itself in every single-byte encoding this is used for.
                Ok(ascii) if ascii.is_ascii() => Cow::Borrowed(ascii),
                _ => encoding.decode_without_bom_handling(bytes).0,
            },
        }
    }
}

/// Where a source's rows are read back from.
#[derive(Debug)]
enum Storage {
    /// The file itself, read back by offset.
    File { file: File, text: Text },
    /// A file decoded whole with a multi-byte fallback encoding; offsets are into the text.
    Memory(String),
}

/// Where each row of a source starts, and its line: the low 32 bits of every start, with
/// the high bits and the line (as a distance from the row number) kept only where they
/// change. Row `i` ends where row `i + 1` starts (the last where the data ends).
#[derive(Debug, Default)]
struct Offsets {
    low: Vec<u32>,
    /// (first row, high 32 bits of the starts from that row on).
    high: Vec<(u32, u32)>,
    /// (first row, line minus row number from that row on).
    lines: Vec<(u32, i64)>,
    end: u64,
}

impl Offsets {
    fn push(&mut self, start: u64, line: u64) {
        let row = self.low.len() as u32;
        let high = (start >> 32) as u32;
        if self.high.last().map_or(0, |h| h.1) != high {
            self.high.push((row, high));
        }
        let delta = line as i64 - i64::from(row);
        if self.lines.last().is_none_or(|l| l.1 != delta) {
            self.lines.push((row, delta));
        }
        self.low.push(start as u32);
    }

    fn len(&self) -> usize {
        self.low.len()
    }

    fn start(&self, i: usize) -> u64 {
        let row = i as u32;
        let at = self.high.partition_point(|h| h.0 <= row);
        let high = at.checked_sub(1).map_or(0, |at| self.high[at].1);
        (u64::from(high) << 32) | u64::from(self.low[i])
    }

    fn end(&self, i: usize) -> u64 {
        if i + 1 < self.len() {
            self.start(i + 1)
        } else {
            self.end
        }
    }

    fn line(&self, i: usize) -> u64 {
        let row = i as u32;
        let at = self.lines.partition_point(|l| l.0 <= row);
        let delta = at.checked_sub(1).map_or(0, |at| self.lines[at].1);
        (i as i64 + delta) as u64
    }

    fn shrink_to_fit(&mut self) {
        self.low.shrink_to_fit();
        self.high.shrink_to_fit();
        self.lines.shrink_to_fit();
    }
}

/// Who is told about every row as a file is read.
pub(crate) trait Sink {
    /// The next row of the file has this key; `false` when no more rows fit in the index.
    fn row(&mut self, key: &str) -> bool;
    /// Forgets every row of the file read so far: it is read again in another encoding.
    fn restart(&mut self);
    /// About this many more rows are coming (a guess from the file's size).
    fn expect(&mut self, rows: usize);
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
    /// Whether rows without a quote may skip csv-core (see [`simple_record`]).
    simple: bool,
    out: Vec<u8>,
    ends: Vec<usize>,
}

/// A record found by [`simple_line`].
struct Simple<'a> {
    /// Line breaks skipped before it: how many bytes, how many `\n`.
    skipped: usize,
    breaks: u64,
    /// The record's bytes, up to (not with) the line break that ends it, if any.
    line: &'a [u8],
}

/// The first record of `input` when reading it needs no CSV rules: after any line breaks
/// (csv-core skips empty lines), a line that does not start with a BOM and has no `quote`
/// byte. Its fields are then exactly what csv-core makes of it: the line split at every
/// delimiter.
fn simple_line(input: &[u8], quote: u8) -> Option<Simple<'_>> {
    let skipped = input.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let rest = &input[skipped..];
    if rest.starts_with(b"\xEF\xBB\xBF") {
        return None;
    }
    let end = line_end(rest, quote);
    if rest.get(end) == Some(&quote) {
        return None;
    }
    Some(Simple {
        skipped,
        breaks: input[..skipped].iter().filter(|&&b| b == b'\n').count() as u64,
        line: &rest[..end],
    })
}

/// The first `\r`, `\n` or `quote` in `bytes` (or its length), eight bytes at a time.
fn line_end(bytes: &[u8], quote: u8) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Set bits where a byte of `x` is zero (and maybe after one): none when none is.
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let (cr, lf, q) = (ONES * 0x0D, ONES * 0x0A, ONES * u64::from(quote));
    let mut at = 0;
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        if zero(w ^ cr) | zero(w ^ lf) | zero(w ^ q) != 0 {
            break;
        }
        at += 8;
    }
    bytes[at..]
        .iter()
        .position(|&b| b == b'\r' || b == b'\n' || b == quote)
        .map_or(bytes.len(), |p| at + p)
}

/// The field ends of a line without quotes or line breaks: one at each delimiter, one at
/// the end.
fn field_ends(line: &[u8], delimiter: u8, ends: &mut Vec<usize>) {
    ends.clear();
    ends.extend(
        line.iter()
            .enumerate()
            .filter(|&(_, &b)| b == delimiter)
            .map(|(i, _)| i),
    );
    ends.push(line.len());
}

impl RowParser {
    fn new(delimiter: u8, quote: u8) -> RowParser {
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
        }
    }

    /// Parses the first record of `input` into trimmed fields.
    fn parse(&mut self, mut input: &[u8], text: Text, fields: &mut Fields) {
        use csv_core::ReadRecordResult as R;
        fields.clear();
        if self.simple
            && let Some(Simple { line, .. }) = simple_line(input, self.quote)
        {
            field_ends(line, self.delimiter, &mut self.ends);
            let utf8 = match text {
                Text::Utf8 => std::str::from_utf8(line).ok(),
                Text::SingleByte(_) if line.is_ascii() => std::str::from_utf8(line).ok(),
                Text::SingleByte(_) => None,
            };
            match utf8 {
                // Field ends are at ASCII bytes: boundaries of characters.
                Some(line) => fields.set_line(line, &self.ends),
                None => {
                    let mut start = 0;
                    for &end in &self.ends {
                        fields.push(&text.decode(&line[start..end]));
                        start = end + 1;
                    }
                }
            }
            return;
        }
        self.csv.reset();
        if self.ends.len() < 64 {
            self.ends.resize(64, 0);
        }
        // The first byte goes alone, so that csv-core does not take bytes EF BB BF for a BOM:
        // the file's own BOM is skipped before any row, so a U+FEFF that starts a row is part
        // of it, as in its key (in a single-byte file they are three characters).
        let mut one_byte = true;
        let (mut nout, mut nend) = (0, 0);
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
                R::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                R::Record | R::End => break,
            }
        }
        let all = self
            .out
            .get(..self.ends[..nend].last().copied().unwrap_or(0));
        // One check of the whole row instead of one per field.
        let utf8 = match text {
            Text::Utf8 => all.and_then(|all| std::str::from_utf8(all).ok()),
            Text::SingleByte(_) => all
                .filter(|all| all.is_ascii())
                .and_then(|all| std::str::from_utf8(all).ok()),
        };
        let mut start = 0;
        for &end in &self.ends[..nend] {
            match utf8.and_then(|all| all.get(start..end)) {
                Some(value) => fields.push(value),
                None => fields.push(&text.decode(self.out.get(start..end).unwrap_or_default())),
            }
            start = end;
        }
    }
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

/// Reads a file's bytes after its BOM, handing on only what is UTF-8: at the first invalid
/// byte it fails, and `invalid` says where.
struct Utf8Check<R> {
    inner: R,
    buf: Vec<u8>,
    /// `buf[pos..good]` is checked and not yet consumed; `buf[good..end]` is the start of a
    /// sequence cut at the end of the last read, checked with the next.
    pos: usize,
    good: usize,
    end: usize,
    /// Offset in the file of `buf[0]`.
    offset: u64,
    /// The first invalid bytes (their line is counted afterwards, see `count_lines`).
    invalid: Option<Invalid>,
}

impl<R: Read> Utf8Check<R> {
    fn new(inner: R, bom: u64, chunk: usize) -> Self {
        Utf8Check {
            inner,
            // Room for a cut sequence (3 bytes) and more.
            buf: vec![0; chunk.max(8)],
            pos: 0,
            good: 0,
            end: 0,
            offset: bom,
            invalid: None,
        }
    }

    fn fail(&mut self, at: usize, len: usize) -> std::io::Error {
        self.invalid = Some(Invalid {
            offset: self.offset + at as u64,
            line: 0,
            bytes: self.buf[at..at + len].to_vec(),
        });
        std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8")
    }
}

impl<R: Read> Read for Utf8Check<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let data = self.fill_buf()?;
        let n = data.len().min(out.len());
        out[..n].copy_from_slice(&data[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Utf8Check<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.pos == self.good {
            if self.invalid.is_some() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not UTF-8",
                ));
            }
            // Keep the cut sequence, read on after it.
            self.buf.copy_within(self.good..self.end, 0);
            self.offset += self.good as u64;
            self.end -= self.good;
            self.pos = 0;
            self.good = 0;
            let n = loop {
                match self.inner.read(&mut self.buf[self.end..]) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            if n == 0 {
                if self.end > 0 {
                    let cut = self.end;
                    return Err(self.fail(0, cut));
                }
                return Ok(&[]);
            }
            self.end += n;
            match std::str::from_utf8(&self.buf[..self.end]) {
                Ok(_) => self.good = self.end,
                Err(e) => match e.error_len() {
                    None => self.good = e.valid_up_to(),
                    Some(len) => return Err(self.fail(e.valid_up_to(), len)),
                },
            }
        }
        Ok(&self.buf[self.pos..self.good])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.good);
    }
}

/// The line breaks among the first `len` bytes `data` gives.
fn count_lines(data: impl Read, len: u64) -> std::io::Result<u64> {
    let mut data = BufReader::with_capacity(CHUNK, data.take(len));
    let mut lines = 0;
    loop {
        let chunk = data.fill_buf()?;
        if chunk.is_empty() {
            return Ok(lines);
        }
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        let n = chunk.len();
        data.consume(n);
    }
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

/// Why reading a file stopped.
enum Stop {
    Io(std::io::Error, u64),
    Full(u64),
}

/// How much of a file is read at once, when indexing and when reading rows back.
const CHUNK: usize = 1 << 18;

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

/// One input file: its columns and where each of its rows starts.
#[derive(Debug)]
pub(crate) struct Source {
    /// The path as written in the config.
    pub name: String,
    pub columns: Vec<String>,
    pub index: HashMap<String, usize>,
    pub supplement: bool,
    storage: Storage,
    layout: Layout,
    rows: Offsets,
    /// Column number (among every input's columns, see `Extractor::new`) -> field number in
    /// this source's rows, or `usize::MAX` when it has no such column.
    pub fields_of: Vec<usize>,
    /// How much is read at once ([`CHUNK`]; less in tests).
    chunk: usize,
}

impl Source {
    /// Reads an input file once and tells `sink` about every row, in file order.
    pub fn open(
        input: &InputConfig,
        base_dir: &Path,
        layout: Layout,
        sink: &mut impl Sink,
    ) -> Result<(Source, Option<String>), ExtractError> {
        Source::open_in_chunks(input, base_dir, layout, sink, CHUNK)
    }

    /// [`Source::open`], reading `chunk` bytes at a time.
    fn open_in_chunks(
        input: &InputConfig,
        base_dir: &Path,
        layout: Layout,
        sink: &mut impl Sink,
        chunk: usize,
    ) -> Result<(Source, Option<String>), ExtractError> {
        let path = base_dir.join(&input.path);
        let io = |source| ExtractError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        let mut head = [0; 3];
        let bom = if read_at(&file, &mut head, 0).map_err(io)? == 3 && head == *b"\xEF\xBB\xBF" {
            3
        } else {
            0
        };
        let mut source = Source {
            name: input.path.display().to_string(),
            columns: Vec::new(),
            index: HashMap::new(),
            supplement: input.supplement,
            storage: Storage::Memory(String::new()),
            layout,
            rows: Offsets::default(),
            fields_of: Vec::new(),
            chunk,
        };
        fn at_data(mut file: &File, bom: u64) -> std::io::Result<&File> {
            file.seek(SeekFrom::Start(bom))?;
            Ok(file)
        }
        let mut check = Utf8Check::new(at_data(&file, bom).map_err(io)?, bom, chunk);
        let size = file.metadata().map_err(io)?.len().saturating_sub(bom);
        let first = source.scan(&mut check, (bom, size), Text::Utf8, input, sink);
        let warning = match (first, check.invalid) {
            (Ok(()), _) => {
                source.storage = Storage::File {
                    file,
                    text: Text::Utf8,
                };
                None
            }
            (Err(_), Some(mut invalid)) => {
                sink.restart();
                invalid.line = count_lines(at_data(&file, bom).map_err(io)?, invalid.offset - bom)
                    .map_err(io)?
                    + 1;
                let label = input.encoding.as_ref().map(|e| e.get_ref().as_str());
                let encoding = invalid.fallback(&path, label)?;
                source.rows = Offsets::default();
                if encoding.is_single_byte() && encoding.is_ascii_compatible() {
                    let text = Text::SingleByte(encoding);
                    let data = BufReader::with_capacity(chunk, at_data(&file, bom).map_err(io)?);
                    let scanned = source.scan(data, (bom, size), text, input, sink);
                    source.stopped(scanned, &path)?;
                    source.storage = Storage::File { file, text };
                    Some(invalid.warning(&path, encoding))
                } else {
                    drop(file);
                    let decoded = decode_file(&path, label)?;
                    let size = decoded.text.len() as u64;
                    // A BOM in the file's own encoding (UTF-16, ...) decodes to a U+FEFF at
                    // the start: skipped, as a UTF-8 file's is.
                    let bom = if decoded.text.starts_with('\u{feff}') {
                        3
                    } else {
                        0
                    };
                    let data = &decoded.text.as_bytes()[bom as usize..];
                    let scanned = source.scan(data, (bom, size - bom), Text::Utf8, input, sink);
                    source.stopped(scanned, &path)?;
                    source.storage = Storage::Memory(decoded.text);
                    decoded.warning
                }
            }
            (Err(stop), None) => return Err(source.stop_error(stop, &path)),
        };
        source.rows.shrink_to_fit();
        source.index = source
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        Ok((source, warning))
    }

    fn stopped(&self, scanned: Result<(), Stop>, path: &Path) -> Result<(), ExtractError> {
        scanned.map_err(|stop| self.stop_error(stop, path))
    }

    fn stop_error(&self, stop: Stop, path: &Path) -> ExtractError {
        match (stop, &self.layout) {
            (Stop::Io(source, _), Layout::Fixed { .. }) => ExtractError::Io {
                path: path.to_owned(),
                source,
            },
            (Stop::Io(e, line), Layout::Delimited { .. }) => ExtractError::Csv {
                path: path.to_owned(),
                line,
                message: e.to_string(),
            },
            (Stop::Full(line), _) => ExtractError::Csv {
                path: path.to_owned(),
                line,
                message: format!(
                    "too many rows for one run: at most {} rows (and 4 GiB of keys) in all inputs",
                    u32::MAX - 1
                ),
            },
        }
    }

    fn scan(
        &mut self,
        data: impl BufRead,
        (base, size): (u64, u64),
        text: Text,
        input: &InputConfig,
        sink: &mut impl Sink,
    ) -> Result<(), Stop> {
        match &self.layout {
            Layout::Delimited { delimiter, quote } => {
                let csv = (*delimiter, *quote);
                self.scan_delimited(data, (base, size), text, csv, input, sink)
            }
            Layout::Fixed { positions } => {
                let positions = positions.clone();
                self.columns = input.positions.iter().map(|p| p.column.clone()).collect();
                let header = input
                    .header
                    .unwrap_or(input.format == InputFormat::Delimited);
                self.scan_fixed(data, (base, size), text, &positions, header, input, sink)
            }
        }
    }

    /// Finds the records as a `csv::Reader` over the whole text would: a row starts where
    /// the previous record ended (before any blank lines); its line is the 1-based line its
    /// first byte is on (LF and CRLF alike: lines are counted at each `\n`).
    /// A row without quotes that ends in the bytes at hand is read without csv-core (see
    /// [`simple_record`]); csv-core, which after a record is in a state that reads on as at
    /// the start of a file, takes over again (reset, at the same line) for any other.
    #[allow(clippy::too_many_arguments)]
    fn scan_delimited(
        &mut self,
        mut data: impl BufRead,
        (base, size): (u64, u64),
        text: Text,
        (delimiter, quote): (u8, u8),
        input: &InputConfig,
        sink: &mut impl Sink,
    ) -> Result<(), Stop> {
        use csv_core::ReadRecordResult as R;
        let header = input.header.unwrap_or(true);
        if !header {
            self.columns = input.columns.clone();
        }
        let mut key_index = self.columns.iter().position(|c| c == input.key.get_ref());
        let mut csv = csv_core::ReaderBuilder::new()
            .delimiter(delimiter)
            .quote(quote)
            .build();
        let quick = RowParser::new(delimiter, quote).simple;
        let (mut out, mut ends) = (vec![0; 4096], vec![0; 64]);
        let (mut nout, mut nend) = (0, 0);
        let mut consumed = 0u64;
        let (mut start, mut line) = (0u64, 1u64);
        let mut first = true;
        // Whether csv-core has read part of the next record (or blank lines before it).
        let mut reading = false;
        // Whether csv-core must be reset before it reads on (the quick path read last).
        let mut behind = false;
        // The first byte goes alone, so that csv-core does not take bytes EF BB BF for a BOM
        // (the file's own BOM is skipped before `data`); so does the first after a reset.
        let mut one_byte = true;
        loop {
            let chunk = data.fill_buf().map_err(|e| Stop::Io(e, line))?;
            if quick
                && !first
                && !reading
                && let Some(row) = simple_line(chunk, quote)
                && let Some(&term) = chunk.get(row.skipped + row.line.len())
            {
                let key = key_index.map(|k| match row.line.split(|&b| b == delimiter).nth(k) {
                    Some(field) => text.decode(field),
                    None => Cow::Borrowed(""),
                });
                let at = (base + start, line + row.breaks);
                self.row(at, key.as_deref(), (size, consumed), sink)?;
                let len = row.skipped + row.line.len() + 1;
                let breaks = row.breaks + u64::from(term == b'\n');
                data.consume(len);
                consumed += len as u64;
                line += breaks;
                start = consumed;
                behind = true;
                continue;
            }
            if !reading {
                // Line breaks before a record (the `\n` of a CRLF that ended the previous one,
                // blank lines): csv-core would skip them; skipped here, so that `line` is the
                // line the record's first byte is on.
                let blank = chunk
                    .iter()
                    .position(|&b| b != b'\r' && b != b'\n')
                    .unwrap_or(chunk.len());
                if blank > 0 {
                    line += chunk[..blank].iter().filter(|&&b| b == b'\n').count() as u64;
                    data.consume(blank);
                    consumed += blank as u64;
                    continue;
                }
                if behind {
                    csv.reset();
                    one_byte = true;
                    behind = false;
                }
                csv.set_line(line);
            }
            let chunk = match chunk.split_first_chunk::<1>() {
                Some((first, _)) if one_byte => {
                    one_byte = false;
                    &first[..]
                }
                _ => chunk,
            };
            let (result, nin, o, e) = csv.read_record(chunk, &mut out[nout..], &mut ends[nend..]);
            data.consume(nin);
            consumed += nin as u64;
            nout += o;
            nend += e;
            reading = true;
            match result {
                R::InputEmpty => {}
                R::OutputFull => out.resize(out.len() * 2, 0),
                R::OutputEndsFull => ends.resize(ends.len() * 2, 0),
                R::Record => {
                    let field = |i: usize| {
                        let from = if i == 0 { 0 } else { ends[i - 1] };
                        out.get(from..ends[i]).unwrap_or_default()
                    };
                    if first && header {
                        self.columns = (0..nend)
                            .map(|i| trim(&text.decode(field(i))).to_owned())
                            .collect();
                        key_index = self.columns.iter().position(|c| c == input.key.get_ref());
                    } else {
                        let key = key_index.map(|k| match k < nend {
                            true => text.decode(field(k)),
                            false => Cow::Borrowed(""),
                        });
                        self.row((base + start, line), key.as_deref(), (size, consumed), sink)?;
                    }
                    first = false;
                    reading = false;
                    nout = 0;
                    nend = 0;
                    start = consumed;
                    line = csv.line();
                }
                R::End => break,
            }
        }
        self.rows.end = base + consumed;
        Ok(())
    }

    /// A row found at `start` (file offset, line) with `key` (untrimmed; `None` when the
    /// key column is missing: the config is refused, nothing is indexed).
    fn row(
        &mut self,
        (start, line): (u64, u64),
        key: Option<&str>,
        (size, consumed): (u64, u64),
        sink: &mut impl Sink,
    ) -> Result<(), Stop> {
        self.rows.push(start, line);
        if self.rows.len() == GUESS_AFTER {
            sink.expect(guess(size, consumed));
        }
        match key {
            Some(key) if !sink.row(trim(key)) => Err(Stop::Full(line)),
            _ => Ok(()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn scan_fixed(
        &mut self,
        mut data: impl BufRead,
        (base, size): (u64, u64),
        text: Text,
        positions: &[(usize, usize)],
        header: bool,
        input: &InputConfig,
        sink: &mut impl Sink,
    ) -> Result<(), Stop> {
        let key_index = self.columns.iter().position(|c| c == input.key.get_ref());
        let mut offset = base;
        let mut line = Vec::new();
        let mut fields = Fields::default();
        for i in 0.. {
            line.clear();
            let n = data
                .read_until(b'\n', &mut line)
                .map_err(|e| Stop::Io(e, i + 1))? as u64;
            if n == 0 {
                break;
            }
            let start = offset;
            offset += n;
            if (i == 0 && header) || line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.rows.push(start, i + 1);
            if self.rows.len() == GUESS_AFTER {
                sink.expect(guess(size, offset - base));
            }
            // Without the key column the config is refused: nothing to index.
            if let Some(k) = key_index {
                fixed_fields(&text.decode(&line), positions, &mut fields);
                if !sink.row(fields.get(k).unwrap_or("")) {
                    return Err(Stop::Full(i + 1));
                }
            }
        }
        self.rows.end = offset;
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

    /// Parses row `i` into `out`; `false` when the row cannot be read back (the file changed
    /// or vanished since it was indexed).
    pub fn fields(&self, i: usize, cache: &mut Cache, out: &mut Fields) -> bool {
        out.clear();
        if i >= self.rows.len() {
            return false;
        }
        let (start, end) = (self.rows.start(i), self.rows.end(i));
        let (bytes, text): (&[u8], Text) = match &self.storage {
            Storage::Memory(all) => (
                all.as_bytes()
                    .get(start as usize..end as usize)
                    .unwrap_or_default(),
                Text::Utf8,
            ),
            Storage::File { file, text } => {
                match Self::read(file, (start, end), &mut cache.window, self.chunk) {
                    Some(bytes) => (bytes, *text),
                    None => {
                        // Parsed as an empty row, as before; the person is rejected.
                        (&[][..], *text)
                    }
                }
            }
        };
        let readable = bytes.len() as u64 == end - start;
        match &self.layout {
            Layout::Delimited { delimiter, quote } => {
                let parser = cache
                    .parser
                    .get_or_insert_with(|| RowParser::new(*delimiter, *quote));
                parser.parse(bytes, text, out);
            }
            Layout::Fixed { positions } => {
                // The row's own line: the span runs on to the next row, over blank lines.
                let own = bytes
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes, |at| &bytes[..=at]);
                fixed_fields(&text.decode(own), positions, out);
            }
        }
        readable
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
            let breaks = self.text[done..first].iter().filter(|&&b| b == b'\n');
            self.at = (first, line + breaks.count() as u64);
        }
        self.at.1
    }
}

/// A small table read whole: its header and its rows with their line numbers.
pub(crate) struct Table {
    pub header: Vec<String>,
    pub rows: Vec<(u64, Vec<String>)>,
}

/// Reads a small delimited table with a header row (lookups, the term calendar).
pub(crate) fn read_table(path: &Path, delimiter: u8) -> Result<Table, ExtractError> {
    let decoded = decode_file(path, None)?;
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::{Cache, Fields, Layout, Offsets, RowParser, Sink, Source, Text};

    /// The keys of one input's rows.
    #[derive(Default)]
    struct Keys(Vec<String>);

    impl Sink for Keys {
        fn row(&mut self, key: &str) -> bool {
            self.0.push(key.to_owned());
            true
        }
        fn restart(&mut self) {
            self.0.clear();
        }
        fn expect(&mut self, _: usize) {}
    }

    /// Every row a whole-file read finds: the line its first byte is on, its key, and its
    /// fields (a U+FEFF that starts a row mid-file is kept in both).
    fn whole_file(bytes: &[u8]) -> Vec<(u64, String, Vec<String>)> {
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = match std::str::from_utf8(body) {
            Ok(text) => text.to_owned(),
            Err(_) => encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(body)
                .0
                .into_owned(),
        };
        let mut rdr = super::reader(text.as_bytes(), b',', b'"');
        let mut record = csv::StringRecord::new();
        let mut rows = Vec::new();
        let mut lines = super::Lines::new(text.as_bytes());
        while rdr.read_record(&mut record).expect("a record") {
            let at = record.position().expect("a position");
            let key = record.get(0).unwrap_or_default().to_owned();
            let fields = record.iter().map(str::to_owned).collect();
            rows.push((lines.at(at.byte()), key, fields));
        }
        rows.remove(0);
        rows
    }

    /// Reads `bytes` as `p.csv` (windows-1252 when not UTF-8) `chunk` bytes at a time:
    /// (line, key, fields) of every row.
    fn streamed(bytes: &[u8], chunk: usize) -> Vec<(u64, String, Vec<String>)> {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("p.csv"), bytes).expect("p.csv");
        let text = "[feed]\nname = \"t\"\ninstitution = \"T\"\n\n[[input]]\npath = \"p.csv\"\nkey = \"id\"\nencoding = \"windows-1252\"\n\n[fields]\nprimary_id = \"{id}\"\n\n[expiry]\ndefault = { policy = \"today\" }\n";
        let config =
            crate::MappingConfig::from_toml(text, Path::new("t.toml"), &[]).expect("config");
        let layout = Layout::Delimited {
            delimiter: b',',
            quote: b'"',
        };
        let mut keys = Keys::default();
        let (source, _) =
            Source::open_in_chunks(&config.inputs[0], dir.path(), layout, &mut keys, chunk)
                .expect("read");
        let mut cache = Cache::default();
        let mut fields = Fields::default();
        (0..source.len())
            .map(|i| {
                assert!(source.fields(i, &mut cache, &mut fields));
                let values = (0..)
                    .map_while(|f| fields.get(f).map(str::to_owned))
                    .collect();
                (source.line(i), keys.0[i].clone(), values)
            })
            .collect()
    }

    /// Opens `bytes` as `p.csv` (with `encoding`, when given) `chunk` bytes at a time: the
    /// warning, or the error.
    fn opened(
        bytes: &[u8],
        encoding: Option<&str>,
        chunk: usize,
    ) -> Result<Option<String>, String> {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("p.csv"), bytes).expect("p.csv");
        let encoding = encoding.map_or(String::new(), |e| format!("encoding = \"{e}\"\n"));
        let text = format!(
            "[feed]\nname = \"t\"\ninstitution = \"T\"\n\n[[input]]\npath = \"p.csv\"\nkey = \"id\"\n{encoding}\n[fields]\nprimary_id = \"{{id}}\"\n\n[expiry]\ndefault = {{ policy = \"today\" }}\n"
        );
        let config =
            crate::MappingConfig::from_toml(&text, Path::new("t.toml"), &[]).expect("config");
        let layout = Layout::Delimited {
            delimiter: b',',
            quote: b'"',
        };
        Source::open_in_chunks(
            &config.inputs[0],
            dir.path(),
            layout,
            &mut Keys::default(),
            chunk,
        )
        .map(|(_, warning)| warning.map(|w| w.replace(&dir.path().display().to_string(), "")))
        .map_err(|e| e.to_string().replace(&dir.path().display().to_string(), ""))
    }

    /// What a whole-file decode says about `bytes`: the warning, or the error.
    fn decoded(bytes: &[u8], encoding: Option<&str>) -> Result<Option<String>, String> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("p.csv");
        std::fs::write(&path, bytes).expect("p.csv");
        super::decode_file(&path, encoding)
            .map(|d| {
                d.warning
                    .map(|w| w.replace(&dir.path().display().to_string(), ""))
            })
            .map_err(|e| e.to_string().replace(&dir.path().display().to_string(), ""))
    }

    proptest! {
        /// Read in chunks, a file that is not UTF-8 gets the error (no fallback) or warning
        /// (a fallback) a whole-file decode gives: same line, byte offset and bytes.
        #[test]
        fn encoding_errors_and_warnings_are_those_of_a_whole_file_decode(
            body in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'a'), Just(0xC3), Just(0xA9), Just(0xE2), Just(0x82), Just(0xFF), any::<u8>()],
                0..60,
            ),
            bom in any::<bool>(),
            chunk in 4usize..24,
        ) {
            let mut bytes = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
            bytes.extend_from_slice(b"id\n");
            bytes.extend_from_slice(&body);
            for encoding in [None, Some("windows-1252"), Some("utf-16le"), Some("klingon")] {
                let got = opened(&bytes, encoding, chunk);
                let want = decoded(&bytes, encoding);
                prop_assert_eq!(got, want, "{:?}", encoding);
            }
        }
    }

    fn cell() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"1".to_vec()),
            Just(b" 2 ".to_vec()),
            Just(Vec::new()),
            Just(b"\"a,\r\nb\"".to_vec()),
            Just(b"\"x\"\"y\"".to_vec()),
            Just(b"\xe9\xa0".to_vec()),
            Just("\u{e9}\u{5f20}".as_bytes().to_vec()),
            Just(b"\xEF\xBB\xBFz".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..6),
        ]
    }

    fn end() -> impl Strategy<Value = &'static [u8]> {
        prop_oneof![
            Just(&b"\n"[..]),
            Just(&b"\r\n"[..]),
            Just(&b"\r"[..]),
            Just(&b"\r\n\r\n"[..]),
            Just(&b"\n \n"[..]),
        ]
    }

    proptest! {
        /// Read in small chunks (so that rows, UTF-8 sequences and line breaks are cut
        /// between reads), every row comes back with the line, key and fields a whole-file
        /// read gives.
        #[test]
        fn rows_read_in_chunks_are_the_rows_of_a_whole_file_read(
            bom in any::<bool>(),
            rows in proptest::collection::vec((cell(), cell(), end()), 0..30),
            chunk in 4usize..40,
        ) {
            let mut bytes = Vec::new();
            if bom {
                bytes.extend_from_slice(b"\xEF\xBB\xBF");
            }
            bytes.extend_from_slice(b"id,name\r\n");
            for (id, name, end) in &rows {
                bytes.extend_from_slice(id);
                bytes.push(b',');
                bytes.extend_from_slice(name);
                bytes.extend_from_slice(end);
            }
            prop_assert_eq!(streamed(&bytes, chunk), whole_file(&bytes));
        }
    }

    fn fields(parser: &mut RowParser, input: &[u8], text: Text) -> Vec<String> {
        let mut out = Fields::default();
        parser.parse(input, text, &mut out);
        (0..).map_while(|i| out.get(i).map(str::to_owned)).collect()
    }

    fn byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            Just(b','),
            Just(b'"'),
            Just(b'\r'),
            Just(b'\n'),
            Just(b' '),
            Just(b'a'),
            Just(0xEF),
            Just(0xBB),
            Just(0xBF),
            Just(0xE9),
            any::<u8>(),
        ]
    }

    proptest! {
        /// Rows without quotes skip csv-core; what they give is what csv-core gives.
        #[test]
        fn the_quick_path_reads_rows_as_csv_core_does(
            input in proptest::collection::vec(byte(), 0..40),
            single_byte in any::<bool>(),
        ) {
            let text = if single_byte {
                Text::SingleByte(encoding_rs::WINDOWS_1252)
            } else {
                Text::Utf8
            };
            let mut quick = RowParser::new(b',', b'"');
            let mut slow = RowParser::new(b',', b'"');
            slow.simple = false;
            prop_assert_eq!(fields(&mut quick, &input, text), fields(&mut slow, &input, text));
        }
    }

    #[test]
    fn offsets_past_4_gib_and_lines_that_jump_are_kept() {
        let mut offsets = Offsets::default();
        let rows = [
            (3, 1),
            (4_294_967_290, 2),
            (4_294_967_300, 2),
            (12_000_000_000, 9),
            (12_000_000_001, 10),
        ];
        for (start, line) in rows {
            offsets.push(start, line);
        }
        offsets.end = 12_000_000_050;
        for (i, (start, line)) in rows.into_iter().enumerate() {
            assert_eq!((offsets.start(i), offsets.line(i)), (start, line));
        }
        assert_eq!(offsets.end(4), 12_000_000_050);
        assert_eq!(offsets.end(1), 4_294_967_300);
    }
}
