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
}
