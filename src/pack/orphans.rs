//! Orphaned deltas: entries of a stored pack, about to be copied into a new pack in stored order
//! ([`crate::pack::reuse`]), that are stored as deltas against a base the new pack does not carry
//! and (in a thin pack) the client does not have. Copying the pack cannot keep them as they are.
//!
//! C git's `pack-objects` reuses every other entry verbatim and sends exactly these through its
//! delta search (`prepare_pack`: an object whose delta cannot be reused joins the delta list). A
//! clone of the branches and tags of a repository whose stored deltas rest on objects reachable
//! only from `refs/pull/*` (GitHub mirrors) has many: sent whole they made the pack 3.4 times C
//! git's. This module does what git does, at a cost proportional to the orphans:
//!
//! ```text
//!  find: the sent entries stored as deltas against a base left behind
//!    │
//!  search: each orphan a target among the sent objects of its (kind, name hash) group, the
//!    │     window nearest it on either side in pack order (delta_search::find_deltas)
//!    │
//!  check: a new base whose chain in the new pack leads back to its orphan is dropped
//!    │
//!  NewBases → the pack-order writer writes those orphans as new deltas, the rest whole
//! ```
//!
//! Deviation: git searches the orphans together with the other objects it did not reuse from a
//! bitmap (whole objects of other packs, loose objects); here everything else is in the pack and
//! reused, so only the orphans are targets. The client's objects are not offered as bases, as
//! git's bitmap path offers none (it has no preferred bases).

use std::collections::{HashMap, HashSet};

use crate::hash::ObjectId;
use crate::odb::store::{self, ObjectStore};
use crate::odb::Kind;
use crate::pack::delta_search::{self, Bases, Node};
use crate::pack::ewah::Bitmap;
use crate::pack::stored::{EntryBase, StoredPack};
use crate::pack::write::{Error, WriteOptions};
use crate::progress::Progress;
use crate::walk::PackObject;

/// Longest chain walked when checking a new base (a longer one counts as a cycle: the orphan is
/// then sent whole).
const CHAIN_LIMIT: u32 = 4096;

/// A new delta base for an orphan: a position of the same pack that is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBase {
    /// Pack position of the base.
    pub base: usize,
    /// The delta, zlib-compressed, with its inflated size; `None` when the search's cache was
    /// full (the writer computes it again).
    pub cached: Option<(u64, Vec<u8>)>,
}

/// The orphans that got a new base, by pack position. Their chains in the new pack are acyclic:
/// the writer may write each as a delta against its new base.
#[derive(Debug, Default)]
pub struct NewBases {
    by_pos: HashMap<usize, NewBase>,
}

impl NewBases {
    /// The new base of the orphan at `pos`, if the search found one.
    pub fn get(&self, pos: usize) -> Option<&NewBase> {
        self.by_pos.get(&pos)
    }

    /// How many orphans got a new base.
    pub fn len(&self) -> usize {
        self.by_pos.len()
    }

    /// Whether none did.
    pub fn is_empty(&self) -> bool {
        self.by_pos.is_empty()
    }
}

/// Whether the stored delta base `base` of a sent entry survives in the new pack: it is sent,
/// or (when `thin`) the client has it. The pack-order writer keeps exactly these deltas.
pub fn base_survives(base: EntryBase, send: &Bitmap, have: &Bitmap, thin: bool) -> bool {
    match base {
        EntryBase::None => true,
        EntryBase::InPack { pos, .. } => send.get(pos) || (thin && have.get(pos)),
        EntryBase::Outside(_) => false,
    }
}

/// The positions in `send` whose stored delta base does not survive ([`base_survives`]), in
/// pack order. Reads no entry when every entry of the pack is sent or had: a full clone maps
/// none of the pack for it (git.git: 150 MB less resident).
pub fn find(
    pack: &dyn StoredPack,
    send: &Bitmap,
    have: &Bitmap,
    thin: bool,
) -> Result<Vec<usize>, Error> {
    let mut covered = send.clone();
    covered.or(have);
    if covered.count() == pack.object_count() as u64 {
        return Ok(Vec::new());
    }
    let mut orphans = Vec::new();
    for pos in send.ones() {
        if !base_survives(pack.entry(pos)?.base, send, have, thin) {
            orphans.push(pos);
        }
    }
    Ok(orphans)
}

