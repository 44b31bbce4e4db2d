//! The git:// daemon protocol for inetd/xinetd/systemd socket activation: the first pkt-line
//! names the service, the path, the virtual host and extra parameters (`version=2`). Behaviour
//! follows `git daemon --inetd`: `--base-path` / `--interpolated-path`, `git-daemon-export-ok`
//! unless `--export-all`, push only with `--enable receive-pack` and `git archive --remote` only
//! with `--enable upload-archive` (each overridable per repository by `daemon.receivepack` /
//! `daemon.uploadarch` / `daemon.uploadpack`, as git daemon), every refusal answered with
//! `ERR access denied or repository not exported: <path>` (so a client cannot probe), and
//! nothing ever written to stderr (under inetd it may be the socket).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::backend_choice::Store;
use super::watchdog::{Activity, Touching};
use super::{daemon_request, resolve, Error, Request};
use crate::access::{Policy, Right};
use crate::backend::Backend;
use crate::env::Env;
use crate::limits::Limits;
use crate::protocol::pktline::{decode, Writer, MAX_LINE_LEN};
use crate::protocol::version_from_git_protocol;
use crate::service::Service;

/// How the daemon mode is configured.
#[derive(Debug, Clone, Default)]
pub struct InetdConfig {
    /// Requested paths are relative to this directory.
    pub base_path: Option<PathBuf>,
    /// `%H %CH %IP %P %D %%` template for the repository path (host-based virtual hosting).
    pub interpolated_path: Option<String>,
    /// Serve repositories without `git-daemon-export-ok`.
    pub export_all: bool,
    /// Accept pushes.
    pub enable_receive_pack: bool,
    /// Serve `git archive --remote` (git daemon's `--enable=upload-archive`).
    pub enable_upload_archive: bool,
    /// Idle timeout once the request line is read.
    pub timeout: Option<Duration>,
    /// Time allowed for the request line.
    pub init_timeout: Option<Duration>,
    /// Access policy (requests are anonymous: the `anonymous` user).
    pub policy: Option<Arc<Policy>>,
    /// The access hook (git daemon's `--access-hook`), run after every other check.
    pub access_hook: Option<PathBuf>,
    /// Request limits.
    pub limits: Limits,
    /// The process environment (`REMOTE_ADDR` for `%IP`, the access hook, `GIT_NAMESPACE`).
    pub env: Arc<Env>,
    /// The keyed store the repositories are in (`--backend-config`): the request's path,
    /// confined, is the name; without a marker file, only `--export-all` exports them.
    pub store: Option<Store>,
}

/// Reads exactly one pkt-line from `input` (no read-ahead: what follows belongs to the service).
fn read_request_line(input: &mut dyn Read) -> Result<Vec<u8>, Error> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let n = decode::length(len).map_err(|e| Error::Refused(e.to_string()))?;
    if !(5..=MAX_LINE_LEN).contains(&n) {
        return Err(Error::Refused("bad request line length".into()));
    }
    let mut payload = vec![0u8; n - 4];
    input.read_exact(&mut payload)?;
    Ok(payload)
}

