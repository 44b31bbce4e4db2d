//! The access hook (`--access-hook PATH`), as git daemon's `--access-hook`: an executable run
//! before a request is served, whose nonzero exit refuses it. It is called with git daemon's six
//! arguments, `SERVICE PATH HOST CANONICAL-HOST IP PORT` (service without the `git-` prefix,
//! empty strings for what is unknown), plus `SLUICE_MODE` and `SLUICE_USER` in its environment,
//! so hooks written for git daemon work unchanged and ssh deployments can decide per user.
//! The first line of its standard output is shown to the client on refusal; its standard error
//! goes to the log (under inetd our stderr may be the socket, so it is never passed through).
//! A hook that runs longer than 30 seconds is killed and the request refused.
//!
//! A hook that allows the request may choose its ref namespace: a stdout line
//! `namespace=NAME` serves the request as if `GIT_NAMESPACE=NAME` were set (so one repository
//! can hold one namespace per user or tenant, decided where authentication is).

use std::os::fd::AsFd;
use std::path::Path;

use super::runner::{ProcessRunner, Spawn, Stream};
use crate::env::Env;
use crate::service::Service;

/// How long the hook may run before it is killed and the request refused.
const HOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the hook is asked about.
#[derive(Debug, Clone)]
pub struct HookCall<'a> {
    /// Launch mode, for `SLUICE_MODE`.
    pub mode: &'a str,
    /// `upload-pack` or `receive-pack`.
    pub service: Option<Service>,
    /// The repository's resolved location.
    pub path: &'a str,
    /// The `host=` of a git:// request.
    pub host: &'a str,
    /// The authenticated user (ssh, shell).
    pub user: Option<&'a str>,
    /// The process environment (the client's address as the web server or sshd told it).
    pub env: &'a Env,
}

/// Our peer's address and port: the socket on stdin (inetd, systemd `Accept=yes`), else
/// what `env` says (`REMOTE_ADDR`/`REMOTE_PORT`, else sshd's `SSH_CLIENT`).
pub fn client_address(env: &Env) -> (String, String) {
    let from_socket = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .and_then(|fd| std::net::TcpStream::from(fd).peer_addr().ok());
    match from_socket {
        Some(addr) => (addr.ip().to_string(), addr.port().to_string()),
        None => env.client_address(),
    }
}

/// Runs `hook` for `call`: `Ok` with the namespace the hook chose (see the module docs), or
/// `Err` with the message for the client.
pub fn check(hook: &Path, call: &HookCall<'_>) -> Result<Option<String>, String> {
    let service = match call.service {
        Some(Service::UploadPack) | None => "upload-pack",
        Some(Service::ReceivePack) => "receive-pack",
        Some(Service::UploadArchive) => "upload-archive",
    };
    let (ip, port) = client_address(call.env);
    let canonical = call
        .host
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let env = [
        ("SLUICE_MODE".to_string(), call.mode.to_string()),
        (
            "SLUICE_USER".to_string(),
            call.user.unwrap_or("").to_string(),
        ),
    ];
    let spawn = Spawn {
        program: hook,
        args: &[service, call.path, call.host, &canonical, &ip, &port],
        env: &env,
        cwd: None,
        stdin: &[],
    };
    // Both pipes are drained (bounded) so a chatty hook cannot block; stdout is kept for the
    // refusal message and the namespace, stderr goes to the log.
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let runner = ProcessRunner {
        timeout: HOOK_TIMEOUT,
        max_output: 64 * 1024,
    };
    let status = runner.run(&spawn, &mut |stream, bytes| match stream {
        Stream::Stdout => out.extend_from_slice(bytes),
        Stream::Stderr => err.extend_from_slice(bytes),
    });
    if !err.is_empty() {
        tracing::info!(hook = %hook.display(), stderr = %String::from_utf8_lossy(&err).trim_end(), "access hook output");
    }
    match status {
        Ok(s) if s.timed_out => {
            tracing::error!(hook = %hook.display(), "access hook timed out");
            Err("access hook timed out".into())
        }
        Ok(s) if s.success() => Ok(chosen_namespace(&out)),
        Ok(s) => {
            let first = String::from_utf8_lossy(&out)
                .lines()
                .next()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| "access denied by the access hook".to_string());
            tracing::warn!(hook = %hook.display(), path = call.path, user = call.user.unwrap_or("-"), status = ?s.code, "access hook refused");
            Err(first)
        }
        Err(e) => {
            tracing::error!(hook = %hook.display(), error = %e, "access hook could not run");
            Err("access hook failed".into())
        }
    }
}
/// The value of the last `namespace=NAME` line of an allowing hook's output.
fn chosen_namespace(out: &[u8]) -> Option<String> {
    String::from_utf8_lossy(out)
        .lines()
        .rev()
        .find_map(|l| l.trim_end().strip_prefix("namespace="))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn hook(dir: &Path, body: &str) -> std::path::PathBuf {
        let p = dir.join("hook");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn arguments_environment_and_refusal_message() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("args");
        let h = hook(
            dir.path(),
            &format!(
                "echo \"$1|$2|$3|$4|$SLUICE_MODE|$SLUICE_USER\" > {}\n[ \"$SLUICE_USER\" = alice ] || {{ echo \"no entry for $SLUICE_USER\"; echo detail >&2; exit 1; }}",
                log.display()
            ),
        );
        let mut call = HookCall {
            mode: "inetd",
            service: Some(Service::ReceivePack),
            path: "/srv/r.git",
            host: "Example.COM:9418",
            user: Some("alice"),
            env: &Env::default(),
        };
        assert_eq!(check(&h, &call), Ok(None));
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "receive-pack|/srv/r.git|Example.COM:9418|example.com|inetd|alice\n"
        );
        call.user = Some("bob");
        assert_eq!(check(&h, &call), Err("no entry for bob".into()));
        let ns = hook(dir.path(), "echo hello; echo namespace=team/$SLUICE_USER");
        assert_eq!(check(&ns, &call), Ok(Some("team/bob".into())));
        assert_eq!(
            check(&dir.path().join("missing"), &call),
            Err("access hook failed".into())
        );
    }
}
