//! One stored pack: its mapped `.idx`, its `.pack` bytes (through [`PackData`]), entry headers,
//! the reverse index, and inflating entry data.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use memmap2::Mmap;

use super::data::{PackData, PackSource};
use super::inflate::{inflate_exact, inflate_prefix};
use super::rev::RevIndex;
use super::Error;
use crate::hash::{HashKind, ObjectId};
use crate::odb::mmap::map;
use crate::odb::store::{RawEntry, StoredForm};
use crate::pack::delta;
use crate::pack::entry::{decode_header, decode_ofs_distance, EntryType};
use crate::pack::index::PackIndex;

/// Longest entry header with its delta base reference: a type/size varint, then an offset
/// varint or a base id (32 bytes at most).
const HEADER_WINDOW: u64 = 64;

/// Largest object we inflate (a limit against inflate bombs from damaged storage).
pub const MAX_OBJECT: u64 = 8 << 30;

/// One pack: its index, its data, and a lazily built reverse index (sorted offsets).
pub struct PackFile {
    pub(super) name: String,
    pub(crate) index: PackIndex<Mmap>,
    /// The pack's bytes (mapped, or read in ranges from a store).
    pub(super) data: Box<dyn PackData>,
    /// The entries in pack order, loaded on first use.
    pub(super) revindex: OnceLock<RevIndex>,
    /// Where git's reverse index (`.rev`) for this pack would be.
    pub(crate) rev_path: PathBuf,
    /// The repository's hash: width of REF_DELTA bases and of the trailer.
    pub(super) hash: HashKind,
}

impl PackFile {
    /// Opens the pack whose index is `idx_path` (ids of `hash`), its data through `source`;
    /// `None` when `source` has no `.pack` for it (git ignores an `.idx` without its pack).
    pub fn open(
        idx_path: &Path,
        hash: HashKind,
        source: &dyn PackSource,
    ) -> Result<Option<PackFile>, Error> {
        let pack_path = idx_path.with_extension("pack");
        let Some(data) = source.open(&pack_path)? else {
            return Ok(None);
        };
        let name = pack_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let index = PackIndex::new(map(idx_path)?, hash)
            .map_err(|e| Error::corrupt(idx_path.display().to_string(), e.to_string()))?;
        if data.size() < 12 + hash.len_in_bytes() as u64 {
            return Err(Error::corrupt(name, "not a pack file"));
        }
        Ok(Some(PackFile {
            name,
            index,
            data,
            revindex: OnceLock::new(),
            rev_path: idx_path.with_extension("rev"),
            hash,
        }))
    }

    /// The reverse index, loaded on first use.
    pub(super) fn revindex(&self) -> &RevIndex {
        self.revindex
            .get_or_init(|| RevIndex::load(&self.rev_path, &self.index, self.hash))
    }

    /// (offset, index position) of the entry at pack position `pos`.
    pub(super) fn rev_at(&self, pos: usize) -> Option<(u64, u32)> {
        self.revindex().get(pos, &self.index)
    }

    /// For tests, from the reverse index loaded afresh: whether git's `.rev` file was used, every
    /// entry in pack order, and for each index position what looking up its offset finds.
    #[cfg(test)]
    #[allow(clippy::type_complexity)]
    pub(crate) fn rev_snapshot(&self) -> (bool, Vec<(u64, u32)>, Vec<Option<(u64, u32)>>) {
        let rev = RevIndex::load(&self.rev_path, &self.index, self.hash);
        let order = (0..rev.len(&self.index))
            .filter_map(|p| rev.get(p, &self.index))
            .collect();
        let found = (0..self.index.len())
            .map(|i| {
                let offset = self.index.offset_at(i)?;
                rev.get(rev.position(offset, &self.index)?, &self.index)
            })
            .collect();
        (matches!(rev, RevIndex::Mapped(_)), order, found)
    }

    /// Pack position of the entry starting at `offset`, if one does.
    pub(super) fn rev_position(&self, offset: u64) -> Option<usize> {
        self.revindex().position(offset, &self.index)
    }

    /// Where the entry at `offset` ends (the next entry's start, or the trailer); `None` when
    /// no entry starts at `offset` or the next one does not start after it (a damaged `.rev`).
    pub(super) fn entry_end(&self, offset: u64) -> Option<u64> {
        let i = self.rev_position(offset)?;
        match self.rev_at(i + 1) {
            Some((next, _)) => (next > offset).then_some(next),
            None => Some(self.trailer_at()),
        }
    }

    /// Where the pack's trailing checksum starts (entries end there).
    pub(super) fn trailer_at(&self) -> u64 {
        self.data
            .size()
            .saturating_sub(self.hash.len_in_bytes() as u64)
    }

