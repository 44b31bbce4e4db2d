//! A gitolite site on disk: the admin directory (`conf/`, `keydir/`, as gitolite keeps it in
//! `~/.gitolite`) and the repository root (gitolite's `~/repositories`), where each
//! repository is `NAME.git` and a wild repository records its creator in `gl-creator` and its
//! role assignments in `gl-perms`, in gitolite's formats so a site can move back and forth.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::eval::RepoState;
use super::lines::Files;
use super::{load, Conf, Error};

/// Most files read from an admin directory or tree (a bound on work and memory).
pub const MAX_FILES: usize = 100_000;
/// Largest single file read from it.
pub const MAX_FILE_SIZE: u64 = 16 << 20;

/// The directories of the admin tree that Sluice reads.
pub const TREE_DIRS: [&str; 2] = ["conf", "keydir"];

/// A loaded site.
#[derive(Debug)]
pub struct Site {
    /// The admin directory (`conf/gitolite.conf`, `keydir/`).
    pub admin: PathBuf,
    /// The repository root.
    pub root: PathBuf,
    /// The parsed configuration.
    pub conf: Conf,
}

impl Site {
    /// Loads the site whose admin directory is `admin`, serving repositories under `root`.
    pub fn load(admin: &Path, root: &Path) -> Result<Site, Error> {
        let files = read_dir_tree(admin)?;
        Ok(Site {
            admin: admin.to_path_buf(),
            root: root.to_path_buf(),
            conf: load(&files)?,
        })
    }

    /// The on-disk view of repositories the access checks use.
    pub fn state(&self) -> FsState<'_> {
        FsState { root: &self.root }
    }

    /// Where `repo` (a name without `.git`) lives.
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root.join(format!("{repo}.git"))
    }
}

/// Repositories as directories under a root.
pub struct FsState<'a> {
    root: &'a Path,
}

impl FsState<'_> {
    fn file(&self, repo: &str, name: &str) -> Option<String> {
        let path = self.root.join(format!("{repo}.git")).join(name);
        let meta = std::fs::metadata(&path).ok()?;
        if meta.len() > MAX_FILE_SIZE {
            return None;
        }
        std::fs::read_to_string(path).ok()
    }
}

impl RepoState for FsState<'_> {
    fn exists(&self, repo: &str) -> bool {
        self.root.join(format!("{repo}.git")).is_dir()
    }

    fn creator(&self, repo: &str) -> Option<String> {
        self.file(repo, "gl-creator")
            .map(|s| s.trim_end_matches('\n').to_string())
    }

    fn perms(&self, repo: &str) -> Vec<String> {
        self.file(repo, "gl-perms")
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }
}

/// Reads `conf/` and `keydir/` of an admin directory into [`Files`].
pub fn read_dir_tree(admin: &Path) -> Result<Files, Error> {
    let mut files = Files::new();
    for dir in TREE_DIRS {
        let top = admin.join(dir);
        if top.is_dir() {
            walk(&top, dir, &mut files)?;
        }
    }
    Ok(files)
}

fn walk(dir: &Path, rel: &str, files: &mut Files) -> Result<(), Error> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let rel = format!("{rel}/{name}");
        let meta = std::fs::metadata(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if meta.is_dir() {
            walk(&path, &rel, files)?;
        } else if meta.is_file() {
            if meta.len() > MAX_FILE_SIZE || files.len() >= MAX_FILES {
                return Err(Error::Key(format!("{rel}: admin tree too large")));
            }
            let data = std::fs::read(&path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            files.insert(rel, data);
        }
    }
    Ok(())
}

impl Site {
    /// What `ssh git@host info` prints for `user`.
    pub fn info(&self, user: &str, host: &str) -> String {
        super::info::info(
            &self.conf,
            &self.state(),
            user,
            &self.physical_repos(),
            host,
        )
    }

    /// Every repository under the root (`NAME.git` directories, not descended into), sorted.
    pub fn physical_repos(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_repos(&self.root, "", 0, &mut out);
        out.sort();
        out
    }
}

/// Deepest directory level searched for repositories.
const MAX_DEPTH: usize = 16;

fn collect_repos(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.path().is_dir() || out.len() >= MAX_FILES {
            continue;
        }
        match name.strip_suffix(".git") {
            Some(repo) => out.push(format!("{prefix}{repo}")),
            None if depth < MAX_DEPTH => {
                collect_repos(&entry.path(), &format!("{prefix}{name}/"), depth + 1, out)
            }
            None => {}
        }
    }
}

impl Site {
    /// The plain repository names the conf gives rules or config to, directly or as members
    /// of repo groups (what gitolite's `compile` creates).
    pub fn named_repos(&self) -> Vec<String> {
        let mut out = std::collections::BTreeSet::new();
        for name in self.conf.repos.keys().chain(self.conf.configs.keys()) {
            match name.strip_prefix('@') {
                Some(_) if name != "@all" => {
                    out.extend(self.conf.members.get(name).into_iter().flatten().cloned())
                }
                Some(_) => {}
                None => {
                    out.insert(name.clone());
                }
            }
        }
        out.into_iter()
            .filter(|r| super::names::is_repo_name(r) && super::names::check_repo(r).is_ok())
            .collect()
    }
}

impl Site {
    /// Writes the conf's `config` lines for `repo` into its git config, as gitolite's
    /// `update-git-configs` does: the last value per key wins, an empty value unsets the key,
    /// `gitolite-options.*` stay in the conf. Returns how many keys were written.
    pub fn apply_config(&self, repo: &str) -> Result<usize, Error> {
        let mut last = BTreeMap::new();
        for (k, v) in self.conf.config_for(&self.state(), repo, "") {
            if !k.starts_with("gitolite-options.") {
                last.insert(k, v);
            }
        }
        let path = self.repo_dir(repo).join("config");
        for (k, v) in &last {
            let value = (!v.is_empty()).then_some(v.as_str());
            crate::backend::fs::config_write::set(&path, k, value)
                .map_err(|e| Error::Key(format!("{repo}: {e}")))?;
        }
        Ok(last.len())
    }
}
