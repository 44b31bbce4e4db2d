//! The object database of an on-disk repository: loose objects, packs (`.idx` v1/v2, `.pack`),
//! the multi-pack-index and `objects/info/alternates`.
//!
//! TODO(skeleton): being written.

use std::path::Path;

use crate::backend::{Error, RawEntry};
use crate::hash::ObjectId;
use crate::odb::{Kind, Object};

/// All objects reachable through one `objects/` directory and its alternates.
#[derive(Debug)]
pub struct FsObjectStore {}

impl FsObjectStore {
    /// Opens the object directory `objects_dir` (e.g. `repo.git/objects`), following
    /// `info/alternates` (recursively, at most 5 levels as git does).
    pub fn open(objects_dir: &Path) -> Result<FsObjectStore, Error> {
        let _ = objects_dir;
        Ok(FsObjectStore {})
    }

    /// Kind and size of `id`.
    pub fn header(&self, id: &ObjectId) -> Result<Option<(Kind, u64)>, Error> {
        let _ = id;
        Ok(None)
    }

    /// The whole object `id`.
    pub fn read(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        let _ = id;
        Ok(None)
    }

    /// `id` as stored in a pack, for reuse.
    pub fn raw_entry(&self, id: &ObjectId) -> Result<Option<RawEntry<'_>>, Error> {
        let _ = id;
        Ok(None)
    }
}
