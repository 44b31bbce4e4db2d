//! The CGI/1.1 request, as a pure function of its environment: which repository, which route
//! (`git http-backend`'s service table), which protocol version, who asks, and how the body
//! comes. No IO here: [`CgiEnv`] is a snapshot of the variables, so every case is table-tested.
//!
//! Routing follows `http-backend.c`: each route is a fixed-length pattern anchored at the end of
//! the path (`/info/refs`, `/objects/xx/x{38}`, `/git-upload-pack`, ...); what precedes the
//! match is the repository. A path that matches a route with the wrong method is answered 405
//! (HTTP/1.1) or 400, a path that matches none 404.

use std::path::PathBuf;

use super::response::{Reject, Status};
use crate::protocol::{version_from_git_protocol, Version};
use crate::service::Service;

/// The CGI variables Sluice reads, as the web server set them (`None`: unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgiEnv {
    /// `REQUEST_METHOD`.
    pub method: Option<String>,
    /// `GIT_PROJECT_ROOT`: the directory repositories are looked up under.
    pub project_root: Option<String>,
    /// `PATH_INFO`: the URL path after the script, e.g. `/repo.git/info/refs`.
    pub path_info: Option<String>,
    /// `PATH_TRANSLATED`: the web server's own mapping of the URL to a file, used when
    /// `GIT_PROJECT_ROOT` is not set.
    pub path_translated: Option<String>,
    /// `QUERY_STRING`.
    pub query: Option<String>,
    /// `CONTENT_TYPE`.
    pub content_type: Option<String>,
    /// `CONTENT_LENGTH` (unset for a chunked body the server streams through).
    pub content_length: Option<String>,
    /// `HTTP_CONTENT_ENCODING` (`gzip` for the large POSTs git sends).
    pub content_encoding: Option<String>,
    /// `GIT_PROTOCOL` if set, else `HTTP_GIT_PROTOCOL` (the client's `Git-Protocol` header), as
    /// http-backend copies the header without overriding an explicit setting.
    pub git_protocol: Option<String>,
    /// `REMOTE_USER`: set by the web server after authentication.
    pub remote_user: Option<String>,
    /// `REMOTE_ADDR`.
    pub remote_addr: Option<String>,
    /// `SERVER_PROTOCOL` (`HTTP/1.1` decides between 405 and 400 for a wrong method).
    pub server_protocol: Option<String>,
}

impl CgiEnv {
    /// Reads the variables through `var` (the process environment in production, a table in
    /// tests); values that are not UTF-8 come back as `None` from `var` and so count as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> CgiEnv {
        CgiEnv {
            method: var("REQUEST_METHOD"),
            project_root: var("GIT_PROJECT_ROOT"),
            path_info: var("PATH_INFO"),
            path_translated: var("PATH_TRANSLATED"),
            query: var("QUERY_STRING"),
            content_type: var("CONTENT_TYPE"),
            content_length: var("CONTENT_LENGTH"),
            content_encoding: var("HTTP_CONTENT_ENCODING"),
            git_protocol: var("GIT_PROTOCOL").or_else(|| var("HTTP_GIT_PROTOCOL")),
            remote_user: var("REMOTE_USER"),
            remote_addr: var("REMOTE_ADDR"),
            server_protocol: var("SERVER_PROTOCOL"),
        }
    }
}

/// What a request asks for, once its route is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `GET info/refs`: with `service=` the smart advertisement (the raw parameter, checked
    /// later by [`select_service`]), without it the dumb ref list.
    InfoRefs(Option<String>),
    /// `GET HEAD` (dumb).
    Head,
    /// `GET objects/info/packs` (dumb).
    InfoPacks,
    /// `GET objects/info/alternates` or `http-alternates`: the file, no caching.
    TextFile(String),
    /// `GET objects/xx/yyyy…`: a loose object, cached forever.
    Loose(String),
    /// `GET objects/pack/pack-….pack`, cached forever.
    Pack(String),
    /// `GET objects/pack/pack-….idx`, cached forever.
    Idx(String),
    /// `POST git-upload-pack` or `POST git-receive-pack`: one stateless-rpc round.
    Rpc(Service),
}

/// How the request body arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodySpec {
    /// `CONTENT_LENGTH`; `None` for a body read to end of input (chunked, or absent).
    pub length: Option<u64>,
    /// `Content-Encoding: gzip` (or `x-gzip`).
    pub gzip: bool,
}

