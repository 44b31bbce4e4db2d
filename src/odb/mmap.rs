//! Read-only memory maps of files that are only ever replaced, never modified in place (pack
//! files, their indexes, `packed-refs`): the crate's one exception to `#![deny(unsafe_code)]`,
//! proven where it is taken.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use crate::odb::store::Error;

/// Maps a file that is only ever replaced, never modified in place: pack files, their indexes,
/// and `packed-refs`.
pub fn map(path: &Path) -> Result<Mmap, Error> {
    let file = File::open(path).map_err(|e| Error::io(path.display().to_string(), e))?;
    // SAFETY: git never modifies these files in place: new ones are written under temporary
    // names (`packed-refs.lock` for packed-refs) and renamed, old ones are unlinked, so the
    // mapped bytes do not change
    // under us (an unlinked file stays mapped until we drop the map). Every access through the
    // map is bounds-checked slice access.
    #[allow(unsafe_code)]
    let m = unsafe { Mmap::map(&file) };
    m.map_err(|e| Error::io(path.display().to_string(), e))
}
