//! [`PackList`]: the objects a walk chose, each id in its hash's width, indexed by id.
//!
//! A clone's list holds an entry per object of the repository (tokio: 153,000) and is alive
//! through the walk's peak, together with the set of what was sent so far. As a
//! `Vec<PackObject>` each entry took 40 bytes, 33 of them the id enum wide enough for SHA-256,
//! and the set held each id a second time (21 bytes a slot, 5.5 MB for tokio). Here the list
//! keeps three columns (the ids' raw bytes packed at the repository's width, the kinds, the
//! name hashes: 25 bytes a SHA-1 entry, 28 before SHA-256 support) and the set is an index of
//! list positions by id, 5 bytes a slot, which looks the ids up in the list (as C git's
//! `packing_data` index does). [`PackObject`]s are built on the way out.

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use super::{Error, PackObject, TooMany};
use crate::hash::{HashKind, ObjectId};
use crate::odb::Kind;

/// An id of another hash than the list's: corrupt storage (a tree of one repository naming an
/// id of another width) or a caller mixing repositories.
#[derive(Debug, thiserror::Error)]
#[error("object {id} is not a {} id", expected.name())]
pub struct WrongHash {
    /// The id.
    pub id: ObjectId,
    /// The list's hash.
    pub expected: HashKind,
}

/// Objects to put in a pack, in order, stored by column and indexed by id (see the module
/// documentation).
#[derive(Debug, Clone, Default)]
pub struct PackList {
    hash: HashKind,
    /// The ids' raw bytes, `hash.len_in_bytes()` each.
    ids: Vec<u8>,
    kinds: Vec<Kind>,
    name_hashes: Vec<u32>,
    /// Every position of the list, found by the hash of the id there.
    index: HashTable<u32>,
}

impl PartialEq for PackList {
    /// Lists are equal when they hold the same objects in the same order (the index follows).
    fn eq(&self, other: &Self) -> bool {
        (self.hash, &self.ids, &self.kinds, &self.name_hashes)
            == (other.hash, &other.ids, &other.kinds, &other.name_hashes)
    }
}

impl Eq for PackList {}

/// The hash of the raw id `raw` in the index: its first eight bytes, since the bytes of an
/// object id are spread evenly already (the walk looks up every tree entry that changed).
pub(super) fn hash_raw(raw: &[u8]) -> u64 {
    raw.first_chunk::<8>().map_or(0, |b| u64::from_le_bytes(*b))
}

/// The raw id at position `pos` of the id column `ids` of width `w`.
pub(super) fn raw_at(ids: &[u8], w: usize, pos: u32) -> &[u8] {
    let start = (pos as usize).saturating_mul(w);
    ids.get(start..start.saturating_add(w)).unwrap_or_default()
}

impl PackList {
    /// An empty list of `hash` ids.
    pub fn new(hash: HashKind) -> Self {
        PackList::with_capacity(hash, 0)
    }

    /// An empty list of `hash` ids with room for `n` objects: a list whose length is known
    /// up front is allocated once instead of growing by doubling, which leaves each smaller
    /// copy behind as a hole in the heap.
    pub fn with_capacity(hash: HashKind, n: usize) -> Self {
        PackList {
            hash,
            ids: Vec::with_capacity(n.saturating_mul(hash.len_in_bytes())),
            kinds: Vec::with_capacity(n),
            name_hashes: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
        }
    }

    /// The list's hash.
    pub fn hash_kind(&self) -> HashKind {
        self.hash
    }

    /// Appends `o`, whether or not the list holds its id already; refused when its id is not
    /// of the list's hash or the list is full.
    pub fn push(&mut self, o: PackObject) -> Result<(), Error> {
        let pos = self.next_position(&o.id)?;
        self.ids.extend_from_slice(o.id.as_bytes());
        self.kinds.push(o.kind);
        self.name_hashes.push(o.name_hash);
        self.index_last(pos);
        Ok(())
    }

    /// Appends `o` unless the list holds its id already; `true` if it was appended.
    pub fn insert(&mut self, o: PackObject) -> Result<bool, Error> {
        self.insert_with(&o.id, o.kind, || o.name_hash)
    }

