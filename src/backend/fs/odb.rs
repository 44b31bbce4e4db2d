//! The object database of an on-disk repository: loose objects, packs (`.idx` v1/v2 + `.pack`)
//! and `objects/info/alternates`.
//!
//! Packs and indexes are memory-mapped; lookups are binary searches in the mapped index, and
//! entry data is borrowed straight from the map for pack reuse. Deltas are resolved iteratively
//! (chains can be thousands deep) with a byte-bounded cache of delta bases, so walking a history
//! whose objects share long chains is not quadratic.
//! A `multi-pack-index`, when present and valid, answers lookups for the packs it covers with
//! one binary search; packs it does not cover (newer than it) are searched through their `.idx`.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use flate2::{Decompress, FlushDecompress, Status};
use memmap2::Mmap;

use super::pack_data::{LocalPacks, PackData, PackSource};
use crate::backend::{EntryBase, Error, PackedEntry, RawEntry, StoredForm, StoredPack};
use crate::hash::{HashKind, ObjectId};
use crate::odb::commit_graph::CommitGraph;
use crate::odb::mmap::map;
use crate::odb::{loose, Kind, Object};
use crate::pack::bitmap::PackBitmaps;
use crate::pack::delta;
use crate::pack::entry::{decode_header, decode_ofs_distance, EntryType};
use crate::pack::index::PackIndex;
use crate::pack::midx::MultiPackIndex;

/// Largest object we inflate (a limit against inflate bombs from damaged storage).
const MAX_OBJECT: u64 = 8 << 30;
/// Byte budget of the delta-base cache (git's core.deltaBaseCacheLimit default).
const CACHE_BYTES: usize = 96 << 20;
/// Most entries in the delta-base cache. A history walk only ever needs the bases of the last
/// few hundred commits' trees; without a count limit a clone of 50,000 small-tree commits kept
/// 30,000 intermediate trees (8.5 MB, a quarter of its heap) that it never read again. Large
/// bases are still bounded by bytes alone.
const CACHE_ENTRIES: usize = 4096;
/// Longest entry header with its delta base reference: a type/size varint, then an offset
/// varint or a base id.
const HEADER_WINDOW: u64 = 64;
/// Deepest delta chain followed.
const MAX_CHAIN: usize = 10_000;

/// One pack: its index, its data, and a lazily built reverse index (sorted offsets).
struct Pack {
    name: String,
    index: PackIndex<Mmap>,
    /// The pack's bytes (mapped, or read in ranges from a store).
    data: Box<dyn PackData>,
    /// (offset, index position), sorted by offset.
    revindex: OnceLock<Vec<(u64, u32)>>,
    /// Where git's reverse index (`.rev`) for this pack would be.
    rev_path: PathBuf,
}

impl Pack {
    fn open(idx_path: &Path, source: &dyn PackSource) -> Result<Option<Pack>, Error> {
        let pack_path = idx_path.with_extension("pack");
        let Some(data) = source.open(&pack_path)? else {
            return Ok(None);
        };
        let name = pack_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let index = PackIndex::new(map(idx_path)?, HashKind::Sha1)
            .map_err(|e| Error::corrupt(idx_path.display().to_string(), e.to_string()))?;
        if data.size() < 32 {
            return Err(Error::corrupt(name, "not a pack file"));
        }
        Ok(Some(Pack {
            name,
            index,
            data,
            revindex: OnceLock::new(),
            rev_path: idx_path.with_extension("rev"),
        }))
    }

