//! One repository of the distributed backend, as one request sees it: refs and pack list from
//! one linearizable read, objects through a [`view`](super::view) the on-disk backend reads,
//! pushes published as pack upload then one ref transaction.
//!
//! Push order (each step only after the one before succeeded):
//! 1. the on-disk quarantine receives and checks the pack against the snapshot's packs;
//! 2. [`Quarantine::commit`] moves it into the view and uploads `.pack`, then `.idx`,
//!    create-only; nothing lists them yet, so they are invisible;
//! 3. [`Repository::update_refs`] runs the ref transaction(s), which also list the pack and
//!    write the push log.
//!
//! A front end killed anywhere before 3 moves no ref; killed after it, the push is durable.

use std::path::PathBuf;
use std::sync::Arc;

use super::blobs::Blobs;
use super::kv::Kv;
use super::ranged::RangedPacks;
use super::refs::EtcdRefs;
use super::refstore;
use super::view;
use crate::backend::fs::FsRepository;
use crate::backend::{
    Error, Head, PackStore, Quarantine, RefUpdate, RefVisitor, Repository, UpdateResult,
};
use crate::git_config::GitConfig;
use crate::hash::ObjectId;
use crate::odb::Kind;
use crate::pack::stored::ForwardObjects;
use crate::refs::RefStore;

/// Aborts the process at fault point `point` when it is `chosen` (the backend configuration's
/// `SLUICE_FAULT`): the system tests kill a front end at each step of a push this way.
pub fn fault(chosen: Option<&str>, point: &str) {
    if chosen == Some(point) {
        tracing::error!(point, "SLUICE_FAULT: aborting");
        std::process::abort();
    }
}

/// A distributed repository opened for one request: refs from etcd ([`EtcdRefs`]), objects
/// through the on-disk backend over the view.
pub struct DistRepository {
    refs: EtcdRefs,
    blobs: Arc<Blobs>,
    base: String,
    dir: PathBuf,
    inner: FsRepository,
    /// The fault point to abort at ([`fault`]).
    fault: Option<Arc<str>>,
    /// The directory this repository's hooks are in, if any.
    hooks: Option<PathBuf>,
}

impl std::fmt::Debug for DistRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DistRepository({})", self.base)
    }
}

/// A push id unique across front ends: time, process and random bytes.
fn new_push_id() -> String {
    use std::io::Read;
    let mut rand = [0u8; 8];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut rand));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let hex: String = rand.iter().map(|b| format!("{b:02x}")).collect();
    format!("{nanos}-{}-{hex}", std::process::id())
}

impl DistRepository {
    /// Opens repository `base` (a [`refstore::repo_key`]): reads the snapshot, builds the view
    /// under `views`.
    pub fn open(
        kv: Arc<dyn Kv>,
        blobs: Arc<Blobs>,
        base: String,
        views: &std::path::Path,
    ) -> Result<Self, Error> {
        let snap = refstore::load(kv.as_ref(), &base)?;
        if snap.head.is_none() {
            return Err(Error::NotFound(base));
        }
        let dir = view::materialize(&snap, &blobs, &base, views)?;
        let packs = RangedPacks::new(blobs.clone(), base.clone(), snap.packs.clone());
        let inner = FsRepository::open(dir.clone(), true, &Default::default())
            .inspect_err(|_| {
                let _ = std::fs::remove_dir_all(&dir);
            })?
            .with_pack_source(Arc::new(packs));
        Ok(DistRepository {
            refs: EtcdRefs::new(kv, base.clone(), snap, new_push_id()),
            blobs,
            base,
            dir,
            inner,
            fault: None,
            hooks: None,
        })
    }

    /// Runs pushes' hooks from `hooks_dir/<name>/` when that directory exists, else from
    /// `hooks_dir/` (shared by every repository); `None`: no hooks.
    pub fn with_hooks(mut self, hooks_dir: Option<&std::path::Path>, name: &str) -> Self {
        self.hooks = hooks_dir.map(|d| {
            let own = d.join(name);
            if own.is_dir() {
                own
            } else {
                d.to_path_buf()
            }
        });
        self
    }

