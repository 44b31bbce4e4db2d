//! Refs: validated names, the ref-store boundary ([`store::RefStore`]) and its stores, and the
//! resolution every store shares.
//!
//! ```text
//!  services ── Repository::for_each_ref / head / update_refs
//!                    │
//!  resolve  ── symbolic refs followed, tags peeled (needs an ObjectStore)
//!                    │
//!  RefStore ── read_raw / for_each_raw(prefix) / update(CAS, atomic)
//!     ├── files     loose ref files + packed-refs, lock-file transactions (C git's layout)
//!     ├── memory    a sorted map, for unit tests
//!     ├── reftable  the reftable/ stack of tables (C git's extensions.refStorage=reftable)
//!     └── (key-value store)
//! ```
//!
//! This file holds the on-disk formats of the files store: loose ref files and `packed-refs`.

pub mod files;
mod files_reflog;
pub mod memory;
mod name_conflict;
mod packed_find;
pub mod packed_write;
pub mod reflog;
/// Ref names ([`crate::ref_name`], kept below both `refs` and `odb::fsck`).
pub use crate::ref_name as name;
pub mod reftable;
pub mod resolve;
pub mod store;
pub mod transaction;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;

use crate::hash::{HashKind, ObjectId};
use crate::odb::store::Error;

pub use packed_find::find_packed;
pub use store::{Head, Ref, RefStore, RefUpdate};

/// The name prefixes of the refs each worktree keeps for itself (C git's `is_per_worktree_ref`):
/// a linked worktree's are in its own git directory (`worktrees/<id>/refs/bisect/…`, or its own
/// reftable stack), the main worktree's in the common directory.
pub const PER_WORKTREE_PREFIXES: [&str; 3] = ["refs/bisect/", "refs/rewritten/", "refs/worktree/"];

/// Whether ref `name` belongs to one worktree ([`PER_WORKTREE_PREFIXES`]); `HEAD`, also kept per
/// worktree, is not a name under `refs/` and is routed by the stores themselves.
pub fn is_per_worktree(name: &str) -> bool {
    PER_WORKTREE_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A ref value as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawRef {
    /// An object id (with its peeled value when `packed-refs` recorded one).
    Direct {
        /// The id.
        id: ObjectId,
        /// From a `^<id>` line in a fully-peeled `packed-refs`: `Some(Some(p))` peeled value,
        /// `Some(None)` known not to be a tag, `None` unknown.
        peeled: Option<Option<ObjectId>>,
    },
    /// `ref: <target>`.
    Symbolic(String),
}

/// Parses the content of a loose ref file (`text`) named `name`, ids of hash `kind`.
pub fn parse_loose(kind: HashKind, name: &str, text: &[u8]) -> Result<RawRef, Error> {
    let line = text.strip_suffix(b"\n").unwrap_or(text);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if let Some(target) = line.strip_prefix(b"ref:") {
        let target = std::str::from_utf8(target)
            .map_err(|_| Error::corrupt(name, "symbolic ref target is not UTF-8"))?
            .trim();
        if target.is_empty() {
            return Err(Error::corrupt(name, "empty symbolic ref"));
        }
        return Ok(RawRef::Symbolic(target.to_string()));
    }
    let hex = line
        .get(..kind.len_in_hex())
        .ok_or_else(|| Error::corrupt(name, "too short for an object id"))?;
    let id = ObjectId::from_hex(hex).map_err(|e| Error::corrupt(name, e.to_string()))?;
    Ok(RawRef::Direct { id, peeled: None })
}

/// Every ref: `packed-refs` overlaid with the loose refs (a loose ref wins), sorted by name.
pub fn read_all(
    kind: HashKind,
    packed_text: &[u8],
    dir: &Path,
) -> Result<Vec<(String, RawRef)>, Error> {
    let mut out = Vec::new();
    for_each_ref(kind, packed_text, dir, dir, "refs/", &mut |name, value| {
        out.push((name.to_string(), value));
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(out)
}

/// The value of `name` in a list sorted by name ([`read_all`]).
pub fn lookup<'a>(sorted: &'a [(String, RawRef)], name: &str) -> Option<&'a RawRef> {
    sorted
        .binary_search_by(|(n, _)| n.as_str().cmp(name))
        .ok()
        .map(|i| &sorted[i].1)
}

/// The directory (relative to the git directory, without its trailing `/`) under which every
/// ref starting with `prefix` lies: the prefix up to its last `/` when that is a plain path
/// under `refs/`, else `refs` (a prefix from a client never leads the walk anywhere else).
fn loose_root(prefix: &str) -> &str {
    let dir = prefix.rfind('/').map_or("", |i| &prefix[..i]);
    let plain = dir
        .split('/')
        .all(|c| !c.is_empty() && c != "." && c != ".." && !c.ends_with(".lock"));
    if plain && (dir == "refs" || dir.starts_with("refs/")) {
        dir
    } else {
        "refs"
    }
}

/// Reads every loose ref under `<dir>/refs` whose name starts with `prefix` into `out` (name,
/// value), unsorted; only the directory the prefix names is walked. Unreadable files are
/// skipped with a log line, as git skips broken refs in advertisements.
pub fn read_loose(
    kind: HashKind,
    dir: &Path,
    prefix: &str,
    out: &mut Vec<(String, RawRef)>,
) -> Result<(), Error> {
    let root = loose_root(prefix);
    let mut stack = vec![(root.to_string(), dir.join(root))];
    while let Some((dir_name, path)) = stack.pop() {
        let entries = match std::fs::read_dir(&path) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(path.display().to_string(), e)),
        };
        for entry in entries.flatten() {
            let Some(fname) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if fname.ends_with(".lock") || fname.starts_with('.') {
                continue;
            }
            let name = format!("{dir_name}/{fname}");
            let ft = match entry.file_type() {
                Ok(t) => t,
                Err(_) => continue,
            };
            if ft.is_dir() {
                // Only directories that can hold a name with the prefix (`refs/heads/m` skips
                // `refs/heads/topic/`).
                let below = name.starts_with(prefix);
                let above = prefix
                    .strip_prefix(name.as_str())
                    .is_some_and(|rest| rest.starts_with('/'));
                if below || above {
                    stack.push((name, entry.path()));
                }
            } else if !name.starts_with(prefix) {
                // Outside the prefix (in the prefix's own directory).
            } else if let Ok(text) = std::fs::read(entry.path()) {
                match parse_loose(kind, &name, &text) {
                    Ok(v) => out.push((name, v)),
                    Err(e) => tracing::warn!(refname = %name, error = %e, "skipping broken ref"),
                }
            }
        }
    }
    Ok(())
}

