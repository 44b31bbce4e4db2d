//! A ref transaction on a reftable stack, following the format's update protocol so that C git
//! and Sluice can write one repository at the same time: take `tables.list.lock` (created
//! exclusively, retried with backoff for a bounded wait), re-read the stack under it, compare
//! every update's expected old value with the current one (compare-and-swap), write one new
//! table holding the new ref records and the reflog records at the next update index, make it
//! durable, name it `0x<min>-0x<max>-<random>.ref` as C git does, then write the old list plus
//! the new table into the lock, fsync it and rename it over `tables.list`. All or nothing with
//! `atomic`; otherwise each failed update is reported and the others still go in.
//!
//! Deviation: no auto-compaction. Tables Sluice adds are merged by C git's own geometric
//! auto-compaction on its next write, or by `git pack-refs`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::record::{LogEntry, LogRecord, RefRecord, RefValue};
use super::stack::{read_list, Stack};
use super::{write, Error};
use crate::file_mode::SharedPerm;
use crate::hash::{HashKind, ObjectId};

/// How a transaction writes files: their modes and how long it waits for the stack's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Modes of new files (`core.sharedRepository`).
    pub shared: SharedPerm,
    /// `reftable.lockTimeout`: how long to retry taking `tables.list.lock` held by another
    /// writer; `None` retries forever (C git's `-1`), zero tries once. C git's default is
    /// 100 ms.
    pub lock_timeout: Option<Duration>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            shared: SharedPerm::default(),
            lock_timeout: Some(Duration::from_millis(100)),
        }
    }
}

impl From<SharedPerm> for WriteOptions {
    fn from(shared: SharedPerm) -> Self {
        WriteOptions {
            shared,
            ..WriteOptions::default()
        }
    }
}

/// Reads `reftable.lockTimeout` (milliseconds; `-1`: forever; C git's default 100) as C git's
/// `reftable_be_config` does, refusing the negative values other than -1 that it dies on.
pub fn lock_timeout(
    config: &crate::git_config::GitConfig,
) -> Result<Option<Duration>, crate::git_config::Error> {
    match config.get_i64("reftable.lockTimeout")? {
        None => Ok(WriteOptions::default().lock_timeout),
        Some(-1) => Ok(None),
        Some(ms) => match u64::try_from(ms) {
            Ok(ms) => Ok(Some(Duration::from_millis(ms))),
            Err(_) => Err(crate::git_config::Error::Value {
                key: "reftable.lockTimeout".into(),
                value: ms.to_string(),
                expected: "timeout (milliseconds, or -1 for no limit)",
            }),
        },
    }
}

/// One ref change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// Full ref name, already validated.
    pub name: String,
    /// The value the ref must have now; null: it must not exist.
    pub old: ObjectId,
    /// The value to set; null: delete.
    pub new: ObjectId,
}

pub use crate::refs::reflog::{LogInfo, LogPolicy};

/// The stacks a transaction writes: the repository's shared stack, and, when a linked worktree
/// is served, its own stack (`worktrees/<id>/reftable`), which holds its `HEAD` and its
/// per-worktree refs ([`crate::refs::PER_WORKTREE_PREFIXES`]), as C git's reftable backend
/// keeps them.
#[derive(Debug, Clone, Copy)]
pub struct Stacks<'a> {
    /// The repository's `reftable/` directory.
    pub shared: &'a Path,
    /// A linked worktree's own `reftable/` directory.
    pub worktree: Option<&'a Path>,
}

impl<'a, P: AsRef<Path> + ?Sized> From<&'a P> for Stacks<'a> {
    /// The shared stack in directory `dir` alone.
    fn from(dir: &'a P) -> Self {
        Stacks {
            shared: dir.as_ref(),
            worktree: None,
        }
    }
}

impl Stacks<'_> {
    /// Whether ref `name` lives in the worktree's own stack.
    fn in_worktree(&self, name: &str) -> bool {
        self.worktree.is_some() && (name == "HEAD" || crate::refs::is_per_worktree(name))
    }
}

