//! Orphaned deltas: entries of a stored pack, about to be copied into a new pack in stored order
//! ([`crate::pack::reuse`]), that are stored as deltas against a base the new pack does not carry
//! and (in a thin pack) the client does not have. Copying the pack cannot keep them as they are.
//!
//! C git's `pack-objects` reuses every other entry verbatim and sends exactly these through its
//! delta search (`prepare_pack`: an object whose delta cannot be reused joins the delta list). A
//! clone of the branches and tags of a repository whose stored deltas rest on objects reachable
//! only from `refs/pull/*` (GitHub mirrors) has many: sent whole they made the pack 3.4 times C
//! git's. A `--depth=1` clone has hardly anything else: tokio's leaves 471 of its 980 entries'
//! bases behind the boundary, and only other paths can serve them. This module does what git
//! does, at a cost proportional to the orphans however many:
//!
//! ```text
//!  find: the sent entries stored as deltas against a base left behind
//!    │
//!  pick: each orphan's sketch (sketch.rs) against those of the `window` sent entries on either
//!    │   side of it in git's delta order (kind, name hash); the best when it promises a delta
//!    │
//!  search: the picked orphans are targets among the entries picks link them to
//!    │     (delta_search::find_deltas); the others are sent whole, no delta tried
//!    │
//!  check: a new base whose chain in the new pack leads back to its orphan is dropped
//!    │
//!  NewBases → the pack-order writer writes those orphans as new deltas, the rest whole
//! ```
//!
//! Deviation: git searches the orphans together with the other objects it did not reuse from a
//! bitmap (whole objects of other packs, loose objects); here everything else is in the pack and
//! reused, so only the orphans are targets. The client's objects are not offered as bases, as
//! git's bitmap path offers none (it has no preferred bases). Deviation: git computes a delta
//! against every neighbour in its window; here only against neighbours whose sketch promises one
//! (they look on both sides, where git's window looks back only).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::hash::ObjectId;
use crate::odb::store::{self, ObjectStore};
use crate::odb::Kind;
use crate::pack::delta_search::{self, Bases, Node};
use crate::pack::ewah::Bitmap;
use crate::pack::stored::{EntryBase, StoredPack};
use crate::pack::write::{Error, WriteOptions};
use crate::progress::Progress;
use crate::walk::PackObject;

mod sketch;
use sketch::Sketch;

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

/// Searches new bases for `orphans` (positions of `pack`, from [`find`]) among the other sent
/// entries near them in git's delta order (kind, then name hash); `names` gives an entry's kind
/// and name hash (`None`: unknown, never searched nor a base). An empty result when
/// `opts.search.window` is below 2.
///
/// The cost stays proportional to the orphans however many there are (a `--depth=1` clone's are
/// nearly all its entries): each orphan compares its [`Sketch`] with those of the `window`
/// entries on either side, one pass over each entry's text, and only an orphan with a base
/// that promises a delta ([`PROMISING`]) becomes a target of the delta search, among the
/// entries it and its candidates were linked to. Searching all of tokio's `--depth=1` orphans
/// cost 2.6 times the CPU of sending them whole; nearly all their pairs share nothing.
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
    let order = delta_order(send, orphans, names);
    let picks = pick_bases(repo, pack, &order, orphans, &opts.search)?;
    if picks.is_empty() {
        tracing::debug!(orphans = orphans.len(), "no orphan resembles a sent entry");
        return Ok(NewBases::default());
    }
    let (positions, objects, nodes) = clusters(pack, send, &order, &picks)?;
    let search = delta_search::SearchOptions {
        window: opts.search.window.min(SEARCH_WINDOW),
        ..opts.search.clone()
    };
    let found = delta_search::find_deltas(
        repo,
        Bases {
            objects: &objects,
            edge: &[],
        },
        &nodes,
        &search,
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
        promising = picks.len(),
        candidates = objects.len(),
        rebased = new.len(),
        "orphaned deltas searched"
    );
    Ok(new)
}

/// An orphan whose text a base shares at least this much of (as its sketch estimates) becomes a
/// target of the delta search. git's first delta must be under half the target; a delta copies
/// little less than the shared text, and the estimate errs by about a tenth.
const PROMISING: f64 = 0.3;

/// The delta search's window among the picked orphans and their bases (`pack.window` when
/// smaller). Each group holds orphans and the bases their sketches picked, so a short window
/// still meets those; on git.git's `--depth=1` clone a window of 10 cost a fifth more CPU
/// (1.52 s against 1.26 s) for half a percent of the bytes.
const SEARCH_WINDOW: usize = 4;

