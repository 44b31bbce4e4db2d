//! The storage boundary: a [`Backend`] opens repositories, a [`Repository`] answers what the
//! services need and nothing more.
//!
//! The traits speak in object ids, ref names and byte slices, never in paths, files or maps, so a
//! backend that keeps packs in an object store and refs in a consensus store can implement them.
//! Services only ever see `&dyn Repository`.
//!
//! - [`fs`]: C git's on-disk layout, byte-compatible (the default).
//! - [`memory`]: hash maps, for unit tests of the services.
//! - `distributed` (cargo feature `distributed`): refs in etcd, packs in an S3-compatible store.

#[cfg(feature = "distributed")]
pub mod distributed;
pub mod fs;
pub mod memory;
pub mod staged;

use std::ops::ControlFlow;

use crate::git_config::GitConfig;
use crate::hash::ObjectId;
use crate::odb::Kind;

pub use crate::odb::store::{Error, ObjectStore, ObjectStream, RawEntry, StoredForm};
pub use crate::pack::stored::{EntryBase, PackStore, PackedEntry, StoredPack};
pub use crate::refs::store::{Head, Ref, RefUpdate, RefVisitor, UpdateResult};

/// Opens repositories by the location a request names.
pub trait Backend: Send + Sync {
    /// Opens the repository at `location` (for [`fs::FsBackend`] a directory path; for other
    /// backends whatever key they are configured with). Returns [`Error::NotFound`] if there is
    /// none, so that launchers can answer "repository not found" without leaking more.
    fn open(&self, location: &str) -> Result<Box<dyn Repository>, Error>;

