//! Borrowed, non-panicking views of commit, tree and tag content.
//!
//! These are the parsers the object walk uses (a commit's tree and parents, a tree's entries, a
//! tag's target). The strict checks that a push needs (`fsck`) build on them elsewhere.

use crate::hash::ObjectId;
use crate::odb::Kind;

/// Why an object's content could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A required header line is missing or malformed.
    #[error("{kind} object: bad or missing '{field}' header")]
    Header {
        /// Object kind being parsed.
        kind: Kind,
        /// The header that broke.
        field: &'static str,
    },
    /// A tree entry is malformed.
    #[error("tree object: malformed entry at byte {offset}: {what}")]
    TreeEntry {
        /// Where the entry starts.
        offset: usize,
        /// What is wrong with it.
        what: &'static str,
    },
}

/// The parts of a commit the server needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRef {
    /// The root tree.
    pub tree: ObjectId,
    /// Parents, in order.
    pub parents: Vec<ObjectId>,
    /// Committer timestamp (seconds since the epoch), 0 if it cannot be read.
    pub commit_time: i64,
}

fn parse_header_id(line: &[u8], name: &[u8]) -> Option<ObjectId> {
    let rest = line.strip_prefix(name)?.strip_prefix(b" ")?;
    ObjectId::from_hex(rest).ok()
}

/// Parses the committer timestamp out of an ident line's tail (`Name <mail> 1234567890 +0000`).
fn ident_time(ident: &[u8]) -> i64 {
    let end = match ident.iter().rposition(|&b| b == b'>') {
        Some(p) => p + 1,
        None => return 0,
    };
    let tail = ident.get(end..).unwrap_or(b"");
    let mut parts = tail.split(|&b| b == b' ').filter(|p| !p.is_empty());
    parts
        .next()
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(0)
}

/// How long the head of commit content `data` is: the bytes through its committer line, or
/// through the blank line that ends the header when no committer line comes first; `None`
/// while `data` (the start of a commit being inflated) does not reach that far. Nothing after
/// it counts for [`CommitRef::parse`], so a walk inflates a commit only this far: the message
/// and signature are most of a commit's bytes (tokio's: 790 on average, the head about 250).
pub fn commit_head_len(data: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(nl) = data.get(at..)?.iter().position(|&b| b == b'\n') {
        let line = &data[at..at + nl];
        at += nl + 1;
        if line.is_empty() || line.starts_with(b"committer ") {
            return Some(at);
        }
    }
    None
}

impl CommitRef {
    /// Parses commit content `data`, or only its head ([`commit_head_len`]): nothing after the
    /// committer line is read, so both give the same answer. As git's `parse_commit_buffer`,
    /// a `parent` line after the committer line does not count.
    pub fn parse(data: &[u8]) -> Result<CommitRef, Error> {
        let mut lines = data.split(|&b| b == b'\n');
        let first = lines.next().unwrap_or(b"");
        let tree = parse_header_id(first, b"tree").ok_or(Error::Header {
            kind: Kind::Commit,
            field: "tree",
        })?;
        let mut parents = Vec::new();
        let mut commit_time = 0;
        for line in lines {
            if line.is_empty() {
                break;
            }
            if let Some(rest) = line.strip_prefix(b"parent ") {
                let id = ObjectId::from_hex(rest).map_err(|_| Error::Header {
                    kind: Kind::Commit,
                    field: "parent",
                })?;
                parents.push(id);
            } else if let Some(rest) = line.strip_prefix(b"committer ") {
                commit_time = ident_time(rest);
                break;
            }
        }
        Ok(CommitRef {
            tree,
            parents,
            commit_time,
        })
    }
}

/// The parts of an annotated tag the server needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRef {
    /// The tagged object.
    pub object: ObjectId,
    /// Its kind, as the tag claims.
    pub target_kind: Kind,
}

impl TagRef {
    /// Parses tag content `data`.
    pub fn parse(data: &[u8]) -> Result<TagRef, Error> {
        let mut lines = data.split(|&b| b == b'\n');
        let object =
            parse_header_id(lines.next().unwrap_or(b""), b"object").ok_or(Error::Header {
                kind: Kind::Tag,
                field: "object",
            })?;
        let target_kind = lines
            .next()
            .and_then(|l| l.strip_prefix(b"type "))
            .and_then(Kind::from_name)
            .ok_or(Error::Header {
                kind: Kind::Tag,
                field: "type",
            })?;
        Ok(TagRef {
            object,
            target_kind,
        })
    }
}

/// One entry of a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeEntry<'a> {
    /// The octal mode as parsed (e.g. `0o100644`, `0o40000`, `0o160000`).
    pub mode: u32,
    /// The entry name (no `/`, no NUL).
    pub name: &'a [u8],
    /// The object it names.
    pub id: ObjectId,
}

