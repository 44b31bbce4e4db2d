//! upload-pack for protocol v0/v1: serves clone, fetch and ls-remote.
//!
//! The conversation is an explicit state machine ([`State`]):
//!
//! ```text
//! Advertise ──► ReadWants ──► Negotiate ──► SendPack ──► Done
//!     │             │ (flush, no wants: ls-remote)   ▲
//!     │             └───────────► Done               │ (no-done + ready)
//!     └── (--advertise-refs) ──► Done                │
//!                               Negotiate ───────────┘
//! ```
//!
//! Every line read is checked against what is allowed in the current state; anything else ends
//! the request with an `ERR` pkt-line quoting it (or a sideband-3 message once the pack started).

mod advertised;
mod bundle_uri;
pub mod negotiate;
mod packfile_uris;
pub mod shallow;
mod v2;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::ops::ControlFlow;

use crate::backend::{self, Repository};
use crate::hash::ObjectId;
use crate::limits::Limits;
use crate::pack::write::{write_pack, WriteOptions};
use crate::protocol::capabilities::{self, always, Requested, Row};
use crate::protocol::keepalive::Keepalive;
use crate::protocol::pktline::{self, PacketLineRef, Reader, Writer};
use crate::protocol::sideband::{Channel, Mode, SidebandWriter};
use crate::protocol::{v0, Version};
use crate::service::progress_lines::ProgressLines;
use crate::service::settings::UploadPackSettings;
use crate::walk::{self, WalkOptions};

use negotiate::{AckMode, Negotiator, Reply};

/// How this request runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Protocol version the client asked for (v2 falls back to v0 here until v2 is served).
    pub version: Version,
    /// `--stateless-rpc`: one request/response round per process (smart HTTP).
    pub stateless_rpc: bool,
    /// `--advertise-refs`: only send the advertisement.
    pub advertise_refs: bool,
    /// Request limits.
    pub limits: Limits,
}

