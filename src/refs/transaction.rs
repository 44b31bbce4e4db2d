//! Ref updates under lock files, as git's files backend does them: `<ref>.lock` taken with
//! `O_EXCL`, the current value compared with the expected old value (compare-and-swap), the new
//! value written and made durable, then renamed over the ref and the directory made durable
//! (fsyncs issued as concurrent batches, see [`crate::durable`]). Deletes also
//! rewrite `packed-refs` (under `packed-refs.lock`) when the ref is packed. A transaction that
//! creates many refs (a mirror push into an empty repository) writes them into `packed-refs`
//! instead, as C git's initial transaction (`files_transaction_finish_initial`) does: checked
//! one by one under `packed-refs.lock`, written to the lock, fsynced, renamed, the directory
//! fsynced once. Names that conflict as file and directory (`a` and `a/b`) are refused in
//! command order, the second one, as C git's receive-pack does. With `atomic`, every lock is
//! taken and every check passes before anything is renamed, or nothing changes. Lock files
//! never outlive a call.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::file_mode::SharedPerm;
use crate::hash::{HashKind, ObjectId};
use crate::odb::store::Error;
use crate::refs::files_reflog;
use crate::refs::name_conflict::Names;
use crate::refs::packed_write::BatchPeeler;
use crate::refs::reflog::LogInfo;
use crate::refs::store::{RefUpdate, UpdateResult};
use crate::refs::{parse_loose, parse_packed, RawRef};

/// While Sluice holds the repository's transaction lock (an OS file lock, released by the
/// kernel when its holder dies), a ref lock file older than this was left by a Sluice process
/// that was killed between locking and renaming; C git holds its ref locks for milliseconds.
const STALE_LOCK: std::time::Duration = std::time::Duration::from_secs(2);

/// Name of the file whose OS lock serializes Sluice's ref transactions in one repository.
const TRANSACTION_LOCK: &str = "sluice-refs.mutex";

/// A held lock file, removed on drop unless committed.
struct Lock {
    path: PathBuf,
    target: PathBuf,
    done: bool,
}

impl Lock {
    fn take(target: &Path, shared: SharedPerm) -> std::io::Result<Lock> {
        if let Some(parent) = target.parent() {
            shared.create_dir_all(parent)?;
        }
        let mut path = target.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        if let Err(e) = OpenOptions::new().write(true).create_new(true).open(&path) {
            // See STALE_LOCK: only called while the transaction lock is held.
            let stale = fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_LOCK);
            if e.kind() != std::io::ErrorKind::AlreadyExists || !stale {
                return Err(e);
            }
            tracing::warn!(lock = %path.display(), "removing stale lock file");
            fs::remove_file(&path)?;
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?;
        }
        shared.adjust(&path)?;
        Ok(Lock {
            path,
            target: target.to_path_buf(),
            done: false,
        })
    }

    /// Writes the new content; not durable until [`crate::durable::sync_files`] on the lock.
    fn write(&self, content: &[u8]) -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&self.path)?;
        f.write_all(content)
    }

    /// Writes and fsyncs the new content.
    fn write_durably(&self, content: &[u8]) -> std::io::Result<()> {
        self.write(content)?;
        File::open(&self.path)?.sync_all()
    }

    /// Renames the lock over its target; the caller syncs the directory.
    fn rename_into_place(mut self) -> std::io::Result<()> {
        fs::rename(&self.path, &self.target)?;
        self.done = true;
        Ok(())
    }

    /// Renames the lock over its target and fsyncs the directory.
    fn commit(self) -> std::io::Result<()> {
        let parent = self.target.parent().map(Path::to_path_buf);
        self.rename_into_place()?;
        if let Some(parent) = parent {
            crate::durable::sync_dir(&parent)?;
        }
        Ok(())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Where a transaction's refs are: the common directory (shared refs, `packed-refs`, the
/// transaction lock) and the git directory of the worktree served, which holds that worktree's
/// own refs ([`crate::refs::PER_WORKTREE_PREFIXES`]); the two are one directory but for a
/// linked worktree.
#[derive(Debug, Clone, Copy)]
pub struct Dirs<'a> {
    /// The common directory.
    pub common: &'a Path,
    /// The worktree's git directory.
    pub worktree: &'a Path,
}

