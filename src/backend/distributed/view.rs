//! A request's view of a distributed repository: a private git directory that holds exactly
//! the snapshot's refs (`packed-refs`, symbolic refs as loose files, `HEAD`) and hard links to
//! the cached index files (`.idx`, and `.rev`/`.bitmap` where the pack has them) of exactly
//! the listed packs. The `.pack` files stay in the store: the on-disk backend reads them through
//! [`RangedPacks`](super::ranged::RangedPacks), in blocks.
//!
//! The on-disk backend then reads objects, peels tags and checks pushes exactly as it does for
//! a local repository. Only listed packs are linked, never the whole cache: a pack some other
//! push uploaded but never listed (it lost its race) must not satisfy this request's
//! connectivity check, or a ref could end up naming objects no listed pack holds.

use std::path::{Path, PathBuf};

use super::blobs::Blobs;
use super::refstore::{RefValue, Snapshot};
use crate::backend::Error;

/// The repository config every view gets: a bare repository in which a push always keeps its
/// pack (never explodes it into loose objects, which the store has no place for).
const VIEW_CONFIG: &str = "[core]\n\trepositoryformatversion = 0\n\tbare = true\n\
    [receive]\n\tunpackLimit = 1\n";

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::io(path.display().to_string(), e)
}

/// The index files of a pack, whether each must exist, and how many ids before its end the
/// pack checksum sits (`.idx` and `.rev` end with the pack's checksum and their own; a
/// `.bitmap` names its pack in its header: `None`, checked by [`check_bitmap`]).
const INDEX_FILES: &[(&str, bool, Option<usize>)] = &[
    ("idx", true, Some(1)),
    ("rev", false, Some(1)),
    ("bitmap", false, None),
];

/// Checks that a downloaded bitmap names the pack its name carries (git's `.bitmap` header:
/// `BITM`, version, options, count, then the pack checksum).
fn check_bitmap(hex: &str) -> impl Fn(&Path) -> Result<(), Error> + '_ {
    move |path| {
        check_named(path, hex, "bitmap", &|data, n| {
            data.starts_with(b"BITM").then(|| data.get(12..12 + n))?
        })
    }
}

/// The id `back` ids before the end of `path` must be `hex` (pack trailer: 0; idx: 1).
fn check_trailer(path: &Path, hex: &str, back: usize, what: &str) -> Result<(), Error> {
    check_named(path, hex, what, &|data, n| {
        let end = data.len().checked_sub(back * n)?;
        data.get(end.checked_sub(n)?..end)
    })
}

/// Finds the `n`-byte pack id in a file's bytes.
type Locate<'a> = dyn Fn(&[u8], usize) -> Option<&[u8]> + 'a;

/// The `n`-byte id that `locate` finds in the file at `path` must be `hex`, the pack name.
fn check_named(path: &Path, hex: &str, what: &str, locate: &Locate<'_>) -> Result<(), Error> {
    let data = std::fs::read(path).map_err(|e| io(path, e))?;
    let found = locate(&data, hex.len() / 2)
        .map(|b| b.iter().map(|x| format!("{x:02x}")).collect::<String>());
    if found.as_deref() != Some(hex) {
        return Err(Error::corrupt(
            format!("pack-{hex}.{what}"),
            "stored content does not match its name",
        ));
    }
    Ok(())
}

/// Where a pack's files live in the store.
pub fn pack_key(base: &str, pack: &str, ext: &str) -> String {
    format!("{base}pack/{pack}.{ext}")
}

/// Creates the view of `snap` (repository `base` in the store) in a new directory under
/// `root`, fetching missing index files into the cache first.
pub fn materialize(
    snap: &Snapshot,
    blobs: &Blobs,
    base: &str,
    root: &Path,
) -> Result<PathBuf, Error> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = root.join(format!("view-{}-{nanos}-{n}", std::process::id()));
    let pack_dir = dir.join("objects/pack");
    std::fs::create_dir_all(&pack_dir).map_err(|e| io(&pack_dir, e))?;
    std::fs::create_dir_all(dir.join("refs")).map_err(|e| io(&dir, e))?;
    // The repository's stored config first: what the view needs comes last and wins.
    let config = [
        snap.config.as_deref().unwrap_or_default(),
        VIEW_CONFIG.as_bytes(),
    ]
    .concat();
    std::fs::write(dir.join("config"), config).map_err(|e| io(&dir, e))?;
    write_refs(snap, &dir)?;
    for pack in snap.packs.keys() {
        let hex = pack
            .strip_prefix("pack-")
            .filter(|h| {
                crate::hash::HashKind::ALL
                    .iter()
                    .any(|k| h.len() == k.len_in_hex())
                    && h.bytes().all(|b| b.is_ascii_hexdigit())
            })
            .ok_or_else(|| Error::corrupt(format!("{base}pack/{pack}"), "not a pack name"))?;
        for &(ext, required, checksum_back) in INDEX_FILES {
            let file = format!("{pack}.{ext}");
            let key = pack_key(base, pack, ext);
            let check = |path: &Path| match checksum_back {
                Some(back) => check_trailer(path, hex, back, ext),
                None => check_bitmap(hex)(path),
            };
            let cached = blobs
                .cache()
                .get(&file, &|| blobs.get_optional(&key), &check)?;
            match cached {
                Some(from) => {
                    let to = pack_dir.join(&file);
                    std::fs::hard_link(&from, &to).map_err(|e| io(&to, e))?;
                }
                None if required => {
                    return Err(Error::corrupt(key, "listed pack has no index in the store"));
                }
                None => {}
            }
        }
    }
    Ok(dir)
}

