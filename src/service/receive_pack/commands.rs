//! receive-pack's request phase: `<old> <new> <ref>[\0<caps>]` command lines (parsed by the
//! pure [`parse_command`]), `shallow <id>` lines before them, then push options, each list
//! ended by a flush. [`read_request`] reads them all under the request's limits.

use std::io::Read;

use crate::hash::{HashKind, IdSet, ObjectId};
use crate::limits::Limits;
use crate::protocol::capabilities::Requested;
use crate::protocol::pktline::{PacketLineRef, Reader};
use crate::protocol::v0;

use super::{push_cert, shallow};

/// Why a command line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Not of the form `<old-id> <new-id> <refname>`.
    #[error("protocol error: expected old/new/ref, got '{0}'")]
    Malformed(String),
    /// A push certificate was sent although `push-cert` was not advertised.
    #[error("push certificates are not supported")]
    PushCert,
    /// Both a push certificate and commands outside it.
    #[error("protocol error: got both push certificate and unsigned commands")]
    CertAndCommands,
    /// The client's object format (SHA-1 when it names none) is not the repository's (C git's
    /// wording).
    #[error("error: unsupported object format '{0}'")]
    ObjectFormat(String),
}

/// One requested ref change, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Expected current value (null: create).
    pub old: ObjectId,
    /// New value (null: delete).
    pub new: ObjectId,
    /// Ref name, not yet validated.
    pub name: String,
}

impl Command {
    /// A delete request.
    pub fn is_delete(&self) -> bool {
        self.new.is_null()
    }

    /// A create request.
    pub fn is_create(&self) -> bool {
        self.old.is_null()
    }
}

fn quote(line: &[u8]) -> String {
    String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned()
}

/// Parses one command line `line` (without newline) of a push into a repository whose ids are
/// `hash`; returns the command and, on the first line, the capability list after the NUL.
pub fn parse_command(line: &[u8], hash: HashKind) -> Result<(Command, Option<&[u8]>), Error> {
    if line.starts_with(b"push-cert") {
        return Err(Error::PushCert);
    }
    let (body, caps) = match line.iter().position(|&b| b == 0) {
        Some(p) => (&line[..p], line.get(p + 1..)),
        None => (line, None),
    };
    let bad = || Error::Malformed(quote(line));
    let mut parts = body.splitn(3, |&b| b == b' ');
    let old = parts.next().ok_or_else(bad)?;
    let new = parts.next().ok_or_else(bad)?;
    let name = parts.next().ok_or_else(bad)?;
    let old = hash.id_from_hex(old).map_err(|_| bad())?;
    let new = hash.id_from_hex(new).map_err(|_| bad())?;
    let name = std::str::from_utf8(name).map_err(|_| bad())?;
    // git's refs are path names; 4096 bytes is PATH_MAX and bounds what a push can make us keep.
    if name.is_empty() || name.len() > 4096 {
        return Err(bad());
    }
    Ok((
        Command {
            old,
            new,
            name: name.to_string(),
        },
        caps,
    ))
}

/// At most this many push options are kept (C git has no limit; each is a pkt-line, so this
/// bounds what a client can make us hold).
pub const MAX_PUSH_OPTIONS: usize = 1000;

/// One command and, once refused, why (the `ng` reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The command as sent.
    pub cmd: Command,
    /// Why it was refused (`None`: still going, or done).
    pub error: Option<String>,
}

impl Update {
    /// Refuses this update with `why` unless an earlier phase already refused it.
    pub fn refuse(&mut self, why: &str) {
        self.error.get_or_insert_with(|| why.to_string());
    }
}

#[cfg(test)]
impl Update {
    /// An update of `name` between null ids, refused with `error` when given (for phase tests).
    pub(crate) fn for_test(name: &str, error: Option<&str>) -> Update {
        let null = crate::hash::HashKind::Sha1.null();
        Update {
            cmd: Command {
                old: null,
                new: null,
                name: name.into(),
            },
            error: error.map(str::to_string),
        }
    }
}

/// Everything the client sends before the pack.
#[derive(Debug, Default)]
pub struct Request {
    /// The commands, in order (at most `max_ref_updates + 1`: one more than the limit marks
    /// that the limit was passed).
    pub updates: Vec<Update>,
    /// The capabilities the client asked for on its first command.
    pub caps: Requested,
    /// The pusher's shallow boundary (a push from a shallow clone).
    pub client_shallow: IdSet,
    /// Push options (`git push -o`), when `push-options` was requested.
    pub push_options: Vec<String>,
    /// The push certificate of a signed push (its commands are in `updates`).
    pub push_cert: Option<push_cert::Certificate>,
}

