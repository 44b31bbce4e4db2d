//! `receive.denyCurrentBranch=updateInstead`: a push to the checked-out branch of a non-bare
//! repository updates its index and working tree, or is refused when they are dirty; the
//! `push-to-checkout` hook replaces that update when present. Every case runs against Sluice and
//! C git's `git-receive-pack` on twin repositories in the same run, and compares client output,
//! working tree, index, `git status` and refs.
// See: #16

mod common;

use common::receive::{client_lines, push_via, Server, SERVERS};
use common::*;
use std::path::{Path, PathBuf};

/// A non-bare server repository per server (twins) with `updateInstead`, and a clone to push
/// from. Returns (dir, work, [(server, repo)]).
fn setup() -> (tempfile::TempDir, PathBuf, Vec<(Server, PathBuf)>) {
    let dir = scratch();
    let seed = dir.path().join("seed");
    git_ok(
        dir.path(),
        &["init", "-q", "-b", "main", seed.to_str().unwrap()],
    );
    std::fs::create_dir_all(seed.join("dir/sub")).unwrap();
    std::fs::write(seed.join("a.txt"), "a\n").unwrap();
    std::fs::write(seed.join("gone.txt"), "bye\n").unwrap();
    std::fs::write(seed.join("dir/sub/deep.txt"), "deep\n").unwrap();
    std::fs::write(seed.join("dir/keep.txt"), "keep\n").unwrap();
    git_ok(&seed, &["add", "."]);
    git_ok(&seed, &["commit", "-q", "-m", "one"]);
    let mut servers = Vec::new();
    for s in SERVERS {
        let repo = dir.path().join(format!("server-{}", s.name()));
        copy_repo(&seed, &repo);
        git_ok(
            &repo,
            &["config", "receive.denyCurrentBranch", "updateInstead"],
        );
        git_ok(&repo, &["reset", "-q", "--hard"]);
        servers.push((s, repo));
    }
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            seed.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    (dir, work, servers)
}

/// Every file under `root` (but `.git`) with its kind, mode and content, sorted.
fn tree_listing(root: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if rel == ".git" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                out.push(format!(
                    "{rel} -> {}",
                    std::fs::read_link(&p).unwrap().display()
                ));
            } else if meta.is_dir() {
                out.push(format!("{rel}/"));
                stack.push(p);
            } else {
                let exec = meta.permissions().mode() & 0o111 != 0;
                let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
                out.push(format!("{rel} exec={exec} {text:?}"));
            }
        }
    }
    out.sort();
    out
}

/// The state the test compares between the servers.
fn state(repo: &Path) -> (Vec<String>, String, String, String) {
    (
        tree_listing(repo),
        git_ok(repo, &["ls-files", "-s"]),
        git_ok(repo, &["status", "--porcelain", "--untracked-files=all"]),
        refs(repo),
    )
}

/// Pushes `args` from `work` to each server; returns the normalized client output per server.
fn push_all(work: &Path, servers: &[(Server, PathBuf)], args: &[&str]) -> Vec<(bool, String)> {
    servers
        .iter()
        .map(|(s, repo)| {
            let out = push_via(*s, work, repo, args);
            // Deviation: what push-to-checkout and the checkout print reaches the pusher as
            // `remote:` lines (C git lets it go to its own stderr, which only a local or ssh
            // pusher sees).
            let text = client_lines(&out, repo).replace("remote: ", "");
            (out.status.success(), text)
        })
        .collect()
}

fn assert_same(results: &[(bool, String)], servers: &[(Server, PathBuf)]) {
    assert_eq!(results[0], results[1], "client output: sluice vs git");
    let (s, g) = (state(&servers[0].1), state(&servers[1].1));
    assert_eq!(s, g, "server state: sluice vs git");
}

#[test]
fn push_to_the_checked_out_branch_updates_index_and_working_tree() {
    let (_dir, work, servers) = setup();
    std::fs::write(work.join("a.txt"), "a changed\n").unwrap();
    std::fs::remove_file(work.join("gone.txt")).unwrap();
    std::fs::remove_dir_all(work.join("dir/sub")).unwrap();
    std::fs::create_dir_all(work.join("new/deeper")).unwrap();
    std::fs::write(work.join("new/deeper/n.txt"), "n\n").unwrap();
    std::fs::write(work.join("run.sh"), "#!/bin/sh\n").unwrap();
    std::os::unix::fs::symlink("a.txt", work.join("link")).unwrap();
    git_ok(&work, &["add", "-A"]);
    git_ok(&work, &["update-index", "--chmod=+x", "run.sh"]);
    git_ok(&work, &["commit", "-q", "-m", "two"]);
    let results = push_all(&work, &servers, &["main"]);
    assert!(results[0].0, "sluice push failed: {}", results[0].1);
    assert_same(&results, &servers);
    let (listing, _, status, _) = state(&servers[0].1);
    assert_eq!(status, "", "git status must be clean after the push");
    assert!(
        listing.contains(&"run.sh exec=true \"#!/bin/sh\\n\"".to_string()),
        "{listing:?}"
    );
    assert!(
        listing.contains(&"link -> a.txt".to_string()),
        "{listing:?}"
    );
    assert!(
        !listing.iter().any(|l| l.starts_with("dir/sub")),
        "{listing:?}"
    );
    let head = git_ok(&work, &["rev-parse", "HEAD"]);
    for (_, repo) in &servers {
        assert_eq!(git_ok(repo, &["rev-parse", "HEAD"]), head);
        fsck(repo);
    }
    // A second push on top of the updated index (stat data written by the first) works too.
    std::fs::write(work.join("a.txt"), "a third\n").unwrap();
    git_ok(&work, &["commit", "-q", "-am", "three"]);
    let results = push_all(&work, &servers, &["main"]);
    assert!(results[0].0, "{}", results[0].1);
    assert_same(&results, &servers);
}