/// A sent entry in git's delta order.
#[derive(Debug, Clone, Copy)]
struct Named {
    pos: usize,
    kind: Kind,
    name_hash: u32,
}

/// The sent entries of the orphans' kinds whose name is known, sorted as git sorts its delta
/// list (kind, name hash, both descending; here pack order within one name hash, where git
/// puts larger first): neighbours are the other versions of a path, then paths ending alike.
fn delta_order(
    send: &Bitmap,
    orphans: &[usize],
    names: &dyn Fn(usize) -> Option<(Kind, u32)>,
) -> Vec<Named> {
    let kinds: HashSet<Kind> = orphans
        .iter()
        .filter_map(|&p| names(p))
        .map(|n| n.0)
        .collect();
    let mut order: Vec<Named> = send
        .ones()
        .filter_map(|pos| {
            let (kind, name_hash) = names(pos).filter(|n| kinds.contains(&n.0))?;
            Some(Named {
                pos,
                kind,
                name_hash,
            })
        })
        .collect();
    order.sort_unstable_by(|a, b| {
        (b.kind.pack_type(), b.name_hash, a.pos).cmp(&(a.kind.pack_type(), a.name_hash, b.pos))
    });
    order
}

/// What is known of each entry of a [`delta_order`] so far: its size, read from its header
/// first, and its sketch, read only when some orphan's size allows it as a base (most
/// neighbours are ruled out by size alone, and reading one may inflate a chain of deltas).
struct Sketches<'a> {
    repo: &'a dyn ObjectStore,
    pack: &'a dyn StoredPack,
    big: u64,
    by_index: BTreeMap<usize, Known>,
    /// Objects read and sketched, and their bytes (for the debug log).
    read: (usize, u64),
}

/// One entry's id, its size (`None`: too small or too large to be a delta's target or base,
/// as the delta search leaves them out) and its sketch once read.
#[derive(Default)]
struct Known {
    id: Option<ObjectId>,
    size: Option<u64>,
    sketch: Option<Sketch>,
}

impl Sketches<'_> {
    /// The size of `order[i]` (`None` when out of the searched range), read on first use.
    fn size(&mut self, order: &[Named], i: usize) -> Result<Option<u64>, Error> {
        Ok(self.known(order, i)?.size)
    }

    /// The sketch of `order[i]`, of a size in the searched range, read on first use.
    fn sketch(&mut self, order: &[Named], i: usize) -> Result<&Sketch, Error> {
        self.known(order, i)?;
        let Sketches {
            repo,
            by_index,
            read,
            ..
        } = self;
        let known = by_index.entry(i).or_default();
        if known.sketch.is_none() {
            let data = match known.id {
                Some(id) => {
                    repo.read_object(&id)?
                        .ok_or(store::Error::MissingObject(id))?
                        .data
                }
                None => Vec::new(),
            };
            read.0 += 1;
            read.1 += data.len() as u64;
            known.sketch = Some(Sketch::of(&data));
        }
        Ok(known.sketch.get_or_insert_with(Sketch::default))
    }

    /// What is known of `order[i]`, its id and size read on first use.
    fn known(&mut self, order: &[Named], i: usize) -> Result<&mut Known, Error> {
        let (repo, pack, big) = (self.repo, self.pack, self.big);
        match self.by_index.entry(i) {
            std::collections::btree_map::Entry::Occupied(o) => Ok(o.into_mut()),
            std::collections::btree_map::Entry::Vacant(v) => {
                let mut known = Known::default();
                if let Some(e) = order.get(i) {
                    let id = id_at(pack, e.pos)?;
                    let size = match repo.object_header(&id)? {
                        Some((_, size)) => size,
                        None => return Err(Error::Backend(store::Error::MissingObject(id))),
                    };
                    known.id = Some(id);
                    known.size = Some(size).filter(|s| (MIN_SIZE..=big).contains(s));
                }
                Ok(v.insert(known))
            }
        }
    }

    /// Forgets the entries before index `i` (no later orphan compares with them).
    fn forget_before(&mut self, i: usize) {
        self.by_index = self.by_index.split_off(&i);
    }
}

/// Objects smaller than this are neither targets nor bases (as in the delta search).
const MIN_SIZE: u64 = 50;

