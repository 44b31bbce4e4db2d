//! Clones and fetches served with the help of stored indexes: reachability bitmaps
//! (`git repack -adb`), the commit-graph, and the pack itself (entries copied in runs). The result
//! must be what a plain history walk sends (same refs, `fsck --strict` clean, no more objects than
//! C git sends); wants outside the bitmapped pack, a stale commit-graph and a damaged bitmap fall
//! back to the walk.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// A copy of fixture `name` repacked with a bitmap.
fn bitmapped(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = scratch();
    let repo = dir.path().join("src.git");
    copy_repo(&fixture(name), &repo);
    git_ok(&repo, &["repack", "-a", "-d", "-b", "-q"]);
    assert!(bitmap_file(&repo).is_some(), "git wrote no bitmap");
    (dir, repo)
}

fn bitmap_file(repo: &Path) -> Option<PathBuf> {
    std::fs::read_dir(repo.join("objects/pack"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "bitmap"))
}

/// `git clone --progress` through the server; returns its stderr.
fn clone_progress(src: &Path, dst: &Path, version: u8) -> String {
    let flag = upload_pack_flag();
    let v = format!("protocol.version={version}");
    let url = format!("file://{}", src.display());
    let out = git(
        src.parent().unwrap(),
        &[
            "-c",
            &v,
            "clone",
            "--progress",
            "--bare",
            "--no-local",
            &flag,
            &url,
            dst.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

/// (total, pack-reused) from the server's `Total ...` progress line.
fn totals(stderr: &str) -> (u64, u64) {
    let line = stderr
        .split(['\r', '\n'])
        .find(|l| l.contains("remote: Total"))
        .unwrap_or_else(|| panic!("no Total line in {stderr}"));
    let num_after = |key: &str| -> u64 {
        let at = line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len();
        line[at..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (num_after("Total"), num_after("pack-reused"))
}

/// `git fetch` of every ref of `src` into `repo` through the server named by `flag`; returns
/// the object count the server reported.
fn fetch_all(repo: &Path, src: &Path, flag: &str) -> u64 {
    let url = format!("file://{}", src.display());
    let out = git(repo, &["fetch", "--progress", flag, &url, "refs/*:refs/*"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    totals(&err).0
}

#[test]
fn full_clone_copies_the_stored_pack() {
    for name in ["tags", "branches", "deltas"] {
        let (dir, src) = bitmapped(name);
        for v in [0, 2] {
            let dst = dir.path().join(format!("clone-v{v}"));
            let err = clone_progress(&src, &dst, v);
            let (total, reused) = totals(&err);
            if !against_git() {
                assert_eq!(
                    reused, total,
                    "{name} v{v}: every entry copied verbatim\n{err}"
                );
            }
            assert!(total > 0);
            assert_eq!(refs(&dst), refs(&src), "{name} v{v}");
            fsck(&dst);
        }
    }
}

#[test]
fn incremental_fetch_sends_no_more_than_git() {
    let (dir, src) = bitmapped("deltas");
    // Two identical old clones, then new history on the server, repacked with a bitmap.
    let old_a = dir.path().join("a.git");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            "--mirror",
            src.to_str().unwrap(),
            old_a.to_str().unwrap(),
        ],
    );
    let old_b = dir.path().join("b.git");
    copy_repo(&old_a, &old_b);
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &["clone", "-q", src.to_str().unwrap(), work.to_str().unwrap()],
    );
    for i in 0..5 {
        let f = work.join(format!("new{}.txt", i % 2));
        let mut text = std::fs::read_to_string(&f).unwrap_or_default();
        text.push_str(&format!("line {i} of the new history\n").repeat(20));
        std::fs::write(&f, text).unwrap();
        git_ok(&work, &["add", "."]);
        git_ok(&work, &["commit", "-q", "-m", &format!("new {i}")]);
    }
    git_ok(&work, &["tag", "-a", "-m", "annotated", "v-new"]);
    git_ok(&work, &["push", "-q", "origin", "HEAD", "v-new"]);
    git_ok(&src, &["repack", "-a", "-d", "-b", "-q"]);

    let fetch = |repo: &Path, flag: &str| fetch_all(repo, &src, flag);
    // Only the branches: the new annotated tag follows through include-tag.
    let old_c = dir.path().join("c.git");
    copy_repo(&old_b, &old_c);
    let url = format!("file://{}", src.display());
    let out = git(
        &old_c,
        &[
            "fetch",
            &upload_pack_flag(),
            &url,
            "+refs/heads/*:refs/heads/*",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        git_ok(&old_c, &["rev-parse", "v-new"]),
        git_ok(&src, &["rev-parse", "v-new"]),
        "annotated tag not followed"
    );
    fsck(&old_c);
    let ours = fetch(&old_a, &upload_pack_flag());
    let theirs = fetch(&old_b, "--upload-pack=git-upload-pack");
    assert!(ours <= theirs, "sent {ours} objects, C git {theirs}");
    assert!(ours > 0);
    assert_eq!(refs(&old_a), refs(&src));
    fsck(&old_a);
}

#[test]
fn objects_outside_the_bitmapped_pack_fall_back_to_the_walk() {
    let (dir, src) = bitmapped("branches");
    // A new commit stored loose: the want is not in the bitmapped pack.
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &["clone", "-q", src.to_str().unwrap(), work.to_str().unwrap()],
    );
    std::fs::write(work.join("loose.txt"), "loose\n").unwrap();
    git_ok(&work, &["add", "."]);
    git_ok(&work, &["commit", "-q", "-m", "loose"]);
    git_ok(&src, &["config", "transfer.unpackLimit", "100000"]);
    git_ok(&work, &["push", "-q", "origin", "HEAD"]);
    let dst = dir.path().join("clone");
    clone_progress(&src, &dst, 2);
    assert_eq!(refs(&dst), refs(&src));
    fsck(&dst);

    // A damaged bitmap is ignored.
    let bitmap = bitmap_file(&src).unwrap();
    let bytes = std::fs::read(&bitmap).unwrap();
    std::fs::write(&bitmap, &bytes[..bytes.len() / 2]).unwrap();
    let dst = dir.path().join("clone2");
    clone_progress(&src, &dst, 0);
    assert_eq!(refs(&dst), refs(&src));
    fsck(&dst);
}

#[test]
fn client_without_ofs_delta_gets_ref_deltas() {
    if against_git() {
        return;
    }
    let (dir, src) = bitmapped("deltas");
    let head = git_ok(&src, &["rev-parse", "HEAD"]);
    let input = pkt(&format!("want {}\n0000\ndone\n", head.trim()));
    let (status, out, err) = run_server(&["upload-pack", src.to_str().unwrap()], &[], &input);
    assert!(status.success(), "{err}");
    let at = out
        .windows(4)
        .position(|w| w == b"PACK")
        .expect("a raw pack");
    let dst = dir.path().join("raw.git");
    git_ok(dir.path(), &["init", "-q", "--bare", dst.to_str().unwrap()]);
    assert!(index_pack_stdin(&dst, &out[at..]));
    assert_eq!(
        ofs_deltas(&out[at..]),
        0,
        "OFS_DELTA sent to a client that did not ask"
    );
    // The same request with ofs-delta gets the stored OFS_DELTA entries (the check above counts).
    let input = pkt(&format!("want {} ofs-delta\n0000\ndone\n", head.trim()));
    let (_, with_ofs, _) = run_server(&["upload-pack", src.to_str().unwrap()], &[], &input);
    let at2 = with_ofs.windows(4).position(|w| w == b"PACK").unwrap();
    assert!(ofs_deltas(&with_ofs[at2..]) > 0);
    git_ok(&dst, &["update-ref", "refs/heads/main", head.trim()]);
    fsck(&dst);
}

/// Counts the OFS_DELTA entries of `pack` (walking entries, inflating each to find its end).
fn ofs_deltas(pack: &[u8]) -> usize {
    use sluice::pack::entry::{decode_header, decode_ofs_distance, EntryType};
    let count = u32::from_be_bytes(pack[8..12].try_into().unwrap());
    let mut at = 12;
    let mut ofs = 0;
    for _ in 0..count {
        let (ty, _, used) = decode_header(&pack[at..]).unwrap();
        at += used;
        match ty {
            EntryType::OfsDelta => {
                ofs += 1;
                at += decode_ofs_distance(&pack[at..]).unwrap().1;
            }
            EntryType::RefDelta => at += 20,
            _ => {}
        }
        let mut z = flate2::Decompress::new(true);
        let mut sink = vec![0u8; 1 << 16];
        loop {
            let before = z.total_in();
            let st = z
                .decompress(
                    &pack[at + before as usize..],
                    &mut sink,
                    flate2::FlushDecompress::None,
                )
                .unwrap();
            if st == flate2::Status::StreamEnd {
                break;
            }
        }
        at += z.total_in() as usize;
    }
    ofs
}

#[test]
fn walked_clone_of_one_pack_copies_its_entries() {
    // No bitmap: the history walk chooses the objects, then they go out in the pack's order.
    let dir = scratch();
    let src = dir.path().join("src.git");
    copy_repo(&fixture("deltas"), &src);
    git_ok(
        &src,
        &[
            "-c",
            "repack.writeBitmaps=false",
            "repack",
            "-a",
            "-d",
            "-q",
        ],
    );
    assert!(bitmap_file(&src).is_none());
    for v in [0, 2] {
        let dst = dir.path().join(format!("clone-v{v}"));
        let err = clone_progress(&src, &dst, v);
        let (total, reused) = totals(&err);
        if !against_git() {
            assert_eq!(reused, total, "v{v}: {err}");
        }
        assert_eq!(refs(&dst), refs(&src));
        fsck(&dst);
    }
}

#[test]
fn commit_graph_walks_match_git() {
    let dir = scratch();
    let src = dir.path().join("src.git");
    copy_repo(&fixture("branches"), &src);
    let old = dir.path().join("old.git");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            "--mirror",
            src.to_str().unwrap(),
            old.to_str().unwrap(),
        ],
    );
    let old_git = dir.path().join("old-git.git");
    copy_repo(&old, &old_git);
    git_ok(&src, &["commit-graph", "write", "--reachable"]);
    // New commits after the graph was written: the graph is stale for them.
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &["clone", "-q", src.to_str().unwrap(), work.to_str().unwrap()],
    );
    for i in 0..3 {
        std::fs::write(work.join(format!("g{i}.txt")), format!("{i}\n")).unwrap();
        git_ok(&work, &["add", "."]);
        git_ok(&work, &["commit", "-q", "-m", &format!("after graph {i}")]);
    }
    git_ok(&work, &["push", "-q", "origin", "HEAD"]);
    assert!(src.join("objects/info/commit-graph").exists());
    for v in [0, 2] {
        let dst = dir.path().join(format!("clone-v{v}"));
        clone_progress(&src, &dst, v);
        assert_eq!(refs(&dst), refs(&src));
        fsck(&dst);
    }
    let fetch = |repo: &Path, flag: &str| fetch_all(repo, &src, flag);
    let ours = fetch(&old, &upload_pack_flag());
    let theirs = fetch(&old_git, "--upload-pack=git-upload-pack");
    assert!(ours <= theirs, "sent {ours} objects, C git {theirs}");
    assert_eq!(refs(&old), refs(&src));
    fsck(&old);
}

#[test]
fn sluice_writes_a_commit_graph_git_verifies() {
    if against_git() {
        return;
    }
    let dir = scratch();
    let src = dir.path().join("src.git");
    copy_repo(&fixture("branches"), &src);
    // An octopus merge, so the extra-edge list is written too.
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &["clone", "-q", src.to_str().unwrap(), work.to_str().unwrap()],
    );
    for b in ["o1", "o2", "o3"] {
        git_ok(&work, &["checkout", "-q", "-b", b, "main"]);
        std::fs::write(work.join(b), b).unwrap();
        git_ok(&work, &["add", "."]);
        git_ok(&work, &["commit", "-q", "-m", b]);
    }
    git_ok(&work, &["checkout", "-q", "main"]);
    git_ok(&work, &["merge", "-q", "-m", "octopus", "o1", "o2", "o3"]);
    git_ok(&work, &["push", "-q", "origin", "main"]);
    let graph = src.join("objects/info/commit-graph");
    let _ = std::fs::remove_file(&graph);
    let out = std::process::Command::new(sluice())
        .args(["write-commit-graph", src.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(graph.exists());
    git_ok(&src, &["commit-graph", "verify"]);
    let commits = git_ok(&src, &["rev-list", "--all", "--count"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("{} commits", commits.trim())),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dst = dir.path().join("clone");
    clone_progress(&src, &dst, 2);
    assert_eq!(refs(&dst), refs(&src));
    fsck(&dst);
}
