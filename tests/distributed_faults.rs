//! The distributed backend when its engines fail: etcd members and radosgw are SIGKILLed and
//! restarted (`scripts/engines/ctl`) while real git pushes through `sluice`. A separate test
//! binary from `tests/distributed.rs`, so these kills never hit that binary's tests; its tests
//! run one after another (a lock), since each breaks the engines they share.
//!
//! After every fault: a push either was reported accepted and is in the refs, or was refused
//! and moved nothing; a clone through the other front end passes `git fsck --strict`.
#![cfg(feature = "distributed")]

mod common;
#[path = "common/engines.rs"]
mod engines;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use common::{fsck, git_cmd, git_ok, scratch, sluice};

static SERIAL: Mutex<()> = Mutex::new(());

fn ctl(e: &engines::Engines, args: &[&str]) -> String {
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/engines/ctl"))
        .arg(&e.dir)
        .args(args)
        .output()
        .unwrap();
    common::assert_success(&out, &format!("ctl {args:?}"));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    cfg: [PathBuf; 2],
    src: PathBuf,
}

fn setup(e: &engines::Engines, name: &str) -> Setup {
    let tmp = scratch();
    let dir = tmp.path().to_path_buf();
    let prefix = format!("f-{name}-{}", std::process::id());
    let cfg = [0, 2].map(|first| {
        e.config_file(
            &dir.join(format!("fe{first}.conf")),
            &dir.join(format!("cache{first}")),
            first,
            &prefix,
        )
    });
    let out = Command::new(sluice())
        .args(["init", "--backend-config"])
        .arg(&cfg[0])
        .arg("r.git")
        .output()
        .unwrap();
    common::assert_success(&out, "init");
    let src = dir.join("src");
    git_ok(&dir, &["init", "-q", "-b", "main", "src"]);
    let s = Setup {
        _tmp: tmp,
        dir,
        cfg,
        src,
    };
    commit(&s.src, "seed");
    common::assert_success(&push(&s, 0), "seed push");
    s
}

fn commit(repo: &Path, line: &str) -> String {
    std::fs::write(repo.join("f"), line).unwrap();
    git_ok(repo, &["add", "f"]);
    git_ok(repo, &["commit", "-q", "-m", line]);
    git_ok(repo, &["rev-parse", "HEAD"]).trim().to_string()
}

fn push(s: &Setup, fe: usize) -> Output {
    let url = format!("ext::{} %S r.git", sluice());
    git_cmd(&s.src)
        .args(["-c", "protocol.ext.allow=always", "push", &url, "main"])
        .env("SLUICE_BACKEND_CONFIG", &s.cfg[fe])
        .output()
        .unwrap()
}

/// main on the server, read through front end `fe`.
fn remote_main(s: &Setup, fe: usize) -> Option<String> {
    let url = format!("ext::{} %S r.git", sluice());
    let out = git_cmd(&s.dir)
        .args([
            "-c",
            "protocol.ext.allow=always",
            "ls-remote",
            &url,
            "refs/heads/main",
        ])
        .env("SLUICE_BACKEND_CONFIG", &s.cfg[fe])
        .output()
        .unwrap();
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .split('\t')
            .next()
            .unwrap_or("")
            .to_string()
    })
}

/// [`remote_main`] once the store answers again (20 s at most).
fn await_remote_main(s: &Setup, fe: usize) -> Option<String> {
    for _ in 0..100 {
        if let Some(v) = remote_main(s, fe) {
            return Some(v);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    None
}

fn clone_fsck(s: &Setup, fe: usize, into: &str) {
    let url = format!("ext::{} %S r.git", sluice());
    let dst = s.dir.join(into);
    let out = git_cmd(&s.dir)
        .args([
            "-c",
            "protocol.ext.allow=always",
            "clone",
            "-q",
            "--mirror",
            &url,
            dst.to_str().unwrap(),
        ])
        .env("SLUICE_BACKEND_CONFIG", &s.cfg[fe])
        .output()
        .unwrap();
    common::assert_success(&out, "clone");
    fsck(&dst);
}

/// With two of three etcd members down a push fails cleanly (no quorum, no ref moves); with
/// one back, pushes go through again.
#[test]
fn two_etcd_members_down_refuse_pushes_then_recover() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(e) = engines::engines() else { return };
    let s = setup(e, "quorum");
    let before = remote_main(&s, 0).expect("readable");
    ctl(e, &["kill", "etcd1"]);
    ctl(e, &["kill", "etcd2"]);
    let tip = commit(&s.src, "no quorum");
    let out = push(&s, 0);
    assert!(
        !out.status.success(),
        "a push without quorum is not accepted"
    );
    ctl(e, &["start", "etcd1"]);
    let now = await_remote_main(&s, 0);
    assert_eq!(
        now.as_deref(),
        Some(before.as_str()),
        "the refused push moved nothing"
    );
    let out = push(&s, 1);
    common::assert_success(&out, "push after quorum returned");
    assert_eq!(remote_main(&s, 0).as_deref(), Some(tip.as_str()));
    ctl(e, &["start", "etcd2"]);
    clone_fsck(&s, 1, "after-quorum");
}

/// The etcd leader SIGKILLed right before a push: the push either succeeds (a new leader is
/// elected within the timeout) or fails, and the refs say the same as git did.
#[test]
fn the_etcd_leader_killed_during_pushes() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(e) = engines::engines() else { return };
    let s = setup(e, "leader");
    let leader = ctl(e, &["leader"]);
    let tip = commit(&s.src, "leader gone");
    ctl(e, &["kill", &leader]);
    let out = push(&s, 0);
    let acknowledged = out.status.success();
    ctl(e, &["start", &leader]);
    let now = await_remote_main(&s, 1);
    let present = now.as_deref() == Some(tip.as_str());
    eprintln!("leader {leader} killed: 1 push, acknowledged {acknowledged}, present {present}");
    assert_eq!(
        acknowledged,
        present,
        "git's answer matches the refs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    clone_fsck(&s, 1, "after-leader");
}

/// radosgw down: a push fails before any ref moves (fetches fail too: pack data is read from
/// S3 in ranges); restarted, pushes and clones work.
#[test]
fn radosgw_killed_and_restarted() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(e) = engines::engines() else { return };
    let s = setup(e, "rgw");
    let before = remote_main(&s, 0).expect("readable");
    ctl(e, &["kill", "rgw"]);
    let tip = commit(&s.src, "no s3");
    let out = push(&s, 0);
    assert!(
        !out.status.success(),
        "a push without the pack store is not accepted"
    );
    ctl(e, &["start", "rgw"]);
    let url = e.get("SLUICE_S3_ENDPOINT").to_string();
    common::wait_until("radosgw restart", || {
        Command::new("curl")
            .args(["-s", "-o", "/dev/null", &url])
            .status()
            .is_ok_and(|st| st.success())
    });
    // Read after the restart: peeling the advertised refs reads pack data, which is in S3.
    assert_eq!(
        remote_main(&s, 0).as_deref(),
        Some(before.as_str()),
        "no ref moved"
    );
    common::assert_success(&push(&s, 1), "push after restart");
    assert_eq!(remote_main(&s, 0).as_deref(), Some(tip.as_str()));
    clone_fsck(&s, 0, "after-rgw");
}
