//! The write path of a [`MemoryRepository`]: a push's pack is checked and indexed exactly as the
//! files backend does it ([`crate::pack::ingest::index_pack`], thin packs completed from the
//! repository), its objects staged in a map of their own that [`Quarantine::view`] reads before
//! the repository's, and published into the repository only by [`Quarantine::commit`]; the ref
//! transaction follows through [`Repository::update_refs`]. So receive-pack runs whole in unit
//! tests, with no directory of its own left behind.

use std::fs::{self, File, OpenOptions};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use super::MemoryRepository;
use crate::backend::{
    Error, Head, ObjectStore, ObjectStream, PackStore, Quarantine, RawEntry, RefUpdate, RefVisitor,
    Repository, StoredPack, UpdateResult,
};
use crate::git_config::GitConfig;
use crate::hash::{HashKind, IdSet, ObjectId};
use crate::odb::commit_graph::GraphCommit;
use crate::odb::memory::MemoryObjects;
use crate::odb::{Kind, Object};
use crate::pack::ingest::{self, BaseLookup};
use crate::progress::Progress;

/// Numbers the spool directories of one process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The repository with a push's objects staged on top (refs, config and hooks unchanged).
pub struct StagedView<'r> {
    base: &'r MemoryRepository,
    staged: MemoryObjects,
}

/// A push in progress against a [`MemoryRepository`].
pub struct MemoryQuarantine<'r> {
    view: StagedView<'r>,
}

impl<'r> MemoryQuarantine<'r> {
    /// An empty quarantine over `base`.
    pub fn new(base: &'r MemoryRepository) -> Self {
        MemoryQuarantine {
            view: StagedView {
                base,
                staged: MemoryObjects::new(),
            },
        }
    }
}

/// Thin-pack bases come from the repository.
struct Bases<'a>(&'a MemoryRepository);

impl BaseLookup for Bases<'_> {
    fn hash_kind(&self) -> HashKind {
        self.0.hash_kind()
    }

    fn base(&self, id: &ObjectId) -> Result<Option<Object>, ingest::Error> {
        self.0
            .read_object(id)
            .map_err(|e| ingest::Error::Base(e.to_string()))
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
        let bases = Bases(self.view.base);
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
        // Read back through the one pack reader there is, then staged in memory.
        let store =
            crate::backend::fs::odb::FsObjectStore::open(&spool.0, self.view.base.hash_kind())?;
        for (id, _) in &received {
            let object = store.read(id)?.ok_or(Error::MissingObject(*id))?;
            self.view.staged.insert(*id, object);
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

    fn commit(self: Box<Self>) -> Result<(), Error> {
        self.view.staged.drain_into(&self.view.base.objects);
        Ok(())
    }
}

impl ObjectStore for StagedView<'_> {
    fn hash_kind(&self) -> HashKind {
        self.base.hash_kind()
    }

    fn object_header(&self, id: &ObjectId) -> Result<Option<(Kind, u64)>, Error> {
        match self.staged.object_header(id)? {
            Some(h) => Ok(Some(h)),
            None => self.base.object_header(id),
        }
    }

    fn read_object(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        match self.staged.read_object(id)? {
            Some(o) => Ok(Some(o)),
            None => self.base.read_object(id),
        }
    }

    fn stream_object(&self, id: &ObjectId) -> Result<Option<ObjectStream<'_>>, Error> {
        Ok(self.read_object(id)?.map(ObjectStream::whole))
    }

    fn raw_entry(&self, _id: &ObjectId) -> Result<Option<RawEntry<'_>>, Error> {
        Ok(None)
    }

    fn shallow_roots(&self) -> Option<&IdSet> {
        self.base.shallow_roots()
    }

    fn commit_from_graph(&self, id: &ObjectId) -> Option<GraphCommit> {
        self.base.commit_from_graph(id)
    }
}

impl PackStore for StagedView<'_> {
    fn bitmapped_pack(&self) -> Option<&dyn StoredPack> {
        None
    }

    fn reuse_pack(&self) -> Option<&dyn StoredPack> {
        None
    }
}

/// Refs and configuration are the repository's; writes go through the repository itself.
impl Repository for StagedView<'_> {
    fn config(&self) -> &GitConfig {
        self.base.config()
    }

    fn config_dir(&self) -> Option<&std::path::Path> {
        self.base.config_dir()
    }

    fn is_bare(&self) -> bool {
        self.base.is_bare()
    }

    fn head(&self) -> Result<Head, Error> {
        self.base.head()
    }

    fn for_each_ref(&self, prefix: &str, visit: &mut RefVisitor<'_>) -> Result<(), Error> {
        self.base.for_each_ref(prefix, visit)
    }

    fn add_shallow_roots(&self, _ids: &[ObjectId]) -> Result<(), Error> {
        Err(Error::Unsupported("shallow updates inside a quarantine"))
    }

    fn alternate_tips(&self) -> Result<Vec<ObjectId>, Error> {
        self.base.alternate_tips()
    }

    fn ref_is_hidden(&self, name: &str) -> bool {
        self.base.ref_is_hidden(name)
    }

    fn hidden_tips(&self) -> Result<Vec<ObjectId>, Error> {
        self.base.hidden_tips()
    }

    fn begin_quarantine(&self) -> Result<Box<dyn Quarantine + '_>, Error> {
        Err(Error::Unsupported("a quarantine inside a quarantine"))
    }

    fn update_refs(&self, _: &[RefUpdate], _: bool) -> Result<Vec<UpdateResult>, Error> {
        Err(Error::Unsupported("updating refs inside a quarantine"))
    }

    fn publish_hook_refs(&self) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }
}
