//! The v0/v1 negotiation ("get_common_commits" in git's upload-pack.c), free of IO.
//!
//! The client sends rounds of `have` lines ending in a flush, and finally `done`. The server
//! answers according to the negotiated ack mode, one of three strategies descended from dulwich's
//! graph walkers:
//! - single-ack (no capability): one bare `ACK <id>` for the first common object, `NAK` on a flush
//!   while nothing is common yet, silence otherwise;
//! - `multi_ack`: `ACK <id> continue` for every common object, `NAK` after every flush;
//! - `multi_ack_detailed`: `ACK <id> common`, and `ACK <id> ready` once every want is known to
//!   reach something the client has (so the client may stop sending haves).
//!
//! The service feeds lines in ([`Negotiator::have`], [`Negotiator::flush`], [`Negotiator::done`])
//! and writes the returned [`Reply`]s.

use std::collections::HashSet;

use crate::backend::Repository;
use crate::hash::ObjectId;
use crate::odb::Kind;
use crate::walk::{self, CommitCache, Error};

/// Which acknowledgement strategy the client negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// Neither `multi_ack` nor `multi_ack_detailed`.
    Single,
    /// `multi_ack`.
    Multi,
    /// `multi_ack_detailed`.
    MultiDetailed,
}

/// One line the server sends during negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `ACK <id>`.
    Ack(ObjectId),
    /// `ACK <id> continue`.
    Continue(ObjectId),
    /// `ACK <id> common`.
    Common(ObjectId),
    /// `ACK <id> ready`.
    Ready(ObjectId),
    /// `NAK`.
    Nak,
}

impl Reply {
    /// The line as sent (without newline).
    pub fn to_line(&self) -> String {
        match self {
            Reply::Ack(id) => format!("ACK {id}"),
            Reply::Continue(id) => format!("ACK {id} continue"),
            Reply::Common(id) => format!("ACK {id} common"),
            Reply::Ready(id) => format!("ACK {id} ready"),
            Reply::Nak => "NAK".to_string(),
        }
    }
}

/// What the service does after a flush in the middle of negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushOutcome {
    /// Lines to send.
    pub replies: Vec<Reply>,
    /// `no-done` was negotiated and `ready` has been sent: the pack follows without `done`.
    pub send_pack_now: bool,
}

/// Negotiation state for one request.
pub struct Negotiator<'r> {
    repo: &'r dyn Repository,
    mode: AckMode,
    no_done: bool,
    /// Commits the client has, and their parents (git's THEY_HAVE flag).
    they_have: HashSet<ObjectId>,
    /// Objects the client said it has and we have too, in order (git's `have_obj`).
    common: Vec<ObjectId>,
    last_common: Option<ObjectId>,
    oldest_have: Option<i64>,
    /// Want commits still not known to reach a `they_have` commit.
    open_wants: Vec<ObjectId>,
    /// Commits known to reach a `they_have` commit (git's COMMON_KNOWN).
    known_reaching: HashSet<ObjectId>,
    got_common: bool,
    got_other: bool,
    sent_ready: bool,
    commits: CommitCache,
}

impl<'r> Negotiator<'r> {
    /// Starts a negotiation in `repo` for `wants`, with ack `mode` and the `no_done` capability.
    pub fn new(
        repo: &'r dyn Repository,
        wants: &[ObjectId],
        mode: AckMode,
        no_done: bool,
    ) -> Result<Self, Error> {
        let mut n = Negotiator {
            repo,
            mode,
            no_done,
            they_have: HashSet::new(),
            common: Vec::new(),
            last_common: None,
            oldest_have: None,
            open_wants: Vec::new(),
            known_reaching: HashSet::new(),
            got_common: false,
            got_other: false,
            sent_ready: false,
            commits: CommitCache::default(),
        };
        for want in wants {
            // A want that does not peel to a commit cannot be judged by ancestry; like git, do not
            // let it hold up `ready`.
            if let Some(commit) = n.peel_to_commit(want)? {
                n.open_wants.push(commit);
            }
        }
        Ok(n)
    }

    /// The objects found common so far (what the pack may leave out).
    pub fn common(&self) -> &[ObjectId] {
        &self.common
    }

    fn peel_to_commit(&self, id: &ObjectId) -> Result<Option<ObjectId>, Error> {
        walk::peel_to_commit(self.repo, id)
    }

