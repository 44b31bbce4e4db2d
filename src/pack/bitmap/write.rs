//! Writing a pack's reachability bitmaps (`.bitmap`, gitformat-bitmap v1), so that a pack Sluice
//! wrote serves clones and fetches as fast as one `git repack -b` wrote.
//!
//! Data flow: the pack's objects in pack order ([`PackLayout`]) and its commits newest first go
//! in; [`select_commits`] picks the commits that get a bitmap (every ref tip, every recent commit,
//! then sparser further back, as git's `bitmap_writer_select_commits` spaces them); [`build`]
//! computes each one's closure oldest first, OR-ing in the closures of selected ancestors so
//! that every tree is read about once (not at all when the walk that listed the objects recorded
//! it, see [`TreeChildren`]); [`encode_file`] serializes header, type bitmaps, entries
//! (each XOR-ed with the one of the ten before it that makes it smallest, as git does), the
//! name-hash cache and the trailer checksum.
//!
//! The format requires every bitmap to be a full closure inside the pack (`BITMAP_OPT_FULL_DAG`).
//! A commit whose history or trees reach an object outside the pack (in a `.keep` pack, an
//! alternate, beyond a shallow boundary) gets no bitmap: readers then walk from it instead.

use std::collections::{BinaryHeap, HashMap};

use crate::hash::{Hasher, IdMap, ObjectId, PackedIdMap};
use crate::odb::store::{self, ObjectStore};
use crate::odb::{CommitRef, Kind};
use crate::pack::ewah::{self, Bitmap};
use crate::walk::bases::Bases;
use crate::walk::children::{self, TreeChildren};
use crate::walk::name_hash;

