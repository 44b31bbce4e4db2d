//! The host's disk cache of whole index files (`.idx`, `.rev`, `.bitmap`), shared by every
//! `sluice` process on the host.
//!
//! Names are content-derived (the pack checksum), so an entry is never stale and never
//! invalidated: a file is downloaded once, checked against its name, written under a temporary
//! name and renamed into place, so concurrent processes share it without locks (two that miss
//! at once both download; the second rename replaces identical bytes). A file a pack does not
//! have is remembered by an empty `<file>.absent` marker (a pack's optional files are uploaded
//! before it is listed, so absence is as permanent as content).
//!
//! The cache is bounded by `cache-max-bytes`: after each download, files are removed oldest
//! first (by the later of access and modification time; a hit refreshes the modification time
//! at most every few minutes) until the total is under 90% of the bound. A request that already
//! linked a file into its view keeps it: removal only drops the cache's name.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::backend::Error;

/// A hit refreshes an entry's age at most this often (a write per request would cost more than
/// the order it keeps).
const TOUCH_EVERY: Duration = Duration::from_secs(300);
/// Temporary files older than this are left over from a killed process.
const STALE_TMP: Duration = Duration::from_secs(3600);

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::io(path.display().to_string(), e)
}

/// One host's cache directory of index files.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl DiskCache {
    /// The cache in `dir`, bounded to `max_bytes`.
    pub fn new(dir: PathBuf, max_bytes: u64) -> DiskCache {
        DiskCache { dir, max_bytes }
    }

    /// The directory the cached files live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cached path of `file`, calling `fetch` for its bytes when no process on this host
    /// has (`Ok(None)` from it: the store has no such file, remembered by a marker). `check`
    /// sees the downloaded file before it is published and refuses content that does not match
    /// its name. Returns `Ok(None)` for a file known to be absent.
    pub fn get(
        &self,
        file: &str,
        fetch: &dyn Fn() -> Result<Option<bytes::Bytes>, Error>,
        check: &dyn Fn(&Path) -> Result<(), Error>,
    ) -> Result<Option<PathBuf>, Error> {
        let target = self.dir.join(file);
        let absent = self.dir.join(format!("{file}.absent"));
        if target.is_file() {
            touch(&target);
            return Ok(Some(target));
        }
        if absent.is_file() {
            return Ok(None);
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| io(&self.dir, e))?;
        let Some(bytes) = fetch()? else {
            std::fs::write(&absent, b"").map_err(|e| io(&absent, e))?;
            return Ok(None);
        };
        let tmp = self.dir.join(format!(".tmp-{}-{file}", std::process::id()));
        write_synced(&tmp, &bytes)?;
        if let Err(e) = check(&tmp) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, &target).map_err(|e| io(&target, e))?;
        self.evict(&target);
        Ok(Some(target))
    }

    /// Shares a file this process wrote (a pushed pack's index) with the cache, by a hard
    /// link; best effort: a later request downloads it if this fails.
    pub fn adopt(&self, local: &Path, file: &str) {
        if std::fs::create_dir_all(&self.dir).is_ok()
            && std::fs::hard_link(local, self.dir.join(file)).is_ok()
        {
            self.evict(&self.dir.join(file));
        }
    }

    /// Records that the store has none of `files` (optional files a pushed pack does not
    /// have), so no request on this host asks for them; best effort.
    pub fn adopt_absent(&self, files: &[String]) {
        for file in files {
            let _ = std::fs::write(self.dir.join(format!("{file}.absent")), b"");
        }
    }

    /// Removes the oldest files until the cache is under 90% of its bound, never `keep` (the
    /// file just added); also removes temporary files a killed process left.
    pub fn evict(&self, keep: &Path) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        let mut files: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
        let mut total = 0u64;
        for entry in entries.flatten() {
            let (path, Ok(meta)) = (entry.path(), entry.metadata()) else {
                continue;
            };
            let age = meta
                .modified()
                .unwrap_or(now)
                .max(meta.accessed().unwrap_or(now));
            let is_tmp = entry.file_name().to_string_lossy().starts_with(".tmp-");
            if is_tmp {
                if now.duration_since(age).is_ok_and(|d| d > STALE_TMP) {
                    let _ = std::fs::remove_file(&path);
                }
                continue;
            }
            total += meta.len();
            if path != keep {
                files.push((age, meta.len(), path));
            }
        }
        if total <= self.max_bytes {
            return;
        }
        files.sort();
        let goal = self.max_bytes / 10 * 9;
        let mut removed = 0;
        for (_, len, path) in files {
            if total <= goal {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
                removed += 1;
            }
        }
        tracing::info!(dir = %self.dir.display(), removed, bytes = total, "cache evicted");
    }
}

