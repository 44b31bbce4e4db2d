//! Multi-pack-index (`objects/pack/multi-pack-index`) reading (gitformat-pack, "multi-pack-index
//! files"): one sorted id table over many packs, so a lookup is one binary search instead of one
//! per pack. Only the chunks needed for lookups are used: PNAM (pack names), OIDF (fan-out),
//! OIDL (ids), OOFF (pack number + offset) and LOFF (64-bit offsets). Everything is validated when
//! the file is opened, so a lookup afterwards cannot index out of bounds; a file that fails
//! validation is simply not used (the `.idx` files beside it answer instead).

use crate::hash::{HashKind, ObjectId};

/// Why a multi-pack-index is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Wrong magic, version or hash.
    #[error("multi-pack-index header: {0}")]
    Header(String),
    /// A required chunk is missing or lies outside the file.
    #[error("multi-pack-index chunk {0}: {1}")]
    Chunk(String, String),
    /// The file is a chain link (incremental MIDX), which is not read.
    #[error("incremental multi-pack-index chains are not supported")]
    Incremental,
}

const HEADER: usize = 12;

use crate::odb::chunk_format::{be32, be64, fanout_count, find_id, ChunkTable};

/// A validated view of multi-pack-index bytes `D`.
#[derive(Debug)]
pub struct MultiPackIndex<D: AsRef<[u8]>> {
    data: D,
    count: usize,
    hash_len: usize,
    pack_names: Vec<String>,
    fanout_at: usize,
    ids_at: usize,
    offsets_at: usize,
    /// Start of the large-offset table (every escape into it was validated at open time).
    large_at: usize,
}

impl<D: AsRef<[u8]>> MultiPackIndex<D> {
    /// Validates `data` as a multi-pack-index of `kind` ids.
    pub fn new(data: D, kind: HashKind) -> Result<Self, Error> {
        let b = data.as_ref();
        let hash_len = kind.len_in_bytes();
        if b.len() < HEADER + hash_len || &b[..4] != b"MIDX" {
            return Err(Error::Header("not a multi-pack-index".into()));
        }
        if b[4] != 1 {
            return Err(Error::Header(format!("version {}", b[4])));
        }
        let hash_version = kind.version_byte();
        if b[5] != hash_version {
            return Err(Error::Header(format!("hash version {}", b[5])));
        }
        let chunks = usize::from(b[6]);
        if b[7] != 0 {
            return Err(Error::Incremental);
        }
        let packs = be32(b, 8) as usize;
        let body_end = b.len() - hash_len;
        let as_err = |(name, why): (String, String)| Error::Chunk(name, why);
        let table = ChunkTable::parse(b, HEADER, chunks, body_end).map_err(as_err)?;
        let chunk = |name: &[u8; 4]| table.require(name).map_err(as_err);
        let bad = |name: &str, why: &str| Error::Chunk(name.into(), why.into());

        let (pnam, pnam_len) = chunk(b"PNAM")?;
        let pack_names: Vec<String> = b[pnam..pnam + pnam_len]
            .split(|&c| c == 0)
            .filter(|n| !n.is_empty())
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        if pack_names.len() != packs {
            return Err(bad("PNAM", "pack count differs from the header"));
        }

        let (fanout_at, fanout_len) = chunk(b"OIDF")?;
        let count = fanout_count(b, fanout_at, fanout_len).map_err(as_err)?;
        let (ids_at, ids_len) = chunk(b"OIDL")?;
        if ids_len != count * hash_len {
            return Err(bad("OIDL", "size does not match the fan-out"));
        }
        let (offsets_at, offsets_len) = chunk(b"OOFF")?;
        if offsets_len != count * 8 {
            return Err(bad("OOFF", "size does not match the fan-out"));
        }
        let (large_at, large_count) = match table.get(b"LOFF") {
            Some((at, len)) if len % 8 == 0 => (at, len / 8),
            Some(_) => return Err(bad("LOFF", "size is not a multiple of 8")),
            None => (0, 0),
        };
        let midx = MultiPackIndex {
            data,
            count,
            hash_len,
            pack_names,
            fanout_at,
            ids_at,
            offsets_at,
            large_at,
        };
        // Validate every (pack, offset) row once, so lookups never fail later.
        for i in 0..count {
            let (pack, raw) = midx.raw_location(i);
            if pack as usize >= packs {
                return Err(bad("OOFF", "pack number out of range"));
            }
            if raw & 0x8000_0000 != 0 && (raw & 0x7fff_ffff) as usize >= large_count {
                return Err(bad("LOFF", "large offset index out of range"));
            }
        }
        Ok(midx)
    }

    /// Number of objects indexed.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no object is indexed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Names of the packs covered, as `pack-<hash>.idx`; a location's pack number indexes this.
    pub fn pack_names(&self) -> &[String] {
        &self.pack_names
    }

    fn raw_location(&self, i: usize) -> (u32, u32) {
        let b = self.data.as_ref();
        let at = self.offsets_at + i * 8;
        (be32(b, at), be32(b, at + 4))
    }

