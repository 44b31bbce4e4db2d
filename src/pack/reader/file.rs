//! One stored pack: its mapped `.idx`, its `.pack` bytes (through [`PackData`]), entry headers,
//! the reverse index, and inflating entry data.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use flate2::{Decompress, FlushDecompress};
use memmap2::Mmap;

use super::data::{PackData, PackSource};
use super::inflate::inflate_exact;
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
    /// (offset, index position), sorted by offset.
    pub(super) revindex: OnceLock<Vec<(u64, u32)>>,
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

    pub(super) fn revindex(&self) -> &[(u64, u32)] {
        self.revindex.get_or_init(|| {
            if let Some(v) = self.read_rev_file() {
                return v;
            }
            let mut v: Vec<(u64, u32)> = (0..self.index.len())
                .filter_map(|i| self.index.offset_at(i).map(|o| (o, i as u32)))
                .collect();
            v.sort_unstable();
            v
        })
    }

    /// The reverse index from git's `.rev` file (RIDX v1: index positions in pack order), so a
    /// large pack needs no sort; `None` when absent or inconsistent with the index.
    pub(crate) fn read_rev_file(&self) -> Option<Vec<(u64, u32)>> {
        let bytes = std::fs::read(&self.rev_path).ok()?;
        let n = self.index.len();
        let header = [0, 0, 0, 1, 0, 0, 0, self.hash.version_byte()];
        if bytes.len() != 12 + n * 4 + 2 * self.hash.len_in_bytes()
            || &bytes[..4] != b"RIDX"
            || bytes[4..12] != header
        {
            return None;
        }
        let mut v = Vec::with_capacity(n);
        let mut last = None;
        for c in bytes[12..12 + n * 4].chunks_exact(4) {
            let i = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            let offset = self.index.offset_at(i as usize)?;
            if last.is_some_and(|l| l >= offset) {
                return None; // not in pack order: ignore the file
            }
            last = Some(offset);
            v.push((offset, i));
        }
        Some(v)
    }

    /// Where the entry at `offset` ends (the next entry's start, or the trailer).
    pub(super) fn entry_end(&self, offset: u64) -> u64 {
        let rev = self.revindex();
        let trailer = self.trailer_at();
        match rev.binary_search_by_key(&offset, |(o, _)| *o) {
            Ok(i) => rev.get(i + 1).map_or(trailer, |(o, _)| *o),
            Err(_) => trailer,
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
            .read_entry(data_at, &|| self.entry_end(offset))?
            .ok_or_else(|| self.corrupt(offset, "entry data beyond the pack"))
    }

    pub(super) fn id_at_offset(&self, offset: u64) -> Option<ObjectId> {
        let rev = self.revindex();
        let i = rev.binary_search_by_key(&offset, |(o, _)| *o).ok()?;
        self.index.id_at(rev[i].1 as usize)
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

    /// Inflates only the start of a delta to read its result size.
    pub(super) fn delta_result_size(&self, offset: u64, info: &EntryInfo) -> Result<u64, Error> {
        let input = self.entry_data(offset, info.data_at)?;
        let mut z = Decompress::new(true);
        let mut out = [0u8; 32];
        let _ = z.decompress(&input, &mut out, FlushDecompress::None);
        let got = (z.total_out() as usize).min(out.len());
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
        let end = self.entry_end(offset);
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
