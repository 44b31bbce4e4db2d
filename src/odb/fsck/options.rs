//! What a push's object checks refuse, from the repository's configuration, as C git's
//! receive-pack passes it to index-pack / unpack-objects (`--strict=<id>=<severity>,...`):
//! `receive.fsck.<msg-id>` overrides one id's severity, `receive.fsck.skipList` names a file of
//! object ids never reported, `core.maxTreeDepth` bounds tree nesting and
//! `core.bigFileThreshold` the `.gitmodules` blobs worth parsing.
//!
//! Deviation: `receive.fsckObjects` / `transfer.fsckObjects` are not read; Sluice always checks
//! (as if they were true), because a server that stores what a client sends without checking
//! hands the CVE-2018-11235 class to every later cloner. `fsck.<msg-id>` is not read either,
//! exactly as C git's receive-pack does not.

use std::collections::HashSet;
use std::path::Path;

use super::msg::{MsgId, Severity, MSG_IDS};
use crate::git_config::GitConfig;
use crate::hash::{HashKind, ObjectId};

/// C git's `core.maxTreeDepth` default (2.47, non-MSVC builds).
pub const DEFAULT_MAX_TREE_DEPTH: u64 = 2048;
/// C git's `core.bigFileThreshold` default.
pub const DEFAULT_BIG_FILE_THRESHOLD: u64 = 512 << 20;

