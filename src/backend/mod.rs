//! The storage boundary: a [`Backend`] opens repositories, a [`Repository`] answers what the
//! services need and nothing more.
//!
//! The traits speak in object ids, ref names and byte slices, never in paths, files or maps, so a
//! backend that keeps packs in an object store and refs in a consensus store can implement them.
//! Services only ever see `&dyn Repository`.
//!
//! - [`fs`]: C git's on-disk layout, byte-compatible (the default).
//! - [`memory`]: hash maps, for unit tests of the services.
//! - `distributed` (cargo feature `distributed`): refs in etcd, packs in an S3-compatible store.

#[cfg(feature = "distributed")]
pub mod distributed;
pub mod fs;
pub mod memory;

use std::borrow::Cow;

use crate::gitconfig::GitConfig;
use crate::hash::{HashKind, ObjectId};
use crate::odb::{Kind, Object};

/// Errors a backend reports.
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
    Config(#[from] crate::gitconfig::Error),
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

/// Opens repositories by the location a request names.
pub trait Backend: Send + Sync {
    /// Opens the repository at `location` (for [`fs::FsBackend`] a directory path; for other
    /// backends whatever key they are configured with). Returns [`Error::NotFound`] if there is
    /// none, so that launchers can answer "repository not found" without leaking more.
    fn open(&self, location: &str) -> Result<Box<dyn Repository>, Error>;
}

/// A ref as the services see it: resolved, with its peeled value when it names a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// Full name (`refs/heads/main`).
    pub name: String,
    /// The object it points at (for a symbolic ref: the object its target points at).
    pub id: ObjectId,
    /// When `id` is an annotated tag: the first non-tag object reached by peeling it (through a
    /// chain of tags). `None` when `id` is not a tag.
    pub peeled: Option<ObjectId>,
    /// When this ref is symbolic: the full name of the ref it points to.
    pub symref_target: Option<String>,
}

/// What `HEAD` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// When HEAD is symbolic (the normal case): the branch it names, e.g. `refs/heads/main`.
    pub symref_target: Option<String>,
    /// The commit HEAD resolves to; `None` when HEAD names an unborn branch.
    pub id: Option<ObjectId>,
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
    /// The zlib stream, exactly as stored (borrowed from a mapped pack where possible).
    pub compressed: Cow<'a, [u8]>,
    /// Depth of the delta chain behind this entry (0 for whole objects), so a writer can cap it.
    pub delta_depth: u32,
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

    /// The id at `pos`.
    fn id_at(&self, pos: usize) -> Option<ObjectId>;

    /// The object type at `pos` (from the stored type index; `None` without one).
    fn kind_at(&self, pos: usize) -> Option<Kind>;

    /// Everything reachable from commit `id` (itself included), when a closure is stored for it
    /// (always `None` without a reachability index).
    fn closure(&self, id: &ObjectId) -> Result<Option<crate::pack::ewah::Bitmap>, Error>;

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

/// One repository. Methods take `&self`; implementations keep their caches behind interior
/// mutability. Every method that reads objects treats ids it does not know as absent (`Ok(None)`),
/// and reports damaged storage as [`Error::Corrupt`].
pub trait Repository: Send + Sync {
    /// The hash function naming this repository's objects.
    fn hash_kind(&self) -> HashKind {
        HashKind::Sha1
    }

    /// The repository's configuration (for `fs`: the repository `config` file; system and global
    /// files are deliberately not read, a server must not depend on its user's dotfiles).
    fn config(&self) -> &GitConfig;

    /// The directory relative paths in the configuration are taken from (git runs in the git
    /// directory, so `receive.fsck.skipList = skip` is `<git dir>/skip`); `None` if there is none.
    fn config_dir(&self) -> Option<&std::path::Path> {
        None
    }

    /// Whether the repository has no working tree (for `receive.denyCurrentBranch`).
    fn is_bare(&self) -> bool;

    /// What HEAD is. A missing or broken HEAD is an error; an unborn branch is not.
    fn head(&self) -> Result<Head, Error>;

    /// Every ref under `refs/`, sorted by name as bytes (C locale), resolved, with peeled values.
    /// Refs whose value cannot be read (dangling symbolic refs, broken loose refs) are skipped, as
    /// C git skips them in advertisements. HEAD is not included (see [`Repository::head`]).
    fn refs(&self) -> Result<Vec<Ref>, Error>;

    /// Kind and size of object `id`, without necessarily reading its content.
    fn object_header(&self, id: &ObjectId) -> Result<Option<(Kind, u64)>, Error>;

    /// The whole object `id`, inflated and with deltas applied.
    fn read_object(&self, id: &ObjectId) -> Result<Option<Object>, Error>;

    /// Whether object `id` exists (in this repository or an alternate).
    fn contains(&self, id: &ObjectId) -> Result<bool, Error> {
        Ok(self.object_header(id)?.is_some())
    }

