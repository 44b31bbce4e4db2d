//! upload-pack for protocol v2 (gitprotocol-v2): the capability advertisement, then a loop of
//! independent requests dispatched through [`COMMANDS`]: `ls-refs`, `fetch`, `object-info`,
//! `bundle-uri` (when configured, see [`super::bundle_uri`]).
//!
//! `fetch` runs as an explicit state machine ([`FetchState`]): process the arguments, send the
//! acknowledgments section, then (when `done` was sent or the server is ready) the packfile.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::ops::ControlFlow;

use super::advertised::{Advertised, LazyRefs};
use super::negotiate::{AckMode, Negotiator};
use super::shallow::{self, ShallowRequest};
use super::{client_shallow_commit, stream_pack, Error, Options, PackRequest};
use crate::backend::{self, Repository};
use crate::hash::ObjectId;
use crate::protocol::capabilities;
use crate::protocol::pktline::{Reader, Writer};
use crate::protocol::sideband::Mode;
use crate::protocol::v2::{self as wire, Request};
use crate::service::settings::{LsRefsUnborn, UploadPackSettings};
use crate::walk::WalkOptions;

/// A v2 command handler.
type Handler<R, W> = fn(&mut Session<'_, R, W>, &Request) -> Result<(), Error>;

/// The command table: name, advertised value, handler. Adding a command means adding a row.
fn commands<R: Read, W: Write + Send>() -> [(&'static str, Option<&'static str>, Handler<R, W>); 4]
{
    [
        ("ls-refs", Some("unborn"), ls_refs),
        ("fetch", None, fetch),
        ("object-info", None, object_info),
        ("bundle-uri", None, bundle_uri),
    ]
}

/// Whether command `name` is offered by this repository (`bundle-uri` only when configured).
fn offered(repo: &dyn Repository, name: &str) -> Result<bool, Error> {
    match name {
        "bundle-uri" => super::bundle_uri::advertised(repo),
        _ => Ok(true),
    }
}

/// `bundle-uri`: the repository's `bundle.*` list.
fn bundle_uri<R: Read, W: Write + Send>(
    s: &mut Session<'_, R, W>,
    req: &Request,
) -> Result<(), Error> {
    super::bundle_uri::respond(s.repo, &req.args, &mut s.writer)
}

/// State kept across the requests of one v2 session.
pub(super) struct Session<'a, R: Read, W: Write + Send> {
    repo: &'a dyn Repository,
    opts: &'a Options,
    /// The repository's `uploadpack.*` settings, read once.
    settings: UploadPackSettings,
    reader: Reader<R>,
    writer: Writer<W>,
    pack_started: bool,
    /// HEAD and the refs as the second `ls-refs` of the session read them, reused by later
    /// ones: a client sending 100,000 `ls-refs` commands in one request costs two reads of the
    /// refs, not 100,000 (C git's in-process ref cache does the same). The first `ls-refs`
    /// (usually the only one: ls-remote, fetch, clone) streams and keeps nothing, since a list
    /// of 10,000 refs was most of such a request's memory and page faults. `fetch` always reads
    /// the refs afresh, since wants are validated against the refs as they are now.
    ls_refs_snapshot: Option<std::rc::Rc<(backend::Head, Vec<backend::Ref>)>>,
    /// How many `ls-refs` commands this session has served.
    ls_refs_served: usize,
    /// The refs those `ls-refs` sent, for checking a later `fetch`'s wants cheaply.
    advertised: Advertised,
}

/// Serves a v2 session (or, in stateless mode, exactly one request).
pub(super) fn serve<R: Read, W: Write + Send>(
    repo: &dyn Repository,
    opts: &Options,
    settings: UploadPackSettings,
    input: R,
    output: W,
) -> Result<(), Error> {
    let mut s = Session {
        repo,
        opts,
        settings,
        reader: Reader::new(input),
        writer: Writer::new(output),
        pack_started: false,
        ls_refs_snapshot: None,
        ls_refs_served: 0,
        advertised: Advertised::default(),
    };
    let result = s.run();
    if let Err(e) = &result {
        if !matches!(e, Error::Io(_)) && !s.pack_started {
            let _ = s.writer.err(&e.to_string());
            let _ = s.writer.flush();
        }
    }
    result
}

