//! Deleting pack files nobody can use any more, never before the grace period is over:
//!
//! - *dead* packs (unlisted by a repack, recorded under `dead/<pack>` with the time): a request
//!   that read the pack list before the repack may still be reading them;
//! - *orphans* (in the bucket, never listed: a push killed or refused after its upload, a
//!   repack that lost its transaction), aged by the store's modification time: a push that is
//!   still running may list its pack in a moment.
//!
//! The bucket is listed before the pack list is read, so a pack listed in between is seen as
//! listed. The grace period must be longer than any request (default 1 h); `0` is for tests and
//! for a repository that has no traffic. Also prunes push-log records older than a given age
//! (they only serve a push resolving its own ambiguous transaction).

use object_store::path::Path as StorePath;

use super::super::kv::{self, Op, Txn};
use super::super::refstore;
use super::super::stats::{self, Store};
use super::super::Stores;
use super::Error;

/// What a sweep deleted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// Files of dead packs deleted.
    pub dead_files: usize,
    /// Files of orphan packs deleted.
    pub orphan_files: usize,
    /// Push-log records pruned.
    pub push_records: usize,
}

/// Every file under `<base>pack/` in the bucket: (file name, unix seconds last modified).
fn list_files(stores: &Stores, base: &str) -> Result<Vec<(String, u64)>, Error> {
    let prefix = StorePath::from(format!("{base}pack"));
    let started = std::time::Instant::now();
    let listed = stores
        .rt
        .block_on(stores.store.list_with_delimiter(Some(&prefix)))
        .map_err(|e| Error::Store(format!("listing {prefix}: {e}")))?;
    stats::record(Store::S3, started);
    Ok(listed
        .objects
        .into_iter()
        .filter_map(|m| {
            let name = m.location.filename()?.to_string();
            Some((
                name,
                u64::try_from(m.last_modified.timestamp()).unwrap_or(0),
            ))
        })
        .collect())
}

/// Deletes file `name` of repository `base` from the bucket.
fn delete(stores: &Stores, base: &str, name: &str) -> Result<(), Error> {
    let path = StorePath::from(format!("{base}pack/{name}"));
    let started = std::time::Instant::now();
    let result = stores.rt.block_on(stores.store.delete(&path));
    stats::record(Store::S3, started);
    match result {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(Error::Store(format!("deleting {path}: {e}"))),
    }
}

/// Runs `ops` in transactions of at most [`kv::BATCH_OPS`].
fn apply(stores: &Stores, ops: Vec<Op>) -> Result<(), Error> {
    for chunk in ops.chunks(kv::BATCH_OPS) {
        stores.kv.txn(&Txn {
            compares: Vec::new(),
            ops: chunk.to_vec(),
        })?;
    }
    Ok(())
}

/// Sweeps repository `base` at unix time `now`: files of dead and orphan packs at least
/// `grace` seconds old, and push-log records older than `push_log_ttl` seconds.
pub fn sweep(
    stores: &Stores,
    base: &str,
    now: u64,
    grace: u64,
    push_log_ttl: u64,
) -> Result<Swept, Error> {
    let files = list_files(stores, base)?;
    let snap = refstore::load(stores.kv.as_ref(), base)?;
    let old_enough = |since: u64| now.saturating_sub(since) >= grace;
    let mut swept = Swept::default();
    let mut ops = Vec::new();
    for (name, modified) in &files {
        let Some((stem, _ext)) = name.rsplit_once('.') else {
            continue;
        };
        if snap.packs.contains_key(stem) {
            continue;
        }
        match snap.dead.get(stem) {
            Some(&since) if old_enough(since) => swept.dead_files += 1,
            None if old_enough(*modified) => swept.orphan_files += 1,
            _ => continue,
        }
        delete(stores, base, name)?;
    }
    for (pack, &since) in &snap.dead {
        // Relisted (a push wrote the very same pack again), or all its files deleted now.
        if snap.packs.contains_key(pack) || old_enough(since) {
            ops.push(Op::Delete {
                key: format!("{base}dead/{pack}"),
            });
        }
    }
    for e in stores.kv.range(&format!("{base}push/"))? {
        let nanos = e
            .key
            .strip_prefix(&format!("{base}push/"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|n| n.parse::<u128>().ok());
        let secs = nanos.map_or(0, |n| u64::try_from(n / 1_000_000_000).unwrap_or(u64::MAX));
        if now.saturating_sub(secs) >= push_log_ttl {
            swept.push_records += 1;
            ops.push(Op::Delete { key: e.key });
        }
    }
    apply(stores, ops)?;
    Ok(swept)
}
