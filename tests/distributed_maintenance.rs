//! Maintenance, import/export, hooks and request logs of the distributed backend, end to end:
//! real git through `ext::sluice`, `sluice repack|import|export|config --backend-config`, over
//! the engines of `tests/common/engines.rs` (3 etcd members, Ceph radosgw).
//!
//! After each scenario: a clone through Sluice passes `git fsck --strict`, and the bucket holds
//! exactly what the ref store lists (after a repack with grace 0 and no traffic) or at least it
//! (otherwise).
#![cfg(feature = "distributed")]

mod common;
#[path = "common/engines.rs"]
mod engines;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{assert_success, commit_line as commit, fsck, git_cmd, git_ok, scratch, sluice};

/// One test's world: its key prefix, a front-end config, a scratch directory.
struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    cfg: PathBuf,
    prefix: String,
    e: &'static engines::Engines,
}

fn world(name: &str) -> Option<World> {
    let e = engines::engines()?;
    let tmp = scratch();
    let dir = tmp.path().to_path_buf();
    let prefix = format!("m-{name}-{}", std::process::id());
    let cfg = e.config_file(&dir.join("fe.conf"), &dir.join("cache"), 0, &prefix);
    Some(World {
        _tmp: tmp,
        dir,
        cfg,
        prefix,
        e,
    })
}

impl World {
    fn url(&self, name: &str) -> String {
        format!("ext::{} %S {name}", sluice())
    }

    /// git with this world's backend config.
    fn git(&self, dir: &Path, args: &[&str]) -> Output {
        let mut c = git_cmd(dir);
        c.args(["-c", "protocol.ext.allow=always"])
            .args(args)
            .env("SLUICE_BACKEND_CONFIG", &self.cfg);
        c.output().unwrap()
    }

    /// `sluice ARGS` with this world's backend config.
    fn sluice(&self, args: &[&str]) -> Output {
        Command::new(sluice())
            .args(args)
            .env("SLUICE_BACKEND_CONFIG", &self.cfg)
            .output()
            .unwrap()
    }

    fn sluice_ok(&self, args: &[&str]) -> String {
        let out = self.sluice(args);
        assert_success(&out, &format!("sluice {args:?}"));
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
    }

    /// Clones `name` through Sluice (cold cache of its own) and checks it with fsck --strict.
    fn clone_checked(&self, name: &str, into: &str) -> PathBuf {
        let dst = self.dir.join(into);
        let out = self.git(
            &self.dir,
            &[
                "clone",
                "-q",
                "--mirror",
                &self.url(name),
                dst.to_str().unwrap(),
            ],
        );
        assert_success(&out, "clone");
        fsck(&dst);
        dst
    }

