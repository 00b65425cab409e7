//! Where the export's users are kept while a plan runs: not in memory.
//!
//! Each Alma user gets an ordinal in reading order. Its record stays on disk: in the export
//! file itself when that is a bare XML file read the fast way (an offset and a length), else
//! in an unlinked temporary file (mode 0600, gone when the process ends) that the users of
//! zip entries are copied into as XML, or as JSON for documents only the full reader reads.
//! A record is read back and parsed only when an extract user needs it.
//!
//! In memory stay 24 bytes per user (offset, length, flags, group, the digest of what a
//! load compares) and 12 bytes per identifier value in [`ValueIndex`].

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use alma_user_model::read::{RawUser, UserParser};
use alma_user_model::{Position, User, UserReader};

/// How a record is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// The `<user>` element as the export has it.
    Xml,
    /// `serde_json` of the [`User`] the full reader read.
    Json,
}

/// A run of ordinals stored in one file in one format.
#[derive(Debug, Clone, Copy)]
struct Run {
    first: u32,
    file: u16,
    format: Format,
}

/// Per-user flags.
pub(super) const INTERNAL: u8 = 1;
/// The user's group is one of the profile's (or the profile names none).
pub(super) const IN_GROUPS: u8 = 2;
/// A later record of the export has the same primary id: this one is out of date.
pub(super) const SUPERSEDED: u8 = 4;
/// An extract user matched it.
pub(super) const MATCHED: u8 = 8;
/// It has no value for the profile's match id.
pub(super) const NO_MATCH_VALUE: u8 = 16;

/// No group.
pub(super) const NO_GROUP: u16 = u16::MAX;

/// What stays in memory of one user besides its record's place.
#[derive(Debug, Clone, Copy)]
pub(super) struct Kept {
    pub(super) flags: u8,
    pub(super) group: u16,
    pub(super) digest: (u64, u8),
}

/// The records of the export's users.
pub(super) struct Records {
    files: Vec<File>,
    /// Index into `files` of the spill file, once made.
    spill: Option<(u16, BufWriter<File>, u64)>,
    runs: Vec<Run>,
    offsets: Vec<u64>,
    lens: Vec<u32>,
    pub(super) flags: Vec<u8>,
    pub(super) groups: Vec<u16>,
    /// [`fingerprint`](super::sync::fingerprint) of each user: digest and mask.
    pub(super) digests: Vec<u64>,
    pub(super) masks: Vec<u8>,
    buf: Vec<u8>,
    parser: UserParser,
}

/// Where a document's users start, to go back to when it must be read again.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mark {
    users: usize,
    runs: usize,
    spill_at: u64,
}

