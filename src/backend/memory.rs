//! Repositories held in hash maps, for unit tests of the services (dulwich's `DictBackend`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::backend::{Backend, Error, Head, Ref, Repository};
use crate::gitconfig::GitConfig;
use crate::hash::ObjectId;
use crate::odb::{Kind, Object, TagRef};

/// A ref value as stored in a [`MemoryRepository`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefValue {
    /// Points at an object.
    Direct(ObjectId),
    /// Points at another ref by full name.
    Symbolic(String),
}

/// The contents of one in-memory repository.
#[derive(Debug, Clone, Default)]
pub struct MemoryRepository {
    /// Objects by id.
    pub objects: HashMap<ObjectId, Object>,
    /// Refs by full name, including `HEAD`.
    pub refs: BTreeMap<String, RefValue>,
    /// Configuration.
    pub config: GitConfig,
    /// Whether it pretends to have no working tree.
    pub bare: bool,
}

impl MemoryRepository {
    /// An empty bare repository whose HEAD points at the unborn `refs/heads/main`.
    pub fn new() -> Self {
        let mut refs = BTreeMap::new();
        refs.insert("HEAD".into(), RefValue::Symbolic("refs/heads/main".into()));
        MemoryRepository {
            objects: HashMap::new(),
            refs,
            config: GitConfig::default(),
            bare: true,
        }
    }

    /// Stores an object of `kind` with content `data`, returning its id.
    pub fn add(&mut self, kind: Kind, data: impl Into<Vec<u8>>) -> ObjectId {
        let data = data.into();
        let id = crate::hash::object_id(kind, &data).expect("test data is not a collision attack");
        self.objects.insert(id, Object { kind, data });
        id
    }

    /// Points ref `name` at `id`.
    pub fn set_ref(&mut self, name: &str, id: ObjectId) {
        self.refs.insert(name.into(), RefValue::Direct(id));
    }

    /// Makes `name` a symbolic ref to `target`.
    pub fn set_symref(&mut self, name: &str, target: &str) {
        self.refs
            .insert(name.into(), RefValue::Symbolic(target.into()));
    }

    fn resolve(&self, name: &str) -> Option<(ObjectId, Option<String>)> {
        let mut current = name.to_string();
        let mut symref = None;
        for _ in 0..5 {
            match self.refs.get(&current)? {
                RefValue::Direct(id) => return Some((*id, symref)),
                RefValue::Symbolic(t) => {
                    if symref.is_none() {
                        symref = Some(t.clone());
                    }
                    current = t.clone();
                }
            }
        }
        None
    }

    fn peel(&self, id: &ObjectId) -> Result<Option<ObjectId>, Error> {
        let (end, depth) =
            crate::odb::tag_chain::peel::<Error>(*id, |current| match self.objects.get(current) {
                Some(o) if o.kind == Kind::Tag => {
                    let tag = TagRef::parse(&o.data).map_err(|source| Error::Object {
                        id: *current,
                        source,
                    })?;
                    Ok(Some(tag.object))
                }
                _ => Ok(None),
            })?;
        Ok((depth > 0).then_some(end))
    }
}

impl Repository for MemoryRepository {
    fn config(&self) -> &GitConfig {
        &self.config
    }

    fn is_bare(&self) -> bool {
        self.bare
    }

    fn symref_target(&self, name: &str) -> Result<Option<String>, Error> {
        Ok(match self.refs.get(name) {
            Some(RefValue::Symbolic(t)) => Some(t.clone()),
            _ => None,
        })
    }

    fn head(&self) -> Result<Head, Error> {
        match self.refs.get("HEAD") {
            Some(RefValue::Symbolic(t)) => Ok(Head {
                symref_target: Some(t.clone()),
                id: self.resolve(t).map(|(id, _)| id),
            }),
            Some(RefValue::Direct(id)) => Ok(Head {
                symref_target: None,
                id: Some(*id),
            }),
            None => Err(Error::NotARepository {
                location: "memory".into(),
                why: "no HEAD".into(),
            }),
        }
    }

    fn refs(&self) -> Result<Vec<Ref>, Error> {
        let mut out = Vec::new();
        for name in self.refs.keys().filter(|n| n.starts_with("refs/")) {
            if let Some((id, symref_target)) = self.resolve(name) {
                out.push(Ref {
                    name: name.clone(),
                    id,
                    peeled: self.peel(&id)?,
                    symref_target,
                });
            }
        }
        Ok(out)
    }

    fn object_header(&self, id: &ObjectId) -> Result<Option<(Kind, u64)>, Error> {
        Ok(self.objects.get(id).map(|o| (o.kind, o.data.len() as u64)))
    }

    fn read_object(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        Ok(self.objects.get(id).cloned())
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
mod tests {
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