    /// The refs, pack list and maintenance records this request read.
    pub fn snapshot(&self) -> &refstore::Snapshot {
        self.refs.snapshot()
    }

    /// The request's view: a git directory with the snapshot's refs and listed packs.
    pub fn view_dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The repository's key prefix (`<prefix>/<repo>/`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// This repository, aborting the process at fault point `fault` (see [`fault`]).
    pub fn with_fault(mut self, fault: Option<Arc<str>>) -> Self {
        self.fault = fault;
        self
    }

    /// Uploads the view's packs that the snapshot did not list (those a push just added):
    /// `.pack` first, then `.idx`, create-only, and shares them with the host's cache.
    fn upload_new_packs(&self, before: &[String]) -> Result<(), Error> {
        for pack in view::local_packs(&self.dir)? {
            if before.contains(&pack) {
                continue;
            }
            let local = self.dir.join("objects/pack");
            let pack_file = local.join(format!("{pack}.pack"));
            let size = std::fs::metadata(&pack_file)
                .map_err(|e| Error::io(pack_file.display().to_string(), e))?
                .len();
            self.blobs
                .put_once(&view::pack_key(&self.base, &pack, "pack"), &pack_file)?;
            fault(self.fault.as_deref(), "after-pack-upload");
            self.blobs.put_once(
                &view::pack_key(&self.base, &pack, "idx"),
                &local.join(format!("{pack}.idx")),
            )?;
            fault(self.fault.as_deref(), "after-idx-upload");
            let cache = self.blobs.cache();
            cache.adopt(&local.join(format!("{pack}.idx")), &format!("{pack}.idx"));
            // A pushed pack has no .rev or .bitmap in the store: say so to this host's cache.
            cache.adopt_absent(&[format!("{pack}.rev"), format!("{pack}.bitmap")]);
            self.refs.add_uploaded(pack, size);
        }
        Ok(())
    }
}

impl Drop for DistRepository {
    fn drop(&mut self) {
        let (etcd, etcd_ms, s3, s3_ms) = super::stats::totals();
        tracing::info!(repo = %self.base, etcd, etcd_ms, s3, s3_ms, "store round trips");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A push's quarantine: the on-disk one in the view, plus the upload on commit.
struct DistQuarantine<'a> {
    inner: Box<dyn Quarantine + 'a>,
    repo: &'a DistRepository,
    before: Vec<String>,
}

impl Quarantine for DistQuarantine<'_> {
    fn receive_pack(
        &mut self,
        input: &mut dyn std::io::Read,
        limits: &crate::limits::Limits,
        check: crate::pack::ingest::ObjectCheck<'_>,
        progress: &mut dyn crate::progress::Progress,
    ) -> Result<Vec<(ObjectId, Kind)>, Error> {
        self.inner.receive_pack(input, limits, check, progress)
    }

    fn view(&self) -> &dyn Repository {
        self.inner.view()
    }

    fn hook_env(&self) -> Vec<(String, String)> {
        self.inner.hook_env()
    }

    fn commit(self: Box<Self>) -> Result<(), Error> {
        let DistQuarantine {
            inner,
            repo,
            before,
        } = *self;
        inner.commit()?;
        repo.upload_new_packs(&before)
    }
}

/// Objects are the on-disk backend's over the view (which has no `shallow` file).
impl ForwardObjects for DistRepository {
    fn objects(&self) -> &dyn PackStore {
        &self.inner
    }
}

