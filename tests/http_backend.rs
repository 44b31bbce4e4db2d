//! `sluice http-backend` under real web servers, configured from the files in contrib/http/ that
//! the README recommends: nginx with fcgiwrap, and Apache 2.4 with mod_cgi, each with HTTP basic
//! auth for push. Every case runs against Sluice and against `git http-backend` behind the same
//! rendered configuration in the same run, and the statuses are printed side by side
//! (`cargo test --test http_backend -- --nocapture`).
//!
//! The servers are started on 127.0.0.1 on free ports in a temporary directory and stopped by
//! PID. A missing server program fails the test unless SLUICE_SKIP_SYSTEM_TESTS=1 (scripts/test
//! installs nginx, fcgiwrap, apache2, apache2-utils and python3-pygit2).

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const GIT_BACKEND: &str = "/usr/lib/git-core/git-http-backend";
const PASSWORD: &str = "s3cret";

fn have(tool: &str) -> bool {
    if Path::new(tool).exists() {
        return true;
    }
    assert!(
        std::env::var("SLUICE_SKIP_SYSTEM_TESTS").is_ok(),
        "{tool} is not installed (run scripts/test, which installs nginx, fcgiwrap, apache2, \
         apache2-utils and python3-pygit2, or set SLUICE_SKIP_SYSTEM_TESTS=1)"
    );
    false
}

/// A server process, stopped with SIGTERM by its PID (nginx and Apache then stop their
/// workers) and reaped on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a server in a process group of its own: Apache in the foreground signals its whole
/// group when it stops, which must not reach the test.
fn spawn(cmd: &mut Command) -> Daemon {
    use std::os::unix::process::CommandExt;
    Daemon(
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}")),
    )
}

/// Which CGI answers behind the web server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sluice,
    Git,
}

/// Which web server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Web {
    Nginx,
    Apache,
}

/// One web server with one backend, serving `root` at `http://127.0.0.1:port/git/`.
struct Site {
    backend: Backend,
    web: Web,
    dir: PathBuf,
    root: PathBuf,
    port: u16,
    _daemons: Vec<Daemon>,
}

impl Site {
    fn url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/git/{repo}", self.port)
    }

    fn push_url(&self, repo: &str) -> String {
        format!("http://alice:{PASSWORD}@127.0.0.1:{}/git/{repo}", self.port)
    }

    fn label(&self) -> String {
        format!("{:?}+{:?}", self.web, self.backend)
    }
}

/// Fills in a contrib file's `@NAME@` placeholders.
fn render(contrib: &str, vars: &[(&str, String)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(contrib);
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (k, v) in vars {
        text = text.replace(&format!("@{k}@"), v);
    }
    assert!(!text.contains("@PROJECT_ROOT@"), "unrendered placeholder");
    text
}

/// The served root: a bare copy of the `tags` fixture as `r.git`, with partial clone allowed.
fn site_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    copy_repo(&fixture("tags"), &root.join("r.git"));
    for (k, v) in [
        ("uploadpack.allowFilter", "true"),
        ("uploadpack.allowAnySHA1InWant", "true"),
    ] {
        git_ok(&root.join("r.git"), &["config", k, v]);
    }
    root
}

/// The CGI program for `backend`: the `sluice-http-backend` link the README recommends.
fn cgi_program(dir: &Path, backend: Backend) -> PathBuf {
    match backend {
        Backend::Git => PathBuf::from(GIT_BACKEND),
        Backend::Sluice => {
            let link = dir.join("bin/sluice-http-backend");
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(sluice(), &link).unwrap();
            link
        }
    }
}

fn htpasswd(dir: &Path) -> PathBuf {
    let file = dir.join("htpasswd");
    let ok = Command::new("htpasswd")
        .args(["-b", "-c", "-B"])
        .arg(&file)
        .args(["alice", PASSWORD])
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "htpasswd");
    file
}