    fn revindex(&self) -> &[(u64, u32)] {
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
    fn read_rev_file(&self) -> Option<Vec<(u64, u32)>> {
        let bytes = std::fs::read(&self.rev_path).ok()?;
        let n = self.index.len();
        if bytes.len() != 12 + n * 4 + 40
            || &bytes[..4] != b"RIDX"
            || bytes[4..12] != [0, 0, 0, 1, 0, 0, 0, 1]
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
    fn entry_end(&self, offset: u64) -> u64 {
        let rev = self.revindex();
        let trailer = self.trailer_at();
        match rev.binary_search_by_key(&offset, |(o, _)| *o) {
            Ok(i) => rev.get(i + 1).map_or(trailer, |(o, _)| *o),
            Err(_) => trailer,
        }
    }

    /// Where the trailing checksum begins (entries end there).
    fn trailer_at(&self) -> u64 {
        self.data.size().saturating_sub(20)
    }

    /// The entry data starting at `data_at` (of the entry at `offset`), at least to its end.
    fn entry_data(&self, offset: u64, data_at: u64) -> Result<Cow<'_, [u8]>, Error> {
        self.data
            .read_entry(data_at, &|| self.entry_end(offset))?
            .ok_or_else(|| self.corrupt(offset, "entry data beyond the pack"))
    }

    fn id_at_offset(&self, offset: u64) -> Option<ObjectId> {
        let rev = self.revindex();
        let i = rev.binary_search_by_key(&offset, |(o, _)| *o).ok()?;
        self.index.id_at(rev[i].1 as usize)
    }

    fn corrupt(&self, offset: u64, what: impl std::fmt::Display) -> Error {
        Error::corrupt(
            format!("{} at offset {offset}", self.name),
            what.to_string(),
        )
    }

    /// Decodes the entry header at `offset`: (type, size, data start, delta base).
    fn entry(&self, offset: u64) -> Result<EntryInfo, Error> {
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
                let raw = buf
                    .get(used..used + 20)
                    .ok_or_else(|| self.corrupt(offset, "truncated ref-delta base"))?;
                data_at += 20;
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
    fn inflate(&self, offset: u64, info: &EntryInfo) -> Result<Vec<u8>, Error> {
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
    fn delta_result_size(&self, offset: u64, info: &EntryInfo) -> Result<u64, Error> {
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

/// A pack, with its reachability bitmap when it has one: the [`StoredPack`] of an on-disk
/// repository.
pub struct FsStoredPack {
    pack: Arc<Pack>,
    bitmaps: Option<PackBitmaps<Mmap>>,
    /// `.idx` position → pack position.
    idx_to_pos: Vec<u32>,
}

impl FsStoredPack {
    /// `pack` with the bitmap at `bitmap` (validated against it), or without one.
    fn open(pack: Arc<Pack>, bitmap: Option<&Path>) -> Result<FsStoredPack, Error> {
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
        let mut idx_to_pos = vec![0u32; pack.index.len()];
        for (pos, (_, i)) in pack.revindex().iter().enumerate() {
            idx_to_pos[*i as usize] = pos as u32;
        }
        Ok(FsStoredPack {
            pack,
            bitmaps,
            idx_to_pos,
        })
    }

    fn offset_at(&self, pos: usize) -> Result<u64, Error> {
        self.pack
            .revindex()
            .get(pos)
            .map(|(o, _)| *o)
            .ok_or_else(|| Error::corrupt(&self.pack.name, format!("no entry at position {pos}")))
    }

    fn end_of(&self, pos: usize) -> u64 {
        self.pack
            .revindex()
            .get(pos + 1)
            .map_or(self.pack.trailer_at(), |(o, _)| *o)
    }
}

impl StoredPack for FsStoredPack {
    fn object_count(&self) -> usize {
        self.pack.index.len()
    }

    fn position(&self, id: &ObjectId) -> Option<usize> {
        let i = self.pack.index.find(id)?;
        self.idx_to_pos.get(i).map(|p| *p as usize)
    }

    fn id_at(&self, pos: usize) -> Option<ObjectId> {
        let (_, i) = self.pack.revindex().get(pos)?;
        self.pack.index.id_at(*i as usize)
    }

    fn kind_at(&self, pos: usize) -> Option<Kind> {
        self.bitmaps.as_ref()?.kind_at(pos)
    }

    fn closure(&self, id: &ObjectId) -> Result<Option<crate::pack::ewah::Bitmap>, Error> {
        let (Some(bitmaps), Some(i)) = (&self.bitmaps, self.pack.index.find(id)) else {
            return Ok(None);
        };
        bitmaps
            .closure(i as u32)
            .map_err(|e| Error::corrupt(format!("bitmap of {}", self.pack.name), e.to_string()))
    }

    fn entry(&self, pos: usize) -> Result<PackedEntry<'_>, Error> {
        let offset = self.offset_at(pos)?;
        let end = self.end_of(pos);
        let info = self.pack.entry(offset)?;
        let base = match info.base {
            Base::None => EntryBase::None,
            Base::Offset(o) => {
                let rev = self.pack.revindex();
                let pos = rev
                    .binary_search_by_key(&o, |(off, _)| *off)
                    .map_err(|_| self.pack.corrupt(offset, "ofs-delta base is not an entry"))?;
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
    ) -> Result<(), Error> {
        if from >= to {
            return Ok(());
        }
        let start = self.offset_at(from)?;
        let end = self.end_of(to - 1);
        if start > end {
            return Err(self.pack.corrupt(start, "entries beyond the pack"));
        }
        self.pack.data.copy(start..end, out)
    }
}

thread_local! {
    /// One inflater per thread, reset between objects: creating one per object (state and
    /// window allocation, zeroing) showed up as several percent of a clone's time.
    static INFLATER: std::cell::RefCell<Option<Decompress>> = const { std::cell::RefCell::new(None) };
}

/// Inflates zlib `input` into exactly `size` bytes (more or less is an error).
fn inflate_exact(input: &[u8], size: usize) -> Result<Vec<u8>, String> {
    let mut z = INFLATER
        .with(|c| c.borrow_mut().take())
        .map(|mut z| {
            z.reset(true);
            z
        })
        .unwrap_or_else(|| Decompress::new(true));
    let result = inflate_exact_with(&mut z, input, size);
    INFLATER.with(|c| *c.borrow_mut() = Some(z));
    result
}

fn inflate_exact_with(z: &mut Decompress, input: &[u8], size: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(size);
    loop {
        let before_out = z.total_out();
        let consumed = z.total_in() as usize;
        let status = z
            .decompress_vec(
                input.get(consumed..).unwrap_or(&[]),
                &mut out,
                FlushDecompress::Finish,
            )
            .map_err(|e| format!("zlib: {e}"))?;
        match status {
            Status::StreamEnd => break,
            _ if out.len() == out.capacity() => {
                // Output full but stream not ended: the entry is larger than declared, unless
                // only the end marker remains.
                let mut probe = [0u8; 1];
                let z2 = z;
                let consumed = z2.total_in() as usize;
                let st = z2
                    .decompress(
                        input.get(consumed..).unwrap_or(&[]),
                        &mut probe,
                        FlushDecompress::Finish,
                    )
                    .map_err(|e| format!("zlib: {e}"))?;
                if st == Status::StreamEnd && z2.total_out() == out.len() as u64 {
                    break;
                }
                return Err(format!(
                    "entry inflates to more than its declared {size} bytes"
                ));
            }
            _ if z.total_out() == before_out && z.total_in() as usize == consumed => {
                return Err("truncated zlib stream".into());
            }
            _ => {}
        }
    }
    if out.len() != size {
        return Err(format!(
            "entry inflates to {} bytes, declared {size}",
            out.len()
        ));
    }
    Ok(out)
}

enum Base {
    None,
    Offset(u64),
    Id(ObjectId),
}

struct EntryInfo {
    ty: EntryType,
    size: u64,
    data_at: u64,
    base: Base,
}

/// A FIFO cache of delta bases, bounded in bytes and entries: (pack number, offset) → object.
#[derive(Default)]
struct BaseCache {
    map: HashMap<(usize, u64), (Kind, Arc<Vec<u8>>)>,
    order: VecDeque<(usize, u64)>,
    bytes: usize,
}

impl BaseCache {
    fn get(&self, key: &(usize, u64)) -> Option<(Kind, Arc<Vec<u8>>)> {
        self.map.get(key).cloned()
    }

    fn put(&mut self, key: (usize, u64), kind: Kind, data: Arc<Vec<u8>>) {
        if data.len() > CACHE_BYTES / 4 || self.map.contains_key(&key) {
            return;
        }
        self.bytes += data.len();
        self.map.insert(key, (kind, data));
        self.order.push_back(key);
        while self.bytes > CACHE_BYTES || self.order.len() > CACHE_ENTRIES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, d)) = self.map.remove(&old) {
                self.bytes -= d.len();
            }
        }
    }
}

/// All objects reachable through one `objects/` directory and its alternates.
pub struct FsObjectStore {
    dir: PathBuf,
    packs: Vec<Arc<Pack>>,
    /// The pack with a reachability bitmap, opened on first use.
    bitmapped: OnceLock<Option<FsStoredPack>>,
    /// `info/commit-graph`, opened on first use.
    commit_graph: OnceLock<Option<CommitGraph<Mmap>>>,
    /// The largest pack, when it is not the bitmapped one, opened on first use.
    largest: OnceLock<Option<FsStoredPack>>,
    /// The multi-pack-index, if any, and for each of its pack numbers our pack number.
    midx: Option<Midx>,
    /// Packs the multi-pack-index does not cover (all packs when there is none).
    uncovered: Vec<usize>,
    alternates: Vec<FsObjectStore>,
    cache: Mutex<BaseCache>,
}

struct Midx {
    index: MultiPackIndex<Mmap>,
    packs: Vec<usize>,
}

/// Opens `pack_dir/multi-pack-index` if it is valid and every pack it names is open in `packs`;
/// anything else (absent, damaged, a pack gone after a repack) means it is not used.
fn open_midx(pack_dir: &Path, packs: &[Arc<Pack>]) -> Option<Midx> {
    let path = pack_dir.join("multi-pack-index");
    if !path.exists() {
        return None;
    }
    let index = match map(&path).map(|m| MultiPackIndex::new(m, HashKind::Sha1)) {
        Ok(Ok(index)) => index,
        Ok(Err(e)) => {
            tracing::warn!(path = %path.display(), error = %e, "multi-pack-index not used");
            return None;
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "multi-pack-index not used");
            return None;
        }
    };
    let mapping: Option<Vec<usize>> = index
        .pack_names()
        .iter()
        .map(|idx_name| {
            let pack_name = idx_name.strip_suffix(".idx").unwrap_or(idx_name);
            packs
                .iter()
                .position(|p| p.name.strip_suffix(".pack") == Some(pack_name))
        })
        .collect();
    match mapping {
        Some(packs) => Some(Midx { index, packs }),
        None => {
            tracing::debug!(path = %path.display(), "multi-pack-index names a missing pack");
            None
        }
    }
}

impl std::fmt::Debug for FsObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsObjectStore")
            .field("dir", &self.dir)
            .field("packs", &self.packs.len())
            .field("alternates", &self.alternates)
            .finish()
    }
}

