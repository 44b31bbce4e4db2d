//! `git archive --remote` against `sluice upload-archive`, with C git as the oracle in the same
//! run: tar output byte for byte equal to `git archive` on the server's repository, tgz equal
//! once inflated, zip equal once extracted; refusals with C git's messages, checked against
//! C git's own upload-archive; every launch mode (direct `--exec`, ext::/inetd with
//! `--enable upload-archive` or `daemon.uploadarch`, ssh forced command, git-shell mode).
//! With `SLUICE_TEST_SERVER=git` the remote side is C git's upload-archive / git daemon /
//! git-shell instead.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// The `--exec` command of the server under test.
fn exec() -> String {
    if against_git() {
        "--exec=git-upload-archive".into()
    } else {
        format!("--exec={} upload-archive", sluice())
    }
}

/// `git archive --remote=<url>` with `extra` git config, `--exec` and `args`.
fn remote(dir: &Path, url: &str, exec: Option<&str>, args: &[&str]) -> Output {
    let mut c = git_cmd(dir);
    c.args(["-c", "protocol.ext.allow=always", "archive"])
        .arg(format!("--remote={url}"));
    if let Some(e) = exec {
        c.arg(e);
    }
    c.args(args).output().unwrap()
}

/// The archive C git writes locally in `repo` for `args` (the oracle).
fn local(repo: &Path, args: &[&str]) -> Vec<u8> {
    let out = git(repo, &[&["archive"], args].concat());
    assert_success(&out, &format!("git archive {args:?}"));
    out.stdout
}

/// A copy of the archive fixture in a scratch directory.
fn repo_copy(dir: &Path) -> PathBuf {
    let repo = dir.join("r.git");
    copy_repo(&fixture("archive_tree"), &repo);
    repo
}

fn ok(out: &Output, what: &str) -> Vec<u8> {
    assert_success(out, what);
    out.stdout.clone()
}

#[test]
fn tar_is_byte_identical_to_git_archive() {
    let dir = scratch();
    let repo = repo_copy(dir.path());
    let url = repo.to_str().unwrap();
    for args in [
        &["main"][..],
        &["--prefix=p/", "main"],
        &["--prefix=pre", "v1"],
        &["main", "src", "bin/run.sh"],
        &["HEAD"],
        &["refs/heads/other"],
        &["--format=tar", "--", "main"],
    ] {
        let got = ok(
            &remote(dir.path(), url, Some(&exec()), args),
            &format!("{args:?}"),
        );
        assert!(
            got == local(&repo, args),
            "tar for {args:?} differs from git archive"
        );
    }
    // The fixture's attributes did their work (the deeper `*.md export-ignore` wins).
    let tar = ok(&remote(dir.path(), url, Some(&exec()), &["main"]), "main");
    let names = String::from_utf8_lossy(&tar).into_owned();
    assert!(names.contains("bin/run.sh") && names.contains("vendor/lib/"));
    assert!(!names.contains("private/") && !names.contains("notes.md"));
    assert!(
        names.contains("src/sub/"),
        "C git keeps a directory whose files are all ignored"
    );
    // tar.umask is the server's: 022 gives 0644 files, as C git.
    git_ok(&repo, &["config", "tar.umask", "022"]);
    let got = ok(&remote(dir.path(), url, Some(&exec()), &["main"]), "umask");
    assert!(got == local(&repo, &["main"]), "tar.umask=022 differs");
}

