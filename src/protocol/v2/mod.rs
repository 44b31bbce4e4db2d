//! Protocol v2 request framing (gitprotocol-v2): `command=<name>`, capability lines, an optional
//! delim-pkt, argument lines, and a flush. A lone flush (or EOF) where a request would start ends
//! the session. Parsing here is syntax only; which capabilities and arguments a command accepts is
//! decided by the command's handler.

use std::io::Read;

use crate::protocol::pktline::{self, PacketLineRef, Reader};

/// Why a v2 request was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Underlying pkt-line problem.
    #[error(transparent)]
    PktLine(#[from] pktline::Error),
    /// The first line was not `command=<name>`.
    #[error("expected command=<name>, got '{0}'")]
    NoCommand(String),
    /// A capability line where one is not allowed, or an unknown one.
    #[error("unknown capability '{0}'")]
    UnknownCapability(String),
    /// Input ended inside a request.
    #[error("unexpected end of input inside a '{0}' request")]
    UnexpectedEof(String),
    /// A packet type that does not belong at this point.
    #[error("unexpected {what} in a '{command}' request")]
    UnexpectedPacket {
        /// The command being read.
        command: String,
        /// What arrived.
        what: &'static str,
    },
    /// More argument lines than allowed.
    #[error("too many arguments in a '{command}' request (limit {limit})")]
    TooManyArgs {
        /// The command.
        command: String,
        /// The limit.
        limit: usize,
    },
}

/// One v2 request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// The command name (`ls-refs`, `fetch`, ...).
    pub command: String,
    /// Capability lines as `(key, value)` (`agent`, `object-format`, `session-id`, `server-option`).
    pub caps: Vec<(String, Option<String>)>,
    /// Argument lines, without trailing newlines.
    pub args: Vec<Vec<u8>>,
}

/// Most argument bytes one request may carry (wants and haves are ~46 bytes each).
const MAX_REQUEST_BYTES: usize = 128 << 20;

/// Capabilities a client may send with any command.
const REQUEST_CAPS: &[&str] = &["agent", "object-format", "session-id", "server-option"];

/// Reads the next request; `Ok(None)` at the end of the session (flush or EOF at a request
/// boundary). At most `max_args` argument lines are accepted.
pub fn read_request<R: Read>(
    reader: &mut Reader<R>,
    max_args: usize,
) -> Result<Option<Request>, Error> {
    // The command and capability lines, in any order (C git's `process_request` takes them so,
    // and its 2.47 client sends `agent` and `object-format` before `command=bundle-uri`), up to
    // delim (arguments follow) or flush (no arguments).
    let mut command: Option<String> = None;
    let mut caps = Vec::new();
    let mut has_args = false;
    loop {
        match reader.read_line()? {
            None if command.is_none() && caps.is_empty() => return Ok(None),
            Some(PacketLineRef::Flush) if command.is_none() && caps.is_empty() => return Ok(None),
            None => return Err(Error::UnexpectedEof(command.unwrap_or_default())),
            Some(PacketLineRef::Flush) => break,
            Some(PacketLineRef::Delim) => {
                has_args = true;
                break;
            }
            Some(PacketLineRef::ResponseEnd) => {
                return Err(Error::UnexpectedPacket {
                    command: command.unwrap_or_default(),
                    what: "response-end packet",
                })
            }
            Some(l @ PacketLineRef::Data(_)) => {
                let text = String::from_utf8_lossy(l.as_text().unwrap_or_default()).into_owned();
                if let Some(c) = text.strip_prefix("command=") {
                    if c.is_empty() || command.is_some() {
                        return Err(Error::NoCommand(text));
                    }
                    command = Some(c.to_string());
                    continue;
                }
                let (key, value) = match text.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (text.clone(), None),
                };
                if !REQUEST_CAPS.contains(&key.as_str()) {
                    return Err(Error::UnknownCapability(text));
                }
                caps.push((key, value));
            }
        }
    }
    let command = command.ok_or_else(|| Error::NoCommand("a request without command=".into()))?;
    let mut req = Request {
        command,
        caps,
        ..Request::default()
    };
    if !has_args {
        return Ok(Some(req));
    }
    let mut bytes = 0usize;
    loop {
        match reader.read_line()? {
            None => return Err(Error::UnexpectedEof(req.command)),
            Some(PacketLineRef::Flush) => return Ok(Some(req)),
            Some(PacketLineRef::Delim) => {
                return Err(Error::UnexpectedPacket {
                    command: req.command,
                    what: "second delim packet",
                })
            }
            Some(PacketLineRef::Data(d)) if bytes + d.len() > MAX_REQUEST_BYTES => {
                return Err(Error::TooManyArgs {
                    command: req.command,
                    limit: max_args.min(req.args.len()),
                })
            }
            Some(PacketLineRef::ResponseEnd) => {
                return Err(Error::UnexpectedPacket {
                    command: req.command,
                    what: "response-end packet",
                })
            }
            Some(l @ PacketLineRef::Data(_)) => {
                if req.args.len() >= max_args {
                    return Err(Error::TooManyArgs {
                        command: req.command,
                        limit: max_args,
                    });
                }
                let arg = l.as_text().unwrap_or_default().to_vec();
                bytes += arg.len();
                req.args.push(arg);
            }
        }
    }
}

impl Request {
    /// The value of capability `key`, if sent.
    pub fn cap(&self, key: &str) -> Option<&str> {
        self.caps
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkts(parts: &[&str]) -> Vec<u8> {
        let mut v = Vec::new();
        for p in parts {
            match *p {
                "0000" | "0001" | "0002" => v.extend_from_slice(p.as_bytes()),
                s => v.extend_from_slice(format!("{:04x}{s}\n", s.len() + 5).as_bytes()),
            }
        }
        v
    }

    #[test]
    fn framing() {
        let input = pkts(&[
            "command=ls-refs",
            "agent=git/2",
            "0001",
            "peel",
            "symrefs",
            "0000",
            "0000",
        ]);
        let mut r = Reader::new(&input[..]);
        let req = read_request(&mut r, 10).unwrap().unwrap();
        assert_eq!(req.command, "ls-refs");
        assert_eq!(req.cap("agent"), Some("git/2"));
        assert_eq!(req.args, vec![b"peel".to_vec(), b"symrefs".to_vec()]);
        assert!(read_request(&mut r, 10).unwrap().is_none());
    }

    #[test]
    fn no_args_and_errors() {
        let input = pkts(&["command=fetch", "0000"]);
        let req = read_request(&mut Reader::new(&input[..]), 10)
            .unwrap()
            .unwrap();
        assert!(req.args.is_empty());
        for bad in [
            pkts(&["want x", "0000"]),
            pkts(&["command=fetch", "want x", "0000"]),
            pkts(&["command=fetch", "0001", "a", "0001", "0000"]),
            pkts(&["command=fetch", "0001", "a"]),
            pkts(&["0001"]),
            pkts(&["command=fetch", "0001", "a", "b", "0000"]),
        ] {
            assert!(read_request(&mut Reader::new(&bad[..]), 1).is_err());
        }
    }
}
