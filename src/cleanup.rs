//! What a request must undo when it ends abnormally: an idle timeout, a run-time limit or a
//! signal ends the process from another thread (the only way to interrupt a blocking read), so
//! `Drop` never runs. Temporary directories (a push's quarantine) register here, and
//! [`exit`] removes them before the process goes.
//!
//! Work that must not be cut in half (moving a quarantine's objects into place, a ref
//! transaction with its lock files) runs inside a [`critical`] section: [`exit`] waits for it
//! (up to [`CRITICAL_WAIT`]) and then holds the registry, so no new section starts.
//!
//! The signal handlers (SIGTERM, SIGINT, SIGHUP) are installed by the first registration or
//! critical section, not at start: until then there is nothing to undo, a signal's default
//! action (ending the process) is right, and a read-only request (an ls-remote, a clone) does
//! not pay for the handler thread's start at all.
//!
//! A process killed with SIGKILL cleans nothing; its quarantine is removed by the next push to
//! the same repository or by `sluice repack` (they check that its process is gone).

use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

/// Longest [`exit`] waits for critical sections to finish.
pub const CRITICAL_WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct State {
    next: u64,
    paths: Vec<(u64, PathBuf)>,
    critical: usize,
}

static STATE: Mutex<State> = Mutex::new(State {
    next: 0,
    paths: Vec::new(),
    critical: 0,
});
static DONE: Condvar = Condvar::new();

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A directory removed by [`exit`] while this is alive; dropping it unregisters the directory
/// (its owner removes or keeps it as usual).
#[derive(Debug)]
pub struct Registered(u64);

/// Registers `dir` for removal if the process ends abnormally.
pub fn register(dir: PathBuf) -> Registered {
    arm();
    let mut st = state();
    st.next += 1;
    let key = st.next;
    st.paths.push((key, dir));
    Registered(key)
}

impl Drop for Registered {
    fn drop(&mut self) {
        state().paths.retain(|(k, _)| *k != self.0);
    }
}

/// While alive, [`exit`] waits before removing anything or ending the process.
#[derive(Debug)]
pub struct Critical(());

/// Enters a section that an abnormal exit must not cut in half.
pub fn critical() -> Critical {
    arm();
    state().critical += 1;
    Critical(())
}

impl Drop for Critical {
    fn drop(&mut self) {
        let mut st = state();
        st.critical = st.critical.saturating_sub(1);
        DONE.notify_all();
    }
}

/// Removes every registered directory, after waiting for critical sections, and keeps the
/// registry locked (the returned guard) so nothing new starts before the caller exits.
fn clean() -> MutexGuard<'static, State> {
    let deadline = Instant::now() + CRITICAL_WAIT;
    let mut st = state();
    while st.critical > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        st = DONE
            .wait_timeout(st, left)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
    }
    for (_, dir) in st.paths.drain(..) {
        tracing::info!(dir = %dir.display(), "removing temporary directory before exit");
        let _ = std::fs::remove_dir_all(&dir);
    }
    st
}

/// Ends the process with `code` after [`clean`]ing up: for timeouts and signals.
pub fn exit(code: i32) -> ! {
    let _held = clean();
    std::process::exit(code)
}

/// Installs the signal handlers once, when there is first something to clean up.
fn arm() {
    static ARMED: Once = Once::new();
    ARMED.call_once(|| {
        if let Err(e) = install_signal_handlers() {
            tracing::warn!(error = %e, "cannot handle signals; a killed push leaves its quarantine to the next one");
        }
    });
}

/// Ends the process cleanly on SIGTERM, SIGINT and SIGHUP (an admin's kill, a terminal or an
/// ssh session going away), exit status 128 + signal as a shell reports it. Called by the
/// first [`register`] or [`critical`]; a second call adds a second handler thread.
fn install_signal_handlers() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                tracing::warn!(signal = sig, "signal received, ending request");
                exit(128 + sig);
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_directories_are_removed_and_unregistered_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        let _ra = register(a.clone());
        drop(register(b.clone()));
        {
            let _c = critical();
        }
        drop(clean());
        assert!(!a.exists());
        assert!(b.exists());
    }
}
