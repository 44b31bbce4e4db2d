//! Mapping a client-supplied repository path to a location under the served root, and checking
//! it there: confinement first (no `..`, no escaping by symlink), then the `.git` suffix DWIM.

use std::path::{Path, PathBuf};

use crate::access;
use crate::backend::Backend;

/// A repository found under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The path relative to the root as requested (for access rules and logs).
    pub name: String,
    /// Where it is.
    pub location: PathBuf,
}

/// Why a path was refused. Launchers show one message for all of these ("not found or no
/// access"), so a client cannot probe what exists.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The path is malformed.
    #[error(transparent)]
    Path(#[from] access::PathError),
    /// Nothing is there.
    #[error("repository '{0}' not found")]
    NotFound(String),
    /// It resolves (through a symlink) outside the root.
    #[error("repository '{0}' is outside the served root")]
    Escapes(String),
    /// The store could not say whether it exists (an engine is down).
    #[error("repository '{name}': {why}")]
    Store {
        /// The confined name.
        name: String,
        /// The store's error.
        why: String,
    },
}

/// Where a launch mode's repositories are: directories under `root` (the on-disk backend), or,
/// with a keyed `store` (the distributed backend), names in the store, where the confined
/// path is the key as `sluice upload-pack --backend-config FILE NAME` takes it (`root` is then
/// not used).
#[derive(Clone, Copy)]
pub struct Repos<'a> {
    /// The served directory.
    pub root: &'a Path,
    /// The keyed store, if the repositories are there.
    pub store: Option<&'a dyn Backend>,
}

impl Repos<'_> {
    /// Finds `requested` (see [`under_root`] and [`in_store`]).
    pub fn find(&self, requested: &str) -> Result<Resolved, Error> {
        match self.store {
            None => under_root(self.root, requested),
            Some(store) => in_store(store, requested),
        }
    }
}

/// Finds `requested` in `store`: the confined name, then `name.git`, as on disk.
pub fn in_store(store: &dyn Backend, requested: &str) -> Result<Resolved, Error> {
    let name = access::confine(requested)?;
    let mut candidates = vec![name.clone()];
    if !name.ends_with(".git") {
        candidates.push(format!("{name}.git"));
    }
    for c in candidates {
        match store.exists(&c) {
            Ok(true) => {
                return Ok(Resolved {
                    name,
                    location: PathBuf::from(c),
                })
            }
            Ok(false) => {}
            Err(e) => {
                return Err(Error::Store {
                    name,
                    why: e.to_string(),
                })
            }
        }
    }
    Err(Error::NotFound(name))
}

/// Finds `requested` under `root`, trying `name`, then `name.git`.
pub fn under_root(root: &Path, requested: &str) -> Result<Resolved, Error> {
    let name = access::confine(requested)?;
    let root_real = root
        .canonicalize()
        .map_err(|_| Error::NotFound(name.clone()))?;
    let mut candidates = vec![root.join(&name)];
    if !name.ends_with(".git") {
        candidates.push(root.join(format!("{name}.git")));
    }
    for c in candidates {
        let Ok(real) = c.canonicalize() else { continue };
        if !real.starts_with(&root_real) {
            return Err(Error::Escapes(name));
        }
        if real.is_dir() {
            return Ok(Resolved {
                name,
                location: real,
            });
        }
    }
    Err(Error::NotFound(name))
}

/// Lists git repositories under `root` (at most `depth` directories deep), as names relative
/// to the root, sorted.
pub fn list_repositories(root: &Path, depth: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, d)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if !p.is_dir() || e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let is_repo = p.join("HEAD").is_file() && p.join("objects").is_dir();
            let is_work = p.join(".git/HEAD").is_file();
            if is_repo || is_work {
                if let Ok(rel) = p.strip_prefix(root) {
                    out.push(rel.to_string_lossy().into_owned());
                }
            } else if d + 1 < depth {
                stack.push((p, d + 1));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confines_and_finds() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("a.git/objects")).unwrap();
        std::fs::write(root.join("a.git/HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::create_dir_all(dir.path().join("outside.git")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.git"), root.join("link.git")).unwrap();
        assert_eq!(under_root(&root, "a").unwrap().name, "a");
        assert!(under_root(&root, "/a.git")
            .unwrap()
            .location
            .ends_with("a.git"));
        assert!(under_root(&root, "~/a.git").is_ok());
        assert!(matches!(
            under_root(&root, "link.git"),
            Err(Error::Escapes(_))
        ));
        assert!(matches!(
            under_root(&root, "../outside.git"),
            Err(Error::Path(_))
        ));
        assert!(matches!(under_root(&root, "nope"), Err(Error::NotFound(_))));
        assert_eq!(list_repositories(&root, 3), vec!["a.git".to_string()]);
    }

    #[test]
    fn store_names_are_confined_and_get_the_git_suffix() {
        let store = crate::backend::memory::MemoryBackend::default();
        store.insert(
            "team/a.git",
            crate::backend::memory::MemoryRepository::new(),
        );
        let found = in_store(&store, "/team/a").unwrap();
        assert_eq!(found.name, "team/a");
        assert_eq!(found.location, PathBuf::from("team/a.git"));
        assert_eq!(
            Repos {
                root: Path::new("/unused"),
                store: Some(&store)
            }
            .find("~/team/a.git")
            .unwrap()
            .location,
            PathBuf::from("team/a.git")
        );
        assert!(matches!(in_store(&store, "team/../a"), Err(Error::Path(_))));
        assert!(matches!(
            in_store(&store, "team/b"),
            Err(Error::NotFound(_))
        ));
    }
}
