//! A pack kept in a directory: `objects` written as `pack-<checksum>.pack` with its `.idx` and,
//! when asked, a `.bitmap`, each durable, renamed into place `.pack`, `.bitmap`, then `.idx` (a
//! reader only looks at a pack whose `.idx` exists).
//!
//! Shared by the on-disk repack (`objects/pack` of a repository) and the distributed backend's
//! maintenance (a temporary directory whose files are then uploaded), so both write the same
//! bytes the same way. It speaks in [`PackStore`] and [`PackObject`]s, never in repositories.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::hash::{HashKind, Hasher, ObjectId};
use crate::pack::bitmap::write::{self as bitmap_write, PackLayout};
use crate::pack::ewah::Bitmap;
use crate::pack::idx_write::write_idx_v2;
use crate::pack::ingest::IndexEntry;
use crate::pack::stored::PackStore;
use crate::pack::write::{write_pack_with_offsets, WriteOptions, NOT_WRITTEN};
use crate::progress::Progress;
use crate::walk::{PackObject, TreeChildren};

/// How the temporary files of a pack being written are named (then the pid and the extension):
/// a repack that holds its lock removes leftovers with this prefix.
pub const TEMP_PREFIX: &str = "tmp_repack_";

/// Why a pack could not be written. Only temporary files are left behind on failure, and they
/// are removed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing the pack failed.
    #[error(transparent)]
    Write(#[from] crate::pack::write::Error),
    /// Building the bitmaps failed.
    #[error(transparent)]
    Bitmap(#[from] bitmap_write::Error),
    /// The written pack does not read back as written.
    #[error("{0}: written pack does not read back (short or trailer mismatch)")]
    ReadBack(String),
    /// A file could not be written or renamed.
    #[error("{what}: {source}")]
    Io {
        /// The file.
        what: String,
        /// Why.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        what: path.display().to_string(),
        source,
    }
}

/// What to write besides the pack.
pub struct FileOptions<'a> {
    /// How entries are written (delta reuse, search, depth).
    pub write: WriteOptions,
    /// Write a `.bitmap` for reachable commits of `objects`, selected among (and always
    /// including) these tips; `None`: no bitmap.
    pub bitmap_tips: Option<&'a [ObjectId]>,
    /// How many of the objects, from the first, are reachable from the refs (bitmaps only
    /// cover those): the rest follow them. A count, not a set of ids: a set held 9 MB at
    /// the repack's peak for 150,000 objects.
    pub reachable: usize,
    /// The entries of the trees of the walk that listed the objects, as positions in the
    /// list: the bitmaps are then built without reading those trees again. Owned, so it is
    /// dropped as soon as the bitmaps are built, before the pack's index and bitmap files.
    pub children: Option<TreeChildren>,
    /// Most commits given a bitmap.
    pub max_bitmaps: usize,
    /// Called on each finished file before it is renamed into place (permissions).
    pub finish: &'a dyn Fn(&Path) -> std::io::Result<()>,
}

/// The pack just written and made visible.
#[derive(Debug, Clone)]
pub struct Written {
    /// `<dir>/pack-<checksum>`.
    pub stem: PathBuf,
    /// The pack's checksum (its name).
    pub checksum: ObjectId,
    /// Commits given a bitmap (0: no `.bitmap` file).
    pub bitmaps: usize,
}

/// Temporary files, removed on drop unless renamed into place.
struct Temps(Vec<PathBuf>);

impl Drop for Temps {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p);
        }
    }
}