#[test]
fn tgz_inflates_to_the_same_tar() {
    let dir = scratch();
    let repo = repo_copy(dir.path());
    let gunzip = |bytes: &[u8], name: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = Command::new("gzip").arg("-dc").arg(&path).output().unwrap();
        ok(&out, "gzip -dc")
    };
    for args in [
        &["--format=tgz", "main"][..],
        &["--format=tar.gz", "-9", "main"],
        &["--format=tgz", "-1", "main"],
    ] {
        let got = ok(
            &remote(dir.path(), repo.to_str().unwrap(), Some(&exec()), args),
            "tgz",
        );
        assert_eq!(&got[..3], b"\x1f\x8b\x08", "gzip magic");
        assert!(
            gunzip(&got, "s.tgz") == gunzip(&local(&repo, args), "g.tgz"),
            "{args:?}"
        );
    }
    // tar.tgz.remote=false takes the format away from remote clients, as in C git.
    git_ok(&repo, &["config", "tar.tgz.remote", "false"]);
    let out = remote(
        dir.path(),
        repo.to_str().unwrap(),
        Some(&exec()),
        &["--format=tgz", "main"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unknown archive format 'tgz'"));
}

/// Extracts zip `bytes` into `dir/name`, after `unzip -t` accepts it; returns the directory.
fn unzip(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let file = dir.join(format!("{name}.zip"));
    std::fs::write(&file, bytes).unwrap();
    let test = Command::new("unzip").arg("-t").arg(&file).output().unwrap();
    assert_success(&test, &format!("unzip -t {name}"));
    let out = dir.join(name);
    std::fs::create_dir_all(&out).unwrap();
    let x = Command::new("unzip")
        .arg("-q")
        .arg(&file)
        .current_dir(&out)
        .output()
        .unwrap();
    assert_success(&x, "unzip");
    out
}

#[test]
fn zip_extracts_to_the_same_files() {
    let dir = scratch();
    let repo = repo_copy(dir.path());
    for (i, args) in [
        &["--format=zip", "main"][..],
        &["--format=zip", "-0", "--prefix=z/", "v1"],
    ]
    .into_iter()
    .enumerate()
    {
        let got = ok(
            &remote(dir.path(), repo.to_str().unwrap(), Some(&exec()), args),
            "zip",
        );
        let a = unzip(dir.path(), &format!("s{i}"), &got);
        let b = unzip(dir.path(), &format!("g{i}"), &local(&repo, args));
        let diff = Command::new("diff")
            .arg("-r")
            .arg("--no-dereference")
            .arg(&a)
            .arg(&b)
            .output()
            .unwrap();
        assert_success(
            &diff,
            &format!(
                "zip contents for {args:?}: {}",
                String::from_utf8_lossy(&diff.stdout)
            ),
        );
        let modes = |d: &Path| {
            let out = Command::new("find")
                .arg(".")
                .arg("-printf")
                .arg("%p %M\n")
                .current_dir(d)
                .output()
                .unwrap();
            let mut l: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            l.sort();
            l
        };
        assert_eq!(modes(&a), modes(&b), "extracted modes for {args:?}");
        let comment = |name: &str| {
            let out = Command::new("unzip")
                .arg("-z")
                .arg(dir.path().join(format!("{name}.zip")))
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap_or("")
                .to_string()
        };
        assert_eq!(
            comment(&format!("s{i}")),
            comment(&format!("g{i}")),
            "zip comment"
        );
    }
}

/// The request run against sluice (or the server under test) and against C git's
/// upload-archive: both must fail with `message` on stderr.
fn both_refuse(dir: &Path, repo: &Path, args: &[&str], message: &str) {
    for e in [exec(), "--exec=git-upload-archive".into()] {
        let out = remote(dir, repo.to_str().unwrap(), Some(&e), args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{e} {args:?} succeeded");
        assert!(out.stdout.is_empty(), "{e} {args:?} wrote an archive");
        assert!(err.contains(message), "{e} {args:?}: {err}");
    }
}

#[test]
fn refusals_match_c_git() {
    let dir = scratch();
    let repo = repo_copy(dir.path());
    let unreachable = std::fs::read_to_string(repo.join("unreachable-commit")).unwrap();
    let unreachable = unreachable.trim();
    both_refuse(dir.path(), &repo, &["nope"], "no such ref: nope");
    both_refuse(
        dir.path(),
        &repo,
        &[unreachable],
        &format!("no such ref: {unreachable}"),
    );
    both_refuse(dir.path(), &repo, &["main~1"], "no such ref: main~1");
    both_refuse(
        dir.path(),
        &repo,
        &["--format=bogus", "main"],
        "Unknown archive format 'bogus'",
    );
    both_refuse(
        dir.path(),
        &repo,
        &["-9", "main"],
        "Argument not supported for format 'tar': -9",
    );
    both_refuse(
        dir.path(),
        &repo,
        &["main", "no/such"],
        "pathspec 'no/such' did not match any files",
    );
    both_refuse(dir.path(), &repo, &["main:README"], "not a tree object");
    // uploadArchive.allowUnreachable: the dangling commit's tree, byte for byte.
    git_ok(&repo, &["config", "uploadArchive.allowUnreachable", "true"]);
    let got = ok(
        &remote(
            dir.path(),
            repo.to_str().unwrap(),
            Some(&exec()),
            &[unreachable],
        ),
        "allowUnreachable",
    );
    assert!(got == local(&repo, &[unreachable]));
}

#[test]
fn list_names_the_remote_formats() {
    let dir = scratch();
    let repo = repo_copy(dir.path());
    let got = ok(
        &remote(
            dir.path(),
            repo.to_str().unwrap(),
            Some(&exec()),
            &["--list"],
        ),
        "--list",
    );
    let want = ok(
        &remote(
            dir.path(),
            repo.to_str().unwrap(),
            Some("--exec=git-upload-archive"),
            &["--list"],
        ),
        "git --list",
    );
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
}

#[test]
fn content_conversions_are_refused_not_guessed() {
    let dir = scratch();
    let work = dir.path().join("w");
    git_ok(
        dir.path(),
        &["init", "-q", "-b", "main", work.to_str().unwrap()],
    );
    std::fs::write(work.join(".gitattributes"), "version export-subst\n").unwrap();
    std::fs::write(work.join("version"), "$Format:%H$\n").unwrap();
    git_ok(&work, &["add", "-A"]);
    git_ok(&work, &["commit", "-q", "-m", "subst"]);
    let out = remote(dir.path(), work.to_str().unwrap(), Some(&exec()), &["main"]);
    if against_git() {
        assert_success(&out, "C git expands export-subst");
        return;
    }
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("export-subst placeholders"), "{err}");
}

#[test]
fn namespace_and_hidden_refs_apply() {
    // Deviation from C git (whose upload-archive ignores both): a namespaced or hidden ref is
    // not archived, so a namespace cannot read another's branches this way.
    if against_git() {
        return;
    }
    let dir = scratch();
    let repo = repo_copy(dir.path());
    let other = git_ok(&repo, &["rev-parse", "refs/heads/other"]);
    git_ok(
        &repo,
        &[
            "update-ref",
            "refs/namespaces/ns/refs/heads/main",
            other.trim(),
        ],
    );
    let server = format!("--exec=GIT_NAMESPACE=ns {} upload-archive", sluice());
    let got = ok(
        &remote(dir.path(), repo.to_str().unwrap(), Some(&server), &["main"]),
        "ns",
    );
    assert!(
        got == local(&repo, &["other"]),
        "namespace main is the other branch"
    );
    let out = remote(dir.path(), repo.to_str().unwrap(), Some(&server), &["v1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such ref: v1"));
    git_ok(&repo, &["config", "uploadpack.hideRefs", "refs/tags"]);
    let out = remote(dir.path(), repo.to_str().unwrap(), Some(&exec()), &["v1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such ref: v1"));
}

/// `ext::` URL running the git:// daemon in inetd mode over `root`, with `flags`.
fn inetd_url(root: &Path, flags: &str) -> String {
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!("{flags} ")
    };
    if against_git() {
        format!(
            "ext::git daemon --inetd --export-all --base-path={} {flags}%G/r.git",
            root.display()
        )
    } else {
        format!(
            "ext::{} inetd --export-all --base-path {} {flags}%G/r.git",
            sluice(),
            root.display()
        )
    }
}

