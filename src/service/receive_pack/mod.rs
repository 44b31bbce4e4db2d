//! receive-pack for protocol v0/v1: accepts pushes.
//!
//! Phases, in the order git's receive-pack runs them, each a method below:
//!
//! ```text
//! advertise → read commands (+ push options) → unpack into quarantine → check objects (fsck)
//!   → check each command (ref name, policy, fast-forward, connectivity) → pre-receive hook
//!   → make objects visible → update hook per ref → ref transaction (CAS, atomic or per ref)
//!   → report-status → post-receive, post-update hooks
//! ```
//!
//! Nothing a push sends becomes visible before the pack is complete, verified and durable and the
//! pre-receive hook accepted it; a rejected push leaves no objects behind (the quarantine is
//! dropped).

pub mod commands;
mod fsck;
mod shallow;

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::sync::Mutex;

use crate::backend::{self, Quarantine, RefUpdate, Repository};
use crate::config::Limits;
use crate::hash::{IdSet, ObjectId};
use crate::odb::Kind;
use crate::protocol::capabilities::{self, always, Requested, Row};
use crate::protocol::pktline::{self, PacketLineRef, Reader, Writer};
use crate::protocol::sideband::{Channel, Mode, SidebandWriter};
use crate::protocol::{v0, Version};
use crate::service::progress::ProgressLines;
use crate::walk::{self, WalkOptions};

use commands::Command;

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
            .finish()
    }
}

