//! The assembler: writes deflated chunks in order into zips under temporary names, patches each
//! entry's local header once its CRC and sizes are known, keeps zips within `files_per_zip`
//! and `max_zip_bytes`, and hands every placed entry and closed zip to the verifier.
//!
//! An entry is streamed into the open zip before its compressed size is known; when it ends
//! and turns out not to fit under `max_zip_bytes`, it is moved into the next zip (copied, then
//! cut from the first). This gives the same split as deciding with the size in hand.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender};

use crate::config::NameKind;
use crate::context::{Context, create_new, refuse_existing};
use crate::deflate::{Chunk, recycle};
use crate::error::PackageError;
use crate::manifest::{ManifestEntry, ManifestFile};
use crate::verify::Check;
use crate::zip32::{
    self, CENTRAL_HEADER_LEN, END_RECORD_LEN, EntryFields, LOCAL_HEADER_LEN, LOCAL_SIZES_AT,
};

/// Local and central headers of one entry, plus room for extra fields.
const ENTRY_OVERHEAD: u64 = LOCAL_HEADER_LEN + CENTRAL_HEADER_LEN + 64;
/// The end-of-central-directory record, plus room.
const ZIP_OVERHEAD: u64 = END_RECORD_LEN + 64;
/// Bytes copied at a time when an entry moves to the next zip.
const COPY_BYTES: usize = 256 * 1024;

/// What the assembler did, for the stats.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Assembled {
    pub compressed_bytes: u64,
    pub chunks: u64,
    pub entries: usize,
    pub zips: usize,
}

/// An entry being written.
struct OpenEntry {
    name: String,
    /// Where its local header is.
    offset: u64,
    crc: crc32fast::Hasher,
    size: u64,
    compressed_size: u64,
}

/// A zip being filled.
struct OpenZip {
    number: usize,
    temp: PathBuf,
    writer: BufWriter<File>,
    /// Bytes written so far (the writer's position).
    at: u64,
    record: ManifestFile,
    offsets: Vec<u64>,
    estimate: u64,
}

struct Assembler<'a> {
    context: &'a Context,
    checks: SyncSender<Check>,
    open: Option<OpenZip>,
    entry: Option<OpenEntry>,
    zips: usize,
    stats: Assembled,
    header: Vec<u8>,
}

/// Runs the assembler until the workers are done. Errors are recorded in `context`.
pub(crate) fn assembler(
    context: &Context,
    done: Receiver<Chunk>,
    pool: SyncSender<Chunk>,
    checks: SyncSender<Check>,
) -> Assembled {
    let mut assembler = Assembler {
        context,
        checks,
        open: None,
        entry: None,
        zips: 0,
        stats: Assembled::default(),
        header: Vec::with_capacity(256),
    };
    if let Err(e) = assembler.run(done, &pool) {
        context.failure.fail(e);
    }
    assembler.stats
}