impl Dirs<'_> {
    /// The loose file of ref `name`, where C git's files backend keeps it.
    fn path_of(&self, name: &str) -> PathBuf {
        match crate::refs::is_per_worktree(name) {
            true => self.worktree.join(name),
            false => self.common.join(name),
        }
    }
}

/// The value of ref `name` in its loose file at `path`, else in `packed`.
fn current_value(
    path: &Path,
    kind: HashKind,
    name: &str,
    packed: &BTreeMap<String, RawRef>,
) -> Result<Option<ObjectId>, Error> {
    match fs::read(path) {
        Ok(text) => match parse_loose(kind, name, &text)? {
            RawRef::Direct { id, .. } => Ok(Some(id)),
            RawRef::Symbolic(_) => Err(Error::corrupt(name, "is a symbolic ref")),
        },
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.kind() == std::io::ErrorKind::NotADirectory =>
        {
            Ok(match packed.get(name) {
                Some(RawRef::Direct { id, .. }) => Some(*id),
                _ => None,
            })
        }
        Err(e) if path.is_dir() => {
            let _ = e;
            Ok(None)
        }
        Err(e) => Err(Error::io(path.display().to_string(), e)),
    }
}

/// Creations a transaction must make before they go into `packed-refs` rather than loose files
/// (one push of a branch or two keeps C git's layout; a mirror push of thousands of refs pays
/// one file instead of a lock file, fsync and rename each).
const PACK_CREATIONS: usize = 16;

/// Bytes of an existing `packed-refs` one packed creation may cost rewriting: past that, a
/// large `packed-refs` would be rewritten for a few refs, and they stay loose.
const PACKED_BYTES_PER_CREATION: u64 = 1024;

/// Applies `updates` in the repository at `dirs` (ids of hash `kind`); one result per update
/// (`Err(reason)` for the `ng` line). With `atomic`, all succeed or all fail, a linked
/// worktree's own refs included. Files and directories created get the modes `shared`
/// (`core.sharedRepository`) asks for. With `peel`, many creations are written into
/// `packed-refs` ([`PACK_CREATIONS`]), their tags peeled with it. With `log`, reflogs are
/// written as its policy says ([`crate::refs::files_reflog`]).
pub fn apply(
    dirs: Dirs<'_>,
    kind: HashKind,
    updates: &[RefUpdate],
    atomic: bool,
    shared: SharedPerm,
    peel: Option<&BatchPeeler>,
    log: Option<&LogInfo>,
) -> Result<Vec<UpdateResult>, Error> {
    let guard_path = dirs.common.join(TRANSACTION_LOCK);
    let guard = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&guard_path)
        .map_err(|e| Error::io(guard_path.display().to_string(), e))?;
    // Every user of a shared repository must be able to open it for writing.
    shared
        .adjust(&guard_path)
        .map_err(|e| Error::io(guard_path.display().to_string(), e))?;
    guard
        .lock()
        .map_err(|e| Error::io(guard_path.display().to_string(), e))?;
    let txn = Txn {
        dirs,
        kind,
        atomic,
        shared,
        peel,
        log,
    };
    let result = apply_segments(&txn, updates);
    drop(guard);
    result
}

/// Where a non-atomic transaction is cut into parts applied one after another: before a
/// creation of `a/b` that follows the deletion of `a` in the same part. C git's receive-pack
/// runs one transaction per command, so that push works there; in one transaction here
/// `a/b.lock` would need a directory where the loose file `a` still is. An atomic
/// transaction is one part (C git refuses the pair in one transaction too).
fn segments(updates: &[RefUpdate], atomic: bool) -> Vec<std::ops::Range<usize>> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut deleted = std::collections::HashSet::new();
    for (i, u) in updates.iter().enumerate() {
        let name = u.name.as_str();
        let under_deleted = || {
            name.match_indices('/')
                .any(|(j, _)| deleted.contains(&name[..j]))
        };
        if !atomic && !u.new.is_null() && under_deleted() {
            parts.push(start..i);
            start = i;
            deleted.clear();
        }
        if u.new.is_null() {
            deleted.insert(name);
        }
    }
    parts.push(start..updates.len());
    parts
}

