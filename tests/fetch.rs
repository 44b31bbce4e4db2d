//! Incremental fetches transfer only new objects: no more than C git sends for the same fetch.

mod common;

use common::*;
use std::path::Path;

/// Loose object count of `repo` (fetches below unpack everything: fetch.unpackLimit is huge).
fn loose_objects(repo: &Path) -> u64 {
    let out = git_ok(repo, &["count-objects", "-v"]);
    out.lines()
        .find_map(|l| l.strip_prefix("count: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

fn fetch(repo: &Path, version: u8, through_sluice: bool, url: &str) -> std::process::Output {
    let v = format!("protocol.version={version}");
    let mut args = vec!["-c", &v, "-c", "fetch.unpackLimit=1000000", "fetch", "-q"];
    let flag = upload_pack_flag();
    if through_sluice {
        args.push(&flag);
    }
    args.extend([
        url,
        "+refs/heads/*:refs/remotes/origin/*",
        "+refs/tags/*:refs/tags/*",
    ]);
    git(repo, &args)
}

#[test]
fn incremental_fetch_sends_no_more_than_c_git() {
    for version in [0, 1, 2] {
        let dir = scratch();
        let src = dir.path().join("src.git");
        copy_repo(&fixture("branches"), &src);
        let url = format!("file://{}", src.display());
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        for c in [&a, &b] {
            git_ok(
                dir.path(),
                &["clone", "-q", "--no-local", &url, c.to_str().unwrap()],
            );
        }
        // New history on the source: three commits on main, one new branch, one tag.
        let work = dir.path().join("work");
        git_ok(dir.path(), &["clone", "-q", &url, work.to_str().unwrap()]);
        for i in 0..3 {
            std::fs::write(work.join(format!("new{i}.txt")), format!("new {i}\n")).unwrap();
            git_ok(&work, &["add", "."]);
            git_ok(&work, &["commit", "-q", "-m", &format!("new {i}")]);
        }
        git_ok(&work, &["tag", "-a", "-m", "new tag", "v9"]);
        git_ok(
            &work,
            &[
                "push",
                "-q",
                "origin",
                "main:main",
                "main:refs/heads/newbranch",
                "v9",
            ],
        );

        let (before_a, before_b) = (loose_objects(&a), loose_objects(&b));
        let out = fetch(&a, version, true, &url);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = fetch(&b, version, false, &url);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got_sluice = loose_objects(&a) - before_a;
        let got_git = loose_objects(&b) - before_b;
        assert!(got_sluice > 0);
        assert!(
            got_sluice <= got_git,
            "v{version}: sluice sent {got_sluice} objects, git {got_git}"
        );
        assert_eq!(refs(&a), refs(&b));
        fsck(&a);

        // Up to date: nothing transferred.
        let before = loose_objects(&a);
        let out = fetch(&a, version, true, &url);
        assert!(out.status.success());
        assert_eq!(loose_objects(&a), before);
    }
}

#[test]
fn v2_ref_in_want_and_sideband_all() {
    // Both are off by default (as in C git); enabled, git's client uses them.
    let dir = scratch();
    let src = dir.path().join("src.git");
    copy_repo(&fixture("tags"), &src);
    git_ok(&src, &["config", "uploadpack.allowRefInWant", "true"]);
    git_ok(&src, &["config", "uploadpack.allowSidebandAll", "true"]);
    let url = format!("file://{}", src.display());
    let a = dir.path().join("a");
    git_ok(dir.path(), &["init", "-q", "--bare", a.to_str().unwrap()]);
    let trace = dir.path().join("trace");
    let out = git_cmd(&a)
        .env("GIT_TRACE_PACKET", &trace)
        .args([
            "-c",
            "protocol.version=2",
            "fetch",
            "-q",
            &upload_pack_flag(),
            &url,
            "+refs/heads/main:refs/heads/main",
            "+refs/tags/*:refs/tags/*",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = std::fs::read_to_string(&trace).unwrap();
    assert!(
        t.contains("want-ref refs/heads/main"),
        "client did not use want-ref"
    );
    assert!(
        t.contains("sideband-all"),
        "client did not use sideband-all"
    );
    assert_eq!(
        git_ok(&a, &["rev-parse", "main"]),
        git_ok(&src, &["rev-parse", "main"])
    );
    fsck(&a);
}
