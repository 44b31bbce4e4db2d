//! The fs backend's ref store when `extensions.refStorage = reftable`
//! ([`crate::refs::reftable::ReftableRefStore`]), given what only the backend knows: the object
//! directory to peel pushed tags from, and the reflog identity and policy C git's receive-pack
//! would use ([`super::reflog`]).

use std::path::Path;
use std::sync::Arc;

use crate::backend::Error;
use crate::env::Env;
use crate::file_mode::SharedPerm;
use crate::git_config::GitConfig;
use crate::hash::{HashKind, ObjectId};
use crate::refs::reftable::store::{LogSource, Peeler};
use crate::refs::reftable::transaction::{lock_timeout, WriteOptions};
use crate::refs::reftable::{RefValue, ReftableRefStore};

/// The ref store of the repository whose common directory is `common_dir`: its
/// `reftable/` stack, peeling tags from `common_dir/objects` and logging as `config` says
/// (`bare` decides the default of `core.logAllRefUpdates`), waiting `reftable.lockTimeout` for
/// the stack's lock; `hash` is the repository's. When `git_dir` is a linked worktree's
/// (`worktrees/<id>`), its own stack holds that worktree's HEAD, as in C git.
pub fn open_store(
    git_dir: &Path,
    common_dir: &Path,
    hash: HashKind,
    config: &GitConfig,
    bare: bool,
    shared: SharedPerm,
    env: Arc<Env>,
) -> Result<ReftableRefStore, Error> {
    let options = WriteOptions {
        shared,
        lock_timeout: lock_timeout(config)?,
    };
    let objects_dir = common_dir.join("objects");
    let peel: Peeler =
        Box::new(move |id: &ObjectId| super::peel::peel_from(&objects_dir, hash, id));
    let source: LogSource = Box::new(super::reflog::log_source(config, bare, env));
    let store = ReftableRefStore::new(&common_dir.join("reftable"), hash, options, peel, source);
    Ok(match git_dir != common_dir {
        true => store.with_worktree_stack(&git_dir.join("reftable")),
        false => store,
    })
}

/// The ids the refs of the stack in `dir` point at (an alternate's tips, for `.have` lines;
/// symbolic refs add nothing their targets do not). Unreadable stacks give none, as an
/// unreadable files alternate does.
pub fn tips(dir: &Path) -> Vec<ObjectId> {
    let Ok(stack) = crate::refs::reftable::Stack::open(dir) else {
        return Vec::new();
    };
    let Ok(refs) = stack.refs("refs/") else {
        return Vec::new();
    };
    refs.map_while(Result::ok)
        .filter_map(|r| match r.value {
            RefValue::Direct(id) | RefValue::Peeled { id, .. } => Some(id),
            _ => None,
        })
        .collect()
}
