//! `sluice http-backend`: a CGI program under a web server, a drop-in for `git http-backend`.
//! The web server authenticates (setting `REMOTE_USER`), runs us once per request with the
//! request in the environment and the body on stdin, and relays what we print on stdout: a CGI
//! header block, then the body. Nothing else writes to stdout; logs go to the log file, and
//! stderr reaches the web server's error log.
//!
//! ```text
//! environment ──cgi::parse──> CgiRequest (root, repo, route, version, user, body)
//!                               │ prepare: confine under root, open, export-ok, http.* config,
//!                               │          access file + hook, content type, declared length
//!                               ▼
//!           dumb route ──> dumb::serve (HEAD, info/refs, objects/...)
//!           smart route ─> launch::serve_opened (stateless-rpc upload-pack / receive-pack)
//!                          with the body framed, inflated and bounded (body::reader) and the
//!                          headers held back until the first byte (response::Deferred)
//! ```
//!
//! Every refusal is an HTTP status with a one-line text body; the reason a repository was not
//! found (missing, outside the root, not exported) is logged, never shown.

pub mod body;
pub mod cgi;
pub mod dumb;
pub mod response;
pub mod settings;

use settings::HttpSettings;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::backend_choice::Store;
use super::{access_hook, resolve, ssh, Error, Request};
use crate::access::{Policy, Right};
use crate::backend::fs::{FsBackend, FsRepository};
use crate::backend::Repository;
use crate::env::Env;
use crate::limits::Limits;
use crate::protocol::Version;
use crate::service::Service;
use cgi::{CgiRequest, Target};
use response::{Deferred, Headers, Reject, Status};

/// `GIT_HTTP_MAX_REQUEST_BUFFER`'s default in git: the largest fetch request body.
pub const DEFAULT_MAX_REQUEST_BUFFER: u64 = 10 << 20;

/// What a push body may carry besides its pack (commands, push options, shallow lines), when
/// the pack itself is limited: the declared length is refused above pack limit + this.
pub const PUSH_COMMANDS_ALLOWANCE: u64 = 4 << 20;

/// How the HTTP mode is configured (flags and the web server's environment).
#[derive(Debug, Clone, Default)]
pub struct HttpConfig {
    /// The access policy (users from `REMOTE_USER`, `anonymous` without one).
    pub policy: Option<Arc<Policy>>,
    /// The access hook, run after every other check.
    pub access_hook: Option<PathBuf>,
    /// Idle timeout.
    pub timeout: Option<Duration>,
    /// Request limits.
    pub limits: Limits,
    /// `GIT_HTTP_EXPORT_ALL`: serve repositories without `git-daemon-export-ok`.
    pub export_all: bool,
    /// `GIT_HTTP_MAX_REQUEST_BUFFER` (overrides `http.maxRequestBuffer`).
    pub max_request_buffer: Option<u64>,
    /// The process environment (the access hook's client address, `GIT_NAMESPACE`, the
    /// backend's reflog identity).
    pub env: Arc<Env>,
    /// The keyed store the repositories are in (`SLUICE_BACKEND_CONFIG`): `PATH_INFO`'s
    /// repository, confined, is the name; smart HTTP only, exported by `GIT_HTTP_EXPORT_ALL`.
    pub store: Option<Store>,
}

impl HttpConfig {
    /// Takes the environment half of the configuration from `env`, and keeps `env`.
    pub fn with_env(mut self, env: Arc<Env>) -> HttpConfig {
        self.export_all = env.get("GIT_HTTP_EXPORT_ALL").is_some();
        self.max_request_buffer = env
            .get("GIT_HTTP_MAX_REQUEST_BUFFER")
            .and_then(|v| crate::git_config::parse_int(&v))
            .and_then(|n| u64::try_from(n).ok());
        self.env = env;
        self
    }
}

/// An opened repository: on disk (every route), or from the keyed store (smart routes only:
/// it has no files for the dumb protocol).
enum Opened {
    Disk(Box<FsRepository>),
    Store(Box<dyn Repository>),
}

impl Opened {
    fn repo(&self) -> &dyn Repository {
        match self {
            Opened::Disk(r) => r.as_ref(),
            Opened::Store(r) => r.as_ref(),
        }
    }
}

/// A request that passed every check: what to run, and on which repository.
struct Prepared {
    repo: Opened,
    location: String,
    /// The smart service, with the per-ref push check (`None` for a dumb route).
    service: Option<(Service, Option<crate::service::receive_pack::RefAuthorizer>)>,
    /// Body limit in bytes (0: none).
    body_limit: u64,
    /// The ref namespace the access hook chose (`namespace=NAME`), if any.
    namespace: Option<String>,
}

