//! The `.gitattributes` that change an archive: `export-ignore` (leave the path out) and
//! `export-subst` (expand `$Format:...$`), read as C git reads them for `git archive`: from the
//! archived tree's own `.gitattributes` files (deeper files win, later lines win) and then
//! `$GIT_DIR/info/attributes` above all (gitattributes(5)).
//!
//! Attributes that would make C git convert content on the way out (`eol=crlf`, `crlf`, `ident`,
//! `working-tree-encoding`, `filter`) are reported so the caller can refuse: Sluice sends blobs
//! as stored and never a converted copy that might differ from C git's.

use std::collections::HashMap;

/// The value of one attribute for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `attr`.
    Set,
    /// `-attr` (or `binary`'s `-text`).
    Unset,
    /// `attr=value`.
    Text(String),
}

/// One pattern line of an attributes file.
#[derive(Debug, Clone)]
struct Line {
    /// The pattern without a leading `/`.
    pattern: String,
    /// The pattern had a `/` before its end: it matches the whole path below `base`.
    anchored: bool,
    /// The pattern ended in `/`: it matches directories only.
    dir_only: bool,
    /// `(name, value)` in line order.
    attrs: Vec<(String, Value)>,
}

/// The attributes of one file, with the directory (`a/b/`, empty at the root) it applies below.
#[derive(Debug, Clone, Default)]
pub struct File {
    base: String,
    lines: Vec<Line>,
}

/// Most wildcards in one pattern: matching backtracks, and a pattern comes from pushed content.
const MAX_STARS: usize = 12;

/// Parses attributes file `text` found in directory `base` (`""` or ending in `/`); a pattern
/// with more than [`MAX_STARS`] `*` is refused (its text is the error).
pub fn parse(text: &[u8], base: &str) -> Result<File, String> {
    let mut lines = Vec::new();
    for raw in String::from_utf8_lossy(text).lines() {
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let mut words = raw.split_whitespace();
        let Some(pattern) = words.next() else {
            continue;
        };
        if pattern.starts_with('!') || pattern.starts_with('[') && pattern.contains("attr]") {
            continue; // negative patterns are ignored by git; macros other than binary unsupported
        }
        let mut attrs = Vec::new();
        for w in words {
            if w == "binary" {
                for a in ["diff", "merge", "text"] {
                    attrs.push((a.to_string(), Value::Unset));
                }
            } else if let Some(n) = w.strip_prefix('-').or_else(|| w.strip_prefix('!')) {
                attrs.push((n.to_string(), Value::Unset));
            } else if let Some((n, v)) = w.split_once('=') {
                attrs.push((n.to_string(), Value::Text(v.to_string())));
            } else {
                attrs.push((w.to_string(), Value::Set));
            }
        }
        if pattern.bytes().filter(|&b| b == b'*').count() > MAX_STARS {
            return Err(pattern.chars().take(100).collect());
        }
        let trimmed = pattern.trim_end_matches('/');
        let anchored = trimmed.contains('/');
        lines.push(Line {
            pattern: trimmed.trim_start_matches('/').to_string(),
            anchored,
            dir_only: pattern.ends_with('/'),
            attrs,
        });
    }
    Ok(File {
        base: base.to_string(),
        lines,
    })
}

impl Line {
    /// Whether this line's pattern matches `rel`, a path relative to the file's directory
    /// (directories end in `/`).
    fn matches(&self, rel: &str) -> bool {
        if self.dir_only && !rel.ends_with('/') {
            return false;
        }
        let rel = rel.trim_end_matches('/');
        if self.anchored {
            wildmatch(self.pattern.as_bytes(), rel.as_bytes(), true)
        } else {
            let base = rel.rsplit('/').next().unwrap_or(rel);
            wildmatch(self.pattern.as_bytes(), base.as_bytes(), false)
        }
    }
}

/// The attribute stack while walking a tree: the files from the root down, then
/// `info/attributes`.
#[derive(Debug, Default)]
pub struct Stack {
    /// In-tree files, outermost first.
    pub files: Vec<File>,
    /// `$GIT_DIR/info/attributes`, which overrides them all.
    pub info: Option<File>,
}

impl Stack {
    /// The attributes of `path` (relative to the archived tree; directories end in `/`).
    pub fn lookup(&self, path: &str) -> HashMap<String, Value> {
        let mut out = HashMap::new();
        for file in self.files.iter().chain(self.info.iter()) {
            let Some(rel) = path.strip_prefix(file.base.as_str()) else {
                continue;
            };
            for line in file.lines.iter().filter(|l| l.matches(rel)) {
                for (n, v) in &line.attrs {
                    out.insert(n.clone(), v.clone());
                }
            }
        }
        out
    }
}

