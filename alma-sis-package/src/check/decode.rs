//! The document's encoding, decided the way the JDK's parser decides it (byte-order mark,
//! the first bytes, then the declaration's `encoding`), and the bytes turned into UTF-8 for
//! the reader when the file is in another encoding Java reads. Alma expects UTF-8: any other
//! encoding is a warning (`W-ENCODING`: a risk of garbled names, not a failed load), an
//! encoding Java cannot read an error (`E-ENCODING`).

use std::io::{self, Read};

use alma_user_model::Severity;

use super::codes;

/// How the bytes become UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Utf8,
    /// ISO-8859-1: each byte is the character of the same number.
    Latin1,
    /// US-ASCII: a byte over 0x7F stops Java.
    Ascii,
    /// Another encoding Java reads.
    Other(&'static encoding_rs::Encoding),
}

/// The decision about one document: the mode, and a finding to report (at the start).
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    pub mode: Mode,
    /// Bytes of a UTF-16 byte-order mark to skip.
    pub skip: usize,
    pub note: Option<(&'static str, Severity, String)>,
    /// Java cannot read it: nothing should be read.
    pub refused: bool,
}

const LATIN1: &[&str] = &[
    "ISO-8859-1",
    "ISO_8859-1",
    "ISO_8859-1:1987",
    "ISO8859-1",
    "ISO8859_1",
    "LATIN1",
    "L1",
    "IBM819",
    "CP819",
    "CSISOLATIN1",
    "ISO-IR-100",
    "8859_1",
];

const ASCII: &[&str] = &[
    "US-ASCII",
    "ASCII",
    "ISO646-US",
    "ANSI_X3.4-1968",
    "ANSI_X3.4-1986",
    "IBM367",
    "CP367",
    "CSASCII",
    "US",
    "ISO-IR-6",
    "ISO_646.IRV:1991",
];

/// 8-bit encodings both Java and `encoding_rs` read the same way.
const OTHERS: &[&str] = &[
    "WINDOWS-1250",
    "WINDOWS-1251",
    "WINDOWS-1252",
    "WINDOWS-1253",
    "WINDOWS-1254",
    "WINDOWS-1255",
    "WINDOWS-1256",
    "WINDOWS-1257",
    "WINDOWS-1258",
    "ISO-8859-2",
    "ISO-8859-3",
    "ISO-8859-4",
    "ISO-8859-5",
    "ISO-8859-6",
    "ISO-8859-7",
    "ISO-8859-8",
    "ISO-8859-13",
    "ISO-8859-15",
    "KOI8-R",
    "KOI8-U",
];

/// The `encoding` of an XML declaration at the start of `head`, if there is one.
fn declared_encoding(head: &[u8]) -> Option<&[u8]> {
    let decl = head.strip_prefix(b"<?xml")?;
    let end = decl.windows(2).position(|w| w == b"?>")?;
    let decl = &decl[..end];
    let at = decl.windows(8).position(|w| w == b"encoding")?;
    let rest = &decl[at + 8..];
    let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    let rest = rest.strip_prefix(b"=")?;
    let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    let quote = *rest.first().filter(|&&q| q == b'"' || q == b'\'')?;
    let value = &rest[1..];
    let len = value.iter().position(|&b| b == quote)?;
    Some(&value[..len])
}

/// `[A-Za-z] ([A-Za-z0-9._] | '-')*`.
fn is_enc_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn refused(message: String) -> Decision {
    Decision {
        mode: Mode::Utf8,
        skip: 0,
        note: Some((codes::ENCODING, Severity::Error, message)),
        refused: true,
    }
}

fn warned(mode: Mode, skip: usize, what: &str) -> Decision {
    Decision {
        mode,
        skip,
        note: Some((
            codes::ENCODING_OTHER,
            Severity::Warning,
            format!(
                "the file is {what}; Alma's Java loader reads it as such, but Alma expects \
                 UTF-8, and a file whose bytes are really UTF-8 comes out with garbled names: \
                 write UTF-8 and declare encoding=\"UTF-8\""
            ),
        )),
        refused: false,
    }
}