/// Why receive-pack stopped before it could report per ref.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing pkt-lines failed.
    #[error(transparent)]
    PktLine(#[from] pktline::Error),
    /// A command line was malformed.
    #[error(transparent)]
    Command(#[from] commands::Error),
    /// A capability problem.
    #[error(transparent)]
    Capability(#[from] capabilities::Error),
    /// The repository could not answer.
    #[error(transparent)]
    Backend(#[from] backend::Error),
    /// Something other than a command, push option or flush arrived.
    #[error(transparent)]
    Line(#[from] v0::Error),
    /// A limit from [`Limits`] was hit.
    #[error("receive-pack: too many {what} (limit {limit})")]
    Limit {
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The client went away mid-request.
    #[error("receive-pack: unexpected end of input while {0}")]
    UnexpectedEof(&'static str),
    /// Writing to the client failed.
    #[error("receive-pack: write failed: {0}")]
    Io(#[from] std::io::Error),
}

struct AdvertiseCtx {
    object_format: &'static str,
    atomic: bool,
    push_options: bool,
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

/// Per-command state: the request and, once refused, why.
struct Update {
    cmd: Command,
    error: Option<String>,
}

/// Repository policy from its config.
struct Policy {
    deny_non_fast_forwards: bool,
    deny_deletes: bool,
    /// `receive.denyCurrentBranch` refuses (the default for non-bare repositories).
    deny_current_branch: bool,
    max_input_size: u64,
    /// `receive.shallowUpdate`: a push may extend the repository's shallow boundary.
    shallow_update: bool,
}

/// What a push asked for one ref and how it ended: the launcher puts these in the request's log
/// record (the service itself only returns them, in no log format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefResult {
    /// The full ref name (`refs/heads/main`).
    pub name: String,
    /// The value before the push (the null id for a created ref).
    pub old: ObjectId,
    /// The value after the push (the null id for a deleted ref).
    pub new: ObjectId,
    /// Why the ref was not updated (`None`: it was).
    pub error: Option<String>,
}

/// Serves one receive-pack request on `input`/`output` for `repo`.
pub fn serve<R: Read, W: Write>(
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
pub fn serve_recording<R: Read, W: Write>(
    repo: &dyn Repository,
    opts: &Options,
    input: R,
    output: W,
    record: &mut Vec<RefResult>,
) -> Result<(), Error> {
    let mut writer = Writer::new(output);
    let result = run(repo, opts, Reader::new(input), &mut writer, record);
    if let Err(e) = &result {
        if !matches!(e, Error::Io(_) | Error::PktLine(pktline::Error::Io(_))) {
            let _ = writer.err(&e.to_string());
            let _ = writer.flush();
        }
    }
    result
}

fn config_bool(repo: &dyn Repository, key: &str, default: bool) -> Result<bool, Error> {
    Ok(repo
        .config()
        .get_bool(key)
        .map_err(backend::Error::from)?
        .unwrap_or(default))
}

fn policy(repo: &dyn Repository) -> Result<Policy, Error> {
    let config = repo.config();
    let deny_current = match config.get("receive.denyCurrentBranch") {
        Some(Some(v)) => !matches!(
            v.to_ascii_lowercase().as_str(),
            "ignore" | "warn" | "false" | "no" | "off" | "0"
        ),
        _ => true,
    };
    let max_input = config
        .get_i64("receive.maxInputSize")
        .map_err(backend::Error::from)?
        .unwrap_or(0);
    Ok(Policy {
        deny_non_fast_forwards: config_bool(repo, "receive.denyNonFastForwards", false)?,
        deny_deletes: config_bool(repo, "receive.denyDeletes", false)?,
        deny_current_branch: deny_current && !repo.is_bare(),
        max_input_size: u64::try_from(max_input).unwrap_or(0),
        shallow_update: config_bool(repo, "receive.shallowUpdate", false)?,
    })
}

fn run<R: Read, W: Write>(
    repo: &dyn Repository,
    opts: &Options,
    mut reader: Reader<R>,
    writer: &mut Writer<W>,
    record: &mut Vec<RefResult>,
) -> Result<(), Error> {
    let ctx = AdvertiseCtx {
        object_format: repo.hash_kind().name(),
        atomic: config_bool(repo, "receive.advertiseAtomic", true)?,
        push_options: config_bool(repo, "receive.advertisePushOptions", true)?,
    };
    let advertised = capabilities::advertised(CAPABILITIES, &ctx);
    if !opts.stateless_rpc || opts.advertise_refs {
        advertise(repo, opts, &advertised, writer)?;
        if opts.advertise_refs {
            return Ok(());
        }
    }

    // Phase: commands.
    let mut updates: Vec<Update> = Vec::new();
    let mut caps = Requested::default();
    // The pusher's shallow boundary (a push from a shallow clone).
    let mut client_shallow = IdSet::default();
    loop {
        let line = match reader.read_line()? {
            None if updates.is_empty() => return Ok(()),
            None => return Err(Error::UnexpectedEof("reading commands")),
            Some(PacketLineRef::Flush) => break,
            Some(l @ PacketLineRef::Data(_)) => l.as_text().unwrap_or_default().to_vec(),
            Some(_) => {
                return Err(v0::Error::Unexpected {
                    expected: "commands or flush",
                    line: "delim/response-end packet".into(),
                }
                .into())
            }
        };
        if let Some(id) = shallow::parse_line(&line, updates.is_empty())? {
            if client_shallow.len() >= opts.limits.max_haves {
                return Err(Error::Limit {
                    what: "shallow lines",
                    limit: opts.limits.max_haves,
                });
            }
            client_shallow.insert(id);
            continue;
        }
        let (cmd, cap_list) = commands::parse_command(&line)?;
        if let Some(list) = cap_list {
            if !updates.is_empty() {
                return Err(commands::Error::Malformed(
                    "capabilities after the first command".into(),
                )
                .into());
            }
            caps = Requested::parse(list, &advertised)?;
        }
        if updates.len() > opts.limits.max_ref_updates {
            // Keep reading (the client sends the pack anyway) but store no more commands; all
            // are refused below, in the report the client is waiting for.
            continue;
        }
        updates.push(Update { cmd, error: None });
    }
    if updates.is_empty() {
        return Ok(());
    }

    // Phase: push options.
    let mut push_options: Vec<String> = Vec::new();
    if caps.has("push-options") {
        loop {
            match reader.read_line()? {
                Some(PacketLineRef::Flush) => break,
                Some(l @ PacketLineRef::Data(_)) => {
                    if push_options.len() >= 1000 {
                        return Err(Error::Limit {
                            what: "push options",
                            limit: 1000,
                        });
                    }
                    let text = l.as_text().unwrap_or_default();
                    push_options.push(String::from_utf8_lossy(text).into_owned());
                }
                None => return Err(Error::UnexpectedEof("reading push options")),
                Some(_) => {
                    return Err(v0::Error::Unexpected {
                        expected: "push options or flush",
                        line: "delim/response-end packet".into(),
                    }
                    .into())
                }
            }
        }
    }

    let band_mode = if caps.has("side-band-64k") {
        Mode::SideBand64k
    } else {
        Mode::None
    };
    let quiet = caps.has("quiet");
    let out = RefCell::new(SidebandWriter::new(writer.get_mut(), band_mode));
    let mut to_client = |bytes: &[u8]| {
        if band_mode != Mode::None {
            let _ = out.borrow_mut().send(Channel::Progress, bytes);
        } else {
            tracing::info!(output = %String::from_utf8_lossy(bytes), "hook/progress output (no sideband)");
        }
    };

    let policy = policy(repo)?;
    let mut limits = opts.limits.clone();
    if policy.max_input_size > 0
        && (limits.max_pack_bytes == 0 || policy.max_input_size < limits.max_pack_bytes)
    {
        limits.max_pack_bytes = policy.max_input_size;
    }

    // Phase: unpack into quarantine (skipped when every command is a delete).
    let mut quarantine: Option<Box<dyn Quarantine + '_>> = None;
    let mut unpack_status: Result<(), String> = Ok(());
    let too_many = updates.len() > opts.limits.max_ref_updates;
    if too_many {
        updates.truncate(opts.limits.max_ref_updates);
        unpack_status = Err(format!(
            "too many ref updates (limit {})",
            opts.limits.max_ref_updates
        ));
    }
    // Links of the received commits, trees and tags, collected while they are checked: when all
    // of them point into the pack itself, the pack is self-contained and everything it holds is
    // connected, so tips inside it need no walk (git's check-self-contained-and-connected).
    // Objects are checked from several threads (deltas resolve in parallel).
    let links: Mutex<Option<IdSet>> = Mutex::new(Some(IdSet::default()));
    let checker = fsck::checker(repo);
    let check = |id: &ObjectId, kind: Kind, data: &[u8]| -> Result<(), String> {
        if let Ok(c) = &checker {
            c.check(id, kind, data).map_err(|e| e.to_string())?;
        }
        // Parsed outside the lock; only the insertion is serialized.
        let mut found = Vec::new();
        let parsed = record_links(kind, data, &mut found);
        let mut l = links.lock().unwrap_or_else(|e| e.into_inner());
        match (l.as_mut(), parsed) {
            (Some(set), Ok(())) => set.extend(found),
            (Some(_), Err(_)) => *l = None,
            (None, _) => {}
        }
        Ok(())
    };
    let mut self_contained: Option<IdSet> = None;
    if updates.iter().any(|u| !u.cmd.is_delete()) {
        let mut raw = reader.into_raw();
        if !too_many {
            unpack_status = (|| {
                let checker = checker.as_ref().map_err(Clone::clone)?;
                let mut q = repo.begin_quarantine().map_err(|e| e.to_string())?;
                let received = {
                    let mut progress = ProgressLines::new(|b: &[u8]| {
                        if !quiet {
                            to_client(b)
                        }
                    });
                    q.receive_pack(&mut raw, &limits, &check, &mut progress)
                        .map_err(|e| e.to_string())?
                };
                tracing::debug!(objects = received.len(), "pack received");
                // Checks needing the whole push: link kinds, .gitmodules/.gitattributes
                // blobs, tag types, tree depth.
                checker
                    .finish(&fsck::Objects(q.view()), &received)
                    .map_err(|e| e.to_string())?;
                let sent: IdSet = received.iter().map(|(id, _)| *id).collect();
                if links
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .is_some_and(|l| l.iter().all(|id| sent.contains(id)))
                {
                    self_contained = Some(sent);
                }
                quarantine = Some(q);
                Ok(())
            })();
        }
        if unpack_status.is_err() {
            // The client may still be sending the rest of a refused pack; read (a bounded
            // amount of) it so it gets to read our report instead of a broken pipe.
            let _ = std::io::copy(&mut (&mut raw).take(64 << 20), &mut std::io::sink());
        }
    }
    if let Ok(c) = &checker {
        for line in fsck::warning_lines(c) {
            to_client(&line);
        }
    }
    if let Err(e) = &unpack_status {
        tracing::warn!(error = %e, "unpack failed");
        for u in &mut updates {
            u.error.get_or_insert_with(|| "unpacker error".into());
        }
    }

    // Phase: per-command checks, against the repository plus quarantined objects.
    if unpack_status.is_ok() {
        let view: &dyn Repository = quarantine.as_ref().map_or(repo, |q| q.view());
        check_commands(
            repo,
            view,
            &policy,
            opts.authorize.as_ref(),
            self_contained.as_ref(),
            &client_shallow,
            &mut updates,
        )?;
    }
    if let (Ok(()), Some(validate)) = (&unpack_status, &opts.validate) {
        let view: &dyn Repository = quarantine.as_ref().map_or(repo, |q| q.view());
        validate_push(view, validate, &mut updates, &mut to_client);
    }
    let atomic = caps.has("atomic");
    if atomic {
        fail_atomic(&mut updates);
    }

    // Phase: pre-receive hook.
    let hook_env = hook_environment(quarantine.as_deref(), &push_options);
    if unpack_status.is_ok() && updates.iter().any(|u| u.error.is_none()) {
        let stdin = hook_stdin(&updates);
        if let Some(code) = repo.run_hook("pre-receive", &[], &hook_env, &stdin, &mut to_client)? {
            if code != 0 {
                for u in &mut updates {
                    u.error
                        .get_or_insert_with(|| "pre-receive hook declined".into());
                }
            }
        }
    }

    // Phase: make objects visible (only if something will be updated).
    if updates.iter().any(|u| u.error.is_none()) {
        if let Some(q) = quarantine.take() {
            if let Err(e) = q.commit() {
                tracing::error!(error = %e, "could not move received objects into place");
                for u in &mut updates {
                    u.error
                        .get_or_insert_with(|| "failed to store objects".into());
                }
            }
        }
    }
    drop(quarantine);
    let env_after: Vec<(String, String)> = push_option_env(&push_options);

    // Phase: update hook per ref.
    for u in updates.iter_mut().filter(|u| u.error.is_none()) {
        let (old, new) = (u.cmd.old.to_hex(), u.cmd.new.to_hex());
        if let Some(code) = repo.run_hook(
            "update",
            &[&u.cmd.name, &old, &new],
            &env_after,
            &[],
            &mut to_client,
        )? {
            if code != 0 {
                u.error = Some("hook declined".into());
            }
        }
    }
    if atomic {
        fail_atomic(&mut updates);
    }

    // Phase: the repository's shallow file gains the pusher's boundary commits whose parents
    // it lacks (receive.shallowUpdate), before any ref can point at them.
    if policy.shallow_update && updates.iter().any(|u| u.error.is_none()) {
        if let Err(e) = shallow::record_new_roots(repo, &client_shallow) {
            tracing::error!(error = %e, "could not update the shallow file");
            for u in &mut updates {
                u.error
                    .get_or_insert_with(|| "shallow file update failed".into());
            }
        }
    }

    // Phase: ref transaction.
    let pending: Vec<usize> = (0..updates.len())
        .filter(|&i| updates[i].error.is_none())
        .collect();
    if !pending.is_empty() {
        let txn: Vec<RefUpdate> = pending
            .iter()
            .map(|&i| RefUpdate {
                name: updates[i].cmd.name.clone(),
                old: updates[i].cmd.old,
                new: updates[i].cmd.new,
            })
            .collect();
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
                for &i in &pending {
                    updates[i].error = Some(if atomic {
                        "atomic transaction failed".into()
                    } else {
                        "failed to update ref".into()
                    });
                }
            }
        }
        if atomic {
            fail_atomic(&mut updates);
        }
    }

    record.extend(updates.iter().map(|u| RefResult {
        name: u.cmd.name.clone(),
        old: u.cmd.old,
        new: u.cmd.new,
        error: u.error.clone(),
    }));

    // Phase: report.
    if caps.has("report-status") || caps.has("report-status-v2") {
        let report = report_status(&unpack_status, &updates)?;
        let mut out = out.borrow_mut();
        if band_mode == Mode::None {
            out.get_mut().write_all(&report)?;
        } else {
            out.send(Channel::Data, &report)?;
        }
    }

    // Phase: post hooks (their failures cannot change anything any more).
    let done: Vec<&Update> = updates.iter().filter(|u| u.error.is_none()).collect();
    if !done.is_empty() {
        let stdin: Vec<u8> = done
            .iter()
            .flat_map(|u| format!("{} {} {}\n", u.cmd.old, u.cmd.new, u.cmd.name).into_bytes())
            .collect();
        repo.run_hook("post-receive", &[], &env_after, &stdin, &mut to_client)?;
        let names: Vec<&str> = done.iter().map(|u| u.cmd.name.as_str()).collect();
        repo.run_hook("post-update", &names, &env_after, &[], &mut to_client)?;
    }
    let mut out = out.into_inner();
    if band_mode != Mode::None {
        out.get_mut().write_all(b"0000")?;
    }
    out.get_mut().flush()?;
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

/// Adds the ids `data` (a commit, tree or tag) refers to to `out`.
fn record_links(kind: Kind, data: &[u8], out: &mut Vec<ObjectId>) -> Result<(), crate::odb::Error> {
    match kind {
        Kind::Commit => {
            let c = crate::odb::CommitRef::parse(data)?;
            out.push(c.tree);
            out.extend(c.parents);
        }
        Kind::Tree => {
            for e in crate::odb::TreeIter::new(data) {
                let e = e?;
                if e.kind().is_some() {
                    out.push(e.id);
                }
            }
        }
        Kind::Tag => {
            out.push(crate::odb::TagRef::parse(data)?.object);
        }
        Kind::Blob => {}
    }
    Ok(())
}

/// Runs the launcher's whole-push check on the updates still standing; a refusal is told to
/// the client in full and becomes every such update's `ng` reason (its first line).
fn validate_push(
    view: &dyn Repository,
    validate: &PushValidator,
    updates: &mut [Update],
    to_client: &mut dyn FnMut(&[u8]),
) {
    let standing: Vec<(&str, ObjectId)> = updates
        .iter()
        .filter(|u| u.error.is_none())
        .map(|u| (u.cmd.name.as_str(), u.cmd.new))
        .collect();
    if standing.is_empty() {
        return;
    }
    if let Err(why) = validate(view, &standing) {
        for line in why.lines() {
            to_client(format!("{line}\n").as_bytes());
        }
        let reason = why.lines().next().unwrap_or("refused").to_string();
        for u in updates.iter_mut().filter(|u| u.error.is_none()) {
            u.error = Some(reason.clone());
        }
    }
}

/// Per-command checks: ref name, policy, object presence, fast-forward, connectivity.
/// `self_contained`: the objects of a received pack whose links all stay inside it; tips among
/// them are connected without a walk.
fn check_commands(
    repo: &dyn Repository,
    view: &dyn Repository,
    policy: &Policy,
    authorize: Option<&RefAuthorizer>,
    self_contained: Option<&IdSet>,
    client_shallow: &IdSet,
    updates: &mut [Update],
) -> Result<(), Error> {
    let current: std::collections::HashMap<String, ObjectId> =
        repo.refs()?.into_iter().map(|r| (r.name, r.id)).collect();
    let existing_tips: Vec<ObjectId> = current.values().copied().collect();
    let head_branch = repo.head()?.symref_target;
    let mut seen_names = HashSet::new();
    let mut pending = Vec::new();
    for (idx, u) in updates.iter_mut().enumerate() {
        let cmd = &u.cmd;
        let refuse = |why: &str| Some(why.to_string());
        u.error = if !seen_names.insert(cmd.name.clone()) {
            refuse("duplicate ref update")
        } else if repo.ref_is_hidden(&cmd.name) {
            refuse(match cmd.is_delete() {
                true => "deny deleting a hidden ref",
                false => "deny updating a hidden ref",
            })
        } else if !cmd.name.starts_with("refs/")
            || crate::refs::name::RefName::new(&cmd.name).is_err()
        {
            refuse("funny refname")
        } else if cmd.is_delete() && policy.deny_deletes {
            refuse("deletion prohibited")
        } else if policy.deny_current_branch && head_branch.as_deref() == Some(cmd.name.as_str()) {
            refuse("branch is currently checked out")
        } else if current
            .get(&cmd.name)
            .copied()
            .unwrap_or_else(|| repo.hash_kind().null())
            != cmd.old
        {
            refuse("stale info")
        } else {
            None
        };
        if u.error.is_some() {
            continue;
        }
        if cmd.is_delete() {
            let no_merge = || Ok(false);
            let check = RefCheck {
                name: &cmd.name,
                change: RefChange::Delete,
                has_merge: &no_merge,
            };
            if let Some(Err(why)) = authorize.map(|a| a(&check)) {
                u.error = Some(why);
            }
            continue;
        }
        let new_kind = view.object_header(&cmd.new)?.map(|(k, _)| k);
        if new_kind.is_none() {
            u.error = Some("missing necessary objects".into());
            continue;
        }
        if let Some(why) = refuse_object_for_ref(view, &cmd.name, &cmd.new, new_kind)? {
            u.error = Some(why);
            continue;
        }
        let change = if cmd.is_create() {
            RefChange::Create
        } else {
            let mut cache = walk::CommitCache::default();
            let ff = new_kind == Some(Kind::Commit)
                && walk::is_reachable(view, &mut cache, &[cmd.new], &cmd.old, i64::MIN)
                    .unwrap_or(false);
            if ff {
                RefChange::FastForward
            } else {
                RefChange::Rewind
            }
        };
        if change == RefChange::Rewind && policy.deny_non_fast_forwards {
            u.error = Some("non-fast-forward".into());
            continue;
        }
        let has_merge = || match change {
            RefChange::Create => Ok(false),
            _ => walk::has_merge_between(view, &cmd.old, &cmd.new).map_err(|e| e.to_string()),
        };
        let check = RefCheck {
            name: &cmd.name,
            change,
            has_merge: &has_merge,
        };
        if let Some(Err(why)) = authorize.map(|a| a(&check)) {
            u.error = Some(why);
            continue;
        }
        if !self_contained.is_some_and(|s| s.contains(&cmd.new)) {
            pending.push(idx);
        }
    }
    // Connectivity: everything reachable from the new tips and not from existing refs exists.
    // One walk for all tips (a push of many tags shares its history); only if it fails are the
    // tips walked one by one, to refuse exactly the commands that lack objects.
    let tips: Vec<ObjectId> = pending.iter().map(|&i| updates[i].cmd.new).collect();
    let none = IdSet::default();
    if tips.is_empty() || connected(view, &tips, &existing_tips, &none).is_ok() {
        return Ok(());
    }
    for i in pending {
        let tip = [updates[i].cmd.new];
        let Err(e) = connected(view, &tip, &existing_tips, &none) else {
            continue;
        };
        // Complete only down to the pusher's shallow boundary: a shallow update.
        if !client_shallow.is_empty()
            && connected(view, &tip, &existing_tips, client_shallow).is_ok()
        {
            if !policy.shallow_update {
                updates[i].error = Some("shallow update not allowed".into());
            }
            continue;
        }
        tracing::warn!(refname = %updates[i].cmd.name, error = %e, "connectivity check failed");
        updates[i].error = Some("missing necessary objects".into());
    }
    Ok(())
}

/// What a ref may not point at, checked per ref before anything is stored: a branch
/// (`refs/heads/*`) only at a commit, as C git's ref store insists (a tag, tree or blob there
/// makes `git fsck` report "not a commit" and breaks checkouts); and no chain of annotated tags
/// deeper than [`MAX_PUSHED_DEPTH`](crate::odb::tag_chain::MAX_PUSHED_DEPTH). Deviation: C git
/// accepts any depth. Refusing deep chains here, where one user pushes them, is what lets every
/// reader peel whatever chain a repository holds without a limit.
fn refuse_object_for_ref(
    view: &dyn Repository,
    name: &str,
    new: &ObjectId,
    kind: Option<Kind>,
) -> Result<Option<String>, Error> {
    if name.starts_with("refs/heads/") && kind != Some(Kind::Commit) {
        return Ok(Some(format!(
            "trying to write non-commit object {new} to branch '{name}'"
        )));
    }
    if kind != Some(Kind::Tag) {
        return Ok(None);
    }
    let max = crate::odb::tag_chain::MAX_PUSHED_DEPTH;
    let mut depth = 0usize;
    crate::odb::tag_chain::peel::<backend::Error>(*new, |current| {
        depth += 1;
        if depth > max + 1 {
            return Ok(None); // Deep enough to refuse: stop reading.
        }
        match view.read_object(current)? {
            Some(o) if o.kind == Kind::Tag => crate::odb::TagRef::parse(&o.data)
                .map(|t| Some(t.object))
                .map_err(|source| backend::Error::Object {
                    id: *current,
                    source,
                }),
            _ => Ok(None),
        }
    })?;
    // `depth` counts the objects looked at: the tags plus the object they end at.
    Ok((depth > max + 1).then(|| format!("tag chain deeper than {max} tags")))
}

/// Walks from `tips` down to `existing` checking that every object exists; commits in `roots`
/// are taken as having no parents (a pusher's shallow boundary).
fn connected(
    view: &dyn Repository,
    tips: &[ObjectId],
    existing: &[ObjectId],
    roots: &IdSet,
) -> Result<(), walk::Error> {
    let mut discard = crate::progress::Discard;
    walk::objects_for_pack(
        view,
        tips,
        existing,
        &WalkOptions {
            check_blobs: true,
            shallow: roots.clone(),
            ..WalkOptions::default()
        },
        &mut discard,
    )
    .map(|_| ())
}

/// With `atomic`, one refused command refuses all the others.
fn fail_atomic(updates: &mut [Update]) {
    if updates.iter().any(|u| u.error.is_some()) {
        for u in updates.iter_mut() {
            u.error.get_or_insert_with(|| "atomic push failure".into());
        }
    }
}

fn hook_stdin(updates: &[Update]) -> Vec<u8> {
    updates
        .iter()
        .filter(|u| u.error.is_none())
        .flat_map(|u| format!("{} {} {}\n", u.cmd.old, u.cmd.new, u.cmd.name).into_bytes())
        .collect()
}

fn push_option_env(options: &[String]) -> Vec<(String, String)> {
    let mut env = vec![(
        "GIT_PUSH_OPTION_COUNT".to_string(),
        options.len().to_string(),
    )];
    for (i, o) in options.iter().enumerate() {
        env.push((format!("GIT_PUSH_OPTION_{i}"), o.clone()));
    }
    env
}

fn hook_environment(q: Option<&dyn Quarantine>, options: &[String]) -> Vec<(String, String)> {
    let mut env = push_option_env(options);
    if let Some(q) = q {
        env.extend(q.hook_env());
    }
    env
}

/// Builds the report-status pkt-lines: `unpack ok|<err>`, `ok <ref>` / `ng <ref> <why>`, flush.
fn report_status(unpack: &Result<(), String>, updates: &[Update]) -> Result<Vec<u8>, Error> {
    let mut w = Writer::new(Vec::new());
    match unpack {
        Ok(()) => w.text("unpack ok")?,
        Err(e) => w.text(&format!("unpack {}", one_line(e)))?,
    }
    for u in updates {
        match &u.error {
            None => w.text(&format!("ok {}", u.cmd.name))?,
            Some(why) => w.text(&format!("ng {} {}", u.cmd.name, one_line(why)))?,
        }
    }
    w.flush_pkt()?;
    Ok(std::mem::take(w.get_mut()))
}

fn one_line(s: &str) -> String {
    let line: String = s.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    line.chars().take(1000).collect()
}