/// Writes `list` (objects of `repo`) as a pack in `dir` with its `.idx` and, as `opts` asks, a
/// `.bitmap`, durable and renamed into place.
pub fn write_pack_files(
    repo: &dyn PackStore,
    dir: &Path,
    list: &[PackObject],
    mut opts: FileOptions<'_>,
    progress: &mut dyn Progress,
) -> Result<Written, Error> {
    let pid = std::process::id();
    let tmp = |ext: &str| dir.join(format!("{TEMP_PREFIX}{pid}.{ext}"));
    let (tmp_pack, tmp_idx, tmp_bitmap) = (tmp("pack"), tmp("idx"), tmp("bitmap"));
    let mut temps = Temps(vec![tmp_pack.clone(), tmp_idx.clone(), tmp_bitmap.clone()]);

    // The closures only need the objects, numbered here in list order: they are built on a
    // second thread while this one writes the pack, then renumbered in pack order.
    let (written, closures) = std::thread::scope(|scope| {
        // Not `opts` itself: `finish` need not be shareable with another thread.
        let (reachable, children, max) = (opts.reachable, opts.children.take(), opts.max_bitmaps);
        let bitmaps = opts.bitmap_tips.map(|tips| {
            scope.spawn(move || list_closures(repo, list, (reachable, children), tips, max))
        });
        let written = write_and_read_back(repo, list, &opts, &tmp_pack, progress);
        let closures = bitmaps.map(|h| {
            h.join().unwrap_or_else(|_| {
                Err(bitmap_write::Error::Backend(
                    crate::odb::store::Error::corrupt(
                        "bitmaps".to_string(),
                        "the bitmap thread panicked".to_string(),
                    ),
                ))
            })
        });
        (written, closures.transpose())
    });
    let (by_offset, crcs, checksum) = written?;
    let closures = closures?;

    // The index first, so its entries are gone before the bitmaps' layout is built: the
    // files are renamed into place in their own order below.
    let (entries, order) = index_entries(list, by_offset, crcs);
    write_idx(&tmp_idx, entries, &checksum)?;

    let mut bitmaps = 0;
    if let Some((selected, mut closures)) = closures {
        renumber(&mut closures, &order);
        // `order` holds positions of `list`.
        let layout = PackLayout::new(order.iter().map(|&i| {
            let o = &list[i as usize];
            (o.id, o.kind, o.name_hash)
        }));
        drop(order);
        bitmaps = closures.len();
        progress.finish("Building bitmaps", bitmaps as u64, Some(selected as u64));
        if bitmaps > 0 {
            let bytes = bitmap_write::encode_file(&checksum, &layout, &closures)?;
            write_durable(&tmp_bitmap, |w| w.write_all(&bytes))?;
        }
    }

    let stem = dir.join(format!("pack-{checksum}"));
    let target = |ext: &str| stem.with_extension(ext);
    for t in [&tmp_pack, &tmp_idx, &tmp_bitmap] {
        if t.exists() {
            (opts.finish)(t).map_err(io(t))?;
        }
    }
    fs::rename(&tmp_pack, target("pack")).map_err(io(&tmp_pack))?;
    if bitmaps > 0 {
        fs::rename(&tmp_bitmap, target("bitmap")).map_err(io(&tmp_bitmap))?;
    } else {
        // A stale bitmap of a pack with this very name would describe other bits.
        let _ = fs::remove_file(target("bitmap"));
    }
    fs::rename(&tmp_idx, target("idx")).map_err(io(&tmp_idx))?;
    temps.0.clear();
    crate::durable::sync_dir(dir).map_err(io(dir))?;
    Ok(Written {
        stem,
        checksum,
        bitmaps,
    })
}

/// The `.idx` entries of the written pack (entries `by_offset`, as list positions, with their
/// `crcs`), and the place in `list` of the object at each pack position.
fn index_entries(
    list: &[PackObject],
    by_offset: Vec<(u64, u32)>,
    crcs: Vec<u32>,
) -> (Vec<IndexEntry>, Vec<u32>) {
    let mut entries: Vec<IndexEntry> = Vec::with_capacity(by_offset.len());
    let mut order: Vec<u32> = Vec::with_capacity(by_offset.len());
    for (&(offset, i), &crc32) in by_offset.iter().zip(&crcs) {
        // `by_offset` holds positions of `list` (from the writer's offsets).
        let o = &list[i as usize];
        order.push(i);
        entries.push(IndexEntry {
            id: o.id,
            offset,
            crc32,
            kind: o.kind,
        });
    }
    (entries, order)
}

