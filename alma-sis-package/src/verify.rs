//! Reading written zips back: size and sha256, the central directory against the manifest and
//! against every local header, and every entry inflated with its CRC-32, size, prolog, closing
//! tag and `<user>` start tags checked. No XML parser runs: the bytes come from our own
//! writer, and what could change them after writing (the disk, a bug in the container) shows
//! in the hash, the CRC or the structure.
//!
//! Entry names are compared with the manifest as strings; they are never used as paths.

use std::fs::File;
use std::io::{self, BufReader};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::{Duration, Instant};

use alma_user_model::MatchId;
use flate2::{Decompress, FlushDecompress, Status};
use memchr::memmem;

use crate::check::zipread;
use crate::config::check_file_name;
use crate::context::{ClosedZip, Context};
use crate::error::VerifyError;
use crate::manifest::{Manifest, ManifestEntry, ManifestFile};
use crate::sha256_file;
use crate::zip32::{self, DosTime, LOCAL_HEADER_LEN};

/// An entry's index in the zip and why it failed.
type EntryFailure = Box<(usize, VerifyError)>;

/// Threads that check a zip's entries in [`verify`].
const VERIFY_THREADS: usize = 2;
/// Compressed bytes read at a time.
const READ_BYTES: usize = 64 * 1024;
/// Inflated bytes handled at a time.
const INFLATE_BYTES: usize = 256 * 1024;
/// The longest prolog (declaration, comment, `<users>`) we look for.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// What every XML file starts with.
const DECLARATION: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
/// The root's start tag, after the declaration and the optional comment.
const ROOT: &[u8] = b"<users>\n";
/// What every XML file ends with.
pub(crate) const CLOSING: &[u8] = b"</users>\n";

/// Checks every zip the manifest names in `dir`: size, sha256, entries (name, method, sizes,
/// CRC, in order, in the central directory and in each local header) and every entry inflated:
/// CRC-32 and size, the prolog and closing tag, and its count of `<user>` elements.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let manifest: alma_sis_package::Manifest =
///     serde_json::from_slice(&std::fs::read("out/DEMO_patrons_20261123040000_manifest.json")?)?;
/// alma_sis_package::verify(std::path::Path::new("out"), &manifest)?;
/// # Ok(())
/// # }
/// ```
pub fn verify(dir: &Path, manifest: &Manifest) -> Result<(), VerifyError> {
    let mut users = 0;
    for file in &manifest.files {
        check_file_name(&file.name).map_err(|reason| VerifyError::BadName {
            name: file.name.clone(),
            reason,
        })?;
        verify_file(&dir.join(&file.name), file)?;
        users += file.users;
    }
    if users != manifest.users {
        return Err(VerifyError::Total {
            what: "user count".into(),
            expected: manifest.users,
            found: users,
        });
    }
    Ok(())
}

/// The primary ids of the users in a zip, entry by entry, in order: who is in a zip that did
/// not reach the destination. Entry names are never used as paths.
pub fn primary_ids(path: &Path) -> Result<Vec<String>, VerifyError> {
    match_values(path, &MatchId::PrimaryId)
}

/// The match values (under `match_id`; the primary id of a user without one) of the users in
/// a zip, entry by entry, in order: whom the run state knows in a zip that did not reach the
/// destination. Entry names are never used as paths.
pub fn match_values(path: &Path, match_id: &MatchId) -> Result<Vec<String>, VerifyError> {
    let mut ids = Vec::new();
    zipread::read_xml_entries(
        path,
        |entry, data| {
            for read in alma_user_model::UserReader::new(BufReader::new(data)) {
                let user = read
                    .map_err(|e| VerifyError::Xml {
                        path: path.to_owned(),
                        entry: entry.name.clone(),
                        position: 0,
                        message: e.to_string(),
                    })?
                    .user;
                ids.push(match match_id.value(&user) {
                    Some(value) => value.to_owned(),
                    None => user.primary_id,
                });
            }
            Ok(())
        },
        |reason| VerifyError::Unreadable {
            path: path.to_owned(),
            reason,
        },
    )?;
    Ok(ids)
}

