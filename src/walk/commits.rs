//! [`CommitCache`]: the commits a request's walks parsed (parents, date, root tree), each parsed
//! once, stored by column at the repository's hash width.
//!
//! Every walk of a request keeps one entry per commit it reached: a push's connectivity check
//! loads the commit of every ref it is told the client has (tokio: hundreds of tags) and a clone
//! every commit of the history. As a map from the 33-byte [`ObjectId`] enum (wide enough for
//! SHA-256) to a record holding the tree as another one and the parents inline, an entry took
//! about 130 bytes and was 0.8 MB of a push's 3.5 MB heap peak on tokio. Here the ids, trees and
//! parents are raw bytes at the repository's width in three columns, parents of all commits
//! one after another, and the index is a table of positions compared against the id column (as
//! [`super::PackList`] does): about 75 bytes a SHA-1 commit with one parent.

use hashbrown::HashTable;

use super::list::{hash_raw, raw_at};
use super::{Error, TooMany, WrongHash};
use crate::hash::{HashKind, ObjectId};
use crate::odb::store::ObjectStore;
use crate::odb::{CommitRef, Kind};

/// Parsed commits (parents, date, tree), parsed once per request (see the module
/// documentation).
#[derive(Debug, Default)]
pub struct CommitCache {
    /// The repository's hash, known from the first commit loaded.
    hash: Option<HashKind>,
    /// The commits' ids, raw, one after another.
    ids: Vec<u8>,
    /// Their root trees, raw, by position.
    trees: Vec<u8>,
    /// Their committer dates, by position.
    times: Vec<i64>,
    /// By position: where the commit's parents end in `parents`, counted in ids (they start
    /// where the previous commit's end).
    parent_ends: Vec<u32>,
    /// Every commit's parents, raw, in position order.
    parents: Vec<u8>,
    /// Every position, found by the hash of the id there.
    index: HashTable<u32>,
}

/// A commit's parents, owned, stored inline for the usual zero or one: what a walk keeps while
/// it changes the cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Parents {
    /// A root commit.
    #[default]
    None,
    /// One parent.
    One(ObjectId),
    /// A merge.
    Many(Box<[ObjectId]>),
}

impl std::ops::Deref for Parents {
    type Target = [ObjectId];
    fn deref(&self) -> &[ObjectId] {
        match self {
            Parents::None => &[],
            Parents::One(p) => std::slice::from_ref(p),
            Parents::Many(v) => v,
        }
    }
}

impl<'a> IntoIterator for &'a Parents {
    type Item = &'a ObjectId;
    type IntoIter = std::slice::Iter<'a, ObjectId>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A commit's parents as the cache stores them: raw ids of one width, in order.
#[derive(Debug, Clone, Copy)]
pub struct ParentIds<'a> {
    raw: &'a [u8],
    hash: HashKind,
}

impl ParentIds<'_> {
    /// The parents in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = ObjectId> + '_ {
        // Every chunk is one id of the cache's width, which `from_bytes` takes.
        let null = self.hash.null();
        self.raw
            .chunks_exact(self.hash.len_in_bytes())
            .map(move |raw| ObjectId::from_bytes(raw).unwrap_or(null))
    }

    /// How many parents.
    pub fn len(&self) -> usize {
        self.raw.len() / self.hash.len_in_bytes()
    }

    /// Whether the commit is a root (or cut off by the repository's shallow boundary).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The parents, owned.
    pub fn to_vec(&self) -> Vec<ObjectId> {
        self.iter().collect()
    }

    /// The parents, owned, inline when there is at most one.
    pub fn owned(&self) -> Parents {
        let mut it = self.iter();
        match (it.len(), it.next()) {
            (0, _) | (_, None) => Parents::None,
            (1, Some(p)) => Parents::One(p),
            (_, Some(p)) => Parents::Many(std::iter::once(p).chain(it).collect()),
        }
    }
}

/// What the walk keeps of a commit, borrowed from a [`CommitCache`].
#[derive(Debug, Clone, Copy)]
pub struct CommitInfo<'a> {
    /// Parents in order.
    pub parents: ParentIds<'a>,
    /// Committer date.
    pub time: i64,
    /// Root tree.
    pub tree: ObjectId,
}

/// A commit as parsed, before it is stored.
struct Parsed {
    tree: ObjectId,
    parents: Vec<ObjectId>,
    time: i64,
}

