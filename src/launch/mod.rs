//! Launch modes: each turns one incoming request into a [`Request`] (service, repository, user,
//! protocol) and hands it to [`serve`], which opens the repository and runs the service.
//!
//! - [`direct`]: `sluice upload-pack DIR`, `ext::`, `--upload-pack=`, smart-HTTP helpers;
//! - [`ssh`]: sshd `ForceCommand` / authorized_keys `command=`, from `SSH_ORIGINAL_COMMAND`;
//! - [`shell`]: a git-shell compatible login shell (`sluice shell -c CMD`);
//! - [`inetd`]: the git:// daemon protocol on stdin/stdout;
//! - [`http`]: `sluice http-backend`, a CGI under a web server (git http-backend's contract).

pub mod access_hook;
pub mod backend_choice;
pub mod command;
mod conversation;
pub mod daemon_request;
pub mod direct;
pub mod dist_admin;
pub mod gitolite;
pub mod http;
pub mod inetd;
pub mod resolve;
pub mod runner;
pub mod shell;
pub mod sq;
pub mod ssh;
pub mod watchdog;

use std::io::{BufWriter, Read, Write};
use std::time::Duration;

use crate::backend::{Backend, Repository};
use crate::limits::Limits;
use crate::protocol::Version;
use crate::service::refs_view::{Namespace, RefsView, Side};
use crate::service::{receive_pack, upload_archive, upload_pack, Service};
use watchdog::{Activity, Touching};

/// One request, whatever launched it.
#[derive(Clone)]
pub struct Request {
    /// The launch mode, for logs (`direct`, `ssh`, `shell`, `inetd`).
    pub mode: &'static str,
    /// Which service.
    pub service: Service,
    /// The repository location for the backend (already confined and checked by the launcher).
    pub location: String,
    /// The authenticated user, if any (for logs and per-ref checks).
    pub user: Option<String>,
    /// The protocol version the client asked for.
    pub version: Version,
    /// `--stateless-rpc`.
    pub stateless_rpc: bool,
    /// `--advertise-refs`.
    pub advertise_refs: bool,
    /// Idle timeout.
    pub timeout: Option<Duration>,
    /// Limits.
    pub limits: Limits,
    /// Per-ref push check from the access policy (none: repository policy only).
    pub authorize: Option<receive_pack::RefAuthorizer>,
    /// Whole-push check before refs move (the gitolite admin repository's configuration).
    pub validate: Option<receive_pack::PushValidator>,
    /// Run after a push that updated at least one ref (gitolite: apply the admin repository).
    pub after_push: Option<AfterPush>,
    /// The ref namespace: the one the access file or hook chose, else the process
    /// environment's `GIT_NAMESPACE`, as C git reads it (filled in where the request is built).
    pub namespace: Option<String>,
}