/// Reads the loose refs starting with `prefix` as C git's files backend lists them for the
/// worktree whose git directory is `git_dir` (`common_dir` holding the shared refs): the
/// per-worktree refs ([`PER_WORKTREE_PREFIXES`]) from `git_dir`, every other ref from
/// `common_dir`. When they are one directory (the main worktree) this is [`read_loose`].
pub fn read_loose_for_worktree(
    kind: HashKind,
    git_dir: &Path,
    common_dir: &Path,
    prefix: &str,
    out: &mut Vec<(String, RawRef)>,
) -> Result<(), Error> {
    read_loose(kind, common_dir, prefix, out)?;
    if git_dir == common_dir {
        return Ok(());
    }
    // The main worktree's own refs are not this worktree's.
    out.retain(|(name, _)| !is_per_worktree(name));
    for own in PER_WORKTREE_PREFIXES {
        if prefix.starts_with(own) {
            read_loose(kind, git_dir, prefix, out)?;
        } else if own.starts_with(prefix) {
            read_loose(kind, git_dir, own, out)?;
        }
    }
    Ok(())
}

/// Parses `packed-refs` content `text` (ids of hash `kind`) into `out`.
pub fn parse_packed(
    kind: HashKind,
    text: &[u8],
    out: &mut BTreeMap<String, RawRef>,
) -> Result<(), Error> {
    out.extend(parse_packed_sorted(kind, text)?);
    Ok(())
}

/// Parses `packed-refs` content `text` into a list sorted by name (git writes it sorted; an
/// unsorted file is sorted here, the last of duplicate names winning).
pub fn parse_packed_sorted(kind: HashKind, text: &[u8]) -> Result<Vec<(String, RawRef)>, Error> {
    let lines = PackedLines::new(kind, text);
    let mut entries: Vec<(String, RawRef)> = Vec::with_capacity(lines.estimate());
    for e in lines {
        let (name, value) = e?;
        entries.push((name.to_string(), value));
    }
    if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
        // Stable: among equal names the later line stays last, and is kept.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut deduped: Vec<(String, RawRef)> = Vec::with_capacity(entries.len());
        for e in entries {
            match deduped.last_mut() {
                Some(last) if last.0 == e.0 => *last = e,
                _ => deduped.push(e),
            }
        }
        entries = deduped;
    }
    Ok(entries)
}

