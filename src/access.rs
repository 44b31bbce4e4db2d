//! Who may read or write which repository, and where repositories may live.
//!
//! Two jobs, both pure functions over strings (table-tested, no IO except reading the file):
//! - **confinement**: a requested path maps to a location under the root, never outside it
//!   (`..`, absolute paths re-rooted, `~/` stripped; symlinks are checked by the launcher after
//!   canonicalising);
//! - **policy**: an access file, in the spirit of gitolite's, grants per repository (glob
//!   patterns) and per user or group the rights `R` (read), `RW` (push: create and fast-forward)
//!   and `RW+` (also force-push and delete), optionally only for refs matching a pattern.
//!
//! ```text
//! # comments and blank lines are ignored
//! group devs = alice bob
//! repo project.git tools/*.git
//!     R   = @all anonymous
//!     RW  = @devs
//!     RW+ refs/heads/sandbox/* = @devs
//!     RW+ = alice
//!     namespace %u = @devs
//!     namespace shared = anonymous
//! ```
//!
//! A `namespace NAME = users` line serves those users the repository inside `GIT_NAMESPACE`
//! NAME (`%u` stands for the user's name; the first matching line in file order wins), so one
//! repository can hold a private set of refs per user or per group; an access hook's
//! `namespace=` answer overrides it.
//! Users: a name, `@group`, `@all` (any authenticated user) and `anonymous` (a request with no
//! user, e.g. git://). A repository pattern matches the path relative to the root, with or
//! without its `.git` suffix. Rules are additive: a right is granted when any rule grants it.

use std::collections::HashMap;

pub mod gitolite;

/// A right a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Right {
    /// Clone, fetch, ls-remote.
    Read,
    /// Push that creates a ref or fast-forwards it.
    Write,
    /// Push that rewinds (force) or deletes a ref.
    Force,
}

impl Right {
    fn from_word(w: &str) -> Option<Right> {
        match w {
            "R" => Some(Right::Read),
            "RW" => Some(Right::Write),
            "RW+" => Some(Right::Force),
            _ => None,
        }
    }

    /// The mark shown by `info` (`R`, `RW`, `RW+`).
    pub fn mark(self) -> &'static str {
        match self {
            Right::Read => "R",
            Right::Write => "RW",
            Right::Force => "RW+",
        }
    }
}

/// Why an access file could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A syntax error, with its 1-based line.
    #[error("access file line {line}: {what}")]
    Syntax {
        /// Line number.
        line: usize,
        /// What is wrong.
        what: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    right: Right,
    ref_pattern: Option<String>,
    users: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct RepoBlock {
    patterns: Vec<String>,
    rules: Vec<Rule>,
    /// `namespace NAME = users` lines: (NAME, users).
    namespaces: Vec<(String, Vec<String>)>,
}

/// A parsed access file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    groups: HashMap<String, Vec<String>>,
    repos: Vec<RepoBlock>,
}

