//! Counting a pack's objects with reachability bitmaps (the fast path of
//! [`crate::walk::objects_for_pack`]): the objects reachable from the wants are the OR of the
//! stored closures of the commits nearest to them, plus what the few commits without a stored
//! closure add; the client's side is computed the same way from the common commits, and the
//! pack is the difference. Everything is a position in the bitmapped pack.
//!
//! The answer is `None` whenever the bitmaps cannot give it exactly (a want or have outside the
//! bitmapped pack, an unknown type); the caller then walks the history instead.

use crate::hash::ObjectId;
use std::ops::ControlFlow;

use crate::odb::store::ObjectStore;
use crate::odb::{CommitRef, Kind, TagRef, TreeIter};
use crate::pack::ewah::Bitmap;
use crate::pack::stored::StoredPack;
use crate::refs::Ref;
use crate::walk::Error;

/// What to send and what the client has, as positions in the bitmapped pack.
#[derive(Debug)]
pub struct BitmapCount {
    /// Objects to send.
    pub send: Bitmap,
    /// Objects the client has (from the common commits): valid thin-pack bases.
    pub have: Bitmap,
}

/// Counts `wants` minus `haves` with `pack`'s bitmaps.
pub fn count(
    repo: &dyn ObjectStore,
    pack: &dyn StoredPack,
    wants: &[ObjectId],
    haves: &[ObjectId],
) -> Result<Option<BitmapCount>, Error> {
    let n = pack.object_count();
    let mut have = Bitmap::with_len(n);
    if !fill(repo, pack, haves, &mut have)? {
        return Ok(None);
    }
    let mut send = Bitmap::with_len(n);
    // Start from what the client has, so the walk stops there; then remove it.
    send.or(&have);
    if !fill(repo, pack, wants, &mut send)? {
        return Ok(None);
    }
    send.and_not(&have);
    Ok(Some(BitmapCount { send, have }))
}

fn parse_err(id: ObjectId, source: crate::odb::Error) -> Error {
    Error::Parse { id, source }
}

fn read(repo: &dyn ObjectStore, id: &ObjectId, kind: &'static str) -> Result<Vec<u8>, Error> {
    Ok(repo
        .read_object(id)?
        .ok_or_else(|| Error::Missing {
            id: *id,
            kind,
            context: "bitmap walk".into(),
        })?
        .data)
}

/// Adds everything reachable from `roots` to `set`; `false` if an object is outside the pack.
fn fill(
    repo: &dyn ObjectStore,
    pack: &dyn StoredPack,
    roots: &[ObjectId],
    set: &mut Bitmap,
) -> Result<bool, Error> {
    // Roots with a stored closure first: a root without one (a tag, a branch tip the bitmap
    // selection skipped) then stops its walk at what those closures already hold instead of
    // walking history that a later root's closure would have covered.
    let mut queue: Vec<ObjectId> = Vec::with_capacity(roots.len());
    for id in roots {
        match pack.position(id) {
            Some(pos) if pack.kind_at(pos) == Some(Kind::Commit) && !set.get(pos) => {
                match pack.closure(id)? {
                    Some(closure) => set.or(&closure),
                    None => queue.push(*id),
                }
            }
            _ => queue.push(*id),
        }
    }
    let mut trees: Vec<ObjectId> = Vec::new();
    // Commits and tags first: stored closures are OR-ed in before any tree is walked, so trees
    // they cover are not walked again.
    while let Some(id) = queue.pop() {
        let Some(pos) = pack.position(&id) else {
            return Ok(false);
        };
        if set.get(pos) {
            continue;
        }
        match pack.kind_at(pos) {
            Some(Kind::Commit) => {
                if let Some(closure) = pack.closure(&id)? {
                    set.or(&closure);
                    continue;
                }
                set.set(pos);
                if let Some(g) = repo.commit_from_graph(&id) {
                    trees.push(g.tree);
                    queue.extend(g.parents);
                    continue;
                }
                let data = read(repo, &id, "commit")?;
                let c = CommitRef::parse(&data).map_err(|e| parse_err(id, e))?;
                trees.push(c.tree);
                queue.extend(c.parents.iter().copied());
            }
            Some(Kind::Tag) => {
                set.set(pos);
                let data = read(repo, &id, "tag")?;
                queue.push(TagRef::parse(&data).map_err(|e| parse_err(id, e))?.object);
            }
            Some(Kind::Tree) => trees.push(id),
            Some(Kind::Blob) => set.set(pos),
            None => return Ok(false),
        }
    }
    while let Some(id) = trees.pop() {
        let Some(pos) = pack.position(&id) else {
            return Ok(false);
        };
        if set.get(pos) {
            continue;
        }
        set.set(pos);
        let data = read(repo, &id, "tree")?;
        for entry in TreeIter::new(&data, id.kind()) {
            let entry = entry.map_err(|e| parse_err(id, e))?;
            match entry.kind() {
                Some(Kind::Tree) => trees.push(entry.id),
                Some(_) => {
                    let Some(p) = pack.position(&entry.id) else {
                        return Ok(false);
                    };
                    set.set(p);
                }
                None => {} // a gitlink: the commit lives in another repository
            }
        }
    }
    Ok(true)
}

/// Adds annotated tags whose peeled target is sent (`include-tag`), as positions.
pub fn include_tags(
    pack: &dyn StoredPack,
    refs: &[Ref],
    repo: &dyn ObjectStore,
    count: &mut BitmapCount,
) -> Result<bool, Error> {
    for r in refs {
        let Some(peeled) = r.peeled else {
            continue;
        };
        let (Some(tag_pos), Some(peeled_pos)) = (pack.position(&r.id), pack.position(&peeled))
        else {
            if pack.position(&r.id).is_none() {
                return Ok(false);
            }
            continue;
        };
        if count.send.get(tag_pos) || count.have.get(tag_pos) || !count.send.get(peeled_pos) {
            continue;
        }
        // The chain of tags from the ref down to the peeled object: `Break(false)` when a tag
        // is outside the pack (the caller then walks instead).
        let outcome =
            crate::refs::resolve::walk_tag_chain(repo, r.id, peeled, &mut |id| match pack
                .position(&id)
            {
                None => ControlFlow::Break(false),
                Some(pos) if count.send.get(pos) || count.have.get(pos) => ControlFlow::Break(true),
                Some(pos) => {
                    count.send.set(pos);
                    ControlFlow::Continue(())
                }
            })?;
        if outcome == Some(false) {
            return Ok(false);
        }
    }
    Ok(true)
}
