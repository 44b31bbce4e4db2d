//! Push tests that run Sluice and C git's own `git-receive-pack` in the same run, on twin
//! repositories, and compare what the client saw and what the repositories hold.

use std::path::Path;
use std::process::Output;

use super::{git, sluice};

/// A server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// `sluice receive-pack`.
    Sluice,
    /// C git's `git-receive-pack`, the oracle.
    Git,
}

/// Both servers, Sluice first.
pub const SERVERS: [Server; 2] = [Server::Sluice, Server::Git];

impl Server {
    /// The server this test binary runs against: C git's with `SLUICE_TEST_SERVER=git`.
    pub fn under_test() -> Server {
        if super::against_git() {
            Server::Git
        } else {
            Server::Sluice
        }
    }

    /// The `--receive-pack=` option reaching this server.
    pub fn receive_pack_flag(self) -> String {
        match self {
            Server::Sluice => format!("--receive-pack={} receive-pack", sluice()),
            Server::Git => "--receive-pack=git-receive-pack".into(),
        }
    }

    /// A short name for paths and messages.
    pub fn name(self) -> &'static str {
        match self {
            Server::Sluice => "sluice",
            Server::Git => "git",
        }
    }
}

/// `git push [options] file://<dst> <refspecs>` from `work` through `server`; options are the
/// arguments starting with `-`.
pub fn push_via(server: Server, work: &Path, dst: &Path, args: &[&str]) -> Output {
    let flag = server.receive_pack_flag();
    let url = format!("file://{}", dst.display());
    let mut all = vec!["push", flag.as_str()];
    let (opts, refspecs): (Vec<&str>, Vec<&str>) = args.iter().partition(|a| a.starts_with('-'));
    all.extend(opts);
    all.push(&url);
    all.extend(refspecs);
    git(work, &all)
}

/// The client's stderr with the repository path replaced by `DST`, the `To` line and
/// progress lines dropped, so the two servers' outputs compare equal when they behave alike.
/// Also dropped: C git's receive-pack's own `fatal: the remote end hung up unexpectedly` when
/// the client gives up before sending commands (Sluice ends quietly there).
pub fn client_lines(out: &Output, dst: &Path) -> String {
    let text = String::from_utf8_lossy(&out.stderr).replace(&dst.display().to_string(), "DST");
    text.lines()
        .filter(|l| {
            !l.starts_with("To ")
                && !l.contains("Counting objects")
                && !l.contains("Compressing objects")
                && !l.contains("Writing objects")
                && !l.contains("Delta compression")
                && !l.contains("Total ")
                && !l.contains("Enumerating objects")
                && *l != "fatal: the remote end hung up unexpectedly"
        })
        .map(|l| format!("{}\n", l.trim_end()))
        .collect()
}

/// The hook, in Python (a test dependency already): a review server that stores each pushed
/// topic as `refs/changes/<n>/head`, refuses the topic `bad`, and lets `direct` fall through.
pub const PROC_RECEIVE: &str = r#"#!/usr/bin/env python3
import subprocess, sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
def read_pkt():
    head = inp.read(4)
    if len(head) < 4:
        sys.exit("proc-receive: unexpected end of input")
    n = int(head, 16)
    return None if n == 0 else inp.read(n - 4)
def write_pkt(s):
    b = s.encode() if isinstance(s, str) else s
    out.write(b"%04x" % (len(b) + 4) + b)
def flush():
    out.write(b"0000")
    out.flush()
def lines():
    while True:
        l = read_pkt()
        if l is None:
            return
        yield l
caps = b""
for l in lines():
    if b"\0" in l:
        caps = l.split(b"\0", 1)[1].strip()
write_pkt(b"version=1\0push-options\n")
flush()
cmds = [l.decode().strip().split(" ", 2) for l in lines()]
opts = [l.decode().strip() for l in lines()]
sys.stderr.write("proc-receive: caps=%s options=%s\n" % (caps.decode(), ",".join(opts)))
for i, (old, new, ref) in enumerate(cmds):
    sys.stderr.write("proc-receive< %s %s %s\n" % (old, new, ref))
    topic = ref.split("/")[-1]
    if topic == "bad":
        write_pkt("ng %s topic rejected by review policy\n" % ref)
        continue
    if topic == "direct":
        write_pkt("ok %s\n" % ref)
        write_pkt("option fall-through\n")
        continue
    target = "refs/changes/%d/head" % (i + 1)
    subprocess.run(["git", "update-ref", target, new], check=True)
    write_pkt("ok %s\n" % ref)
    write_pkt("option refname %s\n" % target)
    write_pkt("option new-oid %s\n" % new)
flush()
"#;

pub const POST_RECEIVE: &str =
    "#!/bin/sh\nwhile read o n r; do echo \"post-receive< $o $n $r\"; done >&2\n";

/// `text` with the URL of git's closing `error: failed to push some refs to '…'` line removed
/// (git prints each transport's URL its own way).
pub fn without_url(text: &str) -> String {
    let end = "error: failed to push some refs to ";
    text.lines()
        .map(|l| match l.starts_with(end) {
            true => format!("{end}URL\n"),
            false => format!("{l}\n"),
        })
        .collect()
}

/// The AGit push the proc-receive tests make: a push option, a topic the hook accepts, one it
/// refuses, one it lets fall through, and a branch.
pub const AGIT_PUSH: [&str; 5] = [
    "--push-option=reviewer=alice",
    "HEAD:refs/for/main/topic1",
    "HEAD:refs/for/main/bad",
    "HEAD:refs/for/main/direct",
    "HEAD:refs/heads/main",
];
