//! Running a repository's hooks (`<git-dir>/hooks/<name>`), as githooks(5) describes: the hook
//! runs with the git directory as working directory and `GIT_DIR=.`, gets the caller's stdin
//! bytes, and its stdout and stderr are both relayed (git sends them to the pushing user).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;

use crate::backend::Error;

/// Runs hook `name` of the repository at `git_dir` if it exists and is executable.
/// Returns `Ok(None)` when there is no such hook, else its exit code (-1 if killed by a signal).
pub fn run_hook(
    git_dir: &Path,
    name: &str,
    args: &[&str],
    env: &[(String, String)],
    stdin: &[u8],
    output: &mut dyn FnMut(&[u8]),
) -> Result<Option<i32>, Error> {
    let path = git_dir.join("hooks").join(name);
    if !is_executable(&path) {
        return Ok(None);
    }
    let what = format!("hook {name}");
    let mut child = crate::process::spawn(
        Command::new(&path)
            .args(args)
            .current_dir(git_dir)
            .env("GIT_DIR", ".")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .map_err(|e| Error::io(&what, e))?;

    // Relay stdout and stderr as they come, in arrival order, from two reader threads.
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let mut readers = Vec::new();
    let pipes: Vec<Box<dyn Read + Send>> = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    for mut pipe in pipes {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    if let Some(mut input) = child.stdin.take() {
        let data = stdin.to_vec();
        // A hook that does not read its stdin must not block us: write from a thread, ignore EPIPE.
        std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
    }
    for chunk in rx {
        output(&chunk);
    }
    for r in readers {
        let _ = r.join();
    }
    let status = child.wait().map_err(|e| Error::io(&what, e))?;
    Ok(Some(status.code().unwrap_or(-1)))
}

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

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_hook_with_stdin_env_and_output() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("hooks")).unwrap();
        let hook = dir.path().join("hooks/pre-receive");
        std::fs::write(
            &hook,
            "#!/bin/sh\nread line\necho \"got $line $1 $GIT_PUSH_OPTION_COUNT\"\necho err >&2\nexit 3\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut out = Vec::new();
        let code = run_hook(
            dir.path(),
            "pre-receive",
            &["arg1"],
            &[("GIT_PUSH_OPTION_COUNT".into(), "2".into())],
            b"a b c\n",
            &mut |b| out.extend_from_slice(b),
        )
        .unwrap();
        assert_eq!(code, Some(3));
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("got a b c arg1 2"), "{text}");
        assert!(text.contains("err"), "{text}");
        assert_eq!(
            run_hook(dir.path(), "update", &[], &[], b"", &mut |_| {}).unwrap(),
            None
        );
    }
}
