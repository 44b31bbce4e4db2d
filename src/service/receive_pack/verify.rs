//! The verify phase: each command checked against the repository plus the quarantined objects
//! (policy, object presence and kind, fast-forward, per-ref access, connectivity). Runs after
//! the pack is unpacked and before any hook; refusals are per command.

use std::collections::{HashMap, HashSet};

use crate::backend::{self, Repository};
use crate::hash::{IdSet, ObjectId, PackedIdSet};
use crate::odb::Kind;
use crate::walk::{self, WalkOptions};

use super::commands::Update;
use super::policy::{refuse_change, refuse_command, Policy, RefChange, RefState};
use super::{RefAuthorizer, RefCheck};

/// Per-command checks: ref name, policy, object presence, fast-forward, connectivity.
/// `self_contained`: the objects of a received pack whose links all stay inside it; tips among
/// them are connected without a walk.
pub(super) fn check_commands(
    repo: &dyn Repository,
    view: &dyn Repository,
    policy: &Policy,
    authorize: Option<&RefAuthorizer>,
    self_contained: Option<&PackedIdSet>,
    client_shallow: &IdSet,
    updates: &mut [Update],
) -> Result<(), backend::Error> {
    let current: HashMap<String, ObjectId> =
        repo.refs()?.into_iter().map(|r| (r.name, r.id)).collect();
    let existing_tips: Vec<ObjectId> = current.values().copied().collect();
    let head_branch = repo.head()?.symref_target;
    let elsewhere = repo.branches_checked_out_elsewhere()?;
    let mut seen_names = HashSet::new();
    let mut pending = Vec::new();
    for (idx, u) in updates.iter_mut().enumerate() {
        let cmd = &u.cmd;
        let state = RefState {
            duplicate: !seen_names.insert(cmd.name.clone()),
            hidden: repo.ref_is_hidden(&cmd.name),
            current: current
                .get(&cmd.name)
                .copied()
                .unwrap_or_else(|| repo.hash_kind().null()),
            head_branch: head_branch.as_deref(),
            checked_out_elsewhere: elsewhere.contains(&cmd.name),
        };
        u.error = refuse_command(policy, cmd, &state).map(str::to_string);
        if u.error.is_some() {
            continue;
        }
        if cmd.is_delete() {
            let no_merge = || Ok(false);
            let check = RefCheck {
                name: &cmd.name,
                change: RefChange::Delete,
                has_merge: &no_merge,
            };
            if let Some(Err(why)) = authorize.map(|a| a(&check)) {
                u.error = Some(why);
            }
            continue;
        }
        let new_kind = view.object_header(&cmd.new)?.map(|(k, _)| k);
        if new_kind.is_none() {
            u.error = Some("missing necessary objects".into());
            continue;
        }
        if let Some(why) = refuse_object_for_ref(view, &cmd.name, &cmd.new, new_kind)? {
            u.error = Some(why);
            continue;
        }
        let change = if cmd.is_create() {
            RefChange::Create
        } else {
            let mut cache = walk::CommitCache::default();
            let ff = new_kind == Some(Kind::Commit)
                && walk::is_reachable(view, &mut cache, &[cmd.new], &cmd.old, i64::MIN)
                    .unwrap_or(false);
            if ff {
                RefChange::FastForward
            } else {
                RefChange::Rewind
            }
        };
        if let Some(why) = refuse_change(policy, change) {
            u.error = Some(why.into());
            continue;
        }
        let has_merge = || match change {
            RefChange::Create => Ok(false),
            _ => walk::has_merge_between(view, &cmd.old, &cmd.new).map_err(|e| e.to_string()),
        };
        let check = RefCheck {
            name: &cmd.name,
            change,
            has_merge: &has_merge,
        };
        if let Some(Err(why)) = authorize.map(|a| a(&check)) {
            u.error = Some(why);
            continue;
        }
        if !self_contained.is_some_and(|s| s.contains(&cmd.new)) {
            pending.push(idx);
        }
    }
    // Connectivity: everything reachable from the new tips and not from existing refs exists.
    // One walk for all tips (a push of many tags shares its history); only if it fails are the
    // tips walked one by one, to refuse exactly the commands that lack objects.
    let tips: Vec<ObjectId> = pending.iter().map(|&i| updates[i].cmd.new).collect();
    let none = IdSet::default();
    if tips.is_empty() || connected(view, &tips, &existing_tips, &none).is_ok() {
        return Ok(());
    }
    for i in pending {
        let tip = [updates[i].cmd.new];
        let Err(e) = connected(view, &tip, &existing_tips, &none) else {
            continue;
        };
        // Complete only down to the pusher's shallow boundary: a shallow update.
        if !client_shallow.is_empty()
            && connected(view, &tip, &existing_tips, client_shallow).is_ok()
        {
            if !policy.shallow_update {
                updates[i].error = Some("shallow update not allowed".into());
            }
            continue;
        }
        tracing::warn!(refname = %updates[i].cmd.name, error = %e, "connectivity check failed");
        updates[i].error = Some("missing necessary objects".into());
    }
    Ok(())
}

