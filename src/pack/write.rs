//! Writing packs: `PACK`, version 2, the object count, entries, and the SHA-1 trailer, streamed
//! to any `Write` (the sideband) without buffering the pack.
//!
//! Entries are reused from storage whenever possible ([`Repository::raw_entry`]): whole objects
//! and deltas are copied compressed, byte for byte. A stored delta is kept when its base is in
//! this pack (written first, so an OFS_DELTA can point back at it) or, for thin packs, when the
//! client already has the base ([`crate::walk::Walk::edge`]); otherwise the object is inflated
//! and written whole.
//!
//! Objects with no reusable stored form (loose objects, deltas whose base is not in the pack)
//! are *targets* of a delta search ([`crate::pack::delta_search`]) before anything is written;
//! a delta found there is written as OFS_DELTA (or REF_DELTA) after its base. For a thin pack
//! the search may also pick a *preferred base* the client has ([`crate::walk::preferred_bases`]);
//! such a delta is a REF_DELTA naming an object outside the pack. With preferred bases, the
//! objects stored whole and the stored deltas against edge objects that are no preferred base are
//! targets as well (git's `prepare_pack` searches every object not reusing a delta): the newest
//! version of a file, stored whole, is then sent as a delta against the client's previous one. A pack for a client that did not
//! ask for `thin-pack` never names one. When every object is reused, the search costs one look at
//! each stored entry and nothing else. Memory holds one object at a time while writing, plus what
//! the search keeps (bounded by its options).

use std::io::Write;

use flate2::write::ZlibEncoder;
use flate2::Compression;

use crate::hash::{Hasher, IdSet, ObjectId, PackedIdMap, PackedIdSet};
use crate::odb::store::{self, RawEntry, StoredForm};
use crate::pack::delta_search::{self, Bases, NewDelta, Node, SearchOptions};
use crate::pack::entry::{encode_delta_header, encode_header, DeltaBase, EntryType};
use crate::pack::stored::PackStore;
use crate::progress::Progress;
use crate::walk::PackObject;

/// How to write a pack.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// The client accepts OFS_DELTA entries.
    pub ofs_delta: bool,
    /// The client accepts REF_DELTA entries against objects not in the pack (`thin-pack`).
    pub thin: bool,
    /// Reuse stored deltas at all.
    pub reuse_deltas: bool,
    /// zlib level for objects that must be compressed here (git's default, 6... see `core.compression`).
    pub compression: u32,
    /// Longest delta chain to reuse.
    pub max_delta_depth: u32,
    /// The delta search for objects that would be written whole (`window` below 2 turns it off).
    pub search: SearchOptions,
    /// Keep the stored entries the delta search looked up until each is written: one look-up
    /// in the `.idx` per object instead of two, for about 80 bytes per object while writing.
    /// A repack, whose time is the pack's, wants it; upload-pack keeps its memory.
    pub keep_stored: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            ofs_delta: false,
            thin: false,
            reuse_deltas: true,
            compression: 6,
            max_delta_depth: 50,
            search: SearchOptions::default(),
            keep_stored: false,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Entries written.
    pub objects: u64,
    /// Entries written as deltas.
    pub deltas: u64,
    /// Entries copied from storage.
    pub reused: u64,
    /// Deltas copied from storage.
    pub reused_deltas: u64,
    /// Bytes written, trailer included.
    pub bytes: u64,
}