impl<R: Read, W: Write + Send> Session<'_, R, W> {
    fn run(&mut self) -> Result<(), Error> {
        if !self.opts.stateless_rpc || self.opts.advertise_refs {
            self.advertise()?;
            if self.opts.advertise_refs {
                return Ok(());
            }
        }
        loop {
            let Some(req) = wire::read_request(
                &mut self.reader,
                self.opts.limits.max_wants + self.opts.limits.max_haves,
            )
            .map_err(v2_error)?
            else {
                return Ok(());
            };
            let table = commands::<R, W>();
            let found = table.iter().find(|(n, _, _)| *n == req.command);
            let found = match found {
                Some(row) if offered(self.repo, row.0)? => Some(row),
                _ => None,
            };
            let Some((_, _, handler)) = found else {
                return Err(Error::Line(crate::protocol::v0::Error::Unexpected {
                    expected: "a known v2 command",
                    line: format!("command={}", req.command),
                }));
            };
            // After the command is known, as C git's `serve.c` checks.
            crate::protocol::capabilities::check_object_format(
                self.repo.hash_kind(),
                req.cap("object-format"),
            )?;
            handler(self, &req)?;
            self.writer.flush()?;
            if self.opts.stateless_rpc {
                return Ok(());
            }
        }
    }

    fn advertise(&mut self) -> Result<(), Error> {
        self.writer.text("version 2")?;
        self.writer
            .text(&format!("agent={}", capabilities::agent()))?;
        for (name, value, _) in commands::<R, W>() {
            if !offered(self.repo, name)? {
                continue;
            }
            let value = match name {
                "fetch" => Some(fetch_features(&self.settings)),
                "ls-refs" if self.settings.lsrefs_unborn != LsRefsUnborn::Advertise => None,
                _ => value.map(str::to_string),
            };
            match value {
                Some(v) => self.writer.text(&format!("{name}={v}"))?,
                None => self.writer.text(name)?,
            }
        }
        self.writer.text("server-option")?;
        self.writer
            .text(&format!("object-format={}", self.repo.hash_kind().name()))?;
        self.writer.flush_pkt()?;
        self.writer.flush()?;
        Ok(())
    }
}

/// The `fetch=` feature list: shallow and wait-for-done always, filter and ref-in-want as
/// configured.
fn fetch_features(settings: &UploadPackSettings) -> String {
    let mut f = vec!["shallow", "wait-for-done"];
    if settings.allow_filter {
        f.push("filter");
    }
    if settings.allow_ref_in_want {
        f.push("ref-in-want");
    }
    if settings.allow_sideband_all {
        f.push("sideband-all");
    }
    if !settings.blob_packfile_uris.is_empty() {
        f.push("packfile-uris");
    }
    f.join(" ")
}

/// Writes one section line of a fetch response; with `sideband-all` every such line travels in
/// band 1.
fn line<R: Read, W: Write + Send>(
    s: &mut Session<'_, R, W>,
    sideband_all: bool,
    text: &str,
) -> std::io::Result<()> {
    if sideband_all {
        let mut payload = Vec::with_capacity(text.len() + 2);
        payload.push(1u8);
        payload.extend_from_slice(text.as_bytes());
        payload.push(b'\n');
        s.writer.data(&payload)
    } else {
        s.writer.text(text)
    }
}

fn v2_error(e: wire::Error) -> Error {
    match e {
        wire::Error::PktLine(p) => Error::PktLine(p),
        other => Error::Line(crate::protocol::v0::Error::Unexpected {
            expected: "a well-formed v2 request",
            line: other.to_string(),
        }),
    }
}