/// Why the fsck settings cannot be used. C git's receive-pack dies on these; Sluice refuses the
/// push with the same words.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A severity other than `error`, `warn` or `ignore`.
    #[error("Unknown fsck message type: '{0}'")]
    Severity(String),
    /// A fatal id (`nulInHeader`, `unterminatedHeader`) set to something other than `error`.
    #[error("Cannot demote {id} to {severity}")]
    Demote {
        /// The id as configured.
        id: String,
        /// The severity asked for.
        severity: String,
    },
    /// `receive.fsck.<id>` without a value.
    #[error("missing value for 'receive.fsck.{0}'")]
    NoValue(String),
    /// The skip list could not be read.
    #[error("could not open object name list: {path}: {source}")]
    SkipList {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A skip list line that is not an object id.
    #[error("invalid object name: {0}")]
    SkipListLine(String),
    /// A malformed numeric setting.
    #[error(transparent)]
    Config(#[from] crate::git_config::Error),
}

/// Severities per message id, the objects to skip, and the limits.
#[derive(Debug, Clone)]
pub struct FsckOptions {
    severity: Vec<Severity>,
    skip: HashSet<ObjectId>,
    /// The repository's hash function.
    pub hash: HashKind,
    /// Deepest tree nesting accepted (`core.maxTreeDepth`): a tree `a/b/c/` has depth 3.
    pub max_tree_depth: u64,
    /// `.gitmodules` blobs larger than this are `gitmodulesLarge` (`core.bigFileThreshold`).
    pub big_file_threshold: u64,
    /// What the settings themselves deserve a warning for (unknown ids, which git skips).
    pub config_warnings: Vec<String>,
}

impl Default for FsckOptions {
    fn default() -> Self {
        FsckOptions::strict()
    }
}

impl FsckOptions {
    /// git's defaults under `--strict`, as receive-pack runs its checks: every warning is an
    /// error, infos stay warnings.
    pub fn strict() -> Self {
        FsckOptions {
            severity: MSG_IDS
                .iter()
                .map(|m| match m.default {
                    Severity::Warn => Severity::Error,
                    s => s,
                })
                .collect(),
            skip: HashSet::new(),
            hash: HashKind::Sha1,
            max_tree_depth: DEFAULT_MAX_TREE_DEPTH,
            big_file_threshold: DEFAULT_BIG_FILE_THRESHOLD,
            config_warnings: Vec::new(),
        }
    }

    /// The options receive-pack uses for a repository with `config`, whose git directory
    /// `git_dir` anchors a relative `receive.fsck.skipList` (git runs in that directory).
    pub fn from_receive_config(
        config: &GitConfig,
        git_dir: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let mut opts = FsckOptions::strict();
        for (key, value) in config.entries() {
            let Some(id) = key.strip_prefix("receive.fsck.") else {
                continue;
            };
            if id == "skiplist" {
                if let Some(path) = value {
                    opts.read_skip_list(&config.pathname(path, git_dir))?;
                }
                continue;
            }
            let value = value.ok_or_else(|| ConfigError::NoValue(id.to_string()))?;
            let Some(msg) = MsgId::from_config_name(id) else {
                opts.config_warnings
                    .push(format!("skipping unknown msg id '{id}'"));
                continue;
            };
            let severity =
                Severity::parse(value).ok_or_else(|| ConfigError::Severity(value.to_string()))?;
            if msg.default_severity() == Severity::Fatal && severity != Severity::Error {
                return Err(ConfigError::Demote {
                    id: id.to_string(),
                    severity: value.to_string(),
                });
            }
            opts.set(msg, severity);
        }
        if let Some(depth) = config.get_i64("core.maxtreedepth")? {
            opts.max_tree_depth = u64::try_from(depth).unwrap_or(0);
        }
        if let Some(big) = config.get_i64("core.bigfilethreshold")? {
            opts.big_file_threshold = u64::try_from(big).unwrap_or(0);
        }
        Ok(opts)
    }

    /// Sets the severity of `id`.
    pub fn set(&mut self, id: MsgId, severity: Severity) {
        if let Some(s) = self.severity.get_mut(id.index()) {
            *s = severity;
        }
    }

    /// The severity of `id`.
    pub fn severity(&self, id: MsgId) -> Severity {
        self.severity
            .get(id.index())
            .copied()
            .unwrap_or(Severity::Error)
    }

    /// Adds `id` to the objects never reported.
    pub fn skip(&mut self, id: ObjectId) {
        self.skip.insert(id);
    }

    /// Whether problems of `id` are never reported.
    pub fn skips(&self, id: &ObjectId) -> bool {
        self.skip.contains(id)
    }

    /// Reads a skip list: one object id per line, `#` comments and blank lines ignored (git's
    /// `oidset_parse_file`).
    fn read_skip_list(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read(path).map_err(|source| ConfigError::SkipList {
            path: path.display().to_string(),
            source,
        })?;
        for line in text.split(|&b| b == b'\n') {
            let line = &line[..line.iter().position(|&b| b == b'#').unwrap_or(line.len())];
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            let bad = || ConfigError::SkipListLine(String::from_utf8_lossy(line).into_owned());
            if line.len() != self.hash.len_in_hex() {
                return Err(bad());
            }
            let id = ObjectId::from_hex(&line.to_ascii_lowercase()).map_err(|_| bad())?;
            self.skip.insert(id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(text: &str) -> Result<FsckOptions, ConfigError> {
        FsckOptions::from_receive_config(&GitConfig::parse(text.as_bytes(), "t").unwrap(), None)
    }

    #[test]
    fn receive_config() {
        let o = opts("[receive \"fsck\"]\n\tgitmodulesUrl = ignore\n\tBADFILEMODE = error\n\tnoSuch = warn\n[core]\n\tmaxTreeDepth = 9\n").unwrap();
        assert_eq!(o.severity(MsgId::GitmodulesUrl), Severity::Ignore);
        assert_eq!(o.severity(MsgId::BadFilemode), Severity::Error);
        assert_eq!(o.severity(MsgId::HasDotgit), Severity::Error);
        assert_eq!(o.severity(MsgId::GitmodulesParse), Severity::Info);
        assert_eq!(o.config_warnings, vec!["skipping unknown msg id 'nosuch'"]);
        assert_eq!(o.max_tree_depth, 9);
        assert!(matches!(
            opts("[receive \"fsck\"]\n\tgitmodulesUrl = Ignore\n"),
            Err(ConfigError::Severity(_))
        ));
        assert!(matches!(
            opts("[receive \"fsck\"]\n\tnulInHeader = warn\n"),
            Err(ConfigError::Demote { .. })
        ));
        assert!(opts("[receive \"fsck\"]\n\tnulInHeader = error\n").is_ok());
    }

    #[test]
    fn skip_list() {
        let dir = tempfile::tempdir().unwrap();
        let id = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
        std::fs::write(dir.path().join("skip"), format!("# c\n  {id}  # why\n\n")).unwrap();
        let cfg = GitConfig::parse(b"[receive \"fsck\"]\n\tskipList = skip\n", "t").unwrap();
        let o = FsckOptions::from_receive_config(&cfg, Some(dir.path())).unwrap();
        assert!(o.skips(&ObjectId::from_hex(id.as_bytes()).unwrap()));
        std::fs::write(dir.path().join("skip"), "nope\n").unwrap();
        assert!(matches!(
            FsckOptions::from_receive_config(&cfg, Some(dir.path())),
            Err(ConfigError::SkipListLine(_))
        ));
    }
}
