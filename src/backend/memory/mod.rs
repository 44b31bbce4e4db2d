//! Repositories held in hash maps, for unit tests of the services (dulwich's `DictBackend`).

pub mod quarantine;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::backend::{
    Backend, Error, Head, PackStore, Quarantine, RefUpdate, RefVisitor, Repository, UpdateResult,
};
use crate::git_config::GitConfig;
use crate::hash::ObjectId;
use crate::odb::memory::MemoryObjects;
use crate::odb::Kind;
use crate::pack::stored::ForwardObjects;
use crate::refs::memory::MemoryRefStore;
use crate::refs::{RawRef, RefStore};

/// One in-memory repository. Clones share objects and refs, as two handles on one on-disk
/// repository do.
#[derive(Debug, Clone, Default)]
pub struct MemoryRepository {
    /// Objects by id.
    objects: MemoryObjects,
    /// Refs by full name, including `HEAD`.
    refs: Arc<MemoryRefStore>,
    /// Configuration.
    pub config: GitConfig,
    /// Whether it pretends to have no working tree.
    pub bare: bool,
}

impl MemoryRepository {
    /// An empty bare repository whose HEAD points at the unborn `refs/heads/main`.
    pub fn new() -> Self {
        let r = MemoryRepository {
            bare: true,
            ..MemoryRepository::default()
        };
        r.set_symref("HEAD", "refs/heads/main");
        r
    }

    /// Stores an object of `kind` with content `data`, returning its id.
    pub fn add(&mut self, kind: Kind, data: impl Into<Vec<u8>>) -> ObjectId {
        self.objects.add(kind, data)
    }

    /// The object store, for building histories ([`MemoryObjects::tree`], ...).
    pub fn objects(&mut self) -> &mut MemoryObjects {
        &mut self.objects
    }

    /// Points ref `name` at `id`.
    pub fn set_ref(&self, name: &str, id: ObjectId) {
        self.refs.set(name, RawRef::Direct { id, peeled: None });
    }

    /// Makes `name` a symbolic ref to `target`.
    pub fn set_symref(&self, name: &str, target: &str) {
        self.refs.set(name, RawRef::Symbolic(target.into()));
    }

    /// Removes ref `name`.
    pub fn remove_ref(&self, name: &str) {
        self.refs.remove(name);
    }

    /// The repository's ref store.
    pub fn ref_store(&self) -> &MemoryRefStore {
        &self.refs
    }

    /// Whether object `id` is stored.
    pub fn has_object(&self, id: &ObjectId) -> bool {
        self.objects.has(id)
    }
}

/// Objects are the map's (no packs: counting walks the history).
impl ForwardObjects for MemoryRepository {
    fn objects(&self) -> &dyn PackStore {
        &self.objects
    }
}

impl Repository for MemoryRepository {
    fn config(&self) -> &GitConfig {
        &self.config
    }

    fn config_dir(&self) -> Option<&std::path::Path> {
        None
    }

    fn symref_target(&self, name: &str) -> Result<Option<String>, Error> {
        if !name.starts_with("refs/") {
            return Ok(None);
        }
        Ok(match self.refs.read_raw(name)? {
            Some(RawRef::Symbolic(t)) => Some(t),
            _ => None,
        })
    }

    fn is_bare(&self) -> bool {
        self.bare
    }

    /// None: a memory repository has one worktree at most.
    fn branches_checked_out_elsewhere(&self) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }

    fn head(&self) -> Result<Head, Error> {
        crate::refs::resolve::head(self.refs.as_ref())
    }

    fn for_each_ref(&self, prefix: &str, visit: &mut RefVisitor<'_>) -> Result<(), Error> {
        crate::refs::resolve::for_each_ref(self.refs.as_ref(), self, prefix, visit)
    }

    fn add_shallow_roots(&self, _ids: &[ObjectId]) -> Result<(), Error> {
        Err(Error::Unsupported("shallow updates"))
    }

    fn alternate_tips(&self) -> Result<Vec<ObjectId>, Error> {
        Ok(Vec::new())
    }

    fn ref_is_hidden(&self, _name: &str) -> bool {
        false
    }

    fn hidden_tips(&self) -> Result<Vec<ObjectId>, Error> {
        Ok(Vec::new())
    }

    fn begin_quarantine(&self) -> Result<Box<dyn Quarantine + '_>, Error> {
        Ok(Box::new(quarantine::MemoryQuarantine::new(self)))
    }

    fn update_refs(&self, updates: &[RefUpdate], atomic: bool) -> Result<Vec<UpdateResult>, Error> {
        self.refs.update(updates, atomic)
    }

    /// Hooks never run on memory repositories (no [`Repository::hook_site`]).
    fn publish_hook_refs(&self) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }
}

/// A backend serving [`MemoryRepository`] values by name.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    repos: Arc<Mutex<HashMap<String, MemoryRepository>>>,
}

impl MemoryBackend {
    /// Adds (or replaces) repository `name`.
    pub fn insert(&self, name: &str, repo: MemoryRepository) {
        self.repos
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.into(), repo);
    }
}

impl Backend for MemoryBackend {
    fn open(&self, location: &str) -> Result<Box<dyn Repository>, Error> {
        let repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
        repos
            .get(location)
            .cloned()
            .map(|r| Box::new(r) as Box<dyn Repository>)
            .ok_or_else(|| Error::NotFound(location.into()))
    }
}

#[cfg(test)]
mod read_tests {
    use super::*;

    #[test]
    fn refs_peel_and_head() {
        let mut r = MemoryRepository::new();
        let blob = r.add(Kind::Blob, "hi\n");
        let tag1 = r.add(
            Kind::Tag,
            format!("object {blob}\ntype blob\ntag t1\ntagger a <a> 1 +0000\n\nm\n"),
        );
        let tag2 = r.add(
            Kind::Tag,
            format!("object {tag1}\ntype tag\ntag t2\ntagger a <a> 1 +0000\n\nm\n"),
        );
        r.set_ref("refs/tags/t2", tag2);
        r.set_ref("refs/heads/main", blob);
        let refs = r.refs().unwrap();
        assert_eq!(refs[1].name, "refs/tags/t2");
        assert_eq!(refs[1].peeled, Some(blob));
        assert_eq!(refs[0].peeled, None);
        assert_eq!(r.head().unwrap().id, Some(blob));
    }
}
