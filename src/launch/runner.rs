//! The one way Sluice runs a helper process: the repository's hooks (given to the services as
//! a [`HookRunner`]) and the access hook. Every run has a deadline (the process is killed when
//! it passes), a bound on the output kept or relayed (the rest is read and dropped, so a chatty
//! process never blocks), stdin written from a thread (a process that does not read it cannot
//! block us), and a retry when exec meets `ETXTBSY` ([`crate::process::spawn`]).

use crate::backend::fs::hooks::is_executable;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::service::hooks::{HookRun, HookRunner, HookSession};

/// Which pipe a chunk of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One process to run.
#[derive(Debug, Clone, Copy)]
pub struct Spawn<'a> {
    /// The executable.
    pub program: &'a Path,
    /// Its arguments.
    pub args: &'a [&'a str],
    /// Variables added to the inherited environment.
    pub env: &'a [(String, String)],
    /// Working directory (`None`: ours).
    pub cwd: Option<&'a Path>,
    /// Bytes for its standard input (then closed).
    pub stdin: &'a [u8],
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// The exit code (`None`: killed by a signal, or by us at the deadline).
    pub code: Option<i32>,
    /// The deadline passed and the process was killed.
    pub timed_out: bool,
    /// More output came than the bound; the rest was dropped.
    pub truncated: bool,
}

impl Finished {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs processes with a deadline and an output bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessRunner {
    /// How long a process may run before it is killed.
    pub timeout: Duration,
    /// Most output bytes (both pipes together) passed on; the rest is dropped.
    pub max_output: usize,
}

impl ProcessRunner {
    /// The runner for repository hooks. Deviation: C git waits for a hook forever; Sluice
    /// kills one after `timeout` and relays at most 1 MiB of its output.
    pub fn hooks(timeout: Duration) -> Self {
        ProcessRunner {
            timeout,
            max_output: 1 << 20,
        }
    }

