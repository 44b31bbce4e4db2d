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
