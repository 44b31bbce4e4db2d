//! The index file (`<git-dir>/index`, gitformat-index(5)) as C git writes it: read in versions
//! 2, 3 and 4, written in version 2.
//!
//! Only what a checkout needs is kept: each entry's stat data, mode, id, stage and path. The
//! optional extensions (cache tree, untracked cache, resolve-undo, fsmonitor, offset tables) are
//! dropped on rewrite, which C git allows: it rebuilds them when it wants them. Mandatory
//! extensions (a lower-case signature: split index `link`, sparse directories `sdir`) and entries
//! with extended flags (skip-worktree, intent-to-add) are refused, since dropping them would
//! change what the index means.

use crate::hash::{HashKind, Hasher, ObjectId};

/// Why an index could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The bytes are not an index we understand.
    #[error("index: {0}")]
    Corrupt(String),
    /// A feature whose meaning a rewrite would lose.
    #[error("index uses {0}, which Sluice cannot update")]
    Unsupported(String),
}

fn corrupt(what: impl Into<String>) -> Error {
    Error::Corrupt(what.into())
}

/// The stat data git keeps per entry (each field truncated to 32 bits, as stored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    /// Change time, seconds.
    pub ctime: u32,
    /// Change time, nanoseconds.
    pub ctime_nsec: u32,
    /// Modification time, seconds.
    pub mtime: u32,
    /// Modification time, nanoseconds.
    pub mtime_nsec: u32,
    /// Device.
    pub dev: u32,
    /// Inode.
    pub ino: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u32,
}

#[cfg(unix)]
impl Stat {
    /// The stat data of `meta` (from `lstat`).
    pub fn from_metadata(meta: &std::fs::Metadata) -> Stat {
        use std::os::unix::fs::MetadataExt;
        Stat {
            ctime: meta.ctime() as u32,
            ctime_nsec: meta.ctime_nsec() as u32,
            mtime: meta.mtime() as u32,
            mtime_nsec: meta.mtime_nsec() as u32,
            dev: meta.dev() as u32,
            ino: meta.ino() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            size: meta.size() as u32,
        }
    }
}

/// One index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Stat data from when the file was last known to match `id`.
    pub stat: Stat,
    /// `0o100644`, `0o100755`, `0o120000` or `0o160000`.
    pub mode: u32,
    /// The blob (or, for a gitlink, commit) id.
    pub id: ObjectId,
    /// Merge stage (0 when resolved).
    pub stage: u8,
    /// `assume-valid` flag.
    pub assume_valid: bool,
    /// Path relative to the work tree, `/`-separated.
    pub path: Vec<u8>,
}

/// A parsed index.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Index {
    /// The version it was read in.
    pub version: u32,
    /// Entries sorted by path, then stage.
    pub entries: Vec<Entry>,
}

/// A reader over the untrusted bytes of an index, naming the field that broke.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).ok_or_else(|| corrupt(what))?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or_else(|| corrupt(format!("truncated {what}")))?;
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self, what: &str) -> Result<u32, Error> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u16(&mut self, what: &str) -> Result<u16, Error> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// git's offset varint (version 4 path prefix lengths).
    fn varint(&mut self) -> Result<usize, Error> {
        let mut byte = self.take(1, "path prefix length")?[0];
        let mut val = usize::from(byte & 0x7f);
        while byte & 0x80 != 0 {
            byte = self.take(1, "path prefix length")?[0];
            val = val
                .checked_add(1)
                .and_then(|v| v.checked_mul(128))
                .map(|v| v | usize::from(byte & 0x7f))
                .ok_or_else(|| corrupt("path prefix length overflows"))?;
        }
        Ok(val)
    }
}