/// The refs of a `packed-refs` file, in file order, parsed as they are read (names borrowed
/// from the text). Peeled (`^`) values are trusted only as git trusts them: all of them with
/// the `fully-peeled` trait, tags' with `peeled`.
pub struct PackedLines<'a> {
    lines: std::iter::Peekable<Lines<'a>>,
    /// The hash of the ids (their hex width).
    kind: HashKind,
    fully_peeled: bool,
    peeled_tags: bool,
    /// The header's `sorted` trait: git promises names in byte order, no duplicates.
    sorted: bool,
    /// The whole file.
    text: &'a [u8],
    /// Lines skipped by [`PackedLines::seek_to_prefix`] (counted only to name a corrupt line).
    skipped: &'a [u8],
}

/// The lines of a text with their 0-based numbers (without the newline). Found eight bytes at a
/// time: a byte-by-byte split was a sixth of an ls-remote of 10,000 refs.
struct Lines<'a> {
    rest: &'a [u8],
    number: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match find_newline(self.rest) {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => (self.rest, &self.rest[self.rest.len()..]),
        };
        self.rest = rest;
        self.number += 1;
        Some((self.number - 1, line))
    }
}

/// Position of the first `\n` in `text`, testing a word at a time (a byte equals `\n` when
/// the word XOR `0x0a0a..` has a zero byte).
fn find_newline(text: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = text.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ (ONES * u64::from(b'\n'));
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            break;
        }
        at += 8;
    }
    text[at..].iter().position(|&b| b == b'\n').map(|i| at + i)
}

impl<'a> PackedLines<'a> {
    /// Starts reading `text` (ids of hash `kind`), taking its traits from the header line.
    pub fn new(kind: HashKind, text: &'a [u8]) -> Self {
        let mut p = PackedLines {
            kind,
            lines: Lines {
                rest: text,
                number: 0,
            }
            .peekable(),
            fully_peeled: false,
            peeled_tags: false,
            sorted: false,
            text,
            skipped: &[],
        };
        if let Some((_, first)) = p.lines.peek() {
            if let Some(traits) = first.strip_prefix(b"# pack-refs with:") {
                let traits = String::from_utf8_lossy(traits);
                let has = |t: &str| traits.split_whitespace().any(|x| x == t);
                p.fully_peeled = has("fully-peeled");
                p.peeled_tags = has("peeled");
                p.sorted = has("sorted");
            }
        }
        p
    }

    /// Whether the file promises sorted, unique names.
    pub fn sorted(&self) -> bool {
        self.sorted
    }

    /// A guess at the number of refs, for preallocation (a line is an id, a space and a name).
    fn estimate(&self) -> usize {
        self.text.len() / (self.kind.len_in_hex() + 10) + 1
    }

    /// Skips, in a sorted file, every record whose name sorts below `prefix`, found by
    /// bisection (C git's `find_reference_location` for an iteration by prefix): reading the
    /// `refs/tags/` of a file with 5,000 `refs/pull/*` refs before them parsed every one of
    /// those. Does nothing in an unsorted file, or before any line has been read.
    pub fn seek_to_prefix(&mut self, prefix: &str) {
        if !self.sorted || !self.skipped.is_empty() {
            return;
        }
        let at = packed_find::lower_bound(self.text, self.kind.len_in_hex(), prefix.as_bytes());
        let (skipped, rest) = self.text.split_at(at.min(self.text.len()));
        self.skipped = skipped;
        self.lines = Lines { rest, number: 0 }.peekable();
    }
}

