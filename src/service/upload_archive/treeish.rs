//! Which tree to archive: the tree-ish argument resolved as C git's `parse_treeish_arg` does for
//! a remote request. Without `uploadArchive.allowUnreachable` the part before `:` must name a ref
//! (git's dwim rules, over the refs the request may see: namespace and hidden refs applied);
//! with it, a full object id is taken too. `<rev>:<path>` archives that subtree, and then, as in
//! C git, there is no commit: no pax comment and the current time as mtime.
//!
//! Deviation: other revision syntax (`main~1`, `v1^{tree}`, abbreviated ids) is refused even
//! with `allowUnreachable`, because Sluice has no revision parser; without it C git refuses them
//! too ("no such ref").

use super::Error;
use crate::backend::Repository;
use crate::hash::ObjectId;
use crate::odb::{CommitRef, Kind, TagRef, TreeIter};

/// The resolved archive root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The tree to archive.
    pub tree: ObjectId,
    /// The commit it came from, when the tree-ish named one (not with `:path`).
    pub commit: Option<ObjectId>,
    /// The committer time of that commit (entries' mtime); `None`: use the current time.
    pub time: Option<i64>,
}

/// The ref names `name` may stand for, in git's dwim order (`ref_rev_parse_rules`).
fn dwim_candidates(name: &str) -> [String; 6] {
    [
        name.to_string(),
        format!("refs/{name}"),
        format!("refs/tags/{name}"),
        format!("refs/heads/{name}"),
        format!("refs/remotes/{name}"),
        format!("refs/remotes/{name}/HEAD"),
    ]
}

/// The id the ref `name` (dwim'd) points at, among the refs of `repo`'s view.
fn dwim_ref(repo: &dyn Repository, name: &str) -> Result<Option<ObjectId>, Error> {
    if name.is_empty() {
        return Ok(None);
    }
    let refs = repo.refs()?;
    for candidate in dwim_candidates(name) {
        if candidate == "HEAD" {
            if let Some(id) = repo.head()?.id {
                return Ok(Some(id));
            }
            continue;
        }
        if let Some(r) = refs.iter().find(|r| r.name == candidate) {
            return Ok(Some(r.id));
        }
    }
    Ok(None)
}

/// Reads object `id`, which must exist.
fn read(repo: &dyn Repository, id: &ObjectId) -> Result<crate::odb::Object, Error> {
    repo.read_object(id)?
        .ok_or_else(|| Error::Usage(format!("not a valid object name: {id}")))
}

/// Peels tags from `id` down to a commit or a tree: `(tree, commit, commit time)`.
fn peel_to_tree(
    repo: &dyn Repository,
    mut id: ObjectId,
) -> Result<(ObjectId, Option<(ObjectId, i64)>), Error> {
    for _ in 0..64 {
        let obj = read(repo, &id)?;
        match obj.kind {
            Kind::Tag => id = TagRef::parse(&obj.data)?.object,
            Kind::Commit => {
                let c = CommitRef::parse(&obj.data)?;
                return Ok((c.tree, Some((id, c.commit_time))));
            }
            Kind::Tree => return Ok((id, None)),
            Kind::Blob => break,
        }
    }
    Err(Error::Usage(format!("not a tree object: {id}")))
}

/// Follows `path` (`a/b`) down from `tree`; the object there and its mode.
pub fn lookup_path(
    repo: &dyn Repository,
    tree: ObjectId,
    path: &str,
) -> Result<Option<(ObjectId, u32)>, Error> {
    let mut current = (tree, 0o040000);
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if current.1 != 0o040000 {
            return Ok(None);
        }
        let obj = read(repo, &current.0)?;
        let mut found = None;
        for e in TreeIter::new(&obj.data, current.0.kind()) {
            let e = e?;
            if e.name == part.as_bytes() {
                found = Some((e.id, e.mode));
                break;
            }
        }
        match found {
            Some(f) => current = f,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// Resolves `treeish` in `repo`; `allow_unreachable` is `uploadArchive.allowUnreachable`.
pub fn resolve(
    repo: &dyn Repository,
    treeish: &str,
    allow_unreachable: bool,
) -> Result<Target, Error> {
    let (rev, path) = match treeish.split_once(':') {
        Some((r, p)) => (r, Some(p)),
        None => (treeish, None),
    };
    let id = match dwim_ref(repo, rev)? {
        Some(id) => id,
        None if !allow_unreachable => return Err(Error::Usage(format!("no such ref: {rev}"))),
        None => match ObjectId::from_hex(rev.as_bytes()) {
            Ok(id) if id.kind() == repo.hash_kind() && repo.contains(&id)? => id,
            _ => {
                return Err(Error::Usage(format!(
                "not a valid object name: {treeish} (sluice takes ref names and full object ids)"
            )))
            }
        },
    };
    let (tree, commit) = peel_to_tree(repo, id)?;
    let Some(path) = path else {
        return Ok(Target {
            tree,
            commit: commit.map(|c| c.0),
            time: commit.map(|c| c.1),
        });
    };
    match lookup_path(repo, tree, path)? {
        Some((sub, 0o040000)) => Ok(Target {
            tree: sub,
            commit: None,
            time: None,
        }),
        Some((sub, _)) => Err(Error::Usage(format!("not a tree object: {sub}"))),
        None => Err(Error::Usage(format!("not a valid object name: {treeish}"))),
    }
}
