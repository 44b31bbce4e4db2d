//! A minimal smart-HTTP front end for the real git client (git http-backend's contract): a GET
//! of `info/refs?service=...` runs `sluice <service> --stateless-rpc --advertise-refs`, every
//! POST runs one `--stateless-rpc` round with the request body on stdin, and `Git-Protocol`
//! becomes `GIT_PROTOCOL`.

use super::sluice;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Serves `root` over smart HTTP until the test ends; returns the base URL.
pub fn start_server(root: PathBuf) -> String {
    start_server_with_env(root, Vec::new())
}

/// [`start_server`], with `env` added to the environment of every `sluice` it runs (a
/// web server's CGI environment).
pub fn start_server_with_env(root: PathBuf, env: Vec<(String, String)>) -> String {
    serve(root, env, false)
}

/// Serves `root` through `sluice http-backend` as a CGI (one process per request, the request in
/// the environment as a web server sets it, `REMOTE_USER=pusher`), with `env` added; returns
/// the base URL.
pub fn start_cgi_server(root: PathBuf, env: Vec<(String, String)>) -> String {
    serve(root, env, true)
}

fn serve(root: PathBuf, env: Vec<(String, String)>, cgi: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            let env = env.clone();
            std::thread::spawn(move || {
                let _ = if cgi {
                    handle_cgi(stream, &root, &env)
                } else {
                    handle(stream, &root, &env)
                };
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// A request as read off the socket: method, target, headers (lower-case names), plain body.
struct HttpRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Runs `sluice http-backend` for one request and relays its CGI answer.
fn handle_cgi(stream: TcpStream, root: &Path, env: &[(String, String)]) -> std::io::Result<()> {
    let req = read_request(&stream)?;
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let mut cmd = Command::new(sluice());
    cmd.arg("http-backend")
        .env("REQUEST_METHOD", &req.method)
        .env("GIT_PROJECT_ROOT", root)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_USER", "pusher")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if req.method == "POST" {
        cmd.env("CONTENT_LENGTH", req.body.len().to_string());
    }
    if let Some(t) = req.header("content-type") {
        cmd.env("CONTENT_TYPE", t);
    }
    match req.header("git-protocol") {
        Some(p) => cmd.env("HTTP_GIT_PROTOCOL", p),
        None => cmd.env_remove("GIT_PROTOCOL"),
    };
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let body = req.body;
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output()?;
    let _ = writer.join();
    // The CGI answer: header lines, a blank line, the body; `Status:` names the status.
    let text = &out.stdout;
    let (split, skip) = match text.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (i, 4),
        None => (
            text.windows(2)
                .position(|w| w == b"\n\n")
                .unwrap_or(text.len()),
            2,
        ),
    };
    let head = String::from_utf8_lossy(&text[..split]).into_owned();
    let payload = text.get(split + skip..).unwrap_or_default();
    let mut status = "200 OK".to_string();
    let mut ctype = "text/plain".to_string();
    for line in head.lines() {
        if let Some((k, v)) = line.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "status" => status = v.trim().to_string(),
                "content-type" => ctype = v.trim().to_string(),
                _ => {}
            }
        }
    }
    respond(stream, &status, &ctype, payload)
}

/// Reads one request, its body de-chunked and inflated.
fn read_request(stream: &TcpStream) -> std::io::Result<HttpRequest> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = header("content-length") {
        body.resize(len.parse().unwrap_or(0), 0);
        reader.read_exact(&mut body)?;
    } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    if header("content-encoding").is_some_and(|e| e.contains("gzip")) {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain)?;
        body = plain;
    }
    Ok(HttpRequest {
        method: method.to_string(),
        target,
        headers,
        body,
    })
}

fn handle(stream: TcpStream, root: &Path, env: &[(String, String)]) -> std::io::Result<()> {
    let HttpRequest {
        method,
        target,
        headers,
        body,
    } = read_request(&stream)?;
    let method = method.as_str();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let protocol = header("git-protocol");
    let (repo, service, advertise) = if let Some(repo) = path.strip_suffix("/info/refs") {
        (
            repo,
            query.strip_prefix("service=").unwrap_or("").to_string(),
            true,
        )
    } else if let Some((repo, svc)) = path.rsplit_once('/') {
        (repo, svc.to_string(), false)
    } else {
        (path, String::new(), false)
    };
    let svc = match service.as_str() {
        "git-upload-pack" => "upload-pack",
        "git-receive-pack" => "receive-pack",
        _ => return respond(stream, "404 Not Found", "text/plain", b"no"),
    };
    assert!(method == "GET" || method == "POST");
    let dir = root.join(repo.trim_start_matches('/'));
    let mut cmd = Command::new(sluice());
    cmd.arg(svc).arg("--stateless-rpc");
    if advertise {
        cmd.arg("--advertise-refs");
    }
    cmd.arg(&dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    match &protocol {
        Some(p) => cmd.env("GIT_PROTOCOL", p),
        None => cmd.env_remove("GIT_PROTOCOL"),
    };
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output()?;
    let _ = writer.join();
    let mut payload = Vec::new();
    let v2 = protocol.as_deref().is_some_and(|p| p.contains("version=2"));
    if advertise && !v2 {
        // http-backend's preamble for v0/v1 advertisements.
        let line = format!("# service={service}\n");
        payload.extend_from_slice(format!("{:04x}{line}0000", line.len() + 4).as_bytes());
    }
    payload.extend_from_slice(&out.stdout);
    let ctype = if advertise {
        format!("application/x-{service}-advertisement")
    } else {
        format!("application/x-{service}-result")
    };
    respond(stream, "200 OK", &ctype, &payload)
}

fn respond(mut stream: TcpStream, status: &str, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}
