//! The fs backend's refs when `extensions.refStorage = reftable`: HEAD, the ref listing and
//! push transactions answered from the `reftable/` stack ([`crate::refs::reftable`]) instead of
//! loose files and `packed-refs`, with the reflog entries C git's receive-pack writes.
//!
//! Deviation: the reflog time zone is UTC (`+0000`) unless `GIT_COMMITTER_DATE` gives one;
//! C git uses the server's local zone.

use std::path::Path;

use crate::backend::{Error, Head, Ref, RefUpdate};
use crate::gitconfig::GitConfig;
use crate::hash::{HashKind, ObjectId};
use crate::refs::reftable::transaction::{self, Edit, LogInfo, LogPolicy};
use crate::refs::reftable::{self as rt, RefValue, Stack};

/// How many symbolic refs are followed before giving up (C git: 5).
const MAX_SYMREF_DEPTH: usize = 5;

impl From<rt::Error> for Error {
    fn from(e: rt::Error) -> Self {
        match e {
            rt::Error::Io { path, source } => Error::io(path, source),
            other => Error::corrupt("reftable", other.to_string()),
        }
    }
}

/// Follows `value` through symbolic refs in `stack` to an id; `None` when it dangles.
fn resolve(stack: &Stack, mut value: RefValue) -> Result<Option<(ObjectId, Option<ObjectId>)>, Error> {
    for _ in 0..=MAX_SYMREF_DEPTH {
        match value {
            RefValue::Direct(id) => return Ok(Some((id, None))),
            RefValue::Peeled { id, peeled } => return Ok(Some((id, Some(peeled)))),
            RefValue::Deletion => return Ok(None),
            RefValue::Symbolic(target) => match stack.lookup(&target)? {
                Some(v) => value = v,
                None => return Ok(None),
            },
        }
    }
    Ok(None)
}

/// HEAD as the stack in `dir` records it (the `HEAD` file of a reftable repository only says
/// `ref: refs/heads/.invalid`).
pub fn head(dir: &Path) -> Result<Head, Error> {
    let stack = Stack::open(dir)?;
    match stack.lookup("HEAD")? {
        Some(RefValue::Symbolic(target)) => {
            let id = match stack.lookup(&target)? {
                Some(v) => resolve(&stack, v)?.map(|(id, _)| id),
                None => None,
            };
            Ok(Head {
                symref_target: Some(target),
                id,
            })
        }
        Some(v) => Ok(Head {
            symref_target: None,
            id: resolve(&stack, v)?.map(|(id, _)| id),
        }),
        None => Ok(Head {
            symref_target: None,
            id: None,
        }),
    }
}

/// Every ref under `refs/` in name order, symbolic refs resolved (dangling ones skipped, as
/// the files backend skips them). Peeled values are the tables' own: C git stores one for
/// every annotated tag (value type 2), and Sluice does too.
pub fn refs(dir: &Path) -> Result<Vec<Ref>, Error> {
    let stack = Stack::open(dir)?;
    let mut out = Vec::new();
    for rec in stack.refs("refs/")? {
        let rec = rec?;
        let symref_target = match &rec.value {
            RefValue::Symbolic(t) => Some(t.clone()),
            _ => None,
        };
        let Some((id, peeled)) = resolve(&stack, rec.value)? else {
            tracing::debug!(refname = %rec.name, "skipping dangling ref");
            continue;
        };
        out.push(Ref {
            name: rec.name,
            id,
            peeled,
            symref_target,
        });
    }
    Ok(out)
}

/// Applies a push's `updates` to the stack in `dir` (all or nothing with `atomic`), logging
/// them as C git's receive-pack does under `config` (`bare` decides the default of
/// `core.logAllRefUpdates`); `peel` peels annotated tags for the stored peeled values.
pub fn update(
    dir: &Path,
    config: &GitConfig,
    bare: bool,
    updates: &[RefUpdate],
    atomic: bool,
    peel: &mut dyn FnMut(&ObjectId) -> Result<Option<ObjectId>, String>,
    shared: crate::file_mode::SharedPerm,
) -> Result<Vec<Result<(), String>>, Error> {
    let edits: Vec<Edit> = updates
        .iter()
        .map(|u| Edit {
            name: u.name.clone(),
            old: u.old,
            new: u.new,
        })
        .collect();
    let kind = updates.first().map_or(HashKind::Sha1, |u| u.new.kind());
    let log = log_info(config, bare);
    Ok(transaction::commit(dir, kind, &edits, atomic, &log, peel, shared)?)
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
/// (default: on unless bare), `GIT_COMMITTER_NAME`/`EMAIL`, else `user.name`/`user.email`,
/// else the login name at the host name; the message is `push`.
pub fn log_info(config: &GitConfig, bare: bool) -> LogInfo {
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
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let cfg = |k: &str| config.get(k).flatten().map(str::to_string);
    let user = env("USER").or_else(|| env("LOGNAME")).unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let name = env("GIT_COMMITTER_NAME")
        .or_else(|| cfg("user.name"))
        .unwrap_or_else(|| user.clone());
    let email = env("GIT_COMMITTER_EMAIL")
        .or_else(|| cfg("user.email"))
        .or_else(|| env("EMAIL"))
        .unwrap_or_else(|| format!("{user}@{host}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (time, tz_hhmm) = env("GIT_COMMITTER_DATE")
        .and_then(|d| raw_date(&d))
        .unwrap_or((now, 0));
    LogInfo {
        policy,
        name,
        email,
        time,
        tz_hhmm,
        message: "push".into(),
    }
}
