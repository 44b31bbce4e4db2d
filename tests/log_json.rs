//! `--log-format json`: a real push and clone through sluice, each log line parsed as one JSON
//! object, the request record's fields checked, including the refs a push updated with their old
//! and new ids. Also: `-` logs to stderr where stderr is not the wire, and never to stdout.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Every line of the log at `path`, each parsed as one JSON object.
fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The `request finished` records.
fn requests(all: &[Value]) -> Vec<&Value> {
    all.iter()
        .filter(|r| r["message"] == "request finished")
        .collect()
}

/// An empty bare `srv.git` to push to and an empty `work` repository in `dir`.
fn empty_repos(dir: &Path) -> (PathBuf, PathBuf) {
    let (srv, work) = (dir.join("srv.git"), dir.join("work"));
    for (path, bare) in [(&srv, true), (&work, false)] {
        let mut args = vec!["init", "-q", "-b", "main", path.to_str().unwrap()];
        if bare {
            args.push("--bare");
        }
        git_ok(dir, &args);
    }
    (srv, work)
}

fn rev(dir: &Path, what: &str) -> String {
    git_ok(dir, &["rev-parse", what]).trim().to_string()
}

#[test]
fn push_and_clone_log_one_json_object_per_line() {
    let dir = scratch();
    let log = dir.path().join("sluice.log");
    let (srv, work) = empty_repos(dir.path());
    let server = |service: &str| {
        format!(
            "{} --log-format json --log-file {} {service}",
            sluice(),
            log.display()
        )
    };
    let url = format!("file://{}", srv.display());
    let rp = format!("--receive-pack={}", server("receive-pack"));
    git_ok(&work, &["commit", "-q", "--allow-empty", "-m", "one"]);
    let first = rev(&work, "HEAD");
    git_ok(&work, &["push", "-q", &rp, &url, "main"]);
    git_ok(&work, &["commit", "-q", "--allow-empty", "-m", "two"]);
    git_ok(&work, &["tag", "v1"]);
    let second = rev(&work, "HEAD");
    git_ok(&work, &["push", "-q", &rp, &url, "main", "v1"]);
    let up = format!("--upload-pack={}", server("upload-pack"));
    let clone = dir.path().join("clone");
    git_ok(
        dir.path(),
        &["clone", "-q", &up, &url, clone.to_str().unwrap()],
    );
    assert_eq!(rev(&clone, "HEAD"), second);

    let all = records(&log);
    let reqs = requests(&all);
    assert_eq!(reqs.len(), 3, "{all:#?}");
    for r in &reqs {
        assert_eq!(r["level"], "INFO");
        assert_eq!(r["mode"], "direct");
        assert_eq!(r["user"], "-");
        assert_eq!(r["outcome"], "ok");
        assert!(r["repo"].as_str().unwrap().ends_with("srv.git"), "{r}");
        assert!(r["version"].is_string(), "{r}");
        for n in ["bytes_in", "bytes_out", "duration_ms", "peak_rss_kib"] {
            assert!(r[n].is_u64(), "{n} in {r}");
        }
        assert!(r["bytes_out"].as_u64().unwrap() > 0, "{r}");
        assert!(r["timestamp"].is_string(), "{r}");
    }
    let null = "0".repeat(first.len());
    let push1 = reqs[0];
    assert_eq!(push1["service"], "git-receive-pack");
    assert_eq!(
        push1["refs"],
        format!("refs/heads/main:{null}:{first}"),
        "{push1}"
    );
    assert_eq!(push1["refs_rejected"], 0);
    let push2 = reqs[1];
    let mut refs: Vec<&str> = push2["refs"].as_str().unwrap().split(' ').collect();
    refs.sort();
    assert_eq!(
        refs,
        [
            format!("refs/heads/main:{first}:{second}"),
            format!("refs/tags/v1:{null}:{second}"),
        ],
        "{push2}"
    );
    let fetch = reqs[2];
    assert_eq!(fetch["service"], "git-upload-pack");
    assert_eq!(fetch["version"], "V2");
    assert!(fetch.get("refs").is_none(), "{fetch}");
    assert!(fetch["bytes_in"].as_u64().unwrap() > 0, "{fetch}");
}

