//! Reading stored packs: a `.pack` with its `.idx` ([`PackFile`]: entry headers, the reverse
//! index, inflation), the packs of one directory with their `multi-pack-index` ([`PackSet`]:
//! lookup by id, delta chains resolved with a bounded cache of bases, raw entries for reuse),
//! and one pack as upload-pack reuses it ([`FileStoredPack`], with its bitmap).
//!
//! Pack bytes come through [`PackData`], opened by a [`PackSource`]: mapped local files
//! ([`LocalPacks`]) or, for the distributed backend, ranged reads from an object store. The
//! indexes are local files either way. Every backend that keeps packs (the on-disk one, the
//! distributed one over its view, the memory one reading back a push's spool) reads them through
//! this module, which imports nothing above `pack` and `odb`.

mod base_cache;
pub mod data;
mod file;
mod inflate;
mod midx;
mod rev;
mod set;
mod stored;

pub use data::{LocalPacks, MappedPack, PackData, PackSource};
pub use file::{PackFile, MAX_OBJECT};
pub use inflate::inflate_exact;
pub use set::PackSet;
pub use stored::FileStoredPack;

use crate::hash::ObjectId;

/// An object read from a pack: its kind and its content, shared with the delta-base cache.
pub type Inflated = (crate::odb::Kind, std::sync::Arc<Vec<u8>>);

/// Why a stored pack could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pack, its index or an entry is damaged or in a form we do not understand.
    #[error("corrupt repository data in {what}: {detail}")]
    Corrupt {
        /// The file and offset that broke (`pack-1234.pack at offset 12`).
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Reading a file failed.
    #[error("I/O error on {what}: {source}")]
    Io {
        /// The file.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An entry is larger than [`MAX_OBJECT`].
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// A delta's base is in none of the packs and nowhere else the caller looks.
    #[error("object {0} is missing")]
    MissingObject(ObjectId),
    /// The store behind a [`PackData`] (or the caller's other objects) failed; kept whole so the
    /// caller gets its own error back.
    #[error(transparent)]
    Store(Box<crate::odb::store::Error>),
}

impl Error {
    /// Shorthand for [`Error::Corrupt`] (`what` broke: `detail`).
    pub fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// Turns the I/O error of an operation on `what` into [`Error::Io`] (for `map_err`).
    pub fn io_on(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        move |source| Error::Io {
            what: what.into(),
            source,
        }
    }
}

impl From<crate::odb::store::Error> for Error {
    fn from(e: crate::odb::store::Error) -> Self {
        Error::Store(Box::new(e))
    }
}

/// The storage error every layer above reports: each variant maps to the one of the same name,
/// so messages read as before the reader moved here.
impl From<Error> for crate::odb::store::Error {
    fn from(e: Error) -> Self {
        use crate::odb::store::Error as Store;
        match e {
            Error::Corrupt { what, detail } => Store::Corrupt { what, detail },
            Error::Io { what, source } => Store::Io { what, source },
            Error::Limit(s) => Store::Limit(s),
            Error::MissingObject(id) => Store::MissingObject(id),
            Error::Store(e) => *e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odb::store::Error as StoreError;

    #[test]
    fn errors_read_as_the_storage_error_they_become() {
        let back: StoreError = Error::from(StoreError::NotFound("r".into())).into();
        assert!(
            matches!(back, StoreError::NotFound(ref s) if s == "r"),
            "{back}"
        );
        let corrupt = Error::corrupt("p.pack at offset 3", "bad type");
        assert_eq!(corrupt.to_string(), StoreError::from(corrupt).to_string());
        let io = Error::io_on("p.pack")(std::io::Error::other("gone"));
        assert!(
            matches!(StoreError::from(io), StoreError::Io { ref what, .. } if what == "p.pack")
        );
    }
}
