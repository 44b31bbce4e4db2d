//! Ref updates under lock files, as git's files backend does them: `<ref>.lock` taken with
//! `O_EXCL`, the current value compared with the expected old value (compare-and-swap), the new
//! value written and made durable, then renamed over the ref and the directory made durable
//! (fsyncs issued as concurrent batches, see [`crate::durable`]). Deletes also
//! rewrite `packed-refs` (under `packed-refs.lock`) when the ref is packed. With `atomic`, every
//! lock is taken and every check passes before anything is renamed, or nothing changes. Lock files
//! never outlive a call.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::file_mode::SharedPerm;
use crate::hash::{HashKind, ObjectId};
use crate::odb::store::Error;
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

/// Applies `updates` in the repository at `dirs` (ids of hash `kind`); one result per update
/// (`Err(reason)` for the `ng` line). With `atomic`, all succeed or all fail, a linked
/// worktree's own refs included. Files and directories created get the modes `shared`
/// (`core.sharedRepository`) asks for.
pub fn apply(
    dirs: Dirs<'_>,
    kind: HashKind,
    updates: &[RefUpdate],
    atomic: bool,
    shared: SharedPerm,
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
    let result = apply_locked(dirs, kind, updates, atomic, shared);
    drop(guard);
    result
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

/// [`apply`] under the repository's transaction lock: lock and check every ref, make the new
/// values durable, rewrite `packed-refs` for deleted packed refs, rename into place.
fn apply_locked(
    dirs: Dirs<'_>,
    kind: HashKind,
    updates: &[RefUpdate],
    atomic: bool,
    shared: SharedPerm,
) -> Result<Vec<UpdateResult>, Error> {
    let packed_path = dirs.common.join("packed-refs");
    let mut packed = BTreeMap::new();
    if let Ok(text) = fs::read(&packed_path) {
        parse_packed(kind, &text, &mut packed)?;
    }
    // Phase 1: lock and check every ref.
    let (mut results, locks): (Vec<UpdateResult>, Vec<Option<Lock>>) = updates
        .iter()
        .map(|u| lock_and_check(dirs, kind, u, &packed, shared))
        .collect::<Result<Vec<_>, Error>>()?
        .into_iter()
        .map(|r| match r {
            Ok(lock) => (Ok(()), Some(lock)),
            Err(reason) => (Err(reason), None),
        })
        .unzip();
    if atomic && results.iter().any(Result::is_err) {
        return Ok(results
            .into_iter()
            .map(|r| r.and(Err("atomic transaction failed".to_string())))
            .collect());
    }
    // The new values are durable before any ref points at them.
    let written: Vec<PathBuf> = updates
        .iter()
        .zip(&locks)
        .filter(|(u, l)| l.is_some() && !u.new.is_null())
        .filter_map(|(_, l)| l.as_ref().map(|l| l.path.clone()))
        .collect();
    if let Err(e) = crate::durable::sync_files(&written) {
        let reason = format!("cannot write refs: {e}");
        return Ok(results
            .into_iter()
            .map(|r| r.and(Err(reason.clone())))
            .collect());
    }
    // Phase 2: deletions of packed refs rewrite packed-refs once.
    let deleted_packed: Vec<&str> = updates
        .iter()
        .zip(&results)
        .filter(|(u, r)| r.is_ok() && u.new.is_null() && packed.contains_key(u.name.as_str()))
        .map(|(u, _)| u.name.as_str())
        .collect();
    if !deleted_packed.is_empty() {
        let lock =
            Lock::take(&packed_path, shared).map_err(|e| Error::io("packed-refs.lock", e))?;
        let text = fs::read(&packed_path).map_err(|e| Error::io("packed-refs", e))?;
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
            skipping = name.is_some_and(|n| deleted_packed.iter().any(|d| d.as_bytes() == n));
            if !skipping {
                kept.extend_from_slice(line);
            }
        }
        lock.write_durably(&kept)
            .map_err(|e| Error::io("packed-refs.lock", e))?;
        lock.commit().map_err(|e| Error::io("packed-refs", e))?;
    }
    // Phase 3: rename each ref into place, then make the renames durable.
    let mut synced: Vec<PathBuf> = Vec::new();
    for ((u, r), lock) in updates.iter().zip(results.iter_mut()).zip(locks) {
        let Some(lock) = lock else { continue };
        if r.is_err() {
            continue;
        }
        let outcome = if u.new.is_null() {
            match fs::remove_file(&lock.target) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            }
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
    Ok(results)
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
