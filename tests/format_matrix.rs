//! The "must show" table of #14: for every repository format C git 2.47 serves or refuses, and
//! every operation a client makes, C git's result and Sluice's on twin repositories (made alike
//! by C git, fixed dates giving equal ids), through `file://` (`--upload-pack`/`--receive-pack`)
//! and `ext::`. Every cell is asserted equal: the same success or refusal, the same refs in the
//! clone or in the server repository afterwards, `git fsck --strict` clean. Set
//! `SLUICE_FORMAT_TABLE=<file>` to have the table written as markdown. ssh and inetd are in
//! tests/launch.rs.
// See: #14

mod common;

use common::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The repository layouts of the table, with the `git init` arguments that make them and what
/// is changed afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    FilesSha1,
    Reftable,
    Sha256,
    Sha256Reftable,
    Shallow,
    UnknownExtension,
    Version2,
}

impl Format {
    const ALL: [Format; 7] = [
        Format::FilesSha1,
        Format::Reftable,
        Format::Sha256,
        Format::Sha256Reftable,
        Format::Shallow,
        Format::UnknownExtension,
        Format::Version2,
    ];

    fn label(self) -> &'static str {
        match self {
            Format::FilesSha1 => "files, SHA-1",
            Format::Reftable => "reftable, SHA-1",
            Format::Sha256 => "files, SHA-256",
            Format::Sha256Reftable => "reftable, SHA-256",
            Format::Shallow => "shallow server repo",
            Format::UnknownExtension => "unknown extension (v1)",
            Format::Version2 => "repositoryformatversion 2",
        }
    }

    fn init_args(self) -> &'static [&'static str] {
        match self {
            Format::Reftable => &["--ref-format=reftable"],
            Format::Sha256 => &["--object-format=sha256"],
            Format::Sha256Reftable => &["--object-format=sha256", "--ref-format=reftable"],
            _ => &[],
        }
    }

    fn served(self) -> bool {
        !matches!(self, Format::UnknownExtension | Format::Version2)
    }
}

/// Who serves, and how the client reaches it.
#[derive(Debug, Clone, Copy)]
struct Server {
    c_git: bool,
    ext: bool,
}

impl Server {
    /// The arguments reaching `repo` for `service` (`upload-pack`/`receive-pack`): options
    /// then the URL.
    fn args(self, service: &str, repo: &Path) -> Vec<String> {
        let path = repo.display();
        match (self.ext, self.c_git) {
            (true, true) => vec![format!("ext::git %s {path}")],
            (true, false) => vec![format!("ext::{} %S {path}", sluice())],
            (false, true) => vec![format!("--{service}=git-{service}"), file_url(repo)],
            (false, false) => vec![
                format!("--{service}={} {service}", sluice()),
                file_url(repo),
            ],
        }
    }
}

/// One operation's result: success, or the client's first `fatal:`/`error:`/rejection line;
/// `state` is what is compared between the twins (refs of the clone or the server repository).
#[derive(Debug, Clone)]
struct Outcome {
    ok: bool,
    detail: String,
    state: String,
}

fn outcome(out: &std::process::Output, state: String) -> Outcome {
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let detail = text
        .lines()
        .find(|l| {
            l.starts_with("fatal:")
                || l.starts_with("error:")
                || l.contains("[remote rejected]")
                || l.starts_with("!")
        })
        .unwrap_or("")
        .trim()
        .to_string();
    Outcome {
        ok: out.status.success(),
        detail,
        state,
    }
}

/// Runs git in `dir` with `-c` settings allowing `ext::` and picking protocol `v`.
fn run(dir: &Path, v: &str, args: &[String]) -> std::process::Output {
    let proto = format!("protocol.version={v}");
    let mut all: Vec<&str> = vec!["-c", &proto, "-c", "protocol.ext.allow=always"];
    all.extend(args.iter().map(String::as_str));
    git(dir, &all)
}

/// The work repository of object format `args` with `main` (three commits), `next` (one more)
/// and an annotated tag: what is pushed and compared.
fn work_repo(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let work = dir.join(name);
    let mut init = vec!["init", "-q", "-b", "main"];
    init.extend(args.iter().filter(|a| a.starts_with("--object-format")));
    init.push(work.to_str().unwrap());
    git_ok(dir, &init);
    for i in 0..3 {
        std::fs::write(work.join("f"), format!("{i}\n")).unwrap();
        git_ok(&work, &["add", "f"]);
        git_ok(&work, &["commit", "-q", "-m", &format!("c{i}")]);
    }
    git_ok(&work, &["tag", "-a", "-m", "t", "v1"]);
    git_ok(&work, &["checkout", "-q", "-b", "next"]);
    git_ok(&work, &["commit", "-q", "--allow-empty", "-m", "next"]);
    git_ok(&work, &["checkout", "-q", "-b", "grown"]);
    git_ok(&work, &["commit", "-q", "--allow-empty", "-m", "grown"]);
    git_ok(&work, &["checkout", "-q", "main"]);
    work
}

