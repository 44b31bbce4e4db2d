//! gitolite's access decision (`Gitolite::Conf::Load::access`): collect the rules for every
//! name the repository and the user go by, in the order they were written, and take the first
//! that decides. Check #1 (before git runs) asks with the ref `any`, where deny rules are
//! skipped unless `option deny-rules` is set; check #2 (per pushed ref) asks with the ref and
//! an operation `W`, `+`, `C` or `D`, with `M` appended for a push that carries a merge.

use std::collections::BTreeSet;

use super::names::{check_repo, is_ref, is_repo_name, is_user_name};
use super::parse::{Conf, Rule};

/// What the access check needs to know about repositories on disk (the wild-repository
/// files gitolite keeps in each repository directory).
pub trait RepoState {
    /// Whether `repo` (a name without `.git`) exists.
    fn exists(&self, repo: &str) -> bool;
    /// Its creator (`gl-creator`), for a wild repository.
    fn creator(&self, repo: &str) -> Option<String>;
    /// The lines of its `gl-perms` (role assignments such as `READERS bob @team`).
    fn perms(&self, repo: &str) -> Vec<String>;
}

/// The answer to one access question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by the rule with this refex.
    Allowed(String),
    /// Denied; the text is gitolite's (`W refs/heads/x foo bob DENIED by fallthru`).
    Denied(String),
}

impl Decision {
    /// Whether access was allowed.
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }
}

/// Role names a `gl-perms` file may assign (gitolite's default `ROLES`).
const PERMS_ROLES: [&str; 2] = ["READERS", "WRITERS"];

impl Conf {
    /// gitolite's `access(repo, user, aa, ref)`; `aa` is `R`, `W`, `+`, `C`, `D` (optionally
    /// followed by `M`) or `^C` (create the repository), `refname` is a full ref or `any`.
    pub fn access(
        &self,
        state: &dyn RepoState,
        repo: &str,
        user: &str,
        aa: &str,
        refname: &str,
    ) -> Decision {
        if !is_user_name(user) {
            return Decision::Denied(format!("invalid user '{user}'"));
        }
        if let Err(e) = check_repo(repo) {
            return Decision::Denied(e);
        }
        if !refname.starts_with("VREF/NAME/") && !is_ref(refname) {
            return Decision::Denied(format!(
                "invalid characters in ref or filename: '{refname}'"
            ));
        }
        let deny =
            |why: &str| Decision::Denied(format!("{aa} {refname} {repo} {user} DENIED by {why}"));
        let exists = state.exists(repo);
        if aa != "^C" && !repo.starts_with('@') && is_repo_name(repo) && !exists {
            if let Decision::Denied(text) = self.access(state, repo, user, "^C", refname) {
                return Decision::Denied(text.replacen("^C", aa, 1));
            }
        }
        if aa == "^C" && exists {
            return deny("existence");
        }
        let deny_rules = self.option(state, repo, user, "deny-rules").is_some();
        for rule in self.rules(state, repo, user) {
            let refex = rule.refex.replacen("/USER/", &format!("/{user}/"), 1);
            if rule.perm == "-" && refname == "any" && !deny_rules {
                continue;
            }
            if refname != "any" && !self.matches(&refex, refname, false) {
                continue;
            }
            if rule.perm == "-" {
                return deny(&refex);
            }
            if perm_grants(&rule.perm, aa) {
                return Decision::Allowed(refex);
            }
        }
        deny("fallthru")
    }

    /// The rules that apply to `user` on `repo`, in conf order.
    pub fn rules(&self, state: &dyn RepoState, repo: &str, user: &str) -> Vec<&Rule> {
        let repos = self.repo_memberships(state, repo, user);
        let users = self.user_memberships(state, user, repo);
        let mut rules: Vec<&Rule> = Vec::new();
        for r in &repos {
            let Some(by_user) = self.repos.get(r) else {
                continue;
            };
            for u in &users {
                rules.extend(by_user.get(u).into_iter().flatten());
            }
        }
        rules.sort_by_key(|r| r.seq);
        rules
    }

