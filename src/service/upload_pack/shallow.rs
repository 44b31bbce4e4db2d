//! Shallow clones and fetches (git's `deepen`, `deepen_by_rev_list`, `send_shallow`,
//! `send_unshallow`): from the client's current shallow commits and its deepen request, compute
//! the new boundary (`shallow` lines), the commits that stop being shallow (`unshallow` lines),
//! and what the object walk needs: the commits to treat as parentless, extra wants (the parents
//! of unshallowed commits) and extra edges (the unshallowed commits, which the client has).

use std::collections::VecDeque;

use crate::backend::{Ref, Repository};
use crate::hash::{IdMap, IdSet, ObjectId};
use crate::walk::{self, CommitCache};

/// What the client sent about depth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShallowRequest {
    /// `shallow <id>` lines: the client's current boundary.
    pub client_shallow: Vec<ObjectId>,
    /// `deepen <n>`.
    pub depth: Option<u32>,
    /// `deepen-relative`.
    pub relative: bool,
    /// `deepen-since <time>`.
    pub since: Option<i64>,
    /// `deepen-not <ref>` lines.
    pub not: Vec<String>,
}

impl ShallowRequest {
    /// Whether the client asked to change its depth (only then is a shallow section sent in v0).
    pub fn deepens(&self) -> bool {
        self.depth.is_some() || self.since.is_some() || !self.not.is_empty()
    }

    /// Whether anything about shallowness was sent.
    pub fn any(&self) -> bool {
        self.deepens() || !self.client_shallow.is_empty()
    }
}

