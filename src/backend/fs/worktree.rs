//! `receive.denyCurrentBranch=updateInstead`: a push to the checked-out branch of a non-bare
//! repository updates its index and working tree, as C git's `push_to_deploy` does with
//! `update-index --refresh`, `diff-files`, `diff-index --cached HEAD` and `read-tree -u -m`,
//! without running git.
//!
//! ```text
//! read index → refresh stat data (hash files whose stat changed or is racy) → clean?
//!   → index equals HEAD's tree? → plan: remove / write paths, refuse to overwrite untracked
//!   → apply → write index (index.lock, rename)
//! ```
//!
//! Deviation: no content filters. A repository whose `core.autocrlf` is set, or whose
//! `.gitattributes` ask for `text`, `eol`, `filter`, `ident` or `working-tree-encoding`, is
//! refused rather than checked out differently from C git.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::backend::{Error as BackendError, Repository};
use crate::hash::ObjectId;
use crate::odb::{CommitRef, Kind, TreeIter};

use super::index::{Entry, Index, Stat};

/// Why the working tree was not updated: the text C git reports for the ref (`ng <ref> <why>`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    /// The index could not be read or refreshed.
    #[error("Up-to-date check failed")]
    UpToDateCheck,
    /// A tracked file differs from the index.
    #[error("Working directory has unstaged changes")]
    Unstaged,
    /// The index differs from HEAD.
    #[error("Working directory has staged changes")]
    Staged,
    /// The new tree could not be written out (untracked files in the way, I/O errors); with
    /// what went wrong, for the pusher (C git's `read-tree` prints it).
    #[error("Could not update working tree to new HEAD")]
    Checkout(Option<String>),
}

/// One path of a tree, flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TreePath {
    mode: u32,
    id: ObjectId,
}

/// The work tree of the repository whose git directory is `git_dir` (`core.worktree`, else
/// the directory holding a `.git` directory); `None` if it has none Sluice can find.
pub fn work_tree(git_dir: &Path, repo: &dyn Repository) -> Option<PathBuf> {
    if let Some(Some(wt)) = repo.config().get("core.worktree") {
        return Some(git_dir.join(wt));
    }
    (git_dir.file_name()? == ".git").then(|| git_dir.parent().map(Path::to_path_buf))?
}

/// Updates the index and work tree `work_tree` of the repository at `git_dir` from HEAD's
/// commit `head` (`None`: unborn) to commit `new`, refusing a dirty tree.
pub fn update(
    repo: &dyn Repository,
    git_dir: &Path,
    work_tree: &Path,
    head: Option<&ObjectId>,
    new: &ObjectId,
) -> Result<(), Refusal> {
    let log = |what: &str, e: &dyn std::fmt::Display| {
        tracing::warn!(work_tree = %work_tree.display(), error = %e, "updateInstead: {what}");
    };
    if filters_configured(repo) {
        log(
            "refused",
            &"core.autocrlf or core.eol is set (content filters are not supported)",
        );
        return Err(Refusal::UpToDateCheck);
    }
    let index_path = git_dir.join("index");
    let (mut index, index_mtime) = match std::fs::read(&index_path) {
        Ok(bytes) => {
            let index = Index::decode(&bytes, repo.hash_kind()).map_err(|e| {
                log("index", &e);
                Refusal::UpToDateCheck
            })?;
            let mtime = std::fs::metadata(&index_path)
                .map(|m| Stat::from_metadata(&m))
                .ok();
            (index, mtime)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Index::default(), None),
        Err(e) => {
            log("index", &e);
            return Err(Refusal::UpToDateCheck);
        }
    };
    let file_mode = repo
        .config()
        .get_bool("core.fileMode")
        .ok()
        .flatten()
        .unwrap_or(true);
    refresh(work_tree, &mut index, index_mtime.as_ref(), file_mode)?;
    let head_tree = match head {
        Some(id) => flatten(
            repo,
            &commit_tree(repo, id).map_err(|e| {
                log("HEAD", &e);
                Refusal::Staged
            })?,
        )
        .map_err(|e| {
            log("HEAD", &e);
            Refusal::Staged
        })?,
        None => BTreeMap::new(),
    };
    if !same_as_tree(&index, &head_tree) {
        return Err(Refusal::Staged);
    }
    let new_tree = commit_tree(repo, new)
        .and_then(|t| flatten(repo, &t))
        .map_err(|e| {
            log("new commit", &e);
            Refusal::Checkout(None)
        })?;
    if attributes_need_filters(repo, &new_tree) {
        log(
            "refused",
            &".gitattributes asks for content filters, which are not supported",
        );
        return Err(Refusal::Checkout(None));
    }
    let entries = checkout(repo, work_tree, &index, &new_tree).map_err(|e| {
        log("checkout", &e);
        Refusal::Checkout(Some(e.to_string()))
    })?;
    let index = Index {
        version: 2,
        entries,
    };
    write_index(repo, git_dir, &index).map_err(|e| {
        log("index write", &e);
        Refusal::Checkout(None)
    })
}

