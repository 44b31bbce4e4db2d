//! The hook phases of a push, as githooks(5) orders them: `pre-receive` (all commands on stdin;
//! a non-zero exit refuses them all), `update` per ref (refuses that ref), then after the
//! report `post-receive` and `post-update`, whose exit codes change nothing. Hook output goes to
//! the pushing user on side-band 2.

use std::io::Write;

use crate::backend::{HookSite, Quarantine, Repository};
use crate::service::hooks::{HookRun, HookRunner, HookSession};

use super::commands::Update;
use super::output::ClientOutput;
use super::proc_receive::RefReport;
use super::Error;

/// The repository's hooks and the runner the launcher gave: what the hook phases call.
pub(crate) struct Hooks<'a> {
    site: Option<HookSite>,
    runner: Option<&'a dyn HookRunner>,
}

impl<'a> Hooks<'a> {
    /// The hooks of `repo`, run by `runner`.
    pub fn new(repo: &dyn Repository, runner: Option<&'a dyn HookRunner>) -> Self {
        Hooks {
            site: repo.hook_site(),
            runner,
        }
    }

    /// Runs hook `name`; `Ok(None)` when the repository has no such hook. A repository with
    /// hooks but no runner to run them is an error, not a push that skips its hooks.
    pub(crate) fn run<W: Write>(
        &self,
        name: &str,
        args: &[&str],
        env: &[(String, String)],
        stdin: &[u8],
        out: &mut ClientOutput<W>,
    ) -> Result<Option<i32>, Error> {
        self.with_runner(name, args, env, stdin, |runner, hook| {
            runner.run_hook(hook, &mut |b| out.progress(b))
        })
    }

    /// Starts hook `name` for a conversation (`proc-receive`); `Ok(None)` when the repository
    /// has no such hook. No runner with hooks present is an error, as for [`Hooks::run`].
    pub(crate) fn start(
        &self,
        name: &str,
        env: &[(String, String)],
    ) -> Result<Option<Box<dyn HookSession>>, Error> {
        self.with_runner(name, &[], env, &[], |runner, hook| runner.start_hook(hook))
    }

    /// Calls `f` with the runner and the invocation of hook `name`: `Ok(None)` without hooks,
    /// [`Error::NoHookRunner`] with hooks but no runner, and `f`'s failure named after the hook.
    fn with_runner<T>(
        &self,
        name: &str,
        args: &[&str],
        env: &[(String, String)],
        stdin: &[u8],
        f: impl FnOnce(&dyn HookRunner, &HookRun<'_>) -> std::io::Result<Option<T>>,
    ) -> Result<Option<T>, Error> {
        let Some(site) = &self.site else {
            return Ok(None);
        };
        let runner = self.runner.ok_or(Error::NoHookRunner)?;
        let hook = HookRun {
            site,
            name,
            args,
            env,
            stdin,
        };
        f(runner, &hook).map_err(|source| Error::Hook {
            name: name.to_string(),
            source,
        })
    }
}

/// Environment variables for hooks: the push options and, before the objects are published,
/// what lets a hook's `git` see the quarantined objects.
pub(crate) fn environment(q: Option<&dyn Quarantine>, options: &[String]) -> Vec<(String, String)> {
    let mut env = vec![(
        "GIT_PUSH_OPTION_COUNT".to_string(),
        options.len().to_string(),
    )];
    for (i, o) in options.iter().enumerate() {
        env.push((format!("GIT_PUSH_OPTION_{i}"), o.clone()));
    }
    if let Some(q) = q {
        env.extend(q.hook_env());
    }
    env
}

/// `<old> <new> <ref>` lines of the commands still going: the stdin of `pre-receive` and
/// `post-receive`.
/// `reports` (aligned with `updates`, or empty) are the `proc-receive` hook's: a command it
/// reported on is given as the refs it reported.
pub(crate) fn stdin_lines(updates: &[Update], reports: &[Vec<RefReport>]) -> Vec<u8> {
    updates
        .iter()
        .enumerate()
        .filter(|(_, u)| u.error.is_none())
        .flat_map(|(i, u)| {
            let r = reports.get(i).map_or(&[][..], Vec::as_slice);
            super::proc_receive::hook_lines(&u.cmd, r).into_bytes()
        })
        .collect()
}

/// Runs `pre-receive`; a non-zero exit refuses every command still going.
pub(crate) fn pre_receive<W: Write>(
    hooks: &Hooks<'_>,
    env: &[(String, String)],
    updates: &mut [Update],
    out: &mut ClientOutput<W>,
) -> Result<(), Error> {
    let stdin = stdin_lines(updates, &[]);
    let code = hooks.run("pre-receive", &[], env, &stdin, out)?;
    if code.is_some_and(|c| c != 0) {
        for u in updates {
            u.refuse("pre-receive hook declined");
        }
    }
    Ok(())
}

/// Runs `update <ref> <old> <new>` for each command still going; a non-zero exit refuses it.
pub(crate) fn update_each<W: Write>(
    hooks: &Hooks<'_>,
    env: &[(String, String)],
    updates: &mut [Update],
    out: &mut ClientOutput<W>,
) -> Result<(), Error> {
    for u in updates.iter_mut().filter(|u| u.error.is_none()) {
        let (old, new) = (u.cmd.old.to_hex(), u.cmd.new.to_hex());
        let args = [u.cmd.name.as_str(), &old, &new];
        let code = hooks.run("update", &args, env, &[], out)?;
        if code.is_some_and(|c| c != 0) {
            u.error = Some("hook declined".into());
        }
    }
    Ok(())
}

/// Runs `post-receive` and `post-update` for the commands that succeeded.
pub(crate) fn post<W: Write>(
    hooks: &Hooks<'_>,
    env: &[(String, String)],
    updates: &[Update],
    reports: &[Vec<RefReport>],
    out: &mut ClientOutput<W>,
) -> Result<(), Error> {
    let names: Vec<&str> = updates
        .iter()
        .filter(|u| u.error.is_none())
        .map(|u| u.cmd.name.as_str())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let stdin = stdin_lines(updates, reports);
    hooks.run("post-receive", &[], env, &stdin, out)?;
    hooks.run("post-update", &names, env, &[], out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashKind;
    use crate::service::receive_pack::commands::Command;

    #[test]
    fn environment_and_stdin() {
        let env = environment(None, &["a=1".into(), "b".into()]);
        assert_eq!(env[0], ("GIT_PUSH_OPTION_COUNT".into(), "2".into()));
        assert_eq!(env[2], ("GIT_PUSH_OPTION_1".into(), "b".into()));
        let null = HashKind::Sha1.null();
        let updates = [
            Update {
                cmd: Command {
                    old: null,
                    new: null,
                    name: "refs/heads/a".into(),
                },
                error: None,
            },
            Update {
                cmd: Command {
                    old: null,
                    new: null,
                    name: "refs/heads/b".into(),
                },
                error: Some("no".into()),
            },
        ];
        let lines = String::from_utf8(stdin_lines(&updates, &[])).unwrap();
        assert_eq!(lines, format!("{null} {null} refs/heads/a\n"));
    }
}
