//! The stateless mode as a smart-HTTP front end drives it (git http-backend's contract): a GET of
//! `info/refs?service=...` runs `--stateless-rpc --advertise-refs`, every POST runs one
//! `--stateless-rpc` round with the request body on stdin, `Git-Protocol` becomes `GIT_PROTOCOL`.
//! A minimal HTTP/1.1 server in this test plays the front end for the real git client.

mod common;

use common::http::start_server;
use common::*;

#[test]
fn clone_fetch_and_push_over_smart_http() {
    if against_git() {
        return;
    }
    let dir = scratch();
    let root = dir.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    let src = root.join("repo.git");
    copy_repo(&fixture("branches"), &src);
    let base = start_server(root.clone());
    let url = format!("{base}/repo.git");
    for version in ["0", "2"] {
        let v = format!("protocol.version={version}");
        // Clone.
        let clone = dir.path().join(format!("clone-v{version}"));
        let out = git(
            dir.path(),
            &["-c", &v, "clone", "-q", &url, clone.to_str().unwrap()],
        );
        assert!(
            out.status.success(),
            "v{version} clone: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fsck(&clone);
        assert_eq!(
            git_ok(&clone, &["rev-parse", "HEAD"]),
            git_ok(&src, &["rev-parse", "HEAD"])
        );
        // Push new commits over HTTP (receive-pack has no v2: served as v0).
        for i in 0..3 {
            std::fs::write(clone.join(format!("h{version}{i}")), "x\n").unwrap();
            git_ok(&clone, &["add", "."]);
            git_ok(&clone, &["commit", "-q", "-m", &format!("http {i}")]);
        }
        let out = git(
            &clone,
            &[
                "-c",
                &v,
                "push",
                "-q",
                "origin",
                "main",
                &format!("main:refs/heads/http-v{version}"),
            ],
        );
        assert!(
            out.status.success(),
            "v{version} push: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fsck(&src);
        // Incremental fetch with negotiation (several rounds over separate POSTs).
        let other = dir.path().join(format!("other-v{version}"));
        git_ok(
            dir.path(),
            &[
                "clone",
                "-q",
                "--no-local",
                fixture("branches").to_str().unwrap(),
                other.to_str().unwrap(),
            ],
        );
        let out = git(
            &other,
            &[
                "-c",
                &v,
                "fetch",
                "-q",
                &url,
                "+refs/heads/*:refs/remotes/http/*",
            ],
        );
        assert!(
            out.status.success(),
            "v{version} fetch: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            git_ok(&other, &["rev-parse", "refs/remotes/http/main"]),
            git_ok(&src, &["rev-parse", "main"])
        );
        fsck(&other);
        // ls-remote through HTTP prints what C git prints for the same repository.
        let ours = git_ok(dir.path(), &["-c", &v, "ls-remote", &url]);
        let theirs = git_ok(dir.path(), &["-c", &v, "ls-remote", src.to_str().unwrap()]);
        assert_eq!(ours, theirs);
    }
}
