//! Pack reachability bitmaps (`.bitmap`, gitformat-bitmap v1): for selected commits, the set of
//! every object reachable from them, as one bit per pack entry in pack order. With them a clone
//! or fetch counts its objects by OR-ing a few bitmaps instead of walking the whole history.
//!
//! The file is validated when opened (header, the four type bitmaps, every entry's bounds and
//! XOR reference); entry bitmaps are decoded on demand, XOR chains resolved with a cache.
//!
//! - [`write`]: writing a `.bitmap` for a pack Sluice wrote.
//! - [`count`]: counting a clone's or fetch's objects with a stored pack's bitmaps.

pub mod count;
pub mod write;

use std::sync::Mutex;

use crate::hash::ObjectId;
use crate::odb::Kind;
use crate::pack::ewah::{self, Bitmap};

/// Why a `.bitmap` is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Wrong signature, version or required flags.
    #[error("bitmap header: {0}")]
    Header(String),
    /// The bitmap was written for another pack.
    #[error("bitmap belongs to pack {0}")]
    OtherPack(ObjectId),
    /// A bitmap inside is damaged.
    #[error("bitmap data: {0}")]
    Ewah(#[from] ewah::Error),
    /// An entry refers to something that does not exist.
    #[error("bitmap entry {0}: {1}")]
    Entry(usize, String),
}

const FULL_DAG: u16 = 0x1;
/// `BITMAP_OPT_HASH_CACHE`: a name hash per object, in `.idx` order, just before the trailer.
const HASH_CACHE: u16 = 0x4;
/// Longest XOR chain the format allows.
const MAX_XOR: usize = 160;

struct Entry {
    /// Position of the commit in the pack's `.idx` (sorted by id).
    idx_pos: u32,
    xor_offset: u8,
    /// Where its serialized EWAH starts.
    at: usize,
}

/// A validated `.bitmap` over bytes `D`.
pub struct PackBitmaps<D: AsRef<[u8]>> {
    data: D,
    objects: usize,
    types: [Bitmap; 4],
    entries: Vec<Entry>,
    /// idx position → entry number, sorted by idx position.
    by_idx_pos: Vec<(u32, u32)>,
    decoded: Mutex<Vec<Option<Bitmap>>>,
    /// Where the name-hash cache starts, when the file has one.
    hash_cache: Option<usize>,
}

