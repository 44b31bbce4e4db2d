//! Repositories in a format Sluice does not serve (yet) are refused with one clear line, on
//! every path a client can take, and a refused push leaves nothing behind: never "an empty
//! repository" or ids cut short. The repositories are made by C git itself.
// See: #14

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// Every file below `dir`, relative, sorted: what a refused request must leave unchanged.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if p.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A bare repository made by `git init` with `init_args`, holding one pushed commit, and a work
/// repository to push from.
fn repo_with(dir: &Path, name: &str, init_args: &[&str]) -> (PathBuf, PathBuf) {
    let bare = dir.join(name);
    let mut args = vec!["init", "-q", "--bare", "-b", "main"];
    args.extend(init_args);
    args.push(bare.to_str().unwrap());
    git_ok(dir, &args);
    let work = dir.join(format!("{name}.work"));
    let mut wargs = vec!["init", "-q", "-b", "main"];
    wargs.extend(init_args);
    wargs.push(work.to_str().unwrap());
    git_ok(dir, &wargs);
    std::fs::write(work.join("f"), "one\n").unwrap();
    git_ok(&work, &["add", "f"]);
    git_ok(&work, &["commit", "-q", "-m", "one"]);
    git_ok(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    std::fs::write(work.join("f"), "two\n").unwrap();
    git_ok(&work, &["commit", "-q", "-am", "two"]);
    (bare, work)
}

/// Clone and push through sluice (direct and ext::) must fail, naming `expect`, and change nothing.
fn assert_refused(dir: &Path, bare: &Path, work: &Path, expect: &str) {
    if against_git() {
        return; // C git serves these formats: the refusal is Sluice's own.
    }
    let before = listing(bare);
    for (i, transport) in [Transport::UploadPackFlag, Transport::Ext]
        .into_iter()
        .enumerate()
    {
        for version in [0, 2] {
            let dst = dir.join(format!(
                "clone-{}-{i}-{version}",
                bare.file_name().unwrap().to_string_lossy()
            ));
            let out = clone(transport, version, bare, &dst, &[]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success(),
                "clone of {} succeeded: {err}",
                bare.display()
            );
            assert!(
                err.contains(expect),
                "clone error does not name {expect:?}: {err}"
            );
            assert_eq!(
                err.matches(expect).count(),
                1,
                "the reason should reach the client once: {err}"
            );
            assert!(!err.contains("empty repository"), "{err}");
        }
    }
    let url = format!("file://{}", bare.display());
    let flag = format!("--receive-pack={} receive-pack", sluice());
    let out = git(work, &["push", &flag, &url, "main"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "push succeeded: {err}");
    assert!(
        err.contains(expect),
        "push error does not name {expect:?}: {err}"
    );
    assert_eq!(
        listing(bare),
        before,
        "a refused push changed the repository"
    );
    // C git still reads the repository as it was (where C git reads it at all: it refuses
    // unknown extensions and versions too).
    if !expect.contains("unknown repository extension") && !expect.contains("version") {
        git_ok(bare, &["fsck", "--strict"]);
    }
}

/// Reftable repositories are served (tests/reftable.rs has the rest), through both transports.
#[test]
fn reftable_repository_is_served_not_refused() {
    let dir = scratch();
    let (bare, _work) = repo_with(dir.path(), "rt.git", &["--ref-format=reftable"]);
    for (i, transport) in [Transport::UploadPackFlag, Transport::Ext]
        .into_iter()
        .enumerate()
    {
        for version in [0, 2] {
            let dst = dir.path().join(format!("clone-rt-{i}-{version}"));
            clone_ok(transport, version, &bare, &dst, &[]);
            assert_eq!(
                git_ok(&dst, &["rev-parse", "refs/remotes/origin/main"]),
                git_ok(&bare, &["rev-parse", "refs/heads/main"])
            );
            fsck(&dst);
        }
    }
}

/// SHA-256 repositories are served (tests/sha256.rs has the rest); a compatibility object
/// format, which C git 2.47 itself only half implements, stays refused.
#[test]
fn sha256_is_served_and_compat_object_format_refused() {
    let dir = scratch();
    let (bare, work) = repo_with(dir.path(), "s256.git", &["--object-format=sha256"]);
    for version in [0, 2] {
        let dst = dir.path().join(format!("clone-s256-{version}"));
        clone_ok(Transport::Ext, version, &bare, &dst, &[]);
        assert_eq!(
            git_ok(&dst, &["rev-parse", "refs/remotes/origin/main"]),
            git_ok(&bare, &["rev-parse", "refs/heads/main"])
        );
        fsck(&dst);
    }
    git_ok(&bare, &["config", "extensions.compatObjectFormat", "sha1"]);
    assert_refused(
        dir.path(),
        &bare,
        &work,
        "extensions.compatObjectFormat = sha1",
    );
}

#[test]
fn unknown_extension_and_future_version_are_refused() {
    let dir = scratch();
    let (bare, work) = repo_with(dir.path(), "ext.git", &[]);
    git_ok(&bare, &["config", "core.repositoryformatversion", "1"]);
    git_ok(&bare, &["config", "extensions.frobnicate", "true"]);
    assert_refused(
        dir.path(),
        &bare,
        &work,
        "unknown repository extension found: frobnicate",
    );

    let (bare, work) = repo_with(dir.path(), "v2.git", &[]);
    git_ok(&bare, &["config", "core.repositoryformatversion", "2"]);
    assert_refused(
        dir.path(),
        &bare,
        &work,
        "expected git repo version <= 1, found 2",
    );
}

#[test]
fn known_v0_extensions_are_served() {
    // Version 0 ignores unknown extensions, as C git does; preciousObjects is honoured.
    let dir = scratch();
    let (bare, _work) = repo_with(dir.path(), "v0.git", &[]);
    git_ok(&bare, &["config", "extensions.frobnicate", "true"]);
    git_ok(&bare, &["config", "extensions.preciousObjects", "true"]);
    let dst = dir.path().join("c");
    clone_ok(Transport::Ext, 2, &bare, &dst, &[]);
    fsck(&dst);
    if !against_git() {
        let out = std::process::Command::new(sluice())
            .args(["repack", bare.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("precious-objects"), "{err}");
    }
}
