//! A server repository that is itself shallow (a mirror made with `git clone --depth`) is
//! served as C git serves it: its cut-off commits are advertised (`shallow` lines in v0, the
//! `shallow-info` section in v2), walks stop at them, a client cannot deepen past them, and
//! pushes into it work. Every case also runs against C git with `SLUICE_TEST_SERVER=git`.
// See: #14

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// A 10-commit history and a bare `--depth 3` mirror of it; returns (dir, source, mirror).
fn shallow_mirror() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = scratch();
    let src = dir.path().join("src");
    git_ok(
        dir.path(),
        &["init", "-q", "-b", "main", src.to_str().unwrap()],
    );
    for i in 1..=10 {
        std::fs::write(src.join(format!("f{i}")), format!("{i}\n")).unwrap();
        git_ok(&src, &["add", "."]);
        git_ok(&src, &["commit", "-q", "-m", &format!("c{i}")]);
    }
    git_ok(&src, &["tag", "-a", "-m", "t", "v9", "HEAD~1"]);
    let mirror = dir.path().join("mirror.git");
    let url = format!("file://{}", src.display());
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            "--no-local",
            "--depth",
            "3",
            &url,
            mirror.to_str().unwrap(),
        ],
    );
    assert!(mirror.join("shallow").is_file());
    (dir, src, mirror)
}

