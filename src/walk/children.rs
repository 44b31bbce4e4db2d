//! The entries of every tree a walk read, kept as the walk positions of the objects they name,
//! so that a repack's bitmap writer never reads a tree again.
//!
//! A repack walks every tree of the history, then computes the closures of a few hundred
//! commits over the same trees: reading each tree twice (inflating it, searching the `.idx`,
//! looking each entry's id up in a table of positions) was nearly half of `sluice repack`'s
//! time on tokio. Recorded here, a closure steps through arrays of `u32`.
//!
//! Most of a tree's entries equal its base's (the version of the directory walked before it,
//! see [`super::bases`]): the walker copies their positions from the base's record instead of
//! looking them up. A subtree's position is only known when the walk reaches it (depth first,
//! later): its slot is filled then, and always before a later version of the directory copies
//! it, since a base's subtrees are walked before anything after it at its depth.
//!
//! A record takes four bytes per entry: tokio's 86,000 trees hold 1.4 million entries, but
//! git.git's 168,000 hold 59 million, so recording stops at [`MAX_SLOTS`]; the bitmap writer
//! reads the trees not recorded as before.

use crate::hash::ObjectId;
use crate::odb::Kind;
use crate::walk::bases::{Bases, Place, NEW};
use crate::walk::PackList;

/// An entry naming a commit of another repository (a gitlink): not part of any closure.
pub const GITLINK: u32 = u32::MAX;
/// An entry naming an object outside the positions (not walked: the client has it, a filter
/// dropped it, or the repack leaves it where it is).
pub const OUTSIDE: u32 = u32::MAX - 1;
/// A subtree's slot, until the walk reaches the subtree.
const PENDING: u32 = u32::MAX - 2;
/// The tag of a base with no record.
const UNRECORDED: u32 = u32::MAX;
/// Most entries recorded per walk (64 MiB).
pub const MAX_SLOTS: usize = 16 << 20;

/// The recorded entries of a walk's trees, by position.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TreeChildren {
    /// By position: (first slot, number of entries) of the tree there; first slot
    /// [`UNRECORDED`] for an object with no record.
    ranges: Vec<(u32, u32)>,
    /// Positions, [`GITLINK`] or [`OUTSIDE`], each tree's entries in tree order.
    slots: Vec<u32>,
}

impl TreeChildren {
    /// The positions of the entries of the tree at `pos`, if it was recorded: [`GITLINK`] and
    /// [`OUTSIDE`] for entries with none.
    pub fn of(&self, pos: u32) -> Option<&[u32]> {
        let &(first, n) = self.ranges.get(pos as usize)?;
        if first == UNRECORDED {
            return None;
        }
        self.slots.get(first as usize..first as usize + n as usize)
    }

    /// How many trees have a record.
    pub fn trees(&self) -> usize {
        self.ranges.iter().filter(|r| r.0 != UNRECORDED).count()
    }

    /// Renumbers positions: `new_pos[p]` is the new position of position `p`, or [`OUTSIDE`]
    /// for an object dropped (its record, if a tree's, goes too); `len` positions in all.
    pub fn renumber(&mut self, new_pos: &[u32], len: usize) {
        for s in &mut self.slots {
            if *s != GITLINK {
                *s = new_pos.get(*s as usize).copied().unwrap_or(OUTSIDE);
            }
        }
        let mut ranges = vec![(UNRECORDED, 0); len];
        for (old, &r) in self.ranges.iter().enumerate() {
            match new_pos.get(old) {
                Some(&p) if p != OUTSIDE && r.0 != UNRECORDED => {
                    if let Some(at) = ranges.get_mut(p as usize) {
                        *at = r;
                    }
                }
                _ => {}
            }
        }
        self.ranges = ranges;
    }

    /// Adds the records of `other` (positions already renumbered to this one's) to these.
    pub fn append(&mut self, other: TreeChildren) {
        let shift = self.slots.len() as u32;
        if self.ranges.len() < other.ranges.len() {
            self.ranges.resize(other.ranges.len(), (UNRECORDED, 0));
        }
        for (p, r) in other.ranges.into_iter().enumerate() {
            if r.0 != UNRECORDED && self.ranges[p].0 == UNRECORDED {
                self.ranges[p] = (r.0 + shift, r.1);
            }
        }
        self.slots.extend(other.slots);
    }
}

/// What a walker records as it goes (see the module documentation).
pub(crate) struct Recorder {
    children: TreeChildren,
    /// Where each entry of the tree being walked came from ([`Bases::for_new_entries_traced`]).
    origin: Vec<u32>,
    /// The value of each entry shown to the walker, in order (`PENDING` for subtrees).
    shown: Vec<u32>,
    /// Set when [`MAX_SLOTS`] was reached: nothing more is recorded.
    full: bool,
    max_slots: usize,
}

