//! Signed pushes (`git push --signed`) with `receive.certNonceSeed`: the `push-cert` capability,
//! the certificate stored as a blob and the `GIT_PUSH_CERT*` variables hooks see, verified with
//! gpg. A throw-away key lives in a temporary GNUPGHOME. Every case runs against Sluice and C
//! git's `git-receive-pack` on twin repositories in the same run and compares what the hooks
//! and the client saw.
// See: #16

mod common;

use common::receive::{client_lines, Server, SERVERS};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Prints what a hook learns about the certificate (values that differ per run, the nonce and
/// the blob id, only as "set"), and checks the stored blob carries the nonce it was given.
const HOOK: &str = r#"#!/bin/sh
echo "NAME: cert=${GIT_PUSH_CERT:+set} signer=$GIT_PUSH_CERT_SIGNER key=$GIT_PUSH_CERT_KEY status=$GIT_PUSH_CERT_STATUS nonce=${GIT_PUSH_CERT_NONCE:+set} nonce_status=$GIT_PUSH_CERT_NONCE_STATUS slop=$GIT_PUSH_CERT_NONCE_SLOP" >&2
if test -n "$GIT_PUSH_CERT"; then
    echo "NAME: $(git cat-file -t "$GIT_PUSH_CERT") $(git cat-file blob "$GIT_PUSH_CERT" | grep -c "^nonce $GIT_PUSH_CERT_NONCE\$") $(git cat-file blob "$GIT_PUSH_CERT" | head -1)" >&2
fi
"#;

struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    /// A fresh keyring with an ed25519 signing key for the committer identity of `git_cmd`.
    fn new() -> Gpg {
        // Short path: gpg-agent's socket lives under it.
        let home = tempfile::Builder::new()
            .prefix("sg")
            .tempdir_in("/tmp")
            .unwrap();
        let out = std::process::Command::new("gpg")
            .env("GNUPGHOME", home.path())
            .args([
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--quick-gen-key",
                "C O Mitter <committer@example.com>",
                "ed25519",
                "sign",
                "never",
            ])
            .output()
            .expect("gpg is needed for signed-push tests (Debian package gpg)");
        assert_success(&out, "gpg --quick-gen-key");
        Gpg { home }
    }

    fn key_id(&self) -> String {
        let out = std::process::Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--with-colons", "--list-keys"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find(|l| l.starts_with("pub:"))
            .and_then(|l| l.split(':').nth(4))
            .unwrap()
            .to_string()
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = std::process::Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Twin bare servers with the hooks (and `receive.certNonceSeed` when `seed`), and a clone with
/// a commit to push.
fn setup(seed: bool) -> (tempfile::TempDir, PathBuf, Vec<(Server, PathBuf)>) {
    let dir = scratch();
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &["init", "-q", "-b", "main", work.to_str().unwrap()],
    );
    std::fs::write(work.join("f"), "1\n").unwrap();
    git_ok(&work, &["add", "f"]);
    git_ok(&work, &["commit", "-q", "-m", "c1"]);
    let mut servers = Vec::new();
    for s in SERVERS {
        let repo = dir.path().join(format!("{}.git", s.name()));
        git_ok(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", repo.to_str().unwrap()],
        );
        if seed {
            git_ok(&repo, &["config", "receive.certNonceSeed", "sekrit"]);
        }
        for name in ["pre-receive", "post-receive"] {
            use std::os::unix::fs::PermissionsExt;
            let path = repo.join("hooks").join(name);
            std::fs::write(&path, HOOK.replace("NAME", name)).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        servers.push((s, repo));
    }
    (dir, work, servers)
}

fn push(gpg: &Gpg, server: Server, work: &Path, dst: &Path, signed: &str) -> Output {
    git_cmd(work)
        .env("GNUPGHOME", gpg.home.path())
        .args(["push", &server.receive_pack_flag(), signed])
        .arg(format!("file://{}", dst.display()))
        .arg("main")
        .output()
        .unwrap()
}

fn push_all(
    gpg: &Gpg,
    work: &Path,
    servers: &[(Server, PathBuf)],
    signed: &str,
) -> Vec<(bool, String)> {
    servers
        .iter()
        .map(|(s, repo)| {
            let out = push(gpg, *s, work, repo, signed);
            (out.status.success(), client_lines(&out, repo))
        })
        .collect()
}

#[test]
fn signed_push_hands_hooks_a_verified_certificate() {
    let gpg = Gpg::new();
    let key = gpg.key_id();
    for signed in ["--signed", "--signed=if-asked"] {
        let (_dir, work, servers) = setup(true);
        let results = push_all(&gpg, &work, &servers, signed);
        let (ok, text) = &results[0];
        assert!(ok, "{signed}: {text}");
        let want = format!(
            "remote: pre-receive: cert=set signer=C O Mitter <committer@example.com> key={key} status=G nonce=set nonce_status=OK slop="
        );
        assert!(text.contains(&want), "{signed}: {want}\n{text}");
        assert!(
            text.contains("remote: post-receive: blob 1 certificate version 0.1"),
            "{text}"
        );
        assert_eq!(results[0], results[1], "{signed}: sluice vs git");
        for (_, repo) in &servers {
            fsck(repo);
            assert_eq!(refs(repo), refs(&servers[1].1));
        }
    }
}

#[test]
fn unsigned_pushes_without_a_seed_match_c_git() {
    let gpg = Gpg::new();
    let (_dir, work, servers) = setup(false);
    // --signed=if-asked: the server does not ask, the push goes unsigned.
    let results = push_all(&gpg, &work, &servers, "--signed=if-asked");
    assert!(results[0].0, "{}", results[0].1);
    assert!(
        results[0].1.contains("cert= signer= key= status="),
        "{}",
        results[0].1
    );
    assert_eq!(results[0], results[1], "sluice vs git");
    // --signed: the client refuses, as the server cannot take a certificate.
    std::fs::write(work.join("f"), "2\n").unwrap();
    git_ok(&work, &["commit", "-q", "-am", "c2"]);
    let results = push_all(&gpg, &work, &servers, "--signed");
    assert!(!results[0].0);
    assert!(
        results[0].1.contains("does not support --signed push"),
        "{}",
        results[0].1
    );
    assert_eq!(results[0], results[1], "sluice vs git");
}

/// `text` without the hooks' `slop=` values: over stateless HTTP the nonce is minted by one
/// request and checked by the next, a second apart or not.
fn without_slop(text: &str) -> String {
    text.lines()
        .map(|l| match l.find(" slop=") {
            Some(i) => format!("{}\n", &l[..i]),
            None => format!("{l}\n"),
        })
        .collect()
}

/// The same signed push over ssh (sshd + `sluice ssh`), git:// (xinetd + `sluice inetd`) and
/// smart HTTP (stateless, so the nonce comes back within `receive.certNonceSlop`): the hooks
/// see what they see over file:// with C git's receive-pack.
#[test]
fn signed_push_over_ssh_inetd_and_http() {
    use common::remotes::{have_servers, name, Remotes, REMOTES};
    if !have_servers() {
        return;
    }
    let gpg = Gpg::new();
    let (dir, work, servers) = setup(true);
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    for remote in REMOTES {
        copy_repo(&servers[0].1, &root.join(format!("{}.git", name(remote))));
    }
    for (_, repo) in &servers {
        git_ok(repo, &["config", "receive.certNonceSlop", "60"]);
    }
    let reference = push(&gpg, Server::Git, &work, &servers[1].1, "--signed");
    assert_success(&reference, "C git over file://");
    let reference = without_slop(&client_lines(&reference, &servers[1].1));
    assert!(
        reference.contains("status=G nonce=set nonce_status=OK"),
        "{reference}"
    );
    let gnupghome = gpg.home.path().display().to_string();
    let remotes = Remotes::start(dir.path(), &root, &[("GNUPGHOME", &gnupghome)]);
    for remote in REMOTES {
        let repo = root.join(format!("{}.git", name(remote)));
        git_ok(&repo, &["config", "receive.certNonceSlop", "60"]);
        let out = remotes
            .git(&work)
            .env("GNUPGHOME", gpg.home.path())
            .args(["push", "--signed"])
            .arg(remotes.url(remote, &format!("{}.git", name(remote))))
            .arg("main")
            .output()
            .unwrap();
        assert_success(&out, name(remote));
        let text = without_slop(&client_lines(&out, &repo));
        assert_eq!(
            text,
            reference,
            "{}: same hooks' view as C git",
            name(remote)
        );
        assert_eq!(refs(&repo), refs(&servers[1].1), "{}", name(remote));
        fsck(&repo);
    }
}
