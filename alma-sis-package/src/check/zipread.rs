//! A zip read the two ways the JDK reads it, to say which of its readers would fail:
//!
//! - **`ZipFile`** (`java.util.zip.ZipFile`): finds the end record from the end of the file
//!   (tolerating bytes after it when the central directory and first local header are where
//!   it says), reads the central directory with the JDK's checks (signatures, header sizes,
//!   methods, encryption, UTF-8 names, extra fields and ZIP64), then each entry's data at its
//!   local header, with the central directory's method and compressed size. It never checks
//!   a CRC.
//! - **`ZipInputStream`** (`java.util.zip.ZipInputStream`, which Alma's documentation says it
//!   uses): walks the local headers from the first byte, inflates each entry to the end of its
//!   deflate stream, reads a data descriptor when flag 3 says so, and checks the sizes and the
//!   CRC of the local header (or the descriptor) at the end of each entry.
//!
//! Entry data is read once per place in the file ([`Reading`]); entries that share a local
//! header or overlap are reported and read once. Entry names are only compared and shown,
//! never used as paths. Every number is read with bounds checks: a hostile zip can only
//! produce findings.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

use alma_user_model::Severity;

use super::codes;

const END_SIG: u32 = 0x0605_4b50;
const CEN_SIG: u32 = 0x0201_4b50;
const LOC_SIG: u32 = 0x0403_4b50;
const EXT_SIG: u32 = 0x0807_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_END_SIG: u32 = 0x0606_4b50;
const END_LEN: u64 = 22;
const CEN_LEN: usize = 46;
const LOC_LEN: u64 = 30;
const ZIP64_LOCATOR_LEN: u64 = 20;
const ZIP64_END_LEN: usize = 56;
/// The end record lies in the last 22 + 65535 (longest comment) bytes.
const END_SEARCH: u64 = END_LEN + 0xFFFF;
const MAGIC32: u64 = 0xFFFF_FFFF;
const MAGIC16: u16 = 0xFFFF;
const STORED: u16 = 0;
const DEFLATED: u16 = 8;
const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
/// Most bytes of central directory read (a zip with more is refused).
const MAX_CEN_BYTES: u64 = 256 << 20;

/// A structural problem: code, severity, the entry it concerns and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZipProblem {
    pub code: &'static str,
    pub severity: Severity,
    pub entry: Option<String>,
    pub message: String,
}

