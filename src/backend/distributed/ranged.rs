//! Pack data read from the object store in ranges: the [`PackSource`] of a distributed
//! repository's view.
//!
//! A view holds the listed packs' indexes as local files (from the [`cache`](super::cache)), and
//! no `.pack`: a request reads the entries it needs as aligned blocks ([`BLOCK`] bytes, one
//! ranged GET each), kept in a bounded in-memory [`BlockCache`] shared by the request's packs.
//! A read of the block after the last one fetched is taken as sequential and fetches
//! [`READ_AHEAD`] blocks at once (a clone's history walk reads commits and trees roughly in pack
//! order). Long runs (pack reuse: a whole pack sent to a clone) bypass the cache and stream in
//! [`COPY_CHUNK`] GETs. A pack this request pushed is still a local file in the view and is
//! mapped as on disk.
//!
//! Deviation from JGit's DfsBlockCache: blocks are cached per process only; a `sluice` process
//! serves one request, so the next request fetches them again (the indexes it needs first are on
//! disk, and a full clone streams the pack without the cache anyway).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::blobs::Blobs;
use crate::pack::reader::{Error, LocalPacks, PackData, PackSource};

/// Pack data is fetched in aligned blocks of this many bytes.
pub const BLOCK: u64 = 1 << 20;
/// Blocks fetched at once when reads look sequential.
pub const READ_AHEAD: u64 = 4;
/// Bytes per GET when a long run of entries is copied out.
pub const COPY_CHUNK: u64 = 8 << 20;
/// Bytes of blocks one request keeps in memory.
pub const CACHE_BYTES: usize = 64 << 20;

/// Recently read blocks of a request's packs, bounded in bytes; the least recently used goes
/// first.
#[derive(Debug, Default)]
pub struct BlockCache {
    inner: Mutex<Blocks>,
}

/// (pack number, block number).
type BlockKey = (u32, u64);

#[derive(Debug, Default)]
struct Blocks {
    /// (pack number, block number) → (data, last use).
    map: HashMap<BlockKey, (Arc<Vec<u8>>, u64)>,
    bytes: usize,
    clock: u64,
}

impl BlockCache {
    fn get(&self, key: (u32, u64)) -> Option<Arc<Vec<u8>>> {
        let mut b = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        b.clock += 1;
        let now = b.clock;
        b.map.get_mut(&key).map(|(data, used)| {
            *used = now;
            Arc::clone(data)
        })
    }

    fn put(&self, key: (u32, u64), data: Arc<Vec<u8>>) {
        let mut b = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        b.clock += 1;
        let now = b.clock;
        b.bytes += data.len();
        if let Some((old, _)) = b.map.insert(key, (data, now)) {
            b.bytes -= old.len();
        }
        while b.bytes > CACHE_BYTES {
            let Some(oldest) = b
                .map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            if let Some((d, _)) = b.map.remove(&oldest) {
                b.bytes -= d.len();
            }
        }
    }
}

/// The [`PackSource`] of one view: listed packs by ranged reads, local files mapped.
#[derive(Debug)]
pub struct RangedPacks {
    blobs: Arc<Blobs>,
    /// The repository's key prefix in the store.
    base: String,
    /// Listed packs and their sizes (from the ref store's pack list).
    sizes: BTreeMap<String, u64>,
    cache: Arc<BlockCache>,
    opened: AtomicU64,
}

impl RangedPacks {
    /// Packs `sizes` of repository `base`, read through `blobs`.
    pub fn new(blobs: Arc<Blobs>, base: String, sizes: BTreeMap<String, u64>) -> RangedPacks {
        RangedPacks {
            blobs,
            base,
            sizes,
            cache: Arc::default(),
            opened: AtomicU64::new(0),
        }
    }
}

impl PackSource for RangedPacks {
    fn open(&self, pack_path: &Path) -> Result<Option<Box<dyn PackData>>, Error> {
        if pack_path.is_file() {
            return LocalPacks.open(pack_path);
        }
        let Some(name) = pack_path.file_stem().map(|s| s.to_string_lossy()) else {
            return Ok(None);
        };
        let Some(&len) = self.sizes.get(name.as_ref()) else {
            return Ok(None);
        };
        let number = self.opened.fetch_add(1, Ordering::Relaxed);
        let pack = RangedPack {
            blobs: Arc::clone(&self.blobs),
            key: super::view::pack_key(&self.base, &name, "pack"),
            name: format!("{name}.pack"),
            len,
            number: u32::try_from(number).unwrap_or(u32::MAX),
            cache: Arc::clone(&self.cache),
            next: AtomicU64::new(u64::MAX),
            hex: name.strip_prefix("pack-").unwrap_or(&name).to_string(),
            verified: OnceLock::new(),
        };
        Ok(Some(Box::new(pack)))
    }
}

