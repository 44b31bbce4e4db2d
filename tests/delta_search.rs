//! Packs for repositories whose objects are loose (pushes stored loose, never repacked): Sluice's
//! delta search must keep a clone within 2 % of C git's `upload-pack`, and an incremental fetch
//! of loose commits (thin, deltas against the client's versions) within 5 %; what the client
//! gets must pass `git fsck --strict` and carry the same refs.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Size of the one pack a mirror clone at `repo` received.
fn pack_size(repo: &Path) -> u64 {
    std::fs::read_dir(repo.join("objects/pack"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// Mirror-clones `src` through C git's upload-pack and through the server under test; returns
/// (server's pack size, git's pack size).
fn clone_both(src: &Path) -> (u64, u64) {
    let dir = scratch();
    let ours = dir.path().join("ours.git");
    clone_ok(Transport::UploadPackFlag, 2, src, &ours, &["--mirror"]);
    fsck(&ours);
    assert_eq!(refs(&ours), refs(src));
    let theirs = dir.path().join("theirs.git");
    git_mirror_clone(src, &theirs);
    (pack_size(&ours), pack_size(&theirs))
}

/// Mirror-clones `src` to `dst` through C git's own upload-pack.
fn git_mirror_clone(src: &Path, dst: &Path) {
    let mut c = git_cmd(dst.parent().unwrap());
    c.args(["clone", "-q", "--mirror", "--no-local"])
        .arg("--upload-pack=git-upload-pack")
        .arg(format!("file://{}", src.display()))
        .arg(dst);
    run_ok(&mut c, "git clone");
}

/// Runs `cmd`, panicking with `what` and its stderr when it fails.
fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_within_percent(what: &str, ours: u64, git: u64, percent: u64) {
    eprintln!("{what}: server pack {ours} bytes, git's {git} bytes");
    assert!(
        ours * 100 <= git * (100 + percent),
        "{what}: pack of {ours} bytes is more than {percent} % above git's {git}"
    );
}

#[test]
fn loose_history_clone_is_as_small_as_gits() {
    let src = fixture("loose_history");
    assert!(
        !src.join("objects/pack").read_dir().unwrap().any(|_| true),
        "the fixture must be all loose"
    );
    let (ours, git) = clone_both(&src);
    assert_within_percent("all loose", ours, git, 2);
}

#[test]
fn loose_objects_on_top_of_a_pack() {
    let src = fixture_with_args("loose_history", &["150", "packed"]);
    let (ours, git) = clone_both(&src);
    assert_within_percent("half packed, half loose", ours, git, 2);
}

#[test]
fn fetch_of_loose_commits_is_valid() {
    // An incremental fetch: the new loose objects are deltified against objects in the pack;
    // the client's fsck sees a complete repository.
    let src = fixture("loose_history");
    let dir = scratch();
    let dst = dir.path().join("dst.git");
    clone_ok(Transport::Ext, 2, &src, &dst, &["--mirror"]);
    git_ok(
        &dst,
        &["update-ref", "refs/heads/main", "refs/heads/main~40"],
    );
    git_ok(&dst, &["gc", "-q", "--prune=now"]);
    let args = remote_args(Transport::Ext, 2, &src);
    let (cfg, url) = args.split_at(args.len() - 1);
    let mut c = git_cmd(&dst);
    c.args(cfg)
        .args(["fetch", "-q"])
        .arg(&url[0])
        .arg("+refs/heads/*:refs/heads/*");
    run_ok(&mut c, "fetch");
    assert_eq!(refs(&dst), refs(&src));
    fsck(&dst);
}

/// The half-packed `loose_history` fixture and a mirror of it (made by C git) that lacks its last
/// 40 commits, which are loose on the server.
struct Behind {
    src: PathBuf,
    dir: tempfile::TempDir,
    base: PathBuf,
}

impl Behind {
    fn by_40() -> Self {
        let src = fixture_with_args("loose_history", &["150", "packed"]);
        let dir = scratch();
        let base = dir.path().join("base.git");
        git_mirror_clone(&src, &base);
        git_ok(
            &base,
            &["update-ref", "refs/heads/main", "refs/heads/main~40"],
        );
        git_ok(&base, &["gc", "-q", "--prune=now"]);
        Behind { src, dir, base }
    }

    /// Runs `git <args> <upload_pack> file://<src> <tail>` (protocol v2) in a copy of the
    /// mirror named `name`, recording the pack received; returns the copy and the pack's size.
    fn fetch(&self, name: &str, upload_pack: &str, args: &[&str], tail: &[&str]) -> (PathBuf, u64) {
        let dst = self.dir.path().join(name);
        copy_repo(&self.base, &dst);
        // Bytes received: the stored pack of a thin fetch has the bases --fix-thin appended.
        let trace = self.dir.path().join(format!("{name}.pack"));
        let mut c = git_cmd(&dst);
        c.env("GIT_TRACE_PACKFILE", &trace)
            .args(["-c", "protocol.version=2"])
            .args(args)
            .arg(upload_pack)
            .arg(format!("file://{}", self.src.display()))
            .args(tail);
        run_ok(&mut c, name);
        let size = std::fs::metadata(&trace).map(|m| m.len()).unwrap_or(0);
        (dst, size)
    }
}

#[test]
fn fetch_of_loose_commits_is_as_small_as_gits() {
    // The server's last 40 commits are loose: every first new version of a file sent needs the
    // client's version as its base (a thin-pack delta), or it goes whole.
    let b = Behind::by_40();
    let fetch = ["fetch", "-q"];
    let refspec = ["+refs/heads/*:refs/heads/*"];
    let (ours, ours_size) = b.fetch("ours.git", &upload_pack_flag(), &fetch, &refspec);
    let git = "--upload-pack=git-upload-pack";
    let (theirs, git_size) = b.fetch("theirs.git", git, &fetch, &refspec);
    for repo in [&ours, &theirs] {
        fsck(repo);
        assert_eq!(refs(repo), refs(&b.src));
    }
    assert!(ours_size > 0 && git_size > 0, "packs were traced");
    assert_within_percent("thin fetch of 40 loose commits", ours_size, git_size, 5);
}

#[test]
fn fetch_without_thin_pack_is_self_contained() {
    // `git fetch-pack` without --thin does not ask for thin-pack and indexes with no --fix-thin:
    // a delta against an object outside the pack would fail it.
    let b = Behind::by_40();
    let main = ["refs/heads/main"];
    let (repo, size) = b.fetch(
        "plain.git",
        &upload_pack_flag(),
        &["fetch-pack", "-q", "-k"],
        &main,
    );
    let thin = ["fetch-pack", "-q", "-k", "--thin"];
    let (_, thin_size) = b.fetch("thin.git", &upload_pack_flag(), &thin, &main);
    eprintln!("fetch of 40 loose commits: {size} bytes self-contained, {thin_size} bytes thin");
    assert!(thin_size < size, "thin deltas make the pack smaller");
    let tip = git_ok(&b.src, &["rev-parse", "main"]);
    git_ok(&repo, &["update-ref", "refs/heads/main", tip.trim()]);
    fsck(&repo);
    assert_eq!(refs(&repo), refs(&b.src));
}

/// A repository whose packed deltas rest on objects only a ref outside a clone's reaches
/// (`refs/pull/*` on a hosting site): twelve files in three versions on `main`, each stored as a
/// delta against its larger fourth version on `refs/pull/1/head`. A clone of the branches takes
/// none of those bases; copying the stored pack sent every version whole (three times C git's
/// bytes; tokio's clone 3.4 times, #14), where C git searches them for new deltas. With
/// `copies`, each file also has a copy under `copy/` with a tenth of its lines its own: the only bases
/// a `--depth=1` clone can find are then other paths (as in tokio's, issue #13).
fn pull_request_bases(dir: &Path, copies: bool) -> PathBuf {
    let work = dir.join("work");
    std::fs::create_dir(&work).unwrap();
    git_ok(&work, &["init", "-q", "-b", "main"]);
    // A fixed pseudo-random text per file, so no two files share lines.
    let mut seed = 7u64;
    let mut word = || {
        (0..40)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                char::from(b'a' + (seed >> 60) as u8 % 10)
            })
            .collect::<String>()
    };
    let files: Vec<Vec<String>> = (0..12)
        .map(|f| {
            (0..400)
                .map(|k| format!("{f} line {k} {}\n", word()))
                .collect()
        })
        .collect();
    let write = |version: usize| {
        for (f, lines) in files.iter().enumerate() {
            let mut text = lines.clone();
            if version < 4 {
                text[version * 120] = format!("edited in version {version}\n");
            } else {
                text.extend(
                    (0..200).map(|k| format!("pull request line {k} {}\n", "x".repeat(30))),
                );
            }
            std::fs::write(work.join(format!("f{f}.txt")), text.concat()).unwrap();
            if copies {
                std::fs::create_dir_all(work.join("copy")).unwrap();
                // A tenth of the lines its own: closer to its other versions than to the file
                // it copies, so git stores both as deltas against their pull-request version.
                for k in (5..400).step_by(10) {
                    text[k] = format!("line {k} of the copy of file {f}\n");
                }
                std::fs::write(work.join(format!("copy/f{f}.txt")), text.concat()).unwrap();
            }
        }
        git_ok(&work, &["add", "."]);
        git_ok(
            &work,
            &["commit", "-q", "-m", &format!("version {version}")],
        );
    };
    for version in 1..=3 {
        write(version);
    }
    git_ok(&work, &["checkout", "-q", "-b", "pr"]);
    write(4);
    let src = dir.join("src.git");
    let mut c = git_cmd(dir);
    c.args(["clone", "-q", "--bare"]).arg(&work).arg(&src);
    run_ok(&mut c, "git clone");
    git_ok(&src, &["update-ref", "refs/pull/1/head", "refs/heads/pr"]);
    git_ok(&src, &["branch", "-q", "-D", "pr"]);
    git_ok(
        &src,
        &["-c", "repack.writeBitmaps=false", "repack", "-adfq"],
    );
    src
}

#[test]
fn clone_of_part_of_a_pack_finds_new_deltas_for_objects_whose_base_stays() {
    let dir = scratch();
    let src = pull_request_bases(dir.path(), false);
    let (ours, theirs) = clone_branches_both(dir.path(), &src, &[]);
    assert_within_percent("bases left behind", ours, theirs, 2);
}

#[test]
fn clone_of_part_of_a_bitmapped_pack_finds_new_deltas_for_objects_whose_base_stays() {
    // The same repository with a reachability bitmap: the pack is counted from the bitmap and
    // copied in stored order, and only the orphaned deltas are searched.
    let dir = scratch();
    let src = pull_request_bases(dir.path(), false);
    git_ok(&src, &["-c", "repack.writeBitmaps=true", "repack", "-adq"]);
    let has_bitmap = std::fs::read_dir(src.join("objects/pack"))
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.path().extension().is_some_and(|x| x == "bitmap"));
    assert!(has_bitmap, "the fixture must carry a bitmap");
    let (ours, theirs) = clone_branches_both(dir.path(), &src, &[]);
    assert_within_percent("bases left behind, bitmap", ours, theirs, 2);
}

