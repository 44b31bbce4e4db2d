//! The version of each directory walked last, so that a tree walk looks only at the entries
//! that changed since.
//!
//! A clone walks every tree of the history, and almost every entry of a tree is the same as in
//! the version of that directory walked just before: git.git's 168,000 trees hold 59 million
//! entries for 420,000 distinct objects, and looking each entry up in the walk's sets was half
//! of a clone's CPU time. An entry equal to an entry of a tree walked in full was decided then
//! (sent, had or filtered out; the decision depends only on its kind, depth and id, all the
//! same), so it needs no look-up again. Runs of entries equal to the earlier version's are
//! passed by comparing bytes (see [`Walked::equal_run`]); only the entries that differ are read.
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

/// In the `origin` of [`Bases::for_new_entries_traced`]: an entry the base did not have.
pub(crate) const NEW: u32 = u32::MAX;

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
                // The same name with other content (a changed entry): no later entry here
                // can be that one (names are unique), so the next comparison starts after it.
                Some(n) if n == name => {
                    *cursor += 1;
                    return false;
                }
                _ => return false,
            }
        }
        false
    }

    /// Where the base's entry `i` ends.
    fn end(&self, i: usize) -> usize {
        self.starts
            .get(i + 1)
            .map_or(self.data.len(), |&s| s as usize)
    }

    /// How far from entry `cursor` on the base's entries equal the entries `rest` starts
    /// with: the index of the first base entry that is not a whole entry of the bytes both
    /// share (`cursor` when none is). One comparison of bytes, at memory speed, instead of a
    /// parse of each entry: two versions of a directory differ in a few entries, scattered
    /// (git.git's root tree between a branch and the next: 45% of all entries lay between
    /// the first and the last change). Bytes equal from two entry starts on parse alike, so
    /// each base entry within them is an entry here too, at the same distance.
    fn equal_run(&self, cursor: usize, rest: &[u8]) -> usize {
        let Some(&bat) = self.starts.get(cursor) else {
            return cursor;
        };
        let Some(tail) = self.data.get(bat as usize..) else {
            return cursor;
        };
        let end = bat as usize + common_prefix(tail, rest);
        if end >= self.data.len() {
            return self.starts.len();
        }
        // Entries up to the last start at or before `end` lie within (the one starting there
        // or later does not). Found by stepping, not by a binary search over all the starts:
        // most runs between two changes are a few entries, and a long run's starts are
        // copied one by one next anyway.
        let mut last = cursor;
        while self
            .starts
            .get(last + 1)
            .is_some_and(|&s| s as usize <= end)
        {
            last += 1;
        }
        last
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
        visit: impl FnMut(Result<TreeEntry<'_>, ParseError>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.walk_new_entries(place, data, hash, tag, None, visit)
    }

    /// [`Self::for_new_entries_tagged`], telling in `origin` where each entry of `data` came
    /// from, in tree order: the index of the equal entry in the base tagged [`Self::tag_at`]
    /// had before the call, or [`NEW`] for an entry passed to `visit`. A caller that keeps
    /// something per entry of each base copies it for the entries it was not shown.
    pub(crate) fn for_new_entries_traced<E>(
        &mut self,
        place: Place,
        data: Vec<u8>,
        hash: HashKind,
        tag: u32,
        origin: &mut Vec<u32>,
        visit: impl FnMut(Result<TreeEntry<'_>, ParseError>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.walk_new_entries(place, data, hash, tag, Some(origin), visit)
    }

    /// Renames the base at `place` `tag`: its caller learnt only after the walk what the tree
    /// stands for.
    pub(crate) fn retag(&mut self, place: Place, tag: u32) {
        if let Some(b) = self.map.get_mut(&place) {
            b.tag = tag;
        }
    }

    fn walk_new_entries<E>(
        &mut self,
        place: Place,
        data: Vec<u8>,
        hash: HashKind,
        tag: u32,
        mut origin: Option<&mut Vec<u32>>,
        mut visit: impl FnMut(Result<TreeEntry<'_>, ParseError>) -> Result<(), E>,
    ) -> Result<(), E> {
        let len = data.len();
        if u32::try_from(len).is_err() {
            // Offsets would not fit: walk it whole, keep no base (nor the last one: a caller
            // retagging the place would name it).
            self.forget(place);
            return TreeIter::new(&data, hash).try_for_each(|e| {
                if let Some(o) = origin.as_deref_mut() {
                    o.push(NEW);
                }
                visit(e)
            });
        }
        let base = self.map.get(&place);
        let mut starts: Vec<u32> = Vec::with_capacity(base.map_or(0, |b| b.starts.len()) + 8);
        // `at`: where the next entry starts in `data`; `cursor`: the first base entry not yet
        // passed.
        let (mut at, mut cursor) = (0usize, 0usize);
        while at < len {
            if let Some(b) = base {
                let run = b.equal_run(cursor, &data[at..]);
                if run > cursor {
                    // Entries `cursor..run` of the base are byte for byte the next ones here.
                    let bat = b.starts[cursor] as usize;
                    starts.extend(
                        b.starts[cursor..run]
                            .iter()
                            .map(|&s| (s as usize - bat + at) as u32),
                    );
                    if let Some(o) = origin.as_deref_mut() {
                        o.extend(cursor as u32..run as u32);
                    }
                    at += b.end(run - 1) - bat;
                    cursor = run;
                    continue;
                }
            }
            let mut it = TreeIter::starting_at(&data, at, hash);
            let entry = it.next();
            let next = it.offset();
            let Some(entry) = entry else { break };
            if entry.is_err() {
                return visit(entry);
            }
            starts.push(at as u32);
            // An entry the base has too, further on (entries removed before it), is skipped;
            // the base's entries are passed in order.
            let skip = match (base, &entry) {
                (Some(b), Ok(e)) => b.skip_to(&mut cursor, e.name, &data[at..next]),
                _ => false,
            };
            at = next;
            if let Some(o) = origin.as_deref_mut() {
                // A match moved the cursor just past the base's entry.
                o.push(if skip { cursor as u32 - 1 } else { NEW });
            }
            if !skip {
                visit(entry)?;
            }
        }
        debug_assert!(starts.last().is_none_or(|&s| (s as usize) < len));
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

/// How many bytes `a` and `b` start with alike. A clone compares every tree it walks with
/// its base (2.6 GB for git.git's blob-less clone), mostly in short stretches between two
/// changed entries: the first bytes go eight at a time, and only a longer stretch goes on in
/// blocks, each one `memcmp` call.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 64;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let head = n.min(BLOCK);
    if let Some(d) = first_difference(&a[..head], &b[..head]) {
        return d;
    }
    let mut i = head;
    while i + BLOCK <= n && a[i..i + BLOCK] == b[i..i + BLOCK] {
        i += BLOCK;
    }
    i + first_difference(&a[i..], &b[i..]).unwrap_or(n - i)
}

/// Where equally long `a` and `b` first differ, eight bytes at a time; `None` if nowhere.
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    const WORD: usize = 8;
    let mut i = 0;
    for (x, y) in a.chunks_exact(WORD).zip(b.chunks_exact(WORD)) {
        if let (Ok(x), Ok(y)) = (<[u8; WORD]>::try_from(x), <[u8; WORD]>::try_from(y)) {
            let diff = u64::from_le_bytes(x) ^ u64::from_le_bytes(y);
            if diff != 0 {
                // Little-endian: the lowest set bit lies in the first byte that differs.
                return Some(i + (diff.trailing_zeros() / 8) as usize);
            }
        }
        i += WORD;
    }
    a[i..]
        .iter()
        .zip(&b[i..])
        .position(|(x, y)| x != y)
        .map(|p| i + p)
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
    fn visited_are_exactly_the_entries_the_base_lacks() {
        // Pseudo-random versions of a 300-entry directory, each against the one before:
        // entries changed, removed and added anywhere, in runs and alone.
        let mut seed = 0x2545_f491_u64;
        let mut rand = move || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as u32
        };
        let names: Vec<String> = (0..300).map(|i| format!("f{i:03}")).collect();
        let mut b = Bases::default();
        let mut prev: Vec<(&str, u8)> = Vec::new();
        for round in 0..40 {
            let mut next: Vec<(&str, u8)> = Vec::new();
            for n in &names {
                if rand() % 10 == 0 {
                    continue;
                }
                let old = prev.iter().find(|(p, _)| p == n).map(|(_, id)| *id);
                let id = match old {
                    Some(id) if rand() % 8 != 0 => id,
                    _ => (rand() % 200) as u8,
                };
                next.push((n.as_str(), id));
            }
            let want: Vec<String> = next
                .iter()
                .filter(|e| !prev.contains(e))
                .map(|(n, _)| n.to_string())
                .collect();
            assert_eq!(
                new_names(&mut b, (1, 1), tree(&next)),
                want,
                "round {round}"
            );
            prev = next;
        }
    }

    #[test]
    fn common_head() {
        let a: Vec<u8> = (0..100u8).collect();
        let mut b = a.clone();
        b[40] = 0xff;
        assert_eq!(common_prefix(&a, &b), 40);
        assert_eq!(common_prefix(&a, &a[..70]), 70);
        // Every place a difference can fall: in a block, in a word, in the tail, or none.
        let long: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        for at in 0..long.len() {
            let mut other = long.clone();
            other[at] ^= 0x10;
            assert_eq!(common_prefix(&long, &other), at);
            assert_eq!(common_prefix(&long[..at], &long), at);
        }
    }
}
