//! Refs on disk: validated names, loose ref files, `packed-refs`, and lock-file transactions.
//!
//! Reading gives raw values ([`RawRef`]); resolving symbolic refs and peeling tags is the
//! repository's job, since peeling needs objects.

pub mod name;
pub mod reftable;
pub mod transaction;

use std::collections::BTreeMap;
use std::path::Path;

use crate::backend::Error;
use crate::hash::ObjectId;

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

/// Parses the content of a loose ref file (`text`) named `name`.
pub fn parse_loose(name: &str, text: &[u8]) -> Result<RawRef, Error> {
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
        .get(..40)
        .ok_or_else(|| Error::corrupt(name, "too short for an object id"))?;
    let id = ObjectId::from_hex(hex).map_err(|e| Error::corrupt(name, e.to_string()))?;
    Ok(RawRef::Direct { id, peeled: None })
}

/// Every ref: `packed-refs` overlaid with the loose refs (a loose ref wins), sorted by name.
pub fn read_all(packed_text: &[u8], dir: &Path) -> Result<Vec<(String, RawRef)>, Error> {
    let mut out = Vec::new();
    for_each_ref(packed_text, dir, &mut |name, value| {
        out.push((name.to_string(), value));
        Ok(())
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

/// Reads every loose ref under `<dir>/refs` into `out` (name, value), unsorted; unreadable
/// files are skipped with a log line, as git skips broken refs in advertisements.
pub fn read_loose(dir: &Path, out: &mut Vec<(String, RawRef)>) -> Result<(), Error> {
    let mut stack = vec![("refs".to_string(), dir.join("refs"))];
    while let Some((prefix, path)) = stack.pop() {
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
            let name = format!("{prefix}/{fname}");
            let ft = match entry.file_type() {
                Ok(t) => t,
                Err(_) => continue,
            };
            if ft.is_dir() {
                stack.push((name, entry.path()));
            } else if let Ok(text) = std::fs::read(entry.path()) {
                match parse_loose(&name, &text) {
                    Ok(v) => out.push((name, v)),
                    Err(e) => tracing::warn!(refname = %name, error = %e, "skipping broken ref"),
                }
            }
        }
    }
    Ok(())
}

/// Parses `packed-refs` content `text` into `out`.
pub fn parse_packed(text: &[u8], out: &mut BTreeMap<String, RawRef>) -> Result<(), Error> {
    out.extend(parse_packed_sorted(text)?);
    Ok(())
}

/// Parses `packed-refs` content `text` into a list sorted by name (git writes it sorted; an
/// unsorted file is sorted here, the last of duplicate names winning).
pub fn parse_packed_sorted(text: &[u8]) -> Result<Vec<(String, RawRef)>, Error> {
    let lines = PackedLines::new(text);
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
    fully_peeled: bool,
    peeled_tags: bool,
    /// The header's `sorted` trait: git promises names in byte order, no duplicates.
    sorted: bool,
    len: usize,
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
    /// Starts reading `text`, taking its traits from the header line.
    pub fn new(text: &'a [u8]) -> Self {
        let mut p = PackedLines {
            lines: Lines {
                rest: text,
                number: 0,
            }
            .peekable(),
            fully_peeled: false,
            peeled_tags: false,
            sorted: false,
            len: text.len(),
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

    /// A guess at the number of refs, for preallocation (a line is at least 42 bytes).
    fn estimate(&self) -> usize {
        self.len / 50 + 1
    }
}

impl<'a> Iterator for PackedLines<'a> {
    type Item = Result<(&'a str, RawRef), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let bad = |i: usize, what: &str| {
            Error::corrupt(format!("packed-refs line {}", i + 1), what.to_string())
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
            let Some(hex) = line.get(..40) else {
                return Some(Err(bad(i, "too short")));
            };
            let Ok(id) = ObjectId::from_hex(hex) else {
                return Some(Err(bad(i, "bad object id")));
            };
            let Some(name) = line
                .get(41..)
                .filter(|_| line.get(40) == Some(&b' '))
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

/// Calls `f` with every ref: `packed-refs` (`packed_text`) overlaid with the loose refs under
/// `dir` (a loose ref wins), in name order, streaming: with a sorted `packed-refs` no list of
/// its refs is built (10,000 refs: most of an ls-remote's time and memory went into one).
pub fn for_each_ref(
    packed_text: &[u8],
    dir: &Path,
    f: &mut dyn FnMut(&str, RawRef) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut loose = Vec::new();
    read_loose(dir, &mut loose)?;
    loose.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut loose = loose.into_iter().peekable();
    let mut emit = |name: &str, value: RawRef| -> Result<(), Error> {
        while let Some((n, v)) = loose.next_if(|l| l.0.as_str() < name) {
            f(&n, v)?;
        }
        match loose.next_if(|l| l.0 == name) {
            Some((n, v)) => f(&n, v),
            None => f(name, value),
        }
    };
    let lines = PackedLines::new(packed_text);
    if lines.sorted() {
        for e in lines {
            let (name, value) = e?;
            emit(name, value)?;
        }
    } else {
        for (name, value) in parse_packed_sorted(packed_text)? {
            emit(&name, value)?;
        }
    }
    drop(emit);
    for (n, v) in loose {
        f(&n, v)?;
    }
    Ok(())
}

/// The packed ref `name` from packed-refs `text`, found by scanning lines (no map is built):
/// resolving one ref, such as HEAD's target, need not parse every ref. Peeled values are not
/// returned (`peeled: None`).
pub fn find_packed(text: &[u8], name: &str) -> Option<RawRef> {
    Lines {
        rest: text,
        number: 0,
    }
    .map(|(_, l)| l.strip_suffix(b"\r").unwrap_or(l))
    .find(|l| l.len() == 41 + name.len() && l[40] == b' ' && &l[41..] == name.as_bytes())
    .and_then(|l| ObjectId::from_hex(&l[..40]).ok())
    .map(|id| RawRef::Direct { id, peeled: None })
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
        parse_packed(text.as_bytes(), &mut m).unwrap();
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
        parse_packed(format!("{A} refs/heads/m\n").as_bytes(), &mut m).unwrap();
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
                parse_packed(bad.as_bytes(), &mut BTreeMap::new()).is_err(),
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
        let all = read_all(packed.as_bytes(), dir.path()).unwrap();
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
        assert_eq!(read_all(b"", dir.path()).unwrap().len(), 2);
        // The `sorted` trait: streamed as they come, loose refs merged in, peeled lines kept.
        let packed = format!(
            "# pack-refs with: peeled fully-peeled sorted \n{A} refs/heads/a\n{A} refs/heads/c\n{A} refs/tags/t\n^{B}\n"
        );
        let all = read_all(packed.as_bytes(), dir.path()).unwrap();
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
            assert!(read_all(bad.as_bytes(), dir.path()).is_err(), "{bad}");
        }
    }

    #[test]
    fn loose() {
        assert_eq!(
            parse_loose("HEAD", b"ref: refs/heads/x\n").unwrap(),
            RawRef::Symbolic("refs/heads/x".into())
        );
        assert!(matches!(
            parse_loose("r", format!("{A}\n").as_bytes()).unwrap(),
            RawRef::Direct { .. }
        ));
        assert!(parse_loose("r", b"abc\n").is_err());
        assert!(parse_loose("r", b"ref: \n").is_err());
    }
}