/// Why upload-pack stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing pkt-lines failed (including a malformed pkt-line from the client).
    #[error(transparent)]
    PktLine(#[from] pktline::Error),
    /// A client line was not allowed or malformed.
    #[error(transparent)]
    Line(#[from] v0::Error),
    /// A capability problem.
    #[error(transparent)]
    Capability(#[from] capabilities::Error),
    /// The repository could not answer.
    #[error(transparent)]
    Backend(#[from] backend::Error),
    /// Enumerating objects failed.
    #[error(transparent)]
    Walk(#[from] walk::Error),
    /// Writing the pack failed.
    #[error(transparent)]
    Pack(#[from] crate::pack::write::Error),
    /// A shallow request could not be served.
    #[error(transparent)]
    Shallow(#[from] shallow::Error),
    /// A filter spec was refused.
    #[error(transparent)]
    Filter(#[from] crate::filter::Error),
    /// The client wants an object it may not have.
    #[error("upload-pack: not our ref {0}")]
    NotOurRef(ObjectId),
    /// The client asked for a feature Sluice does not serve yet (shallow, filter).
    #[error("upload-pack: {0} is not supported")]
    Unsupported(&'static str),
    /// A limit from [`Limits`] was hit.
    #[error("upload-pack: too many {what} (limit {limit})")]
    Limit {
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The client closed the connection in the middle of the conversation.
    #[error("upload-pack: unexpected end of input while {0}")]
    UnexpectedEof(&'static str),
    /// An `uploadpack.*` setting has an invalid value.
    #[error(transparent)]
    Settings(#[from] crate::git_config::Error),
    /// Writing to the client failed.
    #[error("upload-pack: write failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What decides the advertised capabilities.
struct AdvertiseCtx {
    allow_filter: bool,
    allow_tip: bool,
    allow_reachable: bool,
    symref_head: Option<String>,
    object_format: &'static str,
}

/// The upload-pack capability table (advertisement order follows git's upload-pack).
static CAPABILITIES: &[Row<AdvertiseCtx>] = &[
    Row {
        name: "multi_ack",
        advertise: always,
    },
    Row {
        name: "thin-pack",
        advertise: always,
    },
    Row {
        name: "side-band",
        advertise: always,
    },
    Row {
        name: "side-band-64k",
        advertise: always,
    },
    Row {
        name: "ofs-delta",
        advertise: always,
    },
    Row {
        name: "shallow",
        advertise: always,
    },
    Row {
        name: "deepen-since",
        advertise: always,
    },
    Row {
        name: "deepen-not",
        advertise: always,
    },
    Row {
        name: "deepen-relative",
        advertise: always,
    },
    Row {
        name: "no-progress",
        advertise: always,
    },
    Row {
        name: "include-tag",
        advertise: always,
    },
    Row {
        name: "multi_ack_detailed",
        advertise: always,
    },
    Row {
        name: "allow-tip-sha1-in-want",
        advertise: |c| c.allow_tip.then_some(None),
    },
    Row {
        name: "allow-reachable-sha1-in-want",
        advertise: |c| c.allow_reachable.then_some(None),
    },
    Row {
        name: "no-done",
        advertise: always,
    },
    Row {
        name: "filter",
        advertise: |c| c.allow_filter.then_some(None),
    },
    Row {
        name: "symref",
        advertise: |c| c.symref_head.as_ref().map(|t| Some(format!("HEAD:{t}"))),
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

/// The states of the v0/v1 conversation.
enum State {
    /// Send the ref advertisement (skipped in stateless mode without `--advertise-refs`).
    Advertise,
    /// Read `want` (and capability) lines up to the first flush.
    ReadWants,
    /// Read `have` rounds until `done` (or `ready` with `no-done`).
    Negotiate,
    /// Send the pack.
    SendPack,
    /// Finished.
    Done,
}

/// Per-request state.
struct UploadPack<'a, R: Read, W: Write + Send> {
    repo: &'a dyn Repository,
    opts: &'a Options,
    /// The repository's `uploadpack.*` settings, read once.
    settings: UploadPackSettings,
    reader: Reader<R>,
    writer: Writer<W>,
    /// Every id the advertisement offered (ref values and peeled values).
    tips: HashSet<ObjectId>,
    /// The refs, kept for include-tag.
    refs: Vec<backend::Ref>,
    /// HEAD as read with the refs.
    head: Option<backend::Head>,
    advertised: Vec<(&'static str, Option<String>)>,
    caps: Requested,
    wants: Vec<ObjectId>,
    common: Vec<ObjectId>,
    /// What the client said about shallowness (and the resulting plan).
    shallow: shallow::ShallowRequest,
    plan: shallow::ShallowPlan,
    filter: Option<crate::filter::Filter>,
    /// Set once pack data started flowing: errors then go to sideband 3.
    pack_started: bool,
}

/// Serves one upload-pack request on `input`/`output` for `repo`.
///
/// On a protocol error the client gets an `ERR` pkt-line (or a sideband-3 message once the pack
/// has started) and the error is returned for the exit code and the log.
pub fn serve<R: Read, W: Write + Send>(
    repo: &dyn Repository,
    opts: &Options,
    input: R,
    output: W,
) -> Result<(), Error> {
    let settings = match UploadPackSettings::from_config(repo.config()) {
        Ok(s) => s,
        Err(e) => {
            let mut writer = Writer::new(output);
            let _ = writer.err(&e.to_string()).and_then(|()| writer.flush());
            return Err(e.into());
        }
    };
    if opts.version == Version::V2 {
        return v2::serve(repo, opts, settings, input, output);
    }
    let mut up = UploadPack {
        repo,
        opts,
        settings,
        reader: Reader::new(input),
        writer: Writer::new(output),
        tips: HashSet::new(),
        refs: Vec::new(),
        head: None,
        advertised: Vec::new(),
        caps: Requested::default(),
        wants: Vec::new(),
        common: Vec::new(),
        shallow: shallow::ShallowRequest::default(),
        plan: shallow::ShallowPlan::default(),
        filter: None,
        pack_started: false,
    };
    let result = up.run();
    if let Err(e) = &result {
        up.report(e);
    }
    result
}

impl<R: Read, W: Write + Send> UploadPack<'_, R, W> {
    fn run(&mut self) -> Result<(), Error> {
        let mut state = if self.opts.stateless_rpc && !self.opts.advertise_refs {
            // Smart-HTTP POST: the client saw the advertisement in an earlier request; compute
            // the same tips to validate wants against current refs.
            self.load_head_and_caps()?;
            self.refs = self.repo.refs()?;
            State::ReadWants
        } else {
            State::Advertise
        };
        let mut negotiator: Option<Negotiator<'_>> = None;
        loop {
            state = match state {
                State::Advertise => {
                    self.advertise()?;
                    if self.opts.advertise_refs {
                        State::Done
                    } else {
                        State::ReadWants
                    }
                }
                State::ReadWants => {
                    if self.read_wants()? {
                        // Pick the ack strategy from the capabilities.
                        let mode = if self.caps.has("multi_ack_detailed") {
                            AckMode::MultiDetailed
                        } else if self.caps.has("multi_ack") {
                            AckMode::Multi
                        } else {
                            AckMode::Single
                        };
                        negotiator = Some(Negotiator::new(
                            self.repo,
                            &self.wants,
                            mode,
                            self.caps.has("no-done"),
                        )?);
                        State::Negotiate
                    } else {
                        // Flush (or EOF) without wants: ls-remote, or nothing to do.
                        State::Done
                    }
                }
                State::Negotiate => {
                    let n = negotiator
                        .as_mut()
                        .ok_or(Error::Unsupported("negotiation"))?;
                    match self.negotiate(n)? {
                        true => {
                            self.common = n.common().to_vec();
                            State::SendPack
                        }
                        // Stateless round answered: the next POST continues.
                        false => State::Done,
                    }
                }
                State::SendPack => {
                    self.send_pack()?;
                    State::Done
                }
                State::Done => return Ok(()),
            }
        }
    }

    /// Reads HEAD and computes the capabilities to advertise (the refs are read by the caller:
    /// streamed by the advertisement, collected by a stateless POST).
    fn load_head_and_caps(&mut self) -> Result<(), Error> {
        let head = self.repo.head()?;
        self.head = Some(head.clone());
        self.refs.clear();
        // Built when wants arrive (an ls-remote never needs them).
        self.tips.clear();
        let settings = &self.settings;
        let ctx = AdvertiseCtx {
            allow_filter: settings.allow_filter,
            allow_tip: settings.allow_tip_sha1_in_want,
            // Default on when filters are served (see `check_unlisted_wants`).
            allow_reachable: settings
                .allow_reachable_sha1_in_want
                .unwrap_or(settings.allow_filter),
            symref_head: head.id.and(head.symref_target.clone()),
            object_format: self.repo.hash_kind().name(),
        };
        self.advertised = capabilities::advertised(CAPABILITIES, &ctx);
        Ok(())
    }

    /// Sends the v0/v1 ref advertisement and its flush.
    fn advertise(&mut self) -> Result<(), Error> {
        self.load_head_and_caps()?;
        if self.opts.version == Version::V1 {
            self.writer.text("version 1")?;
        }
        let caps = capabilities::to_v0_string(&self.advertised);
        let head = match self.head.clone() {
            Some(h) => h,
            None => self.repo.head()?,
        };
        // Streamed through one buffer; the capabilities ride on the first line.
        let mut line = Vec::with_capacity(256);
        let mut caps = Some(caps.as_str());
        if let Some(id) = head.id {
            v0::ref_line_into(&mut line, &id, "HEAD", "", caps.take());
            self.writer.data(&line)?;
        }
        // Each ref is written as it is read (the first bytes leave before the last ref is
        // read) and kept for the checks of the wants that follow, unless none can follow (the
        // advertisement of smart HTTP's GET).
        let (writer, refs) = (&mut self.writer, &mut self.refs);
        let keep = !self.opts.advertise_refs;
        let mut write_error = None;
        self.repo.for_each_ref("refs/", &mut |r| {
            v0::ref_line_into(&mut line, &r.id, &r.name, "", caps.take());
            let mut sent = writer.data(&line);
            if let (Ok(()), Some(p)) = (&sent, r.peeled) {
                v0::ref_line_into(&mut line, &p, &r.name, "^{}", None);
                sent = writer.data(&line);
            }
            if keep {
                refs.push(r);
            }
            Ok(match sent {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    write_error = Some(e);
                    ControlFlow::Break(())
                }
            })
        })?;
        if let Some(e) = write_error {
            return Err(e.into());
        }
        if let Some(caps) = caps {
            let null = self.repo.hash_kind().null();
            v0::ref_line_into(&mut line, &null, "capabilities^{}", "", Some(caps));
            self.writer.data(&line)?;
        }
        // A shallow repository names its cut-off commits, so a client records them in its own
        // `shallow` file (C git's advertise_shallow_grafts).
        if let Some(roots) = self.repo.shallow_roots() {
            let mut roots: Vec<&ObjectId> = roots.iter().collect();
            roots.sort();
            for id in roots {
                self.writer.text(&format!("shallow {id}"))?;
            }
        }
        self.writer.flush_pkt()?;
        self.writer.flush()?;
        Ok(())
    }

    /// Reads the next pkt-line as an owned [`Line`] (the payload without its newline).
    fn next_line(&mut self) -> Result<Line, Error> {
        Ok(match self.reader.read_line()? {
            None => Line::Eof,
            Some(PacketLineRef::Flush) => Line::Flush,
            Some(PacketLineRef::Delim) => Line::Other("delim-pkt (0001)"),
            Some(PacketLineRef::ResponseEnd) => Line::Other("response-end-pkt (0002)"),
            Some(l @ PacketLineRef::Data(_)) => {
                Line::Data(l.as_text().unwrap_or_default().to_vec())
            }
        })
    }

    /// Reads the want block. Returns false when the client sent no wants (a flush right away,
    /// or EOF right after the advertisement).
    fn read_wants(&mut self) -> Result<bool, Error> {
        let mut first = true;
        loop {
            let text = match self.next_line()? {
                Line::Eof if self.wants.is_empty() => return Ok(false),
                Line::Eof => return Err(Error::UnexpectedEof("reading wants")),
                Line::Flush => break,
                Line::Other(what) => {
                    return Err(v0::Error::Unexpected {
                        expected: "want lines or flush",
                        line: what.into(),
                    }
                    .into())
                }
                Line::Data(text) => text,
            };
            match v0::parse_want_line(&text, self.repo.hash_kind())? {
                v0::WantLine::Want { id, caps } => {
                    if let Some(caps) = caps {
                        if !first {
                            return Err(v0::Error::Unexpected {
                                expected: "capabilities only on the first want",
                                line: String::from_utf8_lossy(&text).into_owned(),
                            }
                            .into());
                        }
                        self.set_caps(caps)?;
                    }
                    first = false;
                    if self.wants.len() >= self.opts.limits.max_wants {
                        return Err(Error::Limit {
                            what: "want lines",
                            limit: self.opts.limits.max_wants,
                        });
                    }
                    self.wants.push(id);
                }
                v0::WantLine::Shallow(id) => {
                    if client_shallow_commit(self.repo, &id)? {
                        self.shallow.client_shallow.push(id);
                    }
                }
                v0::WantLine::Deepen(n) => self.shallow.depth = Some(n),
                v0::WantLine::DeepenSince(t) => self.shallow.since = Some(t),
                v0::WantLine::DeepenNot(r) => self.shallow.not.push(r.to_string()),
                v0::WantLine::Filter(spec) => {
                    if !self.caps.has("filter") {
                        return Err(Error::Unsupported("filter without the filter capability"));
                    }
                    self.filter = Some(crate::filter::Filter::parse(spec)?);
                }
            }
        }
        if self.wants.is_empty() {
            return Ok(false);
        }
        self.check_wants()?;
        self.shallow.relative = self.caps.has("deepen-relative");
        if self.shallow.any() {
            self.plan = shallow::plan(self.repo, &self.refs, &self.wants, &self.shallow)?;
        }
        // Only a deepening request gets the shallow/unshallow section (and its flush).
        if self.shallow.deepens() {
            for id in &self.plan.shallow {
                self.writer.text(&format!("shallow {id}"))?;
            }
            for id in &self.plan.unshallow {
                self.writer.text(&format!("unshallow {id}"))?;
            }
            self.writer.flush_pkt()?;
            self.writer.flush()?;
        }
        Ok(true)
    }

    /// Records the client's capability list `caps`, refusing what was not advertised.
    fn set_caps(&mut self, caps: &[u8]) -> Result<(), Error> {
        let requested = Requested::parse(caps, &self.advertised)?;
        if requested.has("side-band") && requested.has("side-band-64k") {
            return Err(capabilities::Error::Conflict("side-band", "side-band-64k").into());
        }
        // C git's v0 upload-pack leaves this to the client, which refuses a mismatch itself;
        // a client that names another format would only get ids it cannot read.
        if let Some(format) = requested.value("object-format") {
            capabilities::check_object_format(self.repo.hash_kind(), Some(format))?;
        }
        tracing::debug!(caps = %String::from_utf8_lossy(caps), "client capabilities");
        self.caps = requested;
        Ok(())
    }

    /// Every want must be an advertised tip, or allowed by `uploadpack.allow*SHA1InWant`.
    fn check_wants(&mut self) -> Result<(), Error> {
        if self.tips.is_empty() {
            let head = self.head.as_ref().and_then(|h| h.id);
            self.tips.extend(head);
            for r in &self.refs {
                self.tips.insert(r.id);
                self.tips.extend(r.peeled);
            }
        }
        check_unlisted_wants(self.repo, &self.settings, &self.tips, &self.wants)
    }

    /// Runs negotiation rounds. Returns true when the pack must be sent, false when a stateless
    /// round was answered and the request is over.
    fn negotiate(&mut self, n: &mut Negotiator<'_>) -> Result<bool, Error> {
        let mut haves = 0usize;
        let mut rounds = 0usize;
        loop {
            match self.next_line()? {
                Line::Data(text) => match v0::parse_negotiation_line(&text, self.repo.hash_kind())?
                {
                    v0::NegotiationLine::Have(id) => {
                        haves += 1;
                        if haves > self.opts.limits.max_haves {
                            return Err(Error::Limit {
                                what: "have lines",
                                limit: self.opts.limits.max_haves,
                            });
                        }
                        let replies = n.have(&id)?;
                        self.send_replies(&replies)?;
                    }
                    v0::NegotiationLine::Done => {
                        let replies = n.done();
                        self.send_replies(&replies)?;
                        return Ok(true);
                    }
                },
                Line::Flush => {
                    rounds += 1;
                    if rounds > self.opts.limits.max_rounds {
                        return Err(Error::Limit {
                            what: "negotiation rounds",
                            limit: self.opts.limits.max_rounds,
                        });
                    }
                    let outcome = n.flush()?;
                    self.send_replies(&outcome.replies)?;
                    self.writer.flush()?;
                    if outcome.send_pack_now {
                        return Ok(true);
                    }
                    if self.opts.stateless_rpc {
                        return Ok(false);
                    }
                }
                // Smart HTTP: the client may end a POST right after the want block.
                Line::Eof if self.opts.stateless_rpc => return Ok(false),
                Line::Eof => return Err(Error::UnexpectedEof("negotiating")),
                Line::Other(what) => {
                    return Err(v0::Error::Unexpected {
                        expected: "have, done or flush",
                        line: what.into(),
                    }
                    .into())
                }
            }
        }
    }

    fn send_replies(&mut self, replies: &[Reply]) -> Result<(), Error> {
        for r in replies {
            self.writer.text(&r.to_line())?;
        }
        Ok(())
    }

    /// Counts and streams the pack, on sideband 1 when negotiated, with progress on band 2.
    fn send_pack(&mut self) -> Result<(), Error> {
        self.writer.flush()?;
        let mode = if self.caps.has("side-band-64k") {
            Mode::SideBand64k
        } else if self.caps.has("side-band") {
            Mode::SideBand
        } else {
            Mode::None
        };
        let mut wants = self.wants.clone();
        wants.extend(self.plan.extra_wants.iter().copied());
        let tags: Vec<backend::Ref> = match self.caps.has("include-tag") {
            true => advertised::tag_refs(&self.refs),
            false => Vec::new(),
        };
        let req = PackRequest {
            wants: &wants,
            common: &self.common,
            tags: &tags,
            mode,
            progress: !self.caps.has("no-progress"),
            ofs_delta: self.caps.has("ofs-delta"),
            thin: self.caps.has("thin-pack"),
            include_tag: self.caps.has("include-tag"),
            use_bitmaps: self.settings.use_bitmaps,
            keepalive: self.settings.keepalive,
            uris: None,
            walk: WalkOptions {
                shallow: self.plan.walk_shallow.clone(),
                extra_edges: self.plan.extra_edges.clone(),
                filter: self.filter.clone(),
                check_blobs: false,
                record_children: false,
                expected_objects: 0,
            },
        };
        self.pack_started = true;
        stream_pack(self.repo, &req, self.writer.get_mut())
    }

    /// Tells the client about `e`: an `ERR` line before the pack, a sideband-3 message after.
    fn report(&mut self, e: &Error) {
        // A client that went away cannot be told anything.
        if matches!(e, Error::Io(_)) || matches!(e, Error::PktLine(pktline::Error::Io(_))) {
            return;
        }
        let text = e.to_string();
        let result = if self.pack_started {
            let mode = if self.caps.has("side-band-64k") {
                Mode::SideBand64k
            } else if self.caps.has("side-band") {
                Mode::SideBand
            } else {
                Mode::None
            };
            if mode == Mode::None {
                Ok(())
            } else {
                let mut band = SidebandWriter::new(self.writer.get_mut(), mode);
                band.send(Channel::Error, format!("{text}\n").as_bytes())
            }
        } else {
            self.writer.err(&text)
        };
        let _ = result.and_then(|()| self.writer.flush());
    }
}

/// A `shallow <id>` line names a commit we have (unknown ids are ignored, as git does; a
/// non-commit is an error).
pub(crate) fn client_shallow_commit(repo: &dyn Repository, id: &ObjectId) -> Result<bool, Error> {
    match repo.object_header(id)? {
        None => Ok(false),
        Some((crate::odb::Kind::Commit, _)) => Ok(true),
        Some(_) => Err(Error::Line(v0::Error::Malformed {
            command: "shallow",
            line: format!("invalid shallow object {id}"),
        })),
    }
}

/// Checks `wants` that are not in `tips` (the advertised refs) against
/// `uploadpack.allowTipSHA1InWant` (the tips of hidden refs), `allowReachableSHA1InWant` (what
/// any ref, hidden or not, reaches) and `allowAnySHA1InWant`.
pub(crate) fn check_unlisted_wants(
    repo: &dyn Repository,
    settings: &UploadPackSettings,
    tips: &HashSet<ObjectId>,
    wants: &[ObjectId],
) -> Result<(), Error> {
    let unlisted: Vec<&ObjectId> = wants.iter().filter(|w| !tips.contains(w)).collect();
    if unlisted.is_empty() {
        return Ok(());
    }
    let allow_any = settings.allow_any_sha1_in_want;
    if allow_any {
        // Any object, as long as it exists.
        for want in unlisted {
            if repo.object_header(want)?.is_none() {
                return Err(Error::NotOurRef(*want));
            }
        }
        return Ok(());
    }
    // Partial clones fetch missing blobs by id later: when filters are served, objects reachable
    // from the refs may be wanted unless the config says otherwise.
    let allow_reachable = settings.allow_reachable();
    // As C git's `is_our_ref`: either setting makes hidden refs' tips ours again, but only when
    // set: the reachability Sluice allows by default (for filters) stops at the visible refs.
    let hidden = if settings.hidden_tips_are_ours() {
        repo.hidden_tips()?
    } else {
        Vec::new()
    };
    let tips: std::borrow::Cow<'_, HashSet<ObjectId>> = if hidden.is_empty() {
        std::borrow::Cow::Borrowed(tips)
    } else {
        std::borrow::Cow::Owned(tips.iter().chain(&hidden).copied().collect())
    };
    let tip_list: Vec<ObjectId> = tips.iter().copied().collect();
    // The walk's list, looked up by id: no second table of every reachable object.
    let mut reachable_objects: Option<walk::PackList> = None;
    for want in wants.iter().filter(|w| !tips.contains(w)) {
        let Some((kind, _)) = repo.object_header(want)? else {
            return Err(Error::NotOurRef(*want));
        };
        if allow_reachable {
            if kind == crate::odb::Kind::Commit {
                let mut cache = walk::CommitCache::default();
                if walk::is_reachable(repo, &mut cache, &tip_list, want, i64::MIN)? {
                    continue;
                }
            } else {
                // Trees and blobs: one walk of everything reachable, shared by all such wants.
                if reachable_objects.is_none() {
                    let all = walk::objects_for_pack(
                        repo,
                        &tip_list,
                        &[],
                        &WalkOptions::default(),
                        &mut crate::progress::Discard,
                    )?;
                    reachable_objects = Some(all.objects);
                }
                if reachable_objects.as_ref().is_some_and(|r| r.contains(want)) {
                    continue;
                }
            }
        }
        return Err(Error::NotOurRef(*want));
    }
    Ok(())
}

/// What to put in a pack and how to send it (shared by v0/v1 and v2).
pub(crate) struct PackRequest<'a> {
    wants: &'a [ObjectId],
    common: &'a [ObjectId],
    /// The refs under `refs/tags/`: `include-tag`'s candidates, as C git's pack-objects reads
    /// only those (empty without `include-tag`).
    tags: &'a [backend::Ref],
    mode: Mode,
    progress: bool,
    ofs_delta: bool,
    thin: bool,
    include_tag: bool,
    walk: WalkOptions,
    /// `pack.useBitmaps`.
    use_bitmaps: bool,
    /// `uploadpack.keepAlive` (`None`: disabled).
    keepalive: Option<std::time::Duration>,
    /// v2 `packfile-uris`: when set, objects the client downloads from a URI are left out, and
    /// the `packfile-uris` section and the `packfile` header are written once they are known.
    uris: Option<packfile_uris::UriRequest<'a>>,
}

/// Most objects for which a pack written from a walk keeps the stored entries the delta search
/// looked up until they are written (at most about 5 MB); a larger list looks each up again.
const KEEP_STORED_MAX: usize = 1 << 16;

/// Counts the objects of `req` and streams the pack to `out` (sideband-multiplexed unless
/// `Mode::None`, then ends with a flush).
fn stream_pack<W: Write + Send>(
    repo: &dyn Repository,
    req: &PackRequest<'_>,
    out: &mut W,
) -> Result<(), Error> {
    let band = SidebandWriter::new(out, req.mode);
    // Keepalives from the start, as C git's while pack-objects is quiet. Deviation: with
    // packfile-uris only once that section is written (C git's start at once), so the client
    // reads the section headers it parses before any empty packet.
    let armed = req.uris.is_none();
    let (sent, _) = Keepalive::run(band, req.keepalive, armed, |band| {
        send_pack_on(repo, req, band)
    });
    sent
}

/// [`stream_pack`]'s work, every write through `band`.
fn send_pack_on<W: Write>(
    repo: &dyn Repository,
    req: &PackRequest<'_>,
    band: &Keepalive<W>,
) -> Result<(), Error> {
    let mode = req.mode;
    let show_progress = mode != Mode::None && req.progress;
    let mut progress = ProgressLines::new(move |line: &[u8]| {
        if show_progress {
            // Progress is best effort: a failure shows up on the next pack write.
            let _ = band.with(|b| b.send(Channel::Progress, line));
        }
    });
    #[cfg(feature = "fault-injection")]
    crate::fault::pause("upload-pack-prepare");
    let search = crate::pack::delta_search::SearchOptions::from_config(repo.config())
        .map_err(backend::Error::from)?;
    let opts = WriteOptions {
        ofs_delta: req.ofs_delta,
        thin: req.thin,
        max_delta_depth: search.depth,
        search,
        ..WriteOptions::default()
    };
    // The bitmap path sends whole stored packs; with URIs the object list must be known first.
    let bitmap = match req.uris {
        None => send_with_bitmap(repo, req, &opts, band, &mut progress)?,
        Some(_) => None,
    };
    if let Some(stats) = bitmap {
        log_sent(&stats, true);
        return end_pack(band, mode);
    }
    // A full clone (nothing had, no filter, no shallow boundary) chooses about every object of
    // the repository's largest pack: the walk's list is allocated once, at that size.
    let full_clone =
        req.common.is_empty() && req.walk.filter.is_none() && req.walk.shallow.is_empty();
    let walk_opts = WalkOptions {
        expected_objects: match repo.reuse_pack() {
            Some(pack) if full_clone => pack.object_count(),
            _ => 0,
        },
        ..req.walk.clone()
    };
    let walk = walk::objects_for_pack(repo, req.wants, req.common, &walk_opts, &mut progress)?;
    // The client's versions of the paths sent, as delta bases (git: the trees of at most
    // `pack.window` boundary commits). Not for a partial clone, which may lack them.
    let bases = if req.thin && req.walk.filter.is_none() && opts.search.window >= 2 {
        walk::preferred_bases(repo, &walk, opts.search.window)?
    } else {
        Vec::new()
    };
    let mut objects = walk.objects;
    if req.include_tag {
        include_tags(repo, req.tags, &mut objects)?;
    }
    if let Some(uris) = &req.uris {
        let excluded = uris.exclude(&mut objects);
        band.with(|b| packfile_uris::write_sections(b, &excluded))?;
        band.arm();
    }
    // With bases the client has, the objects stored whole (mostly the newest versions of files
    // the client holds older ones of) are searched for deltas against them, as git's
    // `pack-objects --thin` does: copying the stored pack's entries cannot do that.
    let in_pack_order = if bases.is_empty() {
        in_pack_order(repo, &objects, &walk.edge, &opts, &mut progress)?
    } else {
        None
    };
    let stats = match in_pack_order {
        Some(order) => {
            // The list and the edge live on as the two bitmaps: freed before the stored
            // entries are copied, while the pack's pages become resident (tokio's
            // 150,000-object list is 6 MB less held then).
            drop(objects);
            drop(walk.edge);
            send_in_pack_order(repo, order, &opts, band, &mut progress)?
        }
        None => {
            // The writers take a slice: the list is freed once copied into one.
            let list = objects.to_vec();
            drop(objects);
            // A fetch's list is short: each stored entry the delta search looks up is kept until
            // written (about 80 bytes an object), sparing the writer's second look-up (the
            // `.idx` search and two reverse-index searches), a third of its serial tail.
            let opts = WriteOptions {
                keep_stored: list.len() <= KEEP_STORED_MAX,
                ..opts
            };
            let mut data = BandData(band);
            let stats = write_pack(
                repo,
                &list,
                &walk.edge,
                &bases,
                &opts,
                &mut data,
                &mut progress,
            )?;
            data.flush()?;
            stats
        }
    };
    log_sent(&stats, false);
    end_pack(band, mode)
}

/// The log line of a pack sent, through the bitmap path or not.
fn log_sent(stats: &crate::pack::write::WriteStats, bitmap: bool) {
    tracing::info!(
        objects = stats.objects,
        reused = stats.reused,
        bytes = stats.bytes,
        bitmap,
        "pack sent"
    );
}

/// Flushes the sideband and ends it with a flush packet (unless the pack went out raw).
fn end_pack<W: Write>(band: &Keepalive<W>, mode: Mode) -> Result<(), Error> {
    band.with(|band| {
        band.flush()?;
        if mode != Mode::None {
            band.get_mut().write_all(b"0000")?;
        }
        band.get_mut().flush()
    })?;
    Ok(())
}

/// After a history walk: when every chosen object is in the repository's largest pack, that
/// pack with the objects to send and the client's edge as bitmaps of its positions, so they are
/// sent in its order and runs of stored entries are copied as they are (see
/// [`crate::pack::reuse`]), and new bases for the entries whose stored base stays behind
/// ([`rebase_orphans`]); `None` when some object lives elsewhere.
fn in_pack_order<'r>(
    repo: &'r dyn Repository,
    objects: &walk::PackList,
    edge: &crate::hash::PackedIdSet,
    opts: &WriteOptions,
    progress: &mut dyn crate::progress::Progress,
) -> Result<Option<InPackOrder<'r>>, Error> {
    let Some(pack) = repo.reuse_pack() else {
        return Ok(None);
    };
    let n = pack.object_count();
    let mut send = crate::pack::ewah::Bitmap::with_len(n);
    for id in objects.ids() {
        match pack.position(&id) {
            Some(p) => send.set(p),
            None => return Ok(None),
        }
    }
    let mut have = crate::pack::ewah::Bitmap::with_len(n);
    for id in edge.iter() {
        if let Some(p) = pack.position(&id) {
            have.set(p);
        }
    }
    // The walk named every object: its kind and path hash, by pack position.
    let names = || {
        let mut names = vec![None; n];
        for o in objects.iter() {
            if let Some(slot) = pack.position(&o.id).and_then(|p| names.get_mut(p)) {
                *slot = Some((o.kind, o.name_hash));
            }
        }
        names
    };
    let rebased = rebase_orphans(repo, pack, &send, &have, names, opts, progress)?;
    Ok(Some(InPackOrder {
        pack,
        send,
        have,
        rebased,
    }))
}

/// New bases for the entries of `pack` at `send` stored as deltas against a base neither sent
/// nor had (C git's `prepare_pack` searches exactly those; copied whole, a clone of the branches
/// of a repository whose bases sit under `refs/pull/*` was 3.4 times C git's bytes). `names`
/// gives each position's kind and path hash, built only when there are orphans.
fn rebase_orphans(
    repo: &dyn Repository,
    pack: &dyn crate::pack::stored::StoredPack,
    send: &crate::pack::ewah::Bitmap,
    have: &crate::pack::ewah::Bitmap,
    names: impl FnOnce() -> Vec<Option<(crate::odb::Kind, u32)>>,
    opts: &WriteOptions,
    progress: &mut dyn crate::progress::Progress,
) -> Result<crate::pack::orphans::NewBases, Error> {
    use crate::pack::orphans;
    let found = orphans::find(pack, send, have, opts.thin)?;
    if found.is_empty() || opts.search.window < 2 {
        return Ok(orphans::NewBases::default());
    }
    let names = names();
    let name = |p: usize| names.get(p).copied().flatten();
    Ok(orphans::search(
        repo, pack, send, &found, &name, opts, progress,
    )?)
}

/// What [`in_pack_order`] found: the pack, what to send of it and what the client has, and the
/// new bases of orphaned deltas.
struct InPackOrder<'r> {
    pack: &'r dyn crate::pack::stored::StoredPack,
    send: crate::pack::ewah::Bitmap,
    have: crate::pack::ewah::Bitmap,
    rebased: crate::pack::orphans::NewBases,
}

/// Sends `order`'s objects in its pack's order.
fn send_in_pack_order<W: Write>(
    repo: &dyn Repository,
    order: InPackOrder<'_>,
    opts: &WriteOptions,
    band: &Keepalive<W>,
    progress: &mut dyn crate::progress::Progress,
) -> Result<crate::pack::write::WriteStats, Error> {
    let mut data = BandData(band);
    let stats = crate::pack::reuse::write_pack_from_bitmap(
        repo,
        order.pack,
        &order.send,
        &order.have,
        &order.rebased,
        opts,
        &mut data,
        progress,
    )?;
    data.flush()?;
    Ok(stats)
}

/// Sends the pack from the repository's reachability bitmap when it can answer this request
/// exactly (no shallow boundary, no filter, every want and common commit in the bitmapped pack,
/// `pack.useBitmaps` not false); `None` when the history walk must do it.
fn send_with_bitmap<W: Write>(
    repo: &dyn Repository,
    req: &PackRequest<'_>,
    opts: &WriteOptions,
    band: &Keepalive<W>,
    progress: &mut dyn crate::progress::Progress,
) -> Result<Option<crate::pack::write::WriteStats>, Error> {
    let Some(pack) = repo.bitmapped_pack() else {
        return Ok(None);
    };
    let simple =
        req.walk.shallow.is_empty() && req.walk.extra_edges.is_empty() && req.walk.filter.is_none();
    if !simple || !req.use_bitmaps {
        return Ok(None);
    }
    let Some(mut count) = crate::pack::bitmap::count::count(repo, pack, req.wants, req.common)?
    else {
        tracing::debug!("bitmap cannot answer this request; walking");
        return Ok(None);
    };
    if req.include_tag
        && !crate::pack::bitmap::count::include_tags(pack, req.tags, repo, &mut count)?
    {
        return Ok(None);
    }
    let total = count.send.count();
    progress.finish("Enumerating objects", total, None);
    // Kinds from the type bitmaps, path hashes from the bitmap's name-hash cache (0 without
    // one, as git's bitmap path has then).
    let names = || {
        (0..pack.object_count())
            .map(|p| Some((pack.kind_at(p)?, pack.name_hash_at(p).unwrap_or(0))))
            .collect()
    };
    let rebased = rebase_orphans(repo, pack, &count.send, &count.have, names, opts, progress)?;
    let mut data = BandData(band);
    let stats = crate::pack::reuse::write_pack_from_bitmap(
        repo,
        pack,
        &count.send,
        &count.have,
        &rebased,
        opts,
        &mut data,
        progress,
    )?;
    data.flush()?;
    Ok(Some(stats))
}

/// Adds annotated tags whose target is in the pack (the `include-tag` capability).
fn include_tags(
    repo: &dyn Repository,
    refs: &[backend::Ref],
    objects: &mut walk::PackList,
) -> Result<(), Error> {
    // The list is its own index: no set of every object sent (a clone's 150,000 ids, 8 MB of
    // table) is built here.
    for r in refs {
        let (Some(peeled), false) = (r.peeled, objects.contains(&r.id)) else {
            continue;
        };
        if !objects.contains(&peeled) {
            continue;
        }
        // Add the whole chain of tag objects from the ref down to the peeled object.
        let stopped =
            crate::refs::resolve::walk_tag_chain(repo, r.id, peeled, &mut |id| match objects
                .insert(walk::PackObject::unnamed(id, crate::odb::Kind::Tag))
            {
                Ok(true) => ControlFlow::Continue(()),
                Ok(false) => ControlFlow::Break(None),
                Err(e) => ControlFlow::Break(Some(e)),
            })?;
        if let Some(Some(e)) = stopped {
            return Err(e.into());
        }
    }
    Ok(())
}

/// One pkt-line as read, owned.
enum Line {
    Data(Vec<u8>),
    Flush,
    Other(&'static str),
    Eof,
}

/// The pack writer's view of sideband 1.
struct BandData<'k, W: Write>(&'k Keepalive<W>);

impl<W: Write> Write for BandData<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.with(|b| b.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.with(|b| b.flush())
    }
}

#[cfg(test)]
mod tests;