/// Serves one CGI request described by `env`, reading the body from `input` and writing the
/// whole response to `output`. Refusals are answered (and logged) here and are not errors; an
/// `Err` is a failure after the response had started.
pub fn run<R: Read + 'static, W: Write + Send>(
    cfg: &HttpConfig,
    env: &cgi::CgiEnv,
    mut input: R,
    mut output: W,
) -> Result<(), Error> {
    let user = env.remote_user.clone().unwrap_or_default();
    let addr = env.remote_addr.clone().unwrap_or_default();
    // How the body came (for operators chasing a proxy that re-encodes or buffers bodies).
    let length = env.content_length.as_deref().filter(|l| !l.is_empty());
    let span = tracing::info_span!(
        "http",
        method = env.method.as_deref().unwrap_or("-"),
        user = %user,
        addr = %addr,
        length = length.unwrap_or("none"),
        encoding = env.content_encoding.as_deref().unwrap_or("none"),
    );
    let _entered = span.enter();
    let refused = |r: Reject, output: &mut W, input: &mut R| -> Result<(), Error> {
        drain_small_body(env, input);
        tracing::warn!(
            mode = "http",
            method = env.method.as_deref().unwrap_or("-"),
            path = env.path_info.as_deref().unwrap_or("-"),
            status = r.status.code(),
            outcome = %r.message,
            "request refused"
        );
        output.write_all(&r.to_response())?;
        output.flush()?;
        Ok(())
    };
    let req = match cgi::parse(env) {
        Ok(r) => r,
        Err(r) => return refused(r, &mut output, &mut input),
    };
    let prepared = match prepare(cfg, &req) {
        Ok(p) => p,
        Err(r) => return refused(r, &mut output, &mut input),
    };
    match &prepared.service {
        None => serve_dumb(&prepared, &req, output),
        Some((service, authorize)) => {
            let request = Request {
                mode: "http",
                service: *service,
                location: prepared.location.clone(),
                user: req.user.clone(),
                version: req.version,
                stateless_rpc: true,
                advertise_refs: matches!(req.target, Target::InfoRefs(_)),
                timeout: cfg.timeout,
                limits: cfg.limits.clone(),
                authorize: authorize.clone(),
                namespace: prepared
                    .namespace
                    .clone()
                    .or_else(|| cfg.env.git_namespace()),
                validate: None,
                after_push: None,
            };
            serve_smart(&request, &prepared, &req, input, output)
        }
    }
}

/// The most of a refused request's body read (and dropped) before answering.
const DRAIN_LIMIT: u64 = 64 << 10;

/// Reads and drops a small request body before a refusal: a CGI that exits while the web server
/// is still writing the body can make it answer 502 instead of our status (fcgiwrap does). A
/// body declared larger than [`DRAIN_LIMIT`] is left unread (that is the point of a 413).
fn drain_small_body<R: Read>(env: &cgi::CgiEnv, input: &mut R) {
    if env.method.as_deref() != Some("POST") {
        return;
    }
    let declared = env
        .content_length
        .as_deref()
        .and_then(|l| l.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT) {
        return;
    }
    let limit = declared.unwrap_or(DRAIN_LIMIT);
    let _ = std::io::copy(&mut input.take(limit), &mut std::io::sink());
}

/// `env` with the committer identity `git http-backend` gives a push's reflog entries when
/// none is set: `REMOTE_USER` (else `anonymous`) at `http.<REMOTE_ADDR>` (else
/// `(none)`).
fn committer_env(env: &Arc<Env>, req: &CgiRequest) -> Arc<Env> {
    let has = |name: &str| env.get(name).is_some();
    if has("GIT_COMMITTER_NAME") && has("GIT_COMMITTER_EMAIL") {
        return env.clone();
    }
    let user = req.user.as_deref().unwrap_or("anonymous");
    let host = req.addr.as_deref().unwrap_or("(none)");
    let mut out = Env::clone(env);
    if !has("GIT_COMMITTER_NAME") {
        out = out.with_var("GIT_COMMITTER_NAME", user);
    }
    if !has("GIT_COMMITTER_EMAIL") {
        out = out.with_var("GIT_COMMITTER_EMAIL", &format!("{user}@http.{host}"));
    }
    Arc::new(out)
}

