//! `sluice ssh --gitolite DIR`: serving a gitolite site as gitolite-shell does. The user comes
//! from the authorized_keys line; `SSH_ORIGINAL_COMMAND` is a git command, `info`, or
//! `create NAME`. Access is gitolite's check #1 before the service runs and check #2 per
//! pushed ref; a missing wild repository the user may create (`C`) is created on first use
//! with its creator recorded; a push to `gitolite-admin` is validated before refs move and
//! applied (admin directory, new repositories, `authorized_keys`) after.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::ssh::Action;
use super::{command, Error, Request};
use crate::access::gitolite::admin::{self, ADMIN_REPO};
use crate::access::gitolite::names::{check_repo, is_repo_name};
use crate::access::gitolite::{keys, Decision, RepoState, Site};
use crate::limits::Limits;
use crate::protocol::version_from_git_protocol;
use crate::service::receive_pack::{PushValidator, RefAuthorizer, RefChange, RefCheck};
use crate::service::Service;

/// How the gitolite mode is configured.
#[derive(Debug, Clone)]
pub struct GitoliteConfig {
    /// The admin directory (gitolite's `~/.gitolite`: `conf/`, `keydir/`).
    pub admin: PathBuf,
    /// The repository root (gitolite's `~/repositories`).
    pub root: PathBuf,
    /// The authenticated user.
    pub user: String,
    /// Idle timeout.
    pub timeout: Option<Duration>,
    /// The `authorized_keys` file an admin push resyncs (none: keys are not synced).
    pub authorized_keys: Option<PathBuf>,
    /// The forced command written into authorized_keys before `--user NAME`.
    pub key_command: String,
    /// The host name `info` shows.
    pub host: String,
    /// The process environment (`GIT_NAMESPACE`, the backend's reflog identity).
    pub env: Arc<crate::env::Env>,
}

/// Decides what to do for `original_command` under `cfg`.
pub fn action(
    cfg: &GitoliteConfig,
    original_command: Option<&str>,
    git_protocol: Option<&str>,
) -> Result<Action, Error> {
    let site = Site::load(&cfg.admin, &cfg.root).map_err(|e| {
        tracing::error!(error = %e, "gitolite configuration unusable");
        Error::Refused(format!("gitolite configuration: {e}"))
    })?;
    let cmd = original_command.map(str::trim).unwrap_or("");
    let cmd = if cmd.is_empty() { "info" } else { cmd };
    if cmd == "info" {
        return Ok(Action::Print(site.info(&cfg.user, &cfg.host), 0));
    }
    if let Some(name) = cmd.strip_prefix("create ") {
        create(&site, &cfg.user, name.trim()).map_err(Error::Refused)?;
        return Ok(Action::Print(String::new(), 0));
    }
    let parsed = command::parse(cmd).map_err(|e| Error::Refused(e.to_string()))?;
    let repo = repo_name(&parsed.path).map_err(Error::Refused)?;
    let aa = match parsed.service {
        Service::UploadPack | Service::UploadArchive => "R",
        Service::ReceivePack => "W",
    };
    let state = site.state();
    if !state.exists(&repo)
        && site
            .conf
            .access(&state, &repo, &cfg.user, "^C", "any")
            .allowed()
    {
        create(&site, &cfg.user, &repo).map_err(Error::Refused)?;
    }
    if let Decision::Denied(why) = site.conf.access(&site.state(), &repo, &cfg.user, aa, "any") {
        tracing::warn!(repo, user = %cfg.user, %why, "gitolite: access denied");
        return Err(Error::Refused(format!(
            "{why}\n(or you mis-spelled the reponame)"
        )));
    }
    let location = site.repo_dir(&repo);
    let location = location
        .to_str()
        .ok_or_else(|| Error::Refused("bad path".into()))?
        .to_string();
    let site = Arc::new(site);
    let is_admin = repo == ADMIN_REPO;
    Ok(Action::Serve(Request {
        mode: "ssh",
        service: parsed.service,
        location,
        user: Some(cfg.user.clone()),
        version: version_from_git_protocol(git_protocol),
        stateless_rpc: false,
        advertise_refs: false,
        timeout: cfg.timeout,
        limits: Limits::default(),
        authorize: Some(authorizer(
            Arc::clone(&site),
            repo.clone(),
            cfg.user.clone(),
        )),
        validate: is_admin.then(admin_validator),
        after_push: is_admin.then(|| after_admin_push(cfg.clone())),
        namespace: cfg.env.git_namespace(),
    }))
}

/// gitolite-shell's clean-up of the path: leading `/`, trailing `/` and `.git` removed.
fn repo_name(path: &str) -> Result<String, String> {
    let name = path.trim_start_matches('/');
    let name = name.strip_suffix('/').unwrap_or(name);
    let name = name.strip_suffix(".git").unwrap_or(name);
    if !is_repo_name(name) {
        return Err(format!("invalid repo name: '{name}'"));
    }
    check_repo(name)?;
    Ok(name.to_string())
}