#[test]
fn rejected_push_is_counted() {
    let dir = scratch();
    let log = dir.path().join("sluice.log");
    let (srv, work) = empty_repos(dir.path());
    git_ok(&srv, &["config", "receive.denyDeletes", "true"]);
    git_ok(&work, &["commit", "-q", "--allow-empty", "-m", "one"]);
    let rp = format!(
        "--receive-pack={} --log-format=json --log-file={} receive-pack",
        sluice(),
        log.display()
    );
    let url = format!("file://{}", srv.display());
    git_ok(&work, &["push", "-q", &rp, &url, "main"]);
    let out = git(&work, &["push", "-q", &rp, &url, ":main"]);
    assert!(!out.status.success());
    let all = records(&log);
    let reqs = requests(&all);
    let refused = reqs.last().unwrap();
    assert_eq!(refused["refs"], "", "{refused}");
    assert_eq!(refused["refs_rejected"], 1, "{refused}");
}

#[test]
fn log_file_dash_is_stderr_never_stdout() {
    let repo = fixture("branches");
    let out = std::process::Command::new(sluice())
        .args(["--log-format", "json", "--log-file", "-", "upload-pack"])
        .arg("--advertise-refs")
        .arg(&repo)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let pkts = parse_pkts(&out.stdout);
    assert!(pkts.iter().any(|l| l.contains("refs/heads/")), "{pkts:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("request finished"));
    let err = String::from_utf8(out.stderr).unwrap();
    let line = err.lines().next().expect("one log line on stderr");
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["message"], "request finished");
    assert_eq!(v["service"], "git-upload-pack");
}

#[test]
fn env_selects_json() {
    let dir = scratch();
    let log = dir.path().join("sluice.log");
    let out = std::process::Command::new(sluice())
        .env("SLUICE_LOG_FORMAT", "json")
        .env("SLUICE_LOG_FILE", &log)
        .args(["upload-pack", "--advertise-refs"])
        .arg(fixture("branches"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(requests(&records(&log)).len(), 1);
}

/// Runs `sluice --log-file - --log-format json inetd` on one end of a socket pair given as stdin
/// and stdout, and as stderr too when `stderr_is_socket` (as inetd does; else a pipe, as
/// systemd's `StandardError=journal`). Returns what the client read and what went to the pipe.
fn inetd_session(stderr_is_socket: bool) -> (String, String) {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let repo = fixture("branches");
    let (mut client, server) = UnixStream::pair().unwrap();
    let fd = |s: &UnixStream| {
        std::process::Stdio::from(std::os::fd::OwnedFd::from(s.try_clone().unwrap()))
    };
    let stderr = if stderr_is_socket {
        fd(&server)
    } else {
        std::process::Stdio::piped()
    };
    let child = std::process::Command::new(sluice())
        .args([
            "--log-file",
            "-",
            "--log-format",
            "json",
            "inetd",
            "--export-all",
        ])
        .stdin(fd(&server))
        .stdout(fd(&server))
        .stderr(stderr)
        .spawn()
        .unwrap();
    drop(server);
    let request = format!("git-upload-pack {}\0host=localhost\0", repo.display());
    write!(client, "{:04x}{request}", request.len() + 4).unwrap();
    client.write_all(b"0000").unwrap();
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    (
        String::from_utf8_lossy(&reply).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Under inetd the socket is stdin, stdout and stderr at once: `--log-file -` must then write
/// nothing there, or the client would read log lines as protocol.
#[test]
fn inetd_never_logs_to_its_socket() {
    let (reply, _) = inetd_session(true);
    assert!(reply.contains("refs/heads/"), "{reply}");
    assert!(!reply.contains("request finished"), "{reply}");
}

/// Under systemd's socket activation with `StandardError=journal`, stderr is not the socket:
/// the records go there (contrib/systemd/sluice@.service).
#[test]
fn inetd_logs_to_stderr_that_is_not_its_socket() {
    let (reply, log) = inetd_session(false);
    assert!(!reply.contains("request finished"), "{reply}");
    let v: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(v["message"], "request finished");
    assert_eq!(v["mode"], "inetd");
}
