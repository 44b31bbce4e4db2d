//! Idle timeouts and traffic counters: every read and write touches an [`Activity`]; a watchdog
//! thread ends the process when nothing moved for the current limit, so a stuck client never
//! holds a server process forever (ending the process is the only way to interrupt a blocking
//! read on stdin). The limit can change during a request (git daemon's `--init-timeout` for the
//! request line, then `--timeout`).

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shared activity clock, idle limit and byte counters.
#[derive(Debug, Clone)]
pub struct Activity {
    start: Instant,
    last_ms: Arc<AtomicU64>,
    /// Idle limit in milliseconds; 0 = none.
    limit_ms: Arc<AtomicU64>,
    bytes_in: Arc<AtomicU64>,
    bytes_out: Arc<AtomicU64>,
    /// Total run-time limit in milliseconds since `start`; 0 = none.
    deadline_ms: Arc<AtomicU64>,
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

impl Activity {
    /// A clock that was just touched, with no limit.
    pub fn new() -> Self {
        Activity {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
            limit_ms: Arc::new(AtomicU64::new(0)),
            bytes_in: Arc::new(AtomicU64::new(0)),
            bytes_out: Arc::new(AtomicU64::new(0)),
            deadline_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Ends the process once the request has run for `total` (counted from its start).
    pub fn set_deadline(&self, total: Option<Duration>) {
        let ms = total.map_or(0, |d| d.as_millis().max(1) as u64);
        self.deadline_ms.store(ms, Ordering::Relaxed);
        if ms != 0 && self.limit_ms.load(Ordering::Relaxed) == 0 {
            self.start_watchdog();
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

    /// Time since the request started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Bytes read from and written to the client so far.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.bytes_in.load(Ordering::Relaxed),
            self.bytes_out.load(Ordering::Relaxed),
        )
    }

    /// Sets the idle limit (`None`: no limit) and makes sure the watchdog runs.
    pub fn set_limit(&self, limit: Option<Duration>) {
        let ms = limit.map_or(0, |d| d.as_millis().max(1) as u64);
        let was = self.limit_ms.swap(ms, Ordering::Relaxed);
        self.touch();
        if was == 0 && ms != 0 {
            self.start_watchdog();
        }
    }

    fn start_watchdog(&self) {
        let me = self.clone();
        std::thread::spawn(move || loop {
            let limit = me.limit_ms.load(Ordering::Relaxed);
            if limit != 0 && me.idle() >= Duration::from_millis(limit) {
                tracing::warn!(timeout_ms = limit, "idle timeout, ending request");
                crate::cleanup::exit(1);
            }
            let deadline = me.deadline_ms.load(Ordering::Relaxed);
            if deadline != 0 && me.elapsed() >= Duration::from_millis(deadline) {
                tracing::warn!(limit_ms = deadline, "max-duration reached, ending request");
                crate::cleanup::exit(1);
            }
            std::thread::sleep(Duration::from_millis(200));
        });
    }
}

/// Which counter a [`Touching`] adds to.
#[derive(Debug, Clone, Copy)]
enum Direction {
    In,
    Out,
}

/// Wraps a reader or writer so that each call touches an [`Activity`] and counts bytes.
#[derive(Debug)]
pub struct Touching<T> {
    inner: T,
    activity: Activity,
    dir: Direction,
}

impl<T> Touching<T> {
    /// Wraps the client-facing reader `inner`.
    pub fn reader(inner: T, activity: Activity) -> Self {
        Touching {
            inner,
            activity,
            dir: Direction::In,
        }
    }

    /// Wraps the client-facing writer `inner`.
    pub fn writer(inner: T, activity: Activity) -> Self {
        Touching {
            inner,
            activity,
            dir: Direction::Out,
        }
    }

    /// Unwraps.
    pub fn into_inner(self) -> T {
        self.inner
    }

    fn count(&self, n: usize) {
        let c = match self.dir {
            Direction::In => &self.activity.bytes_in,
            Direction::Out => &self.activity.bytes_out,
        };
        c.fetch_add(n as u64, Ordering::Relaxed);
        self.activity.touch();
    }
}

impl<T: Read> Read for Touching<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count(n);
        Ok(n)
    }
}

impl<T: Write> Write for Touching<T> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count(n);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()?;
        self.activity.touch();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bytes() {
        let a = Activity::new();
        let mut r = Touching::reader(&b"hello"[..], a.clone());
        let mut buf = Vec::new();
        r.read_to_end(&mut buf).unwrap();
        let mut w = Touching::writer(Vec::new(), a.clone());
        w.write_all(b"abc").unwrap();
        assert_eq!(a.bytes(), (5, 3));
        assert!(a.idle() < Duration::from_secs(5));
    }
}
