//! Pass 2 of ingestion: resolving deltas, on every core.
//!
//! Every whole object in the pack roots a tree of deltas built on it (by offset, or by id for
//! REF deltas). The trees are independent, so threads take roots from a shared counter and each
//! walks its tree depth first with an explicit stack (chains may be thousands deep). What they
//! share is read-only (the spool, the entries, the children-by-offset table, the inflated deltas
//! kept from pass 1) except the REF-delta table, taken under a lock when a resolved object turns
//! out to be some deltas' base, and each entry's result, set once. A failure stops every thread.
//!
//! Thin-pack bases (REF deltas against objects the repository has) are resolved afterwards, one
//! at a time, through [`Resolver::resolve_on_external_base`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use super::{BaseRef, Error, Limits, ObjectCheck, Raw, Tuning};
use crate::hash::ObjectId;
use crate::odb::Kind;
use crate::pack::delta;
use crate::progress::Progress;

/// Deltas no larger than this are kept in memory between the passes.
const CACHED_DELTA_MAX: u64 = 64 * 1024;

/// Inflated deltas from pass 1, in one arena: most deltas are a few hundred bytes, and reading
/// them again would mean a `pread` and a fresh inflate each.
pub(super) struct DeltaCache {
    arena: Vec<u8>,
    budget: usize,
}

impl DeltaCache {
    /// A cache holding at most `budget` bytes.
    pub(super) fn new(budget: usize) -> Self {
        DeltaCache {
            arena: Vec::new(),
            budget,
        }
    }

    /// Whether a delta inflating to `size` bytes is kept.
    pub(super) fn admits(&self, size: u64) -> bool {
        size <= CACHED_DELTA_MAX && self.arena.len() as u64 + size <= self.budget as u64
    }

    /// Bytes held so far (where the next delta starts).
    pub(super) fn len(&self) -> usize {
        self.arena.len()
    }

    /// Appends inflated bytes of the delta being read.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        self.arena.extend_from_slice(bytes);
    }

    fn get(&self, range: &std::ops::Range<usize>) -> Option<&[u8]> {
        self.arena.get(range.clone())
    }
}

/// What the resolving threads share.
pub(super) struct Resolver<'a> {
    spool: &'a File,
    raws: &'a [Raw],
    cache: &'a DeltaCache,
    limits: &'a Limits,
    tuning: &'a Tuning,
    check: ObjectCheck<'a>,
    /// The repository's hash, naming resolved objects.
    hash: crate::hash::HashKind,
    /// Entries whose base is the entry at this offset.
    by_offset: HashMap<u64, Vec<usize>>,
    /// Entries whose base is named by id; an id's list is taken by whoever resolves it first.
    by_id: Mutex<HashMap<ObjectId, Vec<usize>>>,
    /// Each entry's id and kind: a whole object's from pass 1 ([`Self::record_whole`]), a
    /// delta's once resolved.
    resolved: Vec<OnceLock<(ObjectId, Kind)>>,
    total_deltas: u64,
    done: AtomicU64,
    failed: AtomicBool,
}

impl<'a> Resolver<'a> {
    /// Indexes who builds on whom; errors on an offset base that is not an entry's start.
    pub(super) fn new(
        spool: &'a File,
        raws: &'a [Raw],
        cache: &'a DeltaCache,
        limits: &'a Limits,
        tuning: &'a Tuning,
        check: ObjectCheck<'a>,
        hash: crate::hash::HashKind,
    ) -> Result<Self, Error> {
        let starts: HashMap<u64, ()> = raws.iter().map(|r| (r.offset, ())).collect();
        let mut by_offset: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut by_id: HashMap<ObjectId, Vec<usize>> = HashMap::new();
        for (i, r) in raws.iter().enumerate() {
            match r.base {
                BaseRef::Offset(o) => {
                    if !starts.contains_key(&o) {
                        return Err(Error::Format(format!(
                            "delta at offset {} points inside an entry",
                            r.offset
                        )));
                    }
                    by_offset.entry(o).or_default().push(i);
                }
                BaseRef::Id(ref id) => by_id.entry(**id).or_default().push(i),
                BaseRef::None => {}
            }
        }
        Ok(Resolver {
            spool,
            raws,
            cache,
            limits,
            tuning,
            check,
            hash,
            by_offset,
            by_id: Mutex::new(by_id),
            resolved: (0..raws.len()).map(|_| OnceLock::new()).collect(),
            total_deltas: raws.iter().filter(|r| r.kind.is_none()).count() as u64,
            done: AtomicU64::new(0),
            failed: AtomicBool::new(false),
        })
    }

