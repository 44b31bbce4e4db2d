//! The repository format check C git runs before touching a repository
//! (`setup.c: check_repository_format_gently`, `verify_repository_format`): a repository
//! written in a format Sluice does not understand is refused with one clear line, never served
//! as if it were empty or with truncated ids.
//!
//! `core.repositoryformatversion` may be 0 or 1. Extensions C git honours even in version 0
//! (`noop`, `preciousObjects`, `partialClone`, `worktreeConfig`) are read as such; the others
//! (`objectFormat`, `compatObjectFormat`, `refStorage`, `noop-v1`) need version 1, and in version 1
//! any extension C git does not know refuses the repository. `objectFormat` names the hash of
//! every id (SHA-1 or SHA-256). On top of C git's rules, values Sluice cannot serve (a
//! compatibility object format, which C git 2.47 itself only half implements) refuse the
//! repository too.

use crate::git_config::GitConfig;
use crate::hash::HashKind;

/// The highest `core.repositoryformatversion` C git (and Sluice) reads.
const MAX_VERSION: i64 = 1;

/// What the format check found worth keeping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryFormat {
    /// `core.repositoryformatversion`.
    pub version: i64,
    /// `extensions.preciousObjects`: objects must never be deleted (maintenance refuses).
    pub precious_objects: bool,
    /// `extensions.refStorage = reftable`: refs live in the `reftable/` stack.
    pub reftable: bool,
    /// `extensions.objectFormat`: the hash naming every object (SHA-1 when unset).
    pub hash: HashKind,
}

/// Why a repository's format is refused; the text is the line the client and the log see.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    /// `core.repositoryformatversion` above 1 (or unreadable).
    #[error("expected git repo version <= {MAX_VERSION}, found {0}")]
    Version(String),
    /// Version 1 with extensions C git does not know.
    #[error("unknown repository extension found: {0}")]
    UnknownExtensions(String),
    /// Version 0 with extensions that need version 1.
    #[error("repo version is 0, but v1-only extension found: {0}")]
    V1OnlyInV0(String),
    /// An extension C git knows but this Sluice cannot serve yet.
    #[error("repository uses {key} = {value}, which Sluice does not support")]
    Unsupported {
        /// The extension key (`extensions.refStorage`).
        key: &'static str,
        /// Its value (`reftable`).
        value: String,
    },
    /// An extension's value is invalid (C git refuses those too).
    #[error("invalid value for '{key}': '{value}'")]
    BadValue {
        /// The key.
        key: String,
        /// The value found.
        value: String,
    },
}

/// How one `extensions.*` key is treated.
enum Extension {
    /// Honoured in any version.
    V0,
    /// Needs version 1.
    V1,
    /// Not known to C git 2.47.
    Unknown,
}

fn classify(name: &str) -> Extension {
    match name {
        "noop" | "preciousobjects" | "partialclone" | "worktreeconfig" => Extension::V0,
        "noop-v1" | "objectformat" | "compatobjectformat" | "refstorage" => Extension::V1,
        _ => Extension::Unknown,
    }
}

/// Checks the format of a repository whose config is `config`.
pub fn check(config: &GitConfig) -> Result<RepositoryFormat, FormatError> {
    let version = match config.get_i64("core.repositoryformatversion") {
        Ok(v) => v.unwrap_or(0),
        Err(_) => {
            let raw = config.get("core.repositoryformatversion").flatten();
            return Err(FormatError::Version(raw.unwrap_or("").to_string()));
        }
    };
    if !(0..=MAX_VERSION).contains(&version) {
        return Err(FormatError::Version(version.to_string()));
    }
    let mut format = RepositoryFormat {
        version,
        precious_objects: false,
        reftable: false,
        hash: HashKind::Sha1,
    };
    let (mut unknown, mut v1_only) = (Vec::new(), Vec::new());
    for (key, value) in config.entries_with_prefix("extensions.") {
        let name = &key["extensions.".len()..];
        match classify(name) {
            Extension::V0 => {
                if name == "preciousobjects" {
                    format.precious_objects = config
                        .get_bool(key)
                        .map_err(|_| bad_value(key, value))?
                        .unwrap_or(false);
                }
            }
            Extension::V1 => {
                check_v1_value(name, key, value)?;
                if name == "objectformat" {
                    format.hash = value
                        .and_then(HashKind::from_name)
                        .ok_or_else(|| bad_value(key, value))?;
                }
                format.reftable |= name == "refstorage"
                    && value.is_some_and(|v| v.eq_ignore_ascii_case("reftable"));
                v1_only.push(name.to_string());
            }
            Extension::Unknown => unknown.push(name.to_string()),
        }
    }
    if version >= 1 && !unknown.is_empty() {
        return Err(FormatError::UnknownExtensions(unknown.join(", ")));
    }
    if version == 0 && !v1_only.is_empty() {
        return Err(FormatError::V1OnlyInV0(v1_only.join(", ")));
    }
    Ok(format)
}