/// Something done to a server's working tree or index before a push.
type Dirty<'a> = &'a dyn Fn(&Path);

#[test]
fn dirty_trees_are_refused_with_c_gits_reasons() {
    let (_dir, work, servers) = setup();
    std::fs::write(work.join("a.txt"), "pushed\n").unwrap();
    git_ok(&work, &["commit", "-q", "-am", "two"]);
    // (what to do to the server's tree, the reason C git gives)
    let cases: [(Dirty, &str); 3] = [
        (
            &|r: &Path| std::fs::write(r.join("a.txt"), "edited on the server\n").unwrap(),
            "Working directory has unstaged changes",
        ),
        (
            &|r: &Path| {
                std::fs::write(r.join("dir/keep.txt"), "staged\n").unwrap();
                git_ok(r, &["add", "dir/keep.txt"]);
            },
            "Working directory has staged changes",
        ),
        (
            &|r: &Path| std::fs::remove_file(r.join("gone.txt")).unwrap(),
            "Working directory has unstaged changes",
        ),
    ];
    for (dirty, reason) in cases {
        for (_, repo) in &servers {
            git_ok(repo, &["reset", "-q", "--hard"]);
            dirty(repo);
        }
        let results = push_all(&work, &servers, &["main"]);
        assert!(!results[0].0, "a dirty tree must refuse the push");
        assert!(results[0].1.contains(reason), "{reason}: {}", results[0].1);
        assert_same(&results, &servers);
    }
    // An untracked file where the push adds one: refused when the checkout is attempted.
    std::fs::write(work.join("added.txt"), "tracked in the push\n").unwrap();
    git_ok(&work, &["add", "added.txt"]);
    git_ok(&work, &["commit", "-q", "-m", "adds"]);
    for (_, repo) in &servers {
        git_ok(repo, &["reset", "-q", "--hard"]);
        std::fs::write(repo.join("added.txt"), "untracked\n").unwrap();
    }
    let results = push_all(&work, &servers, &["main"]);
    assert!(!results[0].0);
    assert!(
        results[0]
            .1
            .contains("Could not update working tree to new HEAD"),
        "{}",
        results[0].1
    );
    assert_same(&results, &servers);
}

#[test]
fn push_to_checkout_hook_replaces_the_update() {
    let (dir, work, servers) = setup();
    std::fs::write(work.join("a.txt"), "hooked\n").unwrap();
    git_ok(&work, &["commit", "-q", "-am", "two"]);
    let new = git_ok(&work, &["rev-parse", "HEAD"]).trim().to_string();
    for (s, repo) in &servers {
        let log = dir.path().join(format!("hook-{}.log", s.name()));
        let hook = repo.join(".git/hooks/push-to-checkout");
        std::fs::write(
            &hook,
            format!(
                "#!/bin/sh\necho \"$1 $#\" > {log}\necho \"wt=$GIT_WORK_TREE\" >> {log}\necho checking out >&2\ngit read-tree -u -m HEAD \"$1\"\n",
                log = log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The hook also runs when the tree is dirty: it decides, not the built-in check.
        std::fs::write(repo.join("untracked.txt"), "mine\n").unwrap();
    }
    let results = push_all(&work, &servers, &["main"]);
    assert!(results[0].0, "{}", results[0].1);
    assert!(results[0].1.contains("checking out"), "{}", results[0].1);
    assert_same(&results, &servers);
    for (s, repo) in &servers {
        let log =
            std::fs::read_to_string(dir.path().join(format!("hook-{}.log", s.name()))).unwrap();
        let wt = std::fs::canonicalize(repo).unwrap();
        assert_eq!(log, format!("{new} 1\nwt={}\n", wt.display()), "{s:?}");
    }
    // A hook that declines refuses the push, and the tree stays as it was.
    std::fs::write(work.join("a.txt"), "declined\n").unwrap();
    git_ok(&work, &["commit", "-q", "-am", "three"]);
    for (_, repo) in &servers {
        std::fs::write(
            repo.join(".git/hooks/push-to-checkout"),
            "#!/bin/sh\nexit 1\n",
        )
        .unwrap();
    }
    let results = push_all(&work, &servers, &["main"]);
    assert!(!results[0].0);
    assert!(
        results[0].1.contains("push-to-checkout hook declined"),
        "{}",
        results[0].1
    );
    assert_same(&results, &servers);
}