/// Writes the `.idx` of the pack `checksum` with `entries` at `path`, durable.
fn write_idx(path: &Path, mut entries: Vec<IndexEntry>, checksum: &ObjectId) -> Result<(), Error> {
    write_durable(path, |w| {
        write_idx_v2(&mut entries, checksum, w).map(|_| ())
    })
}

/// Writes `list` as the pack at `tmp_pack`, durable, and reads it back: the entries by
/// offset (with their positions in `list`), the CRC32 of each, and the trailer checksum.
#[allow(clippy::type_complexity)]
fn write_and_read_back(
    repo: &dyn PackStore,
    list: &[PackObject],
    opts: &FileOptions<'_>,
    tmp_pack: &Path,
    progress: &mut dyn Progress,
) -> Result<(Vec<(u64, u32)>, Vec<u32>, ObjectId), Error> {
    let file = File::create(tmp_pack).map_err(io(tmp_pack))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let (_, offsets) = write_pack_with_offsets(
        repo,
        list,
        &crate::hash::PackedIdSet::default(),
        &[],
        &opts.write,
        &mut out,
        progress,
    )?;
    let file = out.into_inner().map_err(|e| io(tmp_pack)(e.into_error()))?;
    finish_file(&file, tmp_pack)?;
    drop(file);
    // Each written entry as (offset, position in `list`): 16 bytes an object, no ids.
    let mut by_offset: Vec<(u64, u32)> = offsets
        .iter()
        .enumerate()
        .filter(|(_, &o)| o != NOT_WRITTEN)
        .map(|(i, &o)| (o, i as u32))
        .collect();
    drop(offsets);
    by_offset.sort_unstable();
    let (crcs, checksum) = read_back(tmp_pack, repo.hash_kind(), &by_offset)?;
    Ok((by_offset, crcs, checksum))
}

/// The closures of at most `max_bitmaps` commits selected among the first `reachable` of `list`
/// (with `tips` preferred), over positions in `list` (the walk's order, which the pack's
/// follows but for delta bases written early), reading no tree `children` recorded; and how
/// many commits were selected.
#[allow(clippy::type_complexity)]
fn list_closures(
    repo: &dyn PackStore,
    list: &[PackObject],
    (reachable, children): (usize, Option<TreeChildren>),
    tips: &[ObjectId],
    max_bitmaps: usize,
) -> Result<(usize, Vec<(ObjectId, Bitmap)>), bitmap_write::Error> {
    let layout = PackLayout::new(list.iter().map(|o| (o.id, o.kind, o.name_hash)));
    let commits: Vec<ObjectId> = list
        .iter()
        .take(reachable)
        .filter(|o| o.kind == crate::odb::Kind::Commit)
        .map(|o| o.id)
        .collect();
    let selected = bitmap_write::select_commits(&commits, tips, max_bitmaps);
    let closures = bitmap_write::build(repo, &layout, &selected, children.as_ref())?;
    Ok((selected.len(), closures))
}

/// Renumbers `closures` from list positions to pack positions, `order` giving the list
/// position at each pack position. Only the positions that moved are touched: most objects
/// are written in list order.
fn renumber(closures: &mut [(ObjectId, Bitmap)], order: &[u32]) {
    let moved: Vec<(usize, usize)> = order
        .iter()
        .enumerate()
        .map(|(pack_pos, &list_pos)| (pack_pos, list_pos as usize))
        .filter(|(pack_pos, list_pos)| pack_pos != list_pos)
        .collect();
    if moved.is_empty() {
        return;
    }
    // The moved positions are the same set in both numberings (the rest map to themselves).
    let mut mask = Bitmap::with_len(order.len());
    for &(pack_pos, _) in &moved {
        mask.set(pack_pos);
    }
    for (_, bitmap) in closures {
        let mut out = bitmap.clone();
        out.and_not(&mask);
        for &(pack_pos, list_pos) in &moved {
            if bitmap.get(list_pos) {
                out.set(pack_pos);
            }
        }
        *bitmap = out;
    }
}

