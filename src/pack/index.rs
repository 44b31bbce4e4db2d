//! Pack index (`.idx`) reading, versions 1 and 2 (gitformat-pack): a 256-entry fan-out table,
//! sorted object ids, (v2) CRC32s and 31-bit offsets with an escape into a table of 64-bit
//! offsets for packs over 2 GiB. Everything is validated when the index is opened, so lookups
//! afterwards cannot index out of bounds.

use crate::hash::{HashKind, ObjectId};

/// Why an index is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Too short for its header, fan-out or tables.
    #[error("pack index is truncated ({len} bytes, need {needed})")]
    Truncated {
        /// Actual length.
        len: usize,
        /// Length the header implies.
        needed: usize,
    },
    /// An unknown version.
    #[error("pack index version {0} is not supported")]
    Version(u32),
    /// Fan-out entries decrease.
    #[error("pack index fan-out table is not monotonic at entry {0}")]
    FanOut(usize),
}

/// Which on-disk layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// v1: fan-out, then (4-byte offset, id) records.
    V1,
    /// v2: magic, version, fan-out, ids, CRCs, offsets, large offsets.
    V2,
}

/// A validated view of index bytes `D` (a memory map, or a `Vec` in tests).
#[derive(Debug)]
pub struct PackIndex<D: AsRef<[u8]>> {
    data: D,
    layout: Layout,
    count: usize,
    hash_len: usize,
    /// Start of the fan-out table.
    fanout_at: usize,
}

fn be32(b: &[u8], at: usize) -> u32 {
    // Callers validated the table bounds at open time.
    let s = b.get(at..at + 4).unwrap_or(&[0; 4]);
    u32::from_be_bytes([s[0], s[1], s[2], s[3]])
}

