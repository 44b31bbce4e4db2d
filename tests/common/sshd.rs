//! A throw-away OpenSSH sshd on 127.0.0.1 whose authorized_keys file the test writes, and
//! ed25519 keys to log in with: ssh launch modes are tested through the real sshd.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Whether sshd exists; without it a test fails unless SLUICE_SKIP_SYSTEM_TESTS is set.
pub fn have_sshd() -> bool {
    if Path::new("/usr/sbin/sshd").exists() {
        return true;
    }
    assert!(
        std::env::var("SLUICE_SKIP_SYSTEM_TESTS").is_ok(),
        "/usr/sbin/sshd is not installed (install openssh-server, or set SLUICE_SKIP_SYSTEM_TESTS=1)"
    );
    false
}

/// Generates an ed25519 key pair `dir/name`, `dir/name.pub`.
pub fn keygen(dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ssh-keygen");
    path
}

/// A running sshd, killed on drop.
pub struct Sshd {
    child: Child,
    /// Its port.
    pub port: u16,
    /// Where the client keys live.
    pub keys: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The login name sshd will see.
pub fn whoami() -> String {
    String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string()
}

impl Sshd {
    /// Starts sshd in `dir` reading `authorized_keys`; client keys are expected in `keys`.
    pub fn start(dir: &Path, authorized_keys: &Path, keys: &Path) -> Sshd {
        let host = keygen(&dir.join("hostkey"), "host");
        let port = super::free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nAcceptEnv GIT_PROTOCOL\nPidFile {}\nLogLevel ERROR\n",
                host.display(),
                authorized_keys.display(),
                dir.join("sshd.pid").display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        super::wait_for_port(port);
        Sshd {
            child,
            port,
            keys: keys.to_path_buf(),
        }
    }

    /// `GIT_SSH_COMMAND` logging in with `key`.
    pub fn command(&self, key: &str) -> String {
        format!(
            "ssh -p {} -i {} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes",
            self.port,
            self.keys.join(key).display()
        )
    }

    /// The scp-style URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}@127.0.0.1:{path}", whoami())
    }

    /// Runs `remote_cmd` over ssh with `key`.
    pub fn run(&self, key: &str, remote_cmd: &str) -> std::process::Output {
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{} {}@127.0.0.1 {}",
                self.command(key),
                whoami(),
                remote_cmd
            ))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}
