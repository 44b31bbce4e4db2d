//! Packs and their indexes in an S3-compatible store (`object_store`), under
//! `<prefix>/<repo>/pack/pack-<hex>.{pack,idx,rev,bitmap}`, and the host's local cache of the
//! index files ([`cache`](super::cache)).
//!
//! Names are the pack's checksum, so content never changes under a name: uploads are
//! create-only (`If-None-Match: *`; a 412 on a name we were writing means the same bytes are
//! there already). A file larger than `multipart-threshold-bytes` goes up as an S3 multipart
//! upload, streamed from disk part by part; S3 has no create-only multipart upload, so it is
//! preceded by a HEAD and may, in a race, overwrite the same name with the same bytes.

use std::path::Path;
use std::sync::Arc;

use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};

use super::cache::DiskCache;
use super::config::BackendConfig;
use crate::backend::Error;

/// Bytes per part of a multipart upload (S3 wants at least 5 MiB for all but the last).
const PART_BYTES: usize = 16 << 20;

/// The pack store of one backend configuration.
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    rt: Arc<tokio::runtime::Runtime>,
    cache: DiskCache,
    multipart_above: u64,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Blobs({}, cache {})",
            self.store,
            self.cache.dir().display()
        )
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
    /// Packs in `store`, index files cached under `cache_dir/packs` (at most `cache_max`
    /// bytes), files above `multipart_above` bytes uploaded in parts.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        rt: Arc<tokio::runtime::Runtime>,
        cache_dir: std::path::PathBuf,
        cache_max: u64,
        multipart_above: u64,
    ) -> Blobs {
        Blobs {
            store,
            rt,
            cache: DiskCache::new(cache_dir.join("packs"), cache_max),
            multipart_above,
        }
    }

    /// The host's cache of index files.
    pub fn cache(&self) -> &DiskCache {
        &self.cache
    }

    /// Uploads `local` as `name` if no object has that name yet. Returns whether this call
    /// created it (`false`: it was there already, which for a content name is the same bytes).
    pub fn put_once(&self, name: &str, local: &Path) -> Result<bool, Error> {
        let size = std::fs::metadata(local)
            .map_err(|e| Error::io(local.display().to_string(), e))?
            .len();
        if size > self.multipart_above {
            return self.put_multipart(name, local);
        }
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

    /// [`Blobs::put_once`] as a multipart upload streamed from `local`: a HEAD first (the name
    /// is content-derived, so an existing object is this one), then parts of [`PART_BYTES`];
    /// a failed upload is aborted so the store frees its parts.
    fn put_multipart(&self, name: &str, local: &Path) -> Result<bool, Error> {
        if self.exists(name)? {
            return Ok(false);
        }
        let started = std::time::Instant::now();
        let path = StorePath::from(name);
        let result: Result<usize, Error> = self.rt.block_on(async {
            let mut upload = self
                .store
                .put_multipart(&path)
                .await
                .map_err(|e| store_error(name, e))?;
            let sent = send_parts(upload.as_mut(), local, name).await;
            match sent {
                Ok(parts) => {
                    upload.complete().await.map_err(|e| store_error(name, e))?;
                    Ok(parts)
                }
                Err(e) => {
                    let _ = upload.abort().await;
                    Err(e)
                }
            }
        });
        let parts = result?;
        super::stats::record(super::stats::Store::S3, started);
        tracing::debug!(
            name,
            parts,
            ms = started.elapsed().as_millis() as u64,
            "s3 multipart put"
        );
        Ok(true)
    }

    /// The whole object `name`; `Ok(None)` when the store has no such object.
    pub fn get_optional(&self, name: &str) -> Result<Option<bytes::Bytes>, Error> {
        let started = std::time::Instant::now();
        let result = self.rt.block_on(async {
            let got = self.store.get(&StorePath::from(name)).await?;
            got.bytes().await
        });
        super::stats::record(super::stats::Store::S3, started);
        match result {
            Ok(bytes) => {
                tracing::debug!(
                    name,
                    bytes = bytes.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "s3 get"
                );
                Ok(Some(bytes))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(name, e)),
        }
    }

    /// Whether object `name` exists.
    pub fn exists(&self, name: &str) -> Result<bool, Error> {
        let started = std::time::Instant::now();
        let result = self.rt.block_on(self.store.head(&StorePath::from(name)));
        super::stats::record(super::stats::Store::S3, started);
        match result {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(store_error(name, e)),
        }
    }
}

/// Sends `local` to `upload` in parts of [`PART_BYTES`], one at a time (memory: one part);
/// returns how many.
async fn send_parts(
    upload: &mut dyn object_store::MultipartUpload,
    local: &Path,
    name: &str,
) -> Result<usize, Error> {
    use std::io::Read as _;
    let mut file =
        std::fs::File::open(local).map_err(|e| Error::io(local.display().to_string(), e))?;
    let mut parts = 0;
    loop {
        let mut buf = Vec::with_capacity(PART_BYTES);
        (&mut file)
            .take(PART_BYTES as u64)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io(local.display().to_string(), e))?;
        if buf.is_empty() && parts > 0 {
            return Ok(parts);
        }
        let last = buf.len() < PART_BYTES;
        upload
            .put_part(PutPayload::from(buf))
            .await
            .map_err(|e| store_error(name, e))?;
        parts += 1;
        if last {
            return Ok(parts);
        }
    }
}
