//! `sluice repack`: turns the many small packs and loose objects that pushes leave into one pack
//! with a reachability bitmap and a fresh commit-graph, so that a repository that only ever saw
//! Sluice serves clones as fast as one `git gc` maintains.
//!
//! Data flow: lock → snapshot of `objects/pack` and the loose objects → the reachable objects in
//! upload-pack's walk order (commits newest first, then trees and blobs), then every other
//! object of the snapshot → [`files::write_pack_files`] (stored deltas reused, a delta search for
//! the rest) → `.idx` and `.bitmap` → fsync, rename (`.pack`, `.bitmap`, then `.idx`, which makes
//! the pack visible) → remove the `multi-pack-index`, the old packs (`.idx` first) and the loose
//! objects now packed → commit-graph. The walk records every tree's entries as list positions
//! ([`walk::TreeChildren`]), so the bitmaps are built without reading a tree again; the
//! commit-graph's commits are read on a second thread while the pack is made.
//!
//! Nothing is ever dropped: unreachable objects are packed too (`git repack -a -d
//! --keep-unreachable`), because they may belong to a push whose ref update is still in flight.
//! Packs with a `.keep` (or `.promisor`) file are left alone and their objects stay out of the
//! new pack; packs and loose objects that appear after the snapshot (a concurrent push) are not
//! touched. Deviation: git's `repack -b` packs kept objects again (`repack.packKeptObjects`) so
//! that every commit gets a bitmap; here commits whose history reaches into a kept pack simply
//! get none, and readers walk from them.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::commit_graph as maintenance;
use crate::backend::fs::FsRepository;
use crate::backend::{self, ObjectStore, Repository};
use crate::hash::{HashKind, IdSet, ObjectId, PackedIdSet};
use crate::pack::files::{self, TEMP_PREFIX};
use crate::pack::index::PackIndex;
use crate::pack::write::WriteOptions;
use crate::progress::{Discard, Progress};
use crate::walk::{self, PackObject, TreeChildren, WalkOptions};

/// Most commits given a bitmap (git selects a few hundred to a few thousand).
const MAX_BITMAPS: usize = 3_000;
/// The lock file that keeps two repacks apart.
const LOCK: &str = "sluice-repack.lock";
/// Files next to a `.pack` that belong to it and go with it.
const COMPANIONS: [&str; 4] = ["pack", "bitmap", "rev", "mtimes"];