/// Searches new bases for `orphans` (positions of `pack`, from [`find`]) among the other entries
/// at `send` of the same kind and name hash; `names` gives an entry's kind and name hash (`None`:
/// unknown, never searched nor a base). An empty result when `opts.search.window` is below 2.
pub fn search(
    repo: &dyn ObjectStore,
    pack: &dyn StoredPack,
    send: &Bitmap,
    orphans: &[usize],
    names: &dyn Fn(usize) -> Option<(Kind, u32)>,
    opts: &WriteOptions,
    progress: &mut dyn Progress,
) -> Result<NewBases, Error> {
    if orphans.is_empty() || opts.search.window < 2 {
        return Ok(NewBases::default());
    }
    let (positions, objects) = groups_of(pack, send, orphans, names)?;
    let nodes = nodes(pack, send, orphans, &positions)?;
    let found = delta_search::find_deltas(
        repo,
        Bases {
            objects: &objects,
            edge: &[],
        },
        &nodes,
        &opts.search,
        opts.compression,
        progress,
    )?;
    let mut new = NewBases::default();
    for (at, d) in found {
        let (Some(&pos), Some(&base)) =
            (positions.get(at as usize), positions.get(d.base as usize))
        else {
            continue;
        };
        new.by_pos.insert(
            pos,
            NewBase {
                base,
                cached: d.cached,
            },
        );
    }
    drop_cycles(pack, send, &mut new)?;
    tracing::debug!(
        orphans = orphans.len(),
        candidates = objects.len(),
        rebased = new.len(),
        "orphaned deltas searched"
    );
    Ok(new)
}

/// The sent entries in the (kind, name hash) groups of the orphans, in pack order: their
/// positions, and the same as the search's object list.
fn groups_of(
    pack: &dyn StoredPack,
    send: &Bitmap,
    orphans: &[usize],
    names: &dyn Fn(usize) -> Option<(Kind, u32)>,
) -> Result<(Vec<usize>, Vec<PackObject>), Error> {
    let keys: HashSet<(Kind, u32)> = orphans.iter().filter_map(|&p| names(p)).collect();
    let mut positions = Vec::new();
    let mut objects = Vec::new();
    for pos in send.ones() {
        let Some((kind, name_hash)) = names(pos).filter(|k| keys.contains(k)) else {
            continue;
        };
        let id = id_at(pack, pos)?;
        positions.push(pos);
        objects.push(PackObject {
            id,
            kind,
            name_hash,
        });
    }
    Ok((positions, objects))
}

/// The search's view of `positions`: the orphans are targets, every other entry a base only,
/// with its stored base when that is in the list too (so the search keeps chains acyclic and
/// within depth where they stay inside a group, as git's chains mostly do).
fn nodes(
    pack: &dyn StoredPack,
    send: &Bitmap,
    orphans: &[usize],
    positions: &[usize],
) -> Result<Vec<Node>, Error> {
    let at: HashMap<usize, u32> = positions
        .iter()
        .enumerate()
        .map(|(i, &p)| (p, i as u32))
        .collect();
    let mut nodes = Vec::with_capacity(positions.len());
    for &pos in positions {
        let node = if orphans.binary_search(&pos).is_ok() {
            Node {
                target: true,
                in_pack: true,
                ..Node::default()
            }
        } else {
            let reused_base = match pack.entry(pos)?.base {
                EntryBase::InPack { pos: b, .. } if send.get(b) => at.get(&b).copied(),
                _ => None,
            };
            Node {
                reused_base,
                in_pack: true,
                ..Node::default()
            }
        };
        nodes.push(node);
    }
    Ok(nodes)
}

/// Drops every new base whose chain in the new pack leads back to its orphan (or does not end):
/// the search sees only the chains inside a group, and its threads not each other's choices.
/// A chain follows new bases, then stored bases that are sent; it ends at a whole entry, one the
/// client has, or an orphan sent whole.
fn drop_cycles(pack: &dyn StoredPack, send: &Bitmap, new: &mut NewBases) -> Result<(), Error> {
    let mut order: Vec<usize> = new.by_pos.keys().copied().collect();
    order.sort_unstable();
    for orphan in order {
        let Some(first) = new.get(orphan).map(|n| n.base) else {
            continue;
        };
        let mut x = first;
        let mut steps = 0;
        let cycle = loop {
            if x == orphan || steps > CHAIN_LIMIT {
                break true;
            }
            steps += 1;
            let next = match new.get(x) {
                Some(n) => Some(n.base),
                None => match pack.entry(x)?.base {
                    EntryBase::InPack { pos, .. } if send.get(pos) => Some(pos),
                    _ => None,
                },
            };
            match next {
                Some(n) => x = n,
                None => break false,
            }
        };
        if cycle {
            new.by_pos.remove(&orphan);
        }
    }
    Ok(())
}

/// The id at `pos`, which must exist.
fn id_at(pack: &dyn StoredPack, pos: usize) -> Result<ObjectId, Error> {
    pack.id_at(pos).ok_or_else(|| {
        Error::Backend(store::Error::corrupt(
            "pack reverse index".to_string(),
            format!("no object at position {pos}"),
        ))
    })
}