fn filters_configured(repo: &dyn Repository) -> bool {
    let set = |key: &str| match repo.config().get(key) {
        Some(Some(v)) => !matches!(
            v.to_ascii_lowercase().as_str(),
            "false" | "no" | "off" | "0"
        ),
        Some(None) => true,
        None => false,
    };
    set("core.autocrlf") || repo.config().get("core.eol").is_some()
}

/// Whether any `.gitattributes` of `tree` names an attribute that changes file content.
fn attributes_need_filters(repo: &dyn Repository, tree: &BTreeMap<Vec<u8>, TreePath>) -> bool {
    const WORDS: &[&str] = &[
        "text",
        "eol",
        "filter",
        "ident",
        "working-tree-encoding",
        "crlf",
    ];
    tree.iter()
        .filter(|(p, _)| p.ends_with(b".gitattributes"))
        .any(|(_, t)| match repo.read_object(&t.id) {
            Ok(Some(o)) => String::from_utf8_lossy(&o.data).lines().any(|l| {
                !l.trim_start().starts_with('#')
                    && l.split_whitespace().skip(1).any(|attr| {
                        let name = attr.trim_start_matches(['-', '!']);
                        let name = name.split('=').next().unwrap_or(name);
                        WORDS.contains(&name)
                    })
            }),
            _ => true,
        })
}

/// `update-index --refresh` + `diff-files`: every stage-0 entry must match its file; entries
/// whose stat data changed (or that are racily clean) are compared by content and get fresh
/// stat data when equal.
fn refresh(
    work_tree: &Path,
    index: &mut Index,
    index_mtime: Option<&Stat>,
    file_mode: bool,
) -> Result<(), Refusal> {
    for e in &mut index.entries {
        if e.stage != 0 {
            return Err(Refusal::Unstaged);
        }
        if e.mode == 0o160000 {
            continue; // --ignore-submodules
        }
        let path = work_tree.join(os_path(&e.path));
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            return Err(Refusal::Unstaged);
        };
        let kind_ok = match e.mode {
            0o120000 => meta.file_type().is_symlink(),
            _ => meta.file_type().is_file(),
        };
        if !kind_ok || (file_mode && e.mode != 0o120000 && mode_of(&meta) != e.mode) {
            return Err(Refusal::Unstaged);
        }
        let stat = Stat::from_metadata(&meta);
        let racy =
            index_mtime.is_none_or(|i| (stat.mtime, stat.mtime_nsec) >= (i.mtime, i.mtime_nsec));
        if stat == e.stat && !racy {
            continue;
        }
        let id = hash_path(&path, e.mode, e.id.kind()).map_err(|_| Refusal::Unstaged)?;
        if id != e.id {
            return Err(Refusal::Unstaged);
        }
        e.stat = stat;
    }
    Ok(())
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o100 != 0 {
        0o100755
    } else {
        0o100644
    }
}

#[cfg(unix)]
fn os_path(path: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(path))
}

/// The blob id, hashed with `hash`, of the file (or symlink target) at `path`.
fn hash_path(path: &Path, mode: u32, hash: crate::hash::HashKind) -> std::io::Result<ObjectId> {
    use std::os::unix::ffi::OsStrExt;
    let data = if mode == 0o120000 {
        std::fs::read_link(path)?.as_os_str().as_bytes().to_vec()
    } else {
        std::fs::read(path)?
    };
    crate::odb::object_id(hash, Kind::Blob, &data)
        .map_err(|_| std::io::Error::other("SHA-1 collision attack detected"))
}

/// `diff-index --cached --ignore-submodules HEAD`: the index holds exactly `tree`.
fn same_as_tree(index: &Index, tree: &BTreeMap<Vec<u8>, TreePath>) -> bool {
    let ours: Vec<&Entry> = index.entries.iter().collect();
    ours.len() == tree.len()
        && ours.iter().all(|e| {
            tree.get(&e.path)
                .is_some_and(|t| t.mode == e.mode && (t.id == e.id || e.mode == 0o160000))
        })
}

fn commit_tree(repo: &dyn Repository, commit: &ObjectId) -> Result<ObjectId, BackendError> {
    let obj = repo
        .read_object(commit)?
        .filter(|o| o.kind == Kind::Commit)
        .ok_or_else(|| BackendError::corrupt(commit.to_hex(), "not a commit"))?;
    CommitRef::parse(&obj.data)
        .map(|c| c.tree)
        .map_err(|source| BackendError::Object {
            id: *commit,
            source,
        })
}

