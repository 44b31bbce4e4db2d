//! Counts of store round trips and the time they took, per process (one `sluice` process
//! serves one request), so the request's log line says where a slow clone waited.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Which store a round trip went to.
#[derive(Debug, Clone, Copy)]
pub enum Store {
    /// The ref store.
    Etcd,
    /// The pack store.
    S3,
}

static COUNTS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static MICROS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Records one round trip to `store` that began at `started`.
pub fn record(store: Store, started: Instant) {
    let i = store as usize;
    COUNTS[i].fetch_add(1, Ordering::Relaxed);
    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    MICROS[i].fetch_add(us, Ordering::Relaxed);
}

/// (etcd round trips, etcd ms, S3 round trips, S3 ms) so far.
pub fn totals() -> (u64, u64, u64, u64) {
    let get = |i: usize| {
        (
            COUNTS[i].load(Ordering::Relaxed),
            MICROS[i].load(Ordering::Relaxed) / 1000,
        )
    };
    let (e, em) = get(0);
    let (s, sm) = get(1);
    (e, em, s, sm)
}
