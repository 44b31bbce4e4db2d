//! `core.sharedRepository`: under a restrictive umask, every directory and file a push creates
//! (loose objects and their directories, packs and indexes, refs and their directories) gets the
//! modes C git's receive-pack gives it, so the group can keep using the repository. Each case
//! runs the same pushes through C git's receive-pack as the oracle and compares the modes.
// See: #16

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Mode bits (with set-group-id) of every path below `repo` that a push creates, keyed by a
/// name that is the same for both servers (pack names by extension only).
fn modes(repo: &Path) -> std::collections::BTreeMap<String, u32> {
    let mut out = std::collections::BTreeMap::new();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    for e in std::fs::read_dir(repo.join("objects")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.len() == 2 {
            out.insert(format!("objects/{name}/"), mode(&e.path()));
            for f in std::fs::read_dir(e.path()).unwrap().flatten() {
                out.insert(
                    format!("objects/{name}/{}", f.file_name().to_string_lossy()),
                    mode(&f.path()),
                );
            }
        }
    }
    for e in std::fs::read_dir(repo.join("objects/pack"))
        .unwrap()
        .flatten()
    {
        let p = e.path();
        if let Some(ext) = p.extension().map(|x| x.to_string_lossy().into_owned()) {
            if ext == "pack" || ext == "idx" {
                out.insert(format!("objects/pack/*.{ext}"), mode(&p));
            }
        }
    }
    for r in [
        "refs/heads/main",
        "refs/heads/topic",
        "refs/heads/topic/one",
    ] {
        out.insert(r.to_string(), mode(&repo.join(r)));
    }
    out
}

fn push_all(work: &Path, dst: &Path, receive_pack: &str) {
    let url = format!("file://{}", dst.display());
    let flag = format!("--receive-pack=umask 077; {receive_pack}");
    for refspec in [
        "HEAD~1:refs/heads/main",
        "HEAD:refs/heads/main",
        "HEAD:refs/heads/topic/one",
    ] {
        let out = git(work, &["push", "-q", &flag, &url, refspec]);
        assert!(
            out.status.success(),
            "{refspec}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn pushes_create_what_c_git_creates_under_every_setting() {
    let dir = scratch();
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &["init", "-q", "-b", "main", work.to_str().unwrap()],
    );
    std::fs::write(work.join("a"), "a\n").unwrap();
    git_ok(&work, &["add", "a"]);
    git_ok(&work, &["commit", "-q", "-m", "small: stored loose"]);
    for i in 0..120 {
        std::fs::write(work.join(format!("f{i}")), format!("{i}\n")).unwrap();
    }
    git_ok(&work, &["add", "."]);
    git_ok(&work, &["commit", "-q", "-m", "large: kept as a pack"]);
    let sluice_rp = format!("{} receive-pack", sluice());
    for setting in ["group", "all", "0640", "umask"] {
        let mut seen = Vec::new();
        for (name, rp) in [("sluice", sluice_rp.as_str()), ("git", "git-receive-pack")] {
            let dst = dir.path().join(format!("{name}-{setting}.git"));
            git_ok(
                dir.path(),
                &["init", "-q", "--bare", "-b", "main", dst.to_str().unwrap()],
            );
            git_ok(&dst, &["config", "core.sharedRepository", setting]);
            push_all(&work, &dst, rp);
            git_ok(&dst, &["fsck", "--strict"]);
            seen.push(modes(&dst));
        }
        assert!(
            seen[0].keys().any(|k| k.ends_with(".pack")),
            "{:?}",
            seen[0]
        );
        assert!(
            seen[0]
                .keys()
                .any(|k| k.starts_with("objects/") && k.len() > 12),
            "no loose object"
        );
        let show = |m: &std::collections::BTreeMap<String, u32>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v:o}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            show(&seen[0]),
            show(&seen[1]),
            "core.sharedRepository={setting}: sluice (left) vs C git (right)"
        );
    }
}