/// What one [`apply`] call applies its updates with: where the refs are, their hash, whether
/// all must succeed together, the file modes to create with, the peeler for packed tags and
/// the reflog identity and policy.
#[derive(Clone, Copy)]
struct Txn<'a> {
    dirs: Dirs<'a>,
    kind: HashKind,
    atomic: bool,
    shared: SharedPerm,
    peel: Option<&'a BatchPeeler>,
    log: Option<&'a LogInfo>,
}

/// [`apply_locked`] on each part of `updates` ([`segments`]). A store failure in a later part
/// refuses that part and the rest, the earlier parts having applied.
fn apply_segments(txn: &Txn<'_>, updates: &[RefUpdate]) -> Result<Vec<UpdateResult>, Error> {
    let parts = segments(updates, txn.atomic);
    if parts.len() == 1 {
        return apply_locked(txn, updates);
    }
    let mut results = Vec::with_capacity(updates.len());
    for (n, part) in parts.into_iter().enumerate() {
        let applied = apply_locked(txn, &updates[part.clone()]);
        match applied {
            Ok(r) => results.extend(r),
            // Nothing has applied yet: the store's failure is the caller's to report.
            Err(e) if n == 0 => return Err(e),
            Err(e) => {
                tracing::error!(error = %e, "ref transaction failed");
                let refused =
                    (part.start..updates.len()).map(|_| Err("failed to update ref".into()));
                results.extend(refused);
                break;
            }
        }
    }
    Ok(results)
}

/// Phase 1 for one update `u`: takes its lock, compares the current value (loose, else in
/// `packed`) with the expected old one, and writes the new value into the lock. `Ok(Err(reason))`
/// refuses this update alone; `Err` is a failure of the store.
fn lock_and_check(
    dirs: Dirs<'_>,
    kind: HashKind,
    u: &RefUpdate,
    packed: &BTreeMap<String, RawRef>,
    shared: SharedPerm,
) -> Result<Result<Lock, String>, Error> {
    let target = dirs.path_of(u.name.as_str());
    let lock = match Lock::take(&target, shared) {
        Ok(l) => l,
        Err(e) => return Ok(Err(format!("cannot lock ref '{}': {e}", u.name))),
    };
    let null = u.old.kind().null();
    let current = current_value(&target, kind, u.name.as_str(), packed)?.unwrap_or(null);
    if current != u.old {
        return Ok(Err(format!(
            "cannot lock ref '{}': is at {current} but expected {}",
            u.name, u.old
        )));
    }
    if !u.new.is_null() {
        if let Err(e) = lock.write(format!("{}\n", u.new).as_bytes()) {
            return Ok(Err(format!("cannot write ref '{}': {e}", u.name)));
        }
    }
    Ok(Ok(lock))
}

/// What phase 1 decided for one update.
enum Step {
    /// Refused, with the reason for the `ng` line.
    Refused(String),
    /// Its loose lock is held, the new value written into it.
    Loose(Lock),
    /// A creation checked under `packed-refs.lock`, to be written into `packed-refs`.
    Packed,
}

/// Whether `u` creates a ref that may go into `packed-refs` (shared by every worktree, so a
/// worktree's own refs stay loose).
fn packable(u: &RefUpdate) -> bool {
    u.old.is_null() && !u.new.is_null() && !crate::refs::is_per_worktree(u.name.as_str())
}

/// `packed-refs.lock`, taken when `updates` create enough refs to be worth packing (and a
/// `packed-refs` already there is small enough to rewrite); `None` (loose refs) when not, or
/// when another writer holds the lock (C git's `pack-refs`: its refs stay loose then).
fn packing_lock(
    packed_path: &Path,
    updates: &[RefUpdate],
    shared: SharedPerm,
    peel: Option<&BatchPeeler>,
) -> Option<Lock> {
    peel?;
    let creations = updates.iter().filter(|u| packable(u)).count();
    let size = fs::metadata(packed_path).map_or(0, |m| m.len());
    if creations < PACK_CREATIONS || size > creations as u64 * PACKED_BYTES_PER_CREATION {
        return None;
    }
    Lock::take(packed_path, shared)
        .inspect_err(|e| tracing::info!(error = %e, "packed-refs is locked; refs stay loose"))
        .ok()
}

