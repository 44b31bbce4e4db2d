//! The network launch modes over the distributed backend: a real sshd running `sluice ssh`, a
//! real xinetd running `sluice inetd` and `sluice http-backend` as a CGI, each given the
//! backend config through `SLUICE_BACKEND_CONFIG` (what an operator sets in the service's
//! environment), against the 3-member etcd cluster and radosgw of `tests/common/engines.rs`.
//! The real git client pushes through every transport, clones through every transport, and
//! each clone passes `git fsck --strict` with exactly the refs the store holds. Paths map to
//! names as in direct mode (`r` finds `r.git`), refusals are the on-disk modes' own, and the
//! access file still decides per user.
#![cfg(feature = "distributed")]

mod common;
#[path = "common/engines.rs"]
mod engines;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::remotes::{name, Remote, Remotes, REMOTES};
use common::sshd::{keygen, Sshd};
use common::{assert_success, commit_line as commit, fsck, git_ok, refs, scratch, sluice};

/// A temporary directory, a backend config with a key prefix of its own, an empty served root.
struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    cfg: PathBuf,
    root: PathBuf,
    prefix: String,
}

fn world(tag: &str) -> Option<World> {
    let e = engines::engines()?;
    let tmp = scratch();
    let dir = tmp.path().to_path_buf();
    let prefix = format!("t-launch-{tag}-{}", std::process::id());
    let cfg = e.config_file(&dir.join("fe.conf"), &dir.join("cache"), 0, &prefix);
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    Some(World {
        _tmp: tmp,
        dir,
        cfg,
        root,
        prefix,
    })
}

impl World {
    fn init(&self, repo: &str) {
        let out = std::process::Command::new(sluice())
            .args(["init", "--backend-config"])
            .arg(&self.cfg)
            .arg(repo)
            .output()
            .unwrap();
        assert_success(&out, "sluice init");
    }