impl<D: AsRef<[u8]>> std::fmt::Debug for PackBitmaps<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackBitmaps")
            .field("objects", &self.objects)
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl<D: AsRef<[u8]>> PackBitmaps<D> {
    /// Validates `data` as the bitmap of the pack with checksum `pack` and `objects` entries.
    pub fn new(data: D, pack: &ObjectId, objects: usize) -> Result<Self, Error> {
        let b = data.as_ref();
        // "BITM", version, flags, entry count, then the pack's checksum (its hash's width).
        const FIXED: usize = 12;
        let header = FIXED + pack.kind().len_in_bytes();
        if b.len() < header || &b[..4] != b"BITM" {
            return Err(Error::Header("not a bitmap index".into()));
        }
        let version = u16::from_be_bytes([b[4], b[5]]);
        let flags = u16::from_be_bytes([b[6], b[7]]);
        if version != 1 {
            return Err(Error::Header(format!("version {version}")));
        }
        if flags & FULL_DAG == 0 {
            return Err(Error::Header("not a full-closure bitmap".into()));
        }
        let count = u32::from_be_bytes([b[8], b[9], b[10], b[11]]) as usize;
        let checksum =
            ObjectId::from_bytes(&b[FIXED..header]).map_err(|e| Error::Header(e.to_string()))?;
        if &checksum != pack {
            return Err(Error::OtherPack(checksum));
        }
        let mut at = header;
        let mut types: [Bitmap; 4] = Default::default();
        for t in &mut types {
            let rest = b.get(at..).ok_or(ewah::Error::Truncated)?;
            *t = ewah::decode(rest, objects)?;
            at += ewah::serialized_len(rest)?;
        }
        // Every entry is at least 6 + 12 bytes; a count larger than the file allows is damage.
        if count > b.len() / 18 {
            return Err(Error::Header(format!(
                "{count} entries in {} bytes",
                b.len()
            )));
        }
        let mut entries = Vec::with_capacity(count);
        for i in 0..count {
            let head = b.get(at..at + 6).ok_or(ewah::Error::Truncated)?;
            let idx_pos = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            let xor_offset = head[4];
            if idx_pos as usize >= objects {
                return Err(Error::Entry(i, "commit position out of range".into()));
            }
            if usize::from(xor_offset) > i || usize::from(xor_offset) > MAX_XOR {
                return Err(Error::Entry(i, "xor offset out of range".into()));
            }
            let start = at + 6;
            let len = ewah::serialized_len(b.get(start..).ok_or(ewah::Error::Truncated)?)?;
            entries.push(Entry {
                idx_pos,
                xor_offset,
                at: start,
            });
            at = start + len;
        }
        let mut by_idx_pos: Vec<(u32, u32)> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.idx_pos, i as u32))
            .collect();
        by_idx_pos.sort_unstable();
        let n = entries.len();
        // git writes the optional sections (pseudo-merges, lookup table) before the cache, so
        // it is found from the end: four bytes per object, then the trailer checksum.
        let hash_cache = (flags & HASH_CACHE != 0)
            .then(|| {
                let len = objects
                    .checked_mul(4)?
                    .checked_add(pack.kind().len_in_bytes())?;
                b.len().checked_sub(len).filter(|&start| start >= at)
            })
            .flatten();
        Ok(PackBitmaps {
            data,
            objects,
            types,
            entries,
            by_idx_pos,
            decoded: Mutex::new(vec![None; n]),
            hash_cache,
        })
    }

    /// Number of commits with a stored bitmap.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no commit has a bitmap.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The type of the object at pack position `pos`, from the type bitmaps.
    pub fn kind_at(&self, pos: usize) -> Option<Kind> {
        let kinds = [Kind::Commit, Kind::Tree, Kind::Blob, Kind::Tag];
        kinds
            .iter()
            .zip(&self.types)
            .find(|(_, b)| b.get(pos))
            .map(|(k, _)| *k)
    }

    /// The name hash ([`crate::walk::name_hash`]) of the object at `.idx` position `idx_pos`
    /// (the cache's order, as git's `bitmap_name_hash` reads it), from the name-hash cache
    /// (`None` without one): what groups an object with the other versions of its path for the
    /// delta search.
    pub fn name_hash_at(&self, idx_pos: u32) -> Option<u32> {
        let i = idx_pos as usize;
        let at = self.hash_cache?.checked_add(i.checked_mul(4)?)?;
        let b = self.data.as_ref().get(at..at.checked_add(4)?)?;
        (i < self.objects).then(|| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The type bitmap for `kind`.
    pub fn of_kind(&self, kind: Kind) -> &Bitmap {
        match kind {
            Kind::Commit => &self.types[0],
            Kind::Tree => &self.types[1],
            Kind::Blob => &self.types[2],
            Kind::Tag => &self.types[3],
        }
    }

    /// The reachability closure of the commit at `.idx` position `idx_pos`, if it has a bitmap.
    pub fn closure(&self, idx_pos: u32) -> Result<Option<Bitmap>, Error> {
        let Ok(i) = self.by_idx_pos.binary_search_by_key(&idx_pos, |(p, _)| *p) else {
            return Ok(None);
        };
        self.entry_bitmap(self.by_idx_pos[i].1 as usize).map(Some)
    }

    fn entry_bitmap(&self, i: usize) -> Result<Bitmap, Error> {
        let mut cache = self.decoded.lock().unwrap_or_else(|e| e.into_inner());
        // Collect the chain down to a cached or non-XOR entry, then decode upwards.
        let mut chain = vec![i];
        let mut cur = i;
        while cache[cur].is_none() && self.entries[cur].xor_offset != 0 {
            cur -= usize::from(self.entries[cur].xor_offset);
            chain.push(cur);
        }
        let mut acc: Option<Bitmap> = None;
        for &e in chain.iter().rev() {
            if let Some(hit) = &cache[e] {
                acc = Some(hit.clone());
                continue;
            }
            let own = ewah::decode(&self.data.as_ref()[self.entries[e].at..], self.objects)?;
            let full = match acc.take() {
                Some(mut base) if self.entries[e].xor_offset != 0 => {
                    base.xor(&own);
                    base
                }
                _ => own,
            };
            cache[e] = Some(full.clone());
            acc = Some(full);
        }
        acc.ok_or_else(|| Error::Entry(i, "empty chain".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::ewah::tests::encode_words as encode;

    fn file(pack: &ObjectId, objects: usize, entries: &[(u32, u8, Vec<u64>)]) -> Vec<u8> {
        let mut out = b"BITM\0\x01\0\x01".to_vec();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(pack.as_bytes());
        // Types: 0..4 commits, 4..8 trees, 8..12 blobs, nothing tags (objects = 12).
        for w in [0b1111u64, 0b1111_0000, 0b1111_0000_0000, 0] {
            out.extend(encode(objects, &[w]));
        }
        for (pos, xor, words) in entries {
            out.extend_from_slice(&pos.to_be_bytes());
            out.push(*xor);
            out.push(0);
            out.extend(encode(objects, words));
        }
        out
    }

    #[test]
    fn types_closures_and_xor_chains() {
        let pack = ObjectId::from_bytes(&[9; 20]).unwrap();
        let bytes = file(
            &pack,
            12,
            &[
                (3, 0, vec![0b1_0001_0001]),
                (1, 1, vec![0b10_0010_0010]),
                (2, 1, vec![0b100]),
            ],
        );
        let b = PackBitmaps::new(bytes.clone(), &pack, 12).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b.kind_at(0), Some(Kind::Commit));
        assert_eq!(b.kind_at(5), Some(Kind::Tree));
        assert_eq!(b.kind_at(11), Some(Kind::Blob));
        assert_eq!(b.kind_at(12), None);
        let ones = |x: Option<Bitmap>| x.unwrap().ones().collect::<Vec<_>>();
        assert_eq!(ones(b.closure(3).unwrap()), [0, 4, 8]);
        // Entry 1 is xor'ed with entry 0; entry 2 with entry 1 (recursively).
        assert_eq!(ones(b.closure(1).unwrap()), [0, 1, 4, 5, 8, 9]);
        assert_eq!(ones(b.closure(2).unwrap()), [0, 1, 2, 4, 5, 8, 9]);
        assert!(b.closure(7).unwrap().is_none());

        let other = ObjectId::from_bytes(&[1; 20]).unwrap();
        assert!(matches!(
            PackBitmaps::new(bytes.clone(), &other, 12),
            Err(Error::OtherPack(_))
        ));
        for cut in 0..bytes.len() {
            let _ = PackBitmaps::new(&bytes[..cut], &pack, 12);
        }
        let bad = file(&pack, 12, &[(3, 1, vec![1])]);
        assert!(matches!(
            PackBitmaps::new(bad, &pack, 12),
            Err(Error::Entry(0, _))
        ));
    }
}
