//! Preferred bases for thin packs (git pack-objects' `add_preferred_base_object`): the trees and
//! blobs the client has at the paths of the objects being sent, found in the boundary trees.
//!
//! A fetch of recently pushed commits sends new versions of files whose previous versions the
//! client already has. Those versions are the best delta bases, but they are not in the pack, so
//! the delta search only sees them if they are named to it. This walks each boundary tree along
//! the paths the sent trees and blobs were reached by and returns what it finds there; the
//! search may then write a sent object as a REF_DELTA against one (the client's `index-pack
//! --fix-thin` completes the pack).
//!
//! Bounded like git: the trees of at most `max_trees` boundary commits (git: `pack.window`), a
//! directory is entered only when a tree was sent at its path, and never more bases than twice
//! the objects sent.
//! Deviation: paths are matched by [`name_hash`] rather than by name (the walk keeps only the
//! hash, and the search groups by it anyway); a collision adds a base that costs one delta
//! attempt, never a wrong pack. The caller offers none to a partial clone (a filter in the
//! request): the client may lack the boundary's blobs or trees, and its `index-pack` would have to
//! fetch each such base back.

use std::collections::HashSet;

use super::{name_hash, Error, PackObject, Walk};
use crate::hash::{IdSet, ObjectId};
use crate::odb::store::ObjectStore;
use crate::odb::{Kind, TreeIter};

/// The objects of `walk`'s boundary trees (the first `max_trees` of them) at the paths of
/// `walk.objects`, each with the name hash of its path; empty when `max_trees` is 0. Every one is
/// in `walk.edge`, none in `walk.objects`.
pub fn preferred_bases(
    repo: &dyn ObjectStore,
    walk: &Walk,
    max_trees: usize,
) -> Result<Vec<PackObject>, Error> {
    let mut bases = Vec::new();
    if max_trees == 0 || walk.boundary_trees.is_empty() {
        return Ok(bases);
    }
    // The paths sent, by kind: a tree sent at a path means something below it changed.
    let sent_paths: HashSet<(Kind, u32)> = walk
        .objects
        .iter()
        .filter(|o| matches!(o.kind, Kind::Tree | Kind::Blob))
        .map(|o| (o.kind, o.name_hash))
        .collect();
    // No root tree sent: no path changed (tags, or commits re-using trees the client has).
    if !sent_paths.contains(&(Kind::Tree, 0)) {
        return Ok(bases);
    }
    let limit = walk.objects.len().saturating_mul(2);
    let mut seen = IdSet::default();
    for root in walk.boundary_trees.iter().take(max_trees) {
        // (tree, name hash of its path, depth 0 for the root).
        let mut stack: Vec<(ObjectId, u32, bool)> = vec![(*root, 0, true)];
        while let Some((tree, hash, is_root)) = stack.pop() {
            if bases.len() >= limit {
                return Ok(bases);
            }
            if !seen.insert(tree) {
                continue;
            }
            // A tree the server lacks is one the client has and nothing here needs.
            let Some(obj) = repo.read_object(&tree)? else {
                continue;
            };
            if obj.kind != Kind::Tree {
                continue;
            }
            bases.push(PackObject {
                id: tree,
                kind: Kind::Tree,
                name_hash: hash,
            });
            // Paths below the root are "dir/name"; the root's entries are just "name" (as the
            // walk hashes them).
            let prefix = if is_root { 0 } else { name_hash(hash, b"/") };
            for entry in TreeIter::new(&obj.data, tree.kind()) {
                let entry = entry.map_err(|source| Error::Parse { id: tree, source })?;
                let Some(kind) = entry.kind() else {
                    continue;
                };
                let h = name_hash(prefix, entry.name);
                if !sent_paths.contains(&(kind, h)) {
                    continue;
                }
                if kind == Kind::Tree {
                    stack.push((entry.id, h, false));
                } else if seen.insert(entry.id) {
                    bases.push(PackObject {
                        id: entry.id,
                        kind,
                        name_hash: h,
                    });
                }
            }
        }
    }
    bases.truncate(limit);
    Ok(bases)
}

#[cfg(test)]
mod tests {
    use super::super::{objects_for_pack, WalkOptions};
    use super::*;
    use crate::odb::memory::MemoryObjects;
    use crate::progress::Discard;

    #[test]
    fn bases_are_the_clients_versions_at_sent_paths() {
        let mut r = MemoryObjects::new();
        let old = r.add(Kind::Blob, "old a");
        let new = r.add(Kind::Blob, "new a");
        let same = r.add(Kind::Blob, "unchanged");
        let other_old = r.add(Kind::Blob, "old b");
        let other_new = r.add(Kind::Blob, "new b");
        let d1 = r.tree(&[("a", old, false), ("keep", same, false)]);
        let d2 = r.tree(&[("a", new, false), ("keep", same, false)]);
        let k = r.tree(&[("k", same, false)]);
        let t1 = r.tree(&[("b", other_old, false), ("d", d1, true), ("k", k, true)]);
        let t2 = r.tree(&[("b", other_new, false), ("d", d2, true), ("k", k, true)]);
        let c1 = r.commit(t1, &[], 1);
        let c2 = r.commit(t2, &[c1], 2);
        let w = objects_for_pack(&r, &[c2], &[c1], &WalkOptions::default(), &mut Discard).unwrap();
        assert_eq!(w.boundary_trees, vec![t1]);
        let bases = preferred_bases(&r, &w, 10).unwrap();
        let ids: IdSet = bases.iter().map(|b| b.id).collect();
        // The changed paths' old versions; not the unchanged file nor the unchanged directory.
        assert_eq!(ids, [t1, d1, old, other_old].into_iter().collect());
        let hash_of = |id| w.objects.iter().find(|o| o.id == id).unwrap().name_hash;
        let base_hash = |id| bases.iter().find(|b| b.id == id).unwrap().name_hash;
        assert_eq!(base_hash(old), hash_of(new));
        assert_eq!(base_hash(d1), hash_of(d2));
        assert_eq!(base_hash(other_old), hash_of(other_new));
        assert!(bases.iter().all(|b| w.edge.contains(&b.id)));
        assert!(preferred_bases(&r, &w, 0).unwrap().is_empty());
    }

    #[test]
    fn only_the_newest_boundary_trees_are_searched() {
        // A merge of two branches the client has: its boundary is both parents.
        let mut r = MemoryObjects::new();
        let v: Vec<ObjectId> = (0..3)
            .map(|i| r.add(Kind::Blob, format!("version {i}")))
            .collect();
        let t: Vec<ObjectId> = v.iter().map(|b| r.tree(&[("a", *b, false)])).collect();
        let left = r.commit(t[0], &[], 1);
        let right = r.commit(t[1], &[], 2);
        let merge = r.commit(t[2], &[left, right], 3);
        let w = objects_for_pack(
            &r,
            &[merge],
            &[left, right],
            &WalkOptions::default(),
            &mut Discard,
        )
        .unwrap();
        assert_eq!(w.boundary_trees, vec![t[1], t[0]], "newest first");
        let ids = |n| -> IdSet {
            preferred_bases(&r, &w, n)
                .unwrap()
                .iter()
                .map(|b| b.id)
                .collect()
        };
        assert_eq!(ids(1), [t[1], v[1]].into_iter().collect());
        assert_eq!(ids(10), [t[1], v[1], t[0], v[0]].into_iter().collect());
    }
}