/// Writes HEAD, `packed-refs` (direct refs, sorted) and loose symbolic refs.
fn write_refs(snap: &Snapshot, dir: &Path) -> Result<(), Error> {
    let head = match &snap.head {
        Some(RefValue::Symbolic(t)) => format!("ref: {t}\n"),
        Some(RefValue::Direct(id)) => format!("{id}\n"),
        None => return Err(Error::NotFound("repository".into())),
    };
    std::fs::write(dir.join("HEAD"), head).map_err(|e| io(dir, e))?;
    let mut packed = String::from("# pack-refs with: sorted \n");
    for (name, value) in &snap.refs {
        match value {
            RefValue::Direct(id) => packed.push_str(&format!("{id} {name}\n")),
            RefValue::Symbolic(target) => {
                // Names were validated when written; refuse anything that would leave the view.
                if name
                    .split('/')
                    .any(|c| c.is_empty() || c == "." || c == "..")
                {
                    return Err(Error::corrupt(name.clone(), "unsafe ref name in the store"));
                }
                let path = dir.join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
                }
                std::fs::write(&path, format!("ref: {target}\n")).map_err(|e| io(&path, e))?;
            }
        }
    }
    std::fs::write(dir.join("packed-refs"), packed).map_err(|e| io(dir, e))
}

/// Copies the `size` bytes of pack data stored under `key` into `dst` (written beside it, then
/// renamed), in ranged reads: for programs that read pack files themselves (C git in hooks,
/// `sluice export`), since requests otherwise read pack data from the store.
pub fn download_pack(blobs: &Blobs, key: &str, size: u64, dst: &Path) -> Result<(), Error> {
    use std::io::Write;
    let tmp = dst.with_extension("pack.part");
    let mut out = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
    let mut at = 0;
    while at < size {
        let end = size.min(at + super::ranged::COPY_CHUNK);
        out.write_all(&blobs.read_range(key, at..end)?)
            .map_err(|e| io(&tmp, e))?;
        at = end;
    }
    out.sync_all().map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, dst).map_err(|e| io(dst, e))
}

/// The `pack-<hex>` names of the packs in `dir/objects/pack` (those with an `.idx`; a listed
/// pack's data is in the store, a pushed one's next to its index).
pub fn local_packs(dir: &Path) -> Result<Vec<String>, Error> {
    let pack_dir = dir.join("objects/pack");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&pack_dir).map_err(|e| io(&pack_dir, e))? {
        let entry = entry.map_err(|e| io(&pack_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".idx") {
            out.push(stem.to_string());
        }
    }
    out.sort();
    Ok(out)
}

/// The refs a hook changed in the view at `dir` (`git update-ref`, as `proc-receive` hooks
/// accept commands), as updates from the snapshot's values: created, moved and deleted refs
/// that point at objects. Symbolic refs are not compared (a hook that adds one is not
/// published).
pub fn changed_refs(
    dir: &Path,
    kind: crate::hash::HashKind,
    snap: &Snapshot,
) -> Result<Vec<crate::backend::RefUpdate>, Error> {
    use crate::hash::ObjectId;
    use crate::refs::files::{collect_raw, FilesRefStore};
    use crate::refs::name::RefName;
    use crate::refs::RawRef;
    use std::collections::BTreeMap;
    let store = FilesRefStore::new(dir, dir, kind, Default::default());
    let now: BTreeMap<String, ObjectId> = collect_raw(&store)?
        .into_iter()
        .filter_map(|(name, raw)| match raw {
            RawRef::Direct { id, .. } => Some((name, id)),
            RawRef::Symbolic(_) => None,
        })
        .collect();
    let before: BTreeMap<&str, ObjectId> = snap
        .refs
        .iter()
        .filter_map(|(name, v)| match v {
            RefValue::Direct(id) => Some((name.as_str(), *id)),
            RefValue::Symbolic(_) => None,
        })
        .collect();
    let null = kind.null();
    let name = |n: &str| RefName::new(n).map_err(|e| Error::corrupt(n.to_string(), e.to_string()));
    let mut updates = Vec::new();
    for (n, new) in &now {
        let old = before.get(n.as_str()).copied();
        if old != Some(*new) {
            updates.push(crate::backend::RefUpdate {
                name: name(n)?,
                old: old.unwrap_or(null),
                new: *new,
            });
        }
    }
    for (n, old) in &before {
        if !now.contains_key(*n) {
            updates.push(crate::backend::RefUpdate {
                name: name(n)?,
                old: *old,
                new: null,
            });
        }
    }
    Ok(updates)
}
