//! What a repack writes: which listed packs it replaces and which objects go into the new pack
//! (and into a garbage pack), decided from one snapshot.
//!
//! - Compaction merges the small packs (every listed pack but the largest and the garbage
//!   packs) into one, objects in their stored order, stored deltas reused and no delta search,
//!   as JGit's `DfsPackCompactor` does: cheap enough to run after every burst of pushes.
//! - A full repack writes every object reachable from the refs and HEAD into one pack with a
//!   bitmap, and the unreachable objects of the replaced packs into a garbage pack
//!   (JGit's `UNREACHABLE_GARBAGE`). Garbage packs that have not expired stay listed as they
//!   are; expired ones are replaced, and what of them is still unreachable is dropped.

use super::super::repo::DistRepository;
use super::Error;
use crate::backend::{ObjectStore, Repository};
use crate::hash::{IdSet, ObjectId};
use crate::pack::index::PackIndex;
use crate::progress::Progress;
use crate::walk::{self, PackObject, WalkOptions};

/// Most packs one repack replaces: its transaction compares and unlists each one, within
/// etcd's limit of operations per transaction ([`super::super::kv::MAX_TXN_OPS`]).
pub const MAX_REPLACED: usize = 30;

/// What one repack writes and replaces.
#[derive(Debug, Default)]
pub struct Plan {
    /// The listed packs the new ones replace (their keys are compared and removed).
    pub replaced: Vec<String>,
    /// Objects of the new pack, in the order to write them.
    pub main: Vec<PackObject>,
    /// Of `main`, those reachable from the refs and HEAD (bitmaps cover those).
    pub reachable: IdSet,
    /// Unreachable objects for a new garbage pack.
    pub garbage: Vec<PackObject>,
    /// Expired garbage packs among `replaced`.
    pub expired: Vec<String>,
    /// A full repack: bitmaps and a delta search; otherwise a compaction (neither).
    pub full: bool,
}

/// The ids of listed pack `pack` in the request's view, in pack (offset) order.
fn pack_ids(repo: &DistRepository, pack: &str) -> Result<Vec<ObjectId>, Error> {
    let idx = repo
        .view_dir()
        .join("objects/pack")
        .join(format!("{pack}.idx"));
    let index = PackIndex::new(crate::odb::mmap::map(&idx)?, repo.hash_kind())
        .map_err(|e| crate::backend::Error::corrupt(idx.display().to_string(), e.to_string()))?;
    let mut by_offset: Vec<(u64, ObjectId)> = (0..index.len())
        .filter_map(|i| Some((index.offset_at(i)?, index.id_at(i)?)))
        .collect();
    by_offset.sort_unstable();
    Ok(by_offset.into_iter().map(|(_, id)| id).collect())
}

/// `ids` (deduplicated against `seen`) with their kinds.
fn with_kinds(
    repo: &DistRepository,
    ids: impl IntoIterator<Item = ObjectId>,
    seen: &mut IdSet,
) -> Result<Vec<PackObject>, Error> {
    let mut out = Vec::new();
    for id in ids {
        if !seen.insert(id) {
            continue;
        }
        let (kind, _) = repo
            .object_header(&id)?
            .ok_or(crate::backend::Error::MissingObject(id))?;
        out.push(PackObject::unnamed(id, kind));
    }
    Ok(out)
}

/// The compaction of `repo`'s small packs; `None` when fewer than two.
pub fn compact(repo: &DistRepository) -> Result<Option<Plan>, Error> {
    let snap = repo.snapshot();
    let mut small: Vec<(&String, u64)> = snap
        .packs
        .iter()
        .filter(|(name, _)| !snap.garbage.contains_key(*name))
        .map(|(name, size)| (name, *size))
        .collect();
    // The largest pack (the last full repack's) stays; ties broken by name, so runs agree.
    small.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    // The smallest ones first when there are more than one transaction can replace.
    let small: Vec<String> = small
        .into_iter()
        .skip(1)
        .rev()
        .take(MAX_REPLACED)
        .map(|(n, _)| n.clone())
        .collect();
    if small.len() < 2 {
        return Ok(None);
    }
    let mut seen = IdSet::default();
    let mut main = Vec::new();
    for pack in &small {
        main.extend(with_kinds(repo, pack_ids(repo, pack)?, &mut seen)?);
    }
    Ok(Some(Plan {
        replaced: small,
        main,
        ..Plan::default()
    }))
}

/// The full repack of `repo` at unix time `now`, garbage packs expiring after `garbage_ttl`
/// seconds; `None` when it would write the same pack again.
pub fn full(
    repo: &DistRepository,
    now: u64,
    garbage_ttl: u64,
    progress: &mut dyn Progress,
) -> Result<Option<Plan>, Error> {
    let snap = repo.snapshot();
    let expired: Vec<String> = snap
        .garbage
        .iter()
        .filter(|(name, at)| {
            snap.packs.contains_key(*name) && at.saturating_add(garbage_ttl) <= now
        })
        .map(|(name, _)| name.clone())
        .collect();
    let live_garbage = |name: &String| snap.garbage.contains_key(name) && !expired.contains(name);
    let replaced: Vec<String> = snap
        .packs
        .keys()
        .filter(|n| !live_garbage(n))
        .cloned()
        .collect();
    if replaced.len() > MAX_REPLACED {
        return Err(Error::TooManyPacks(replaced.len()));
    }
    let mut wants: Vec<ObjectId> = repo.refs()?.iter().map(|r| r.id).collect();
    wants.extend(repo.head()?.id);
    wants.sort();
    wants.dedup();
    let walk = walk::objects_for_pack(repo, &wants, &[], &WalkOptions::default(), progress)?;
    let reachable: IdSet = walk.objects.iter().map(|o| o.id).collect();
    let mut seen = reachable.clone();
    let mut garbage = Vec::new();
    let mut replaced_objects = 0;
    for pack in replaced.iter().filter(|p| !expired.contains(p)) {
        let ids = pack_ids(repo, pack)?;
        replaced_objects += ids.len();
        garbage.extend(with_kinds(repo, ids, &mut seen)?);
    }
    let single = replaced.len() == 1 && snap.bitmaps.contains(&replaced[0]);
    if single && expired.is_empty() && garbage.is_empty() && replaced_objects == reachable.len() {
        return Ok(None);
    }
    Ok(Some(Plan {
        replaced,
        main: walk.objects.to_vec(),
        reachable,
        garbage,
        expired,
        full: true,
    }))
}
