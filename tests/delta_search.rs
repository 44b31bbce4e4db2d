//! Packs for repositories whose objects are loose (pushes stored loose, never repacked): Sluice's
//! delta search must keep a clone within 2 % of C git's `upload-pack`, the clone must pass
//! `git fsck --strict` and carry the same refs.

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