impl Index {
    /// Parses `data`, a whole index file of a repository hashing with `kind`, checking its
    /// trailing checksum (an all-zero trailer, `index.skipHash`, is accepted).
    pub fn decode(data: &[u8], kind: HashKind) -> Result<Index, Error> {
        let hash_len = kind.len_in_bytes();
        let body_len = data
            .len()
            .checked_sub(hash_len)
            .ok_or_else(|| corrupt("shorter than its checksum"))?;
        let (body, trailer) = data.split_at(body_len);
        if trailer.iter().any(|&b| b != 0) && checksum(kind, body)?.as_bytes() != trailer {
            return Err(corrupt("checksum mismatch"));
        }
        let mut c = Cursor { data: body, pos: 0 };
        if c.take(4, "signature")? != b"DIRC" {
            return Err(corrupt("bad signature"));
        }
        let version = c.u32("version")?;
        if !(2..=4).contains(&version) {
            return Err(Error::Unsupported(format!("index version {version}")));
        }
        let count = c.u32("entry count")? as usize;
        // Each entry takes at least 62 bytes in v2/v3 and 42 in v4: a count the file cannot
        // hold is refused before anything is allocated for it.
        if count > body.len() / (2 * kind.len_in_bytes()) {
            return Err(corrupt("entry count larger than the file"));
        }
        let mut entries = Vec::with_capacity(count);
        let mut previous: Vec<u8> = Vec::new();
        for _ in 0..count {
            let entry = decode_entry(&mut c, version, kind, &previous)?;
            previous.clone_from(&entry.path);
            entries.push(entry);
        }
        while c.pos < body.len() {
            let sig = c.take(4, "extension signature")?;
            let size = c.u32("extension size")? as usize;
            if sig[0].is_ascii_lowercase() {
                let name = String::from_utf8_lossy(sig).into_owned();
                return Err(Error::Unsupported(format!("the '{name}' extension")));
            }
            c.take(size, "extension")?;
        }
        Ok(Index { version, entries })
    }

    /// The index in version 2 with its checksum, as C git writes it.
    pub fn encode_v2(&self, kind: HashKind) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        out.extend_from_slice(b"DIRC");
        out.extend_from_slice(&2u32.to_be_bytes());
        let count = u32::try_from(self.entries.len()).map_err(|_| corrupt("too many entries"))?;
        out.extend_from_slice(&count.to_be_bytes());
        for e in &self.entries {
            let start = out.len();
            let s = &e.stat;
            for v in [
                s.ctime,
                s.ctime_nsec,
                s.mtime,
                s.mtime_nsec,
                s.dev,
                s.ino,
                e.mode,
                s.uid,
                s.gid,
                s.size,
            ] {
                out.extend_from_slice(&v.to_be_bytes());
            }
            out.extend_from_slice(e.id.as_bytes());
            let name_len = e.path.len().min(0xfff) as u16;
            let flags =
                name_len | (u16::from(e.stage & 3) << 12) | if e.assume_valid { 0x8000 } else { 0 };
            out.extend_from_slice(&flags.to_be_bytes());
            out.extend_from_slice(&e.path);
            // NUL padding to a multiple of 8, at least one NUL.
            let len = out.len() - start;
            let padded = (len + 8) & !7;
            out.resize(start + padded, 0);
        }
        let sum = checksum(kind, &out)?;
        out.extend_from_slice(sum.as_bytes());
        Ok(out)
    }
}

fn checksum(kind: HashKind, data: &[u8]) -> Result<ObjectId, Error> {
    let mut h = Hasher::trailer_only(kind);
    h.update(data);
    h.finish().map_err(|_| corrupt("checksum collision"))
}