impl Recorder {
    /// A recorder recording at most `max_slots` entries. The positions it records are looked
    /// up in the walk's [`PackList`], which indexes its objects by id anyway.
    pub(crate) fn new(max_slots: usize) -> Self {
        Recorder {
            children: TreeChildren::default(),
            origin: Vec::new(),
            shown: Vec::new(),
            full: false,
            max_slots,
        }
    }

    /// Records at most `max_slots` entries from now on (a walk split in two halves gives each
    /// half its share).
    pub(crate) fn limit(&mut self, max_slots: usize) {
        self.max_slots = max_slots;
    }

    /// The position of tree or blob `id` in the walk's output `out`, else [`OUTSIDE`].
    pub(crate) fn position(out: &PackList, id: &ObjectId) -> u32 {
        out.position(id)
            .filter(|&p| matches!(out.kind(p), Some(Kind::Tree | Kind::Blob)))
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(OUTSIDE)
    }

    /// Fills the slot `slot` (from [`Self::finish_tree`]) of a subtree now reached: `value` is
    /// its position or [`OUTSIDE`].
    pub(crate) fn fill(&mut self, slot: Option<u32>, value: u32) {
        if let Some(s) = slot.and_then(|s| self.children.slots.get_mut(s as usize)) {
            *s = value;
        }
    }

    /// Starts a tree: returns the (empty) buffer to pass to
    /// [`Bases::for_new_entries_traced`] and then back to [`Self::finish_tree`].
    pub(crate) fn begin_tree(&mut self) -> Vec<u32> {
        self.shown.clear();
        let mut origin = std::mem::take(&mut self.origin);
        origin.clear();
        origin
    }

    /// The walker was shown an entry worth `value` (a position, [`GITLINK`], [`OUTSIDE`]), or
    /// a subtree (`None`) whose slot [`Self::finish_tree`] hands out.
    pub(crate) fn shown(&mut self, value: Option<u32>) {
        self.shown.push(value.unwrap_or(PENDING));
    }

    /// Records the tree at position `pos` (`None`: not in the output) just walked at `place`,
    /// whose base had tag `base_tag` before the walk, with `origin` filled by
    /// [`Bases::for_new_entries_traced`]; tags the tree as a base in `bases`. Returns the slot
    /// of each subtree shown, in order (`None` when the tree is not recorded).
    pub(crate) fn finish_tree(
        &mut self,
        origin: Vec<u32>,
        pos: Option<usize>,
        place: Place,
        base_tag: Option<u32>,
        bases: &mut Bases,
    ) -> Vec<Option<u32>> {
        self.origin = origin;
        let pending = self.shown.iter().filter(|&&v| v == PENDING).count();
        let first = self.children.slots.len();
        let base_first = base_tag.filter(|&t| t != UNRECORDED);
        let needs_base = self.origin.iter().any(|&o| o != NEW);
        let recordable = !self.full
            && (base_first.is_some() || !needs_base)
            && pos.is_some_and(|p| u32::try_from(p).is_ok())
            && u32::try_from(first + self.origin.len()).is_ok_and(|end| end < PENDING);
        if !recordable || first + self.origin.len() > self.max_slots {
            self.full |= first + self.origin.len() > self.max_slots;
            bases.retag(place, UNRECORDED);
            return vec![None; pending];
        }
        let mut subtree_slots = Vec::with_capacity(pending);
        let mut shown = self.shown.iter();
        for &o in &self.origin {
            let value = if o == NEW {
                let v = shown.next().copied().unwrap_or(OUTSIDE);
                if v == PENDING {
                    subtree_slots.push(Some(self.children.slots.len() as u32));
                }
                v
            } else {
                let from = base_first.map_or(OUTSIDE as usize, |b| b as usize + o as usize);
                self.children.slots.get(from).copied().unwrap_or(OUTSIDE)
            };
            self.children.slots.push(value);
        }
        let p = pos.unwrap_or_default();
        if self.children.ranges.len() <= p {
            self.children.ranges.resize(p + 1, (UNRECORDED, 0));
        }
        self.children.ranges[p] = (first as u32, self.origin.len() as u32);
        bases.retag(place, first as u32);
        subtree_slots
    }

    /// The tag a tree walked now gives its base before [`Self::finish_tree`] knows better.
    pub(crate) fn provisional_tag() -> u32 {
        UNRECORDED
    }

    /// Adds records made by another walker, already renumbered to this one's positions.
    pub(crate) fn append(&mut self, other: TreeChildren) {
        self.children.append(other);
    }

    /// The records so far.
    pub(crate) fn into_children(self) -> TreeChildren {
        self.children
    }
}