    /// The entry data starting at `data_at` (of the entry at `offset`), at least to its end.
    pub(super) fn entry_data(&self, offset: u64, data_at: u64) -> Result<Cow<'_, [u8]>, Error> {
        self.data
            .read_entry(data_at, &|| {
                self.entry_end(offset).unwrap_or_else(|| self.trailer_at())
            })?
            .ok_or_else(|| self.corrupt(offset, "entry data beyond the pack"))
    }

    pub(super) fn id_at_offset(&self, offset: u64) -> Option<ObjectId> {
        let (_, i) = self.rev_at(self.rev_position(offset)?)?;
        self.index.id_at(i as usize)
    }

    pub(super) fn corrupt(&self, offset: u64, what: impl std::fmt::Display) -> Error {
        Error::corrupt(
            format!("{} at offset {offset}", self.name),
            what.to_string(),
        )
    }

    /// Decodes the entry header at `offset`: (type, size, data start, delta base).
    pub(super) fn entry(&self, offset: u64) -> Result<EntryInfo, Error> {
        let end = offset.saturating_add(HEADER_WINDOW).min(self.trailer_at());
        let buf = (offset < end)
            .then(|| self.data.read(offset..end))
            .transpose()?
            .flatten()
            .ok_or_else(|| self.corrupt(offset, "offset beyond the pack"))?;
        let buf: &[u8] = &buf;
        let (ty, size, used) = decode_header(buf).map_err(|e| self.corrupt(offset, e))?;
        let mut data_at = offset + used as u64;
        let base = match ty {
            EntryType::OfsDelta => {
                let (dist, n) = decode_ofs_distance(buf.get(used..).unwrap_or(&[]))
                    .map_err(|e| self.corrupt(offset, e))?;
                data_at += n as u64;
                let base = offset
                    .checked_sub(dist)
                    .filter(|_| dist > 0)
                    .ok_or_else(|| self.corrupt(offset, "ofs-delta base before the pack start"))?;
                Base::Offset(base)
            }
            EntryType::RefDelta => {
                let width = self.hash.len_in_bytes();
                let raw = buf
                    .get(used..used + width)
                    .ok_or_else(|| self.corrupt(offset, "truncated ref-delta base"))?;
                data_at += width as u64;
                Base::Id(ObjectId::from_bytes(raw).map_err(|e| self.corrupt(offset, e))?)
            }
            _ => Base::None,
        };
        Ok(EntryInfo {
            ty,
            size,
            data_at,
            base,
        })
    }

    /// Inflates the entry data at `info`, which must be exactly `info.size` bytes.
    pub(super) fn inflate(&self, offset: u64, info: &EntryInfo) -> Result<Vec<u8>, Error> {
        if info.size > MAX_OBJECT {
            return Err(Error::Limit(format!(
                "object of {} bytes in {}",
                info.size, self.name
            )));
        }
        let input = self.entry_data(offset, info.data_at)?;
        inflate_exact(&input, info.size as usize).map_err(|e| self.corrupt(offset, e))
    }

    /// Inflates the entry at `offset` (a whole object) only as far as `head_len` needs (see
    /// [`super::inflate::inflate_head`]).
    pub(super) fn inflate_head(
        &self,
        offset: u64,
        info: &EntryInfo,
        head_len: impl Fn(&[u8]) -> Option<usize>,
    ) -> Result<Vec<u8>, Error> {
        if info.size > MAX_OBJECT {
            return Err(Error::Limit(format!(
                "object of {} bytes in {}",
                info.size, self.name
            )));
        }
        let input = self.entry_data(offset, info.data_at)?;
        super::inflate::inflate_head(&input, info.size as usize, head_len)
            .map_err(|e| self.corrupt(offset, e))
    }

    /// Inflates only the start of a delta to read its result size.
    pub(super) fn delta_result_size(&self, offset: u64, info: &EntryInfo) -> Result<u64, Error> {
        let input = self.entry_data(offset, info.data_at)?;
        let mut out = [0u8; 32];
        let got = inflate_prefix(&input, &mut out);
        delta::header(&out[..got])
            .map(|(_, result, _)| result)
            .map_err(|e| self.corrupt(offset, e))
    }
}

impl PackFile {
    /// The pack's file name (`pack-<checksum>.pack`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the pack has no entries.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The entry at `offset` as stored, for reuse: its compressed bytes (borrowed where the
    /// data is mapped) and what they inflate to.
    pub(super) fn raw_entry(&self, offset: u64) -> Result<RawEntry<'_>, Error> {
        let info = self.entry(offset)?;
        let end = self
            .entry_end(offset)
            .ok_or_else(|| self.corrupt(offset, "not an entry of the reverse index"))?;
        let compressed = (info.data_at <= end)
            .then(|| self.data.read(info.data_at..end))
            .transpose()?
            .flatten()
            .ok_or_else(|| self.corrupt(offset, "entry extends past the next one"))?;
        let (form, depth) = match info.base {
            Base::None => (StoredForm::Whole, 0),
            // The chain length is whatever git chose when it made the pack (its own depth limit
            // applies); computing it would mean walking the chain for every entry.
            Base::Offset(b) => {
                let base = self
                    .id_at_offset(b)
                    .ok_or_else(|| self.corrupt(offset, "ofs-delta base is not an entry"))?;
                (StoredForm::Delta { base }, 1)
            }
            Base::Id(base) => (StoredForm::Delta { base }, 1),
        };
        Ok(RawEntry {
            form,
            inflated_size: info.size,
            compressed,
            delta_depth: depth,
        })
    }
}

pub(super) enum Base {
    None,
    Offset(u64),
    Id(ObjectId),
}

pub(super) struct EntryInfo {
    pub(super) ty: EntryType,
    pub(super) size: u64,
    pub(super) data_at: u64,
    pub(super) base: Base,
}
