//! The bytes of a push, both ways, through Sluice and through C git's `git-receive-pack` in the
//! same run. The client builds its pack from what the server advertises (ofs-delta, thin packs,
//! object format), so a capability Sluice failed to offer would show as a larger pack; and the
//! server's answer (report, warnings) should be as long as C git's when both run the same object
//! checks. Sluice always checks received objects (`receive.fsckObjects` on); C git does only when
//! told, so it runs with `-c receive.fsckObjects=true` here. Without it, a history carrying old
//! fsck warnings (git.git: `badFilemode`, `missingTaggerEntry`) gets `warning:` lines from Sluice
//! only, which is what made the bench's full push of git.git answer with 1.36x the bytes.

mod common;

use common::receive::Server;
use common::*;
use std::path::{Path, PathBuf};

/// What went over the pipe in one push: the client's bytes (commands and pack) and the
/// server's (advertisement, report, progress), split at the advertisement's flush.
struct Wire {
    sent: Vec<u8>,
    answer: Vec<u8>,
}

impl Wire {
    /// The server's bytes after its ref advertisement: the part not naming its agent.
    fn after_advertisement(&self) -> &[u8] {
        let mut rest = self.answer.as_slice();
        while let Some(len) = rest
            .get(..4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| usize::from_str_radix(h, 16).ok())
        {
            if len == 0 {
                return &rest[4..];
            }
            rest = rest.get(len..).unwrap_or_default();
        }
        rest
    }
}

