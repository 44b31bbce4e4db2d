//! The update phase: the quarantined objects are made visible (only if some command will
//! succeed), the shallow file gains the pusher's boundary (`receive.shallowUpdate`), and the
//! ref transaction applies the surviving commands with compare-and-swap, all or nothing under
//! `atomic`.

use crate::backend::{Quarantine, RefUpdate, Repository};
use crate::hash::IdSet;
use crate::refs::name::RefName;

use super::commands::Update;

/// True while some command is still going.
pub(crate) fn any_pending(updates: &[Update]) -> bool {
    updates.iter().any(|u| u.error.is_none())
}

/// With `atomic`, one refused command refuses all the others.
pub(crate) fn fail_atomic(updates: &mut [Update]) {
    if updates.iter().any(|u| u.error.is_some()) {
        for u in updates.iter_mut() {
            u.refuse("atomic push failure");
        }
    }
}

/// Makes the objects in `quarantine` durable and visible, when a command still needs them;
/// if that fails every command is refused.
pub(crate) fn publish(quarantine: Option<Box<dyn Quarantine + '_>>, updates: &mut [Update]) {
    let Some(q) = quarantine.filter(|_| any_pending(updates)) else {
        return;
    };
    if let Err(e) = q.commit() {
        tracing::error!(error = %e, "could not move received objects into place");
        for u in updates {
            u.refuse("failed to store objects");
        }
    }
}

/// Adds the pusher's boundary commits whose parents `repo` lacks to its shallow file, before
/// any ref can point at them; if that fails every command is refused.
pub(crate) fn record_shallow(
    repo: &dyn Repository,
    client_shallow: &IdSet,
    updates: &mut [Update],
) {
    if !any_pending(updates) {
        return;
    }
    if let Err(e) = super::shallow::record_new_roots(repo, client_shallow) {
        tracing::error!(error = %e, "could not update the shallow file");
        for u in updates {
            u.refuse("shallow file update failed");
        }
    }
}

/// Applies the commands still going as one ref transaction (`atomic`: all or none) and records
/// each refusal on its command.
pub(crate) fn apply_refs(repo: &dyn Repository, updates: &mut [Update], atomic: bool) {
    // Names were checked in the verify phase; one that fails here is refused all the same.
    for u in updates.iter_mut().filter(|u| u.error.is_none()) {
        if let Err(e) = RefName::new(&u.cmd.name) {
            u.error = Some(e.to_string());
        }
    }
    let mut pending = Vec::new();
    let mut txn = Vec::new();
    for (i, u) in updates.iter().enumerate() {
        let Some(name) = u
            .error
            .is_none()
            .then(|| RefName::new(&u.cmd.name).ok())
            .flatten()
        else {
            continue;
        };
        pending.push(i);
        txn.push(RefUpdate {
            name,
            old: u.cmd.old,
            new: u.cmd.new,
        });
    }
    if pending.is_empty() {
        return;
    }
    match repo.update_refs(&txn, atomic) {
        Ok(results) => {
            for (&i, r) in pending.iter().zip(results) {
                if let Err(reason) = r {
                    updates[i].error = Some(reason);
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "ref transaction failed");
            let why = match atomic {
                true => "atomic transaction failed",
                false => "failed to update ref",
            };
            for &i in &pending {
                updates[i].error = Some(why.into());
            }
        }
    }
    if atomic {
        fail_atomic(updates);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_failure_keeps_first_reasons() {
        let mut all = vec![
            Update::for_test("a", None),
            Update::for_test("b", Some("stale info")),
        ];
        assert!(any_pending(&all));
        fail_atomic(&mut all);
        assert_eq!(all[0].error.as_deref(), Some("atomic push failure"));
        assert_eq!(all[1].error.as_deref(), Some("stale info"));
        assert!(!any_pending(&all));
        let mut fine = vec![Update::for_test("a", None)];
        fail_atomic(&mut fine);
        assert_eq!(fine[0].error, None);
    }
}