/// One pack in the store, read in blocks.
struct RangedPack {
    blobs: Arc<Blobs>,
    key: String,
    name: String,
    len: u64,
    number: u32,
    cache: Arc<BlockCache>,
    /// The block after the last one fetched (`u64::MAX`: none yet), to notice sequential reads.
    next: AtomicU64,
    /// The checksum the pack's name carries.
    hex: String,
    /// Whether the stored pack starts like a pack and ends with [`RangedPack::hex`], checked on
    /// first use (opening a view's packs makes no request; a request touches only the packs
    /// it reads).
    verified: OnceLock<Result<(), String>>,
}

impl RangedPack {
    /// The pack must start with `PACK` and end with the checksum its name carries (a wrong size
    /// in the pack list, or other bytes under the name, is refused before any entry is read).
    fn verify(&self) -> Result<(), Error> {
        let result = self.verified.get_or_init(|| {
            let check = || -> Result<bool, Error> {
                let magic = self.read_blocks(0..4)?;
                let width = (self.hex.len() / 2) as u64;
                let trailer = self.read_blocks(self.len.saturating_sub(width)..self.len)?;
                let hex = trailer.map(|b| b.iter().map(|x| format!("{x:02x}")).collect::<String>());
                Ok(magic.as_deref() == Some(b"PACK") && hex.as_deref() == Some(&self.hex))
            };
            match check() {
                Ok(true) => Ok(()),
                Ok(false) => Err("stored content does not match its name and listed size".into()),
                Err(e) => Err(e.to_string()),
            }
        });
        result
            .clone()
            .map_err(|why| Error::corrupt(&self.name, why))
    }

    fn blocks(&self) -> u64 {
        self.len.div_ceil(BLOCK)
    }

    /// Fetches blocks `first..=last` (extended by read-ahead when sequential) into the cache.
    fn fetch(&self, first: u64, last: u64) -> Result<(), Error> {
        let sequential = self.next.load(Ordering::Relaxed) == first;
        let last = if sequential {
            last.max(first + READ_AHEAD - 1)
        } else {
            last
        }
        .min(self.blocks().saturating_sub(1));
        let bytes = self
            .blobs
            .read_range(&self.key, first * BLOCK..((last + 1) * BLOCK).min(self.len))?;
        let want = ((last + 1) * BLOCK).min(self.len) - first * BLOCK;
        if bytes.len() as u64 != want {
            return Err(Error::corrupt(&self.name, "short read from the store"));
        }
        for (i, chunk) in bytes.chunks(BLOCK as usize).enumerate() {
            let block = first + i as u64;
            self.cache
                .put((self.number, block), Arc::new(chunk.to_vec()));
        }
        self.next.store(last + 1, Ordering::Relaxed);
        Ok(())
    }
}

impl PackData for RangedPack {
    fn size(&self) -> u64 {
        self.len
    }

    fn read(&self, range: Range<u64>) -> Result<Option<Cow<'_, [u8]>>, Error> {
        self.verify()?;
        self.read_blocks(range)
    }

    fn read_entry(&self, from: u64, end: &dyn Fn() -> u64) -> Result<Option<Cow<'_, [u8]>>, Error> {
        self.read(from..end())
    }

    fn copy(&self, range: Range<u64>, out: &mut dyn std::io::Write) -> Result<(), Error> {
        self.verify()?;
        if range.end > self.len {
            return Err(Error::corrupt(&self.name, "entries beyond the pack"));
        }
        let mut at = range.start;
        while at < range.end {
            let to = (at + COPY_CHUNK).min(range.end);
            let bytes = self.blobs.read_range(&self.key, at..to)?;
            if bytes.len() as u64 != to - at {
                return Err(Error::corrupt(&self.name, "short read from the store"));
            }
            out.write_all(&bytes)
                .map_err(Error::io_on("writing pack entries"))?;
            at = to;
        }
        Ok(())
    }
}

