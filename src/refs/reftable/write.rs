//! Encoding one table: the header, 4 KiB-aligned ref blocks with a restart point every 16
//! records, a ref index (multi-level until its root fits one block) when there is more than one
//! ref block, deflated log blocks with their own index when there is more than one, and the
//! footer with its CRC-32. No obj blocks are written (the format makes them optional, and C
//! git falls back to scanning refs without them).

use std::io::Write;

use super::decode::{put_uint, put_varint};
use super::record::{log_key, put_key, put_log_entry, put_ref_value, LogRecord, RefRecord};
use super::{hash_id, Error, MAX_BLOCK_SIZE};
use crate::hash::HashKind;

/// The block size written (C git's default).
pub const BLOCK_SIZE: usize = 4096;

/// A restart point every this many records.
const RESTART_INTERVAL: usize = 16;

/// One record ready for a block: its key, 3-bit type and encoded value.
struct Entry {
    key: Vec<u8>,
    typ: u8,
    value: Vec<u8>,
}

/// How a section's blocks are laid out.
#[derive(Clone, Copy)]
struct Layout {
    typ: u8,
    /// Pad each block's start to a multiple of this (0: unaligned).
    align: usize,
    /// Largest block (inflated size for log blocks).
    limit: usize,
    /// Deflate the block contents (log blocks).
    deflate: bool,
}

/// The encoded table of `refs` (sorted by name) and `logs` (sorted by name, newest first),
/// spanning update indexes `min..=max`, with ids of `kind`.
pub fn encode(
    kind: HashKind,
    min: u64,
    max: u64,
    refs: &[RefRecord],
    logs: &[LogRecord],
) -> Result<Vec<u8>, Error> {
    let mut header = Vec::with_capacity(28);
    header.extend_from_slice(b"REFT");
    let v2 = kind != HashKind::Sha1;
    header.push(if v2 { 2 } else { 1 });
    put_uint(&mut header, BLOCK_SIZE as u64, 3);
    put_uint(&mut header, min, 8);
    put_uint(&mut header, max, 8);
    if v2 {
        header.extend_from_slice(&hash_id(kind));
    }
    let mut out = header.clone();
    let ref_layout = Layout {
        typ: b'r',
        align: BLOCK_SIZE,
        limit: BLOCK_SIZE,
        deflate: false,
    };
    let entries = refs.iter().map(|r| {
        let mut value = Vec::new();
        put_ref_value(&mut value, r.update_index.saturating_sub(min), &r.value);
        Entry {
            key: r.name.as_bytes().to_vec(),
            typ: r.value.type_code(),
            value,
        }
    });
    let blocks = write_blocks(&mut out, ref_layout, header.len(), entries)?;
    let index_layout = Layout {
        typ: b'i',
        ..ref_layout
    };
    let ref_index = write_index(&mut out, index_layout, blocks)?;
    let (mut log_pos, mut log_index) = (0, 0);
    if !logs.is_empty() {
        pad(&mut out, BLOCK_SIZE);
        log_pos = out.len();
        let entries = logs.iter().map(|l| {
            let mut value = Vec::new();
            put_log_entry(&mut value, l.entry.as_ref());
            Entry {
                key: log_key(&l.name, l.update_index),
                typ: u8::from(l.entry.is_some()),
                value,
            }
        });
        let log_layout = Layout {
            typ: b'g',
            align: 0,
            limit: BLOCK_SIZE,
            deflate: true,
        };
        let blocks = write_blocks(&mut out, log_layout, 0, entries)?;
        let log_index_layout = Layout {
            typ: b'i',
            align: 0,
            limit: BLOCK_SIZE,
            deflate: false,
        };
        log_index = write_index(&mut out, log_index_layout, blocks)?;
    }
    let footer_start = out.len();
    out.extend_from_slice(&header);
    for v in [ref_index, 0, 0, log_pos, log_index] {
        put_uint(&mut out, v as u64, 8);
    }
    let crc = crc32fast::hash(&out[footer_start..]);
    put_uint(&mut out, u64::from(crc), 4);
    Ok(out)
}

/// Writes index levels over `blocks` (last key, position) until one block is the root; returns
/// the root's position, or 0 when there is at most one block (no index needed).
fn write_index(
    out: &mut Vec<u8>,
    layout: Layout,
    mut blocks: Vec<(Vec<u8>, usize)>,
) -> Result<usize, Error> {
    if blocks.len() <= 1 {
        return Ok(0);
    }
    while blocks.len() > 1 {
        let entries = std::mem::take(&mut blocks).into_iter().map(|(key, pos)| {
            let mut value = Vec::new();
            put_varint(&mut value, pos as u64);
            Entry { key, typ: 0, value }
        });
        blocks = write_blocks(out, layout, 0, entries)?;
    }
    Ok(blocks.first().map_or(0, |b| b.1))
}

