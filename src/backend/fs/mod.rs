//! C git's on-disk repository layout (bare `repo.git` and non-bare `repo/.git`).
//!
//! TODO(skeleton): repository discovery, refs and config are being written.

pub mod odb;

/// Opens repositories from the filesystem.
#[derive(Debug, Default, Clone)]
pub struct FsBackend;
