//! Launch modes through the real components that launch them: OpenSSH's sshd (authorized_keys
//! `command=`), xinetd (git://), and the shell mode as a login shell would run it.
//! sshd and xinetd must be installed (CI installs them); set SLUICE_SKIP_SYSTEM_TESTS=1 to skip
//! these tests on a machine without them.

mod common;

use common::sshd::{have_sshd, keygen, whoami, Sshd};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn have(tool: &str) -> bool {
    if Path::new(tool).exists() {
        return true;
    }
    assert!(
        std::env::var("SLUICE_SKIP_SYSTEM_TESTS").is_ok(),
        "{tool} is not installed (install openssh-server and xinetd, or set SLUICE_SKIP_SYSTEM_TESTS=1)"
    );
    false
}

/// A child process killed on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server root with a bare copy of the `branches` fixture as `proj.git` and an empty `empty.git`.
fn server_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    copy_repo(&fixture("branches"), &root.join("proj.git"));
    git_ok(&root, &["init", "-q", "--bare", "empty.git"]);
    root
}

/// Starts sshd with keys for alice (RW, RW+ only on sandbox branches) and bob (read-only).
fn start_sshd(dir: &Path, root: &Path) -> Option<Sshd> {
    if !have_sshd() {
        return None;
    }
    let keys = dir.join("keys");
    for k in ["alice", "bob"] {
        keygen(&keys, k);
    }
    let access = dir.join("access.conf");
    std::fs::write(
        &access,
        "repo proj empty shallow rt s256 s256rt unknown v2\n    R = bob alice\n    RW = alice\n    RW+ refs/heads/sandbox/* = alice\n",
    )
    .unwrap();
    let log = dir.join("sluice.log");
    let mut auth = String::new();
    for user in ["alice", "bob"] {
        let key = std::fs::read_to_string(keys.join(format!("{user}.pub"))).unwrap();
        auth.push_str(&format!(
            "command=\"{} --log-file {} ssh --root {} --user {user} --access {}\",restrict {}",
            sluice(),
            log.display(),
            root.display(),
            access.display(),
            key
        ));
    }
    let authorized_keys = keys.join("authorized_keys");
    std::fs::write(&authorized_keys, auth).unwrap();
    Some(Sshd::start(dir, &authorized_keys, &keys))
}