impl Policy {
    /// Parses access-file `text`.
    pub fn parse(text: &str) -> Result<Policy, Error> {
        let mut policy = Policy::default();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let syntax = |what: &str| Error::Syntax {
                line: line_no,
                what: what.to_string(),
            };
            if let Some(rest) = line.strip_prefix("group ") {
                let (name, members) = rest
                    .split_once('=')
                    .ok_or_else(|| syntax("group needs '='"))?;
                let name = name.trim().trim_start_matches('@').to_string();
                if name.is_empty() {
                    return Err(syntax("group needs a name"));
                }
                policy
                    .groups
                    .entry(name)
                    .or_default()
                    .extend(members.split_whitespace().map(str::to_string));
            } else if let Some(rest) = line.strip_prefix("repo ") {
                let patterns: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
                if patterns.is_empty() {
                    return Err(syntax("repo needs at least one pattern"));
                }
                policy.repos.push(RepoBlock {
                    patterns,
                    rules: Vec::new(),
                    namespaces: Vec::new(),
                });
            } else if let Some(rest) = line.strip_prefix("namespace ") {
                let (name, users) = rest
                    .split_once('=')
                    .ok_or_else(|| syntax("namespace needs '= users'"))?;
                let name = name.trim();
                let users: Vec<String> = users.split_whitespace().map(str::to_string).collect();
                if name.is_empty() || name.contains(char::is_whitespace) || users.is_empty() {
                    return Err(syntax("expected 'namespace NAME = users'"));
                }
                let block = policy
                    .repos
                    .last_mut()
                    .ok_or_else(|| syntax("namespace outside a 'repo' block"))?;
                block.namespaces.push((name.to_string(), users));
            } else {
                let (lhs, users) = line.split_once('=').ok_or_else(|| {
                    syntax("expected 'group', 'repo' or '<right> [refs] = users'")
                })?;
                let mut words = lhs.split_whitespace();
                let right = words
                    .next()
                    .and_then(Right::from_word)
                    .ok_or_else(|| syntax("right must be R, RW or RW+"))?;
                let ref_pattern = words.next().map(str::to_string);
                if words.next().is_some() {
                    return Err(syntax("at most one ref pattern per rule"));
                }
                let users: Vec<String> = users.split_whitespace().map(str::to_string).collect();
                if users.is_empty() {
                    return Err(syntax("rule names no users"));
                }
                let block = policy
                    .repos
                    .last_mut()
                    .ok_or_else(|| syntax("rule outside a 'repo' block"))?;
                block.rules.push(Rule {
                    right,
                    ref_pattern,
                    users,
                });
            }
        }
        Ok(policy)
    }

    fn user_matches(&self, word: &str, user: Option<&str>) -> bool {
        match (word, user) {
            ("anonymous", None) => true,
            ("@all", Some(_)) => true,
            (w, Some(u)) if w.starts_with('@') => self
                .groups
                .get(&w[1..])
                .is_some_and(|m| m.iter().any(|x| x == u)),
            (w, Some(u)) => w == u,
            _ => false,
        }
    }

    fn blocks_for<'a>(&'a self, repo: &'a str) -> impl Iterator<Item = &'a RepoBlock> + 'a {
        let bare = repo.strip_suffix(".git").unwrap_or(repo);
        self.repos.iter().filter(move |b| {
            b.patterns.iter().any(|p| {
                let p_bare = p.strip_suffix(".git").unwrap_or(p);
                glob_match(p_bare, bare)
            })
        })
    }

    fn rules_for<'a>(&'a self, repo: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.blocks_for(repo).flat_map(|b| b.rules.iter())
    }

    /// The `GIT_NAMESPACE` the first `namespace` line matching `repo` and `user` (None:
    /// anonymous) names, with `%u` replaced by the user name; `None`: no namespace rule.
    pub fn namespace(&self, repo: &str, user: Option<&str>) -> Option<String> {
        self.blocks_for(repo)
            .flat_map(|b| b.namespaces.iter())
            .find(|(_, users)| users.iter().any(|w| self.user_matches(w, user)))
            .map(|(name, _)| name.replace("%u", user.unwrap_or("anonymous")))
    }

    /// The strongest right `user` (None: anonymous) has on `repo` (path relative to the root),
    /// ignoring ref patterns for `Read` (any rule that mentions the user grants read).
    pub fn repo_right(&self, repo: &str, user: Option<&str>) -> Option<Right> {
        self.rules_for(repo)
            .filter(|r| r.users.iter().any(|w| self.user_matches(w, user)))
            .map(|r| r.right)
            .max()
    }

    /// Whether `user` may do what needs `right` to ref `refname` of `repo`.
    pub fn allows_ref(&self, repo: &str, user: Option<&str>, refname: &str, right: Right) -> bool {
        self.rules_for(repo).any(|r| {
            r.right >= right
                && r.users.iter().any(|w| self.user_matches(w, user))
                && r.ref_pattern
                    .as_deref()
                    .is_none_or(|p| glob_match(p, refname))
        })
    }
}

/// Shell-style glob: `*` matches within a path component, `**` across components, `?` one
/// character; everything else literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => {
                let (cross, rest) = match rest.split_first() {
                    Some((b'*', r)) => (true, r),
                    _ => (false, rest),
                };
                for i in 0..=t.len() {
                    if go(rest, &t[i..]) {
                        return true;
                    }
                    if i < t.len() && !cross && t[i] == b'/' {
                        return false;
                    }
                }
                false
            }
            Some((b'?', rest)) => t
                .split_first()
                .is_some_and(|(&c, tr)| c != b'/' && go(rest, tr)),
            Some((&c, rest)) => t
                .split_first()
                .is_some_and(|(&d, tr)| c == d && go(rest, tr)),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// Why a requested path was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    /// Empty, or only slashes.
    #[error("empty repository path")]
    Empty,
    /// A component is `..`, `.`, or starts with `-` (could be read as an option), or the path
    /// contains a NUL or a backslash.
    #[error("invalid repository path '{0}'")]
    Invalid(String),
}

