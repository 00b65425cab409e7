//! Reading written zips back: sizes, sha256, entry headers, and every entry parsed as XML.
//!
//! Entry names are compared with the manifest as strings; they are never used as paths.
//! Parsing streams through a bounded buffer, reads no DTD and expands no entity.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;
use std::thread;

use quick_xml::Reader;
use quick_xml::events::Event;
use zip::{CompressionMethod, ZipArchive};

use crate::config::check_file_name;
use crate::error::VerifyError;
use crate::manifest::{Manifest, ManifestEntry, ManifestFile};
use crate::sha256_file;

/// An entry's index in the zip and why it failed.
type EntryFailure = Box<(usize, VerifyError)>;

/// Threads that parse a zip's entries.
const VERIFY_THREADS: usize = 2;
/// The longest single XML event (a tag or a text run) we accept while counting users.
const MAX_EVENT_BYTES: usize = 16 << 20;

/// Checks every zip the manifest names in `dir`: size, sha256, entries (name, method, sizes,
/// CRC, in order) and the `<user>` count of every entry, parsed in full.
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

/// Checks one zip at `path` against its manifest record.
pub(crate) fn verify_file(path: &Path, expected: &ManifestFile) -> Result<(), VerifyError> {
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
    let unreadable = |source| VerifyError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let archive = ZipArchive::new(BufReader::new(file)).map_err(unreadable)?;
    if archive.len() != expected.entries.len() {
        return Err(VerifyError::EntryCount {
            path: path.to_owned(),
            expected: expected.entries.len(),
            found: archive.len(),
        });
    }
    drop(archive);
    // Entries are parsed on two threads, each with its own reader; each thread stops at its
    // first bad entry, so the lowest failing index is the same error a single pass would give.
    let threads = VERIFY_THREADS.min(expected.entries.len()).max(1);
    let results: Vec<Result<u64, EntryFailure>> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|first| s.spawn(move || check_entries(path, expected, first, threads)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut users = 0;
    let mut first_error: Option<(usize, VerifyError)> = None;
    for result in results {
        match result {
            Ok(n) => users += n,
            Err(failure) => {
                if first_error.as_ref().is_none_or(|(i, _)| failure.0 < *i) {
                    first_error = Some(*failure);
                }
            }
        }
    }
    if let Some((_, e)) = first_error {
        return Err(e);
    }
    if users != expected.users {
        return Err(VerifyError::Total {
            what: format!("user count of {}", expected.name),
            expected: expected.users,
            found: users,
        });
    }
    Ok(())
}

/// Checks entries `first`, `first + step`, ... of the zip; returns their users, or the first
/// failing index and why.
fn check_entries(
    path: &Path,
    expected: &ManifestFile,
    first: usize,
    step: usize,
) -> Result<u64, EntryFailure> {
    let file = File::open(path).map_err(|source| {
        Box::new((
            first,
            VerifyError::Io {
                path: path.to_owned(),
                source,
            },
        ))
    })?;
    let unreadable = |source| VerifyError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let mut archive =
        ZipArchive::new(BufReader::new(file)).map_err(|e| Box::new((first, unreadable(e))))?;
    let mut users = 0;
    for (index, want) in expected
        .entries
        .iter()
        .enumerate()
        .skip(first)
        .step_by(step)
    {
        users += check_entry(&mut archive, path, index, want).map_err(|e| Box::new((index, e)))?;
    }
    Ok(users)
}

/// Checks one entry's header against the manifest and counts its users.
fn check_entry<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    path: &Path,
    index: usize,
    want: &ManifestEntry,
) -> Result<u64, VerifyError> {
    let entry = archive
        .by_index(index)
        .map_err(|source| VerifyError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
    let mismatch = |field: &'static str, expected: String, found: String| VerifyError::Entry {
        path: path.to_owned(),
        entry: want.name.clone(),
        field,
        expected,
        found,
    };
    if entry.name_raw() != want.name.as_bytes() {
        return Err(mismatch(
            "name",
            want.name.clone(),
            String::from_utf8_lossy(entry.name_raw()).into_owned(),
        ));
    }
    if entry.compression() != CompressionMethod::Deflated {
        return Err(mismatch(
            "method",
            "Deflated".into(),
            format!("{:?}", entry.compression()),
        ));
    }
    let fields = [
        ("size", want.size, entry.size()),
        (
            "compressed size",
            want.compressed_size,
            entry.compressed_size(),
        ),
        ("crc32", u64::from(want.crc32), u64::from(entry.crc32())),
    ];
    for (field, expected, found) in fields {
        if expected != found {
            return Err(mismatch(field, expected.to_string(), found.to_string()));
        }
    }
    // The zip reader checks the CRC when the entry is read to its end; `take` bounds a lie.
    let found =
        count_users(entry.take(want.size + 1)).map_err(|(position, message)| VerifyError::Xml {
            path: path.to_owned(),
            entry: want.name.clone(),
            position,
            message,
        })?;
    if found != want.users {
        return Err(VerifyError::UserCount {
            path: path.to_owned(),
            entry: want.name.clone(),
            expected: want.users,
            found,
        });
    }
    Ok(found)
}

