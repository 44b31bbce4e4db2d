//! Resolution shared by every [`RefStore`]: symbolic refs followed to an id, annotated tags
//! peeled through the [`ObjectStore`], `HEAD` read. A store keeps raw values; this is the one
//! place that turns them into the [`Ref`]s and [`Head`] the services see.

use std::ops::ControlFlow;

use crate::hash::ObjectId;
use crate::odb::store::{Error, ObjectStore};
use crate::odb::{Kind, TagRef};
use crate::refs::store::{Head, Ref, RefStore, RefVisitor};
use crate::refs::RawRef;

/// Most symbolic refs followed before giving up (C git's `SYMREF_MAXDEPTH` is 5).
const MAX_SYMREF_DEPTH: usize = 6;

/// The id ref `name` finally points at, following symbolic refs (at most
/// [`MAX_SYMREF_DEPTH`]); `None` for a missing or dangling ref, or a target outside `refs/`.
pub fn resolve(store: &dyn RefStore, name: &str) -> Result<Option<ObjectId>, Error> {
    let mut current = name.to_string();
    for _ in 0..MAX_SYMREF_DEPTH {
        if current != "HEAD"
            && (!current.starts_with("refs/")
                || current.split('/').any(|c| c == ".." || c.is_empty()))
        {
            return Ok(None);
        }
        match store.read_raw(&current)? {
            Some(RawRef::Direct { id, .. }) => return Ok(Some(id)),
            Some(RawRef::Symbolic(t)) => current = t,
            None => return Ok(None),
        }
    }
    Ok(None)
}

/// What `HEAD` is in `store`; a store without `HEAD` is [`Error::Corrupt`].
pub fn head(store: &dyn RefStore) -> Result<Head, Error> {
    match store.read_raw("HEAD")? {
        None => Err(Error::corrupt("HEAD", "missing")),
        Some(RawRef::Direct { id, .. }) => Ok(Head {
            symref_target: None,
            id: Some(id),
        }),
        Some(RawRef::Symbolic(target)) => {
            let id = resolve(store, &target)?;
            Ok(Head {
                symref_target: Some(target),
                id,
            })
        }
    }
}

/// The object `id` peels to when it is an annotated tag (through a chain of tags), read from
/// `objects`; `None` when `id` is not a tag or is missing.
pub fn peel(objects: &dyn ObjectStore, id: &ObjectId) -> Result<Option<ObjectId>, Error> {
    let (end, depth) = crate::odb::tag_chain::peel::<Error>(*id, |current| {
        match objects.object_header(current)? {
            Some((Kind::Tag, _)) => {
                let obj = objects
                    .read_object(current)?
                    .ok_or(Error::MissingObject(*current))?;
                let tag = TagRef::parse(&obj.data).map_err(|source| Error::Object {
                    id: *current,
                    source,
                })?;
                Ok(Some(tag.object))
            }
            _ => Ok(None),
        }
    })?;
    Ok((depth > 0).then_some(end))
}

/// Streams the refs of `store` whose names start with `prefix` to `visit`, resolved and peeled
/// (peeled values the store recorded are trusted; others are read from `objects`). Dangling
/// symbolic refs are skipped, as C git skips them in advertisements.
pub fn for_each_ref(
    store: &dyn RefStore,
    objects: &dyn ObjectStore,
    prefix: &str,
    visit: &mut RefVisitor<'_>,
) -> Result<(), Error> {
    store.for_each_raw(prefix, &mut |name, raw| {
        let (id, recorded_peel, symref_target) = match raw {
            RawRef::Direct { id, peeled } => (id, peeled, None),
            RawRef::Symbolic(target) => match resolve(store, &target)? {
                Some(id) => (id, None, Some(target)),
                None => {
                    tracing::debug!(refname = %name, "skipping dangling ref");
                    return Ok(ControlFlow::Continue(()));
                }
            },
        };
        let peeled = match recorded_peel {
            Some(p) => p,
            None => peel(objects, &id)?,
        };
        visit(Ref {
            name: name.to_string(),
            id,
            peeled,
            symref_target,
        })
    })
}

/// Calls `visit` with each annotated tag on the chain from `tip` down to `peeled` (which is not
/// visited), reading each tag from `objects` to find the next link; stops when `visit` returns
/// `Break(b)` and returns `Some(b)`, or `None` when the chain reached `peeled`. Used where a
/// pack takes the tags of the objects it carries (`include-tag`). A chain that loops (corrupt
/// storage) is an error.
pub fn walk_tag_chain<B>(
    objects: &dyn ObjectStore,
    tip: ObjectId,
    peeled: ObjectId,
    visit: &mut dyn FnMut(ObjectId) -> ControlFlow<B>,
) -> Result<Option<B>, Error> {
    let mut guard = crate::odb::tag_chain::ChainGuard::new();
    let mut current = tip;
    while current != peeled {
        guard.step(&current)?;
        if let ControlFlow::Break(b) = visit(current) {
            return Ok(Some(b));
        }
        let obj = objects
            .read_object(&current)?
            .ok_or(Error::MissingObject(current))?;
        current = TagRef::parse(&obj.data)
            .map_err(|source| Error::Object {
                id: current,
                source,
            })?
            .object;
    }
    Ok(None)
}
