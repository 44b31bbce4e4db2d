//! SHA-256 repositories (`git init --object-format=sha256`) end to end: C git makes the
//! repositories, the real git client clones, fetches (incremental, shallow, partial) and pushes
//! through `sluice`, and the results are checked with `git fsck --strict` and against what C
//! git's own upload-pack gives for the same repository. ssh and inetd are in tests/launch.rs.
// See: #14

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// A work repository (SHA-256) with history on two branches, a merge, an annotated and a
/// lightweight tag, and a bare copy of it pushed by C git: (bare, work).
fn sha256_repo(dir: &Path) -> (PathBuf, PathBuf) {
    let work = dir.join("work");
    let bare = dir.join("s256.git");
    let init = |p: &Path, bare: bool| {
        let mut args = vec!["init", "-q", "-b", "main", "--object-format=sha256"];
        if bare {
            args.push("--bare");
        }
        args.push(p.to_str().unwrap());
        git_ok(dir, &args);
    };
    init(&work, false);
    init(&bare, true);
    for i in 0..4 {
        std::fs::write(work.join("f.txt"), format!("line {i}\n").repeat(i + 1)).unwrap();
        std::fs::create_dir_all(work.join(format!("d{i}"))).unwrap();
        std::fs::write(work.join(format!("d{i}/g")), format!("g {i}\n")).unwrap();
        git_ok(&work, &["add", "."]);
        git_ok(&work, &["commit", "-q", "-m", &format!("c{i}")]);
    }
    git_ok(&work, &["checkout", "-q", "-b", "side", "HEAD~2"]);
    std::fs::write(work.join("side.txt"), "side\n").unwrap();
    git_ok(&work, &["add", "."]);
    git_ok(&work, &["commit", "-q", "-m", "side"]);
    git_ok(&work, &["checkout", "-q", "main"]);
    git_ok(&work, &["merge", "-q", "--no-edit", "side"]);
    git_ok(&work, &["tag", "-a", "-m", "v1", "v1"]);
    git_ok(&work, &["tag", "light", "HEAD~1"]);
    let url = bare.to_str().unwrap();
    git_ok(&work, &["push", "-q", url, "--all"]);
    git_ok(&work, &["push", "-q", url, "--tags"]);
    (bare, work)
}

/// Adds one commit on `main` in `work` and pushes it into `bare` with C git.
fn grow(work: &Path, bare: &Path, n: usize) {
    std::fs::write(work.join(format!("new{n}.txt")), format!("new {n}\n")).unwrap();
    git_ok(work, &["add", "."]);
    git_ok(work, &["commit", "-q", "-m", &format!("new {n}")]);
    git_ok(work, &["push", "-q", bare.to_str().unwrap(), "main"]);
}

/// A clone of `src` made by C git's own upload-pack (the reference result).
fn reference_clone(src: &Path, dst: &Path, extra: &[&str]) {
    let mut args = vec!["clone", "-q", "--no-local", "--upload-pack=git-upload-pack"];
    args.extend_from_slice(extra);
    let url = file_url(src);
    args.push(&url);
    args.push(dst.to_str().unwrap());
    git_ok(dst.parent().unwrap(), &args);
}

fn object_format(repo: &Path) -> String {
    git_ok(repo, &["rev-parse", "--show-object-format"])
        .trim()
        .to_string()
}

#[test]
fn clone_v0_and_v2_through_file_and_ext_matches_c_git() {
    let dir = scratch();
    let (bare, _) = sha256_repo(dir.path());
    let want = dir.path().join("reference");
    reference_clone(&bare, &want, &[]);
    for (i, transport) in [Transport::UploadPackFlag, Transport::Ext]
        .into_iter()
        .enumerate()
    {
        for version in [0, 2] {
            let dst = dir.path().join(format!("clone-{i}-{version}"));
            clone_ok(transport, version, &bare, &dst, &[]);
            assert_eq!(object_format(&dst), "sha256");
            assert_eq!(refs(&dst), refs(&want), "{transport:?} v{version}");
            let first = refs(&dst).lines().next().unwrap().to_string();
            assert_eq!(first.split(' ').next().unwrap().len(), 64, "{first}");
            fsck(&dst);
        }
    }
}

#[test]
fn incremental_fetch_v0_and_v2() {
    let dir = scratch();
    let (bare, work) = sha256_repo(dir.path());
    for version in [0, 2] {
        let dst = dir.path().join(format!("fetch-{version}"));
        clone_ok(Transport::UploadPackFlag, version, &bare, &dst, &[]);
        grow(&work, &bare, version.into());
        let cfg = format!("protocol.version={version}");
        git_ok(
            &dst,
            &["-c", &cfg, "fetch", "-q", &upload_pack_flag(), "origin"],
        );
        assert_eq!(
            git_ok(&dst, &["rev-parse", "origin/main"]),
            git_ok(&bare, &["rev-parse", "main"])
        );
        fsck(&dst);
    }
}

