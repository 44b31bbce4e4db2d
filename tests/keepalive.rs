//! `receive.keepAlive`: once the pack is read, a quiet receive-pack (here a slow pre-receive
//! hook) sends empty band-1 packets so proxies keep the connection; 0 disables them; a bad
//! value refuses the push. Each case runs against Sluice and C git's `git-receive-pack` on twin
//! repositories: the client sees keepalives from both, and the same outcome and refs.
//! (upload-pack's keepalives: `tests/keepalive_upload.rs`.)

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::receive::{Server, SERVERS};
use common::*;

/// The empty band-1 packets the client read, in a `GIT_TRACE_PACKET` file.
fn keepalives_seen(trace: &Path) -> usize {
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.ends_with("sideband< \\1"))
        .count()
}

/// A bare `dst` with a pre-receive hook sleeping 3 s, `receive.keepAlive` set to `keepalive`,
/// and a work repository with one commit to push.
fn setup(dir: &Path, server: Server, keepalive: &str) -> (PathBuf, PathBuf) {
    let dst = dir.join(format!("{}.git", server.name()));
    git_ok(dir, &["init", "-q", "--bare", dst.to_str().unwrap()]);
    git_ok(&dst, &["config", "receive.keepAlive", keepalive]);
    let hook = dst.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\ncat >/dev/null\nsleep 3\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let work = dir.join(format!("work-{}", server.name()));
    git_ok(dir, &["init", "-q", "-b", "main", work.to_str().unwrap()]);
    commit_line(&work, "one");
    commit_line(&work, "two");
    (dst, work)
}

/// `git push -q` of `main` from `work` to `dst` through `server`, the client's packets traced
/// to `trace`.
fn push_traced(server: Server, work: &Path, dst: &Path, trace: &Path) -> Output {
    git_cmd(work)
        .env("GIT_TRACE_PACKET", trace)
        .args(["push", "-q", &server.receive_pack_flag()])
        .arg(format!("file://{}", dst.display()))
        .arg("main")
        .output()
        .unwrap()
}

/// A hook quiet for 3 s with `receive.keepAlive = 1`: keepalives reach the client (at least
/// one; the interval is a third of the silence), the push succeeds, and both servers end with
/// the same refs and a repository `git fsck --strict` accepts.
#[test]
fn quiet_hook_gets_keepalives() {
    let dir = scratch();
    let mut results = Vec::new();
    for server in SERVERS {
        let (dst, work) = setup(dir.path(), server, "1");
        let trace = dir.path().join(format!("trace-{}", server.name()));
        let out = push_traced(server, &work, &dst, &trace);
        assert_success(&out, &format!("push to {}", server.name()));
        let seen = keepalives_seen(&trace);
        assert!(
            seen >= 1,
            "{}: no keepalive in 3 s of silence",
            server.name()
        );
        fsck(&dst);
        results.push(refs(&dst));
    }
    assert_eq!(results[0], results[1]);
    assert!(results[0].contains("refs/heads/main"), "{}", results[0]);
}

/// `receive.keepAlive = 0` sends none, however long the hook takes.
#[test]
fn zero_disables_keepalives() {
    let dir = scratch();
    for server in SERVERS {
        let (dst, work) = setup(dir.path(), server, "0");
        let trace = dir.path().join(format!("trace-{}", server.name()));
        let out = push_traced(server, &work, &dst, &trace);
        assert_success(&out, &format!("push to {}", server.name()));
        assert_eq!(keepalives_seen(&trace), 0, "{}", server.name());
        fsck(&dst);
    }
}

/// `receive.keepAlive = abc` refuses the push with one line naming the key and the value (C git:
/// "bad numeric config value 'abc' for 'receive.keepalive'"), and nothing changes.
#[test]
fn bad_receive_value_refuses_the_push() {
    let dir = scratch();
    for server in SERVERS {
        let (dst, work) = setup(dir.path(), server, "abc");
        let trace = dir.path().join(format!("trace-{}", server.name()));
        let out = push_traced(server, &work, &dst, &trace);
        let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(!out.status.success(), "{}: {stderr}", server.name());
        assert!(
            stderr.contains("receive.keepalive") && stderr.contains("abc"),
            "{}: {stderr}",
            server.name()
        );
        assert_eq!(refs(&dst), "", "{}", server.name());
    }
}

/// `uploadpack.keepAlive = abc` refuses a clone the same way, v0 and v2.
#[test]
fn bad_upload_value_refuses_the_clone() {
    let dir = scratch();
    let src = dir.path().join("src.git");
    copy_repo(&fixture("branches"), &src);
    git_ok(&src, &["config", "uploadpack.keepAlive", "abc"]);
    for version in [0, 2] {
        let dst = dir.path().join(format!("clone-v{version}"));
        let out = clone(Transport::UploadPackFlag, version, &src, &dst, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(!out.status.success(), "v{version}: {stderr}");
        assert!(
            stderr.contains("uploadpack.keepalive") && stderr.contains("abc"),
            "v{version}: {stderr}"
        );
    }
}
