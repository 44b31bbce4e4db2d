//! receive-pack's side of the object checks ([`crate::odb::fsck`]): the settings come from the
//! repository's configuration, every received commit, tree and tag is checked while it is
//! indexed, the checks that need the whole push run against the quarantine view, and warnings
//! go to the client as `remote: warning: ...` lines, where C git's index-pack prints them.

use crate::backend::Repository;
use crate::hash::ObjectId;
use crate::odb::fsck::{Checker, FsckOptions, ObjectSource};
use crate::odb::Kind;

/// The checker for a push into `repo`, or the reason its fsck settings are unusable (C git's
/// receive-pack dies on those; the push is refused with that reason).
pub(super) fn checker(repo: &dyn Repository) -> Result<Checker, String> {
    FsckOptions::from_receive_config(repo.config(), repo.config_dir())
        .map(|mut opts| {
            opts.hash = repo.hash_kind();
            Checker::new(opts)
        })
        .map_err(|e| format!("fsck settings: {e}"))
}

/// A repository view (with the quarantined objects) as the checker reads it.
pub(super) struct Objects<'a>(pub(super) &'a dyn Repository);

impl ObjectSource for Objects<'_> {
    fn header(&self, id: &ObjectId) -> Result<Option<(Kind, u64)>, String> {
        self.0.object_header(id).map_err(|e| e.to_string())
    }

    fn read(&self, id: &ObjectId) -> Result<Option<Vec<u8>>, String> {
        self.0
            .read_object(id)
            .map(|o| o.map(|o| o.data))
            .map_err(|e| e.to_string())
    }
}

/// The warnings collected so far, as side-band lines.
pub(super) fn warning_lines(checker: &Checker) -> Vec<Vec<u8>> {
    checker
        .take_warnings()
        .into_iter()
        .map(|w| format!("warning: {w}\n").into_bytes())
        .collect()
}
