//! Maintenance Sluice can do without a `git` binary: writing the commit-graph
//! (`objects/info/commit-graph`) that speeds up every walk, for repositories that only ever saw
//! Sluice. The file is written under a temporary name, fsynced and renamed, as git does.

use std::io::Write;
use std::path::Path;

use crate::backend::fs::FsRepository;
use crate::backend::{Error, ObjectStore, Repository};
use crate::hash::{IdSet, ObjectId};
use crate::odb::commit_graph::{encode, GraphCommit};
use crate::odb::{CommitRef, Kind, TagRef};
use crate::progress::{Discard, Progress};

/// The progress stages, named as `git commit-graph write` names them.
const EXPANDING: &str = "Expanding reachable commits in commit graph";
const WRITING: &str = "Writing out commit graph";

/// Writes a commit-graph of every commit reachable from the refs and HEAD of `repo`; returns
/// how many commits it holds. Commits are read from the objects themselves, never from an
/// existing graph.
pub fn write_commit_graph(repo: &FsRepository) -> Result<usize, Error> {
    write_commit_graph_with_progress(repo, &mut Discard)
}

/// [`write_commit_graph`], reporting the commits found and written to `progress`.
pub fn write_commit_graph_with_progress(
    repo: &FsRepository,
    progress: &mut dyn Progress,
) -> Result<usize, Error> {
    match reachable_commits(repo, progress)? {
        Some(commits) => install(repo, &commits, progress),
        None => Ok(0),
    }
}

/// The commits a commit-graph of `repo` holds: every one reachable from the refs and HEAD,
/// read from the objects themselves, never from an existing graph; `None` in a shallow
/// repository, which gets no graph. Reports the commits found to `progress`. Split from
/// [`install`] so that a repack reads them while it writes its pack.
pub fn reachable_commits(
    repo: &FsRepository,
    progress: &mut dyn Progress,
) -> Result<Option<Vec<(ObjectId, GraphCommit)>>, Error> {
    // C git writes no commit-graph for a shallow repository (its parents would be wrong).
    if repo.shallow_roots().is_some() {
        progress.message("shallow repository: no commit-graph written");
        return Ok(None);
    }
    let mut tips: Vec<ObjectId> = repo.refs()?.iter().map(|r| r.id).collect();
    tips.extend(repo.head()?.id);
    let mut seen = IdSet::default();
    let mut commits: Vec<(ObjectId, GraphCommit)> = Vec::new();
    let mut queue = tips;
    while let Some(id) = queue.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(obj) = repo.read_object(&id)? else {
            return Err(Error::MissingObject(id));
        };
        let corrupt = |e: crate::odb::Error| Error::Object { id, source: e };
        match obj.kind {
            Kind::Tag => queue.push(TagRef::parse(&obj.data).map_err(corrupt)?.object),
            Kind::Commit => {
                let c = CommitRef::parse(&obj.data).map_err(corrupt)?;
                queue.extend(c.parents.iter().copied());
                if commits.len() % 1024 == 0 {
                    progress.update(EXPANDING, commits.len() as u64, None);
                }
                commits.push((
                    id,
                    GraphCommit {
                        tree: c.tree,
                        parents: c.parents,
                        time: c.commit_time,
                    },
                ));
            }
            _ => {}
        }
    }
    progress.finish(EXPANDING, commits.len() as u64, None);
    Ok(Some(commits))
}

/// Tells `progress` what [`reachable_commits`] `found` when it ran with no progress of its own
/// (on another thread).
pub fn report_found(found: Option<&[(ObjectId, GraphCommit)]>, progress: &mut dyn Progress) {
    match found {
        Some(commits) => progress.finish(EXPANDING, commits.len() as u64, None),
        None => progress.message("shallow repository: no commit-graph written"),
    }
}

/// Writes `commits` (from [`reachable_commits`]) as the commit-graph of `repo`, reporting to
/// `progress`; returns how many commits it holds.
pub fn install(
    repo: &FsRepository,
    commits: &[(ObjectId, GraphCommit)],
    progress: &mut dyn Progress,
) -> Result<usize, Error> {
    let total = commits.len() as u64;
    progress.update(WRITING, 0, Some(total));
    let bytes = encode(commits, repo.hash_kind())
        .ok_or_else(|| Error::corrupt("commit-graph", "history cannot be encoded"))?;
    let info = repo.common_dir().join("objects/info");
    repo.shared_perm()
        .create_dir_all(&info)
        .map_err(|e| Error::io(info.display().to_string(), e))?;
    let tmp = info.join(format!("tmp_commit_graph_{}", std::process::id()));
    let io = |p: &Path, e| Error::io(p.display().to_string(), e);
    let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(&bytes).map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    drop(f);
    repo.shared_perm()
        .read_only(&tmp)
        .map_err(|e| io(&tmp, e))?;
    let target = info.join("commit-graph");
    std::fs::rename(&tmp, &target).map_err(|e| io(&target, e))?;
    std::fs::File::open(&info)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(&info, e))?;
    progress.finish(WRITING, total, Some(total));
    Ok(commits.len())
}