/// Why a pack could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository failed.
    #[error(transparent)]
    Backend(#[from] store::Error),
    /// More objects than a pack header can count.
    #[error("too many objects for one pack: {0}")]
    TooMany(usize),
    /// Writing failed.
    #[error("writing pack: {0}")]
    Io(#[from] std::io::Error),
    /// The delta search failed.
    #[error(transparent)]
    Search(#[from] delta_search::Error),
}

/// A `Write` that hashes and counts what passes through (the pack trailer's hash: each object
/// in the pack is named by its own hash, so the trailer needs no collision detection).
pub(super) struct Hashing<'a> {
    out: &'a mut dyn Write,
    hasher: Hasher,
    /// The trailer, when known in advance (a verbatim copy of a whole stored pack): nothing is
    /// hashed then.
    known_trailer: Option<ObjectId>,
    /// Bytes written so far.
    pub(super) bytes: u64,
}

impl<'a> Hashing<'a> {
    /// Starts a pack of `count` objects on `out` (writes the header), its trailer hashed with
    /// the repository's `hash`.
    pub(super) fn start(
        out: &'a mut dyn Write,
        count: usize,
        hash: crate::hash::HashKind,
    ) -> Result<Self, Error> {
        Self::start_with(out, count, hash, None)
    }

    /// Starts a pack whose bytes will be exactly a stored pack's, so its trailer is the stored
    /// one: hashing 20 MB again was a third of a bitmap clone's CPU.
    pub(super) fn start_verbatim(
        out: &'a mut dyn Write,
        count: usize,
        trailer: ObjectId,
    ) -> Result<Self, Error> {
        Self::start_with(out, count, trailer.kind(), Some(trailer))
    }

    fn start_with(
        out: &'a mut dyn Write,
        count: usize,
        hash: crate::hash::HashKind,
        known_trailer: Option<ObjectId>,
    ) -> Result<Self, Error> {
        let n = u32::try_from(count).map_err(|_| Error::TooMany(count))?;
        let mut w = Hashing {
            out,
            hasher: Hasher::trailer_only(hash),
            known_trailer,
            bytes: 0,
        };
        let mut header = Vec::with_capacity(12);
        header.extend_from_slice(b"PACK");
        header.extend_from_slice(&2u32.to_be_bytes());
        header.extend_from_slice(&n.to_be_bytes());
        w.write_all(&header)?;
        Ok(w)
    }

    /// Writes the trailer, completes `stats.bytes` and reports the totals as git does.
    pub(super) fn finish(
        self,
        stats: &mut WriteStats,
        pack_reused: u64,
        progress: &mut dyn Progress,
    ) -> Result<(), Error> {
        let trailer = match self.known_trailer {
            Some(t) => t,
            None => self
                .hasher
                .finish()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?,
        };
        self.out.write_all(trailer.as_bytes())?;
        stats.bytes = self.bytes + trailer.as_bytes().len() as u64;
        progress.message(&format!(
            "Total {} (delta {}), reused {} (delta {}), pack-reused {}",
            stats.objects, stats.deltas, stats.reused, stats.reused_deltas, pack_reused
        ));
        Ok(())
    }
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        if self.known_trailer.is_none() {
            self.hasher.update(&buf[..n]);
        }
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// How one object will be written.
enum Plan {
    Whole,
    Reuse,
    DeltaInPack(ObjectId),
    ThinDelta(ObjectId),
    /// A delta the search found against an object in this pack.
    NewDelta(ObjectId),
    /// A delta the search found against an object the client has (thin packs only).
    NewThinDelta(ObjectId),
}

/// Writes `objects` as a pack to `out`. `edge` holds objects the client has: stored deltas
/// against them are reused in a thin pack; `bases`, some of them with the name hashes of their
/// paths, are offered to the delta search as bases for a thin pack. Without `opts.thin` neither is
/// used and the pack is self-contained.
pub fn write_pack(
    repo: &dyn PackStore,
    objects: &[PackObject],
    edge: &PackedIdSet,
    bases: &[PackObject],
    opts: &WriteOptions,
    out: &mut dyn Write,
    progress: &mut dyn Progress,
) -> Result<WriteStats, Error> {
    write_pack_with_offsets(repo, objects, edge, bases, opts, out, progress).map(|(stats, _)| stats)
}

/// [`write_pack`], also returning where each object's entry starts, by its position in
/// `objects` ([`NOT_WRITTEN`] at a repeated id's other positions): what a pack kept on disk
/// needs for its `.idx` and `.bitmap` (entries are not in `objects` order when a delta base is
/// written ahead of the object that first named it).
pub fn write_pack_with_offsets(
    repo: &dyn PackStore,
    objects: &[PackObject],
    edge: &PackedIdSet,
    bases: &[PackObject],
    opts: &WriteOptions,
    out: &mut dyn Write,
    progress: &mut dyn Progress,
) -> Result<(WriteStats, Vec<u64>), Error> {
    // Tables with an entry per object sent keep their ids packed (a clone's are its size).
    let mut index: PackedIdMap<u32> = PackedIdMap::with_capacity(objects.len());
    for (i, o) in objects.iter().enumerate() {
        index.insert(&o.id, i as u32);
    }
    // Only what the client is known to have, and nothing the pack carries itself.
    let thin_bases: Vec<PackObject> = if opts.thin {
        bases
            .iter()
            .filter(|b| edge.contains(&b.id) && !index.contains_key(&b.id))
            .copied()
            .collect()
    } else {
        Vec::new()
    };
    let all = Bases {
        objects,
        edge: &thin_bases,
    };
    // git's `prepare_pack` searches every object not reusing a stored delta. Sluice spares a
    // pack with no bases outside it that cost (a clone of loose objects: the stored whole
    // objects were searched when their pack was made), but a thin pack's whole objects are
    // mostly the newest versions of files whose previous versions the client holds, and a
    // delta against those is what makes an incremental fetch small. A stored delta against an
    // edge object that is no preferred base (one far from the paths or versions sent) is
    // searched too, and kept only when the search finds nothing smaller: git would not reuse
    // it at all, and on a merge-heavy history it was 10 % of a fetch's bytes.
    let preferred: IdSet = thin_bases.iter().map(|b| b.id).collect();
    let retry = (!preferred.is_empty()).then_some(&preferred);
    let (found, mut stored) = search(repo, all, &index, edge, opts, retry, progress)?;
    let mut w = Hashing::start(out, objects.len(), repo.hash_kind())?;

    let mut stats = WriteStats::default();
    let mut written = Offsets {
        index: &index,
        at: vec![NOT_WRITTEN; objects.len()],
    };
    let mut in_progress: IdSet = IdSet::default();
    let mut buf = Vec::new();
    let total = objects.len() as u64;
    for (i, obj) in objects.iter().enumerate() {
        // Write `obj`, first writing any in-pack delta bases it depends on (iteratively).
        let mut stack = vec![obj.id];
        while let Some(&id) = stack.last() {
            let at = index
                .get(&id)
                .map(|&i| i as usize)
                .ok_or(store::Error::MissingObject(id))?;
            if written.at[at] != NOT_WRITTEN {
                stack.pop();
                continue;
            }
            let found_delta = found.get(&(at as u32));
            // The search looked each stored entry up already: one look-up per object.
            let read = stored.get_mut(at).and_then(Option::take);
            let (new_delta, entry) = delta_or_stored(
                repo,
                found_delta,
                (&id, read),
                retry.is_some(),
                &index,
                edge,
                opts,
            )?;
            let plan = match new_delta {
                Some(d) => new_delta_plan(all, d.base, edge, opts, &in_progress),
                None => plan(entry.as_ref(), &index, edge, opts, &in_progress),
            };
            if let Plan::DeltaInPack(base) | Plan::NewDelta(base) = plan {
                if written.of(&base).is_none() {
                    in_progress.insert(id);
                    stack.push(base);
                    continue;
                }
            }
            in_progress.remove(&id);
            let offset = w.bytes;
            let entry = Entry {
                id,
                kind: objects[at].kind,
                plan,
                stored: entry,
                new_delta,
                offset,
            };
            write_entry(repo, entry, &written, opts, &mut buf, &mut w, &mut stats)?;
            written.at[at] = offset;
            stats.objects += 1;
            stack.pop();
        }
        if i % 1024 == 0 {
            progress.update("Writing objects", i as u64, Some(total));
        }
    }
    // As the bitmap writer and git's pack-objects: the stage ends with a "done." line before
    // the totals, rather than stopping on the last throttled update.
    progress.finish("Writing objects", total, Some(total));
    w.finish(&mut stats, 0, progress)?;
    Ok((stats, written.at))
}

/// [`write_pack_with_offsets`]' offset at an `objects` position whose entry is not written.
pub const NOT_WRITTEN: u64 = u64::MAX;

/// Where each object written so far starts, by its position in the list: a vector beside the
/// id index the writer has anyway, not a second table keyed by id (13 MB at a 150,000-object
/// repack's peak).
struct Offsets<'a> {
    /// The position of each id in the list.
    index: &'a PackedIdMap<u32>,
    /// By position, the offset of the entry, or [`NOT_WRITTEN`].
    at: Vec<u64>,
}

impl Offsets<'_> {
    /// Where `id`'s entry starts, if it is in the list and written.
    fn of(&self, id: &ObjectId) -> Option<u64> {
        let i = *self.index.get(id)? as usize;
        self.at.get(i).copied().filter(|&o| o != NOT_WRITTEN)
    }
}

