//! One directory of repositories served by Sluice over every network transport at once: ssh
//! (a real sshd, authorized_keys `command="sluice ssh --root …"`), git:// (a real xinetd running
//! `sluice inetd --enable receive-pack --export-all`) and smart HTTP ([`super::http`]), so a
//! push feature tested over file:// can be run unchanged over each.
//!
//! sshd and xinetd start their programs with a clean environment: `env` (e.g. `GNUPGHOME` for
//! verifying signed pushes) and the test's `PATH` (hooks run `git` and `python3`) are handed to
//! every server process explicitly.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::sshd::{have_sshd, keygen, whoami, Sshd};
use super::{free_port, git_cmd, sluice, wait_for_port};

/// A network transport to a [`Remotes`] root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remote {
    /// `ssh://`-style scp URL through sshd and `sluice ssh`.
    Ssh,
    /// `git://` through xinetd and `sluice inetd`.
    Inetd,
    /// `http://` through the test's smart-HTTP front end.
    Http,
}

/// Every transport.
pub const REMOTES: [Remote; 3] = [Remote::Ssh, Remote::Inetd, Remote::Http];

/// The running servers; killed on drop.
pub struct Remotes {
    ssh: Sshd,
    xinetd: Child,
    inetd_port: u16,
    http: String,
}

impl Drop for Remotes {
    fn drop(&mut self) {
        let _ = self.xinetd.kill();
        let _ = self.xinetd.wait();
    }
}

/// Whether sshd and xinetd are installed; without them a test fails unless
/// SLUICE_SKIP_SYSTEM_TESTS is set.
pub fn have_servers() -> bool {
    if !have_sshd() {
        return false;
    }
    if Path::new("/usr/sbin/xinetd").exists() {
        return true;
    }
    assert!(
        std::env::var("SLUICE_SKIP_SYSTEM_TESTS").is_ok(),
        "/usr/sbin/xinetd is not installed (or set SLUICE_SKIP_SYSTEM_TESTS=1)"
    );
    false
}

/// `env` plus the test's PATH, as `K=V` words.
fn env_words(env: &[(&str, &str)]) -> Vec<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    std::iter::once(format!("PATH={path}"))
        .chain(env.iter().map(|(k, v)| format!("{k}={v}")))
        .collect()
}

impl Remotes {
    /// Serves the repositories under `root` over ssh, git:// and HTTP, with `env` in every
    /// server process; `dir` holds the servers' files.
    pub fn start(dir: &Path, root: &Path, env: &[(&str, &str)]) -> Remotes {
        Self::start_with(dir, root, env, false)
    }

    /// [`Remotes::start`] with HTTP through `sluice http-backend` as a CGI (the test server
    /// running it per request, as a web server would) rather than `sluice upload-pack DIR`:
    /// every transport then goes through a launch mode that maps the path itself.
    pub fn start_cgi(dir: &Path, root: &Path, env: &[(&str, &str)]) -> Remotes {
        Self::start_with(dir, root, env, true)
    }

    fn start_with(dir: &Path, root: &Path, env: &[(&str, &str)], cgi: bool) -> Remotes {
        let words = env_words(env);
        let keys = dir.join("keys");
        keygen(&keys, "pusher");
        let key = std::fs::read_to_string(keys.join("pusher.pub")).unwrap();
        let authorized_keys = keys.join("authorized_keys");
        std::fs::write(
            &authorized_keys,
            format!(
                "command=\"env {} {} ssh --root {} --user pusher\",restrict {key}",
                words.join(" "),
                sluice(),
                root.display()
            ),
        )
        .unwrap();
        let ssh = Sshd::start(dir, &authorized_keys, &keys);
        let inetd_port = free_port();
        let conf = dir.join("xinetd.conf");
        std::fs::write(
            &conf,
            format!(
                "service sluice\n{{\n type = UNLISTED\n port = {inetd_port}\n socket_type = stream\n protocol = tcp\n wait = no\n user = {}\n server = {}\n server_args = inetd --base-path {} --enable receive-pack --export-all\n env = {}\n bind = 127.0.0.1\n flags = IPv4\n}}\n",
                whoami(),
                sluice(),
                root.display(),
                words.join(" ")
            ),
        )
        .unwrap();
        let xinetd = Command::new("/usr/sbin/xinetd")
            .args(["-dontfork", "-f"])
            .arg(&conf)
            .arg("-pidfile")
            .arg(dir.join("xinetd.pid"))
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(inetd_port);
        let http_env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let http = if cgi {
            super::http::start_cgi_server(root.to_path_buf(), http_env)
        } else {
            super::http::start_server_with_env(root.to_path_buf(), http_env)
        };
        Remotes {
            ssh,
            xinetd,
            inetd_port,
            http,
        }
    }

    /// The URL of repository `name` (relative to the root) over `remote`.
    pub fn url(&self, remote: Remote, name: &str) -> String {
        match remote {
            Remote::Ssh => self.ssh.url(name),
            Remote::Inetd => format!("git://127.0.0.1:{}/{name}", self.inetd_port),
            Remote::Http => format!("{}/{name}", self.http),
        }
    }

    /// A git command in `dir` set up to reach the servers (the ssh key for [`Remote::Ssh`]).
    pub fn git(&self, dir: &Path) -> Command {
        let mut c = git_cmd(dir);
        c.env("GIT_SSH_COMMAND", self.ssh.command("pusher"));
        c
    }
}

/// A short name of `remote` for messages and paths.
pub fn name(remote: Remote) -> &'static str {
    match remote {
        Remote::Ssh => "ssh",
        Remote::Inetd => "inetd",
        Remote::Http => "http",
    }
}
