//! `sluice repack --backend-config FILE NAME`: maintenance of one distributed repository, run
//! from cron on any front end.
//!
//! ```text
//!  lease (repack-owner) ─► open: snapshot + view ─► plan (compact | full)
//!     ─► write pack(s) in a temporary directory (pack::files: .pack, .idx, .bitmap)
//!     ─► upload .pack, .bitmap, .idx create-only (invisible: nothing lists them)
//!     ─► one transaction: every replaced pack key unchanged → unlist them (dead/<pack> = now),
//!        list the new ones (garbage/<pack> = now for the garbage pack)
//!     ─► sweep: delete dead and orphan files older than the grace period, old push-log records
//! ```
//!
//! Pushes never conflict with the transaction (they only add packs), so a push that runs during
//! a repack keeps its pack listed; its objects' bases are in the new pack, in the garbage pack,
//! or in packs not yet deleted (grace).

pub mod lock;
pub mod plan;
pub mod sweep;

use std::path::Path;

use super::kv::{self, Compare, Op, Txn, TxnOutcome};
use super::repo::DistRepository;
use super::Stores;
use crate::backend::Repository;
use crate::pack::files::{self, FileOptions};
use crate::pack::write::WriteOptions;
use crate::progress::Progress;
use crate::walk::PackObject;

