//! Pack ingestion for push: our `index-pack --stdin --fix-thin`.
//!
//! Pass 1 streams the pack from the client into a local spool file, parsing every entry header,
//! inflating every zlib stream with its output bounded by the declared size, hashing whole
//! objects (with the repository's hash; SHA-1 with collision detection) and computing each
//! entry's CRC32, and finally checks
//! the trailer. Pass 2 resolves deltas: starting from each whole object it walks the tree of
//! deltas built on it (an explicit stack: chains may be thousands deep), re-reading delta data
//! from the spool. REF deltas whose base is not in the pack (thin packs) get their base from the
//! repository; such bases are appended to the pack, the object count and trailer rewritten, so
//! the stored pack is self-contained, as `--fix-thin` does.
//!
//! Nothing here knows where the spool lives or what happens to the pack afterwards.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::FileExt;

use flate2::{Decompress, FlushDecompress, Status};

use crate::hash::{HashKind, Hasher, ObjectId};
use crate::odb::{Kind, Object};
use crate::pack::delta;
use crate::pack::entry::{decode_header, decode_ofs_distance, encode_header, EntryType};
use crate::progress::Progress;

pub use crate::limits::Limits;

/// How indexing spends threads and memory. Not limits on what the client may ask (those are
/// [`Limits`]: pack bytes, object bytes, object count, delta depth), so not configurable by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// Most threads resolving deltas (at least one).
    pub max_threads: usize,
    /// Packs with fewer deltas are resolved on the calling thread: starting and joining
    /// threads would cost a small push more than it saves.
    pub parallel_min_deltas: u64,
    /// Packs declaring fewer objects are hashed on the reading thread: for a small push the
    /// hashing thread saves less than a millisecond, and a thread costs its stack, its malloc
    /// arena and a second copy of every object queued to it (a 10-commit push peaked higher).
    pub hash_thread_min_objects: u32,
    /// Inflated deltas kept in memory between the passes, in bytes (small ones only).
    pub delta_cache_bytes: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            max_threads: crate::limits::cores(),
            parallel_min_deltas: 256,
            hash_thread_min_objects: 1024,
            delta_cache_bytes: 32 << 20,
        }
    }
}

/// Why a pack was refused. Messages are short, one line, fit for `unpack <reason>`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The stream is not a pack, or a field is malformed.
    #[error("bad pack: {0}")]
    Format(String),
    /// The stream ended early.
    #[error("pack truncated {0}")]
    Truncated(String),
    /// The trailer does not match the content.
    #[error("pack checksum mismatch")]
    Checksum,
    /// A limit was exceeded.
    #[error("pack exceeds {what} limit of {limit}")]
    Limit {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: u64,
    },
    /// A delta could not be applied.
    #[error("bad delta at offset {offset}: {source}")]
    Delta {
        /// Entry offset.
        offset: u64,
        /// Why.
        source: delta::Error,
    },
    /// A delta base exists nowhere.
    #[error("missing delta base {0}")]
    MissingBase(ObjectId),
    /// Hashing detected a SHA-1 collision attack.
    #[error("SHA-1 collision attack detected in object at offset {0}")]
    Collision(u64),
    /// An object failed the caller's check (fsck).
    #[error("{0}")]
    Fsck(String),
    /// The repository failed while looking up a base.
    #[error("looking up a delta base: {0}")]
    Base(String),
    /// The spool file failed.
    #[error("spool I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Supplies objects from the repository to complete thin packs, and the repository's hash (the
/// width of REF_DELTA base names and of the trailer, and how object ids are computed).
pub trait BaseLookup {
    /// The hash of the repository the pack is for.
    fn hash_kind(&self) -> HashKind;

    /// The object `id`, if the repository has it.
    fn base(&self, id: &ObjectId) -> Result<Option<Object>, Error>;
}

/// Thin-pack bases from any object store (`0`: the repository a push is for).
pub struct StoreBases<'a>(pub &'a dyn crate::odb::store::ObjectStore);