/// Phase 1: in command order, refuses a name that conflicts with a ref there or one created
/// before it (C git: `'<a>' exists; cannot create '<a>/<b>'`, the command refused with "failed
/// to update ref"), then compares each ref's value with the expected old one: a packed
/// creation's here (`packing`: `packed-refs.lock` is held), every other's under its own lock.
fn check_all(
    dirs: Dirs<'_>,
    kind: HashKind,
    updates: &[RefUpdate],
    packed: &BTreeMap<String, RawRef>,
    shared: SharedPerm,
    packing: bool,
) -> Result<Vec<Step>, Error> {
    let path_of = |n: &str| dirs.path_of(n);
    let mut names = Names::new(packed, &path_of);
    let mut steps = Vec::with_capacity(updates.len());
    for u in updates {
        let name = u.name.as_str();
        if !u.new.is_null() {
            if let Some(other) = names.conflict(name) {
                tracing::warn!(
                    "cannot lock ref '{name}': '{other}' exists; cannot create '{name}'"
                );
                steps.push(Step::Refused("failed to update ref".into()));
                continue;
            }
        }
        let step = if packing && packable(u) {
            match current_value(&dirs.path_of(name), kind, name, packed)? {
                None => Step::Packed,
                Some(current) => Step::Refused(format!(
                    "cannot lock ref '{name}': is at {current} but expected {}",
                    u.old
                )),
            }
        } else {
            match lock_and_check(dirs, kind, u, packed, shared)? {
                Ok(lock) => Step::Loose(lock),
                Err(reason) => Step::Refused(reason),
            }
        };
        if !matches!(step, Step::Refused(_)) {
            match u.new.is_null() {
                true => names.remove(name),
                false => names.add(name),
            }
        }
        steps.push(step);
    }
    Ok(steps)
}

/// [`apply`] under the repository's transaction lock: lock and check every ref, make the new
/// values durable, rewrite `packed-refs` (packed creations, deleted packed refs), rename the
/// loose ones into place.
fn apply_locked(txn: &Txn<'_>, updates: &[RefUpdate]) -> Result<Vec<UpdateResult>, Error> {
    let Txn {
        dirs,
        kind,
        atomic,
        shared,
        peel,
        log,
    } = *txn;
    let packed_path = dirs.common.join("packed-refs");
    // Taken before packed-refs is read: C git's pack-refs moves loose refs into it under this
    // lock, so a creation's check cannot miss a ref on its way from loose to packed.
    let packing = packing_lock(&packed_path, updates, shared, peel);
    let mut packed = BTreeMap::new();
    if let Ok(text) = fs::read(&packed_path) {
        parse_packed(kind, &text, &mut packed)?;
    }
    let mut steps = check_all(dirs, kind, updates, &packed, shared, packing.is_some())?;
    if let Some(log) = log {
        write_logs(dirs, updates, &mut steps, log, shared);
    }
    let mut results: Vec<UpdateResult> = steps
        .iter()
        .map(|s| match s {
            Step::Refused(reason) => Err(reason.clone()),
            _ => Ok(()),
        })
        .collect();
    if atomic && results.iter().any(Result::is_err) {
        return Ok(results
            .into_iter()
            .map(|r| r.and(Err("atomic transaction failed".to_string())))
            .collect());
    }
    // The new values are durable before any ref points at them.
    let written: Vec<PathBuf> = updates
        .iter()
        .zip(&steps)
        .filter_map(|(u, s)| match s {
            Step::Loose(l) if !u.new.is_null() => Some(l.path.clone()),
            _ => None,
        })
        .collect();
    if let Err(e) = crate::durable::sync_files(&written) {
        let reason = format!("cannot write refs: {e}");
        return Ok(results
            .into_iter()
            .map(|r| r.and(Err(reason.clone())))
            .collect());
    }
    // Phase 2: packed-refs is rewritten once, for packed creations and deleted packed refs.
    let deleted_packed: Vec<&str> = updates
        .iter()
        .zip(&steps)
        .filter(|(u, s)| {
            matches!(s, Step::Loose(_)) && u.new.is_null() && packed.contains_key(u.name.as_str())
        })
        .map(|(u, _)| u.name.as_str())
        .collect();
    let created: Vec<&RefUpdate> = updates
        .iter()
        .zip(&steps)
        .filter(|(_, s)| matches!(s, Step::Packed))
        .map(|(u, _)| u)
        .collect();
    match (packing, peel) {
        (Some(lock), Some(peel)) if !created.is_empty() => {
            for name in &deleted_packed {
                packed.remove(*name);
            }
            for u in created {
                let raw = RawRef::Direct {
                    id: u.new,
                    peeled: None,
                };
                packed.insert(u.name.as_str().to_string(), raw);
            }
            let text = crate::refs::packed_write::text(&packed, peel)?;
            lock.write_durably(&text)
                .map_err(|e| Error::io("packed-refs.lock", e))?;
            lock.commit().map_err(|e| Error::io("packed-refs", e))?;
        }
        (held, _) if !deleted_packed.is_empty() => {
            let lock = match held {
                Some(lock) => lock,
                None => Lock::take(&packed_path, shared)
                    .map_err(|e| Error::io("packed-refs.lock", e))?,
            };
            remove_packed(lock, &packed_path, kind, &deleted_packed)?;
        }
        _ => {}
    }
    rename_all(dirs, updates, steps, &mut results);
    if log.is_some() {
        for (u, _) in updates
            .iter()
            .zip(&results)
            .filter(|(u, r)| u.new.is_null() && r.is_ok())
        {
            files_reflog::remove(dirs, u.name.as_str());
        }
    }
    Ok(results)
}

