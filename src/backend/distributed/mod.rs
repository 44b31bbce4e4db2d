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
//! - [`kv`]: the transaction primitive; [`etcd`] implements it over etcd's JSON gateway.
//! - [`refstore`]: key layout, snapshot read, push transactions, ambiguous-outcome resolution;
//!   [`refs`]: the [`RefStore`](crate::refs::RefStore) a request reads and updates through.
//! - [`blobs`]: packs and indexes in S3 (`object_store`); [`cache`]: the host's disk cache of
//!   index files; [`ranged`]: pack data in blocks.
//! - [`view`], [`repo`]: a request's repository; [`stats`]: its store round trips.

pub mod blobs;
pub mod cache;
pub mod config;
pub mod etcd;
pub mod kv;
pub mod ranged;
pub mod refs;
pub mod refstore;
pub mod repo;
pub mod stats;
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

impl DistBackend {
    /// Connects (lazily: no request is made yet) to the engines `cfg` names.
    pub fn new(cfg: &BackendConfig) -> Result<DistBackend, Error> {
        let rt = Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::io("tokio runtime", e))?,
        );
        let etcd = etcd::Etcd::new(cfg.etcd_endpoints.clone(), cfg.timeout, rt.clone())
            .map_err(|e| Error::io("etcd", std::io::Error::other(e.to_string())))?;
        let store: Arc<dyn object_store::ObjectStore> = Arc::new(blobs::s3(cfg)?);
        Ok(Self::with_stores(
            Arc::new(etcd),
            blobs::Blobs::new(
                store,
                rt,
                cfg.cache_dir.clone(),
                cfg.cache_max_bytes,
                cfg.multipart_threshold_bytes,
            ),
            cfg.prefix.clone(),
            cfg.cache_dir.join("views"),
        ))
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

impl Backend for DistBackend {
    fn open(&self, location: &str) -> Result<Box<dyn Repository>, Error> {
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
                })?;
        tracing::info!(
            location,
            ms = started.elapsed().as_millis() as u64,
            "distributed repository opened"
        );
        Ok(Box::new(repo))
    }
}