impl ZipProblem {
    fn error(code: &'static str, entry: Option<&str>, message: impl Into<String>) -> Self {
        ZipProblem {
            code,
            severity: Severity::Error,
            entry: entry.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// A local file header, as both readers see it.
#[derive(Debug, Clone)]
pub(crate) struct Local {
    pub raw_name: Vec<u8>,
    /// General-purpose flags (bit 3: a data descriptor follows the data).
    pub flags: u16,
    pub method: u16,
    pub crc: u32,
    /// Sizes from the header, or from its ZIP64 extra field when they are 0xFFFFFFFF and the
    /// field holds both (as `ZipInputStream` reads them).
    pub csize: u64,
    pub size: u64,
    /// Where the entry's data starts.
    pub data_at: u64,
}

/// One central-directory entry (`ZipFile`'s view).
#[derive(Debug, Clone)]
pub(crate) struct CenEntry {
    /// The name, for people (lossy UTF-8).
    pub name: String,
    pub raw_name: Vec<u8>,
    pub method: u16,
    pub crc: u32,
    pub csize: u64,
    pub size: u64,
    /// The DOS time and date of its last modification.
    pub dos_time: u16,
    pub dos_date: u16,
    /// The local header's position in the file.
    pub local_at: u64,
    /// The local header there, when there is one.
    pub local: Option<Local>,
}

impl CenEntry {
    /// True for an entry Alma reads as a user file.
    pub fn is_xml(&self) -> bool {
        is_xml_name(&self.raw_name)
    }

    /// Where `ZipFile` reads this entry's data, and how.
    pub fn reading(&self) -> Option<ReadingKey> {
        let local = self.local.as_ref()?;
        Some(ReadingKey {
            at: local.data_at,
            method: self.method,
            stored_len: if self.method == STORED {
                self.csize
            } else {
                u64::MAX
            },
        })
    }
}

/// True for a name Alma reads as a user file (`*.xml`, any case, not a folder).
pub(crate) fn is_xml_name(name: &[u8]) -> bool {
    !name.ends_with(b"/") && name.len() >= 4 && name[name.len() - 4..].eq_ignore_ascii_case(b".xml")
}

/// What the structure scan found.
#[derive(Debug, Default)]
pub(crate) struct ZipStructure {
    /// `ZipFile`'s entries, in central-directory order.
    pub entries: Vec<CenEntry>,
    pub problems: Vec<ZipProblem>,
    /// False when `ZipFile` cannot open the zip at all; entries are then not read.
    pub readable: bool,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(v)
}

/// Reads up to `buf.len()` bytes at `at`; fewer only at the end of the file.
fn read_at(file: &mut File, at: u64, buf: &mut [u8]) -> io::Result<usize> {
    file.seek(SeekFrom::Start(at))?;
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn read_exact_at(file: &mut File, at: u64, buf: &mut [u8]) -> io::Result<bool> {
    Ok(read_at(file, at, buf)? == buf.len())
}

fn corrupt(message: impl Into<String>) -> ZipProblem {
    ZipProblem::error(codes::ZIP_CORRUPT, None, message)
}

/// "`ZipFile` fails: ..." with the JDK's words, and what to do.
fn zipfile_fails(java: &str) -> String {
    format!(
        "Java's ZipFile cannot open it (\"{java}\"): the zip is damaged or was not written by a \
         standard zip tool; recreate it and transfer it in binary mode"
    )
}

/// The end record as `ZipFile` finds it.
struct End {
    /// Where the central directory's records end (the end record, or the ZIP64 end record).
    end_at: u64,
    cen_len: u64,
    cen_offset: u64,
}

/// `ZipFile`'s search for the end record (`ZipFile.Source.findEND`).
fn find_end(file: &mut File, len: u64) -> io::Result<Result<End, ZipProblem>> {
    if len == 0 {
        return Ok(Err(corrupt(
            "an empty file; Java's ZipFile says \"zip file is empty\": the transfer failed, \
             send the zip again",
        )));
    }
    let start = len.saturating_sub(END_SEARCH);
    let mut tail = vec![0u8; (len - start) as usize];
    if !read_exact_at(file, start, &mut tail)? {
        return Ok(Err(corrupt("the file could not be read to its end")));
    }
    if tail.len() >= END_LEN as usize {
        for i in (0..=tail.len() - END_LEN as usize).rev() {
            if u32_at(&tail, i) != END_SIG {
                continue;
            }
            let rec = &tail[i..i + END_LEN as usize];
            let end_at = start + i as u64;
            let cen_len = u64::from(u32_at(rec, 12));
            let cen_offset = u64::from(u32_at(rec, 16));
            let comment = u64::from(u16_at(rec, 20));
            if end_at + END_LEN + comment != len {
                // Bytes after the record (or a wrong comment length): the JDK still takes this
                // record when the central directory and first local header are where it says.
                let cen_at = end_at.checked_sub(cen_len);
                let loc_at = cen_at.and_then(|c| c.checked_sub(cen_offset));
                let found = |file: &mut File, at: Option<u64>, want: u32| -> io::Result<bool> {
                    let Some(at) = at else { return Ok(false) };
                    let mut sig = [0u8; 4];
                    Ok(read_exact_at(file, at, &mut sig)? && u32::from_le_bytes(sig) == want)
                };
                if !found(file, cen_at, CEN_SIG)? || !found(file, loc_at, LOC_SIG)? {
                    continue;
                }
            }
            if end_at + END_LEN + comment > len {
                // ZipFile reads the comment the record announces, past the end of the file.
                return Ok(Err(corrupt(zipfile_fails(
                    "java.io.EOFException (the zip comment runs past the end of the file)",
                ))));
            }
            let mut end = End {
                end_at,
                cen_len,
                cen_offset,
            };
            // A ZIP64 end record may always be present; its values are used when they agree.
            if end_at >= ZIP64_LOCATOR_LEN {
                let mut loc = [0u8; ZIP64_LOCATOR_LEN as usize];
                if read_exact_at(file, end_at - ZIP64_LOCATOR_LEN, &mut loc)?
                    && u32_at(&loc, 0) == ZIP64_LOCATOR_SIG
                {
                    let end64_at = u64_at(&loc, 8);
                    let mut end64 = [0u8; ZIP64_END_LEN];
                    if end64_at < len
                        && read_exact_at(file, end64_at, &mut end64)?
                        && u32_at(&end64, 0) == ZIP64_END_SIG
                    {
                        let cen_len64 = u64_at(&end64, 40);
                        let cen_offset64 = u64_at(&end64, 48);
                        let total64 = u64_at(&end64, 32);
                        let total = u64::from(u16_at(rec, 10));
                        let agrees = (cen_len64 == cen_len || cen_len == MAGIC32)
                            && (cen_offset64 == cen_offset || cen_offset == MAGIC32)
                            && (total64 == total || total == u64::from(MAGIC16));
                        if agrees {
                            end.cen_len = cen_len64;
                            end.cen_offset = cen_offset64;
                            end.end_at = end64_at;
                        }
                    }
                }
            }
            return Ok(Ok(end));
        }
    }
    Ok(Err(corrupt(
        "no end-of-central-directory record (Java's ZipFile: \"zip END header not found\"): \
         the file is not a zip or was truncated (an interrupted or ASCII-mode transfer); \
         recreate it and transfer it in binary mode",
    )))
}

/// Validates a central-directory entry's extra fields as JDK 17's `ZipFile` does.
fn check_extra(extra: &[u8], csize: u64, size: u64, offset: u64) -> Result<(), String> {
    let mut at = 0usize;
    while at + 4 <= extra.len() {
        let tag = u16_at(extra, at);
        let block = usize::from(u16_at(extra, at + 2));
        at += 4;
        if at + block > extra.len() {
            return Err(format!(
                "Invalid CEN header (invalid extra data field size for tag: 0x{tag:04x})"
            ));
        }
        if tag == 1 {
            let data = &extra[at..at + block];
            if block == 0 {
                if csize == MAGIC32 || size == MAGIC32 || offset == MAGIC32 {
                    return Err("Invalid CEN header (invalid zip64 extra data field size)".into());
                }
            } else {
                if !matches!(block, 8 | 16 | 24 | 28) {
                    return Err("Invalid CEN header (invalid zip64 extra data field size)".into());
                }
                let mut off = 0usize;
                for (value, what) in [
                    (size, "size"),
                    (csize, "compressed size"),
                    (offset, "LOC offset"),
                ] {
                    if value != MAGIC32 {
                        continue;
                    }
                    if off + 8 > data.len() {
                        return Err(format!("Invalid Zip64 extra block, missing {what}"));
                    }
                    if (u64_at(data, off) as i64) < 0 {
                        return Err(format!("Invalid zip64 extra block {what} value"));
                    }
                    off += 8;
                }
            }
        }
        at += block;
    }
    Ok(())
}

/// The 64-bit values a ZIP64 extra field gives for the fields that are 0xFFFFFFFF
/// (`ZipFile.checkZIP64`), in the order size, compressed size, offset.
fn zip64_values(extra: &[u8], size: &mut u64, csize: &mut u64, offset: &mut u64) {
    let mut at = 0usize;
    while at + 4 < extra.len() {
        let tag = u16_at(extra, at);
        let mut block = usize::from(u16_at(extra, at + 2));
        at += 4;
        if at + block > extra.len() {
            return;
        }
        if tag == 1 {
            for v in [size, csize, offset] {
                if *v == MAGIC32 {
                    if block < 8 {
                        return;
                    }
                    *v = u64_at(extra, at);
                    at += 8;
                    block -= 8;
                }
            }
            return;
        }
        at += block;
    }
}

/// Reads the local header at `at`: `None` when there is none (no signature, end of file).
/// Names are kept as bytes.
pub(crate) fn read_local(file: &mut File, at: u64) -> io::Result<Option<Local>> {
    let mut head = [0u8; LOC_LEN as usize];
    if !read_exact_at(file, at, &mut head)? || u32_at(&head, 0) != LOC_SIG {
        return Ok(None);
    }
    let flags = u16_at(&head, 6);
    let method = u16_at(&head, 8);
    let crc = u32_at(&head, 14);
    let mut csize = u64::from(u32_at(&head, 18));
    let mut size = u64::from(u32_at(&head, 22));
    let name_len = usize::from(u16_at(&head, 26));
    let extra_len = usize::from(u16_at(&head, 28));
    let mut rest = vec![0u8; name_len + extra_len];
    let complete = read_exact_at(file, at + LOC_LEN, &mut rest)?;
    if !complete {
        return Ok(None);
    }
    let extra = &rest[name_len..];
    if (csize == MAGIC32 || size == MAGIC32) && flags & FLAG_DESCRIPTOR == 0 {
        // ZipInputStream: a local ZIP64 field must hold both sizes.
        let mut i = 0;
        while i + 4 <= extra.len() {
            let tag = u16_at(extra, i);
            let block = usize::from(u16_at(extra, i + 2));
            if i + 4 + block > extra.len() {
                break;
            }
            if tag == 1 && block >= 16 {
                size = u64_at(extra, i + 4);
                csize = u64_at(extra, i + 12);
                break;
            }
            i += 4 + block;
        }
    }
    rest.truncate(name_len);
    Ok(Some(Local {
        raw_name: rest,
        flags,
        method,
        crc,
        csize,
        size,
        data_at: at + LOC_LEN + (name_len + extra_len) as u64,
    }))
}

/// Reads the zip's structure as `ZipFile` does. I/O errors are returned; everything about the
/// zip is a problem.
pub(crate) fn structure(file: &mut File) -> io::Result<ZipStructure> {
    let mut out = ZipStructure::default();
    let len = file.seek(SeekFrom::End(0))?;
    let end = match find_end(file, len)? {
        Ok(end) => end,
        Err(problem) => {
            out.problems.push(problem);
            return Ok(out);
        }
    };
    if end.cen_len > end.end_at {
        out.problems.push(corrupt(zipfile_fails(
            "invalid END header (bad central directory size)",
        )));
        return Ok(out);
    }
    let cen_at = end.end_at - end.cen_len;
    let Some(base) = cen_at.checked_sub(end.cen_offset) else {
        out.problems.push(corrupt(zipfile_fails(
            "invalid END header (bad central directory offset)",
        )));
        return Ok(out);
    };
    if end.cen_len > MAX_CEN_BYTES {
        out.problems.push(corrupt(format!(
            "a central directory of {} bytes; more than check reads ({MAX_CEN_BYTES})",
            end.cen_len
        )));
        return Ok(out);
    }
    let mut cen = vec![0u8; end.cen_len as usize];
    if !read_exact_at(file, cen_at, &mut cen)? {
        out.problems
            .push(corrupt(zipfile_fails("read CEN tables failed")));
        return Ok(out);
    }
    let mut pos = 0usize;
    while pos + CEN_LEN <= cen.len() {
        let rec = &cen[pos..];
        if u32_at(rec, 0) != CEN_SIG {
            out.problems
                .push(corrupt(zipfile_fails("invalid CEN header (bad signature)")));
            return Ok(out);
        }
        let flags = u16_at(rec, 8);
        let method = u16_at(rec, 10);
        let (dos_time, dos_date) = (u16_at(rec, 12), u16_at(rec, 14));
        let crc = u32_at(rec, 16);
        let mut csize = u64::from(u32_at(rec, 20));
        let mut size = u64::from(u32_at(rec, 24));
        let name_len = usize::from(u16_at(rec, 28));
        let extra_len = usize::from(u16_at(rec, 30));
        let comment_len = usize::from(u16_at(rec, 32));
        let mut offset = u64::from(u32_at(rec, 42));
        let header = CEN_LEN + name_len + extra_len + comment_len;
        if pos + header > cen.len() {
            out.problems.push(corrupt(zipfile_fails(
                "invalid CEN header (bad header size)",
            )));
            return Ok(out);
        }
        let raw_name = rec[CEN_LEN..CEN_LEN + name_len].to_vec();
        let name = String::from_utf8_lossy(&raw_name).into_owned();
        let extra = &rec[CEN_LEN + name_len..CEN_LEN + name_len + extra_len];
        let comment = &rec[CEN_LEN + name_len + extra_len..header];
        if flags & FLAG_ENCRYPTED != 0 {
            out.problems.push(ZipProblem::error(
                codes::ZIP_ENCRYPTED,
                Some(&name),
                "the entry is encrypted (Java's ZipFile: \"invalid CEN header (encrypted \
                 entry)\"); Alma cannot read it: zip without a password",
            ));
            return Ok(out);
        }
        if method != STORED && method != DEFLATED {
            out.problems.push(ZipProblem::error(
                codes::ZIP_METHOD,
                Some(&name),
                format!(
                    "compression method {method} ({}); Java's ZipFile: \"invalid CEN header \
                     (bad compression method: {method})\". Alma's Java loader reads only \
                     deflate (8) and stored (0): re-zip with standard deflate (e.g. `zip -Z \
                     deflate`)",
                    method_name(method)
                ),
            ));
            return Ok(out);
        }
        if extra_len > 0
            && let Err(java) = check_extra(extra, csize, size, offset)
        {
            out.problems.push(ZipProblem::error(
                codes::ZIP_CORRUPT,
                Some(&name),
                zipfile_fails(&java),
            ));
            return Ok(out);
        }
        if std::str::from_utf8(&raw_name).is_err() || std::str::from_utf8(comment).is_err() {
            out.problems.push(ZipProblem::error(
                codes::ZIP_NAME,
                Some(&name),
                "the entry's name (or comment) is not UTF-8 (Java's ZipFile: \"invalid CEN \
                 header (bad entry name)\"); Java cannot open the zip: name the files in \
                 ASCII, or zip with a tool that writes UTF-8 names",
            ));
            return Ok(out);
        }
        zip64_values(extra, &mut size, &mut csize, &mut offset);
        out.entries.push(CenEntry {
            name,
            raw_name,
            method,
            crc,
            csize,
            size,
            dos_time,
            dos_date,
            local_at: base.saturating_add(offset),
            local: None,
        });
        pos += header;
    }
    if pos != cen.len() {
        out.problems.push(corrupt(zipfile_fails(
            "invalid CEN header (bad header size)",
        )));
        return Ok(out);
    }
    for e in &mut out.entries {
        e.local = read_local(file, e.local_at)?;
    }
    out.readable = true;
    Ok(out)
}

/// Where and how entry data is read: its first byte, the method, and (stored) how many bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ReadingKey {
    pub at: u64,
    pub method: u16,
    /// Stored: the bytes to read; deflate: `u64::MAX` (to the end of the stream).
    pub stored_len: u64,
}

/// How a reading ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadEnd {
    /// Not read to its end (yet).
    Open,
    /// The deflate stream ended, or all stored bytes were read.
    Complete,
    /// The file ended first.
    Truncated,
    /// The deflate data is invalid.
    Invalid(String),
    /// A byte limit stopped it.
    Limited,
}

/// What reading some entry data gave: compressed bytes used, bytes produced, their CRC.
#[derive(Debug, Clone)]
pub(crate) struct ReadStats {
    pub consumed: u64,
    pub produced: u64,
    pub crc: u32,
    pub end: ReadEnd,
}

impl ReadStats {
    /// A cell for a reading's progress, before it starts.
    pub(crate) fn cell() -> Arc<Mutex<ReadStats>> {
        Arc::new(Mutex::new(ReadStats {
            consumed: 0,
            produced: 0,
            crc: 0,
            end: ReadEnd::Open,
        }))
    }
}

/// Entry data read from a file of its own: deflate (raw) or stored, with counts and CRC.
pub(crate) struct Reading {
    file: File,
    key: ReadingKey,
    inflate: flate2::Decompress,
    input: Vec<u8>,
    in_at: usize,
    in_len: usize,
    eof: bool,
    hasher: crc32fast::Hasher,
    stats: Arc<Mutex<ReadStats>>,
    consumed: u64,
    produced: u64,
    done: bool,
}

impl Reading {
    /// Opens `path` again (an own file offset) and reads the data `key` describes;
    /// progress goes to `stats`.
    pub fn open(path: &Path, key: ReadingKey, stats: Arc<Mutex<ReadStats>>) -> io::Result<Self> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(key.at))?;
        Ok(Reading {
            file,
            key,
            inflate: flate2::Decompress::new(false),
            input: vec![0; 64 * 1024],
            in_at: 0,
            in_len: 0,
            eof: false,
            hasher: crc32fast::Hasher::new(),
            stats,
            consumed: 0,
            produced: 0,
            done: false,
        })
    }

