//! `git push` through `sluice receive-pack`: every kind of ref update, policy from the repository
//! config, hooks, atomic pushes, and refusals that leave nothing behind. After each push the
//! server repository is `git fsck --strict` clean and its refs are what was pushed.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn receive_pack_flag() -> String {
    common::receive::Server::under_test().receive_pack_flag()
}

/// `git push` from `work` to the bare repository `dst` through the server.
fn push(work: &Path, dst: &Path, args: &[&str]) -> std::process::Output {
    let flag = receive_pack_flag();
    let url = format!("file://{}", dst.display());
    let mut all = vec!["push", "--porcelain", flag.as_str()];
    let (opts, refspecs): (Vec<&str>, Vec<&str>) = args.iter().partition(|a| a.starts_with('-'));
    all.extend(opts);
    all.push(&url);
    all.extend(refspecs);
    git(work, &all)
}

fn push_ok(work: &Path, dst: &Path, args: &[&str]) -> String {
    let out = push(work, dst, args);
    assert!(
        out.status.success(),
        "push {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn commit(work: &Path, file: &str, text: &str) -> String {
    std::fs::write(work.join(file), text).unwrap();
    git_ok(work, &["add", file]);
    git_ok(work, &["commit", "-q", "-m", text]);
    git_ok(work, &["rev-parse", "HEAD"]).trim().to_string()
}

/// A bare empty target and a work repository with some history.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = scratch();
    let dst = dir.path().join("dst.git");
    git_ok(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", dst.to_str().unwrap()],
    );
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            "--no-local",
            fixture("branches").to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    (dir, dst, work)
}

fn server_ref(dst: &Path, name: &str) -> Option<String> {
    let out = git(dst, &["rev-parse", "--verify", "-q", name]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// No quarantine directories, temp packs or lock files left in `dst`.
fn no_leftovers(dst: &Path) {
    let mut stack = vec![dst.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                !name.ends_with(".lock")
                    && !name.starts_with("incoming-")
                    && !name.starts_with("tmp_"),
                "leftover {}",
                e.path().display()
            );
            if e.path().is_dir() {
                stack.push(e.path());
            }
        }
    }
}

