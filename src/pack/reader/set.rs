//! [`PackSet`]: the packs of one pack directory, read as one store of objects.
//!
//! Lookups are binary searches in the mapped indexes (or one in the `multi-pack-index`, for the
//! packs it covers); entry data is borrowed straight from the map for pack reuse. Deltas are
//! resolved iteratively (chains can be thousands deep) with a byte-bounded cache of delta bases,
//! so walking a history whose objects share long chains is not quadratic.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::base_cache::BaseCache;
use super::data::PackSource;
use super::file::{Base, EntryInfo, PackFile, MAX_OBJECT};
use super::midx::{open_midx, Midx};
use super::stored::FileStoredPack;
use super::{Error, Inflated};
use crate::hash::{HashKind, ObjectId};
use crate::odb::store::{ObjectStore, RawEntry};
use crate::odb::Kind;
use crate::pack::delta;

/// Every pack of one directory (`objects/pack`), with its multi-pack-index when usable.
pub struct PackSet {
    dir: PathBuf,
    pub(crate) packs: Vec<Arc<PackFile>>,
    /// The pack with a reachability bitmap, opened on first use.
    bitmapped: OnceLock<Option<FileStoredPack>>,
    /// The largest pack, when it is not the bitmapped one, opened on first use.
    largest: OnceLock<Option<FileStoredPack>>,
    /// The multi-pack-index, if any, and for each of its pack numbers our pack number.
    midx: Option<Midx>,
    /// Packs the multi-pack-index does not cover (all packs when there is none).
    pub(crate) uncovered: Vec<usize>,
    cache: Mutex<BaseCache>,
    /// The longest delta chain that can be real here: the number of entries in these packs.
    /// C git reads chains of any depth (`unpack_entry` grows its stack) and `pack.depth` only
    /// bounds what a repack writes, so no configured depth applies to reading; each link of a
    /// sound chain is a different entry, so a longer walk is a cycle of REF deltas (damaged
    /// storage) and is an error, not a hang.
    max_chain: usize,
}

impl std::fmt::Debug for PackSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackSet")
            .field("dir", &self.dir)
            .field("packs", &self.packs.len())
            .field("uncovered", &self.uncovered.len())
            .finish()
    }
}

