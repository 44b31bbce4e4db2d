//! The reftable ref store against C git as the oracle: tables C git wrote read the same as
//! `git for-each-ref` / `git show-ref -d` / `git symbolic-ref` say; tables Sluice writes read
//! the same in C git (`for-each-ref`, `reflog`, `fsck --strict`, `refs verify`); C git and
//! Sluice writing one repository at once lose no update; damaged tables are errors, not panics.

mod common;

use std::path::Path;

use common::*;
use sluice::file_mode::SharedPerm;
use sluice::hash::{HashKind, ObjectId};
use sluice::refs::reftable::transaction::{commit, Edit, LogInfo, LogPolicy, WriteOptions};
use sluice::refs::reftable::{RefValue, Stack};

/// `<id> <name>` lines for every ref as `git show-ref -d` prints them (symrefs resolved, tags
/// followed by their fully peeled `^{}` line), from the stack in `repo`.
fn show_ref_from_stack(repo: &Path, prefix: &str) -> String {
    let stack = Stack::open(&repo.join("reftable")).expect("open stack");
    let mut out = String::new();
    for rec in stack.refs(prefix).expect("iterate") {
        let rec = rec.expect("record");
        let mut value = rec.value.clone();
        for _ in 0..5 {
            let RefValue::Symbolic(target) = &value else {
                break;
            };
            match stack.lookup(target).expect("lookup") {
                Some(v) => value = v,
                None => break,
            }
        }
        match value {
            RefValue::Direct(id) => out.push_str(&format!("{id} {}\n", rec.name)),
            RefValue::Peeled { id, peeled } => {
                out.push_str(&format!("{id} {}\n{peeled} {}^{{}}\n", rec.name, rec.name))
            }
            other => panic!("{}: unresolved {other:?}", rec.name),
        }
    }
    out
}

/// Asserts `ours == theirs` line by line, reporting the first difference only (10,000 lines).
fn same_lines(ours: &str, theirs: &str, what: &str) {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
    if let Some(i) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) {
        panic!(
            "{what}: line {i}: ours {:?}, C git {:?} ({} vs {} lines)",
            a.get(i),
            b.get(i),
            a.len(),
            b.len()
        );
    }
}

#[test]
fn tables_written_by_c_git_read_like_c_git_reads_them() {
    for args in [&[][..], &["packed"][..]] {
        let repo = fixture_with_args("reftable", args);
        let tables = std::fs::read_to_string(repo.join("reftable/tables.list")).unwrap();
        if args.is_empty() {
            assert!(
                tables.lines().count() > 1,
                "want a stack of tables: {tables}"
            );
        }
        let expected = git_ok(&repo, &["show-ref", "-d"]);
        assert!(expected.lines().count() > 10_000);
        assert!(expected.contains("refs/heads/alias") && expected.contains("^{}"));
        assert!(!expected.contains("refs/pulls/00042/") && !expected.contains("refs/tags/v1\n"));
        same_lines(
            &show_ref_from_stack(&repo, "refs/"),
            &expected,
            &format!("{args:?}"),
        );
        // A prefix streams just its names.
        let tags = git_ok(&repo, &["show-ref", "-d", "--tags"]);
        same_lines(&show_ref_from_stack(&repo, "refs/tags/"), &tags, "tags");
        let stack = Stack::open(&repo.join("reftable")).unwrap();
        let head = git_ok(&repo, &["symbolic-ref", "HEAD"]);
        assert_eq!(
            stack.lookup("HEAD").unwrap(),
            Some(RefValue::Symbolic(head.trim().to_string()))
        );
        for name in [
            "refs/pulls/00007/head",
            "refs/pulls/09999/head",
            "refs/heads/side",
        ] {
            let id = git_ok(&repo, &["rev-parse", name]);
            assert_eq!(
                stack.lookup(name).unwrap(),
                Some(RefValue::Direct(
                    sluice::hash::ObjectId::from_hex(id.trim().as_bytes()).unwrap()
                )),
                "{name}"
            );
        }
        for gone in [
            "refs/pulls/00042/head",
            "refs/tags/v1",
            "refs/heads/zz",
            "refs/nope",
        ] {
            assert_eq!(stack.lookup(gone).unwrap(), None, "{gone}");
        }
    }
}

/// `<new id> <message>` lines of `name`'s reflog, newest first, from the stack in `repo`.
fn reflog_from_stack(repo: &Path, name: &str) -> String {
    let stack = Stack::open(&repo.join("reftable")).unwrap();
    let mut out = String::new();
    for rec in stack.logs(name).unwrap() {
        let e = rec.entry.unwrap();
        out.push_str(&format!(
            "{} {} <{}> {}\n",
            e.new,
            e.name,
            e.email,
            e.message.trim_end()
        ));
    }
    out
}