fn start_nginx(dir: &Path, backend: Backend) -> Site {
    let root = site_root(dir);
    let port = free_port();
    let sock = dir.join("fcgiwrap.sock");
    let fcgi = spawn(
        Command::new("/usr/sbin/fcgiwrap")
            .arg("-s")
            .arg(format!("unix:{}", sock.display())),
    );
    wait_until("fcgiwrap", || sock.exists());
    let site = render(
        "contrib/http/nginx-sluice.conf",
        &[
            ("LISTEN", format!("127.0.0.1:{port}")),
            (
                "SLUICE_CGI",
                cgi_program(dir, backend).display().to_string(),
            ),
            ("PROJECT_ROOT", root.display().to_string()),
            ("HTPASSWD", htpasswd(dir).display().to_string()),
            ("FCGIWRAP", sock.display().to_string()),
            ("LOG_FILE", dir.join("sluice.log").display().to_string()),
        ],
    );
    std::fs::write(dir.join("site.conf"), site).unwrap();
    let main = format!(
        "worker_processes 1;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n\
         fastcgi_temp_path {d}/fastcgi;\n proxy_temp_path {d}/proxy;\n\
         uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n include {d}/site.conf;\n}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let nginx = spawn(
        Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off; user root;"]),
    );
    wait_for_port(port);
    Site {
        backend,
        web: Web::Nginx,
        dir: dir.to_path_buf(),
        root,
        port,
        _daemons: vec![nginx, fcgi],
    }
}

