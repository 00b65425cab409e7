//! The zip's structure as the JDK's `java.util.zip.ZipFile` reads it: the end-of-central-
//! directory record, the central directory, each entry's local header, compression method
//! and flags. Read with bounded seeks; entry names are only compared, never used as paths.

use std::io::{self, Read, Seek, SeekFrom};

use alma_user_model::Severity;

use super::codes;

const EOCD_SIG: u32 = 0x0605_4b50;
const CEN_SIG: u32 = 0x0201_4b50;
const LOC_SIG: u32 = 0x0403_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const EOCD_LEN: u64 = 22;
/// The EOCD sits within the last 22 + 65535 (maximum comment) bytes.
const EOCD_SEARCH: u64 = EOCD_LEN + 0xFFFF;
const STORED: u16 = 0;
const DEFLATED: u16 = 8;
const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;

/// One central-directory entry, as far as the check needs it.
#[derive(Debug, Clone)]
pub(crate) struct EntryInfo {
    /// The name as stored (lossy UTF-8): shown to people, never used as a path.
    pub name: String,
}

impl EntryInfo {
    /// True for an entry Alma reads as a user file.
    pub fn is_xml(&self) -> bool {
        !self.name.ends_with('/') && self.name.to_ascii_lowercase().ends_with(".xml")
    }
}

/// A structural problem: code, severity, the entry it concerns and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZipProblem {
    pub code: &'static str,
    pub severity: Severity,
    pub entry: Option<String>,
    pub message: String,
}