/// Decides how to read a document from its first bytes (a few hundred suffice).
pub(crate) fn decide(head: &[u8]) -> Decision {
    let utf8 = Decision {
        mode: Mode::Utf8,
        skip: 0,
        note: None,
        refused: false,
    };
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        // The byte-order mark decides; the guard reports it.
        return utf8;
    }
    let utf16 = if head.starts_with(&[0xFF, 0xFE]) {
        Some((encoding_rs::UTF_16LE, 2, "little"))
    } else if head.starts_with(&[0xFE, 0xFF]) {
        Some((encoding_rs::UTF_16BE, 2, "big"))
    } else if head.starts_with(&[0x3C, 0x00, 0x3F, 0x00]) {
        Some((encoding_rs::UTF_16LE, 0, "little"))
    } else if head.starts_with(&[0x00, 0x3C, 0x00, 0x3F]) {
        Some((encoding_rs::UTF_16BE, 0, "big"))
    } else {
        None
    };
    if let Some((encoding, skip, endian)) = utf16 {
        // The declaration, read as UTF-16, must not name another encoding: Java switches to
        // it and reads garbage.
        let (text, _) = encoding.decode_without_bom_handling(&head[skip..]);
        if let Some(declared) = declared_encoding(text.as_bytes())
            && !declared.to_ascii_uppercase().starts_with(b"UTF-16")
        {
            let name = String::from_utf8_lossy(declared);
            return refused(format!(
                "the file is UTF-16 but declares encoding=\"{name}\": Java switches to {name} \
                 and finds garbage (\"Content is not allowed in prolog.\"); Alma's loader \
                 rejects the whole file: write UTF-8 and declare encoding=\"UTF-8\""
            ));
        }
        return warned(
            Mode::Other(encoding),
            skip,
            &format!("UTF-16 ({endian} endian)"),
        );
    }
    let Some(declared) = declared_encoding(head) else {
        return utf8;
    };
    let name = String::from_utf8_lossy(declared).into_owned();
    if !is_enc_name(&name) {
        return refused(format!(
            "the declaration names the encoding {name:?} (Java: \"Invalid encoding name \
             \\\"{name}\\\".\"); Alma's loader rejects the whole file: declare \
             encoding=\"UTF-8\" and write UTF-8"
        ));
    }
    let upper = name.to_ascii_uppercase();
    if upper == "UTF-8" || upper == "UTF8" {
        return utf8;
    }
    if LATIN1.contains(&upper.as_str()) {
        let canonical = if upper == "ISO-8859-1" {
            ""
        } else {
            " (ISO-8859-1)"
        };
        return warned(Mode::Latin1, 0, &format!("declared {name}{canonical}"));
    }
    if ASCII.contains(&upper.as_str()) {
        let canonical = if upper == "US-ASCII" {
            ""
        } else {
            " (US-ASCII)"
        };
        return warned(Mode::Ascii, 0, &format!("declared {name}{canonical}"));
    }
    if OTHERS.contains(&upper.as_str())
        && let Some(enc) = encoding_rs::Encoding::for_label(upper.as_bytes())
    {
        return warned(Mode::Other(enc), 0, &format!("declared {name}"));
    }
    if upper.starts_with("UTF-16") || upper.starts_with("UTF-32") || upper.starts_with("UCS") {
        return refused(format!(
            "the declaration says {name}, but the file is written in an 8-bit encoding: Java \
             reads it as {name} and finds garbage (\"Content is not allowed in prolog.\"); \
             Alma's loader rejects the whole file: write UTF-8 and declare \
             encoding=\"UTF-8\""
        ));
    }
    refused(format!(
        "the declaration names the encoding {name}, which Alma's Java loader cannot read \
         (\"java.io.UnsupportedEncodingException: {name}\"); Alma rejects the whole file: \
         write UTF-8 and declare encoding=\"UTF-8\""
    ))
}

/// The bytes a [`Decision`] turns into UTF-8. Reads stop at a byte US-ASCII does not have
/// (reported through `on_error`).
pub(crate) struct Decoder<R> {
    inner: R,
    head: Vec<u8>,
    head_at: usize,
    mode: Mode,
    decoder: Option<encoding_rs::Decoder>,
    raw: Vec<u8>,
    /// Decoded bytes not handed out yet.
    ready: Vec<u8>,
    ready_at: usize,
    eof: bool,
    /// Lines seen (for the position of a bad ASCII byte).
    line: u64,
    column: u64,
    /// US-ASCII met a byte over 0x7F: (byte, line, column).
    pub bad_ascii: Option<(u8, u64, u64)>,
}

