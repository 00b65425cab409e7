//! Reading and decoding extract files: delimited or fixed width, any single-byte delimiter,
//! quoted fields, CRLF or LF, UTF-8 (BOM stripped) or a configured fallback encoding.
//!
//! A [`Source`] keeps the byte span of every row, and rows are parsed again when their person
//! is mapped: a UTF-8 file is checked, scanned, then read back row by row, so only the spans
//! stay in memory; a file decoded with a fallback encoding is held in memory, decoded.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

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
            let bad = &body[offset..(offset + bad_len).min(body.len())];
            let hex: Vec<String> = bad.iter().map(|b| format!("0x{b:02X}")).collect();
            let file_offset = (offset + bom) as u64;
            let Some(label) = fallback else {
                return Err(ExtractError::NotUtf8 {
                    path: path.to_owned(),
                    line,
                    offset: file_offset,
                    bytes: hex.join(" "),
                });
            };
            let encoding = encoding_rs::Encoding::for_label(label.as_bytes())
                .ok_or_else(|| ExtractError::UnknownEncoding(label.to_owned()))?;
            let (text, _) = encoding.decode_without_bom_handling(body);
            Ok(DecodedFile {
                text: text.into_owned(),
                warning: Some(format!(
                    "{}: not UTF-8 (first invalid bytes {} at line {line}, byte offset {file_offset}); decoded as {}",
                    path.display(),
                    hex.join(" "),
                    encoding.name()
                )),
            })
        }
    }
}

/// How a row's text is split into fields.
#[derive(Debug, Clone)]
pub(crate) enum Layout {
    Delimited { delimiter: u8, quote: u8 },
    Fixed { positions: Vec<(usize, usize)> },
}

/// Where one row lives in its file's text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowSpan {
    pub start: u64,
    pub end: u64,
    pub line: u64,
}

/// Where a source's rows are read back from.
#[derive(Debug)]
enum Storage {
    /// A file decoded with a fallback encoding, held in memory.
    Memory(String),
    /// A UTF-8 file, read back row by row: only the row spans stay in memory.
    File {
        file: RefCell<File>,
        buf: RefCell<Vec<u8>>,
    },
}

/// Whether a file is UTF-8 (after an optional BOM), read in chunks: `Ok(Some(bom length))`
/// when it is, `Ok(None)` when it is not.
fn utf8_file(path: &Path) -> Result<Option<u64>, ExtractError> {
    let io = |source| ExtractError::Io {
        path: path.to_owned(),
        source,
    };
    let mut reader = BufReader::with_capacity(1 << 16, File::open(path).map_err(io)?);
    let mut carry: Vec<u8> = Vec::new();
    let mut first = true;
    let mut bom = 0;
    loop {
        let chunk = reader.fill_buf().map_err(io)?;
        if chunk.is_empty() {
            return Ok(carry.is_empty().then_some(bom));
        }
        let mut data = std::mem::take(&mut carry);
        data.extend_from_slice(chunk);
        let n = chunk.len();
        reader.consume(n);
        let mut body = &data[..];
        if first {
            first = false;
            if let Some(rest) = body.strip_prefix(b"\xEF\xBB\xBF") {
                body = rest;
                bom = 3;
            }
        }
        match std::str::from_utf8(body) {
            Ok(_) => {}
            // A sequence cut at the chunk's end: check it with the next chunk.
            Err(e) if e.error_len().is_none() => carry = body[e.valid_up_to()..].to_vec(),
            Err(_) => return Ok(None),
        }
    }
}

/// One input file, decoded, with its columns and the span of every row.
#[derive(Debug)]
pub(crate) struct Source {
    /// The path as written in the config.
    pub name: String,
    pub columns: Vec<String>,
    pub index: HashMap<String, usize>,
    pub supplement: bool,
    storage: Storage,
    layout: Layout,
    pub rows: Vec<RowSpan>,
    /// Reused for every row: building a CSV parser costs more than parsing a row.
    parser: RefCell<RowParser>,
}

