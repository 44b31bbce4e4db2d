//! The limits every client-controlled size meets before anything is allocated, and the time
//! limits of a request: one type, here at the bottom of the crate so that pack ingestion
//! (`pack::ingest`), the backends and the services all take the same values. Built from the
//! command line (see `cli`) and passed down; library code never reads flags or the environment.

use std::sync::OnceLock;
use std::time::Duration;

/// The cores this process may use (`std::thread::available_parallelism`, at least 1), asked
/// once: on Linux each call reads `/proc/self/cgroup` and the cgroup's CPU quota files, five
/// files that a small fetch read three times over.
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Limits on what a client may make the server do. Each has a safe default; each is reported by
/// name when hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most `want` lines in one request.
    pub max_wants: usize,
    /// Most `have` lines over a whole negotiation.
    pub max_haves: usize,
    /// Most negotiation rounds (flushes) before the server gives up.
    pub max_rounds: usize,
    /// Largest pack a push may send, in bytes (0: unlimited; `receive.maxInputSize` also applies).
    pub max_pack_bytes: u64,
    /// Largest single object, inflated, in bytes.
    pub max_object_bytes: u64,
    /// Most objects in one pushed pack.
    pub max_objects: u32,
    /// Deepest delta chain accepted or followed.
    pub max_delta_depth: u32,
    /// Most ref updates in one push.
    pub max_ref_updates: usize,
    /// Longest a request may run in total (`None`: no limit).
    pub max_duration: Option<Duration>,
    /// Longest one repository hook may run before it is killed (and counts as failed).
    pub max_hook_duration: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_wants: 100_000,
            max_haves: 1_000_000,
            max_rounds: 100_000,
            max_pack_bytes: 0,
            max_object_bytes: 4 << 30,
            max_objects: u32::MAX,
            max_delta_depth: 10_000,
            max_ref_updates: 100_000,
            max_duration: None,
            max_hook_duration: Duration::from_secs(600),
        }
    }
}

impl Limits {
    /// The largest pack a push may send, in bytes, as a bound (`max_pack_bytes` 0: none).
    pub fn pack_bytes_bound(&self) -> u64 {
        match self.max_pack_bytes {
            0 => u64::MAX,
            n => n,
        }
    }
}