    fn finish(&mut self, end: ReadEnd) {
        self.done = true;
        self.publish(end);
    }

    fn publish(&self, end: ReadEnd) {
        if let Ok(mut s) = self.stats.lock() {
            s.consumed = self.consumed;
            s.produced = self.produced;
            s.crc = self.hasher.clone().finalize();
            s.end = end;
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.in_at < self.in_len || self.eof {
            return Ok(());
        }
        let n = loop {
            match self.file.read(&mut self.input) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        self.in_at = 0;
        self.in_len = n;
        self.eof = n == 0;
        Ok(())
    }

    fn read_stored(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let left = self.key.stored_len - self.produced;
        if left == 0 {
            self.finish(ReadEnd::Complete);
            return Ok(0);
        }
        let want = out.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = loop {
            match self.file.read(&mut out[..want]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            self.finish(ReadEnd::Truncated);
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the entry's data ends early (Java: \"unexpected EOF\")",
            ));
        }
        self.hasher.update(&out[..n]);
        self.consumed += n as u64;
        self.produced += n as u64;
        if self.produced == self.key.stored_len {
            self.finish(ReadEnd::Complete);
        } else {
            self.publish(ReadEnd::Open);
        }
        Ok(n)
    }

    fn read_deflated(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            self.fill()?;
            if self.eof {
                self.finish(ReadEnd::Truncated);
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the entry's deflate data ends early (Java: \"Unexpected end of ZLIB input \
                     stream\")",
                ));
            }
            let (in_before, out_before) = (self.inflate.total_in(), self.inflate.total_out());
            let status = self.inflate.decompress(
                &self.input[self.in_at..self.in_len],
                out,
                flate2::FlushDecompress::None,
            );
            let used = (self.inflate.total_in() - in_before) as usize;
            let made = (self.inflate.total_out() - out_before) as usize;
            self.in_at += used;
            self.consumed += used as u64;
            self.produced += made as u64;
            self.hasher.update(&out[..made]);
            match status {
                Ok(flate2::Status::StreamEnd) => {
                    self.finish(ReadEnd::Complete);
                    return Ok(made);
                }
                Ok(_) if made > 0 => {
                    self.publish(ReadEnd::Open);
                    return Ok(made);
                }
                Ok(_) if used == 0 && self.in_at < self.in_len => {
                    // No progress with input left: the stream cannot go on.
                    let message = "invalid deflate data".to_owned();
                    self.finish(ReadEnd::Invalid(message.clone()));
                    return Err(io::Error::new(io::ErrorKind::InvalidData, message));
                }
                Ok(_) => {}
                Err(e) => {
                    let message = format!("invalid deflate data ({e})");
                    self.finish(ReadEnd::Invalid(message.clone()));
                    return Err(io::Error::new(io::ErrorKind::InvalidData, message));
                }
            }
        }
    }
}

