//! Objects in a hash map: the [`ObjectStore`] of the memory backend, and the fixture the unit
//! tests of `walk`, `pack` and the services build their histories in (with [`MemoryObjects::tree`]
//! and [`MemoryObjects::commit`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::hash::{HashKind, IdSet, ObjectId};
use crate::odb::commit_graph::GraphCommit;
use crate::odb::store::{Error, ObjectStore, ObjectStream, RawEntry};
use crate::odb::{Kind, Object};

/// Objects by id. Clones share the map, as two handles on one repository share its objects.
#[derive(Debug, Clone, Default)]
pub struct MemoryObjects {
    map: Arc<RwLock<HashMap<ObjectId, Object>>>,
}

impl MemoryObjects {
    /// An empty store.
    pub fn new() -> Self {
        MemoryObjects::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<ObjectId, Object>> {
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<ObjectId, Object>> {
        self.map.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores an object of `kind` with content `data`, returning its id. Test data only: a
    /// SHA-1 collision attack in it panics.
    pub fn add(&mut self, kind: Kind, data: impl Into<Vec<u8>>) -> ObjectId {
        let data = data.into();
        let id = crate::odb::object_id(HashKind::Sha1, kind, &data)
            .expect("test data is not a collision attack");
        self.write().insert(id, Object { kind, data });
        id
    }

    /// Stores `object` under `id` (already hashed by the caller, such as a pack's index).
    pub fn insert(&self, id: ObjectId, object: Object) {
        self.write().insert(id, object);
    }

    /// Moves every object of this store into `target` (publishing staged objects).
    pub fn drain_into(&self, target: &MemoryObjects) {
        let drained: Vec<(ObjectId, Object)> = self.write().drain().collect();
        let mut map = target.write();
        map.extend(drained);
    }

    /// Whether `id` is stored.
    pub fn has(&self, id: &ObjectId) -> bool {
        self.read().contains_key(id)
    }

    /// Stores a tree of `entries` (name, id, whether a subtree), in the order given.
    pub fn tree(&mut self, entries: &[(&str, ObjectId, bool)]) -> ObjectId {
        let mut v = Vec::new();
        for (name, id, is_tree) in entries {
            v.extend_from_slice(if *is_tree { b"40000 " } else { b"100644 " });
            v.extend_from_slice(name.as_bytes());
            v.push(0);
            v.extend_from_slice(id.as_bytes());
        }
        self.add(Kind::Tree, v)
    }

    /// Stores a commit of `tree` with `parents`, authored and committed at time `t` (its
    /// message names `t`, so equal arguments give equal ids).
    pub fn commit(&mut self, tree: ObjectId, parents: &[ObjectId], t: i64) -> ObjectId {
        let mut s = format!("tree {tree}\n");
        for p in parents {
            s.push_str(&format!("parent {p}\n"));
        }
        s.push_str(&format!(
            "author a <a> {t} +0000\ncommitter a <a> {t} +0000\n\nm{t}\n"
        ));
        self.add(Kind::Commit, s)
    }
}

impl ObjectStore for MemoryObjects {
    fn hash_kind(&self) -> HashKind {
        HashKind::Sha1
    }

    fn object_header(&self, id: &ObjectId) -> Result<Option<(Kind, u64)>, Error> {
        Ok(self.read().get(id).map(|o| (o.kind, o.data.len() as u64)))
    }

    fn read_object(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        Ok(self.read().get(id).cloned())
    }

    /// Objects are held whole; they are handed out whole.
    fn read_commit_head(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        self.read_object(id)
    }

    fn stream_object(&self, id: &ObjectId) -> Result<Option<ObjectStream<'_>>, Error> {
        Ok(self.read_object(id)?.map(ObjectStream::whole))
    }

    /// Nothing is stored compressed.
    fn raw_entry(&self, _id: &ObjectId) -> Result<Option<RawEntry<'_>>, Error> {
        Ok(None)
    }

    fn shallow_roots(&self) -> Option<&IdSet> {
        None
    }

    fn commit_from_graph(&self, _id: &ObjectId) -> Option<GraphCommit> {
        None
    }
}
