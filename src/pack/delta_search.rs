//! The delta search (git pack-objects' `find_deltas`): for objects that would otherwise be written
//! whole, find a base among the pack's other objects and keep the delta.
//!
//! Data flow: the writer describes every object of the pack ([`Node`]: kind, name hash, whether it
//! is a *target* — no reusable stored form — and the in-pack base of a reused stored delta). The
//! search picks candidates, sorts them as git does (kind, name hash, bases-only first, size
//! descending, walk order), slides a window of the `window - 1` previous candidates over the list
//! and tries each against every target, keeping the smallest delta. Only targets are searched:
//! objects reused from storage keep their stored form, so a fully packed repository costs nothing
//! here. Reused objects still serve as bases (the packed previous version of a file that was
//! pushed loose), like git's preferred bases.
//!
//! For a thin pack the writer also passes *edge bases* (git's preferred bases,
//! [`crate::walk::preferred_bases`]): objects the client has at the paths of the objects sent.
//! They are bases only — never targets, never written — and sort with the pack's objects of the
//! same kind and name hash, so a sent file meets the client's previous version of it. A delta
//! against one names a base outside the pack (a REF_DELTA the client completes); positions from
//! `objects.len()` on address them. They have depth 0: the client holds them whole or resolves
//! them itself.
//!
//! Chains stay acyclic and within `depth`: the search keeps each object's base (reused or new)
//! and the height of the chains resting on it, and accepts a base only if the walk down from it
//! does not meet the target and `depth(base) + 1 + height(target) <= depth`.
//!
//! Memory is bounded by the window (at most `window - 1` objects with their block indexes, and
//! `window_memory` bytes when set) and by `cache_size`: chosen deltas are kept zlib-compressed
//! until written, up to that many bytes; beyond it only the choice of base is kept and the writer
//! recomputes the delta (git's `pack.deltaCacheSize` does the same).
//! The sorted candidates are cut into `threads` runs of whole (kind, path) groups searched at
//! once, as git's `ll_find_deltas` does.
//! Deviation: reused objects are bases only near a target of the same name
//! hash (the `window` nearest on each side in walk order), so a large packed repository with a
//! few loose objects reads few packed objects.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::odb::store::{self, ObjectStore};
use crate::odb::Kind;
use crate::pack::delta_create::DeltaIndex;
use crate::progress::Progress;
use crate::walk::PackObject;

/// Objects smaller than this are never deltified nor used as bases (git's limit: a delta header
/// and one instruction would not save anything).
const MIN_SIZE: u64 = 50;
/// Longest chain walk before a chain is treated as unusable (guards against stored cycles).
const WALK_LIMIT: u32 = 4096;
/// No base marker in [`Graph::base`].
const NONE: u32 = u32::MAX;

/// Why the search failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository failed.
    #[error(transparent)]
    Backend(#[from] store::Error),
    /// Compressing a delta failed.
    #[error("compressing a delta: {0}")]
    Io(#[from] std::io::Error),
}

/// How hard to search (git's `pack.window`, `pack.depth`, `pack.windowMemory`,
/// `pack.deltaCacheSize`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchOptions {
    /// Candidates in the window, the target included (git's default 10; below 2 nothing is tried).
    pub window: usize,
    /// Longest delta chain (git's default 50).
    pub depth: u32,
    /// Most bytes the window may hold (objects and their indexes); 0 = no limit beyond `window`.
    pub window_memory: u64,
    /// Most bytes of compressed deltas kept until written; more are recomputed when written.
    pub cache_size: u64,
    /// Objects larger than this are neither deltified nor used as bases, so none is ever held
    /// whole in memory (`core.bigFileThreshold`, git's default 512 MiB).
    pub big_file_threshold: u64,
    /// Threads searching at once (git's `pack.threads`; 0, the default: one per core, the cores
    /// asked only when the candidates are enough for two runs): the sorted candidates are cut
    /// into that many runs of whole (kind, path) groups, each searched with its own window.
    pub threads: usize,
}

impl SearchOptions {
    /// The limits from a repository's config: `pack.window` (10), `pack.depth` (50, and at most
    /// 4095 as in git), `pack.windowMemory` (0 = unlimited) and `pack.deltaCacheSize` (256 MiB).
    /// Negative values count as 0 (for the window: no search). Deviation: a
    /// `pack.deltaCacheSize` of 0 keeps no delta (git: no limit), since a server's memory must
    /// stay bounded; deltas not kept are recomputed when written. Shared by upload-pack and
    /// `sluice repack`.
    pub fn from_config(
        config: &crate::git_config::GitConfig,
    ) -> Result<Self, crate::git_config::Error> {
        let int = |key: &str| -> Result<Option<u64>, crate::git_config::Error> {
            Ok(config.get_i64(key)?.map(|v| v.max(0) as u64))
        };
        let d = SearchOptions::default();
        Ok(SearchOptions {
            window: int("pack.window")?.map_or(d.window, |v| v.min(1 << 16) as usize),
            depth: int("pack.depth")?.map_or(d.depth, |v| v.min(4095) as u32),
            window_memory: int("pack.windowMemory")?.unwrap_or(d.window_memory),
            cache_size: int("pack.deltaCacheSize")?.unwrap_or(d.cache_size),
            big_file_threshold: config.big_file_threshold()?,
            threads: match int("pack.threads")? {
                Some(n) if n > 0 => (n as usize).min(crate::limits::cores() * 4),
                _ => d.threads,
            },
        })
    }
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            window: 10,
            depth: 50,
            window_memory: 0,
            cache_size: 256 << 20,
            big_file_threshold: 512 << 20,
            threads: 0,
        }
    }
}