/// Creates `path`, fills it with `write`, and finishes it as [`finish_file`] does.
fn write_durable(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    let file = File::create(path).map_err(io(path))?;
    let mut w = BufWriter::new(file);
    write(&mut w).map_err(io(path))?;
    let file = w.into_inner().map_err(|e| io(path)(e.into_error()))?;
    finish_file(&file, path)
}

/// Makes the written `file` at `path` read-only, as git's pack files are, and durable.
fn finish_file(file: &File, path: &Path) -> Result<(), Error> {
    let mut perms = file.metadata().map_err(io(path))?.permissions();
    perms.set_readonly(true);
    let _ = file.set_permissions(perms);
    file.sync_all().map_err(io(path))
}

/// Reads the written pack back (ids of hash `kind`): the CRC32 of each entry (entries start at the sorted
/// `by_offset`) and the trailer, checked against the hash of everything before it, so what the
/// `.idx` describes is what is on the disk.
fn read_back(
    pack: &Path,
    kind: HashKind,
    by_offset: &[(u64, u32)],
) -> Result<(Vec<u32>, ObjectId), Error> {
    let len = fs::metadata(pack).map_err(io(pack))?.len();
    let body = len
        .checked_sub(kind.len_in_bytes() as u64)
        .ok_or_else(|| short(pack))?;
    let mut r = HashingReader {
        r: BufReader::with_capacity(1 << 20, File::open(pack).map_err(io(pack))?),
        hasher: Hasher::trailer_only(kind),
        buf: vec![0u8; 1 << 16],
        path: pack,
    };
    let first = by_offset.first().map_or(body, |(o, _)| *o);
    r.take(first, None)?;
    let mut crcs = Vec::with_capacity(by_offset.len());
    for (i, (offset, _)) in by_offset.iter().enumerate() {
        let end = by_offset.get(i + 1).map_or(body, |(o, _)| *o);
        let n = end.checked_sub(*offset).ok_or_else(|| short(pack))?;
        let mut crc = crc32fast::Hasher::new();
        r.take(n, Some(&mut crc))?;
        crcs.push(crc.finalize());
    }
    let mut trailer = vec![0u8; kind.len_in_bytes()];
    r.r.read_exact(&mut trailer).map_err(io(pack))?;
    let expected = r.hasher.finish().map_err(|_| short(pack))?;
    if expected.as_bytes() != trailer {
        return Err(short(pack));
    }
    Ok((crcs, expected))
}

/// Reads a file in order, hashing everything it reads.
struct HashingReader<'a> {
    r: BufReader<File>,
    hasher: Hasher,
    buf: Vec<u8>,
    path: &'a Path,
}

impl HashingReader<'_> {
    /// Reads the next `n` bytes into the hash (and into `crc`, when given).
    fn take(&mut self, n: u64, mut crc: Option<&mut crc32fast::Hasher>) -> Result<(), Error> {
        let mut left = n;
        while left > 0 {
            let chunk = left.min(self.buf.len() as u64) as usize;
            let bytes = &mut self.buf[..chunk];
            self.r.read_exact(bytes).map_err(io(self.path))?;
            self.hasher.update(bytes);
            if let Some(c) = crc.as_deref_mut() {
                c.update(bytes);
            }
            left -= chunk as u64;
        }
        Ok(())
    }
}

fn short(pack: &Path) -> Error {
    Error::ReadBack(pack.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bits follow their objects from list to pack positions; positions that did not move keep
    /// their bits.
    #[test]
    fn renumber_moves_bits_of_moved_objects_only() {
        let id = ObjectId::from_bytes(&[1; 20]).unwrap();
        // Pack positions 1 and 3 hold list objects 3 and 1 (a base written ahead of its delta).
        let order = [0u32, 3, 2, 1, 4];
        let mut b = Bitmap::with_len(5);
        for i in [0, 1, 4] {
            b.set(i);
        }
        let mut closures = vec![(id, b)];
        renumber(&mut closures, &order);
        assert_eq!(closures[0].1.ones().collect::<Vec<_>>(), [0, 3, 4]);
        let mut same = closures.clone();
        renumber(&mut same, &[0, 1, 2, 3, 4]);
        assert_eq!(same[0].1, closures[0].1);
    }
}