impl Read for Reading {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.done || out.is_empty() {
            return Ok(0);
        }
        match self.key.method {
            STORED => self.read_stored(out),
            _ => self.read_deflated(out),
        }
    }
}

/// Readings by where they read, with their results: each place is read once.
#[derive(Debug, Default)]
pub(crate) struct Readings {
    pub by_key: HashMap<ReadingKey, Arc<Mutex<ReadStats>>>,
}

impl Readings {
    /// The stats cell for `key`, and whether it is new.
    pub fn cell(&mut self, key: ReadingKey) -> (Arc<Mutex<ReadStats>>, bool) {
        let mut new = false;
        let cell = self
            .by_key
            .entry(key)
            .or_insert_with(|| {
                new = true;
                ReadStats::cell()
            })
            .clone();
        (cell, new)
    }

    pub fn stats(&self, key: &ReadingKey) -> Option<ReadStats> {
        self.by_key
            .get(key)
            .and_then(|c| c.lock().ok().map(|s| s.clone()))
    }
}

/// A zip as Java's `ZipFile` opens it, for a caller that only wants its entries: the
/// structure, refused at its first error (`Err` says why).
pub(crate) fn open_entries(file: &mut File) -> io::Result<Result<Vec<CenEntry>, String>> {
    let st = structure(file)?;
    if let Some(p) = st.problems.iter().find(|p| p.severity == Severity::Error) {
        return Ok(Err(p.message.clone()));
    }
    if !st.readable {
        return Ok(Err("Java's ZipFile cannot open it".into()));
    }
    Ok(Ok(st.entries))
}

