//! Packs and their indexes in an S3-compatible store (`object_store`), under
//! `<prefix>/<repo>/pack/pack-<hex>.{pack,idx}`, and the host's local cache of them.
//!
//! Names are the pack's checksum, so content never changes under a name: uploads are
//! create-only (`If-None-Match: *`; a 412 on a name we were writing means the same bytes are
//! there already), and the cache is never invalidated. Cached files are written to a temporary
//! name and renamed into place, so concurrent `sluice` processes on one host share the cache.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};

use super::config::BackendConfig;
use crate::backend::Error;

/// The pack store of one backend configuration.
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    rt: Arc<tokio::runtime::Runtime>,
    cache: PathBuf,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blobs({}, cache {})", self.store, self.cache.display())
    }
}

fn store_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::io(
        what.to_string(),
        std::io::Error::other(format!("object store: {e}")),
    )
}

/// The S3 client for `cfg`: path-style requests (radosgw and MinIO answer those on any host
/// name), plain HTTP only when the endpoint says `http://`.
pub fn s3(cfg: &BackendConfig) -> Result<AmazonS3, Error> {
    AmazonS3Builder::new()
        .with_endpoint(&cfg.s3_endpoint)
        .with_allow_http(cfg.s3_endpoint.starts_with("http://"))
        .with_bucket_name(&cfg.bucket)
        .with_region(&cfg.region)
        .with_access_key_id(&cfg.credentials.access_key)
        .with_secret_access_key(&cfg.credentials.secret_key)
        .with_virtual_hosted_style_request(false)
        .with_conditional_put(S3ConditionalPut::ETagMatch)
        .build()
        .map_err(|e| store_error("s3 config", e))
}

impl Blobs {
    /// Packs in `store`, cached under `cache`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        rt: Arc<tokio::runtime::Runtime>,
        cache: PathBuf,
    ) -> Blobs {
        Blobs { store, rt, cache }
    }

    /// The directory cached pack files live in.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache.join("packs")
    }

    /// Uploads `local` as `name` if no object has that name yet. Returns whether this call
    /// created it (`false`: it was there already, which for a content name is the same bytes).
    pub fn put_once(&self, name: &str, local: &Path) -> Result<bool, Error> {
        let data = std::fs::read(local).map_err(|e| Error::io(local.display().to_string(), e))?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let started = std::time::Instant::now();
        let result = self.rt.block_on(self.store.put_opts(
            &StorePath::from(name),
            PutPayload::from(data),
            opts,
        ));
        super::stats::record(super::stats::Store::S3, started);
        tracing::debug!(name, ms = started.elapsed().as_millis() as u64, "s3 put");
        match result {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(store_error(name, e)),
        }
    }

    /// Bytes `range` of object `name` (one ranged GET).
    pub fn read_range(&self, name: &str, range: std::ops::Range<u64>) -> Result<Vec<u8>, Error> {
        let started = std::time::Instant::now();
        let bytes = self
            .rt
            .block_on(self.store.get_range(&StorePath::from(name), range))
            .map_err(|e| store_error(name, e))?;
        super::stats::record(super::stats::Store::S3, started);
        tracing::debug!(
            name,
            ms = started.elapsed().as_millis() as u64,
            "s3 ranged get"
        );
        Ok(bytes.to_vec())
    }

    /// Whether object `name` exists.
    pub fn exists(&self, name: &str) -> Result<bool, Error> {
        match self.rt.block_on(self.store.head(&StorePath::from(name))) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(store_error(name, e)),
        }
    }

    /// The local path of object `key` (stored as `file` in the cache), downloading it whole
    /// first if no process on this host has. `check` sees the downloaded bytes' file before it
    /// is published, and refuses content that does not match its name.
    pub fn cached(
        &self,
        key: &str,
        file: &str,
        check: &dyn Fn(&Path) -> Result<(), Error>,
    ) -> Result<PathBuf, Error> {
        let dir = self.cache_dir();
        let target = dir.join(file);
        if target.is_file() {
            return Ok(target);
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
        let tmp = dir.join(format!(".tmp-{}-{file}", std::process::id()));
        let started = std::time::Instant::now();
        let result = self.rt.block_on(async {
            let got = self.store.get(&StorePath::from(key)).await?;
            got.bytes().await
        });
        let bytes = result.map_err(|e| store_error(key, e))?;
        super::stats::record(super::stats::Store::S3, started);
        tracing::debug!(
            key,
            bytes = bytes.len(),
            ms = started.elapsed().as_millis() as u64,
            "s3 get"
        );
        let mut f =
            std::fs::File::create(&tmp).map_err(|e| Error::io(tmp.display().to_string(), e))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(tmp.display().to_string(), e))?;
        if let Err(e) = check(&tmp) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, &target).map_err(|e| Error::io(target.display().to_string(), e))?;
        Ok(target)
    }
}