    /// Appends object `id` of kind `kind` unless the list holds it already, its name hash
    /// computed by `name_hash` only then; `true` if it was appended. One look-up both asks and
    /// inserts: the tree walk does this for every entry that changed.
    pub fn insert_with(
        &mut self,
        id: &ObjectId,
        kind: Kind,
        name_hash: impl FnOnce() -> u32,
    ) -> Result<bool, Error> {
        let pos = self.next_position(id)?;
        let raw = id.as_bytes();
        let (w, ids) = (self.hash.len_in_bytes(), &self.ids);
        match self.index.entry(
            hash_raw(raw),
            |&p| raw_at(ids, w, p) == raw,
            |&p| hash_raw(raw_at(ids, w, p)),
        ) {
            Entry::Occupied(_) => return Ok(false),
            Entry::Vacant(slot) => {
                slot.insert(pos);
            }
        }
        self.ids.extend_from_slice(raw);
        self.kinds.push(kind);
        self.name_hashes.push(name_hash());
        Ok(true)
    }

    /// The position an object `id` appended now takes: refused when `id` is not of the list's
    /// hash, or when the list holds as many objects as a `u32` position can number.
    fn next_position(&self, id: &ObjectId) -> Result<u32, Error> {
        if id.kind() != self.hash {
            return Err(WrongHash {
                id: *id,
                expected: self.hash,
            }
            .into());
        }
        u32::try_from(self.len()).map_err(|_| TooMany { what: "objects" }.into())
    }

    /// Puts position `pos`, just filled, into the index.
    fn index_last(&mut self, pos: u32) {
        let w = self.hash.len_in_bytes();
        let ids = &self.ids;
        let h = hash_raw(raw_at(ids, w, pos));
        self.index
            .insert_unique(h, pos, |&p| hash_raw(raw_at(ids, w, p)));
    }

