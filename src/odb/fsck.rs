//! The object checks receive-pack runs before a push becomes visible, after git's fsck.c: the
//! error-level problems (those `receive.fsckObjects` refuses), named by git's message ids.
//! Tree entry names that could write into `.git` on checkout are the important ones: `.git` in any
//! case, with HFS+ ignorable code points, or with NTFS short names, trailing dots/spaces and
//! alternate data streams (the CVE-2014-9390 family), plus `.`, `..`, `/` and empty names, and
//! a `.gitmodules` that is a symlink.

use crate::hash::ObjectId;
use crate::odb::{Kind, TreeIter};

/// One fsck problem, with git's message id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{id}: {detail}")]
pub struct FsckError {
    /// git's message id (`hasDotgit`, `badTree`, ...).
    pub id: &'static str,
    /// What exactly.
    pub detail: String,
}

fn err(id: &'static str, detail: impl Into<String>) -> FsckError {
    FsckError {
        id,
        detail: detail.into(),
    }
}

/// Checks an object of `kind` with content `data`.
pub fn check_object(kind: Kind, data: &[u8]) -> Result<(), FsckError> {
    match kind {
        Kind::Commit => check_commit(data),
        Kind::Tag => check_tag(data),
        Kind::Tree => check_tree(data),
        Kind::Blob => Ok(()),
    }
}

/// The header part (before the first empty line) as lines; NUL there is an error.
fn header_lines<'a>(data: &'a [u8], what: &'static str) -> Result<Vec<&'a [u8]>, FsckError> {
    let end = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|p| p + 1)
        .or_else(|| data.ends_with(b"\n").then_some(data.len()))
        .ok_or_else(|| {
            err(
                "unterminatedHeader",
                format!("{what} header is not terminated"),
            )
        })?;
    let header = &data[..end];
    if header.contains(&0) {
        return Err(err("nulInHeader", format!("NUL byte in the {what} header")));
    }
    Ok(header
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect())
}

fn check_id(line: &[u8], prefix: &[u8], msg: &'static str) -> Result<(), FsckError> {
    let hex = line
        .strip_prefix(prefix)
        .ok_or_else(|| err(msg, String::from_utf8_lossy(line).into_owned()))?;
    if hex.len() != 40 || !hex.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(err(msg, String::from_utf8_lossy(line).into_owned()));
    }
    ObjectId::from_hex(hex)
        .map(|_| ())
        .map_err(|_| err(msg, "bad id"))
}

/// `Name <email> <seconds> <+-hhmm>`.
fn check_ident(ident: &[u8], who: &'static str) -> Result<(), FsckError> {
    let bad = |id: &'static str| err(id, format!("{who}: {}", String::from_utf8_lossy(ident)));
    let lt = ident
        .iter()
        .position(|&b| b == b'<')
        .ok_or_else(|| bad("missingEmail"))?;
    if lt == 0 || ident[lt - 1] != b' ' {
        return Err(bad("missingSpaceBeforeEmail"));
    }
    let gt = lt
        + ident[lt..]
            .iter()
            .position(|&b| b == b'>')
            .ok_or_else(|| bad("badEmail"))?;
    if ident[lt + 1..gt].contains(&b'<') || ident[..lt].contains(&b'>') {
        return Err(bad("badName"));
    }
    let rest = ident.get(gt + 1..).unwrap_or(b"");
    let rest = rest
        .strip_prefix(b" ")
        .ok_or_else(|| bad("missingSpaceBeforeDate"))?;
    let mut parts = rest.splitn(2, |&b| b == b' ');
    let date = parts.next().unwrap_or(b"");
    let tz = parts.next().ok_or_else(|| bad("badTimezone"))?;
    if date.is_empty()
        || !date.iter().all(u8::is_ascii_digit)
        || (date.len() > 1 && date[0] == b'0')
    {
        return Err(bad("badDate"));
    }
    if date.len() > 19 {
        return Err(bad("badDateOverflow"));
    }
    if tz.len() != 5 || !matches!(tz[0], b'+' | b'-') || !tz[1..].iter().all(u8::is_ascii_digit) {
        return Err(bad("badTimezone"));
    }
    Ok(())
}

