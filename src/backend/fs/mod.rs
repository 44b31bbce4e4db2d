//! C git's on-disk repository layout: bare `repo.git`, non-bare `repo/.git` (a directory, or a
//! `.git` file with `gitdir:`), worktrees sharing a `commondir`. Byte-compatible with C git:
//! what Sluice writes (packs, indexes, refs) is what `git gc` and `git fsck` expect.

pub mod config_write;
pub mod format;
pub mod hooks;
pub mod index;
pub mod init;
pub mod maintenance;
pub mod odb;
pub mod other_worktrees;
mod peel;
pub mod quarantine;
pub mod reflog;
pub mod reftable;
pub mod worktree;

pub use maintenance::repack;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::{
    Backend, Error, Head, ObjectStore, ObjectStream, PackStore, Quarantine, RawEntry, RefUpdate,
    RefVisitor, Repository, StoredPack, UpdateResult,
};
use crate::env::Env;
use crate::git_config::GitConfig;
use crate::hash::{HashKind, IdSet, ObjectId};
use crate::odb::{Kind, Object};
use crate::refs::files::FilesRefStore;
use crate::refs::{RawRef, RefStore};
use odb::FsObjectStore;

/// Opens repositories from the filesystem.
#[derive(Debug, Default, Clone)]
pub struct FsBackend {
    /// Only open the exact path (git daemon's `--strict-paths`): no `.git` suffix or `/.git`.
    pub strict: bool,
    /// The process environment, as C git would see it: `HOME` for `~/` in configured paths,
    /// the reflog identity (`GIT_COMMITTER_*`).
    pub env: Arc<Env>,
}

/// Is `dir` a git directory (HEAD file plus objects/ and refs/ or a commondir)?
fn is_git_dir(dir: &Path) -> bool {
    dir.join("HEAD").is_file()
        && ((dir.join("objects").is_dir() && dir.join("refs").is_dir())
            || dir.join("commondir").is_file())
}

/// Finds the git directory for `location`: returns (git dir, bare).
fn discover(location: &Path, strict: bool) -> Option<(PathBuf, bool)> {
    let mut candidates = vec![location.to_path_buf()];
    if !strict {
        let mut with_git = location.as_os_str().to_owned();
        with_git.push(".git");
        candidates.push(PathBuf::from(with_git));
    }
    for c in candidates {
        let dotgit = c.join(".git");
        if dotgit.is_dir() && is_git_dir(&dotgit) {
            return Some((dotgit, false));
        }
        if dotgit.is_file() {
            if let Ok(text) = std::fs::read_to_string(&dotgit) {
                if let Some(target) = text.trim().strip_prefix("gitdir:") {
                    let t = Path::new(target.trim());
                    let gd = if t.is_absolute() {
                        t.to_path_buf()
                    } else {
                        c.join(t)
                    };
                    if is_git_dir(&gd) {
                        return Some((gd, false));
                    }
                }
            }
        }
        if is_git_dir(&c) {
            let bare = c.file_name().is_none_or(|n| n != ".git");
            return Some((c, bare));
        }
    }
    None
}

impl FsBackend {
    /// Opens `location` as the concrete on-disk repository (for maintenance commands, which
    /// need more than the [`Repository`] trait offers).
    pub fn open_fs(&self, location: &str) -> Result<FsRepository, Error> {
        let (git_dir, layout_bare) = discover(Path::new(location), self.strict)
            .ok_or_else(|| Error::NotFound(location.to_string()))?;
        // Absolute, so hooks (which run inside the git dir) get usable paths.
        let git_dir = git_dir.canonicalize().map_err(|e| Error::io(location, e))?;
        FsRepository::open(git_dir, layout_bare, &self.env)
    }
}

impl Backend for FsBackend {
    fn open(&self, location: &str) -> Result<Box<dyn Repository>, Error> {
        Ok(Box::new(self.open_fs(location)?))
    }
}