    /// gitolite's `option(repo, name)`: the last `option name = value` for any name the
    /// repository goes by; an empty value or `0` counts as unset, as in gitolite.
    pub fn option(
        &self,
        state: &dyn RepoState,
        repo: &str,
        user: &str,
        name: &str,
    ) -> Option<String> {
        let key = format!("gitolite-options.{name}");
        self.config_for(state, repo, user)
            .into_iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty() && v != "0")
    }

    /// Every `config` line for `repo`, in conf order, with `%GL_REPO`/`%GL_CREATOR`
    /// substituted: what gitolite writes into the repository's git config.
    pub fn config_for(
        &self,
        state: &dyn RepoState,
        repo: &str,
        user: &str,
    ) -> Vec<(String, String)> {
        let mut lines: Vec<_> = self
            .repo_memberships(state, repo, user)
            .iter()
            .filter_map(|r| self.configs.get(r))
            .flatten()
            .collect();
        lines.sort_by_key(|l| l.seq);
        let creator = creator_of(state, repo, user);
        lines
            .into_iter()
            .map(|l| {
                let mut v = l.value.replace("%GL_REPO", repo);
                if !creator.is_empty() {
                    v = v.replace("%GL_CREATOR", &creator);
                }
                (l.key.clone(), v)
            })
            .collect()
    }

    /// Every name `repo` goes by: itself, `@all`, matching repo lines and patterns (also for
    /// its generic `CREATOR/...` name), and the groups of each.
    pub fn repo_memberships(
        &self,
        state: &dyn RepoState,
        repo: &str,
        user: &str,
    ) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = [repo.to_string(), "@all".to_string()].into();
        let generic = generic_name(state, repo, user);
        let is = |i: &str, name: &str| name == i || self.matches(i, name, true);
        let is_us = |i: &str| is(i, repo) || generic.as_deref().is_some_and(|g| is(i, g));
        for i in self.repos.keys().chain(self.configs.keys()) {
            if is_us(i) {
                out.insert(i.clone());
            }
        }
        for name in std::iter::once(repo).chain(generic.as_deref()) {
            out.extend(self.member_of.get(name).into_iter().flatten().cloned());
        }
        for (member, groups) in &self.member_of {
            if !is_repo_name(member) && is_us(member) {
                out.extend(groups.iter().cloned());
            }
        }
        out
    }

    /// Every name `user` goes by on `repo`: itself, `@all`, its groups, and the roles
    /// (`@CREATOR`, `@READERS`, `@WRITERS`) it holds on an existing repository.
    pub fn user_memberships(
        &self,
        state: &dyn RepoState,
        user: &str,
        repo: &str,
    ) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = [user.to_string(), "@all".to_string()].into();
        out.extend(self.member_of.get(user).into_iter().flatten().cloned());
        if !repo.is_empty() && state.exists(repo) {
            let roles = user_roles(state, user, repo, &out);
            out.extend(roles);
        }
        out
    }
}

/// Whether a rule's permission grants the operation `aa` (gitolite turns `aa` into a regex
/// searched in the permission: `+` literal, `C` alone means `RW.*C`, `M` means `.*M`).
fn perm_grants(perm: &str, aa: &str) -> bool {
    if aa == "^C" {
        return perm.starts_with('C');
    }
    let (op, merge) = match aa.strip_suffix('M') {
        Some(op) => (op, true),
        None => (aa, false),
    };
    let base = match op {
        "C" => perm.starts_with("RW") && perm[2..].contains('C'),
        _ => perm.contains(op),
    };
    match merge {
        true => base && perm.find(op).is_some_and(|i| perm[i..].contains('M')),
        false => base,
    }
}

fn creator_of(state: &dyn RepoState, repo: &str, user: &str) -> String {
    match state.exists(repo) {
        true => state.creator(repo).unwrap_or_default(),
        false => user.to_string(),
    }
}

/// The repository's name with its creator replaced by `CREATOR` (first whole-word
/// occurrence), or None when that changes nothing.
fn generic_name(state: &dyn RepoState, repo: &str, user: &str) -> Option<String> {
    let creator = creator_of(state, repo, user);
    if creator.is_empty() {
        return None;
    }
    let word = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    let bytes = repo.as_bytes();
    let mut from = 0;
    while let Some(off) = repo[from..].find(&creator) {
        let at = from + off;
        let end = at + creator.len();
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let starts_word = word(creator.bytes().next()) != word(before);
        let ends_word = word(creator.bytes().last()) != word(bytes.get(end).copied());
        if starts_word && ends_word {
            return Some(format!("{}CREATOR{}", &repo[..at], &repo[end..]));
        }
        from = at + 1;
    }
    None
}

/// gitolite's `user_roles`: roles from `gl-perms` (`ROLE member...`, a member being the user
/// or a group the user is in) and `CREATOR` from `gl-creator`.
fn user_roles(
    state: &dyn RepoState,
    user: &str,
    repo: &str,
    groups: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut lines = state.perms(repo);
    lines.push(format!(
        "CREATOR = {}",
        state.creator(repo).unwrap_or_default()
    ));
    let mut out = BTreeSet::new();
    for line in lines {
        let line = line.trim().replacen('=', " ", 1);
        let line = line.strip_prefix('@').unwrap_or(&line);
        if line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(role) = words.next() else { continue };
        if role != "CREATOR" && !PERMS_ROLES.contains(&role) {
            tracing::warn!(repo, role, "gl-perms: role not allowed, ignored");
            continue;
        }
        for m in words {
            if !is_user_name(m) {
                continue;
            }
            if m == user || groups.contains(m) {
                out.insert(format!("@{role}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
