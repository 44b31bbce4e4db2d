//! The commit half of `rev-list <wants> --not <haves>`, as git's `limit_list` computes it: which
//! commits to send, and which uninteresting commits border them (the edge whose trees the client
//! has).
//!
//! Flags follow git's object flags: `SEEN` (queued once), `UNINTERESTING` (the client has it),
//! and `POPPED` (processed). Three details of git decide which commits come out, and each one
//! changed the answer on git's own history (a client 100 first-parent commits behind: 74 commits
//! too many, with their trees and blobs, before they were followed):
//! - marking a commit uninteresting also marks every ancestor already parsed, recursively
//!   (`mark_parents_uninteresting`): a commit processed as interesting can still become
//!   uninteresting when a have reaches it by a longer path, and its ancestors with it;
//! - an uninteresting commit's parents are parsed and their own parents marked at once
//!   (`process_parents`), so the marks run one generation ahead of the queue;
//! - the walk does not stop at the first moment only uninteresting commits are queued, but goes
//!   on while the queue holds commits at least as new as the last interesting one and then five
//!   more (`still_interesting`'s `SLOP`), which absorbs committer dates that go backwards.
//!
//! The queue is ordered by committer date, newest first, equal dates in insertion order (git's
//! `commit_list_insert_by_date`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{CommitCache, Error, Parents};
use crate::hash::{IdSet, ObjectId, PackedIdMap};
use crate::odb::store::ObjectStore;
use crate::progress::Progress;

const SEEN: u8 = 1;
const UNINTERESTING: u8 = 2;
const POPPED: u8 = 4;
/// git's `SLOP`: uninteresting commits processed after nothing interesting is left.
const SLOP: u32 = 5;

/// What [`limit`] found.
#[derive(Debug, Default)]
pub(super) struct Limited {
    /// The commits to send, in walk order (newest first).
    pub commits: Vec<ObjectId>,
    /// Uninteresting parents of the commits sent, in walk order, each once: the client's commits
    /// next to what it gets (git's `show_edge`), whose trees are its versions of the paths sent.
    pub edges: Vec<ObjectId>,
    /// Commits processed as interesting that turned out to be uninteresting (a have reached
    /// them later): the client has their trees too (git's `mark_edges_uninteresting`).
    pub late: Vec<ObjectId>,
}

/// The walk's state: flags per commit, the date-ordered queue, and how many queued commits are
/// still interesting (git's `everybody_uninteresting`, without a scan per step).
struct Limit<'a> {
    repo: &'a dyn ObjectStore,
    cache: &'a mut CommitCache,
    shallow: &'a IdSet,
    /// Keyed at the repository's hash width: an entry per commit the walk met.
    flags: PackedIdMap<u8>,
    queue: BinaryHeap<(i64, Reverse<u64>, ObjectId)>,
    pushed: u64,
    interesting_queued: usize,
}

/// Walks from `wants` and `haves` (commits, tags already peeled) as git's `limit_list` does;
/// `shallow` commits are walked as if they had no parents.
pub(super) fn limit(
    repo: &dyn ObjectStore,
    cache: &mut CommitCache,
    wants: &[ObjectId],
    haves: &[ObjectId],
    shallow: &IdSet,
    progress: &mut dyn Progress,
) -> Result<Limited, Error> {
    let mut w = Limit {
        repo,
        cache,
        shallow,
        flags: PackedIdMap::default(),
        queue: BinaryHeap::new(),
        pushed: 0,
        interesting_queued: 0,
    };
    // The haves' flags first, so that a commit both wanted and had is queued uninteresting.
    for h in haves {
        w.cache.get(repo, h)?;
        w.mark_uninteresting(*h);
        w.mark_parents_uninteresting(h);
    }
    for c in wants.iter().chain(haves) {
        w.cache.get(repo, c)?;
        w.enqueue(*c)?;
    }
    let mut newlist: Vec<ObjectId> = Vec::new();
    let mut date = i64::MAX;
    let mut slop = SLOP;
    while let Some((time, _, c)) = w.queue.pop() {
        let f = w.flag(&c);
        w.flags.insert(&c, f | POPPED);
        if f & UNINTERESTING == 0 {
            w.interesting_queued = w.interesting_queued.saturating_sub(1);
        }
        w.process_parents(&c)?;
        if w.flag(&c) & UNINTERESTING != 0 {
            w.mark_parents_uninteresting(&c);
            slop = w.still_interesting(date, slop);
            if slop > 0 {
                continue;
            }
            break;
        }
        date = time;
        newlist.push(c);
        if newlist.len() % 1024 == 0 {
            progress.update("Counting objects", newlist.len() as u64, None);
        }
    }
    w.finish(newlist)
}

