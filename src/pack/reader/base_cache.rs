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
/// Most chain bottoms kept (see [`BaseCache::put_bottom`]).
const BOTTOM_ENTRIES: usize = 64;

/// (pack number, offset) of a cached object.
type Key = (usize, u64);

/// A FIFO of objects bounded in bytes and entries.
struct Fifo {
    map: HashMap<Key, Inflated>,
    order: VecDeque<Key>,
    bytes: usize,
    max_bytes: usize,
    max_entries: usize,
}

impl Fifo {
    fn new(max_bytes: usize, max_entries: usize) -> Self {
        Fifo {
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            max_bytes,
            max_entries,
        }
    }

    fn put(&mut self, key: Key, kind: Kind, data: Arc<Vec<u8>>) {
        if data.len() > self.max_bytes / 4 || self.map.contains_key(&key) {
            return;
        }
        self.bytes += data.len();
        self.map.insert(key, (kind, data));
        self.order.push_back(key);
        while self.bytes > self.max_bytes || self.order.len() > self.max_entries {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, d)) = self.map.remove(&old) {
                self.bytes -= d.len();
            }
        }
    }
}

/// The delta bases of an object directory, (pack number, offset) → object: the intermediate
/// results of chains, and apart from them the whole objects at their bottoms.
pub(super) struct BaseCache {
    bases: Fifo,
    bottoms: Fifo,
}

impl Default for BaseCache {
    fn default() -> Self {
        BaseCache {
            bases: Fifo::new(CACHE_BYTES, CACHE_ENTRIES),
            bottoms: Fifo::new(CACHE_BYTES / 4, BOTTOM_ENTRIES),
        }
    }
}

impl BaseCache {
    pub(super) fn get(&self, key: &Key) -> Option<Inflated> {
        self.bases
            .map
            .get(key)
            .or_else(|| self.bottoms.map.get(key))
            .cloned()
    }

    /// Caches an intermediate base of a chain.
    pub(super) fn put(&mut self, key: Key, kind: Kind, data: Arc<Vec<u8>>) {
        self.bases.put(key, kind, data);
    }

    /// Caches the whole object at the bottom of a delta chain, among the last
    /// [`BOTTOM_ENTRIES`] bottoms only. The versions of one file, which the delta search reads
    /// one after another, share it (git's delta_base_cache keeps it for them: a fifth of a
    /// fetch's CPU); once the search moves on to the next path it is never met again. Kept in
    /// the large FIFO, the bottoms of every object a `--depth=1` clone rewrites whole (whose
    /// other versions are not sent) stayed there to the end: half that clone's heap.
    pub(super) fn put_bottom(&mut self, key: Key, kind: Kind, data: Arc<Vec<u8>>) {
        self.bottoms.put(key, kind, data);
    }

    /// Bytes held (for tests).
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bases.bytes + self.bottoms.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_chain_bottoms_are_kept() {
        let mut cache = BaseCache::default();
        let data = Arc::new(vec![7u8; 100]);
        for offset in 0..1000u64 {
            cache.put_bottom((0, offset), Kind::Blob, Arc::clone(&data));
        }
        // The last ones only, and found.
        assert_eq!(cache.bytes(), BOTTOM_ENTRIES * 100);
        assert!(cache.get(&(0, 999)).is_some());
        assert!(cache.get(&(0, 0)).is_none());
        // Intermediate bases have their own room: bottoms do not push them out.
        cache.put((1, 5), Kind::Tree, Arc::clone(&data));
        for offset in 1000..2000u64 {
            cache.put_bottom((0, offset), Kind::Blob, Arc::clone(&data));
        }
        assert_eq!(
            cache.get(&(1, 5)).map(|(k, d)| (k, d.len())),
            Some((Kind::Tree, 100))
        );
        assert!(cache.get(&(1, 6)).is_none());
    }

    #[test]
    fn bases_are_bounded_by_count() {
        let mut cache = BaseCache::default();
        let data = Arc::new(vec![1u8; 10]);
        for offset in 0..(CACHE_ENTRIES as u64 + 10) {
            cache.put((0, offset), Kind::Tree, Arc::clone(&data));
        }
        assert_eq!(cache.bytes(), CACHE_ENTRIES * 10);
        assert!(cache.get(&(0, 9)).is_none());
        assert!(cache.get(&(0, 10)).is_some());
    }
}