impl BaseLookup for StoreBases<'_> {
    fn hash_kind(&self) -> HashKind {
        self.0.hash_kind()
    }

    fn base(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        self.0
            .read_object(id)
            .map_err(|e| Error::Base(e.to_string()))
    }
}

/// One indexed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Its id.
    pub id: ObjectId,
    /// Entry offset in the pack.
    pub offset: u64,
    /// CRC32 of the raw entry bytes (header through compressed data).
    pub crc32: u32,
    /// Object kind.
    pub kind: Kind,
}

/// The result of [`index_pack`].
#[derive(Debug, Clone)]
pub struct Indexed {
    /// Every object, in pack order.
    pub entries: Vec<IndexEntry>,
    /// The pack trailer (after thin-pack completion, the new one).
    pub pack_checksum: ObjectId,
    /// Bases appended to complete a thin pack.
    pub appended_bases: usize,
}

/// Where a delta's base is. A REF delta's id is boxed: they are rare (thin-pack bases), and an
/// inline id would widen every entry of the table.
#[derive(Debug, Clone)]
enum BaseRef {
    None,
    Offset(u64),
    Id(Box<ObjectId>),
}

#[derive(Debug, Clone)]
struct Raw {
    offset: u64,
    data_at: u64,
    data_len: u64,
    size: u64,
    base: BaseRef,
    crc32: u32,
    /// Known for whole objects after pass 1 (deltas are resolved in pass 2); their ids are
    /// the resolver's, not kept here, so that the table stays narrow.
    kind: Option<Kind>,
    /// Where the inflated delta sits in the [`resolve::DeltaCache`], if it was kept.
    cached: Option<std::ops::Range<usize>>,
}

/// Reads from a buffered source while copying every consumed byte to the spool, the pack hasher
/// and the current entry's CRC.
struct Tee<'a, R: BufRead> {
    src: R,
    spool: std::io::BufWriter<&'a mut File>,
    hasher: Hasher,
    /// The repository's hash.
    hash: HashKind,
    crc: crc32fast::Hasher,
    pos: u64,
    limit: u64,
    /// Reused across entries: creating a decompressor per object dominated the profile.
    z: Option<Decompress>,
    out: Vec<u8>,
}

impl<R: BufRead> Tee<'_, R> {
    fn take(&mut self, n: usize) -> Result<(), Error> {
        self.src.consume(n);
        Ok(())
    }

    fn record(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.pos += bytes.len() as u64;
        if self.pos > self.limit {
            return Err(Error::Limit {
                what: "pack size",
                limit: self.limit,
            });
        }
        self.spool.write_all(bytes)?;
        self.hasher.update(bytes);
        self.crc.update(bytes);
        Ok(())
    }

    /// Reads exactly `n` bytes (`n` small), recording them.
    fn read_exact_small(&mut self, n: usize, what: &str) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let buf = self.src.fill_buf()?;
            if buf.is_empty() {
                return Err(Error::Truncated(format!("in {what}")));
            }
            let k = buf.len().min(n - out.len());
            out.extend_from_slice(&buf[..k]);
            let chunk = buf[..k].to_vec();
            self.record(&chunk)?;
            self.take(k)?;
        }
        Ok(out)
    }

    /// Reads a varint-terminated header: bytes until one without the high bit (max `max`).
    fn read_varint_bytes(
        &mut self,
        first: Vec<u8>,
        max: usize,
        what: &str,
    ) -> Result<Vec<u8>, Error> {
        let mut v = first;
        while v.last().is_some_and(|b| b & 0x80 != 0) {
            if v.len() >= max {
                return Err(Error::Format(format!("{what} too long")));
            }
            let b = self.read_exact_small(1, what)?;
            v.extend_from_slice(&b);
        }
        Ok(v)
    }

    /// Inflates one zlib stream, passing output chunks to `sink`; returns the inflated length.
    /// Output beyond `expected` is an error (inflate bombs stop there).
    fn inflate(&mut self, expected: u64, sink: impl FnMut(&[u8]), at: u64) -> Result<u64, Error> {
        let mut z = self.z.take().unwrap_or_else(|| Decompress::new(true));
        let mut out = std::mem::take(&mut self.out);
        z.reset(true);
        if out.len() < 64 * 1024 {
            out.resize(64 * 1024, 0);
        }
        let result = self.inflate_with(&mut z, &mut out, expected, sink, at);
        self.z = Some(z);
        self.out = out;
        result
    }

    fn inflate_with(
        &mut self,
        z: &mut Decompress,
        out: &mut [u8],
        expected: u64,
        mut sink: impl FnMut(&[u8]),
        at: u64,
    ) -> Result<u64, Error> {
        let mut total: u64 = 0;
        loop {
            let input = self.src.fill_buf()?;
            let eof = input.is_empty();
            let (in_before, out_before) = (z.total_in(), z.total_out());
            let status = z
                .decompress(
                    input,
                    out,
                    if eof {
                        FlushDecompress::Finish
                    } else {
                        FlushDecompress::None
                    },
                )
                .map_err(|e| Error::Format(format!("zlib error in entry at offset {at}: {e}")))?;
            let used = (z.total_in() - in_before) as usize;
            let produced = (z.total_out() - out_before) as usize;
            let consumed = input[..used].to_vec();
            self.record(&consumed)?;
            self.take(used)?;
            total += produced as u64;
            if total > expected {
                return Err(Error::Format(format!(
                    "entry at offset {at} inflates to more than its declared {expected} bytes"
                )));
            }
            sink(&out[..produced]);
            match status {
                Status::StreamEnd => return Ok(total),
                _ if eof && used == 0 && produced == 0 => {
                    return Err(Error::Truncated(format!("in the entry at offset {at}")))
                }
                _ => {}
            }
        }
    }
}