/// The same lines from `git reflog show`.
fn reflog_from_git(repo: &Path, name: &str) -> String {
    let out = git(repo, &["reflog", "show", "--format=%H %gn <%ge> %gs", name]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn reflogs_written_by_c_git_read_like_git_reflog_shows_them() {
    let repo = fixture("reftable");
    for name in ["HEAD", "refs/heads/main", "refs/heads/side"] {
        let ours = reflog_from_stack(&repo, name);
        assert!(!ours.is_empty(), "{name} has a reflog");
        assert_eq!(ours, reflog_from_git(&repo, name), "{name}");
    }
    // Not logged under `core.logAllRefUpdates=true`.
    assert_eq!(reflog_from_git(&repo, "refs/pulls/00007/head"), "");
    assert_eq!(reflog_from_stack(&repo, "refs/pulls/00007/head"), "");
    // A deleted ref's reflog is gone for C git; so it is for the stack.
    assert!(!git(&repo, &["reflog", "exists", "refs/heads/zz"])
        .status
        .success());
    assert_eq!(reflog_from_stack(&repo, "refs/heads/zz"), "");
}

/// A bare reftable repository made by C git holding two commits (`one`, `two`) and an annotated
/// tag object of `two` (not referenced by any ref): returns (repo, one, two, tag).
fn reftable_repo_with_objects(dir: &Path) -> (std::path::PathBuf, ObjectId, ObjectId, ObjectId) {
    let work = dir.join("w");
    let repo = dir.join("r.git");
    git_ok(dir, &["init", "-q", "-b", "main", work.to_str().unwrap()]);
    git_ok(&work, &["commit", "-q", "--allow-empty", "-m", "one"]);
    git_ok(&work, &["commit", "-q", "--allow-empty", "-m", "two"]);
    git_ok(&work, &["tag", "-a", "-m", "t", "t"]);
    git_ok(
        dir,
        &[
            "init",
            "-q",
            "--bare",
            "--ref-format=reftable",
            "-b",
            "main",
            repo.to_str().unwrap(),
        ],
    );
    git_ok(
        &work,
        &[
            "push",
            "-q",
            repo.to_str().unwrap(),
            "main:refs/heads/main",
            "t",
        ],
    );
    git_ok(&repo, &["update-ref", "-d", "refs/heads/main"]);
    git_ok(&repo, &["update-ref", "-d", "refs/tags/t"]);
    let id =
        |r: &str| ObjectId::from_hex(git_ok(&work, &["rev-parse", r]).trim().as_bytes()).unwrap();
    (repo, id("HEAD~1"), id("HEAD"), id("t"))
}

fn log_info(policy: LogPolicy) -> LogInfo {
    LogInfo {
        policy,
        name: "Pu Sher".into(),
        email: "pusher@example.com".into(),
        time: 1_700_000_123,
        tz_hhmm: -130,
        message: "push".into(),
    }
}

fn edit(name: &str, old: ObjectId, new: ObjectId) -> Edit {
    Edit {
        name: name.into(),
        old,
        new,
    }
}

fn leftovers(repo: &Path) -> Vec<String> {
    let listed = std::fs::read_to_string(repo.join("reftable/tables.list")).unwrap();
    std::fs::read_dir(repo.join("reftable"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "tables.list" && !listed.lines().any(|l| l == n))
        .collect()
}

#[test]
fn tables_written_by_sluice_read_in_c_git() {
    let dir = scratch();
    let (repo, one, two, tag) = reftable_repo_with_objects(dir.path());
    let null = HashKind::Sha1.null();
    let mut peel = |id: &ObjectId| Ok((*id == tag).then_some(two));
    let rt = repo.join("reftable");
    let kind = HashKind::Sha1;
    let shared = SharedPerm::default();
    let info = log_info(LogPolicy::Normal);
    let edits = [
        edit("refs/heads/main", null, one),
        edit("refs/tags/t", null, tag),
        edit("refs/heads/side", null, two),
    ];
    let r = commit(&rt, kind, &edits, true, &info, &mut peel, shared).unwrap();
    assert!(r.iter().all(Result::is_ok), "{r:?}");
    // Many refs in one transaction: several blocks and a ref index.
    let many: Vec<Edit> = (0..3000)
        .map(|i| edit(&format!("refs/many/{i:05}"), null, one))
        .collect();
    let r = commit(&rt, kind, &many, false, &info, &mut peel, shared).unwrap();
    assert!(r.iter().all(Result::is_ok));
    // Compare-and-swap: a stale old value fails; atomic fails the rest too, nothing written.
    let before = std::fs::read_to_string(rt.join("tables.list")).unwrap();
    let r = commit(
        &rt,
        kind,
        &[
            edit("refs/heads/main", two, one),
            edit("refs/heads/new", null, one),
        ],
        true,
        &info,
        &mut peel,
        shared,
    )
    .unwrap();
    assert!(r[0].as_ref().unwrap_err().contains("expected"), "{r:?}");
    assert_eq!(r[1], Err("atomic transaction failed".to_string()));
    assert_eq!(
        std::fs::read_to_string(rt.join("tables.list")).unwrap(),
        before
    );
    // Not atomic: the good one goes in. A fast-forward and a delete in the same table.
    let r = commit(
        &rt,
        kind,
        &[
            edit("refs/heads/main", one, two),
            edit("refs/heads/side", one, one),
            edit("refs/many/00007", one, null),
        ],
        false,
        &info,
        &mut peel,
        shared,
    )
    .unwrap();
    assert!(r[0].is_ok() && r[1].is_err() && r[2].is_ok(), "{r:?}");
    assert!(leftovers(&repo).is_empty(), "{:?}", leftovers(&repo));
    // C git reads it all, peeled tag included, and finds nothing wrong.
    same_lines(
        &show_ref_from_stack(&repo, "refs/"),
        &git_ok(&repo, &["show-ref", "-d"]),
        "show-ref",
    );
    let refs = git_ok(
        &repo,
        &["for-each-ref", "--format=%(objectname) %(refname)"],
    );
    assert!(refs.contains(&format!("{two} refs/heads/main\n")));
    assert!(refs.contains(&format!("{two} refs/heads/side\n")));
    assert!(refs.contains(&format!("{tag} refs/tags/t\n")));
    assert!(!refs.contains("refs/many/00007") && refs.contains("refs/many/02999"));
    assert_eq!(
        git_ok(&repo, &["rev-parse", "refs/tags/t^{}"]).trim(),
        two.to_string()
    );
    let log = git_ok(
        &repo,
        &[
            "reflog",
            "show",
            "--format=%H %gn <%ge> %gs",
            "refs/heads/main",
        ],
    );
    assert_eq!(
        log,
        format!(
            "{two} Pu Sher <pusher@example.com> push\n{one} Pu Sher <pusher@example.com> push\n"
        )
    );
    let head_log = git_ok(&repo, &["reflog", "show", "--format=%H %gs", "HEAD"]);
    assert_eq!(head_log, format!("{two} push\n{one} push\n"));
    let date = git_ok(
        &repo,
        &[
            "reflog",
            "show",
            "--date=raw",
            "--format=%gd",
            "-1",
            "refs/heads/main",
        ],
    );
    assert_eq!(date.trim(), "main@{1700000123 -0130}");
    assert_eq!(
        reflog_from_git(&repo, "refs/tags/t"),
        "",
        "tags are not logged under Normal"
    );
    fsck(&repo);
    let verify = git(&repo, &["refs", "verify", "--strict"]);
    assert_success(&verify, "git refs verify");
    // C git writes on top, and compacts Sluice's tables with its own.
    git_ok(&repo, &["update-ref", "refs/heads/after", &one.to_string()]);
    git_ok(&repo, &["pack-refs", "--all"]);
    assert_eq!(
        git_ok(&repo, &["rev-parse", "refs/heads/main"]).trim(),
        two.to_string()
    );
    assert_eq!(reflog_from_git(&repo, "refs/heads/main").lines().count(), 2);
    fsck(&repo);
}

#[test]
fn reflog_time_zones_are_stored_as_c_git_stores_them() {
    let dir = scratch();
    let repo = dir.path().join("w");
    git_ok(
        dir.path(),
        &[
            "init",
            "-q",
            "--ref-format=reftable",
            repo.to_str().unwrap(),
        ],
    );
    let out = git_cmd(&repo)
        .env("GIT_COMMITTER_DATE", "1700000000 -0130")
        .args(["commit", "-q", "--allow-empty", "-m", "one"])
        .output()
        .unwrap();
    assert_success(&out, "commit");
    let stack = Stack::open(&repo.join(".git/reftable")).unwrap();
    let logs = stack.logs("HEAD").unwrap();
    let entry = logs[0].entry.as_ref().unwrap();
    // Documented as minutes; C git 2.47 stores the `±hhmm` digits as a number.
    assert_eq!((entry.time, entry.tz_hhmm), (1_700_000_000, -130));
}

/// Reads everything a table offers, as a server would: refs from several prefixes and every
/// log; errors are fine, panics and endless loops are not.
fn read_everything(table: &sluice::refs::reftable::table::Table) -> usize {
    let mut n = 0;
    for prefix in ["", "refs/heads/", "refs/pulls/05", "zzz"] {
        if let Ok(it) = table.refs(prefix) {
            n += it.take(50_000).take_while(Result::is_ok).count();
        }
    }
    n + table.logs().take(50_000).take_while(Result::is_ok).count()
}

#[test]
fn truncated_and_corrupted_tables_are_errors_not_panics() {
    use sluice::refs::reftable::table::Table;
    let repo = fixture("reftable");
    let list = std::fs::read_to_string(repo.join("reftable/tables.list")).unwrap();
    for name in list.lines() {
        let data = std::fs::read(repo.join("reftable").join(name)).unwrap();
        let whole = Table::parse(name.into(), data.clone()).unwrap();
        assert!(read_everything(&whole) > 0);
        // Every truncation of a small table, a spread of them for the big one.
        let step = (data.len() / 600).max(1);
        for len in (0..data.len()).step_by(step) {
            assert!(
                Table::parse(name.into(), data[..len].to_vec()).is_err(),
                "{name} cut at {len}"
            );
        }
        // Flipped bits everywhere: the footer CRC or the block checks catch most; whatever
        // parses must read without panicking.
        let step = (data.len() / 500).max(1);
        for pos in (0..data.len()).step_by(step) {
            for bit in [0x01, 0x80] {
                let mut bad = data.clone();
                bad[pos] ^= bit;
                if let Ok(t) = Table::parse(name.into(), bad) {
                    read_everything(&t);
                }
            }
        }
        // Garbage in the blocks with a valid header and footer: the body is not covered by
        // the CRC, so the block decoder itself must hold.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100 {
            let mut bad = data.clone();
            for _ in 0..8 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let at = 24 + (seed >> 33) as usize % (data.len() - 24 - 68);
                bad[at] = (seed >> 13) as u8;
            }
            if let Ok(t) = Table::parse(name.into(), bad) {
                read_everything(&t);
            }
        }
    }
    // A stack whose list names a missing table, or a table that is not one: a clear error.
    let dir = scratch();
    let rt = dir.path().join("reftable");
    std::fs::create_dir(&rt).unwrap();
    std::fs::write(rt.join("tables.list"), "0x1-0x1-gone.ref\n").unwrap();
    let err = Stack::open(&rt).unwrap_err().to_string();
    assert!(err.contains("gone.ref"), "{err}");
    std::fs::write(rt.join("bad.ref"), b"REFT\x09junk").unwrap();
    std::fs::write(rt.join("tables.list"), "bad.ref\n").unwrap();
    let err = Stack::open(&rt).unwrap_err().to_string();
    assert!(err.contains("bad.ref"), "{err}");
    std::fs::write(rt.join("tables.list"), "../escape.ref\n").unwrap();
    assert!(Stack::open(&rt).is_err());
}

#[test]
fn c_git_and_sluice_writing_at_once_lose_no_update() {
    let dir = scratch();
    let (repo, one, _two, _tag) = reftable_repo_with_objects(dir.path());
    let rt = repo.join("reftable");
    let n = 60;
    let c_git = {
        let repo = repo.clone();
        std::thread::spawn(move || {
            let mut ok = Vec::new();
            for i in 0..n {
                let name = format!("refs/c/{i}");
                let out = git(
                    &repo,
                    &[
                        "-c",
                        "reftable.lockTimeout=10000",
                        "update-ref",
                        &name,
                        &one.to_string(),
                    ],
                );
                assert_success(&out, &name);
                ok.push(name);
            }
            ok
        })
    };
    let null = HashKind::Sha1.null();
    let info = log_info(LogPolicy::Always);
    let mut ours = Vec::new();
    for i in 0..n {
        let edits = [
            edit(&format!("refs/s/{i}/a"), null, one),
            edit(&format!("refs/s/{i}/b"), null, one),
        ];
        let r = commit(
            &rt,
            HashKind::Sha1,
            &edits,
            true,
            &info,
            &mut |_| Ok(None),
            WriteOptions {
                lock_timeout: Some(std::time::Duration::from_secs(10)),
                ..WriteOptions::default()
            },
        )
        .unwrap();
        assert!(r.iter().all(Result::is_ok), "{r:?}");
        ours.extend(edits.map(|e| e.name));
    }
    let theirs = c_git.join().unwrap();
    let refs = git_ok(&repo, &["for-each-ref", "--format=%(refname)"]);
    for name in ours.iter().chain(&theirs) {
        assert!(refs.lines().any(|l| l == name), "{name} lost");
    }
    assert_eq!(refs.lines().count(), 3 * n);
    assert_eq!(reflog_from_git(&repo, "refs/s/7/b").lines().count(), 1);
    assert!(leftovers(&repo).is_empty(), "{:?}", leftovers(&repo));
    assert!(!rt.join("tables.list.lock").exists());
    fsck(&repo);
}

/// The `--upload-pack`/`--receive-pack` value running `service` in Sluice, or in C git itself
/// when `c_git`.
fn server(service: &str, c_git: bool) -> String {
    if c_git || against_git() {
        format!("--{service}=git-{service}")
    } else {
        format!("--{service}={} {service}", sluice())
    }
}

#[test]
fn ls_remote_clone_and_fetch_of_a_c_git_reftable_repo_match_git_upload_pack() {
    let dir = scratch();
    let src = dir.path().join("src.git");
    copy_repo(&fixture("reftable"), &src);
    let url = file_url(&src);
    for v in ["0", "2"] {
        let proto = format!("protocol.version={v}");
        let ls = |c_git: bool| {
            git_ok(
                dir.path(),
                &[
                    "-c",
                    &proto,
                    "ls-remote",
                    &server("upload-pack", c_git),
                    &url,
                ],
            )
        };
        let ours = ls(false);
        assert!(ours.contains("refs/tags/v2^{}") && ours.lines().count() > 10_000);
        assert!(ours.starts_with(&format!(
            "{}\tHEAD\n",
            git_ok(&src, &["rev-parse", "HEAD"]).trim()
        )));
        same_lines(&ours, &ls(true), &format!("ls-remote v{v}"));
        let symref = git_ok(
            dir.path(),
            &[
                "-c",
                &proto,
                "ls-remote",
                "--symref",
                &server("upload-pack", false),
                &url,
                "HEAD",
            ],
        );
        assert!(
            symref.starts_with("ref: refs/heads/main\tHEAD\n"),
            "v{v}: {symref}"
        );
        let mut mirrors = Vec::new();
        for c_git in [false, true] {
            let dst = dir.path().join(format!("m{v}-{c_git}.git"));
            let d = dst.to_str().unwrap();
            git_ok(
                dir.path(),
                &[
                    "-c",
                    &proto,
                    "clone",
                    "-q",
                    "--mirror",
                    "--no-local",
                    &server("upload-pack", c_git),
                    &url,
                    d,
                ],
            );
            mirrors.push(dst);
        }
        same_lines(
            &refs(&mirrors[0]),
            &refs(&mirrors[1]),
            &format!("mirror clone v{v}"),
        );
        fsck(&mirrors[0]);
        // C git changes the source; a fetch through Sluice brings the change.
        let side = git_ok(&src, &["rev-parse", "refs/heads/side"]);
        git_ok(
            &src,
            &["update-ref", &format!("refs/heads/new-{v}"), side.trim()],
        );
        git_ok(
            &src,
            &["update-ref", "-d", &format!("refs/pulls/0010{v}/head")],
        );
        git_ok(
            &mirrors[0],
            &[
                "-c",
                &proto,
                "fetch",
                "-q",
                "--prune",
                &server("upload-pack", false),
                &url,
                "+refs/*:refs/*",
            ],
        );
        same_lines(&refs(&mirrors[0]), &refs(&src), &format!("fetch v{v}"));
        fsck(&mirrors[0]);
    }
}

/// Pushes from `work` into `dst` through `server`, returning git's output.
fn push_via(work: &Path, dst: &Path, server: &str, args: &[&str]) -> std::process::Output {
    let url = file_url(dst);
    let mut all = vec!["push", "--porcelain", server, url.as_str()];
    all.splice(2..2, args.iter().copied().filter(|a| a.starts_with('-')));
    all.extend(args.iter().copied().filter(|a| !a.starts_with('-')));
    git(work, &all)
}

#[test]
fn pushes_into_reftable_repos_match_git_receive_pack() {
    let dir = scratch();
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &["init", "-q", "-b", "main", work.to_str().unwrap()],
    );
    let commit = |msg: &str| {
        git_ok(&work, &["commit", "-q", "--allow-empty", "-m", msg]);
        git_ok(&work, &["rev-parse", "HEAD"]).trim().to_string()
    };
    commit("one");
    git_ok(&work, &["tag", "-a", "-m", "tag", "v1"]);
    // One repository per server and reflog setting; each push goes to both servers.
    let mut repos = Vec::new();
    for logs in ["unset", "true", "always"] {
        for c_git in [false, true] {
            let r = dir.path().join(format!("{logs}-{c_git}.git"));
            git_ok(
                dir.path(),
                &[
                    "init",
                    "-q",
                    "--bare",
                    "--ref-format=reftable",
                    "-b",
                    "main",
                    r.to_str().unwrap(),
                ],
            );
            if logs != "unset" {
                git_ok(&r, &["config", "core.logAllRefUpdates", logs]);
            }
            repos.push((r, c_git));
        }
    }
    let push_all = |args: &[&str], ok: bool| {
        let mut outs = Vec::new();
        for (r, c_git) in &repos {
            let out = push_via(&work, r, &server("receive-pack", *c_git), args);
            assert_eq!(
                out.status.success(),
                ok,
                "{args:?} into {}: {}",
                r.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            outs.push(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        outs
    };
    push_all(&["main", "v1", "main:refs/heads/gone"], true);
    commit("two");
    push_all(&["main", "main:refs/heads/side", ":refs/heads/gone"], true);
    commit("three");
    // Atomic, one ref stale: nothing changes, no locks or tables are left behind.
    let outs = push_all(&["--atomic", "main", "HEAD~2:refs/heads/side"], false);
    assert!(
        outs[0].contains("atomic") || outs[0].contains("rejected"),
        "{}",
        outs[0]
    );
    push_all(&["--force", "HEAD~2:refs/heads/side", "main"], true);
    for pair in repos.chunks(2) {
        let (ours, theirs) = (&pair[0].0, &pair[1].0);
        let what = ours.display().to_string();
        same_lines(
            &git_ok(ours, &["show-ref", "-d"]),
            &git_ok(theirs, &["show-ref", "-d"]),
            &what,
        );
        assert_eq!(git_ok(ours, &["symbolic-ref", "HEAD"]), "refs/heads/main\n");
        for name in [
            "HEAD",
            "refs/heads/main",
            "refs/heads/side",
            "refs/heads/gone",
            "refs/tags/v1",
        ] {
            let fmt = "--format=%H %gn <%ge> %gs";
            let show = |r: &Path| {
                let out = git(r, &["reflog", "show", "--date=raw", fmt, name]);
                String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(
                        &git(r, &["reflog", "show", "--date=raw", "--format=%gd", name]).stdout,
                    )
            };
            assert_eq!(show(ours), show(theirs), "{what} reflog of {name}");
        }
        fsck(ours);
        assert_success(&git(ours, &["refs", "verify", "--strict"]), "refs verify");
        assert!(leftovers(ours).is_empty(), "{:?}", leftovers(ours));
        assert!(!ours.join("reftable/tables.list.lock").exists());
        assert!(!ours.join("sluice-refs.mutex").exists(), "{what}");
    }
    // The logged repositories did log something.
    assert_eq!(
        git_ok(&repos[2].0, &["reflog", "show", "refs/heads/main"])
            .lines()
            .count(),
        3
    );
}

#[test]
fn concurrent_pushes_through_sluice_and_git_receive_pack_all_land() {
    let dir = scratch();
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &["init", "-q", "-b", "main", work.to_str().unwrap()],
    );
    git_ok(&work, &["commit", "-q", "--allow-empty", "-m", "one"]);
    let repo = dir.path().join("r.git");
    git_ok(
        dir.path(),
        &[
            "init",
            "-q",
            "--bare",
            "--ref-format=reftable",
            repo.to_str().unwrap(),
        ],
    );
    git_ok(&repo, &["config", "reftable.lockTimeout", "10000"]);
    let rounds = 12;
    let pushers: Vec<_> = [false, true, false]
        .into_iter()
        .enumerate()
        .map(|(p, c_git)| {
            let (work, repo) = (work.clone(), repo.clone());
            std::thread::spawn(move || {
                for i in 0..rounds {
                    let spec = format!("main:refs/heads/p{p}/{i}");
                    let out = push_via(&work, &repo, &server("receive-pack", c_git), &[&spec]);
                    assert_success(&out, &spec);
                }
            })
        })
        .collect();
    for p in pushers {
        p.join().unwrap();
    }
    let refs = git_ok(&repo, &["for-each-ref", "--format=%(refname)"]);
    for p in 0..3 {
        for i in 0..rounds {
            let name = format!("refs/heads/p{p}/{i}");
            assert!(refs.lines().any(|l| l == name), "{name} lost:\n{refs}");
        }
    }
    assert!(leftovers(&repo).is_empty(), "{:?}", leftovers(&repo));
    fsck(&repo);
}

#[test]
fn directory_file_conflicts_are_refused_as_c_git_refuses_them() {
    let dir = scratch();
    let (repo, one, _two, _tag) = reftable_repo_with_objects(dir.path());
    let rt = repo.join("reftable");
    let null = HashKind::Sha1.null();
    let info = log_info(LogPolicy::Normal);
    let run = |edits: &[Edit]| {
        commit(
            &rt,
            HashKind::Sha1,
            edits,
            false,
            &info,
            &mut |_| Ok(None),
            SharedPerm::default(),
        )
        .unwrap()
    };
    assert!(run(&[edit("refs/heads/a", null, one)])[0].is_ok());
    let r = run(&[
        edit("refs/heads/a/b", null, one),
        edit("refs/heads/c/d", null, one),
    ]);
    assert!(
        r[0].as_ref().unwrap_err().contains("'refs/heads/a' exists"),
        "{r:?}"
    );
    assert!(r[1].is_ok());
    let r = run(&[edit("refs/heads/c", null, one)]);
    assert!(
        r[0].as_ref()
            .unwrap_err()
            .contains("'refs/heads/c/d' exists"),
        "{r:?}"
    );
    // Deleting the one in the way in the same transaction makes room.
    let r = run(&[
        edit("refs/heads/a", one, null),
        edit("refs/heads/a/b", null, one),
    ]);
    assert!(r.iter().all(Result::is_ok), "{r:?}");
    // C git agrees on both counts.
    let out = git(&repo, &["update-ref", "refs/heads/c", &one.to_string()]);
    assert!(!out.status.success());
    assert_eq!(
        git_ok(
            &repo,
            &["for-each-ref", "--format=%(refname)", "refs/heads/"]
        ),
        "refs/heads/a/b\nrefs/heads/c/d\n"
    );
}

/// A bare reftable repository `name` in `dir` and a work repository with one commit on `main`;
/// returns (repo, work).
fn reftable_target(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let work = dir.join(format!("{name}-work"));
    git_ok(dir, &["init", "-q", "-b", "main", work.to_str().unwrap()]);
    git_ok(&work, &["commit", "-q", "--allow-empty", "-m", "one"]);
    let repo = dir.join(name);
    git_ok(
        dir,
        &[
            "init",
            "-q",
            "--bare",
            "--ref-format=reftable",
            repo.to_str().unwrap(),
        ],
    );
    (repo, work)
}

/// `reftable.lockTimeout`: with `tables.list.lock` held by another writer, 0 fails at once,
/// a bounded wait fails after it, and -1 or a long enough wait get the lock once it is
/// released, for Sluice's receive-pack as for C git's.
#[test]
fn lock_timeout_is_honoured_as_c_git_honours_it() {
    use std::time::{Duration, Instant};
    let dir = scratch();
    for c_git in [false, true] {
        for (n, (timeout, release_after, lands)) in [
            ("0", None, false),
            ("300", None, false),
            ("-1", Some(600), true),
            ("5000", Some(600), true),
        ]
        .into_iter()
        .enumerate()
        {
            let (repo, work) = reftable_target(dir.path(), &format!("t{n}-{c_git}.git"));
            git_ok(&repo, &["config", "reftable.lockTimeout", timeout]);
            let lock = repo.join("reftable/tables.list.lock");
            std::fs::write(&lock, "").unwrap();
            let releaser = release_after.map(|ms| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(ms));
                    std::fs::remove_file(lock).unwrap();
                })
            });
            let start = Instant::now();
            let out = push_via(&work, &repo, &server("receive-pack", c_git), &["main"]);
            let took = start.elapsed();
            let what = format!("lockTimeout={timeout} c_git={c_git}");
            assert_eq!(out.status.success(), lands, "{what}: {out:?}");
            let refs = git_ok(&repo, &["for-each-ref", "--format=%(refname)"]);
            assert_eq!(refs.contains("refs/heads/main"), lands, "{what}");
            if let Some(r) = releaser {
                r.join().unwrap();
                assert!(
                    took >= Duration::from_millis(500),
                    "{what}: waited {took:?}"
                );
            } else {
                std::fs::remove_file(&lock).unwrap();
                if timeout == "300" {
                    assert!(took >= Duration::from_millis(300), "{what}: {took:?}");
                }
            }
            assert!(took < Duration::from_secs(4), "{what}: {took:?}");
            fsck(&repo);
        }
    }
    // A negative value other than -1 is refused, as C git dies on it.
    let (repo, work) = reftable_target(dir.path(), "bad.git");
    git_ok(&repo, &["config", "reftable.lockTimeout", "-5"]);
    let out = push_via(&work, &repo, &server("receive-pack", false), &["main"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("reftable.locktimeout"), "{err}");
}

