//! The `multi-pack-index` of a pack directory, when it can be used.

use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use super::file::PackFile;
use crate::hash::HashKind;
use crate::odb::mmap::map;
use crate::pack::midx::MultiPackIndex;

pub(super) struct Midx {
    pub(super) index: MultiPackIndex<Mmap>,
    pub(super) packs: Vec<usize>,
}

/// Opens `pack_dir/multi-pack-index` if it is valid and every pack it names is open in `packs`;
/// anything else (absent, damaged, a pack gone after a repack) means it is not used.
pub(super) fn open_midx(pack_dir: &Path, packs: &[Arc<PackFile>], hash: HashKind) -> Option<Midx> {
    let path = pack_dir.join("multi-pack-index");
    if !path.exists() {
        return None;
    }
    let index = match map(&path).map(|m| MultiPackIndex::new(m, hash)) {
        Ok(Ok(index)) => index,
        Ok(Err(e)) => {
            tracing::warn!(path = %path.display(), error = %e, "multi-pack-index not used");
            return None;
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "multi-pack-index not used");
            return None;
        }
    };
    let mapping: Option<Vec<usize>> = index
        .pack_names()
        .iter()
        .map(|idx_name| {
            let pack_name = idx_name.strip_suffix(".idx").unwrap_or(idx_name);
            packs
                .iter()
                .position(|p| p.name.strip_suffix(".pack") == Some(pack_name))
        })
        .collect();
    match mapping {
        Some(packs) => Some(Midx { index, packs }),
        None => {
            tracing::debug!(path = %path.display(), "multi-pack-index names a missing pack");
            None
        }
    }
}
