//! `ssh git@host info`, as gitolite's `info` command prints it: a greeting, then the
//! repository patterns the user may create or use (` R W C`), then every existing repository
//! the user can read or write, each with its marks.

use std::collections::BTreeSet;

use super::eval::RepoState;
use super::names::is_repo_name;
use super::Conf;

/// The info text for `user`; `physical` lists existing repository names (without `.git`),
/// `host` names this server in the greeting.
pub fn info(
    conf: &Conf,
    state: &dyn RepoState,
    user: &str,
    physical: &[String],
    host: &str,
) -> String {
    let mut out = format!(
        "hello {user}, this is {host} running sluice {} (gitolite-compatible)\n\n",
        env!("CARGO_PKG_VERSION")
    );
    let patterns: Vec<String> = pattern_repos(conf);
    listem(conf, state, user, &patterns, &["R", "W", "^C"], &mut out);
    listem(conf, state, user, physical, &["R", "W"], &mut out);
    out
}

/// Repository patterns named in the conf (also as members of repo groups).
fn pattern_repos(conf: &Conf) -> Vec<String> {
    let mut all = BTreeSet::new();
    for r in conf.repos.keys() {
        match r.starts_with('@') {
            true => all.extend(conf.members.get(r).into_iter().flatten().cloned()),
            false => {
                all.insert(r.clone());
            }
        }
    }
    all.into_iter().filter(|r| !is_repo_name(r)).collect()
}

fn listem(
    conf: &Conf,
    state: &dyn RepoState,
    user: &str,
    repos: &[String],
    ops: &[&str],
    out: &mut String,
) {
    for repo in repos {
        let mut perm = String::new();
        for aa in ops {
            match conf.access(state, repo, user, aa, "any").allowed() {
                true => perm.push_str(&format!(" {}", aa.trim_start_matches('^'))),
                false => perm.push_str("  "),
            }
        }
        if perm.trim().is_empty() {
            continue;
        }
        out.push_str(&format!("{perm}\t{repo}\n"));
    }
}
