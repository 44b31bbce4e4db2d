//! Keepalive packets on a quiet side-band (`uploadpack.keepAlive`, `receive.keepAlive`).
//!
//! While the server counts objects, searches deltas, indexes a push or waits for a hook, it may
//! have nothing to say for minutes; proxies and load balancers cut a connection that quiet. C git
//! then sends an empty band-1 packet (`0005\1`) every N seconds of silence, which the client's
//! demultiplexer reads and drops. [`Keepalive`] does the same for a [`SidebandWriter`]: the
//! service writes through it ([`Keepalive::with`]), a timer thread writes the packet when the
//! channel has been idle for the interval ([`IdleRule`]). Both take the same lock, so a keepalive
//! never lands inside a packet: every call of the service writes whole packets.
//!
//! The timer also flushes what the service wrote but left in a buffer below (progress, hook
//! output): data the client never received does not keep a connection alive.
//!
//! A failed write stops the timer quietly; the service's next write meets the same error and
//! reports it as it would without keepalives.

use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::sideband::{Mode, SidebandWriter};

/// When a keepalive is due: `interval` after the last write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleRule {
    interval: Duration,
    last_write: Instant,
}

/// What the timer does next, by [`IdleRule::tick`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// The channel has been quiet for the interval: send a keepalive now.
    Send,
    /// Check again after this long (the rest of the interval).
    Wait(Duration),
}

impl IdleRule {
    /// A rule sending after `interval` of silence, the channel last written at `now`.
    pub fn new(interval: Duration, now: Instant) -> Self {
        IdleRule {
            interval,
            last_write: now,
        }
    }

    /// Something was written at `now`: the quiet period starts again.
    pub fn wrote(&mut self, now: Instant) {
        self.last_write = self.last_write.max(now);
    }

    /// Whether a keepalive is due at `now`, or how long until it may be.
    pub fn tick(&self, now: Instant) -> Tick {
        let idle = now.saturating_duration_since(self.last_write);
        match self.interval.checked_sub(idle) {
            Some(rest) if !rest.is_zero() => Tick::Wait(rest),
            _ => Tick::Send,
        }
    }
}

/// What the lock guards: the writer and the timer's bookkeeping.
struct State<W: Write> {
    band: SidebandWriter<W>,
    rule: Option<IdleRule>,
    /// Keepalives are sent only once armed (receive-pack: after the pack is read).
    armed: bool,
    /// Written since the timer last flushed the writer below.
    unflushed: bool,
    /// The service is done: the timer ends.
    done: bool,
}

/// A [`SidebandWriter`] shared between the service and a keepalive timer thread (see the
/// module documentation). Made and ended by [`Keepalive::run`].
pub struct Keepalive<W: Write> {
    state: Mutex<State<W>>,
    wake: Condvar,
}

impl<W: Write + Send> Keepalive<W> {
    /// Runs `f` with `band` behind a keepalive: once [`armed`](Self::arm) (at once when `armed`),
    /// an empty band-1 packet goes out after every `interval` in which `f` wrote nothing.
    /// `interval` `None` (the setting is 0), or a `band` without side-band, sends none and starts
    /// no thread. Returns `f`'s result and the writer, the timer stopped.
    pub fn run<T>(
        band: SidebandWriter<W>,
        interval: Option<Duration>,
        armed: bool,
        f: impl FnOnce(&Keepalive<W>) -> T,
    ) -> (T, SidebandWriter<W>) {
        let interval = interval.filter(|i| !i.is_zero() && band.mode() != Mode::None);
        let keepalive = Keepalive {
            state: Mutex::new(State {
                band,
                rule: interval.map(|i| IdleRule::new(i, Instant::now())),
                armed,
                unflushed: false,
                done: false,
            }),
            wake: Condvar::new(),
        };
        let out = std::thread::scope(|s| {
            if interval.is_some() {
                s.spawn(|| keepalive.timer());
            }
            // Stops the timer however `f` ends (a panic must not leave the scope waiting).
            let _stop = Stop(&keepalive);
            f(&keepalive)
        });
        let state = keepalive
            .state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        (out, state.band)
    }
}

impl<W: Write> Keepalive<W> {
    fn lock(&self) -> MutexGuard<'_, State<W>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the writer, alone (whole packets: no keepalive lands in between), and counts
    /// it as a write: the quiet period starts again.
    pub fn with<T>(&self, f: impl FnOnce(&mut SidebandWriter<W>) -> T) -> T {
        let mut state = self.lock();
        let out = f(&mut state.band);
        if let Some(rule) = state.rule.as_mut() {
            rule.wrote(Instant::now());
            state.unflushed = true;
        }
        out
    }

