//! The delta-base cache of an object directory.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::Inflated;
use crate::odb::Kind;

/// Byte budget of the delta-base cache (git's core.deltaBaseCacheLimit default).
const CACHE_BYTES: usize = 96 << 20;
/// Most entries in the delta-base cache. A history walk only ever needs the bases of the last
/// few hundred commits' trees; without a count limit a clone of 50,000 small-tree commits kept
/// 30,000 intermediate trees (8.5 MB, a quarter of its heap) that it never read again. Large
/// bases are still bounded by bytes alone.
const CACHE_ENTRIES: usize = 4096;

/// A FIFO cache of delta bases, bounded in bytes and entries: (pack number, offset) → object.
#[derive(Default)]
pub(super) struct BaseCache {
    pub(super) map: HashMap<(usize, u64), Inflated>,
    pub(super) order: VecDeque<(usize, u64)>,
    pub(super) bytes: usize,
}

impl BaseCache {
    pub(super) fn get(&self, key: &(usize, u64)) -> Option<Inflated> {
        self.map.get(key).cloned()
    }

    pub(super) fn put(&mut self, key: (usize, u64), kind: Kind, data: Arc<Vec<u8>>) {
        if data.len() > CACHE_BYTES / 4 || self.map.contains_key(&key) {
            return;
        }
        self.bytes += data.len();
        self.map.insert(key, (kind, data));
        self.order.push_back(key);
        while self.bytes > CACHE_BYTES || self.order.len() > CACHE_ENTRIES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, d)) = self.map.remove(&old) {
                self.bytes -= d.len();
            }
        }
    }
}