impl Repository for DistRepository {
    fn config(&self) -> &GitConfig {
        self.inner.config()
    }
    fn config_dir(&self) -> Option<&std::path::Path> {
        None
    }
    fn is_bare(&self) -> bool {
        true
    }
    /// None: a distributed repository has no worktrees.
    fn branches_checked_out_elsewhere(&self) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }
    fn head(&self) -> Result<Head, Error> {
        crate::refs::resolve::head(&self.refs)
    }
    fn for_each_ref(&self, prefix: &str, visit: &mut RefVisitor<'_>) -> Result<(), Error> {
        crate::refs::resolve::for_each_ref(&self.refs, self, prefix, visit)
    }
    fn add_shallow_roots(&self, _ids: &[ObjectId]) -> Result<(), Error> {
        Err(Error::Unsupported(
            "shallow updates in the distributed backend",
        ))
    }
    fn alternate_tips(&self) -> Result<Vec<ObjectId>, Error> {
        Ok(Vec::new())
    }
    fn ref_is_hidden(&self, _name: &str) -> bool {
        false
    }
    fn hidden_tips(&self) -> Result<Vec<ObjectId>, Error> {
        Ok(Vec::new())
    }

    /// A hook's `git update-ref` wrote the view: the refs it changed move in etcd in one
    /// transaction from the snapshot's values (a ref that moved meanwhile fails it), which
    /// also lists the push's pack, under push id `<push-id>-hook`.
    fn publish_hook_refs(&self) -> Result<Vec<String>, Error> {
        let updates = view::changed_refs(
            &self.dir,
            crate::odb::ObjectStore::hash_kind(self),
            self.snapshot(),
        )?;
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let id = format!("{}-hook", self.refs.push_id());
        let results = self.refs.update_as(&id, &updates, true)?;
        tracing::info!(
            repo = %self.base,
            push_id = %id,
            refs = updates.len(),
            refused = results.iter().filter(|r| r.is_err()).count(),
            "hook's refs published"
        );
        Ok(updates
            .iter()
            .zip(&results)
            .filter_map(|(u, r)| r.as_ref().err().map(|why| format!("{}: {why}", u.name)))
            .collect())
    }

    /// Hooks run on the front end, as for an on-disk repository, in the view (a git directory
    /// with the snapshot's refs and packs, so a hook's `git log` works); the refs
    /// `proc-receive` writes there are published by [`Repository::publish_hook_refs`].
    fn hook_site(&self) -> Option<crate::backend::HookSite> {
        let dir = self.hooks.clone()?;
        // Hooks run C git in the view, which reads pack files itself: give it the listed packs'
        // data (requests read it from the store in ranges and never write it here).
        for (pack, &size) in &self.snapshot().packs {
            let dst = self.dir.join("objects/pack").join(format!("{pack}.pack"));
            if dst.exists() {
                continue;
            }
            let key = view::pack_key(&self.base, pack, "pack");
            if let Err(e) = view::download_pack(&self.blobs, &key, size, &dst) {
                tracing::warn!(pack, error = %e, "pack data not copied for hooks");
            }
        }
        Some(crate::backend::HookSite {
            dir,
            work_dir: self.dir.clone(),
            env: vec![("GIT_DIR".into(), ".".into())],
        })
    }

    fn begin_quarantine(&self) -> Result<Box<dyn Quarantine + '_>, Error> {
        let before = view::local_packs(&self.dir)?;
        Ok(Box::new(DistQuarantine {
            inner: self.inner.begin_quarantine()?,
            repo: self,
            before,
        }))
    }

    fn update_refs(&self, updates: &[RefUpdate], atomic: bool) -> Result<Vec<UpdateResult>, Error> {
        let started = std::time::Instant::now();
        let results = self.refs.update(updates, atomic)?;
        tracing::info!(
            repo = %self.base,
            push_id = %self.refs.push_id(),
            refs = updates.len(),
            refused = results.iter().filter(|r| r.is_err()).count(),
            ms = started.elapsed().as_millis() as u64,
            "ref transaction"
        );
        fault(self.fault.as_deref(), "after-txn");
        Ok(results)
    }
}