/// A routed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiRequest {
    /// Where repositories are looked up: `GIT_PROJECT_ROOT`, or `/` with `PATH_TRANSLATED`.
    pub root: PathBuf,
    /// The repository path relative to `root`, as requested (confined later).
    pub repo: String,
    /// The route.
    pub target: Target,
    /// Protocol version from `Git-Protocol`.
    pub version: Version,
    /// The authenticated user (`REMOTE_USER`, non-empty).
    pub user: Option<String>,
    /// The client's address (`REMOTE_ADDR`), for the log.
    pub addr: Option<String>,
    /// `CONTENT_TYPE` (empty when unset, as http-backend compares it).
    pub content_type: String,
    /// The body.
    pub body: BodySpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// One piece of a route pattern; every pattern has a fixed length.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// These bytes.
    Lit(&'static str),
    /// This many lowercase hex digits.
    Hex(usize),
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Head,
    InfoRefs,
    TextFile,
    InfoPacks,
    Loose,
    Pack,
    Idx,
    Upload,
    Receive,
}

use Part::{Hex, Lit};

/// http-backend's service table, in its order (first match wins). SHA-1 and SHA-256 names.
const ROUTES: &[(Method, &[Part], Kind)] = &[
    (Method::Get, &[Lit("/HEAD")], Kind::Head),
    (Method::Get, &[Lit("/info/refs")], Kind::InfoRefs),
    (
        Method::Get,
        &[Lit("/objects/info/alternates")],
        Kind::TextFile,
    ),
    (
        Method::Get,
        &[Lit("/objects/info/http-alternates")],
        Kind::TextFile,
    ),
    (Method::Get, &[Lit("/objects/info/packs")], Kind::InfoPacks),
    (
        Method::Get,
        &[Lit("/objects/"), Hex(2), Lit("/"), Hex(38)],
        Kind::Loose,
    ),
    (
        Method::Get,
        &[Lit("/objects/"), Hex(2), Lit("/"), Hex(62)],
        Kind::Loose,
    ),
    (
        Method::Get,
        &[Lit("/objects/pack/pack-"), Hex(40), Lit(".pack")],
        Kind::Pack,
    ),
    (
        Method::Get,
        &[Lit("/objects/pack/pack-"), Hex(64), Lit(".pack")],
        Kind::Pack,
    ),
    (
        Method::Get,
        &[Lit("/objects/pack/pack-"), Hex(40), Lit(".idx")],
        Kind::Idx,
    ),
    (
        Method::Get,
        &[Lit("/objects/pack/pack-"), Hex(64), Lit(".idx")],
        Kind::Idx,
    ),
    (Method::Post, &[Lit("/git-upload-pack")], Kind::Upload),
    (Method::Post, &[Lit("/git-receive-pack")], Kind::Receive),
];

/// Does `parts` match the end of `path`? Returns where the match starts.
fn match_tail(path: &str, parts: &[Part]) -> Option<usize> {
    let len: usize = parts
        .iter()
        .map(|p| match p {
            Lit(s) => s.len(),
            Hex(n) => *n,
        })
        .sum();
    let start = path.len().checked_sub(len)?;
    let mut rest = path.as_bytes().get(start..)?;
    for p in parts {
        let n = match p {
            Lit(s) => s.len(),
            Hex(n) => *n,
        };
        let (head, tail) = rest.split_at_checked(n)?;
        let good = match p {
            Lit(s) => head == s.as_bytes(),
            Hex(_) => head.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
        };
        if !good {
            return None;
        }
        rest = tail;
    }
    Some(start)
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space, `%XX` a byte);
/// a malformed escape is kept as it is, as git's `url_decode` does.
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |j: usize| b.get(j).and_then(|d| (*d as char).to_digit(16));
        match (c, hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of `name` in `query` (the last one wins, as in http-backend).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (url_decode(k) == name).then(|| url_decode(v))
        })
        .last()
}

/// http-backend's `select_service`: `git-upload-pack` or `git-receive-pack`, else 403.
pub fn select_service(name: &str) -> Result<Service, Reject> {
    match name {
        "git-upload-pack" => Ok(Service::UploadPack),
        "git-receive-pack" => Ok(Service::ReceivePack),
        _ => Err(Reject::new(
            Status::Forbidden,
            format!("Unsupported service: '{name}'"),
        )),
    }
}