/// What a ref may not point at, checked per ref before anything is stored: a branch
/// (`refs/heads/*`) only at a commit, as C git's ref store insists (a tag, tree or blob there
/// makes `git fsck` report "not a commit" and breaks checkouts); and no chain of annotated tags
/// deeper than [`MAX_PUSHED_DEPTH`](crate::odb::tag_chain::MAX_PUSHED_DEPTH). Deviation: C git
/// accepts any depth. Refusing deep chains here, where one user pushes them, is what lets every
/// reader peel whatever chain a repository holds without a limit.
fn refuse_object_for_ref(
    view: &dyn Repository,
    name: &str,
    new: &ObjectId,
    kind: Option<Kind>,
) -> Result<Option<String>, backend::Error> {
    if name.starts_with("refs/heads/") && kind != Some(Kind::Commit) {
        return Ok(Some(format!(
            "trying to write non-commit object {new} to branch '{name}'"
        )));
    }
    if kind != Some(Kind::Tag) {
        return Ok(None);
    }
    let max = crate::odb::tag_chain::MAX_PUSHED_DEPTH;
    let mut depth = 0usize;
    crate::odb::tag_chain::peel::<backend::Error>(*new, |current| {
        depth += 1;
        if depth > max + 1 {
            return Ok(None); // Deep enough to refuse: stop reading.
        }
        match view.read_object(current)? {
            Some(o) if o.kind == Kind::Tag => crate::odb::TagRef::parse(&o.data)
                .map(|t| Some(t.object))
                .map_err(|source| backend::Error::Object {
                    id: *current,
                    source,
                }),
            _ => Ok(None),
        }
    })?;
    // `depth` counts the objects looked at: the tags plus the object they end at.
    Ok((depth > max + 1).then(|| format!("tag chain deeper than {max} tags")))
}

/// Walks from `tips` down to `existing` checking that every object exists; commits in `roots`
/// are taken as having no parents (a pusher's shallow boundary).
fn connected(
    view: &dyn Repository,
    tips: &[ObjectId],
    existing: &[ObjectId],
    roots: &IdSet,
) -> Result<(), walk::Error> {
    let mut discard = crate::progress::Discard;
    walk::objects_for_pack(
        view,
        tips,
        existing,
        &WalkOptions {
            check_blobs: true,
            shallow: roots.clone(),
            ..WalkOptions::default()
        },
        &mut discard,
    )
    .map(|_| ())
}

/// Runs the launcher's whole-push check on the updates still standing; a refusal is told to
/// the client in full and becomes every such update's `ng` reason (its first line).
pub(crate) fn validate_push<W: std::io::Write>(
    view: &dyn Repository,
    validate: &super::PushValidator,
    updates: &mut [Update],
    out: &mut super::output::ClientOutput<W>,
) {
    let standing: Vec<(&str, ObjectId)> = updates
        .iter()
        .filter(|u| u.error.is_none())
        .map(|u| (u.cmd.name.as_str(), u.cmd.new))
        .collect();
    if standing.is_empty() {
        return;
    }
    if let Err(why) = validate(view, &standing) {
        for line in why.lines() {
            out.progress(format!("{line}\n").as_bytes());
        }
        let reason = why.lines().next().unwrap_or("refused").to_string();
        for u in updates.iter_mut().filter(|u| u.error.is_none()) {
            u.refuse(&reason);
        }
    }
}