/// What runs after a successful push, with the updated refs; its error is told to the pusher.
pub type AfterPush =
    std::sync::Arc<dyn Fn(&[receive_pack::RefResult]) -> Result<(), String> + Send + Sync>;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository could not be opened.
    #[error("'{location}' does not appear to be a git repository: {source}")]
    Open {
        /// Where.
        location: String,
        /// Why.
        source: crate::backend::Error,
    },
    /// upload-pack failed.
    #[error(transparent)]
    UploadPack(#[from] upload_pack::Error),
    /// receive-pack failed.
    #[error(transparent)]
    ReceivePack(#[from] receive_pack::Error),
    /// upload-archive failed (the client was told on band 2 and 3).
    #[error(transparent)]
    UploadArchive(#[from] upload_archive::Error),
    /// Not available in this build yet.
    #[error("{0} is not supported by this build")]
    Unsupported(&'static str),
    /// The launcher refused the request (bad command, access denied, ...).
    #[error("{0}")]
    Refused(String),
    /// Reading the launch request failed.
    #[error("reading the request: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Whether the client was already told, on the wire, why the request failed (an `ERR`
    /// line), so the launcher need not print the same on stderr.
    pub fn told_client(&self) -> bool {
        matches!(
            self,
            Error::Open {
                source: crate::backend::Error::UnsupportedFormat { .. },
                ..
            } | Error::UploadArchive(
                upload_archive::Error::Usage(_) | upload_archive::Error::TooLarge(_)
            )
        )
    }
}

/// Opens `req.location` in `backend` and runs the service on `input`/`output`.
pub fn serve<R: Read, W: Write + Send>(
    req: &Request,
    backend: &dyn Backend,
    input: R,
    output: W,
) -> Result<(), Error> {
    serve_with(req, backend, input, output, &Activity::new())
}

/// [`serve`] with a caller-provided [`Activity`] (inetd mode already counted the request line).
pub fn serve_with<R: Read, W: Write + Send>(
    req: &Request,
    backend: &dyn Backend,
    input: R,
    output: W,
    activity: &Activity,
) -> Result<(), Error> {
    logged(req, activity, |pushed| {
        let repo = match backend.open(&req.location) {
            Ok(repo) => repo,
            Err(source) => {
                // A repository in a format we do not understand gets one clear line on the
                // wire (the client prints "remote error: ..."), not an advertisement of nothing.
                if matches!(source, crate::backend::Error::UnsupportedFormat { .. }) {
                    let mut w = crate::protocol::pktline::Writer::new(output);
                    let _ = w.err(&source.to_string());
                    let _ = w.flush();
                }
                return Err(Error::Open {
                    location: req.location.clone(),
                    source,
                });
            }
        };
        serve_inner(req, repo.as_ref(), input, output, activity, pushed)?;
        run_after_push(req, pushed)
    })
}

/// Runs the request's after-push step when the push updated something.
fn run_after_push(req: &Request, pushed: &[receive_pack::RefResult]) -> Result<(), Error> {
    match &req.after_push {
        Some(after) if pushed.iter().any(|r| r.error.is_none()) => {
            after(pushed).map_err(Error::Refused)
        }
        _ => Ok(()),
    }
}

/// [`serve`] for a repository the launcher opened already (the HTTP mode reads its config to
/// decide whether the service is enabled before answering anything).
pub fn serve_opened<R: Read, W: Write + Send>(
    req: &Request,
    repo: &dyn Repository,
    input: R,
    output: W,
) -> Result<(), Error> {
    let activity = Activity::new();
    logged(req, &activity, |pushed| {
        serve_inner(req, repo, input, output, &activity, pushed)
    })
}

/// Runs `f` (which records the refs a push updated) and writes the request's log line.
fn logged(
    req: &Request,
    activity: &Activity,
    f: impl FnOnce(&mut Vec<receive_pack::RefResult>) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut pushed = Vec::new();
    let result = f(&mut pushed);
    let (bytes_in, bytes_out) = activity.bytes();
    let (refs, refs_rejected) = push_summary(req.service, &pushed);
    let trips = store_round_trips();
    tracing::info!(
        mode = req.mode,
        user = req.user.as_deref().unwrap_or("-"),
        service = req.service.wire_name(),
        repo = %req.location,
        version = ?req.version,
        bytes_in,
        bytes_out,
        duration_ms = activity.elapsed().as_millis() as u64,
        peak_rss_kib = crate::logging::peak_rss_kib(),
        refs,
        refs_rejected,
        etcd_round_trips = trips.map(|t| t.0),
        etcd_ms = trips.map(|t| t.1),
        s3_round_trips = trips.map(|t| t.2),
        s3_ms = trips.map(|t| t.3),
        outcome = match &result {
            Ok(()) => "ok".to_string(),
            Err(e) => e.to_string(),
        },
        "request finished"
    );
    result
}

/// The distributed backend's store round trips of this request (one request per process):
/// (etcd count, etcd ms, S3 count, S3 ms), so an operator sees where a slow request waited;
/// `None` when the request made none (the on-disk backend).
fn store_round_trips() -> Option<(u64, u64, u64, u64)> {
    #[cfg(feature = "distributed")]
    {
        let t = crate::backend::distributed::stats::totals();
        (t.0 + t.2 > 0).then_some(t)
    }
    #[cfg(not(feature = "distributed"))]
    None
}

/// The push fields of the request record (none for upload-pack): `refs`, the updated refs as
/// space-separated `NAME:OLD:NEW` (ref names contain neither `:` nor spaces, so a log shipper can
/// split them), and `refs_rejected`, how many commands were refused.
fn push_summary(
    service: Service,
    pushed: &[receive_pack::RefResult],
) -> (Option<String>, Option<u64>) {
    if service != Service::ReceivePack {
        return (None, None);
    }
    let updated: Vec<String> = pushed
        .iter()
        .filter(|r| r.error.is_none())
        .map(|r| format!("{}:{}:{}", r.name, r.old, r.new))
        .collect();
    let rejected = pushed.iter().filter(|r| r.error.is_some()).count();
    (Some(updated.join(" ")), Some(rejected as u64))
}

/// Serves the request on `repo`, seen through its namespace and hidden-ref rules.
fn serve_inner<R: Read, W: Write + Send>(
    req: &Request,
    repo: &dyn Repository,
    input: R,
    output: W,
    activity: &Activity,
    pushed: &mut Vec<receive_pack::RefResult>,
) -> Result<(), Error> {
    let namespace = req.namespace.clone().unwrap_or_default();
    let namespace = Namespace::parse(&namespace).map_err(|e| Error::Refused(e.to_string()))?;
    let side = match req.service {
        Service::UploadPack | Service::UploadArchive => Side::Upload,
        Service::ReceivePack => Side::Receive,
    };
    let view = RefsView::new(repo, namespace, side);
    let repo = &view;
    activity.set_limit(req.timeout);
    activity.set_deadline(req.limits.max_duration);
    let input = Touching::reader(input, activity.clone());
    // Buffer first, then count: activity is what reaches the client, and the clock is read
    // once per 64 KiB rather than once per pkt-line (10,000 refs advertised = 10,000 writes).
    let mut output =
        BufWriter::with_capacity(64 * 1024, Touching::writer(output, activity.clone()));
    let result = match req.service {
        Service::UploadPack => {
            let opts = upload_pack::Options {
                version: req.version,
                stateless_rpc: req.stateless_rpc,
                advertise_refs: req.advertise_refs,
                limits: req.limits.clone(),
            };
            upload_pack::serve(repo, &opts, input, &mut output).map_err(Error::from)
        }
        Service::ReceivePack => {
            // receive-pack has no v2: a client asking for it gets v0 (v1 stays v1).
            let version = if req.version == Version::V1 {
                Version::V1
            } else {
                Version::V0
            };
            let opts = receive_pack::Options {
                version,
                stateless_rpc: req.stateless_rpc,
                advertise_refs: req.advertise_refs,
                limits: req.limits.clone(),
                authorize: req.authorize.clone(),
                hooks: Some(std::sync::Arc::new(runner::ProcessRunner::hooks(
                    req.limits.max_hook_duration,
                ))),
                validate: req.validate.clone(),
            };
            receive_pack::serve_recording(repo, &opts, input, &mut output, pushed)
                .map_err(Error::from)
        }
        Service::UploadArchive => {
            let opts = upload_archive::Options {
                limits: req.limits.clone(),
            };
            upload_archive::serve(repo, &opts, input, &mut output).map_err(Error::from)
        }
    };
    let _ = output.flush();
    result
}