/// One object of the pack as the search sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Node {
    /// Would be written whole and compressed here: worth searching a delta for.
    pub target: bool,
    /// Position (in the pack's object list) of the base of its reused stored delta.
    pub reused_base: Option<u32>,
    /// Stored in the repository's main pack ([`crate::backend::Repository::reuse_pack`]).
    pub in_pack: bool,
    /// Stored whole in the main pack: whoever wrote that pack already found no delta for it
    /// against the objects beside it there, so only bases from elsewhere (the client's, loose
    /// objects, other packs) are tried (git's `try_delta`: "a delta that we discarded on an
    /// earlier try").
    pub whole_in_pack: bool,
}

/// A delta chosen for a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelta {
    /// Position of the base: in the pack's object list, or from its length on, in the edge bases
    /// (see [`Bases::edge_base`]).
    pub base: u32,
    /// The delta, zlib-compressed, with its inflated size; `None` when the cache was full (the
    /// writer recomputes it).
    pub cached: Option<(u64, Vec<u8>)>,
}

/// Bases and chain heights of every object (reused and new deltas together).
#[derive(Clone)]
struct Graph {
    base: Vec<u32>,
    /// Longest chain of objects resting on this one.
    height: Vec<u16>,
}

impl Graph {
    /// The graph of `nodes` followed by `edge` base-less edge bases (depth 0).
    fn new(nodes: &[Node], edge: usize) -> Self {
        let base: Vec<u32> = nodes
            .iter()
            .map(|n| n.reused_base.unwrap_or(NONE))
            .chain(std::iter::repeat(NONE).take(edge))
            .collect();
        let mut g = Graph {
            height: vec![0; base.len()],
            base,
        };
        for p in 0..g.base.len() {
            g.raise_heights_below(p as u32, 1);
        }
        g
    }

    /// Records that a chain of `h` objects rests on the base of `p` (and so on down).
    fn raise_heights_below(&mut self, p: u32, mut h: u16) {
        let mut x = self.base.get(p as usize).copied().unwrap_or(NONE);
        let mut steps = 0;
        while let Some(slot) = self.height.get_mut(x as usize) {
            if *slot >= h || steps > WALK_LIMIT {
                return;
            }
            *slot = h;
            h = h.saturating_add(1);
            x = self.base[x as usize];
            steps += 1;
        }
    }

    /// Depth of `p`'s chain, or `None` when the chain reaches `avoid` (a cycle if `avoid` took
    /// `p` as its base) or does not end.
    fn depth_avoiding(&self, p: u32, avoid: u32) -> Option<u32> {
        let mut x = p;
        let mut d = 0;
        loop {
            if x == avoid {
                return None;
            }
            match self.base.get(x as usize) {
                Some(&b) if b != NONE => {
                    x = b;
                    d += 1;
                    if d > WALK_LIMIT {
                        return None;
                    }
                }
                _ => return Some(d),
            }
        }
    }

    fn set_base(&mut self, p: u32, base: u32) {
        self.base[p as usize] = base;
        let h = self.height[p as usize].saturating_add(1);
        self.raise_heights_below(p, h);
    }
}

/// One candidate in the window: its size, and its data and block index once a target tried it
/// (git's `try_delta` reads neither side before the size checks pass: most candidates of a thin
/// fetch are never tried, and reading one means resolving its delta chain).
struct Slot {
    pos: u32,
    kind: Kind,
    size: u64,
    data: Data,
}

/// The contents of a candidate, read when first needed.
enum Data {
    /// Not read yet.
    Unread,
    /// Read, not indexed.
    Read(Vec<u8>),
    /// Read and indexed: it served as a base (most window entries never do).
    Indexed(DeltaIndex),
    /// An edge base the repository turned out not to have, or not of the kind named: never a
    /// base.
    Unusable,
}

impl Slot {
    fn memory(&self) -> u64 {
        match &self.data {
            Data::Indexed(i) => i.memory() as u64,
            Data::Read(d) => d.len() as u64,
            Data::Unread | Data::Unusable => 0,
        }
    }

    /// The block index, reading the object and building the index on first use; `None` for an
    /// unusable edge base.
    fn index(&mut self, read: &Reader<'_>) -> Result<Option<&DeltaIndex>, Error> {
        if let Data::Unread = self.data {
            self.data = read.load(self.pos)?;
        }
        if let Data::Read(d) = &mut self.data {
            self.data = Data::Indexed(DeltaIndex::new(std::mem::take(d)));
        }
        Ok(match &self.data {
            Data::Indexed(i) => Some(i),
            _ => None,
        })
    }
}