/// The commits listed in a `shallow` file (one hex id of `hash` per line); `None` when there is
/// no such file or it is empty, as C git treats both.
fn read_shallow_file(path: &Path, hash: HashKind) -> Result<Option<crate::hash::IdSet>, Error> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path.display().to_string(), e)),
    };
    let mut set = crate::hash::IdSet::default();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let id = hash.id_from_hex(line).map_err(|_| {
            Error::corrupt(
                "shallow",
                format!("bad line {:?}", String::from_utf8_lossy(line)),
            )
        })?;
        set.insert(id);
    }
    Ok((!set.is_empty()).then_some(set))
}

/// The re-scanned object store of [`FsRepository`] and the pack-directory time it saw.
#[derive(Debug)]
struct FreshStore {
    seen: Option<std::time::SystemTime>,
    store: Option<std::sync::Arc<FsObjectStore>>,
}

fn pack_dir_mtime(common_dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(common_dir.join("objects/pack"))
        .and_then(|m| m.modified())
        .ok()
}

/// The ref store a repository's format names (`extensions.refStorage`).
#[derive(Debug)]
enum RefStoreKind {
    /// Loose files and `packed-refs`.
    Files(FilesRefStore),
    /// The `reftable/` stack.
    Reftable(crate::refs::reftable::ReftableRefStore),
}

impl RefStoreKind {
    fn store(&self) -> &dyn RefStore {
        match self {
            RefStoreKind::Files(s) => s,
            RefStoreKind::Reftable(s) => s,
        }
    }
}

/// One on-disk repository.
#[derive(Debug)]
pub struct FsRepository {
    git_dir: PathBuf,
    common_dir: PathBuf,
    /// Opened on first use: an ls-remote never needs the packs, and opening them maps and
    /// validates every index.
    objects: std::sync::OnceLock<FsObjectStore>,
    /// A newer view of the object directory, opened when an object is not found: a push may
    /// have added a pack since `objects` was opened, and the refs read later name its objects
    /// (git's `reprepare_packed_git`). Only the miss path pays for it.
    fresh: std::sync::Mutex<FreshStore>,
    /// The refs: loose files and `packed-refs`, or the reftable stack
    /// (`extensions.refStorage`).
    refs: RefStoreKind,
    config: GitConfig,
    bare: bool,
    /// `core.commitGraph` (default true).
    use_commit_graph: bool,
    /// `core.repositoryformatversion` and the extensions that matter here.
    format: format::RepositoryFormat,
    /// The `shallow` file's commits, when the repository is shallow.
    shallow: Option<crate::hash::IdSet>,
    /// `core.sharedRepository`: modes of what Sluice creates.
    shared: crate::file_mode::SharedPerm,
    /// The process environment it was opened in (to open it again the same way).
    env: Arc<Env>,
    /// Where pack data is read from (the mapped files, unless a backend keeps it elsewhere).
    packs: std::sync::Arc<dyn crate::pack::reader::PackSource>,
}