#[test]
fn inetd_serves_archives_only_when_enabled() {
    let dir = scratch();
    let repo = repo_copy(dir.path());
    let root = dir.path();
    let off = remote(root, &inetd_url(root, ""), None, &["main"]);
    assert!(
        !off.status.success() && off.stdout.is_empty(),
        "served without --enable"
    );
    let enable = if against_git() {
        "--enable=upload-archive"
    } else {
        "--enable upload-archive"
    };
    let on = ok(
        &remote(root, &inetd_url(root, enable), None, &["main"]),
        "--enable",
    );
    assert!(on == local(&repo, &["main"]));
    git_ok(&repo, &["config", "daemon.uploadarch", "true"]);
    let by_config = ok(
        &remote(root, &inetd_url(root, ""), None, &["main"]),
        "daemon.uploadarch",
    );
    assert!(by_config == local(&repo, &["main"]));
    git_ok(&repo, &["config", "daemon.uploadarch", "false"]);
    let off = remote(root, &inetd_url(root, enable), None, &["main"]);
    assert!(
        !off.status.success(),
        "daemon.uploadarch=false overrides --enable"
    );
}

/// A fake `ssh` that runs the remote command as sshd's ForceCommand would (`sluice ssh`) or as
/// git-shell does (`sluice shell -c`, or C git's git-shell).
fn fake_ssh(dir: &Path, root: &Path, mode: &str) -> String {
    let server = match (against_git(), mode) {
        (true, _) => "git-shell -c \"$cmd\"".to_string(),
        (false, "ssh") => format!(
            "env SSH_ORIGINAL_COMMAND=\"$cmd\" {} ssh --root {}",
            sluice(),
            root.display()
        ),
        (false, _) => format!("{} shell -c \"$cmd\"", sluice()),
    };
    let script = dir.join(format!("fake-{mode}"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor cmd; do :; done\ncd {}\nexec {server}\n",
            root.display()
        ),
    )
    .unwrap();
    let _ = Command::new("chmod").arg("+x").arg(&script).status();
    script.display().to_string()
}

#[test]
fn ssh_and_shell_modes_serve_archives() {
    let dir = scratch();
    let repo = repo_copy(dir.path());
    for mode in ["ssh", "shell"] {
        let ssh = fake_ssh(dir.path(), dir.path(), mode);
        let out = git_cmd(dir.path())
            .env("GIT_SSH_COMMAND", &ssh)
            .args(["archive", "--remote=host:r.git", "--prefix=s/", "main"])
            .output()
            .unwrap();
        let got = ok(&out, mode);
        assert!(got == local(&repo, &["--prefix=s/", "main"]), "{mode}");
    }
}
