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
    prefix: String,
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
        prefix,
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
    push_with_fault(s, fe, None)
}

/// [`push`] with the front end's `SLUICE_FAULT` set to `fault`.
fn push_with_fault(s: &Setup, fe: usize, fault: Option<&str>) -> Output {
    let url = format!("ext::{} %S r.git", sluice());
    let mut c = git_cmd(&s.src);
    c.args(["-c", "protocol.ext.allow=always", "push", &url, "main"])
        .env("SLUICE_BACKEND_CONFIG", &s.cfg[fe]);
    if let Some(f) = fault {
        c.env("SLUICE_FAULT", f);
    }
    c.output().unwrap()
}

/// The push log's values (`<old> <new> <ref>` records, or `fenced`).
fn push_log(e: &engines::Engines, s: &Setup) -> Vec<String> {
    e.etcd_get_prefix(&format!("{}/r.git/push/", s.prefix))
        .chunks(2)
        .filter_map(|kv| kv.get(1).cloned())
        .collect()
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

/// The ref transaction's answer lost after etcd committed it (`txn-answer-lost`), and lost
/// with the transaction itself (`txn-lost`): the front end settles the outcome from the store
/// (a fence on the push-log key, so a transaction still in flight can never apply later) and
/// git hears `ok` for the first and `ng` for the second, as the refs and the push log say.
#[test]
fn a_lost_transaction_answer_is_settled_from_the_store_never_guessed() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(e) = engines::engines() else { return };
    let s = setup(e, "ambiguous");
    let seed = remote_main(&s, 0).expect("readable");

    let applied = commit(&s.src, "committed, answer lost");
    let out = push_with_fault(&s, 0, Some("txn-answer-lost"));
    common::assert_success(&out, "a committed push whose answer was lost");
    assert_eq!(remote_main(&s, 1).as_deref(), Some(applied.as_str()));
    let record = format!("{seed} {applied} refs/heads/main");
    assert!(push_log(e, &s).contains(&record), "{:?}", push_log(e, &s));

    let lost = commit(&s.src, "never arrived");
    let out = push_with_fault(&s, 0, Some("txn-lost"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a push that did not apply is not acknowledged"
    );
    assert!(
        err.contains(
            "[remote rejected] main -> main (ref store gave no answer; the update did not apply)"
        ),
        "{err}"
    );
    assert_eq!(
        remote_main(&s, 1).as_deref(),
        Some(applied.as_str()),
        "nothing moved"
    );
    let log = push_log(e, &s);
    assert!(
        log.iter().any(|v| v == "fenced"),
        "the fence is in the log: {log:?}"
    );
    assert!(
        !log.iter().any(|v| v.contains(&lost)),
        "no record of it: {log:?}"
    );
    eprintln!("ambiguous outcomes: 2 pushes, acknowledged 1, present 1, fenced 1");

    common::assert_success(&push(&s, 1), "the retried push");
    assert_eq!(remote_main(&s, 0).as_deref(), Some(lost.as_str()));
    clone_fsck(&s, 0, "after-ambiguous");
}