/// Every non-tree path of `tree`, keyed by full path (index order: byte order of paths).
fn flatten(
    repo: &dyn Repository,
    tree: &ObjectId,
) -> Result<BTreeMap<Vec<u8>, TreePath>, BackendError> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<(Vec<u8>, ObjectId)> = vec![(Vec::new(), *tree)];
    while let Some((prefix, id)) = stack.pop() {
        let obj = repo
            .read_object(&id)?
            .filter(|o| o.kind == Kind::Tree)
            .ok_or_else(|| BackendError::corrupt(id.to_hex(), "missing tree"))?;
        for e in TreeIter::new(&obj.data, repo.hash_kind()) {
            let e = e.map_err(|source| BackendError::Object { id, source })?;
            let mut path = prefix.clone();
            path.extend_from_slice(e.name);
            if e.mode & 0o170000 == 0o040000 {
                path.push(b'/');
                stack.push((path, e.id));
            } else {
                let mode = match e.mode {
                    0o120000 | 0o160000 | 0o100755 => e.mode,
                    _ => 0o100644,
                };
                out.insert(path, TreePath { mode, id: e.id });
            }
        }
    }
    Ok(out)
}

/// `read-tree -u -m <new>` from a clean `index`: removes, writes and keeps paths, refusing
/// to overwrite files the index does not track. Returns the new index entries.
fn checkout(
    repo: &dyn Repository,
    work_tree: &Path,
    index: &Index,
    new: &BTreeMap<Vec<u8>, TreePath>,
) -> std::io::Result<Vec<Entry>> {
    let old: HashMap<&[u8], &Entry> = index.entries.iter().map(|e| (&e.path[..], e)).collect();
    let removed: HashSet<&[u8]> = old
        .keys()
        .copied()
        .filter(|p| new.get(*p).is_none_or(|t| t.mode != old[p].mode))
        .collect();
    // Nothing untracked may be in the way of an added path.
    for path in new.keys().filter(|p| !old.contains_key(&p[..])) {
        check_absent(work_tree, path, &old, &removed)?;
    }
    for path in &removed {
        let full = work_tree.join(os_path(path));
        match std::fs::remove_file(&full) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                if old[path].mode != 0o160000 {
                    return Err(e);
                }
                let _ = std::fs::remove_dir(&full); // An empty submodule directory.
            }
            _ => {}
        }
        prune_empty_parents(work_tree, &full);
    }
    let mut entries = Vec::with_capacity(new.len());
    for (path, t) in new {
        if let Some(e) = old
            .get(&path[..])
            .filter(|e| e.mode == t.mode && e.id == t.id)
        {
            entries.push((*e).clone());
            continue;
        }
        let full = work_tree.join(os_path(path));
        write_path(repo, &full, t)?;
        let meta = std::fs::symlink_metadata(&full)?;
        entries.push(Entry {
            stat: Stat::from_metadata(&meta),
            mode: t.mode,
            id: t.id,
            stage: 0,
            assume_valid: false,
            path: path.clone(),
        });
    }
    Ok(entries)
}

/// Refuses when `path` (added by the new tree) or one of its leading directories exists as
/// something the old index does not track and the checkout does not remove.
fn check_absent(
    work_tree: &Path,
    path: &[u8],
    old: &HashMap<&[u8], &Entry>,
    removed: &HashSet<&[u8]>,
) -> std::io::Result<()> {
    let in_the_way = |what: &[u8]| {
        std::io::Error::other(format!(
            "Untracked working tree file '{}' would be overwritten by merge.",
            String::from_utf8_lossy(what)
        ))
    };
    for (i, _) in path.iter().enumerate().filter(|(_, &b)| b == b'/') {
        let lead = &path[..i];
        if let Ok(m) = std::fs::symlink_metadata(work_tree.join(os_path(lead))) {
            if !m.is_dir() && !removed.contains(lead) {
                return Err(in_the_way(lead));
            }
        }
    }
    let full = work_tree.join(os_path(path));
    let Ok(meta) = std::fs::symlink_metadata(&full) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return Err(in_the_way(path));
    }
    // A directory is fine only if everything in it is tracked and about to be removed.
    let mut stack = vec![full];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let p = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(work_tree).map_err(std::io::Error::other)?;
            use std::os::unix::ffi::OsStrExt;
            let rel = rel.as_os_str().as_bytes();
            if !(old.contains_key(rel) && removed.contains(rel)) {
                return Err(in_the_way(rel));
            }
        }
    }
    Ok(())
}