fn bad_value(key: &str, value: Option<&str>) -> FormatError {
    FormatError::BadValue {
        key: key.to_string(),
        value: value.unwrap_or("").to_string(),
    }
}

/// The values C git accepts for a v1 extension, and whether Sluice serves them.
fn check_v1_value(name: &str, key: &str, value: Option<&str>) -> Result<(), FormatError> {
    let lower = value.map(str::to_ascii_lowercase);
    let unsupported = |key: &'static str| FormatError::Unsupported {
        key,
        value: value.unwrap_or("").to_string(),
    };
    match (name, lower.as_deref()) {
        ("noop-v1", _) => Ok(()),
        (_, None) => Err(bad_value(key, value)),
        ("objectformat", Some("sha1" | "sha256")) => Ok(()),
        ("compatobjectformat", Some("sha1" | "sha256")) => {
            Err(unsupported("extensions.compatObjectFormat"))
        }
        ("refstorage", Some("files")) => Ok(()),
        ("refstorage", Some("reftable")) => Ok(()),
        _ => Err(bad_value(key, value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(text: &str) -> Result<RepositoryFormat, FormatError> {
        check(&GitConfig::parse(text.as_bytes(), "config").unwrap())
    }

    #[test]
    fn versions() {
        assert_eq!(check_text("").unwrap().version, 0);
        assert_eq!(
            check_text("[core]\nrepositoryformatversion = 1\n")
                .unwrap()
                .version,
            1
        );
        assert!(matches!(
            check_text("[core]\nrepositoryformatversion = 2\n"),
            Err(FormatError::Version(v)) if v == "2"
        ));
        assert!(check_text("[core]\nrepositoryformatversion = -1\n").is_err());
        assert!(check_text("[core]\nrepositoryformatversion = x\n").is_err());
    }

    #[test]
    fn extensions_as_c_git_reads_them() {
        // Unknown extensions are ignored in version 0 and refuse the repository in version 1.
        assert!(check_text("[extensions]\nfrobnicate = yes\n").is_ok());
        assert_eq!(
            check_text("[core]\nrepositoryformatversion = 1\n[extensions]\nfrobnicate = yes\n"),
            Err(FormatError::UnknownExtensions("frobnicate".into()))
        );
        // v1-only extensions in version 0 refuse it.
        assert_eq!(
            check_text("[extensions]\nobjectFormat = sha1\n"),
            Err(FormatError::V1OnlyInV0("objectformat".into()))
        );
        let v1 = "[core]\nrepositoryformatversion = 1\n[extensions]\n";
        assert!(check_text(&format!("{v1}objectFormat = sha1\nrefStorage = files\n")).is_ok());
        assert!(check_text(&format!("{v1}noop\nnoop-v1\n")).is_ok());
        assert_eq!(
            check_text(&format!("{v1}objectFormat = sha256\n"))
                .unwrap()
                .hash,
            HashKind::Sha256
        );
        assert_eq!(check_text(v1).unwrap().hash, HashKind::Sha1);
        assert!(
            check_text(&format!("{v1}refStorage = reftable\n"))
                .unwrap()
                .reftable
        );
        assert!(
            !check_text(&format!("{v1}refStorage = files\n"))
                .unwrap()
                .reftable
        );
        assert!(matches!(
            check_text(&format!("{v1}compatObjectFormat = sha256\n")),
            Err(FormatError::Unsupported { .. })
        ));
        assert!(matches!(
            check_text(&format!("{v1}objectFormat = md5\n")),
            Err(FormatError::BadValue { .. })
        ));
        assert!(
            check_text(&format!("{v1}preciousObjects = true\n"))
                .unwrap()
                .precious_objects
        );
        assert!(check_text("[extensions]\npartialClone = origin\nworktreeConfig = true\n").is_ok());
    }
}
