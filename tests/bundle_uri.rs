//! The v2 `bundle-uri` command: with `uploadpack.advertiseBundleURIs` and a `bundle.*` list in
//! the served repository, a C git client cloning with `transfer.bundleURI=true` downloads the
//! listed bundle (here a `file://` URI) and fetches only the rest. Every case runs against
//! sluice and against C git's upload-pack in the same test, and the raw responses are compared.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// The `--upload-pack` values of the two servers: sluice and C git.
fn servers() -> [String; 2] {
    [
        format!("--upload-pack={} upload-pack", sluice()),
        "--upload-pack=git-upload-pack".to_string(),
    ]
}

/// A served repository whose `bundle.*` list names a bundle of an older `main`; returns
/// (dir, repo). `advertise` sets `uploadpack.advertiseBundleURIs`.
fn served(advertise: bool) -> (tempfile::TempDir, PathBuf) {
    let dir = scratch();
    let work = dir.path().join("w");
    git_ok(dir.path(), &["init", "-q", "-b", "main", "w"]);
    for f in ["a", "b"] {
        std::fs::write(work.join(f), f).unwrap();
        git_ok(&work, &["add", f]);
        git_ok(&work, &["commit", "-q", "-m", f]);
    }
    let repo = dir.path().join("srv.git");
    git_ok(dir.path(), &["clone", "-q", "--bare", "w", "srv.git"]);
    let bundle = dir.path().join("all.bundle");
    git_ok(
        &repo,
        &["bundle", "create", "-q", bundle.to_str().unwrap(), "main"],
    );
    // One more commit after the bundle: the client must fetch it from the server.
    std::fs::write(work.join("c"), "c").unwrap();
    git_ok(&work, &["add", "c"]);
    git_ok(&work, &["commit", "-q", "-m", "c"]);
    git_ok(&work, &["push", "-q", repo.to_str().unwrap(), "main"]);
    for (k, v) in [
        (
            "uploadpack.advertiseBundleURIs",
            if advertise { "true" } else { "false" },
        ),
        ("bundle.version", "1"),
        ("bundle.mode", "all"),
        (
            "bundle.everything.uri",
            &format!("file://{}", bundle.display()),
        ),
    ] {
        git_ok(&repo, &["config", k, v]);
    }
    (dir, repo)
}

fn clone_with_bundles(dir: &Path, repo: &Path, up: &str, name: &str) -> PathBuf {
    let dst = dir.join(name);
    let out = git(
        dir,
        &[
            "-c",
            "protocol.version=2",
            "-c",
            "transfer.bundleURI=true",
            "clone",
            "-q",
            "--no-local",
            up,
            &file_url(repo),
            dst.to_str().unwrap(),
        ],
    );
    assert_success(&out, up);
    dst
}

#[test]
fn clone_downloads_the_listed_bundle() {
    let (dir, repo) = served(true);
    for (i, up) in servers().iter().enumerate() {
        let dst = clone_with_bundles(dir.path(), &repo, up, &format!("c{i}"));
        let bundled = git_ok(
            &dst,
            &["for-each-ref", "--format=%(refname)", "refs/bundles/"],
        );
        assert_eq!(
            bundled.trim(),
            "refs/bundles/main",
            "{up}: the bundle was used"
        );
        assert_eq!(
            git_ok(&dst, &["rev-parse", "refs/remotes/origin/main"]),
            git_ok(&repo, &["rev-parse", "main"]),
            "{up}: the commit after the bundle was fetched"
        );
        fsck(&dst);
    }
}

#[test]
fn nothing_is_offered_unless_configured() {
    let (dir, repo) = served(false);
    for (i, up) in servers().iter().enumerate() {
        let dst = clone_with_bundles(dir.path(), &repo, up, &format!("c{i}"));
        let bundled = git_ok(&dst, &["for-each-ref", "refs/bundles/"]);
        assert!(bundled.is_empty(), "{up}: {bundled}");
    }
}

#[test]
fn raw_responses_match_c_git() {
    // C git 2.47's client sends the capabilities before the command line; both forms work.
    let request = "agent=test\nobject-format=sha1\ncommand=bundle-uri\n0001\n0000\n0000";
    for advertise in [true, false] {
        let (_dir, repo) = served(advertise);
        let ours = raw_v2(&[sluice(), "upload-pack"], &repo, request);
        let theirs = raw_v2(&["git", "upload-pack"], &repo, request);
        assert_eq!(ours.contains(&"bundle-uri".to_string()), advertise);
        // The advertisements differ in what else each server offers; the answers must not.
        let answer = |v: &[String]| -> Vec<String> {
            v.iter()
                .skip_while(|l| *l != "0000")
                .skip(1)
                .cloned()
                .collect()
        };
        if advertise {
            assert_eq!(answer(&ours), answer(&theirs));
            assert!(ours
                .iter()
                .any(|l| l.starts_with("bundle.everything.uri=file://")));
        } else {
            // Both refuse the command they did not advertise (C git dies, sluice sends ERR).
            assert!(!ours.iter().any(|l| l.starts_with("bundle.")));
            assert!(!theirs.iter().any(|l| l.starts_with("bundle.")));
            assert!(ours.iter().any(|l| l.starts_with("ERR ")), "{ours:?}");
        }
    }
}