#[derive(Debug)]
struct RowParser {
    csv: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl RowParser {
    fn new(delimiter: u8, quote: u8) -> RowParser {
        RowParser {
            csv: csv_core::ReaderBuilder::new()
                .delimiter(delimiter)
                .quote(quote)
                .build(),
            out: vec![0; 1024],
            ends: vec![0; 64],
        }
    }

    /// Parses the first record of `input` into trimmed fields.
    fn parse(&mut self, mut input: &[u8], fields: &mut Vec<String>) {
        use csv_core::ReadRecordResult as R;
        self.csv.reset();
        let (mut nout, mut nend) = (0, 0);
        loop {
            let (result, nin, o, e) =
                self.csv
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
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
        let mut start = 0;
        for &end in &self.ends[..nend] {
            let bytes = self.out.get(start..end).unwrap_or_default();
            fields.push(String::from_utf8_lossy(bytes).trim().to_owned());
            start = end;
        }
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

impl Source {
    /// Reads an input file and calls `on_row(row_index, key)` for every row, in file order.
    pub fn open(
        input: &InputConfig,
        base_dir: &Path,
        layout: Layout,
        mut on_row: impl FnMut(usize, &str),
    ) -> Result<(Source, Option<String>), ExtractError> {
        let path = base_dir.join(&input.path);
        let fallback = input.encoding.as_ref().map(|e| e.get_ref().as_str());
        let (storage, warning, bom) = match utf8_file(&path)? {
            Some(bom) => {
                let file = File::open(&path).map_err(|source| ExtractError::Io {
                    path: path.clone(),
                    source,
                })?;
                let storage = Storage::File {
                    file: RefCell::new(file),
                    buf: RefCell::new(Vec::new()),
                };
                (storage, None, bom)
            }
            None => {
                let decoded = decode_file(&path, fallback)?;
                (Storage::Memory(decoded.text), decoded.warning, 0)
            }
        };
        let name = input.path.display().to_string();
        let header = input
            .header
            .unwrap_or(input.format == InputFormat::Delimited);
        let (delimiter, quote) = match &layout {
            Layout::Delimited { delimiter, quote } => (*delimiter, *quote),
            Layout::Fixed { .. } => (b',', b'"'),
        };
        let mut source = Source {
            name,
            columns: Vec::new(),
            index: HashMap::new(),
            supplement: input.supplement,
            // Put in place after the scan, which reads it.
            storage: Storage::Memory(String::new()),
            layout,
            rows: Vec::new(),
            parser: RefCell::new(RowParser::new(delimiter, quote)),
        };
        let io = |source| ExtractError::Io {
            path: path.clone(),
            source,
        };
        // The scan reads the file once, from the start of its data (after a BOM).
        let data: Box<dyn BufRead + '_> = match &storage {
            Storage::Memory(text) => Box::new(text.as_bytes()),
            Storage::File { .. } => {
                let mut file = File::open(&path).map_err(io)?;
                file.seek(SeekFrom::Start(bom)).map_err(io)?;
                Box::new(BufReader::with_capacity(1 << 16, file))
            }
        };
        let key = input.key.get_ref();
        match &source.layout {
            Layout::Delimited { .. } => {
                source.scan_delimited(data, bom, &path, (delimiter, quote), input, &mut on_row)?;
                source.storage = storage;
            }
            Layout::Fixed { .. } => {
                source.columns = input.positions.iter().map(|p| p.column.clone()).collect();
                source.scan_fixed(data, bom, header).map_err(io)?;
                source.storage = storage;
                if let Some(key_index) = source.columns.iter().position(|c| c == key) {
                    let mut fields = Vec::new();
                    for i in 0..source.rows.len() {
                        source.fields(i, &mut fields);
                        on_row(i, fields.get(key_index).map_or("", String::as_str));
                    }
                }
            }
        }
        if let Storage::File { .. } | Storage::Memory(_) = &source.storage
            && source.rows.is_empty()
        {}
        source.index = source
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        Ok((source, warning))
    }

    fn scan_delimited(
        &mut self,
        data: impl Read,
        base: u64,
        path: &Path,
        (delimiter, quote): (u8, u8),
        input: &InputConfig,
        on_row: &mut impl FnMut(usize, &str),
    ) -> Result<(), ExtractError> {
        let header = input.header.unwrap_or(true);
        if !header {
            self.columns = input.columns.clone();
        }
        let mut key_index = self.columns.iter().position(|c| c == input.key.get_ref());
        let mut rdr = reader(data, delimiter, quote);
        let mut record = csv::StringRecord::new();
        let mut first = true;
        let mut pending: Option<(u64, u64)> = None;
        loop {
            let start = rdr.position().clone();
            let more = rdr
                .read_record(&mut record)
                .map_err(|e| ExtractError::Csv {
                    path: path.to_owned(),
                    line: e.position().map_or(start.line(), csv::Position::line),
                    message: e.to_string(),
                })?;
            // The record really starts where its first byte is: skip blank lines before it.
            let begin = base + record.position().map_or(start.byte(), csv::Position::byte);
            let line = record.position().map_or(start.line(), csv::Position::line);
            if let Some((s, l)) = pending.take() {
                self.rows.push(RowSpan {
                    start: s,
                    end: if more {
                        begin
                    } else {
                        base + rdr.position().byte()
                    },
                    line: l,
                });
            }
            if !more {
                break;
            }
            if first && header {
                self.columns = record.iter().map(str::to_owned).collect();
                key_index = self.columns.iter().position(|c| c == input.key.get_ref());
            } else {
                if let Some(k) = key_index {
                    on_row(self.rows.len(), record.get(k).unwrap_or(""));
                }
                pending = Some((begin, line));
            }
            first = false;
        }
        Ok(())
    }

    fn scan_fixed(
        &mut self,
        mut data: impl BufRead,
        base: u64,
        header: bool,
    ) -> std::io::Result<()> {
        let mut offset = base;
        let mut line = Vec::new();
        for i in 0.. {
            line.clear();
            let n = data.read_until(b'\n', &mut line)? as u64;
            if n == 0 {
                break;
            }
            let start = offset;
            offset += n;
            if (i == 0 && header) || line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.rows.push(RowSpan {
                start,
                end: offset,
                line: i + 1,
            });
        }
        Ok(())
    }

    /// Parses row `i` into `out`; `false` when the row cannot be read back (the file changed
    /// or vanished since it was scanned).
    pub fn fields(&self, i: usize, out: &mut Vec<String>) -> bool {
        out.clear();
        let Some(span) = self.rows.get(i) else {
            return false;
        };
        let mut readable = true;
        let mut buf;
        let bytes: &[u8] = match &self.storage {
            Storage::Memory(text) => text
                .as_bytes()
                .get(span.start as usize..span.end as usize)
                .unwrap_or_default(),
            Storage::File { file, buf: b } => {
                buf = b.borrow_mut();
                buf.resize((span.end - span.start) as usize, 0);
                let mut file = file.borrow_mut();
                if file.seek(SeekFrom::Start(span.start)).is_err()
                    || file.read_exact(&mut buf).is_err()
                {
                    buf.clear();
                    readable = false;
                }
                &buf
            }
        };
        match &self.layout {
            Layout::Delimited { .. } => self.parser.borrow_mut().parse(bytes, out),
            Layout::Fixed { positions } => {
                let text = String::from_utf8_lossy(bytes);
                let line = text.trim_end_matches(['\r', '\n']);
                for &(start, width) in positions {
                    let value: String = line.chars().skip(start).take(width).collect();
                    out.push(value.trim().to_owned());
                }
            }
        }
        readable
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
    for record in rdr.records() {
        let record = record.map_err(|e| ExtractError::Csv {
            path: path.to_owned(),
            line: e.position().map_or(0, csv::Position::line),
            message: e.to_string(),
        })?;
        let values: Vec<String> = record.iter().map(str::to_owned).collect();
        if header.is_none() {
            header = Some(values);
        } else {
            rows.push((record.position().map_or(0, csv::Position::line), values));
        }
    }
    Ok(Table {
        header: header.unwrap_or_default(),
        rows,
    })
}
