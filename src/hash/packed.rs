//! Id tables that store each key in its own hash's width.
//!
//! An [`ObjectId`] is as wide as the widest hash plus its kind (33 bytes), so a table with an
//! entry per object of a push (`git push --mirror` of a 150,000-object repository) spent 60 %
//! more on keys in a SHA-1 repository than when ids were SHA-1 only. [`PackedIdMap`] keeps one
//! table per hash, keyed by the raw bytes: SHA-1 keys take 20 bytes, SHA-256 keys 32, and the
//! table of the kind a repository does not use never allocates. Ids come back by value.

use std::collections::HashMap;

use super::{IdHasherBuilder, ObjectId, Sha1Bytes, Sha256Bytes};

/// A map from object ids to `V`, each key stored in its hash's width (see the module
/// documentation). For large tables; small ones use [`super::IdMap`], which lends `&ObjectId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedIdMap<V> {
    sha1: HashMap<Sha1Bytes, V, IdHasherBuilder>,
    sha256: HashMap<Sha256Bytes, V, IdHasherBuilder>,
}

impl<V> Default for PackedIdMap<V> {
    fn default() -> Self {
        PackedIdMap {
            sha1: HashMap::default(),
            sha256: HashMap::default(),
        }
    }
}

impl<V> PackedIdMap<V> {
    /// An empty map with room for `n` SHA-1 ids: the SHA-256 table grows on its first key
    /// (a repository holds one kind).
    pub fn with_capacity(n: usize) -> Self {
        PackedIdMap {
            sha1: HashMap::with_capacity_and_hasher(n, IdHasherBuilder),
            sha256: HashMap::default(),
        }
    }

    /// Sets `id`'s value to `value`; returns the value it replaces.
    pub fn insert(&mut self, id: &ObjectId, value: V) -> Option<V> {
        match id {
            ObjectId::Sha1(k) => self.sha1.insert(*k, value),
            ObjectId::Sha256(k) => self.sha256.insert(*k, value),
        }
    }

    /// `id`'s value, inserting `value` first if `id` has none (`entry(id).or_insert(value)`).
    pub fn get_or_insert(&mut self, id: &ObjectId, value: V) -> &mut V {
        match id {
            ObjectId::Sha1(k) => self.sha1.entry(*k).or_insert(value),
            ObjectId::Sha256(k) => self.sha256.entry(*k).or_insert(value),
        }
    }

    /// `id`'s value.
    pub fn get(&self, id: &ObjectId) -> Option<&V> {
        match id {
            ObjectId::Sha1(k) => self.sha1.get(k),
            ObjectId::Sha256(k) => self.sha256.get(k),
        }
    }

    /// Whether `id` has a value.
    pub fn contains_key(&self, id: &ObjectId) -> bool {
        self.get(id).is_some()
    }

    /// Removes `id`; returns its value.
    pub fn remove(&mut self, id: &ObjectId) -> Option<V> {
        match id {
            ObjectId::Sha1(k) => self.sha1.remove(k),
            ObjectId::Sha256(k) => self.sha256.remove(k),
        }
    }

    /// How many ids have a value.
    pub fn len(&self) -> usize {
        self.sha1.len() + self.sha256.len()
    }

    /// Whether no id has a value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every id with its value, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (ObjectId, &V)> {
        let sha1 = self.sha1.iter().map(|(k, v)| (ObjectId::Sha1(*k), v));
        let sha256 = self.sha256.iter().map(|(k, v)| (ObjectId::Sha256(*k), v));
        sha1.chain(sha256)
    }

    /// Every id, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = ObjectId> + '_ {
        self.iter().map(|(id, _)| id)
    }
}

/// A set of object ids, each stored in its hash's width: a [`PackedIdMap`] without values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackedIdSet(PackedIdMap<()>);

impl PackedIdSet {
    /// Adds `id`; `true` if it was not there.
    pub fn insert(&mut self, id: &ObjectId) -> bool {
        self.0.insert(id, ()).is_none()
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.0.contains_key(id)
    }

    /// Removes `id`; `true` if it was there.
    pub fn remove(&mut self, id: &ObjectId) -> bool {
        self.0.remove(id).is_some()
    }

    /// How many ids the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every id, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = ObjectId> + '_ {
        self.0.keys()
    }
}

impl Extend<ObjectId> for PackedIdSet {
    fn extend<I: IntoIterator<Item = ObjectId>>(&mut self, ids: I) {
        for id in ids {
            self.insert(&id);
        }
    }
}

impl FromIterator<ObjectId> for PackedIdSet {
    fn from_iter<I: IntoIterator<Item = ObjectId>>(ids: I) -> Self {
        let mut set = PackedIdSet::default();
        set.extend(ids);
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashKind;

    #[test]
    fn both_kinds_kept_apart_and_returned_whole() {
        let mut map = PackedIdMap::default();
        let (a, b) = (
            HashKind::Sha1.repeat_byte(7),
            HashKind::Sha256.repeat_byte(7),
        );
        assert_eq!(map.insert(&a, 1), None);
        assert_eq!(map.insert(&b, 2), None);
        assert_eq!(map.insert(&a, 3), Some(1));
        assert_eq!((map.get(&a), map.get(&b)), (Some(&3), Some(&2)));
        assert_eq!(*map.get_or_insert(&b, 9), 2);
        assert_eq!(map.len(), 2);
        let mut ids: Vec<ObjectId> = map.keys().collect();
        ids.sort();
        assert_eq!(ids, vec![a, b]);
        assert_eq!(map.remove(&a), Some(3));
        assert!(!map.contains_key(&a) && map.contains_key(&b));

        let set: PackedIdSet = [a, b, a].into_iter().collect();
        assert_eq!(set.len(), 2);
        assert!(set.contains(&a) && set.contains(&b));
        assert!(!set.contains(&HashKind::Sha1.null()));
    }

    #[test]
    fn sha1_keys_take_twenty_bytes() {
        // The point of the type: a SHA-1 entry is no larger than before SHA-256 existed.
        assert_eq!(
            std::mem::size_of::<(Sha1Bytes, ())>(),
            HashKind::Sha1.len_in_bytes()
        );
        assert!(std::mem::size_of::<ObjectId>() > HashKind::Sha256.len_in_bytes());
    }
}
