//! The distributed backend end to end: real git pushing to and cloning from `sluice` with
//! `--backend-config`, over a 3-member etcd cluster and Ceph radosgw (see
//! `tests/common/engines.rs`). Two front ends are two `sluice` processes with their own cache
//! directories and their own first etcd member, reached through `ext::`.
//!
//! Every scenario ends with the invariants: each push git reported as accepted is in the refs,
//! `git fsck --strict` passes on a cold-cache clone through each front end, and every pack the
//! ref store lists has its `.pack` and `.idx`.
//!
//! With `SLUICE_TEST_SERVER=git` the sequences that have a C git equivalent (push, clone,
//! fetch, the race) run against `git-receive-pack`/`git-upload-pack` on a bare repository
//! instead, which checks the tests' expectations.
#![cfg(feature = "distributed")]

mod common;
#[path = "common/engines.rs"]
mod engines;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{against_git, commit_line as commit, fsck, git, git_cmd, git_ok, scratch, sluice};

/// One front end: a config file (own cache, own first etcd member), or C git's programs on a
/// bare repository under `root` when testing against git.
struct FrontEnd {
    config: Option<PathBuf>,
    root: PathBuf,
}

/// A per-test world: a key prefix of its own and two front ends.
struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    fe: [FrontEnd; 2],
    prefix: String,
}

fn world(name: &str) -> Option<World> {
    let tmp = scratch();
    let dir = tmp.path().to_path_buf();
    let prefix = format!("t-{name}-{}", std::process::id());
    let fe = if against_git() {
        let root = dir.join("git-root");
        std::fs::create_dir_all(&root).unwrap();
        [
            FrontEnd {
                config: None,
                root: root.clone(),
            },
            FrontEnd { config: None, root },
        ]
    } else {
        let e = engines::engines()?;
        [0, 2].map(|first| {
            let cache = dir.join(format!("cache{first}"));
            let cfg = e.config_file(&dir.join(format!("fe{first}.conf")), &cache, first, &prefix);
            FrontEnd {
                config: Some(cfg),
                root: dir.clone(),
            }
        })
    };
    Some(World {
        _tmp: tmp,
        dir,
        fe,
        prefix,
    })
}

impl FrontEnd {
    /// The remote URL for repository `name`.
    fn url(&self, name: &str) -> String {
        match &self.config {
            Some(_) => format!("ext::{} %S {name}", sluice()),
            None => format!("ext::git %s {}", self.root.join(name).display()),
        }
    }

    /// A git command that reaches this front end.
    fn git(&self, dir: &Path, args: &[&str]) -> Output {
        let mut c = git_cmd(dir);
        c.args(["-c", "protocol.ext.allow=always"]).args(args);
        if let Some(cfg) = &self.config {
            c.env("SLUICE_BACKEND_CONFIG", cfg);
        }
        c.output().unwrap()
    }

    /// Creates repository `name`.
    fn init(&self, name: &str) {
        let out = match &self.config {
            Some(cfg) => std::process::Command::new(sluice())
                .args(["init", "--backend-config"])
                .arg(cfg)
                .arg(name)
                .output()
                .unwrap(),
            None => git(&self.root, &["init", "-q", "--bare", "-b", "main", name]),
        };
        common::assert_success(&out, "init");
    }
}

