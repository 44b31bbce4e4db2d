//! The write path of a [`MemoryRepository`]: a push's pack is checked and indexed exactly as the
//! files backend does it ([`crate::pack::ingest::index_pack`], thin packs completed from the
//! repository), read back through the pack reader ([`crate::pack::reader`]), its objects staged
//! in a map of their own that [`Quarantine::view`] reads before the repository's, and published
//! into the repository only by [`Quarantine::commit`]; the ref transaction follows through
//! [`Repository::update_refs`]. So receive-pack runs whole in unit tests, with no directory of
//! its own left behind.

use std::fs::{self, File, OpenOptions};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use super::MemoryRepository;
use crate::backend::staged::StagedView;
use crate::backend::{Error, ObjectStore, Quarantine, Repository};
use crate::hash::ObjectId;
use crate::odb::memory::MemoryObjects;
use crate::odb::{Kind, Object};
use crate::pack::ingest;
use crate::pack::reader::{LocalPacks, PackSet};
use crate::progress::Progress;

/// Numbers the spool directories of one process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A push in progress against a [`MemoryRepository`].
pub struct MemoryQuarantine<'r> {
    /// The repository with the push's objects staged on top (refs, config and hooks unchanged).
    view: StagedView<'r, MemoryRepository, MemoryObjects>,
}

impl<'r> MemoryQuarantine<'r> {
    /// An empty quarantine over `base`.
    pub fn new(base: &'r MemoryRepository) -> Self {
        let mut view = StagedView::new(base);
        view.stage(MemoryObjects::new());
        MemoryQuarantine { view }
    }
}

/// A spool directory under the system's temporary directory, removed on drop.
struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl Quarantine for MemoryQuarantine<'_> {
    fn receive_pack(
        &mut self,
        input: &mut dyn std::io::Read,
        limits: &crate::limits::Limits,
        check: ingest::ObjectCheck<'_>,
        progress: &mut dyn Progress,
    ) -> Result<Vec<(ObjectId, Kind)>, Error> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sluice-memory-{}-{n}", std::process::id()));
        let spool = Spool(dir);
        let pack_dir = spool.0.join("pack");
        fs::create_dir_all(&pack_dir).map_err(|e| Error::io("spool", e))?;
        let tmp = pack_dir.join("incoming.pack");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io("spool", e))?;
        let bases = ingest::StoreBases(self.view.base());
        let tuning = ingest::Tuning::default();
        let mut indexed =
            ingest::index_pack(input, &mut file, &bases, limits, &tuning, check, progress)
                .map_err(|e| Error::BadPack(e.to_string()))?;
        drop(file);
        let sent = indexed.entries.len() - indexed.appended_bases;
        let received: Vec<(ObjectId, Kind)> = indexed.entries[..sent]
            .iter()
            .map(|e| (e.id, e.kind))
            .collect();
        let stem = pack_dir.join(format!("pack-{}", indexed.pack_checksum));
        let mut idx =
            File::create(stem.with_extension("idx")).map_err(|e| Error::io("spool", e))?;
        crate::pack::idx_write::write_idx_v2(
            &mut indexed.entries,
            &indexed.pack_checksum,
            &mut idx,
        )
        .map_err(|e| Error::io("spool", e))?;
        fs::rename(&tmp, stem.with_extension("pack")).map_err(|e| Error::io("spool", e))?;
        // Read back through the pack reader (the pack is complete: thin bases were appended).
        let hash = self.view.base().hash_kind();
        let packs = PackSet::open(&pack_dir, hash, &LocalPacks)?;
        let staged = self
            .view
            .staged()
            .ok_or(Error::Unsupported("a committed quarantine"))?;
        for (id, _) in &received {
            let (kind, data) = packs
                .read(id, &self.view)?
                .ok_or(Error::MissingObject(*id))?;
            let data = std::sync::Arc::unwrap_or_clone(data);
            staged.insert(*id, Object { kind, data });
        }
        Ok(received)
    }

    fn view(&self) -> &dyn Repository {
        &self.view
    }

    /// No directory holds the staged objects; hooks of a memory repository do not run.
    fn hook_env(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    fn commit(mut self: Box<Self>) -> Result<(), Error> {
        if let Some(staged) = self.view.unstage() {
            staged.drain_into(&self.view.base().objects);
        }
        Ok(())
    }
}