impl FsObjectStore {
    /// Opens the object directory `objects_dir` (e.g. `repo.git/objects`), following
    /// `info/alternates` (recursively, at most 5 levels as git does).
    pub fn open(objects_dir: &Path) -> Result<FsObjectStore, Error> {
        Self::open_with(objects_dir, &LocalPacks)
    }

    /// [`FsObjectStore::open`] reading pack data through `source` (the indexes are local
    /// files either way).
    pub fn open_with(objects_dir: &Path, source: &dyn PackSource) -> Result<FsObjectStore, Error> {
        Self::open_depth(objects_dir, source, 0, &mut Vec::new())
    }

    fn open_depth(
        dir: &Path,
        source: &dyn PackSource,
        depth: usize,
        seen: &mut Vec<PathBuf>,
    ) -> Result<FsObjectStore, Error> {
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        seen.push(canonical);
        let mut packs = Vec::new();
        let pack_dir = dir.join("pack");
        if let Ok(entries) = std::fs::read_dir(&pack_dir) {
            let mut idx_paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "idx"))
                .collect();
            // Newest first: recently pushed objects are looked up most.
            idx_paths
                .sort_by_key(|p| std::cmp::Reverse(p.metadata().and_then(|m| m.modified()).ok()));
            for p in idx_paths {
                match Pack::open(&p, source) {
                    Ok(Some(pack)) => packs.push(Arc::new(pack)),
                    Ok(None) => {}
                    // Removed since the listing (a repack or gc finished meanwhile): its objects
                    // are in the pack that replaced it, which this scan found or a re-scan will.
                    Err(_) if !p.exists() || !p.with_extension("pack").exists() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let mut alternates = Vec::new();
        if depth < 5 {
            if let Ok(text) = std::fs::read_to_string(dir.join("info/alternates")) {
                for line in text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                {
                    let p = Path::new(line);
                    let alt = if p.is_absolute() {
                        p.to_path_buf()
                    } else {
                        dir.join(p)
                    };
                    let canonical = alt.canonicalize().unwrap_or_else(|_| alt.clone());
                    if seen.contains(&canonical) || !alt.is_dir() {
                        continue;
                    }
                    alternates.push(Self::open_depth(&alt, source, depth + 1, seen)?);
                }
            }
        }
        let midx = open_midx(&pack_dir, &packs);
        let uncovered = (0..packs.len())
            .filter(|n| !midx.as_ref().is_some_and(|m| m.packs.contains(n)))
            .collect();
        Ok(FsObjectStore {
            dir: dir.to_path_buf(),
            packs,
            bitmapped: OnceLock::new(),
            largest: OnceLock::new(),
            commit_graph: OnceLock::new(),
            midx,
            uncovered,
            alternates,
            cache: Mutex::new(BaseCache::default()),
        })
    }

    /// The directories of the alternates (direct ones only).
    pub fn alternate_dirs(&self) -> Vec<PathBuf> {
        self.alternates.iter().map(|a| a.dir.clone()).collect()
    }

    fn loose_path(&self, id: &ObjectId) -> PathBuf {
        let hex = id.to_hex();
        self.dir.join(&hex[..2]).join(&hex[2..])
    }

    fn read_loose_file(&self, id: &ObjectId) -> Result<Option<Vec<u8>>, Error> {
        let path = self.loose_path(id);
        match File::open(&path) {
            Ok(mut f) => {
                let mut buf = Vec::new();
                f.read_to_end(&mut buf)
                    .map_err(|e| Error::io(path.display().to_string(), e))?;
                Ok(Some(buf))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path.display().to_string(), e)),
        }
    }