/// Appends the reflog entries of the updates phase 1 let through, before any ref moves (C git
/// writes the log before committing the ref); an update whose entry cannot be written is
/// refused, its lock released.
fn write_logs(
    dirs: Dirs<'_>,
    updates: &[RefUpdate],
    steps: &mut [Step],
    log: &LogInfo,
    shared: SharedPerm,
) {
    let head = files_reflog::head_target(dirs);
    for (u, step) in updates.iter().zip(steps.iter_mut()) {
        if matches!(step, Step::Refused(_)) {
            continue;
        }
        if let Err(e) = files_reflog::record(dirs, u, head.as_deref(), log, shared) {
            tracing::error!(error = %e, r#ref = %u.name, "cannot append to the reflog");
            *step = Step::Refused(format!("cannot update the ref's log: {e}"));
        }
    }
}

/// Rewrites `packed-refs` (at `packed_path`, its lock `lock` held) without the refs `deleted`,
/// every other line kept as it is.
fn remove_packed(
    lock: Lock,
    packed_path: &Path,
    kind: HashKind,
    deleted: &[&str],
) -> Result<(), Error> {
    let text = fs::read(packed_path).map_err(|e| Error::io("packed-refs", e))?;
    let mut kept = Vec::with_capacity(text.len());
    let mut skipping = false;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"^") {
            if !skipping {
                kept.extend_from_slice(line);
            }
            continue;
        }
        let name = line
            .get(kind.len_in_hex() + 1..)
            .map(|n| n.strip_suffix(b"\n").unwrap_or(n));
        skipping = name.is_some_and(|n| deleted.iter().any(|d| d.as_bytes() == n));
        if !skipping {
            kept.extend_from_slice(line);
        }
    }
    lock.write_durably(&kept)
        .map_err(|e| Error::io("packed-refs.lock", e))?;
    lock.commit().map_err(|e| Error::io("packed-refs", e))
}