/// Checks one received commit, tree or tag (id, kind, content); an `Err` refuses the pack.
/// Called from several threads at once (deltas are resolved in parallel).
pub type ObjectCheck<'a> = &'a (dyn Fn(&ObjectId, Kind, &[u8]) -> Result<(), String> + Sync);

/// Accepts every object.
pub fn no_check(_: &ObjectId, _: Kind, _: &[u8]) -> Result<(), String> {
    Ok(())
}

/// Streams a pack from `input` into `spool` (an empty file opened read+write), indexes it,
/// resolves deltas (taking thin-pack bases from `bases`) within `limits`, spending threads and
/// memory as `tuning` says, runs `check` on every commit, tree and tag while its content is at
/// hand, and returns the index entries.
pub fn index_pack(
    input: &mut dyn Read,
    spool: &mut File,
    bases: &dyn BaseLookup,
    limits: &Limits,
    tuning: &Tuning,
    check: ObjectCheck<'_>,
    progress: &mut dyn Progress,
) -> Result<Indexed, Error> {
    // Pass 1: every entry read, spooled, hashed when whole (on a second thread, see
    // `hash_thread`); small deltas kept.
    let mut delta_cache = resolve::DeltaCache::new(tuning.delta_cache_bytes);
    let hash = bases.hash_kind();
    let mut tee = Tee {
        src: BufReader::with_capacity(128 * 1024, input),
        spool: std::io::BufWriter::with_capacity(256 * 1024, &mut *spool),
        // The trailer only guards transfer integrity; every object is hashed with collision
        // detection on its own.
        hasher: Hasher::trailer_only(hash),
        hash,
        crc: crc32fast::Hasher::new(),
        pos: 0,
        limit: limits.pack_bytes_bound(),
        z: None,
        out: vec![0u8; 64 * 1024],
    };
    let count = read_pack_header(&mut tee, limits)?;
    let hash_thread = tuning.max_threads > 1 && count >= tuning.hash_thread_min_objects;
    let (raws, whole_ids, checksum) = std::thread::scope(|s| {
        let hashing = hash_thread.then(|| hash_thread::HashThread::start(s, check, hash));
        let mut pass = Pass1 {
            limits,
            check,
            delta_cache: &mut delta_cache,
            hashing: hashing.as_ref(),
            inline_ids: Vec::new(),
        };
        let read = read_entries(&mut tee, &mut pass, count, progress);
        let mut inline_ids = pass.inline_ids;
        let ids = hashing.map_or(Ok(Vec::new()), hash_thread::HashThread::finish);
        // The hashing thread's error explains a queue that stopped taking objects.
        let (raws, mut ids) = match (read, ids) {
            (_, Err(e)) | (Err(e), _) => return Err(e),
            (Ok(r), Ok(ids)) => (r, ids),
        };
        ids.append(&mut inline_ids);
        let checksum = read_trailer(&mut tee)?;
        Ok((raws, ids, checksum))
    })?;
    drop(tee);
    progress.input_done();

    // Pass 2: resolve deltas, on several threads (see `resolve`).
    let resolver = resolve::Resolver::new(spool, &raws, &delta_cache, limits, tuning, check, hash)?;
    resolver.record_whole(whole_ids);
    resolver.resolve_all(progress)?;
    // Thin pack: REF deltas against objects we already have.
    let (appended_entries, end) = append_thin_bases(spool, &resolver, bases)?;
    let resolved = resolver.finish(progress)?;
    let mut entries: Vec<IndexEntry> = raws
        .iter()
        .zip(resolved)
        .map(|(r, (id, kind))| IndexEntry {
            id,
            offset: r.offset,
            crc32: r.crc32,
            kind,
        })
        .collect();
    let appended = appended_entries.len();
    let mut pack_checksum = checksum;
    if appended > 0 {
        entries.extend(appended_entries);
        pack_checksum = rewrite_count_and_trailer(spool, entries.len(), end, hash)?;
    }
    Ok(Indexed {
        entries,
        pack_checksum,
        appended_bases: appended,
    })
}