    /// Loose object `id` of this object directory (not its alternates) opened as a stream of
    /// its content; `None` when there is no such file.
    pub fn stream_loose(
        &self,
        id: &ObjectId,
    ) -> Result<Option<loose::Stream<std::io::BufReader<File>>>, Error> {
        self.open_loose(id, 64 << 10)
    }

    /// [`FsObjectStore::stream_loose`] reading the file `buffer` bytes at a time (small when
    /// only the header is wanted).
    fn open_loose(
        &self,
        id: &ObjectId,
        buffer: usize,
    ) -> Result<Option<loose::Stream<std::io::BufReader<File>>>, Error> {
        let path = self.loose_path(id);
        match File::open(&path) {
            Ok(f) => loose::stream(std::io::BufReader::with_capacity(buffer, f))
                .map(Some)
                .map_err(|e| Error::corrupt(format!("loose object {id}"), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path.display().to_string(), e)),
        }
    }

    fn find_packed(&self, id: &ObjectId) -> Option<(usize, u64)> {
        if let Some(m) = &self.midx {
            if let Some((p, offset)) = m.index.find(id) {
                return m.packs.get(p).map(|&n| (n, offset));
            }
        }
        self.uncovered.iter().find_map(|&n| {
            let p = &self.packs[n];
            p.index
                .find(id)
                .and_then(|i| p.index.offset_at(i))
                .map(|o| (n, o))
        })
    }

