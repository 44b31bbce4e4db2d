//! `GIT_NAMESPACE` (gitnamespaces(7)) through the real git client: ls-remote, clone and fetch
//! over protocol v0 and v2 see only the namespace, with its own HEAD; pushes land inside it and
//! hooks see the names the client sent; namespaces nest. Each test also runs against C git's
//! programs with `SLUICE_TEST_SERVER=git`.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// `git ls-remote` of `repo` in namespace `ns` with protocol `version`. Repeated lines are
/// dropped: C git 2.47's v2 ls-refs lists a namespace's HEAD twice (as HEAD and again from its
/// ref walk, which sees `<ns>HEAD`); Sluice lists it once.
fn ls_remote(repo: &Path, ns: &str, version: u8) -> String {
    let up = format!("--upload-pack={}", server_in_namespace("upload-pack", ns));
    let v = format!("protocol.version={version}");
    let out = git_ok(repo, &["-c", &v, "ls-remote", &up, &file_url(repo)]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.dedup();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn commit(work: &Path, file: &str) -> String {
    std::fs::write(work.join(file), file).unwrap();
    git_ok(work, &["add", file]);
    git_ok(work, &["commit", "-q", "-m", file]);
    git_ok(work, &["rev-parse", "HEAD"]).trim().to_string()
}

/// A bare repository with refs outside a namespace `foo`, inside it (with its own HEAD), and
/// inside `foo/bar`; returns (dir, repo, [outside, inside, nested] commit ids). The uploadpack
/// `allow*SHA1InWant` settings are off explicitly (Sluice's default differs, see README).
fn served() -> (tempfile::TempDir, PathBuf, [String; 3]) {
    let dir = scratch();
    let work = dir.path().join("work");
    git_ok(dir.path(), &["init", "-q", "-b", "main", "work"]);
    commit(&work, "a");
    let b = commit(&work, "b");
    let c = commit(&work, "c");
    // The ref outside the namespace: history of its own, so nothing inside reaches it.
    git_ok(&work, &["switch", "-q", "--orphan", "lone"]);
    let a = commit(&work, "lone");
    git_ok(&work, &["switch", "-q", "main"]);
    let repo = dir.path().join("srv.git");
    git_ok(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", "srv.git"],
    );
    git_ok(
        &work,
        &["push", "-q", repo.to_str().unwrap(), "main", "lone"],
    );
    git_ok(&repo, &["update-ref", "-d", "refs/heads/lone"]);
    let set = |name: &str, id: &str| git_ok(&repo, &["update-ref", name, id]);
    set("refs/heads/main", &a);
    set("refs/namespaces/foo/refs/heads/main", &b);
    set("refs/namespaces/foo/refs/tags/v1", &b);
    set("refs/namespaces/foo/refs/namespaces/bar/refs/heads/x", &c);
    git_ok(
        &repo,
        &[
            "symbolic-ref",
            "refs/namespaces/foo/HEAD",
            "refs/namespaces/foo/refs/heads/main",
        ],
    );
    git_ok(
        &repo,
        &["config", "uploadpack.allowReachableSHA1InWant", "false"],
    );
    (dir, repo, [a, b, c])
}

#[test]
fn ls_remote_sees_only_the_namespace_v0_and_v2() {
    let (_dir, repo, [_a, b, c]) = served();
    for version in [0, 2] {
        assert_eq!(
            ls_remote(&repo, "foo", version),
            format!(
                "{b}\tHEAD\n{b}\trefs/heads/main\n{c}\trefs/namespaces/bar/refs/heads/x\n\
                 {b}\trefs/tags/v1\n"
            ),
            "v{version}"
        );
        assert_eq!(
            ls_remote(&repo, "foo/bar", version),
            format!("{c}\trefs/heads/x\n"),
            "nested, v{version}"
        );
        assert_eq!(ls_remote(&repo, "none", version), "", "empty, v{version}");
    }
}

#[test]
fn clone_and_fetch_inside_a_namespace_v0_and_v2() {
    let (dir, repo, [_a, b, c]) = served();
    for version in [0, 2] {
        let dst = dir.path().join(format!("clone{version}"));
        let v = format!("protocol.version={version}");
        let up = format!(
            "--upload-pack={}",
            server_in_namespace("upload-pack", "foo")
        );
        let args = ["-c", &v, "clone", "-q", "--no-local", &up, &file_url(&repo)];
        let mut all: Vec<&str> = args.to_vec();
        all.push(dst.to_str().unwrap());
        git_ok(dir.path(), &all);
        assert_eq!(git_ok(&dst, &["rev-parse", "HEAD"]).trim(), b);
        assert_eq!(
            git_ok(&dst, &["symbolic-ref", "HEAD"]).trim(),
            "refs/heads/main"
        );
        let up = format!(
            "--upload-pack={}",
            server_in_namespace("upload-pack", "foo/bar")
        );
        let args = [
            "-c",
            &v,
            "fetch",
            "-q",
            &up,
            &file_url(&repo),
            "refs/heads/x:refs/heads/x",
        ];
        git_ok(&dst, &args);
        assert_eq!(git_ok(&dst, &["rev-parse", "refs/heads/x"]).trim(), c);
        fsck(&dst);
    }
}

/// A want for an object reachable only from outside the namespace is not ours (v0).
#[test]
fn refs_outside_the_namespace_are_not_tips() {
    let (dir, repo, [a, _b, _c]) = served();
    let dst = dir.path().join("dst");
    git_ok(dir.path(), &["init", "-q", dst.to_str().unwrap()]);
    let up = format!(
        "--upload-pack={}",
        server_in_namespace("upload-pack", "foo")
    );
    let out = git(
        &dst,
        &[
            "-c",
            "protocol.version=0",
            "fetch",
            "-q",
            &up,
            &file_url(&repo),
            &a,
        ],
    );
    assert!(!out.status.success(), "fetch of an outside tip succeeded");
}

/// `git push` from `work` to `repo` in namespace `ns`.
fn push(work: &Path, repo: &Path, ns: &str, version: u8, refspecs: &[&str]) -> String {
    let rp = format!("--receive-pack={}", server_in_namespace("receive-pack", ns));
    let v = format!("protocol.version={version}");
    let u = file_url(repo);
    let mut args = vec!["-c", &v, "push", "--porcelain", &rp, &u];
    args.extend(refspecs);
    let out = git(work, &args);
    assert!(
        out.status.success(),
        "push {refspecs:?} into {ns}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn pushes_land_inside_the_namespace_and_hooks_see_stripped_names() {
    let (dir, repo, [a, b, c]) = served();
    let log = dir.path().join("hook.log");
    let hook = repo.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"ns=$GIT_NAMESPACE\" >> {0}\ncat >> {0}\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let work = dir.path().join("work");
    for version in [0, 2] {
        let topic = format!("refs/heads/topic{version}");
        // Create, fast-forward an existing ref of the namespace, and create in a nested one.
        push(&work, &repo, "foo", version, &[&format!("{c}:{topic}")]);
        push(&work, &repo, "foo/bar", version, &[&format!("{c}:{topic}")]);
    }
    push(&work, &repo, "foo", 0, &[&format!("{c}:refs/heads/main")]);
    push(&work, &repo, "foo", 0, &[":refs/heads/topic0"]);
    let all = refs(&repo);
    let expect = format!(
        "{a} refs/heads/main\n\
         {c} refs/namespaces/foo/HEAD\n\
         {c} refs/namespaces/foo/refs/heads/main\n\
         {c} refs/namespaces/foo/refs/heads/topic2\n\
         {c} refs/namespaces/foo/refs/namespaces/bar/refs/heads/topic0\n\
         {c} refs/namespaces/foo/refs/namespaces/bar/refs/heads/topic2\n\
         {c} refs/namespaces/foo/refs/namespaces/bar/refs/heads/x\n\
         {b} refs/namespaces/foo/refs/tags/v1\n"
    );
    assert_eq!(all, expect);
    // Read back through the namespace.
    assert_eq!(
        ls_remote(&repo, "foo/bar", 2),
        format!("{c}\trefs/heads/topic0\n{c}\trefs/heads/topic2\n{c}\trefs/heads/x\n")
    );
    let log = std::fs::read_to_string(&log).unwrap();
    let zero = "0".repeat(40);
    assert!(
        log.starts_with(&format!(
            "ns=foo\n{zero} {c} refs/heads/topic0\nns=foo/bar\n"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("ns=foo\n{b} {c} refs/heads/main\n")),
        "{log}"
    );
    assert!(
        log.ends_with(&format!("ns=foo\n{c} {zero} refs/heads/topic0\n")),
        "{log}"
    );
    fsck(&repo);
}

/// Objects the repository has outside the namespace need not be sent again: a push of history
/// that already exists elsewhere in the repository creates the ref with an empty pack.
#[test]
fn push_into_a_fresh_namespace_of_known_history() {
    let (dir, repo, [a, _b, _c]) = served();
    let work = dir.path().join("work");
    push(&work, &repo, "fresh", 0, &[&format!("{a}:refs/heads/main")]);
    assert_eq!(
        git_ok(
            &repo,
            &["rev-parse", "refs/namespaces/fresh/refs/heads/main"]
        )
        .trim(),
        a
    );
    fsck(&repo);
}

/// The access hook picks the namespace per request (`namespace=NAME` on its stdout): over
/// git:// (inetd mode) for a fetch, and in login-shell mode per user for a push. Sluice only:
/// git daemon's access hook cannot choose a namespace.
#[test]
fn access_hook_chooses_the_namespace() {
    if against_git() {
        return;
    }
    let (dir, repo, [_a, b, c]) = served();
    let hook = dir.path().join("hook");
    std::fs::write(&hook, "#!/bin/sh\necho \"namespace=${SLUICE_USER:-foo}\"\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let url = format!(
        "ext::{} inetd --base-path {} --export-all --access-hook {} %G/srv.git",
        sluice(),
        dir.path().display(),
        hook.display()
    );
    let out = git_ok(
        dir.path(),
        &[
            "-c",
            "protocol.ext.allow=always",
            "ls-remote",
            &url,
            "HEAD",
            "main",
        ],
    );
    assert_eq!(out, format!("{b}\tHEAD\n{b}\trefs/heads/main\n"));
    let link = dir.path().join("sluice-shell");
    std::os::unix::fs::symlink(sluice(), &link).unwrap();
    let url = format!("ext::{} -c %S% 'srv.git'", link.display());
    let out = git_cmd(dir.path())
        .env("SLUICE_ACCESS_HOOK", &hook)
        .env("USER", "carol")
        .args([
            "--git-dir",
            "work/.git",
            "-c",
            "protocol.ext.allow=always",
            "push",
            "-q",
            &url,
        ])
        .arg(format!("{c}:refs/heads/mine"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        git_ok(
            &repo,
            &["rev-parse", "refs/namespaces/carol/refs/heads/mine"]
        )
        .trim(),
        c
    );
    fsck(&repo);
}

/// `receive.denyCurrentBranch` in a namespace of a non-bare repository: C git 2.47 compares
/// the name the client sent with the branch checked out, so `main` is refused in any namespace
/// while the working tree is on `main`, and other branches go through.
#[test]
fn checked_out_branch_in_a_namespace() {
    let (dir, _repo, [_a, _b, c]) = served();
    let nonbare = dir.path().join("nonbare");
    git_ok(dir.path(), &["init", "-q", "-b", "main", "nonbare"]);
    commit(&nonbare, "n");
    let work = dir.path().join("work");
    let target = nonbare.join(".git");
    push(
        &work,
        &target,
        "foo",
        0,
        &[&format!("{c}:refs/heads/other")],
    );
    assert_eq!(
        git_ok(
            &nonbare,
            &["rev-parse", "refs/namespaces/foo/refs/heads/other"]
        )
        .trim(),
        c
    );
    let rp = format!(
        "--receive-pack={}",
        server_in_namespace("receive-pack", "foo")
    );
    let spec = format!("{c}:refs/heads/main");
    let out = git(
        &work,
        &["push", "--porcelain", &rp, &file_url(&target), &spec],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("[remote rejected]"));
}

/// The `--upload-pack` of sluice and of C git's upload-pack, both in namespace `ns`: the
/// namespace tests below run every case against both in the same run.
fn both_servers(ns: &str) -> [String; 2] {
    [
        format!("--upload-pack=GIT_NAMESPACE={ns} {} upload-pack", sluice()),
        format!("--upload-pack=GIT_NAMESPACE={ns} git-upload-pack"),
    ]
}

#[test]
fn unborn_head_in_a_namespace_is_sent_as_unborn() {
    let (dir, repo, _) = served();
    git_ok(
        &repo,
        &[
            "symbolic-ref",
            "refs/namespaces/empty/HEAD",
            "refs/namespaces/empty/refs/heads/trunk",
        ],
    );
    for (i, up) in both_servers("empty").iter().enumerate() {
        let dst = dir.path().join(format!("clone{i}"));
        let out = git(
            dir.path(),
            &[
                "-c",
                "protocol.version=2",
                "clone",
                "-q",
                up,
                &file_url(&repo),
                dst.to_str().unwrap(),
            ],
        );
        assert_success(&out, up);
        // The local default would be "master": "trunk" came from the server's `unborn` line.
        assert_eq!(
            git_ok(&dst, &["symbolic-ref", "HEAD"]).trim(),
            "refs/heads/trunk",
            "{up}"
        );
    }
    // Without a namespace HEAD at all, nothing is sent and the client keeps its default.
    for (i, up) in both_servers("nohead").iter().enumerate() {
        let dst = dir.path().join(format!("plain{i}"));
        let out = git(
            dir.path(),
            &[
                "-c",
                "protocol.version=2",
                "-c",
                "init.defaultBranch=dflt",
                "clone",
                "-q",
                up,
                &file_url(&repo),
                dst.to_str().unwrap(),
            ],
        );
        assert_success(&out, up);
        assert_eq!(
            git_ok(&dst, &["symbolic-ref", "HEAD"]).trim(),
            "refs/heads/dflt",
            "{up}"
        );
    }
}

#[test]
fn namespace_paths_are_checked_like_c_git() {
    let (_dir, repo, [_a, b, c]) = served();
    let ls = |up: &str| git(&repo, &["ls-remote", up, &file_url(&repo)]);
    for bad in ["foo/", "/", "foo/bar/"] {
        for up in both_servers(bad) {
            let out = ls(&up);
            assert!(!out.status.success(), "{up} accepted");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(&format!("bad git namespace path \"{bad}\"")),
                "{up}: {err}"
            );
        }
    }
    for (good, id) in [("foo//bar", &c), ("/foo", &b)] {
        let [s, g] = both_servers(good).map(|up| {
            let out = ls(&up);
            assert_success(&out, &up);
            // C git's v2 lists a namespace's HEAD twice (see `ls_remote`).
            let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| format!("{l}\n"))
                .collect();
            lines.dedup();
            lines.concat()
        });
        assert_eq!(s, g, "{good}");
        assert!(s.contains(id.as_str()), "{good}: {s}");
    }
}

/// An access file whose `namespace` rules give anonymous git:// readers one namespace and each
/// ssh user their own (Sluice only: C git has no access file).
#[test]
fn access_file_rule_chooses_the_namespace() {
    if against_git() {
        return;
    }
    let (dir, repo, [_a, b, c]) = served();
    let before = refs(&repo);
    let access = dir.path().join("access");
    std::fs::write(
        &access,
        "repo srv\n  R = anonymous @all\n  namespace foo = anonymous\n  namespace foo/%u = @all\n",
    )
    .unwrap();
    let url = format!(
        "ext::{} inetd --base-path {} --export-all --access {} %G/srv.git",
        sluice(),
        dir.path().display(),
        access.display()
    );
    let out = git_ok(
        dir.path(),
        &["-c", "protocol.ext.allow=always", "ls-remote", &url, "main"],
    );
    assert_eq!(out, format!("{b}\trefs/heads/main\n"));
    let ssh = dir.path().join("fake-ssh");
    std::fs::write(
        &ssh,
        format!(
            "#!/bin/sh\nfor cmd; do :; done\nexec env SSH_ORIGINAL_COMMAND=\"$cmd\" {} ssh --root {} --user bar --access {}\n",
            sluice(),
            dir.path().display(),
            access.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&ssh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = git_cmd(dir.path())
        .env("GIT_SSH_COMMAND", &ssh)
        .args(["ls-remote", "host:srv.git"])
        .output()
        .unwrap();
    assert_success(&out, "ssh ls-remote");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{c}\trefs/heads/x\n")
    );
    assert_eq!(refs(&repo), before, "nothing written");
}