/// Why a repack failed. Nothing is removed before the new pack is durable, so a failure leaves
/// the repository as it was (plus, at worst, the new pack).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository failed.
    #[error(transparent)]
    Backend(#[from] backend::Error),
    /// Walking the history failed.
    #[error(transparent)]
    Walk(#[from] walk::Error),
    /// Writing the pack, its index or its bitmap failed.
    #[error(transparent)]
    Files(#[from] files::Error),
    /// `extensions.preciousObjects` forbids deleting what a repack replaces.
    #[error("cannot delete packs in a precious-objects repo")]
    Precious,
    /// Another repack holds the lock.
    #[error("{0} exists: another repack is running (remove it if none is)")]
    Locked(PathBuf),
    /// A file could not be read, written or renamed.
    #[error("{what}: {source}")]
    Io {
        /// The file.
        what: String,
        /// Why.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        what: path.display().to_string(),
        source,
    }
}

/// What a repack did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RepackStats {
    /// Objects in the new pack.
    pub objects: usize,
    /// Of those, reachable from the refs and HEAD.
    pub reachable: usize,
    /// Commits given a bitmap.
    pub bitmaps: usize,
    /// Old packs removed.
    pub packs_removed: usize,
    /// Loose objects removed (now packed).
    pub loose_removed: usize,
    /// Commits in the commit-graph written afterwards.
    pub graph_commits: usize,
    /// The new pack's file name, when one was written.
    pub pack: Option<String>,
}

/// Repacks `repo` (see the module docs), reporting progress to `progress`.
pub fn repack(repo: &FsRepository, progress: &mut dyn Progress) -> Result<RepackStats, Error> {
    if repo.format().precious_objects {
        return Err(Error::Precious);
    }
    let objects_dir = repo.common_dir().join("objects");
    let pack_dir = objects_dir.join("pack");
    fs::create_dir_all(&pack_dir).map_err(io(&pack_dir))?;
    let _lock = Lock::take(&pack_dir.join(LOCK))?;
    remove_stale_temps(&pack_dir);
    // Quarantines of pushes whose process died (SIGKILL, a crash): never ones in use.
    crate::backend::fs::quarantine::remove_stale(&objects_dir);
    let snap = Snapshot::take(&objects_dir, repo.hash_kind())?;
    let mut stats = RepackStats::default();
    // The commit-graph's commits are read on the second core while the pack is made (the walk
    // of commits and the writing of the pack leave it mostly idle): the same objects, in the
    // old packs, which stay until both are done. The graph is written last.
    let (packed, graph) = std::thread::scope(|s| {
        let graph = s.spawn(|| maintenance::reachable_commits(repo, &mut Discard));
        let packed = pack_objects(repo, &snap, &mut stats, progress);
        let graph = graph.join().unwrap_or_else(|_| {
            Err(backend::Error::corrupt(
                "commit-graph".to_string(),
                "the commit-graph thread panicked".to_string(),
            ))
        });
        (packed, graph)
    });
    let packed = packed?;
    let commits = graph?;
    if let Some((new_stem, list)) = packed {
        let removed = remove_old(&objects_dir, &snap, new_stem.as_deref(), &list)?;
        stats.packs_removed = removed.0;
        stats.loose_removed = removed.1;
    }
    maintenance::report_found(commits.as_deref(), progress);
    if let Some(commits) = commits {
        // A fresh view: the old packs are gone, and the new one answers every lookup.
        let fresh = repo.reopen()?;
        stats.graph_commits = maintenance::install(&fresh, &commits, progress)?;
    }
    Ok(stats)
}

/// Packs the objects of `snap` into one new pack, filling in `stats`; returns the new pack's
/// stem (`None` when there was nothing to pack) and the objects it holds, or `None` when the
/// repository is packed as a repack would pack it already.
#[allow(clippy::type_complexity)]
fn pack_objects(
    repo: &FsRepository,
    snap: &Snapshot,
    stats: &mut RepackStats,
    progress: &mut dyn Progress,
) -> Result<Option<(Option<String>, Vec<PackObject>)>, Error> {
    let pack_dir = repo.common_dir().join("objects/pack");
    if snap.already_done(&pack_dir) {
        progress.message("one pack with a bitmap already; nothing to repack");
        return Ok(None);
    }
    let Collected {
        list,
        reachable,
        children,
    } = collect(repo, snap, progress)?;
    stats.objects = list.len();
    stats.reachable = reachable;
    let mut new_stem = None;
    if !list.is_empty() {
        // No bitmaps in a shallow repository (C git's neither): they record parents the
        // `shallow` file cuts off.
        let bitmaps_ok = bitmaps_possible(snap) && repo.shallow_roots().is_none();
        let found = (list.as_slice(), reachable, children);
        let written = write_new_pack(repo, &pack_dir, found, bitmaps_ok, progress)?;
        stats.bitmaps = written.bitmaps;
        stats.pack = Path::new(&written.stem)
            .file_name()
            .map(|n| format!("{}.pack", n.to_string_lossy()));
        new_stem = Some(written.stem);
    }
    Ok(Some((new_stem, list)))
}

/// `objects/pack/sluice-repack.lock`, created exclusively and removed on drop.
struct Lock(PathBuf);

impl Lock {
    fn take(path: &Path) -> Result<Lock, Error> {
        match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(mut f) => {
                let _ = writeln!(f, "{}", std::process::id());
                Ok(Lock(path.to_path_buf()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::Locked(path.to_path_buf()))
            }
            Err(e) => Err(io(path)(e)),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Removes the temporary files of a repack that was killed: with the lock held, no repack is
/// writing them.
fn remove_stale_temps(pack_dir: &Path) {
    let Ok(entries) = fs::read_dir(pack_dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// One existing pack: its path without extension and its index.
struct OldPack {
    stem: PathBuf,
    index: PackIndex<Mmap>,
}

/// The object directory as the repack found it.
struct Snapshot {
    /// Packs to fold into the new one.
    packs: Vec<OldPack>,
    /// Packs with a `.keep` or `.promisor` file.
    kept: Vec<OldPack>,
    /// Loose object ids.
    loose: Vec<ObjectId>,
    /// Ids in kept packs.
    kept_ids: IdSet,
}

impl Snapshot {
    /// Lists the packs and loose objects under `objects_dir` (ids of hash `kind`).
    fn take(objects_dir: &Path, kind: HashKind) -> Result<Snapshot, Error> {
        let pack_dir = objects_dir.join("pack");
        let mut idx_paths: Vec<PathBuf> = fs::read_dir(&pack_dir)
            .map_err(io(&pack_dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "idx"))
            .filter(|p| p.with_extension("pack").exists())
            .collect();
        idx_paths.sort();
        let mut snap = Snapshot {
            packs: Vec::new(),
            kept: Vec::new(),
            loose: loose_ids(objects_dir, kind)?,
            kept_ids: IdSet::default(),
        };
        for idx in idx_paths {
            let index = PackIndex::new(crate::odb::mmap::map(&idx)?, kind)
                .map_err(|e| backend::Error::corrupt(idx.display().to_string(), e.to_string()))?;
            let pack = OldPack {
                stem: idx.with_extension(""),
                index,
            };
            if ["keep", "promisor"]
                .iter()
                .any(|x| idx.with_extension(x).exists())
            {
                snap.kept_ids
                    .extend((0..pack.index.len()).filter_map(|i| pack.index.id_at(i)));
                snap.kept.push(pack);
            } else {
                snap.packs.push(pack);
            }
        }
        Ok(snap)
    }

    /// One pack with a bitmap, nothing loose, no multi-pack-index: repacking would only write
    /// the same again.
    fn already_done(&self, pack_dir: &Path) -> bool {
        self.packs.len() == 1
            && self.loose.is_empty()
            && self.packs[0].stem.with_extension("bitmap").exists()
            && !pack_dir.join("multi-pack-index").exists()
    }

    /// Every id to pack: of the folded packs and loose, not kept.
    fn local_ids(&self) -> PackedIdSet {
        let mut set = PackedIdSet::default();
        for p in &self.packs {
            set.extend((0..p.index.len()).filter_map(|i| p.index.id_at(i)));
        }
        set.extend(self.loose.iter().copied());
        for id in self.kept_ids.iter() {
            set.remove(id);
        }
        set
    }
}

/// The loose objects under `objects_dir` (`xx/yyyy…` files with hex names of ids of `kind`).
fn loose_ids(objects_dir: &Path, kind: HashKind) -> Result<Vec<ObjectId>, Error> {
    let rest_len = kind.len_in_hex() - 2;
    let mut out = Vec::new();
    for fan in fs::read_dir(objects_dir).map_err(io(objects_dir))? {
        let Ok(fan) = fan else { continue };
        let name = fan.file_name();
        let Some(prefix) = name.to_str().filter(|n| n.len() == 2 && is_hex(n)) else {
            continue;
        };
        let Ok(files) = fs::read_dir(fan.path()) else {
            continue;
        };
        for f in files.flatten() {
            let rest = f.file_name();
            let Some(rest) = rest.to_str().filter(|r| r.len() == rest_len && is_hex(r)) else {
                continue; // temporary files of a writer
            };
            if let Ok(id) = kind.id_from_hex(format!("{prefix}{rest}").as_bytes()) {
                out.push(id);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn is_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// What [`collect`] found.
struct Collected {
    /// The objects to pack, in order: reachable ones as upload-pack's walk gives them, then
    /// the rest.
    list: Vec<PackObject>,
    /// How many of `list`, from the first, are reachable.
    reachable: usize,
    /// The walk's record of its trees' entries, as positions in `list`.
    children: Option<TreeChildren>,
}

/// The objects to pack (see [`Collected`]).
fn collect(
    repo: &FsRepository,
    snap: &Snapshot,
    progress: &mut dyn Progress,
) -> Result<Collected, Error> {
    let mut local = snap.local_ids();
    let mut wants: Vec<ObjectId> = repo.refs()?.iter().map(|r| r.id).collect();
    wants.extend(repo.head()?.id);
    wants.sort();
    wants.dedup();
    let opts = WalkOptions {
        shallow: shallow_commits(repo.common_dir()),
        record_children: true,
        ..WalkOptions::default()
    };
    let walk = walk::objects_for_pack(repo, &wants, &[], &opts, progress)?;
    // Objects of alternates and kept packs stay where they are: their positions go, and the
    // trees naming them give their commits no bitmap.
    let mut new_pos = Vec::with_capacity(walk.objects.len());
    let mut list: Vec<PackObject> = Vec::with_capacity(walk.objects.len());
    // Each reachable id leaves `local`, which then holds the rest.
    for o in walk.objects.iter() {
        if local.remove(&o.id) {
            new_pos.push(list.len() as u32);
            list.push(o);
        } else {
            new_pos.push(walk::children::OUTSIDE);
        }
    }
    let children = walk.children.map(|mut c| {
        c.renumber(&new_pos, list.len());
        c
    });
    let reachable = list.len();
    let mut rest: Vec<ObjectId> = local.iter().collect();
    drop(local);
    rest.sort();
    for id in rest {
        let (kind, _) = repo
            .object_header(&id)?
            .ok_or(backend::Error::MissingObject(id))?;
        list.push(PackObject::unnamed(id, kind));
    }
    Ok(Collected {
        list,
        reachable,
        children,
    })
}

/// The commits of `common_dir/shallow` (a shallow repository's boundary): history stops there.
fn shallow_commits(common_dir: &Path) -> IdSet {
    let text = fs::read(common_dir.join("shallow")).unwrap_or_default();
    text.split(|&b| b == b'\n')
        .filter_map(|l| ObjectId::from_hex(l).ok())
        .collect()
}

/// Whether a bitmap may be written: git allows one per repository, so not when a kept pack
/// already has one.
fn bitmaps_possible(snap: &Snapshot) -> bool {
    !snap
        .kept
        .iter()
        .any(|p| p.stem.with_extension("bitmap").exists())
}

/// The pack just written and made visible.
struct Written {
    /// `objects/pack/pack-<checksum>`.
    stem: String,
    bitmaps: usize,
}

/// Writes `list` as the new pack with its `.idx` and (when `bitmaps_ok`) `.bitmap` over its
/// first `reachable` objects, reading no tree `children` recorded; durable and renamed into place
/// (see [`files::write_pack_files`]).
fn write_new_pack(
    repo: &FsRepository,
    pack_dir: &Path,
    (list, reachable, children): (&[PackObject], usize, Option<TreeChildren>),
    bitmaps_ok: bool,
    progress: &mut dyn Progress,
) -> Result<Written, Error> {
    // The same pack.window / pack.depth / pack.windowMemory / pack.deltaCacheSize as
    // upload-pack; like git repack, existing deltas deeper than pack.depth are not reused.
    let search = crate::pack::delta_search::SearchOptions::from_config(repo.config())
        .map_err(backend::Error::from)?;
    let write = WriteOptions {
        ofs_delta: true,
        max_delta_depth: search.depth,
        search,
        keep_stored: true,
        ..WriteOptions::default()
    };
    let tips = ref_commits(repo)?;
    // Read-only like git's, with core.sharedRepository's group bits.
    let shared = repo.shared_perm();
    let finish = |p: &Path| shared.read_only(p);
    let opts = files::FileOptions {
        write,
        bitmap_tips: bitmaps_ok.then_some(tips.as_slice()),
        reachable,
        children,
        max_bitmaps: MAX_BITMAPS,
        finish: &finish,
    };
    let written = files::write_pack_files(repo, pack_dir, list, opts, progress)?;
    Ok(Written {
        stem: written.stem.display().to_string(),
        bitmaps: written.bitmaps,
    })
}

/// The commits the refs and HEAD point at (tags peeled).
fn ref_commits(repo: &FsRepository) -> Result<Vec<ObjectId>, Error> {
    let mut tips: Vec<ObjectId> = repo
        .refs()?
        .iter()
        .map(|r| r.peeled.unwrap_or(r.id))
        .collect();
    tips.extend(repo.head()?.id);
    Ok(tips)
}

/// Removes what the new pack (`new_stem`, holding `list`) replaces: the multi-pack-index, the
/// snapshot's packs (`.idx` first, so readers stop looking before the data goes), and the loose
/// objects that are now packed (here or in a kept pack). Returns (packs, loose objects) removed.
fn remove_old(
    objects_dir: &Path,
    snap: &Snapshot,
    new_stem: Option<&str>,
    list: &[PackObject],
) -> Result<(usize, usize), Error> {
    let pack_dir = objects_dir.join("pack");
    // The MIDX names the old packs; it goes before they do.
    if let Ok(entries) = fs::read_dir(&pack_dir) {
        for e in entries.flatten() {
            let name = e.file_name();
            if name
                .to_str()
                .is_some_and(|n| n.starts_with("multi-pack-index"))
            {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    let mut packs = 0;
    for p in &snap.packs {
        if new_stem.is_some_and(|s| Path::new(s) == p.stem) {
            continue; // the same content was written again under the same name
        }
        remove_if_present(&p.stem.with_extension("idx"))?;
        for ext in COMPANIONS {
            remove_if_present(&p.stem.with_extension(ext))?;
        }
        packs += 1;
    }
    let packed: PackedIdSet = list.iter().map(|o| o.id).collect();
    let mut loose = 0;
    for id in &snap.loose {
        if packed.contains(id) || snap.kept_ids.contains(id) {
            let hex = id.to_hex();
            remove_if_present(&objects_dir.join(&hex[..2]).join(&hex[2..]))?;
            loose += 1;
        }
    }
    // Empty fan-out directories, as prune-packed leaves them (a failure means not empty).
    let mut fans: Vec<String> = snap
        .loose
        .iter()
        .map(|id| id.to_hex()[..2].to_string())
        .collect();
    fans.dedup();
    for fan in fans {
        let _ = fs::remove_dir(objects_dir.join(fan));
    }
    Ok((packs, loose))
}

fn remove_if_present(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path)(e)),
        _ => Ok(()),
    }
}