    /// Starts sending keepalives (the quiet period counted from now); no effect once armed.
    pub fn arm(&self) {
        let mut state = self.lock();
        if state.armed {
            return;
        }
        state.armed = true;
        if let Some(rule) = state.rule.as_mut() {
            rule.wrote(Instant::now());
        }
        self.wake.notify_all();
    }

    /// The timer thread: sleeps until a keepalive may be due, sends it when it is.
    fn timer(&self) {
        let mut state = self.lock();
        loop {
            if state.done {
                return;
            }
            let Some(rule) = state.rule else { return };
            if !state.armed {
                state = self
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let wait = match rule.tick(Instant::now()) {
                Tick::Send => {
                    tracing::trace!(">> keepalive");
                    if let Err(e) = state.band.keepalive() {
                        tracing::debug!(error = %e, "keepalive: the client is gone");
                        return;
                    }
                    state.unflushed = false;
                    state.rule = Some(IdleRule::new(rule.interval, Instant::now()));
                    continue;
                }
                Tick::Wait(rest) => rest,
            };
            if std::mem::take(&mut state.unflushed) {
                if let Err(e) = state.band.get_mut().flush() {
                    tracing::debug!(error = %e, "keepalive: the client is gone");
                    return;
                }
            }
            state = self
                .wake
                .wait_timeout(state, wait)
                .map_or_else(|e| e.into_inner().0, |(s, _)| s);
        }
    }
}

/// Ends the timer when dropped.
struct Stop<'k, W: Write>(&'k Keepalive<W>);

impl<W: Write> Drop for Stop<'_, W> {
    fn drop(&mut self) {
        self.0.lock().done = true;
        self.0.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn idle_rule_on_a_controlled_clock() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut rule = IdleRule::new(Duration::from_secs(5), t0);
        assert_eq!(rule.tick(at(0)), Tick::Wait(Duration::from_secs(5)));
        assert_eq!(rule.tick(at(4_000)), Tick::Wait(Duration::from_secs(1)));
        assert_eq!(rule.tick(at(5_000)), Tick::Send);
        assert_eq!(rule.tick(at(60_000)), Tick::Send);
        // A write restarts the quiet period; an older time than the last write does not.
        rule.wrote(at(4_500));
        assert_eq!(
            rule.tick(at(5_000)),
            Tick::Wait(Duration::from_millis(4_500))
        );
        rule.wrote(at(1_000));
        assert_eq!(rule.tick(at(9_500)), Tick::Send);
        // A clock read before the last write (another thread wrote in between) waits the whole
        // interval.
        assert_eq!(rule.tick(at(3_000)), Tick::Wait(Duration::from_secs(5)));
    }

    /// A writer whose bytes the test can read while the timer runs.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn keepalives(bytes: &[u8]) -> usize {
        bytes.windows(5).filter(|w| w == b"0005\x01").count()
    }

    #[test]
    fn sends_when_quiet_once_armed_and_never_when_disabled() {
        let interval = Some(Duration::from_millis(20));
        for (interval, armed, expect_some) in [
            (interval, true, true),
            (interval, false, false),
            (None, true, false),
        ] {
            let out = Shared::default();
            let band = SidebandWriter::new(out.clone(), Mode::SideBand64k);
            let ((), _) = Keepalive::run(band, interval, armed, |k| {
                k.with(|b| b.write_all(b"x")).unwrap();
                std::thread::sleep(Duration::from_millis(150));
                k.with(|b| b.flush()).unwrap();
            });
            let bytes = out.0.lock().unwrap().clone();
            assert_eq!(keepalives(&bytes) > 0, expect_some, "{interval:?} {armed}");
            // Buffered data goes out before the first keepalive, whole.
            assert!(bytes.starts_with(b"0006\x01x"), "{bytes:?}");
        }
    }

    #[test]
    fn a_failed_write_stops_the_timer() {
        struct Gone;
        impl Write for Gone {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
        }
        let band = SidebandWriter::new(Gone, Mode::SideBand);
        let (r, _) = Keepalive::run(band, Some(Duration::from_millis(5)), true, |k| {
            std::thread::sleep(Duration::from_millis(50));
            k.with(|b| b.send(super::super::sideband::Channel::Data, b"x"))
        });
        assert!(r.is_err());
    }
}