fn start_apache(dir: &Path, backend: Backend) -> Site {
    let root = site_root(dir);
    let port = free_port();
    let site = render(
        "contrib/http/apache-sluice.conf",
        &[
            (
                "SLUICE_CGI",
                cgi_program(dir, backend).display().to_string(),
            ),
            ("PROJECT_ROOT", root.display().to_string()),
            ("HTPASSWD", htpasswd(dir).display().to_string()),
            ("LOG_FILE", dir.join("sluice.log").display().to_string()),
        ],
    );
    std::fs::write(dir.join("site.conf"), site).unwrap();
    let mods = [
        ("mpm_prefork", "mpm_prefork"),
        ("authz_core", "authz_core"),
        ("authn_core", "authn_core"),
        ("authn_file", "authn_file"),
        ("auth_basic", "auth_basic"),
        ("authz_user", "authz_user"),
        ("alias", "alias"),
        ("cgi", "cgi"),
        ("env", "env"),
    ];
    let mut main = String::new();
    for (name, file) in mods {
        main.push_str(&format!(
            "LoadModule {name}_module /usr/lib/apache2/modules/mod_{file}.so\n"
        ));
    }
    // Apache started as root serves as www-data: the test tree is opened up to it, and C git
    // is told that www-data may use root's repositories (its safe.directory check).
    main.push_str(&format!(
        "ServerRoot {d}\nServerName localhost\nListen 127.0.0.1:{port}\nPidFile {d}/httpd.pid\n\
         ErrorLog {d}/error.log\nUser www-data\nGroup www-data\nMutex file:{d}\n\
         StartServers 2\nSetEnv GIT_CONFIG_COUNT 1\nSetEnv GIT_CONFIG_KEY_0 safe.directory\n\
         SetEnv GIT_CONFIG_VALUE_0 *\nInclude {d}/site.conf\n",
        d = dir.display()
    ));
    std::fs::write(dir.join("httpd.conf"), main).unwrap();
    let ok = Command::new("chmod")
        .arg("-R")
        .arg("a+rwX")
        .arg(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let apache = spawn(
        Command::new("/usr/sbin/apache2")
            .arg("-f")
            .arg(dir.join("httpd.conf"))
            .arg("-DFOREGROUND"),
    );
    wait_for_port(port);
    Site {
        backend,
        web: Web::Apache,
        dir: dir.to_path_buf(),
        root,
        port,
        _daemons: vec![apache],
    }
}

/// git in `dir` with `safe.directory=*` (Apache's CGI writes as www-data) and an umask that
/// leaves what it creates writable to the other servers' user.
fn g(dir: &Path, args: &[&str]) -> Output {
    let mut c = git_cmd(dir);
    c.args(["-c", "safe.directory=*", "-c", "credential.helper="])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0");
    c.output().unwrap()
}

fn g_ok(dir: &Path, args: &[&str]) -> String {
    let out = g(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} in {}:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fsck_strict(repo: &Path) {
    g_ok(
        repo,
        &["fsck", "--strict", "--no-progress", "--no-dangling"],
    );
}

fn served_refs(site: &Site) -> String {
    g_ok(
        &site.root.join("r.git"),
        &["for-each-ref", "--format=%(objectname) %(refname)"],
    )
}

/// What a set of git client operations must do against one site.
fn git_client_cases(site: &Site) {
    let dir = site.dir.join("client");
    std::fs::create_dir_all(&dir).unwrap();
    let src = site.root.join("r.git");
    let url = site.url("r.git");
    for v in ["0", "2"] {
        let pv = format!("protocol.version={v}");
        let clone = dir.join(format!("clone-v{v}"));
        g_ok(
            &dir,
            &["-c", &pv, "clone", "-q", &url, clone.to_str().unwrap()],
        );
        fsck_strict(&clone);
        assert_eq!(
            g_ok(&clone, &["rev-parse", "HEAD"]),
            g_ok(&src, &["rev-parse", "HEAD"])
        );
        let remote = g_ok(&dir, &["-c", &pv, "ls-remote", &url]);
        let local = g_ok(&dir, &["ls-remote", src.to_str().unwrap()]);
        assert_eq!(remote, local, "{} ls-remote v{v}", site.label());
    }
    // Shallow and partial clones (v2).
    let shallow = dir.join("shallow");
    g_ok(
        &dir,
        &["clone", "-q", "--depth=1", &url, shallow.to_str().unwrap()],
    );
    assert_eq!(g_ok(&shallow, &["rev-list", "--count", "HEAD"]).trim(), "1");
    let partial = dir.join("partial");
    g_ok(
        &dir,
        &[
            "clone",
            "-q",
            "--filter=blob:none",
            &url,
            partial.to_str().unwrap(),
        ],
    );
    fsck_strict(&partial);
    // Push: small, then large (over http.postBuffer, so the body is chunked). The pushes are
    // logged, with the identity `git http-backend` derives from the authenticated user.
    g_ok(&src, &["config", "core.logAllRefUpdates", "true"]);
    let work = dir.join("clone-v2");
    std::fs::write(work.join("small"), "small\n").unwrap();
    g_ok(&work, &["add", "."]);
    g_ok(&work, &["commit", "-q", "-m", "small"]);
    g_ok(
        &work,
        &[
            "push",
            "-q",
            &site.push_url("r.git"),
            "HEAD:refs/heads/small",
        ],
    );
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(work.join("big.bin"), big).unwrap();
    g_ok(&work, &["add", "."]);
    g_ok(&work, &["commit", "-q", "-m", "big"]);
    g_ok(
        &work,
        &[
            "-c",
            "http.postBuffer=65536",
            "push",
            "-q",
            &site.push_url("r.git"),
            "HEAD:refs/heads/big",
        ],
    );
    assert_eq!(
        g_ok(&src, &["rev-parse", "refs/heads/big"]),
        g_ok(&work, &["rev-parse", "HEAD"])
    );
    let logged = g_ok(
        &src,
        &["reflog", "show", "--format=%gn <%ge> %gs", "refs/heads/big"],
    );
    assert_eq!(
        logged,
        "alice <alice@http.127.0.0.1> push\n",
        "{}: reflog of the pushed branch",
        site.label()
    );
    fsck_strict(&src);
    // An incremental fetch with more than 1 KiB of haves: git gzips that request body.
    let other = dir.join("clone-v0");
    for i in 0..40 {
        g_ok(
            &other,
            &["commit", "-q", "--allow-empty", "-m", &format!("local {i}")],
        );
    }
    for v in ["0", "2"] {
        let pv = format!("protocol.version={v}");
        g_ok(
            &other,
            &[
                "-c",
                &pv,
                "fetch",
                "-q",
                &url,
                &format!("+refs/heads/*:refs/remotes/v{v}/*"),
            ],
        );
        assert_eq!(
            g_ok(&other, &["rev-parse", &format!("refs/remotes/v{v}/big")]),
            g_ok(&src, &["rev-parse", "refs/heads/big"])
        );
    }
    fsck_strict(&other);
    // The dumb protocol sees the pushed (loose or packed) objects too.
    let dumb = dir.join("dumb");
    let out = git_cmd(&dir)
        .args([
            "-c",
            "safe.directory=*",
            "clone",
            "-q",
            &url,
            dumb.to_str().unwrap(),
        ])
        .env("GIT_SMART_HTTP", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} dumb clone: {}",
        site.label(),
        String::from_utf8_lossy(&out.stderr)
    );
    fsck_strict(&dumb);
    let dumb_refs = g_ok(
        &dumb,
        &[
            "for-each-ref",
            "--format=%(objectname) %(refname:lstrip=3)",
            "refs/remotes/origin/",
        ],
    );
    assert!(dumb_refs.contains(" big\n"), "{dumb_refs}");
    // libgit2 (pygit2) as a second client: clone, then push with credentials.
    pygit2_case(site, &dir);
    if site.backend == Backend::Sluice {
        // Sluice's log shows that the large push came without a length (chunked) and that
        // the fetch with many haves came gzipped, with the authenticated user.
        let log = std::fs::read_to_string(site.dir.join("sluice.log")).unwrap();
        let line = |service: &str, pred: &dyn Fn(&str) -> bool| {
            log.lines()
                .any(|l| l.contains(service) && l.contains("outcome=\"ok\"") && pred(l))
        };
        assert!(
            line("git-receive-pack", &|l| l.contains("method=\"POST\"")
                && l.contains("length=\"none\"")
                && l.contains("user=alice")),
            "no chunked push in the log:\n{log}"
        );
        assert!(
            line("git-upload-pack", &|l| l.contains("encoding=\"gzip\"")),
            "no gzip fetch in the log:\n{log}"
        );
    }
}

const PYGIT2: &str = r#"
import sys, pygit2
url, push_url, path = sys.argv[1], sys.argv[2], sys.argv[3]
repo = pygit2.clone_repository(url, path)
sig = pygit2.Signature("Py", "py@example.com", 1700000000, 0)
blob = repo.create_blob(b"from libgit2\n")
tb = repo.TreeBuilder(repo.head.peel().tree)
tb.insert("libgit2.txt", blob, pygit2.GIT_FILEMODE_BLOB)
oid = repo.create_commit("refs/heads/libgit2", sig, sig, "libgit2", tb.write(), [repo.head.target])
remote = repo.remotes.create("auth", push_url)
remote.push(["refs/heads/libgit2:refs/heads/libgit2"])
print(oid)
"#;

fn pygit2_case(site: &Site, dir: &Path) {
    if !have("/usr/lib/python3/dist-packages/pygit2") {
        return;
    }
    let out = Command::new("/usr/bin/python3")
        .args(["-c", PYGIT2, &site.url("r.git"), &site.push_url("r.git")])
        .arg(dir.join("pygit2"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} pygit2: {}",
        site.label(),
        String::from_utf8_lossy(&out.stderr)
    );
    let oid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        g_ok(
            &site.root.join("r.git"),
            &["rev-parse", "refs/heads/libgit2"]
        )
        .trim(),
        oid
    );
    fsck_strict(&site.root.join("r.git"));
}