impl Records {
    pub(super) fn new() -> Records {
        Records {
            files: Vec::new(),
            spill: None,
            runs: Vec::new(),
            offsets: Vec::new(),
            lens: Vec::new(),
            flags: Vec::new(),
            groups: Vec::new(),
            digests: Vec::new(),
            masks: Vec::new(),
            buf: Vec::new(),
            parser: UserParser::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.offsets.len()
    }

    pub(super) fn mark(&self) -> Mark {
        Mark {
            users: self.offsets.len(),
            runs: self.runs.len(),
            spill_at: self.spill.as_ref().map_or(0, |s| s.2),
        }
    }

    /// Forgets every user added since `mark`.
    pub(super) fn rewind(&mut self, mark: Mark) -> std::io::Result<()> {
        self.offsets.truncate(mark.users);
        self.lens.truncate(mark.users);
        self.flags.truncate(mark.users);
        self.groups.truncate(mark.users);
        self.digests.truncate(mark.users);
        self.masks.truncate(mark.users);
        self.runs.truncate(mark.runs);
        if let Some((_, out, at)) = &mut self.spill {
            out.flush()?;
            out.get_mut().set_len(mark.spill_at)?;
            out.seek(SeekFrom::Start(mark.spill_at))?;
            *at = mark.spill_at;
        }
        Ok(())
    }

    /// Keeps `file` open to read records from it; returns its number.
    pub(super) fn add_file(&mut self, file: File) -> u16 {
        self.files.push(file);
        u16::try_from(self.files.len() - 1).unwrap_or(u16::MAX)
    }

    fn start_run(&mut self, file: u16, format: Format) {
        let first = u32::try_from(self.offsets.len()).unwrap_or(u32::MAX);
        let same = self
            .runs
            .last()
            .is_some_and(|r| r.file == file && r.format == format);
        if !same {
            self.runs.push(Run {
                first,
                file,
                format,
            });
        }
    }

    fn push(&mut self, offset: u64, len: usize, user: &Kept) -> u32 {
        let ordinal = u32::try_from(self.offsets.len()).unwrap_or(u32::MAX);
        self.offsets.push(offset);
        self.lens.push(u32::try_from(len).unwrap_or(u32::MAX));
        self.flags.push(user.flags);
        self.groups.push(user.group);
        self.digests.push(user.digest.0);
        self.masks.push(user.digest.1);
        ordinal
    }

    /// A user whose XML stays in `file` at `offset`.
    pub(super) fn push_in_file(&mut self, file: u16, raw: &RawUser, user: &Kept) -> u32 {
        self.start_run(file, Format::Xml);
        self.push(raw.start_offset, raw.len, user)
    }

    /// A user copied into the spill file (made in `dir` at the first copy).
    pub(super) fn push_spilled(
        &mut self,
        dir: &Path,
        format: Format,
        bytes: &[u8],
        user: &Kept,
    ) -> std::io::Result<u32> {
        if self.spill.is_none() {
            let file = tempfile::tempfile_in(dir)?;
            let copy = file.try_clone()?;
            let n = self.add_file(copy);
            self.spill = Some((n, BufWriter::with_capacity(256 * 1024, file), 0));
        }
        let Some((n, out, at)) = &mut self.spill else {
            unreachable!("made above");
        };
        let (n, offset) = (*n, *at);
        out.write_all(bytes)?;
        *at += bytes.len() as u64;
        self.start_run(n, format);
        Ok(self.push(offset, bytes.len(), user))
    }

    /// Writes out what the spill file still buffers: call before reading records.
    pub(super) fn finish(&mut self) -> std::io::Result<()> {
        if let Some((_, out, _)) = &mut self.spill {
            out.flush()?;
        }
        self.offsets.shrink_to_fit();
        self.lens.shrink_to_fit();
        self.flags.shrink_to_fit();
        self.groups.shrink_to_fit();
        self.digests.shrink_to_fit();
        self.masks.shrink_to_fit();
        Ok(())
    }

    /// Reads the record of `ordinal` into the buffer; returns its format.
    fn read(&mut self, ordinal: u32) -> std::io::Result<Format> {
        let i = ordinal as usize;
        let run = self.runs[self.runs.partition_point(|r| r.first <= ordinal) - 1];
        self.buf.resize(self.lens[i] as usize, 0);
        self.files[usize::from(run.file)].read_exact_at(&mut self.buf, self.offsets[i])?;
        Ok(run.format)
    }

    /// The primary id of `ordinal`: cut out of the record when it is plain text (what the
    /// reader would read: no reference, no carriage return, no nested user before it),
    /// else read with the whole record.
    pub(super) fn primary_id(&mut self, ordinal: u32) -> std::io::Result<String> {
        if self.read(ordinal)? == Format::Xml
            && let Ok(xml) = std::str::from_utf8(&self.buf)
            && let Some(start) = xml.find("<primary_id>")
            && !xml[..start].contains("<proxy_for_users")
        {
            let rest = &xml[start + "<primary_id>".len()..];
            if let Some(end) = rest.find('<') {
                let id = &rest[..end];
                if rest[end..].starts_with("</primary_id>") && !id.contains(['&', '\r']) {
                    return Ok(id.to_owned());
                }
            }
        }
        self.load(ordinal).map(|u| u.primary_id)
    }

    /// Reads the user `ordinal` back.
    pub(super) fn load(&mut self, ordinal: u32) -> std::io::Result<User> {
        let format = self.read(ordinal)?;
        let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
        match format {
            Format::Json => serde_json::from_slice(&self.buf).map_err(|e| invalid(e.to_string())),
            Format::Xml => {
                let xml = std::str::from_utf8(&self.buf).map_err(|e| invalid(e.to_string()))?;
                let at = RawUser {
                    position: Position { line: 1, column: 1 },
                    start_offset: 0,
                    len: xml.len(),
                };
                if let Some(read) = self.parser.parse(xml, &at) {
                    return Ok(read.user);
                }
                // What the fast parser does not vouch for, the full reader reads.
                let doc = format!("<users>{xml}</users>");
                UserReader::new(doc.as_bytes())
                    .next_user()
                    .map_err(|e| invalid(e.to_string()))?
                    .map(|r| r.user)
                    .ok_or_else(|| invalid("the record holds no <user>".to_owned()))
            }
        }
    }

    /// Bytes held in memory per user and in total.
    pub(super) fn heap_bytes(&self) -> usize {
        self.offsets.capacity() * 8
            + self.lens.capacity() * 4
            + self.flags.capacity()
            + self.groups.capacity() * 2
            + self.digests.capacity() * 8
            + self.masks.capacity()
    }
}

/// Identifier values (primary ids included) of every Alma user, as 64-bit hashes of their
/// trimmed lowercase form (the check's `id_key`: how Alma compares them), each with its
/// owner and two bits: the value is the owner's match id, the value is its primary id.
///
/// 256 sorted buckets by the hash's top byte, each with a directory on the next 12 bits:
/// a lookup reads about two cache lines. 12 bytes per value.
pub(super) struct ValueIndex {
    buckets: Vec<Vec<[u32; 3]>>,
    dirs: Vec<Vec<u32>>,
}

/// The value is its owner's match id.
pub(super) const AS_MATCH: u32 = 1 << 31;
/// The value is its owner's primary id.
pub(super) const AS_PRIMARY: u32 = 1 << 30;
/// The owner's ordinal.
pub(super) const OWNER: u32 = AS_PRIMARY - 1;

const DIR_BITS: u32 = 12;

fn split(key: u64) -> (usize, u32, u32) {
    ((key >> 56) as usize, (key >> 32) as u32, key as u32)
}

impl ValueIndex {
    pub(super) fn new() -> ValueIndex {
        ValueIndex {
            buckets: vec![Vec::new(); 256],
            dirs: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, key: u64, owner: u32) {
        let (b, hi, lo) = split(key);
        self.buckets[b].push([hi, lo, owner]);
    }

    /// Forgets the values of owners from `first` on (a document read again).
    pub(super) fn rewind(&mut self, first: u32) {
        for bucket in &mut self.buckets {
            bucket.retain(|e| e[2] & OWNER < first);
        }
    }

    /// Sorts the buckets and builds their directories; marks every record but the last of
    /// a primary id as superseded in `flags`.
    pub(super) fn finish(&mut self, flags: &mut [u8]) {
        self.dirs.clear();
        for bucket in &mut self.buckets {
            bucket.sort_unstable();
            bucket.shrink_to_fit();
            let mut dir = vec![0u32; (1 << DIR_BITS) + 1];
            for e in bucket.iter() {
                dir[((e[0] >> (24 - DIR_BITS)) & ((1 << DIR_BITS) - 1)) as usize + 1] += 1;
            }
            for i in 1..dir.len() {
                dir[i] += dir[i - 1];
            }
            self.dirs.push(dir);
            // Equal keys sit together: the same primary id read twice is one
            // Alma user exported twice (Alma's primary ids are unique), the last read wins.
            let mut i = 0;
            while i < bucket.len() {
                let mut j = i + 1;
                while j < bucket.len() && bucket[j][..2] == bucket[i][..2] {
                    j += 1;
                }
                let primaries = bucket[i..j]
                    .iter()
                    .filter(|e| e[2] & AS_PRIMARY != 0)
                    .map(|e| e[2] & OWNER);
                if let Some(newest) = primaries.clone().max() {
                    for older in primaries.filter(|&o| o != newest) {
                        flags[older as usize] |= SUPERSEDED;
                    }
                }
                i = j;
            }
        }
    }

    /// Every entry `[_, _, owner with flags]` of `key`.
    pub(super) fn find(&self, key: u64) -> &[[u32; 3]] {
        let (b, hi, lo) = split(key);
        let bucket = &self.buckets[b];
        let Some(dir) = self.dirs.get(b) else {
            return &[];
        };
        let d = ((hi >> (24 - DIR_BITS)) & ((1 << DIR_BITS) - 1)) as usize;
        let range = &bucket[dir[d] as usize..dir[d + 1] as usize];
        let start = range.partition_point(|e| (e[0], e[1]) < (hi, lo));
        let end = start + range[start..].partition_point(|e| (e[0], e[1]) == (hi, lo));
        &range[start..end]
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.buckets
            .iter()
            .map(|b| b.capacity() * 12)
            .sum::<usize>()
            + self.dirs.iter().map(|d| d.capacity() * 4).sum::<usize>()
    }
}
