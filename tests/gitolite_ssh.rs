//! A gitolite site served by `sluice ssh --gitolite` through a real sshd: keys from keydir/
//! synced into authorized_keys by `sluice keys sync`, administration by pushing to
//! gitolite-admin (a user and a repository added), the new users' clones and pushes under the
//! new rules, a deny rule refusing a push, a wild repository created by its user, and a broken
//! admin push refused with nothing changed.

mod common;

use common::sshd::{have_sshd, keygen, Sshd};
use common::*;
use std::path::Path;
use std::process::Command;

struct Site {
    admin: std::path::PathBuf,
    root: std::path::PathBuf,
    authorized_keys: std::path::PathBuf,
    keys: std::path::PathBuf,
}

/// gitolite's layout after `gitolite setup -pk admin.pub`: an admin repository holding
/// conf/gitolite.conf and keydir/admin.pub, and its checked-out copy in the admin directory.
fn set_up(dir: &Path) -> Site {
    let keys = dir.join("clientkeys");
    keygen(&keys, "admin");
    let work = dir.join("admin-work");
    std::fs::create_dir_all(work.join("conf")).unwrap();
    std::fs::create_dir_all(work.join("keydir")).unwrap();
    std::fs::write(
        work.join("conf/gitolite.conf"),
        "repo gitolite-admin\n    RW+ = admin\n\nrepo testing\n    RW+ = @all\n",
    )
    .unwrap();
    std::fs::copy(keys.join("admin.pub"), work.join("keydir/admin.pub")).unwrap();
    git_ok(&work, &["init", "-q", "-b", "master"]);
    git_ok(&work, &["add", "."]);
    git_ok(&work, &["commit", "-q", "-m", "initial"]);
    let root = dir.join("repositories");
    std::fs::create_dir_all(&root).unwrap();
    git_ok(
        dir,
        &[
            "clone",
            "-q",
            "--bare",
            "admin-work",
            "repositories/gitolite-admin.git",
        ],
    );
    git_ok(dir, &["init", "-q", "--bare", "repositories/testing.git"]);
    let admin = dir.join("dot-gitolite");
    std::fs::create_dir_all(&admin).unwrap();
    for d in ["conf", "keydir"] {
        copy_dir(&work.join(d), &admin.join(d));
    }
    let authorized_keys = dir.join("authorized_keys");
    std::fs::write(&authorized_keys, "# a line sluice must keep\n").unwrap();
    let out = Command::new(sluice())
        .args(["keys", "sync", "--gitolite"])
        .arg(&admin)
        .arg("--root")
        .arg(&root)
        .arg("--authorized-keys")
        .arg(&authorized_keys)
        .output()
        .unwrap();
    assert_success(&out, "sluice keys sync");
    Site {
        admin,
        root,
        authorized_keys,
        keys,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn git_as(ssh: &Sshd, key: &str, dir: &Path, args: &[&str]) -> std::process::Output {
    git_cmd(dir)
        .env("GIT_SSH_COMMAND", ssh.command(key))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: std::process::Output, what: &str) -> String {
    assert_success(&out, what);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn gitolite_site_end_to_end() {
    if !have_sshd() {
        return;
    }
    let dir = scratch();
    let d = dir.path();
    let site = set_up(d);
    let ssh = Sshd::start(d, &site.authorized_keys, &site.keys);
    let ak = std::fs::read_to_string(&site.authorized_keys).unwrap();
    assert!(
        ak.starts_with("# a line sluice must keep\n# gitolite start\n"),
        "{ak}"
    );
    assert!(ak.contains("--user admin\",restrict ssh-ed25519"), "{ak}");

    let info = ssh.run("admin", "info");
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.contains(" R W\tgitolite-admin\n") && text.contains(" R W\ttesting\n"),
        "{text}"
    );

    // The admin adds alice and bob, a project with a deny rule, and wild repositories.
    ok(
        git_as(
            &ssh,
            "admin",
            d,
            &["clone", "-q", &ssh.url("gitolite-admin"), "ga"],
        ),
        "admin clone",
    );
    let ga = d.join("ga");
    keygen(&site.keys, "alice");
    keygen(&site.keys, "bob");
    for u in ["alice", "bob"] {
        std::fs::copy(
            site.keys.join(format!("{u}.pub")),
            ga.join(format!("keydir/{u}.pub")),
        )
        .unwrap();
    }
    let mut conf = std::fs::read_to_string(ga.join("conf/gitolite.conf")).unwrap();
    conf.push_str("\n@devs = alice bob\nrepo proj\n    RW+ = alice\n    - master = bob\n    RW = bob\n    config receive.denyDeletes = true\n    config hooks.mailinglist = \"dev@example.com\"\n\nrepo CREATOR/..*\n    C = @devs\n    RW+ = CREATOR\n    R = @devs\n");
    std::fs::write(ga.join("conf/gitolite.conf"), &conf).unwrap();
    git_ok(&ga, &["add", "."]);
    git_ok(&ga, &["commit", "-q", "-m", "add alice, bob, proj"]);
    ok(
        git_as(&ssh, "admin", &ga, &["push", "-q", "origin", "master"]),
        "admin push",
    );
    assert!(
        site.root.join("proj.git/HEAD").is_file(),
        "proj not created"
    );
    let ak = std::fs::read_to_string(&site.authorized_keys).unwrap();
    assert!(
        ak.contains("--user alice\"") && ak.contains("--user bob\""),
        "{ak}"
    );
    assert_eq!(
        std::fs::read_to_string(site.admin.join("conf/gitolite.conf")).unwrap(),
        conf
    );

    // alice pushes master; bob is denied master by the deny rule but may push a branch.
    ok(
        git_as(&ssh, "alice", d, &["clone", "-q", &ssh.url("proj"), "a"]),
        "alice clone",
    );
    let a = d.join("a");
    std::fs::write(a.join("f"), "one\n").unwrap();
    git_ok(&a, &["add", "f"]);
    git_ok(&a, &["commit", "-q", "-m", "one"]);
    ok(
        git_as(&ssh, "alice", &a, &["push", "-q", "origin", "HEAD:master"]),
        "alice push",
    );
    ok(
        git_as(&ssh, "bob", d, &["clone", "-q", &ssh.url("proj"), "b"]),
        "bob clone",
    );
    let b = d.join("b");
    std::fs::write(b.join("g"), "two\n").unwrap();
    git_ok(&b, &["add", "g"]);
    git_ok(&b, &["commit", "-q", "-m", "two"]);
    let denied = git_as(&ssh, "bob", &b, &["push", "origin", "HEAD:master"]);
    assert!(!denied.status.success());
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(err.contains("DENIED by refs/heads/master"), "{err}");
    ok(
        git_as(
            &ssh,
            "bob",
            &b,
            &["push", "-q", "origin", "HEAD:refs/heads/bob-work"],
        ),
        "bob branch",
    );
    // The conf's config lines are the repository's git config: denyDeletes binds even RW+.
    let proj = site.root.join("proj.git");
    assert_eq!(
        git_ok(&proj, &["config", "hooks.mailinglist"]),
        "dev@example.com\n"
    );
    let deleted = git_as(
        &ssh,
        "alice",
        &a,
        &["push", "origin", ":refs/heads/bob-work"],
    );
    assert!(!deleted.status.success(), "denyDeletes ignored");
    let refs = git_ok(
        &site.root.join("proj.git"),
        &["for-each-ref", "--format=%(refname)"],
    );
    assert_eq!(refs, "refs/heads/bob-work\nrefs/heads/master\n");
    fsck(&site.root.join("proj.git"));

    // Wild repositories: alice creates hers; bob may read it, not push.
    ok(ssh.run("alice", "create alice/tools"), "create");
    assert_eq!(
        std::fs::read_to_string(site.root.join("alice/tools.git/gl-creator")).unwrap(),
        "alice\n"
    );
    ok(
        git_as(
            &ssh,
            "alice",
            &a,
            &[
                "push",
                "-q",
                &ssh.url("alice/tools"),
                "HEAD:refs/heads/master",
            ],
        ),
        "alice wild push",
    );
    let refused = git_as(
        &ssh,
        "bob",
        &b,
        &["push", &ssh.url("alice/tools"), "HEAD:refs/heads/x"],
    );
    assert!(!refused.status.success());
    ok(
        git_as(
            &ssh,
            "bob",
            d,
            &["clone", "-q", &ssh.url("alice/tools"), "bt"],
        ),
        "bob reads wild",
    );
    let refused = ssh.run("bob", "create alice/other");
    assert!(!refused.status.success());
    let info = String::from_utf8_lossy(&ssh.run("bob", "info").stdout).into_owned();
    assert!(
        info.contains("     C\tCREATOR/..*\n") || info.contains(" R   C\tCREATOR/..*\n"),
        "{info}"
    );
    assert!(
        info.contains(" R  \talice/tools\n") || info.contains(" R\talice/tools\n"),
        "{info}"
    );

    // A broken admin push is refused with the parse error; nothing changes.
    let before_refs = git_ok(&site.root.join("gitolite-admin.git"), &["for-each-ref"]);
    let before_ak = std::fs::read_to_string(&site.authorized_keys).unwrap();
    std::fs::write(
        ga.join("conf/gitolite.conf"),
        format!("{conf}repo broken\n    RW+ = @nosuchgroup x/y\n"),
    )
    .unwrap();
    git_ok(&ga, &["commit", "-q", "-am", "broken"]);
    let refused = git_as(&ssh, "admin", &ga, &["push", "origin", "master"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("gitolite.conf:") && err.contains("bad username"),
        "{err}"
    );
    assert_eq!(
        git_ok(&site.root.join("gitolite-admin.git"), &["for-each-ref"]),
        before_refs
    );
    assert_eq!(
        std::fs::read_to_string(&site.authorized_keys).unwrap(),
        before_ak
    );
    assert_eq!(
        std::fs::read_to_string(site.admin.join("conf/gitolite.conf")).unwrap(),
        conf
    );
    assert!(!site.root.join("broken.git").exists());
    fsck(&site.root.join("gitolite-admin.git"));
}