/// Reads candidates' contents for the search.
struct Reader<'a> {
    repo: &'a dyn ObjectStore,
    bases: Bases<'a>,
}

impl Reader<'_> {
    /// The contents of the object at `pos`: an object of the pack must exist; an edge base is
    /// only a chance of a smaller pack, so a missing one, or one of another kind than its tree
    /// entry names (a delta against it would resolve to that kind), is [`Data::Unusable`].
    fn load(&self, pos: u32) -> Result<Data, Error> {
        let Some(object) = self.bases.get(pos) else {
            return Ok(Data::Unusable);
        };
        let is_edge = self.bases.edge_base(pos).is_some();
        Ok(match self.repo.read_object(&object.id)? {
            Some(o) if is_edge && o.kind != object.kind => Data::Unusable,
            Some(o) => Data::Read(o.data),
            None if is_edge => Data::Unusable,
            None => return Err(store::Error::MissingObject(object.id).into()),
        })
    }
}

/// A candidate before sorting.
struct Candidate {
    /// Position in [`Bases`].
    pos: u32,
    kind: Kind,
    name_hash: u32,
    target: bool,
    size: u64,
}

/// The pack's objects, then the edge bases, addressed by one position (`u32`, as in [`Graph`]).
#[derive(Clone, Copy)]
pub struct Bases<'a> {
    /// The objects of the pack.
    pub objects: &'a [PackObject],
    /// Objects the client has that may serve as bases (empty unless the pack is thin).
    pub edge: &'a [PackObject],
}

impl<'a> Bases<'a> {
    /// The object at `pos`.
    fn get(&self, pos: u32) -> Option<&'a PackObject> {
        let pos = pos as usize;
        match pos.checked_sub(self.objects.len()) {
            None => self.objects.get(pos),
            Some(e) => self.edge.get(e),
        }
    }

    /// The edge base at `pos`, or `None` when `pos` is in the pack.
    pub fn edge_base(&self, pos: u32) -> Option<&'a PackObject> {
        (pos as usize)
            .checked_sub(self.objects.len())
            .and_then(|e| self.edge.get(e))
    }
}

/// Finds deltas for the targets among `nodes` (parallel to `bases.objects`), trying as bases the
/// pack's objects and `bases.edge`; returns them by position. `compression` is the zlib level
/// for cached deltas.
pub fn find_deltas(
    repo: &dyn ObjectStore,
    bases: Bases<'_>,
    nodes: &[Node],
    opts: &SearchOptions,
    compression: u32,
    progress: &mut dyn Progress,
) -> Result<HashMap<u32, NewDelta>, Error> {
    if opts.window < 2 || opts.depth == 0 || !nodes.iter().any(|n| n.target) {
        return Ok(HashMap::new());
    }
    let mut list = candidates(repo, bases, nodes, opts.window, opts.big_file_threshold)?;
    // git's type_size_sort: kind, name hash (both descending), bases-only first, larger first,
    // then walk order (newest first).
    list.sort_by(|a, b| {
        (b.kind.pack_type(), b.name_hash, a.target, b.size, a.pos).cmp(&(
            a.kind.pack_type(),
            a.name_hash,
            b.target,
            a.size,
            b.pos,
        ))
    });
    let total = list.iter().filter(|c| c.target).count() as u64;
    let graph = Graph::new(nodes, bases.edge.len());
    let segments = segments(&list, opts.threads, total, opts.window);
    let share = SearchOptions {
        cache_size: opts.cache_size / segments.len().max(1) as u64,
        ..opts.clone()
    };
    // Each run of groups is searched with its own window and its own copy of the chains (a
    // thread done with its run takes the second half of the longest one left, see [`Runs`]): a
    // delta chosen in one run is not seen by the other's depth and cycle checks, which could
    // only matter through a stored delta between two paths; the writer writes a cycle's last
    // object whole, so the pack stays valid.
    let runs = Runs::new(&list, &segments, opts.window);
    let done = AtomicU64::new(0);
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = (1..segments.len())
            .map(|t| {
                let (graph, share, runs, done) = (graph.clone(), &share, &runs, &done);
                s.spawn(move || {
                    let mut quiet = crate::progress::Discard;
                    let mut report = Report {
                        progress: &mut quiet,
                        done,
                        total,
                    };
                    search_run(
                        repo,
                        bases,
                        nodes,
                        runs,
                        t,
                        graph,
                        share,
                        compression,
                        &mut report,
                    )
                })
            })
            .collect();
        let mut report = Report {
            progress,
            done: &done,
            total,
        };
        let mut results = vec![search_run(
            repo,
            bases,
            nodes,
            &runs,
            0,
            graph,
            &share,
            compression,
            &mut report,
        )];
        for h in handles {
            results.push(h.join().unwrap_or_else(|_| Ok(HashMap::new())));
        }
        results
    });
    let mut found = HashMap::new();
    for r in results {
        found.extend(r?);
    }
    progress.finish("Compressing objects", total, Some(total));
    Ok(found)
}

