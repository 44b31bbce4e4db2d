//! Pure parsing of receive-pack's request: `<old> <new> <ref>[\0<caps>]` command lines and
//! `shallow <id>` lines.

use crate::hash::ObjectId;

/// Why a command line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Not of the form `<old-id> <new-id> <refname>`.
    #[error("protocol error: expected old/new/ref, got '{0}'")]
    Malformed(String),
    /// A push certificate was sent although `push-cert` was not advertised.
    #[error("push certificates are not supported")]
    PushCert,
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

/// Parses one command line `line` (without newline); returns the command and, on the first line,
/// the capability list after the NUL.
pub fn parse_command(line: &[u8]) -> Result<(Command, Option<&[u8]>), Error> {
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
    let old = ObjectId::from_hex(old).map_err(|_| bad())?;
    let new = ObjectId::from_hex(new).map_err(|_| bad())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";
    const Z: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn commands() {
        let first = format!("{Z} {A} refs/heads/x\0report-status");
        let (c, caps) = parse_command(first.as_bytes()).unwrap();
        assert!(c.is_create() && !c.is_delete());
        assert_eq!(c.name, "refs/heads/x");
        assert_eq!(caps, Some(&b"report-status"[..]));
        let second = format!("{A} {Z} refs/heads/x");
        let (c, caps) = parse_command(second.as_bytes()).unwrap();
        assert!(c.is_delete());
        assert_eq!(caps, None);
        for bad in [
            format!("{A} {Z}"),
            format!("{A} {Z} "),
            format!("{A}x {Z} refs/heads/x"),
            format!("{A} refs/heads/x"),
            String::new(),
        ] {
            assert!(parse_command(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(parse_command(b"push-cert\0x"), Err(Error::PushCert));
    }
}
