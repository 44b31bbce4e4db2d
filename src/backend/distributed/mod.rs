//! The distributed backend (cargo feature `distributed`): any number of front ends serve the same
//! repositories from shared engines, as JGit's DFS storage does.
//!
//! ```text
//!  DistBackend::open(name) ─► refstore::load ── one linearizable etcd range read
//!         │                        (HEAD, refs/*, pack list)
//!         ▼
//!  view::materialize ─► cache::DiskCache ── .idx/.rev/.bitmap: S3 GET once per host;
//!         │                     content-named, never invalidated, bounded (oldest go first)
//!         ▼
//!  DistRepository ── reads through the on-disk backend over the view; pack data by
//!         │          ranged::RangedPacks: ranged GETs of aligned blocks, read-ahead
//!         └───────── a push uploads .pack, .idx create-only (multipart when large),
//!                    then refstore::push (etcd txn)
//! ```
//!
//! - [`config`]: the `--backend-config` file.
//! - [`kv`]: the transaction primitive; [`etcd`] implements it over etcd's JSON gateway;
//!   [`lossy`] loses a transaction's answer for the system tests.
//! - [`refstore`]: key layout, snapshot read, push transactions, ambiguous-outcome resolution;
//!   [`refs`]: the [`RefStore`](crate::refs::RefStore) a request reads and updates through.
//! - [`blobs`]: packs and indexes in S3 (`object_store`); [`cache`]: the host's disk cache of
//!   index files; [`ranged`]: pack data in blocks.
//! - [`view`], [`repo`]: a request's repository; [`stats`]: its store round trips.
//! - [`maintenance`]: `sluice repack` (compaction, full repack, garbage, grace, orphans);
//!   [`transfer`]: `sluice import` / `sluice export` between the store and a git directory;
//!   [`settings`]: a repository's stored git config (`sluice config`).

pub mod blobs;
pub mod cache;
pub mod config;
pub mod etcd;
pub mod kv;
pub mod lossy;
pub mod maintenance;
pub mod ranged;
pub mod refs;
pub mod refstore;
pub mod repo;
pub mod settings;
pub mod stats;
pub mod transfer;
pub mod view;

use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::{Backend, Error, Repository};
use config::BackendConfig;
use kv::Kv;

/// Opens repositories kept in etcd and an S3 store.
pub struct DistBackend {
    kv: Arc<dyn Kv>,
    blobs: Arc<blobs::Blobs>,
    prefix: String,
    views: PathBuf,
    /// Where to abort (see [`repo::fault`]).
    fault: Option<Arc<str>>,
    /// Hooks for pushes (see [`config::BackendConfig::hooks_dir`]).
    hooks_dir: Option<PathBuf>,
}

impl std::fmt::Debug for DistBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DistBackend({}, {:?})", self.prefix, self.blobs)
    }
}

/// A repository name as a key component: the location without leading or trailing slashes; no
/// empty, `.` or `..` component and no control character.
pub fn repo_name(location: &str) -> Result<&str, Error> {
    let name = location.trim_matches('/');
    let bad = name.is_empty()
        || name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        || name.chars().any(char::is_control);
    if bad {
        return Err(Error::NotFound(location.to_string()));
    }
    Ok(name)
}

/// The engines one backend configuration names, for the commands that work on the store as a
/// whole (maintenance, import, export) rather than through one request's repository.
pub struct Stores {
    /// The ref store.
    pub kv: Arc<dyn Kv>,
    /// The pack store, for listing and deleting (uploads and downloads go through `blobs`).
    pub store: Arc<dyn object_store::ObjectStore>,
    /// The runtime the store's futures run on.
    pub rt: Arc<tokio::runtime::Runtime>,
    /// Packs and the host's cache of them.
    pub blobs: Arc<blobs::Blobs>,
    /// The key prefix.
    pub prefix: String,
    /// The host's cache directory (views live under it).
    pub cache_dir: PathBuf,
    /// Hooks for pushes (see [`config::BackendConfig::hooks_dir`]).
    pub hooks_dir: Option<PathBuf>,
    /// Where requests abort, for the system tests (see [`repo::fault`]).
    pub fault: Option<Arc<str>>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stores({}, {:?})", self.prefix, self.blobs)
    }
}

fn runtime() -> Result<Arc<tokio::runtime::Runtime>, Error> {
    Ok(Arc::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?,
    ))
}

impl Stores {
    /// Connects (lazily: no request is made yet) to the engines `cfg` names.
    pub fn connect(cfg: &BackendConfig) -> Result<Stores, Error> {
        let rt = runtime()?;
        let etcd = etcd::Etcd::new(
            cfg.etcd_endpoints.clone(),
            cfg.timeout,
            rt.clone(),
            &cfg.etcd,
        )
        .map_err(|e| Error::io("etcd", std::io::Error::other(e.to_string())))?;
        let store: Arc<dyn object_store::ObjectStore> = Arc::new(blobs::s3(cfg)?);
        let blobs = blobs::Blobs::new(
            store.clone(),
            rt.clone(),
            cfg.cache_dir.clone(),
            cfg.cache_max_bytes,
            cfg.multipart_threshold_bytes,
        );
        let mut stores = Self::over_blobs(
            lossy::wrap(Arc::new(etcd), cfg.fault.as_deref()),
            store,
            rt,
            blobs,
            cfg.prefix.clone(),
            cfg.cache_dir.clone(),
        );
        stores.hooks_dir = cfg.hooks_dir.clone();
        stores.fault = cfg.fault.as_deref().map(Arc::from);
        Ok(stores)
    }

