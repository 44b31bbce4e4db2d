//! The reverse index of one pack: its entries in pack order, so an entry's end (the next one's
//! start) and the id at an offset can be found.
//!
//! git's `.rev` file (RIDX v1) is mapped and read in place, as git's `load_pack_revindex` does:
//! an incremental fetch touches a few of its pages instead of copying and checking all of it
//! (for a pack of 150,000 objects, reading it into a table was a fifth of a small fetch's CPU,
//! most of it page faults). Without a usable file the table is built by sorting the index's
//! offsets. The file is checked for its header, size and pack checksum when opened; its entries
//! are trusted as git trusts them, except that a lookup which does not land on the offset it
//! looked for is an error, never another entry.

use std::path::Path;

use memmap2::Mmap;

use crate::hash::HashKind;
use crate::odb::mmap::map;
use crate::pack::index::PackIndex;

/// Bytes before the entries of a `.rev` file: `RIDX`, version 1, hash function id.
const HEADER: usize = 12;

/// Entries of a pack in pack order: (offset, index position) at each position.
pub(super) enum RevIndex {
    /// git's `.rev` file: big-endian index positions in pack order.
    Mapped(Mmap),
    /// (offset, index position), sorted by offset: built when there is no usable `.rev`.
    Built(Vec<(u64, u32)>),
}

impl RevIndex {
    /// The reverse index of the pack indexed by `index`: its `.rev` at `rev_path` mapped when
    /// that file belongs to this pack, else built from `index`.
    pub(super) fn load(rev_path: &Path, index: &PackIndex<Mmap>, hash: HashKind) -> Self {
        match Self::mapped(rev_path, index, hash) {
            Some(m) => RevIndex::Mapped(m),
            None => RevIndex::Built(Self::sorted(index)),
        }
    }

    /// The `.rev` at `rev_path`, when its header, size and pack checksum match `index`.
    fn mapped(rev_path: &Path, index: &PackIndex<Mmap>, hash: HashKind) -> Option<Mmap> {
        let bytes = map(rev_path).ok()?;
        let n = index.len();
        let id_len = hash.len_in_bytes();
        let header = [0, 0, 0, 1, 0, 0, 0, hash.version_byte()];
        let entries_end = HEADER.checked_add(n.checked_mul(4)?)?;
        let ok = bytes.len() == entries_end.checked_add(2 * id_len)?
            && bytes.get(..4) == Some(b"RIDX")
            && bytes.get(4..HEADER) == Some(&header[..])
            && index.pack_checksum().as_ref().map(|c| c.as_bytes())
                == bytes.get(entries_end..entries_end + id_len);
        ok.then_some(bytes)
    }

    /// The index's offsets, sorted.
    fn sorted(index: &PackIndex<Mmap>) -> Vec<(u64, u32)> {
        let mut v: Vec<(u64, u32)> = (0..index.len())
            .filter_map(|i| index.offset_at(i).map(|o| (o, i as u32)))
            .collect();
        v.sort_unstable();
        v
    }

    /// Number of entries.
    #[cfg(test)]
    pub(super) fn len(&self, index: &PackIndex<Mmap>) -> usize {
        match self {
            RevIndex::Mapped(_) => index.len(),
            RevIndex::Built(v) => v.len(),
        }
    }

    /// (offset, index position) of the entry at pack position `pos`.
    pub(super) fn get(&self, pos: usize, index: &PackIndex<Mmap>) -> Option<(u64, u32)> {
        match self {
            RevIndex::Mapped(m) => {
                if pos >= index.len() {
                    return None;
                }
                let at = HEADER + pos * 4;
                let b = m.get(at..at + 4)?;
                let i = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                Some((index.offset_at(i as usize)?, i))
            }
            RevIndex::Built(v) => v.get(pos).copied(),
        }
    }

    /// Pack position of the entry starting at `offset`; `None` when no entry starts there (or
    /// a damaged `.rev` hides it).
    pub(super) fn position(&self, offset: u64, index: &PackIndex<Mmap>) -> Option<usize> {
        match self {
            RevIndex::Mapped(_) => {
                let (mut lo, mut hi) = (0, index.len());
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    let (o, _) = self.get(mid, index)?;
                    match o.cmp(&offset) {
                        std::cmp::Ordering::Less => lo = mid + 1,
                        std::cmp::Ordering::Greater => hi = mid,
                        std::cmp::Ordering::Equal => return Some(mid),
                    }
                }
                None
            }
            RevIndex::Built(v) => v.binary_search_by_key(&offset, |(o, _)| *o).ok(),
        }
    }
}