/// Cuts the sorted `list` into at most `threads` runs `(start, end)` holding about as many
/// targets each, every cut between two (kind, name hash) groups; one run when there are too
/// few targets to be worth a thread: as git's `ll_find_deltas`, a run holds at least twice
/// the `window` (a small fetch's hundred objects are searched on two cores, as git does).
/// `threads` 0 is one per core, asked only when there are targets for two runs: asking reads
/// the cgroup's files, which a fetch a few commits behind (one run) does without.
fn segments(
    list: &[Candidate],
    threads: usize,
    targets: u64,
    window: usize,
) -> Vec<(usize, usize)> {
    let min_per_thread = 2 * window.max(1) as u64;
    let most = targets / min_per_thread;
    let threads = match threads {
        0 if most >= 2 => crate::limits::cores(),
        0 => 1,
        n => n,
    };
    let n = (threads as u64).min(most).max(1);
    let mut out = Vec::new();
    let (mut start, mut seen) = (0, 0u64);
    for (i, c) in list.iter().enumerate() {
        let next_group = list
            .get(i + 1)
            .is_none_or(|d| (d.kind, d.name_hash) != (c.kind, c.name_hash));
        seen += u64::from(c.target);
        if next_group && out.len() + 1 < n as usize && seen * n >= targets * (out.len() as u64 + 1)
        {
            out.push((start, i + 1));
            start = i + 1;
        }
    }
    out.push((start, list.len()));
    out
}

/// The runs of sorted candidates the threads search, as git's `ll_find_deltas` shares them: each
/// thread takes candidates from its own run, and a thread whose run is done takes the second
/// half of the longest run left (cut between two (kind, name hash) groups), so that one thread
/// holding the costly paths does not leave the other core idle.
struct Runs<'l> {
    list: &'l [Candidate],
    /// Per thread: the next candidate and the end of its run.
    ranges: Vec<Mutex<(usize, usize)>>,
    /// Runs shorter than this are not split (git: twice the window).
    min_steal: usize,
}

impl<'l> Runs<'l> {
    fn new(list: &'l [Candidate], segments: &[(usize, usize)], window: usize) -> Self {
        Runs {
            list,
            ranges: segments.iter().map(|&r| Mutex::new(r)).collect(),
            min_steal: 2 * window.max(1),
        }
    }

    /// Thread `t`'s next candidate, and whether it starts a run taken from another thread (the
    /// window holds nothing of use then); `None` when no work is left to take.
    fn next(&self, t: usize) -> Option<(&'l Candidate, bool)> {
        {
            let mut own = lock(self.ranges.get(t)?);
            if own.0 < own.1 {
                own.0 += 1;
                return self.list.get(own.0 - 1).map(|c| (c, false));
            }
        }
        let (start, end) = self.steal(t)?;
        *lock(&self.ranges[t]) = (start + 1, end);
        self.list.get(start).map(|c| (c, true))
    }

    /// Cuts the second half off the longest run of another thread; the range taken.
    fn steal(&self, t: usize) -> Option<(usize, usize)> {
        let remaining = |v: usize| {
            let r = lock(&self.ranges[v]);
            r.1.saturating_sub(r.0)
        };
        let victim = (0..self.ranges.len())
            .filter(|&v| v != t)
            .max_by_key(|&v| remaining(v))?;
        let mut r = lock(&self.ranges[victim]);
        let (start, end) = *r;
        if end.saturating_sub(start) < self.min_steal {
            return None;
        }
        let group = |c: &Candidate| (c.kind, c.name_hash);
        let cut = (start + (end - start) / 2..end)
            .find(|&k| k > start && group(&self.list[k - 1]) != group(&self.list[k]))?;
        r.1 = cut;
        Some((cut, end))
    }
}

/// Locks `m`, ignoring poisoning (a panicking search thread ends the search anyway).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Progress shared by the search threads: each counts into `done`; only the first one's
/// `progress` shows it.
struct Report<'a> {
    progress: &'a mut dyn Progress,
    done: &'a AtomicU64,
    total: u64,
}

impl Report<'_> {
    fn one_done(&mut self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if done % 64 == 0 {
            self.progress
                .update("Compressing objects", done, Some(self.total));
        }
    }
}

