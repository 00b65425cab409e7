//! The zip container, written by hand: plain zip32 records with exactly the fields the `zip`
//! crate wrote for us before (version 2.0 made on Unix, mode 0600, DOS time, no flags, no
//! extra fields, no data descriptor). The `zip` crate cannot take deflate bytes compressed
//! elsewhere with their CRC, which the parallel packager needs.
//!
//! All numbers are little-endian; every size and offset fits in 32 bits because an entry stays
//! under 4 GiB and a zip under `max_zip_bytes` (< 4 GB).

/// A local file header's fixed part; the name follows.
pub(crate) const LOCAL_HEADER_LEN: u64 = 30;
/// Where the CRC-32, compressed size and size lie in a local header (12 bytes).
pub(crate) const LOCAL_SIZES_AT: u64 = 14;
/// A central directory header's fixed part; the name follows.
pub(crate) const CENTRAL_HEADER_LEN: u64 = 46;
/// The end-of-central-directory record without a comment.
pub(crate) const END_RECORD_LEN: u64 = 22;

const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const END_SIGNATURE: u32 = 0x0605_4b50;
/// Zip 2.0: deflate.
pub(crate) const VERSION_NEEDED: u16 = 20;
/// Made on Unix (3), by a zip 2.0 writer.
const VERSION_MADE_BY: u16 = (3 << 8) | 20;
/// Deflate.
pub(crate) const METHOD_DEFLATE: u16 = 8;
/// A regular file with mode 0600, in the high half of the external attributes.
const EXTERNAL_ATTRIBUTES: u32 = 0o100_600 << 16;

/// The fields of one entry that both of its headers carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryFields<'a> {
    /// The entry's name (ASCII: names are checked plain file names).
    pub name: &'a [u8],
    /// DOS time and date of the run's timestamp.
    pub dos: DosTime,
    /// CRC-32 of the uncompressed bytes.
    pub crc32: u32,
    /// Deflated size.
    pub compressed_size: u32,
    /// Uncompressed size.
    pub size: u32,
}

/// A DOS time and date, as zip headers store them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DosTime {
    /// `hour << 11 | minute << 5 | second / 2`.
    pub time: u16,
    /// `(year - 1980) << 9 | month << 5 | day`.
    pub date: u16,
}

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a local file header (its sizes may be patched later with [`sizes`]).
pub(crate) fn local_header(out: &mut Vec<u8>, entry: &EntryFields<'_>) {
    u32le(out, LOCAL_SIGNATURE);
    u16le(out, VERSION_NEEDED);
    u16le(out, 0); // flags: no data descriptor, no UTF-8 name (names are ASCII)
    u16le(out, METHOD_DEFLATE);
    u16le(out, entry.dos.time);
    u16le(out, entry.dos.date);
    out.extend_from_slice(&sizes(entry.crc32, entry.compressed_size, entry.size));
    u16le(out, name_len(entry.name));
    u16le(out, 0); // extra field length
    out.extend_from_slice(entry.name);
}

/// The CRC-32, compressed size and size as a local header stores them at [`LOCAL_SIZES_AT`].
pub(crate) fn sizes(crc32: u32, compressed_size: u32, size: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..4].copy_from_slice(&crc32.to_le_bytes());
    b[4..8].copy_from_slice(&compressed_size.to_le_bytes());
    b[8..].copy_from_slice(&size.to_le_bytes());
    b
}

/// Appends a central directory header for an entry whose local header is at `offset`.
pub(crate) fn central_header(out: &mut Vec<u8>, entry: &EntryFields<'_>, offset: u32) {
    u32le(out, CENTRAL_SIGNATURE);
    u16le(out, VERSION_MADE_BY);
    u16le(out, VERSION_NEEDED);
    u16le(out, 0); // flags
    u16le(out, METHOD_DEFLATE);
    u16le(out, entry.dos.time);
    u16le(out, entry.dos.date);
    u32le(out, entry.crc32);
    u32le(out, entry.compressed_size);
    u32le(out, entry.size);
    u16le(out, name_len(entry.name));
    u16le(out, 0); // extra field length
    u16le(out, 0); // comment length
    u16le(out, 0); // disk number
    u16le(out, 0); // internal attributes
    u32le(out, EXTERNAL_ATTRIBUTES);
    u32le(out, offset);
    out.extend_from_slice(entry.name);
}

/// Appends the end-of-central-directory record.
pub(crate) fn end_record(out: &mut Vec<u8>, entries: u16, directory_size: u32, directory_at: u32) {
    u32le(out, END_SIGNATURE);
    u16le(out, 0); // this disk
    u16le(out, 0); // the directory's disk
    u16le(out, entries);
    u16le(out, entries);
    u32le(out, directory_size);
    u32le(out, directory_at);
    u16le(out, 0); // comment length
}

/// Names are checked file names of at most 200 bytes.
fn name_len(name: &[u8]) -> u16 {
    u16::try_from(name.len()).expect("entry names are at most 200 bytes")
}

/// A local header's fixed part, read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalHeader {
    pub version_needed: u16,
    pub flags: u16,
    pub method: u16,
    pub dos: DosTime,
    pub crc32: u32,
    pub compressed_size: u32,
    pub size: u32,
    pub name_len: u16,
    pub extra_len: u16,
}

/// Parses a local header's fixed part; `None` when the signature is wrong.
pub(crate) fn parse_local_header(b: &[u8; LOCAL_HEADER_LEN as usize]) -> Option<LocalHeader> {
    let u16at = |at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    let u32at = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    (u32at(0) == LOCAL_SIGNATURE).then(|| LocalHeader {
        version_needed: u16at(4),
        flags: u16at(6),
        method: u16at(8),
        dos: DosTime {
            time: u16at(10),
            date: u16at(12),
        },
        crc32: u32at(14),
        compressed_size: u32at(18),
        size: u32at(22),
        name_len: u16at(26),
        extra_len: u16at(28),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_header_reads_back() {
        let entry = EntryFields {
            name: b"a.xml",
            dos: DosTime {
                time: 0x2000,
                date: 0x5d77,
            },
            crc32: 0x23c6_56cc,
            compressed_size: 7,
            size: 9,
        };
        let mut out = Vec::new();
        local_header(&mut out, &entry);
        assert_eq!(out.len() as u64, LOCAL_HEADER_LEN + 5);
        let fixed: &[u8; 30] = out[..30].try_into().unwrap();
        let parsed = parse_local_header(fixed).unwrap();
        assert_eq!(
            parsed,
            LocalHeader {
                version_needed: 20,
                flags: 0,
                method: 8,
                dos: entry.dos,
                crc32: entry.crc32,
                compressed_size: 7,
                size: 9,
                name_len: 5,
                extra_len: 0,
            }
        );
        assert_eq!(&out[30..], b"a.xml");
        let mut central = Vec::new();
        central_header(&mut central, &entry, 1234);
        assert_eq!(central.len() as u64, CENTRAL_HEADER_LEN + 5);
        let mut end = Vec::new();
        end_record(&mut end, 1, 51, 42);
        assert_eq!(end.len() as u64, END_RECORD_LEN);
    }
}
