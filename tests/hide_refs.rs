//! `transfer.hideRefs`, `uploadpack.hideRefs` and `receive.hideRefs` through the real git client:
//! hidden refs are not advertised (v0 and v2), `!` un-hides, `^` matches the full name through a
//! namespace, their objects are served by id only as C git's `allow*SHA1InWant` allow, and a push
//! to a hidden ref is refused per ref. Each test also runs against C git's programs with
//! `SLUICE_TEST_SERVER=git`.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn ls_remote(repo: &Path, ns: &str, version: u8) -> String {
    let up = format!("--upload-pack={}", server_in_namespace("upload-pack", ns));
    let v = format!("protocol.version={version}");
    let out = git_ok(repo, &["-c", &v, "ls-remote", &up, &file_url(repo)]);
    // C git 2.47's v2 lists a namespace's HEAD twice; Sluice once (see tests/namespaces.rs).
    let mut lines: Vec<&str> = out
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap_or(l))
        .collect();
    lines.dedup();
    lines.join(" ")
}

fn commit(work: &Path, file: &str) -> String {
    std::fs::write(work.join(file), file).unwrap();
    git_ok(work, &["add", file]);
    git_ok(work, &["commit", "-q", "-m", file]);
    git_ok(work, &["rev-parse", "HEAD"]).trim().to_string()
}

/// Commit ids of [`served`]: `main` is m1 <- m2; the hidden ref `refs/hidden/x` is
/// m2 <- h1 <- h2; `dangling` is referenced by nothing.
struct Ids {
    m1: String,
    h1: String,
    h2: String,
    dangling: String,
}

/// A bare repository with visible, hidden and un-hidden refs and the hide settings of `config`.
fn served(config: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf, Ids) {
    let dir = scratch();
    let work = dir.path().join("work");
    git_ok(dir.path(), &["init", "-q", "-b", "main", "work"]);
    let m1 = commit(&work, "m1");
    let m2 = commit(&work, "m2");
    git_ok(&work, &["switch", "-q", "-c", "side"]);
    let h1 = commit(&work, "h1");
    let h2 = commit(&work, "h2");
    let dangling = commit(&work, "dangling");
    git_ok(&work, &["switch", "-q", "main"]);
    let repo = dir.path().join("srv.git");
    git_ok(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", "srv.git"],
    );
    git_ok(
        &work,
        &["push", "-q", repo.to_str().unwrap(), "main", "side"],
    );
    let set = |name: &str, id: &str| git_ok(&repo, &["update-ref", name, id]);
    git_ok(&repo, &["update-ref", "-d", "refs/heads/side"]);
    set("refs/hidden/x", &h2);
    set("refs/hidden/shown/y", &m2);
    set("refs/pushonly/p", &m2);
    set("refs/tags/secret/s", &m1);
    set("refs/namespaces/foo/refs/heads/a", &m1);
    set("refs/namespaces/foo/refs/heads/b", &m2);
    for (k, v) in config {
        git_ok(&repo, &["config", "--add", k, v]);
    }
    let ids = Ids {
        m1,
        h1,
        h2,
        dangling,
    };
    (dir, repo, ids)
}

/// The hide settings most tests use: `transfer` for both services, `!` negation, one pattern
/// per service, a trailing `/` (dropped, as C git does) and `^` full names.
const HIDE: &[(&str, &str)] = &[
    ("transfer.hideRefs", "refs/hidden"),
    ("uploadpack.hideRefs", "!refs/hidden/shown"),
    ("receive.hideRefs", "refs/pushonly"),
    ("uploadpack.hideRefs", "refs/tags/secret/"),
    ("uploadpack.hideRefs", "^refs/namespaces/foo/refs/heads/a"),
    ("uploadpack.hideRefs", "refs/namespaces/foo/refs/heads/b"),
    ("uploadpack.allowReachableSHA1InWant", "false"),
];