    /// Resolves every delta built on an object of the pack, on up to `tuning.max_threads`
    /// threads; this thread reports progress meanwhile.
    pub(super) fn resolve_all(&self, progress: &mut dyn Progress) -> Result<(), Error> {
        let roots: Vec<usize> = (0..self.raws.len())
            .filter(|&i| self.raws[i].kind.is_some() && self.has_children(i))
            .collect();
        let inline =
            self.total_deltas < self.tuning.parallel_min_deltas || self.tuning.max_threads <= 1;
        let threads = self.tuning.max_threads.clamp(1, 64).min(roots.len().max(1));
        let next = AtomicUsize::new(0);
        let work = || -> Result<(), Error> {
            while !self.failed.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(&root) = roots.get(n) else {
                    return Ok(());
                };
                let resolved = inflate_at(self.spool, &self.raws[root])
                    .and_then(|data| self.resolve_tree(root, data));
                if let Err(e) = resolved {
                    self.failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
            Ok(())
        };
        if inline {
            return work();
        }
        let work = &work;
        std::thread::scope(|s| {
            // Each thread says when it is done, so waiting ends the moment the last one does;
            // in between, progress is reported.
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let tx = tx.clone();
                    s.spawn(move || {
                        let r = work();
                        let _ = tx.send(());
                        r
                    })
                })
                .collect();
            drop(tx);
            let mut running = threads;
            while running > 0 {
                match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                    Ok(()) => running -= 1,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => progress.update(
                        "Resolving deltas",
                        self.done.load(Ordering::Relaxed),
                        Some(self.total_deltas),
                    ),
                    // Every sender gone: the rest panicked; join says so.
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            let mut result = Ok(());
            for h in handles {
                let r = h.join().unwrap_or_else(|_| {
                    Err(Error::Format("a delta-resolving thread panicked".into()))
                });
                if result.is_ok() {
                    result = r;
                }
            }
            result
        })
    }

    /// An id some unresolved REF delta still waits for (a thin pack's base), if any.
    pub(super) fn next_missing_base(&self) -> Option<ObjectId> {
        let by_id = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        by_id
            .iter()
            .find(|(_, kids)| kids.iter().any(|&k| self.known(k).is_none()))
            .map(|(id, _)| *id)
    }

    /// Resolves the deltas built on `id`, an object from outside the pack.
    pub(super) fn resolve_on_external_base(
        &self,
        id: &ObjectId,
        kind: Kind,
        data: &[u8],
    ) -> Result<(), Error> {
        let kids = self
            .by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
            .unwrap_or_default();
        for k in kids {
            if let Some(out) = self.apply_one(k, kind, data)? {
                self.resolve_tree(k, out)?;
            }
        }
        Ok(())
    }

    /// Every entry's id and kind, in pack order; an error if a delta stayed unresolved.
    pub(super) fn finish(
        self,
        progress: &mut dyn Progress,
    ) -> Result<Vec<(ObjectId, Kind)>, Error> {
        if self.total_deltas > 0 {
            progress.finish(
                "Resolving deltas",
                self.total_deltas,
                Some(self.total_deltas),
            );
        }
        (0..self.raws.len())
            .map(|i| {
                self.known(i).ok_or_else(|| {
                    Error::Format(format!(
                        "delta at offset {} could not be resolved (cycle?)",
                        self.raws[i].offset
                    ))
                })
            })
            .collect()
    }

    /// Records the ids pass 1 computed for whole objects (`ids`: entry number and id).
    pub(super) fn record_whole(&self, ids: Vec<(usize, ObjectId)>) {
        for (n, id) in ids {
            let kind = self.raws.get(n).and_then(|r| r.kind);
            if let (Some(slot), Some(kind)) = (self.resolved.get(n), kind) {
                let _ = slot.set((id, kind));
            }
        }
    }

    fn known(&self, i: usize) -> Option<(ObjectId, Kind)> {
        self.resolved.get(i)?.get().copied()
    }

