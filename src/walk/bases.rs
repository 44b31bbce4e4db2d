//! The version of each directory walked last, so that a tree walk looks only at the entries
//! that changed since.
//!
//! A clone walks every tree of the history, and almost every entry of a tree is the same as in
//! the version of that directory walked just before: git.git's 168,000 trees hold 59 million
//! entries for 420,000 distinct objects, and looking each entry up in the walk's sets was half
//! of a clone's CPU time. An entry equal to an entry of a tree walked in full was decided then
//! (sent, had or filtered out; the decision depends only on its kind, depth and id, all the
//! same), so it needs no look-up again. Two versions of a directory share a head and a tail of
//! bytes; only the entries between them are read.
//!
//! The earlier version is found by its place: depth and [`super::name_hash`] of its path. Two
//! directories at one depth whose paths hash alike share a place; that only makes a worse
//! base, never a wrong one, since any tree walked in full will do. A tree's subtrees are walked
//! before any tree outside it at its depth (depth first), so a base's subtrees are done too.

use std::collections::HashMap;

use crate::hash::HashKind;
use crate::odb::{Error as ParseError, TreeEntry, TreeIter};

/// Where a tree sits: its depth and the name hash of its path.
pub(crate) type Place = (u64, u32);

/// Bytes of bases kept at most per walk; beyond, all are dropped (a base only saves work).
const MAX_BYTES: usize = 32 << 20;

/// A tree walked in full: its content, where each of its entries starts, and the tag its
/// walker gave it (see [`Bases::for_new_entries_tagged`]).
struct Walked {
    data: Vec<u8>,
    starts: Vec<u32>,
    tag: u32,
}

impl Walked {
    /// Whether the base has the entry `raw` (named `name`), looking from its entry `cursor`
    /// on and moving `cursor` past the entries named before `name` and past the match.
    /// Entries are sorted by name (near enough: a directory sorts as if its name ended in
    /// `/`), so a miss only ever costs a look-up, never a wrong answer.
    fn skip_to(&self, cursor: &mut usize, name: &[u8], raw: &[u8]) -> bool {
        while let Some(&s) = self.starts.get(*cursor) {
            let end = self
                .starts
                .get(*cursor + 1)
                .map_or(self.data.len(), |&e| e as usize);
            let Some(base_raw) = self.data.get(s as usize..end) else {
                return false;
            };
            if base_raw == raw {
                *cursor += 1;
                return true;
            }
            // The name runs from after the mode's space to the NUL before the id.
            let base_name = base_raw
                .iter()
                .position(|&c| c == b' ')
                .and_then(|sp| base_raw.get(sp + 1..))
                .and_then(|r| r.iter().position(|&c| c == 0).and_then(|nul| r.get(..nul)));
            match base_name {
                Some(n) if n < name => *cursor += 1,
                _ => return false,
            }
        }
        false
    }

    fn bytes(&self) -> usize {
        self.data.len() + 4 * self.starts.len()
    }
}

/// The last tree walked at each place (see the module documentation).
#[derive(Default)]
pub(crate) struct Bases {
    map: HashMap<Place, Walked>,
    bytes: usize,
}