impl<'a> Iterator for PackedLines<'a> {
    type Item = Result<(&'a str, RawRef), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let skipped = self.skipped;
        let bad = |i: usize, what: &str| {
            let before = skipped.iter().filter(|&&b| b == b'\n').count();
            Error::corrupt(
                format!("packed-refs line {}", before + i + 1),
                what.to_string(),
            )
        };
        loop {
            let (i, line) = self.lines.next()?;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            if line.starts_with(b"^") {
                return Some(Err(bad(i, "peeled line without a ref")));
            }
            let width = self.kind.len_in_hex();
            let Some(hex) = line.get(..width) else {
                return Some(Err(bad(i, "too short")));
            };
            let Ok(id) = ObjectId::from_hex(hex) else {
                return Some(Err(bad(i, "bad object id")));
            };
            let Some(name) = line
                .get(width + 1..)
                .filter(|_| line.get(width) == Some(&b' '))
                .and_then(|n| std::str::from_utf8(n).ok())
                .filter(|n| !n.is_empty())
            else {
                return Some(Err(bad(i, "bad ref name")));
            };
            let trusted = self.fully_peeled || (self.peeled_tags && name.starts_with("refs/tags/"));
            let mut peeled = trusted.then_some(None);
            if let Some((j, next)) = self.lines.peek() {
                if let Some(hex) = next.strip_prefix(b"^") {
                    let hex = hex.strip_suffix(b"\r").unwrap_or(hex);
                    let j = *j;
                    let Ok(p) = ObjectId::from_hex(hex) else {
                        return Some(Err(bad(j, "bad peeled id")));
                    };
                    peeled = Some(Some(p));
                    self.lines.next();
                }
            }
            return Some(Ok((name, RawRef::Direct { id, peeled })));
        }
    }
}

