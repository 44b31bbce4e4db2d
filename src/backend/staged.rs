//! [`StagedView`]: a repository as a push sees it before it is accepted: the objects of a staged
//! store (what the push sent, held in a quarantine) read first, then the repository's own; refs,
//! configuration and hooks are the repository's, and every write is refused.
//!
//! One type for every backend's [`Quarantine::view`](super::Quarantine::view): the on-disk
//! quarantine stages a pack in `objects/incoming-*` (and the distributed backend uses that one in
//! its view), the memory one stages a map. Only what is staged differs, so only `S` does.

use std::path::Path;

use super::{
    Error, Head, ObjectStore, ObjectStream, PackStore, Quarantine, RawEntry, RefUpdate, RefVisitor,
    Repository, StoredPack, UpdateResult,
};
use crate::git_config::GitConfig;
use crate::hash::{HashKind, IdSet, ObjectId};
use crate::odb::commit_graph::GraphCommit;
use crate::odb::{Kind, Object};

/// Repository `B` with the objects of store `S` added in front (none until
/// [`StagedView::stage`]).
pub struct StagedView<'r, B: ?Sized, S> {
    base: &'r B,
    staged: Option<S>,
}

impl<'r, B: Repository + ?Sized, S: ObjectStore> StagedView<'r, B, S> {
    /// `base` with nothing staged yet.
    pub fn new(base: &'r B) -> Self {
        StagedView { base, staged: None }
    }

    /// The repository the objects are staged for.
    pub fn base(&self) -> &'r B {
        self.base
    }

    /// The staged objects, once there are any.
    pub fn staged(&self) -> Option<&S> {
        self.staged.as_ref()
    }

    /// Reads the objects of `staged` before the repository's from now on.
    pub fn stage(&mut self, staged: S) {
        self.staged = Some(staged);
    }

    /// Stops reading the staged objects and hands their store back (the on-disk quarantine
    /// drops its maps of the pack before moving or removing it).
    pub fn unstage(&mut self) -> Option<S> {
        self.staged.take()
    }
}

/// Staged objects first, then the repository's; the shallow boundary and the commit index are
/// the repository's (the index knows none of the staged commits, which are then read).
impl<B: Repository + ?Sized, S: ObjectStore> ObjectStore for StagedView<'_, B, S> {
    fn hash_kind(&self) -> HashKind {
        self.base.hash_kind()
    }

    fn object_header(&self, id: &ObjectId) -> Result<Option<(Kind, u64)>, Error> {
        if let Some(s) = &self.staged {
            if let Some(h) = s.object_header(id)? {
                return Ok(Some(h));
            }
        }
        self.base.object_header(id)
    }

    fn contains(&self, id: &ObjectId) -> Result<bool, Error> {
        if let Some(s) = &self.staged {
            if s.contains(id)? {
                return Ok(true);
            }
        }
        self.base.contains(id)
    }

    fn read_object(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        if let Some(s) = &self.staged {
            if let Some(o) = s.read_object(id)? {
                return Ok(Some(o));
            }
        }
        self.base.read_object(id)
    }

    fn read_commit_head(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        if let Some(s) = &self.staged {
            if let Some(o) = s.read_commit_head(id)? {
                return Ok(Some(o));
            }
        }
        self.base.read_commit_head(id)
    }

    fn stream_object(&self, id: &ObjectId) -> Result<Option<ObjectStream<'_>>, Error> {
        if let Some(s) = &self.staged {
            if let Some(o) = s.stream_object(id)? {
                return Ok(Some(o));
            }
        }
        self.base.stream_object(id)
    }

    fn raw_entry(&self, id: &ObjectId) -> Result<Option<RawEntry<'_>>, Error> {
        if let Some(s) = &self.staged {
            if let Some(e) = s.raw_entry(id)? {
                return Ok(Some(e));
            }
        }
        self.base.raw_entry(id)
    }

    fn shallow_roots(&self) -> Option<&IdSet> {
        self.base.shallow_roots()
    }

    fn commit_from_graph(&self, id: &ObjectId) -> Option<GraphCommit> {
        self.base.commit_from_graph(id)
    }
}

