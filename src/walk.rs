//! Reachability: which objects a fetch must send (`git rev-list --objects <wants> --not <haves>`),
//! and ancestry questions for negotiation and push policy.
//!
//! The commit walk is git's `limit_list` ([`limit`]): a queue ordered by commit date, interesting
//! and uninteresting commits walked together, uninteresting marks flowing to every parsed
//! ancestor, stopping a few steps after only uninteresting commits remain queued. The trees of
//! the *edge* commits (uninteresting parents of commits sent, and commits found uninteresting
//! after being walked) are marked uninteresting with everything below them, as `rev-list
//! --objects` does; they form the [`Walk::edge`] a thin pack may delta against. The objects sent
//! are exactly `rev-list --objects`'.
//! Deviation: git's pack-objects marks the edge trees with its sparse algorithm
//! (`pack.useSparse`), which only descends into paths that also changed, and so can send an
//! object the client has at another path (the empty blob, on git's own history); Sluice marks
//! them whole and sends at most what git sends. Like git, an object reachable only from an
//! uninteresting commit off the edge can be sent although the client has it.
//!
//! For thin packs, [`preferred_bases`] picks from the boundary trees the objects at the paths of
//! the objects sent: the client's previous versions, which the delta search may use as bases.

use crate::hash::{IdSet, ObjectId, PackedIdSet};
use crate::odb::store::{self, ObjectStore};
use crate::odb::{Kind, TagRef, TreeIter};
use crate::progress::Progress;
use bases::Bases;
use children::Recorder;
pub use children::TreeChildren;

pub(crate) mod bases;
pub mod children;
mod commits;
mod limit;
mod list;
mod preferred;
pub use commits::{CommitCache, CommitInfo, ParentIds, Parents};
pub use list::{PackList, WrongHash};
pub use preferred::preferred_bases;