    /// Runs `spawn`, passing its output to `output` as it arrives (in arrival order, within
    /// the bound), and waits for it until the deadline.
    pub fn run(
        &self,
        spawn: &Spawn<'_>,
        output: &mut dyn FnMut(Stream, &[u8]),
    ) -> std::io::Result<Finished> {
        let mut cmd = Command::new(spawn.program);
        cmd.args(spawn.args)
            .envs(spawn.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = spawn.cwd {
            cmd.current_dir(dir);
        }
        let mut child = crate::process::spawn(&mut cmd)?;
        let started = Instant::now();
        let (tx, rx) = mpsc::channel::<(Stream, Vec<u8>)>();
        let pipes: [(Stream, Option<Box<dyn Read + Send>>); 2] = [
            (
                Stream::Stdout,
                child.stdout.take().map(|p| Box::new(p) as _),
            ),
            (
                Stream::Stderr,
                child.stderr.take().map(|p| Box::new(p) as _),
            ),
        ];
        for (stream, pipe) in pipes {
            let (Some(mut pipe), tx) = (pipe, tx.clone()) else {
                continue;
            };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 || tx.send((stream, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        if let Some(mut input) = child.stdin.take() {
            let data = spawn.stdin.to_vec();
            // EPIPE from a process that does not read its stdin is not an error.
            std::thread::spawn(move || {
                let _ = input.write_all(&data);
            });
        }
        let deadline = started + self.timeout;
        let (mut left, mut truncated, mut timed_out) = (self.max_output, false, false);
        loop {
            let now = Instant::now();
            match rx.recv_timeout(deadline.saturating_duration_since(now)) {
                Ok((stream, chunk)) => {
                    let keep = chunk.len().min(left);
                    truncated |= keep < chunk.len();
                    left -= keep;
                    if keep > 0 {
                        output(stream, &chunk[..keep]);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
                // A pipe held open past the deadline (by the process or a child of it).
                Err(RecvTimeoutError::Timeout) => {
                    timed_out = matches!(child.try_wait(), Ok(None));
                    break;
                }
            }
        }
        let status = loop {
            match child.try_wait()? {
                Some(s) => break s,
                None if timed_out || Instant::now() >= deadline => {
                    timed_out = true;
                    let _ = child.kill();
                    break child.wait()?;
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        Ok(Finished {
            code: if timed_out { None } else { status.code() },
            timed_out,
            truncated,
        })
    }
}

/// The executable of `hook` and its whole environment (the site's, then the run's);
/// `None` when the repository has no such hook.
fn hook_program(hook: &HookRun<'_>) -> Option<(std::path::PathBuf, Vec<(String, String)>)> {
    let program = hook.site.dir.join(hook.name);
    if !is_executable(&program) {
        return None;
    }
    let mut env = hook.site.env.clone();
    env.extend_from_slice(hook.env);
    Some((program, env))
}

impl HookRunner for ProcessRunner {
    fn run_hook(
        &self,
        hook: &HookRun<'_>,
        output: &mut dyn FnMut(&[u8]),
    ) -> std::io::Result<Option<i32>> {
        let Some((program, env)) = hook_program(hook) else {
            return Ok(None);
        };
        let spawn = Spawn {
            program: &program,
            args: hook.args,
            env: &env,
            cwd: Some(&hook.site.work_dir),
            stdin: hook.stdin,
        };
        // githooks(5): both stdout and stderr go to the pushing user.
        let done = self.run(&spawn, &mut |_, bytes| output(bytes))?;
        if done.truncated {
            output(format!("hook {}: output truncated\n", hook.name).as_bytes());
        }
        if done.timed_out {
            let secs = self.timeout.as_secs();
            tracing::error!(hook = hook.name, seconds = secs, "hook timed out");
            output(format!("hook {} timed out after {secs} s\n", hook.name).as_bytes());
        }
        Ok(Some(done.code.unwrap_or(-1)))
    }

    fn start_hook(&self, hook: &HookRun<'_>) -> std::io::Result<Option<Box<dyn HookSession>>> {
        let Some((program, env)) = hook_program(hook) else {
            return Ok(None);
        };
        let mut cmd = Command::new(&program);
        cmd.args(hook.args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&hook.site.work_dir);
        let session = super::conversation::Conversation::start(
            hook.name,
            &mut cmd,
            self.timeout,
            self.max_output,
        )?;
        Ok(Some(Box::new(session)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::HookSite;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, body: &str) {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn site(dir: &Path) -> HookSite {
        HookSite {
            dir: dir.to_path_buf(),
            work_dir: dir.to_path_buf(),
            env: vec![("GIT_DIR".into(), ".".into())],
        }
    }

    fn run(runner: &ProcessRunner, dir: &Path, name: &str, stdin: &[u8]) -> (Option<i32>, String) {
        let site = site(dir);
        let env = [("GIT_PUSH_OPTION_COUNT".to_string(), "2".to_string())];
        let hook = HookRun {
            site: &site,
            name,
            args: &["arg1"],
            env: &env,
            stdin,
        };
        let mut out = Vec::new();
        let code = runner
            .run_hook(&hook, &mut |b| out.extend_from_slice(b))
            .unwrap();
        (code, String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn hook_gets_stdin_args_env_and_relays_both_pipes() {
        let dir = tempfile::tempdir().unwrap();
        script(
            dir.path(),
            "pre-receive",
            "read line\necho \"got $line $1 $GIT_PUSH_OPTION_COUNT $GIT_DIR\"\necho err >&2\nexit 3",
        );
        let runner = ProcessRunner::hooks(Duration::from_secs(30));
        let (code, text) = run(&runner, dir.path(), "pre-receive", b"a b c\n");
        assert_eq!(code, Some(3));
        assert!(text.contains("got a b c arg1 2 ."), "{text}");
        assert!(text.contains("err"), "{text}");
        assert_eq!(run(&runner, dir.path(), "update", b"").0, None);
    }

    #[test]
    fn deadline_and_output_bound() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "slow", "echo started\nsleep 30");
        let quick = ProcessRunner {
            timeout: Duration::from_millis(300),
            max_output: 1 << 20,
        };
        let started = Instant::now();
        let (code, text) = run(&quick, dir.path(), "slow", b"");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(code, Some(-1));
        assert!(
            text.contains("started") && text.contains("timed out"),
            "{text}"
        );
        script(dir.path(), "chatty", "yes | head -c 100000; exit 0");
        let small = ProcessRunner {
            timeout: Duration::from_secs(30),
            max_output: 1000,
        };
        let (code, text) = run(&small, dir.path(), "chatty", b"");
        assert_eq!(code, Some(0));
        assert!(
            text.len() < 1100 && text.ends_with("output truncated\n"),
            "{}",
            text.len()
        );
    }

    #[test]
    fn conversation_round_trip_and_deadline() {
        let dir = tempfile::tempdir().unwrap();
        script(
            dir.path(),
            "echo-back",
            "read line\necho \"back $line $GIT_DIR\"\necho err >&2\nexit 4",
        );
        let site = site(dir.path());
        let hook = |name| HookRun {
            site: &site,
            name,
            args: &[],
            env: &[],
            stdin: &[],
        };
        let runner = ProcessRunner::hooks(Duration::from_secs(30));
        let mut s = runner.start_hook(&hook("echo-back")).unwrap().unwrap();
        let (w, r) = s.io();
        w.write_all(b"hello\n").unwrap();
        let mut got = [0u8; 12];
        r.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"back hello .");
        let end = s.finish().unwrap();
        assert_eq!(
            (end.code, end.timed_out, &end.stderr[..]),
            (4, false, &b"err\n"[..])
        );
        assert!(runner.start_hook(&hook("none")).unwrap().is_none());

        script(dir.path(), "hangs", "sleep 30");
        let quick = ProcessRunner::hooks(Duration::from_millis(300));
        let started = Instant::now();
        let mut s = quick.start_hook(&hook("hangs")).unwrap().unwrap();
        let err = s.io().1.read(&mut got).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        let end = s.finish().unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(end.timed_out && end.code == -1, "{end:?}");
        assert!(String::from_utf8_lossy(&end.stderr).contains("timed out"));
    }
}
