//! The object-reading boundary: [`ObjectStore`] is everything the layers above ask of stored
//! objects (a header, the whole object, a stream, the stored compressed form, the shallow
//! boundary and the commit index), with [`Error`], the storage error every storage layer shares.
//!
//! `pack`, `walk`, `refs` and `reach` read objects only through this trait, so they work over any
//! backend (C git's files, memory, an object store) and import nothing above `odb`. Stored packs
//! (pack reuse, bitmaps) extend it one layer up, in [`crate::pack::stored::PackStore`].

use std::borrow::Cow;

use crate::hash::{HashKind, IdSet, ObjectId};
use crate::odb::commit_graph::GraphCommit;
use crate::odb::{Kind, Object};

/// Errors of storage: opening a repository, reading objects and refs, writing them.
///
/// One type for every storage layer (objects, packs, refs, backends), so a backend that keeps
/// objects in one store and refs in another reports both the same way; `backend::Error` is this
/// type re-exported.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No repository at the requested location.
    #[error("repository not found: {0}")]
    NotFound(String),
    /// Something is there, but it is not a git repository Sluice can serve.
    #[error("not a git repository: {location}: {why}")]
    NotARepository {
        /// Where we looked.
        location: String,
        /// What was missing or wrong.
        why: String,
    },
    /// The repository is in a format this server does not understand (an unknown repository
    /// format version or extension, or one not supported yet): refused, never half-served.
    #[error("cannot serve {location}: {why}")]
    UnsupportedFormat {
        /// Where.
        location: String,
        /// Which setting, C git's wording where it has one.
        why: String,
    },
    /// Stored data is damaged or in a form we do not understand.
    #[error("corrupt repository data in {what}: {detail}")]
    Corrupt {
        /// The file or structure that broke (e.g. `pack-1234.idx`, `packed-refs`).
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// An object needed to answer was missing.
    #[error("object {0} is missing")]
    MissingObject(ObjectId),
    /// The repository config could not be parsed.
    #[error(transparent)]
    Config(#[from] crate::git_config::Error),
    /// An object's content could not be parsed.
    #[error("object {id}: {source}")]
    Object {
        /// The object.
        id: ObjectId,
        /// What is wrong with it.
        source: crate::odb::Error,
    },
    /// A limit on stored data was exceeded (an object larger than allowed, a delta chain too deep).
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// The backend does not implement this operation.
    #[error("this repository backend does not support {0}")]
    Unsupported(&'static str),
    /// An incoming pack was refused (corrupt, truncated, too large, ...).
    #[error("{0}")]
    BadPack(String),
    /// Reading or writing the underlying storage failed.
    #[error("I/O error on {what}: {source}")]
    Io {
        /// The file or resource involved.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl From<crate::odb::tag_chain::Loop> for Error {
    fn from(e: crate::odb::tag_chain::Loop) -> Self {
        Error::corrupt("tag chain", e.to_string())
    }
}

impl Error {
    /// Shorthand for [`Error::Corrupt`].
    pub fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// Read access to a repository's objects. Methods take `&self`; implementations keep their
/// caches behind interior mutability. Every method treats ids it does not know as absent
/// (`Ok(None)`), and reports damaged storage as [`Error::Corrupt`].
///
/// Every method but [`ObjectStore::contains`] is required, so a wrapper (a namespace view, a
/// quarantine) cannot silently lose one by inheriting a default.
pub trait ObjectStore: Send + Sync {
    /// The hash function naming this repository's objects.
    fn hash_kind(&self) -> HashKind;

    /// Kind and size of object `id`, without necessarily reading its content.
    fn object_header(&self, id: &ObjectId) -> Result<Option<(Kind, u64)>, Error>;

    /// The whole object `id`, inflated and with deltas applied.
    fn read_object(&self, id: &ObjectId) -> Result<Option<Object>, Error>;

    /// Object `id` for a commit walk: a commit may come cut after its head
    /// ([`crate::odb::commit_head_len`]), all that [`crate::odb::CommitRef::parse`] reads;
    /// other objects, and commits the store cannot cut short, come whole.
    /// Deviation: git's rev-list inflates each commit whole; damage past a stored commit's
    /// head is not seen here (the pack copied to a client, or fsck, still sees it).
    fn read_commit_head(&self, id: &ObjectId) -> Result<Option<Object>, Error>;

    /// Whether object `id` exists (in this store or an alternate).
    fn contains(&self, id: &ObjectId) -> Result<bool, Error> {
        Ok(self.object_header(id)?.is_some())
    }

    /// Object `id` as a reader of its content, so an object larger than
    /// `core.bigFileThreshold` can be sent with memory independent of its size. Stores that
    /// cannot stream an object read it whole ([`ObjectStream::whole`]).
    fn stream_object(&self, id: &ObjectId) -> Result<Option<ObjectStream<'_>>, Error>;

    /// Object `id` as stored, when the store keeps it in pack form and can hand the compressed
    /// bytes out (loose objects and stores without packs return `Ok(None)`; callers then read
    /// and compress the object themselves).
    fn raw_entry(&self, id: &ObjectId) -> Result<Option<RawEntry<'_>>, Error>;

    /// The commits this repository itself holds without their parents (C git's `shallow`
    /// file, as in a mirror made by `git clone --depth`): every walk treats them as roots, and
    /// upload-pack tells clients about them. `None` for a complete repository.
    fn shallow_roots(&self) -> Option<&IdSet>;

    /// Tree, parents and date of commit `id` from a commit index (git's commit-graph), so a walk
    /// need not read the commit; `None` when there is no index or it does not know `id`.
    fn commit_from_graph(&self, id: &ObjectId) -> Option<GraphCommit>;
}

/// An object's content as a stream (see [`ObjectStore::stream_object`]).
pub struct ObjectStream<'a> {
    /// The object's kind.
    pub kind: Kind,
    /// Its size in bytes: exactly what `reader` yields (or it fails).
    pub size: u64,
    /// The content.
    pub reader: Box<dyn std::io::Read + 'a>,
}

impl ObjectStream<'_> {
    /// A stream over an object already read whole (`object`), for stores that cannot stream.
    pub fn whole(object: Object) -> ObjectStream<'static> {
        ObjectStream {
            kind: object.kind,
            size: object.data.len() as u64,
            reader: Box::new(std::io::Cursor::new(object.data)),
        }
    }
}

/// How a stored object is represented, for pack reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredForm {
    /// The compressed bytes inflate to the whole object.
    Whole,
    /// The compressed bytes inflate to a delta against `base` (git's delta format).
    Delta {
        /// The object the delta applies to.
        base: ObjectId,
    },
}

/// An object as it sits in storage, compressed, so it can be copied into an outgoing pack without
/// inflating it.
#[derive(Debug, Clone)]
pub struct RawEntry<'a> {
    /// Whole object or delta.
    pub form: StoredForm,
    /// Inflated size of `compressed` (the object size for [`StoredForm::Whole`], the delta size for
    /// [`StoredForm::Delta`]); this is what a pack entry header carries.
    pub inflated_size: u64,
    /// The zlib stream, exactly as stored (borrowed from the store where it can be; a store that
    /// fetches it from elsewhere owns it).
    pub compressed: Cow<'a, [u8]>,
    /// Depth of the delta chain behind this entry (0 for whole objects), so a writer can cap it.
    pub delta_depth: u32,
}
