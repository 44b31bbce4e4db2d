//! Pure parse/format of the v0/v1 upload-pack lines: ref advertisement lines, the want block
//! (`want`, `shallow`, `deepen*`, `filter`) and the negotiation lines (`have`, `done`), and the
//! server's `ACK`/`NAK` replies. No IO here; the service feeds in pkt-line payloads.

use crate::hash::{HashKind, ObjectId};

/// Why a client line was refused; every variant quotes the line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The line is not one of the commands allowed at this point of the conversation.
    #[error("unexpected line at this point ({expected}): '{line}'")]
    Unexpected {
        /// What was allowed here.
        expected: &'static str,
        /// The offending line, lossily decoded and cut to 100 bytes.
        line: String,
    },
    /// A command had a malformed argument.
    #[error("malformed '{command}' line: '{line}'")]
    Malformed {
        /// The command.
        command: &'static str,
        /// The offending line.
        line: String,
    },
}

fn quote(line: &[u8]) -> String {
    let cut = &line[..line.len().min(100)];
    String::from_utf8_lossy(cut).into_owned()
}

/// Formats one advertisement line: `<id> <name>` plus `\0<caps>` when `caps` is given.
pub fn ref_line(id: &ObjectId, name: &str, caps: Option<&str>) -> Vec<u8> {
    let mut v = Vec::with_capacity(42 + name.len() + caps.map_or(0, |c| c.len() + 1));
    ref_line_into(&mut v, id, name, "", caps);
    v
}

/// [`ref_line`] into a reused buffer (cleared first), the name followed by `suffix` (`^{}` for
/// a peeled line).
pub fn ref_line_into(v: &mut Vec<u8>, id: &ObjectId, name: &str, suffix: &str, caps: Option<&str>) {
    v.clear();
    id.push_hex(v);
    v.push(b' ');
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(suffix.as_bytes());
    if let Some(c) = caps {
        v.push(0);
        v.extend_from_slice(c.as_bytes());
    }
    v.push(b'\n');
}

/// A line of the want block (before the first flush).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WantLine<'a> {
    /// `want <id>[ <caps>]`; capabilities only on the first want.
    Want {
        /// The wanted object.
        id: ObjectId,
        /// The capability list, when present.
        caps: Option<&'a [u8]>,
    },
    /// `shallow <id>`: a commit the client has as a shallow boundary.
    Shallow(ObjectId),
    /// `deepen <depth>`.
    Deepen(u32),
    /// `deepen-since <timestamp>`.
    DeepenSince(i64),
    /// `deepen-not <ref>`.
    DeepenNot(&'a str),
    /// `filter <spec>`.
    Filter(&'a str),
}

/// The id `arg` of `command`, exactly as wide as the repository's `hash` says.
fn parse_id(
    command: &'static str,
    arg: &[u8],
    line: &[u8],
    hash: HashKind,
) -> Result<ObjectId, Error> {
    hash.id_from_hex(arg).map_err(|_| Error::Malformed {
        command,
        line: quote(line),
    })
}

fn parse_text<'a>(command: &'static str, arg: &'a [u8], line: &[u8]) -> Result<&'a str, Error> {
    std::str::from_utf8(arg)
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::Malformed {
            command,
            line: quote(line),
        })
}