/// Counts the `<user>` children of a `<users>` root, parsing the whole document.
/// Errors are (byte position, message).
pub(crate) fn count_users(input: impl Read) -> Result<u64, (u64, String)> {
    let mut reader = Reader::from_reader(BufReader::with_capacity(64 * 1024, input));
    reader.config_mut().check_end_names = true;
    let mut buf = Vec::with_capacity(8 * 1024);
    let mut depth = 0u32;
    let mut roots = 0u32;
    let mut users = 0u64;
    loop {
        buf.clear();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| (reader.error_position(), e.to_string()))?;
        let at = reader.buffer_position();
        let fail = |message: String| Err((at, message));
        match event {
            Event::Start(ref e) | Event::Empty(ref e) if depth == 0 => {
                roots += 1;
                if e.name().into_inner() != "users" || roots > 1 {
                    return fail(format!(
                        "the document must have a single <users> root, found <{}>",
                        e.name().into_inner()
                    ));
                }
                if matches!(event, Event::Start(_)) {
                    depth = 1;
                }
            }
            Event::Start(e) => {
                if depth == 1 && e.name().into_inner() == "user" {
                    users += 1;
                }
                depth += 1;
            }
            Event::Empty(e) if depth == 1 && e.name().into_inner() == "user" => users += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::DocType(_) => return fail("a DTD is not allowed".into()),
            Event::Text(t) if depth == 0 && !AsRef::<str>::as_ref(&t).trim_ascii().is_empty() => {
                return fail("text outside the <users> root".into());
            }
            Event::Eof => break,
            _ => {}
        }
        if buf.len() > MAX_EVENT_BYTES {
            return fail(format!(
                "an XML event is longer than {MAX_EVENT_BYTES} bytes"
            ));
        }
    }
    if roots == 0 || depth != 0 {
        return Err((
            reader.buffer_position(),
            "the document ends before </users>".into(),
        ));
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::count_users;

    /// Counts users in `xml`; `Err(text)` expects an error whose message contains `text`.
    fn check(xml: &str, expected: Result<u64, &str>) {
        match (count_users(xml.as_bytes()), expected) {
            (Ok(found), Ok(want)) => assert_eq!(found, want, "{xml}"),
            (Err((_, message)), Err(want)) => {
                assert!(message.contains(want), "{xml}: {message:?} lacks {want:?}");
            }
            (found, want) => panic!("{xml}: got {found:?}, expected {want:?}"),
        }
    }

    #[test]
    fn users_are_counted_only_as_children_of_the_root() {
        check("<?xml version=\"1.0\"?>\n<users/>\n", Ok(0));
        check("<users>\n</users>", Ok(0));
        check("<users><user/><user><x/></user></users>", Ok(2));
        check("<users><user><user/></user></users>", Ok(1));
        check("<!-- alma-sis -->\n<users><user></user></users>\n", Ok(1));
        check("<users><group><user/></group></users>", Ok(0));
    }

    #[test]
    fn what_alma_would_refuse_is_an_error() {
        check("", Err("ends before </users>"));
        check("<users><user>", Err("ends before </users>"));
        check("<users></user>", Err("user"));
        check("<people><user/></people>", Err("single <users> root"));
        check("<users/><users/>", Err("single <users> root"));
        check("<users/>text", Err("text outside"));
        check(
            "<!DOCTYPE users [<!ENTITY x \"y\">]><users>&x;</users>",
            Err("DTD is not allowed"),
        );
    }
}
