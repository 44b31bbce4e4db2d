//! Which tree entry names a checkout would treat as `.git`, `.gitmodules`, `.gitattributes`,
//! `.gitignore` or `.mailmap`: on case-insensitive HFS+ (which also ignores some Unicode code
//! points) and on NTFS (trailing dots and spaces, `:stream` suffixes, 8.3 short names such as
//! `GITMOD~1` or the hashed `gi7eba~4`). After C git's `is_hfs_dot*` (utf8.c) and `is_ntfs_dot*`
//! (path.c); names are raw tree entry bytes.

/// Code points HFS+ drops when comparing names (utf8.c `next_hfs_char`).
fn is_hfs_ignorable(c: char) -> bool {
    matches!(c as u32, 0x200c..=0x200f | 0x202a..=0x202e | 0x206a..=0x206f | 0xfeff)
}

/// Would HFS+ see `name` as `.` + `needle` (ASCII, lower case), possibly followed by `/`?
/// git reads a malformed UTF-8 sequence as the end of the name: before the needle is complete
/// that is "no match", right after it a match, and so it is here.
fn is_hfs_dot(name: &[u8], needle: &str) -> bool {
    // Every ignorable code point is beyond ASCII, so a name starting with an ASCII byte other
    // than `.` cannot match. Nearly every entry of every pushed tree ends here, before the
    // UTF-8 validation of the whole name (3-5 % of a full push's CPU on git.git).
    if name.first().is_some_and(|&b| b.is_ascii() && b != b'.') {
        return false;
    }
    let valid = match std::str::from_utf8(name) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(name.get(..e.valid_up_to()).unwrap_or(b"")).unwrap_or(""),
    };
    let mut chars = valid.chars().filter(|c| !is_hfs_ignorable(*c));
    if chars.next() != Some('.') {
        return false;
    }
    for want in needle.chars() {
        match chars.next() {
            Some(c) if c.is_ascii() && c.to_ascii_lowercase() == want => {}
            _ => return false,
        }
    }
    match chars.next() {
        None | Some('/') => true,
        Some(_) => false,
    }
}

/// True from `rest` on only spaces and dots follow, up to the end or a `:` (NTFS drops them).
fn only_spaces_and_periods(rest: &[u8]) -> bool {
    for &c in rest {
        if c == b':' {
            return true;
        }
        if c != b' ' && c != b'.' {
            return false;
        }
    }
    true
}

/// Would NTFS see `name` as `.` + `dotted` (lower case), or as its 8.3 short name: the first six
/// characters and `~1`..`~4`, or the hashed `short_prefix` (six characters) and `~1`..`~9`
/// (path.c `is_ntfs_dot_generic`).
fn is_ntfs_dot(name: &[u8], dotted: &str, short_prefix: &str) -> bool {
    let d = dotted.as_bytes();
    if let Some(rest) = name.strip_prefix(b".") {
        if rest.len() >= d.len() && rest[..d.len()].eq_ignore_ascii_case(d) {
            return only_spaces_and_periods(&rest[d.len()..]);
        }
    }
    if let (Some(head), Some(b'~'), Some(n)) = (name.get(..6), name.get(6), name.get(7)) {
        if d.get(..6).is_some_and(|p| head.eq_ignore_ascii_case(p)) && (b'1'..=b'4').contains(n) {
            return only_spaces_and_periods(&name[8..]);
        }
    }
    ntfs_hashed_short_name(name, short_prefix.as_bytes())
}

/// The hashed short name form: up to six characters of `prefix`, `~`, a digit 1-9, then digits,
/// eight characters in all (path.c's loop over `i < 8`).
fn ntfs_hashed_short_name(name: &[u8], prefix: &[u8]) -> bool {
    let mut saw_tilde = false;
    let mut i = 0;
    while i < 8 {
        let Some(&c) = name.get(i) else {
            return false;
        };
        if saw_tilde {
            if !c.is_ascii_digit() {
                return false;
            }
        } else if c == b'~' {
            i += 1;
            match name.get(i) {
                Some(b'1'..=b'9') => saw_tilde = true,
                _ => return false,
            }
        } else if i >= 6 || c & 0x80 != 0 || prefix.get(i) != Some(&c.to_ascii_lowercase()) {
            return false;
        }
        i += 1;
    }
    only_spaces_and_periods(name.get(8..).unwrap_or(b""))
}

/// `.git` on NTFS: `.git` or `git~1` in any case, then only dots and spaces up to the end, a
/// `:` or a path separator (path.c `is_ntfs_dotgit`).
pub fn is_ntfs_dotgit(name: &[u8]) -> bool {
    let rest = if let Some(r) = name.strip_prefix(b".") {
        match r.get(..3) {
            Some(g) if g.eq_ignore_ascii_case(b"git") => &r[3..],
            _ => return false,
        }
    } else {
        match name.get(..5) {
            Some(g) if g[..3].eq_ignore_ascii_case(b"git") && &g[3..] == b"~1" => &name[5..],
            _ => return false,
        }
    };
    for &c in rest {
        if matches!(c, b'/' | b'\\' | b':') {
            return true;
        }
        if c != b'.' && c != b' ' {
            return false;
        }
    }
    true
}