/// The stacks of a transaction, opened under their locks.
struct Opened<'a> {
    stacks: Stacks<'a>,
    shared: Stack,
    own: Option<Stack>,
}

impl Opened<'_> {
    /// The stack holding ref `name`.
    fn of(&self, name: &str) -> &Stack {
        match &self.own {
            Some(own) if self.stacks.in_worktree(name) => own,
            _ => &self.shared,
        }
    }
}

/// Applies `edits` to the refs in `stacks` (a `reftable/` directory, or [`Stacks`] with a
/// linked worktree's own stack) of ids of `kind`, writing reflog entries as `log` says; `peel`
/// gives the fully peeled id of an annotated tag (`None` for other objects, `Err` when it
/// cannot tell), stored as C git stores it: a ref whose peeled value is unknown is refused
/// rather than stored as a non-tag. Each edit is checked against and written to the stack
/// holding its ref, and HEAD's reflog entry goes to the stack holding HEAD. Every stack is
/// locked and every edit checked before anything is written, so with `atomic` one failed
/// update fails them all, in both stacks; then each stack touched gets one new table, the
/// worktree's last (C git's reftable backend also commits its stacks one after the other).
/// Returns one result per edit; `Err` when a stack could not be locked or written.
pub fn commit<'a>(
    stacks: impl Into<Stacks<'a>>,
    kind: HashKind,
    edits: &[Edit],
    atomic: bool,
    log: &LogInfo,
    peel: &mut dyn FnMut(&ObjectId) -> Result<Option<ObjectId>, String>,
    options: impl Into<WriteOptions>,
) -> Result<Vec<Result<(), String>>, Error> {
    let stacks = stacks.into();
    let options = options.into();
    let mut peeled = Vec::with_capacity(edits.len());
    let mut results: Vec<Result<(), String>> = Vec::with_capacity(edits.len());
    for e in edits {
        let p = if e.new.is_null() {
            Ok(None)
        } else {
            peel(&e.new)
        };
        results.push(
            p.as_ref()
                .map(|_| ())
                .map_err(|why| format!("cannot update ref '{}': {why}", e.name)),
        );
        peeled.push(p.ok().flatten());
    }
    let shared_lock = ListLock::take(stacks.shared, options.shared, options.lock_timeout)?;
    let own_lock = stacks
        .worktree
        .map(|dir| ListLock::take(dir, options.shared, options.lock_timeout))
        .transpose()?;
    let opened = Opened {
        stacks,
        shared: Stack::open(stacks.shared)?,
        own: stacks.worktree.map(Stack::open).transpose()?,
    };
    for (r, e) in results.iter_mut().zip(edits) {
        if r.is_ok() {
            let stack = opened.of(&e.name);
            *r = check(stack, e).and_then(|()| check_conflicts(stack, e, edits));
        }
    }
    if atomic && results.iter().any(Result::is_err) {
        for r in &mut results {
            if r.is_ok() {
                *r = Err("atomic transaction failed".to_string());
            }
        }
    }
    let ok: Vec<(&Edit, Option<ObjectId>)> = edits
        .iter()
        .zip(peeled)
        .zip(&results)
        .filter(|(_, r)| r.is_ok())
        .map(|(e, _)| e)
        .collect();
    if ok.is_empty() {
        return Ok(results);
    }
    let mut refs: Vec<RefRecord> = ok
        .iter()
        .map(|(e, peeled)| RefRecord {
            name: e.name.clone(),
            update_index: opened.of(&e.name).next_update_index(),
            value: match (e.new.is_null(), peeled) {
                (true, _) => RefValue::Deletion,
                (false, Some(peeled)) => RefValue::Peeled {
                    id: e.new,
                    peeled: *peeled,
                },
                (false, None) => RefValue::Direct(e.new),
            },
        })
        .collect();
    let ok: Vec<&Edit> = ok.iter().map(|(e, _)| *e).collect();
    refs.sort_by(|a, b| a.name.cmp(&b.name));
    let logs = log_records(&opened, &ok, log)?;
    let (own_refs, shared_refs): (Vec<_>, Vec<_>) =
        refs.into_iter().partition(|r| stacks.in_worktree(&r.name));
    let (own_logs, shared_logs): (Vec<_>, Vec<_>) =
        logs.into_iter().partition(|r| stacks.in_worktree(&r.name));
    add_table(
        shared_lock,
        &opened.shared,
        kind,
        &shared_refs,
        &shared_logs,
    )?;
    if let (Some(lock), Some(own)) = (own_lock, &opened.own) {
        add_table(lock, own, kind, &own_refs, &own_logs)?;
    }
    Ok(results)
}