/// A work repository with `n` commits on main (file `f`, one line per commit).
fn work_repo(at: &Path, n: usize, tag: &str) -> PathBuf {
    git_ok(
        at.parent().unwrap(),
        &["init", "-q", "-b", "main", at.to_str().unwrap()],
    );
    for i in 0..n {
        commit(at, &format!("{tag} {i}"));
    }
    at.to_path_buf()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Clones `name` through `fe` into a fresh directory, runs fsck --strict, returns the clone.
fn clone_checked(w: &World, fe: usize, name: &str, into: &str) -> PathBuf {
    let dst = w.dir.join(into);
    let out = w.fe[fe].git(
        &w.dir,
        &[
            "clone",
            "-q",
            "--mirror",
            &w.fe[fe].url(name),
            dst.to_str().unwrap(),
        ],
    );
    common::assert_success(&out, "clone");
    fsck(&dst);
    dst
}

/// One work clone of `name` through each front end, in `<tag>-0` and `<tag>-1`.
fn work_clones(w: &World, name: &str, tag: &str) -> Vec<PathBuf> {
    (0..2)
        .map(|i| {
            let d = w.dir.join(format!("{tag}-{i}"));
            let o = w.fe[i].git(
                &w.dir,
                &["clone", "-q", &w.fe[i].url(name), d.to_str().unwrap()],
            );
            common::assert_success(&o, "work clone");
            d
        })
        .collect()
}

/// Every listed pack has its `.idx` in the bucket (a cold-cache advertisement through a third
/// cache downloads each listed index and verifies it names its pack; the clones read and
/// verify the `.pack` data).
fn listed_packs_complete(w: &World, name: &str) {
    if against_git() {
        return;
    }
    let e = engines::engines().unwrap();
    let cfg = e.config_file(
        &w.dir.join("check.conf"),
        &w.dir.join("check-cache"),
        1,
        &w.prefix,
    );
    let out = std::process::Command::new(sluice())
        .args(["upload-pack", "--advertise-refs", "--backend-config"])
        .arg(&cfg)
        .arg(name)
        .output()
        .unwrap();
    common::assert_success(&out, "advertise through a cold cache");
    let keys = e.etcd_get_prefix(&format!("{}/{name}/pack/", w.prefix));
    // Pack data is read in ranges on use; the view fetches every listed pack's index.
    let indexes = std::fs::read_dir(w.dir.join("check-cache/packs")).map_or(0, |d| {
        d.flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".idx"))
            .count()
    });
    assert_eq!(
        indexes * 2,
        keys.len(),
        "each listed pack (key+value lines: {keys:?}) has its .idx"
    );
    let _ = std::fs::remove_dir_all(w.dir.join("check-cache"));
}

#[test]
fn push_clone_fetch_through_two_front_ends() {
    let Some(w) = world("roundtrip") else { return };
    w.fe[0].init("r.git");
    let src = work_repo(&w.dir.join("src"), 3, "one");
    git_ok(&src, &["tag", "-a", "-m", "v1", "v1"]);
    let out = w.fe[0].git(&src, &["push", &w.fe[0].url("r.git"), "main", "v1"]);
    common::assert_success(&out, "push");

    // A cold-cache clone through the other front end has exactly the pushed refs.
    let clone = clone_checked(&w, 1, "r.git", "c1");
    assert_eq!(
        common::refs(&clone),
        common::refs(&src).replace(" refs/", " refs/")
    );
    assert_eq!(
        git_ok(&clone, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );

    // An incremental push through front end 1, fetched through front end 0.
    let tip = commit(&src, "two");
    let out = w.fe[1].git(&src, &["push", &w.fe[1].url("r.git"), "main"]);
    common::assert_success(&out, "second push");
    let out = w.fe[0].git(
        &clone,
        &["fetch", "-q", &w.fe[0].url("r.git"), "+refs/*:refs/*"],
    );
    common::assert_success(&out, "fetch");
    assert_eq!(git_ok(&clone, &["rev-parse", "main"]).trim(), tip);
    fsck(&clone);

    // Deleting a branch and pushing a new one.
    git_ok(&src, &["branch", "side", "HEAD~1"]);
    let out = w.fe[0].git(
        &src,
        &["push", &w.fe[0].url("r.git"), "side", ":refs/tags/v1"],
    );
    common::assert_success(&out, "push side, delete tag");
    let again = clone_checked(&w, 0, "r.git", "c2");
    let refs = common::refs(&again);
    assert!(
        refs.contains("refs/heads/side") && !refs.contains("refs/tags/v1"),
        "{refs}"
    );
    listed_packs_complete(&w, "r.git");
}

#[test]
fn a_missing_repository_and_a_bad_config_are_refused_with_one_line() {
    let Some(w) = world("refusals") else { return };
    if against_git() {
        return;
    }
    let out = w.fe[0].git(&w.dir, &["ls-remote", &w.fe[0].url("nothing.git")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));

    let bad = w.dir.join("bad.conf");
    let text = std::fs::read_to_string(w.fe[0].config.as_ref().unwrap()).unwrap();
    std::fs::write(&bad, format!("{text}cache-size = 5\n")).unwrap();
    let out = std::process::Command::new(sluice())
        .args(["upload-pack", "--backend-config"])
        .arg(&bad)
        .arg("r.git")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty() || out.stdout.starts_with(b"00"),
        "stdout stays the wire"
    );
    let err = stderr(&out);
    assert!(err.contains("unknown key \"cache-size\""), "{err}");
}