    /// Parents and date of commit `id`.
    fn commit(&mut self, id: &ObjectId) -> Result<(Vec<ObjectId>, i64), Error> {
        let info = self.commits.get(self.repo, id)?;
        Ok((info.parents.to_vec(), info.time))
    }

    /// Records that the client has `id` (git's `got_oid`); returns whether we have it too.
    fn record_have(&mut self, id: &ObjectId) -> Result<Option<bool>, Error> {
        let Some((kind, _)) = self.repo.object_header(id)? else {
            return Ok(None);
        };
        let mut knew = false;
        if kind == Kind::Commit {
            knew = !self.they_have.insert(*id);
            let (parents, time) = self.commit(id)?;
            if self.oldest_have.is_none_or(|t| time < t) {
                self.oldest_have = Some(time);
            }
            self.they_have.extend(parents);
        }
        if !knew {
            self.common.push(*id);
        }
        Ok(Some(!knew))
    }

    /// Does every want commit reach a commit the client has (git's `ok_to_give_up`)?
    fn ok_to_give_up(&mut self) -> Result<bool, Error> {
        if self.common.is_empty() {
            return Ok(false);
        }
        while let Some(want) = self.open_wants.last().copied() {
            if !self.reaches_they_have(&want)? {
                return Ok(false);
            }
            self.open_wants.pop();
        }
        Ok(true)
    }

    fn reaches_they_have(&mut self, start: &ObjectId) -> Result<bool, Error> {
        let min_time = self.oldest_have.unwrap_or(i64::MIN);
        let mut stack = vec![*start];
        let mut seen = HashSet::new();
        while let Some(id) = stack.pop() {
            if self.they_have.contains(&id) || self.known_reaching.contains(&id) {
                self.known_reaching.insert(*start);
                return Ok(true);
            }
            if !seen.insert(id) {
                continue;
            }
            let (parents, time) = self.commit(&id)?;
            if time < min_time {
                continue;
            }
            stack.extend(parents);
        }
        Ok(false)
    }

    /// Protocol v2: records `have <id>`; returns whether we have the object (then the client
    /// gets `ACK <id>`).
    pub fn record(&mut self, id: &ObjectId) -> Result<bool, Error> {
        let ours = self.record_have(id)?.is_some();
        if ours {
            self.last_common = Some(*id);
        }
        Ok(ours)
    }

    /// Protocol v2: whether the server can send a pack now (`ready`).
    pub fn ready(&mut self) -> Result<bool, Error> {
        self.ok_to_give_up()
    }

    /// The client sent `have <id>`.
    pub fn have(&mut self, id: &ObjectId) -> Result<Vec<Reply>, Error> {
        match self.record_have(id)? {
            None => {
                // They have something we do not.
                self.got_other = true;
                if self.mode != AckMode::Single && self.ok_to_give_up()? {
                    if self.mode == AckMode::MultiDetailed {
                        self.sent_ready = true;
                        return Ok(vec![Reply::Ready(*id)]);
                    }
                    return Ok(vec![Reply::Continue(*id)]);
                }
                Ok(vec![])
            }
            Some(_) => {
                self.got_common = true;
                self.last_common = Some(*id);
                Ok(match self.mode {
                    AckMode::MultiDetailed => vec![Reply::Common(*id)],
                    AckMode::Multi => vec![Reply::Continue(*id)],
                    AckMode::Single if self.common.len() == 1 => vec![Reply::Ack(*id)],
                    AckMode::Single => vec![],
                })
            }
        }
    }

    /// The client ended a round of haves with a flush.
    pub fn flush(&mut self) -> Result<FlushOutcome, Error> {
        let mut replies = Vec::new();
        if let (AckMode::MultiDetailed, true, false, Some(last)) =
            (self.mode, self.got_common, self.got_other, self.last_common)
        {
            if self.ok_to_give_up()? {
                self.sent_ready = true;
                replies.push(Reply::Ready(last));
            }
        }
        if self.common.is_empty() || self.mode != AckMode::Single {
            replies.push(Reply::Nak);
        }
        let mut send_pack_now = false;
        if self.no_done && self.sent_ready {
            if let Some(last) = self.last_common {
                replies.push(Reply::Ack(last));
                send_pack_now = true;
            }
        }
        self.got_common = false;
        self.got_other = false;
        Ok(FlushOutcome {
            replies,
            send_pack_now,
        })
    }