impl TreeEntry<'_> {
    /// The kind of object the mode says this entry names; `None` for gitlinks (submodules), whose
    /// commits live in another repository.
    pub fn kind(&self) -> Option<Kind> {
        match self.mode & 0o170000 {
            0o040000 => Some(Kind::Tree),
            0o160000 => None,
            _ => Some(Kind::Blob),
        }
    }
}

/// Iterator over the entries of tree content; yields an error once and then stops.
pub struct TreeIter<'a> {
    data: &'a [u8],
    offset: usize,
    failed: bool,
    /// Width of each entry's raw id (the repository's hash: trees do not say).
    id_len: usize,
}

impl<'a> TreeIter<'a> {
    /// Iterates over tree content `data` of a repository hashing with `hash`.
    pub fn new(data: &'a [u8], hash: crate::hash::HashKind) -> Self {
        TreeIter {
            data,
            offset: 0,
            failed: false,
            id_len: hash.len_in_bytes(),
        }
    }

    /// Iterates over the entries of tree content `data` from `offset`, which must be where an
    /// entry starts (an offset [`Self::offset`] gave for the same bytes).
    pub fn starting_at(data: &'a [u8], offset: usize, hash: crate::hash::HashKind) -> Self {
        TreeIter {
            offset,
            ..TreeIter::new(data, hash)
        }
    }

    /// Where the next entry starts in the content (its length once all are read).
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl<'a> Iterator for TreeIter<'a> {
    type Item = Result<TreeEntry<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = self.data.get(self.offset..)?;
        if rest.is_empty() {
            return None;
        }
        let start = self.offset;
        let fail = |what| Error::TreeEntry {
            offset: start,
            what,
        };
        let res = (|| {
            let sp = rest
                .iter()
                .position(|&b| b == b' ')
                .ok_or(fail("no space after mode"))?;
            let mode_bytes = &rest[..sp];
            if mode_bytes.is_empty() || mode_bytes.len() > 7 {
                return Err(fail("bad mode"));
            }
            let mut mode = 0u32;
            for &c in mode_bytes {
                if !(b'0'..=b'7').contains(&c) {
                    return Err(fail("mode is not octal"));
                }
                mode = mode * 8 + u32::from(c - b'0');
            }
            let after = rest.get(sp + 1..).ok_or(fail("truncated"))?;
            let nul = after
                .iter()
                .position(|&b| b == 0)
                .ok_or(fail("no NUL after name"))?;
            let name = &after[..nul];
            let idlen = self.id_len;
            let raw = after
                .get(nul + 1..nul + 1 + idlen)
                .ok_or(fail("truncated object id"))?;
            let id = ObjectId::from_bytes(raw).map_err(|_| fail("bad object id"))?;
            Ok((TreeEntry { mode, name, id }, sp + 1 + nul + 1 + idlen))
        })();
        match res {
            Ok((entry, used)) => {
                self.offset += used;
                Some(Ok(entry))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_parse() {
        let c = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nparent e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\nauthor A <a@b> 1 +0000\ncommitter C <c@d> 1700000000 +0100\n\nmsg\nparent x\n";
        let p = CommitRef::parse(c).unwrap();
        assert_eq!(p.parents.len(), 1);
        assert_eq!(p.commit_time, 1700000000);
        assert!(CommitRef::parse(b"garbage").is_err());
    }

    #[test]
    fn commit_head_parses_as_the_whole() {
        let signed = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
            parent e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\n\
            author A <a@b> 1 +0000\ncommitter C <c@d> 1700000000 +0100\n\
            gpgsig -----BEGIN PGP SIGNATURE-----\n \n -----END PGP SIGNATURE-----\n\
            parent 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nmsg\n";
        let head = commit_head_len(signed).unwrap();
        assert!(signed[..head].ends_with(b"+0100\n"));
        // A parent after the committer line does not count, read whole or not (as in git).
        assert_eq!(CommitRef::parse(&signed[..head]), CommitRef::parse(signed));
        assert_eq!(CommitRef::parse(signed).unwrap().parents.len(), 1);
        // Cut inside the committer line: not far enough yet.
        assert_eq!(commit_head_len(&signed[..head - 1]), None);
        // No committer line: the header's end; a "committer" line in the message is not one.
        let bare = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\ncommitter x\n";
        assert_eq!(commit_head_len(bare), Some(47));
        assert_eq!(CommitRef::parse(&bare[..47]), CommitRef::parse(bare));
        assert_eq!(CommitRef::parse(bare).unwrap().commit_time, 0);
    }

    #[test]
    fn tree_iter() {
        let mut t = Vec::new();
        t.extend_from_slice(b"100644 a\0");
        t.extend_from_slice(&[1u8; 20]);
        t.extend_from_slice(b"40000 d\0");
        t.extend_from_slice(&[2u8; 20]);
        let v: Vec<_> = TreeIter::new(&t, crate::hash::HashKind::Sha1)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].kind(), Some(Kind::Tree));
        t.truncate(t.len() - 3);
        let v: Vec<_> = TreeIter::new(&t, crate::hash::HashKind::Sha1).collect();
        assert!(v[1].is_err());
    }
}
