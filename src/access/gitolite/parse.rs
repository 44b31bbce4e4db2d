//! The parsed configuration: gitolite's `%repos`, `%configs` and `%groups`, built the way its
//! `Conf::Store` builds them. Group definitions accumulate and nested groups are expanded when
//! they are used on the right of `=` (so later additions do not reach an earlier copy, as in
//! gitolite); users and groups on rule lines stay names, resolved at access time.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use regex::Regex;

use super::lines::{split_rule, Line};
use super::names::{is_repo_name, is_repo_pattern, is_user_name};
use super::Error;

/// One rule as stored: its sequence number (the order rules were seen), permission and refex.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Order in the combined conf; rules are evaluated by it.
    pub seq: usize,
    /// `R`, `RW+`, `-`, `C`, `RWCD`, ...
    pub perm: String,
    /// The refex, fully qualified (`refs/heads/` implied), anchored at the start when matched.
    pub refex: String,
    /// `file:line` of the rule, for tracing decisions.
    pub origin: String,
}

/// One `config` line: sequence, key, value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigLine {
    /// Order in the combined conf; a later line overrides an earlier one.
    pub seq: usize,
    /// The git config key (`hooks.mailinglist`, `gitolite-options.deny-rules`, ...).
    pub key: String,
    /// The value, quotes removed.
    pub value: String,
}

/// A whole gitolite configuration.
#[derive(Debug, Default)]
pub struct Conf {
    /// repo, repo pattern or `@group` → user or `@group` → rules.
    pub repos: HashMap<String, HashMap<String, Vec<Rule>>>,
    /// repo, repo pattern or `@group` → config lines.
    pub configs: HashMap<String, Vec<ConfigLine>>,
    /// member → the groups it belongs to (gitolite's inside-out `%groups`).
    pub member_of: HashMap<String, Vec<String>>,
    /// group → members, as defined (for `info`'s pattern listing).
    pub members: BTreeMap<String, BTreeSet<String>>,
    /// Compiled forms of every repo pattern and refex, by source text.
    regexes: HashMap<String, Regex>,
}

/// Longest pattern accepted (gitolite has no limit; this bounds regex compilation).
const MAX_PATTERN: usize = 1024;

impl Conf {
    /// Parses the logical lines of a configuration.
    pub fn parse(lines: &[Line]) -> Result<Conf, Error> {
        let mut p = Parser::default();
        for line in lines {
            p.line(line)?;
        }
        let mut conf = p.conf;
        for (group, members) in &conf.members {
            for m in members {
                conf.member_of
                    .entry(m.clone())
                    .or_default()
                    .push(group.clone());
            }
        }
        Ok(conf)
    }

    /// Whether `text` matches the regex `^` + `pattern` + `$` (anchored at the end too when
    /// `whole`), as gitolite's Perl `=~ /^$i$/` and `=~ /^$refex/` do; the pattern is
    /// interpolated as is, so `a|b` keeps Perl's precedence.
    pub fn matches(&self, pattern: &str, text: &str, whole: bool) -> bool {
        let key = anchored(pattern, whole);
        match self.regexes.get(&key) {
            Some(re) => re.is_match(text),
            None => Regex::new(&key).is_ok_and(|re| re.is_match(text)),
        }
    }
}

fn anchored(pattern: &str, whole: bool) -> String {
    match whole {
        true => format!("^{pattern}$"),
        false => format!("^{pattern}"),
    }
}

#[derive(Default)]
struct Parser {
    conf: Conf,
    repolist: Vec<String>,
    seq: usize,
}

impl Parser {
    fn line(&mut self, line: &Line) -> Result<(), Error> {
        let t = line.text.as_str();
        if let Some((lhs, rhs)) = t.split_once(" = ").filter(|(l, _)| l.starts_with('@')) {
            if !lhs.contains(' ') {
                return self.group(line, lhs, rhs);
            }
        }
        if let Some(list) = t.strip_prefix("repo ") {
            return self.repo(line, list);
        }
        if let Some((perm, refs, users)) = split_rule(t) {
            return self.rule(line, perm, refs, users);
        }
        if let Some(rest) = t.strip_prefix("config ") {
            return self.config(line, rest);
        }
        Err(line.error(format!("syntax error: '{t}'")))
    }

    fn group(&mut self, line: &Line, lhs: &str, rhs: &str) -> Result<(), Error> {
        if !is_repo_name(lhs) {
            return Err(line.error(format!("bad group '{lhs}'")));
        }
        let items: Vec<&str> = rhs.split(' ').collect();
        for i in &items {
            if !is_repo_pattern(i) {
                return Err(line.error(format!("bad expansion '{i}'")));
            }
        }
        let expanded = self.expand(line, &items)?;
        for e in &expanded {
            if !is_repo_name(e) {
                self.compile(line, e, true)?;
            }
        }
        self.conf
            .members
            .entry(lhs.to_string())
            .or_default()
            .extend(expanded);
        Ok(())
    }

