//! At most one repack per repository: the key `<base>repack-owner` under an etcd lease.
//!
//! This is for efficiency only (two runners would do the same work twice). Correctness comes
//! from the transaction that swaps the pack list: it compares every replaced pack's key, so of
//! two runners that both got this far, one commits and the other's packs stay unlisted (orphans,
//! swept after the grace period). A runner that dies frees the key when its lease expires.

use super::super::kv::{self, Kv};

/// Seconds a lease lives without a refresh: a killed runner blocks others this long at most.
pub const TTL_SECS: u64 = 60;

/// A held lease; released on drop.
pub struct Lease<'a> {
    kv: &'a dyn Kv,
    id: i64,
}

impl<'a> Lease<'a> {
    /// Takes `key` for `holder`, or `None` when another runner holds it.
    pub fn take(kv: &'a dyn Kv, key: &str, holder: &str) -> Result<Option<Lease<'a>>, kv::Error> {
        Ok(kv
            .acquire(key, holder, TTL_SECS)?
            .map(|id| Lease { kv, id }))
    }

    /// Renews the lease for another [`TTL_SECS`]; an error means it expired (another runner may
    /// have started: the pack-list transaction still decides).
    pub fn refresh(&self) -> Result<(), kv::Error> {
        self.kv.refresh(self.id)
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.kv.release(self.id) {
            tracing::warn!(error = %e, "repack lease not released; it expires by itself");
        }
    }
}

/// A name for this runner: host and process, so an operator can tell who holds the key.
pub fn holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    format!("{host}:{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::distributed::kv::MemoryKv;

    #[test]
    fn a_second_runner_is_turned_away_until_the_first_is_done() {
        let kv = MemoryKv::default();
        let first = Lease::take(&kv, "p/r/repack-owner", "a").unwrap();
        assert!(first.is_some());
        assert!(Lease::take(&kv, "p/r/repack-owner", "b").unwrap().is_none());
        first.as_ref().unwrap().refresh().unwrap();
        drop(first);
        assert!(Lease::take(&kv, "p/r/repack-owner", "b").unwrap().is_some());
    }
}
