//! The git:// request line (gitprotocol-pack, git daemon's `execute`/`parse_extra_args`):
//! `git-upload-pack /path\0host=example.com[:port]\0[\0key=value\0...]`. `host=` is optional
//! (git's `ext::... %G` sends none), must come first, and is lower-cased; extra parameters after
//! the empty field become `GIT_PROTOCOL` (joined with `:`).

use crate::service::Service;

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonRequest {
    /// Which service.
    pub service: Service,
    /// The requested path.
    pub path: String,
    /// The `host=` value (lower-cased, without port).
    pub host: Option<String>,
    /// The port from `host=`.
    pub port: Option<u16>,
    /// Extra parameters (`version=2`, ...).
    pub extra: Vec<String>,
}

impl DaemonRequest {
    /// The extra parameters as a `GIT_PROTOCOL` value.
    pub fn git_protocol(&self) -> Option<String> {
        (!self.extra.is_empty()).then(|| self.extra.join(":"))
    }
}

/// Why a request line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Not `git-<service> <path>`.
    #[error("invalid request")]
    Invalid,
    /// A service we do not know.
    #[error("unknown service")]
    UnknownService,
}

/// Parses the payload of the first pkt-line (`line`, trailing newline allowed).
pub fn parse(line: &[u8]) -> Result<DaemonRequest, Error> {
    let mut fields = line.split(|&b| b == 0);
    let first = fields.next().ok_or(Error::Invalid)?;
    let first = first.strip_suffix(b"\n").unwrap_or(first);
    let first = std::str::from_utf8(first).map_err(|_| Error::Invalid)?;
    let (verb, path) = first.split_once(' ').ok_or(Error::Invalid)?;
    let service = match verb {
        "git-upload-pack" => Service::UploadPack,
        "git-receive-pack" => Service::ReceivePack,
        "git-upload-archive" => Service::UploadArchive,
        _ => return Err(Error::UnknownService),
    };
    if path.is_empty() || path.contains(['\n', '\r']) {
        return Err(Error::Invalid);
    }
    let rest: Vec<&[u8]> = fields.collect();
    let mut host = None;
    let mut port = None;
    let mut i = 0;
    // Optional host=..., then optionally an empty field followed by extra parameters.
    if let Some(h) = rest.first().and_then(|f| {
        let lower = f.get(..5).map(|p| p.eq_ignore_ascii_case(b"host="));
        lower.unwrap_or(false).then(|| &f[5..])
    }) {
        let h = std::str::from_utf8(h).map_err(|_| Error::Invalid)?;
        let (name, p) = split_host_port(h)?;
        host = Some(name.to_ascii_lowercase());
        port = p;
        i = 1;
    }
    let mut extra = Vec::new();
    match rest.get(i) {
        None => {}
        Some(f) if f.is_empty() => {
            for f in &rest[i + 1..] {
                if f.is_empty() {
                    continue;
                }
                let s = std::str::from_utf8(f).map_err(|_| Error::Invalid)?;
                extra.push(s.to_string());
            }
        }
        Some(_) => return Err(Error::Invalid),
    }
    Ok(DaemonRequest {
        service,
        path: path.to_string(),
        host,
        port,
        extra,
    })
}

fn split_host_port(h: &str) -> Result<(&str, Option<u16>), Error> {
    let (name, port) = if let Some(rest) = h.strip_prefix('[') {
        let (name, after) = rest.split_once(']').ok_or(Error::Invalid)?;
        match after.strip_prefix(':') {
            Some(p) => (name, Some(p)),
            None if after.is_empty() => (name, None),
            None => return Err(Error::Invalid),
        }
    } else {
        match h.rsplit_once(':') {
            Some((n, p)) if !n.contains(':') => (n, Some(p)),
            _ => (h, None),
        }
    };
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(Error::Invalid);
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| Error::Invalid)?),
        None => None,
    };
    Ok((name, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        let r = parse(b"git-upload-pack /r.git\0host=Example.COM:9418\0\0version=2\0").unwrap();
        assert_eq!(r.path, "/r.git");
        assert_eq!(r.host.as_deref(), Some("example.com"));
        assert_eq!(r.port, Some(9418));
        assert_eq!(r.git_protocol().as_deref(), Some("version=2"));
        let r = parse(b"git-receive-pack /x\0").unwrap();
        assert_eq!(r.service, Service::ReceivePack);
        assert_eq!(r.host, None);
        let r = parse(b"git-upload-pack /x\0\0version=2\0").unwrap();
        assert_eq!(r.extra, vec!["version=2".to_string()]);
        let r = parse(b"git-upload-pack /x\0host=[::1]:80\0").unwrap();
        assert_eq!((r.host.as_deref(), r.port), (Some("::1"), Some(80)));
        assert!(parse(b"git-upload-pack /x\n").is_ok());
    }

    #[test]
    fn refusals() {
        for bad in [
            &b"git-upload-archive--writer /x\0"[..],
            b"git-upload-pack\0",
            b"git-upload-pack \0",
            b"git-upload-pack /x\0junk\0",
            b"git-upload-pack /x\0host=a\0junk\0",
            b"git-upload-pack /x\0host=../a\0",
            b"git-upload-pack /x\0host=a:port\0",
            b"\xff\xfe",
            b"",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