/// The window search over one run of sorted candidates, with `graph` as the chains known so
/// far; the deltas chosen, by position.
#[allow(clippy::too_many_arguments)]
fn search_run(
    repo: &dyn ObjectStore,
    bases: Bases<'_>,
    nodes: &[Node],
    runs: &Runs<'_>,
    thread: usize,
    mut graph: Graph,
    opts: &SearchOptions,
    compression: u32,
    report: &mut Report<'_>,
) -> Result<HashMap<u32, NewDelta>, Error> {
    let mut found = HashMap::new();
    let mut window: VecDeque<Slot> = VecDeque::with_capacity(opts.window);
    let mut cache_used = 0u64;
    let read = Reader { repo, bases };
    while let Some((c, stolen)) = runs.next(thread) {
        if stolen {
            window.clear();
        }
        let mut data = Data::Unread;
        let mut best: Option<(usize, Vec<u8>, u32)> = None;
        if c.target {
            best = search_window(&mut window, &graph, nodes, c, &mut data, &read, opts)?;
            report.one_done();
        }
        let mut keep = true;
        if let Some((slot, delta, depth)) = best {
            let base = window[slot].pos;
            graph.set_base(c.pos, base);
            let z = compress(&delta, compression)?;
            let cached = if cache_used + z.len() as u64 <= opts.cache_size {
                cache_used += z.len() as u64;
                Some((delta.len() as u64, z))
            } else {
                None
            };
            found.insert(c.pos, NewDelta { base, cached });
            // Keep the base that worked longer: move it next to the newest entry (git does).
            if let Some(s) = window.remove(slot) {
                window.push_back(s);
            }
            // A chain at the limit cannot grow: this object is no use as a base.
            keep = depth < opts.depth;
        }
        if keep {
            window.push_back(Slot {
                pos: c.pos,
                kind: c.kind,
                size: c.size,
                data,
            });
        }
        while window.len() > opts.window - 1 {
            window.pop_front();
        }
        if opts.window_memory > 0 {
            while window.len() > 1
                && window.iter().map(Slot::memory).sum::<u64>() > opts.window_memory
            {
                window.pop_front();
            }
        }
    }
    Ok(found)
}

/// Tries target `c` against the window, newest first; the best (slot, delta, new depth).
/// `target` holds its contents once read: only when a base passes the size checks.
fn search_window(
    window: &mut VecDeque<Slot>,
    graph: &Graph,
    nodes: &[Node],
    c: &Candidate,
    target: &mut Data,
    read: &Reader<'_>,
    opts: &SearchOptions,
) -> Result<Option<(usize, Vec<u8>, u32)>, Error> {
    let trg_size = c.size;
    let height = u32::from(graph.height[c.pos as usize]);
    let mut best: Option<(usize, Vec<u8>, u32)> = None;
    let whole_in_pack = nodes.get(c.pos as usize).is_some_and(|n| n.whole_in_pack);
    for i in (0..window.len()).rev() {
        let slot = &mut window[i];
        if slot.kind != c.kind || matches!(slot.data, Data::Unusable) {
            continue;
        }
        if whole_in_pack && nodes.get(slot.pos as usize).is_some_and(|n| n.in_pack) {
            continue;
        }
        let Some(src_depth) = graph.depth_avoiding(slot.pos, c.pos) else {
            continue;
        };
        if src_depth + 1 + height > opts.depth {
            continue;
        }
        // git's try_delta budget: half the object (less a hash) for a first delta, then the best
        // so far, scaled down for deeper bases so shallow chains win ties of size.
        let (limit, ref_depth) = match &best {
            None => ((trg_size / 2).saturating_sub(20), 1),
            Some((_, d, depth)) => (d.len() as u64, *depth),
        };
        let max_size = limit * u64::from(opts.depth - src_depth)
            / u64::from(opts.depth.saturating_sub(ref_depth) + 1);
        if max_size == 0 {
            continue;
        }
        let src_size = slot.size;
        if trg_size.saturating_sub(src_size) >= max_size || trg_size < src_size / 32 {
            continue;
        }
        if let Data::Unread = target {
            *target = read.load(c.pos)?;
        }
        let Data::Read(t) = &*target else {
            return Ok(None);
        };
        let Some(index) = slot.index(read)? else {
            continue;
        };
        let Some(delta) = index.delta(t, usize::try_from(max_size).unwrap_or(usize::MAX)) else {
            continue;
        };
        if let Some((_, d, depth)) = &best {
            // Prefer only shallower same-sized deltas.
            if delta.len() == d.len() && src_depth + 1 >= *depth {
                continue;
            }
        }
        best = Some((i, delta, src_depth + 1));
    }
    Ok(best)
}