#[test]
fn hidden_refs_are_not_advertised_v0_and_v2() {
    let (_dir, repo, _) = served(HIDE);
    for version in [0, 2] {
        assert_eq!(
            ls_remote(&repo, "", version),
            "HEAD refs/heads/main refs/hidden/shown/y refs/pushonly/p",
            "v{version}"
        );
        // `^` sees the full name inside a namespace; a plain pattern sees the stripped one.
        assert_eq!(
            ls_remote(&repo, "foo", version),
            "refs/heads/b",
            "v{version}"
        );
    }
}

/// receive-pack's advertisement in namespace `ns` (empty: none): (names, set of all ids).
fn receive_advert(repo: &Path, ns: &str) -> (Vec<String>, std::collections::BTreeSet<String>) {
    let env: &[(&str, &str)] = if ns.is_empty() {
        &[]
    } else {
        &[("GIT_NAMESPACE", ns)]
    };
    let (status, out, err) = run_server(&["receive-pack", repo.to_str().unwrap()], env, b"0000");
    assert!(status.success(), "{err}");
    let mut names = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for line in parse_pkts(&out) {
        let line = line
            .split('\0')
            .next()
            .unwrap_or_default()
            .trim_end()
            .to_string();
        let Some((id, name)) = line.split_once(' ') else {
            continue;
        };
        ids.insert(id.to_string());
        if name != ".have" {
            names.push(name.to_string());
        }
    }
    (names, ids)
}

/// receive-pack honours `transfer` and `receive` patterns, not `uploadpack` ones (so the
/// upload-pack `!refs/hidden/shown` does not un-hide anything here); inside a
/// namespace, the tips of refs outside it (hidden ones included: a plain pattern never
/// matches outside the namespace) are offered as `.have` only.
#[test]
fn receive_pack_hides_its_own_set() {
    let (_dir, repo, ids) = served(HIDE);
    let (names, _) = receive_advert(&repo, "");
    assert_eq!(
        names,
        [
            "refs/heads/main",
            "refs/namespaces/foo/refs/heads/a",
            "refs/namespaces/foo/refs/heads/b",
            "refs/tags/secret/s",
        ]
    );
    let (names, all_ids) = receive_advert(&repo, "foo");
    assert_eq!(names, ["refs/heads/a", "refs/heads/b"]);
    let m2 = git_ok(&repo, &["rev-parse", "main"]).trim().to_string();
    let want: std::collections::BTreeSet<String> =
        [ids.m1.clone(), m2, ids.h2.clone()].into_iter().collect();
    assert_eq!(all_ids, want);
}

/// `git fetch URL ID` over v0: true when the server sends the object.
fn fetch_id(repo: &Path, id: &str) -> bool {
    let dst = scratch();
    git_ok(dst.path(), &["init", "-q"]);
    let up = format!("--upload-pack={}", server_in_namespace("upload-pack", ""));
    let out = git(
        dst.path(),
        &[
            "-c",
            "protocol.version=0",
            "fetch",
            "-q",
            &up,
            &file_url(repo),
            id,
        ],
    );
    out.status.success()
}

/// Without `allow*SHA1InWant` a hidden tip cannot be fetched by id; with
/// `allowTipSHA1InWant` its tip can (that is what the setting is for) but not its history;
/// with `allowReachableSHA1InWant` what any ref reaches can, and nothing else.
#[test]
fn hidden_objects_by_id_follow_allow_sha1_in_want_v0() {
    // No setting at all (Sluice then allows what visible refs reach, for partial clones).
    let unset: Vec<(&str, &str)> = HIDE[..HIDE.len() - 1].to_vec();
    let (_dir, repo, ids) = served(&unset);
    assert!(!fetch_id(&repo, &ids.h2), "hidden tip served by default");
    assert!(
        !fetch_id(&repo, &ids.h1),
        "hidden history served by default"
    );

    let (_dir, repo, ids) = served(HIDE);
    assert!(!fetch_id(&repo, &ids.h2), "hidden tip served by default");
    assert!(
        !fetch_id(&repo, &ids.h1),
        "hidden history served by default"
    );

    git_ok(&repo, &["config", "uploadpack.allowTipSHA1InWant", "true"]);
    assert!(
        fetch_id(&repo, &ids.h2),
        "allowTipSHA1InWant: hidden tip refused"
    );
    assert!(
        !fetch_id(&repo, &ids.h1),
        "allowTipSHA1InWant: history served"
    );

    git_ok(&repo, &["config", "uploadpack.allowTipSHA1InWant", "false"]);
    git_ok(
        &repo,
        &["config", "uploadpack.allowReachableSHA1InWant", "true"],
    );
    assert!(
        fetch_id(&repo, &ids.m1),
        "reachable from a visible ref refused"
    );
    assert!(
        fetch_id(&repo, &ids.h1),
        "reachable from a hidden ref refused"
    );
    assert!(!fetch_id(&repo, &ids.dangling), "unreachable object served");
}

