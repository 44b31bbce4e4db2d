//! [`FileStoredPack`]: one pack as upload-pack reuses it (entries in pack order, the bitmap).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use memmap2::Mmap;

use super::file::{Base, PackFile};
use super::Error;
use crate::hash::ObjectId;
use crate::odb::mmap::map;
use crate::odb::store::Error as StoreError;
use crate::odb::Kind;
use crate::pack::bitmap::PackBitmaps;
use crate::pack::stored::{EntryBase, PackedEntry, StoredPack};

/// A pack, with its reachability bitmap when it has one: the [`StoredPack`] of packs kept as
/// `.pack` + `.idx` (+ `.bitmap`).
pub struct FileStoredPack {
    pub(super) pack: Arc<PackFile>,
    pub(super) bitmaps: Option<PackBitmaps<Mmap>>,
    /// `.idx` position → pack position, built on first use (a fetch that only asks whether
    /// objects are here never needs it).
    pub(super) idx_to_pos: OnceLock<Vec<u32>>,
}

impl FileStoredPack {
    /// `pack` with the bitmap at `bitmap` (validated against it), or without one.
    pub(super) fn open(
        pack: Arc<PackFile>,
        bitmap: Option<&Path>,
    ) -> Result<FileStoredPack, Error> {
        let bitmaps = match bitmap {
            Some(path) => {
                let checksum = pack
                    .index
                    .pack_checksum()
                    .ok_or_else(|| Error::corrupt(&pack.name, "index has no pack checksum"))?;
                Some(
                    PackBitmaps::new(map(path)?, &checksum, pack.index.len())
                        .map_err(|e| Error::corrupt(path.display().to_string(), e.to_string()))?,
                )
            }
            None => None,
        };
        Ok(FileStoredPack {
            pack,
            bitmaps,
            idx_to_pos: OnceLock::new(),
        })
    }

    /// `.idx` position → pack position.
    fn idx_to_pos(&self) -> &[u32] {
        self.idx_to_pos.get_or_init(|| {
            let n = self.pack.index.len();
            let mut v = vec![0u32; n];
            for pos in 0..n {
                if let Some((_, i)) = self.pack.rev_at(pos) {
                    if let Some(slot) = v.get_mut(i as usize) {
                        *slot = pos as u32;
                    }
                }
            }
            v
        })
    }

    pub(super) fn offset_at(&self, pos: usize) -> Result<u64, Error> {
        self.pack
            .rev_at(pos)
            .map(|(o, _)| o)
            .ok_or_else(|| Error::corrupt(&self.pack.name, format!("no entry at position {pos}")))
    }

    pub(super) fn end_of(&self, pos: usize) -> u64 {
        self.pack
            .rev_at(pos + 1)
            .map_or(self.pack.trailer_at(), |(o, _)| o)
    }
}

impl StoredPack for FileStoredPack {
    fn object_count(&self) -> usize {
        self.pack.index.len()
    }

    fn position(&self, id: &ObjectId) -> Option<usize> {
        let i = self.pack.index.find(id)?;
        self.idx_to_pos().get(i).map(|p| *p as usize)
    }

    fn contains(&self, id: &ObjectId) -> bool {
        self.pack.index.find(id).is_some()
    }

    fn id_at(&self, pos: usize) -> Option<ObjectId> {
        let (_, i) = self.pack.rev_at(pos)?;
        self.pack.index.id_at(i as usize)
    }

    fn kind_at(&self, pos: usize) -> Option<Kind> {
        self.bitmaps.as_ref()?.kind_at(pos)
    }

    fn name_hash_at(&self, pos: usize) -> Option<u32> {
        let bitmaps = self.bitmaps.as_ref()?;
        bitmaps.name_hash_at(self.pack.rev_at(pos)?.1)
    }

    fn closure(&self, id: &ObjectId) -> Result<Option<crate::pack::ewah::Bitmap>, StoreError> {
        let (Some(bitmaps), Some(i)) = (&self.bitmaps, self.pack.index.find(id)) else {
            return Ok(None);
        };
        bitmaps.closure(i as u32).map_err(|e| {
            StoreError::corrupt(format!("bitmap of {}", self.pack.name), e.to_string())
        })
    }

    fn entry(&self, pos: usize) -> Result<PackedEntry<'_>, StoreError> {
        let offset = self.offset_at(pos)?;
        let end = self.end_of(pos);
        let info = self.pack.entry(offset)?;
        let base = match info.base {
            Base::None => EntryBase::None,
            Base::Offset(o) => {
                let pos = self
                    .pack
                    .rev_position(o)
                    .ok_or_else(|| self.pack.corrupt(offset, "ofs-delta base is not an entry"))?;
                EntryBase::InPack {
                    pos,
                    by_offset: true,
                }
            }
            Base::Id(id) => match self.position(&id) {
                Some(pos) => EntryBase::InPack {
                    pos,
                    by_offset: false,
                },
                None => EntryBase::Outside(id),
            },
        };
        let compressed = (info.data_at <= end)
            .then(|| self.pack.data.read(info.data_at..end))
            .transpose()?
            .flatten()
            .ok_or_else(|| self.pack.corrupt(offset, "entry extends past the next one"))?;
        Ok(PackedEntry {
            offset,
            stored_len: end - offset,
            base,
            inflated_size: info.size,
            compressed,
        })
    }

    fn whole_pack_trailer(&self) -> Option<ObjectId> {
        let data = &self.pack.data;
        let header = data.read(0..12).ok()??;
        let count = u32::from_be_bytes(header.get(8..12)?.try_into().ok()?);
        let ok = header.get(..8)? == b"PACK\0\0\0\x02" && count as usize == self.object_count();
        let trailer = ok
            .then(|| {
                data.read(self.pack.trailer_at()..data.size())
                    .ok()
                    .flatten()
            })
            .flatten()?;
        ObjectId::from_bytes(&trailer).ok()
    }

    fn copy_entries(
        &self,
        from: usize,
        to: usize,
        out: &mut dyn std::io::Write,
    ) -> Result<(), StoreError> {
        if from >= to {
            return Ok(());
        }
        let start = self.offset_at(from)?;
        let end = self.end_of(to - 1);
        if start > end {
            return Err(self.pack.corrupt(start, "entries beyond the pack").into());
        }
        Ok(self.pack.data.copy(start..end, out)?)
    }
}
