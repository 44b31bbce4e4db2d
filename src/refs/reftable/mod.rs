//! The reftable ref store (`extensions.refStorage = reftable`), read and written from the format
//! description in C git's `Documentation/technical/reftable.txt`.
//!
//! Data flow: [`stack::Stack`] reads `reftable/tables.list` and opens each listed table
//! ([`table::Table`]: header, footer, block walk); a table decodes its blocks
//! ([`block`]) into records ([`record`]) from bytes checked by [`decode::Cursor`]. Reading
//! merges the tables newest-first, so a newer record (a deletion too) shadows older ones.
//! Writing ([`transaction`]) encodes one new table ([`write`]) holding a transaction's ref
//! records and reflog records, and appends it to `tables.list` under `tables.list.lock`, as C git
//! does, so both can write one repository at the same time. [`store::ReftableRefStore`] puts
//! all of this behind [`crate::refs::RefStore`]. Compaction is left to C git
//! (`git pack-refs`, and C git's own auto-compaction on its writes).
//!
//! Every length read from a table is checked against the bytes present and against the
//! format's own maxima before anything is allocated; a corrupt table is an [`Error`] naming
//! the table and the field, never a panic.

pub mod block;
pub mod decode;
pub mod record;
pub mod stack;
pub mod store;
pub mod table;
pub mod transaction;
pub mod write;

pub use record::RefValue;
pub use stack::Stack;
pub use store::ReftableRefStore;

use crate::hash::HashKind;

/// The largest block the format allows (`uint24`).
pub const MAX_BLOCK_SIZE: usize = 0xff_ffff;

/// Why reading or writing a reftable failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A table or `tables.list` is malformed.
    #[error("reftable {table}: corrupt {field}: {detail}")]
    Corrupt {
        /// The file (or `tables.list`).
        table: String,
        /// The field or structure that broke (`footer crc`, `ref record suffix`).
        field: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A table uses something this reader does not understand (a newer version, another hash).
    #[error("reftable {table}: unsupported {what}")]
    Unsupported {
        /// The file.
        table: String,
        /// What is not supported.
        what: String,
    },
    /// Reading or writing a file failed.
    #[error("reftable {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// `tables.list.lock` stayed taken by another writer for longer than the wait allows.
    #[error("cannot lock reftable stack {path}: held by another writer")]
    Locked {
        /// The lock file.
        path: String,
    },
    /// A value to be written does not fit the format (a name longer than a block).
    #[error("reftable write: {0}")]
    TooLarge(String),
}

impl Error {
    /// A corruption in `table` at `field`.
    pub fn corrupt(table: &str, field: &'static str, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            table: table.to_string(),
            field,
            detail: detail.into(),
        }
    }

    /// An IO error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// The 4-byte `hash_id` a version 2 header stores for `kind` (`sha1`, `s256`).
pub fn hash_id(kind: HashKind) -> [u8; 4] {
    match kind.name() {
        "sha1" => *b"sha1",
        _ => *b"s256",
    }
}

/// The hash kind a version 2 header's `id` names, if this build knows it.
pub fn kind_for_hash_id(id: [u8; 4]) -> Option<HashKind> {
    HashKind::ALL.iter().copied().find(|k| hash_id(*k) == id)
}