    /// Whether a repository is at `location`, without opening it: launch modes that map a
    /// client's path to a store's names try `NAME`, then `NAME.git`, as git does on disk. The
    /// default opens it; a backend with a cheaper probe (one key read) overrides it.
    fn exists(&self, location: &str) -> Result<bool, Error> {
        match self.open(location) {
            Ok(_) => Ok(true),
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// One repository: its objects ([`ObjectStore`], with stored packs: [`PackStore`]), its refs
/// resolved and peeled, its configuration, and the write path of a push. Methods take `&self`;
/// implementations keep their caches behind interior mutability.
///
/// Every method a wrapper (a namespace view, a quarantine view) must forward is required; the
/// few provided ones are built only on required ones, so no wrapper can silently lose one.
pub trait Repository: PackStore {
    /// The repository's configuration (for `fs`: the repository `config` file; system and global
    /// files are deliberately not read, a server must not depend on its user's dotfiles).
    fn config(&self) -> &GitConfig;

    /// The directory relative paths in the configuration are taken from (git runs in the git
    /// directory, so `receive.fsck.skipList = skip` is `<git dir>/skip`); `None` if there is none.
    fn config_dir(&self) -> Option<&std::path::Path>;

    /// Whether the repository has no working tree (for `receive.denyCurrentBranch`).
    fn is_bare(&self) -> bool;

    /// What HEAD is. A missing or broken HEAD is an error; an unborn branch is not.
    fn head(&self) -> Result<Head, Error>;

    /// The branches (full names) checked out in the repository's other worktrees: the main
    /// one when a linked worktree is served and the repository is not bare, and every linked
    /// one but the served one. C git's receive-pack refuses to update or delete them as it
    /// refuses the served worktree's own branch.
    fn branches_checked_out_elsewhere(&self) -> Result<Vec<String>, Error>;

    /// Calls `visit` with every ref whose full name starts with `prefix` (`"refs/"` for all),
    /// resolved and peeled, in byte order of the names (C locale), as the refs are read (no list
    /// of all refs is built first); stops early when `visit` returns `Break`. Dangling symbolic
    /// refs and unreadable loose refs are skipped, as C git skips them in advertisements; HEAD is
    /// never included (see [`Repository::head`]).
    fn for_each_ref(&self, prefix: &str, visit: &mut RefVisitor<'_>) -> Result<(), Error>;

    /// The target of the symbolic ref `name` (full name, under `refs/`), also when that target
    /// does not exist yet (a namespace's unborn `HEAD`, which [`Repository::for_each_ref`]
    /// skips); `None` when `name` is missing or not symbolic.
    fn symref_target(&self, name: &str) -> Result<Option<String>, Error> {
        Ok(self
            .refs()?
            .into_iter()
            .find(|r| r.name == name)
            .and_then(|r| r.symref_target))
    }

    /// Every ref under `refs/`, collected from [`Repository::for_each_ref`] (for callers that
    /// need them all at once, such as receive-pack's checks).
    fn refs(&self) -> Result<Vec<Ref>, Error> {
        let mut out = Vec::new();
        self.for_each_ref("refs/", &mut |r| {
            out.push(r);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(out)
    }

    /// Adds `ids` to the repository's shallow boundary (a push from a shallow clone under
    /// `receive.shallowUpdate`), durably and atomically.
    fn add_shallow_roots(&self, ids: &[ObjectId]) -> Result<(), Error>;

    /// Tips of the repositories this one borrows objects from (alternates), which receive-pack
    /// advertises as `.have` lines so pushers can skip those objects.
    fn alternate_tips(&self) -> Result<Vec<ObjectId>, Error>;

    /// Whether a push to ref `name` must be refused because `*.hideRefs` hides it (only a
    /// [`RefsView`](crate::service::refs_view::RefsView) hides anything).
    fn ref_is_hidden(&self, name: &str) -> bool;

    /// Tips (and peeled tips) of the refs `*.hideRefs` hides from [`Repository::for_each_ref`]:
    /// C git lets `uploadpack.allowTipSHA1InWant` and `allowReachableSHA1InWant` serve them.
    fn hidden_tips(&self) -> Result<Vec<ObjectId>, Error>;

    /// Opens a quarantine for a push: objects received into it are readable through
    /// [`Quarantine::view`] but invisible to everyone else until [`Quarantine::commit`].
    /// Dropping it without committing discards them.
    fn begin_quarantine(&self) -> Result<Box<dyn Quarantine + '_>, Error>;

    /// Applies ref `updates` as one transaction of the repository's ref store (see
    /// [`crate::refs::RefStore::update`]): compare-and-swap on each old value; with `atomic`,
    /// all apply or none does. Returns one result per update, in order (the reason for a refused
    /// update is a short text for the `ng` line).
    fn update_refs(&self, updates: &[RefUpdate], atomic: bool) -> Result<Vec<UpdateResult>, Error>;

    /// Publishes the refs a hook wrote in the directory it ran in: `proc-receive` accepts a
    /// command by writing refs itself (`git update-ref`). On disk that directory is the
    /// repository and there is nothing to do; a backend whose hooks run in a local copy (the
    /// distributed one) moves them in its store, in one transaction. Returns why refs could
    /// not be published (one line per ref; empty: all were).
    fn publish_hook_refs(&self) -> Result<Vec<String>, Error>;

    /// Where this repository's hooks live (`None`: it has none, as a repository not kept in a
    /// local git directory). The launcher's process runner runs them; see
    /// [`crate::service::hooks`].
    fn hook_site(&self) -> Option<HookSite> {
        None
    }

    /// Stores a blob `data` directly in the repository (a push certificate, which C git also
    /// writes outside the quarantine) and returns its id.
    fn write_blob(&self, data: &[u8]) -> Result<ObjectId, Error> {
        let _ = data;
        Err(Error::Unsupported("writing objects"))
    }

    /// The working tree of a non-bare repository (for `push-to-checkout`'s `GIT_WORK_TREE`).
    fn work_tree(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// `receive.denyCurrentBranch=updateInstead`: brings the index and working tree from HEAD's
    /// commit to commit `new`, or says why not (C git's texts).
    fn update_work_tree(&self, new: &ObjectId) -> Result<(), WorkTreeRefusal> {
        let _ = new;
        Err(WorkTreeRefusal::no_work_tree())
    }
}

/// Where a repository's hooks live and what they need to run as githooks(5) describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSite {
    /// The directory holding the hook executables (`<git-dir>/hooks`).
    pub dir: std::path::PathBuf,
    /// The hooks' working directory (the git directory).
    pub work_dir: std::path::PathBuf,
    /// Environment every hook of this repository gets (`GIT_DIR=.`, `GIT_NAMESPACE`).
    pub env: Vec<(String, String)>,
}

/// Why [`Repository::update_work_tree`] left the working tree alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkTreeRefusal {
    /// The `ng` reason (C git's text).
    pub reason: String,
    /// What exactly was in the way, for the pusher (`None`: the reason says it all).
    pub detail: Option<String>,
}

impl WorkTreeRefusal {
    /// The refusal of a repository without a working tree.
    pub fn no_work_tree() -> Self {
        WorkTreeRefusal {
            reason: "denyCurrentBranch = updateInstead needs a worktree".into(),
            detail: None,
        }
    }
}

/// Objects received by a push, held apart until the push is accepted.
pub trait Quarantine {
    /// Reads a pack from `input` into the quarantine, checking it completely (every object
    /// hashed, deltas resolved, thin packs completed from the repository) under `limits`, and
    /// passing every commit, tree and tag to `check` (whose `Err` refuses the pack).
    /// Returns the ids and kinds of the objects the client sent (not the bases taken from the
    /// repository to complete a thin pack).
    fn receive_pack(
        &mut self,
        input: &mut dyn std::io::Read,
        limits: &crate::limits::Limits,
        check: crate::pack::ingest::ObjectCheck<'_>,
        progress: &mut dyn crate::progress::Progress,
    ) -> Result<Vec<(ObjectId, Kind)>, Error>;

    /// The repository as it would be with the quarantined objects added (refs unchanged).
    fn view(&self) -> &dyn Repository;

    /// Environment variables that let a hook's `git` see the quarantined objects
    /// (`GIT_QUARANTINE_PATH`, `GIT_OBJECT_DIRECTORY`, `GIT_ALTERNATE_OBJECT_DIRECTORIES`).
    fn hook_env(&self) -> Vec<(String, String)>;

    /// Makes the objects durable and visible in the repository.
    fn commit(self: Box<Self>) -> Result<(), Error>;
}
