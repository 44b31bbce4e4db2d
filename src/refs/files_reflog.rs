//! The files backend's reflogs: `logs/<ref>` beside `refs/`, one line appended per update, as
//! C git's files backend writes them in the same transaction, before the ref moves
//! (`files_transaction_finish`). A deleted ref's log is removed with it. HEAD's log gets the
//! entry too when HEAD points at the updated branch (C git's `split_head_update`).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use crate::file_mode::SharedPerm;
use crate::refs::reflog::{logged_by_policy, LogInfo};
use crate::refs::store::RefUpdate;
use crate::refs::transaction::Dirs;

/// The reflog file of ref `name` (`HEAD` and a worktree's own refs in its git directory).
fn log_path(dirs: Dirs<'_>, name: &str) -> PathBuf {
    let base = match name == "HEAD" || crate::refs::is_per_worktree(name) {
        true => dirs.worktree,
        false => dirs.common,
    };
    base.join("logs").join(name)
}

/// The branch the served worktree's HEAD points at, if HEAD is symbolic.
pub(super) fn head_target(dirs: Dirs<'_>) -> Option<String> {
    let text = fs::read_to_string(dirs.worktree.join("HEAD")).ok()?;
    let target = text.strip_prefix("ref:")?.trim();
    Some(target.to_string())
}

/// Appends `u`'s entry to its reflog when `log`'s policy asks for one or the log exists, and to
/// HEAD's when HEAD points at `u`'s ref (`head`). Nothing is written for a deletion but
/// HEAD's entry: the deleted ref's log goes with it ([`remove`]).
pub(super) fn record(
    dirs: Dirs<'_>,
    u: &RefUpdate,
    head: Option<&str>,
    log: &LogInfo,
    shared: SharedPerm,
) -> std::io::Result<()> {
    let name = u.name.as_str();
    let line = log.line(&u.old, &u.new);
    if !u.new.is_null() {
        append(dirs, name, &line, log, shared)?;
    }
    if head == Some(name) {
        append(dirs, "HEAD", &line, log, shared)?;
    }
    Ok(())
}

/// Appends `line` to `name`'s log, creating it only when the policy logs `name`.
fn append(
    dirs: Dirs<'_>,
    name: &str,
    line: &str,
    log: &LogInfo,
    shared: SharedPerm,
) -> std::io::Result<()> {
    let path = log_path(dirs, name);
    let create = logged_by_policy(name, log.policy);
    if !create && !path.is_file() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        shared.create_dir_all(parent)?;
    }
    let mut file = OpenOptions::new().append(true).create(true).open(&path)?;
    shared.adjust(&path)?;
    // One write: a concurrent reader sees the whole line or none of it (O_APPEND).
    file.write_all(line.as_bytes())
}

/// Removes the log of the deleted ref `name` and the directories it leaves empty below
/// `logs/refs/<kind>/`, which stays (C git: `unlink_or_warn`, then `try_remove_empty_parents`,
/// which skips the name's first two components).
pub(super) fn remove(dirs: Dirs<'_>, name: &str) {
    let path = log_path(dirs, name);
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::warn!(log = %path.display(), error = %e, "cannot remove reflog");
            return;
        }
    }
    let parts: Vec<&str> = name.split('/').collect();
    let mut dir = path.parent();
    for _ in 3..parts.len() {
        let Some(d) = dir else { break };
        if fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{HashKind, ObjectId};
    use crate::ref_name::RefName;
    use crate::refs::reflog::LogPolicy;

    fn info(policy: LogPolicy) -> LogInfo {
        LogInfo {
            policy,
            name: "N".into(),
            email: "e@x".into(),
            time: 1,
            tz_hhmm: 0,
            message: "push".into(),
        }
    }

    #[test]
    fn logs_follow_the_policy_head_and_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let dirs = Dirs {
            common: d,
            worktree: d,
        };
        let id = ObjectId::from_hex("12".repeat(20).as_bytes()).unwrap();
        let null = HashKind::Sha1.null();
        let update = |name: &str, old, new| RefUpdate {
            name: RefName::new(name).unwrap(),
            old,
            new,
        };
        let shared = SharedPerm::default();
        let create = update("refs/heads/main", null, id);
        let tag = update("refs/tags/v1", null, id);
        // Bare default: nothing unless the log exists.
        record(
            dirs,
            &create,
            Some("refs/heads/main"),
            &info(LogPolicy::Existing),
            shared,
        )
        .unwrap();
        assert!(!d.join("logs").exists());
        // `true`: the branch and HEAD, not the tag.
        let normal = info(LogPolicy::Normal);
        record(dirs, &create, Some("refs/heads/main"), &normal, shared).unwrap();
        record(dirs, &tag, Some("refs/heads/main"), &normal, shared).unwrap();
        let main_log = d.join("logs/refs/heads/main");
        assert_eq!(
            fs::read_to_string(&main_log).unwrap(),
            normal.line(&null, &id)
        );
        assert_eq!(
            fs::read_to_string(d.join("logs/HEAD")).unwrap(),
            normal.line(&null, &id)
        );
        assert!(!d.join("logs/refs/tags").exists());
        // A deletion removes the log and the directories it empties below `logs/refs/heads`.
        let nested = update("refs/heads/a/b", null, id);
        record(dirs, &nested, None, &normal, shared).unwrap();
        assert!(d.join("logs/refs/heads/a/b").is_file());
        remove(dirs, "refs/heads/a/b");
        assert!(!d.join("logs/refs/heads/a").exists());
        remove(dirs, "refs/heads/main");
        assert!(!main_log.exists() && d.join("logs/refs/heads").is_dir());
    }
}