/// Every `.xml` entry of the zip at `path` (the entries Alma reads as user files), read as
/// `ZipFile` reads it and handed to `each` in central-directory order; each is read to its
/// end and must match its CRC-32 and size. `zip_error` makes the error for a zip or an
/// entry that cannot be read so.
pub(crate) fn read_xml_entries<E>(
    path: &Path,
    mut each: impl FnMut(&CenEntry, &mut dyn Read) -> Result<(), E>,
    zip_error: impl Fn(String) -> E,
) -> Result<(), E> {
    let io_error = |e: io::Error| zip_error(e.to_string());
    let mut file = File::open(path).map_err(io_error)?;
    let entries = open_entries(&mut file)
        .map_err(io_error)?
        .map_err(&zip_error)?;
    for entry in entries.iter().filter(|e| e.is_xml()) {
        let Some(key) = entry.reading() else {
            return Err(zip_error(format!("entry {}: no local header", entry.name)));
        };
        let stats = ReadStats::cell();
        let mut reading = Reading::open(path, key, Arc::clone(&stats)).map_err(io_error)?;
        each(entry, &mut reading)?;
        io::copy(&mut reading, &mut io::sink()).map_err(io_error)?;
        let read = stats.lock().map(|s| s.clone()).ok();
        if !read.is_some_and(|s| {
            s.end == ReadEnd::Complete && s.crc == entry.crc && s.produced == entry.size
        }) {
            return Err(zip_error(format!(
                "entry {}: its data does not match its CRC-32 and size",
                entry.name
            )));
        }
    }
    Ok(())
}