impl FsRepository {
    /// Opens the git directory `git_dir`; `layout_bare` says whether it was found without a work
    /// tree (`core.bare` overrides).
    pub fn open(
        git_dir: PathBuf,
        layout_bare: bool,
        env: &Arc<Env>,
    ) -> Result<FsRepository, Error> {
        let common_dir = match std::fs::read_to_string(git_dir.join("commondir")) {
            Ok(text) => {
                let p = Path::new(text.trim());
                if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    git_dir.join(p)
                }
            }
            Err(_) => git_dir.clone(),
        };
        let config_path = common_dir.join("config");
        let config = match std::fs::read(&config_path) {
            Ok(bytes) => GitConfig::parse(&bytes, "config")?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => GitConfig::default(),
            Err(e) => return Err(Error::io(config_path.display().to_string(), e)),
        }
        .with_home(env.home());
        let format = format::check(&config).map_err(|e| Error::UnsupportedFormat {
            location: git_dir.display().to_string(),
            why: e.to_string(),
        })?;
        let bare = config.get_bool("core.bare")?.unwrap_or(layout_bare);
        let shallow = read_shallow_file(&common_dir.join("shallow"), format.hash)?;
        let shared = crate::file_mode::SharedPerm::from_config(&config).map_err(|e| {
            Error::UnsupportedFormat {
                location: git_dir.display().to_string(),
                why: e.to_string(),
            }
        })?;
        // Before the scan: a pack added during it makes the next miss re-scan.
        let pack_mtime = pack_dir_mtime(&common_dir);
        let refs = if format.reftable {
            RefStoreKind::Reftable(reftable::open_store(
                &git_dir,
                &common_dir,
                format.hash,
                &config,
                bare,
                shared,
                env.clone(),
            )?)
        } else {
            let objects_dir = common_dir.join("objects");
            let hash = format.hash;
            RefStoreKind::Files(
                FilesRefStore::new(&git_dir, &common_dir, hash, shared)
                    .with_peeler(std::sync::Arc::new(
                        move |ids: &[crate::hash::ObjectId]| {
                            peel::peel_all(&objects_dir, hash, ids)
                        },
                    ))
                    .with_log(std::sync::Arc::new(reflog::log_source(
                        &config,
                        bare,
                        env.clone(),
                    ))),
            )
        };
        Ok(FsRepository {
            refs,
            git_dir,
            common_dir,
            objects: std::sync::OnceLock::new(),
            fresh: std::sync::Mutex::new(FreshStore {
                seen: pack_mtime,
                store: None,
            }),
            // C git uses neither a commit-graph nor bitmaps in a shallow repository: both
            // record parents the `shallow` file cuts off.
            use_commit_graph: shallow.is_none()
                && config.get_bool("core.commitGraph")?.unwrap_or(true),
            config,
            bare,
            format,
            shallow,
            shared,
            env: env.clone(),
            packs: std::sync::Arc::new(crate::pack::reader::LocalPacks),
        })
    }

    /// This repository reading its pack data through `source` (the distributed backend reads
    /// it from the object store in ranges); call before the first object read.
    pub fn with_pack_source(
        mut self,
        source: std::sync::Arc<dyn crate::pack::reader::PackSource>,
    ) -> Self {
        self.packs = source;
        self
    }

    /// `core.sharedRepository` as read when the repository was opened.
    pub fn shared_perm(&self) -> crate::file_mode::SharedPerm {
        self.shared
    }

    /// The repository format settings read when it was opened.
    pub fn format(&self) -> &format::RepositoryFormat {
        &self.format
    }

    /// The git directory.
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// Opens this repository again, in the same environment (a fresh view of its storage).
    pub fn reopen(&self) -> Result<FsRepository, Error> {
        FsRepository::open(self.git_dir.clone(), self.bare, &self.env)
    }

    /// The directory holding `objects/`, `refs/` and `config` (the git directory, or what its
    /// `commondir` names).
    pub fn common_dir(&self) -> &Path {
        &self.common_dir
    }

    /// The object store, opened on first use.
    pub fn objects(&self) -> Result<&FsObjectStore, Error> {
        if let Some(s) = self.objects.get() {
            return Ok(s);
        }
        let store = FsObjectStore::open_with(
            &self.common_dir.join("objects"),
            self.format.hash,
            &*self.packs,
        )?;
        Ok(self.objects.get_or_init(|| store))
    }

    /// `id` read by `read` from the object store, or else from a fresh view of it (packs
    /// written since it was opened).
    fn read_with(
        &self,
        id: &ObjectId,
        read: impl Fn(&FsObjectStore, &ObjectId) -> Result<Option<Object>, Error>,
    ) -> Result<Option<Object>, Error> {
        match read(self.objects()?, id)? {
            Some(o) => Ok(Some(o)),
            None => match self.fresh_objects()? {
                Some(store) => read(&store, id),
                None => Ok(None),
            },
        }
    }

    /// The object directory as it is now: re-scanned only when `objects/pack` changed since the
    /// last scan (new packs are renamed into it), so misses for objects we simply do not have
    /// (a client's `have` lines) cost one `stat`. `None`: nothing new to look at.
    fn fresh_objects(&self) -> Result<Option<std::sync::Arc<FsObjectStore>>, Error> {
        let mut guard = self.fresh.lock().unwrap_or_else(|e| e.into_inner());
        let now = pack_dir_mtime(&self.common_dir);
        if now != guard.seen {
            guard.store = Some(std::sync::Arc::new(FsObjectStore::open_with(
                &self.common_dir.join("objects"),
                self.format.hash,
                &*self.packs,
            )?));
            guard.seen = now;
        }
        Ok(guard.store.clone())
    }

    /// The repository's refs, in the store its format names (files or reftable).
    pub fn ref_store(&self) -> &dyn RefStore {
        self.refs.store()
    }
}