/// A server repository `name` in `format`, made by C git from `work`.
fn server_repo(dir: &Path, format: Format, work: &Path, name: &str) -> PathBuf {
    let repo = dir.join(name);
    if format == Format::Shallow {
        let full = dir.join(format!("{name}.full"));
        git_ok(
            dir,
            &["init", "-q", "--bare", "-b", "main", full.to_str().unwrap()],
        );
        git_ok(work, &["push", "-q", full.to_str().unwrap(), "main", "v1"]);
        let url = file_url(&full);
        let r = repo.to_str().unwrap();
        git_ok(dir, &["clone", "-q", "--bare", "--depth", "1", &url, r]);
        return repo;
    }
    let mut init = vec!["init", "-q", "--bare", "-b", "main"];
    init.extend(format.init_args());
    init.push(repo.to_str().unwrap());
    git_ok(dir, &init);
    git_ok(work, &["push", "-q", repo.to_str().unwrap(), "main", "v1"]);
    match format {
        // Concurrent pushers wait for the stack's lock rather than fail after C git's 100 ms.
        Format::Reftable | Format::Sha256Reftable => {
            git_ok(&repo, &["config", "reftable.lockTimeout", "10000"]);
        }
        Format::UnknownExtension => {
            git_ok(&repo, &["config", "core.repositoryformatversion", "1"]);
            git_ok(&repo, &["config", "extensions.frobnicate", "true"]);
        }
        Format::Version2 => {
            git_ok(&repo, &["config", "core.repositoryformatversion", "2"]);
        }
        _ => {}
    }
    repo
}

