//! Following chains of annotated tags (a tag of a tag of … a commit).
//!
//! Reading never bounds a chain's length: C git peels any chain a repository holds, and a limit
//! here would let one user who pushed a deep chain make the repository unreadable for everyone
//! (every advertisement peels every tag). Length is bounded by the repository itself: each link
//! is a distinct object named by its hash, so a chain cannot loop unless the storage is corrupt,
//! which [`ChainGuard`] detects. Depth limits belong where objects are *accepted*
//! (receive-pack refuses deeper chains than it will store, see [`MAX_PUSHED_DEPTH`]).

use std::collections::HashSet;

use crate::hash::ObjectId;

/// The deepest tag chain a push may create (C git accepts any; Sluice refuses deeper ones when
/// they arrive, so no chain is deeper than this unless C git wrote it).
pub const MAX_PUSHED_DEPTH: usize = 64;

/// Links followed before the guard starts remembering ids (cheap for every real chain).
const REMEMBER_AFTER: usize = 64;

/// Detects a loop in a chain being followed: counts links, and past [`REMEMBER_AFTER`] keeps the
/// ids seen, so a corrupt store whose objects point back up the chain is an error, not a hang.
#[derive(Debug, Default)]
pub struct ChainGuard {
    steps: usize,
    seen: HashSet<ObjectId>,
}

/// A chain of tags that comes back to an object already on it (only corrupt storage can).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("tag chain loops back to {0}")]
pub struct Loop(pub ObjectId);

impl ChainGuard {
    /// A guard for a new chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the chain reached `id`; `Err` when it was reached before.
    pub fn step(&mut self, id: &ObjectId) -> Result<(), Loop> {
        self.steps += 1;
        if self.steps > REMEMBER_AFTER && !self.seen.insert(*id) {
            return Err(Loop(*id));
        }
        Ok(())
    }

    /// Links followed so far.
    pub fn depth(&self) -> usize {
        self.steps
    }
}

/// Follows tags from `start`: `target(id)` returns the object tag `id` points at, or `None`
/// when `id` is not a tag. Returns the first non-tag object and the number of tags passed.
pub fn peel<E: From<Loop>>(
    start: ObjectId,
    mut target: impl FnMut(&ObjectId) -> Result<Option<ObjectId>, E>,
) -> Result<(ObjectId, usize), E> {
    let mut guard = ChainGuard::new();
    let mut current = start;
    while let Some(next) = target(&current)? {
        guard.step(&current)?;
        current = next;
    }
    Ok((current, guard.depth()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashKind;

    fn id(n: u32) -> ObjectId {
        let hex = format!("{n:040x}");
        let _ = HashKind::Sha1;
        ObjectId::from_hex(hex.as_bytes()).unwrap()
    }

    #[test]
    fn deep_chains_peel_and_loops_are_errors() {
        // 100,000 tags deep: peeled, depth counted.
        let (end, depth) = peel::<Loop>(id(0), |x| {
            let n = u32::from_str_radix(&x.to_hex()[32..], 16).unwrap();
            Ok((n < 100_000).then(|| id(n + 1)))
        })
        .unwrap();
        assert_eq!((end, depth), (id(100_000), 100_000));
        // A loop (corrupt storage) is reported, not followed forever.
        let err = peel::<Loop>(id(0), |x| {
            let n = u32::from_str_radix(&x.to_hex()[32..], 16).unwrap();
            Ok(Some(id((n + 1) % 300)))
        })
        .unwrap_err();
        assert!(matches!(err, Loop(_)));
    }
}
