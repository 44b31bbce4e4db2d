//! One ref looked up in `packed-refs` without parsing the others: resolving HEAD's target in a
//! file of 10,000 refs was a tenth of an `ls-remote`'s instructions when it scanned every line.
//! A file with the `sorted` trait is binary-searched over byte offsets, as C git's
//! `find_reference_location` does; any other file is scanned.

use super::{Lines, PackedLines, RawRef};
use crate::hash::{HashKind, ObjectId};

/// The packed ref `name` from packed-refs `text` (ids of hash `kind`). Peeled values are not
/// returned (`peeled: None`).
pub fn find_packed(kind: HashKind, text: &[u8], name: &str) -> Option<RawRef> {
    let width = kind.len_in_hex();
    let line = if PackedLines::new(kind, text).sorted() {
        search_sorted(text, width, name.as_bytes())
    } else {
        Lines {
            rest: text,
            number: 0,
        }
        .map(|(_, l)| l)
        .find(|l| record_name(l, width) == Some(name.as_bytes()))
    }?;
    let id = ObjectId::from_hex(line.get(..width)?).ok()?;
    Some(RawRef::Direct { id, peeled: None })
}

/// The name a record line `line` (`<hex of width> <name>`) carries; `None` for a line of
/// another shape (a comment, a peeled line, a corrupt one).
fn record_name(line: &[u8], width: usize) -> Option<&[u8]> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.get(width)
        .filter(|&&b| b == b' ')
        .and_then(|_| line.get(width + 1..))
}

/// The record line named `name` in the sorted `text`: the first record not below it
/// ([`lower_bound`]), if that is the one.
fn search_sorted<'a>(text: &'a [u8], width: usize, name: &[u8]) -> Option<&'a [u8]> {
    let start = lower_bound(text, width, name);
    let line = text.get(start..next_line(text, start))?;
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    (record_name(line, width)? == name).then_some(line)
}

/// The offset of the first record of the sorted `text` (ids `width` hex digits wide) whose
/// name is not below `prefix` (the end of `text` when there is none), found by bisecting byte
/// offsets: each probe backs up to the start of its line, and past a `^` (peeled) line to the
/// record it belongs to. Where a probe meets a line of no record's shape the search stops at
/// the records known to be below `prefix`, so a reader scanning on from there still meets, and
/// reports, the corrupt line.
pub(super) fn lower_bound(text: &[u8], width: usize, prefix: &[u8]) -> usize {
    let mut lo = if text.starts_with(b"#") {
        next_line(text, 0)
    } else {
        0
    };
    let mut hi = text.len();
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = record_start(text, lo, mid);
        let end = next_line(text, start);
        let Some(line) = text.get(start..end) else {
            return lo;
        };
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let Some(name) = record_name(line, width) else {
            return lo;
        };
        if name < prefix {
            lo = if text.get(end) == Some(&b'^') {
                next_line(text, end)
            } else {
                end
            };
        } else {
            hi = start;
        }
    }
    lo
}

/// The offset just past the newline ending the line that holds offset `at` (the end of `text`
/// when that line has none).
fn next_line(text: &[u8], at: usize) -> usize {
    text.get(at..)
        .and_then(super::find_newline)
        .map_or(text.len(), |i| at + i + 1)
}