    /// The ref store's `<prefix>/<name>/<what>` keys (names after the prefix).
    fn keys(&self, name: &str, what: &str) -> Vec<String> {
        let prefix = format!("{}/{name}/{what}", self.prefix);
        let lines = self.e.etcd_get_prefix(&prefix);
        lines
            .iter()
            .step_by(2)
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    /// Every file name under `<prefix>/<name>/pack/` in the bucket (S3 ListObjectsV2).
    fn bucket(&self, name: &str) -> Vec<String> {
        let prefix = format!("{}/{name}/pack/", self.prefix);
        let url = format!(
            "{}/{}?list-type=2&prefix={}",
            self.e.get("SLUICE_S3_ENDPOINT"),
            self.e.get("SLUICE_S3_BUCKET"),
            prefix.replace('/', "%2F")
        );
        let user = format!(
            "{}:{}",
            self.e.get("AWS_ACCESS_KEY_ID"),
            self.e.get("AWS_SECRET_ACCESS_KEY")
        );
        let out = Command::new("curl")
            .args([
                "-sS",
                "--aws-sigv4",
                "aws:amz:us-east-1:s3",
                "--user",
                &user,
            ])
            .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", &url])
            .output()
            .expect("curl");
        let xml = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(xml.contains("<ListBucketResult"), "{xml}");
        assert!(
            !xml.contains("<IsTruncated>true"),
            "more than one page: {xml}"
        );
        let mut names: Vec<String> = xml
            .split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
            .collect();
        names.sort();
        names
    }

    /// The files the listed packs must have: `.pack`, `.idx` and, where listed, `.bitmap`.
    fn listed_files(&self, name: &str) -> Vec<String> {
        let bitmaps = self.keys(name, "bitmap/");
        let mut want = Vec::new();
        for p in self.keys(name, "pack/") {
            want.push(format!("{p}.idx"));
            want.push(format!("{p}.pack"));
            if bitmaps.contains(&p) {
                want.push(format!("{p}.bitmap"));
            }
        }
        want.sort();
        want
    }

    /// Every listed pack's files are in the bucket.
    fn listed_packs_exist(&self, name: &str) {
        let have = self.bucket(name);
        for f in self.listed_files(name) {
            assert!(
                have.contains(&f),
                "{f} is listed but not in the bucket: {have:?}"
            );
        }
    }
}

fn work_repo(at: &Path, n: usize) -> PathBuf {
    git_ok(
        at.parent().unwrap(),
        &["init", "-q", "-b", "main", at.to_str().unwrap()],
    );
    for i in 0..n {
        commit(at, &format!("seed {i}"));
    }
    at.to_path_buf()
}

/// A large real repository in and out: import (one verified pack with bitmaps), a clone through
/// Sluice passes fsck, an export passes `git fsck --strict` with the same refs and HEAD.
#[test]
fn import_clone_export_of_a_real_repository() {
    let Some(w) = world("import") else { return };
    let tokio = Path::new("/work/.mirror/tokio-rs+tokio/repo");
    let src = if tokio.is_dir() {
        tokio.to_path_buf()
    } else {
        work_repo(&w.dir.join("src"), 20)
    };
    let started = std::time::Instant::now();
    let said = w.sluice_ok(&["import", src.to_str().unwrap(), "big"]);
    eprintln!("import: {said} ({:.1} s)", started.elapsed().as_secs_f64());
    let again = w.sluice(&["import", src.to_str().unwrap(), "big"]);
    assert!(
        !again.status.success(),
        "import over an existing repository is refused"
    );
    // A SHA-256 repository is refused with its reason, and nothing is written for it.
    let sha256 = w.dir.join("sha256");
    git_ok(
        &w.dir,
        &[
            "init",
            "-q",
            "--object-format=sha256",
            sha256.to_str().unwrap(),
        ],
    );
    git_ok(&sha256, &["commit", "-q", "--allow-empty", "-m", "one"]);
    let git_dir = sha256.join(".git");
    let refused = w.sluice(&["import", git_dir.to_str().unwrap(), "wide"]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("SHA-256"),
        "a SHA-256 import is refused with its reason: {said}"
    );
    assert!(w.keys("wide", "").is_empty(), "nothing stored for it");

    let started = std::time::Instant::now();
    let clone = w.clone_checked("big", "clone");
    eprintln!(
        "clone through sluice: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(common::refs(&clone), common::refs(&src));

    let out = w.dir.join("out.git");
    let said = w.sluice_ok(&["export", "big", out.to_str().unwrap()]);
    eprintln!("export: {said}");
    fsck(&out);
    assert_eq!(common::refs(&out), common::refs(&src));
    assert_eq!(
        git_ok(&out, &["symbolic-ref", "HEAD"]),
        git_ok(&src, &["symbolic-ref", "HEAD"])
    );
    w.listed_packs_exist("big");
}

/// Small pushes leave small packs; `repack --compact` merges them, a full repack writes one
/// pack with a bitmap and a garbage pack for a deleted branch, an expired garbage pack goes,
/// and with grace 0 and no traffic the bucket holds exactly the listed packs: also no orphan
/// of a push killed after its upload.
#[test]
fn pushes_compaction_full_repack_garbage_and_orphans() {
    let Some(w) = world("repack") else { return };
    w.sluice_ok(&["init", "r.git"]);
    let src = work_repo(&w.dir.join("src"), 1);
    assert_success(&w.git(&src, &["push", &w.url("r.git"), "main"]), "seed");
    for i in 0..4 {
        commit(&src, &format!("small {i}"));
        assert_success(&w.git(&src, &["push", &w.url("r.git"), "main"]), "push");
    }
    git_ok(&src, &["checkout", "-q", "-b", "doomed"]);
    commit(&src, "only on doomed");
    assert_success(
        &w.git(&src, &["push", &w.url("r.git"), "doomed"]),
        "push doomed",
    );
    git_ok(&src, &["checkout", "-q", "main"]);
    // A push killed between its upload and its ref transaction leaves an orphan.
    commit(&src, "killed");
    let mut c = git_cmd(&src);
    c.args([
        "-c",
        "protocol.ext.allow=always",
        "push",
        &w.url("r.git"),
        "main",
    ])
    .env("SLUICE_BACKEND_CONFIG", &w.cfg)
    .env("SLUICE_FAULT", "after-idx-upload");
    assert!(!c.output().unwrap().status.success());
    let packs = w.keys("r.git", "pack/").len();
    assert_eq!(packs, 6, "one pack per push");
    assert_eq!(
        w.bucket("r.git").len(),
        2 * packs + 2,
        "+ the orphan's .pack and .idx"
    );

    let said = w.sluice_ok(&["repack", "--compact", "--grace", "3600", "r.git"]);
    eprintln!("compact: {said}");
    assert_eq!(
        w.keys("r.git", "pack/").len(),
        2,
        "the largest + the merged one"
    );
    w.listed_packs_exist("r.git");
    w.clone_checked("r.git", "after-compact");

    assert_success(
        &w.git(&src, &["push", &w.url("r.git"), ":doomed"]),
        "delete doomed",
    );
    let said = w.sluice_ok(&["repack", "--grace", "3600", "r.git"]);
    eprintln!("full: {said}");
    assert_eq!(w.keys("r.git", "garbage/").len(), 1, "{said}");
    assert_eq!(
        w.keys("r.git", "pack/").len(),
        2,
        "main pack + garbage pack"
    );
    assert_eq!(w.keys("r.git", "bitmap/").len(), 1);
    assert!(
        w.bucket("r.git").len() > w.listed_files("r.git").len(),
        "dead and orphan files kept within the grace"
    );
    w.clone_checked("r.git", "after-full");

    let said = w.sluice_ok(&["repack", "--grace", "0", "--garbage-ttl", "0", "r.git"]);
    eprintln!("expire + sweep: {said}");
    assert!(w.keys("r.git", "garbage/").is_empty());
    assert_eq!(w.keys("r.git", "pack/").len(), 1);
    assert_eq!(w.bucket("r.git"), w.listed_files("r.git"), "no orphan left");
    assert!(w.keys("r.git", "dead/").is_empty());
    let clone = w.clone_checked("r.git", "final");
    assert_eq!(
        git_ok(&clone, &["rev-parse", "main"]),
        git_ok(&src, &["rev-parse", "main~1"]),
        "the killed push never landed"
    );
}

/// Pushes through one front end while `sluice repack` (full and compact, grace long enough)
/// loops: every push succeeds and every pushed commit is in the final clone.
#[test]
fn pushes_racing_a_repack_loop_lose_nothing() {
    let Some(w) = world("race") else { return };
    w.sluice_ok(&["init", "r.git"]);
    let src = work_repo(&w.dir.join("src"), 2);
    assert_success(&w.git(&src, &["push", &w.url("r.git"), "main"]), "seed");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (tips, repacks) = std::thread::scope(|s| {
        let repacker = s.spawn(|| {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let compact = if n % 2 == 0 { "--compact" } else { "--quiet" };
                let out = w.sluice(&["repack", compact, "--grace", "3600", "r.git"]);
                assert_success(&out, "repack in the loop");
                n += 1;
            }
            n
        });
        let mut tips = Vec::new();
        for i in 0..12 {
            let tip = commit(&src, &format!("racing {i}"));
            let branch = format!("HEAD:refs/heads/b{}", i % 3);
            let out = w.git(&src, &["push", "-f", &w.url("r.git"), "main", &branch]);
            assert_success(&out, &format!("push {i}"));
            tips.push(tip);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (tips, repacker.join().unwrap())
    });
    eprintln!(
        "race: {} pushes acknowledged, {repacks} repacks ran alongside",
        tips.len()
    );
    assert!(
        repacks >= 2,
        "the repack loop ran during the pushes ({repacks})"
    );
    w.listed_packs_exist("r.git");
    let clone = w.clone_checked("r.git", "final");
    for tip in &tips {
        let o = common::git(&clone, &["merge-base", "--is-ancestor", tip, "main"]);
        assert!(o.status.success(), "acknowledged {tip} is in main");
    }
    // And once more after a final full repack.
    w.sluice_ok(&["repack", "--grace", "3600", "r.git"]);
    w.clone_checked("r.git", "after");
}

/// A pre-receive hook from the configured hooks directory refuses a push (and sees the pushed
/// commit through the view); a stored `receive.denyDeletes` refuses a deletion.
#[test]
fn hooks_and_stored_config_apply_to_distributed_pushes() {
    let Some(w) = world("hooks") else { return };
    let hooks = w.dir.join("hooks");
    std::fs::create_dir_all(hooks.join("h.git")).unwrap();
    let text = std::fs::read_to_string(&w.cfg).unwrap();
    std::fs::write(&w.cfg, format!("{text}hooks-dir = {}\n", hooks.display())).unwrap();
    w.sluice_ok(&["init", "h.git"]);
    let src = work_repo(&w.dir.join("src"), 1);
    assert_success(
        &w.git(
            &src,
            &["push", &w.url("h.git"), "main", "main:refs/heads/tmp"],
        ),
        "seed",
    );

    let hook = hooks.join("h.git/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\nwhile read o n r; do echo \"no: $r $(git log -1 --format=%s $n)\" >&2; done\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = w.keys("h.git", "refs/heads/main");
    commit(&src, "refused by the hook");
    let out = w.git(&src, &["push", &w.url("h.git"), "main"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("pre-receive hook declined"), "{err}");
    assert!(
        err.contains("no: refs/heads/main refused by the hook"),
        "{err}"
    );
    assert_eq!(w.keys("h.git", "refs/heads/main"), before);
    std::fs::remove_file(&hook).unwrap();

    w.sluice_ok(&["config", "h.git", "receive.denyDeletes", "true"]);
    assert_eq!(
        w.sluice_ok(&["config", "h.git", "receive.denydeletes"])
            .trim(),
        "true"
    );
    let out = w.sluice(&["config", "h.git", "core.bare", "false"]);
    assert!(!out.status.success(), "only served sections are stored");
    let out = w.git(&src, &["push", &w.url("h.git"), ":tmp"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("deletion prohibited"));
    assert_success(
        &w.git(&src, &["push", &w.url("h.git"), "main"]),
        "a push the hook no longer refuses",
    );
}

/// Every request's log record names its store round trips (count and milliseconds).
#[test]
fn every_request_logs_its_store_round_trips() {
    let Some(w) = world("log") else { return };
    w.sluice_ok(&["init", "l.git"]);
    let src = work_repo(&w.dir.join("src"), 1);
    let log = w.dir.join("log.json");
    let mut push = git_cmd(&src);
    let url = format!(
        "ext::{} --log-format json --log-file {} %S l.git",
        sluice(),
        log.display()
    );
    push.args(["-c", "protocol.ext.allow=always", "push", &url, "main"])
        .env("SLUICE_BACKEND_CONFIG", &w.cfg);
    assert_success(&push.output().unwrap(), "push");
    let mut ls = git_cmd(&src);
    ls.args(["-c", "protocol.ext.allow=always", "ls-remote", &url])
        .env("SLUICE_BACKEND_CONFIG", &w.cfg);
    assert_success(&ls.output().unwrap(), "ls-remote");
    let mut missing = git_cmd(&src);
    missing
        .args([
            "-c",
            "protocol.ext.allow=always",
            "ls-remote",
            &url.replace("l.git", "none.git"),
        ])
        .env("SLUICE_BACKEND_CONFIG", &w.cfg);
    assert!(!missing.output().unwrap().status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let finished: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "request finished")
        .collect();
    assert_eq!(finished.len(), 3, "{text}");
    for v in &finished {
        let etcd = v["etcd_round_trips"].as_u64().unwrap_or(0);
        assert!(
            etcd >= 1 && v["etcd_ms"].is_u64() && v["s3_round_trips"].is_u64(),
            "{v}"
        );
    }
    let push_record = &finished[0];
    assert_eq!(push_record["service"], "git-receive-pack");
    assert!(
        push_record["s3_round_trips"].as_u64().unwrap() >= 2,
        "pack + idx uploads: {push_record}"
    );
}