/// The commits of a `shallow` file, sorted and without repeats (C git's own v2 client may
/// write one twice).
fn shallow_file(repo: &Path) -> Vec<String> {
    let p = if repo.join(".git").is_dir() {
        repo.join(".git/shallow")
    } else {
        repo.join("shallow")
    };
    let mut ids: Vec<String> = std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn count(repo: &Path) -> String {
    git_ok(repo, &["rev-list", "--count", "HEAD"])
        .trim()
        .to_string()
}

#[test]
fn clones_of_a_shallow_repository_are_shallow_where_it_is() {
    let (dir, _src, mirror) = shallow_mirror();
    for (i, transport) in [Transport::UploadPackFlag, Transport::Ext]
        .into_iter()
        .enumerate()
    {
        for version in [0, 1, 2] {
            let dst = dir.path().join(format!("c{i}-{version}"));
            clone_ok(transport, version, &mirror, &dst, &[]);
            assert_eq!(count(&dst), "3", "v{version} {transport:?}");
            assert_eq!(
                shallow_file(&dst),
                shallow_file(&mirror),
                "v{version} {transport:?}"
            );
            fsck(&dst);
        }
    }
}

#[test]
fn deepening_stops_at_the_repositorys_own_boundary() {
    let (dir, _src, mirror) = shallow_mirror();
    // C git's own upload-pack fails these in v0 ("remote did not send all necessary objects"):
    // Sluice serves both versions; the oracle checks v2.
    let versions: &[u8] = if against_git() { &[2] } else { &[0, 2] };
    for &version in versions {
        let dst = dir.path().join(format!("d{version}"));
        clone_ok(
            Transport::UploadPackFlag,
            version,
            &mirror,
            &dst,
            &["--depth", "1"],
        );
        assert_eq!(count(&dst), "1");
        let v = format!("protocol.version={version}");
        let flag = upload_pack_flag();
        git_ok(&dst, &["-c", &v, "fetch", "-q", &flag, "--deepen", "5"]);
        assert_eq!(
            count(&dst),
            "3",
            "deepened past the server's boundary (v{version})"
        );
        assert_eq!(shallow_file(&dst), shallow_file(&mirror));
        git_ok(&dst, &["-c", &v, "fetch", "-q", &flag, "--unshallow"]);
        assert_eq!(count(&dst), "3");
        fsck(&dst);
        // deepen-since older than everything: the same boundary. (C git 2.47's upload-pack
        // fails this one: "remote did not send all necessary objects".)
        if against_git() {
            continue;
        }
        let dst2 = dir.path().join(format!("s{version}"));
        clone_ok(
            Transport::UploadPackFlag,
            version,
            &mirror,
            &dst2,
            &["--shallow-since", "2000-01-01"],
        );
        assert_eq!(count(&dst2), "3");
        assert_eq!(shallow_file(&dst2), shallow_file(&mirror));
        fsck(&dst2);
    }
}

#[test]
fn fetch_and_push_through_a_shallow_repository() {
    let (dir, _src, mirror) = shallow_mirror();
    let a = dir.path().join("a");
    clone_ok(Transport::UploadPackFlag, 2, &mirror, &a, &[]);
    let b = dir.path().join("b");
    clone_ok(Transport::UploadPackFlag, 0, &mirror, &b, &[]);
    // A push into the shallow server, then an incremental fetch of it.
    std::fs::write(a.join("new"), "new\n").unwrap();
    git_ok(&a, &["add", "new"]);
    git_ok(&a, &["commit", "-q", "-m", "new"]);
    let rp = common::receive::Server::under_test().receive_pack_flag();
    let url = format!("file://{}", mirror.display());
    let out = git(&a, &["push", &rp, &url, "main"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    git_ok(&mirror, &["fsck", "--strict"]);
    for version in [0, 2] {
        let v = format!("protocol.version={version}");
        git_ok(
            &b,
            &["-c", &v, "fetch", "-q", &upload_pack_flag(), "origin"],
        );
        assert_eq!(
            git_ok(&b, &["rev-parse", "origin/main"]),
            git_ok(&a, &["rev-parse", "HEAD"])
        );
    }
    fsck(&b);
}

#[test]
fn pushes_from_shallow_clones_follow_receive_shallow_update() {
    // A complete server, a shallow clone of it with a new commit: its boundary commit is one
    // the server has, so no shallow update is needed.
    let dir = scratch();
    let src = dir.path().join("srv.git");
    let (mirror_dir, full, _mirror) = shallow_mirror();
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            full.to_str().unwrap(),
            src.to_str().unwrap(),
        ],
    );
    let url = format!("file://{}", src.display());
    let rp = common::receive::Server::under_test().receive_pack_flag();
    let work = dir.path().join("w");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            "--no-local",
            "--depth",
            "2",
            &url,
            work.to_str().unwrap(),
        ],
    );
    std::fs::write(work.join("x"), "x\n").unwrap();
    git_ok(&work, &["add", "x"]);
    git_ok(&work, &["commit", "-q", "-m", "x"]);
    let out = git(&work, &["push", "--porcelain", &rp, &url, "main"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    git_ok(&src, &["fsck", "--strict"]);

    // An unrelated shallow history pushed to a new branch: complete only down to the
    // client's boundary, which the server lacks. Refused by default, per ref.
    let other = mirror_dir.path().join("other");
    git_ok(
        mirror_dir.path(),
        &["init", "-q", "-b", "side", other.to_str().unwrap()],
    );
    for i in 1..=4 {
        std::fs::write(other.join("o"), format!("{i}\n")).unwrap();
        git_ok(&other, &["add", "o"]);
        git_ok(&other, &["commit", "-q", "-m", &format!("o{i}")]);
    }
    let shallow_other = mirror_dir.path().join("shallow-other");
    let other_url = format!("file://{}", other.display());
    git_ok(
        mirror_dir.path(),
        &[
            "clone",
            "-q",
            "--no-local",
            "--depth",
            "2",
            &other_url,
            shallow_other.to_str().unwrap(),
        ],
    );
    let before = refs(&src);
    let out = git(
        &shallow_other,
        &["push", "--porcelain", &rp, &url, "side:refs/heads/side"],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("shallow update not allowed"), "{text}");
    assert!(!text.contains("bad band"), "{text}");
    assert_eq!(refs(&src), before);
    git_ok(&src, &["fsck", "--strict"]);

    // receive.shallowUpdate=true: accepted, and the server records the new boundary.
    git_ok(&src, &["config", "receive.shallowUpdate", "true"]);
    let out = git(
        &shallow_other,
        &["push", "--porcelain", &rp, &url, "side:refs/heads/side"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(shallow_file(&src), shallow_file(&shallow_other));
    git_ok(&src, &["fsck", "--strict"]);
    assert!(!src.join("shallow.lock").exists());
    // And the now shallow server serves the branch as shallow.
    let c = dir.path().join("side-clone");
    clone_ok(
        Transport::UploadPackFlag,
        2,
        &src,
        &c,
        &["--branch", "side"],
    );
    fsck(&c);
}

#[test]
fn repack_of_a_shallow_repository_keeps_it_servable() {
    if against_git() {
        return; // sluice repack is Sluice's own command
    }
    let (dir, _src, mirror) = shallow_mirror();
    let out = std::process::Command::new(sluice())
        .args(["repack", mirror.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    git_ok(&mirror, &["fsck", "--strict"]);
    let dst = dir.path().join("after-repack");
    clone_ok(Transport::Ext, 2, &mirror, &dst, &[]);
    assert_eq!(shallow_file(&dst), shallow_file(&mirror));
    fsck(&dst);
}
