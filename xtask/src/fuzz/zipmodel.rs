//! Zips built field by field, so that a mutation can damage exactly one field of one header
//! (or add a data descriptor, a ZIP64 extra field, an entry that shares another's data).

use std::io::Write as _;

/// How an entry's sizes and CRC follow its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Descriptor {
    /// None: the local header has them.
    None,
    /// A data descriptor with its signature.
    Signed,
    /// A data descriptor without signature.
    Unsigned,
    /// Flag 3 set, but no descriptor written.
    Missing,
}

/// The fields a local or central header carries about an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    pub signature: u32,
    pub version: u16,
    pub flags: u16,
    pub method: u16,
    pub time: u16,
    pub date: u16,
    pub crc: u32,
    pub csize: u32,
    pub size: u32,
}

/// One entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: Vec<u8>,
    /// The local header's name, when it differs from the central one.
    pub local_name: Option<Vec<u8>>,
    /// The bytes written as the entry's data (compressed or stored).
    pub payload: Vec<u8>,
    pub descriptor: Descriptor,
    /// The descriptor's (crc, csize, size).
    pub descriptor_fields: (u32, u32, u32),
    pub local: Fields,
    pub central: Fields,
    pub local_extra: Vec<u8>,
    pub central_extra: Vec<u8>,
    pub comment: Vec<u8>,
    /// The central header's local-header offset; `None`: where the local header is.
    pub offset: Option<u32>,
    /// Written in the stream but left out of the central directory.
    pub hidden: bool,
    /// This entry's central record points at the local header of entry `n` (its own data
    /// is not written).
    pub shares: Option<usize>,
}

/// A zip: entries, then the end record's fields.
#[derive(Debug, Clone)]
pub struct Zip {
    pub entries: Vec<Entry>,
    /// Bytes before the first local header.
    pub prefix: Vec<u8>,
    /// Added to every offset (to fix a prefix, or not).
    pub offset_shift: i64,
    pub comment: Vec<u8>,
    /// Bytes after the end record (not counted by its comment length).
    pub trailer: Vec<u8>,
    /// Overrides of the end record: (entries on disk, entries, cd size, cd offset, comment
    /// length).
    pub end_entries_disk: Option<u16>,
    pub end_entries: Option<u16>,
    pub end_cd_size: Option<u32>,
    pub end_cd_offset: Option<u32>,
    pub end_comment_len: Option<u16>,
    pub end_signature: u32,
    /// Write a ZIP64 end record and locator before the end record.
    pub zip64_end: bool,
}

/// Where things landed in the bytes written.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub locals: Vec<usize>,
    pub centrals: Vec<usize>,
    pub end: usize,
}

pub const LOC_SIG: u32 = 0x0403_4b50;
pub const CEN_SIG: u32 = 0x0201_4b50;
pub const END_SIG: u32 = 0x0605_4b50;
pub const DESCRIPTOR_SIG: u32 = 0x0807_4b50;

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(bytes);
    h.finalize()
}

pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("in memory");
    enc.finish().expect("in memory")
}

impl Entry {
    /// A well-formed entry: `data` deflated (method 8) or stored (0).
    pub fn new(name: &[u8], data: &[u8], method: u16) -> Self {
        let payload = if method == 8 {
            deflate(data)
        } else {
            data.to_vec()
        };
        let crc = crc32(data);
        let fields = Fields {
            signature: LOC_SIG,
            version: 20,
            flags: 0,
            method,
            time: 0x6000,
            date: 0x5B21,
            crc,
            csize: payload.len() as u32,
            size: data.len() as u32,
        };
        Entry {
            name: name.to_vec(),
            local_name: None,
            descriptor: Descriptor::None,
            descriptor_fields: (crc, payload.len() as u32, data.len() as u32),
            payload,
            local: fields,
            central: Fields {
                signature: CEN_SIG,
                ..fields
            },
            local_extra: Vec::new(),
            central_extra: Vec::new(),
            comment: Vec::new(),
            offset: None,
            hidden: false,
            shares: None,
        }
    }

    /// Moves the sizes and CRC into a data descriptor (flag 3), as streaming writers do.
    pub fn with_descriptor(mut self, descriptor: Descriptor) -> Self {
        self.descriptor = descriptor;
        self.local.flags |= 8;
        self.central.flags |= 8;
        self.local.crc = 0;
        self.local.csize = 0;
        self.local.size = 0;
        self
    }
}

impl Zip {
    pub fn new(entries: Vec<Entry>) -> Self {
        Zip {
            entries,
            prefix: Vec::new(),
            offset_shift: 0,
            comment: Vec::new(),
            trailer: Vec::new(),
            end_entries_disk: None,
            end_entries: None,
            end_cd_size: None,
            end_cd_offset: None,
            end_comment_len: None,
            end_signature: END_SIG,
            zip64_end: false,
        }
    }