/// Removes the directories above the deleted ref at `target` that it leaves empty, up to
/// `refs/` (C git's `try_remove_empty_parents`): a later command of the same push may create a
/// ref where one of them is (`refs/pull/7` after `refs/pull/7/head`).
fn remove_empty_parents(dirs: Dirs<'_>, target: &Path) {
    let roots = [dirs.common.join("refs"), dirs.worktree.join("refs")];
    let mut dir = target.parent();
    while let Some(d) = dir {
        let inside = roots.iter().any(|r| d.starts_with(r) && d != r);
        if !inside || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Phase 3: renames each loose ref of `steps` still going into place (or removes a deleted
/// one), then makes the renames durable; a failure is recorded in `results`.
fn rename_all(
    dirs: Dirs<'_>,
    updates: &[RefUpdate],
    steps: Vec<Step>,
    results: &mut [UpdateResult],
) {
    let mut synced: Vec<PathBuf> = Vec::new();
    for ((u, r), step) in updates.iter().zip(results.iter_mut()).zip(steps) {
        let Step::Loose(lock) = step else { continue };
        if r.is_err() {
            continue;
        }
        let outcome = if u.new.is_null() {
            let target = lock.target.clone();
            let removed = match fs::remove_file(&target) {
                Ok(()) => Ok(()),
                // A packed ref has no loose file; a directory there is a later command's.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Ok(()),
                Err(e) => Err(e),
            };
            drop(lock);
            remove_empty_parents(dirs, &target);
            removed
        } else {
            synced.extend(lock.target.parent().map(Path::to_path_buf));
            lock.rename_into_place()
        };
        if let Err(e) = outcome {
            *r = Err(format!("cannot update ref '{}': {e}", u.name));
        }
    }
    if let Err(e) = crate::durable::sync_dirs(&synced) {
        // The refs moved but may not survive a crash: say so rather than "ok".
        tracing::error!(error = %e, "syncing ref directories failed");
        for r in results.iter_mut().filter(|r| r.is_ok()) {
            *r = Err(format!("ref update not durable: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    use crate::test_support::git;

    #[test]
    fn cas_atomic_and_packed_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "--bare", "."]);
        let blob = |s: &str| {
            let mut c = Command::new("git")
                .args(["hash-object", "-w", "--stdin"])
                .current_dir(d)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
            let out = c.wait_with_output().unwrap();
            ObjectId::from_hex(String::from_utf8(out.stdout).unwrap().trim().as_bytes()).unwrap()
        };
        let (a, b) = (blob("a"), blob("b"));
        let null = a.kind().null();
        let up = |name: &str, old, new| RefUpdate {
            name: crate::refs::name::RefName::new(name).unwrap(),
            old,
            new,
        };
        let r = apply(
            Dirs {
                common: d,
                worktree: d,
            },
            HashKind::Sha1,
            &[up("refs/heads/x", null, a), up("refs/tags/t", null, b)],
            false,
            SharedPerm::default(),
            None,
            None,
        )
        .unwrap();
        assert!(r.iter().all(Result::is_ok), "{r:?}");
        git(d, &["pack-refs", "--all"]);
        // Stale old value fails; atomic makes the other fail too.
        let r = apply(
            Dirs {
                common: d,
                worktree: d,
            },
            HashKind::Sha1,
            &[up("refs/heads/x", b, a), up("refs/heads/y", null, a)],
            true,
            SharedPerm::default(),
            None,
            None,
        )
        .unwrap();
        assert!(r.iter().all(Result::is_err));
        assert!(git(d, &["for-each-ref"]).lines().count() == 2);
        // Delete a packed ref, update another.
        let r = apply(
            Dirs {
                common: d,
                worktree: d,
            },
            HashKind::Sha1,
            &[up("refs/tags/t", b, null), up("refs/heads/x", a, b)],
            false,
            SharedPerm::default(),
            None,
            None,
        )
        .unwrap();
        assert!(r.iter().all(Result::is_ok), "{r:?}");
        let refs = git(d, &["for-each-ref", "--format=%(refname) %(objectname)"]);
        assert_eq!(refs, format!("refs/heads/x {b}\n"));
        // A fresh lock (another writer at work) refuses the update and is left alone.
        fs::write(d.join("refs/heads/x.lock"), "").unwrap();
        let r = apply(
            Dirs {
                common: d,
                worktree: d,
            },
            HashKind::Sha1,
            &[up("refs/heads/x", b, a)],
            false,
            SharedPerm::default(),
            None,
            None,
        )
        .unwrap();
        assert!(r[0].is_err());
        assert!(d.join("refs/heads/x.lock").exists());
        fs::remove_file(d.join("refs/heads/x.lock")).unwrap();
        let leftover: Vec<_> = walk(d)
            .into_iter()
            .filter(|p| p.ends_with(".lock"))
            .collect();
        assert!(leftover.is_empty(), "{leftover:?}");
    }

    fn walk(d: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in fs::read_dir(d).unwrap().flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path().display().to_string());
            }
        }
        out
    }
}
