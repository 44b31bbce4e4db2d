//! The ssh launch mode: `command="sluice ssh --root /srv/git --user alice",restrict ...` in
//! authorized_keys, or sshd `ForceCommand`. The client's command arrives in
//! `SSH_ORIGINAL_COMMAND`; only the git service commands are accepted (see [`command`]),
//! their path is confined under the root, and the access policy decides what `--user` may do.
//! `info` lists the repositories the user may read, with gitolite-style R/W marks.
//!
//! [`command`]: crate::launch::command

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::backend_choice::Store;
use super::{access_hook, command, resolve, Error, Request};
use crate::access::{Policy, Right};
use crate::env::Env;
use crate::limits::Limits;
use crate::protocol::version_from_git_protocol;
use crate::service::receive_pack::{RefAuthorizer, RefChange, RefCheck};
use crate::service::Service;

/// How the ssh mode is configured.
#[derive(Debug, Clone)]
pub struct SshConfig {
    /// Repositories live under this directory.
    pub root: PathBuf,
    /// The authenticated user (from the authorized_keys line).
    pub user: Option<String>,
    /// The access policy; without one every repository under the root is readable and writable.
    pub policy: Option<Arc<Policy>>,
    /// The access hook, run after the policy allowed the request.
    pub access_hook: Option<PathBuf>,
    /// Idle timeout.
    pub timeout: Option<Duration>,
    /// The process environment (client address for the access hook, `GIT_NAMESPACE`).
    pub env: Arc<Env>,
    /// The keyed store the repositories are in (`--backend-config`); `None`: under the root.
    pub store: Option<Store>,
}

/// What to do for one ssh session.
pub enum Action {
    /// Serve this request.
    Serve(Request),
    /// Print this text on stdout and exit with this code (no git command: greeting, `info`).
    Print(String, u8),
}

/// The text shown when a user logs in without a command.
pub fn greeting(user: Option<&str>) -> String {
    format!(
        "Hi {}! You have successfully authenticated, but sluice does not provide shell access.\nTry: ssh <host> info\n",
        user.unwrap_or("there")
    )
}

/// Decides what to do for `original_command` (None: interactive login) under `cfg`.
pub fn action(
    cfg: &SshConfig,
    original_command: Option<&str>,
    git_protocol: Option<&str>,
) -> Result<Action, Error> {
    let Some(cmd) = original_command.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(Action::Print(greeting(cfg.user.as_deref()), 1));
    };
    if cmd == "info" {
        return Ok(Action::Print(info(cfg), 0));
    }
    let parsed = command::parse(cmd).map_err(|e| Error::Refused(e.to_string()))?;
    let repos = resolve::Repos {
        root: &cfg.root,
        store: cfg.store.as_ref().map(Store::backend),
    };
    let request = authorize(
        "ssh",
        repos,
        cfg.user.as_deref(),
        cfg.policy.clone(),
        cfg.access_hook.as_deref(),
        parsed,
        git_protocol,
        cfg.timeout,
        &cfg.env,
    )?;
    Ok(Action::Serve(request))
}

/// Resolves and checks a parsed command for `user` under `root` with `policy`.
pub(crate) fn authorize(
    mode: &'static str,
    repos: resolve::Repos<'_>,
    user: Option<&str>,
    policy: Option<Arc<Policy>>,
    access_hook: Option<&std::path::Path>,
    cmd: command::GitCommand,
    git_protocol: Option<&str>,
    timeout: Option<Duration>,
    env: &Env,
) -> Result<Request, Error> {
    let denied = || {
        Error::Refused(format!(
            "repository '{}' not found or access denied",
            cmd.path
        ))
    };
    let resolved = repos.find(&cmd.path).map_err(|e| {
        tracing::warn!(path = %cmd.path, error = %e, "refused path");
        match e {
            // The store is unreachable: say so (it tells nothing about what exists).
            resolve::Error::Store { .. } => Error::Refused(e.to_string()),
            _ => denied(),
        }
    })?;
    let needed = match cmd.service {
        Service::UploadPack | Service::UploadArchive => Right::Read,
        Service::ReceivePack => Right::Write,
    };
    let authorize_refs =
        policy_check(policy.as_ref(), &resolved.name, user, needed).map_err(|()| {
            tracing::warn!(repo = %resolved.name, user = user.unwrap_or("-"), "access denied");
            denied()
        })?;
    let location = resolved.location.to_str().ok_or_else(denied)?.to_string();
    // An access-file `namespace` rule, unless the access hook names one.
    let mut namespace = policy
        .as_ref()
        .and_then(|p| p.namespace(&resolved.name, user));
    if let Some(hook) = access_hook {
        let call = access_hook::HookCall {
            mode,
            service: Some(cmd.service),
            path: &location,
            host: "",
            user,
            env,
        };
        if let Some(ns) = access_hook::check(hook, &call).map_err(Error::Refused)? {
            namespace = Some(ns);
        }
    }
    let namespace = namespace.or_else(|| env.git_namespace());
    Ok(Request {
        mode,
        service: cmd.service,
        location,
        user: user.map(str::to_string),
        version: version_from_git_protocol(git_protocol),
        stateless_rpc: false,
        advertise_refs: false,
        timeout,
        limits: Limits::default(),
        authorize: authorize_refs,
        namespace,
        validate: None,
        after_push: None,
    })
}

/// The access policy's answer for `user` wanting `needed` on `repo` (a name relative to the
/// root): `Err(())` when refused, else the per-ref check a push runs (none without a policy).
/// Shared by every launch mode that has users (ssh, shell, http).
pub(crate) fn policy_check(
    policy: Option<&Arc<Policy>>,
    repo: &str,
    user: Option<&str>,
    needed: Right,
) -> Result<Option<RefAuthorizer>, ()> {
    let Some(p) = policy else { return Ok(None) };
    let granted = p.repo_right(repo, user);
    if granted.is_none_or(|g| g < needed) {
        return Err(());
    }
    let p = Arc::clone(p);
    let repo = repo.to_string();
    let user = user.map(str::to_string);
    Ok(Some(Arc::new(move |check: &RefCheck<'_>| {
        let refname = check.name;
        let right = match check.change {
            RefChange::Create | RefChange::FastForward => Right::Write,
            RefChange::Rewind | RefChange::Delete => Right::Force,
        };
        if p.allows_ref(&repo, user.as_deref(), refname, right) {
            Ok(())
        } else {
            Err(format!("access denied: {} needs {}", refname, right.mark()))
        }
    })))
}

/// The `info` listing: every repository under the root the user may read.
fn info(cfg: &SshConfig) -> String {
    let mut out = format!(
        "hello {}, this is sluice {}\n\n",
        cfg.user.as_deref().unwrap_or("anonymous"),
        env!("CARGO_PKG_VERSION")
    );
    if cfg.store.is_some() {
        // Deviation: a store's repositories are not listed (that would read every ref of
        // every repository from etcd); access is checked per request as always.
        out.push_str("(repositories are in the distributed backend and are not listed)\n");
        return out;
    }
    for name in resolve::list_repositories(&cfg.root, 4) {
        let right = match &cfg.policy {
            None => Some(Right::Force),
            Some(p) => p.repo_right(&name, cfg.user.as_deref()),
        };
        let marks = match right {
            None => continue,
            Some(Right::Read) => " R   ",
            Some(Right::Write) => " R W ",
            Some(Right::Force) => " R W+",
        };
        out.push_str(&format!("{marks}\t{name}\n"));
    }
    out
}