impl Bases {
    /// Calls `visit` with each entry of `data` (a tree at `place`, walked now in full) that is
    /// not an entry of the tree walked last at `place`, in tree order (a parse error ends the
    /// calls); `data` then becomes the base at `place`.
    pub(crate) fn for_new_entries<E>(
        &mut self,
        place: Place,
        data: Vec<u8>,
        hash: HashKind,
        visit: impl FnMut(Result<TreeEntry<'_>, ParseError>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.for_new_entries_tagged(place, data, hash, 0, visit)
    }

    /// The tag of the base at `place`, if there is one.
    pub(crate) fn tag_at(&self, place: Place) -> Option<u32> {
        self.map.get(&place).map(|b| b.tag)
    }

    /// Drops the base at `place`: a walker for which it no longer stands for entries decided
    /// (the bitmap writer, whose closures start empty) must not skip what it holds.
    pub(crate) fn forget(&mut self, place: Place) {
        if let Some(old) = self.map.remove(&place) {
            self.bytes -= old.bytes();
        }
    }

    /// [`Self::for_new_entries`], naming `data` as a base with `tag` ([`Self::tag_at`]).
    pub(crate) fn for_new_entries_tagged<E>(
        &mut self,
        place: Place,
        data: Vec<u8>,
        hash: HashKind,
        tag: u32,
        mut visit: impl FnMut(Result<TreeEntry<'_>, ParseError>) -> Result<(), E>,
    ) -> Result<(), E> {
        let len = data.len();
        let Some(len32) = u32::try_from(len).ok() else {
            // Offsets would not fit: walk it whole, keep no base.
            return TreeIter::new(&data, hash).try_for_each(visit);
        };
        let base = self.map.get(&place);
        let (mut starts, start, suffix, mut cursor) = match base {
            Some(b) => {
                let prefix = common_prefix(&b.data, &data);
                let suffix = common_suffix(&b.data, &data);
                // Entries ending inside the common head are the base's, at the same offsets.
                let later = b.starts.get(1..).unwrap_or_default();
                let head = later.partition_point(|&s| s as usize <= prefix)
                    + usize::from(b.data.len() <= prefix && !b.starts.is_empty());
                let head = head.min(b.starts.len());
                let start = b.starts.get(head).map_or(b.data.len(), |&s| s as usize);
                (b.starts[..head].to_vec(), start.min(len), suffix, head)
            }
            None => (Vec::new(), 0, 0, 0),
        };
        let mut it = TreeIter::starting_at(&data, start, hash);
        loop {
            let at = it.offset();
            if at >= len {
                break;
            }
            // From an entry start whose remaining bytes end the base too, at one of its entry
            // starts, every entry is the base's.
            if let Some(b) = base.filter(|_| len - at <= suffix) {
                let at_base = (b.data.len() - (len - at)) as u32;
                if let Ok(j) = b.starts.binary_search(&at_base) {
                    let shift = |s: &u32| (*s as usize + len - b.data.len()) as u32;
                    starts.extend(b.starts[j..].iter().map(shift));
                    break;
                }
            }
            starts.push(at as u32);
            let Some(entry) = it.next() else { break };
            // Between head and tail, an entry the base has too (its bytes equal to those of
            // one of the base's entries) is skipped; the base's entries are passed in order.
            if let (Some(b), Ok(e)) = (base, &entry) {
                if b.skip_to(&mut cursor, e.name, &data[at..it.offset()]) {
                    continue;
                }
            }
            visit(entry)?;
        }
        debug_assert!(starts.last().is_none_or(|&s| s < len32));
        let walked = Walked { data, starts, tag };
        self.forget(place);
        if self.bytes + walked.bytes() > MAX_BYTES {
            self.map.clear();
            self.bytes = 0;
        }
        self.bytes += walked.bytes();
        self.map.insert(place, walked);
        Ok(())
    }
}

/// How many bytes `a` and `b` start with alike.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 32;
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + CHUNK <= n && a[i..i + CHUNK] == b[i..i + CHUNK] {
        i += CHUNK;
    }
    i + a[i..n]
        .iter()
        .zip(&b[i..n])
        .take_while(|(x, y)| x == y)
        .count()
}

/// How many bytes `a` and `b` end with alike.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 32;
    let n = a.len().min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    let mut i = 0;
    while i + CHUNK <= n && a[n - i - CHUNK..n - i] == b[n - i - CHUNK..n - i] {
        i += CHUNK;
    }
    i + a[..n - i]
        .iter()
        .rev()
        .zip(b[..n - i].iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(entries: &[(&str, u8)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, id) in entries {
            out.extend_from_slice(format!("100644 {name}\0").as_bytes());
            out.extend_from_slice(&[*id; 20]);
        }
        out
    }

    /// The names `data` yields at `place` after the trees before it.
    fn new_names(bases: &mut Bases, place: Place, data: Vec<u8>) -> Vec<String> {
        let mut names = Vec::new();
        bases
            .for_new_entries(place, data, HashKind::Sha1, |e| {
                names.push(String::from_utf8(e.unwrap().name.to_vec()).unwrap());
                Ok::<_, ()>(())
            })
            .unwrap();
        names
    }

    #[test]
    fn only_changed_entries_are_visited() {
        let mut b = Bases::default();
        let v1 = tree(&[("a", 1), ("b", 2), ("c", 3), ("d", 4)]);
        assert_eq!(new_names(&mut b, (1, 7), v1), ["a", "b", "c", "d"]);
        // b changed, e added at the end.
        let v2 = tree(&[("a", 1), ("b", 9), ("c", 3), ("d", 4), ("e", 5)]);
        assert_eq!(new_names(&mut b, (1, 7), v2), ["b", "e"]);
        // Against v2 now: c removed, one entry changed in place at the end.
        let v3 = tree(&[("a", 1), ("b", 9), ("d", 4), ("e", 6)]);
        assert_eq!(new_names(&mut b, (1, 7), v3), ["e"]);
        // Another place has no base: everything.
        let v4 = tree(&[("a", 1)]);
        assert_eq!(new_names(&mut b, (2, 7), v4), ["a"]);
        // Emptied, then filled again.
        assert!(new_names(&mut b, (1, 7), Vec::new()).is_empty());
        let v5 = tree(&[("a", 1), ("x", 2)]);
        assert_eq!(new_names(&mut b, (1, 7), v5), ["a", "x"]);
    }

    #[test]
    fn scattered_changes_skip_what_lies_between() {
        let mut b = Bases::default();
        let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let v1: Vec<(&str, u8)> = names.iter().map(|n| (*n, 1)).collect();
        new_names(&mut b, (3, 3), tree(&v1));
        // b and g changed, "d2" added, "f" removed: only those changed or added are seen.
        let v2 = tree(&[
            ("a", 1),
            ("b", 2),
            ("c", 1),
            ("d", 1),
            ("d2", 1),
            ("e", 1),
            ("g", 2),
            ("h", 1),
        ]);
        assert_eq!(new_names(&mut b, (3, 3), v2), ["b", "d2", "g"]);
    }

    #[test]
    fn same_bytes_at_other_boundaries_are_not_taken_as_entries() {
        // The new tree ends with the bytes that end the base, "100 z\0" + id, but in the base
        // they are the inside of the entry "q100 z": the new entry "z" must still be visited.
        let mut long = tree(&[("a", 1)]);
        long.extend_from_slice(b"100644 q100 z\0");
        long.extend_from_slice(&[3; 20]);
        let mut short = tree(&[("a", 1)]);
        short.extend_from_slice(b"100 z\0");
        short.extend_from_slice(&[3; 20]);
        let mut b = Bases::default();
        assert_eq!(new_names(&mut b, (1, 1), long.clone()), ["a", "q100 z"]);
        assert_eq!(new_names(&mut b, (1, 1), short), ["z"]);
        assert_eq!(new_names(&mut b, (1, 1), long), ["q100 z"]);
    }

    #[test]
    fn common_head_and_tail() {
        let a: Vec<u8> = (0..100u8).collect();
        let mut b = a.clone();
        b[40] = 0xff;
        assert_eq!(common_prefix(&a, &b), 40);
        assert_eq!(common_suffix(&a, &b), 59);
        assert_eq!(common_prefix(&a, &a[..70]), 70);
        assert_eq!(common_suffix(&a[..70], &a), 0);
        assert_eq!(common_suffix(&a[30..], &a), 70);
    }
}
