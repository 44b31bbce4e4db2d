//! The distributed backend's administration commands, as the executable runs them: `sluice
//! repack --backend-config`, `sluice import`, `sluice export`, `sluice config`. Each loads the
//! backend config, calls the backend's library function, and answers in one line; a build
//! without the `distributed` feature refuses them with one line.

use std::path::Path;

use super::Error;
use crate::progress::Progress;

/// What an administration command is asked to do.
#[derive(Debug, Clone)]
pub enum Admin<'a> {
    /// `sluice repack --backend-config`: repository, compact only, grace and garbage seconds.
    Repack {
        /// The repository.
        name: &'a str,
        /// Only merge small packs.
        compact: bool,
        /// Seconds before unlisted files are deleted.
        grace: u64,
        /// Seconds a garbage pack stays listed.
        garbage_ttl: u64,
    },
    /// `sluice import DIR NAME`.
    Import {
        /// The on-disk repository.
        dir: &'a Path,
        /// The name in the backend.
        name: &'a str,
    },
    /// `sluice export NAME DIR`.
    Export {
        /// The name in the backend.
        name: &'a str,
        /// The new repository.
        dir: &'a Path,
    },
    /// `sluice config NAME [KEY [VALUE]]` (`unset`: remove KEY).
    Config {
        /// The repository.
        name: &'a str,
        /// The key, if any.
        key: Option<&'a str>,
        /// The value to set, if any.
        value: Option<&'a str>,
        /// Remove the key.
        unset: bool,
    },
}

/// Runs `admin` against the backend `config` describes; returns the line to print on stdout
/// (`config` reads) or stderr (a summary), and whether it is a summary.
pub fn run(
    config: &Path,
    admin: &Admin<'_>,
    env: &crate::env::Env,
    progress: &mut dyn Progress,
) -> Result<(String, bool), Error> {
    #[cfg(feature = "distributed")]
    {
        imp::run(config, admin, env, progress)
    }
    #[cfg(not(feature = "distributed"))]
    {
        let _ = (admin, env, progress);
        Err(Error::Refused(format!(
            "backend config {}: this sluice was built without the `distributed` feature",
            config.display()
        )))
    }
}

#[cfg(feature = "distributed")]
mod imp {
    use super::{Admin, Error, Path, Progress};
    use crate::backend::distributed::{config, maintenance, settings, transfer, Stores};

    fn refused(e: impl std::fmt::Display) -> Error {
        Error::Refused(e.to_string())
    }

    pub fn run(
        file: &Path,
        admin: &Admin<'_>,
        env: &crate::env::Env,
        progress: &mut dyn Progress,
    ) -> Result<(String, bool), Error> {
        let cfg = config::load(file, &|k| env.get(k)).map_err(refused)?;
        let stores = Stores::connect(&cfg).map_err(refused)?;
        match *admin {
            Admin::Repack {
                name,
                compact,
                grace,
                garbage_ttl,
            } => {
                let opts = maintenance::Options {
                    full: !compact,
                    grace,
                    garbage_ttl,
                    ..maintenance::Options::full_now()
                };
                let s = maintenance::repack(&stores, name, &opts, progress).map_err(refused)?;
                if s.busy {
                    return Ok((
                        format!("{name}: another repack is running; nothing done"),
                        true,
                    ));
                }
                Ok((
                    format!(
                        "{name}: {} packs; replaced {} with {} ({} objects, {} bitmaps), garbage pack {} objects, {} expired garbage packs dropped; deleted {} unlisted and {} orphan files, pruned {} push-log records",
                        s.packs_before,
                        s.replaced,
                        s.pack.as_deref().unwrap_or("nothing"),
                        s.objects,
                        s.bitmaps,
                        s.garbage,
                        s.expired,
                        s.swept.dead_files,
                        s.swept.orphan_files,
                        s.swept.push_records
                    ),
                    true,
                ))
            }
            Admin::Import { dir, name } => {
                let m = transfer::import(&stores, dir, name, progress).map_err(refused)?;
                Ok((
                    format!(
                        "imported {} as {name}: {} refs, {} objects in {} pack",
                        dir.display(),
                        m.refs,
                        m.objects,
                        m.packs
                    ),
                    true,
                ))
            }
            Admin::Export { name, dir } => {
                let m = transfer::export(&stores, name, dir, progress).map_err(refused)?;
                Ok((
                    format!(
                        "exported {name} to {}: {} refs, {} packs, {} objects reachable",
                        dir.display(),
                        m.refs,
                        m.packs,
                        m.objects
                    ),
                    true,
                ))
            }
            Admin::Config {
                name,
                key,
                value,
                unset,
            } => config_command(&stores, name, key, value, unset),
        }
    }

    fn config_command(
        stores: &Stores,
        name: &str,
        key: Option<&str>,
        value: Option<&str>,
        unset: bool,
    ) -> Result<(String, bool), Error> {
        match (key, value) {
            (Some(k), Some(v)) => settings::set(stores, name, k, Some(v)).map(|()| String::new()),
            (Some(k), None) if unset => {
                settings::set(stores, name, k, None).map(|()| String::new())
            }
            (Some(k), None) => {
                let text = settings::get(stores, name).map_err(refused)?;
                let cfg = crate::git_config::GitConfig::parse(text.as_bytes(), "stored config")
                    .map_err(refused)?;
                match cfg.get(k) {
                    Some(v) => Ok(format!("{}\n", v.unwrap_or("true"))),
                    None => return Err(Error::Refused(format!("{name}: {k} is not set"))),
                }
            }
            (None, _) => settings::get(stores, name),
        }
        .map(|text| (text, false))
        .map_err(refused)
    }
}
