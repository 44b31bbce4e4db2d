//! receive-pack for protocol v0/v1: accepts pushes.
//!
//! Phases, in the order git's receive-pack runs them, each a module below:
//!
//! ```text
//! advertise → commands (+ push options) → unpack into quarantine, checking objects (fsck)
//!   → verify each command (policy, objects, fast-forward, connectivity) → hooks: pre-receive
//!   → update: make objects visible → hooks: update per ref → update: shallow file, ref
//!   transaction (CAS, atomic or per ref) → report → hooks: post-receive, post-update
//! ```
//!
//! Nothing a push sends becomes visible before the pack is complete, verified and durable and the
//! pre-receive hook accepted it; a rejected push leaves no objects behind (the quarantine is
//! dropped).

pub mod commands;
mod fsck;
mod hooks;
mod output;
mod policy;
pub mod proc_receive;
pub mod push_cert;
mod report;
mod shallow;
mod unpack;
mod update;
mod update_instead;
mod verify;

use std::collections::HashSet;
use std::io::{Read, Write};

use crate::backend::{self, Repository};
use crate::hash::ObjectId;
use crate::limits::Limits;
use crate::protocol::capabilities::{self, always, Row};
use crate::protocol::keepalive::Keepalive;
use crate::protocol::pktline::{self, Reader, Writer};
use crate::protocol::sideband::{Mode, SidebandWriter};
use crate::protocol::{v0, Version};
use crate::service::settings::ReceivePackSettings;

use crate::service::hooks::HookRunner;
use commands::{ReadError, Request};
use hooks::Hooks;
use output::ClientOutput;
use policy::Policy;
pub use policy::RefChange;
pub use report::RefResult;
use unpack::UnpackOptions;

/// Decides whether the pushing user may make `change` to the named ref; `Err(reason)` refuses
/// it with that `ng` reason. Launchers build it from the access file.
pub type RefAuthorizer = std::sync::Arc<dyn Fn(&RefCheck<'_>) -> Result<(), String> + Send + Sync>;

/// One ref update as the authorizer sees it.
pub struct RefCheck<'a> {
    /// The ref's full name.
    pub name: &'a str,
    /// What the update does.
    pub change: RefChange,
    /// Whether the commits the update adds (old..new) include a merge; computed only when
    /// asked, since it walks history (gitolite's `M` rules ask).
    pub has_merge: &'a dyn Fn() -> Result<bool, String>,
}

/// How this request runs.
#[derive(Clone, Default)]
pub struct Options {
    /// Protocol version (v2 is not defined for push: served as v0).
    pub version: Version,
    /// `--stateless-rpc`.
    pub stateless_rpc: bool,
    /// `--advertise-refs`.
    pub advertise_refs: bool,
    /// Request limits.
    pub limits: Limits,
    /// Per-ref access check (none: every ref may be changed, within repository policy).
    pub authorize: Option<RefAuthorizer>,
    /// Runs the repository's hooks (the launcher's process runner). `None` is only right for
    /// a repository without hooks: a push into one that has them is refused.
    pub hooks: Option<std::sync::Arc<dyn HookRunner>>,
    /// Whole-push check run once objects are verified and before any hook or ref update
    /// (gitolite's admin repository: the pushed configuration must load).
    pub validate: Option<PushValidator>,
}

/// Checks the updates that passed every per-ref check, reading the pushed objects through the
/// repository view; `Err(reason)` refuses all of them with that reason.
pub type PushValidator = std::sync::Arc<
    dyn Fn(&dyn Repository, &[(&str, ObjectId)]) -> Result<(), String> + Send + Sync,
>;

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("version", &self.version)
            .field("stateless_rpc", &self.stateless_rpc)
            .field("advertise_refs", &self.advertise_refs)
            .field("limits", &self.limits)
            .field("authorize", &self.authorize.is_some())
            .field("hooks", &self.hooks.is_some())
            .finish()
    }
}