/// Parses one line of the want block (`line` without its trailing newline) for a repository
/// whose ids are `hash`.
pub fn parse_want_line(line: &[u8], hash: HashKind) -> Result<WantLine<'_>, Error> {
    if let Some(rest) = line.strip_prefix(b"want ") {
        let hex_len = hash.len_in_hex();
        let hex = rest.get(..hex_len).ok_or_else(|| Error::Malformed {
            command: "want",
            line: quote(line),
        })?;
        let id = parse_id("want", hex, line, hash)?;
        let caps = match rest.get(hex_len..) {
            None | Some(b"") => None,
            Some(tail) => Some(tail.strip_prefix(b" ").ok_or_else(|| Error::Malformed {
                command: "want",
                line: quote(line),
            })?),
        };
        return Ok(WantLine::Want { id, caps });
    }
    if let Some(rest) = line.strip_prefix(b"shallow ") {
        return Ok(WantLine::Shallow(parse_id("shallow", rest, line, hash)?));
    }
    if let Some(rest) = line.strip_prefix(b"deepen-since ") {
        let t = parse_text("deepen-since", rest, line)?;
        let v = t.parse::<i64>().map_err(|_| Error::Malformed {
            command: "deepen-since",
            line: quote(line),
        })?;
        return Ok(WantLine::DeepenSince(v));
    }
    if let Some(rest) = line.strip_prefix(b"deepen-not ") {
        return Ok(WantLine::DeepenNot(parse_text("deepen-not", rest, line)?));
    }
    if let Some(rest) = line.strip_prefix(b"deepen ") {
        let t = parse_text("deepen", rest, line)?;
        let v = t
            .parse::<u32>()
            .ok()
            .filter(|d| *d > 0)
            .ok_or_else(|| Error::Malformed {
                command: "deepen",
                line: quote(line),
            })?;
        return Ok(WantLine::Deepen(v));
    }
    if let Some(rest) = line.strip_prefix(b"filter ") {
        return Ok(WantLine::Filter(parse_text("filter", rest, line)?));
    }
    Err(Error::Unexpected {
        expected: "want, shallow, deepen, deepen-since, deepen-not or filter",
        line: quote(line),
    })
}

/// A line of the negotiation phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegotiationLine {
    /// `have <id>`.
    Have(ObjectId),
    /// `done`.
    Done,
}

/// Parses one negotiation line (`line` without its trailing newline) for a repository whose ids
/// are `hash`.
pub fn parse_negotiation_line(line: &[u8], hash: HashKind) -> Result<NegotiationLine, Error> {
    if let Some(rest) = line.strip_prefix(b"have ") {
        return Ok(NegotiationLine::Have(parse_id("have", rest, line, hash)?));
    }
    if line == b"done" {
        return Ok(NegotiationLine::Done);
    }
    Err(Error::Unexpected {
        expected: "have or done",
        line: quote(line),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";

    #[test]
    fn want_lines() {
        let id = ObjectId::from_hex(ID.as_bytes()).unwrap();
        assert_eq!(
            parse_want_line(format!("want {ID}").as_bytes(), HashKind::Sha1).unwrap(),
            WantLine::Want { id, caps: None }
        );
        assert_eq!(
            parse_want_line(
                format!("want {ID} ofs-delta agent=x").as_bytes(),
                HashKind::Sha1
            )
            .unwrap(),
            WantLine::Want {
                id,
                caps: Some(&b"ofs-delta agent=x"[..])
            }
        );
        assert_eq!(
            parse_want_line(b"deepen 3", HashKind::Sha1).unwrap(),
            WantLine::Deepen(3)
        );
        assert_eq!(
            parse_want_line(b"deepen-since 17", HashKind::Sha1).unwrap(),
            WantLine::DeepenSince(17)
        );
        assert_eq!(
            parse_want_line(b"deepen-not main", HashKind::Sha1).unwrap(),
            WantLine::DeepenNot("main")
        );
        assert_eq!(
            parse_want_line(b"filter blob:none", HashKind::Sha1).unwrap(),
            WantLine::Filter("blob:none")
        );
        for bad in [
            "want 123",
            "want zz9de29bb2d1d6434b8b29ae775ad8c2e48c5391",
            &format!("want {ID}x"),
            "deepen 0",
            "deepen -1",
            "deepen x",
            "filter ",
            "have 1",
            "",
            "WANT x",
        ] {
            assert!(
                parse_want_line(bad.as_bytes(), HashKind::Sha1).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn negotiation_lines() {
        assert_eq!(
            parse_negotiation_line(b"done", HashKind::Sha1).unwrap(),
            NegotiationLine::Done
        );
        assert!(parse_negotiation_line(format!("have {ID}").as_bytes(), HashKind::Sha1).is_ok());
        assert!(parse_negotiation_line(b"done ", HashKind::Sha1).is_err());
        assert!(parse_negotiation_line(format!("want {ID}").as_bytes(), HashKind::Sha1).is_err());
    }

    #[test]
    fn ref_lines() {
        let id = ObjectId::from_hex(ID.as_bytes()).unwrap();
        assert_eq!(
            ref_line(&id, "HEAD", Some("a b")),
            format!("{ID} HEAD\0a b\n").into_bytes()
        );
        assert_eq!(
            ref_line(&id, "refs/x", None),
            format!("{ID} refs/x\n").into_bytes()
        );
    }
}