/// `.git` on HFS+.
pub fn is_hfs_dotgit(name: &[u8]) -> bool {
    is_hfs_dot(name, "git")
}

/// `.gitmodules` on HFS+ or NTFS.
pub fn is_dotgitmodules(name: &[u8]) -> bool {
    is_hfs_dot(name, "gitmodules") || is_ntfs_dotgitmodules(name)
}

/// `.gitmodules` on NTFS.
pub fn is_ntfs_dotgitmodules(name: &[u8]) -> bool {
    is_ntfs_dot(name, "gitmodules", "gi7eba")
}

/// `.gitattributes` on HFS+ or NTFS.
pub fn is_dotgitattributes(name: &[u8]) -> bool {
    is_hfs_dot(name, "gitattributes") || is_ntfs_dot(name, "gitattributes", "gi7d29")
}

/// `.gitignore` on HFS+ or NTFS.
pub fn is_dotgitignore(name: &[u8]) -> bool {
    is_hfs_dot(name, "gitignore") || is_ntfs_dot(name, "gitignore", "gi250a")
}

/// `.mailmap` on HFS+ or NTFS.
pub fn is_dotmailmap(name: &[u8]) -> bool {
    is_hfs_dot(name, "mailmap") || is_ntfs_dot(name, "mailmap", "maba30")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitmodules_spellings() {
        let yes: &[&[u8]] = &[
            b".gitmodules",
            b".GITMODULES",
            b".GitModules",
            b"GITMOD~1",
            b"gitmod~4",
            b"gi7eba~1",
            b"GI7EBA~9",
            b"gi7eb~12",
            b"gi7e~123",
            b".gitmodules ",
            b".gitmodules...",
            b".gitmodules:$DATA",
            b"GITMOD~1 . :x",
            ".gitmodu\u{200c}les".as_bytes(),
            "\u{200d}.\u{feff}gitmodules".as_bytes(),
            ".gitmodules\u{200e}".as_bytes(),
            b".gitmodules\xff",
        ];
        for name in yes {
            assert!(is_dotgitmodules(name), "{}", String::from_utf8_lossy(name));
        }
        let no: &[&[u8]] = &[
            b"gitmodules",
            b".gitmodulesx",
            b".gitmodule",
            b"GITMOD~5",
            b"GITMOD~0",
            b"gi7eba~0",
            b"gi7ebb~1",
            b"gi7eba~1x",
            b"gi7eba~",
            b".gitmodul\xffes",
            ".gitmodules\u{e9}".as_bytes(),
            ".gitmodul\u{200b}es".as_bytes(),
        ];
        for name in no {
            assert!(!is_dotgitmodules(name), "{}", String::from_utf8_lossy(name));
        }
    }

    /// The ASCII shortcut: a name starting with an ASCII byte other than `.` never matches on
    /// HFS+, one starting with an ignorable code point still does.
    #[test]
    fn hfs_names_past_the_ascii_shortcut() {
        assert!(!is_hfs_dotgit(b"git"));
        assert!(!is_hfs_dotgit(b"x.git"));
        assert!(!is_hfs_dotgit(b""));
        assert!(is_hfs_dotgit(b".GIT"));
        assert!(is_hfs_dotgit("\u{200c}.g\u{206f}it".as_bytes()));
        assert!(is_hfs_dotgit("\u{feff}.Git/".as_bytes()));
        assert!(!is_hfs_dotgit("\u{e9}.git".as_bytes()));
    }

    #[test]
    fn other_names() {
        assert!(is_dotgitattributes(b".GITATTRIBUTES"));
        assert!(is_dotgitattributes(b"gi7d29~1"));
        assert!(is_dotgitattributes(b"gitatt~2"));
        assert!(!is_dotgitattributes(b".gitattribute"));
        assert!(is_dotgitignore(b"GI250A~1"));
        assert!(is_dotmailmap(b".mailmap."));
        assert!(is_ntfs_dotgit(b"git~1"));
        assert!(is_ntfs_dotgit(b".GIT. . "));
        assert!(is_ntfs_dotgit(b".git::$INDEX_ALLOCATION"));
        assert!(!is_ntfs_dotgit(b".gitx"));
        assert!(!is_ntfs_dotgit(b"git~2"));
        assert!(is_hfs_dotgit(".g\u{200c}it".as_bytes()));
        assert!(is_hfs_dotgit(b".Git"));
        assert!(!is_hfs_dotgit(b".git~"));
    }
}