/// Calls `f` with every ref whose name starts with `prefix`: `packed-refs` (`packed_text`)
/// overlaid with the loose refs of the worktree whose git directory is `git_dir` and whose
/// shared refs are under `common_dir` ([`read_loose_for_worktree`]; a loose ref wins; packed
/// refs are shared by every worktree, as in C git), in name order, streaming: with a
/// sorted `packed-refs` no list of its refs is built (10,000 refs: most of an ls-remote's time
/// and memory went into one), and its scan stops after the last name with the prefix. Stops
/// when `f` returns `Break`.
pub fn for_each_ref(
    kind: HashKind,
    packed_text: &[u8],
    git_dir: &Path,
    common_dir: &Path,
    prefix: &str,
    f: &mut store::RawVisitor<'_>,
) -> Result<(), Error> {
    let mut loose = Vec::new();
    read_loose_for_worktree(kind, git_dir, common_dir, prefix, &mut loose)?;
    loose.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut loose = loose.into_iter().peekable();
    let mut stopped = false;
    let mut merged = |name: &str, value: RawRef| -> Result<ControlFlow<()>, Error> {
        while let Some((n, v)) = loose.next_if(|l| l.0.as_str() < name) {
            if f(&n, v)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        match loose.next_if(|l| l.0 == name) {
            Some((n, v)) => f(&n, v),
            None => f(name, value),
        }
    };
    let mut lines = PackedLines::new(kind, packed_text);
    if lines.sorted() {
        lines.seek_to_prefix(prefix);
        for e in lines {
            let (name, value) = e?;
            if !name.starts_with(prefix) {
                if name > prefix {
                    break;
                }
                continue;
            }
            if merged(name, value)?.is_break() {
                stopped = true;
                break;
            }
        }
    } else {
        for (name, value) in parse_packed_sorted(kind, packed_text)? {
            if name.starts_with(prefix) && merged(&name, value)?.is_break() {
                stopped = true;
                break;
            }
        }
    }
    drop(merged);
    if !stopped {
        for (n, v) in loose {
            if f(&n, v)?.is_break() {
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";
    const B: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

    #[test]
    fn packed() {
        let text = format!("# pack-refs with: peeled fully-peeled sorted \n{A} refs/heads/m\n{A} refs/tags/t\n^{B}\n");
        let mut m = BTreeMap::new();
        parse_packed(HashKind::Sha1, text.as_bytes(), &mut m).unwrap();
        let b = ObjectId::from_hex(B.as_bytes()).unwrap();
        assert!(matches!(
            &m["refs/heads/m"],
            RawRef::Direct {
                peeled: Some(None),
                ..
            }
        ));
        assert!(
            matches!(&m["refs/tags/t"], RawRef::Direct { peeled: Some(Some(p)), .. } if *p == b)
        );
        let mut m = BTreeMap::new();
        parse_packed(
            HashKind::Sha1,
            format!("{A} refs/heads/m\n").as_bytes(),
            &mut m,
        )
        .unwrap();
        assert!(matches!(
            &m["refs/heads/m"],
            RawRef::Direct { peeled: None, .. }
        ));
        for bad in [
            format!("^{A}\n"),
            "xyz refs/x\n".into(),
            format!("{A}refs/x\n"),
            format!("{A} \n"),
        ] {
            assert!(
                parse_packed(HashKind::Sha1, bad.as_bytes(), &mut BTreeMap::new()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn newlines_are_found_like_a_byte_search() {
        let text: Vec<u8> = (0..300u32)
            .map(|i| {
                if i % 37 == 36 || i % 53 == 0 {
                    b'\n'
                } else {
                    b'a' + (i % 26) as u8
                }
            })
            .collect();
        for start in 0..text.len() {
            assert_eq!(
                find_newline(&text[start..]),
                text[start..].iter().position(|&b| b == b'\n'),
                "from {start}"
            );
        }
        assert_eq!(find_newline(b""), None);
        assert_eq!(find_newline(&[0x8a; 20]), None);
        let lines: Vec<(usize, &[u8])> = Lines {
            rest: b"a\n\nb",
            number: 0,
        }
        .collect();
        assert_eq!(lines, vec![(0, &b"a"[..]), (1, &b""[..]), (2, &b"b"[..])]);
    }

    #[test]
    fn packed_and_loose_merge_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let heads = dir.path().join("refs/heads");
        std::fs::create_dir_all(&heads).unwrap();
        std::fs::write(heads.join("b"), format!("{B}\n")).unwrap();
        std::fs::write(heads.join("d"), "ref: refs/heads/a\n").unwrap();
        // Unsorted, with a duplicate: sorted, the last line wins.
        let packed =
            format!("{A} refs/heads/c\n{A} refs/heads/b\n{A} refs/heads/a\n{B} refs/heads/c\n");
        let names = |all: &[(String, RawRef)]| -> Vec<String> {
            all.iter().map(|(n, _)| n.clone()).collect()
        };
        let all = read_all(HashKind::Sha1, packed.as_bytes(), dir.path()).unwrap();
        assert_eq!(
            names(&all),
            [
                "refs/heads/a",
                "refs/heads/b",
                "refs/heads/c",
                "refs/heads/d"
            ]
        );
        let b = ObjectId::from_hex(B.as_bytes()).unwrap();
        assert!(
            matches!(lookup(&all, "refs/heads/b"), Some(RawRef::Direct { id, .. }) if *id == b)
        );
        assert!(
            matches!(lookup(&all, "refs/heads/c"), Some(RawRef::Direct { id, .. }) if *id == b)
        );
        assert_eq!(
            lookup(&all, "refs/heads/d"),
            Some(&RawRef::Symbolic("refs/heads/a".into()))
        );
        assert_eq!(lookup(&all, "refs/heads/e"), None);
        assert_eq!(read_all(HashKind::Sha1, b"", dir.path()).unwrap().len(), 2);
        // The `sorted` trait: streamed as they come, loose refs merged in, peeled lines kept.
        let packed = format!(
            "# pack-refs with: peeled fully-peeled sorted \n{A} refs/heads/a\n{A} refs/heads/c\n{A} refs/tags/t\n^{B}\n"
        );
        let all = read_all(HashKind::Sha1, packed.as_bytes(), dir.path()).unwrap();
        assert_eq!(
            names(&all),
            [
                "refs/heads/a",
                "refs/heads/b",
                "refs/heads/c",
                "refs/heads/d",
                "refs/tags/t"
            ]
        );
        assert!(
            matches!(lookup(&all, "refs/tags/t"), Some(RawRef::Direct { peeled: Some(Some(p)), .. }) if *p == b)
        );
        for bad in [
            format!("{A} refs/heads/a\n^{B}\n^{B}\n"),
            format!("{A} refs/heads/a\n^zz\n"),
        ] {
            assert!(
                read_all(HashKind::Sha1, bad.as_bytes(), dir.path()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn loose() {
        assert_eq!(
            parse_loose(HashKind::Sha1, "HEAD", b"ref: refs/heads/x\n").unwrap(),
            RawRef::Symbolic("refs/heads/x".into())
        );
        assert!(matches!(
            parse_loose(HashKind::Sha1, "r", format!("{A}\n").as_bytes()).unwrap(),
            RawRef::Direct { .. }
        ));
        assert!(parse_loose(HashKind::Sha1, "r", b"abc\n").is_err());
        assert!(parse_loose(HashKind::Sha1, "r", b"ref: \n").is_err());
    }
}
