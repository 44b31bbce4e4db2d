//! The repository's push policy (`receive.deny*`, `receive.maxInputSize`,
//! `receive.shallowUpdate`) and the pure per-ref decisions made from it: given what the caller
//! found out about a command's ref, whether the command is refused and with which `ng` reason
//! (C git's wording).

use crate::hash::ObjectId;
use crate::limits::Limits;
use crate::service::settings::ReceivePackSettings;

use super::commands::Command;

/// What a ref update does, for per-ref access checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefChange {
    /// The ref does not exist yet.
    Create,
    /// The new value contains the old one (fast-forward).
    FastForward,
    /// The new value does not contain the old one (force push).
    Rewind,
    /// The ref is deleted.
    Delete,
}

/// The repository's push policy, from its [`ReceivePackSettings`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    /// `receive.denyNonFastForwards`.
    pub deny_non_fast_forwards: bool,
    /// `receive.denyDeletes`.
    pub deny_deletes: bool,
    /// `receive.denyCurrentBranch` refuses (the default for non-bare repositories).
    pub deny_current_branch: bool,
    /// A push to a branch checked out in another worktree is refused: `receive.denyCurrentBranch`
    /// refuses (bare or not: a bare repository's linked worktrees have branches checked out),
    /// or is `updateInstead`. Deviation: C git updates that other worktree for
    /// `updateInstead`; Sluice updates only the served one, so it refuses rather than leave the
    /// other worktree behind its branch.
    pub deny_checked_out_elsewhere: bool,
    /// `receive.denyDeleteCurrent` refuses (the default, bare or not).
    pub deny_delete_current: bool,
    /// `receive.maxInputSize` (0: unlimited).
    pub max_input_size: u64,
    /// `receive.shallowUpdate`: a push may extend the repository's shallow boundary.
    pub shallow_update: bool,
    /// `receive.denyCurrentBranch=updateInstead` on a non-bare repository: a push to the
    /// checked-out branch updates the working tree.
    pub update_instead: bool,
}

impl Policy {
    /// The policy `settings` give a repository (`bare`: it has no checked-out branch).
    pub fn new(settings: &ReceivePackSettings, bare: bool) -> Policy {
        Policy {
            deny_non_fast_forwards: settings.deny_non_fast_forwards,
            deny_deletes: settings.deny_deletes,
            deny_current_branch: settings.deny_current_branch(bare),
            deny_checked_out_elsewhere: settings.deny_current_branch_set
                || settings.update_instead_set,
            deny_delete_current: settings.deny_delete_current,
            max_input_size: settings.max_input_size,
            shallow_update: settings.shallow_update,
            update_instead: settings.update_instead(bare),
        }
    }

    /// `limits` with the pack size capped by `receive.maxInputSize` when that is smaller.
    pub fn pack_limits(&self, limits: &Limits) -> Limits {
        let mut limits = limits.clone();
        if self.max_input_size > 0
            && (limits.max_pack_bytes == 0 || self.max_input_size < limits.max_pack_bytes)
        {
            limits.max_pack_bytes = self.max_input_size;
        }
        limits
    }
}

/// What the caller found out about a command's ref before the policy decides.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefState<'a> {
    /// An earlier command of the same push names the same ref.
    pub duplicate: bool,
    /// `receive.hideRefs` hides the ref.
    pub hidden: bool,
    /// The ref's current value (the null id: it does not exist).
    pub current: ObjectId,
    /// The branch HEAD points at, if symbolic.
    pub head_branch: Option<&'a str>,
    /// The ref is the branch checked out in another worktree of the repository.
    pub checked_out_elsewhere: bool,
}

/// The reason `cmd` is refused before any object is looked at, or `None`.
pub(crate) fn refuse_command(
    policy: &Policy,
    cmd: &Command,
    state: &RefState<'_>,
) -> Option<&'static str> {
    let is_head = state.head_branch == Some(cmd.name.as_str());
    let elsewhere = state.checked_out_elsewhere;
    if state.duplicate {
        Some("duplicate ref update")
    } else if state.hidden {
        Some(match cmd.is_delete() {
            true => "deny deleting a hidden ref",
            false => "deny updating a hidden ref",
        })
    } else if !cmd.name.starts_with("refs/") || crate::refs::name::RefName::new(&cmd.name).is_err()
    {
        Some("funny refname")
    } else if (policy.deny_current_branch && is_head)
        || (policy.deny_checked_out_elsewhere && elsewhere)
    {
        // Checked first, as C git's update() does: a delete of it gets this reason too.
        Some("branch is currently checked out")
    } else if cmd.is_delete() && policy.deny_deletes && cmd.name.starts_with("refs/heads/") {
        // C git's receive.denyDeletes protects branches only.
        Some("deletion prohibited")
    } else if cmd.is_delete() && policy.deny_delete_current && (is_head || elsewhere) {
        Some("deletion of the current branch prohibited")
    } else if state.current != cmd.old {
        Some("stale info")
    } else {
        None
    }
}