/// The refs of `repo` (empty when git cannot read it, a refused format, or it is not there).
fn refs_or_empty(repo: &Path) -> String {
    if !repo.is_dir() {
        return String::new();
    }
    let out = git(repo, &["for-each-ref", "--format=%(objectname) %(refname)"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The operations of the table, in the order they run on one server repository.
const OPERATIONS: [&str; 10] = [
    "ls-remote v0",
    "ls-remote v2",
    "clone v0",
    "clone v2",
    "fetch v0/v2",
    "push create",
    "push ff",
    "push delete",
    "push atomic",
    "concurrent pushers",
];

/// Runs every operation against `repo` through `server`; scratch clones go under `dir`.
fn operations(dir: &Path, server: Server, repo: &Path, work: &Path, served: bool) -> Vec<Outcome> {
    let up = server.args("upload-pack", repo);
    let rp = server.args("receive-pack", repo);
    let mut res = Vec::new();
    for v in ["0", "2"] {
        let out = run(dir, v, &[&["ls-remote".to_string()][..], &up].concat());
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        res.push(outcome(&out, listed));
    }
    let mut clones = Vec::new();
    for v in ["0", "2"] {
        let dst = dir.join(format!("clone-v{v}"));
        let mut args = vec!["clone".to_string(), "-q".to_string()];
        if !server.ext {
            args.push("--no-local".into());
        }
        args.extend(up.iter().cloned());
        args.push(dst.display().to_string());
        let out = run(dir, v, &args);
        if out.status.success() {
            fsck(&dst);
        }
        res.push(outcome(&out, refs_or_empty(&dst)));
        clones.push(dst);
    }
    // C git moves the server on; the clones fetch the change.
    if served {
        git_ok(work, &["push", "-q", repo.to_str().unwrap(), "grown"]);
    }
    let mut fetched = (true, String::new(), String::new());
    for (v, dst) in ["0", "2"].iter().zip(&clones) {
        if !dst.is_dir() {
            // The clone was refused: fetch into an empty repository instead.
            git_ok(dir, &["init", "-q", dst.to_str().unwrap()]);
        }
        let fetch = [&["fetch".to_string()][..], &up].concat();
        let out = run(
            dst,
            v,
            &[&fetch[..], &["+refs/*:refs/fetched/*".into()]].concat(),
        );
        let o = outcome(&out, refs_or_empty(dst));
        fetched = (fetched.0 && o.ok, o.detail, fetched.2 + &o.state);
        if o.ok {
            fsck(dst);
        }
    }
    res.push(Outcome {
        ok: fetched.0,
        detail: fetched.1,
        state: fetched.2,
    });
    let push = |args: &[&str]| {
        let mut all = vec!["push".to_string(), "--porcelain".to_string()];
        all.extend(
            args.iter()
                .filter(|a| a.starts_with('-'))
                .map(|a| a.to_string()),
        );
        all.extend(rp.iter().cloned());
        all.extend(
            args.iter()
                .filter(|a| !a.starts_with('-'))
                .map(|a| a.to_string()),
        );
        let out = run(work, "2", &all);
        outcome(&out, refs_or_empty(repo))
    };
    res.push(push(&["main:refs/heads/created"]));
    res.push(push(&["next:refs/heads/main"]));
    res.push(push(&[":refs/heads/created"]));
    // Atomic: two refs land together; then a refused deletion fails the whole push. (Not a
    // hidden ref: C git 2.47 refuses those before its atomic transaction and lets the rest of
    // an atomic push land.)
    let both = push(&["--atomic", "main:refs/heads/a1", "next:refs/heads/a2"]);
    if served {
        git_ok(repo, &["config", "receive.denyDeletes", "true"]);
    }
    let refused = push(&["--atomic", "main:refs/heads/a3", ":refs/heads/a1"]);
    res.push(Outcome {
        ok: both.ok && !refused.ok && !refused.state.contains("refs/heads/a3"),
        detail: format!("{} / {}", both.detail, refused.detail),
        state: refused.state,
    });
    res.push(concurrent_pushers(work, &rp, repo));
    res
}

/// Three pushers at once, four pushes each, every one to its own branch: all must land.
fn concurrent_pushers(work: &Path, rp: &[String], repo: &Path) -> Outcome {
    let pushers: Vec<_> = (0..3)
        .map(|p| {
            let (work, rp) = (work.to_path_buf(), rp.to_vec());
            std::thread::spawn(move || {
                (0..4)
                    .map(|i| {
                        let spec = format!("main:refs/heads/p{p}/{i}");
                        let args = [&["push".to_string()][..], &rp, &[spec]].concat();
                        outcome(&run(&work, "2", &args), String::new())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let all: Vec<Outcome> = pushers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    let state = refs_or_empty(repo);
    let landed = (0..3)
        .flat_map(|p| (0..4).map(move |i| format!(" refs/heads/p{p}/{i}\n")))
        .filter(|name| state.contains(name.as_str()))
        .count();
    Outcome {
        ok: all.iter().all(|o| o.ok) && landed == 12,
        detail: all
            .iter()
            .find(|o| !o.ok)
            .map(|o| o.detail.clone())
            .unwrap_or_default(),
        state,
    }
}

/// A table cell: both results, shortened.
fn cell(theirs: &Outcome, ours: &Outcome) -> String {
    let word = |o: &Outcome| if o.ok { "ok" } else { "refused" };
    format!("{} / {}", word(theirs), word(ours))
}

#[test]
fn every_format_and_operation_matches_c_git_through_file_and_ext() {
    let dir = scratch();
    let mut table = String::new();
    let mut refusals = String::new();
    for ext in [false, true] {
        let transport = if ext { "ext::" } else { "file://" };
        let _ = writeln!(
            table,
            "\n### Through {transport} (each cell: C git / Sluice)\n\n| format | {} |\n|---|{}",
            OPERATIONS.join(" | "),
            "---|".repeat(OPERATIONS.len())
        );
        for format in Format::ALL {
            let base = dir.path().join(format!("{format:?}-{ext}"));
            std::fs::create_dir_all(&base).unwrap();
            let work = work_repo(&base, "work", format.init_args());
            let mut results = Vec::new();
            for c_git in [true, false] {
                let side = base.join(if c_git { "c-git" } else { "sluice" });
                std::fs::create_dir_all(&side).unwrap();
                let repo = server_repo(&side, format, &work, "srv.git");
                let server = Server { c_git, ext };
                results.push(operations(&side, server, &repo, &work, format.served()));
                if format.served() {
                    fsck(&repo);
                }
            }
            let (theirs, ours) = (&results[0], &results[1]);
            let mut row = format!("| {} |", format.label());
            for (op, (t, o)) in OPERATIONS.iter().zip(theirs.iter().zip(ours)) {
                let what = format!("{} {op} via {transport}", format.label());
                assert_eq!(t.ok, o.ok, "{what}: C git {t:?}, Sluice {o:?}");
                assert_eq!(t.ok, format.served(), "{what}: {t:?}");
                assert_eq!(t.state, o.state, "{what}: state");
                let _ = write!(row, " {} |", cell(t, o));
                if !t.ok && op.starts_with("clone v2") {
                    let _ = writeln!(
                        refusals,
                        "- {} via {transport}: C git `{}`; Sluice `{}`",
                        format.label(),
                        t.detail,
                        o.detail
                    );
                }
            }
            table.push_str(&row);
            table.push('\n');
        }
    }
    if let Ok(path) = std::env::var("SLUICE_FORMAT_TABLE") {
        let text = format!("{table}\n### Refusals (clone v2)\n\n{refusals}");
        std::fs::write(path, text).unwrap();
    }
}