    /// The environment every server process gets: the backend config, git://'s and HTTP's
    /// export switch, a log file.
    fn server_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SLUICE_BACKEND_CONFIG", self.cfg.display().to_string()),
            ("GIT_HTTP_EXPORT_ALL", "1".into()),
            (
                "SLUICE_LOG_FILE",
                self.dir.join("sluice.log").display().to_string(),
            ),
        ]
    }

    /// `refs/...` of `repo` in etcd as `<id> <name>` lines in name order, as
    /// `git for-each-ref` prints them (the ground truth).
    fn stored_refs(&self, repo: &str) -> String {
        let e = engines::engines().unwrap();
        let base = format!("{}/{}/", self.prefix, repo.replace('/', "%2F"));
        let lines = e.etcd_get_prefix(&format!("{base}refs/"));
        let mut refs: Vec<(&str, &str)> = lines
            .chunks(2)
            .map(|kv| (kv[0].strip_prefix(&base).unwrap(), kv[1].as_str()))
            .collect();
        refs.sort();
        refs.iter().map(|(n, id)| format!("{id} {n}\n")).collect()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn run(mut c: std::process::Command) -> Output {
    c.output().unwrap()
}

#[test]
fn push_clone_fetch_through_ssh_inetd_and_http() {
    if !common::remotes::have_servers() {
        return;
    }
    let Some(w) = world("modes") else { return };
    w.init("r.git");
    let env = w.server_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let remotes = Remotes::start_cgi(&w.dir.join("servers"), &w.root, &env);
    let src = w.dir.join("src");
    git_ok(&w.dir, &["init", "-q", "-b", "main", src.to_str().unwrap()]);

    // One push through each transport: main moves forward, and each adds its own branch. ssh
    // names the repository without `.git`, as on disk.
    for remote in REMOTES {
        commit(&src, &format!("through {}", name(remote)));
        let repo = if remote == Remote::Ssh { "r" } else { "r.git" };
        let url = remotes.url(remote, repo);
        let branch = format!("HEAD:refs/heads/{}", name(remote));
        let mut c = remotes.git(&src);
        c.args(["push", &url, "HEAD:refs/heads/main", &branch]);
        let out = run(c);
        assert_success(&out, &format!("push over {}", name(remote)));
    }
    let mut expected: Vec<(String, String)> = REMOTES
        .iter()
        .map(|r| {
            let id = git_ok(&src, &["rev-parse", &format!("HEAD~{}", 2 - *r as usize)]);
            (format!("refs/heads/{}", name(*r)), id.trim().to_string())
        })
        .collect();
    let head = git_ok(&src, &["rev-parse", "HEAD"]);
    expected.push(("refs/heads/main".into(), head.trim().to_string()));
    expected.sort();
    let expected: String = expected
        .iter()
        .map(|(n, id)| format!("{id} {n}\n"))
        .collect();
    assert_eq!(
        w.stored_refs("r.git"),
        expected,
        "the store holds every push"
    );

    // A clone through each transport has exactly the stored refs and passes fsck --strict.
    let mut clones = Vec::new();
    for remote in REMOTES {
        let dst = w.dir.join(format!("clone-{}", name(remote)));
        let mut c = remotes.git(&w.dir);
        c.args(["clone", "-q", "--mirror", &remotes.url(remote, "r.git")])
            .arg(&dst);
        assert_success(&run(c), &format!("clone over {}", name(remote)));
        fsck(&dst);
        assert_eq!(refs(&dst), expected, "clone over {}", name(remote));
        clones.push(dst);
    }

    // A push through one transport is fetched through the others.
    commit(&src, "after the clones");
    let mut c = remotes.git(&src);
    c.args(["push", &remotes.url(Remote::Http, "r.git"), "HEAD:main"]);
    assert_success(&run(c), "second push over http");
    let head = git_ok(&src, &["rev-parse", "HEAD"]);
    for (remote, clone) in REMOTES.iter().zip(&clones) {
        let mut c = remotes.git(clone);
        c.args([
            "fetch",
            "-q",
            &remotes.url(*remote, "r.git"),
            "+refs/*:refs/*",
        ]);
        assert_success(&run(c), &format!("fetch over {}", name(*remote)));
        fsck(clone);
        assert_eq!(
            refs(clone),
            w.stored_refs("r.git"),
            "fetch over {}",
            name(*remote)
        );
        assert_eq!(
            git_ok(clone, &["rev-parse", "refs/heads/main"]),
            head,
            "fetch over {}",
            name(*remote)
        );
    }
    let log = std::fs::read_to_string(w.dir.join("sluice.log")).unwrap_or_default();
    for mode in ["mode=\"ssh\"", "mode=\"inetd\"", "mode=\"http\""] {
        assert!(log.contains(mode), "{mode} in the log:\n{log}");
    }
    assert!(
        log.contains("etcd_round_trips="),
        "round trips logged:\n{log}"
    );
}

#[test]
fn missing_and_escaping_names_are_refused_as_on_disk() {
    if !common::remotes::have_servers() {
        return;
    }
    let Some(w) = world("refused") else { return };
    w.init("r.git");
    let env = w.server_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let remotes = Remotes::start_cgi(&w.dir.join("servers"), &w.root, &env);
    // Each transport's own wording for "no such repository" (nothing tells missing from
    // forbidden), and the same for a path that tries to leave the namespace.
    let cases = [
        (
            Remote::Ssh,
            "repository 'nope.git' not found or access denied",
        ),
        (
            Remote::Inetd,
            "access denied or repository not exported: /nope.git",
        ),
        (Remote::Http, "remote: Repository not found"),
    ];
    for (remote, words) in cases {
        let mut c = remotes.git(&w.dir);
        c.args(["ls-remote", &remotes.url(remote, "nope.git")]);
        let out = run(c);
        assert!(
            !out.status.success(),
            "ls-remote nope.git over {}",
            name(remote)
        );
        assert!(
            stderr(&out).contains(words),
            "over {}: {}",
            name(remote),
            stderr(&out)
        );
    }
    let mut c = remotes.git(&w.dir);
    c.args(["ls-remote", &remotes.url(Remote::Ssh, "../r.git")]);
    let out = run(c);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not found or access denied"),
        "{}",
        stderr(&out)
    );
}

/// `git` as `key` through `sshd`.
fn git_as(sshd: &Sshd, key: &str, dir: &Path, args: &[&str]) -> Output {
    let mut c = common::git_cmd(dir);
    c.env("GIT_SSH_COMMAND", sshd.command(key)).args(args);
    c.output().unwrap()
}

#[test]
fn the_access_file_decides_per_user_over_ssh() {
    if !common::sshd::have_sshd() {
        return;
    }
    let Some(w) = world("access") else { return };
    w.init("r.git");
    let keys = w.dir.join("keys");
    keygen(&keys, "pusher");
    keygen(&keys, "reader");
    let access = w.dir.join("access.conf");
    std::fs::write(&access, "repo r.git\n    RW+ = pusher\n    R   = reader\n").unwrap();
    let mut lines = String::new();
    for user in ["pusher", "reader"] {
        let key = std::fs::read_to_string(keys.join(format!("{user}.pub"))).unwrap();
        lines.push_str(&format!(
            "command=\"env PATH={} SLUICE_BACKEND_CONFIG={} {} ssh --root {} --user {user} --access {}\",restrict {key}",
            std::env::var("PATH").unwrap_or_default(),
            w.cfg.display(),
            sluice(),
            w.root.display(),
            access.display()
        ));
    }
    let authorized_keys = keys.join("authorized_keys");
    std::fs::write(&authorized_keys, lines).unwrap();
    let sshd = Sshd::start(&w.dir, &authorized_keys, &keys);
    let url = sshd.url("r.git");

    let src = w.dir.join("src");
    git_ok(&w.dir, &["init", "-q", "-b", "main", src.to_str().unwrap()]);
    commit(&src, "one");
    let out = git_as(&sshd, "reader", &src, &["push", &url, "main"]);
    assert!(!out.status.success(), "a reader cannot push");
    assert!(
        stderr(&out).contains("repository 'r.git' not found or access denied"),
        "{}",
        stderr(&out)
    );
    assert_eq!(w.stored_refs("r.git"), "", "nothing moved");
    assert_success(
        &git_as(&sshd, "pusher", &src, &["push", &url, "main"]),
        "push",
    );
    let dst = w.dir.join("reader-clone");
    let out = git_as(
        &sshd,
        "reader",
        &w.dir,
        &["clone", "-q", "--mirror", &url, dst.to_str().unwrap()],
    );
    assert_success(&out, "the reader clones");
    fsck(&dst);
    assert_eq!(refs(&dst), w.stored_refs("r.git"));
}

