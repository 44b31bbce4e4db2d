//! Crash safety and concurrency: a receive-pack killed at random points, a filesystem that fills
//! up during a push, and fetches while pushes land. Every time the repository stays
//! `git fsck --strict` clean, every ref is at its old or new value, and the next push succeeds.

mod common;

use common::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Commands + pack for pushing `work`'s main over `old` into a repository at `old`.
fn push_request(work: &Path, old: &str) -> Vec<u8> {
    request(work, old, "refs/heads/main")
}

/// Commands + pack setting `refname` from `old` (all zeros: create) to `work`'s main; the pack
/// holds what `old` does not have.
fn request(work: &Path, old: &str, refname: &str) -> Vec<u8> {
    let new = git_ok(work, &["rev-parse", "main"]).trim().to_string();
    let mut input = pkt(&format!(
        "{old} {new} {refname}\\0report-status side-band-64k\n0000"
    ));
    let revs = if old.bytes().all(|b| b == b'0') {
        "main\n".to_string()
    } else {
        format!("main\n^{old}\n")
    };
    let mut child = git_cmd(work)
        .args([
            "pack-objects",
            "--stdout",
            "-q",
            "--revs",
            "--delta-base-offset",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(revs.as_bytes())
        .unwrap();
    input.extend(child.wait_with_output().unwrap().stdout);
    input
}

fn add_commits(work: &Path, n: usize, tag: &str) {
    for i in 0..n {
        std::fs::write(
            work.join(format!("{tag}-{}.txt", i % 17)),
            format!("{tag} {i}\n").repeat(50),
        )
        .unwrap();
        git_ok(work, &["add", "."]);
        git_ok(work, &["commit", "-q", "-m", &format!("{tag} {i}")]);
    }
}

fn leftovers(repo: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(repo.join("objects")).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("incoming-") {
            out.push(n);
        }
    }
    out
}

#[test]
fn killed_receive_pack_loses_nothing() {
    if against_git() {
        return;
    }
    let dir = scratch();
    let repo = dir.path().join("repo.git");
    copy_repo(&fixture("branches"), &repo);
    let old = git_ok(&repo, &["rev-parse", "main"]).trim().to_string();
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            repo.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    add_commits(&work, 150, "k");
    let new = git_ok(&work, &["rev-parse", "main"]).trim().to_string();
    let input = push_request(&work, &old);

    // How long an undisturbed push takes (on a scratch copy), to spread the kills over it.
    let probe = dir.path().join("probe.git");
    copy_repo(&repo, &probe);
    let start = Instant::now();
    let (status, _, err) = run_server(&["receive-pack", probe.to_str().unwrap()], &[], &input);
    assert!(status.success(), "{err}");
    let full = start.elapsed().max(Duration::from_millis(5));
    assert_eq!(git_ok(&probe, &["rev-parse", "main"]).trim(), new);

    let mut seed: u64 = 0x5eed_1234_abcd_ef01;
    let mut outcomes = (0, 0);
    for _ in 0..50 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = full.mul_f64(((seed >> 33) % 1200) as f64 / 1000.0);
        let mut child = Command::new(sluice())
            .arg("receive-pack")
            .arg(&repo)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = input.clone();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let _ = feeder.join();
        fsck(&repo);
        let now = git_ok(&repo, &["rev-parse", "main"]).trim().to_string();
        assert!(now == old || now == new, "main is at {now}");
        if now == new {
            outcomes.1 += 1;
            // Put it back so the next run has work to do (this is an ordinary ref update).
            git_ok(&repo, &["update-ref", "refs/heads/main", &old, &new]);
        } else {
            outcomes.0 += 1;
        }
    }
    // The next push through sluice succeeds and cleans up after the killed ones. A ref lock a
    // killed process left is recognised as stale once it is two seconds old (see
    // refs::transaction::STALE_LOCK), so give the last kill that long.
    std::thread::sleep(Duration::from_millis(2500));
    let out = git(
        &work,
        &[
            "push",
            "--porcelain",
            &format!("--receive-pack={} receive-pack", sluice()),
            repo.to_str().unwrap(),
            "main",
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(git_ok(&repo, &["rev-parse", "main"]).trim(), new);
    fsck(&repo);
    assert!(leftovers(&repo).is_empty(), "{:?}", leftovers(&repo));
    eprintln!(
        "killed before the update: {}, after: {}",
        outcomes.0, outcomes.1
    );
}

#[test]
fn full_filesystem_during_push() {
    if against_git() {
        return;
    }
    let dir = scratch();
    let mnt = dir.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&mnt)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        assert!(
            std::env::var("SLUICE_SKIP_SYSTEM_TESTS").is_ok(),
            "cannot mount a tmpfs (needs root)"
        );
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let repo = mnt.join("repo.git");
    git_ok(&mnt, &["init", "-q", "--bare", "repo.git"]);
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &["init", "-q", "-b", "main", work.to_str().unwrap()],
    );
    // Incompressible content bigger than the filesystem.
    let mut state: u64 = 7;
    let big: Vec<u8> = (0..5_000_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(work.join("big.bin"), &big).unwrap();
    git_ok(&work, &["add", "."]);
    git_ok(&work, &["commit", "-q", "-m", "big"]);
    let flag = format!("--receive-pack={} receive-pack", sluice());
    let out = git(
        &work,
        &["push", "--porcelain", &flag, repo.to_str().unwrap(), "main"],
    );
    assert!(!out.status.success());
    assert_eq!(refs(&repo), "");
    assert!(leftovers(&repo).is_empty(), "{:?}", leftovers(&repo));
    fsck(&repo);
    // Space is back once the failed push cleaned up: a small push works.
    let small = dir.path().join("small-work");
    git_ok(
        dir.path(),
        &["init", "-q", "-b", "main", small.to_str().unwrap()],
    );
    std::fs::write(small.join("a.txt"), "a\n").unwrap();
    git_ok(&small, &["add", "."]);
    git_ok(&small, &["commit", "-q", "-m", "small"]);
    let out = git(
        &small,
        &["push", "--porcelain", &flag, repo.to_str().unwrap(), "main"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fsck(&repo);
}

#[test]
fn fetches_during_pushes_see_consistent_snapshots() {
    if against_git() {
        return;
    }
    let dir = scratch();
    let repo = dir.path().join("repo.git");
    copy_repo(&fixture("branches"), &repo);
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            repo.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pusher = {
        let (work, repo, stop) = (work.clone(), repo.clone(), stop.clone());
        std::thread::spawn(move || {
            let flag = format!("--receive-pack={} receive-pack", sluice());
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 40 {
                add_commits(&work, 3, &format!("p{i}"));
                let out = git(
                    &work,
                    &["push", "-q", &flag, repo.to_str().unwrap(), "main"],
                );
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                i += 1;
            }
        })
    };
    let url = format!("file://{}", repo.display());
    for i in 0..15 {
        let dst = dir.path().join(format!("f{i}.git"));
        let out = git(
            dir.path(),
            &[
                "clone",
                "-q",
                "--bare",
                "--no-local",
                &upload_pack_flag(),
                &url,
                dst.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        fsck(&dst);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    pusher.join().unwrap();
    fsck(&repo);
}

/// Builds the fsync-failure shim (tests/fixtures/fail_fsync.c) into `dir`; `None` without a C
/// compiler (allowed only with SLUICE_SKIP_SYSTEM_TESTS).
fn fsync_shim(dir: &Path) -> Option<std::path::PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fail_fsync.c");
    let out = dir.join("fail_fsync.so");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&out)
        .arg(&src)
        .arg("-ldl")
        .status()
        .is_ok_and(|s| s.success());
    if !built {
        assert!(
            std::env::var("SLUICE_SKIP_SYSTEM_TESTS").is_ok(),
            "cannot build the fsync shim (needs cc)"
        );
        return None;
    }
    Some(out)
}

#[test]
fn failing_fsync_loses_nothing() {
    if against_git() {
        return;
    }
    let dir = scratch();
    let Some(shim) = fsync_shim(dir.path()) else {
        return;
    };
    let base = dir.path().join("base.git");
    copy_repo(&fixture("branches"), &base);
    let old = git_ok(&base, &["rev-parse", "main"]).trim().to_string();
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            base.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    add_commits(&work, 30, "f");
    let new = git_ok(&work, &["rev-parse", "main"]).trim().to_string();
    let update = push_request(&work, &old);
    let create = request(&work, &"0".repeat(40), "refs/heads/after");
    let count_file = dir.path().join("fsync-count");
    // Loose objects (a small push) and a kept pack take different paths to disk.
    for unpack_limit in ["100000", "1"] {
        // An undisturbed push counts the fsync calls; then each of them fails in turn (every one
        // when there are few; the first, last and a spread of the middle ones otherwise, since a
        // loose push makes one per object).
        let mut total = None;
        let mut injected = 0;
        let mut points: Vec<usize> = vec![usize::MAX];
        while let Some(at) = points.pop() {
            let repo = dir.path().join(format!("repo-{unpack_limit}-{at}.git"));
            copy_repo(&base, &repo);
            git_ok(&repo, &["config", "receive.unpackLimit", unpack_limit]);
            let at_s = at.to_string();
            let mut env = vec![
                ("LD_PRELOAD", shim.to_str().unwrap()),
                ("FSYNC_COUNT_FILE", count_file.to_str().unwrap()),
            ];
            if at != usize::MAX {
                env.push(("FAIL_FSYNC_AT", &at_s));
            }
            let (status, out, _) =
                run_server(&["receive-pack", repo.to_str().unwrap()], &env, &update);
            let calls: usize = std::fs::read_to_string(&count_file)
                .map(|s| s.trim().parse().unwrap_or(0))
                .unwrap_or(0);
            let _ = std::fs::remove_file(&count_file);
            let reported_ok = String::from_utf8_lossy(&out).contains("ok refs/heads/main");
            // Whatever failed: a clean repository, main at its old or new value, no leftovers.
            fsck(&repo);
            let now = git_ok(&repo, &["rev-parse", "main"]).trim().to_string();
            assert!(now == old || now == new, "fsync #{at}: main is at {now}");
            assert!(
                leftovers(&repo).is_empty(),
                "fsync #{at}: {:?}",
                leftovers(&repo)
            );
            if reported_ok {
                // Never "ok" unless the update really happened and every fsync succeeded.
                assert_eq!(now, new, "fsync #{at}: reported ok but main did not move");
                assert!(at > calls, "fsync #{at} failed but the push reported ok");
            }
            // And the next push (healthy disk) succeeds.
            let (status2, out2, err2) =
                run_server(&["receive-pack", repo.to_str().unwrap()], &[], &create);
            assert!(
                status2.success() && String::from_utf8_lossy(&out2).contains("ok refs/heads/after"),
                "push after fsync #{at} failed: {err2}"
            );
            fsck(&repo);
            std::fs::remove_dir_all(&repo).unwrap();
            if at == usize::MAX {
                assert!(status.success() && reported_ok, "undisturbed push failed");
                total = Some(calls);
                points = if calls <= 24 {
                    (1..=calls).collect()
                } else {
                    let mut p: Vec<usize> = (1..=4).chain(calls - 7..=calls).collect();
                    p.extend((1..12).map(|k| 4 + k * (calls - 12) / 12));
                    p.sort_unstable();
                    p.dedup();
                    p
                };
            } else {
                injected += 1;
            }
        }
        let total = total.unwrap();
        assert!(
            total >= 3,
            "only {total} fsync calls (unpackLimit {unpack_limit})"
        );
        eprintln!("unpackLimit {unpack_limit}: {total} fsync calls, a failure injected at {injected} of them");
    }
}
