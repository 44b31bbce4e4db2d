//! Hooks the caller converses with (`proc-receive`: pkt-lines both ways while it runs), as
//! githooks(5) describes: the git directory as working directory and `GIT_DIR=.`. One-shot
//! hooks (`pre-receive`, `update`, ...) run through the launcher's process runner instead
//! (`launch::runner`).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::backend::Error;

/// A hook started by [`start_hook`]: its stdin and stdout are the caller's, its stderr is
/// collected by a thread (bounded at [`MAX_HOOK_STDERR`]) and handed over by `finish`.
pub struct HookProcess {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::process::ChildStdout,
    stderr: std::thread::JoinHandle<Vec<u8>>,
}

/// Most stderr bytes kept from a conversing hook (the rest is dropped, with a note).
pub const MAX_HOOK_STDERR: usize = 1 << 20;

/// Starts hook `name` of the repository at `git_dir` (as [`run_hook`] would run it) with piped
/// stdin and stdout; `Ok(None)` when there is no such hook.
pub fn start_hook(
    git_dir: &Path,
    name: &str,
    env: &[(String, String)],
) -> Result<Option<HookProcess>, Error> {
    let path = git_dir.join("hooks").join(name);
    if !is_executable(&path) {
        return Ok(None);
    }
    let what = format!("hook {name}");
    let mut child = crate::process::spawn(
        Command::new(&path)
            .current_dir(git_dir)
            .env("GIT_DIR", ".")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .map_err(|e| Error::io(&what, e))?;
    let missing = || Error::io(&what, std::io::Error::other("no pipe"));
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    let mut err_pipe = child.stderr.take().ok_or_else(missing)?;
    let stderr = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = err_pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = MAX_HOOK_STDERR.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        kept
    });
    Ok(Some(HookProcess {
        child,
        stdin,
        stdout,
        stderr,
    }))
}

impl crate::backend::HookSession for HookProcess {
    fn io(&mut self) -> (&mut dyn Write, &mut dyn Read) {
        (&mut self.stdin, &mut self.stdout)
    }

    fn finish(self: Box<Self>) -> Result<(i32, Vec<u8>), Error> {
        let HookProcess {
            mut child,
            stdin,
            mut stdout,
            stderr,
        } = *self;
        drop(stdin);
        // Whatever the hook still writes to stdout is read and dropped, so it cannot block.
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        let status = child.wait().map_err(|e| Error::io("hook", e))?;
        let stderr = stderr.join().unwrap_or_default();
        Ok((status.code().unwrap_or(-1), stderr))
    }
}

/// Whether `path` is a hook git would run: a regular file with an execute bit.
#[cfg(unix)]
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Whether `path` is a hook git would run (no execute bits here: any regular file).
#[cfg(not(unix))]
pub fn is_executable(path: &Path) -> bool {
    path.is_file()
}