fn install_hook(dir: &Path, name: &str, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The AGit flow (`receive.procReceiveRefs` and a `proc-receive` hook that accepts a topic by
/// writing `refs/changes/<n>/head` with `git update-ref`, refuses `bad` and lets `direct` fall
/// through) on a repository in the store, against C git's receive-pack on a twin bare
/// repository with the same hooks: the client sees the same lines and the refs end the same
/// (the hook's ref was moved in etcd, not only in the front end's view).
#[test]
fn agit_flow_on_the_store_matches_c_git() {
    use common::receive::{
        client_lines, push_via, without_url, Server, AGIT_PUSH, POST_RECEIVE, PROC_RECEIVE,
    };
    let Some(w) = world("agit") else { return };
    let hooks = w.dir.join("hooks");
    install_hook(&hooks, "proc-receive", PROC_RECEIVE);
    install_hook(&hooks, "post-receive", POST_RECEIVE);
    let mut text = std::fs::read_to_string(&w.cfg).unwrap();
    text.push_str(&format!("hooks-dir = {}\n", hooks.display()));
    std::fs::write(&w.cfg, text).unwrap();
    w.init("r.git");
    let out = std::process::Command::new(sluice())
        .args(["config", "--backend-config"])
        .arg(&w.cfg)
        .args(["r.git", "receive.procReceiveRefs", "refs/for"])
        .output()
        .unwrap();
    assert_success(&out, "sluice config");
    let twin = w.dir.join("twin.git");
    git_ok(
        &w.dir,
        &["init", "-q", "--bare", "-b", "main", twin.to_str().unwrap()],
    );
    git_ok(&twin, &["config", "receive.procReceiveRefs", "refs/for"]);
    git_ok(&twin, &["config", "receive.advertisePushOptions", "true"]);
    install_hook(&twin.join("hooks"), "proc-receive", PROC_RECEIVE);
    install_hook(&twin.join("hooks"), "post-receive", POST_RECEIVE);

    let work = w.dir.join("work");
    git_ok(
        &w.dir,
        &["init", "-q", "-b", "main", work.to_str().unwrap()],
    );
    commit(&work, "c1");
    commit(&work, "c2");
    let url = format!("ext::{} %S r.git", sluice());
    let store_push = |args: &[&str]| {
        let mut c = common::git_cmd(&work);
        c.args(["-c", "protocol.ext.allow=always", "push"]);
        let (opts, refspecs): (Vec<&str>, Vec<&str>) =
            args.iter().partition(|a| a.starts_with('-'));
        c.args(opts).arg(&url).args(refspecs);
        c.env("SLUICE_BACKEND_CONFIG", &w.cfg).output().unwrap()
    };
    let seed = ["HEAD~1:refs/heads/main"];
    assert_success(&store_push(&seed), "seed push to the store");
    assert_success(
        &push_via(Server::Git, &work, &twin, &seed),
        "seed push to git",
    );

    let args = AGIT_PUSH;
    let reference = push_via(Server::Git, &work, &twin, &args);
    let reference = (
        reference.status.success(),
        without_url(&client_lines(&reference, &twin)),
    );
    let out = store_push(&args);
    let got = (
        out.status.success(),
        without_url(&client_lines(&out, Path::new("r.git"))),
    );
    assert!(got.1.contains("refs/changes/1/head"), "{}", got.1);
    assert!(
        got.1.contains("topic rejected by review policy"),
        "{}",
        got.1
    );
    assert_eq!(got, reference, "client output: the store vs C git");
    assert_eq!(
        w.stored_refs("r.git"),
        refs(&twin),
        "refs: the store vs C git"
    );

    let dst = w.dir.join("mirror");
    let mut c = common::git_cmd(&w.dir);
    c.args([
        "-c",
        "protocol.ext.allow=always",
        "clone",
        "-q",
        "--mirror",
        &url,
    ])
    .arg(&dst)
    .env("SLUICE_BACKEND_CONFIG", &w.cfg);
    assert_success(&c.output().unwrap(), "mirror clone");
    fsck(&dst);
    assert_eq!(refs(&dst), refs(&twin));
}