/// Finds, opens and checks the repository, then applies the route's policy.
fn prepare(cfg: &HttpConfig, req: &CgiRequest) -> Result<Prepared, Reject> {
    let not_found = || Reject::new(Status::NotFound, "Repository not found");
    let store = cfg.store.as_ref().map(Store::backend);
    let repos = resolve::Repos {
        root: &req.root,
        store,
    };
    let resolved = repos.find(&req.repo).map_err(|e| {
        tracing::warn!(path = %req.repo, error = %e, "refused path");
        match e {
            resolve::Error::Path(_) => Reject::new(Status::BadRequest, "Invalid repository path"),
            resolve::Error::Store { .. } => Reject::new(Status::Internal, e.to_string()),
            _ => not_found(),
        }
    })?;
    let location = resolved
        .location
        .to_str()
        .ok_or_else(not_found)?
        .to_string();
    let open_failed = |e: crate::backend::Error| {
        tracing::warn!(path = %req.repo, error = %e, "not a git repository");
        // A format Sluice does not serve is said as such, not passed off as missing.
        match e {
            crate::backend::Error::UnsupportedFormat { .. } => {
                Reject::new(Status::Internal, e.to_string())
            }
            _ => not_found(),
        }
    };
    let repo = match store {
        None => Opened::Disk(Box::new(
            FsBackend {
                strict: false,
                env: committer_env(&cfg.env, req),
            }
            .open_fs(&location)
            .map_err(open_failed)?,
        )),
        Some(store) => Opened::Store(store.open(&location).map_err(open_failed)?),
    };
    // A store's repository has no directory for the marker: only GIT_HTTP_EXPORT_ALL exports.
    let export_ok = match &repo {
        Opened::Disk(r) => r.git_dir().join("git-daemon-export-ok").exists(),
        Opened::Store(_) => false,
    };
    if !cfg.export_all && !export_ok {
        tracing::warn!(path = %req.repo, "not exported (no git-daemon-export-ok)");
        return Err(not_found());
    }
    let service = match &req.target {
        Target::InfoRefs(Some(name)) => Some(cgi::select_service(name)?),
        Target::Rpc(s) => Some(*s),
        _ => None,
    };
    let settings = HttpSettings::from_config(repo.repo().config()).map_err(|e| {
        tracing::error!(path = %req.repo, error = %e, "invalid configuration");
        Reject::new(Status::Internal, e.to_string())
    })?;
    let Some(service) = service else {
        if !settings.get_any_file {
            return Err(Reject::new(
                Status::Forbidden,
                "Unsupported service: getanyfile",
            ));
        }
        if let Opened::Store(_) = repo {
            return Err(Reject::new(
                Status::NotFound,
                "The dumb protocol is not served from the distributed backend",
            ));
        }
        authorize(cfg, req, &resolved.name, &location, Service::UploadPack)?;
        return Ok(Prepared {
            repo,
            location,
            service: None,
            body_limit: 0,
            namespace: None,
        });
    };
    check_enabled(service, req, &settings)?;
    let (refs, namespace) = authorize(cfg, req, &resolved.name, &location, service)?;
    let body_limit = body_limit(cfg, &settings, service);
    if let Target::Rpc(_) = req.target {
        check_content_type(service, &req.content_type)?;
        body::check_declared(&req.body, body_limit)
            .map_err(|e| Reject::new(Status::PayloadTooLarge, e.to_string()))?;
    }
    Ok(Prepared {
        repo,
        location,
        service: Some((service, refs)),
        body_limit,
        namespace,
    })
}

/// `http.uploadpack` (default on) and `http.receivepack` (default: on for an authenticated
/// `REMOTE_USER` only), as http-backend's `select_service`.
fn check_enabled(
    service: Service,
    req: &CgiRequest,
    settings: &HttpSettings,
) -> Result<(), Reject> {
    if settings.enabled(service, req.user.is_some()) {
        Ok(())
    } else {
        let name = service.wire_name().trim_start_matches("git-");
        Err(Reject::new(
            Status::Forbidden,
            format!("Service not enabled: '{name}'"),
        ))
    }
}

/// The access file (read for fetches and dumb files, write for pushes) and the access hook;
/// returns the per-ref push check and the namespace the hook chose.
type Authorized = (
    Option<crate::service::receive_pack::RefAuthorizer>,
    Option<String>,
);

/// The access file (read for fetches and dumb files, write for pushes) and the access hook.
fn authorize(
    cfg: &HttpConfig,
    req: &CgiRequest,
    name: &str,
    location: &str,
    service: Service,
) -> Result<Authorized, Reject> {
    let needed = match service {
        Service::UploadPack | Service::UploadArchive => Right::Read,
        Service::ReceivePack => Right::Write,
    };
    let user = req.user.as_deref();
    let refs = ssh::policy_check(cfg.policy.as_ref(), name, user, needed).map_err(|()| {
        tracing::warn!(repo = %name, user = user.unwrap_or("-"), "access denied");
        Reject::new(Status::Forbidden, "Access denied")
    })?;
    // An access-file `namespace` rule, unless the access hook names one.
    let from_rule = cfg.policy.as_ref().and_then(|p| p.namespace(name, user));
    if let Some(hook) = &cfg.access_hook {
        let call = access_hook::HookCall {
            mode: "http",
            service: Some(service),
            path: location,
            host: "",
            user,
            env: &cfg.env,
        };
        let namespace =
            access_hook::check(hook, &call).map_err(|m| Reject::new(Status::Forbidden, m))?;
        return Ok((refs, namespace.or(from_rule)));
    }
    Ok((refs, from_rule))
}

