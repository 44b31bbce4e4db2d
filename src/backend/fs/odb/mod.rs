//! The object database of an on-disk repository: loose objects, packs (`.idx` v1/v2 + `.pack`,
//! read by [`crate::pack::reader::PackSet`]) and `objects/info/alternates`, and the
//! commit-graph of the directory.

mod loose_files;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use memmap2::Mmap;

use crate::backend::{Error, ObjectStore, ObjectStream, RawEntry};
use crate::hash::{HashKind, IdSet, ObjectId};
use crate::odb::commit_graph::{CommitGraph, GraphCommit};
use crate::odb::mmap::map;
use crate::odb::{loose, Kind, Object};
use crate::pack::reader::{FileStoredPack, LocalPacks, PackSet, PackSource, MAX_OBJECT};

/// All objects reachable through one `objects/` directory and its alternates.
pub struct FsObjectStore {
    dir: PathBuf,
    /// The repository's hash (`extensions.objectFormat`).
    hash: HashKind,
    /// The packs of `dir/pack`.
    packs: PackSet,
    /// `info/commit-graph`, opened on first use.
    commit_graph: OnceLock<Option<CommitGraph<Mmap>>>,
    alternates: Vec<FsObjectStore>,
}

impl std::fmt::Debug for FsObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsObjectStore")
            .field("dir", &self.dir)
            .field("packs", &self.packs)
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
        let packs = PackSet::open(&dir.join("pack"), hash, source)?;
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
        Ok(FsObjectStore {
            dir: dir.to_path_buf(),
            hash,
            packs,
            commit_graph: OnceLock::new(),
            alternates,
        })
    }

    /// The directories of the alternates (direct ones only).
    pub fn alternate_dirs(&self) -> Vec<PathBuf> {
        self.alternates.iter().map(|a| a.dir.clone()).collect()
    }

    /// The pack that has a `.bitmap`, validated against it (see [`PackSet::bitmapped`]).
    pub fn bitmapped(&self) -> Option<&FileStoredPack> {
        self.packs.bitmapped()
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
    pub fn largest(&self) -> Option<&FileStoredPack> {
        self.packs.largest()
    }

    /// Whether lookups go through a multi-pack-index (for tests and diagnostics).
    pub fn uses_midx(&self) -> bool {
        self.packs.uses_midx()
    }

    /// Whether `id` exists here or in an alternate: an index lookup or a `stat`, nothing inflated
    /// (a push's connectivity check asks this for every blob).
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.packs.contains(id)
            || self.loose_path(id).exists()
            || self.alternates.iter().any(|a| a.contains(id))
    }

    /// Kind and size of `id`.
    pub fn header(&self, id: &ObjectId) -> Result<Option<(Kind, u64)>, Error> {
        if let Some(h) = self.packs.header(id, self)? {
            return Ok(Some(h));
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

    /// The whole object `id`.
    pub fn read(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        if let Some((kind, data)) = self.packs.read(id, self)? {
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

    /// [`Self::read`], with a packed commit stored whole inflated only through its head (see
    /// [`ObjectStore::read_commit_head`]); loose objects and alternates are read whole.
    pub fn read_head(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        match self.packs.read_commit_head(id, self)? {
            Some((kind, data)) => {
                let data = Arc::try_unwrap(data).unwrap_or_else(|a| (*a).clone());
                Ok(Some(Object { kind, data }))
            }
            None => self.read(id),
        }
    }

    /// `id` as stored in a pack, for reuse.
    pub fn raw_entry(&self, id: &ObjectId) -> Result<Option<RawEntry<'_>>, Error> {
        if let Some(e) = self.packs.raw_entry(id)? {
            return Ok(Some(e));
        }
        for alt in &self.alternates {
            if let Some(e) = alt.raw_entry(id)? {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }
}

/// The objects of this directory and its alternates; no shallow boundary or commit index
/// (those are the repository's, see [`super::FsRepository`]).
impl ObjectStore for FsObjectStore {
    fn hash_kind(&self) -> HashKind {
        self.hash
    }

    fn object_header(&self, id: &ObjectId) -> Result<Option<(Kind, u64)>, Error> {
        self.header(id)
    }

    fn read_object(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        self.read(id)
    }

    fn read_commit_head(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        self.read_head(id)
    }

    fn contains(&self, id: &ObjectId) -> Result<bool, Error> {
        Ok(FsObjectStore::contains(self, id))
    }

    /// Loose objects stream from their file; packed ones are read whole (a large packed object
    /// stored whole is copied compressed by the pack writer and never gets here).
    fn stream_object(&self, id: &ObjectId) -> Result<Option<ObjectStream<'_>>, Error> {
        if let Some(s) = self.stream_loose(id)? {
            return Ok(Some(ObjectStream {
                kind: s.kind,
                size: s.size,
                reader: Box::new(s),
            }));
        }
        Ok(self.read(id)?.map(ObjectStream::whole))
    }

    fn raw_entry(&self, id: &ObjectId) -> Result<Option<RawEntry<'_>>, Error> {
        FsObjectStore::raw_entry(self, id)
    }

    fn shallow_roots(&self) -> Option<&IdSet> {
        None
    }

    fn commit_from_graph(&self, _id: &ObjectId) -> Option<GraphCommit> {
        None
    }
}

#[cfg(test)]
mod tests;