    fn has_children(&self, i: usize) -> bool {
        let r = &self.raws[i];
        self.by_offset.contains_key(&r.offset)
            || self.known(i).is_some_and(|(id, _)| {
                self.by_id
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains_key(&id)
            })
    }

    /// The deltas built on entry `i` (whose id is `id`) not taken yet.
    fn children(&self, i: usize, id: &ObjectId) -> Vec<usize> {
        let mut kids = self
            .by_offset
            .get(&self.raws[i].offset)
            .cloned()
            .unwrap_or_default();
        if let Some(more) = self
            .by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
        {
            kids.extend(more);
        }
        kids
    }

    /// Applies delta entry `k` to `base` (of `kind`), hashes and checks the result and records
    /// it; `None` if `k` was already resolved.
    fn apply_one(&self, k: usize, kind: Kind, base: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        if self.known(k).is_some() {
            return Ok(None);
        }
        let r = &self.raws[k];
        let d = match r.cached.as_ref().and_then(|c| self.cache.get(c)) {
            Some(d) => Cow::Borrowed(d),
            None => Cow::Owned(inflate_at(self.spool, r)?),
        };
        let out = delta::apply(base, &d, self.limits.max_object_bytes).map_err(|source| {
            Error::Delta {
                offset: r.offset,
                source,
            }
        })?;
        let id =
            crate::odb::object_id(self.hash, kind, &out).map_err(|_| Error::Collision(r.offset))?;
        if kind != Kind::Blob {
            (self.check)(&id, kind, &out).map_err(Error::Fsck)?;
        }
        if self.resolved[k].set((id, kind)).is_err() {
            return Ok(None);
        }
        self.done.fetch_add(1, Ordering::Relaxed);
        Ok(Some(out))
    }

    /// Resolves every delta built (transitively) on entry `root`, whose content is `data`.
    fn resolve_tree(&self, root: usize, data: Vec<u8>) -> Result<(), Error> {
        let Some((root_id, kind)) = self.known(root) else {
            return Err(Error::Format("unresolved base".into()));
        };
        // Each frame: (entry, its content, its children still to do, depth).
        let mut stack: Vec<(std::rc::Rc<Vec<u8>>, Vec<usize>, u32)> = Vec::new();
        stack.push((std::rc::Rc::new(data), self.children(root, &root_id), 0));
        while let Some(frame) = stack.last_mut() {
            let Some(child) = frame.1.pop() else {
                stack.pop();
                continue;
            };
            let depth = frame.2 + 1;
            if depth > self.limits.max_delta_depth {
                return Err(Error::Limit {
                    what: "delta depth",
                    limit: u64::from(self.limits.max_delta_depth),
                });
            }
            // The frame's last child takes its content with it: a chain of versions, each a
            // delta on the one before, then holds two contents at a time, not every version
            // of its length (a push of tokio: 134 MB of heap at its peak, RSS 289 MB -> 115 MB).
            let base = if frame.1.is_empty() {
                match stack.pop() {
                    Some(done) => done.0,
                    None => continue,
                }
            } else {
                std::rc::Rc::clone(&frame.0)
            };
            let applied = self.apply_one(child, kind, &base)?;
            drop(base);
            let Some(out) = applied else {
                continue;
            };
            let Some((id, _)) = self.known(child) else {
                continue;
            };
            let kids = self.children(child, &id);
            if !kids.is_empty() {
                stack.push((std::rc::Rc::new(out), kids, depth));
            }
        }
        Ok(())
    }
}

thread_local! {
    /// One read buffer per thread, reused for every re-read of the spool.
    static REREAD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads and inflates entry `r` from the spool again (its compressed length and inflated size
/// are known: one whole-stream inflate).
pub(super) fn inflate_at(spool: &File, r: &Raw) -> Result<Vec<u8>, Error> {
    let out = REREAD.with(|cell| -> Result<Vec<u8>, Error> {
        let mut compressed = cell.borrow_mut();
        compressed.resize(r.data_len as usize, 0);
        spool.read_exact_at(&mut compressed, r.data_at)?;
        let size = usize::try_from(r.size)
            .map_err(|_| Error::Format(format!("entry at offset {} too large", r.offset)))?;
        crate::pack::reader::inflate_exact(&compressed, size)
            .map_err(|e| Error::Format(format!("re-reading offset {}: {e}", r.offset)))
    })?;
    Ok(out)
}