/// Why bitmaps could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository failed.
    #[error(transparent)]
    Backend(#[from] store::Error),
    /// A stored closure could not be read back.
    #[error(transparent)]
    Ewah(#[from] ewah::Error),
    /// The trailer checksum could not be computed.
    #[error("bitmap checksum failed")]
    Checksum,
    /// More objects than a bitmap file can count.
    #[error("too many objects for a bitmap: {0}")]
    TooMany(usize),
}

/// `BITMAP_OPT_FULL_DAG`: every bitmap is a closure inside the pack.
const FULL_DAG: u16 = 0x1;
/// `BITMAP_OPT_HASH_CACHE`: the name hashes of all objects, in `.idx` order, follow the entries.
const HASH_CACHE: u16 = 0x4;
/// Every one of the newest commits gets a bitmap (git's `MUST_REGION`).
const DENSE: usize = 100;
/// Up to here the spacing grows to [`SPACING`] (git's `MIN_REGION`).
const SPARSE_FROM: usize = 20_000;
/// Usual distance between selected commits (git's `MIN_COMMITS`).
const SPACING: usize = 100;
/// Largest distance, far back in history (git's `MAX_COMMITS`).
const MAX_SPACING: usize = 5_000;

/// The objects of a pack in pack (offset) order, as a bitmap numbers them.
#[derive(Debug, Default)]
pub struct PackLayout {
    /// Ids, by pack position.
    pub ids: Vec<ObjectId>,
    /// Kinds, by pack position.
    pub kinds: Vec<Kind>,
    /// Name hashes ([`crate::walk::name_hash`], 0 when unknown), by pack position.
    pub name_hashes: Vec<u32>,
    /// Pack position of each id, keys in their hash's width: with `ObjectId` keys this map
    /// and `ids`' growth were a fifth of the repack's peak heap.
    pub positions: PackedIdMap<u32>,
}

impl PackLayout {
    /// A layout from `objects` (id, kind, name hash), already in pack order.
    pub fn new(objects: impl IntoIterator<Item = (ObjectId, Kind, u32)>) -> Self {
        let objects = objects.into_iter();
        let n = objects.size_hint().0;
        let mut l = PackLayout {
            ids: Vec::with_capacity(n),
            kinds: Vec::with_capacity(n),
            name_hashes: Vec::with_capacity(n),
            positions: PackedIdMap::with_capacity(n),
        };
        for (i, (id, kind, hash)) in objects.enumerate() {
            l.ids.push(id);
            l.kinds.push(kind);
            l.name_hashes.push(hash);
            l.positions.insert(&id, i as u32);
        }
        l
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the pack is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// For each pack position, the position of its id in the `.idx` (sorted by id).
    fn idx_positions(&self) -> Vec<u32> {
        let mut by_id: Vec<u32> = (0..self.ids.len() as u32).collect();
        by_id.sort_unstable_by_key(|&p| self.ids[p as usize]);
        let mut out = vec![0u32; self.ids.len()];
        for (idx_pos, &pack_pos) in by_id.iter().enumerate() {
            out[pack_pos as usize] = idx_pos as u32;
        }
        out
    }
}

/// The commits to give bitmaps, as git's `bitmap_writer_select_commits` picks them from
/// `commits` (newest first): every one of the newest [`DENSE`], then one per window whose width
/// grows with the distance to [`SPACING`], and beyond [`SPARSE_FROM`] to [`MAX_SPACING`]; in a
/// window a ref tip (`tips`) is preferred, as git prefers the tips it is told to, else the
/// window's oldest commit; the last, incomplete window gets none (as in git). At most `max`.
/// Returned in `commits` order. Forcing a bitmap on every tip, as Sluice once did, made
/// `.bitmap` files of tag-rich histories ten times git's.
pub fn select_commits(commits: &[ObjectId], tips: &[ObjectId], max: usize) -> Vec<ObjectId> {
    if commits.len() < DENSE {
        return commits.iter().take(max).copied().collect();
    }
    let tip_set: crate::hash::IdSet = tips.iter().copied().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < max {
        let next = window(i);
        if i + next >= commits.len() {
            break;
        }
        let chosen = (i..=i + next)
            .find(|&j| tip_set.contains(&commits[j]))
            .unwrap_or(i + next);
        out.push(commits[chosen]);
        i += next + 1;
    }
    out
}

/// git's `next_commit_index`: how many commits after `idx` the next window spans.
fn window(idx: usize) -> usize {
    if idx <= DENSE {
        0
    } else if idx <= SPARSE_FROM {
        (idx - DENSE).min(SPACING)
    } else {
        (idx - SPARSE_FROM).clamp(SPACING, MAX_SPACING)
    }
}

/// The closures of `selected` (newest first, as [`select_commits`] returns them) over `layout`,
/// as (commit, closure) oldest first; commits whose closure leaves the pack are left out.
/// The trees `children` has a record of (positions as in `layout`) are not read.
pub fn build(
    repo: &dyn ObjectStore,
    layout: &PackLayout,
    selected: &[ObjectId],
    children: Option<&TreeChildren>,
) -> Result<Vec<(ObjectId, Bitmap)>, Error> {
    // Closures are kept EWAH-encoded between uses: thousands of plain bitmaps of a large pack
    // would not fit in memory.
    let mut stored: Vec<(ObjectId, Vec<u8>)> = Vec::new();
    let mut done: IdMap<usize> = IdMap::default();
    let mut bases = Bases::default();
    let mut commits = HashMap::new();
    for id in selected.iter().rev() {
        let mut c = Closure {
            repo,
            layout,
            set: Bitmap::with_len(layout.len()),
            bases: &mut bases,
            commits: &mut commits,
            children,
        };
        match c.fill(id, &done, &stored)? {
            Some(()) => {
                done.insert(*id, stored.len());
                stored.push((*id, ewah::encode(&c.set, layout.len())));
            }
            None => tracing::debug!(commit = %id, "reaches outside the pack; no bitmap"),
        }
    }
    stored
        .into_iter()
        .map(|(id, bytes)| Ok((id, ewah::decode(&bytes, layout.len())?)))
        .collect()
}

/// One commit's closure being filled, with the tree versions every closure shares.
struct Closure<'a> {
    repo: &'a dyn ObjectStore,
    layout: &'a PackLayout,
    /// The pack positions reached so far.
    set: Bitmap,
    /// The last version of each directory read, tagged with its pack position. A tree whose
    /// bit is set has its whole subtree in the closure (when this one is done), so the
    /// entries a later version shares with it need no look-up: most entries of most trees.
    bases: &'a mut Bases,
    /// By pack position, the positions of each commit's root tree and parents (see
    /// [`Closure::links`]).
    commits: &'a mut HashMap<u32, Option<Box<[u32]>>>,
    /// The entries of the trees the walk recorded: those are never read.
    children: Option<&'a TreeChildren>,
}

/// A tree to read: (pack position, depth, name hash of its path), smallest position first.
type TreeAt = std::cmp::Reverse<(u32, u64, u32)>;

impl Closure<'_> {
    /// Sets everything reachable from `commit`; `None` when something is not in the pack.
    /// Closures already in `stored` (named by `done`) are OR-ed in instead of walked; a tree
    /// whose bit is set has its whole subtree set, so it is not read again.
    fn fill(
        &mut self,
        commit: &ObjectId,
        done: &IdMap<usize>,
        stored: &[(ObjectId, Vec<u8>)],
    ) -> Result<Option<()>, Error> {
        let n = self.layout.len();
        let Some(start) = self.position(commit) else {
            return Ok(None);
        };
        // Commits in pack order too (newest first), so a selected descendant's stored closure
        // is OR-ed in before its ancestors are met: walked in stack order, the far side of a
        // merge went down to the root for every closure, re-reading most of the history.
        let mut commits = BinaryHeap::from([std::cmp::Reverse(start)]);
        let mut trees: BinaryHeap<TreeAt> = BinaryHeap::new();
        // Commits first, so stored closures cover the trees before any is walked.
        while let Some(std::cmp::Reverse(pos)) = commits.pop() {
            if self.set.get(pos as usize) {
                continue;
            }
            let id = self.layout.ids[pos as usize];
            if let Some(&i) = done.get(&id) {
                self.set.or(&ewah::decode(&stored[i].1, n)?);
                continue;
            }
            self.set.set(pos as usize);
            let Some((tree, parents)) = self.links(pos)?.and_then(|l| l.split_first()) else {
                return Ok(None);
            };
            commits.extend(parents.iter().map(|&p| std::cmp::Reverse(p)));
            trees.push(std::cmp::Reverse((*tree, 0, 0)));
        }
        // In pack order, which is the walk's (newest first, depth first): each tree is read
        // right after the newer versions its stored delta is based on, from the base cache.
        while let Some(std::cmp::Reverse((pos, depth, hash))) = trees.pop() {
            if self.set.get(pos as usize) {
                continue;
            }
            self.set.set(pos as usize);
            if !self.tree(pos, depth, hash, &mut trees)? {
                return Ok(None);
            }
        }
        Ok(Some(()))
    }

    /// The pack positions of the root tree and the parents of the commit at `pos`, read once
    /// for all closures; `None` when one is not in the pack.
    fn links(&mut self, pos: u32) -> Result<Option<&[u32]>, Error> {
        if !self.commits.contains_key(&pos) {
            let id = self.layout.ids[pos as usize];
            let (tree, parents) = match self.repo.commit_from_graph(&id) {
                Some(g) => (g.tree, g.parents),
                None => {
                    let data = read(self.repo, &id)?;
                    let c = CommitRef::parse(&data)
                        .map_err(|source| store::Error::Object { id, source })?;
                    (c.tree, c.parents)
                }
            };
            let links: Option<Box<[u32]>> = std::iter::once(&tree)
                .chain(&parents)
                .map(|id| self.position(id))
                .collect();
            self.commits.insert(pos, links);
        }
        Ok(self.commits.get(&pos).and_then(|l| l.as_deref()))
    }

    /// Sets the blobs of the tree at `pos` (at `depth`, path hashed to `hash`) and queues its
    /// subtrees not set yet; false when an entry is not in the pack.
    fn tree(
        &mut self,
        pos: u32,
        depth: u64,
        hash: u32,
        trees: &mut BinaryHeap<TreeAt>,
    ) -> Result<bool, Error> {
        if let Some(entries) = self.children.and_then(|c| c.of(pos)) {
            return Ok(self.recorded(entries, depth, trees));
        }
        let id = self.layout.ids[pos as usize];
        let data = read(self.repo, &id)?;
        let place = (depth, hash);
        // A base not in this closure says nothing about what it holds; nor does this very
        // tree, read by an earlier closure (its bit was set just now, its entries not yet).
        if self
            .bases
            .tag_at(place)
            .is_some_and(|t| t == pos || !self.set.get(t as usize))
        {
            self.bases.forget(place);
        }
        // Paths below the root are "dir/name"; the root's entries are just "name".
        let prefix = if depth == 0 { 0 } else { name_hash(hash, b"/") };
        let (layout, set) = (self.layout, &mut self.set);
        let visited: Result<(), Option<store::Error>> =
            self.bases
                .for_new_entries_tagged(place, data, id.kind(), pos, |entry| {
                    let entry =
                        entry.map_err(|source| Some(store::Error::Object { id, source }))?;
                    let Some(kind) = entry.kind() else {
                        return Ok(()); // a gitlink: the commit lives in another repository
                    };
                    let p = *layout.positions.get(&entry.id).ok_or(None)?;
                    if set.get(p as usize) {
                        return Ok(());
                    }
                    if kind == Kind::Tree {
                        let child = (p, depth + 1, name_hash(prefix, entry.name));
                        trees.push(std::cmp::Reverse(child));
                    } else {
                        set.set(p as usize);
                    }
                    Ok(())
                });
        match visited {
            Ok(()) => Ok(true),
            Err(None) => Ok(false),
            Err(Some(e)) => Err(e.into()),
        }
    }

    /// [`Self::tree`] for a tree whose `entries` were recorded (see [`TreeChildren::of`]).
    fn recorded(&mut self, entries: &[u32], depth: u64, trees: &mut BinaryHeap<TreeAt>) -> bool {
        for &p in entries {
            match p {
                children::GITLINK => continue, // the commit lives in another repository
                children::OUTSIDE => return false,
                _ => {}
            }
            let Some(&kind) = self.layout.kinds.get(p as usize) else {
                return false;
            };
            if self.set.get(p as usize) {
                continue;
            }
            if kind == Kind::Tree {
                let hash = self.layout.name_hashes[p as usize];
                trees.push(std::cmp::Reverse((p, depth + 1, hash)));
            } else {
                self.set.set(p as usize);
            }
        }
        true
    }

    fn position(&self, id: &ObjectId) -> Option<u32> {
        self.layout.positions.get(id).copied()
    }
}

