//! `sluice repack` on a repository built only by pushes through Sluice (packs kept, pushes
//! exploded into loose objects, a deleted branch's unreachable objects, a dangling blob): one
//! pack with a bitmap git accepts, every object kept, `.keep` packs untouched, clones served from
//! the bitmap, and a second run that changes nothing.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// The stderr of `cmd`, which must succeed.
fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{cmd:?}: {err}");
    err
}

fn sluice_ok(args: &[&str]) -> String {
    run_ok(std::process::Command::new(sluice()).args(args))
}

fn push(work: &Path, dst: &Path, args: &[&str]) {
    let rp = format!("--receive-pack={} receive-pack", sluice());
    let url = format!("file://{}", dst.display());
    let mut all = vec!["push", "-q", rp.as_str(), url.as_str()];
    all.extend_from_slice(args);
    git_ok(work, &all);
}

/// Commits `n` edits of a growing file and one new file each in `work`.
fn commits(work: &Path, tag: &str, n: usize) {
    for i in 0..n {
        let f = work.join("notes.txt");
        let mut text = std::fs::read_to_string(&f).unwrap_or_default();
        text.push_str(&format!("{tag} line {i}, with words that repeat a bit\n").repeat(3));
        std::fs::write(&f, text).unwrap();
        std::fs::write(work.join(format!("{tag}-{i}.txt")), format!("{tag} {i}\n")).unwrap();
        git_ok(work, &["add", "."]);
        git_ok(work, &["commit", "-q", "-m", &format!("{tag} {i}")]);
    }
}

/// A bare repository filled by pushes through Sluice: three kept packs, two pushes exploded to
/// loose objects, objects of a deleted branch, a dangling blob. Returns (scratch, repo, work).
fn pushed_repo() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = scratch();
    let src = dir.path().join("src.git");
    git_ok(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", src.to_str().unwrap()],
    );
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            fixture("branches").to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    git_ok(&work, &["checkout", "-q", "-B", "main", "origin/main"]);
    git_ok(&src, &["config", "receive.unpackLimit", "1"]);
    push(&work, &src, &["--all"]);
    push(&work, &src, &["--tags"]);
    for (round, limit) in [(0, "1"), (1, "1000"), (2, "1"), (3, "1000")] {
        git_ok(&src, &["config", "receive.unpackLimit", limit]);
        commits(&work, &format!("r{round}"), 3);
        push(&work, &src, &["main"]);
    }
    git_ok(&work, &["tag", "-a", "-m", "annotated", "v-pushed"]);
    push(&work, &src, &["v-pushed"]);
    // A branch pushed as a pack, then deleted: its objects are unreachable.
    git_ok(&src, &["config", "receive.unpackLimit", "1"]);
    git_ok(&work, &["checkout", "-q", "-b", "doomed"]);
    commits(&work, "doomed", 2);
    push(&work, &src, &["doomed"]);
    push(&work, &src, &[":doomed"]);
    git_ok(&work, &["checkout", "-q", "main"]);
    git_stdin(&src, &["hash-object", "-w", "--stdin"], b"dangling\n");
    assert!(packs(&src).len() >= 3, "{:?}", packs(&src));
    assert!(!loose(&src).is_empty());
    (dir, src, work)
}