fn pack_count(dst: &Path) -> usize {
    std::fs::read_dir(dst.join("objects/pack"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn branch_and_tag_lifecycle() {
    let (_dir, dst, work) = setup();
    // New branches.
    push_ok(&work, &dst, &["main", "origin/feature:refs/heads/feature"]);
    assert_eq!(
        server_ref(&dst, "refs/heads/main"),
        server_ref(&work, "main")
    );
    fsck(&dst);
    // Fast-forward.
    let c = commit(&work, "new.txt", "fast forward\n");
    push_ok(&work, &dst, &["main"]);
    assert_eq!(
        server_ref(&dst, "refs/heads/main").as_deref(),
        Some(c.as_str())
    );
    fsck(&dst);
    // Non-fast-forward refused without --force, accepted with it.
    git_ok(&work, &["reset", "-q", "--hard", "HEAD~2"]);
    let rewound = commit(&work, "other.txt", "rewritten\n");
    let out = push(&work, &dst, &["main"]);
    assert!(!out.status.success());
    assert_eq!(
        server_ref(&dst, "refs/heads/main").as_deref(),
        Some(c.as_str())
    );
    push_ok(&work, &dst, &["--force", "main"]);
    assert_eq!(
        server_ref(&dst, "refs/heads/main").as_deref(),
        Some(rewound.as_str())
    );
    fsck(&dst);
    // Tags, lightweight and annotated.
    git_ok(&work, &["tag", "light"]);
    git_ok(&work, &["tag", "-a", "-m", "annotated", "v1.0"]);
    push_ok(&work, &dst, &["light", "v1.0"]);
    assert_eq!(
        server_ref(&dst, "refs/tags/v1.0"),
        server_ref(&work, "refs/tags/v1.0")
    );
    fsck(&dst);
    // Delete.
    push_ok(&work, &dst, &[":refs/heads/feature"]);
    assert_eq!(server_ref(&dst, "refs/heads/feature"), None);
    fsck(&dst);
    // C git can gc what Sluice wrote, and the result is still clean.
    git_ok(&dst, &["gc", "-q"]);
    fsck(&dst);
    no_leftovers(&dst);
}

#[test]
fn ten_thousand_commits_into_an_empty_repository() {
    let dir = scratch();
    let dst = dir.path().join("dst.git");
    git_ok(dir.path(), &["init", "-q", "--bare", dst.to_str().unwrap()]);
    let src = fixture("gen_history");
    push_ok(&src, &dst, &["--mirror"]);
    assert_eq!(refs(&dst), refs(&src));
    fsck(&dst);
    git_ok(&dst, &["gc", "-q"]);
    no_leftovers(&dst);
}

#[test]
fn atomic_push_with_one_failing_ref_changes_nothing() {
    let (_dir, dst, work) = setup();
    push_ok(&work, &dst, &["main"]);
    let before = refs(&dst);
    git_ok(&dst, &["config", "receive.denyNonFastForwards", "true"]);
    git_ok(&work, &["reset", "-q", "--hard", "HEAD~1"]);
    commit(&work, "x.txt", "diverged\n");
    let out = push(
        &work,
        &dst,
        &["--atomic", "--force", "main", "main:refs/heads/brand-new"],
    );
    assert!(!out.status.success());
    assert_eq!(refs(&dst), before);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !against_git() {
        assert!(stdout.contains("non-fast-forward"), "{stdout}");
        assert!(stdout.contains("atomic push failure"), "{stdout}");
    }
    no_leftovers(&dst);
}

#[test]
fn push_options_and_quarantine_reach_hooks() {
    let (dir, dst, work) = setup();
    let log = dir.path().join("hook.log");
    let hook = dst.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nwhile read old new ref; do\n  git cat-file -e $new || exit 9\n  echo \"$ref $GIT_PUSH_OPTION_COUNT $GIT_PUSH_OPTION_0 $GIT_PUSH_OPTION_1\" >> {log}\n  test -d \"$GIT_QUARANTINE_PATH\" && echo quarantined >> {log}\ndone\necho hello from pre-receive\n",
            log = log.display()
        ),
    )
    .unwrap();
    let post = dst.join("hooks/post-receive");
    std::fs::write(
        &post,
        format!(
            "#!/bin/sh\ncat >> {}\n",
            dir.path().join("post.log").display()
        ),
    )
    .unwrap();
    for h in [&hook, &post] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(h, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    git_ok(&dst, &["config", "receive.advertisePushOptions", "true"]);
    let stderr = push_ok(
        &work,
        &dst,
        &["--push-option=first", "--push-option=second opt", "main"],
    );
    assert!(
        stderr.contains("remote: hello from pre-receive"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("refs/heads/main 2 first second opt"),
        "{text}"
    );
    assert!(text.contains("quarantined"), "{text}");
    let post_text = std::fs::read_to_string(dir.path().join("post.log")).unwrap();
    assert!(post_text.ends_with(" refs/heads/main\n"), "{post_text}");
    fsck(&dst);
}

#[test]
fn rejected_push_leaves_no_objects() {
    let (_dir, dst, work) = setup();
    let hook = dst.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho no thanks >&2\nexit 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = push(&work, &dst, &["main"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no thanks"));
    assert_eq!(pack_count(&dst), 0);
    assert_eq!(refs(&dst), "");
    let loose = git_ok(&dst, &["count-objects"]);
    assert!(loose.starts_with("0 objects"), "{loose}");
    no_leftovers(&dst);
}

#[test]
fn repository_policy() {
    let (_dir, dst, work) = setup();
    push_ok(&work, &dst, &["main", "origin/feature:refs/heads/feature"]);
    git_ok(&dst, &["config", "receive.denyDeletes", "true"]);
    assert!(!push(&work, &dst, &[":refs/heads/feature"]).status.success());
    assert!(server_ref(&dst, "refs/heads/feature").is_some());
    git_ok(&dst, &["config", "receive.maxInputSize", "50"]);
    let (packs_before, loose_before) = (pack_count(&dst), count_loose(&dst));
    commit(
        &work,
        "big.txt",
        &"some content that makes a pack over fifty bytes\n".repeat(20),
    );
    assert!(!push(&work, &dst, &["main"]).status.success());
    if !against_git() {
        assert_eq!(
            pack_count(&dst),
            packs_before,
            "the refused pack must not be kept"
        );
        assert_eq!(count_loose(&dst), loose_before, "nor its objects");
    }
    no_leftovers(&dst);

    // A non-bare repository refuses updates to its checked-out branch.
    let nonbare = dst.parent().unwrap().join("nonbare");
    git_ok(
        dst.parent().unwrap(),
        &[
            "clone",
            "-q",
            "--no-local",
            dst.to_str().unwrap(),
            nonbare.to_str().unwrap(),
        ],
    );
    git_ok(&work, &["config", "advice.pushUpdateRejected", "false"]);
    let url = format!("file://{}", nonbare.display());
    let flag = receive_pack_flag();
    let out = git(&work, &["push", "--porcelain", &flag, &url, "main:main"]);
    assert!(!out.status.success());
    let out = git(
        &work,
        &[
            "push",
            "--porcelain",
            &flag,
            &url,
            "main:refs/heads/elsewhere",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dotgit_tree_entry_is_refused() {
    let (_dir, dst, work) = setup();
    // C git only checks with receive.fsckObjects; Sluice always does.
    git_ok(&dst, &["config", "receive.fsckObjects", "true"]);
    let blob = git_ok(&work, &["rev-parse", "HEAD:README"]);
    // A tree with an entry named ".GIT" (the CVE-2014-9390 family) needs --literally.
    let mut tree = b"100644 .GIT\0".to_vec();
    tree.extend_from_slice(&hex(blob.trim()));
    let path = work.join("evil-tree");
    std::fs::write(&path, &tree).unwrap();
    let tree_id = git_ok(
        &work,
        &[
            "hash-object",
            "--literally",
            "-t",
            "tree",
            "-w",
            path.to_str().unwrap(),
        ],
    );
    let commit = git_ok(&work, &["commit-tree", "-m", "evil", tree_id.trim()]);
    let out = push(
        &work,
        &dst,
        &[&format!("{}:refs/heads/evil", commit.trim())],
    );
    assert!(!out.status.success());
    assert_eq!(refs(&dst), "");
    if !against_git() {
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("hasDotgit")
                || String::from_utf8_lossy(&out.stderr).contains("hasDotgit")
        );
    }
    no_leftovers(&dst);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn corrupt_and_truncated_packs_are_refused() {
    if against_git() {
        return;
    }
    let (_dir, dst, work) = setup();
    let head = git_ok(&work, &["rev-parse", "HEAD"]);
    let null = "0".repeat(40);
    let commands = pkt(&format!(
        "{null} {} refs/heads/main\\0report-status side-band-64k\n0000",
        head.trim()
    ));
    let mut child = git_cmd(&work)
        .args(["pack-objects", "--stdout", "-q", "--revs"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"HEAD\n").unwrap();
    let pack = child.wait_with_output().unwrap().stdout;
    let mut flipped = pack.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    for bad in [
        pack[..pack.len() / 2].to_vec(),
        flipped,
        b"PACKgarbage".to_vec(),
    ] {
        let mut input = commands.clone();
        input.extend_from_slice(&bad);
        let (_status, out, err) = run_server(&["receive-pack", dst.to_str().unwrap()], &[], &input);
        assert!(!err.contains("panicked"), "{err}");
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("unpack ") && !text.contains("unpack ok"),
            "{text}"
        );
        assert!(text.contains("ng refs/heads/main"), "{text}");
        assert_eq!(refs(&dst), "");
        assert_eq!(pack_count(&dst), 0);
        no_leftovers(&dst);
    }
}

#[test]
fn push_through_ext_transport() {
    let (_dir, dst, work) = setup();
    let url = if against_git() {
        format!("ext::git %s {}", dst.display())
    } else {
        format!("ext::{} %S {}", sluice(), dst.display())
    };
    let out = git(
        &work,
        &["-c", "protocol.ext.allow=always", "push", &url, "main"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        server_ref(&dst, "refs/heads/main"),
        server_ref(&work, "main")
    );
    fsck(&dst);
}

fn count_loose(dst: &Path) -> usize {
    std::fs::read_dir(dst.join("objects"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().len() == 2)
        .map(|e| std::fs::read_dir(e.path()).unwrap().count())
        .sum()
}

#[test]
fn unpack_limit_decides_between_loose_objects_and_a_pack() {
    let (_d, dst, work) = setup();
    git_ok(&dst, &["config", "receive.unpackLimit", "100000"]);
    push_ok(&work, &dst, &["main"]);
    assert_eq!(pack_count(&dst), 0);
    let loose = count_loose(&dst);
    assert!(loose > 5, "{loose} loose objects");
    fsck(&dst);

    git_ok(&dst, &["config", "receive.unpackLimit", "1"]);
    let tip = commit(&work, "packed.txt", "stored as a pack\n");
    push_ok(&work, &dst, &["main"]);
    assert_eq!(pack_count(&dst), 1);
    assert_eq!(count_loose(&dst), loose);

    // receive.unpackLimit unset: transfer.unpackLimit decides.
    git_ok(&dst, &["config", "--unset", "receive.unpackLimit"]);
    git_ok(&dst, &["config", "transfer.unpackLimit", "100000"]);
    commit(&work, "loose.txt", "stored loose\n");
    push_ok(&work, &dst, &["main"]);
    assert_eq!(pack_count(&dst), 1);
    assert_eq!(count_loose(&dst), loose + 3);
    assert_ne!(server_ref(&dst, "main").unwrap(), tip);
    assert_eq!(
        server_ref(&dst, "main"),
        Some(git_ok(&work, &["rev-parse", "HEAD"]).trim().to_string())
    );
    fsck(&dst);
    no_leftovers(&dst);
    git_ok(&dst, &["gc", "-q"]);
    fsck(&dst);
}

#[test]
fn connectivity_is_judged_per_ref() {
    // One pack, two new refs: the one whose history is complete lands, the one whose tree names a
    // blob that was not sent is refused with git's reason.
    let (_d, dst, work) = setup();
    let good = commit(&work, "complete.txt", "all objects sent\n");
    let bad = commit(&work, "missing.txt", "this blob is left out\n");
    let missing = git_ok(&work, &["rev-parse", "HEAD:missing.txt"])
        .trim()
        .to_string();
    let objects: String = git_ok(&work, &["rev-list", "--objects", "HEAD"])
        .lines()
        .map(|l| &l[..40])
        .filter(|id| *id != missing)
        .map(|id| format!("{id}\n"))
        .collect();
    let mut child = git_cmd(&work)
        .args(["pack-objects", "--stdout", "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(objects.as_bytes())
        .unwrap();
    let pack = child.wait_with_output().unwrap().stdout;
    let zero = "0".repeat(40);
    let mut input = pkt(&format!(
        "{zero} {good} refs/heads/good\\0report-status\n{zero} {bad} refs/heads/bad\n0000"
    ));
    input.extend(pack);
    let (_, out, err) = run_server(&["receive-pack", dst.to_str().unwrap()], &[], &input);
    let lines = parse_pkts(&out);
    assert!(
        lines.iter().any(|l| l == "ok refs/heads/good"),
        "{lines:?} {err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "ng refs/heads/bad missing necessary objects"),
        "{lines:?} {err}"
    );
    assert_eq!(server_ref(&dst, "refs/heads/good"), Some(good));
    assert_eq!(server_ref(&dst, "refs/heads/bad"), None);
    fsck(&dst);
}

/// An invalid value for a setting receive-pack reads refuses the push with one line naming the
/// key, and changes nothing (C git dies with "bad boolean config value").
#[test]
fn invalid_receive_setting_refuses_the_push() {
    let (_dir, dst, work) = setup();
    git_ok(&dst, &["config", "receive.denyDeletes", "maybe"]);
    let out = push(&work, &dst, &["main"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(!out.status.success(), "push succeeded: {stderr}");
    assert!(
        stderr.contains("receive.denydeletes") && stderr.contains("maybe"),
        "{stderr}"
    );
    assert_eq!(server_ref(&dst, "refs/heads/main"), None);
    fsck(&dst);
}

/// The same for upload-pack: a clone from a repository with an invalid `uploadpack.*` value
/// (a boolean; `keepAlive`, an integer, as C git's "bad numeric config value") fails with one
/// line naming the key, over every protocol version.
#[test]
fn invalid_upload_setting_refuses_the_clone() {
    let dir = scratch();
    for (key, value) in [
        ("uploadpack.allowFilter", "perhaps"),
        ("uploadpack.keepAlive", "abc"),
    ] {
        let src = dir.path().join(format!("{key}.git"));
        copy_repo(&fixture("branches"), &src);
        git_ok(&src, &["config", key, value]);
        for version in [0, 2] {
            let dst = dir.path().join(format!("{key}-clone-v{version}"));
            let out = clone(Transport::UploadPackFlag, version, &src, &dst, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
            assert!(!out.status.success(), "clone succeeded: {stderr}");
            assert!(
                stderr.contains(&key.to_lowercase()) && stderr.contains(value),
                "{key} v{version}: {stderr}"
            );
        }
    }
}

/// `receive.denyDeleteCurrent`: deleting the branch HEAD points at is refused by default, bare
/// repository or not, as C git does; `warn`/`ignore`/`false` allow it. Run against Sluice and
/// C git's receive-pack on twin repositories: same outcome, same `ng` reason, same refs.
#[test]
fn deleting_the_current_branch() {
    use common::receive::{push_via, SERVERS};
    let (dir, dst, work) = setup();
    push_ok(&work, &dst, &["main", "origin/feature:refs/heads/feature"]);
    let settings = [
        None,
        Some("refuse"),
        Some("true"),
        Some("updateInstead"),
        Some("warn"),
        Some("ignore"),
        Some("false"),
    ];
    for (n, setting) in settings.into_iter().enumerate() {
        let mut outcomes = Vec::new();
        for server in SERVERS {
            let twin = dir.path().join(format!("{}-{n}.git", server.name()));
            copy_repo(&dst, &twin);
            if let Some(v) = setting {
                git_ok(&twin, &["config", "receive.denyDeleteCurrent", v]);
            }
            let out = push_via(server, &work, &twin, &["--porcelain", ":main"]);
            let status: String = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.starts_with('!') || l.starts_with('-'))
                .map(|l| format!("{l}\n"))
                .collect();
            outcomes.push((out.status.success(), status, refs(&twin)));
        }
        let allowed = matches!(setting, Some("warn" | "ignore" | "false"));
        assert_eq!(outcomes[0].0, allowed, "{setting:?}: {outcomes:?}");
        if !allowed {
            assert!(
                outcomes[0]
                    .1
                    .contains("deletion of the current branch prohibited"),
                "{setting:?}: {outcomes:?}"
            );
        }
        assert_eq!(outcomes[0], outcomes[1], "{setting:?}: same as C git");
    }
    // In a non-bare repository denyCurrentBranch is checked first, as C git does.
    let mut outcomes = Vec::new();
    for server in SERVERS {
        let twin = dir.path().join(format!("{}-worktree", server.name()));
        git_ok(
            dir.path(),
            &[
                "clone",
                "-q",
                "--no-local",
                dst.to_str().unwrap(),
                twin.to_str().unwrap(),
            ],
        );
        let out = push_via(server, &work, &twin, &["--porcelain", ":main"]);
        let status = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with('!'))
            .map(|l| l.replace(&twin.display().to_string(), "DST"))
            .collect::<Vec<_>>();
        outcomes.push((out.status.success(), status));
    }
    assert!(!outcomes[0].0, "{outcomes:?}");
    assert!(
        outcomes[0].1[0].contains("branch is currently checked out"),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[0], outcomes[1], "same as C git");
}
