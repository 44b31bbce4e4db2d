//! Stored packs as the pack writer and bitmap counting see them: [`StoredPack`] (entries in
//! stored order, copied verbatim, with a reachability index when there is one) and
//! [`PackStore`], an [`ObjectStore`] that can also offer such packs.
//!
//! This is the `pack` layer's extension of the object boundary: it speaks in positions, ids and
//! compressed bytes, never in files, so a store that keeps packs elsewhere can offer them too.

use std::borrow::Cow;

use crate::hash::{HashKind, IdSet, ObjectId};
use crate::odb::commit_graph::GraphCommit;
use crate::odb::store::{Error, ObjectStore, ObjectStream, RawEntry};
use crate::odb::{Kind, Object};
use crate::pack::ewah::Bitmap;

/// An [`ObjectStore`] whose objects (some of them) sit in stored packs that can be sent as they
/// are. Both methods are required, so a wrapper cannot silently lose pack reuse.
pub trait PackStore: ObjectStore {
    /// The pack that carries a reachability index, if the storage has one (`None`: counting walks
    /// the history).
    fn bitmapped_pack(&self) -> Option<&dyn StoredPack>;

    /// The pack most of a clone's objects come from (the largest), for sending its entries in
    /// runs after a history walk chose them; `None` if objects are not stored in packs.
    fn reuse_pack(&self) -> Option<&dyn StoredPack>;
}

/// One stored pack, possibly with a reachability index (git's `.bitmap`): lets upload-pack send
/// stored entries verbatim, in runs, and (with the index) count a clone's objects by OR-ing
/// stored closures. Positions are the pack's entry order (`0..object_count()`), the order a
/// bitmap's bits are in.
pub trait StoredPack: Send + Sync {
    /// Number of entries in the pack.
    fn object_count(&self) -> usize;

    /// Position of `id` in this pack, if it is there.
    fn position(&self, id: &ObjectId) -> Option<usize>;

    /// Whether `id` is in this pack (a lookup that may need no table of positions).
    fn contains(&self, id: &ObjectId) -> bool {
        self.position(id).is_some()
    }

    /// The id at `pos`.
    fn id_at(&self, pos: usize) -> Option<ObjectId>;

    /// The object type at `pos` (from the stored type index; `None` without one).
    fn kind_at(&self, pos: usize) -> Option<Kind>;

    /// The name hash of the object at `pos` ([`crate::walk::name_hash`] of its path), from the
    /// reachability index's name-hash cache; `None` without one.
    fn name_hash_at(&self, _pos: usize) -> Option<u32> {
        None
    }

    /// Everything reachable from commit `id` (itself included), when a closure is stored for it
    /// (always `None` without a reachability index).
    fn closure(&self, id: &ObjectId) -> Result<Option<Bitmap>, Error>;

    /// The stored entry at `pos`.
    fn entry(&self, pos: usize) -> Result<PackedEntry<'_>, Error>;

    /// The stored pack's own checksum, when a pack of all its entries copied verbatim is byte
    /// for byte the stored pack (its header says version 2 and the same object count): a full
    /// clone then needs no hashing. `None` when unknown.
    fn whole_pack_trailer(&self) -> Option<ObjectId> {
        None
    }

    /// Writes the stored bytes of entries `from..to` (headers and data, as stored) to `out`.
    fn copy_entries(
        &self,
        from: usize,
        to: usize,
        out: &mut dyn std::io::Write,
    ) -> Result<(), Error>;
}

/// The delta base of a [`PackedEntry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryBase {
    /// A whole object.
    None,
    /// A delta against the entry at `pos` of the same pack, stored as OFS_DELTA (`by_offset`) or
    /// REF_DELTA.
    InPack {
        /// The base's position.
        pos: usize,
        /// Whether the stored header names the base by offset.
        by_offset: bool,
    },
    /// A REF_DELTA against an object outside the pack.
    Outside(ObjectId),
}

/// One entry of a [`StoredPack`], as stored.
#[derive(Debug, Clone)]
pub struct PackedEntry<'a> {
    /// Where the entry starts in the stored pack.
    pub offset: u64,
    /// Stored length: header, base reference and compressed data.
    pub stored_len: u64,
    /// What the entry is a delta against, if it is one.
    pub base: EntryBase,
    /// Inflated size of `compressed` (what a pack entry header carries).
    pub inflated_size: u64,
    /// The zlib stream as stored.
    pub compressed: Cow<'a, [u8]>,
}

/// No packs: counting walks the history, the writer compresses every object.
impl PackStore for crate::odb::memory::MemoryObjects {
    fn bitmapped_pack(&self) -> Option<&dyn StoredPack> {
        None
    }

    fn reuse_pack(&self) -> Option<&dyn StoredPack> {
        None
    }
}

/// A type whose objects are another store's (a repository over its object store, a view that
/// changes only which refs exist): it gets [`ObjectStore`] and [`PackStore`] by forwarding every
/// method to [`ForwardObjects::objects`], so no wrapper can lose or alter one by hand.
pub trait ForwardObjects: Send + Sync {
    /// The store every object question goes to.
    fn objects(&self) -> &dyn PackStore;
}

impl<T: ForwardObjects> ObjectStore for T {
    fn hash_kind(&self) -> HashKind {
        self.objects().hash_kind()
    }
    fn object_header(&self, id: &ObjectId) -> Result<Option<(Kind, u64)>, Error> {
        self.objects().object_header(id)
    }
    fn read_object(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        self.objects().read_object(id)
    }
    fn read_commit_head(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        self.objects().read_commit_head(id)
    }
    fn contains(&self, id: &ObjectId) -> Result<bool, Error> {
        self.objects().contains(id)
    }
    fn stream_object(&self, id: &ObjectId) -> Result<Option<ObjectStream<'_>>, Error> {
        self.objects().stream_object(id)
    }
    fn raw_entry(&self, id: &ObjectId) -> Result<Option<RawEntry<'_>>, Error> {
        self.objects().raw_entry(id)
    }
    fn shallow_roots(&self) -> Option<&IdSet> {
        self.objects().shallow_roots()
    }
    fn commit_from_graph(&self, id: &ObjectId) -> Option<GraphCommit> {
        self.objects().commit_from_graph(id)
    }
}

impl<T: ForwardObjects> PackStore for T {
    fn bitmapped_pack(&self) -> Option<&dyn StoredPack> {
        self.objects().bitmapped_pack()
    }
    fn reuse_pack(&self) -> Option<&dyn StoredPack> {
        self.objects().reuse_pack()
    }
}
