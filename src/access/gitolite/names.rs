//! gitolite's name patterns (`Gitolite::Rc`), as plain character checks: what a repository
//! name, a repository pattern, a user name and a ref may contain. A plain repository name is
//! one that is not a pattern; that difference decides whether a `repo` line names one
//! repository or a regex of them.

fn first_alnum(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
}

fn optional_at(s: &str) -> &str {
    s.strip_prefix('@').unwrap_or(s)
}

/// `REPONAME_PATT`: `^@?[0-9a-zA-Z][-0-9a-zA-Z._@/+]*$`.
pub fn is_repo_name(s: &str) -> bool {
    let s = optional_at(s);
    first_alnum(s)
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._@/+".contains(&b))
}

/// `REPOPATT_PATT`: a name or a regex (`^@?[[0-9a-zA-Z][-0-9a-zA-Z._@/+\\^$|()[\]*?{},]*$`).
pub fn is_repo_pattern(s: &str) -> bool {
    let s = optional_at(s);
    s.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'[')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._@/+\\^$|()[]*?{},".contains(&b))
}

/// `USERNAME_PATT`: `^@?[0-9a-zA-Z][-0-9a-zA-Z._@+]*$`.
pub fn is_user_name(s: &str) -> bool {
    let s = optional_at(s);
    first_alnum(s)
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._@+".contains(&b))
}

/// `REF_OR_FILENAME_PATT`: `^[0-9a-zA-Z][-0-9a-zA-Z._@/+ :,]*$`.
pub fn is_ref(s: &str) -> bool {
    first_alnum(s)
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._@/+ :,".contains(&b))
}

/// gitolite's `sanity()` for a repository named in a request: a valid name or pattern, not
/// ending in `/` or `.git`, and a plain name has no `..` or `.git/`.
pub fn check_repo(repo: &str) -> Result<(), String> {
    if !is_repo_pattern(repo) {
        return Err(format!("invalid repo '{repo}'"));
    }
    if repo.ends_with('/') {
        return Err(format!("'{repo}' ends with a '/'"));
    }
    if is_repo_name(repo) && repo.contains("..") {
        return Err(format!("'{repo}' contains '..'"));
    }
    if is_repo_name(repo) && repo.contains(".git/") {
        return Err(format!("'{repo}' contains '.git/'"));
    }
    if repo.ends_with(".git") {
        return Err(format!("'{repo}' ends with '.git'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_patterns() {
        assert!(is_repo_name("foo/bar-1.x"));
        assert!(is_repo_name("@group"));
        assert!(!is_repo_name("CREATOR/..*"));
        assert!(is_repo_pattern("CREATOR/..*"));
        assert!(is_repo_pattern("[a-z].*"));
        assert!(!is_repo_pattern("-x"));
        assert!(is_user_name("alice@example.com"));
        assert!(!is_user_name("a/b"));
        assert!(is_ref("refs/heads/a b"));
        assert!(!is_ref("refs/heads/ü"));
        assert!(check_repo("a/../b").is_err());
        assert!(check_repo("a.git").is_err());
        assert!(check_repo("a/b").is_ok());
    }
}