/// The attribute among `attrs` that would make C git convert the content, if any.
pub fn conversion(
    attrs: &HashMap<String, Value>,
    has_smudge: impl Fn(&str) -> bool,
) -> Option<String> {
    let text_set = |name: &str, bad: &[&str]| match attrs.get(name) {
        Some(Value::Text(v)) if bad.contains(&v.as_str()) => Some(format!("{name}={v}")),
        _ => None,
    };
    if let Some(found) = text_set("eol", &["crlf"]) {
        return Some(found);
    }
    if let Some(v) = attrs.get("crlf").filter(|v| **v != Value::Unset) {
        return Some(format!("crlf ({v:?})"));
    }
    if attrs.get("ident") == Some(&Value::Set) {
        return Some("ident".into());
    }
    if let Some(Value::Text(v)) = attrs.get("working-tree-encoding") {
        return Some(format!("working-tree-encoding={v}"));
    }
    match attrs.get("filter") {
        Some(Value::Text(f)) if has_smudge(f) => Some(format!("filter={f}")),
        _ => None,
    }
}

/// git's `wildmatch` for the patterns attributes use: `*`, `**`, `?`, `[...]` (with `!`/`^`
/// negation and ranges) and `\` escapes; with `pathname`, `*` and `?` do not match `/`.
pub fn wildmatch(pattern: &[u8], text: &[u8], pathname: bool) -> bool {
    let Some((&p, prest)) = pattern.split_first() else {
        return text.is_empty();
    };
    match p {
        b'*' => {
            let double = prest.first() == Some(&b'*');
            let rest = if double { &prest[1..] } else { prest };
            let crosses = double || !pathname;
            if double && rest.first() == Some(&b'/') && wildmatch(&rest[1..], text, pathname) {
                return true; // "**/" also matches no directory at all
            }
            for i in 0..=text.len() {
                if wildmatch(rest, &text[i..], pathname) {
                    return true;
                }
                if text.get(i) == Some(&b'/') && !crosses {
                    return false;
                }
            }
            false
        }
        b'?' => match text.split_first() {
            Some((&c, trest)) if !(pathname && c == b'/') => wildmatch(prest, trest, pathname),
            _ => false,
        },
        b'[' => match (class(prest, text.first().copied()), text.split_first()) {
            (Some((true, after)), Some((_, trest))) => wildmatch(after, trest, pathname),
            (None, Some((b'[', trest))) => wildmatch(prest, trest, pathname),
            _ => false,
        },
        b'\\' if !prest.is_empty() => match text.split_first() {
            Some((&c, trest)) if c == prest[0] => wildmatch(&prest[1..], trest, pathname),
            _ => false,
        },
        _ => match text.split_first() {
            Some((&c, trest)) if c == p => wildmatch(prest, trest, pathname),
            _ => false,
        },
    }
}

/// Matches `c` against the class starting after `[` in `p`; `(matched, rest of pattern)`, or
/// `None` when the class is not closed (then `[` is literal).
fn class(p: &[u8], c: Option<u8>) -> Option<(bool, &[u8])> {
    let c = c?;
    let (negate, mut i) = match p.first() {
        Some(b'!' | b'^') => (true, 1),
        _ => (false, 0),
    };
    let mut matched = false;
    let mut first = true;
    while let Some(&x) = p.get(i) {
        if x == b']' && !first {
            return Some((matched != negate && c != b'/', &p[i + 1..]));
        }
        first = false;
        if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&e| e != b']') {
            let hi = p[i + 2];
            matched |= (x..=hi).contains(&c);
            i += 3;
        } else {
            matched |= x == c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildmatch_cases() {
        assert!(wildmatch(b"*.txt", b"a.txt", true));
        assert!(!wildmatch(b"*.txt", b"d/a.txt", true));
        assert!(wildmatch(b"**/a.txt", b"a.txt", true));
        assert!(wildmatch(b"**/a.txt", b"x/y/a.txt", true));
        assert!(wildmatch(b"d/**", b"d/x/y", true));
        assert!(wildmatch(b"[a-c]?", b"bz", true));
        assert!(!wildmatch(b"[!a-c]?", b"bz", true));
        assert!(wildmatch(b"\\*", b"*", true));
    }

    #[test]
    fn deeper_and_later_win() {
        let mut s = Stack::default();
        s.files
            .push(parse(b"*.txt export-ignore\nkeep.txt -export-ignore\n", "").unwrap());
        s.files
            .push(parse(b"*.md export-ignore\n/only export-subst\n", "sub/").unwrap());
        let ig = |p: &str| s.lookup(p).get("export-ignore") == Some(&Value::Set);
        assert!(ig("a.txt") && ig("sub/b.txt") && !ig("keep.txt"));
        assert!(ig("sub/x.md") && !ig("x.md"));
        assert_eq!(s.lookup("sub/only").get("export-subst"), Some(&Value::Set));
        assert_eq!(s.lookup("sub/deeper/only").get("export-subst"), None);
        let bin = parse(b"*.png binary\n*.c ident\n", "").unwrap();
        assert!(parse(b"*a*a*a*a*a*a*a*a*a*a*a*a*a* x\n", "").is_err());
        s.files = vec![bin];
        assert_eq!(conversion(&s.lookup("a.png"), |_| false), None);
        assert_eq!(
            conversion(&s.lookup("a.c"), |_| false).as_deref(),
            Some("ident")
        );
    }
}
