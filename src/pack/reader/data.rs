//! Where a pack's bytes come from: [`PackData`] is the pack file as the object reader sees it
//! (ranges of bytes, borrowed when the store can, and long runs copied out), and [`PackSource`]
//! opens one for a `.pack` path.
//!
//! The on-disk backend maps its pack files ([`LocalPacks`]). The distributed backend keeps only
//! the indexes on local disk and reads pack data from the object store in ranges, so it opens
//! the same repository layout with a source of its own: everything above the bytes (entry
//! headers, delta chains, bitmaps, pack reuse) stays one implementation, in [`super`].

use std::borrow::Cow;
use std::fs::File;
use std::ops::Range;
use std::path::Path;

use memmap2::Mmap;

use super::Error;
use crate::odb::mmap::map;

/// Runs of stored entries at least this long are copied with `pread` through a buffer this big.
const COPY_BY_READ: usize = 256 << 10;

/// The bytes of one pack file.
pub trait PackData: Send + Sync {
    /// The pack's size in bytes, trailer included.
    fn size(&self) -> u64;

    /// Bytes `range`; `Ok(None)` when the range is not inside the pack.
    fn read(&self, range: Range<u64>) -> Result<Option<Cow<'_, [u8]>>, Error>;

    /// The bytes of the entry data that begins at `from`: at least up to the entry's end, which
    /// `end` computes when the store needs it (a mapped pack hands out the rest of the pack and
    /// never asks, so a lookup costs no reverse index).
    fn read_entry(&self, from: u64, end: &dyn Fn() -> u64) -> Result<Option<Cow<'_, [u8]>>, Error>;

    /// Writes bytes `range` to `out` (long runs: a whole pack for a clone).
    fn copy(&self, range: Range<u64>, out: &mut dyn std::io::Write) -> Result<(), Error>;
}

/// Opens the [`PackData`] of a `.pack` path.
pub trait PackSource: Send + Sync + std::fmt::Debug {
    /// The data of the pack at `pack_path`; `Ok(None)` when there is no such pack (the index
    /// is then not used, as git ignores an `.idx` without its `.pack`).
    fn open(&self, pack_path: &Path) -> Result<Option<Box<dyn PackData>>, Error>;
}

/// Pack files on local disk, memory-mapped: the on-disk backend's source.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalPacks;

impl PackSource for LocalPacks {
    fn open(&self, pack_path: &Path) -> Result<Option<Box<dyn PackData>>, Error> {
        if !pack_path.exists() {
            return Ok(None);
        }
        Ok(Some(Box::new(MappedPack::open(pack_path)?)))
    }
}

/// A mapped pack file, with the file kept open for copying long runs with `pread`.
pub struct MappedPack {
    map: Mmap,
    file: File,
    name: String,
}

impl MappedPack {
    /// Maps the pack at `path`, refusing a file that does not start like a pack.
    pub fn open(path: &Path) -> Result<MappedPack, Error> {
        let map = map(path)?;
        if !map.starts_with(b"PACK") {
            return Err(Error::corrupt(
                path.display().to_string(),
                "not a pack file",
            ));
        }
        Ok(MappedPack {
            map,
            file: File::open(path).map_err(Error::io_on(path.display().to_string()))?,
            name: path.display().to_string(),
        })
    }

    fn slice(&self, range: Range<u64>) -> Option<&[u8]> {
        let start = usize::try_from(range.start).ok()?;
        let end = usize::try_from(range.end).ok()?;
        self.map.get(start..end)
    }
}

impl PackData for MappedPack {
    fn size(&self) -> u64 {
        self.map.len() as u64
    }

    fn read(&self, range: Range<u64>) -> Result<Option<Cow<'_, [u8]>>, Error> {
        Ok(self.slice(range).map(Cow::Borrowed))
    }

    fn read_entry(
        &self,
        from: u64,
        _end: &dyn Fn() -> u64,
    ) -> Result<Option<Cow<'_, [u8]>>, Error> {
        // To the end of the file: inflating stops at the entry's own end of stream, so the
        // trailer (of whichever hash width) is never taken for entry data.
        Ok(self.slice(from..self.size()).map(Cow::Borrowed))
    }

    fn copy(&self, range: Range<u64>, out: &mut dyn std::io::Write) -> Result<(), Error> {
        let bytes = self
            .slice(range.clone())
            .ok_or_else(|| Error::corrupt(&self.name, "entries beyond the pack"))?;
        let written = |e| Error::io_on("writing pack entries")(e);
        if bytes.len() < COPY_BY_READ {
            return out.write_all(bytes).map_err(written);
        }
        // Long runs (a whole pack, for a full clone) are read into a small buffer rather than
        // touched through the map, so the pages do not count in this process's resident memory.
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; COPY_BY_READ];
        let mut at = range.start;
        while at < range.end {
            let n = usize::try_from(range.end - at).map_or(buf.len(), |n| n.min(buf.len()));
            self.file
                .read_exact_at(&mut buf[..n], at)
                .map_err(Error::io_on(self.name.as_str()))?;
            out.write_all(&buf[..n]).map_err(written)?;
            at += n as u64;
        }
        Ok(())
    }
}