/// Why the request phase stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading pkt-lines failed.
    #[error(transparent)]
    PktLine(#[from] crate::protocol::pktline::Error),
    /// A command line was malformed.
    #[error(transparent)]
    Command(#[from] Error),
    /// The capability list was refused.
    #[error(transparent)]
    Capability(#[from] crate::protocol::capabilities::Error),
    /// Something other than a command, shallow line, push option or flush arrived.
    #[error(transparent)]
    Line(#[from] v0::Error),
    /// A limit was hit.
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
    /// The push certificate could not be read.
    #[error(transparent)]
    PushCert(#[from] push_cert::ReadError),
}

/// Reads the commands (and shallow lines, ids of the repository's `hash`) and then the push
/// options from `reader`, checking the requested capabilities against `advertised`. `Ok(None)`: the client sent no command
/// (a flush or end of input right away), which ends the request without a report.
pub fn read_request<R: Read>(
    reader: &mut Reader<R>,
    limits: &Limits,
    advertised: &[(&'static str, Option<String>)],
    hash: HashKind,
) -> Result<Option<Request>, ReadError> {
    let mut req = Request::default();
    loop {
        let line = match reader.read_line()? {
            None if req.updates.is_empty() => return Ok(None),
            None => return Err(ReadError::UnexpectedEof("reading commands")),
            Some(PacketLineRef::Flush) => break,
            Some(l @ PacketLineRef::Data(_)) => l.as_text().unwrap_or_default().to_vec(),
            Some(_) => return Err(unexpected("commands or flush").into()),
        };
        if let Some(id) = shallow::parse_line(&line, req.updates.is_empty(), hash)? {
            if req.client_shallow.len() >= limits.max_haves {
                return Err(ReadError::Limit {
                    what: "shallow lines",
                    limit: limits.max_haves,
                });
            }
            req.client_shallow.insert(id);
            continue;
        }
        if line == b"push-cert" || line.starts_with(b"push-cert\0") {
            // A signed push: the commands come inside the certificate.
            if let Some(list) = line.get(b"push-cert\0".len()..) {
                req.caps = Requested::parse(list, advertised)?;
            }
            let (raw, flushed) = push_cert::read_lines(reader)?;
            req.push_cert =
                Some(push_cert::Certificate::parse(raw).map_err(push_cert::ReadError::from)?);
            if flushed {
                break;
            }
            continue;
        }
        // Capabilities first, as C git reads them: a client of another object format is told
        // so, not that its ids are malformed.
        if let Some(nul) = line.iter().position(|&b| b == 0) {
            if !req.updates.is_empty() {
                return Err(Error::Malformed("capabilities after the first command".into()).into());
            }
            req.caps = Requested::parse(&line[nul + 1..], advertised)?;
            check_object_format(hash, &req.caps)?;
        }
        let (cmd, _) = parse_command(&line, hash)?;
        if req.updates.len() > limits.max_ref_updates {
            // Keep reading (the client sends the pack anyway) but store no more commands; all
            // are refused later, in the report the client is waiting for.
            continue;
        }
        req.updates.push(Update { cmd, error: None });
    }
    if let Some(cert) = &req.push_cert {
        if !req.updates.is_empty() {
            return Err(Error::CertAndCommands.into());
        }
        check_object_format(hash, &req.caps)?;
        let commands = cert.commands(hash).map_err(push_cert::ReadError::from)?;
        req.updates = commands
            .into_iter()
            .take(limits.max_ref_updates.saturating_add(1))
            .map(|cmd| Update { cmd, error: None })
            .collect();
    }
    if req.updates.is_empty() {
        return Ok(None);
    }
    if req.caps.has("push-options") {
        req.push_options = read_push_options(reader)?;
    }
    Ok(Some(req))
}

/// C git's receive-pack check of the client's `object-format` (SHA-1 when it names none) against
/// the repository's `hash`, with its wording.
fn check_object_format(hash: HashKind, caps: &Requested) -> Result<(), Error> {
    let client = caps.value("object-format").unwrap_or("sha1");
    match HashKind::from_name(client) {
        Some(k) if k == hash => Ok(()),
        _ => Err(Error::ObjectFormat(client.to_string())),
    }
}

/// Reads push options up to their flush.
fn read_push_options<R: Read>(reader: &mut Reader<R>) -> Result<Vec<String>, ReadError> {
    let mut options = Vec::new();
    loop {
        match reader.read_line()? {
            Some(PacketLineRef::Flush) => return Ok(options),
            Some(l @ PacketLineRef::Data(_)) => {
                if options.len() >= MAX_PUSH_OPTIONS {
                    return Err(ReadError::Limit {
                        what: "push options",
                        limit: MAX_PUSH_OPTIONS,
                    });
                }
                let text = l.as_text().unwrap_or_default();
                options.push(String::from_utf8_lossy(text).into_owned());
            }
            None => return Err(ReadError::UnexpectedEof("reading push options")),
            Some(_) => return Err(unexpected("push options or flush").into()),
        }
    }
}

fn unexpected(expected: &'static str) -> v0::Error {
    v0::Error::Unexpected {
        expected,
        line: "delim/response-end packet".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";
    const Z: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn commands() {
        let first = format!("{Z} {A} refs/heads/x\0report-status");
        let (c, caps) = parse_command(first.as_bytes(), HashKind::Sha1).unwrap();
        assert!(c.is_create() && !c.is_delete());
        assert_eq!(c.name, "refs/heads/x");
        assert_eq!(caps, Some(&b"report-status"[..]));
        let second = format!("{A} {Z} refs/heads/x");
        let (c, caps) = parse_command(second.as_bytes(), HashKind::Sha1).unwrap();
        assert!(c.is_delete());
        assert_eq!(caps, None);
        for bad in [
            format!("{A} {Z}"),
            format!("{A} {Z} "),
            format!("{A}x {Z} refs/heads/x"),
            format!("{A} refs/heads/x"),
            String::new(),
        ] {
            assert!(
                parse_command(bad.as_bytes(), HashKind::Sha1).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            parse_command(b"push-cert\0x", HashKind::Sha1),
            Err(Error::PushCert)
        );
    }

    fn pkt(lines: &[&str]) -> Vec<u8> {
        let mut w = crate::protocol::pktline::Writer::new(Vec::new());
        for l in lines {
            match *l {
                "0000" => w.flush_pkt().unwrap(),
                "0001" => w.delim().unwrap(),
                text => w.data(text.as_bytes()).unwrap(),
            }
        }
        std::mem::take(w.get_mut())
    }

    fn advertised() -> Vec<(&'static str, Option<String>)> {
        vec![("report-status", None), ("push-options", None)]
    }

    fn read(input: &[u8], limits: &Limits) -> Result<Option<Request>, ReadError> {
        read_request(
            &mut Reader::new(input),
            limits,
            &advertised(),
            HashKind::Sha1,
        )
    }

    #[test]
    fn request_with_shallow_caps_and_push_options() {
        let first = format!("{Z} {A} refs/heads/x\0report-status push-options");
        let second = format!("{A} {Z} refs/heads/y");
        let shallow = format!("shallow {A}");
        let input = pkt(&[&shallow, &first, &second, "0000", "ci.skip", "0000"]);
        let req = read(&input, &Limits::default()).unwrap().unwrap();
        assert_eq!(req.updates.len(), 2);
        assert_eq!(req.updates[1].cmd.name, "refs/heads/y");
        assert!(req.caps.has("report-status") && req.caps.has("push-options"));
        assert_eq!(req.client_shallow.len(), 1);
        assert_eq!(req.push_options, vec!["ci.skip".to_string()]);
    }

    #[test]
    fn request_refusals() {
        let limits = Limits::default();
        assert!(read(&pkt(&["0000"]), &limits).unwrap().is_none());
        assert!(read(b"", &limits).unwrap().is_none());
        let cmd = format!("{Z} {A} refs/heads/x");
        assert!(matches!(
            read(&pkt(&[&cmd]), &limits),
            Err(ReadError::UnexpectedEof(_))
        ));
        let late_caps = format!("{Z} {A} refs/heads/y\0report-status");
        assert!(read(&pkt(&[&cmd, &late_caps, "0000"]), &limits).is_err());
        let unknown_cap = format!("{Z} {A} refs/heads/y\0atomic");
        assert!(matches!(
            read(&pkt(&[&unknown_cap, "0000"]), &limits),
            Err(ReadError::Capability(_))
        ));
        let late_shallow = format!("shallow {A}");
        assert!(read(&pkt(&[&cmd, &late_shallow, "0000"]), &limits).is_err());
        assert!(read(&pkt(&[&cmd, "0001"]), &limits).is_err());
    }

    #[test]
    fn request_keeps_one_command_past_the_limit() {
        let limits = Limits {
            max_ref_updates: 2,
            ..Limits::default()
        };
        let lines: Vec<String> = (0..5).map(|i| format!("{Z} {A} refs/heads/b{i}")).collect();
        let mut all: Vec<&str> = lines.iter().map(String::as_str).collect();
        all.push("0000");
        let req = read(&pkt(&all), &limits).unwrap().unwrap();
        assert_eq!(req.updates.len(), 3);
    }
}
