//! Writing `.idx` version 2 files (gitformat-pack), byte-identical to what `git index-pack`
//! writes for the same pack: fan-out, sorted ids, CRC32s, 31-bit offsets with a 64-bit table for
//! offsets of 2 GiB and more, the pack checksum, and the index's own checksum.

use std::io::Write;

use crate::hash::{Hasher, ObjectId};
use crate::pack::ingest::IndexEntry;

/// Sorts `entries` by id and writes the index for the pack with trailer `pack_checksum` to
/// `out`; returns the index checksum. Ids and checksums are of `pack_checksum`'s kind (the
/// repository's hash).
pub fn write_idx_v2(
    entries: &mut [IndexEntry],
    pack_checksum: &ObjectId,
    out: &mut dyn Write,
) -> std::io::Result<ObjectId> {
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    let width = pack_checksum.kind().len_in_bytes();
    let mut buf: Vec<u8> = Vec::with_capacity(8 + 1024 + entries.len() * (width + 8) + 2 * width);
    buf.extend_from_slice(b"\xfftOc");
    buf.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for e in entries.iter() {
        fanout[usize::from(e.id.first_byte())] += 1;
    }
    let mut running = 0u32;
    for f in fanout {
        running += f;
        buf.extend_from_slice(&running.to_be_bytes());
    }
    for e in entries.iter() {
        buf.extend_from_slice(e.id.as_bytes());
    }
    for e in entries.iter() {
        buf.extend_from_slice(&e.crc32.to_be_bytes());
    }
    let mut large: Vec<u64> = Vec::new();
    for e in entries.iter() {
        if e.offset < 0x8000_0000 {
            buf.extend_from_slice(&(e.offset as u32).to_be_bytes());
        } else {
            buf.extend_from_slice(&(0x8000_0000u32 | large.len() as u32).to_be_bytes());
            large.push(e.offset);
        }
    }
    for o in large {
        buf.extend_from_slice(&o.to_be_bytes());
    }
    buf.extend_from_slice(pack_checksum.as_bytes());
    let mut h = Hasher::trailer_only(pack_checksum.kind());
    h.update(&buf);
    let idx_checksum = h
        .finish()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    buf.extend_from_slice(idx_checksum.as_bytes());
    out.write_all(&buf)?;
    Ok(idx_checksum)
}