#[test]
fn ssh_clone_push_and_access_control() {
    let dir = scratch();
    let root = server_root(dir.path());
    let Some(ssh) = start_sshd(dir.path(), &root) else {
        return;
    };
    // Clone over ssh as bob (read-only), v0 and v2.
    for v in ["0", "2"] {
        let dst = dir.path().join(format!("bob-v{v}"));
        let out = git_cmd(dir.path())
            .env("GIT_SSH_COMMAND", ssh.command("bob"))
            .args([
                "-c",
                &format!("protocol.version={v}"),
                "clone",
                "-q",
                "--mirror",
                &ssh.url("proj.git"),
                dst.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(refs(&dst), refs(&root.join("proj.git")));
        fsck(&dst);
    }
    // The same path spelled '/proj', '~/proj.git' and 'proj'.
    for path in ["/proj", "~/proj.git", "proj"] {
        let out = git_cmd(dir.path())
            .env("GIT_SSH_COMMAND", ssh.command("bob"))
            .args(["ls-remote", &ssh.url(path)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Bob may not push; alice may fast-forward main but not force it; sandbox branches are hers.
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            root.join("proj.git").to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    std::fs::write(work.join("n.txt"), "n\n").unwrap();
    git_ok(&work, &["add", "."]);
    git_ok(&work, &["commit", "-q", "-m", "n"]);
    let push = |key: &str, args: &[&str]| {
        let mut c = git_cmd(&work);
        c.env("GIT_SSH_COMMAND", ssh.command(key))
            .arg("push")
            .arg("--porcelain");
        c.args(args);
        c.output().unwrap()
    };
    let url = ssh.url("proj.git");
    let out = push("bob", &[&url, "main"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("access denied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = push("alice", &[&url, "main"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    git_ok(&work, &["reset", "-q", "--hard", "HEAD~1"]);
    git_ok(&work, &["commit", "-q", "--allow-empty", "-m", "rewrite"]);
    let out = push("alice", &["--force", &url, "main"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("access denied"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = push("alice", &["--force", &url, "main:refs/heads/sandbox/x"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = push("alice", &["--force", &url, "HEAD~1:refs/heads/sandbox/x"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fsck(&root.join("proj.git"));
    // The log has one line per request, with user and outcome.
    let log = std::fs::read_to_string(dir.path().join("sluice.log")).unwrap();
    assert!(
        log.contains("request finished") && log.contains("user=\"alice\"")
            || log.contains("user=alice"),
        "{log}"
    );
}

#[test]
fn ssh_refuses_anything_but_git_commands() {
    let dir = scratch();
    let root = server_root(dir.path());
    std::os::unix::fs::symlink(dir.path(), root.join("escape.git")).unwrap();
    let Some(ssh) = start_sshd(dir.path(), &root) else {
        return;
    };
    // No command: a friendly message, nonzero exit.
    let out = ssh.run("alice", "");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Hi alice!"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // info lists what the user may read, with marks.
    let out = ssh.run("bob", "info");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(" R   \tproj.git") && text.contains(" R   \tempty.git"),
        "{text}"
    );
    let text = String::from_utf8_lossy(&ssh.run("alice", "info").stdout).into_owned();
    assert!(text.contains(" R W+\tproj.git"), "{text}");
    for bad in [
        "'rm -rf /'",
        "\"git-upload-pack 'proj.git'; id\"",
        "\"git-upload-pack \\`id\\`\"",
        "\"git-upload-pack '../root/proj.git'\"",
        "\"git-upload-pack 'escape.git'\"",
        "\"git-upload-pack 'missing.git'\"",
    ] {
        let out = ssh.run("alice", bad);
        assert!(!out.status.success(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{bad}: {err}");
        assert!(err.starts_with("fatal: "), "{bad}: {err}");
        assert!(out.stdout.is_empty(), "{bad}");
    }
}

#[test]
fn inetd_serves_git_protocol_through_xinetd() {
    if !have("/usr/sbin/xinetd") {
        return;
    }
    let dir = scratch();
    let root = server_root(dir.path());
    std::fs::write(root.join("proj.git/git-daemon-export-ok"), "").unwrap();
    let (port_ro, port_rw) = (free_port(), free_port());
    let log = dir.path().join("sluice.log");
    let service = |name: &str, port: u16, args: &str| {
        format!(
            "service {name}\n{{\n type = UNLISTED\n port = {port}\n socket_type = stream\n protocol = tcp\n wait = no\n user = {}\n server = {}\n server_args = --log-file {} inetd --base-path {} {args}\n bind = 127.0.0.1\n flags = IPv4\n}}\n",
            whoami(),
            sluice(),
            log.display(),
            root.display()
        )
    };
    let conf = dir.path().join("xinetd.conf");
    std::fs::write(
        &conf,
        format!(
            "{}{}",
            service("sluice-ro", port_ro, ""),
            service("sluice-rw", port_rw, "--enable receive-pack --export-all")
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/xinetd")
        .args(["-dontfork", "-f"])
        .arg(&conf)
        .arg("-pidfile")
        .arg(dir.path().join("xinetd.pid"))
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _daemon = Daemon(child);
    wait_for_port(port_ro);
    wait_for_port(port_rw);
    for v in ["0", "1", "2"] {
        let dst = dir.path().join(format!("c{v}"));
        let url = format!("git://127.0.0.1:{port_ro}/proj.git");
        let out = git(
            dir.path(),
            &[
                "-c",
                &format!("protocol.version={v}"),
                "clone",
                "-q",
                "--mirror",
                &url,
                dst.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "v{v}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(refs(&dst), refs(&root.join("proj.git")));
        fsck(&dst);
    }
    // Not exported: refused with git daemon's message.
    let out = git(
        dir.path(),
        &["ls-remote", &format!("git://127.0.0.1:{port_ro}/empty.git")],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("access denied or repository not exported: /empty.git"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Push: refused where not enabled, accepted where enabled.
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            root.join("proj.git").to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    git_ok(
        &work,
        &["commit", "-q", "--allow-empty", "-m", "via git://"],
    );
    let out = git(
        &work,
        &[
            "push",
            &format!("git://127.0.0.1:{port_ro}/proj.git"),
            "main",
        ],
    );
    assert!(!out.status.success());
    let out = git(
        &work,
        &[
            "push",
            &format!("git://127.0.0.1:{port_rw}/empty.git"),
            "main",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        git_ok(&root.join("empty.git"), &["rev-parse", "main"]),
        git_ok(&work, &["rev-parse", "main"])
    );
    fsck(&root.join("empty.git"));
}

#[test]
fn inetd_via_ext_without_host() {
    // git's ext:: with %G sends the request line without host=; stdin/stdout only.
    let dir = scratch();
    let root = server_root(dir.path());
    let url = format!(
        "ext::{} inetd --base-path {} --export-all %G/proj.git",
        sluice(),
        root.display()
    );
    let dst = dir.path().join("c");
    let out = git(
        dir.path(),
        &[
            "-c",
            "protocol.ext.allow=always",
            "clone",
            "-q",
            "--mirror",
            &url,
            dst.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(refs(&dst), refs(&root.join("proj.git")));
}

#[test]
fn shell_mode_like_git_shell() {
    let dir = scratch();
    let root = server_root(dir.path());
    // As sshd runs a login shell: `<shell> -c '<command>'`, cwd = home.
    let out = Command::new(sluice())
        .args(["shell", "-c", "git-upload-pack 'proj.git'"])
        .current_dir(&root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // stdin closed right after the advertisement: a clean exit like ls-remote.
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("refs/heads/main"));
    let out = Command::new(sluice())
        .args(["shell", "-c", "sh -i"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(!out.status.success());
    // As a git remote helper would reach it (`--upload-pack` through a shell-like wrapper).
    let link = dir.path().join("sluice-shell");
    std::os::unix::fs::symlink(sluice(), &link).unwrap();
    let url = format!("ext::{} -c %S% 'proj.git'", link.display());
    let dst = dir.path().join("c");
    let out = git_cmd(&root)
        .args([
            "-c",
            "protocol.ext.allow=always",
            "clone",
            "-q",
            "--mirror",
            &url,
            dst.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(refs(&dst), refs(&root.join("proj.git")));
}

#[test]
fn init_creates_repositories_git_accepts() {
    let dir = scratch();
    let bare = dir.path().join("new.git");
    let out = Command::new(sluice())
        .args(["init", "--bare"])
        .arg(&bare)
        .output()
        .unwrap();
    assert!(out.status.success());
    fsck(&bare);
    let work = dir.path().join("w");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            fixture("branches").to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    let out = git_cmd(&work)
        .arg("push")
        .arg(format!("--receive-pack={} receive-pack", sluice()))
        .arg(bare.to_str().unwrap())
        .arg("main")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fsck(&bare);
}

#[test]
fn access_hook_refuses_with_its_message() {
    if against_git() {
        return;
    }
    let dir = scratch();
    let root = server_root(dir.path());
    copy_repo(&fixture("branches"), &root.join("secret.git"));
    let log = dir.path().join("hook.log");
    let hook = dir.path().join("hook");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$1 $(basename $2) mode=$SLUICE_MODE user=$SLUICE_USER\" >> {}\ncase \"$2\" in *secret*) echo \"secret.git is closed today\"; exit 1;; esac\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let clone_via = |url: &str, dst: &str, cwd: &Path, env: &[(&str, &str)]| {
        git_cmd(cwd)
            .envs(env.iter().copied())
            .args([
                "-c",
                "protocol.ext.allow=always",
                "clone",
                "-q",
                "--mirror",
                url,
            ])
            .arg(dir.path().join(dst))
            .output()
            .unwrap()
    };
    // git:// (inetd mode, ext:: %G): allowed and refused.
    for (repo, ok) in [("proj", true), ("secret", false)] {
        let url = format!(
            "ext::{} inetd --base-path {} --export-all --access-hook {} %G/{repo}.git",
            sluice(),
            root.display(),
            hook.display()
        );
        let out = clone_via(&url, &format!("inetd-{repo}"), dir.path(), &[]);
        assert_eq!(
            out.status.success(),
            ok,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if !ok {
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("secret.git is closed today"),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // The login-shell mode, with the hook from SLUICE_ACCESS_HOOK and the user from USER.
    let link = dir.path().join("sluice-shell");
    std::os::unix::fs::symlink(sluice(), &link).unwrap();
    let hook_env = hook.to_str().unwrap();
    for (repo, ok) in [("proj", true), ("secret", false)] {
        let url = format!("ext::{} -c %S% '{repo}.git'", link.display());
        let out = clone_via(
            &url,
            &format!("shell-{repo}"),
            &root,
            &[("SLUICE_ACCESS_HOOK", hook_env), ("USER", "carol")],
        );
        assert_eq!(
            out.status.success(),
            ok,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if !ok {
            assert!(String::from_utf8_lossy(&out.stderr).contains("secret.git is closed today"));
        }
    }
    assert!(!dir.path().join("shell-secret").join("HEAD").exists());
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "upload-pack proj.git mode=inetd user=\n\
         upload-pack secret.git mode=inetd user=\n\
         upload-pack proj.git mode=shell user=carol\n\
         upload-pack secret.git mode=shell user=carol\n"
    );
}

/// A shallow mirror, a reftable, a SHA-256 and a SHA-256 reftable repository under `root`:
/// served alike in every launch mode; and two repositories C git refuses (an unknown
/// extension, `repositoryformatversion` 2): refused alike in every launch mode.
/// See: #14
fn format_repos(root: &Path) {
    let url = format!("file://{}", root.join("proj.git").display());
    let shallow = root.join("shallow.git");
    git_ok(
        root,
        &[
            "clone",
            "-q",
            "--bare",
            "--no-local",
            "--depth",
            "1",
            &url,
            shallow.to_str().unwrap(),
        ],
    );
    std::fs::write(shallow.join("git-daemon-export-ok"), "").unwrap();
    let rt = root.join("rt.git");
    git_ok(
        root,
        &[
            "init",
            "-q",
            "--bare",
            "--ref-format=reftable",
            rt.to_str().unwrap(),
        ],
    );
    git_ok(
        root,
        &[
            "--git-dir",
            rt.to_str().unwrap(),
            "fetch",
            "-q",
            &url,
            "refs/heads/*:refs/heads/*",
        ],
    );
    std::fs::write(rt.join("git-daemon-export-ok"), "").unwrap();
    // SHA-256: C git converts nothing, so the history is made anew in a sha256 work tree.
    let work = root.join("s256.work");
    let s256 = root.join("s256.git");
    let s256rt = root.join("s256rt.git");
    for (p, bare, reftable) in [
        (&work, false, false),
        (&s256, true, false),
        (&s256rt, true, true),
    ] {
        let mut args = vec!["init", "-q", "-b", "main", "--object-format=sha256"];
        if bare {
            args.push("--bare");
        }
        if reftable {
            args.push("--ref-format=reftable");
        }
        args.push(p.to_str().unwrap());
        git_ok(root, &args);
    }
    for i in 0..3 {
        std::fs::write(work.join("f"), format!("{i}\n")).unwrap();
        git_ok(&work, &["add", "f"]);
        git_ok(&work, &["commit", "-q", "-m", &format!("c{i}")]);
    }
    git_ok(&work, &["tag", "-a", "-m", "t", "v1"]);
    for r in [&s256, &s256rt] {
        git_ok(&work, &["push", "-q", r.to_str().unwrap(), "main", "v1"]);
        std::fs::write(r.join("git-daemon-export-ok"), "").unwrap();
    }
    // Formats C git refuses: an unknown extension, a future repository format version.
    for (name, settings) in [
        (
            "unknown.git",
            &[
                ("core.repositoryformatversion", "1"),
                ("extensions.frobnicate", "true"),
            ][..],
        ),
        ("v2.git", &[("core.repositoryformatversion", "2")][..]),
    ] {
        let r = root.join(name);
        copy_repo(&root.join("proj.git"), &r);
        std::fs::write(r.join("git-daemon-export-ok"), "").unwrap();
        for (k, v) in settings {
            git_ok(&r, &["config", k, v]);
        }
    }
}

/// Clones `url` (with `env`) and checks: the shallow mirror comes out shallow where it is, the
/// reftable and SHA-256 repositories' refs come out as they are, the refused formats are
/// refused with their reason.
fn check_formats(
    dir: &Path,
    root: &Path,
    url_of: &dyn Fn(&str) -> String,
    env: &[(&str, String)],
    tag: &str,
) {
    for v in ["0", "2"] {
        let dst = dir.join(format!("{tag}-shallow-{v}"));
        let mut c = git_cmd(dir);
        c.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let out = c
            .args([
                "-c",
                &format!("protocol.version={v}"),
                "-c",
                "protocol.ext.allow=always",
                "clone",
                "-q",
            ])
            .arg(url_of("shallow.git"))
            .arg(&dst)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tag} v{v}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(dst.join(".git/shallow")).unwrap(),
            std::fs::read_to_string(root.join("shallow.git/shallow")).unwrap(),
            "{tag} v{v}"
        );
        fsck(&dst);
        // The reftable and SHA-256 repositories come out as they are.
        let mirror = |name: &str, what: &str| {
            let dst = dir.join(format!("{tag}-{name}-{v}"));
            let mut c = git_cmd(dir);
            c.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
            let cfg = format!("protocol.version={v}");
            let args = ["-c", &cfg, "-c", "protocol.ext.allow=always", "clone", "-q"];
            let out = c
                .args(args)
                .arg("--mirror")
                .arg(url_of(name))
                .arg(&dst)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{tag} v{v}: {what}: {err}");
            fsck(&dst);
            dst
        };
        let dst = mirror("rt.git", "reftable");
        let branches = |r: &Path| git_ok(r, &["for-each-ref", "refs/heads/"]);
        assert_eq!(branches(&dst), branches(&root.join("rt.git")), "{tag} v{v}");
        assert!(!branches(&dst).is_empty());
        for name in ["s256.git", "s256rt.git"] {
            let dst = mirror(name, "sha256");
            assert_eq!(refs(&dst), refs(&root.join(name)), "{tag} v{v} {name}");
            assert_eq!(
                git_ok(&dst, &["rev-parse", "--show-object-format"]),
                "sha256\n"
            );
        }
        // The formats C git refuses are refused, with the reason, and nothing is cloned.
        for (name, why) in [
            (
                "unknown.git",
                "unknown repository extension found: frobnicate",
            ),
            ("v2.git", "expected git repo version <= 1, found 2"),
        ] {
            let dst = dir.join(format!("{tag}-{name}-{v}"));
            let mut c = git_cmd(dir);
            c.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
            let cfg = format!("protocol.version={v}");
            let args = ["-c", &cfg, "-c", "protocol.ext.allow=always", "clone", "-q"];
            let out = c.args(args).arg(url_of(name)).arg(&dst).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{tag} v{v} {name}: {err}");
            assert!(err.contains(why), "{tag} v{v} {name}: {err}");
            assert!(!dst.exists(), "{tag} v{v} {name}");
        }
    }
}

#[test]
fn formats_through_ssh_and_inetd() {
    let dir = scratch();
    let root = server_root(dir.path());
    format_repos(&root);
    let inetd = |name: &str| {
        format!(
            "ext::{} inetd --base-path {} %G/{name}",
            sluice(),
            root.display()
        )
    };
    check_formats(dir.path(), &root, &inetd, &[], "inetd");
    let Some(ssh) = start_sshd(dir.path(), &root) else {
        return;
    };
    let env = [("GIT_SSH_COMMAND", ssh.command("bob"))];
    check_formats(dir.path(), &root, &|name| ssh.url(name), &env, "ssh");
}