impl Assembler<'_> {
    fn run(&mut self, done: Receiver<Chunk>, pool: &SyncSender<Chunk>) -> Result<(), PackageError> {
        // Chunks finish out of order; they are written in order, so a few wait here (no more
        // than the pool holds).
        let mut waiting = BTreeMap::new();
        let mut next = 0u64;
        for chunk in done {
            if self.context.failure.stopped() {
                return Ok(());
            }
            waiting.insert(chunk.seq, chunk);
            while let Some(mut chunk) = waiting.remove(&next) {
                if let Some(e) = chunk.failed.take() {
                    return Err(e);
                }
                self.add(&chunk)?;
                recycle(pool, chunk);
                next += 1;
            }
        }
        // Only a caller that finished (rather than failed or gave up) closes the last zip.
        if self.context.complete()
            && self.entry.is_none()
            && !self.context.failure.stopped()
            && let Some(open) = self.open.take()
        {
            self.close(open, None)?;
        }
        Ok(())
    }

    fn add(&mut self, chunk: &Chunk) -> Result<(), PackageError> {
        if let Some(name) = &chunk.starts {
            self.start_entry(name.clone())?;
        }
        let (Some(entry), Some(open)) = (self.entry.as_mut(), self.open.as_mut()) else {
            unreachable!("a chunk always follows its entry's start");
        };
        open.writer
            .write_all(&chunk.output)
            .map_err(|source| PackageError::Io {
                path: open.temp.clone(),
                source,
            })?;
        let len = chunk.output.len() as u64;
        open.at += len;
        entry.compressed_size += len;
        entry.size += chunk.input.len() as u64;
        entry.crc.combine(&chunk.crc);
        self.stats.compressed_bytes += len;
        self.stats.chunks += 1;
        if let Some(users) = chunk.ends {
            self.end_entry(users)?;
        }
        Ok(())
    }

    fn start_entry(&mut self, name: String) -> Result<(), PackageError> {
        let files_per_zip = self.context.config.files_per_zip as usize;
        let open = match self.open.take() {
            Some(open) if open.record.entries.len() < files_per_zip => open,
            Some(full) => {
                let number = full.number + 1;
                self.close(full, None)?;
                self.open_zip(number)?
            }
            None => self.open_zip(1)?,
        };
        let open = self.open.insert(open);
        self.header.clear();
        zip32::local_header(
            &mut self.header,
            &EntryFields {
                name: name.as_bytes(),
                dos: self.context.dos,
                crc32: 0,
                compressed_size: 0,
                size: 0,
            },
        );
        open.writer
            .write_all(&self.header)
            .map_err(|source| PackageError::Io {
                path: open.temp.clone(),
                source,
            })?;
        let offset = open.at;
        open.at += self.header.len() as u64;
        self.entry = Some(OpenEntry {
            name,
            offset,
            crc: crc32fast::Hasher::new(),
            size: 0,
            compressed_size: 0,
        });
        Ok(())
    }

    fn end_entry(&mut self, users: u64) -> Result<(), PackageError> {
        let Some(entry) = self.entry.take() else {
            unreachable!("an entry ends only after it started");
        };
        let Some(mut open) = self.open.take() else {
            unreachable!("an entry is always in an open zip");
        };
        let record = ManifestEntry {
            name: entry.name,
            users,
            size: entry.size,
            compressed_size: entry.compressed_size,
            crc32: entry.crc.finalize(),
        };
        let io_err = |path: &PathBuf| {
            let path = path.clone();
            move |source| PackageError::Io { path, source }
        };
        // The producer keeps entries under 4 GiB and a zip is under 4 GB, so these fit.
        let (Ok(compressed), Ok(size)) = (
            u32::try_from(record.compressed_size),
            u32::try_from(record.size),
        ) else {
            return Err(PackageError::PartTooLarge {
                entry: record.name,
                bytes: record.compressed_size.max(record.size),
                what: "compressed",
                max: u64::from(u32::MAX),
            });
        };
        open.writer.flush().map_err(io_err(&open.temp))?;
        open.writer
            .get_ref()
            .write_all_at(
                &zip32::sizes(record.crc32, compressed, size),
                entry.offset + LOCAL_SIZES_AT,
            )
            .map_err(io_err(&open.temp))?;

        let config = &self.context.config;
        let cost = record.compressed_size + ENTRY_OVERHEAD + 2 * record.name.len() as u64;
        if ZIP_OVERHEAD + cost > config.max_zip_bytes {
            return Err(PackageError::PartTooLarge {
                entry: record.name,
                bytes: record.compressed_size,
                what: "compressed",
                max: config.max_zip_bytes,
            });
        }
        let mut offset = entry.offset;
        if !open.record.entries.is_empty() && open.estimate + cost > config.max_zip_bytes {
            // It does not fit: move it into the next zip.
            let mut next = self.open_zip(open.number + 1)?;
            copy_range(&open, offset, &mut next)?;
            self.close(open, Some(offset))?;
            offset = 0;
            open = next;
        }
        open.estimate += cost;
        open.record.users += record.users;
        open.record.entries.push(record.clone());
        open.offsets.push(offset);
        let temp = open.temp.clone();
        self.open = Some(open);
        self.stats.entries += 1;
        self.check(Check::Entry {
            temp,
            offset,
            entry: record,
        })
    }

    fn check(&self, check: Check) -> Result<(), PackageError> {
        // A closed queue means the verifier stopped on a failure it recorded.
        let _ = self.checks.send(check);
        Ok(())
    }

    fn open_zip(&mut self, number: usize) -> Result<OpenZip, PackageError> {
        let context = self.context;
        let config = &context.config;
        if number as u64 > u64::from(config.max_zips) {
            return Err(PackageError::TooManyZips {
                needed: number as u64,
                max: config.max_zips,
            });
        }
        let name = config.name(NameKind::Zip, &context.run, number)?;
        refuse_existing(&context.dir.join(&name))?;
        let temp = context.dir.join(format!("{name}.partial"));
        let file = create_new(&temp, true)?;
        context.remember(temp.clone());
        Ok(OpenZip {
            number,
            temp,
            writer: BufWriter::with_capacity(256 * 1024, file),
            at: 0,
            record: ManifestFile {
                name,
                size: 0,
                sha256: String::new(),
                users: 0,
                entries: Vec::new(),
            },
            offsets: Vec::new(),
            estimate: ZIP_OVERHEAD,
        })
    }

    /// Writes the central directory and end record (at `cut`, dropping what follows, when an
    /// entry moved out), syncs the file and hands it to the verifier.
    fn close(&mut self, open: OpenZip, cut: Option<u64>) -> Result<(), PackageError> {
        let OpenZip {
            temp,
            mut writer,
            mut at,
            record,
            offsets,
            ..
        } = open;
        let io_err = |source| PackageError::Io {
            path: temp.clone(),
            source,
        };
        if let Some(cut) = cut {
            writer.flush().map_err(io_err)?;
            writer.get_ref().set_len(cut).map_err(io_err)?;
            writer.seek(SeekFrom::Start(cut)).map_err(io_err)?;
            at = cut;
        }
        let mut directory = Vec::with_capacity(record.entries.len() * 128);
        for (entry, offset) in record.entries.iter().zip(&offsets) {
            zip32::central_header(
                &mut directory,
                &EntryFields {
                    name: entry.name.as_bytes(),
                    dos: self.context.dos,
                    crc32: entry.crc32,
                    compressed_size: u32::try_from(entry.compressed_size).unwrap_or(u32::MAX),
                    size: u32::try_from(entry.size).unwrap_or(u32::MAX),
                },
                u32::try_from(*offset).unwrap_or(u32::MAX),
            );
        }
        let entries = u16::try_from(record.entries.len()).unwrap_or(u16::MAX);
        let directory_size = u32::try_from(directory.len()).unwrap_or(u32::MAX);
        zip32::end_record(
            &mut directory,
            entries,
            directory_size,
            u32::try_from(at).unwrap_or(u32::MAX),
        );
        writer.write_all(&directory).map_err(io_err)?;
        let size = at + directory.len() as u64;
        let file = writer.into_inner().map_err(|e| io_err(e.into_error()))?;
        file.sync_all().map_err(io_err)?;
        drop(file);
        if size > self.context.config.max_zip_bytes {
            return Err(PackageError::PartTooLarge {
                entry: record.name,
                bytes: size,
                what: "the whole zip",
                max: self.context.config.max_zip_bytes,
            });
        }
        self.zips += 1;
        self.stats.zips = self.zips;
        self.check(Check::Zip {
            temp,
            record,
            offsets,
            size,
        })
    }
}

/// Copies `from`'s bytes from `offset` to its end (one entry, header patched) into `to`.
fn copy_range(from: &OpenZip, offset: u64, to: &mut OpenZip) -> Result<(), PackageError> {
    let mut buf = vec![0u8; COPY_BYTES];
    let mut at = offset;
    while at < from.at {
        let n = usize::try_from((from.at - at).min(COPY_BYTES as u64)).unwrap_or(COPY_BYTES);
        from.writer
            .get_ref()
            .read_exact_at(&mut buf[..n], at)
            .map_err(|source| PackageError::Io {
                path: from.temp.clone(),
                source,
            })?;
        to.writer
            .write_all(&buf[..n])
            .map_err(|source| PackageError::Io {
                path: to.temp.clone(),
                source,
            })?;
        at += n as u64;
    }
    to.at += from.at - offset;
    // The verifier reads the entry from the file.
    to.writer.flush().map_err(|source| PackageError::Io {
        path: to.temp.clone(),
        source,
    })
}