/// Why a walk failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository failed.
    #[error(transparent)]
    Backend(#[from] store::Error),
    /// An object the walk needs is missing.
    #[error("missing {kind} {id} (needed while walking from {context})")]
    Missing {
        /// The object.
        id: ObjectId,
        /// What kind it was expected to be.
        kind: &'static str,
        /// What referred to it.
        context: String,
    },
    /// An object is not what the referring object says.
    #[error("object {id} is a {actual}, expected a {expected}")]
    WrongKind {
        /// The object.
        id: ObjectId,
        /// Its actual kind.
        actual: Kind,
        /// The kind expected.
        expected: Kind,
    },
    /// A chain of tags loops (corrupt storage).
    #[error(transparent)]
    Loop(#[from] crate::odb::tag_chain::Loop),
    /// An object names an id of another hash than the repository's.
    #[error(transparent)]
    WrongHash(#[from] WrongHash),
    /// A walk met more objects than its positions (`u32`) can number.
    #[error(transparent)]
    TooMany(#[from] TooMany),
    /// An object could not be parsed.
    #[error("object {id}: {source}")]
    Parse {
        /// The object.
        id: ObjectId,
        /// Why.
        source: crate::odb::Error,
    },
}

/// A walk met more than `u32::MAX` of something it numbers (a table of positions would wrap
/// past it): refused rather than mixed up.
#[derive(Debug, thiserror::Error)]
#[error("a walk of more than {} {what} is refused", u32::MAX)]
pub struct TooMany {
    /// What was counted (`"objects"`, `"commits"`, `"parents"`).
    pub what: &'static str,
}

/// An object to put in a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackObject {
    /// Its id.
    pub id: ObjectId,
    /// Its kind.
    pub kind: Kind,
    /// [`name_hash`] of the path it was reached by (0 when unknown: commits, tags, root trees,
    /// objects named directly or counted from a bitmap). The delta search sorts by it so that
    /// versions of one file meet in its window.
    pub name_hash: u32,
}

impl PackObject {
    /// An object reached by no path (name hash 0).
    pub fn unnamed(id: ObjectId, kind: Kind) -> Self {
        PackObject {
            id,
            kind,
            name_hash: 0,
        }
    }
}

/// git's `pack_name_hash` continued over `name`: starting from `hash` (0 for an empty path), each
/// byte that is not white space shifts in from the top, so the last characters weigh most and
/// files ending alike (`.c`) sort together. Because it is a fold, the hash of `dir/file` is the
/// hash of `dir` continued over `/file`.
pub fn name_hash(hash: u32, name: &[u8]) -> u32 {
    name.iter()
        .filter(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        .fold(hash, |h, &c| (h >> 2).wrapping_add(u32::from(c) << 24))
}

/// The result of [`objects_for_pack`].
#[derive(Debug, Default)]
pub struct Walk {
    /// What to send: commits newest first, then tags, trees and blobs in traversal order.
    pub objects: PackList,
    /// Trees and blobs the client is known to have (the boundary commits' trees), in the hash's
    /// own width: a fetch's edge holds every tree and blob of the boundary's trees.
    pub edge: PackedIdSet,
    /// Root trees of the boundary commits (and of the client's unshallowed commits), newest
    /// commit first: where [`preferred_bases`] looks for the client's versions of sent paths.
    pub boundary_trees: Vec<ObjectId>,
    /// The entries of the trees walked, as positions in `objects`, when
    /// [`WalkOptions::record_children`] asked for them.
    pub children: Option<TreeChildren>,
}

/// Options for [`objects_for_pack`].
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Commits treated as having no parents: the client's shallow boundary (old and new), as
    /// git's registered shallow grafts.
    pub shallow: IdSet,
    /// Commits the client has although they are not in `haves` (unshallowed commits): their
    /// trees are not sent again.
    pub extra_edges: Vec<ObjectId>,
    /// Partial-clone filter for trees and blobs reached through commits and trees.
    pub filter: Option<crate::filter::Filter>,
    /// Verify that every blob exists (a push's connectivity check). Serving a fetch does not
    /// need it: writing the pack finds a missing blob anyway.
    pub check_blobs: bool,
    /// Record each tree's entries as positions ([`Walk::children`]): a repack's bitmaps are
    /// then computed without reading a tree again.
    pub record_children: bool,
    /// How many objects the walk is expected to choose (0: unknown), such as the object count
    /// of the pack a full clone sends: the list is then allocated once, at that size.
    pub expected_objects: usize,
}

/// Is `target` equal to or an ancestor of any commit in `from`? Commits older than `min_time`
/// are not followed. A `target` that is not a commit is searched for among the commits only.
pub fn is_reachable(
    repo: &dyn ObjectStore,
    cache: &mut CommitCache,
    from: &[ObjectId],
    target: &ObjectId,
    min_time: i64,
) -> Result<bool, Error> {
    let mut stack: Vec<ObjectId> = Vec::new();
    for f in from {
        if let Some(c) = peel_to_commit(repo, f)? {
            stack.push(c);
        }
    }
    let mut seen = IdSet::default();
    while let Some(id) = stack.pop() {
        if id == *target {
            return Ok(true);
        }
        if !seen.insert(id) {
            continue;
        }
        let info = cache.get(repo, &id)?;
        if info.time < min_time {
            continue;
        }
        stack.extend(info.parents.iter());
    }
    Ok(false)
}

/// Whether a commit reachable from `new` and not from `old` is a merge (`git rev-list -n 1
/// --merges old..new`), for access rules that refuse merges (gitolite's `M`).
pub fn has_merge_between(
    repo: &dyn ObjectStore,
    old: &ObjectId,
    new: &ObjectId,
) -> Result<bool, Error> {
    let mut cache = CommitCache::default();
    let shallow = crate::hash::IdSet::default();
    let mut quiet = crate::progress::Discard;
    let limited = limit::limit(repo, &mut cache, &[*new], &[*old], &shallow, &mut quiet)?;
    for id in &limited.commits {
        if cache.get(repo, id)?.parents.len() > 1 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Follows tags from `id` to a commit; `None` when it ends at a tree or blob or is missing.
pub fn peel_to_commit(repo: &dyn ObjectStore, id: &ObjectId) -> Result<Option<ObjectId>, Error> {
    let mut guard = crate::odb::tag_chain::ChainGuard::new();
    let mut current = *id;
    loop {
        match repo.read_object(&current)? {
            Some(o) if o.kind == Kind::Commit => return Ok(Some(current)),
            Some(o) if o.kind == Kind::Tag => {
                guard.step(&current)?;
                current = tag_target(current, &o.data)?;
            }
            _ => return Ok(None),
        }
    }
}

/// The objects to send for `wants` when the client has `haves`
/// (`git rev-list --objects <wants> --not <haves>`), with the boundary's trees as [`Walk::edge`].
pub fn objects_for_pack(
    repo: &dyn ObjectStore,
    wants: &[ObjectId],
    haves: &[ObjectId],
    opts: &WalkOptions,
    progress: &mut dyn Progress,
) -> Result<Walk, Error> {
    let mut cache = CommitCache::default();
    let mut uninteresting_objects = PackedIdSet::default();
    let mut out = PackList::with_capacity(repo.hash_kind(), opts.expected_objects);
    let seeds = seed(repo, wants, haves, &mut uninteresting_objects, &mut out)?;
    let limited = limit::limit(
        repo,
        &mut cache,
        &seeds.want_commits,
        &seeds.have_commits,
        &opts.shallow,
        progress,
    )?;
    let commits = limited.commits;
    // The client's commits next to what it gets, newest first, so that a capped preferred-base
    // search looks at the closest versions; then unshallowed commits.
    let mut edge_commits: Vec<(i64, ObjectId)> = Vec::new();
    for b in limited.edges.iter().chain(&opts.extra_edges) {
        let info = cache.get(repo, b)?;
        edge_commits.push((info.time, info.tree));
    }
    edge_commits.sort_by(|a, b| b.cmp(a));
    let mut boundary_trees: Vec<ObjectId> = Vec::with_capacity(edge_commits.len());
    let mut seen_trees = PackedIdSet::default();
    for (_, tree) in edge_commits {
        if seen_trees.insert(&tree) {
            mark_tree_uninteresting(repo, &tree, &mut uninteresting_objects)?;
            boundary_trees.push(tree);
        }
    }
    // Commits walked as interesting before a have reached them: their trees are the client's
    // too (git marks them in `mark_edges_uninteresting`), but are no preferred bases.
    for c in &limited.late {
        let tree = cache.get(repo, c)?.tree;
        if seen_trees.insert(&tree) {
            mark_tree_uninteresting(repo, &tree, &mut uninteresting_objects)?;
        }
    }
    let root_trees = seeds.trees;
    let loose_blobs = seeds.blobs;

    let wanted: IdSet = wants.iter().copied().collect();
    let keep_kind = |kind: Kind, id: &ObjectId| {
        wanted.contains(id)
            || opts
                .filter
                .as_ref()
                .is_none_or(|f| f.keeps(kind, None, &mut || 0))
    };
    // Tags found while peeling wants go first in `out`; drop them if the filter says so.
    out.retain(|o| keep_kind(o.kind, &o.id));
    // Commits are unique here (one mark each): pushed without a look-up.
    for c in &commits {
        if keep_kind(Kind::Commit, c) {
            out.push(PackObject::unnamed(*c, Kind::Commit))?;
        }
    }
    let mut trees: Vec<(ObjectId, bool)> = Vec::with_capacity(commits.len() + root_trees.len());
    for c in &commits {
        trees.push((cache.get(repo, c)?.tree, false));
    }
    trees.extend(root_trees.into_iter().map(|t| (t, true)));
    // The commit walk's state is done with; freed before the tree walk builds its own, so the
    // two never add up in the peak (about a quarter of a full clone's heap).
    drop(cache);
    drop(commits);
    let walker = TreeWalker {
        repo,
        uninteresting: &uninteresting_objects,
        filter: opts.filter.as_ref(),
        check_blobs: opts.check_blobs,
    };
    let mut rec = opts
        .record_children
        .then(|| Recorder::new(children::MAX_SLOTS));
    walker.walk_all(&trees, &mut out, rec.as_mut(), progress)?;
    for b in loose_blobs {
        if !uninteresting_objects.contains(&b) {
            out.insert(PackObject::unnamed(b, Kind::Blob))?;
        }
    }
    progress.finish("Counting objects", out.len() as u64, Some(out.len() as u64));
    Ok(Walk {
        objects: out,
        edge: uninteresting_objects,
        boundary_trees,
        children: rec.map(Recorder::into_children),
    })
}

/// The wants and haves sorted by what they name once tags are peeled.
#[derive(Default)]
struct Seeds {
    /// Commits wanted, in request order.
    want_commits: Vec<ObjectId>,
    /// Commits the client has.
    have_commits: Vec<ObjectId>,
    /// Trees named by a want (sent whatever the filter).
    trees: Vec<ObjectId>,
    /// Blobs named by a want.
    blobs: Vec<ObjectId>,
}

/// Peels `haves` and `wants`: trees, blobs and tags had go to `uninteresting` (a had tree with
/// everything below it); the tags a want names are sent (into `out`) unless had.
fn seed(
    repo: &dyn ObjectStore,
    wants: &[ObjectId],
    haves: &[ObjectId],
    uninteresting: &mut PackedIdSet,
    out: &mut PackList,
) -> Result<Seeds, Error> {
    let mut seeds = Seeds::default();
    for have in haves {
        let Some((kind, current)) = peel_have(repo, have, uninteresting)? else {
            continue;
        };
        match kind {
            Kind::Commit => seeds.have_commits.push(current),
            Kind::Tree => mark_tree_uninteresting(repo, &current, uninteresting)?,
            _ => {
                uninteresting.insert(&current);
            }
        }
    }
    for want in wants {
        let (kind, current) = peel_want(repo, want, uninteresting, out)?;
        match kind {
            Kind::Commit => seeds.want_commits.push(current),
            Kind::Tree => seeds.trees.push(current),
            Kind::Blob => seeds.blobs.push(current),
            Kind::Tag => {}
        }
    }
    Ok(seeds)
}

/// The object the tag `id` (whose body is `data`) points at.
fn tag_target(id: ObjectId, data: &[u8]) -> Result<ObjectId, Error> {
    TagRef::parse(data)
        .map(|t| t.object)
        .map_err(|source| Error::Parse { id, source })
}

/// Follows the tags from `have` (marking them had); the object reached and its kind, `None`
/// when the server lacks `have` or a tag's target.
fn peel_have(
    repo: &dyn ObjectStore,
    have: &ObjectId,
    uninteresting: &mut PackedIdSet,
) -> Result<Option<(Kind, ObjectId)>, Error> {
    let Some(obj) = repo.object_header(have)? else {
        return Ok(None);
    };
    let mut current = *have;
    let mut kind = obj.0;
    // Any depth (see odb::tag_chain).
    let mut guard = crate::odb::tag_chain::ChainGuard::new();
    while kind == Kind::Tag {
        guard.step(&current)?;
        uninteresting.insert(&current);
        let Some(o) = repo.read_object(&current)? else {
            return Ok(None);
        };
        current = tag_target(current, &o.data)?;
        kind = match repo.object_header(&current)? {
            Some((k, _)) => k,
            None => return Ok(None),
        };
    }
    Ok(Some((kind, current)))
}

/// Follows the tags from `want`, sending each one the client lacks; the object reached and
/// its kind.
fn peel_want(
    repo: &dyn ObjectStore,
    want: &ObjectId,
    uninteresting: &PackedIdSet,
    out: &mut PackList,
) -> Result<(Kind, ObjectId), Error> {
    let mut current = *want;
    let mut kind = repo
        .object_header(&current)?
        .ok_or_else(|| Error::Missing {
            id: current,
            kind: "object",
            context: "a want".into(),
        })?
        .0;
    let mut guard = crate::odb::tag_chain::ChainGuard::new();
    while kind == Kind::Tag {
        guard.step(&current)?;
        if !uninteresting.contains(&current) {
            out.insert(PackObject::unnamed(current, Kind::Tag))?;
        }
        let o = repo.read_object(&current)?.ok_or_else(|| Error::Missing {
            id: current,
            kind: "tag",
            context: want.to_hex(),
        })?;
        let tag = TagRef::parse(&o.data).map_err(|source| Error::Parse {
            id: current,
            source,
        })?;
        current = tag.object;
        kind = repo
            .object_header(&current)?
            .ok_or_else(|| Error::Missing {
                id: current,
                kind: tag.target_kind.as_str(),
                context: format!("tag {want}"),
            })?
            .0;
    }
    Ok((kind, current))
}

/// Marks `tree` and everything below it as had by the client.
fn mark_tree_uninteresting(
    repo: &dyn ObjectStore,
    tree: &ObjectId,
    set: &mut PackedIdSet,
) -> Result<(), Error> {
    let mut stack = vec![*tree];
    while let Some(t) = stack.pop() {
        if !set.insert(&t) {
            continue;
        }
        let Some(obj) = repo.read_object(&t)? else {
            // The client has it; we need not.
            continue;
        };
        for entry in TreeIter::new(&obj.data, t.kind()) {
            let entry = entry.map_err(|source| Error::Parse { id: t, source })?;
            match entry.kind() {
                Some(Kind::Tree) => stack.push(entry.id),
                Some(_) => {
                    set.insert(&entry.id);
                }
                None => {}
            }
        }
    }
    Ok(())
}

/// Walks trees for the pack: skips what the client has, applies the filter.
struct TreeWalker<'a> {
    repo: &'a dyn ObjectStore,
    uninteresting: &'a PackedIdSet,
    filter: Option<&'a crate::filter::Filter>,
    check_blobs: bool,
}

/// Root trees at least this many are walked in two halves on two threads.
const PARALLEL_TREES: usize = 256;

impl TreeWalker<'_> {
    /// Walks `trees` (root tree, named in a want) in order, as [`Self::walk`] does each one.
    /// Many trees (a clone) are cut in two halves walked at once on two threads, the second
    /// into a list of its own; its objects the first half also sent are then dropped. The
    /// result is the one walk in order would give: whatever the second half meets first and the
    /// first half never sent sits where the one walk would meet it first too (a subtree the
    /// first half sent holds nothing else, unless a filter depends on depth: not then).
    ///
    /// With `rec`, both halves record their trees' entries (see [`children`]); the second
    /// half's records are renumbered to the merged positions and added.
    fn walk_all(
        &self,
        trees: &[(ObjectId, bool)],
        out: &mut PackList,
        mut rec: Option<&mut Recorder>,
        progress: &mut dyn Progress,
    ) -> Result<(), Error> {
        // A `tree:<depth>` filter keeps an object at one depth and drops it at another: the
        // second half could send what the one walk would never reach. The cores are asked only
        // for a walk long enough to split (asking reads five cgroup files).
        let depth_blind = self.filter.is_none_or(|f| f.descends(u64::MAX));
        let (first, second) =
            if trees.len() >= PARALLEL_TREES && depth_blind && crate::limits::cores() > 1 {
                trees.split_at(trees.len() / 2)
            } else {
                (trees, &[][..])
            };
        let recording = rec.is_some();
        if let (Some(r), false) = (rec.as_deref_mut(), second.is_empty()) {
            r.limit(children::MAX_SLOTS / 2);
        }
        let out_hash = out.hash_kind();
        let (mine, theirs) = std::thread::scope(|s| {
            let other = (!second.is_empty()).then(|| {
                s.spawn(|| {
                    let mut out = PackList::new(out_hash);
                    let mut quiet = crate::progress::Discard;
                    let mut bases = Bases::default();
                    let mut rec = recording.then(|| Recorder::new(children::MAX_SLOTS / 2));
                    for (t, explicit) in second {
                        let r = rec.as_mut();
                        self.walk(t, *explicit, &mut bases, &mut out, r, &mut quiet)?;
                    }
                    Ok::<_, Error>((out, rec))
                })
            });
            let mut mine = Ok(());
            let mut bases = Bases::default();
            for (t, explicit) in first {
                let r = rec.as_deref_mut();
                mine = self.walk(t, *explicit, &mut bases, out, r, progress);
                if mine.is_err() {
                    break;
                }
            }
            let theirs = other.map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::Backend(store::Error::corrupt(
                        "tree walk".to_string(),
                        "a walking thread panicked".to_string(),
                    )))
                })
            });
            (mine, theirs)
        });
        mine?;
        let (theirs, their_rec) = match theirs.transpose()? {
            Some(t) => t,
            None => (PackList::new(out_hash), None),
        };
        if let (Some(r), Some(their_rec)) = (rec, their_rec) {
            // Where each of the second half's objects ends up (known before the list grows):
            // where the first half put it, or after the first half's, in order.
            let mut next = out.len() as u32;
            let new_pos: Vec<u32> = theirs
                .ids()
                .map(|id| match out.contains(&id) {
                    true => Recorder::position(out, &id),
                    false => {
                        next += 1;
                        next - 1
                    }
                })
                .collect();
            let mut records = their_rec.into_children();
            records.renumber(&new_pos, next as usize);
            r.append(records);
        }
        // The second half's objects are distinct (its own list saw to it): those the first half
        // sent are skipped.
        out.extend_new(&theirs)?;
        Ok(())
    }

    fn keeps(&self, kind: Kind, depth: u64, id: &ObjectId) -> Result<bool, Error> {
        let Some(f) = self.filter else {
            return Ok(true);
        };
        let mut size_err = None;
        let mut size = || match self.repo.object_header(id) {
            Ok(Some((_, s))) => s,
            Ok(None) => 0,
            Err(e) => {
                size_err = Some(e);
                0
            }
        };
        let keep = f.keeps(kind, Some(depth), &mut size);
        match size_err {
            Some(e) => Err(e.into()),
            None => Ok(keep),
        }
    }

    /// Appends `tree` (at depth 0) and its not-yet-sent, not-uninteresting, unfiltered contents
    /// to `out`, depth first; `explicit` trees (named in a want) are sent whatever the filter.
    /// `bases` holds the trees walked before into `out`: entries they had are skipped. With
    /// `rec`, each tree's entries are recorded as positions in `out` (see [`children`]).
    fn walk(
        &self,
        tree: &ObjectId,
        explicit: bool,
        bases: &mut Bases,
        out: &mut PackList,
        mut rec: Option<&mut Recorder>,
        progress: &mut dyn Progress,
    ) -> Result<(), Error> {
        let repo = self.repo;
        // (tree, depth, name hash of its path, slot of its parent's record to fill).
        let mut stack = vec![(*tree, 0u64, 0u32, None)];
        // One buffer for every tree's subtrees (one allocation per tree walked, before).
        let mut subtrees = Vec::new();
        while let Some((t, depth, hash, slot)) = stack.pop() {
            if self.uninteresting.contains(&t) || out.contains(&t) {
                if let Some(r) = rec.as_deref_mut() {
                    r.fill(slot, Recorder::position(out, &t));
                }
                continue;
            }
            let keep_this = (explicit && depth == 0) || self.keeps(Kind::Tree, depth, &t)?;
            let pos = keep_this.then_some(out.len());
            if keep_this {
                out.push(PackObject {
                    id: t,
                    kind: Kind::Tree,
                    name_hash: hash,
                })?;
            }
            if let Some(r) = rec.as_deref_mut() {
                match pos {
                    Some(p) => r.fill(slot, p as u32),
                    None => r.fill(slot, children::OUTSIDE),
                }
            }
            if self.filter.is_some_and(|f| !f.descends(depth + 1)) {
                continue;
            }
            let obj = repo.read_object(&t)?.ok_or_else(|| Error::Missing {
                id: t,
                kind: "tree",
                context: format!("tree walk from {tree}"),
            })?;
            if obj.kind != Kind::Tree {
                return Err(Error::WrongKind {
                    id: t,
                    actual: obj.kind,
                    expected: Kind::Tree,
                });
            }
            let place = (depth, hash);
            let entries = TreeEntries {
                walker: self,
                tree: &t,
                depth,
                prefix: if depth == 0 { 0 } else { name_hash(hash, b"/") },
                no_blobs: self
                    .filter
                    .is_some_and(|f| !f.keeps(Kind::Blob, Some(depth + 1), &mut || 0)),
            };
            match rec.as_deref_mut() {
                None => bases.for_new_entries(place, obj.data, t.kind(), |entry| {
                    entries.visit(entry, out, &mut subtrees, None)
                })?,
                Some(r) => {
                    let base_tag = bases.tag_at(place);
                    let mut origin = r.begin_tree();
                    let tag = Recorder::provisional_tag();
                    bases.for_new_entries_traced(
                        place,
                        obj.data,
                        t.kind(),
                        tag,
                        &mut origin,
                        |entry| entries.visit(entry, out, &mut subtrees, Some(&mut *r)),
                    )?;
                    let slots = r.finish_tree(origin, pos, place, base_tag, bases);
                    for (s, slot) in subtrees.iter_mut().zip(slots) {
                        s.3 = slot;
                    }
                }
            }
            // Depth first, in tree order.
            stack.extend(subtrees.drain(..).rev());
            if out.len() % 4096 == 0 {
                progress.update("Counting objects", out.len() as u64, None);
            }
        }
        Ok(())
    }
}