/// Why receive-pack stopped before it could report per ref.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing pkt-lines failed.
    #[error(transparent)]
    PktLine(#[from] pktline::Error),
    /// The commands or push options were refused.
    #[error(transparent)]
    Request(#[from] ReadError),
    /// The repository could not answer.
    #[error(transparent)]
    Backend(#[from] backend::Error),
    /// The repository has hooks but no runner was given to run them.
    #[error("receive-pack: the repository has hooks but no hook runner was configured")]
    NoHookRunner,
    /// A hook could not be started or waited for.
    #[error("receive-pack: hook {name} could not run: {source}")]
    Hook {
        /// The hook.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    /// A `receive.*` setting has an invalid value.
    #[error(transparent)]
    Settings(#[from] crate::git_config::Error),
    /// Writing to the client failed.
    #[error("receive-pack: write failed: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The client is gone: nothing more can be said to it.
    fn is_disconnect(&self) -> bool {
        matches!(
            self,
            Error::Io(_)
                | Error::PktLine(pktline::Error::Io(_))
                | Error::Request(ReadError::PktLine(pktline::Error::Io(_)))
        )
    }
}

struct AdvertiseCtx {
    object_format: &'static str,
    atomic: bool,
    push_options: bool,
    /// The nonce of `push-cert=<nonce>` (`receive.certNonceSeed` is set).
    push_cert: Option<String>,
}

/// The receive-pack capability table (order as git advertises them).
static CAPABILITIES: &[Row<AdvertiseCtx>] = &[
    Row {
        name: "report-status",
        advertise: always,
    },
    Row {
        name: "report-status-v2",
        advertise: always,
    },
    Row {
        name: "delete-refs",
        advertise: always,
    },
    Row {
        name: "side-band-64k",
        advertise: always,
    },
    Row {
        name: "quiet",
        advertise: always,
    },
    Row {
        name: "atomic",
        advertise: |c| c.atomic.then_some(None),
    },
    Row {
        name: "ofs-delta",
        advertise: always,
    },
    Row {
        name: "push-cert",
        advertise: |c| c.push_cert.clone().map(Some),
    },
    Row {
        name: "push-options",
        advertise: |c| c.push_options.then_some(None),
    },
    Row {
        name: "object-format",
        advertise: |c| Some(Some(c.object_format.to_string())),
    },
    Row {
        name: "agent",
        advertise: |_| Some(Some(capabilities::agent())),
    },
];

/// Serves one receive-pack request on `input`/`output` for `repo`.
pub fn serve<R: Read, W: Write + Send>(
    repo: &dyn Repository,
    opts: &Options,
    input: R,
    output: W,
) -> Result<(), Error> {
    serve_recording(repo, opts, input, output, &mut Vec::new())
}

/// [`serve`], also filling `record` with each command's outcome once the ref transaction is
/// done (so it holds what changed even when the request fails afterwards, e.g. the client hung
/// up before reading the report).
pub fn serve_recording<R: Read, W: Write + Send>(
    repo: &dyn Repository,
    opts: &Options,
    input: R,
    output: W,
    record: &mut Vec<RefResult>,
) -> Result<(), Error> {
    let mut writer = Writer::new(output);
    let result = run(repo, opts, Reader::new(input), &mut writer, record);
    if let Err(e) = &result {
        if !e.is_disconnect() {
            let _ = writer.err(&e.to_string());
            let _ = writer.flush();
        }
    }
    result
}

fn run<R: Read, W: Write + Send>(
    repo: &dyn Repository,
    opts: &Options,
    mut reader: Reader<R>,
    writer: &mut Writer<W>,
    record: &mut Vec<RefResult>,
) -> Result<(), Error> {
    let settings = ReceivePackSettings::from_config(repo.config())?;
    let nonce_config = push_cert::NonceConfig::from_repo(repo);
    let ctx = AdvertiseCtx {
        object_format: repo.hash_kind().name(),
        atomic: settings.advertise_atomic,
        push_options: settings.advertise_push_options,
        push_cert: nonce_config.as_ref().map(|c| c.issue(repo.hash_kind())),
    };
    let advertised = capabilities::advertised(CAPABILITIES, &ctx);
    if !opts.stateless_rpc || opts.advertise_refs {
        advertise(repo, opts, &advertised, writer)?;
        if opts.advertise_refs {
            return Ok(());
        }
    }
    let Some(request) =
        commands::read_request(&mut reader, &opts.limits, &advertised, repo.hash_kind())?
    else {
        return Ok(());
    };
    let band_mode = match request.caps.has("side-band-64k") {
        true => Mode::SideBand64k,
        false => Mode::None,
    };
    let signing = Signing {
        config: nonce_config.as_ref(),
        issued: ctx.push_cert.as_deref(),
    };
    let policy = Policy::new(&settings, repo.is_bare());
    let input = reader.into_raw();
    let band = SidebandWriter::new(writer.get_mut(), band_mode);
    // Armed once the pack is read (see `unpack`): until then the client is the one talking.
    let (updates, band) = Keepalive::run(band, settings.keepalive, false, |keepalive| {
        let mut out = ClientOutput::new(keepalive, band_mode);
        apply(
            repo, opts, &policy, request, &signing, input, &mut out, record,
        )
    });
    let updates = updates?;
    output::finish(band)?;
    for u in &updates {
        match &u.error {
            None => {
                tracing::info!(refname = %u.cmd.name, old = %u.cmd.old, new = %u.cmd.new, "ref updated")
            }
            Some(e) => tracing::info!(refname = %u.cmd.name, reason = %e, "ref refused"),
        }
    }
    Ok(())
}

/// The phases after the commands, in order: unpack → verify → pre-receive → publish objects →
/// update hooks → shallow file → ref transaction → report → post hooks. Returns the commands
/// with their outcomes (also appended to `record` as soon as the refs are updated).
fn apply<R: Read, W: Write>(
    repo: &dyn Repository,
    opts: &Options,
    policy: &Policy,
    request: Request,
    signing: &Signing<'_>,
    input: R,
    out: &mut ClientOutput<W>,
    record: &mut Vec<RefResult>,
) -> Result<Vec<commands::Update>, Error> {
    let Request {
        mut updates,
        caps,
        client_shallow,
        push_options,
        push_cert,
    } = request;
    if push_cert
        .as_ref()
        .is_some_and(|c| !c.push_options_match(&push_options))
    {
        updates
            .iter_mut()
            .for_each(|u| u.refuse("inconsistent push options"));
    }
    let unpacked = unpack_and_verify(
        repo,
        opts,
        policy,
        &caps,
        &client_shallow,
        &mut updates,
        input,
        out,
    )?;
    let atomic = caps.has("atomic");
    let hook_runner = Hooks::new(repo, opts.hooks.as_deref());
    if atomic {
        update::fail_atomic(&mut updates);
    }
    // Marked before pre-receive, run after the objects are published (C git's order).
    let patterns = proc_receive::patterns(repo);
    let scheduled: Vec<usize> = (0..updates.len())
        .filter(|&i| {
            updates[i].error.is_none() && proc_receive::matches(&patterns, &updates[i].cmd)
        })
        .collect();
    let cert_env = push_cert.as_ref().map_or_else(Vec::new, |c| {
        push_cert::prepare(repo, c, signing.issued, opts.stateless_rpc, signing.config)
    });
    if unpacked.status.is_ok() && update::any_pending(&updates) {
        let mut env = hooks::environment(unpacked.quarantine.as_deref(), &push_options);
        env.extend(cert_env.iter().cloned());
        hooks::pre_receive(&hook_runner, &env, &mut updates, out)?;
    }
    update::publish(unpacked.quarantine, &mut updates);
    let env = hooks::environment(None, &push_options);
    let use_push_options = caps.has("push-options");
    let mut handled = proc_receive::execute(
        &hook_runner,
        repo.hash_kind(),
        &env,
        &scheduled,
        &mut updates,
        &push_options,
        atomic,
        use_push_options,
        out,
    )?;
    publish_hook_refs(repo, &mut handled, &mut updates, atomic)?;
    hooks::update_each(&hook_runner, &env, &mut updates, out)?;
    if atomic {
        update::fail_atomic(&mut updates);
    }
    if policy.update_instead {
        let head = repo.head()?.symref_target;
        update_instead::update_checked_out(
            repo,
            &hook_runner,
            head.as_deref(),
            &env,
            &mut updates,
            out,
        )?;
        if atomic {
            update::fail_atomic(&mut updates);
        }
    }
    if policy.shallow_update {
        update::record_shallow(repo, &client_shallow, &mut updates);
    }
    let pending = update::any_pending(&updates);
    update::apply_refs(repo, &mut updates, atomic);
    let failed = atomic && pending && !update::any_pending(&updates);
    let reports = handled.restore(&mut updates, failed);
    record.extend(report::results(&updates));
    if caps.has("report-status") || caps.has("report-status-v2") {
        let v2 = caps.has("report-status-v2");
        out.report(&report::report_status(
            &unpacked.status,
            &updates,
            &reports,
            v2,
        ))?;
    }
    let mut env = env;
    env.extend(cert_env);
    hooks::post(&hook_runner, &env, &updates, &reports, out)?;
    Ok(updates)
}

/// Publishes the refs the `proc-receive` hook wrote where it ran (a backend that ran it in a
/// copy moves them in its store); refs it could not publish refuse what the hook took (and,
/// `atomic`, everything).
fn publish_hook_refs(
    repo: &dyn Repository,
    handled: &mut proc_receive::Handled,
    updates: &mut [commands::Update],
    atomic: bool,
) -> Result<(), Error> {
    if handled.is_empty() {
        return Ok(());
    }
    let refused = repo.publish_hook_refs()?;
    if !refused.is_empty() {
        let why = format!("proc-receive's refs not published: {}", refused.join("; "));
        tracing::warn!(%why, "proc-receive");
        handled.refuse_all(&why);
        if atomic {
            updates
                .iter_mut()
                .for_each(|u| u.refuse("atomic push failure"));
        }
    }
    Ok(())
}

/// The unpack and verify phases: the ref-update limit, the pack received into a quarantine
/// (within the request's limits), then each command checked against the repository as it
/// would be with the new objects. A failed unpack refuses every command.
#[allow(clippy::too_many_arguments)]
fn unpack_and_verify<'r, R: Read, W: Write>(
    repo: &'r dyn Repository,
    opts: &Options,
    policy: &Policy,
    caps: &capabilities::Requested,
    client_shallow: &crate::hash::IdSet,
    updates: &mut Vec<commands::Update>,
    input: R,
    out: &mut ClientOutput<W>,
) -> Result<unpack::Unpacked<'r>, Error> {
    let max = opts.limits.max_ref_updates;
    let refused = (updates.len() > max).then(|| {
        updates.truncate(max);
        format!("too many ref updates (limit {max})")
    });
    let unpack_opts = UnpackOptions {
        limits: &policy.pack_limits(&opts.limits),
        quiet: caps.has("quiet"),
        needs_pack: updates.iter().any(|u| !u.cmd.is_delete()),
        refused,
    };
    let unpacked = unpack::unpack(repo, input, &unpack_opts, out);
    if unpacked.status.is_err() {
        updates.iter_mut().for_each(|u| u.refuse("unpacker error"));
    } else {
        let view = unpacked.quarantine.as_ref().map_or(repo, |q| q.view());
        let authorize = opts.authorize.as_ref();
        let self_contained = unpacked.self_contained.as_ref();
        verify::check_commands(
            repo,
            view,
            policy,
            authorize,
            self_contained,
            client_shallow,
            updates,
        )?;
        if let Some(validate) = &opts.validate {
            verify::validate_push(view, validate, updates, out);
        }
    }
    Ok(unpacked)
}

/// What a signed push is checked against: `receive.certNonceSeed`/`Slop` and the nonce this
/// request advertised (or would have, for a stateless request).
struct Signing<'a> {
    config: Option<&'a push_cert::NonceConfig>,
    issued: Option<&'a str>,
}

/// Sends the receive-pack advertisement: every ref (no HEAD, no peeled lines), alternates' tips
/// as `.have`, or `capabilities^{}` when there is nothing to show.
fn advertise<W: Write>(
    repo: &dyn Repository,
    opts: &Options,
    advertised: &[(&'static str, Option<String>)],
    writer: &mut Writer<W>,
) -> Result<(), Error> {
    if opts.version == Version::V1 {
        writer.text("version 1")?;
    }
    let caps = capabilities::to_v0_string(advertised);
    let mut entries: Vec<(ObjectId, String)> =
        repo.refs()?.into_iter().map(|r| (r.id, r.name)).collect();
    let mut seen = HashSet::new();
    for id in repo.alternate_tips()? {
        if seen.insert(id) {
            entries.push((id, ".have".into()));
        }
    }
    if entries.is_empty() {
        entries.push((repo.hash_kind().null(), "capabilities^{}".into()));
    }
    for (i, (id, name)) in entries.iter().enumerate() {
        writer.data(&v0::ref_line(id, name, (i == 0).then_some(caps.as_str())))?;
    }
    writer.flush_pkt()?;
    writer.flush()?;
    Ok(())
}
