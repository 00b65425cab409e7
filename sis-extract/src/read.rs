//! Reading and decoding extract files: delimited or fixed width, any single-byte delimiter,
//! quoted fields, CRLF or LF, UTF-8 (BOM stripped) or a configured fallback encoding.
//!
//! A [`Source`] keeps the decoded text and the byte span of every row; rows are parsed again
//! when their person is mapped, so only one copy of the data is held.

use std::collections::HashMap;
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
    pub start: usize,
    pub end: usize,
    pub line: u64,
}

/// One input file, decoded, with its columns and the span of every row.
#[derive(Debug)]
pub(crate) struct Source {
    /// The path as written in the config.
    pub name: String,
    pub columns: Vec<String>,
    pub index: HashMap<String, usize>,
    pub supplement: bool,
    text: String,
    layout: Layout,
    pub rows: Vec<RowSpan>,
}

/// Parses a one-byte setting such as a delimiter: one byte, or `\t`.
pub(crate) fn one_byte(value: &str) -> Option<u8> {
    match value.as_bytes() {
        [b] => Some(*b),
        b"\\t" => Some(b'\t'),
        _ => None,
    }
}

fn reader(text: &[u8], delimiter: u8, quote: u8) -> csv::Reader<&[u8]> {
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
        let decoded = decode_file(&path, input.encoding.as_ref().map(|e| e.get_ref().as_str()))?;
        let name = input.path.display().to_string();
        let header = input
            .header
            .unwrap_or(input.format == InputFormat::Delimited);
        let mut source = Source {
            name,
            columns: Vec::new(),
            index: HashMap::new(),
            supplement: input.supplement,
            text: decoded.text,
            layout,
            rows: Vec::new(),
        };
        match &source.layout {
            Layout::Delimited { delimiter, quote } => {
                source.scan_delimited(&path, *delimiter, *quote, header, input)?;
            }
            Layout::Fixed { .. } => {
                source.columns = input.positions.iter().map(|p| p.column.clone()).collect();
                source.scan_fixed(header);
            }
        }
        source.index = source
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        let key = input.key.get_ref();
        if let Some(&key_index) = source.index.get(key) {
            let mut fields = Vec::new();
            for i in 0..source.rows.len() {
                source.fields(i, &mut fields);
                on_row(i, fields.get(key_index).map_or("", String::as_str));
            }
        }
        Ok((source, decoded.warning))
    }

    fn scan_delimited(
        &mut self,
        path: &Path,
        delimiter: u8,
        quote: u8,
        header: bool,
        input: &InputConfig,
    ) -> Result<(), ExtractError> {
        let mut rdr = reader(self.text.as_bytes(), delimiter, quote);
        let mut record = csv::StringRecord::new();
        let mut first = true;
        let mut pending: Option<(usize, u64)> = None;
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
            let begin = record.position().map_or(start.byte(), csv::Position::byte) as usize;
            let line = record.position().map_or(start.line(), csv::Position::line);
            if let Some((s, l)) = pending.take() {
                self.rows.push(RowSpan {
                    start: s,
                    end: if more { begin } else { self.text.len() },
                    line: l,
                });
            }
            if !more {
                break;
            }
            if first && header {
                self.columns = record.iter().map(str::to_owned).collect();
            } else {
                pending = Some((begin, line));
            }
            first = false;
        }
        if !header {
            self.columns = input.columns.clone();
        }
        Ok(())
    }

    fn scan_fixed(&mut self, header: bool) {
        let mut offset = 0;
        for (i, line) in self.text.split_inclusive('\n').enumerate() {
            let start = offset;
            offset += line.len();
            if (i == 0 && header) || line.trim().is_empty() {
                continue;
            }
            self.rows.push(RowSpan {
                start,
                end: offset,
                line: i as u64 + 1,
            });
        }
    }

    /// Parses row `i` into `out` (trimmed values, one per column).
    pub fn fields(&self, i: usize, out: &mut Vec<String>) {
        out.clear();
        let Some(span) = self.rows.get(i) else {
            return;
        };
        let text = self.text.get(span.start..span.end).unwrap_or("");
        match &self.layout {
            Layout::Delimited { delimiter, quote } => {
                let mut record = csv::StringRecord::new();
                if let Ok(true) =
                    reader(text.as_bytes(), *delimiter, *quote).read_record(&mut record)
                {
                    out.extend(record.iter().map(str::to_owned));
                }
            }
            Layout::Fixed { positions } => {
                let line = text.trim_end_matches(['\r', '\n']);
                for &(start, width) in positions {
                    let value: String = line.chars().skip(start).take(width).collect();
                    out.push(value.trim().to_owned());
                }
            }
        }
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