/// Writes `refs` and `logs` as one new table on top of `stack` and lists it under `lock`; with
/// nothing to write, releases the lock.
fn add_table(
    lock: ListLock,
    stack: &Stack,
    kind: HashKind,
    refs: &[RefRecord],
    logs: &[LogRecord],
) -> Result<(), Error> {
    if refs.is_empty() && logs.is_empty() {
        return Ok(());
    }
    let index = stack.next_update_index();
    let bytes = write::encode(kind, index, index, refs, logs)?;
    let name = lock.add_table(&bytes, index)?;
    lock.commit(&name)
}

/// The compare-and-swap check of `e` against the stack.
fn check(stack: &Stack, e: &Edit) -> Result<(), String> {
    let current = match stack.lookup(&e.name) {
        Ok(None) => None,
        Ok(Some(RefValue::Direct(id) | RefValue::Peeled { id, .. })) => Some(id),
        Ok(Some(RefValue::Symbolic(_))) => {
            return Err(format!("cannot lock ref '{}': is a symbolic ref", e.name))
        }
        Ok(Some(RefValue::Deletion)) => None,
        Err(err) => return Err(format!("cannot lock ref '{}': {err}", e.name)),
    };
    let matches = match current {
        None => e.old.is_null(),
        Some(id) => id == e.old,
    };
    if matches {
        Ok(())
    } else {
        let at = current.map_or_else(|| "missing".to_string(), |id| format!("at {id}"));
        Err(format!(
            "cannot lock ref '{}': is {at} but expected {}",
            e.name, e.old
        ))
    }
}

/// Refuses creating `e` when a ref is in the way as a directory or file would be in the files
/// layout (`refs/heads/a` and `refs/heads/a/b`), as C git's reftable backend refuses it, so the
/// refs stay clonable into any repository. A ref deleted by the same transaction is not in the
/// way.
fn check_conflicts(stack: &Stack, e: &Edit, edits: &[Edit]) -> Result<(), String> {
    if e.new.is_null() || !e.old.is_null() {
        return Ok(());
    }
    let deleted = |name: &str| edits.iter().any(|d| d.name == name && d.new.is_null());
    let conflict = |other: &str| {
        format!(
            "cannot lock ref '{}': '{other}' exists; cannot create '{}'",
            e.name, e.name
        )
    };
    let lookup_err = |err: Error| format!("cannot lock ref '{}': {err}", e.name);
    for (i, _) in e.name.match_indices('/') {
        let parent = &e.name[..i];
        if parent.contains('/') && !deleted(parent) {
            let taken = stack.lookup(parent).map_err(lookup_err)?.is_some()
                || edits.iter().any(|o| o.name == parent && !o.new.is_null());
            if taken {
                return Err(conflict(parent));
            }
        }
    }
    let below = format!("{}/", e.name);
    for rec in stack.refs(&below).map_err(lookup_err)? {
        let rec = rec.map_err(lookup_err)?;
        if !deleted(&rec.name) {
            return Err(conflict(&rec.name));
        }
    }
    if let Some(o) = edits
        .iter()
        .find(|o| o.name.starts_with(&below) && !o.new.is_null())
    {
        return Err(conflict(&o.name));
    }
    Ok(())
}

