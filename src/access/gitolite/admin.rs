//! Administration by push: the `gitolite-admin` repository's branch holds `conf/` and
//! `keydir/`. A push to it is checked before any ref moves — the new configuration must load
//! and every key must parse, else the push is refused with the error and nothing changes —
//! and once stored, the tree is written to the admin directory, the repositories it names are
//! created, and the keys are synced (what gitolite's post-update hook and `compile` do).

use std::path::Path;

use super::keys;
use super::lines::Files;
use super::site::{MAX_FILES, MAX_FILE_SIZE, TREE_DIRS};
use super::{load, Error};
use crate::backend::Repository;
use crate::hash::ObjectId;
use crate::odb::object::{CommitRef, TreeIter};
use crate::odb::Kind;

/// The name of the administration repository, as in gitolite.
pub const ADMIN_REPO: &str = "gitolite-admin";

/// Reads `conf/` and `keydir/` from `commit`'s tree.
pub fn read_commit(repo: &dyn Repository, commit: &ObjectId) -> Result<Files, String> {
    let obj = read(repo, commit, Kind::Commit)?;
    let tree = CommitRef::parse(&obj)
        .map_err(|e| format!("{commit}: {e}"))?
        .tree;
    let mut files = Files::new();
    let top = read(repo, &tree, Kind::Tree)?;
    for entry in TreeIter::new(&top, repo.hash_kind()) {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = String::from_utf8_lossy(entry.name).into_owned();
        if TREE_DIRS.contains(&name.as_str()) && entry.kind() == Some(Kind::Tree) {
            walk_tree(repo, &entry.id, &name, &mut files)?;
        }
    }
    Ok(files)
}

fn read(repo: &dyn Repository, id: &ObjectId, kind: Kind) -> Result<Vec<u8>, String> {
    match repo.read_object(id).map_err(|e| e.to_string())? {
        Some(o) if o.kind == kind => Ok(o.data),
        Some(o) => Err(format!("{id} is a {:?}, not a {kind:?}", o.kind)),
        None => Err(format!("{id}: missing object")),
    }
}

fn walk_tree(
    repo: &dyn Repository,
    tree: &ObjectId,
    prefix: &str,
    files: &mut Files,
) -> Result<(), String> {
    let data = read(repo, tree, Kind::Tree)?;
    for entry in TreeIter::new(&data, repo.hash_kind()) {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = String::from_utf8_lossy(entry.name);
        let path = format!("{prefix}/{name}");
        match entry.kind() {
            Some(Kind::Tree) => walk_tree(repo, &entry.id, &path, files)?,
            Some(Kind::Blob) if entry.mode & 0o170000 == 0o100000 => {
                if files.len() >= MAX_FILES {
                    return Err("admin tree has too many files".into());
                }
                let blob = read(repo, &entry.id, Kind::Blob)?;
                if blob.len() as u64 > MAX_FILE_SIZE {
                    return Err(format!("{path}: too large"));
                }
                files.insert(path, blob);
            }
            // Symlinks and submodules have no place in an admin tree; gitolite would follow a
            // symlink out of it.
            _ => return Err(format!("{path}: not a regular file")),
        }
    }
    Ok(())
}

/// Checks an admin tree the way applying it would use it.
pub fn validate(files: &Files) -> Result<(), Error> {
    load(files)?;
    keys::from_files(files)?;
    Ok(())
}

/// Replaces the admin directory's `conf/` and `keydir/` with `files`: each directory is
/// written beside the old one and swapped in by rename, so a reader sees one or the other.
pub fn write_admin_dir(admin: &Path, files: &Files) -> Result<(), Error> {
    let stage = admin.join(format!(".sluice-new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&stage);
    for (path, data) in files {
        let dest = stage.join(path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        }
        std::fs::write(&dest, data)
            .map_err(|e| Error::io(format!("writing {}", dest.display()), e))?;
    }
    for dir in TREE_DIRS {
        let new = stage.join(dir);
        if !new.exists() {
            std::fs::create_dir_all(&new)
                .map_err(|e| Error::io(format!("creating {}", new.display()), e))?;
        }
        let live = admin.join(dir);
        let old = admin.join(format!(".sluice-old-{}-{dir}", std::process::id()));
        if live.exists() {
            std::fs::rename(&live, &old)
                .map_err(|e| Error::io(format!("moving {}", live.display()), e))?;
        }
        std::fs::rename(&new, &live)
            .map_err(|e| Error::io(format!("installing {}", live.display()), e))?;
        let _ = std::fs::remove_dir_all(&old);
    }
    let _ = std::fs::remove_dir_all(&stage);
    Ok(())
}