/// The targets, and the reused objects that may serve them as bases: those of the same kind and
/// name hash, the `window` nearest each target on either side in walk order, and every edge base
/// of that kind and name hash. Tiny and huge objects are left out, and edge bases the repository
/// lacks.
fn candidates(
    repo: &dyn ObjectStore,
    bases: Bases<'_>,
    nodes: &[Node],
    window: usize,
    big_file_threshold: u64,
) -> Result<Vec<Candidate>, Error> {
    let objects = bases.objects;
    // An object stored whole in the main pack may only take a base from elsewhere: the
    // client's versions, or objects not in that pack. Where its path has none it is left out,
    // unread (the newest version of a file the client never had, a large binary asset).
    let outside: HashSet<(Kind, u32)> = bases
        .edge
        .iter()
        .map(|o| (o.kind, o.name_hash))
        .chain(
            objects
                .iter()
                .zip(nodes)
                .filter(|(_, n)| n.target && !n.in_pack)
                .map(|(o, _)| (o.kind, o.name_hash)),
        )
        .collect();
    let is_target = |o: &PackObject, n: &Node| {
        n.target && (!n.whole_in_pack || outside.contains(&(o.kind, o.name_hash)))
    };
    let groups_with_targets: HashSet<(Kind, u32)> = objects
        .iter()
        .zip(nodes)
        .filter(|(o, n)| is_target(o, n))
        .map(|(o, _)| (o.kind, o.name_hash))
        .collect();
    // Per group: targets and non-targets, each in walk order.
    let mut groups: HashMap<(Kind, u32), (Vec<u32>, Vec<u32>)> = HashMap::new();
    for (p, (o, n)) in objects.iter().zip(nodes).enumerate() {
        let key = (o.kind, o.name_hash);
        if !groups_with_targets.contains(&key) {
            continue;
        }
        let g = groups.entry(key).or_default();
        if is_target(o, n) {
            g.0.push(p as u32);
        } else if !n.target {
            g.1.push(p as u32);
        }
    }
    let mut chosen: Vec<u32> = Vec::new();
    // With edge bases (a thin fetch), the client's versions are the bases that matter, and the
    // reused neighbours (stored deltas, each resolved through its chain to be read) cost more
    // than they find: git's delta list holds no reused object either.
    let neighbours = if bases.edge.is_empty() { window } else { 0 };
    for (targets, others) in groups.values() {
        chosen.extend_from_slice(targets);
        if neighbours == 0 {
            continue;
        }
        let window = neighbours;
        let mut picked: HashSet<u32> = HashSet::new();
        for t in targets {
            let at = others.partition_point(|o| o < t);
            let from = at.saturating_sub(window);
            let to = (at + window).min(others.len());
            picked.extend(&others[from..to]);
        }
        chosen.extend(picked);
    }
    let first_edge = objects.len() as u32;
    chosen.extend(
        (first_edge..)
            .zip(bases.edge)
            .filter(|(_, o)| groups.contains_key(&(o.kind, o.name_hash)))
            .map(|(p, _)| p),
    );
    let mut list = Vec::with_capacity(chosen.len());
    for pos in chosen {
        let Some(o) = bases.get(pos) else {
            continue;
        };
        let size = match repo.object_header(&o.id)? {
            Some((kind, _)) if pos >= first_edge && kind != o.kind => continue,
            Some((_, size)) => size,
            None if pos >= first_edge => continue,
            None => return Err(store::Error::MissingObject(o.id).into()),
        };
        if !(MIN_SIZE..=big_file_threshold).contains(&size) {
            continue;
        }
        list.push(Candidate {
            pos,
            kind: o.kind,
            name_hash: o.name_hash,
            target: nodes.get(pos as usize).is_some_and(|n| n.target),
            size,
        });
    }
    Ok(list)
}