/// Runs git in `repo` with `input` on its standard input; returns its output, which must succeed.
fn git_stdin(repo: &Path, args: &[&str], input: &[u8]) -> String {
    use std::io::Write;
    let out = git_cmd(repo)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(input)?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn packs(repo: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo.join("objects/pack"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pack"))
        .collect();
    v.sort();
    v
}

fn loose(repo: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for fan in std::fs::read_dir(repo.join("objects")).unwrap().flatten() {
        let name = fan.file_name().to_string_lossy().into_owned();
        if name.len() == 2 && fan.path().is_dir() {
            v.extend(
                std::fs::read_dir(fan.path())
                    .unwrap()
                    .flatten()
                    .map(|e| e.path()),
            );
        }
    }
    v
}

fn all_objects(repo: &Path) -> String {
    git_ok(repo, &["cat-file", "--batch-all-objects", "--batch-check"])
}

/// Clones `src` through `sluice upload-pack`, logging to a file; returns the log.
fn clone_logged(src: &Path, dst: &Path) -> String {
    let log = dst.with_extension("log");
    run_ok(
        git_cmd(dst.parent().unwrap())
            .env("SLUICE_LOG_FILE", &log)
            .args(["clone", "-q", "--bare", "--no-local", &upload_pack_flag()])
            .arg(format!("file://{}", src.display()))
            .arg(dst),
    );
    std::fs::read_to_string(log).unwrap_or_default()
}

#[test]
fn repack_makes_one_bitmapped_pack_and_keeps_every_object() {
    if against_git() {
        return;
    }
    let (dir, src, _work) = pushed_repo();
    let before = all_objects(&src);
    let unreachable = git_ok(&src, &["fsck", "--unreachable", "--no-progress"]);
    assert!(unreachable.contains("unreachable"), "{unreachable}");
    git_ok(&src, &["multi-pack-index", "write"]);

    let msg = sluice_ok(&["repack", src.to_str().unwrap()]);
    assert_eq!(all_objects(&src), before, "objects lost or added\n{msg}");
    let after = packs(&src);
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].with_extension("bitmap").exists());
    assert!(loose(&src).is_empty(), "{:?}", loose(&src));
    assert!(!src.join("objects/pack/multi-pack-index").exists());
    assert!(!src.join("objects/pack/sluice-repack.lock").exists());
    fsck(&src);
    git_ok(&src, &["rev-list", "--test-bitmap", "main"]);
    let count = |extra: &[&str]| {
        let mut args = vec!["rev-list", "--objects", "--all"];
        args.extend_from_slice(extra);
        git_ok(&src, &args).lines().count()
    };
    assert_eq!(count(&["--use-bitmap-index"]), count(&[]));
    git_ok(&src, &["commit-graph", "verify"]);
    assert!(msg.contains("bitmaps"), "{msg}");

    // Clones through Sluice are answered from the bitmap; C git serves the pack too.
    let dst = dir.path().join("clone.git");
    let log = clone_logged(&src, &dst);
    assert!(log.contains("bitmap=true"), "{log}");
    assert_eq!(refs(&dst), refs(&src));
    fsck(&dst);
    let by_git = dir.path().join("by-git.git");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            "--no-local",
            src.to_str().unwrap(),
            by_git.to_str().unwrap(),
        ],
    );
    assert_eq!(refs(&by_git), refs(&src));

    // Again: nothing to do, the same pack stays.
    sluice_ok(&["repack", src.to_str().unwrap()]);
    assert_eq!(packs(&src), after);
    assert_eq!(all_objects(&src), before);
}

#[test]
fn kept_packs_and_the_lock_are_respected() {
    if against_git() {
        return;
    }
    let (dir, src, work) = pushed_repo();
    let before = all_objects(&src);
    let kept = packs(&src)[0].clone();
    std::fs::write(kept.with_extension("keep"), "kept by test\n").unwrap();
    let packs_before = packs(&src);

    let lock = src.join("objects/pack/sluice-repack.lock");
    std::fs::write(&lock, "1\n").unwrap();
    let out = std::process::Command::new(sluice())
        .args(["repack", src.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another repack"));
    assert_eq!(packs(&src), packs_before, "a locked repack changed nothing");
    std::fs::remove_file(&lock).unwrap();

    sluice_ok(&["repack", src.to_str().unwrap()]);
    let after = packs(&src);
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(after.contains(&kept) && kept.with_extension("idx").exists());
    assert_eq!(all_objects(&src), before);
    // The new pack holds nothing of the kept one.
    let ids = |pack: &Path| -> Vec<String> {
        let idx = std::fs::read(pack.with_extension("idx")).unwrap();
        git_stdin(&src, &["show-index"], &idx)
            .lines()
            .filter_map(|l| l.split(' ').nth(1).map(str::to_string))
            .collect()
    };
    let new = after.iter().find(|p| **p != kept).unwrap();
    let kept_set: std::collections::HashSet<String> = ids(&kept).into_iter().collect();
    assert!(ids(new).iter().all(|id| !kept_set.contains(id)));
    fsck(&src);

    // More pushes, then a repack leaves the kept pack again and clones still work.
    commits(&work, "later", 2);
    push(&work, &src, &["main"]);
    sluice_ok(&["repack", src.to_str().unwrap()]);
    assert!(kept.exists() && kept.with_extension("keep").exists());
    assert_eq!(packs(&src).len(), 2);
    let dst = dir.path().join("clone.git");
    clone_logged(&src, &dst);
    assert_eq!(refs(&dst), refs(&src));
    fsck(&dst);
}
