//! A zip, checked: its structure as both Java readers see it ([`zipread`]), every XML entry
//! read once through the guard and the reader, every other entry read for its CRC, then
//! `ZipInputStream`'s walk compared with `ZipFile`'s entries.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use alma_user_model::{Finding, Severity};

use super::zipread::{self, CenEntry, ReadEnd, ReadStats, ReadingKey, Readings};
use super::{CheckError, Checker, DocumentSource, codes};

/// An XML entry as one reader sees it: its name and the CRC and length of its bytes.
type XmlSeen<'a> = (&'a [u8], Option<(u32, u64)>);

/// Entries named in one overlap finding; the rest are counted.
const NAMED: usize = 5;

impl Checker<'_> {
    pub(super) fn check_zip(
        &mut self,
        path: &Path,
        display: &str,
        mut file: File,
    ) -> Result<(), CheckError> {
        let io_err = |source| CheckError::Io {
            path: path.to_owned(),
            source,
        };
        let st = zipread::structure(&mut file).map_err(io_err)?;
        for p in &st.problems {
            self.emit(
                display,
                p.entry.as_deref(),
                Finding::new(p.code, p.severity, p.message.clone()),
            );
        }
        if !st.readable {
            return Ok(());
        }
        self.entry_counts(display, &st.entries);
        let (inside, shared) = self.overlaps(display, &st.entries);
        let xml_bytes: u64 = st
            .entries
            .iter()
            .filter(|e| e.is_xml())
            .map(|e| e.size.min(self.options.limits.max_entry_bytes))
            .sum();
        self.reserve_for_bytes(xml_bytes);

        let mut readings = Readings::default();
        for (e, &inside) in st.entries.iter().zip(&inside) {
            if inside {
                continue;
            }
            let Some(key) = e.reading() else {
                self.emit(
                    display,
                    Some(&e.name),
                    Finding::new(
                        codes::ZIP_CORRUPT,
                        Severity::Error,
                        format!(
                            "no local file header at byte {} (Java's ZipFile: \"invalid LOC \
                             header (bad signature)\"): the zip is damaged (often an \
                             ASCII-mode transfer); recreate it and transfer it in binary mode",
                            e.local_at
                        ),
                    ),
                );
                continue;
            };
            if !e.is_xml() {
                continue;
            }
            if e.size > self.options.limits.max_entry_bytes {
                self.emit(
                    display,
                    Some(&e.name),
                    Finding::new(
                        codes::LIMIT,
                        Severity::Error,
                        format!(
                            "declares {} uncompressed bytes, over the limit of {} \
                             (check.max_entry_bytes); not read: split the file",
                            e.size, self.options.limits.max_entry_bytes
                        ),
                    ),
                );
                readings.cell(key);
                continue;
            }
            let (cell, new) = readings.cell(key);
            if !new {
                // Shares its data with an entry read already (reported as an overlap).
                continue;
            }
            let source = DocumentSource::Entry {
                path,
                key,
                stats: Arc::clone(&cell),
            };
            if let Err(err) = self.check_document(display, Some(&e.name), source) {
                return Err(io_err(err));
            }
            if self.log.borrow().byte_limit
                && let Ok(mut s) = cell.lock()
            {
                s.end = ReadEnd::Limited;
            }
        }
        self.verify_entries(path, display, &st.entries, &mut readings, (&inside, shared))
            .map_err(io_err)
    }

    /// `E-ZIP-NO-XML`, `E-ZIP-TOO-MANY-XML`, `W-ZIP-OTHER-ENTRY`.
    fn entry_counts(&mut self, display: &str, entries: &[CenEntry]) {
        let xml = entries.iter().filter(|e| e.is_xml()).count();
        if xml == 0 {
            self.emit(
                display,
                None,
                Finding::new(
                    codes::ZIP_NO_XML,
                    Severity::Error,
                    "the zip holds no .xml entry; Alma finds no users in it: put the user XML \
                     file(s), named *.xml, in the zip",
                ),
            );
        }
        if xml > super::MAX_XML_PER_ZIP {
            self.emit(
                display,
                None,
                Finding::new(
                    codes::ZIP_TOO_MANY_XML,
                    Severity::Error,
                    format!(
                        "{xml} XML files in one zip; Alma processes at most {}: split them \
                         over several zips",
                        super::MAX_XML_PER_ZIP
                    ),
                ),
            );
        }
        for e in entries
            .iter()
            .filter(|e| !e.is_xml() && !e.raw_name.ends_with(b"/"))
        {
            self.emit(
                display,
                Some(&e.name),
                Finding::new(
                    codes::ZIP_OTHER_ENTRY,
                    Severity::Warning,
                    "not an .xml entry; Alma ignores it: name user files *.xml",
                ),
            );
        }
    }

    /// `E-ZIP-OVERLAP` for entries that share a local header or whose bytes overlap; which
    /// entries lie inside another's data (they are not read) and whether there were any.
    fn overlaps(&mut self, display: &str, entries: &[CenEntry]) -> (Vec<bool>, bool) {
        let mut by_header: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            by_header.entry(e.local_at).or_default().push(i);
        }
        let mut inside = vec![false; entries.len()];
        let mut found = false;
        let mut last_end: Option<(u64, usize)> = None;
        for (at, group) in &by_header {
            let first = &entries[group[0]];
            if group.len() > 1 {
                found = true;
                let names: Vec<&str> = group
                    .iter()
                    .take(NAMED)
                    .map(|&i| entries[i].name.as_str())
                    .collect();
                let more = group.len().saturating_sub(NAMED);
                self.emit(
                    display,
                    Some(&first.name),
                    Finding::new(
                        codes::ZIP_OVERLAP,
                        Severity::Error,
                        format!(
                            "{} entries point at the same data (local header at byte {at}): \
                             {}{}; read once. Java's ZipInputStream sees only one of them, so \
                             Alma does not load what the zip lists: a crafted zip (zip bomb) \
                             or a broken zip writer; recreate the zip",
                            group.len(),
                            names.join(", "),
                            if more > 0 {
                                format!(" and {more} more")
                            } else {
                                String::new()
                            }
                        ),
                    ),
                );
            }
            if let Some((end, holder)) = last_end
                && *at < end
            {
                found = true;
                for &i in group {
                    inside[i] = true;
                }
                self.emit(
                    display,
                    Some(&first.name),
                    Finding::new(
                        codes::ZIP_OVERLAP,
                        Severity::Error,
                        format!(
                            "its local header (byte {at}) lies inside the data of entry {}: \
                             the entries overlap (a crafted zip, e.g. a zip bomb, or a broken \
                             zip writer); not read. Java's ZipInputStream does not see it: \
                             recreate the zip",
                            entries[holder].name
                        ),
                    ),
                );
                continue;
            }
            // Where the data ends by the local header (the central directory's size when a
            // data descriptor carries them).
            let end = first.local.as_ref().map_or(first.local_at + 30, |l| {
                let csize = if l.flags & 8 == 0 {
                    l.csize
                } else {
                    first.csize
                };
                l.data_at.saturating_add(csize)
            });
            if last_end.is_none_or(|(prev, _)| end > prev) {
                last_end = Some((end, group[0]));
            }
        }
        (inside, found)
    }

    /// Reads what no XML check read, then says which Java reader fails and why.
    fn verify_entries(
        &mut self,
        path: &Path,
        display: &str,
        entries: &[CenEntry],
        readings: &mut Readings,
        (inside, shared): (&[bool], bool),
    ) -> std::io::Result<()> {
        let entry_limit = self.options.limits.max_entry_bytes;
        let total_limit = self.options.limits.max_total_bytes;
        let drain = |checker: &mut Self,
                     readings: &mut Readings,
                     key: ReadingKey|
         -> std::io::Result<ReadStats> {
            let (cell, new) = readings.cell(key);
            let known = cell.lock().map(|s| s.clone()).ok();
            if let Some(s) = known.filter(|s| !new && s.end != ReadEnd::Open) {
                return Ok(s);
            }
            let spent = checker.log.borrow().total_read;
            let budget = entry_limit.min(total_limit.saturating_sub(spent));
            let s = zipread::drain(path, key, cell, budget)?;
            checker.log.borrow_mut().total_read += s.produced;
            Ok(s)
        };
        let mut limited = false;
        // ZipFile's view: every entry's data, as far as limits allow.
        let mut file_view: Vec<(&CenEntry, Option<ReadStats>)> = Vec::new();
        for (e, &inside) in entries.iter().zip(inside) {
            if inside {
                continue;
            }
            let Some(key) = e.reading() else {
                file_view.push((e, None));
                continue;
            };
            let s = drain(self, readings, key)?;
            if s.end == ReadEnd::Limited {
                limited = true;
            }
            file_view.push((e, Some(s)));
        }
        if limited {
            self.emit(
                display,
                None,
                Finding::new(
                    codes::LIMIT,
                    Severity::Error,
                    format!(
                        "the entries hold more than the byte limits allow \
                         (check.max_entry_bytes {entry_limit}, check.max_total_bytes \
                         {total_limit}); the rest was not read: a zip bomb, or split the feed"
                    ),
                ),
            );
        }
        let mut zipfile_failed = false;
        for (e, s) in &file_view {
            let Some(s) = s else { continue };
            let why = match &s.end {
                ReadEnd::Truncated if e.method == 8 || s.consumed == 0 => {
                    Some("Unexpected end of ZLIB input stream".to_owned())
                }
                ReadEnd::Invalid(message) => Some(message.clone()),
                ReadEnd::Complete
                    if e.method == 8
                        && s.consumed > e.csize
                        && !e.local.as_ref().is_some_and(|l| {
                            s.consumed == e.csize + 1
                                && zipread::zipfile_inflates(
                                    path,
                                    l.data_at,
                                    e.csize,
                                    (s.crc, s.produced),
                                )
                        }) =>
                {
                    Some("Unexpected end of ZLIB input stream".to_owned())
                }
                _ => None,
            };
            if let Some(why) = why {
                zipfile_failed = true;
                self.emit(
                    display,
                    Some(&e.name),
                    Finding::new(
                        codes::ZIP_CORRUPT,
                        Severity::Error,
                        format!(
                            "Java's ZipFile cannot read the entry's data (\"{why}\"): the zip \
                             is damaged or truncated; recreate it and transfer it in binary \
                             mode"
                        ),
                    ),
                );
                continue;
            }
            if s.end == ReadEnd::Complete {
                let mut differ = Vec::new();
                if e.crc != s.crc {
                    differ.push("CRC");
                }
                if e.size != s.produced {
                    differ.push("size");
                }
                if e.method == 8 && e.csize != s.consumed {
                    differ.push("compressed size");
                }
                if !differ.is_empty() {
                    self.emit(
                        display,
                        Some(&e.name),
                        Finding::new(
                            codes::ZIP_HEADERS,
                            Severity::Warning,
                            format!(
                                "the central directory's {} does not match the entry's data; \
                                 Java's ZipFile does not look and Alma's loader reads it, but \
                                 `unzip -t` and other tools report the zip as damaged: \
                                 recreate it",
                                differ.join(" and ")
                            ),
                        ),
                    );
                }
            }
        }
        // ZipInputStream's walk, reading what nothing read yet.
        let mut file = File::open(path)?;
        let (stream, failure) = zipread::stream_walk(&mut file, |key| drain(self, readings, key))?;
        if let Some(f) = &failure {
            let also = if zipfile_failed {
                ""
            } else {
                " (ZipFile reads it)"
            };
            self.emit(
                display,
                Some(&f.entry),
                Finding::new(
                    f.code,
                    Severity::Error,
                    format!(
                        "Java's ZipInputStream, the reader Alma uses, fails{also}: \"{}\"; {}",
                        f.java,
                        stream_advice(f.code)
                    ),
                ),
            );
        }
        if failure.is_some() || shared || limited || zipfile_failed {
            return Ok(());
        }
        // The two views must hold the same XML entries with the same bytes.
        let stats_of = |key: &ReadingKey| readings.stats(key);
        let file_xml: Vec<XmlSeen<'_>> = entries
            .iter()
            .filter(|e| e.is_xml())
            .map(|e| {
                let sum = e
                    .reading()
                    .and_then(|k| stats_of(&k))
                    .map(|s| (s.crc, s.produced));
                (e.raw_name.as_slice(), sum)
            })
            .collect();
        let stream_xml: Vec<XmlSeen<'_>> = stream
            .iter()
            .filter(|s| zipread::is_xml_name(&s.local.raw_name))
            .map(|s| {
                let sum = stats_of(&s.key).map(|st| (st.crc, st.produced));
                (s.local.raw_name.as_slice(), sum)
            })
            .collect();
        if file_xml != stream_xml {
            let names = |v: &[XmlSeen<'_>]| {
                let shown: Vec<String> = v
                    .iter()
                    .take(NAMED)
                    .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
                    .collect();
                let more = v.len().saturating_sub(NAMED);
                format!(
                    "[{}]{}",
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                )
            };
            let same_names = file_xml
                .iter()
                .map(|(n, _)| n)
                .eq(stream_xml.iter().map(|(n, _)| n));
            self.emit(
                display,
                None,
                Finding::new(
                    codes::ZIP_STREAM,
                    Severity::Error,
                    format!(
                        "Java's ZipInputStream, the reader Alma uses, reads the XML entries {}{}, \
                         the central directory (ZipFile) lists {}: local headers and central \
                         directory disagree (data before the first entry, an entry missing \
                         from the directory, or headers rewritten); recreate the zip",
                        names(&stream_xml),
                        if same_names { " with other bytes" } else { "" },
                        names(&file_xml)
                    ),
                ),
            );
        }
        Ok(())
    }
}

fn stream_advice(code: &str) -> &'static str {
    match code {
        codes::ZIP_CRC | codes::ZIP_SIZE => {
            "a header disagrees with the entry's data: the zip was damaged in transfer or \
             rewritten; recreate it and transfer it in binary mode"
        }
        codes::ZIP_DESCRIPTOR => {
            "re-zip with deflate, or with a zip writer that does not stream (data descriptors)"
        }
        codes::ZIP_NAME => "name the files in ASCII, or zip with a tool that writes UTF-8 names",
        codes::ZIP_ENCRYPTED => "zip without a password",
        codes::ZIP_METHOD => "re-zip with standard deflate (e.g. `zip -Z deflate`)",
        _ => "the zip is damaged or truncated; recreate it and transfer it in binary mode",
    }
}