    /// gitolite's `expand_list`: `@group` (other than `@all`) becomes its members so far.
    fn expand(&self, line: &Line, items: &[&str]) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        for &i in items {
            if i.starts_with('@') && i != "@all" {
                let members = self
                    .conf
                    .members
                    .get(i)
                    .ok_or_else(|| line.error(format!("undefined group '{i}'")))?;
                out.extend(members.iter().cloned());
            } else {
                out.push(i.to_string());
            }
        }
        Ok(out)
    }

    fn repo(&mut self, line: &Line, list: &str) -> Result<(), Error> {
        self.repolist.clear();
        for r in list.split(' ') {
            let r = match r.strip_suffix(".git") {
                Some(stripped) => {
                    tracing::warn!(at = %line.origin(), "explicit '.git' extension ignored for {r}");
                    stripped
                }
                None => r,
            };
            if !is_repo_pattern(r) {
                return Err(line.error(format!("bad reponame '{r}'")));
            }
            if !is_repo_name(r) {
                self.compile(line, r, true)?;
            }
            self.repolist.push(r.to_string());
        }
        Ok(())
    }

    fn rule(&mut self, line: &Line, perm: &str, refs: &str, users: &str) -> Result<(), Error> {
        let words: Vec<&str> = refs.split(' ').filter(|w| !w.is_empty()).collect();
        let mut refexes = self.expand(line, &words)?;
        if refexes.is_empty() {
            refexes.push("refs/.*".to_string());
        }
        for r in &mut refexes {
            if !r.starts_with("refs/") && !r.starts_with("VREF/") {
                r.insert_str(0, "refs/heads/");
            }
            if !is_repo_pattern(r) {
                return Err(line.error(format!("bad ref '{r}'")));
            }
            // `/USER/` is replaced per request; compile the substituted form then.
            if !r.contains("/USER/") {
                self.compile(line, r, false)?;
            }
        }
        let users: Vec<&str> = users.split(' ').collect();
        for u in &users {
            if !is_user_name(u) {
                return Err(line.error(format!("bad username '{u}'")));
            }
        }
        for refex in &refexes {
            for user in &users {
                self.seq += 1;
                let rule = Rule {
                    seq: self.seq,
                    perm: perm.to_string(),
                    refex: refex.clone(),
                    origin: line.origin(),
                };
                for repo in &self.repolist {
                    let by_user = self.conf.repos.entry(repo.clone()).or_default();
                    by_user
                        .entry(user.to_string())
                        .or_default()
                        .push(rule.clone());
                }
            }
        }
        Ok(())
    }

    fn config(&mut self, line: &Line, rest: &str) -> Result<(), Error> {
        let (key, value) = match rest.split_once(" = ") {
            Some((k, v)) => (k, v),
            None => (rest.strip_suffix(" =").unwrap_or(rest), ""),
        };
        if key.is_empty() || key.contains(' ') || !key.contains('.') {
            return Err(line.error(format!("bad config key '{key}'")));
        }
        let value = strip_quotes(value);
        if value.chars().any(|c| "`~#$&()|;<>".contains(c)) {
            return Err(line.error(format!("bad config value '{value}'")));
        }
        self.seq += 1;
        for repo in &self.repolist {
            self.conf
                .configs
                .entry(repo.clone())
                .or_default()
                .push(ConfigLine {
                    seq: self.seq,
                    key: key.to_string(),
                    value: value.to_string(),
                });
        }
        Ok(())
    }

    fn compile(&mut self, line: &Line, pattern: &str, whole: bool) -> Result<(), Error> {
        let key = anchored(pattern, whole);
        if self.conf.regexes.contains_key(&key) {
            return Ok(());
        }
        if pattern.len() > MAX_PATTERN {
            return Err(line.error("pattern too long"));
        }
        let re = regex::RegexBuilder::new(&key)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                line.error(format!(
                    "'{pattern}' is not a regex sluice can use (Perl-only syntax?): {}",
                    e.to_string().lines().last().unwrap_or("")
                ))
            })?;
        self.conf.regexes.insert(key, re);
        Ok(())
    }
}

/// gitolite's `s/^['"](.*)["']$/$1/`.
fn strip_quotes(v: &str) -> &str {
    let b = v.as_bytes();
    if b.len() >= 2 && matches!(b[0], b'"' | b'\'') && matches!(b[b.len() - 1], b'"' | b'\'') {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::super::lines::{read, Files, MAIN_CONF};
    use super::*;

    fn conf(text: &str) -> Result<Conf, Error> {
        let files: Files = [(MAIN_CONF.to_string(), text.as_bytes().to_vec())].into();
        Conf::parse(&read(&files)?)
    }

    #[test]
    fn groups_expand_when_used() {
        let c = conf("@dev = a b\n@staff = @dev c\n@dev = d\nrepo x\n RW = @staff\n").unwrap();
        let staff: Vec<_> = c.members["@staff"].iter().cloned().collect();
        assert_eq!(staff, ["a", "b", "c"]);
        assert_eq!(c.member_of["d"], ["@dev"]);
        assert!(conf("@s = @nope\n")
            .unwrap_err()
            .to_string()
            .contains("undefined group"));
    }

    #[test]
    fn rules_get_default_and_qualified_refexes() {
        let c = conf("repo foo bar.git\n RW+ = alice\n - master refs/tags/v = bob\n").unwrap();
        let foo = &c.repos["foo"];
        assert_eq!(foo["alice"][0].refex, "refs/.*");
        let bob: Vec<_> = foo["bob"].iter().map(|r| r.refex.as_str()).collect();
        assert_eq!(bob, ["refs/heads/master", "refs/tags/v"]);
        assert!(c.repos.contains_key("bar"));
        assert_eq!(foo["bob"][1].seq, 3);
    }

    #[test]
    fn config_lines_and_bad_values() {
        let c = conf("repo x\n config hooks.list = 'a@b.c'\n option deny-rules = 1\n").unwrap();
        let keys: Vec<_> = c.configs["x"]
            .iter()
            .map(|l| (l.key.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("hooks.list", "a@b.c"),
                ("gitolite-options.deny-rules", "1")
            ]
        );
        assert!(conf("repo x\n config a.b = $(rm)\n").is_err());
        assert!(conf("repo x\n frobnicate\n")
            .unwrap_err()
            .to_string()
            .contains("syntax error"));
    }

    #[test]
    fn perl_only_regexes_are_refused() {
        let e = conf("repo a(b)\\1\n R = a\n").unwrap_err().to_string();
        assert!(e.contains("not a regex"), "{e}");
    }
}
