//! A hook the caller converses with while it runs (`proc-receive`: pkt-lines both ways), run
//! under the same rules as every other helper process ([`super::runner`]): spawned through
//! [`crate::process::spawn`] (the `ETXTBSY` retry), a deadline after which it is killed, and a
//! bound on the stderr kept for the client. Its pipes are served by threads and reached
//! through channels, so no read or write of ours can block past the deadline, even when the
//! hook (or a child of it holding its pipes) never reads or never writes.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::service::hooks::{HookEnd, HookSession};

/// A started hook: stdin fed by a writer thread, stdout read by a reader thread, stderr kept
/// (bounded) by a third; every wait on it ends at `deadline`.
pub(crate) struct Conversation {
    name: String,
    child: Child,
    deadline: Instant,
    timeout: Duration,
    timed_out: bool,
    to_hook: ToHook,
    from_hook: FromHook,
    stderr: Receiver<Vec<u8>>,
    max_stderr: usize,
}

/// Our end of the hook's stdin: bytes are queued to a thread that writes them.
struct ToHook(Sender<Vec<u8>>);

/// Our end of the hook's stdout: chunks arrive from a reader thread until the deadline.
struct FromHook {
    rx: Receiver<Vec<u8>>,
    pending: Vec<u8>,
    at: usize,
    deadline: Instant,
}

impl Conversation {
    /// Spawns `cmd` (with all three pipes set here) to run at most `timeout`, keeping at most
    /// `max_stderr` bytes of its stderr.
    pub(crate) fn start(
        name: &str,
        cmd: &mut Command,
        timeout: Duration,
        max_stderr: usize,
    ) -> std::io::Result<Self> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = crate::process::spawn(cmd)?;
        let deadline = Instant::now() + timeout;
        let missing = || std::io::Error::other("hook pipe missing");
        let mut stdin = child.stdin.take().ok_or_else(missing)?;
        let stdout = child.stdout.take().ok_or_else(missing)?;
        let err_pipe = child.stderr.take().ok_or_else(missing)?;
        let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>();
        // EPIPE from a hook that stopped reading is not ours to report: the conversation
        // then fails on what the hook (did not) answer.
        std::thread::spawn(move || {
            for chunk in in_rx {
                if stdin.write_all(&chunk).is_err() {
                    break;
                }
            }
        });
        let out_rx = pump(stdout);
        let stderr = pump(err_pipe);
        Ok(Conversation {
            name: name.to_string(),
            child,
            deadline,
            timeout,
            timed_out: false,
            to_hook: ToHook(in_tx),
            from_hook: FromHook {
                rx: out_rx,
                pending: Vec::new(),
                at: 0,
                deadline,
            },
            stderr,
            max_stderr,
        })
    }

    /// What the hook wrote to stderr, at most `max_stderr` bytes (and whether more came).
    /// A child of the hook may hold the pipe open after it ended, so the wait stops shortly
    /// after the hook did.
    fn collect_stderr(&self) -> (Vec<u8>, bool) {
        let until = Instant::now().max(self.deadline) + Duration::from_millis(200);
        let (mut kept, mut truncated) = (Vec::new(), false);
        let mut grace = Instant::now() + Duration::from_millis(200);
        loop {
            let left = grace.min(until).saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(chunk) => {
                    let room = self.max_stderr.saturating_sub(kept.len());
                    truncated |= chunk.len() > room;
                    kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    grace = Instant::now() + Duration::from_millis(200);
                }
                Err(_) => return (kept, truncated),
            }
        }
    }

    /// Waits for the hook until the deadline, then kills it.
    fn wait(&mut self) -> std::io::Result<Option<i32>> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.code());
            }
            if Instant::now() >= self.deadline {
                self.timed_out = true;
                let _ = self.child.kill();
                let _ = self.child.wait()?;
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Reads `pipe` on a thread until its end, passing each chunk on through the returned channel.
fn pump(mut pipe: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

impl Write for ToHook {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .send(buf.to_vec())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Read for FromHook {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.pending.len() {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => (self.pending, self.at) = (chunk, 0),
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(std::io::Error::from(std::io::ErrorKind::TimedOut))
                }
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl HookSession for Conversation {
    fn io(&mut self) -> (&mut dyn Write, &mut dyn Read) {
        (&mut self.to_hook, &mut self.from_hook)
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<HookEnd> {
        // Dropping the only sender ends the writer thread, which closes the hook's stdin.
        self.to_hook = ToHook(mpsc::channel().0);
        // Whatever the hook still writes to stdout is read and dropped (until the deadline).
        let _ = std::io::copy(&mut self.from_hook, &mut std::io::sink());
        let code = self.wait()?;
        let (mut stderr, truncated) = self.collect_stderr();
        if truncated {
            stderr.extend_from_slice(format!("hook {}: output truncated\n", self.name).as_bytes());
        }
        if self.timed_out {
            let secs = self.timeout.as_secs();
            tracing::error!(hook = %self.name, seconds = secs, "hook timed out");
            stderr.extend_from_slice(
                format!("hook {} timed out after {secs} s\n", self.name).as_bytes(),
            );
        }
        Ok(HookEnd {
            code: code.unwrap_or(-1),
            stderr,
            timed_out: self.timed_out,
        })
    }
}
