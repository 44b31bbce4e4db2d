//! Pushes write the reflogs C git's receive-pack writes (files ref store): the same `logs/`
//! files with the same lines, under each `core.logAllRefUpdates` setting.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Every file under `repo/logs`, by path relative to it, with its content.
fn logs(repo: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                out.insert(format!("{}/", rel(root, &path)), String::new());
                walk(root, &path, out);
            } else {
                out.insert(rel(root, &path), std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    fn rel(root: &Path, p: &Path) -> String {
        p.strip_prefix(root).unwrap().display().to_string()
    }
    let mut out = BTreeMap::new();
    walk(&repo.join("logs"), &repo.join("logs"), &mut out);
    out
}

/// `git push` from `work` to `repo` through `receive_pack`, as a pusher whose identity and
/// clock the server's reflog records.
fn push(work: &Path, receive_pack: &str, repo: &Path, refspecs: &[&str]) {
    let url = format!("file://{}", repo.display());
    let mut args = vec!["push", "-q", receive_pack, url.as_str()];
    args.extend(refspecs);
    let out = git_cmd(work)
        .env("GIT_COMMITTER_NAME", "P U Sher")
        .env("GIT_COMMITTER_EMAIL", "pusher@example.com")
        .env("GIT_COMMITTER_DATE", "1700000100 -0130")
        .args(&args)
        .output()
        .unwrap();
    assert_success(&out, &format!("push {refspecs:?} through {receive_pack}"));
}

#[test]
fn pushes_write_the_reflogs_git_receive_pack_writes() {
    let sluice_flag = format!("--receive-pack={} receive-pack", sluice());
    // `None`: the bare default, where only logs that exist grow (HEAD's and main's here).
    for setting in [Some("true"), Some("always"), Some("false"), None] {
        let dir = scratch();
        let ours = dir.path().join("ours.git");
        let theirs = dir.path().join("theirs.git");
        for repo in [&ours, &theirs] {
            copy_repo(&fixture("branches"), repo);
            match setting {
                Some(v) => drop(git_ok(repo, &["config", "core.logAllRefUpdates", v])),
                None => {
                    std::fs::create_dir_all(repo.join("logs/refs/heads")).unwrap();
                    std::fs::write(repo.join("logs/HEAD"), "").unwrap();
                    std::fs::write(repo.join("logs/refs/heads/main"), "").unwrap();
                }
            }
        }
        let work = dir.path().join("work");
        let url = format!("file://{}", theirs.display());
        git_ok(dir.path(), &["clone", "-q", &url, work.to_str().unwrap()]);
        commit_line(&work, "one");
        git_ok(&work, &["tag", "-a", "-m", "t", "v9"]);
        let many: Vec<String> = (0..20)
            .map(|i| format!("HEAD:refs/heads/many/b{i}"))
            .collect();
        let steps: Vec<Vec<&str>> = vec![
            // Fast-forward of HEAD's branch, a new branch, an annotated tag.
            vec!["HEAD:refs/heads/main", "HEAD:refs/heads/new", "v9"],
            // A deletion, a forced rewind.
            vec![":refs/heads/feature", "+HEAD~2:refs/heads/topic"],
            // Enough creations for Sluice to write them into packed-refs.
            many.iter().map(String::as_str).collect(),
            // A nested branch, then its deletion with another and a rewind of HEAD's branch.
            vec!["HEAD:refs/heads/nest/a/b"],
            vec![
                ":refs/heads/nest/a/b",
                ":refs/heads/many/b3",
                "+HEAD~1:refs/heads/main",
            ],
        ];
        for (n, refspecs) in steps.iter().enumerate() {
            push(&work, &sluice_flag, &ours, refspecs);
            push(&work, "--receive-pack=git-receive-pack", &theirs, refspecs);
            assert_eq!(
                logs(&ours),
                logs(&theirs),
                "logs/ after push {n} ({refspecs:?}), core.logAllRefUpdates = {setting:?}"
            );
            assert_eq!(refs(&ours), refs(&theirs));
        }
        let logged = logs(&theirs);
        if setting == Some("true") {
            // The comparison saw entries: C git logged the branches and HEAD.
            assert!(logged["HEAD"].contains("\tpush\n"), "{logged:?}");
            assert!(logged.contains_key("refs/heads/new"));
            assert!(!logged.contains_key("refs/tags/v9"));
        }
        if setting == Some("always") {
            assert!(logged.contains_key("refs/tags/v9"));
        }
        if setting.is_some_and(|v| v != "false") {
            let reflog = git_ok(&ours, &["reflog", "show", "--format=%gs", "refs/heads/new"]);
            assert_eq!(reflog, "push\n");
        }
        fsck(&ours);
    }
}