impl RangedPack {
    /// Bytes `range` through the block cache, without [`RangedPack::verify`].
    fn read_blocks(&self, range: Range<u64>) -> Result<Option<Cow<'_, [u8]>>, Error> {
        if range.start > range.end || range.end > self.len {
            return Ok(None);
        }
        if range.is_empty() {
            return Ok(Some(Cow::Borrowed(&[])));
        }
        let (first, last) = (range.start / BLOCK, (range.end - 1) / BLOCK);
        if last - first >= READ_AHEAD {
            // A large object: read it directly rather than through (and out of) the cache.
            return Ok(Some(self.blobs.read_range(&self.key, range)?.into()));
        }
        let mut out = Vec::with_capacity((range.end - range.start) as usize);
        let mut block = first;
        while block <= last {
            let Some(data) = self.cache.get((self.number, block)) else {
                let missing_to = (block..=last)
                    .take_while(|b| self.cache.get((self.number, *b)).is_none())
                    .last()
                    .unwrap_or(block);
                self.fetch(block, missing_to)?;
                continue;
            };
            let from = range.start.max(block * BLOCK) - block * BLOCK;
            let to = range.end.min((block + 1) * BLOCK) - block * BLOCK;
            let part = data
                .get(from as usize..to as usize)
                .ok_or_else(|| Error::corrupt(&self.name, "short block"))?;
            out.extend_from_slice(part);
            block += 1;
        }
        Ok(Some(Cow::Owned(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::ObjectStore as _;

    const HEX: &str = "abababababababababababababababababababab";

    /// A pack-like object of `len` bytes whose last 20 bytes are its "checksum" [`HEX`].
    fn setup(len: usize) -> (RangedPacks, Vec<u8>, tempfile::TempDir) {
        let rt = Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        );
        let mut data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        data[..4].copy_from_slice(b"PACX");
        let n = data.len();
        data[n - 20..].fill(0xab);
        let store = Arc::new(InMemory::new());
        let key = object_store::path::Path::from(format!("p/r/pack/pack-{HEX}.pack"));
        rt.block_on(store.put(&key, data.clone().into())).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(store, rt, tmp.path().to_path_buf(), u64::MAX, u64::MAX);
        let mut sizes = BTreeMap::new();
        sizes.insert(format!("pack-{HEX}"), len as u64);
        sizes.insert("pack-x".to_string(), len as u64);
        (
            RangedPacks::new(Arc::new(blobs), "p/r/".into(), sizes),
            data,
            tmp,
        )
    }

    #[test]
    fn ranges_across_blocks_read_ahead_and_copies_match_the_object() {
        let len = (BLOCK * 9 + 12345) as usize;
        let (packs, data, tmp) = setup(len);
        // The trailer check refuses a name that is not the content's (here: no such object),
        // on first use.
        let wrong = packs
            .open(&tmp.path().join("pack-x.pack"))
            .unwrap()
            .unwrap();
        assert!(wrong.read(0..4).is_err());
        let right = packs.open(&tmp.path().join(format!("pack-{HEX}.pack")));
        assert!(
            right.unwrap().unwrap().read(0..4).is_err(),
            "the fake pack has no PACK magic"
        );
        assert!(
            packs
                .open(&tmp.path().join("pack-y.pack"))
                .unwrap()
                .is_none(),
            "not listed"
        );

        let pack = RangedPack {
            blobs: Arc::clone(&packs.blobs),
            key: format!("p/r/pack/pack-{HEX}.pack"),
            name: "pack.pack".into(),
            len: len as u64,
            number: 0,
            cache: Arc::default(),
            next: AtomicU64::new(u64::MAX),
            hex: HEX.into(),
            verified: OnceLock::from(Ok(())),
        };
        for r in [
            0..10,
            BLOCK - 3..BLOCK + 3,
            BLOCK + 5..BLOCK * 2 + 1,
            BLOCK * 3..BLOCK * 3 + 100,
        ] {
            let got = pack.read(r.clone()).unwrap().unwrap();
            assert_eq!(&got[..], &data[r.start as usize..r.end as usize]);
        }
        // Block 3 came with the read-ahead of block 2: sequential reads share one GET.
        assert!(pack.cache.get((0, 4)).is_some(), "read ahead");
        let big = BLOCK * 2 + 7..BLOCK * 8;
        let got = pack.read(big.clone()).unwrap().unwrap();
        assert_eq!(&got[..], &data[big.start as usize..big.end as usize]);
        assert!(pack.read(0..len as u64 + 1).unwrap().is_none());
        let mut out = Vec::new();
        pack.copy(5..len as u64, &mut out).unwrap();
        assert_eq!(out, data[5..]);
    }

    #[test]
    fn the_block_cache_stays_within_its_bound() {
        let cache = BlockCache::default();
        let block = Arc::new(vec![0u8; BLOCK as usize]);
        for b in 0..100 {
            cache.put((0, b), Arc::clone(&block));
            assert!(cache.get((0, 0)).is_some(), "recently used stays");
        }
        let inner = cache.inner.lock().unwrap();
        assert!(inner.bytes <= CACHE_BYTES, "{}", inner.bytes);
        assert!(inner.map.contains_key(&(0, 99)));
    }
}
