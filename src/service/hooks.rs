//! How a service runs the repository's hooks without starting processes itself: the backend
//! says where the hooks live ([`HookSite`]), the launcher gives the service a [`HookRunner`]
//! (its process runner, with deadlines and output bounds), and the service says which hook to
//! run with what. Services stay free of process handling and testable with a fake runner.

use crate::backend::HookSite;

/// One hook invocation.
#[derive(Debug, Clone, Copy)]
pub struct HookRun<'a> {
    /// Where the repository's hooks live, and their working directory and environment.
    pub site: &'a HookSite,
    /// The hook's name (`pre-receive`, `update`, ...).
    pub name: &'a str,
    /// Its arguments.
    pub args: &'a [&'a str],
    /// Environment added for this run (push options, quarantine).
    pub env: &'a [(String, String)],
    /// Its standard input.
    pub stdin: &'a [u8],
}

/// Runs hooks; implemented by the launcher's process runner.
pub trait HookRunner: Send + Sync {
    /// Runs `hook` if the repository has it (an executable file of that name), passing its
    /// stdout and stderr to `output` as they arrive. `Ok(None)`: no such hook; else its exit
    /// code (`Some(-1)` when it was killed: by a signal, or at the deadline).
    fn run_hook(
        &self,
        hook: &HookRun<'_>,
        output: &mut dyn FnMut(&[u8]),
    ) -> std::io::Result<Option<i32>>;

    /// Starts `hook` (its `stdin` is ignored) for a conversation over its stdin and stdout;
    /// `Ok(None)`: no such hook.
    fn start_hook(&self, hook: &HookRun<'_>) -> std::io::Result<Option<Box<dyn HookSession>>>;
}

/// How a conversing hook ended (see [`HookRunner::start_hook`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEnd {
    /// Its exit code (-1: killed, by a signal or at the deadline).
    pub code: i32,
    /// What it wrote to stderr (bounded), with the runner's notes (truncation, timeout).
    pub stderr: Vec<u8>,
    /// The deadline passed and the hook was killed.
    pub timed_out: bool,
}

/// A running hook the caller talks to (`proc-receive`). No read or write on it blocks past
/// the runner's deadline: at the deadline reads fail with `TimedOut`.
pub trait HookSession: Send {
    /// The hook's stdin and stdout.
    fn io(&mut self) -> (&mut dyn std::io::Write, &mut dyn std::io::Read);

    /// Closes its stdin, waits for it (killing it at the deadline), and says how it ended.
    fn finish(self: Box<Self>) -> std::io::Result<HookEnd>;
}