fn bad_arg(command: &'static str, arg: &[u8]) -> Error {
    Error::Line(crate::protocol::v0::Error::Unexpected {
        expected: command,
        line: String::from_utf8_lossy(arg).into_owned(),
    })
}

/// `ls-refs`: refs with optional symref targets, peeled values, prefixes and unborn HEAD.
fn ls_refs<R: Read, W: Write + Send>(
    s: &mut Session<'_, R, W>,
    req: &Request,
) -> Result<(), Error> {
    let (mut symrefs, mut peel, mut unborn) = (false, false, false);
    let mut prefixes: Vec<String> = Vec::new();
    let mut too_many_prefixes = false;
    for arg in &req.args {
        match arg.as_slice() {
            b"symrefs" => symrefs = true,
            b"peel" => peel = true,
            // `lsrefs.unborn=ignore` ignores the argument (C git does not refuse it).
            b"unborn" => unborn = s.settings.lsrefs_unborn != LsRefsUnborn::Ignore,
            a => match a.strip_prefix(b"ref-prefix ") {
                // Past MAX_PREFIXES git drops every prefix and lists everything (ls-refs.c).
                Some(_) if too_many_prefixes => {}
                Some(_) if prefixes.len() >= MAX_PREFIXES => {
                    prefixes = Vec::new();
                    too_many_prefixes = true;
                }
                Some(p) => prefixes.push(String::from_utf8_lossy(p).into_owned()),
                None => {
                    return Err(bad_arg(
                        "ls-refs argument (symrefs, peel, unborn, ref-prefix)",
                        a,
                    ))
                }
            },
        }
    }
    let matches =
        |name: &str| prefixes.is_empty() || prefixes.iter().any(|p| name.starts_with(p.as_str()));
    let shape = LsRefsShape { symrefs, peel };
    if s.ls_refs_snapshot.is_none() && s.ls_refs_served > 0 {
        s.ls_refs_snapshot = Some(std::rc::Rc::new((s.repo.head()?, s.repo.refs()?)));
    }
    s.ls_refs_served += 1;
    // HEAD is read only when asked for (a fetch of one branch does not).
    if matches("HEAD") {
        let head = match &s.ls_refs_snapshot {
            Some(snap) => snap.0.clone(),
            None => s.repo.head()?,
        };
        let target = head.symref_target.as_deref().filter(|_| symrefs);
        if head.id.is_some() {
            s.advertised.note_head();
        }
        match (head.id, target) {
            (Some(id), Some(t)) => s.writer.text(&format!("{id} HEAD symref-target:{t}"))?,
            (Some(id), None) => s.writer.text(&format!("{id} HEAD"))?,
            // C git (`send_possibly_unborn_head`) needs both `unborn` and `symrefs`.
            (None, _) if unborn && symrefs => {
                if let Some(t) = &head.symref_target {
                    s.writer.text(&format!("unborn HEAD symref-target:{t}"))?;
                }
            }
            (None, _) => {}
        }
    }
    // One reused buffer for every line (10,000 refs made 20,000 small allocations).
    let mut line = Vec::with_capacity(256);
    if let Some(snap) = &s.ls_refs_snapshot {
        for r in snap.1.iter().filter(|r| matches(&r.name)) {
            s.advertised.note(&r.name);
            shape.write(&mut s.writer, &mut line, r)?;
        }
    } else {
        // The first ls-refs of the session streams: each ref is written as it is read.
        let writer = &mut s.writer;
        let advertised = &mut s.advertised;
        let mut write_error = None;
        for root in prefix_roots(&prefixes) {
            s.repo.for_each_ref(root, &mut |r| {
                if matches(&r.name) {
                    advertised.note(&r.name);
                    if let Err(e) = shape.write(writer, &mut line, &r) {
                        write_error = Some(e);
                        return Ok(ControlFlow::Break(()));
                    }
                }
                Ok(ControlFlow::Continue(()))
            })?;
            if let Some(e) = write_error {
                return Err(e.into());
            }
        }
    }
    s.writer.flush_pkt()?;
    Ok(())
}