    fn id_bytes(&self, i: usize) -> &[u8] {
        let at = self.ids_at + i * self.hash_len;
        &self.data.as_ref()[at..at + self.hash_len]
    }

    /// The id at sorted position `i`.
    pub fn id_at(&self, i: usize) -> Option<ObjectId> {
        (i < self.count).then(|| ObjectId::from_bytes(self.id_bytes(i)).ok())?
    }

    /// (pack number, offset in that pack) of the object at sorted position `i`.
    pub fn location_at(&self, i: usize) -> Option<(usize, u64)> {
        if i >= self.count {
            return None;
        }
        let (pack, raw) = self.raw_location(i);
        let offset = if raw & 0x8000_0000 != 0 {
            be64(
                self.data.as_ref(),
                self.large_at + (raw & 0x7fff_ffff) as usize * 8,
            )
        } else {
            u64::from(raw)
        };
        Some((pack as usize, offset))
    }

    /// (pack number, offset) of `id`, if indexed.
    pub fn find(&self, id: &ObjectId) -> Option<(usize, u64)> {
        let b = self.data.as_ref();
        let i = find_id(
            b,
            self.fanout_at,
            self.ids_at,
            self.hash_len,
            self.count,
            id.as_bytes(),
        )?;
        self.location_at(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a MIDX by hand: `objects` are (id byte, pack, offset) with ids `[b; 20]`, sorted.
    fn build(objects: &[(u8, u32, u64)], packs: &[&str]) -> Vec<u8> {
        let mut pnam = Vec::new();
        for p in packs {
            pnam.extend_from_slice(p.as_bytes());
            pnam.push(0);
        }
        while pnam.len() % 4 != 0 {
            pnam.push(0);
        }
        let mut oidf = Vec::new();
        for i in 0..256u32 {
            let n = objects
                .iter()
                .filter(|(b, _, _)| u32::from(*b) <= i)
                .count() as u32;
            oidf.extend_from_slice(&n.to_be_bytes());
        }
        let mut oidl = Vec::new();
        let mut ooff = Vec::new();
        let mut loff = Vec::new();
        for (b, pack, off) in objects {
            oidl.extend_from_slice(&[*b; 20]);
            ooff.extend_from_slice(&pack.to_be_bytes());
            if *off >= 1 << 31 {
                let idx = (loff.len() / 8) as u32 | 0x8000_0000;
                ooff.extend_from_slice(&idx.to_be_bytes());
                loff.extend_from_slice(&off.to_be_bytes());
            } else {
                ooff.extend_from_slice(&(*off as u32).to_be_bytes());
            }
        }
        let chunks: Vec<(&[u8; 4], Vec<u8>)> = vec![
            (b"PNAM", pnam),
            (b"OIDF", oidf),
            (b"OIDL", oidl),
            (b"OOFF", ooff),
            (b"LOFF", loff),
        ];
        let mut out = b"MIDX\x01\x01".to_vec();
        out.push(chunks.len() as u8);
        out.push(0);
        out.extend_from_slice(&(packs.len() as u32).to_be_bytes());
        crate::odb::chunk_format::append_chunks(&mut out, &chunks);
        out.extend_from_slice(&[0; 20]);
        out
    }

    #[test]
    fn lookups_including_large_offsets() {
        let bytes = build(
            &[(1, 0, 12), (7, 1, 5 << 32), (200, 1, 99)],
            &["pack-a.idx", "pack-b.idx"],
        );
        let m = MultiPackIndex::new(bytes, HashKind::Sha1).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m.pack_names(), ["pack-a.idx", "pack-b.idx"]);
        let id = |b: u8| ObjectId::from_bytes(&[b; 20]).unwrap();
        assert_eq!(m.find(&id(1)), Some((0, 12)));
        assert_eq!(m.find(&id(7)), Some((1, 5 << 32)));
        assert_eq!(m.find(&id(200)), Some((1, 99)));
        assert_eq!(m.find(&id(8)), None);
        assert_eq!(m.id_at(1), Some(id(7)));
    }

    #[test]
    fn rejects_damage_instead_of_panicking() {
        let good = build(&[(1, 0, 12), (7, 1, 5 << 32)], &["a.idx", "b.idx"]);
        // Pack number out of range.
        let mut bad = build(&[(1, 5, 12)], &["a.idx"]);
        assert!(MultiPackIndex::new(bad.clone(), HashKind::Sha1).is_err());
        // Every truncation and every single-byte flip either validates or errors, never panics.
        for cut in 0..good.len() {
            let _ = MultiPackIndex::new(good[..cut].to_vec(), HashKind::Sha1);
        }
        for i in 0..good.len() {
            let mut v = good.clone();
            v[i] ^= 0xff;
            if let Ok(m) = MultiPackIndex::new(v, HashKind::Sha1) {
                for j in 0..m.len() + 1 {
                    let _ = m.location_at(j);
                    if let Some(id) = m.id_at(j) {
                        let _ = m.find(&id);
                    }
                }
            }
        }
        bad[7] = 1;
        assert_eq!(
            MultiPackIndex::new(bad, HashKind::Sha1).unwrap_err(),
            Error::Incremental
        );
    }
}
