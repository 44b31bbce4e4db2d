//! [`ReftableRefStore`]: the [`RefStore`] of a repository whose refs live in a reftable stack
//! (`extensions.refStorage = reftable`). Every call opens the stack afresh (a consistent
//! snapshot by the format's reader protocol), so writers in other processes, C git's included,
//! are seen at once.

use std::path::{Path, PathBuf};

use super::transaction::{self, Edit, LogInfo, WriteOptions};
use super::{Error as TableError, RefValue, Stack};
use crate::hash::{HashKind, ObjectId};
use crate::odb::store::Error;
use crate::refs::store::{RawVisitor, RefStore, RefUpdate, UpdateResult};
use crate::refs::RawRef;

/// Peels an annotated tag for the stored peeled value: `Ok(None)` for an object that is not a
/// tag, `Err` when the object cannot be read (never a guess: a tag stored as a non-tag would
/// lose its `^{}` line in every advertisement).
pub type Peeler = Box<dyn Fn(&ObjectId) -> Result<Option<ObjectId>, Error> + Send + Sync>;

/// The reflog identity of a store's transactions, made fresh for each one (its time).
pub type LogSource = Box<dyn Fn() -> LogInfo + Send + Sync>;

impl From<TableError> for Error {
    fn from(e: TableError) -> Self {
        match e {
            TableError::Io { path, source } => Error::io(path, source),
            other => Error::corrupt("reftable", other.to_string()),
        }
    }
}

/// The refs of one repository in its `reftable/` directory.
pub struct ReftableRefStore {
    dir: PathBuf,
    /// A linked worktree's own stack (`worktrees/<id>/reftable`), which holds its `HEAD`.
    worktree_dir: Option<PathBuf>,
    kind: HashKind,
    options: WriteOptions,
    peel: Peeler,
    log: LogSource,
}

impl std::fmt::Debug for ReftableRefStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReftableRefStore")
            .field("dir", &self.dir)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl ReftableRefStore {
    /// The store of the stack in `dir` (`<git dir>/reftable`), ids of `kind`, new files and the
    /// lock wait as `options` say; `peel` peels tags being written, `log` gives each
    /// transaction's reflog identity and policy.
    pub fn new(
        dir: &Path,
        kind: HashKind,
        options: WriteOptions,
        peel: Peeler,
        log: LogSource,
    ) -> Self {
        ReftableRefStore {
            dir: dir.to_path_buf(),
            worktree_dir: None,
            kind,
            options,
            peel,
            log,
        }
    }

    /// The store as seen from a linked worktree whose own stack is `dir`: `HEAD` is read from
    /// there (C git keeps each worktree's HEAD in its own stack), every other ref from the
    /// shared stack, as the files store reads them.
    pub fn with_worktree_stack(mut self, dir: &Path) -> Self {
        self.worktree_dir = Some(dir.to_path_buf());
        self
    }
}

/// The raw form of a stored value (`None` for a deletion). The peeled value is the table's:
/// C git stores one for every annotated tag (type 2), so a type 1 value is known not to be one.
fn raw(value: RefValue) -> Option<RawRef> {
    match value {
        RefValue::Deletion => None,
        RefValue::Direct(id) => Some(RawRef::Direct {
            id,
            peeled: Some(None),
        }),
        RefValue::Peeled { id, peeled } => Some(RawRef::Direct {
            id,
            peeled: Some(Some(peeled)),
        }),
        RefValue::Symbolic(target) => Some(RawRef::Symbolic(target)),
    }
}

impl ReftableRefStore {
    /// The stack holding ref `name`: a linked worktree's own stack for `HEAD` and its
    /// per-worktree refs (C git's reftable backend routes them there), else the shared one.
    fn dir_of(&self, name: &str) -> &Path {
        match &self.worktree_dir {
            Some(wt) if name == "HEAD" || crate::refs::is_per_worktree(name) => wt,
            _ => &self.dir,
        }
    }
}

impl RefStore for ReftableRefStore {
    fn read_raw(&self, name: &str) -> Result<Option<RawRef>, Error> {
        Ok(Stack::open(self.dir_of(name))?.lookup(name)?.and_then(raw))
    }

    /// For a linked worktree, merges its own stack's refs into the shared stack's as C git's
    /// `ref_iterator_select` does: the worktree's refs win a name both have, and the shared
    /// stack's per-worktree refs (the main worktree's) are skipped. A worktree's own refs are
    /// few (bisect, rebase and worktree refs), so they are read first.
    fn for_each_raw(&self, prefix: &str, visit: &mut RawVisitor<'_>) -> Result<(), Error> {
        let mut own = match &self.worktree_dir {
            Some(wt) => stack_refs(wt, prefix)?,
            None => Vec::new(),
        }
        .into_iter()
        .peekable();
        let linked = self.worktree_dir.is_some();
        let stack = Stack::open(&self.dir)?;
        for rec in stack.refs(prefix)? {
            let rec = rec?;
            if !rec.name.starts_with("refs/") {
                continue;
            }
            let mut shadowed = false;
            while let Some((name, value)) = own.next_if(|(n, _)| n.as_str() <= rec.name.as_str()) {
                shadowed |= name == rec.name;
                if visit(&name, value)?.is_break() {
                    return Ok(());
                }
            }
            if shadowed || (linked && crate::refs::is_per_worktree(&rec.name)) {
                continue;
            }
            if let Some(value) = raw(rec.value) {
                if visit(&rec.name, value)?.is_break() {
                    return Ok(());
                }
            }
        }
        for (name, value) in own {
            if visit(&name, value)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn update(&self, updates: &[RefUpdate], atomic: bool) -> Result<Vec<UpdateResult>, Error> {
        let edits: Vec<Edit> = updates
            .iter()
            .map(|u| Edit {
                name: u.name.as_str().to_string(),
                old: u.old,
                new: u.new,
            })
            .collect();
        // The list lock and a new table are removed on every path out; a timeout or signal
        // waits for that.
        let _critical = crate::cleanup::critical();
        let mut peel = |id: &ObjectId| (self.peel)(id).map_err(|e| e.to_string());
        let log = (self.log)();
        let stacks = transaction::Stacks {
            shared: &self.dir,
            worktree: self.worktree_dir.as_deref(),
        };
        Ok(transaction::commit(
            stacks,
            self.kind,
            &edits,
            atomic,
            &log,
            &mut peel,
            self.options,
        )?)
    }
}

/// The refs under `prefix` (and under `refs/`) of the stack in `dir`, with raw values.
fn stack_refs(dir: &Path, prefix: &str) -> Result<Vec<(String, RawRef)>, Error> {
    let stack = Stack::open(dir)?;
    let mut out = Vec::new();
    for rec in stack.refs(prefix)? {
        let rec = rec?;
        if let (true, Some(value)) = (rec.name.starts_with("refs/"), raw(rec.value)) {
            out.push((rec.name, value));
        }
    }
    Ok(out)
}