/// Marks `path` as recently used (modification time now), unless it was marked recently.
fn touch(path: &Path) {
    let Ok(f) = std::fs::File::open(path) else {
        return;
    };
    let now = SystemTime::now();
    let old = f
        .metadata()
        .and_then(|m| m.modified())
        .is_ok_and(|t| now.duration_since(t).is_ok_and(|d| d > TOUCH_EVERY));
    if old {
        let _ = f.set_modified(now);
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path).map_err(|e| io(path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| io(path, e))
}

/// Removes request views (`view-<pid>-…` under `views`) whose process is gone: a `sluice`
/// killed mid-request leaves its view behind (hard links only, but the cache's eviction cannot
/// free what they still link).
pub fn sweep_views(views: &Path) {
    let Ok(entries) = std::fs::read_dir(views) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix("view-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Result<Option<bytes::Bytes>, Error> {
        Ok(Some(bytes::Bytes::from(vec![7u8; n])))
    }

    #[test]
    fn downloads_once_remembers_absence_and_refuses_bad_content() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().join("c"), 1 << 20);
        let calls = std::cell::Cell::new(0);
        let fetch = || {
            calls.set(calls.get() + 1);
            bytes(10)
        };
        let ok = |_: &Path| Ok(());
        let p = cache.get("a.idx", &fetch, &ok).unwrap().unwrap();
        assert_eq!(std::fs::read(&p).unwrap().len(), 10);
        cache.get("a.idx", &fetch, &ok).unwrap().unwrap();
        assert_eq!(calls.get(), 1, "a hit makes no request");

        let none = || Ok(None);
        assert!(cache.get("a.bitmap", &none, &ok).unwrap().is_none());
        let never = || -> Result<Option<bytes::Bytes>, Error> { panic!("absence is remembered") };
        assert!(cache.get("a.bitmap", &never, &ok).unwrap().is_none());

        let bad = |_: &Path| Err(Error::corrupt("b.idx", "does not match its name"));
        assert!(cache.get("b.idx", &fetch, &bad).is_err());
        let left: Vec<_> = std::fs::read_dir(cache.dir()).unwrap().flatten().collect();
        assert_eq!(
            left.len(),
            2,
            "no temporary or refused file stays: {left:?}"
        );
    }

    #[test]
    fn the_oldest_files_go_first_when_the_bound_is_passed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().join("c"), 250);
        let ok = |_: &Path| Ok(());
        let old = SystemTime::now() - Duration::from_secs(10_000);
        for (i, name) in ["1.idx", "2.idx"].iter().enumerate() {
            let p = cache.get(name, &|| bytes(100), &ok).unwrap().unwrap();
            let t = old + Duration::from_secs(i as u64);
            let f = std::fs::File::open(&p).unwrap();
            f.set_times(std::fs::FileTimes::new().set_accessed(t).set_modified(t))
                .unwrap();
        }
        cache.get("3.idx", &|| bytes(100), &ok).unwrap().unwrap();
        let mut left: Vec<String> = std::fs::read_dir(cache.dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["2.idx", "3.idx"],
            "the oldest went, the new one stayed"
        );
    }

    #[test]
    fn views_of_dead_processes_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join(format!("view-{}-1-0", std::process::id()));
        let dead = dir.path().join("view-4000000000-1-0");
        std::fs::create_dir_all(&mine).unwrap();
        std::fs::create_dir_all(&dead).unwrap();
        sweep_views(dir.path());
        assert!(mine.exists() && !dead.exists());
    }
}