/// The reflog records of the transaction, each at the next update index of the stack holding
/// its ref: each logged edit, and HEAD when it points at an updated branch (as C git logs a branch update through HEAD too). Deletions drop the ref's
/// reflog, as C git does, by writing tombstones over its entries.
fn log_records(
    opened: &Opened<'_>,
    edits: &[&Edit],
    log: &LogInfo,
) -> Result<Vec<LogRecord>, Error> {
    let head_target = match opened.of("HEAD").lookup("HEAD")? {
        Some(RefValue::Symbolic(t)) => Some(t),
        _ => None,
    };
    let mut out = Vec::new();
    let mut add = |name: &str, e: &Edit| -> Result<(), Error> {
        let stack = opened.of(name);
        let existing = stack.logs(name)?;
        if e.new.is_null() && name != "HEAD" {
            for old in existing {
                out.push(LogRecord { entry: None, ..old });
            }
            return Ok(());
        }
        if crate::refs::reflog::logged_by_policy(name, log.policy) || !existing.is_empty() {
            out.push(LogRecord {
                name: name.to_string(),
                update_index: stack.next_update_index(),
                entry: Some(LogEntry {
                    old: e.old,
                    new: e.new,
                    name: log.name.clone(),
                    email: log.email.clone(),
                    time: log.time,
                    tz_hhmm: log.tz_hhmm,
                    // C git stores the message with its newline.
                    message: format!("{}\n", log.message.trim_end_matches('\n')),
                }),
            });
        }
        Ok(())
    };
    for e in edits {
        add(&e.name, e)?;
        if head_target.as_deref() == Some(e.name.as_str()) {
            add("HEAD", e)?;
        }
    }
    out.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(b.update_index.cmp(&a.update_index))
    });
    Ok(out)
}

/// `tables.list.lock`, removed on drop unless renamed over `tables.list`.
struct ListLock {
    dir: PathBuf,
    path: PathBuf,
    shared: SharedPerm,
    done: bool,
}

impl ListLock {
    /// Creates the lock exclusively, retrying with backoff for up to `timeout` (`None`: for
    /// ever).
    fn take(dir: &Path, shared: SharedPerm, timeout: Option<Duration>) -> Result<ListLock, Error> {
        let path = dir.join("tables.list.lock");
        let start = Instant::now();
        let mut delay = Duration::from_millis(1);
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if timeout.is_some_and(|t| start.elapsed() >= t) {
                        return Err(Error::Locked {
                            path: path.display().to_string(),
                        });
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        let lock = ListLock {
            dir: dir.to_path_buf(),
            path,
            shared,
            done: false,
        };
        lock.shared
            .adjust(&lock.path)
            .map_err(|e| Error::io(&lock.path, e))?;
        Ok(lock)
    }

    /// Writes `bytes` durably as a new table for update index `index`; returns its name.
    fn add_table(&self, bytes: &[u8], index: u64) -> Result<String, Error> {
        let name = format!("0x{index:012x}-0x{index:012x}-{:08x}.ref", random_u32());
        let tmp = self.dir.join(format!("tmp_{name}"));
        let written = (|| {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            self.shared.read_only(&tmp)?;
            fs::rename(&tmp, self.dir.join(&name))
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(&tmp, e));
        }
        Ok(name)
    }

    /// Appends `table` to the list read under the lock and renames the lock into place.
    fn commit(mut self, table: &str) -> Result<(), Error> {
        let renamed = (|| -> Result<(), Error> {
            let mut names = read_list(&self.dir)?;
            names.push(table.to_string());
            let mut text = names.join("\n");
            text.push('\n');
            let mut f = OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&self.path)
                .map_err(|e| Error::io(&self.path, e))?;
            f.write_all(text.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| Error::io(&self.path, e))?;
            let list = self.dir.join("tables.list");
            fs::rename(&self.path, &list).map_err(|e| Error::io(&list, e))?;
            self.done = true;
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io(&self.dir, e))
        })();
        if renamed.is_err() && !self.done {
            let _ = fs::remove_file(self.dir.join(table));
        }
        renamed
    }
}

impl Drop for ListLock {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A random suffix for table names (C git's are random too: names must be unique).
fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish() as u32
}
