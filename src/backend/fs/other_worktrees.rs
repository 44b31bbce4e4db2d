//! The other worktrees of a repository, found as C git's `get_worktrees` finds them (the main
//! worktree in the common directory, linked ones under `worktrees/<id>`), and the branches
//! their HEADs name: receive-pack refuses to update those as it refuses the current branch
//! (C git's `find_shared_symref` over every worktree).
//!
//! Deviation: a worktree rebasing or bisecting on a detached HEAD does not count the branch it
//! started from as checked out (C git's `is_worktree_being_rebased`/`_bisected` do).

use std::path::{Path, PathBuf};

use crate::hash::HashKind;
use crate::refs::reftable::{RefValue, Stack};
use crate::refs::RawRef;

/// The branches HEAD names in every worktree of the repository whose common directory is
/// `common_dir`, but the one whose git directory is `served`; the main worktree counts unless
/// the repository is `bare`. Ids are of hash `kind`; with `reftable`, each worktree's HEAD is in
/// its own stack. A worktree whose HEAD cannot be read counts for nothing, as in C git.
pub fn branches_checked_out_elsewhere(
    common_dir: &Path,
    served: &Path,
    bare: bool,
    kind: HashKind,
    reftable: bool,
) -> Vec<String> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if !bare {
        dirs.push(common_dir.to_path_buf());
    }
    if let Ok(entries) = std::fs::read_dir(common_dir.join("worktrees")) {
        dirs.extend(
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("gitdir").is_file()),
        );
    }
    let served = canonical(served);
    dirs.into_iter()
        .filter(|d| canonical(d) != served)
        .filter_map(|d| head_target(&d, kind, reftable))
        .collect()
}

fn canonical(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// The branch the HEAD of the worktree whose git directory is `git_dir` names, if symbolic.
fn head_target(git_dir: &Path, kind: HashKind, reftable: bool) -> Option<String> {
    if reftable {
        match Stack::open(&git_dir.join("reftable")).ok()?.lookup("HEAD") {
            Ok(Some(RefValue::Symbolic(target))) => Some(target),
            _ => None,
        }
    } else {
        let text = std::fs::read(git_dir.join("HEAD")).ok()?;
        match crate::refs::parse_loose(kind, "HEAD", &text) {
            Ok(RawRef::Symbolic(target)) => Some(target),
            _ => None,
        }
    }
}