impl ObjectStore for FsRepository {
    fn hash_kind(&self) -> HashKind {
        self.format.hash
    }

    fn object_header(&self, id: &ObjectId) -> Result<Option<(Kind, u64)>, Error> {
        match self.objects()?.header(id)? {
            Some(h) => Ok(Some(h)),
            None => match self.fresh_objects()? {
                Some(store) => store.header(id),
                None => Ok(None),
            },
        }
    }

    fn contains(&self, id: &ObjectId) -> Result<bool, Error> {
        if self.objects()?.contains(id) {
            return Ok(true);
        }
        Ok(self.fresh_objects()?.is_some_and(|s| s.contains(id)))
    }

    fn read_object(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        self.read_with(id, FsObjectStore::read)
    }

    fn read_commit_head(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        self.read_with(id, FsObjectStore::read_head)
    }

    fn stream_object(&self, id: &ObjectId) -> Result<Option<ObjectStream<'_>>, Error> {
        // Loose objects stream from their file; packed ones are read whole (a large packed
        // object stored whole is copied compressed by the pack writer and never gets here).
        if let Some(s) = self.objects()?.stream_loose(id)? {
            return Ok(Some(ObjectStream {
                kind: s.kind,
                size: s.size,
                reader: Box::new(s),
            }));
        }
        Ok(self.read_object(id)?.map(|o| ObjectStream {
            kind: o.kind,
            size: o.data.len() as u64,
            reader: Box::new(std::io::Cursor::new(o.data)),
        }))
    }

    fn raw_entry(&self, id: &ObjectId) -> Result<Option<RawEntry<'_>>, Error> {
        // A miss here falls back to reading the object whole (read_object re-scans).
        self.objects()?.raw_entry(id)
    }

    fn shallow_roots(&self) -> Option<&IdSet> {
        self.shallow.as_ref()
    }

    fn commit_from_graph(&self, id: &ObjectId) -> Option<crate::odb::commit_graph::GraphCommit> {
        if !self.use_commit_graph {
            return None;
        }
        self.objects().ok()?.commit_graph()?.lookup(id)
    }
}

impl PackStore for FsRepository {
    fn bitmapped_pack(&self) -> Option<&dyn StoredPack> {
        if self.shallow.is_some() {
            return None;
        }
        self.objects()
            .ok()?
            .bitmapped()
            .map(|b| b as &dyn StoredPack)
    }

    fn reuse_pack(&self) -> Option<&dyn StoredPack> {
        self.objects().ok()?.largest().map(|b| b as &dyn StoredPack)
    }
}

impl Repository for FsRepository {
    fn config(&self) -> &GitConfig {
        &self.config
    }

    fn config_dir(&self) -> Option<&Path> {
        Some(&self.git_dir)
    }

    fn symref_target(&self, name: &str) -> Result<Option<String>, Error> {
        if !name.starts_with("refs/") {
            return Ok(None);
        }
        Ok(match self.refs.store().read_raw(name)? {
            Some(RawRef::Symbolic(t)) => Some(t),
            _ => None,
        })
    }

    fn is_bare(&self) -> bool {
        self.bare
    }

    fn head(&self) -> Result<Head, Error> {
        crate::refs::resolve::head(self.refs.store())
    }

