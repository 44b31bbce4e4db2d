//! gitolite's access rules, table-tested: each fixture in tests/fixtures/gitolite/ holds a
//! configuration from gitolite's documentation, the repositories that exist (with wild-repo
//! creators and role assignments), and the expected decision per (repo, user, operation, ref).
//! Every case is checked against Sluice's reading of the configuration AND against gitolite
//! itself (Debian `gitolite3`, installed by scripts/test) on the same repositories on disk, so
//! the table cannot drift from what gitolite does.

mod common;

use std::path::Path;
use std::process::Command;

use sluice::access::gitolite::{Files, Site};

struct Table {
    name: String,
    conf: String,
    repos: Vec<RepoSpec>,
    cases: Vec<Case>,
}

struct RepoSpec {
    name: String,
    creator: Option<String>,
    perms: Vec<String>,
}

struct Case {
    repo: String,
    user: String,
    aa: String,
    refname: String,
    allow: bool,
}

fn parse_table(name: &str, text: &str) -> Table {
    let mut t = Table {
        name: name.to_string(),
        conf: String::new(),
        repos: Vec::new(),
        cases: Vec::new(),
    };
    let mut section = "";
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("== ") {
            section = match s {
                "conf" => "conf",
                "repos" => "repos",
                "cases" => "cases",
                other => panic!("{name}: unknown section {other}"),
            };
            continue;
        }
        match section {
            "conf" => {
                t.conf.push_str(line);
                t.conf.push('\n');
            }
            "repos" if !line.trim().is_empty() => t.repos.push(parse_repo(line)),
            "cases" if !line.trim().is_empty() => {
                let w: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(w.len(), 5, "{name}: bad case {line}");
                t.cases.push(Case {
                    repo: w[0].into(),
                    user: w[1].into(),
                    aa: w[2].into(),
                    refname: w[3].into(),
                    allow: match w[4] {
                        "allow" => true,
                        "deny" => false,
                        x => panic!("{name}: bad verdict {x}"),
                    },
                });
            }
            _ => {}
        }
    }
    t
}

/// `name [creator=U] [perms=ROLE a b;ROLE c]`
fn parse_repo(line: &str) -> RepoSpec {
    let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
    let (rest, perms) = match rest.split_once("perms=") {
        Some((r, p)) => (r, p.split(';').map(str::to_string).collect()),
        None => (rest, Vec::new()),
    };
    let creator = rest.trim().strip_prefix("creator=").map(str::to_string);
    RepoSpec {
        name: name.to_string(),
        creator,
        perms,
    }
}

fn tables() -> Vec<Table> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gitolite");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "fixtures missing in {}", dir.display());
    names
        .iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            parse_table(&name, &std::fs::read_to_string(p).unwrap())
        })
        .collect()
}