#[test]
fn shallow_clone_and_deepen_match_c_git() {
    let dir = scratch();
    let (bare, _) = sha256_repo(dir.path());
    for version in [0, 2] {
        let want = dir.path().join(format!("reference-{version}"));
        reference_clone(&bare, &want, &["--depth", "1"]);
        let dst = dir.path().join(format!("shallow-{version}"));
        clone_ok(
            Transport::UploadPackFlag,
            version,
            &bare,
            &dst,
            &["--depth", "1"],
        );
        let shallow = |r: &Path| std::fs::read_to_string(r.join(".git/shallow")).unwrap();
        assert_eq!(shallow(&dst), shallow(&want), "v{version}");
        assert_eq!(shallow(&dst).lines().next().unwrap().len(), 64);
        fsck(&dst);
        let cfg = format!("protocol.version={version}");
        let deepen = ["fetch", "-q", "--deepen", "1"];
        git_ok(&want, &deepen);
        let mut args = vec!["-c", &cfg];
        args.extend(deepen);
        let flag = upload_pack_flag();
        args.extend([flag.as_str(), "origin"]);
        git_ok(&dst, &args);
        assert_eq!(shallow(&dst), shallow(&want), "deepened v{version}");
        fsck(&dst);
    }
}

#[test]
fn partial_clone_without_blobs() {
    let dir = scratch();
    let (bare, _) = sha256_repo(dir.path());
    git_ok(&bare, &["config", "uploadpack.allowFilter", "true"]);
    let want = dir.path().join("reference");
    reference_clone(&bare, &want, &["--filter=blob:none", "--no-checkout"]);
    for version in [0, 2] {
        let dst = dir.path().join(format!("partial-{version}"));
        let extra = ["--filter=blob:none", "--no-checkout"];
        clone_ok(Transport::UploadPackFlag, version, &bare, &dst, &extra);
        assert_eq!(refs(&dst), refs(&want));
        let count = |r: &Path| {
            git_ok(r, &["count-objects", "-v"])
                .lines()
                .find(|l| l.starts_with("in-pack:"))
                .unwrap()
                .to_string()
        };
        assert_eq!(
            count(&dst),
            count(&want),
            "v{version}: same objects as C git sends"
        );
        fsck(&dst);
    }
}

/// `git push` from `work` to `bare` through sluice's receive-pack with `args`.
fn push(work: &Path, bare: &Path, args: &[&str]) -> std::process::Output {
    let flag = format!("--receive-pack={} receive-pack", sluice());
    let url = file_url(bare);
    let mut all = vec!["push", flag.as_str(), url.as_str()];
    all.extend_from_slice(args);
    git(work, &all)
}

#[test]
fn push_create_fast_forward_delete_and_atomic() {
    let dir = scratch();
    let (bare, work) = sha256_repo(dir.path());
    let ok = |out: std::process::Output, what: &str| assert_success(&out, what);
    git_ok(&work, &["checkout", "-q", "-b", "topic"]);
    std::fs::write(work.join("topic.txt"), "topic\n").unwrap();
    git_ok(&work, &["add", "."]);
    git_ok(&work, &["commit", "-q", "-m", "topic"]);
    ok(push(&work, &bare, &["topic"]), "create");
    std::fs::write(work.join("topic.txt"), "topic 2\n").unwrap();
    git_ok(&work, &["commit", "-q", "-am", "topic 2"]);
    ok(push(&work, &bare, &["topic"]), "fast-forward");
    assert_eq!(
        git_ok(&bare, &["rev-parse", "topic"]),
        git_ok(&work, &["rev-parse", "topic"])
    );
    ok(
        push(&work, &bare, &["--atomic", "topic:t2", "v1:refs/tags/v1b"]),
        "atomic",
    );
    ok(push(&work, &bare, &[":topic"]), "delete");
    assert!(!git(&bare, &["rev-parse", "--verify", "-q", "topic"])
        .status
        .success());
    // A non-fast-forward in an atomic push refuses all of it.
    git_ok(&work, &["checkout", "-q", "-b", "other", "main~1"]);
    let out = push(
        &work,
        &bare,
        &["--atomic", "other:main", "other:refs/heads/x"],
    );
    assert!(!out.status.success());
    assert!(!git(&bare, &["rev-parse", "--verify", "-q", "x"])
        .status
        .success());
    fsck(&bare);
    // ext:: too.
    let url = format!("ext::{} %S {}", sluice(), bare.display());
    git_ok(
        &work,
        &[
            "-c",
            "protocol.ext.allow=always",
            "push",
            "-q",
            &url,
            "other:refs/heads/ext",
        ],
    );
    assert_eq!(
        git_ok(&bare, &["rev-parse", "ext"]),
        git_ok(&work, &["rev-parse", "other"])
    );
    fsck(&bare);
}