/// What pass 1 does with each entry it reads.
struct Pass1<'a, 's> {
    limits: &'a Limits,
    check: ObjectCheck<'a>,
    /// Small deltas kept for pass 2.
    delta_cache: &'a mut resolve::DeltaCache,
    /// The hashing thread, if there is one.
    hashing: Option<&'a hash_thread::HashThread<'s>>,
    /// Ids of the whole objects hashed on the reading thread, by entry number.
    inline_ids: Vec<(usize, ObjectId)>,
}

/// Reads the `count` entries the pack header declared, pass 1 (not the trailer).
fn read_entries<R: BufRead>(
    tee: &mut Tee<'_, R>,
    pass: &mut Pass1<'_, '_>,
    count: u32,
    progress: &mut dyn Progress,
) -> Result<Vec<Raw>, Error> {
    // Do not trust `count` for allocation sizes.
    let mut raws: Vec<Raw> = Vec::with_capacity((count as usize).min(1 << 16));
    for n in 0..count {
        raws.push(read_entry(tee, pass, n as usize)?);
        if n % 1024 == 0 {
            progress.update("Receiving objects", u64::from(n), Some(u64::from(count)));
        }
    }
    let total = Some(u64::from(count));
    progress.finish("Receiving objects", u64::from(count), total);
    Ok(raws)
}

/// Reads and checks the 12-byte pack header; returns the entry count it declares.
fn read_pack_header<R: BufRead>(tee: &mut Tee<'_, R>, limits: &Limits) -> Result<u32, Error> {
    let header = tee.read_exact_small(12, "the pack header")?;
    if &header[..4] != b"PACK" {
        return Err(Error::Format("stream does not start with PACK".into()));
    }
    let version = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if version != 2 && version != 3 {
        return Err(Error::Format(format!("unsupported pack version {version}")));
    }
    let count = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
    if count > limits.max_objects {
        return Err(Error::Limit {
            what: "object count",
            limit: u64::from(limits.max_objects),
        });
    }
    Ok(count)
}

