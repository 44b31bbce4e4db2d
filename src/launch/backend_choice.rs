//! Which [`Backend`] serves a request: the on-disk one, or the distributed one when
//! `--backend-config FILE` / `SLUICE_BACKEND_CONFIG` names a config file. A build without the
//! `distributed` feature refuses such a file with one line rather than serving from disk.

use std::path::Path;
use std::sync::Arc;

use super::Error;
use crate::backend::fs::FsBackend;
use crate::backend::Backend;
use crate::env::Env;

/// A keyed backend (the distributed one) that a network launch mode serves from: repository
/// names are its locations, not directories under a root.
#[derive(Clone)]
pub struct Store(pub Arc<dyn Backend>);

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// The backend, for [`super::resolve::find`] and [`super::serve`].
    pub fn backend(&self) -> &dyn Backend {
        self.0.as_ref()
    }
}

/// The keyed backend `config` names (`--backend-config` / `SLUICE_BACKEND_CONFIG`), for the
/// ssh, shell, inetd and http modes; `None` without a config: they serve directories.
pub fn store(config: Option<&Path>, env: &Arc<Env>) -> Result<Option<Store>, Error> {
    match config {
        None => Ok(None),
        Some(file) => Ok(Some(Store(Arc::from(distributed(file, env)?)))),
    }
}

/// The backend for `config` (none: the on-disk backend, `strict` as `--strict-paths`), in
/// the process environment `env` (credentials, reflog identity).
pub fn choose(
    config: Option<&Path>,
    strict: bool,
    env: &Arc<Env>,
) -> Result<Box<dyn Backend>, Error> {
    match config {
        None => Ok(Box::new(FsBackend {
            strict,
            env: env.clone(),
        })),
        Some(file) => distributed(file, env),
    }
}

#[cfg(feature = "distributed")]
fn distributed(file: &Path, env: &Env) -> Result<Box<dyn Backend>, Error> {
    use crate::backend::distributed::{config, DistBackend};
    let cfg = config::load(file, &|k| env.get(k)).map_err(|e| Error::Refused(e.to_string()))?;
    let backend = DistBackend::new(&cfg).map_err(|e| Error::Refused(e.to_string()))?;
    Ok(Box::new(backend))
}

#[cfg(not(feature = "distributed"))]
fn distributed(file: &Path, _env: &Env) -> Result<Box<dyn Backend>, Error> {
    Err(Error::Refused(format!(
        "backend config {}: this sluice was built without the `distributed` feature",
        file.display()
    )))
}

/// Creates repository `location` in the distributed backend `config` names, HEAD at
/// `refs/heads/<branch>`.
pub fn init_distributed(
    config: &Path,
    location: &str,
    branch: &str,
    env: &Env,
) -> Result<(), Error> {
    #[cfg(feature = "distributed")]
    {
        use crate::backend::distributed::{config as cfgfile, DistBackend};
        let cfg =
            cfgfile::load(config, &|k| env.get(k)).map_err(|e| Error::Refused(e.to_string()))?;
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
        distributed(config, env).map(|_| ())
    }
}
