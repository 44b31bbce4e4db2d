//! Pushes from shallow clones (git's `receive.shallowUpdate`). The client names its shallow
//! boundary in `shallow <id>` lines before its commands. A pushed history that is complete down
//! to commits the repository already has (or to its own shallow boundary) needs nothing more;
//! one that is complete only down to the client's boundary is a *shallow update*: refused per
//! ref ("shallow update not allowed", C git's wording) unless `receive.shallowUpdate` is true,
//! in which case the boundary commits whose parents the repository lacks are added to its
//! `shallow` file before any ref moves.

use crate::backend::{self, Repository};
use crate::hash::{IdSet, ObjectId};
use crate::protocol::v0;

/// A `shallow <id>` line (an id of `hash`), allowed only before the first command (`first` says
/// we are there).
pub(super) fn parse_line(
    line: &[u8],
    first: bool,
    hash: crate::hash::HashKind,
) -> Result<Option<ObjectId>, v0::Error> {
    let Some(hex) = line.strip_prefix(b"shallow ") else {
        return Ok(None);
    };
    let bad = || v0::Error::Unexpected {
        expected: "a shallow line (before the commands) with an object id",
        line: String::from_utf8_lossy(line).into_owned(),
    };
    if !first {
        return Err(bad());
    }
    hash.id_from_hex(hex).map(Some).map_err(|_| bad())
}

/// Adds to `repo`'s shallow boundary the commits of `client_shallow` it now has whose parents
/// it lacks (they would otherwise make `git fsck` and every walk fail).
pub(super) fn record_new_roots(
    repo: &dyn Repository,
    client_shallow: &IdSet,
) -> Result<(), backend::Error> {
    let mut new_roots = Vec::new();
    for id in client_shallow {
        if repo.shallow_roots().is_some_and(|s| s.contains(id)) {
            continue;
        }
        let Some(obj) = repo.read_object(id)? else {
            continue;
        };
        let Ok(commit) = crate::odb::CommitRef::parse(&obj.data) else {
            continue;
        };
        let mut missing = false;
        for p in &commit.parents {
            missing |= !repo.contains(p)?;
        }
        if missing {
            new_roots.push(*id);
        }
    }
    if new_roots.is_empty() {
        return Ok(());
    }
    repo.add_shallow_roots(&new_roots)
}