/// A site on disk as gitolite lays it out: `$HOME/.gitolite/conf`, `$HOME/repositories`.
fn lay_out(home: &Path, t: &Table, with_gitolite: bool) {
    if with_gitolite {
        let out = gitolite(home, None)
            .args(["setup", "-a", "admin"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gitolite setup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        std::fs::create_dir_all(home.join(".gitolite/conf")).unwrap();
    }
    std::fs::write(home.join(".gitolite/conf/gitolite.conf"), &t.conf).unwrap();
    for r in &t.repos {
        let dir = home.join("repositories").join(format!("{}.git", r.name));
        std::fs::create_dir_all(&dir).unwrap();
        common::git_ok(&dir, &["init", "-q", "--bare"]);
        if let Some(c) = &r.creator {
            std::fs::write(dir.join("gl-creator"), format!("{c}\n")).unwrap();
        }
        if !r.perms.is_empty() {
            std::fs::write(dir.join("gl-perms"), r.perms.join("\n") + "\n").unwrap();
        }
    }
    if with_gitolite {
        // `setup` installs gitolite's hooks in every repository (its access check requires
        // them), `compile` reads the conf.
        for args in [&["setup"][..], &["compile"][..]] {
            let out = gitolite(home, None).args(args).output().unwrap();
            assert!(
                out.status.success(),
                "gitolite {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

fn gitolite(home: &Path, user: Option<&str>) -> Command {
    let mut c = Command::new("gitolite");
    c.env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GL_USER")
        .current_dir(home);
    if let Some(u) = user {
        c.env("GL_USER", u);
    }
    c
}

fn gitolite_installed() -> bool {
    let ok = Command::new("gitolite").arg("version").output().is_ok();
    if !ok && std::env::var("SLUICE_SKIP_SYSTEM_TESTS").is_err() {
        panic!("gitolite (Debian gitolite3) is not installed: scripts/test installs it; set SLUICE_SKIP_SYSTEM_TESTS=1 to skip");
    }
    ok
}

/// What `gitolite access` does to its perm argument before asking (its `adjust_aa`): `C`,
/// `D` and `M` mean plain writes unless the repository's rules use those qualifiers.
fn adjust_aa(site: &Site, repo: &str, user: &str, aa: &str) -> String {
    let on = |o: &str| site.conf.option(&site.state(), repo, user, o).is_some();
    match aa {
        "C" if !on("CREATE_IS_C") => "W",
        "D" if !on("DELETE_IS_D") => "+",
        "M" if !on("MERGE_CHECK") => "W",
        _ => aa,
    }
    .to_string()
}

/// Checks one table against Sluice and (when installed) gitolite; returns the mismatches.
fn check_table(t: &Table, with_gitolite: bool) -> Vec<String> {
    let mut failures = Vec::new();
    let home = common::scratch();
    lay_out(home.path(), t, with_gitolite);
    let site = Site::load(
        &home.path().join(".gitolite"),
        &home.path().join("repositories"),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", t.name));
    for c in &t.cases {
        let aa = adjust_aa(&site, &c.repo, &c.user, &c.aa);
        let ours = site
            .conf
            .access(&site.state(), &c.repo, &c.user, &aa, &c.refname);
        if ours.allowed() != c.allow {
            failures.push(format!(
                "{} sluice: {} {} {} {} → {ours:?}",
                t.name, c.repo, c.user, c.aa, c.refname
            ));
        }
        if with_gitolite {
            let theirs = gitolite(home.path(), Some(&c.user))
                .args(["access", "-q", &c.repo, &c.user, &c.aa, &c.refname])
                .status()
                .unwrap()
                .success();
            if theirs != c.allow {
                failures.push(format!(
                    "{} gitolite: {} {} {} {} → {theirs}",
                    t.name, c.repo, c.user, c.aa, c.refname
                ));
            }
        }
    }
    if with_gitolite {
        failures.extend(compare_info(t, &site, home.path()));
    }
    failures
}

/// `info` for every user of the table, line for line after the greeting (which names the
/// server).
fn compare_info(t: &Table, site: &Site, home: &Path) -> Vec<String> {
    let users: std::collections::BTreeSet<&str> = t.cases.iter().map(|c| c.user.as_str()).collect();
    let body = |s: &str| s.lines().skip(1).map(str::to_string).collect::<Vec<_>>();
    let mut failures = Vec::new();
    for user in users {
        let out = gitolite(home, Some(user)).arg("info").output().unwrap();
        let theirs = String::from_utf8_lossy(&out.stdout);
        let ours = site.info(user, "host");
        if body(&ours) != body(&theirs) {
            failures.push(format!(
                "{} info for {user}:\nsluice:\n{ours}gitolite:\n{theirs}",
                t.name
            ));
        }
    }
    failures
}

/// Tables run in parallel: each lays out its own site (gitolite's setup is slow Perl).
#[test]
fn every_table_matches_sluice_and_gitolite() {
    let with_gitolite = gitolite_installed();
    let tables = tables();
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = tables
            .iter()
            .map(|t| s.spawn(move || check_table(t, with_gitolite)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn broken_configurations_are_refused_with_the_line() {
    let cases = [
        ("repo a\n  RW = u\n  frobnicate x\n", "gitolite.conf:3"),
        ("@g = @undefined\n", "undefined group"),
        ("repo a\n  - NAME/secret = u\n", "NAME/"),
        ("repo a\n  RW+ = u/x\n", "bad username"),
    ];
    for (conf, want) in cases {
        let files: Files = [("conf/gitolite.conf".to_string(), conf.as_bytes().to_vec())].into();
        let e = sluice::access::gitolite::load(&files)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{conf:?}: {e}");
    }
}