/// One object about to be written: what [`write_pack_with_offsets`] decided for it.
struct Entry<'a> {
    id: ObjectId,
    kind: crate::odb::Kind,
    plan: Plan,
    stored: Option<RawEntry<'a>>,
    new_delta: Option<&'a NewDelta>,
    offset: u64,
}

/// Writes one entry as `e.plan` says: a new delta, the stored bytes (whole or as a delta against
/// a base already written or outside a thin pack), or the object whole.
fn write_entry(
    repo: &dyn PackStore,
    e: Entry<'_>,
    written: &Offsets<'_>,
    opts: &WriteOptions,
    buf: &mut Vec<u8>,
    w: &mut Hashing<'_>,
    stats: &mut WriteStats,
) -> Result<(), Error> {
    let (id, offset) = (e.id, e.offset);
    match (e.plan, e.stored) {
        (Plan::NewDelta(base) | Plan::NewThinDelta(base), _) => {
            let d = e.new_delta.ok_or(store::Error::MissingObject(id))?;
            let (size, z) = delta_bytes(repo, d, &base, &id, opts.compression)?;
            let at = written.of(&base);
            encode_delta_header(size, offset, delta_base(&base, at, opts.ofs_delta), buf);
            w.write_all(buf)?;
            w.write_all(&z)?;
            stats.deltas += 1;
        }
        (Plan::Reuse, Some(stored)) => {
            buf.clear();
            encode_header(EntryType::from_kind(e.kind), stored.inflated_size, buf);
            w.write_all(buf)?;
            w.write_all(&stored.compressed)?;
            stats.reused += 1;
        }
        (Plan::DeltaInPack(base) | Plan::ThinDelta(base), Some(stored)) => {
            // An in-pack base was written first; a thin one is outside the pack.
            let at = written.of(&base);
            let base = delta_base(&base, at, opts.ofs_delta);
            encode_delta_header(stored.inflated_size, offset, base, buf);
            w.write_all(buf)?;
            w.write_all(&stored.compressed)?;
            stats.reused += 1;
            stats.reused_deltas += 1;
            stats.deltas += 1;
        }
        _ => write_whole(repo, &id, opts.compression, buf, w)?,
    }
    Ok(())
}