impl PackSet {
    /// Opens every pack whose `.idx` is in `pack_dir` (ids of `hash`, data through `source`),
    /// newest first; a missing directory has no packs.
    pub fn open(pack_dir: &Path, hash: HashKind, source: &dyn PackSource) -> Result<Self, Error> {
        let mut packs = Vec::new();
        if let Ok(entries) = std::fs::read_dir(pack_dir) {
            let mut idx_paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "idx"))
                .collect();
            // Newest first: recently pushed objects are looked up most.
            idx_paths
                .sort_by_key(|p| std::cmp::Reverse(p.metadata().and_then(|m| m.modified()).ok()));
            for p in idx_paths {
                match PackFile::open(&p, hash, source) {
                    Ok(Some(pack)) => packs.push(Arc::new(pack)),
                    Ok(None) => {}
                    // Removed since the listing (a repack or gc finished meanwhile): its objects
                    // are in the pack that replaced it, which this scan found or a re-scan will.
                    Err(_) if !p.exists() || !p.with_extension("pack").exists() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let midx = open_midx(pack_dir, &packs, hash);
        let uncovered = (0..packs.len())
            .filter(|n| !midx.as_ref().is_some_and(|m| m.packs.contains(n)))
            .collect();
        let max_chain = packs.iter().map(|p| p.index.len()).sum();
        Ok(PackSet {
            dir: pack_dir.to_path_buf(),
            packs,
            bitmapped: OnceLock::new(),
            largest: OnceLock::new(),
            midx,
            uncovered,
            cache: Mutex::new(BaseCache::default()),
            max_chain,
        })
    }

    /// Whether lookups go through a multi-pack-index (for tests and diagnostics).
    pub fn uses_midx(&self) -> bool {
        self.midx.is_some()
    }

    /// (pack number, offset) of `id`, if one of these packs holds it.
    fn find(&self, id: &ObjectId) -> Option<(usize, u64)> {
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

    /// Whether one of these packs holds `id` (an index lookup, nothing inflated).
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.find(id).is_some()
    }

    /// The pack that has a `.bitmap` (git keeps at most one per repository), with the bitmap
    /// validated against it; `None` when there is none or it is unusable (logged).
    pub fn bitmapped(&self) -> Option<&FileStoredPack> {
        self.bitmapped
            .get_or_init(|| {
                self.packs.iter().find_map(|pack| {
                    let path = self
                        .dir
                        .join(Path::new(&pack.name).with_extension("bitmap"));
                    if !path.exists() {
                        return None;
                    }
                    match FileStoredPack::open(Arc::clone(pack), Some(&path)) {
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

    /// The pack with the most objects (the bitmapped one if that is it), for pack reuse.
    pub fn largest(&self) -> Option<&FileStoredPack> {
        let biggest = self.packs.iter().max_by_key(|p| p.index.len())?;
        if let Some(b) = self.bitmapped() {
            if Arc::ptr_eq(&b.pack, biggest) {
                return Some(b);
            }
        }
        self.largest
            .get_or_init(|| match FileStoredPack::open(Arc::clone(biggest), None) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(pack = %biggest.name, error = %e, "pack not reused");
                    None
                }
            })
            .as_ref()
    }

    /// Kind and size of `id`, if these packs hold it; the kind of a REF_DELTA base they do not
    /// hold comes from `others` (loose objects, alternates).
    pub fn header(
        &self,
        id: &ObjectId,
        others: &dyn ObjectStore,
    ) -> Result<Option<(Kind, u64)>, Error> {
        let Some((n, offset)) = self.find(id) else {
            return Ok(None);
        };
        let pack = &self.packs[n];
        let info = pack.entry(offset)?;
        if let Some(kind) = info.ty.kind() {
            return Ok(Some((kind, info.size)));
        }
        let size = pack.delta_result_size(offset, &info)?;
        // Follow the chain to the base for the kind.
        let (mut cur_pack, mut cur_info) = (n, info);
        for _ in 0..=self.max_chain {
            match cur_info.base {
                Base::None => break,
                Base::Offset(o) => cur_info = self.packs[cur_pack].entry(o)?,
                Base::Id(id) => match self.find(&id) {
                    Some((p, o)) => {
                        cur_pack = p;
                        cur_info = self.packs[p].entry(o)?;
                    }
                    None => {
                        let (k, _) = others.object_header(&id)?.ok_or(Error::MissingObject(id))?;
                        return Ok(Some((k, size)));
                    }
                },
            }
        }
        let kind = cur_info
            .ty
            .kind()
            .ok_or_else(|| self.packs[cur_pack].corrupt(offset, "delta chain too deep"))?;
        Ok(Some((kind, size)))
    }

    /// The whole object `id` (kind and content), if these packs hold it; a REF_DELTA base they
    /// do not hold is read from `others`.
    pub fn read(&self, id: &ObjectId, others: &dyn ObjectStore) -> Result<Option<Inflated>, Error> {
        match self.find(id) {
            Some((n, offset)) => self.read_at(n, offset, others).map(Some),
            None => Ok(None),
        }
    }

    /// [`Self::read`] for a commit walk: a commit stored whole is inflated only through its
    /// head ([`crate::odb::commit_head_len`]); anything else is read whole.
    pub fn read_commit_head(
        &self,
        id: &ObjectId,
        others: &dyn ObjectStore,
    ) -> Result<Option<Inflated>, Error> {
        let Some((n, offset)) = self.find(id) else {
            return Ok(None);
        };
        let pack = &self.packs[n];
        let info = pack.entry(offset)?;
        if info.ty.kind() != Some(Kind::Commit) {
            return self.read_at(n, offset, others).map(Some);
        }
        let head = pack.inflate_head(offset, &info, crate::odb::commit_head_len)?;
        Ok(Some((Kind::Commit, Arc::new(head))))
    }

    /// Reads the packed object at (`n`, `offset`), resolving its delta chain iteratively.
    fn read_at(&self, n: usize, offset: u64, others: &dyn ObjectStore) -> Result<Inflated, Error> {
        // Walk down the chain collecting deltas until a cached or whole base.
        let mut chain: Vec<(usize, u64, EntryInfo)> = Vec::new();
        let (mut p, mut o) = (n, offset);
        let (kind, mut data) = loop {
            if chain.len() > self.max_chain {
                return Err(self.packs[n].corrupt(offset, "delta chain too deep"));
            }
            if let Some(hit) = self.cache().get(&(p, o)) {
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
                        self.cache().put_bottom((p, o), kind, Arc::clone(&data));
                    }
                    break (kind, data);
                }
                Base::Offset(b) => {
                    chain.push((p, o, info));
                    o = b;
                }
                Base::Id(id) => {
                    chain.push((p, o, info));
                    match self.find(&id) {
                        Some((bp, bo)) => {
                            p = bp;
                            o = bo;
                        }
                        None => {
                            let obj = others.read_object(&id)?.ok_or(Error::MissingObject(id))?;
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
                self.cache().put((dp, doff), kind, Arc::clone(&data));
            }
        }
        Ok((kind, data))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, BaseCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `id` as stored in one of these packs, for reuse; `None` when they do not hold it.
    pub fn raw_entry(&self, id: &ObjectId) -> Result<Option<RawEntry<'_>>, Error> {
        match self.find(id) {
            Some((n, offset)) => self.packs[n].raw_entry(offset).map(Some),
            None => Ok(None),
        }
    }
}
