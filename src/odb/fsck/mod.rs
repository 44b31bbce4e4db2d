//! The object checks receive-pack runs before a push becomes visible: C git's fsck, message id
//! by message id (see [`msg`] for the table and default severities), with receive-pack's
//! `--strict` and `receive.fsck.*` overrides ([`options`]).
//!
//! Data flow for one push: every commit, tree and tag is handed to [`Checker::check`] while it
//! is being indexed (from several threads: deltas resolve in parallel). That checks the object
//! on its own (headers, identities, tree entry names and modes) and records what needs other
//! objects: the blobs trees name `.gitmodules` or `.gitattributes` in any spelling a checkout
//! would honour ([`names`]), the subtrees of each tree, and each tag's target with the kind its
//! `type` line claims. Once every object of the push is stored (in the quarantine),
//! [`Checker::finish`] reads those blobs, wherever they came from (before or after their tree in
//! the pack, or already in the repository), checks them ([`blobs`]), compares tag types with
//! the real objects, and measures tree nesting against `core.maxTreeDepth` without recursion.
//! Problems below error severity become warnings for the client, as C git prints them.

mod blobs;
pub mod msg;
pub mod names;
mod objects;
pub mod options;

use std::collections::HashSet;
use std::sync::Mutex;

pub use blobs::{check_submodule_name, check_submodule_url};
pub use msg::{MsgId, MsgInfo, Severity, MSG_IDS};
pub use objects::Found;
pub use options::{ConfigError, FsckOptions};

use crate::hash::{ObjectId, PackedIdMap, PackedIdSet};
use crate::odb::Kind;

/// Why a push's objects are refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FsckError {
    /// A problem with one of git's message ids, at error severity (C git's wording).
    #[error("object {object}: {id}: {detail}")]
    Object {
        /// The object with the problem.
        object: ObjectId,
        /// git's message id.
        id: MsgId,
        /// What exactly.
        detail: String,
    },
    /// A tag's `type` line names another kind than its target is (C git has no message id
    /// for this; it refuses while parsing the tag).
    #[error(
        "object {target} is a {actual}, not a {claimed}: bad tag pointer to {target} in {tag}"
    )]
    TagType {
        /// The tag.
        tag: ObjectId,
        /// What it points at.
        target: ObjectId,
        /// The kind its `type` line says.
        claimed: Kind,
        /// The kind the target is.
        actual: Kind,
    },
    /// An object is of another kind than a link to it says (a tree entry's mode, a commit's
    /// `tree` or `parent` line), or two links disagree; C git refuses this while walking links.
    #[error("object {object} is a {is}, not a {not}")]
    LinkKind {
        /// The object.
        object: ObjectId,
        /// Its kind (or the kind a first link gave it).
        is: Kind,
        /// The kind a link wants.
        not: Kind,
    },
    /// A tree entry's mode names no kind of object (C git: "entry has bad mode").
    #[error("in tree {tree}: entry {name} has bad mode {mode:06o}")]
    EntryMode {
        /// The tree.
        tree: ObjectId,
        /// The entry's name (lossy).
        name: String,
        /// Its mode.
        mode: u32,
    },
    /// Trees nested deeper than `core.maxTreeDepth`.
    #[error("exceeded maximum allowed tree depth: tree {tree} holds trees nested more than core.maxTreeDepth ({limit}) deep")]
    TreeDepth {
        /// A tree holding the chain that is too deep.
        tree: ObjectId,
        /// How deep that chain is at least (measuring stops once past the limit).
        depth: u64,
        /// The limit.
        limit: u64,
    },
    /// An object needed for a check could not be read.
    #[error("reading object {object}: {detail}")]
    Read {
        /// The object.
        object: ObjectId,
        /// Why.
        detail: String,
    },
}