/// Writes object `id` whole, compressed at `level`, streaming its content from storage: an
/// object of gigabytes (C git's `core.bigFileThreshold` case) passes through in 64 KiB pieces.
fn write_whole(
    repo: &dyn PackStore,
    id: &ObjectId,
    level: u32,
    buf: &mut Vec<u8>,
    w: &mut Hashing<'_>,
) -> Result<(), Error> {
    let mut o = repo
        .stream_object(id)?
        .ok_or(store::Error::MissingObject(*id))?;
    buf.clear();
    encode_header(EntryType::from_kind(o.kind), o.size, buf);
    w.write_all(buf)?;
    let mut z = ZlibEncoder::new(w, Compression::new(level.min(9)));
    let copied = std::io::copy(&mut o.reader, &mut z)?;
    if copied != o.size {
        return Err(Error::Backend(store::Error::corrupt(
            format!("object {id}"),
            format!("{copied} bytes read, {} declared", o.size),
        )));
    }
    z.finish()?;
    Ok(())
}

/// The base a delta entry written now names: OFS_DELTA when its base was written at `base_at`
/// and the client takes them, else REF_DELTA naming `base` (a base outside the pack has no
/// offset).
fn delta_base(base: &ObjectId, base_at: Option<u64>, ofs_delta: bool) -> DeltaBase {
    match base_at {
        Some(at) if ofs_delta => DeltaBase::Offset(at),
        _ => DeltaBase::Id(*base),
    }
}

/// How to write a delta the search found against position `base` of `all`: against an in-pack
/// object (whole if that object is being written above this one: a cycle through stored deltas
/// the search could not see), or against an object the client has, only if the pack is thin.
fn new_delta_plan(
    all: Bases<'_>,
    base: u32,
    edge: &PackedIdSet,
    opts: &WriteOptions,
    in_progress: &IdSet,
) -> Plan {
    if let Some(b) = all.edge_base(base) {
        return if opts.thin && edge.contains(&b.id) {
            Plan::NewThinDelta(b.id)
        } else {
            Plan::Whole
        };
    }
    match all.objects.get(base as usize) {
        Some(b) if !in_progress.contains(&b.id) => Plan::NewDelta(b.id),
        _ => Plan::Whole,
    }
}

