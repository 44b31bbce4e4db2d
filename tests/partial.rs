//! Partial clones (`--filter`) through sluice: the clone works, lazy fetches of missing objects
//! go through sluice too, and no more objects are transferred than through C git.

mod common;

use common::*;
use std::path::Path;

fn objects(repo: &Path) -> u64 {
    let out = git_ok(repo, &["count-objects", "-v"]);
    let get = |k: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    get("count:") + get("in-pack:")
}

#[test]
fn filtered_clones_and_lazy_fetches() {
    let src = fixture("deltas");
    // The source must allow filters for C git (Sluice allows them by default).
    let dir = scratch();
    let src_copy = dir.path().join("src.git");
    copy_repo(&src, &src_copy);
    // C git needs both settings; Sluice serves filters and reachable wants by default, so it
    // gets its own copy without them.
    let sluice_src = dir.path().join("sluice-src.git");
    copy_repo(&src, &sluice_src);
    git_ok(&src_copy, &["config", "uploadpack.allowFilter", "true"]);
    git_ok(
        &src_copy,
        &["config", "uploadpack.allowAnySHA1InWant", "true"],
    );
    let url = format!("file://{}", src_copy.display());
    let sluice_url = if against_git() {
        url.clone()
    } else {
        format!("file://{}", sluice_src.display())
    };
    for version in ["0", "2"] {
        for filter in [
            "--filter=blob:none",
            "--filter=tree:0",
            "--filter=blob:limit=1k",
        ] {
            let v = format!("protocol.version={version}");
            let a = dir.path().join(format!("a{version}{}", filter.len()));
            let b = dir.path().join(format!("b{version}{}", filter.len()));
            let flag = upload_pack_flag();
            let out = git(
                dir.path(),
                &[
                    "-c",
                    &v,
                    "clone",
                    "-q",
                    "--no-checkout",
                    "--no-local",
                    filter,
                    &flag,
                    &sluice_url,
                    a.to_str().unwrap(),
                ],
            );
            assert!(
                out.status.success(),
                "{filter}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            // Lazy fetches must go through sluice too (clone does not record --upload-pack).
            if !against_git() {
                git_ok(
                    &a,
                    &[
                        "config",
                        "remote.origin.uploadpack",
                        &format!("{} upload-pack", sluice()),
                    ],
                );
            }
            let out = git(
                dir.path(),
                &[
                    "-c",
                    &v,
                    "clone",
                    "-q",
                    "--no-checkout",
                    "--no-local",
                    filter,
                    &url,
                    b.to_str().unwrap(),
                ],
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let (na, nb) = (objects(&a), objects(&b));
            assert!(
                na <= nb,
                "v{version} {filter}: sluice sent {na} objects, git {nb}"
            );
            assert!(na > 0);
            // A checkout of an old commit makes git fetch the missing blobs (through sluice for a,
            // since clone recorded remote.origin.uploadpack).
            for repo in [&a, &b] {
                let out = git(repo, &["-c", &v, "checkout", "-q", "main~50"]);
                assert!(
                    out.status.success(),
                    "{filter}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let out = git(repo, &["-c", &v, "checkout", "-q", "main"]);
                assert!(
                    out.status.success(),
                    "{filter}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            assert_eq!(
                std::fs::read(a.join("notes.txt")).unwrap(),
                std::fs::read(b.join("notes.txt")).unwrap()
            );
            let (na, nb) = (objects(&a), objects(&b));
            assert!(
                na <= nb,
                "v{version} {filter} after lazy fetches: sluice {na}, git {nb}"
            );
            let out = git(&a, &["fsck", "--no-progress"]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
