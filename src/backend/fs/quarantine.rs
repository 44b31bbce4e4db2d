//! Push quarantine for on-disk repositories, as git does it (`tmp_objdir`): received objects go
//! to `objects/incoming-<pid>-<n>/`, which hooks can see through `GIT_QUARANTINE_PATH` /
//! `GIT_OBJECT_DIRECTORY` + `GIT_ALTERNATE_OBJECT_DIRECTORIES`; on commit the pack and index
//! are fsynced and renamed into `objects/pack/` (pack first, index last, since the index is what
//! makes a pack visible), then the directory is fsynced. Dropping an uncommitted quarantine
//! removes it, so a refused push leaves nothing behind.
//!
//! Like git, a push of fewer objects than `receive.unpackLimit` (else `transfer.unpackLimit`,
//! else 100) is stored as loose objects rather than as a tiny pack: the pack is still received
//! and fully checked first (including the checks that need the whole push), then exploded inside
//! the quarantine on commit, and the loose files migrate into `objects/xx/` and are made durable
//! there as one batch (see [`crate::durable`]).

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::backend::fs::odb::FsObjectStore;
use crate::backend::staged::StagedView;
use crate::backend::{Error, Quarantine, Repository};
use crate::file_mode::SharedPerm;
use crate::git_config::GitConfig;
use crate::hash::ObjectId;
use crate::limits::Limits;
use crate::odb::{Kind, Object};
use crate::pack::ingest;
use crate::progress::Progress;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A push's quarantine directory inside `objects/`.
pub struct FsQuarantine<'r> {
    view: QuarantineView<'r>,
    dir: PathBuf,
    objects_dir: PathBuf,
    committed: bool,
    /// `core.sharedRepository`: the modes of every file and directory created here.
    shared: SharedPerm,
    /// Removes `dir` if the process is ended by a timeout or a signal (no `Drop` then).
    _on_exit: crate::cleanup::Registered,
    /// A small push's objects (received, pack, index), written loose only on commit: the checks
    /// that need the whole push run first, as `unpack-objects --strict` checks before writing,
    /// so a refused push of many objects never writes them one file each.
    explode_on_commit: Option<Exploding>,
}

/// What a small push leaves to explode on commit: the objects received, the pack, its index.
type Exploding = (Vec<(ObjectId, Kind)>, PathBuf, PathBuf);

/// The repository as seen with the quarantined objects added.
pub type QuarantineView<'r> = StagedView<'r, dyn Repository + 'r, FsObjectStore>;

fn io(what: &Path, e: std::io::Error) -> Error {
    Error::io(what.display().to_string(), e)
}

fn fsync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}

impl<'r> FsQuarantine<'r> {
    /// Creates a fresh quarantine under `objects_dir` for repository `base`.
    pub fn create(
        base: &'r dyn Repository,
        objects_dir: &Path,
        shared: SharedPerm,
    ) -> Result<Self, Error> {
        remove_stale(objects_dir);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = objects_dir.join(format!("incoming-{}-{n}", std::process::id()));
        let on_exit = crate::cleanup::register(dir.clone());
        shared
            .create_dir_all(&dir.join("pack"))
            .map_err(|e| io(&dir, e))?;
        Ok(FsQuarantine {
            shared,
            _on_exit: on_exit,
            view: StagedView::new(base),
            dir,
            objects_dir: objects_dir.to_path_buf(),
            committed: false,
            explode_on_commit: None,
        })
    }
}