/// The start of the record holding offset `at`, not before `lo`: the start of `at`'s line, or
/// of the line before when `at`'s line is a peeled (`^`) one.
fn record_start(text: &[u8], lo: usize, at: usize) -> usize {
    let line_start = |at: usize| {
        text.get(lo..at)
            .and_then(|before| before.iter().rposition(|&b| b == b'\n'))
            .map_or(lo, |i| lo + i + 1)
    };
    let start = line_start(at);
    if text.get(start) == Some(&b'^') && start > lo {
        line_start(start - 1)
    } else {
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";
    const B: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

    fn id(r: Option<RawRef>) -> Option<String> {
        match r? {
            RawRef::Direct { id, .. } => Some(id.to_string()),
            RawRef::Symbolic(_) => None,
        }
    }

    #[test]
    fn every_ref_of_a_sorted_file_is_found_by_bisection_and_no_other() {
        let mut text = String::from("# pack-refs with: peeled fully-peeled sorted \n");
        let names: Vec<String> = (0..200).map(|i| format!("refs/tags/t{i:03}")).collect();
        for (i, n) in names.iter().enumerate() {
            // Some records have a peeled line, of the other id.
            let (v, p) = if i % 3 == 0 { (B, A) } else { (A, B) };
            text.push_str(&format!("{v} {n}\n"));
            if i % 2 == 0 {
                text.push_str(&format!("^{p}\n"));
            }
        }
        for (i, n) in names.iter().enumerate() {
            let want = if i % 3 == 0 { B } else { A };
            assert_eq!(
                id(find_packed(HashKind::Sha1, text.as_bytes(), n)).as_deref(),
                Some(want),
                "{n}"
            );
        }
        for absent in [
            "refs/tags/t",
            "refs/tags/t0000",
            "refs/a",
            "refs/z",
            "",
            "^",
        ] {
            assert_eq!(find_packed(HashKind::Sha1, text.as_bytes(), absent), None);
        }
        // Without a final newline, and without a header.
        let short = format!("{A} refs/heads/a\n{B} refs/heads/b");
        let sorted = format!("# pack-refs with: sorted\n{short}");
        for t in [&short, &sorted] {
            assert_eq!(
                id(find_packed(HashKind::Sha1, t.as_bytes(), "refs/heads/b")).as_deref(),
                Some(B)
            );
        }
    }

    #[test]
    fn the_lower_bound_of_a_prefix_is_the_first_record_not_below_it() {
        let mut text = String::from("# pack-refs with: peeled fully-peeled sorted \n");
        let mut starts = Vec::new();
        let names: Vec<String> = (0..120)
            .map(|i| match i % 3 {
                0 => format!("refs/heads/b{i:03}"),
                1 => format!("refs/pull/{i:03}/head"),
                _ => format!("refs/tags/v{i:03}"),
            })
            .collect();
        let mut names = names;
        names.sort();
        for (i, n) in names.iter().enumerate() {
            starts.push((n.clone(), text.len()));
            text.push_str(&format!("{A} {n}\n"));
            if i % 4 == 1 {
                text.push_str(&format!("^{B}\n"));
            }
        }
        for prefix in [
            "",
            "refs/",
            "refs/heads/",
            "refs/heads/b050",
            "refs/heads/b0505",
            "refs/pull/",
            "refs/refs/heads/main",
            "refs/tags/",
            "refs/tags/v119",
            "refs/zzz",
            "a",
        ] {
            let want = starts
                .iter()
                .find(|(n, _)| n.as_str() >= prefix)
                .map_or(text.len(), |(_, at)| *at);
            assert_eq!(
                lower_bound(text.as_bytes(), 40, prefix.as_bytes()),
                want,
                "{prefix}"
            );
        }
    }

    #[test]
    fn an_unsorted_file_is_scanned() {
        let text = format!("{A} refs/heads/z\n{B} refs/heads/a\n^{A}\n");
        assert_eq!(
            id(find_packed(HashKind::Sha1, text.as_bytes(), "refs/heads/a")).as_deref(),
            Some(B)
        );
        assert_eq!(
            find_packed(HashKind::Sha1, text.as_bytes(), "refs/heads/b"),
            None
        );
    }

    #[test]
    fn corrupt_files_give_none_not_a_panic() {
        for text in [
            "# pack-refs with: sorted\n^\n^\n".to_string(),
            "# pack-refs with: sorted\nshort\n".into(),
            format!("# pack-refs with: sorted\n{A}refs/x\n"),
            "# pack-refs with: sorted".into(),
            format!("# pack-refs with: sorted\nzz{} refs/x\n", &A[2..]),
        ] {
            let _ = find_packed(HashKind::Sha1, text.as_bytes(), "refs/x");
        }
        assert_eq!(find_packed(HashKind::Sha1, b"", "refs/x"), None);
    }
}