/// Over v2 C git 2.47 checks no want against the refs at all; Sluice does, so a hidden tip is
/// refused there too unless an `allow*SHA1InWant` setting allows it.
#[test]
fn hidden_tip_by_id_over_v2() {
    if against_git() {
        return;
    }
    let (_dir, repo, ids) = served(HIDE);
    let dst = scratch();
    git_ok(dst.path(), &["init", "-q"]);
    let up = format!("--upload-pack={}", server_in_namespace("upload-pack", ""));
    let fetch = |id: &str| {
        git(
            dst.path(),
            &[
                "-c",
                "protocol.version=2",
                "fetch",
                "-q",
                &up,
                &file_url(&repo),
                id,
            ],
        )
    };
    let out = fetch(&ids.h2);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not our ref"));
    git_ok(&repo, &["config", "uploadpack.allowTipSHA1InWant", "true"]);
    assert!(fetch(&ids.h2).status.success());
}

/// A push touching hidden and visible refs: the hidden ones are refused per ref with C git's
/// words, the others go through; `uploadpack.hideRefs` does not restrict pushes.
#[test]
fn push_to_hidden_ref_is_refused_per_ref() {
    let (dir, repo, ids) = served(HIDE);
    let work = dir.path().join("work");
    let rp = format!("--receive-pack={}", server_in_namespace("receive-pack", ""));
    let out = git(
        &work,
        &[
            "push",
            "--porcelain",
            &rp,
            &file_url(&repo),
            &format!("{}:refs/heads/main", ids.h2),
            "main:refs/hidden/new",
            "main:refs/pushonly/p",
            "main:refs/tags/secret/t",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    for refused in ["refs/hidden/new", "refs/pushonly/p"] {
        assert!(
            text.contains(&format!(
                "{refused}\t[remote rejected] (deny updating a hidden ref)"
            )),
            "{refused}: {text}"
        );
    }
    assert!(
        text.contains("\trefs/tags/secret/t\t[new tag]")
            || text.contains(":refs/tags/secret/t\t[new"),
        "{text}"
    );
    let all = refs(&repo);
    assert!(
        all.contains(&format!("{} refs/heads/main\n", ids.h2)),
        "{all}"
    );
    assert!(!all.contains("refs/hidden/new"), "{all}");
    fsck(&repo);
}

/// Inside a namespace, receive-pack's `^` patterns see the full name.
#[test]
fn push_inside_a_namespace_with_full_name_pattern() {
    let (dir, repo, ids) = served(&[("receive.hideRefs", "^refs/namespaces/foo/refs/heads/a")]);
    let work = dir.path().join("work");
    let rp = format!(
        "--receive-pack={}",
        server_in_namespace("receive-pack", "foo")
    );
    let out = git(
        &work,
        &[
            "push",
            "--porcelain",
            &rp,
            &file_url(&repo),
            "main:refs/heads/a",
            "main:refs/heads/c",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("refs/heads/a\t[remote rejected] (deny updating a hidden ref)"),
        "{text}"
    );
    let all = refs(&repo);
    assert!(
        all.contains(&format!("{} refs/namespaces/foo/refs/heads/a\n", ids.m1)),
        "{all}"
    );
    assert!(all.contains("refs/namespaces/foo/refs/heads/c\n"), "{all}");
    fsck(&repo);
}

/// One v2 session of `sluice upload-pack` on `repo`: `ls-refs` of `prefix`, then (after
/// `between` ran, the refs as `ls-refs` showed them possibly changed) a `fetch` of `want` with
/// `done`. Returns the fetch's answer up to the pack data.
fn ls_refs_then_fetch(
    repo: &Path,
    prefix: &str,
    between: impl FnOnce(),
    want: &str,
) -> Vec<String> {
    use std::io::{Read, Write};
    let mut child = std::process::Command::new(sluice())
        .args(["upload-pack"])
        .arg(repo)
        .env("GIT_PROTOCOL", "version=2")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // Reads pkt-lines up to and including the `n`-th flush.
    let mut read_flushes = |n: usize| {
        let mut flushes = 0;
        while flushes < n {
            let mut len = [0u8; 4];
            stdout.read_exact(&mut len).unwrap();
            let len = usize::from_str_radix(std::str::from_utf8(&len).unwrap(), 16).unwrap();
            if len == 0 {
                flushes += 1;
            } else if len > 4 {
                let mut payload = vec![0u8; len - 4];
                stdout.read_exact(&mut payload).unwrap();
            }
        }
    };
    read_flushes(1); // the capability advertisement
    let ls = pkt(&format!("command=ls-refs\n0001\nref-prefix {prefix}\n0000"));
    stdin.write_all(&ls).unwrap();
    stdin.flush().unwrap();
    read_flushes(1);
    between();
    let fetch = pkt(&format!(
        "command=fetch\n0001\nno-progress\nwant {want}\ndone\n0000\n0000"
    ));
    // The server may refuse and exit before reading all of it.
    let _ = stdin.write_all(&fetch);
    drop(stdin);
    let mut rest = Vec::new();
    let _ = stdout.read_to_end(&mut rest);
    child.wait().unwrap();
    parse_pkts(&rest)
}

/// A v2 fetch's wants are checked against the refs as they are when it runs: the ref the
/// session's `ls-refs` listed is looked up again by name, every visible ref is read when a want
/// is not its tip, and a hidden tip stays refused either way (Sluice's rule; C git 2.47's v2
/// checks only that the object exists).
#[test]
fn v2_wants_after_ls_refs_are_checked_against_current_refs() {
    if against_git() {
        return;
    }
    let (_dir, repo, ids) = served(HIDE);
    let main = git_ok(&repo, &["rev-parse", "main"]).trim().to_string();
    let served = |answer: &[String]| answer.iter().any(|l| l == "packfile");
    let refused = |answer: &[String], id: &str| {
        answer
            .iter()
            .any(|l| l == &format!("ERR upload-pack: not our ref {id}"))
    };
    let listed = ls_refs_then_fetch(&repo, "refs/heads/main", || {}, &main);
    assert!(served(&listed), "listed tip: {listed:?}");
    let hidden = ls_refs_then_fetch(&repo, "refs/heads/main", || {}, &ids.h2);
    assert!(refused(&hidden, &ids.h2), "hidden tip: {hidden:?}");
    // A visible tip the session did not list: found by reading every ref.
    git_ok(&repo, &["update-ref", "refs/heads/other", &ids.dangling]);
    let unlisted = ls_refs_then_fetch(&repo, "refs/heads/main", || {}, &ids.dangling);
    assert!(served(&unlisted), "unlisted visible tip: {unlisted:?}");
    // The listed ref moves back before the fetch, and no visible ref holds its old tip.
    for r in ["refs/heads/other", "refs/hidden/shown/y", "refs/pushonly/p"] {
        git_ok(&repo, &["update-ref", "-d", r]);
    }
    let moved = ls_refs_then_fetch(
        &repo,
        "refs/heads/main",
        || {
            git_ok(&repo, &["update-ref", "refs/heads/main", &ids.m1]);
        },
        &main,
    );
    assert!(refused(&moved, &main), "old tip of a moved ref: {moved:?}");
}