    /// The client sent `done`.
    pub fn done(&mut self) -> Vec<Reply> {
        match (self.last_common, self.mode) {
            (Some(last), AckMode::Multi | AckMode::MultiDetailed) if !self.common.is_empty() => {
                vec![Reply::Ack(last)]
            }
            (_, _) if !self.common.is_empty() => vec![],
            _ => vec![Reply::Nak],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::memory::MemoryRepository;

    /// A linear history c0 <- c1 <- ... <- c(n-1); returns the repo and the commit ids.
    fn linear(n: usize) -> (MemoryRepository, Vec<ObjectId>) {
        let mut r = MemoryRepository::new();
        let tree = r.add(Kind::Tree, Vec::new());
        let mut ids: Vec<ObjectId> = Vec::new();
        for i in 0..n {
            let parent = ids
                .last()
                .map(|p| format!("parent {p}\n"))
                .unwrap_or_default();
            let c = format!(
                "tree {tree}\n{parent}author a <a> {t} +0000\ncommitter a <a> {t} +0000\n\nc{i}\n",
                t = 1000 + i
            );
            ids.push(r.add(Kind::Commit, c));
        }
        (r, ids)
    }

    #[test]
    fn multi_ack_detailed_ready() {
        let (r, ids) = linear(5);
        let mut n = Negotiator::new(&r, &[ids[4]], AckMode::MultiDetailed, false).unwrap();
        let unknown =
            crate::odb::object_id(crate::hash::HashKind::Sha1, Kind::Blob, b"nope").unwrap();
        assert_eq!(n.have(&unknown).unwrap(), vec![]);
        // A round that mentioned an object we lack never ends in `ready` (git: got_other).
        assert_eq!(n.flush().unwrap().replies, vec![Reply::Nak]);
        assert_eq!(n.have(&ids[2]).unwrap(), vec![Reply::Common(ids[2])]);
        let f = n.flush().unwrap();
        assert_eq!(f.replies, vec![Reply::Ready(ids[2]), Reply::Nak]);
        assert!(!f.send_pack_now);
        assert_eq!(n.done(), vec![Reply::Ack(ids[2])]);
        assert_eq!(n.common(), &[ids[2]]);
    }

    #[test]
    fn no_done_sends_pack_after_ready() {
        let (r, ids) = linear(3);
        let mut n = Negotiator::new(&r, &[ids[2]], AckMode::MultiDetailed, true).unwrap();
        n.have(&ids[1]).unwrap();
        let f = n.flush().unwrap();
        assert_eq!(
            f.replies,
            vec![Reply::Ready(ids[1]), Reply::Nak, Reply::Ack(ids[1])]
        );
        assert!(f.send_pack_now);
    }

    #[test]
    fn single_ack() {
        let (r, ids) = linear(4);
        let mut n = Negotiator::new(&r, &[ids[3]], AckMode::Single, false).unwrap();
        let f = n.flush().unwrap();
        assert_eq!(f.replies, vec![Reply::Nak]);
        assert_eq!(n.have(&ids[2]).unwrap(), vec![Reply::Ack(ids[2])]);
        assert_eq!(n.have(&ids[0]).unwrap(), vec![]);
        assert_eq!(n.flush().unwrap().replies, vec![]);
        assert_eq!(n.done(), vec![]);
    }

    #[test]
    fn nothing_common_naks() {
        let (r, ids) = linear(2);
        let mut n = Negotiator::new(&r, &[ids[1]], AckMode::Multi, false).unwrap();
        assert_eq!(n.flush().unwrap().replies, vec![Reply::Nak]);
        assert_eq!(n.done(), vec![Reply::Nak]);
        assert!(n.common().is_empty());
    }

    #[test]
    fn multi_ack_continue() {
        let (r, ids) = linear(3);
        let mut n = Negotiator::new(&r, &[ids[2]], AckMode::Multi, false).unwrap();
        assert_eq!(n.have(&ids[1]).unwrap(), vec![Reply::Continue(ids[1])]);
        let unknown = crate::odb::object_id(crate::hash::HashKind::Sha1, Kind::Blob, b"x").unwrap();
        assert_eq!(n.have(&unknown).unwrap(), vec![Reply::Continue(unknown)]);
        assert_eq!(n.flush().unwrap().replies, vec![Reply::Nak]);
    }
}
