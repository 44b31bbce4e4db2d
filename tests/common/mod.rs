//! The end-to-end test harness: fixture repositories built by scripts with real git, the real git
//! client driving `sluice`, and helpers to compare results with C git.
//!
//! Set `SLUICE_TEST_SERVER=git` to run the same tests against C git's own upload-pack (proves
//! the tests themselves are right).

#![allow(dead_code)]

pub mod http;
pub mod receive;
pub mod remotes;
pub mod sshd;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The sluice binary under test.
pub fn sluice() -> &'static str {
    env!("CARGO_BIN_EXE_sluice")
}

/// True when the tests run against C git instead of sluice.
pub fn against_git() -> bool {
    std::env::var("SLUICE_TEST_SERVER").is_ok_and(|v| v == "git")
}

/// A git command with a clean, deterministic environment.
pub fn git_cmd(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "A U Thor")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "C O Mitter")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .env("GIT_AUTHOR_DATE", "1700000000 +0000")
        .env("GIT_COMMITTER_DATE", "1700000000 +0000")
        .env_remove("GIT_PROTOCOL")
        .env_remove("GIT_DIR");
    c
}

/// Runs git in `dir` and returns its output whatever the exit status.
pub fn git(dir: &Path, args: &[&str]) -> Output {
    git_cmd(dir).args(args).output().expect("run git")
}

/// Runs git in `dir`, panicking with its stderr on failure; returns stdout.
pub fn git_ok(dir: &Path, args: &[&str]) -> String {
    let out = git(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} failed in {}:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn tmp_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Appends `line` to file `f` of work repository `repo` and commits it; returns the commit id.
pub fn commit_line(repo: &Path, line: &str) -> String {
    let f = repo.join("f");
    let mut text = std::fs::read_to_string(&f).unwrap_or_default();
    text.push_str(line);
    text.push('\n');
    std::fs::write(&f, text).unwrap();
    git_ok(repo, &["add", "f"]);
    git_ok(repo, &["commit", "-q", "-m", line]);
    git_ok(repo, &["rev-parse", "HEAD"]).trim().to_string()
}

/// Panics with `what` and the command's stderr unless `out` says it succeeded.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh empty directory for one test (removed on drop).
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("t{}-", COUNTER.fetch_add(1, Ordering::Relaxed)))
        .tempdir_in(tmp_root())
        .expect("tempdir")
}

/// The repository built by `tests/fixtures/<name>.sh`, built once per script content and shared
/// read-only between tests (copy it with [`copy_repo`] before changing it).
pub fn fixture(name: &str) -> PathBuf {
    fixture_with_args(name, &[])
}