    /// The pack that has a `.bitmap` (git keeps at most one per repository), with the bitmap
    /// validated against it; `None` when there is none or it is unusable (logged).
    pub fn bitmapped(&self) -> Option<&FsStoredPack> {
        self.bitmapped
            .get_or_init(|| {
                self.packs.iter().find_map(|pack| {
                    let path = self
                        .dir
                        .join("pack")
                        .join(Path::new(&pack.name).with_extension("bitmap"));
                    if !path.exists() {
                        return None;
                    }
                    match FsStoredPack::open(Arc::clone(pack), Some(&path)) {
                        Ok(b) => Some(b),
                        Err(e) => {
                            tracing::warn!(path = %path.display(), error = %e, "bitmap not used");
                            None
                        }
                    }
                })
            })
            .as_ref()
    }

    /// The commit-graph of this object directory (not of alternates), if present and valid.
    pub fn commit_graph(&self) -> Option<&CommitGraph<Mmap>> {
        self.commit_graph
            .get_or_init(|| {
                let path = self.dir.join("info/commit-graph");
                if !path.exists() {
                    return None;
                }
                match map(&path).map(|m| CommitGraph::new(m, HashKind::Sha1)) {
                    Ok(Ok(g)) => Some(g),
                    Ok(Err(e)) => {
                        tracing::warn!(path = %path.display(), error = %e, "commit-graph not used");
                        None
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "commit-graph not used");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// The pack with the most objects (the bitmapped one if that is it), for pack reuse.
    pub fn largest(&self) -> Option<&FsStoredPack> {
        let biggest = self.packs.iter().max_by_key(|p| p.index.len())?;
        if let Some(b) = self.bitmapped() {
            if Arc::ptr_eq(&b.pack, biggest) {
                return Some(b);
            }
        }
        self.largest
            .get_or_init(|| match FsStoredPack::open(Arc::clone(biggest), None) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(pack = %biggest.name, error = %e, "pack not reused");
                    None
                }
            })
            .as_ref()
    }

    /// Whether lookups go through a multi-pack-index (for tests and diagnostics).
    pub fn uses_midx(&self) -> bool {
        self.midx.is_some()
    }

    /// Whether `id` exists here or in an alternate: an index lookup or a `stat`, nothing inflated
    /// (a push's connectivity check asks this for every blob).
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.find_packed(id).is_some()
            || self.loose_path(id).exists()
            || self.alternates.iter().any(|a| a.contains(id))
    }

    /// Kind and size of `id`.
    pub fn header(&self, id: &ObjectId) -> Result<Option<(Kind, u64)>, Error> {
        if let Some((n, offset)) = self.find_packed(id) {
            return self.packed_header(n, offset).map(Some);
        }
        // Only the header is inflated: a loose object of gigabytes costs a few KiB here.
        if let Some(s) = self.open_loose(id, 4 << 10)? {
            return Ok(Some((s.kind, s.size)));
        }
        for alt in &self.alternates {
            if let Some(h) = alt.header(id)? {
                return Ok(Some(h));
            }
        }
        Ok(None)
    }

    fn packed_header(&self, n: usize, offset: u64) -> Result<(Kind, u64), Error> {
        let pack = &self.packs[n];
        let info = pack.entry(offset)?;
        if let Some(kind) = info.ty.kind() {
            return Ok((kind, info.size));
        }
        let size = pack.delta_result_size(offset, &info)?;
        // Follow the chain to the base for the kind.
        let (mut cur_pack, mut cur_info) = (n, info);
        for _ in 0..MAX_CHAIN {
            match cur_info.base {
                Base::None => break,
                Base::Offset(o) => cur_info = self.packs[cur_pack].entry(o)?,
                Base::Id(id) => match self.find_packed(&id) {
                    Some((p, o)) => {
                        cur_pack = p;
                        cur_info = self.packs[p].entry(o)?;
                    }
                    None => {
                        let (k, _) = self.header(&id)?.ok_or(Error::MissingObject(id))?;
                        return Ok((k, size));
                    }
                },
            }
        }
        let kind = cur_info
            .ty
            .kind()
            .ok_or_else(|| self.packs[cur_pack].corrupt(offset, "delta chain too deep"))?;
        Ok((kind, size))
    }

    /// The whole object `id`.
    pub fn read(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        if let Some((n, offset)) = self.find_packed(id) {
            let (kind, data) = self.read_packed(n, offset)?;
            let data = Arc::try_unwrap(data).unwrap_or_else(|a| (*a).clone());
            return Ok(Some(Object { kind, data }));
        }
        if let Some(bytes) = self.read_loose_file(id)? {
            let (kind, data) = loose::read(&bytes, MAX_OBJECT)
                .map_err(|e| Error::corrupt(format!("loose object {id}"), e.to_string()))?;
            return Ok(Some(Object { kind, data }));
        }
        for alt in &self.alternates {
            if let Some(o) = alt.read(id)? {
                return Ok(Some(o));
            }
        }
        Ok(None)
    }

    /// Reads the packed object at (`n`, `offset`), resolving its delta chain iteratively.
    fn read_packed(&self, n: usize, offset: u64) -> Result<(Kind, Arc<Vec<u8>>), Error> {
        // Walk down the chain collecting deltas until a cached or whole base.
        let mut chain: Vec<(usize, u64, EntryInfo)> = Vec::new();
        let (mut p, mut o) = (n, offset);
        let (kind, mut data) = loop {
            if chain.len() > MAX_CHAIN {
                return Err(self.packs[n].corrupt(offset, "delta chain too deep"));
            }
            if let Some(hit) = self
                .cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&(p, o))
            {
                break hit;
            }
            let info = self.packs[p].entry(o)?;
            match info.base {
                Base::None => {
                    let kind = info
                        .ty
                        .kind()
                        .ok_or_else(|| self.packs[p].corrupt(o, "bad type"))?;
                    let data = Arc::new(self.packs[p].inflate(o, &info)?);
                    break (kind, data);
                }
                Base::Offset(b) => {
                    chain.push((p, o, info));
                    o = b;
                }
                Base::Id(id) => {
                    chain.push((p, o, info));
                    match self.find_packed(&id) {
                        Some((bp, bo)) => {
                            p = bp;
                            o = bo;
                        }
                        None => {
                            let obj = self.read(&id)?.ok_or(Error::MissingObject(id))?;
                            break (obj.kind, Arc::new(obj.data));
                        }
                    }
                }
            }
        };
        // Apply deltas from the base up, caching intermediate bases.
        while let Some((dp, doff, info)) = chain.pop() {
            let d = self.packs[dp].inflate(doff, &info)?;
            let result =
                delta::apply(&data, &d, MAX_OBJECT).map_err(|e| self.packs[dp].corrupt(doff, e))?;
            data = Arc::new(result);
            if !chain.is_empty() {
                self.cache.lock().unwrap_or_else(|e| e.into_inner()).put(
                    (dp, doff),
                    kind,
                    Arc::clone(&data),
                );
            }
        }
        Ok((kind, data))
    }

