//! Objects: kinds, and borrowed views of commits, trees and tags.
//!
//! This module knows what the bytes of an object mean (parsers never panic and never index
//! untrusted bytes), and draws the object-reading boundary every layer above reads through:
//! [`store::ObjectStore`] and the storage [`store::Error`]. Storage itself lives in `backend`,
//! `pack` and [`loose`].

pub mod chunk_format;
pub mod commit_graph;
pub mod fsck;
pub mod loose;
pub mod memory;
pub mod mmap;
pub mod object;
pub mod store;
pub mod tag_chain;
pub mod zlib;

pub use object::{commit_head_len, CommitRef, Error, TagRef, TreeEntry, TreeIter};
pub use store::{ObjectStore, ObjectStream, RawEntry, StoredForm};

/// The four object kinds git stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A commit.
    Commit,
    /// A tree.
    Tree,
    /// A blob.
    Blob,
    /// An annotated tag.
    Tag,
}

impl Kind {
    /// The name used in object headers (`"commit"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Commit => "commit",
            Kind::Tree => "tree",
            Kind::Blob => "blob",
            Kind::Tag => "tag",
        }
    }

    /// Parses a header name (`name`).
    pub fn from_name(name: &[u8]) -> Option<Kind> {
        match name {
            b"commit" => Some(Kind::Commit),
            b"tree" => Some(Kind::Tree),
            b"blob" => Some(Kind::Blob),
            b"tag" => Some(Kind::Tag),
            _ => None,
        }
    }

    /// The type number used in pack entry headers (1-4).
    pub const fn pack_type(self) -> u8 {
        match self {
            Kind::Commit => 1,
            Kind::Tree => 2,
            Kind::Blob => 3,
            Kind::Tag => 4,
        }
    }

    /// The kind for pack type number `n`, if it is one of the four base kinds.
    pub const fn from_pack_type(n: u8) -> Option<Kind> {
        match n {
            1 => Some(Kind::Commit),
            2 => Some(Kind::Tree),
            3 => Some(Kind::Blob),
            4 => Some(Kind::Tag),
            _ => None,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A whole object held in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Its kind.
    pub kind: Kind,
    /// Its content (without the `"<kind> <len>\0"` header).
    pub data: Vec<u8>,
}

/// The id git gives an object of `kind` with content `data` in a repository hashing with `hash`
/// (hashes `"<kind> <len>\0" + data`).
pub fn object_id(
    hash: crate::hash::HashKind,
    kind: Kind,
    data: &[u8],
) -> Result<crate::hash::ObjectId, crate::hash::CollisionDetected> {
    let mut h = crate::hash::Hasher::new(hash);
    h.update(kind.as_str().as_bytes());
    h.update(format!(" {}\0", data.len()).as_bytes());
    h.update(data);
    h.finish()
}