#[test]
fn shallow_clone_of_part_of_a_pack_finds_new_deltas_for_orphans() {
    // A shallow pack has orphans of both kinds: bases behind the boundary and bases under
    // refs/pull. Each orphan is compared with its neighbours' sketches and searched where one
    // promises a delta; the pack is then as small as C git's.
    let dir = scratch();
    let src = pull_request_bases(dir.path(), false);
    let (ours, theirs) =
        clone_branches_both(dir.path(), &src, &["--depth=2", "--no-single-branch"]);
    assert_within_percent("shallow, bases left behind", ours, theirs, 2);
}

#[test]
fn r13_depth_1_clone_finds_deltas_between_paths() {
    // See: #13. Every entry of a `--depth=1` clone rests on a base left behind, and the only
    // bases left are other paths': each file and its copy. Sent whole (as shallow packs were)
    // the pack is about twice C git's.
    let dir = scratch();
    let src = pull_request_bases(dir.path(), true);
    // The fixture's HEAD names the deleted pull-request branch; a `--depth=1` clone takes HEAD's.
    git_ok(&src, &["symbolic-ref", "HEAD", "refs/heads/main"]);
    for bitmap in [false, true] {
        let flag = format!("repack.writeBitmaps={bitmap}");
        git_ok(&src, &["-c", &flag, "repack", "-adq"]);
        let dst = dir.path().join(format!("depth1-{bitmap}"));
        std::fs::create_dir(&dst).unwrap();
        let (ours, theirs) = clone_branches_both(&dst, &src, &["--depth=1"]);
        assert_within_percent("depth 1, bases on other paths", ours, theirs, 2);
    }
}

/// Clones the branches and tags of `src` (protocol v2 lists no others), with `extra` clone
/// arguments, through the server under test and through C git's upload-pack; checks the
/// server's clone (`fsck --strict`, refs) and returns both packs' sizes (server's, git's).
fn clone_branches_both(dir: &Path, src: &Path, extra: &[&str]) -> (u64, u64) {
    let ours = dir.join("ours.git");
    let mut args = vec!["--bare"];
    args.extend_from_slice(extra);
    clone_ok(Transport::UploadPackFlag, 2, src, &ours, &args);
    fsck(&ours);
    assert_eq!(
        refs(&ours),
        git_ok(
            src,
            &[
                "for-each-ref",
                "--format=%(objectname) %(refname)",
                "refs/heads/",
                "refs/tags/"
            ]
        )
    );
    let theirs = dir.join("theirs.git");
    let mut c = git_cmd(dir);
    c.args([
        "-c",
        "protocol.version=2",
        "clone",
        "-q",
        "--bare",
        "--no-local",
    ])
    .args(extra)
    .arg("--upload-pack=git-upload-pack")
    .arg(format!("file://{}", src.display()))
    .arg(&theirs);
    run_ok(&mut c, "git clone");
    (pack_size(&ours), pack_size(&theirs))
}
