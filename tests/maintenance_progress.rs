//! Progress of `sluice repack` and `sluice write-commit-graph`: git's stage lines (counting,
//! compressing, writing, the commit-graph stages) on stderr with `--progress` (and on a
//! terminal); none when stderr is not a terminal (cron); nothing at all with `--quiet`.

mod common;

use common::*;
use std::path::Path;

/// `sluice ARGS... REPO` with stderr a pipe (not a terminal); returns stderr, `\r` as newlines.
fn maintenance(args: &[&str], repo: &Path) -> String {
    let out = std::process::Command::new(sluice())
        .args(args)
        .arg(repo)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).replace('\r', "\n");
    assert!(out.status.success(), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "stdout stays empty");
    err
}

/// A private copy of a fixture with loose objects, so repack has work to do.
fn repo() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = scratch();
    let repo = dir.path().join("repo.git");
    copy_repo(&fixture("loose_history"), &repo);
    (dir, repo)
}

#[test]
fn repack_progress_shows_git_stages() {
    let (_dir, repo) = repo();
    let err = maintenance(&["repack", "--progress"], &repo);
    for stage in [
        "Counting objects: 100% (",
        "Compressing objects: 100% (",
        "Writing objects: 100% (",
        "Expanding reachable commits in commit graph: ",
        "Writing out commit graph: 100% (",
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with(stage) && l.ends_with(", done.")),
            "no finished {stage:?} line in:\n{err}"
        );
    }
    assert!(err.lines().any(|l| l.starts_with("Total ")), "{err}");
    assert!(err.lines().any(|l| l.starts_with("repacked: ")), "{err}");
}

#[test]
fn no_progress_when_stderr_is_not_a_terminal() {
    let (_dir, repo) = repo();
    let err = maintenance(&["repack"], &repo);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("repacked: "), "{err}");
    let err = maintenance(&["write-commit-graph"], &repo);
    assert!(err.starts_with("commit-graph written: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn quiet_prints_nothing_and_progress_forces() {
    let (_dir, repo) = repo();
    assert_eq!(maintenance(&["repack", "--quiet"], &repo), "");
    assert_eq!(maintenance(&["write-commit-graph", "-q"], &repo), "");
    let err = maintenance(&["write-commit-graph", "--progress"], &repo);
    assert!(err.contains("Writing out commit graph: 100% ("), "{err}");
}