impl<R: Read> Decoder<R> {
    /// Reads the first bytes of `inner` and decides; the decoder hands out the document as
    /// UTF-8 (from the start again).
    pub fn new(mut inner: R) -> io::Result<(Self, Decision)> {
        let mut head = vec![0u8; 1024];
        let mut n = 0;
        while n < head.len() {
            match inner.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => {
                    n += k;
                    if head[..n].windows(2).any(|w| w == b"?>") {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        head.truncate(n);
        let decision = decide(&head);
        let decoder = match decision.mode {
            Mode::Other(enc) => Some(enc.new_decoder_without_bom_handling()),
            _ => None,
        };
        Ok((
            Decoder {
                inner,
                head_at: decision.skip.min(head.len()),
                head,
                mode: decision.mode,
                decoder,
                raw: vec![0; 32 * 1024],
                ready: Vec::new(),
                ready_at: 0,
                eof: false,
                line: 1,
                column: 1,
                bad_ascii: None,
            },
            decision,
        ))
    }

    /// A decoder that hands out `inner` as it is (UTF-8 assumed).
    #[cfg(test)]
    pub fn utf8(inner: R) -> Self {
        Decoder {
            inner,
            head: Vec::new(),
            head_at: 0,
            mode: Mode::Utf8,
            decoder: None,
            raw: Vec::new(),
            ready: Vec::new(),
            ready_at: 0,
            eof: false,
            line: 1,
            column: 1,
            bad_ascii: None,
        }
    }

    /// Raw bytes: the head first, then the input.
    fn read_raw(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.head_at < self.head.len() {
            let n = out.len().min(self.head.len() - self.head_at);
            out[..n].copy_from_slice(&self.head[self.head_at..self.head_at + n]);
            self.head_at += n;
            return Ok(n);
        }
        self.inner.read(out)
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        match self.mode {
            Mode::Utf8 => self.read_raw(out),
            Mode::Ascii => {
                if self.bad_ascii.is_some() {
                    return Ok(0);
                }
                let n = self.read_raw(out)?;
                for (i, &b) in out[..n].iter().enumerate() {
                    if b >= 0x80 {
                        self.bad_ascii = Some((b, self.line, self.column));
                        return Ok(i);
                    }
                    if b == b'\n' {
                        self.line += 1;
                        self.column = 1;
                    } else {
                        self.column += 1;
                    }
                }
                Ok(n)
            }
            Mode::Latin1 | Mode::Other(_) => {
                while self.ready_at == self.ready.len() {
                    if self.eof {
                        return Ok(0);
                    }
                    self.ready.clear();
                    self.ready_at = 0;
                    let mut raw = std::mem::take(&mut self.raw);
                    let n = self.read_raw(&mut raw);
                    let n = match n {
                        Ok(n) => n,
                        Err(e) => {
                            self.raw = raw;
                            return Err(e);
                        }
                    };
                    self.eof = n == 0;
                    match (&mut self.decoder, self.mode) {
                        (_, Mode::Latin1) => {
                            for &b in &raw[..n] {
                                let mut buf = [0u8; 2];
                                self.ready.extend_from_slice(
                                    char::from(b).encode_utf8(&mut buf).as_bytes(),
                                );
                            }
                        }
                        (Some(d), _) => {
                            let cap = d.max_utf8_buffer_length(n).unwrap_or(n * 3 + 16);
                            self.ready.resize(cap, 0);
                            let (_, _, written, _) =
                                d.decode_to_utf8(&raw[..n], &mut self.ready, self.eof);
                            self.ready.truncate(written);
                        }
                        _ => {}
                    }
                    self.raw = raw;
                }
                let n = out.len().min(self.ready.len() - self.ready_at);
                out[..n].copy_from_slice(&self.ready[self.ready_at..self.ready_at + n]);
                self.ready_at += n;
                Ok(n)
            }
        }
    }
}