/// Sends a raw HTTP request; returns the status code and whether the body carries a git
/// protocol error (an `ERR` pkt-line or a failed `unpack` report).
fn http(port: u16, request: &[u8]) -> (u16, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = s.write_all(request);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let git_error =
        body.contains("ERR ") || (body.contains("unpack ") && !body.contains("unpack ok"));
    (status, git_error)
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A push request whose pack is cut off after its header.
fn truncated_push_body(src: &Path) -> Vec<u8> {
    let head = g_ok(src, &["rev-parse", "HEAD"]);
    let zero = "0".repeat(40);
    let cmd = format!("{zero} {} refs/heads/cut\0report-status\n", head.trim());
    let mut body = format!("{:04x}{cmd}0000", cmd.len() + 4).into_bytes();
    body.extend_from_slice(b"PACK\0\0\0\x02\0\0\0\x05\x78\x9c");
    body
}

/// Everything that must come back as a clean HTTP error; returns (case, status) rows.
fn bad_input_cases(site: &Site) -> Vec<(&'static str, (u16, bool))> {
    let before = served_refs(site);
    let objects_before = g_ok(&site.root.join("r.git"), &["count-objects", "-v"]);
    let auth = format!("Basic {}", base64(format!("alice:{PASSWORD}").as_bytes()));
    let up = "application/x-git-upload-pack-request";
    let rp = "application/x-git-receive-pack-request";
    let cut = truncated_push_body(&site.root.join("r.git"));
    let cases: Vec<(&'static str, Vec<u8>)> = vec![
        (
            "path escaping with ..",
            request("GET", "/git/r.git/../../../x.git/HEAD", &[], b""),
        ),
        (
            "encoded ..",
            request("GET", "/git/%2e%2e/%2e%2e/x.git/HEAD", &[], b""),
        ),
        (
            "missing repository",
            request(
                "GET",
                "/git/nope.git/info/refs?service=git-upload-pack",
                &[],
                b"",
            ),
        ),
        (
            "unknown file",
            request("GET", "/git/r.git/config", &[], b""),
        ),
        (
            "unknown service",
            request(
                "GET",
                "/git/r.git/info/refs?service=git-upload-archive",
                &[],
                b"",
            ),
        ),
        (
            "wrong method PUT",
            request("PUT", "/git/r.git/info/refs", &[], b""),
        ),
        (
            "GET of an RPC",
            request("GET", "/git/r.git/git-upload-pack", &[], b""),
        ),
        (
            "wrong content type",
            request(
                "POST",
                "/git/r.git/git-upload-pack",
                &[("Content-Type", "text/plain")],
                b"0000",
            ),
        ),
        (
            "garbage fetch body",
            request(
                "POST",
                "/git/r.git/git-upload-pack",
                &[("Content-Type", up)],
                b"zzzz not pkt-lines",
            ),
        ),
        (
            "bad gzip body",
            request(
                "POST",
                "/git/r.git/git-upload-pack",
                &[("Content-Type", up), ("Content-Encoding", "gzip")],
                b"not gzip",
            ),
        ),
        (
            "truncated pack",
            request(
                "POST",
                "/git/r.git/git-receive-pack",
                &[("Content-Type", rp), ("Authorization", &auth)],
                &cut,
            ),
        ),
        (
            "unauthenticated push",
            request(
                "POST",
                "/git/r.git/git-receive-pack",
                &[("Content-Type", rp)],
                &cut,
            ),
        ),
        (
            "unauthenticated info/refs",
            request(
                "GET",
                "/git/r.git/info/refs?service=git-receive-pack",
                &[],
                b"",
            ),
        ),
    ];
    let rows: Vec<(&'static str, (u16, bool))> = cases
        .into_iter()
        .map(|(name, req)| (name, http(site.port, &req)))
        .collect();
    assert_eq!(served_refs(site), before, "{}: refs changed", site.label());
    assert_eq!(
        g_ok(&site.root.join("r.git"), &["count-objects", "-v"]),
        objects_before,
        "{}: objects written",
        site.label()
    );
    rows
}

fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Runs every case against `web` with both backends and prints the comparison.
fn compare(web: Web, start: fn(&Path, Backend) -> Site) {
    let scratch = scratch();
    // Apache's CGIs run as www-data: it must reach the site directories.
    let ok = Command::new("chmod")
        .arg("755")
        .arg(scratch.path())
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let mut table: Vec<(Backend, Vec<(&'static str, (u16, bool))>)> = Vec::new();
    for backend in [Backend::Git, Backend::Sluice] {
        let dir = scratch.path().join(format!("{backend:?}"));
        std::fs::create_dir_all(&dir).unwrap();
        let site = start(&dir, backend);
        git_client_cases(&site);
        table.push((backend, bad_input_cases(&site)));
    }
    let show = |(status, git_error): (u16, bool)| {
        format!("{status}{}", if git_error { " + git error" } else { "" })
    };
    println!("\n{web:?}: case | git http-backend | sluice http-backend");
    for (i, (case, theirs)) in table[0].1.iter().enumerate() {
        println!(
            "{web:?}: {case:28} | {:16} | {}",
            show(*theirs),
            show(table[1].1[i].1)
        );
    }
    // Sluice answers every bad request with an HTTP error, or (for a body that is HTTP-valid
    // but not valid git) with the git protocol's own error, never a silent 200 or a 5xx.
    for (case, (status, git_error)) in &table[1].1 {
        assert!(
            (400..500).contains(status) || (*status == 200 && *git_error),
            "{web:?}+Sluice: {case}: status {status}"
        );
    }
}

#[test]
fn nginx_fcgiwrap() {
    if !(have("/usr/sbin/nginx") && have("/usr/sbin/fcgiwrap") && have("/usr/bin/htpasswd")) {
        return;
    }
    compare(Web::Nginx, start_nginx);
}

#[test]
fn apache_mod_cgi() {
    if !(have("/usr/sbin/apache2") && have("/usr/bin/htpasswd")) {
        return;
    }
    compare(Web::Apache, start_apache);
}

/// Runs a CGI `program` (sluice's link or git's) once with `env` and `body`; returns the status
/// (200 when the header block has no `Status:` line) and the body after the headers.
fn cgi(program: &Path, env: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let body = body.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(out.stdout.len());
    let head = String::from_utf8_lossy(&out.stdout[..split]).into_owned();
    let status = head
        .lines()
        .find_map(|l| l.strip_prefix("Status: "))
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(if head.is_empty() { 0 } else { 200 });
    (
        status,
        out.stdout.get(split + 4..).unwrap_or_default().to_vec(),
    )
}

/// The CGI contract without a web server in between: what no web server lets through (a `..`
/// in PATH_INFO, a body shorter than CONTENT_LENGTH) and the policy switches, against both
/// backends.
#[test]
fn cgi_contract() {
    let dir = scratch();
    let root = site_root(dir.path());
    let repo = root.join("r.git");
    git_ok(&root, &["init", "-q", "--bare", "hidden.git"]);
    let root_s = root.display().to_string();
    let sluice_cgi = cgi_program(dir.path(), Backend::Sluice);
    let base = |path: &'static str, method: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("GIT_PROJECT_ROOT", root_s.clone()),
            ("PATH_INFO", path.to_string()),
            ("REQUEST_METHOD", method.to_string()),
            ("SERVER_PROTOCOL", "HTTP/1.1".to_string()),
        ]
    };
    let up = "application/x-git-upload-pack-request";
    let rp = "application/x-git-receive-pack-request";
    let cut = truncated_push_body(&repo);
    let want = format!(
        "0032want {}\n00000009done\n",
        g_ok(&repo, &["rev-parse", "HEAD"]).trim()
    );
    type Case = (&'static str, u16, Vec<(&'static str, String)>, Vec<u8>);
    let with = |mut v: Vec<(&'static str, String)>, extra: &[(&'static str, &str)]| {
        v.extend(extra.iter().map(|(k, x)| (*k, x.to_string())));
        v
    };
    let export = ("GIT_HTTP_EXPORT_ALL", "1");
    let adv = ("QUERY_STRING", "service=git-upload-pack");
    let cases: Vec<Case> = vec![
        (
            "v0 advertisement",
            200,
            with(base("/r.git/info/refs", "GET"), &[export, adv]),
            vec![],
        ),
        (
            "v2 advertisement",
            200,
            with(
                base("/r.git/info/refs", "GET"),
                &[export, adv, ("HTTP_GIT_PROTOCOL", "version=2")],
            ),
            vec![],
        ),
        (
            "HEAD method",
            200,
            with(base("/r.git/info/refs", "HEAD"), &[export, adv]),
            vec![],
        ),
        (
            "fetch, chunked (no length)",
            200,
            with(
                base("/r.git/git-upload-pack", "POST"),
                &[export, ("CONTENT_TYPE", up)],
            ),
            want.clone().into_bytes(),
        ),
        (
            "dumb HEAD",
            200,
            with(base("/r.git/HEAD", "GET"), &[export]),
            vec![],
        ),
        (
            ".. in PATH_INFO",
            400,
            with(base("/../r.git/HEAD", "GET"), &[export]),
            vec![],
        ),
        (
            ".. inside PATH_INFO",
            400,
            with(base("/r.git/../r.git/HEAD", "GET"), &[export]),
            vec![],
        ),
        (
            "not exported",
            404,
            base("/hidden.git/info/refs", "GET"),
            vec![],
        ),
        (
            "no PATH_INFO",
            404,
            with(base("", "GET"), &[export]),
            vec![],
        ),
        (
            "no REQUEST_METHOD",
            500,
            vec![
                ("GIT_PROJECT_ROOT", root_s.clone()),
                ("PATH_INFO", "/r.git/HEAD".into()),
                export_pair(export),
            ],
            vec![],
        ),
        (
            "wrong method, HTTP/1.0",
            400,
            with(
                base("/r.git/HEAD", "POST"),
                &[export, ("SERVER_PROTOCOL", "HTTP/1.0")],
            ),
            vec![],
        ),
        (
            "body shorter than length",
            400,
            with(
                base("/r.git/git-upload-pack", "POST"),
                &[export, ("CONTENT_TYPE", up), ("CONTENT_LENGTH", "500")],
            ),
            want.as_bytes()[..50].to_vec(),
        ),
        (
            "length over max buffer",
            413,
            with(
                base("/r.git/git-upload-pack", "POST"),
                &[
                    export,
                    ("CONTENT_TYPE", up),
                    ("CONTENT_LENGTH", "2000000"),
                    ("GIT_HTTP_MAX_REQUEST_BUFFER", "1m"),
                ],
            ),
            vec![],
        ),
        (
            "push over SLUICE_MAX_PACK_BYTES",
            413,
            with(
                base("/r.git/git-receive-pack", "POST"),
                &[
                    export,
                    ("CONTENT_TYPE", rp),
                    ("REMOTE_USER", "alice"),
                    ("CONTENT_LENGTH", "5000000"),
                    ("SLUICE_MAX_PACK_BYTES", "1000"),
                ],
            ),
            // The whole declared body (git's backend loops forever on a short one).
            vec![0; 5_000_000],
        ),
        (
            "push, no REMOTE_USER",
            403,
            with(
                base("/r.git/git-receive-pack", "POST"),
                &[export, ("CONTENT_TYPE", rp)],
            ),
            cut.clone(),
        ),
        (
            "push, truncated pack",
            200,
            with(
                base("/r.git/git-receive-pack", "POST"),
                &[export, ("CONTENT_TYPE", rp), ("REMOTE_USER", "alice")],
            ),
            cut.clone(),
        ),
    ];
    let before = served_refs_of(&repo);
    println!("\nCGI: case | git http-backend | sluice http-backend");
    for (name, expected, env, body) in &cases {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (theirs, their_body) = cgi(Path::new(GIT_BACKEND), &env, body);
        let (ours, our_body) = cgi(&sluice_cgi, &env, body);
        println!("CGI: {name:28} | {theirs:16} | {ours}");
        assert_eq!(ours, *expected, "{name}");
        // Where both succeed, the bodies start the same way (the `# service=` preamble, or
        // none for v2, or the same pkt-line); a cut-off pack is reported in the push report.
        if name.contains("truncated pack") {
            let text = String::from_utf8_lossy(&our_body);
            assert!(
                text.contains("unpack ") && !text.contains("unpack ok"),
                "{text}"
            );
        } else if theirs == 200 && ours == 200 {
            assert_eq!(our_body.get(..4), their_body.get(..4), "{name}");
        }
    }
    assert_eq!(served_refs_of(&repo), before, "refs changed");
    // Policy switches in the repository's config.
    let policy = |key: &str,
                  value: &str,
                  path: &'static str,
                  method: &'static str,
                  extra: &[(&'static str, &str)],
                  body: &[u8]| {
        g_ok(&repo, &["config", key, value]);
        let env = with(base(path, method), &[&[export][..], extra].concat());
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = (
            cgi(Path::new(GIT_BACKEND), &env, body).0,
            cgi(&sluice_cgi, &env, body).0,
        );
        g_ok(&repo, &["config", "--unset", key]);
        r
    };
    let rows = [
        (
            "http.uploadpack=false",
            policy(
                "http.uploadpack",
                "false",
                "/r.git/info/refs",
                "GET",
                &[adv],
                b"",
            ),
        ),
        (
            "http.getanyfile=false",
            policy("http.getanyfile", "false", "/r.git/HEAD", "GET", &[], b""),
        ),
        (
            "http.receivepack=true, anonymous",
            policy(
                "http.receivepack",
                "true",
                "/r.git/info/refs",
                "GET",
                &[("QUERY_STRING", "service=git-receive-pack")],
                b"",
            ),
        ),
    ];
    for (name, (theirs, ours)) in rows {
        println!("CGI: {name:28} | {theirs:16} | {ours}");
        assert_eq!(theirs, ours, "{name}");
    }
    // The access file: bob may read but not push, through REMOTE_USER.
    let access = dir.path().join("access.conf");
    std::fs::write(
        &access,
        "repo r.git\n    R = @all anonymous\n    RW = alice\n",
    )
    .unwrap();
    let access_s = access.display().to_string();
    let ask = |user: &str, svc: &str| {
        let q = format!("service={svc}");
        let env = with(
            base("/r.git/info/refs", "GET"),
            &[
                export,
                ("QUERY_STRING", &q),
                ("REMOTE_USER", user),
                ("SLUICE_ACCESS", &access_s),
            ],
        );
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        cgi(&sluice_cgi, &env, b"").0
    };
    assert_eq!(ask("bob", "git-upload-pack"), 200);
    assert_eq!(ask("bob", "git-receive-pack"), 403);
    assert_eq!(ask("alice", "git-receive-pack"), 200);
    // The access hook, as in the ssh mode: it sees the mode and REMOTE_USER, and refuses carol.
    let hook = dir.path().join("hook.sh");
    std::fs::write(
        &hook,
        "#!/bin/sh\n[ \"$SLUICE_MODE\" = http ] && [ \"$SLUICE_USER\" != carol ] && exit 0\necho no carol; exit 1\n",
    )
    .unwrap();
    let ok = Command::new("chmod")
        .arg("+x")
        .arg(&hook)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let hook_s = hook.display().to_string();
    let hooked = |user: &str| {
        let env = with(
            base("/r.git/info/refs", "GET"),
            &[
                export,
                adv,
                ("REMOTE_USER", user),
                ("SLUICE_ACCESS_HOOK", &hook_s),
            ],
        );
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        cgi(&sluice_cgi, &env, b"")
    };
    assert_eq!(hooked("alice").0, 200);
    let (status, body) = hooked("carol");
    assert_eq!(
        (status, String::from_utf8_lossy(&body).trim()),
        (403, "no carol")
    );
}

fn export_pair(p: (&'static str, &'static str)) -> (&'static str, String) {
    (p.0, p.1.to_string())
}

fn served_refs_of(repo: &Path) -> String {
    g_ok(repo, &["for-each-ref", "--format=%(objectname) %(refname)"])
}