/// A non-bare repository `<name>-main` in ref format `format` with a linked worktree
/// `<name>-linked` on branch `feature`, each worktree with its own refs under every per-worktree
/// prefix (`refs/bisect/<who>`, `refs/worktree/<who>`, `refs/rewritten/<who>`) and
/// `refs/bisect/both` in both; returns (main, linked) work trees.
fn repo_with_linked_worktree(
    dir: &Path,
    format: &str,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let main = dir.join(format!("{name}-main"));
    let linked = dir.join(format!("{name}-linked"));
    let fmt = format!("--ref-format={format}");
    git_ok(
        dir,
        &["init", "-q", "-b", "main", &fmt, main.to_str().unwrap()],
    );
    git_ok(&main, &["commit", "-q", "--allow-empty", "-m", "one"]);
    let wt = ["worktree", "add", "-q", "-b", "feature"];
    git_ok(&main, &[&wt[..], &[linked.to_str().unwrap()]].concat());
    git_ok(&linked, &["commit", "-q", "--allow-empty", "-m", "two"]);
    for (wt, who) in [(&main, "main"), (&linked, "linked")] {
        for p in ["bisect", "worktree", "rewritten"] {
            git_ok(wt, &["update-ref", &format!("refs/{p}/{who}"), "HEAD"]);
        }
        git_ok(wt, &["update-ref", "refs/bisect/both", "HEAD"]);
    }
    let own = match format {
        "reftable" => format!(".git/worktrees/{name}-linked/reftable/tables.list"),
        _ => format!(".git/worktrees/{name}-linked/refs/bisect/linked"),
    };
    assert!(main.join(own).is_file(), "C git keeps them per worktree");
    (main, linked)
}

