//! The object database of an on-disk repository: loose objects, packs (`.idx` v1/v2 + `.pack`)
//! and `objects/info/alternates`.
//!
//! Packs and indexes are memory-mapped; lookups are binary searches in the mapped index, and
//! entry data is borrowed straight from the map for pack reuse. Deltas are resolved iteratively
//! (chains can be thousands deep) with a byte-bounded cache of delta bases, so walking a history
//! whose objects share long chains is not quadratic.
//! A `multi-pack-index`, when present and valid, answers lookups for the packs it covers with
//! one binary search; packs it does not cover (newer than it) are searched through their `.idx`.

mod base_cache;
mod loose_files;
mod midx;
mod pack_file;
mod stored_pack;

pub use stored_pack::FsStoredPack;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use memmap2::Mmap;

use super::pack_data::{LocalPacks, PackSource};
use crate::backend::{Error, RawEntry, StoredForm};
use crate::hash::{HashKind, ObjectId};
use crate::odb::commit_graph::CommitGraph;
use crate::odb::mmap::map;
use crate::odb::{loose, Kind, Object};
use crate::pack::delta;
use base_cache::BaseCache;
use midx::{open_midx, Midx};
use pack_file::{Base, EntryInfo, Pack, MAX_OBJECT};

/// All objects reachable through one `objects/` directory and its alternates.
pub struct FsObjectStore {
    dir: PathBuf,
    /// The repository's hash (`extensions.objectFormat`).
    hash: HashKind,
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
    /// The longest delta chain that can be real here: the number of entries in this
    /// directory's packs. C git reads chains of any depth (`unpack_entry` grows its stack) and
    /// `pack.depth` only bounds what a repack writes, so no configured depth applies to
    /// reading; each link of a sound chain is a different entry, so a longer walk is a cycle of
    /// REF deltas (damaged storage) and is an error, not a hang.
    max_chain: usize,
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
    /// Opens the object directory `objects_dir` (e.g. `repo.git/objects`) of a repository whose
    /// ids are `hash`, following `info/alternates` (recursively, at most 5 levels as git does).
    pub fn open(objects_dir: &Path, hash: HashKind) -> Result<FsObjectStore, Error> {
        Self::open_with(objects_dir, hash, &LocalPacks)
    }

    /// [`FsObjectStore::open`] reading pack data through `source` (the indexes are local
    /// files either way).
    pub fn open_with(
        objects_dir: &Path,
        hash: HashKind,
        source: &dyn PackSource,
    ) -> Result<FsObjectStore, Error> {
        Self::open_depth(objects_dir, hash, source, 0, &mut Vec::new())
    }

    fn open_depth(
        dir: &Path,
        hash: HashKind,
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
                match Pack::open(&p, hash, source) {
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
                    alternates.push(Self::open_depth(&alt, hash, source, depth + 1, seen)?);
                }
            }
        }
        let midx = open_midx(&pack_dir, &packs, hash);
        let uncovered = (0..packs.len())
            .filter(|n| !midx.as_ref().is_some_and(|m| m.packs.contains(n)))
            .collect();
        let max_chain = packs.iter().map(|p| p.index.len()).sum();
        Ok(FsObjectStore {
            dir: dir.to_path_buf(),
            hash,
            packs,
            bitmapped: OnceLock::new(),
            largest: OnceLock::new(),
            commit_graph: OnceLock::new(),
            midx,
            uncovered,
            alternates,
            cache: Mutex::new(BaseCache::default()),
            max_chain,
        })
    }

    /// The directories of the alternates (direct ones only).
    pub fn alternate_dirs(&self) -> Vec<PathBuf> {
        self.alternates.iter().map(|a| a.dir.clone()).collect()
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
                match map(&path).map(|m| CommitGraph::new(m, self.hash)) {
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
        for _ in 0..=self.max_chain {
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
            if chain.len() > self.max_chain {
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
                    // The whole object at the bottom of a chain is the base its siblings (the
                    // other versions of the file) start from too, as git's delta_base_cache
                    // keeps it: the delta search reads them one after the other.
                    if !chain.is_empty() {
                        self.cache
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .put_bottom((p, o), kind, Arc::clone(&data));
                    }
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
mod tests;