/// Expands `template` for a request (git daemon's `--interpolated-path`).
fn interpolate(template: &str, req: &daemon_request::DaemonRequest, env: &Env) -> String {
    let host = req.host.clone().unwrap_or_default();
    let ip = env.get("REMOTE_ADDR").unwrap_or_default();
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('H') => out.push_str(&host),
            Some('C') if chars.peek() == Some(&'H') => {
                chars.next();
                out.push_str(&host);
            }
            Some('I') if chars.peek() == Some(&'P') => {
                chars.next();
                out.push_str(&ip);
            }
            Some('P') => out.push_str(&req.port.map(|p| p.to_string()).unwrap_or_default()),
            Some('D') => out.push_str(&req.path),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Where the request's repository is, or why not (the reason is logged, never shown).
fn locate(
    cfg: &InetdConfig,
    req: &daemon_request::DaemonRequest,
) -> Result<resolve::Resolved, String> {
    let (root, path) = match (&cfg.interpolated_path, &cfg.base_path) {
        (Some(t), base) => (
            base.clone().unwrap_or_else(|| PathBuf::from("/")),
            interpolate(t, req, &cfg.env),
        ),
        (None, Some(base)) => {
            if !req.path.starts_with('/') {
                return Err("base-path requires an absolute request path".into());
            }
            (base.clone(), req.path.clone())
        }
        (None, None) => (PathBuf::from("/"), req.path.clone()),
    };
    let repos = resolve::Repos {
        root: &root,
        store: cfg.store.as_ref().map(Store::backend),
    };
    let resolved = repos.find(&path).map_err(|e| e.to_string())?;
    if cfg.export_all {
        return Ok(resolved);
    }
    if cfg.store.is_some() {
        // A store's repository has no directory to hold git-daemon-export-ok.
        return Err("not exported: the distributed backend serves git:// with --export-all".into());
    }
    if !export_ok(&resolved.location) {
        return Err("no git-daemon-export-ok".into());
    }
    Ok(resolved)
}

/// Whether `service` may run for the repository at `location`: the command line's default
/// (upload-pack on, the others only with `--enable`), overridden by the repository's
/// `daemon.<name>` boolean as git daemon does (its services are overridable by default).
fn service_enabled(
    cfg: &InetdConfig,
    service: Service,
    backend: &dyn Backend,
    location: &Path,
) -> bool {
    let (key, default) = match service {
        Service::UploadPack => ("daemon.uploadpack", true),
        Service::ReceivePack => ("daemon.receivepack", cfg.enable_receive_pack),
        Service::UploadArchive => ("daemon.uploadarch", cfg.enable_upload_archive),
    };
    let Some(location) = location.to_str() else {
        return false;
    };
    let configured = backend
        .open(location)
        .ok()
        .and_then(|repo| repo.config().get_bool(key).ok().flatten());
    configured.unwrap_or(default)
}

fn export_ok(location: &Path) -> bool {
    location.join("git-daemon-export-ok").exists()
        || location.join(".git/git-daemon-export-ok").exists()
}

/// Serves one git:// connection on `input`/`output`.
pub fn run<R: Read, W: Write + Send>(
    cfg: &InetdConfig,
    backend: &dyn Backend,
    input: R,
    mut output: W,
) -> Result<(), Error> {
    let activity = Activity::new();
    activity.set_limit(cfg.init_timeout.or(cfg.timeout));
    let mut input = Touching::reader(input, activity.clone());
    let refuse = |output: &mut W, shown: &str, why: String| -> Error {
        let mut w = Writer::new(&mut *output);
        let _ = w.err(&format!(
            "access denied or repository not exported: {shown}"
        ));
        let _ = w.flush();
        tracing::warn!(path = shown, reason = %why, "git:// request refused");
        Error::Refused(why)
    };
    let line = read_request_line(&mut input)?;
    let req = match daemon_request::parse(&line) {
        Ok(r) => r,
        Err(e) => return Err(refuse(&mut output, "", e.to_string())),
    };
    let resolved = match locate(cfg, &req) {
        Ok(r) => r,
        Err(why) => return Err(refuse(&mut output, &req.path, why)),
    };
    if !service_enabled(cfg, req.service, backend, &resolved.location) {
        let why = format!("{} is not enabled", req.service.wire_name());
        return Err(refuse(&mut output, &req.path, why));
    }
    if let Some(p) = &cfg.policy {
        let needed = if req.service == Service::ReceivePack {
            Right::Write
        } else {
            Right::Read
        };
        if p.repo_right(&resolved.name, None)
            .is_none_or(|g| g < needed)
        {
            return Err(refuse(&mut output, &req.path, "access policy".into()));
        }
    }
    let Some(location) = resolved.location.to_str().map(str::to_string) else {
        return Err(refuse(&mut output, &req.path, "path is not UTF-8".into()));
    };
    // An access-file `namespace` rule for `anonymous`, unless the access hook names one.
    let mut namespace = cfg
        .policy
        .as_ref()
        .and_then(|p| p.namespace(&resolved.name, None));
    if let Some(hook) = &cfg.access_hook {
        let call = super::access_hook::HookCall {
            mode: "inetd",
            service: Some(req.service),
            path: &location,
            host: req.host.as_deref().unwrap_or(""),
            user: None,
            env: &cfg.env,
        };
        match super::access_hook::check(hook, &call) {
            Ok(Some(chosen)) => namespace = Some(chosen),
            Ok(None) => {}
            Err(message) => {
                // As git daemon: the hook's message is the answer.
                let mut w = Writer::new(&mut output);
                let _ = w.err(&message);
                let _ = w.flush();
                return Err(Error::Refused(message));
            }
        }
    }
    let namespace = namespace.or_else(|| cfg.env.git_namespace());
    let request = Request {
        mode: "inetd",
        service: req.service,
        location,
        user: None,
        version: version_from_git_protocol(req.git_protocol().as_deref()),
        stateless_rpc: false,
        advertise_refs: false,
        timeout: cfg.timeout,
        limits: cfg.limits.clone(),
        authorize: None,
        namespace,
        validate: None,
        after_push: None,
    };
    super::serve_with(&request, backend, input.into_inner(), output, &activity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation() {
        let req =
            daemon_request::parse(b"git-upload-pack /r.git\0host=Example.com:1234\0").unwrap();
        assert_eq!(
            interpolate("/srv/%H/%D%%%P", &req, &Env::default()),
            "/srv/example.com//r.git%1234"
        );
    }
}
