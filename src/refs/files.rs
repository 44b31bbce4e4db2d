//! The files ref store: C git's layout, loose ref files under `refs/` overlaying `packed-refs`,
//! with `HEAD` in the git directory, updated under lock files ([`crate::refs::transaction`]).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::file_mode::SharedPerm;
use crate::hash::HashKind;
use crate::odb::store::Error;
use crate::refs::packed_write::BatchPeeler;
use crate::refs::reflog::LogInfo;
use crate::refs::store::{RawVisitor, RefStore, RefUpdate, UpdateResult};
use crate::refs::{self as formats, RawRef};

/// `packed-refs` at least this large is mapped rather than read.
const MAP_PACKED_REFS: u64 = 64 * 1024;

/// The refs of one repository in C git's files layout.
#[derive(Clone)]
pub struct FilesRefStore {
    /// Where `HEAD` is (a worktree's own git directory).
    git_dir: PathBuf,
    /// Where `refs/` and `packed-refs` are (the common directory).
    common_dir: PathBuf,
    /// The hash of the stored ids.
    kind: HashKind,
    /// Modes for files and directories created (`core.sharedRepository`).
    shared: SharedPerm,
    /// Peels the tags of refs written into `packed-refs` (set by a backend that knows the
    /// objects; without it every created ref is a loose file).
    peel: Option<Arc<BatchPeeler>>,
    /// The `packed-refs` content last read, kept while the file is unchanged.
    packed_cache: Arc<Mutex<Option<CachedPackedRefs>>>,
    /// The reflog identity and policy of each transaction (set by a backend that knows the
    /// configuration; without it no reflog is written).
    log: Option<LogSource>,
}

/// Gives the reflog identity, policy and time of one transaction.
pub type LogSource = Arc<dyn Fn() -> LogInfo + Send + Sync>;

/// `packed-refs` as read, and the file it was read from.
type CachedPackedRefs = (FileIdentity, Arc<PackedRefsText>);

/// What tells one `packed-refs` file from another: C git's `stat_validity` fields. The file is
/// only ever replaced by renaming a new one over it, so a new inode says "changed" even within
/// one timestamp tick.
#[derive(Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileIdentity {
    fn of(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileIdentity {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

impl std::fmt::Debug for FilesRefStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilesRefStore")
            .field("git_dir", &self.git_dir)
            .field("common_dir", &self.common_dir)
            .field("kind", &self.kind)
            .field("peel", &self.peel.is_some())
            .finish_non_exhaustive()
    }
}

/// The content of `packed-refs`: read, or mapped when large.
enum PackedRefsText {
    Read(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for PackedRefsText {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            PackedRefsText::Read(v) => v,
            PackedRefsText::Mapped(m) => m,
        }
    }
}

impl FilesRefStore {
    /// The store with `HEAD` in `git_dir` and refs in `common_dir` (the same directory but for
    /// a linked worktree), ids of hash `kind`, new files made with modes `shared`.
    pub fn new(git_dir: &Path, common_dir: &Path, kind: HashKind, shared: SharedPerm) -> Self {
        FilesRefStore {
            git_dir: git_dir.to_path_buf(),
            common_dir: common_dir.to_path_buf(),
            kind,
            shared,
            peel: None,
            packed_cache: Arc::default(),
            log: None,
        }
    }

    /// This store, writing reflogs as `log` says ([`crate::refs::reflog`]).
    pub fn with_log(mut self, log: LogSource) -> Self {
        self.log = Some(log);
        self
    }

    /// This store, writing the refs of a transaction that creates many into `packed-refs`,
    /// their tags peeled with `peel` ([`crate::refs::transaction::apply`]).
    pub fn with_peeler(mut self, peel: Arc<BatchPeeler>) -> Self {
        self.peel = Some(peel);
        self
    }

    /// The content of `packed-refs` (empty when there is none). Reused while the file is the
    /// same one ([`FileIdentity`]): one `ls-refs` of a branch looks it up under five prefixes
    /// and HEAD's target, and each read mapped and unmapped the whole file.
    fn packed_refs(&self) -> Result<Arc<PackedRefsText>, Error> {
        let path = self.common_dir.join("packed-refs");
        let Ok(meta) = std::fs::metadata(&path) else {
            return Ok(Arc::new(Self::read_packed_refs(&path, None)?));
        };
        let identity = FileIdentity::of(&meta);
        let mut cache = self
            .packed_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((id, text)) = cache.as_ref() {
            if *id == identity {
                return Ok(Arc::clone(text));
            }
        }
        let text = Arc::new(Self::read_packed_refs(&path, Some(&meta))?);
        // Read after the stat: a file replaced in between is read new and kept under the old
        // identity, so the next call sees a difference and reads it again.
        *cache = Some((identity, Arc::clone(&text)));
        Ok(text)
    }