/// A wrapper recording both directions of the pipe around the real receive-pack.
fn recorder(dir: &Path) -> PathBuf {
    let path = dir.join("record.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\n# record.sh IN OUT CMD...: the client's bytes to IN, the server's to OUT\n\
         in=$1 out=$2; shift 2\ntee \"$in\" | \"$@\" | tee \"$out\"\n",
    )
    .unwrap();
    let ok = std::process::Command::new("chmod")
        .args(["+x", path.to_str().unwrap()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    path
}

/// Pushes from `work` (`args`: options and refspecs) into `dst` through `server`, recording the
/// wire; the push must succeed.
fn push_recorded(server: Server, work: &Path, dst: &Path, args: &[&str]) -> Wire {
    let dir = dst.parent().unwrap();
    let rec = recorder(dir);
    let (inp, out) = (
        dir.join(format!("{}.in", server.name())),
        dir.join(format!("{}.out", server.name())),
    );
    let cmd = match server {
        Server::Sluice => format!("{} receive-pack", sluice()),
        Server::Git => "git -c receive.fsckObjects=true receive-pack".into(),
    };
    let flag = format!(
        "--receive-pack={} {} {} {cmd}",
        rec.display(),
        inp.display(),
        out.display()
    );
    let url = format!("file://{}", dst.display());
    let (opts, refspecs): (Vec<&str>, Vec<&str>) = args.iter().partition(|a| a.starts_with('-'));
    let mut all = vec!["push", "-q", flag.as_str()];
    all.extend(opts);
    all.push(&url);
    all.extend(refspecs);
    let res = git(work, &all);
    assert_success(&res, &format!("push through {}", server.name()));
    Wire {
        sent: std::fs::read(inp).unwrap(),
        answer: std::fs::read(out).unwrap(),
    }
}

/// Pushes `args` from `work` into a copy of `base` (or a new empty repository) through each
/// server; checks both end with the same refs, each `git fsck --strict` clean unless `strict` is
/// false (then plain `git fsck` must pass), and returns the two wires, Sluice's first.
fn push_both(work: &Path, base: Option<&Path>, args: &[&str], strict: bool) -> (Wire, Wire) {
    let wires: Vec<(Wire, String)> = receive_servers()
        .map(|server| {
            let dir = scratch();
            let dst = dir.path().join("dst.git");
            match base {
                Some(b) => copy_repo(b, &dst),
                None => {
                    git_ok(dir.path(), &["init", "-q", "--bare", dst.to_str().unwrap()]);
                }
            }
            let wire = push_recorded(server, work, &dst, args);
            if strict {
                fsck(&dst);
            } else {
                git_ok(&dst, &["fsck", "--no-progress", "--no-dangling"]);
            }
            let refs = refs(&dst);
            drop(dir);
            (wire, refs)
        })
        .collect();
    let mut it = wires.into_iter();
    let ((sluice, sluice_refs), (git, git_refs)) = (it.next().unwrap(), it.next().unwrap());
    assert_eq!(sluice_refs, git_refs, "refs after the push");
    (sluice, git)
}

fn receive_servers() -> impl Iterator<Item = Server> {
    common::receive::SERVERS.into_iter()
}

/// `a` within 2 % of `b`.
fn assert_close(what: &str, a: usize, b: usize) {
    let (lo, hi) = (b as f64 * 0.98, b as f64 * 1.02);
    assert!(
        (lo..=hi).contains(&(a as f64)),
        "{what}: Sluice {a} bytes, C git {b} bytes"
    );
}

fn assert_wires_match(what: &str, sluice: &Wire, git: &Wire) {
    assert_close(
        &format!("{what}: client to server"),
        sluice.sent.len(),
        git.sent.len(),
    );
    assert_close(
        &format!("{what}: server to client after the advertisement"),
        sluice.after_advertisement().len(),
        git.after_advertisement().len(),
    );
}

#[test]
fn mirror_push_of_delta_chains_sends_the_same_pack() {
    let (sluice, git) = push_both(&fixture("deltas"), None, &["--mirror"], true);
    // A 2 MiB blob and 100 versions of a file: a pack without deltas would be many times larger.
    assert!(git.sent.len() > 4_000, "the fixture's pack is too small");
    assert_wires_match("deltas, --mirror", &sluice, &git);
}

#[test]
fn mirror_push_of_a_merge_heavy_history_sends_the_same_pack() {
    let (sluice, git) = push_both(&fixture("merge_heavy"), None, &["--mirror"], true);
    assert_wires_match("merge_heavy, --mirror", &sluice, &git);
}

#[test]
fn incremental_push_sends_the_same_thin_pack() {
    let dir = scratch();
    let base = fixture("merge_heavy");
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            "--no-local",
            base.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    // Edits of files the server has: deltas against its versions (a thin pack).
    for step in 0..10 {
        let readme = work.join("README");
        let mut text = std::fs::read_to_string(&readme).unwrap();
        text.push_str(&format!("one more line at push step {step}\n"));
        std::fs::write(&readme, text).unwrap();
        git_ok(
            &work,
            &["commit", "-q", "-a", "-m", &format!("step {step}")],
        );
    }
    let (sluice, git) = push_both(&work, Some(&base), &["HEAD:refs/heads/main"], true);
    assert_wires_match("merge_heavy, 10 commits, thin", &sluice, &git);
}

/// A tree with a mode C git's fsck only warns about (`100664`, as in git.git's early history):
/// both servers accept it and tell the client with the same `warning:` line.
#[test]
fn fsck_warnings_cost_the_same_bytes() {
    let dir = scratch();
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &["init", "-q", "-b", "main", work.to_str().unwrap()],
    );
    commit_line(&work, "a first line");
    let blob = git_ok(&work, &["rev-parse", "HEAD:f"]);
    let tree = git_cmd(&work)
        .arg("mktree")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            let line = format!("100664 blob {}\tgroup-writable\n", blob.trim());
            c.stdin.take().unwrap().write_all(line.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_success(&tree, "mktree");
    let tree = String::from_utf8_lossy(&tree.stdout).trim().to_string();
    let commit = git_ok(
        &work,
        &["commit-tree", &tree, "-p", "HEAD", "-m", "old mode"],
    );
    git_ok(&work, &["update-ref", "refs/heads/main", commit.trim()]);
    let (sluice, git) = push_both(&work, None, &["--mirror"], false);
    let warned =
        |w: &Wire| String::from_utf8_lossy(w.after_advertisement()).contains("badFilemode");
    assert!(warned(&git) && warned(&sluice), "both servers warn");
    assert_wires_match("a tree with mode 100664", &sluice, &git);
}