fn check_commit(data: &[u8]) -> Result<(), FsckError> {
    let lines = header_lines(data, "commit")?;
    let mut it = lines.iter().peekable();
    let tree = it
        .next()
        .ok_or_else(|| err("missingTree", "no tree line"))?;
    check_id(tree, b"tree ", "badTreeSha1")?;
    while let Some(l) = it.peek() {
        if l.starts_with(b"parent ") {
            check_id(l, b"parent ", "badParentSha1")?;
            it.next();
        } else {
            break;
        }
    }
    let author = it
        .next()
        .ok_or_else(|| err("missingAuthor", "no author line"))?;
    let a = author
        .strip_prefix(b"author ")
        .ok_or_else(|| err("missingAuthor", "no author line"))?;
    check_ident(a, "author")?;
    let committer = it
        .next()
        .ok_or_else(|| err("missingCommitter", "no committer line"))?;
    let c = committer
        .strip_prefix(b"committer ")
        .ok_or_else(|| err("missingCommitter", "no committer line"))?;
    check_ident(c, "committer")
}

fn check_tag(data: &[u8]) -> Result<(), FsckError> {
    let lines = header_lines(data, "tag")?;
    let mut it = lines.iter();
    let object = it
        .next()
        .ok_or_else(|| err("missingObject", "no object line"))?;
    check_id(object, b"object ", "badObjectSha1")?;
    let ty = it
        .next()
        .ok_or_else(|| err("missingTypeEntry", "no type line"))?;
    let ty = ty
        .strip_prefix(b"type ")
        .ok_or_else(|| err("missingTypeEntry", "no type line"))?;
    Kind::from_name(ty).ok_or_else(|| err("badType", String::from_utf8_lossy(ty).into_owned()))?;
    let tag = it
        .next()
        .ok_or_else(|| err("missingTagEntry", "no tag line"))?;
    tag.strip_prefix(b"tag ")
        .ok_or_else(|| err("missingTagEntry", "no tag line"))?;
    if let Some(tagger) = it.next() {
        if let Some(t) = tagger.strip_prefix(b"tagger ") {
            check_ident(t, "tagger")?;
        }
    }
    Ok(())
}

/// HFS+ ignores these code points when comparing names.
fn is_hfs_ignorable(c: char) -> bool {
    matches!(c as u32, 0x200c..=0x200f | 0x202a..=0x202e | 0x206a..=0x206f | 0xfeff)
}

/// Would `name` be `.<want>` (e.g. `.git`) on a case-insensitive HFS+ volume?
fn is_hfs_dot(name: &[u8], want: &str) -> bool {
    if name.is_ascii() {
        // Every ignorable code point is non-ASCII: a plain comparison, without allocating.
        return dot_name_eq(name, want);
    }
    let Ok(s) = std::str::from_utf8(name) else {
        return false;
    };
    let folded: String = s.chars().filter(|c| !is_hfs_ignorable(*c)).collect();
    folded.eq_ignore_ascii_case(&format!(".{want}"))
}

/// Would `name` be `.<want>` on NTFS (trailing dots and spaces stripped, `:stream` suffix,
/// or the 8.3 short name `<first 6>~1`)?
fn is_ntfs_dot(name: &[u8], want: &str, short: &str) -> bool {
    let base_len = name.iter().position(|&b| b == b':').unwrap_or(name.len());
    let mut base = &name[..base_len];
    while let Some((&last, rest)) = base.split_last() {
        if last == b'.' || last == b' ' {
            base = rest;
        } else {
            break;
        }
    }
    dot_name_eq(base, want) || base.eq_ignore_ascii_case(short.as_bytes())
}

/// `name` is `.<want>`, ignoring ASCII case.
fn dot_name_eq(name: &[u8], want: &str) -> bool {
    name.len() == want.len() + 1
        && name[0] == b'.'
        && name[1..].eq_ignore_ascii_case(want.as_bytes())
}

fn is_dotgit(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b".git")
        || is_hfs_dot(name, "git")
        || is_ntfs_dot(name, "git", "git~1")
}

fn is_dotgitmodules(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b".gitmodules")
        || is_hfs_dot(name, "gitmodules")
        || is_ntfs_dot(name, "gitmodules", "gitmod~1")
}

/// A tree entry's sort key: its name, with a trailing `/` for a directory.
fn tree_key(name: &[u8], dir: bool) -> impl Iterator<Item = u8> + '_ {
    name.iter().copied().chain(dir.then_some(b'/'))
}