/// Why a shallow request was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The walk failed.
    #[error(transparent)]
    Walk(#[from] walk::Error),
    /// The repository failed.
    #[error(transparent)]
    Backend(#[from] crate::backend::Error),
    /// `deepen` with `deepen-since`/`deepen-not`.
    #[error("deepen and deepen-since (or deepen-not) cannot be used together")]
    Conflict,
    /// `deepen-not` names no ref.
    #[error("git upload-pack: ambiguous or unknown deepen-not ref '{0}'")]
    UnknownRef(String),
    /// The deepen request selects no commit.
    #[error("no commits selected for shallow requests")]
    NothingSelected,
}

/// The outcome for one request.
#[derive(Debug, Clone, Default)]
pub struct ShallowPlan {
    /// New boundary commits to announce (`shallow <id>`).
    pub shallow: Vec<ObjectId>,
    /// Client boundary commits that are no longer shallow (`unshallow <id>`).
    pub unshallow: Vec<ObjectId>,
    /// Commits the object walk treats as parentless.
    pub walk_shallow: IdSet,
    /// Commits to send in addition to the wants.
    pub extra_wants: Vec<ObjectId>,
    /// Commits the client has although it did not say `have`.
    pub extra_edges: Vec<ObjectId>,
}

fn peel(repo: &dyn Repository, id: &ObjectId) -> Result<Option<ObjectId>, Error> {
    Ok(walk::peel_to_commit(repo, id)?)
}

/// The commits `wants` peel to.
fn peeled(repo: &dyn Repository, wants: &[ObjectId]) -> Result<Vec<ObjectId>, Error> {
    let mut heads = Vec::new();
    for w in wants {
        if let Some(c) = peel(repo, w)? {
            heads.push(c);
        }
    }
    Ok(heads)
}

/// Whether `c` is one of the repository's own shallow commits (its parents are not there).
fn is_root_cut(repo: &dyn Repository, c: &ObjectId) -> bool {
    repo.shallow_roots().is_some_and(|s| s.contains(c))
}

/// Resolves a `deepen-not` name as git's dwim does.
fn resolve_ref(refs: &[Ref], name: &str) -> Option<ObjectId> {
    let candidates = [
        name.to_string(),
        format!("refs/{name}"),
        format!("refs/tags/{name}"),
        format!("refs/heads/{name}"),
        format!("refs/remotes/{name}"),
        format!("refs/remotes/{name}/HEAD"),
    ];
    candidates
        .iter()
        .find_map(|c| refs.iter().find(|r| &r.name == c))
        .map(|r| r.peeled.unwrap_or(r.id))
}

/// Computes the shallow plan for `wants` under `req`.
pub fn plan(
    repo: &dyn Repository,
    refs: &[Ref],
    wants: &[ObjectId],
    req: &ShallowRequest,
) -> Result<ShallowPlan, Error> {
    let mut cache = CommitCache::default();
    let client: IdSet = req.client_shallow.iter().copied().collect();
    let mut plan = ShallowPlan::default();
    if req.depth.is_some() && (req.since.is_some() || !req.not.is_empty()) {
        return Err(Error::Conflict);
    }
    // boundary: the new shallow commits; not_shallow: commits now known to be complete.
    let (boundary, not_shallow): (Vec<ObjectId>, IdSet) = if let Some(depth) = req.depth {
        let (heads, depth) = if req.relative {
            (req.client_shallow.clone(), u64::from(depth) + 1)
        } else {
            (peeled(repo, wants)?, u64::from(depth))
        };
        by_depth(repo, &mut cache, &heads, depth)?
    } else if req.deepens() {
        by_rev_list(repo, &mut cache, refs, wants, req)?
    } else if repo.shallow_roots().is_some() {
        // A shallow repository and no depth asked: C git's deepen(INFINITE_DEPTH).
        by_depth(repo, &mut cache, &peeled(repo, wants)?, u64::MAX)?
    } else {
        (Vec::new(), IdSet::default())
    };
    for b in &boundary {
        if !client.contains(b) {
            plan.shallow.push(*b);
        }
    }
    let boundary_set: IdSet = boundary.iter().copied().collect();
    for s in &req.client_shallow {
        if not_shallow.contains(s) && !boundary_set.contains(s) {
            plan.unshallow.push(*s);
            plan.extra_wants.extend(cache.get(repo, s)?.parents.iter());
            plan.extra_edges.push(*s);
        }
    }
    // Every client shallow commit stays parentless for the walk (git registers them all), plus
    // the new boundary.
    plan.walk_shallow = client.into_iter().chain(boundary).collect();
    Ok(plan)
}

/// `deepen <depth>` from `heads` (at depth 1): commits at exactly `depth` form the boundary,
/// shallower ones are complete.
fn by_depth(
    repo: &dyn Repository,
    cache: &mut CommitCache,
    heads: &[ObjectId],
    depth: u64,
) -> Result<(Vec<ObjectId>, IdSet), Error> {
    let mut seen: IdMap<u64> = IdMap::default();
    let mut queue: VecDeque<(ObjectId, u64)> = heads.iter().map(|h| (*h, 1)).collect();
    let mut boundary = Vec::new();
    let mut complete = IdSet::default();
    while let Some((c, d)) = queue.pop_front() {
        if seen.contains_key(&c) {
            continue;
        }
        seen.insert(c, d);
        // The repository's own shallow commits are a boundary at any depth: the client
        // cannot get past them (git's get_shallow_commits, graft with no parents).
        if d >= depth || is_root_cut(repo, &c) {
            boundary.push(c);
            continue;
        }
        complete.insert(c);
        for p in cache.get(repo, &c)?.parents.to_vec() {
            if !seen.contains_key(&p) {
                queue.push_back((p, d + 1));
            }
        }
    }
    // A boundary commit without parents is not shallow (nothing is cut off), unless the
    // repository itself cut them off.
    let mut kept = Vec::new();
    for b in boundary {
        if !is_root_cut(repo, &b) && cache.get(repo, &b)?.parents.is_empty() {
            complete.insert(b);
        } else {
            kept.push(b);
        }
    }
    Ok((kept, complete))
}

/// `deepen-since` / `deepen-not`: the commits reachable from the wants, newer than `since` and
/// not reachable from the `not` refs; those with a parent left out form the boundary.
fn by_rev_list(
    repo: &dyn Repository,
    cache: &mut CommitCache,
    refs: &[Ref],
    wants: &[ObjectId],
    req: &ShallowRequest,
) -> Result<(Vec<ObjectId>, IdSet), Error> {
    let mut excluded: IdSet = IdSet::default();
    for name in &req.not {
        let id = resolve_ref(refs, name).ok_or_else(|| Error::UnknownRef(name.clone()))?;
        let Some(c) = peel(repo, &id)? else { continue };
        let mut stack = vec![c];
        while let Some(x) = stack.pop() {
            if excluded.insert(x) {
                stack.extend(cache.get(repo, &x)?.parents.iter());
            }
        }
    }
    let included = |cache: &mut CommitCache, c: &ObjectId| -> Result<bool, Error> {
        if excluded.contains(c) {
            return Ok(false);
        }
        Ok(req
            .since
            .is_none_or(|t| cache.get(repo, c).map(|i| i.time >= t).unwrap_or(false)))
    };
    let mut selected: Vec<ObjectId> = Vec::new();
    let mut seen = IdSet::default();
    let mut stack = Vec::new();
    for w in wants {
        if let Some(c) = peel(repo, w)? {
            stack.push(c);
        }
    }
    while let Some(c) = stack.pop() {
        if !seen.insert(c) || !included(cache, &c)? {
            continue;
        }
        selected.push(c);
        stack.extend(cache.get(repo, &c)?.parents.iter());
    }
    if selected.is_empty() {
        return Err(Error::NothingSelected);
    }
    let complete: IdSet = selected.iter().copied().collect();
    let mut boundary = Vec::new();
    for c in &selected {
        let parents = cache.get(repo, c)?.parents.to_vec();
        if is_root_cut(repo, c) || parents.iter().any(|p| !complete.contains(p)) {
            boundary.push(*c);
        }
    }
    Ok((boundary, complete))
}