/// The most `ref-prefix` lines `ls-refs` honours; one more and C git ignores them all
/// (`ls-refs.c: MAX_ALLOWED_PREFIXES`).
const MAX_PREFIXES: usize = 65536;

/// The prefixes under `refs/` to read for an `ls-refs` asking for `prefixes` (none: all refs),
/// in name order and none inside another, so reading each in turn lists every matching ref
/// once and in order. A prefix outside `refs/` (`HEAD`, a short name) matches no ref under
/// it and is dropped; one that `refs/` starts with (`ref`) takes everything. C git reads only
/// the prefixes' refs too (`for_each_fullref_in_prefixes`): a fetch of one branch does not
/// walk thousands of loose `refs/pull/*` refs.
fn prefix_roots(prefixes: &[String]) -> Vec<&str> {
    const ALL: &str = "refs/";
    if prefixes.is_empty() || prefixes.iter().any(|p| ALL.starts_with(p.as_str())) {
        return vec![ALL];
    }
    let mut roots: Vec<&str> = prefixes
        .iter()
        .map(String::as_str)
        .filter(|p| p.starts_with(ALL))
        .collect();
    roots.sort_unstable();
    roots.dedup_by(|later, kept| later.starts_with(*kept));
    roots
}

/// What an `ls-refs` line carries besides the id and name.
#[derive(Clone, Copy)]
struct LsRefsShape {
    /// `symref-target:` for symbolic refs.
    symrefs: bool,
    /// `peeled:` for annotated tags.
    peel: bool,
}

impl LsRefsShape {
    /// Writes the line of ref `r` through `writer`, built in `line`.
    fn write<W: Write>(
        self,
        writer: &mut Writer<W>,
        line: &mut Vec<u8>,
        r: &backend::Ref,
    ) -> std::io::Result<()> {
        line.clear();
        r.id.push_hex(line);
        line.push(b' ');
        line.extend_from_slice(r.name.as_bytes());
        if let (true, Some(t)) = (self.symrefs, &r.symref_target) {
            line.extend_from_slice(b" symref-target:");
            line.extend_from_slice(t.as_bytes());
        }
        if let (true, Some(p)) = (self.peel, r.peeled) {
            line.extend_from_slice(b" peeled:");
            p.push_hex(line);
        }
        line.push(b'\n');
        writer.data(line)
    }
}

/// The states of a v2 fetch request.
enum FetchState {
    /// Parse and validate the arguments.
    ProcessArgs,
    /// Send the acknowledgments section (skipped when the client sent `done`).
    SendAcks,
    /// Send the packfile section.
    SendPack,
    /// Finished.
    Done,
}

/// The arguments of one v2 `fetch` request, parsed and checked against the settings.
#[derive(Default)]
struct FetchArgs {
    wants: Vec<ObjectId>,
    haves: Vec<ObjectId>,
    done: bool,
    thin: bool,
    ofs: bool,
    no_progress: bool,
    include_tag: bool,
    wait_for_done: bool,
    sideband_all: bool,
    shallow_req: ShallowRequest,
    filter: Option<crate::filter::Filter>,
    /// `want-ref` lines, resolved against `refs`.
    wanted_refs: Vec<(ObjectId, String)>,
    /// `packfile-uris` protocols (kept only with `sideband-all`, as C git).
    uri_protocols: Vec<String>,
}