    /// Whether the list holds `id`.
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.position(id).is_some()
    }

    /// The position of `id` in the list, if it holds it (one of them, if pushed twice).
    pub fn position(&self, id: &ObjectId) -> Option<usize> {
        let raw = id.as_bytes();
        let w = self.hash.len_in_bytes();
        self.index
            .find(hash_raw(raw), |&p| raw_at(&self.ids, w, p) == raw)
            .map(|&p| p as usize)
    }

    /// The kind of the object at `i`.
    pub fn kind(&self, i: usize) -> Option<Kind> {
        self.kinds.get(i).copied()
    }

    /// How many objects the list holds.
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// The id of the object at `i`.
    pub fn id(&self, i: usize) -> Option<ObjectId> {
        let w = self.hash.len_in_bytes();
        let raw = self.ids.get(i.checked_mul(w)?..)?.get(..w)?;
        ObjectId::from_bytes(raw).ok()
    }

    /// The object at `i`.
    pub fn get(&self, i: usize) -> Option<PackObject> {
        Some(PackObject {
            id: self.id(i)?,
            kind: *self.kinds.get(i)?,
            name_hash: *self.name_hashes.get(i)?,
        })
    }

    /// The objects in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = PackObject> + '_ {
        let w = self.hash.len_in_bytes();
        self.ids
            .chunks_exact(w)
            .zip(&self.kinds)
            .zip(&self.name_hashes)
            .map(|((raw, &kind), &name_hash)| PackObject {
                // Every chunk is `w` bytes, one of the two widths `from_bytes` takes.
                id: ObjectId::from_bytes(raw).unwrap_or_else(|_| self.hash.null()),
                kind,
                name_hash,
            })
    }

    /// The ids in order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = ObjectId> + '_ {
        self.iter().map(|o| o.id)
    }

    /// Keeps only the objects `keep` says yes to, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&PackObject) -> bool) {
        let w = self.hash.len_in_bytes();
        let mut kept = 0;
        for i in 0..self.len() {
            let Some(o) = self.get(i) else { break };
            if !keep(&o) {
                continue;
            }
            if kept != i {
                self.ids.copy_within(i * w..(i + 1) * w, kept * w);
                self.kinds[kept] = self.kinds[i];
                self.name_hashes[kept] = self.name_hashes[i];
            }
            kept += 1;
        }
        self.ids.truncate(kept * w);
        self.kinds.truncate(kept);
        self.name_hashes.truncate(kept);
        // Positions moved: the index is built again.
        self.index.clear();
        // Every position kept was below `u32::MAX` when it was appended.
        for pos in (0..kept).filter_map(|p| u32::try_from(p).ok()) {
            self.index_last(pos);
        }
    }

    /// Appends the objects of `other` this list lacks, in `other`'s order.
    pub fn extend_new(&mut self, other: &PackList) -> Result<(), Error> {
        let (ids, kinds, hashes) = (&other.ids, &other.kinds, &other.name_hashes);
        let w = other.hash.len_in_bytes();
        for ((raw, &kind), &name_hash) in ids.chunks_exact(w).zip(kinds).zip(hashes) {
            let id = ObjectId::from_bytes(raw).unwrap_or_else(|_| other.hash.null());
            self.insert_with(&id, kind, || name_hash)?;
        }
        Ok(())
    }

    /// The objects as [`PackObject`]s, for the writers that take a slice.
    pub fn to_vec(&self) -> Vec<PackObject> {
        self.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(hash: HashKind, b: u8, kind: Kind, name_hash: u32) -> PackObject {
        PackObject {
            id: hash.repeat_byte(b),
            kind,
            name_hash,
        }
    }

    #[test]
    fn keeps_order_columns_and_width() {
        for hash in HashKind::ALL.iter().copied() {
            let all: Vec<PackObject> = (0..10u8)
                .map(|b| {
                    let kind = [Kind::Blob, Kind::Tree][usize::from(b % 2)];
                    obj(hash, b, kind, u32::from(b) * 7)
                })
                .collect();
            let mut list = PackList::with_capacity(hash, 4);
            for o in &all {
                list.push(*o).unwrap();
            }
            assert_eq!(list.len(), 10);
            assert_eq!(list.to_vec(), all);
            assert_eq!(list.get(3), Some(all[3]));
            assert_eq!(list.get(10), None);
            let ids: Vec<ObjectId> = all.iter().map(|o| o.id).collect();
            assert_eq!(list.ids().collect::<Vec<_>>(), ids);
            list.retain(|o| o.kind == Kind::Tree || o.name_hash == 0);
            let want: Vec<PackObject> = all
                .iter()
                .filter(|o| o.kind == Kind::Tree || o.name_hash == 0)
                .copied()
                .collect();
            assert_eq!(list.to_vec(), want);
            let mut more = PackList::new(hash);
            more.push(obj(hash, 99, Kind::Tag, 0)).unwrap();
            list.extend_new(&more).unwrap();
            assert_eq!(list.get(list.len() - 1), Some(obj(hash, 99, Kind::Tag, 0)));
        }
    }

    #[test]
    fn the_index_follows_pushes_retains_and_extends() {
        let hash = HashKind::Sha1;
        let mut list = PackList::new(hash);
        // Enough entries for the index to grow several times.
        for b in 0..=255u8 {
            assert!(list.insert(obj(hash, b, Kind::Blob, 0)).unwrap());
        }
        assert!(!list.insert(obj(hash, 7, Kind::Tree, 1)).unwrap());
        assert_eq!(list.len(), 256);
        assert!((0..=255u8).all(|b| list.contains(&hash.repeat_byte(b))));
        assert!(!list.contains(&HashKind::Sha256.repeat_byte(7)));
        list.retain(|o| o.id.first_byte() % 3 == 0);
        assert!((0..=255u8).all(|b| list.contains(&hash.repeat_byte(b)) == (b % 3 == 0)));
        let mut other = PackList::new(hash);
        for b in [1, 3, 4] {
            other.push(obj(hash, b, Kind::Blob, 5)).unwrap();
        }
        let before = list.len();
        list.extend_new(&other).unwrap();
        // 3 was there already: 1 and 4 are appended, in order.
        assert_eq!(list.len(), before + 2);
        assert_eq!(list.get(before), Some(obj(hash, 1, Kind::Blob, 5)));
        assert_eq!(list.get(before + 1), Some(obj(hash, 4, Kind::Blob, 5)));
        assert!(list.contains(&hash.repeat_byte(1)) && list.contains(&hash.repeat_byte(3)));
        assert!(!list.contains(&hash.repeat_byte(2)));
    }

    #[test]
    fn refuses_an_id_of_another_hash() {
        let mut list = PackList::new(HashKind::Sha1);
        assert!(list.push(obj(HashKind::Sha256, 1, Kind::Blob, 0)).is_err());
        let mut wide = PackList::new(HashKind::Sha256);
        wide.push(obj(HashKind::Sha256, 1, Kind::Blob, 0)).unwrap();
        assert!(list.extend_new(&wide).is_err());
        assert!(list.is_empty());
        assert!(list.extend_new(&PackList::new(HashKind::Sha256)).is_ok());
    }
}
