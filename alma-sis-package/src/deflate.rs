//! Parallel deflate, pigz-style: an entry's XML is cut into chunks, each chunk is deflated on
//! its own (raw deflate, primed with the 32 KiB before it) and ends with a sync flush, the
//! entry's last chunk with the final block; the chunks concatenated in order are one valid
//! deflate stream. CRC-32s are computed per chunk and combined in order.
//!
//! A chunk's bytes depend only on its input, its dictionary and whether it is last, never on
//! which worker took it, so the zips are the same whatever the thread timing.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use flate2::{Compress, Compression, FlushCompress, Status};

use crate::context::Context;
use crate::error::PackageError;

/// Deflate's window: what a chunk may refer back to in the chunk before it.
pub(crate) const WINDOW: usize = 32 * 1024;
/// The deflate level the `zip` crate used for us (flate2's default, 6).
const LEVEL: u32 = crate::COMPRESSION_LEVEL;

/// One piece of an XML entry on its way from the caller through a worker to the assembler.
/// Chunks are pooled: the assembler hands each back when written, so memory stays bounded.
#[derive(Default)]
pub(crate) struct Chunk {
    /// Position in the run; the assembler writes chunks in this order.
    pub seq: u64,
    /// Uncompressed XML.
    pub input: Vec<u8>,
    /// The (up to) 32 KiB of the entry just before `input`, to prime the compressor.
    pub dictionary: Vec<u8>,
    /// Deflated `input`.
    pub output: Vec<u8>,
    /// CRC-32 of `input`.
    pub crc: crc32fast::Hasher,
    /// Set on an entry's first chunk: the entry's name.
    pub starts: Option<String>,
    /// Set on an entry's last chunk: its users.
    pub ends: Option<u64>,
    /// Why the worker could not deflate it.
    pub failed: Option<PackageError>,
}

/// A worker: deflates chunks until the caller closes the queue or the assembler goes away.
/// Returns the time it spent deflating.
pub(crate) fn worker(
    context: &Context,
    jobs: &Mutex<Receiver<Chunk>>,
    done: &SyncSender<Chunk>,
) -> Duration {
    let mut busy = Duration::ZERO;
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return busy,
        };
        let Ok(mut chunk) = job else {
            return busy;
        };
        if !context.failure.stopped() {
            let start = Instant::now();
            deflate_chunk(&mut chunk);
            busy += start.elapsed();
        }
        if done.send(chunk).is_err() {
            return busy;
        }
    }
}

fn deflate_chunk(chunk: &mut Chunk) {
    chunk.crc = crc32fast::Hasher::new();
    chunk.crc.update(&chunk.input);
    chunk.output.clear();
    if let Err(e) = deflate(
        &chunk.dictionary,
        &chunk.input,
        chunk.ends.is_some(),
        &mut chunk.output,
    ) {
        chunk.failed = Some(PackageError::Deflate {
            message: e.to_string(),
        });
    }
}

/// Deflates `input` into `out` with a fresh compressor primed with `dictionary`: a sync flush
/// at the end, or the final block when `last`.
///
/// The compressor is new for every chunk: a reset one keeps its old window, and near the end
/// of the input the match finder compares bytes past the input with that stale window, which
/// can pick another (equally valid) match. The output would then depend on which chunk the
/// worker compressed before.
pub(crate) fn deflate(
    dictionary: &[u8],
    input: &[u8],
    last: bool,
    out: &mut Vec<u8>,
) -> Result<(), flate2::CompressError> {
    let mut compress = Compress::new(Compression::new(LEVEL), false);
    if !dictionary.is_empty() {
        compress.set_dictionary(dictionary)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut consumed = 0usize;
    loop {
        // Room for incompressible input plus block overhead, so one call normally does it.
        out.reserve(input.len() - consumed + input.len() / 64 + 64);
        let before = compress.total_in();
        let status = compress.compress_vec(&input[consumed..], out, flush)?;
        // At most `input.len()` bytes were taken, so the difference fits.
        consumed += usize::try_from(compress.total_in() - before).unwrap_or(usize::MAX);
        let flushed = consumed == input.len() && out.len() < out.capacity();
        match status {
            Status::StreamEnd => return Ok(()),
            Status::Ok | Status::BufError if !last && flushed => return Ok(()),
            Status::Ok | Status::BufError => {}
        }
    }
}

/// Hands chunks back to the caller's pool; a closed pool (the caller is gone) is fine.
pub(crate) fn recycle(pool: &SyncSender<Chunk>, mut chunk: Chunk) {
    chunk.starts = None;
    chunk.ends = None;
    chunk.failed = None;
    let _ = pool.send(chunk);
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// Deflates `data` in chunks of `size` (each primed with the window before it) and checks
    /// that the concatenation inflates back and the combined CRC is the whole one.
    fn check(data: &[u8], size: usize) {
        let mut stream = Vec::new();
        let mut crc = crc32fast::Hasher::new();
        let pieces: Vec<&[u8]> = data.chunks(size.max(1)).collect();
        let mut at = 0usize;
        for (i, piece) in pieces.iter().enumerate() {
            let dictionary = &data[at.saturating_sub(WINDOW)..at];
            let mut out = Vec::new();
            deflate(dictionary, piece, i + 1 == pieces.len(), &mut out).unwrap();
            stream.extend_from_slice(&out);
            let mut piece_crc = crc32fast::Hasher::new();
            piece_crc.update(piece);
            crc.combine(&piece_crc);
            at += piece.len();
        }
        let mut back = Vec::new();
        flate2::read::DeflateDecoder::new(stream.as_slice())
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data, "{} bytes in chunks of {size}", data.len());
        assert_eq!(crc.finalize(), crc32fast::hash(data));
    }

    #[test]
    fn chunks_deflated_apart_form_one_stream() {
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("<user>{}</user>\n", i % 977).into_bytes())
            .collect();
        let noise: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for size in [1, 7, 1000, 40_000, 1 << 20] {
            check(&text[..text.len().min(size * 50)], size);
            check(&noise[..noise.len().min(size * 50)], size);
        }
        check(&text, 1 << 20);
    }

    /// A chunk's bytes depend only on its input and dictionary, not on what the worker
    /// deflated before.
    #[test]
    fn a_chunk_deflates_the_same_whatever_came_before() {
        let text: Vec<u8> = (0..60_000u32)
            .flat_map(|i| {
                format!("<user><id>{}</id></user>\n", i.wrapping_mul(7919) % 10_007).into_bytes()
            })
            .collect();
        let (dictionary, input) = (&text[..WINDOW], &text[WINDOW..WINDOW + 300_000]);
        let mut alone = Vec::new();
        deflate(dictionary, input, false, &mut alone).unwrap();
        for before in [&text[100_000..], &text[..5000]] {
            let mut earlier = Vec::new();
            deflate(&[], before, true, &mut earlier).unwrap();
            let mut out = Vec::new();
            deflate(dictionary, input, false, &mut out).unwrap();
            assert_eq!(out, alone);
        }
    }
}