/// Removes the now empty directories above `file`, up to (not including) `work_tree`.
fn prune_empty_parents(work_tree: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir.filter(|d| *d != work_tree && d.starts_with(work_tree)) {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Writes blob (or symlink, or empty submodule directory) `t` at `full`.
fn write_path(repo: &dyn Repository, full: &Path, t: &TreePath) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if t.mode == 0o160000 {
        return match std::fs::create_dir(full) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        };
    }
    let data = match repo.read_object(&t.id) {
        Ok(Some(o)) if o.kind == Kind::Blob => o.data,
        _ => return Err(std::io::Error::other(format!("blob {} missing", t.id))),
    };
    match std::fs::symlink_metadata(full) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(full)?,
        Ok(_) => std::fs::remove_file(full)?,
        Err(_) => {}
    }
    if t.mode == 0o120000 {
        use std::os::unix::ffi::OsStrExt;
        return std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&data), full);
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if t.mode == 0o100755 { 0o777 } else { 0o666 })
        .open(full)?;
    f.write_all(&data)
}

/// Writes `index` through `index.lock`, as C git does.
fn write_index(repo: &dyn Repository, git_dir: &Path, index: &Index) -> std::io::Result<()> {
    let bytes = index
        .encode_v2(repo.hash_kind())
        .map_err(std::io::Error::other)?;
    let lock = git_dir.join("index.lock");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock)?;
    let written = f.write_all(&bytes).and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written.and_then(|()| std::fs::rename(&lock, git_dir.join("index"))) {
        let _ = std::fs::remove_file(&lock);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::fs::FsBackend;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "A")
            .env("GIT_AUTHOR_EMAIL", "a@b")
            .env("GIT_COMMITTER_NAME", "C")
            .env("GIT_COMMITTER_EMAIL", "c@d")
            .output()
            .expect("git is needed for this test");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A repository whose HEAD is checked out, and a second commit made elsewhere in it (on a
    /// side branch), so the checkout can move HEAD's tree to it.
    #[test]
    fn checkout_matches_git_status_and_refuses_dirty_trees() {
        if std::env::var_os("SLUICE_SKIP_SYSTEM_TESTS").is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        git(r, &["init", "-q", "-b", "main", "."]);
        std::fs::create_dir_all(r.join("d/e")).unwrap();
        std::fs::write(r.join("d/e/f"), "f\n").unwrap();
        std::fs::write(r.join("x"), "x\n").unwrap();
        git(r, &["add", "."]);
        git(r, &["commit", "-q", "-m", "one"]);
        git(r, &["checkout", "-q", "-b", "side"]);
        git(r, &["rm", "-q", "-r", "d"]);
        std::fs::write(r.join("x"), "x2\n").unwrap();
        std::fs::write(r.join("y"), "y\n").unwrap();
        git(r, &["add", "."]);
        git(r, &["commit", "-q", "-m", "two"]);
        let new = ObjectId::from_hex(git(r, &["rev-parse", "HEAD"]).trim().as_bytes()).unwrap();
        git(r, &["checkout", "-q", "main"]);
        let repo = FsBackend::default().open_fs(r.to_str().unwrap()).unwrap();
        // Dirty: refused, nothing changed.
        std::fs::write(r.join("x"), "local\n").unwrap();
        assert_eq!(
            repo.update_work_tree(&new),
            Err(crate::backend::WorkTreeRefusal {
                reason: "Working directory has unstaged changes".into(),
                detail: None
            })
        );
        git(r, &["checkout", "-q", "--", "x"]);
        std::fs::write(r.join("d/e/f"), "staged\n").unwrap();
        git(r, &["add", "d/e/f"]);
        assert_eq!(
            repo.update_work_tree(&new),
            Err(crate::backend::WorkTreeRefusal {
                reason: "Working directory has staged changes".into(),
                detail: None
            })
        );
        git(r, &["reset", "-q", "--hard"]);
        std::fs::write(r.join("y"), "untracked\n").unwrap();
        assert_eq!(
            repo.update_work_tree(&new),
            Err(crate::backend::WorkTreeRefusal {
                reason: "Could not update working tree to new HEAD".into(),
                detail: Some(
                    "Untracked working tree file 'y' would be overwritten by merge.".into()
                )
            })
        );
        std::fs::remove_file(r.join("y")).unwrap();
        // Clean: the tree and index become the new commit's; git sees no difference.
        repo.update_work_tree(&new).unwrap();
        git(r, &["update-ref", "refs/heads/main", &new.to_hex()]);
        assert_eq!(
            git(r, &["status", "--porcelain", "--untracked-files=all"]),
            ""
        );
        assert!(!r.join("d").exists());
        assert_eq!(std::fs::read_to_string(r.join("y")).unwrap(), "y\n");
    }
}