/// The request path and the root it is relative to (`GIT_PROJECT_ROOT` + `PATH_INFO`, else
/// `PATH_TRANSLATED` under `/`).
fn locate(env: &CgiEnv) -> Result<(PathBuf, String), Reject> {
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    match (nonempty(&env.project_root), nonempty(&env.path_info)) {
        (Some(root), Some(info)) => Ok((PathBuf::from(root), info)),
        (Some(_), None) => Err(Reject::new(
            Status::NotFound,
            "GIT_PROJECT_ROOT is set but PATH_INFO is not",
        )),
        (None, _) => match nonempty(&env.path_translated) {
            Some(path) => Ok((PathBuf::from("/"), path)),
            None => Err(Reject::internal(
                "No GIT_PROJECT_ROOT or PATH_TRANSLATED from server",
            )),
        },
    }
}

/// `CONTENT_LENGTH`: unset or empty is "read to end of input"; anything but digits is 400.
fn content_length(env: &CgiEnv) -> Result<Option<u64>, Reject> {
    match env.content_length.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse::<u64>().map(Some).map_err(|_| {
            Reject::new(
                Status::BadRequest,
                format!("failed to parse CONTENT_LENGTH: {s}"),
            )
        }),
    }
}

/// Routes the CGI request in `env` (see the module docs).
pub fn parse(env: &CgiEnv) -> Result<CgiRequest, Reject> {
    let method = match env.method.as_deref() {
        Some("GET" | "HEAD") => Some(Method::Get),
        Some("POST") => Some(Method::Post),
        Some(_) => None,
        None => return Err(Reject::internal("No REQUEST_METHOD from server")),
    };
    let (root, path) = locate(env)?;
    let Some((want, kind, start)) = ROUTES
        .iter()
        .find_map(|(m, parts, k)| match_tail(&path, parts).map(|s| (*m, *k, s)))
    else {
        return Err(Reject::new(
            Status::NotFound,
            format!("Request not supported: '{path}'"),
        ));
    };
    if method != Some(want) {
        return Err(Reject::wrong_method(
            want == Method::Get,
            env.server_protocol.as_deref() == Some("HTTP/1.1"),
        ));
    }
    let (repo, tail) = path.split_at(start);
    let arg = tail.trim_start_matches('/').to_string();
    let target = match kind {
        Kind::Head => Target::Head,
        Kind::InfoRefs => {
            Target::InfoRefs(env.query.as_deref().and_then(|q| query_param(q, "service")))
        }
        Kind::TextFile => Target::TextFile(arg),
        Kind::InfoPacks => Target::InfoPacks,
        Kind::Loose => Target::Loose(arg),
        Kind::Pack => Target::Pack(arg),
        Kind::Idx => Target::Idx(arg),
        Kind::Upload => Target::Rpc(Service::UploadPack),
        Kind::Receive => Target::Rpc(Service::ReceivePack),
    };
    let encoding = env.content_encoding.as_deref();
    Ok(CgiRequest {
        root,
        repo: repo.to_string(),
        target,
        version: version_from_git_protocol(env.git_protocol.as_deref()),
        user: env.remote_user.clone().filter(|u| !u.is_empty()),
        addr: env.remote_addr.clone().filter(|a| !a.is_empty()),
        content_type: env.content_type.clone().unwrap_or_default(),
        body: BodySpec {
            length: content_length(env)?,
            gzip: matches!(encoding, Some("gzip" | "x-gzip")),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(method: &str, path: &str, query: &str) -> CgiEnv {
        CgiEnv {
            method: Some(method.into()),
            project_root: Some("/srv/git".into()),
            path_info: Some(path.into()),
            query: Some(query.into()),
            server_protocol: Some("HTTP/1.1".into()),
            ..CgiEnv::default()
        }
    }

    const OID: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn routes() {
        let loose = format!("/r.git/objects/01/{}", &OID[2..]);
        let pack = format!("/r.git/objects/pack/pack-{OID}.pack");
        let idx = format!("/a/b.git/objects/pack/pack-{OID}.idx");
        let cases: Vec<(&str, &str, &str, &str, Target)> = vec![
            (
                "GET",
                "/r.git/info/refs",
                "service=git-upload-pack",
                "/r.git",
                Target::InfoRefs(Some("git-upload-pack".into())),
            ),
            (
                "GET",
                "/r.git/info/refs",
                "a=b&service=git%2Dreceive-pack",
                "/r.git",
                Target::InfoRefs(Some("git-receive-pack".into())),
            ),
            (
                "HEAD",
                "/r.git/info/refs",
                "",
                "/r.git",
                Target::InfoRefs(None),
            ),
            ("GET", "/r.git/HEAD", "", "/r.git", Target::Head),
            ("GET", "/HEAD", "", "", Target::Head),
            (
                "GET",
                "/r.git/objects/info/packs",
                "",
                "/r.git",
                Target::InfoPacks,
            ),
            (
                "GET",
                "/r.git/objects/info/http-alternates",
                "",
                "/r.git",
                Target::TextFile("objects/info/http-alternates".into()),
            ),
            (
                "GET",
                &loose,
                "",
                "/r.git",
                Target::Loose(loose[7..].into()),
            ),
            ("GET", &pack, "", "/r.git", Target::Pack(pack[7..].into())),
            ("GET", &idx, "", "/a/b.git", Target::Idx(idx[9..].into())),
            (
                "POST",
                "/r.git/git-upload-pack",
                "",
                "/r.git",
                Target::Rpc(Service::UploadPack),
            ),
            (
                "POST",
                "/x/git-receive-pack",
                "",
                "/x",
                Target::Rpc(Service::ReceivePack),
            ),
        ];
        for (method, path, query, repo, target) in cases {
            let r = parse(&env(method, path, query)).unwrap();
            assert_eq!(
                (r.repo.as_str(), &r.target),
                (repo, &target),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn rejects() {
        let upper = format!("/r.git/objects/pack/pack-{}.pack", OID.to_uppercase());
        let cases: Vec<(&str, &str, u16)> = vec![
            ("POST", "/r.git/info/refs", 405),
            ("GET", "/r.git/git-upload-pack", 405),
            ("PUT", "/r.git/HEAD", 405),
            ("GET", "/r.git/config", 404),
            ("GET", "/r.git/objects/01/23", 404),
            ("GET", &upper, 404),
            ("GET", "/r.git/info/refs/", 404),
            ("GET", "", 404),
        ];
        for (method, path, status) in cases {
            let e = parse(&env(method, path, "")).unwrap_err();
            assert_eq!(e.status.code(), status, "{method} {path}");
        }
        let mut old = env("POST", "/r.git/info/refs", "");
        old.server_protocol = Some("HTTP/1.0".into());
        assert_eq!(parse(&old).unwrap_err().status.code(), 400);
        let mut e = env("GET", "/r.git/HEAD", "");
        e.method = None;
        assert_eq!(parse(&e).unwrap_err().status.code(), 500);
        let mut e = env("POST", "/r.git/git-upload-pack", "");
        e.content_length = Some("-1".into());
        assert_eq!(parse(&e).unwrap_err().status.code(), 400);
    }

    #[test]
    fn environment() {
        let vars = [
            ("REQUEST_METHOD", "POST"),
            ("PATH_TRANSLATED", "/var/www/r.git/git-receive-pack"),
            ("CONTENT_TYPE", "application/x-git-receive-pack-request"),
            ("CONTENT_LENGTH", "12"),
            ("HTTP_CONTENT_ENCODING", "x-gzip"),
            ("HTTP_GIT_PROTOCOL", "version=2"),
            ("REMOTE_USER", "alice"),
            ("REMOTE_ADDR", ""),
        ];
        let get = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        let r = parse(&CgiEnv::from_vars(get)).unwrap();
        assert_eq!(r.root, PathBuf::from("/"));
        assert_eq!(r.repo, "/var/www/r.git");
        assert_eq!(r.version, Version::V2);
        assert_eq!(r.user.as_deref(), Some("alice"));
        assert_eq!(r.addr, None);
        assert_eq!(
            r.body,
            BodySpec {
                length: Some(12),
                gzip: true
            }
        );
        let mut e = CgiEnv::from_vars(get);
        e.project_root = Some("/srv".into());
        assert_eq!(parse(&e).unwrap_err().status.code(), 404);
    }

    #[test]
    fn query_and_services() {
        assert_eq!(
            query_param("service=a&service=b", "service").as_deref(),
            Some("b")
        );
        assert_eq!(query_param("x=%zz+y", "x").as_deref(), Some("%zz y"));
        assert_eq!(query_param("service", "service").as_deref(), Some(""));
        assert_eq!(query_param("", "service"), None);
        assert!(select_service("git-upload-pack").is_ok());
        assert_eq!(
            select_service("upload-pack").unwrap_err().status.code(),
            403
        );
        assert_eq!(
            select_service("git-upload-archive")
                .unwrap_err()
                .status
                .code(),
            403
        );
    }
}
