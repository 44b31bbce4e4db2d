//! `receive.procReceiveRefs` and the `proc-receive` hook: the AGit review flow
//! (`git push origin HEAD:refs/for/main/<topic>`), as C git's t5411 exercises it. Every case runs
//! against Sluice and C git's `git-receive-pack` on twin repositories in the same run, and
//! compares client output (report-status-v2 `option` lines become the client's ref lines), the
//! hooks' output and the resulting refs.
// See: #16

mod common;

use common::receive::{
    client_lines, push_via, without_url, Server, AGIT_PUSH, POST_RECEIVE, PROC_RECEIVE, SERVERS,
};
use common::*;
use std::path::{Path, PathBuf};

fn install_hook(repo: &Path, name: &str, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = repo.join("hooks").join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Twin bare servers with `receive.procReceiveRefs=refs/for` and the hooks, and a clone with
/// two commits to push. Returns (dir, work, [(server, repo)]).
fn setup(with_hook: bool) -> (tempfile::TempDir, PathBuf, Vec<(Server, PathBuf)>) {
    let dir = scratch();
    let seed = dir.path().join("seed.git");
    git_ok(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", seed.to_str().unwrap()],
    );
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            seed.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    for i in 1..=2 {
        std::fs::write(work.join("f"), format!("{i}\n")).unwrap();
        git_ok(&work, &["add", "f"]);
        git_ok(&work, &["commit", "-q", "-m", &format!("c{i}")]);
    }
    git_ok(&work, &["push", "-q", "origin", "HEAD~1:refs/heads/main"]);
    let mut servers = Vec::new();
    for s in SERVERS {
        let repo = dir.path().join(format!("{}.git", s.name()));
        copy_repo(&seed, &repo);
        git_ok(&repo, &["config", "receive.procReceiveRefs", "refs/for"]);
        // C git advertises push options only when asked to (Sluice by default).
        git_ok(&repo, &["config", "receive.advertisePushOptions", "true"]);
        if with_hook {
            install_hook(&repo, "proc-receive", PROC_RECEIVE);
        }
        install_hook(&repo, "post-receive", POST_RECEIVE);
        servers.push((s, repo));
    }
    (dir, work, servers)
}

fn push_all(work: &Path, servers: &[(Server, PathBuf)], args: &[&str]) -> Vec<(bool, String)> {
    servers
        .iter()
        .map(|(s, repo)| {
            let out = push_via(*s, work, repo, args);
            (out.status.success(), client_lines(&out, repo))
        })
        .collect()
}

#[test]
fn agit_flow_matches_c_git() {
    let (_dir, work, servers) = setup(true);
    let results = push_all(
        &work,
        &servers,
        &[
            "--push-option=reviewer=alice",
            "HEAD:refs/for/main/topic1",
            "HEAD:refs/for/main/bad",
            "HEAD:refs/for/main/direct",
            "HEAD:refs/heads/main",
        ],
    );
    let (ok, text) = &results[0];
    assert!(!ok, "one refused topic makes the push fail");
    for want in [
        "remote: proc-receive: caps=push-options options=reviewer=alice",
        "refs/changes/1/head",
        "topic rejected by review policy",
        "post-receive<",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    assert_eq!(results[0], results[1], "client output: sluice vs git");
    let (s, g) = (refs(&servers[0].1), refs(&servers[1].1));
    assert_eq!(s, g, "refs: sluice vs git");
    assert!(
        s.contains("refs/changes/1/head") && s.contains("refs/for/main/direct"),
        "{s}"
    );
    assert!(
        !s.contains("refs/for/main/topic1") && !s.contains("bad"),
        "{s}"
    );
    for (_, repo) in &servers {
        fsck(repo);
    }
}

#[test]
fn porcelain_output_and_atomic_pushes_match_c_git() {
    let (_dir, work, servers) = setup(true);
    for args in [
        &[
            "--porcelain",
            "HEAD:refs/for/main/topic1",
            "HEAD:refs/heads/main",
        ][..],
        &[
            "--atomic",
            "HEAD:refs/for/main/topic2",
            "HEAD:refs/for/main/bad",
        ][..],
    ] {
        let results: Vec<(bool, String, String)> = servers
            .iter()
            .map(|(s, repo)| {
                let out = push_via(*s, &work, repo, args);
                let stdout = String::from_utf8_lossy(&out.stdout)
                    .replace(&repo.display().to_string(), "DST");
                (out.status.success(), stdout, client_lines(&out, repo))
            })
            .collect();
        assert_eq!(results[0], results[1], "{args:?}: sluice vs git");
        assert_eq!(refs(&servers[0].1), refs(&servers[1].1), "{args:?}");
    }
}

#[test]
fn missing_hook_fails_the_matching_commands_as_c_git() {
    let (_dir, work, servers) = setup(false);
    let results = push_all(
        &work,
        &servers,
        &["HEAD:refs/for/main/topic", "HEAD:refs/heads/main"],
    );
    assert!(!results[0].0);
    assert!(
        results[0].1.contains("fail to run proc-receive hook"),
        "{}",
        results[0].1
    );
    assert_eq!(results[0], results[1], "client output: sluice vs git");
    assert_eq!(refs(&servers[0].1), refs(&servers[1].1));
}

/// The AGit flow over ssh (sshd + `sluice ssh`), git:// (xinetd + `sluice inetd`) and smart
/// HTTP: the client sees what it sees over file:// with C git's receive-pack, and the refs end
/// the same.
#[test]
fn agit_flow_over_ssh_inetd_and_http() {
    use common::remotes::{have_servers, name, Remotes, REMOTES};
    if !have_servers() {
        return;
    }
    let (dir, work, servers) = setup(true);
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    for remote in REMOTES {
        copy_repo(&servers[0].1, &root.join(format!("{}.git", name(remote))));
    }
    let args = AGIT_PUSH;
    let reference = push_via(Server::Git, &work, &servers[1].1, &args);
    let reference = (
        reference.status.success(),
        without_url(&client_lines(&reference, &servers[1].1)),
    );
    assert!(
        reference.1.contains("refs/changes/1/head"),
        "{}",
        reference.1
    );
    let remotes = Remotes::start(dir.path(), &root, &[]);
    for remote in REMOTES {
        let repo = root.join(format!("{}.git", name(remote)));
        let out = remotes
            .git(&work)
            .arg("push")
            .arg(args[0])
            .arg(remotes.url(remote, &format!("{}.git", name(remote))))
            .args(&args[1..])
            .output()
            .unwrap();
        let got = (
            out.status.success(),
            without_url(&client_lines(&out, &repo)),
        );
        assert_eq!(
            got,
            reference,
            "{}: same as C git over file://",
            name(remote)
        );
        assert_eq!(refs(&repo), refs(&servers[1].1), "{}", name(remote));
        fsck(&repo);
    }
}

/// A `proc-receive` hook that never answers is killed at `--max-hook-seconds` (C git would
/// wait forever): the push is refused with one line saying so and no ref changes, even in
/// the atomic push that also updates a branch.
#[test]
fn hanging_hook_is_killed_at_the_deadline() {
    let (_dir, work, servers) = setup(false);
    let (server, repo) = &servers[0];
    assert_eq!(*server, Server::Sluice);
    install_hook(
        repo,
        "proc-receive",
        "#!/bin/sh\necho 'proc-receive: thinking' >&2\nsleep 60\n",
    );
    let before = refs(repo);
    let url = format!("file://{}", repo.display());
    let started = std::time::Instant::now();
    let out = git_cmd(&work)
        .env("SLUICE_MAX_HOOK_SECONDS", "2")
        .args(["push", "--atomic", &server.receive_pack_flag(), &url])
        .args(["HEAD:refs/for/main/topic", "HEAD:refs/heads/main"])
        .output()
        .unwrap();
    let took = started.elapsed();
    let text = client_lines(&out, repo);
    assert!(!out.status.success(), "{text}");
    assert!(took >= std::time::Duration::from_secs(2), "{took:?}");
    assert!(
        took < std::time::Duration::from_secs(30),
        "{took:?}: {text}"
    );
    assert!(text.contains("proc-receive: thinking"), "{text}");
    assert!(
        text.contains("hook proc-receive timed out after 2 s"),
        "{text}"
    );
    assert!(text.contains("fail to run proc-receive hook"), "{text}");
    assert_eq!(refs(repo), before, "{text}");
}