/// Parses the argument lines of `req` (the `ProcessArgs` state); `want-ref` names are
/// resolved against `refs`.
fn parse_fetch_args<R: Read, W: Write + Send>(
    s: &Session<'_, R, W>,
    refs: &mut LazyRefs<'_>,
    req: &Request,
) -> Result<FetchArgs, Error> {
    let mut f = FetchArgs::default();
    for arg in &req.args {
        let a = arg.as_slice();
        if let Some(hex) = a.strip_prefix(b"want ") {
            f.wants.push(
                s.repo
                    .hash_kind()
                    .id_from_hex(hex)
                    .map_err(|_| bad_arg("want <id>", a))?,
            );
        } else if let Some(name) = a.strip_prefix(b"want-ref ") {
            if !s.settings.allow_ref_in_want {
                return Err(bad_arg("want-ref (ref-in-want is not enabled)", a));
            }
            let name = String::from_utf8_lossy(name).into_owned();
            let r = refs
                .get()?
                .iter()
                .find(|r| r.name == name)
                .ok_or(Error::Unsupported("want-ref of a ref that does not exist"))?;
            f.wants.push(r.id);
            f.wanted_refs.push((r.id, name));
        } else if let Some(hex) = a.strip_prefix(b"shallow ") {
            let id = s
                .repo
                .hash_kind()
                .id_from_hex(hex)
                .map_err(|_| bad_arg("shallow <id>", a))?;
            if client_shallow_commit(s.repo, &id)? {
                f.shallow_req.client_shallow.push(id);
            }
        } else if let Some(n) = a.strip_prefix(b"deepen ") {
            let n = std::str::from_utf8(n)
                .ok()
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n > 0);
            f.shallow_req.depth = Some(n.ok_or_else(|| bad_arg("deepen <depth>", a))?);
        } else if let Some(t) = a.strip_prefix(b"deepen-since ") {
            let t = std::str::from_utf8(t)
                .ok()
                .and_then(|t| t.parse::<i64>().ok());
            f.shallow_req.since = Some(t.ok_or_else(|| bad_arg("deepen-since <time>", a))?);
        } else if let Some(r) = a.strip_prefix(b"deepen-not ") {
            if r.is_empty() {
                return Err(bad_arg("deepen-not <ref>", a));
            }
            f.shallow_req
                .not
                .push(String::from_utf8_lossy(r).into_owned());
        } else if a == b"deepen-relative" {
            f.shallow_req.relative = true;
        } else if let Some(spec) = a.strip_prefix(b"filter ") {
            if !s.settings.allow_filter {
                return Err(bad_arg("filter (not enabled)", a));
            }
            f.filter = Some(crate::filter::Filter::parse(&String::from_utf8_lossy(
                spec,
            ))?);
        } else if let Some(list) = a
            .strip_prefix(b"packfile-uris ")
            .filter(|_| !s.settings.blob_packfile_uris.is_empty())
        {
            if !f.uri_protocols.is_empty() {
                return Err(bad_arg("one packfile-uris line", a));
            }
            f.uri_protocols = super::packfile_uris::parse_protocols(list);
        } else if let Some(hex) = a.strip_prefix(b"have ") {
            f.haves.push(
                s.repo
                    .hash_kind()
                    .id_from_hex(hex)
                    .map_err(|_| bad_arg("have <id>", a))?,
            );
        } else {
            match a {
                b"done" => f.done = true,
                b"thin-pack" => f.thin = true,
                b"ofs-delta" => f.ofs = true,
                b"no-progress" => f.no_progress = true,
                b"include-tag" => f.include_tag = true,
                b"wait-for-done" => f.wait_for_done = true,
                b"sideband-all" if s.settings.allow_sideband_all => f.sideband_all = true,
                _ if a.starts_with(b"shallow ") || a.starts_with(b"deepen") => {
                    return Err(Error::Unsupported("shallow"))
                }
                _ if a.starts_with(b"filter ") => return Err(Error::Unsupported("filter")),
                _ => return Err(bad_arg("fetch argument", a)),
            }
        }
    }
    if !f.sideband_all {
        // C git: the section travels in band 1 only, so without sideband-all it is never sent.
        f.uri_protocols.clear();
    }
    Ok(f)
}

