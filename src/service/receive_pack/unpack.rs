//! The unpack phase: the pack that follows the commands is read into a quarantine, every
//! commit, tree and tag checked (fsck) while it is indexed, the checks needing the whole push
//! run against the quarantine view, and the links of the received objects collected to learn
//! whether the pack is self-contained (then its tips need no connectivity walk). A refused
//! pack drops the quarantine: nothing it held becomes visible.

use std::io::{Read, Write};

use crate::backend::{Quarantine, Repository};
use crate::hash::{ObjectId, PackedIdSet};
use crate::limits::Limits;
use crate::odb::Kind;
use crate::progress::Progress;
use crate::protocol::keepalive::Keepalive;
use crate::service::progress_lines::ProgressLines;

use super::fsck;
use super::output::ClientOutput;

/// The outcome of the unpack phase.
pub(crate) struct Unpacked<'r> {
    /// The received objects, held apart (`None`: no pack was read, or it was refused).
    pub quarantine: Option<Box<dyn Quarantine + 'r>>,
    /// `unpack ok` or the reason for `unpack <error>` in the report.
    pub status: Result<(), String>,
    /// The received objects when all their links stay inside the pack.
    pub self_contained: Option<PackedIdSet>,
}

/// How the pack is read.
pub(crate) struct UnpackOptions<'a> {
    /// Size limits for the pack (already capped by `receive.maxInputSize`).
    pub limits: &'a Limits,
    /// The client asked for `quiet`: no progress lines (warnings still go out).
    pub quiet: bool,
    /// Whether any command needs objects (a push of only deletes sends no pack).
    pub needs_pack: bool,
    /// A refusal decided before the pack (too many commands): the pack is drained, not read.
    pub refused: Option<String>,
}

/// Reads the pack from `input` (the raw bytes after the commands) into a quarantine of `repo`.
pub(crate) fn unpack<'r, R: Read, W: Write>(
    repo: &'r dyn Repository,
    mut input: R,
    opts: &UnpackOptions<'_>,
    out: &mut ClientOutput<W>,
) -> Unpacked<'r> {
    let mut result = Unpacked {
        quarantine: None,
        status: opts.refused.clone().map_or(Ok(()), Err),
        self_contained: None,
    };
    let checker = fsck::checker(repo);
    if opts.needs_pack {
        if result.status.is_ok() {
            result.status = receive(repo, &mut input, opts, &checker, out).map(|(q, sc)| {
                result.quarantine = Some(q);
                result.self_contained = sc;
            });
        }
        if result.status.is_err() {
            // The client may still be sending the rest of a refused pack; read (a bounded
            // amount of) it so it gets to read our report instead of a broken pipe.
            let _ = std::io::copy(&mut (&mut input).take(64 << 20), &mut std::io::sink());
        }
    }
    // Whatever happened to the pack, the client now waits for the report.
    out.keepalive().arm();
    if let Ok(c) = &checker {
        for line in fsck::warning_lines(c) {
            out.progress(&line);
        }
    }
    if let Err(e) = &result.status {
        tracing::warn!(error = %e, "unpack failed");
    }
    result
}

type Received<'r> = (Box<dyn Quarantine + 'r>, Option<PackedIdSet>);

/// Receives and checks the pack; returns the quarantine and, if the pack is self-contained,
/// the ids it holds.
fn receive<'r, R: Read, W: Write>(
    repo: &'r dyn Repository,
    input: &mut R,
    opts: &UnpackOptions<'_>,
    checker: &Result<crate::odb::fsck::Checker, String>,
    out: &mut ClientOutput<W>,
) -> Result<Received<'r>, String> {
    let checker = checker.as_ref().map_err(Clone::clone)?;
    // Objects are checked from several threads (deltas resolve in parallel). The checks also
    // collect the links of the received commits, trees and tags: when all of them point into
    // the pack itself, everything it holds is connected (git's
    // check-self-contained-and-connected).
    let check = |id: &ObjectId, kind: Kind, data: &[u8]| -> Result<(), String> {
        checker.check(id, kind, data).map_err(|e| e.to_string())
    };
    let mut q = repo.begin_quarantine().map_err(|e| e.to_string())?;
    let received = {
        let quiet = opts.quiet;
        let keepalive = out.keepalive();
        let mut lines = ProgressLines::new(|b: &[u8]| {
            if !quiet {
                out.progress(b)
            }
        });
        let mut progress = Arming {
            progress: &mut lines,
            keepalive,
        };
        q.receive_pack(input, opts.limits, &check, &mut progress)
            .map_err(|e| e.to_string())?
    };
    tracing::debug!(objects = received.len(), "pack received");
    let sent: PackedIdSet = received.iter().map(|(id, _)| *id).collect();
    let self_contained = checker.links_within(&sent);
    // Checks needing the whole push: link kinds, .gitmodules/.gitattributes blobs, tag types,
    // tree depth.
    checker
        .finish(&fsck::Objects(q.view()), &received)
        .map_err(|e| e.to_string())?;
    Ok((q, self_contained.then_some(sent)))
}

/// Progress that arms the keepalive once the whole pack is read: indexing, delta resolution
/// and the checks can then be long and, for a `quiet` client, silent (C git's receive-pack
/// starts its keepalives at index-pack's NUL, the same moment).
struct Arming<'p, 'k, W: Write> {
    progress: &'p mut dyn Progress,
    keepalive: &'k Keepalive<W>,
}

impl<W: Write> Progress for Arming<'_, '_, W> {
    fn update(&mut self, title: &str, done: u64, total: Option<u64>) {
        self.progress.update(title, done, total);
    }

    fn finish(&mut self, title: &str, done: u64, total: Option<u64>) {
        self.progress.finish(title, done, total);
    }

    fn message(&mut self, text: &str) {
        self.progress.message(text);
    }

    fn input_done(&mut self) {
        self.progress.input_done();
        self.keepalive.arm();
    }
}