/// Removes quarantines left by receive-pack processes that died (killed, machine crash): their
/// pid is gone, or they are older than a day (pids are reused). Nothing in them was ever visible.
/// Called by every new quarantine and by `sluice repack`.
pub(crate) fn remove_stale(objects_dir: &Path) {
    let Ok(entries) = fs::read_dir(objects_dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("incoming-") else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let dead = pid
            .is_some_and(|p| p != std::process::id() && !Path::new(&format!("/proc/{p}")).exists());
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(24 * 3600));
        if dead || old {
            tracing::info!(dir = %name, "removing stale quarantine");
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// `receive.unpackLimit`, else `transfer.unpackLimit`, else git's default of 100.
fn unpack_limit(config: &GitConfig) -> u64 {
    ["receive.unpacklimit", "transfer.unpacklimit"]
        .iter()
        .find_map(|k| config.get_i64(k).ok().flatten())
        .map_or(100, |v| u64::try_from(v).unwrap_or(0))
}

/// Threads resolving deltas: `pack.threads` as git's index-pack reads it (0 or unset: one per
/// core).
fn index_threads(config: &GitConfig) -> usize {
    let cores = crate::limits::cores();
    match config.get_i64("pack.threads").ok().flatten() {
        Some(n) if n > 0 => usize::try_from(n).unwrap_or(cores).min(cores * 4),
        _ => cores,
    }
}

impl FsQuarantine<'_> {
    /// Whether any received object is larger than `core.bigFileThreshold`.
    fn holds_big_object(&self, received: &[(ObjectId, Kind)]) -> Result<bool, Error> {
        let threshold = self.view.base().config().big_file_threshold()?;
        let store = FsObjectStore::open(&self.dir, self.view.base().hash_kind())?;
        for (id, kind) in received {
            if *kind != Kind::Blob {
                continue;
            }
            if store.header(id)?.is_some_and(|(_, size)| size > threshold) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Rewrites the checked pack at `pack`/`idx` as loose objects inside the quarantine (objects
    /// the repository already has, e.g. thin-pack bases, are skipped), then removes the pack.
    fn explode(
        &mut self,
        received: &[(ObjectId, Kind)],
        pack: &Path,
        idx: &Path,
    ) -> Result<(), Error> {
        let store = FsObjectStore::open(&self.dir, self.view.base().hash_kind())?;
        let mut deflater = crate::odb::zlib::Deflater::new(LOOSE_LEVEL);
        for (id, _) in received {
            if self.view.base().contains(id)? {
                continue;
            }
            let obj = store.read(id)?.ok_or(Error::MissingObject(*id))?;
            write_loose(&self.dir, id, &obj, self.shared, &mut deflater)?;
        }
        drop(store);
        fs::remove_file(idx).map_err(|e| io(idx, e))?;
        fs::remove_file(pack).map_err(|e| io(pack, e))?;
        Ok(())
    }

    /// Moves loose objects (exploded pushes, or written by hooks) into `objects/xx/`. They
    /// were written without `fsync`: their content is made durable while they are still
    /// invisible in the quarantine, one concurrent batch (see [`crate::durable`]), then they are
    /// renamed into place and the directories synced, so no crash can leave a visible loose
    /// object whose content was lost.
    fn migrate_loose(&self) -> Result<(), Error> {
        let entries = fs::read_dir(&self.dir).map_err(|e| io(&self.dir, e))?;
        // (quarantined file, its place in objects/).
        let mut moves: Vec<(PathBuf, PathBuf)> = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.len() != 2 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let dst = self.objects_dir.join(&name);
            let files = fs::read_dir(e.path()).map_err(|err| io(&e.path(), err))?;
            for f in files.flatten() {
                let fname = f.file_name();
                if fname.to_string_lossy().starts_with("tmp_") {
                    continue;
                }
                let target = dst.join(&fname);
                if target.exists() {
                    continue; // the object is already there
                }
                moves.push((f.path(), target));
            }
        }
        if moves.is_empty() {
            return Ok(());
        }
        let sources: Vec<PathBuf> = moves.iter().map(|(from, _)| from.clone()).collect();
        crate::durable::sync_files(&sources).map_err(|e| io(&self.dir, e))?;
        let mut dirs: Vec<PathBuf> = vec![self.objects_dir.clone()];
        for (from, to) in &moves {
            if let Some(dst) = to.parent() {
                if dirs.last().is_none_or(|d| d != dst) {
                    self.shared.create_dir_all(dst).map_err(|e| io(dst, e))?;
                    dirs.push(dst.to_path_buf());
                }
            }
            fs::rename(from, to).map_err(|e| io(to, e))?;
        }
        crate::durable::sync_dirs(&dirs).map_err(|e| io(&self.objects_dir, e))
    }
}

/// The zlib level of loose objects (git's `core.looseCompression` default: best speed).
pub(super) const LOOSE_LEVEL: u32 = 1;

/// Writes `obj` as the loose object `id` under `dir` (temporary file, rename, read-only like
/// git's), compressed with `deflater` (one for a run of objects). Not fsynced here: the pack it came from is the durable copy until
/// [`FsQuarantine::migrate_loose`] fsyncs the batch.
pub(super) fn write_loose(
    dir: &Path,
    id: &ObjectId,
    obj: &Object,
    shared: SharedPerm,
    deflater: &mut crate::odb::zlib::Deflater,
) -> Result<(), Error> {
    use std::io::Write;
    let hex = id.to_hex();
    let sub = dir.join(&hex[..2]);
    shared.create_dir_all(&sub).map_err(|e| io(&sub, e))?;
    let target = sub.join(&hex[2..]);
    let tmp = sub.join(format!("tmp_obj_{}", &hex[2..]));
    let bytes =
        crate::odb::loose::encode_with(deflater, obj.kind, &obj.data).map_err(|e| io(&tmp, e))?;
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| io(&tmp, e))?;
    f.write_all(&bytes).map_err(|e| io(&tmp, e))?;
    drop(f);
    shared.read_only(&tmp).map_err(|e| io(&tmp, e))?;
    fs::rename(&tmp, &target).map_err(|e| io(&target, e))?;
    Ok(())
}

impl Quarantine for FsQuarantine<'_> {
    fn receive_pack(
        &mut self,
        input: &mut dyn Read,
        limits: &Limits,
        check: ingest::ObjectCheck<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Vec<(ObjectId, Kind)>, Error> {
        let pack_dir = self.dir.join("pack");
        let tmp_pack = pack_dir.join("tmp_pack_incoming");
        let mut spool = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp_pack)
            .map_err(|e| io(&tmp_pack, e))?;
        let tuning = ingest::Tuning {
            max_threads: index_threads(self.view.base().config()),
            ..ingest::Tuning::default()
        };
        let mut indexed = ingest::index_pack(
            input,
            &mut spool,
            &ingest::StoreBases(self.view.base()),
            limits,
            &tuning,
            check,
            progress,
        )
        .map_err(|e| Error::BadPack(e.to_string()))?;
        // What the client sent: thin-pack bases are appended last (before the index sorts).
        let sent = indexed.entries.len() - indexed.appended_bases;
        // A small push becomes loose objects; its pack is only read back once, never kept, so
        // it needs no fsync.
        let mut explode = (sent as u64) < unpack_limit(self.view.base().config());
        if !explode {
            spool.sync_all().map_err(|e| io(&tmp_pack, e))?;
        }
        drop(spool);
        let received: Vec<(ObjectId, Kind)> = indexed.entries[..sent]
            .iter()
            .map(|e| (e.id, e.kind))
            .collect();
        let tmp_idx = pack_dir.join("tmp_idx_incoming");
        {
            let f = File::create(&tmp_idx).map_err(|e| io(&tmp_idx, e))?;
            let mut w = BufWriter::new(f);
            crate::pack::idx_write::write_idx_v2(
                &mut indexed.entries,
                &indexed.pack_checksum,
                &mut w,
            )
            .map_err(|e| io(&tmp_idx, e))?;
            let f = w.into_inner().map_err(|e| io(&tmp_idx, e.into_error()))?;
            if !explode {
                f.sync_all().map_err(|e| io(&tmp_idx, e))?;
            }
        }
        let stem = format!("pack-{}", indexed.pack_checksum);
        let pack = pack_dir.join(format!("{stem}.pack"));
        let idx = pack_dir.join(format!("{stem}.idx"));
        for tmp in [&tmp_pack, &tmp_idx] {
            self.shared.read_only(tmp).map_err(|e| io(tmp, e))?;
        }
        fs::rename(&tmp_pack, &pack).map_err(|e| io(&pack, e))?;
        fs::rename(&tmp_idx, &idx).map_err(|e| io(&idx, e))?;
        if explode && self.holds_big_object(&received)? {
            // Kept as a pack instead (deviation: C git's unpack-objects streams such an object
            // into a loose file): exploding would hold the whole object in memory.
            for path in [&pack, &idx] {
                File::open(path)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| io(path, e))?;
            }
            explode = false;
        }
        if explode {
            self.explode_on_commit = Some((received.clone(), pack, idx));
        }
        let staged = FsObjectStore::open(&self.dir, self.view.base().hash_kind())?;
        self.view.stage(staged);
        Ok(received)
    }

    fn view(&self) -> &dyn Repository {
        &self.view
    }

    fn hook_env(&self) -> Vec<(String, String)> {
        let q = self.dir.display().to_string();
        vec![
            ("GIT_QUARANTINE_PATH".into(), q.clone()),
            ("GIT_OBJECT_DIRECTORY".into(), q),
            (
                "GIT_ALTERNATE_OBJECT_DIRECTORIES".into(),
                self.objects_dir.display().to_string(),
            ),
        ]
    }

    fn commit(mut self: Box<Self>) -> Result<(), Error> {
        // Moving objects into place is not cut short by a timeout or signal.
        let _critical = crate::cleanup::critical();
        // Drop our maps of the quarantined pack before it moves.
        drop(self.view.unstage());
        if let Some((received, pack, idx)) = self.explode_on_commit.take() {
            self.explode(&received, &pack, &idx)?;
        }
        self.migrate_loose()?;
        let src = self.dir.join("pack");
        let dst = self.objects_dir.join("pack");
        self.shared.create_dir_all(&dst).map_err(|e| io(&dst, e))?;
        let mut names: Vec<PathBuf> = fs::read_dir(&src)
            .map_err(|e| io(&src, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pack" || x == "idx"))
            .collect();
        // Packs before indexes: a reader only looks at a pack once its .idx exists.
        names.sort_by_key(|p| p.extension().is_some_and(|x| x == "idx"));
        for path in names {
            let Some(name) = path.file_name() else {
                continue;
            };
            let target = dst.join(name);
            if target.exists() {
                continue; // the same pack content is already there
            }
            fs::rename(&path, &target).map_err(|e| io(&target, e))?;
        }
        fsync_dir(&dst)?;
        self.committed = true;
        let _ = fs::remove_dir_all(&self.dir);
        Ok(())
    }
}

impl Drop for FsQuarantine<'_> {
    fn drop(&mut self) {
        if !self.committed {
            // Drop the mapped files first, then the directory.
            drop(self.view.unstage());
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