/// For each orphan of `order`, the neighbour within `opts.window` on either side (of its kind,
/// of a size git's size checks allow) whose sketch holds the largest share of the orphan's,
/// when that share is [`PROMISING`]: (orphan, base) as indexes of `order`.
fn pick_bases(
    repo: &dyn ObjectStore,
    pack: &dyn StoredPack,
    order: &[Named],
    orphans: &[usize],
    opts: &delta_search::SearchOptions,
) -> Result<Vec<(usize, usize)>, Error> {
    let window = opts.window;
    let mut sketches = Sketches {
        repo,
        pack,
        big: opts.big_file_threshold,
        by_index: BTreeMap::new(),
        read: (0, 0),
    };
    let mut picks = Vec::new();
    for (i, e) in order.iter().enumerate() {
        if orphans.binary_search(&e.pos).is_err() {
            continue;
        }
        sketches.forget_before(i.saturating_sub(window));
        let Some(size) = sketches.size(order, i)? else {
            continue;
        };
        let mut best: Option<(f64, usize)> = None;
        let mut target: Option<Sketch> = None;
        let near = i.saturating_sub(window)..(i + window + 1).min(order.len());
        for j in near.filter(|&j| j != i && order[j].kind == e.kind) {
            let Some(base_size) = sketches.size(order, j)? else {
                continue;
            };
            // git's try_delta: a base less than half the target, or 32 times larger, is not tried.
            if size.saturating_sub(base_size) >= size / 2 || size < base_size / 32 {
                continue;
            }
            if target.is_none() {
                target = Some(sketches.sketch(order, i)?.clone());
            }
            let target = target.get_or_insert_with(Sketch::default);
            let share = target.contained_in(sketches.sketch(order, j)?);
            if share >= PROMISING && best.is_none_or(|(s, _)| share > s) {
                best = Some((share, j));
            }
        }
        if let Some((_, j)) = best {
            picks.push((i, j));
        }
    }
    tracing::debug!(
        objects = sketches.read.0,
        bytes = sketches.read.1,
        "orphans and neighbours sketched"
    );
    Ok(picks)
}

/// The search's input for `picks`: each orphan with its picked base and whatever those are
/// linked to by other picks form one group (their name hash in the search is the group's
/// first index in `order`), so that the window meets exactly them. Returns pack positions in
/// pack order, the search's objects and nodes, parallel. The orphans picked for are targets;
/// every other entry is a base only, with its stored base when that is sent and listed too.
fn clusters(
    pack: &dyn StoredPack,
    send: &Bitmap,
    order: &[Named],
    picks: &[(usize, usize)],
) -> Result<(Vec<usize>, Vec<PackObject>, Vec<Node>), Error> {
    // Union-find over the indexes of `order` that picks name.
    let mut parent: HashMap<usize, usize> = HashMap::new();
    for &(t, b) in picks {
        let (rt, rb) = (root(&mut parent, t), root(&mut parent, b));
        parent.entry(rt).or_insert(rt);
        parent.entry(rb).or_insert(rb);
        if rt != rb {
            parent.insert(rt.max(rb), rt.min(rb));
        }
    }
    let targets: HashSet<usize> = picks.iter().map(|&(t, _)| t).collect();
    let mut members: Vec<(usize, usize)> = parent.keys().map(|&i| (order[i].pos, i)).collect();
    members.sort_unstable();
    let positions: Vec<usize> = members.iter().map(|&(pos, _)| pos).collect();
    let mut objects = Vec::with_capacity(members.len());
    let mut nodes = Vec::with_capacity(members.len());
    for &(pos, i) in &members {
        let group = root(&mut parent, i);
        objects.push(PackObject {
            id: id_at(pack, pos)?,
            kind: order[i].kind,
            name_hash: u32::try_from(group).unwrap_or(u32::MAX),
        });
        let node = if targets.contains(&i) {
            Node {
                target: true,
                in_pack: true,
                ..Node::default()
            }
        } else {
            // `positions` is in pack order: the stored base's index, if listed.
            let reused_base = match pack.entry(pos)?.base {
                EntryBase::InPack { pos: b, .. } if send.get(b) => positions
                    .binary_search(&b)
                    .ok()
                    .and_then(|x| u32::try_from(x).ok()),
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
    Ok((positions, objects, nodes))
}

/// The representative of `x`'s group in the union-find `parent` (an index absent from it is
/// its own), halving the path walked.
fn root(parent: &mut HashMap<usize, usize>, mut x: usize) -> usize {
    loop {
        let p = parent.get(&x).copied().unwrap_or(x);
        if p == x {
            return x;
        }
        let grand = parent.get(&p).copied().unwrap_or(p);
        parent.insert(x, grand);
        x = grand;
    }
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