    fn branches_checked_out_elsewhere(&self) -> Result<Vec<String>, Error> {
        Ok(other_worktrees::branches_checked_out_elsewhere(
            &self.common_dir,
            &self.git_dir,
            self.bare,
            self.format.hash,
            self.format.reftable,
        ))
    }

    fn for_each_ref(&self, prefix: &str, visit: &mut RefVisitor<'_>) -> Result<(), Error> {
        crate::refs::resolve::for_each_ref(self.refs.store(), self, prefix, visit)
    }

    fn add_shallow_roots(&self, ids: &[ObjectId]) -> Result<(), Error> {
        // Under `shallow.lock`, as C git writes it: read again (another push may have added
        // some), merge, fsync, rename.
        let path = self.common_dir.join("shallow");
        let lock = self.common_dir.join("shallow.lock");
        let io = |p: &Path| {
            let p = p.display().to_string();
            move |e| Error::io(p, e)
        };
        let _critical = crate::cleanup::critical();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
            .map_err(io(&lock))?;
        let result = (|| {
            self.shared.adjust(&lock).map_err(io(&lock))?;
            let mut all: Vec<ObjectId> = read_shallow_file(&path, self.format.hash)?
                .map(|s| s.into_iter().collect())
                .unwrap_or_default();
            all.extend_from_slice(ids);
            all.sort();
            all.dedup();
            let text: String = all.iter().map(|id| format!("{id}\n")).collect();
            use std::io::Write;
            f.write_all(text.as_bytes()).map_err(io(&lock))?;
            f.sync_all().map_err(io(&lock))?;
            std::fs::rename(&lock, &path).map_err(io(&path))?;
            crate::durable::sync_dir(&self.common_dir).map_err(io(&self.common_dir))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&lock);
        }
        result
    }

    fn alternate_tips(&self) -> Result<Vec<ObjectId>, Error> {
        let mut tips = Vec::new();
        for dir in self.objects()?.alternate_dirs() {
            // The alternate's repository is the directory holding its objects/.
            let Some(repo_dir) = dir.parent() else {
                continue;
            };
            if repo_dir.join("reftable/tables.list").is_file() {
                tips.extend(reftable::tips(&repo_dir.join("reftable")));
                continue;
            }
            let store = FilesRefStore::new(repo_dir, repo_dir, self.hash_kind(), self.shared);
            let all = crate::refs::files::collect_raw(&store).unwrap_or_default();
            for (_, raw) in all {
                match raw {
                    RawRef::Direct { id, .. } => tips.push(id),
                    // Few: each followed on its own.
                    RawRef::Symbolic(target) => tips.extend(
                        crate::refs::resolve::resolve(&store, &target)
                            .ok()
                            .flatten(),
                    ),
                }
            }
        }
        Ok(tips)
    }

    fn ref_is_hidden(&self, _name: &str) -> bool {
        false
    }

    fn hidden_tips(&self) -> Result<Vec<ObjectId>, Error> {
        Ok(Vec::new())
    }

