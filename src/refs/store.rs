//! The ref-store boundary: [`RefStore`] is what a place that keeps refs must do (read one,
//! stream them in name order under a prefix, apply a compare-and-swap transaction), and the
//! types the layers above see ([`Ref`], [`Head`], [`RefUpdate`]).
//!
//! A store keeps raw values ([`RawRef`]: an id, or a symbolic ref's target) and knows nothing of
//! objects; resolving symbolic refs and peeling tags is done once for every store, in
//! [`crate::refs::resolve`]. Implemented by the files store ([`crate::refs::files`], loose refs +
//! `packed-refs`) and the memory store ([`crate::refs::memory`]); designed for reftable and for a
//! transactional key-value store (a prefix is a range scan, a transaction one compare-and-swap
//! per key committed together).

use std::ops::ControlFlow;

use crate::hash::ObjectId;
use crate::odb::store::Error;
use crate::refs::name::RefName;
use crate::refs::RawRef;

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

/// One ref change of a transaction: compare-and-swap from `old` to `new`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// Full ref name, validated.
    pub name: RefName,
    /// The value the ref must have now; the null id means "must not exist".
    pub old: ObjectId,
    /// The value to set; the null id means "delete".
    pub new: ObjectId,
}

/// The outcome of one [`RefUpdate`]: `Err` carries the short reason for the `ng` line.
pub type UpdateResult = Result<(), String>;

/// The callback of [`RefStore::for_each_raw`]: a ref's full name and raw value; `Break` stops
/// the iteration early (not an error).
pub type RawVisitor<'a> = dyn FnMut(&str, RawRef) -> Result<ControlFlow<()>, Error> + 'a;

/// The callback of a resolved iteration ([`crate::refs::resolve::for_each_ref`] and the
/// repository's `for_each_ref`): one resolved ref; `Break` stops early.
pub type RefVisitor<'a> = dyn FnMut(Ref) -> Result<ControlFlow<()>, Error> + 'a;

/// A place that keeps refs. Methods take `&self`; an implementation serializes its own writers.
pub trait RefStore: Send + Sync {
    /// The raw value of ref `name` (`HEAD`, or a full name under `refs/`), `Ok(None)` when it
    /// does not exist. Never resolves a symbolic ref. A value that cannot be parsed is
    /// [`Error::Corrupt`] naming the ref.
    fn read_raw(&self, name: &str) -> Result<Option<RawRef>, Error>;

    /// Calls `visit` with every ref whose full name starts with `prefix` (`"refs/"` for all;
    /// `HEAD` is never included), in byte order of the names (C locale), with raw values, as
    /// they are read: an implementation must not collect every ref first, so the first ref of
    /// an advertisement can be sent before the last is read. Stops, with `Ok`, when `visit`
    /// returns `Break`; an `Err` from `visit` is returned as is. Refs whose stored value is
    /// unreadable are skipped with a log line (C git skips broken refs in advertisements); a
    /// damaged index of refs (a bad `packed-refs` line, a bad reftable block) is an error.
    fn for_each_raw(&self, prefix: &str, visit: &mut RawVisitor<'_>) -> Result<(), Error>;

    /// Applies `updates` as one transaction: for each, compare the ref's current value with
    /// `old` (null: must not exist) and set it to `new` (null: delete). Returns one result per
    /// update, in order; a refused update's `Err` is a short reason for the client
    /// (`"cannot lock ref 'refs/heads/x': is at <id> but expected <id>"`). With `atomic`, either
    /// every update applies or none does (then every result is `Err`, the ones that would have
    /// passed saying `"atomic transaction failed"`); without it, each update applies or fails
    /// on its own. The new values are durable before `Ok` is returned. `Err` (rather than a
    /// per-update result) means the store itself failed, and nothing is known to have applied.
    fn update(&self, updates: &[RefUpdate], atomic: bool) -> Result<Vec<UpdateResult>, Error>;
}