/// `fetch`: negotiation and packfile.
fn fetch<R: Read, W: Write + Send>(s: &mut Session<'_, R, W>, req: &Request) -> Result<(), Error> {
    let mut f = FetchArgs::default();
    let mut negotiator: Option<Negotiator<'_>> = None;
    let mut common: Vec<ObjectId> = Vec::new();
    // Read only when a want is not a tip the session's ls-refs sent, or for shallow requests,
    // `want-ref` and `include-tag`.
    let mut refs = LazyRefs::new(s.repo);
    let mut state = FetchState::ProcessArgs;
    loop {
        state = match state {
            FetchState::ProcessArgs => {
                f = parse_fetch_args(s, &mut refs, req)?;
                if f.wants.len() > s.opts.limits.max_wants {
                    return Err(Error::Limit {
                        what: "want lines",
                        limit: s.opts.limits.max_wants,
                    });
                }
                if f.wants.is_empty() {
                    return Err(bad_arg("at least one want", b"(none)"));
                }
                if !s.advertised.cover(s.repo, &f.wants)? {
                    check_wants(s.repo, &s.settings, &mut refs, &f.wants)?;
                }
                let mut n = Negotiator::new(s.repo, &f.wants, AckMode::MultiDetailed, false)?;
                for h in &f.haves {
                    if n.record(h)? {
                        common.push(*h);
                    }
                }
                negotiator = Some(n);
                if f.done {
                    FetchState::SendPack
                } else {
                    FetchState::SendAcks
                }
            }
            FetchState::SendAcks => {
                let n = negotiator
                    .as_mut()
                    .ok_or(Error::Unsupported("negotiation"))?;
                line(s, f.sideband_all, "acknowledgments")?;
                if common.is_empty() {
                    line(s, f.sideband_all, "NAK")?;
                }
                for id in &common {
                    line(s, f.sideband_all, &format!("ACK {id}"))?;
                }
                let ready = !f.wait_for_done && n.ready()?;
                if ready {
                    line(s, f.sideband_all, "ready")?;
                    s.writer.delim()?;
                    FetchState::SendPack
                } else {
                    s.writer.flush_pkt()?;
                    FetchState::Done
                }
            }
            FetchState::SendPack => {
                let common_all: Vec<ObjectId> = negotiator
                    .as_ref()
                    .map(|n| n.common().to_vec())
                    .unwrap_or_default();
                let plan = send_sections(s, &f, &mut refs)?;
                f.wants.extend(plan.extra_wants.iter().copied());
                if f.uri_protocols.is_empty() {
                    line(s, f.sideband_all, "packfile")?;
                } // else written after counting, behind the packfile-uris section.
                let uris =
                    (!f.uri_protocols.is_empty()).then(|| super::packfile_uris::UriRequest {
                        entries: &s.settings.blob_packfile_uris,
                        protocols: &f.uri_protocols,
                    });
                s.writer.flush()?;
                s.pack_started = true;
                let tags = if f.include_tag {
                    refs.tags()?
                } else {
                    Vec::new()
                };
                let pack = PackRequest {
                    wants: &f.wants,
                    common: &common_all,
                    tags: &tags,
                    mode: Mode::SideBand64k,
                    progress: !f.no_progress,
                    ofs_delta: f.ofs,
                    thin: f.thin,
                    include_tag: f.include_tag,
                    use_bitmaps: s.settings.use_bitmaps,
                    keepalive: s.settings.keepalive,
                    uris,
                    walk: WalkOptions {
                        shallow: plan.walk_shallow,
                        extra_edges: plan.extra_edges,
                        filter: f.filter.clone(),
                        check_blobs: false,
                        record_children: false,
                        expected_objects: 0,
                    },
                };
                stream_pack(s.repo, &pack, s.writer.get_mut())?;
                FetchState::Done
            }
            FetchState::Done => return Ok(()),
        }
    }
}