    /// Object `id` as a reader of its content, so an object larger than
    /// `core.bigFileThreshold` can be sent with memory independent of its size. Backends that
    /// cannot stream an object read it whole (the default).
    fn stream_object(&self, id: &ObjectId) -> Result<Option<ObjectStream<'_>>, Error> {
        Ok(self.read_object(id)?.map(|o| ObjectStream {
            kind: o.kind,
            size: o.data.len() as u64,
            reader: Box::new(std::io::Cursor::new(o.data)),
        }))
    }

    /// Object `id` as stored, when the backend stores it in pack form and can hand the compressed
    /// bytes out (loose objects and backends without packs return `Ok(None)`; callers then read
    /// and compress the object themselves).
    fn raw_entry(&self, id: &ObjectId) -> Result<Option<RawEntry<'_>>, Error> {
        let _ = id;
        Ok(None)
    }

    /// The commits this repository itself holds without their parents (C git's `shallow`
    /// file, as in a mirror made by `git clone --depth`): every walk treats them as roots, and
    /// upload-pack tells clients about them. `None` for a complete repository.
    fn shallow_roots(&self) -> Option<&crate::hash::IdSet> {
        None
    }

    /// Adds `ids` to the repository's shallow boundary (a push from a shallow clone under
    /// `receive.shallowUpdate`), durably and atomically.
    fn add_shallow_roots(&self, ids: &[ObjectId]) -> Result<(), Error> {
        let _ = ids;
        Err(Error::Unsupported("shallow updates"))
    }

    /// Tree, parents and date of commit `id` from a commit index (git's commit-graph), so a walk
    /// need not read the commit; `None` when there is no index or it does not know `id`.
    fn commit_from_graph(&self, id: &ObjectId) -> Option<crate::odb::commit_graph::GraphCommit> {
        let _ = id;
        None
    }

    /// The pack that carries a reachability index, if the storage has one (`None`: counting walks
    /// the history).
    fn bitmapped_pack(&self) -> Option<&dyn StoredPack> {
        None
    }

    /// The pack most of a clone's objects come from (the largest), for sending its entries in
    /// runs after a history walk chose them; `None` if objects are not stored in packs.
    fn reuse_pack(&self) -> Option<&dyn StoredPack> {
        None
    }

    /// Tips of the repositories this one borrows objects from (alternates), which receive-pack
    /// advertises as `.have` lines so pushers can skip those objects.
    fn alternate_tips(&self) -> Result<Vec<ObjectId>, Error> {
        Ok(Vec::new())
    }

    /// Whether a push to ref `name` must be refused because `*.hideRefs` hides it (only a
    /// [`RefsView`](crate::service::refs_view::RefsView) hides anything).
    fn ref_is_hidden(&self, name: &str) -> bool {
        let _ = name;
        false
    }

    /// Tips (and peeled tips) of the refs `*.hideRefs` hides from [`Repository::refs`]: C git
    /// lets `uploadpack.allowTipSHA1InWant` and `allowReachableSHA1InWant` serve them.
    fn hidden_tips(&self) -> Result<Vec<ObjectId>, Error> {
        Ok(Vec::new())
    }

    /// Opens a quarantine for a push: objects received into it are readable through
    /// [`Quarantine::view`] but invisible to everyone else until [`Quarantine::commit`].
    /// Dropping it without committing discards them.
    fn begin_quarantine(&self) -> Result<Box<dyn Quarantine + '_>, Error> {
        Err(Error::Unsupported("receiving objects"))
    }

    /// Applies ref `updates` with compare-and-swap on each old value. With `atomic`, either all
    /// apply or none does. Returns one result per update, in order (the reason for a refused
    /// update is a short text for the `ng` line).
    fn update_refs(
        &self,
        updates: &[RefUpdate],
        atomic: bool,
    ) -> Result<Vec<Result<(), String>>, Error> {
        let _ = (updates, atomic);
        Err(Error::Unsupported("updating refs"))
    }

    /// Runs hook `name` (`pre-receive`, `update`, ...) if the repository has one: with `args`,
    /// extra environment `env`, and `stdin`; its stdout and stderr are passed to `output` as
    /// they arrive. Returns `Ok(None)` when there is no such hook, else its exit code
    /// (`Some(-1)` when killed by a signal).
    fn run_hook(
        &self,
        name: &str,
        args: &[&str],
        env: &[(String, String)],
        stdin: &[u8],
        output: &mut dyn FnMut(&[u8]),
    ) -> Result<Option<i32>, Error> {
        let _ = (name, args, env, stdin, output);
        Ok(None)
    }
}

/// An object's content as a stream (see [`Repository::stream_object`]).
pub struct ObjectStream<'a> {
    /// The object's kind.
    pub kind: Kind,
    /// Its size in bytes: exactly what `reader` yields (or it fails).
    pub size: u64,
    /// The content.
    pub reader: Box<dyn std::io::Read + 'a>,
}

/// One ref change requested by a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// Full ref name, already validated.
    pub name: String,
    /// The value the ref must have now; the null id means "must not exist".
    pub old: ObjectId,
    /// The value to set; the null id means "delete".
    pub new: ObjectId,
}

/// Objects received by a push, held apart until the push is accepted.
pub trait Quarantine {
    /// Reads a pack from `input` into the quarantine, checking it completely (every object
    /// hashed, deltas resolved, thin packs completed from the repository) under `limits`, and
    /// passing every commit, tree and tag to `check` (whose `Err` refuses the pack).
    /// Returns the ids and kinds of the objects the client sent (not the bases taken from the
    /// repository to complete a thin pack).
    fn receive_pack(
        &mut self,
        input: &mut dyn std::io::Read,
        limits: &crate::config::Limits,
        check: crate::pack::ingest::ObjectCheck<'_>,
        progress: &mut dyn crate::progress::Progress,
    ) -> Result<Vec<(ObjectId, Kind)>, Error>;

    /// The repository as it would be with the quarantined objects added (refs unchanged).
    fn view(&self) -> &dyn Repository;

    /// Environment variables that let a hook's `git` see the quarantined objects
    /// (`GIT_QUARANTINE_PATH`, `GIT_OBJECT_DIRECTORY`, `GIT_ALTERNATE_OBJECT_DIRECTORIES`).
    fn hook_env(&self) -> Vec<(String, String)>;

    /// Makes the objects durable and visible in the repository.
    fn commit(self: Box<Self>) -> Result<(), Error>;
}