/// How far back an entry may name the bitmap it is XOR-ed with (git's `MAX_XOR_OFFSET`).
const MAX_XOR_OFFSET: usize = 10;

/// Entry `i` encoded as small as git would store it: plain, or XOR-ed with one of the
/// [`MAX_XOR_OFFSET`] entries before it (readers undo the XOR with that entry, in file order);
/// (offset, EWAH bytes), offset 0 for plain. Entries are oldest first, so a commit's closure
/// differs from an ancestor's by what was added in between.
fn smallest_xor(closures: &[(ObjectId, Bitmap)], i: usize, bits: usize) -> (u8, Vec<u8>) {
    let bitmap = &closures[i].1;
    let mut best = (0u8, ewah::encode(bitmap, bits));
    for offset in 1..=MAX_XOR_OFFSET.min(i) {
        let mut x = bitmap.clone();
        x.xor(&closures[i - offset].1);
        let encoded = ewah::encode(&x, bits);
        if encoded.len() < best.1.len() {
            best = (offset as u8, encoded);
        }
    }
    best
}

fn read(repo: &dyn ObjectStore, id: &ObjectId) -> Result<Vec<u8>, Error> {
    Ok(repo
        .read_object(id)?
        .ok_or(store::Error::MissingObject(*id))?
        .data)
}