/// Reads a delta entry's base reference (the entry at `offset` is of type `ty`).
fn read_base_ref<R: BufRead>(
    tee: &mut Tee<'_, R>,
    ty: EntryType,
    offset: u64,
) -> Result<BaseRef, Error> {
    Ok(match ty {
        EntryType::OfsDelta => {
            let first = tee.read_exact_small(1, "an ofs-delta offset")?;
            let bytes = tee.read_varint_bytes(first, 10, "ofs-delta offset")?;
            let (dist, _) = decode_ofs_distance(&bytes)
                .map_err(|e| Error::Format(format!("entry at offset {offset}: {e}")))?;
            let base = offset
                .checked_sub(dist)
                .filter(|_| dist > 0)
                .ok_or_else(|| {
                    Error::Format(format!(
                        "entry at offset {offset}: ofs-delta base out of range"
                    ))
                })?;
            BaseRef::Offset(base)
        }
        EntryType::RefDelta => {
            let raw = tee.read_exact_small(tee.hash.len_in_bytes(), "a ref-delta base")?;
            let id = ObjectId::from_bytes(&raw).map_err(|e| Error::Format(e.to_string()))?;
            BaseRef::Id(Box::new(id))
        }
        _ => BaseRef::None,
    })
}

/// Reads one entry: its header and base reference, then its data, inflated as it streams
/// through. A whole object is hashed (and, unless a blob, given to `check`); a small delta is
/// kept in `delta_cache` for pass 2.
fn read_entry<R: BufRead>(
    tee: &mut Tee<'_, R>,
    pass: &mut Pass1<'_, '_>,
    n: usize,
) -> Result<Raw, Error> {
    let (limits, check, hashing) = (pass.limits, pass.check, pass.hashing);
    let delta_cache = &mut *pass.delta_cache;
    let offset = tee.pos;
    tee.crc = crc32fast::Hasher::new();
    let first = tee.read_exact_small(1, "an entry header")?;
    let head = tee.read_varint_bytes(first, 10, "entry header")?;
    let (ty, size, _) = decode_header(&head)
        .map_err(|e| Error::Format(format!("entry at offset {offset}: {e}")))?;
    if size > limits.max_object_bytes {
        return Err(Error::Limit {
            what: "object size",
            limit: limits.max_object_bytes,
        });
    }
    let base = read_base_ref(tee, ty, offset)?;
    let data_at = tee.pos;
    let mut cached = None;
    let queue = hashing.filter(|_| size <= hash_thread::MAX_QUEUED);
    let kind = if let (Some(kind), Some(queue)) = (ty.kind(), queue) {
        let mut data = Vec::with_capacity(size as usize);
        let got = tee.inflate(size, |chunk| data.extend_from_slice(chunk), offset)?;
        if got != size {
            return Err(Error::Format(format!(
                "entry at offset {offset} inflates to {got} bytes, declared {size}"
            )));
        }
        let job = hash_thread::Job {
            n,
            offset,
            kind,
            data,
        };
        if !queue.send(job) {
            return Err(Error::Format("object hashing stopped".into()));
        }
        Some(kind)
    } else if let Some(kind) = ty.kind() {
        let mut h = Hasher::new(tee.hash);
        h.update(format!("{} {size}\0", kind.as_str()).as_bytes());
        // Commits, trees and tags are kept for the object check; blobs stream through.
        let mut content = Vec::new();
        let keep = kind != Kind::Blob;
        let got = tee.inflate(
            size,
            |chunk| {
                h.update(chunk);
                if keep {
                    content.extend_from_slice(chunk);
                }
            },
            offset,
        )?;
        if got != size {
            return Err(Error::Format(format!(
                "entry at offset {offset} inflates to {got} bytes, declared {size}"
            )));
        }
        let id = h.finish().map_err(|_| Error::Collision(offset))?;
        if keep {
            check(&id, kind, &content).map_err(Error::Fsck)?;
        }
        pass.inline_ids.push((n, id));
        Some(kind)
    } else {
        // Small deltas stay in memory for pass 2 instead of being re-read and re-inflated from
        // the spool.
        let keep = delta_cache.admits(size);
        let start = delta_cache.len();
        let got = tee.inflate(
            size,
            |chunk| {
                if keep {
                    delta_cache.push(chunk);
                }
            },
            offset,
        )?;
        if got != size {
            return Err(Error::Format(format!(
                "delta at offset {offset} inflates to {got} bytes, declared {size}"
            )));
        }
        cached = keep.then(|| start..delta_cache.len());
        None
    };
    let crc32 = std::mem::replace(&mut tee.crc, crc32fast::Hasher::new()).finalize();
    Ok(Raw {
        offset,
        data_at,
        data_len: tee.pos - data_at,
        size,
        base,
        crc32,
        kind,
        cached,
    })
}