    fn begin_quarantine(&self) -> Result<Box<dyn Quarantine + '_>, Error> {
        Ok(Box::new(quarantine::FsQuarantine::create(
            self,
            &self.common_dir.join("objects"),
            self.shared,
        )?))
    }

    fn update_refs(&self, updates: &[RefUpdate], atomic: bool) -> Result<Vec<UpdateResult>, Error> {
        self.refs.store().update(updates, atomic)
    }

    fn publish_hook_refs(&self) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }

    fn hook_site(&self) -> Option<super::HookSite> {
        Some(super::HookSite {
            dir: self.common_dir.join("hooks"),
            work_dir: self.common_dir.clone(),
            env: vec![("GIT_DIR".into(), ".".into())],
        })
    }

    fn write_blob(&self, data: &[u8]) -> Result<ObjectId, Error> {
        let id = crate::odb::object_id(self.format.hash, Kind::Blob, data)
            .map_err(|_| Error::corrupt("blob", "SHA-1 collision attack detected"))?;
        if !self.contains(&id)? {
            let obj = Object {
                kind: Kind::Blob,
                data: data.to_vec(),
            };
            let mut deflater = crate::odb::zlib::Deflater::new(quarantine::LOOSE_LEVEL);
            let objects = self.common_dir.join("objects");
            quarantine::write_loose(&objects, &id, &obj, self.shared, &mut deflater)?;
        }
        Ok(id)
    }

    fn work_tree(&self) -> Option<PathBuf> {
        if self.bare {
            return None;
        }
        worktree::work_tree(&self.git_dir, self).and_then(|p| std::fs::canonicalize(p).ok())
    }

    fn update_work_tree(&self, new: &ObjectId) -> Result<(), crate::backend::WorkTreeRefusal> {
        use crate::backend::WorkTreeRefusal;
        let Some(work_tree) = self.work_tree() else {
            return Err(WorkTreeRefusal::no_work_tree());
        };
        let head = self
            .head()
            .map_err(|e| WorkTreeRefusal {
                reason: worktree::Refusal::UpToDateCheck.to_string(),
                detail: Some(e.to_string()),
            })?
            .id;
        worktree::update(self, &self.git_dir, &work_tree, head.as_ref(), new).map_err(|r| {
            WorkTreeRefusal {
                reason: r.to_string(),
                detail: match r {
                    worktree::Refusal::Checkout(d) => d,
                    _ => None,
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::git;

    fn expected(dir: &Path) -> String {
        git(
            dir,
            &[
                "for-each-ref",
                "--format=%(refname) %(objectname) %(*objectname)",
            ],
        )
    }

    fn ours(repo: &dyn Repository) -> String {
        repo.refs()
            .unwrap()
            .iter()
            .map(|r| {
                // for-each-ref's %(*objectname) peels one level; compare only single-level tags.
                format!(
                    "{} {} {}\n",
                    r.name,
                    r.id,
                    r.peeled.map(|p| p.to_hex()).unwrap_or_default()
                )
            })
            .collect()
    }

    #[test]
    fn refs_loose_packed_symbolic_and_discovery() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        git(&work, &["init", "-q", "-b", "main", "."]);
        git(&work, &["commit", "-q", "--allow-empty", "-m", "one"]);
        git(&work, &["tag", "-a", "-m", "t", "v1"]);
        git(&work, &["branch", "other"]);
        git(
            &work,
            &["symbolic-ref", "refs/heads/alias", "refs/heads/other"],
        );
        let backend = FsBackend::default();
        let repo = backend.open(work.to_str().unwrap()).unwrap();
        assert!(!repo.is_bare());
        let mut exp = expected(&work);
        assert_eq!(ours(repo.as_ref()), exp);
        git(&work, &["pack-refs", "--all"]);
        let repo = backend.open(work.to_str().unwrap()).unwrap();
        exp = expected(&work);
        assert_eq!(ours(repo.as_ref()), exp);
        assert_eq!(
            repo.refs()
                .unwrap()
                .iter()
                .find(|r| r.name == "refs/heads/alias")
                .unwrap()
                .symref_target
                .as_deref(),
            Some("refs/heads/other")
        );
        let head = repo.head().unwrap();
        assert_eq!(head.symref_target.as_deref(), Some("refs/heads/main"));
        // Bare clone found as "x" for "x.git"; unborn HEAD.
        let bare = dir.path().join("b.git");
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                "--bare",
                work.to_str().unwrap(),
                bare.to_str().unwrap(),
            ],
        );
        git(&bare, &["symbolic-ref", "HEAD", "refs/heads/nothing"]);
        let repo = backend
            .open(dir.path().join("b").to_str().unwrap())
            .unwrap();
        assert!(repo.is_bare());
        assert_eq!(repo.head().unwrap().id, None);
        assert!(FsBackend {
            strict: true,
            ..Default::default()
        }
        .open(dir.path().join("b").to_str().unwrap())
        .is_err());
        assert!(matches!(
            backend.open("/nonexistent/x"),
            Err(Error::NotFound(_))
        ));
    }
}