/// The delta `found` for `id` unless its stored thin delta is no larger (compared when
/// `compare`), and its stored entry (`read` already, or read unless a found delta is taken
/// without comparing).
fn delta_or_stored<'f, 'r>(
    repo: &'r dyn PackStore,
    found: Option<&'f NewDelta>,
    (id, read): (&ObjectId, Option<RawEntry<'r>>),
    compare: bool,
    index: &PackedIdMap<u32>,
    edge: &PackedIdSet,
    opts: &WriteOptions,
) -> Result<(Option<&'f NewDelta>, Option<RawEntry<'r>>), Error> {
    if found.is_some() && !compare {
        return Ok((found, None));
    }
    let entry = match read {
        Some(e) => Some(e),
        None => repo.raw_entry(id)?,
    };
    match (found, entry.as_ref()) {
        (Some(d), Some(e)) if stored_is_smaller(d, e, index, edge, opts) => Ok((None, entry)),
        _ => Ok((found, entry)),
    }
}

/// Whether the stored thin delta `e` (reused against an edge object) is no larger than the
/// delta `d` the search found for the same object.
fn stored_is_smaller(
    d: &NewDelta,
    e: &RawEntry<'_>,
    index: &PackedIdMap<u32>,
    edge: &PackedIdSet,
    opts: &WriteOptions,
) -> bool {
    let reusable = matches!(
        plan(Some(e), index, edge, opts, &IdSet::default()),
        Plan::ThinDelta(_)
    );
    reusable
        && d.cached
            .as_ref()
            .is_some_and(|(_, z)| z.len() >= e.compressed.len())
}

/// Runs the delta search over `all.objects`: each is a target when its stored form cannot be
/// reused (so it would be compressed here anyway); with `retry` (the preferred bases), also when
/// it is stored whole or as a delta against an edge object not in `retry`. A reused stored delta
/// keeps its in-pack base; `all.edge` are bases only. Returns the deltas found by object index
/// and the stored entries looked up on the way (empty when no search runs), for the writer.
#[allow(clippy::type_complexity)]
fn search<'r>(
    repo: &'r dyn PackStore,
    all: Bases<'_>,
    index: &PackedIdMap<u32>,
    edge: &PackedIdSet,
    opts: &WriteOptions,
    retry: Option<&IdSet>,
    progress: &mut dyn Progress,
) -> Result<
    (
        std::collections::HashMap<u32, NewDelta>,
        Vec<Option<RawEntry<'r>>>,
    ),
    Error,
> {
    if opts.search.window < 2 {
        return Ok(Default::default());
    }
    let none = IdSet::default();
    let main_pack = repo.reuse_pack();
    let mut nodes = Vec::with_capacity(all.objects.len());
    let mut entries = Vec::with_capacity(all.objects.len());
    for o in all.objects {
        let entry = repo.raw_entry(&o.id)?;
        let in_pack = main_pack.is_some_and(|p| p.contains(&o.id));
        let target = |whole_in_pack| Node {
            target: true,
            reused_base: None,
            in_pack,
            whole_in_pack,
        };
        let node = match plan(entry.as_ref(), index, edge, opts, &none) {
            Plan::Whole => target(false),
            Plan::Reuse if retry.is_some() => target(in_pack),
            Plan::ThinDelta(base) if retry.is_some_and(|p| !p.contains(&base)) => target(false),
            Plan::DeltaInPack(base) => Node {
                reused_base: index.get(&base).copied(),
                in_pack,
                ..Node::default()
            },
            _ => Node {
                in_pack,
                ..Node::default()
            },
        };
        nodes.push(node);
        if opts.keep_stored {
            entries.push(entry);
        }
    }
    let found =
        delta_search::find_deltas(repo, all, &nodes, &opts.search, opts.compression, progress)?;
    Ok((found, entries))
}

/// The compressed delta for `target` against `base` and its inflated size: from the search's
/// cache, or made again when the cache was full.
fn delta_bytes<'d>(
    repo: &dyn PackStore,
    d: &'d NewDelta,
    base: &ObjectId,
    target: &ObjectId,
    compression: u32,
) -> Result<(u64, std::borrow::Cow<'d, [u8]>), Error> {
    if let Some((size, z)) = &d.cached {
        return Ok((*size, std::borrow::Cow::Borrowed(z)));
    }
    let (size, z) = make_delta(repo, base, target, compression)?;
    Ok((size, std::borrow::Cow::Owned(z)))
}