/// The largest body accepted (0: none): the request buffer for fetches
/// (`GIT_HTTP_MAX_REQUEST_BUFFER`, `http.maxRequestBuffer`, 10 MiB), the pack limits plus
/// [`PUSH_COMMANDS_ALLOWANCE`] for pushes (`--max-pack-bytes`, `receive.maxInputSize`).
fn body_limit(cfg: &HttpConfig, settings: &HttpSettings, service: Service) -> u64 {
    match service {
        Service::UploadPack | Service::UploadArchive => cfg
            .max_request_buffer
            .or(settings.max_request_buffer)
            .unwrap_or(DEFAULT_MAX_REQUEST_BUFFER),
        Service::ReceivePack => {
            let limits = [
                Some(cfg.limits.max_pack_bytes).filter(|n| *n > 0),
                Some(settings.max_input_size).filter(|n| *n > 0),
            ];
            limits
                .into_iter()
                .flatten()
                .min()
                .map_or(0, |n| n.saturating_add(PUSH_COMMANDS_ALLOWANCE))
        }
    }
}

/// http-backend's `check_content_type`: a POST must say exactly what it carries.
fn check_content_type(service: Service, actual: &str) -> Result<(), Reject> {
    let expected = format!("application/x-{}-request", service.wire_name());
    if actual == expected {
        return Ok(());
    }
    Err(Reject::new(
        Status::UnsupportedMediaType,
        format!("Expected POST with Content-Type '{expected}', but received '{actual}' instead."),
    ))
}

/// Serves a dumb-protocol file.
fn serve_dumb<W: Write>(p: &Prepared, req: &CgiRequest, output: W) -> Result<(), Error> {
    let mut out = Deferred::new(output, Vec::new());
    let result = match &p.repo {
        Opened::Disk(repo) => dumb::serve(&mut out, repo, &req.target),
        Opened::Store(_) => Err(Reject::new(Status::NotFound, "not served")),
    };
    tracing::info!(
        mode = "http",
        repo = %p.location,
        target = ?req.target,
        outcome = match &result { Ok(()) => "ok".to_string(), Err(r) => r.to_string() },
        "request finished"
    );
    if let Err(r) = result {
        if !out.reject(&r)? {
            return Err(Error::Refused(r.message));
        }
    }
    out.finish()?;
    Ok(())
}

/// The header block (and, for a v0/v1 advertisement, http-backend's `# service=` preamble)
/// of a smart response.
fn smart_head(service: Service, advertise: bool, version: Version) -> Vec<u8> {
    let mut h = Headers::new(Status::Ok);
    h.nocache();
    let kind = if advertise { "advertisement" } else { "result" };
    h.add(
        "Content-Type",
        &format!("application/x-{}-{kind}", service.wire_name()),
    );
    let mut head = h.finish();
    if advertise && version != Version::V2 {
        let line = format!("# service={}\n", service.wire_name());
        head.extend_from_slice(format!("{:04x}{line}0000", line.len() + 4).as_bytes());
    }
    head
}

/// Runs the service; a failure before its first byte becomes an error status.
fn serve_smart<R: Read + 'static, W: Write + Send>(
    request: &Request,
    p: &Prepared,
    req: &CgiRequest,
    input: R,
    output: W,
) -> Result<(), Error> {
    let advertise = request.advertise_refs;
    let mut out = Deferred::new(
        output,
        smart_head(request.service, advertise, request.version),
    );
    let mut input: body::Body = if advertise {
        Box::new(std::io::empty())
    } else {
        body::reader(input, &req.body, p.body_limit)
    };
    match super::serve_opened(request, p.repo.repo(), &mut input, &mut out) {
        Ok(()) => Ok(out.finish()?),
        Err(e) => {
            // As for a refusal: let the web server finish writing a small body first.
            let _ = std::io::copy(&mut input.take(DRAIN_LIMIT), &mut std::io::sink());
            let reject = match body::BodyError::find(&e) {
                Some(b @ body::BodyError::TooLarge { .. }) => {
                    Reject::new(Status::PayloadTooLarge, b.to_string())
                }
                Some(b) => Reject::new(Status::BadRequest, b.to_string()),
                None => Reject::new(Status::BadRequest, format!("fatal: {e}")),
            };
            if out.reject(&reject)? {
                return Ok(());
            }
            Err(e)
        }
    }
}
