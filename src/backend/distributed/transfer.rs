//! Moving repositories in and out of the distributed backend, so a host can adopt it and leave
//! it again.
//!
//! - [`import`] (`sluice import DIR NAME`): every object reachable from DIR's refs and HEAD is
//!   written as one pack with a bitmap (stored deltas reused; loose objects packed), checked
//!   (the walk that chose the objects proves connectivity; the pack is read back against its
//!   trailer; every walked object is in the new index), uploaded create-only, and then the
//!   refs, pack and config are written and HEAD last (see [`publish`]): the repository appears
//!   whole or not at all, and never over an existing one.
//! - [`export`] (`sluice export NAME DIR`): a new bare repository with the listed packs' files
//!   as they are, the refs written through the on-disk backend's ref transaction, HEAD, and the
//!   stored config; then the refs' connectivity is walked in the new repository.

use std::path::Path;

use super::kv::{self, Compare, Op, Txn, TxnOutcome};
use super::maintenance::Error;
use super::refstore::RefValue;
use super::view;
use super::Stores;
use crate::backend::fs::{FsBackend, FsRepository};
use crate::backend::{ObjectStore, Repository};
use crate::hash::IdSet;
use crate::pack::files::{self, FileOptions};
use crate::pack::index::PackIndex;
use crate::progress::Progress;
use crate::walk::{self, WalkOptions};

/// What an import or export moved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Moved {
    /// Refs.
    pub refs: usize,
    /// Objects (import: in the new pack; export: in the copied packs).
    pub objects: usize,
    /// Packs.
    pub packs: usize,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| crate::backend::Error::io(path.display().to_string(), e).into()
}

/// The stored-config part of `repo`'s config: the [`super::settings::STORED_SECTIONS`] entries, as git config text.
fn stored_config(repo: &FsRepository) -> String {
    let mut text = String::new();
    let mut section = String::new();
    for (key, value) in repo.config().entries() {
        let Some((sec, name)) = key.rsplit_once('.') else {
            continue;
        };
        if !super::settings::storable(key) || value.is_some_and(|v| v.contains('\n')) {
            continue;
        }
        if sec != section {
            match sec.split_once('.') {
                Some((s, sub)) => text.push_str(&format!("[{s} \"{sub}\"]\n")),
                None => text.push_str(&format!("[{sec}]\n")),
            }
            section = sec.to_string();
        }
        match value {
            Some(v) => text.push_str(&format!("\t{name} = {}\n", quote(v))),
            None => text.push_str(&format!("\t{name}\n")),
        }
    }
    text
}

fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Imports the on-disk repository `dir` as `name` (see the module docs).
pub fn import(
    stores: &Stores,
    dir: &Path,
    name: &str,
    progress: &mut dyn Progress,
) -> Result<Moved, Error> {
    let base = stores.base(name)?;
    if super::refstore::load(stores.kv.as_ref(), &base)?
        .head
        .is_some()
    {
        return Err(
            crate::backend::Error::Unsupported("importing over an existing repository").into(),
        );
    }
    let src = FsBackend::default().open_fs(&dir.to_string_lossy())?;
    // The store's packs, indexes and ref values are SHA-1 (see `sluice init`): a SHA-256
    // repository copied in would be served with the wrong ids.
    if crate::odb::ObjectStore::hash_kind(&src) != crate::hash::HashKind::Sha1 {
        return Err(crate::backend::Error::Unsupported(
            "importing a SHA-256 repository: the distributed backend stores SHA-1 repositories only",
        )
        .into());
    }
    if src.shallow_roots().is_some() {
        return Err(crate::backend::Error::Unsupported("importing a shallow repository").into());
    }
    let refs = src.refs()?;
    let head = src.head()?;
    let mut wants: Vec<_> = refs.iter().map(|r| r.id).collect();
    wants.extend(head.id);
    wants.sort();
    wants.dedup();
    let walk = walk::objects_for_pack(&src, &wants, &[], &WalkOptions::default(), progress)?;
    let reachable: IdSet = walk.objects.iter().map(|o| o.id).collect();
    let tmp = stores
        .cache_dir
        .join(format!("import-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let result = (|| {
        let mut ops = Vec::new();
        if !walk.objects.is_empty() {
            let search = crate::pack::delta_search::SearchOptions::from_config(src.config())
                .map_err(crate::backend::Error::from)?;
            let mut tips: Vec<_> = refs.iter().map(|r| r.peeled.unwrap_or(r.id)).collect();
            tips.extend(head.id);
            let finish = |_: &Path| Ok(());
            let opts = FileOptions {
                write: crate::pack::write::WriteOptions {
                    ofs_delta: true,
                    max_delta_depth: search.depth,
                    search,
                    ..Default::default()
                },
                bitmap_tips: Some(&tips),
                reachable: walk.objects.len(),
                children: None,
                max_bitmaps: 3_000,
                finish: &finish,
            };
            let w = files::write_pack_files(&src, &tmp, &walk.objects.to_vec(), opts, progress)?;
            verify_index(&w.stem.with_extension("idx"), &src, &reachable)?;
            let pack = format!("pack-{}", w.checksum);
            let mut exts = vec!["pack", "idx"];
            if w.bitmaps > 0 {
                exts.insert(1, "bitmap");
                ops.push(put(&format!("{base}bitmap/{pack}"), "1"));
            }
            for ext in exts {
                let local = w.stem.with_extension(ext);
                stores
                    .blobs
                    .put_once(&super::view::pack_key(&base, &pack, ext), &local)?;
            }
            let size = std::fs::metadata(w.stem.with_extension("pack"))
                .map_err(io(&tmp))?
                .len();
            ops.push(put(&format!("{base}pack/{pack}"), &size.to_string()));
        }
        Ok::<_, Error>(ops)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    let mut ops = result?;
    let head_value = match (&head.symref_target, head.id) {
        (Some(t), _) => format!("ref: {t}"),
        (None, Some(id)) => id.to_string(),
        (None, None) => return Err(crate::backend::Error::corrupt("HEAD", "unreadable").into()),
    };
    for r in &refs {
        let value = match &r.symref_target {
            Some(t) => format!("ref: {t}"),
            None => r.id.to_string(),
        };
        ops.push(put(&format!("{base}{}", r.name), &value));
    }
    let config = stored_config(&src);
    if !config.is_empty() {
        ops.push(put(&format!("{base}config"), &config));
    }
    publish(stores, &base, ops, &head_value)?;
    Ok(Moved {
        refs: refs.len(),
        objects: walk.objects.len(),
        packs: usize::from(!walk.objects.is_empty()),
    })
}

/// Writes `ops` (refs, pack, config) and then HEAD = `head` for repository `base`: in batches
/// under an import lease (`<base>importing`, compared by every batch), HEAD last, in a
/// transaction that requires it absent. Until HEAD exists the repository does not (requests
/// answer "not found"), so it appears whole or not at all, never over an existing one; keys a
/// killed import left behind are removed first.
fn publish(stores: &Stores, base: &str, ops: Vec<Op>, head: &str) -> Result<(), Error> {
    let kv = stores.kv.as_ref();
    let lock_key = format!("{base}importing");
    let holder = super::maintenance::lock::holder();
    let exists = || crate::backend::Error::Unsupported("importing over an existing repository");
    let Some(lease) = super::maintenance::lock::Lease::take(kv, &lock_key, &holder)? else {
        return Err(crate::backend::Error::Unsupported(
            "importing while another import of it runs",
        )
        .into());
    };
    let compares = vec![
        Compare::ValueIs {
            key: lock_key.clone(),
            value: holder.clone().into_bytes(),
        },
        Compare::Absent {
            key: format!("{base}HEAD"),
        },
    ];
    let leftovers: Vec<Op> = kv
        .range(base)?
        .into_iter()
        .filter(|e| e.key != lock_key)
        .map(|e| Op::Delete { key: e.key })
        .collect();
    for chunk in leftovers
        .chunks(kv::BATCH_OPS)
        .chain(ops.chunks(kv::BATCH_OPS))
    {
        lease.refresh()?;
        let txn = Txn {
            compares: compares.clone(),
            ops: chunk.to_vec(),
        };
        if let TxnOutcome::Refused(_) = kv.txn(&txn)? {
            return Err(exists().into());
        }
    }
    let txn = Txn {
        compares,
        ops: vec![put(&format!("{base}HEAD"), head)],
    };
    match kv.txn(&txn)? {
        TxnOutcome::Applied => Ok(()),
        TxnOutcome::Refused(_) => Err(exists().into()),
    }
}

fn put(key: &str, value: &str) -> Op {
    Op::Put {
        key: key.to_string(),
        value: value.as_bytes().to_vec(),
    }
}

/// Every object of `reachable` is in the written index `idx`, and it holds nothing else.
fn verify_index(idx: &Path, repo: &FsRepository, reachable: &IdSet) -> Result<(), Error> {
    let index = PackIndex::new(crate::odb::mmap::map(idx)?, repo.hash_kind())
        .map_err(|e| crate::backend::Error::corrupt(idx.display().to_string(), e.to_string()))?;
    let missing = reachable.iter().find(|id| index.find(id).is_none());
    if let Some(id) = missing {
        return Err(crate::backend::Error::MissingObject(*id).into());
    }
    if index.len() != reachable.len() {
        return Err(crate::backend::Error::corrupt(
            idx.display().to_string(),
            format!(
                "{} objects indexed, {} written",
                index.len(),
                reachable.len()
            ),
        )
        .into());
    }
    Ok(())
}

/// Exports repository `name` into a new bare repository at `dir` (see the module docs).
pub fn export(
    stores: &Stores,
    name: &str,
    dir: &Path,
    progress: &mut dyn Progress,
) -> Result<Moved, Error> {
    let nonempty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
    if nonempty {
        return Err(
            crate::backend::Error::Unsupported("exporting into a non-empty directory").into(),
        );
    }
    let repo = stores.backend().open_dist(name)?;
    let snap = repo.snapshot().clone();
    crate::backend::fs::init::init(dir, true, "main", crate::hash::HashKind::Sha1)?;
    let (from, to) = (
        repo.view_dir().join("objects/pack"),
        dir.join("objects/pack"),
    );
    let mut moved = Moved::default();
    for (pack, &size) in &snap.packs {
        // Pack data lives only in the store (requests read it in ranges); the .idx is in the
        // view. The .idx last: a reader only looks at a pack whose index exists.
        let dst = to.join(format!("{pack}.pack"));
        view::download_pack(
            &stores.blobs,
            &view::pack_key(repo.base(), pack, "pack"),
            size,
            &dst,
        )?;
        let (src, dst) = (
            from.join(format!("{pack}.idx")),
            to.join(format!("{pack}.idx")),
        );
        std::fs::copy(&src, &dst).map_err(io(&dst))?;
        moved.packs += 1;
    }
    let head = match &snap.head {
        Some(RefValue::Symbolic(t)) => format!("ref: {t}\n"),
        Some(RefValue::Direct(id)) => format!("{id}\n"),
        None => return Err(crate::backend::Error::NotFound(name.to_string()).into()),
    };
    std::fs::write(dir.join("HEAD"), head).map_err(io(dir))?;
    if let Some(config) = &snap.config {
        let path = dir.join("config");
        let mut text = std::fs::read(&path).map_err(io(&path))?;
        text.extend_from_slice(config);
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    let out = FsRepository::open(dir.to_path_buf(), true, &Default::default())?;
    let null = out.hash_kind().null();
    let mut updates = Vec::new();
    for (ref_name, value) in &snap.refs {
        match value {
            RefValue::Direct(id) => updates.push(crate::backend::RefUpdate {
                name: crate::refs::name::RefName::new(ref_name)
                    .map_err(|e| crate::backend::Error::corrupt(ref_name.clone(), e.to_string()))?,
                old: null,
                new: *id,
            }),
            RefValue::Symbolic(target) => write_symref(dir, ref_name, target)?,
        }
    }
    for (u, r) in updates.iter().zip(out.update_refs(&updates, true)?) {
        r.map_err(|why| crate::backend::Error::corrupt(u.name.to_string(), why))?;
    }
    moved.refs = snap.refs.len();
    // Connectivity in the new repository: every ref's history and trees are there.
    let fresh = FsRepository::open(dir.to_path_buf(), true, &Default::default())?;
    let mut wants: Vec<_> = fresh.refs()?.iter().map(|r| r.id).collect();
    wants.extend(fresh.head()?.id);
    moved.objects = walk::objects_for_pack(&fresh, &wants, &[], &WalkOptions::default(), progress)?
        .objects
        .len();
    Ok(moved)
}

/// Writes symbolic ref `name` → `target` as a loose ref file in `dir`.
fn write_symref(dir: &Path, name: &str, target: &str) -> Result<(), Error> {
    for n in [name, target] {
        crate::refs::name::RefName::new(n)
            .map_err(|e| crate::backend::Error::corrupt(n.to_string(), e.to_string()))?;
    }
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(&path, format!("ref: {target}\n")).map_err(io(&path))
}
