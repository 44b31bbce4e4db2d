//! `receive.keepAlive`: once the pack is read, a quiet receive-pack (here a slow pre-receive
//! hook) sends empty band-1 packets so proxies keep the connection; 0 disables them; a bad
//! value refuses the push. Each case runs against Sluice and C git's `git-receive-pack` on twin
//! repositories: the client sees keepalives from both, and the same outcome and refs.
//! (upload-pack's keepalives: `tests/keepalive_upload.rs`; a bad `uploadpack.keepAlive`:
//! `tests/push.rs`, `invalid_upload_setting_refuses_the_clone`.)

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::receive::{Server, SERVERS};
use common::*;

/// What one push saw: the server's repository, the client's output, the keepalives it read.
struct Pushed {
    dst: PathBuf,
    out: Output,
    keepalives: usize,
}

/// Pushes two commits with `git push -q` through `server` into a fresh bare repository whose
/// pre-receive hook sleeps 3 s, with `receive.keepAlive` set to `keepalive`.
fn push_to_slow_hook(dir: &Path, server: Server, keepalive: &str) -> Pushed {
    let dst = dir.join(format!("{}-{keepalive}.git", server.name()));
    git_ok(dir, &["init", "-q", "--bare", dst.to_str().unwrap()]);
    git_ok(&dst, &["config", "receive.keepAlive", keepalive]);
    let hook = dst.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\ncat >/dev/null\nsleep 3\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let work = dir.join(format!("work-{}-{keepalive}", server.name()));
    git_ok(dir, &["init", "-q", "-b", "main", work.to_str().unwrap()]);
    commit_line(&work, "one");
    commit_line(&work, "two");
    let trace = dir.join(format!("trace-{}-{keepalive}", server.name()));
    let out = git_cmd(&work)
        .env("GIT_TRACE_PACKET", &trace)
        .args(["push", "-q", &server.receive_pack_flag()])
        .arg(format!("file://{}", dst.display()))
        .arg("main")
        .output()
        .unwrap();
    Pushed {
        dst,
        out,
        keepalives: keepalives_seen(&trace),
    }
}

/// A hook quiet for 3 s with `receive.keepAlive = 1`: keepalives reach the client (at least
/// one; the interval is a third of the silence), the push succeeds, and both servers end with
/// the same refs and a repository `git fsck --strict` accepts.
#[test]
fn quiet_hook_gets_keepalives() {
    let dir = scratch();
    let mut results = Vec::new();
    for server in SERVERS {
        let p = push_to_slow_hook(dir.path(), server, "1");
        assert_success(&p.out, &format!("push to {}", server.name()));
        assert!(
            p.keepalives >= 1,
            "{}: none in 3 s of silence",
            server.name()
        );
        fsck(&p.dst);
        results.push(refs(&p.dst));
    }
    assert_eq!(results[0], results[1]);
    assert!(results[0].contains("refs/heads/main"), "{}", results[0]);
}

/// `receive.keepAlive = 0` sends none, however long the hook takes.
#[test]
fn zero_disables_keepalives() {
    let dir = scratch();
    for server in SERVERS {
        let p = push_to_slow_hook(dir.path(), server, "0");
        assert_success(&p.out, &format!("push to {}", server.name()));
        assert_eq!(p.keepalives, 0, "{}", server.name());
        fsck(&p.dst);
    }
}

/// `receive.keepAlive = abc` refuses the push with one line naming the key and the value (C git:
/// "bad numeric config value 'abc' for 'receive.keepalive'"), and nothing changes.
#[test]
fn bad_receive_value_refuses_the_push() {
    let dir = scratch();
    for server in SERVERS {
        let p = push_to_slow_hook(dir.path(), server, "abc");
        let stderr = String::from_utf8_lossy(&p.out.stderr).to_lowercase();
        assert!(!p.out.status.success(), "{}: {stderr}", server.name());
        assert!(
            stderr.contains("receive.keepalive") && stderr.contains("abc"),
            "{}: {stderr}",
            server.name()
        );
        assert_eq!(refs(&p.dst), "", "{}", server.name());
    }
}
