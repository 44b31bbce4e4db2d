//! Idle timeouts: every read and write touches an [`Activity`]; a watchdog thread ends the process
//! when nothing moved for the configured time, so a stuck client never holds a server process
//! forever. (Ending the process is the only way to interrupt a blocking read on stdin.)

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shared "last activity" clock.
#[derive(Debug, Clone)]
pub struct Activity {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

impl Activity {
    /// A clock that was just touched.
    pub fn new() -> Self {
        Activity {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Records activity now.
    pub fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// How long since the last touch.
    pub fn idle(&self) -> Duration {
        let now = self.start.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }

    /// Starts a thread that exits the process (status 1) after `limit` without activity.
    pub fn start_watchdog(&self, limit: Duration) {
        let me = self.clone();
        std::thread::spawn(move || loop {
            let idle = me.idle();
            if idle >= limit {
                tracing::warn!(
                    timeout_secs = limit.as_secs(),
                    "idle timeout, ending request"
                );
                std::process::exit(1);
            }
            std::thread::sleep((limit - idle).min(Duration::from_secs(1)));
        });
    }
}

/// Wraps a reader or writer so that each successful call touches an [`Activity`].
#[derive(Debug)]
pub struct Touching<T> {
    inner: T,
    activity: Activity,
}

impl<T> Touching<T> {
    /// Wraps `inner`, touching `activity`.
    pub fn new(inner: T, activity: Activity) -> Self {
        Touching { inner, activity }
    }
}

impl<T: Read> Read for Touching<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.activity.touch();
        Ok(n)
    }
}

impl<T: Write> Write for Touching<T> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.activity.touch();
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()?;
        self.activity.touch();
        Ok(())
    }
}