impl Limit<'_> {
    fn flag(&self, id: &ObjectId) -> u8 {
        self.flags.get(id).copied().unwrap_or(0)
    }

    /// The parents of `id` if it has been parsed (git knows a commit's parents only then), none
    /// for a shallow commit.
    fn parsed_parents(&self, id: &ObjectId) -> Option<Parents> {
        if self.shallow.contains(id) {
            return Some(Parents::None);
        }
        self.cache.peek(id).map(|c| c.parents.owned())
    }

    /// The parents of `id`, parsing it if needed.
    fn parents(&mut self, id: &ObjectId) -> Result<Parents, Error> {
        if self.shallow.contains(id) {
            return Ok(Parents::None);
        }
        Ok(self.cache.get(self.repo, id)?.parents.owned())
    }

    /// Sets `UNINTERESTING` on `id`; false when it was set already.
    fn mark_uninteresting(&mut self, id: ObjectId) -> bool {
        let f = self.flags.get_or_insert(&id, 0);
        if *f & UNINTERESTING != 0 {
            return false;
        }
        if *f & (SEEN | POPPED) == SEEN {
            self.interesting_queued = self.interesting_queued.saturating_sub(1);
        }
        *f |= UNINTERESTING;
        true
    }

    /// Queues `id` (parsed) unless it was queued before.
    fn enqueue(&mut self, id: ObjectId) -> Result<(), Error> {
        let f = self.flags.get_or_insert(&id, 0);
        if *f & SEEN != 0 {
            return Ok(());
        }
        *f |= SEEN;
        if *f & UNINTERESTING == 0 {
            self.interesting_queued += 1;
        }
        let time = self.cache.get(self.repo, &id)?.time;
        self.queue.push((time, Reverse(self.pushed), id));
        self.pushed += 1;
        Ok(())
    }

    /// git's `mark_parents_uninteresting`: marks the parents of `id`, and on through every
    /// ancestor already parsed, stopping at marked ones.
    fn mark_parents_uninteresting(&mut self, id: &ObjectId) {
        let mut stack: Vec<ObjectId> = self
            .parsed_parents(id)
            .map(|p| p.to_vec())
            .unwrap_or_default();
        while let Some(p) = stack.pop() {
            if !self.mark_uninteresting(p) {
                continue;
            }
            if let Some(parents) = self.parsed_parents(&p) {
                stack.extend(parents.iter().copied());
            }
        }
    }

    /// git's `process_parents`: an uninteresting commit's parents are marked, parsed, their own
    /// parents marked, and queued; an interesting commit's parents are parsed and queued.
    fn process_parents(&mut self, id: &ObjectId) -> Result<(), Error> {
        let parents = self.parents(id)?;
        if self.flag(id) & UNINTERESTING != 0 {
            for p in &parents {
                self.mark_uninteresting(*p);
                // A parent missing here is one only the client has: nothing to walk.
                if self.cache.get(self.repo, p).is_err() {
                    continue;
                }
                self.mark_parents_uninteresting(p);
                self.enqueue(*p)?;
            }
            return Ok(());
        }
        for p in &parents {
            self.cache.get(self.repo, p)?;
            self.enqueue(*p)?;
        }
        Ok(())
    }

    /// git's `still_interesting`: keep walking while the queue holds a commit at least as new as
    /// the last interesting one (`date`) or any interesting commit; then `slop` more steps.
    fn still_interesting(&self, date: i64, slop: u32) -> u32 {
        let Some((newest, _, _)) = self.queue.peek() else {
            return 0;
        };
        if date <= *newest || self.interesting_queued > 0 {
            return SLOP;
        }
        slop - 1
    }

    /// The commits still interesting, the edge, and the commits found uninteresting late.
    fn finish(mut self, newlist: Vec<ObjectId>) -> Result<Limited, Error> {
        let mut out = Limited::default();
        let mut edge_seen = IdSet::default();
        for c in newlist {
            if self.flag(&c) & UNINTERESTING != 0 {
                out.late.push(c);
                continue;
            }
            for p in &self.parents(&c)? {
                if self.flag(p) & UNINTERESTING != 0 && edge_seen.insert(*p) {
                    out.edges.push(*p);
                }
            }
            out.commits.push(c);
        }
        Ok(out)
    }
}
