//! The distributed backend against a secured etcd: a member of its own that speaks only TLS,
//! demands a client certificate (`--client-cert-auth`) and has authentication enabled, with
//! certificates made by openssl in the test's directory. Packs still go to the radosgw of
//! `tests/common/engines.rs`. A push and a clone work with the right certificate, user and
//! password; a wrong password fails with one line that says so.
#![cfg(feature = "distributed")]

mod common;
#[path = "common/engines.rs"]
mod engines;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use common::{assert_success, commit_line as commit, fsck, git_cmd, git_ok, refs, scratch, sluice};

/// Runs `program args` in `dir`, which must succeed.
fn run(dir: &Path, program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert_success(&out, &format!("{program} {args:?}"));
    out
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`
/// (`ca.crt`, `server.{crt,key}`, `client.{crt,key}`), keys private. The client certificate
/// has no CommonName: with authentication enabled, etcd's JSON gateway refuses a request whose
/// certificate has one ("CommonName of client sending a request against gateway will be
/// ignored and not used as expected"); the user comes from the token.
fn make_certs(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=sluice-test-ca",
    ]);
    run(dir, "openssl", &ca);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, cn) in [("server", "/CN=etcd"), ("client", "/O=sluice")] {
        let (key, csr, crt, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr, "-subj", cn]);
        run(dir, "openssl", &req);
        run(
            dir,
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
    use std::os::unix::fs::PermissionsExt;
    for key in ["ca.key", "server.key", "client.key"] {
        std::fs::set_permissions(dir.join(key), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// One etcd member on 127.0.0.1 with TLS, client certificates and (once set up) auth; killed
/// by its PID on drop.
struct SecureEtcd {
    child: Child,
    url: String,
    certs: PathBuf,
}

impl Drop for SecureEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SecureEtcd {
    fn start(dir: &Path, certs: &Path) -> SecureEtcd {
        let (client, peer) = (common::free_port(), common::free_port());
        let url = format!("https://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let c = |f: &str| certs.join(f).display().to_string();
        let child = Command::new("etcd")
            .args(["--name", "s", "--data-dir"])
            .arg(dir.join("etcd-data"))
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("s={peer_url}")])
            .args([
                "--cert-file",
                &c("server.crt"),
                "--key-file",
                &c("server.key"),
            ])
            .args(["--trusted-ca-file", &c("ca.crt"), "--client-cert-auth"])
            .stdout(std::fs::File::create(dir.join("etcd.out")).unwrap())
            .stderr(std::fs::File::create(dir.join("etcd.err")).unwrap())
            .spawn()
            .unwrap();
        let etcd = SecureEtcd {
            child,
            url,
            certs: certs.to_path_buf(),
        };
        common::wait_until("the TLS etcd member", || {
            etcd.ctl(None, &["endpoint", "health"]).status.success()
        });
        etcd
    }

    /// `etcdctl` over TLS with the client certificate, as `user` (`name:password`) if given.
    fn ctl(&self, user: Option<&str>, args: &[&str]) -> Output {
        let c = |f: &str| self.certs.join(f).display().to_string();
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.url, "--cacert", &c("ca.crt")])
            .args(["--cert", &c("client.crt"), "--key", &c("client.key")]);
        if let Some(u) = user {
            cmd.args(["--user", u]);
        }
        cmd.args(args).output().unwrap()
    }

    fn ctl_ok(&self, user: Option<&str>, args: &[&str]) -> String {
        let out = self.ctl(user, args);
        assert_success(&out, &format!("etcdctl {args:?}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Users `root` and `sluice` (read-write on `prefix/` only), then `auth enable`.
    fn enable_auth(&self, prefix: &str, password: &str) {
        self.ctl_ok(None, &["user", "add", "root:rootpw", "--interactive=false"]);
        self.ctl_ok(
            None,
            &[
                "user",
                "add",
                &format!("sluice:{password}"),
                "--interactive=false",
            ],
        );
        self.ctl_ok(None, &["role", "add", "rw"]);
        let range = format!("{prefix}/");
        self.ctl_ok(
            None,
            &[
                "role",
                "grant-permission",
                "rw",
                "--prefix=true",
                "readwrite",
                &range,
            ],
        );
        self.ctl_ok(None, &["user", "grant-role", "sluice", "rw"]);
        self.ctl_ok(None, &["auth", "enable"]);
    }
}

/// A backend config for `etcd` with the client certificate, and S3 from the shared engines;
/// the credentials file carries the etcd user and `password`.
fn config(
    e: &engines::Engines,
    etcd: &SecureEtcd,
    dir: &Path,
    prefix: &str,
    password: &str,
) -> PathBuf {
    let at = dir.join(format!("{password}.conf"));
    e.config_file(&at, &dir.join("cache"), 0, prefix);
    let creds = at.with_extension("creds");
    let mut text = std::fs::read_to_string(&creds).unwrap();
    text.push_str(&format!("etcd-user = sluice\netcd-password = {password}\n"));
    std::fs::write(&creds, text).unwrap();
    let c = |f: &str| etcd.certs.join(f).display().to_string();
    let conf = std::fs::read_to_string(&at).unwrap();
    let mut conf: String = conf
        .lines()
        .filter(|l| !l.starts_with("etcd-endpoints"))
        .map(|l| format!("{l}\n"))
        .collect();
    conf.push_str(&format!(
        "etcd-endpoints = {}\netcd-ca-file = {}\netcd-cert-file = {}\netcd-key-file = {}\n",
        etcd.url,
        c("ca.crt"),
        c("client.crt"),
        c("client.key")
    ));
    std::fs::write(&at, conf).unwrap();
    at
}

fn git_store(dir: &Path, cfg: &Path, args: &[&str]) -> Output {
    git_cmd(dir)
        .args(["-c", "protocol.ext.allow=always"])
        .args(args)
        .env("SLUICE_BACKEND_CONFIG", cfg)
        .output()
        .unwrap()
}

#[test]
fn push_and_clone_through_tls_etcd_with_auth_and_a_wrong_password_says_so() {
    let Some(e) = engines::engines() else { return };
    let tmp = scratch();
    let dir = tmp.path();
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    make_certs(&certs);
    let etcd = SecureEtcd::start(dir, &certs);
    let prefix = format!("sec-{}", std::process::id());
    etcd.enable_auth(&prefix, "s3cret");
    let good = config(e, &etcd, dir, &prefix, "s3cret");
    let bad = config(e, &etcd, dir, &prefix, "wrong");

    let out = Command::new(sluice())
        .args(["init", "--backend-config"])
        .arg(&good)
        .arg("r.git")
        .output()
        .unwrap();
    assert_success(&out, "init through TLS etcd with auth");
    let src = dir.join("src");
    git_ok(dir, &["init", "-q", "-b", "main", src.to_str().unwrap()]);
    commit(&src, "one");
    commit(&src, "two");
    let url = format!("ext::{} %S r.git", sluice());
    assert_success(&git_store(&src, &good, &["push", &url, "main"]), "push");
    let dst = dir.join("clone");
    let out = git_store(
        dir,
        &good,
        &["clone", "-q", "--mirror", &url, dst.to_str().unwrap()],
    );
    assert_success(&out, "clone");
    fsck(&dst);
    let head = git_ok(&src, &["rev-parse", "HEAD"]);
    assert_eq!(refs(&dst), format!("{} refs/heads/main\n", head.trim()));
    // The stored ref, read by etcd's root user.
    let stored = etcd.ctl_ok(
        Some("root:rootpw"),
        &[
            "get",
            "--print-value-only",
            &format!("{prefix}/r.git/refs/heads/main"),
        ],
    );
    assert_eq!(stored.trim(), head.trim());

    // A wrong password: the request fails with one line naming the cause, and nothing else
    // from sluice.
    let out = git_store(dir, &bad, &["ls-remote", &url]);
    assert!(!out.status.success(), "a wrong password is refused");
    let err = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = err.lines().filter(|l| l.contains("etcd")).collect();
    assert_eq!(ours.len(), 1, "one line about etcd: {err}");
    assert!(
        ours[0].contains("etcd authentication as user \"sluice\" failed")
            && ours[0].contains("authentication failed, invalid user ID or password"),
        "{err}"
    );
    let out = Command::new(sluice())
        .args(["init", "--backend-config"])
        .arg(&bad)
        .arg("other.git")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("invalid user ID or password"), "{err}");
}