/// The view checks a push; it never serves a clone, so it offers no stored packs.
impl<B: Repository + ?Sized, S: ObjectStore> PackStore for StagedView<'_, B, S> {
    fn bitmapped_pack(&self) -> Option<&dyn StoredPack> {
        None
    }

    fn reuse_pack(&self) -> Option<&dyn StoredPack> {
        None
    }
}

/// Refs, configuration and hooks are the repository's; writes go through the repository itself
/// once the quarantine is committed, never through the view.
impl<B: Repository + ?Sized, S: ObjectStore> Repository for StagedView<'_, B, S> {
    fn config(&self) -> &GitConfig {
        self.base.config()
    }

    fn config_dir(&self) -> Option<&Path> {
        self.base.config_dir()
    }

    fn is_bare(&self) -> bool {
        self.base.is_bare()
    }

    fn branches_checked_out_elsewhere(&self) -> Result<Vec<String>, Error> {
        self.base.branches_checked_out_elsewhere()
    }

    fn head(&self) -> Result<Head, Error> {
        self.base.head()
    }

    fn for_each_ref(&self, prefix: &str, visit: &mut RefVisitor<'_>) -> Result<(), Error> {
        self.base.for_each_ref(prefix, visit)
    }

    fn add_shallow_roots(&self, _ids: &[ObjectId]) -> Result<(), Error> {
        Err(Error::Unsupported("shallow updates inside a quarantine"))
    }

    fn alternate_tips(&self) -> Result<Vec<ObjectId>, Error> {
        self.base.alternate_tips()
    }

    fn ref_is_hidden(&self, name: &str) -> bool {
        self.base.ref_is_hidden(name)
    }

    fn hidden_tips(&self) -> Result<Vec<ObjectId>, Error> {
        self.base.hidden_tips()
    }

    fn begin_quarantine(&self) -> Result<Box<dyn Quarantine + '_>, Error> {
        Err(Error::Unsupported("a quarantine inside a quarantine"))
    }

    fn update_refs(
        &self,
        _updates: &[RefUpdate],
        _atomic: bool,
    ) -> Result<Vec<UpdateResult>, Error> {
        Err(Error::Unsupported("updating refs inside a quarantine"))
    }

    fn publish_hook_refs(&self) -> Result<Vec<String>, Error> {
        Err(Error::Unsupported(
            "publishing hook refs inside a quarantine",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::memory::MemoryRepository;
    use crate::odb::memory::MemoryObjects;

    #[test]
    fn staged_objects_are_read_first_and_the_view_refuses_writes() {
        let mut repo = MemoryRepository::new();
        let old = repo.add(Kind::Blob, "old\n");
        repo.set_ref("refs/heads/main", old);
        let mut view: StagedView<'_, MemoryRepository, MemoryObjects> = StagedView::new(&repo);
        let mut staged = MemoryObjects::new();
        let new = staged.add(Kind::Blob, "new!\n");
        assert!(!view.contains(&new).unwrap(), "nothing staged yet");
        view.stage(staged);
        assert!(view.contains(&new).unwrap() && view.contains(&old).unwrap());
        assert_eq!(view.read_object(&new).unwrap().unwrap().data, b"new!\n");
        assert_eq!(view.object_header(&new).unwrap(), Some((Kind::Blob, 5)));
        assert_eq!(view.object_header(&old).unwrap(), Some((Kind::Blob, 4)));
        assert!(view.stream_object(&new).unwrap().is_some());
        assert_eq!(
            view.head().unwrap().id,
            Some(old),
            "refs are the repository's"
        );
        assert!(view.update_refs(&[], false).is_err());
        assert!(view.add_shallow_roots(&[]).is_err());
        assert!(view.begin_quarantine().is_err());
        assert!(!repo.has_object(&new), "staging publishes nothing");
        assert!(view.unstage().is_some());
        assert!(!view.contains(&new).unwrap());
    }
}