/// The delta for `target` against `base`, zlib-compressed at `compression`, and its inflated
/// size: for a delta the search chose but could not keep in its cache.
pub(super) fn make_delta<S: store::ObjectStore + ?Sized>(
    repo: &S,
    base: &ObjectId,
    target: &ObjectId,
    compression: u32,
) -> Result<(u64, Vec<u8>), Error> {
    let b = repo
        .read_object(base)?
        .ok_or(store::Error::MissingObject(*base))?;
    let t = repo
        .read_object(target)?
        .ok_or(store::Error::MissingObject(*target))?;
    let delta = crate::pack::delta_create::create(&b.data, &t.data);
    let z = delta_search::compress(&delta, compression)?;
    Ok((delta.len() as u64, z))
}

fn plan(
    entry: Option<&RawEntry<'_>>,
    index: &PackedIdMap<u32>,
    edge: &PackedIdSet,
    opts: &WriteOptions,
    in_progress: &IdSet,
) -> Plan {
    match entry {
        None => Plan::Whole,
        Some(e) => match e.form {
            StoredForm::Whole => Plan::Reuse,
            StoredForm::Delta { base } => {
                if !opts.reuse_deltas || e.delta_depth > opts.max_delta_depth {
                    Plan::Whole
                } else if index.contains_key(&base) && !in_progress.contains(&base) {
                    Plan::DeltaInPack(base)
                } else if opts.thin && edge.contains(&base) && !index.contains_key(&base) {
                    Plan::ThinDelta(base)
                } else {
                    Plan::Whole
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odb::memory::MemoryObjects;
    use crate::odb::Kind;
    use crate::progress::Discard;

    #[test]
    fn empty_pack() {
        let r = MemoryObjects::new();
        let mut out = Vec::new();
        let stats = write_pack(
            &r,
            &[],
            &PackedIdSet::default(),
            &[],
            &WriteOptions::default(),
            &mut out,
            &mut Discard,
        )
        .unwrap();
        assert_eq!(out.len(), 32);
        assert_eq!(&out[..12], b"PACK\0\0\0\x02\0\0\0\0");
        assert_eq!(stats.bytes, 32);
    }

    /// Feeds `pack` to `git index-pack --stdin --strict` in a fresh bare repository; returns it.
    fn index_pack(pack: &[u8]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        crate::test_support::git(dir.path(), &["init", "-q", "--bare", "."]);
        let o = run_index_pack(dir.path(), pack, &[]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        dir
    }

    /// `git index-pack --stdin --strict <extra>` on `pack` in repository `dir`.
    fn run_index_pack(dir: &std::path::Path, pack: &[u8], extra: &[&str]) -> std::process::Output {
        let mut child = std::process::Command::new("git")
            .args(["index-pack", "--stdin", "--strict"])
            .args(extra)
            .current_dir(dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(pack).unwrap();
        child.wait_with_output().unwrap()
    }

    #[test]
    fn deltas_against_what_the_client_has_only_in_thin_packs() {
        // The client has `old` (an edge object, offered as a preferred base); `new` is loose.
        let mut r = MemoryObjects::new();
        let text: String = (0..1500).map(|i| format!("line {i}\n")).collect();
        let old_data = text.clone();
        let new_data = text.replace("line 700\n", "changed\n");
        let name_hash = crate::walk::name_hash(0, b"f.txt");
        let old = r.add(Kind::Blob, old_data.clone());
        let new = r.add(Kind::Blob, new_data);
        let objs = [PackObject {
            id: new,
            kind: Kind::Blob,
            name_hash,
        }];
        let bases = [PackObject {
            id: old,
            kind: Kind::Blob,
            name_hash,
        }];
        let edge: PackedIdSet = [old].into_iter().collect();
        let write = |thin: bool, edge: &PackedIdSet| {
            let opts = WriteOptions {
                thin,
                ofs_delta: true,
                ..WriteOptions::default()
            };
            let mut out = Vec::new();
            let stats = write_pack(&r, &objs, edge, &bases, &opts, &mut out, &mut Discard).unwrap();
            (stats, out)
        };
        // Not thin: self-contained, so index-pack without --fix-thin takes it in an empty repository.
        let (stats, whole) = write(false, &edge);
        assert_eq!(stats.deltas, 0);
        index_pack(&whole);
        // A base not known to be the client's is never used.
        let (stats, _) = write(true, &PackedIdSet::default());
        assert_eq!(stats.deltas, 0);
        // Thin: a REF_DELTA against `old`, completed by --fix-thin where `old` exists.
        let (stats, thin) = write(true, &edge);
        assert_eq!(stats.deltas, 1);
        assert!(
            thin.len() * 4 < whole.len(),
            "{} vs {}",
            thin.len(),
            whole.len()
        );
        let dir = tempfile::tempdir().unwrap();
        crate::test_support::git(dir.path(), &["init", "-q", "--bare", "."]);
        assert!(!run_index_pack(dir.path(), &thin, &[]).status.success());
        std::fs::write(dir.path().join("old"), &old_data).unwrap();
        crate::test_support::git(dir.path(), &["hash-object", "-w", "old"]);
        let o = run_index_pack(dir.path(), &thin, &["--fix-thin"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let size = crate::test_support::git(dir.path(), &["cat-file", "-s", &new.to_hex()]);
        assert_eq!(
            size.trim(),
            (old_data.len() - "line 700\n".len() + "changed\n".len()).to_string()
        );
    }

    #[test]
    fn new_deltas_are_accepted_by_git_index_pack() {
        let mut r = MemoryObjects::new();
        let mut text: Vec<String> = (0..2000).map(|i| format!("line {i}\n")).collect();
        let mut objs = Vec::new();
        let mut whole = 0;
        for v in 0..20 {
            text[(v * 97) % 2000] = format!("version {v}\n");
            let data = text.concat();
            whole += data.len();
            let id = r.add(Kind::Blob, data);
            objs.push(PackObject {
                id,
                kind: Kind::Blob,
                name_hash: crate::walk::name_hash(0, b"f.txt"),
            });
        }
        for (ofs_delta, cache_size) in [(true, 256 << 20), (false, 256 << 20), (true, 0)] {
            let opts = WriteOptions {
                ofs_delta,
                search: SearchOptions {
                    cache_size,
                    ..SearchOptions::default()
                },
                ..WriteOptions::default()
            };
            let mut out = Vec::new();
            let stats = write_pack(
                &r,
                &objs,
                &PackedIdSet::default(),
                &[],
                &opts,
                &mut out,
                &mut Discard,
            )
            .unwrap();
            assert!(stats.deltas >= 18, "{stats:?}");
            assert!(out.len() < whole / 20, "{} bytes for {whole}", out.len());
            let dir = index_pack(&out);
            for o in &objs {
                let got = crate::test_support::git(dir.path(), &["cat-file", "-s", &o.id.to_hex()]);
                assert!(!got.trim().is_empty());
            }
            let list = crate::test_support::git(
                dir.path(),
                &["verify-pack", "-v"]
                    .iter()
                    .copied()
                    .chain(std::iter::once(
                        std::fs::read_dir(dir.path().join("objects/pack"))
                            .unwrap()
                            .filter_map(|e| e.ok())
                            .map(|e| e.path())
                            .find(|p| p.extension().is_some_and(|x| x == "idx"))
                            .unwrap()
                            .to_str()
                            .unwrap(),
                    ))
                    .collect::<Vec<_>>(),
            );
            assert!(list.contains("chain length = 1"), "{list}");
        }
    }

    #[test]
    fn pack_is_accepted_by_git_index_pack() {
        let mut r = MemoryObjects::new();
        let big: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
        let a = r.add(Kind::Blob, big);
        let b = r.add(Kind::Blob, "small\n");
        let objs = vec![
            PackObject::unnamed(a, Kind::Blob),
            PackObject::unnamed(b, Kind::Blob),
        ];
        let mut out = Vec::new();
        write_pack(
            &r,
            &objs,
            &PackedIdSet::default(),
            &[],
            &WriteOptions::default(),
            &mut out,
            &mut Discard,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str], input: Option<&[u8]>| {
            let mut cmd = std::process::Command::new("git");
            cmd.args(args).current_dir(dir.path());
            cmd.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            if let Some(i) = input {
                child.stdin.take().unwrap().write_all(i).unwrap();
            } else {
                drop(child.stdin.take());
            }
            child.wait_with_output().unwrap()
        };
        assert!(git(&["init", "-q", "--bare", "."], None).status.success());
        let o = git(&["index-pack", "--stdin", "--strict"], Some(&out));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let o = git(&["cat-file", "-s", &a.to_hex()], None);
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "2000000");
    }
}