/// Pads `out` with NULs to a multiple of `align` (when aligned).
fn pad(out: &mut Vec<u8>, align: usize) {
    if align > 0 && out.len() % align != 0 {
        out.resize(out.len().next_multiple_of(align), 0);
    }
}

/// Writes `entries` as blocks of `layout`; the first block shares `base` bytes already in `out`
/// (the file header). Returns each block's last key and position.
fn write_blocks(
    out: &mut Vec<u8>,
    layout: Layout,
    mut base: usize,
    entries: impl Iterator<Item = Entry>,
) -> Result<Vec<(Vec<u8>, usize)>, Error> {
    let mut blocks = Vec::new();
    let mut block = BlockBuf::new(layout.typ, base);
    for e in entries {
        if !block.add(&e, layout.limit) {
            if block.count == 0 {
                return Err(Error::TooLarge(format!(
                    "record {:?} does not fit a block",
                    String::from_utf8_lossy(&e.key)
                )));
            }
            blocks.push(flush(out, &mut block, layout, base)?);
            base = 0;
            block = BlockBuf::new(layout.typ, 0);
            if !block.add(&e, layout.limit.max(e.key.len() + e.value.len() + 64)) {
                return Err(Error::TooLarge("record too large".into()));
            }
        }
    }
    if block.count > 0 {
        blocks.push(flush(out, &mut block, layout, base)?);
    }
    Ok(blocks)
}

/// Appends the finished `block` to `out` (padding before it if aligned); returns its last key
/// and position.
fn flush(
    out: &mut Vec<u8>,
    block: &mut BlockBuf,
    layout: Layout,
    base: usize,
) -> Result<(Vec<u8>, usize), Error> {
    let bytes = block.finish()?;
    let pos = if base > 0 {
        0
    } else {
        pad(out, layout.align);
        out.len()
    };
    if layout.deflate {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&bytes[4..])
            .and_then(|_| z.flush())
            .map_err(|e| Error::TooLarge(e.to_string()))?;
        let compressed = z.finish().map_err(|e| Error::TooLarge(e.to_string()))?;
        out.extend_from_slice(&bytes[..4]);
        out.extend_from_slice(&compressed);
    } else {
        out.extend_from_slice(&bytes);
    }
    Ok((std::mem::take(&mut block.last_key), pos))
}

/// A block being filled: its bytes after `base` (the shared file header, first block only).
struct BlockBuf {
    base: usize,
    bytes: Vec<u8>,
    restarts: Vec<usize>,
    count: usize,
    last_key: Vec<u8>,
}

impl BlockBuf {
    fn new(typ: u8, base: usize) -> Self {
        BlockBuf {
            base,
            bytes: vec![typ, 0, 0, 0],
            restarts: Vec::new(),
            count: 0,
            last_key: Vec::new(),
        }
    }

    /// Adds `e` if the block stays within `limit` bytes; false if it does not fit.
    fn add(&mut self, e: &Entry, limit: usize) -> bool {
        let restart = self.count % RESTART_INTERVAL == 0;
        let mut rec = Vec::with_capacity(e.key.len() + e.value.len() + 8);
        put_key(&mut rec, &self.last_key, &e.key, e.typ, restart);
        rec.extend_from_slice(&e.value);
        let restarts = self.restarts.len() + usize::from(restart);
        if self.base + self.bytes.len() + rec.len() + 3 * restarts + 2 > limit {
            return false;
        }
        if restart {
            self.restarts.push(self.base + self.bytes.len());
        }
        self.bytes.extend_from_slice(&rec);
        self.last_key.clone_from(&e.key);
        self.count += 1;
        true
    }

    /// The block's bytes with its restart table and length filled in.
    fn finish(&mut self) -> Result<Vec<u8>, Error> {
        let mut bytes = std::mem::take(&mut self.bytes);
        for &r in &self.restarts {
            put_uint(&mut bytes, r as u64, 3);
        }
        put_uint(&mut bytes, self.restarts.len() as u64, 2);
        let len = self.base + bytes.len();
        if len > MAX_BLOCK_SIZE || self.restarts.len() > usize::from(u16::MAX) {
            return Err(Error::TooLarge(format!("block of {len} bytes")));
        }
        bytes[1..4].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
        Ok(bytes)
    }
}
