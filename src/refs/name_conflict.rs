//! Directory/file conflicts between ref names in the files store: `refs/heads/a` and
//! `refs/heads/a/b` cannot both exist (one would be a file where the other needs a directory),
//! and C git refuses the one that comes second. A transaction asks [`Names::conflict`] for each
//! ref it creates or moves, in command order, and tells it what it accepted
//! ([`Names::add`], [`Names::remove`]): so within one push the first of two conflicting names
//! wins, as in C git's receive-pack (one transaction per command, in order), and a name that
//! conflicts with a packed or loose ref already there is refused before any lock file or
//! directory is made for it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use crate::refs::RawRef;

/// What is on disk at a path: nothing, a file (a loose ref), or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Absent,
    File,
    /// A directory, and whether it holds anything.
    Dir {
        empty: bool,
    },
}

/// The ref names a transaction sees: packed, loose (looked up on disk as needed, each path
/// once) and those it has accepted so far.
pub struct Names<'a> {
    packed: &'a BTreeMap<String, RawRef>,
    /// Where the loose file of a name is (the common or the worktree's directory).
    path_of: &'a dyn Fn(&str) -> PathBuf,
    /// Loose paths looked up already, by ref-relative name.
    seen: HashMap<String, Entry>,
    added: BTreeSet<String>,
    removed: BTreeSet<String>,
}

impl<'a> Names<'a> {
    /// The names of `packed` and of the loose refs at `path_of(name)`.
    pub fn new(packed: &'a BTreeMap<String, RawRef>, path_of: &'a dyn Fn(&str) -> PathBuf) -> Self {
        Names {
            packed,
            path_of,
            seen: HashMap::new(),
            added: BTreeSet::new(),
            removed: BTreeSet::new(),
        }
    }

    /// Records that ref `name` will exist once the transaction is done.
    pub fn add(&mut self, name: &str) {
        self.removed.remove(name);
        self.added.insert(name.to_string());
    }

    /// Records that ref `name` will not exist once the transaction is done.
    pub fn remove(&mut self, name: &str) {
        self.added.remove(name);
        self.removed.insert(name.to_string());
    }

    /// The ref that keeps `name` from being created (C git's `'<that>' exists; cannot create
    /// '<name>'`): one whose name is a directory prefix of `name`, or one under `name/`.
    pub fn conflict(&mut self, name: &str) -> Option<String> {
        // Directory prefixes, shortest first: past one that does not exist on disk, no longer
        // one does (an initial push stats one or two paths, not one per ref).
        let mut on_disk = true;
        for (i, _) in name.match_indices('/').skip(1) {
            let prefix = &name[..i];
            if self.removed.contains(prefix) {
                continue;
            }
            if self.added.contains(prefix) || self.packed.contains_key(prefix) {
                return Some(prefix.to_string());
            }
            if on_disk {
                match self.entry(prefix) {
                    Entry::File => return Some(prefix.to_string()),
                    Entry::Absent => on_disk = false,
                    Entry::Dir { .. } => {}
                }
            }
        }
        let under = format!("{name}/");
        let first_under = |set: &mut dyn Iterator<Item = &String>| {
            set.take_while(|n| n.starts_with(&under)).next().cloned()
        };
        if let Some(n) = first_under(&mut self.added.range(under.clone()..)) {
            return Some(n);
        }
        let removed = &self.removed;
        if let Some(n) = first_under(
            &mut self
                .packed
                .range(under.clone()..)
                .map(|(n, _)| n)
                .filter(|n| !removed.contains(*n)),
        ) {
            return Some(n);
        }
        match on_disk.then(|| self.entry(name)) {
            Some(Entry::Dir { empty: false }) => Some(under),
            _ => None,
        }
    }

    /// What is on disk at the loose path of `name` (looked up once).
    fn entry(&mut self, name: &str) -> Entry {
        if let Some(e) = self.seen.get(name) {
            return *e;
        }
        let path = (self.path_of)(name);
        let e = match std::fs::symlink_metadata(&path) {
            Err(_) => Entry::Absent,
            // A lock file (this transaction's, of a ref it deletes) is no ref.
            Ok(m) if m.is_dir() => Entry::Dir {
                empty: std::fs::read_dir(&path).map_or(true, |d| {
                    !d.flatten()
                        .any(|e| !e.file_name().to_string_lossy().ends_with(".lock"))
                }),
            },
            Ok(_) => Entry::File,
        };
        self.seen.insert(name.to_string(), e);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_of_two_conflicting_names_wins() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        std::fs::create_dir_all(d.join("refs/heads/loose")).unwrap();
        std::fs::write(d.join("refs/heads/loose/x"), "").unwrap();
        std::fs::create_dir_all(d.join("refs/heads/empty")).unwrap();
        let id = crate::hash::HashKind::Sha1.null();
        let packed: BTreeMap<String, RawRef> = [(
            "refs/tags/v1".to_string(),
            RawRef::Direct { id, peeled: None },
        )]
        .into();
        let path_of = |n: &str| d.join(n);
        let mut names = Names::new(&packed, &path_of);
        assert_eq!(names.conflict("refs/heads/a"), None);
        names.add("refs/heads/a");
        assert_eq!(
            names.conflict("refs/heads/a/b").as_deref(),
            Some("refs/heads/a")
        );
        assert_eq!(names.conflict("refs/heads/z/y"), None);
        names.add("refs/heads/z/y");
        assert_eq!(
            names.conflict("refs/heads/z").as_deref(),
            Some("refs/heads/z/y")
        );
        assert_eq!(
            names.conflict("refs/tags/v1/x").as_deref(),
            Some("refs/tags/v1")
        );
        assert_eq!(names.conflict("refs/tags").as_deref(), Some("refs/tags/v1"));
        assert_eq!(
            names.conflict("refs/heads/loose").as_deref(),
            Some("refs/heads/loose/")
        );
        assert_eq!(
            names.conflict("refs/heads/loose/x/y").as_deref(),
            Some("refs/heads/loose/x")
        );
        assert_eq!(names.conflict("refs/heads/empty"), None);
        names.remove("refs/tags/v1");
        assert_eq!(names.conflict("refs/tags/v1/x"), None);
        names.remove("refs/heads/a");
        assert_eq!(names.conflict("refs/heads/a/b"), None);
    }
}