impl<D: AsRef<[u8]>> PackIndex<D> {
    /// Validates `data` as an index for `kind` ids.
    pub fn new(data: D, kind: HashKind) -> Result<Self, Error> {
        let bytes = data.as_ref();
        let len = bytes.len();
        let hash_len = kind.len_in_bytes();
        let (layout, fanout_at) = if bytes.starts_with(b"\xfftOc") {
            let version = if len >= 8 { be32(bytes, 4) } else { 0 };
            if version != 2 {
                return Err(Error::Version(version));
            }
            (Layout::V2, 8)
        } else {
            (Layout::V1, 0)
        };
        let needed = fanout_at + 256 * 4;
        if len < needed {
            return Err(Error::Truncated { len, needed });
        }
        let mut prev = 0;
        for i in 0..256 {
            let v = be32(bytes, fanout_at + i * 4);
            if v < prev {
                return Err(Error::FanOut(i));
            }
            prev = v;
        }
        let count = prev as usize;
        let trailer = 2 * hash_len;
        let needed = match layout {
            Layout::V1 => needed + count * (4 + hash_len) + trailer,
            Layout::V2 => needed + count * (hash_len + 4 + 4) + trailer,
        };
        if len < needed {
            return Err(Error::Truncated { len, needed });
        }
        // A 64-bit offset escape is checked against the large-offset table when it is read
        // ([`Self::offset_at`]), as C git's `check_pack_index_ptr` does: checking every entry
        // here read all of git.git's 1.6 MB offset table to open the index for a small fetch.
        Ok(PackIndex {
            data,
            layout,
            count,
            hash_len,
            fanout_at,
        })
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn ids_at(&self) -> usize {
        self.fanout_at + 256 * 4
    }

    fn offsets_at(&self) -> usize {
        self.ids_at() + self.count * (self.hash_len + 4)
    }

    /// The id at sorted position `i` (`i < len()`).
    pub fn id_at(&self, i: usize) -> Option<ObjectId> {
        if i >= self.count {
            return None;
        }
        let at = match self.layout {
            Layout::V1 => self.ids_at() + i * (4 + self.hash_len) + 4,
            Layout::V2 => self.ids_at() + i * self.hash_len,
        };
        ObjectId::from_bytes(self.data.as_ref().get(at..at + self.hash_len)?).ok()
    }

    fn id_bytes(&self, i: usize) -> &[u8] {
        let at = match self.layout {
            Layout::V1 => self.ids_at() + i * (4 + self.hash_len) + 4,
            Layout::V2 => self.ids_at() + i * self.hash_len,
        };
        self.data
            .as_ref()
            .get(at..at + self.hash_len)
            .unwrap_or(&[])
    }

    /// The pack offset of the object at sorted position `i`; `None` past the end, or when a
    /// 64-bit offset escape points outside the large-offset table (a corrupt index).
    pub fn offset_at(&self, i: usize) -> Option<u64> {
        if i >= self.count {
            return None;
        }
        let bytes = self.data.as_ref();
        match self.layout {
            Layout::V1 => Some(u64::from(be32(
                bytes,
                self.ids_at() + i * (4 + self.hash_len),
            ))),
            Layout::V2 => {
                let raw = be32(bytes, self.offsets_at() + i * 4);
                if raw & 0x8000_0000 == 0 {
                    return Some(u64::from(raw));
                }
                let at = self.offsets_at() + self.count * 4 + (raw & 0x7fff_ffff) as usize * 8;
                // The table ends where the two trailing checksums start.
                let table_end = bytes.len().checked_sub(2 * self.hash_len)?;
                let s = bytes.get(at..at.checked_add(8).filter(|&e| e <= table_end)?)?;
                Some(u64::from_be_bytes(s.try_into().ok()?))
            }
        }
    }

    /// The CRC32 of the packed entry at position `i` (v2 only).
    pub fn crc32_at(&self, i: usize) -> Option<u32> {
        (self.layout == Layout::V2 && i < self.count).then(|| {
            be32(
                self.data.as_ref(),
                self.ids_at() + self.count * self.hash_len + i * 4,
            )
        })
    }

    /// Sorted position of `id`.
    pub fn find(&self, id: &ObjectId) -> Option<usize> {
        let want = id.as_bytes();
        let first = usize::from(*want.first()?);
        let bytes = self.data.as_ref();
        let lo = if first == 0 {
            0
        } else {
            be32(bytes, self.fanout_at + (first - 1) * 4) as usize
        };
        let hi = (be32(bytes, self.fanout_at + first * 4) as usize).min(self.count);
        crate::odb::chunk_format::search_bucket(lo, hi, want, |i| Some(self.id_bytes(i)))
    }

    /// The pack checksum recorded in the index trailer.
    pub fn pack_checksum(&self) -> Option<ObjectId> {
        let bytes = self.data.as_ref();
        let end = bytes.len().checked_sub(self.hash_len)?;
        ObjectId::from_bytes(bytes.get(end - self.hash_len..end)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v2 index of one object whose offset is the 64-bit escape `escape`, with `large`
    /// entries in the large-offset table (each `1 << 33`).
    fn one_large(escape: u32, large: usize) -> Vec<u8> {
        let mut v = b"\xfftOc\0\0\0\x02".to_vec();
        for _ in 0..256 {
            v.extend_from_slice(&1u32.to_be_bytes());
        }
        v.extend_from_slice(&[0u8; 20]); // the id
        v.extend_from_slice(&[0u8; 4]); // its CRC
        v.extend_from_slice(&(0x8000_0000 | escape).to_be_bytes());
        for _ in 0..large {
            v.extend_from_slice(&(1u64 << 33).to_be_bytes());
        }
        v.extend_from_slice(&[0xab; 40]); // the two checksums
        v
    }

    #[test]
    fn large_offsets_are_checked_when_read() {
        let idx = PackIndex::new(one_large(1, 2), HashKind::Sha1).unwrap();
        assert_eq!(idx.offset_at(0), Some(1 << 33));
        // Past the table (into the checksums, or beyond the file): opened, but no offset.
        for (escape, large) in [(2, 2), (0, 0), (5, 0), (0x7fff_ffff, 1)] {
            let idx = PackIndex::new(one_large(escape, large), HashKind::Sha1).unwrap();
            assert_eq!(idx.offset_at(0), None, "escape {escape} of {large}");
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            PackIndex::new(vec![0u8; 10], HashKind::Sha1),
            Err(Error::Truncated { .. })
        ));
        let mut v = b"\xfftOc\0\0\0\x03".to_vec();
        v.resize(2000, 0);
        assert_eq!(
            PackIndex::new(v, HashKind::Sha1).unwrap_err(),
            Error::Version(3)
        );
        let mut v = b"\xfftOc\0\0\0\x02".to_vec();
        v.extend_from_slice(&5u32.to_be_bytes());
        v.resize(8 + 1024 + 40, 0);
        assert_eq!(
            PackIndex::new(v, HashKind::Sha1).unwrap_err(),
            Error::FanOut(1)
        );
        let mut v = b"\xfftOc\0\0\0\x02".to_vec();
        v.resize(8 + 1020, 0);
        v.extend_from_slice(&9u32.to_be_bytes());
        v.resize(8 + 1024 + 40, 0);
        assert!(matches!(
            PackIndex::new(v, HashKind::Sha1),
            Err(Error::Truncated { .. })
        ));
    }
}
