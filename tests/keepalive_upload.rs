//! `uploadpack.keepAlive`: while upload-pack prepares a pack and has sent nothing, empty band-1
//! packets keep the connection alive; 0 disables them. The preparation is made slow and quiet
//! deterministically with the test-only fault point `upload-pack-prepare` (feature
//! `fault-injection`, `SLUICE_FAULT_PAUSE`), and the clients ask for no progress (`-q`).
//! C git has no such point, so these run Sluice whatever `SLUICE_TEST_SERVER` says;
//! `tests/keepalive.rs` compares the receive side with C git.

mod common;

use std::path::Path;

use common::*;

/// The empty band-1 packets the client read, in a `GIT_TRACE_PACKET` file.
fn keepalives_seen(trace: &Path) -> usize {
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.ends_with("sideband< \\1"))
        .count()
}

/// Clones `src` quietly over protocol `version` into `dst` with upload-pack paused 3 s before
/// counting, the client's packets traced to `trace`; asserts the clone is whole and equal.
fn paused_clone(src: &Path, dst: &Path, version: u8, trace: &Path) {
    let out = git_cmd(dst.parent().unwrap())
        .env("GIT_TRACE_PACKET", trace)
        .env("SLUICE_FAULT_PAUSE", "upload-pack-prepare:3000")
        .arg("-c")
        .arg(format!("protocol.version={version}"))
        .args(["clone", "-q", "--mirror", "--no-local"])
        .arg(format!("--upload-pack={} upload-pack", sluice()))
        .arg(format!("file://{}", src.display()))
        .arg(dst)
        .output()
        .unwrap();
    assert_success(&out, &format!("clone v{version}"));
    fsck(dst);
    assert_eq!(refs(dst), refs(src), "v{version}");
}

/// `uploadpack.keepAlive = 1` and 3 s of silence before the pack: at least one keepalive
/// reaches a `-q` client, over v0 and v2, and the clone is correct.
#[test]
fn quiet_preparation_gets_keepalives() {
    let dir = scratch();
    let src = dir.path().join("src.git");
    copy_repo(&fixture("branches"), &src);
    git_ok(&src, &["config", "uploadpack.keepAlive", "1"]);
    for version in [0, 2] {
        let dst = dir.path().join(format!("clone-v{version}.git"));
        let trace = dir.path().join(format!("trace-v{version}"));
        paused_clone(&src, &dst, version, &trace);
        let seen = keepalives_seen(&trace);
        assert!(seen >= 1, "v{version}: no keepalive in 3 s of silence");
    }
}

/// `uploadpack.keepAlive = 0`: none, over v0 and v2.
#[test]
fn zero_disables_keepalives() {
    let dir = scratch();
    let src = dir.path().join("src.git");
    copy_repo(&fixture("branches"), &src);
    git_ok(&src, &["config", "uploadpack.keepAlive", "0"]);
    for version in [0, 2] {
        let dst = dir.path().join(format!("clone-v{version}.git"));
        let trace = dir.path().join(format!("trace-v{version}"));
        paused_clone(&src, &dst, version, &trace);
        assert_eq!(keepalives_seen(&trace), 0, "v{version}");
    }
}