/// The tree a [`TreeWalker`] is reading, and what its entries need.
struct TreeEntries<'a, 'w> {
    walker: &'a TreeWalker<'w>,
    tree: &'a ObjectId,
    depth: u64,
    /// Name hash of the tree's path with the `/` of its entries' paths.
    prefix: u32,
    /// A filter that drops even an empty blob here drops every blob here (`blob:none`,
    /// `tree:<depth>`): then no blob entry needs a look-up in the two sets (for `blob:none`
    /// those look-ups were a third of the walk).
    no_blobs: bool,
}

impl TreeEntries<'_, '_> {
    /// Handles one entry the base did not have: subtrees go to `subtrees` (id, depth, name
    /// hash, slot), new blobs to `out`; `rec` is told what each entry stands for.
    #[allow(clippy::type_complexity)]
    fn visit(
        &self,
        entry: Result<crate::odb::TreeEntry<'_>, crate::odb::Error>,
        out: &mut PackList,
        subtrees: &mut Vec<(ObjectId, u64, u32, Option<u32>)>,
        rec: Option<&mut Recorder>,
    ) -> Result<(), Error> {
        let w = self.walker;
        let t = *self.tree;
        let entry = entry.map_err(|source| Error::Parse { id: t, source })?;
        let depth = self.depth;
        let shown = match entry.kind() {
            Some(Kind::Tree) => {
                subtrees.push((
                    entry.id,
                    depth + 1,
                    name_hash(self.prefix, entry.name),
                    None,
                ));
                None
            }
            Some(Kind::Blob) if self.no_blobs => Some(children::OUTSIDE),
            Some(kind) => 'blob: {
                if w.uninteresting.contains(&entry.id) {
                    break 'blob Some(children::OUTSIDE);
                }
                // Without a filter the one look-up that inserts also tells whether the object
                // was sent already; a filter must be asked first.
                let keep = w.filter.is_none()
                    || (!out.contains(&entry.id) && w.keeps(kind, depth + 1, &entry.id)?);
                let (prefix, name) = (self.prefix, entry.name);
                if !keep || !out.insert_with(&entry.id, kind, || name_hash(prefix, name))? {
                    break 'blob rec.is_some().then(|| Recorder::position(out, &entry.id));
                }
                if w.check_blobs && !w.repo.contains(&entry.id)? {
                    return Err(Error::Missing {
                        id: entry.id,
                        kind: "blob",
                        context: format!("tree {t}"),
                    });
                }
                Some(out.len() as u32 - 1)
            }
            None => Some(children::GITLINK),
        };
        if let Some(r) = rec {
            r.shown(shown);
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hash::IdMap;
    use crate::odb::memory::MemoryObjects;
    use crate::progress::Discard;

    #[test]
    fn incremental_sends_only_new_objects() {
        let mut r = MemoryObjects::new();
        let b1 = r.add(Kind::Blob, "one");
        let b2 = r.add(Kind::Blob, "two");
        let sub = r.tree(&[("f", b1, false)]);
        let t1 = r.tree(&[("a", b1, false), ("d", sub, true)]);
        let t2 = r.tree(&[("a", b2, false), ("d", sub, true)]);
        let c1 = r.commit(t1, &[], 1);
        let c2 = r.commit(t2, &[c1], 2);
        let full = objects_for_pack(&r, &[c2], &[], &WalkOptions::default(), &mut Discard).unwrap();
        assert_eq!(full.objects.len(), 7);
        let inc =
            objects_for_pack(&r, &[c2], &[c1], &WalkOptions::default(), &mut Discard).unwrap();
        let ids: IdSet = inc.objects.iter().map(|o| o.id).collect();
        assert_eq!(ids, [c2, t2, b2].into_iter().collect());
        assert!(inc.edge.contains(&sub) && inc.edge.contains(&b1));
        let none =
            objects_for_pack(&r, &[c1], &[c2], &WalkOptions::default(), &mut Discard).unwrap();
        assert!(none.objects.is_empty());
    }

    #[test]
    fn merges_and_tags() {
        let mut r = MemoryObjects::new();
        let e = r.tree(&[]);
        let base = r.commit(e, &[], 1);
        let left = r.commit(e, &[base], 2);
        let right = r.commit(e, &[base], 3);
        let merge = r.commit(e, &[left, right], 4);
        let tag = r.add(
            Kind::Tag,
            format!("object {merge}\ntype commit\ntag v1\ntagger a <a> 5 +0000\n\nv1\n"),
        );
        let w =
            objects_for_pack(&r, &[tag], &[left], &WalkOptions::default(), &mut Discard).unwrap();
        let ids: IdSet = w.objects.iter().map(|o| o.id).collect();
        assert_eq!(ids, [tag, merge, right].into_iter().collect());
        let mut cache = CommitCache::default();
        assert!(is_reachable(&r, &mut cache, &[merge], &base, i64::MIN).unwrap());
        assert!(!is_reachable(&r, &mut cache, &[left], &right, i64::MIN).unwrap());
    }

    #[test]
    fn two_threads_walk_as_one() {
        // 400 commits over a few directories, files coming back to old contents (objects met
        // again at other paths and in both halves).
        let mut r = MemoryObjects::new();
        let mut commits = Vec::new();
        let mut parent: Vec<ObjectId> = Vec::new();
        for i in 0..400u32 {
            let a = r.add(Kind::Blob, format!("a {}", i % 7));
            let b = r.add(Kind::Blob, format!("b {}", i / 3));
            let inner = r.tree(&[("x", a, false), ("y", b, false)]);
            let dir = r.tree(&[("in", inner, true), ("z", a, false)]);
            let other = r.tree(&[("k", b, false)]);
            let root = r.tree(&[("d", dir, true), ("e", other, true), ("f", b, false)]);
            let c = r.commit(root, &parent, i64::from(i));
            parent = vec![c];
            commits.push((root, false));
        }
        let none = PackedIdSet::default();
        let walker = plain_walker(&r, &none);
        let mut one = PackList::new(r.hash_kind());
        let mut bases = Bases::default();
        for (t, explicit) in &commits {
            walker
                .walk(t, *explicit, &mut bases, &mut one, None, &mut Discard)
                .unwrap();
        }
        let mut two = PackList::new(r.hash_kind());
        walker
            .walk_all(&commits, &mut two, None, &mut Discard)
            .unwrap();
        assert!(commits.len() >= PARALLEL_TREES);
        assert_eq!(one, two);
        // The second half's objects are found in the merged list's index too.
        assert!(two.ids().all(|id| two.contains(&id)));
    }

    /// Checks every record of `children` against the tree it stands for (each entry's
    /// position in `objects`, [`children::GITLINK`] for a gitlink); returns how many trees
    /// have one.
    fn check_records(r: &MemoryObjects, objects: &[PackObject], children: &TreeChildren) -> usize {
        let pos: IdMap<u32> = objects
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id, i as u32))
            .collect();
        let mut recorded = 0;
        for (p, o) in objects.iter().enumerate() {
            let Some(got) = children.of(p as u32) else {
                continue;
            };
            assert_eq!(o.kind, Kind::Tree, "a record at a {:?}", o.kind);
            let data = r.read_object(&o.id).unwrap().unwrap().data;
            let want: Vec<u32> = TreeIter::new(&data, o.id.kind())
                .map(|e| {
                    let e = e.unwrap();
                    match e.kind() {
                        None => children::GITLINK,
                        Some(_) => pos[&e.id],
                    }
                })
                .collect();
            assert_eq!(got, want, "tree {} at {p}", o.id);
            recorded += 1;
        }
        recorded
    }

    /// A history whose trees change a little from commit to commit, with files coming back to
    /// old contents, a gitlink, and 400 root trees (enough for two walking threads); its
    /// commits, oldest first. Blob "b N" is in commits 3N to 3N + 2.
    pub(crate) fn changing_history(r: &mut MemoryObjects) -> Vec<ObjectId> {
        let gitlink = ObjectId::from_bytes(&[7; 20]).unwrap();
        let mut parent: Vec<ObjectId> = Vec::new();
        let mut commits = Vec::new();
        for i in 0..400u32 {
            let a = r.add(Kind::Blob, format!("a {}", i % 7));
            let b = r.add(Kind::Blob, format!("b {}", i / 3));
            let inner = r.tree(&[("x", a, false), ("y", b, false)]);
            let dir = r.tree(&[("in", inner, true), ("z", a, false)]);
            let mut e = b"160000 sub\0".to_vec();
            e.extend_from_slice(gitlink.as_bytes());
            let with_link = r.add(Kind::Tree, e);
            let other = r.tree(&[("k", b, false), ("m", with_link, true)]);
            let root = r.tree(&[("d", dir, true), ("e", other, true), ("f", b, false)]);
            let c = r.commit(root, &parent, i64::from(i));
            parent = vec![c];
            commits.push(c);
        }
        commits
    }

    /// A walker of `r` with nothing uninteresting (`none`) and no filter.
    fn plain_walker<'a>(r: &'a MemoryObjects, none: &'a PackedIdSet) -> TreeWalker<'a> {
        TreeWalker {
            repo: r,
            uninteresting: none,
            filter: None,
            check_blobs: false,
        }
    }

    #[test]
    fn recorded_children_are_the_trees_entries() {
        let mut r = MemoryObjects::new();
        let tips = changing_history(&mut r);
        let opts = WalkOptions {
            record_children: true,
            ..WalkOptions::default()
        };
        let w = objects_for_pack(&r, &tips, &[], &opts, &mut Discard).unwrap();
        let plain =
            objects_for_pack(&r, &tips, &[], &WalkOptions::default(), &mut Discard).unwrap();
        assert_eq!(w.objects, plain.objects, "recording changes nothing walked");
        let children = w.children.unwrap();
        let trees = w.objects.iter().filter(|o| o.kind == Kind::Tree).count();
        assert_eq!(check_records(&r, &w.objects.to_vec(), &children), trees);
        // Against a have, trees the client has are outside.
        let w = objects_for_pack(&r, &tips[1..], &tips[..1], &opts, &mut Discard).unwrap();
        let children = w.children.unwrap();
        let first_tree = w.objects.iter().position(|o| o.kind == Kind::Tree).unwrap();
        assert!(children.of(first_tree as u32).is_some());
        let outside = (0..w.objects.len() as u32)
            .filter_map(|p| children.of(p))
            .flatten()
            .filter(|&&s| s == children::OUTSIDE)
            .count();
        assert!(outside > 0, "entries the client has are outside");
    }

    #[test]
    fn recording_stops_at_its_limit_and_keeps_what_it_has() {
        let mut r = MemoryObjects::new();
        let tips = changing_history(&mut r);
        let none = PackedIdSet::default();
        let walker = plain_walker(&r, &none);
        let mut cache = CommitCache::default();
        let roots: Vec<(ObjectId, bool)> = tips
            .iter()
            .map(|c| (cache.get(&r, c).unwrap().tree, false))
            .collect();
        let mut out = PackList::new(r.hash_kind());
        let mut rec = Recorder::new(40);
        let mut bases = Bases::default();
        for (t, explicit) in &roots {
            let rec = Some(&mut rec);
            walker
                .walk(t, *explicit, &mut bases, &mut out, rec, &mut Discard)
                .unwrap();
        }
        let children = rec.into_children();
        let out = out.to_vec();
        let recorded = check_records(&r, &out, &children);
        let trees = out.iter().filter(|o| o.kind == Kind::Tree).count();
        assert!(recorded > 3 && recorded < trees, "{recorded} of {trees}");
    }

    #[test]
    fn missing_objects_are_errors() {
        let mut r = MemoryObjects::new();
        let ghost =
            crate::odb::object_id(crate::hash::HashKind::Sha1, Kind::Blob, b"ghost").unwrap();
        let t = r.tree(&[("g", ghost, false)]);
        let c = r.commit(t, &[], 1);
        assert!(matches!(
            objects_for_pack(
                &r,
                &[c],
                &[],
                &WalkOptions {
                    check_blobs: true,
                    ..WalkOptions::default()
                },
                &mut Discard
            ),
            Err(Error::Missing { .. })
        ));
    }
}

#[cfg(test)]
mod name_hash_tests {
    use super::name_hash;

    #[test]
    fn name_hash_is_gits_and_composes() {
        // git: hash = (hash >> 2) + (c << 24) over non-space bytes.
        let mut h = 0u32;
        for c in b"ab.c" {
            h = (h >> 2).wrapping_add(u32::from(*c) << 24);
        }
        assert_eq!(name_hash(0, b"ab.c"), h);
        assert_eq!(name_hash(0, b"a b.\tc"), h);
        let dir = name_hash(0, b"src/pack");
        assert_eq!(
            name_hash(name_hash(dir, b"/"), b"write.rs"),
            name_hash(0, b"src/pack/write.rs")
        );
        assert_eq!(name_hash(0, b""), 0);
    }
}
