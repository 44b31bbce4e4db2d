//! Peeling the tags refs are written with, from the object directory as it is at that moment
//! (a push has just added the objects its refs name): the reftable store records each peeled
//! value, and the files store the `^` lines of `packed-refs`.

use std::path::Path;

use super::odb::FsObjectStore;
use crate::backend::Error;
use crate::hash::{HashKind, ObjectId};
use crate::odb::{Kind, TagRef};

/// Peels `id` through the object directory `objects_dir` as it is now (opened per call: a push
/// has just added the objects its refs name). A missing object is an error, not "not a tag".
pub(super) fn peel_from(
    objects_dir: &Path,
    hash: HashKind,
    id: &ObjectId,
) -> Result<Option<ObjectId>, Error> {
    peel_in(&FsObjectStore::open(objects_dir, hash)?, id)
}

/// Peels `id` through `store`; a missing object is an error.
fn peel_in(store: &FsObjectStore, id: &ObjectId) -> Result<Option<ObjectId>, Error> {
    let (end, depth) =
        crate::odb::tag_chain::peel::<Error>(*id, |current| match store.header(current)? {
            Some((Kind::Tag, _)) => {
                let obj = store.read(current)?.ok_or(Error::MissingObject(*current))?;
                let tag = TagRef::parse(&obj.data).map_err(|source| Error::Object {
                    id: *current,
                    source,
                })?;
                Ok(Some(tag.object))
            }
            Some(_) => Ok(None),
            None => Err(Error::MissingObject(*current)),
        })?;
    Ok((depth > 0).then_some(end))
}

/// Peels every id of `ids` through the object directory `objects_dir` (opened once), in order;
/// an object that cannot be read peels to `None`, as C git writes no `^` line for it in
/// `packed-refs`.
pub(super) fn peel_all(
    objects_dir: &Path,
    hash: HashKind,
    ids: &[ObjectId],
) -> Result<Vec<Option<ObjectId>>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let store = FsObjectStore::open(objects_dir, hash)?;
    Ok(ids
        .iter()
        .map(|id| peel_in(&store, id).ok().flatten())
        .collect())
}
