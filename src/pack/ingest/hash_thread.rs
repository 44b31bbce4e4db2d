//! Pass 1's second core: whole objects are hashed (the repository's hash; SHA-1 with collision detection) and checked
//! on another thread while the reading thread inflates the rest of the pack. C git's index-pack
//! does both on one thread; the collision-detecting hash alone was half of a push's CPU, and
//! the reading thread now only inflates, spools and CRCs.
//!
//! Objects up to [`MAX_QUEUED`] bytes are queued in batches (a hand-over per object cost as
//! much CPU as it saved wall time), at most [`QUEUE`] batches of about [`BATCH_BYTES`], so memory
//! stays bounded whatever the pack holds; larger objects are hashed by the reading thread, and
//! so is every object of a small pack (`Tuning::hash_thread_min_objects`).

use std::cell::RefCell;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

use super::{Error, ObjectCheck};
use crate::hash::{HashKind, Hasher, ObjectId};
use crate::odb::Kind;

/// Largest object handed to the hashing thread; larger ones stream through the reader's hash.
pub(super) const MAX_QUEUED: u64 = 1 << 20;
/// Batches waiting for the hashing thread at most.
const QUEUE: usize = 4;
/// A batch is handed over once it holds this many bytes ...
const BATCH_BYTES: usize = 1 << 20;
/// ... or this many objects.
const BATCH_OBJECTS: usize = 256;

/// One whole object to hash: its entry number and offset in the pack, its kind and content.
pub(super) struct Job {
    pub(super) n: usize,
    pub(super) offset: u64,
    pub(super) kind: Kind,
    pub(super) data: Vec<u8>,
}

/// The hashing thread and its queue.
pub(super) struct HashThread<'scope> {
    jobs: SyncSender<Vec<Job>>,
    /// The batch being filled and its bytes.
    batch: RefCell<(Vec<Job>, usize)>,
    handle: ScopedJoinHandle<'scope, Result<Vec<(usize, ObjectId)>, Error>>,
}

impl<'scope> HashThread<'scope> {
    /// Starts the thread in `scope`; it runs `check` on every commit, tree and tag it hashes.
    pub(super) fn start<'env>(
        scope: &'scope Scope<'scope, 'env>,
        check: ObjectCheck<'env>,
        hash: HashKind,
    ) -> Self {
        let (jobs, queue) = sync_channel::<Vec<Job>>(QUEUE);
        let handle = scope.spawn(move || {
            let mut ids = Vec::new();
            for job in queue.into_iter().flatten() {
                let id = object_id(hash, job.kind, &job.data, job.offset)?;
                if job.kind != Kind::Blob {
                    check(&id, job.kind, &job.data).map_err(Error::Fsck)?;
                }
                ids.push((job.n, id));
            }
            Ok(ids)
        });
        HashThread {
            jobs,
            batch: RefCell::new((Vec::new(), 0)),
            handle,
        }
    }

    /// Queues `job`; `false` when the thread has stopped on an error ([`Self::finish`] says
    /// which).
    pub(super) fn send(&self, job: Job) -> bool {
        let mut batch = self.batch.borrow_mut();
        batch.1 += job.data.len();
        batch.0.push(job);
        if batch.0.len() < BATCH_OBJECTS && batch.1 < BATCH_BYTES {
            return true;
        }
        let full = std::mem::take(&mut batch.0);
        batch.1 = 0;
        self.jobs.send(full).is_ok()
    }

    /// Waits for the queue to drain; the id of each object queued, by entry number, or the
    /// first error met.
    pub(super) fn finish(self) -> Result<Vec<(usize, ObjectId)>, Error> {
        let (rest, _) = self.batch.into_inner();
        // A thread that stopped early reports why below.
        if !rest.is_empty() {
            let _ = self.jobs.send(rest);
        }
        drop(self.jobs);
        self.handle
            .join()
            .unwrap_or_else(|_| Err(Error::Format("the hashing thread panicked".into())))
    }
}

/// The id under `hash` of the whole object `data` of `kind` (entry at `offset`).
pub(super) fn object_id(
    hash: HashKind,
    kind: Kind,
    data: &[u8],
    offset: u64,
) -> Result<ObjectId, Error> {
    let mut h = Hasher::new(hash);
    h.update(format!("{} {}\0", kind.as_str(), data.len()).as_bytes());
    h.update(data);
    h.finish().map_err(|_| Error::Collision(offset))
}
