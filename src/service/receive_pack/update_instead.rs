//! `receive.denyCurrentBranch=updateInstead`: the command that moves the checked-out branch
//! of a non-bare repository first brings the working tree along, after the `update` hook and
//! before the ref transaction, as C git's `update()` does. The `push-to-checkout` hook, when
//! present, does that instead (it gets the new commit and `GIT_WORK_TREE`, and its exit code
//! decides); otherwise the backend checks the tree is clean and checks the commit out.

use std::io::Write;

use crate::backend::Repository;

use super::commands::Update;
use super::output::ClientOutput;

/// Updates the working tree for each pending command that moves `head_branch` (a delete of it
/// is refused); a refusal becomes that command's `ng` reason.
pub(crate) fn update_checked_out<W: Write>(
    repo: &dyn Repository,
    hooks: &super::hooks::Hooks<'_>,
    head_branch: Option<&str>,
    env: &[(String, String)],
    updates: &mut [Update],
    out: &mut ClientOutput<W>,
) -> Result<(), super::Error> {
    let Some(branch) = head_branch else {
        return Ok(());
    };
    for u in updates
        .iter_mut()
        .filter(|u| u.error.is_none() && u.cmd.name == branch)
    {
        if u.cmd.is_delete() {
            // Reached only with receive.denyDeleteCurrent=ignore/warn: C git then checks out
            // the null commit, which fails; refuse with its default's reason instead.
            u.refuse("deletion of the current branch prohibited");
            continue;
        }
        let new = u.cmd.new;
        let mut env = env.to_vec();
        if let Some(wt) = repo.work_tree() {
            env.push(("GIT_WORK_TREE".into(), wt.display().to_string()));
        }
        let hex = new.to_hex();
        let hook = hooks.run("push-to-checkout", &[&hex], &env, &[], out)?;
        let refused = match hook {
            Some(0) => None,
            Some(_) => Some("push-to-checkout hook declined".to_string()),
            None => repo.update_work_tree(&new).err().map(|r| {
                if let Some(detail) = r.detail {
                    out.progress(format!("error: {detail}\n").as_bytes());
                }
                r.reason
            }),
        };
        if let Some(why) = refused {
            tracing::info!(refname = %u.cmd.name, reason = %why, "working tree not updated");
            u.refuse(&why);
        }
    }
    Ok(())
}