    /// Reads (or maps, when large) `packed-refs` at `path`, whose metadata `meta` is known
    /// unless the file is missing.
    fn read_packed_refs(
        path: &Path,
        meta: Option<&std::fs::Metadata>,
    ) -> Result<PackedRefsText, Error> {
        match meta {
            Some(m) if m.len() >= MAP_PACKED_REFS => {
                Ok(PackedRefsText::Mapped(crate::odb::mmap::map(path)?))
            }
            _ => match std::fs::read(path) {
                Ok(text) => Ok(PackedRefsText::Read(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Ok(PackedRefsText::Read(Vec::new()))
                }
                Err(e) => Err(Error::io("packed-refs", e)),
            },
        }
    }
}

/// Whether `name` may be joined onto the git directory: `HEAD`, or a plain path under `refs/`.
fn is_plain_ref_path(name: &str) -> bool {
    name == "HEAD"
        || (name.starts_with("refs/")
            && name
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."))
}

impl RefStore for FilesRefStore {
    /// Reads the loose file, else scans `packed-refs` (no map of all refs is built).
    fn read_raw(&self, name: &str) -> Result<Option<RawRef>, Error> {
        if !is_plain_ref_path(name) {
            return Ok(None);
        }
        // A worktree's own refs are loose in its git directory; packed ones are shared.
        let dir = if name == "HEAD" || formats::is_per_worktree(name) {
            &self.git_dir
        } else {
            &self.common_dir
        };
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(text) => return formats::parse_loose(self.kind, name, &text).map(Some),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::NotADirectory
                        | std::io::ErrorKind::IsADirectory
                ) => {}
            Err(e) if path.is_dir() => drop(e),
            Err(e) => return Err(Error::io(path.display().to_string(), e)),
        }
        if name == "HEAD" {
            return Ok(None);
        }
        Ok(formats::find_packed(self.kind, &self.packed_refs()?, name))
    }

    fn for_each_raw(&self, prefix: &str, visit: &mut RawVisitor<'_>) -> Result<(), Error> {
        let text = self.packed_refs()?;
        formats::for_each_ref(
            self.kind,
            &text,
            &self.git_dir,
            &self.common_dir,
            prefix,
            visit,
        )
    }

    fn update(&self, updates: &[RefUpdate], atomic: bool) -> Result<Vec<UpdateResult>, Error> {
        // Lock files are taken and released inside; a timeout or signal waits for that.
        let _critical = crate::cleanup::critical();
        let dirs = crate::refs::transaction::Dirs {
            common: &self.common_dir,
            worktree: &self.git_dir,
        };
        let log = self.log.as_ref().map(|source| source());
        crate::refs::transaction::apply(
            dirs,
            self.kind,
            updates,
            atomic,
            self.shared,
            self.peel.as_deref(),
            log.as_ref(),
        )
    }
}

/// Every ref's raw value in `store`, collected (for small stores, such as an alternate's).
pub fn collect_raw(store: &dyn RefStore) -> Result<Vec<(String, RawRef)>, Error> {
    let mut out = Vec::new();
    store.for_each_raw("refs/", &mut |name, raw| {
        out.push((name.to_string(), raw));
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::ObjectId;
    use crate::refs::name::RefName;
    use crate::refs::store::RefUpdate;
    use crate::test_support::git;

    fn names(store: &FilesRefStore, prefix: &str, stop_after: usize) -> Vec<String> {
        let mut out = Vec::new();
        store
            .for_each_raw(prefix, &mut |name, _| {
                out.push(name.to_string());
                Ok(if out.len() == stop_after {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })
            .unwrap();
        out
    }

    /// Prefix iteration, early stop and compare-and-swap agree with C git's for-each-ref and
    /// update-ref, over refs both packed and loose.
    #[test]
    fn prefixes_stops_and_cas_match_git() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "--bare", "-b", "main", "."]);
        let tree = git(d, &["mktree"]).trim().to_string();
        let c = git(d, &["commit-tree", "-m", "x", &tree])
            .trim()
            .to_string();
        for r in [
            "refs/heads/a",
            "refs/heads/b/c",
            "refs/heads/bb",
            "refs/tags/t",
        ] {
            git(d, &["update-ref", r, &c]);
        }
        git(d, &["pack-refs", "--all"]);
        for r in ["refs/heads/b/d", "refs/heads/ba", "refs/notes/n"] {
            git(d, &["update-ref", r, &c]);
        }
        let store = FilesRefStore::new(d, d, HashKind::Sha1, SharedPerm::default());
        for prefix in [
            "refs/",
            "refs/heads/",
            "refs/heads/b",
            "refs/heads/b/",
            "refs/x",
            "refs/heads/../",
        ] {
            // for-each-ref's patterns match whole components; a ref-store prefix is a string
            // prefix (ls-refs' ref-prefix), so filter git's full list.
            let theirs: Vec<String> = git(d, &["for-each-ref", "--format=%(refname)"])
                .lines()
                .filter(|n| n.starts_with(prefix))
                .map(str::to_string)
                .collect();
            assert_eq!(names(&store, prefix, usize::MAX), theirs, "prefix {prefix}");
        }
        assert_eq!(
            names(&store, "refs/", 2),
            ["refs/heads/a", "refs/heads/b/c"]
        );
        assert_eq!(
            names(&store, "refs/heads/b", 2),
            ["refs/heads/b/c", "refs/heads/b/d"]
        );
        assert_eq!(
            store.read_raw("HEAD").unwrap(),
            Some(RawRef::Symbolic("refs/heads/main".into()))
        );
        assert_eq!(store.read_raw("refs/heads/../../config").unwrap(), None);
        let id = ObjectId::from_hex(c.as_bytes()).unwrap();
        let null = id.kind().null();
        let up = |name: &str, old, new| RefUpdate {
            name: RefName::new(name).unwrap(),
            old,
            new,
        };
        let r = store
            .update(
                &[up("refs/heads/new", null, id), up("refs/heads/a", null, id)],
                true,
            )
            .unwrap();
        assert!(r.iter().all(Result::is_err), "{r:?}");
        let r = store
            .update(
                &[up("refs/heads/new", null, id), up("refs/heads/a", id, null)],
                true,
            )
            .unwrap();
        assert!(r.iter().all(Result::is_ok), "{r:?}");
        let theirs = git(d, &["for-each-ref", "--format=%(refname)", "refs/heads/"]);
        assert_eq!(
            theirs,
            "refs/heads/b/c\nrefs/heads/b/d\nrefs/heads/ba\nrefs/heads/bb\nrefs/heads/new\n"
        );
    }
}