    /// Stores over given engines (unit tests: [`kv::MemoryKv`] and object_store's `InMemory`).
    pub fn over(
        kv: Arc<dyn Kv>,
        store: Arc<dyn object_store::ObjectStore>,
        rt: Arc<tokio::runtime::Runtime>,
        prefix: String,
        cache_dir: PathBuf,
    ) -> Stores {
        let blobs = blobs::Blobs::new(
            store.clone(),
            rt.clone(),
            cache_dir.clone(),
            config::DEFAULT_CACHE_MAX,
            config::DEFAULT_MULTIPART,
        );
        Self::over_blobs(kv, store, rt, blobs, prefix, cache_dir)
    }

    /// Stores over given engines and pack store `blobs` (which wraps `store`).
    fn over_blobs(
        kv: Arc<dyn Kv>,
        store: Arc<dyn object_store::ObjectStore>,
        rt: Arc<tokio::runtime::Runtime>,
        blobs: blobs::Blobs,
        prefix: String,
        cache_dir: PathBuf,
    ) -> Stores {
        Stores {
            kv,
            store,
            rt,
            blobs: Arc::new(blobs),
            prefix,
            cache_dir,
            hooks_dir: None,
            fault: None,
        }
    }

    /// In-memory engines with a cache under `cache_dir`, for tests.
    pub fn in_memory(cache_dir: PathBuf) -> Result<Stores, Error> {
        Ok(Self::over(
            Arc::new(kv::MemoryKv::default()),
            Arc::new(object_store::memory::InMemory::new()),
            runtime()?,
            "t".into(),
            cache_dir,
        ))
    }

    /// The backend that serves requests from these stores.
    pub fn backend(&self) -> DistBackend {
        DistBackend {
            kv: self.kv.clone(),
            blobs: self.blobs.clone(),
            prefix: self.prefix.clone(),
            views: self.cache_dir.join("views"),
            hooks_dir: self.hooks_dir.clone(),
            fault: self.fault.clone(),
        }
    }

    /// The key prefix of repository `location` (refused like [`repo_name`] refuses it).
    pub fn base(&self, location: &str) -> Result<String, Error> {
        Ok(refstore::repo_key(&self.prefix, repo_name(location)?))
    }
}

impl DistBackend {
    /// Connects (lazily: no request is made yet) to the engines `cfg` names.
    pub fn new(cfg: &BackendConfig) -> Result<DistBackend, Error> {
        Ok(Stores::connect(cfg)?.backend())
    }

    /// A backend over given stores (unit tests use in-memory ones).
    pub fn with_stores(
        kv: Arc<dyn Kv>,
        blobs: blobs::Blobs,
        prefix: String,
        views: PathBuf,
    ) -> Self {
        DistBackend {
            kv,
            blobs: Arc::new(blobs),
            prefix,
            views,
            fault: None,
            hooks_dir: None,
        }
    }

    /// Creates repository `location` with HEAD naming `refs/heads/<initial_branch>`; `Ok(false)`
    /// when it exists already.
    pub fn init(&self, location: &str, initial_branch: &str) -> Result<bool, Error> {
        let base = refstore::repo_key(&self.prefix, repo_name(location)?);
        refstore::create(
            self.kv.as_ref(),
            &base,
            &format!("refs/heads/{initial_branch}"),
        )
    }
}

impl DistBackend {
    /// Opens repository `location` as [`Backend::open`] does, as its concrete type (maintenance
    /// needs its snapshot and view).
    pub fn open_dist(&self, location: &str) -> Result<repo::DistRepository, Error> {
        let base = refstore::repo_key(&self.prefix, repo_name(location)?);
        std::fs::create_dir_all(&self.views)
            .map_err(|e| Error::io(self.views.display().to_string(), e))?;
        cache::sweep_views(&self.views);
        let started = std::time::Instant::now();
        let repo =
            repo::DistRepository::open(self.kv.clone(), self.blobs.clone(), base, &self.views)
                .map_err(|e| match e {
                    Error::NotFound(_) => Error::NotFound(location.to_string()),
                    e => e,
                })?
                .with_fault(self.fault.clone())
                .with_hooks(self.hooks_dir.as_deref(), repo_name(location)?);
        tracing::info!(
            location,
            ms = started.elapsed().as_millis() as u64,
            "distributed repository opened"
        );
        Ok(repo)
    }
}

impl Backend for DistBackend {
    fn open(&self, location: &str) -> Result<Box<dyn Repository>, Error> {
        Ok(Box::new(self.open_dist(location)?))
    }

    /// One linearizable read of the repository's `HEAD` key (it exists iff that key does).
    fn exists(&self, location: &str) -> Result<bool, Error> {
        let Ok(name) = repo_name(location) else {
            return Ok(false);
        };
        refstore::exists(self.kv.as_ref(), &refstore::repo_key(&self.prefix, name))
    }
}