/// The sections before the packfile, in the order git's client reads them: shallow-info
/// (always from a shallow repository, as C git's `send_shallow_info`), then wanted-refs.
/// Returns the shallow plan the pack follows.
fn send_sections<R: Read, W: Write + Send>(
    s: &mut Session<'_, R, W>,
    f: &FetchArgs,
    refs: &mut LazyRefs<'_>,
) -> Result<shallow::ShallowPlan, Error> {
    let plan = if f.shallow_req.any() || s.repo.shallow_roots().is_some() {
        let plan = shallow::plan(s.repo, refs.get()?, &f.wants, &f.shallow_req)?;
        line(s, f.sideband_all, "shallow-info")?;
        for id in &plan.shallow {
            line(s, f.sideband_all, &format!("shallow {id}"))?;
        }
        for id in &plan.unshallow {
            line(s, f.sideband_all, &format!("unshallow {id}"))?;
        }
        s.writer.delim()?;
        plan
    } else {
        shallow::ShallowPlan::default()
    };
    if !f.wanted_refs.is_empty() {
        line(s, f.sideband_all, "wanted-refs")?;
        for (id, name) in &f.wanted_refs {
            line(s, f.sideband_all, &format!("{id} {name}"))?;
        }
        s.writer.delim()?;
    }
    Ok(plan)
}

/// Wants must be advertised tips unless the repository config allows more (with
/// `allowAnySHA1InWant` they need only exist, and no ref is read).
fn check_wants(
    repo: &dyn Repository,
    settings: &UploadPackSettings,
    refs: &mut LazyRefs<'_>,
    wants: &[ObjectId],
) -> Result<(), Error> {
    if settings.allow_any_sha1_in_want {
        return super::check_unlisted_wants(repo, settings, &HashSet::new(), wants);
    }
    let refs = refs.get()?;
    let mut tips: HashSet<ObjectId> = refs
        .iter()
        .flat_map(|r| [Some(r.id), r.peeled])
        .flatten()
        .collect();
    if let Some(id) = repo.head()?.id {
        tips.insert(id);
    }
    super::check_unlisted_wants(repo, settings, &tips, wants)
}

/// `object-info`: sizes of the requested objects.
fn object_info<R: Read, W: Write + Send>(
    s: &mut Session<'_, R, W>,
    req: &Request,
) -> Result<(), Error> {
    let mut size = false;
    let mut ids = Vec::new();
    for arg in &req.args {
        let a = arg.as_slice();
        if a == b"size" {
            size = true;
        } else if let Some(hex) = a.strip_prefix(b"oid ") {
            ids.push(
                s.repo
                    .hash_kind()
                    .id_from_hex(hex)
                    .map_err(|_| bad_arg("oid <id>", a))?,
            );
        } else {
            return Err(bad_arg("object-info argument (size, oid)", a));
        }
    }
    if size {
        s.writer.text("size")?;
        for id in ids {
            match s.repo.object_header(&id)? {
                Some((_, len)) => s.writer.text(&format!("{id} {len}"))?,
                None => s.writer.text(&format!("{id} "))?,
            }
        }
    }
    s.writer.flush_pkt()?;
    Ok(())
}

#[cfg(test)]
mod prefix_root_tests {
    use super::prefix_roots;

    fn roots(prefixes: &[&str]) -> Vec<String> {
        let owned: Vec<String> = prefixes.iter().map(|p| p.to_string()).collect();
        prefix_roots(&owned)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn prefixes_inside_others_and_outside_refs_are_dropped() {
        assert_eq!(roots(&[]), ["refs/"]);
        assert_eq!(
            roots(&["HEAD", "refs/tags/", "refs/heads/", "refs/heads/m"]),
            ["refs/heads/", "refs/tags/"]
        );
        assert_eq!(
            roots(&[
                "refs/heads/main",
                "refs/heads/ma",
                "main",
                "refs/heads/main"
            ]),
            ["refs/heads/ma"]
        );
        // A prefix that is not a directory keeps its siblings apart.
        assert_eq!(
            roots(&["refs/heads/a", "refs/heads/a-b", "refs/heads/a/"]),
            ["refs/heads/a"]
        );
        assert_eq!(roots(&["refs/heads/", "ref"]), ["refs/"]);
        assert_eq!(roots(&["refs/heads/", ""]), ["refs/"]);
        assert!(roots(&["HEAD", "main"]).is_empty());
    }
}
