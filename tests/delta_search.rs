//! Packs for repositories whose objects are loose (pushes stored loose, never repacked): Sluice's
//! delta search must keep a clone within 2 % of C git's `upload-pack`, and an incremental fetch
//! of loose commits (thin, deltas against the client's versions) within 5 %; what the client
//! gets must pass `git fsck --strict` and carry the same refs.

mod common;

use common::*;
use std::path::Path;

/// Size of the one pack a mirror clone at `repo` received.
fn pack_size(repo: &Path) -> u64 {
    std::fs::read_dir(repo.join("objects/pack"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// Mirror-clones `src` through C git's upload-pack and through the server under test; returns
/// (server's pack size, git's pack size).
fn clone_both(src: &Path) -> (u64, u64) {
    let dir = scratch();
    let ours = dir.path().join("ours.git");
    clone_ok(Transport::UploadPackFlag, 2, src, &ours, &["--mirror"]);
    fsck(&ours);
    assert_eq!(refs(&ours), refs(src));
    let theirs = dir.path().join("theirs.git");
    let out = git_cmd(dir.path())
        .args(["clone", "-q", "--mirror", "--no-local"])
        .arg("--upload-pack=git-upload-pack")
        .arg(format!("file://{}", src.display()))
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (pack_size(&ours), pack_size(&theirs))
}

fn assert_within_2_percent(what: &str, ours: u64, git: u64) {
    eprintln!("{what}: server pack {ours} bytes, git's {git} bytes");
    assert!(
        ours * 100 <= git * 102,
        "{what}: pack of {ours} bytes is more than 2 % above git's {git}"
    );
}

#[test]
fn loose_history_clone_is_as_small_as_gits() {
    let src = fixture("loose_history");
    assert!(
        !src.join("objects/pack").read_dir().unwrap().any(|_| true),
        "the fixture must be all loose"
    );
    let (ours, git) = clone_both(&src);
    assert_within_2_percent("all loose", ours, git);
}

#[test]
fn loose_objects_on_top_of_a_pack() {
    let src = fixture_with_args("loose_history", &["150", "packed"]);
    let (ours, git) = clone_both(&src);
    assert_within_2_percent("half packed, half loose", ours, git);
}

#[test]
fn fetch_of_loose_commits_is_valid() {
    // An incremental fetch: the new loose objects are deltified against objects in the pack;
    // the client's fsck sees a complete repository.
    let src = fixture("loose_history");
    let dir = scratch();
    let dst = dir.path().join("dst.git");
    clone_ok(Transport::Ext, 2, &src, &dst, &["--mirror"]);
    git_ok(
        &dst,
        &["update-ref", "refs/heads/main", "refs/heads/main~40"],
    );
    git_ok(&dst, &["gc", "-q", "--prune=now"]);
    let args = remote_args(Transport::Ext, 2, &src);
    let (cfg, url) = args.split_at(args.len() - 1);
    let mut c = git_cmd(&dst);
    c.args(cfg)
        .args(["fetch", "-q"])
        .arg(&url[0])
        .arg("+refs/heads/*:refs/heads/*");
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(refs(&dst), refs(&src));
    fsck(&dst);
}

/// A mirror of the half-packed `loose_history` fixture that lacks its last 40 (loose) commits,
/// made by C git; returns (server repository, scratch dir, that mirror).
fn behind_by_40() -> (std::path::PathBuf, tempfile::TempDir, std::path::PathBuf) {
    let src = fixture_with_args("loose_history", &["150", "packed"]);
    let dir = scratch();
    let base = dir.path().join("base.git");
    let out = git_cmd(dir.path())
        .args(["clone", "-q", "--mirror", "--no-local"])
        .arg(format!("file://{}", src.display()))
        .arg(&base)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    git_ok(
        &base,
        &["update-ref", "refs/heads/main", "refs/heads/main~40"],
    );
    git_ok(&base, &["gc", "-q", "--prune=now"]);
    (src, dir, base)
}

/// Runs `git <args> file://<src> <tail>` in a copy of `base` named `name` with `upload_pack`,
/// recording the pack received; returns the copy and the pack's size in bytes.
fn fetch_copy(
    src: &Path,
    dir: &Path,
    base: &Path,
    name: &str,
    upload_pack: &str,
    args: &[&str],
    tail: &[&str],
) -> (std::path::PathBuf, u64) {
    let dst = dir.join(name);
    copy_repo(base, &dst);
    let trace = dir.join(format!("{name}.pack"));
    let out = git_cmd(&dst)
        .env("GIT_TRACE_PACKFILE", &trace)
        .args(["-c", "protocol.version=2"])
        .args(args)
        .arg(upload_pack)
        .arg(format!("file://{}", src.display()))
        .args(tail)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = std::fs::metadata(&trace).map(|m| m.len()).unwrap_or(0);
    (dst, size)
}

#[test]
fn fetch_of_loose_commits_is_as_small_as_gits() {
    // The server's last 40 commits are loose: every first new version of a file sent needs the
    // client's version as its base (a thin-pack delta), or it goes whole.
    let (src, dir, base) = behind_by_40();
    let fetch = ["fetch", "-q"];
    let refspec = ["+refs/heads/*:refs/heads/*"];
    let (ours, ours_size) = fetch_copy(
        &src,
        dir.path(),
        &base,
        "ours.git",
        &upload_pack_flag(),
        &fetch,
        &refspec,
    );
    let (theirs, git_size) = fetch_copy(
        &src,
        dir.path(),
        &base,
        "theirs.git",
        "--upload-pack=git-upload-pack",
        &fetch,
        &refspec,
    );
    for repo in [&ours, &theirs] {
        fsck(repo);
        assert_eq!(refs(repo), refs(&src));
    }
    eprintln!(
        "thin fetch of 40 loose commits: server pack {ours_size} bytes, git's {git_size} bytes"
    );
    assert!(ours_size > 0 && git_size > 0, "packs were traced");
    assert!(
        ours_size * 100 <= git_size * 105,
        "pack of {ours_size} bytes is more than 5 % above git's {git_size}"
    );
}

#[test]
fn fetch_without_thin_pack_is_self_contained() {
    // `git fetch-pack` without --thin does not ask for thin-pack and indexes with no --fix-thin:
    // a delta against an object outside the pack would fail it.
    let (src, dir, base) = behind_by_40();
    let (repo, size) = fetch_copy(
        &src,
        dir.path(),
        &base,
        "plain.git",
        &upload_pack_flag(),
        &["fetch-pack", "-q", "-k"],
        &["refs/heads/main"],
    );
    let (_, thin_size) = fetch_copy(
        &src,
        dir.path(),
        &base,
        "thin.git",
        &upload_pack_flag(),
        &["fetch-pack", "-q", "-k", "--thin"],
        &["refs/heads/main"],
    );
    eprintln!("fetch of 40 loose commits: {size} bytes self-contained, {thin_size} bytes thin");
    assert!(thin_size < size, "thin deltas make the pack smaller");
    git_ok(
        &repo,
        &[
            "update-ref",
            "refs/heads/main",
            &git_ok(&src, &["rev-parse", "main"]).trim(),
        ],
    );
    fsck(&repo);
    assert_eq!(refs(&repo), refs(&src));
}