    /// `id` as stored in a pack, for reuse.
    pub fn raw_entry(&self, id: &ObjectId) -> Result<Option<RawEntry<'_>>, Error> {
        let Some((n, offset)) = self.find_packed(id) else {
            for alt in &self.alternates {
                if let Some(e) = alt.raw_entry(id)? {
                    return Ok(Some(e));
                }
            }
            return Ok(None);
        };
        let pack = &self.packs[n];
        let info = pack.entry(offset)?;
        let end = pack.entry_end(offset);
        let compressed = (info.data_at <= end)
            .then(|| pack.data.read(info.data_at..end))
            .transpose()?
            .flatten()
            .ok_or_else(|| pack.corrupt(offset, "entry extends past the next one"))?;
        let (form, depth) = match info.base {
            Base::None => (StoredForm::Whole, 0),
            // The chain length is whatever git chose when it made the pack (its own depth limit
            // applies); computing it would mean walking the chain for every entry.
            Base::Offset(b) => {
                let base = pack
                    .id_at_offset(b)
                    .ok_or_else(|| pack.corrupt(offset, "ofs-delta base is not an entry"))?;
                (StoredForm::Delta { base }, 1)
            }
            Base::Id(base) => (StoredForm::Delta { base }, 1),
        };
        Ok(Some(RawEntry {
            form,
            inflated_size: info.size,
            compressed,
            delta_depth: depth,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    use crate::test_support::git;

    /// A repository with a file edited over many commits, so repack makes delta chains.
    fn history(dir: &Path) {
        git(dir, &["init", "-q", "-b", "main", "."]);
        let mut text = String::new();
        for i in 0..60 {
            text.push_str(&format!("line {i} {}\n", "x".repeat(i % 7)));
            std::fs::write(dir.join("f.txt"), &text).unwrap();
            std::fs::write(dir.join(format!("g{}.txt", i % 3)), format!("{i}\n{text}")).unwrap();
            git(dir, &["add", "."]);
            git(dir, &["commit", "-q", "-m", &format!("c{i}")]);
        }
    }

    fn check_all(dir: &Path) {
        let store = FsObjectStore::open(&dir.join(".git/objects")).unwrap();
        let list = git(dir, &["cat-file", "--batch-all-objects", "--batch-check"]);
        let mut n = 0;
        for line in list.lines() {
            let mut parts = line.split(' ');
            let id = ObjectId::from_hex(parts.next().unwrap().as_bytes()).unwrap();
            let kind = parts.next().unwrap();
            let size: u64 = parts.next().unwrap().parse().unwrap();
            let (k, s) = store.header(&id).unwrap().unwrap();
            assert_eq!((k.as_str(), s), (kind, size), "{id}");
            let obj = store.read(&id).unwrap().unwrap();
            assert_eq!(obj.data.len() as u64, size);
            assert_eq!(crate::odb::object_id(obj.kind, &obj.data).unwrap(), id);
            if let Some(raw) = store.raw_entry(&id).unwrap() {
                let inflated = inflate_exact(&raw.compressed, raw.inflated_size as usize).unwrap();
                if let StoredForm::Delta { base } = raw.form {
                    let b = store.read(&base).unwrap().unwrap();
                    assert_eq!(
                        delta::apply(&b.data, &inflated, u64::MAX).unwrap(),
                        obj.data
                    );
                } else {
                    assert_eq!(inflated, obj.data);
                }
            }
            n += 1;
        }
        assert!(n > 100);
    }

    #[test]
    fn loose_and_packed_agree_with_git() {
        let dir = tempfile::tempdir().unwrap();
        history(dir.path());
        check_all(dir.path());
        git(
            dir.path(),
            &["repack", "-a", "-d", "-q", "--window=50", "--depth=50"],
        );
        check_all(dir.path());
        git(
            dir.path(),
            &[
                "-c",
                "pack.indexVersion=1",
                "repack",
                "-a",
                "-d",
                "-f",
                "-q",
            ],
        );
        check_all(dir.path());
    }

    #[test]
    fn large_offset_table_and_ref_deltas() {
        let dir = tempfile::tempdir().unwrap();
        history(dir.path());
        // REF_DELTA entries (no --delta-base-offset), indexed with every offset in the 64-bit table.
        let revs = git(dir.path(), &["rev-list", "--objects", "--all"]);
        let ids: String = revs.lines().map(|l| format!("{}\n", &l[..40])).collect();
        let mut child = Command::new("git")
            .args(["pack-objects", "-q", "--window=10", ".git/objects/pack/tmp"])
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ids.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let pack = format!(".git/objects/pack/tmp-{hash}.pack");
        std::fs::remove_file(dir.path().join(format!(".git/objects/pack/tmp-{hash}.idx"))).unwrap();
        git(dir.path(), &["index-pack", "--index-version=2,0", &pack]);
        git(dir.path(), &["prune-packed"]);
        check_all(dir.path());
    }

    #[test]
    fn reverse_index_file_matches_sorting() {
        let dir = tempfile::tempdir().unwrap();
        history(dir.path());
        git(
            dir.path(),
            &[
                "-c",
                "pack.writeReverseIndex=true",
                "repack",
                "-a",
                "-d",
                "-q",
            ],
        );
        let store = FsObjectStore::open(&dir.path().join(".git/objects")).unwrap();
        let pack = &store.packs[0];
        assert!(pack.rev_path.exists());
        let from_file = pack.read_rev_file().expect("valid .rev");
        let mut sorted: Vec<(u64, u32)> = (0..pack.index.len())
            .map(|i| (pack.index.offset_at(i).unwrap(), i as u32))
            .collect();
        sorted.sort_unstable();
        assert_eq!(from_file, sorted);
        // A damaged file is ignored.
        let mut bytes = std::fs::read(&pack.rev_path).unwrap();
        bytes.swap(12, 16);
        bytes.swap(13, 17);
        bytes.swap(14, 18);
        bytes.swap(15, 19);
        let path = pack.rev_path.clone();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&path, perms).unwrap();
        std::fs::write(&path, bytes).unwrap();
        assert!(pack.read_rev_file().is_none());
        check_all(dir.path());
    }

    #[test]
    fn multi_pack_index() {
        let dir = tempfile::tempdir().unwrap();
        history(dir.path());
        // Three packs, a MIDX over them, then a fourth pack the MIDX does not cover.
        for _ in 0..3 {
            git(dir.path(), &["commit", "-q", "--allow-empty", "-m", "x"]);
            git(dir.path(), &["repack", "-q", "-d"]);
        }
        git(dir.path(), &["multi-pack-index", "write"]);
        git(
            dir.path(),
            &["commit", "-q", "--allow-empty", "-m", "after midx"],
        );
        git(
            dir.path(),
            &["repack", "-q", "-d", "--no-write-bitmap-index"],
        );
        let store = FsObjectStore::open(&dir.path().join(".git/objects")).unwrap();
        assert!(store.uses_midx());
        assert!(
            store.packs.len() >= 4 && store.uncovered.len() == 1,
            "{store:?}"
        );
        check_all(dir.path());
        // A damaged MIDX is ignored, not fatal.
        let midx = dir.path().join(".git/objects/pack/multi-pack-index");
        let mut bytes = std::fs::read(&midx).unwrap();
        bytes.truncate(100);
        std::fs::write(&midx, bytes).unwrap();
        assert!(!FsObjectStore::open(&dir.path().join(".git/objects"))
            .unwrap()
            .uses_midx());
        check_all(dir.path());
    }

    #[test]
    fn alternates() {
        let base = tempfile::tempdir().unwrap();
        history(base.path());
        git(base.path(), &["repack", "-a", "-d", "-q"]);
        let child = tempfile::tempdir().unwrap();
        git(
            child.path(),
            &[
                "clone",
                "-q",
                "--shared",
                base.path().to_str().unwrap(),
                ".",
            ],
        );
        std::fs::write(child.path().join("new.txt"), "new\n").unwrap();
        git(child.path(), &["add", "."]);
        git(child.path(), &["commit", "-q", "-m", "new"]);
        check_all(child.path());
    }

    #[test]
    fn corrupt_pack_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        history(dir.path());
        git(dir.path(), &["repack", "-a", "-d", "-q"]);
        let list = git(dir.path(), &["rev-list", "--objects", "--all"]);
        let pack_dir = dir.path().join(".git/objects/pack");
        let pack = std::fs::read_dir(&pack_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "pack"))
            .unwrap();
        let mut bytes = std::fs::read(&pack).unwrap();
        for i in (12..bytes.len() - 20).step_by(97) {
            bytes[i] ^= 0x5a;
        }
        std::fs::write(&pack, &bytes).unwrap();
        let store = FsObjectStore::open(&dir.path().join(".git/objects")).unwrap();
        let mut errors = 0;
        for line in list.lines() {
            let id = ObjectId::from_hex(&line.as_bytes()[..40]).unwrap();
            match store.read(&id) {
                Ok(Some(o)) if crate::odb::object_id(o.kind, &o.data).unwrap() == id => {}
                _ => errors += 1,
            }
            let _ = store.header(&id);
            let _ = store.raw_entry(&id);
        }
        assert!(errors > 0);
    }
}