/// Maps a client-supplied repository path to a path relative to the root: leading `/` and `~/`
/// are stripped (everything lives under the root), a trailing `/` is dropped, and any `.`/`..`
/// component, empty component, NUL or backslash is refused rather than resolved.
pub fn confine(requested: &str) -> Result<String, PathError> {
    let mut p = requested.trim_start_matches('/');
    if let Some(rest) = p.strip_prefix("~/") {
        p = rest.trim_start_matches('/');
    } else if p == "~" {
        return Err(PathError::Invalid(requested.into()));
    }
    let p = p.trim_end_matches('/');
    if p.is_empty() {
        return Err(PathError::Empty);
    }
    let invalid = || PathError::Invalid(requested.into());
    if p.contains('\0') || p.contains('\\') {
        return Err(invalid());
    }
    for comp in p.split('/') {
        if comp.is_empty()
            || comp == "."
            || comp == ".."
            || comp.starts_with('-')
            || comp.starts_with('~')
        {
            return Err(invalid());
        }
    }
    Ok(p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "
# team repos
group devs = alice bob
repo project.git tools/*
    R   = @all anonymous
    RW  = @devs
    RW+ refs/heads/sandbox/* = @devs
    RW+ = carol
repo secret
    RW = dave
";

    #[test]
    fn namespace_rules() {
        let p = Policy::parse(
            "group devs = alice bob\nrepo shared.git\n  R = @all anonymous\n  namespace team = alice\n  namespace u/%u = @devs carol\n  namespace public = anonymous\n",
        )
        .unwrap();
        assert_eq!(
            p.namespace("shared", Some("alice")).as_deref(),
            Some("team")
        );
        assert_eq!(
            p.namespace("shared.git", Some("bob")).as_deref(),
            Some("u/bob")
        );
        assert_eq!(
            p.namespace("shared.git", Some("carol")).as_deref(),
            Some("u/carol")
        );
        assert_eq!(p.namespace("shared.git", None).as_deref(), Some("public"));
        assert_eq!(p.namespace("shared.git", Some("zed")), None);
        assert_eq!(p.namespace("other.git", Some("alice")), None);
        assert!(Policy::parse("namespace x = a\n").is_err());
        assert!(Policy::parse("repo r\n namespace = a\n").is_err());
        assert!(Policy::parse("repo r\n namespace x =\n").is_err());
    }

    #[test]
    fn rights() {
        let p = Policy::parse(FILE).unwrap();
        assert_eq!(
            p.repo_right("project.git", Some("alice")),
            Some(Right::Force)
        );
        assert_eq!(p.repo_right("project", Some("zed")), Some(Right::Read));
        assert_eq!(p.repo_right("project.git", None), Some(Right::Read));
        assert_eq!(
            p.repo_right("tools/x.git", Some("carol")),
            Some(Right::Force)
        );
        assert_eq!(p.repo_right("tools/a/b.git", Some("carol")), None);
        assert_eq!(p.repo_right("secret.git", Some("alice")), None);
        assert_eq!(p.repo_right("secret.git", Some("dave")), Some(Right::Write));
        assert!(p.allows_ref("project.git", Some("bob"), "refs/heads/main", Right::Write));
        assert!(!p.allows_ref("project.git", Some("bob"), "refs/heads/main", Right::Force));
        assert!(p.allows_ref(
            "project.git",
            Some("bob"),
            "refs/heads/sandbox/x",
            Right::Force
        ));
        assert!(p.allows_ref("project.git", Some("carol"), "refs/tags/v1", Right::Force));
        assert!(!p.allows_ref("project.git", None, "refs/heads/main", Right::Write));
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "R = x",
            "repo a\n  W = x",
            "repo a\n  R =",
            "group = a",
            "repo",
            "repo a\n R a b = c",
        ] {
            assert!(Policy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn globbing() {
        assert!(glob_match("a/*", "a/b"));
        assert!(!glob_match("a/*", "a/b/c"));
        assert!(glob_match("a/**", "a/b/c"));
        assert!(glob_match("refs/heads/?", "refs/heads/x"));
        assert!(!glob_match("refs/heads/?", "refs/heads/xy"));
    }

    #[test]
    fn confinement() {
        assert_eq!(confine("/repo.git").unwrap(), "repo.git");
        assert_eq!(confine("~/a/b.git/").unwrap(), "a/b.git");
        assert_eq!(confine("repo").unwrap(), "repo");
        for bad in [
            "", "/", "../x", "a/../b", "a/./b", "a//b", "-x", "a/-b", "~alice/x", "a\\b", "a\0b",
            "~",
        ] {
            assert!(confine(bad).is_err(), "{bad:?}");
        }
    }
}