fn check_tree(data: &[u8]) -> Result<(), FsckError> {
    let mut prev: Option<(&[u8], bool)> = None;
    for entry in TreeIter::new(data) {
        let e = entry.map_err(|x| err("badTree", x.to_string()))?;
        let name = e.name;
        let shown = || String::from_utf8_lossy(name).into_owned();
        if name.is_empty() {
            return Err(err("emptyName", "empty entry name"));
        }
        if name.contains(&b'/') {
            return Err(err("fullPathname", shown()));
        }
        if name == b"." {
            return Err(err("hasDot", shown()));
        }
        if name == b".." {
            return Err(err("hasDotdot", shown()));
        }
        if is_dotgit(name) {
            return Err(err("hasDotgit", shown()));
        }
        if e.mode == 0o120000 && is_dotgitmodules(name) {
            return Err(err("gitmodulesSymlink", shown()));
        }
        let is_dir = e.mode == 0o040000;
        if let Some((p, p_dir)) = prev {
            if p == name {
                return Err(err("duplicateEntries", shown()));
            }
            // git's tree order: directories compare as if their name ended in '/'.
            if tree_key(p, p_dir).cmp(tree_key(name, is_dir)) == std::cmp::Ordering::Greater {
                return Err(err("treeNotSorted", shown()));
            }
        }
        prev = Some((name, is_dir));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        for (mode, name) in entries {
            v.extend_from_slice(mode.as_bytes());
            v.push(b' ');
            v.extend_from_slice(name);
            v.push(0);
            v.extend_from_slice(&[0x11; 20]);
        }
        v
    }

    #[test]
    fn tree_names() {
        assert!(check_tree(&tree(&[
            ("100644", b"a"),
            ("100644", b"b.c"),
            ("40000", b"b")
        ]))
        .is_ok());
        let bad: &[(&str, &[u8], &str)] = &[
            ("100644", b".git", "hasDotgit"),
            ("40000", b".GIT", "hasDotgit"),
            ("40000", b"git~1", "hasDotgit"),
            ("40000", b".git. . ", "hasDotgit"),
            ("40000", b".git::$INDEX_ALLOCATION", "hasDotgit"),
            ("40000", ".g\u{200c}it".as_bytes(), "hasDotgit"),
            ("100644", b"..", "hasDotdot"),
            ("100644", b".", "hasDot"),
            ("100644", b"a/b", "fullPathname"),
            ("120000", b".gitmodules", "gitmodulesSymlink"),
        ];
        for (mode, name, id) in bad {
            assert_eq!(
                check_tree(&tree(&[(mode, name)])).unwrap_err().id,
                *id,
                "{}",
                String::from_utf8_lossy(name)
            );
        }
        assert_eq!(
            check_tree(&tree(&[("100644", b"b"), ("100644", b"a")]))
                .unwrap_err()
                .id,
            "treeNotSorted"
        );
        assert_eq!(
            check_tree(&tree(&[("100644", b"a"), ("100644", b"a")]))
                .unwrap_err()
                .id,
            "duplicateEntries"
        );
        // "a.c" sorts before directory "a" (compared as "a/").
        assert!(check_tree(&tree(&[("100644", b"a.c"), ("40000", b"a")])).is_ok());
        assert!(check_tree(&tree(&[("100644", b"a"), ("100644", b"a.c")])).is_ok());
        assert!(check_tree(b"100644 a\0short").is_err());
    }

    #[test]
    fn commits_and_tags() {
        let t = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
        let good = format!("tree {t}\nauthor A <a@b> 1 +0000\ncommitter C <c@d> 2 -0130\n\nmsg\n");
        assert!(check_commit(good.as_bytes()).is_ok());
        for bad in [
            format!("author A <a@b> 1 +0000\n\nm"),
            format!("tree {t}\ncommitter C <c@d> 2 +0000\n\nm"),
            format!("tree {t}\nauthor A a@b 1 +0000\ncommitter C <c@d> 2 +0000\n\nm"),
            format!("tree {t}\nauthor A <a@b> x +0000\ncommitter C <c@d> 2 +0000\n\nm"),
            format!("tree {t}\nauthor A <a@b> 1 0000\ncommitter C <c@d> 2 +0000\n\nm"),
            format!("tree {t}\nauthor A <a@b> 1 +0000\ncommitter C <c@d> 2 +0000\0\n\nm"),
            format!(
                "tree {}\nauthor A <a@b> 1 +0000\ncommitter C <c@d> 2 +0000\n\nm",
                &t[..39]
            ),
        ] {
            assert!(check_commit(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let tag = format!("object {t}\ntype tree\ntag v1\ntagger T <t@t> 3 +0000\n\nmsg\n");
        assert!(check_tag(tag.as_bytes()).is_ok());
        assert!(check_tag(format!("object {t}\ntype bogus\ntag v1\n\nm").as_bytes()).is_err());
    }
}