/// Reads the trailer (not itself hashed), checks it against the hash of everything before it,
/// and spools it; returns it.
fn read_trailer<R: BufRead>(tee: &mut Tee<'_, R>) -> Result<ObjectId, Error> {
    let expected = std::mem::take(&mut tee.hasher)
        .finish()
        .map_err(|_| Error::Collision(tee.pos))?;
    let width = tee.hash.len_in_bytes();
    let mut trailer = vec![0u8; width];
    let mut got = 0;
    while got < width {
        let buf = tee.src.fill_buf()?;
        if buf.is_empty() {
            return Err(Error::Truncated("in the trailer".into()));
        }
        let k = buf.len().min(width - got);
        trailer[got..got + k].copy_from_slice(&buf[..k]);
        tee.src.consume(k);
        got += k;
    }
    if trailer != expected.as_bytes() {
        return Err(Error::Checksum);
    }
    tee.spool.write_all(&trailer)?;
    tee.spool.flush()?;
    Ok(expected)
}

/// Completes a thin pack: appends each base the resolver still misses (taken from `bases`) to
/// `spool` as a whole object, over the old trailer, and resolves the deltas on it. Returns the
/// appended entries and where the pack's data now ends.
fn append_thin_bases(
    spool: &File,
    resolver: &resolve::Resolver<'_>,
    bases: &dyn BaseLookup,
) -> Result<(Vec<IndexEntry>, u64), Error> {
    let mut end = spool.metadata()?.len() - bases.hash_kind().len_in_bytes() as u64;
    let mut appended: Vec<IndexEntry> = Vec::new();
    let mut deflater = crate::odb::zlib::Deflater::new(6);
    while let Some(base_id) = resolver.next_missing_base() {
        let obj = bases.base(&base_id)?.ok_or(Error::MissingBase(base_id))?;
        let mut entry = Vec::new();
        let ty = EntryType::from_kind(obj.kind);
        encode_header(ty, obj.data.len() as u64, &mut entry);
        let entry = deflater.compress(entry, &[&obj.data])?;
        spool.write_all_at(&entry, end)?;
        appended.push(IndexEntry {
            id: base_id,
            offset: end,
            crc32: crc32fast::hash(&entry),
            kind: obj.kind,
        });
        end += entry.len() as u64;
        resolver.resolve_on_external_base(&base_id, obj.kind, &obj.data)?;
    }
    Ok((appended, end))
}

/// After thin-pack completion: writes the new entry count `count` into the header, hashes the
/// pack's `end` bytes with `hash` and writes that trailer after them; returns it.
fn rewrite_count_and_trailer(
    spool: &File,
    count: usize,
    end: u64,
    hash: HashKind,
) -> Result<ObjectId, Error> {
    spool.set_len(end)?;
    let count = u32::try_from(count).map_err(|_| Error::Format("too many objects".into()))?;
    spool.write_all_at(&count.to_be_bytes(), 8)?;
    let mut h = Hasher::trailer_only(hash);
    // Sized to the pack when it is small (a thin push's is a few KiB).
    let mut buf = vec![0u8; end.min(1 << 20) as usize];
    let mut pos = 0u64;
    while pos < end {
        let n = (end - pos).min(buf.len() as u64) as usize;
        spool.read_exact_at(&mut buf[..n], pos)?;
        h.update(&buf[..n]);
        pos += n as u64;
    }
    let checksum = h.finish().map_err(|_| Error::Collision(0))?;
    spool.write_all_at(checksum.as_bytes(), end)?;
    Ok(checksum)
}

mod hash_thread;
mod resolve;

#[cfg(test)]
mod tests;