/// The reason a change of kind `change` is refused by the repository's policy, or `None`.
pub(crate) fn refuse_change(policy: &Policy, change: RefChange) -> Option<&'static str> {
    (change == RefChange::Rewind && policy.deny_non_fast_forwards).then_some("non-fast-forward")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashKind;

    fn id(byte: u8) -> ObjectId {
        let hex: String = std::iter::repeat(format!("{byte:02x}")).take(20).collect();
        ObjectId::from_hex(hex.as_bytes()).unwrap()
    }

    fn cmd(old: ObjectId, new: ObjectId, name: &str) -> Command {
        Command {
            old,
            new,
            name: name.into(),
        }
    }

    fn state(current: ObjectId) -> RefState<'static> {
        RefState {
            duplicate: false,
            hidden: false,
            current,
            head_branch: Some("refs/heads/main"),
            checked_out_elsewhere: false,
        }
    }

    #[test]
    fn command_refusals_in_c_gits_words() {
        let null = HashKind::Sha1.null();
        let strict = Policy {
            deny_deletes: true,
            deny_current_branch: true,
            ..Policy::default()
        };
        let lax = Policy::default();
        let create = cmd(null, id(1), "refs/heads/topic");
        assert_eq!(refuse_command(&strict, &create, &state(null)), None);
        assert_eq!(
            refuse_command(&lax, &create, &state(id(2))),
            Some("stale info")
        );
        let dup = RefState {
            duplicate: true,
            ..state(null)
        };
        assert_eq!(
            refuse_command(&lax, &create, &dup),
            Some("duplicate ref update")
        );
        let hidden = RefState {
            hidden: true,
            ..state(id(1))
        };
        let delete = cmd(id(1), null, "refs/heads/topic");
        assert_eq!(
            refuse_command(&lax, &delete, &hidden),
            Some("deny deleting a hidden ref")
        );
        assert_eq!(
            refuse_command(
                &lax,
                &create,
                &RefState {
                    hidden: true,
                    ..state(null)
                }
            ),
            Some("deny updating a hidden ref")
        );
        assert_eq!(
            refuse_command(&strict, &delete, &state(id(1))),
            Some("deletion prohibited")
        );
        assert_eq!(refuse_command(&lax, &delete, &state(id(1))), None);
        for funny in ["HEAD", "refs/heads/a..b", "refs/heads/x.lock"] {
            let c = cmd(null, id(1), funny);
            assert_eq!(
                refuse_command(&lax, &c, &state(null)),
                Some("funny refname"),
                "{funny}"
            );
        }
        let main = cmd(id(1), id(2), "refs/heads/main");
        assert_eq!(
            refuse_command(&strict, &main, &state(id(1))),
            Some("branch is currently checked out")
        );
        assert_eq!(refuse_command(&lax, &main, &state(id(1))), None);
        // Deleting HEAD's branch: denyCurrentBranch first (non-bare), then denyDeletes, then
        // denyDeleteCurrent, as C git's update() checks them.
        let delete_main = cmd(id(1), null, "refs/heads/main");
        let bare_default = Policy {
            deny_delete_current: true,
            ..Policy::default()
        };
        assert_eq!(
            refuse_command(&bare_default, &delete_main, &state(id(1))),
            Some("deletion of the current branch prohibited")
        );
        assert_eq!(refuse_command(&bare_default, &delete, &state(id(1))), None);
        assert_eq!(
            refuse_command(&strict, &delete_main, &state(id(1))),
            Some("branch is currently checked out")
        );
        assert_eq!(refuse_command(&lax, &delete_main, &state(id(1))), None);
        // receive.denyDeletes protects branches only, as in C git.
        let delete_tag = cmd(id(1), null, "refs/tags/v1");
        assert_eq!(refuse_command(&strict, &delete_tag, &state(id(1))), None);
        // A branch checked out in another worktree: refused even where HEAD's own is not
        // (a bare repository with linked worktrees).
        let elsewhere = RefState {
            checked_out_elsewhere: true,
            ..state(id(1))
        };
        let topic = cmd(id(1), id(2), "refs/heads/topic");
        let others = Policy {
            deny_checked_out_elsewhere: true,
            ..bare_default.clone()
        };
        assert_eq!(
            refuse_command(&others, &topic, &elsewhere),
            Some("branch is currently checked out")
        );
        assert_eq!(refuse_command(&bare_default, &topic, &elsewhere), None);
        assert_eq!(
            refuse_command(&bare_default, &delete, &elsewhere),
            Some("deletion of the current branch prohibited")
        );
    }

    #[test]
    fn change_refusals_and_pack_limits() {
        let deny = Policy {
            deny_non_fast_forwards: true,
            max_input_size: 100,
            ..Policy::default()
        };
        assert_eq!(
            refuse_change(&deny, RefChange::Rewind),
            Some("non-fast-forward")
        );
        assert_eq!(refuse_change(&deny, RefChange::FastForward), None);
        assert_eq!(refuse_change(&Policy::default(), RefChange::Rewind), None);
        assert_eq!(deny.pack_limits(&Limits::default()).max_pack_bytes, 100);
        let tighter = Limits {
            max_pack_bytes: 50,
            ..Limits::default()
        };
        assert_eq!(deny.pack_limits(&tighter).max_pack_bytes, 50);
        assert_eq!(Policy::default().pack_limits(&tighter).max_pack_bytes, 50);
    }
}
