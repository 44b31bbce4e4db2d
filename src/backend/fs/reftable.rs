//! The fs backend's ref store when `extensions.refStorage = reftable`
//! ([`crate::refs::reftable::ReftableRefStore`]), given what only the backend knows: the object
//! directory to peel pushed tags from, and the reflog identity and policy C git's receive-pack
//! would use.
//!
//! Deviation: the reflog time zone is UTC (`+0000`) unless `GIT_COMMITTER_DATE` gives one;
//! C git uses the server's local zone.

use std::path::Path;
use std::sync::Arc;

use crate::backend::Error;
use crate::env::Env;
use crate::file_mode::SharedPerm;
use crate::git_config::GitConfig;
use crate::hash::{HashKind, ObjectId};
use crate::refs::reftable::store::{LogSource, Peeler};
use crate::refs::reftable::transaction::{lock_timeout, LogInfo, LogPolicy, WriteOptions};
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
    let log = log_info(config, bare, &env);
    let source: LogSource = Box::new(move || {
        let mut info = log.clone();
        if let Some((time, tz)) = env_date(&env) {
            (info.time, info.tz_hhmm) = (time, tz);
        } else {
            info.time = now();
        }
        info
    });
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

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn env_date(env: &Env) -> Option<(u64, i16)> {
    env.get("GIT_COMMITTER_DATE").and_then(|d| raw_date(&d))
}

/// A `GIT_COMMITTER_DATE` in git's raw form (`<seconds> <±hhmm>`, or `@<seconds>`); other
/// forms are not parsed (the current time is used).
fn raw_date(text: &str) -> Option<(u64, i16)> {
    let text = text.trim().trim_start_matches('@');
    let (secs, tz) = text.split_once(' ').unwrap_or((text, "+0000"));
    let secs = secs.parse().ok()?;
    let tz = tz.trim();
    let sign = if tz.starts_with('-') { -1 } else { 1 };
    let digits = tz.trim_start_matches(['+', '-']);
    (digits.len() == 4).then_some(())?;
    Some((secs, sign * digits.parse::<i16>().ok()?))
}

/// The reflog policy and committer identity C git's receive-pack would use: `core.logAllRefUpdates`
/// (default: on unless bare), `GIT_COMMITTER_NAME`/`EMAIL` of `env`, else
/// `user.name`/`user.email`, else the login name at the host name; the message is `push`.
pub fn log_info(config: &GitConfig, bare: bool, env: &Env) -> LogInfo {
    let always = config
        .get("core.logallrefupdates")
        .flatten()
        .is_some_and(|v| v.eq_ignore_ascii_case("always"));
    let policy = match config.get_bool("core.logallrefupdates") {
        _ if always => LogPolicy::Always,
        Ok(Some(true)) => LogPolicy::Normal,
        Ok(Some(false)) => LogPolicy::Existing,
        _ if bare => LogPolicy::Existing,
        _ => LogPolicy::Normal,
    };
    let var = |k: &str| env.get_nonempty(k);
    let cfg = |k: &str| config.get(k).flatten().map(str::to_string);
    let user = var("USER")
        .or_else(|| var("LOGNAME"))
        .unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let name = var("GIT_COMMITTER_NAME")
        .or_else(|| cfg("user.name"))
        .unwrap_or_else(|| user.clone());
    let email = var("GIT_COMMITTER_EMAIL")
        .or_else(|| cfg("user.email"))
        .or_else(|| var("EMAIL"))
        .unwrap_or_else(|| format!("{user}@{host}"));
    let (time, tz_hhmm) = env_date(env).unwrap_or((now(), 0));
    LogInfo {
        policy,
        name,
        email,
        time,
        tz_hhmm,
        message: "push".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_dates_and_log_policies_read_as_c_git_reads_them() {
        assert_eq!(raw_date("1700000000 -0130"), Some((1_700_000_000, -130)));
        assert_eq!(raw_date("@1700000000 +0200"), Some((1_700_000_000, 200)));
        assert_eq!(raw_date("1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(raw_date("yesterday"), None);
        assert_eq!(raw_date("1700000000 +02"), None);
        let policy = |text: &str, bare: bool| {
            let config = GitConfig::parse(text.as_bytes(), "config").unwrap();
            log_info(&config, bare, &Env::default()).policy
        };
        assert_eq!(policy("", true), LogPolicy::Existing);
        assert_eq!(policy("", false), LogPolicy::Normal);
        assert_eq!(
            policy("[core]\nlogAllRefUpdates = true\n", true),
            LogPolicy::Normal
        );
        assert_eq!(
            policy("[core]\nlogAllRefUpdates = false\n", false),
            LogPolicy::Existing
        );
        assert_eq!(
            policy("[core]\nlogAllRefUpdates = always\n", true),
            LogPolicy::Always
        );
    }
}
