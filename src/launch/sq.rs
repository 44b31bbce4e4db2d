//! Shell single-quote handling as git's quote.c does it: the argument of a git-shell /
//! `SSH_ORIGINAL_COMMAND` service command is one single-quoted word, and `'\''` and `'\!'` are
//! the only escapes (what git's `sq_quote` produces).

/// Undoes git's single quoting of one word: `'a'\''b'` → `a'b`. `None` for anything else
/// (unquoted text, trailing garbage, unterminated quotes, other escapes).
pub fn sq_dequote(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s.strip_prefix('\'')?;
    loop {
        let end = rest.find('\'')?;
        out.push_str(&rest[..end]);
        rest = &rest[end + 1..];
        if rest.is_empty() {
            return Some(out);
        }
        // Only `\'` or `\!` followed by a reopening quote may continue the word.
        let mut chars = rest.chars();
        match (chars.next(), chars.next(), chars.next()) {
            (Some('\\'), Some(c @ ('\'' | '!')), Some('\'')) => {
                out.push(c);
                rest = &rest[3..];
            }
            _ => return None,
        }
    }
}

/// Quotes `s` as one shell word the way git does.
pub fn sq_quote(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str("'\\''"),
            '!' => out.push_str("'\\!'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dequote() {
        assert_eq!(sq_dequote("'repo.git'").as_deref(), Some("repo.git"));
        assert_eq!(sq_dequote("'a'\\''b'").as_deref(), Some("a'b"));
        assert_eq!(sq_dequote("'a'\\!'b'").as_deref(), Some("a!b"));
        assert_eq!(sq_dequote("''").as_deref(), Some(""));
        for bad in [
            "repo",
            "'repo",
            "'a'b",
            "'a' 'b'",
            "'a'\\n'b'",
            "'a'\\'",
            "",
            "'a';id",
        ] {
            assert_eq!(sq_dequote(bad), None, "{bad}");
        }
        for s in ["plain", "it's", "bang!", "a b", "'"] {
            assert_eq!(sq_dequote(&sq_quote(s)).as_deref(), Some(s));
        }
    }
}