/// `create NAME` and auto-creation: gitolite's `^C` check, then a bare repository with
/// `gl-creator`.
fn create(site: &Site, user: &str, name: &str) -> Result<(), String> {
    let name = repo_name(name)?;
    if !site
        .conf
        .access(&site.state(), &name, user, "^C", "any")
        .allowed()
    {
        return Err("repo already exists or you are not authorised to create it".into());
    }
    let dir = site.repo_dir(&name);
    crate::backend::fs::init::init(&dir, true, "master", crate::hash::HashKind::Sha1)
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("gl-creator"), format!("{user}\n")).map_err(|e| e.to_string())?;
    site.apply_config(&name).map_err(|e| e.to_string())?;
    tracing::info!(repo = %name, user, "gitolite: created wild repository");
    Ok(())
}

/// Check #2 per ref, with the operation gitolite's update hook derives: `W`, `+` (rewind,
/// delete, or any change to an existing tag), `C`/`D` when the repository's rules use those
/// qualifiers, and `M` appended when they use `M` and the update brings a merge.
fn authorizer(site: Arc<Site>, repo: String, user: String) -> RefAuthorizer {
    Arc::new(move |check: &RefCheck<'_>| {
        let state = site.state();
        let on = |o: &str| site.conf.option(&state, &repo, &user, o).is_some();
        let mut aa = match check.change {
            RefChange::Create if on("CREATE_IS_C") => "C",
            RefChange::Delete if on("DELETE_IS_D") => "D",
            RefChange::Create => "W",
            RefChange::FastForward if check.name.starts_with("refs/tags/") => "+",
            RefChange::FastForward => "W",
            RefChange::Rewind | RefChange::Delete => "+",
        }
        .to_string();
        let create_or_delete = matches!(check.change, RefChange::Create | RefChange::Delete);
        if on("MERGE_CHECK") && !create_or_delete && (check.has_merge)()? {
            aa.push('M');
        }
        match site.conf.access(&state, &repo, &user, &aa, check.name) {
            Decision::Allowed(_) => Ok(()),
            Decision::Denied(why) => Err(why),
        }
    })
}

/// The admin repository's pushed branch must hold a configuration that loads and keys that
/// parse.
fn admin_validator() -> PushValidator {
    Arc::new(|view, updates| {
        for (name, new) in updates {
            if *name != "refs/heads/master" || new.is_null() {
                continue;
            }
            let files = admin::read_commit(view, new)?;
            admin::validate(&files).map_err(|e| format!("gitolite-admin: {e}"))?;
        }
        Ok(())
    })
}

/// After an admin push: write the new tree to the admin directory, create the repositories it
/// names, and resync keys.
fn after_admin_push(cfg: GitoliteConfig) -> super::AfterPush {
    Arc::new(move |pushed| {
        let Some(r) = pushed
            .iter()
            .find(|r| r.error.is_none() && r.name == "refs/heads/master")
        else {
            return Ok(());
        };
        let backend = crate::backend::fs::FsBackend {
            strict: false,
            env: cfg.env.clone(),
        };
        let dir = cfg.root.join(format!("{ADMIN_REPO}.git"));
        let repo = crate::backend::Backend::open(&backend, &dir.to_string_lossy())
            .map_err(|e| e.to_string())?;
        let files = admin::read_commit(repo.as_ref(), &r.new)?;
        apply(&cfg, &files).map_err(|e| e.to_string())
    })
}

/// What gitolite's `compile` and post-compile triggers do with a validated admin tree.
pub fn apply(
    cfg: &GitoliteConfig,
    files: &crate::access::gitolite::Files,
) -> Result<(), crate::access::gitolite::Error> {
    admin::write_admin_dir(&cfg.admin, files)?;
    let site = Site::load(&cfg.admin, &cfg.root)?;
    for repo in site.named_repos() {
        let dir = site.repo_dir(&repo);
        if !dir.exists() {
            crate::backend::fs::init::init(&dir, true, "master", crate::hash::HashKind::Sha1)
                .map_err(|e| {
                    crate::access::gitolite::Error::Key(format!("creating {repo}: {e}"))
                })?;
            tracing::info!(repo, "gitolite: created repository named in the conf");
        }
    }
    for repo in site.physical_repos() {
        site.apply_config(&repo)?;
    }
    if let Some(ak) = &cfg.authorized_keys {
        let n = keys::sync(ak, files, &cfg.key_command)?;
        tracing::info!(keys = n, file = %ak.display(), "gitolite: authorized_keys synced");
    }
    Ok(())
}