/// Like [`fixture`], passing extra `args` to the script.
pub fn fixture_with_args(name: &str, args: &[&str]) -> PathBuf {
    let script = fixtures_dir().join(format!("{name}.sh"));
    let text = std::fs::read(&script).expect("fixture script");
    let lib = std::fs::read(fixtures_dir().join("lib.sh")).unwrap_or_default();
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.iter().chain(&lib).chain(args.join(" ").as_bytes()) {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
    }
    let out = tmp_root()
        .join("fixtures")
        .join(format!("{name}-{h:016x}.git"));
    if out.join("HEAD").exists() {
        return out;
    }
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let building = tmp_root().join("fixtures").join(format!(
        "building-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let status = Command::new("bash")
        .arg(&script)
        .arg(&building)
        .args(args)
        .stdin(Stdio::null())
        .status()
        .expect("run fixture script");
    assert!(status.success(), "fixture {name} failed");
    // Another test may have won the race; either copy is identical.
    if std::fs::rename(&building, &out).is_err() {
        let _ = std::fs::remove_dir_all(&building);
    }
    // Alternates of a fixture point at "<out>.base" built next to it by the script.
    if let Ok(alt) = std::fs::read_to_string(out.join("objects/info/alternates")) {
        if alt.contains("building-") {
            let fixed = alt.replace(building.to_str().unwrap(), out.to_str().unwrap());
            std::fs::write(out.join("objects/info/alternates"), fixed).unwrap();
            let base_built = PathBuf::from(format!("{}.base", building.display()));
            let base_out = PathBuf::from(format!("{}.base", out.display()));
            if std::fs::rename(&base_built, &base_out).is_err() {
                let _ = std::fs::remove_dir_all(&base_built);
            }
        }
    }
    out
}

/// Copies repository `src` to `dst` (cp -a, keeping alternates paths).
pub fn copy_repo(src: &Path, dst: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(dst)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// How the git client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `git clone --no-local --upload-pack='sluice upload-pack' file://SRC`.
    UploadPackFlag,
    /// `git clone 'ext::sluice %S SRC'`.
    Ext,
}

/// `-c` options and URL for reaching `src` via `transport` with protocol `version`.
pub fn remote_args(transport: Transport, version: u8, src: &Path) -> Vec<String> {
    let mut v = vec![
        "-c".to_string(),
        format!("protocol.version={version}"),
        "-c".into(),
        "protocol.ext.allow=always".into(),
    ];
    let url = match (transport, against_git()) {
        (Transport::UploadPackFlag, _) => format!("file://{}", src.display()),
        (Transport::Ext, false) => format!("ext::{} %S {}", sluice(), src.display()),
        (Transport::Ext, true) => format!("ext::git %s {}", src.display()),
    };
    v.push(url);
    v
}

/// The `--upload-pack` value for the server under test.
pub fn upload_pack_flag() -> String {
    if against_git() {
        "--upload-pack=git-upload-pack".into()
    } else {
        format!("--upload-pack={} upload-pack", sluice())
    }
}

/// `git clone` of `src` into `dst` through the server; `extra` are clone options.
pub fn clone(transport: Transport, version: u8, src: &Path, dst: &Path, extra: &[&str]) -> Output {
    let args = remote_args(transport, version, src);
    let (cfg, url) = args.split_at(args.len() - 1);
    let mut c = git_cmd(dst.parent().unwrap());
    c.args(cfg).arg("clone").arg("-q");
    if transport == Transport::UploadPackFlag {
        c.arg("--no-local").arg(upload_pack_flag());
    }
    c.args(extra).arg(&url[0]).arg(dst);
    c.output().unwrap()
}

/// Same as [`clone`], panicking on failure.
pub fn clone_ok(transport: Transport, version: u8, src: &Path, dst: &Path, extra: &[&str]) {
    let out = clone(transport, version, src, dst, extra);
    assert!(
        out.status.success(),
        "clone via {transport:?} v{version} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// All refs of `repo` as `<id> <name>` lines.
pub fn refs(repo: &Path) -> String {
    git_ok(repo, &["for-each-ref", "--format=%(objectname) %(refname)"])
}

/// How many empty band-1 packets (keepalives) the client read, from its `GIT_TRACE_PACKET`
/// file `trace`.
pub fn keepalives_seen(trace: &Path) -> usize {
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.ends_with("sideband< \\1"))
        .count()
}

/// `git fsck --strict` must be clean.
pub fn fsck(repo: &Path) {
    let out = git(
        repo,
        &["fsck", "--strict", "--no-progress", "--no-dangling"],
    );
    // "notice:" lines (unborn HEAD, no refs) are informational, not damage.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let problems = stderr.lines().filter(|l| !l.starts_with("notice:")).count();
    assert!(
        out.status.success() && problems == 0 && out.stdout.is_empty(),
        "fsck {}:\n{}{}",
        repo.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `sluice args` (or git when testing against git) with `stdin_bytes`, killing it after a
/// generous hang guard; returns (status, stdout, stderr).
pub fn run_server(
    args: &[&str],
    env: &[(&str, &str)],
    stdin_bytes: &[u8],
) -> (ExitStatus, Vec<u8>, String) {
    let mut cmd = if against_git() {
        let mut c = Command::new("git");
        c.args(args);
        c
    } else {
        let mut c = Command::new(sluice());
        c.args(args);
        c
    };
    cmd.envs(env.iter().copied())
        .env_remove("GIT_PROTOCOL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn server");
    let mut stdin = child.stdin.take().unwrap();
    let input = stdin_bytes.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!(
                "server hung on input {:?}",
                String::from_utf8_lossy(stdin_bytes)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = writer.join();
    let out = out_t.join().unwrap();
    let err = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
    (status, out, err)
}

/// Builds pkt-lines from a readable transcript: one line per pkt (a newline is appended);
/// `0000`/`0001`/`0002` are flush/delim/response-end; `\0` stands for a NUL byte; a line
/// starting `RAW:` is written verbatim without framing.
pub fn pkt(transcript: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in transcript.lines() {
        let line = line.trim_start();
        if line.is_empty() {
            continue;
        }
        match line {
            "0000" | "0001" | "0002" => out.extend_from_slice(line.as_bytes()),
            l if l.starts_with("RAW:") => out.extend_from_slice(l[4..].as_bytes()),
            l => {
                let payload = format!("{}\n", l.replace("\\0", "\0"));
                out.extend_from_slice(format!("{:04x}", payload.len() + 4).as_bytes());
                out.extend_from_slice(payload.as_bytes());
            }
        }
    }
    out
}

/// Splits pkt-line output into readable lines (`0000` for flush); stops at the first packet that
/// is not text (sideband data or a raw pack).
pub fn parse_pkts(bytes: &[u8]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pos = 0;
    while let Some(h) = bytes.get(pos..pos + 4) {
        let Ok(n) = usize::from_str_radix(std::str::from_utf8(h).unwrap_or("zz"), 16) else {
            break;
        };
        if n < 4 {
            lines.push(format!("{n:04}"));
            pos += 4;
            continue;
        }
        let Some(payload) = bytes.get(pos + 4..pos + n) else {
            break;
        };
        if matches!(payload.first(), Some(1..=3)) {
            break;
        }
        lines.push(
            String::from_utf8_lossy(payload)
                .trim_end_matches('\n')
                .to_string(),
        );
        pos += n;
    }
    lines
}

/// Feeds `pack` to `git index-pack --stdin --strict` in the repository `repo`; true on success.
pub fn index_pack_stdin(repo: &Path, pack: &[u8]) -> bool {
    let mut child = git_cmd(repo)
        .args(["index-pack", "--stdin", "--strict"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn git index-pack");
    let _ = child.stdin.take().unwrap().write_all(pack);
    child.wait().is_ok_and(|s| s.success())
}

/// The shell command git runs as the server for `service` (`upload-pack`, `receive-pack`),
/// with `GIT_NAMESPACE=ns` unless `ns` is empty: sluice, or C git's own program.
pub fn server_in_namespace(service: &str, ns: &str) -> String {
    let env = if ns.is_empty() {
        String::new()
    } else {
        format!("GIT_NAMESPACE={ns} ")
    };
    if against_git() {
        format!("{env}git-{service}")
    } else {
        format!("{env}{} {service}", sluice())
    }
}

/// The `file://` URL of `repo`.
pub fn file_url(repo: &Path) -> String {
    format!("file://{}", repo.display())
}

/// A TCP port on 127.0.0.1 that was free a moment ago (for servers the system tests start).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (15 s at most, then fails naming `what`) until `ready` holds: a started server's socket
/// accepts, its pid file exists.
pub fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// Waits until something listens on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16) {
    wait_until(&format!("server on port {port}"), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// The raw v2 answer of `program` (a command line) for `repo` to `request`, without `agent=`.
pub fn raw_v2(program: &[&str], repo: &Path, request: &str) -> Vec<String> {
    let mut child = Command::new(program[0])
        .args(&program[1..])
        .arg(repo)
        .env("GIT_PROTOCOL", "version=2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A server that refuses the repository answers `ERR` and exits without reading the
    // request: the write may then fail with a broken pipe, and the answer is what is checked.
    let written = stdin.write_all(&pkt(request));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    parse_pkts(&out.stdout)
        .into_iter()
        .filter(|l| !l.starts_with("agent="))
        .collect()
}
