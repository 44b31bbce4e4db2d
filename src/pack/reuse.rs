//! Writing a pack straight from a bitmapped pack's stored entries (git's pack reuse): the objects
//! to send are positions in that pack, taken in pack order. An entry whose stored bytes are still
//! valid in the new pack — a whole object, a REF_DELTA whose base the client will have, or an
//! OFS_DELTA whose base moved by the same amount as the entry itself — joins a run of entries
//! copied byte for byte; a full clone is therefore one copy of the stored pack. Other deltas get a
//! new header (a new OFS distance, or REF_DELTA for a thin base). An entry whose base the client
//! will not have (an orphan, [`crate::pack::orphans`]) is written as a delta against the new base
//! the search found for it, OFS_DELTA when that base is written before it and REF_DELTA when
//! after (index-pack and unpack-objects resolve a base that comes later), or else whole.

use std::io::Write;

use super::write::{make_delta, Error, Hashing, WriteOptions, WriteStats};
use crate::odb::store::{self, ObjectStore};
use crate::pack::entry::{encode_delta_header, encode_header, DeltaBase, EntryType};
use crate::pack::ewah::Bitmap;
use crate::pack::orphans::{NewBase, NewBases};
use crate::pack::stored::{EntryBase, StoredPack};
use crate::progress::Progress;

/// A run of entries waiting to be copied verbatim: positions `start..end`, `bytes` long.
struct Run {
    start: usize,
    end: usize,
    bytes: u64,
}

/// Writes the entries of `pack` at the positions in `send` as a pack to `out`; `have` holds the
/// positions the client already has (thin-pack bases when `opts.thin`); `rebased` the new bases
/// of orphaned deltas ([`crate::pack::orphans::search`]).
#[allow(clippy::too_many_arguments)]
pub fn write_pack_from_bitmap(
    repo: &dyn ObjectStore,
    pack: &dyn StoredPack,
    send: &Bitmap,
    have: &Bitmap,
    rebased: &NewBases,
    opts: &WriteOptions,
    out: &mut dyn Write,
    progress: &mut dyn Progress,
) -> Result<WriteStats, Error> {
    let total = send.count();
    let count = usize::try_from(total).unwrap_or(usize::MAX);
    let n = pack.object_count();
    if opts.ofs_delta && total == n as u64 && send.all_below(n) {
        return write_whole_pack(pack, repo.hash_kind(), out, progress);
    }
    let mut w = Hashing::start(out, count, repo.hash_kind())?;
    let mut stats = WriteStats::default();
    let mut pack_reused = 0u64;
    // Stored offset minus new offset, per written position: an OFS_DELTA stays valid verbatim
    // when its base moved by the same amount, and a base's new offset derives from it.
    let mut shift: Vec<i64> = vec![0; pack.object_count()];
    let mut run: Option<Run> = None;
    for (i, pos) in send.ones().enumerate() {
        let e = pack.entry(pos)?;
        let pending = run.as_ref().map_or(0, |r| r.bytes);
        let offset = w.bytes + pending;
        let my_shift = e.offset as i64 - offset as i64;
        let verbatim = match e.base {
            EntryBase::None => true,
            EntryBase::InPack { pos: b, by_offset } => {
                if by_offset {
                    send.get(b) && b < pos && opts.ofs_delta && shift[b] == my_shift
                } else {
                    send.get(b) || (opts.thin && have.get(b))
                }
            }
            EntryBase::Outside(_) => false,
        };
        shift[pos] = my_shift;
        if verbatim {
            match &mut run {
                Some(r) if r.end == pos => {
                    r.end += 1;
                    r.bytes += e.stored_len;
                }
                _ => {
                    flush(&mut run, pack, &mut w)?;
                    run = Some(Run {
                        start: pos,
                        end: pos + 1,
                        bytes: e.stored_len,
                    });
                }
            }
            pack_reused += 1;
            stats.reused += 1;
            if e.base != EntryBase::None {
                stats.deltas += 1;
                stats.reused_deltas += 1;
            }
        } else {
            flush(&mut run, pack, &mut w)?;
            let rewritten = Rewritten {
                pos,
                offset,
                send,
                have,
                shift: &shift,
                rebased,
            };
            write_rewritten_entry(repo, pack, &rewritten, &e, opts, &mut w, &mut stats)?;
        }
        stats.objects += 1;
        if i % 4096 == 0 {
            progress.update("Writing objects", i as u64, Some(total));
        }
    }
    flush(&mut run, pack, &mut w)?;
    progress.finish("Writing objects", total, Some(total));
    w.finish(&mut stats, pack_reused, progress)?;
    Ok(stats)
}

