//! File modes under `core.sharedRepository`, after C git's `calc_shared_perm` and
//! `adjust_shared_perm` (path.c) and `git_config_perm` (setup.c): a repository shared by a
//! group keeps working whatever umask the server process runs under, because every file and
//! directory Sluice creates gets the group (or everybody) bits C git would give it.
//!
//! | value | files | directories |
//! |---|---|---|
//! | `umask`, `false`, `0` (default) | the umask decides | the umask decides |
//! | `group`, `true`, `1` | `+g` read (and write where the owner may write) | `g+rwxs` |
//! | `all`, `world`, `everybody`, `2` | as group, plus `o+r` | plus `o+rx` |
//! | octal `0xxx` | exactly `xxx` (write bits only where the owner may write) | same, `+x` where readable |

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The setting: 0 for umask, a positive mask of bits to add, or the negated exact mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SharedPerm(i32);

/// Group read/write (C git's `PERM_GROUP`).
const PERM_GROUP: i32 = 0o660;
/// Group read/write and world read (`PERM_EVERYBODY`).
const PERM_EVERYBODY: i32 = 0o664;

/// An unusable `core.sharedRepository` value (C git refuses such a repository too).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("problem with core.sharedRepository filemode value ({0}): the owner must be able to read and write")]
pub struct BadValue(pub String);

impl SharedPerm {
    /// Reads `core.sharedRepository` from `config`.
    pub fn from_config(config: &crate::git_config::GitConfig) -> Result<SharedPerm, BadValue> {
        match config.get("core.sharedRepository") {
            None => Ok(SharedPerm(0)),
            Some(None) => Ok(SharedPerm(PERM_GROUP)),
            Some(Some(v)) => Self::parse(v, config),
        }
    }

    fn parse(value: &str, config: &crate::git_config::GitConfig) -> Result<SharedPerm, BadValue> {
        match value {
            "umask" => return Ok(SharedPerm(0)),
            "group" => return Ok(SharedPerm(PERM_GROUP)),
            "all" | "world" | "everybody" => return Ok(SharedPerm(PERM_EVERYBODY)),
            _ => {}
        }
        let Ok(mode) = i32::from_str_radix(value, 8) else {
            // Not octal: a boolean.
            return match config.get_bool("core.sharedRepository") {
                Ok(Some(true)) => Ok(SharedPerm(PERM_GROUP)),
                Ok(_) => Ok(SharedPerm(0)),
                Err(_) => Err(BadValue(value.to_string())),
            };
        };
        match mode {
            0 => Ok(SharedPerm(0)),
            1 => Ok(SharedPerm(PERM_GROUP)),
            2 => Ok(SharedPerm(PERM_EVERYBODY)),
            m if m & 0o600 != 0o600 || !(0..=0o777).contains(&m) => {
                Err(BadValue(value.to_string()))
            }
            m => Ok(SharedPerm(-(m & 0o666))),
        }
    }

    /// Whether anything is adjusted at all.
    pub fn is_shared(&self) -> bool {
        self.0 != 0
    }

    /// The mode a file of `mode` gets (C git's `calc_shared_perm`).
    pub fn file_mode(&self, mode: u32) -> u32 {
        let mut tweak = self.0.unsigned_abs();
        if mode & 0o200 == 0 {
            tweak &= !0o222;
        }
        if mode & 0o100 != 0 {
            tweak |= (tweak & 0o444) >> 2;
        }
        if self.0 < 0 {
            (mode & !0o777) | tweak
        } else {
            mode | tweak
        }
    }

    /// The mode a directory of `mode` gets: as a file, plus execute where readable and the
    /// set-group-id bit when the group gains access (new files then keep the group).
    pub fn dir_mode(&self, mode: u32) -> u32 {
        let mut m = self.file_mode(mode);
        m |= (m & 0o444) >> 2;
        if m & 0o060 != 0 {
            m |= 0o2000;
        }
        m
    }

    /// Adjusts the mode of `path` (a file or directory Sluice just created), as C git's
    /// `adjust_shared_perm`; nothing when the repository is not shared.
    pub fn adjust(&self, path: &Path) -> std::io::Result<()> {
        if !self.is_shared() {
            return Ok(());
        }
        let meta = std::fs::metadata(path)?;
        let old = meta.permissions().mode() & 0o7777;
        let new = if meta.is_dir() {
            self.dir_mode(old)
        } else {
            self.file_mode(old)
        };
        if new != old {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(new))?;
        }
        Ok(())
    }

    /// Makes the new object file `path` read-only, as git writes packs, indexes and loose
    /// objects (0444 less the umask), then adjusts it.
    pub fn read_only(&self, path: &Path) -> std::io::Result<()> {
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & !0o222))?;
        self.adjust(path)
    }

    /// Creates `dir` and any missing parents, adjusting each directory it created.
    pub fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            self.create_dir_all(parent)?;
        }
        match std::fs::create_dir(dir) {
            Ok(()) => self.adjust(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git_config::GitConfig;

    fn perm(v: &str) -> Result<SharedPerm, BadValue> {
        SharedPerm::from_config(
            &GitConfig::parse(format!("[core]\nsharedRepository = {v}\n").as_bytes(), "c").unwrap(),
        )
    }

    #[test]
    fn modes_as_c_git_computes_them() {
        // Under umask 077: loose objects/packs are created 0400, refs 0600, directories 0700.
        let g = perm("group").unwrap();
        assert_eq!(
            (g.file_mode(0o400), g.file_mode(0o600), g.dir_mode(0o700)),
            (0o440, 0o660, 0o2770)
        );
        let all = perm("all").unwrap();
        assert_eq!(
            (
                all.file_mode(0o400),
                all.file_mode(0o600),
                all.dir_mode(0o700)
            ),
            (0o444, 0o664, 0o2775)
        );
        let exact = perm("0640").unwrap();
        assert_eq!(
            (
                exact.file_mode(0o444),
                exact.file_mode(0o644),
                exact.dir_mode(0o755)
            ),
            (0o440, 0o640, 0o2750)
        );
        assert_eq!(perm("true").unwrap(), g);
        assert_eq!(perm("1").unwrap(), g);
        assert_eq!(perm("2").unwrap(), all);
        assert!(!perm("umask").unwrap().is_shared());
        assert!(!perm("false").unwrap().is_shared());
        assert!(perm("0440").is_err());
        assert!(perm("bogus").is_err());
    }
}
