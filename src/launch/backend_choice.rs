//! Which [`Backend`] serves a request: the on-disk one, or the distributed one when
//! `--backend-config FILE` / `SLUICE_BACKEND_CONFIG` names a config file. A build without the
//! `distributed` feature refuses such a file with one line rather than serving from disk.

use std::path::Path;

use super::Error;
use crate::backend::fs::FsBackend;
use crate::backend::Backend;

/// The backend for `config` (none: the on-disk backend, `strict` as `--strict-paths`).
pub fn choose(config: Option<&Path>, strict: bool) -> Result<Box<dyn Backend>, Error> {
    match config {
        None => Ok(Box::new(FsBackend { strict })),
        Some(file) => distributed(file),
    }
}

#[cfg(feature = "distributed")]
fn distributed(file: &Path) -> Result<Box<dyn Backend>, Error> {
    use crate::backend::distributed::{config, DistBackend};
    let cfg = config::load(file, &|k| std::env::var(k).ok())
        .map_err(|e| Error::Refused(e.to_string()))?;
    let backend = DistBackend::new(&cfg).map_err(|e| Error::Refused(e.to_string()))?;
    Ok(Box::new(backend))
}

#[cfg(not(feature = "distributed"))]
fn distributed(file: &Path) -> Result<Box<dyn Backend>, Error> {
    Err(Error::Refused(format!(
        "backend config {}: this sluice was built without the `distributed` feature",
        file.display()
    )))
}

/// Creates repository `location` in the distributed backend `config` names, HEAD at
/// `refs/heads/<branch>`.
pub fn init_distributed(config: &Path, location: &str, branch: &str) -> Result<(), Error> {
    #[cfg(feature = "distributed")]
    {
        use crate::backend::distributed::{config as cfgfile, DistBackend};
        let cfg = cfgfile::load(config, &|k| std::env::var(k).ok())
            .map_err(|e| Error::Refused(e.to_string()))?;
        let backend = DistBackend::new(&cfg).map_err(|e| Error::Refused(e.to_string()))?;
        let created = backend
            .init(location, branch)
            .map_err(|e| Error::Refused(e.to_string()))?;
        if !created {
            return Err(Error::Refused(format!(
                "repository {location} exists already"
            )));
        }
        Ok(())
    }
    #[cfg(not(feature = "distributed"))]
    {
        let _ = (location, branch);
        distributed(config).map(|_| ())
    }
}