/// Every entry goes, and OFS_DELTA is allowed: the stored pack body is valid as it is (OFS
/// distances unchanged, REF_DELTA bases all present), one copy; with the stored header the
/// bytes are the stored pack's, and so is the trailer. Like git, the copied entries are not
/// counted as deltas (counting them would touch every page of the pack).
fn write_whole_pack(
    pack: &dyn StoredPack,
    hash: crate::hash::HashKind,
    out: &mut dyn Write,
    progress: &mut dyn Progress,
) -> Result<WriteStats, Error> {
    let n = pack.object_count();
    let total = n as u64;
    let mut w = match pack.whole_pack_trailer() {
        Some(t) => Hashing::start_verbatim(out, n, t)?,
        None => Hashing::start(out, n, hash)?,
    };
    progress.update("Writing objects", 0, Some(total));
    pack.copy_entries(0, n, &mut w)?;
    let mut stats = WriteStats {
        objects: total,
        reused: total,
        ..WriteStats::default()
    };
    progress.finish("Writing objects", total, Some(total));
    w.finish(&mut stats, total, progress)?;
    Ok(stats)
}

/// Where an entry that cannot be copied verbatim is written: its position in the stored pack,
/// its offset in the new one, what is sent and what the client has, and the shift (stored
/// minus new offset) of every entry written so far.
struct Rewritten<'a> {
    pos: usize,
    offset: u64,
    send: &'a Bitmap,
    have: &'a Bitmap,
    shift: &'a [i64],
    rebased: &'a NewBases,
}

/// Writes stored entry `e` with a new header: a delta whose base the client will have is kept
/// (OFS_DELTA against its base's new offset, or REF_DELTA), anything else is read whole and
/// compressed again.
fn write_rewritten_entry(
    repo: &dyn ObjectStore,
    pack: &dyn StoredPack,
    at: &Rewritten<'_>,
    e: &crate::pack::stored::PackedEntry<'_>,
    opts: &WriteOptions,
    w: &mut Hashing<'_>,
    stats: &mut WriteStats,
) -> Result<(), Error> {
    let (pos, send, have) = (at.pos, at.send, at.have);
    if let Some(new) = at.rebased.get(pos) {
        return write_new_delta(repo, pack, at, new, opts, w, stats);
    }
    let written_base = match e.base {
        EntryBase::InPack { pos: b, .. } if send.get(b) && b < pos => Some(b),
        _ => None,
    };
    let thin_base = match e.base {
        EntryBase::InPack { pos: b, .. } if opts.thin && have.get(b) => pack.id_at(b),
        EntryBase::InPack { pos: b, .. } if send.get(b) => pack.id_at(b),
        _ => None,
    };
    let base = match (written_base, thin_base) {
        // The base's new offset is its stored offset minus its shift.
        (Some(b), _) if opts.ofs_delta => Some(DeltaBase::Offset(
            (pack.entry(b)?.offset as i64 - at.shift[b]) as u64,
        )),
        (_, Some(id)) => Some(DeltaBase::Id(id)),
        _ => None,
    };
    let mut buf = Vec::new();
    if let Some(base) = base {
        encode_delta_header(e.inflated_size, at.offset, base, &mut buf);
        w.write_all(&buf)?;
        w.write_all(&e.compressed)?;
        stats.reused += 1;
        stats.deltas += 1;
        stats.reused_deltas += 1;
        return Ok(());
    }
    let id = pack
        .id_at(pos)
        .ok_or_else(|| Error::Io(std::io::Error::other("bitmap position without id")))?;
    let o = repo
        .read_object(&id)?
        .ok_or(store::Error::MissingObject(id))?;
    encode_header(EntryType::from_kind(o.kind), o.data.len() as u64, &mut buf);
    w.write_all(&buf)?;
    w.write_all(&crate::odb::zlib::deflate_whole(&o.data, opts.compression)?)?;
    Ok(())
}

/// Writes the orphan at `at.pos` as a delta against its `new` base: OFS_DELTA when the base is
/// already written (and the client takes them), else REF_DELTA.
fn write_new_delta(
    repo: &dyn ObjectStore,
    pack: &dyn StoredPack,
    at: &Rewritten<'_>,
    new: &NewBase,
    opts: &WriteOptions,
    w: &mut Hashing<'_>,
    stats: &mut WriteStats,
) -> Result<(), Error> {
    let id_at = |pos: usize| {
        pack.id_at(pos)
            .ok_or_else(|| Error::Io(std::io::Error::other("bitmap position without id")))
    };
    let base_id = id_at(new.base)?;
    let base = match at.shift.get(new.base) {
        // The base's new offset is its stored offset minus its shift.
        Some(shift) if new.base < at.pos && opts.ofs_delta => {
            DeltaBase::Offset((pack.entry(new.base)?.offset as i64 - shift) as u64)
        }
        _ => DeltaBase::Id(base_id),
    };
    let (size, z) = match &new.cached {
        Some((size, z)) => (*size, std::borrow::Cow::Borrowed(&z[..])),
        None => {
            let (size, z) = make_delta(repo, &base_id, &id_at(at.pos)?, opts.compression)?;
            (size, std::borrow::Cow::Owned(z))
        }
    };
    let mut buf = Vec::new();
    encode_delta_header(size, at.offset, base, &mut buf);
    w.write_all(&buf)?;
    w.write_all(&z)?;
    stats.deltas += 1;
    Ok(())
}

fn flush(run: &mut Option<Run>, pack: &dyn StoredPack, w: &mut Hashing<'_>) -> Result<(), Error> {
    if let Some(r) = run.take() {
        pack.copy_entries(r.start, r.end, w)?;
    }
    Ok(())
}