/// Serving the main worktree, a linked worktree (through its work tree and its git directory)
/// lists HEAD and the per-worktree refs of the worktree served, and the shared refs, exactly as
/// C git's upload-pack lists them (v0 and v2, whole and by prefix); clones and mirrors of each
/// match C git's.
fn linked_worktrees_are_served_as_c_git_serves_them(format: &str) {
    let dir = scratch();
    let (main, linked) = repo_with_linked_worktree(dir.path(), format, "r");
    let linked_git_dir = main.join(".git/worktrees/r-linked");
    let served = [
        (&main, "main"),
        (&linked, "linked"),
        (&linked_git_dir, "linked"),
    ];
    for (n, (repo, who)) in served.into_iter().enumerate() {
        let url = file_url(repo);
        let mut answers = Vec::new();
        for c_git in [false, true] {
            for v in ["0", "2"] {
                let proto = format!("protocol.version={v}");
                let up = server("upload-pack", c_git);
                let out = git(
                    dir.path(),
                    &["-c", &proto, "ls-remote", "--symref", &up, &url],
                );
                assert_success(&out, "ls-remote");
                answers.push(String::from_utf8_lossy(&out.stdout).into_owned());
            }
        }
        let (head, other) = match who {
            "main" => ("refs/heads/main", "linked"),
            _ => ("refs/heads/feature", "main"),
        };
        let ours = &answers[0];
        assert!(ours.starts_with(&format!("ref: {head}\tHEAD")), "{ours}");
        for p in ["bisect", "worktree", "rewritten"] {
            assert!(ours.contains(&format!("\trefs/{p}/{who}\n")), "{ours}");
            assert!(!ours.contains(&format!("\trefs/{p}/{other}\n")), "{ours}");
        }
        let own_tip = git_ok(repo, &["rev-parse", "HEAD"]);
        assert!(ours.contains(&format!("{}\trefs/bisect/both\n", own_tip.trim())));
        for (i, a) in answers.iter().enumerate().skip(1) {
            same_lines(ours, a, &format!("{format} {} answer {i}", repo.display()));
        }
        for v in ["0", "2"] {
            let proto = format!("protocol.version={v}");
            let mut got = Vec::new();
            for c_git in [false, true] {
                let dst = dir.path().join(format!("m{n}-{v}-{c_git}.git"));
                let up = server("upload-pack", c_git);
                let d = dst.to_str().unwrap();
                let clone = ["-c", &proto, "clone", "-q", "--mirror", "--no-local"];
                git_ok(dir.path(), &[&clone[..], &[&up, &url, d]].concat());
                // A narrower fetch (v2: `ref-prefix refs/worktree/`) of the worktree's refs.
                let spec = "+refs/worktree/*:refs/got/*";
                git_ok(&dst, &["-c", &proto, "fetch", "-q", &up, &url, spec]);
                got.push(refs(&dst));
                fsck(&dst);
            }
            same_lines(&got[0], &got[1], &format!("{format} mirror {n} v{v}"));
        }
        let dst = dir.path().join(format!("clone{n}"));
        let up = server("upload-pack", false);
        let d = dst.to_str().unwrap();
        git_ok(dir.path(), &["clone", "-q", "--no-local", &up, &url, d]);
        assert_eq!(git_ok(&dst, &["symbolic-ref", "HEAD"]).trim(), head);
        fsck(&dst);
    }
}