/// Two front ends push diverging commits to the same branch at the same moment, several
/// rounds: exactly one wins each round, the loser is rejected, and the ref is the winner's.
#[test]
fn concurrent_pushes_to_one_branch_have_exactly_one_winner() {
    let Some(w) = world("race") else { return };
    w.fe[0].init("race.git");
    let base = work_repo(&w.dir.join("base"), 1, "base");
    common::assert_success(
        &w.fe[0].git(&base, &["push", &w.fe[0].url("race.git"), "main"]),
        "seed",
    );
    let rounds = 5;
    let mut accepted = Vec::new();
    // Losers the ref transaction refused (the rest lost before it, to the client's own
    // fast-forward check on refs that had already moved).
    let mut lock_failures = 0;
    for round in 0..rounds {
        let clones = work_clones(&w, "race.git", &format!("r{round}"));
        let tips: Vec<String> = clones
            .iter()
            .enumerate()
            .map(|(i, d)| commit(d, &format!("round {round} side {i}")))
            .collect();
        let outs: Vec<Output> = std::thread::scope(|s| {
            let hs: Vec<_> = clones
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let fe = &w.fe[i];
                    s.spawn(move || fe.git(d, &["push", &fe.url("race.git"), "main"]))
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<usize> = (0..2).filter(|&i| outs[i].status.success()).collect();
        let texts: Vec<String> = outs.iter().map(stderr).collect();
        lock_failures += texts
            .iter()
            .filter(|t| t.contains("cannot lock ref"))
            .count();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: {:?}",
            outs.iter().map(stderr).collect::<Vec<_>>()
        );
        let loser = 1 - winners[0];
        let why = stderr(&outs[loser]);
        assert!(
            why.contains("cannot lock ref 'refs/heads/main'") || why.contains("[rejected]"),
            "round {round}: the loser is told why: {why}"
        );
        accepted.push(tips[winners[0]].clone());
        let now = w.fe[0].git(
            &w.dir,
            &["ls-remote", &w.fe[0].url("race.git"), "refs/heads/main"],
        );
        assert!(String::from_utf8_lossy(&now.stdout).starts_with(&tips[winners[0]]));
    }
    eprintln!(
        "race: {rounds} rounds, {rounds} accepted, {lock_failures} refused by the ref transaction"
    );
    // Every accepted push is in the history of the final ref.
    let clone = clone_checked(&w, 1, "race.git", "final");
    for tip in &accepted {
        let o = git(&clone, &["merge-base", "--is-ancestor", tip, "main"]);
        assert!(o.status.success(), "accepted {tip} is in main");
    }
    listed_packs_complete(&w, "race.git");
}

/// A front end killed at each step of a push: before the ref transaction no ref moves; after
/// it the push is durable and a repeated push has nothing to do.
#[test]
fn a_front_end_killed_mid_push_leaves_no_torn_state() {
    let Some(w) = world("faults") else { return };
    if against_git() {
        return;
    }
    w.fe[0].init("f.git");
    let src = work_repo(&w.dir.join("src"), 1, "seed");
    common::assert_success(
        &w.fe[0].git(&src, &["push", &w.fe[0].url("f.git"), "main"]),
        "seed",
    );
    let head = |w: &World| {
        let o = w.fe[1].git(
            &w.dir,
            &["ls-remote", &w.fe[1].url("f.git"), "refs/heads/main"],
        );
        String::from_utf8_lossy(&o.stdout)
            .split('\t')
            .next()
            .unwrap_or("")
            .to_string()
    };
    for point in ["after-pack-upload", "after-idx-upload"] {
        let before = head(&w);
        commit(&src, point);
        let mut c = git_cmd(&src);
        c.args([
            "-c",
            "protocol.ext.allow=always",
            "push",
            &w.fe[0].url("f.git"),
            "main",
        ])
        .env("SLUICE_BACKEND_CONFIG", w.fe[0].config.as_ref().unwrap())
        .env("SLUICE_FAULT", point);
        let out = c.output().unwrap();
        assert!(
            !out.status.success(),
            "{point}: the push is not reported as accepted"
        );
        assert_eq!(head(&w), before, "{point}: no ref moved");
    }
    let tip = commit(&src, "after-txn");
    let mut c = git_cmd(&src);
    c.args([
        "-c",
        "protocol.ext.allow=always",
        "push",
        &w.fe[0].url("f.git"),
        "main",
    ])
    .env("SLUICE_BACKEND_CONFIG", w.fe[0].config.as_ref().unwrap())
    .env("SLUICE_FAULT", "after-txn");
    let out = c.output().unwrap();
    assert!(!out.status.success(), "the client saw the connection break");
    assert_eq!(head(&w), tip, "the committed transaction is durable");
    let again = w.fe[1].git(&src, &["push", &w.fe[1].url("f.git"), "main"]);
    common::assert_success(&again, "re-push");
    assert!(
        stderr(&again).contains("Everything up-to-date"),
        "{}",
        stderr(&again)
    );
    clone_checked(&w, 1, "f.git", "after");
    listed_packs_complete(&w, "f.git");
}

/// `git push --atomic` of two refs racing a push of one of them, through the two front ends:
/// either the atomic push moved both refs or neither.
#[test]
fn an_atomic_push_racing_a_single_ref_push_is_all_or_nothing() {
    let Some(w) = world("atomic") else { return };
    w.fe[0].init("at.git");
    let base = work_repo(&w.dir.join("base"), 1, "base");
    git_ok(&base, &["branch", "other"]);
    common::assert_success(
        &w.fe[0].git(&base, &["push", &w.fe[0].url("at.git"), "main", "other"]),
        "seed",
    );
    let mut atomic_won = 0;
    for round in 0..4 {
        let dirs = work_clones(&w, "at.git", &format!("a{round}"));
        let before = git_ok(&dirs[0], &["rev-parse", "origin/other"])
            .trim()
            .to_string();
        let a_main = commit(&dirs[0], &format!("atomic {round}"));
        git_ok(&dirs[0], &["branch", "-f", "other", "HEAD"]);
        let b_main = commit(&dirs[1], &format!("single {round}"));
        let (a, b) = std::thread::scope(|s| {
            let (fa, fb) = (&w.fe[0], &w.fe[1]);
            let (da, db) = (&dirs[0], &dirs[1]);
            let ha = s.spawn(move || {
                fa.git(
                    da,
                    &["push", "--atomic", &fa.url("at.git"), "main", "other"],
                )
            });
            let hb = s.spawn(move || fb.git(db, &["push", &fb.url("at.git"), "main"]));
            (ha.join().unwrap(), hb.join().unwrap())
        });
        assert!(
            a.status.success() != b.status.success(),
            "round {round}: one wins: {} / {}",
            stderr(&a),
            stderr(&b)
        );
        let ls = w.fe[1].git(&w.dir, &["ls-remote", &w.fe[1].url("at.git")]);
        let ls = String::from_utf8_lossy(&ls.stdout).into_owned();
        let value = |r: &str| {
            ls.lines()
                .find(|l| l.ends_with(r))
                .and_then(|l| l.split('\t').next())
                .unwrap_or("")
                .to_string()
        };
        if a.status.success() {
            atomic_won += 1;
            assert_eq!(
                (value("refs/heads/main"), value("refs/heads/other")),
                (a_main.clone(), a_main)
            );
        } else {
            assert_eq!(
                (value("refs/heads/main"), value("refs/heads/other")),
                (b_main, before),
                "not torn"
            );
        }
    }
    eprintln!("atomic race: 4 rounds, the atomic push won {atomic_won}, torn: 0");
    clone_checked(&w, 0, "at.git", "final");
    listed_packs_complete(&w, "at.git");
}

/// The harness reports how long the engines took to start (scripts/engines/start measures it).
#[test]
fn the_engines_report_their_start_up_time() {
    if against_git() {
        return;
    }
    let Some(e) = engines::engines() else { return };
    let secs: Vec<f64> = e
        .ready_line
        .split_whitespace()
        .filter_map(|w| w.split_once('=').and_then(|(_, v)| v.parse().ok()))
        .collect();
    assert_eq!(
        secs.len(),
        2,
        "{} (state in {})",
        e.ready_line,
        e.dir.display()
    );
    assert!(
        secs.iter().all(|s| *s > 0.0 && *s < 120.0),
        "{}",
        e.ready_line
    );
}