/// What the scan found: the entries (in central-directory order) and the problems.
#[derive(Debug, Default)]
pub(crate) struct ZipScan {
    pub entries: Vec<EntryInfo>,
    pub problems: Vec<ZipProblem>,
    /// False when the central directory cannot be trusted; entries are then not read.
    pub readable: bool,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn corrupt(message: impl Into<String>) -> ZipProblem {
    ZipProblem {
        code: codes::ZIP_CORRUPT,
        severity: Severity::Error,
        entry: None,
        message: message.into(),
    }
}

/// Scans the zip's structure. I/O errors are returned; structural problems are findings.
pub(crate) fn scan<R: Read + Seek>(file: &mut R) -> io::Result<ZipScan> {
    let mut out = ZipScan::default();
    let len = file.seek(SeekFrom::End(0))?;
    if len < EOCD_LEN {
        out.problems.push(corrupt(format!(
            "only {len} bytes: not a zip or truncated (an interrupted or ASCII-mode transfer); \
             recreate the zip and transfer it in binary mode"
        )));
        return Ok(out);
    }
    let tail_len = len.min(EOCD_SEARCH);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; usize::try_from(tail_len).unwrap_or(0)];
    file.read_exact(&mut tail)?;
    let Some(eocd_at) = (0..=tail.len() - EOCD_LEN as usize)
        .rev()
        .find(|&i| u32_at(&tail, i) == EOCD_SIG)
    else {
        out.problems.push(corrupt(
            "no end-of-central-directory record: the file is not a zip or was truncated \
             (an interrupted or ASCII-mode transfer); recreate it and transfer in binary mode",
        ));
        return Ok(out);
    };
    let eocd = &tail[eocd_at..];
    let eocd_pos = len - tail_len + eocd_at as u64;
    let entries = u64::from(u16_at(eocd, 10));
    let cd_size = u64::from(u32_at(eocd, 12));
    let cd_offset = u64::from(u32_at(eocd, 16));
    let comment_len = u64::from(u16_at(eocd, 20));
    if eocd_pos + EOCD_LEN + comment_len != len {
        out.problems.push(corrupt(format!(
            "the zip comment length does not match the file size ({} bytes of trailing data): \
             the file was damaged in transfer; recreate it and transfer in binary mode",
            len.abs_diff(eocd_pos + EOCD_LEN + comment_len)
        )));
        return Ok(out);
    }
    let zip64 = eocd_pos >= 20 && {
        file.seek(SeekFrom::Start(eocd_pos - 20))?;
        let mut sig = [0u8; 4];
        file.read_exact(&mut sig)?;
        u32::from_le_bytes(sig) == ZIP64_LOCATOR_SIG
    };
    if zip64 {
        // ZIP64 (Java 7+ reads it): trust the zip library for offsets and read entries.
        out.readable = true;
        return Ok(out);
    }
    if cd_offset + cd_size != eocd_pos {
        out.problems.push(corrupt(format!(
            "the central directory is declared at bytes {cd_offset}..{} but the end record is at \
             byte {eocd_pos}: the file was truncated, has data prepended, or was damaged in \
             an ASCII-mode transfer; recreate it and transfer in binary mode",
            cd_offset + cd_size
        )));
        return Ok(out);
    }
    file.seek(SeekFrom::Start(cd_offset))?;
    let mut cd = io::BufReader::new(Read::take(&mut *file, cd_size));
    let mut header = [0u8; 46];
    let mut locals = Vec::new();
    for index in 0..entries {
        if cd.read_exact(&mut header).is_err() || u32_at(&header, 0) != CEN_SIG {
            out.problems.push(corrupt(format!(
                "central directory entry {} of {entries} is damaged; recreate the zip",
                index + 1
            )));
            return Ok(out);
        }
        let flags = u16_at(&header, 8);
        let method = u16_at(&header, 10);
        let name_len = usize::from(u16_at(&header, 28));
        let skip = u64::from(u16_at(&header, 30)) + u64::from(u16_at(&header, 32));
        let local_offset = u64::from(u32_at(&header, 42));
        let mut name = vec![0u8; name_len];
        cd.read_exact(&mut name)?;
        io::copy(&mut Read::take(&mut cd, skip), &mut io::sink())?;
        let name = String::from_utf8_lossy(&name).into_owned();
        let problem = |code, message: String| ZipProblem {
            code,
            severity: Severity::Error,
            entry: Some(name.clone()),
            message,
        };
        if flags & FLAG_ENCRYPTED != 0 {
            out.problems.push(problem(
                codes::ZIP_ENCRYPTED,
                "the entry is encrypted; Alma cannot read it: zip without a password".into(),
            ));
        }
        if method != STORED && method != DEFLATED {
            out.problems.push(problem(
                codes::ZIP_METHOD,
                format!(
                    "compression method {method} ({}); Alma's Java loader reads only deflate \
                     (8) and stored (0): re-zip with standard deflate (e.g. `zip -Z deflate`)",
                    method_name(method)
                ),
            ));
        }
        if method == STORED && flags & FLAG_DATA_DESCRIPTOR != 0 {
            out.problems.push(problem(
                codes::ZIP_DESCRIPTOR,
                "a stored (uncompressed) entry with a data descriptor: Java's ZipInputStream \
                 refuses it (\"only DEFLATED entries can have EXT descriptor\"); re-zip with \
                 deflate or with a seekable zip writer"
                    .into(),
            ));
        }
        if local_offset >= cd_offset {
            out.problems.push(problem(
                codes::ZIP_CORRUPT,
                format!(
                    "the entry's local header offset {local_offset} points past the data; \
                     recreate the zip"
                ),
            ));
            return Ok(out);
        }
        locals.push((local_offset, name.clone()));
        out.entries.push(EntryInfo { name });
    }
    drop(cd);
    for (offset, name) in locals {
        file.seek(SeekFrom::Start(offset))?;
        let mut sig = [0u8; 4];
        if file.read_exact(&mut sig).is_err() || u32::from_le_bytes(sig) != LOC_SIG {
            out.problems.push(ZipProblem {
                code: codes::ZIP_CORRUPT,
                severity: Severity::Error,
                entry: Some(name),
                message: format!(
                    "no local file header at byte {offset}: the zip is damaged (often an \
                     ASCII-mode transfer); recreate it and transfer in binary mode"
                ),
            });
            return Ok(out);
        }
    }
    let xml = out.entries.iter().filter(|e| e.is_xml()).count();
    if xml == 0 {
        out.problems.push(ZipProblem {
            code: codes::ZIP_NO_XML,
            severity: Severity::Error,
            entry: None,
            message: "the zip holds no .xml entry; Alma finds no users in it: put the user \
                      XML file(s), named *.xml, in the zip"
                .into(),
        });
    }
    if xml > super::MAX_XML_PER_ZIP {
        out.problems.push(ZipProblem {
            code: codes::ZIP_TOO_MANY_XML,
            severity: Severity::Error,
            entry: None,
            message: format!(
                "{xml} XML files in one zip; Alma processes at most {}: split them over \
                 several zips",
                super::MAX_XML_PER_ZIP
            ),
        });
    }
    for entry in out
        .entries
        .iter()
        .filter(|e| !e.is_xml() && !e.name.ends_with('/'))
    {
        out.problems.push(ZipProblem {
            code: codes::ZIP_OTHER_ENTRY,
            severity: Severity::Warning,
            entry: Some(entry.name.clone()),
            message: "not an .xml entry; Alma ignores it: name user files *.xml".into(),
        });
    }
    out.readable = true;
    Ok(out)
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