    /// The zip of `(name, data)` entries, deflated.
    pub fn of(entries: &[(&[u8], &[u8])]) -> Self {
        Zip::new(
            entries
                .iter()
                .map(|(name, data)| Entry::new(name, data, 8))
                .collect(),
        )
    }

    pub fn write(&self) -> (Vec<u8>, Layout) {
        let mut out = self.prefix.clone();
        let mut layout = Layout::default();
        let shift = |v: usize| (v as i64 - self.prefix.len() as i64 + self.offset_shift) as u32;
        let mut local_at = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            if e.shares.is_some() {
                local_at.push(None);
                continue;
            }
            let at = out.len();
            local_at.push(Some(at));
            layout.locals.push(at);
            let name = e.local_name.as_ref().unwrap_or(&e.name);
            let f = &e.local;
            put32(&mut out, f.signature);
            put16(&mut out, f.version);
            put16(&mut out, f.flags);
            put16(&mut out, f.method);
            put16(&mut out, f.time);
            put16(&mut out, f.date);
            put32(&mut out, f.crc);
            put32(&mut out, f.csize);
            put32(&mut out, f.size);
            put16(&mut out, name.len() as u16);
            put16(&mut out, e.local_extra.len() as u16);
            out.extend_from_slice(name);
            out.extend_from_slice(&e.local_extra);
            out.extend_from_slice(&e.payload);
            let (crc, csize, size) = e.descriptor_fields;
            match e.descriptor {
                Descriptor::None | Descriptor::Missing => {}
                Descriptor::Signed => {
                    put32(&mut out, DESCRIPTOR_SIG);
                    put32(&mut out, crc);
                    put32(&mut out, csize);
                    put32(&mut out, size);
                }
                Descriptor::Unsigned => {
                    put32(&mut out, crc);
                    put32(&mut out, csize);
                    put32(&mut out, size);
                }
            }
        }
        let cd_start = out.len();
        let mut listed = 0u16;
        for (i, e) in self.entries.iter().enumerate() {
            if e.hidden {
                continue;
            }
            listed += 1;
            layout.centrals.push(out.len());
            let local = match e.shares {
                Some(n) => local_at.get(n).copied().flatten().unwrap_or(0),
                None => local_at[i].unwrap_or(0),
            };
            let f = &e.central;
            put32(&mut out, f.signature);
            put16(&mut out, (3 << 8) | 20);
            put16(&mut out, f.version);
            put16(&mut out, f.flags);
            put16(&mut out, f.method);
            put16(&mut out, f.time);
            put16(&mut out, f.date);
            put32(&mut out, f.crc);
            put32(&mut out, f.csize);
            put32(&mut out, f.size);
            put16(&mut out, e.name.len() as u16);
            put16(&mut out, e.central_extra.len() as u16);
            put16(&mut out, e.comment.len() as u16);
            put16(&mut out, 0);
            put16(&mut out, 0);
            put32(&mut out, 0o100_644 << 16);
            put32(&mut out, e.offset.unwrap_or_else(|| shift(local)));
            out.extend_from_slice(&e.name);
            out.extend_from_slice(&e.central_extra);
            out.extend_from_slice(&e.comment);
        }
        let cd_size = out.len() - cd_start;
        if self.zip64_end {
            let end64 = out.len();
            put32(&mut out, 0x0606_4b50);
            out.extend_from_slice(&44u64.to_le_bytes());
            put16(&mut out, 45);
            put16(&mut out, 45);
            put32(&mut out, 0);
            put32(&mut out, 0);
            out.extend_from_slice(&u64::from(listed).to_le_bytes());
            out.extend_from_slice(&u64::from(listed).to_le_bytes());
            out.extend_from_slice(&(cd_size as u64).to_le_bytes());
            out.extend_from_slice(&u64::from(shift(cd_start)).to_le_bytes());
            put32(&mut out, 0x0706_4b50);
            put32(&mut out, 0);
            out.extend_from_slice(&u64::from(shift(end64)).to_le_bytes());
            put32(&mut out, 1);
        }
        layout.end = out.len();
        put32(&mut out, self.end_signature);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put16(&mut out, self.end_entries_disk.unwrap_or(listed));
        put16(&mut out, self.end_entries.unwrap_or(listed));
        put32(&mut out, self.end_cd_size.unwrap_or(cd_size as u32));
        put32(
            &mut out,
            self.end_cd_offset.unwrap_or_else(|| shift(cd_start)),
        );
        put16(
            &mut out,
            self.end_comment_len.unwrap_or(self.comment.len() as u16),
        );
        out.extend_from_slice(&self.comment);
        out.extend_from_slice(&self.trailer);
        (out, layout)
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.write().0
    }
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A ZIP64 extended-information extra field with the given 64-bit values, in the order the
/// format wants them (size, compressed size, local-header offset).
pub fn zip64_extra(values: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    put16(&mut out, 1);
    put16(&mut out, (values.len() * 8) as u16);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