impl FsckError {
    /// git's message id, for problems that have one.
    pub fn msg_id(&self) -> Option<MsgId> {
        match self {
            FsckError::Object { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// Most warnings kept for the client: a push can carry millions of objects with a demoted
/// problem, and the messages must not grow without bound.
const MAX_WARNINGS: usize = 100;

/// Where one object's problems go: errors end its check, lower severities become warnings.
pub(crate) struct Reporter<'a> {
    opts: &'a FsckOptions,
    object: ObjectId,
    warnings: &'a mut Vec<String>,
}

impl Reporter<'_> {
    /// Reports `id` about the current object: `Err` when its severity refuses the object,
    /// `Ok` when it is only worth a warning or nothing (or the object is on the skip list).
    pub(crate) fn report(&mut self, id: MsgId, detail: impl Into<String>) -> Result<(), FsckError> {
        if self.opts.skips(&self.object) {
            return Ok(());
        }
        match self.opts.severity(id) {
            Severity::Ignore => Ok(()),
            Severity::Info | Severity::Warn => {
                self.warnings
                    .push(format!("object {}: {id}: {}", self.object, detail.into()));
                Ok(())
            }
            Severity::Fatal | Severity::Error => Err(FsckError::Object {
                object: self.object,
                id,
                detail: detail.into(),
            }),
        }
    }
}

/// Checks object `id` of `kind` on its own, without the checks that need other objects; returns
/// its warnings, or the problem that refuses it. `found` receives what it says about others.
pub fn check_object(
    opts: &FsckOptions,
    id: &ObjectId,
    kind: Kind,
    data: &[u8],
    found: &mut Found,
) -> Result<Vec<String>, FsckError> {
    reporting(opts, id, |r| {
        objects::check(kind, data, opts.hash, r, found)
    })
}

/// Runs `check` with a reporter for object `id`; its warnings, or the refusing problem.
fn reporting(
    opts: &FsckOptions,
    id: &ObjectId,
    check: impl FnOnce(&mut Reporter<'_>) -> Result<(), FsckError>,
) -> Result<Vec<String>, FsckError> {
    let mut warnings = Vec::new();
    check(&mut Reporter {
        opts,
        object: *id,
        warnings: &mut warnings,
    })?;
    Ok(warnings)
}

/// Which special file a blob was named as, and its message ids.
#[derive(Debug, Clone, Copy)]
enum Special {
    Gitmodules,
    Gitattributes,
}

impl Special {
    fn file(self) -> &'static str {
        match self {
            Special::Gitmodules => ".gitmodules",
            Special::Gitattributes => ".gitattributes",
        }
    }

    /// Ids for: missing, not a blob, too large.
    fn ids(self) -> (MsgId, MsgId, MsgId) {
        match self {
            Special::Gitmodules => (
                MsgId::GitmodulesMissing,
                MsgId::GitmodulesBlob,
                MsgId::GitmodulesLarge,
            ),
            Special::Gitattributes => (
                MsgId::GitattributesMissing,
                MsgId::GitattributesBlob,
                MsgId::GitattributesLarge,
            ),
        }
    }
}

/// Checks the content of blob `id` as if a tree named it `.gitmodules` (`gitattributes`
/// false) or `.gitattributes` (true); returns its warnings or the refusing problem.
pub fn check_special_blob(
    opts: &FsckOptions,
    id: &ObjectId,
    gitattributes: bool,
    data: &[u8],
) -> Result<Vec<String>, FsckError> {
    reporting(opts, id, |r| {
        if gitattributes {
            blobs::check_gitattributes(data, r)
        } else {
            blobs::check_gitmodules(data, r)
        }
    })
}

/// Reads the objects [`Checker::finish`] needs: the repository with the push's objects added.
pub trait ObjectSource {
    /// Kind and size of `id`, or `None` if it exists nowhere.
    fn header(&self, id: &ObjectId) -> Result<Option<(Kind, u64)>, String>;
    /// The content of `id`, or `None` if it exists nowhere.
    fn read(&self, id: &ObjectId) -> Result<Option<Vec<u8>>, String>;
}

/// What the checks of one push collected for [`Checker::finish`].
#[derive(Debug, Default)]
struct State {
    gitmodules: HashSet<ObjectId>,
    gitattributes: HashSet<ObjectId>,
    /// Trees with subtrees, and those subtrees.
    subtrees: Subtrees,
    /// (tag, target, claimed kind).
    tags: Vec<(ObjectId, ObjectId, Kind)>,
    /// The kind each linked object must be, from the first link to it (an entry per object of
    /// the push, hence packed).
    expected: PackedIdMap<Kind>,
    /// Some object's links were not all read (see [`Found::links_cut`]).
    links_cut: bool,
    warnings: Vec<String>,
    dropped_warnings: usize,
}

impl State {
    fn warn(&mut self, warnings: Vec<String>) {
        for w in warnings {
            if self.warnings.len() < MAX_WARNINGS {
                self.warnings.push(w);
            } else {
                self.dropped_warnings += 1;
            }
        }
    }
}

/// The object checks of one push (see the module documentation).
#[derive(Debug)]
pub struct Checker {
    opts: FsckOptions,
    state: Mutex<State>,
}

impl Checker {
    /// A checker applying `opts`; the warnings the settings themselves deserve come first.
    pub fn new(opts: FsckOptions) -> Self {
        let mut state = State::default();
        state.warn(opts.config_warnings.clone());
        Checker {
            opts,
            state: Mutex::new(state),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks received object `id` (`kind`, content `data`) on its own and records what it
    /// says about others. Safe to call from several threads.
    pub fn check(&self, id: &ObjectId, kind: Kind, data: &[u8]) -> Result<(), FsckError> {
        let mut found = Found::default();
        let warnings = check_object(&self.opts, id, kind, data, &mut found)?;
        if let Some((name, mode)) = found.bad_entry_mode {
            return Err(FsckError::EntryMode {
                tree: *id,
                name: String::from_utf8_lossy(&name).into_owned(),
                mode,
            });
        }
        let mut s = self.state();
        s.warn(warnings);
        s.links_cut |= found.links_cut;
        for (object, want) in found.links {
            let is = *s.expected.get_or_insert(&object, want);
            if is != want {
                return Err(FsckError::LinkKind {
                    object,
                    is,
                    not: want,
                });
            }
        }
        s.gitmodules.extend(found.gitmodules);
        s.gitattributes.extend(found.gitattributes);
        s.subtrees.insert(id, &found.subtrees);
        if let Some((target, claimed)) = found.tagged {
            s.tags.push((*id, target, claimed));
        }
        Ok(())
    }

    /// Whether every object the checked objects link to (commits' trees and parents, trees'
    /// entries but gitlinks, tags' targets) is in `sent`, every link having been read: then
    /// the pack is self-contained, and connected once its objects are (git's
    /// `--check-self-contained-and-connected`). The links are the ones the checks collect
    /// anyway; parsing each object a second time for them cost a push a tenth of its CPU.
    /// Asked before [`Checker::finish`], which takes them.
    pub fn links_within(&self, sent: &PackedIdSet) -> bool {
        let s = self.state();
        !s.links_cut
            && s.expected.keys().all(|id| sent.contains(&id))
            && s.tags.iter().all(|(_, target, _)| sent.contains(target))
    }

    /// The checks that need other objects, once all of the push (`received`: every object of
    /// the pack with its kind) is readable through `objects`: the kinds links give the
    /// received objects, blobs named `.gitmodules` / `.gitattributes`, tag types, tree depth.
    pub fn finish(
        &self,
        objects: &dyn ObjectSource,
        received: &[(ObjectId, Kind)],
    ) -> Result<(), FsckError> {
        let (gitmodules, gitattributes, tags, subtrees, expected) = {
            let mut s = self.state();
            (
                std::mem::take(&mut s.gitmodules),
                std::mem::take(&mut s.gitattributes),
                std::mem::take(&mut s.tags),
                std::mem::take(&mut s.subtrees),
                std::mem::take(&mut s.expected),
            )
        };
        // Like C git's index-pack, links are held against the objects of the pack.
        for (object, is) in received {
            match expected.get(object) {
                Some(&not) if not != *is => {
                    return Err(FsckError::LinkKind {
                        object: *object,
                        is: *is,
                        not,
                    })
                }
                _ => {}
            }
        }
        drop(expected);
        self.check_blobs(&gitmodules, Special::Gitmodules, objects)?;
        self.check_blobs(&gitattributes, Special::Gitattributes, objects)?;
        for (tag, target, claimed) in tags {
            let actual = header(objects, &target)?.map(|(k, _)| k);
            match actual {
                Some(actual) if actual != claimed && !self.opts.skips(&tag) => {
                    return Err(FsckError::TagType {
                        tag,
                        target,
                        claimed,
                        actual,
                    })
                }
                // A missing target is the connectivity check's to refuse.
                _ => {}
            }
        }
        check_tree_depth(&subtrees, self.opts.max_tree_depth)
    }

    /// Warnings so far (each `object <id>: <msg-id>: <what>`), emptying the list.
    pub fn take_warnings(&self) -> Vec<String> {
        let mut s = self.state();
        let mut out = std::mem::take(&mut s.warnings);
        let dropped = std::mem::take(&mut s.dropped_warnings);
        if dropped > 0 {
            out.push(format!("{dropped} more warnings not shown"));
        }
        out
    }

    fn check_blobs(
        &self,
        ids: &HashSet<ObjectId>,
        special: Special,
        objects: &dyn ObjectSource,
    ) -> Result<(), FsckError> {
        let mut sorted: Vec<&ObjectId> = ids.iter().collect();
        sorted.sort();
        let (missing, not_blob, large) = special.ids();
        let limit = match special {
            Special::Gitmodules => self.opts.big_file_threshold,
            Special::Gitattributes => blobs::ATTR_MAX_FILE_SIZE,
        };
        for id in sorted {
            let mut warnings = Vec::new();
            let mut r = Reporter {
                opts: &self.opts,
                object: *id,
                warnings: &mut warnings,
            };
            let file = special.file();
            match header(objects, id)? {
                None => r.report(missing, format!("unable to read {file} blob"))?,
                Some((kind, _)) if kind != Kind::Blob => {
                    r.report(not_blob, format!("non-blob found at {file}"))?
                }
                Some((_, size)) if size > limit => {
                    r.report(large, format!("{file} too large to parse"))?
                }
                Some(_) => {
                    let data = objects
                        .read(id)
                        .map_err(|detail| FsckError::Read {
                            object: *id,
                            detail,
                        })?
                        .unwrap_or_default();
                    match special {
                        Special::Gitmodules => blobs::check_gitmodules(&data, &mut r)?,
                        Special::Gitattributes => blobs::check_gitattributes(&data, &mut r)?,
                    }
                }
            }
            self.state().warn(warnings);
        }
        Ok(())
    }
}

fn header(objects: &dyn ObjectSource, id: &ObjectId) -> Result<Option<(Kind, u64)>, FsckError> {
    objects.header(id).map_err(|detail| FsckError::Read {
        object: *id,
        detail,
    })
}

/// Refuses a tree holding trees nested deeper than `limit` (C git's traversal dies past
/// `core.maxTreeDepth`). Heights are computed bottom-up with an explicit stack: a chain of
/// 100,000 trees must not overflow ours.
fn check_tree_depth(subtrees: &Subtrees, limit: u64) -> Result<(), FsckError> {
    let mut height: PackedIdMap<u64> = PackedIdMap::default();
    let mut keys: Vec<ObjectId> = subtrees.0.keys().collect();
    keys.sort();
    for root in keys {
        let mut stack: Vec<(ObjectId, usize)> = vec![(root, 0)];
        while let Some((tree, next)) = stack.last_mut() {
            if let Some(kid) = subtrees.kid(tree, *next) {
                *next += 1;
                // Ids are hashes of content, so a tree cannot contain itself; the length
                // bound only keeps a broken map from looping.
                if subtrees.0.contains_key(&kid)
                    && !height.contains_key(&kid)
                    && stack.len() <= subtrees.0.len()
                {
                    stack.push((kid, 0));
                }
                continue;
            }
            let h = subtrees
                .kids(tree)
                .map(|k| height.get(&k).map_or(1, |h| h + 1))
                .max()
                .unwrap_or(0);
            let tree = *tree;
            height.insert(&tree, h);
            stack.pop();
            if h > limit {
                return Err(FsckError::TreeDepth {
                    tree: stack.first().map_or(tree, |(t, _)| *t),
                    depth: h,
                    limit,
                });
            }
        }
    }
    Ok(())
}

/// The subtrees of each tree of a push that has any: a table with an entry per tree, so each
/// list is kept as its ids' raw bytes (in the tree's own width) rather than as `ObjectId`s.
#[derive(Debug, Default)]
struct Subtrees(PackedIdMap<Box<[u8]>>);

impl Subtrees {
    /// Records `kids` as the subtrees of `tree` (nothing if there are none).
    fn insert(&mut self, tree: &ObjectId, kids: &[ObjectId]) {
        if !kids.is_empty() {
            let bytes: Vec<u8> = kids.iter().flat_map(|k| k.as_bytes()).copied().collect();
            self.0.insert(tree, bytes.into_boxed_slice());
        }
    }

    /// The `i`-th subtree of `tree`.
    fn kid(&self, tree: &ObjectId, i: usize) -> Option<ObjectId> {
        let width = tree.kind().len_in_bytes();
        let at = i.checked_mul(width)?;
        let raw = self.0.get(tree)?.get(at..at.checked_add(width)?)?;
        ObjectId::from_bytes(raw).ok()
    }

    /// Every subtree of `tree`.
    fn kids<'a>(&'a self, tree: &ObjectId) -> impl Iterator<Item = ObjectId> + 'a {
        let width = tree.kind().len_in_bytes();
        let raw = self.0.get(tree).map_or(&[][..], |b| &b[..]);
        raw.chunks_exact(width)
            .filter_map(|c| ObjectId::from_bytes(c).ok())
    }
}

#[cfg(test)]
mod tests;
