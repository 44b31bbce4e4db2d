//! Ref names validated by git's check-ref-format rules (git-check-ref-format(1)), for push.
//! A leaf module: `refs` and the object checks (`odb::fsck`, tag names) both use it, so it
//! sits below both and neither imports the other for it.

/// Why a ref name is invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid ref name '{name}': {why}")]
pub struct Error {
    /// The name (lossy).
    pub name: String,
    /// The rule it breaks.
    pub why: &'static str,
}

/// A full ref name that passed check-ref-format.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RefName(String);

impl std::fmt::Display for RefName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RefName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl RefName {
    /// Validates `name` as a full ref name (with at least one `/`).
    pub fn new(name: &str) -> Result<RefName, Error> {
        let fail = |why| Error {
            name: name.chars().take(200).collect(),
            why,
        };
        if name.is_empty() {
            return Err(fail("empty"));
        }
        if name == "@" {
            return Err(fail("'@' alone"));
        }
        if !name.contains('/') {
            return Err(fail("must contain a '/'"));
        }
        if name.ends_with('/') || name.ends_with('.') {
            return Err(fail("ends with '/' or '.'"));
        }
        if name.contains("..") {
            return Err(fail("contains '..'"));
        }
        if name.contains("@{") {
            return Err(fail("contains '@{'"));
        }
        for b in name.bytes() {
            if b < 0x20
                || b == 0x7f
                || matches!(b, b' ' | b'~' | b'^' | b':' | b'?' | b'*' | b'[' | b'\\')
            {
                return Err(fail(
                    "contains a control character, space or one of ~^:?*[\\",
                ));
            }
        }
        for comp in name.split('/') {
            if comp.is_empty() {
                return Err(fail("contains '//' or starts with '/'"));
            }
            if comp.starts_with('.') {
                return Err(fail("a component starts with '.'"));
            }
            if comp.ends_with(".lock") {
                return Err(fail("a component ends with '.lock'"));
            }
        }
        Ok(RefName(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_git_check_ref_format() {
        let cases = [
            "refs/heads/main",
            "refs/heads/a/b",
            "refs/tags/v1.0",
            "refs/heads/-x",
            "refs/heads/x@y",
            "refs/heads/a..b",
            "refs/heads/a.lock",
            "refs/heads/.a",
            "refs/heads/a/",
            "refs/heads/a.",
            "refs/heads//a",
            "/refs/heads/a",
            "refs/heads/a b",
            "refs/heads/a~1",
            "refs/heads/a^",
            "refs/heads/a:b",
            "refs/heads/a?",
            "refs/heads/a*",
            "refs/heads/a[",
            "refs/heads/a\\b",
            "refs/heads/@{x}",
            "main",
            "@",
            "refs/heads/\u{1}",
            "refs/heads/ü",
            "refs/heads/a.lock/b",
            "refs/heads/x.y",
            "HEAD",
            "refs/heads/@",
        ];
        for c in cases {
            let git = std::process::Command::new("git")
                .args(["check-ref-format", c])
                .status()
                .unwrap()
                .success();
            assert_eq!(RefName::new(c).is_ok(), git, "{c:?}");
        }
    }
}