/// Why maintenance failed. The pack list changes only in the one transaction, so a failure
/// before it leaves the repository as it was (plus orphans the next sweep removes).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the repository failed.
    #[error(transparent)]
    Backend(#[from] crate::backend::Error),
    /// Walking the history failed.
    #[error(transparent)]
    Walk(#[from] crate::walk::Error),
    /// Writing a pack failed.
    #[error(transparent)]
    Files(#[from] files::Error),
    /// The ref store failed.
    #[error(transparent)]
    Kv(#[from] kv::Error),
    /// The pack store failed.
    #[error("object store: {0}")]
    Store(String),
    /// More packs than one transaction can replace (compaction, which runs first, merges them
    /// in steps).
    #[error("{0} packs: more than one repack replaces; run `sluice repack --compact` first")]
    TooManyPacks(usize),
    /// Another runner changed the pack list first; nothing was replaced.
    #[error("the pack list of {0} changed during the repack; nothing replaced (run it again)")]
    Lost(String),
}

/// What to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// A full repack (bitmaps, garbage pack); otherwise only compact the small packs.
    pub full: bool,
    /// Seconds unlisted and orphan pack files are kept (longer than any request).
    pub grace: u64,
    /// Seconds a garbage pack stays listed (JGit's default: one day).
    pub garbage_ttl: u64,
    /// The time now, unix seconds.
    pub now: u64,
}

impl Options {
    /// A full repack now with the default periods: 1 h grace, 1 day garbage.
    pub fn full_now() -> Options {
        Options {
            full: true,
            grace: 3600,
            garbage_ttl: 86_400,
            now: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
}

/// What a repack did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Another runner held the repository: nothing was done.
    pub busy: bool,
    /// Packs listed before.
    pub packs_before: usize,
    /// Packs replaced.
    pub replaced: usize,
    /// Objects in the new pack.
    pub objects: usize,
    /// Objects in the new garbage pack.
    pub garbage: usize,
    /// Expired garbage packs dropped.
    pub expired: usize,
    /// Commits given a bitmap.
    pub bitmaps: usize,
    /// The new pack (`pack-<hex>`), if one was written.
    pub pack: Option<String>,
    /// What the sweep deleted.
    pub swept: sweep::Swept,
}

/// A pack written and uploaded, not yet listed.
struct Uploaded {
    name: String,
    size: u64,
    bitmaps: usize,
}

/// Repacks repository `location` in `stores` as `opts` says (see the module docs).
pub fn repack(
    stores: &Stores,
    location: &str,
    opts: &Options,
    progress: &mut dyn Progress,
) -> Result<Stats, Error> {
    let base = stores.base(location)?;
    let Some(lease) = lock::Lease::take(
        stores.kv.as_ref(),
        &format!("{base}repack-owner"),
        &lock::holder(),
    )?
    else {
        return Ok(Stats {
            busy: true,
            ..Stats::default()
        });
    };
    let mut stats = Stats::default();
    {
        let mut repo = stores.backend().open_dist(location)?;
        stats.packs_before = repo.snapshot().packs.len();
        // A full repack of more packs than one transaction replaces compacts them first.
        while opts.full && repo.snapshot().packs.len() > plan::MAX_REPLACED {
            let Some(plan) = plan::compact(&repo)? else {
                break;
            };
            replace(stores, &repo, &plan, opts, &lease, progress, &mut stats)?;
            repo = stores.backend().open_dist(location)?;
        }
        let plan = match opts.full {
            true => plan::full(&repo, opts.now, opts.garbage_ttl, progress)?,
            false => plan::compact(&repo)?,
        };
        if let Some(plan) = plan {
            replace(stores, &repo, &plan, opts, &lease, progress, &mut stats)?;
        }
    }
    stats.swept = sweep::sweep(stores, &base, opts.now, opts.grace, opts.garbage_ttl)?;
    Ok(stats)
}

/// Writes and uploads what `plan` says, then swaps the pack list in one transaction.
fn replace(
    stores: &Stores,
    repo: &DistRepository,
    plan: &plan::Plan,
    opts: &Options,
    lease: &lock::Lease<'_>,
    progress: &mut dyn Progress,
    stats: &mut Stats,
) -> Result<(), Error> {
    let tmp = stores
        .cache_dir
        .join(format!("repack-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)
        .map_err(|e| crate::backend::Error::io(tmp.display().to_string(), e))?;
    let _cleanup = RemoveDir(&tmp);
    let mut write = WriteOptions {
        ofs_delta: true,
        ..WriteOptions::default()
    };
    if plan.full {
        let search = crate::pack::delta_search::SearchOptions::from_config(repo.config())
            .map_err(crate::backend::Error::from)?;
        write.max_delta_depth = search.depth;
        write.search = search;
    } else {
        // Compaction: stored deltas reused, no new delta search.
        write.search.window = 0;
    }
    let tips = plan.full.then(|| tip_commits(repo)).transpose()?;
    let main = upload(
        stores,
        repo,
        &tmp,
        &plan.main,
        &write,
        tips.as_deref(),
        plan,
        progress,
    )?;
    write.search.window = 0;
    let garbage = match plan.garbage.is_empty() {
        true => None,
        false => Some(upload(
            stores,
            repo,
            &tmp,
            &plan.garbage,
            &write,
            None,
            plan,
            progress,
        )?),
    };
    // Efficiency only: a runner whose lease expired may now race another; the txn decides.
    if let Err(e) = lease.refresh() {
        tracing::warn!(error = %e, "repack lease lost; the pack-list transaction decides");
    }
    let txn = swap_txn(repo, plan, &main, garbage.as_ref(), opts.now);
    if let TxnOutcome::Refused(_) = stores.kv.txn(&txn)? {
        return Err(Error::Lost(repo.base().to_string()));
    }
    stats.replaced = plan.replaced.len();
    stats.objects = plan.main.len();
    stats.garbage = plan.garbage.len();
    stats.expired = plan.expired.len();
    stats.bitmaps = main.bitmaps;
    stats.pack = Some(main.name);
    Ok(())
}

/// The commits the refs and HEAD point at (tags peeled): bitmap selection always covers them.
fn tip_commits(repo: &DistRepository) -> Result<Vec<crate::hash::ObjectId>, Error> {
    let mut tips: Vec<_> = repo
        .refs()?
        .iter()
        .map(|r| r.peeled.unwrap_or(r.id))
        .collect();
    tips.extend(repo.head()?.id);
    Ok(tips)
}

/// Writes `list` as a pack in `tmp` (a bitmap over `tips` when given) and uploads it:
/// `.pack`, `.bitmap`, then `.idx`, create-only.
#[allow(clippy::too_many_arguments)]
fn upload(
    stores: &Stores,
    repo: &DistRepository,
    tmp: &Path,
    list: &[PackObject],
    write: &WriteOptions,
    tips: Option<&[crate::hash::ObjectId]>,
    plan: &plan::Plan,
    progress: &mut dyn Progress,
) -> Result<Uploaded, Error> {
    let finish = |_: &Path| Ok(());
    let opts = FileOptions {
        write: write.clone(),
        bitmap_tips: tips,
        // Only `main` gets bitmaps (tips); it lists its reachable objects first (all of it
        // in a full repack).
        reachable: tips.map_or(0, |_| plan.reachable.len()),
        children: None,
        max_bitmaps: 3_000,
        finish: &finish,
    };
    let written = files::write_pack_files(repo, tmp, list, opts, progress)?;
    let name = format!("pack-{}", written.checksum);
    let mut exts = vec!["pack"];
    if written.bitmaps > 0 {
        exts.push("bitmap");
    }
    exts.push("idx");
    for ext in exts {
        let local = written.stem.with_extension(ext);
        stores
            .blobs
            .put_once(&super::view::pack_key(repo.base(), &name, ext), &local)?;
    }
    let size = std::fs::metadata(written.stem.with_extension("pack"))
        .map_err(|e| crate::backend::Error::io(name.clone(), e))?
        .len();
    Ok(Uploaded {
        name,
        size,
        bitmaps: written.bitmaps,
    })
}

/// The transaction that swaps the pack list: every replaced pack still listed with the size
/// the snapshot read, then unlisted (`dead/` from `now`) and the new packs listed.
fn swap_txn(
    repo: &DistRepository,
    plan: &plan::Plan,
    main: &Uploaded,
    garbage: Option<&Uploaded>,
    now: u64,
) -> Txn {
    let base = repo.base();
    let snap = repo.snapshot();
    let new: Vec<&Uploaded> = std::iter::once(main).chain(garbage).collect();
    let mut txn = Txn::default();
    for pack in &plan.replaced {
        let key = format!("{base}pack/{pack}");
        txn.compares.push(Compare::ValueIs {
            key: key.clone(),
            value: snap
                .packs
                .get(pack)
                .copied()
                .unwrap_or(0)
                .to_string()
                .into_bytes(),
        });
        // The same content written again keeps its name: it stays listed, not dead.
        if new.iter().any(|u| &u.name == pack) {
            continue;
        }
        txn.ops.push(Op::Delete { key });
        if snap.garbage.contains_key(pack) {
            txn.ops.push(Op::Delete {
                key: format!("{base}garbage/{pack}"),
            });
        }
        if snap.bitmaps.contains(pack) {
            txn.ops.push(Op::Delete {
                key: format!("{base}bitmap/{pack}"),
            });
        }
        txn.ops.push(Op::Put {
            key: format!("{base}dead/{pack}"),
            value: now.to_string().into_bytes(),
        });
    }
    for u in &new {
        txn.ops.push(Op::Put {
            key: format!("{base}pack/{}", u.name),
            value: u.size.to_string().into_bytes(),
        });
        if snap.dead.contains_key(&u.name) {
            txn.ops.push(Op::Delete {
                key: format!("{base}dead/{}", u.name),
            });
        }
        if u.bitmaps > 0 {
            txn.ops.push(Op::Put {
                key: format!("{base}bitmap/{}", u.name),
                value: b"1".to_vec(),
            });
        }
    }
    if let Some(g) = garbage {
        txn.ops.push(Op::Put {
            key: format!("{base}garbage/{}", g.name),
            value: now.to_string().into_bytes(),
        });
    }
    txn
}

/// Removes a directory on drop.
struct RemoveDir<'a>(&'a Path);

impl Drop for RemoveDir<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0);
    }
}

#[cfg(test)]
mod tests;
