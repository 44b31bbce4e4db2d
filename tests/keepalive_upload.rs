//! `uploadpack.keepAlive`: while upload-pack prepares a pack and has sent nothing, empty band-1
//! packets keep the connection alive; 0 disables them. The preparation is made slow and quiet
//! deterministically with the test-only fault point `upload-pack-prepare` (feature
//! `fault-injection`, `SLUICE_FAULT_PAUSE`), and the clients ask for no progress (`-q`).
//! C git has no such point, so these run Sluice whatever `SLUICE_TEST_SERVER` says;
//! `tests/keepalive.rs` compares the receive side with C git.

mod common;

use common::*;

/// With `uploadpack.keepAlive` set to `keepalive` and upload-pack paused 3 s before counting,
/// clones a fixture quietly (`--mirror`) over v0 and then v2; checks each clone is whole and
/// has the source's refs, and returns the keepalives each client read.
fn paused_clones(keepalive: &str) -> Vec<usize> {
    let dir = scratch();
    let src = dir.path().join("src.git");
    copy_repo(&fixture("branches"), &src);
    git_ok(&src, &["config", "uploadpack.keepAlive", keepalive]);
    let mut seen = Vec::new();
    for version in [0, 2] {
        let dst = dir.path().join(format!("clone-v{version}.git"));
        let trace = dir.path().join(format!("trace-v{version}"));
        let out = git_cmd(dir.path())
            .env("GIT_TRACE_PACKET", &trace)
            .env("SLUICE_FAULT_PAUSE", "upload-pack-prepare:3000")
            .arg("-c")
            .arg(format!("protocol.version={version}"))
            .args(["clone", "-q", "--mirror", "--no-local"])
            .arg(format!("--upload-pack={} upload-pack", sluice()))
            .arg(format!("file://{}", src.display()))
            .arg(&dst)
            .output()
            .unwrap();
        assert_success(&out, &format!("clone v{version}"));
        fsck(&dst);
        assert_eq!(refs(&dst), refs(&src), "v{version}");
        seen.push(keepalives_seen(&trace));
    }
    seen
}

/// `uploadpack.keepAlive = 1` and 3 s of silence before the pack: at least one keepalive
/// reaches a `-q` client, over v0 and v2, and the clone is correct.
#[test]
fn quiet_preparation_gets_keepalives() {
    let seen = paused_clones("1");
    assert!(
        seen.iter().all(|&n| n >= 1),
        "keepalives (v0, v2): {seen:?}"
    );
}

/// `uploadpack.keepAlive = 0`: none, over v0 and v2.
#[test]
fn zero_disables_keepalives() {
    assert_eq!(paused_clones("0"), [0, 0]);
}