/// Checks one zip at `path` against its manifest record.
fn verify_file(path: &Path, expected: &ManifestFile) -> Result<(), VerifyError> {
    let io_err = |source| VerifyError::Io {
        path: path.to_owned(),
        source,
    };
    let (size, sha256) = sha256_file(path).map_err(io_err)?;
    if size != expected.size {
        return Err(VerifyError::Size {
            path: path.to_owned(),
            expected: expected.size,
            found: size,
        });
    }
    if sha256 != expected.sha256 {
        return Err(VerifyError::Sha256 {
            path: path.to_owned(),
            expected: expected.sha256.clone(),
            found: sha256,
        });
    }
    let file = File::open(path).map_err(io_err)?;
    let directory = read_directory(path, &file, expected)?;
    // Entries are checked on two threads; each stops at its first bad entry, so the lowest
    // failing index is the same error a single pass would give.
    let threads = VERIFY_THREADS.min(expected.entries.len()).max(1);
    let results: Vec<Result<(), EntryFailure>> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|first| {
                let (file, directory) = (&file, &directory);
                s.spawn(move || {
                    let mut inflater = Inflater::new();
                    for (index, want) in expected
                        .entries
                        .iter()
                        .enumerate()
                        .skip(first)
                        .step_by(threads)
                    {
                        let (offset, dos) = directory[index];
                        inflater
                            .check_entry(path, file, offset, want, dos)
                            .map_err(|e| Box::new((index, e)))?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let first_error = results
        .into_iter()
        .filter_map(Result::err)
        .min_by_key(|failure| failure.0);
    if let Some(failure) = first_error {
        return Err(failure.1);
    }
    let users: u64 = expected.entries.iter().map(|e| e.users).sum();
    if users != expected.users {
        return Err(VerifyError::Total {
            what: format!("user count of {}", expected.name),
            expected: expected.users,
            found: users,
        });
    }
    Ok(())
}

/// Reads the central directory as Java's `ZipFile` does (the reader `check` uses, independent
/// of our writer) and checks it against the manifest; returns each entry's local header
/// offset and DOS time.
fn read_directory(
    path: &Path,
    file: &File,
    expected: &ManifestFile,
) -> Result<Vec<(u64, DosTime)>, VerifyError> {
    let io_error = |source| VerifyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut reader = file.try_clone().map_err(io_error)?;
    let entries = zipread::open_entries(&mut reader)
        .map_err(io_error)?
        .map_err(|reason| VerifyError::Unreadable {
            path: path.to_owned(),
            reason,
        })?;
    if entries.len() != expected.entries.len() {
        return Err(VerifyError::EntryCount {
            path: path.to_owned(),
            expected: expected.entries.len(),
            found: entries.len(),
        });
    }
    let mut directory = Vec::with_capacity(entries.len());
    for (entry, want) in entries.iter().zip(&expected.entries) {
        let mismatch = |field: &'static str, expected: String, found: String| VerifyError::Entry {
            path: path.to_owned(),
            entry: want.name.clone(),
            field,
            expected,
            found,
        };
        if entry.raw_name != want.name.as_bytes() {
            return Err(mismatch("name", want.name.clone(), entry.name.clone()));
        }
        if entry.method != zip32::METHOD_DEFLATE {
            let found = match entry.method {
                0 => "Stored".to_owned(),
                other => format!("method {other}"),
            };
            return Err(mismatch("method", "Deflated".into(), found));
        }
        let fields = [
            ("size", want.size, entry.size),
            ("compressed size", want.compressed_size, entry.csize),
            ("crc32", u64::from(want.crc32), u64::from(entry.crc)),
        ];
        for (field, expected, found) in fields {
            if expected != found {
                return Err(mismatch(field, expected.to_string(), found.to_string()));
            }
        }
        let dos = DosTime {
            time: entry.dos_time,
            date: entry.dos_date,
        };
        directory.push((entry.local_at, dos));
    }
    Ok(directory)
}

/// Inflates entries with reused buffers.
pub(crate) struct Inflater {
    decompress: Decompress,
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Inflater {
    pub(crate) fn new() -> Inflater {
        Inflater {
            decompress: Decompress::new(false),
            input: vec![0; READ_BYTES],
            output: vec![0; INFLATE_BYTES],
        }
    }

    /// Checks the entry whose local header is at `offset` in `file`: the header against
    /// `want` and `dos`, then the data inflated: CRC-32, size, prolog, closing tag, users.
    pub(crate) fn check_entry(
        &mut self,
        path: &Path,
        file: &File,
        offset: u64,
        want: &ManifestEntry,
        dos: DosTime,
    ) -> Result<(), VerifyError> {
        let data_at = check_local_header(path, file, offset, want, dos)?;
        let corrupt = |message: String| VerifyError::Data {
            path: path.to_owned(),
            entry: want.name.clone(),
            message,
        };
        let read_err = |source: io::Error| match source.kind() {
            io::ErrorKind::UnexpectedEof => corrupt("the file ends inside the entry".into()),
            _ => VerifyError::Io {
                path: path.to_owned(),
                source,
            },
        };
        self.decompress.reset(false);
        let mut crc = crc32fast::Hasher::new();
        let mut scan = UserScan::default();
        let mut left = want.compressed_size;
        let mut at = data_at;
        let mut ended = false;
        while !ended {
            let n = usize::try_from(left.min(READ_BYTES as u64)).unwrap_or(READ_BYTES);
            file.read_exact_at(&mut self.input[..n], at)
                .map_err(read_err)?;
            at += n as u64;
            left -= n as u64;
            let mut input = &self.input[..n];
            loop {
                let (before_in, before_out) =
                    (self.decompress.total_in(), self.decompress.total_out());
                let status = self
                    .decompress
                    .decompress(input, &mut self.output, FlushDecompress::None)
                    .map_err(|e| corrupt(format!("does not inflate: {e}")))?;
                let taken = usize::try_from(self.decompress.total_in() - before_in).unwrap_or(0);
                let made = usize::try_from(self.decompress.total_out() - before_out).unwrap_or(0);
                input = &input[taken..];
                crc.update(&self.output[..made]);
                scan.feed(&self.output[..made]);
                if scan.inflated > want.size {
                    return Err(corrupt(format!(
                        "inflates to more than its size of {} bytes",
                        want.size
                    )));
                }
                if status == Status::StreamEnd {
                    ended = true;
                    break;
                }
                if made == 0 && input.is_empty() {
                    break;
                }
                if made == 0 && taken == 0 {
                    return Err(corrupt("the deflate stream does not progress".into()));
                }
            }
            if ended && (!input.is_empty() || left > 0) {
                return Err(corrupt(
                    "the deflate stream ends before its compressed size".into(),
                ));
            }
            if !ended && left == 0 {
                return Err(corrupt(
                    "the deflate stream is cut off at its compressed size".into(),
                ));
            }
        }
        if scan.inflated != want.size {
            return Err(corrupt(format!(
                "inflates to {} bytes, the header says {}",
                scan.inflated, want.size
            )));
        }
        let found_crc = crc.finalize();
        if found_crc != want.crc32 {
            return Err(corrupt(format!(
                "has CRC-32 {found_crc}, the header says {}",
                want.crc32
            )));
        }
        let users = scan
            .finish()
            .map_err(|(position, message)| VerifyError::Xml {
                path: path.to_owned(),
                entry: want.name.clone(),
                position,
                message,
            })?;
        if users != want.users {
            return Err(VerifyError::UserCount {
                path: path.to_owned(),
                entry: want.name.clone(),
                expected: want.users,
                found: users,
            });
        }
        Ok(())
    }
}

/// Checks the local header at `offset` against `want` and `dos`; returns where the data starts.
fn check_local_header(
    path: &Path,
    file: &File,
    offset: u64,
    want: &ManifestEntry,
    dos: DosTime,
) -> Result<u64, VerifyError> {
    let mismatch = |field: &'static str, expected: String, found: String| VerifyError::Entry {
        path: path.to_owned(),
        entry: want.name.clone(),
        field,
        expected,
        found,
    };
    let mut fixed = [0u8; LOCAL_HEADER_LEN as usize];
    let read = file.read_exact_at(&mut fixed, offset);
    let Some(header) = read.ok().and_then(|()| zip32::parse_local_header(&fixed)) else {
        return Err(mismatch(
            "local header",
            format!("a local header at byte {offset}"),
            "none".into(),
        ));
    };
    let fields = [
        (
            "local header version",
            u64::from(zip32::VERSION_NEEDED),
            u64::from(header.version_needed),
        ),
        // No data descriptor, no encryption: Alma's loader wants plain entries.
        ("local header flags", 0, u64::from(header.flags)),
        (
            "local header method",
            u64::from(zip32::METHOD_DEFLATE),
            u64::from(header.method),
        ),
        (
            "local header time",
            u64::from(dos.time),
            u64::from(header.dos.time),
        ),
        (
            "local header date",
            u64::from(dos.date),
            u64::from(header.dos.date),
        ),
        (
            "local header crc32",
            u64::from(want.crc32),
            u64::from(header.crc32),
        ),
        (
            "local header compressed size",
            want.compressed_size,
            u64::from(header.compressed_size),
        ),
        ("local header size", want.size, u64::from(header.size)),
        (
            "local header name length",
            want.name.len() as u64,
            u64::from(header.name_len),
        ),
    ];
    for (field, expected, found) in fields {
        if expected != found {
            return Err(mismatch(field, expected.to_string(), found.to_string()));
        }
    }
    let mut name = vec![0u8; want.name.len()];
    let at = offset + LOCAL_HEADER_LEN;
    file.read_exact_at(&mut name, at)
        .map_err(|source| VerifyError::Io {
            path: path.to_owned(),
            source,
        })?;
    if name != want.name.as_bytes() {
        return Err(mismatch(
            "local header name",
            want.name.clone(),
            String::from_utf8_lossy(&name).into_owned(),
        ));
    }
    Ok(at + name.len() as u64 + u64::from(header.extra_len))
}

/// Counts `<user>` start tags in an XML file's bytes as they stream by, and checks its prolog
/// (declaration, optional comment, `<users>`) and closing tag. Our writer escapes `<` in every
/// text and attribute value, so after the prolog a `<user` followed by `>`, `/` or white space
/// is a `<user>` element.
#[derive(Default)]
struct UserScan {
    /// The prolog so far, until it is complete.
    head: Vec<u8>,
    /// The body has started: the prolog was complete and valid.
    in_body: bool,
    /// A prolog error, kept until `finish`.
    head_error: Option<(u64, String)>,
    /// The last bytes of the body whose `<user` match could not be decided yet.
    carry: Vec<u8>,
    /// The body's last bytes, for the closing tag.
    tail: Vec<u8>,
    body_bytes: u64,
    users: u64,
    /// Bytes seen.
    inflated: u64,
}

const USER_TAG: &[u8] = b"<user";

fn ends_tag_name(b: u8) -> bool {
    matches!(b, b'>' | b'/' | b' ' | b'\t' | b'\n' | b'\r')
}

impl UserScan {
    fn feed(&mut self, bytes: &[u8]) {
        self.inflated += bytes.len() as u64;
        if self.head_error.is_some() {
            return;
        }
        if self.in_body {
            self.feed_body(bytes);
            return;
        }
        let room = MAX_HEAD_BYTES.saturating_sub(self.head.len());
        let taken = bytes.len().min(room);
        self.head.extend_from_slice(&bytes[..taken]);
        match parse_head(&self.head) {
            Ok(Some(body_at)) => {
                self.in_body = true;
                let head = std::mem::take(&mut self.head);
                self.feed_body(&head[body_at..]);
                self.feed_body(&bytes[taken..]);
            }
            Ok(None) if self.head.len() >= MAX_HEAD_BYTES => {
                self.head_error = Some((
                    0,
                    format!("no <users> root in the first {MAX_HEAD_BYTES} bytes"),
                ));
            }
            Ok(None) => {}
            Err(e) => self.head_error = Some(e),
        }
    }

    fn feed_body(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.body_bytes += data.len() as u64;
        // Matches that start in the carried bytes, decided with up to 5 new bytes.
        let carried = self.carry.len();
        let mut join = std::mem::take(&mut self.carry);
        join.extend_from_slice(&data[..data.len().min(USER_TAG.len())]);
        for start in 0..carried {
            let end = start + USER_TAG.len();
            if end < join.len() && &join[start..end] == USER_TAG && ends_tag_name(join[end]) {
                self.users += 1;
            }
        }
        // Matches inside `data` whose next byte is inside `data` too.
        for start in memmem::find_iter(data, USER_TAG) {
            let end = start + USER_TAG.len();
            if end < data.len() && ends_tag_name(data[end]) {
                self.users += 1;
            }
        }
        // Keep what is not decided yet: the last 5 bytes of everything so far.
        let keep = USER_TAG.len();
        if data.len() >= keep {
            join.clear();
            join.extend_from_slice(&data[data.len() - keep..]);
        } else {
            join.truncate(carried);
            join.extend_from_slice(data);
            join.drain(..join.len().saturating_sub(keep));
        }
        self.carry = join;
        let tail_keep = CLOSING.len();
        if data.len() >= tail_keep {
            self.tail.clear();
            self.tail.extend_from_slice(&data[data.len() - tail_keep..]);
        } else {
            self.tail.extend_from_slice(data);
            self.tail.drain(..self.tail.len().saturating_sub(tail_keep));
        }
    }

    /// The users counted, or where and why the file is not one of ours.
    fn finish(self) -> Result<u64, (u64, String)> {
        if let Some(e) = self.head_error {
            return Err(e);
        }
        if !self.in_body {
            return Err((self.inflated, "the document ends inside its prolog".into()));
        }
        if self.body_bytes < CLOSING.len() as u64 || self.tail != CLOSING {
            return Err((
                self.inflated.saturating_sub(CLOSING.len() as u64),
                "the document does not end with </users>".into(),
            ));
        }
        Ok(self.users)
    }
}

/// Where the body starts after the prolog: the declaration, an optional `<!-- -->` line and
/// `<users>`; `None` when more bytes are needed.
fn parse_head(head: &[u8]) -> Result<Option<usize>, (u64, String)> {
    /// Checks that `head[at..]` starts with `want`; `None` when it is a prefix of it.
    fn expect(
        head: &[u8],
        at: usize,
        want: &[u8],
        what: &str,
    ) -> Result<Option<()>, (u64, String)> {
        let have = &head[at.min(head.len())..];
        if have.len() < want.len() {
            return if want.starts_with(have) {
                Ok(None)
            } else {
                Err((at as u64, format!("expected {what}")))
            };
        }
        if &have[..want.len()] == want {
            Ok(Some(()))
        } else {
            Err((at as u64, format!("expected {what}")))
        }
    }
    let declaration = "the declaration <?xml version=\"1.0\" encoding=\"UTF-8\"?>";
    if expect(head, 0, DECLARATION, declaration)?.is_none() {
        return Ok(None);
    }
    let mut at = DECLARATION.len();
    let rest = &head[at..];
    if rest.len() < 4 && b"<!--".starts_with(rest) {
        return Ok(None);
    }
    if rest.starts_with(b"<!--") {
        let Some(end) = memmem::find(&rest[4..], b"--") else {
            return Ok(None);
        };
        at += 4 + end;
        if expect(head, at, b"-->\n", "the end of the comment, -->")?.is_none() {
            return Ok(None);
        }
        at += 4;
    }
    if expect(head, at, ROOT, "the root <users>")?.is_none() {
        return Ok(None);
    }
    Ok(Some(at + ROOT.len()))
}

/// What the pipeline's verifier checks, in the order the assembler finished them.
pub(crate) enum Check {
    /// An entry placed for good in the zip being written.
    Entry {
        temp: PathBuf,
        offset: u64,
        entry: ManifestEntry,
    },
    /// A closed zip: its size, hash and central directory.
    Zip {
        temp: PathBuf,
        record: ManifestFile,
        offsets: Vec<u64>,
        size: u64,
    },
}

/// The pipeline's verifier: checks each entry as soon as the assembler placed it (while later
/// entries are still being deflated), then each zip once it is closed. Returns the zips with
/// their sha256 and the time spent; a failure is recorded in `context`.
pub(crate) fn verifier(context: &Context, checks: Receiver<Check>) -> (Vec<ClosedZip>, Duration) {
    let mut busy = Duration::ZERO;
    let mut closed = Vec::new();
    let mut inflater = Inflater::new();
    let mut open: Option<(PathBuf, File)> = None;
    for check in checks {
        if context.failure.stopped() {
            break;
        }
        let start = Instant::now();
        let result = match check {
            Check::Entry {
                temp,
                offset,
                entry,
            } => {
                let file = match open.take() {
                    Some((path, file)) if path == temp => Ok((path, file)),
                    _ => File::open(&temp)
                        .map(|file| (temp.clone(), file))
                        .map_err(|source| VerifyError::Io {
                            path: temp.clone(),
                            source,
                        }),
                };
                file.and_then(|(path, file)| {
                    let checked = inflater.check_entry(&path, &file, offset, &entry, context.dos);
                    open = Some((path, file));
                    checked
                })
            }
            Check::Zip {
                temp,
                mut record,
                offsets,
                size,
            } => {
                open = None;
                check_closed_zip(&temp, &mut record, &offsets, size, context.dos)
                    .map(|()| closed.push(ClosedZip { temp, record }))
            }
        };
        busy += start.elapsed();
        if let Err(e) = result {
            context.failure.fail(e.into());
            break;
        }
    }
    (closed, busy)
}

/// Hashes a closed zip and checks its central directory against what the assembler wrote.
fn check_closed_zip(
    path: &Path,
    record: &mut ManifestFile,
    offsets: &[u64],
    size: u64,
    dos: DosTime,
) -> Result<(), VerifyError> {
    let io_err = |source| VerifyError::Io {
        path: path.to_owned(),
        source,
    };
    let (found, sha256) = sha256_file(path).map_err(io_err)?;
    if found != size {
        return Err(VerifyError::Size {
            path: path.to_owned(),
            expected: size,
            found,
        });
    }
    record.size = size;
    record.sha256 = sha256;
    let file = File::open(path).map_err(io_err)?;
    let directory = read_directory(path, &file, record)?;
    for ((offset, found_dos), (want, written)) in directory
        .into_iter()
        .zip(record.entries.iter().zip(offsets))
    {
        let mismatch = |field: &'static str, expected: String, found: String| VerifyError::Entry {
            path: path.to_owned(),
            entry: want.name.clone(),
            field,
            expected,
            found,
        };
        if offset != *written {
            return Err(mismatch(
                "local header offset",
                written.to_string(),
                offset.to_string(),
            ));
        }
        if found_dos != dos {
            return Err(mismatch(
                "modification time",
                format!("{dos:?}"),
                format!("{found_dos:?}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::UserScan;

    const HEAD: &str =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- alma-sis <user> -->\n<users>\n";

    /// Counts users in `xml` fed in pieces of every size up to 12; `Err(text)` expects an
    /// error whose message contains `text`.
    fn check(xml: &str, expected: Result<u64, &str>) {
        for piece in 1..=12 {
            let mut scan = UserScan::default();
            for bytes in xml.as_bytes().chunks(piece) {
                scan.feed(bytes);
            }
            match (scan.finish(), expected) {
                (Ok(found), Ok(want)) => assert_eq!(found, want, "{xml} in pieces of {piece}"),
                (Err((_, message)), Err(want)) => {
                    assert!(message.contains(want), "{xml}: {message:?} lacks {want:?}");
                }
                (found, want) => {
                    panic!("{xml} in pieces of {piece}: got {found:?}, expected {want:?}")
                }
            }
        }
    }

    #[test]
    fn user_start_tags_are_counted_after_the_prolog() {
        check(&format!("{HEAD}</users>\n"), Ok(0));
        check(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users>\n  <user>\n  </user>\n</users>\n",
            Ok(1),
        );
        check(
            &format!(
                "{HEAD}<user>\n<user_group>x</user_group></user><user/><user a=\"1\"></user>\n</users>\n"
            ),
            Ok(3),
        );
        check(&format!("{HEAD}<users_x><userx><user\n></users>\n"), Ok(1));
        check(&format!("{HEAD}&lt;user> <user\t<user\r</users>\n"), Ok(2));
    }

    #[test]
    fn what_our_writer_never_writes_is_an_error() {
        check("", Err("prolog"));
        check("<users></users>\n", Err("declaration"));
        check(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- a -- b -->\n<users>\n</users>\n",
            Err("end of the comment"),
        );
        check(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<people>\n</people>\n",
            Err("root <users>"),
        );
        check(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE users>\n<users>\n</users>\n",
            Err("root <users>"),
        );
        check(
            &format!("{HEAD}<user>\n"),
            Err("does not end with </users>"),
        );
        check(
            &format!("{HEAD}</users>\ntext"),
            Err("does not end with </users>"),
        );
        check(
            &format!("{HEAD}</users>"),
            Err("does not end with </users>"),
        );
        check(HEAD, Err("does not end with </users>"));
    }
}