/// Reads `key`'s data to its end into nothing (for entries no XML check reads), within
/// `budget` bytes of output.
pub(crate) fn drain(
    path: &Path,
    key: ReadingKey,
    cell: Arc<Mutex<ReadStats>>,
    budget: u64,
) -> io::Result<ReadStats> {
    let mut reading = Reading::open(path, key, Arc::clone(&cell))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        match reading.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                if total > budget {
                    reading.finish(ReadEnd::Limited);
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData
                ) =>
            {
                break;
            }
            Err(e) => return Err(e),
        }
    }
    let stats = cell.lock().map(|s| s.clone()).unwrap_or(ReadStats {
        consumed: 0,
        produced: 0,
        crc: 0,
        end: ReadEnd::Open,
    });
    Ok(stats)
}

/// One entry as `ZipInputStream` reads it.
#[derive(Debug, Clone)]
pub(crate) struct StreamEntry {
    pub local: Local,
    pub key: ReadingKey,
}

/// Why `ZipInputStream` stops with an exception at an entry.
#[derive(Debug, Clone)]
pub(crate) struct StreamFailure {
    pub code: &'static str,
    pub entry: String,
    pub java: String,
}

/// `ZipInputStream`'s walk: its entries in order and, when it throws, why. `stats` gives a
/// reading's result (reading it when nobody has).
pub(crate) fn stream_walk(
    file: &mut File,
    mut stats: impl FnMut(ReadingKey) -> io::Result<ReadStats>,
) -> io::Result<(Vec<StreamEntry>, Option<StreamFailure>)> {
    let mut entries = Vec::new();
    let mut at = 0u64;
    // Each header starts after the previous one: the walk ends.
    while let Some(local) = read_local(file, at)? {
        let name = String::from_utf8_lossy(&local.raw_name).into_owned();
        let fail = |code, java: String| StreamFailure {
            code,
            entry: name.clone(),
            java,
        };
        if std::str::from_utf8(&local.raw_name).is_err() {
            return Ok((
                entries,
                Some(fail(
                    codes::ZIP_NAME,
                    "java.lang.IllegalArgumentException: MALFORMED".into(),
                )),
            ));
        }
        if local.flags & FLAG_ENCRYPTED != 0 {
            return Ok((
                entries,
                Some(fail(
                    codes::ZIP_ENCRYPTED,
                    "encrypted ZIP entry not supported".into(),
                )),
            ));
        }
        let descriptor = local.flags & FLAG_DESCRIPTOR != 0;
        if descriptor && local.method != DEFLATED {
            return Ok((
                entries,
                Some(fail(
                    codes::ZIP_DESCRIPTOR,
                    "only DEFLATED entries can have EXT descriptor".into(),
                )),
            ));
        }
        if local.method != STORED && local.method != DEFLATED {
            return Ok((
                entries,
                Some(fail(codes::ZIP_METHOD, "invalid compression method".into())),
            ));
        }
        let key = ReadingKey {
            at: local.data_at,
            method: local.method,
            stored_len: if local.method == STORED {
                local.size
            } else {
                u64::MAX
            },
        };
        let s = stats(key)?;
        match &s.end {
            ReadEnd::Complete => {}
            ReadEnd::Truncated => {
                let java = if local.method == STORED {
                    "unexpected EOF"
                } else {
                    "Unexpected end of ZLIB input stream"
                };
                return Ok((entries, Some(fail(codes::ZIP_CORRUPT, java.into()))));
            }
            ReadEnd::Invalid(message) => {
                return Ok((entries, Some(fail(codes::ZIP_CORRUPT, message.clone()))));
            }
            ReadEnd::Limited | ReadEnd::Open => {
                // Not read to its end: nothing more can be said about this or later entries.
                entries.push(StreamEntry { local, key });
                return Ok((entries, None));
            }
        }
        let (mut crc, mut csize, mut size) = (local.crc, local.csize, local.size);
        let mut next = local.data_at + s.consumed;
        if descriptor {
            let mut d = [0u8; 16];
            if !read_exact_at(file, next, &mut d)? {
                return Ok((
                    entries,
                    Some(fail(
                        codes::ZIP_DESCRIPTOR,
                        "java.io.EOFException (no data descriptor)".into(),
                    )),
                ));
            }
            if u32_at(&d, 0) == EXT_SIG {
                crc = u32_at(&d, 4);
                csize = u64::from(u32_at(&d, 8));
                size = u64::from(u32_at(&d, 12));
                next += 16;
            } else {
                crc = u32_at(&d, 0);
                csize = u64::from(u32_at(&d, 4));
                size = u64::from(u32_at(&d, 8));
                next += 12;
            }
        }
        if local.method == DEFLATED {
            if size != s.produced {
                return Ok((
                    entries,
                    Some(fail(
                        codes::ZIP_SIZE,
                        format!(
                            "invalid entry size (expected {size} but got {} bytes)",
                            s.produced
                        ),
                    )),
                ));
            }
            if csize != s.consumed {
                return Ok((
                    entries,
                    Some(fail(
                        codes::ZIP_SIZE,
                        format!(
                            "invalid entry compressed size (expected {csize} but got {} bytes)",
                            s.consumed
                        ),
                    )),
                ));
            }
        }
        if (local.method == DEFLATED || size > 0) && crc != s.crc {
            return Ok((
                entries,
                Some(fail(
                    codes::ZIP_CRC,
                    format!(
                        "invalid entry CRC (expected 0x{crc:x} but got 0x{:x})",
                        s.crc
                    ),
                )),
            ));
        }
        entries.push(StreamEntry { local, key });
        if next <= at {
            break;
        }
        at = next;
    }
    Ok((entries, None))
}

