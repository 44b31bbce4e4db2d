//! What a v2 session's `ls-refs` advertised, and the refs of one `fetch` read only when needed.
//!
//! A v2 `fetch` must find each want among the tips of the visible refs (Sluice's rule; see
//! [`super::check_unlisted_wants`]). Reading every ref for that was a fifth of an incremental
//! fetch of tokio (5,500 packed refs): the client wants what the same session's `ls-refs`
//! showed it, so the names `ls-refs` sent are kept ([`Advertised`]) and looked up again, one by
//! one, as they are now. Only a want that none of them holds (or a session without `ls-refs`:
//! each request of smart HTTP is its own process) reads them all ([`LazyRefs`]).
//!
//! Deviation: C git's v2 `fetch` checks only that a want exists (`upload-pack.c: parse_want`);
//! Sluice keeps v0's rule, so objects behind hidden refs stay unfetchable unless
//! `uploadpack.allow*SHA1InWant` says otherwise.

use std::collections::HashSet;
use std::ops::ControlFlow;

use super::Error;
use crate::backend::{Ref, Repository};
use crate::hash::ObjectId;

/// The most ref names kept; an `ls-refs` listing more (an `ls-remote`, a mirror clone) keeps
/// none, and a fetch after it reads every ref, as before.
const MAX_NAMES: usize = 64;

/// The refs this session's `ls-refs` commands sent, by name.
#[derive(Default)]
pub(super) struct Advertised {
    names: Vec<String>,
    /// A `HEAD` line with an id was sent.
    head: bool,
    /// More than [`MAX_NAMES`] were sent: nothing is kept.
    overflowed: bool,
}

impl Advertised {
    /// Records that ref `name` was sent.
    pub(super) fn note(&mut self, name: &str) {
        if self.overflowed {
            return;
        }
        if self.names.len() >= MAX_NAMES {
            self.overflowed = true;
            self.names = Vec::new();
            return;
        }
        self.names.push(name.to_string());
    }

    /// Records that HEAD was sent with an id.
    pub(super) fn note_head(&mut self) {
        self.head = true;
    }

    /// Whether every one of `wants` is, now, the value or peeled value of a ref (or HEAD) this
    /// session advertised, read again through `repo` (so through the same hiding rules).
    /// `false` says only "not shown this way": the caller then reads every ref.
    pub(super) fn cover(&self, repo: &dyn Repository, wants: &[ObjectId]) -> Result<bool, Error> {
        if self.overflowed || (self.names.is_empty() && !self.head) {
            return Ok(false);
        }
        let mut missing: HashSet<ObjectId> = wants.iter().copied().collect();
        if self.head {
            if let Some(id) = repo.head()?.id {
                missing.remove(&id);
            }
        }
        for name in &self.names {
            if missing.is_empty() {
                break;
            }
            // The first ref with the name as prefix is the ref itself, if it exists.
            repo.for_each_ref(name, &mut |r| {
                if r.name == *name {
                    missing.remove(&r.id);
                    if let Some(p) = r.peeled {
                        missing.remove(&p);
                    }
                }
                Ok(ControlFlow::Break(()))
            })?;
        }
        Ok(missing.is_empty())
    }
}

/// The refs for one request, read once and only when something asks for them all.
pub(super) struct LazyRefs<'r> {
    repo: &'r dyn Repository,
    refs: Option<Vec<Ref>>,
}

impl<'r> LazyRefs<'r> {
    /// Nothing read yet from `repo`.
    pub(super) fn new(repo: &'r dyn Repository) -> Self {
        LazyRefs { repo, refs: None }
    }

    /// Every ref, read on the first call.
    pub(super) fn get(&mut self) -> Result<&[Ref], Error> {
        if self.refs.is_none() {
            self.refs = Some(self.repo.refs()?);
        }
        Ok(self.refs.as_deref().unwrap_or_default())
    }

    /// The refs under `refs/tags/`, `include-tag`'s candidates: C git's pack-objects reads only
    /// those, and a repository with many branches or pull refs should not pay for reading them.
    /// Taken from the refs when they were read already.
    pub(super) fn tags(&mut self) -> Result<Vec<Ref>, Error> {
        if let Some(all) = &self.refs {
            return Ok(tag_refs(all));
        }
        let mut out = Vec::new();
        self.repo.for_each_ref(TAGS, &mut |r| {
            out.push(r);
            Ok(std::ops::ControlFlow::Continue(()))
        })?;
        Ok(out)
    }
}

/// Where `include-tag` looks for tags.
const TAGS: &str = "refs/tags/";

/// The refs under `refs/tags/` among `refs`: the one rule for `include-tag`'s candidates, used by
/// v0 (which has read every ref for its advertisement) and v2 ([`LazyRefs::tags`]).
pub(super) fn tag_refs(refs: &[Ref]) -> Vec<Ref> {
    refs.iter()
        .filter(|r| r.name.starts_with(TAGS))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_limit_nothing_is_kept() {
        let mut a = Advertised::default();
        for i in 0..MAX_NAMES {
            a.note(&format!("refs/heads/b{i}"));
        }
        assert_eq!(a.names.len(), MAX_NAMES);
        assert!(!a.overflowed);
        a.note("refs/heads/one-more");
        assert!(a.overflowed);
        assert!(a.names.is_empty());
        a.note("refs/heads/again");
        assert!(a.names.is_empty());
    }
}