/// `delta` zlib-compressed at `level` ([`crate::odb::zlib::deflate_whole`]: one compressor
/// per thread, so a fetch's many small deltas do not each allocate and zero a new one).
pub(crate) fn compress(delta: &[u8], level: u32) -> Result<Vec<u8>, std::io::Error> {
    crate::odb::zlib::deflate_whole(delta, level)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odb::memory::MemoryObjects;
    use crate::progress::Discard;

    /// `n` versions of a ~20 KiB text file, each a small edit of the previous one.
    fn versions(n: usize) -> Vec<Vec<u8>> {
        let mut text: Vec<String> = (0..600)
            .map(|i| format!("line {i} of the file\n"))
            .collect();
        let mut out = Vec::new();
        for v in 0..n {
            let at = (v * 37) % text.len();
            text[at] = format!("edited in version {v}\n");
            text.insert((v * 91) % text.len(), format!("added in version {v}\n"));
            out.push(text.concat().into_bytes());
        }
        out
    }

    fn repo_with(blobs: &[Vec<u8>]) -> (MemoryObjects, Vec<PackObject>) {
        let mut r = MemoryObjects::new();
        let objects = blobs
            .iter()
            .map(|b| PackObject {
                id: r.add(Kind::Blob, b.clone()),
                kind: Kind::Blob,
                name_hash: crate::walk::name_hash(0, b"file.txt"),
            })
            .collect();
        (r, objects)
    }

    fn targets(n: usize) -> Vec<Node> {
        vec![
            Node {
                target: true,
                reused_base: None,
                ..Node::default()
            };
            n
        ]
    }

    /// The pack `objects` with no edge bases.
    fn pack(objects: &[PackObject]) -> Bases<'_> {
        Bases { objects, edge: &[] }
    }

    /// [`find_deltas`] with default options.
    fn search_default(
        r: &dyn ObjectStore,
        bases: Bases<'_>,
        nodes: &[Node],
    ) -> HashMap<u32, NewDelta> {
        find_deltas(r, bases, nodes, &SearchOptions::default(), 6, &mut Discard).unwrap()
    }

    /// Depth of each object's chain in `found` (bases that are not found are roots).
    fn depth(found: &HashMap<u32, NewDelta>, mut p: u32) -> u32 {
        let mut d = 0;
        while let Some(n) = found.get(&p) {
            p = n.base;
            d += 1;
            assert!(d < 1000, "cycle");
        }
        d
    }

    #[test]
    fn versions_of_a_file_become_deltas_within_depth() {
        let blobs = versions(30);
        let (r, objects) = repo_with(&blobs);
        for max_depth in [50, 3] {
            let opts = SearchOptions {
                depth: max_depth,
                ..SearchOptions::default()
            };
            let found =
                find_deltas(&r, pack(&objects), &targets(30), &opts, 6, &mut Discard).unwrap();
            // All but the chain roots are deltas.
            assert!(
                found.len() >= 30 - 30 / max_depth as usize - 1,
                "{}",
                found.len()
            );
            for (p, d) in &found {
                assert!(depth(&found, *p) <= max_depth);
                let (size, z) = d.cached.as_ref().expect("cache is large enough");
                let mut delta = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&z[..]), &mut delta)
                    .unwrap();
                assert_eq!(delta.len() as u64, *size);
                let base = &blobs[d.base as usize];
                let out = crate::pack::delta::apply(base, &delta, u64::MAX).unwrap();
                assert_eq!(out, blobs[*p as usize]);
                assert!(delta.len() < 1500, "small edits, delta of {}", delta.len());
            }
        }
    }

    #[test]
    fn reused_chains_are_never_closed_into_cycles() {
        // 0 is stored as a delta against 1 (reused); 1 is a target. 1 must not take 0 (or
        // anything resting on it) as its base.
        let blobs = versions(2);
        let (r, objects) = repo_with(&blobs);
        let nodes = vec![
            Node {
                target: false,
                reused_base: Some(1),
                ..Node::default()
            },
            Node {
                target: true,
                reused_base: None,
                ..Node::default()
            },
        ];
        let found = search_default(&r, pack(&objects), &nodes);
        assert!(found.is_empty(), "{found:?}");
        // With the reused object resting elsewhere, 1 may use it.
        let nodes = vec![
            Node {
                target: false,
                reused_base: None,
                ..Node::default()
            },
            nodes[1],
        ];
        let found = search_default(&r, pack(&objects), &nodes);
        assert_eq!(found.get(&1).map(|d| d.base), Some(0));
    }

    #[test]
    fn depth_counts_reused_chains_above_and_below() {
        // Reused chain 2 -> 1 -> 0 (object i has depth i); 3 is a target. With max depth d, only
        // a base of depth below d fits.
        let blobs = versions(4);
        let (r, objects) = repo_with(&blobs);
        let nodes = vec![
            Node {
                target: false,
                reused_base: None,
                ..Node::default()
            },
            Node {
                target: false,
                reused_base: Some(0),
                ..Node::default()
            },
            Node {
                target: false,
                reused_base: Some(1),
                ..Node::default()
            },
            Node {
                target: true,
                reused_base: None,
                ..Node::default()
            },
        ];
        for max_depth in [1, 2, 3] {
            let opts = SearchOptions {
                depth: max_depth,
                ..SearchOptions::default()
            };
            let found = find_deltas(&r, pack(&objects), &nodes, &opts, 6, &mut Discard).unwrap();
            let base = found.get(&3).expect("some base fits").base;
            assert!(base < max_depth, "depth {max_depth}: base {base}");
        }
    }

    #[test]
    fn tiny_objects_and_no_window_are_skipped() {
        let blobs = vec![b"tiny one".to_vec(), b"tiny two".to_vec()];
        let (r, objects) = repo_with(&blobs);
        let opts = SearchOptions::default();
        assert!(
            find_deltas(&r, pack(&objects), &targets(2), &opts, 6, &mut Discard)
                .unwrap()
                .is_empty()
        );
        let (r, objects) = repo_with(&versions(5));
        let opts = SearchOptions {
            window: 1,
            ..SearchOptions::default()
        };
        assert!(
            find_deltas(&r, pack(&objects), &targets(5), &opts, 6, &mut Discard)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn full_cache_keeps_only_the_base() {
        let (r, objects) = repo_with(&versions(5));
        let opts = SearchOptions {
            cache_size: 0,
            ..SearchOptions::default()
        };
        let found = find_deltas(&r, pack(&objects), &targets(5), &opts, 6, &mut Discard).unwrap();
        assert!(!found.is_empty());
        assert!(found.values().all(|d| d.cached.is_none()));
    }

    #[test]
    fn edge_bases_serve_targets_and_are_never_targets() {
        // The client has version 0 (edge); versions 1 and 2 are sent loose.
        let blobs = versions(3);
        let (r, all) = repo_with(&blobs);
        let (edge, objects) = all.split_at(1);
        let bases = Bases { objects, edge };
        let found = search_default(&r, bases, &targets(2));
        assert!(found.keys().all(|&p| (p as usize) < objects.len()));
        // Both are deltas, the chain resting on the client's version 0.
        assert_eq!(found.len(), 2);
        let on_edge: Vec<_> = found
            .values()
            .filter_map(|d| bases.edge_base(d.base))
            .collect();
        assert_eq!(on_edge.first().map(|o| o.id), Some(edge[0].id));
        // An edge base has depth 0: at most depth 1, both still rest on it.
        let opts = SearchOptions {
            depth: 1,
            ..SearchOptions::default()
        };
        let found = find_deltas(&r, bases, &targets(2), &opts, 6, &mut Discard).unwrap();
        assert_eq!(found.len(), 2, "both fit at depth 1 on the edge base");
        assert!(found.values().all(|d| bases.edge_base(d.base).is_some()));
        // Without edge bases the first version sent is whole.
        let found = search_default(&r, pack(objects), &targets(2));
        assert_eq!(found.len(), 1);
    }

    /// A store that counts whole-object reads.
    struct Counting {
        inner: MemoryObjects,
        reads: std::sync::atomic::AtomicUsize,
    }

    impl ObjectStore for Counting {
        fn hash_kind(&self) -> crate::hash::HashKind {
            self.inner.hash_kind()
        }
        fn object_header(
            &self,
            id: &crate::hash::ObjectId,
        ) -> Result<Option<(Kind, u64)>, store::Error> {
            self.inner.object_header(id)
        }
        fn read_object(
            &self,
            id: &crate::hash::ObjectId,
        ) -> Result<Option<crate::odb::Object>, store::Error> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            self.inner.read_object(id)
        }
        fn read_commit_head(
            &self,
            id: &crate::hash::ObjectId,
        ) -> Result<Option<crate::odb::Object>, store::Error> {
            self.read_object(id)
        }
        fn stream_object(
            &self,
            id: &crate::hash::ObjectId,
        ) -> Result<Option<store::ObjectStream<'_>>, store::Error> {
            self.inner.stream_object(id)
        }
        fn raw_entry(
            &self,
            id: &crate::hash::ObjectId,
        ) -> Result<Option<store::RawEntry<'_>>, store::Error> {
            self.inner.raw_entry(id)
        }
        fn shallow_roots(&self) -> Option<&crate::hash::IdSet> {
            None
        }
        fn commit_from_graph(
            &self,
            _: &crate::hash::ObjectId,
        ) -> Option<crate::odb::commit_graph::GraphCommit> {
            None
        }
    }

    /// `groups` groups (by name hash) of `per` blob targets each, as sorted.
    fn sorted_targets(groups: u32, per: u32) -> Vec<Candidate> {
        (0..groups * per)
            .map(|i| Candidate {
                pos: i,
                kind: Kind::Blob,
                name_hash: groups - i / per,
                target: true,
                size: 100,
            })
            .collect()
    }

    #[test]
    fn a_small_fetch_is_searched_on_two_threads_cut_between_paths() {
        // As git's ll_find_deltas: two runs once each holds twice the window (10) of targets.
        let list = sorted_targets(8, 5);
        assert_eq!(segments(&list, 2, 40, 10), vec![(0, 20), (20, 40)]);
        // 39 targets: one run of fewer than 20 would be left; one thread searches them all.
        assert_eq!(segments(&list[..39], 2, 39, 10), vec![(0, 39)]);
        // A cut never splits the versions of one path.
        let list = sorted_targets(4, 11);
        let runs = segments(&list, 2, 44, 10);
        assert_eq!(runs, vec![(0, 22), (22, 44)]);
        // With one thread, one run.
        assert_eq!(segments(&list, 1, 44, 10), vec![(0, 44)]);
        // The default (0: one per core) is one run below two runs' worth of targets, without
        // asking the cores, and one run per core (at most two here) above.
        assert_eq!(segments(&list[..39], 0, 39, 10), vec![(0, 39)]);
        assert_eq!(
            segments(&list, 0, 44, 10).len(),
            crate::limits::cores().min(2)
        );
    }

    #[test]
    fn candidates_no_target_can_use_are_never_read() {
        // A small file and a large one at the same path: the size difference leaves no room
        // for a delta either way (git's try_delta), so neither is read. A third version of the
        // large one is tried against it: both of those are read.
        let large = versions(2);
        let blobs = vec![b"a small version of the file\n".repeat(3), large[0].clone()];
        let (inner, objects) = repo_with(&blobs);
        let r = Counting {
            inner,
            reads: Default::default(),
        };
        assert!(search_default(&r, pack(&objects), &targets(2)).is_empty());
        assert_eq!(r.reads.load(Ordering::Relaxed), 0);
        let (inner, objects) = repo_with(&[blobs[0].clone(), large[0].clone(), large[1].clone()]);
        let r = Counting {
            inner,
            reads: Default::default(),
        };
        let found = search_default(&r, pack(&objects), &targets(3));
        assert_eq!(found.len(), 1);
        assert_eq!(r.reads.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn edge_bases_of_another_kind_or_missing_are_skipped() {
        let blobs = versions(2);
        let (mut r, objects) = repo_with(&blobs[1..]);
        let name_hash = objects[0].name_hash;
        // Named a blob by a tree entry, but stored as a tree.
        let liar = r.add(Kind::Tree, blobs[0].clone());
        let ghost =
            crate::odb::object_id(crate::hash::HashKind::Sha1, Kind::Blob, b"not here").unwrap();
        let edge: Vec<PackObject> = [liar, ghost]
            .into_iter()
            .map(|id| PackObject {
                id,
                kind: Kind::Blob,
                name_hash,
            })
            .collect();
        let bases = Bases {
            objects: &objects,
            edge: &edge,
        };
        assert!(search_default(&r, bases, &targets(1)).is_empty());
    }
}