/// The `.bitmap` file for the pack with trailer `pack_checksum` laid out as `layout`, holding
/// `closures` (commit, closure); every commit must be in the layout.
pub fn encode_file(
    pack_checksum: &ObjectId,
    layout: &PackLayout,
    closures: &[(ObjectId, Bitmap)],
) -> Result<Vec<u8>, Error> {
    let n = layout.len();
    let count = u32::try_from(closures.len()).map_err(|_| Error::TooMany(closures.len()))?;
    u32::try_from(n).map_err(|_| Error::TooMany(n))?;
    let mut out = Vec::new();
    out.extend_from_slice(b"BITM");
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(FULL_DAG | HASH_CACHE).to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(pack_checksum.as_bytes());
    for kind in [Kind::Commit, Kind::Tree, Kind::Blob, Kind::Tag] {
        let mut b = Bitmap::with_len(n);
        for (pos, k) in layout.kinds.iter().enumerate() {
            if *k == kind {
                b.set(pos);
            }
        }
        out.extend(ewah::encode(&b, n));
    }
    let idx_pos = layout.idx_positions();
    for (i, (commit, _)) in closures.iter().enumerate() {
        let pos = layout
            .positions
            .get(commit)
            .ok_or(store::Error::MissingObject(*commit))?;
        let (offset, encoded) = smallest_xor(closures, i, n);
        out.extend_from_slice(&idx_pos[*pos as usize].to_be_bytes());
        out.push(offset);
        out.push(0); // flags
        out.extend(encoded);
    }
    // In `.idx` order, as git's `write_hash_cache` writes it and `bitmap_name_hash` reads it.
    let mut by_idx = vec![0u32; n];
    for (h, &i) in layout.name_hashes.iter().zip(&idx_pos) {
        by_idx[i as usize] = *h;
    }
    for h in &by_idx {
        out.extend_from_slice(&h.to_be_bytes());
    }
    let mut hasher = Hasher::trailer_only(pack_checksum.kind());
    hasher.update(&out);
    let trailer = hasher.finish().map_err(|_| Error::Checksum)?;
    out.extend_from_slice(trailer.as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odb::memory::MemoryObjects;
    use crate::pack::bitmap::PackBitmaps;

    fn ids(n: u8) -> Vec<ObjectId> {
        (0..n)
            .map(|i| ObjectId::from_bytes(&[i; 20]).unwrap())
            .collect()
    }

    #[test]
    fn selection_follows_git_windows_and_prefers_tips() {
        let commits = ids(250);
        let all = select_commits(&commits, &[], 10_000);
        // The newest 101 (git's MUST_REGION, inclusive), then windows 1, 3, 7, ... wide, each
        // giving its oldest commit.
        assert!(all[..101] == commits[..101]);
        assert_eq!(all[101..104], [commits[102], commits[106], commits[114]]);
        let tip = commits[103];
        let with_tip = select_commits(&commits, &[tip], 10_000);
        assert_eq!(with_tip[102], tip, "a tip wins its window");
        assert_eq!(with_tip.len(), all.len(), "tips add no bitmaps");
        assert_eq!(select_commits(&commits, &[], 5), commits[..5]);
        assert_eq!(select_commits(&commits[..50], &[], 100), commits[..50]);
        assert!(select_commits(&[], &[tip], 5).is_empty());
    }

    /// A two-commit history with shared and changed blobs: every written closure must read back
    /// through [`PackBitmaps`] exactly, with the types and the idx positions right.
    #[test]
    fn written_bitmaps_read_back() {
        let mut r = MemoryObjects::new();
        let shared = r.add(Kind::Blob, "shared\n");
        let old = r.add(Kind::Blob, "old\n");
        let new = r.add(Kind::Blob, "new\n");
        let tree_entry = |name: &str, id: &ObjectId| {
            let mut e = format!("100644 {name}\0").into_bytes();
            e.extend_from_slice(id.as_bytes());
            e
        };
        let t1 = r.add(
            Kind::Tree,
            [tree_entry("a", &old), tree_entry("s", &shared)].concat(),
        );
        let t2 = r.add(
            Kind::Tree,
            [tree_entry("a", &new), tree_entry("s", &shared)].concat(),
        );
        let who = "A <a@b> 1700000000 +0000";
        let c1 = r.add(
            Kind::Commit,
            format!("tree {t1}\nauthor {who}\ncommitter {who}\n\none\n"),
        );
        let c2 = r.add(
            Kind::Commit,
            format!("tree {t2}\nparent {c1}\nauthor {who}\ncommitter {who}\n\ntwo\n"),
        );
        let unreachable = r.add(Kind::Blob, "nobody\n");
        let objects = [
            (c2, Kind::Commit, 0),
            (c1, Kind::Commit, 0),
            (t2, Kind::Tree, 0),
            (new, Kind::Blob, 7),
            (shared, Kind::Blob, 8),
            (t1, Kind::Tree, 0),
            (old, Kind::Blob, 9),
            (unreachable, Kind::Blob, 0),
        ];
        let layout = PackLayout::new(objects);
        let selected = select_commits(&[c2, c1], &[c2], 100);
        let closures = build(&r, &layout, &selected, None).unwrap();
        assert_eq!(closures.len(), 2);
        assert_eq!(closures[0].0, c1, "oldest first");
        let ones = |b: &Bitmap| b.ones().collect::<Vec<_>>();
        assert_eq!(ones(&closures[0].1), [1, 4, 5, 6]);
        assert_eq!(ones(&closures[1].1), [0, 1, 2, 3, 4, 5, 6]);

        let checksum = ObjectId::from_bytes(&[0xab; 20]).unwrap();
        let file = encode_file(&checksum, &layout, &closures).unwrap();
        let read = PackBitmaps::new(file.as_slice(), &checksum, layout.len()).unwrap();
        assert_eq!(read.len(), 2);
        for (pos, (_, kind, _)) in objects.iter().enumerate() {
            assert_eq!(read.kind_at(pos), Some(*kind));
        }
        let mut sorted: Vec<ObjectId> = objects.iter().map(|o| o.0).collect();
        sorted.sort();
        for (commit, bitmap) in &closures {
            let idx_pos = sorted.iter().position(|x| x == commit).unwrap() as u32;
            assert_eq!(read.closure(idx_pos).unwrap().as_ref(), Some(bitmap));
        }
        // Name-hash cache and trailer at the end.
        let cache_at = file.len() - 20 - 4 * objects.len();
        let idx_pos = layout.idx_positions();
        let at = cache_at + 4 * idx_pos[4] as usize;
        assert_eq!(file[at..at + 4], 8u32.to_be_bytes());
        for (pos, h) in layout.name_hashes.iter().enumerate() {
            assert_eq!(read.name_hash_at(idx_pos[pos]), Some(*h));
        }
        assert_eq!(read.name_hash_at(objects.len() as u32), None);
        let mut h = Hasher::trailer_only(crate::hash::HashKind::Sha1);
        h.update(&file[..file.len() - 20]);
        assert_eq!(h.finish().unwrap().as_bytes(), &file[file.len() - 20..]);

        // A commit whose tree leaves the pack gets no bitmap.
        let partial = PackLayout::new(objects.iter().copied().filter(|o| o.0 != old));
        let closures = build(&r, &partial, &selected, None).unwrap();
        assert!(closures.is_empty(), "{closures:?}");
    }

    /// Closures computed from the trees a walk recorded are the closures computed by reading
    /// them, also when the pack lacks an object (a commit whose closure leaves it).
    #[test]
    fn recorded_trees_give_the_same_closures() {
        use crate::progress::Discard;
        use crate::walk::{objects_for_pack, WalkOptions};
        let mut r = MemoryObjects::new();
        let mut commits = crate::walk::tests::changing_history(&mut r);
        commits.reverse();
        let opts = WalkOptions {
            record_children: true,
            ..WalkOptions::default()
        };
        let w = objects_for_pack(&r, &commits[..1], &[], &opts, &mut Discard).unwrap();
        let children = w.children.unwrap();
        let layout = PackLayout::new(w.objects.iter().map(|o| (o.id, o.kind, o.name_hash)));
        let selected = select_commits(&commits, &commits[..1], 100);
        let read = build(&r, &layout, &selected, None).unwrap();
        assert_eq!(read.len(), selected.len());
        assert_eq!(
            build(&r, &layout, &selected, Some(&children)).unwrap(),
            read
        );

        // Without an old blob (positions renumbered as a repack does): the commits reaching it
        // get no bitmap, the same either way.
        let old = r.add(Kind::Blob, "b 133"); // in the newest commit only
        let dropped = w.objects.iter().position(|o| o.id == old).unwrap();
        let mut new_pos = Vec::new();
        let mut next = 0u32;
        for p in 0..w.objects.len() {
            if p == dropped {
                new_pos.push(children::OUTSIDE);
            } else {
                new_pos.push(next);
                next += 1;
            }
        }
        let mut renumbered = children.clone();
        renumbered.renumber(&new_pos, next as usize);
        let partial = PackLayout::new(
            w.objects
                .iter()
                .filter(|o| o.id != old)
                .map(|o| (o.id, o.kind, o.name_hash)),
        );
        let read = build(&r, &partial, &selected, None).unwrap();
        assert!(read.len() < selected.len() && !read.is_empty());
        assert_eq!(
            build(&r, &partial, &selected, Some(&renumbered)).unwrap(),
            read
        );
    }
}