#[test]
fn repack_then_fsck_bitmap_and_clone() {
    let dir = scratch();
    let (bare, work) = sha256_repo(dir.path());
    grow(&work, &bare, 1);
    let out = std::process::Command::new(sluice())
        .args(["repack", bare.to_str().unwrap()])
        .output()
        .unwrap();
    assert_success(&out, "sluice repack");
    let packs: Vec<_> = std::fs::read_dir(bare.join("objects/pack"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(packs.iter().any(|p| p.ends_with(".bitmap")), "{packs:?}");
    assert!(packs
        .iter()
        .all(|p| !p.ends_with(".pack") || p.len() == 5 + 64 + 5));
    fsck(&bare);
    git_ok(&bare, &["rev-list", "--test-bitmap", "main"]);
    git_ok(&bare, &["commit-graph", "verify"]);
    let want = dir.path().join("reference");
    reference_clone(&bare, &want, &[]);
    for version in [0, 2] {
        let dst = dir.path().join(format!("after-{version}"));
        clone_ok(Transport::UploadPackFlag, version, &bare, &dst, &[]);
        assert_eq!(refs(&dst), refs(&want));
        fsck(&dst);
    }
}

#[test]
fn sluice_init_sha256_takes_a_push() {
    let dir = scratch();
    let (_, work) = sha256_repo(dir.path());
    let target = dir.path().join("new.git");
    let out = std::process::Command::new(sluice())
        .args(["init", "--bare", "--object-format=sha256"])
        .arg(&target)
        .output()
        .unwrap();
    assert_success(&out, "sluice init");
    assert_eq!(object_format(&target), "sha256");
    assert_success(&push(&work, &target, &["--all"]), "push into sluice init");
    let branches = |r: &Path| git_ok(r, &["for-each-ref", "refs/heads/"]);
    assert_eq!(branches(&target), branches(&work));
    fsck(&target);
}

#[test]
fn a_client_of_another_object_format_gets_c_gits_error() {
    let dir = scratch();
    let (bare, _) = sha256_repo(dir.path());
    let b = bare.to_str().unwrap();
    // v2: a request that names sha1, and one that names none (sha1, for C git's serve.c).
    for caps in ["object-format=sha1\n", ""] {
        let input = pkt(&format!("command=ls-refs\n{caps}0001\n0000\n"));
        let env = [("GIT_PROTOCOL", "version=2")];
        let (status, out, err) = run_server(&["upload-pack", b], &env, &input);
        assert!(!status.success(), "{caps:?}");
        let text = format!("{}{err}", String::from_utf8_lossy(&out));
        assert!(
            text.contains("mismatched object format: server sha256; client sha1"),
            "{caps:?}: {text}"
        );
    }
    // A v2 request naming sha256 is served.
    let input = pkt("command=ls-refs\nobject-format=sha256\n0001\n0000\n");
    let (status, out, err) = run_server(
        &["upload-pack", b],
        &[("GIT_PROTOCOL", "version=2")],
        &input,
    );
    assert!(status.success(), "{err}");
    let head = git_ok(&bare, &["rev-parse", "HEAD"]);
    assert!(
        String::from_utf8_lossy(&out).contains(head.trim()),
        "ls-refs lists 64-hex ids"
    );
    // receive-pack: a command of 40-hex ids from a client naming no format (sha1).
    let zero = "0".repeat(40);
    let input = pkt(&format!(
        "{zero} {} refs/heads/x\\0report-status\n0000\n",
        "1".repeat(40)
    ));
    let (status, out, err) = run_server(&["receive-pack", b], &[], &input);
    let text = format!("{}{err}", String::from_utf8_lossy(&out));
    assert!(!status.success(), "{text}");
    assert!(text.contains("unsupported object format 'sha1'"), "{text}");
    fsck(&bare);
}

#[test]
fn advertisement_names_sha256_and_64_hex_ids() {
    let dir = scratch();
    let (bare, _) = sha256_repo(dir.path());
    let b = bare.to_str().unwrap();
    for service in ["upload-pack", "receive-pack"] {
        let (_, out, err) = run_server(&[service, "--advertise-refs", b], &[], b"");
        let lines = parse_pkts(&out);
        let first = lines.first().unwrap_or_else(|| panic!("{service}: {err}"));
        assert!(first.contains("object-format=sha256"), "{service}: {first}");
        let id = first.split(' ').next().unwrap();
        assert_eq!(id.len(), 64, "{service}: {first}");
    }
    let (_, out, _) = run_server(
        &["upload-pack", "--advertise-refs", b],
        &[("GIT_PROTOCOL", "version=2")],
        b"",
    );
    assert!(parse_pkts(&out).contains(&"object-format=sha256".to_string()));
}