fn method_name(method: u16) -> &'static str {
    match method {
        1..=6 => "shrink/reduce/implode",
        9 => "deflate64",
        12 => "bzip2",
        14 => "lzma",
        93 => "zstd",
        95 => "xz",
        99 => "AES-encrypted",
        _ => "unknown",
    }
}

/// Whether `ZipFile` inflates the deflate data at `at` from `csize` bytes to `want` (CRC,
/// length): when the input runs out, its inflater stream feeds one extra zero byte before it
/// gives up ("Unexpected end of ZLIB input stream"), so a stream one byte longer than
/// `csize` may still end.
pub(crate) fn zipfile_inflates(path: &Path, at: u64, csize: u64, want: (u32, u64)) -> bool {
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let Ok(len) = usize::try_from(csize) else {
        return false;
    };
    let mut input = vec![0u8; len + 1];
    match read_at(&mut file, at, &mut input[..len]) {
        Ok(n) if n == len => {}
        _ => return false,
    }
    let mut inflate = flate2::Decompress::new(false);
    let mut hasher = crc32fast::Hasher::new();
    let mut out = vec![0u8; 64 * 1024];
    let mut produced = 0u64;
    let mut at_in = 0usize;
    loop {
        let (before_in, before_out) = (inflate.total_in(), inflate.total_out());
        let status = inflate.decompress(&input[at_in..], &mut out, flate2::FlushDecompress::None);
        at_in += (inflate.total_in() - before_in) as usize;
        let made = (inflate.total_out() - before_out) as usize;
        hasher.update(&out[..made]);
        produced += made as u64;
        match status {
            Ok(flate2::Status::StreamEnd) => return (hasher.finalize(), produced) == want,
            Ok(_) if made == 0 && at_in >= input.len() => return false,
            Ok(_) if produced > want.1 => return false,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}
