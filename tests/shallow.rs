//! Shallow clones and fetches through sluice match the same commands against C git: the history,
//! `.git/shallow` and a clean fsck, for protocol v0, v1 and v2.

mod common;

use common::*;
use std::path::Path;

fn shallow_file(repo: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(repo.join("shallow"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

fn history(repo: &Path) -> String {
    git_ok(repo, &["rev-list", "--all", "--topo-order"])
}

/// Runs `git <cfg> <args...>` for `repo_dir`, through sluice or C git.
fn run(dir: &Path, version: u8, through_sluice: bool, args: &[&str]) {
    let v = format!("protocol.version={version}");
    let flag = upload_pack_flag();
    let mut all = vec!["-c", &v];
    all.extend_from_slice(&args[..1]);
    if through_sluice {
        all.push(&flag);
    }
    all.extend_from_slice(&args[1..]);
    let out = git(dir, &all);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn compare(_dir: &Path, a: &Path, b: &Path, what: &str) {
    assert_eq!(
        shallow_file(a),
        shallow_file(b),
        "shallow file after {what}"
    );
    assert_eq!(history(a), history(b), "history after {what}");
    fsck(a);
}

#[test]
fn clone_deepen_and_unshallow_like_c_git() {
    let src = fixture("gen_history");
    let url = format!("file://{}", src.display());
    for version in [0u8, 1, 2] {
        for first in [
            "--depth=1",
            "--shallow-since=@1700300000",
            "--shallow-exclude=t5000",
        ] {
            let dir = scratch();
            let (a, b) = (dir.path().join("a.git"), dir.path().join("b.git"));
            let (a_s, b_s) = (a.to_str().unwrap(), b.to_str().unwrap());
            run(
                dir.path(),
                version,
                true,
                &["clone", "-q", "--bare", "--no-local", first, &url, a_s],
            );
            run(
                dir.path(),
                version,
                false,
                &["clone", "-q", "--bare", "--no-local", first, &url, b_s],
            );
            compare(dir.path(), &a, &b, first);
            for next in [
                &["fetch", "-q", "--deepen=5", "origin"][..],
                &["fetch", "-q", "--unshallow", "origin"][..],
            ] {
                let mut args = vec![next[0]];
                args.extend_from_slice(&next[1..]);
                // Bare clones have no fetch refspec for origin; give one.
                args.push("+refs/heads/*:refs/heads/*");
                run(&a, version, true, &args);
                run(&b, version, false, &args);
                compare(dir.path(), &a, &b, &format!("{first} then {next:?}"));
            }
            assert!(
                !a.join("shallow").exists(),
                "unshallow leaves no shallow file"
            );
        }
    }
}

#[test]
fn fetch_into_shallow_clone_after_new_commits() {
    let dir = scratch();
    let src = dir.path().join("src.git");
    copy_repo(&fixture("branches"), &src);
    let url = format!("file://{}", src.display());
    let a = dir.path().join("a");
    run(
        dir.path(),
        2,
        true,
        &[
            "clone",
            "-q",
            "--depth=1",
            "--no-local",
            &url,
            a.to_str().unwrap(),
        ],
    );
    let work = dir.path().join("w");
    git_ok(dir.path(), &["clone", "-q", &url, work.to_str().unwrap()]);
    git_ok(&work, &["commit", "-q", "--allow-empty", "-m", "new"]);
    git_ok(&work, &["push", "-q", "origin", "main"]);
    for v in [0u8, 2] {
        run(&a, v, true, &["fetch", "-q", "origin"]);
        fsck(&a);
    }
    assert_eq!(
        git_ok(&a, &["rev-parse", "origin/main"]),
        git_ok(&src, &["rev-parse", "main"])
    );
}