impl CommitCache {
    /// The parsed commit `id`; a commit the repository holds without its parents (its
    /// [`ObjectStore::shallow_roots`]) has none here, so no walk goes past it. An `id` of
    /// another hash than the repository's is refused.
    pub fn get(&mut self, repo: &dyn ObjectStore, id: &ObjectId) -> Result<CommitInfo<'_>, Error> {
        let hash = repo.hash_kind();
        if id.kind() != hash {
            return Err(WrongHash {
                id: *id,
                expected: hash,
            }
            .into());
        }
        let pos = match self.position(id) {
            Some(pos) => pos,
            None => {
                let mut parsed = load(repo, id)?;
                if repo.shallow_roots().is_some_and(|s| s.contains(id)) {
                    parsed.parents.clear();
                }
                self.store(hash, id, parsed)?
            }
        };
        Ok(self.at(pos))
    }

    /// The commit `id` if it was loaded already (git knows a commit's parents only once it
    /// parsed it).
    pub fn peek(&self, id: &ObjectId) -> Option<CommitInfo<'_>> {
        self.position(id).map(|pos| self.at(pos))
    }

    /// How many commits are loaded.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether no commit is loaded.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// The position of `id`, if loaded.
    fn position(&self, id: &ObjectId) -> Option<u32> {
        let hash = self.hash?;
        let raw = id.as_bytes();
        let w = hash.len_in_bytes();
        self.index
            .find(hash_raw(raw), |&p| raw_at(&self.ids, w, p) == raw)
            .copied()
    }

    /// The commit at `pos`, a position the index handed out.
    fn at(&self, pos: u32) -> CommitInfo<'_> {
        let hash = self.hash.unwrap_or_default();
        let w = hash.len_in_bytes();
        let i = pos as usize;
        let start = match i.checked_sub(1) {
            Some(prev) => self.parent_ends.get(prev).copied().unwrap_or(0),
            None => 0,
        };
        let end = self.parent_ends.get(i).copied().unwrap_or(start);
        let (start, end) = (start as usize * w, end as usize * w);
        CommitInfo {
            parents: ParentIds {
                raw: self.parents.get(start..end).unwrap_or_default(),
                hash,
            },
            time: self.times.get(i).copied().unwrap_or(0),
            tree: ObjectId::from_bytes(raw_at(&self.trees, w, pos)).unwrap_or(hash.null()),
        }
    }

    /// Appends commit `id` as `parsed` in a repository of `hash`; its position. Refused when an
    /// id is not of `hash` (the columns hold one width) or the cache is full.
    fn store(&mut self, hash: HashKind, id: &ObjectId, parsed: Parsed) -> Result<u32, Error> {
        let wrong = |id: &ObjectId| WrongHash {
            id: *id,
            expected: hash,
        };
        if *self.hash.get_or_insert(hash) != hash {
            return Err(wrong(id).into());
        }
        let mut ids = std::iter::once(id)
            .chain([&parsed.tree])
            .chain(&parsed.parents);
        if let Some(other) = ids.find(|i| i.kind() != hash) {
            return Err(wrong(other).into());
        }
        let too_many = |what| TooMany { what };
        let pos = u32::try_from(self.len()).map_err(|_| too_many("commits"))?;
        let w = hash.len_in_bytes();
        let end = (self.parents.len() / w)
            .checked_add(parsed.parents.len())
            .and_then(|e| u32::try_from(e).ok())
            .ok_or(too_many("parents"))?;
        self.ids.extend_from_slice(id.as_bytes());
        self.trees.extend_from_slice(parsed.tree.as_bytes());
        self.times.push(parsed.time);
        for p in &parsed.parents {
            self.parents.extend_from_slice(p.as_bytes());
        }
        self.parent_ends.push(end);
        let ids = &self.ids;
        self.index
            .insert_unique(hash_raw(id.as_bytes()), pos, |&p| {
                hash_raw(raw_at(ids, w, p))
            });
        Ok(pos)
    }
}

/// Reads commit `id` from the commit-graph, else from its object.
fn load(repo: &dyn ObjectStore, id: &ObjectId) -> Result<Parsed, Error> {
    if let Some(g) = repo.commit_from_graph(id) {
        return Ok(Parsed {
            tree: g.tree,
            parents: g.parents,
            time: g.time,
        });
    }
    // The head is all the parse reads: the message and signature stay compressed (inflating
    // them was most of the commit walk's CPU).
    let obj = repo.read_commit_head(id)?.ok_or_else(|| Error::Missing {
        id: *id,
        kind: "commit",
        context: "a commit walk".into(),
    })?;
    if obj.kind != Kind::Commit {
        return Err(Error::WrongKind {
            id: *id,
            actual: obj.kind,
            expected: Kind::Commit,
        });
    }
    let c = CommitRef::parse(&obj.data).map_err(|source| Error::Parse { id: *id, source })?;
    Ok(Parsed {
        tree: c.tree,
        parents: c.parents,
        time: c.commit_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odb::memory::MemoryObjects;

    #[test]
    fn keeps_each_commits_parents_date_and_tree() {
        let mut r = MemoryObjects::new();
        let t = r.tree(&[]);
        let root = r.commit(t, &[], 1);
        let a = r.commit(t, &[root], 2);
        let b = r.commit(t, &[root], 3);
        let merge = r.commit(t, &[a, b, root], 4);
        let mut cache = CommitCache::default();
        assert!(cache.peek(&merge).is_none());
        let m = cache.get(&r, &merge).unwrap();
        assert_eq!((m.time, m.tree), (4, t));
        assert_eq!(m.parents.to_vec(), vec![a, b, root]);
        assert_eq!(&*m.parents.owned(), &[a, b, root]);
        // Loaded in another order than the positions' parents, then looked up again.
        for (c, time, parents) in [(a, 2, vec![root]), (root, 1, vec![]), (b, 3, vec![root])] {
            let info = cache.get(&r, &c).unwrap();
            assert_eq!((info.time, info.parents.to_vec()), (time, parents.clone()));
            assert_eq!(&*info.parents.owned(), parents.as_slice());
        }
        assert_eq!(cache.len(), 4);
        let again = cache.peek(&merge).unwrap();
        assert_eq!(again.parents.len(), 3);
        assert!(cache.peek(&root).unwrap().parents.is_empty());
    }

    #[test]
    fn refuses_ids_of_another_hash_and_missing_commits() {
        let mut r = MemoryObjects::new();
        let t = r.tree(&[]);
        let c = r.commit(t, &[], 1);
        let mut cache = CommitCache::default();
        cache.get(&r, &c).unwrap();
        let wide = HashKind::Sha256.repeat_byte(3);
        assert!(matches!(cache.get(&r, &wide), Err(Error::WrongHash(_))));
        let ghost = HashKind::Sha1.repeat_byte(9);
        assert!(matches!(cache.get(&r, &ghost), Err(Error::Missing { .. })));
        assert!(matches!(cache.get(&r, &t), Err(Error::WrongKind { .. })));
        assert_eq!(cache.len(), 1);
    }
}