fn decode_entry(
    c: &mut Cursor<'_>,
    version: u32,
    kind: HashKind,
    previous: &[u8],
) -> Result<Entry, Error> {
    let start = c.pos;
    let mut f = [0u32; 10];
    for v in &mut f {
        *v = c.u32("entry stat data")?;
    }
    let [ctime, ctime_nsec, mtime, mtime_nsec, dev, ino, mode, uid, gid, size] = f;
    let id = ObjectId::from_bytes(c.take(kind.len_in_bytes(), "entry id")?)
        .map_err(|_| corrupt("entry id"))?;
    let flags = c.u16("entry flags")?;
    if flags & 0x4000 != 0 {
        if version < 3 {
            return Err(corrupt("extended flag in a version 2 index"));
        }
        if c.u16("entry extended flags")? != 0 {
            return Err(Error::Unsupported(
                "skip-worktree or intent-to-add entries".into(),
            ));
        }
    }
    let path = if version == 4 {
        let strip = c.varint()?;
        let keep = previous
            .len()
            .checked_sub(strip)
            .ok_or_else(|| corrupt("path prefix longer than the previous path"))?;
        let rest = &c.data[c.pos..];
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| corrupt("unterminated path"))?;
        let mut path = previous[..keep].to_vec();
        path.extend_from_slice(
            c.take(nul + 1, "path")?
                .split_last()
                .map_or(&[][..], |(_, p)| p),
        );
        path
    } else {
        let rest = &c.data[c.pos..];
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| corrupt("unterminated path"))?;
        let path = c.take(nul, "path")?.to_vec();
        // Padding: the entry ends at the next multiple of 8 after at least one NUL.
        let len = c.pos - start;
        let padded = (len + 8) & !7;
        c.take(padded - len, "entry padding")?;
        path
    };
    if !matches!(mode, 0o100644 | 0o100755 | 0o120000 | 0o160000) {
        return Err(corrupt(format!("entry mode {mode:o}")));
    }
    Ok(Entry {
        stat: Stat {
            ctime,
            ctime_nsec,
            mtime,
            mtime_nsec,
            dev,
            ino,
            uid,
            gid,
            size,
        },
        mode,
        id,
        stage: ((flags >> 12) & 3) as u8,
        assume_valid: flags & 0x8000 != 0,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Builds a repository with C git and reads its index in each version.
    #[test]
    fn reads_what_c_git_writes_in_v2_v3_v4_and_writes_v2_it_reads() {
        if std::env::var_os("SLUICE_SKIP_SYSTEM_TESTS").is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("HOME", dir.path())
                .output()
                .expect("git is needed for this test");
            assert!(out.status.success(), "{args:?}: {out:?}");
            out.stdout
        };
        git(&["init", "-q", "."]);
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/file"), "x").unwrap();
        std::fs::write(dir.path().join("a/bb"), "y").unwrap();
        std::fs::write(dir.path().join("top"), "z").unwrap();
        git(&["add", "."]);
        let expected = String::from_utf8(git(&["ls-files", "-s"])).unwrap();
        for version in ["2", "3", "4"] {
            git(&["update-index", "--index-version", version]);
            let bytes = std::fs::read(dir.path().join(".git/index")).unwrap();
            let index = Index::decode(&bytes, HashKind::Sha1).unwrap();
            // C git writes version 3 only when an entry needs extended flags.
            let expect_version = if version == "3" { "2" } else { version };
            assert_eq!(index.version.to_string(), expect_version);
            let listed: String = index
                .entries
                .iter()
                .map(|e| {
                    let path = String::from_utf8_lossy(&e.path);
                    format!("{:o} {} {}\t{path}\n", e.mode, e.id, e.stage)
                })
                .collect();
            assert_eq!(listed, expected);
            // Written back as v2, C git reads the same entries and finds nothing changed.
            std::fs::write(
                dir.path().join(".git/index"),
                index.encode_v2(HashKind::Sha1).unwrap(),
            )
            .unwrap();
            assert_eq!(
                String::from_utf8(git(&["ls-files", "-s"])).unwrap(),
                expected
            );
            assert_eq!(git(&["diff-files", "--name-only"]), b"");
        }
        // An intent-to-add entry (extended flags) is refused, not dropped.
        git(&["update-index", "--index-version", "3"]);
        std::fs::write(dir.path().join("later"), "l").unwrap();
        git(&["add", "-N", "later"]);
        let bytes = std::fs::read(dir.path().join(".git/index")).unwrap();
        assert!(matches!(
            Index::decode(&bytes, HashKind::Sha1),
            Err(Error::Unsupported(_))
        ));
        let mut bytes = std::fs::read(dir.path().join(".git/index")).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(Index::decode(&bytes, HashKind::Sha1).is_err());
        assert!(Index::decode(b"DIRC", HashKind::Sha1).is_err());
    }
}