#[test]
fn reftable_linked_worktrees_are_served_as_c_git_serves_them() {
    linked_worktrees_are_served_as_c_git_serves_them("reftable");
}

#[test]
fn files_linked_worktrees_are_served_as_c_git_serves_them() {
    linked_worktrees_are_served_as_c_git_serves_them("files");
}

/// The refs files a files repository keeps (`<path>` lines under `.git`, logs aside): where
/// each ref was written.
fn ref_files(main: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            if p.is_dir() && !rel.starts_with("logs") && !rel.ends_with("/logs") {
                walk(base, &p, out);
            } else if rel.contains("refs/") {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(&main.join(".git"), &main.join(".git"), &mut out);
    out.sort();
    out
}

/// Pushes into a linked worktree's git directory (and into the main one) through Sluice and
/// through C git into twin repositories: per-worktree refs land in the worktree's own place
/// (files: `worktrees/<id>/refs/…`; reftable: its own stack), shared refs in the shared place,
/// HEAD's reflog in the worktree's stack, and both worktrees then read the same refs in both
/// twins; a branch checked out in another worktree is refused as C git refuses it.
fn pushes_into_linked_worktrees_land_where_c_git_puts_them(format: &str) {
    let dir = scratch();
    let twins: Vec<_> = ["ours", "theirs"]
        .iter()
        .map(|t| repo_with_linked_worktree(dir.path(), format, t))
        .collect();
    for (main, _) in &twins {
        git_ok(main, &["config", "receive.denyCurrentBranch", "ignore"]);
        git_ok(main, &["config", "receive.denyDeletes", "true"]);
    }
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            twins[0].0.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    git_ok(&work, &["commit", "-q", "--allow-empty", "-m", "pushed"]);
    let pushes: [&[&str]; 3] = [
        &[
            "HEAD:refs/bisect/pushed",
            "HEAD:refs/worktree/pushed",
            "HEAD:refs/rewritten/pushed",
            "HEAD:refs/heads/pushed",
            ":refs/bisect/linked",
        ],
        // The linked worktree's own branch: its HEAD's reflog is the worktree's.
        &[
            "--force",
            "HEAD:refs/heads/feature",
            ":refs/worktree/linked",
        ],
        &[
            "--atomic",
            "HEAD:refs/worktree/atomic",
            ":refs/heads/pushed",
        ],
    ];
    for (i, args) in pushes.iter().enumerate() {
        for (c_git, (main, ours_or_theirs)) in [false, true].into_iter().zip(&twins) {
            let id = ours_or_theirs.file_name().unwrap().to_str().unwrap();
            let target = main.join(".git/worktrees").join(id);
            let out = push_via(&work, &target, &server("receive-pack", c_git), args);
            // The third deletes a branch, which receive.denyDeletes refuses: all of it fails.
            assert_eq!(
                out.status.success(),
                i < 2,
                "push {i} c_git={c_git}: {out:?}"
            );
        }
    }
    for (who, n) in [("main", 0), ("linked", 1)] {
        let read = |t: usize| {
            let wt = if n == 0 { &twins[t].0 } else { &twins[t].1 };
            refs(wt) + &git_ok(wt, &["rev-parse", "HEAD"])
        };
        same_lines(
            &read(0),
            &read(1),
            &format!("{format}: refs seen from {who}"),
        );
    }
    let seen = refs(&twins[0].1);
    assert!(seen.contains(" refs/bisect/pushed\n") && !seen.contains("refs/bisect/linked\n"));
    assert!(!seen.contains("refs/worktree/atomic"), "{seen}");
    let seen = refs(&twins[0].0);
    assert!(seen.contains(" refs/heads/pushed\n") && !seen.contains("refs/worktree/pushed"));
    match format {
        "files" => {
            let rename = |v: Vec<String>, from: &str| -> Vec<String> {
                v.into_iter().map(|p| p.replace(from, "X")).collect()
            };
            let ours = rename(ref_files(&twins[0].0), "ours-linked");
            let theirs = rename(ref_files(&twins[1].0), "theirs-linked");
            assert_eq!(ours, theirs, "ref files");
            assert!(ours.contains(&"worktrees/X/refs/bisect/pushed".to_string()));
        }
        _ => {
            let fmt = "--format=%H %gs";
            let log = |t: usize| git_ok(&twins[t].1, &["reflog", "show", fmt, "HEAD"]);
            assert_eq!(log(0), log(1), "the linked worktree's HEAD reflog");
            assert!(
                log(0).lines().next().unwrap().ends_with(" push"),
                "{}",
                log(0)
            );
            let main_log = |t: usize| git_ok(&twins[t].0, &["reflog", "show", fmt, "HEAD"]);
            assert_eq!(main_log(0), main_log(1), "the main worktree's HEAD reflog");
        }
    }
    for (main, linked) in &twins {
        fsck(main);
        assert_success(&git(linked, &["refs", "verify", "--strict"]), "refs verify");
    }
    // A branch checked out in the other worktree is refused, both ways, as C git refuses it.
    for (main, _) in &twins {
        git_ok(main, &["config", "--unset", "receive.denyCurrentBranch"]);
    }
    git_ok(&work, &["commit", "-q", "--allow-empty", "-m", "refused"]);
    for c_git in [false, true] {
        let (main, linked) = &twins[usize::from(c_git)];
        let id = linked.file_name().unwrap().to_str().unwrap();
        let linked_git_dir = main.join(".git/worktrees").join(id);
        for (target, branch) in [(main.join(".git"), "feature"), (linked_git_dir, "main")] {
            let spec = format!("HEAD:refs/heads/{branch}");
            let out = push_via(
                &work,
                &target,
                &server("receive-pack", c_git),
                &["--force", &spec],
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(!out.status.success(), "c_git={c_git} {branch}: {stdout}");
            assert!(
                stdout.contains("branch is currently checked out"),
                "{stdout}"
            );
        }
    }
}

#[test]
fn reftable_pushes_into_linked_worktrees_land_where_c_git_puts_them() {
    pushes_into_linked_worktrees_land_where_c_git_puts_them("reftable");
}

#[test]
fn files_pushes_into_linked_worktrees_land_where_c_git_puts_them() {
    pushes_into_linked_worktrees_land_where_c_git_puts_them("files");
}

/// A transaction over a linked worktree's stack and the shared one: with `atomic`, one stale
/// update leaves both stacks as they were; without, the others land, each in its own stack.
#[test]
fn transactions_span_the_worktree_stack_and_the_shared_one() {
    use sluice::refs::reftable::transaction::Stacks;
    let dir = scratch();
    let (main, linked) = repo_with_linked_worktree(dir.path(), "reftable", "r");
    let shared = main.join(".git/reftable");
    let own = main.join(".git/worktrees/r-linked/reftable");
    let id =
        |r: &Path| ObjectId::from_hex(git_ok(r, &["rev-parse", "HEAD"]).trim().as_bytes()).unwrap();
    let (one, two) = (id(&main), id(&linked));
    let null = HashKind::Sha1.null();
    let stacks = Stacks {
        shared: &shared,
        worktree: Some(&own),
    };
    let lists = || [&shared, &own].map(|d| std::fs::read_to_string(d.join("tables.list")).unwrap());
    let before = lists();
    let edits = [
        edit("refs/worktree/new", null, one),
        edit("refs/heads/new", null, one),
        edit("refs/heads/main", two, one),
    ];
    let run = |atomic: bool| {
        let info = log_info(LogPolicy::Normal);
        commit(
            stacks,
            HashKind::Sha1,
            &edits,
            atomic,
            &info,
            &mut |_| Ok(None),
            SharedPerm::default(),
        )
        .unwrap()
    };
    let r = run(true);
    assert!(r.iter().all(Result::is_err), "{r:?}");
    assert_eq!(lists(), before, "nothing written");
    let r = run(false);
    assert!(r[0].is_ok() && r[1].is_ok() && r[2].is_err(), "{r:?}");
    let show = |wt: &Path| {
        git_ok(
            wt,
            &[
                "for-each-ref",
                "--format=%(refname)",
                "refs/worktree/",
                "refs/heads/new",
            ],
        )
    };
    assert_eq!(
        show(&linked),
        "refs/heads/new\nrefs/worktree/linked\nrefs/worktree/new\n"
    );
    assert_eq!(show(&main), "refs/heads/new\nrefs/worktree/main\n");
    assert!(leftovers(&main.join(".git")).is_empty());
    assert!(leftovers(&main.join(".git/worktrees/r-linked")).is_empty());
    assert!(!own.join("tables.list.lock").exists() && !shared.join("tables.list.lock").exists());
}
